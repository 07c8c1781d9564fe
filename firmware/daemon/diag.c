/* venuegw diag: a support bundle, redacted (DESIGN.md §9).
 *
 * One .tar.gz (ustar, written here, compressed with zlib) holding:
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
 * last filter that replaces anything shaped like a token, an email address, a
 * phone number in international form or a card number. */
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

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mbedtls/version.h>
#include <mosquitto.h>
#include <zlib.h>

#include "daemon.h"
#include "err.h"
#include "event.h"
#include "ingest.h"
#include "pii.h"
#include "store_admin.h"

#define JOURNAL_LINES "2000"
#define CHILD_TIMEOUT_MS 60000
#define PART_MAX (16u << 20)   /* a part is cut at 16 MiB */

/* ---- a growable text buffer ------------------------------------------------- */

struct buf {
	char *p;
	size_t n, cap;
	int oom;
};

static void bput(struct buf *b, const char *s, size_t n)
{
	if (b->oom || b->n + n + 1 > PART_MAX)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

__attribute__((format(printf, 2, 3)))
static void bprintf(struct buf *b, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		bput(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	bput(b, big, (size_t)n);
	free(big);
}

static void bfree(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- the last filter: nothing shaped like personal data leaves ---------------- */

static int is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A token "v<digits>.<kind>.<22 base64url>" at p: its length, else 0. */
static size_t token_at(const char *p, const char *end)
{
	static const char *const kinds[] = { "em", "ph", "cu", "lo", "mc", "pc", "pan" };
	const char *q = p;
	if (q >= end || *q++ != 'v' || q >= end || !is_digit(*q))
		return 0;
	while (q < end && is_digit(*q))
		q++;
	if (q >= end || *q++ != '.')
		return 0;
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		size_t kl = strlen(kinds[k]);
		if ((size_t)(end - q) > kl + 22 && memcmp(q, kinds[k], kl) == 0 && q[kl] == '.') {
			const char *t = q + kl + 1;
			size_t n = 0;
			while (t + n < end && is_b64url(t[n]))
				n++;
			if (n >= 22)
				return (size_t)(t + 22 - p);
		}
	}
	return 0;
}

static int email_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || strchr("._%+-", c);
}

/* Replace tokens, email addresses, +international phone numbers and card
 * numbers (13–19 digits passing the scheme and Luhn checks) in b. */
static void redact(struct buf *b)
{
	if (!b->p)
		return;
	struct buf o = { 0 };
	const char *p = b->p, *end = b->p + b->n;
	while (p < end) {
		size_t n;
		if ((p == b->p || !is_b64url(p[-1])) && (n = token_at(p, end))) {
			bput(&o, "[token]", 7);
			p += n;
			continue;
		}
		if (*p == '@' && o.n && email_char(o.p[o.n - 1])) {
			/* local part already copied: take it back */
			size_t l = o.n;
			while (l && email_char(o.p[l - 1]))
				l--;
			const char *d = p + 1;
			size_t dn = 0, dots = 0;
			while (d + dn < end && (email_char(d[dn]) && d[dn] != '+' && d[dn] != '%')) {
				dots += d[dn] == '.';
				dn++;
			}
			if (dn && dots) {
				o.n = l;
				bput(&o, "[email]", 7);
				p = d + dn;
				continue;
			}
		}
		if ((*p == '+' && p + 1 < end && is_digit(p[1])) || (is_digit(*p) && (p == b->p || !is_digit(p[-1])))) {
			/* digits with single spaces or dashes between them */
			char dig[40];
			size_t nd = 0;
			const char *q = *p == '+' ? p + 1 : p;
			const char *last = q;
			while (q < end && nd < sizeof dig) {
				if (is_digit(*q)) {
					dig[nd++] = *q++;
					last = q;
				} else if ((*q == ' ' || *q == '-') && q + 1 < end && is_digit(q[1]) && nd) {
					q++;
				} else {
					break;
				}
			}
			int phone = *p == '+' && nd >= 8 && nd <= 15;
			int card = 0;
			if (!phone && nd >= 13 && nd <= 19) {
				/* contiguous digits or groups: a card if it passes the checks */
				card = vg_card_valid(dig, nd);
			}
			if (phone || card) {
				bput(&o, phone ? "[phone]" : "[card]", phone ? 7 : 6);
				p = last;
				continue;
			}
		}
		bput(&o, p, 1);
		p++;
	}
	if (o.oom) {
		bfree(&o);
		return; /* keep b; a part that cannot be filtered is dropped by the caller */
	}
	bfree(b);
	*b = o;
}

/* ---- ustar + gzip ----------------------------------------------------------------- */

struct tarw {
	gzFile gz;
	char dir[200];
	int64_t mtime;
	int err;
	size_t parts;
};

static void octal(char *field, size_t size, unsigned long long v)
{
	snprintf(field, size, "%0*llo", (int)size - 1, v);
}

static void tar_add(struct tarw *t, const char *name, const struct buf *b)
{
	if (t->err)
		return;
	unsigned char h[512];
	memset(h, 0, sizeof h);
	/* ustar: the directory in the prefix field (155), the part's name in name (100) */
	size_t dl = strlen(t->dir);
	memcpy(h + 345, t->dir, dl < 154 ? dl : 154);
	memcpy(h, name, strlen(name) < 99 ? strlen(name) : 99);
	octal((char *)h + 100, 8, 0644);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, b->n);
	octal((char *)h + 136, 12, (unsigned long long)t->mtime);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	snprintf((char *)h + 265, 32, "root");
	snprintf((char *)h + 297, 32, "root");
	unsigned sum = 0;
	for (size_t i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	static const unsigned char zero[512];
	size_t pad = (512 - b->n % 512) % 512;
	if (gzwrite(t->gz, h, sizeof h) != (int)sizeof h ||
	    (b->n && gzwrite(t->gz, b->p, (unsigned)b->n) != (int)b->n) ||
	    (pad && gzwrite(t->gz, zero, (unsigned)pad) != (int)pad))
		t->err = 1;
	t->parts++;
}

/* Filter, then add. */
static void add_part(struct tarw *t, const char *name, struct buf *b)
{
	redact(b);
	if (b->oom) {
		struct buf e = { 0 };
		bprintf(&e, "(%s left out: out of memory while writing it)\n", name);
		tar_add(t, name, &e);
		bfree(&e);
	} else {
		tar_add(t, name, b);
	}
	bfree(b);
}

/* ---- children ----------------------------------------------------------------- */

/* Run argv with stdin from /dev/null; collect stdout into out and stderr into
 * errb (each cut at PART_MAX).  Returns the exit status, 127 when it could not
 * be started, or -1 when it was killed (a timeout). */
static int run_capture(char *const argv[], struct buf *out, struct buf *errb)
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
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int open_fds = 2, killed = 0;
	while (open_fds) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
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
				bput(i ? errb : out, chunk, (size_t)n);
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

static void part_config(const struct vg_config *cfg, struct buf *b)
{
	bprintf(b, "# %s, as read by venuegw diag: comments removed, values of password and secret\n"
	           "# keys replaced by <redacted>, user:password in URLs replaced; *_file keys keep\n"
	           "# their paths (their contents are never included: see files.txt).\n", cfg->path);
	FILE *f = fopen(cfg->path, "r");
	if (!f) {
		bprintf(b, "# cannot read %s: %s\n", cfg->path, strerror(errno));
		return;
	}
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		const char *s = line + strspn(line, " \t");
		if (!*s) {
			bprintf(b, "\n");
			continue;
		}
		if (*s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			bprintf(b, "%s\n", s);
			continue;
		}
		const char *eq = strchr(s, '=');
		if (!eq) {
			bprintf(b, "<a line that is not key = value: left out>\n");
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
			bprintf(b, "%s = <redacted>\n", key);
			continue;
		}
		/* scheme://user:password@host → scheme://<redacted>@host */
		const char *sch = strstr(v, "://");
		const char *at = sch ? strchr(sch + 3, '@') : NULL;
		const char *slash = sch ? strchr(sch + 3, '/') : NULL;
		if (at && (!slash || at < slash))
			bprintf(b, "%s = %.*s<redacted>%s\n", key, (int)(sch + 3 - v), v, at);
		else
			bprintf(b, "%s = %s\n", key, v);
	}
	fclose(f);
}

