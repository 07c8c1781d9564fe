/* Unit tests for firmware/cli/status.c (`venuegw status`): the rendering, as
 * text and as JSON, of a real buffer.db (backlog, oldest unforwarded event,
 * quarantine, devices, undeclared members) joined with the daemon's
 * data_dir/status.json (rates, the CDP, alarms, ports, devices only the
 * daemon knows and their sequence gaps); the plan and privacy lines; exit
 * statuses. */
#include "cli_fixture.h"

#include <cjson/cJSON.h>

#include "contract.h"

#define T0 1795885392123LL   /* 2026-11-28T17:03:12.123Z */

static const char live_status[] =
	"{\"state\":\"forwarding\",\"at\":\"2026-11-28T12:30:00.000Z\","
	"\"rates\":{\"ingest_per_s\":1.25,\"forward_per_s\":0.5},"
	"\"identity_coverage\":0.375,"
	"\"cdp\":{\"last_status\":503,\"last_error\":\"HTTP 503\",\"alarm\":\"CDP failing for 10 min\","
	"\"last_success_at\":\"2026-11-28T12:00:00.000Z\","
	"\"recent_errors\":[{\"at\":\"2026-11-28T12:29:00.000Z\",\"error\":\"HTTP 503\"},"
	"{\"at\":\"2026-11-28T12:28:00.000Z\",\"error\":\"timeout\"}]},"
	"\"alarms\":[\"disk buffer 90% full\"],"
	"\"ports\":[{\"name\":\"till\",\"state\":\"down\",\"device\":\"/dev/ttyUSB0\",\"why\":\"no such file\"}],"
	"\"devices\":[{\"device_id\":\"pos-1\",\"last_seen_at\":\"2026-11-28T17:10:00.000Z\","
	"\"events_since_start\":7,\"quarantined_since_start\":1,\"seq_gaps\":2},"
	"{\"device_id\":\"pos-2\",\"last_seen_at\":\"2026-11-28T10:00:00.000Z\",\"events_since_start\":1},"
	"{\"device_id\":\"scale-9\",\"last_seen_at\":\"2026-11-28T11:00:00.000Z\",\"seq_gaps\":0}]}";

/* Three pending events of pos-1 and pos-2, the gateway's own event, two
 * quarantine rows, undeclared counts; and the daemon's status.json. */
static void fill(struct cli_fx *f, int with_live)
{
	struct vg_store *st = cli_store(f);
	assert_true(put_at(st, "a1", "pos-1", VG_PRIO_NORMAL, T0, "{}") >= 0);
	assert_true(put_at(st, "a2", "pos-1", VG_PRIO_NORMAL, T0 + 60000, "{}") >= 0);
	assert_true(put_at(st, "b1", "pos-2", VG_PRIO_NORMAL, T0 + 1000, "{}") >= 0);
	assert_true(put_at(st, "g1", "_gateway", VG_PRIO_HIGH, T0 + 2000, "{}") >= 0);
	assert_true(put_quarantine_at(st, "pos-2", "contract", T0, "{\"x\":1}") >= 0);
	assert_true(put_quarantine_at(st, "pos-2", "bad_json", T0, NULL) >= 0);
	vg_store_close(st);
	raw_exec(f->db, "INSERT INTO undeclared VALUES ('pos-1','checkin.scanned','properties.a',3,1,2),"
	                "('pos-2','checkin.scanned','properties.b',9,1,2),"
	                "('pos-1','pos.order.completed','properties.c',1,1,2)");
	if (with_live) {
		char p[160];
		snprintf(p, sizeof p, "%s/status.json", f->dir);
		cli_write(p, live_status, 0644);
	}
}

