/* Unit tests for store_erasure.h (and the suppression check capture makes):
 * suppress, lift, the tombstone with its notice in one transaction, the WAL
 * truncation, the erasure in slices — on real SQLite files in a temporary
 * directory. */
#include <sys/stat.h>

#include "log.h"
#include "store_erasure.h"
#include "store_fixture.h"

static int suppressed(struct vg_store *s, const char *const *tokens, size_t n)
{
	assert_int_equal(vg_store_begin(s), VG_OK);
	int rc = vg_store_suppressed(s, tokens, n);
	vg_store_rollback(s);
	return rc;
}

struct versions {
	char list[4][32];
	long long count[4];
	int n;
};

static int versions_cb(void *ud, const char *key_versions, long long count, int64_t first_ms)
{
	(void)first_ms;
	struct versions *v = ud;
	snprintf(v->list[v->n], sizeof v->list[v->n], "%s", key_versions);
	v->count[v->n++] = count;
	return 0;
}

/* Suppressed from the commit on, stored as digests (never the token), until
 * lifted. */
static void test_suppress_and_lift(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_store(f->db, 0, 100);
	const char *const person[] = { "em.AAAAAAAAAAAAAAAAAAAAAA", "ph.BBBBBBBBBBBBBBBBBBBBBB" };
	const char *const other[] = { "em.CCCCCCCCCCCCCCCCCCCCCC" };
	const char *const mixed[] = { "em.CCCCCCCCCCCCCCCCCCCCCC", "ph.BBBBBBBBBBBBBBBBBBBBBB" };
	assert_int_equal(suppressed(s, person, 2), 0);
	assert_int_equal(vg_store_suppress(s, person, 2, ",1,2,", 1000), VG_OK);
	assert_int_equal(suppressed(s, person, 1), 1);
	assert_int_equal(suppressed(s, mixed, 2), 1);      /* any of them */
	assert_int_equal(suppressed(s, other, 1), 0);
	assert_int_equal(suppressed(s, other, 0), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM suppressions"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM suppressions WHERE instr(token, 'AAAA') > 0"
	                                " OR instr(token, 'BBBB') > 0"), 0);

	/* Suppressing again records the versions it now covers; no second row. */
	assert_int_equal(vg_store_suppress(s, person, 1, ",2,", 2000), VG_OK);
	struct versions v = { .n = 0 };
	assert_int_equal(vg_store_suppression_versions(s, versions_cb, &v), VG_OK);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.list[0], ",1,2,");
	assert_int_equal(v.count[0], 1);
	assert_string_equal(v.list[1], ",2,");
	assert_int_equal(v.count[1], 1);

	long long lifted = -1;
	const char *const lift[] = { "em.AAAAAAAAAAAAAAAAAAAAAA", "em.CCCCCCCCCCCCCCCCCCCCCC" };
	assert_int_equal(vg_store_lift(s, lift, 2, &lifted), VG_OK);
	assert_int_equal(lifted, 1);   /* the other was never suppressed */
	assert_int_equal(suppressed(s, person, 1), 0);
	assert_int_equal(suppressed(s, person + 1, 1), 1);
	assert_int_equal(vg_store_lift(s, lift, 2, &lifted), VG_OK);
	assert_int_equal(lifted, 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM suppressions"), 1);
	vg_store_close(s);
}

static struct vg_store_event notice(const char *key)
{
	struct vg_store_event ev = event(key, "{\"type\":\"erasure.requested\"}");
	ev.device_id = "_gateway";
	ev.type = "erasure.requested";
	ev.priority = VG_PRIO_HIGH;
	return ev;
}

/* The tombstone and its notice: both in one transaction, or neither. */
/* With no suppression at all a transaction hashes no token (it found none
 * once); the next transaction sees one another handle wrote meanwhile. */
static void test_no_suppression_then_one_from_another_handle(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_store(f->db, 0, 100);
	struct vg_store *forget = open_store(f->db, 0, 100);
	const char *const person[] = { "em.AAAAAAAAAAAAAAAAAAAAAA" };
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_suppressed(s, person, 1), 0);
	assert_int_equal(vg_store_suppressed(s, person, 1), 0);
	vg_store_rollback(s);
	assert_int_equal(vg_store_suppress(forget, person, 1, ",1,", 1000), VG_OK);
	assert_int_equal(suppressed(s, person, 1), 1);
	/* Outside a transaction it asks every time. */
	assert_int_equal(vg_store_suppressed(s, person, 1), 1);
	vg_store_close(forget);
	vg_store_close(s);
}

