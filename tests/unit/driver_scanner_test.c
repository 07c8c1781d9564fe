/* Unit tests for drivers/scanner.c (and the line framing of
 * drivers/scanner_line.c): serial barcode/QR scanners (DESIGN.md §7). */
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
#include "driver_rec.h"

extern const struct vg_driver vg_driver_scanner;

/* ---- a sink that records what the driver hands over --------------------- */

#define MAX_FRAMES 64

struct rec {
	int n;
	struct {
		enum vg_frame_kind kind;
		char json[16384];
		char reason[32];
		size_t size;
		uint32_t token;
	} f[MAX_FRAMES];
	int sends;
};

static void on_frame(void *ud, const struct vg_frame *f)
{
	struct rec *r = ud;
	assert_true(r->n < MAX_FRAMES);
	r->f[r->n].kind = f->kind;
	r->f[r->n].size = f->size;
	r->f[r->n].token = f->token;
	r->f[r->n].json[0] = r->f[r->n].reason[0] = '\0';
	if (f->kind == VG_FRAME_EVENT) {
		/* Every event parses, and the text was not NUL-terminated on purpose. */
		rec_event_json(r->f[r->n].json, sizeof r->f[0].json, f);
		assert_int_equal(f->token, 0);
	} else {
		assert_int_equal(f->kind, VG_FRAME_BAD);
		rec_bad_reason(r->f[r->n].reason, sizeof r->f[0].reason, f);
		assert_true(strlen(f->detail) > 0);
	}
	r->n++;
}

static void on_send(void *ud, const uint8_t *bytes, size_t n)
{
	struct rec *r = ud;
	(void)bytes;
	(void)n;
	r->sends++;
}

struct drv {
	void *state;
	struct rec *rec;
	struct vg_driver_sink sink;
};

static int open_drv(struct drv *d, const struct vg_driver_opt *opts, size_t nopts, char *err, size_t errsz)
{
	d->state = calloc(1, vg_driver_scanner.state_size);
	d->rec = calloc(1, sizeof *d->rec);
	assert_non_null(d->state);
	assert_non_null(d->rec);
	d->sink = (struct vg_driver_sink){ .ud = d->rec, .frame = on_frame, .send = on_send };
	return vg_driver_scanner.init(d->state, opts, nopts, err, errsz);
}

static void new_drv(struct drv *d, const struct vg_driver_opt *opts, size_t nopts)
{
	char err[256] = "";
	rec_init_ok(open_drv(d, opts, nopts, err, sizeof err), err);
}

static void close_drv(struct drv *d)
{
	if (vg_driver_scanner.fini)
		vg_driver_scanner.fini(d->state);
	assert_int_equal(d->rec->sends, 0);     /* a scanner never replies */
	free(d->state);
	free(d->rec);
}

/* Feed from an exact-size heap copy, so ASan sees any read past the end. */
static void feed(struct drv *d, const void *buf, size_t n, int64_t now_ms)
{
	rec_feed(&vg_driver_scanner, d->state, buf, n, now_ms, &d->sink);
}

static void feeds(struct drv *d, const char *s, int64_t now_ms)
{
	feed(d, s, strlen(s), now_ms);
}

static int64_t tick(struct drv *d, int64_t now_ms)
{
	return vg_driver_scanner.tick(d->state, now_ms, &d->sink);
}

#define EV(code) "{\"type\":\"checkin.scanned\",\"person\":{\"member_code\":\"" code \
                 "\"},\"properties\":{\"source\":\"scanner\"}}"
#define EV_SYM(code, sym) "{\"type\":\"checkin.scanned\",\"person\":{\"member_code\":\"" code \
                          "\"},\"properties\":{\"source\":\"scanner\",\"symbology\":\"" sym "\"}}"

static void expect_event(const struct drv *d, int i, const char *json)
{
	assert_true(i < d->rec->n);
	assert_int_equal(d->rec->f[i].kind, VG_FRAME_EVENT);
	assert_string_equal(d->rec->f[i].json, json);
}

