/* Unit tests for drivers/ndjson.c (DESIGN.md §7): one §4 event per line,
 * LF or CR LF, the 64 KiB limit with resync, blank lines, line noise, every
 * split of the input across reads, and option errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "err.h"

extern const struct vg_driver vg_driver_ndjson;
#define DRV vg_driver_ndjson

/* ---- a recording sink ------------------------------------------------- */

#define MAX_REC 64

#include "driver_log.h"

static void on_frame(void *ud, const struct vg_frame *f)
{
	rec_frame(ud, f);
}

static void expect_event(const struct sink_log *l, int i, const char *json, size_t len)
{
	assert_true(i < l->n);
	assert_int_equal(l->r[i].kind, VG_FRAME_EVENT);
	assert_int_equal(l->r[i].token, 0);
	assert_int_equal(l->r[i].json_len, len);
	assert_memory_equal(l->r[i].json, json, len);
}

#define EXPECT_EVENT(l, i, lit) expect_event((l), (i), (lit), sizeof(lit) - 1)

/* ---- tests ------------------------------------------------------------ */

#define EV1 "{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T18:03:12Z\",\"person\":{\"member_code\":\"M1\"}}"
#define EV2 "{\"type\":\"device.status\"}"

static void test_lines_lf_crlf(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	FEED(&d, EV1 "\n" EV2 "\r\n" EV1 "\r\n");
	assert_int_equal(d.log.n, 3);
	EXPECT_EVENT(&d.log, 0, EV1);
	EXPECT_EVENT(&d.log, 1, EV2);
	EXPECT_EVENT(&d.log, 2, EV1);
	/* A line without its LF waits. */
	FEED(&d, EV2);
	assert_int_equal(d.log.n, 3);
	FEED(&d, "\r");
	assert_int_equal(d.log.n, 3);
	FEED(&d, "\n");
	assert_int_equal(d.log.n, 4);
	EXPECT_EVENT(&d.log, 3, EV2);
	assert_int_equal(d.log.nsent, 0);
	assert_int_equal(DRV.tick(d.state, 123, &d.sink), -1);
	assert_null(DRV.settle);    /* no replies to send */
	assert_int_equal(d.log.nsent, 0);
	assert_int_equal(d.log.n, 4);
	drv_close(&d);
}

static void test_blank_lines(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	FEED(&d, "\n\r\n   \n\t \r\n\n" EV2 "\n\n");
	assert_int_equal(d.log.n, 1);
	EXPECT_EVENT(&d.log, 0, EV2);
	drv_close(&d);
}

/* Bad UTF-8, bad JSON, non-objects: the daemon's ingest quarantines them;
 * the driver passes the bytes on, unchanged (leading blanks included). */
static void test_bad_content_passed_on(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	FEED(&d, "not json\n\xff\xfe{}\r\n[1,2]\n  {\"type\":\"x\"}  \n\x01\n");
	assert_int_equal(d.log.n, 5);
	EXPECT_EVENT(&d.log, 0, "not json");
	EXPECT_EVENT(&d.log, 1, "\xff\xfe{}");
	EXPECT_EVENT(&d.log, 2, "[1,2]");
	EXPECT_EVENT(&d.log, 3, "  {\"type\":\"x\"}  ");
	EXPECT_EVENT(&d.log, 4, "\x01");
	drv_close(&d);
}

static void test_line_noise(void **unused)
{
	struct drv d;
	(void)unused;
	drv_open(&d, NULL, 0);
	/* NULs before a line: skipped, one BAD for the run, the line is read. */
	FEED(&d, "\0\0" EV2 "\n");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "line_noise", 2);
	EXPECT_EVENT(&d.log, 1, EV2);
	log_clear(&d.log);

	/* A run across lines and reads is one run (LFs in it counted). */
	FEED(&d, "\0\n\0");
	FEED(&d, "\0\n");
	assert_int_equal(d.log.n, 0);
	FEED(&d, EV2 "\n");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "line_noise", 5);
	EXPECT_EVENT(&d.log, 1, EV2);
	log_clear(&d.log);

	/* A NUL inside a line: the line is corrupt, all of it dropped. */
	FEED(&d, "{\"a\"\0:1}\r\n" EV2 "\n");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "line_noise", 10);
	EXPECT_EVENT(&d.log, 1, EV2);
	log_clear(&d.log);

	/* Noise then a blank line: reported when the next line starts. */
	FEED(&d, "\0\r\n" EV2 "\n");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "line_noise", 1);
	EXPECT_EVENT(&d.log, 1, EV2);
	drv_close(&d);
}

static void test_too_long(void **unused)
{
	struct drv d;
	struct vg_driver_opt o = { "max_line", "10" };
	(void)unused;
	drv_open(&d, &o, 1);
	FEED(&d, "0123456789\n"     /* 10: fits */
	         "0123456789\r\n"   /* 10 + CR: fits */
	         "01234567890\n"    /* 11: too long, 12 bytes dropped */
	         "0123456789A\r\n"  /* 11 + CR: too long, 13 bytes */
	         "abc\n");
	assert_int_equal(d.log.n, 5);
	EXPECT_EVENT(&d.log, 0, "0123456789");
	EXPECT_EVENT(&d.log, 1, "0123456789");
	expect_bad(&d.log, 2, "too_long", 12);
	expect_bad(&d.log, 3, "too_long", 13);
	EXPECT_EVENT(&d.log, 4, "abc");
	log_clear(&d.log);

	/* Discarding spans reads, and resyncs at the LF. */
	FEED(&d, "01234");
	FEED(&d, "56789xyz");
	FEED(&d, "more bytes, no newline yet ");
	assert_int_equal(d.log.n, 0);
	FEED(&d, "end\nok\n");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "too_long", 5 + 8 + 27 + 4);
	EXPECT_EVENT(&d.log, 1, "ok");
	drv_close(&d);
}

