/* The one registration table of the serial and HID drivers. */
#include "driver.h"

#include <string.h>

extern const struct vg_driver vg_driver_scanner;
extern const struct vg_driver vg_driver_ndjson;
extern const struct vg_driver vg_driver_ecr;
extern const struct vg_driver vg_driver_hid;

const struct vg_driver *const vg_drivers[] = {
	&vg_driver_scanner,
	&vg_driver_ndjson,
	&vg_driver_ecr,
	&vg_driver_hid,
	NULL,
};

const struct vg_driver *vg_driver_find(const char *name)
{
	for (int i = 0; vg_drivers[i]; i++)
		if (strcmp(vg_drivers[i]->name, name) == 0)
			return vg_drivers[i];
	return NULL;
}
