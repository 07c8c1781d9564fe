/* venuegw — personal data: normalization, tokens, and scrubbing an event
 * (DESIGN.md §5).  Pure functions over buffers and cJSON trees: no I/O.
 *
 * Token:  "v<version>.<kind>." ‖ base64url_nopad(HMAC-SHA256(K,
 *         "venuegw-token-v1" ‖ 0x00 ‖ kind ‖ 0x00 ‖ normalized)[0..16])
 */
#ifndef VG_PII_H
#define VG_PII_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "keys.h"

enum vg_token_kind {
	VG_TK_EMAIL,    /* "em" */
	VG_TK_PHONE,    /* "ph" */
	VG_TK_CUSTOMER, /* "cu" customer_id */
	VG_TK_LOYALTY,  /* "lo" loyalty_id */
	VG_TK_MEMBER,   /* "mc" member_code */
	VG_TK_PAYCUST,  /* "pc" payment customer id */
	VG_TK_PAN,      /* "pan" card number */
	VG_TK__COUNT
};

/* "em", "ph", ...; NULL for an out-of-range kind. */
const char *vg_token_kind_name(enum vg_token_kind kind);

/* Longest token: "v999999." + "pan." + 22 + NUL fits. */
#define VG_TOKEN_MAX 48

/* Write the token of normalized[0..len) under key into out (NUL-terminated).
 * Returns the token's length, or VG_ERR_INVAL. */
int vg_token_make(const struct vg_key *key, enum vg_token_kind kind,
                  const char *normalized, size_t len, char out[VG_TOKEN_MAX]);

/* Normalizers: write the normalized form of in[0..len) into out (at most
 * outsz bytes including the NUL) and return its length, or VG_ERR_INVAL when
 * the input cannot be normalized (or VG_ERR_RANGE when out is too small).
 *   email: trim, lowercase; must hold exactly one '@' with text either side.
 *   phone: E.164 ("+<cc><national>"), using default_cc (a calling code such
 *          as 49) for numbers without an international prefix ("+" or "00").
 *          A per-country table knows the trunk prefix, whether it is dropped
 *          (Italy keeps its 0) and the national number lengths for at least
 *          DE FR ES IT GB US NL.
 *   ident: trim (system identifiers: customer_id, loyalty_id, member_code,
 *          payment customer id); empty after trimming is invalid. */
int vg_norm_email(const char *in, size_t len, char *out, size_t outsz);
int vg_norm_phone(const char *in, size_t len, int default_cc, char *out, size_t outsz);
int vg_norm_ident(const char *in, size_t len, char *out, size_t outsz);

/* Card numbers: 13–19 digits, single spaces or dashes allowed between digits,
 * a valid scheme prefix for its length (Visa, Mastercard, Amex, Discover,
 * JCB, Diners, Maestro, UnionPay) and a passing Luhn check.
 * Returns 1 if digits[0..n) (digits only) is such a number, else 0. */
int vg_pan_valid(const char *digits, size_t n);

enum vg_policy { VG_POL_TOKEN, VG_POL_SHA256, VG_POL_DROP, VG_POL_KEEP };

/* What to do with each person field.  vg_pii_policy_default() gives §5's
 * defaults: email/phone/payment_customer_id token, the system identifiers
 * keep. */
struct vg_pii_policy {
	enum vg_policy email, phone, customer_id, loyalty_id, member_code, payment_customer_id;
};
void vg_pii_policy_default(struct vg_pii_policy *p);

struct vg_pii_ctx {
	const struct vg_key *key;   /* current token key; borrowed */
	int default_cc;             /* default calling code for phones */
	struct vg_pii_policy policy;
};

/* Counters: what scrubbing did to one event.  Added to, never reset. */
struct vg_pii_stats {
	unsigned phones_dropped;   /* phone numbers that could not be normalized */
	unsigned emails_dropped;   /* person.email values that could not be normalized */
	unsigned fields_dropped;   /* name, birth date, address, unknown person fields */
	unsigned cards_masked;     /* card numbers found in string values */
	unsigned emails_in_text;   /* email addresses found in free-text strings */
};

/* Scrub a decoded event in place:
 *  - person.email/phone/customer_id/loyalty_id/member_code/payment_customer_id
 *    are normalized and replaced per policy (token / sha256 hex / dropped /
 *    kept normalized); values that cannot be normalized are dropped, counted;
 *  - every other person field (name, birth date, address, anything unknown) is
 *    dropped, counted;
 *  - in every string value anywhere else (not JSON numbers), card numbers are
 *    replaced by "card-<last4>:<pan token>" and email addresses by their
 *    email token.
 * Every string that held a raw value is zeroed before it is freed.
 * Returns VG_OK, VG_ERR_NOMEM (the tree is then still safe to wipe and free),
 * or VG_ERR_INVAL (no key). */
int vg_pii_scrub_event(cJSON *event, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st);

/* The identity token of a person identifier: raw[0..len) normalized as the
 * person field named field ("email", "phone", "customer_id", "loyalty_id",
 * "member_code", "payment_customer_id") is, then its token under key —
 * whatever the field's policy.  Suppressions and erasure match on it.  The
 * normalized form goes to norm (normsz bytes) when norm is not NULL.
 * Returns the token's length, or VG_ERR_INVAL (not such a field, or the value
 * cannot be normalized). */
int vg_pii_identity_token(const struct vg_key *key, const char *field, const char *raw, size_t len,
                          int default_cc, char tok[VG_TOKEN_MAX], char *norm, size_t normsz);

/* 1 if s is a token of kind ("v<digits>.<kind>.<22 base64url chars>"). */
int vg_token_is(const char *s, const char *kind);
/* 1 if s is 64 lowercase hex digits (the "sha256" policy's form). */
int vg_sha256_hex_is(const char *s);

/* A stored (already scrubbed) value of the person field named field: 1 if it
 * is a token of the field's kind, 2 if a SHA-256 hex digest, else 0. */
int vg_pii_stored_form(const char *field, const char *value);

/* Zero every string and key in the tree, then cJSON_Delete it.  NULL is fine. */
void vg_json_wipe_delete(cJSON *item);

#endif
