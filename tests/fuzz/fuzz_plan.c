/* venuegw — fuzz target: the tracking plan parser (contract.c: vg_plan_parse)
 * and, for a plan that parses, its checks and rewrite of one fixed event.
 *
 * Input: the text of a plan file.
 *
 * Invariants (contract.h):
 *  - vg_plan_parse returns VG_OK or VG_ERR_CONFIG (or VG_ERR_NOMEM); errors
 *    come with a JSON pointer starting with '/' and a text; a plan is
 *    returned exactly when no error was reported;
 *  - a parsed plan answers count/type/priority consistently, lists each
 *    type's fields (paths non-empty), and checks and applies a sample event
 *    of each type without crashing; apply leaves a valid JSON object.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "contract.h"
#include "err.h"
#include "fuzz.h"

struct seen {
	int errors, warnings;
};

static void on_problem(void *ud, int warning, const char *pointer, const char *text)
{
	struct seen *s = ud;
	FUZZ_CHECK(pointer != NULL && pointer[0] == '/');
	FUZZ_CHECK(text != NULL && text[0] != '\0');
	if (warning)
		s->warnings++;
	else
		s->errors++;
}

static int on_field(void *ud, const char *path, const char *types, const char *cls, int required)
{
	(void)ud;
	(void)cls;
	(void)required;
	FUZZ_CHECK(path != NULL && path[0] != '\0');
	FUZZ_CHECK(types != NULL && types[0] != '\0');
	return 0;
}

static void on_drop(void *ud, const char *path)
{
	(void)ud;
	FUZZ_CHECK(path != NULL && strlen(path) < VG_PLAN_PATH_MAX);
}

static const char sample[] =
	"{\"id\":\"e-1\",\"occurred_at\":\"2026-11-28T18:03:12Z\",\"seq\":3,"
	"\"person\":{\"email\":\"ana@example.com\",\"name\":\"Ana\"},\"consent\":{\"a\":true},"
	"\"properties\":{\"note\":\"call +49 151 2345678\",\"n\":4111111111111111,"
	"\"lines\":[{\"sku\":\"x\",\"q\":1}],\"ana@example.com\":true}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen seen = { 0 };
	struct vg_plan *p = NULL;
	int rc = vg_plan_parse(&p, (const char *)data, size, on_problem, &seen);
	FUZZ_CHECK(rc == VG_OK || rc == VG_ERR_CONFIG || rc == VG_ERR_NOMEM);
	FUZZ_CHECK((rc == VG_OK) == (p != NULL));
	if (rc == VG_OK)
		FUZZ_CHECK(seen.errors == 0);
	if (rc == VG_ERR_CONFIG)
		FUZZ_CHECK(seen.errors > 0);
	if (!p)
		return 0;

	struct vg_key key = { .version = 1 };
	struct vg_pii_ctx ctx = { .key = &key, .default_cc = 49 };
	vg_pii_policy_default(&ctx.policy);
	for (int i = 0; i < vg_plan_count(p); i++) {
		const char *type = vg_plan_type(p, i);
		FUZZ_CHECK(type != NULL && vg_plan_has(p, type));
		enum vg_priority prio = vg_plan_priority(p, type);
		FUZZ_CHECK(prio >= VG_PRIO_HIGH && prio <= VG_PRIO_LOW);
		FUZZ_CHECK(vg_plan_fields(p, type, on_field, NULL) == VG_OK);

		cJSON *ev = cJSON_Parse(sample);
		FUZZ_CHECK(ev != NULL);
		cJSON_AddStringToObject(ev, "type", type);
		struct vg_reject rej;
		int crc = vg_plan_check(p, ev, 49, &rej);
		FUZZ_CHECK(crc == VG_OK || crc == VG_ERR_INVAL || crc == VG_ERR_NOMEM);
		if (crc == VG_ERR_INVAL)
			FUZZ_CHECK(strlen(rej.detail) > 0 && rej.reason != VG_REJ_NONE);
		struct vg_pii_stats st = { 0 };
		int arc = vg_plan_apply(p, ev, &ctx, &st, 0, on_drop, NULL);
		FUZZ_CHECK(arc == VG_OK || arc == VG_ERR_NOMEM);
		FUZZ_CHECK(cJSON_IsObject(ev));
		/* (What passes depends on the plan: a fuzzed plan may declare the
		 * sample's email as an identifier to keep, so no leak check here;
		 * tests/integration/test_hostile.py does that with the real plan.) */
		char *text = cJSON_PrintUnformatted(ev);
		if (text) {
			cJSON *again = cJSON_Parse(text);
			FUZZ_CHECK(cJSON_IsObject(again));
			cJSON_Delete(again);
			cJSON_free(text);
		}
		vg_json_wipe_delete(ev);
	}
	FUZZ_CHECK(vg_plan_type(p, vg_plan_count(p)) == NULL);
	vg_plan_free(p);
	return 0;
}
