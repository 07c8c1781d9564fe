/* Unit tests for firmware/cli/plan.c (`venuegw plan`): check lists every
 * problem as FILE: <JSON pointer>: text with the count (exit 1 on errors,
 * warnings alone pass) and the summary of a usable plan; show lists the types
 * or one type's fields from --plan or the configured plan; import converts
 * the Segment and RudderStack exports under tests/data/plans/ into a plan
 * that loads, each field's class decided by its format or name, keywords it
 * cannot keep noted, only the newest version of an event, the version from
 * the export's digest; bad exports and command lines are refused. */
#include "cli_fixture.h"

#include "contract.h"
#include "digest.h"

#define PLANS VG_TEST_PLANS

static const char bad_plan[] =
	"{\"name\":\"t\",\"version\":\"1\",\"common\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}}},"
	"\"events\":{\"a.b\":{\"type\":\"object\",\"properties\":{\"properties\":{\"type\":\"object\","
	"\"properties\":{\"x\":{\"type\":\"string\",\"x-pii\":\"bogus\"}}}}}}}";

/* Usable, with one warning (no occurred_at). */
static const char warned_plan[] =
	"{\"name\":\"t\",\"version\":\"2\",\"common\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
	"\"type\":{\"type\":\"string\"}}},"
	"\"events\":{\"a.b\":{\"type\":\"object\",\"properties\":{\"properties\":{\"type\":\"object\","
	"\"properties\":{\"x\":{\"type\":\"string\",\"x-pii\":\"text\"}}}}}}}";

static void check_lists_every_problem(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "check", VG_DEFAULT_PLAN), VG_EXIT_OK);
	assert_out_has(f, VG_DEFAULT_PLAN ": 10 event types, 61 fields, version 1.0.0\n");
	assert_string_equal(f->err, "");

	char path[160], want[300];
	snprintf(path, sizeof path, "%s/bad.json", f->dir);
	cli_write(path, bad_plan, 0644);
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "check", path), VG_EXIT_FAIL);
	snprintf(want, sizeof want, "%s: /events/a.b/properties/properties/properties/x/x-pii: not a personal-data class", path);
	assert_err_has(f, want);
	snprintf(want, sizeof want, "%s: /events/a.b/properties: the event's \"type\" must be declared", path);
	assert_err_has(f, want);
	snprintf(want, sizeof want, "%s: /events/a.b/properties: warning: \"occurred_at\" is not declared", path);
	assert_err_has(f, want);
	snprintf(want, sizeof want, "%s: 2 errors, 1 warning\n", path);
	assert_err_has(f, want);
	assert_string_equal(f->out, "");

	/* Warnings alone: usable, counted in the summary; from standard input. */
	assert_code(f, cli_run(f, vg_cmd_plan, warned_plan, "check", "-"), VG_EXIT_OK);
	assert_out_has(f, "-: 1 event type, 4 fields, version 2 (1 warning above)\n");
	assert_err_has(f, "-: /events/a.b/properties: warning: \"occurred_at\" is not declared");

	/* Not a plan file at all; a missing file; the command line. */
	assert_code(f, cli_run(f, vg_cmd_plan, "[1,2", "check", "-"), VG_EXIT_FAIL);
	snprintf(path, sizeof path, "%s/missing.json", f->dir);
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "check", path), VG_EXIT_USAGE);
	assert_err_has(f, "missing.json: No such file or directory");
	char *none[] = { "check", NULL };
	assert_code(f, cli_run_argv(f, vg_cmd_plan, NULL, none), VG_EXIT_USAGE);
	assert_err_has(f, "expected one FILE");
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "check", "a", "b"), VG_EXIT_USAGE);
	assert_err_has(f, "expected one FILE, got b");
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "lint", "a"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown subcommand 'lint'");
}

static void show_types_and_fields(void **state)
{
	struct cli_fx *f = *state;
	/* The configured plan by default. */
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "show"), VG_EXIT_OK);
	assert_out_has(f, VG_DEFAULT_PLAN ": venuegw default plan, version 1.0.0, 10 event types\n");
	assert_out_has(f, "TYPE                                     PRIORITY FIELDS\n");
	assert_out_has(f, "\ncheckin.scanned                          normal   ");
	assert_out_has(f, "\nconsent.updated                          high     ");
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "show", "checkin.scanned"), VG_EXIT_OK);
	assert_out_has(f, "checkin.scanned, priority normal (" VG_DEFAULT_PLAN ", version 1.0.0)\n");
	assert_out_has(f, "properties.class_id                      string                 id                   \n");
	assert_out_has(f, "person.email ");
	/* --plan names another; a type it lacks is exit 2. */
	char path[160];
	snprintf(path, sizeof path, "%s/p.json", f->dir);
	cli_write(path, warned_plan, 0644);
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "show", "--plan", path), VG_EXIT_OK);
	assert_out_has(f, ": t, version 2, 1 event type\n");
	assert_string_equal(f->err, "");   /* warnings are check's business */
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "show", "checkin.scanned", "--plan", path), VG_EXIT_USAGE);
	assert_err_has(f, "has no type 'checkin.scanned'");
	/* A plan with errors cannot be shown. */
	cli_write(path, bad_plan, 0644);
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "show", "--plan", path), VG_EXIT_FAIL);
	assert_err_has(f, ": 2 errors: the plan cannot be used (venuegw plan check ");
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "show", "a", "b"), VG_EXIT_USAGE);
	assert_err_has(f, "unexpected argument 'b'");
}

