/* Unit tests for drivers/ecr.c (DESIGN.md §7): STX payload ETX LRC framing
 * with every LRC seed / span, NAK on corrupt frames, line noise, the mapping
 * of key=value and JSON payloads to §4 events, ACK only from settle, the
 * retransmission window, every split of a trace across reads, and option
 * errors.  LRCs in literals are hand-computed (XOR of the span, then seed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "driver.h"
#include "err.h"

extern const struct vg_driver vg_driver_ecr;
#define DRV vg_driver_ecr

#define STX "\x02"
#define ETX "\x03"
#define ACK 0x06
#define NAK 0x15

/* ---- a recording sink ------------------------------------------------- */

#define MAX_REC 256

#include "driver_log.h"

static void on_frame(void *ud, const struct vg_frame *f)
{
	if (f->kind == VG_FRAME_EVENT)
		assert_int_not_equal(f->token, 0);
	rec_frame(ud, f);
}

static void settle(struct drv *d, uint32_t token, int committed)
{
	DRV.settle(d->state, token, committed, d->now, &d->sink);
}

/* The reference LRC, written apart from the driver's. */
enum { PE, SPE, P };
static uint8_t ref_lrc(const char *payload, size_t n, uint8_t seed, int span)
{
	uint8_t x = seed;
	if (span == SPE)
		x ^= 0x02;
	for (size_t i = 0; i < n; i++)
		x ^= (uint8_t)payload[i];
	if (span != P)
		x ^= 0x03;
	return x;
}

/* STX payload ETX LRC into out; returns its length. */
static size_t make_frame(uint8_t *out, const char *payload, uint8_t seed, int span)
{
	size_t n = strlen(payload);
	out[0] = 0x02;
	memcpy(out + 1, payload, n);
	out[n + 1] = 0x03;
	out[n + 2] = ref_lrc(payload, n, seed, span);
	return n + 3;
}

static void feed_frame(struct drv *d, const char *payload)
{
	uint8_t buf[1024];
	assert_true(strlen(payload) + 3 <= sizeof buf);
	drv_feed(d, buf, make_frame(buf, payload, 0, PE));
}

/* Frame i is an EVENT whose JSON equals want (same members, any order). */
static void expect_json(const struct sink_log *l, int i, const char *want)
{
	assert_true(i < l->n);
	assert_int_equal(l->r[i].kind, VG_FRAME_EVENT);
	cJSON *g = cJSON_Parse(l->r[i].json), *w = cJSON_Parse(want);
	assert_non_null(w);
	if (!g || !cJSON_IsObject(g) || !cJSON_Compare(g, w, 1))
		fail_msg("event %d:\n got  %s\n want %s", i, l->r[i].json, want);
	cJSON_Delete(g);
	cJSON_Delete(w);
}

static void expect_sent(const struct sink_log *l, const char *bytes, size_t n)
{
	assert_int_equal(l->nsent, n);
	if (n)
		assert_memory_equal(l->sent, bytes, n);
}

#define EXPECT_SENT(l, lit) expect_sent((l), (lit), sizeof(lit) - 1)

/* Map one kv or JSON payload and compare with the §4 event wanted. */
static void expect_mapped(const struct vg_driver_opt *opts, size_t nopts, const char *payload, const char *want)
{
	struct drv d;
	drv_open(&d, opts, nopts);
	feed_frame(&d, payload);
	if (d.log.n != 1 || d.log.r[0].kind != VG_FRAME_EVENT)
		fail_msg("payload %s: no EVENT (%d frames, first %s)", payload, d.log.n,
		         d.log.n ? d.log.r[0].reason : "-");
	expect_json(&d.log, 0, want);
	assert_int_equal(d.log.nsent, 0); /* no ACK before the commit */
	drv_close(&d);
}

/* ---- framing ---------------------------------------------------------- */

static void test_lrc_variants(void **unused)
{
	/* Payload "AB": 0x41 ^ 0x42 = 0x03.  With ETX (0x03): 0x00; with STX
	 * too: 0x02. */
	static const struct {
		const char *seed, *span;
		uint8_t lrc;
	} cases[] = {
		{ NULL, NULL, 0x00 },                   /* defaults: seed 0, payload_etx */
		{ "0", "payload_etx", 0x00 },
		{ "0", "stx_payload_etx", 0x02 },
		{ "0", "payload", 0x03 },
		{ "255", "payload_etx", 0xff },
		{ "0x5A", "stx_payload_etx", 0x58 },
		{ "16", "payload", 0x13 },
		{ "0x40", "payload", 0x43 },
		{ "0x41", "payload_etx", 0x41 },
	};
	(void)unused;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vg_driver_opt o[2] = { { "lrc_seed", cases[i].seed }, { "lrc_span", cases[i].span } };
		struct drv d;
		uint8_t good[] = { 0x02, 'A', 'B', 0x03, cases[i].lrc };
		uint8_t bad1[] = { 0x02, 'A', 'B', 0x03, (uint8_t)(cases[i].lrc ^ 0x01) };
		drv_open(&d, o, cases[i].seed ? 2 : 0);
		drv_feed(&d, good, sizeof good);
		assert_int_equal(d.log.n, 1);
		expect_json(&d.log, 0, "{}");
		assert_int_equal(d.log.nsent, 0);
		drv_feed(&d, bad1, sizeof bad1);
		assert_int_equal(d.log.n, 2);
		expect_bad(&d.log, 1, "bad_lrc", 5);
		EXPECT_SENT(&d.log, "\x15");
		drv_close(&d);
	}
}

