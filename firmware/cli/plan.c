/* venuegw plan: lint, show and import tracking plans (DESIGN.md §4).
 *
 *   plan check FILE                     every problem with its JSON pointer
 *   plan show [TYPE] [--plan FILE]      the types, or one type's fields
 *   plan import --from segment|rudderstack FILE [-o OUT]
 *                                       a CDP's tracking-plan export → ours
 *
 * The plan itself is contract.h's: this file only reads files, prints, and
 * (import) rewrites one JSON document into another.  Whatever import writes
 * is parsed by vg_plan_parse before it is written, so an import never leaves
 * a plan `plan check` would refuse.
 *
 * The export formats import reads — what their vendors document:
 *  - Segment Config API (v1beta) "Get Tracking Plan": { "display_name",
 *    "rules": { "events": [ { "name", "description", "version",
 *    "rules": <JSON Schema of the whole call: properties.properties,
 *    properties.context, properties.traits> } ], "global", "identify",
 *    "group", "identify_traits", "group_traits" } }
 *    (Segment's Postman reference of the Config API, mirrored at
 *    https://developers.qodex.ai/twilio-api/segment-apis/tracking-plans/get-tracking-plan;
 *    https://segment.com/docs/protocols/tracking-plan/create/).
 *  - Segment Public API rules (List Rules from Tracking Plan, and the body of
 *    Replace/Update Rules): { "data": { "rules": [ { "type": "TRACK" |
 *    "IDENTIFY" | "GROUP" | "PAGE" | "SCREEN" | "COMMON", "key": <event
 *    name>, "version", "jsonSchema": <the same JSON Schema> } ] } }, or
 *    { "rules": [ ... ] } (https://docs.segmentapis.com/tag/Tracking-Plans;
 *    the segment_tracking_plan Terraform resource spells it json_schema).
 *  - RudderStack: the v1 tracking-plan API and RudderTyper's cached plan.json
 *    use the Config API shape with an "eventType" per event; the Data Catalog
 *    API returns one { "name", "description", "eventType", "rules" } per
 *    event of a plan (https://www.rudderstack.com/docs/api/data-catalog-api/,
 *    rudderlabs/rudder-typer src/cli/api/api.ts), custom types as "$defs"
 *    referenced by "$ref": an export of a plan's events is then
 *    { "events": [ { "name", "eventType", "rules" } ] }.
 *  - and plainly { "events": [ { "name", "rules" | "jsonSchema" | "schema" } ] }.
 * In each, an event's own properties are the schema's properties.properties.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "contract.h"
#include "cli.h"
#include "digest.h"
#include "err.h"

const char vg_help_plan[] =
	"Usage: venuegw plan check FILE\n"
	"       venuegw [--config FILE] plan show [TYPE] [--plan FILE]\n"
	"       venuegw plan import --from segment|rudderstack EXPORT [-o OUT]\n"
	"                           [--version V] [--base PLAN]\n"
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
	"import   converts a Segment Protocols or RudderStack tracking-plan export\n"
	"         (the Config API's rules.events, the Public API's rules with\n"
	"         jsonSchema, a Data Catalog export, or {\"events\": [{\"name\",\n"
	"         \"rules\"}]}) into a plan, written to OUT or standard output.\n"
	"         Each track event becomes a type, its properties our properties;\n"
	"         types, required, enum, const, pattern, format, lengths and bounds\n"
	"         are kept, local $ref resolved; other keywords are dropped with a\n"
	"         note saying whether that loosens validation.  Every string field\n"
	"         is text unless its name says otherwise (email, phone, name,\n"
	"         address, birth_date, card, customer_id, loyalty_id, member_code,\n"
	"         id for *_id): each decision is printed on standard error, review\n"
	"         them.  The common fields (id, type, occurred_at, seq, person,\n"
	"         consent) come from --base PLAN (default " VG_PLAN_DEFAULT_PATH ",\n"
	"         a built-in minimal schema when it is missing).  The version is\n"
	"         imported-<first 12 hex digits of the export's SHA-256> unless\n"
	"         --version V is given.\n"
	"\n"
	"Exit status: 0 the plan is usable (check: warnings may be printed; import:\n"
	"written); 1 the plan has errors (check, show), or the export is not valid\n"
	"JSON or not a tracking plan (import); 2 bad command line, a file that cannot\n"
	"be read or written, or no such TYPE.\n";

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

/* [contracts] plan (its default is the package's plan), or the package's
 * plan when no configuration could be loaded. */
