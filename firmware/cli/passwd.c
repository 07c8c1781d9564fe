/* venuegw — mosquitto password-file entries, computed with mbedTLS. */
#include "passwd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>

#include "err.h"

#define SALT_LEN 12
#define HASH_LEN 64

int vg_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return VG_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return VG_OK;
}

int vg_passwd_generate(char *out, size_t outsz)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[18];
	if (outsz < 25)
		return VG_ERR_RANGE;
	if (vg_random(r, sizeof r) != VG_OK)
		return VG_ERR_IO;
	/* 18 bytes = 144 bits = 24 six-bit characters. */
	for (int i = 0; i < 24; i++) {
		int bit = i * 6;
		unsigned v = ((unsigned)r[bit / 8] << 8 | (bit / 8 + 1 < 18 ? r[bit / 8 + 1] : 0)) >> (10 - bit % 8);
		out[i] = b64url[v & 63];
	}
	out[24] = '\0';
	mbedtls_platform_zeroize(r, sizeof r);
	return VG_OK;
}

static int pbkdf2(const char *password, const unsigned char *salt, size_t slen, unsigned iterations,
                  unsigned char out[HASH_LEN])
{
	mbedtls_md_context_t md;
	mbedtls_md_init(&md);
	int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), 1);
	if (rc == 0)
		rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)password, strlen(password), salt, slen,
		                               iterations, HASH_LEN, out);
	mbedtls_md_free(&md);
	return rc;
}

int vg_passwd_entry(const char *user, const char *password, char *out, size_t outsz)
{
	unsigned char salt[SALT_LEN], hash[HASH_LEN];
	unsigned char salt64[32], hash64[128];
	size_t sl = 0, hl = 0;
	int rc = VG_ERR_IO;
	if (vg_random(salt, sizeof salt) != VG_OK)
		return VG_ERR_IO;
	if (pbkdf2(password, salt, sizeof salt, VG_PASSWD_ITERATIONS, hash) != 0)
		goto done;
	if (mbedtls_base64_encode(salt64, sizeof salt64, &sl, salt, sizeof salt) != 0 ||
	    mbedtls_base64_encode(hash64, sizeof hash64, &hl, hash, sizeof hash) != 0)
		goto done;
	int n = snprintf(out, outsz, "%s:$7$%d$%s$%s", user, VG_PASSWD_ITERATIONS, (char *)salt64, (char *)hash64);
	rc = n > 0 && (size_t)n < outsz ? VG_OK : VG_ERR_RANGE;
done:
	mbedtls_platform_zeroize(hash, sizeof hash);
	return rc;
}

int vg_passwd_verify(const char *line, const char *password)
{
	const char *h = strchr(line, ':');
	if (!h || strncmp(h + 1, "$7$", 3) != 0)
		return 0;
	h += 4;
	char *end;
	unsigned long it = strtoul(h, &end, 10);
	if (*end != '$' || it == 0 || it > 10000000)
		return 0;
	const char *s = end + 1, *d = strchr(s, '$');
	if (!d)
		return 0;
	unsigned char salt[64], want[HASH_LEN + 8], got[HASH_LEN];
	size_t sl = 0, wl = 0;
	if (mbedtls_base64_decode(salt, sizeof salt, &sl, (const unsigned char *)s, (size_t)(d - s)) != 0 ||
	    mbedtls_base64_decode(want, sizeof want, &wl, (const unsigned char *)d + 1, strlen(d + 1)) != 0 ||
	    wl != HASH_LEN)
		return 0;
	if (pbkdf2(password, salt, sl, (unsigned)it, got) != 0)
		return 0;
	unsigned diff = 0;
	for (size_t i = 0; i < HASH_LEN; i++)
		diff |= got[i] ^ want[i];
	mbedtls_platform_zeroize(got, sizeof got);
	return diff == 0;
}

int vg_pwfile_user(const char *line, char *out, size_t outsz)
{
	const char *c = strchr(line, ':');
	if (!c || c == line || line[0] == '#')
		return VG_ERR_INVAL;
	size_t n = (size_t)(c - line);
	if (n >= outsz)
		return VG_ERR_RANGE;
	memcpy(out, line, n);
	out[n] = '\0';
	return VG_OK;
}

int vg_pwfile_find(const struct vg_pwfile *f, const char *user)
{
	size_t ul = strlen(user);
	for (int i = 0; i < f->n; i++)
		if (strncmp(f->lines[i], user, ul) == 0 && f->lines[i][ul] == ':')
			return i;
	return VG_ERR_NOTFOUND;
}

int vg_pwfile_append(struct vg_pwfile *f, const char *line)
{
	if (f->n >= VG_PASSWD_MAX_LINES)
		return VG_ERR_FULL;
	char *c = strdup(line);
	if (!c)
		return VG_ERR_NOMEM;
	f->lines[f->n++] = c;
	return VG_OK;
}

