/* Unit tests for firmware/core/encode.c: the Segment batch wire format
 * (DESIGN.md §8), checked field by field, the Idempotency-Key and gzip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "buf.h"
#include "encode.h"
#include "err.h"
#include "event.h"
#include "ingest.h"

#define VENUE "berlin-mitte-01"
#define GATEWAY "gw-berlin-1"
#define DEVICE "pos-1"
#define KEY "oGhTCF87acP04DyyngmX1A"
#define EM_TOKEN "v1.em.ggFwkcOp_kspYS3h19Ieyg"
#define PH_TOKEN "v1.ph.c1hpTZSettsaO3x_XM_6tA"
#define PC_TOKEN "v1.pc.jMGSdfAIJv0Xfbe-dxVBUw"
#define EM_SHA256 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
/* 2026-11-28T19:00:00.500Z */
#define RECEIVED_MS INT64_C(1795892400500)
#define RECEIVED_TEXT "2026-11-28T19:00:00.500Z"

static const struct vg_encode_ctx ctx = {
	.venue_id = VENUE,
	.gateway_id = GATEWAY,
	.library_version = "0.1.0",
};

/* vg_encode_text on body[0..n) (appended after a byte already in the
 * buffer): 0 when it leaves the body to the tree (nothing appended), 1 when
 * it took it, and then its bytes are vg_encode_fragment's. */
static struct vg_encode_event event_of(const char *body, size_t n, unsigned flags)
{
	return (struct vg_encode_event){
		.event_key = KEY,
		.device_id = DEVICE,
		.body = body,
		.body_len = n,
		.flags = flags,
		.received_at_ms = RECEIVED_MS,
	};
}

static int text_matches_ev(struct vg_encode_event ev);

static int text_matches(const char *body, size_t n, unsigned flags)
{
	return text_matches_ev(event_of(body, n, flags));
}

static int text_matches_ev(struct vg_encode_event ev)
{
	struct vg_wire_consts wc;
	assert_int_equal(vg_encode_wire_consts(&ctx, &wc), VG_OK);
	struct vg_buf out = VG_BUF_INIT(1 << 20);
	assert_int_equal(vg_buf_add(&out, "[", 1), VG_OK);
	int rc = vg_encode_text(&ctx, &wc, &ev, &out);
	if (rc == VG_ENCODE_TREE) {
		assert_int_equal(out.len, 1);
		assert_string_equal(out.p, "[");
		vg_buf_free(&out);
		return 0;
	}
	assert_int_equal(rc, VG_OK);
	char *frag = NULL;
	size_t len = 0;
	assert_int_equal(vg_encode_fragment(&ctx, &ev, &frag, &len), VG_OK);
	if (out.len - 1 != len || memcmp(out.p + 1, frag, len) != 0)
		fail_msg("the text encoder gave\n%s\nthe tree\n%s", out.p + 1, frag);
	cJSON_free(frag);
	vg_buf_free(&out);
	return 1;
}

/* Encode body (from an exact-size heap copy, not NUL-terminated, so ASan
 * catches reads past body_len) and return the message; fails the test on
 * an error.  The text encoder, when it takes the body, must agree. */
/* vg_message_identity of a printed message is the userId, else the
 * anonymousId, that cJSON reads from it. */
static void identity_matches(const char *msg, size_t len)
{
	cJSON *m = cJSON_ParseWithLength(msg, len);
	assert_non_null(m);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "userId");
	if (!cJSON_IsString(id))
		id = cJSON_GetObjectItemCaseSensitive(m, "anonymousId");
	assert_true(cJSON_IsString(id));
	char out[1024];
	size_t n = 0;
	assert_int_equal(vg_message_identity(msg, len, out, sizeof out, &n), VG_OK);
	assert_int_equal(n, strlen(id->valuestring));
	assert_memory_equal(out, id->valuestring, n);
	cJSON_Delete(m);
}

static cJSON *encode_flags(const char *body, unsigned flags)
{
	size_t n = strlen(body);
	char *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, body, n);
	struct vg_encode_event ev = event_of(copy, n, flags);
	cJSON *msg = NULL;
	int rc = vg_encode_message(&ctx, &ev, &msg);
	text_matches(copy, n, flags);
	free(copy);
	assert_int_equal(rc, VG_OK);
	assert_non_null(msg);
	char *printed = cJSON_PrintUnformatted(msg);
	assert_non_null(printed);
	identity_matches(printed, strlen(printed));
	cJSON_free(printed);
	return msg;
}

static cJSON *encode(const char *body)
{
	return encode_flags(body, 0);
}

static const cJSON *get(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!it)
		fail_msg("no member \"%s\"", name);
	return it;
}

static void assert_str_member(const cJSON *obj, const char *name, const char *want)
{
	const cJSON *it = get(obj, name);
	if (!cJSON_IsString(it))
		fail_msg("\"%s\" is not a string", name);
	assert_string_equal(it->valuestring, want);
}

static void assert_absent(const cJSON *obj, const char *name)
{
	if (cJSON_GetObjectItemCaseSensitive(obj, name))
		fail_msg("unexpected member \"%s\"", name);
}

/* context.externalIds[i] == {id, type, "users", "none"}, exactly 4 members. */
static void assert_external_id(const cJSON *msg, int i, const char *id, const char *type)
{
	const cJSON *ext = get(get(msg, "context"), "externalIds");
	assert_true(cJSON_IsArray(ext));
	const cJSON *e = cJSON_GetArrayItem(ext, i);
	if (!e)
		fail_msg("no externalIds[%d]", i);
	assert_int_equal(cJSON_GetArraySize(e), 4);
	assert_str_member(e, "id", id);
	assert_str_member(e, "type", type);
	assert_str_member(e, "collection", "users");
	assert_str_member(e, "encoding", "none");
}

