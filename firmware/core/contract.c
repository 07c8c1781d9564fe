/* venuegw — the input contract: the tracking plan (DESIGN.md §4).  See
 * contract.h for the file format and what passes.
 *
 * A plan is compiled once into a tree of `struct node`, one per schema; the
 * checks (vg_plan_check) and the rewrite (vg_plan_apply) walk an event and
 * its node together.  Texts in rejections and problems are fixed strings or
 * paths built from declared names: input values never reach them, and an
 * input key reaches a path only when it cannot hold personal data. */
#include "contract.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "digest.h"
#include "err.h"

enum {
	T_OBJECT = 1 << 0, T_ARRAY = 1 << 1, T_STRING = 1 << 2, T_NUMBER = 1 << 3,
	T_INTEGER = 1 << 4, T_BOOLEAN = 1 << 5, T_NULL = 1 << 6,
};
static const char *const type_names[] = { "object", "array", "string", "number", "integer", "boolean", "null" };
#define N_TYPES 7

enum format { F_NONE, F_DATETIME, F_EMAIL, F_UUID };

struct member {
	char *name;
	struct node *schema;
};

struct node {
	unsigned types;              /* T_* bits; 0: any */
	int cls;                     /* enum vg_pii_class, or -1 when not given */
	/* object */
	struct member *props;
	size_t nprops;
	char **required;
	size_t nrequired;
	struct node *additional;     /* NULL: nothing beyond props is declared */
	struct re *names_re;         /* propertyNames.pattern, compiled */
	long min_props, max_props, min_booleans;
	/* array */
	struct node *items;          /* NULL: no element is declared */
	long min_items, max_items;
	/* string */
	long min_len, max_len;
	struct re *pattern;
	enum format format;
	/* number */
	int has_min, has_max;
	double min, max;
	/* enum, const (a deep copy: the values of the plan, not of input) */
	cJSON *enum_values;
	/* anyOf */
	struct node **any;
	size_t nany;
};

struct plan_type {
	char *name;
	enum vg_priority prio;
	struct node *schema;
};

struct vg_plan {
	char *name, *version;
	struct node *common;
	struct plan_type *types;
	size_t ntypes;
};

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53 */
#define PLAN_FILE_MAX (4 << 20)
/* What a plan may cost once compiled.  Every type gets its own copy of
 * common's properties, so a small file could otherwise declare millions of
 * schemas; and each pattern compiles to at most 64 KiB. */
#define PLAN_VALUES_MAX 200000
#define PLAN_BYTES_MAX (8 << 20)
#define PLAN_RE_BYTES_MAX (2 << 20)

/* ---- parsing ------------------------------------------------------------- */

struct parse {
	vg_plan_problem_cb cb;
	void *ud;
	int errors;
	int in_any;                  /* inside anyOf: schemas that only check, never declare */
	char ptr[512];               /* the JSON pointer of what is being parsed */
	size_t values, bytes;        /* spent of PLAN_VALUES_MAX, PLAN_BYTES_MAX */
	size_t re_bytes;             /* spent of PLAN_RE_BYTES_MAX */
};

static void problem(struct parse *ps, int warning, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void problem(struct parse *ps, int warning, const char *key, const char *fmt, ...)
{
	char text[256], ptr[640];
	va_list ap;
	if (!warning)
		ps->errors++;
	if (!ps->cb)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	snprintf(ptr, sizeof ptr, "%s%s%s", ps->ptr[0] ? ps->ptr : "", key ? "/" : "", key ? key : "");
	ps->cb(ps->ud, warning, ptr[0] ? ptr : "/", text);
}

/* Descend into key (escaped per RFC 6901); returns the length to restore. */
static size_t push(struct parse *ps, const char *key)
{
	size_t n = strlen(ps->ptr), k = n;
	if (k + 1 < sizeof ps->ptr)
		ps->ptr[k++] = '/';
	for (const char *c = key; *c && k + 2 < sizeof ps->ptr; c++) {
		if (*c == '~' || *c == '/') {
			ps->ptr[k++] = '~';
			ps->ptr[k++] = *c == '~' ? '0' : '1';
		} else {
			ps->ptr[k++] = *c;
		}
	}
	ps->ptr[k] = '\0';
	return n;
}

static void pop(struct parse *ps, size_t n)
{
	ps->ptr[n] = '\0';
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* ---- patterns -------------------------------------------------------------
 *
 * A JSON Schema pattern is an ECMA-262 expression; PCRE2 compiles it with the
 * options that make it behave as one (UTF-8 code points, $ only at the end,
 * \uXXXX, an empty class, `.` matching no line terminator).  Its cost is
 * bounded both ways.  A pattern longer than RE_PATTERN_MAX, or whose compiled
 * form is over 64 KiB ("regular expression is too large"), is refused:
 * glibc's regcomp expanded (a?){N} into O(N^2) memory, gigabytes from a
 * 10-byte pattern.  A match gives up after RE_MATCH_LIMIT backtracking steps
 * or RE_HEAP_LIMIT_KIB, which counts as no match; and since scanning is not
 * counted as steps (an unanchored pattern rescans from every position:
 * seconds for a 64 KiB string), a subject longer than RE_SUBJECT_MAX bytes is
 * not matched at all (the caller says why). */

#define RE_PATTERN_MAX 4096
#define RE_SUBJECT_MAX 1024
#define RE_MATCH_LIMIT 100000
#define RE_HEAP_LIMIT_KIB 1024

struct re {
	pcre2_code *code;
	pcre2_match_context *mctx;
};

static void re_free(struct re *re)
{
	if (!re)
		return;
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	free(re);
}

/* A new compiled pattern, or NULL with why in err. */
static struct re *re_new(const char *src, char *err, size_t errsz)
{
	struct re *re = calloc(1, sizeof *re);
	pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
	if (!re || !cctx) {
		free(re);
		pcre2_compile_context_free(cctx);
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	pcre2_set_compile_extra_options(cctx, PCRE2_EXTRA_ALT_BSUX);
	pcre2_set_max_pattern_length(cctx, RE_PATTERN_MAX);
	/* `.` stops at \r, U+2028, U+2029 as in ECMA (and at VT, FF, NEL too). */
	pcre2_set_newline(cctx, PCRE2_NEWLINE_ANY);
	int code;
	PCRE2_SIZE at;
	re->code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
	                         PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX |
	                                 PCRE2_ALLOW_EMPTY_CLASS | PCRE2_NEVER_BACKSLASH_C,
	                         &code, &at, cctx);
	pcre2_compile_context_free(cctx);
	if (!re->code) {
		PCRE2_UCHAR msg[120];
		if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", code);
		snprintf(err, errsz, "%s (at offset %zu)", (const char *)msg, (size_t)at);
		free(re);
		return NULL;
	}
	re->mctx = pcre2_match_context_create(NULL);
	if (!re->mctx) {
		re_free(re);
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	pcre2_set_match_limit(re->mctx, RE_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, RE_MATCH_LIMIT);
	pcre2_set_heap_limit(re->mctx, RE_HEAP_LIMIT_KIB);
	return re;
}

/* 1 if s (len bytes) matches; 0 if not, or if deciding would cost more than
 * the limits (s longer than RE_SUBJECT_MAX included). */
static int re_match(const struct re *re, const char *s, size_t len)
{
	if (len > RE_SUBJECT_MAX)
		return 0;
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md)
		return 0;
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, re->mctx);
	pcre2_match_data_free(md);
	return rc >= 0;
}

static struct re *compile_re(struct parse *ps, const char *key, const char *src)
{
	char err[200];
	if (ps->re_bytes > PLAN_RE_BYTES_MAX)
		return NULL; /* said when it was passed */
	struct re *re = re_new(src, err, sizeof err);
	if (!re) {
		problem(ps, 0, key, "not a regular expression this gateway can use (ECMA-262 as PCRE2 reads it): %s",
		        err);
		return NULL;
	}
	size_t size = 0;
	pcre2_pattern_info(re->code, PCRE2_INFO_SIZE, &size);
	ps->re_bytes += size;
	if (ps->re_bytes > PLAN_RE_BYTES_MAX) {
		problem(ps, 0, key, "the plan's patterns compile to more than %d MiB together (common's count once"
		                    " in each type); this one passes that", PLAN_RE_BYTES_MAX >> 20);
		re_free(re);
		return NULL;
	}
	return re;
}

int vg_plan_pattern_ok(const char *pattern, char *err, size_t errsz)
{
	struct re *re = re_new(pattern, err, errsz);
	int ok = re != NULL;
	re_free(re);
	return ok;
}

/* Add js's values and the bytes of its names and strings to ps. */
static void count_values(struct parse *ps, const cJSON *js)
{
	ps->values++;
	ps->bytes += (js->string ? strlen(js->string) : 0) + (cJSON_IsString(js) ? strlen(js->valuestring) : 0);
	for (const cJSON *c = js->child; c; c = c->next)
		count_values(ps, c);
}

static int over_budget(const struct parse *ps)
{
	return ps->values > PLAN_VALUES_MAX || ps->bytes > PLAN_BYTES_MAX;
}

/* Charge js to the plan; -1 (said once) when the plan passes PLAN_VALUES_MAX
 * values or PLAN_BYTES_MAX bytes of names and strings. */
static int charge(struct parse *ps, const cJSON *js)
{
	int was_over = over_budget(ps);
	count_values(ps, js);
	if (!over_budget(ps))
		return 0;
	if (!was_over)
		problem(ps, 0, NULL, "the plan is too large: with common's properties copied into each type it holds"
		                     " more than %d JSON values or %d MiB of names and strings", PLAN_VALUES_MAX,
		        PLAN_BYTES_MAX >> 20);
	return -1;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nprops; i++) {
		free(n->props[i].name);
		node_free(n->props[i].schema);
	}
	free(n->props);
	for (size_t i = 0; i < n->nrequired; i++)
		free(n->required[i]);
	free(n->required);
	node_free(n->additional);
	node_free(n->items);
	re_free(n->names_re);
	re_free(n->pattern);
	cJSON_Delete(n->enum_values);
	for (size_t i = 0; i < n->nany; i++)
		node_free(n->any[i]);
	free(n->any);
	free(n);
}

