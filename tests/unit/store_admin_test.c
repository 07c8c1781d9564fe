/* Unit tests for store_admin.h: the quarantine as `venuegw quarantine` shows
 * and retries it, the file's stats and check, the support bundle's counts —
 * on real SQLite files in a temporary directory. */
#include "log.h"
#include "store_admin.h"
#include "store_erasure.h"
#include "store_fixture.h"
#include "store_forward.h"

struct qrows {
	long long id[16];
	char reason[16][32], state[16][16], device[16][16];
	int has_body[16];
	int n, stop_at;
};

static int qrows_cb(void *ud, long long id, const struct vg_store_quarantine *q, const char *state)
{
	struct qrows *r = ud;
	if (r->stop_at && r->n == r->stop_at)
		return 1;
	r->id[r->n] = id;
	snprintf(r->reason[r->n], sizeof r->reason[r->n], "%s", q->reason);
	snprintf(r->state[r->n], sizeof r->state[r->n], "%s", state);
	snprintf(r->device[r->n], sizeof r->device[r->n], "%s", q->device_id);
	r->has_body[r->n++] = q->body != NULL;
	return 0;
}

/* Rows 1..5: pos-1 contract held, pos-1 decode metadata, pos-2 contract held,
 * pos-2 contract metadata, pos-1 contract held. */
static void put_five(struct vg_store *s)
{
	assert_int_equal(put_quarantine_at(s, "pos-1", "contract", 1000, "{\"a\":1}"), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-1", "decode", 2000, NULL), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-2", "contract", 3000, "{\"a\":3}"), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-2", "contract", 4000, NULL), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-1", "contract", 5000, "{\"a\":5}"), VG_STORE_STORED);
}

static void test_quarantine_select(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	put_five(s);
	struct qrows r = { .n = 0 };
	struct vg_store_quarantine_filter all = { 0 };
	assert_int_equal(vg_store_quarantine_select(s, &all, qrows_cb, &r), VG_OK);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.id[0], 5);   /* newest first */
	assert_int_equal(r.id[4], 1);

	struct qrows by = { .n = 0 };
	struct vg_store_quarantine_filter f1 = { .reason = "contract", .device_id = "pos-1", .oldest_first = 1 };
	assert_int_equal(vg_store_quarantine_select(s, &f1, qrows_cb, &by), VG_OK);
	assert_int_equal(by.n, 2);
	assert_int_equal(by.id[0], 1);
	assert_int_equal(by.id[1], 5);

	struct qrows meta = { .n = 0 };
	struct vg_store_quarantine_filter f2 = { .state = "metadata", .oldest_first = 1 };
	assert_int_equal(vg_store_quarantine_select(s, &f2, qrows_cb, &meta), VG_OK);
	assert_int_equal(meta.n, 2);
	assert_int_equal(meta.id[0], 2);
	assert_int_equal(meta.id[1], 4);
	assert_string_equal(meta.state[0], "metadata");
	assert_false(meta.has_body[0]);

	struct qrows page = { .n = 0 };
	struct vg_store_quarantine_filter f3 = { .after_id = 2, .limit = 2, .oldest_first = 1 };
	assert_int_equal(vg_store_quarantine_select(s, &f3, qrows_cb, &page), VG_OK);
	assert_int_equal(page.n, 2);
	assert_int_equal(page.id[0], 3);
	assert_int_equal(page.id[1], 4);
	assert_string_equal(page.state[0], "held");
	assert_true(page.has_body[0]);

	/* quarantine_each: newest first, at most limit; a non-zero return stops. */
	struct qrows each = { .n = 0 };
	assert_int_equal(vg_store_quarantine_each(s, 3, qrows_cb, &each), VG_OK);
	assert_int_equal(each.n, 3);
	assert_int_equal(each.id[0], 5);
	struct qrows stop = { .n = 0, .stop_at = 1 };
	assert_int_equal(vg_store_quarantine_select(s, &all, qrows_cb, &stop), VG_OK);
	assert_int_equal(stop.n, 1);
	vg_store_close(s);
}