/* An LRC that happens to be STX or ETX is still just the LRC. */
static void test_lrc_is_stx_or_etx(void **unused)
{
	struct vg_driver_opt o[] = { { "lrc_seed", "0x40" } };
	struct drv d;
	(void)unused;
	drv_open(&d, o, 1);
	/* "A" ^ ETX ^ 0x40 = 0x41 ^ 0x03 ^ 0x40 = 0x02 (STX). */
	FEED(&d, STX "A" ETX "\x02");
	/* "@" ^ ETX ^ 0x40 = 0x03 (ETX). */
	FEED(&d, STX "@" ETX "\x03");
	assert_int_equal(d.log.n, 2);
	assert_int_equal(d.log.r[0].kind, VG_FRAME_EVENT);
	assert_int_equal(d.log.r[1].kind, VG_FRAME_EVENT);
	assert_int_equal(d.log.nsent, 0);
	drv_close(&d);
}

/* A captured-style session: noise on power-up, an ORDER, a PAYMENT, a
 * REFUND.  LRCs (seed 0, payload_etx) computed by hand: 0x53, 0x0e, 0x63. */
#define P_ORDER "type=ORDER;order_id=A-1001;total=12.50;currency=EUR;receipt=R-77;terminal=T1;customer_id=MB-88121;ts=2026-11-28T18:03:12+01:00"
#define P_PAY "msg=PAYMENT|amount=5|currency=eur|card=4111 1111 1111 1111|loyalty_id=L-4410|ts=yesterday"
#define P_REFUND "msg=REFUND\namount_minor=-250\ncurrency=EUR\npayment_id=P-9\n"
static const char session[] =
	"\xff\x00\x7f"
	STX P_ORDER ETX "\x53"
	"\r\n"
	STX P_PAY ETX "\x0e"
	STX P_REFUND ETX "\x63";

#define J_ORDER "{\"type\":\"pos.order.completed\",\"occurred_at\":\"2026-11-28T18:03:12+01:00\"," \
	"\"person\":{\"customer_id\":\"MB-88121\"},\"properties\":{\"order_id\":\"A-1001\"," \
	"\"total_minor\":1250,\"currency\":\"EUR\",\"receipt_id\":\"R-77\",\"terminal_id\":\"T1\"}}"
#define J_PAY "{\"type\":\"payment.succeeded\",\"person\":{\"loyalty_id\":\"L-4410\"}," \
	"\"properties\":{\"amount_minor\":500,\"currency\":\"EUR\",\"card\":\"4111 1111 1111 1111\"}}"
#define J_REFUND "{\"type\":\"refund.issued\",\"properties\":{\"amount_minor\":-250," \
	"\"currency\":\"EUR\",\"payment_id\":\"P-9\"}}"

static void check_session(const struct sink_log *l)
{
	assert_int_equal(l->n, 5);
	expect_bad(l, 0, "line_noise", 3);
	expect_json(l, 1, J_ORDER);
	expect_bad(l, 2, "line_noise", 2);
	expect_json(l, 3, J_PAY);
	expect_json(l, 4, J_REFUND);
	assert_int_equal(l->r[1].token, 1);
	assert_int_equal(l->r[3].token, 2);
	assert_int_equal(l->r[4].token, 3);
	assert_int_equal(l->nsent, 0);
}

static void test_session_trace(void **unused)
{
	struct drv d;
	(void)unused;
	/* The hand-computed LRCs agree with the reference. */
	assert_int_equal(ref_lrc(P_ORDER, strlen(P_ORDER), 0, PE), 0x53);
	assert_int_equal(ref_lrc(P_PAY, strlen(P_PAY), 0, PE), 0x0e);
	assert_int_equal(ref_lrc(P_REFUND, strlen(P_REFUND), 0, PE), 0x63);

	drv_open(&d, NULL, 0);
	drv_feed(&d, session, sizeof session - 1);
	check_session(&d.log);
	settle(&d, 1, 1);
	settle(&d, 2, 0);
	settle(&d, 3, 1);
	EXPECT_SENT(&d.log, "\x06\x15\x06");
	drv_close(&d);
}