static int get_count(struct parse *ps, const cJSON *v, const char *key, long *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
	    (double)(long)v->valuedouble != v->valuedouble) {
		problem(ps, 0, key, "must be a non-negative integer");
		return -1;
	}
	*out = (long)v->valuedouble;
	return 0;
}

static const char *const ignored_keywords[] = {
	"title", "description", "examples", "default", "$comment", "$schema", "$id", "deprecated",
	"readOnly", "writeOnly",
};

static struct node *parse_node(struct parse *ps, const cJSON *js);

/* 1 if a member before k in its object has k's name (the JSON parser keeps
 * duplicate names; a plan may not have them). */
static int named_before(const cJSON *k)
{
	for (const cJSON *o = k->prev; o && o->next; o = o->prev) {
		if (o->string && strcmp(o->string, k->string) == 0)
			return 1;
		if (o == o->prev)
			break;
	}
	return 0;
}

static const struct node *member_schema(const struct node *n, const char *name, int *additional);

/* An empty schema: any value; for objects and arrays, no member declared. */
static struct node *node_new(void)
{
	struct node *n = calloc(1, sizeof *n);
	if (n) {
		n->cls = -1;
		n->max_props = n->max_items = n->max_len = -1;
	}
	return n;
}

static void parse_types(struct parse *ps, struct node *n, const cJSON *v)
{
	const cJSON *one = v;
	if (cJSON_IsArray(v))
		one = v->child;
	else if (!cJSON_IsString(v))
		return problem(ps, 0, "type", "must be a type name or an array of them");
	for (; one; one = cJSON_IsArray(v) ? one->next : NULL) {
		int found = 0;
		for (int i = 0; cJSON_IsString(one) && i < N_TYPES; i++)
			if (strcmp(one->valuestring, type_names[i]) == 0) {
				n->types |= 1u << i;
				found = 1;
			}
		if (!found)
			problem(ps, 0, "type", "not a JSON Schema type (object array string number integer boolean null)");
	}
}

static void parse_properties(struct parse *ps, struct node *n, const cJSON *v)
{
	if (!cJSON_IsObject(v))
		return problem(ps, 0, "properties", "must be an object of schemas");
	size_t cnt = (size_t)cJSON_GetArraySize(v);
	n->props = calloc(cnt ? cnt : 1, sizeof *n->props);
	if (!n->props)
		return problem(ps, 0, "properties", "out of memory");
	size_t save = push(ps, "properties");
	for (const cJSON *m = v->child; m; m = m->next) {
		if (m != v->child && named_before(m)) {
			size_t s2 = push(ps, m->string);
			problem(ps, 0, NULL, "declared twice");
			pop(ps, s2);
			continue;
		}
		if (cJSON_IsFalse(m))
			continue; /* false: this member is not declared (a type taking back common's) */
		size_t s2 = push(ps, m->string);
		struct node *c = parse_node(ps, m);
		pop(ps, s2);
		if (!c)
			continue;
		n->props[n->nprops].name = dup_str(m->string);
		n->props[n->nprops].schema = c;
		if (!n->props[n->nprops].name) {
			node_free(c);
			problem(ps, 0, NULL, "out of memory");
			continue;
		}
		n->nprops++;
	}
	pop(ps, save);
}

static void parse_required(struct parse *ps, struct node *n, const cJSON *v)
{
	if (!cJSON_IsArray(v))
		return problem(ps, 0, "required", "must be an array of member names");
	size_t cnt = (size_t)cJSON_GetArraySize(v);
	n->required = calloc(cnt ? cnt : 1, sizeof *n->required);
	if (!n->required)
		return problem(ps, 0, "required", "out of memory");
	for (const cJSON *m = v->child; m; m = m->next) {
		if (!cJSON_IsString(m)) {
			problem(ps, 0, "required", "must be an array of member names");
			continue;
		}
		if ((n->required[n->nrequired] = dup_str(m->valuestring)) != NULL)
			n->nrequired++;
	}
}

static struct node *parse_sub(struct parse *ps, const cJSON *v, const char *key)
{
	size_t save = push(ps, key);
	struct node *c = parse_node(ps, v);
	pop(ps, save);
	return c;
}

