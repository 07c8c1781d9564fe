/* Unit tests for store_capture.h: de-duplication, the quarantine, the disk
 * cap (backpressure, drop_oldest, a lowered cap), the serial counters and the
 * undeclared members' counts — on real SQLite files in a temporary directory. */
#include <sys/stat.h>

#include "log.h"
#include "store_admin.h"
#include "store_capture.h"
#include "store_fixture.h"
#include "store_forward.h"
#include "store_metrics.h"

/* ---- events ---------------------------------------------------------------- */

static void test_put_event_duplicate(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	struct vg_store_event a = event("oGhTCF87acP04DyyngmX1A", "{\"n\":1}");
	struct vg_store_event b = event("oGhTCF87acP04DyyngmX1A", "{\"n\":2}");
	struct vg_store_event c = event("X4PaaMTzvIzL67_LlrJ2mg", "{\"n\":3}");

	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_event(s, &a), VG_OK);
	assert_int_equal(vg_store_put_event(s, &b), VG_STORE_DUPLICATE);
	assert_int_equal(vg_store_put_event(s, &c), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);

	/* In a later transaction, and through a capture handle, still a duplicate. */
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_event(s, &b), VG_STORE_DUPLICATE);
	assert_int_equal(vg_store_commit(s), VG_OK);
	struct vg_store *cap = open_store(f->db, 0, 50);
	assert_int_equal(vg_store_begin(cap), VG_OK);
	assert_int_equal(vg_store_put_event(cap, &a), VG_STORE_DUPLICATE);
	assert_int_equal(vg_store_commit(cap), VG_OK);
	vg_store_close(cap);

	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE event_key = "
	                                "'oGhTCF87acP04DyyngmX1A'"), 1);
	char body[64];
	raw_text(f->db, "SELECT body FROM events WHERE event_key = 'oGhTCF87acP04DyyngmX1A'", body,
	         sizeof(body));
	assert_string_equal(body, "{\"n\":1}");
	struct vg_store_counts cnt;
	assert_int_equal(vg_store_counts(s, &cnt), VG_OK);
	assert_int_equal(cnt.pending, 2);

	/* The row as given. */
	char row[256];
	raw_text(f->db, "SELECT device_id || '|' || type || '|' || priority || '|' || flags || '|' ||"
	                " received_at_ms || '|' || (id IN (SELECT id FROM inflight)) FROM events WHERE event_key ="
	                " 'X4PaaMTzvIzL67_LlrJ2mg'", row, sizeof(row));
	assert_string_equal(row, "pos-1|checkin.scanned|1|0|1795885392123|0");
	vg_store_close(s);
}
/* ---- quarantine -------------------------------------------------------- */

struct seen_row {
	long long id;
	char device[32], topic[64], reason[32], field[48], detail[64], digest[32], key[32];
	char state[16];
	int64_t received_at_ms;
	size_t size;
	long error_offset;
	int has_body;
	char body[128];
	size_t body_len;
};

struct walk {
	struct seen_row rows[8];
	int n;
	int stop_after;   /* 0: never */
};

static int collect(void *ud, long long id, const struct vg_store_quarantine *q, const char *st)
{
	struct walk *w = ud;
	assert_true(w->n < 8);
	struct seen_row *r = &w->rows[w->n++];
	r->id = id;
	snprintf(r->device, sizeof(r->device), "%s", q->device_id);
	snprintf(r->topic, sizeof(r->topic), "%s", q->topic);
	snprintf(r->reason, sizeof(r->reason), "%s", q->reason);
	snprintf(r->field, sizeof(r->field), "%s", q->field);
	snprintf(r->detail, sizeof(r->detail), "%s", q->detail);
	snprintf(r->digest, sizeof(r->digest), "%s", q->digest);
	snprintf(r->key, sizeof(r->key), "%s", q->event_key);
	snprintf(r->state, sizeof(r->state), "%s", st);
	r->received_at_ms = q->received_at_ms;
	r->size = q->size;
	r->error_offset = q->error_offset;
	r->has_body = q->body != NULL;
	if (q->body)
		snprintf(r->body, sizeof(r->body), "%.*s", (int)q->body_len, q->body);
	r->body_len = q->body_len;
	return w->stop_after && w->n >= w->stop_after;
}

