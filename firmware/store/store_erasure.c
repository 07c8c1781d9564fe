#include "store_erasure.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "digest.h"
#include "err.h"
#include "schema.h"

#define VG_SUPPRESSION_KEY_LEN 27 /* "sup." + 22 + NUL */

/* ---- erasure ---------------------------------------------------------------- */

/* Suppressions hold a digest of the identity token, not the token: the
 * person's tokens must not stay in buffer.db after erasure. */
static void suppression_key(const char *token, char out[VG_SUPPRESSION_KEY_LEN])
{
	struct vg_lphash h;
	uint8_t d[32];
	vg_lphash_start(&h);
	vg_lphash_add_str(&h, "venuegw-suppression-v1");
	vg_lphash_add_str(&h, token);
	vg_lphash_finish(&h, d);
	memcpy(out, "sup.", 4);
	vg_b64url(d, 16, out + 4);
}

int vg_store_suppressed(struct vg_store *s, const char *const *tokens, size_t n)
{
	if (!n)
		return 0;
	/* Most gateways hold no suppression: then no token need be hashed.  What
	 * a transaction found stays true in it (its snapshot), until it writes one. */
	if (s->in_txn && s->sup_none_txn == s->txn_no)
		return 0;
	if (s->in_txn) {
		sqlite3_stmt *any = store_stmt(s, ST_SUPPRESSIONS_ANY);
		if (!any)
			return VG_ERR_IO;
		int rc = sqlite3_step(any);
		int none = rc == SQLITE_ROW && sqlite3_column_int(any, 0) == 0;
		sqlite3_reset(any);
		if (rc != SQLITE_ROW)
			return store_map_rc(rc);
		if (none) {
			s->sup_none_txn = s->txn_no;
			return 0;
		}
	}
	sqlite3_stmt *st = store_stmt(s, ST_SUPPRESSED);
	if (!st)
		return VG_ERR_IO;
	for (size_t i = 0; i < n; i++) {
		char k[VG_SUPPRESSION_KEY_LEN];
		suppression_key(tokens[i], k);
		sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW)
			return 1;
		if (rc != SQLITE_DONE)
			return store_map_rc(rc);
	}
	return 0;
}

int vg_store_suppress(struct vg_store *s, const char *const *tokens, size_t n, const char *key_versions,
                      int64_t now_ms)
{
	s->sup_none_txn = 0;
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	rc = store_map_rc(sqlite3_prepare_v2(s->db, "INSERT INTO suppressions(token, created_at_ms, key_versions)"
	                                     " VALUES (?1, ?2, ?3) ON CONFLICT(token) DO UPDATE SET"
	                                     " key_versions = excluded.key_versions", -1, &st, NULL));
	for (size_t i = 0; i < n && !rc; i++) {
		char k[VG_SUPPRESSION_KEY_LEN];
		suppression_key(tokens[i], k);
		sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_text(st, 3, key_versions ? key_versions : "", -1, SQLITE_STATIC);
		rc = store_run(st);
	}
	sqlite3_finalize(st);
	return store_end_txn(s, rc);
}

/* "(instr(body, ?3) > 0 OR instr(body, ?4) > 0 …)" for n needles. */
static void match_clause(char *out, size_t outsz, size_t n)
{
	size_t len = (size_t)snprintf(out, outsz, "(");
	for (size_t i = 0; i < n && len < outsz; i++)
		len += (size_t)snprintf(out + len, outsz - len, "%sinstr(body, ?%zu) > 0", i ? " OR " : "", i + 3);
	if (len < outsz)
		snprintf(out + len, outsz - len, ")");
}

