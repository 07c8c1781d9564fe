/* Unit tests for store_forward.h: batches claimed, walked, attempted, split
 * and quarantined, pending events, the gateway's own events — on real SQLite
 * files in a temporary directory. */
#include "log.h"
#include "store_fixture.h"
#include "store_forward.h"

/* The row callback's outcomes, by row id: pass over `pass`, stop at `stop`. */
struct walk {
	struct ids seen;
	long long pass, stop;
};

static int walk_cb(void *ud, const struct vg_store_row *row)
{
	struct walk *w = ud;
	if (row->id == w->stop)
		return VG_STORE_ROW_STOP;
	w->seen.id[w->seen.n++] = row->id;
	return row->id == w->pass ? VG_STORE_ROW_PASS : VG_STORE_ROW_TAKE;
}

static void put_n(struct vg_store *s, int n)
{
	for (int i = 0; i < n; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(put_at(s, key, "pos-1", VG_PRIO_NORMAL, 1000 + i, "{\"n\":1}"), VG_STORE_STORED);
	}
}

static long long claim_all(struct vg_store *s)
{
	struct walk w = { .pass = -1, .stop = -1 };
	long long id = 0;
	assert_int_equal(vg_store_batch_claim(s, 100, VG_PRIO_LOW, 5000, walk_cb, &w, &id), VG_OK);
	assert_true(id > 0);
	return id;
}

static int collect_rows(void *ud, const struct vg_store_row *row)
{
	struct ids *ids = ud;
	ids->id[ids->n++] = row->id;
	return VG_STORE_ROW_TAKE;
}

static int stop_after_one(void *ud, const struct vg_store_row *row)
{
	struct ids *ids = ud;
	if (ids->n == 1)
		return VG_STORE_ROW_STOP;
	ids->id[ids->n++] = row->id;
	return VG_STORE_ROW_TAKE;
}

/* TAKE claims the row, PASS leaves it pending and goes on, STOP ends the
 * claim before the row; the batch then holds exactly the taken rows. */
static void test_claim_take_pass_stop(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	put_n(s, 5);
	struct walk w = { .pass = 2, .stop = 4 };
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 100, VG_PRIO_LOW, 5000, walk_cb, &w, &batch), VG_OK);
	assert_true(batch > 0);
	assert_int_equal(w.seen.n, 3);   /* 1, 2 (passed over), 3; 4 stopped the claim */
	assert_int_equal(raw_int(f->db, "SELECT group_concat(id) = '1,3' FROM events WHERE id IN (SELECT id FROM inflight)"), 1);
	assert_int_equal(raw_int(f->db, "SELECT group_concat(id) = '2,4,5' FROM events WHERE id NOT IN (SELECT id FROM inflight)"), 1);

	struct ids rows = { .n = 0 };
	assert_int_equal(vg_store_batch_rows(s, batch, collect_rows, &rows), VG_OK);
	assert_int_equal(rows.n, 2);
	assert_int_equal(rows.id[0], 1);
	assert_int_equal(rows.id[1], 3);
	/* STOP ends a walk of a batch too, which stays as it was. */
	struct ids one = { .n = 0 };
	assert_int_equal(vg_store_batch_rows(s, batch, stop_after_one, &one), VG_OK);
	assert_int_equal(one.n, 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE id IN (SELECT id FROM inflight)"), 2);

	/* Nothing pending of priority ≤ HIGH: no batch. */
	long long none = -1;
	assert_int_equal(vg_store_batch_claim(s, 100, VG_PRIO_HIGH, 5000, walk_cb, &w, &none), VG_OK);
	assert_int_equal(none, 0);
	vg_store_close(s);
}

static void test_batch_attempt_and_unfinished(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	long long id = -1;
	int attempts = -1;
	assert_int_equal(vg_store_batch_unfinished(s, &id, &attempts), VG_ERR_NOTFOUND);
	size_t n = 9;
	long long ids[4];
	assert_int_equal(vg_store_batch_unfinished_list(s, ids, 4, &n), VG_OK);
	assert_int_equal(n, 0);

	put_n(s, 2);
	long long first = claim_all(s);
	assert_int_equal(vg_store_batch_unfinished(s, &id, &attempts), VG_OK);
	assert_int_equal(id, first);
	assert_int_equal(attempts, 0);

	assert_int_equal(vg_store_batch_attempt(s, first, "idem-1", 503, "unavailable"), VG_OK);
	assert_int_equal(vg_store_batch_attempt(s, first, "idem-1", 0, NULL), VG_OK);
	assert_int_equal(vg_store_batch_unfinished(s, &id, &attempts), VG_OK);
	assert_int_equal(attempts, 2);
	assert_int_equal(raw_int(f->db, "SELECT last_status = 0 AND idempotency_key = 'idem-1' AND last_error = ''"
	                                " FROM batches"), 1);

	assert_int_equal(put_at(s, "later", "pos-2", VG_PRIO_NORMAL, 9000, "{}"), VG_STORE_STORED);
	long long second = claim_all(s);
	assert_true(second > first);
	assert_int_equal(vg_store_batch_unfinished_list(s, ids, 4, &n), VG_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], first);
	assert_int_equal(ids[1], second);
	assert_int_equal(vg_store_batch_unfinished_list(s, ids, 1, &n), VG_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], first);
	/* The oldest unfinished one stays first until it is done. */
	assert_int_equal(vg_store_batch_done(s, first, 10000), VG_OK);
	assert_int_equal(vg_store_batch_unfinished(s, &id, &attempts), VG_OK);
	assert_int_equal(id, second);
	vg_store_close(s);
}