static const char *configured_plan(const struct vg_config *cfg)
{
	return cfg && cfg->plan_path[0] ? cfg->plan_path : VG_PLAN_DEFAULT_PATH;
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

/* ---- import -------------------------------------------------------------------- */

/* The classes a field's name gives it, first match wins; the name is compared
 * in snake case ("firstName" is first_name).  exact: the whole name; suffix:
 * the name ends with "_" and it; word: one of the name's "_"-separated words. */
enum match { EXACT, SUFFIX, WORD };
static const struct name_rule {
	enum match how;
	const char *name;
	const char *cls;
} name_rules[] = {
	{ EXACT, "customer_id", "customer_id" },     { EXACT, "customer_number", "customer_id" },
	{ EXACT, "loyalty_id", "loyalty_id" },       { EXACT, "loyalty_number", "loyalty_id" },
	{ EXACT, "member_code", "member_code" },     { EXACT, "member_number", "member_code" },
	{ EXACT, "membership_number", "member_code" },
	{ EXACT, "payment_customer_id", "payment_customer_id" },
	{ EXACT, "stripe_customer_id", "payment_customer_id" },
	{ EXACT, "id", "id" },                       { SUFFIX, "id", "id" },
	{ WORD, "email", "email" },                  { EXACT, "e_mail", "email" },
	{ SUFFIX, "e_mail", "email" },               { EXACT, "mail", "email" },
	{ SUFFIX, "mail", "email" },
	{ WORD, "phone", "phone" },                  { WORD, "mobile", "phone" },
	{ WORD, "telephone", "phone" },              { WORD, "msisdn", "phone" },
	{ EXACT, "tel", "phone" },                   { SUFFIX, "tel", "phone" },
	{ EXACT, "birthday", "birth_date" },         { SUFFIX, "birthday", "birth_date" },
	{ EXACT, "birth_date", "birth_date" },       { SUFFIX, "birth_date", "birth_date" },
	{ EXACT, "birthdate", "birth_date" },        { EXACT, "date_of_birth", "birth_date" },
	{ EXACT, "dob", "birth_date" },              { SUFFIX, "dob", "birth_date" },
	{ EXACT, "card", "card" },                   { EXACT, "card_number", "card" },
	{ SUFFIX, "card_number", "card" },           { EXACT, "cardnumber", "card" },
	{ EXACT, "pan", "card" },                    { EXACT, "credit_card", "card" },
	{ EXACT, "cc_number", "card" },
	{ EXACT, "name", "name" },                   { SUFFIX, "name", "name" },
	{ EXACT, "surname", "name" },                { SUFFIX, "surname", "name" },
	{ EXACT, "firstname", "name" },              { EXACT, "lastname", "name" },
	{ EXACT, "fullname", "name" },
	{ EXACT, "address", "address" },             { SUFFIX, "address", "address" },
	{ WORD, "street", "address" },               { EXACT, "city", "address" },
	{ SUFFIX, "city", "address" },               { EXACT, "zip", "address" },
	{ SUFFIX, "zip", "address" },                { EXACT, "zip_code", "address" },
	{ SUFFIX, "zip_code", "address" },           { EXACT, "zipcode", "address" },
	{ EXACT, "postal_code", "address" },         { SUFFIX, "postal_code", "address" },
	{ EXACT, "postcode", "address" },            { SUFFIX, "postcode", "address" },
	{ EXACT, "address_line1", "address" },       { EXACT, "address_line2", "address" },
};

static void snake_case(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; in[i] && o + 2 < outsz; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z') {
			if (i > 0 && o > 0 && out[o - 1] != '_' &&
			    ((in[i - 1] >= 'a' && in[i - 1] <= 'z') || (in[i - 1] >= '0' && in[i - 1] <= '9')))
				out[o++] = '_';
			out[o++] = (char)(c - 'A' + 'a');
		} else if (c == '-' || c == ' ' || c == '.') {
			if (o > 0 && out[o - 1] != '_')
				out[o++] = '_';
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
}

static const char *class_by_words(const char *n);

/* A plural ("emails", "guest_names") is read as its singular too. */
static const char *class_by_name(const char *raw)
{
	char n[128];
	snake_case(raw, n, sizeof n);
	const char *cls = class_by_words(n);
	size_t len = strlen(n);
	if (!cls && len > 1 && n[len - 1] == 's') {
		n[len - 1] = '\0';
		cls = class_by_words(n);
	}
	return cls;
}

static const char *class_by_words(const char *n)
{
	size_t len = strlen(n);
	for (size_t i = 0; i < sizeof name_rules / sizeof name_rules[0]; i++) {
		const struct name_rule *r = &name_rules[i];
		size_t k = strlen(r->name);
		if (strcmp(n, r->name) == 0)
			return r->cls;
		if (r->how == SUFFIX && len > k + 1 && n[len - k - 1] == '_' && strcmp(n + len - k, r->name) == 0)
			return r->cls;
		if (r->how == WORD) {
			for (const char *w = strstr(n, r->name); w; w = strstr(w + 1, r->name))
				if ((w == n || w[-1] == '_') && (w[k] == '\0' || w[k] == '_'))
					return r->cls;
		}
	}
	return NULL;
}

/* Keywords import keeps, and those it drops quietly (annotations, and the
 * definitions $ref points into).  Every other keyword is dropped with a note. */
static const char *const kept_keywords[] = {
	"type", "properties", "required", "additionalProperties", "items", "enum", "const", "minimum",
	"maximum", "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
	"pattern", "format", "anyOf", "description", "$ref",
};
static const char *const quiet_keywords[] = {
	"$schema", "$id", "id", "$comment", "title", "examples", "default", "deprecated", "readOnly",
	"writeOnly", "labels", "$defs", "definitions",
};
/* What dropping a keyword does, for the note. */
static const struct {
	const char *keyword;
	const char *effect;
} dropped_keywords[] = {
	{ "patternProperties", "stricter: the members it admits are not declared and are dropped at capture" },
	{ "unevaluatedProperties", "stricter: the members it admits are not declared and are dropped at capture" },
	{ "prefixItems", "stricter: the elements it declares are dropped at capture" },
	{ "oneOf", NULL }, { "allOf", NULL }, { "not", NULL }, { "if", NULL }, { "then", NULL },
	{ "else", NULL }, { "dependentSchemas", NULL },
};
#define LOOSER "looser: what it requires is no longer checked"

struct import {
	const char *from;            /* "Segment" or "RudderStack", for texts */
	const cJSON *doc;            /* the export, for "$ref": "#/..." */
	const cJSON *rule;           /* the current event's schema, tried first */
	const char *event;           /* the current event's name */
	int depth;
	int in_branch;               /* > 0 inside anyOf: decided, not printed nor counted */
	int fields, by_name, notes;
	int by_class[16];
};

__attribute__((format(printf, 3, 4)))
static void note(struct import *im, const char *path, const char *fmt, ...)
{
	va_list ap;
	if (im->event)
		fprintf(stderr, "event %s: ", im->event[0] ? im->event : "(no name)");
	fprintf(stderr, "%s%s", path, path[0] ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	im->notes++;
}

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* Whether a schema declares members anywhere below it. */
static int declares_members(const cJSON *s)
{
	if (cJSON_IsObject(s) && cJSON_GetObjectItemCaseSensitive(s, "properties"))
		return 1;
	for (const cJSON *c = s ? s->child : NULL; c; c = c->next)
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && declares_members(c))
			return 1;
	return 0;
}

/* Whether a keyword's schema (or array of schemas) declares a member that the
 * schema it stands in does not: dropping it leaves that member undeclared. */
static int adds_members(const cJSON *kw, const cJSON *parent)
{
	const cJSON *own = cJSON_GetObjectItemCaseSensitive(parent, "properties");
	const cJSON *one = cJSON_IsArray(kw) ? kw->child : kw;
	for (; one; one = cJSON_IsArray(kw) ? one->next : NULL) {
		const cJSON *m;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(one, "properties"))
			if (!cJSON_GetObjectItemCaseSensitive(own, m->string))
				return 1;
	}
	return 0;
}