int vg_store_erase_slice(struct vg_store *s, enum vg_store_table table, const char *const *match,
                         size_t nmatch, long long after_id, long long to_id, long long *scanned,
                         long long *deleted)
{
	*scanned = *deleted = 0;
	if (nmatch == 0 || nmatch > VG_STORE_ERASE_MATCH_MAX || to_id <= after_id)
		return nmatch > VG_STORE_ERASE_MATCH_MAX ? VG_ERR_INVAL : VG_OK;
	const char *name = table == VG_STORE_TABLE_QUARANTINE ? "quarantine" : "events";
	char where[1200], sql[1400];
	match_clause(where, sizeof where, nmatch);
	long long ids[VG_STORE_ERASE_SLICE_MAX];
	size_t nids = 0;

	/* 1. Read, outside any write transaction: in WAL mode this takes no lock
	 *    a writer waits for, however long it runs. */
	snprintf(sql, sizeof sql, "SELECT id, body IS NOT NULL AND %s FROM %s WHERE id > ?1 AND id <= ?2",
	         where, name);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, to_id);
	for (size_t i = 0; i < nmatch; i++)
		sqlite3_bind_text(st, (int)i + 3, match[i], -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		(*scanned)++;
		if (sqlite3_column_int(st, 1) && nids < VG_STORE_ERASE_SLICE_MAX)
			ids[nids++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_map_rc(rc);
	if (nids == 0)
		return VG_OK;

	/* 2. Delete what matched in one short write transaction, matching again:
	 *    a row may have been forwarded (its body cleared) or moved meanwhile. */
	snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?1 AND body IS NOT NULL AND %s", name, where);
	if ((rc = vg_store_begin(s)))
		return rc;
	rc = store_map_rc(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL));
	for (size_t i = 0; !rc && i < nmatch; i++)
		sqlite3_bind_text(st, (int)i + 3, match[i], -1, SQLITE_STATIC);
	long long n = 0;
	for (size_t i = 0; !rc && i < nids; i++) {
		sqlite3_bind_int64(st, 1, ids[i]);
		rc = sqlite3_step(st) == SQLITE_DONE ? VG_OK : store_map_rc(sqlite3_errcode(s->db));
		sqlite3_reset(st);
		if (!rc)
			n += sqlite3_changes(s->db);
	}
	sqlite3_finalize(st);
	/* An erased event in a batch leaves it: the batch is sent without it. */
	if (!rc && n && table != VG_STORE_TABLE_QUARANTINE)
		rc = store_exec(s, "DELETE FROM inflight WHERE id NOT IN (SELECT id FROM events)");
	if ((rc = store_end_txn(s, rc)))
		return rc;
	*deleted = n;
	return VG_OK;
}

int vg_store_tombstone(struct vg_store *s, const char *digest, int64_t now_ms, long long rows,
                       const struct vg_store_event *notice)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = store_map_rc(sqlite3_prepare_v2(s->db, "INSERT INTO tombstones(digest, created_at_ms, rows_purged)"
	                                     " VALUES (?1, ?2, ?3)", -1, &st, NULL));
	if (!rc) {
		sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_int64(st, 3, rows);
		rc = store_run(st);
		sqlite3_finalize(st);
	}
	if (!rc && notice && (rc = store_put_event_row(s, notice)) == VG_STORE_DUPLICATE)
		rc = VG_OK;   /* queued already: the key is the notice's identity */
	return store_end_txn(s, rc);
}

int vg_store_suppression_versions(struct vg_store *s, vg_store_versions_cb cb, void *ud)
{
	/* A file the daemon has not migrated yet (status after an upgrade) records no versions. */
	long long version = 0;
	int rc = store_int_query(s, "PRAGMA user_version", &version);
	if (rc || version < 3)
		return rc;
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(s->db, "SELECT key_versions, count(*), min(created_at_ms) FROM suppressions"
	                            " GROUP BY key_versions ORDER BY key_versions", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(ud, store_col(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2))) {
			rc = SQLITE_DONE;
			break;
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

int vg_store_lift(struct vg_store *s, const char *const *tokens, size_t n, long long *lifted)
{
	*lifted = 0;
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = store_map_rc(sqlite3_prepare_v2(s->db, "DELETE FROM suppressions WHERE token = ?1", -1, &st, NULL));
	for (size_t i = 0; i < n && !rc; i++) {
		char k[VG_SUPPRESSION_KEY_LEN];
		suppression_key(tokens[i], k);
		sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
		rc = store_run(st);
		*lifted += sqlite3_changes(s->db);
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = vg_store_commit(s);
	else
		vg_store_rollback(s);
	if (rc)
		*lifted = 0;   /* rolled back: nothing lifted */
	return rc;
}
