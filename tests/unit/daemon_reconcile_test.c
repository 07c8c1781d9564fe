/* Unit tests for firmware/daemon/reconcile.c: the gateway.reconciliation
 * event of a window, stored in a real buffer.db holding events committed,
 * forwarded, quarantined and dropped in and around it; its key (made from
 * the window) stores a window once. */
#include "store_fixture.h"

#include <cjson/cJSON.h>

#include "config.h"
#include "event.h"
#include "log.h"
#include "reconcile.h"

#define HOUR_MS 3600000LL
/* An hour's start (Unix ms); the window under test is [T0, T0 + 1 h). */
#define T0 1795881600000LL

static void config(struct vg_config *cfg)
{
	vg_config_defaults(cfg);
	snprintf(cfg->venue_id, sizeof cfg->venue_id, "venue-7");
	cfg->reconciliation_interval_s = 3600;
}

/* Claim up to n pending events (commit order) and mark them forwarded at at_ms. */
struct upto {
	int n;
};
static int take_upto(void *ud, const struct vg_store_row *row)
{
	(void)row;
	struct upto *u = ud;
	if (u->n == 0)
		return VG_STORE_ROW_STOP;
	u->n--;
	return VG_STORE_ROW_TAKE;
}
static void forward_first(struct vg_store *s, int n, int64_t at_ms)
{
	struct upto u = { n };
	long long batch = 0;
	assert_int_equal(vg_store_batch_claim(s, 100, VG_PRIO_LOW, at_ms, take_upto, &u, &batch), VG_OK);
	assert_true(batch > 0);
	assert_int_equal(vg_store_batch_done(s, batch, at_ms), VG_OK);
}

/* The stored reconciliation events, oldest first: the body of the i-th. */
static cJSON *recon_body(const char *db, int i)
{
	char sql[160], body[4096];
	snprintf(sql, sizeof sql,
	         "SELECT body FROM events WHERE type = 'gateway.reconciliation' ORDER BY id LIMIT 1 OFFSET %d", i);
	raw_text(db, sql, body, sizeof body);
	cJSON *o = cJSON_Parse(body);
	if (!o)
		fail_msg("not JSON: %s", body);
	return o;
}

static long long recon_count(const char *db)
{
	return raw_int(db, "SELECT count(*) FROM events WHERE type = 'gateway.reconciliation'");
}

static void expect_device(const cJSON *devices, int i, const char *id, int committed, int forwarded,
                          int quarantined, int dropped)
{
	const cJSON *d = cJSON_GetArrayItem(devices, i);
	assert_non_null(d);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "device_id")), id);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "committed")), committed);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "forwarded")), forwarded);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "quarantined")), quarantined);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "dropped")), dropped);
}

static const char *prop_str(const cJSON *ev, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "properties"), name));
}

/* Per device, what happened in the window, and only that: rows before the
 * window or at its end, and the gateway's own events, are left out. */
