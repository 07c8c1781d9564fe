/* Unit tests for firmware/cli/device.c (`venuegw device`) on a real password
 * file in a temporary directory: add (a given or a generated password that
 * verifies, a client certificate signed by the LAN CA), disable and enable
 * (the entry moves to <passwd_file>.disabled and back), remove (either list,
 * and the certificate files), list (sorted, the gateway's own user left out,
 * last seen and seq from buffer.db); refusals (bad or reserved names, a
 * device that exists or does not, no passwd file, no CA); and the broker
 * reload: SIGHUP to the pid in pid_file only when that process is mosquitto. */
#include "cli_fixture.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "passwd.h"
#include "pki.h"

struct dev_paths {
	char passwd[160], disabled[176], pid[160], tls[160];
};

/* [broker] files in the test's directory; an empty passwd file holding the
 * daemon's own user (as provision writes it). */
static void broker_config(struct cli_fx *f, struct dev_paths *p)
{
	snprintf(p->passwd, sizeof p->passwd, "%s/passwd", f->dir);
	snprintf(p->disabled, sizeof p->disabled, "%s/passwd.disabled", f->dir);
	snprintf(p->pid, sizeof p->pid, "%s/broker.pid", f->dir);
	snprintf(p->tls, sizeof p->tls, "%s/tls", f->dir);
	char extra[800];
	snprintf(extra, sizeof extra, "[broker]\npasswd_file = %s\npid_file = %s\ntls_dir = %s\n", p->passwd, p->pid,
	         p->tls);
	cli_config(f, extra);
	char entry[VG_PASSWD_LINE_MAX], text[VG_PASSWD_LINE_MAX + 2];
	assert_int_equal(vg_passwd_entry("venuegw", "daemon-pw", entry, sizeof entry), VG_OK);
	snprintf(text, sizeof text, "%s\n", entry);
	cli_write(p->passwd, text, 0640);
}

/* The entry of user in path (its line), or "" when it has none. */
static void entry_of(const char *path, const char *user, char *out, size_t outsz)
{
	struct vg_pwfile pf;
	char err[300];
	out[0] = '\0';
	assert_int_equal(vg_pwfile_load(&pf, path, 1, err, sizeof err), VG_OK);
	int i = vg_pwfile_find(&pf, user);
	if (i >= 0)
		snprintf(out, outsz, "%s", pf.lines[i]);
	vg_pwfile_free(&pf);
}

static int has_entry(const char *path, const char *user)
{
	char line[VG_PASSWD_LINE_MAX];
	entry_of(path, user, line, sizeof line);
	return line[0] != '\0';
}

