#include "store_capture.h"

#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "schema.h"

/* ---- the disk cap (DESIGN §3 promise 5, §6) ----------------------------------- */

#define RECLAIM_CHUNK 128      /* forwarded keys: small rows */
#define DROP_CHUNK 32          /* pending events */
#define RECLAIM_ROUNDS 16
#define CAP_MEASURE_EVERY 256  /* puts of a transaction between two measures of the pages in use */
#define CAP_ROW_ALLOWANCE 192  /* a row's integers, its key in keys and its index entries */

int store_used_bytes(struct vg_store *s, long long *used)
{
	sqlite3_stmt *st = store_stmt(s, ST_USED_BYTES);
	if (!st)
		return VG_ERR_IO;
	int rc = sqlite3_step(st);
	*used = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VG_OK : store_map_rc(rc);
}

/* Run a bound DELETE/INSERT statement; *n = rows changed. */
static int change(struct vg_store *s, enum stmt_id id, long long a, long long b, int *n)
{
	sqlite3_stmt *st = store_stmt(s, id);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	int rc = store_run(st);
	*n = rc ? 0 : sqlite3_changes(s->db);
	return rc;
}

/* drop_oldest: up to DROP_CHUNK of the oldest droppable events below below_id,
 * counted in drops.  *n = events dropped. */
static int drop_oldest(struct vg_store *s, long long below_id, int64_t now_ms, int *n)
{
	*n = 0;
	sqlite3_stmt *st = store_stmt(s, ST_DROP_LAST);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_int(st, 1, DROP_CHUNK);
	sqlite3_bind_int64(st, 2, below_id);
	int rc = sqlite3_step(st);
	long long last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return store_map_rc(rc);
	if (last <= 0)
		return VG_OK;
	int rows;
	if ((rc = change(s, ST_DROP_RECORD, last, now_ms, &rows)) || (rc = change(s, ST_DROP_KEYS, last, 0, &rows)))
		return rc;
	return change(s, ST_DROP_DELETE, last, 0, n);
}

/* What captured rows of priority may fill of the cap. */
static long long cap_limit(const struct vg_store *s, int priority)
{
	return s->max_bytes - s->max_bytes / (priority == 0 ? 64 : 32) - VG_STORE_INTAKE_SHARE(s->max_bytes);
}

/* The pages in use are measured at most every CAP_MEASURE_EVERY puts of a
 * transaction (three PRAGMAs): in between, no other writer can add to them,
 * and each put adds at most twice its bytes and an allowance (b-tree pages
 * split half full). */
static long long cap_growth(size_t row_bytes)
{
	return 2 * ((long long)row_bytes + CAP_ROW_ALLOWANCE);
}

/* 1 when a put of row_bytes certainly fits under limit by the last measure. */
static int cap_fits(const struct vg_store *s, long long limit, size_t row_bytes)
{
	return s->in_txn && s->cap_txn_no == s->txn_no && s->cap_puts < CAP_MEASURE_EVERY &&
	       s->cap_used + s->cap_added + cap_growth(row_bytes) <= limit;
}

static size_t event_row_bytes(const struct vg_store_event *ev)
{
	return ev->body_len + strlen(ev->event_key) + strlen(ev->device_id) + strlen(ev->type);
}

int vg_store_put_fits(const struct vg_store *s, const struct vg_store_event *ev)
{
	return !s->max_bytes || cap_fits(s, cap_limit(s, ev->priority), event_row_bytes(ev));
}

/* Inside a capture transaction, after a row (row_id) was put: keep the pages in
 * use within the cap.  Captured rows may fill it up to 31/32 (the priority lane
 * up to 63/64) less the intake journal's share: the daemon's own writes
 * (batches, drops, moving forwarded keys) take pages too.  First the keys of forwarded events go, oldest first — only
 * their de-duplication window gets shorter —, a little more than needed so the
 * next puts do not each pay; then, if may_drop and under drop_oldest, the oldest
 * droppable events older than this row, as few as make it fit.  VG_ERR_FULL
 * when it still does not fit: the caller rolls back, the event is refused. */
