/* venuegw plan: lint and show tracking plans (DESIGN.md §4).
 *
 *   plan check FILE                     every problem with its JSON pointer
 *   plan show [TYPE] [--plan FILE]      the types, or one type's fields
 *
 * The plan itself is contract.h's: this file only reads files and prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "daemon.h"
#include "err.h"

const char vg_help_plan[] =
	"Usage: venuegw plan check FILE\n"
	"       venuegw [--config FILE] plan show [TYPE] [--plan FILE]\n"
	"\n"
	"The tracking plan (DESIGN.md section 4) says, per event type, which fields\n"
	"pass and the personal-data class (x-pii) of each; what it does not declare\n"
	"never passes.\n"
	"\n"
	"check    lints a plan: every problem as FILE: <JSON pointer>: <text>\n"
	"         (warning: for what works but is probably not meant), then the\n"
	"         number of event types, of fields (distinct paths) and the version.\n"
	"show     without TYPE the plan's types with their priority and number of\n"
	"         fields; with TYPE each field: path, JSON types, class, required.\n"
	"         The plan is --plan FILE, else [contracts] plan of the configuration,\n"
	"         else " VG_PLAN_DEFAULT_PATH ".\n"
	"\n"
	"Exit status: 0 the plan is usable (warnings may be printed); 1 the plan has\n"
	"errors; 2 bad command line, a file that cannot be read, or no such TYPE.\n";

#define PLAN_FILE_MAX (4u << 20) /* vg_plan_load's limit */

/* Reads path ("-": standard input) whole into a NUL-terminated buffer the
 * caller frees.  On failure prints why on stderr and returns NULL. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "venuegw plan: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(PLAN_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, PLAN_FILE_MAX + 1, f) : 0;
	int ioerr = ferror(f);
	if (f != stdin)
		fclose(f);
	if (!buf || ioerr || n > PLAN_FILE_MAX) {
		fprintf(stderr, "venuegw plan: %s: %s\n", path, !buf ? "out of memory" : ioerr ? strerror(EIO)
		        : "larger than 4 MiB");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ---- check and show ---------------------------------------------------------- */

struct lint {
	const char *file;
	int errors, warnings;
	int quiet_warnings;  /* show: only errors */
};

static void print_problem(void *ud, int warning, const char *pointer, const char *text)
{
	struct lint *l = ud;
	if (warning)
		l->warnings++;
	else
		l->errors++;
	if (!warning || !l->quiet_warnings)
		fprintf(stderr, "%s: %s: %s%s\n", l->file, pointer, warning ? "warning: " : "", text);
}

/* Parses the plan at path, printing its problems.  Returns an exit code;
 * *out is the plan on VG_EXIT_OK. */
static int load_plan(const char *path, int quiet_warnings, struct vg_plan **out, struct lint *l)
{
	size_t len;
	char *text = read_file(path, &len);
	*l = (struct lint){ .file = path, .quiet_warnings = quiet_warnings };
	*out = NULL;
	if (!text)
		return VG_EXIT_USAGE;
	int rc = vg_plan_parse(out, text, len, print_problem, l);
	free(text);
	if (rc == VG_ERR_NOMEM) {
		fprintf(stderr, "venuegw plan: %s: out of memory\n", path);
		return VG_EXIT_FAIL;
	}
	return rc == VG_OK ? VG_EXIT_OK : VG_EXIT_FAIL;
}

/* Distinct field paths over every type (common fields once). */
struct paths {
	char **v;
	size_t n, cap;
	int nomem;
};

static int add_path(void *ud, const char *path, const char *types, const char *cls, int required)
{
	(void)types, (void)cls, (void)required;
	struct paths *ps = ud;
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i], path) == 0)
			return 0;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		char **v = realloc(ps->v, cap * sizeof *v);
		if (!v)
			return ps->nomem = 1;
		ps->v = v;
		ps->cap = cap;
	}
	if (!(ps->v[ps->n] = strdup(path)))
		return ps->nomem = 1;
	ps->n++;
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "venuegw plan check: expected one FILE%s%s\n", argc ? ", got " : "",
		        argc > 1 ? argv[1] : "");
		return VG_EXIT_USAGE;
	}
	struct vg_plan *p;
	struct lint l;
	int code = load_plan(argv[0], 0, &p, &l);
	if (code == VG_EXIT_USAGE)
		return code;
	if (!p) {
		fprintf(stderr, "%s: %d error%s, %d warning%s\n", l.file, l.errors, l.errors == 1 ? "" : "s",
		        l.warnings, l.warnings == 1 ? "" : "s");
		return VG_EXIT_FAIL;
	}
	struct paths ps = { 0 };
	for (int i = 0; i < vg_plan_count(p); i++)
		vg_plan_fields(p, vg_plan_type(p, i), add_path, &ps);
	printf("%s: %d event type%s, %zu fields, version %s", l.file, vg_plan_count(p),
	       vg_plan_count(p) == 1 ? "" : "s", ps.n, vg_plan_version(p)[0] ? vg_plan_version(p) : "(none)");
	if (l.warnings)
		printf(" (%d warning%s above)", l.warnings, l.warnings == 1 ? "" : "s");
	printf("\n");
	for (size_t i = 0; i < ps.n; i++)
		free(ps.v[i]);
	free(ps.v);
	vg_plan_free(p);
	if (ps.nomem) {
		fprintf(stderr, "venuegw plan check: out of memory\n");
		return VG_EXIT_FAIL;
	}
	return VG_EXIT_OK;
}

