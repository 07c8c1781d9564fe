/* Unit tests for store_metrics.h: what the daemon's metrics and `venuegw
 * status` read — on real SQLite files in a temporary directory.  The disk
 * cap's used bytes and drops are in store_test.c. */
#include "log.h"
#include "store_fixture.h"
#include "store_forward.h"
#include "store_metrics.h"

struct seen {
	struct vg_store_new_event ev[8];
	int n, stop_at;
};

static int events_cb(void *ud, const struct vg_store_new_event *e)
{
	struct seen *s = ud;
	if (s->stop_at && s->n == s->stop_at)
		return 1;
	s->ev[s->n] = *e;
	s->ev[s->n].device_id = s->ev[s->n].type = NULL;   /* borrowed: not kept */
	s->n++;
	return 0;
}

/* New events in id order with their seq and whether a person is named. */
static void test_events_after(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	assert_int_equal(put_at(s, "a", "pos-1", VG_PRIO_NORMAL, 1000,
	                        "{\"seq\":7,\"person\":{\"email\":\"em.x\"}}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "b", "pos-1", VG_PRIO_NORMAL, 2000,
	                        "{\"seq\":\"8\",\"person\":{\"payment_customer_id\":\"pc.1\"}}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "c", "pos-2", VG_PRIO_NORMAL, 3000, "{\"person\":{\"phone\":\"\"}}"),
	                 VG_STORE_STORED);
	assert_int_equal(put_at(s, "d", "pos-2", VG_PRIO_NORMAL, 4000, "{\"seq\":9}"), VG_STORE_STORED);
	struct seen all = { .n = 0 };
	assert_int_equal(vg_store_events_after(s, 0, 100, events_cb, &all), VG_OK);
	assert_int_equal(all.n, 4);
	assert_int_equal(all.ev[0].id, 1);
	assert_true(all.ev[0].has_seq);
	assert_int_equal(all.ev[0].seq, 7);
	assert_int_equal(all.ev[0].identified, 1);
	assert_int_equal(all.ev[0].received_at_ms, 1000);
	assert_false(all.ev[1].has_seq);            /* a string is not a seq */
	assert_int_equal(all.ev[1].identified, 0);  /* payment_customer_id never identifies */
	assert_int_equal(all.ev[2].identified, 0);  /* an empty value neither */
	assert_int_equal(all.ev[3].seq, 9);

	struct seen page = { .n = 0 };
	assert_int_equal(vg_store_events_after(s, 1, 2, events_cb, &page), VG_OK);
	assert_int_equal(page.n, 2);
	assert_int_equal(page.ev[0].id, 2);
	assert_int_equal(page.ev[1].id, 3);
	struct seen stop = { .n = 0, .stop_at = 1 };
	assert_int_equal(vg_store_events_after(s, 0, 100, events_cb, &stop), VG_OK);
	assert_int_equal(stop.n, 1);

	/* Forwarded: the row is gone, and nothing new appears above the rest; the
	 * next event's id is above every id there was. */
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 4, VG_PRIO_LOW, 5000, take_all, NULL, &batch), VG_OK);
	assert_int_equal(vg_store_batch_done(s, batch, 6000), VG_OK);
	struct seen after = { .n = 0 };
	assert_int_equal(vg_store_events_after(s, 0, 100, events_cb, &after), VG_OK);
	assert_int_equal(after.n, 0);
	assert_int_equal(put_at(s, "e", "pos-2", VG_PRIO_NORMAL, 7000, "{\"seq\":10}"), VG_STORE_STORED);
	assert_int_equal(vg_store_events_after(s, 4, 100, events_cb, &after), VG_OK);
	assert_int_equal(after.n, 1);
	assert_int_equal(after.ev[0].id, 5);
	assert_int_equal(after.ev[0].seq, 10);
	vg_store_close(s);
}

struct qseen {
	long long id[8];
	char reason[8][16];
	int n;
};

static int quarantine_cb(void *ud, long long id, const char *device_id, const char *reason, int64_t at_ms)
{
	(void)device_id;
	(void)at_ms;
	struct qseen *q = ud;
	q->id[q->n] = id;
	snprintf(q->reason[q->n++], sizeof q->reason[0], "%s", reason);
	return 0;
}

static void test_quarantine_after(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	assert_int_equal(put_quarantine_at(s, "pos-1", "contract", 1000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-1", "decode", 2000, NULL), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-2", "size", 3000, NULL), VG_STORE_STORED);
	struct qseen q = { .n = 0 };
	assert_int_equal(vg_store_quarantine_after(s, 1, 100, quarantine_cb, &q), VG_OK);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.id[0], 2);
	assert_string_equal(q.reason[0], "decode");
	assert_string_equal(q.reason[1], "size");
	struct qseen one = { .n = 0 };
	assert_int_equal(vg_store_quarantine_after(s, 0, 1, quarantine_cb, &one), VG_OK);
	assert_int_equal(one.n, 1);
	assert_int_equal(one.id[0], 1);
	vg_store_close(s);
}

struct overflow {
	char row[4][48];
	long long count[4];
	int n;
};

