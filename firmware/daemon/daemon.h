/* venuegw daemon — what `venuegw run` runs, as the command line (firmware/cli/)
 * sees it: the one header of daemon/ that cli/ may include (DESIGN.md §10). */
#ifndef VG_DAEMON_H
#define VG_DAEMON_H

#include <stddef.h>

#include "config.h"

/* Exit codes, documented in --help, the README and the man page. */
enum vg_exit {
	VG_EXIT_OK = 0,        /* success */
	VG_EXIT_FAIL = 1,      /* operational failure: the database, a file, the network */
	VG_EXIT_USAGE = 2,     /* bad command line or bad configuration */
	VG_EXIT_REJECTED = 3,  /* validate: the event would be quarantined */
};

/* `venuegw run`: the daemon (run.c), a handler of the verb table
 * (firmware/cli/verbs.c): cfg is the loaded configuration, the arguments are
 * none (the table says so).  Checks what vg_run_check() checks first (exit 2,
 * the reason on stderr).  Returns an exit code. */
int vg_cmd_run(struct vg_config *cfg, const char *config_path, int argc, char **argv);

/* What the daemon refuses to start with beyond the configuration file itself
 * (the ports' driver options), for `venuegw check-config` too.  VG_OK, or
 * VG_ERR_CONFIG with "file:line: [serial.NAME] key: why" in err. */
int vg_run_check(const struct vg_config *cfg, char *err, size_t errsz);

/* For `venuegw check-config`: whether [output]'s destination answers within
 * timeout_ms.  Kafka: a producer asks the brokers for the topic (reachable,
 * credentials taken, topic there); VG_OK with what was found in info, else
 * why in err.  Segment: not probed (VG_OK, info ""). */
int vg_run_probe_output(const struct vg_config *cfg, int timeout_ms, char *info, size_t infosz, char *err,
                        size_t errsz);

#endif
