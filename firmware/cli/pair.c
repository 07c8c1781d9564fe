/* venuegw pair export | import: the second gateway of an active-active pair
 * set up from the first (issue 16).  Both share venue_id, the token keys,
 * the devices' broker credentials, the CDP or Kafka credentials, the
 * tracking plan and the LAN CA; each has its own gateway_id, buffer.db and
 * server certificate.  An event captured by both reaches the CDP with one
 * messageId (its key derives from venue, device and the device's event id).
 *
 * The bundle is a gzip'd tar, mode 0600: manifest, venuegw.conf, the
 * secrets, the plan, the LAN CA and the TLS listener. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "cli.h"
#include "config.h"
#include "contract.h"
#include "err.h"
#include "passwd.h"
#include "pki.h"

const char vg_help_pair[] =
	"Usage: venuegw [--config FILE] pair export BUNDLE [--force]\n"
	"       venuegw [--config FILE] pair import BUNDLE --gateway-id ID\n"
	"           [--data-dir DIR] [--mqtt-port PORT] [--metrics-listen ADDR:PORT]\n"
	"           [--tls-name NAME]... [--owner USER[:GROUP]] [--force]\n"
	"\n"
	"An active-active pair: two gateways of one venue that share venue_id, the\n"
	"token keys and the devices' credentials, each with its own gateway_id.\n"
	"Devices list both brokers and fail over; an event captured by both reaches\n"
	"the CDP with one messageId, which the CDP de-duplicates (README: \"Two\n"
	"gateways for one venue\").\n"
	"\n"
	"export writes BUNDLE (a gzip'd tar, mode 0600, never replaced unless --force)\n"
	"with what the second gateway needs from this one: the configuration, the\n"
	"token key file, the broker's password file (the devices and the daemon),\n"
	"the daemon's MQTT password, the CDP write key or the Kafka SASL password,\n"
	"the tracking plan unless it is the package's, and with a LAN TLS listener\n"
	"the LAN CA (its key too) and the listener.  BUNDLE holds secrets: move it\n"
	"to the second gateway over a channel you trust (scp), and delete it after\n"
	"the import.  Nothing secret is ever printed or taken on the command line.\n"
	"\n"
	"import, on the second gateway, writes FILE (default " VG_CONFIG_DEFAULT_PATH ")\n"
	"and beside it the secrets (token_keys, passwd, mqtt_password, write_key or\n"
	"kafka_password, mode 0640), plan.json when the plan is not the package's,\n"
	"and tls/: the LAN CA and a new server certificate for this gateway, signed\n"
	"by that CA (so devices trust both).  The configuration is the first\n"
	"gateway's with gateway_id = ID and these paths (the broker's tls_dir,\n"
	"conf_dir and pid_file too, laid out as provision does); data_dir, the\n"
	"broker's port and the metrics address are the first's unless given.\n"
	"Existing files are not replaced unless --force (the package's\n"
	"unprovisioned venuegw.conf is).\n"
	"Then restart the services: systemctl restart venuegw-broker venuegw.\n"
	"\n"
	"What does not fail over: serial and HID ports (a port is wired to one box;\n"
	"their [serial.*] and [hid.*] sections are left out of the import), and\n"
	"events without a device event id unless resent byte for byte the same (their\n"
	"key is a digest of the payload).\n"
	"\n"
	"Options:\n"
	"  --gateway-id ID         this gateway's id; must differ from the first's\n"
	"  --data-dir DIR          where this gateway's buffer.db lives\n"
	"  --mqtt-port PORT        this broker's plain listener on 127.0.0.1\n"
	"  --metrics-listen A:P    this gateway's metrics and status page\n"
	"  --tls-name NAME         a DNS name or IP address devices use to reach this\n"
	"                          gateway (repeatable; default: this host's name)\n"
	"  --owner USER[:GROUP]    secrets become root:GROUP 0640 (as provision)\n"
	"  --force                 replace existing files\n"
	"  -h, --help              this text\n"
	"\n"
	"Exit status: 0 done; 1 a file could not be read or written, or exists;\n"
	"2 bad command line, or a bundle that is not one (nothing is written).\n";

#define BUNDLE_FORMAT "venuegw-pair 1"
#define MAX_PART (4u << 20)
#define MAX_NAMES 16

/* ---- small files ---------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len, char *err, size_t errsz)
{
	char *buf = vg_cli_read_file(path, MAX_PART, len);
	if (!buf)
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
	return buf;
}

static void wipe_free(char *p, size_t n)
{
	if (p) {
		mbedtls_platform_zeroize(p, n);
		free(p);
	}
}

/* ---- the bundle ------------------------------------------------------------------- */