static void test_split_everywhere(void **unused)
{
	size_t n = sizeof session - 1;
	struct drv d;
	(void)unused;
	for (size_t cut = 0; cut <= n; cut++) {
		drv_open(&d, NULL, 0);
		drv_feed(&d, session, cut);
		drv_feed(&d, session + cut, n - cut);
		check_session(&d.log);
		drv_close(&d);
	}
	for (size_t a = 0; a <= n; a += 7)
		for (size_t b = a; b <= n; b += 5) {
			drv_open(&d, NULL, 0);
			drv_feed(&d, session, a);
			drv_feed(&d, session + a, b - a);
			drv_feed(&d, session + b, n - b);
			check_session(&d.log);
			drv_close(&d);
		}
	drv_open(&d, NULL, 0);
	for (size_t i = 0; i < n; i++)
		drv_feed(&d, session + i, 1);
	check_session(&d.log);
	drv_close(&d);
}

static void test_noise(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	/* ETX, LRC-like bytes, ACK and NAK outside a frame are noise; a run
	 * spans reads; it is reported at the next STX. */
	FEED(&d, ETX "x");
	FEED(&d, "\x06\x15");
	assert_int_equal(d.log.n, 0);
	FEED(&d, STX "AB" ETX "\x00");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "line_noise", 4);
	assert_int_equal(d.log.r[1].kind, VG_FRAME_EVENT);
	assert_int_equal(d.log.nsent, 0);
	log_clear(&d.log);

	/* A run that goes quiet is reported by tick after frame_timeout_ms
	 * (1000 by default). */
	FEED(&d, "zzz");
	assert_int_equal(DRV.tick(d.state, d.now + 999, &d.sink), d.now + 1000);
	assert_int_equal(d.log.n, 0);
	assert_int_equal(DRV.tick(d.state, d.now + 1000, &d.sink), -1);
	assert_int_equal(d.log.n, 1);
	expect_bad(&d.log, 0, "line_noise", 3);
	assert_int_equal(d.log.nsent, 0);
	drv_close(&d);
}

static void test_too_long(void **unused)
{
	struct vg_driver_opt o[] = { { "max_payload", "4" } };
	struct drv d;
	(void)unused;
	drv_open(&d, o, 1);
	/* 4 bytes fit ("ABCD" ^ ETX = 0x04 ^ 0x03 = 0x07; 0x41^0x42^0x43^0x44 = 0x04). */
	FEED(&d, STX "ABCD" ETX "\x07");
	assert_int_equal(d.log.n, 1);
	assert_int_equal(d.log.r[0].kind, VG_FRAME_EVENT);
	/* 5 do not: BAD and NAK once ETX LRC arrived; all 8 bytes counted. */
	FEED(&d, STX "ABCDE");
	assert_int_equal(d.log.n, 1);
	assert_int_equal(d.log.nsent, 0);
	FEED(&d, ETX "\x42");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 1, "too_long", 8);
	EXPECT_SENT(&d.log, "\x15");
	/* Resync: the next frame is read. */
	FEED(&d, STX "AB" ETX "\x00");
	assert_int_equal(d.log.n, 3);
	assert_int_equal(d.log.r[2].kind, VG_FRAME_EVENT);
	/* An overlong frame cut by an STX: BAD + NAK, and the STX starts the
	 * next frame. */
	FEED(&d, STX "0123456789" STX "CD" ETX "\x04");
	assert_int_equal(d.log.n, 5);
	expect_bad(&d.log, 3, "too_long", 11);
	assert_int_equal(d.log.r[4].kind, VG_FRAME_EVENT);
	EXPECT_SENT(&d.log, "\x15\x15");
	drv_close(&d);
}

