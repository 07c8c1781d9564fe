/* Unit tests for firmware/core/ingest.c: the one pipeline every input takes —
 * decode, event key, contract, time rules, tokenization, quarantine
 * (DESIGN.md §4, §5, §6). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "digest.h"
#include "encode.h"
#include "err.h"
#include "ingest.h"

#define VENUE "berlin-mitte-01"
#define DEVICE "pos-1"
#define KEY_ID "oGhTCF87acP04DyyngmX1A"
#define TOK_EM "v1.em.ggFwkcOp_kspYS3h19Ieyg"
#define TOK_PH "v1.ph.c1hpTZSettsaO3x_XM_6tA"

/* DESIGN.md §4, verbatim. */
static const char design_example[] =
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

static struct vg_key k1;
static struct vg_plan *plan;   /* the package's default plan */
static int64_t now_ms;   /* 2026-11-28T17:10:00Z: seven minutes after the example */

static struct vg_ingest_cfg cfg_default(void)
{
	struct vg_ingest_cfg cfg = {
		.venue_id = VENUE,
		.plan = plan,
		.key = &k1,
		.default_country_code = 49,
		.has_timezone = 0,
		.max_future_skew_s = 300,
		.max_past_age_d = 30,
	};
	vg_pii_policy_default(&cfg.policy);
	return cfg;
}

static int group_setup(void **state)
{
	(void)state;
	k1.version = 1;
	k1.activate_at = 0;
	for (int i = 0; i < 32; i++)
		k1.bytes[i] = (uint8_t)i;
	int has = 0;
	if (vg_time_parse("2026-11-28T17:10:00Z", &now_ms, &has) != VG_OK || !has)
		return -1;
	char err[512];
	if (vg_plan_load(&plan, VG_DEFAULT_PLAN, err, sizeof err) != VG_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	vg_plan_free(plan);
	return 0;
}

/* Run the pipeline over an exact-size heap copy of text (payloads from MQTT
 * are not NUL-terminated: ASan catches a read past the end). */
static int ingest_as(const struct vg_ingest_cfg *cfg, const char *device, const char *text,
                     size_t len, int64_t now, int synced, struct vg_ingest_out *out)
{
	void *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	int rc = vg_ingest(cfg, device, copy, len, now, synced, out);
	free(copy);
	return rc;
}

static void ingest_ok(const struct vg_ingest_cfg *cfg, const char *text, int synced,
                      struct vg_ingest_out *out)
{
	int rc = ingest_as(cfg, DEVICE, text, strlen(text), now_ms, synced, out);
	assert_int_equal(rc, VG_OK);
}

static void expect_accepted(const struct vg_ingest_out *out)
{
	if (out->quarantined)
		fail_msg("quarantined: %s %s (%s)", vg_reject_name(out->rej.reason), out->rej.field,
		         out->rej.detail);
	assert_non_null(out->body);
	assert_int_equal(out->body_len, strlen(out->body));
	assert_int_equal(strlen(out->event_key), VG_EVENT_KEY_LEN);
	assert_string_equal(out->digest, "");   /* only a quarantine keeps one */
}

/* The body as a tree (caller deletes). */
static cJSON *body_tree(const struct vg_ingest_out *out)
{
	assert_non_null(out->body);
	cJSON *t = cJSON_ParseWithLength(out->body, out->body_len);
	assert_non_null(t);
	return t;
}

static const char *str_at(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, a);
	if (b)
		it = cJSON_GetObjectItemCaseSensitive(it, b);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void format_time(int64_t ms, char out[25])
{
	vg_time_format(ms, out);
}

/* ---- the §4 example ------------------------------------------------------ */

static void test_design_example(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg, design_example, 1, &out);
	expect_accepted(&out);
	assert_string_equal(out.event_key, KEY_ID);
	assert_string_equal(out.type, "checkin.scanned");
	assert_string_equal(out.device_event_id, "0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7");
	assert_int_equal(out.priority, VG_PRIO_NORMAL);
	assert_int_equal(out.flags, 0);
	assert_int_equal(out.rej.reason, VG_REJ_NONE);

	/* No raw contact data in the body. */
	static const char *const raw[] = { "Ana", "ana.lopez", "Lopez", "Example.com",
	                                   "example.com", "612", "345 678", "+34" };
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
		if (strstr(out.body, raw[i]))
			fail_msg("\"%s\" in body: %s", raw[i], out.body);

	cJSON *b = body_tree(&out);
	assert_string_equal(str_at(b, "person", "email"), TOK_EM);
	assert_string_equal(str_at(b, "person", "phone"), TOK_PH);
	assert_string_equal(str_at(b, "person", "customer_id"), "MB-88121");
	assert_string_equal(str_at(b, "person", "loyalty_id"), "L-4410");
	assert_string_equal(str_at(b, "occurred_at", NULL), "2026-11-28T18:03:12.123+01:00");
	assert_string_equal(str_at(b, "id", NULL), "0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7");
	assert_string_equal(str_at(b, "properties", "class_id"), "spin-0900");
	assert_null(cJSON_GetObjectItemCaseSensitive(b, "device_occurred_at"));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "seq")->valuedouble, 1842);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(b, "consent"), "marketing_email")));
	cJSON_Delete(b);
	assert_int_equal(out.pii.fields_dropped + out.pii.phones_dropped + out.pii.emails_dropped, 0);

	vg_ingest_out_free(&out);
	assert_null(out.body);
	assert_int_equal(out.body_len, 0);
	vg_ingest_out_free(&out);   /* twice is fine */
}