static void expect_bad(const struct drv *d, int i, const char *reason, size_t size)
{
	assert_true(i < d->rec->n);
	assert_int_equal(d->rec->f[i].kind, VG_FRAME_BAD);
	assert_string_equal(d->rec->f[i].reason, reason);
	assert_int_equal(d->rec->f[i].size, size);
}

#define OPT(k, v) { .key = (k), .value = (v) }

/* ---- framing ------------------------------------------------------------ */

/* A trace as a CR-terminated scanner sends it: an EAN-13, a member card, a
 * QR code with a URL. */
static const char trace_cr[] = "4006381333931\rMB-88121\rhttps://v.example/c?m=L-4410&x=1\r";

static void expect_trace_cr(const struct drv *d)
{
	assert_int_equal(d->rec->n, 3);
	expect_event(d, 0, EV("4006381333931"));
	expect_event(d, 1, EV("MB-88121"));
	expect_event(d, 2, EV("https://v.example/c?m=L-4410&x=1"));
}

static void test_cr_whole(void **state)
{
	(void)state;
	struct drv d;
	new_drv(&d, NULL, 0);
	feeds(&d, trace_cr, 0);
	expect_trace_cr(&d);
	close_drv(&d);
}

static void test_cr_split_everywhere(void **state)
{
	(void)state;
	const size_t len = sizeof trace_cr - 1;
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			struct drv d;
			new_drv(&d, NULL, 0);
			feed(&d, trace_cr, i, 10);
			feed(&d, trace_cr + i, j - i, 20);
			feed(&d, trace_cr + j, len - j, 30);
			expect_trace_cr(&d);
			close_drv(&d);
		}
	}
}

static void test_byte_at_a_time(void **state)
{
	(void)state;
	struct drv d;
	new_drv(&d, NULL, 0);
	for (size_t i = 0; i < sizeof trace_cr - 1; i++)
		feed(&d, trace_cr + i, 1, (int64_t)i);
	expect_trace_cr(&d);
	close_drv(&d);
}

static void test_crlf(void **state)
{
	(void)state;
	static const char *const terms[] = { NULL, "cr", "crlf", "lf" };
	static const char crlf[] = "MB-1\r\nMB-2\r\n\r\nMB-3\r\n";
	for (size_t t = 0; t < sizeof terms / sizeof terms[0]; t++) {
		for (size_t i = 0; i <= sizeof crlf - 1; i++) {
			struct drv d;
			struct vg_driver_opt o[] = { OPT("terminator", terms[t]) };
			new_drv(&d, o, terms[t] ? 1 : 0);
			feed(&d, crlf, i, 0);
			feed(&d, crlf + i, sizeof crlf - 1 - i, 1);
			assert_int_equal(d.rec->n, 3);     /* no empty codes, no noise */
			expect_event(&d, 0, EV("MB-1"));
			expect_event(&d, 1, EV("MB-2"));
			expect_event(&d, 2, EV("MB-3"));
			close_drv(&d);
		}
	}
}

static void test_lf_and_stray_terminators(void **state)
{
	(void)state;
	struct drv d;

	/* lf: a CR that is not followed by LF is noise. */
	struct vg_driver_opt lf[] = { OPT("terminator", "lf") };
	new_drv(&d, lf, 1);
	feeds(&d, "A1\nB\r2\nC3\n", 0);
	assert_int_equal(d.rec->n, 3);
	expect_event(&d, 0, EV("A1"));
	expect_bad(&d, 1, "line_noise", 3);
	expect_event(&d, 2, EV("C3"));
	close_drv(&d);

	/* cr: an LF that is not the partner of a CR is noise. */
	new_drv(&d, NULL, 0);
	feeds(&d, "A\nB\rC\r", 0);
	assert_int_equal(d.rec->n, 2);
	expect_bad(&d, 0, "line_noise", 3);
	expect_event(&d, 1, EV("C"));
	close_drv(&d);

	/* crlf: a lone LF ends a code too, a lone CR as well. */
	struct vg_driver_opt crlf[] = { OPT("terminator", "crlf") };
	new_drv(&d, crlf, 1);
	feeds(&d, "A\nB\rC\r\n", 0);
	assert_int_equal(d.rec->n, 3);
	expect_event(&d, 0, EV("A"));
	expect_event(&d, 1, EV("B"));
	expect_event(&d, 2, EV("C"));
	close_drv(&d);
}