static void test_cut_and_timeout(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	/* An STX inside a frame: the cut frame is dropped, no reply. */
	FEED(&d, STX "type=ORD" STX "AB" ETX "\x00");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "bad_payload", 9);
	assert_int_equal(d.log.r[1].kind, VG_FRAME_EVENT);
	assert_int_equal(d.log.nsent, 0);
	log_clear(&d.log);

	/* A frame that stops: tick reports it after 1000 ms and NAKs. */
	FEED(&d, STX "AB" ETX);
	assert_int_equal(DRV.tick(d.state, d.now + 10, &d.sink), d.now + 1000);
	assert_int_equal(d.log.n, 0);
	assert_int_equal(DRV.tick(d.state, d.now + 1000, &d.sink), -1);
	assert_int_equal(d.log.n, 1);
	expect_bad(&d.log, 0, "timeout", 4);
	EXPECT_SENT(&d.log, "\x15");
	log_clear(&d.log);

	/* The same found by feed when the next bytes come late: the LRC that
	 * arrives 2 s later is noise, not the end of the old frame. */
	FEED(&d, STX "AB" ETX);
	d.now += 2000;
	FEED(&d, "\x00" STX "CD" ETX "\x04");
	assert_int_equal(d.log.n, 3);
	expect_bad(&d.log, 0, "timeout", 4);
	expect_bad(&d.log, 1, "line_noise", 1);
	assert_int_equal(d.log.r[2].kind, VG_FRAME_EVENT);
	EXPECT_SENT(&d.log, "\x15");
	drv_close(&d);

	struct vg_driver_opt o[] = { { "frame_timeout_ms", "50" } };
	drv_open(&d, o, 1);
	FEED(&d, STX "A");
	assert_int_equal(DRV.tick(d.state, d.now, &d.sink), d.now + 50);
	drv_close(&d);
}

static void test_bad_utf8_and_json(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	/* 0xff: not UTF-8.  LRC = 0xff ^ 0x03 = 0xfc. */
	FEED(&d, STX "\xff" ETX "\xfc");
	/* An overlong '/' (0xc0 0xaf): 0xc0 ^ 0xaf ^ 0x03 = 0x6c. */
	FEED(&d, STX "\xc0\xaf" ETX "\x6c");
	/* A NUL: 'A' ^ 0 ^ 0x03 = 0x42. */
	FEED(&d, STX "A\x00" ETX "\x42");
	assert_int_equal(d.log.n, 3);
	expect_bad(&d.log, 0, "bad_utf8", 4);
	expect_bad(&d.log, 1, "bad_utf8", 5);
	expect_bad(&d.log, 2, "bad_utf8", 5);
	EXPECT_SENT(&d.log, "\x15\x15\x15");
	log_clear(&d.log);

	/* Valid UTF-8 is fine: "é" in a value. */
	feed_frame(&d, "msg=ORDER;order_id=caf\xc3\xa9");
	expect_json(&d.log, 0, "{\"type\":\"pos.order.completed\",\"properties\":{\"order_id\":\"caf\xc3\xa9\"}}");

	/* JSON that does not parse, or is not one object: BAD + NAK. */
	feed_frame(&d, "{\"msg\":\"ORDER\"");
	feed_frame(&d, " {\"msg\":\"ORDER\"} x");
	expect_bad(&d.log, 1, "bad_json", 17);
	expect_bad(&d.log, 2, "bad_json", 21);
	EXPECT_SENT(&d.log, "\x15\x15");
	drv_close(&d);

	struct vg_driver_opt o[] = { { "format", "json" } };
	drv_open(&d, o, 1);
	feed_frame(&d, "msg=ORDER");
	feed_frame(&d, "[1,2]");
	feed_frame(&d, "  {\"msg\":\"ORDER\"}\r\n");
	assert_int_equal(d.log.n, 3);
	expect_bad(&d.log, 0, "bad_json", 12);
	expect_bad(&d.log, 1, "bad_json", 8);
	expect_json(&d.log, 2, "{\"type\":\"pos.order.completed\"}");
	EXPECT_SENT(&d.log, "\x15\x15");
	drv_close(&d);
}

/* ---- mapping ---------------------------------------------------------- */

static void test_map_kv(void **unused)
{
	(void)unused;
	expect_mapped(NULL, 0, P_ORDER, J_ORDER);
	expect_mapped(NULL, 0, P_PAY, J_PAY);
	expect_mapped(NULL, 0, P_REFUND, J_REFUND);
	/* §4 type names pass; case-insensitive keys and kinds; blanks trimmed;
	 * the last of a repeated key wins; pairs without '=' and unknown keys
	 * (a name!) are dropped. */
	expect_mapped(NULL, 0,
	              " TYPE = payment.succeeded ; Amount_Minor=1299;currency=EUR;"
	              "name=Ana Lopez;garbage;amount_minor=1300",
	              "{\"type\":\"payment.succeeded\",\"properties\":{\"amount_minor\":1300,\"currency\":\"EUR\"}}");
	expect_mapped(NULL, 0, "kind=refund;payment_id=P-1;amount=0.99;currency=GBP",
	              "{\"type\":\"refund.issued\",\"properties\":{\"payment_id\":\"P-1\",\"amount_minor\":99,"
	              "\"currency\":\"GBP\"}}");
	/* type wins over msg / kind. */
	expect_mapped(NULL, 0, "msg=PAYMENT;type=ORDER", "{\"type\":\"pos.order.completed\"}");
	/* An unknown kind is kept as the type (the daemon says unknown_type). */
	expect_mapped(NULL, 0, "msg=VOID;order_id=9", "{\"type\":\"VOID\",\"properties\":{\"order_id\":\"9\"}}");
	/* Nothing known: still an event, for the daemon to quarantine. */
	expect_mapped(NULL, 0, "hello", "{}");
	expect_mapped(NULL, 0, "", "{}");
	/* Aliases: receipt_no, tid, pan, card_number, occurred_at. */
	expect_mapped(NULL, 0,
	              "msg=ORDER;receipt_no=9;tid=T-4;pan=5500000000000004;occurred_at=2026-01-02T03:04:05Z",
	              "{\"type\":\"pos.order.completed\",\"occurred_at\":\"2026-01-02T03:04:05Z\",\"properties\":"
	              "{\"receipt_id\":\"9\",\"terminal_id\":\"T-4\",\"card\":\"5500000000000004\"}}");
	/* total_minor wins over total. */
	expect_mapped(NULL, 0, "msg=ORDER;total=1.00;total_minor=7;currency=EUR",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total_minor\":7,\"currency\":\"EUR\"}}");
}

