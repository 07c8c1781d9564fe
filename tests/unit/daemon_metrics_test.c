/* Unit tests for firmware/daemon/metrics.c: the scanner reads the rows
 * committed to a real buffer.db after the metrics opened (events,
 * quarantine, drops) into per-device and per-type counters, seq gaps and
 * identity coverage, which the status JSON and the Prometheus text show. */
#include "daemon_fixture.h"

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "container.h"
#include "event.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "store_metrics.h"

#define T 1795885392123LL

struct world {
	struct daemon_world d;
	int n;                     /* events put, for their keys */
};

/* Put one event of device with body, received at T + n. */
static void put(struct world *w, const char *device, const char *type, const char *body)
{
	char k[23];
	snprintf(k, sizeof k, "e%021d", w->n);
	struct vg_store_event ev = event(k, body);
	ev.device_id = device;
	ev.type = type;
	ev.received_at_ms = T + w->n++;
	assert_int_equal(put_in_txn(w->d.st, &ev, NULL), VG_STORE_STORED);
}

static void add_drops(struct world *w, const char *device, const char *type, int count)
{
	char sql[256];
	snprintf(sql, sizeof sql,
	         "INSERT INTO drops(device_id, type, received_at_ms, dropped_at_ms, count) VALUES ('%s', '%s', %lld,"
	         " %lld, %d)", device, type, T, T + 1, count);
	raw_exec(w->d.f->db, sql);
}

static const cJSON *device(const cJSON *status, const char *id)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(status, "devices"))
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(d, "device_id")), id) == 0)
			return d;
	return NULL;
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(o, name);
	if (!cJSON_IsNumber(v))
		fail_msg("no number %s", name);
	return cJSON_GetNumberValue(v);
}

static void expect_device(const cJSON *status, const char *id, int events, int quarantined, int gaps)
{
	const cJSON *d = device(status, id);
	if (!d)
		fail_msg("no device %s", id);
	assert_int_equal(num(d, "events_since_start"), events);
	assert_int_equal(num(d, "quarantined_since_start"), quarantined);
	assert_int_equal(num(d, "seq_gaps"), gaps);
}

/* The Prometheus text holds line (a whole line). */
static void expect_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void expect_no(const char *text, const char *part)
{
	if (strstr(text, part))
		fail_msg("\"%s\" in:\n%s", part, text);
}

/* Rows from before the start are not counted (counters count since start);
 * what is committed after is, per device, type and reason. */
