/* venuegw provision — PLACEHOLDER being written (issue 7). */
#include <stdio.h>

#include "daemon.h"

int vg_cmd_provision(const char *config_path, int argc, char **argv)
{
	(void)config_path; (void)argc; (void)argv;
	fprintf(stderr, "venuegw provision: not implemented yet\n");
	return VG_EXIT_FAIL;
}