static void add_disable_enable_remove(void **state)
{
	struct cli_fx *f = *state;
	struct dev_paths p;
	broker_config(f, &p);
	/* A password given on standard input. */
	assert_code(f, cli_run(f, vg_cmd_device, "s3cret-pw\n", "add", "pos-1", "--password-stdin"), VG_EXIT_OK);
	assert_out_has(f, "device pos-1 added to ");
	assert_out_has(f, "the broker is not running (no live pid in ");
	assert_null(strstr(f->out, "password:"));
	assert_null(strstr(f->out, "s3cret"));
	char line[VG_PASSWD_LINE_MAX];
	entry_of(p.passwd, "pos-1", line, sizeof line);
	assert_int_equal(vg_passwd_verify(line, "s3cret-pw"), 1);
	assert_int_equal(vg_passwd_verify(line, "s3cret-pw\n"), 0);
	assert_true(has_entry(p.passwd, "venuegw"));
	struct stat sb;
	assert_int_equal(stat(p.passwd, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);

	/* A generated password, printed once, that verifies. */
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "add", "kiosk-1"), VG_EXIT_OK);
	const char *pw = strstr(f->out, "password: ");
	assert_non_null(pw);
	char shown[256];
	assert_int_equal(sscanf(pw, "password: %255s", shown), 1);
	assert_true(strlen(shown) >= 16);
	entry_of(p.passwd, "kiosk-1", line, sizeof line);
	assert_int_equal(vg_passwd_verify(line, shown), 1);

	/* It exists already. */
	assert_code(f, cli_run(f, vg_cmd_device, "x\n", "add", "pos-1", "--password-stdin"), VG_EXIT_FAIL);
	assert_err_has(f, "device 'pos-1' exists already");
	entry_of(p.passwd, "pos-1", line, sizeof line);
	assert_int_equal(vg_passwd_verify(line, "s3cret-pw"), 1);

	/* Disable: the entry moves to passwd.disabled (same mode), unchanged. */
	char before[VG_PASSWD_LINE_MAX];
	snprintf(before, sizeof before, "%s", line);
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "disable", "pos-1"), VG_EXIT_OK);
	assert_out_has(f, "device pos-1 disabled: it can no longer connect");
	assert_false(has_entry(p.passwd, "pos-1"));
	entry_of(p.disabled, "pos-1", line, sizeof line);
	assert_string_equal(line, before);
	assert_int_equal(stat(p.disabled, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "disable", "pos-1"), VG_EXIT_OK);
	assert_out_has(f, "device pos-1 is disabled already");
	assert_code(f, cli_run(f, vg_cmd_device, "y\n", "add", "pos-1", "--password-stdin"), VG_EXIT_FAIL);
	assert_err_has(f, "exists already and is disabled");
	/* Enable: back, the same entry. */
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "enable", "pos-1"), VG_EXIT_OK);
	assert_out_has(f, "device pos-1 enabled");
	entry_of(p.passwd, "pos-1", line, sizeof line);
	assert_string_equal(line, before);
	assert_false(has_entry(p.disabled, "pos-1"));
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "enable", "pos-1"), VG_EXIT_OK);
	assert_out_has(f, "device pos-1 is enabled already");

	/* Remove, from either list. */
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "disable", "kiosk-1"), VG_EXIT_OK);
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "remove", "kiosk-1"), VG_EXIT_OK);
	assert_out_has(f, "device kiosk-1 removed from ");
	assert_out_has(f, "passwd.disabled\n");
	assert_false(has_entry(p.disabled, "kiosk-1"));
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "remove", "pos-1"), VG_EXIT_OK);
	assert_false(has_entry(p.passwd, "pos-1"));
	assert_true(has_entry(p.passwd, "venuegw"));
	/* Unknown devices. */
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "remove", "pos-1"), VG_EXIT_FAIL);
	assert_err_has(f, "no device 'pos-1'");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "enable", "pos-9"), VG_EXIT_FAIL);
	assert_err_has(f, "no device 'pos-9'");
}

static void list_sorted_with_buffer_state(void **state)
{
	struct cli_fx *f = *state;
	struct dev_paths p;
	broker_config(f, &p);
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "list"), VG_EXIT_OK);
	assert_out_has(f, "(no devices: venuegw device add NAME)");
	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "zeta", "--password-stdin"), VG_EXIT_OK);
	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "alpha", "--password-stdin"), VG_EXIT_OK);
	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "mid", "--password-stdin"), VG_EXIT_OK);
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "disable", "mid"), VG_EXIT_OK);
	/* buffer.db knows alpha: seen at 2026-11-28T17:03:12Z, seq 41. */
	raw_exec(f->db, "INSERT INTO device_state(device_id, last_seq, last_seen_ms) VALUES ('alpha', 41, 1795885392123)");

	assert_code(f, cli_run(f, vg_cmd_device, NULL, "list"), VG_EXIT_OK);
	const char *a = strstr(f->out, "\nalpha "), *m = strstr(f->out, "\nmid "), *z = strstr(f->out, "\nzeta ");
	assert_non_null(a);
	assert_non_null(m);
	assert_non_null(z);
	assert_true(a < m && m < z);
	assert_null(strstr(f->out, "venuegw "));   /* the daemon's own user */
	assert_out_has(f, "alpha                    enabled   no    2026-11-28T17:03:12Z  41\n");
	assert_out_has(f, "mid                      disabled  no    -                     -\n");

	assert_code(f, cli_run(f, vg_cmd_device, NULL, "list", "--json"), VG_EXIT_OK);
	cJSON *arr = cJSON_Parse(f->out);
	assert_non_null(arr);
	assert_int_equal(cJSON_GetArraySize(arr), 3);
	cJSON *first = cJSON_GetArrayItem(arr, 0), *second = cJSON_GetArrayItem(arr, 1);
	assert_string_equal(cJSON_GetObjectItem(first, "name")->valuestring, "alpha");
	assert_int_equal(cJSON_GetObjectItem(first, "last_seq")->valueint, 41);
	assert_string_equal(cJSON_GetObjectItem(first, "last_seen")->valuestring, "2026-11-28T17:03:12Z");
	assert_string_equal(cJSON_GetObjectItem(second, "state")->valuestring, "disabled");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(second, "last_seq")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(second, "cert")));
	cJSON_Delete(arr);

	/* Without buffer.db the list still works. */
	assert_int_equal(unlink(f->db), 0);
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "list"), VG_EXIT_OK);
	assert_out_has(f, "alpha                    enabled   no    -                     -\n");
	assert_string_equal(f->err, "");
	assert_int_equal(access(f->db, F_OK), -1);   /* and does not create it */
}

