/* fixture: cli/ may include daemon.h (the run entry), not the loop */
#include "daemon.h"
#include "loop.h"
#include "cli.h"