static void test_quarantine_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	static const char held_body[] = "{\"type\":\"class.attended\",\"person\":{\"email\":\"v1.em.x\"}}";
	struct vg_store_quarantine meta = {
		.received_at_ms = 1000, .device_id = "pos-1", .topic = "venue/v1/pos-1/events",
		.size = 17, .reason = "bad_json", .field = "", .detail = "expected a value",
		.error_offset = 9, .digest = "ZGlnZXN0LW9mLWJ5dGVzAA", .event_key = "", .body = NULL,
	};
	struct vg_store_quarantine held = {
		.received_at_ms = 2000, .device_id = "kiosk-2", .topic = "venue/v1/kiosk-2/events",
		.size = 120, .reason = "contract", .field = "properties.class_id",
		.detail = "required string is missing", .error_offset = -1,
		.digest = "aGVsZC1kaWdlc3QtZGlnZQ", .event_key = "oGhTCF87acP04DyyngmX1A",
		.body = held_body, .body_len = sizeof(held_body) - 1,
	};
	/* Optional strings may be NULL: stored as "". */
	struct vg_store_quarantine bare = {
		.received_at_ms = 3000, .device_id = "scanner-1", .topic = NULL, .size = 70000,
		.reason = "too_large", .field = NULL, .detail = NULL, .error_offset = -1,
		.digest = NULL, .event_key = NULL, .body = NULL,
	};
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_quarantine(s, &meta), VG_OK);
	assert_int_equal(vg_store_put_quarantine(s, &held), VG_OK);
	assert_int_equal(vg_store_put_quarantine(s, &bare), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);

	struct walk w = { .n = 0 };
	assert_int_equal(vg_store_quarantine_each(s, 10, collect, &w), VG_OK);
	assert_int_equal(w.n, 3);
	/* Newest first. */
	assert_true(w.rows[0].id > w.rows[1].id && w.rows[1].id > w.rows[2].id);

	struct seen_row *r = &w.rows[2];
	assert_string_equal(r->state, "metadata");
	assert_false(r->has_body);
	assert_int_equal(r->body_len, 0);
	assert_string_equal(r->device, "pos-1");
	assert_string_equal(r->topic, "venue/v1/pos-1/events");
	assert_int_equal(r->size, 17);
	assert_string_equal(r->reason, "bad_json");
	assert_string_equal(r->field, "");
	assert_string_equal(r->detail, "expected a value");
	assert_int_equal(r->error_offset, 9);
	assert_string_equal(r->digest, "ZGlnZXN0LW9mLWJ5dGVzAA");
	assert_string_equal(r->key, "");
	assert_int_equal(r->received_at_ms, 1000);

	r = &w.rows[1];
	assert_string_equal(r->state, "held");
	assert_true(r->has_body);
	assert_string_equal(r->body, held_body);
	assert_int_equal(r->body_len, sizeof(held_body) - 1);
	assert_string_equal(r->device, "kiosk-2");
	assert_string_equal(r->reason, "contract");
	assert_string_equal(r->field, "properties.class_id");
	assert_int_equal(r->error_offset, -1);
	assert_string_equal(r->key, "oGhTCF87acP04DyyngmX1A");
	assert_int_equal(r->size, 120);
	assert_int_equal(r->received_at_ms, 2000);

	r = &w.rows[0];
	assert_string_equal(r->state, "metadata");
	assert_false(r->has_body);
	assert_string_equal(r->device, "scanner-1");
	assert_string_equal(r->topic, "");
	assert_string_equal(r->field, "");
	assert_string_equal(r->detail, "");
	assert_string_equal(r->digest, "");
	assert_string_equal(r->key, "");
	assert_int_equal(r->size, 70000);

	/* The limit is respected. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(vg_store_quarantine_each(s, 2, collect, &w), VG_OK);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.rows[0].device, "scanner-1");
	assert_string_equal(w.rows[1].device, "kiosk-2");
	/* A non-zero return stops the walk. */
	memset(&w, 0, sizeof(w));
	w.stop_after = 1;
	assert_int_equal(vg_store_quarantine_each(s, 10, collect, &w), VG_OK);
	assert_int_equal(w.n, 1);

	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.quarantine_held, 1);
	assert_int_equal(c.quarantine_metadata, 2);
	assert_int_equal(c.quarantine_overflow, 0);
	assert_int_equal(c.pending, 0);
	vg_store_close(s);
}