static void refusals(void **state)
{
	struct cli_fx *f = *state;
	struct dev_paths p;
	broker_config(f, &p);
	char *none[] = { NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_device, NULL, none), VG_EXIT_USAGE);
	assert_err_has(f, "no action given");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "rename", "a"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown action 'rename'");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "add"), VG_EXIT_USAGE);
	assert_err_has(f, "add: which device?");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "add", "a", "b"), VG_EXIT_USAGE);
	assert_err_has(f, "one device name at a time");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "remove", "a", "--cert"), VG_EXIT_USAGE);
	assert_err_has(f, "remove: unknown option '--cert'");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "add", "pos/1"), VG_EXIT_USAGE);
	assert_err_has(f, "'pos/1' is not a device name");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "add", "venuegw"), VG_EXIT_USAGE);
	assert_err_has(f, "reserved for the gateway itself");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "add", "_gateway"), VG_EXIT_USAGE);
	assert_err_has(f, "reserved for the gateway itself");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "list", "--all"), VG_EXIT_USAGE);
	assert_code(f, cli_run(f, vg_cmd_device, "\n", "add", "a", "--password-stdin"), VG_EXIT_USAGE);
	assert_err_has(f, "the password must be 1-254 characters");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "add", "a", "--password-stdin"), VG_EXIT_USAGE);
	assert_err_has(f, "no password on standard input");
	assert_false(has_entry(p.passwd, "a"));
	/* --cert without a LAN CA: exit 1, no entry added. */
	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "a", "--cert", "--password-stdin"), VG_EXIT_FAIL);
	assert_err_has(f, "cannot read the LAN CA key");
	assert_err_has(f, "provision with --lan-tls first");
	assert_false(has_entry(p.passwd, "a"));
	/* No passwd file: not provisioned. */
	assert_int_equal(unlink(p.passwd), 0);
	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "a", "--password-stdin"), VG_EXIT_FAIL);
	assert_err_has(f, "was the gateway provisioned?");
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "list"), VG_EXIT_FAIL);
	assert_int_equal(access(p.passwd, F_OK), -1);
}

/* --cert: a client certificate and key signed by the LAN CA; remove deletes
 * them. */