/* One schema.  NULL after a problem was reported (or for false, which the
 * callers that accept it handle before calling). */
static struct node *parse_node(struct parse *ps, const cJSON *js)
{
	if (cJSON_IsTrue(js))
		js = NULL; /* true: any value */
	else if (!cJSON_IsObject(js)) {
		problem(ps, 0, NULL, "must be a schema (a JSON object)");
		return NULL;
	}
	struct node *n = node_new();
	if (!n) {
		problem(ps, 0, NULL, "out of memory");
		return NULL;
	}
	for (const cJSON *k = js ? js->child : NULL; k; k = k->next) {
		const char *key = k->string;
		if (k != js->child && named_before(k)) {
			problem(ps, 0, key, "given twice");
			continue;
		}
		if (strcmp(key, "type") == 0) {
			parse_types(ps, n, k);
		} else if (strcmp(key, "properties") == 0) {
			parse_properties(ps, n, k);
		} else if (strcmp(key, "required") == 0) {
			parse_required(ps, n, k);
		} else if (strcmp(key, "additionalProperties") == 0) {
			if (cJSON_IsTrue(k))
				problem(ps, 1, key, "true lets any member name pass, its strings as free text "
				                    "(names and addresses in free text are not recognised)");
			if (!cJSON_IsFalse(k))
				n->additional = parse_sub(ps, k, key);
		} else if (strcmp(key, "propertyNames") == 0) {
			const cJSON *pat = cJSON_GetObjectItemCaseSensitive(k, "pattern");
			size_t save = push(ps, key);
			if (!cJSON_IsObject(k) || !cJSON_IsString(pat) || cJSON_GetArraySize(k) != 1)
				problem(ps, 0, NULL, "only {\"pattern\": ...} is supported here");
			else
				n->names_re = compile_re(ps, "pattern", pat->valuestring);
			pop(ps, save);
		} else if (strcmp(key, "items") == 0) {
			if (!cJSON_IsFalse(k))
				n->items = parse_sub(ps, k, key);
		} else if (strcmp(key, "enum") == 0 || strcmp(key, "const") == 0) {
			cJSON *vals = strcmp(key, "const") == 0 ? cJSON_CreateArray() : cJSON_Duplicate(k, 1);
			if (strcmp(key, "enum") == 0 && !cJSON_IsArray(k)) {
				problem(ps, 0, key, "must be an array of values");
				cJSON_Delete(vals);
				vals = NULL;
			} else if (vals && strcmp(key, "const") == 0) {
				cJSON_AddItemToArray(vals, cJSON_Duplicate(k, 1));
			}
			if (vals) {
				cJSON_Delete(n->enum_values);
				n->enum_values = vals;
			}
		} else if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0) {
			if (!cJSON_IsNumber(k)) {
				problem(ps, 0, key, "must be a number");
			} else if (key[1] == 'i') {
				n->has_min = 1;
				n->min = k->valuedouble;
			} else {
				n->has_max = 1;
				n->max = k->valuedouble;
			}
		} else if (strcmp(key, "minLength") == 0) {
			get_count(ps, k, key, &n->min_len);
		} else if (strcmp(key, "maxLength") == 0) {
			get_count(ps, k, key, &n->max_len);
		} else if (strcmp(key, "minItems") == 0) {
			get_count(ps, k, key, &n->min_items);
		} else if (strcmp(key, "maxItems") == 0) {
			get_count(ps, k, key, &n->max_items);
		} else if (strcmp(key, "minProperties") == 0) {
			get_count(ps, k, key, &n->min_props);
		} else if (strcmp(key, "maxProperties") == 0) {
			get_count(ps, k, key, &n->max_props);
		} else if (strcmp(key, "x-min-booleans") == 0) {
			get_count(ps, k, key, &n->min_booleans);
		} else if (strcmp(key, "pattern") == 0) {
			if (!cJSON_IsString(k))
				problem(ps, 0, key, "must be a string");
			else
				n->pattern = compile_re(ps, key, k->valuestring);
		} else if (strcmp(key, "format") == 0) {
			if (cJSON_IsString(k) && strcmp(k->valuestring, "date-time") == 0)
				n->format = F_DATETIME;
			else if (cJSON_IsString(k) && strcmp(k->valuestring, "email") == 0)
				n->format = F_EMAIL;
			else if (cJSON_IsString(k) && strcmp(k->valuestring, "uuid") == 0)
				n->format = F_UUID;
			else
				problem(ps, 1, key, "not checked here (only date-time, email and uuid are)");
		} else if (strcmp(key, "anyOf") == 0) {
			if (!cJSON_IsArray(k) || cJSON_GetArraySize(k) < 1) {
				problem(ps, 0, key, "must be a non-empty array of schemas");
				continue;
			}
			n->any = calloc((size_t)cJSON_GetArraySize(k), sizeof *n->any);
			if (!n->any) {
				problem(ps, 0, key, "out of memory");
				continue;
			}
			size_t save = push(ps, key);
			int i = 0;
			ps->in_any++;
			for (const cJSON *b = k->child; b; b = b->next, i++) {
				char idx[16];
				snprintf(idx, sizeof idx, "%d", i);
				struct node *c = parse_sub(ps, b, idx);
				if (c)
					n->any[n->nany++] = c;
			}
			ps->in_any--;
			pop(ps, save);
		} else if (strcmp(key, "x-pii") == 0) {
			int c = cJSON_IsString(k) ? vg_pii_class_parse(k->valuestring) : -1;
			if (c < 0)
				problem(ps, 0, key, "not a personal-data class (email phone name address birth_date card "
				                    "customer_id loyalty_id member_code payment_customer_id text id)");
			n->cls = c;
		} else if (strcmp(key, "x-priority") == 0) {
			/* read by the caller for an event's schema */
		} else {
			int known = 0;
			for (size_t i = 0; i < sizeof ignored_keywords / sizeof ignored_keywords[0]; i++)
				if (strcmp(key, ignored_keywords[i]) == 0)
					known = 1;
			if (!known && strncmp(key, "x-", 2) != 0)
				problem(ps, 0, key, "keyword not supported by venuegw (see venuegw plan --help)");
		}
	}
	if (n->cls >= 0 && n->types && !(n->types & (T_STRING | T_NUMBER | T_INTEGER)))
		problem(ps, 1, "x-pii", "a class on a field that is never a string or number does nothing");
	if (ps->in_any)
		return n; /* an alternative only checks; what passes is declared outside it */
	if ((n->types & T_ARRAY) && !n->items)
		problem(ps, 1, NULL, "an array without items: its elements never pass");
	for (size_t i = 0; i < n->nrequired; i++) {
		int declared = n->additional != NULL;
		for (size_t j = 0; j < n->nprops && !declared; j++)
			declared = strcmp(n->props[j].name, n->required[i]) == 0;
		if (!declared)
			problem(ps, 1, "required", "a required member that the schema does not declare can never pass");
	}
	return n;
}

/* A type's schema with common's properties added where it has none of its
 * own of that name.  The merged node borrows nothing: common's members are
 * parsed again from the file's JSON. */
