#include "store_forward.h"

#include <stdio.h>

#include <sqlite3.h>

#include "err.h"
#include "event.h"
#include "schema.h"

/* ---- forwarding ------------------------------------------------------------ */

static const char row_cols[] =
	"SELECT id, event_key, device_id, type, priority, flags, received_at_ms, body FROM events";

static void fill_row(sqlite3_stmt *st, struct vg_store_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->event_key = store_col(st, 1);
	r->device_id = store_col(st, 2);
	r->type = store_col(st, 3);
	r->priority = sqlite3_column_int(st, 4);
	r->flags = (unsigned)sqlite3_column_int64(st, 5);
	r->received_at_ms = sqlite3_column_int64(st, 6);
	r->body = store_col(st, 7);
	r->body_len = (size_t)sqlite3_column_bytes(st, 7);
}

int vg_store_batch_unfinished(struct vg_store *s, long long *batch_id, int *attempts)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id, attempts FROM batches ORDER BY id LIMIT 1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*batch_id = sqlite3_column_int64(st, 0);
		*attempts = sqlite3_column_int(st, 1);
		rc = VG_OK;
	} else {
		rc = rc == SQLITE_DONE ? VG_ERR_NOTFOUND : store_map_rc(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

int vg_store_batch_rows(struct vg_store *s, long long batch_id, vg_store_row_cb cb, void *ud)
{
	char sql[256];
	snprintf(sql, sizeof sql, "%s WHERE id IN (SELECT id FROM inflight WHERE batch_id = ?1) ORDER BY id", row_cols);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, batch_id);
	int err = VG_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vg_store_row r;
		fill_row(st, &r);
		int c = cb(ud, &r);
		if (c < 0) {
			err = c;
			break;
		}
		if (c == VG_STORE_ROW_STOP)
			break;
	}
	sqlite3_finalize(st);
	if (err)
		return err;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_batch_claim(struct vg_store *s, int max_events, int max_priority, int64_t now_ms,
                         vg_store_row_cb cb, void *ud, long long *batch_id)
{
	*batch_id = 0;
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *sel = NULL, *upd = NULL;
	/* A batch takes its events by listing their ids in inflight: the rows
	 * are not rewritten. */
	char sql[256];
	snprintf(sql, sizeof sql, "%s WHERE priority <= ?2 AND id NOT IN (SELECT id FROM inflight)"
	         " ORDER BY priority, id LIMIT ?1", row_cols);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO inflight(batch_id, id) VALUES (?1, ?2)", -1, &upd, NULL);
	if (rc != SQLITE_OK) {
		rc = store_map_rc(rc);
		goto fail;
	}
	rc = store_exec(s, "INSERT INTO batches(created_at_ms) VALUES (0)");
	if (rc)
		goto fail;
	long long id = sqlite3_last_insert_rowid(s->db);
	int taken = 0;
	sqlite3_bind_int(sel, 1, max_events);
	sqlite3_bind_int(sel, 2, max_priority);
	int step;
	while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
		struct vg_store_row r;
		fill_row(sel, &r);
		int c = cb(ud, &r);
		if (c < 0) {
			rc = c;
			goto fail;
		}
		if (c == VG_STORE_ROW_STOP)
			break;
		if (c == VG_STORE_ROW_PASS)
			continue;
		sqlite3_bind_int64(upd, 1, id);
		sqlite3_bind_int64(upd, 2, r.id);
		if ((rc = store_run(upd)))
			goto fail;
		taken++;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		rc = store_map_rc(step);
		goto fail;
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sel = upd = NULL;
	if (!taken) {
		vg_store_rollback(s);
		return VG_OK;
	}
	char set[96];
	snprintf(set, sizeof set, "UPDATE batches SET created_at_ms = %lld WHERE id = %lld", (long long)now_ms, id);
	if ((rc = store_exec(s, set)))
		goto fail;
	if ((rc = vg_store_commit(s)))
		return rc;
	*batch_id = id;
	return VG_OK;
fail:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	vg_store_rollback(s);
	return rc ? rc : VG_ERR_IO;
}

int vg_store_batch_attempt(struct vg_store *s, long long batch_id, const char *idempotency_key,
                           int status, const char *error)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
		"UPDATE batches SET attempts = attempts + 1, idempotency_key = ?2, last_status = ?3,"
		" last_error = ?4 WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, batch_id);
	sqlite3_bind_text(st, 2, idempotency_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, status);
	sqlite3_bind_text(st, 4, error ? error : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_batch_done(struct vg_store *s, long long batch_id, int64_t now_ms)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	/* The rows go (their keys stay in keys): the pages their bodies filled
	 * empty out and go to the free list, which is what the disk cap counts.
	 * forwards counts them per device and second for the reconciliation. */
	if ((rc = store_exec_bound2(s, "INSERT INTO forwards(at_ms, device_id, count)"
	                               " SELECT ?2 / 1000 * 1000, device_id, count(*) FROM events"
	                               " WHERE id IN (SELECT id FROM inflight WHERE batch_id = ?1) GROUP BY device_id"
	                               " ON CONFLICT(at_ms, device_id) DO UPDATE SET count = count + excluded.count",
	                               batch_id, now_ms)) ||
	    (rc = store_exec_bound2(s, "DELETE FROM events WHERE id IN (SELECT id FROM inflight WHERE batch_id = ?1)",
	                            batch_id, 0)) ||
	    (rc = store_exec_bound2(s, "DELETE FROM inflight WHERE batch_id = ?1", batch_id, 0)) ||
	    (rc = store_exec_bound2(s, "DELETE FROM batches WHERE id = ?1", batch_id, 0))) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

/* Move the events selected by where (?1 bound to id) to the quarantine. */
static int quarantine_where(struct vg_store *s, const char *where, long long id, const char *reason,
                            const char *detail)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		"INSERT INTO quarantine(received_at_ms, device_id, topic, size, reason, field, detail,"
		" error_offset, digest, event_key, state, body)"
		" SELECT received_at_ms, device_id, '', length(body), ?2, '', ?3, -1, '', event_key, 'held', body"
		" FROM events WHERE %s", where);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, detail ? detail : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_map_rc(rc);
	/* Its key goes too, as for an event quarantined on receipt: the
	 * reconciliation counts it once, and a retry stores it again. */
	snprintf(sql, sizeof sql, "DELETE FROM keys WHERE key IN (SELECT vg_key(event_key) FROM events WHERE %s)", where);
	if ((rc = store_exec_bound2(s, sql, id, 0)))
		return rc;
	snprintf(sql, sizeof sql, "DELETE FROM events WHERE %s", where);
	return store_exec_bound2(s, sql, id, 0);
}

