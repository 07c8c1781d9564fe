/* venuegw — buffer.db (DESIGN.md §6).
 *
 * The only module that owns a database handle.  Two kinds of opener:
 *  - the owner (the daemon): creates the file, sets WAL, migrates the schema,
 *    checkpoints;
 *  - capture (the broker plugin, and later the serial path): opens an
 *    existing file, never migrates or checkpoints (wal_autocheckpoint=0), a
 *    busy timeout of at most 100 ms, and refuses to store while the schema
 *    version differs from VG_STORE_SCHEMA.
 * Write transactions are explicit: vg_store_begin(), puts, vg_store_commit().
 * A commit under durability=full is fsync'd (synchronous=FULL).
 * Not thread-safe: one struct vg_store per thread. */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stddef.h>
#include <stdint.h>

#define VG_STORE_SCHEMA 3

struct vg_store;

struct vg_store_cfg {
	const char *path;
	int owner;            /* 1: create, migrate, checkpoint (the daemon) */
	int durability_full;  /* synchronous=FULL (else NORMAL) */
	int busy_timeout_ms;  /* capture: at most 100 */
	long long max_bytes;  /* the disk cap ([gateway] max_buffer_mb); 0: none */
	int drop_oldest;      /* at the cap: drop the oldest events (else refuse) */
};

/* Open buffer.db.  On success *out is a new handle (vg_store_close).
 * Errors: VG_ERR_IO (cannot open or create; err says why), VG_ERR_SCHEMA
 * (owner: the file is from a newer venuegw), VG_ERR_NOMEM. */
int vg_store_open(struct vg_store **out, const struct vg_store_cfg *cfg, char *err, size_t errsz);
void vg_store_close(struct vg_store *s);

/* The last SQLite error text of this handle (borrowed, valid until the next call). */
const char *vg_store_errmsg(const struct vg_store *s);

/* Begin a write transaction (BEGIN IMMEDIATE).  Capture handles check the
 * schema version inside it: VG_ERR_SCHEMA if it differs (no transaction is
 * left open).  VG_ERR_BUSY if the lock was not had within the busy timeout,
 * VG_ERR_IO otherwise. */
int vg_store_begin(struct vg_store *s);
/* Commit: VG_OK once durable per the durability mode, else VG_ERR_IO /
 * VG_ERR_BUSY and the transaction is rolled back (nothing of it stored). */
int vg_store_commit(struct vg_store *s);
void vg_store_rollback(struct vg_store *s);

enum vg_event_state { VG_STATE_PENDING = 0, VG_STATE_INFLIGHT = 1, VG_STATE_FORWARDED = 2 };

/* One event in its tokenized wire form.  All fields borrowed for the call. */
struct vg_store_event {
	const char *event_key;   /* 22 characters, unique */
	const char *device_id;
	const char *type;
	int priority;            /* enum vg_priority */
	unsigned flags;          /* VG_FLAG_* (ingest.h) */
	int64_t received_at_ms;
	const char *body;        /* tokenized JSON */
	size_t body_len;
};

/* The positive outcomes of a put that stored nothing (errors are negative). */
#define VG_STORE_DUPLICATE 1   /* the event key is already held or was forwarded */
#define VG_STORE_OVERFLOW 2    /* a quarantine row counted in quarantine_overflow instead */

/* Insert inside a transaction.  Returns VG_OK (stored), VG_STORE_DUPLICATE (a
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

/* What this handle's disk cap did since it was opened. */
struct vg_store_cap_stats {
	long long keys_reclaimed;   /* forwarded keys deleted before dedup_retention_h (committed) */
	long long dropped;          /* events dropped (drop_oldest; committed) */
	long long refused;          /* puts refused with VG_ERR_FULL */
};
void vg_store_cap_stats(const struct vg_store *s, struct vg_store_cap_stats *out);

/* Bytes of the pages in use (page count less the free list, times the page size). */
int vg_store_used_bytes(struct vg_store *s, long long *used);

/* Events dropped at the cap, rows after after_id, per device and type through cb;
 * *last_id = the highest row read (after_id when none).  VG_OK or an error. */
typedef void (*vg_store_drops_cb)(void *ud, const char *device_id, const char *type, long long n);
int vg_store_drops_after(struct vg_store *s, long long after_id, vg_store_drops_cb cb, void *ud,
                         long long *last_id);

/* One quarantined input.  body is the tokenized form for decoded input that
 * violates a contract (state "held"), or NULL for input that did not decode
 * (state "metadata": only what is here, never the bytes). */