static void test_quarantine_overflow(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	assert_int_equal(vg_store_begin(s), VG_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-1", "bad_json", 100 + i),
		                 VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-1", "contract", 200), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-2", "bad_json", 300), VG_OK);
	assert_int_equal(vg_store_count_quarantine_overflow(s, "pos-2", "bad_json", 301), VG_OK);
	assert_int_equal(vg_store_commit(s), VG_OK);

	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine_overflow"), 3);
	assert_int_equal(raw_int(f->db, "SELECT count FROM quarantine_overflow"
	                                " WHERE device_id = 'pos-1' AND reason = 'bad_json'"), 3);
	assert_int_equal(raw_int(f->db, "SELECT count FROM quarantine_overflow"
	                                " WHERE device_id = 'pos-1' AND reason = 'contract'"), 1);
	assert_int_equal(raw_int(f->db, "SELECT count FROM quarantine_overflow"
	                                " WHERE device_id = 'pos-2' AND reason = 'bad_json'"), 2);
	/* First and last time seen. */
	assert_int_equal(raw_int(f->db, "SELECT first_ms FROM quarantine_overflow"
	                                " WHERE device_id = 'pos-1' AND reason = 'bad_json'"), 100);
	assert_int_equal(raw_int(f->db, "SELECT last_ms FROM quarantine_overflow"
	                                " WHERE device_id = 'pos-1' AND reason = 'bad_json'"), 102);
	/* Not stored row by row. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 0);

	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.quarantine_overflow, 6);
	assert_int_equal(c.quarantine_held + c.quarantine_metadata, 0);
	vg_store_close(s);
}

/* ---- the disk cap -------------------------------------------------------------- */

#define CAP_BYTES (1 << 20)
#define CAP_BODY 1000

static struct vg_store *open_capped_at(const char *path, int drop_oldest, long long max_bytes)
{
	struct vg_store_cfg cfg = { .path = path, .owner = 0, .durability_full = 0, .busy_timeout_ms = 50,
	                            .max_bytes = max_bytes, .drop_oldest = drop_oldest };
	struct vg_store *s = NULL;
	char err[256] = "";
	if (vg_store_open(&s, &cfg, err, sizeof(err)) != VG_OK)
		fail_msg("vg_store_open: %s", err);
	return s;
}

static struct vg_store *open_capped(const char *path, int drop_oldest)
{
	return open_capped_at(path, drop_oldest, CAP_BYTES);
}

/* Put event number i (key "cap-<i>", a CAP_BODY body) in its own transaction. */
/* The keys of forwarded events: received before every event still held. */
#define FORWARDED_KEYS " FROM keys WHERE received_at_ms < (SELECT coalesce(min(received_at_ms), 1e18) FROM events)"

static int put_numbered(struct vg_store *s, int i, int priority, int64_t at_ms)
{
	static char body[CAP_BODY + 1];
	memset(body, 'x', CAP_BODY);
	body[0] = '{';
	body[CAP_BODY - 1] = '}';
	char key[32];
	snprintf(key, sizeof(key), "cap-%017d", i);
	struct vg_store_event ev = event(key, body);
	ev.priority = priority;
	ev.received_at_ms = at_ms;
	return put_in_txn(s, &ev, NULL);
}