/* ---- event keys --------------------------------------------------------- */

static void body_key(const char *device, const char *payload, char want[VG_EVENT_KEY_LEN + 1])
{
	uint8_t h[32];
	vg_sha256(payload, strlen(payload), h);
	vg_event_key(VENUE, device, "body", h, sizeof(h), want);
}

static void test_key_without_id(void **state)
{
	(void)state;
	static const char p1[] = "{\"type\":\"device.status\",\"properties\":{\"battery\":80}}";
	static const char p2[] = "{\"type\":\"device.status\",\"properties\":{\"battery\":79}}";
	static const char p1_spaced[] = "{\"type\": \"device.status\",\"properties\":{\"battery\":80}}";
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out a, b, c, d, e;
	ingest_ok(&cfg, p1, 1, &a);
	ingest_ok(&cfg, p1, 1, &b);
	ingest_ok(&cfg, p2, 1, &c);
	ingest_ok(&cfg, p1_spaced, 1, &d);
	assert_int_equal(ingest_as(&cfg, "pos-2", p1, strlen(p1), now_ms, 1, &e), VG_OK);
	expect_accepted(&a);
	expect_accepted(&c);

	char want[VG_EVENT_KEY_LEN + 1];
	body_key(DEVICE, p1, want);
	assert_string_equal(a.event_key, want);
	/* A retransmission is byte-identical: the same key. */
	assert_string_equal(b.event_key, a.event_key);
	/* Other bytes, another key — even when they mean the same. */
	assert_string_not_equal(c.event_key, a.event_key);
	assert_string_not_equal(d.event_key, a.event_key);
	/* Another device, another key. */
	assert_string_not_equal(e.event_key, a.event_key);
	body_key("pos-2", p1, want);
	assert_string_equal(e.event_key, want);
	assert_string_equal(a.device_event_id, "");

	/* An id that is not a string is not an id: the body kind is used. */
	static const char num_id[] = "{\"type\":\"device.status\",\"id\":42}";
	struct vg_ingest_out f;
	ingest_ok(&cfg, num_id, 1, &f);
	body_key(DEVICE, num_id, want);
	assert_string_equal(f.event_key, want);
	/* The same id from another payload: the same key (the id decides). */
	static const char same_id[] = "{\"type\":\"device.status\","
	                              "\"id\":\"0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7\"}";
	struct vg_ingest_out g;
	ingest_ok(&cfg, same_id, 1, &g);
	assert_string_equal(g.event_key, KEY_ID);

	vg_ingest_out_free(&a);
	vg_ingest_out_free(&b);
	vg_ingest_out_free(&c);
	vg_ingest_out_free(&d);
	vg_ingest_out_free(&e);
	vg_ingest_out_free(&f);
	vg_ingest_out_free(&g);
}

