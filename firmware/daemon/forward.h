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
#include "store.h"

struct vg_forwarder;

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

#endif
