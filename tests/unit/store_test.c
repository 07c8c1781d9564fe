/* Unit tests for store.h: buffer.db on real SQLite files in a temporary
 * directory — creation and migration, the capture opener's schema check,
 * transactions, counts, locking between the daemon and the plugin,
 * checkpoints (DESIGN.md §6).  Each consumer's calls are tested in
 * store_<consumer>_test.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "contract.h"
#include "err.h"
#include "log.h"
#include "store_capture.h"
#include "store_forward.h"

#define STR(x) #x
#define XSTR(x) STR(x)

#include "store_fixture.h"

/* ---- opening ------------------------------------------------------------ */

static void test_owner_creates_and_migrates(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	struct stat sb;
	assert_int_equal(stat(f->db, &sb), 0);

	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), VG_STORE_SCHEMA);
	char mode[16];
	raw_text(f->db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	static const char *const tables[] = { "events", "batches", "quarantine",
	                                      "quarantine_overflow", "device_state",
	                                      "tombstones", "suppressions" };
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
		         tables[i]);
		if (raw_int(f->db, sql) != 1)
			fail_msg("table %s missing", tables[i]);
	}

	struct vg_store_counts c;
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.pending + c.inflight + c.forwarded, 0);
	assert_int_equal(c.quarantine_held + c.quarantine_metadata + c.quarantine_overflow, 0);
	assert_int_equal(vg_store_has_pending(s, 2), 0);
	vg_store_close(s);

	/* Opening again: nothing to migrate, the data stays. */
	s = open_store(f->db, 1, 0);
	assert_int_equal(vg_store_begin(s), VG_OK);
	struct vg_store_event ev = event("AAAAAAAAAAAAAAAAAAAAAA", "{}");
	assert_int_equal(vg_store_put_event(s, &ev), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	vg_store_close(s);
	s = open_store(f->db, 1, 0);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), VG_STORE_SCHEMA);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);
	assert_int_equal(vg_store_has_pending(s, 2), 1);
	vg_store_close(s);

	vg_store_close(NULL);
	assert_string_equal(vg_store_errmsg(NULL), "no database");
}

static void test_capture_missing_file(void **state)
{
	struct fixture *f = *state;
	struct vg_store_cfg cfg = { .path = f->db, .owner = 0, .busy_timeout_ms = 50 };
	struct vg_store *s = (struct vg_store *)1;
	char err[512] = "";
	assert_int_equal(vg_store_open(&s, &cfg, err, sizeof(err)), VG_ERR_IO);
	assert_null(s);
	assert_non_null(strstr(err, f->db));
	/* Capture never creates the file. */
	struct stat sb;
	assert_int_equal(stat(f->db, &sb), -1);

	/* The owner cannot create a file in a directory that does not exist. */
	char path[160];
	snprintf(path, sizeof(path), "%s/no/such/dir/buffer.db", f->dir);
	cfg.path = path;
	cfg.owner = 1;
	s = (struct vg_store *)1;
	assert_int_equal(vg_store_open(&s, &cfg, err, sizeof(err)), VG_ERR_IO);
	assert_null(s);
}

static void test_capture_stores(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_store(f->db, 0, 50);
	assert_int_equal(vg_store_begin(s), VG_OK);
	struct vg_store_event ev = event("BBBBBBBBBBBBBBBBBBBBBB", "{\"type\":\"checkin.scanned\"}");
	assert_int_equal(vg_store_put_event(s, &ev), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	vg_store_close(s);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE id NOT IN (SELECT id FROM inflight)"), 1);
	/* Capture does not migrate. */
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), VG_STORE_SCHEMA);
}

