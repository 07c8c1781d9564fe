/* Unit tests for firmware/cli/provision.c (`venuegw provision`) in a
 * temporary directory: the configuration it writes loads and names the
 * secrets beside it; the secrets' contents and modes (the write key, a
 * generated token key file, the daemon's MQTT password whose passwd entry
 * verifies, the ACL); nothing is replaced without --force (except the
 * package's unprovisioned configuration); --force keeps the devices' entries
 * and the token keys; bad values write nothing; --lan-tls writes the CA, the
 * server certificate and the listener. */
#include "cli_fixture.h"

#include "keys.h"
#include "passwd.h"

/* The provisioned directory: <test dir>/gw, the configuration in it. */
struct prov {
	char dir[80], conf[100];
};

static void prov_paths(struct cli_fx *f, struct prov *p)
{
	snprintf(p->dir, sizeof p->dir, "%s/gw", f->dir);
	snprintf(p->conf, sizeof p->conf, "%s/venuegw.conf", p->dir);
	/* The handler gets f->conf as the configuration's path. */
	snprintf(f->conf, sizeof f->conf, "%s", p->conf);
}

/* Run provision with the arguments (argv[-1] is the verb: getopt needs it). */
#define provision(f, in, ...) \
	cli_run_argv((f), vg_cmd_provision, (in), ((char *[]){ "provision", __VA_ARGS__, NULL }) + 1)

static void in_dir(const struct prov *p, const char *name, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", p->dir, name);
}

static mode_t mode_of(const struct prov *p, const char *name)
{
	char path[200];
	struct stat sb;
	in_dir(p, name, path, sizeof path);
	if (stat(path, &sb) != 0)
		fail_msg("%s: missing", path);
	return sb.st_mode & 07777;
}

static void read_in(const struct prov *p, const char *name, char *out, size_t outsz)
{
	char path[200];
	in_dir(p, name, path, sizeof path);
	cli_slurp(path, out, outsz);
}