static void counts_the_window_per_device(void **state)
{
	struct fixture *f = *state;
	struct vg_config cfg;
	config(&cfg);
	struct vg_store *s = open_store(f->db, 1, 0);

	/* pos-1: one event before the window, three in it, one at its end (the
	 * next window's); the first two in commit order are forwarded in the window. */
	assert_int_equal(put_at(s, "a0", "pos-1", VG_PRIO_NORMAL, T0 - 1, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "a1", "pos-1", VG_PRIO_NORMAL, T0, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "a2", "pos-1", VG_PRIO_NORMAL, T0 + 1000, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "a3", "pos-1", VG_PRIO_NORMAL, T0 + HOUR_MS - 1, "{}"), VG_STORE_STORED);
	assert_int_equal(put_at(s, "a4", "pos-1", VG_PRIO_NORMAL, T0 + HOUR_MS, "{}"), VG_STORE_STORED);
	forward_first(s, 2, T0 + 2000);
	/* pos-2: two inputs quarantined in the window, one before it. */
	assert_int_equal(put_quarantine_at(s, "pos-2", "contract", T0 + 10, NULL), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-2", "json", T0 + 20, "{}"), VG_STORE_STORED);
	assert_int_equal(put_quarantine_at(s, "pos-2", "json", T0 - 20, NULL), VG_STORE_STORED);
	/* pos-3: events dropped at the disk cap — 4 received and dropped in the
	 * window, 5 received before it and dropped in it, 6 received in it and
	 * dropped at its end (the next window's drops). */
	char sql[512];
	snprintf(sql, sizeof sql,
	         "INSERT INTO drops(device_id, type, received_at_ms, dropped_at_ms, count) VALUES"
	         " ('pos-3', 't', %lld, %lld, 4), ('pos-3', 't', %lld, %lld, 5), ('pos-3', 't', %lld, %lld, 6)",
	         T0 + 10000, T0 + 20000, T0 - 10000, T0 + 30000, T0 + 40000, T0 + HOUR_MS);
	raw_exec(f->db, sql);
	/* The gateway's own event in the window is not a device's. */
	assert_int_equal(put_at(s, "g1", VG_GATEWAY_DEVICE, VG_PRIO_NORMAL, T0 + 5, "{}"), VG_STORE_STORED);

	vg_reconcile(s, &cfg, T0 + HOUR_MS);
	assert_int_equal(recon_count(f->db), 1);
	cJSON *ev = recon_body(f->db, 0);
	char from[25], to[25], id[64];
	vg_time_format(T0, from);
	vg_time_format(T0 + HOUR_MS, to);
	snprintf(id, sizeof id, "reconciliation:%s", from);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "id")), id);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type")), "gateway.reconciliation");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "occurred_at")), to);
	assert_string_equal(prop_str(ev, "window_start"), from);
	assert_string_equal(prop_str(ev, "window_end"), to);
	cJSON *props = cJSON_GetObjectItem(ev, "properties");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(props, "interval_s")), 3600);
	cJSON *devices = cJSON_GetObjectItem(props, "devices");
	assert_int_equal(cJSON_GetArraySize(devices), 3);
	expect_device(devices, 0, "pos-1", 3, 2, 0, 0);
	expect_device(devices, 1, "pos-2", 2, 0, 2, 0);
	expect_device(devices, 2, "pos-3", 10, 0, 0, 9);
	cJSON_Delete(ev);

	/* Stored as the gateway's, normal priority, pending, keyed by the window. */
	char key[VG_EVENT_KEY_LEN + 1], got[128];
	vg_event_key(cfg.venue_id, VG_GATEWAY_DEVICE, "id", id, strlen(id), key);
	raw_text(f->db, "SELECT event_key || ' ' || device_id || ' ' || priority || ' ' || (id IN (SELECT id FROM inflight)) FROM events"
	                " WHERE type = 'gateway.reconciliation'", got, sizeof got);
	char want[128];
	snprintf(want, sizeof want, "%s %s 1 0", key, VG_GATEWAY_DEVICE);
	assert_string_equal(got, want);
	vg_store_close(s);
}

/* A window is stored once: reconciling it again (a restart) keeps the first
 * event as it was, even when its counts would now differ; the next window is
 * a new event, which does not count the first (the gateway's own). */
static void a_window_is_stored_once(void **state)
{
	struct fixture *f = *state;
	struct vg_config cfg;
	config(&cfg);
	struct vg_store *s = open_store(f->db, 1, 0);
	assert_int_equal(put_at(s, "b1", "pos-1", VG_PRIO_NORMAL, T0 + 1, "{}"), VG_STORE_STORED);
	vg_reconcile(s, &cfg, T0 + HOUR_MS);
	assert_int_equal(recon_count(f->db), 1);
	char first[4096];
	raw_text(f->db, "SELECT body FROM events WHERE type = 'gateway.reconciliation'", first, sizeof first);

	assert_int_equal(put_at(s, "b2", "pos-1", VG_PRIO_NORMAL, T0 + 2, "{}"), VG_STORE_STORED);
	vg_reconcile(s, &cfg, T0 + HOUR_MS);
	assert_int_equal(recon_count(f->db), 1);
	char again[4096];
	raw_text(f->db, "SELECT body FROM events WHERE type = 'gateway.reconciliation'", again, sizeof again);
	assert_string_equal(again, first);

	/* The next window: nothing of a device's in it, so no devices, but stored. */
	vg_reconcile(s, &cfg, T0 + 2 * HOUR_MS);
	assert_int_equal(recon_count(f->db), 2);
	cJSON *ev = recon_body(f->db, 1);
	char from[25];
	vg_time_format(T0 + HOUR_MS, from);
	assert_string_equal(prop_str(ev, "window_start"), from);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "properties"), "devices")), 0);
	cJSON_Delete(ev);

	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(counts_the_window_per_device, setup, teardown),
		cmocka_unit_test_setup_teardown(a_window_is_stored_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