/* A local reference ("#/$defs/x", "#/definitions/x"), looked up in the event's
 * schema, then in the whole export.  NULL when it cannot be resolved. */
static const cJSON *resolve_ref(const struct import *im, const char *ref)
{
	if (strncmp(ref, "#/", 2) != 0)
		return NULL;
	const cJSON *roots[2] = { im->rule, im->doc };
	for (int r = 0; r < 2; r++) {
		const cJSON *at = roots[r];
		char tok[256];
		for (const char *p = ref + 1; at && *p == '/';) {
			size_t n = 0;
			for (p++; *p && *p != '/' && n + 1 < sizeof tok; p++) {
				if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
					tok[n++] = p[1] == '0' ? '~' : '/';
					p++;
				} else {
					tok[n++] = *p;
				}
			}
			tok[n] = '\0';
			at = cJSON_IsArray(at) ? cJSON_GetArrayItem(at, atoi(tok)) : cJSON_GetObjectItemCaseSensitive(at, tok);
		}
		if (at)
			return at;
	}
	return NULL;
}

static const char *const json_types[] = { "object", "array", "string", "number", "integer", "boolean", "null" };

/* The converted node's types as "string|null" (an anyOf's: its branches'),
 * or "any". */
static void types_text(const cJSON *node, char *out, size_t outsz)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "type");
	const cJSON *any = cJSON_GetObjectItemCaseSensitive(node, "anyOf");
	out[0] = '\0';
	if (!t && any) {
		const cJSON *b;
		cJSON_ArrayForEach(b, any) {
			char one[64];
			size_t n = strlen(out);
			types_text(b, one, sizeof one);
			snprintf(out + n, outsz - n, "%s%s", n ? "|" : "", one);
		}
		return;
	}
	if (cJSON_IsString(t)) {
		snprintf(out, outsz, "%s", t->valuestring);
		return;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, t) {
		size_t n = strlen(out);
		snprintf(out + n, outsz - n, "%s%s", n ? "|" : "", e->valuestring);
	}
	if (!out[0])
		snprintf(out, outsz, "any");
}

/* The first class other than text an anyOf branch was given, or NULL. */
static const char *branch_class(const cJSON *node)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(node, "anyOf")) {
		const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "x-pii"));
		if (c && strcmp(c, "text") != 0)
			return c;
	}
	return NULL;
}

static int has_type(const cJSON *node, const char *type)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "type");
	if (!t)
		return 1; /* any */
	if (cJSON_IsString(t))
		return strcmp(t->valuestring, type) == 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, t)
		if (strcmp(e->valuestring, type) == 0)
			return 1;
	return 0;
}

static const char *const classes[] = { "email", "phone", "name", "address", "birth_date", "card", "customer_id",
	                               "loyalty_id", "member_code", "payment_customer_id", "text", "id" };

/* Gives a converted leaf its class and prints the decision (not inside an
 * anyOf branch: the member itself is printed). */
static void decide_class(struct import *im, cJSON *node, const char *name, const char *path)
{
	char types[64], why[200];
	types_text(node, types, sizeof types);
	int is_string = has_type(node, "string");
	int is_number = has_type(node, "number") || has_type(node, "integer");
	const char *format = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(node, "format"));
	const char *cls = NULL;
	int by_name = 0;
	if (is_string && format && strcmp(format, "email") == 0) {
		cls = "email";
		snprintf(why, sizeof why, "%s, format email", types);
	} else if ((cls = branch_class(node)) != NULL) {
		snprintf(why, sizeof why, "%s, as its anyOf branch", types);
	} else if (name && (is_string || is_number) && (cls = class_by_name(name)) != NULL) {
		by_name = 1;
		snprintf(why, sizeof why, "%s, by name \"%s\"%s", types, name,
		         strcmp(cls, "id") == 0 ? ": an identifier, never rewritten" : "");
	} else if (is_string) {
		cls = "text";
		snprintf(why, sizeof why, "%s, no name hint", types);
	}
	if (cls)
		cJSON_AddStringToObject(node, "x-pii", cls);
	if (im->in_branch)
		return;
	im->fields++;
	im->by_name += by_name;
	if (!cls) {
		fprintf(stderr, "event %s: %s → no class (%s)\n", im->event, path, types);
		return;
	}
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
		if (strcmp(classes[i], cls) == 0)
			im->by_class[i]++;
	fprintf(stderr, "event %s: %s → %s (%s)\n", im->event, path, cls, why);
}