struct part {
	char name[64];
	char *data;
	size_t len;
};

#define MAX_PARTS 16

struct bundle {
	struct part p[MAX_PARTS];
	int n;
};

static void bundle_free(struct bundle *b)
{
	for (int i = 0; i < b->n; i++)
		wipe_free(b->p[i].data, b->p[i].len);
	b->n = 0;
}

static const struct part *part(const struct bundle *b, const char *name)
{
	for (int i = 0; i < b->n; i++)
		if (strcmp(b->p[i].name, name) == 0)
			return &b->p[i];
	return NULL;
}

/* Take path's content as part name (when path is set).  required: a
 * missing file is an error, else the part is left out. */
static int take(struct bundle *b, const char *name, const char *path, int required, char *err, size_t errsz)
{
	if (!path[0])
		return VG_OK;
	if (!required && access(path, F_OK) != 0)
		return VG_OK;
	if (b->n == MAX_PARTS) {
		snprintf(err, errsz, "too many parts");
		return VG_ERR_RANGE;
	}
	struct part *p = &b->p[b->n];
	if (!(p->data = read_all(path, &p->len, err, errsz)))
		return VG_ERR_IO;
	snprintf(p->name, sizeof p->name, "%s", name);
	b->n++;
	return VG_OK;
}

static int add_text(struct bundle *b, const char *name, const char *text)
{
	if (b->n == MAX_PARTS || !(b->p[b->n].data = strdup(text)))
		return VG_ERR_NOMEM;
	b->p[b->n].len = strlen(text);
	snprintf(b->p[b->n].name, sizeof b->p[b->n].name, "%s", name);
	b->n++;
	return VG_OK;
}

static int write_bundle(const struct bundle *b, const char *path, int force, char *err, size_t errsz)
{
	if (force)
		unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s%s", path, strerror(errno), errno == EEXIST ? " (--force replaces it)" : "");
		return VG_ERR_IO;
	}
	fchmod(fd, 0600);
	struct archive *a = archive_write_new();
	int bad = !a || archive_write_set_format_ustar(a) != ARCHIVE_OK || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	          archive_write_open_fd(a, fd) != ARCHIVE_OK;
	time_t now = time(NULL);
	for (int i = 0; !bad && i < b->n; i++) {
		struct archive_entry *e = archive_entry_new();
		if (!e) {
			bad = 1;
			break;
		}
		archive_entry_set_pathname(e, b->p[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0600);
		archive_entry_set_size(e, (la_int64_t)b->p[i].len);
		archive_entry_set_mtime(e, now, 0);
		bad = archive_write_header(a, e) != ARCHIVE_OK ||
		      (b->p[i].len && archive_write_data(a, b->p[i].data, b->p[i].len) != (la_ssize_t)b->p[i].len);
		archive_entry_free(e);
	}
	if (a && archive_write_close(a) != ARCHIVE_OK)
		bad = 1;
	if (bad)
		snprintf(err, errsz, "%s: cannot write the bundle: %s", path, a ? archive_error_string(a) : "out of memory");
	if (a)
		archive_write_free(a);
	if (fsync(fd) != 0 && !bad) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		bad = 1;
	}
	close(fd);
	if (bad) {
		unlink(path);
		return VG_ERR_IO;
	}
	return VG_OK;
}

