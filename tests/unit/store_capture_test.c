/* Unit tests for store_capture.h beyond the puts (store_test.c): the serial
 * counters and the undeclared members' counts — on real SQLite files in a
 * temporary directory. */
#include "store_capture.h"
#include "store_fixture.h"
#include "store_metrics.h"

/* A new device gets a new epoch (the current Unix time) and seq 0; advancing
 * inside a transaction moves it, a rollback does not; the epoch stays. */
static void test_serial_counter(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	long long epoch = -1, seq = -1;
	assert_int_equal(vg_store_serial_counter(s, "ecr-1", 1795885392123, &epoch, &seq), VG_OK);
	assert_int_equal(epoch, 1795885392);
	assert_int_equal(seq, 0);

	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_serial_advance(s, "ecr-1", 5, 1795885400000), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_serial_advance(s, "ecr-1", 9, 1795885500000), VG_OK);
	vg_store_rollback(s);

	/* Later (a restart): the same epoch, the committed seq. */
	assert_int_equal(vg_store_serial_counter(s, "ecr-1", 1795889999000, &epoch, &seq), VG_OK);
	assert_int_equal(epoch, 1795885392);
	assert_int_equal(seq, 5);
	assert_int_equal(raw_int(f->db, "SELECT last_seen_ms FROM device_state WHERE device_id = 'ecr-1'"),
	                 1795885400000);
	/* Another device has its own counter. */
	assert_int_equal(vg_store_serial_counter(s, "ecr-2", 1795889999000, &epoch, &seq), VG_OK);
	assert_int_equal(epoch, 1795889999);
	assert_int_equal(seq, 0);
	/* A device_state row without a serial epoch (an MQTT device) gets one. */
	raw_exec(f->db, "INSERT INTO device_state(device_id, last_seq) VALUES ('pos-1', 3)");
	assert_int_equal(vg_store_serial_counter(s, "pos-1", 1795890000000, &epoch, &seq), VG_OK);
	assert_int_equal(epoch, 1795890000);
	assert_int_equal(raw_int(f->db, "SELECT last_seq FROM device_state WHERE device_id = 'pos-1'"), 3);
	vg_store_close(s);
}

struct undeclared {
	char row[8][96];
	long long count[8];
	int64_t last[8];
	int n;
};

static int undeclared_cb(void *ud, const char *device_id, const char *type, const char *path, long long count,
                         int64_t last_ms)
{
	struct undeclared *u = ud;
	if (u->n == 8)
		return 1;
	snprintf(u->row[u->n], sizeof u->row[u->n], "%s/%s/%s", device_id, type, path);
	u->count[u->n] = count;
	u->last[u->n++] = last_ms;
	return 0;
}

static void count(struct vg_store *s, const char *device, const char *path, long long n, int64_t now)
{
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_count_undeclared(s, device, "checkin.scanned", path, n, now), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
}

/* Counts add up per device, type and path; beyond VG_STORE_UNDECLARED_ROWS
 * distinct rows a new one is counted under "~other". */
static void test_count_undeclared(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	count(s, "pos-1", "properties.nick", 2, 1000);
	count(s, "pos-1", "properties.nick", 3, 2000);
	count(s, "pos-2", "properties.nick", 1, 1500);
	struct undeclared u = { .n = 0 };
	assert_int_equal(vg_store_undeclared_each(s, undeclared_cb, &u), VG_OK);
	assert_int_equal(u.n, 2);
	assert_string_equal(u.row[0], "pos-1/checkin.scanned/properties.nick");
	assert_int_equal(u.count[0], 5);
	assert_int_equal(u.last[0], 2000);
	assert_string_equal(u.row[1], "pos-2/checkin.scanned/properties.nick");
	assert_int_equal(u.count[1], 1);

	/* Fill the table up to the bound, then a new row goes to ~other. */
	char sql[300];
	snprintf(sql, sizeof sql, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
	         " INSERT INTO undeclared(device_id, type, path, count, first_ms, last_ms)"
	         " SELECT 'fill', 't', 'p' || i, 1, 0, 0 FROM n", VG_STORE_UNDECLARED_ROWS - 2);
	raw_exec(f->db, sql);
	count(s, "pos-3", "properties.new", 4, 3000);
	count(s, "pos-3", "properties.other", 6, 4000);
	count(s, "pos-1", "properties.nick", 1, 5000);   /* an existing row still counts on its own */
	assert_int_equal(raw_int(f->db, "SELECT count FROM undeclared WHERE device_id = '~other' AND type = '~other'"
	                                " AND path = '~other'"), 10);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM undeclared WHERE device_id = 'pos-3'"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count FROM undeclared WHERE device_id = 'pos-1'"), 6);
	/* Inside a transaction: a rollback keeps nothing of it. */
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_count_undeclared(s, "pos-1", "checkin.scanned", "properties.nick", 100, 6000),
	                 VG_OK);
	vg_store_rollback(s);
	assert_int_equal(raw_int(f->db, "SELECT count FROM undeclared WHERE device_id = 'pos-1'"), 6);
	/* A non-zero return stops the walk. */
	struct undeclared full = { .n = 0 };
	assert_int_equal(vg_store_undeclared_each(s, undeclared_cb, &full), VG_OK);
	assert_int_equal(full.n, 8);
	vg_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serial_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_undeclared, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
