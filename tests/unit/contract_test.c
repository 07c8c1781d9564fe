/* Unit tests for firmware/core/contract.c, the tracking plan (DESIGN.md §4):
 *  - the package's default plan (packaging/plan/plan.json) still expresses
 *    the input contract v1 table: a valid example per type, then mutations
 *    of it and the expected verdict, and every common-field rule;
 *  - what passes is declared: undeclared members dropped wherever they stand
 *    (keys included), classes applied wherever a field stands, id fields
 *    that look like personal data quarantined;
 *  - plan files: every problem named with its JSON pointer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "pii.h"
#include "err.h"
#include "event.h"

/* A marker put into values; it must never show up in a rejection. */
#define SECRET "Ana.Lopez"

#define OCC "\"occurred_at\":\"2026-11-28T18:03:12.123+01:00\""

/* One valid event per type, in table order. */
static const struct {
	const char *type;
	const char *json;
} valid[] = {
	{ "checkin.scanned",
	  "{\"type\":\"checkin.scanned\"," OCC ",\"person\":{\"email\":\"" SECRET "@example.com\"}}" },
	{ "class.attended",
	  "{\"type\":\"class.attended\"," OCC ",\"properties\":{\"class_id\":\"spin-0900\"}}" },
	{ "booking.created",
	  "{\"type\":\"booking.created\"," OCC
	  ",\"properties\":{\"booking_id\":\"B-1\",\"class_id\":\"spin-0900\"}}" },
	{ "booking.cancelled",
	  "{\"type\":\"booking.cancelled\"," OCC ",\"properties\":{\"booking_id\":\"B-1\"}}" },
	{ "payment.succeeded",
	  "{\"type\":\"payment.succeeded\"," OCC
	  ",\"properties\":{\"amount_minor\":1299,\"currency\":\"EUR\"}}" },
	{ "refund.issued",
	  "{\"type\":\"refund.issued\"," OCC
	  ",\"properties\":{\"amount_minor\":1299,\"currency\":\"EUR\",\"payment_id\":\"P-1\"}}" },
	{ "pos.order.completed",
	  "{\"type\":\"pos.order.completed\"," OCC
	  ",\"properties\":{\"order_id\":\"O-1\",\"total_minor\":4550,\"currency\":\"EUR\"}}" },
	{ "consent.updated",
	  "{\"type\":\"consent.updated\"," OCC
	  ",\"consent\":{\"marketing_email\":true},\"person\":{\"customer_id\":\"MB-88121\"}}" },
	{ "kiosk.session.started", "{\"type\":\"kiosk.session.started\"," OCC "}" },
	{ "device.status", "{\"type\":\"device.status\"}" },
};

#define N_VALID (sizeof(valid) / sizeof(valid[0]))

static struct vg_plan *plan; /* the default plan, loaded by group_setup */

/* Set the value at a dotted path (creating parent objects) to json, or
 * remove it when json is NULL. */
static void set_path(cJSON *root, const char *path, const char *json)
{
	char buf[128];
	char *seg, *dot;
	cJSON *obj = root;

	assert_true(strlen(path) < sizeof(buf));
	strcpy(buf, path);
	seg = buf;
	while ((dot = strchr(seg, '.')) != NULL) {
		*dot = '\0';
		cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, seg);
		if (next == NULL) {
			next = cJSON_AddObjectToObject(obj, seg);
			assert_non_null(next);
		}
		obj = next;
		seg = dot + 1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, seg);
	if (json != NULL) {
		cJSON *v = cJSON_Parse(json);
		assert_non_null(v);
		assert_true(cJSON_AddItemToObject(obj, seg, v));
	}
}

static cJSON *example(const char *type)
{
	for (size_t i = 0; i < N_VALID; i++) {
		if (strcmp(valid[i].type, type) == 0) {
			cJSON *e = cJSON_Parse(valid[i].json);
			assert_non_null(e);
			return e;
		}
	}
	fail_msg("no example for %s", type);
	return NULL;
}

/* Check e and compare the verdict; frees e. */
static void expect(cJSON *e, enum vg_reject_reason reason, const char *field, const char *what)
{
	struct vg_reject rej;
	int rc = vg_plan_check(plan, e, 49, &rej);
	cJSON_Delete(e);
	if (reason == VG_REJ_NONE) {
		if (rc != VG_OK)
			fail_msg("%s: refused: %s field \"%s\" (%s)", what,
			         vg_reject_name(rej.reason), rej.field, rej.detail);
		return;
	}
	if (rc != VG_ERR_INVAL || rej.reason != reason || strcmp(rej.field, field) != 0)
		fail_msg("%s: got rc %d %s field \"%s\", want %s field \"%s\"", what, rc,
		         vg_reject_name(rej.reason), rej.field, vg_reject_name(reason), field);
	assert_true(strlen(rej.detail) > 0);
	assert_null(strstr(rej.detail, SECRET));
	assert_null(strstr(rej.field, SECRET));
	assert_int_equal(rej.offset, -1);
}

static void test_table(void **state)
{
	(void)state;
	assert_int_equal(vg_plan_count(plan), (int)N_VALID);
	for (size_t i = 0; i < N_VALID; i++)
		assert_string_equal(vg_plan_type(plan, (int)i), valid[i].type);
	assert_null(vg_plan_type(plan, -1));
	assert_null(vg_plan_type(plan, (int)N_VALID));
	assert_string_equal(vg_plan_version(plan), "1.0.0");
}

static void test_valid_examples(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_VALID; i++)
		expect(example(valid[i].type), VG_REJ_NONE, "", valid[i].type);
	/* The DESIGN.md example, decoded as the plugin would. */
	static const char ex[] =
		"{\"id\":\"0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7\",\"type\":\"checkin.scanned\","
		"\"occurred_at\":\"2026-11-28T18:03:12.123+01:00\",\"seq\":1842,"
		"\"person\":{\"email\":\" Ana.Lopez@Example.com \",\"phone\":\"+34 612 345 678\","
		"\"customer_id\":\"MB-88121\",\"loyalty_id\":\"L-4410\"},"
		"\"consent\":{\"marketing_email\":true,\"marketing_sms\":false,\"source\":\"kiosk-2\"},"
		"\"properties\":{\"class_id\":\"spin-0900\",\"location\":\"studio-b\"}}";
	cJSON *e = NULL;
	struct vg_reject rej;
	assert_int_equal(vg_event_decode(ex, strlen(ex), &e, &rej), VG_OK);
	expect(e, VG_REJ_NONE, "", "DESIGN.md example");
}

/* A mutation of a type's valid example: up to two (path, json) edits, json
 * NULL meaning "remove". */
struct mutation {
	const char *type;
	const char *path1, *json1;
	const char *path2, *json2;
	enum vg_reject_reason reason;
	const char *field;
};

