/* venuegw — the input contract: the tracking plan (DESIGN.md §4).
 *
 * A tracking plan is a JSON file:
 *
 *   { "name": "...", "version": "2026-12-04.1",
 *     "common": { <schema of the fields every type shares> },
 *     "events": { "<type>": { <schema of the whole event>, "x-priority": "high" }, ... } }
 *
 * Each schema uses the JSON Schema (draft 2020-12) keywords that tracking
 * plans use: type, properties, required, additionalProperties, propertyNames,
 * items, enum, const, minimum, maximum, minLength, maxLength, minItems,
 * maxItems, minProperties, maxProperties, pattern, format (date-time, email,
 * uuid), anyOf; annotations (title, description, examples, default, $comment,
 * $schema, $id) are ignored; ours start with "x-": x-pii (the personal-data
 * class of a field: email phone name address birth_date card customer_id
 * loyalty_id member_code payment_customer_id text id; a string without one is
 * text), x-priority (an event's lane: high | normal | low), x-min-booleans (an
 * object needs at least this many boolean members: consent scopes).  A type's
 * `properties` are added to common's (its own win).  `pattern` is an
 * ECMA-262 expression as PCRE2 reads it (UTF-8, $ only at the end, \uXXXX,
 * `.` stops at line terminators; \s is ASCII white space); one over 4 096
 * bytes or compiling to over 64 KiB is refused, a match that takes more than
 * 100 000 backtracking steps or 1 MiB counts as no match, and a string over
 * 1 024 bytes under a pattern is refused unscanned.  A plan may compile
 * 2 MiB of patterns and hold 200 000 JSON values or 8 MiB of names and
 * strings, counting common's properties once in every type.
 *
 * What passes is declared; nothing else does: a member the schema does not
 * declare — in `properties`, or through `additionalProperties` (a schema, or
 * true for "any value", strings then free text) — is dropped wherever it
 * stands and reported to the caller, who counts it or quarantines the event.
 * An array without `items` declares no elements.  Keys admitted through
 * additionalProperties are dropped when they look like an email, a phone or a
 * card number (vg_pii_in_identifier).
 *
 * A plan is immutable once parsed; one may be shared by readers.  Pure: no
 * I/O but vg_plan_load's read of the file. */
#ifndef VG_CONTRACT_H
#define VG_CONTRACT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "event.h"
#include "pii.h"

enum vg_priority {
	VG_PRIO_HIGH = 0,    /* consent and erasure: the priority lane */
	VG_PRIO_NORMAL = 1,
	VG_PRIO_LOW = 2,     /* device.status */
};

struct vg_plan;

/* Where the package puts the default plan (it expresses §4's table). */
#define VG_PLAN_DEFAULT_PATH "/usr/share/venuegw/plan.json"

/* One problem in a plan: pointer is a JSON pointer into the plan file
 * ("/events/pos.order.completed/properties/properties/properties/total_minor/type"),
 * text says what is wrong.  warning: 1 for something that works but is
 * probably not meant (additionalProperties: true, an array without items). */
typedef void (*vg_plan_problem_cb)(void *ud, int warning, const char *pointer, const char *text);

/* Parse plan text.  Every problem goes to cb (may be NULL).  On success (no
 * errors; warnings allowed) *out is a new plan (vg_plan_free).  Returns
 * VG_OK, VG_ERR_CONFIG (errors: *out is NULL), VG_ERR_NOMEM. */
int vg_plan_parse(struct vg_plan **out, const char *text, size_t len, vg_plan_problem_cb cb, void *ud);

/* 1 if pattern is one a plan may use (see `pattern` above), else 0 with why
 * in err.  For converters (venuegw plan import). */
int vg_plan_pattern_ok(const char *pattern, char *err, size_t errsz);

/* Read (at most 4 MiB) and parse the file at path.  On failure err gets
 * "<path>: <pointer>: <text>" for the first error (or why it cannot be read).
 * VG_OK, VG_ERR_IO, VG_ERR_CONFIG or VG_ERR_NOMEM. */
int vg_plan_load(struct vg_plan **out, const char *path, char *err, size_t errsz);

void vg_plan_free(struct vg_plan *p);

/* The plan's "version" and "name" (borrowed; "" when absent). */
const char *vg_plan_version(const struct vg_plan *p);
const char *vg_plan_name(const struct vg_plan *p);