static void test_map_amounts(void **unused)
{
	(void)unused;
	/* Exponent by currency: JPY 0, KWD 3, others 2. */
	expect_mapped(NULL, 0, "msg=ORDER;total=1200;currency=JPY",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total_minor\":1200,\"currency\":\"JPY\"}}");
	expect_mapped(NULL, 0, "msg=ORDER;total=1.5;currency=kwd",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total_minor\":1500,\"currency\":\"KWD\"}}");
	expect_mapped(NULL, 0, "msg=ORDER;total=12;currency=EUR",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total_minor\":1200,\"currency\":\"EUR\"}}");
	expect_mapped(NULL, 0, "msg=ORDER;total=.5",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total_minor\":50}}");
	expect_mapped(NULL, 0, "msg=ORDER;total=-3.10;currency=EUR",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total_minor\":-310,\"currency\":\"EUR\"}}");
	expect_mapped(NULL, 0, "msg=ORDER;total=12.500;currency=EUR",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total_minor\":1250,\"currency\":\"EUR\"}}");
	/* Not exact, or not a number: kept as a string under its own name. */
	expect_mapped(NULL, 0, "msg=ORDER;total=12.345;currency=EUR",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total\":\"12.345\",\"currency\":\"EUR\"}}");
	expect_mapped(NULL, 0, "msg=ORDER;total=12,50;currency=EUR",
	              "{\"type\":\"pos.order.completed\",\"properties\":{\"total\":\"12,50\",\"currency\":\"EUR\"}}");
	expect_mapped(NULL, 0, "msg=PAYMENT;amount_minor=12.5;currency=EUR",
	              "{\"type\":\"payment.succeeded\",\"properties\":{\"amount_minor\":\"12.5\",\"currency\":\"EUR\"}}");
	expect_mapped(NULL, 0, "msg=PAYMENT;amount_minor=99999999999999999",
	              "{\"type\":\"payment.succeeded\",\"properties\":{\"amount_minor\":\"99999999999999999\"}}");
	expect_mapped(NULL, 0, "msg=PAYMENT;amount=.;currency=EURO",
	              "{\"type\":\"payment.succeeded\",\"properties\":{\"amount\":\".\",\"currency\":\"EURO\"}}");
	expect_mapped(NULL, 0, "msg=PAYMENT;amount_minor=9007199254740992",
	              "{\"type\":\"payment.succeeded\",\"properties\":{\"amount_minor\":9007199254740992}}");
	/* A time that is not ISO 8601 is omitted. */
	expect_mapped(NULL, 0, "msg=ORDER;ts=1764349392", "{\"type\":\"pos.order.completed\"}");
}

