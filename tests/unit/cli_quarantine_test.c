/* Unit tests for firmware/cli/quarantine.c (`venuegw quarantine`) on a real
 * buffer.db: list and show filter and print the metadata (and a held row's
 * tokenized body on show only, never raw input); retry passes a held row
 * through the capture commit again — accepted rows become pending events and
 * leave the quarantine in the same transaction, a row rejected again keeps
 * its row with the new reason, metadata and device_mismatch rows cannot be
 * retried, --dry-run changes nothing, a suppressed person's row is removed
 * without being stored, and an ID not in the quarantine changes nothing. */
#include "cli_fixture.h"

#include <cjson/cJSON.h>

#include "contract.h"
#include "digest.h"
#include "event.h"
#include "keys.h"
#include "pii.h"
#include "store_capture.h"
#include "store_erasure.h"

#define T0 1795885392123LL   /* 2026-11-28, about when the rows came in */

/* One quarantine row (body NULL: metadata only), its id. */
static long long put_q(struct cli_fx *f, const char *device, const char *reason, const char *event_key,
                       const char *body)
{
	struct vg_store *st = cli_store(f);
	struct vg_store_quarantine q = {
		.received_at_ms = T0, .device_id = device, .topic = "venue/v1/x/events", .size = 42,
		.reason = reason, .field = body ? "occurred_at" : "", .detail = "a detail", .error_offset = body ? -1 : 7,
		.digest = "dg-1", .event_key = event_key, .body = body, .body_len = body ? strlen(body) : 0,
	};
	assert_true(put_in_txn(st, NULL, &q) >= 0);
	vg_store_close(st);
	return raw_int(f->db, "SELECT max(id) FROM quarantine");
}

static char email_token[VG_TOKEN_MAX];
static char tz_key[VG_EVENT_KEY_LEN + 1];

/* The tokenized body of a class.attended event whose time has no offset (so
 * it is bad_time without [gateway] timezone), as capture held it.  It has no
 * id: its key on arrival was the hash of the raw bytes, which the stored
 * (tokenized) body no longer gives — retry must keep the row's key. */
static const char *tz_body(struct cli_fx *f)
{
	static char body[512];
	struct vg_keyring kr;
	char err[300];
	assert_int_equal(vg_keyring_load(&kr, f->keys, err, sizeof err), VG_OK);
	assert_true(vg_pii_identity_token(&kr.keys[0], "email", "retry.me@example.com", 20, 49, email_token, NULL, 0) > 0);
	vg_keyring_wipe(&kr);
	snprintf(body, sizeof body,
	         "{\"type\":\"class.attended\",\"occurred_at\":\"2026-11-28T18:03:12\","
	         "\"person\":{\"email\":\"%s\",\"customer_id\":\"MB-7\"},\"properties\":{\"class_id\":\"spin\"}}",
	         email_token);
	uint8_t raw_hash[32];
	vg_sha256("the raw bytes", 13, raw_hash);
	vg_event_key("test-venue", "pos-1", "body", raw_hash, sizeof raw_hash, tz_key);
	return body;
}

/* A held bad_time row, a second of the same event, a metadata row, a
 * device_mismatch row: their ids in id[0..4). */
static void fill(struct cli_fx *f, long long id[4])
{
	const char *body = tz_body(f);
	id[0] = put_q(f, "pos-1", "bad_time", tz_key, body);
	id[1] = put_q(f, "pos-1", "bad_time", tz_key, body);
	id[2] = put_q(f, "kiosk-1", "bad_json", "", NULL);
	id[3] = put_q(f, "pos-2", "device_mismatch", "", "{\"id\":\"mm-1\",\"type\":\"device.status\"}");
}

static long long events_with_key(struct cli_fx *f, const char *key)
{
	char sql[120];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE event_key = '%s'", key);
	return raw_int(f->db, sql);
}

