/* fixture: core/ includes a daemon/ header (an arrow pointing up) */
#include "forward.h"
#include "err.h"
#include <stdio.h>
