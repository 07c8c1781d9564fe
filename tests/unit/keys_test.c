/* Unit tests: token key files (firmware/core/keys.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "keys.h"

#define K1_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2_HEX "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"

static int parse(struct vg_keyring *kr, const char *text, char *err, size_t errsz)
{
	return vg_keyring_parse(kr, text, strlen(text), "keys.conf", err, errsz);
}

static void test_k1_bytes(void **state)
{
	(void)state;
	struct vg_keyring kr;
	char err[256];
	assert_int_equal(parse(&kr, "1 " K1_HEX "\n", err, sizeof(err)), VG_OK);
	assert_int_equal(kr.n, 1);
	assert_int_equal(kr.keys[0].version, 1);
	assert_int_equal(kr.keys[0].activate_at, 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(kr.keys[0].bytes[i], i);
	/* Upper-case hex, no trailing newline. */
	assert_int_equal(parse(&kr, "7 " K2_HEX, err, sizeof(err)), VG_OK);
	assert_int_equal(kr.keys[0].version, 7);
	assert_int_equal(kr.keys[0].bytes[0], 0xa0);
	assert_int_equal(kr.keys[0].bytes[31], 0xbf);
	vg_keyring_wipe(&kr);
}

static void test_comments_blank_lines(void **state)
{
	(void)state;
	struct vg_keyring kr;
	char err[256];
	const char *text =
		"# venuegw token keys\n"
		"\n"
		"   \t\n"
		"2 " K2_HEX "   # rotated in 2026\r\n"
		"  # indented comment\n"
		"\t1\t" K1_HEX "\r\n"
		"#3 " K1_HEX "\n";
	assert_int_equal(parse(&kr, text, err, sizeof(err)), VG_OK);
	assert_int_equal(kr.n, 2);
	/* Sorted by version. */
	assert_int_equal(kr.keys[0].version, 1);
	assert_int_equal(kr.keys[1].version, 2);
	assert_int_equal(kr.keys[0].bytes[1], 0x01);
	assert_int_equal(kr.keys[1].bytes[1], 0xa1);
	vg_keyring_wipe(&kr);
}

static void test_activate_at(void **state)
{
	(void)state;
	static const struct {
		const char *iso;
		int64_t t;
	} v[] = {
		{ "2026-01-01T00:00:00Z", 1767225600 },
		{ "2026-01-01T00:00:00+01:00", 1767222000 },
		{ "2026-01-01T00:00:00.250+0100", 1767222000 },
		{ "2024-02-29T12:00:00+05:30", 1709188200 },
		{ "1970-01-01T01:00:00Z", 3600 },
		{ "2100-03-01T00:00:00z", 4107542400 },
		{ "2026-01-01T01:00+01", 1767225600 },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct vg_keyring kr;
		char text[256], err[256];
		snprintf(text, sizeof(text), "1 %s activate_at=%s\n", K1_HEX, v[i].iso);
		assert_int_equal(parse(&kr, text, err, sizeof(err)), VG_OK);
		assert_int_equal(kr.keys[0].activate_at, v[i].t);
	}
}

