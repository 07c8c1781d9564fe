/* venuegw device add|remove|disable|enable|list: our broker's devices
 * (DESIGN.md §2: a device's MQTT user name is its device id). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/platform_util.h>

#include "config.h"
#include "cli.h"
#include "err.h"
#include "passwd.h"
#include "pki.h"
#include "store_admin.h"

const char vg_help_device[] =
	"Usage: venuegw [--config FILE] device add NAME [--cert] [--password-stdin]\n"
	"       venuegw [--config FILE] device remove NAME\n"
	"       venuegw [--config FILE] device disable NAME\n"
	"       venuegw [--config FILE] device enable NAME\n"
	"       venuegw [--config FILE] device list [--json]\n"
	"\n"
	"The devices that may publish to venuegw's broker.  A device's MQTT user name\n"
	"is its device id NAME (1-64 of A-Z a-z 0-9 . _ -); it may publish only to\n"
	"venue/v1/NAME/events (events on another device's topic are quarantined).\n"
	"\n"
	"  add NAME           add a password-file entry ([broker] passwd_file) with a\n"
	"                     random password, printed once (PBKDF2-SHA512, as\n"
	"                     mosquitto_passwd writes it)\n"
	"    --password-stdin read the password from standard input's first line instead\n"
	"    --cert           also issue a client certificate and key signed by the LAN\n"
	"                     CA (venuegw provision --lan-tls) into\n"
	"                     [broker] tls_dir/devices/NAME.crt and NAME.key\n"
	"  remove NAME        remove the device's entry and its certificate files\n"
	"  disable NAME       the device can no longer connect; its entry is kept in\n"
	"                     <passwd_file>.disabled\n"
	"  enable NAME        undo disable\n"
	"  list [--json]      every device: state, certificate, last seen and last seq\n"
	"                     (from buffer.db, when it exists)\n"
	"\n"
	"After a change the broker is told to reload (SIGHUP to the pid in [broker]\n"
	"pid_file); when it does not run, the change applies at its next start.\n"
	"\n"
	"Exit status: 0 done; 1 the change could not be made: unknown device, a device\n"
	"that exists already, no LAN CA, a file that cannot be read or written, or a\n"
	"broker that could not be signalled; 2 bad command line or configuration.\n";

struct devfiles {
	int lock_fd;                 /* <passwd_file>.lock, held while changing: -1 for list */
	char disabled_path[300];
	struct vg_pwfile on, off;    /* passwd_file, and <passwd_file>.disabled */
};

/* Load both lists.  With lock, first take <passwd_file>.lock (flock), so two
 * concurrent changes do not lose one another's entries; unload releases it. */