/* The retry's reads and writes: get a row, change its reason, remove it. */
static void test_quarantine_get_set_reason_remove(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	put_five(s);
	struct qrows r = { .n = 0 };
	assert_int_equal(vg_store_quarantine_get(s, 3, qrows_cb, &r), VG_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.id[0], 3);
	assert_string_equal(r.device[0], "pos-2");
	assert_int_equal(vg_store_quarantine_get(s, 99, qrows_cb, &r), VG_ERR_NOTFOUND);
	assert_int_equal(r.n, 1);

	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_quarantine_set_reason(s, 3, "plan", "properties.x", "not declared", 12), VG_OK);
	assert_int_equal(vg_store_quarantine_set_reason(s, 99, "plan", NULL, NULL, -1), VG_ERR_NOTFOUND);
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT reason = 'plan' AND field = 'properties.x' AND detail = 'not declared'"
	                                " AND error_offset = 12 AND body = '{\"a\":3}' FROM quarantine WHERE id = 3"), 1);

	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_quarantine_remove(s, 3), VG_OK);
	assert_int_equal(vg_store_quarantine_remove(s, 3), VG_ERR_NOTFOUND);
	vg_store_rollback(s);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine WHERE id = 3"), 1);   /* rolled back */
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_quarantine_remove(s, 3), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine WHERE id = 3"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 4);
	vg_store_close(s);
}

static void test_file_stats_quick_check_version(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	assert_int_equal(put_at(s, "a", "pos-1", VG_PRIO_NORMAL, 1000, "{}"), VG_STORE_STORED);
	struct vg_store_file_stats fs;
	assert_int_equal(vg_store_file_stats(s, &fs), VG_OK);
	assert_int_equal(fs.page_size, raw_int(f->db, "PRAGMA page_size"));
	assert_int_equal(fs.page_count, raw_int(f->db, "PRAGMA page_count"));
	assert_true(fs.page_count > 1);
	assert_true(fs.freelist_count >= 0 && fs.freelist_count < fs.page_count);
	assert_int_equal(fs.schema_version, VG_STORE_SCHEMA);
	assert_string_equal(fs.journal_mode, "wal");
	char check[256];
	assert_int_equal(vg_store_quick_check(s, check, sizeof check), VG_OK);
	assert_string_equal(check, "ok");
	assert_string_equal(vg_store_sqlite_version(), sqlite3_libversion());
	vg_store_close(s);
}

struct groups {
	struct vg_store_group_row row[8];
	char text[8][3][48];   /* the row's strings, copied */
	int n;
};

static int groups_cb(void *ud, const struct vg_store_group_row *r)
{
	struct groups *g = ud;
	if (g->n == 8)
		return 1;
	g->row[g->n] = *r;
	const char *t[3] = { "", "", "" };
	if (r->group == VG_STORE_GROUP_EVENTS) {
		t[0] = r->events.device_id, t[1] = r->events.type, t[2] = r->events.state;
	} else if (r->group == VG_STORE_GROUP_QUARANTINE) {
		t[0] = r->quarantine.device_id, t[1] = r->quarantine.reason, t[2] = r->quarantine.state;
	} else if (r->group == VG_STORE_GROUP_OVERFLOW) {
		t[0] = r->overflow.device_id, t[1] = r->overflow.reason;
	} else if (r->group == VG_STORE_GROUP_DEVICES) {
		t[0] = r->device.device_id;
	}
	for (int i = 0; i < 3; i++)
		snprintf(g->text[g->n][i], sizeof g->text[g->n][i], "%s", t[i]);
	g->n++;
	return 0;
}

static struct groups group(struct vg_store *s, enum vg_store_group which)
{
	struct groups g = { .n = 0 };
	assert_int_equal(vg_store_group_counts(s, which, groups_cb, &g), VG_OK);
	for (int i = 0; i < g.n; i++)
		assert_int_equal(g.row[i].group, which);
	return g;
}

