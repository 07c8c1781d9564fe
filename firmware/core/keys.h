/* venuegw — token keys (DESIGN.md §5).
 *
 * The key file holds one key per line:
 *     <version> <64 hex digits> [activate_at=<ISO 8601 with offset>]
 * '#' starts a comment; blank lines are ignored.  The current key is the
 * highest version whose activate_at has passed (no activate_at: always
 * active).  Keys are secrets: they are never logged, and vg_keyring_wipe()
 * zeroes them. */
#ifndef VG_KEYS_H
#define VG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define VG_KEYRING_MAX 16

struct vg_key {
	unsigned version;       /* 1..999999 */
	uint8_t bytes[32];
	int64_t activate_at;    /* Unix seconds; 0 = active from the start */
};

/* Plain data: callers may keep one on the stack or embed it. */
struct vg_keyring {
	struct vg_key keys[VG_KEYRING_MAX];
	size_t n;               /* sorted by version, ascending */
};

/* Parse key-file text.  name is used in error messages only.
 * Returns VG_OK, or VG_ERR_CONFIG with "name:line: what is wrong" in err
 * (never the key material).  Duplicate versions are an error. */
int vg_keyring_parse(struct vg_keyring *kr, const char *text, size_t len,
                     const char *name, char *err, size_t errsz);

/* Read and parse the file at path (at most 64 KiB).  VG_ERR_IO if it cannot
 * be read, else as vg_keyring_parse().  The read buffer is wiped. */
int vg_keyring_load(struct vg_keyring *kr, const char *path, char *err, size_t errsz);

/* The key in force at now (Unix seconds), or NULL when none is. Borrowed. */
const struct vg_key *vg_keyring_current(const struct vg_keyring *kr, int64_t now);

/* The key that was current before the current one, or NULL. Borrowed. */
const struct vg_key *vg_keyring_previous(const struct vg_keyring *kr, int64_t now);

/* Zero all key material. */
void vg_keyring_wipe(struct vg_keyring *kr);

#endif