static struct node *parse_event(struct parse *ps, const cJSON *schema, const cJSON *common)
{
	cJSON *merged = cJSON_Duplicate(schema, 1);
	if (!merged) {
		problem(ps, 0, NULL, "out of memory");
		return NULL;
	}
	const cJSON *cprops = cJSON_GetObjectItemCaseSensitive(common, "properties");
	if (cJSON_IsObject(merged) && cJSON_IsObject(cprops)) {
		cJSON *props = cJSON_GetObjectItemCaseSensitive(merged, "properties");
		if (!props)
			props = cJSON_AddObjectToObject(merged, "properties");
		for (const cJSON *m = cprops->child; props && cJSON_IsObject(props) && m; m = m->next)
			if (!cJSON_GetObjectItemCaseSensitive(props, m->string))
				cJSON_AddItemToObject(props, m->string, cJSON_Duplicate(m, 1));
	}
	struct node *n = charge(ps, merged) == 0 ? parse_node(ps, merged) : NULL;
	cJSON_Delete(merged);
	return n;
}

void vg_plan_free(struct vg_plan *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->version);
	node_free(p->common);
	for (size_t i = 0; i < p->ntypes; i++) {
		free(p->types[i].name);
		node_free(p->types[i].schema);
	}
	free(p->types);
	free(p);
}

static int valid_type_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 47)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int vg_plan_parse(struct vg_plan **out, const char *text, size_t len, vg_plan_problem_cb cb, void *ud)
{
	struct parse ps = { .cb = cb, .ud = ud };
	*out = NULL;
	const char *end = NULL;
	cJSON *js = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!js) {
		/* Where the parser stopped, as line:column. */
		size_t off = end && end >= text ? (size_t)(end - text) : 0, line = 1, col = 1;
		for (size_t i = 0; i < off && i < len; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		problem(&ps, 0, NULL, "not valid JSON (near line %zu, column %zu)", line, col);
		return VG_ERR_CONFIG;
	}
	struct vg_plan *p = calloc(1, sizeof *p);
	if (!p) {
		cJSON_Delete(js);
		return VG_ERR_NOMEM;
	}
	if (!cJSON_IsObject(js)) {
		problem(&ps, 0, NULL, "a plan is a JSON object with \"events\"");
		goto done;
	}
	for (const cJSON *k = js->child; k; k = k->next) {
		if (strcmp(k->string, "name") == 0 || strcmp(k->string, "version") == 0) {
			if (!cJSON_IsString(k) || strlen(k->valuestring) > 64)
				problem(&ps, 0, k->string, "must be a string of at most 64 bytes");
		} else if (strcmp(k->string, "events") && strcmp(k->string, "common") &&
		           strcmp(k->string, "description") && strcmp(k->string, "$schema") &&
		           strcmp(k->string, "$comment") && strncmp(k->string, "x-", 2)) {
			problem(&ps, 0, k->string, "not a member of a plan (name version description common events)");
		}
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(js, "version");
	p->version = dup_str(cJSON_IsString(v) ? v->valuestring : "");
	v = cJSON_GetObjectItemCaseSensitive(js, "name");
	p->name = dup_str(cJSON_IsString(v) ? v->valuestring : "");
	if (!p->version || !p->name)
		goto nomem;
	if (!p->version[0])
		problem(&ps, 1, "version", "no version: context.venuegw.plan will be empty");
	const cJSON *common = cJSON_GetObjectItemCaseSensitive(js, "common");
	if (common && !cJSON_IsObject(common)) {
		problem(&ps, 0, "common", "must be a schema (a JSON object)");
		common = NULL;
	}
	p->common = !common ? node_new() : charge(&ps, common) == 0 ? parse_sub(&ps, common, "common") : NULL;
	if (!p->common && !common)
		goto nomem;
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(js, "events");
	if (!cJSON_IsObject(events) || !events->child) {
		problem(&ps, 0, "events", "must be an object mapping each event type to its schema");
		goto done;
	}
	size_t cnt = (size_t)cJSON_GetArraySize(events);
	p->types = calloc(cnt, sizeof *p->types);
	if (!p->types)
		goto nomem;
	size_t save = push(&ps, "events");
	for (const cJSON *e = events->child; e && !over_budget(&ps); e = e->next) {
		size_t s2 = push(&ps, e->string);
		if (!valid_type_name(e->string))
			problem(&ps, 0, NULL, "a type name is 1 to 47 of A-Z a-z 0-9 . _ -");
		enum vg_priority prio = VG_PRIO_NORMAL;
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(e, "x-priority");
		if (pr) {
			if (cJSON_IsString(pr) && strcmp(pr->valuestring, "high") == 0)
				prio = VG_PRIO_HIGH;
			else if (cJSON_IsString(pr) && strcmp(pr->valuestring, "low") == 0)
				prio = VG_PRIO_LOW;
			else if (!cJSON_IsString(pr) || strcmp(pr->valuestring, "normal") != 0)
				problem(&ps, 0, "x-priority", "must be \"high\", \"normal\" or \"low\"");
		}
		struct node *n = cJSON_IsObject(e) ? parse_event(&ps, e, common) : NULL;
		if (!cJSON_IsObject(e))
			problem(&ps, 0, NULL, "must be a schema (a JSON object)");
		if (n && n->types && n->types != T_OBJECT)
			problem(&ps, 0, "type", "an event is an object");
		if (n) {
			int add;
			const struct node *ty = member_schema(n, "type", &add);
			if (!ty || add || (ty->types && !(ty->types & T_STRING)))
				problem(&ps, 0, "properties", "the event's \"type\" must be declared as a string (here or in"
				                              " common): without it nothing of the event can be forwarded");
			if (!member_schema(n, "occurred_at", &add) || add)
				problem(&ps, 1, "properties", "\"occurred_at\" is not declared: every event of this type gets"
				                              " its receive time (flag timestamp_missing)");
		}
		for (size_t i = 0; i < p->ntypes; i++)
			if (strcmp(p->types[i].name, e->string) == 0)
				problem(&ps, 0, NULL, "the type is listed twice");
		pop(&ps, s2);
		if (!n)
			continue;
		p->types[p->ntypes].name = dup_str(e->string);
		p->types[p->ntypes].prio = prio;
		p->types[p->ntypes].schema = n;
		if (!p->types[p->ntypes].name) {
			node_free(n);
			pop(&ps, save);
			goto nomem;
		}
		p->ntypes++;
	}
	pop(&ps, save);
done:
	cJSON_Delete(js);
	if (ps.errors) {
		vg_plan_free(p);
		return VG_ERR_CONFIG;
	}
	*out = p;
	return VG_OK;
nomem:
	cJSON_Delete(js);
	vg_plan_free(p);
	return VG_ERR_NOMEM;
}

struct first_error {
	char *err;
	size_t errsz;
	const char *path;
	int have;
};

static void keep_first(void *ud, int warning, const char *pointer, const char *text)
{
	struct first_error *fe = ud;
	if (warning || fe->have)
		return;
	fe->have = 1;
	snprintf(fe->err, fe->errsz, "%s: %s: %s", fe->path, pointer, text);
}

int vg_plan_load(struct vg_plan **out, const char *path, char *err, size_t errsz)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errsz, "%s: cannot open the tracking plan: %s", path, strerror(errno));
		return VG_ERR_IO;
	}
	char *buf = malloc(PLAN_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errsz, "%s: out of memory", path);
		return VG_ERR_NOMEM;
	}
	size_t n = fread(buf, 1, PLAN_FILE_MAX + 1, f);
	int ioerr = ferror(f);
	fclose(f);
	if (ioerr || n > PLAN_FILE_MAX) {
		free(buf);
		snprintf(err, errsz, "%s: %s", path, ioerr ? "cannot read the tracking plan"
		                                           : "the tracking plan is larger than 4 MiB");
		return VG_ERR_IO;
	}
	struct first_error fe = { .err = err, .errsz = errsz, .path = path };
	int rc = vg_plan_parse(out, buf, n, keep_first, &fe);
	free(buf);
	if (rc == VG_ERR_NOMEM)
		snprintf(err, errsz, "%s: out of memory", path);
	else if (rc && !fe.have)
		snprintf(err, errsz, "%s: not a tracking plan", path);
	return rc;
}

