/* Shared by the verbs' unit tests (tests/unit/cli_*_test.c): a fresh
 * directory per test holding a configuration that points data_dir and the
 * token key file into it, buffer.db created by the daemon's open, and a way
 * to call a verb's handler with its arguments, standard input from a string,
 * and standard output and error captured.  buffer.db is read from outside
 * with store_fixture.h's raw_int() and raw_text(). */
#ifndef VG_CLI_FIXTURE_H
#define VG_CLI_FIXTURE_H

#include <fcntl.h>
#include <sys/stat.h>

/* raw_int, raw_text, event, put_in_txn: buffer.db seen and filled from outside. */
#include "store_fixture.h"

#include "cli.h"
#include "config.h"
#include "err.h"
#include "store.h"

#define CLI_K1_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define CLI_K2_HEX "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define CLI_OUT_MAX (256 * 1024)

/* Under qemu-user (the arm64 cross run: tests/CMakeLists.txt sets
 * VG_TEST_EMULATED=1), a forked child of the test spins at 100 % CPU before
 * it gets to exec or write (qemu-aarch64 7.2): tests of verbs that fork skip
 * there.  They run natively and under ASan+UBSan. */
#define CLI_SKIP_IF_EMULATED()                                                                     \
	do {                                                                                       \
		const char *emu_ = getenv("VG_TEST_EMULATED");                                     \
		if (emu_ && emu_[0] == '1') {                                                      \
			fprintf(stderr, "skipped under qemu-user: forked children do not run\n");   \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

struct cli_fx {
	char dir[64];
	char conf[128];
	char db[128];
	char keys[128];
	struct vg_config cfg;
	char out[CLI_OUT_MAX];    /* the last run's standard output */
	char err[CLI_OUT_MAX];    /* and its standard error */
};

/* Write text to path with mode. */
static inline void cli_write(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		fail_msg("cannot create %s", path);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* (Re)write the configuration: data_dir and the key file in the test's
 * directory, then gateway (more [gateway] lines), the package's plan, then
 * extra (whole sections), and load it. */
static inline void cli_config_gw(struct cli_fx *f, const char *gateway, const char *extra)
{
	char text[4096];
	snprintf(text, sizeof text,
	         "[gateway]\nvenue_id = test-venue\ndata_dir = %s\ndefault_country_code = 49\n%s"
	         "[tokens]\nkey_file = %s\n"
	         "[contracts]\nplan = %s\n%s",
	         f->dir, gateway ? gateway : "", f->keys, VG_DEFAULT_PLAN, extra ? extra : "");
	cli_write(f->conf, text, 0644);
	char err[600] = "";
	if (vg_config_load(&f->cfg, f->conf, err, sizeof err) != VG_OK)
		fail_msg("vg_config_load: %s", err);
}

/* The same without more [gateway] lines. */
static inline void cli_config(struct cli_fx *f, const char *extra)
{
	cli_config_gw(f, NULL, extra);
}

/* A fresh directory with a key file (version 1), the configuration and
 * buffer.db as the daemon creates it. */
static inline int cli_setup(void **state)
{
	struct cli_fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/vg_cli_test_XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->conf, sizeof f->conf, "%s/venuegw.conf", f->dir);
	snprintf(f->db, sizeof f->db, "%s/buffer.db", f->dir);
	snprintf(f->keys, sizeof f->keys, "%s/token_keys", f->dir);
	cli_write(f->keys, "1 " CLI_K1_HEX "\n", 0600);
	cli_config(f, NULL);
	struct vg_store_cfg scfg = { .path = f->db, .owner = 1, .durability_full = 1, .busy_timeout_ms = 100 };
	struct vg_store *st = NULL;
	char err[300] = "";
	if (vg_store_open(&st, &scfg, err, sizeof err) != VG_OK) {
		print_error("vg_store_open: %s\n", err);
		return -1;
	}
	vg_store_close(st);
	*state = f;
	return 0;
}

static inline int cli_teardown(void **state)
{
	struct cli_fx *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	int rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* The store as the daemon opens it (owner). */
static inline struct vg_store *cli_store(struct cli_fx *f)
{
	struct vg_store_cfg scfg = { .path = f->db, .owner = 1, .durability_full = 1, .busy_timeout_ms = 100 };
	struct vg_store *st = NULL;
	char err[300] = "";
	if (vg_store_open(&st, &scfg, err, sizeof err) != VG_OK)
		fail_msg("vg_store_open: %s", err);
	return st;
}

static inline void cli_slurp(const char *path, char *out, size_t outsz)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	size_t n = fread(out, 1, outsz - 1, fp);
	out[n] = '\0';
	fclose(fp);
}

/* Call fn (a verb's handler) with the configuration cfg (NULL: none) and
 * argv (NULL-terminated), standard input from in (NULL: empty), standard
 * output and error into f->out and f->err.  Returns its exit status. */
static inline int cli_run_cfg(struct cli_fx *f, struct vg_config *cfg, vg_verb_fn *fn, const char *in, char **argv)
{
	char inp[128], outp[128], errp[128];
	snprintf(inp, sizeof inp, "%s/.stdin", f->dir);
	snprintf(outp, sizeof outp, "%s/.stdout", f->dir);
	snprintf(errp, sizeof errp, "%s/.stderr", f->dir);
	cli_write(inp, in ? in : "", 0600);
	assert_non_null(freopen(inp, "r", stdin));
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved_out >= 0 && saved_err >= 0 && fo >= 0 && fe >= 0);
	dup2(fo, 1);
	dup2(fe, 2);
	close(fo);
	close(fe);
	int argc = 0;
	while (argv[argc])
		argc++;
	int code = fn(cfg, cfg ? f->conf : NULL, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	cli_slurp(outp, f->out, sizeof f->out);
	cli_slurp(errp, f->err, sizeof f->err);
	unlink(inp);
	unlink(outp);
	unlink(errp);
	return code;
}

/* The same with the test's configuration. */
static inline int cli_run_argv(struct cli_fx *f, vg_verb_fn *fn, const char *in, char **argv)
{
	return cli_run_cfg(f, &f->cfg, fn, in, argv);
}

/* cli_run(f, fn, in, "arg", ...): the arguments as a list. */
#define cli_run(f, fn, in, ...) cli_run_argv((f), (fn), (in), (char *[]){ __VA_ARGS__, NULL })

/* Assert that needle is (or is not) in the last run's output. */
#define assert_out_has(f, needle) \
	do { if (!strstr((f)->out, (needle))) fail_msg("stdout lacks '%s':\n%s\nstderr:\n%s", (needle), (f)->out, (f)->err); } while (0)
#define assert_err_has(f, needle) \
	do { if (!strstr((f)->err, (needle))) fail_msg("stderr lacks '%s':\n%s\nstdout:\n%s", (needle), (f)->err, (f)->out); } while (0)
#define assert_code(f, got, want) \
	do { int g_ = (got); if (g_ != (want)) fail_msg("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", g_, (want), (f)->out, (f)->err); } while (0)

#endif