static const char *priority_name(enum vg_priority prio)
{
	return prio == VG_PRIO_HIGH ? "high" : prio == VG_PRIO_LOW ? "low" : "normal";
}

static int count_field(void *ud, const char *path, const char *types, const char *cls, int required)
{
	(void)path, (void)types, (void)cls, (void)required;
	++*(int *)ud;
	return 0;
}

static int print_field(void *ud, const char *path, const char *types, const char *cls, int required)
{
	(void)ud;
	printf("%-40s %-22s %-20s %s\n", path, types, cls ? cls : "-", required ? "required" : "");
	return 0;
}

/* [contracts] plan.  config.h has no plan_path yet on this branch: until it
 * does, the package's default plan (which is also that key's default). */
static const char *configured_plan(const struct vg_config *cfg)
{
	(void)cfg;
	return VG_PLAN_DEFAULT_PATH;
}

static int cmd_show(const struct vg_config *cfg, int argc, char **argv)
{
	const char *path = NULL, *type = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--plan") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (argv[i][0] != '-' && !type) {
			type = argv[i];
		} else {
			fprintf(stderr, "venuegw plan show: unexpected argument '%s'\n", argv[i]);
			return VG_EXIT_USAGE;
		}
	}
	if (!path)
		path = configured_plan(cfg);
	struct vg_plan *p;
	struct lint l;
	int code = load_plan(path, 1, &p, &l);
	if (code == VG_EXIT_USAGE)
		return code;
	if (!p) {
		fprintf(stderr, "%s: %d error%s: the plan cannot be used (venuegw plan check %s)\n", path, l.errors,
		        l.errors == 1 ? "" : "s", path);
		return VG_EXIT_FAIL;
	}
	if (type) {
		if (!vg_plan_has(p, type)) {
			fprintf(stderr, "venuegw plan show: %s has no type '%s' (venuegw plan show --plan %s lists"
			        " them)\n", path, type, path);
			vg_plan_free(p);
			return VG_EXIT_USAGE;
		}
		printf("%s, priority %s (%s, version %s)\n", type, priority_name(vg_plan_priority(p, type)), path,
		       vg_plan_version(p));
		printf("%-40s %-22s %-20s %s\n", "FIELD", "TYPES", "CLASS", "REQUIRED");
		vg_plan_fields(p, type, print_field, NULL);
	} else {
		printf("%s: %s%sversion %s, %d event type%s\n", path, vg_plan_name(p), vg_plan_name(p)[0] ? ", " : "",
		       vg_plan_version(p), vg_plan_count(p), vg_plan_count(p) == 1 ? "" : "s");
		printf("%-40s %-8s %s\n", "TYPE", "PRIORITY", "FIELDS");
		for (int i = 0; i < vg_plan_count(p); i++) {
			const char *t = vg_plan_type(p, i);
			int n = 0;
			vg_plan_fields(p, t, count_field, &n);
			printf("%-40s %-8s %6d\n", t, priority_name(vg_plan_priority(p, t)), n);
		}
	}
	vg_plan_free(p);
	return VG_EXIT_OK;
}

int vg_cmd_plan(const struct vg_config *cfg, int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr, "venuegw plan: expected check or show (venuegw plan --help)\n");
		return VG_EXIT_USAGE;
	}
	if (strcmp(argv[0], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0)
		return cmd_show(cfg, argc - 1, argv + 1);
	fprintf(stderr, "venuegw plan: unknown subcommand '%s' (check, show)\n", argv[0]);
	return VG_EXIT_USAGE;
}