/* ---- lookups -------------------------------------------------------------- */

const char *vg_plan_version(const struct vg_plan *p)
{
	return p && p->version ? p->version : "";
}

const char *vg_plan_name(const struct vg_plan *p)
{
	return p && p->name ? p->name : "";
}

int vg_plan_count(const struct vg_plan *p)
{
	return p ? (int)p->ntypes : 0;
}

const char *vg_plan_type(const struct vg_plan *p, int i)
{
	return p && i >= 0 && (size_t)i < p->ntypes ? p->types[i].name : NULL;
}

static const struct plan_type *find(const struct vg_plan *p, const char *type)
{
	for (size_t i = 0; p && type && i < p->ntypes; i++)
		if (strcmp(p->types[i].name, type) == 0)
			return &p->types[i];
	return NULL;
}

int vg_plan_has(const struct vg_plan *p, const char *type)
{
	return find(p, type) != NULL;
}

enum vg_priority vg_plan_priority(const struct vg_plan *p, const char *type)
{
	const struct plan_type *t = find(p, type);
	return t ? t->prio : VG_PRIO_NORMAL;
}

static const struct node *member_schema(const struct node *n, const char *name, int *additional)
{
	*additional = 0;
	for (size_t i = 0; n && i < n->nprops; i++)
		if (strcmp(n->props[i].name, name) == 0)
			return n->props[i].schema;
	if (n && n->additional && (!n->names_re || re_match(n->names_re, name, strlen(name)))) {
		*additional = 1;
		return n->additional;
	}
	return NULL;
}

/* ---- plan show ------------------------------------------------------------ */

static void types_text(unsigned t, char *out, size_t outsz)
{
	size_t k = 0;
	out[0] = '\0';
	for (int i = 0; i < N_TYPES; i++)
		if (t & (1u << i))
			k += (size_t)snprintf(out + k, k < outsz ? outsz - k : 0, "%s%s", k ? "|" : "", type_names[i]);
	if (!t)
		snprintf(out, outsz, "any");
}

static int is_required(const struct node *parent, const char *name)
{
	for (size_t i = 0; parent && i < parent->nrequired; i++)
		if (strcmp(parent->required[i], name) == 0)
			return 1;
	return 0;
}

static int walk_fields(const struct node *n, char *path, size_t len, size_t cap, vg_plan_field_cb cb,
                       void *ud)
{
	for (size_t i = 0; i < n->nprops + (n->additional ? 1 : 0); i++) {
		const char *name = i < n->nprops ? n->props[i].name : "*";
		const struct node *c = i < n->nprops ? n->props[i].schema : n->additional;
		/* A member named "" (JSON allows it) shows as "". */
		size_t l = len + (size_t)snprintf(path + len, cap - len, "%s%s", len ? "." : "",
		                                  name[0] ? name : "\"\"");
		if (l >= cap)
			l = cap - 1;
		size_t l2 = l;
		const struct node *el = c;
		while ((el->types & T_ARRAY) && el->items && l2 + 3 < cap) {
			l2 += (size_t)snprintf(path + l2, cap - l2, "[]");
			el = el->items;
		}
		char types[96];
		types_text(c->types, types, sizeof types);
		int cls = c->cls >= 0 ? c->cls : (!c->types || (c->types & T_STRING)) ? VG_PII_TEXT : -1;
		int rc = cb(ud, path, types, cls >= 0 ? vg_pii_class_name(cls) : NULL,
		            i < n->nprops && is_required(n, name));
		if (rc)
			return rc;
		if (el->nprops || el->additional) {
			if ((rc = walk_fields(el, path, l2, cap, cb, ud)) != 0)
				return rc;
		}
		path[len] = '\0';
	}
	return 0;
}

int vg_plan_fields(const struct vg_plan *p, const char *type, vg_plan_field_cb cb, void *ud)
{
	const struct plan_type *t = find(p, type);
	if (!t)
		return VG_ERR_NOTFOUND;
	char path[256] = "";
	walk_fields(t->schema, path, 0, sizeof path, cb, ud);
	return VG_OK;
}

/* ---- paths in rejections and drop reports ----------------------------------- */

/* Where a walk stands: a stack of members and elements, rendered as text
 * only when a rejection or a drop names it (path_text), so a walk that
 * passes formats nothing and scans no key.  Frames past PATH_FRAMES could
 * never show in VG_PLAN_PATH_MAX bytes (each takes two at least). */
#define PATH_FRAMES (VG_PLAN_PATH_MAX / 2 + 2)
struct path {
	struct {
		const char *key;     /* a member's name, or NULL for an element */
		int index;           /* an element's index, or -1 for "[]" */
	} f[PATH_FRAMES];
	size_t n;                    /* depth; frames past PATH_FRAMES are not kept */
	int default_cc;
};

/* A key that cannot carry personal data goes into paths as it is; any other
 * becomes "~". */
static int key_is_plain(const char *k, int default_cc)
{
	size_t n = strlen(k), digits = 0;
	if (n == 0 || n > 40)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (c >= '0' && c <= '9') {
			if (++digits >= 6)
				return 0;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-')) {
			return 0;
		}
	}
	return !vg_pii_in_identifier(k, n, default_cc, NULL);
}

static size_t path_push(struct path *p, const char *key, int index)
{
	if (p->n < PATH_FRAMES) {
		p->f[p->n].key = key;
		p->f[p->n].index = index;
	}
	return p->n++;
}

static void path_pop(struct path *p, size_t n)
{
	p->n = n;
}

/* The dotted path: a key that might carry personal data as "~"; one "…"
 * where the next segment would not fit. */
_Static_assert(sizeof((struct vg_reject *)0)->field >= VG_PLAN_PATH_MAX, "a rejection holds a whole path");

static const char *path_text(const struct path *p, char out[VG_PLAN_PATH_MAX])
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->n && i < PATH_FRAMES; i++) {
		char seg[64];
		if (p->f[i].key)
			snprintf(seg, sizeof seg, "%s%s", n ? "." : "",
			         key_is_plain(p->f[i].key, p->default_cc) ? p->f[i].key : "~");
		else if (p->f[i].index >= 0)
			snprintf(seg, sizeof seg, "[%d]", p->f[i].index);
		else
			snprintf(seg, sizeof seg, "[]");
		size_t l = strlen(seg);
		if (n + l + 4 >= VG_PLAN_PATH_MAX) {
			if (n + 4 <= VG_PLAN_PATH_MAX && (n < 3 || memcmp(out + n - 3, "\xe2\x80\xa6", 3) != 0)) {
				memcpy(out + n, "\xe2\x80\xa6", 3);
				n += 3;
			}
		} else {
			memcpy(out + n, seg, l);
			n += l;
		}
		out[n] = '\0';
	}
	return out;
}