/* A split moves the named events to a new batch; both sets start their
 * attempts again (new sets, new idempotency keys). */
static void test_batch_split(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	put_n(s, 4);
	long long batch = claim_all(s);
	assert_int_equal(vg_store_batch_attempt(s, batch, "idem-1", 413, "too large"), VG_OK);
	const long long move[] = { 2, 4 };
	long long added = 0;
	assert_int_equal(vg_store_batch_split(s, batch, move, 2, 6000, &added), VG_OK);
	assert_true(added > batch);
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT group_concat(id) = '2,4' FROM events WHERE id IN (SELECT id FROM inflight WHERE batch_id = %lld)",
	         added);
	assert_int_equal(raw_int(f->db, sql), 1);
	snprintf(sql, sizeof sql, "SELECT group_concat(id) = '1,3' FROM events WHERE id IN (SELECT id FROM inflight WHERE batch_id = %lld)",
	         batch);
	assert_int_equal(raw_int(f->db, sql), 1);
	snprintf(sql, sizeof sql, "SELECT attempts = 0 AND idempotency_key IS NULL FROM batches WHERE id = %lld", batch);
	assert_int_equal(raw_int(f->db, sql), 1);
	snprintf(sql, sizeof sql, "SELECT attempts = 0 AND created_at_ms = 6000 FROM batches WHERE id = %lld", added);
	assert_int_equal(raw_int(f->db, sql), 1);
	/* An id not in the batch is not moved. */
	const long long stranger[] = { 99 };
	long long third = 0;
	assert_int_equal(vg_store_batch_split(s, batch, stranger, 1, 7000, &third), VG_OK);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM inflight WHERE batch_id = %lld", third);
	assert_int_equal(raw_int(f->db, sql), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE id IN (SELECT id FROM inflight)"), 4);
	vg_store_close(s);
}

/* The whole batch to the quarantine, bodies and keys kept; the batch is gone. */
static void test_batch_quarantine(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	put_n(s, 3);
	long long batch = claim_all(s);
	assert_int_equal(put_at(s, "pending", "pos-1", VG_PRIO_NORMAL, 2000, "{\"p\":1}"), VG_STORE_STORED);
	assert_int_equal(vg_store_batch_quarantine(s, batch, "rejected", "400 from the CDP"), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM batches"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);   /* the pending one stays */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine WHERE reason = 'rejected' AND state = 'held'"
	                                " AND detail = '400 from the CDP' AND body = '{\"n\":1}'"
	                                " AND event_key LIKE 'k%' AND received_at_ms >= 1000"), 3);
	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.inflight, 0);
	assert_int_equal(c.quarantine_held, 3);
	vg_store_close(s);
}

static void test_pending_info(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	int count = -1;
	int64_t oldest = -1;
	assert_int_equal(vg_store_pending_info(s, 100, &count, &oldest), VG_OK);
	assert_int_equal(count, 0);
	assert_int_equal(oldest, 0);
	assert_int_equal(put_at(s, "a", "pos-1", VG_PRIO_NORMAL, 3000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "b", "pos-1", VG_PRIO_NORMAL, 1000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "c", "pos-1", VG_PRIO_NORMAL, 2000, "{}"), VG_STORE_STORED);
	assert_int_equal(vg_store_pending_info(s, 100, &count, &oldest), VG_OK);
	assert_int_equal(count, 3);
	assert_int_equal(oldest, 3000);    /* the first committed */
	assert_int_equal(vg_store_pending_info(s, 2, &count, &oldest), VG_OK);
	assert_int_equal(count, 2);        /* counted up to the cap */
	claim_all(s);
	assert_int_equal(vg_store_pending_info(s, 100, &count, &oldest), VG_OK);
	assert_int_equal(count, 0);
	assert_int_equal(oldest, 0);
	vg_store_close(s);
}

/* The gateway's own events: stored once, the key is their identity. */
static void test_put_internal_event(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	struct vg_store_event ev = event("gw000000000000000000000", "{\"recon\":1}");
	ev.event_key = "gw00000000000000000000";
	ev.device_id = "_gateway";
	assert_int_equal(vg_store_put_internal_event(s, &ev), VG_STORE_STORED);
	assert_int_equal(vg_store_put_internal_event(s, &ev), VG_STORE_DUPLICATE);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE device_id = '_gateway'"), 1);
	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;   /* no "schema 0 -> 1" per test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_take_pass_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_attempt_and_unfinished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_internal_event, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
