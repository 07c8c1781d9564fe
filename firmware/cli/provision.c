/* venuegw provision: the configuration file and the secrets beside it, with
 * safe owners and modes; with --lan-tls a LAN CA, the broker's server
 * certificate and its TLS listener (DESIGN.md §9, issue 7). */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "config.h"
#include "contract.h"
#include "cli.h"
#include "err.h"
#include "keys.h"
#include "passwd.h"
#include "pki.h"

/* packaging/broker/acl, compiled in so an installed venuegw needs no source
 * tree (test_provision checks that the two are the same). */
static const char vg_broker_acl[] =
	"# venuegw broker ACL (DESIGN.md §2).  The broker is an intake, not a bus: no\n"
	"# client ever reads an event topic (venue/v1/<device>/events), raw or\n"
	"# tokenized, whatever its filter (#, +, $share/...), retained or as a will.\n"
	"# The capture plugin refuses the same reads and subscriptions itself, and\n"
	"# refuses a last will on an event topic; this file is the second lock.\n"
	"#\n"
	"# Devices (user name = device id) may write only event topics and read only\n"
	"# their own rejection notices.  Writing another device's topic is let through\n"
	"# on purpose: the capture plugin quarantines it with a reason and tells the\n"
	"# device, instead of a silent ACL drop that an MQTT 3.1.1 client would take\n"
	"# for success.  A user with a section of its own is matched against that\n"
	"# section before the patterns: a section that grants a wildcard read must\n"
	"# deny event topics first, as venuegw-admin's does.\n"
	"pattern write venue/v1/+/events\n"
	"pattern read venue/v1/%u/rejected\n"
	"\n"
	"# The gateway daemon: its status topic (retained, last will).\n"
	"user venuegw\n"
	"topic readwrite venue/v1/_gateway/#\n"
	"\n"
	"# IT staff's read-only view of everything else: status and rejection notices.\n"
	"user venuegw-admin\n"
	"topic deny venue/v1/+/events\n"
	"topic read #\n";

const char vg_help_provision[] =
	"Usage: venuegw [--config FILE] provision --venue-id ID --endpoint URL\n"
	"           (--write-key-file FILE | --write-key-stdin) [--token-key-file FILE]\n"
	"           [--gateway-id ID] [--data-dir DIR] [--durability full|os]\n"
	"           [--country-code N] [--mqtt-port PORT] [--metrics-listen ADDR:PORT]\n"
	"           [--plan FILE]\n"
	"           [--lan-tls [--tls-port PORT] [--tls-bind ADDR] [--tls-name NAME]...\n"
	"                      [--tls-require-cert]]\n"
	"           [--owner USER[:GROUP]] [--force]\n"
	"\n"
	"Writes the configuration FILE (default " VG_CONFIG_DEFAULT_PATH ") and, in the same\n"
	"directory, the secrets and the broker's files:\n"
	"  write_key       the CDP write key (mode 0640)\n"
	"  token_keys      the token key file (0640; DESIGN.md section 5)\n"
	"  mqtt_password   the daemon's own MQTT password (0640, random)\n"
	"  passwd          the broker's password file, holding the daemon's entry (0640)\n"
	"  acl             the broker's ACL (0644)\n"
	"  broker.d/       the directory the broker includes (include_dir)\n"
	"  tls/            with --lan-tls: ca.key (0600), ca.crt, server.key (0640),\n"
	"                  server.crt; broker.d/venuegw-tls.conf holds the listener\n"
	"buffer.db goes to --data-dir (default /var/lib/venuegw for the default FILE,\n"
	"else DIR/data), the broker's pid file to /run/venuegw/broker.pid (else\n"
	"DIR/broker.pid).  Existing files are not replaced unless --force is given\n"
	"(the package's unprovisioned venuegw.conf, whose venue_id is empty, and an\n"
	"acl identical to venuegw's are replaced; with --force the passwd file keeps\n"
	"its devices' entries, and the token key file stays unless --token-key-file\n"
	"is given).\n"
	"Secrets are never printed.\n"
	"\n"
	"Options:\n"
	"  --venue-id ID           the venue's stable id (never changes afterwards)\n"
	"  --endpoint URL          the CDP base URL (https, or http on loopback only)\n"
	"  --write-key-file FILE   read the CDP write key from FILE's first line\n"
	"  --write-key-stdin       read it from standard input's first line\n"
	"  --token-key-file FILE   the tenant's token key file (the same on every\n"
	"                          gateway of the company); without it a random key,\n"
	"                          version 1, is generated\n"
	"  --gateway-id ID         this gateway's id (default <venue-id>-gw)\n"
	"  --data-dir DIR          where buffer.db lives\n"
	"  --durability full|os    default full\n"
	"  --country-code N        calling code for phone numbers without one\n"
	"  --mqtt-port PORT        the broker's plain listener on 127.0.0.1 (default 1884)\n"
	"  --metrics-listen A:P    metrics and status page address (default 127.0.0.1:9478)\n"
	"  --plan FILE             the tracking plan ([contracts] plan; default the\n"
	"                          package's " VG_PLAN_DEFAULT_PATH "); it must pass\n"
	"                          venuegw plan check\n"
	"  --lan-tls               make a LAN CA (EC P-256, 10 years) and the broker's\n"
	"                          server certificate (2 years) and a TLS listener\n"
	"  --tls-port PORT         the TLS listener's port (default 8883)\n"
	"  --tls-bind ADDR         listen on ADDR only (default: every interface)\n"
	"  --tls-name NAME         a DNS name or IP address devices use to reach the\n"
	"                          gateway (repeatable; default: this host's name)\n"
	"  --tls-require-cert      devices must also present a certificate issued by\n"
	"                          the LAN CA (venuegw device add NAME --cert)\n"
	"  --owner USER[:GROUP]    the user the daemon and broker run as (venuegw):\n"
	"                          secrets become root:GROUP 0640, the data dir USER's\n"
	"  --force                 replace existing files\n"
	"  -h, --help              this text\n"
	"\n"
	"Exit status: 0 provisioned; 1 a file could not be read or written, or exists\n"
	"(without --force); 2 bad command line, or a value the configuration or the\n"
	"token key file would not accept (nothing is written).\n";