static long long file_bytes(const char *path)
{
	return raw_int(path, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
}

static void test_cap_backpressure_refuses_and_loses_nothing(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_capped(f->db, 0);
	int stored = 0, rc;
	while ((rc = put_numbered(s, stored, VG_PRIO_NORMAL, 1000 + stored)) == VG_OK && stored < 4 * CAP_BYTES / CAP_BODY)
		stored++;
	assert_int_equal(rc, VG_ERR_FULL);
	/* About as many as fit: more than half the cap's worth, and the file is within it. */
	assert_true(stored > CAP_BYTES / 2 / CAP_BODY);
	assert_true(file_bytes(f->db) <= CAP_BYTES);
	long long used = -1;
	assert_int_equal(vg_store_used_bytes(s, &used), VG_OK);
	assert_true(used > CAP_BYTES / 2 && used <= CAP_BYTES);
	/* Refused again, and nothing stored before went. */
	assert_int_equal(put_numbered(s, stored, VG_PRIO_NORMAL, 1000 + stored), VG_ERR_FULL);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE id NOT IN (SELECT id FROM inflight)"), stored);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM drops"), 0);
	/* At the cap a quarantined input is counted, not stored. */
	char body[CAP_BODY];
	memset(body, 'q', sizeof(body));
	struct vg_store_quarantine q = { .received_at_ms = 5, .device_id = "pos-1", .reason = "contract",
	                                 .body = body, .body_len = sizeof(body) };
	int overflowed = 0;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(vg_store_begin(s), VG_OK);
		rc = vg_store_put_quarantine(s, &q);
		assert_true(rc == VG_OK || rc == VG_STORE_OVERFLOW);
		overflowed += rc == VG_STORE_OVERFLOW;
		assert_int_equal(vg_store_commit(s), VG_OK);
	}
	long long counted = raw_int(f->db, "SELECT coalesce(sum(count), 0) FROM quarantine_overflow");
	assert_true(counted > 10);
	assert_int_equal(counted, overflowed);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine") + counted, 20);
	assert_true(file_bytes(f->db) <= CAP_BYTES);

	/* The CDP takes the oldest half: their rows go, their keys stay, their pages are freed. */
	struct vg_store *o = open_store(f->db, 1, 50);
	int taken = 0;
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(o, stored / 2, 2, 5000, take_all, &taken, &batch), VG_OK);
	assert_int_equal(taken, stored / 2);
	assert_int_equal(vg_store_batch_done(o, batch, 6000), VG_OK);
	assert_int_equal(vg_store_used_bytes(s, &used), VG_OK);
	assert_true(used < CAP_BYTES * 6 / 10);
	long long forwarded = raw_int(f->db, "SELECT count(*)" FORWARDED_KEYS);
	assert_int_equal(forwarded, stored / 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), stored - stored / 2);
	/* Capture resumes; the keys stay while there is room. */
	int more = 0;
	while (more < 50 && put_numbered(s, stored + more, VG_PRIO_NORMAL, 9000 + more) == VG_OK)
		more++;
	assert_int_equal(more, 50);
	struct vg_store_cap_stats cs;
	vg_store_cap_stats(s, &cs);
	assert_int_equal(cs.keys_reclaimed, 0);
	/* Until the cap again: every key goes, oldest first, before an event is refused. */
	long long keys_left = forwarded, keys_in_order = 1;
	while ((rc = put_numbered(s, stored + more, VG_PRIO_NORMAL, 9000 + more)) == VG_OK && more < 4 * CAP_BYTES / CAP_BODY) {
		more++;
		long long left = raw_int(f->db, "SELECT count(*)" FORWARDED_KEYS);
		if (left < keys_left && left > 0)   /* what is left is the newest keys (received 1000 + i) */
			keys_in_order &= raw_int(f->db, "SELECT min(received_at_ms)" FORWARDED_KEYS) ==
			                 raw_int(f->db, "SELECT max(received_at_ms)" FORWARDED_KEYS) - left + 1;
		keys_left = left;
	}
	assert_int_equal(rc, VG_ERR_FULL);
	assert_true(keys_in_order);
	vg_store_cap_stats(s, &cs);
	assert_int_equal(cs.keys_reclaimed, forwarded);
	assert_int_equal(cs.dropped, 0);
	assert_int_equal(cs.refused, 3);   /* the two above and this one */
	assert_int_equal(raw_int(f->db, "SELECT count(*)" FORWARDED_KEYS), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys"), stored - forwarded + more);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE id NOT IN (SELECT id FROM inflight)"), stored - forwarded + more);
	assert_true(file_bytes(f->db) <= CAP_BYTES);
	vg_store_close(o);
	vg_store_close(s);
}

struct recon_got {
	long long committed, forwarded, quarantined, dropped;
	int rows;
};

static int recon_cb(void *ud, const char *dev, long long c, long long fw, long long q, long long d)
{
	struct recon_got *r = ud;
	assert_string_equal(dev, "pos-1");
	*r = (struct recon_got){ c, fw, q, d, r->rows + 1 };
	return 0;
}

static void drops_cb(void *ud, const char *dev, const char *type, long long n)
{
	long long *count = ud;
	assert_string_equal(dev, "pos-1");
	assert_string_equal(type, "checkin.scanned");
	*count += n;
}