static void test_bad_lines(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *msg;   /* expected error message prefix */
	} v[] = {
		{ "1 " K1_HEX "\n1 " K2_HEX "\n", "keys.conf:2: duplicate key version 1" },
		{ "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n",
		  "keys.conf:1: key must be exactly 64 hex digits" },
		{ "# c\n1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
		  "keys.conf:2: key must be exactly 64 hex digits" },
		{ "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eZZ\n",
		  "keys.conf:1: key must be exactly 64 hex digits" },
		{ "1\n", "keys.conf:1: missing key" },
		{ "0 " K1_HEX "\n", "keys.conf:1: key version must be" },
		{ "1000000 " K1_HEX "\n", "keys.conf:1: key version must be" },
		{ "v1 " K1_HEX "\n", "keys.conf:1: key version must be" },
		{ "-1 " K1_HEX "\n", "keys.conf:1: key version must be" },
		{ "1 " K1_HEX " extra\n", "keys.conf:1: unexpected field" },
		{ "1 " K1_HEX " activate_at=2026-01-01T00:00:00\n", "keys.conf:1: activate_at" },
		{ "1 " K1_HEX " activate_at=2026-02-30T00:00:00Z\n", "keys.conf:1: activate_at" },
		{ "1 " K1_HEX " activate_at=2026-01-01 00:00:00Z\n", "keys.conf:1: activate_at" },
		{ "1 " K1_HEX " activate_at=2026-01-01T24:00:00Z\n", "keys.conf:1: activate_at" },
		{ "1 " K1_HEX " activate_at=2026-01-01T00:00:00+1:00\n", "keys.conf:1: activate_at" },
		{ "1 " K1_HEX " activate_at=2026-01-01T00:00:00Z x\n", "keys.conf:1: unexpected field" },
		{ "", "keys.conf: no keys" },
		{ "# only a comment\n\n", "keys.conf: no keys" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct vg_keyring kr;
		char err[256];
		assert_int_equal(parse(&kr, v[i].text, err, sizeof(err)), VG_ERR_CONFIG);
		if (strncmp(err, v[i].msg, strlen(v[i].msg)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s…\"", i, err, v[i].msg);
		/* The message never quotes key material. */
		assert_null(strstr(err, "0001020304"));
		assert_null(strstr(err, "A0A1A2"));
		assert_null(strstr(err, "1e1f"));
		/* A failed parse leaves nothing behind. */
		assert_int_equal(kr.n, 0);
		for (size_t k = 0; k < sizeof(kr.keys); k++)
			assert_int_equal(((const unsigned char *)kr.keys)[k], 0);
	}
}

static void test_too_many_keys(void **state)
{
	(void)state;
	char text[128 * (VG_KEYRING_MAX + 2)];
	size_t o = 0;
	for (int v = 1; v <= VG_KEYRING_MAX; v++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%d %s\n", v, K1_HEX);
	struct vg_keyring kr;
	char err[256];
	assert_int_equal(vg_keyring_parse(&kr, text, o, "k", err, sizeof(err)), VG_OK);
	assert_int_equal(kr.n, VG_KEYRING_MAX);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "%d %s\n", VG_KEYRING_MAX + 1, K1_HEX);
	assert_int_equal(vg_keyring_parse(&kr, text, o, "k", err, sizeof(err)), VG_ERR_CONFIG);
	assert_string_equal(err, "k:17: too many keys (at most 16)");
}

static void test_small_err_buffer(void **state)
{
	(void)state;
	struct vg_keyring kr;
	char err[8];
	assert_int_equal(parse(&kr, "x\n", err, sizeof(err)), VG_ERR_CONFIG);
	assert_string_equal(err, "keys.co");
	assert_int_equal(parse(&kr, "x\n", NULL, 0), VG_ERR_CONFIG);
}

static void test_current_previous(void **state)
{
	(void)state;
	/* v1 always; v2 from 2026-01-01; v3 from 2026-06-01 (UTC). */
	const char *text =
		"3 " K1_HEX " activate_at=2026-06-01T02:00:00+02:00\n"
		"1 " K1_HEX "\n"
		"2 " K2_HEX " activate_at=2026-01-01T00:00:00Z\n";
	const int64_t t2 = 1767225600, t3 = 1780272000;
	struct vg_keyring kr;
	char err[256];
	assert_int_equal(parse(&kr, text, err, sizeof(err)), VG_OK);
	assert_int_equal(kr.keys[2].activate_at, t3);

	const struct vg_key *cur = vg_keyring_current(&kr, t2 - 1);
	assert_non_null(cur);
	assert_int_equal(cur->version, 1);
	assert_null(vg_keyring_previous(&kr, t2 - 1));

	cur = vg_keyring_current(&kr, t2);
	assert_int_equal(cur->version, 2);
	assert_int_equal(vg_keyring_previous(&kr, t2)->version, 1);

	/* v3's activate_at is still in the future: not current. */
	cur = vg_keyring_current(&kr, t3 - 1);
	assert_int_equal(cur->version, 2);

	cur = vg_keyring_current(&kr, t3);
	assert_int_equal(cur->version, 3);
	assert_int_equal(vg_keyring_previous(&kr, t3)->version, 2);
	assert_int_equal(vg_keyring_previous(&kr, t3 + 86400 * 365)->version, 2);
}

static void test_none_current(void **state)
{
	(void)state;
	struct vg_keyring kr;
	char err[256];
	assert_int_equal(parse(&kr, "4 " K1_HEX " activate_at=2030-01-01T00:00:00Z\n", err,
	                       sizeof(err)), VG_OK);
	assert_null(vg_keyring_current(&kr, 1767225600));
	assert_null(vg_keyring_previous(&kr, 1767225600));
	assert_int_equal(vg_keyring_current(&kr, 1893456000)->version, 4);
	assert_null(vg_keyring_current(NULL, 0));
	kr.n = 0;
	assert_null(vg_keyring_current(&kr, 0));
}

static void test_wipe(void **state)
{
	(void)state;
	struct vg_keyring kr;
	char err[256];
	assert_int_equal(parse(&kr, "1 " K2_HEX "\n2 " K2_HEX "\n", err, sizeof(err)), VG_OK);
	vg_keyring_wipe(&kr);
	assert_int_equal(kr.n, 0);
	for (size_t k = 0; k < sizeof(kr.keys); k++)
		assert_int_equal(((const unsigned char *)kr.keys)[k], 0);
	vg_keyring_wipe(NULL);
}

static void test_load(void **state)
{
	(void)state;
	char path[] = "/tmp/vg_keys_test_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char text[] = "# keys\n1 " K1_HEX "\n2 " K2_HEX " activate_at=2026-01-01T00:00:00Z\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);

	struct vg_keyring kr;
	char err[256];
	assert_int_equal(vg_keyring_load(&kr, path, err, sizeof(err)), VG_OK);
	assert_int_equal(kr.n, 2);
	assert_int_equal(vg_keyring_current(&kr, 1767225600)->version, 2);

	/* Errors name the path. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("1 " K1_HEX "\n1 " K1_HEX "\n", f);
	fclose(f);
	assert_int_equal(vg_keyring_load(&kr, path, err, sizeof(err)), VG_ERR_CONFIG);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: duplicate key version 1", path);
	assert_string_equal(err, want);

	/* Over 64 KiB. */
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 70 * 1024 / 8; i++)
		fputs("#comment\n", f);
	fclose(f);
	assert_int_equal(vg_keyring_load(&kr, path, err, sizeof(err)), VG_ERR_CONFIG);
	assert_non_null(strstr(err, "64 KiB"));

	unlink(path);
	assert_int_equal(vg_keyring_load(&kr, path, err, sizeof(err)), VG_ERR_IO);
	assert_non_null(strstr(err, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_k1_bytes),
		cmocka_unit_test(test_comments_blank_lines),
		cmocka_unit_test(test_activate_at),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_too_many_keys),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_current_previous),
		cmocka_unit_test(test_none_current),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