#define MAX_NAMES 16
#define MAX_FILES 16

struct plan {
	char dir[PATH_MAX];
	char config[PATH_MAX];
	const char *venue_id, *endpoint, *write_key_file, *token_key_file, *gateway_id;
	const char *data_dir_opt, *durability, *metrics_listen, *tls_bind, *plan_file;
	int write_key_stdin, country_code, mqtt_port, lan_tls, tls_port, require_cert, force;
	const char *names[MAX_NAMES];
	int nnames;
	int replace_config;       /* the config is the package's unprovisioned template */
	int replace_acl;          /* the ACL there is ours already */
	int have_owner;
	uid_t owner_uid;
	gid_t owner_gid;
	struct vg_config cfg;     /* the written configuration, parsed back */
};

struct written {
	char path[MAX_FILES][PATH_MAX];
	int n;
};

static int parse_port(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > 65535)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_owner(struct plan *p, const char *spec)
{
	unsigned uid, gid;
	int ec = vg_cli_parse_owner("provision", spec, &uid, &gid);
	if (ec != VG_EXIT_OK)
		return ec;
	p->owner_uid = (uid_t)uid;
	p->owner_gid = (gid_t)gid;
	p->have_owner = 1;
	return 0;
}

/* First line of fp, trimmed, into out. 0, or -1 (empty or too long). */
static int first_line(FILE *fp, char *out, size_t outsz)
{
	if (!fgets(out, (int)outsz, fp))
		return -1;
	size_t n = strlen(out);
	if (n == outsz - 1 && out[n - 1] != '\n')
		return -1;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
		out[--n] = '\0';
	size_t s = strspn(out, " \t");
	memmove(out, out + s, n - s + 1);
	return out[0] ? 0 : -1;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *s = tmp + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* A directory with mode (and owner, when given) — an existing one is kept as
 * it is unless we made it. */
static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "venuegw provision: %s exists and is not a directory\n", path);
			return -1;
		}
		return 0;
	}
	if (mkdir_p(path, mode) != 0 || chmod(path, mode) != 0 ||
	    (uid != (uid_t)-1 && chown(path, uid, gid) != 0)) {
		fprintf(stderr, "venuegw provision: cannot create directory %s: %s\n", path, strerror(errno));
		return -1;
	}
	printf("created %s/ (mode %04o)\n", path, (unsigned)mode);
	return 0;
}