static void cert_issued_and_removed(void **state)
{
	struct cli_fx *f = *state;
	struct dev_paths p;
	broker_config(f, &p);
	char *key = malloc(VG_PKI_PEM_MAX), *crt = malloc(VG_PKI_PEM_MAX), err[300], path[300];
	assert_non_null(key);
	assert_non_null(crt);
	assert_int_equal(vg_pki_make_ca("venuegw test CA", 30, key, crt, err, sizeof err), VG_OK);
	assert_int_equal(mkdir(p.tls, 0700), 0);
	snprintf(path, sizeof path, "%s/ca.key", p.tls);
	cli_write(path, key, 0600);
	snprintf(path, sizeof path, "%s/ca.crt", p.tls);
	cli_write(path, crt, 0644);
	free(key);
	free(crt);

	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "pos-1", "--cert", "--password-stdin"), VG_EXIT_OK);
	char crt_path[300], key_path[300];
	snprintf(crt_path, sizeof crt_path, "%s/devices/pos-1.crt", p.tls);
	snprintf(key_path, sizeof key_path, "%s/devices/pos-1.key", p.tls);
	char want[700];
	snprintf(want, sizeof want, "certificate: %s\nkey: %s (mode 0600)\n", crt_path, key_path);
	assert_out_has(f, want);
	struct stat sb;
	assert_int_equal(stat(key_path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(crt_path, &sb), 0);
	assert_true(sb.st_size > 100);
	assert_true(has_entry(p.passwd, "pos-1"));
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "list", "--json"), VG_EXIT_OK);
	assert_non_null(strstr(f->out, "\"cert\":\ttrue"));
	/* The files exist: a second --cert for that name is refused. */
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "remove", "pos-1"), VG_EXIT_OK);
	snprintf(want, sizeof want, "removed %s\nremoved %s\n", crt_path, key_path);
	assert_out_has(f, want);
	assert_int_equal(access(crt_path, F_OK), -1);
	assert_int_equal(access(key_path, F_OK), -1);
	cli_write(crt_path, "stale", 0644);
	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "pos-1", "--cert", "--password-stdin"), VG_EXIT_FAIL);
	assert_err_has(f, "or its key exists already");
	assert_false(has_entry(p.passwd, "pos-1"));
}

/* The broker is told to reload only when the pid file names a mosquitto. */
static void reload_signals_only_mosquitto(void **state)
{
	CLI_SKIP_IF_EMULATED();
	struct cli_fx *f = *state;
	struct dev_paths p;
	broker_config(f, &p);
	/* A child that calls itself mosquitto and waits for SIGHUP (killed if we
	 * die first).  We ignore SIGHUP meanwhile: one sent to us by mistake
	 * fails an assertion instead of killing the test. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_act;
	sigemptyset(&ign.sa_mask);
	assert_int_equal(sigaction(SIGHUP, &ign, &old_act), 0);
	int ready[2], got[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(got), 0);
	sigset_t hup, old;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	assert_int_equal(sigprocmask(SIG_BLOCK, &hup, &old), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		prctl(PR_SET_NAME, "mosquitto", 0, 0, 0);
		signal(SIGHUP, SIG_DFL);   /* still blocked: sigwait takes it */
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		int sig = 0;
		sigwait(&hup, &sig);
		_exit(sig == SIGHUP && write(got[1], "h", 1) == 1 ? 42 : 1);
	}
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	close(ready[1]);
	/* Our own pid is a live process that is not mosquitto: not signalled. */
	char text[80];
	snprintf(text, sizeof text, "%ld\n", (long)getpid());
	cli_write(p.pid, text, 0644);
	assert_code(f, cli_run(f, vg_cmd_device, "pw\n", "add", "pos-1", "--password-stdin"), VG_EXIT_OK);
	assert_out_has(f, "the broker is not running");
	/* The child is. */
	snprintf(text, sizeof text, "%ld\n", (long)child);
	cli_write(p.pid, text, 0644);
	assert_code(f, cli_run(f, vg_cmd_device, NULL, "disable", "pos-1"), VG_EXIT_OK);
	snprintf(text, sizeof text, "broker reloaded (SIGHUP to pid %ld)", (long)child);
	assert_out_has(f, text);
	/* It got the signal (within 10 s, else it is killed). */
	close(got[1]);
	struct pollfd pfd = { .fd = got[0], .events = POLLIN };
	int polled = poll(&pfd, 1, 10000);
	if (polled != 1)
		kill(child, SIGKILL);
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	close(got[0]);
	assert_int_equal(polled, 1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
	assert_int_equal(sigaction(SIGHUP, &old_act, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(add_disable_enable_remove, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(list_sorted_with_buffer_state, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(refusals, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(cert_issued_and_removed, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(reload_signals_only_mosquitto, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