/* The five alternatives of "a person identifier", as a rejection names them. */
#define PERSON_IDS "person.customer_id|loyalty_id|member_code|email|phone"

#define DEL NULL
#define OK_ VG_REJ_NONE, ""
#define CONTRACT(f) VG_REJ_CONTRACT, f
#define BAD(f) VG_REJ_BAD_FIELD, f

static const struct mutation rows[] = {
	/* occurred_at: required by every row but device.status. */
	{ "checkin.scanned", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "checkin.scanned", "occurred_at", "\"\"", NULL, NULL, CONTRACT("occurred_at") },
	{ "checkin.scanned", "occurred_at", "1795885392", NULL, NULL, BAD("occurred_at") },
	{ "class.attended", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "class.attended", "occurred_at", "true", NULL, NULL, BAD("occurred_at") },
	{ "booking.created", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "booking.created", "occurred_at", "{}", NULL, NULL, BAD("occurred_at") },
	{ "booking.cancelled", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "booking.cancelled", "occurred_at", "null", NULL, NULL, BAD("occurred_at") },
	{ "payment.succeeded", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "payment.succeeded", "occurred_at", "[]", NULL, NULL, BAD("occurred_at") },
	{ "refund.issued", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "refund.issued", "occurred_at", "0", NULL, NULL, BAD("occurred_at") },
	{ "pos.order.completed", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "pos.order.completed", "occurred_at", "1", NULL, NULL, BAD("occurred_at") },
	{ "consent.updated", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "consent.updated", "occurred_at", "1", NULL, NULL, BAD("occurred_at") },
	{ "kiosk.session.started", "occurred_at", DEL, NULL, NULL, CONTRACT("occurred_at") },
	{ "kiosk.session.started", "occurred_at", "1", NULL, NULL, BAD("occurred_at") },
	{ "device.status", "occurred_at", "\"2026-11-28T18:03:12Z\"", NULL, NULL, OK_ },
	{ "device.status", "occurred_at", "1", NULL, NULL, BAD("occurred_at") },

	/* checkin.scanned: one of the person identifiers. */
	{ "checkin.scanned", "person", DEL, NULL, NULL, CONTRACT(PERSON_IDS) },
	{ "checkin.scanned", "person", "{}", NULL, NULL, CONTRACT(PERSON_IDS) },
	{ "checkin.scanned", "person.email", "\"\"", NULL, NULL, CONTRACT("person.email") },
	{ "checkin.scanned", "person.email", "12345", NULL, NULL, CONTRACT("person.email") },
	{ "checkin.scanned", "person.email", "null", NULL, NULL, CONTRACT("person.email") },
	{ "checkin.scanned", "person.email", DEL, "person.name", "\"" SECRET "\"", CONTRACT(PERSON_IDS) },
	{ "checkin.scanned", "person.email", DEL, "person.customer_id", "\"MB-1\"", OK_ },
	{ "checkin.scanned", "person.email", DEL, "person.loyalty_id", "\"L-1\"", OK_ },
	{ "checkin.scanned", "person.email", DEL, "person.member_code", "\"M-1\"", OK_ },
	{ "checkin.scanned", "person.email", DEL, "person.phone", "\"+34 612 345 678\"", OK_ },
	{ "checkin.scanned", "person.email", "\"\"", "person.phone", "\"+34 612\"", CONTRACT("person.email") },
	{ "checkin.scanned", "person.Email", "\"x@y.z\"", "person.email", DEL, CONTRACT(PERSON_IDS) },

	/* class.attended */
	{ "class.attended", "properties.class_id", DEL, NULL, NULL, CONTRACT("properties.class_id") },
	{ "class.attended", "properties.class_id", "900", NULL, NULL, CONTRACT("properties.class_id") },
	{ "class.attended", "properties.class_id", "\"\"", NULL, NULL, CONTRACT("properties.class_id") },
	{ "class.attended", "properties", DEL, NULL, NULL, CONTRACT("properties.class_id") },

	/* booking.created */
	{ "booking.created", "properties.booking_id", DEL, NULL, NULL,
	  CONTRACT("properties.booking_id") },
	{ "booking.created", "properties.booking_id", "17", NULL, NULL,
	  CONTRACT("properties.booking_id") },
	{ "booking.created", "properties.class_id", DEL, NULL, NULL,
	  CONTRACT("properties.class_id|resource_id") },
	{ "booking.created", "properties.class_id", "5", NULL, NULL,
	  CONTRACT("properties.class_id") },
	{ "booking.created", "properties.class_id", DEL, "properties.resource_id", "\"court-3\"", OK_ },
	{ "booking.created", "properties.class_id", DEL, "properties.resource_id", "3",
	  CONTRACT("properties.resource_id") },
	{ "booking.created", "properties.class_id", "\"\"", "properties.resource_id", "\"court-3\"",
	  CONTRACT("properties.class_id") },

	/* booking.cancelled */
	{ "booking.cancelled", "properties.booking_id", DEL, NULL, NULL,
	  CONTRACT("properties.booking_id") },
	{ "booking.cancelled", "properties.booking_id", "42", NULL, NULL,
	  CONTRACT("properties.booking_id") },
	{ "booking.cancelled", "properties", DEL, NULL, NULL, CONTRACT("properties.booking_id") },

	/* payment.succeeded */
	{ "payment.succeeded", "properties.amount_minor", DEL, NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "payment.succeeded", "properties.amount_minor", "\"1299\"", NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "payment.succeeded", "properties.amount_minor", "12.5", NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "payment.succeeded", "properties.amount_minor", "1e16", NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "payment.succeeded", "properties.amount_minor", "-1e16", NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "payment.succeeded", "properties.amount_minor", "1e400", NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "payment.succeeded", "properties.amount_minor", "true", NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "payment.succeeded", "properties.amount_minor", "0", NULL, NULL, OK_ },
	{ "payment.succeeded", "properties.amount_minor", "-500", NULL, NULL, OK_ },
	{ "payment.succeeded", "properties.amount_minor", "1e3", NULL, NULL, OK_ },
	{ "payment.succeeded", "properties.amount_minor", "9007199254740992", NULL, NULL, OK_ },
	{ "payment.succeeded", "properties.amount_minor", "-9007199254740992", NULL, NULL, OK_ },
	{ "payment.succeeded", "properties.currency", DEL, NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "\"eur\"", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "\"EURO\"", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "\"EU\"", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "\"E1R\"", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "\"\"", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "\"" SECRET "\"", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "978", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "payment.succeeded", "properties.currency", "\"GBP\"", NULL, NULL, OK_ },
	{ "payment.succeeded", "properties", DEL, NULL, NULL, CONTRACT("properties.amount_minor") },

	/* refund.issued */
	{ "refund.issued", "properties.amount_minor", DEL, NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "refund.issued", "properties.amount_minor", "1.01", NULL, NULL,
	  CONTRACT("properties.amount_minor") },
	{ "refund.issued", "properties.currency", DEL, NULL, NULL, CONTRACT("properties.currency") },
	{ "refund.issued", "properties.currency", "\"usd\"", NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "refund.issued", "properties.payment_id", DEL, NULL, NULL,
	  CONTRACT("properties.payment_id") },
	{ "refund.issued", "properties.payment_id", "99", NULL, NULL,
	  CONTRACT("properties.payment_id") },
	{ "refund.issued", "properties.payment_id", "\"\"", NULL, NULL,
	  CONTRACT("properties.payment_id") },

	/* pos.order.completed */
	{ "pos.order.completed", "properties.order_id", DEL, NULL, NULL,
	  CONTRACT("properties.order_id") },
	{ "pos.order.completed", "properties.order_id", "1001", NULL, NULL,
	  CONTRACT("properties.order_id") },
	{ "pos.order.completed", "properties.total_minor", DEL, NULL, NULL,
	  CONTRACT("properties.total_minor") },
	{ "pos.order.completed", "properties.total_minor", "45.5", NULL, NULL,
	  CONTRACT("properties.total_minor") },
	{ "pos.order.completed", "properties.total_minor", "\"4550\"", NULL, NULL,
	  CONTRACT("properties.total_minor") },
	{ "pos.order.completed", "properties.currency", DEL, NULL, NULL,
	  CONTRACT("properties.currency") },
	{ "pos.order.completed", "properties.currency", "\"Eur\"", NULL, NULL,
	  CONTRACT("properties.currency") },

	/* consent.updated */
	{ "consent.updated", "consent", DEL, NULL, NULL, CONTRACT("consent") },
	{ "consent.updated", "consent", "{}", NULL, NULL, CONTRACT("consent") },
	{ "consent.updated", "consent", "{\"source\":\"kiosk-2\",\"marketing_email\":\"yes\"}", NULL,
	  NULL, CONTRACT("consent.marketing_email") },
	{ "consent.updated", "consent", "{\"marketing_email\":1}", NULL, NULL,
	  CONTRACT("consent.marketing_email") },
	{ "consent.updated", "consent", "{\"source\":\"kiosk-2\"}", NULL, NULL, CONTRACT("consent") },
	/* A scope name that could carry personal data is not declared: it is
	 * dropped, and the consent then holds no scope. */
	{ "consent.updated", "consent", "{\"ana@example.com\":true}", NULL, NULL, CONTRACT("consent") },
	{ "consent.updated", "consent", "{\"x4111111111111111\":true}", NULL, NULL, CONTRACT("consent") },
	{ "consent.updated", "consent", "{\"tel015112345678\":true,\"sms\":true}", NULL, NULL, OK_ },
	{ "consent.updated", "consent", "{\"marketing_sms\":false}", NULL, NULL, OK_ },
	{ "consent.updated", "consent", "{\"source\":\"kiosk-2\",\"x\":false}", NULL, NULL, OK_ },
	{ "consent.updated", "consent", "true", NULL, NULL, BAD("consent") },
	{ "consent.updated", "person", DEL, NULL, NULL, CONTRACT(PERSON_IDS) },
	{ "consent.updated", "person.customer_id", "\"\"", NULL, NULL, CONTRACT("person.customer_id") },
	{ "consent.updated", "person.customer_id", "88121", NULL, NULL, CONTRACT("person.customer_id") },
	{ "consent.updated", "person.customer_id", DEL, "person.email", "\"a@b.c\"", OK_ },
	{ "consent.updated", "person.customer_id", DEL, "person.member_code", "\"M-1\"", OK_ },

	/* device.status and kiosk.session.started need nothing more. */
	{ "device.status", "properties", "{\"battery\":81}", NULL, NULL, OK_ },
	{ "kiosk.session.started", "properties", "{}", NULL, NULL, OK_ },
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct mutation *m = &rows[i];
		char what[128];
		cJSON *e = example(m->type);
		set_path(e, m->path1, m->json1);
		if (m->path2 != NULL)
			set_path(e, m->path2, m->json2);
		snprintf(what, sizeof(what), "rows[%zu] %s %s", i, m->type, m->path1);
		expect(e, m->reason, m->field, what);
	}
}