static void test_cap_drop_oldest_keeps_the_priority_lane_and_batches(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_capped(f->db, 1);
	/* Ten consent events, then a batch in flight, then three times the cap of normal ones. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(put_numbered(s, i, VG_PRIO_HIGH, 1000 + i), VG_OK);
	for (int i = 10; i < 15; i++)
		assert_int_equal(put_numbered(s, i, VG_PRIO_NORMAL, 1000 + i), VG_OK);
	raw_exec(f->db, "INSERT INTO batches(id, created_at_ms) VALUES (7, 0);"
	                "INSERT INTO inflight(id, batch_id) SELECT id, 7 FROM events WHERE id BETWEEN 11 AND 15");
	/* The gateway's own reconciliation event (normal priority) is not dropped either. */
	struct vg_store_event own = event("GGGGGGGGGGGGGGGGGGGGGG", "{\"event\":\"gateway.reconciliation\"}");
	own.device_id = "_gateway";
	assert_int_equal(vg_store_put_internal_event(s, &own), VG_OK);
	int total = 3 * CAP_BYTES / CAP_BODY;
	for (int i = 15; i < total; i++)
		if (put_numbered(s, i, i % 3 ? VG_PRIO_NORMAL : VG_PRIO_LOW, 1000 + i) != VG_OK)
			fail_msg("event %d refused under drop_oldest", i);
	assert_true(file_bytes(f->db) <= CAP_BYTES);
	struct vg_store_cap_stats cs;
	vg_store_cap_stats(s, &cs);
	long long dropped = raw_int(f->db, "SELECT coalesce(sum(count), 0) FROM drops");
	assert_true(dropped > total / 2);
	assert_int_equal(cs.dropped, dropped);
	assert_int_equal(cs.refused, 0);
	/* Stored + dropped = everything put. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE device_id = 'pos-1'") + dropped, total);
	/* Never the priority lane, never a batch. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE priority = 0"), 10);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE id IN (SELECT id FROM inflight)"), 5);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE device_id = '_gateway'"), 1);
	/* The oldest went: what is left of the rest is the newest, without holes. */
	assert_int_equal(raw_int(f->db, "SELECT max(id) - min(id) + 1 - count(*) FROM events WHERE id NOT IN (SELECT id FROM inflight)"
	                                " AND priority > 0 AND device_id = 'pos-1'"), 0);
	assert_int_equal(raw_int(f->db, "SELECT max(id) FROM events"), total + 1);
	/* The drops rows say when (to 10 s) they were received and when they were dropped,
	 * one row per device, type and 10 s in a chunk, not one per event. */
	assert_int_equal(raw_int(f->db, "SELECT sum(count) FROM drops WHERE device_id = 'pos-1'"
	                                " AND received_at_ms < dropped_at_ms AND received_at_ms % 10000 = 0"), dropped);
	assert_true(raw_int(f->db, "SELECT count(*) FROM drops") * 8 <= dropped);

	/* Reconciliation counts them: committed (by receive time) and dropped (by drop time). */
	struct vg_store *o = open_store(f->db, 1, 50);
	struct recon_got r = { -1, -1, -1, -1, 0 };
	assert_int_equal(vg_store_reconcile(o, 0, 1000 + total, recon_cb, &r), VG_OK);
	assert_int_equal(r.rows, 1);
	assert_int_equal(r.committed, total);
	assert_int_equal(r.forwarded, 0);
	assert_int_equal(r.quarantined, 0);
	assert_int_equal(r.dropped, dropped);
	/* Per device and type, after a row id. */
	long long seen = 0, last = 0;
	assert_int_equal(vg_store_drops_after(o, 0, drops_cb, &seen, &last), VG_OK);
	assert_int_equal(seen, dropped);
	assert_int_equal(last, raw_int(f->db, "SELECT max(id) FROM drops"));
	long long mark = last;
	seen = 0;
	assert_int_equal(vg_store_drops_after(o, last, drops_cb, &seen, &last), VG_OK);
	assert_int_equal(seen, 0);
	assert_int_equal(last, mark);
	/* Purged with the forwarded keys. */
	assert_true(vg_store_purge_forwarded(o, 0, 1000 + total + 1, 100000) > 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM drops"), 0);
	/* Row ids are not reused once the table is empty: the metrics read new rows by id. */
	for (int i = total; i < total + 2 * CAP_BYTES / CAP_BODY; i++)
		assert_int_equal(put_numbered(s, i, VG_PRIO_NORMAL, 1000 + i), VG_OK);
	assert_true(raw_int(f->db, "SELECT min(id) FROM drops") > mark);
	vg_store_close(o);
	vg_store_close(s);
}

static void test_cap_drop_oldest_refuses_when_nothing_can_go(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_capped(f->db, 1);
	int stored = 0, rc;
	while ((rc = put_numbered(s, stored, VG_PRIO_HIGH, 1000 + stored)) == VG_OK && stored < 4 * CAP_BYTES / CAP_BODY)
		stored++;
	assert_int_equal(rc, VG_ERR_FULL);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), stored);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM drops"), 0);
	vg_store_close(s);
}

