/* Unit tests for firmware/cli/check_config.c (`venuegw check-config`): what
 * the configuration names is checked and every problem listed on standard
 * error with its section and key — missing files (errors, or warnings for the
 * broker's files that only the device verbs need), files that are not
 * regular, secrets readable by everyone (a warning), the certificate and key
 * that go together, a key file with no key in force, a plan that does not
 * load, data_dir that is not a directory, suppressions relying on key
 * versions that left the key file — then the count; exit 2 with an error, 0
 * with warnings only. */
#include "cli_fixture.h"

#include "store_erasure.h"

/* Every file a full configuration names, present with good modes. */
static void good_config(struct cli_fx *f)
{
	char extra[1400], p[5][160];
	static const char *const names[] = { "write_key", "mqtt_pw", "metrics_pw", "passwd", "acl" };
	for (int i = 0; i < 5; i++) {
		snprintf(p[i], sizeof p[i], "%s/%s", f->dir, names[i]);
		cli_write(p[i], "secret\n", 0640);
	}
	snprintf(extra, sizeof extra,
	         "[cdp]\nendpoint = https://cdp.example.com\nwrite_key_file = %s\n"
	         "[mqtt]\npassword_file = %s\n[metrics]\npassword_file = %s\n"
	         "[broker]\npasswd_file = %s\nacl_file = %s\n", p[0], p[1], p[2], p[3], p[4]);
	cli_config(f, extra);
}

static void a_good_config_is_ok(void **state)
{
	struct cli_fx *f = *state;
	good_config(f);
	char *none[] = { NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_check_config, NULL, none), VG_EXIT_OK);
	char want[300];
	snprintf(want, sizeof want, "%s: OK (venue test-venue, data_dir %s, durability full)\n", f->conf, f->dir);
	assert_string_equal(f->out, want);
	assert_string_equal(f->err, "");
}

static void every_problem_is_listed(void **state)
{
	struct cli_fx *f = *state;
	good_config(f);
	char p[200], plan[200];
	/* The write key is gone; the token keys are readable by everyone; a
	 * client certificate without its key, and missing; the MQTT password
	 * "file" is a directory; the plan is not JSON; data_dir is a file; the
	 * broker's passwd file is missing (only a warning). */
	snprintf(p, sizeof p, "%s/write_key", f->dir);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(chmod(f->keys, 0644), 0);
	snprintf(f->cfg.client_cert, sizeof f->cfg.client_cert, "%s/client.crt", f->dir);
	snprintf(f->cfg.mqtt_password_file, sizeof f->cfg.mqtt_password_file, "%s", f->dir);
	snprintf(plan, sizeof plan, "%s/plan.json", f->dir);
	cli_write(plan, "{\"not\": a plan", 0644);
	snprintf(f->cfg.plan_path, sizeof f->cfg.plan_path, "%s", plan);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", plan);
	snprintf(p, sizeof p, "%s/passwd", f->dir);
	assert_int_equal(unlink(p), 0);
	char *none[] = { NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_check_config, NULL, none), VG_EXIT_USAGE);
	assert_string_equal(f->out, "");
	char want[400];
	snprintf(want, sizeof want, "%s: error: [cdp] write_key_file: %s/write_key: No such file or directory\n",
	         f->conf, f->dir);
	assert_err_has(f, want);
	snprintf(want, sizeof want, "%s: error: [cdp] client_cert: %s/client.crt: No such file", f->conf, f->dir);
	assert_err_has(f, want);
	assert_err_has(f, "error: [cdp] client_cert and client_key go together\n");
	snprintf(want, sizeof want, "warning: [tokens] key_file: %s is readable by every user (mode 0644)", f->keys);
	assert_err_has(f, want);
	snprintf(want, sizeof want, "error: [mqtt] password_file: %s is not a regular file\n", f->dir);
	assert_err_has(f, want);
	assert_err_has(f, "error: [contracts] plan: ");
	assert_err_has(f, "(venuegw plan check ");
	snprintf(want, sizeof want, "error: [gateway] data_dir: %s is not a directory\n", plan);
	assert_err_has(f, want);
	snprintf(want, sizeof want, "warning: [broker] passwd_file: %s/passwd: No such file", f->dir);
	assert_err_has(f, want);
	snprintf(want, sizeof want, "%s: 6 errors, 2 warnings\n", f->conf);
	assert_err_has(f, want);
}

/* Warnings alone do not fail: no endpoint (nothing forwarded), the broker's
 * files missing, data_dir not created yet. */
static void warnings_alone_pass(void **state)
{
	struct cli_fx *f = *state;
	char extra[600];
	snprintf(extra, sizeof extra, "[broker]\npasswd_file = %s/passwd\nacl_file = %s/acl\n", f->dir, f->dir);
	cli_config(f, extra);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s/not-yet", f->dir);
	char *none[] = { NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_check_config, NULL, none), VG_EXIT_OK);
	assert_out_has(f, ": OK (venue test-venue, data_dir ");
	assert_out_has(f, "; see the warnings above)\n");
	assert_err_has(f, "warning: [cdp] endpoint is empty: events are captured but not forwarded\n");
	assert_err_has(f, "warning: [broker] passwd_file: ");
	assert_err_has(f, "warning: [broker] acl_file: ");
	assert_err_has(f, "/not-yet: No such file or directory (venuegw run creates it)\n");
	assert_null(strstr(f->err, "error:"));
}

/* The key file: a key must be in force; suppressions must still match. */
static void token_keys(void **state)
{
	struct cli_fx *f = *state;
	good_config(f);
	cli_write(f->keys, "1 " CLI_K1_HEX " activate_at=2099-01-01T00:00:00Z\n", 0600);
	char *none[] = { NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_check_config, NULL, none), VG_EXIT_USAGE);
	assert_err_has(f, "error: [tokens] key_file: ");
	assert_err_has(f, "no key is in force now");
	cli_write(f->keys, "1 nothex\n", 0600);
	assert_code(f, cli_run_argv(f, vg_cmd_check_config, NULL, none), VG_EXIT_USAGE);
	assert_err_has(f, "error: [tokens] key_file: ");
	assert_err_has(f, "key must be exactly 64 hex digits");
	assert_err_has(f, ": 1 error, 0 warnings\n");

	/* A suppression written under version 1, and the key file now holds only
	 * version 2: a warning (the person is captured again). */
	struct vg_store *st = cli_store(f);
	const char *tok[1] = { "v1.em.AAAAAAAAAAAAAAAAAAAAAA" };
	assert_int_equal(vg_store_suppress(st, tok, 1, ",1,", 1795885392123LL), VG_OK);
	vg_store_close(st);
	cli_write(f->keys, "2 " CLI_K2_HEX "\n", 0600);
	assert_code(f, cli_run_argv(f, vg_cmd_check_config, NULL, none), VG_EXIT_OK);
	assert_err_has(f, "warning: [tokens] key_file: 1 suppression (venuegw forget) match only under key versions"
	                  " missing from ");
	assert_err_has(f, "(versions: 1)");
	assert_out_has(f, "; see the warnings above)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_good_config_is_ok, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(every_problem_is_listed, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(warnings_alone_pass, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(token_keys, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
