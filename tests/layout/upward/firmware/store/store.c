/* fixture: store/ includes a cli/ header */
#include "err.h"
#include "cli.h"
