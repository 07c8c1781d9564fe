/* Unit tests for drivers/hid.c: keyboard-wedge scanners read through evdev
 * (DESIGN.md §7).  The traces are built the way the kernel reports a
 * scanner typing: for each key MSC_SCAN, EV_KEY, SYN_REPORT, with Shift
 * pressed around upper-case letters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/input.h>

#include <cjson/cJSON.h>

#include "driver.h"
#include "err.h"
#include "driver_rec.h"

extern const struct vg_driver vg_driver_hid;

/* ---- a sink that records what the driver hands over --------------------- */

#define MAX_FRAMES 32

struct rec {
	int n;
	struct {
		enum vg_frame_kind kind;
		char json[1024];
		char reason[32];
		size_t size;
	} f[MAX_FRAMES];
};

static void on_frame(void *ud, const struct vg_frame *f)
{
	struct rec *r = ud;
	assert_true(r->n < MAX_FRAMES);
	r->f[r->n].kind = f->kind;
	r->f[r->n].size = f->size;
	r->f[r->n].json[0] = r->f[r->n].reason[0] = '\0';
	if (f->kind == VG_FRAME_EVENT) {
		rec_event_json(r->f[r->n].json, sizeof r->f[0].json, f);
		assert_int_equal(f->token, 0);
	} else {
		rec_bad_reason(r->f[r->n].reason, sizeof r->f[0].reason, f);
	}
	r->n++;
}

static void on_send(void *ud, const uint8_t *bytes, size_t n)
{
	(void)ud;
	(void)bytes;
	(void)n;
	fail_msg("the hid driver never sends");
}

struct drv {
	void *state;
	struct rec rec;
	struct vg_driver_sink sink;
};

static int open_drv(struct drv *d, const struct vg_driver_opt *opts, size_t nopts, char *err, size_t errsz)
{
	memset(&d->rec, 0, sizeof d->rec);
	d->state = calloc(1, vg_driver_hid.state_size);
	assert_non_null(d->state);
	d->sink = (struct vg_driver_sink){ .ud = &d->rec, .frame = on_frame, .send = on_send };
	return vg_driver_hid.init(d->state, opts, nopts, err, errsz);
}

static void new_drv(struct drv *d, const struct vg_driver_opt *opts, size_t nopts)
{
	char err[256] = "";
	rec_init_ok(open_drv(d, opts, nopts, err, sizeof err), err);
}

static void close_drv(struct drv *d)
{
	vg_driver_hid.fini(d->state);
	free(d->state);
}

static void feed(struct drv *d, const void *buf, size_t n, int64_t now_ms)
{
	rec_feed(&vg_driver_hid, d->state, buf, n, now_ms, &d->sink);
}

/* ---- traces ------------------------------------------------------------- */

struct trace {
	size_t n;
	struct input_event ev[512];
};

static void put(struct trace *t, unsigned type, unsigned code, int value)
{
	assert_true(t->n < sizeof t->ev / sizeof t->ev[0]);
	struct input_event *e = &t->ev[t->n++];
	memset(e, 0, sizeof *e);
	e->time.tv_sec = 1764349392;
	e->time.tv_usec = (long)(t->n * 1000);
	e->type = (unsigned short)type;
	e->code = (unsigned short)code;
	e->value = value;
}

/* One key as the kernel reports it: scan code, press, sync, scan code,
 * release, sync. */
static void key(struct trace *t, unsigned code)
{
	put(t, EV_MSC, MSC_SCAN, 0x70000 + (int)code);
	put(t, EV_KEY, code, 1);
	put(t, EV_SYN, SYN_REPORT, 0);
	put(t, EV_MSC, MSC_SCAN, 0x70000 + (int)code);
	put(t, EV_KEY, code, 0);
	put(t, EV_SYN, SYN_REPORT, 0);
}

static void shifted(struct trace *t, unsigned code)
{
	put(t, EV_KEY, KEY_LEFTSHIFT, 1);
	put(t, EV_SYN, SYN_REPORT, 0);
	key(t, code);
	put(t, EV_KEY, KEY_LEFTSHIFT, 0);
	put(t, EV_SYN, SYN_REPORT, 0);
}