/* Common-field rules, applied to every type. */
static const struct mutation common[] = {
	{ "class.attended", "type", DEL, NULL, NULL, BAD("type") },
	{ "class.attended", "type", "5", NULL, NULL, BAD("type") },
	{ "class.attended", "type", "null", NULL, NULL, BAD("type") },
	{ "class.attended", "type", "[\"class.attended\"]", NULL, NULL, BAD("type") },
	{ "class.attended", "type", "\"class.booked\"", NULL, NULL, VG_REJ_UNKNOWN_TYPE, "type" },
	{ "class.attended", "type", "\"Class.Attended\"", NULL, NULL, VG_REJ_UNKNOWN_TYPE, "type" },
	{ "class.attended", "type", "\"\"", NULL, NULL, VG_REJ_UNKNOWN_TYPE, "type" },
	{ "class.attended", "type", "\"" SECRET "\"", NULL, NULL, VG_REJ_UNKNOWN_TYPE, "type" },
	/* The type is checked before the other common fields. */
	{ "class.attended", "type", DEL, "seq", "-1", BAD("type") },

	{ "class.attended", "id", "\"0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7\"", NULL, NULL, OK_ },
	{ "class.attended", "id", "\"x\"", NULL, NULL, OK_ },
	{ "class.attended", "id", "\"\"", NULL, NULL, BAD("id") },
	{ "class.attended", "id", "12", NULL, NULL, BAD("id") },
	{ "class.attended", "id", "null", NULL, NULL, BAD("id") },
	{ "class.attended", "id",
	  "\"0123456789012345678901234567890123456789012345678901234567890123\"", NULL, NULL, OK_ },
	{ "class.attended", "id",
	  "\"01234567890123456789012345678901234567890123456789012345678901234\"", NULL, NULL,
	  BAD("id") },

	{ "class.attended", "seq", "0", NULL, NULL, OK_ },
	{ "class.attended", "seq", "1842", NULL, NULL, OK_ },
	{ "class.attended", "seq", "9007199254740992", NULL, NULL, OK_ },
	{ "class.attended", "seq", "9007199254740994", NULL, NULL, BAD("seq") },
	{ "class.attended", "seq", "-1", NULL, NULL, BAD("seq") },
	{ "class.attended", "seq", "1.5", NULL, NULL, BAD("seq") },
	{ "class.attended", "seq", "\"3\"", NULL, NULL, BAD("seq") },
	{ "class.attended", "seq", "null", NULL, NULL, BAD("seq") },
	{ "class.attended", "seq", "1e400", NULL, NULL, BAD("seq") },

	{ "class.attended", "person", "\"" SECRET "\"", NULL, NULL, BAD("person") },
	{ "class.attended", "person", "[]", NULL, NULL, BAD("person") },
	{ "class.attended", "person", "{}", NULL, NULL, OK_ },
	{ "class.attended", "consent", "[true]", NULL, NULL, BAD("consent") },
	{ "class.attended", "consent", "{}", NULL, NULL, OK_ },
	{ "device.status", "properties", "[]", NULL, NULL, BAD("properties") },
	{ "device.status", "properties", "\"x\"", NULL, NULL, BAD("properties") },
	{ "device.status", "properties", "null", NULL, NULL, BAD("properties") },
	{ "device.status", "person", "7", NULL, NULL, BAD("person") },
	/* Common fields come before the row: a bad seq wins over a missing field. */
	{ "payment.succeeded", "seq", "-3", "properties.currency", DEL, BAD("seq") },
	{ "consent.updated", "properties", "1", "consent", DEL, BAD("properties") },
};