static void test_map_json(void **unused)
{
	(void)unused;
	/* The ECR's own fields, as JSON: numbers become strings or integers. */
	expect_mapped(NULL, 0,
	              "{\"msg\":\"ORDER\",\"order_id\":42,\"total\":12.5,\"currency\":\"eur\",\"name\":\"Ana\","
	              "\"nested\":{\"customer_id\":\"x\"},\"customer_id\":\" MB-1 \",\"card\":4111111111111111}",
	              "{\"type\":\"pos.order.completed\",\"person\":{\"customer_id\":\"MB-1\"},\"properties\":"
	              "{\"order_id\":\"42\",\"total_minor\":1250,\"currency\":\"EUR\",\"card\":\"4111111111111111\"}}");
	expect_mapped(NULL, 0, "{\"type\":\"PAYMENT\",\"amount_minor\":500,\"currency\":\"EUR\",\"card\":1e300}",
	              "{\"type\":\"payment.succeeded\",\"properties\":{\"amount_minor\":500,\"currency\":\"EUR\"}}");
	expect_mapped(NULL, 0, "{}", "{}");

	/* A §4 event is passed byte for byte. */
	static const char ev[] = "{\"type\":\"pos.order.completed\",\"occurred_at\":\"2026-11-28T18:03:12Z\","
	                         "\"properties\":{\"order_id\":\"A\",\"total_minor\":1,\"currency\":\"EUR\"},"
	                         "\"person\":{\"email\":\"a@b.example\"}} ";
	struct drv d;
	drv_open(&d, NULL, 0);
	feed_frame(&d, ev);
	assert_int_equal(d.log.n, 1);
	assert_int_equal(d.log.r[0].kind, VG_FRAME_EVENT);
	assert_int_equal(d.log.r[0].json_len, sizeof ev - 1);
	assert_memory_equal(d.log.r[0].json, ev, sizeof ev - 1);
	/* A non-string type too (the daemon says bad_field). */
	feed_frame(&d, "{\"type\":7}");
	assert_string_equal(d.log.r[1].json, "{\"type\":7}");
	drv_close(&d);

	/* format = kv: a '{' is just a character. */
	struct vg_driver_opt o[] = { { "format", "kv" } };
	expect_mapped(o, 1, "{msg=ORDER}", "{}");
	expect_mapped(o, 1, "{x;msg=ORDER", "{\"type\":\"pos.order.completed\"}");
}

/* ---- acknowledging ---------------------------------------------------- */

static void test_settle(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	feed_frame(&d, "msg=ORDER;order_id=1");
	feed_frame(&d, "msg=ORDER;order_id=2");
	assert_int_equal(d.log.n, 2);
	assert_int_equal(d.log.r[0].token, 1);
	assert_int_equal(d.log.r[1].token, 2);
	assert_int_equal(d.log.nsent, 0);
	settle(&d, 1, 1);
	EXPECT_SENT(&d.log, "\x06");
	settle(&d, 2, 0);
	EXPECT_SENT(&d.log, "\x06\x15");
	/* Tokens never handed out: no reply. */
	settle(&d, 0, 1);
	settle(&d, 3, 1);
	settle(&d, 0xffffffffu, 0);
	EXPECT_SENT(&d.log, "\x06\x15");
	drv_close(&d);
}

static void test_retransmit_after_lost_ack(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	FEED(&d, STX P_ORDER ETX "\x53");
	settle(&d, 1, 1);
	EXPECT_SENT(&d.log, "\x06");
	/* The ACK was lost: the terminal sends the frame again. */
	d.now += 1500;
	FEED(&d, STX P_ORDER ETX "\x53");
	assert_int_equal(d.log.n, 1);
	EXPECT_SENT(&d.log, "\x06\x06");
	/* And again, the ACK split across the retransmission's reads. */
	d.now += 1500;
	FEED(&d, STX P_ORDER);
	FEED(&d, ETX "\x53");
	assert_int_equal(d.log.n, 1);
	EXPECT_SENT(&d.log, "\x06\x06\x06");
	/* A different frame is a new event. */
	FEED(&d, STX P_REFUND ETX "\x63");
	assert_int_equal(d.log.n, 2);
	assert_int_equal(d.log.r[1].token, 2);
	drv_close(&d);
}

static void test_retransmit_while_pending(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	FEED(&d, STX P_PAY ETX "\x0e");
	d.now += 800;
	FEED(&d, STX P_PAY ETX "\x0e");
	d.now += 800;
	FEED(&d, STX P_PAY ETX "\x0e");
	assert_int_equal(d.log.n, 1);
	assert_int_equal(d.log.nsent, 0);
	/* Pending frames do not expire: the commit may be slow. */
	d.now += 60000;
	assert_int_equal(DRV.tick(d.state, d.now, &d.sink), -1);
	FEED(&d, STX P_PAY ETX "\x0e");
	assert_int_equal(d.log.n, 1);
	settle(&d, 1, 1);
	EXPECT_SENT(&d.log, "\x06");
	FEED(&d, STX P_PAY ETX "\x0e");
	assert_int_equal(d.log.n, 1);
	EXPECT_SENT(&d.log, "\x06\x06");
	drv_close(&d);
}

static void test_retransmit_after_nak(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	FEED(&d, STX P_PAY ETX "\x0e");
	settle(&d, 1, 0);
	EXPECT_SENT(&d.log, "\x15");
	FEED(&d, STX P_PAY ETX "\x0e");
	assert_int_equal(d.log.n, 2);
	expect_json(&d.log, 1, J_PAY);
	assert_int_equal(d.log.r[1].token, 2);
	settle(&d, 2, 1);
	EXPECT_SENT(&d.log, "\x15\x06");
	/* A late settle of the NAKed token changes nothing for the new copy. */
	settle(&d, 1, 0);
	FEED(&d, STX P_PAY ETX "\x0e");
	assert_int_equal(d.log.n, 2);
	EXPECT_SENT(&d.log, "\x15\x06\x15\x06");
	/* A corrupt copy is NAKed and does not disturb the committed one. */
	FEED(&d, STX P_PAY ETX "\x0f");
	expect_bad(&d.log, 2, "bad_lrc", sizeof P_PAY - 1 + 3);
	EXPECT_SENT(&d.log, "\x15\x06\x15\x06\x15");
	drv_close(&d);
}