/* max_buffer_mb lowered below what the file holds: capture goes on and the file comes down to the
 * new cap over the next puts, each freeing a bounded amount (not all at once, not never). */
static void test_cap_lowered_shrinks_over_the_next_puts(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_capped_at(f->db, 1, 4 * CAP_BYTES);
	int i = 0;
	for (; i < 3 * CAP_BYTES / CAP_BODY; i++)
		assert_int_equal(put_numbered(s, i, VG_PRIO_NORMAL, 1000 + i), VG_OK);
	/* A third of them forwarded (compact keys), the rest pending. */
	struct vg_store *o = open_store(f->db, 1, 50);
	int taken = 0;
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(o, i / 3, 2, 5000, take_all, &taken, &batch), VG_OK);
	assert_int_equal(vg_store_batch_done(o, batch, 6000), VG_OK);
	vg_store_close(o);
	vg_store_close(s);
	long long used = 0;
	s = open_capped_at(f->db, 1, CAP_BYTES);
	assert_int_equal(vg_store_used_bytes(s, &used), VG_OK);
	assert_true(used > CAP_BYTES);
	int puts = 0;
	for (; puts < 200 && used > CAP_BYTES; puts++, i++) {
		assert_int_equal(put_numbered(s, i, VG_PRIO_NORMAL, 9000 + i), VG_OK);
		long long now = 0;
		assert_int_equal(vg_store_used_bytes(s, &now), VG_OK);
		assert_true(now < used);   /* every put leaves the file smaller */
		used = now;
	}
	assert_true(used <= CAP_BYTES);
	assert_true(puts > 1);         /* bounded work per put */
	struct vg_store_cap_stats cs;
	vg_store_cap_stats(s, &cs);
	assert_true(cs.keys_reclaimed > 0 && cs.dropped > 0);
	assert_int_equal(cs.refused, 0);
	vg_store_close(s);
}

/* vg_store_put_fits: without a cap always; with one, only once this
 * transaction has measured the pages in use and the event's bytes fit what is
 * left by that measure; again not after CAP_MEASURE_EVERY (256) puts. */
static void test_put_fits(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *none = open_capped_at(f->db, 0, 0);
	struct vg_store_event small = event("fits-0000000000000000a", "{}");
	assert_int_equal(vg_store_put_fits(none, &small), 1);
	vg_store_close(none);

	struct vg_store *s = open_capped(f->db, 0);
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_fits(s, &small), 0);          /* nothing measured yet */
	assert_int_equal(vg_store_put_event(s, &small), VG_OK);      /* measures */
	struct vg_store_event next = event("fits-0000000000000000b", "{}");
	assert_int_equal(vg_store_put_fits(s, &next), 1);
	static char big[CAP_BYTES / 2 + 1];
	memset(big, 'x', sizeof big - 1);
	struct vg_store_event large = event("fits-0000000000000000c", big);
	assert_int_equal(vg_store_put_fits(s, &large), 0);          /* twice its bytes pass the cap */
	for (int i = 0; i < 256; i++) {
		char key[32];
		snprintf(key, sizeof key, "fits-%017d", i);
		struct vg_store_event e = event(key, "{}");
		assert_int_equal(vg_store_put_event(s, &e), VG_OK);
	}
	assert_int_equal(vg_store_put_fits(s, &next), 0);           /* 256 puts since: measure again */
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(vg_store_begin(s), VG_OK);
	assert_int_equal(vg_store_put_fits(s, &next), 0);           /* a new transaction */
	vg_store_rollback(s);
	vg_store_close(s);
}

/* A delivered batch deletes its rows (their keys stay in keys, counted in
 * forwards) and frees the pages of the bodies; the next event's id is higher
 * than any before, also once the table is empty (the metrics read new rows by
 * id). */