static void describe_file(struct buf *b, const char *label, const char *path, int secret)
{
	if (!path || !*path) {
		bprintf(b, "%-22s (not set)\n", label);
		return;
	}
	struct stat st;
	if (lstat(path, &st) != 0) {
		bprintf(b, "%-22s %s: %s\n", label, path, errno == ENOENT ? "does not exist" : strerror(errno));
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
	bprintf(b, "%-22s %s: %s, mode %04o, owner %s, group %s", label, path, type,
	        (unsigned)(st.st_mode & 07777), owner, group);
	if (S_ISREG(st.st_mode))
		bprintf(b, ", %lld bytes", (long long)st.st_size);
	if (S_ISLNK(st.st_mode)) {
		char t[512];
		ssize_t n = readlink(path, t, sizeof t - 1);
		if (n >= 0) {
			t[n] = '\0';
			bprintf(b, " -> %s", t);
		}
	}
	if (secret && S_ISREG(st.st_mode) && (st.st_mode & 0004))
		bprintf(b, "  WARNING: a secret readable by every user (chmod o-r)");
	if (secret && S_ISREG(st.st_mode) && access(path, R_OK) != 0)
		bprintf(b, "  (not readable by this user)");
	bprintf(b, "\n");
}

static void part_files(const struct vg_config *cfg, struct buf *b)
{
	char db[300], p[320];
	vg_config_db_path(cfg, db, sizeof db);
	bprintf(b, "# Files and directories the configuration names: never their contents.\n");
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

static void part_status(const struct vg_config *cfg, struct buf *b, struct buf *note)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		bprintf(note, "status.json: cannot find the venuegw binary (/proc/self/exe): %s\n", strerror(errno));
		bprintf(b, "null\n");
		return;
	}
	self[n] = '\0';
	char *argv[] = { self, "--config", (char *)cfg->path, "status", "--json", NULL };
	struct buf err = { 0 };
	int rc = run_capture(argv, b, &err);
	if (rc != 0) {
		bprintf(note, "status.json: venuegw status --json exited with %d: %.*s\n", rc,
		        (int)(err.n > 600 ? 600 : err.n), err.p ? err.p : "");
		if (!b->n)
			bprintf(b, "null\n");
	}
	bfree(&err);
}