/* "MB-88121\n" on a US layout. */
static void trace_mb88121(struct trace *t)
{
	shifted(t, KEY_M);
	shifted(t, KEY_B);
	key(t, KEY_MINUS);
	key(t, KEY_8);
	key(t, KEY_8);
	key(t, KEY_1);
	key(t, KEY_2);
	key(t, KEY_1);
	key(t, KEY_ENTER);
}

static void feed_trace(struct drv *d, const struct trace *t, int64_t now_ms)
{
	feed(d, t->ev, t->n * sizeof t->ev[0], now_ms);
}

#define EV(code) "{\"type\":\"checkin.scanned\",\"person\":{\"member_code\":\"" code \
                 "\"},\"properties\":{\"source\":\"hid\"}}"
#define OPT(k, v) { .key = (k), .value = (v) }

static void expect_event(const struct drv *d, int i, const char *json)
{
	assert_true(i < d->rec.n);
	assert_int_equal(d->rec.f[i].kind, VG_FRAME_EVENT);
	assert_string_equal(d->rec.f[i].json, json);
}

static void expect_bad(const struct drv *d, int i, const char *reason, size_t size)
{
	assert_true(i < d->rec.n);
	assert_int_equal(d->rec.f[i].kind, VG_FRAME_BAD);
	assert_string_equal(d->rec.f[i].reason, reason);
	assert_int_equal(d->rec.f[i].size, size);
}

/* ---- tests -------------------------------------------------------------- */

static void test_record_size(void **state)
{
	(void)state;
#if defined(__x86_64__) || defined(__aarch64__)
	assert_int_equal(sizeof(struct input_event), 24);
#endif
	assert_string_equal(vg_driver_hid.name, "hid");
}

static void test_mb88121(void **state)
{
	(void)state;
	struct trace t = { 0 };
	trace_mb88121(&t);
	struct drv d;
	new_drv(&d, NULL, 0);
	feed_trace(&d, &t, 0);
	assert_int_equal(d.rec.n, 1);
	expect_event(&d, 0, EV("MB-88121"));
	close_drv(&d);
}

static void test_split_records(void **state)
{
	(void)state;
	struct trace t = { 0 };
	trace_mb88121(&t);
	const uint8_t *b = (const uint8_t *)t.ev;
	const size_t len = t.n * sizeof t.ev[0];
	for (size_t i = 0; i <= len; i++) {
		struct drv d;
		new_drv(&d, NULL, 0);
		feed(&d, b, i, 0);
		feed(&d, b + i, len - i, 1);
		assert_int_equal(d.rec.n, 1);
		expect_event(&d, 0, EV("MB-88121"));
		close_drv(&d);
	}
	/* Byte by byte, and in odd-sized reads. */
	struct drv d;
	new_drv(&d, NULL, 0);
	for (size_t i = 0; i < len; i++)
		feed(&d, b + i, 1, 0);
	for (size_t i = 0; i < len; i += 7)
		feed(&d, b + i, len - i < 7 ? len - i : 7, 0);
	assert_int_equal(d.rec.n, 2);
	expect_event(&d, 1, EV("MB-88121"));
	close_drv(&d);
}

static void test_keymaps(void **state)
{
	(void)state;
	/* The same keys on two layouts: Shift+Y, Z, the key right of '.',
	 * 1, Shift+7, Shift+0, Enter. */
	struct trace t = { 0 };
	shifted(&t, KEY_Y);
	key(&t, KEY_Z);
	key(&t, KEY_SLASH);
	key(&t, KEY_1);
	shifted(&t, KEY_7);
	shifted(&t, KEY_0);
	shifted(&t, KEY_RIGHTBRACE);
	key(&t, KEY_ENTER);

	struct drv d;
	struct vg_driver_opt us[] = { OPT("keymap", "us") };
	new_drv(&d, us, 1);
	feed_trace(&d, &t, 0);
	expect_event(&d, 0, EV("Yz/1&)}"));
	close_drv(&d);

	struct vg_driver_opt de[] = { OPT("keymap", "de") };
	new_drv(&d, de, 1);
	feed_trace(&d, &t, 0);
	expect_event(&d, 0, EV("Zy-1/=*"));
	close_drv(&d);

	/* de: "MB-88121" is typed with KEY_SLASH for '-'. */
	struct trace t2 = { 0 };
	shifted(&t2, KEY_M);
	shifted(&t2, KEY_B);
	key(&t2, KEY_SLASH);
	key(&t2, KEY_8);
	key(&t2, KEY_KP8);
	key(&t2, KEY_KP1);
	key(&t2, KEY_2);
	key(&t2, KEY_1);
	key(&t2, KEY_KPENTER);
	new_drv(&d, de, 1);
	feed_trace(&d, &t2, 0);
	expect_event(&d, 0, EV("MB-88121"));
	close_drv(&d);
}

