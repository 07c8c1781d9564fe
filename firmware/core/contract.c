/* venuegw — the input contract v1 (DESIGN.md §4).
 *
 * One table, `contracts`, lists every event type with its priority and the
 * fields it requires; one function, `check_row`, walks a row.  Adding a type
 * is adding one entry.  The common-field rules (type, id, seq, person,
 * consent, properties, occurred_at) apply to every type and are checked
 * first, by `check_common`.
 *
 * Decisions where §4 leaves room (documented for device makers):
 *  - ids (booking_id, order_id, payment_id, class_id, resource_id) and person
 *    identifiers are non-empty JSON strings; numbers are refused.
 *  - integers (amount_minor, total_minor) are JSON numbers without a
 *    fractional part within ±2^53; 1e3 is 1000 and accepted; negatives are
 *    accepted (the contract does not fix a sign).
 *  - "a boolean scope" is any member of `consent` whose value is true/false.
 *  - device.status requires nothing; a person on it is not refused here (the
 *    scrubber decides what is forwarded).
 * Detail texts are fixed strings: input values never reach them.
 */
#include "contract.h"

#include <stdint.h>
#include <string.h>

#include "digest.h"
#include "err.h"

/* What a required field must be. */
enum need_kind {
	NEED_STRING,   /* a non-empty string */
	NEED_INTEGER,  /* a number with no fractional part, |n| ≤ 2^53 */
	NEED_CURRENCY, /* exactly 3 upper-case ASCII letters (ISO 4217) */
	NEED_SCOPES,   /* an object with at least one boolean member */
};

/* A required field: a dotted path from the event's top level, or several
 * alternative paths separated by '|' (at least one must satisfy kind).
 * field names it in rejections when paths has alternatives. */
struct need {
	const char *paths;
	enum need_kind kind;
	const char *field;
};

#define MAX_NEEDS 4

struct contract {
	const char *type;
	enum vg_priority prio;
	struct need needs[MAX_NEEDS]; /* ends at the first NULL paths */
};

/* The person identifiers: one of them identifies the person. */
#define PERSON_ID \
	{ "person.customer_id|person.loyalty_id|person.member_code|person.email|person.phone", \
	  NEED_STRING, "person" }
#define OCCURRED_AT { "occurred_at", NEED_STRING, NULL }

static const struct contract contracts[] = {
	{ "checkin.scanned", VG_PRIO_NORMAL, {
		OCCURRED_AT,
		PERSON_ID,
	} },
	{ "class.attended", VG_PRIO_NORMAL, {
		OCCURRED_AT,
		{ "properties.class_id", NEED_STRING, NULL },
	} },
	{ "booking.created", VG_PRIO_NORMAL, {
		OCCURRED_AT,
		{ "properties.booking_id", NEED_STRING, NULL },
		{ "properties.class_id|properties.resource_id", NEED_STRING,
		  "properties.class_id|resource_id" },
	} },
	{ "booking.cancelled", VG_PRIO_NORMAL, {
		OCCURRED_AT,
		{ "properties.booking_id", NEED_STRING, NULL },
	} },
	{ "payment.succeeded", VG_PRIO_NORMAL, {
		OCCURRED_AT,
		{ "properties.amount_minor", NEED_INTEGER, NULL },
		{ "properties.currency", NEED_CURRENCY, NULL },
	} },
	{ "refund.issued", VG_PRIO_NORMAL, {
		OCCURRED_AT,
		{ "properties.amount_minor", NEED_INTEGER, NULL },
		{ "properties.currency", NEED_CURRENCY, NULL },
		{ "properties.payment_id", NEED_STRING, NULL },
	} },
	{ "pos.order.completed", VG_PRIO_NORMAL, {
		OCCURRED_AT,
		{ "properties.order_id", NEED_STRING, NULL },
		{ "properties.total_minor", NEED_INTEGER, NULL },
		{ "properties.currency", NEED_CURRENCY, NULL },
	} },
	{ "consent.updated", VG_PRIO_HIGH, {
		OCCURRED_AT,
		{ "consent", NEED_SCOPES, NULL },
		PERSON_ID,
	} },
	{ "kiosk.session.started", VG_PRIO_NORMAL, {
		OCCURRED_AT,
	} },
	{ "device.status", VG_PRIO_LOW, { { NULL, NEED_STRING, NULL } } },
};