static void text_joins_buffer_and_daemon(void **state)
{
	struct cli_fx *f = *state;
	fill(f, 1);
	assert_code(f, cli_run_argv(f, vg_cmd_status, NULL, (char *[]){ NULL }), VG_EXIT_OK);
	assert_out_has(f, "venue               test-venue\n");
	assert_out_has(f, "privacy             email=token phone=token customer_id=keep loyalty_id=keep"
	                  " member_code=keep payment_customer_id=token\n");
	assert_null(strstr(f->out, "WARNING"));
	assert_out_has(f, "backlog             4 events (4 pending, 0 in flight)\n");
	assert_out_has(f, "pending events      4\nin flight           0\n");
	assert_out_has(f, "oldest unforwarded  ");
	assert_out_has(f, " old (received 2026-11-28T17:03:12.123Z)\n");
	assert_out_has(f, "forwarded (kept)    0\n");
	assert_out_has(f, "plan                " VG_DEFAULT_PLAN ": \"");
	assert_out_has(f, "unknown = drop\n");
	/* The largest undeclared counts first, the total. */
	assert_out_has(f, "undeclared          13 members dropped (most: pos-2 checkin.scanned properties.b x9,"
	                  " pos-1 checkin.scanned properties.a x3, pos-1 pos.order.completed properties.c x1)\n");
	assert_out_has(f, "quarantined         2 (1 held, 1 undecodable, 0 counted in floods)\n");
	assert_out_has(f, "MB (0%), on_full = backpressure\n");
	assert_out_has(f, "daemon              forwarding at 2026-11-28T12:30:00.000Z\n");
	assert_out_has(f, "rates               ingest 1.25/s, forward 0.50/s (last minute)\n");
	assert_out_has(f, "identity coverage   37.5 % of events");
	assert_out_has(f, "cdp                 last status 503, last error: HTTP 503, ALARM: CDP failing for 10 min\n");
	assert_out_has(f, "cdp last success    2026-11-28T12:00:00.000Z\n");
	assert_out_has(f, "cdp last error      HTTP 503 at 2026-11-28T12:29:00.000Z\n");
	assert_out_has(f, "ALARM               disk buffer 90% full\n");
	assert_out_has(f, "port till           down /dev/ttyUSB0: no such file\n");
	/* Devices: buffer.db's (not the gateway itself) joined with the daemon's;
	 * the newer last-seen time wins; seq gaps only from the daemon. */
	assert_out_has(f, "  pos-1             2026-11-28T17:10:00.000Z           2         2\n");
	assert_out_has(f, "  pos-2             2026-11-28T17:03:13.123Z           1         ?\n");
	assert_out_has(f, "  scale-9           2026-11-28T11:00:00.000Z           0         0\n");
	assert_null(strstr(f->out, "_gateway"));
	assert_string_equal(f->err, "");
}

static void json_has_the_same_figures(void **state)
{
	struct cli_fx *f = *state;
	fill(f, 1);
	assert_code(f, cli_run(f, vg_cmd_status, NULL, "--json"), VG_EXIT_OK);
	cJSON *o = cJSON_Parse(f->out);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "venue_id")->valuestring, "test-venue");
	assert_int_equal(cJSON_GetObjectItem(o, "pending")->valueint, 4);
	assert_int_equal(cJSON_GetObjectItem(o, "backlog")->valueint, 4);
	assert_int_equal(cJSON_GetObjectItem(o, "quarantined")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(o, "quarantine_held")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(o, "undeclared_dropped")->valueint, 13);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "undeclared_top")), 3);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "undeclared_top"), 0), "count")->valueint, 9);
	assert_string_equal(cJSON_GetObjectItem(o, "oldest_unforwarded_at")->valuestring, "2026-11-28T17:03:12.123Z");
	assert_true(cJSON_GetObjectItem(o, "oldest_unforwarded_age_s")->valuedouble > 0);
	assert_string_equal(cJSON_GetObjectItem(o, "daemon_state")->valuestring, "forwarding");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "cdp_failing")));
	assert_int_equal(cJSON_GetObjectItem(o, "last_cdp_status")->valueint, 503);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "last_cdp_error"), "error")->valuestring, "HTTP 503");
	assert_true(cJSON_GetObjectItem(o, "ingest_per_s")->valuedouble == 1.25);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "suppressions_warning")));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "privacy"), "customer_id")->valuestring, "keep");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "plan"), "error")));
	assert_int_equal(cJSON_GetObjectItem(o, "buffer_limit_bytes")->valuedouble, 1024.0 * 1024 * 1024);
	const cJSON *devs = cJSON_GetObjectItem(o, "devices");
	assert_int_equal(cJSON_GetArraySize(devs), 3);
	const cJSON *d;
	int seen = 0;
	cJSON_ArrayForEach(d, devs) {
		const char *id = cJSON_GetObjectItem(d, "device_id")->valuestring;
		if (strcmp(id, "pos-1") == 0) {
			seen |= 1;
			assert_int_equal(cJSON_GetObjectItem(d, "events_in_buffer")->valueint, 2);
			assert_int_equal(cJSON_GetObjectItem(d, "seq_gaps")->valueint, 2);
			assert_int_equal(cJSON_GetObjectItem(d, "events_since_start")->valueint, 7);
			assert_string_equal(cJSON_GetObjectItem(d, "last_seen_at")->valuestring, "2026-11-28T17:10:00.000Z");
		} else if (strcmp(id, "pos-2") == 0) {
			seen |= 2;
			assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "seq_gaps")));
			assert_int_equal(cJSON_GetObjectItem(d, "events_since_start")->valueint, 1);
			assert_string_equal(cJSON_GetObjectItem(d, "last_seen_at")->valuestring, "2026-11-28T17:03:13.123Z");
		} else if (strcmp(id, "scale-9") == 0) {
			seen |= 4;
			assert_int_equal(cJSON_GetObjectItem(d, "events_in_buffer")->valueint, 0);
		} else {
			fail_msg("device %s", id);
		}
	}
	assert_int_equal(seen, 7);
	cJSON_Delete(o);
}