static int load(const struct vg_config *cfg, struct devfiles *d, int lock)
{
	char err[600];
	d->lock_fd = -1;
	snprintf(d->disabled_path, sizeof d->disabled_path, "%s.disabled", cfg->broker_passwd_file);
	int rc = vg_pwfile_load(&d->on, cfg->broker_passwd_file, 0, err, sizeof err);
	if (rc != VG_OK) {
		fprintf(stderr, "venuegw device: %s%s\n", err,
		        rc == VG_ERR_NOTFOUND ? " (was the gateway provisioned? venuegw provision --help)" : "");
		return -1;
	}
	vg_pwfile_free(&d->on);
	if (lock && (d->lock_fd = vg_pwfile_lock(cfg->broker_passwd_file, err, sizeof err)) < 0) {
		fprintf(stderr, "venuegw device: %s\n", err);
		return -1;
	}
	/* Read (again) under the lock. */
	if (vg_pwfile_load(&d->on, cfg->broker_passwd_file, 0, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw device: %s\n", err);
		goto fail;
	}
	if (vg_pwfile_load(&d->off, d->disabled_path, 1, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw device: %s\n", err);
		vg_pwfile_free(&d->on);
		goto fail;
	}
	return 0;
fail:
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
	return -1;
}

static void unload(struct devfiles *d)
{
	vg_pwfile_free(&d->on);
	vg_pwfile_free(&d->off);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
}

static int save(const struct vg_config *cfg, struct devfiles *d, int on, int off)
{
	char err[600];
	if (on && vg_pwfile_save(&d->on, cfg->broker_passwd_file, 0640, NULL, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw device: %s\n", err);
		return -1;
	}
	/* The disabled list gets the passwd file's mode and owner. */
	if (off) {
		if (!d->off.existed) {
			d->off.existed = 1;
			d->off.mode = d->on.existed ? d->on.mode : 0640;
			d->off.uid = d->on.uid;
			d->off.gid = d->on.gid;
			if (geteuid() != 0 && d->off.uid != geteuid())
				d->off.uid = (uid_t)-1;
		}
		if (vg_pwfile_save(&d->off, d->disabled_path, 0640, NULL, err, sizeof err) != VG_OK) {
			fprintf(stderr, "venuegw device: %s\n", err);
			return -1;
		}
	}
	return 0;
}

/* SIGHUP to our broker: 0 sent, 1 not running, -1 could not (message printed). */
static int reload_broker(const struct vg_config *cfg)
{
	FILE *fp = fopen(cfg->broker_pid_file, "re");
	long pid = 0;
	if (fp) {
		if (fscanf(fp, "%ld", &pid) != 1)
			pid = 0;
		fclose(fp);
	}
	if (pid > 1) {
		/* A stale pid file may name another process now: check it is mosquitto. */
		char comm_path[64], comm[64] = "";
		snprintf(comm_path, sizeof comm_path, "/proc/%ld/comm", pid);
		FILE *cf = fopen(comm_path, "re");
		if (cf) {
			if (!fgets(comm, sizeof comm, cf))
				comm[0] = '\0';
			fclose(cf);
		}
		if (strncmp(comm, "mosquitto", 9) == 0) {
			if (kill((pid_t)pid, SIGHUP) == 0) {
				printf("broker reloaded (SIGHUP to pid %ld)\n", pid);
				return 0;
			}
			fprintf(stderr, "venuegw device: the change is saved, but the broker (pid %ld from %s) could not "
			        "be told to reload: %s; reload or restart it\n", pid, cfg->broker_pid_file, strerror(errno));
			return -1;
		}
	}
	printf("the broker is not running (no live pid in %s): the change applies at its next start\n",
	       cfg->broker_pid_file);
	return 1;
}

static int finish(const struct vg_config *cfg)
{
	return reload_broker(cfg) < 0 ? VG_EXIT_FAIL : VG_EXIT_OK;
}

static void cert_paths(const struct vg_config *cfg, const char *name, char *crt, char *key, size_t sz)
{
	snprintf(crt, sz, "%s/devices/%s.crt", cfg->broker_tls_dir, name);
	snprintf(key, sz, "%s/devices/%s.key", cfg->broker_tls_dir, name);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "re");
	if (!fp)
		return NULL;
	char *buf = calloc(1, VG_PKI_PEM_MAX);
	size_t n = buf ? fread(buf, 1, VG_PKI_PEM_MAX - 1, fp) : 0;
	int bad = !buf || ferror(fp) || !feof(fp);
	int e = errno;
	fclose(fp);
	if (bad) {
		if (buf)
			mbedtls_platform_zeroize(buf, VG_PKI_PEM_MAX);
		free(buf);
		errno = buf && !e ? EFBIG : e;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Issue NAME's client certificate; 0 or -1 (message printed). */
static int issue_cert(const struct vg_config *cfg, const char *name)
{
	char ca_key_path[300], ca_crt_path[300], crt_path[400], key_path[400], err[700];
	char *ca_key = NULL, *ca_crt = NULL, *key = NULL, *crt = NULL;
	int ret = -1;
	snprintf(ca_key_path, sizeof ca_key_path, "%s/ca.key", cfg->broker_tls_dir);
	snprintf(ca_crt_path, sizeof ca_crt_path, "%s/ca.crt", cfg->broker_tls_dir);
	cert_paths(cfg, name, crt_path, key_path, sizeof crt_path);
	ca_key = slurp(ca_key_path);
	if (!ca_key) {
		fprintf(stderr, "venuegw device: cannot read the LAN CA key %s: %s%s\n", ca_key_path, strerror(errno),
		        errno == ENOENT ? " (provision with --lan-tls first)" : "");
		goto out;
	}
	ca_crt = slurp(ca_crt_path);
	if (!ca_crt) {
		fprintf(stderr, "venuegw device: cannot read the LAN CA certificate %s: %s\n", ca_crt_path,
		        strerror(errno));
		goto out;
	}
	key = malloc(VG_PKI_PEM_MAX);
	crt = malloc(VG_PKI_PEM_MAX);
	if (!key || !crt) {
		fprintf(stderr, "venuegw device: out of memory\n");
		goto out;
	}
	if (vg_pki_issue(ca_key, ca_crt, VG_PKI_CLIENT, name, NULL, 0, VG_PKI_CLIENT_DAYS, key, crt, err,
	                 sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw device: %s\n", err);
		goto out;
	}
	char dir[320];
	snprintf(dir, sizeof dir, "%s/devices", cfg->broker_tls_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "venuegw device: cannot create %s: %s\n", dir, strerror(errno));
		goto out;
	}
	if (vg_file_write(key_path, key, strlen(key), 0600, (uid_t)-1, (gid_t)-1, 0, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw device: %s\n", err);
		goto out;
	}
	if (vg_file_write(crt_path, crt, strlen(crt), 0644, (uid_t)-1, (gid_t)-1, 0, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw device: %s\n", err);
		unlink(key_path);
		goto out;
	}
	ret = 0;
out:
	for (int i = 0; i < 4; i++) {
		char *b = i == 0 ? ca_key : i == 1 ? ca_crt : i == 2 ? key : crt;
		if (b) {
			mbedtls_platform_zeroize(b, VG_PKI_PEM_MAX);
			free(b);
		}
	}
	return ret;
}

static int cmd_add(const struct vg_config *cfg, const char *name, int cert, int pw_stdin)
{
	struct devfiles d;
	char pw[256], entry[VG_PASSWD_LINE_MAX];
	int rc = VG_EXIT_FAIL, err;
	if (pw_stdin) {
		if (!fgets(pw, sizeof pw, stdin)) {
			return vg_cli_usage_error("device", "--password-stdin: no password on standard input");
		}
		size_t n = strlen(pw);
		while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
			pw[--n] = '\0';
		if (n == 0 || n >= sizeof pw - 1) {
			mbedtls_platform_zeroize(pw, sizeof pw);
			return vg_cli_usage_error("device", "--password-stdin: the password must be 1-254 characters on one line");
		}
	} else if ((err = vg_passwd_generate(pw, sizeof pw)) != VG_OK) {
		fprintf(stderr, "venuegw device: cannot generate a password: %s\n", vg_strerror(err));
		return VG_EXIT_FAIL;
	}
	if (load(cfg, &d, 1) != 0) {
		mbedtls_platform_zeroize(pw, sizeof pw);
		return VG_EXIT_FAIL;
	}
	if (vg_pwfile_find(&d.on, name) >= 0 || vg_pwfile_find(&d.off, name) >= 0) {
		fprintf(stderr, "venuegw device: device '%s' exists already%s (venuegw device list)\n", name,
		        vg_pwfile_find(&d.off, name) >= 0 ? " and is disabled" : "");
		goto out;
	}
	if ((err = vg_passwd_entry(name, pw, entry, sizeof entry)) != VG_OK ||
	    (err = vg_pwfile_append(&d.on, entry)) != VG_OK) {
		fprintf(stderr, "venuegw device: cannot make the password entry: %s\n", vg_strerror(err));
		goto out;
	}
	char crt_path[400], key_path[400];
	cert_paths(cfg, name, crt_path, key_path, sizeof crt_path);
	if (cert) {
		if (access(crt_path, F_OK) == 0 || access(key_path, F_OK) == 0) {
			fprintf(stderr, "venuegw device: %s or its key exists already; remove them first\n", crt_path);
			goto out;
		}
		if (issue_cert(cfg, name) != 0)
			goto out;
	}
	if (save(cfg, &d, 1, 0) != 0) {
		if (cert) {
			unlink(crt_path);
			unlink(key_path);
		}
		goto out;
	}
	printf("device %s added to %s\n", name, cfg->broker_passwd_file);
	if (!pw_stdin)
		printf("password: %s\n(shown once: configure it in the device now)\n", pw);
	if (cert)
		printf("certificate: %s\nkey: %s (mode 0600)\nCA: %s/ca.crt\n", crt_path, key_path, cfg->broker_tls_dir);
	rc = finish(cfg);
out:
	mbedtls_platform_zeroize(pw, sizeof pw);
	mbedtls_platform_zeroize(entry, sizeof entry);
	unload(&d);
	return rc;
}

static int cmd_remove(const struct vg_config *cfg, const char *name)
{
	struct devfiles d;
	if (load(cfg, &d, 1) != 0)
		return VG_EXIT_FAIL;
	int rc = VG_EXIT_FAIL;
	int i = vg_pwfile_find(&d.on, name), j = vg_pwfile_find(&d.off, name);
	if (i < 0 && j < 0) {
		fprintf(stderr, "venuegw device: no device '%s' (venuegw device list)\n", name);
		goto out;
	}
	if (i >= 0)
		vg_pwfile_remove(&d.on, i);
	if (j >= 0)
		vg_pwfile_remove(&d.off, j);
	if (save(cfg, &d, i >= 0, j >= 0) != 0)
		goto out;
	printf("device %s removed from %s\n", name, i >= 0 ? cfg->broker_passwd_file : d.disabled_path);
	char crt_path[400], key_path[400];
	cert_paths(cfg, name, crt_path, key_path, sizeof crt_path);
	if (unlink(crt_path) == 0)
		printf("removed %s\n", crt_path);
	if (unlink(key_path) == 0)
		printf("removed %s\n", key_path);
	rc = finish(cfg);
out:
	unload(&d);
	return rc;
}

/* enable = 0: passwd -> disabled; 1: back. */
static int cmd_move(const struct vg_config *cfg, const char *name, int enable)
{
	struct devfiles d;
	if (load(cfg, &d, 1) != 0)
		return VG_EXIT_FAIL;
	int rc = VG_EXIT_FAIL;
	struct vg_pwfile *from = enable ? &d.off : &d.on, *to = enable ? &d.on : &d.off;
	int i = vg_pwfile_find(from, name);
	if (i < 0) {
		if (vg_pwfile_find(to, name) >= 0) {
			printf("device %s is %s already\n", name, enable ? "enabled" : "disabled");
			rc = VG_EXIT_OK;
		} else {
			fprintf(stderr, "venuegw device: no device '%s' (venuegw device list)\n", name);
		}
		goto out;
	}
	if (vg_pwfile_append(to, from->lines[i]) != VG_OK) {
		fprintf(stderr, "venuegw device: out of memory\n");
		goto out;
	}
	vg_pwfile_remove(from, i);
	/* Save the list gaining the entry first: a failure in between leaves the
	 * device in both lists (enabled), never in none. */
	if (enable ? save(cfg, &d, 1, 0) || save(cfg, &d, 0, 1) : save(cfg, &d, 0, 1) || save(cfg, &d, 1, 0))
		goto out;
	printf("device %s %s\n", name, enable ? "enabled" : "disabled: it can no longer connect");
	rc = finish(cfg);
out:
	unload(&d);
	return rc;
}

struct devrow {
	char name[65];
	int enabled, cert;
	long long last_seen_ms, last_seq;   /* -1: unknown */
};

struct devrows {
	struct devrow *rows;
	int n;
};

/* VG_STORE_GROUP_DEVICES: device, last_seq ("" none), …, last seen (t1). */
static int device_state_row(void *ud, const struct vg_store_group_row *r)
{
	struct devrows *dr = ud;
	for (int i = 0; i < dr->n; i++) {
		if (strcmp(dr->rows[i].name, r->device.device_id) != 0)
			continue;
		if (r->device.last_seen_ms > 0)
			dr->rows[i].last_seen_ms = r->device.last_seen_ms;
		if (r->device.has_last_seq)
			dr->rows[i].last_seq = r->device.last_seq;
	}
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct devrow *)a)->name, ((const struct devrow *)b)->name);
}

static void fmt_ms(long long ms, char *out, size_t outsz)
{
	if (ms < 0) {
		snprintf(out, outsz, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static int cmd_list(const struct vg_config *cfg, int json)
{
	struct devfiles d;
	if (load(cfg, &d, 0) != 0)
		return VG_EXIT_FAIL;
	int n = 0, cap = d.on.n + d.off.n;
	struct devrow *rows = calloc((size_t)cap + 1, sizeof *rows);
	if (!rows) {
		unload(&d);
		fprintf(stderr, "venuegw device: out of memory\n");
		return VG_EXIT_FAIL;
	}
	for (int pass = 0; pass < 2; pass++) {
		struct vg_pwfile *f = pass == 0 ? &d.on : &d.off;
		for (int i = 0; i < f->n; i++) {
			struct devrow *r = &rows[n];
			if (vg_pwfile_user(f->lines[i], r->name, sizeof r->name) != VG_OK ||
			    strcmp(r->name, cfg->mqtt_username) == 0)
				continue;
			r->enabled = pass == 0;
			char crt[400], key[400];
			cert_paths(cfg, r->name, crt, key, sizeof crt);
			r->cert = access(crt, F_OK) == 0;
			r->last_seen_ms = r->last_seq = -1;
			n++;
		}
	}
	unload(&d);
	qsort(rows, (size_t)n, sizeof *rows, row_cmp);

	/* Last seen and seq from buffer.db's device_state, when it exists. */
	char db[VG_CONFIG_DB_PATH_MAX];
	struct vg_store *st = vg_config_db_path(cfg, db, sizeof db) == VG_OK && access(db, F_OK) == 0 ? vg_cli_open_store(cfg, VG_CLI_BUSY_MS, NULL, 0) : NULL;
	if (st) {
		struct devrows dr = { rows, n };
		int rc = vg_store_group_counts(st, VG_STORE_GROUP_DEVICES, device_state_row, &dr);
		if (rc != VG_OK)
			fprintf(stderr, "venuegw device: %s: cannot read device_state: %s\n", db, vg_strerror(rc));
		vg_store_close(st);
	}

	if (json) {
		cJSON *arr = cJSON_CreateArray();
		for (int i = 0; arr && i < n; i++) {
			cJSON *o = cJSON_CreateObject();
			char ts[32];
			cJSON_AddStringToObject(o, "name", rows[i].name);
			cJSON_AddStringToObject(o, "state", rows[i].enabled ? "enabled" : "disabled");
			cJSON_AddBoolToObject(o, "cert", rows[i].cert);
			fmt_ms(rows[i].last_seen_ms, ts, sizeof ts);
			if (rows[i].last_seen_ms >= 0)
				cJSON_AddStringToObject(o, "last_seen", ts);
			else
				cJSON_AddNullToObject(o, "last_seen");
			if (rows[i].last_seq >= 0)
				cJSON_AddNumberToObject(o, "last_seq", (double)rows[i].last_seq);
			else
				cJSON_AddNullToObject(o, "last_seq");
			cJSON_AddItemToArray(arr, o);
		}
		char *s = arr ? cJSON_Print(arr) : NULL;
		if (s)
			printf("%s\n", s);
		free(s);
		cJSON_Delete(arr);
		free(rows);
		return s ? VG_EXIT_OK : VG_EXIT_FAIL;
	}
	printf("%-24s %-9s %-5s %-21s %s\n", "DEVICE", "STATE", "CERT", "LAST SEEN", "LAST SEQ");
	for (int i = 0; i < n; i++) {
		char ts[32], seq[32];
		fmt_ms(rows[i].last_seen_ms, ts, sizeof ts);
		if (rows[i].last_seq >= 0)
			snprintf(seq, sizeof seq, "%lld", rows[i].last_seq);
		else
			snprintf(seq, sizeof seq, "-");
		printf("%-24s %-9s %-5s %-21s %s\n", rows[i].name, rows[i].enabled ? "enabled" : "disabled",
		       rows[i].cert ? "yes" : "no", ts, seq);
	}
	if (n == 0)
		printf("(no devices: venuegw device add NAME)\n");
	free(rows);
	return VG_EXIT_OK;
}

int vg_cmd_device(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(vg_help_device, stdout);
			return VG_EXIT_OK;
		}
	}
	if (argc == 0)
		return vg_cli_usage_error("device", "no action given (add, remove, disable, enable, list)");
	const char *action = argv[0];
	if (strcmp(action, "help") == 0) {
		fputs(vg_help_device, stdout);
		return VG_EXIT_OK;
	}
	if (!cfg)
		return vg_cli_usage_error("device", "%s", "no configuration");
	if (strcmp(action, "list") == 0) {
		int json = 0;
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0)
				json = 1;
			else
				return vg_cli_usage_error("device", "list: unknown argument '%s'", argv[i]);
		}
		return cmd_list(cfg, json);
	}
	int add = strcmp(action, "add") == 0;
	if (!add && strcmp(action, "remove") != 0 && strcmp(action, "disable") != 0 && strcmp(action, "enable") != 0)
		return vg_cli_usage_error("device", "unknown action '%s' (add, remove, disable, enable, list)", action);
	const char *name = NULL;
	int cert = 0, pw_stdin = 0;
	for (int i = 1; i < argc; i++) {
		if (add && strcmp(argv[i], "--cert") == 0) {
			cert = 1;
		} else if (add && strcmp(argv[i], "--password-stdin") == 0) {
			pw_stdin = 1;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return vg_cli_usage_error("device", "%s: unknown option '%s'", action, argv[i]);
		} else if (!name) {
			name = argv[i];
		} else {
			return vg_cli_usage_error("device", "one device name at a time; unexpected '%s'", argv[i]);
		}
	}
	if (!name)
		return vg_cli_usage_error("device", "%s: which device? give its NAME", action);
	if (!vg_config_valid_id(name))
		return vg_cli_usage_error("device", "'%s' is not a device name: 1-64 of A-Z a-z 0-9 . _ -", name);
	if (strcmp(name, cfg->mqtt_username) == 0 || name[0] == '_')
		return vg_cli_usage_error("device", "'%s' is reserved for the gateway itself", name);
	if (add)
		return cmd_add(cfg, name, cert, pw_stdin);
	if (strcmp(action, "remove") == 0)
		return cmd_remove(cfg, name);
	return cmd_move(cfg, name, strcmp(action, "enable") == 0);
}
