/* venuegw — fuzz target: the whole ingest pipeline (vg_ingest: decode →
 * contract → time → personal-data scrub → print), as the capture plugin and
 * `venuegw validate` run it on untrusted device payloads.
 *
 * Input: one configuration byte, then the payload.
 *   byte 0, bits: cc = {49, 39, 1, 44, 0}[b % 5] (default calling code)
 *                 0x08 has_timezone, 0x10 clock_synced,
 *                 (b >> 5) & 3 policy: 0 drop all, 1 §5 defaults,
 *                                      2 sha256 all, 3 keep all;
 *                 [contracts] unknown = quarantine when b % 5 == 4 and b & 0x80.
 *   The tracking plan is the package's default (packaging/plan/plan.json).
 *   Seeds start with '2' (0x32: DE, no time zone, synced, defaults) unless
 *   they exercise another setting.
 *
 * Invariants (each one follows from ingest.h, pii.h and DESIGN.md §4–§5):
 *  - vg_ingest returns VG_OK (a key is given) or VG_ERR_NOMEM;
 *  - every reason has a name; a quarantine's digest is 22 base64url
 *    characters, an accepted event has none;
 *  - input that does not decode: quarantined, no body, no event key;
 *  - input that decodes: a 22-character event key and a body that is valid
 *    JSON — and that vg_event_decode accepts again when it fits 64 KiB;
 *  - accepted: a type of the plan, rej.reason none, the clock flag matches,
 *    occurred_at in the body is still a date-time vg_time_parse reads (with
 *    an offset unless timestamp_assumed_tz);
 *  - every body: person holds only the six identifiers, each in the form
 *    its policy gives (token, sha256 hex, normalized) or absent (drop);
 *    no string value outside person holds a card number (13–19 digits in
 *    groups joined by single spaces or dashes, Luhn, not glued to an
 *    identifier: pii.h's boundary rule) — nor does a kept system identifier,
 *    which is scanned as free text too;
 *  - the forwarder's two encoders agree: on every stored body, and on the
 *    raw payload read as a body, vg_encode_text either leaves it to the
 *    tree or gives vg_encode_fragment's bytes (and vg_message_identity
 *    reads the message's userId or anonymousId as cJSON does); it takes every stored body
 *    of an accepted event whose numbers are integers of up to 15 digits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "contract.h"
#include "encode.h"
#include "err.h"
#include "event.h"
#include "fuzz.h"
#include "ingest.h"
#include "keys.h"
#include "pii.h"

#define NOW_MS INT64_C(1795888800000) /* 2026-11-28T18:00:00.000Z */

/* The default plan, loaded once. */
static const struct vg_plan *plan(void)
{
	static struct vg_plan *p;
	if (!p) {
		char err[512];
		if (vg_plan_load(&p, VG_DEFAULT_PLAN, err, sizeof err) != VG_OK) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
	}
	return p;
}

static const int codes[] = { 49, 39, 1, 44, 0 };

static int is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	    || c == '-' || c == '_';
}

