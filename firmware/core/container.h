/* venuegw — container_of: from a pointer to a member back to the struct that
 * holds it (the loop's watchers and timers live inside their owners). */
#ifndef VG_CONTAINER_H
#define VG_CONTAINER_H

#include <stddef.h>

#define vg_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