static int external_id_count(const cJSON *msg)
{
	const cJSON *ext = get(get(msg, "context"), "externalIds");
	assert_true(cJSON_IsArray(ext));
	return cJSON_GetArraySize(ext);
}

/* ---- track messages ----------------------------------------------------- */

/* The plan version the event was captured under (the body's "_plan") goes to
 * context.venuegw.plan, and the member itself never to properties. */
static void test_plan_version(void **state)
{
	(void)state;
	cJSON *msg = encode_flags("{\"type\":\"class.attended\",\"_plan\":\"2026-12-04.1\","
	                          "\"properties\":{\"class_id\":\"spin\"}}", 0);
	assert_str_member(get(get(msg, "context"), "venuegw"), "plan", "2026-12-04.1");
	assert_absent(get(msg, "properties"), "_plan");
	assert_absent(msg, "_plan");
	cJSON_Delete(msg);
}

static void test_checkin_full(void **state)
{
	(void)state;
	cJSON *msg = encode_flags(
	        "{\"id\":\"0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7\",\"type\":\"checkin.scanned\","
	        "\"occurred_at\":\"2026-11-28T18:03:12.123+01:00\",\"seq\":1842,"
	        "\"person\":{\"email\":\"" EM_TOKEN "\",\"phone\":\"" PH_TOKEN "\","
	        "\"customer_id\":\"MB-88121\",\"loyalty_id\":\"L-4410\"},"
	        "\"properties\":{\"class_id\":\"spin-0900\",\"location\":\"studio-b\"}}",
	        VG_FLAG_CLOCK_UNSYNCED | VG_FLAG_PII_DROPPED);

	assert_str_member(msg, "type", "track");
	assert_str_member(msg, "messageId", KEY);
	assert_str_member(msg, "event", "checkin.scanned");
	assert_str_member(msg, "userId", "MB-88121");
	assert_absent(msg, "anonymousId");
	assert_str_member(msg, "timestamp", "2026-11-28T17:03:12.123Z");
	assert_absent(msg, "traits");

	const cJSON *props = get(msg, "properties");
	assert_int_equal(cJSON_GetArraySize(props), 2);
	assert_str_member(props, "class_id", "spin-0900");
	assert_str_member(props, "location", "studio-b");
	assert_absent(props, "device_occurred_at");

	/* Every identifier, in the order of the person fields table. */
	assert_int_equal(external_id_count(msg), 4);
	assert_external_id(msg, 0, "MB-88121", "customer_id");
	assert_external_id(msg, 1, EM_TOKEN, "email_token");
	assert_external_id(msg, 2, PH_TOKEN, "phone_token");
	assert_external_id(msg, 3, "L-4410", "loyalty_id");

	const cJSON *c = get(msg, "context");
	assert_absent(c, "consent");
	const cJSON *vg = get(c, "venuegw");
	assert_int_equal(cJSON_GetArraySize(vg), 9);
	assert_true(cJSON_IsNull(get(vg, "plan")));   /* the body has no _plan */
	assert_true(cJSON_IsNumber(get(vg, "schema")));
	assert_int_equal(get(vg, "schema")->valueint, 1);
	assert_str_member(vg, "venue_id", VENUE);
	assert_str_member(vg, "gateway_id", GATEWAY);
	assert_str_member(vg, "device_id", DEVICE);
	assert_str_member(vg, "device_event_id", "0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7");
	assert_true(cJSON_IsNumber(get(vg, "device_seq")));
	assert_true(get(vg, "device_seq")->valuedouble == 1842.0);
	assert_str_member(vg, "received_at", RECEIVED_TEXT);
	const cJSON *flags = get(vg, "flags");
	assert_true(cJSON_IsArray(flags));
	assert_int_equal(cJSON_GetArraySize(flags), 2);
	assert_string_equal(cJSON_GetArrayItem(flags, 0)->valuestring, "gateway_clock_unsynced");
	assert_string_equal(cJSON_GetArrayItem(flags, 1)->valuestring, "pii_dropped");

	const cJSON *lib = get(c, "library");
	assert_int_equal(cJSON_GetArraySize(lib), 2);
	assert_str_member(lib, "name", "venuegw");
	assert_str_member(lib, "version", "0.1.0");

	/* One message stays under the per-event limit and prints as JSON. */
	char *text = cJSON_PrintUnformatted(msg);
	assert_non_null(text);
	assert_true(strlen(text) < VG_MESSAGE_MAX_BYTES);
	cJSON_free(text);
	cJSON_Delete(msg);
}

/* The sample body buffer.db stores (ids are tokens, customer_id kept). */
static void test_stored_sample(void **state)
{
	(void)state;
	cJSON *msg = encode(
	        "{\"id\":\"pos1-0\",\"type\":\"checkin.scanned\","
	        "\"occurred_at\":\"2026-11-28T20:28:35.156Z\",\"seq\":0,"
	        "\"person\":{\"email\":\"v1.em.Y7uZJCBARXtPSv_EY6odSw\","
	        "\"phone\":\"v1.ph.jMGSdfAIJv0Xfbe-dxVBUw\",\"customer_id\":\"MB-0\"},"
	        "\"properties\":{\"location\":\"door-1\"}}");
	assert_str_member(msg, "userId", "MB-0");
	assert_str_member(msg, "timestamp", "2026-11-28T20:28:35.156Z");
	const cJSON *vg = get(get(msg, "context"), "venuegw");
	assert_str_member(vg, "device_event_id", "pos1-0");
	assert_true(cJSON_IsNumber(get(vg, "device_seq")));
	assert_true(get(vg, "device_seq")->valuedouble == 0.0);
	assert_int_equal(cJSON_GetArraySize(get(vg, "flags")), 0);
	assert_int_equal(external_id_count(msg), 3);
	cJSON_Delete(msg);
}

