/* venuegw — the one capture commit (DESIGN.md §2, §3, §6).
 *
 * Every path that turns an ingested input into a row of buffer.db goes
 * through here: the broker plugin (one event per transaction), the serial
 * path (a group of events per transaction, commit_interval_ms) and
 * `venuegw quarantine retry` (one row per transaction).  It owns:
 *  - the keys of an ingest: the current key, the previous key during
 *    [tokens] rotation_overlap_h, and every version of the key file for the
 *    identity tokens (vg_capture_ingest_cfg);
 *  - the suppression check (a forgotten person's input is acknowledged and
 *    counted, never stored);
 *  - the put of the event or the quarantine row, and the disk cap's outcome
 *    (VG_ERR_FULL: the caller's transaction must not commit);
 *  - the quarantine's limits: an exact per-device token bucket
 *    ([capture] quarantine_rate_per_min, quarantine_burst) and the
 *    quarantine's own share of the file ([capture] quarantine_max_mb); beyond
 *    either, the input is counted in quarantine_overflow, never stored and
 *    never refused;
 *  - the counters.
 *
 * Not thread-safe: one struct vg_capture per thread, used with the store
 * handles of that thread. */
#ifndef VG_CAPTURE_H
#define VG_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

struct vg_capture;
struct vg_config;
struct vg_intake_writer;
struct vg_keyring;
struct vg_store;

/* Devices the quarantine limiter tracks at once (bounded memory: about
 * 90 bytes each, allocated with the struct vg_capture).  When a
 * new device needs a bucket and all are taken, the bucket evicted is one that
 * has refilled to the burst (forgetting it changes nothing: a new bucket
 * starts full); only when none has, the least recently used one — so a
 * device can regain its burst early only while more than this many devices
 * are flooding at the same time. */
#define VG_CAPTURE_LIMITER_DEVICES 1024

/* What a put did. */
enum vg_capture_outcome {
	VG_CAPTURE_STORED,        /* an event row */
	VG_CAPTURE_DUPLICATE,     /* an event already held or forwarded: nothing stored */
	VG_CAPTURE_SUPPRESSED,    /* a forgotten person: nothing stored */
	VG_CAPTURE_QUARANTINED,   /* a quarantine row */
	VG_CAPTURE_OVERFLOW,      /* quarantine input counted in quarantine_overflow, not stored:
	                           * the device's rate, the quarantine's share or the disk cap */
};

/* The stable name of an outcome ("stored", …).  Static storage. */
const char *vg_capture_outcome_name(enum vg_capture_outcome what);

/* Counted since vg_capture_open, committed puts only. */
struct vg_capture_stats {
	unsigned long long stored, duplicates, suppressed, quarantined, overflowed;
	unsigned long long store_failures;   /* puts or commits that failed (not acknowledged) */
};

/* One input to commit.  Everything borrowed for the call. */
struct vg_capture_in {
	const char *device_id;    /* the authenticated device */
	const char *topic;        /* MQTT topic, "serial:<port>", or "" */
	size_t size;              /* payload bytes as received */
	int64_t received_at_ms;   /* UTC; the row's receive time */
	/* The ingest's result (event or quarantine), or NULL for input that never
	 * reached the ingest (a serial frame the driver found bad): then a
	 * metadata-only quarantine row with reason and detail. */
	const struct vg_ingest_out *out;
	const char *reason;       /* out == NULL only */
	const char *detail;       /* out == NULL only; no input values */
};

/* Create the capture state.  cfg and ring are borrowed and must outlive it
 * (the caller's reload replaces both by closing and opening again).
 * VG_OK, VG_ERR_NOMEM (*out NULL). */
int vg_capture_open(struct vg_capture **out, const struct vg_config *cfg, const struct vg_keyring *ring);
void vg_capture_close(struct vg_capture *c);

/* Fill icfg for an ingest received at now_ms (UTC): the configuration
 * (vg_ingest_cfg_init), the current key, the previous key while the rotation
 * overlap lasts, and the whole key ring for the identity tokens.  Borrowed
 * pointers into c's ring.  VG_OK, or VG_ERR_NOTFOUND when no key of the ring
 * is active yet (nothing may be acknowledged). */
int vg_capture_ingest_cfg(struct vg_capture *c, int64_t now_ms, struct vg_ingest_cfg *icfg);

/* Begin a capture transaction on st (vg_store_begin: VG_OK, VG_ERR_BUSY,
 * VG_ERR_SCHEMA, VG_ERR_IO). */
int vg_capture_begin(struct vg_capture *c, struct vg_store *st);

/* Inside a transaction on st (vg_capture_begin, or the caller's own
 * vg_store_begin): suppression check, then the event or the quarantine row
 * (through the limiter and the quarantine's share).  *what says which.
 * Returns VG_OK, VG_ERR_FULL (at the disk cap: the event is refused, the
 * caller must roll back and not acknowledge), or another store error (roll
 * back).  Counters count on vg_capture_end(), not here. */
int vg_capture_put(struct vg_capture *c, struct vg_store *st, const struct vg_capture_in *in,
                   enum vg_capture_outcome *what);

/* Commit the transaction: VG_OK once durable (the puts' outcomes are
 * counted), else the store's error, the transaction rolled back and counted
 * as a store failure. */
int vg_capture_end(struct vg_capture *c, struct vg_store *st);

/* Roll the transaction back: nothing of it stored or counted (tokens the
 * limiter spent on it stay spent). */
void vg_capture_abort(struct vg_capture *c, struct vg_store *st);

/* One input in its own transaction: begin, put, end.  VG_OK once durable
 * (acknowledge), or an error (nothing stored; do not acknowledge). */
int vg_capture_commit(struct vg_capture *c, struct vg_store *st, const struct vg_capture_in *in,
                      enum vg_capture_outcome *what);

/* Capture v2, the broker plugin's path (intake.h): an accepted event is
 * appended to the intake journal w (the daemon moves it into events, where
 * de-duplication, suppression and the undeclared counts apply); anything
 * else (a quarantine) is committed to st as by vg_capture_commit.  The disk
 * cap gives the journal a share of its own (VG_STORE_INTAKE_SHARE, 1/32):
 * the room left in it is read from st and intake_dir at least every 200 ms
 * (vg_capture_room), less what was appended since; without room the event is
 * refused (VG_ERR_FULL, not acknowledged) — the daemon is not moving (it is
 * down, or buffer.db is full under backpressure).  VG_OK once durable
 * (acknowledge), or an error. */
int vg_capture_journal(struct vg_capture *c, struct vg_intake_writer *w, struct vg_store *st,
                       const char *intake_dir, const struct vg_capture_in *in, enum vg_capture_outcome *what);

/* Read the room the disk cap leaves for the journal again now (the broker's
 * tick does, and vg_capture_journal when the room it knows is used up).
 * VG_OK or a store error (the room is then taken as none). */
int vg_capture_room(struct vg_capture *c, struct vg_store *st, const char *intake_dir, int64_t mono_ns);

/* The per-device quarantine limiter on its own (the put uses it): 1 when
 * device may store one more quarantine row at now_ms (a token is taken), 0
 * when its bucket is empty.  Exact per full device id (compared by its
 * SHA-256, whatever its length). */
int vg_capture_quarantine_allowed(struct vg_capture *c, const char *device_id, int64_t now_ms);

void vg_capture_stats(const struct vg_capture *c, struct vg_capture_stats *out);

#endif
