/* venuegw — buffer.db for capture (DESIGN.md §2, §6): what capture.c, the
 * serial path and `venuegw quarantine retry` put inside their capture
 * transactions (vg_store_begin … vg_store_commit, store.h), the serial
 * counters, and what the disk cap did.  Not thread-safe: the handle's thread. */
#ifndef VG_STORE_CAPTURE_H
#define VG_STORE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Insert inside a transaction.  Returns VG_STORE_STORED, VG_STORE_DUPLICATE (a
 * duplicate of an event already held or forwarded within dedup_retention_h:
 * not stored), or an error.
 *
 * The disk cap (max_bytes), after the row is put: when the pages in use pass
 * the cap less a reserve, the keys of forwarded events are deleted first, oldest
 * first (their de-duplication window gets shorter, nothing is lost); then, with
 * drop_oldest, the oldest pending events outside the priority lane, not in a
 * batch and not the gateway's own (counted in drops).  VG_ERR_FULL when that
 * does not make room: the caller rolls back, the event is not stored
 * (backpressure).  A quarantined input that does not fit is counted in
 * quarantine_overflow instead of stored (vg_store_put_quarantine). */
int vg_store_put_event(struct vg_store *s, const struct vg_store_event *ev);

/* 1 when vg_store_put_event(s, ev) cannot be refused at the disk cap now: no
 * cap, or this transaction measured the pages in use lately and they leave
 * room for ev whatever it adds; 0 when it might be refused.  A caller that
 * must undo a refused put alone takes a savepoint only then. */
int vg_store_put_fits(const struct vg_store *s, const struct vg_store_event *ev);

/* The share of the disk cap kept for the capture plugin's intake journal
 * (intake.h), which is not in buffer.db: events in buffer.db may fill the cap
 * less this share and the daemon's reserve (1/32, 1/64 for the priority lane). */
#define VG_STORE_INTAKE_SHARE(max_bytes) ((max_bytes) / 32)

/* What this handle's disk cap did since it was opened. */
struct vg_store_cap_stats {
	long long keys_reclaimed;   /* forwarded keys deleted before dedup_retention_h (committed) */
	long long dropped;          /* events dropped (drop_oldest; committed) */
	long long refused;          /* puts refused with VG_ERR_FULL */
};
void vg_store_cap_stats(const struct vg_store *s, struct vg_store_cap_stats *out);

/* Insert inside a transaction.  VG_STORE_STORED, VG_STORE_OVERFLOW (at the
 * disk cap: counted in quarantine_overflow instead, never refused), or an
 * error.  The quarantine's own share (quarantine_max_mb) and the per-device
 * rate are capture.h's: this stores whatever it is given while it fits. */
int vg_store_put_quarantine(struct vg_store *s, const struct vg_store_quarantine *q);

/* The quarantine's size as counted against [capture] quarantine_max_mb: its
 * rows' text plus a fixed allowance per row (index entry, integers, page
 * overhead).  Kept by triggers, so this reads one row.  VG_OK or an error. */
int vg_store_quarantine_bytes(struct vg_store *s, long long *bytes);

/* Count a quarantined input that the per-device rate cap kept out of the
 * quarantine table (one row per device and reason, a counter). */
int vg_store_count_quarantine_overflow(struct vg_store *s, const char *device_id,
                                       const char *reason, int64_t now_ms);

/* ---- the tracking plan (DESIGN.md §4) ------------------------------------ */

/* Distinct (device, type, path) rows of undeclared counts kept at most. */
#define VG_STORE_UNDECLARED_ROWS 1000

/* Inside a capture transaction: n members at path (contract.h's drop path:
 * no values) of an event of type from device_id were dropped because the
 * plan does not declare them.  Beyond VG_STORE_UNDECLARED_ROWS distinct rows
 * the count goes to device, type and path "~other".  VG_OK or an error. */
int vg_store_count_undeclared(struct vg_store *s, const char *device_id, const char *type, const char *path,
                              long long n, int64_t now_ms);

/* An input's undeclared members, as the ingest lists them: n distinct paths
 * with their counts, and total over all (the paths beyond the listed ones
 * counted under "~more").  type "" counts as "~unknown".  VG_OK or an error. */
int vg_store_count_undeclared_list(struct vg_store *s, const char *device_id, const char *type,
                                   const char *const *paths, const unsigned *counts, int n, unsigned total,
                                   int64_t now_ms);

/* ---- serial input ------------------------------------------------------- */

/* The persisted event counter of a serial device (DESIGN.md §4: keys are
 * "<epoch>:<seq>").  Creates it when missing, with a new epoch (the current
 * Unix time), so a lost counter never reuses keys.  Own transaction. */
int vg_store_serial_counter(struct vg_store *s, const char *device_id, int64_t now_ms,
                            long long *epoch, long long *seq);

/* Inside a transaction: the device's counter is now seq (and it was seen). */
int vg_store_serial_advance(struct vg_store *s, const char *device_id, long long seq, int64_t now_ms);

/* ---- erasure (DESIGN.md §3 promise 6; store_erasure.h suppresses) -------- */

/* Inside a capture transaction: 1 if any of tokens[0..n) is suppressed, 0 if
 * none is, or an error. */
int vg_store_suppressed(struct vg_store *s, const char *const *tokens, size_t n);

#endif