static void test_email_only(void **state)
{
	(void)state;
	cJSON *msg = encode("{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
	                    "\"person\":{\"email\":\"" EM_TOKEN "\"}}");
	assert_str_member(msg, "anonymousId", EM_TOKEN);
	assert_absent(msg, "userId");
	assert_str_member(msg, "timestamp", "2026-11-28T18:03:12.000Z");
	assert_int_equal(external_id_count(msg), 1);
	assert_external_id(msg, 0, EM_TOKEN, "email_token");
	/* No id and no seq on the device's side. */
	const cJSON *vg = get(get(msg, "context"), "venuegw");
	assert_true(cJSON_IsNull(get(vg, "device_event_id")));
	assert_true(cJSON_IsNull(get(vg, "device_seq")));
	/* No properties in the event: an empty object. */
	const cJSON *props = get(msg, "properties");
	assert_true(cJSON_IsObject(props));
	assert_int_equal(cJSON_GetArraySize(props), 0);
	cJSON_Delete(msg);
}

static void test_no_person(void **state)
{
	(void)state;
	/* device.status: no person, no occurred_at → the receive time. */
	cJSON *msg = encode("{\"type\":\"device.status\",\"properties\":{\"battery\":81}}");
	assert_str_member(msg, "type", "track");
	assert_str_member(msg, "event", "device.status");
	assert_str_member(msg, "anonymousId", "device:" VENUE ":" DEVICE);
	assert_absent(msg, "userId");
	assert_str_member(msg, "timestamp", RECEIVED_TEXT);
	assert_int_equal(external_id_count(msg), 0);
	assert_int_equal(get(get(msg, "properties"), "battery")->valueint, 81);
	cJSON_Delete(msg);

	/* An empty person object and empty or non-string values count as none. */
	msg = encode("{\"type\":\"kiosk.session.started\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
	             "\"person\":{\"customer_id\":\"\",\"email\":7}}");
	assert_str_member(msg, "anonymousId", "device:" VENUE ":" DEVICE);
	assert_absent(msg, "userId");
	assert_int_equal(external_id_count(msg), 0);
	cJSON_Delete(msg);
}

static void test_payment_customer_never_user(void **state)
{
	(void)state;
	cJSON *msg = encode("{\"type\":\"payment.succeeded\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
	                    "\"person\":{\"payment_customer_id\":\"" PC_TOKEN "\"},"
	                    "\"properties\":{\"amount_minor\":1500,\"currency\":\"EUR\"}}");
	assert_absent(msg, "userId");
	assert_str_member(msg, "anonymousId", "device:" VENUE ":" DEVICE);
	assert_int_equal(external_id_count(msg), 1);
	assert_external_id(msg, 0, PC_TOKEN, "payment_customer_token");
	cJSON_Delete(msg);
}