int vg_store_quarantine_event(struct vg_store *s, long long event_id, const char *reason,
                              const char *detail)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	if ((rc = quarantine_where(s, "id = ?1", event_id, reason, detail)) ||
	    (rc = store_exec_bound2(s, "DELETE FROM inflight WHERE id = ?1", event_id, 0))) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_batch_quarantine(struct vg_store *s, long long batch_id, const char *reason,
                              const char *detail)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	if ((rc = quarantine_where(s, "id IN (SELECT id FROM inflight WHERE batch_id = ?1)", batch_id, reason, detail)) ||
	    (rc = store_exec_bound2(s, "DELETE FROM inflight WHERE batch_id = ?1", batch_id, 0)) ||
	    (rc = store_exec_bound2(s, "DELETE FROM batches WHERE id = ?1", batch_id, 0))) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_batch_split(struct vg_store *s, long long batch_id, const long long *event_ids, size_t n,
                         int64_t now_ms, long long *new_batch_id)
{
	*new_batch_id = 0;
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *upd = NULL;
	if ((rc = store_exec_bound2(s, "INSERT INTO batches(created_at_ms) VALUES (?1)", now_ms, 0)))
		goto fail;
	long long id = sqlite3_last_insert_rowid(s->db);
	rc = sqlite3_prepare_v2(s->db, "UPDATE inflight SET batch_id = ?1 WHERE id = ?2 AND batch_id = ?3",
	                        -1, &upd, NULL);
	if (rc != SQLITE_OK) {
		rc = store_map_rc(rc);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(upd, 1, id);
		sqlite3_bind_int64(upd, 2, event_ids[i]);
		sqlite3_bind_int64(upd, 3, batch_id);
		if ((rc = store_run(upd)))
			goto fail;
	}
	sqlite3_finalize(upd);
	upd = NULL;
	/* The remaining set is new too: its attempts start again. */
	if ((rc = store_exec_bound2(s, "UPDATE batches SET attempts = 0, idempotency_key = NULL WHERE id = ?1",
	                            batch_id, 0)))
		goto fail;
	if ((rc = vg_store_commit(s)))
		return rc;
	*new_batch_id = id;
	return VG_OK;
fail:
	sqlite3_finalize(upd);
	vg_store_rollback(s);
	return rc ? rc : VG_ERR_IO;
}