static void test_de_altgr_and_noise(void **state)
{
	(void)state;
	struct trace t = { 0 };
	/* ana@x: AltGr+Q is '@' on de. */
	key(&t, KEY_A);
	key(&t, KEY_N);
	key(&t, KEY_A);
	put(&t, EV_KEY, KEY_RIGHTALT, 1);
	key(&t, KEY_Q);
	put(&t, EV_KEY, KEY_RIGHTALT, 0);
	key(&t, KEY_X);
	key(&t, KEY_ENTER);
	/* ß: not ASCII, the line is noise. */
	key(&t, KEY_A);
	key(&t, KEY_MINUS);
	key(&t, KEY_B);
	key(&t, KEY_ENTER);
	/* Shift+3 is §: noise.  AltGr+A types nothing on de: noise. */
	shifted(&t, KEY_3);
	key(&t, KEY_ENTER);
	put(&t, EV_KEY, KEY_RIGHTALT, 1);
	key(&t, KEY_A);
	put(&t, EV_KEY, KEY_RIGHTALT, 0);
	key(&t, KEY_ENTER);
	/* Then a good one. */
	key(&t, KEY_4);
	key(&t, KEY_2);
	key(&t, KEY_ENTER);

	struct drv d;
	struct vg_driver_opt de[] = { OPT("keymap", "de") };
	new_drv(&d, de, 1);
	feed_trace(&d, &t, 0);
	assert_int_equal(d.rec.n, 5);
	expect_event(&d, 0, EV("ana@x"));
	expect_bad(&d, 1, "line_noise", 3);
	expect_bad(&d, 2, "line_noise", 1);
	expect_bad(&d, 3, "line_noise", 1);
	expect_event(&d, 4, EV("42"));
	close_drv(&d);

	/* us: right Alt is Alt, so Alt+Q is a shortcut: noise. */
	struct drv u;
	new_drv(&u, NULL, 0);
	struct trace t2 = { 0 };
	put(&t2, EV_KEY, KEY_RIGHTALT, 1);
	key(&t2, KEY_Q);
	put(&t2, EV_KEY, KEY_RIGHTALT, 0);
	key(&t2, KEY_ENTER);
	feed_trace(&u, &t2, 0);
	assert_int_equal(u.rec.n, 1);
	expect_bad(&u, 0, "line_noise", 1);
	close_drv(&u);
}

static void test_releases_and_repeats(void **state)
{
	(void)state;
	struct trace t = { 0 };
	/* Only releases: nothing. */
	put(&t, EV_KEY, KEY_A, 0);
	put(&t, EV_KEY, KEY_ENTER, 0);
	/* A held key: press, two autorepeats, release → three characters. */
	put(&t, EV_KEY, KEY_7, 1);
	put(&t, EV_KEY, KEY_7, 2);
	put(&t, EV_KEY, KEY_7, 2);
	put(&t, EV_KEY, KEY_7, 0);
	/* Shift held by the right key, released before the next letter. */
	put(&t, EV_KEY, KEY_RIGHTSHIFT, 1);
	put(&t, EV_KEY, KEY_RIGHTSHIFT, 2);
	put(&t, EV_KEY, KEY_K, 1);
	put(&t, EV_KEY, KEY_RIGHTSHIFT, 0);
	put(&t, EV_KEY, KEY_K, 0);
	put(&t, EV_KEY, KEY_K, 1);
	put(&t, EV_KEY, KEY_K, 0);
	/* Both shifts; releasing one keeps the other. */
	put(&t, EV_KEY, KEY_LEFTSHIFT, 1);
	put(&t, EV_KEY, KEY_RIGHTSHIFT, 1);
	put(&t, EV_KEY, KEY_LEFTSHIFT, 0);
	put(&t, EV_KEY, KEY_X, 1);
	put(&t, EV_KEY, KEY_RIGHTSHIFT, 0);
	put(&t, EV_KEY, KEY_X, 1);
	put(&t, EV_KEY, KEY_ENTER, 1);
	put(&t, EV_KEY, KEY_ENTER, 0);

	struct drv d;
	new_drv(&d, NULL, 0);
	feed_trace(&d, &t, 0);
	assert_int_equal(d.rec.n, 1);
	expect_event(&d, 0, EV("777KkXx"));
	close_drv(&d);
}

