/* venuegw daemon — the verbs of the venuegw binary (DESIGN.md §9). */
#ifndef VG_DAEMON_H
#define VG_DAEMON_H

#include "config.h"

/* Exit codes, documented in --help, the README and the man page. */
enum vg_exit {
	VG_EXIT_OK = 0,        /* success */
	VG_EXIT_FAIL = 1,      /* operational failure: the database, a file, the network */
	VG_EXIT_USAGE = 2,     /* bad command line or bad configuration */
	VG_EXIT_REJECTED = 3,  /* validate: the event would be quarantined */
};

/* Each verb's --help text (venuegw VERB --help, venuegw help VERB). */
extern const char vg_help_run[], vg_help_check_config[], vg_help_status[], vg_help_quarantine[],
	vg_help_validate[], vg_help_forget[], vg_help_provision[], vg_help_device[], vg_help_diag[],
	vg_help_plan[];

/* `venuegw run`: the daemon.  Returns an exit code. */
int vg_cmd_run(struct vg_config *cfg);

/* The admin verbs; argv starts after the verb. Each returns an exit code. */
int vg_cmd_status(const struct vg_config *cfg, int argc, char **argv);
int vg_cmd_quarantine(const struct vg_config *cfg, int argc, char **argv);
int vg_cmd_forget(const struct vg_config *cfg, int argc, char **argv);
int vg_cmd_validate(const struct vg_config *cfg, int have_config, int argc, char **argv);
int vg_cmd_device(const struct vg_config *cfg, int argc, char **argv);
int vg_cmd_check_config(const struct vg_config *cfg, int argc, char **argv);
int vg_cmd_diag(const struct vg_config *cfg, int argc, char **argv);

/* `venuegw plan check|show|import` (plan.c).  cfg is NULL when no
 * configuration could be loaded (show then uses the default plan). */
int vg_cmd_plan(const struct vg_config *cfg, int argc, char **argv);

/* Opens data_dir/buffer.db for an admin verb; prints why on stderr and
 * returns NULL when it cannot.  Close with vg_store_close(). */
struct vg_store;
struct vg_store *vg_admin_open_store(const struct vg_config *cfg);

/* Suppressions against the key file (forget.c): warn gets "" when every
 * suppression still matches under a version of the key file, else what to
 * do.  VG_OK or a store error. */
int vg_suppression_check(const struct vg_config *cfg, struct vg_store *st, char *warn, size_t warnsz);

/* `venuegw provision`: writes config_path and the secrets beside it. */
int vg_cmd_provision(const char *config_path, int argc, char **argv);

#endif
