/* fixture: a driver includes by path */
#include "../firmware/daemon/forward.h"