static void list_filters_and_counts(void **state)
{
	struct cli_fx *f = *state;
	long long id[4];
	fill(f, id);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list"), VG_EXIT_OK);
	assert_out_has(f, "received (UTC)");
	assert_out_has(f, "(4 shown; in all 3 held, 1 metadata only)");
	assert_out_has(f, "2026-11-28T");
	assert_out_has(f, "field=occurred_at");
	assert_out_has(f, "offset=7 size=42  a detail");
	/* list never prints a body, not even its tokens. */
	assert_null(strstr(f->out, email_token));
	assert_null(strstr(f->out, "MB-7"));
	/* Newest first. */
	char line[64];
	snprintf(line, sizeof line, "\n%-6lld ", id[3]);
	const char *newest = strstr(f->out, line);
	snprintf(line, sizeof line, "\n%-6lld ", id[0]);
	const char *oldest = strstr(f->out, line);
	assert_non_null(newest);
	assert_non_null(oldest);
	assert_true(newest < oldest);

	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--reason", "bad_time"), VG_EXIT_OK);
	assert_out_has(f, "(2 shown;");
	assert_null(strstr(f->out, "bad_json"));
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--state", "metadata"), VG_EXIT_OK);
	assert_out_has(f, "(1 shown;");
	assert_out_has(f, "kiosk-1");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--device", "pos-2"), VG_EXIT_OK);
	assert_out_has(f, "(1 shown;");
	assert_out_has(f, "device_mismatch");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--limit", "1"), VG_EXIT_OK);
	assert_out_has(f, "(1 shown;");
	/* A reason venuegw never gives is probably a typo: said so. */
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--reason", "bad-time"), VG_EXIT_OK);
	assert_out_has(f, "(0 shown;");
	assert_err_has(f, "not a reason venuegw gives");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--reason", "bad_json", "--device", "pos-1"),
	            VG_EXIT_OK);
	assert_out_has(f, "(0 shown;");
	assert_string_equal(f->err, "");

	/* --json: the same entries as data, the counts beside them. */
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--json"), VG_EXIT_OK);
	cJSON *o = cJSON_Parse(f->out);
	assert_non_null(o);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "entries")), 4);
	assert_int_equal(cJSON_GetObjectItem(o, "held")->valueint, 3);
	assert_int_equal(cJSON_GetObjectItem(o, "metadata")->valueint, 1);
	const cJSON *e;
	int retryable = 0;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "entries")) {
		assert_null(cJSON_GetObjectItem(e, "body"));
		retryable += cJSON_IsTrue(cJSON_GetObjectItem(e, "retryable"));
		if ((long long)cJSON_GetObjectItem(e, "id")->valuedouble == id[0]) {
			assert_string_equal(cJSON_GetObjectItem(e, "event_key")->valuestring, tz_key);
			assert_string_equal(cJSON_GetObjectItem(e, "state")->valuestring, "held");
			assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "error_offset")));
		}
	}
	assert_int_equal(retryable, 3);
	cJSON_Delete(o);
}

static void list_refuses_bad_arguments(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--limit", "0"), VG_EXIT_USAGE);
	assert_err_has(f, "--limit takes 1..1000000, got '0'");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--limit", "5x"), VG_EXIT_USAGE);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--state", "kept"), VG_EXIT_USAGE);
	assert_err_has(f, "--state takes held or metadata");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list", "--reason"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown argument '--reason' (or a value is missing)");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "purge"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown sub-command 'purge'");
	/* The verb's help, not "Try ...": its entry says so. */
	assert_err_has(f, "Usage: venuegw quarantine list");
	char *none[] = { NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_quarantine, NULL, none), VG_EXIT_USAGE);
	assert_err_has(f, "expected list, show or retry");
	/* No buffer.db: exit 1. */
	assert_int_equal(unlink(f->db), 0);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "list"), VG_EXIT_FAIL);
	assert_err_has(f, "buffer.db");
}