/* anonymousId: email, phone, loyalty_id, member_code, in that order. */
static void test_anonymous_id_order(void **state)
{
	(void)state;
	static const struct {
		const char *person;
		const char *want;
	} cases[] = {
		{ "{\"member_code\":\"M-1\",\"loyalty_id\":\"L-1\",\"phone\":\"" PH_TOKEN "\","
		  "\"email\":\"" EM_TOKEN "\"}", EM_TOKEN },
		{ "{\"member_code\":\"M-1\",\"loyalty_id\":\"L-1\",\"phone\":\"" PH_TOKEN "\"}", PH_TOKEN },
		{ "{\"member_code\":\"M-1\",\"loyalty_id\":\"L-1\"}", "L-1" },
		{ "{\"member_code\":\"M-1\",\"payment_customer_id\":\"" PC_TOKEN "\"}", "M-1" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char body[512];
		snprintf(body, sizeof body,
		         "{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
		         "\"person\":%s}", cases[i].person);
		cJSON *msg = encode(body);
		assert_absent(msg, "userId");
		assert_str_member(msg, "anonymousId", cases[i].want);
		cJSON_Delete(msg);
	}
}

/* The "sha256" policy: 64 lowercase hex digits → *_sha256. */
static void test_sha256_policy(void **state)
{
	(void)state;
	cJSON *msg = encode("{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
	                    "\"person\":{\"email\":\"" EM_SHA256 "\",\"phone\":\"" EM_SHA256 "\","
	                    "\"member_code\":\"M-7\"}}");
	assert_int_equal(external_id_count(msg), 3);
	assert_external_id(msg, 0, EM_SHA256, "email_sha256");
	assert_external_id(msg, 1, EM_SHA256, "phone_sha256");
	assert_external_id(msg, 2, "M-7", "member_code");
	assert_str_member(msg, "anonymousId", EM_SHA256);
	cJSON_Delete(msg);

	/* An explicit "keep" policy: neither a token nor a digest, so it is not
	 * labelled as one. */
	msg = encode("{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
	             "\"person\":{\"email\":\"ana.lopez@example.com\",\"phone\":\"+34612345678\"}}");
	assert_external_id(msg, 0, "ana.lopez@example.com", "email");
	assert_external_id(msg, 1, "+34612345678", "phone");
	cJSON_Delete(msg);
}

static void test_device_occurred_at(void **state)
{
	(void)state;
	cJSON *msg = encode_flags(
	        "{\"id\":\"e-1\",\"type\":\"class.attended\","
	        "\"occurred_at\":\"2026-11-28T19:00:00.500Z\","
	        "\"device_occurred_at\":\"2031-01-01T00:00:00+01:00\","
	        "\"properties\":{\"class_id\":\"spin-0900\"}}",
	        VG_FLAG_TS_FUTURE);
	assert_str_member(msg, "timestamp", "2026-11-28T19:00:00.500Z");
	const cJSON *props = get(msg, "properties");
	assert_int_equal(cJSON_GetArraySize(props), 2);
	assert_str_member(props, "class_id", "spin-0900");
	assert_str_member(props, "device_occurred_at", "2031-01-01T00:00:00+01:00");
	const cJSON *flags = get(get(get(msg, "context"), "venuegw"), "flags");
	assert_int_equal(cJSON_GetArraySize(flags), 1);
	assert_string_equal(cJSON_GetArrayItem(flags, 0)->valuestring, "timestamp_future_replaced");
	cJSON_Delete(msg);
}

/* ---- identify ----------------------------------------------------------- */

static void test_consent_identify(void **state)
{
	(void)state;
	cJSON *msg = encode(
	        "{\"id\":\"c-9\",\"type\":\"consent.updated\","
	        "\"occurred_at\":\"2026-11-28T18:03:12.123+01:00\",\"seq\":7,"
	        "\"person\":{\"email\":\"" EM_TOKEN "\",\"customer_id\":\"MB-88121\"},"
	        "\"consent\":{\"marketing_email\":true,\"marketing_sms\":false,"
	        "\"source\":\"kiosk-2\",\"note\":3},"
	        "\"properties\":{\"screen\":\"k2\"}}");
	assert_str_member(msg, "type", "identify");
	assert_str_member(msg, "messageId", KEY);
	assert_absent(msg, "event");
	assert_absent(msg, "properties");
	assert_str_member(msg, "userId", "MB-88121");
	assert_absent(msg, "anonymousId");
	assert_str_member(msg, "timestamp", "2026-11-28T17:03:12.123Z");
	const cJSON *traits = get(msg, "traits");
	assert_true(cJSON_IsObject(traits));
	assert_int_equal(cJSON_GetArraySize(traits), 0);

	const cJSON *c = get(msg, "context");
	const cJSON *consent = get(c, "consent");
	assert_int_equal(cJSON_GetArraySize(consent), 2);
	assert_str_member(consent, "source", "kiosk-2");
	const cJSON *prefs = get(consent, "categoryPreferences");
	assert_int_equal(cJSON_GetArraySize(prefs), 2);
	assert_true(cJSON_IsTrue(get(prefs, "marketing_email")));
	assert_true(cJSON_IsFalse(get(prefs, "marketing_sms")));

	assert_int_equal(external_id_count(msg), 2);
	assert_external_id(msg, 0, "MB-88121", "customer_id");
	assert_external_id(msg, 1, EM_TOKEN, "email_token");
	const cJSON *vg = get(c, "venuegw");
	assert_str_member(vg, "device_event_id", "c-9");
	assert_int_equal(get(vg, "device_seq")->valueint, 7);
	assert_str_member(get(c, "library"), "name", "venuegw");
	cJSON_Delete(msg);

	/* Without a source, and with only a phone token. */
	msg = encode("{\"type\":\"consent.updated\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
	             "\"person\":{\"phone\":\"" PH_TOKEN "\"},\"consent\":{\"marketing_sms\":true}}");
	assert_str_member(msg, "anonymousId", PH_TOKEN);
	consent = get(get(msg, "context"), "consent");
	assert_absent(consent, "source");
	assert_true(cJSON_IsTrue(get(get(consent, "categoryPreferences"), "marketing_sms")));
	cJSON_Delete(msg);
}

/* ---- time ---------------------------------------------------------------- */

static void test_assumed_tz(void **state)
{
	(void)state;
	assert_int_equal(setenv("TZ", "Europe/Berlin", 1), 0);
	tzset();

	/* Winter: CET, UTC+1. */
	cJSON *msg = encode_flags("{\"type\":\"checkin.scanned\","
	                          "\"occurred_at\":\"2026-11-28T18:03:12.123\","
	                          "\"person\":{\"customer_id\":\"MB-1\"}}",
	                          VG_FLAG_TS_ASSUMED_TZ);
	assert_str_member(msg, "timestamp", "2026-11-28T17:03:12.123Z");
	const cJSON *flags = get(get(get(msg, "context"), "venuegw"), "flags");
	assert_int_equal(cJSON_GetArraySize(flags), 1);
	assert_string_equal(cJSON_GetArrayItem(flags, 0)->valuestring, "timestamp_assumed_tz");
	cJSON_Delete(msg);

	/* Summer: CEST, UTC+2; the milliseconds are kept. */
	msg = encode_flags("{\"type\":\"checkin.scanned\","
	                   "\"occurred_at\":\"2026-07-15T18:03:12.987\","
	                   "\"person\":{\"customer_id\":\"MB-1\"}}",
	                   VG_FLAG_TS_ASSUMED_TZ);
	assert_str_member(msg, "timestamp", "2026-07-15T16:03:12.987Z");
	cJSON_Delete(msg);

	/* An explicit offset is never touched by the process's zone. */
	msg = encode("{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-07-15T18:03:12.987-05:00\","
	             "\"person\":{\"customer_id\":\"MB-1\"}}");
	assert_str_member(msg, "timestamp", "2026-07-15T23:03:12.987Z");
	cJSON_Delete(msg);

	/* An unreadable occurred_at falls back to the receive time. */
	msg = encode("{\"type\":\"checkin.scanned\",\"occurred_at\":\"yesterday\","
	             "\"person\":{\"customer_id\":\"MB-1\"}}");
	assert_str_member(msg, "timestamp", RECEIVED_TEXT);
	cJSON_Delete(msg);

	assert_int_equal(setenv("TZ", "UTC", 1), 0);
	tzset();
}

/* ---- invalid input ------------------------------------------------------- */

static void test_invalid_body(void **state)
{
	(void)state;
	static const char *const bodies[] = {
		"", "{", "not json", "[]", "\"type\"", "{}", "{\"type\":3}", "{\"type\":\"\"}",
		"{\"type\":null,\"person\":{}}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct vg_encode_event ev = {
			.event_key = KEY,
			.device_id = DEVICE,
			.body = bodies[i],
			.body_len = strlen(bodies[i]),
			.received_at_ms = RECEIVED_MS,
		};
		cJSON *msg = (cJSON *)1;
		int rc = vg_encode_message(&ctx, &ev, &msg);
		if (rc != VG_ERR_INVAL)
			fail_msg("body %zu: got %d, want VG_ERR_INVAL", i, rc);
		assert_null(msg);
		assert_int_equal(text_matches(bodies[i], strlen(bodies[i]), 0), 0);
	}
}