static void test_common(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
		const struct mutation *m = &common[i];
		char what[128];
		cJSON *e = example(m->type);
		set_path(e, m->path1, m->json1);
		if (m->path2 != NULL)
			set_path(e, m->path2, m->json2);
		snprintf(what, sizeof(what), "common[%zu] %s %s", i, m->type, m->path1);
		expect(e, m->reason, m->field, what);
	}
}

/* properties ≤ 32768 bytes as cJSON_PrintUnformatted writes it:
 * {"p":"…"} is 8 bytes plus the string. */
/* device.status with properties {"p": n × 'x', and with extras: a number
 * cJSON prints with many digits, a small one, control characters and a
 * quote ("\u0001" prints 6 bytes, a quote 2), true}; *len: the properties'
 * printed length. */
static cJSON *sized_event(char *s, size_t n, int extras, size_t *len)
{
	memset(s, 'x', n);
	s[n] = '\0';
	cJSON *e = example("device.status");
	cJSON *props = cJSON_AddObjectToObject(e, "properties");
	assert_non_null(props);
	assert_non_null(cJSON_AddStringToObject(props, "p", s));
	if (extras) {
		assert_non_null(cJSON_AddNumberToObject(props, "n", -1.2345678901234567e-300));
		assert_non_null(cJSON_AddNumberToObject(props, "i", 7));
		assert_non_null(cJSON_AddStringToObject(props, "c", "\x01\"\t"));
		assert_non_null(cJSON_AddTrueToObject(props, "t"));
	}
	char *enc = cJSON_PrintUnformatted(props);
	assert_non_null(enc);
	*len = strlen(enc);
	cJSON_free(enc);
	return e;
}

/* The limit is on the printed length: exactly 32768 bytes pass, 32769 do
 * not, with a plain string and with numbers and escapes beside it. */
static void test_properties_size(void **state)
{
	char *s = malloc(VG_PROPERTIES_MAX_BYTES + 1);
	(void)state;
	assert_non_null(s);
	for (int extras = 0; extras < 2; extras++) {
		size_t base;
		cJSON_Delete(sized_event(s, 0, extras, &base)); /* all but the string's n bytes */
		for (size_t over = 0; over < 2; over++) {
			size_t len;
			cJSON *e = sized_event(s, VG_PROPERTIES_MAX_BYTES - base + over, extras, &len);
			assert_int_equal(len, VG_PROPERTIES_MAX_BYTES + over);
			if (over)
				expect(e, VG_REJ_BAD_FIELD, "properties", "properties of 32769 bytes");
			else
				expect(e, VG_REJ_NONE, "", "properties of exactly 32768 bytes");
		}
	}
	free(s);
}

static void test_not_object(void **state)
{
	struct vg_reject rej;
	cJSON *a = cJSON_CreateArray();
	(void)state;
	assert_int_equal(vg_plan_check(plan, NULL, 49, &rej), VG_ERR_INVAL);
	assert_int_equal(rej.reason, VG_REJ_NOT_OBJECT);
	assert_int_equal(vg_plan_check(plan, a, 49, &rej), VG_ERR_INVAL);
	assert_int_equal(rej.reason, VG_REJ_NOT_OBJECT);
	cJSON_Delete(a);
	/* rej may be NULL */
	cJSON *e = example("device.status");
	assert_int_equal(vg_plan_check(plan, e, 49, NULL), VG_OK);
	set_path(e, "type", "\"nope\"");
	assert_int_equal(vg_plan_check(plan, e, 49, NULL), VG_ERR_INVAL);
	cJSON_Delete(e);
}

static void test_priority(void **state)
{
	(void)state;
	for (int i = 0; i < vg_plan_count(plan); i++) {
		const char *t = vg_plan_type(plan, i);
		enum vg_priority want = strcmp(t, "consent.updated") == 0 ? VG_PRIO_HIGH
		                      : strcmp(t, "device.status") == 0 ? VG_PRIO_LOW
		                      : VG_PRIO_NORMAL;
		assert_int_equal(vg_plan_priority(plan, t), want);
	}
	assert_int_equal(vg_plan_priority(plan, "no.such.type"), VG_PRIO_NORMAL);
	assert_int_equal(vg_plan_priority(plan, NULL), VG_PRIO_NORMAL);
}

/* ---- what passes is declared ------------------------------------------- */

struct drops {
	char paths[16][VG_PLAN_PATH_MAX];
	int n;
};

static void on_drop(void *ud, const char *path)
{
	struct drops *d = ud;
	if (d->n < 16)
		snprintf(d->paths[d->n++], VG_PLAN_PATH_MAX, "%s", path);
}

static int dropped(const struct drops *d, const char *path)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->paths[i], path) == 0)
			return 1;
	return 0;
}

static struct vg_key test_key;

/* Apply the default plan to json; returns the printed result (free it). */
static char *apply(const char *json, struct drops *d, struct vg_pii_stats *st)
{
	cJSON *e = cJSON_Parse(json);
	assert_non_null(e);
	struct vg_pii_ctx ctx = { .key = &test_key, .default_cc = 49 };
	vg_pii_policy_default(&ctx.policy);
	memset(d, 0, sizeof *d);
	assert_int_equal(vg_plan_apply(plan, e, &ctx, st, 0, on_drop, d), VG_OK);
	char *out = cJSON_PrintUnformatted(e);
	assert_non_null(out);
	vg_json_wipe_delete(e);
	return out;
}