/* The class of one field of type in the plan at path ("-" for none; "?" if
 * the path is not there). */
struct field_q {
	const char *path;
	char cls[32];
};

static int find_field(void *ud, const char *path, const char *types, const char *cls, int required)
{
	(void)types, (void)required;
	struct field_q *q = ud;
	if (strcmp(path, q->path) == 0)
		snprintf(q->cls, sizeof q->cls, "%s", cls ? cls : "-");
	return 0;
}

static const char *class_of(const struct vg_plan *p, const char *type, const char *path)
{
	static struct field_q q;
	q.path = path;
	snprintf(q.cls, sizeof q.cls, "?");
	vg_plan_fields(p, type, find_field, &q);
	return q.cls;
}

static void import_segment(void **state)
{
	struct cli_fx *f = *state;
	char out[160];
	snprintf(out, sizeof out, "%s/imported.json", f->dir);
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "segment", PLANS "/segment-export.json",
	                       "--base", VG_DEFAULT_PLAN, "-o", out), VG_EXIT_OK);
	assert_string_equal(f->out, "");
	/* Each decision on stderr. */
	assert_err_has(f, "event Order Completed → type Order_Completed (renamed: ");
	assert_err_has(f, "properties.email → email (string, format email)\n");
	assert_err_has(f, "properties.card_number → card (string, by name \"card_number\")\n");
	/* A lookahead is ECMA-262 and kept; a pattern PCRE2 would compile to
	 * over 64 KiB is not. */
	assert_err_has(f, "properties.voucher_ref: pattern dropped: not an expression venuegw can use "
	                  "(regular expression is too large");
	assert_err_has(f, "event Class Booked: version 1 not imported: the export has a newer");
	assert_err_has(f, "rules.identify not imported");
	assert_err_has(f, "imported 6 event types, 52 fields: ");
	char want[300];
	snprintf(want, sizeof want, "written to %s (version imported-", out);
	assert_err_has(f, want);

	/* It loads, with the version from the export's digest. */
	struct vg_plan *p = NULL;
	char err[600], text[1 << 16];
	if (vg_plan_load(&p, out, err, sizeof err) != VG_OK)
		fail_msg("%s", err);
	cli_slurp(PLANS "/segment-export.json", text, sizeof text);
	uint8_t d[32];
	char hex[65], version[32];
	vg_sha256(text, strlen(text), d);
	vg_hex(d, sizeof d, hex);
	snprintf(version, sizeof version, "imported-%.12s", hex);
	assert_string_equal(vg_plan_version(p), version);
	assert_string_equal(vg_plan_name(p), "imported from Segment: FitStudio Venues");
	assert_int_equal(vg_plan_count(p), 6);
	assert_true(vg_plan_has(p, "Order_Completed"));
	assert_true(vg_plan_has(p, "checkin.scanned"));
	/* Classes by format, by name (snake case, suffix, words), none for numbers. */
	assert_string_equal(class_of(p, "Order_Completed", "properties.email"), "email");
	assert_string_equal(class_of(p, "Order_Completed", "properties.order_id"), "id");
	assert_string_equal(class_of(p, "Order_Completed", "properties.total"), "-");
	assert_string_equal(class_of(p, "Order_Completed", "properties.billing.street"), "address");
	assert_string_equal(class_of(p, "Order_Completed", "properties.currency"), "text");
	assert_string_equal(class_of(p, "Class_Booked", "properties.instructor.first_name"), "name");
	assert_string_equal(class_of(p, "Checked_In", "properties.member_code"), "member_code");
	assert_string_equal(class_of(p, "Newsletter_Signed_Up", "properties.mobile"), "phone");
	/* The common fields come from the base. */
	assert_string_equal(class_of(p, "Checked_In", "person.email"), "email");
	vg_plan_free(p);

	/* To standard output, with the version given. */
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "segment", PLANS "/segment-export.json",
	                       "--base", VG_DEFAULT_PLAN, "--version", "v7"), VG_EXIT_OK);
	assert_int_equal(vg_plan_parse(&p, f->out, strlen(f->out), NULL, NULL), VG_OK);
	assert_string_equal(vg_plan_version(p), "v7");
	vg_plan_free(p);
}

/* The class a property's name gives it (a known-answer table): snake case,
 * exact names, suffixes and words; only strings get one by name. */
