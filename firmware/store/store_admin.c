#include "store_admin.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "schema.h"

/* ---- quarantine show and retry, diag (venuegw quarantine, venuegw diag) ----- */

static const char q_cols[] =
	"SELECT id, received_at_ms, device_id, topic, size, reason, field, detail, error_offset,"
	" digest, event_key, state, body FROM quarantine";

/* Step st (a q_cols query) and hand each row to cb. */
static int quarantine_rows(sqlite3_stmt *st, vg_store_quarantine_cb cb, void *ud, int *seen)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vg_store_quarantine q = {
			.received_at_ms = sqlite3_column_int64(st, 1),
			.device_id = store_col(st, 2),
			.topic = store_col(st, 3),
			.size = (size_t)sqlite3_column_int64(st, 4),
			.reason = store_col(st, 5),
			.field = store_col(st, 6),
			.detail = store_col(st, 7),
			.error_offset = (long)sqlite3_column_int64(st, 8),
			.digest = store_col(st, 9),
			.event_key = store_col(st, 10),
			.body = (const char *)sqlite3_column_text(st, 12),
			.body_len = (size_t)sqlite3_column_bytes(st, 12),
		};
		if (seen)
			(*seen)++;
		if (cb(ud, sqlite3_column_int64(st, 0), &q, store_col(st, 11)))
			return VG_OK;
	}
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_quarantine_select(struct vg_store *s, const struct vg_store_quarantine_filter *f,
                               vg_store_quarantine_cb cb, void *ud)
{
	char sql[400];
	snprintf(sql, sizeof sql, "%s WHERE (?1 IS NULL OR reason = ?1) AND (?2 IS NULL OR device_id = ?2)"
	         " AND (?3 IS NULL OR state = ?3) AND id > ?5 ORDER BY id %s LIMIT ?4", q_cols,
	         f->oldest_first ? "ASC" : "DESC");
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	if (f->reason)
		sqlite3_bind_text(st, 1, f->reason, -1, SQLITE_STATIC);
	if (f->device_id)
		sqlite3_bind_text(st, 2, f->device_id, -1, SQLITE_STATIC);
	if (f->state)
		sqlite3_bind_text(st, 3, f->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, f->limit > 0 ? f->limit : -1);
	sqlite3_bind_int64(st, 5, f->after_id);
	rc = quarantine_rows(st, cb, ud, NULL);
	sqlite3_finalize(st);
	return rc;
}

int vg_store_quarantine_each(struct vg_store *s, int limit, vg_store_quarantine_cb cb, void *ud)
{
	struct vg_store_quarantine_filter f = { .limit = limit };
	return vg_store_quarantine_select(s, &f, cb, ud);
}

int vg_store_quarantine_get(struct vg_store *s, long long id, vg_store_quarantine_cb cb, void *ud)
{
	char sql[300];
	snprintf(sql, sizeof sql, "%s WHERE id = ?1", q_cols);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, id);
	int seen = 0;
	rc = quarantine_rows(st, cb, ud, &seen);
	sqlite3_finalize(st);
	return rc ? rc : seen ? VG_OK : VG_ERR_NOTFOUND;
}

int vg_store_quarantine_remove(struct vg_store *s, long long id)
{
	int rc = store_exec_bound2(s, "DELETE FROM quarantine WHERE id = ?1", id, 0);
	if (rc)
		return rc;
	return sqlite3_changes(s->db) ? VG_OK : VG_ERR_NOTFOUND;
}

int vg_store_quarantine_set_reason(struct vg_store *s, long long id, const char *reason, const char *field,
                                   const char *detail, long error_offset)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "UPDATE quarantine SET reason = ?2, field = ?3, detail = ?4,"
	                            " error_offset = ?5 WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field ? field : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, error_offset);
	rc = store_run(st);
	sqlite3_finalize(st);
	if (rc)
		return rc;
	return sqlite3_changes(s->db) ? VG_OK : VG_ERR_NOTFOUND;
}

const char *vg_store_sqlite_version(void)
{
	return sqlite3_libversion();
}

int vg_store_file_stats(struct vg_store *s, struct vg_store_file_stats *fs)
{
	memset(fs, 0, sizeof *fs);
	int rc = store_int_query(s, "PRAGMA page_size", &fs->page_size);
	if (!rc)
		rc = store_int_query(s, "PRAGMA page_count", &fs->page_count);
	if (!rc)
		rc = store_int_query(s, "PRAGMA freelist_count", &fs->freelist_count);
	if (!rc)
		rc = store_int_query(s, "PRAGMA user_version", &fs->schema_version);
	sqlite3_stmt *st;
	if (!rc && (rc = store_map_rc(sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL))) == VG_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(fs->journal_mode, sizeof fs->journal_mode, "%s", store_col(st, 0));
		sqlite3_finalize(st);
	}
	return rc;
}

int vg_store_quick_check(struct vg_store *s, char *out, size_t outsz)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(20)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	size_t used = 0;
	out[0] = '\0';
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && used + 1 < outsz) {
		int n = snprintf(out + used, outsz - used, "%s%s", used ? "\n" : "", store_col(st, 0));
		used += n > 0 ? (size_t)n : 0;
		if (used >= outsz)
			used = outsz - 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VG_OK : store_map_rc(rc);
}

