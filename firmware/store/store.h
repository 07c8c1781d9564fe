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
 * Not thread-safe: one struct vg_store per thread.
 *
 * This header: the handle, transactions, checkpoints and the types every
 * consumer shares.  Each consumer's own calls are in its header:
 * store_capture.h (capture.c, the serial path), store_forward.h (the
 * forwarder), store_erasure.h (venuegw forget), store_admin.h (venuegw
 * quarantine, diag, device) and store_metrics.h (metrics, venuegw status);
 * the schema behind them all is the private schema.h. */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stddef.h>
#include <stdint.h>

#define VG_STORE_SCHEMA 5

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

/* The last SQLite error text of this handle, or, when a transaction was rolled
 * back since, what made it fail (borrowed, valid until the next call). */
const char *vg_store_errmsg(const struct vg_store *s);

/* Begin a write transaction (BEGIN IMMEDIATE).  Capture handles check the
 * schema version inside it: VG_ERR_SCHEMA if it differs (no transaction is
 * left open).  VG_ERR_BUSY if the lock was not had within the busy timeout,
 * VG_ERR_IO otherwise. */
int vg_store_begin(struct vg_store *s);
/* The schema version check alone, as a read (no write lock: it never waits
 * for the daemon's transactions).  VG_OK, VG_ERR_SCHEMA, or a store error. */
int vg_store_check_schema(struct vg_store *s);
/* Commit: VG_OK once durable per the durability mode, else VG_ERR_IO /
 * VG_ERR_BUSY and the transaction is rolled back (nothing of it stored). */
int vg_store_commit(struct vg_store *s);
void vg_store_rollback(struct vg_store *s);

enum vg_event_state { VG_STATE_PENDING = 0, VG_STATE_INFLIGHT = 1, VG_STATE_FORWARDED = 2 };

/* What a put did: vg_store_put_event, vg_store_put_quarantine and
 * vg_store_put_internal_event return one of these, or a negative VG_ERR_*. */
enum vg_store_put {
	VG_STORE_STORED = 0,      /* the row is stored (VG_OK) */
	VG_STORE_DUPLICATE = 1,   /* the event key is already held or was forwarded: nothing stored */
	VG_STORE_OVERFLOW = 2,    /* a quarantine row counted in quarantine_overflow instead */
};

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

/* Owner only: a passive checkpoint.  Returns VG_OK or an error. */
int vg_store_checkpoint(struct vg_store *s);

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

/* The highest row ids of events and quarantine (0 when empty).  Rows are
 * numbered in commit order, so rows above a mark were committed after it. */
int vg_store_max_ids(struct vg_store *s, long long *events_max, long long *quarantine_max);

#endif
