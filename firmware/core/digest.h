/* venuegw — hashing helpers shared by event keys, tokens and batch keys.
 * Thin wrappers over mbedTLS; pure. */
#ifndef VG_DIGEST_H
#define VG_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* base64url without padding of in[0..n) into out, NUL-terminated (out needs
 * (4*n+2)/3 + 1 bytes).  Returns the length written (without the NUL). */
size_t vg_b64url(const uint8_t *in, size_t n, char *out);

/* Lowercase hex of in[0..n) into out (2n+1 bytes). */
void vg_hex(const uint8_t *in, size_t n, char *out);

/* The value of one hex digit (either case), or -1. */
int vg_hexval(char c);

void vg_sha256(const void *in, size_t n, uint8_t out[32]);

/* A SHA-256 over length-prefixed parts: lp(x) = 4-byte big-endian length ‖ x.
 * Start, add parts, finish.  The struct is plain data; do not look inside. */
struct vg_lphash { unsigned char opaque[128] __attribute__((aligned(8))); };
void vg_lphash_start(struct vg_lphash *h);
void vg_lphash_add(struct vg_lphash *h, const void *part, size_t n);
void vg_lphash_add_str(struct vg_lphash *h, const char *s);
void vg_lphash_finish(struct vg_lphash *h, uint8_t out[32]);

/* HMAC-SHA256 of the concatenation of n parts (ptrs[i], lens[i]). */
void vg_hmac_sha256(const uint8_t *key, size_t keylen, const void *const *ptrs,
                    const size_t *lens, size_t n, uint8_t out[32]);

/* Wipe the key states vg_hmac_sha256 keeps (this thread's); vg_keyring_wipe
 * calls it. */
void vg_hmac_forget(void);

/* Zero a buffer in a way the compiler may not elide. */
void vg_wipe(void *p, size_t n);

#endif
