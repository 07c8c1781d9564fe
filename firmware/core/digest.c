#include "digest.h"

#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(struct vg_lphash),
               "vg_lphash too small for mbedtls_sha256_context");

size_t vg_b64url(const uint8_t *in, size_t n, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

int vg_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void vg_hex(const uint8_t *in, size_t n, char *out)
{
	static const char h[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = h[in[i] >> 4];
		out[2 * i + 1] = h[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void vg_sha256(const void *in, size_t n, uint8_t out[32])
{
	mbedtls_sha256_ret(in, n, out, 0);
}

void vg_lphash_start(struct vg_lphash *h)
{
	mbedtls_sha256_context *c = (mbedtls_sha256_context *)h->opaque;
	mbedtls_sha256_init(c);
	mbedtls_sha256_starts_ret(c, 0);
}

void vg_lphash_add(struct vg_lphash *h, const void *part, size_t n)
{
	mbedtls_sha256_context *c = (mbedtls_sha256_context *)h->opaque;
	uint8_t lp[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	mbedtls_sha256_update_ret(c, lp, 4);
	mbedtls_sha256_update_ret(c, part, n);
}

void vg_lphash_add_str(struct vg_lphash *h, const char *s)
{
	vg_lphash_add(h, s, strlen(s));
}

void vg_lphash_finish(struct vg_lphash *h, uint8_t out[32])
{
	mbedtls_sha256_context *c = (mbedtls_sha256_context *)h->opaque;
	mbedtls_sha256_finish_ret(c, out);
	mbedtls_sha256_free(c);
}

/* HMAC-SHA256 (RFC 2104) with the key's padded blocks hashed once: the
 * states after the inner (key ^ 0x36) and outer (key ^ 0x5c) blocks are kept
 * per key, a few keys per thread, so an HMAC of a short message costs two
 * compressions instead of four (tokens and digests on every event).  The
 * kept states are as secret as the key: vg_hmac_forget() wipes them. */
#define HMAC_KEYS 4

struct hmac_pre {
	uint8_t key[64];
	size_t keylen;              /* 0: slot free */
	mbedtls_sha256_context inner, outer;
};

static _Thread_local struct hmac_pre hmac_cache[HMAC_KEYS];
static _Thread_local unsigned hmac_next;

static const struct hmac_pre *hmac_pre(const uint8_t *key, size_t keylen)
{
	for (int i = 0; i < HMAC_KEYS; i++)
		if (hmac_cache[i].keylen == keylen && memcmp(hmac_cache[i].key, key, keylen) == 0)
			return &hmac_cache[i];
	struct hmac_pre *p = &hmac_cache[hmac_next++ % HMAC_KEYS];
	uint8_t ipad[64], opad[64];
	memset(ipad, 0x36, sizeof ipad);
	memset(opad, 0x5c, sizeof opad);
	for (size_t i = 0; i < keylen; i++) {
		ipad[i] ^= key[i];
		opad[i] ^= key[i];
	}
	memcpy(p->key, key, keylen);
	p->keylen = keylen;
	mbedtls_sha256_init(&p->inner);
	mbedtls_sha256_starts_ret(&p->inner, 0);
	mbedtls_sha256_update_ret(&p->inner, ipad, sizeof ipad);
	mbedtls_sha256_init(&p->outer);
	mbedtls_sha256_starts_ret(&p->outer, 0);
	mbedtls_sha256_update_ret(&p->outer, opad, sizeof opad);
	mbedtls_platform_zeroize(ipad, sizeof ipad);
	mbedtls_platform_zeroize(opad, sizeof opad);
	return p;
}

void vg_hmac_sha256(const uint8_t *key, size_t keylen, const void *const *ptrs,
                    const size_t *lens, size_t n, uint8_t out[32])
{
	if (keylen == 0 || keylen > 64) {   /* not our keys (32 bytes): the library's way */
		mbedtls_md_context_t md;
		mbedtls_md_init(&md);
		mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
		mbedtls_md_hmac_starts(&md, key, keylen);
		for (size_t i = 0; i < n; i++)
			mbedtls_md_hmac_update(&md, ptrs[i], lens[i]);
		mbedtls_md_hmac_finish(&md, out);
		mbedtls_md_free(&md);
		return;
	}
	const struct hmac_pre *p = hmac_pre(key, keylen);
	mbedtls_sha256_context c;
	uint8_t ih[32];
	mbedtls_sha256_clone(&c, &p->inner);
	for (size_t i = 0; i < n; i++)
		mbedtls_sha256_update_ret(&c, ptrs[i], lens[i]);
	mbedtls_sha256_finish_ret(&c, ih);
	mbedtls_sha256_clone(&c, &p->outer);
	mbedtls_sha256_update_ret(&c, ih, sizeof ih);
	mbedtls_sha256_finish_ret(&c, out);
	mbedtls_platform_zeroize(&c, sizeof c);
	mbedtls_platform_zeroize(ih, sizeof ih);
}

void vg_hmac_forget(void)
{
	mbedtls_platform_zeroize(hmac_cache, sizeof hmac_cache);
	hmac_next = 0;
}

void vg_wipe(void *p, size_t n)
{
	mbedtls_platform_zeroize(p, n);
}
