/* Unit tests for firmware/core/log.c: the rate limit of repeated errors and
 * the reload of the configuration (config.c's vg_config_reload, which the
 * daemon calls on SIGHUP and reports through the log). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "log.h"

static char lines[64][200];
static int nlines;
static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

static void capture(enum vg_log_level level, const char *msgid, const char *text)
{
	if (nlines < 64)
		snprintf(lines[nlines++], sizeof lines[0], "%d %s: %s", (int)level, msgid, text);
}

static int setup(void **state)
{
	(void)state;
	nlines = 0;
	fake_now = 1000;
	vg_log_set_sink(capture);
	vg_log_ratelimit(3, 60000, fake_clock);
	return 0;
}

static void repeated_errors_are_limited_per_msgid(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		vg_log(VG_LOG_ERR, "cdp", "attempt %d failed", i);
	assert_int_equal(nlines, 3);
	assert_string_equal(lines[2], "0 cdp: attempt 2 failed");
	/* another msgid has its own budget */
	vg_log(VG_LOG_WARN, "store", "slow");
	assert_int_equal(nlines, 4);
	/* info is never limited */
	for (int i = 0; i < 5; i++)
		vg_log(VG_LOG_INFO, "cdp", "info %d", i);
	assert_int_equal(nlines, 9);
	/* after the interval: first how many were suppressed, then the message */
	fake_now += 60000;
	vg_log(VG_LOG_ERR, "cdp", "attempt 10 failed");
	assert_int_equal(nlines, 11);
	assert_string_equal(lines[9], "0 cdp: 7 similar messages suppressed in the last 60 s");
	assert_string_equal(lines[10], "0 cdp: attempt 10 failed");
}

static void zero_burst_turns_the_limit_off(void **state)
{
	(void)state;
	vg_log_ratelimit(0, 60000, fake_clock);
	for (int i = 0; i < 20; i++)
		vg_log(VG_LOG_ERR, "cdp", "attempt %d", i);
	assert_int_equal(nlines, 20);
}

static void many_msgids_do_not_overflow_the_table(void **state)
{
	(void)state;
	char id[16];
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof id, "id%d", i);
		fake_now++;
		vg_log(VG_LOG_ERR, id, "x");
	}
	assert_int_equal(nlines, 40);
}

static void on_change(void *ctx, const char *section, const char *key, int applied)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 400 - n, "%s.%s=%d ", section, key, applied);
}

static void reload_applies_reloadable_keys_and_reports_the_rest(void **state)
{
	(void)state;
	struct vg_config live, fresh;
	char err[300];
	const char *a = "[gateway]\nvenue_id = v1\n[cdp]\nmax_backoff_s = 60\n";
	const char *b = "[gateway]\nvenue_id = v1\ndurability = os\n[cdp]\nmax_backoff_s = 5\n"
	                "[serial.pos]\ndevice = /dev/ttyUSB0\ndriver = ndjson\ndevice_id = pos-1\n";
	assert_int_equal(vg_config_parse(&live, a, "a.conf", err, sizeof err), VG_OK);
	assert_int_equal(vg_config_parse(&fresh, b, "b.conf", err, sizeof err), VG_OK);
	char seen[400] = "";
	int restart = vg_config_reload(&live, &fresh, on_change, seen);
	assert_int_equal(restart, 2);
	assert_non_null(strstr(seen, "cdp.max_backoff_s=1 "));
	assert_non_null(strstr(seen, "gateway.durability=0 "));
	assert_non_null(strstr(seen, "(ports)=0 "));
	assert_int_equal(live.max_backoff_s, 5);                  /* applied */
	assert_int_equal(live.durability, VG_DURABILITY_FULL);    /* needs a restart */
	assert_int_equal(live.nports, 0);
	/* the same file again: nothing differs */
	seen[0] = 0;
	assert_int_equal(vg_config_reload(&live, &live, on_change, seen), 0);
	assert_string_equal(seen, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(repeated_errors_are_limited_per_msgid, setup),
		cmocka_unit_test_setup(zero_burst_turns_the_limit_off, setup),
		cmocka_unit_test_setup(many_msgids_do_not_overflow_the_table, setup),
		cmocka_unit_test_setup(reload_applies_reloadable_keys_and_reports_the_rest, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