/* ---- quarantine ---------------------------------------------------------- */

static void test_undecodable(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		enum vg_reject_reason reason;
	} v[] = {
		{ "{\"type\":\"checkin.scanned\",\"person\":{\"email\":\"Ana.Lopez@", VG_REJ_BAD_JSON },
		{ "{not json}", VG_REJ_BAD_JSON },
		{ "[1,2,3]", VG_REJ_NOT_OBJECT },
		{ "\"Ana.Lopez@example.com\"", VG_REJ_NOT_OBJECT },
		{ "{\"a\":\"\xff\"}", VG_REJ_BAD_UTF8 },
	};
	struct vg_ingest_cfg cfg = cfg_default();
	char digests[sizeof(v) / sizeof(v[0])][VG_EVENT_KEY_LEN + 1];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct vg_ingest_out out;
		ingest_ok(&cfg, v[i].text, 1, &out);
		assert_int_equal(out.quarantined, 1);
		if (out.rej.reason != v[i].reason)
			fail_msg("case %zu: %s, want %s", i, vg_reject_name(out.rej.reason),
			         vg_reject_name(v[i].reason));
		assert_null(out.body);
		assert_int_equal(out.body_len, 0);
		assert_string_equal(out.event_key, "");
		assert_string_equal(out.type, "");
		assert_int_equal(strlen(out.digest), VG_EVENT_KEY_LEN);
		assert_null(strstr(out.rej.detail, "Ana"));
		memcpy(digests[i], out.digest, sizeof(digests[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(digests[j], digests[i]);

		/* The same bytes, the same digest. */
		struct vg_ingest_out again;
		ingest_ok(&cfg, v[i].text, 1, &again);
		assert_string_equal(again.digest, out.digest);
		vg_ingest_out_free(&out);
		vg_ingest_out_free(&again);
	}

	/* The digest is keyed: another key, another digest. */
	struct vg_key k2 = k1;
	k2.bytes[0] ^= 0x80;
	struct vg_ingest_cfg cfg2 = cfg_default();
	cfg2.key = &k2;
	struct vg_ingest_out out;
	ingest_ok(&cfg2, v[0].text, 1, &out);
	assert_string_not_equal(out.digest, digests[0]);
	vg_ingest_out_free(&out);

	/* An empty payload. */
	assert_int_equal(ingest_as(&cfg, DEVICE, "", 0, now_ms, 1, &out), VG_OK);
	assert_int_equal(out.quarantined, 1);
	assert_null(out.body);
	assert_int_equal(strlen(out.digest), VG_EVENT_KEY_LEN);
	vg_ingest_out_free(&out);
}

static void test_contract_violation_held(void **state)
{
	(void)state;
	/* class.attended needs properties.class_id. */
	static const char p[] =
		"{\"id\":\"e-77\",\"type\":\"class.attended\",\"occurred_at\":\"2026-11-28T18:03:12+01:00\","
		"\"person\":{\"email\":\" Ana.Lopez@Example.com \"},\"properties\":{\"room\":\"b\"}}";
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg, p, 1, &out);
	assert_int_equal(out.quarantined, 1);
	assert_int_equal(out.rej.reason, VG_REJ_CONTRACT);
	assert_string_equal(out.rej.field, "properties.class_id");
	assert_string_equal(out.type, "class.attended");
	char want[VG_EVENT_KEY_LEN + 1];
	vg_event_key(VENUE, DEVICE, "id", "e-77", 4, want);
	assert_string_equal(out.event_key, want);
	assert_int_equal(strlen(out.digest), VG_EVENT_KEY_LEN);
	/* Held in its tokenized form, for `quarantine retry`. */
	assert_non_null(out.body);
	assert_null(strstr(out.body, "Lopez"));
	cJSON *b = body_tree(&out);
	assert_string_equal(str_at(b, "person", "email"), TOK_EM);
	cJSON_Delete(b);
	vg_ingest_out_free(&out);

	/* An unknown type is held too. */
	static const char unk[] = "{\"type\":\"door.opened\",\"person\":{\"phone\":\"+34 612 345 678\"}}";
	ingest_ok(&cfg, unk, 1, &out);
	assert_int_equal(out.quarantined, 1);
	assert_int_equal(out.rej.reason, VG_REJ_UNKNOWN_TYPE);
	assert_string_equal(out.type, "");   /* a type the plan lacks is not repeated */
	assert_int_equal(out.priority, VG_PRIO_NORMAL);
	assert_non_null(out.body);
	assert_null(strstr(out.body, "612"));
	assert_non_null(strstr(out.body, TOK_PH));
	vg_ingest_out_free(&out);
}

