/* Unit tests for firmware/core/clock.c: the units and the clocks each reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "clock.h"

static void monotonic_in_ms_and_ns(void **state)
{
	(void)state;
	int64_t a = vg_now_ms(), an = vg_mono_ns();
	struct timespec ts = { 0, 30 * 1000000 };
	nanosleep(&ts, NULL);
	int64_t b = vg_now_ms(), bn = vg_mono_ns();
	assert_true(b - a >= 30);
	assert_true(b - a < 10000);
	assert_true(bn - an >= 30 * 1000000LL);
	/* the same clock: ns / 10^6 is the ms reading */
	int64_t ms = vg_now_ms(), ns = vg_mono_ns();
	assert_true(ns / 1000000 - ms >= 0 && ns / 1000000 - ms < 1000);
}

static void wall_is_unix_milliseconds(void **state)
{
	(void)state;
	/* Not time(2): glibc's reads the coarse clock, which may still show the
	 * last second just after the precise one moved on. */
	struct timespec a, b;
	clock_gettime(CLOCK_REALTIME, &a);
	int64_t w = vg_wall_ms();
	clock_gettime(CLOCK_REALTIME, &b);
	int64_t before = (int64_t)a.tv_sec * 1000 + a.tv_nsec / 1000000, after = (int64_t)b.tv_sec * 1000 + b.tv_nsec / 1000000;
	assert_true(w >= before && w <= after);
}

static void synced_is_a_boolean(void **state)
{
	(void)state;
	int s = vg_clock_synced();
	assert_true(s == 0 || s == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(monotonic_in_ms_and_ns),
		cmocka_unit_test(wall_is_unix_milliseconds),
		cmocka_unit_test(synced_is_a_boolean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