static int read_bundle(struct bundle *b, const char *path, char *err, size_t errsz)
{
	struct archive *a = archive_read_new();
	if (!a) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	int rc = VG_OK;
	if (access(path, R_OK) != 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		rc = VG_ERR_IO;
	} else if (archive_read_open_filename(a, path, 16384) != ARCHIVE_OK) {
		snprintf(err, errsz, "%s: not a pair bundle: %s", path, archive_error_string(a));
		rc = VG_ERR_INVAL;
	}
	struct archive_entry *e;
	while (rc == VG_OK) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			snprintf(err, errsz, "%s: not a pair bundle: %s", path, archive_error_string(a));
			rc = VG_ERR_INVAL;
			break;
		}
		const char *name = archive_entry_pathname(e);
		la_int64_t size = archive_entry_size(e);
		if (!name || strlen(name) >= sizeof b->p[0].name || size < 0 || size > (la_int64_t)MAX_PART ||
		    archive_entry_filetype(e) != AE_IFREG || b->n == MAX_PARTS) {
			snprintf(err, errsz, "%s: not a pair bundle (entry %s)", path, name ? name : "?");
			rc = VG_ERR_INVAL;
			break;
		}
		struct part *p = &b->p[b->n];
		p->data = malloc((size_t)size + 1);
		if (!p->data) {
			rc = VG_ERR_NOMEM;
			break;
		}
		la_ssize_t got = size ? archive_read_data(a, p->data, (size_t)size) : 0;
		if (got != size) {
			free(p->data);
			snprintf(err, errsz, "%s: truncated entry %s", path, name);
			rc = VG_ERR_INVAL;
			break;
		}
		p->data[size] = '\0';
		p->len = (size_t)size;
		snprintf(p->name, sizeof p->name, "%s", name);
		b->n++;
	}
	archive_read_free(a);
	return rc;
}

/* ---- export ------------------------------------------------------------------------ */

static int cmd_export(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	const char *out = NULL;
	int force = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (argv[i][0] == '-')
			return vg_cli_usage_error("pair", "export: unknown option '%s'", argv[i]);
		else if (!out)
			out = argv[i];
		else
			return vg_cli_usage_error("pair", "export: one BUNDLE only ('%s')", argv[i]);
	}
	if (!out)
		return vg_cli_usage_error("pair", "export: which file? venuegw pair export BUNDLE");
	if (!cfg->venue_id[0])
		return vg_cli_usage_error("pair", "%s has no venue_id: provision this gateway first", config_path);
	struct bundle b = { 0 };
	char err[PATH_MAX + 200] = "";
	char manifest[512], path[PATH_MAX];
	time_t now = time(NULL);
	struct tm tm;
	char when[32];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	snprintf(manifest, sizeof manifest, "format %s\nvenue_id %s\ngateway_id %s\ncreated %s\n", BUNDLE_FORMAT,
	         cfg->venue_id, cfg->gateway_id, when);
	int rc = add_text(&b, "manifest", manifest);
	if (rc == VG_OK)
		rc = take(&b, "venuegw.conf", config_path, 1, err, sizeof err);
	if (rc == VG_OK)
		rc = take(&b, "token_keys", cfg->key_file, 1, err, sizeof err);
	if (rc == VG_OK)
		rc = take(&b, "passwd", cfg->broker_passwd_file, 1, err, sizeof err);
	if (rc == VG_OK)
		rc = take(&b, "mqtt_password", cfg->mqtt_password_file, 1, err, sizeof err);
	if (rc == VG_OK && cfg->output == VG_OUTPUT_SEGMENT && cfg->endpoint[0])
		rc = take(&b, "write_key", cfg->write_key_file, 1, err, sizeof err);
	if (rc == VG_OK && cfg->output == VG_OUTPUT_KAFKA)
		rc = take(&b, "kafka_password", cfg->kafka_sasl_password_file, 1, err, sizeof err);
	if (rc == VG_OK && strcmp(cfg->plan_path, VG_PLAN_DEFAULT_PATH) != 0)
		rc = take(&b, "plan.json", cfg->plan_path, 1, err, sizeof err);
	snprintf(path, sizeof path, "%s/ca.key", cfg->broker_tls_dir);
	int lan_tls = access(path, F_OK) == 0;
	if (rc == VG_OK && lan_tls) {
		rc = take(&b, "tls/ca.key", path, 1, err, sizeof err);
		snprintf(path, sizeof path, "%s/ca.crt", cfg->broker_tls_dir);
		if (rc == VG_OK)
			rc = take(&b, "tls/ca.crt", path, 1, err, sizeof err);
		snprintf(path, sizeof path, "%s/venuegw-tls.conf", cfg->broker_conf_dir);
		if (rc == VG_OK)
			rc = take(&b, "broker.d/venuegw-tls.conf", path, 0, err, sizeof err);
	}
	if (rc == VG_OK)
		rc = write_bundle(&b, out, force, err, sizeof err);
	if (rc == VG_OK) {
		printf("wrote %s (mode 0600): venue %s, from gateway %s;", out, cfg->venue_id, cfg->gateway_id);
		for (int i = 1; i < b.n; i++)
			printf(" %s", b.p[i].name);
		printf("\nIt holds secrets: copy it to the second gateway over a channel you trust, run\n"
		       "  venuegw pair import %s --gateway-id <its own id>\nthere, then delete it on both.\n", out);
	} else {
		fprintf(stderr, "venuegw pair export: %s\n", err);
	}
	bundle_free(&b);
	return rc == VG_OK ? VG_EXIT_OK : rc == VG_ERR_RANGE ? VG_EXIT_USAGE : VG_EXIT_FAIL;
}

