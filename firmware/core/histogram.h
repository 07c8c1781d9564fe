/* venuegw — a Prometheus-style histogram of durations (the forwarder's
 * latencies; rendered by report.c). */
#ifndef VG_HISTOGRAM_H
#define VG_HISTOGRAM_H

/* bucket[i] counts observations <= vg_hist_bounds_s[i] (not cumulative),
 * bucket[VG_HIST_BUCKETS] the rest. */
#define VG_HIST_BUCKETS 14
extern const double vg_hist_bounds_s[VG_HIST_BUCKETS];

struct vg_histogram {
	unsigned long long bucket[VG_HIST_BUCKETS + 1];
	unsigned long long count;
	double sum_s;
};

/* Count one duration (negative ones as 0). */
void vg_histogram_observe(struct vg_histogram *h, double seconds);

#endif