static void test_garbage_ignored(void **state)
{
	(void)state;
	struct trace t = { 0 };
	key(&t, KEY_A);
	put(&t, 0x55, 0x1ff, 1);              /* unknown type */
	put(&t, EV_KEY, 0x2ff, 1);            /* unknown key */
	put(&t, EV_KEY, KEY_F1, 1);           /* types nothing */
	put(&t, EV_KEY, KEY_LEFTMETA, 1);
	put(&t, EV_KEY, KEY_B, 7);            /* not a key value */
	put(&t, EV_KEY, KEY_B, -1);
	put(&t, EV_REL, REL_X, 5);
	put(&t, EV_LED, LED_NUML, 1);
	put(&t, EV_MSC, MSC_SCAN, 0x70005);
	put(&t, EV_SYN, SYN_REPORT, 0);
	put(&t, EV_KEY, KEY_LEFTMETA, 0);
	key(&t, KEY_1);
	key(&t, KEY_ENTER);
	/* Enter alone, twice: no empty codes. */
	key(&t, KEY_ENTER);
	key(&t, KEY_KPENTER);

	struct drv d;
	new_drv(&d, NULL, 0);
	feed_trace(&d, &t, 0);
	assert_int_equal(d.rec.n, 1);
	expect_event(&d, 0, EV("a1"));
	close_drv(&d);
}

static void test_noise_keys(void **state)
{
	(void)state;
	struct trace t = { 0 };
	key(&t, KEY_A);
	key(&t, KEY_TAB);                     /* a control character */
	key(&t, KEY_B);
	key(&t, KEY_ENTER);
	put(&t, EV_KEY, KEY_LEFTCTRL, 1);     /* Ctrl+C */
	key(&t, KEY_C);
	put(&t, EV_KEY, KEY_LEFTCTRL, 0);
	key(&t, KEY_ENTER);
	key(&t, KEY_A);
	put(&t, EV_SYN, SYN_DROPPED, 0);      /* the kernel lost events */
	key(&t, KEY_ENTER);
	key(&t, KEY_O);
	key(&t, KEY_K);
	key(&t, KEY_ENTER);

	struct drv d;
	new_drv(&d, NULL, 0);
	feed_trace(&d, &t, 0);
	assert_int_equal(d.rec.n, 4);
	expect_bad(&d, 0, "line_noise", 3);
	expect_bad(&d, 1, "line_noise", 1);
	expect_bad(&d, 2, "line_noise", 2);
	expect_event(&d, 3, EV("ok"));
	close_drv(&d);
}

static void test_capslock(void **state)
{
	(void)state;
	struct trace t = { 0 };
	key(&t, KEY_CAPSLOCK);
	key(&t, KEY_A);
	shifted(&t, KEY_B);
	key(&t, KEY_1);
	put(&t, EV_KEY, KEY_CAPSLOCK, 1);
	put(&t, EV_KEY, KEY_CAPSLOCK, 2);     /* a repeat does not toggle again */
	put(&t, EV_KEY, KEY_CAPSLOCK, 0);
	key(&t, KEY_C);
	key(&t, KEY_ENTER);

	struct drv d;
	new_drv(&d, NULL, 0);
	feed_trace(&d, &t, 0);
	expect_event(&d, 0, EV("Ab1c"));
	close_drv(&d);
}