int vg_store_batch_unfinished_list(struct vg_store *s, long long *ids, size_t max, size_t *n)
{
	*n = 0;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id FROM batches ORDER BY id LIMIT ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_pending_info(struct vg_store *s, int cap, int *count, int64_t *oldest_ms)
{
	long long c = 0, oldest = 0;
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT 1 FROM events WHERE id NOT IN (SELECT id FROM inflight)"
	         " LIMIT %d)", cap);
	int rc = store_int_query(s, sql, &c);
	if (!rc && c > 0)
		rc = store_int_query(s, "SELECT received_at_ms FROM events WHERE id NOT IN (SELECT id FROM inflight)"
		                        " ORDER BY id LIMIT 1", &oldest);
	*count = (int)c;
	*oldest_ms = oldest;
	return rc;
}

int vg_store_put_internal_event(struct vg_store *s, const struct vg_store_event *ev)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	rc = store_put_event_row(s, ev);   /* the gateway's own events are never refused at the cap */
	if (rc < 0) {
		vg_store_rollback(s);
		return rc;
	}
	int c = vg_store_commit(s);
	return c ? c : rc;
}

int vg_store_reconcile(struct vg_store *s, int64_t from_ms, int64_t to_ms, vg_store_reconcile_cb cb, void *ud)
{
	/* Committed: every event stored has its key in keys (a dropped one's key
	 * goes: it is counted in drops); forwarded: forwards. */
	static const char sql[] =
		"SELECT device_id, sum(c), sum(f), sum(q), sum(d) FROM ("
		"  SELECT device_id, count(*) AS c, 0 AS f, 0 AS q, 0 AS d FROM keys"
		"   WHERE received_at_ms >= ?1 AND received_at_ms < ?2 AND device_id <> '" VG_GATEWAY_DEVICE "'"
		"   GROUP BY device_id"
		"  UNION ALL SELECT device_id, 0, sum(count), 0, 0 FROM forwards"
		"   WHERE at_ms >= ?1 AND at_ms < ?2 AND device_id <> '" VG_GATEWAY_DEVICE "' GROUP BY device_id"
		"  UNION ALL SELECT device_id, 1, 0, 1, 0 FROM quarantine"
		"   WHERE received_at_ms >= ?1 AND received_at_ms < ?2"
		"  UNION ALL SELECT device_id, count, 0, 0, 0 FROM drops"
		"   WHERE received_at_ms >= ?1 AND received_at_ms < ?2"
		"  UNION ALL SELECT device_id, 0, 0, 0, count FROM drops"
		"   WHERE dropped_at_ms >= ?1 AND dropped_at_ms < ?2"
		") GROUP BY device_id ORDER BY device_id";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, store_col(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		       sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

/* Up to limit rows of each DELETE sql[i] (bound ?1 = before[i], ?2 = limit), all
 * in one short transaction.  Returns the largest number deleted by one of them
 * (limit: call again) or an error. */
static int purge_rows(struct vg_store *s, const char *const *sql, const int64_t *before, size_t n, int limit)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	int most = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = store_exec_bound2(s, sql[i], before[i], limit);
		if (!rc && sqlite3_changes(s->db) > most)
			most = sqlite3_changes(s->db);
	}
	rc = store_end_txn(s, rc);
	return rc ? rc : most;
}

int vg_store_purge_forwarded(struct vg_store *s, int64_t before_ms, int64_t drops_before_ms, int limit)
{
	/* Keys received before before_ms, but none received after the oldest
	 * event still held (ids follow receive order): its own key and those of
	 * later events stay until it is forwarded. */
	static const char *const sql[] = {
		"DELETE FROM keys WHERE key IN (SELECT key FROM keys WHERE received_at_ms < min(?1,"
		" coalesce(" SQL_OLDEST_HELD_MS ", ?1))"
		" ORDER BY received_at_ms LIMIT ?2)",
		"DELETE FROM drops WHERE id IN (SELECT id FROM drops WHERE dropped_at_ms < ?1 LIMIT ?2)",
		"DELETE FROM forwards WHERE rowid IN (SELECT rowid FROM forwards WHERE at_ms < ?1 LIMIT ?2)",
	};
	const int64_t before[] = { before_ms, drops_before_ms, drops_before_ms };
	return purge_rows(s, sql, before, 3, limit);
}

int vg_store_purge_quarantine(struct vg_store *s, int64_t before_ms, int limit)
{
	/* Rows are numbered in receive order but for retried or moved ones: the
	 * scan from the oldest id stops after limit old rows. */
	static const char *const sql[] = {
		"DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received_at_ms < ?1"
		" ORDER BY id LIMIT ?2)",
	};
	return purge_rows(s, sql, &before_ms, 1, limit);
}

int vg_store_has_pending(struct vg_store *s, int max_priority)
{
	long long one = 0;
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT 1 FROM events WHERE priority <= %d"
	         " AND id NOT IN (SELECT id FROM inflight) LIMIT 1)",
	         max_priority);
	int rc = store_int_query(s, sql, &one);
	return rc ? rc : one > 0;
}
