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
#include "forward_stats.h"
#include "loop.h"
#include "response.h"
#include "store_forward.h"

struct vg_forwarder;

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
