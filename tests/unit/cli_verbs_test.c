/* Unit tests for firmware/cli/verbs.c and cli.c: the table of verbs is
 * consistent (every verb has a handler, a summary, its own help naming it,
 * and the exit statuses its help states), the usage text and `help --list`
 * are built from it, the options every verb takes are taken out of its
 * arguments, and the one way a verb opens buffer.db. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "store.h"

/* The statuses a help text states after "Exit status:": each digit 0-3
 * followed by a space (as in "0 shown; 1 buffer.db ..."), as bits. */
static unsigned stated_exits(const char *help)
{
	const char *p = strstr(help, "Exit status:");
	unsigned bits = 0;
	if (!p)
		return 0;
	for (p += strlen("Exit status:"); *p; p++)
		if (*p >= '0' && *p <= '3' && p[1] == ' ' && (p[-1] == ' ' || p[-1] == '\n'))
			bits |= VG_EXIT_BIT(*p - '0');
	return bits;
}

static void every_verb_has_handler_summary_help_and_exits(void **state)
{
	(void)state;
	assert_true(vg_nverbs >= 11);
	for (size_t i = 0; i < vg_nverbs; i++) {
		const struct vg_verb *v = &vg_verbs[i];
		assert_non_null(v->name);
		assert_non_null(v->fn);
		assert_non_null(v->summary);
		assert_true(strlen(v->summary) > 10);
		assert_null(strchr(v->summary, '\n'));
		/* Success and a bad command line are always possible. */
		assert_true(v->exits & VG_EXIT_BIT(VG_EXIT_OK));
		assert_true(v->exits & VG_EXIT_BIT(VG_EXIT_USAGE));
		assert_true(v->exits < VG_EXIT_BIT(VG_EXIT_REJECTED + 1));
		if (!v->help) {
			/* Only help shows the usage text. */
			assert_string_equal(v->name, "help");
			continue;
		}
		/* Its own help: the first line is its usage line. */
		assert_true(strncmp(v->help, "Usage: venuegw ", 15) == 0);
		const char *nl = strchr(v->help, '\n');
		assert_non_null(nl);
		char first[200];
		snprintf(first, sizeof first, "%.*s", (int)(nl - v->help), v->help);
		assert_non_null(strstr(first, v->name));
		/* The exit statuses in the table are those the help states. */
		if (stated_exits(v->help) != v->exits)
			fail_msg("%s: the help states exit statuses %#x, the table %#x", v->name,
			         stated_exits(v->help), v->exits);
	}
}

static void names_are_unique_and_found(void **state)
{
	(void)state;
	for (size_t i = 0; i < vg_nverbs; i++) {
		assert_ptr_equal(vg_verb_find(vg_verbs[i].name), &vg_verbs[i]);
		for (size_t j = i + 1; j < vg_nverbs; j++)
			assert_string_not_equal(vg_verbs[i].name, vg_verbs[j].name);
	}
	assert_null(vg_verb_find("frobnicate"));
	assert_null(vg_verb_find(""));
	assert_null(vg_verb_find("statu"));
	assert_non_null(vg_verb_find("check-config"));
	/* What the dispatch relies on. */
	assert_int_equal(vg_verb_find("provision")->config, VG_VERB_NO_CONFIG);
	assert_int_equal(vg_verb_find("validate")->config, VG_VERB_OPTIONAL_CONFIG);
	assert_int_equal(vg_verb_find("plan")->config, VG_VERB_OPTIONAL_CONFIG);
	assert_int_equal(vg_verb_find("status")->config, VG_VERB_NEEDS_CONFIG);
	assert_true(vg_verb_find("run")->no_args);
	assert_ptr_equal(vg_verb_find("run")->fn, vg_cmd_run);
	assert_ptr_equal(vg_verb_find("help")->fn, vg_cmd_help);
}

static void usage_lists_every_verb_with_its_summary(void **state)
{
	(void)state;
	size_t need = vg_cli_usage(NULL, 0);
	char *text = malloc(need + 1);
	assert_non_null(text);
	assert_int_equal(vg_cli_usage(text, need + 1), need);
	assert_int_equal(strlen(text), need);
	assert_true(strncmp(text, vg_help_usage_head, strlen(vg_help_usage_head)) == 0);
	assert_string_equal(text + need - strlen(vg_help_usage_tail), vg_help_usage_tail);
	const char *p = text + strlen(vg_help_usage_head);
	for (size_t i = 0; i < vg_nverbs; i++) {
		char line[200];
		snprintf(line, sizeof line, "  %-20s %s\n", vg_verbs[i].name, vg_verbs[i].summary);
		/* In table order, one after the other. */
		assert_true(strncmp(p, line, strlen(line)) == 0);
		p += strlen(line);
	}
	assert_ptr_equal(p, text + need - strlen(vg_help_usage_tail));
	assert_non_null(strstr(text, "  run                  the daemon: buffer.db"));
	/* A short buffer: cut, terminated, the length still counted. */
	char small[16];
	assert_int_equal(vg_cli_usage(small, sizeof small), need);
	assert_int_equal(strlen(small), sizeof small - 1);
	free(text);
}

