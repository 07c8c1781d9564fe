/* Unit tests for firmware/daemon/retention.c: on a real buffer.db, the keys
 * of events received more than dedup_retention_h ago (none still held nor
 * received after the oldest held), the drops rows past two
 * reconciliation windows and the quarantine past quarantine_retention_d are
 * purged, a bounded number per call ("more remain" until done), and nothing
 * else is. */
#include "store_fixture.h"

#include "config.h"
#include "log.h"
#include "retention.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
/* The wall clock of the purge. */
#define W 1795885392123LL

static void config(struct vg_config *cfg)
{
	vg_config_defaults(cfg);
	cfg->dedup_retention_h = 2;
	cfg->reconciliation_interval_s = 3600;
	cfg->quarantine_retention_d = 3;
}

static int take_one(void *ud, const struct vg_store_row *row)
{
	(void)row;
	int *left = ud;
	return (*left)-- > 0 ? VG_STORE_ROW_TAKE : VG_STORE_ROW_STOP;
}

/* Put an event of device received at received_ms and mark it forwarded a
 * second later. */
static void forwarded_at(struct vg_store *s, const char *key, const char *device, int64_t received_ms)
{
	assert_int_equal(put_at(s, key, device, VG_PRIO_NORMAL, received_ms, "{}"), VG_STORE_STORED);
	int left = 1;
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 1, VG_PRIO_LOW, received_ms + 1000, take_one, &left, &batch), VG_OK);
	assert_true(batch > 0);
	assert_int_equal(vg_store_batch_done(s, batch, received_ms + 1000), VG_OK);
}

/* The keys' text (put_at pads them with x). */
#define KEYS_SQL "SELECT group_concat(rtrim(CAST(key AS TEXT), 'x'), ',') FROM" \
                 " (SELECT key FROM keys ORDER BY received_at_ms, key)"

/* What is past its retention goes; what is not, and what was never forwarded,
 * stays. */
static void purges_what_is_past_its_retention(void **state)
{
	struct fixture *f = *state;
	struct vg_config cfg;
	config(&cfg);
	struct vg_store *s = open_store(f->db, 1, 0);

	forwarded_at(s, "old2", "pos-2", W - 30 * DAY_MS);
	forwarded_at(s, "old1", "pos-1", W - 2 * HOUR_MS - 1);
	forwarded_at(s, "new1", "pos-1", W - 2 * HOUR_MS);    /* exactly at the limit: kept */
	forwarded_at(s, "new2", "pos-1", W - 1000);
	/* Pending and in-flight events stay. */
	assert_int_equal(put_at(s, "pend", "pos-1", VG_PRIO_NORMAL, W - 500, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "infl", "pos-1", VG_PRIO_NORMAL, W - 400, "{}"), VG_STORE_STORED);
	int left = 1;
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 1, VG_PRIO_LOW, W - 300, take_one, &left, &batch), VG_OK);

	/* drops rows: kept for two reconciliation windows after the drop. */
	char sql[512];
	snprintf(sql, sizeof sql,
	         "INSERT INTO drops(device_id, type, received_at_ms, dropped_at_ms, count) VALUES"
	         " ('pos-3', 'old', 0, %lld, 1), ('pos-3', 'new', 0, %lld, 1)",
	         W - 2 * HOUR_MS - 1, W - 2 * HOUR_MS);
	raw_exec(f->db, sql);

	/* Quarantine: received more than quarantine_retention_d ago goes. */
	assert_int_equal(put_quarantine_at(s, "pos-4", "old", W - 3 * DAY_MS - 1, "{}"), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-4", "new", W - 3 * DAY_MS, NULL), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-4", "newer", W, "{}"), VG_STORE_STORED);

	/* forwards: the counts of the reconciliation, kept two windows too. */
	assert_int_equal(raw_int(f->db, "SELECT sum(count) FROM forwards"), 4);

	assert_int_equal(vg_retention_purge(s, &cfg, W), 0);

	char keys[256];
	raw_text(f->db, KEYS_SQL, keys, sizeof keys);
	assert_string_equal(keys, "new1,new2,pend,infl");
	raw_text(f->db, "SELECT group_concat(rtrim(event_key, 'x'), ',') FROM (SELECT event_key FROM events ORDER BY id)", keys,
	         sizeof keys);
	assert_string_equal(keys, "pend,infl");
	/* old1 and new1 were forwarded in the same second as W - 2 h - 1: both
	 * are in the last two windows; old2's count went. */
	assert_int_equal(raw_int(f->db, "SELECT sum(count) FROM forwards"), 3);
	raw_text(f->db, "SELECT group_concat(type, ',') FROM drops", keys, sizeof keys);
	assert_string_equal(keys, "new");
	raw_text(f->db, "SELECT group_concat(reason, ',') FROM (SELECT reason FROM quarantine ORDER BY id)", keys,
	         sizeof keys);
	assert_string_equal(keys, "new,newer");

	/* Nothing more to do: the same again changes nothing. */
	assert_int_equal(vg_retention_purge(s, &cfg, W), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys"), 4);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 2);

	/* An hour later new1 is past dedup_retention_h, and the drop is past two windows. */
	assert_int_equal(vg_retention_purge(s, &cfg, W + HOUR_MS), 0);
	raw_text(f->db, KEYS_SQL, keys, sizeof keys);
	assert_string_equal(keys, "new2,pend,infl");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM drops"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 1);

	/* Far later, the keys of events still held stay, and so do those of every
	 * event received after the oldest held one. */
	assert_int_equal(vg_retention_purge(s, &cfg, W + 30 * DAY_MS), 0);
	raw_text(f->db, KEYS_SQL, keys, sizeof keys);
	assert_string_equal(keys, "pend,infl");
	vg_store_close(s);
}