static void test_dedup_window(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	assert_int_equal(DRV.tick(d.state, d.now, &d.sink), -1);
	FEED(&d, STX P_ORDER ETX "\x53");
	d.now = 2000;
	settle(&d, 1, 1); /* the window runs from the commit: until 12000 */
	assert_int_equal(DRV.tick(d.state, 2000, &d.sink), 12000);
	d.now = 5000;
	FEED(&d, STX P_REFUND ETX "\x63");
	settle(&d, 2, 1); /* until 15000 */
	assert_int_equal(DRV.tick(d.state, 11999, &d.sink), 12000);
	assert_int_equal(DRV.tick(d.state, 12000, &d.sink), 15000);
	/* The ORDER's digest has expired: the same bytes are a new event. */
	d.now = 12000;
	FEED(&d, STX P_ORDER ETX "\x53");
	assert_int_equal(d.log.n, 3);
	assert_int_equal(d.log.r[2].token, 3);
	/* The REFUND's is still there. */
	d.now = 14999;
	FEED(&d, STX P_REFUND ETX "\x63");
	assert_int_equal(d.log.n, 3);
	EXPECT_SENT(&d.log, "\x06\x06\x06");
	/* A retransmission restarts its window. */
	assert_int_equal(DRV.tick(d.state, 14999, &d.sink), 14999 + 10000);
	d.now = 20000;
	settle(&d, 3, 1);
	assert_int_equal(DRV.tick(d.state, 20000, &d.sink), 24999);
	assert_int_equal(DRV.tick(d.state, 24999, &d.sink), 30000);
	assert_int_equal(DRV.tick(d.state, 30000, &d.sink), -1);
	assert_int_equal(d.log.n, 3);
	drv_close(&d);

	/* Expiry without tick: feed checks the age itself. */
	struct vg_driver_opt o[] = { { "dedup_window_ms", "100" } };
	drv_open(&d, o, 1);
	FEED(&d, STX "AB" ETX "\x00");
	settle(&d, 1, 1);
	d.now += 99;
	FEED(&d, STX "AB" ETX "\x00");
	assert_int_equal(d.log.n, 1);
	d.now += 100;
	FEED(&d, STX "AB" ETX "\x00");
	assert_int_equal(d.log.n, 2);
	EXPECT_SENT(&d.log, "\x06\x06");
	drv_close(&d);

	/* dedup_window_ms = 0: no recognition at all. */
	o[0].value = "0";
	drv_open(&d, o, 1);
	FEED(&d, STX "AB" ETX "\x00");
	settle(&d, 1, 1);
	FEED(&d, STX "AB" ETX "\x00");
	assert_int_equal(d.log.n, 2);
	drv_close(&d);
}

/* The daemon may refuse an event from inside the frame callback (out of
 * memory, no token key): settle re-enters the driver during feed. */
struct reentrant {
	struct drv *d;
	int events;
};

static void refuse_frame(void *ud, const struct vg_frame *f)
{
	struct reentrant *r = ud;
	if (f->kind != VG_FRAME_EVENT)
		return;
	r->events++;
	struct vg_driver_sink sink = { .ud = &r->d->log, .frame = on_frame, .send = on_send };
	DRV.settle(r->d->state, f->token, 0, r->d->now, &sink);
}

static void reentrant_send(void *ud, const uint8_t *bytes, size_t n)
{
	struct reentrant *r = ud;
	on_send(&r->d->log, bytes, n);
}

static void test_settle_reentrant(void **unused)
{
	struct drv d;
	struct reentrant r = { &d, 0 };
	(void)unused;
	drv_open(&d, NULL, 0);
	d.sink.ud = &r;
	d.sink.frame = refuse_frame;
	d.sink.send = reentrant_send;
	FEED(&d, STX P_PAY ETX "\x0e" STX P_PAY ETX "\x0e");
	/* Both copies were events (the first was NAKed at once). */
	assert_int_equal(r.events, 2);
	EXPECT_SENT(&d.log, "\x15\x15");
	drv_close(&d);
}

/* More frames than the table holds: the oldest committed are forgotten
 * first; every settle still gets its reply. */