static void test_scanner_options(void **state)
{
	(void)state;
	/* prefix "$", AIM id ]C0, max_len 6, customer_id. */
	struct trace t = { 0 };
	shifted(&t, KEY_4);
	key(&t, KEY_RIGHTBRACE);
	shifted(&t, KEY_C);
	key(&t, KEY_0);
	shifted(&t, KEY_M);
	shifted(&t, KEY_B);
	key(&t, KEY_MINUS);
	key(&t, KEY_8);
	key(&t, KEY_ENTER);
	for (int i = 0; i < 7; i++)
		key(&t, KEY_9);
	key(&t, KEY_ENTER);

	struct drv d;
	struct vg_driver_opt o[] = { OPT("prefix", "$"), OPT("aim", "on"), OPT("max_len", "6"),
	                             OPT("field", "customer_id") };
	new_drv(&d, o, 4);
	feed_trace(&d, &t, 0);
	assert_int_equal(d.rec.n, 2);
	expect_event(&d, 0, "{\"type\":\"checkin.scanned\",\"person\":{\"customer_id\":\"MB-8\"},"
	                    "\"properties\":{\"source\":\"hid\",\"symbology\":\"]C0\"}}");
	expect_bad(&d, 1, "too_long", 7);
	close_drv(&d);
}

static void test_timeout(void **state)
{
	(void)state;
	struct trace a = { 0 }, b = { 0 };
	key(&a, KEY_1);
	key(&a, KEY_2);
	key(&b, KEY_3);
	key(&b, KEY_ENTER);

	/* Enter expected: a stalled code is dropped. */
	struct drv d;
	struct vg_driver_opt o[] = { OPT("timeout_ms", "200") };
	new_drv(&d, o, 1);
	assert_int_equal(vg_driver_hid.tick(d.state, 0, &d.sink), -1);
	feed_trace(&d, &a, 1000);
	assert_int_equal(vg_driver_hid.tick(d.state, 1100, &d.sink), 1200);
	assert_int_equal(vg_driver_hid.tick(d.state, 1200, &d.sink), -1);
	assert_int_equal(d.rec.n, 1);
	expect_bad(&d, 0, "timeout", 2);
	feed_trace(&d, &b, 1300);
	expect_event(&d, 1, EV("3"));
	close_drv(&d);

	/* terminator none: the pause ends the code; Enter still does. */
	struct vg_driver_opt o2[] = { OPT("timeout_ms", "50"), OPT("terminator", "none") };
	new_drv(&d, o2, 2);
	feed_trace(&d, &a, 0);
	vg_driver_hid.tick(d.state, 49, &d.sink);
	assert_int_equal(d.rec.n, 0);
	vg_driver_hid.tick(d.state, 50, &d.sink);
	expect_event(&d, 0, EV("12"));
	feed_trace(&d, &b, 100);
	expect_event(&d, 1, EV("3"));
	assert_int_equal(d.rec.n, 2);
	close_drv(&d);
}

static void expect_config_error(const char *key, const char *value)
{
	struct drv d;
	char err[256] = "";
	struct vg_driver_opt o[] = { OPT(key, value) };
	assert_int_equal(open_drv(&d, o, 1, err, sizeof err), VG_ERR_CONFIG);
	char want[64];
	snprintf(want, sizeof want, "%s: ", key);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error for %s = %s does not name the key: \"%s\"", key, value, err);
	free(d.state);
}

static void test_options(void **state)
{
	(void)state;
	expect_config_error("keymap", "fr");
	expect_config_error("keymap", "");
	expect_config_error("terminator", "cr");
	expect_config_error("terminator", "none");    /* needs timeout_ms */
	expect_config_error("max_len", "-3");
	expect_config_error("aim", "1");
	expect_config_error("field", "phone");
	expect_config_error("baud", "9600");
	expect_config_error("prefix", "\\q");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_size),
		cmocka_unit_test(test_mb88121),
		cmocka_unit_test(test_split_records),
		cmocka_unit_test(test_keymaps),
		cmocka_unit_test(test_de_altgr_and_noise),
		cmocka_unit_test(test_releases_and_repeats),
		cmocka_unit_test(test_garbage_ignored),
		cmocka_unit_test(test_noise_keys),
		cmocka_unit_test(test_capslock),
		cmocka_unit_test(test_scanner_options),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