/* ---- the text encoder ------------------------------------------------------ */

/* Which bodies vg_encode_text takes (those in the form cJSON prints, with
 * nothing to decode), and that each it takes gives the tree's bytes. */
static void test_text_form(void **state)
{
	(void)state;
#define P "\"person\":{\"customer_id\":\"MB-1\",\"email\":\"" EM_TOKEN "\",\"phone\":\"" PH_TOKEN "\"}"
	static const struct {
		int taken;
		unsigned flags;
		const char *body;
	} cases[] = {
		{ 1, 0, "{\"type\":\"checkin.scanned\",\"id\":\"e-1\",\"seq\":42,"
		        "\"occurred_at\":\"2026-11-28T18:03:12.123+01:00\"," P ",\"properties\":{\"door\":\"A\",\"n\":-3,"
		        "\"ok\":true,\"no\":null,\"l\":[1,[],{},\"x\"]},\"_plan\":\"1.0.0\"}" },
		{ 1, VG_FLAG_CLOCK_UNSYNCED | VG_FLAG_TS_ASSUMED_TZ,
		  "{\"type\":\"class.attended\",\"occurred_at\":\"2026-11-28T18:03:12.123\",\"properties\":{}}" },
		{ 1, 0, "{\"type\":\"consent.updated\",\"consent\":{\"marketing_email\":true,\"sms\":false,"
		        "\"source\":\"kiosk\",\"n\":1,\"o\":{}},\"person\":{\"email\":\"" EM_TOKEN "\"}}" },
		{ 1, 0, "{\"type\":\"consent.updated\",\"consent\":{\"source\":true}}" },
		{ 1, 0, "{\"type\":\"consent.updated\",\"consent\":3,\"properties\":{\"a\":1}}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"device_occurred_at\":\"d\",\"b\":1},"
		        "\"device_occurred_at\":\"2026-11-28T18:03:12.123Z\"}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"b\":1,\"device_occurred_at\":\"d\",\"c\":2},"
		        "\"device_occurred_at\":\"x\"}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"b\":1,\"device_occurred_at\":{\"d\":[1]}},"
		        "\"device_occurred_at\":\"x\"}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"device_occurred_at\":\"d\"},\"device_occurred_at\":\"x\"}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"device_occurred_at\":1,\"device_occurred_at\":2},"
		        "\"device_occurred_at\":\"x\"}" },
		{ 1, 0, "{\"type\":\"a\",\"device_occurred_at\":\"x\"}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":3,\"device_occurred_at\":\"\"}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"device_occurred_at\":1},\"device_occurred_at\":5}" },
		{ 1, 0, "{\"type\":\"a\"," P ",\"_previous_tokens\":{\"email\":\"v0.em.abc\",\"phone\":\"\",\"x\":1}}" },
		{ 1, 0, "{\"type\":\"a\",\"person\":{\"customer_id\":\"\",\"loyalty_id\":\"L-1\",\"member_code\":\"M\","
		        "\"payment_customer_id\":\"" PC_TOKEN "\",\"email\":\"" EM_SHA256 "\"}}" },
		{ 1, 0, "{\"type\":\"a\",\"person\":{\"phone\":\"+4915112345678\",\"email\":\"ana@example.com\"}}" },
		{ 1, 0, "{\"type\":\"a\",\"person\":[],\"_previous_tokens\":\"x\"}" },
		{ 1, 0, "{\"type\":\"a\",\"type\":\"b\",\"id\":\"\",\"seq\":\"1\",\"_plan\":\"\"}" },
		{ 1, 0, "{\"type\":\"a\",\"id\":7,\"seq\":0,\"_plan\":2}" },
		{ 1, 0, "{\"type\":\"a\",\"seq\":999999999999999,\"properties\":{\"n\":-999999999999999}}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"s\":\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\xc3\xa9\xff/\"}}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"\\n\":1,\"\":2}}" },
		{ 1, 0, "{\"type\":\"a\",\"occurred_at\":\"yesterday\"}" },
		{ 1, 0, "{\"type\":\"a\",\"person\":{\"email\":1,\"email\":\"" EM_TOKEN "\"},\"person\":{\"phone\":\"x\"},"
		        "\"properties\":{\"a\":1},\"properties\":{\"b\":2},\"occurred_at\":\"x\","
		        "\"occurred_at\":\"2026-11-28T18:03:12.123Z\",\"seq\":\"s\",\"seq\":3,\"id\":\"\",\"id\":\"i\"}" },
		{ 1, VG_FLAG_TS_FUTURE, "{\"type\":\"consent.updated\",\"consent\":{\"a\":true,\"a\":false,\"source\":true,"
		        "\"source\":\"s\"},\"consent\":{\"b\":true},\"device_occurred_at\":\"d\","
		        "\"device_occurred_at\":\"e\",\"properties\":{\"p\":1}}" },
		{ 1, 0, "{\"type\":\"consent.updated\",\"consent\":{\"source\":\"\"},\"_previous_tokens\":{\"email\":\"a\"},"
		        "\"_previous_tokens\":{\"email\":\"b\"},\"_plan\":\"\",\"_plan\":\"2\"}" },
		{ 1, 0, "{\"type\":\"a\",\"occurred_at\":\"2026-11-28T18:03:12.123456789012345678901234567890123456789012Z\"}" },
		{ 1, 0, "{\"type\":\"a\",\"properties\":{\"s\":\"\\u0010\x7f\",\"n\":2147483648,\"m\":-999999999999999}}" },
		{ 1, 0, "{\"type\":\"a\",\"occurred_at\":12}" },
		/* not as cJSON prints: left to the tree */
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":1.5}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":1e3}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":1000000000000000}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":-0}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":01}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":-01}}" },
		{ 0, 0, "{\"type\":\"a\",\"occurred_at\":\"2026-11-28T18:03:12.123456789012345678901234567890123456789012345Z\"}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":-1000000000000000}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":1-2}}" },
		{ 0, 0, "\xef\xbb\xbf{\"type\":\"a\"}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":\"\\u007f\"}}" },
		{ 0, 0, "{\"type\": \"a\"}" },
		{ 0, 0, "{\"type\":\"a\"}\n" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":\"a\\/b\"}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":\"\\u00e9\"}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":\"\\u000a\"}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":\"\\u001F\"}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":\"\\u0000\"}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":\"\x01\"}}" },
		{ 0, 0, "{\"type\":\"consent\\u002eupdated\"}" },
		{ 0, 0, "{\"type\":\"a\",\"occurred_at\":\"2026-11-28T18:03:12.123\\u002b01:00\"}" },
		{ 1, 0, "{\"type\":\"a\",\"person\":{\"email\":\"a\\\"b\",\"phone\":\"\\u0001\",\"loyalty_id\":\"\\n\"}}" },
		{ 1, 0, "{\"type\":\"a\",\"person\":{\"email\":\"v1.em.\\\\ggFwkcOp_kspYS3h19Iey\"}}" },
		{ 1, 0, "{\"type\":\"a\",\"person\":{\"email\":\"v00000000000000000000000000000000000000000000000000000000000000000"
		        "000000000000000000000000000000000000000000000000000000000000000000001.em.ggFwkcOp_kspYS3h19Ieyg\"}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":tru}}" },
		{ 0, 0, "{\"type\":\"a\",\"properties\":{\"x\":[1,]}}" },
		{ 0, 0, "{\"type\":\"a\",}" },
		{ 0, 0, "{\"type\":\"a\"" },
		{ 0, 0, "{\"type\":3}" },
		{ 0, 0, "[{\"type\":\"a\"}]" },
	};
