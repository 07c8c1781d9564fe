/* Unit tests for firmware/core/contract.c: every row of the input contract v1
 * table and every common-field rule (DESIGN.md §4), as known-answer tables:
 * a valid example per type, then mutations of it and the expected verdict. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
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
	int rc = vg_contract_check(e, &rej);
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
	assert_int_equal(vg_contract_count(), (int)N_VALID);
	for (size_t i = 0; i < N_VALID; i++)
		assert_string_equal(vg_contract_type((int)i), valid[i].type);
	assert_null(vg_contract_type(-1));
	assert_null(vg_contract_type((int)N_VALID));
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
	{ "checkin.scanned", "person", DEL, NULL, NULL, CONTRACT("person") },
	{ "checkin.scanned", "person", "{}", NULL, NULL, CONTRACT("person") },
	{ "checkin.scanned", "person.email", "\"\"", NULL, NULL, CONTRACT("person") },
	{ "checkin.scanned", "person.email", "12345", NULL, NULL, CONTRACT("person") },
	{ "checkin.scanned", "person.email", "null", NULL, NULL, CONTRACT("person") },
	{ "checkin.scanned", "person.email", DEL, "person.name", "\"" SECRET "\"", CONTRACT("person") },
	{ "checkin.scanned", "person.email", DEL, "person.customer_id", "\"MB-1\"", OK_ },
	{ "checkin.scanned", "person.email", DEL, "person.loyalty_id", "\"L-1\"", OK_ },
	{ "checkin.scanned", "person.email", DEL, "person.member_code", "\"M-1\"", OK_ },
	{ "checkin.scanned", "person.email", DEL, "person.phone", "\"+34 612 345 678\"", OK_ },
	{ "checkin.scanned", "person.email", "\"\"", "person.phone", "\"+34 612\"", OK_ },
	{ "checkin.scanned", "person.Email", "\"x@y.z\"", "person.email", DEL, CONTRACT("person") },

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
	  CONTRACT("properties.class_id|resource_id") },
	{ "booking.created", "properties.class_id", DEL, "properties.resource_id", "\"court-3\"", OK_ },
	{ "booking.created", "properties.class_id", DEL, "properties.resource_id", "3",
	  CONTRACT("properties.class_id|resource_id") },
	{ "booking.created", "properties.class_id", "\"\"", "properties.resource_id", "\"court-3\"", OK_ },

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
	  NULL, CONTRACT("consent") },
	{ "consent.updated", "consent", "{\"marketing_email\":1}", NULL, NULL, CONTRACT("consent") },
	{ "consent.updated", "consent", "{\"marketing_sms\":false}", NULL, NULL, OK_ },
	{ "consent.updated", "consent", "{\"source\":\"kiosk-2\",\"x\":false}", NULL, NULL, OK_ },
	{ "consent.updated", "consent", "true", NULL, NULL, BAD("consent") },
	{ "consent.updated", "person", DEL, NULL, NULL, CONTRACT("person") },
	{ "consent.updated", "person.customer_id", "\"\"", NULL, NULL, CONTRACT("person") },
	{ "consent.updated", "person.customer_id", "88121", NULL, NULL, CONTRACT("person") },
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
static void test_properties_size(void **state)
{
	char *s = malloc(VG_PROPERTIES_MAX_BYTES + 1);
	(void)state;
	assert_non_null(s);
	for (size_t n = VG_PROPERTIES_MAX_BYTES - 8; n <= VG_PROPERTIES_MAX_BYTES - 7; n++) {
		memset(s, 'x', n);
		s[n] = '\0';
		cJSON *e = example("device.status");
		cJSON *props = cJSON_AddObjectToObject(e, "properties");
		assert_non_null(props);
		assert_non_null(cJSON_AddStringToObject(props, "p", s));
		char *enc = cJSON_PrintUnformatted(props);
		assert_non_null(enc);
		size_t len = strlen(enc);
		cJSON_free(enc);
		if (n == VG_PROPERTIES_MAX_BYTES - 8) {
			assert_int_equal(len, VG_PROPERTIES_MAX_BYTES);
			expect(e, VG_REJ_NONE, "", "properties of exactly 32768 bytes");
		} else {
			assert_int_equal(len, VG_PROPERTIES_MAX_BYTES + 1);
			expect(e, VG_REJ_BAD_FIELD, "properties", "properties of 32769 bytes");
		}
	}
	free(s);
}

static void test_not_object(void **state)
{
	struct vg_reject rej;
	cJSON *a = cJSON_CreateArray();
	(void)state;
	assert_int_equal(vg_contract_check(NULL, &rej), VG_ERR_INVAL);
	assert_int_equal(rej.reason, VG_REJ_NOT_OBJECT);
	assert_int_equal(vg_contract_check(a, &rej), VG_ERR_INVAL);
	assert_int_equal(rej.reason, VG_REJ_NOT_OBJECT);
	cJSON_Delete(a);
	/* rej may be NULL */
	cJSON *e = example("device.status");
	assert_int_equal(vg_contract_check(e, NULL), VG_OK);
	set_path(e, "type", "\"nope\"");
	assert_int_equal(vg_contract_check(e, NULL), VG_ERR_INVAL);
	cJSON_Delete(e);
}

static void test_priority(void **state)
{
	(void)state;
	for (int i = 0; i < vg_contract_count(); i++) {
		const char *t = vg_contract_type(i);
		enum vg_priority want = strcmp(t, "consent.updated") == 0 ? VG_PRIO_HIGH
		                      : strcmp(t, "device.status") == 0 ? VG_PRIO_LOW
		                      : VG_PRIO_NORMAL;
		assert_int_equal(vg_contract_priority(t), want);
	}
	assert_int_equal(vg_contract_priority("no.such.type"), VG_PRIO_NORMAL);
	assert_int_equal(vg_contract_priority(NULL), VG_PRIO_NORMAL);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