static int is_key22(const char *s)
{
	for (int i = 0; i < VG_EVENT_KEY_LEN; i++)
		if (!is_b64url(s[i]))
			return 0;
	return s[VG_EVENT_KEY_LEN] == '\0';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_word(char c)
{
	return is_letter(c) || is_digit(c) || c == '_';
}

/* pii.h's boundary rule for a card number s[a..b), written again on the
 * bytes (ASCII only: non-ASCII bytes never block): not next to a letter,
 * digit or '_'; not joined to a word by '-', '.' or '/' before it unless the
 * word is letters only; not joined by '-' to a word after it; not joined by
 * '.', '/' or ',' to a digit on either side. */
/* 1 if s[i] starts a character the scanner skips (pii.h: U+00AD, U+200B–200F,
 * U+2060–2064, U+FEFF): a number does not end there in its view. */
static int format_char(const char *s, size_t i)
{
	const unsigned char *u = (const unsigned char *)s + i;
	return (u[0] == 0xc2 && u[1] == 0xad) || (u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) ||
	       (u[0] == 0xe2 && u[1] == 0x80 && u[2] >= 0x8b && u[2] <= 0x8f) ||
	       (u[0] == 0xe2 && u[1] == 0x81 && u[2] >= 0xa0 && u[2] <= 0xa4);
}

static int card_bounded(const char *s, size_t a, size_t b)
{
	if (format_char(s, b) || (a >= 2 && format_char(s, a - 2)) || (a >= 3 && format_char(s, a - 3)))
		return 0;   /* the scanner reads across it: another number in its view */
	if (a > 0) {
		char c = s[a - 1], d = a > 1 ? s[a - 2] : '\0';
		if (is_word(c))
			return 0;
		if ((c == '-' || c == '.' || c == '/') && is_word(d))
			for (size_t k = a - 1; k > 0 && is_word(s[k - 1]); k--)
				if (!is_letter(s[k - 1]))
					return 0;
		if (c == ',' && is_digit(d))
			return 0;
	}
	char c = s[b];
	if (is_word(c))
		return 0;
	if (c != '\0' && ((c == '-' && is_word(s[b + 1])) ||
	                  ((c == '.' || c == '/' || c == ',') && is_digit(s[b + 1]))))
		return 0;
	return 1;
}

/* The card-number rule of pii.h, written independently of pii.c's scanner:
 * from the start of every digit run, digit groups joined by one space or
 * dash, cut at a group boundary, 13–19 digits, Luhn (vg_card_valid), and the
 * boundary rule. */
static void check_no_card(const char *s)
{
	size_t p = 0;
	while (s[p]) {
		if (!is_digit(s[p])) {
			p++;
			continue;
		}
		char dig[20];
		size_t cnt = 0, q = p;
		for (;;) {
			size_t r = q;
			while (is_digit(s[r])) {
				if (cnt < sizeof dig)
					dig[cnt] = s[r];
				cnt++;
				r++;
			}
			if (cnt > 19)
				break;
			FUZZ_CHECK(!(cnt >= 13 && vg_card_valid(dig, cnt) && card_bounded(s, p, r)));
			if ((s[r] == ' ' || s[r] == '-') && is_digit(s[r + 1]))
				q = r + 1;
			else
				break;
		}
		while (is_digit(s[p]))
			p++;
	}
}

static void check_tree_no_card(const cJSON *node)
{
	for (const cJSON *it = node->child; it; it = it->next) {
		if (cJSON_IsString(it))
			check_no_card(it->valuestring);
		else if (cJSON_IsArray(it) || cJSON_IsObject(it))
			check_tree_no_card(it);
	}
}

struct pfield {
	const char *name, *kind;   /* kind: token kind name */
	int ident;                 /* a system identifier (free text when kept) */
	size_t policy;             /* offset in struct vg_pii_policy */
};

static const struct pfield pfields[] = {
	{ "email", "em", 0, offsetof(struct vg_pii_policy, email) },
	{ "phone", "ph", 0, offsetof(struct vg_pii_policy, phone) },
	{ "customer_id", "cu", 1, offsetof(struct vg_pii_policy, customer_id) },
	{ "loyalty_id", "lo", 1, offsetof(struct vg_pii_policy, loyalty_id) },
	{ "member_code", "mc", 1, offsetof(struct vg_pii_policy, member_code) },
	{ "payment_customer_id", "pc", 1, offsetof(struct vg_pii_policy, payment_customer_id) },
};

static void check_person(const cJSON *person, const struct vg_pii_policy *pol)
{
	FUZZ_CHECK(cJSON_IsObject(person));
	for (const cJSON *it = person->child; it; it = it->next) {
		const struct pfield *f = NULL;
		for (size_t i = 0; it->string && i < sizeof pfields / sizeof pfields[0]; i++)
			if (strcmp(it->string, pfields[i].name) == 0)
				f = &pfields[i];
		FUZZ_CHECK(f != NULL);
		enum vg_policy p = *(const enum vg_policy *)((const char *)pol + f->policy);
		FUZZ_CHECK(p != VG_POL_DROP);
		FUZZ_CHECK(cJSON_IsString(it) && it->valuestring != NULL);
		const char *v = it->valuestring;
		size_t n = strlen(v);
		if (p == VG_POL_TOKEN) {
			char prefix[16];
			int pl = snprintf(prefix, sizeof prefix, "v1.%s.", f->kind);
			FUZZ_CHECK(n == (size_t)pl + VG_EVENT_KEY_LEN);
			FUZZ_CHECK(memcmp(v, prefix, (size_t)pl) == 0);
			FUZZ_CHECK(is_key22(v + pl));
		} else if (p == VG_POL_SHA256) {
			FUZZ_CHECK(n == 64);
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(is_digit(v[i]) || (v[i] >= 'a' && v[i] <= 'f'));
		} else {
			FUZZ_CHECK(n > 0);
			if (strcmp(f->name, "phone") == 0)
				FUZZ_CHECK(v[0] == '+');
			if (f->ident)
				check_no_card(v);
		}
	}
}

static void check_body(const struct vg_ingest_out *out, const struct vg_pii_policy *pol)
{
	FUZZ_CHECK(out->body != NULL);
	FUZZ_CHECK(out->body_len == strlen(out->body));

	cJSON *root = cJSON_Parse(out->body);
	FUZZ_CHECK(root != NULL);
	FUZZ_CHECK(cJSON_IsObject(root));
	for (const cJSON *it = root->child; it; it = it->next) {
		if (it->string && strcmp(it->string, "person") == 0)
			check_person(it, pol);
		else if (cJSON_IsString(it))
			check_no_card(it->valuestring);
		else if (cJSON_IsArray(it) || cJSON_IsObject(it))
			check_tree_no_card(it);
	}

	if (!out->quarantined) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
		FUZZ_CHECK(cJSON_IsString(type) && strcmp(type->valuestring, out->type) == 0);

		const cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "occurred_at");
		int64_t t;
		int has_offset;
		FUZZ_CHECK(cJSON_IsString(at));
		FUZZ_CHECK(vg_time_parse(at->valuestring, &t, &has_offset) == VG_OK);
		FUZZ_CHECK(has_offset == ((out->flags & VG_FLAG_TS_ASSUMED_TZ) == 0));
		if (out->flags & (VG_FLAG_TS_MISSING | VG_FLAG_TS_FUTURE | VG_FLAG_TS_PAST))
			FUZZ_CHECK(t == NOW_MS);
	}
	cJSON_Delete(root);

	/* Scrubbing and printing keep the body a payload we would accept. */
	if (out->body_len <= VG_EVENT_MAX_BYTES) {
		cJSON *again = NULL;
		struct vg_reject rej;
		FUZZ_CHECK(vg_event_decode(out->body, out->body_len, &again, &rej) == VG_OK);
		cJSON_Delete(again);
	}
}