/* ---- time ---------------------------------------------------------------- */

static char *checkin(char *buf, size_t n, const char *occurred_at)
{
	snprintf(buf, n,
	         "{\"id\":\"t-1\",\"type\":\"checkin.scanned\",\"occurred_at\":\"%s\","
	         "\"person\":{\"customer_id\":\"MB-88121\"}}",
	         occurred_at);
	return buf;
}

static void test_time_without_offset(void **state)
{
	(void)state;
	char p[256];
	checkin(p, sizeof(p), "2026-11-28T18:03:12");
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;

	ingest_ok(&cfg, p, 1, &out);
	assert_int_equal(out.quarantined, 1);
	assert_int_equal(out.rej.reason, VG_REJ_BAD_TIME);
	assert_string_equal(out.rej.field, "occurred_at");
	assert_int_equal(strlen(out.event_key), VG_EVENT_KEY_LEN);
	vg_ingest_out_free(&out);

	cfg.has_timezone = 1;
	ingest_ok(&cfg, p, 1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, VG_FLAG_TS_ASSUMED_TZ);
	cJSON *b = body_tree(&out);
	/* Kept as sent: the daemon converts it. */
	assert_string_equal(str_at(b, "occurred_at", NULL), "2026-11-28T18:03:12");
	assert_null(cJSON_GetObjectItemCaseSensitive(b, "device_occurred_at"));
	cJSON_Delete(b);
	vg_ingest_out_free(&out);

	/* Not a time at all: bad_time whatever the zone. */
	checkin(p, sizeof(p), "yesterday");
	ingest_ok(&cfg, p, 1, &out);
	assert_int_equal(out.quarantined, 1);
	assert_int_equal(out.rej.reason, VG_REJ_BAD_TIME);
	vg_ingest_out_free(&out);
}

static void test_time_future_replaced(void **state)
{
	(void)state;
	char at[25], p[256], now_text[25];
	format_time(now_ms + 3600 * 1000, at);
	checkin(p, sizeof(p), at);
	format_time(now_ms, now_text);
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg, p, 1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, VG_FLAG_TS_FUTURE);
	cJSON *b = body_tree(&out);
	assert_string_equal(str_at(b, "occurred_at", NULL), now_text);
	assert_string_equal(str_at(b, "device_occurred_at", NULL), at);
	cJSON_Delete(b);
	/* The key comes from the input, not the rewritten body. */
	char want[VG_EVENT_KEY_LEN + 1];
	vg_event_key(VENUE, DEVICE, "id", "t-1", 3, want);
	assert_string_equal(out.event_key, want);
	vg_ingest_out_free(&out);

	/* Within the skew: kept. */
	format_time(now_ms + 299 * 1000, at);
	checkin(p, sizeof(p), at);
	ingest_ok(&cfg, p, 1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, 0);
	b = body_tree(&out);
	assert_string_equal(str_at(b, "occurred_at", NULL), at);
	cJSON_Delete(b);
	vg_ingest_out_free(&out);
}