/* Each group's typed rows, as diag prints them. */
static void test_group_counts(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	/* Nothing yet: one tombstones row of zeros, no other rows. */
	struct groups g = group(s, VG_STORE_GROUP_TOMBSTONES);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.row[0].erasure.tombstones, 0);
	assert_int_equal(g.row[0].erasure.first_ms, 0);
	assert_int_equal(g.row[0].erasure.suppressions, 0);
	assert_int_equal(group(s, VG_STORE_GROUP_EVENTS).n, 0);
	assert_int_equal(group(s, VG_STORE_GROUP_BATCHES).n, 0);

	assert_int_equal(put_at(s, "a", "pos-1", VG_PRIO_NORMAL, 1000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "b", "pos-1", VG_PRIO_NORMAL, 3000, "{}"), VG_STORE_STORED);
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 1, VG_PRIO_LOW, 4000, take_all, NULL, &batch), VG_OK);
	assert_int_equal(put_at(s, "c", "pos-2", VG_PRIO_NORMAL, 2000, "{}"), VG_STORE_STORED);
	g = group(s, VG_STORE_GROUP_EVENTS);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.text[0][0], "pos-1");
	assert_string_equal(g.text[0][1], "checkin.scanned");
	assert_string_equal(g.text[0][2], "pending");
	assert_int_equal(g.row[0].events.count, 1);
	assert_int_equal(g.row[0].events.oldest_ms, 3000);
	assert_string_equal(g.text[1][2], "inflight");
	assert_int_equal(g.row[1].events.newest_ms, 1000);
	assert_string_equal(g.text[2][0], "pos-2");

	/* A batch without an HTTP status, then with one. */
	g = group(s, VG_STORE_GROUP_BATCHES);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.row[0].batch.id, batch);
	assert_false(g.row[0].batch.has_status);
	assert_int_equal(g.row[0].batch.events, 1);
	assert_int_equal(g.row[0].batch.attempts, 0);
	assert_int_equal(vg_store_batch_attempt(s, batch, "idem", 503, "down"), VG_OK);
	raw_exec(f->db, "UPDATE batches SET next_attempt_ms = 9000");
	g = group(s, VG_STORE_GROUP_BATCHES);
	assert_true(g.row[0].batch.has_status);
	assert_int_equal(g.row[0].batch.last_status, 503);
	assert_int_equal(g.row[0].batch.attempts, 1);
	assert_int_equal(g.row[0].batch.next_attempt_ms, 9000);

	put_five(s);
	g = group(s, VG_STORE_GROUP_QUARANTINE);
	assert_int_equal(g.n, 4);   /* pos-1 contract held ×2, pos-1 decode metadata, pos-2 ×2 states */
	assert_string_equal(g.text[0][1], "contract");
	assert_string_equal(g.text[0][2], "held");
	assert_int_equal(g.row[0].quarantine.count, 2);
	assert_int_equal(g.row[0].quarantine.oldest_ms, 1000);
	assert_int_equal(g.row[0].quarantine.newest_ms, 5000);
	assert_string_equal(g.text[1][1], "decode");
	assert_string_equal(g.text[1][2], "metadata");

	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-2", "contract", 100), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-2", "contract", 200), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	g = group(s, VG_STORE_GROUP_OVERFLOW);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.text[0][0], "pos-2");
	assert_string_equal(g.text[0][1], "contract");
	assert_int_equal(g.row[0].overflow.count, 2);
	assert_int_equal(g.row[0].overflow.first_ms, 100);
	assert_int_equal(g.row[0].overflow.last_ms, 200);

	long long epoch, seq;
	assert_int_equal(vg_store_serial_counter(s, "ecr-1", 1795885392123, &epoch, &seq), VG_OK);
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_serial_advance(s, "ecr-1", 7, 1795885400000), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	raw_exec(f->db, "INSERT INTO device_state(device_id, last_seq, last_seen_ms) VALUES ('pos-1', 42, 5000)");
	g = group(s, VG_STORE_GROUP_DEVICES);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[0][0], "ecr-1");
	assert_false(g.row[0].device.has_last_seq);
	assert_int_equal(g.row[0].device.serial_epoch, 1795885392);
	assert_int_equal(g.row[0].device.serial_seq, 7);
	assert_int_equal(g.row[0].device.last_seen_ms, 1795885400000);
	assert_string_equal(g.text[1][0], "pos-1");
	assert_true(g.row[1].device.has_last_seq);
	assert_int_equal(g.row[1].device.last_seq, 42);

	const char *const tokens[] = { "em.x", "ph.y" };
	assert_int_equal(vg_store_suppress(s, tokens, 2, ",1,", 100), VG_OK);
	assert_int_equal(vg_store_tombstone(s, "tomb.a", 700, 1, NULL), VG_OK);
	assert_int_equal(vg_store_tombstone(s, "tomb.b", 900, 1, NULL), VG_OK);
	g = group(s, VG_STORE_GROUP_TOMBSTONES);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.row[0].erasure.tombstones, 2);
	assert_int_equal(g.row[0].erasure.first_ms, 700);
	assert_int_equal(g.row[0].erasure.last_ms, 900);
	assert_int_equal(g.row[0].erasure.suppressions, 2);

	assert_int_equal(vg_store_group_counts(s, (enum vg_store_group)99, groups_cb, &g), VG_ERR_INVAL);
	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;   /* no "schema 0 -> 1" per test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_quarantine_select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_get_set_reason_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_stats_quick_check_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_counts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