static void test_empty_lines_ignored(void **state)
{
	(void)state;
	struct drv d;
	new_drv(&d, NULL, 0);
	feeds(&d, "\r\r\n\r\n\r", 0);
	assert_int_equal(d.rec->n, 0);
	feeds(&d, "X\r", 0);
	assert_int_equal(d.rec->n, 1);
	expect_event(&d, 0, EV("X"));
	close_drv(&d);
}

static void test_prefix(void **state)
{
	(void)state;
	struct drv d;
	struct vg_driver_opt o[] = { OPT("prefix", "\\x02SC:") };
	new_drv(&d, o, 1);
	feeds(&d, "\x02SC:MB-88121\r"     /* stripped */
	          "MB-2\r"                /* absent: kept as it is */
	          "\x02SC:\r"             /* only the prefix */
	          "\x02SC\r"              /* a part of it: a control byte in the code */
	          "SC:\x02X\r", 0);       /* not at the start */
	assert_int_equal(d.rec->n, 5);
	expect_event(&d, 0, EV("MB-88121"));
	expect_event(&d, 1, EV("MB-2"));
	expect_bad(&d, 2, "bad_payload", 4);
	expect_bad(&d, 3, "line_noise", 3);
	expect_bad(&d, 4, "line_noise", 5);
	close_drv(&d);

	/* A backslash, and a prefix of printable text. */
	struct vg_driver_opt o2[] = { OPT("prefix", "#\\\\") };
	new_drv(&d, o2, 1);
	feeds(&d, "#\\L-4410\r", 0);
	assert_int_equal(d.rec->n, 1);
	expect_event(&d, 0, EV("L-4410"));
	close_drv(&d);
}

static void test_aim(void **state)
{
	(void)state;
	struct drv d;
	struct vg_driver_opt o[] = { OPT("aim", "on") };
	new_drv(&d, o, 1);
	feeds(&d, "]Q1https://v.example/m/MB-88121\r"
	          "]C0MB-88121\r"
	          "]E04006381333931\r"
	          "]Q1\r"                 /* an id and no code */
	          "]!1ABC\r"              /* not an AIM id: kept */
	          "]Q\r", 0);             /* too short to be one: kept */
	assert_int_equal(d.rec->n, 6);
	expect_event(&d, 0, EV_SYM("https://v.example/m/MB-88121", "]Q1"));
	expect_event(&d, 1, EV_SYM("MB-88121", "]C0"));
	expect_event(&d, 2, EV_SYM("4006381333931", "]E0"));
	expect_bad(&d, 3, "bad_payload", 3);
	expect_event(&d, 4, EV("]!1ABC"));
	expect_event(&d, 5, EV("]Q"));
	close_drv(&d);

	/* aim off (the default): the id stays in the code. */
	new_drv(&d, NULL, 0);
	feeds(&d, "]C0MB-88121\r", 0);
	expect_event(&d, 0, EV("]C0MB-88121"));
	close_drv(&d);

	/* prefix first, then the AIM id. */
	struct vg_driver_opt o2[] = { OPT("aim", "on"), OPT("prefix", "\\x02") };
	new_drv(&d, o2, 2);
	feeds(&d, "\x02]E04006381333931\r", 0);
	expect_event(&d, 0, EV_SYM("4006381333931", "]E0"));
	close_drv(&d);
}

