/* venuegw daemon — the forwarder (DESIGN.md §8).
 *
 * Reads batches from buffer.db in order (the priority lane first), encodes
 * them as Segment /v1/batch requests (gzip, Basic auth, Idempotency-Key from
 * the batch's set of messageIds, sentAt per attempt while the clock is
 * synchronised) and sends them through libcurl's multi interface joined to
 * the daemon's poll loop.  A batch is recorded in buffer.db before its first
 * attempt, so after any restart the same set is resent with the same key. */
#ifndef VG_FORWARD_H
#define VG_FORWARD_H

#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "store_forward.h"

struct vg_forwarder;

/* A Prometheus-style histogram of durations: bucket[i] counts observations
 * <= vg_hist_bounds_s[i] (not cumulative), bucket[VG_HIST_BUCKETS] the rest. */
#define VG_HIST_BUCKETS 14
extern const double vg_hist_bounds_s[VG_HIST_BUCKETS];
struct vg_histogram {
	unsigned long long bucket[VG_HIST_BUCKETS + 1];
	unsigned long long count;
	double sum_s;
};
void vg_histogram_observe(struct vg_histogram *h, double seconds);

/* Why an attempt failed: the HTTP status class, or the network. */
enum vg_fail_reason {
	VG_FAIL_NETWORK, VG_FAIL_TIMEOUT, VG_FAIL_HTTP_3XX, VG_FAIL_HTTP_4XX, VG_FAIL_HTTP_5XX,
	VG_FAIL_HTTP_OTHER, VG_FAIL__COUNT
};
extern const char *const vg_fail_reason_names[VG_FAIL__COUNT]; /* "network", "timeout", "http_4xx" … */

#define VG_RECENT_ERRORS 5

/* Events delivered (2xx) since the daemon started, per device and type. */
struct vg_forward_count {
	char device_id[65];
	char type[48];
	unsigned long long events;
};

/* What the status publisher and `status` show. Plain data. */
struct vg_forward_stats {
	unsigned long long batches_ok, events_forwarded, attempts_failed, events_quarantined;
	int last_status;              /* last HTTP status, 0 = network error, -1 = none yet */
	char last_error[160];         /* "" when the last attempt succeeded */
	int64_t last_success_wall_ms; /* 0 = never */
	const char *alarm;            /* NULL, "credentials", "config" */
	unsigned long long consents_forwarded;
	int64_t consent_latency_last_ms, consent_latency_max_ms; /* commit → CDP 2xx */
	int enabled;
	struct vg_histogram latency;          /* per event: commit → CDP 2xx */
	struct vg_histogram consent_latency;  /* per consent event: commit → CDP 2xx */
	unsigned long long attempts_failed_by[VG_FAIL__COUNT];
	struct {
		int64_t at_wall_ms;
		char text[160];
	} recent_errors[VG_RECENT_ERRORS];   /* ring: entry (recent_errors_total - 1) % N is the newest */
	unsigned long long recent_errors_total;
};

/* Start forwarding from st (borrowed; must outlive the forwarder) on loop.
 * With no [cdp] endpoint configured forwarding is disabled (a warning) and
 * VG_OK is returned.  Errors: VG_ERR_NOMEM, VG_ERR_CONFIG (err says why). */
int vg_forwarder_open(struct vg_forwarder **out, struct vg_loop *loop, const struct vg_config *cfg,
                      struct vg_store *st, char *err, size_t errsz);
void vg_forwarder_close(struct vg_forwarder *f);

/* SIGHUP: re-read the write key, clear a credentials alarm and retry now. */
void vg_forwarder_reload(struct vg_forwarder *f);

const struct vg_forward_stats *vg_forwarder_stats(const struct vg_forwarder *f);

/* The delivered counts per device and type (borrowed; valid until the next
 * loop iteration); *n gets how many. */
const struct vg_forward_count *vg_forwarder_counts(const struct vg_forwarder *f, size_t *n);

/* Call seen(ud, event_id) for each event row the forwarder takes into a batch
 * (inside the claim's transaction, before anything is sent), so an observer
 * (the metrics) can read new rows while their bodies are still there.  seen
 * may read buffer.db through the same handle; it must not write. */
void vg_forwarder_observe(struct vg_forwarder *f, void (*seen)(void *ud, long long event_id), void *ud);

#endif