/* A key is kept while an event received before it is still held: an old
 * event stuck in the backlog holds back the purge of later keys. */
static void an_old_held_event_holds_later_keys(void **state)
{
	struct fixture *f = *state;
	struct vg_config cfg;
	config(&cfg);
	struct vg_store *s = open_store(f->db, 1, 0);
	/* stuck: in a batch the CDP has not accepted for 40 days. */
	assert_int_equal(put_at(s, "stuck", "pos-1", VG_PRIO_NORMAL, W - 40 * DAY_MS, "{}"), VG_STORE_STORED);
	int left = 1;
	long long stuck = 0;
	assert_int_equal(vg_store_batch_claim(s, 1, VG_PRIO_LOW, W - 40 * DAY_MS, take_one, &left, &stuck), VG_OK);
	assert_true(stuck > 0);
	forwarded_at(s, "later", "pos-1", W - 10 * DAY_MS);
	assert_int_equal(vg_retention_purge(s, &cfg, W), 0);
	char keys[256];
	raw_text(f->db, KEYS_SQL, keys, sizeof keys);
	assert_string_equal(keys, "stuck,later");
	/* A retransmission of either is still a duplicate. */
	assert_int_equal(put_at(s, "later", "pos-1", VG_PRIO_NORMAL, W, "{}"), VG_STORE_DUPLICATE);
	assert_int_equal(put_at(s, "stuck", "pos-1", VG_PRIO_NORMAL, W, "{}"), VG_STORE_DUPLICATE);
	/* Once it is forwarded, both go. */
	assert_int_equal(vg_store_batch_done(s, stuck, W), VG_OK);
	assert_int_equal(vg_retention_purge(s, &cfg, W), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys"), 0);
	vg_store_close(s);
}

/* A large backlog goes a bounded number of rows per call (the loop serves
 * the ports and the CDP meanwhile): 1 while more remain, 0 once done. */
static void purges_a_backlog_in_bounded_calls(void **state)
{
	struct fixture *f = *state;
	struct vg_config cfg;
	config(&cfg);
	struct vg_store *s = open_store(f->db, 1, 0);
	char sql[1024];
	/* 10,500 old keys of forwarded events and 2 recent ones; 5,500 old quarantine rows and 1 recent. */
	snprintf(sql, sizeof sql,
	         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10502)"
	         " INSERT INTO keys(key, received_at_ms, device_id)"
	         " SELECT CAST(printf('k%%021d', x) AS BLOB), CASE WHEN x > 10500 THEN %lld ELSE %lld END, 'pos-1'"
	         " FROM c",
	         W - HOUR_MS, W - 9 * DAY_MS);
	raw_exec(f->db, sql);
	snprintf(sql, sizeof sql,
	         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5501)"
	         " INSERT INTO quarantine(received_at_ms, device_id, topic, size, reason, field, detail,"
	         "  error_offset, digest, event_key, state, body)"
	         " SELECT CASE WHEN x > 5500 THEN %lld ELSE %lld END, 'pos-1', 't', 1, 'r', '', '', 0, 'd', '',"
	         "  'metadata', NULL FROM c",
	         W - DAY_MS, W - 9 * DAY_MS);
	raw_exec(f->db, sql);

	assert_int_equal(vg_retention_purge(s, &cfg, W), 1);
	/* Five transactions of 2,000 keys and five of 500 quarantine rows. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys"), 10502 - 5 * 2000);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 5501 - 5 * 500);

	/* The second call takes the rest of the keys, not of the quarantine;
	 * the third the rest. */
	assert_int_equal(vg_retention_purge(s, &cfg, W), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 5501 - 10 * 500);
	assert_int_equal(vg_retention_purge(s, &cfg, W), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM keys"), 2);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM keys WHERE received_at_ms = %lld", W - HOUR_MS);
	assert_int_equal(raw_int(f->db, sql), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 1);
	/* The quarantine's share of the cap followed the deletes. */
	assert_int_equal(raw_int(f->db, "SELECT bytes FROM quarantine_usage"),
	                 raw_int(f->db, "SELECT length(device_id) * 2 + length(topic) + length(reason) + length(field)"
	                                " + length(detail) + length(digest) + length(event_key) + 64 FROM quarantine"));
	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(an_old_held_event_holds_later_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(purges_what_is_past_its_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(purges_a_backlog_in_bounded_calls, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
