/* Unit tests for firmware/core/event.c: decode limits, UTF-8, JSON, event
 * keys and time parsing (DESIGN.md §4). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"
#include "event.h"

/* A marker placed in payloads; it must never show up in a detail text. */
#define SECRET "Ana.Lopez"

/* Decode buf[0..len) from an exact-size heap copy, so ASan catches any read
 * past the end (payloads from MQTT are not NUL-terminated). */
static int decode(const void *buf, size_t len, cJSON **out, struct vg_reject *rej)
{
	void *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, buf, len);
	int rc = vg_event_decode(copy, len, out, rej);
	free(copy);
	if (rc != VG_OK) {
		assert_null(*out);
		assert_null(strstr(rej->detail, SECRET));
		assert_true(strlen(rej->detail) > 0);
	}
	return rc;
}

static void expect_reject(const void *buf, size_t len, enum vg_reject_reason reason, long offset)
{
	cJSON *out = (cJSON *)1;
	struct vg_reject rej;
	int rc = decode(buf, len, &out, &rej);
	if (rc == VG_OK)
		cJSON_Delete(out);
	assert_int_equal(rc, VG_ERR_INVAL);
	if (rej.reason != reason || rej.offset != offset)
		fail_msg("%zu-byte input: got %s at %ld, want %s at %ld", len,
		         vg_reject_name(rej.reason), rej.offset, vg_reject_name(reason), offset);
}

static void expect_ok(const void *buf, size_t len)
{
	cJSON *out = NULL;
	struct vg_reject rej;
	int rc = decode(buf, len, &out, &rej);
	if (rc != VG_OK)
		fail_msg("rejected: %s at %ld (%s)", vg_reject_name(rej.reason), rej.offset,
		         rej.detail);
	assert_true(cJSON_IsObject(out));
	cJSON_Delete(out);
}

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_reject_names(void **state)
{
	static const char *const want[VG_REJ__COUNT] = {
		"none", "too_large", "bad_utf8", "bad_json", "not_object", "too_deep",
		"bad_field", "unknown_type", "contract", "bad_time", "device_mismatch",
		"bad_topic", "too_large_wire", "pii_in_identifier", "undeclared_field",
	};
	(void)state;
	for (int i = 0; i < VG_REJ__COUNT; i++)
		assert_string_equal(vg_reject_name((enum vg_reject_reason)i), want[i]);
	assert_string_equal(vg_reject_name(VG_REJ__COUNT), "unknown");
	assert_string_equal(vg_reject_name((enum vg_reject_reason)-1), "unknown");
}

/* Numbers print as the double they hold: cJSON's 15-digit shortcut turned
 * 5105105105105159 into 5.10510510510516e+15. */
static void test_exact_numbers(void **state)
{
	(void)state;
	static const char *const in[] = { "5105105105105159", "9007199254740993", "9007199254740992",
	                                  "0.1", "1250", "-4111111111111111", "3.141592653589793", "1e300",
	                                  "0.30000000000000004" };
	static const char *const want[] = { "5105105105105159", "9007199254740992", "9007199254740992",
	                                    "0.1", "1250", "-4111111111111111", "3.141592653589793", "1e+300",
	                                    "0.30000000000000004" };
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		char json[96];
		snprintf(json, sizeof json, "{\"n\":[%s]}", in[i]);
		cJSON *t = cJSON_Parse(json);
		assert_non_null(t);
		assert_int_equal(vg_json_exact_numbers(t), VG_OK);
		char *out = cJSON_PrintUnformatted(t);
		char expect_text[96];
		snprintf(expect_text, sizeof expect_text, "{\"n\":[%s]}", want[i]);
		if (strcmp(out, expect_text) != 0)
			fail_msg("%s printed as %s", in[i], out);
		/* and it reads back as the same double */
		cJSON *back = cJSON_Parse(out), *orig = cJSON_Parse(json);
		assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(back, "n"), 0)->valuedouble ==
		            cJSON_GetArrayItem(cJSON_GetObjectItem(orig, "n"), 0)->valuedouble);
		cJSON_Delete(back);
		cJSON_Delete(orig);
		cJSON_free(out);
		cJSON_Delete(t);
	}
}

