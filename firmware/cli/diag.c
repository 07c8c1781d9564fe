/* venuegw diag: a support bundle, redacted (DESIGN.md §9).
 *
 * One .tar.gz (ustar and gzip, written with libarchive) holding:
 *   README.txt    what each part is and what was left out
 *   config.txt    the configuration file's text: comments removed, values of
 *                 password/secret-like keys replaced, *_file keys keep their
 *                 paths (never the files' contents)
 *   files.txt     the files and directories the configuration names: exists,
 *                 type, mode, owner, size — never their contents
 *   status.json   `venuegw status --json` (run as a child)
 *   journal.txt   the last 2000 lines of the venuegw and venuegw-broker units,
 *                 or why there is no journal
 *   buffer.txt    buffer.db: counts by state, device, type and reason; batches;
 *                 device_state; file, WAL and page sizes; quick_check
 *   versions.txt  venuegw and its libraries, the broker
 *   system.txt    uname, clock, disk space of data_dir
 * No event bodies, tokens, digests of people or identifiers of people: the
 * counts are by device, type, state and reason only, and every part passes a
 * last filter (core/redact.h) that replaces anything shaped like a token, an
 * email address, a phone number in international form or a card number. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mbedtls/version.h>
#include <mosquitto.h>
#include <zlib.h>

#include "cli.h"
#include "buf.h"
#include "clock.h"
#include "err.h"
#include "event.h"
#include "ingest.h"
#include "redact.h"
#include "store_admin.h"

#define JOURNAL_LINES "2000"
#define CHILD_TIMEOUT_MS 60000
#define PART_MAX (16u << 20)   /* a part is cut at 16 MiB */

/* ---- the bundle: ustar + gzip through libarchive ---------------------------------- */

struct bundle {
	struct archive *a;
	char dir[200];
	int64_t mtime;
	int err;
	size_t parts;
};