static void test_max_len(void **state)
{
	(void)state;
	struct drv d;
	struct vg_driver_opt o[] = { OPT("max_len", "8") };
	new_drv(&d, o, 1);
	feeds(&d, "12345678\r123456789\rABCDEFGHIJKLMNOPQRSTUVWXYZ", 0);
	feeds(&d, "0123456789\rMB-88121\r", 1);
	assert_int_equal(d.rec->n, 4);
	expect_event(&d, 0, EV("12345678"));
	expect_bad(&d, 1, "too_long", 9);
	expect_bad(&d, 2, "too_long", 36);
	expect_event(&d, 3, EV("MB-88121"));
	close_drv(&d);

	/* The default, 256, and a line far past the hard maximum. */
	new_drv(&d, NULL, 0);
	char *big = malloc(10001);
	assert_non_null(big);
	memset(big, 'A', 10000);
	big[256] = '\r';
	big[10000] = '\0';
	feeds(&d, big, 0);
	feeds(&d, "\rOK\r", 0);
	assert_int_equal(d.rec->n, 3);
	assert_int_equal(d.rec->f[0].kind, VG_FRAME_EVENT);
	assert_int_equal(strlen(d.rec->f[0].json), strlen(EV("")) + 256);
	expect_bad(&d, 1, "too_long", 10000 - 257);
	expect_event(&d, 2, EV("OK"));
	free(big);
	close_drv(&d);

	/* With a prefix, max_len counts the code only. */
	struct vg_driver_opt o2[] = { OPT("max_len", "4"), OPT("prefix", "PRE") };
	new_drv(&d, o2, 2);
	feeds(&d, "PRE1234\r12345\rPRE12345\r", 0);
	assert_int_equal(d.rec->n, 3);
	expect_event(&d, 0, EV("1234"));
	expect_bad(&d, 1, "too_long", 5);
	expect_bad(&d, 2, "too_long", 8);
	close_drv(&d);
}

static void test_noise(void **state)
{
	(void)state;
	struct drv d;
	new_drv(&d, NULL, 0);
	static const char in[] = "AB\x00" "CD\r" "AB\xff" "CD\r" "\x1b[0mX\r" "MB-88121\r"
	                         "\xc3\x28\r" "\xed\xa0\x80\r" "\xc0\xaf\r" "A\xc2\x85" "B\r" "\x7f\r"
	                         "\xe2\x82\r" "GOOD\r";
	feed(&d, in, sizeof in - 1, 0);
	assert_int_equal(d.rec->n, 11);
	expect_bad(&d, 0, "line_noise", 5);      /* NUL */
	expect_bad(&d, 1, "bad_utf8", 5);        /* 0xff */
	expect_bad(&d, 2, "line_noise", 5);      /* ESC */
	expect_event(&d, 3, EV("MB-88121"));
	expect_bad(&d, 4, "bad_utf8", 2);        /* truncated sequence */
	expect_bad(&d, 5, "bad_utf8", 3);        /* a surrogate */
	expect_bad(&d, 6, "bad_utf8", 2);        /* overlong '/' */
	expect_bad(&d, 7, "line_noise", 4);      /* U+0085, a C1 control */
	expect_bad(&d, 8, "line_noise", 1);      /* DEL */
	expect_bad(&d, 9, "bad_utf8", 2);        /* cut short by the CR */
	expect_event(&d, 10, EV("GOOD"));
	close_drv(&d);
}

static void test_utf8_and_escaping(void **state)
{
	(void)state;
	struct drv d;
	new_drv(&d, NULL, 0);
	feeds(&d, "M\xc3\xbcller-\xe2\x82\xac-\xf0\x9f\x98\x80\r" "A\"B\\C D/E\r", 0);
	assert_int_equal(d.rec->n, 2);
	expect_event(&d, 0, EV("M\xc3\xbcller-\xe2\x82\xac-\xf0\x9f\x98\x80"));
	expect_event(&d, 1, EV("A\\\"B\\\\C D/E"));
	cJSON *o = cJSON_Parse(d.rec->f[1].json);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "person"), "member_code")->valuestring,
	                    "A\"B\\C D/E");
	cJSON_Delete(o);
	close_drv(&d);
}