/* The number of event types, and the type names in the file's order. */
int vg_plan_count(const struct vg_plan *p);
const char *vg_plan_type(const struct vg_plan *p, int i);

/* 1 if the plan has type. */
int vg_plan_has(const struct vg_plan *p, const char *type);

/* Priority of a type (VG_PRIO_NORMAL for unknown ones or a NULL plan). */
enum vg_priority vg_plan_priority(const struct vg_plan *p, const char *type);

/* Each field a type declares, depth first, for `venuegw plan show`: path in
 * dotted form ("properties.lines[].sku", "consent.*" for additionalProperties),
 * its JSON types ("string", "integer|null", "any"), its class (NULL for
 * non-strings without x-pii), whether required.  A non-zero return from cb
 * stops (a member named "" shows as `""`).  VG_OK or VG_ERR_NOTFOUND (no such type). */
typedef int (*vg_plan_field_cb)(void *ud, const char *path, const char *types, const char *cls,
                                int required);
int vg_plan_fields(const struct vg_plan *p, const char *type, vg_plan_field_cb cb, void *ud);

/* Check a decoded event, before anything is rewritten, against the plan:
 *  - type: a required string of a type the plan has       → bad_field / unknown_type
 *  - common rules kept from v1 for every plan: id a string of 1..64 bytes,
 *    seq an integer ≥ 0, person/consent/properties objects, properties at
 *    most 32 KiB encoded, occurred_at a string             → bad_field
 *  - the type's schema                                      → contract
 *  - every string of class id (the event's `id` included) that looks like an
 *    email, a phone or a card number                        → pii_in_identifier
 * rej->field is the field's dotted path ("properties.lines[2].sku"), never a
 * value; a key that may hold personal data is shown as "~".  Returns VG_OK,
 * VG_ERR_INVAL (rej filled) or VG_ERR_NOMEM. */
int vg_plan_check(const struct vg_plan *p, const cJSON *event, int default_cc, struct vg_reject *rej);

/* Reported for each member apply drops because the plan does not declare it:
 * path is the dotted path of the member with array indexes as "[]" and keys
 * that may hold personal data (not 1..40 of [A-Za-z0-9_-], or 6 digits or
 * more, or what vg_pii_in_identifier finds) as "~". */
#define VG_PLAN_PATH_MAX 96   /* longer paths end in "…" */
typedef void (*vg_plan_drop_cb)(void *ud, const char *path);

/* Make a decoded event what may be stored: drop every member the type's
 * schema does not declare (cb for each; for an unknown type the common schema
 * applies), then apply each declared string's class (vg_pii_apply), keys
 * admitted by additionalProperties that look like personal data dropped too
 * (reported as "~").  An `id`-class string that looks like personal data
 * (vg_plan_check quarantines the event) is scanned as text, so the held body
 * keeps no raw value either.  A stored body (`venuegw quarantine retry`: the
 * event is a body venuegw stored): a value already in its class's stored
 * form (a token of its kind, a SHA-256 hex digest, "card-NNNN:<pan token>")
 * is kept as it is.  flags: VG_PLAN_STORED_BODY for that, VG_PLAN_IDS_CLEAN
 * when vg_plan_check passed the event (no `id`-class value holds personal
 * data, so apply need not look again).  Returns VG_OK, VG_ERR_NOMEM or
 * VG_ERR_INVAL (the tree is then still safe to wipe and free). */
#define VG_PLAN_STORED_BODY 1
#define VG_PLAN_IDS_CLEAN 2
int vg_plan_apply(const struct vg_plan *p, cJSON *event, const struct vg_pii_ctx *ctx,
                  struct vg_pii_stats *st, int flags, vg_plan_drop_cb cb, void *ud);

/* The identifier fields of an event wherever they stand: for each string
 * member of class email, phone, customer_id, loyalty_id, member_code or
 * payment_customer_id, cb(class name, value).  Used for identity tokens
 * (suppression) before apply rewrites them.  A non-zero return stops. */
typedef int (*vg_plan_ident_cb)(void *ud, const char *cls, const char *value);
int vg_plan_identifiers(const struct vg_plan *p, const cJSON *event, vg_plan_ident_cb cb, void *ud);

#endif