static void test_time_past_replaced(void **state)
{
	(void)state;
	char at[25], p[256], now_text[25];
	format_time(now_ms - 60LL * 86400 * 1000, at);
	checkin(p, sizeof(p), at);
	format_time(now_ms, now_text);
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg, p, 1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, VG_FLAG_TS_PAST);
	cJSON *b = body_tree(&out);
	assert_string_equal(str_at(b, "occurred_at", NULL), now_text);
	assert_string_equal(str_at(b, "device_occurred_at", NULL), at);
	cJSON_Delete(b);
	vg_ingest_out_free(&out);

	/* 29 days: kept. */
	format_time(now_ms - 29LL * 86400 * 1000, at);
	checkin(p, sizeof(p), at);
	ingest_ok(&cfg, p, 1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, 0);
	vg_ingest_out_free(&out);
}

static void test_time_clock_unsynced(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	const int64_t offsets[] = { 3600LL * 1000, -60LL * 86400 * 1000 };
	for (size_t i = 0; i < 2; i++) {
		char at[25], p[256];
		format_time(now_ms + offsets[i], at);
		checkin(p, sizeof(p), at);
		struct vg_ingest_out out;
		ingest_ok(&cfg, p, 0, &out);
		expect_accepted(&out);
		assert_int_equal(out.flags, VG_FLAG_CLOCK_UNSYNCED);
		cJSON *b = body_tree(&out);
		assert_string_equal(str_at(b, "occurred_at", NULL), at);
		assert_null(cJSON_GetObjectItemCaseSensitive(b, "device_occurred_at"));
		cJSON_Delete(b);
		vg_ingest_out_free(&out);
	}
	/* The §4 example, unsynced: flagged, otherwise as synced. */
	struct vg_ingest_out out;
	ingest_ok(&cfg, design_example, 0, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, VG_FLAG_CLOCK_UNSYNCED);
	vg_ingest_out_free(&out);
}

static void test_time_missing(void **state)
{
	(void)state;
	char now_text[25];
	format_time(now_ms, now_text);
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg, "{\"type\":\"device.status\",\"properties\":{\"battery\":80}}", 1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, VG_FLAG_TS_MISSING);
	assert_int_equal(out.priority, VG_PRIO_LOW);
	cJSON *b = body_tree(&out);
	assert_string_equal(str_at(b, "occurred_at", NULL), now_text);
	cJSON_Delete(b);
	vg_ingest_out_free(&out);

	/* A type that requires it: a contract violation, not a default. */
	ingest_ok(&cfg, "{\"type\":\"kiosk.session.started\"}", 1, &out);
	assert_int_equal(out.quarantined, 1);
	assert_int_equal(out.rej.reason, VG_REJ_CONTRACT);
	assert_string_equal(out.rej.field, "occurred_at");
	vg_ingest_out_free(&out);
}

/* How many top-level members of the body are named name. */
static int count_members(const struct vg_ingest_out *out, const char *name)
{
	cJSON *b = body_tree(out);
	int n = 0;
	for (const cJSON *it = b->child; it; it = it->next)
		n += it->string && strcmp(it->string, name) == 0;
	cJSON_Delete(b);
	return n;
}