/* ---- checking --------------------------------------------------------------- */

struct check {
	int default_cc;
	struct vg_reject *rej;
	struct path path;
	int quiet;                   /* inside anyOf: no rejection is written */
};

static int fail(struct check *ck, enum vg_reject_reason reason, const char *detail)
{
	if (!ck->quiet && ck->rej) {
		ck->rej->reason = reason;
		ck->rej->offset = -1;
		path_text(&ck->path, ck->rej->field);
		snprintf(ck->rej->detail, sizeof ck->rej->detail, "%s", detail);
	}
	return VG_ERR_INVAL;
}

static unsigned json_type(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return T_OBJECT;
	if (cJSON_IsArray(v))
		return T_ARRAY;
	if (cJSON_IsString(v))
		return T_STRING;
	if (cJSON_IsBool(v))
		return T_BOOLEAN;
	if (cJSON_IsNull(v))
		return T_NULL;
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d >= -MAX_SAFE_INT && d <= MAX_SAFE_INT && (double)(int64_t)d == d)
			return T_NUMBER | T_INTEGER;
		return T_NUMBER;
	}
	return 0;
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static int is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	for (size_t i = 0; i < sizeof shape - 1; i++) {
		char c = s[i];
		if (shape[i] == '-' ? c != '-'
		                    : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return s[sizeof shape - 1] == '\0';
}

static int check_value(struct check *ck, const struct node *n, const cJSON *v);
static int key_is_plain(const char *k, int default_cc);

/* Whether an `id`-class value looks like personal data (*what: "email",
 * "phone", "card"): what the free-text scanner would replace, so a national
 * number valid for default_country_code counts even without separators —
 * an identifier like "015112345678" may be a mobile number, and a device
 * whose ids are zero-padded numbers sends them as JSON numbers or with a
 * prefix ("R-015112345678" is no phone: glued to a word). */
static int id_personal(const char *s, int default_cc, const char **what)
{
	return vg_pii_in_identifier(s, strlen(s), default_cc, what) != 0;
}

/* The dotted path of the first member a missing required member would need:
 * "properties.class_id" rather than "properties". */
static void deepen_missing(struct check *ck, const struct node *n, const char *name)
{
	int add;
	path_push(&ck->path, name, -1);
	const struct node *c = member_schema(n, name, &add);
	while (c && c->nrequired) {
		path_push(&ck->path, c->required[0], -1);
		c = member_schema(c, c->required[0], &add);
	}
}

static int check_object(struct check *ck, const struct node *n, const cJSON *v)
{
	for (size_t i = 0; i < n->nrequired; i++) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, n->required[i]);
		if (!m) {
			size_t save = ck->path.n;
			deepen_missing(ck, n, n->required[i]);
			fail(ck, VG_REJ_CONTRACT, "required");
			path_pop(&ck->path, save);
			return VG_ERR_INVAL;
		}
	}
	long count = 0, booleans = 0;
	for (const cJSON *m = v->child; m; m = m->next) {
		count++;
		int add;
		const struct node *c = member_schema(n, m->string, &add);
		if (!c || (add && !key_is_plain(m->string, ck->default_cc)))
			continue; /* undeclared: apply drops it */
		if (add && cJSON_IsBool(m))
			booleans++;
		size_t save = path_push(&ck->path, m->string, -1);
		int rc = check_value(ck, c, m);
		path_pop(&ck->path, save);
		if (rc)
			return rc;
	}
	if (count < n->min_props || (n->max_props >= 0 && count > n->max_props))
		return fail(ck, VG_REJ_CONTRACT, n->max_props >= 0 ? "number of members out of range"
		                                                  : "too few members");
	if (booleans < n->min_booleans)
		return fail(ck, VG_REJ_CONTRACT, "required object with at least one boolean scope");
	return VG_OK;
}

static int check_string(struct check *ck, const struct node *n, const cJSON *v)
{
	const char *s = v->valuestring;
	if (n->min_len || n->max_len >= 0) {
		size_t l = utf8_len(s);
		if ((long)l < n->min_len)
			return fail(ck, VG_REJ_CONTRACT, n->min_len == 1 ? "required non-empty string"
			                                                 : "string shorter than its minLength");
		if (n->max_len >= 0 && (long)l > n->max_len)
			return fail(ck, VG_REJ_CONTRACT, "string longer than its maxLength");
	}
	size_t slen = n->pattern ? strlen(s) : 0;
	if (slen > RE_SUBJECT_MAX)
		return fail(ck, VG_REJ_CONTRACT, "string longer than 1024 bytes under a pattern");
	if (n->pattern && !re_match(n->pattern, s, slen))
		return fail(ck, VG_REJ_CONTRACT, "string does not match its pattern");
	if (n->format == F_DATETIME) {
		int64_t t;
		int off;
		if (vg_time_parse(s, &t, &off) != VG_OK || !off)
			return fail(ck, VG_REJ_CONTRACT, "not an ISO 8601 date-time with offset");
	} else if (n->format == F_EMAIL) {
		char buf[320];
		int rc = vg_norm_email(s, strlen(s), buf, sizeof buf);
		vg_wipe(buf, sizeof buf);
		if (rc < 0)
			return fail(ck, VG_REJ_CONTRACT, "not an email address");
	} else if (n->format == F_UUID && !is_uuid(s)) {
		return fail(ck, VG_REJ_CONTRACT, "not a UUID");
	}
	if (n->cls == VG_PII_ID) {
		const char *what = NULL;
		if (id_personal(s, ck->default_cc, &what)) {
			char d[96];
			snprintf(d, sizeof d, "an identifier that looks like %s %s number",
			         what && strcmp(what, "email") == 0 ? "an" : "a", what ? what : "personal");
			if (what && strcmp(what, "email") == 0)
				snprintf(d, sizeof d, "an identifier that looks like an email address");
			return fail(ck, VG_REJ_PII_IN_IDENTIFIER, d);
		}
	}
	return VG_OK;
}

/* anyOf failed: name every alternative's field in one path, their common
 * prefix once ("person.customer_id|loyalty_id|email"). */
static void join_alternatives(struct vg_reject *rej, const struct vg_reject *br, size_t nb)
{
	*rej = br[0];
	if (nb < 2)
		return;
	size_t pre = 0; /* the common prefix, up to and including a '.' */
	for (size_t k = 0; br[0].field[k]; k++) {
		int same = 1;
		for (size_t i = 1; i < nb && same; i++)
			same = br[i].field[k] == br[0].field[k];
		if (!same)
			break;
		if (br[0].field[k] == '.')
			pre = k + 1;
	}
	size_t len = pre;
	for (size_t i = 0; i < nb && len + 1 < sizeof rej->field; i++) {
		const char *rest = br[i].field + pre;
		int dup = 0;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(br[j].field + pre, rest) == 0;
		if (dup)
			continue;
		int w = snprintf(rej->field + len, sizeof rej->field - len, "%s%s", len > pre ? "|" : "", rest);
		len = w < 0 || (size_t)w >= sizeof rej->field - len ? sizeof rej->field - 1 : len + (size_t)w;
	}
	snprintf(rej->detail, sizeof rej->detail, "required: one of these alternatives (anyOf)");
}