static int put(struct written *w, const struct plan *p, const char *path, const void *data, size_t len,
               mode_t mode, int secret, int replace)
{
	char err[PATH_MAX + 200];
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	if (p->have_owner && secret) {
		uid = geteuid();
		gid = p->owner_gid;
	}
	int existed = access(path, F_OK) == 0;
	if (vg_file_write(path, data, len, mode, uid, gid, p->force || replace, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw provision: %s\n", err);
		return -1;
	}
	if (!existed && w->n < MAX_FILES)
		snprintf(w->path[w->n++], PATH_MAX, "%s", path);
	printf("wrote %s (mode %04o)\n", path, (unsigned)mode);
	return 0;
}

static void undo(struct written *w)
{
	for (int i = w->n - 1; i >= 0; i--)
		if (unlink(w->path[i]) == 0)
			printf("removed %s again\n", w->path[i]);
}

/* dir/name into out (PATH_MAX); a path that does not fit becomes "" (and
 * then fails to open with a clear ENOENT rather than naming another file). */
static void path_in(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PATH_MAX)
		out[0] = '\0';
}

static int config_text(struct plan *p, char *out, size_t outsz)
{
	char data_dir[PATH_MAX], pid_file[PATH_MAX];
	int is_default = strcmp(p->config, VG_CONFIG_DEFAULT_PATH) == 0;
	if (p->data_dir_opt)
		snprintf(data_dir, sizeof data_dir, "%s", p->data_dir_opt);
	else if (is_default)
		snprintf(data_dir, sizeof data_dir, "/var/lib/venuegw");
	else
		path_in(data_dir, p->dir, "data");
	if (is_default)
		snprintf(pid_file, sizeof pid_file, "/run/venuegw/broker.pid");
	else
		path_in(pid_file, p->dir, "broker.pid");
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	int n = snprintf(out, outsz,
		"# venuegw configuration, written by `venuegw provision` on %s.\n"
		"# Every key, its default and meaning: venuegw --describe-config\n"
		"\n"
		"[gateway]\n"
		"venue_id = %s\n"
		"%s%s%s"
		"data_dir = %s\n"
		"durability = %s\n"
		"%s%.0d%s"
		"\n"
		"[cdp]\n"
		"endpoint = %s\n"
		"write_key_file = %s/write_key\n"
		"\n"
		"[tokens]\n"
		"key_file = %s/token_keys\n"
		"\n"
		"[mqtt]\n"
		"port = %d\n"
		"username = venuegw\n"
		"password_file = %s/mqtt_password\n"
		"\n"
		"%s%s%s"
		"%s%s%s"
		"[broker]\n"
		"passwd_file = %s/passwd\n"
		"acl_file = %s/acl\n"
		"conf_dir = %s/broker.d\n"
		"tls_dir = %s/tls\n"
		"pid_file = %s\n",
		when, p->venue_id,
		p->gateway_id ? "gateway_id = " : "", p->gateway_id ? p->gateway_id : "", p->gateway_id ? "\n" : "",
		data_dir, p->durability ? p->durability : "full",
		p->country_code ? "default_country_code = " : "", p->country_code, p->country_code ? "\n" : "",
		p->endpoint, p->dir, p->dir, p->mqtt_port, p->dir,
		p->metrics_listen ? "[metrics]\nlisten = " : "", p->metrics_listen ? p->metrics_listen : "",
		p->metrics_listen ? "\n\n" : "",
		p->plan_file ? "[contracts]\nplan = " : "", p->plan_file ? p->plan_file : "", p->plan_file ? "\n\n" : "",
		p->dir, p->dir, p->dir, p->dir, pid_file);
	return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static int tls_listener_text(const struct plan *p, char *out, size_t outsz)
{
	const struct vg_config *c = &p->cfg;
	int n = snprintf(out, outsz,
		"# The TLS listener for devices on the LAN, written by `venuegw provision`.\n"
		"# Devices authenticate with their password (venuegw device add)%s.\n"
		"listener %d%s%s\n"
		"cafile %s/ca.crt\n"
		"certfile %s/server.crt\n"
		"keyfile %s/server.key\n"
		"tls_version tlsv1.2\n"
		"require_certificate %s\n",
		p->require_cert ? " and a certificate\n# issued by the LAN CA (venuegw device add NAME --cert)" : "",
		p->tls_port, p->tls_bind ? " " : "", p->tls_bind ? p->tls_bind : "",
		c->broker_tls_dir, c->broker_tls_dir, c->broker_tls_dir, p->require_cert ? "true" : "false");
	return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static int parse_args(struct plan *p, int argc, char **argv)
{
	enum { O_VENUE = 256, O_ENDPOINT, O_WKF, O_WKS, O_TKF, O_GWID, O_DATA, O_DUR, O_CC, O_MQTT,
	       O_METRICS, O_LANTLS, O_TLSPORT, O_TLSBIND, O_TLSNAME, O_REQCERT, O_OWNER, O_FORCE, O_PLAN };
	static const struct option opts[] = {
		{ "venue-id", required_argument, NULL, O_VENUE },
		{ "endpoint", required_argument, NULL, O_ENDPOINT },
		{ "write-key-file", required_argument, NULL, O_WKF },
		{ "write-key-stdin", no_argument, NULL, O_WKS },
		{ "token-key-file", required_argument, NULL, O_TKF },
		{ "gateway-id", required_argument, NULL, O_GWID },
		{ "data-dir", required_argument, NULL, O_DATA },
		{ "durability", required_argument, NULL, O_DUR },
		{ "country-code", required_argument, NULL, O_CC },
		{ "mqtt-port", required_argument, NULL, O_MQTT },
		{ "metrics-listen", required_argument, NULL, O_METRICS },
		{ "lan-tls", no_argument, NULL, O_LANTLS },
		{ "tls-port", required_argument, NULL, O_TLSPORT },
		{ "tls-bind", required_argument, NULL, O_TLSBIND },
		{ "tls-name", required_argument, NULL, O_TLSNAME },
		{ "tls-require-cert", no_argument, NULL, O_REQCERT },
		{ "owner", required_argument, NULL, O_OWNER },
		{ "force", no_argument, NULL, O_FORCE },
		{ "plan", required_argument, NULL, O_PLAN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int tls_opts = 0, c;
	p->mqtt_port = 1884;
	p->tls_port = 8883;
	/* argv starts after the verb: argv[-1] (the verb) stands in for argv[0]. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc + 1, argv - 1, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_VENUE: p->venue_id = optarg; break;
		case O_ENDPOINT: p->endpoint = optarg; break;
		case O_WKF: p->write_key_file = optarg; break;
		case O_WKS: p->write_key_stdin = 1; break;
		case O_TKF: p->token_key_file = optarg; break;
		case O_GWID: p->gateway_id = optarg; break;
		case O_DATA: p->data_dir_opt = optarg; break;
		case O_DUR: p->durability = optarg; break;
		case O_CC: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1 || v > 999)
				return vg_cli_usage_error("provision", "--country-code: '%s' is not a calling code (1-999)", optarg);
			p->country_code = (int)v;
			break;
		}
		case O_MQTT:
			if (parse_port(optarg, &p->mqtt_port))
				return vg_cli_usage_error("provision", "--mqtt-port: '%s' is not a port (1-65535)", optarg);
			break;
		case O_METRICS: p->metrics_listen = optarg; break;
		case O_LANTLS: p->lan_tls = 1; break;
		case O_TLSPORT:
			tls_opts = 1;
			if (parse_port(optarg, &p->tls_port))
				return vg_cli_usage_error("provision", "--tls-port: '%s' is not a port (1-65535)", optarg);
			break;
		case O_TLSBIND: tls_opts = 1; p->tls_bind = optarg; break;
		case O_TLSNAME:
			tls_opts = 1;
			if (p->nnames >= MAX_NAMES)
				return vg_cli_usage_error("provision", "--tls-name: at most 16 names");
			if (!vg_pki_name_ok(optarg))
				return vg_cli_usage_error("provision", "--tls-name: '%s' is neither an IP address nor a DNS name", optarg);
			p->names[p->nnames++] = optarg;
			break;
		case O_REQCERT: tls_opts = 1; p->require_cert = 1; break;
		case O_OWNER:
			if (parse_owner(p, optarg))
				return VG_EXIT_USAGE;
			break;
		case O_FORCE: p->force = 1; break;
		case O_PLAN: p->plan_file = optarg; break;
		case 'h': fputs(vg_help_provision, stdout); return -1;
		default:
			return vg_cli_usage_error("provision", "unknown option or missing value: '%s'", argv[optind - 2 < 0 ? 0 : optind - 2]);
		}
	}
	if (optind - 1 < argc)
		return vg_cli_usage_error("provision", "unexpected argument '%s'", argv[optind - 1]);
	if (!p->venue_id)
		return vg_cli_usage_error("provision", "--venue-id is required");
	if (!p->endpoint)
		return vg_cli_usage_error("provision", "--endpoint is required");
	if (!!p->write_key_file + p->write_key_stdin != 1)
		return vg_cli_usage_error("provision", "give the CDP write key with exactly one of --write-key-file and --write-key-stdin");
	if (tls_opts && !p->lan_tls)
		return vg_cli_usage_error("provision", "--tls-port, --tls-bind, --tls-name and --tls-require-cert need --lan-tls");
	if (p->tls_bind && !vg_pki_name_ok(p->tls_bind))
		return vg_cli_usage_error("provision", "--tls-bind: '%s' is not an address", p->tls_bind);
	if (p->lan_tls && p->tls_port == p->mqtt_port)
		return vg_cli_usage_error("provision", "--tls-port must differ from --mqtt-port");
	if (p->plan_file) {
		struct vg_plan *plan;
		char err[600];
		if (p->plan_file[0] != '/')
			return vg_cli_usage_error("provision", "--plan: '%s' is not an absolute path (the services read it from their own"
			             " directory)", p->plan_file);
		if (vg_plan_load(&plan, p->plan_file, err, sizeof err) != VG_OK)
			return vg_cli_usage_error("provision", "--plan: %s", err);
		vg_plan_free(plan);
	}
	return 0;
}

/* Whether the file at path is the package's unprovisioned venuegw.conf: a
 * venue_id line with no value, and no venue_id line with one. */
static int unprovisioned_template(const char *path)
{
	size_t len = 0;
	char *text = vg_cli_read_file(path, 1 << 20, &len);
	int empty = 0, set = 0;
	if (!text)
		return 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		line += strspn(line, " \t");
		if (strncmp(line, "venue_id", 8) != 0)
			continue;
		char *v = line + 8 + strspn(line + 8, " \t");
		if (*v != '=')
			continue;
		v += 1 + strspn(v + 1, " \t\r");
		if (*v == '\0' || *v == ';' || *v == '#')
			empty = 1;
		else
			set = 1;
	}
	free(text);
	return empty && !set;
}

/* The paths the configuration names; with !force, the first that exists.
 * Not conflicts: the package's unprovisioned venuegw.conf, and an ACL that
 * is ours already (both shipped by the Debian package). */
static const char *existing(struct plan *p)
{
	static char buf[PATH_MAX];
	const struct vg_config *c = &p->cfg;
	if (access(p->config, F_OK) == 0) {
		if (!unprovisioned_template(p->config))
			return p->config;
		p->replace_config = 1;
	}
	if (access(c->broker_acl_file, F_OK) == 0) {
		size_t len = 0;
		char *acl = vg_cli_read_file(c->broker_acl_file, 65536, &len);
		int same = acl && len == strlen(vg_broker_acl) && memcmp(acl, vg_broker_acl, len) == 0;
		free(acl);
		if (!same)
			return c->broker_acl_file;
		p->replace_acl = 1;
	}
	const char *paths[] = { c->write_key_file, c->key_file, c->mqtt_password_file, c->broker_passwd_file };
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (access(paths[i], F_OK) == 0)
			return paths[i];
	if (p->lan_tls) {
		static const char *const tls[] = { "ca.key", "ca.crt", "server.key", "server.crt" };
		for (size_t i = 0; i < 4; i++) {
			path_in(buf, c->broker_tls_dir, tls[i]);
			if (access(buf, F_OK) == 0)
				return buf;
		}
		path_in(buf, c->broker_conf_dir, "venuegw-tls.conf");
		if (access(buf, F_OK) == 0)
			return buf;
	}
	return NULL;
}

int vg_cmd_provision(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)cfg;
	struct plan *p = calloc(1, sizeof *p);
	char *conf = malloc(16384), *tktext = NULL;
	char wk[1024] = "", mqtt_pw[32] = "", entry[VG_PASSWD_LINE_MAX], err[PATH_MAX + 400];
	char path[PATH_MAX];
	struct written w = { .n = 0 };
	struct vg_pwfile pwf;
	int rc = VG_EXIT_FAIL, pw_loaded = 0, pw_lock = -1;
	char *ca_key = NULL, *ca_crt = NULL, *srv_key = NULL, *srv_crt = NULL;
	if (!p || !conf) {
		fprintf(stderr, "venuegw provision: out of memory\n");
		goto out;
	}
	int prc = parse_args(p, argc, argv);
	if (prc) {
		rc = prc < 0 ? VG_EXIT_OK : prc;
		goto out;
	}

	/* Where: the directory of the configuration, made absolute. */
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", config_path);
	const char *dir = dirname(tmp);
	if (mkdir_p(dir, 0755) != 0 || !realpath(dir, p->dir)) {
		fprintf(stderr, "venuegw provision: cannot create directory %s: %s\n", dir, strerror(errno));
		goto out;
	}
	snprintf(tmp, sizeof tmp, "%s", config_path);
	if (strcmp(config_path, VG_CONFIG_DEFAULT_PATH) == 0)
		snprintf(p->config, sizeof p->config, "%s", config_path);
	else
		path_in(p->config, p->dir, basename(tmp));
	if (p->data_dir_opt && p->data_dir_opt[0] != '/') {
		rc = vg_cli_usage_error("provision", "--data-dir: '%s' is not an absolute path", p->data_dir_opt);
		goto out;
	}

	/* The configuration, checked by the same parser the daemon uses: a bad
	 * venue id, endpoint or durability is a usage error, nothing written. */
	if (config_text(p, conf, 16384) != 0) {
		rc = vg_cli_usage_error("provision", "the configuration would be too long (paths?)");
		goto out;
	}
	if (vg_config_parse(&p->cfg, conf, p->config, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw provision: the configuration would be invalid: %s\n", err);
		rc = vg_cli_usage_error("provision", "check --venue-id, --gateway-id, --endpoint, --durability, --data-dir, --metrics-listen");
		goto out;
	}

	/* Inputs: the write key and the token keys. */
	if (p->write_key_stdin) {
		if (first_line(stdin, wk, sizeof wk) != 0) {
			rc = vg_cli_usage_error("provision", "no write key on standard input (one line expected)");
			goto out;
		}
	} else {
		FILE *fp = fopen(p->write_key_file, "re");
		if (!fp) {
			fprintf(stderr, "venuegw provision: cannot read the write key file %s: %s\n", p->write_key_file,
			        strerror(errno));
			goto out;
		}
		int bad = first_line(fp, wk, sizeof wk);
		fclose(fp);
		if (bad) {
			rc = vg_cli_usage_error("provision", "the write key file %s has no key on its first line", p->write_key_file);
			goto out;
		}
	}
	if (strchr(wk, ':')) {
		rc = vg_cli_usage_error("provision", "the write key must not contain ':' (it is sent as an HTTP Basic user name)");
		goto out;
	}
	size_t tklen = 0;
	int keep_keys = 0;
	if (p->token_key_file) {
		tktext = vg_cli_read_file(p->token_key_file, 65536, &tklen);
		if (!tktext) {
			fprintf(stderr, "venuegw provision: cannot read the token key file %s: %s\n",
			        p->token_key_file, strerror(errno));
			goto out;
		}
		struct vg_keyring kr;
		int krc = vg_keyring_parse(&kr, tktext, tklen, p->token_key_file, err, sizeof err);
		vg_keyring_wipe(&kr);
		if (krc != VG_OK) {
			fprintf(stderr, "venuegw provision: %s\n", err);
			rc = VG_EXIT_USAGE;
			goto out;
		}
	} else if (p->force && access(p->cfg.key_file, F_OK) == 0) {
		/* --force keeps the tenant's token keys: a new random key would
		 * change every token and no longer match the erasure suppressions
		 * (venuegw forget).  Replacing them takes --token-key-file. */
		keep_keys = 1;
	} else {
		unsigned char k[32];
		tktext = malloc(512);
		int krc = tktext ? vg_random(k, sizeof k) : VG_ERR_NOMEM;
		if (krc != VG_OK) {
			fprintf(stderr, "venuegw provision: cannot generate a token key: %s\n", vg_strerror(krc));
			goto out;
		}
		int n = snprintf(tktext, 512,
			"# venuegw token keys: '<version> <64 hex digits> [activate_at=<ISO 8601>]'.\n"
			"# Generated by venuegw provision.  The key is tenant-wide: copy this file to\n"
			"# every other gateway of the company and give it to the CDP team (DESIGN.md 5).\n"
			"1 ");
		for (int i = 0; i < 32; i++)
			n += snprintf(tktext + n, 512 - (size_t)n, "%02x", k[i]);
		n += snprintf(tktext + n, 512 - (size_t)n, "\n");
		tklen = (size_t)n;
		mbedtls_platform_zeroize(k, sizeof k);
	}

	/* Nothing is replaced without --force; find out before writing anything. */
	const char *ex = p->force ? NULL : existing(p);
	if (ex) {
		fprintf(stderr, "venuegw provision: %s exists; not replacing anything (use --force to replace)\n", ex);
		goto out;
	}

	/* The daemon's MQTT password and its password-file entry.  With --force an
	 * existing passwd file keeps its devices' entries. */
	if ((prc = vg_passwd_generate(mqtt_pw, sizeof mqtt_pw)) != VG_OK ||
	    (prc = vg_passwd_entry(p->cfg.mqtt_username, mqtt_pw, entry, sizeof entry)) != VG_OK) {
		fprintf(stderr, "venuegw provision: cannot generate the MQTT password: %s\n", vg_strerror(prc));
		goto out;
	}
	/* The same lock as venuegw device: a device added meanwhile is kept. */
	if ((pw_lock = vg_pwfile_lock(p->cfg.broker_passwd_file, err, sizeof err)) < 0 ||
	    vg_pwfile_load(&pwf, p->cfg.broker_passwd_file, 1, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw provision: %s\n", err);
		goto out;
	}
	pw_loaded = 1;
	int old = vg_pwfile_find(&pwf, p->cfg.mqtt_username);
	if (old >= 0)
		vg_pwfile_remove(&pwf, old);
	if (vg_pwfile_append(&pwf, entry) != VG_OK) {
		fprintf(stderr, "venuegw provision: %s: too many lines\n", p->cfg.broker_passwd_file);
		goto out;
	}

	/* TLS material first: it is the step most likely to fail, and nothing is
	 * written yet. */
	if (p->lan_tls) {
		char hostname[256] = "";
		if (p->nnames == 0) {
			if (gethostname(hostname, sizeof hostname) != 0 || !vg_pki_name_ok(hostname)) {
				rc = vg_cli_usage_error("provision", "this host's name is not usable in a certificate: give --tls-name");
				goto out;
			}
			p->names[p->nnames++] = hostname;
		}
		char cn[128];
		snprintf(cn, sizeof cn, "venuegw LAN CA %s", p->cfg.venue_id);
		ca_key = malloc(VG_PKI_PEM_MAX), ca_crt = malloc(VG_PKI_PEM_MAX);
		srv_key = malloc(VG_PKI_PEM_MAX), srv_crt = malloc(VG_PKI_PEM_MAX);
		if (!ca_key || !ca_crt || !srv_key || !srv_crt) {
			fprintf(stderr, "venuegw provision: out of memory\n");
			goto out;
		}
		snprintf(tmp, sizeof tmp, "%s", p->cfg.gateway_id[0] ? p->cfg.gateway_id : p->cfg.venue_id);
		if (vg_pki_make_ca(cn, VG_PKI_CA_DAYS, ca_key, ca_crt, err, sizeof err) != VG_OK ||
		    vg_pki_issue(ca_key, ca_crt, VG_PKI_SERVER, tmp, p->names, p->nnames, VG_PKI_SERVER_DAYS,
		                 srv_key, srv_crt, err, sizeof err) != VG_OK) {
			fprintf(stderr, "venuegw provision: %s\n", err);
			goto out;
		}
	}

	/* Write.  On a failure, files this run created are removed again. */
	uid_t ou = p->have_owner ? p->owner_uid : (uid_t)-1;
	gid_t og = p->have_owner ? p->owner_gid : (gid_t)-1;
	if (make_dir(p->cfg.data_dir, 0750, ou, og) != 0 ||
	    make_dir(p->cfg.broker_conf_dir, 0755, (uid_t)-1, (gid_t)-1) != 0)
		goto fail;
	if (p->lan_tls) {
		path_in(path, p->cfg.broker_tls_dir, "devices");
		if (make_dir(p->cfg.broker_tls_dir, 0750, p->have_owner ? geteuid() : (uid_t)-1, og) != 0 ||
		    make_dir(path, 0700, (uid_t)-1, (gid_t)-1) != 0)
			goto fail;
	}
	size_t wkl = strlen(wk);
	wk[wkl] = '\n';
	int wrc = put(&w, p, p->cfg.write_key_file, wk, wkl + 1, 0640, 1, 0);
	mbedtls_platform_zeroize(wk, sizeof wk);
	if (wrc || (!keep_keys && put(&w, p, p->cfg.key_file, tktext, tklen, 0640, 1, 0)))
		goto fail;
	if (keep_keys)
		printf("kept %s (the token keys; --token-key-file replaces them)\n", p->cfg.key_file);
	size_t pl = strlen(mqtt_pw);
	mqtt_pw[pl] = '\n';
	wrc = put(&w, p, p->cfg.mqtt_password_file, mqtt_pw, pl + 1, 0640, 1, 0);
	mbedtls_platform_zeroize(mqtt_pw, sizeof mqtt_pw);
	if (wrc)
		goto fail;
	/* A new passwd file belongs to root:GROUP (the broker reads it); an
	 * existing one keeps its owner. */
	if (!pwf.existed && p->have_owner) {
		pwf.existed = 1;
		pwf.mode = 0640;
		pwf.uid = geteuid();
		pwf.gid = p->owner_gid;
	}
	int pw_existed = access(p->cfg.broker_passwd_file, F_OK) == 0;
	if (vg_pwfile_save(&pwf, p->cfg.broker_passwd_file, 0640, NULL, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw provision: %s\n", err);
		goto fail;
	}
	if (!pw_existed)
		snprintf(w.path[w.n++], PATH_MAX, "%s", p->cfg.broker_passwd_file);
	printf("wrote %s (mode %04o, %d entr%s)\n", p->cfg.broker_passwd_file, (unsigned)(pwf.existed ? pwf.mode : 0640),
	       pwf.n, pwf.n == 1 ? "y" : "ies");
	if (put(&w, p, p->cfg.broker_acl_file, vg_broker_acl, strlen(vg_broker_acl), 0644, 0, p->replace_acl))
		goto fail;
	if (p->lan_tls) {
		char listener[4096];
		const struct { const char *name, *pem; mode_t mode; int secret; } tls[] = {
			{ "ca.key", ca_key, 0600, 0 },
			{ "ca.crt", ca_crt, 0644, 0 },
			{ "server.key", srv_key, 0640, 1 },
			{ "server.crt", srv_crt, 0644, 0 },
		};
		for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
			path_in(path, p->cfg.broker_tls_dir, tls[i].name);
			if (put(&w, p, path, tls[i].pem, strlen(tls[i].pem), tls[i].mode, tls[i].secret, 0))
				goto fail;
		}
		path_in(path, p->cfg.broker_conf_dir, "venuegw-tls.conf");
		if (tls_listener_text(p, listener, sizeof listener) != 0 ||
		    put(&w, p, path, listener, strlen(listener), 0644, 0, 0))
			goto fail;
	}
	/* The configuration last: while it is missing, nothing uses a half-made set. */
	if (put(&w, p, p->config, conf, strlen(conf), 0644, 0, p->replace_config))
		goto fail;

	printf("provisioned venue %s: check it with `venuegw --config %s check-config`", p->cfg.venue_id,
	       p->config);
	if (p->lan_tls) {
		printf("; the TLS listener on port %d serves", p->tls_port);
		for (int i = 0; i < p->nnames; i++)
			printf(" %s", p->names[i]);
		printf(" (devices trust %s/ca.crt)", p->cfg.broker_tls_dir);
	}
	printf("\n");
	if (!p->token_key_file)
		printf("note: a new token key was generated; every gateway of the company needs the same key file\n");
	if (p->force && p->lan_tls)
		printf("note: a new LAN CA was made; device certificates issued before no longer validate\n");
	rc = VG_EXIT_OK;
	goto out;
fail:
	undo(&w);
	rc = VG_EXIT_FAIL;
out:
	if (pw_loaded)
		vg_pwfile_free(&pwf);
	if (pw_lock >= 0)
		close(pw_lock);
	mbedtls_platform_zeroize(wk, sizeof wk);
	mbedtls_platform_zeroize(mqtt_pw, sizeof mqtt_pw);
	if (tktext) {
		mbedtls_platform_zeroize(tktext, strlen(tktext));
		free(tktext);
	}
	char *pems[] = { ca_key, ca_crt, srv_key, srv_crt };
	for (int i = 0; i < 4; i++) {
		if (pems[i]) {
			mbedtls_platform_zeroize(pems[i], VG_PKI_PEM_MAX);
			free(pems[i]);
		}
	}
	free(conf);
	free(p);
	return rc;
}