static cJSON *convert(struct import *im, const cJSON *src, const char *name, const char *path);

/* The "type" keyword with the names JSON Schema has; others dropped. */
static void convert_type(struct import *im, cJSON *out, const cJSON *v, const char *path)
{
	cJSON *types = cJSON_CreateArray();
	const cJSON *one = cJSON_IsArray(v) ? v->child : v;
	for (; one; one = cJSON_IsArray(v) ? one->next : NULL) {
		if (cJSON_IsString(one) && in_list(one->valuestring, json_types, 7))
			cJSON_AddItemToArray(types, cJSON_CreateString(one->valuestring));
		else
			note(im, path, "type %s dropped: not a JSON Schema type (looser)",
			     cJSON_IsString(one) ? one->valuestring : "(not a string)");
	}
	int n = cJSON_GetArraySize(types);
	if (n == 1)
		cJSON_AddItemToObject(out, "type", cJSON_DetachItemFromArray(types, 0));
	else if (n > 1)
		cJSON_AddItemToObject(out, "type", types), types = NULL;
	cJSON_Delete(types);
}

static void convert_members(struct import *im, cJSON *out, const cJSON *v, const char *path)
{
	cJSON *props = cJSON_AddObjectToObject(out, "properties");
	const cJSON *m;
	cJSON_ArrayForEach(m, v) {
		char sub[512];
		snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", m->string);
		cJSON *c = convert(im, m, m->string, sub);
		if (c)
			cJSON_AddItemToObject(props, m->string, c);
	}
}

/* Numbers, counts, strings and values kept as they are when the parser will
 * take them; otherwise dropped with a note. */
static void keep_value(struct import *im, cJSON *out, const char *key, const cJSON *v, const char *path)
{
	int ok;
	char why[200] = "";
	if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0)
		ok = cJSON_IsNumber(v);
	else if (strcmp(key, "enum") == 0)
		ok = cJSON_IsArray(v);
	else if (strcmp(key, "const") == 0)
		ok = 1;
	else if (strcmp(key, "description") == 0)
		ok = cJSON_IsString(v);
	else if (strcmp(key, "pattern") == 0)
		ok = cJSON_IsString(v) && vg_plan_pattern_ok(v->valuestring, why, sizeof why);
	else if (strcmp(key, "format") == 0)
		ok = cJSON_IsString(v) && (strcmp(v->valuestring, "date-time") == 0 ||
		                           strcmp(v->valuestring, "email") == 0 || strcmp(v->valuestring, "uuid") == 0);
	else /* the counts */
		ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e9 &&
		     (double)(long)v->valuedouble == v->valuedouble;
	if (ok) {
		cJSON_AddItemToObject(out, key, cJSON_Duplicate(v, 1));
	} else if (strcmp(key, "pattern") == 0 && cJSON_IsString(v)) {
		note(im, path, "pattern dropped: not an expression venuegw can use (%s) — " LOOSER, why);
	} else if (strcmp(key, "format") == 0 && cJSON_IsString(v)) {
		note(im, path, "format %s dropped: venuegw checks only date-time, email and uuid — " LOOSER,
		     v->valuestring);
	} else if (strcmp(key, "description") != 0) {
		note(im, path, "%s dropped: not a valid value for it — " LOOSER, key);
	}
}

static void convert_keyword(struct import *im, cJSON *out, const cJSON *k, const char *name, const char *path)
{
	const char *key = k->string;
	if (strcmp(key, "type") == 0) {
		convert_type(im, out, k, path);
	} else if (strcmp(key, "properties") == 0) {
		if (cJSON_IsObject(k))
			convert_members(im, out, k, path);
		else
			note(im, path, "properties dropped: not an object of schemas (stricter: no member is declared)");
	} else if (strcmp(key, "required") == 0) {
		cJSON *req = cJSON_CreateArray();
		const cJSON *r;
		cJSON_ArrayForEach(r, k)
			if (cJSON_IsString(r))
				cJSON_AddItemToArray(req, cJSON_CreateString(r->valuestring));
		if (cJSON_GetArraySize(req) > 0)
			cJSON_AddItemToObject(out, "required", req);
		else
			cJSON_Delete(req);
	} else if (strcmp(key, "additionalProperties") == 0) {
		if (cJSON_IsTrue(k)) {
			note(im, path, "additionalProperties: true dropped: venuegw passes only what is declared (stricter:"
			     " undeclared members are dropped at capture)");
		} else if (cJSON_IsObject(k)) {
			char sub[512];
			snprintf(sub, sizeof sub, "%s%s*", path, path[0] ? "." : "");
			cJSON *c = convert(im, k, NULL, sub);
			if (c)
				cJSON_AddItemToObject(out, "additionalProperties", c);
		} /* false: what venuegw does anyway */
	} else if (strcmp(key, "items") == 0) {
		if (cJSON_IsArray(k)) {
			note(im, path, "items as an array (a tuple) dropped (stricter: the elements are dropped at capture)");
		} else {
			char sub[512];
			snprintf(sub, sizeof sub, "%s[]", path);
			cJSON *c = convert(im, k, name, sub);
			if (c)
				cJSON_AddItemToObject(out, "items", c);
		}
	} else if (strcmp(key, "anyOf") == 0) {
		cJSON *any = cJSON_CreateArray();
		const cJSON *b;
		im->in_branch++;
		cJSON_ArrayForEach(b, k) {
			cJSON *c = convert(im, b, name, path);
			if (c)
				cJSON_AddItemToArray(any, c);
		}
		im->in_branch--;
		if (cJSON_GetArraySize(any) == cJSON_GetArraySize(k) && cJSON_GetArraySize(any) > 0) {
			cJSON_AddItemToObject(out, "anyOf", any);
		} else {
			cJSON_Delete(any);
			note(im, path, "anyOf dropped: not every branch could be converted — " LOOSER);
		}
	} else if (strcmp(key, "$ref") != 0) {
		keep_value(im, out, key, k, path);
	}
}