static int check_value(struct check *ck, const struct node *n, const cJSON *v)
{
	unsigned t = json_type(v);
	if (n->types && !(n->types & t)) {
		char want[96], d[128];
		types_text(n->types, want, sizeof want);
		snprintf(d, sizeof d, "required %s", want);
		if (n->types == T_INTEGER)
			snprintf(d, sizeof d, "required integer (no fraction, within +-2^53)");
		return fail(ck, VG_REJ_CONTRACT, d);
	}
	if (n->enum_values) {
		int found = 0;
		for (const cJSON *e = n->enum_values->child; e && !found; e = e->next)
			found = cJSON_Compare(e, v, 1);
		if (!found)
			return fail(ck, VG_REJ_CONTRACT, "not one of the allowed values");
	}
	if (t & T_NUMBER) {
		if ((n->has_min && v->valuedouble < n->min) || (n->has_max && v->valuedouble > n->max))
			return fail(ck, VG_REJ_CONTRACT, "number out of range");
	} else if (t == T_STRING) {
		int rc = check_string(ck, n, v);
		if (rc)
			return rc;
	} else if (t == T_OBJECT) {
		int rc = check_object(ck, n, v);
		if (rc)
			return rc;
	} else if (t == T_ARRAY) {
		long cnt = cJSON_GetArraySize(v);
		if (cnt < n->min_items || (n->max_items >= 0 && cnt > n->max_items))
			return fail(ck, VG_REJ_CONTRACT, "number of elements out of range");
		int i = 0;
		for (const cJSON *e = v->child; e && n->items; e = e->next, i++) {
			size_t save = path_push(&ck->path, NULL, i);
			int rc = check_value(ck, n->items, e);
			path_pop(&ck->path, save);
			if (rc)
				return rc;
		}
	}
	if (n->nany) {
		struct vg_reject br[8];
		size_t nb = 0;
		int ok = 0, quiet = ck->quiet;
		struct vg_reject *keep = ck->rej;
		for (size_t i = 0; i < n->nany && !ok; i++) {
			struct vg_reject tmp = { 0 };
			ck->rej = &tmp;
			ck->quiet = 0;
			ok = check_value(ck, n->any[i], v) == VG_OK;
			if (!ok && nb < sizeof br / sizeof br[0])
				br[nb++] = tmp;
		}
		ck->rej = keep;
		ck->quiet = quiet;
		if (!ok) {
			if (!quiet && ck->rej)
				join_alternatives(ck->rej, br, nb);
			return VG_ERR_INVAL;
		}
	}
	return VG_OK;
}

static int reject_common(struct vg_reject *rej, enum vg_reject_reason reason, const char *field,
                         const char *detail)
{
	if (rej) {
		rej->reason = reason;
		rej->offset = -1;
		snprintf(rej->field, sizeof rej->field, "%s", field);
		snprintf(rej->detail, sizeof rej->detail, "%s", detail);
	}
	return VG_ERR_INVAL;
}

/* The length cJSON_PrintUnformatted gives a string (quotes included). */
static size_t printed_string(const char *s)
{
	size_t n = 2;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		n += *p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' || *p == '\r' || *p == '\t' ? 2
		   : *p < 0x20                                                                                      ? 6
		                                                                                                    : 1;
	return n;
}

/* An upper bound of the length cJSON_PrintUnformatted gives v without
 * printing it: exact but for numbers, which count as cJSON's 26-byte
 * number buffer. */
static size_t printed_bound(const cJSON *v)
{
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		size_t n = 2;
		for (const cJSON *c = v->child; c; c = c->next)
			n += printed_bound(c) + (c->next ? 1 : 0) + (cJSON_IsObject(v) ? printed_string(c->string) + 1 : 0);
		return n;
	}
	if (cJSON_IsString(v))
		return printed_string(v->valuestring);
	if (cJSON_IsRaw(v))
		return v->valuestring ? strlen(v->valuestring) : 0;
	return cJSON_IsNumber(v) ? 26 : 5; /* true, false, null */
}

/* The rules every plan shares (input contract v1's common fields). */
static int check_common(const cJSON *event, struct vg_reject *rej)
{
	static const char *const objects[] = { "person", "consent", "properties" };
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(event, "id");
	if (v) {
		size_t n = cJSON_IsString(v) && v->valuestring ? strlen(v->valuestring) : 0;
		if (n < 1 || n > VG_EVENT_ID_MAX)
			return reject_common(rej, VG_REJ_BAD_FIELD, "id", "string of 1 to 64 bytes");
	}
	v = cJSON_GetObjectItemCaseSensitive(event, "seq");
	if (v && !(json_type(v) & T_INTEGER && v->valuedouble >= 0))
		return reject_common(rej, VG_REJ_BAD_FIELD, "seq", "integer from 0 to 2^53");
	for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
		v = cJSON_GetObjectItemCaseSensitive(event, objects[i]);
		if (v && !cJSON_IsObject(v))
			return reject_common(rej, VG_REJ_BAD_FIELD, objects[i], "object");
	}
	v = cJSON_GetObjectItemCaseSensitive(event, "properties");
	if (v && printed_bound(v) > VG_PROPERTIES_MAX_BYTES) {
		/* near the limit: the exact length, printed */
		char *enc = cJSON_PrintUnformatted(v);
		if (!enc) {
			reject_common(rej, VG_REJ_NONE, "properties", "out of memory");
			return VG_ERR_NOMEM;
		}
		size_t n = strlen(enc);
		vg_wipe(enc, n); /* may hold personal data */
		cJSON_free(enc);
		if (n > VG_PROPERTIES_MAX_BYTES)
			return reject_common(rej, VG_REJ_BAD_FIELD, "properties",
			                     "object of at most 32768 bytes encoded");
	}
	v = cJSON_GetObjectItemCaseSensitive(event, "occurred_at");
	if (v && !cJSON_IsString(v))
		return reject_common(rej, VG_REJ_BAD_FIELD, "occurred_at", "string (ISO 8601 with offset)");
	return VG_OK;
}

int vg_plan_check(const struct vg_plan *p, const cJSON *event, int default_cc, struct vg_reject *rej)
{
	if (rej)
		reject_common(rej, VG_REJ_NONE, "", "");
	if (!cJSON_IsObject(event))
		return reject_common(rej, VG_REJ_NOT_OBJECT, "", "top level is not a JSON object");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
	if (!cJSON_IsString(type) || !type->valuestring)
		return reject_common(rej, VG_REJ_BAD_FIELD, "type", "required string");
	const struct plan_type *t = find(p, type->valuestring);
	if (!t)
		return reject_common(rej, VG_REJ_UNKNOWN_TYPE, "type", "not a type of the tracking plan");
	int rc = check_common(event, rej);
	if (rc)
		return rc;
	struct check ck = { .default_cc = default_cc, .rej = rej, .path.default_cc = default_cc };
	return check_value(&ck, t->schema, event);
}

