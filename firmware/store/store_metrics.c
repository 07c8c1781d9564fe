#include "store_metrics.h"

#include <sqlite3.h>

#include "err.h"
#include "schema.h"

int vg_store_used_bytes(struct vg_store *s, long long *used)
{
	return store_used_bytes(s, used);
}

int vg_store_drops_after(struct vg_store *s, long long after_id, vg_store_drops_cb cb, void *ud,
                         long long *last_id)
{
	static const char sql[] =
		"SELECT device_id, type, sum(count), max(id) FROM drops WHERE id > ?1"
		" GROUP BY device_id, type ORDER BY device_id, type";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	*last_id = after_id;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long max = sqlite3_column_int64(st, 3);
		if (max > *last_id)
			*last_id = max;
		cb(ud, store_col(st, 0), store_col(st, 1), sqlite3_column_int64(st, 2));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_events_after(struct vg_store *s, long long after_id, int limit, vg_store_new_event_cb cb, void *ud)
{
	/* A person identifier (the CDP's identity) is any of these person fields;
	 * payment_customer_id never is.  A body that is not JSON: -1.  Rows are
	 * read before the forwarder takes them (vg_forwarder_observe). */
	static const char sql[] =
		"SELECT id, device_id, type, received_at_ms,"
		" CASE WHEN json_valid(body) THEN json_extract(body, '$.seq') END,"
		" CASE WHEN body IS NULL OR NOT json_valid(body) THEN -1"
		"  WHEN EXISTS (SELECT 1 FROM json_each(body, '$.person') WHERE key IN"
		"   ('customer_id', 'email', 'phone', 'loyalty_id', 'member_code')"
		"   AND type = 'text' AND value <> '') THEN 1 ELSE 0 END"
		" FROM events WHERE id > ?1 ORDER BY id LIMIT ?2";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vg_store_new_event e = {
			.id = sqlite3_column_int64(st, 0),
			.device_id = store_col(st, 1),
			.type = store_col(st, 2),
			.received_at_ms = sqlite3_column_int64(st, 3),
			.has_seq = sqlite3_column_type(st, 4) == SQLITE_INTEGER,
			.seq = sqlite3_column_int64(st, 4),
			.identified = sqlite3_column_int(st, 5),
		};
		if (cb(ud, &e)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_quarantine_after(struct vg_store *s, long long after_id, int limit,
                              vg_store_new_quarantine_cb cb, void *ud)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id, device_id, reason, received_at_ms FROM quarantine"
	                            " WHERE id > ?1 ORDER BY id LIMIT ?2", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, sqlite3_column_int64(st, 0), store_col(st, 1), store_col(st, 2), sqlite3_column_int64(st, 3))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_overflow_each(struct vg_store *s, vg_store_overflow_cb cb, void *ud)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT device_id, reason, count FROM quarantine_overflow"
	                            " ORDER BY device_id, reason", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, store_col(st, 0), store_col(st, 1), sqlite3_column_int64(st, 2))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_oldest_unforwarded(struct vg_store *s, int64_t *oldest_ms)
{
	/* The first pending row by id (rows are numbered in commit order; the
	 * few in a batch are passed over), and the rows of the batches. */
	long long v = 0;
	int rc = store_int_query(s, "SELECT coalesce(min(t), 0) FROM ("
	                         " SELECT (SELECT received_at_ms FROM events WHERE id NOT IN (SELECT id FROM inflight)"
	                         "  ORDER BY id LIMIT 1) AS t"
	                         " UNION ALL SELECT min(received_at_ms) FROM events WHERE id IN (SELECT id FROM inflight))",
	                         &v);
	*oldest_ms = rc ? 0 : v;
	return rc;
}

/* Step st (device_id, max receive time, count[, next]) into cb; *next_ms from
 * column 3 when next_ms is not NULL. */
static int report_devices(sqlite3_stmt *st, vg_store_device_cb cb, void *ud, int64_t *next_ms)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (next_ms)
			*next_ms = sqlite3_column_int64(st, 3);
		if (cb(ud, store_col(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_devices(struct vg_store *s, int64_t from_ms, int64_t to_ms, vg_store_device_cb cb, void *ud)
{
	/* keys_received covers it: a range of the index, no table row read. */
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT device_id, max(received_at_ms), count(*) FROM keys"
	                            " WHERE received_at_ms >= ?1 AND received_at_ms < ?2 GROUP BY device_id"
	                            " ORDER BY device_id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	return report_devices(st, cb, ud, NULL);
}

int vg_store_devices_before(struct vg_store *s, int64_t before_ms, int limit, vg_store_device_cb cb, void *ud,
                            int64_t *next_ms)
{
	*next_ms = 0;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT device_id, max(received_at_ms), count(*),"
	                            " (SELECT min(received_at_ms) FROM (SELECT received_at_ms FROM keys"
	                            "  WHERE received_at_ms < ?1 ORDER BY received_at_ms DESC LIMIT ?2))"
	                            " FROM (SELECT device_id, received_at_ms FROM keys WHERE received_at_ms < ?1"
	                            "  ORDER BY received_at_ms DESC LIMIT ?2)"
	                            " GROUP BY device_id ORDER BY device_id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, before_ms);
	sqlite3_bind_int(st, 2, limit);
	return report_devices(st, cb, ud, next_ms);
}

int vg_store_undeclared_each(struct vg_store *s, vg_store_undeclared_cb cb, void *ud)
{
	long long version = 0;
	int rc = store_int_query(s, "PRAGMA user_version", &version);
	if (rc || version < 3)
		return rc; /* not migrated yet: nothing counted */
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(s->db, "SELECT device_id, type, path, count, last_ms FROM undeclared"
	                        " ORDER BY device_id, type, path", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, store_col(st, 0), store_col(st, 1), store_col(st, 2), sqlite3_column_int64(st, 3),
		       sqlite3_column_int64(st, 4))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}