/* One schema of the export as one of ours: the keywords we have, local $refs
 * resolved, a class on each string (and named number) leaf.  name is the
 * member's name (the array's for its items), NULL when there is none.  NULL
 * when the schema admits nothing (false) or is not a schema. */
static cJSON *convert(struct import *im, const cJSON *src, const char *name, const char *path)
{
	if (cJSON_IsFalse(src)) {
		note(im, path, "false: nothing is declared here (dropped)");
		return NULL;
	}
	if (cJSON_IsTrue(src))
		src = NULL;
	else if (!cJSON_IsObject(src)) {
		note(im, path, "not a schema (dropped: the member is not declared and is dropped at capture)");
		return NULL;
	}
	/* "$ref": its target with the keywords beside it, converted as one. */
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(src, "$ref");
	if (cJSON_IsString(ref)) {
		const cJSON *target = im->depth < 16 ? resolve_ref(im, ref->valuestring) : NULL;
		if (cJSON_IsObject(target) || cJSON_IsBool(target)) {
			if (cJSON_IsFalse(target))
				return convert(im, target, name, path);
			cJSON *merged = cJSON_IsObject(target) ? cJSON_Duplicate(target, 1) : cJSON_CreateObject();
			for (const cJSON *k = src->child; merged && k; k = k->next) {
				if (strcmp(k->string, "$ref") == 0)
					continue;
				cJSON_DeleteItemFromObjectCaseSensitive(merged, k->string);
				cJSON_AddItemToObject(merged, k->string, cJSON_Duplicate(k, 1));
			}
			im->depth++;
			cJSON *out = merged ? convert(im, merged, name, path) : NULL;
			im->depth--;
			cJSON_Delete(merged);
			return out;
		}
		note(im, path, "$ref %s dropped: %s — " LOOSER " (any value passes here, strings as text)",
		     ref->valuestring, im->depth >= 16 ? "nested too deeply (a cycle?)"
		                                       : "not a local reference this export defines");
	}
	cJSON *out = cJSON_CreateObject();
	if (!out)
		return NULL;
	const cJSON *k;
	for (k = src ? src->child : NULL; k; k = k->next) {
		if (strcmp(k->string, "$ref") == 0)
			continue;
		if (in_list(k->string, kept_keywords, sizeof kept_keywords / sizeof kept_keywords[0])) {
			cJSON_DeleteItemFromObjectCaseSensitive(out, k->string);
			convert_keyword(im, out, k, name, path);
			continue;
		}
		if (in_list(k->string, quiet_keywords, sizeof quiet_keywords / sizeof quiet_keywords[0]) ||
		    strncmp(k->string, "x-", 2) == 0)
			continue;
		const char *effect = LOOSER;
		for (size_t i = 0; i < sizeof dropped_keywords / sizeof dropped_keywords[0]; i++)
			if (strcmp(k->string, dropped_keywords[i].keyword) == 0)
				effect = dropped_keywords[i].effect ? dropped_keywords[i].effect
				         : adds_members(k, src) ? LOOSER ", and the members declared only in it are"
				                                 " dropped at capture (stricter)"
				                               : LOOSER;
		note(im, path, "%s dropped: not supported by venuegw — %s", k->string, effect);
	}
	/* A leaf (a node that may be more than an object, an array or null)
	 * gets its class; an object that declares nothing is worth a note. */
	int container = cJSON_GetObjectItemCaseSensitive(out, "type") && !has_type(out, "string") &&
	                !has_type(out, "number") && !has_type(out, "integer") && !has_type(out, "boolean");
	if (!container)
		decide_class(im, out, name, path);
	else if (has_type(out, "object") && !cJSON_GetObjectItemCaseSensitive(out, "properties") &&
	         !cJSON_GetObjectItemCaseSensitive(out, "additionalProperties"))
		note(im, path, "an object without declared members: its members are dropped at capture");
	return out;
}

