/* Unit tests for firmware/cli/diag.c (`venuegw diag`): the support bundle is
 * a tar.gz (mode 0600, written whole or not at all) holding its eight parts
 * under one directory; config.txt without comments and with credentials in
 * URLs redacted, paths kept; files.txt with modes and a warning for a secret
 * readable by everyone, never contents; status.json from `venuegw status
 * --json` run as a child (this binary stands in for venuegw); buffer.txt
 * with counts by device, type and state; and the last filter: nothing shaped
 * like an email address or a token leaves, even where buffer.db holds one.
 * journal.txt is whatever journalctl says here, or why there is none. */
#include "cli_fixture.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <sys/wait.h>

#include "contract.h"

#define NPARTS 8
static const char *const part_names[NPARTS] = { "README.txt", "config.txt", "files.txt", "status.json",
                                                "journal.txt", "buffer.txt", "versions.txt", "system.txt" };

struct bundle {
	char dir[200];            /* the directory in the archive */
	char *part[NPARTS];       /* each part's text, NUL-terminated */
	int entries;
	mode_t perm;
};

static void bundle_read(const char *path, struct bundle *b)
{
	memset(b, 0, sizeof *b);
	struct archive *a = archive_read_new();
	assert_non_null(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 16384) != ARCHIVE_OK)
		fail_msg("%s: %s", path, archive_error_string(a));
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		const char *slash = strchr(name, '/');
		assert_non_null(slash);
		if (!b->entries++)
			snprintf(b->dir, sizeof b->dir, "%.*s", (int)(slash - name), name);
		assert_true(strncmp(name, b->dir, strlen(b->dir)) == 0);
		b->perm = archive_entry_perm(e);
		size_t n = (size_t)archive_entry_size(e);
		char *text = malloc(n + 1);
		assert_non_null(text);
		assert_int_equal(archive_read_data(a, text, n), (la_ssize_t)n);
		text[n] = '\0';
		int k = -1;
		for (int i = 0; i < NPARTS; i++)
			if (strcmp(slash + 1, part_names[i]) == 0)
				k = i;
		if (k < 0 || b->part[k])
			fail_msg("unexpected part %s", name);
		b->part[k] = text;
	}
	archive_read_free(a);
}

static void bundle_free(struct bundle *b)
{
	for (int i = 0; i < NPARTS; i++)
		free(b->part[i]);
}

static const char *part(const struct bundle *b, const char *name)
{
	for (int i = 0; i < NPARTS; i++)
		if (strcmp(part_names[i], name) == 0)
			return b->part[i];
	return NULL;
}

/* Whether this binary can run itself as diag does (/proc/self/exe): not
 * under qemu-user without binfmt_misc, where diag's bundle then says that
 * status --json could not be run instead. */
static int self_runs(struct cli_fx *f)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		char *argv[] = { "self", "--config", f->conf, "status", "--json", NULL };
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) != 127;
}

#define assert_part_has(b, name, needle) \
	do { if (!strstr(part((b), (name)), (needle))) fail_msg("%s lacks '%s':\n%s", (name), (needle), part((b), (name))); } while (0)