static void counts_rows_committed_since_start(void **state)
{
	struct world w = { .n = 0 };
	daemon_world_open(&w.d, *state);
	put(&w, "pos-0", "checkin.scanned", "{\"seq\":1,\"person\":{\"email\":\"tok\"}}");
	assert_int_equal(put_quarantine_at(w.d.st, "pos-0", "contract", T, NULL), VG_STORE_STORED);
	add_drops(&w, "pos-0", "checkin.scanned", 3);
	daemon_metrics_open(&w.d);

	put(&w, "pos-1", "checkin.scanned", "{\"seq\":1,\"person\":{\"email\":\"tok\"}}");
	put(&w, "pos-1", "checkin.scanned", "{\"seq\":2,\"person\":{\"email\":\"\"}}");   /* empty: anonymous */
	put(&w, "pos-1", "order.completed", "{\"seq\":3,\"person\":{\"payment_customer_id\":\"p\"}}"); /* not an identity */
	put(&w, "pos-2", "checkin.scanned", "{\"person\":{\"customer_id\":\"c\"}}");
	put(&w, "pos-2", "checkin.scanned", "{\"person\":{\"loyalty_id\":\"l\",\"phone\":\"x\"}}");
	put(&w, VG_GATEWAY_DEVICE, "gateway.reconciliation", "{}");
	assert_int_equal(put_quarantine_at(w.d.st, "pos-2", "contract", T + 100, NULL), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(w.d.st, "pos-2", "contract", T + 101, "{}"), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(w.d.st, "pos-3", "json", T + 102, NULL), VG_STORE_STORED);
	add_drops(&w, "pos-3", "checkin.scanned", 4);
	add_drops(&w, "pos-3", "checkin.scanned", 5);
	add_drops(&w, "pos-1", "order.completed", 1);

	cJSON *st = vg_metrics_status(w.d.m, "running");
	assert_non_null(st);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "state")), "running");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "venue_id")), "venue-7");
	/* Device events only: not the gateway's, not pos-0's from before. */
	assert_int_equal(num(st, "ingested_since_start"), 5);
	assert_true(num(st, "identity_coverage") == 0.6);
	assert_int_equal(num(cJSON_GetObjectItem(st, "buffer"), "dropped_since_start"), 10);
	expect_device(st, "pos-1", 3, 0, 0);
	expect_device(st, "pos-2", 2, 2, 0);
	expect_device(st, "pos-3", 0, 1, 0);
	/* pos-0 is known (its last receive time, read in the background) but
	 * counted nothing since start; the gateway is not a device. */
	expect_device(st, "pos-0", 0, 0, 0);
	assert_null(device(st, VG_GATEWAY_DEVICE));
	/* Last seen: its latest input, here a quarantined one. */
	char seen[25];
	vg_time_format(T + 101, seen);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(device(st, "pos-2"), "last_seen_at")), seen);
	/* The backlog: every event is pending. */
	assert_int_equal(num(st, "pending"), 7);
	cJSON_Delete(st);

	struct vg_buf b = VG_BUF_INIT(1 << 20);
	assert_int_equal(vg_metrics_prometheus(w.d.m, &b), VG_OK);
	const char *t = vg_buf_str(&b);
	expect_line(t, "venuegw_ingested_events_total{device=\"pos-1\",type=\"checkin.scanned\"} 2");
	expect_line(t, "venuegw_ingested_events_total{device=\"pos-1\",type=\"order.completed\"} 1");
	expect_line(t, "venuegw_ingested_events_total{device=\"pos-2\",type=\"checkin.scanned\"} 2");
	/* The gateway's own events are ingested (by type) but not device events. */
	expect_line(t, "venuegw_ingested_events_total{device=\"_gateway\",type=\"gateway.reconciliation\"} 1");
	expect_no(t, "_total{device=\"pos-0\"");
	expect_line(t, "venuegw_quarantined_inputs_total{device=\"pos-2\",reason=\"contract\"} 2");
	expect_line(t, "venuegw_quarantined_inputs_total{device=\"pos-3\",reason=\"json\"} 1");
	expect_line(t, "venuegw_dropped_events_total{device=\"pos-3\",type=\"checkin.scanned\"} 9");
	expect_line(t, "venuegw_dropped_events_total{device=\"pos-1\",type=\"order.completed\"} 1");
	expect_line(t, "venuegw_identity_events_total{identity=\"identified\"} 3");
	expect_line(t, "venuegw_identity_events_total{identity=\"anonymous\"} 2");
	expect_line(t, "venuegw_identity_coverage_ratio 0.6000");
	expect_line(t, "venuegw_backlog_events 7");
	free(b.p);

	/* Read once: asking again counts nothing twice. */
	put(&w, "pos-2", "checkin.scanned", "{}");
	st = vg_metrics_status(w.d.m, "running");
	assert_int_equal(num(st, "ingested_since_start"), 6);
	expect_device(st, "pos-1", 3, 0, 0);
	expect_device(st, "pos-2", 3, 2, 0);
	assert_int_equal(num(cJSON_GetObjectItem(st, "buffer"), "dropped_since_start"), 10);
	cJSON_Delete(st);
	daemon_world_close(&w.d);
}

/* Seq gaps per device: numbers skipped are counted, a late one fills a gap
 * counted before, a device that restarts its count is not a gap. */