#define N_CONTRACTS ((int)(sizeof(contracts) / sizeof(contracts[0])))

/* What each kind expects, as said in rejections. */
static const char *const need_text[] = {
	[NEED_STRING] = "required non-empty string",
	[NEED_INTEGER] = "required integer (no fraction, within +-2^53)",
	[NEED_CURRENCY] = "required 3 upper-case letters (ISO 4217)",
	[NEED_SCOPES] = "required object with at least one boolean scope",
};

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

int vg_contract_count(void)
{
	return N_CONTRACTS;
}

const char *vg_contract_type(int i)
{
	return i >= 0 && i < N_CONTRACTS ? contracts[i].type : NULL;
}

static const struct contract *find(const char *type)
{
	if (type == NULL)
		return NULL;
	for (int i = 0; i < N_CONTRACTS; i++) {
		if (strcmp(contracts[i].type, type) == 0)
			return &contracts[i];
	}
	return NULL;
}

enum vg_priority vg_contract_priority(const char *type)
{
	const struct contract *c = find(type);
	return c != NULL ? c->prio : VG_PRIO_NORMAL;
}

/* Copy s (at most n bytes of it) into a fixed array, truncating. */
static void copy(char *dst, size_t dstsz, const char *s, size_t n)
{
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Fill rej (which may be NULL).  detail must be a fixed string. */
static int reject(struct vg_reject *rej, enum vg_reject_reason reason, const char *field,
                  const char *detail)
{
	if (rej != NULL) {
		rej->reason = reason;
		rej->offset = -1;
		copy(rej->field, sizeof(rej->field), field, strlen(field));
		copy(rej->detail, sizeof(rej->detail), detail, strlen(detail));
	}
	return VG_ERR_INVAL;
}

/* The item at the dotted path p[0..n) under obj, or NULL. */
static const cJSON *lookup(const cJSON *obj, const char *p, size_t n)
{
	char name[64];
	while (n > 0) {
		const char *dot = memchr(p, '.', n);
		size_t k = dot != NULL ? (size_t)(dot - p) : n;
		if (!cJSON_IsObject(obj) || k >= sizeof(name))
			return NULL;
		memcpy(name, p, k);
		name[k] = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, name);
		if (obj == NULL)
			return NULL;
		p += k;
		n -= k;
		if (dot != NULL) {
			p++;
			n--;
		}
	}
	return obj;
}

static int is_integer(const cJSON *v, double min)
{
	/* The range check comes first: it also refuses NaN and infinities, and
	 * makes the conversion to int64_t defined. */
	return cJSON_IsNumber(v) && v->valuedouble >= min && v->valuedouble <= MAX_SAFE_INT
	    && (double)(int64_t)v->valuedouble == v->valuedouble;
}

/* Whether v is what kind asks for. */
static int satisfies(const cJSON *v, enum need_kind kind)
{
	switch (kind) {
	case NEED_STRING:
		return cJSON_IsString(v) && v->valuestring != NULL && v->valuestring[0] != '\0';
	case NEED_INTEGER:
		return is_integer(v, -MAX_SAFE_INT);
	case NEED_CURRENCY: {
		if (!cJSON_IsString(v) || v->valuestring == NULL)
			return 0;
		const char *s = v->valuestring;
		for (int i = 0; i < 3; i++) {
			if (s[i] < 'A' || s[i] > 'Z')
				return 0;
		}
		return s[3] == '\0';
	}
	case NEED_SCOPES: {
		const cJSON *m;
		if (!cJSON_IsObject(v))
			return 0;
		cJSON_ArrayForEach(m, v) {
			if (cJSON_IsBool(m))
				return 1;
		}
		return 0;
	}
	}
	return 0;
}