static void show_prints_one_entry(void **state)
{
	struct cli_fx *f = *state;
	long long id[4];
	fill(f, id);
	char arg[24];
	snprintf(arg, sizeof arg, "%lld", id[0]);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "show", arg), VG_EXIT_OK);
	assert_out_has(f, "state         held\n");
	assert_out_has(f, "reason        bad_time\n");
	assert_out_has(f, "field         occurred_at\n");
	assert_out_has(f, "error offset  -\n");
	assert_out_has(f, "device        pos-1\n");
	assert_out_has(f, "size          42 bytes\n");
	assert_out_has(f, "digest        dg-1\n");
	assert_out_has(f, tz_key);
	/* The tokenized body, pretty-printed: the token, never the address. */
	assert_out_has(f, "venuegw quarantine retry");
	assert_out_has(f, email_token);
	assert_out_has(f, "\t\"properties\":");
	assert_null(strstr(f->out, "retry.me@"));

	snprintf(arg, sizeof arg, "%lld", id[2]);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "show", arg), VG_EXIT_OK);
	assert_out_has(f, "state         metadata\n");
	assert_out_has(f, "field         -\n");
	assert_out_has(f, "error offset  7\n");
	assert_out_has(f, "event key     -\n");
	assert_out_has(f, "body          none: the input did not decode");

	snprintf(arg, sizeof arg, "%lld", id[0]);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "show", "--json", arg), VG_EXIT_OK);
	cJSON *o = cJSON_Parse(f->out);
	assert_non_null(o);
	const cJSON *body = cJSON_GetObjectItem(o, "body");
	assert_true(cJSON_IsObject(body));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "person"), "email")->valuestring, email_token);
	assert_string_equal(cJSON_GetObjectItem(o, "reason")->valuestring, "bad_time");
	cJSON_Delete(o);

	/* An id not there (exit 2), not an id, none, two. */
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "show", "999"), VG_EXIT_USAGE);
	assert_err_has(f, "no entry 999 in the quarantine");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "show", "0"), VG_EXIT_USAGE);
	assert_err_has(f, "'0' is not an entry id");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "show", "--json"), VG_EXIT_USAGE);
	assert_err_has(f, "expected an entry ID");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "show", "1", "2"), VG_EXIT_USAGE);
	assert_err_has(f, "unexpected argument '2'");
}

/* Without a timezone the held row is rejected again and keeps its row; with
 * one a dry run changes nothing, then the retry stores the event once (the
 * second row is its duplicate) and removes both rows. */
static void retry_after_a_timezone_fix(void **state)
{
	struct cli_fx *f = *state;
	long long id[4];
	fill(f, id);
	raw_exec(f->db, "UPDATE quarantine SET reason = 'contract' WHERE id = 1");
	char arg[24];
	snprintf(arg, sizeof arg, "%lld", id[0]);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", arg), VG_EXIT_OK);
	char want[120];
	snprintf(want, sizeof want, "%-6lld rejected       bad_time field=occurred_at", id[0]);
	assert_out_has(f, want);
	assert_out_has(f, "1 asked: 1 retried, 0 accepted (0 of them already stored), 1 still rejected");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 4);
	/* Its new reason is recorded. */
	char reason[32];
	raw_text(f->db, "SELECT reason FROM quarantine WHERE id = 1", reason, sizeof reason);
	assert_string_equal(reason, "bad_time");
	assert_int_equal(events_with_key(f, tz_key), 0);

	/* The fix: [gateway] timezone. */
	cli_config_gw(f, "timezone = Europe/Berlin\n", NULL);

	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--reason", "bad_time", "--dry-run"), VG_EXIT_OK);
	assert_out_has(f, "dry run: nothing is changed");
	assert_out_has(f, "dry run: 2 asked: 2 retried, 2 accepted");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 4);
	assert_int_equal(events_with_key(f, tz_key), 0);

	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--reason", "bad_time"), VG_EXIT_OK);
	snprintf(want, sizeof want, "%-6lld accepted       event %s, type class.attended", id[0], tz_key);
	assert_out_has(f, want);
	snprintf(want, sizeof want, "%-6lld duplicate      event %s", id[1], tz_key);
	assert_out_has(f, want);
	assert_out_has(f, "2 asked: 2 retried, 2 accepted (1 of them already stored), 0 still rejected");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine WHERE reason = 'bad_time'"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 2);
	/* One pending event, its body still the token (not tokenized twice). */
	assert_int_equal(events_with_key(f, tz_key), 1);
	char sql[200], body[600];
	snprintf(sql, sizeof sql, "SELECT (id IN (SELECT id FROM inflight)) FROM events WHERE event_key = '%s'", tz_key);
	assert_int_equal(raw_int(f->db, sql), 0);
	snprintf(sql, sizeof sql, "SELECT body FROM events WHERE event_key = '%s'", tz_key);
	raw_text(f->db, sql, body, sizeof body);
	snprintf(want, sizeof want, "\"email\":\"%s\"", email_token);
	assert_non_null(strstr(body, want));
	assert_non_null(strstr(body, "MB-7"));

	/* A retried id is gone: naming it is exit 2 and changes nothing else. */
	char other[24];
	snprintf(other, sizeof other, "%lld", id[3]);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", other, arg), VG_EXIT_USAGE);
	snprintf(want, sizeof want, "no entry %lld in the quarantine", id[0]);
	assert_err_has(f, want);
	assert_err_has(f, "nothing was retried");
	assert_string_equal(f->out, "");
}