static void counts_seq_gaps(void **state)
{
	struct world w = { .n = 0 };
	daemon_world_open(&w.d, *state);
	daemon_metrics_open(&w.d);
	static const int seqs[] = { 1, 2, 5, 4, 6, 9 };
	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
		char body[32];
		snprintf(body, sizeof body, "{\"seq\":%d}", seqs[i]);
		put(&w, "pos-1", "checkin.scanned", body);
	}
	put(&w, "pos-2", "checkin.scanned", "{\"seq\":7}");
	put(&w, "pos-2", "checkin.scanned", "{}");            /* no seq: no gap told */
	put(&w, "pos-2", "checkin.scanned", "{\"seq\":8}");
	cJSON *st = vg_metrics_status(w.d.m, "running");
	/* pos-1: 3 and 4 missing after 5, 4 came late, 7 and 8 missing after 9. */
	expect_device(st, "pos-1", 6, 0, 3);
	expect_device(st, "pos-2", 3, 0, 0);
	cJSON_Delete(st);

	/* pos-1 restarts at 1 (far below its last seq): a new count, no gap. */
	put(&w, "pos-1", "checkin.scanned", "{\"seq\":5000}");
	put(&w, "pos-1", "checkin.scanned", "{\"seq\":1}");
	put(&w, "pos-1", "checkin.scanned", "{\"seq\":2}");
	st = vg_metrics_status(w.d.m, "running");
	expect_device(st, "pos-1", 9, 0, 3 + 4990);
	cJSON_Delete(st);
	daemon_world_close(&w.d);
}

static int take_all_rows(void *ud, const struct vg_store_row *row)
{
	(void)ud, (void)row;
	return VG_STORE_ROW_TAKE;
}

/* A forwarded event's key row (moved, its body gone) is not an event again:
 * counted once, when it was read. */
static void a_forwarded_key_row_is_not_counted_again(void **state)
{
	struct world w = { .n = 0 };
	daemon_world_open(&w.d, *state);
	daemon_metrics_open(&w.d);
	put(&w, "pos-1", "checkin.scanned", "{\"seq\":1,\"person\":{\"email\":\"tok\"}}");
	cJSON *st = vg_metrics_status(w.d.m, "running");
	assert_int_equal(num(st, "ingested_since_start"), 1);
	cJSON_Delete(st);

	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(w.d.st, 10, VG_PRIO_LOW, T, take_all_rows, NULL, &batch), VG_OK);
	assert_int_equal(vg_store_batch_done(w.d.st, batch, T + 10), VG_OK);
	put(&w, "pos-1", "checkin.scanned", "{\"seq\":2}");
	st = vg_metrics_status(w.d.m, "running");
	assert_int_equal(num(st, "ingested_since_start"), 2);
	expect_device(st, "pos-1", 2, 0, 0);
	assert_true(num(st, "identity_coverage") == 0.5);
	assert_int_equal(num(st, "pending"), 1);
	cJSON_Delete(st);
	struct vg_buf b = VG_BUF_INIT(1 << 20);
	assert_int_equal(vg_metrics_prometheus(w.d.m, &b), VG_OK);
	expect_line(vg_buf_str(&b), "venuegw_identity_events_total{identity=\"unknown\"} 0");
	expect_line(vg_buf_str(&b), "venuegw_ingested_events_total{device=\"pos-1\",type=\"checkin.scanned\"} 2");
	free(b.p);
	daemon_world_close(&w.d);
}

struct tick_wait {
	struct vg_timer t;
	struct world *w;
	int64_t deadline;
	int reached;
};

/* pos-1's quarantined count reached 3 (the flood counters are read on the
 * second's tick, not on a scrape). */
static void on_check(struct vg_timer *t)
{
	struct tick_wait *tw = vg_container_of(t, struct tick_wait, t);
	cJSON *st = vg_metrics_status(tw->w->d.m, "running");
	const cJSON *d = device(st, "pos-1");
	tw->reached = d && num(d, "quarantined_since_start") >= 3;
	cJSON_Delete(st);
	if (tw->reached || vg_now_ms() > tw->deadline)
		vg_loop_stop(&tw->w->d.loop);
	else
		vg_loop_timer(&tw->w->d.loop, &tw->t, vg_now_ms() + 10);
}

