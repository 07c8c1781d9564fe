/* firmware/core/digest.c: HMAC-SHA256 with the key's padded blocks hashed
 * once and kept per key (vg_hmac_sha256): RFC 4231's vectors, the same
 * results as mbedTLS's own HMAC for many keys (more than it keeps, so keys
 * are evicted and hashed again) and messages in parts, and vg_hmac_forget. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <mbedtls/md.h>

#include "digest.h"

static void reference(const uint8_t *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
	assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, keylen, msg, n, out), 0);
}

static void hmac1(const uint8_t *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
	const void *parts[1] = { msg };
	size_t lens[1] = { n };
	vg_hmac_sha256(key, keylen, parts, lens, 1, out);
}

static void test_rfc4231(void **state)
{
	(void)state;
	/* Test case 2: key "Jefe", "what do ya want for nothing?". */
	uint8_t out[32];
	char hex[65];
	hmac1((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, out);
	vg_hex(out, 32, hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* Test case 6: a 131-byte key (longer than a block: hashed first). */
	uint8_t key[131];
	memset(key, 0xaa, sizeof key);
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	hmac1(key, sizeof key, msg, strlen(msg), out);
	vg_hex(out, 32, hex);
	assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_same_as_mbedtls_for_many_keys_and_parts(void **state)
{
	(void)state;
	uint8_t key[64], msg[300], want[32], got[32];
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < 9; k++) {          /* more keys than are kept */
			size_t keylen = k == 8 ? 64 : 32;
			for (size_t i = 0; i < sizeof key; i++)
				key[i] = (uint8_t)(k * 31 + i);
			for (size_t n = 0; n < sizeof msg; n += 37) {
				for (size_t i = 0; i < n; i++)
					msg[i] = (uint8_t)(i * 7 + k + round);
				reference(key, keylen, msg, n, want);
				/* In three parts, as the token and digest code calls it. */
				const void *parts[3] = { msg, msg + n / 3, msg + 2 * (n / 3) };
				size_t lens[3] = { n / 3, n / 3, n - 2 * (n / 3) };
				vg_hmac_sha256(key, keylen, parts, lens, 3, got);
				assert_memory_equal(got, want, 32);
			}
		}
	}
	/* Forgetting the kept states changes no result. */
	vg_hmac_forget();
	reference(key, 32, msg, 100, want);
	hmac1(key, 32, msg, 100, got);
	assert_memory_equal(got, want, 32);
	/* A key differing in one byte is another key. */
	key[31] ^= 1;
	hmac1(key, 32, msg, 100, got);
	assert_memory_not_equal(got, want, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231),
		cmocka_unit_test(test_same_as_mbedtls_for_many_keys_and_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
