#include "histogram.h"

const double vg_hist_bounds_s[VG_HIST_BUCKETS] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400,
};

void vg_histogram_observe(struct vg_histogram *h, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	int i = 0;
	while (i < VG_HIST_BUCKETS && seconds > vg_hist_bounds_s[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_s += seconds;
}