/* The default limit is the MQTT one: 65536 bytes. */
static void test_limit_64k(void **unused)
{
	struct drv d;
	size_t n = 65536 + 3;
	char *buf = malloc(n);
	(void)unused;
	assert_non_null(buf);
	drv_open(&d, NULL, 0);

	memset(buf, 'x', 65536);
	buf[65536] = '\r';
	buf[65537] = '\n';
	drv_feed(&d, buf, 65538);
	assert_int_equal(d.log.n, 1);
	assert_int_equal(d.log.r[0].kind, VG_FRAME_EVENT);
	assert_int_equal(d.log.r[0].json_len, 65536);
	log_clear(&d.log);

	memset(buf, 'y', 65537);
	buf[65537] = '\n';
	drv_feed(&d, buf, 65538);
	FEED(&d, "{}\n");
	assert_int_equal(d.log.n, 2);
	expect_bad(&d.log, 0, "too_long", 65538);
	EXPECT_EVENT(&d.log, 1, "{}");
	free(buf);
	drv_close(&d);
}

/* A captured-style trace, split in two at every byte and fed byte by byte:
 * the frames are always the same. */
static const char trace[] =
	"\0\0" EV1 "\r\n"
	"\n"
	"0123456789ABCDEF\n"
	"{\"type\":\"device.status\",\0}\n"
	EV2 "\n"
	"  \r\n"
	"\xc3\xa9t\xc3\xa9\n";

static void same_log(const struct sink_log *a, const struct sink_log *b, size_t split)
{
	if (a->n != b->n)
		fail_msg("split at %zu: %d frames, want %d", split, b->n, a->n);
	for (int i = 0; i < a->n; i++) {
		assert_int_equal(a->r[i].kind, b->r[i].kind);
		assert_int_equal(a->r[i].size, b->r[i].size);
		assert_string_equal(a->r[i].reason, b->r[i].reason);
		assert_int_equal(a->r[i].json_len, b->r[i].json_len);
		if (a->r[i].json)
			assert_memory_equal(a->r[i].json, b->r[i].json, a->r[i].json_len);
	}
}

static void test_split_everywhere(void **unused)
{
	struct vg_driver_opt o = { "max_line", "12" };
	struct drv whole, part;
	size_t n = sizeof trace - 1;
	(void)unused;

	drv_open(&whole, &o, 1);
	drv_feed(&whole, trace, n);
	/* noise 2, EV1 too long (its bytes + CR LF), 0123456789ABCDEF too long
	 * (17), the line with a NUL too long (27), EV2 too long, "été" (5 bytes)
	 * fits. */
	assert_int_equal(whole.log.n, 6);
	expect_bad(&whole.log, 0, "line_noise", 2);
	expect_bad(&whole.log, 1, "too_long", sizeof EV1 - 1 + 2);
	expect_bad(&whole.log, 2, "too_long", 17);
	expect_bad(&whole.log, 3, "too_long", 27);
	expect_bad(&whole.log, 4, "too_long", sizeof EV2 - 1 + 1);
	EXPECT_EVENT(&whole.log, 5, "\xc3\xa9t\xc3\xa9");

	for (size_t cut = 0; cut <= n; cut++) {
		drv_open(&part, &o, 1);
		drv_feed(&part, trace, cut);
		drv_feed(&part, trace + cut, n - cut);
		same_log(&whole.log, &part.log, cut);
		drv_close(&part);
	}
	drv_open(&part, &o, 1);
	for (size_t i = 0; i < n; i++)
		drv_feed(&part, trace + i, 1);
	same_log(&whole.log, &part.log, (size_t)-1);
	drv_close(&part);
	drv_close(&whole);

	/* The default limit, where every line fits. */
	drv_open(&whole, NULL, 0);
	drv_feed(&whole, trace, n);
	assert_int_equal(whole.log.n, 6);
	expect_bad(&whole.log, 0, "line_noise", 2);
	EXPECT_EVENT(&whole.log, 1, EV1);
	EXPECT_EVENT(&whole.log, 2, "0123456789ABCDEF");
	expect_bad(&whole.log, 3, "line_noise", 27);
	EXPECT_EVENT(&whole.log, 4, EV2);
	EXPECT_EVENT(&whole.log, 5, "\xc3\xa9t\xc3\xa9");
	for (size_t cut = 0; cut <= n; cut++) {
		drv_open(&part, NULL, 0);
		drv_feed(&part, trace, cut);
		drv_feed(&part, trace + cut, n - cut);
		same_log(&whole.log, &part.log, cut);
		drv_close(&part);
	}
	drv_close(&whole);
}

static void test_options(void **unused)
{
	(void)unused;
	expect_config_error("max_line", "0");
	expect_config_error("max_line", "65537");
	expect_config_error("max_line", "-1");
	expect_config_error("max_line", "+5");
	expect_config_error("max_line", "10k");
	expect_config_error("max_line", "");
	expect_config_error("max_line", "99999999999999999999999");
	expect_config_error("prefix", "x");
	expect_config_error("lrc_seed", "1");

	struct vg_driver_opt ok[] = { { "max_line", "1" }, { "max_line", "65536" } };
	char err[64];
	void *state = calloc(1, DRV.state_size);
	assert_non_null(state);
	assert_int_equal(DRV.init(state, ok, 2, err, sizeof err), VG_OK);
	free(state);
	assert_string_equal(DRV.name, "ndjson");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_lf_crlf),
		cmocka_unit_test(test_blank_lines),
		cmocka_unit_test(test_bad_content_passed_on),
		cmocka_unit_test(test_line_noise),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_limit_64k),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