struct vg_store_quarantine {
	int64_t received_at_ms;
	const char *device_id;   /* the authenticated device */
	const char *topic;       /* may be "" (serial) */
	size_t size;             /* payload bytes */
	const char *reason;      /* vg_reject_name() */
	const char *field;       /* may be "" */
	const char *detail;      /* no input values */
	long error_offset;       /* -1 when unknown */
	const char *digest;      /* keyed digest of the raw payload */
	const char *event_key;   /* may be "" */
	const char *body;        /* may be NULL */
	size_t body_len;
};

/* Insert inside a transaction.  VG_OK (stored), VG_STORE_OVERFLOW (at the
 * disk cap: counted in quarantine_overflow instead, never refused), or an
 * error.  The quarantine's own share (quarantine_max_mb) and the per-device
 * rate are capture.h's: this stores whatever it is given while it fits. */
int vg_store_put_quarantine(struct vg_store *s, const struct vg_store_quarantine *q);

/* The quarantine's size as counted against [capture] quarantine_max_mb: its
 * rows' text plus a fixed allowance per row (index entry, integers, page
 * overhead).  Kept by triggers, so this reads one row.  VG_OK or an error. */
int vg_store_quarantine_bytes(struct vg_store *s, long long *bytes);

/* Delete, in its own short transaction, up to limit quarantine rows received
 * before before_ms (quarantine_retention_d).  Returns the number deleted (≥ 0;
 * limit: call again) or an error. */
int vg_store_purge_quarantine(struct vg_store *s, int64_t before_ms, int limit);

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

/* Every undeclared count, by device, type and path, through cb (borrowed for
 * the call; a non-zero return stops).  Nothing on a file not yet migrated. */
typedef int (*vg_store_undeclared_cb)(void *ud, const char *device_id, const char *type, const char *path,
                                      long long count, int64_t last_ms);
int vg_store_undeclared_each(struct vg_store *s, vg_store_undeclared_cb cb, void *ud);

/* Owner only: a passive checkpoint.  Returns VG_OK or an error. */
int vg_store_checkpoint(struct vg_store *s);

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
/* Return 0 to take the row and continue, 1 to stop before this row (it is
 * not taken), 2 to pass over this row and continue (it stays pending), or a
 * negative error to abort. */
typedef int (*vg_store_row_cb)(void *ud, const struct vg_store_row *row);

/* The oldest batch that was claimed but not finished (a restart, a failed
 * attempt): its id and attempts so far.  VG_ERR_NOTFOUND when there is none. */
int vg_store_batch_unfinished(struct vg_store *s, long long *batch_id, int *attempts);

/* The events of a batch, in id order, through cb. */
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

/* The CDP accepted the batch: its events become forwarded (the key is kept for
 * dedup_retention_h, the body is cleared) and the batch is removed. */
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
 * transaction: VG_OK, 1 (already stored: the key is its identity), or an error. */
int vg_store_put_internal_event(struct vg_store *s, const struct vg_store_event *ev);

/* Per device, what happened in [from_ms, to_ms): events committed (stored or
 * quarantined on receipt), forwarded, quarantined, dropped.  Devices in name
 * order; a non-zero return from cb stops the walk. */
typedef int (*vg_store_reconcile_cb)(void *ud, const char *device_id, long long committed,
                                     long long forwarded, long long quarantined, long long dropped);
int vg_store_reconcile(struct vg_store *s, int64_t from_ms, int64_t to_ms, vg_store_reconcile_cb cb, void *ud);

/* Delete up to limit forwarded rows older than before_ms, and up to limit drops
 * rows dropped before drops_before_ms.  Returns the larger of the two numbers
 * deleted (≥ 0; limit: call again) or an error. */
int vg_store_purge_forwarded(struct vg_store *s, int64_t before_ms, int64_t drops_before_ms, int limit);

/* 1 when pending events of priority ≤ max_priority exist, 0 when not, or an
 * error.  Cheap (an index look-up). */
int vg_store_has_pending(struct vg_store *s, int max_priority);

/* ---- serial input ------------------------------------------------------- */

/* The persisted event counter of a serial device (DESIGN.md §4: keys are
 * "<epoch>:<seq>").  Creates it when missing, with a new epoch (the current
 * Unix time), so a lost counter never reuses keys.  Own transaction. */
int vg_store_serial_counter(struct vg_store *s, const char *device_id, int64_t now_ms,
                            long long *epoch, long long *seq);

/* Inside a transaction: the device's counter is now seq (and it was seen). */
int vg_store_serial_advance(struct vg_store *s, const char *device_id, long long seq, int64_t now_ms);

/* ---- erasure (DESIGN.md §3 promise 6) ------------------------------------ */

/* Inside a capture transaction: 1 if any of tokens[0..n) is suppressed, 0 if
 * none is, or an error. */
int vg_store_suppressed(struct vg_store *s, const char *const *tokens, size_t n);