static void test_device_occurred_at_sent_by_device(void **state)
{
	(void)state;
	// Regression (fixed): ingest.c check_time() line 96 adds "device_occurred_at" with
	// cJSON_AddItemToObject() without removing one the device already sent,
	// so a replaced time yields a body with two "device_occurred_at" members
	// ({"…","device_occurred_at":"x","device_occurred_at":"2030-…"}); which
	// one the CDP reads is up to its parser.  Expected: exactly one, holding
	// the device's occurred_at (cJSON_ReplaceItemInObjectCaseSensitive or
	// delete-then-add).
	char at[25], p[256];
	format_time(now_ms + 3600 * 1000, at);
	snprintf(p, sizeof(p),
	         "{\"type\":\"device.status\",\"occurred_at\":\"%s\",\"device_occurred_at\":\"x\"}",
	         at);
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg, p, 1, &out);
	expect_accepted(&out);
	unsigned flags = out.flags;
	int n = count_members(&out, "device_occurred_at");
	cJSON *b = body_tree(&out);
	const char *got = str_at(b, "device_occurred_at", NULL);
	int same = got && strcmp(got, at) == 0;
	cJSON_Delete(b);
	vg_ingest_out_free(&out);   /* before asserting: no leak when it fails */
	assert_int_equal(flags, VG_FLAG_TS_FUTURE);
	assert_int_equal(n, 1);
	assert_true(same);
}

static void test_duplicate_members(void **state)
{
	(void)state;
	// Regression (fixed): event.c vg_event_decode() accepts an object that repeats a member
	// name, and ingest.c (lines 53, 117, 126) checks only the first one
	// (cJSON_GetObjectItemCaseSensitive), while the body forwarded keeps both.
	// {"type":"device.status","type":"consent.updated"} is checked as a
	// device.status (no requirements, low priority) and forwarded with a
	// second "type"; a second "occurred_at" bypasses the skew check; a
	// second "id" differs from the one the event key was made from.  Many
	// JSON parsers (the CDP's) take the last member.  Expected: such input
	// is quarantined (bad_json), or at least the body never repeats a
	// top-level member.
	static const char *const p[] = {
		"{\"type\":\"device.status\",\"type\":\"consent.updated\"}",
		"{\"type\":\"device.status\",\"occurred_at\":\"2026-11-28T17:10:00Z\","
		"\"occurred_at\":\"2040-11-28T17:10:00Z\"}",
		"{\"type\":\"device.status\",\"id\":\"a\",\"id\":\"b\"}",
	};
	static const char *const member[] = { "type", "occurred_at", "id" };
	struct vg_ingest_cfg cfg = cfg_default();
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		struct vg_ingest_out out;
		ingest_ok(&cfg, p[i], 1, &out);
		int n = out.body ? count_members(&out, member[i]) : 0;
		int quarantined = out.quarantined;
		vg_ingest_out_free(&out);
		if (!quarantined && n != 1)
			fail_msg("case %zu: accepted with %d \"%s\" members: %s", i, n, member[i], p[i]);
	}
}

/* ---- priority, reject, arguments, flags ----------------------------------- */

static void test_priority(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg,
	          "{\"type\":\"consent.updated\",\"occurred_at\":\"2026-11-28T17:00:00Z\","
	          "\"consent\":{\"marketing_email\":false},\"person\":{\"email\":\"ana@example.com\"}}",
	          1, &out);
	expect_accepted(&out);
	assert_int_equal(out.priority, VG_PRIO_HIGH);
	vg_ingest_out_free(&out);

	ingest_ok(&cfg, "{\"type\":\"device.status\"}", 1, &out);
	expect_accepted(&out);
	assert_int_equal(out.priority, VG_PRIO_LOW);
	vg_ingest_out_free(&out);

	ingest_ok(&cfg, design_example, 1, &out);
	assert_int_equal(out.priority, VG_PRIO_NORMAL);
	vg_ingest_out_free(&out);
}

/* The plugin's rejections (a bad topic, another device's topic) go in with
 * the configuration: the input is held with its tokenized body, and being a
 * quarantine it gets the keyed digest of its raw bytes (an accepted event
 * gets none). */