/* The example: every one of these values reached the CDP raw. */
static void test_undeclared_dropped(void **state)
{
	(void)state;
	static const char ev[] =
		"{\"type\":\"pos.order.completed\"," OCC ",\"properties\":{\"order_id\":\"O-1\","
		"\"total_minor\":4550,\"currency\":\"EUR\",\"phone\":\"+34 612 345 678\","
		"\"ana.lopez@example.com\":true,\"customer_name\":\"Ana Lopez\","
		"\"note\":\"call +49 151 2345678\",\"card\":\"2200 0000 0000 0004\","
		"\"mail\":\"ana@m\xc3\xbcnchen.de\",\"lines\":[{\"sku\":\"water\",\"qty\":2,"
		"\"buyer\":\"Ana Lopez\"}]},\"person\":{\"email\":\"ana.lopez@example.com\","
		"\"nickname\":\"Ana\"},\"extra\":{\"a\":[1,2]}}";
	struct drops d;
	struct vg_pii_stats st = { 0 };
	char *out = apply(ev, &d, &st);
	static const char *const raw[] = { "612 345 678", "612345678", "ana.lopez", "Ana Lopez", "Ana\"",
	                                   "151 2345678", "1512345678", "2200 0000", "2200000000000004",
	                                   "nchen", "nickname", "buyer" };
	for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
		if (strstr(out, raw[i]))
			fail_msg("raw value %s passed: %s", raw[i], out);
	assert_true(dropped(&d, "properties.phone"));
	assert_true(dropped(&d, "properties.~"));          /* the email used as a key */
	assert_true(dropped(&d, "properties.customer_name"));
	assert_true(dropped(&d, "properties.mail"));
	assert_true(dropped(&d, "properties.lines[].buyer"));
	assert_true(dropped(&d, "person.nickname"));
	assert_true(dropped(&d, "extra"));
	assert_int_equal(d.n, 7);
	/* Declared fields keep what they may: the card masked, the phone in the
	 * note and the person's email tokenized, the order id as sent. */
	assert_non_null(strstr(out, "\"card\":\"card-0004:v1.pan."));
	assert_non_null(strstr(out, "\"note\":\"call v1.ph."));
	assert_non_null(strstr(out, "\"email\":\"v1.em."));
	assert_non_null(strstr(out, "\"order_id\":\"O-1\""));
	assert_non_null(strstr(out, "\"sku\":\"water\",\"qty\":2"));
	cJSON_free(out);
}

/* An id (or any id-class field) that looks like personal data is
 * quarantined, and apply never leaves the raw value in the held body. */
static void test_pii_in_identifier(void **state)
{
	(void)state;
	static const struct {
		const char *path, *json, *field;
	} cases[] = {
		{ "id", "\"ana.lopez@example.com\"", "id" },
		{ "id", "\"+4915112345678\"", "id" },
		{ "id", "\"4111 1111 1111 1111\"", "id" },
		{ "properties.order_id", "\"4111111111111111\"", "properties.order_id" },
		{ "properties.order_id", "\"call 0151 2345678\"", "properties.order_id" },
		{ "id", "\"0151 2345678\"", "id" },          /* written like a phone */
		{ "id", "\"00491512345678\"", "id" },        /* an international prefix */
		{ "id", "\"015112345678\"", "id" },          /* a national mobile number */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *e = example("pos.order.completed");
		set_path(e, cases[i].path, cases[i].json);
		char *text = cJSON_PrintUnformatted(e);
		assert_non_null(text);
		expect(e, VG_REJ_PII_IN_IDENTIFIER, cases[i].field, cases[i].json);
		struct drops d;
		struct vg_pii_stats st = { 0 };
		char *out = apply(text, &d, &st);
		char rawv[64];
		snprintf(rawv, sizeof rawv, "%.*s", (int)strlen(cases[i].json) - 2, cases[i].json + 1);
		if (strstr(out, rawv))
			fail_msg("case %zu: raw %s held: %s", i, rawv, out);
		cJSON_free(out);
		cJSON_free(text);
	}
	/* Identifiers that are not personal data pass as sent. */
	static const char *const ok[] = { "\"0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7\"", "\"01JEB7Z9XKQH8W3N5V2M4R6T8Y\"",
	                                  "\"100234\"", "\"ORD-2026-000123\"", "\"ea43b481-6079-4596-86bd-76238811f195\"",
	                                  "\"000000451234\"" /* zero-padded: no trunk 0 then a number */,
	                                  "\"R-015112345678\"" /* glued to a word */ };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		cJSON *e = example("pos.order.completed");
		set_path(e, "id", ok[i]);
		set_path(e, "properties.order_id", ok[i]);
		expect(e, VG_REJ_NONE, "", ok[i]);
	}
}

/* What the plan declares is a name and a type: a declared member of another
 * JSON type fails the check and is not held as it came. */
static void test_declared_type(void **state)
{
	(void)state;
	cJSON *e = example("payment.succeeded");
	set_path(e, "properties.note", "4111111111111111");
	char *text = cJSON_PrintUnformatted(e);
	assert_non_null(text);
	expect(e, VG_REJ_CONTRACT, "properties.note", "a card number as a JSON number in a text field");
	struct drops d;
	struct vg_pii_stats st = { 0 };
	char *out = apply(text, &d, &st);
	assert_null(strstr(out, "4111111111111111"));
	assert_true(dropped(&d, "properties.note"));
	cJSON_free(out);
	cJSON_free(text);

	/* device.status never carries a person: its plan takes common's back. */
	out = apply("{\"type\":\"device.status\",\"person\":{\"email\":\"ana@example.com\"},"
	            "\"consent\":{\"marketing_email\":true},\"properties\":{\"battery\":80}}", &d, &st);
	assert_string_equal(out, "{\"type\":\"device.status\",\"properties\":{\"battery\":80}}");
	assert_true(dropped(&d, "person"));
	assert_true(dropped(&d, "consent"));
	cJSON_free(out);

	/* A consent scope is a key the device chose: one that could carry a
	 * card or a phone number never passes. */
	out = apply("{\"type\":\"consent.updated\",\"consent\":{\"marketing_email\":true,"
	            "\"x4111111111111111\":true,\"tel015112345678\":false}}", &d, &st);
	assert_string_equal(out, "{\"type\":\"consent.updated\",\"consent\":{\"marketing_email\":true}}");
	assert_int_equal(d.n, 2);
	assert_true(dropped(&d, "consent.~"));
	cJSON_free(out);
}

static int count_fields(void *ud, const char *path, const char *types, const char *cls, int required)
{
	char *buf = ud;
	char line[200];
	snprintf(line, sizeof line, "%s %s %s%s;", path, types, cls ? cls : "-", required ? " required" : "");
	strncat(buf, line, 4095 - strlen(buf));
	return 0;
}