static int overflow_cb(void *ud, const char *device_id, const char *reason, long long count)
{
	struct overflow *o = ud;
	snprintf(o->row[o->n], sizeof o->row[0], "%s/%s", device_id, reason);
	o->count[o->n++] = count;
	return 0;
}

static void test_overflow_each(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-2", "contract", 100), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-1", "decode", 100), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-2", "contract", 200), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	struct overflow o = { .n = 0 };
	assert_int_equal(vg_store_overflow_each(s, overflow_cb, &o), VG_OK);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.row[0], "pos-1/decode");
	assert_int_equal(o.count[0], 1);
	assert_string_equal(o.row[1], "pos-2/contract");
	assert_int_equal(o.count[1], 2);
	vg_store_close(s);
}

/* The oldest event not forwarded: pending or in a batch. */
static void test_oldest_unforwarded(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	int64_t oldest = -1;
	assert_int_equal(vg_store_oldest_unforwarded(s, &oldest), VG_OK);
	assert_int_equal(oldest, 0);
	assert_int_equal(put_at(s, "a", "pos-1", VG_PRIO_NORMAL, 5000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "b", "pos-1", VG_PRIO_NORMAL, 2000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "c", "pos-1", VG_PRIO_NORMAL, 9000, "{}"), VG_STORE_STORED);
	assert_int_equal(vg_store_oldest_unforwarded(s, &oldest), VG_OK);
	assert_int_equal(oldest, 5000);   /* the first pending by commit order */
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 2, VG_PRIO_LOW, 10000, take_all, NULL, &batch), VG_OK);
	assert_int_equal(vg_store_oldest_unforwarded(s, &oldest), VG_OK);
	assert_int_equal(oldest, 2000);   /* in the batch */
	assert_int_equal(vg_store_batch_done(s, batch, 11000), VG_OK);
	assert_int_equal(vg_store_oldest_unforwarded(s, &oldest), VG_OK);
	assert_int_equal(oldest, 9000);
	vg_store_close(s);
}

struct devices {
	char id[4][16];
	int64_t last[4];
	long long events[4];
	int n;
};

static int devices_cb(void *ud, const char *device_id, int64_t last_seen_ms, long long events)
{
	struct devices *d = ud;
	snprintf(d->id[d->n], sizeof d->id[0], "%s", device_id);
	d->last[d->n] = last_seen_ms;
	d->events[d->n++] = events;
	return 0;
}

/* Per device among the events stored in a range of receive times, held or
 * forwarded: the latest receive time and how many; and the oldest key. */
static void test_devices(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	int64_t next = -1;
	struct devices none = { .n = 0 };
	assert_int_equal(vg_store_devices_before(s, INT64_MAX, 10, devices_cb, &none, &next), VG_OK);
	assert_int_equal(none.n, 0);
	assert_int_equal(next, 0);
	assert_int_equal(put_at(s, "a", "pos-2", VG_PRIO_NORMAL, 1000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "b", "pos-1", VG_PRIO_NORMAL, 3000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "c", "pos-1", VG_PRIO_NORMAL, 2000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "d", "pos-2", VG_PRIO_NORMAL, 4000, "{}"), VG_STORE_STORED);
	/* Two of them forwarded: still counted, by their keys. */
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 2, VG_PRIO_LOW, 5000, take_all, NULL, &batch), VG_OK);
	assert_int_equal(vg_store_batch_done(s, batch, 6000), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 2);
	struct devices d = { .n = 0 };
	assert_int_equal(vg_store_devices(s, 0, 4001, devices_cb, &d), VG_OK);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.id[0], "pos-1");
	assert_int_equal(d.last[0], 3000);
	assert_int_equal(d.events[0], 2);
	assert_string_equal(d.id[1], "pos-2");
	assert_int_equal(d.last[1], 4000);
	assert_int_equal(d.events[1], 2);
	struct devices part = { .n = 0 };
	assert_int_equal(vg_store_devices(s, 2000, 4000, devices_cb, &part), VG_OK);   /* c and b */
	assert_int_equal(part.n, 1);
	assert_string_equal(part.id[0], "pos-1");
	assert_int_equal(part.events[0], 2);
	/* In slices, newest first: d and b, then c and a, then nothing. */
	struct devices slice = { .n = 0 };
	assert_int_equal(vg_store_devices_before(s, INT64_MAX, 2, devices_cb, &slice, &next), VG_OK);
	assert_int_equal(next, 3000);
	assert_int_equal(slice.n, 2);
	assert_int_equal(slice.last[0], 3000);   /* pos-1: b */
	assert_int_equal(slice.last[1], 4000);   /* pos-2: d */
	slice.n = 0;
	assert_int_equal(vg_store_devices_before(s, next, 2, devices_cb, &slice, &next), VG_OK);
	assert_int_equal(next, 1000);
	assert_int_equal(slice.n, 2);
	assert_int_equal(slice.last[0], 2000);   /* pos-1: c */
	assert_int_equal(slice.last[1], 1000);   /* pos-2: a */
	slice.n = 0;
	assert_int_equal(vg_store_devices_before(s, next, 2, devices_cb, &slice, &next), VG_OK);
	assert_int_equal(slice.n, 0);
	assert_int_equal(next, 0);
	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;   /* no "schema 0 -> 1" per test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_events_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oldest_unforwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