/* Inputs only counted in a flood (quarantine_overflow): what grew since
 * start, per device and reason; and the rates over the seconds' samples. */
static void the_flood_counters_and_the_rates_on_the_tick(void **state)
{
	struct world w = { .n = 0 };
	daemon_world_open(&w.d, *state);
	raw_exec(w.d.f->db, "INSERT INTO quarantine_overflow(device_id, reason, count, first_ms, last_ms)"
	                    " VALUES ('pos-1', 'flood', 7, 0, 0)");
	daemon_metrics_open(&w.d);
	raw_exec(w.d.f->db, "UPDATE quarantine_overflow SET count = 10 WHERE device_id = 'pos-1';"
	                    " INSERT INTO quarantine_overflow(device_id, reason, count, first_ms, last_ms)"
	                    " VALUES ('pos-2', 'flood', 4, 0, 0)");
	for (int i = 0; i < 5; i++)
		put(&w, "pos-3", "checkin.scanned", "{}");
	/* Not before the tick. */
	cJSON *st = vg_metrics_status(w.d.m, "running");
	assert_null(device(st, "pos-2"));
	cJSON_Delete(st);

	struct tick_wait tw = { .t.cb = on_check, .w = &w, .deadline = vg_now_ms() + 3000 };
	vg_loop_timer(&w.d.loop, &tw.t, vg_now_ms() + 10);
	assert_int_equal(vg_loop_run(&w.d.loop), VG_OK);
	assert_true(tw.reached);
	vg_loop_cancel(&w.d.loop, &tw.t);

	st = vg_metrics_status(w.d.m, "running");
	expect_device(st, "pos-1", 0, 3, 0);
	/* Two samples a second apart: 5 events over about a second. */
	const cJSON *r = cJSON_GetObjectItem(st, "rates");
	double window = num(r, "window_s"), rate = num(r, "ingest_per_s");
	assert_true(window >= 0.9 && window < 3);
	assert_true(rate > 5 / 3.0 - 0.01 && rate <= 5 / 0.9 + 0.01);
	assert_true(num(r, "forward_per_s") == 0);
	cJSON_Delete(st);
	struct vg_buf b = VG_BUF_INIT(1 << 20);
	assert_int_equal(vg_metrics_prometheus(w.d.m, &b), VG_OK);
	expect_line(vg_buf_str(&b), "venuegw_quarantined_inputs_total{device=\"pos-1\",reason=\"flood\"} 3");
	expect_line(vg_buf_str(&b), "venuegw_quarantined_inputs_total{device=\"pos-2\",reason=\"flood\"} 4");
	free(b.p);
	daemon_world_close(&w.d);
}

/* The status page renders the same counters. */
static void the_page_renders(void **state)
{
	struct world w = { .n = 0 };
	daemon_world_open(&w.d, *state);
	daemon_metrics_open(&w.d);
	put(&w, "pos-<1>", "checkin.scanned", "{}");
	struct vg_buf b = VG_BUF_INIT(1 << 20);
	assert_int_equal(vg_metrics_page(w.d.m, &b), VG_OK);
	const char *t = vg_buf_str(&b);
	assert_non_null(strstr(t, "<html"));
	assert_non_null(strstr(t, "venue-7"));
	assert_non_null(strstr(t, "pos-&lt;1&gt;"));
	assert_null(strstr(t, "pos-<1>"));
	free(b.p);
	daemon_world_close(&w.d);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(counts_rows_committed_since_start, setup, teardown),
		cmocka_unit_test_setup_teardown(counts_seq_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(a_forwarded_key_row_is_not_counted_again, setup, teardown),
		cmocka_unit_test_setup_teardown(the_flood_counters_and_the_rates_on_the_tick, setup, teardown),
		cmocka_unit_test_setup_teardown(the_page_renders, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