static int keep_within_cap(struct vg_store *s, int priority, long long row_id, int may_drop, int64_t now_ms,
                           size_t row_bytes)
{
	if (!s->max_bytes)
		return VG_OK;
	long long limit = cap_limit(s, priority);
	if (cap_fits(s, limit, row_bytes)) {
		s->cap_added += cap_growth(row_bytes);
		s->cap_puts++;
		return VG_OK;
	}
	long long used;
	int rc = store_used_bytes(s, &used);
	if (!rc) {
		s->cap_txn_no = s->txn_no;
		s->cap_used = used;
		s->cap_added = 0;
		s->cap_puts = 0;
	}
	if (rc || used <= limit)
		return rc;
	s->cap_txn_no = 0;   /* freeing below changes it: measure again next time */
	long long slack = s->max_bytes / 64;
	int shrinking = 0;   /* a loop stopped at RECLAIM_ROUNDS with more left to free */
	for (int round = 0; used + slack > limit; round++) {
		int n;
		if (round == RECLAIM_ROUNDS) {
			shrinking = used > limit;
			break;
		}
		if ((rc = change(s, ST_RECLAIM_KEYS, RECLAIM_CHUNK, 0, &n)))
			return rc;
		s->txn_cap.keys_reclaimed += n;
		if (n == 0)
			break;
		if ((rc = store_used_bytes(s, &used)))
			return rc;
	}
	for (int round = 0; !shrinking && may_drop && s->drop_oldest && used > limit; round++) {
		int n;
		if (round == RECLAIM_ROUNDS) {
			shrinking = 1;
			break;
		}
		if ((rc = drop_oldest(s, row_id, now_ms, &n)))
			return rc;
		s->txn_cap.dropped += n;
		if (n == 0)
			break;
		if ((rc = store_used_bytes(s, &used)))
			return rc;
	}
	/* Still over, but this put freed all it may (the cap was lowered, or far more is
	 * to be freed than one put should do): the row stays with what was freed, and
	 * the next puts free more.  Refusing would roll the freeing back as well. */
	if (used <= limit || shrinking)
		return VG_OK;
	s->cap.refused++;
	return VG_ERR_FULL;
}

void vg_store_cap_stats(const struct vg_store *s, struct vg_store_cap_stats *out)
{
	*out = s->cap;
}

int store_put_event_row(struct vg_store *s, const struct vg_store_event *ev)
{
	/* The key first: held or forwarded before, it is a duplicate. */
	sqlite3_stmt *st = store_stmt(s, ST_PUT_KEY);
	if (!st)
		return VG_ERR_IO;
	uint8_t key[VG_STORE_KEY_MAX];
	size_t keylen = store_key_blob(ev->event_key, key);
	sqlite3_bind_blob(st, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ev->received_at_ms);
	sqlite3_bind_text(st, 3, ev->device_id, -1, SQLITE_STATIC);
	int rc = store_run(st);
	if (rc)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return VG_STORE_DUPLICATE;
	if (!(st = store_stmt(s, ST_PUT_EVENT)))
		return VG_ERR_IO;
	sqlite3_bind_text(st, 1, ev->event_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ev->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, ev->priority);
	sqlite3_bind_int64(st, 5, ev->received_at_ms);
	sqlite3_bind_int64(st, 6, ev->flags);
	sqlite3_bind_text(st, 7, ev->body, (int)ev->body_len, SQLITE_STATIC);
	rc = store_run(st);
	return rc ? rc : VG_STORE_STORED;
}

int vg_store_put_event(struct vg_store *s, const struct vg_store_event *ev)
{
	/* Put first: a duplicate needs no room, and the size is then exact. */
	int rc = store_put_event_row(s, ev);
	if (rc)
		return rc;
	return keep_within_cap(s, ev->priority, sqlite3_last_insert_rowid(s->db), 1, ev->received_at_ms,
	                       event_row_bytes(ev));
}

static int put_quarantine_row(struct vg_store *s, const struct vg_store_quarantine *q);

/* At the cap, a quarantined input is counted (quarantine_overflow), not stored:
 * bad input never takes the room of good events, nor holds capture up. */
int vg_store_put_quarantine(struct vg_store *s, const struct vg_store_quarantine *q)
{
	if (!s->max_bytes)
		return put_quarantine_row(s, q);
	int rc = store_exec(s, "SAVEPOINT quarantine");
	if (rc)
		return rc;
	struct vg_store_cap_stats before = s->txn_cap;
	rc = put_quarantine_row(s, q);
	if (!rc)
		rc = keep_within_cap(s, 1 /* normal */, 0, 0, q->received_at_ms, q->body_len + 512);
	if (rc == VG_ERR_FULL) {
		s->cap.refused--;   /* not refused: counted */
		s->txn_cap = before;
		if ((rc = store_exec(s, "ROLLBACK TO quarantine")) == VG_OK && (rc = store_exec(s, "RELEASE quarantine")) == VG_OK)
			rc = vg_store_count_quarantine_overflow(s, q->device_id, q->reason, q->received_at_ms);
		return rc ? rc : VG_STORE_OVERFLOW;
	}
	int rel = store_exec(s, "RELEASE quarantine");
	return rc ? rc : rel;
}