static void test_capture_schema_mismatch(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	raw_exec(f->db, "PRAGMA user_version = 99");

	struct vg_store *s = open_store(f->db, 0, 50);
	assert_int_equal(vg_store_begin(s), VG_ERR_SCHEMA);
	/* No transaction was left open: a second begin says the same (not
	 * "cannot start a transaction within a transaction"), and another
	 * connection can take the write lock at once. */
	assert_int_equal(vg_store_begin(s), VG_ERR_SCHEMA);
	sqlite3 *db = raw_open(f->db);
	sqlite3_busy_timeout(db, 0);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);

	/* Back to the version it was built for: it stores again. */
	raw_exec(f->db, "PRAGMA user_version = " XSTR(VG_STORE_SCHEMA));
	assert_int_equal(vg_store_begin(s), VG_OK);
	vg_store_rollback(s);
	/* An older one (0: never migrated) is refused too. */
	raw_exec(f->db, "PRAGMA user_version = 0");
	assert_int_equal(vg_store_begin(s), VG_ERR_SCHEMA);
	assert_int_equal(vg_store_check_schema(s), VG_ERR_SCHEMA);
	raw_exec(f->db, "PRAGMA user_version = " XSTR(VG_STORE_SCHEMA));
	/* The check alone is a read: it answers while another connection holds
	 * the write lock (the daemon's move), where a begin would wait and fail. */
	sqlite3 *w = raw_open(f->db);
	assert_int_equal(sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(vg_store_begin(s), VG_ERR_BUSY);
	assert_int_equal(vg_store_check_schema(s), VG_OK);
	assert_int_equal(sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(w);
	vg_store_close(s);
}

static void test_owner_newer_schema(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	raw_exec(f->db, "PRAGMA user_version = 99");
	struct vg_store_cfg cfg = { .path = f->db, .owner = 1, .durability_full = 1 };
	struct vg_store *s = (struct vg_store *)1;
	char err[512] = "";
	assert_int_equal(vg_store_open(&s, &cfg, err, sizeof(err)), VG_ERR_SCHEMA);
	assert_null(s);
	assert_non_null(strstr(err, "99"));
	assert_non_null(strstr(err, "newer"));
	/* Left as it was. */
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 99);
}

/* ---- transactions ---------------------------------------------------------- */


static void test_rollback_discards(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	struct vg_store_event a = event("CCCCCCCCCCCCCCCCCCCCCC", "{}");
	struct vg_store_quarantine q = { .received_at_ms = 1, .device_id = "pos-1", .topic = "t",
	                                 .size = 3, .reason = "bad_json", .error_offset = 2,
	                                 .digest = "d", .event_key = "" };
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_event(s, &a), VG_OK);
	assert_int_equal(vg_store_put_quarantine(s, &q), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-1", "bad_json", 1), VG_OK);
	vg_store_rollback(s);

	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.pending, 0);
	assert_int_equal(c.quarantine_metadata, 0);
	assert_int_equal(c.quarantine_overflow, 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);

	/* The key is free again: not a duplicate. */
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_event(s, &a), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);

	/* Closing with a transaction open rolls it back. */
	struct vg_store_event b = event("DDDDDDDDDDDDDDDDDDDDDD", "{}");
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_event(s, &b), VG_OK);
	vg_store_close(s);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);
}

/* ---- counts across the states ---------------------------------------------- */

static void test_counts(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	static const char *const keys[] = { "k000000000000000000000", "k111111111111111111111",
	                                    "k222222222222222222222", "k333333333333333333333" };
	assert_int_equal(vg_store_begin(s), VG_OK);
	for (int i = 0; i < 4; i++) {
		struct vg_store_event ev = event(keys[i], "{}");
		assert_int_equal(vg_store_put_event(s, &ev), VG_OK);
	}
	assert_int_equal(vg_store_commit(s), VG_OK);

	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.pending, 4);
	assert_int_equal(c.inflight, 0);
	assert_int_equal(c.forwarded, 0);

	int taken = 0;
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 3, 2, 5000, take_all, &taken, &batch), VG_OK);
	assert_int_equal(taken, 3);
	assert_true(batch > 0);
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.inflight, 3);
	assert_int_equal(c.forwarded, 0);

	assert_int_equal(vg_store_batch_done(s, batch, 6000), VG_OK);
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.inflight, 0);
	assert_int_equal(c.forwarded, 3);

	/* A forwarded key is still a duplicate. */
	struct vg_store_event again = event(keys[0], "{}");
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_event(s, &again), VG_STORE_DUPLICATE);
	assert_int_equal(vg_store_commit(s), VG_OK);
	vg_store_close(s);
}