#undef P
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].body);
		char *copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, cases[i].body, n);
		int taken = text_matches(copy, n, cases[i].flags);
		free(copy);
		if (taken != cases[i].taken)
			fail_msg("case %zu: %s, want %s: %s", i, taken ? "taken" : "left to the tree",
			         cases[i].taken ? "taken" : "left to the tree", cases[i].body);
	}

	/* Deeper than the reader goes: left to the tree. */
	char deep[400] = "{\"type\":\"a\",\"properties\":{\"x\":";
	size_t n = strlen(deep);
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	memcpy(deep + n, "}}", 3);
	assert_int_equal(text_matches(deep, strlen(deep), 0), 0);

	/* Ids with characters cJSON escapes, in the messageId, context and a
	 * device-scoped anonymousId. */
	static const char *const devices[] = { "pos\x01\"1", "p\\q\t\x1f\x7f", "\x08\x0c\n\r" };
	for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
		struct vg_encode_event e = event_of("{\"type\":\"a\"}", 12, VG_FLAG_PII_DROPPED);
		e.device_id = devices[i];
		assert_int_equal(text_matches_ev(e), 1);
		e.event_key = devices[i];
		assert_int_equal(text_matches_ev(e), 1);
	}

	/* The constants escaped as cJSON prints them; a venue too long for
	 * them is refused. */
	struct vg_wire_consts wq;
	const struct vg_encode_ctx qctx = { .venue_id = "v\"1\x01", .gateway_id = "g\\", .library_version = "0\n" };
	assert_int_equal(vg_encode_wire_consts(&qctx, &wq), VG_OK);
	assert_string_equal(wq.venuegw, "\"schema\":1,\"venue_id\":\"v\\\"1\\u0001\",\"gateway_id\":\"g\\\\\",");
	assert_int_equal(wq.venuegw_len, strlen(wq.venuegw));
	assert_string_equal(wq.library, ",\"library\":{\"name\":\"venuegw\",\"version\":\"0\\n\"}}}");
	assert_int_equal(wq.library_len, strlen(wq.library));
	char longv[1100];
	memset(longv, 'v', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	const struct vg_encode_ctx lctx = { .venue_id = longv, .gateway_id = "g", .library_version = "0" };
	assert_int_equal(vg_encode_wire_consts(&lctx, &wq), VG_ERR_INVAL);

	/* Into a 64-byte buffer holding "[": a buffer that failed before gives
	 * its failure, a message larger than the buffer goes the tree's way;
	 * nothing appended either way. */
	struct vg_wire_consts wc;
	assert_int_equal(vg_encode_wire_consts(&ctx, &wc), VG_OK);
	struct vg_encode_event ev = event_of("{\"type\":\"a\"}", 12, 0);
	for (int failed = 0; failed < 2; failed++) {
		struct vg_buf small = VG_BUF_INIT(64);
		assert_int_equal(vg_buf_add(&small, "[", 1), VG_OK);
		small.err = failed ? VG_ERR_RANGE : VG_OK;
		assert_int_equal(vg_encode_text(&ctx, &wc, &ev, &small), failed ? VG_ERR_RANGE : VG_ENCODE_TREE);
		assert_int_equal(small.len, 1);
		assert_int_equal(small.err, failed ? VG_ERR_RANGE : VG_OK);
		vg_buf_free(&small);
	}
}

