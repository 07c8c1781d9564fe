/* venuegw — buffer.db for the forwarder (DESIGN.md §6, §8): batches claimed,
 * attempted, finished, split or quarantined; pending events; the gateway's own
 * events (reconciliation); the retention purges.  The daemon's thread only. */
#ifndef VG_STORE_FORWARD_H
#define VG_STORE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* ---- forwarding (the daemon) ------------------------------------------- */

/* One event row handed to the forwarder.  Borrowed for the callback only. */
struct vg_store_row {
	long long id;
	const char *event_key;
	const char *device_id;
	const char *type;
	int priority;
	unsigned flags;
	int64_t received_at_ms;
	const char *body;
	size_t body_len;
};
/* What a row callback returns, or a negative error to abort. */
enum vg_store_row_next {
	VG_STORE_ROW_TAKE = 0,    /* take the row and continue */
	VG_STORE_ROW_STOP = 1,    /* stop before this row (it is not taken) */
	VG_STORE_ROW_PASS = 2,    /* pass over this row and continue (it stays as it was) */
};
typedef int (*vg_store_row_cb)(void *ud, const struct vg_store_row *row);

/* The oldest batch that was claimed but not finished (a restart, a failed
 * attempt): its id and attempts so far.  VG_ERR_NOTFOUND when there is none. */
int vg_store_batch_unfinished(struct vg_store *s, long long *batch_id, int *attempts);

/* The events of a batch, in id order, through cb (VG_STORE_ROW_STOP ends the
 * walk; the batch is unchanged either way).  VG_OK, cb's error, or an error. */
int vg_store_batch_rows(struct vg_store *s, long long batch_id, vg_store_row_cb cb, void *ud);

/* In one short transaction: offer pending events of priority ≤ max_priority
 * (priority lane first, then in commit order) to cb until it stops or max_events were taken, then
 * record the taken ones as a new batch.  *batch_id is 0 when nothing was
 * pending.  VG_OK or an error (then nothing was claimed). */
int vg_store_batch_claim(struct vg_store *s, int max_events, int max_priority, int64_t now_ms,
                         vg_store_row_cb cb, void *ud, long long *batch_id);

/* Record an attempt's outcome (HTTP status or 0 for a network error). */
int vg_store_batch_attempt(struct vg_store *s, long long batch_id, const char *idempotency_key,
                           int status, const char *error);

/* The CDP accepted the batch: its events' rows are deleted (their keys stay
 * in keys for de-duplication), counted in forwards, and the batch is removed. */
int vg_store_batch_done(struct vg_store *s, long long batch_id, int64_t now_ms);

/* Move one event (pending or in a batch) to the quarantine with reason and
 * detail, keeping its tokenized body (state held) and its receive time. */
int vg_store_quarantine_event(struct vg_store *s, long long event_id, const char *reason,
                              const char *detail);

/* Move every event of a batch to the quarantine (as above) and remove the batch. */
int vg_store_batch_quarantine(struct vg_store *s, long long batch_id, const char *reason,
                              const char *detail);

/* Split a batch: the events event_ids[0..n) move to a new batch (*new_batch_id);
 * the rest stay.  Both are new sets: their attempts start from zero. */
int vg_store_batch_split(struct vg_store *s, long long batch_id, const long long *event_ids, size_t n,
                         int64_t now_ms, long long *new_batch_id);

/* Up to max unfinished batch ids, oldest first, into ids; *n says how many. */
int vg_store_batch_unfinished_list(struct vg_store *s, long long *ids, size_t max, size_t *n);

/* Pending events: how many (counted up to cap) and the receive time of the
 * oldest (0 when none). */
int vg_store_pending_info(struct vg_store *s, int cap, int *count, int64_t *oldest_ms);

/* Store an event the gateway makes itself (reconciliation), in its own short
 * transaction: VG_STORE_STORED, VG_STORE_DUPLICATE (already stored: the key is
 * its identity), or an error. */
int vg_store_put_internal_event(struct vg_store *s, const struct vg_store_event *ev);

/* Per device, what happened in [from_ms, to_ms): events committed (stored or
 * quarantined on receipt), forwarded, quarantined, dropped.  Devices in name
 * order; a non-zero return from cb stops the walk. */
typedef int (*vg_store_reconcile_cb)(void *ud, const char *device_id, long long committed,
                                     long long forwarded, long long quarantined, long long dropped);
int vg_store_reconcile(struct vg_store *s, int64_t from_ms, int64_t to_ms, vg_store_reconcile_cb cb, void *ud);

/* Delete up to limit keys received before before_ms (none received after the
 * oldest event still held), and up to limit rows each of drops dropped, and
 * forwards forwarded, before drops_before_ms.  Returns the larger of the two numbers
 * deleted (≥ 0; limit: call again) or an error. */
int vg_store_purge_forwarded(struct vg_store *s, int64_t before_ms, int64_t drops_before_ms, int limit);

/* 1 when pending events of priority ≤ max_priority exist, 0 when not, or an
 * error.  Cheap (an index look-up). */
int vg_store_has_pending(struct vg_store *s, int max_priority);

/* Delete, in its own short transaction, up to limit quarantine rows received
 * before before_ms (quarantine_retention_d).  Returns the number deleted (≥ 0;
 * limit: call again) or an error. */
int vg_store_purge_quarantine(struct vg_store *s, int64_t before_ms, int limit);

#endif