/* ---- two handles ------------------------------------------------------------ */

static void test_busy_between_handles(void **state)
{
	struct fixture *f = *state;
	struct vg_store *owner = open_store(f->db, 1, 0);
	struct vg_store *cap = open_store(f->db, 0, 50);

	assert_int_equal(vg_store_begin(owner), VG_OK);
	struct vg_store_event a = event("EEEEEEEEEEEEEEEEEEEEEE", "{}");
	assert_int_equal(vg_store_put_event(owner, &a), VG_OK);

	/* The owner holds the write lock: the capture handle gives up after its
	 * busy timeout (50 ms) instead of waiting. */
	assert_int_equal(vg_store_begin(cap), VG_ERR_BUSY);
	/* And is not left in a transaction. */
	assert_int_equal(vg_store_begin(cap), VG_ERR_BUSY);

	assert_int_equal(vg_store_commit(owner), VG_OK);

	/* Now it can write, and sees the owner's event as a duplicate. */
	assert_int_equal(vg_store_begin(cap), VG_OK);
	assert_int_equal(vg_store_put_event(cap, &a), VG_STORE_DUPLICATE);
	struct vg_store_event b = event("FFFFFFFFFFFFFFFFFFFFFF", "{}");
	assert_int_equal(vg_store_put_event(cap, &b), VG_OK);
	/* The other way round: the owner waits at most its timeout too. */
	assert_int_equal(vg_store_begin(owner), VG_ERR_BUSY);
	assert_int_equal(vg_store_commit(cap), VG_OK);

	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(owner, &c), VG_OK);
	assert_int_equal(c.pending, 2);
	vg_store_close(cap);
	vg_store_close(owner);
}

/* ---- checkpoint ------------------------------------------------------------ */

static void test_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	char body[2048];
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	assert_int_equal(vg_store_begin(s), VG_OK);
	for (int i = 0; i < 50; i++) {
		char key[23];
		snprintf(key, sizeof(key), "key%019d", i);
		struct vg_store_event ev = event(key, body);
		assert_int_equal(vg_store_put_event(s, &ev), VG_OK);
	}
	assert_int_equal(vg_store_commit(s), VG_OK);

	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	struct stat db_before, wal_sb;
	assert_int_equal(stat(f->db, &db_before), 0);
	assert_int_equal(stat(wal, &wal_sb), 0);
	assert_true(wal_sb.st_size > 50 * 2048);

	assert_int_equal(vg_store_checkpoint(s), VG_OK);
	/* The pages went from the WAL into the database file. */
	struct stat db_after;
	assert_int_equal(stat(f->db, &db_after), 0);
	assert_true(db_after.st_size > db_before.st_size);
	assert_true(db_after.st_size >= 50 * 2048);

	/* Nothing left to copy: a second checkpoint is fine too, and the data
	 * reads back through a fresh connection. */
	assert_int_equal(vg_store_checkpoint(s), VG_OK);
	vg_store_close(s);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 50);
}


/* A buffer.db of schema 4 (the key rows of forwarded events in events,
 * tests/unit/data/store/schema4.sql) migrates to 5: pending and in-batch
 * events stay with their ids, keys holds the 16-byte key of every one,
 * forwards counts the forwarded per device and second, and the next id is
 * above every id there was. */