/* No daemon status, nothing buffered, raw emails kept, a plan that does not
 * load, drop_oldest: each said. */
static void empty_buffer_without_daemon(void **state)
{
	struct cli_fx *f = *state;
	char extra[300];
	snprintf(extra, sizeof extra, "[privacy]\nemail = keep\n");
	cli_config_gw(f, "on_full = drop_oldest\n", extra);
	snprintf(f->cfg.plan_path, sizeof f->cfg.plan_path, "%s/no-plan.json", f->dir);
	assert_code(f, cli_run_argv(f, vg_cmd_status, NULL, (char *[]){ NULL }), VG_EXIT_OK);
	assert_out_has(f, "WARNING             raw emails kept in the clear by an explicit [privacy] line in ");
	assert_out_has(f, "backlog             0 events (0 pending, 0 in flight)\n");
	assert_out_has(f, "oldest unforwarded  none: everything is forwarded\n");
	assert_out_has(f, "plan                ERROR ");
	assert_out_has(f, "no-plan.json");
	assert_out_has(f, "undeclared          0 members dropped\n");
	assert_out_has(f, "on_full = drop_oldest\n");
	assert_out_has(f, "daemon              no status yet (not running?)\n");
	assert_null(strstr(f->out, "rates "));
	assert_null(strstr(f->out, "cdp "));
	assert_null(strstr(f->out, "devices "));

	assert_code(f, cli_run(f, vg_cmd_status, NULL, "--json"), VG_EXIT_OK);
	cJSON *o = cJSON_Parse(f->out);
	assert_non_null(o);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "daemon")));
	assert_string_equal(cJSON_GetObjectItem(o, "daemon_state")->valuestring, "unknown");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "oldest_unforwarded_at")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "cdp_failing")));
	assert_string_equal(cJSON_GetObjectItem(o, "on_full")->valuestring, "drop_oldest");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "privacy"), "email")->valuestring, "keep");
	assert_true(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "plan"), "error")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "devices")), 0);
	cJSON_Delete(o);
}

static void exit_statuses(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_status, NULL, "--verbose"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown argument '--verbose'");
	assert_string_equal(f->out, "");
	/* A broken status.json is no status. */
	char p[160];
	snprintf(p, sizeof p, "%s/status.json", f->dir);
	cli_write(p, "{\"state\":", 0644);
	assert_code(f, cli_run(f, vg_cmd_status, NULL, "--json"), VG_EXIT_OK);
	assert_non_null(strstr(f->out, "\"daemon\":null"));
	/* No buffer.db (the daemon never ran): exit 1, said on stderr. */
	assert_int_equal(unlink(f->db), 0);
	assert_code(f, cli_run(f, vg_cmd_status, NULL, "--json"), VG_EXIT_FAIL);
	assert_err_has(f, "buffer.db");
	assert_string_equal(f->out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(text_joins_buffer_and_daemon, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(json_has_the_same_figures, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(empty_buffer_without_daemon, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(exit_statuses, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