/* The row st is on into r, by the columns of its group's query below. */
static void group_row(sqlite3_stmt *st, struct vg_store_group_row *r)
{
	switch (r->group) {
	case VG_STORE_GROUP_EVENTS:
		r->events.device_id = store_col(st, 0);
		r->events.type = store_col(st, 1);
		r->events.state = store_col(st, 2);
		r->events.count = sqlite3_column_int64(st, 3);
		r->events.oldest_ms = sqlite3_column_int64(st, 4);
		r->events.newest_ms = sqlite3_column_int64(st, 5);
		break;
	case VG_STORE_GROUP_QUARANTINE:
		r->quarantine.device_id = store_col(st, 0);
		r->quarantine.reason = store_col(st, 1);
		r->quarantine.state = store_col(st, 2);
		r->quarantine.count = sqlite3_column_int64(st, 3);
		r->quarantine.oldest_ms = sqlite3_column_int64(st, 4);
		r->quarantine.newest_ms = sqlite3_column_int64(st, 5);
		break;
	case VG_STORE_GROUP_OVERFLOW:
		r->overflow.device_id = store_col(st, 0);
		r->overflow.reason = store_col(st, 1);
		r->overflow.count = sqlite3_column_int64(st, 2);
		r->overflow.first_ms = sqlite3_column_int64(st, 3);
		r->overflow.last_ms = sqlite3_column_int64(st, 4);
		break;
	case VG_STORE_GROUP_BATCHES:
		r->batch.id = sqlite3_column_int64(st, 0);
		r->batch.has_status = sqlite3_column_type(st, 1) != SQLITE_NULL;
		r->batch.last_status = sqlite3_column_int(st, 1);
		r->batch.attempts = sqlite3_column_int64(st, 2);
		r->batch.events = sqlite3_column_int64(st, 3);
		r->batch.created_ms = sqlite3_column_int64(st, 4);
		r->batch.next_attempt_ms = sqlite3_column_int64(st, 5);
		break;
	case VG_STORE_GROUP_DEVICES:
		r->device.device_id = store_col(st, 0);
		r->device.has_last_seq = sqlite3_column_type(st, 1) != SQLITE_NULL;
		r->device.last_seq = sqlite3_column_int64(st, 1);
		r->device.serial_epoch = sqlite3_column_int64(st, 2);
		r->device.serial_seq = sqlite3_column_int64(st, 3);
		r->device.last_seen_ms = sqlite3_column_int64(st, 4);
		break;
	case VG_STORE_GROUP_TOMBSTONES:
		r->erasure.tombstones = sqlite3_column_int64(st, 0);
		r->erasure.first_ms = sqlite3_column_int64(st, 1);
		r->erasure.last_ms = sqlite3_column_int64(st, 2);
		r->erasure.suppressions = sqlite3_column_int64(st, 3);
		break;
	}
}

int vg_store_group_counts(struct vg_store *s, enum vg_store_group g, vg_store_group_cb cb, void *ud)
{
	static const char *const sql[] = {
		[VG_STORE_GROUP_EVENTS] =
			"SELECT device_id, type, st, count(*), min(received_at_ms), max(received_at_ms) FROM"
			" (SELECT device_id, type, received_at_ms, CASE WHEN id IN (SELECT id FROM inflight) THEN 'inflight'"
			"  ELSE 'pending' END AS st FROM events)"
			" GROUP BY device_id, type, st ORDER BY device_id, type, st DESC",   /* pending, then inflight */
		[VG_STORE_GROUP_QUARANTINE] =
			"SELECT device_id, reason, state, count(*), min(received_at_ms), max(received_at_ms)"
			" FROM quarantine GROUP BY device_id, reason, state ORDER BY device_id, reason, state",
		[VG_STORE_GROUP_OVERFLOW] =
			"SELECT device_id, reason, count, first_ms, last_ms FROM quarantine_overflow"
			" ORDER BY device_id, reason",
		[VG_STORE_GROUP_BATCHES] =
			"SELECT id, last_status, attempts,"
			" (SELECT count(*) FROM inflight WHERE batch_id = batches.id), created_at_ms,"
			" next_attempt_ms FROM batches ORDER BY id",
		[VG_STORE_GROUP_DEVICES] =
			"SELECT device_id, last_seq, serial_epoch, serial_seq, coalesce(last_seen_ms, 0)"
			" FROM device_state ORDER BY device_id",
		[VG_STORE_GROUP_TOMBSTONES] =
			"SELECT count(*), coalesce(min(created_at_ms), 0), coalesce(max(created_at_ms), 0),"
			" (SELECT count(*) FROM suppressions) FROM tombstones",
	};
	if ((unsigned)g >= sizeof sql / sizeof sql[0])
		return VG_ERR_INVAL;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql[g], -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vg_store_group_row r = { .group = g };
		group_row(st, &r);
		if (cb(ud, &r)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}