static void part_journal(struct buf *b)
{
	char *argv[] = { "journalctl", "-u", "venuegw", "-u", "venuegw-broker", "-n", JOURNAL_LINES,
	                 "--no-pager", "-o", "short-iso", NULL };
	struct buf out = { 0 }, err = { 0 };
	int rc = run_capture(argv, &out, &err);
	bprintf(b, "# journalctl -u venuegw -u venuegw-broker -n " JOURNAL_LINES " --no-pager -o short-iso\n");
	if (rc == 127) {
		bprintf(b, "no journal: journalctl is not installed or could not be started\n");
	} else {
		if (rc != 0)
			bprintf(b, "no journal: journalctl exited with %d\n", rc);
		else if (err.n && strstr(err.p, "No journal files"))
			bprintf(b, "no journal: journalctl found no journal files (not running under systemd?)\n");
		if (err.n) {
			bprintf(b, "# journalctl said on stderr:\n");
			bput(b, err.p, err.n);
		}
		bput(b, out.p ? out.p : "", out.n);
	}
	bfree(&out);
	bfree(&err);
}

static void fmt_time(int64_t ms, char out[25])
{
	if (ms <= 0)
		snprintf(out, 25, "-");
	else
		vg_time_format(ms, out);
}

static void group_text(struct buf *b, const char *a, const char *bb, const char *c, long long n, int64_t t1,
                       int64_t t2)
{
	char x[25], y[25];
	fmt_time(t1, x);
	fmt_time(t2, y);
	bprintf(b, "  %-20s %-22s %-12s %10lld  %s  %s\n", a, bb, c, n, x, y);
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
	struct buf *b = ud;
	char x[25], seq[24], serial[48];
	fmt_time(r->device.last_seen_ms, x);
	if (r->device.has_last_seq)
		snprintf(seq, sizeof seq, "%lld", r->device.last_seq);
	else
		snprintf(seq, sizeof seq, "-");
	snprintf(serial, sizeof serial, "%lld:%lld", r->device.serial_epoch, r->device.serial_seq);
	bprintf(b, "  %-20s last_seq %-12s serial %-24s last seen %s\n", r->device.device_id, seq, serial, x);
	return 0;
}

