/* Unit tests for firmware/cli/validate.c (`venuegw validate`): a sample event
 * from a file or standard input is judged as capture would judge it — the
 * event key (under the configured venue, or "validate" without a
 * configuration), the tokens (under the gateway's key, or a throwaway one),
 * undeclared members named, the stored form printed without raw identifiers;
 * a rejection gives the reason, field and byte offset and exit 3; the
 * command line, the file and the plan are checked (exit 2, 1). */
#include "cli_fixture.h"

#include "event.h"
#include "keys.h"
#include "pii.h"

static const char sample[] =
	"{\"id\":\"ev-1\",\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T18:03:12.123+01:00\","
	"\"person\":{\"email\":\" Ana.Lopez@Example.com \",\"customer_id\":\"MB-88121\"},"
	"\"properties\":{\"class_id\":\"spin-0900\",\"shoe_size\":44}}";

/* The email token of Ana under key. */
static void ana_token(const struct vg_key *key, char tok[VG_TOKEN_MAX])
{
	assert_true(vg_pii_identity_token(key, "email", "ana.lopez@example.com", 21, 49, tok, NULL, 0) > 0);
}

static void accepted_with_the_gateways_key(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_validate, sample, "--device", "pos-1", "-"), VG_EXIT_OK);
	char key[VG_EVENT_KEY_LEN + 1], want[300], tok[VG_TOKEN_MAX];
	vg_event_key("test-venue", "pos-1", "id", "ev-1", 4, key);
	snprintf(want, sizeof want, "accepted: type checkin.scanned, event key %s, priority 1\n", key);
	assert_out_has(f, want);
	assert_out_has(f, "dropped: properties.shoe_size (not declared by the plan)\n");
	struct vg_keyring kr;
	char err[300];
	assert_int_equal(vg_keyring_load(&kr, f->keys, err, sizeof err), VG_OK);
	ana_token(&kr.keys[0], tok);
	vg_keyring_wipe(&kr);
	snprintf(want, sizeof want, "\"email\":\"%s\"", tok);
	assert_out_has(f, "stored as: {");
	assert_out_has(f, want);
	assert_out_has(f, "\"customer_id\":\"MB-88121\"");
	assert_null(strstr(f->out, "Lopez"));
	assert_null(strstr(f->out, "lopez"));
	assert_null(strstr(f->out, "shoe_size\":"));

	/* From a file, as the default device. */
	char path[160];
	snprintf(path, sizeof path, "%s/sample.json", f->dir);
	cli_write(path, sample, 0644);
	assert_code(f, cli_run(f, vg_cmd_validate, NULL, path), VG_EXIT_OK);
	vg_event_key("test-venue", "validate", "id", "ev-1", 4, key);
	snprintf(want, sizeof want, "event key %s,", key);
	assert_out_has(f, want);
}

/* No configuration: the venue "validate" and a throwaway key. */
static void without_a_configuration(void **state)
{
	struct cli_fx *f = *state;
	char *argv[] = { "--plan", VG_DEFAULT_PLAN, "-", NULL };
	assert_code(f, cli_run_cfg(f, NULL, vg_cmd_validate, sample, argv), VG_EXIT_OK);
	char key[VG_EVENT_KEY_LEN + 1], want[200], tok[VG_TOKEN_MAX];
	vg_event_key("validate", "validate", "id", "ev-1", 4, key);
	snprintf(want, sizeof want, "event key %s,", key);
	assert_out_has(f, want);
	struct vg_key zero = { .version = 1 };
	ana_token(&zero, tok);
	assert_out_has(f, tok);
}

static void rejected_is_exit_3(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_validate, "{\"id\":\"x\",\"type\":", "-"), VG_EXIT_REJECTED);
	assert_out_has(f, "rejected: bad_json at byte ");
	assert_null(strstr(f->out, "stored as"));
	assert_code(f, cli_run(f, vg_cmd_validate, "{\"id\":\"x\",\"type\":\"no.such.type\","
	                       "\"occurred_at\":\"2026-11-28T18:03:12Z\"}", "-"), VG_EXIT_REJECTED);
	assert_out_has(f, "rejected: unknown_type (field type): not a type of the tracking plan\n");
	/* Without an offset the timezone is needed: bad_time, field occurred_at. */
	assert_code(f, cli_run(f, vg_cmd_validate, "{\"id\":\"x\",\"type\":\"checkin.scanned\","
	                       "\"occurred_at\":\"2026-11-28T18:03:12\",\"person\":{\"customer_id\":\"C1\"}}", "-"),
	            VG_EXIT_REJECTED);
	assert_out_has(f, "rejected: bad_time (field occurred_at)");
	/* What quarantine would hold: the tokenized body. */
	assert_out_has(f, "stored as: {\"id\":\"x\"");
	cli_config_gw(f, "timezone = Europe/Berlin\n", NULL);
	assert_code(f, cli_run(f, vg_cmd_validate, "{\"id\":\"x\",\"type\":\"checkin.scanned\","
	                       "\"occurred_at\":\"2026-11-28T18:03:12\",\"person\":{\"customer_id\":\"C1\"}}", "-"),
	            VG_EXIT_OK);
	assert_out_has(f, "flag: timestamp_assumed_tz\n");
}

static void command_line_file_and_plan(void **state)
{
	struct cli_fx *f = *state;
	char *none[] = { NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_validate, sample, none), VG_EXIT_USAGE);
	assert_err_has(f, "expected FILE (or - for standard input)");
	assert_code(f, cli_run(f, vg_cmd_validate, sample, "a.json", "b.json"), VG_EXIT_USAGE);
	assert_err_has(f, "unexpected argument 'b.json'");
	char path[160];
	snprintf(path, sizeof path, "%s/missing.json", f->dir);
	assert_code(f, cli_run(f, vg_cmd_validate, NULL, path), VG_EXIT_FAIL);
	assert_err_has(f, "missing.json");
	snprintf(path, sizeof path, "%s/no-plan.json", f->dir);
	assert_code(f, cli_run(f, vg_cmd_validate, sample, "--plan", path, "-"), VG_EXIT_USAGE);
	assert_err_has(f, "no-plan.json");
	assert_string_equal(f->out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(accepted_with_the_gateways_key, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(without_a_configuration, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(rejected_is_exit_3, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(command_line_file_and_plan, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
