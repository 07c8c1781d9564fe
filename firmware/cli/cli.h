/* venuegw cli — the command line: one table of verbs (verbs.c), one file per
 * verb, and the helpers they share (cli.c).  DESIGN.md §9, §10. */
#ifndef VG_CLI_H
#define VG_CLI_H

#include <stddef.h>

#include "config.h"
#include "daemon.h"

struct vg_store;

/* A verb's handler: cfg is the loaded configuration (NULL for a verb that
 * does not need one and has none), config_path the file given or the default,
 * argv the arguments after the verb (--config and --help taken out).
 * Returns an exit code (enum vg_exit). */
typedef int vg_verb_fn(struct vg_config *cfg, const char *config_path, int argc, char **argv);

enum vg_verb_config {
	VG_VERB_NO_CONFIG,        /* not loaded (provision writes it) */
	VG_VERB_OPTIONAL_CONFIG,  /* loaded when there is one; one named by --config must load */
	VG_VERB_NEEDS_CONFIG,     /* must load: an error is exit 2 */
};

/* Bit of exit status n in an entry's exits. */
#define VG_EXIT_BIT(n) (1u << (n))

struct vg_verb {
	const char *name;
	vg_verb_fn *fn;
	const char *summary;           /* one line, for the usage text */
	const char *help;              /* the whole --help text (NULL: the usage text) */
	unsigned exits;                /* bit n: exit status n */
	enum vg_verb_config config;
	int no_args;                   /* arguments are a usage error */
	int usage_shows_help;          /* a usage error prints the help, not "Try ..." */
};

/* The verbs in the order of the usage text; vg_nverbs of them. */
extern const struct vg_verb vg_verbs[];
extern const size_t vg_nverbs;

/* The entry called name, or NULL. */
const struct vg_verb *vg_verb_find(const char *name);

/* The usage text of `venuegw --help` (from the table) into out; the length
 * it needs (as snprintf): the head, a line per verb, the tail. */
size_t vg_cli_usage(char *out, size_t outsz);

/* A verb's help on stdout (the usage text for `help`). */
void vg_cli_print_help(const struct vg_verb *v);

/* `venuegw help --list`: each verb with its exit statuses, one a line:
 * "NAME 0 1 2" (the man page test compares them with venuegw(8)). */
size_t vg_cli_list(char *out, size_t outsz);

/* The options every verb takes, wherever they are among its arguments: a
 * verb's own --config FILE (or -c FILE) sets *config_path and is taken out of
 * argv (*argc shrinks); returns 1 at the first --help or -h (the verb's help
 * is wanted), else 0. */
int vg_cli_common_args(int *argc, char **argv, const char **config_path);

/* A bad command line: "venuegw VERB: <message>" on stderr, then
 * "Try 'venuegw VERB --help'." (or the verb's help when its entry says so).
 * verb NULL: the top level ("venuegw: ", "Try 'venuegw --help'.").
 * Returns VG_EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
int vg_cli_usage_error(const char *verb, const char *fmt, ...);

/* The one way a verb opens data_dir/buffer.db: full durability,
 * busy_timeout_ms.  NULL when it cannot: why is in err when err is given,
 * else printed on stderr ("venuegw: why").  Close with vg_store_close(). */
struct vg_store *vg_cli_open_store(const struct vg_config *cfg, int busy_timeout_ms, char *err, size_t errsz);
#define VG_CLI_BUSY_MS 2000

/* A whole small file (at most max bytes) in a new NUL-terminated buffer
 * (free; wiped by the caller when it is a secret), *len its length; NULL on
 * error with errno set (EFBIG: longer than max). */
char *vg_cli_read_file(const char *path, size_t max, size_t *len);

/* --owner USER[:GROUP]: the user's uid and gid (GROUP's, when given).
 * VG_EXIT_OK, or a usage error naming verb (an unknown user or group). */
int vg_cli_parse_owner(const char *verb, const char *spec, unsigned *uid, unsigned *gid);

/* Suppressions against the key file (forget.c): warn gets "" when every
 * suppression still matches under a version of the key file, else what to
 * do.  VG_OK or a store error. */
int vg_suppression_check(const struct vg_config *cfg, struct vg_store *st, char *warn, size_t warnsz);

/* The verbs' help texts and handlers (one file each). */
extern const char vg_help_run[], vg_help_check_config[], vg_help_status[], vg_help_quarantine[],
	vg_help_validate[], vg_help_forget[], vg_help_provision[], vg_help_device[], vg_help_diag[],
	vg_help_plan[], vg_help_pair[], vg_help_usage_head[], vg_help_usage_tail[];

vg_verb_fn vg_cmd_provision, vg_cmd_device, vg_cmd_status, vg_cmd_quarantine, vg_cmd_forget,
	vg_cmd_check_config, vg_cmd_validate, vg_cmd_plan, vg_cmd_diag, vg_cmd_pair, vg_cmd_help;

#endif