/* dir/name: a regular file, 0644, root:root, the bundle's time. */
static void bundle_add(struct bundle *t, const char *name, const char *data, size_t n)
{
	if (t->err)
		return;
	char path[320];
	snprintf(path, sizeof path, "%s/%s", t->dir, name);
	struct archive_entry *e = archive_entry_new();
	if (!e) {
		t->err = 1;
		return;
	}
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_mtime(e, (time_t)t->mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_uname(e, "root");
	archive_entry_set_gname(e, "root");
	if (archive_write_header(t->a, e) != ARCHIVE_OK || (n && archive_write_data(t->a, data, n) != (la_ssize_t)n))
		t->err = 1;
	archive_entry_free(e);
	t->parts++;
}

/* The last filter (redact.h: nothing shaped like personal data leaves), then
 * add.  A part that cannot be filtered is left out, and says so. */
static void add_part(struct bundle *t, const char *name, struct vg_buf *b)
{
	const char *text = b->p ? b->p : "";
	size_t n = vg_redact(text, b->len, NULL, 0);
	/* Cut at PART_MAX (VG_ERR_RANGE): what fits goes out; out of memory: none. */
	char *clean = b->err == VG_ERR_NOMEM ? NULL : malloc(n + 1);
	if (!clean) {
		struct vg_buf e = VG_BUF_INIT(PART_MAX);
		vg_buf_addf(&e, "(%s left out: out of memory while writing it)\n", name);
		bundle_add(t, name, e.p ? e.p : "", e.len);
		vg_buf_free(&e);
	} else {
		vg_redact(text, b->len, clean, n + 1);
		bundle_add(t, name, clean, n);
	}
	free(clean);
	vg_buf_free(b);
}

/* ---- children ----------------------------------------------------------------- */

/* Run argv with stdin from /dev/null; collect stdout into out and stderr into
 * errb (each cut at PART_MAX).  Returns the exit status, 127 when it could not
 * be started, or -1 when it was killed (a timeout). */
static int run_capture(char *const argv[], struct vg_buf *out, struct vg_buf *errb)
{
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) != 0)
		return 127;
	if (pipe2(pe, O_CLOEXEC) != 0) {
		close(po[0]);
		close(po[1]);
		return 127;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
		return 127;
	}
	if (pid == 0) {
		int dn = open("/dev/null", O_RDONLY);
		if (dn >= 0)
			dup2(dn, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct pollfd fds[2] = { { .fd = po[0], .events = POLLIN }, { .fd = pe[0], .events = POLLIN } };
	int64_t t0 = vg_now_ms();
	int open_fds = 2, killed = 0;
	while (open_fds) {
		long el = (long)(vg_now_ms() - t0);
		if (el >= CHILD_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			killed = 1;
			break;
		}
		int r = poll(fds, 2, (int)(CHILD_TIMEOUT_MS - el));
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char chunk[8192];
			ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
			if (n > 0) {
				vg_buf_add(i ? errb : out, chunk, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (killed || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ---- the parts ----------------------------------------------------------------- */

/* Keys whose values are secrets (never in the bundle). */
static int secret_key(const char *k)
{
	size_t n = strlen(k);
	if (n > 5 && strcmp(k + n - 5, "_file") == 0)
		return 0; /* a path: kept (files.txt says how it is protected) */
	static const char *const words[] = { "password", "passwd", "secret", "token", "credential", "write_key",
	                                     "api_key", "apikey", "auth" };
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strstr(k, words[i]))
			return 1;
	return 0;
}

static void part_config(const struct vg_config *cfg, struct vg_buf *b)
{
	vg_buf_addf(b, "# %s, as read by venuegw diag: comments removed, values of password and secret\n"
	           "# keys replaced by <redacted>, user:password in URLs replaced; *_file keys keep\n"
	           "# their paths (their contents are never included: see files.txt).\n", cfg->path);
	FILE *f = fopen(cfg->path, "r");
	if (!f) {
		vg_buf_addf(b, "# cannot read %s: %s\n", cfg->path, strerror(errno));
		return;
	}
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		const char *s = line + strspn(line, " \t");
		if (!*s) {
			vg_buf_addf(b, "\n");
			continue;
		}
		if (*s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			vg_buf_addf(b, "%s\n", s);
			continue;
		}
		const char *eq = strchr(s, '=');
		if (!eq) {
			vg_buf_addf(b, "<a line that is not key = value: left out>\n");
			continue;
		}
		char key[128];
		size_t kn = (size_t)(eq - s);
		while (kn && (s[kn - 1] == ' ' || s[kn - 1] == '\t'))
			kn--;
		snprintf(key, sizeof key, "%.*s", (int)kn, s);
		for (char *k = key; *k; k++)
			if (*k >= 'A' && *k <= 'Z')
				*k = (char)(*k - 'A' + 'a');
		const char *v = eq + 1 + strspn(eq + 1, " \t");
		if (secret_key(key)) {
			vg_buf_addf(b, "%s = <redacted>\n", key);
			continue;
		}
		/* scheme://user:password@host → scheme://<redacted>@host */
		const char *sch = strstr(v, "://");
		const char *at = sch ? strchr(sch + 3, '@') : NULL;
		const char *slash = sch ? strchr(sch + 3, '/') : NULL;
		if (at && (!slash || at < slash))
			vg_buf_addf(b, "%s = %.*s<redacted>%s\n", key, (int)(sch + 3 - v), v, at);
		else
			vg_buf_addf(b, "%s = %s\n", key, v);
	}
	fclose(f);
}

static void describe_file(struct vg_buf *b, const char *label, const char *path, int secret)
{
	if (!path || !*path) {
		vg_buf_addf(b, "%-22s (not set)\n", label);
		return;
	}
	struct stat st;
	if (lstat(path, &st) != 0) {
		vg_buf_addf(b, "%-22s %s: %s\n", label, path, errno == ENOENT ? "does not exist" : strerror(errno));
		return;
	}
	const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" :
	                   S_ISLNK(st.st_mode) ? "symlink" : S_ISCHR(st.st_mode) ? "character device" :
	                   S_ISSOCK(st.st_mode) ? "socket" : "other";
	struct passwd *pw = getpwuid(st.st_uid);
	char owner[64], group[64];
	snprintf(owner, sizeof owner, "%s(%u)", pw ? pw->pw_name : "?", (unsigned)st.st_uid);
	struct group *gr = getgrgid(st.st_gid);
	snprintf(group, sizeof group, "%s(%u)", gr ? gr->gr_name : "?", (unsigned)st.st_gid);
	vg_buf_addf(b, "%-22s %s: %s, mode %04o, owner %s, group %s", label, path, type,
	        (unsigned)(st.st_mode & 07777), owner, group);
	if (S_ISREG(st.st_mode))
		vg_buf_addf(b, ", %lld bytes", (long long)st.st_size);
	if (S_ISLNK(st.st_mode)) {
		char t[512];
		ssize_t n = readlink(path, t, sizeof t - 1);
		if (n >= 0) {
			t[n] = '\0';
			vg_buf_addf(b, " -> %s", t);
		}
	}
	if (secret && S_ISREG(st.st_mode) && (st.st_mode & 0004))
		vg_buf_addf(b, "  WARNING: a secret readable by every user (chmod o-r)");
	if (secret && S_ISREG(st.st_mode) && access(path, R_OK) != 0)
		vg_buf_addf(b, "  (not readable by this user)");
	vg_buf_addf(b, "\n");
}

static void part_files(const struct vg_config *cfg, struct vg_buf *b)
{
	char db[VG_CONFIG_DB_PATH_MAX], p[VG_CONFIG_DB_PATH_MAX + 8];
	if (vg_config_db_path(cfg, db, sizeof db) != VG_OK)
		snprintf(db, sizeof db, "(data_dir too long)");
	vg_buf_addf(b, "# Files and directories the configuration names: never their contents.\n");
	describe_file(b, "config", cfg->path, 0);
	describe_file(b, "[cdp] write_key_file", cfg->write_key_file, 1);
	describe_file(b, "[cdp] ca_file", cfg->ca_file, 0);
	describe_file(b, "[cdp] client_cert", cfg->client_cert, 0);
	describe_file(b, "[cdp] client_key", cfg->client_key, 1);
	describe_file(b, "[tokens] key_file", cfg->key_file, 1);
	describe_file(b, "[mqtt] password_file", cfg->mqtt_password_file, 1);
	describe_file(b, "[metrics] password_file", cfg->metrics_password_file, 1);
	describe_file(b, "[broker] passwd_file", cfg->broker_passwd_file, 1);
	describe_file(b, "[broker] acl_file", cfg->broker_acl_file, 0);
	describe_file(b, "[broker] conf_dir", cfg->broker_conf_dir, 0);
	describe_file(b, "[broker] tls_dir", cfg->broker_tls_dir, 0);
	describe_file(b, "[broker] pid_file", cfg->broker_pid_file, 0);
	describe_file(b, "data_dir", cfg->data_dir, 0);
	describe_file(b, "buffer.db", db, 0);
	snprintf(p, sizeof p, "%s-wal", db);
	describe_file(b, "buffer.db-wal", p, 0);
	snprintf(p, sizeof p, "%s-shm", db);
	describe_file(b, "buffer.db-shm", p, 0);
	snprintf(p, sizeof p, "%s/status.json", cfg->data_dir);
	describe_file(b, "status.json", p, 0);
	for (int i = 0; i < cfg->nports; i++) {
		char label[48];
		snprintf(label, sizeof label, "[%s.%s] device", cfg->ports[i].hid ? "hid" : "serial", cfg->ports[i].name);
		describe_file(b, label, cfg->ports[i].device, 0);
	}
}

static void part_status(const struct vg_config *cfg, struct vg_buf *b, struct vg_buf *note)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		vg_buf_addf(note, "status.json: cannot find the venuegw binary (/proc/self/exe): %s\n", strerror(errno));
		vg_buf_addf(b, "null\n");
		return;
	}
	self[n] = '\0';
	char *argv[] = { self, "--config", (char *)cfg->path, "status", "--json", NULL };
	struct vg_buf err = VG_BUF_INIT(PART_MAX);
	int rc = run_capture(argv, b, &err);
	if (rc != 0) {
		vg_buf_addf(note, "status.json: venuegw status --json exited with %d: %.*s\n", rc,
		        (int)(err.len > 600 ? 600 : err.len), err.p ? err.p : "");
		if (!b->len)
			vg_buf_addf(b, "null\n");
	}
	vg_buf_free(&err);
}

static void part_journal(struct vg_buf *b)
{
	char *argv[] = { "journalctl", "-u", "venuegw", "-u", "venuegw-broker", "-n", JOURNAL_LINES,
	                 "--no-pager", "-o", "short-iso", NULL };
	struct vg_buf out = VG_BUF_INIT(PART_MAX), err = VG_BUF_INIT(PART_MAX);
	int rc = run_capture(argv, &out, &err);
	vg_buf_addf(b, "# journalctl -u venuegw -u venuegw-broker -n " JOURNAL_LINES " --no-pager -o short-iso\n");
	if (rc == 127) {
		vg_buf_addf(b, "no journal: journalctl is not installed or could not be started\n");
	} else {
		if (rc != 0)
			vg_buf_addf(b, "no journal: journalctl exited with %d\n", rc);
		else if (err.len && strstr(err.p, "No journal files"))
			vg_buf_addf(b, "no journal: journalctl found no journal files (not running under systemd?)\n");
		if (err.len) {
			vg_buf_addf(b, "# journalctl said on stderr:\n");
			vg_buf_add(b, err.p, err.len);
		}
		vg_buf_add(b, out.p ? out.p : "", out.len);
	}
	vg_buf_free(&out);
	vg_buf_free(&err);
}

static void fmt_time(int64_t ms, char out[25])
{
	if (ms <= 0)
		snprintf(out, 25, "-");
	else
		vg_time_format(ms, out);
}

static void group_text(struct vg_buf *b, const char *a, const char *bb, const char *c, long long n, int64_t t1,
                       int64_t t2)
{
	char x[25], y[25];
	fmt_time(t1, x);
	fmt_time(t2, y);
	vg_buf_addf(b, "  %-20s %-22s %-12s %10lld  %s  %s\n", a, bb, c, n, x, y);
}

static int group_line(void *ud, const struct vg_store_group_row *r)
{
	if (r->group == VG_STORE_GROUP_EVENTS)
		group_text(ud, r->events.device_id, r->events.type, r->events.state, r->events.count,
		           r->events.oldest_ms, r->events.newest_ms);
	else if (r->group == VG_STORE_GROUP_QUARANTINE)
		group_text(ud, r->quarantine.device_id, r->quarantine.reason, r->quarantine.state, r->quarantine.count,
		           r->quarantine.oldest_ms, r->quarantine.newest_ms);
	else if (r->group == VG_STORE_GROUP_OVERFLOW)
		group_text(ud, r->overflow.device_id, r->overflow.reason, "", r->overflow.count, r->overflow.first_ms,
		           r->overflow.last_ms);
	return 0;
}

static int device_line(void *ud, const struct vg_store_group_row *r)
{
	struct vg_buf *b = ud;
	char x[25], seq[24], serial[48];
	fmt_time(r->device.last_seen_ms, x);
	if (r->device.has_last_seq)
		snprintf(seq, sizeof seq, "%lld", r->device.last_seq);
	else
		snprintf(seq, sizeof seq, "-");
	snprintf(serial, sizeof serial, "%lld:%lld", r->device.serial_epoch, r->device.serial_seq);
	vg_buf_addf(b, "  %-20s last_seq %-12s serial %-24s last seen %s\n", r->device.device_id, seq, serial, x);
	return 0;
}

static int batch_line(void *ud, const struct vg_store_group_row *r)
{
	struct vg_buf *b = ud;
	char x[25], y[25], status[16];
	fmt_time(r->batch.created_ms, x);
	fmt_time(r->batch.next_attempt_ms, y);
	if (r->batch.has_status)
		snprintf(status, sizeof status, "%d", r->batch.last_status);
	else
		snprintf(status, sizeof status, "-");
	vg_buf_addf(b, "  batch %-8lld events %-6lld attempts %-5lld last HTTP status %-5s created %s  next attempt %s\n",
	        r->batch.id, r->batch.events, r->batch.attempts, status, x, y);
	return 0;
}

static int tomb_line(void *ud, const struct vg_store_group_row *r)
{
	struct vg_buf *b = ud;
	char x[25], y[25];
	fmt_time(r->erasure.first_ms, x);
	fmt_time(r->erasure.last_ms, y);
	vg_buf_addf(b, "  %-12s %lld (first %s, last %s)\n", "tombstones", r->erasure.tombstones, x, y);
	vg_buf_addf(b, "  %-12s %lld\n", "suppressions", r->erasure.suppressions);
	return 0;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void part_buffer(const struct vg_config *cfg, struct vg_buf *b, struct vg_buf *note)
{
	char db[VG_CONFIG_DB_PATH_MAX], p[VG_CONFIG_DB_PATH_MAX + 8];
	if (vg_config_db_path(cfg, db, sizeof db) != VG_OK)
		snprintf(db, sizeof db, "(data_dir too long)");
	snprintf(p, sizeof p, "%s-wal", db);
	vg_buf_addf(b, "buffer.db        %s\n", db);
	vg_buf_addf(b, "file size        %lld bytes\n", file_size(db));
	vg_buf_addf(b, "WAL size         %lld bytes%s\n", file_size(p), file_size(p) < 0 ? " (no WAL file)" : "");
	char err[600];
	struct vg_store *st = vg_cli_open_store(cfg, VG_CLI_BUSY_MS, err, sizeof err);
	if (!st) {
		vg_buf_addf(b, "cannot open: %s\n", err);
		vg_buf_addf(note, "buffer.txt: buffer.db could not be opened: %s\n", err);
		return;
	}
	struct vg_store_file_stats fs;
	int rc = vg_store_file_stats(st, &fs);
	if (!rc)
		vg_buf_addf(b, "schema version   %lld (this venuegw speaks %d)\njournal mode     %s\n"
		        "pages            %lld of %lld bytes (%lld bytes), %lld free\n", fs.schema_version,
		        VG_STORE_SCHEMA, fs.journal_mode, fs.page_count, fs.page_size, fs.page_count * fs.page_size,
		        fs.freelist_count);
	struct vg_store_counts c;
	if (!rc && !(rc = vg_store_counts(st, &c)))
		vg_buf_addf(b, "\nevents           %lld pending, %lld in flight, %lld forwarded (keys kept for de-duplication)\n"
		        "quarantine       %lld held, %lld metadata only, %lld counted in floods\n",
		        c.pending, c.inflight, c.forwarded, c.quarantine_held, c.quarantine_metadata,
		        c.quarantine_overflow);
	if (!rc) {
		vg_buf_addf(b, "\nevents by device, type and state (count, oldest and newest receive time):\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_EVENTS, group_line, b);
	}
	if (!rc) {
		vg_buf_addf(b, "\nquarantine by device, reason and state:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_QUARANTINE, group_line, b);
	}
	if (!rc) {
		vg_buf_addf(b, "\nquarantine counted under the rate cap (device, reason, count, first, last):\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_OVERFLOW, group_line, b);
	}
	if (!rc) {
		vg_buf_addf(b, "\nunfinished batches:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_BATCHES, batch_line, b);
	}
	if (!rc) {
		vg_buf_addf(b, "\ndevice_state:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_DEVICES, device_line, b);
	}
	if (!rc) {
		vg_buf_addf(b, "\nerasure:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_TOMBSTONES, tomb_line, b);
	}
	if (!rc) {
		char check[2048];
		rc = vg_store_quick_check(st, check, sizeof check);
		if (!rc)
			vg_buf_addf(b, "\nquick_check      %s\n", check);
	}
	if (rc) {
		vg_buf_addf(b, "\ncannot read buffer.db: %s (%s)\n", vg_strerror(rc), vg_store_errmsg(st));
		vg_buf_addf(note, "buffer.txt: reading buffer.db failed: %s\n", vg_strerror(rc));
	}
	vg_store_close(st);
}

static void part_versions(struct vg_buf *b)
{
	int maj, min, rev;
	mosquitto_lib_version(&maj, &min, &rev);
	char mbed[32] = "";
	mbedtls_version_get_string(mbed);
	vg_buf_addf(b, "venuegw          %s\nsqlite           %s\nlibmosquitto     %d.%d.%d\nmbedtls          %s\n"
	        "libcurl          %s\nzlib             %s\nlibarchive       %s\ncJSON            %s\n"
	        "store schema     %d\n",
	        VG_VERSION, vg_store_sqlite_version(), maj, min, rev, mbed, curl_version(), zlibVersion(),
	        archive_version_string() + (strncmp(archive_version_string(), "libarchive ", 11) ? 0 : 11),
	        cJSON_Version(), VG_STORE_SCHEMA);
	char *argv[] = { "/usr/sbin/mosquitto", "-h", NULL };
	struct vg_buf out = VG_BUF_INIT(PART_MAX), err = VG_BUF_INIT(PART_MAX);
	int rc = run_capture(argv, &out, &err);
	if (rc == 127) {
		char *argv2[] = { "mosquitto", "-h", NULL };
		vg_buf_free(&out);
		vg_buf_free(&err);
		rc = run_capture(argv2, &out, &err);
	}
	const char *text = out.len ? out.p : err.p;
	if (rc == 127 || !text)
		vg_buf_addf(b, "mosquitto        not found\n");
	else
		vg_buf_addf(b, "mosquitto        %.*s\n", (int)strcspn(text, "\n"), text);
	vg_buf_free(&out);
	vg_buf_free(&err);
}

static void part_system(const struct vg_config *cfg, struct vg_buf *b)
{
	struct utsname u;
	if (uname(&u) == 0)
		vg_buf_addf(b, "uname            %s %s %s %s %s\n", u.sysname, u.nodename, u.release, u.version, u.machine);
	char now[25];
	vg_time_format(vg_wall_ms(), now);
	vg_buf_addf(b, "time (UTC)       %s\nclock            %s\n", now,
	        vg_clock_synced() ? "synchronised" : "NOT synchronised (adjtimex: STA_UNSYNC)");
	FILE *f = fopen("/proc/uptime", "r");
	double up = 0;
	if (f) {
		if (fscanf(f, "%lf", &up) == 1)
			vg_buf_addf(b, "uptime           %.0f s\n", up);
		fclose(f);
	}
	struct statvfs sv;
	if (statvfs(cfg->data_dir, &sv) == 0)
		vg_buf_addf(b, "data_dir         %s: %llu of %llu MiB free (%llu of %llu inodes free)\n", cfg->data_dir,
		        (unsigned long long)sv.f_bavail * sv.f_frsize >> 20,
		        (unsigned long long)sv.f_blocks * sv.f_frsize >> 20, (unsigned long long)sv.f_favail,
		        (unsigned long long)sv.f_files);
	else
		vg_buf_addf(b, "data_dir         %s: statvfs: %s\n", cfg->data_dir, strerror(errno));
	vg_buf_addf(b, "user             uid %u, gid %u\n", (unsigned)getuid(), (unsigned)getgid());
}

/* ---- the verb ------------------------------------------------------------------- */

const char vg_help_diag[] =
	"Usage: venuegw diag [--output FILE|-]\n"
	"\n"
	"Writes a support bundle (.tar.gz, mode 0600) for venuegw's support team:\n"
	"the configuration with secrets removed, the modes and owners of the files it\n"
	"names (never their contents), venuegw status --json, the last journal lines\n"
	"of venuegw and venuegw-broker, counts from buffer.db, versions and disk space.\n"
	"It holds no personal data: no event bodies, no tokens, no identifiers.\n"
	"\n"
	"  -o, --output FILE   where to write it (default\n"
	"                      venuegw-diag-<gateway_id>-<UTC time>.tar.gz here); - is\n"
	"                      standard output (not a terminal)\n"
	"\n"
	"Exit status: 0 written (also when buffer.db cannot be read: the bundle says\n"
	"why); 1 the bundle cannot be written; 2 bad command line or configuration.\n";

int vg_cmd_diag(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	const char *output = NULL;
	for (int i = 0; i < argc; i++) {
		if ((strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) && i + 1 < argc) {
			output = argv[++i];
		} else {
			return vg_cli_usage_error("diag", "unknown argument '%s' (or a value is missing)", argv[i]);
		}
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[32], gw[80], name[200];
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	if (cfg->gateway_id[0])
		snprintf(gw, sizeof gw, "%s", cfg->gateway_id);
	else
		snprintf(gw, sizeof gw, "%s-gw", cfg->venue_id);
	snprintf(name, sizeof name, "venuegw-diag-%s-%s", gw, stamp);

	struct bundle t = { .mtime = ts.tv_sec };
	snprintf(t.dir, sizeof t.dir, "%s", name);
	int to_stdout = output && strcmp(output, "-") == 0;
	char path[4096], tmp[4200];
	if (!output)
		snprintf(path, sizeof path, "%s.tar.gz", name);
	else
		snprintf(path, sizeof path, "%s", output);
	int fd;
	if (to_stdout) {
		if (isatty(1)) {
			fprintf(stderr, "venuegw diag: standard output is a terminal; redirect it or give --output FILE\n");
			return VG_EXIT_USAGE;
		}
		fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	} else {
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		/* A fresh file: never through a link or into a file someone
		 * placed there (diag runs as root, maybe in a shared directory). */
		unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		fprintf(stderr, "venuegw diag: cannot write %s: %s\n", to_stdout ? "standard output" : tmp, strerror(errno));
		return VG_EXIT_FAIL;
	}
	t.a = archive_write_new();
	if (!t.a || archive_write_set_format_ustar(t.a) != ARCHIVE_OK ||
	    archive_write_add_filter_gzip(t.a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(t.a, "gzip", "compression-level", "9") != ARCHIVE_OK ||
	    archive_write_open_fd(t.a, fd) != ARCHIVE_OK) {
		fprintf(stderr, "venuegw diag: cannot start the tar.gz output: %s\n",
		        t.a ? archive_error_string(t.a) : "out of memory");
		archive_write_free(t.a);
		close(fd);
		if (!to_stdout)
			unlink(tmp);
		return VG_EXIT_FAIL;
	}

	struct vg_buf note = VG_BUF_INIT(PART_MAX), b = VG_BUF_INIT(PART_MAX);
	part_config(cfg, &b);
	add_part(&t, "config.txt", &b);
	part_files(cfg, &b);
	add_part(&t, "files.txt", &b);
	part_status(cfg, &b, &note);
	add_part(&t, "status.json", &b);
	part_journal(&b);
	add_part(&t, "journal.txt", &b);
	part_buffer(cfg, &b, &note);
	add_part(&t, "buffer.txt", &b);
	part_versions(&b);
	add_part(&t, "versions.txt", &b);
	part_system(cfg, &b);
	add_part(&t, "system.txt", &b);
	char when[25];
	vg_time_format((int64_t)ts.tv_sec * 1000, when);
	vg_buf_addf(&b, "venuegw support bundle\n\nvenue      %s\ngateway    %s\nmade at    %s (UTC) by venuegw %s\n"
	        "config     %s\n\n"
	        "config.txt    the configuration's text; comments removed, secrets replaced by <redacted>\n"
	        "files.txt     the files the configuration names: mode, owner, size (never their contents)\n"
	        "status.json   venuegw status --json\n"
	        "journal.txt   the last " JOURNAL_LINES " journal lines of venuegw and venuegw-broker, or why there are none\n"
	        "buffer.txt    buffer.db counts by device, type, state and reason; batches; device_state; sizes;"
	        " quick_check\n"
	        "versions.txt  venuegw, SQLite, mosquitto, mbedTLS, libcurl\n"
	        "system.txt    uname, clock, disk space of data_dir\n\n"
	        "Left out on purpose: event bodies, tokens, identifiers of people, the contents of key,\n"
	        "password and certificate files.  Every part was also filtered: anything shaped like a token,\n"
	        "an email address, an international phone number or a card number reads [token], [email],\n"
	        "[phone] or [card].\n", cfg->venue_id, gw, when, VG_VERSION, cfg->path);
	if (note.len) {
		vg_buf_addf(&b, "\nWhile collecting:\n");
		vg_buf_add(&b, note.p, note.len);
	}
	add_part(&t, "README.txt", &b);
	vg_buf_free(&note);
	/* The end of the archive and of the gzip stream; the descriptor is ours. */
	if (archive_write_close(t.a) != ARCHIVE_OK)
		t.err = 1;
	archive_write_free(t.a);
	if (close(fd) != 0)
		t.err = 1;
	if (t.err) {
		fprintf(stderr, "venuegw diag: writing %s failed (disk full?)\n", to_stdout ? "standard output" : tmp);
		if (!to_stdout)
			unlink(tmp);
		return VG_EXIT_FAIL;
	}
	if (to_stdout) {
		fprintf(stderr, "venuegw diag: wrote the bundle (%zu parts) to standard output\n", t.parts);
		return VG_EXIT_OK;
	}
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "venuegw diag: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
		unlink(tmp);
		return VG_EXIT_FAIL;
	}
	printf("wrote %s (%lld bytes, %zu parts)\n", path, file_size(path), t.parts);
	return VG_EXIT_OK;
}