/* ---- import -------------------------------------------------------------------------- */

/* text with section's key set to value (replaced where it stands, else
 * added at the end of the section, else a new section at the end); a new
 * malloc'd string.  drop: remove the key instead. */
static char *ini_set(const char *text, const char *section, const char *key, const char *value)
{
	size_t cap = strlen(text) + strlen(section) + strlen(key) + strlen(value) + 16;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t o = 0, klen = strlen(key);
	int in = 0, done = 0;
	const char *p = text;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
		const char *s = p + strspn(p, " \t");
		if (*s == '[') {
			if (in && !done) {
				o += (size_t)sprintf(out + o, "%s = %s\n", key, value);
				done = 1;
			}
			const char *close = strchr(s, ']');
			in = close && (size_t)(close - s - 1) == strlen(section) && strncmp(s + 1, section, strlen(section)) == 0;
		} else if (in && !done && strncmp(s, key, klen) == 0 && (s[klen] == ' ' || s[klen] == '\t' || s[klen] == '=')) {
			o += (size_t)sprintf(out + o, "%s = %s\n", key, value);
			done = 1;
			p += n;
			continue;
		}
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	if (!done) {
		if (o && out[o - 1] != '\n')
			out[o++] = '\n';
		if (in)
			o += (size_t)sprintf(out + o, "%s = %s\n", key, value);
		else
			o += (size_t)sprintf(out + o, "\n[%s]\n%s = %s\n", section, key, value);
	}
	out[o] = '\0';
	return out;
}

/* text without its [serial.*] and [hid.*] sections (a port is wired to one
 * box); a new malloc'd string. */
