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

void vg_hmac_sha256(const uint8_t *key, size_t keylen, const void *const *ptrs,
                    const size_t *lens, size_t n, uint8_t out[32])
{
	mbedtls_md_context_t md;
	mbedtls_md_init(&md);
	mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
	mbedtls_md_hmac_starts(&md, key, keylen);
	for (size_t i = 0; i < n; i++)
		mbedtls_md_hmac_update(&md, ptrs[i], lens[i]);
	mbedtls_md_hmac_finish(&md, out);
	mbedtls_md_free(&md);
}

void vg_wipe(void *p, size_t n)
{
	mbedtls_platform_zeroize(p, n);
}