static void test_field(void **state)
{
	(void)state;
	static const char *const fields[] = { "member_code", "customer_id", "loyalty_id" };
	for (size_t i = 0; i < 3; i++) {
		struct drv d;
		struct vg_driver_opt o[] = { OPT("field", fields[i]) };
		new_drv(&d, o, 1);
		feeds(&d, "MB-88121\r", 0);
		char want[256];
		snprintf(want, sizeof want, "{\"type\":\"checkin.scanned\",\"person\":{\"%s\":\"MB-88121\"},"
		         "\"properties\":{\"source\":\"scanner\"}}", fields[i]);
		expect_event(&d, 0, want);
		close_drv(&d);
	}
}

/* ---- time --------------------------------------------------------------- */

static void test_timeout_drops_partial(void **state)
{
	(void)state;
	struct drv d;
	struct vg_driver_opt o[] = { OPT("timeout_ms", "100") };
	new_drv(&d, o, 1);
	assert_int_equal(tick(&d, 0), -1);      /* nothing pending */
	feeds(&d, "MB-8", 1000);
	assert_int_equal(tick(&d, 1050), 1100);
	feeds(&d, "8", 1060);                   /* each byte restarts the clock */
	assert_int_equal(tick(&d, 1150), 1160);
	assert_int_equal(d.rec->n, 0);
	assert_int_equal(tick(&d, 1160), -1);
	assert_int_equal(d.rec->n, 1);
	expect_bad(&d, 0, "timeout", 5);
	feeds(&d, "MB-88121\r", 2000);
	assert_int_equal(d.rec->n, 2);
	expect_event(&d, 1, EV("MB-88121"));
	assert_int_equal(tick(&d, 5000), -1);

	/* Bytes after the deadline with no tick in between: the old part is
	 * dropped first, the new code stands. */
	feeds(&d, "MB-", 6000);
	feeds(&d, "L-4410\r", 6500);
	assert_int_equal(d.rec->n, 4);
	expect_bad(&d, 2, "timeout", 3);
	expect_event(&d, 3, EV("L-4410"));

	/* A line already too long times out as too long. */
	close_drv(&d);
	struct vg_driver_opt o2[] = { OPT("timeout_ms", "100"), OPT("max_len", "2") };
	new_drv(&d, o2, 2);
	feeds(&d, "ABCD", 0);
	tick(&d, 100);
	assert_int_equal(d.rec->n, 1);
	expect_bad(&d, 0, "too_long", 4);
	close_drv(&d);
}

static void test_timeout_lf_pending_cr(void **state)
{
	(void)state;
	struct drv d;
	struct vg_driver_opt o[] = { OPT("terminator", "lf"), OPT("timeout_ms", "50") };
	new_drv(&d, o, 2);
	feeds(&d, "AB\r", 0);                  /* the LF never comes */
	assert_int_equal(tick(&d, 10), 50);
	tick(&d, 60);
	assert_int_equal(d.rec->n, 1);
	expect_bad(&d, 0, "timeout", 2);
	feeds(&d, "CD\n", 100);                 /* no stray-CR noise left over */
	assert_int_equal(d.rec->n, 2);
	expect_event(&d, 1, EV("CD"));
	close_drv(&d);
}

static void test_terminator_none(void **state)
{
	(void)state;
	struct drv d;
	struct vg_driver_opt o[] = { OPT("terminator", "none"), OPT("timeout_ms", "50") };
	new_drv(&d, o, 2);
	feeds(&d, "MB-88", 0);
	feeds(&d, "121", 30);
	assert_int_equal(tick(&d, 79), 80);
	assert_int_equal(d.rec->n, 0);
	assert_int_equal(tick(&d, 80), -1);
	assert_int_equal(d.rec->n, 1);
	expect_event(&d, 0, EV("MB-88121"));
	/* A pause found by the next read. */
	feeds(&d, "A1", 100);
	feeds(&d, "B2", 200);
	tick(&d, 250);
	assert_int_equal(d.rec->n, 3);
	expect_event(&d, 1, EV("A1"));
	expect_event(&d, 2, EV("B2"));
	/* CR and LF are noise here. */
	feeds(&d, "C3\r\n", 300);
	tick(&d, 400);
	expect_bad(&d, 3, "line_noise", 4);
	close_drv(&d);
}

/* ---- options ------------------------------------------------------------ */