static void writes_a_loadable_configuration_and_its_secrets(void **state)
{
	struct cli_fx *f = *state;
	struct prov p;
	prov_paths(f, &p);
	assert_code(f, provision(f, "wk-SECRET-123\n", "--venue-id", "berlin-01", "--endpoint",
	                         "https://cdp.example.com", "--write-key-stdin", "--country-code", "49",
	                         "--plan", VG_DEFAULT_PLAN), VG_EXIT_OK);
	assert_out_has(f, "provisioned venue berlin-01: check it with `venuegw --config ");
	assert_out_has(f, "note: a new token key was generated");
	assert_null(strstr(f->out, "wk-SECRET"));
	assert_null(strstr(f->err, "wk-SECRET"));

	/* The configuration loads and names the files beside it. */
	struct vg_config cfg;
	char err[600], want[200];
	if (vg_config_load(&cfg, p.conf, err, sizeof err) != VG_OK)
		fail_msg("%s", err);
	assert_string_equal(cfg.venue_id, "berlin-01");
	assert_string_equal(cfg.gateway_id, "berlin-01-gw");
	assert_string_equal(cfg.endpoint, "https://cdp.example.com");
	assert_int_equal(cfg.default_country_code, 49);
	assert_string_equal(cfg.plan_path, VG_DEFAULT_PLAN);
	in_dir(&p, "data", want, sizeof want);
	assert_string_equal(cfg.data_dir, want);
	in_dir(&p, "write_key", want, sizeof want);
	assert_string_equal(cfg.write_key_file, want);
	in_dir(&p, "token_keys", want, sizeof want);
	assert_string_equal(cfg.key_file, want);
	in_dir(&p, "broker.pid", want, sizeof want);
	assert_string_equal(cfg.broker_pid_file, want);
	in_dir(&p, "passwd", want, sizeof want);
	assert_string_equal(cfg.broker_passwd_file, want);

	/* The secrets, their modes. */
	char text[4096];
	read_in(&p, "write_key", text, sizeof text);
	assert_string_equal(text, "wk-SECRET-123\n");
	assert_int_equal(mode_of(&p, "write_key"), 0640);
	assert_int_equal(mode_of(&p, "token_keys"), 0640);
	struct vg_keyring kr;
	assert_int_equal(vg_keyring_load(&kr, cfg.key_file, err, sizeof err), VG_OK);
	assert_int_equal(kr.n, 1);
	assert_int_equal(kr.keys[0].version, 1);
	assert_non_null(vg_keyring_current(&kr, 0x7fffffff));
	vg_keyring_wipe(&kr);
	char pw[256];
	read_in(&p, "mqtt_password", pw, sizeof pw);
	assert_int_equal(mode_of(&p, "mqtt_password"), 0640);
	pw[strcspn(pw, "\n")] = '\0';
	assert_true(strlen(pw) >= 16);
	read_in(&p, "passwd", text, sizeof text);
	assert_int_equal(mode_of(&p, "passwd"), 0640);
	text[strcspn(text, "\n")] = '\0';
	assert_true(strncmp(text, "venuegw:", 8) == 0);
	assert_int_equal(vg_passwd_verify(text, pw), 1);
	read_in(&p, "acl", text, sizeof text);
	assert_int_equal(mode_of(&p, "acl"), 0644);
	assert_non_null(strstr(text, "pattern write venue/v1/+/events\n"));
	assert_non_null(strstr(text, "user venuegw\ntopic readwrite venue/v1/_gateway/#\n"));
	assert_int_equal(mode_of(&p, "data"), 0750);
	assert_int_equal(mode_of(&p, "venuegw.conf"), 0644);
	struct stat sb;
	in_dir(&p, "broker.d", want, sizeof want);
	assert_int_equal(stat(want, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	in_dir(&p, "tls", want, sizeof want);
	assert_int_equal(access(want, F_OK), -1);   /* no --lan-tls */
}

static void nothing_is_replaced_without_force(void **state)
{
	struct cli_fx *f = *state;
	struct prov p;
	prov_paths(f, &p);
	assert_code(f, provision(f, "wk-1\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_OK);
	char keys1[1024], text[1024];
	read_in(&p, "token_keys", keys1, sizeof keys1);
	/* Again: refused, nothing changed. */
	assert_code(f, provision(f, "wk-2\n", "--venue-id", "v2", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_FAIL);
	assert_err_has(f, "exists; not replacing anything (use --force to replace)");
	read_in(&p, "write_key", text, sizeof text);
	assert_string_equal(text, "wk-1\n");
	/* A device added meanwhile; then --force: the write key and the venue
	 * change, the device's entry and the token keys stay. */
	char passwd[200], entry[VG_PASSWD_LINE_MAX], line[VG_PASSWD_LINE_MAX + 2];
	in_dir(&p, "passwd", passwd, sizeof passwd);
	assert_int_equal(vg_passwd_entry("pos-1", "device-pw", entry, sizeof entry), VG_OK);
	snprintf(line, sizeof line, "%s\n", entry);
	FILE *fp = fopen(passwd, "a");
	assert_non_null(fp);
	fputs(line, fp);
	fclose(fp);
	assert_code(f, provision(f, "wk-2\n", "--venue-id", "v2", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--force"), VG_EXIT_OK);
	assert_out_has(f, "kept ");
	assert_out_has(f, "(the token keys; --token-key-file replaces them)");
	assert_out_has(f, "(mode 0640, 2 entries)");
	read_in(&p, "write_key", text, sizeof text);
	assert_string_equal(text, "wk-2\n");
	read_in(&p, "token_keys", text, sizeof text);
	assert_string_equal(text, keys1);
	struct vg_pwfile pf;
	char err[300];
	assert_int_equal(vg_pwfile_load(&pf, passwd, 0, err, sizeof err), VG_OK);
	assert_int_equal(pf.n, 2);
	int i = vg_pwfile_find(&pf, "pos-1");
	assert_true(i >= 0);
	assert_int_equal(vg_passwd_verify(pf.lines[i], "device-pw"), 1);
	/* The daemon's entry matches its new password. */
	char pw[256];
	read_in(&p, "mqtt_password", pw, sizeof pw);
	pw[strcspn(pw, "\n")] = '\0';
	assert_int_equal(vg_passwd_verify(pf.lines[vg_pwfile_find(&pf, "venuegw")], pw), 1);
	vg_pwfile_free(&pf);
	struct vg_config cfg;
	assert_int_equal(vg_config_load(&cfg, p.conf, err, sizeof err), VG_OK);
	assert_string_equal(cfg.venue_id, "v2");
}

/* The package's unprovisioned venuegw.conf (venue_id empty) is no conflict. */
static void the_unprovisioned_template_is_replaced(void **state)
{
	struct cli_fx *f = *state;
	struct prov p;
	prov_paths(f, &p);
	assert_int_equal(mkdir(p.dir, 0755), 0);
	cli_write(p.conf, "[gateway]\nvenue_id =      ; set by venuegw provision\n", 0644);
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_OK);
	char text[4096];
	read_in(&p, "venuegw.conf", text, sizeof text);
	assert_non_null(strstr(text, "venue_id = v1\n"));
	/* A provisioned one is a conflict. */
	char path[200];
	in_dir(&p, "write_key", path, sizeof path);
	assert_int_equal(unlink(path), 0);
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_FAIL);
	assert_err_has(f, "venuegw.conf exists");
}

/* Bad values: exit 2 and nothing written. */
static void bad_values_write_nothing(void **state)
{
	struct cli_fx *f = *state;
	struct prov p;
	prov_paths(f, &p);
	char bad_keys[200], wkf[200];
	snprintf(bad_keys, sizeof bad_keys, "%s/bad_keys", f->dir);
	cli_write(bad_keys, "1 abc\n", 0600);
	snprintf(wkf, sizeof wkf, "%s/wk.txt", f->dir);
	cli_write(wkf, "from-a-file\n", 0600);
	assert_code(f, provision(f, "wk:x\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_USAGE);
	assert_err_has(f, "must not contain ':'");
	assert_code(f, provision(f, "wk\n", "--venue-id", "bad venue", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_USAGE);
	assert_err_has(f, "the configuration would be invalid");
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "ftp://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_USAGE);
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--write-key-stdin"), VG_EXIT_USAGE);
	assert_err_has(f, "--endpoint is required");
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--write-key-file", wkf), VG_EXIT_USAGE);
	assert_err_has(f, "exactly one of --write-key-file and --write-key-stdin");
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--data-dir", "rel/data"), VG_EXIT_USAGE);
	assert_err_has(f, "--data-dir: 'rel/data' is not an absolute path");
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--token-key-file", bad_keys), VG_EXIT_USAGE);
	assert_err_has(f, "bad_keys:1:");
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--tls-port", "9999"), VG_EXIT_USAGE);
	assert_err_has(f, "need --lan-tls");
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--lan-tls", "--tls-port", "1884"), VG_EXIT_USAGE);
	assert_err_has(f, "--tls-port must differ from --mqtt-port");
	assert_code(f, provision(f, "", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin"), VG_EXIT_USAGE);
	assert_err_has(f, "no write key on standard input");
	/* Nothing but the directory itself was made. */
	char cmd[300];
	snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", p.dir);
	assert_int_equal(system(cmd), 0);

	/* A given token key file and write key file are used as they are. */
	char keys[200];
	snprintf(keys, sizeof keys, "%s/tenant_keys", f->dir);
	cli_write(keys, "7 " CLI_K2_HEX "\n", 0600);
	assert_code(f, provision(f, NULL, "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-file", wkf, "--token-key-file", keys), VG_EXIT_OK);
	assert_null(strstr(f->out, "a new token key"));
	char text[300];
	read_in(&p, "token_keys", text, sizeof text);
	assert_string_equal(text, "7 " CLI_K2_HEX "\n");
	read_in(&p, "write_key", text, sizeof text);
	assert_string_equal(text, "from-a-file\n");
}

static void lan_tls_writes_the_ca_the_server_and_the_listener(void **state)
{
	struct cli_fx *f = *state;
	struct prov p;
	prov_paths(f, &p);
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--lan-tls", "--tls-port", "8884", "--tls-name", "gw.venue.example",
	                         "--tls-name", "192.168.1.10", "--tls-require-cert"), VG_EXIT_OK);
	assert_out_has(f, "the TLS listener on port 8884 serves gw.venue.example 192.168.1.10");
	assert_int_equal(mode_of(&p, "tls/ca.key"), 0600);
	assert_int_equal(mode_of(&p, "tls/ca.crt"), 0644);
	assert_int_equal(mode_of(&p, "tls/server.key"), 0640);
	assert_int_equal(mode_of(&p, "tls/server.crt"), 0644);
	assert_int_equal(mode_of(&p, "tls/devices"), 0700);
	char text[4096], want[300];
	read_in(&p, "tls/ca.crt", text, sizeof text);
	assert_true(strncmp(text, "-----BEGIN CERTIFICATE-----", 27) == 0);
	read_in(&p, "broker.d/venuegw-tls.conf", text, sizeof text);
	assert_non_null(strstr(text, "listener 8884\n"));
	snprintf(want, sizeof want, "cafile %s/tls/ca.crt\n", p.dir);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "require_certificate true\n"));
	/* The LAN material is part of what --force would replace: refused now. */
	assert_code(f, provision(f, "wk\n", "--venue-id", "v1", "--endpoint", "https://cdp.example.com",
	                         "--write-key-stdin", "--lan-tls", "--tls-name", "gw.venue.example"), VG_EXIT_FAIL);
	assert_err_has(f, "exists; not replacing anything");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(writes_a_loadable_configuration_and_its_secrets, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(nothing_is_replaced_without_force, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(the_unprovisioned_template_is_replaced, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(bad_values_write_nothing, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(lan_tls_writes_the_ca_the_server_and_the_listener, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