/* ---- batches ------------------------------------------------------------- */

static void test_message_identity(void **state)
{
	(void)state;
	/* Escapes cJSON prints, UTF-8 as it stands, a quote and a backslash. */
	cJSON *msg = encode("{\"id\":\"e1\",\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-07-01T12:00:00Z\","
	                    "\"person\":{\"customer_id\":\"M\\\"B\\\\-\\u0001\\n\u00e9\"}}");
	assert_str_member(msg, "userId", "M\"B\\-\001\n\u00e9");
	cJSON_Delete(msg);
	char out[64];
	size_t n = 99;
	/* Only a top-level member counts; userId before anonymousId. */
	static const char nested[] = "{\"a\":{\"userId\":\"inner\"},\"b\":[\"}\",{\"x\":\"]\"}],\"anonymousId\":\"anon\"}";
	assert_int_equal(vg_message_identity(nested, sizeof nested - 1, out, sizeof out, &n), VG_OK);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "anon", 4);
	static const char both[] = "{\"anonymousId\":\"a\",\"n\":-1.5e3,\"userId\":\"u\\u00e9\"}";
	assert_int_equal(vg_message_identity(both, sizeof both - 1, out, sizeof out, &n), VG_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "u\xc3\xa9", 3);
	/* Not a message with an identity, an escape cJSON never prints, no room. */
	static const char *const bad[] = { "", "[]", "{\"userId\":1}", "{\"userId\":\"x", "{\"x\":{\"userId\":\"u\"}",
	                                   "{\"userId\":\"\\ud800\"}", "{\"userId\":\"\\q\"}", "{\"userId\":\"\\u12\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(vg_message_identity(bad[i], strlen(bad[i]), out, sizeof out, &n), VG_ERR_INVAL);
	assert_int_equal(vg_message_identity(both, sizeof both - 1, out, 2, &n), VG_ERR_INVAL);
}