/* The common fields when no base plan can be read: DESIGN.md §4's, minimal. */
static const char builtin_common[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"id\":{\"type\":\"string\",\"x-pii\":\"id\",\"minLength\":1,\"maxLength\":64},"
	"\"type\":{\"type\":\"string\",\"x-pii\":\"id\"},"
	"\"occurred_at\":{\"type\":\"string\",\"x-pii\":\"id\",\"minLength\":1,\"maxLength\":40},"
	"\"seq\":{\"type\":\"integer\",\"minimum\":0},"
	"\"person\":{\"type\":\"object\",\"properties\":{"
	"\"email\":{\"type\":\"string\",\"x-pii\":\"email\"},\"phone\":{\"type\":\"string\",\"x-pii\":\"phone\"},"
	"\"customer_id\":{\"type\":\"string\",\"x-pii\":\"customer_id\"},"
	"\"loyalty_id\":{\"type\":\"string\",\"x-pii\":\"loyalty_id\"},"
	"\"member_code\":{\"type\":\"string\",\"x-pii\":\"member_code\"},"
	"\"payment_customer_id\":{\"type\":\"string\",\"x-pii\":\"payment_customer_id\"}}},"
	"\"consent\":{\"type\":\"object\",\"properties\":{\"source\":{\"type\":\"string\",\"x-pii\":\"text\"}},"
	"\"additionalProperties\":{\"type\":\"boolean\"},\"propertyNames\":{\"pattern\":\"^[a-z][a-z0-9_]{0,63}$\"}}}}";
static const char *const builtin_types[] = {
	"checkin.scanned", "class.attended", "booking.created", "booking.cancelled", "payment.succeeded",
	"refund.issued", "pos.order.completed", "consent.updated", "kiosk.session.started", "device.status",
};

/* One event of the export. */
struct export_event {
	const char *name, *kind, *description;
	const cJSON *schema;
	double version;
};

/* The events of each shape the export may have (see the top of this file);
 * 0 when it is none of them.  ev may be NULL to count. */
static int export_events(const cJSON *doc, struct export_event *ev, struct import *im)
{
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(doc, "rules");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	const cJSON *list = NULL;
	if (cJSON_IsObject(rules) && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(rules, "events")))
		list = cJSON_GetObjectItemCaseSensitive(rules, "events");   /* Config API, RudderStack v1 */
	else if (cJSON_IsArray(rules))
		list = rules;                                               /* Public API rules */
	else if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(data, "rules")))
		list = cJSON_GetObjectItemCaseSensitive(data, "rules");     /* Public API response */
	else if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "events")))
		list = cJSON_GetObjectItemCaseSensitive(doc, "events");     /* Data Catalog, plain */
	else if (cJSON_IsArray(doc))
		list = doc;
	int n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, list) {
		static const char *const name_keys[] = { "name", "key", "event" };
		static const char *const schema_keys[] = { "rules", "jsonSchema", "json_schema", "schema" };
		static const char *const kind_keys[] = { "type", "eventType", "event_type" };
		struct export_event x = { 0 };
		for (size_t i = 0; i < 3 && !x.name; i++)
			x.name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, name_keys[i]));
		for (size_t i = 0; i < 4 && !x.schema; i++)
			x.schema = cJSON_GetObjectItemCaseSensitive(e, schema_keys[i]);
		for (size_t i = 0; i < 3 && !x.kind; i++)
			x.kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, kind_keys[i]));
		x.description = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "description"));
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "version");
		x.version = cJSON_IsNumber(v) ? v->valuedouble : 0;
		if (!x.schema && !x.name)
			continue;
		if (ev)
			ev[n] = x;
		n++;
	}
	/* The Config API's calls other than track: said once, not imported. */
	static const char *const others[] = { "global", "identify", "group", "identify_traits", "group_traits",
		                              "user_traits" };
	for (size_t i = 0; ev && cJSON_IsObject(rules) && i < sizeof others / sizeof others[0]; i++) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(rules, others[i]);
		if (declares_members(o) || cJSON_GetArraySize(o) > 0) {
			im->event = NULL;
			note(im, "", "rules.%s not imported: venuegw devices send events, not %s; the person's fields"
			     " are the common schema's", others[i], strcmp(others[i], "global") == 0 ? "Segment context"
			     : "identify or group calls");
		}
	}
	return n;
}

/* A type name the plan takes: 1 to 47 of A-Z a-z 0-9 . _ -, others as "_". */
static void type_name(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	for (const char *c = in; *c && o + 1 < outsz && o < 47; c++) {
		int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		         *c == '.' || *c == '_' || *c == '-';
		if (ok)
			out[o++] = *c;
		else if (o > 0 && out[o - 1] != '_')
			out[o++] = '_';
	}
	while (o > 0 && out[o - 1] == '_')
		o--;
	out[o] = '\0';
	if (!o)
		snprintf(out, outsz, "event");
}

/* Our schema of one event: its properties from the export's
 * properties.properties; context and traits are not ours. */
static cJSON *import_event(struct import *im, const struct export_event *x)
{
	cJSON *ev = cJSON_CreateObject();
	if (!ev)
		return NULL;
	cJSON_AddStringToObject(ev, "type", "object");
	const char *desc = x->description ? x->description
	                   : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x->schema, "description"));
	if (desc)
		cJSON_AddStringToObject(ev, "description", desc);
	const cJSON *top = cJSON_GetObjectItemCaseSensitive(x->schema, "properties");
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(top, "properties");
	cJSON *src = cJSON_IsObject(props) ? cJSON_Duplicate(props, 1) : cJSON_CreateObject();
	if (src && !cJSON_GetObjectItemCaseSensitive(src, "type"))
		cJSON_AddStringToObject(src, "type", "object");  /* over a $ref's target too */
	if (!declares_members(src))
		note(im, "properties", "the export declares no properties: every property is dropped at capture");
	cJSON *mine = src ? convert(im, src, NULL, "properties") : NULL;
	cJSON_Delete(src);
	if (mine)
		cJSON_AddItemToObject(cJSON_AddObjectToObject(ev, "properties"), "properties", mine);
	const cJSON *m;
	cJSON_ArrayForEach(m, top) {
		if (strcmp(m->string, "properties") == 0 || !(declares_members(m) ||
		                                              cJSON_GetObjectItemCaseSensitive(m, "required")))
			continue;
		note(im, m->string, "not imported: venuegw events have no %s member (its fields are dropped at"
		     " capture)", m->string);
	}
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(x->schema, "required");
	cJSON_ArrayForEach(m, req) {
		if (cJSON_IsString(m) && strcmp(m->valuestring, "properties") == 0 && mine)
			cJSON_AddItemToObject(ev, "required", cJSON_CreateStringArray((const char *const[]){ "properties" }, 1));
		else if (cJSON_IsString(m))
			note(im, "", "required %s not imported (venuegw events have no such member)", m->valuestring);
	}
	return ev;
}

