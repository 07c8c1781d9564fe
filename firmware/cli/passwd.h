/* venuegw — entries of our broker's mosquitto password file.
 *
 * mosquitto 2.0 reads one "user:hash" per line (mosquitto_passwd(1)); the
 * hash venuegw writes is mosquitto's own PBKDF2 form:
 *     $7$<iterations>$<base64 12-byte salt>$<base64 PBKDF2-HMAC-SHA512, 64 bytes>
 * computed here with mbedTLS, so a password never appears on a command line
 * (as with `mosquitto_passwd -b`).
 *
 * A struct vg_pwfile is a password file in memory: its lines in order
 * (comments and blank lines kept), so rewriting it changes only the entries
 * the caller changed.
 *
 * Errors are err.h's enum vg_err (VG_OK is 0, errors negative). */
#ifndef VG_PASSWD_H
#define VG_PASSWD_H

#include <stddef.h>
#include <sys/types.h>

#define VG_PASSWD_ITERATIONS 101   /* mosquitto_passwd's default */
#define VG_PASSWD_MAX_LINES 4096
#define VG_PASSWD_LINE_MAX 512

/* Fill buf with len cryptographically random bytes (getrandom(2)).
 * VG_OK, or VG_ERR_IO (no randomness). */
int vg_random(void *buf, size_t len);

/* A random password: 24 characters of base64url (144 bits) into out
 * (outsz >= 25).  VG_OK, VG_ERR_RANGE (outsz too small) or VG_ERR_IO (no
 * randomness). */
int vg_passwd_generate(char *out, size_t outsz);

/* The password-file line "user:$7$..." (no newline) for password into out.
 * VG_OK, VG_ERR_RANGE (out too small) or VG_ERR_IO (no randomness, or
 * mbedTLS failed). */
int vg_passwd_entry(const char *user, const char *password, char *out, size_t outsz);

/* Whether password matches the "$7$..." hash of an entry line (user:hash).
 * Returns 1 (matches), 0 (does not, or the line is not a $7$ entry). */
int vg_passwd_verify(const char *line, const char *password);

struct vg_pwfile {
	char *lines[VG_PASSWD_MAX_LINES];   /* owned, without newlines */
	int n;
	int existed;                        /* the file was there when loaded */
	mode_t mode;                        /* its mode and owner (kept on save) */
	uid_t uid;
	gid_t gid;
};

/* Load path.  A missing file is an empty one when missing_ok (existed = 0).
 * VG_OK, or with "path: why" in err: VG_ERR_NOTFOUND (missing), VG_ERR_IO,
 * VG_ERR_INVAL (a line too long), VG_ERR_FULL or VG_ERR_NOMEM. */
int vg_pwfile_load(struct vg_pwfile *f, const char *path, int missing_ok, char *err, size_t errsz);

/* Index of user's entry line, or VG_ERR_NOTFOUND (negative). */
int vg_pwfile_find(const struct vg_pwfile *f, const char *user);

/* Append an entry line (copied).  VG_OK, VG_ERR_FULL or VG_ERR_NOMEM. */
int vg_pwfile_append(struct vg_pwfile *f, const char *line);

/* Remove line i. */
void vg_pwfile_remove(struct vg_pwfile *f, int i);

/* User name of an entry line into out: VG_OK, VG_ERR_INVAL (the line is no
 * entry) or VG_ERR_RANGE (out too small). */
int vg_pwfile_user(const char *line, char *out, size_t outsz);

/* Replace path atomically (a temporary file beside it, fsync, rename), with
 * the mode and owner the file had (new files: mode, and the owner of
 * like_path if it exists, else the caller's).  VG_OK, or VG_ERR_IO or
 * VG_ERR_NOMEM with err. */
int vg_pwfile_save(const struct vg_pwfile *f, const char *path, mode_t mode,
                   const char *like_path, char *err, size_t errsz);

/* Take <path>.lock (flock, exclusive; created 0600) so that two changes of
 * the password file (venuegw device, venuegw provision) do not lose one
 * another's entries.  Returns the descriptor to close when done, or
 * VG_ERR_IO (negative) with err set. */
int vg_pwfile_lock(const char *path, char *err, size_t errsz);

/* Free the lines (entries hold hashes: wiped first). */
void vg_pwfile_free(struct vg_pwfile *f);

/* Write len bytes of data to path through a temporary file beside it (fsync,
 * then rename): readers see the old file or the new one, never a part.  The
 * file gets mode, and owner uid:gid unless uid is (uid_t)-1 (then the
 * caller's).  With replace = 0 an existing path is not replaced.  VG_OK, or
 * with "path: why" in err: VG_ERR_IO (cannot write, or exists) or
 * VG_ERR_RANGE (path too long). */
int vg_file_write(const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
                  int replace, char *err, size_t errsz);

#endif