static void test_migrates_schema_4_keeping_the_data(void **state)
{
	struct fixture *f = *state;
	const char *dir = getenv("VG_TEST_DATA");
	if (!dir)
		fail_msg("VG_TEST_DATA is not set (run through ctest)");
	char path[512];
	snprintf(path, sizeof path, "%s/store/schema4.sql", dir);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	static char ddl[16384];
	size_t n = fread(ddl, 1, sizeof ddl - 1, in);
	fclose(in);
	ddl[n] = '\0';
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);   /* creates the file */
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	raw_exec(f->db, ddl);
	/* oGhTCF87acP04DyyngmX1A is DESIGN §4's vector; the others are made up. */
	raw_exec(f->db,
	         "INSERT INTO batches(id, created_at_ms) VALUES (7, 1);"
	         "INSERT INTO events(id, event_key, device_id, type, priority, state, received_at_ms, flags, batch_id,"
	         " forwarded_at_ms, body) VALUES"
	         " (3, 'oGhTCF87acP04DyyngmX1A', 'pos-1', 't', 1, 0, 1000, 0, NULL, NULL, '{\"a\":1}'),"
	         " (5, 'X4PaaMTzvIzL67_LlrJ2mg', 'pos-2', 't', 1, 1, 1001, 4, 7, NULL, '{\"b\":2}'),"
	         " (8, 'AAAAAAAAAAAAAAAAAAAAAA', 'pos-1', 't', 1, 2, 900, 0, NULL, 5500, NULL),"
	         " (9, 'AAAAAAAAAAAAAAAAAAAAAQ', 'pos-1', 't', 1, 2, 901, 0, NULL, 5999, NULL),"
	         " (12, 'AAAAAAAAAAAAAAAAAAAAAg', 'pos-2', 't', 1, 2, 902, 0, NULL, 6000, NULL);"
	         "INSERT INTO intake_state VALUES (0, 0, 0);"
	         "PRAGMA user_version = 4");
	/* venuegw status before the daemon migrates: the counts of schema 4. */
	struct vg_store *before = open_store(f->db, 0, 0);
	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(before, &c), VG_OK);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.inflight, 1);
	assert_int_equal(c.forwarded, 3);
	vg_store_close(before);
	struct vg_store *s = open_store(f->db, 1, 0);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), VG_STORE_SCHEMA);
	/* and of schema 5: the same. */
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.inflight, 1);
	assert_int_equal(c.forwarded, 3);
	char got[512];
	raw_text(f->db, "SELECT group_concat(id || ' ' || event_key || ' ' || coalesce((SELECT batch_id FROM inflight"
	                " WHERE inflight.id = e.id), '-') || ' ' || flags || ' ' || body, ', ')"
	                " FROM (SELECT * FROM events ORDER BY id) AS e", got, sizeof got);
	assert_string_equal(got, "3 oGhTCF87acP04DyyngmX1A - 0 {\"a\":1}, 5 X4PaaMTzvIzL67_LlrJ2mg 7 4 {\"b\":2}");
	raw_text(f->db, "SELECT group_concat(hex(key) || ' ' || received_at_ms || ' ' || device_id, ', ')"
	                " FROM (SELECT * FROM keys ORDER BY received_at_ms)", got, sizeof got);
	assert_string_equal(got, "00000000000000000000000000000000 900 pos-1, 00000000000000000000000000000001 901 pos-1, "
	                         "00000000000000000000000000000002 902 pos-2, A0685308"
	                         "5F3B69C3F4E03CB29E0997D4 1000 pos-1, 5F83DA68C4F3BC8CCBEBBFCB96B2769A 1001 pos-2");
	raw_text(f->db, "SELECT group_concat(at_ms || ' ' || device_id || ' ' || count, ', ')"
	                " FROM (SELECT * FROM forwards ORDER BY at_ms, device_id)", got, sizeof got);
	assert_string_equal(got, "5000 pos-1 2, 6000 pos-2 1");
	/* A retransmission of a forwarded event is still a duplicate; a new event gets id 13. */
	assert_int_equal(vg_store_begin(s), VG_OK);
	struct vg_store_event ev = event("AAAAAAAAAAAAAAAAAAAAAQ", "{}");
	assert_int_equal(vg_store_put_event(s, &ev), VG_STORE_DUPLICATE);
	ev = event("AAAAAAAAAAAAAAAAAAAAAw", "{}");
	assert_int_equal(vg_store_put_event(s, &ev), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT max(id) FROM events"), 13);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('events_pending_age',"
	                                " 'events_forwarded', 'events_batch')"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('events_pending',"
	                                " 'inflight_batch', 'events_droppable', 'keys_received')"), 4);
	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;   /* no "schema 0 -> 1" per test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_owner_creates_and_migrates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_stores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capture_schema_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_schema_4_keeping_the_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_discards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_between_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