static void test_tombstone_with_notice(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_store(f->db, 0, 100);
	struct vg_store_event n1 = notice("n1xxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(vg_store_tombstone(s, "tomb.a", 1000, 7, &n1), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM tombstones WHERE digest = 'tomb.a' AND rows_purged = 7"
	                                " AND created_at_ms = 1000"), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE event_key = 'n1xxxxxxxxxxxxxxxxxxxx'"
	                                " AND priority = 0 AND id NOT IN (SELECT id FROM inflight) AND device_id = '_gateway'"), 1);
	/* A notice already queued counts as queued. */
	assert_int_equal(vg_store_tombstone(s, "tomb.b", 2000, 0, &n1), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM tombstones"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);
	/* Without a notice: the tombstone alone. */
	assert_int_equal(vg_store_tombstone(s, "tomb.c", 3000, 1, NULL), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM tombstones"), 3);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);

	/* The notice cannot be stored: no tombstone either, and errmsg says why. */
	raw_exec(f->db, "CREATE TRIGGER no_notice BEFORE INSERT ON events WHEN NEW.type = 'erasure.requested'"
	                " BEGIN SELECT RAISE(ABORT, 'notice refused'); END");
	struct vg_store_event n2 = notice("n2xxxxxxxxxxxxxxxxxxxx");
	assert_true(vg_store_tombstone(s, "tomb.d", 4000, 3, &n2) < 0);
	assert_non_null(strstr(vg_store_errmsg(s), "notice refused"));
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM tombstones WHERE digest = 'tomb.d'"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);
	/* The handle is usable again: the next transaction commits. */
	raw_exec(f->db, "DROP TRIGGER no_notice");
	assert_int_equal(vg_store_tombstone(s, "tomb.d", 5000, 3, &n2), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM tombstones WHERE digest = 'tomb.d'"), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 2);
	vg_store_close(s);
}

static long long wal_bytes(const char *db)
{
	char p[160];
	snprintf(p, sizeof p, "%s-wal", db);
	struct stat sb;
	return stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* The WAL is copied and truncated to zero bytes; a reader that keeps an old
 * snapshot keeps it from completing (VG_ERR_BUSY), never waited for. */
static void test_checkpoint_truncate(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 100);
	assert_int_equal(put_at(s, "a", "pos-1", VG_PRIO_NORMAL, 1000, "{\"x\":1}"), VG_STORE_STORED);
	assert_true(wal_bytes(f->db) > 0);
	assert_int_equal(vg_store_checkpoint_truncate(s, 0), VG_OK);
	assert_int_equal(wal_bytes(f->db), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);   /* copied, not lost */

	/* A reader holding a snapshot that needs the WAL. */
	assert_int_equal(put_at(s, "b", "pos-1", VG_PRIO_NORMAL, 2000, "{\"x\":2}"), VG_STORE_STORED);
	sqlite3 *reader = raw_open(f->db);
	assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM events;", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(put_at(s, "c", "pos-1", VG_PRIO_NORMAL, 3000, "{\"x\":3}"), VG_STORE_STORED);
	assert_int_equal(vg_store_checkpoint_truncate(s, 0), VG_ERR_BUSY);
	assert_true(wal_bytes(f->db) > 0);
	assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(reader);
	assert_int_equal(vg_store_checkpoint_truncate(s, 1000), VG_OK);
	assert_int_equal(wal_bytes(f->db), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 3);
	vg_store_close(s);
}

static int collect_versions(void *ud, const char *versions, long long count, int64_t first_ms)
{
	(void)first_ms;
	char *out = ud;
	size_t len = strlen(out);
	snprintf(out + len, 256 - len, "%s=%lld;", versions, count);
	return 0;
}

/* Erasure in short steps: the suppression alone first, then slices by row id
 * that delete only the person's pending or in-batch rows (forwarded keys and
 * other people's rows stay), in events and quarantine; a tombstone last. */
static void test_erase_in_slices(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	char key[32], body[128];
	assert_int_equal(vg_store_begin(s), VG_OK);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "K%021d", i);
		snprintf(body, sizeof body, "{\"person\":{\"email\":\"%s\"},\"n\":%d}",
		         i % 100 == 7 ? "v1.em.ANA" : i % 100 == 8 ? "v2.em.ANA" : "v1.em.BOB", i);
		struct vg_store_event ev = event(key, body);
		assert_int_equal(vg_store_put_event(s, &ev), VG_OK);
	}
	struct vg_store_quarantine q = { .received_at_ms = 1, .device_id = "pos-1", .reason = "contract",
	                                 .body = "{\"person\":{\"email\":\"v2.em.ANA\"}}", .body_len = 32 };
	assert_int_equal(vg_store_put_quarantine(s, &q), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	const char *const toks[] = { "v1.em.ANA", "v2.em.ANA" };
	assert_int_equal(vg_store_suppress(s, toks, 2, ",1,2,", 50), VG_OK);
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_suppressed(s, toks + 1, 1), 1);
	vg_store_rollback(s);
	/* The suppression holds digests, never the tokens. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM suppressions WHERE instr(token, 'ANA') > 0"), 0);
	char versions[256] = "";
	assert_int_equal(vg_store_suppression_versions(s, collect_versions, versions), VG_OK);
	assert_string_equal(versions, ",1,2,=2;");

	long long ev_max, q_max, scanned = 0, deleted = 0, sc, de;
	assert_int_equal(vg_store_max_ids(s, &ev_max, &q_max), VG_OK);
	for (long long from = 0; from < ev_max; from += 64) {
		assert_int_equal(vg_store_erase_slice(s, VG_STORE_TABLE_EVENTS, toks, 2, from, from + 64, &sc, &de), VG_OK);
		assert_true(sc <= 64);
		scanned += sc;
		deleted += de;
	}
	assert_int_equal(scanned, 1000);
	assert_int_equal(deleted, 20);
	assert_int_equal(vg_store_erase_slice(s, VG_STORE_TABLE_QUARANTINE, toks, 2, 0, q_max, &sc, &de), VG_OK);
	assert_int_equal(de, 1);
	assert_int_equal(vg_store_tombstone(s, "tomb.x", 60, deleted + de, NULL), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE instr(body, 'ANA') > 0"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 980);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 0);
	assert_int_equal(raw_int(f->db, "SELECT rows_purged FROM tombstones"), 21);
	/* An empty range and too many needles. */
	assert_int_equal(vg_store_erase_slice(s, VG_STORE_TABLE_EVENTS, toks, 2, 5, 5, &sc, &de), VG_OK);
	assert_int_equal(sc, 0);
	assert_int_equal(vg_store_erase_slice(s, VG_STORE_TABLE_EVENTS, toks, VG_STORE_ERASE_MATCH_MAX + 1, 0, 10,
	                                      &sc, &de), VG_ERR_INVAL);
	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;   /* no "schema 0 -> 1" per test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_erase_in_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suppress_and_lift, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_suppression_then_one_from_another_handle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tombstone_with_notice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_truncate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