static void list_prints_each_verb_with_its_exits(void **state)
{
	(void)state;
	char text[2048];
	size_t n = vg_cli_list(text, sizeof text);
	assert_true(n < sizeof text);
	assert_non_null(strstr(text, "run 0 1 2\n"));
	assert_non_null(strstr(text, "check-config 0 2\n"));
	assert_non_null(strstr(text, "validate 0 1 2 3\n"));
	assert_non_null(strstr(text, "help 0 2\n"));
	int lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, (int)vg_nverbs);
	assert_true(strncmp(text, "run ", 4) == 0);
}

static void common_args_take_config_and_spot_help(void **state)
{
	(void)state;
	const char *path = "default";
	char *a1[] = { "list", "--config", "/etc/x.conf", "--json", NULL };
	int argc = 4;
	assert_int_equal(vg_cli_common_args(&argc, a1, &path), 0);
	assert_int_equal(argc, 2);
	assert_string_equal(path, "/etc/x.conf");
	assert_string_equal(a1[0], "list");
	assert_string_equal(a1[1], "--json");

	/* -c too, twice: the last wins; at the end of argv. */
	char *a2[] = { "-c", "a.conf", "x", "-c", "b.conf", NULL };
	argc = 5;
	path = "default";
	assert_int_equal(vg_cli_common_args(&argc, a2, &path), 0);
	assert_int_equal(argc, 1);
	assert_string_equal(a2[0], "x");
	assert_string_equal(path, "b.conf");

	/* --config without its value is left for the verb. */
	char *a3[] = { "x", "--config", NULL };
	argc = 2;
	path = "default";
	assert_int_equal(vg_cli_common_args(&argc, a3, &path), 0);
	assert_int_equal(argc, 2);
	assert_string_equal(path, "default");

	/* --help or -h anywhere: the help is wanted. */
	char *a4[] = { "add", "pos-1", "--help", NULL };
	argc = 3;
	assert_int_equal(vg_cli_common_args(&argc, a4, &path), 1);
	char *a5[] = { "-h", NULL };
	argc = 1;
	assert_int_equal(vg_cli_common_args(&argc, a5, &path), 1);
	char *a6[] = { NULL };
	argc = 0;
	assert_int_equal(vg_cli_common_args(&argc, a6, &path), 0);
}

/* The one store opener: a buffer.db the daemon has not created is no store
 * (the reason in err, or on stderr); one that exists opens. */
static void open_store_names_why_it_cannot(void **state)
{
	(void)state;
	static struct vg_config cfg;
	vg_config_defaults(&cfg);
	char dir[] = "/tmp/vg_cli_store_test.XXXXXX", err[600] = "", db[300];
	assert_non_null(mkdtemp(dir));
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	assert_null(vg_cli_open_store(&cfg, VG_CLI_BUSY_MS, err, sizeof err));
	assert_non_null(strstr(err, "buffer.db"));
	assert_null(vg_cli_open_store(&cfg, VG_CLI_BUSY_MS, NULL, 0));   /* said on stderr */
	/* The daemon's open creates it; then a verb's opens it. */
	assert_int_equal(vg_config_db_path(&cfg, db, sizeof db), VG_OK);
	struct vg_store *st = NULL;
	struct vg_store_cfg scfg = { .path = db, .owner = 1, .durability_full = 1, .busy_timeout_ms = 100 };
	assert_int_equal(vg_store_open(&st, &scfg, err, sizeof err), VG_OK);
	vg_store_close(st);
	st = vg_cli_open_store(&cfg, VG_CLI_BUSY_MS, err, sizeof err);
	assert_non_null(st);
	vg_store_close(st);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_verb_has_handler_summary_help_and_exits),
		cmocka_unit_test(names_are_unique_and_found),
		cmocka_unit_test(usage_lists_every_verb_with_its_summary),
		cmocka_unit_test(list_prints_each_verb_with_its_exits),
		cmocka_unit_test(common_args_take_config_and_spot_help),
		cmocka_unit_test(open_store_names_why_it_cannot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