static void test_fields(void **state)
{
	(void)state;
	char buf[4096] = "";
	assert_int_equal(vg_plan_fields(plan, "pos.order.completed", count_fields, buf), VG_OK);
	assert_non_null(strstr(buf, "properties.order_id string id required;"));
	assert_non_null(strstr(buf, "properties.lines[].name string text;"));
	assert_non_null(strstr(buf, "properties.card string card;"));
	assert_non_null(strstr(buf, "person.email string email;"));
	assert_non_null(strstr(buf, "consent.* boolean -;"));
	assert_int_equal(vg_plan_fields(plan, "no.such", count_fields, buf), VG_ERR_NOTFOUND);

	/* A member named "" (JSON allows it) is listed as "", never as an
	 * empty path (fuzz_plan); its required mark still holds. */
	static const char odd[] =
		"{\"version\":\"1\",\"events\":{\"a\":{\"type\":\"object\",\"required\":[\"\"],"
		"\"properties\":{\"type\":{\"type\":\"string\"},\"occurred_at\":{\"type\":\"string\"},"
		"\"\":{\"type\":\"object\",\"properties\":{\"\":{\"type\":\"integer\"}}}}}}}";
	struct vg_plan *p = NULL;
	assert_int_equal(vg_plan_parse(&p, odd, strlen(odd), NULL, NULL), VG_OK);
	buf[0] = '\0';
	assert_int_equal(vg_plan_fields(p, "a", count_fields, buf), VG_OK);
	assert_non_null(strstr(buf, ";\"\" object - required;\"\".\"\" integer -;"));
	vg_plan_free(p);
}

/* ---- plan files ----------------------------------------------------------- */

struct problems {
	char text[2048];
	int errors, warnings;
};

static void on_problem(void *ud, int warning, const char *pointer, const char *text)
{
	struct problems *p = ud;
	char line[400];
	snprintf(line, sizeof line, "%s %s: %s\n", warning ? "warning" : "error", pointer, text);
	strncat(p->text, line, sizeof p->text - 1 - strlen(p->text));
	if (warning)
		p->warnings++;
	else
		p->errors++;
}

