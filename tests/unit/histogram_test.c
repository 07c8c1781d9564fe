/* Unit tests for firmware/core/histogram.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "histogram.h"

static void bounds_are_increasing(void **state)
{
	(void)state;
	assert_true(vg_hist_bounds_s[0] == 0.05);
	assert_true(vg_hist_bounds_s[VG_HIST_BUCKETS - 1] == 86400);
	for (int i = 1; i < VG_HIST_BUCKETS; i++)
		assert_true(vg_hist_bounds_s[i] > vg_hist_bounds_s[i - 1]);
}

static void observations_land_in_their_bucket(void **state)
{
	(void)state;
	struct vg_histogram h;
	memset(&h, 0, sizeof h);
	vg_histogram_observe(&h, 0);        /* bucket 0 */
	vg_histogram_observe(&h, 0.05);     /* on the bound: still bucket 0 (le) */
	vg_histogram_observe(&h, 0.0501);   /* bucket 1 */
	vg_histogram_observe(&h, 1);        /* bucket 4 */
	vg_histogram_observe(&h, 86400);    /* the last bound */
	vg_histogram_observe(&h, 86401);    /* +Inf */
	vg_histogram_observe(&h, -3);       /* negative: 0 */
	assert_int_equal(h.bucket[0], 3);
	assert_int_equal(h.bucket[1], 1);
	assert_int_equal(h.bucket[4], 1);
	assert_int_equal(h.bucket[VG_HIST_BUCKETS - 1], 1);
	assert_int_equal(h.bucket[VG_HIST_BUCKETS], 1);
	assert_int_equal(h.count, 7);
	assert_true(h.sum_s > 172802.1001 - 1e-6 && h.sum_s < 172802.1001 + 1e-6);
	unsigned long long total = 0;
	for (int i = 0; i <= VG_HIST_BUCKETS; i++)
		total += h.bucket[i];
	assert_int_equal(total, h.count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bounds_are_increasing),
		cmocka_unit_test(observations_land_in_their_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