static void import_decides_classes_by_name(void **state)
{
	struct cli_fx *f = *state;
	static const struct { const char *name, *type, *cls; } cases[] = {
		{ "firstName", "string", "name" },          { "customerNumber", "string", "customer_id" },
		{ "stripe_customer_id", "string", "payment_customer_id" },
		{ "loyalty_number", "string", "loyalty_id" }, { "membershipNumber", "string", "member_code" },
		{ "contact_email", "string", "email" },     { "eMail", "string", "email" },
		{ "work_phone", "string", "phone" },        { "tel", "string", "phone" },
		{ "dob", "string", "birth_date" },          { "billing_address", "string", "address" },
		{ "zipCode", "string", "address" },         { "cc_number", "string", "card" },
		{ "booking_id", "string", "id" },           { "note", "string", "text" },
		{ "phonetic", "string", "text" },           { "age", "integer", "-" },
	};
	char export[4096];
	size_t n = (size_t)snprintf(export, sizeof export, "{\"events\":[{\"name\":\"e.x\",\"rules\":{\"type\":"
	                            "\"object\",\"properties\":{\"properties\":{\"type\":\"object\",\"properties\":{");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		n += (size_t)snprintf(export + n, sizeof export - n, "%s\"%s\":{\"type\":\"%s\"}", i ? "," : "",
		                      cases[i].name, cases[i].type);
	snprintf(export + n, sizeof export - n, "}}}}}]}");
	assert_code(f, cli_run(f, vg_cmd_plan, export, "import", "--from", "segment", "-", "--base", VG_DEFAULT_PLAN),
	            VG_EXIT_OK);
	struct vg_plan *p = NULL;
	assert_int_equal(vg_plan_parse(&p, f->out, strlen(f->out), NULL, NULL), VG_OK);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[80];
		snprintf(path, sizeof path, "properties.%s", cases[i].name);
		if (strcmp(class_of(p, "e.x", path), cases[i].cls) != 0)
			fail_msg("%s: class %s, want %s", cases[i].name, class_of(p, "e.x", path), cases[i].cls);
	}
	vg_plan_free(p);
}

static void import_rudderstack(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "rudderstack", PLANS "/rudderstack-export.json",
	                       "--base", VG_DEFAULT_PLAN), VG_EXIT_OK);
	assert_err_has(f, "not imported: a rule of type identify (venuegw devices send events: only track rules");
	assert_err_has(f, "imported 5 event types, 40 fields: ");
	struct vg_plan *p = NULL;
	assert_int_equal(vg_plan_parse(&p, f->out, strlen(f->out), NULL, NULL), VG_OK);
	assert_int_equal(vg_plan_count(p), 5);
	assert_true(strncmp(vg_plan_name(p), "imported from RudderStack", 25) == 0);
	vg_plan_free(p);
}

static void import_refuses_what_is_no_export(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_plan, "{\n\"a\": 1,\n\"b\": x}\n", "import", "--from", "segment", "-"), VG_EXIT_FAIL);
	assert_err_has(f, "-: not valid JSON (near line 3, column 6)");
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "segment", VG_DEFAULT_PLAN), VG_EXIT_FAIL);
	assert_err_has(f, "it is already a venuegw plan");
	assert_code(f, cli_run(f, vg_cmd_plan, "{\"events\":[]}", "import", "--from", "segment", "-"), VG_EXIT_FAIL);
	assert_err_has(f, "not a Segment tracking-plan export: expected rules.events[]");
	assert_code(f, cli_run(f, vg_cmd_plan, "{\"events\":[{\"name\":\"X\",\"type\":\"page\",\"rules\":{}}]}",
	                       "import", "--from", "rudderstack", "-"), VG_EXIT_FAIL);
	assert_err_has(f, "no track event could be imported");
	assert_string_equal(f->out, "");
	/* The command line; a named base that cannot be read. */
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", PLANS "/segment-export.json"), VG_EXIT_USAGE);
	assert_err_has(f, "--from segment or --from rudderstack is needed");
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "amplitude", "x.json"), VG_EXIT_USAGE);
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "segment"), VG_EXIT_USAGE);
	assert_err_has(f, "expected the export's FILE (or -)");
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "segment", "--version", "", "x.json"),
	            VG_EXIT_USAGE);
	assert_err_has(f, "--version is 1 to 64 bytes");
	char base[160];
	snprintf(base, sizeof base, "%s/no-base.json", f->dir);
	assert_code(f, cli_run(f, vg_cmd_plan, NULL, "import", "--from", "segment", PLANS "/segment-export.json",
	                       "--base", base), VG_EXIT_USAGE);
	assert_err_has(f, "no-base.json");
	assert_string_equal(f->out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(check_lists_every_problem, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(show_types_and_fields, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(import_segment, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(import_decides_classes_by_name, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(import_rudderstack, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(import_refuses_what_is_no_export, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