/* Line and column of a parse error at off. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

struct result_check {
	int errors;
};

static void result_problem(void *ud, int warning, const char *pointer, const char *text)
{
	struct result_check *rc = ud;
	if (!warning)
		rc->errors++;
	fprintf(stderr, "venuegw plan import: the imported plan: %s: %s%s\n", pointer, warning ? "warning: " : "",
	        text);
}

/* Writes text to path through a temporary file and a rename, so a plan being
 * replaced is never half written. */
static int write_plan(const char *path, const char *text)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f || fputs(text, f) == EOF || fputc('\n', f) == EOF || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fprintf(stderr, "venuegw plan import: %s: %s\n", f ? tmp : path, strerror(errno));
		if (f) {
			fclose(f);
			unlink(tmp);
		}
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "venuegw plan import: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The base plan's document, or NULL (a note says so) when there is none. */
static cJSON *load_base(const char *path, int explicit_base)
{
	size_t len;
	FILE *probe = explicit_base ? NULL : fopen(path, "rb");
	if (!explicit_base && !probe) {
		fprintf(stderr, "common fields: a built-in minimal schema (%s: %s)\n", path, strerror(errno));
		return NULL;
	}
	if (probe)
		fclose(probe);
	char *text = read_file(path, &len);
	if (!text)
		return NULL;
	cJSON *doc = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "common"))) {
		fprintf(stderr, "venuegw plan import: %s: not a venuegw plan with \"common\"\n", path);
		cJSON_Delete(doc);
		return NULL;
	}
	fprintf(stderr, "common fields: those of %s\n", path);
	return doc;
}