static void expect_config_error(const char *key, const char *value, const char *more_key,
                                const char *more_value)
{
	struct drv d;
	char err[256] = "";
	struct vg_driver_opt o[] = { OPT(key, value), OPT(more_key, more_value) };
	int rc = open_drv(&d, o, more_key ? 2 : 1, err, sizeof err);
	assert_int_equal(rc, VG_ERR_CONFIG);
	char want[64];
	snprintf(want, sizeof want, "%s: ", key);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error for %s = %s does not name the key: \"%s\"", key, value, err);
	free(d.state);
	free(d.rec);
}

static void test_options(void **state)
{
	(void)state;
	expect_config_error("colour", "blue", NULL, NULL);
	expect_config_error("terminator", "tab", NULL, NULL);
	expect_config_error("terminator", "", NULL, NULL);
	expect_config_error("terminator", "none", NULL, NULL);     /* needs a timeout */
	expect_config_error("aim", "maybe", NULL, NULL);
	expect_config_error("max_len", "0", NULL, NULL);
	expect_config_error("max_len", "4097", NULL, NULL);
	expect_config_error("max_len", "12abc", NULL, NULL);
	expect_config_error("max_len", "", NULL, NULL);
	expect_config_error("field", "email", NULL, NULL);
	expect_config_error("timeout_ms", "-1", NULL, NULL);
	expect_config_error("timeout_ms", "99999999999999999999", NULL, NULL);
	expect_config_error("prefix", "\\x4", NULL, NULL);
	expect_config_error("prefix", "\\n", NULL, NULL);
	expect_config_error("prefix", "12345678901234567", NULL, NULL);
	expect_config_error("prefix", "\\x0d", "terminator", "cr");
	expect_config_error("keymap", "us", NULL, NULL);          /* hid's, not ours */

	/* Good ones. */
	struct drv d;
	struct vg_driver_opt o[] = {
		OPT("prefix", "\\x02\\x1B"), OPT("terminator", "crlf"), OPT("aim", "off"),
		OPT("timeout_ms", "0"), OPT("max_len", "4096"), OPT("field", "loyalty_id"),
		OPT("prefix", "1234567890123456"),   /* the last one counts */
	};
	new_drv(&d, o, sizeof o / sizeof o[0]);
	feeds(&d, "1234567890123456L-1\r\n", 0);
	expect_event(&d, 0, "{\"type\":\"checkin.scanned\",\"person\":{\"loyalty_id\":\"L-1\"},"
	                    "\"properties\":{\"source\":\"scanner\"}}");
	close_drv(&d);
	/* A prefix may hold CR when a pause ends codes. */
	struct vg_driver_opt o2[] = { OPT("terminator", "none"), OPT("timeout_ms", "10"),
	                              OPT("prefix", "\\x0d") };
	new_drv(&d, o2, 3);
	close_drv(&d);
}

static void test_table_and_settle(void **state)
{
	(void)state;
	assert_string_equal(vg_driver_scanner.name, "scanner");
	assert_non_null(vg_driver_scanner.init);
	assert_non_null(vg_driver_scanner.feed);
	assert_non_null(vg_driver_scanner.tick);
	/* A scanner gets no replies: no settle (the daemon checks for NULL). */
	assert_null(vg_driver_scanner.settle);
	struct drv d;
	new_drv(&d, NULL, 0);
	feeds(&d, "MB", 0);
	assert_int_equal(d.rec->n, 0);
	feeds(&d, "1\r", 0);
	expect_event(&d, 0, EV("MB1"));
	close_drv(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cr_whole),
		cmocka_unit_test(test_cr_split_everywhere),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_lf_and_stray_terminators),
		cmocka_unit_test(test_empty_lines_ignored),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_aim),
		cmocka_unit_test(test_max_len),
		cmocka_unit_test(test_noise),
		cmocka_unit_test(test_utf8_and_escaping),
		cmocka_unit_test(test_field),
		cmocka_unit_test(test_timeout_drops_partial),
		cmocka_unit_test(test_timeout_lf_pending_cr),
		cmocka_unit_test(test_terminator_none),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_table_and_settle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