static void test_batch(void **state)
{
	(void)state;
	cJSON *msgs = cJSON_CreateArray();
	assert_non_null(msgs);
	cJSON_AddItemToArray(msgs, encode("{\"type\":\"device.status\"}"));
	cJSON_AddItemToArray(msgs, encode("{\"type\":\"checkin.scanned\","
	                                  "\"occurred_at\":\"2026-11-28T18:03:12Z\","
	                                  "\"person\":{\"customer_id\":\"MB-1\"}}"));
	char *before = cJSON_PrintUnformatted(msgs);
	assert_non_null(before);

	size_t len = 0;
	char *text = vg_encode_batch(msgs, RECEIVED_MS + 1, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_true(strncmp(text, "{\"batch\":[", 10) == 0);
	cJSON *root = cJSON_Parse(text);
	assert_non_null(root);
	assert_int_equal(cJSON_GetArraySize(root), 2);
	assert_int_equal(cJSON_GetArraySize(get(root, "batch")), 2);
	assert_str_member(root, "sentAt", "2026-11-28T19:00:00.501Z");
	assert_str_member(cJSON_GetArrayItem(get(root, "batch"), 1), "userId", "MB-1");
	/* Unformatted: no newlines or indentation. */
	assert_null(strchr(text, '\n'));
	assert_null(strchr(text, '\t'));
	cJSON_Delete(root);
	cJSON_free(text);

	/* Clock not synchronised: no sentAt. */
	text = vg_encode_batch(msgs, -1, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	root = cJSON_Parse(text);
	assert_non_null(root);
	assert_int_equal(cJSON_GetArraySize(root), 1);
	assert_absent(root, "sentAt");
	assert_int_equal(cJSON_GetArraySize(get(root, "batch")), 2);
	cJSON_Delete(root);
	cJSON_free(text);

	/* The messages were borrowed, not changed. */
	char *after = cJSON_PrintUnformatted(msgs);
	assert_non_null(after);
	assert_string_equal(before, after);
	cJSON_free(before);
	cJSON_free(after);
	cJSON_Delete(msgs);

	/* An empty batch is still well-formed. */
	cJSON *empty = cJSON_CreateArray();
	text = vg_encode_batch(empty, -1, &len);
	assert_non_null(text);
	assert_string_equal(text, "{\"batch\":[]}");
	assert_int_equal(len, 12);
	cJSON_free(text);
	cJSON_Delete(empty);
}

/* ---- Idempotency-Key ----------------------------------------------------- */

static void test_idempotency_key(void **state)
{
	(void)state;
	/* Computed independently:
	 * python3 -c 'import hashlib,base64,struct
	 * lp=lambda b: struct.pack(">I",len(b))+b
	 * d=hashlib.sha256(lp(b"venuegw-batch-v1")+lp(b"a")+lp(b"b")).digest()[:16]
	 * print(base64.urlsafe_b64encode(d).rstrip(b"=").decode())' */
	const char *ab[] = { "a", "b" };
	const char *ba[] = { "b", "a" };
	char k1[23], k2[23];
	assert_int_equal(vg_idempotency_key(ab, 2, k1), VG_OK);
	assert_string_equal(k1, "90sAq75Kt2nXjsNGITsm8A");
	assert_int_equal(vg_idempotency_key(ba, 2, k2), VG_OK);
	assert_string_equal(k1, k2);
	/* The caller's array is not reordered. */
	assert_string_equal(ba[0], "b");
	assert_string_equal(ba[1], "a");

	/* Same set, other order → same key; another set → another key. */
	const char *s1[] = { KEY, "X4PaaMTzvIzL67_LlrJ2mg", "Zz-0", "_a", "-b" };
	const char *s2[] = { "-b", "Zz-0", "_a", KEY, "X4PaaMTzvIzL67_LlrJ2mg" };
	const char *s3[] = { "-b", "Zz-0", "_a", KEY };
	const char *s4[] = { "-b", "Zz-0", "_a", KEY, "X4PaaMTzvIzL67_LlrJ2mh" };
	char k3[23], k4[23];
	assert_int_equal(vg_idempotency_key(s1, 5, k1), VG_OK);
	assert_int_equal(vg_idempotency_key(s2, 5, k2), VG_OK);
	assert_int_equal(vg_idempotency_key(s3, 4, k3), VG_OK);
	assert_int_equal(vg_idempotency_key(s4, 5, k4), VG_OK);
	assert_int_equal(strlen(k1), 22);
	assert_string_equal(k1, k2);
	assert_string_not_equal(k1, k3);
	assert_string_not_equal(k1, k4);
	assert_string_not_equal(k3, k4);

	/* Length prefixes: {"ab"} differs from {"a","b"}. */
	const char *joined[] = { "ab" };
	assert_int_equal(vg_idempotency_key(joined, 1, k3), VG_OK);
	assert_int_equal(vg_idempotency_key(ab, 2, k4), VG_OK);
	assert_string_not_equal(k3, k4);

	/* No ids at all is not an error. */
	assert_int_equal(vg_idempotency_key(NULL, 0, k3), VG_OK);
	assert_int_equal(strlen(k3), 22);
}

/* ---- gzip ---------------------------------------------------------------- */

/* Inflate a gzip stream with zlib (windowBits 15+16: gzip only). */
static uint8_t *gunzip(const uint8_t *in, size_t n, size_t expect)
{
	uint8_t *out = malloc(expect + 1);
	assert_non_null(out);
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)expect + 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, expect);
	assert_int_equal(zs.avail_in, 0);
	inflateEnd(&zs);
	return out;
}

static void test_gzip(void **state)
{
	(void)state;
	/* Something batch-like and compressible, plus some noise. */
	size_t n = 200000;
	char *in = malloc(n);
	assert_non_null(in);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		in[i] = (i % 97 < 80) ? "{\"type\":\"track\",\"messageId\":"[i % 28] : (char)(x >> 24);
	}
	uint8_t *gz = NULL;
	size_t gzlen = 0;
	assert_int_equal(vg_gzip(in, n, &gz, &gzlen), VG_OK);
	assert_non_null(gz);
	assert_true(gzlen > 18 && gzlen < n);
	assert_int_equal(gz[0], 0x1f);
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(gz[2], 8); /* deflate */
	uint8_t *back = gunzip(gz, gzlen, n);
	assert_memory_equal(back, in, n);
	free(back);
	free(gz);
	free(in);

	/* Empty input: a valid, empty gzip member. */
	assert_int_equal(vg_gzip("", 0, &gz, &gzlen), VG_OK);
	assert_int_equal(gz[0], 0x1f);
	assert_int_equal(gz[1], 0x8b);
	back = gunzip(gz, gzlen, 0);
	free(back);
	free(gz);

	/* A real batch. */
	cJSON *msgs = cJSON_CreateArray();
	cJSON_AddItemToArray(msgs, encode("{\"type\":\"device.status\"}"));
	size_t len;
	char *text = vg_encode_batch(msgs, RECEIVED_MS, &len);
	assert_non_null(text);
	assert_int_equal(vg_gzip(text, len, &gz, &gzlen), VG_OK);
	back = gunzip(gz, gzlen, len);
	assert_memory_equal(back, text, len);
	free(back);
	free(gz);
	cJSON_free(text);
	cJSON_Delete(msgs);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkin_full),
		cmocka_unit_test(test_plan_version),
		cmocka_unit_test(test_stored_sample),
		cmocka_unit_test(test_email_only),
		cmocka_unit_test(test_no_person),
		cmocka_unit_test(test_payment_customer_never_user),
		cmocka_unit_test(test_anonymous_id_order),
		cmocka_unit_test(test_sha256_policy),
		cmocka_unit_test(test_device_occurred_at),
		cmocka_unit_test(test_consent_identify),
		cmocka_unit_test(test_assumed_tz),
		cmocka_unit_test(test_invalid_body),
		cmocka_unit_test(test_text_form),
		cmocka_unit_test(test_message_identity),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_idempotency_key),
		cmocka_unit_test(test_gzip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