static void free_line(char *l)
{
	if (l) {
		mbedtls_platform_zeroize(l, strlen(l));
		free(l);
	}
}

void vg_pwfile_remove(struct vg_pwfile *f, int i)
{
	if (i < 0 || i >= f->n)
		return;
	free_line(f->lines[i]);
	memmove(&f->lines[i], &f->lines[i + 1], (size_t)(f->n - i - 1) * sizeof f->lines[0]);
	f->n--;
}

int vg_pwfile_lock(const char *path, char *err, size_t errsz)
{
	char lock_path[PATH_MAX];
	snprintf(lock_path, sizeof lock_path, "%s.lock", path);
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		snprintf(err, errsz, "cannot lock %s: %s", lock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return VG_ERR_IO;
	}
	return fd;
}

void vg_pwfile_free(struct vg_pwfile *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n; i++)
		free_line(f->lines[i]);
	f->n = 0;
}

int vg_pwfile_load(struct vg_pwfile *f, const char *path, int missing_ok, char *err, size_t errsz)
{
	memset(f, 0, sizeof *f);
	FILE *fp = fopen(path, "re");
	if (!fp) {
		int e = errno;
		if (e == ENOENT && missing_ok)
			return VG_OK;
		snprintf(err, errsz, "%s: cannot read: %s", path, strerror(e));
		return e == ENOENT ? VG_ERR_NOTFOUND : VG_ERR_IO;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) == 0) {
		f->mode = st.st_mode & 07777;
		f->uid = st.st_uid;
		f->gid = st.st_gid;
	}
	f->existed = 1;
	char buf[VG_PASSWD_LINE_MAX + 2];
	int lineno = 0, rc = VG_OK;
	while (fgets(buf, sizeof buf, fp)) {
		lineno++;
		size_t n = strlen(buf);
		if (n > 0 && buf[n - 1] != '\n' && !feof(fp)) {
			snprintf(err, errsz, "%s:%d: line longer than %d characters", path, lineno, VG_PASSWD_LINE_MAX);
			rc = VG_ERR_INVAL;
			break;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		if ((rc = vg_pwfile_append(f, buf)) != VG_OK) {
			snprintf(err, errsz, "%s: more than %d lines or out of memory", path, VG_PASSWD_MAX_LINES);
			break;
		}
	}
	if (rc == VG_OK && ferror(fp)) {
		snprintf(err, errsz, "%s: cannot read: %s", path, strerror(errno));
		rc = VG_ERR_IO;
	}
	mbedtls_platform_zeroize(buf, sizeof buf);
	fclose(fp);
	if (rc)
		vg_pwfile_free(f);
	return rc;
}

int vg_file_write(const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
                  int replace, char *err, size_t errsz)
{
	char tmp[4200];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp) {
		snprintf(err, errsz, "%s: path too long", path);
		return VG_ERR_RANGE;
	}
	if (!replace && access(path, F_OK) == 0) {
		snprintf(err, errsz, "%s: exists", path);
		return VG_ERR_IO;
	}
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0600);
	if (fd < 0)
		goto fail_noclose;
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) != 0)
		goto fail;
	if (fchmod(fd, mode) != 0)
		goto fail;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (!replace) {
		/* link(2) fails with EEXIST if another writer got there first. */
		if (link(tmp, path) != 0)
			goto fail;
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		goto fail;
	}
	return VG_OK;
fail:
	{
		int e = errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		errno = e;
	}
fail_noclose:
	snprintf(err, errsz, "%s: cannot write: %s", path, strerror(errno));
	return VG_ERR_IO;
}

int vg_pwfile_save(const struct vg_pwfile *f, const char *path, mode_t mode,
                   const char *like_path, char *err, size_t errsz)
{
	size_t total = 1;
	for (int i = 0; i < f->n; i++)
		total += strlen(f->lines[i]) + 1;
	char *buf = malloc(total);
	if (!buf) {
		snprintf(err, errsz, "%s: out of memory", path);
		return VG_ERR_NOMEM;
	}
	size_t off = 0;
	for (int i = 0; i < f->n; i++) {
		size_t l = strlen(f->lines[i]);
		memcpy(buf + off, f->lines[i], l);
		off += l;
		buf[off++] = '\n';
	}
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	if (f->existed) {
		mode = f->mode;
		uid = f->uid;
		gid = f->gid;
	} else if (like_path) {
		struct stat st;
		if (stat(like_path, &st) == 0) {
			uid = st.st_uid;
			gid = st.st_gid;
		}
	}
	/* Only root may give a file away; others keep their own. */
	if (uid != (uid_t)-1 && geteuid() != 0 && uid != geteuid())
		uid = (uid_t)-1;
	int rc = vg_file_write(path, buf, off, mode, uid, gid, 1, err, errsz);
	mbedtls_platform_zeroize(buf, total);
	free(buf);
	return rc;
}
