/* venuegw device — PLACEHOLDER being written (issue 7). */
#include <stdio.h>

#include "daemon.h"

int vg_cmd_device(const struct vg_config *cfg, int argc, char **argv)
{
	(void)cfg; (void)argc; (void)argv;
	fprintf(stderr, "venuegw device: not implemented yet\n");
	return VG_EXIT_FAIL;
}