static int put_quarantine_row(struct vg_store *s, const struct vg_store_quarantine *q)
{
	sqlite3_stmt *st = store_stmt(s, ST_PUT_QUARANTINE);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_int64(st, 1, q->received_at_ms);
	sqlite3_bind_text(st, 2, q->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->topic ? q->topic : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)q->size);
	sqlite3_bind_text(st, 5, q->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, q->field ? q->field : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->detail ? q->detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, q->error_offset);
	sqlite3_bind_text(st, 9, q->digest ? q->digest : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, q->event_key ? q->event_key : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, q->body ? "held" : "metadata", -1, SQLITE_STATIC);
	if (q->body)
		sqlite3_bind_text(st, 12, q->body, (int)q->body_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 12);
	return store_run(st);
}

int vg_store_count_quarantine_overflow(struct vg_store *s, const char *device_id,
                                       const char *reason, int64_t now_ms)
{
	sqlite3_stmt *st = store_stmt(s, ST_OVERFLOW);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	return store_run(st);
}

int vg_store_quarantine_bytes(struct vg_store *s, long long *bytes)
{
	*bytes = 0;
	sqlite3_stmt *st = store_stmt(s, ST_QUARANTINE_BYTES);
	if (!st)
		return VG_ERR_IO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*bytes = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

/* ---- serial input -------------------------------------------------------------- */

int vg_store_serial_counter(struct vg_store *s, const char *device_id, int64_t now_ms,
                            long long *epoch, long long *seq)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = store_map_rc(sqlite3_prepare_v2(s->db,
		"INSERT INTO device_state(device_id, serial_epoch, serial_seq, last_seen_ms) VALUES (?1, ?2, 0, ?3)"
		" ON CONFLICT(device_id) DO UPDATE SET serial_epoch = ?2 WHERE serial_epoch = 0", -1, &st, NULL));
	if (!rc) {
		sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms / 1000);
		sqlite3_bind_int64(st, 3, now_ms);
		rc = store_run(st);
		sqlite3_finalize(st);
	}
	if (!rc) {
		rc = store_map_rc(sqlite3_prepare_v2(s->db, "SELECT serial_epoch, serial_seq FROM device_state WHERE device_id = ?1",
		                                     -1, &st, NULL));
		if (!rc) {
			sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW) {
				*epoch = sqlite3_column_int64(st, 0);
				*seq = sqlite3_column_int64(st, 1);
			} else {
				rc = VG_ERR_IO;
			}
			sqlite3_finalize(st);
		}
	}
	if (rc) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_serial_advance(struct vg_store *s, const char *device_id, long long seq, int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = store_map_rc(sqlite3_prepare_v2(s->db,
		"UPDATE device_state SET serial_seq = ?2, last_seen_ms = ?3 WHERE device_id = ?1", -1, &st, NULL));
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, now_ms);
	rc = store_run(st);
	sqlite3_finalize(st);
	return rc;
}

/* ---- the tracking plan's undeclared members ----------------------------------- */

static int undeclared_step(sqlite3_stmt *st, const char *device_id, const char *type, const char *path,
                           long long n, int64_t now_ms)
{
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n);
	sqlite3_bind_int64(st, 5, now_ms);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_count_undeclared(struct vg_store *s, const char *device_id, const char *type, const char *path,
                              long long n, int64_t now_ms)
{
	sqlite3_stmt *add = store_stmt(s, ST_UNDECLARED_ADD);
	if (!add)
		return VG_ERR_IO;
	int rc = undeclared_step(add, device_id, type, path, n, now_ms);
	if (rc || sqlite3_changes(s->db) > 0)
		return rc;
	/* A new row: within the bound, or counted under "~other". */
	sqlite3_stmt *rows = store_stmt(s, ST_UNDECLARED_ROWS);
	sqlite3_stmt *ins = store_stmt(s, ST_UNDECLARED_NEW);
	if (!rows || !ins)
		return VG_ERR_IO;
	long long have = 0;
	rc = sqlite3_step(rows);
	if (rc == SQLITE_ROW)
		have = sqlite3_column_int64(rows, 0);
	sqlite3_reset(rows);
	if (rc != SQLITE_ROW)
		return store_map_rc(rc);
	if (have >= VG_STORE_UNDECLARED_ROWS)
		return undeclared_step(ins, "~other", "~other", "~other", n, now_ms);
	return undeclared_step(ins, device_id, type, path, n, now_ms);
}

int vg_store_count_undeclared_list(struct vg_store *s, const char *device_id, const char *type,
                                   const char *const *paths, const unsigned *counts, int n, unsigned total,
                                   int64_t now_ms)
{
	if (!total)
		return VG_OK;
	if (!type[0])
		type = "~unknown";
	unsigned listed = 0;
	for (int i = 0; i < n; i++) {
		int rc = vg_store_count_undeclared(s, device_id, type, paths[i], counts[i], now_ms);
		if (rc)
			return rc;
		listed += counts[i];
	}
	if (total > listed)
		return vg_store_count_undeclared(s, device_id, type, "~more", total - listed, now_ms);
	return VG_OK;
}