static void test_plan_problems(void **state)
{
	(void)state;
	static const struct {
		const char *plan, *want;
	} cases[] = {
		{ "{\"events\":{\n\"a.b\":{\"type\":\"object\",}}}", "error /: not valid JSON (near line 2" },
		{ "[]", "error /: a plan is a JSON object" },
		{ "{\"version\":\"1\"}", "error /events: must be an object" },
		{ "{\"events\":{\"a\":{\"properties\":{\"properties\":{\"properties\":{\"x\":{\"type\":\"strng\"}}}}}}}",
		  "error /events/a/properties/properties/properties/x/type: not a JSON Schema type" },
		{ "{\"events\":{\"a\":{\"properties\":{\"p\":{\"x-pii\":\"emial\"}}}}}",
		  "error /events/a/properties/p/x-pii: not a personal-data class" },
		{ "{\"events\":{\"a\":{\"properties\":{\"p\":{\"oneOf\":[]}}}}}",
		  "error /events/a/properties/p/oneOf: keyword not supported" },
		{ "{\"events\":{\"a\":{\"properties\":{\"p\":{\"pattern\":\"(\"}}}}}",
		  "error /events/a/properties/p/pattern: not a regular expression" },
		{ "{\"events\":{\"a/b~c\":{\"x-priority\":\"urgent\"}}}",
		  "error /events/a~1b~0c/x-priority: must be \"high\"" },
		{ "{\"events\":{\"a\":{\"properties\":{\"l\":{\"type\":\"array\"}}}}}",
		  "warning /events/a/properties/l: an array without items" },
		{ "{\"events\":{\"a\":{\"additionalProperties\":true}}}",
		  "warning /events/a/additionalProperties: true lets any member name pass" },
		{ "{\"events\":{\"a\":{}},\"extra\":1}", "error /extra: not a member of a plan" },
		{ "{\"events\":{\"a\":{\"required\":[\"x\"],\"required\":[\"y\",\"z\"]}}}",
		  "error /events/a/required: given twice" },
		{ "{\"events\":{\"a\":{\"properties\":{\"p\":{},\"p\":{}}}}}",
		  "error /events/a/properties/p: declared twice" },
		{ "{\"events\":{\"a\":{\"properties\":{\"properties\":{}}}}}",
		  "error /events/a/properties: the event's \"type\" must be declared" },
		{ "{\"common\":{\"properties\":{\"type\":{\"type\":\"string\"}}},\"events\":{\"a\":{}}}",
		  "warning /events/a/properties: \"occurred_at\" is not declared" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct problems pr = { .text = "" };
		struct vg_plan *p = NULL;
		int rc = vg_plan_parse(&p, cases[i].plan, strlen(cases[i].plan), on_problem, &pr);
		if (!strstr(pr.text, cases[i].want))
			fail_msg("case %zu: want \"%s\" in:\n%s", i, cases[i].want, pr.text);
		assert_int_equal(rc == VG_OK, pr.errors == 0);
		assert_int_equal(p != NULL, pr.errors == 0);
		vg_plan_free(p);
	}
}

/* `pattern` is ECMA-262 as PCRE2 reads it, with its cost bounded: a pattern
 * glibc's regcomp expanded into gigabytes is refused at once as too large,
 * a match that would backtrack for ages counts as no match, and a string
 * too long to scan cheaply is refused before the pattern runs. */
#define NOMATCH "string does not match its pattern"
#define TOO_LONG "string longer than 1024 bytes under a pattern"

/* NULL when value passes pattern, else the rejection's detail. */
static const char *pattern_check(const char *pattern, const char *value)
{
	static char detail[sizeof ((struct vg_reject *)0)->detail];
	char plan_text[400];
	snprintf(plan_text, sizeof plan_text,
	         "{\"events\":{\"a\":{\"properties\":{\"type\":{\"type\":\"string\"},"
	         "\"occurred_at\":{\"type\":\"string\"},\"p\":{\"type\":\"string\",\"x-pii\":\"id\","
	         "\"pattern\":\"%s\"}}}}}", pattern);
	struct problems pr = { .text = "" };
	struct vg_plan *pl = NULL;
	if (vg_plan_parse(&pl, plan_text, strlen(plan_text), on_problem, &pr) != VG_OK)
		fail_msg("%s: %s", pattern, pr.text);
	size_t evsz = strlen(value) + 100;
	char *ev = malloc(evsz);
	assert_non_null(ev);
	snprintf(ev, evsz, "{\"type\":\"a\",\"occurred_at\":\"2026-12-05T10:00:00Z\",\"p\":\"%s\"}", value);
	cJSON *e = cJSON_Parse(ev);
	free(ev);
	assert_non_null(e);
	struct vg_reject rej;
	int rc = vg_plan_check(pl, e, 49, &rej);
	cJSON_Delete(e);
	vg_plan_free(pl);
	if (rc == VG_OK)
		return NULL;
	assert_int_equal(rej.reason, VG_REJ_CONTRACT);
	assert_string_equal(rej.field, "p");
	snprintf(detail, sizeof detail, "%s", rej.detail);
	return detail;
}

static void test_patterns(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *value, *want;
	} cases[] = {
		{ "^[A-Z]{3}$", "EUR", NULL },
		{ "^[A-Z]{3}$", "EURO", NOMATCH },
		{ "^[A-Z]{3}$", "EUR\\n", NOMATCH },           /* $ is the end, not a newline before it */
		{ "^\\\\d{4}-\\\\w+\\\\s?$", "2026-ab_1", NULL },
		{ "^[\\\\d-]+$", "12-34", NULL },              /* \d inside a class */
		{ "^(?=.*[A-Z])[A-Z0-9]{6,12}$", "AB1234", NULL }, /* lookahead */
		{ "^(?=.*[A-Z])[A-Z0-9]{6,12}$", "123456", NOMATCH },
		{ "^.{2}$", "\\u00e9\\u00e9", NULL },              /* code points, not bytes */
		{ "^\\\\u00e9+$", "\\u00e9\\u00e9", NULL },          /* \uXXXX */
		{ "^.+$", "ab", NULL },                        /* . and ECMA's line terminators */
		{ "^.+$", "a\\r", NOMATCH },
		{ "^.+$", "a\\u2028", NOMATCH },
		{ "x{1,32767}", "xx", NULL },                  /* one opcode, not 32 767 copies */
		/* Catastrophic backtracking: no match either way, but it ends. */
		{ "^(a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", NOMATCH },
		/* A match PCRE2 finds only after some 2^18 steps, within its
		 * default limit (10^7) but past ours: no match. */
		{ "^(?:(a+)+d|a+e)", "aaaaaaaaaaaaaaaaaae", NOMATCH },
		{ "^(?:(a+)+d|a+e)", "aaaaae", NULL },
		{ "^(a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = pattern_check(cases[i].pattern, cases[i].value);
		if (got != cases[i].want && (!got || !cases[i].want || strcmp(got, cases[i].want) != 0))
			fail_msg("case %zu: /%s/ on \"%s\": got %s, want %s", i, cases[i].pattern, cases[i].value,
			         got ? got : "a pass", cases[i].want ? cases[i].want : "a pass");
	}

	/* Scanning is not counted as backtracking steps: an unanchored pattern
	 * rescans from every position, seconds for a 64 KiB string.  Up to
	 * 1024 bytes are matched; a longer string is refused unscanned. */
	char *zeros = malloc(1100);
	assert_non_null(zeros);
	memset(zeros, '0', 1025);
	zeros[1025] = '\0';
	assert_string_equal(pattern_check("(?=.*[A-Z])[A-Z0-9]{6,12}", zeros), TOO_LONG);
	zeros[1024] = '\0';
	assert_string_equal(pattern_check("(?=.*[A-Z])[A-Z0-9]{6,12}", zeros), NOMATCH);
	assert_null(pattern_check("^0+$", zeros));
	free(zeros);

	/* Refused when the plan is read, with why.  glibc's regcomp expanded
	 * (a?){N} into memory growing as N squared (8 GB, 27 s for N = 32 767). */
	static const char *const refused[] = { "^x{1,8}(a?){32767}$", "((a?){200}){200}", "(?<n>a)(?P=m)", "[z-a]" };
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char plan_text[200];
		snprintf(plan_text, sizeof plan_text, "{\"events\":{\"a\":{\"properties\":{\"p\":{\"pattern\":\"%s\"}}}}}",
		         refused[i]);
		struct problems pr = { .text = "" };
		struct vg_plan *pl = NULL;
		assert_int_equal(vg_plan_parse(&pl, plan_text, strlen(plan_text), on_problem, &pr), VG_ERR_CONFIG);
		assert_null(pl);
		if (!strstr(pr.text, "error /events/a/properties/p/pattern: not a regular expression this gateway can use"))
			fail_msg("%s: %s", refused[i], pr.text);
		char err[200];
		assert_int_equal(vg_plan_pattern_ok(refused[i], err, sizeof err), 0);
		assert_true(strlen(err) > 0);
	}
	/* The plan's patterns together: 50 of 50 KB each pass 2 MiB. */
	size_t cap = 1 << 16, len = 0;
	char *big = malloc(cap);
	assert_non_null(big);
	len += (size_t)snprintf(big + len, cap - len, "{\"events\":{\"a\":{\"properties\":{");
	for (int i = 0; i < 50; i++)
		len += (size_t)snprintf(big + len, cap - len, "%s\"p%d\":{\"pattern\":\"(?:ab?){5000}\"}", i ? "," : "", i);
	len += (size_t)snprintf(big + len, cap - len, "}}}}");
	assert_true(len < cap);
	struct problems pr = { .text = "" };
	struct vg_plan *pl = NULL;
	assert_int_equal(vg_plan_parse(&pl, big, len, on_problem, &pr), VG_ERR_CONFIG);
	assert_null(pl);
	assert_non_null(strstr(pr.text, "/pattern: the plan's patterns compile to more than 2 MiB together"));

	/* common's properties count once in every type: 2 500 values in common
	 * and 100 types pass 200 000. */
	len = (size_t)snprintf(big, cap, "{\"common\":{\"properties\":{\"type\":{\"type\":\"string\"},"
	                               "\"occurred_at\":{\"type\":\"string\"},\"e\":{\"enum\":[");
	for (int i = 0; i < 2500; i++)
		len += (size_t)snprintf(big + len, cap - len, "%s%d", i ? "," : "", i);
	len += (size_t)snprintf(big + len, cap - len, "]}}},\"events\":{");
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(big + len, cap - len, "%s\"t%d\":{}", i ? "," : "", i);
	len += (size_t)snprintf(big + len, cap - len, "}}");
	assert_true(len < cap);
	pr = (struct problems){ .text = "" };
	assert_int_equal(vg_plan_parse(&pl, big, len, on_problem, &pr), VG_ERR_CONFIG);
	assert_null(pl);
	assert_non_null(strstr(pr.text, "the plan is too large: with common's properties copied into each type"));
	assert_int_equal(pr.errors, 1); /* said once */
	/* 50 types of the same pass. */
	len = (size_t)(strstr(big, "\"t50\"") - big) - 1;
	len += (size_t)snprintf(big + len, cap - len, "}}");
	pr = (struct problems){ .text = "" };
	assert_int_equal(vg_plan_parse(&pl, big, len, on_problem, &pr), VG_OK);
	assert_int_equal(vg_plan_count(pl), 50);
	vg_plan_free(pl);
	free(big);

	/* And its bytes: one 100 KB string in common and 100 types pass 8 MiB
	 * of names and strings (80 do not). */
	for (int types = 80; types <= 100; types += 20) {
		cap = 120000;
		big = malloc(cap);
		assert_non_null(big);
		len = (size_t)snprintf(big, cap, "{\"common\":{\"properties\":{\"type\":{\"type\":\"string\"},"
		                                 "\"occurred_at\":{\"type\":\"string\"},\"e\":{\"const\":\"");
		memset(big + len, 'x', 100000);
		len += 100000;
		len += (size_t)snprintf(big + len, cap - len, "\"}}},\"events\":{");
		for (int i = 0; i < types; i++)
			len += (size_t)snprintf(big + len, cap - len, "%s\"t%d\":{}", i ? "," : "", i);
		len += (size_t)snprintf(big + len, cap - len, "}}");
		assert_true(len < cap);
		pr = (struct problems){ .text = "" };
		int rc = vg_plan_parse(&pl, big, len, on_problem, &pr);
		if (types == 80) {
			assert_int_equal(rc, VG_OK);
			vg_plan_free(pl);
		} else {
			assert_int_equal(rc, VG_ERR_CONFIG);
			assert_non_null(strstr(pr.text, "or 8 MiB of names and strings"));
			assert_int_equal(pr.errors, 1);
		}
		free(big);
	}

	/* A long pattern is refused before it compiles: common's is compiled
	 * again in every type. */
	char *longpat = malloc(4200);
	assert_non_null(longpat);
	memset(longpat, 'a', 4097);
	longpat[4097] = '\0';
	char err[200];
	assert_int_equal(vg_plan_pattern_ok(longpat, err, sizeof err), 0);
	assert_non_null(strstr(err, "longer than the limit"));
	longpat[4096] = '\0';
	assert_int_equal(vg_plan_pattern_ok(longpat, err, sizeof err), 1);
	free(longpat);

	assert_int_equal(vg_plan_pattern_ok("(a?){32767}", err, sizeof err), 0);
	assert_non_null(strstr(err, "too large"));
	assert_int_equal(vg_plan_pattern_ok("^[A-Za-z0-9_]{1,64}$", err, sizeof err), 1);
}