/* --all: metadata and device_mismatch rows cannot be retried and stay. */
static void retry_all_keeps_what_cannot_be_retried(void **state)
{
	struct cli_fx *f = *state;
	long long id[4];
	fill(f, id);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--all"), VG_EXIT_OK);
	char want[120];
	snprintf(want, sizeof want, "%-6lld not retryable  bad_json: metadata only", id[2]);
	assert_out_has(f, want);
	snprintf(want, sizeof want, "%-6lld not retryable  device_mismatch:", id[3]);
	assert_out_has(f, want);
	assert_out_has(f, "4 asked: 2 retried, 0 accepted (0 of them already stored), 2 still rejected, 2 not retryable");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 4);
	/* --device narrows --all. */
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--all", "--device", "kiosk-1"), VG_EXIT_OK);
	assert_out_has(f, "1 asked:");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--reason", "contract"), VG_EXIT_OK);
	assert_out_has(f, "no quarantine entries with reason contract");
	assert_out_has(f, "0 asked:");
}

/* A forgotten person's held row is removed, not stored. */
static void retry_of_a_suppressed_person_removes_the_row(void **state)
{
	struct cli_fx *f = *state;
	const char *body = tz_body(f);
	long long id = put_q(f, "pos-1", "bad_time", tz_key, body);
	struct vg_store *st = cli_store(f);
	const char *toks[1] = { email_token };
	assert_int_equal(vg_store_suppress(st, toks, 1, ",1,", T0), VG_OK);
	vg_store_close(st);
	char arg[24];
	cli_config_gw(f, "timezone = Europe/Berlin\n", NULL);
	snprintf(arg, sizeof arg, "%lld", id);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", arg), VG_EXIT_OK);
	assert_out_has(f, "suppressed     the person was forgotten");
	assert_out_has(f, "1 suppressed (forgotten person)");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 0);
	assert_int_equal(events_with_key(f, tz_key), 0);
}

static void retry_refuses_bad_arguments(void **state)
{
	struct cli_fx *f = *state;
	long long id[4];
	fill(f, id);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry"), VG_EXIT_USAGE);
	assert_err_has(f, "exactly one of them");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "1", "--all"), VG_EXIT_USAGE);
	assert_err_has(f, "exactly one of them");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--all", "--reason", "bad_time"), VG_EXIT_USAGE);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "1", "--device", "pos-1"), VG_EXIT_USAGE);
	assert_err_has(f, "--device selects with --reason or --all, not with IDs");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "x1"), VG_EXIT_USAGE);
	assert_err_has(f, "'x1' is not an entry id");
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--force"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown argument '--force'");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 4);
	/* The key file cannot be read: exit 1, nothing retried. */
	assert_int_equal(unlink(f->keys), 0);
	assert_code(f, cli_run(f, vg_cmd_quarantine, NULL, "retry", "--all"), VG_EXIT_FAIL);
	assert_err_has(f, f->keys);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM quarantine"), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(list_filters_and_counts, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(list_refuses_bad_arguments, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(show_prints_one_entry, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(retry_after_a_timezone_fix, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(retry_all_keeps_what_cannot_be_retried, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(retry_of_a_suppressed_person_removes_the_row, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(retry_refuses_bad_arguments, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