/* Whether the printed body has a number that is not an integer of at
 * most 15 digits ('.', 'e' or 'E' outside strings, 16 digits in a row), or
 * is -0 (which cJSON versions print differently, so vg_encode_text leaves
 * it to the tree). */
static int has_other_number(const char *s, size_t n)
{
	int in_str = 0;
	size_t digits = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '.' || c == 'e' || c == 'E')
			return 1;
		else if (c == '-' && i + 1 < n && s[i + 1] == '0' && (i + 2 == n || !is_digit(s[i + 2])))
			return 1;
		digits = is_digit(c) ? digits + 1 : 0;
		if (digits > 15)
			return 1;
	}
	return 0;
}

/* Both encoders on body[0..n) (an exact-size copy): 1 when vg_encode_text
 * took it (and then its bytes are the tree's), 0 when it left it. */
static int encoders_agree(const char *body, size_t n, unsigned flags)
{
	static const struct vg_encode_ctx ectx = { .venue_id = "v", .gateway_id = "g", .library_version = "0" };
	struct vg_wire_consts wc;
	FUZZ_CHECK(vg_encode_wire_consts(&ectx, &wc) == VG_OK);
	char *copy = malloc(n ? n : 1);
	if (!copy)
		return 0;
	memcpy(copy, body, n);
	struct vg_encode_event ev = { .event_key = "AAAAAAAAAAAAAAAAAAAAAA", .device_id = "d", .body = copy,
	                              .body_len = n, .flags = flags, .received_at_ms = NOW_MS };
	struct vg_buf text = VG_BUF_INIT(VG_MESSAGE_MAX_BYTES + 1);
	int rc = vg_encode_text(&ectx, &wc, &ev, &text);
	FUZZ_CHECK(rc == VG_OK || rc == VG_ENCODE_TREE || rc == VG_ERR_NOMEM);
	if (rc == VG_OK) {
		char *frag = NULL;
		size_t len = 0;
		int trc = vg_encode_fragment(&ectx, &ev, &frag, &len);
		FUZZ_CHECK(trc == VG_OK || trc == VG_ERR_NOMEM);
		if (trc == VG_OK) {
			FUZZ_CHECK(len == text.len && memcmp(frag, text.p, len) == 0);
			/* The Kafka record key: the message's userId, else anonymousId,
			 * as cJSON reads them. */
			cJSON *m = cJSON_ParseWithLength(frag, len);
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "userId");
			if (!cJSON_IsString(id))
				id = cJSON_GetObjectItemCaseSensitive(m, "anonymousId");
			static char key[VG_MESSAGE_MAX_BYTES];
			size_t klen = 0;
			if (m && cJSON_IsString(id)) {
				FUZZ_CHECK(vg_message_identity(frag, len, key, sizeof key, &klen) == VG_OK);
				FUZZ_CHECK(klen == strlen(id->valuestring) && memcmp(key, id->valuestring, klen) == 0);
			}
			cJSON_Delete(m);
		}
		cJSON_free(frag);
	} else {
		FUZZ_CHECK(text.len == 0);
	}
	vg_buf_free(&text);
	free(copy);
	return rc == VG_OK;
}