static void test_decode_example(void **state)
{
	static const char ex[] =
		"{\n"
		"  \"id\": \"0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7\",\n"
		"  \"type\": \"checkin.scanned\",\n"
		"  \"occurred_at\": \"2026-11-28T18:03:12.123+01:00\",\n"
		"  \"seq\": 1842,\n"
		"  \"person\": { \"email\": \" Ana.Lopez@Example.com \", \"phone\": \"+34 612 345 678\",\n"
		"              \"customer_id\": \"MB-88121\", \"loyalty_id\": \"L-4410\" },\n"
		"  \"consent\": { \"marketing_email\": true, \"marketing_sms\": false, \"source\": \"kiosk-2\" },\n"
		"  \"properties\": { \"class_id\": \"spin-0900\", \"location\": \"studio-b\" }\n"
		"}\n";
	cJSON *out = NULL;
	struct vg_reject rej;
	(void)state;
	assert_int_equal(decode(S(ex), &out, &rej), VG_OK);
	assert_string_equal(cJSON_GetObjectItem(out, "type")->valuestring, "checkin.scanned");
	assert_int_equal(cJSON_GetObjectItem(out, "seq")->valueint, 1842);
	cJSON_Delete(out);
}

/* A valid object of exactly n bytes: {"pad":"xxx…"}. */
static char *padded(size_t n)
{
	char *b = malloc(n);
	assert_non_null(b);
	assert_true(n >= 10);
	memcpy(b, "{\"pad\":\"", 8);
	memset(b + 8, 'x', n - 10);
	memcpy(b + n - 2, "\"}", 2);
	return b;
}

static void test_decode_size(void **state)
{
	(void)state;
	char *b = padded(VG_EVENT_MAX_BYTES);
	expect_ok(b, VG_EVENT_MAX_BYTES);
	free(b);
	b = padded(VG_EVENT_MAX_BYTES + 1);
	expect_reject(b, VG_EVENT_MAX_BYTES + 1, VG_REJ_TOO_LARGE, -1);
	free(b);
}

/* {"a": followed by n nested arrays: total depth n + 1. */
static char *nested(int n, size_t *len)
{
	char *b = malloc((size_t)(2 * n + 16));
	size_t o = 0;
	assert_non_null(b);
	memcpy(b, "{\"a\":", 5);
	o = 5;
	for (int i = 0; i < n; i++)
		b[o++] = '[';
	for (int i = 0; i < n; i++)
		b[o++] = ']';
	b[o++] = '}';
	*len = o;
	return b;
}