static char *drop_ports(const char *text, int *dropped)
{
	char *out = malloc(strlen(text) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	int skip = 0;
	*dropped = 0;
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
		const char *s = p + strspn(p, " \t");
		if (*s == '[') {
			skip = strncmp(s, "[serial.", 8) == 0 || strncmp(s, "[hid.", 5) == 0;
			*dropped += skip;
		}
		if (!skip) {
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	out[o] = '\0';
	return out;
}

static int set_all(char **text, const char *section, const char *key, const char *value)
{
	char *t = ini_set(*text, section, key, value);
	if (!t)
		return VG_ERR_NOMEM;
	free(*text);
	*text = t;
	return VG_OK;
}

static int manifest_value(const struct part *m, const char *name, char *out, size_t outsz)
{
	size_t n = strlen(name);
	for (const char *p = m->data; p && *p;) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			size_t len = strcspn(p + n + 1, "\n");
			snprintf(out, outsz, "%.*s", (int)len, p + n + 1);
			return 1;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return 0;
}

struct import_opts {
	const char *bundle, *gateway_id, *data_dir, *metrics_listen, *mqtt_port;
	const char *names[MAX_NAMES];
	int nnames, force, have_owner;
	gid_t gid;
};

static int parse_import(struct import_opts *o, int argc, char **argv)
{
	enum { O_GWID = 256, O_DATA, O_MQTT, O_METRICS, O_TLSNAME, O_OWNER, O_FORCE };
	static const struct option opts[] = {
		{ "gateway-id", required_argument, NULL, O_GWID }, { "data-dir", required_argument, NULL, O_DATA },
		{ "mqtt-port", required_argument, NULL, O_MQTT }, { "metrics-listen", required_argument, NULL, O_METRICS },
		{ "tls-name", required_argument, NULL, O_TLSNAME }, { "owner", required_argument, NULL, O_OWNER },
		{ "force", no_argument, NULL, O_FORCE }, { NULL, 0, NULL, 0 },
	};
	optind = 0; /* glibc: start over (main parsed its own options) */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_GWID: o->gateway_id = optarg; break;
		case O_DATA: o->data_dir = optarg; break;
		case O_MQTT: o->mqtt_port = optarg; break;
		case O_METRICS: o->metrics_listen = optarg; break;
		case O_TLSNAME:
			if (o->nnames == MAX_NAMES)
				return vg_cli_usage_error("pair", "--tls-name: at most %d names", MAX_NAMES);
			if (!vg_pki_name_ok(optarg))
				return vg_cli_usage_error("pair", "--tls-name: '%s' is neither an IP address nor a DNS name", optarg);
			o->names[o->nnames++] = optarg;
			break;
		case O_OWNER: {
			unsigned uid, gid;
			int ec = vg_cli_parse_owner("pair", optarg, &uid, &gid);
			if (ec != VG_EXIT_OK)
				return ec;
			o->gid = (gid_t)gid;
			o->have_owner = 1;
			break;
		}
		case O_FORCE: o->force = 1; break;
		default:
			return vg_cli_usage_error("pair", "import: unknown option or missing value: '%s'",
			                          argv[optind - 1 < 1 ? 1 : optind - 1]);
		}
	}
	if (optind < argc)
		o->bundle = argv[optind++];
	if (optind < argc)
		return vg_cli_usage_error("pair", "import: one BUNDLE only ('%s')", argv[optind]);
	if (!o->bundle)
		return vg_cli_usage_error("pair", "import: which bundle? venuegw pair import BUNDLE --gateway-id ID");
	if (!o->gateway_id)
		return vg_cli_usage_error("pair", "import: --gateway-id is required (this gateway's own id)");
	if (!vg_config_valid_id(o->gateway_id))
		return vg_cli_usage_error("pair", "--gateway-id: '%s' is not 1-64 of A-Z a-z 0-9 . _ -", o->gateway_id);
	return VG_EXIT_OK;
}

struct dest {
	const char *part;
	char path[PATH_MAX];
	mode_t mode;
	int secret;
};

