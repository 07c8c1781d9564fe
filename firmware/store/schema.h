/* venuegw — buffer.db's private schema (DESIGN.md §6, §10).
 *
 * Included by the .c files of firmware/store/ only, never by a consumer: each consumer
 * includes its own public header (store.h for the handle and transactions,
 * store_capture.h, store_forward.h, store_erasure.h, store_admin.h,
 * store_metrics.h).  Here: the handle, the statements capture prepares once
 * and keeps (their SQL in store.c), and the helpers the store's .c files
 * share.  The tables themselves are created by the migrations in store.c.
 *
 * Every helper is as thread-unsafe as the handle it takes. */
#ifndef VG_STORE_SCHEMA_H
#define VG_STORE_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"
#include "store_capture.h"

/* The receive time of the oldest event still held (pending or in a batch;
 * ids follow receive order), NULL when there is none: no key received after
 * it may be purged or reclaimed. */
#define SQL_OLDEST_HELD_MS "(SELECT received_at_ms FROM events ORDER BY id LIMIT 1)"

/* The statements prepared once per handle (store_stmt), capture's hot path. */
enum stmt_id {
	ST_PUT_KEY,
	ST_PUT_EVENT,
	ST_PUT_QUARANTINE,
	ST_OVERFLOW,
	ST_USER_VERSION,
	ST_SUPPRESSED,
	ST_SUPPRESSIONS_ANY,
	ST_USED_BYTES,
	ST_RECLAIM_KEYS,
	ST_DROP_LAST,
	ST_DROP_RECORD,
	ST_DROP_KEYS,
	ST_DROP_DELETE,
	ST_UNDECLARED_ADD,
	ST_UNDECLARED_ROWS,
	ST_UNDECLARED_NEW,
	ST_QUARANTINE_BYTES,
	ST_INTAKE_GET,
	ST_INTAKE_SET,
	ST_MOVE_SAVEPOINT,
	ST_MOVE_RELEASE,
	ST_MOVE_ROLLBACK,
	ST__COUNT
};

/* One handle (vg_store_open). */
struct vg_store {
	sqlite3 *db;
	int owner;
	int busy_timeout_ms;
	int64_t busy_since_ns;
	int in_txn;
	long long txn_no;          /* transactions begun (vg_store_begin) */
	long long sup_none_txn;    /* the transaction that found no suppression at all (0: none did) */
	long long cap_txn_no;      /* the transaction cap_used was measured in (0: none) */
	long long cap_used;        /* the pages in use then, in bytes */
	long long cap_added;       /* at most what the puts since have added */
	int cap_puts;              /* puts since */
	long long max_bytes;       /* the disk cap; 0: none */
	int drop_oldest;
	struct vg_store_cap_stats cap;     /* committed */
	struct vg_store_cap_stats txn_cap; /* in the open transaction */
	sqlite3_stmt *stmt[ST__COUNT];
	char rollback_err[200];            /* why the last rolled back transaction failed ("": none) */
};

/* SQLite's result code → VG_OK, VG_ERR_BUSY, VG_ERR_NOMEM or VG_ERR_IO. */
int store_map_rc(int rc);

/* Run sql (no parameters, no rows), logging a failure.  VG_OK or an error. */
int store_exec(struct vg_store *s, const char *sql);

/* Run sql with ?1 = a and, if the statement has it, ?2 = b.  VG_OK or an
 * error; sqlite3_changes() tells the rows changed. */
int store_exec_bound2(struct vg_store *s, const char *sql, long long a, long long b);

/* The first column of the first row of sql into *out (unchanged when there
 * is no row).  VG_OK or an error. */
int store_int_query(struct vg_store *s, const char *sql, long long *out);

/* The handle's prepared statement id (prepared on first use), or NULL when
 * it cannot be prepared (logged). */
sqlite3_stmt *store_stmt(struct vg_store *s, enum stmt_id id);

/* Step a prepared statement to completion; reset it and clear its bindings
 * either way.  VG_OK or an error. */
int store_run(sqlite3_stmt *st);

/* End a write transaction: commit when rc is VG_OK, else roll back and
 * return rc. */
int store_end_txn(struct vg_store *s, int rc);

/* Column i as text, "" for NULL (borrowed until the next step). */
const char *store_col(sqlite3_stmt *st, int i);

/* Bytes of the pages in use (page count less the free list, times the page
 * size).  VG_OK or an error. */
int store_used_bytes(struct vg_store *s, long long *used);

/* The key of an event as keys.key holds it: the 16 bytes of a 22-character
 * event key (§4), or, for anything else, its text cut to VG_STORE_KEY_MAX.
 * Returns the length written to out.  SQL has it as vg_key(text). */
#define VG_STORE_KEY_MAX 64
size_t store_key_blob(const char *key, uint8_t out[VG_STORE_KEY_MAX]);

/* Inside a transaction: insert the event row, never refused at the disk cap
 * (that is vg_store_put_event's part).  VG_STORE_STORED, VG_STORE_DUPLICATE
 * (the key is already held: nothing stored) or an error. */
int store_put_event_row(struct vg_store *s, const struct vg_store_event *ev);

#endif