/* Walk one row of the table: every need must be met by one of its paths. */
static int check_row(const cJSON *event, const struct contract *c, struct vg_reject *rej)
{
	for (int i = 0; i < MAX_NEEDS && c->needs[i].paths != NULL; i++) {
		const struct need *nd = &c->needs[i];
		const char *p = nd->paths;
		int met = 0;
		while (!met) {
			const char *bar = strchr(p, '|');
			size_t n = bar != NULL ? (size_t)(bar - p) : strlen(p);
			met = satisfies(lookup(event, p, n), nd->kind);
			if (bar == NULL)
				break;
			p = bar + 1;
		}
		if (!met) {
			const char *field = nd->field != NULL ? nd->field : nd->paths;
			const char *text = nd->field != NULL && nd->kind == NEED_STRING
			                 ? "required: one of these as a non-empty string"
			                 : need_text[nd->kind];
			return reject(rej, VG_REJ_CONTRACT, field, text);
		}
	}
	return VG_OK;
}

/* The rules for the fields every type shares. */
static int check_common(const cJSON *event, struct vg_reject *rej)
{
	static const char *const objects[] = { "person", "consent", "properties" };
	const cJSON *v;

	v = cJSON_GetObjectItemCaseSensitive(event, "id");
	if (v != NULL) {
		size_t n = cJSON_IsString(v) && v->valuestring != NULL ? strlen(v->valuestring) : 0;
		if (n < 1 || n > VG_EVENT_ID_MAX)
			return reject(rej, VG_REJ_BAD_FIELD, "id", "string of 1 to 64 bytes");
	}
	v = cJSON_GetObjectItemCaseSensitive(event, "seq");
	if (v != NULL && !is_integer(v, 0))
		return reject(rej, VG_REJ_BAD_FIELD, "seq", "integer from 0 to 2^53");
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		v = cJSON_GetObjectItemCaseSensitive(event, objects[i]);
		if (v != NULL && !cJSON_IsObject(v))
			return reject(rej, VG_REJ_BAD_FIELD, objects[i], "object");
	}
	v = cJSON_GetObjectItemCaseSensitive(event, "properties");
	if (v != NULL) {
		char *enc = cJSON_PrintUnformatted(v);
		size_t n;
		if (enc == NULL) {
			/* Out of memory costs this event only. */
			reject(rej, VG_REJ_NONE, "properties", "out of memory");
			return VG_ERR_NOMEM;
		}
		n = strlen(enc);
		vg_wipe(enc, n); /* may hold personal data */
		cJSON_free(enc);
		if (n > VG_PROPERTIES_MAX_BYTES)
			return reject(rej, VG_REJ_BAD_FIELD, "properties",
			              "object of at most 32768 bytes encoded");
	}
	v = cJSON_GetObjectItemCaseSensitive(event, "occurred_at");
	if (v != NULL && !cJSON_IsString(v))
		return reject(rej, VG_REJ_BAD_FIELD, "occurred_at", "string (ISO 8601 with offset)");
	return VG_OK;
}

int vg_contract_check(const cJSON *event, struct vg_reject *rej)
{
	const struct contract *c;
	const cJSON *type;
	int rc;

	if (rej != NULL) {
		reject(rej, VG_REJ_NONE, "", "");
	}
	if (!cJSON_IsObject(event))
		return reject(rej, VG_REJ_NOT_OBJECT, "", "top level is not a JSON object");
	type = cJSON_GetObjectItemCaseSensitive(event, "type");
	if (!cJSON_IsString(type) || type->valuestring == NULL)
		return reject(rej, VG_REJ_BAD_FIELD, "type", "required string");
	c = find(type->valuestring);
	if (c == NULL)
		return reject(rej, VG_REJ_UNKNOWN_TYPE, "type", "not a type of input contract v1");
	rc = check_common(event, rej);
	if (rc != VG_OK)
		return rc;
	return check_row(event, c, rej);
}