/* Erasure works in short steps so capture never waits on it (§6): first
 * vg_store_suppress() (capture suppresses the person from its commit on),
 * then vg_store_erase_slice() over each table by row id, then
 * vg_store_tombstone().  Rows committed after the suppression cannot be the
 * person's, so the ids up to vg_store_max_ids() read after it are all there
 * is to scan. */

/* In its own tiny transaction: suppress tokens[0..n) at capture (stored as
 * digests, never the tokens).  key_versions lists the key versions the tokens
 * were computed under, as ",1,2," (copied; NULL: unknown), so check-config can
 * tell when a version suppressions rely on left the key file.  VG_OK or an
 * error (nothing suppressed). */
int vg_store_suppress(struct vg_store *s, const char *const *tokens, size_t n, const char *key_versions,
                      int64_t now_ms);

enum vg_store_table { VG_STORE_TABLE_EVENTS, VG_STORE_TABLE_QUARANTINE };
#define VG_STORE_ERASE_MATCH_MAX 32    /* needles per call */
#define VG_STORE_ERASE_SLICE_MAX 4096  /* rows deleted per call at most: keep slices smaller */

/* Erase one slice: the rows of table with after_id < id <= to_id whose body
 * holds any of match[0..nmatch) (events: pending or in a batch; forwarded
 * ones keep no body).  They are found by a read that takes no write lock,
 * then deleted in one short write transaction that matches again.  A slice
 * should hold at most VG_STORE_ERASE_SLICE_MAX rows (more matching rows are
 * left for the next pass).  *scanned and *deleted count rows.  VG_OK or an
 * error (then nothing of this slice was deleted).  match is borrowed. */
int vg_store_erase_slice(struct vg_store *s, enum vg_store_table table, const char *const *match,
                         size_t nmatch, long long after_id, long long to_id, long long *scanned,
                         long long *deleted);

/* In its own short transaction: the tombstone of an erasure (a digest, the
 * time, rows purged — no personal data).  VG_OK or an error. */
int vg_store_tombstone(struct vg_store *s, const char *digest, int64_t now_ms, long long rows);

/* The suppressions grouped by the key versions they cover (",1,2,"; "" for
 * rows written before versions were recorded): the list, how many rows, the
 * oldest's time.  A non-zero return from cb stops.  VG_OK (nothing through
 * cb for a file of schema < 3) or an error. */
typedef int (*vg_store_versions_cb)(void *ud, const char *key_versions, long long count, int64_t first_ms);
int vg_store_suppression_versions(struct vg_store *s, vg_store_versions_cb cb, void *ud);

/* End suppressions for tokens[0..n).  *lifted gets how many were removed. */
int vg_store_lift(struct vg_store *s, const char *const *tokens, size_t n, long long *lifted);

/* Copy the WAL into the database and truncate it to zero bytes, so no old
 * page image survives in it.  A passive checkpoint goes first; then it tries
 * until timeout_ms has passed (0: once), each attempt without waiting for
 * anyone (a waiting truncation would hold capture's write lock).  VG_OK, or VG_ERR_BUSY when readers
 * kept it from completing (the daemon's next checkpoint reuses the WAL). */
int vg_store_checkpoint_truncate(struct vg_store *s, int timeout_ms);

struct vg_store_counts {
	long long pending, inflight, forwarded;
	long long quarantine_held, quarantine_metadata, quarantine_overflow;
	long long dropped;          /* events dropped at the disk cap in the last two reconciliation windows */
};
int vg_store_counts(struct vg_store *s, struct vg_store_counts *c);

/* Walk the quarantine, newest first, at most limit rows.  cb gets each row
 * (borrowed for the call); a non-zero return stops the walk. */
typedef int (*vg_store_quarantine_cb)(void *ud, long long id, const struct vg_store_quarantine *q,
                                      const char *state);
int vg_store_quarantine_each(struct vg_store *s, int limit, vg_store_quarantine_cb cb, void *ud);

/* ---- metrics and status (reads only; no schema of their own) ------------- */

/* The highest row ids of events and quarantine (0 when empty).  Rows are
 * numbered in commit order, so rows above a mark were committed after it. */
int vg_store_max_ids(struct vg_store *s, long long *events_max, long long *quarantine_max);

/* One event row for the daemon's metrics, borrowed for the callback. */
struct vg_store_new_event {
	long long id;
	const char *device_id;
	const char *type;
	int64_t received_at_ms;
	int has_seq;             /* the event carried an integer seq */
	long long seq;
	int identified;          /* 1: a person identifier; 0: none; -1: unknown (body gone: forwarded) */
};
typedef int (*vg_store_new_event_cb)(void *ud, const struct vg_store_new_event *e);
/* Up to limit events with id > after_id, in id order; a non-zero return stops. */
int vg_store_events_after(struct vg_store *s, long long after_id, int limit, vg_store_new_event_cb cb, void *ud);