/* The paths a rejection and a drop name: element indexes in a rejection,
 * "[]" in a drop, "~" for a key that might carry personal data, and a path
 * too long for VG_PLAN_PATH_MAX cut with one "…". */
#define A40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B40 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
static void test_paths(void **state)
{
	(void)state;
	static const char text[] =
		"{\"events\":{\"t\":{\"properties\":{\"type\":{\"type\":\"string\"},"
		"\"occurred_at\":{\"type\":\"string\"},\"l\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"
		"\"scopes\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"boolean\"}},"
		"\"" A40 "\":{\"type\":\"object\",\"properties\":{\"" B40 "\":{\"type\":\"object\",\"properties\":"
		"{\"list\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"},"
		"\"nn\":{\"type\":\"integer\"}}}}}}}}}}}}";
	struct problems pr = { .text = "" };
	struct vg_plan *p = NULL;
	if (vg_plan_parse(&p, text, sizeof text - 1, on_problem, &pr) != VG_OK)
		fail_msg("%s", pr.text);
	static const struct {
		const char *json, *field;
	} cases[] = {
		{ "{\"type\":\"t\",\"l\":[1,2,\"x\"]}", "l[2]" },
		{ "{\"type\":\"t\",\"scopes\":{\"ana.lopez@example.com\":\"x\",\"sms\":\"x\"}}", "scopes.sms" },
		{ "{\"type\":\"t\",\"" A40 "\":{\"" B40 "\":{\"list\":[{\"n\":1},{\"n\":\"x\"}]}}}",
		  A40 "." B40 ".list[1].n" },
		{ "{\"type\":\"t\",\"" A40 "\":{\"" B40 "\":{\"list\":[{\"n\":1},{\"nn\":\"x\"}]}}}",
		  A40 "." B40 ".list[1]\xe2\x80\xa6" },
		{ "{\"type\":\"t\",\"" A40 "\":{\"" B40 "\":{\"list\":[{},{},{},{},{},{},{},{},{},{},{\"n\":\"x\"}]}}}",
		  A40 "." B40 ".list[10]\xe2\x80\xa6" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *e = cJSON_Parse(cases[i].json);
		assert_non_null(e);
		struct vg_reject rej;
		assert_int_equal(vg_plan_check(p, e, 49, &rej), VG_ERR_INVAL);
		cJSON_Delete(e);
		if (strcmp(rej.field, cases[i].field) != 0)
			fail_msg("case %zu: field \"%s\", want \"%s\"", i, rej.field, cases[i].field);
	}
	cJSON *e = cJSON_Parse("{\"type\":\"t\",\"scopes\":{\"ana.lopez@example.com\":true,\"sms\":true},"
	                       "\"" A40 "\":{\"" B40 "\":{\"list\":[{\"n\":1,\"x\":2},{\"nn\":3,\"yy\":4}]}}}");
	assert_non_null(e);
	struct vg_pii_ctx ctx = { .key = &test_key, .default_cc = 49 };
	vg_pii_policy_default(&ctx.policy);
	struct drops d = { .n = 0 };
	assert_int_equal(vg_plan_apply(p, e, &ctx, NULL, 0, on_drop, &d), VG_OK);
	vg_json_wipe_delete(e);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.paths[0], "scopes.~");
	assert_string_equal(d.paths[1], A40 "." B40 ".list[].x");
	assert_string_equal(d.paths[2], A40 "." B40 ".list[].yy");
	vg_plan_free(p);
}

/* The plan the package ships parses without a single warning. */
static void test_default_plan_is_clean(void **state)
{
	(void)state;
	FILE *f = fopen(VG_DEFAULT_PLAN, "rb");
	assert_non_null(f);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof text, f);
	fclose(f);
	struct problems pr = { .text = "" };
	struct vg_plan *p = NULL;
	assert_int_equal(vg_plan_parse(&p, text, n, on_problem, &pr), VG_OK);
	if (pr.errors || pr.warnings)
		fail_msg("%s", pr.text);
	vg_plan_free(p);
}

static int group_setup(void **state)
{
	(void)state;
	char err[512];
	if (vg_plan_load(&plan, VG_DEFAULT_PLAN, err, sizeof err) != VG_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	test_key.version = 1;
	for (int i = 0; i < 32; i++)
		test_key.bytes[i] = (uint8_t)i;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	vg_plan_free(plan);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_valid_examples),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_common),
		cmocka_unit_test(test_properties_size),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_undeclared_dropped),
		cmocka_unit_test(test_pii_in_identifier),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_declared_type),
		cmocka_unit_test(test_plan_problems),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_default_plan_is_clean),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