static void bundle_has_every_part_redacted(void **state)
{
	CLI_SKIP_IF_EMULATED();   /* diag runs its parts as children */
	struct cli_fx *f = *state;
	/* A configuration with a comment naming a person and a proxy with a
	 * password; a secret file readable by everyone. */
	char extra[600], wk[160];
	snprintf(wk, sizeof wk, "%s/write_key", f->dir);
	cli_write(wk, "wk-SECRET\n", 0644);
	snprintf(extra, sizeof extra,
	         "; ask ana.lopez@example.com before changing this = that\n"
	         "[cdp]\nendpoint = https://cdp.example.com\nwrite_key_file = %s\n"
	         "proxy = http://proxyuser:pr0xy-pw@proxy.lan:3128\n", wk);
	cli_config(f, extra);
	/* buffer.db: two pending events of pos-1 (a body with a token), a
	 * device whose id is an email address (the last filter's business). */
	struct vg_store *st = cli_store(f);
	assert_true(put_at(st, "a1", "pos-1", VG_PRIO_NORMAL, 1795885392123LL,
	                   "{\"person\":{\"email\":\"v1.em.AAAAAAAAAAAAAAAAAAAAAA\"}}") >= 0);
	assert_true(put_at(st, "a2", "pos-1", VG_PRIO_NORMAL, 1795885393123LL, "{}") >= 0);
	assert_true(put_at(st, "b1", "bob@example.org", VG_PRIO_NORMAL, 1795885393123LL, "{}") >= 0);
	assert_true(put_quarantine_at(st, "pos-2", "contract", 1795885392123LL, NULL) >= 0);
	vg_store_close(st);

	char out[160];
	snprintf(out, sizeof out, "%s/bundle.tar.gz", f->dir);
	mode_t old_umask = umask(022);   /* the bundle's 0600 is its own, not the umask's */
	int code = cli_run(f, vg_cmd_diag, NULL, "--output", out);
	umask(old_umask);
	assert_code(f, code, VG_EXIT_OK);
	char want[300];
	snprintf(want, sizeof want, "wrote %s (", out);
	assert_out_has(f, want);
	assert_out_has(f, " bytes, 8 parts)\n");
	struct stat sb;
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	char tmp[200];
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	assert_int_equal(access(tmp, F_OK), -1);

	struct bundle b;
	bundle_read(out, &b);
	assert_int_equal(b.entries, NPARTS);
	for (int i = 0; i < NPARTS; i++)
		if (!b.part[i])
			fail_msg("no %s", part_names[i]);
	assert_true(strncmp(b.dir, "venuegw-diag-test-venue-gw-", 27) == 0);
	assert_int_equal(b.perm, 0644);
	assert_part_has(&b, "README.txt", "venue      test-venue\ngateway    test-venue-gw\n");

	/* config.txt: no comments, the proxy's credentials gone, paths kept. */
	assert_part_has(&b, "config.txt", "[cdp]\n");
	assert_part_has(&b, "config.txt", "endpoint = https://cdp.example.com\n");
	assert_part_has(&b, "config.txt", "proxy = http://<redacted>@proxy.lan:3128\n");
	snprintf(want, sizeof want, "write_key_file = %s\n", wk);
	assert_part_has(&b, "config.txt", want);
	assert_null(strstr(part(&b, "config.txt"), "ask "));
	/* files.txt: modes, never contents; the secret readable by everyone. */
	snprintf(want, sizeof want, "%s: file, mode 0644", wk);
	assert_part_has(&b, "files.txt", want);
	assert_part_has(&b, "files.txt", "WARNING: a secret readable by every user");
	snprintf(want, sizeof want, "%s: file, mode 0600", f->keys);
	assert_part_has(&b, "files.txt", want);
	/* status.json: the status verb's JSON, from the child. */
	if (self_runs(f)) {
		cJSON *o = cJSON_Parse(part(&b, "status.json"));
		if (!o)
			fail_msg("status.json: %s\nREADME:\n%s", part(&b, "status.json"), part(&b, "README.txt"));
		assert_string_equal(cJSON_GetObjectItem(o, "venue_id")->valuestring, "test-venue");
		assert_int_equal(cJSON_GetObjectItem(o, "pending")->valueint, 3);
		cJSON_Delete(o);
	} else {
		assert_part_has(&b, "README.txt", "status.json: venuegw status --json exited with 127");
		assert_part_has(&b, "status.json", "null");
	}
	/* buffer.txt: counts by device and state. */
	assert_part_has(&b, "buffer.txt", "events           3 pending, 0 in flight, 0 forwarded");
	assert_part_has(&b, "buffer.txt", "quarantine       0 held, 1 metadata only");
	assert_part_has(&b, "buffer.txt", "pos-1");
	assert_part_has(&b, "buffer.txt", "quick_check      ok");
	assert_part_has(&b, "buffer.txt", "[email]");
	assert_non_null(part(&b, "journal.txt"));
	assert_part_has(&b, "versions.txt", VG_VERSION);

	/* Nothing of people or secrets in any part. */
	static const char *const never[] = { "ana.lopez", "bob@example.org", "v1.em.AAAA", "pr0xy-pw", "wk-SECRET",
	                                     "proxyuser" };
	for (int i = 0; i < NPARTS; i++)
		for (size_t k = 0; k < sizeof never / sizeof never[0]; k++)
			if (strstr(b.part[i], never[k]))
				fail_msg("%s holds '%s'", part_names[i], never[k]);
	bundle_free(&b);
}

static void refusals_and_failures(void **state)
{
	CLI_SKIP_IF_EMULATED();   /* diag runs its parts as children */
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_diag, NULL, "--verbose"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown argument '--verbose'");
	assert_code(f, cli_run(f, vg_cmd_diag, NULL, "--output"), VG_EXIT_USAGE);
	char out[160];
	snprintf(out, sizeof out, "%s/no/such/dir/b.tar.gz", f->dir);
	assert_code(f, cli_run(f, vg_cmd_diag, NULL, "--output", out), VG_EXIT_FAIL);
	assert_err_has(f, "cannot write ");
	/* Without buffer.db: written all the same, the bundle says why. */
	assert_int_equal(unlink(f->db), 0);
	snprintf(out, sizeof out, "%s/b.tar.gz", f->dir);
	assert_code(f, cli_run(f, vg_cmd_diag, NULL, "-o", out), VG_EXIT_OK);
	struct bundle b;
	bundle_read(out, &b);
	assert_part_has(&b, "buffer.txt", "cannot open: ");
	assert_part_has(&b, "README.txt", "While collecting:\n");
	assert_part_has(&b, "README.txt", "buffer.txt: buffer.db could not be opened");
	assert_part_has(&b, "README.txt", self_runs(f) ? "status.json: venuegw status --json exited with 1"
	                                               : "status.json: venuegw status --json exited with 127");
	bundle_free(&b);
}

int main(int argc, char **argv)
{
	/* diag runs /proc/self/exe --config FILE status --json: this binary
	 * answers as venuegw would. */
	if (argc == 5 && strcmp(argv[1], "--config") == 0 && strcmp(argv[3], "status") == 0) {
		static struct vg_config cfg;
		char err[600];
		if (vg_config_load(&cfg, argv[2], err, sizeof err) != VG_OK) {
			fprintf(stderr, "%s\n", err);
			return VG_EXIT_USAGE;
		}
		return vg_cmd_status(&cfg, argv[2], 1, argv + 4);
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bundle_has_every_part_redacted, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(refusals_and_failures, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