static void test_reject_by_configuration(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out ok, out;
	ingest_ok(&cfg, design_example, 1, &ok);
	expect_accepted(&ok);
	cfg.reject = VG_REJ_DEVICE_MISMATCH;
	cfg.reject_detail = "the topic names another device";
	ingest_ok(&cfg, design_example, 1, &out);
	assert_int_equal(out.quarantined, 1);
	assert_int_equal(out.rej.reason, VG_REJ_DEVICE_MISMATCH);
	assert_string_equal(out.rej.detail, "the topic names another device");
	assert_int_equal(strlen(out.digest), VG_EVENT_KEY_LEN);
	assert_string_equal(out.event_key, ok.event_key);
	assert_non_null(out.body);
	vg_ingest_out_free(&ok);
	vg_ingest_out_free(&out);
}

static void test_reject_after_accept(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg, design_example, 1, &out);
	expect_accepted(&out);
	char *body = strdup(out.body);
	assert_non_null(body);

	vg_ingest_reject(&out, VG_REJ_DEVICE_MISMATCH, "the topic names another device");
	assert_int_equal(out.quarantined, 1);
	assert_int_equal(out.rej.reason, VG_REJ_DEVICE_MISMATCH);
	assert_string_equal(vg_reject_name(out.rej.reason), "device_mismatch");
	assert_string_equal(out.rej.detail, "the topic names another device");
	assert_string_equal(out.rej.field, "");
	assert_int_equal(out.rej.offset, -1);
	/* The tokenized body and the key stay: it is held. */
	assert_non_null(out.body);
	assert_string_equal(out.body, body);
	assert_string_equal(out.event_key, KEY_ID);
	free(body);
	vg_ingest_out_free(&out);
}

/* The body ingest stores is text the forwarder takes as it stands
 * (vg_encode_text), and the message it makes from it is the tree's, byte
 * for byte: for an event, a `quarantine retry` of its stored body, and an
 * event whose time has no offset. */
static void expect_text_message(const struct vg_ingest_out *out, const char *key)
{
	const struct vg_encode_ctx ectx = { .venue_id = VENUE, .gateway_id = "gw-1", .library_version = VG_VERSION };
	struct vg_wire_consts wc;
	assert_int_equal(vg_encode_wire_consts(&ectx, &wc), VG_OK);
	const struct vg_encode_event ev = { .event_key = key, .device_id = DEVICE, .body = out->body,
	                                    .body_len = out->body_len, .flags = out->flags,
	                                    .received_at_ms = now_ms };
	struct vg_buf got = VG_BUF_INIT(1 << 16);
	assert_int_equal(vg_encode_text(&ectx, &wc, &ev, &got), VG_OK);
	char *want;
	size_t wlen;
	assert_int_equal(vg_encode_fragment(&ectx, &ev, &want, &wlen), VG_OK);
	assert_int_equal(got.len, wlen);
	assert_string_equal(vg_buf_str(&got), want);
	cJSON_free(want);
	vg_buf_free(&got);
}

static void test_stored_body_as_text(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out, again;
	ingest_ok(&cfg, design_example, 1, &out);
	expect_accepted(&out);
	expect_text_message(&out, out.event_key);

	struct vg_ingest_cfg rcfg = cfg;
	rcfg.stored_body = 1;
	rcfg.event_key = "AAAAAAAAAAAAAAAAAAAAAA";
	assert_int_equal(vg_ingest(&rcfg, DEVICE, out.body, out.body_len, now_ms, 1, &again), VG_OK);
	expect_accepted(&again);
	assert_int_equal(again.undeclared_total, 0);
	expect_text_message(&again, again.event_key);
	vg_ingest_out_free(&again);
	vg_ingest_out_free(&out);

	cfg.has_timezone = 1;
	static const char local[] = "{\"id\":\"t1\",\"type\":\"kiosk.session.started\","
	                            "\"occurred_at\":\"2026-11-28T18:00:00\"}";
	assert_int_equal(vg_ingest(&cfg, DEVICE, local, sizeof local - 1, now_ms, 1, &out), VG_OK);
	expect_accepted(&out);
	assert_true(out.flags & VG_FLAG_TS_ASSUMED_TZ);
	expect_text_message(&out, out.event_key);
	vg_ingest_out_free(&out);
}