static int batch_line(void *ud, const struct vg_store_group_row *r)
{
	struct buf *b = ud;
	char x[25], y[25], status[16];
	fmt_time(r->batch.created_ms, x);
	fmt_time(r->batch.next_attempt_ms, y);
	if (r->batch.has_status)
		snprintf(status, sizeof status, "%d", r->batch.last_status);
	else
		snprintf(status, sizeof status, "-");
	bprintf(b, "  batch %-8lld events %-6lld attempts %-5lld last HTTP status %-5s created %s  next attempt %s\n",
	        r->batch.id, r->batch.events, r->batch.attempts, status, x, y);
	return 0;
}

static int tomb_line(void *ud, const struct vg_store_group_row *r)
{
	struct buf *b = ud;
	char x[25], y[25];
	fmt_time(r->erasure.first_ms, x);
	fmt_time(r->erasure.last_ms, y);
	bprintf(b, "  %-12s %lld (first %s, last %s)\n", "tombstones", r->erasure.tombstones, x, y);
	bprintf(b, "  %-12s %lld\n", "suppressions", r->erasure.suppressions);
	return 0;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void part_buffer(const struct vg_config *cfg, struct buf *b, struct buf *note)
{
	char db[300], p[320];
	vg_config_db_path(cfg, db, sizeof db);
	snprintf(p, sizeof p, "%s-wal", db);
	bprintf(b, "buffer.db        %s\n", db);
	bprintf(b, "file size        %lld bytes\n", file_size(db));
	bprintf(b, "WAL size         %lld bytes%s\n", file_size(p), file_size(p) < 0 ? " (no WAL file)" : "");
	char err[600];
	struct vg_store *st = NULL;
	struct vg_store_cfg scfg = { .path = db, .owner = 0, .durability_full = 1, .busy_timeout_ms = 2000 };
	if (vg_store_open(&st, &scfg, err, sizeof err) != VG_OK) {
		bprintf(b, "cannot open: %s\n", err);
		bprintf(note, "buffer.txt: buffer.db could not be opened: %s\n", err);
		return;
	}
	struct vg_store_file_stats fs;
	int rc = vg_store_file_stats(st, &fs);
	if (!rc)
		bprintf(b, "schema version   %lld (this venuegw speaks %d)\njournal mode     %s\n"
		        "pages            %lld of %lld bytes (%lld bytes), %lld free\n", fs.schema_version,
		        VG_STORE_SCHEMA, fs.journal_mode, fs.page_count, fs.page_size, fs.page_count * fs.page_size,
		        fs.freelist_count);
	struct vg_store_counts c;
	if (!rc && !(rc = vg_store_counts(st, &c)))
		bprintf(b, "\nevents           %lld pending, %lld in flight, %lld forwarded (keys kept for de-duplication)\n"
		        "quarantine       %lld held, %lld metadata only, %lld counted in floods\n",
		        c.pending, c.inflight, c.forwarded, c.quarantine_held, c.quarantine_metadata,
		        c.quarantine_overflow);
	if (!rc) {
		bprintf(b, "\nevents by device, type and state (count, oldest and newest receive time):\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_EVENTS, group_line, b);
	}
	if (!rc) {
		bprintf(b, "\nquarantine by device, reason and state:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_QUARANTINE, group_line, b);
	}
	if (!rc) {
		bprintf(b, "\nquarantine counted under the rate cap (device, reason, count, first, last):\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_OVERFLOW, group_line, b);
	}
	if (!rc) {
		bprintf(b, "\nunfinished batches:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_BATCHES, batch_line, b);
	}
	if (!rc) {
		bprintf(b, "\ndevice_state:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_DEVICES, device_line, b);
	}
	if (!rc) {
		bprintf(b, "\nerasure:\n");
		rc = vg_store_group_counts(st, VG_STORE_GROUP_TOMBSTONES, tomb_line, b);
	}
	if (!rc) {
		char check[2048];
		rc = vg_store_quick_check(st, check, sizeof check);
		if (!rc)
			bprintf(b, "\nquick_check      %s\n", check);
	}
	if (rc) {
		bprintf(b, "\ncannot read buffer.db: %s (%s)\n", vg_strerror(rc), vg_store_errmsg(st));
		bprintf(note, "buffer.txt: reading buffer.db failed: %s\n", vg_strerror(rc));
	}
	vg_store_close(st);
}

static void part_versions(struct buf *b)
{
	int maj, min, rev;
	mosquitto_lib_version(&maj, &min, &rev);
	char mbed[32] = "";
	mbedtls_version_get_string(mbed);
	bprintf(b, "venuegw          %s\nsqlite           %s\nlibmosquitto     %d.%d.%d\nmbedtls          %s\n"
	        "libcurl          %s\nzlib             %s\ncJSON            %s\nstore schema     %d\n",
	        VG_VERSION, vg_store_sqlite_version(), maj, min, rev, mbed, curl_version(), zlibVersion(),
	        cJSON_Version(), VG_STORE_SCHEMA);
	char *argv[] = { "/usr/sbin/mosquitto", "-h", NULL };
	struct buf out = { 0 }, err = { 0 };
	int rc = run_capture(argv, &out, &err);
	if (rc == 127) {
		char *argv2[] = { "mosquitto", "-h", NULL };
		bfree(&out);
		bfree(&err);
		rc = run_capture(argv2, &out, &err);
	}
	const char *text = out.n ? out.p : err.p;
	if (rc == 127 || !text)
		bprintf(b, "mosquitto        not found\n");
	else
		bprintf(b, "mosquitto        %.*s\n", (int)strcspn(text, "\n"), text);
	bfree(&out);
	bfree(&err);
}

static void part_system(const struct vg_config *cfg, struct buf *b)
{
	struct utsname u;
	if (uname(&u) == 0)
		bprintf(b, "uname            %s %s %s %s %s\n", u.sysname, u.nodename, u.release, u.version, u.machine);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char now[25];
	vg_time_format((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, now);
	bprintf(b, "time (UTC)       %s\nclock            %s\n", now,
	        vg_clock_synced() ? "synchronised" : "NOT synchronised (adjtimex: STA_UNSYNC)");
	FILE *f = fopen("/proc/uptime", "r");
	double up = 0;
	if (f) {
		if (fscanf(f, "%lf", &up) == 1)
			bprintf(b, "uptime           %.0f s\n", up);
		fclose(f);
	}
	struct statvfs sv;
	if (statvfs(cfg->data_dir, &sv) == 0)
		bprintf(b, "data_dir         %s: %llu of %llu MiB free (%llu of %llu inodes free)\n", cfg->data_dir,
		        (unsigned long long)sv.f_bavail * sv.f_frsize >> 20,
		        (unsigned long long)sv.f_blocks * sv.f_frsize >> 20, (unsigned long long)sv.f_favail,
		        (unsigned long long)sv.f_files);
	else
		bprintf(b, "data_dir         %s: statvfs: %s\n", cfg->data_dir, strerror(errno));
	bprintf(b, "user             uid %u, gid %u\n", (unsigned)getuid(), (unsigned)getgid());
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

int vg_cmd_diag(const struct vg_config *cfg, int argc, char **argv)
{
	const char *output = NULL;
	for (int i = 0; i < argc; i++) {
		if ((strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) && i + 1 < argc) {
			output = argv[++i];
		} else {
			fprintf(stderr, "venuegw diag: unknown argument '%s' (or a value is missing)\n%s", argv[i],
			        vg_help_diag);
			return VG_EXIT_USAGE;
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

	struct tarw t = { .mtime = ts.tv_sec };
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
	t.gz = gzdopen(fd, "wb9");
	if (!t.gz) {
		close(fd);
		fprintf(stderr, "venuegw diag: cannot start gzip output\n");
		return VG_EXIT_FAIL;
	}

	struct buf note = { 0 }, b = { 0 };
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
	bprintf(&b, "venuegw support bundle\n\nvenue      %s\ngateway    %s\nmade at    %s (UTC) by venuegw %s\n"
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
	if (note.n) {
		bprintf(&b, "\nWhile collecting:\n");
		bput(&b, note.p, note.n);
	}
	add_part(&t, "README.txt", &b);
	bfree(&note);
	static const unsigned char zero[1024];
	if (!t.err && gzwrite(t.gz, zero, sizeof zero) != (int)sizeof zero)
		t.err = 1;
	int zrc = gzclose(t.gz);
	if (t.err || zrc != Z_OK) {
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