static int cmd_import(const char *config_path, int argc, char **argv)
{
	struct import_opts o = { 0 };
	int ec = parse_import(&o, argc, argv);
	if (ec != VG_EXIT_OK)
		return ec;
	char err[PATH_MAX + 300] = "";
	struct stat st;
	if (stat(o.bundle, &st) == 0 && (st.st_mode & 0077))
		fprintf(stderr, "venuegw pair import: warning: %s is readable by others (mode %04o); it holds secrets\n",
		        o.bundle, (unsigned)(st.st_mode & 07777));
	struct bundle b = { 0 };
	int rc = read_bundle(&b, o.bundle, err, sizeof err);
	const struct part *m = part(&b, "manifest"), *conf = part(&b, "venuegw.conf");
	char fmt[64] = "", venue[80] = "", first[80] = "";
	if (rc == VG_OK && (!m || !conf || !manifest_value(m, "format", fmt, sizeof fmt) || strcmp(fmt, BUNDLE_FORMAT) ||
	                    !manifest_value(m, "venue_id", venue, sizeof venue) ||
	                    !manifest_value(m, "gateway_id", first, sizeof first))) {
		snprintf(err, sizeof err, "%s: not a pair bundle of this version (want format \"%s\")", o.bundle, BUNDLE_FORMAT);
		rc = VG_ERR_INVAL;
	}
	if (rc != VG_OK) {
		fprintf(stderr, "venuegw pair import: %s\n", err);
		bundle_free(&b);
		return rc == VG_ERR_IO ? VG_EXIT_FAIL : VG_EXIT_USAGE;
	}
	if (strcmp(first, o.gateway_id) == 0) {
		bundle_free(&b);
		return vg_cli_usage_error("pair", "--gateway-id %s is the first gateway's own id: each gateway of a pair"
		                          " needs its own", o.gateway_id);
	}

	/* Where everything goes: beside the configuration, as provision lays it out. */
	char dir[PATH_MAX - 64];
	if (strlen(config_path) >= sizeof dir) {
		bundle_free(&b);
		return vg_cli_usage_error("pair", "--config: the path is too long");
	}
	snprintf(dir, sizeof dir, "%s", config_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else
		snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
	struct dest d[] = {
		{ "token_keys", "", 0640, 1 }, { "passwd", "", 0640, 1 }, { "mqtt_password", "", 0640, 1 },
		{ "write_key", "", 0640, 1 }, { "kafka_password", "", 0640, 1 }, { "plan.json", "", 0644, 0 },
		{ "tls/ca.key", "", 0600, 1 }, { "tls/ca.crt", "", 0644, 0 },
	};
	size_t nd = sizeof d / sizeof d[0];
	for (size_t i = 0; i < nd; i++)
		snprintf(d[i].path, sizeof d[i].path, "%s/%s", dir, d[i].part);
	char tls_dir[PATH_MAX], conf_dir[PATH_MAX], tls_conf[PATH_MAX];
	snprintf(tls_dir, sizeof tls_dir, "%s/tls", dir);
	snprintf(conf_dir, sizeof conf_dir, "%s/broker.d", dir);
	snprintf(tls_conf, sizeof tls_conf, "%s/broker.d/venuegw-tls.conf", dir);

	int dropped = 0;
	char *text = drop_ports(conf->data, &dropped);
	rc = text ? VG_OK : VG_ERR_NOMEM;
	if (rc == VG_OK)
		rc = set_all(&text, "gateway", "gateway_id", o.gateway_id);
	if (rc == VG_OK && o.data_dir)
		rc = set_all(&text, "gateway", "data_dir", o.data_dir);
	if (rc == VG_OK && o.mqtt_port)
		rc = set_all(&text, "mqtt", "port", o.mqtt_port);
	if (rc == VG_OK && o.metrics_listen)
		rc = set_all(&text, "metrics", "listen", o.metrics_listen);
	if (rc == VG_OK)
		rc = set_all(&text, "tokens", "key_file", d[0].path);
	if (rc == VG_OK)
		rc = set_all(&text, "broker", "passwd_file", d[1].path);
	if (rc == VG_OK && part(&b, "mqtt_password"))
		rc = set_all(&text, "mqtt", "password_file", d[2].path);
	if (rc == VG_OK && part(&b, "write_key"))
		rc = set_all(&text, "cdp", "write_key_file", d[3].path);
	if (rc == VG_OK && part(&b, "kafka_password"))
		rc = set_all(&text, "kafka", "sasl_password_file", d[4].path);
	if (rc == VG_OK && part(&b, "plan.json"))
		rc = set_all(&text, "contracts", "plan", d[5].path);
	if (rc == VG_OK)
		rc = set_all(&text, "broker", "tls_dir", tls_dir);
	if (rc == VG_OK)
		rc = set_all(&text, "broker", "conf_dir", conf_dir);
	char pid_file[PATH_MAX];
	if (strcmp(config_path, VG_CONFIG_DEFAULT_PATH) == 0)
		snprintf(pid_file, sizeof pid_file, "/run/venuegw/broker.pid");
	else
		snprintf(pid_file, sizeof pid_file, "%s/broker.pid", dir);
	if (rc == VG_OK)
		rc = set_all(&text, "broker", "pid_file", pid_file);
	struct vg_config cfg;
	if (rc == VG_OK && vg_config_parse(&cfg, text, config_path, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw pair import: the imported configuration does not load: %s\n", err);
		free(text);
		bundle_free(&b);
		return VG_EXIT_USAGE;
	}
	if (rc == VG_OK && strcmp(cfg.venue_id, venue) != 0) {
		fprintf(stderr, "venuegw pair import: the bundle's manifest (venue %s) and configuration (venue %s)"
		        " disagree\n", venue, cfg.venue_id);
		free(text);
		bundle_free(&b);
		return VG_EXIT_USAGE;
	}
	/* This gateway's own server certificate from the shared LAN CA. */
	char key_pem[VG_PKI_PEM_MAX] = "", crt_pem[VG_PKI_PEM_MAX] = "", *listener = NULL;
	const struct part *ca_key = part(&b, "tls/ca.key"), *ca_crt = part(&b, "tls/ca.crt");
	if (rc == VG_OK && ca_key && ca_crt) {
		char host[256];
		const char *names[MAX_NAMES];
		int nnames = o.nnames;
		memcpy(names, o.names, sizeof names);
		if (!nnames) {
			if (gethostname(host, sizeof host) != 0 || !vg_pki_name_ok(host)) {
				fprintf(stderr, "venuegw pair import: this host's name is not usable in a certificate: give"
				        " --tls-name\n");
				free(text);
				bundle_free(&b);
				return VG_EXIT_USAGE;
			}
			names[nnames++] = host;
		}
		char cn[160];
		snprintf(cn, sizeof cn, "%s broker", o.gateway_id);
		if (vg_pki_issue(ca_key->data, ca_crt->data, VG_PKI_SERVER, cn, names, nnames, VG_PKI_SERVER_DAYS, key_pem,
		                 crt_pem, err, sizeof err) != VG_OK) {
			fprintf(stderr, "venuegw pair import: cannot issue this gateway's server certificate: %s\n", err);
			free(text);
			bundle_free(&b);
			return VG_EXIT_USAGE;
		}
		/* The first's listener, its certificate paths moved to this tls/. */
		const struct part *l = part(&b, "broker.d/venuegw-tls.conf");
		if (l) {
			char old[PATH_MAX];
			struct vg_config first_cfg;
			if (vg_config_parse(&first_cfg, conf->data, "bundle", err, sizeof err) == VG_OK &&
			    snprintf(old, sizeof old, "%s/", first_cfg.broker_tls_dir) > 0) {
				size_t ol = strlen(old), nl = strlen(tls_dir) + 1;
				listener = malloc(l->len + (l->len / ol + 1) * nl + 1);
				if (listener) {
					size_t w = 0;
					for (const char *q = l->data; *q;) {
						if (strncmp(q, old, ol) == 0) {
							w += (size_t)sprintf(listener + w, "%s/", tls_dir);
							q += ol;
						} else {
							listener[w++] = *q++;
						}
					}
					listener[w] = '\0';
				}
			}
		}
	}

	/* Nothing is written unless everything can be. */
	int exists = 0;
	if (!o.force) {
		struct vg_config cur;
		char e2[300];
		int template = vg_config_load(&cur, config_path, e2, sizeof e2) == VG_OK ? !cur.venue_id[0]
		             : access(config_path, F_OK) != 0;
		if (access(config_path, F_OK) == 0 && !template) {
			fprintf(stderr, "venuegw pair import: %s exists (--force replaces it)\n", config_path);
			exists = 1;
		}
		for (size_t i = 0; i < nd; i++) {
			if (part(&b, d[i].part) && access(d[i].path, F_OK) == 0) {
				fprintf(stderr, "venuegw pair import: %s exists (--force replaces it)\n", d[i].path);
				exists = 1;
			}
		}
	}
	if (exists) {
		free(text);
		free(listener);
		bundle_free(&b);
		mbedtls_platform_zeroize(key_pem, sizeof key_pem);
		return VG_EXIT_FAIL;
	}
	uid_t uid = o.have_owner ? geteuid() : (uid_t)-1;
	gid_t gid = o.have_owner ? o.gid : (gid_t)-1;
	int bad = 0;
	if (part(&b, "tls/ca.key") && (mkdir(tls_dir, 0755) != 0 && errno != EEXIST))
		bad = 1;
	if (listener && (mkdir(conf_dir, 0755) != 0 && errno != EEXIST))
		bad = 1;
	if (bad)
		fprintf(stderr, "venuegw pair import: cannot create %s: %s\n", tls_dir, strerror(errno));
	for (size_t i = 0; !bad && i < nd; i++) {
		const struct part *p = part(&b, d[i].part);
		if (!p)
			continue;
		if (vg_file_write(d[i].path, p->data, p->len, d[i].mode, d[i].secret ? uid : (uid_t)-1,
		                  d[i].secret ? gid : (gid_t)-1, 1, err, sizeof err) != VG_OK) {
			fprintf(stderr, "venuegw pair import: %s\n", err);
			bad = 1;
			break;
		}
		printf("wrote %s (mode %04o)\n", d[i].path, (unsigned)d[i].mode);
	}
	if (!bad && key_pem[0]) {
		char kp[PATH_MAX], cp[PATH_MAX];
		snprintf(kp, sizeof kp, "%s/tls/server.key", dir);
		snprintf(cp, sizeof cp, "%s/tls/server.crt", dir);
		bad = vg_file_write(kp, key_pem, strlen(key_pem), 0640, uid, gid, 1, err, sizeof err) != VG_OK ||
		      vg_file_write(cp, crt_pem, strlen(crt_pem), 0644, (uid_t)-1, (gid_t)-1, 1, err, sizeof err) != VG_OK ||
		      (listener && vg_file_write(tls_conf, listener, strlen(listener), 0644, (uid_t)-1, (gid_t)-1, 1, err,
		                                 sizeof err) != VG_OK);
		if (bad)
			fprintf(stderr, "venuegw pair import: %s\n", err);
		else
			printf("wrote %s and %s: this gateway's server certificate from the shared LAN CA\n", kp, cp);
	}
	if (!bad) {
		bad = vg_file_write(config_path, text, strlen(text), 0640, uid, gid, 1, err, sizeof err) != VG_OK;
		if (bad)
			fprintf(stderr, "venuegw pair import: %s\n", err);
		else
			printf("wrote %s: venue %s, gateway %s (the first is %s)\n", config_path, cfg.venue_id, o.gateway_id,
			       first);
	}
	if (!bad && dropped)
		printf("left out %d serial/HID port section%s: a port is wired to one gateway\n", dropped,
		       dropped == 1 ? "" : "s");
	if (!bad)
		printf("Next: venuegw check-config, then systemctl restart venuegw-broker venuegw; list both gateways'"
		       " brokers in the devices (README: \"Two gateways for one venue\").\n");
	free(text);
	free(listener);
	bundle_free(&b);
	mbedtls_platform_zeroize(key_pem, sizeof key_pem);
	return bad ? VG_EXIT_FAIL : VG_EXIT_OK;
}

int vg_cmd_pair(struct vg_config *unused, const char *config_path, int argc, char **argv)
{
	(void)unused; /* import writes the configuration; export loads it itself */
	if (argc < 1)
		return vg_cli_usage_error("pair", "export or import?");
	if (strcmp(argv[0], "export") == 0) {
		struct vg_config cfg;
		char err[600];
		if (vg_config_load(&cfg, config_path, err, sizeof err) != VG_OK) {
			fprintf(stderr, "venuegw pair export: %s\n", err);
			return VG_EXIT_USAGE;
		}
		return cmd_export(&cfg, config_path, argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "import") == 0)
		return cmd_import(config_path, argc, argv);
	return vg_cli_usage_error("pair", "'%s': export or import?", argv[0]);
}