static void test_decode_depth(void **state)
{
	size_t len;
	char *b;
	(void)state;
	b = nested(VG_EVENT_MAX_DEPTH - 1, &len); /* depth 16 */
	expect_ok(b, len);
	free(b);
	b = nested(VG_EVENT_MAX_DEPTH, &len); /* depth 17: the 16th '[' is at 5 + 15 */
	expect_reject(b, len, VG_REJ_TOO_DEEP, 5 + 15);
	free(b);

	/* Objects count like arrays. */
	char obj[256];
	size_t o = 0;
	for (int i = 0; i < 16; i++)
		o += (size_t)sprintf(obj + o, "{\"k\":");
	o += (size_t)sprintf(obj + o, "1");
	for (int i = 0; i < 16; i++)
		obj[o++] = '}';
	expect_ok(obj, o);
	o = 0;
	for (int i = 0; i < 17; i++)
		o += (size_t)sprintf(obj + o, "{\"k\":");
	o += (size_t)sprintf(obj + o, "1");
	for (int i = 0; i < 17; i++)
		obj[o++] = '}';
	expect_reject(obj, o, VG_REJ_TOO_DEEP, 16 * 5);

	/* Brackets inside strings do not count, escaped quotes stay inside. */
	expect_ok(S("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{\"}"));
	expect_ok(S("{\"a\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"}"));
	/* An escaped backslash ends before the quote: the brackets after it count. */
	expect_reject(S("{\"a\":\"\\\\\",\"b\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}"),
	              VG_REJ_TOO_DEEP, 14 + 15);

	/* Very deep input is refused without recursion (cJSON never sees it). */
	size_t big = 60000;
	char *deep = malloc(big);
	assert_non_null(deep);
	deep[0] = '{';
	memset(deep + 1, '[', big - 1);
	expect_reject(deep, big, VG_REJ_TOO_DEEP, 16);
	free(deep);
}

struct utf8_case {
	const char *bytes;
	size_t len;
	long offset; /* -1: valid */
};

static void test_decode_utf8(void **state)
{
	/* Each is put inside {"a":"…"}; offsets are into the sequence. */
	static const struct utf8_case cases[] = {
		{ "\xE2\x82\xAC", 3, -1 },          /* € */
		{ "\xF0\x9F\x98\x80", 4, -1 },      /* U+1F600 */
		{ "\xF4\x8F\xBF\xBF", 4, -1 },      /* U+10FFFF */
		{ "\xED\x9F\xBF", 3, -1 },          /* U+D7FF */
		{ "\xEE\x80\x80", 3, -1 },          /* U+E000 */
		{ "\xC2\x80", 2, -1 },              /* U+0080 */
		{ "ab\x80", 3, 2 },                 /* lone continuation byte */
		{ "\xC0\x80", 2, 0 },               /* overlong NUL */
		{ "\xC1\xBF", 2, 0 },               /* overlong */
		{ "x\xE0\x80\x80", 4, 1 },          /* overlong 3-byte */
		{ "\xE0\x9F\xBF", 3, 0 },           /* overlong 3-byte */
		{ "\xF0\x80\x80\x80", 4, 0 },       /* overlong 4-byte */
		{ "\xF0\x8F\xBF\xBF", 4, 0 },       /* overlong 4-byte */
		{ "\xED\xA0\x80", 3, 0 },           /* U+D800 surrogate */
		{ "ok\xED\xBF\xBF", 5, 2 },         /* U+DFFF surrogate */
		{ "\xF4\x90\x80\x80", 4, 0 },       /* U+110000 */
		{ "\xF5\x80\x80\x80", 4, 0 },       /* never valid */
		{ "\xFF", 1, 0 },                   /* never valid */
		{ "\xE2\x28\xA1", 3, 0 },           /* bad second byte */
		{ "\xE2\x82\x28", 3, 0 },           /* bad third byte */
		{ "\xF0\x9F\x98", 3, 0 },           /* truncated before the quote */
		{ "a\x00" "b", 3, 1 },              /* NUL byte */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char b[64];
		size_t n = 0;
		memcpy(b, "{\"a\":\"", 6);
		n = 6;
		memcpy(b + n, cases[i].bytes, cases[i].len);
		n += cases[i].len;
		memcpy(b + n, "\"}", 2);
		n += 2;
		if (cases[i].offset < 0)
			expect_ok(b, n);
		else
			expect_reject(b, n, VG_REJ_BAD_UTF8, 6 + cases[i].offset);
	}
	/* Truncated at the very end of the payload. */
	expect_reject(S("{}\xE2\x82"), VG_REJ_BAD_UTF8, 2);
	/* A NUL right after the object is not "trailing whitespace". */
	expect_reject("{}\0", 3, VG_REJ_BAD_UTF8, 2);
	/* U+0000 as an escape would cut keys and values short. */
	expect_reject(S("{\"email\\u0000x\":\"" SECRET "\"}"), VG_REJ_BAD_UTF8, 7);
	/* An escaped backslash before u0000 is plain text. */
	expect_ok(S("{\"a\":\"\\\\u0000\"}"));
}

static void test_decode_json(void **state)
{
	(void)state;
	expect_reject("", 0, VG_REJ_BAD_JSON, 0);
	expect_reject(NULL, 0, VG_REJ_BAD_JSON, 0);
	expect_reject(S("   \n"), VG_REJ_BAD_JSON, 3);
	expect_reject(S("{\"a\":}"), VG_REJ_BAD_JSON, 5);
	expect_reject(S("{\"a\" 1}"), VG_REJ_BAD_JSON, 5);
	expect_reject(S("{\"a\":1"), VG_REJ_BAD_JSON, 5);
	expect_reject(S("{\"a\":\"" SECRET), VG_REJ_BAD_JSON, 6);
	expect_reject(S("{\"a\":\"\\ud800\"}"), VG_REJ_BAD_JSON, 6); /* lone surrogate */
	/* Trailing garbage. */
	expect_reject(S("{\"a\":1} x"), VG_REJ_BAD_JSON, 8);
	expect_reject(S("{\"a\":1}{}"), VG_REJ_BAD_JSON, 7);
	expect_reject(S("{}," SECRET), VG_REJ_BAD_JSON, 2);
	/* Whitespace around the object is fine. */
	expect_ok(S(" \t\r\n{\"a\":1} \t\r\n"));
	expect_ok(S("{}"));
	/* Not an object. */
	expect_reject(S("[1,2]"), VG_REJ_NOT_OBJECT, 0);
	expect_reject(S("  \"" SECRET "\""), VG_REJ_NOT_OBJECT, 2);
	expect_reject(S("42"), VG_REJ_NOT_OBJECT, 0);
	expect_reject(S("null"), VG_REJ_NOT_OBJECT, 0);
	expect_reject(S("true"), VG_REJ_NOT_OBJECT, 0);
}

/* ---- event keys ---------------------------------------------------------- */

static void test_key_vectors(void **state)
{
	static const char id[] = "0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7";
	static const char seq[] = "3:1842";
	char k[VG_EVENT_KEY_LEN + 1];
	(void)state;
	vg_event_key("berlin-mitte-01", "pos-1", "id", id, strlen(id), k);
	assert_string_equal(k, "oGhTCF87acP04DyyngmX1A");
	vg_event_key("berlin-mitte-01", "scanner-1", "seq", seq, strlen(seq), k);
	assert_string_equal(k, "X4PaaMTzvIzL67_LlrJ2mg");
	assert_int_equal(strlen(k), VG_EVENT_KEY_LEN);
}

static void test_key_body(void **state)
{
	static const char p1[] = "{\"type\":\"device.status\",\"up\":1}";
	static const char p2[] = "{\"type\":\"device.status\",\"up\":2}";
	uint8_t d1[32], d2[32], want[32];
	char k1[VG_EVENT_KEY_LEN + 1], k1b[VG_EVENT_KEY_LEN + 1], k2[VG_EVENT_KEY_LEN + 1];
	char kw[VG_EVENT_KEY_LEN + 1];
	struct vg_lphash h;
	(void)state;

	vg_sha256(p1, strlen(p1), d1);
	vg_sha256(p2, strlen(p2), d2);
	vg_event_key("berlin-mitte-01", "pos-1", "body", d1, 32, k1);
	vg_event_key("berlin-mitte-01", "pos-1", "body", d1, 32, k1b);
	vg_event_key("berlin-mitte-01", "pos-1", "body", d2, 32, k2);
	assert_string_equal(k1, k1b);          /* a retransmission has the same key */
	assert_string_not_equal(k1, k2);       /* another payload does not */
	assert_int_equal(strlen(k1), VG_EVENT_KEY_LEN);

	/* The value is the raw 32-byte digest, not its hex or base64. */
	vg_lphash_start(&h);
	vg_lphash_add_str(&h, "venuegw-event-v1");
	vg_lphash_add_str(&h, "berlin-mitte-01");
	vg_lphash_add_str(&h, "pos-1");
	vg_lphash_add_str(&h, "body");
	vg_lphash_add(&h, d1, 32);
	vg_lphash_finish(&h, want);
	vg_b64url(want, 16, kw);
	assert_string_equal(k1, kw);

	/* The parts are length-prefixed: moving bytes between them changes the key. */
	vg_event_key("berlin-mitte-01", "pos-1", "id", "x", 1, k1);
	vg_event_key("berlin-mitte-0", "1pos-1", "id", "x", 1, k2);
	assert_string_not_equal(k1, k2);
	/* Another device, same id: another key. */
	vg_event_key("berlin-mitte-01", "pos-2", "id", "x", 1, k2);
	assert_string_not_equal(k1, k2);
}

/* ---- time ---------------------------------------------------------------- */

struct time_case {
	const char *in;
	int ok;
	int has_offset;
	const char *utc; /* vg_time_format of the result */
};

static void test_time_parse(void **state)
{
	static const struct time_case cases[] = {
		{ "2026-11-28T18:03:12.123+01:00", 1, 1, "2026-11-28T17:03:12.123Z" },
		{ "2026-11-28T18:03:12.123+0100", 1, 1, "2026-11-28T17:03:12.123Z" },
		{ "2026-11-28T18:03:12Z", 1, 1, "2026-11-28T18:03:12.000Z" },
		{ "2026-11-28 18:03:12Z", 1, 1, "2026-11-28T18:03:12.000Z" },
		{ "2026-11-28T18:03:12.1Z", 1, 1, "2026-11-28T18:03:12.100Z" },
		{ "2026-11-28T18:03:12.12Z", 1, 1, "2026-11-28T18:03:12.120Z" },
		{ "2026-11-28T18:03:12.123456789Z", 1, 1, "2026-11-28T18:03:12.123Z" },
		{ "2026-11-28T18:03:12.9999Z", 1, 1, "2026-11-28T18:03:12.999Z" },
		{ "2026-11-28T00:10:00-05:30", 1, 1, "2026-11-28T05:40:00.000Z" },
		{ "2026-01-01T00:30:00+01:00", 1, 1, "2025-12-31T23:30:00.000Z" },
		{ "2026-12-31T23:30:00-01:00", 1, 1, "2027-01-01T00:30:00.000Z" },
		{ "2026-11-28T18:03:12+14:00", 1, 1, "2026-11-28T04:03:12.000Z" },
		{ "2026-11-28T18:03:12-14:00", 1, 1, "2026-11-29T08:03:12.000Z" },
		{ "2026-11-28T18:03:12-00:00", 1, 1, "2026-11-28T18:03:12.000Z" },
		{ "1970-01-01T00:00:00Z", 1, 1, "1970-01-01T00:00:00.000Z" },
		{ "1969-12-31T23:59:59.999Z", 1, 1, "1969-12-31T23:59:59.999Z" },
		{ "2000-02-29T12:00:00Z", 1, 1, "2000-02-29T12:00:00.000Z" },
		{ "2024-02-29T12:00:00Z", 1, 1, "2024-02-29T12:00:00.000Z" },
		{ "2038-01-19T03:14:08Z", 1, 1, "2038-01-19T03:14:08.000Z" },
		{ "9999-12-31T23:59:59.999Z", 1, 1, "9999-12-31T23:59:59.999Z" },
		{ "2026-11-28T18:03:12.123", 1, 0, "2026-11-28T18:03:12.123Z" },
		{ "2026-11-28T18:03:12", 1, 0, "2026-11-28T18:03:12.000Z" },
		/* refused */
		{ "2026-13-01T00:00:00Z", 0, 0, NULL },
		{ "2026-00-01T00:00:00Z", 0, 0, NULL },
		{ "2026-02-30T00:00:00Z", 0, 0, NULL },
		{ "2026-02-29T00:00:00Z", 0, 0, NULL },
		{ "1900-02-29T00:00:00Z", 0, 0, NULL },
		{ "2026-04-31T00:00:00Z", 0, 0, NULL },
		{ "2026-01-00T00:00:00Z", 0, 0, NULL },
		{ "2026-11-28T24:00:00Z", 0, 0, NULL },
		{ "2026-11-28T23:60:00Z", 0, 0, NULL },
		{ "2026-11-28T23:59:60Z", 0, 0, NULL },
		{ "2026-11-28T18:03:12+14:01", 0, 0, NULL },
		{ "2026-11-28T18:03:12-15:00", 0, 0, NULL },
		{ "2026-11-28T18:03:12+01:60", 0, 0, NULL },
		{ "2026-11-28T18:03:12+1", 0, 0, NULL },
		{ "2026-11-28T18:03:12+01:0", 0, 0, NULL },
		{ "2026-11-28T18:03:12+010", 0, 0, NULL },
		{ "2026-11-28T18:03:12+01:00x", 0, 0, NULL },
		{ "2026-11-28T18:03:12Zx", 0, 0, NULL },
		{ "2026-11-28T18:03:12 ", 0, 0, NULL },
		{ "2026-11-28T18:03:12.Z", 0, 0, NULL },
		{ "2026-11-28T18:03:12.", 0, 0, NULL },
		{ "2026-11-28T18:03:12z", 0, 0, NULL },
		{ "2026-11-28t18:03:12Z", 0, 0, NULL },
		{ "2026-11-28T18:03Z", 0, 0, NULL },
		{ "2026-11-28", 0, 0, NULL },
		{ "26-11-28T18:03:12Z", 0, 0, NULL },
		{ "2026/11/28T18:03:12Z", 0, 0, NULL },
		{ "+2026-11-28T18:03:12Z", 0, 0, NULL },
		{ "2026-1-28T18:03:12Z", 0, 0, NULL },
		{ "2026-11-28T18:03:12.123456789Z", 1, 1, "2026-11-28T18:03:12.123Z" },
		/* more than nanoseconds: refused (a card number could hide there) */
		{ "2026-11-28T18:03:12.4111111111111111Z", 0, 0, NULL },
		{ "", 0, 0, NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -7;
		int has = -7;
		char out[25];
		int rc = vg_time_parse(cases[i].in, &ms, &has);
		if (!cases[i].ok) {
			if (rc != VG_ERR_INVAL)
				fail_msg("accepted \"%s\"", cases[i].in);
			continue;
		}
		if (rc != VG_OK)
			fail_msg("refused \"%s\"", cases[i].in);
		assert_int_equal(has, cases[i].has_offset);
		vg_time_format(ms, out);
		assert_string_equal(out, cases[i].utc);
	}
	assert_int_equal(vg_time_parse(NULL, NULL, NULL), VG_ERR_INVAL);
}

static void test_time_epoch(void **state)
{
	int64_t ms;
	int has;
	(void)state;
	assert_int_equal(vg_time_parse("1970-01-01T00:00:00Z", &ms, &has), VG_OK);
	assert_int_equal(ms, 0);
	assert_int_equal(vg_time_parse("2026-11-28T18:03:12.123+01:00", &ms, &has), VG_OK);
	assert_int_equal(ms, INT64_C(1795885392123));
	assert_int_equal(vg_time_parse("1969-12-31T23:59:59.999Z", &ms, &has), VG_OK);
	assert_int_equal(ms, -1);
	/* Round trip over a span of days, including leap days. */
	for (int64_t t = INT64_C(-86400000) * 800; t < INT64_C(86400000) * 40000;
	     t += INT64_C(86400000) * 13 + 3600007) {
		char out[25];
		vg_time_format(t, out);
		assert_int_equal(vg_time_parse(out, &ms, &has), VG_OK);
		assert_int_equal(ms, t);
		assert_int_equal(has, 1);
	}
}

static void test_time_format_clamp(void **state)
{
	char out[25];
	(void)state;
	vg_time_format(INT64_MIN, out);
	assert_string_equal(out, "0000-01-01T00:00:00.000Z");
	vg_time_format(INT64_MAX, out);
	assert_string_equal(out, "9999-12-31T23:59:59.999Z");
	vg_time_format(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reject_names),
		cmocka_unit_test(test_exact_numbers),
		cmocka_unit_test(test_decode_example),
		cmocka_unit_test(test_decode_size),
		cmocka_unit_test(test_decode_depth),
		cmocka_unit_test(test_decode_utf8),
		cmocka_unit_test(test_decode_json),
		cmocka_unit_test(test_key_vectors),
		cmocka_unit_test(test_key_body),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_time_epoch),
		cmocka_unit_test(test_time_format_clamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
