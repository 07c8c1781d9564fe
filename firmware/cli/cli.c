/* venuegw cli — what the verbs share: the usage error, opening buffer.db. */
#include <stdarg.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include <errno.h>
#include <stdlib.h>

#include <mbedtls/platform_util.h>

#include "cli.h"
#include "err.h"
#include "store.h"

int vg_cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "venuegw%s%s: ", verb ? " " : "", verb ? verb : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	const struct vg_verb *v = verb ? vg_verb_find(verb) : NULL;
	if (v && v->usage_shows_help && v->help)
		fprintf(stderr, "\n%s", v->help);
	else
		fprintf(stderr, "\nTry 'venuegw%s%s --help'.\n", verb ? " " : "", verb ? verb : "");
	return VG_EXIT_USAGE;
}

int vg_cli_common_args(int *argc, char **argv, const char **config_path)
{
	for (int i = 0; i < *argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < *argc) {
			*config_path = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof *argv);
			*argc -= 2;
			i--;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			return 1;
		}
	}
	return 0;
}

struct vg_store *vg_cli_open_store(const struct vg_config *cfg, int busy_timeout_ms, char *err, size_t errsz)
{
	char path[VG_CONFIG_DB_PATH_MAX], why[600];
	struct vg_store *st = NULL;
	if (vg_config_db_path(cfg, path, sizeof path) != VG_OK) {
		snprintf(err ? err : why, err ? errsz : sizeof why, "[gateway] data_dir: too long for buffer.db's path");
		if (!err)
			fprintf(stderr, "venuegw: %s\n", why);
		return NULL;
	}
	struct vg_store_cfg scfg = { .path = path, .owner = 0, .durability_full = 1, .busy_timeout_ms = busy_timeout_ms };
	if (vg_store_open(&st, &scfg, err ? err : why, err ? errsz : sizeof why) != VG_OK) {
		if (!err)
			fprintf(stderr, "venuegw: %s\n", why);
		return NULL;
	}
	return st;
}

int vg_cli_parse_owner(const char *verb, const char *spec, unsigned *uid, unsigned *gid)
{
	char user[256];
	snprintf(user, sizeof user, "%s", spec);
	char *colon = strchr(user, ':');
	if (colon)
		*colon++ = '\0';
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return vg_cli_usage_error(verb, "--owner: no user '%s' on this system", user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (colon && *colon) {
		struct group *gr = getgrnam(colon);
		if (!gr)
			return vg_cli_usage_error(verb, "--owner: no group '%s' on this system", colon);
		*gid = gr->gr_gid;
	}
	return VG_EXIT_OK;
}

char *vg_cli_read_file(const char *path, size_t max, size_t *len)
{
	FILE *fp = fopen(path, "re");
	if (!fp)
		return NULL;
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max + 1, fp) : 0;
	int bad = !buf || ferror(fp) || n > max;
	fclose(fp);
	if (bad) {
		if (buf)
			mbedtls_platform_zeroize(buf, max + 1);
		free(buf);
		errno = bad && buf && n > max ? EFBIG : errno;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