static int is_decode_error(enum vg_reject_reason r)
{
	return r == VG_REJ_TOO_LARGE || r == VG_REJ_BAD_UTF8 || r == VG_REJ_BAD_JSON
	    || r == VG_REJ_NOT_OBJECT || r == VG_REJ_TOO_DEEP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t b = data[0];
	struct vg_key key = { .version = 1, .activate_at = 0 };
	for (int i = 0; i < 32; i++)
		key.bytes[i] = (uint8_t)i;

	struct vg_pii_policy pol;
	vg_pii_policy_default(&pol);
	static const enum vg_policy all[4] = { VG_POL_DROP, VG_POL_TOKEN, VG_POL_SHA256,
	                                       VG_POL_KEEP };
	int pv = (b >> 5) & 3;
	if (pv != 1) {
		pol.email = pol.phone = pol.customer_id = pol.loyalty_id = pol.member_code =
			pol.payment_customer_id = all[pv];
	}
	struct vg_ingest_cfg cfg = {
		.venue_id = "v",
		.plan = plan(),
		.unknown_quarantine = b % 5 == 4 && (b & 0x80),
		.key = &key,
		.default_country_code = codes[b % 5],
		.policy = pol,
		.has_timezone = (b & 0x08) != 0,
		.max_future_skew_s = 300,
		.max_past_age_d = 30,
	};
	const int synced = (b & 0x10) != 0;

	/* A copy of exactly the payload's size, so ASan sees any overread. */
	const size_t len = size - 1;
	uint8_t *payload = malloc(len ? len : 1);
	if (!payload)
		return 0;
	memcpy(payload, data + 1, len);

	struct vg_ingest_out out;
	int rc = vg_ingest(&cfg, "d", payload, len, NOW_MS, synced, &out);
	FUZZ_CHECK(rc == VG_OK || rc == VG_ERR_NOMEM);
	if (rc != VG_OK) {
		FUZZ_CHECK(out.body == NULL);
		free(payload);
		return 0;
	}

	/* A quarantine keeps the keyed digest of the raw bytes; an event has none. */
	FUZZ_CHECK(out.quarantined ? is_key22(out.digest) : out.digest[0] == '\0');
	FUZZ_CHECK((out.flags & ~((1u << VG_FLAG__COUNT) - 1)) == 0);
	const char *name = vg_reject_name(out.rej.reason);
	FUZZ_CHECK(name != NULL && strcmp(name, "unknown") != 0);

	if (out.quarantined) {
		/* vg_ingest itself never names a topic or the wire size. */
		FUZZ_CHECK((out.rej.reason > VG_REJ_NONE && out.rej.reason <= VG_REJ_BAD_TIME) ||
		           out.rej.reason == VG_REJ_PII_IN_IDENTIFIER ||
		           (out.rej.reason == VG_REJ_UNDECLARED && cfg.unknown_quarantine));
		FUZZ_CHECK(strlen(out.rej.detail) < sizeof out.rej.detail);
	} else {
		FUZZ_CHECK(out.rej.reason == VG_REJ_NONE);
	}

	if (out.quarantined && is_decode_error(out.rej.reason)) {
		FUZZ_CHECK(out.body == NULL && out.body_len == 0);
		FUZZ_CHECK(out.event_key[0] == '\0');
		FUZZ_CHECK(out.rej.offset >= -1 && out.rej.offset <= (long)len);
	} else {
		FUZZ_CHECK(is_key22(out.event_key));
		check_body(&out, &pol);
		int taken = encoders_agree(out.body, out.body_len, out.flags);
		if (!out.quarantined && !has_other_number(out.body, out.body_len) &&
		    out.body_len < VG_MESSAGE_MAX_BYTES / 2)
			FUZZ_CHECK(taken);
	}
	encoders_agree((const char *)payload, len, 0);

	if (!out.quarantined) {
		FUZZ_CHECK(vg_plan_has(plan(), out.type));
		FUZZ_CHECK(out.priority == vg_plan_priority(plan(), out.type));
		FUZZ_CHECK(!cfg.unknown_quarantine || out.undeclared_total == 0);
		FUZZ_CHECK(((out.flags & VG_FLAG_CLOCK_UNSYNCED) != 0) == !synced);
		const int dropped = out.pii.phones_dropped || out.pii.emails_dropped
		                 || out.pii.fields_dropped;
		FUZZ_CHECK(((out.flags & VG_FLAG_PII_DROPPED) != 0) == dropped);
	}

	vg_ingest_out_free(&out);
	FUZZ_CHECK(out.body == NULL);
	free(payload);
	return 0;
}