typedef int (*vg_store_new_quarantine_cb)(void *ud, long long id, const char *device_id, const char *reason,
                                          int64_t received_at_ms);
/* Up to limit quarantine rows with id > after_id, in id order. */
int vg_store_quarantine_after(struct vg_store *s, long long after_id, int limit,
                              vg_store_new_quarantine_cb cb, void *ud);

typedef int (*vg_store_overflow_cb)(void *ud, const char *device_id, const char *reason, long long count);
/* The flood counters (quarantine_overflow), per device and reason. */
int vg_store_overflow_each(struct vg_store *s, vg_store_overflow_cb cb, void *ud);

/* The receive time of the oldest event not yet forwarded (pending or in a
 * batch), 0 when there is none.  Index look-ups only. */
int vg_store_oldest_unforwarded(struct vg_store *s, int64_t *oldest_ms);

typedef int (*vg_store_device_cb)(void *ud, const char *device_id, int64_t last_seen_ms, long long events);
/* Per device, among events with from_id < id <= to_id: the latest receive
 * time and how many there are (device_id order).  A range scan: callers
 * that must stay responsive walk the table in slices. */
int vg_store_devices(struct vg_store *s, long long from_id, long long to_id, vg_store_device_cb cb, void *ud);

/* ---- quarantine show and retry, diag (reads, and the retry's writes) ------ */

/* Which quarantine rows vg_store_quarantine_select() walks.  NULL strings
 * match anything. */
struct vg_store_quarantine_filter {
	const char *reason;
	const char *device_id;
	const char *state;       /* "held" | "metadata" */
	long long after_id;      /* only rows with a larger id (0: all) */
	int limit;               /* at most this many rows; <= 0: no limit */
	int oldest_first;        /* 1: id order; 0: newest first */
};
/* Rows as for vg_store_quarantine_each (borrowed for the call; a non-zero
 * return from cb stops the walk).  VG_OK or an error. */
int vg_store_quarantine_select(struct vg_store *s, const struct vg_store_quarantine_filter *f,
                               vg_store_quarantine_cb cb, void *ud);

/* The row id through cb: VG_OK, VG_ERR_NOTFOUND, or an error.  Inside a
 * transaction too (the retry reads the row it then changes). */
int vg_store_quarantine_get(struct vg_store *s, long long id, vg_store_quarantine_cb cb, void *ud);

/* Inside a transaction: delete row id (a retried entry that was stored as an
 * event, was a duplicate, or belongs to a forgotten person).  VG_OK,
 * VG_ERR_NOTFOUND or an error. */
int vg_store_quarantine_remove(struct vg_store *s, long long id);

/* Inside a transaction: a retried entry rejected again keeps its row and
 * body, with the new reason.  VG_OK, VG_ERR_NOTFOUND or an error. */
int vg_store_quarantine_set_reason(struct vg_store *s, long long id, const char *reason, const char *field,
                                   const char *detail, long error_offset);

/* The SQLite library's version (static storage). */
const char *vg_store_sqlite_version(void);

struct vg_store_file_stats {
	long long page_size, page_count, freelist_count, schema_version;
	char journal_mode[16];
};
int vg_store_file_stats(struct vg_store *s, struct vg_store_file_stats *fs);

/* PRAGMA quick_check: "ok", or up to 20 problems, one a line, into out.
 * Reads the whole file.  VG_OK (whatever it found) or an error. */
int vg_store_quick_check(struct vg_store *s, char *out, size_t outsz);

/* Counts without personal data, for the support bundle.  cb gets a, b, c
 * (text), n and two times (ms) per row; a non-zero return stops.
 *   EVENTS:     device, type, state, count, oldest and newest receive time
 *   QUARANTINE: device, reason, state (held|metadata), count, oldest, newest
 *   OVERFLOW:   device, reason, "", count, first, last
 *   BATCHES:    batch id, last HTTP status ("" none), attempts, events, created, next attempt
 *   DEVICES:    device_state: device, last_seq ("" none), "<serial epoch>:<seq>", 0, last seen, 0
 *   TOMBSTONES: "", "", "" | "suppressions", count, first, last */
enum vg_store_group {
	VG_STORE_GROUP_EVENTS, VG_STORE_GROUP_QUARANTINE, VG_STORE_GROUP_OVERFLOW,
	VG_STORE_GROUP_BATCHES, VG_STORE_GROUP_DEVICES, VG_STORE_GROUP_TOMBSTONES,
};
typedef int (*vg_store_group_cb)(void *ud, const char *a, const char *b, const char *c, long long n,
                                 int64_t t1, int64_t t2);
int vg_store_group_counts(struct vg_store *s, enum vg_store_group g, vg_store_group_cb cb, void *ud);

#endif