static int cmd_import(int argc, char **argv)
{
	const char *from = NULL, *file = NULL, *out_path = NULL, *version = NULL, *base_path = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
			out_path = argv[++i];
		else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc)
			version = argv[++i];
		else if (strcmp(argv[i], "--base") == 0 && i + 1 < argc)
			base_path = argv[++i];
		else if (!file && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			file = argv[i];
		else
			return fprintf(stderr, "venuegw plan import: unexpected argument '%s'\n", argv[i]), VG_EXIT_USAGE;
	}
	if (!from || (strcmp(from, "segment") != 0 && strcmp(from, "rudderstack") != 0))
		return fprintf(stderr, "venuegw plan import: --from segment or --from rudderstack is needed\n"),
		       VG_EXIT_USAGE;
	if (!file)
		return fprintf(stderr, "venuegw plan import: expected the export's FILE (or -)\n"), VG_EXIT_USAGE;
	if (version && (!version[0] || strlen(version) > 64))
		return fprintf(stderr, "venuegw plan import: --version is 1 to 64 bytes\n"), VG_EXIT_USAGE;
	struct import im = { .from = strcmp(from, "segment") == 0 ? "Segment" : "RudderStack" };

	size_t len;
	char *text = read_file(file, &len);
	if (!text)
		return VG_EXIT_USAGE;
	uint8_t digest[32];
	vg_sha256(text, len, digest);
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!doc) {
		size_t line, col;
		line_col(text, end && end >= text ? (size_t)(end - text) : 0, &line, &col);
		fprintf(stderr, "venuegw plan import: %s: not valid JSON (near line %zu, column %zu)\n", file, line, col);
		free(text);
		return VG_EXIT_FAIL;
	}
	free(text);
	im.doc = doc;
	int code = VG_EXIT_FAIL;
	cJSON *base = NULL, *plan = NULL;
	char *out_text = NULL;
	struct export_event *evs = NULL;
	int n = export_events(doc, NULL, &im);
	if (n == 0) {
		const cJSON *events = cJSON_GetObjectItemCaseSensitive(doc, "events");
		fprintf(stderr, "venuegw plan import: %s: not a %s tracking-plan export: %s\n", file, im.from,
		        cJSON_IsObject(events) && cJSON_GetObjectItemCaseSensitive(doc, "common") ?
		        "it is already a venuegw plan (venuegw plan check reads it)" :
		        "expected rules.events[] (Config API, RudderStack), rules[] or data.rules[] with key and"
		        " jsonSchema (Public API), or events[] with name and rules, jsonSchema or schema");
		goto done;
	}
	/* The base first: a base that is named and cannot be read stops here. */
	const char *bpath = base_path ? base_path : VG_PLAN_DEFAULT_PATH;
	base = load_base(bpath, base_path != NULL);
	if (!base && base_path) {
		code = VG_EXIT_USAGE;
		goto done;
	}
	evs = calloc((size_t)n, sizeof *evs);
	if (!evs)
		goto nomem;
	export_events(doc, evs, &im);

	cJSON *common = base ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(base, "common"), 1)
	                     : cJSON_Parse(builtin_common);
	const cJSON *base_events = cJSON_GetObjectItemCaseSensitive(base, "events");

	plan = cJSON_CreateObject();
	if (!plan || !common) {
		cJSON_Delete(common);
		goto nomem;
	}
	const char *src_name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "display_name"));
	if (!src_name)
		src_name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "name"));
	char name[65];
	snprintf(name, sizeof name, "imported from %s%s%s", im.from, src_name ? ": " : "", src_name ? src_name : "");
	/* snprintf may have cut a UTF-8 sequence in half: drop what is left of it. */
	size_t nlen = strlen(name), lead = nlen;
	while (lead > 0 && ((unsigned char)name[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead > 0 && (unsigned char)name[lead - 1] >= 0xC0) {
		unsigned char c = (unsigned char)name[lead - 1];
		size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		if (lead - 1 + need > nlen)
			name[lead - 1] = '\0';
	}
	char vbuf[32];
	snprintf(vbuf, sizeof vbuf, "imported-");
	for (int i = 0; i < 6; i++)
		snprintf(vbuf + 9 + 2 * i, 3, "%02x", digest[i]);
	cJSON_AddStringToObject(plan, "name", name);
	cJSON_AddStringToObject(plan, "version", version ? version : vbuf);
	cJSON_AddStringToObject(plan, "description", "Imported by venuegw plan import from a tracking-plan export;"
	                        " review each x-pii class before use.");
	cJSON_AddItemToObject(plan, "common", common);
	cJSON *events = cJSON_AddObjectToObject(plan, "events");
	int imported = 0;
	for (int i = 0; i < n; i++) {
		struct export_event *x = &evs[i];
		im.event = x->name ? x->name : "(no name)";
		im.rule = x->schema;
		if (x->kind && strcasecmp(x->kind, "track") != 0) {
			note(&im, "", "not imported: a rule of type %s (venuegw devices send events: only track rules"
			     " become types)", x->kind);
			continue;
		}
		if (!x->name || !cJSON_IsObject(x->schema)) {
			note(&im, "", "not imported: %s", x->name ? "its schema is not a JSON object" : "it has no name");
			continue;
		}
		int newer = 0;
		for (int j = 0; j < n; j++)
			if (j != i && evs[j].name && strcmp(evs[j].name, x->name) == 0 &&
			    (evs[j].version > x->version || (evs[j].version == x->version && j < i)))
				newer = 1;
		if (newer) {
			note(&im, "", "version %g not imported: the export has a newer (or an earlier listed) one",
			     x->version);
			continue;
		}
		char type[48];
		type_name(x->name, type, sizeof type);
		int known = 0;
		for (size_t k = 0; k < sizeof builtin_types / sizeof builtin_types[0] && !base_events; k++)
			known |= strcmp(builtin_types[k], type) == 0;
		if (base_events)
			known = cJSON_GetObjectItemCaseSensitive(base_events, type) != NULL;
		if (cJSON_GetObjectItemCaseSensitive(events, type)) {
			note(&im, "", "not imported: its type name %s is already taken by another event of the export",
			     type);
			continue;
		}
		fprintf(stderr, "event %s → type %s%s%s\n", x->name, type,
		        strcmp(type, x->name) ? " (renamed: a type is 1 to 47 of A-Z a-z 0-9 . _ -)" : "",
		        known ? "" : "; not a type venuegw's devices send by default: imported, devices must send it"
		                     " as \"type\"");
		cJSON *ev = import_event(&im, x);
		if (!ev)
			goto nomem;
		cJSON_AddItemToObject(events, type, ev);
		imported++;
	}
	if (!imported) {
		fprintf(stderr, "venuegw plan import: %s: no track event could be imported\n", file);
		goto done;
	}
	out_text = cJSON_Print(plan);
	if (!out_text)
		goto nomem;
	/* What is written must pass venuegw plan check. */
	struct vg_plan *p = NULL;
	struct result_check rc = { 0 };
	int prc = vg_plan_parse(&p, out_text, strlen(out_text), result_problem, &rc);
	vg_plan_free(p);
	if (prc == VG_ERR_NOMEM)
		goto nomem;
	if (prc != VG_OK) {
		fprintf(stderr, "venuegw plan import: the converted plan has %d error%s (listed above); nothing"
		        " written\n", rc.errors, rc.errors == 1 ? "" : "s");
		goto done;
	}
	fprintf(stderr, "imported %d event type%s, %d fields: ", imported, imported == 1 ? "" : "s", im.fields);
	for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++)
		if (im.by_class[k])
			fprintf(stderr, "%s %d, ", classes[k], im.by_class[k]);
	fprintf(stderr, "%d classes decided by name: review them; %d note%s\n", im.by_name, im.notes,
	        im.notes == 1 ? "" : "s");
	if (out_path) {
		if (write_plan(out_path, out_text) != 0) {
			code = VG_EXIT_USAGE;
			goto done;
		}
		fprintf(stderr, "written to %s (version %s): venuegw plan check %s\n", out_path,
		        version ? version : vbuf, out_path);
	} else {
		printf("%s\n", out_text);
	}
	code = VG_EXIT_OK;
	goto done;
nomem:
	fprintf(stderr, "venuegw plan import: out of memory\n");
	code = VG_EXIT_FAIL;
done:
	cJSON_free(out_text);
	cJSON_Delete(plan);
	cJSON_Delete(base);
	cJSON_Delete(doc);
	free(evs);
	return code;
}

int vg_cmd_plan(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	if (argc < 1) {
		fprintf(stderr, "venuegw plan: expected check, show or import (venuegw plan --help)\n");
		return VG_EXIT_USAGE;
	}
	if (strcmp(argv[0], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0)
		return cmd_show(cfg, argc - 1, argv + 1);
	if (strcmp(argv[0], "import") == 0)
		return cmd_import(argc - 1, argv + 1);
	fprintf(stderr, "venuegw plan: unknown subcommand '%s' (check, show, import)\n", argv[0]);
	return VG_EXIT_USAGE;
}
