/* venuegw diag — PLACEHOLDER being written (issue 7). */
#include <stdio.h>

#include "daemon.h"

int vg_cmd_diag(const struct vg_config *cfg, int argc, char **argv)
{
	(void)cfg; (void)argc; (void)argv;
	fprintf(stderr, "venuegw diag: not implemented yet\n");
	return VG_EXIT_FAIL;
}