static void test_table_full(void **unused)
{
	struct drv d;
	char p[64];
	(void)unused;
	drv_open(&d, NULL, 0);
	for (int i = 0; i < 100; i++) {
		snprintf(p, sizeof p, "msg=ORDER;order_id=%d", i);
		feed_frame(&d, p);
		d.now++;
	}
	assert_int_equal(d.log.n, 100);
	for (uint32_t t = 1; t <= 100; t++)
		settle(&d, t, 1);
	assert_int_equal(d.log.nsent, 100);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(d.log.sent[i], ACK);
	/* Frames 36..99 are remembered, committed; 0..35 were forgotten. */
	feed_frame(&d, "msg=ORDER;order_id=99");
	assert_int_equal(d.log.n, 100);
	assert_int_equal(d.log.nsent, 101);
	feed_frame(&d, "msg=ORDER;order_id=0");
	assert_int_equal(d.log.n, 101);
	/* 64 more pending frames push the committed ones out, oldest first,
	 * before any pending one. */
	for (int i = 200; i < 263; i++) {
		snprintf(p, sizeof p, "msg=ORDER;order_id=%d", i);
		feed_frame(&d, p);
	}
	assert_int_equal(d.log.n, 164);
	feed_frame(&d, "msg=ORDER;order_id=0"); /* still pending: ignored */
	assert_int_equal(d.log.n, 164);
	drv_close(&d);
}

/* ---- options ---------------------------------------------------------- */

static void test_options(void **unused)
{
	(void)unused;
	expect_config_error("lrc_seed", "256");
	expect_config_error("lrc_seed", "-1");
	expect_config_error("lrc_seed", "0x");
	expect_config_error("lrc_seed", "0x100");
	expect_config_error("lrc_seed", "ff");
	expect_config_error("lrc_seed", "");
	expect_config_error("lrc_span", "etx");
	expect_config_error("lrc_span", "PAYLOAD");
	expect_config_error("max_payload", "0");
	expect_config_error("max_payload", "65537");
	expect_config_error("max_payload", "4 KiB");
	expect_config_error("format", "xml");
	expect_config_error("dedup_window_ms", "-5");
	expect_config_error("dedup_window_ms", "3600001");
	expect_config_error("frame_timeout_ms", "0");
	expect_config_error("max_line", "100");
	expect_config_error("baud", "9600");

	struct vg_driver_opt ok[] = {
		{ "lrc_seed", "0xFF" }, { "lrc_span", "payload" }, { "max_payload", "65536" },
		{ "format", "kv" }, { "dedup_window_ms", "0" }, { "frame_timeout_ms", "60000" },
	};
	char err[256];
	void *state = calloc(1, DRV.state_size);
	assert_non_null(state);
	assert_int_equal(DRV.init(state, ok, sizeof ok / sizeof ok[0], err, sizeof err), VG_OK);
	free(state);
	assert_string_equal(DRV.name, "ecr");
}

/* The largest payload: 65536 bytes, mapped. */
static void test_max_payload(void **unused)
{
	struct vg_driver_opt o[] = { { "max_payload", "65536" } };
	struct drv d;
	size_t n = 65536;
	uint8_t *buf = malloc(n + 3);
	(void)unused;
	assert_non_null(buf);
	static const char head[] = "msg=ORDER;order_id=";
	memset(buf + 1, 'x', n);
	memcpy(buf + 1, head, sizeof head - 1);
	buf[0] = 0x02;
	buf[n + 1] = 0x03;
	uint8_t x = 0x03;
	for (size_t i = 0; i < n; i++)
		x ^= buf[1 + i];
	buf[n + 2] = x;
	drv_open(&d, o, 1);
	drv_feed(&d, buf, n + 3);
	assert_int_equal(d.log.n, 1);
	assert_int_equal(d.log.r[0].kind, VG_FRAME_EVENT);
	cJSON *j = cJSON_Parse(d.log.r[0].json);
	assert_non_null(j);
	cJSON *id = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "properties"), "order_id");
	assert_true(cJSON_IsString(id));
	assert_int_equal(strlen(id->valuestring), n - (sizeof head - 1));
	cJSON_Delete(j);
	drv_close(&d);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lrc_variants),
		cmocka_unit_test(test_lrc_is_stx_or_etx),
		cmocka_unit_test(test_session_trace),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_noise),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_cut_and_timeout),
		cmocka_unit_test(test_bad_utf8_and_json),
		cmocka_unit_test(test_map_kv),
		cmocka_unit_test(test_map_amounts),
		cmocka_unit_test(test_map_json),
		cmocka_unit_test(test_settle),
		cmocka_unit_test(test_retransmit_after_lost_ack),
		cmocka_unit_test(test_retransmit_while_pending),
		cmocka_unit_test(test_retransmit_after_nak),
		cmocka_unit_test(test_dedup_window),
		cmocka_unit_test(test_settle_reentrant),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_max_payload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