static void test_no_key(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	cfg.key = NULL;
	struct vg_ingest_out out;
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(ingest_as(&cfg, DEVICE, design_example, strlen(design_example), now_ms, 1,
	                           &out),
	                 VG_ERR_INVAL);
	assert_null(out.body);
	assert_int_equal(out.body_len, 0);
	vg_ingest_out_free(&out);
}

static void test_pii_dropped(void **state)
{
	(void)state;
	struct vg_ingest_cfg cfg = cfg_default();
	struct vg_ingest_out out;
	ingest_ok(&cfg,
	          "{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T17:00:00Z\","
	          "\"person\":{\"customer_id\":\"MB-88121\",\"name\":\"Ana Lopez\","
	          "\"birth_date\":\"1990-04-01\"}}",
	          1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, VG_FLAG_PII_DROPPED);
	assert_int_equal(out.pii.fields_dropped, 2);
	assert_null(strstr(out.body, "Ana"));
	assert_null(strstr(out.body, "1990"));
	assert_null(strstr(out.body, "birth_date"));
	cJSON *b = body_tree(&out);
	assert_string_equal(str_at(b, "person", "customer_id"), "MB-88121");
	cJSON_Delete(b);
	vg_ingest_out_free(&out);

	/* A phone that cannot be normalized is dropped too. */
	ingest_ok(&cfg,
	          "{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T17:00:00Z\","
	          "\"person\":{\"customer_id\":\"MB-88121\",\"phone\":\"12\"}}",
	          1, &out);
	expect_accepted(&out);
	assert_int_equal(out.flags, VG_FLAG_PII_DROPPED);
	assert_int_equal(out.pii.phones_dropped, 1);
	vg_ingest_out_free(&out);

	/* Nothing dropped, no flag (the §4 example). */
	ingest_ok(&cfg, design_example, 1, &out);
	assert_int_equal(out.flags & VG_FLAG_PII_DROPPED, 0);
	vg_ingest_out_free(&out);
}

static void test_flag_names(void **state)
{
	(void)state;
	static const char *const want[VG_FLAG__COUNT] = {
		"timestamp_assumed_tz", "timestamp_future_replaced", "timestamp_past_replaced",
		"gateway_clock_unsynced", "timestamp_missing", "pii_dropped",
	};
	static const unsigned bits[VG_FLAG__COUNT] = {
		VG_FLAG_TS_ASSUMED_TZ, VG_FLAG_TS_FUTURE, VG_FLAG_TS_PAST,
		VG_FLAG_CLOCK_UNSYNCED, VG_FLAG_TS_MISSING, VG_FLAG_PII_DROPPED,
	};
	for (int i = 0; i < VG_FLAG__COUNT; i++) {
		assert_non_null(vg_flag_name(i));
		assert_string_equal(vg_flag_name(i), want[i]);
		assert_int_equal(bits[i], 1u << i);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(vg_flag_name(j), vg_flag_name(i));
	}
	assert_null(vg_flag_name(VG_FLAG__COUNT));
	assert_null(vg_flag_name(VG_FLAG__COUNT + 1));
	assert_null(vg_flag_name(31));
	assert_null(vg_flag_name(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_key_without_id),
		cmocka_unit_test(test_undecodable),
		cmocka_unit_test(test_reject_by_configuration),
		cmocka_unit_test(test_contract_violation_held),
		cmocka_unit_test(test_time_without_offset),
		cmocka_unit_test(test_time_future_replaced),
		cmocka_unit_test(test_time_past_replaced),
		cmocka_unit_test(test_time_clock_unsynced),
		cmocka_unit_test(test_time_missing),
		cmocka_unit_test(test_device_occurred_at_sent_by_device),
		cmocka_unit_test(test_duplicate_members),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_reject_after_accept),
		cmocka_unit_test(test_stored_body_as_text),
		cmocka_unit_test(test_no_key),
		cmocka_unit_test(test_pii_dropped),
		cmocka_unit_test(test_flag_names),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