static void test_batch_done_deletes_rows_and_frees_pages(void **state)
{
	struct fixture *f = *state;
	create_db(f->db);
	struct vg_store *s = open_capped_at(f->db, 0, 0);   /* no cap */
	for (int i = 0; i < 600; i++)
		assert_int_equal(put_numbered(s, i, VG_PRIO_NORMAL, 1000 + i), VG_OK);
	struct vg_store *o = open_store(f->db, 1, 50);
	int taken = 0;
	long long batch = 0, before = 0, after = 0;
	assert_int_equal(vg_store_batch_claim(o, 600, 2, 5000, take_all, &taken, &batch), VG_OK);
	assert_int_equal(taken, 600);
	/* A gap: one event goes to the quarantine, and its key with it. */
	assert_int_equal(vg_store_quarantine_event(o, 300, "unsendable", "test"), VG_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys"), 599);
	assert_int_equal(vg_store_used_bytes(o, &before), VG_OK);
	assert_int_equal(vg_store_batch_done(o, batch, 6000), VG_OK);
	assert_int_equal(vg_store_used_bytes(o, &after), VG_OK);
	assert_true(after < before / 3);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys WHERE received_at_ms >= 1000"), 599);
	assert_int_equal(raw_int(f->db, "SELECT sum(count) FROM forwards WHERE at_ms = 6000"), 599);
	/* A retransmission of a forwarded event is a duplicate; of the quarantined one, stored. */
	assert_int_equal(put_numbered(s, 5, VG_PRIO_NORMAL, 9000), VG_STORE_DUPLICATE);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(put_numbered(s, 299, VG_PRIO_NORMAL, 9000), VG_OK);   /* event 300, quarantined */
	assert_int_equal(raw_int(f->db, "SELECT id FROM events WHERE id NOT IN (SELECT id FROM inflight)"), 601);
	struct vg_store_counts now;
	assert_int_equal(vg_store_counts(s, &now), VG_OK);
	assert_int_equal(now.pending, 1);
	assert_int_equal(now.forwarded, 599);
	vg_store_close(o);
	vg_store_close(s);
}
/* The quarantine's size is kept by triggers: inserts add, deletes (retention,
 * retry, erasure) subtract; retention deletes only old rows. */
static void test_quarantine_bytes_and_retention(void **state)
{
	struct fixture *f = *state;
	struct vg_store *s = open_store(f->db, 1, 0);
	long long bytes = -1;
	assert_int_equal(vg_store_quarantine_bytes(s, &bytes), VG_OK);
	assert_int_equal(bytes, 0);
	char body[1000];
	memset(body, 'b', sizeof body);
	assert_int_equal(vg_store_begin(s), VG_OK);
	for (int i = 0; i < 10; i++) {
		struct vg_store_quarantine q = { .received_at_ms = 1000 + i, .device_id = "pos-1", .reason = "contract",
		                                 .body = body, .body_len = sizeof body };
		assert_int_equal(vg_store_put_quarantine(s, &q), VG_OK);
	}
	assert_int_equal(vg_store_commit(s), VG_OK);
	assert_int_equal(vg_store_quarantine_bytes(s, &bytes), VG_OK);
	assert_true(bytes >= 10 * 1000 && bytes < 10 * 1200);
	assert_int_equal(bytes, raw_int(f->db, "SELECT sum(length(body) + length(device_id) * 2 + length(reason)"
	                                       " + 64) FROM quarantine"));
	/* Rows received before 1005 go, in slices of 3. */
	assert_int_equal(vg_store_purge_quarantine(s, 1005, 3), 3);
	assert_int_equal(vg_store_purge_quarantine(s, 1005, 3), 2);
	assert_int_equal(vg_store_purge_quarantine(s, 1005, 3), 0);
	assert_int_equal(raw_int(f->db, "SELECT min(received_at_ms) FROM quarantine"), 1005);
	long long after = -1;
	assert_int_equal(vg_store_quarantine_bytes(s, &after), VG_OK);
	assert_int_equal(after * 2, bytes);
	vg_store_close(s);
}

/* ---- serial input and the tracking plan ------------------------------------ */

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
	vg_log_threshold = VG_LOG_WARN;   /* no "schema 0 -> 1" per test */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_event_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_bytes_and_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_backpressure_refuses_and_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_drop_oldest_keeps_the_priority_lane_and_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_drop_oldest_refuses_when_nothing_can_go, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_lowered_shrinks_over_the_next_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_fits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_done_deletes_rows_and_frees_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_undeclared, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