/* ---- applying ----------------------------------------------------------------- */

struct apply {
	const struct vg_pii_ctx *ctx;
	struct vg_pii_stats *st;
	vg_plan_drop_cb cb;
	void *ud;
	int stored_body;
	int ids_clean;               /* the check passed: no id-class value holds personal data */
	struct path path;            /* array indexes as "[]" */
};

/* A value venuegw itself wrote for cls (vg_plan_apply's stored_body). */
static int stored_form(int cls, const char *v)
{
	if (cls == VG_PII_CARD)
		return strncmp(v, "card-", 5) == 0 && strlen(v) > 10 && v[5] >= '0' && v[5] <= '9' &&
		       v[6] >= '0' && v[6] <= '9' && v[7] >= '0' && v[7] <= '9' && v[8] >= '0' && v[8] <= '9' &&
		       v[9] == ':' && vg_token_is(v + 10, "pan");
	return cls >= 0 && vg_pii_stored_form(vg_pii_class_name((enum vg_pii_class)cls), v) != 0;
}

static void report_drop(const struct apply *ap)
{
	char text[VG_PLAN_PATH_MAX];
	ap->cb(ap->ud, path_text(&ap->path, text));
}

static void drop(struct apply *ap, cJSON *parent, cJSON *item, const char *key)
{
	size_t save = path_push(&ap->path, key, -1);
	if (ap->cb)
		report_drop(ap);
	path_pop(&ap->path, save);
	cJSON_DetachItemViaPointer(parent, item);
	vg_json_wipe_delete(item);
}

static int apply_value(struct apply *ap, const struct node *n, cJSON *parent, cJSON *item);

static int apply_children(struct apply *ap, const struct node *n, cJSON *v)
{
	cJSON *next;
	if (cJSON_IsObject(v)) {
		for (cJSON *m = v->child; m; m = next) {
			next = m->next;
			int add;
			const struct node *c = member_schema(n, m->string, &add);
			/* A key admitted by additionalProperties (a consent scope, say) is
			 * input: it passes only when it cannot carry personal data. */
			if (!c || (add && !key_is_plain(m->string, ap->ctx->default_cc))) {
				drop(ap, v, m, m->string);
				continue;
			}
			size_t save = path_push(&ap->path, m->string, -1);
			int rc = apply_value(ap, c, v, m);
			path_pop(&ap->path, save);
			if (rc < 0)
				return rc;
		}
	} else if (cJSON_IsArray(v)) {
		for (cJSON *e = v->child; e; e = next) {
			next = e->next;
			if (!n->items) {
				size_t save = path_push(&ap->path, NULL, -1);
				if (ap->cb)
					report_drop(ap);
				path_pop(&ap->path, save);
				cJSON_DetachItemViaPointer(v, e);
				vg_json_wipe_delete(e);
				continue;
			}
			size_t save = path_push(&ap->path, NULL, -1);
			int rc = apply_value(ap, n->items, v, e);
			path_pop(&ap->path, save);
			if (rc < 0)
				return rc;
		}
	}
	return VG_OK;
}

/* Returns VG_OK, 1 (item was dropped), or an error. */
static int apply_value(struct apply *ap, const struct node *n, cJSON *parent, cJSON *item)
{
	unsigned t = json_type(item);
	if (n->types && !(n->types & t)) {
		/* Declared, but not as this (the check quarantined the event):
		 * "note": 4111111111111111 must not be held as it came. */
		if (ap->cb)
			report_drop(ap);
		cJSON_DetachItemViaPointer(parent, item);
		vg_json_wipe_delete(item);
		return 1;
	}
	if (t == T_OBJECT || t == T_ARRAY) {
		if (n->cls >= 0 && n->cls != VG_PII_TEXT && n->cls != VG_PII_ID) {
			/* a personal class on a structure: nothing of it passes */
			return vg_pii_apply(parent, item, (enum vg_pii_class)n->cls, ap->ctx, ap->st);
		}
		return apply_children(ap, n, item);
	}
	int cls = n->cls;
	if (cls < 0)
		cls = VG_PII_TEXT;
	if (t == T_STRING && ap->stored_body && stored_form(cls, item->valuestring))
		return VG_OK;
	if (t == T_STRING && cls == VG_PII_ID && !ap->ids_clean &&
	    id_personal(item->valuestring, ap->ctx->default_cc, NULL))
		cls = VG_PII_TEXT; /* quarantined as pii_in_identifier: held without the raw value */
	if (t == T_STRING || ((t & T_NUMBER) && n->cls >= 0))
		return vg_pii_apply(parent, item, (enum vg_pii_class)cls, ap->ctx, ap->st);
	return VG_OK;
}

int vg_plan_apply(const struct vg_plan *p, cJSON *event, const struct vg_pii_ctx *ctx,
                  struct vg_pii_stats *st, int flags, vg_plan_drop_cb cb, void *ud)
{
	struct vg_pii_stats dummy = { 0 };
	if (!p || !cJSON_IsObject(event) || !ctx || !ctx->key)
		return VG_ERR_INVAL;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
	const struct plan_type *t = cJSON_IsString(type) ? find(p, type->valuestring) : NULL;
	struct apply ap = { .ctx = ctx, .st = st ? st : &dummy, .cb = cb, .ud = ud, .path.default_cc = ctx->default_cc,
	                    .stored_body = (flags & VG_PLAN_STORED_BODY) != 0,
	                    .ids_clean = (flags & VG_PLAN_IDS_CLEAN) != 0 };
	return apply_children(&ap, t ? t->schema : p->common, event);
}

/* ---- identifiers ------------------------------------------------------------- */

static int is_ident_class(int cls)
{
	return cls == VG_PII_EMAIL || cls == VG_PII_PHONE || cls == VG_PII_CUSTOMER_ID ||
	       cls == VG_PII_LOYALTY_ID || cls == VG_PII_MEMBER_CODE || cls == VG_PII_PAYMENT_CUSTOMER_ID;
}

static int idents_walk(const struct node *n, const cJSON *v, vg_plan_ident_cb cb, void *ud)
{
	if (cJSON_IsString(v))
		return is_ident_class(n->cls) ? cb(ud, vg_pii_class_name((enum vg_pii_class)n->cls), v->valuestring)
		                              : 0;
	for (const cJSON *m = (cJSON_IsObject(v) || cJSON_IsArray(v)) ? v->child : NULL; m; m = m->next) {
		int add;
		const struct node *c = cJSON_IsArray(v) ? n->items : member_schema(n, m->string, &add);
		if (!c)
			continue;
		int rc = idents_walk(c, m, cb, ud);
		if (rc)
			return rc;
	}
	return 0;
}

int vg_plan_identifiers(const struct vg_plan *p, const cJSON *event, vg_plan_ident_cb cb, void *ud)
{
	if (!p || !cJSON_IsObject(event))
		return 0;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
	const struct plan_type *t = cJSON_IsString(type) ? find(p, type->valuestring) : NULL;
	return idents_walk(t ? t->schema : p->common, event, cb, ud);
}
