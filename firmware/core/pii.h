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
 *   email: trim (ASCII whitespace), ASCII lowercase; must hold exactly one
 *          '@' with text either side and a '.' inside the domain.  Bytes
 *          ≥ 0x80 (a Unicode local part or domain: "ana@münchen.de") are
 *          kept as sent: no Unicode case folding, no NFC, no punycode, so
 *          "ANA@MÜNCHEN.DE" gives "ana@mÜnchen.de" — a second token for the
 *          same person when a device sends another case of a non-ASCII
 *          letter.
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
 * Returns 1 if digits[0..n) (digits only) is such a number, else 0.
 * The text scanner no longer uses the scheme table (DESIGN §5: any scheme):
 * see vg_card_valid. */
int vg_pan_valid(const char *digits, size_t n);

/* 1 if digits[0..n) is 13–19 ASCII digits passing the Luhn check, whatever
 * the scheme (Mir 2200…, UnionPay, RuPay, Elo, Verve, …), else 0.  This is
 * the rule of the text scanner and of the `card` class. */
int vg_card_valid(const char *digits, size_t n);

enum vg_policy { VG_POL_TOKEN, VG_POL_SHA256, VG_POL_DROP, VG_POL_KEEP };

/* What to do with each person field.  vg_pii_policy_default() gives §5's
 * defaults: email/phone/payment_customer_id token, the system identifiers
 * keep. */
struct vg_pii_policy {
	enum vg_policy email, phone, customer_id, loyalty_id, member_code, payment_customer_id;
};
/* The person identifiers a policy names (email … payment_customer_id): an
 * event carries at most one identity token of each under a key. */
#define VG_PII_IDENTITY_CLASSES 6
_Static_assert(sizeof(struct vg_pii_policy) == VG_PII_IDENTITY_CLASSES * sizeof(enum vg_policy),
               "one policy per identity class");
void vg_pii_policy_default(struct vg_pii_policy *p);

struct vg_pii_ctx {
	const struct vg_key *key;   /* current token key; borrowed */
	int default_cc;             /* default calling code for phones */
	struct vg_pii_policy policy;
};

/* Counters: what scrubbing did to one event.  Added to, never reset. */
struct vg_pii_stats {
	unsigned phones_dropped;   /* phone values that could not be normalized, and
	                              "+" numbers in text replaced by "[phone]" */
	unsigned emails_dropped;   /* email values that could not be normalized, and
	                              "a@b@c.com" runs in text replaced by "[email]" */
	unsigned fields_dropped;   /* name, birth date, address, unknown person fields,
	                              card values that are not a card number, numbers
	                              that are no exact integer, objects/arrays with a
	                              personal class */
	unsigned cards_masked;     /* card numbers masked (in text and card fields) */
	unsigned emails_in_text;   /* email addresses found in free-text strings */
	unsigned phones_in_text;   /* phone numbers found in free text and tokenized */
};

/* Personal-data classes of a field (DESIGN §4 x-pii). */
enum vg_pii_class {
	VG_PII_TEXT = 0,
	VG_PII_ID,
	VG_PII_EMAIL,
	VG_PII_PHONE,
	VG_PII_NAME,
	VG_PII_ADDRESS,
	VG_PII_BIRTH_DATE,
	VG_PII_CARD,
	VG_PII_CUSTOMER_ID,
	VG_PII_LOYALTY_ID,
	VG_PII_MEMBER_CODE,
	VG_PII_PAYMENT_CUSTOMER_ID,
	VG_PII__COUNT
};

/* "text", "id", "email", "phone", "name", "address", "birth_date", "card",
 * "customer_id", "loyalty_id", "member_code", "payment_customer_id" (the
 * x-pii spelling); NULL for an out-of-range class.  Static storage. */
const char *vg_pii_class_name(enum vg_pii_class c);
/* The class named name (exact, case-sensitive), or -1 (also for NULL). */
int vg_pii_class_parse(const char *name);

/* Apply class cls to item, a member (object member or array element) of
 * parent, in place, per ctx->policy.  Both are borrowed; item stays owned by
 * parent unless it is dropped.
 *  - email, phone, customer_id, loyalty_id, member_code, payment_customer_id:
 *    normalized (vg_norm_email / vg_norm_phone with ctx->default_cc /
 *    vg_norm_ident), then replaced by its token, its SHA-256 hex, kept in its
 *    normalized form, or dropped, per the policy of that name
 *    (ctx->policy.email, .phone, .customer_id, …).  A value that cannot be
 *    normalized is dropped and counted (emails_dropped, phones_dropped,
 *    fields_dropped).  A kept customer_id / loyalty_id / member_code /
 *    payment_customer_id is then scanned as text (a card number in it is
 *    masked); a kept email or phone is not.
 *  - name, address, birth_date: dropped, counted in fields_dropped.
 *  - card: a value of 13–19 digits (spaces, dashes and dots allowed between
 *    them, after the folding of vg_pii_scrub_text) passing Luhn becomes
 *    "card-<last4>:<pan token>" (cards_masked); anything else is dropped and
 *    counted in fields_dropped.
 *  - text: vg_pii_scrub_text; an object or array of class text has every
 *    string inside it scanned (keys are not: see vg_pii_in_identifier).
 *  - id: left as it is (the caller checks vg_pii_in_identifier first).
 * A JSON number of a personal class is first turned into the decimal text of
 * its integer value (the item becomes a string); a number that is not an
 * integer, or not exactly representable (|x| ≥ 2^53, so a 19-digit card sent
 * as a number), is dropped and counted in fields_dropped.  A number of class
 * text or id is left alone (numbers are never scanned).  true/false/null are
 * left alone whatever the class.  An object or array of a personal class is
 * dropped, counted in fields_dropped.  Strings that held raw values are
 * wiped before they are freed.
 * Returns VG_OK (item is still in parent, perhaps rewritten), 1 when item was
 * detached from parent and wiped and freed (the caller must not touch it
 * again: take item->next before the call), VG_ERR_NOMEM (the tree is valid
 * and safe to wipe and free, but item may still hold its raw value — a number
 * may already be its text —: drop the event), or VG_ERR_INVAL (a NULL
 * argument, no key, an unknown class). */
int vg_pii_apply(cJSON *parent, cJSON *item, enum vg_pii_class cls, const struct vg_pii_ctx *ctx,
                 struct vg_pii_stats *st);

/* Free text: replace, in the string item (any other item is left alone),
 * every email address by its email token (emails_in_text), every phone
 * number by its phone token (vg_norm_phone with ctx->default_cc, then
 * VG_TK_PHONE; phones_in_text), every "+" (or "00" before 1–9) number of 8–15 digits that does not
 * normalize by "[phone]" (phones_dropped) and every card number by
 * "card-<last4>:<pan token>" (cards_masked).  Replacements are not scanned
 * again; the rest of the string is kept byte for byte.
 *
 * What is found (on a folded view of the string: fullwidth forms U+FF01–FF5E
 * read as ASCII, zero-width and format characters U+200B–200F, U+2060–2064,
 * U+FEFF, U+00AD skipped, U+00A0, U+2000–200A, U+202F, U+205F, U+3000 read as
 * spaces, U+2010–2015 and U+2212 as '-', U+3002 and U+FF61 as '.'; a
 * replacement covers the original bytes of the whole match):
 *  - email: local part of ASCII letters, digits, "._%+-" and non-ASCII
 *    letters, '@', dot-separated labels of letters, digits, '-'; the last
 *    label is ≥ 2 letters (ASCII or non-ASCII) or "xn--…".  An address
 *    joined by '@' to more ("a@b.de@c.com") is replaced whole by "[email]"
 *    (emails_dropped): it has no normal form.  Non-ASCII
 *    punctuation, symbols and spaces (U+0080–00BF, U+2000–2BFF, U+3000–303F,
 *    emoji, …) end an address; any other byte ≥ 0x80 counts as a letter.
 *  - card: 13–19 digits in groups joined by one space or dash, passing Luhn
 *    (vg_card_valid); a run of digits is never split.
 *  - phone, international: "+" or "00", then 8–15 digits in groups joined by
 *    1–3 of " -./()".
 *  - phone, national, for a default_cc in the country table only: starting
 *    with the country's trunk prefix (DE "0151 2345678", "030/1234567", FR
 *    "06 12 34 56 78", GB, IT landlines, NL, AT, CH, BE, SE, IE; US "1 212 555
 *    0100"), or for the US also "(212) 555-0100" / "212-555-0100" (3-3-4
 *    groups, area code and exchange 2–9); for countries without a trunk
 *    prefix (ES, PT, DK, PL) the table's exact national length written in at
 *    least two groups ("612 345 678": a bare "612345678" is an order number as
 *    often as a phone).  Dates (1–2/1–2/4, 4/1–2/1–2, and 2/2/2 digit groups
 *    joined by the same '.', '/' or '-') and decimals ("0.151…") are not
 *    phones.  A national number must normalize with vg_norm_phone.
 *  - boundaries (no false positives inside identifiers): a card or phone is
 *    never preceded or followed by an ASCII letter, digit or '_' (a phone
 *    not by '@' either: "x@0151…" is a domain, "…5678@x.de" an address); nor joined
 *    to one by '-' (either side) or by '.' or '/' (before it), nor joined by
 *    '.', '/' or ',' to a digit (either side).  Only a card may follow a word
 *    of ASCII letters joined by '-', '.' or '/' ("card-4111…",
 *    "ana@x.de/4111…").  So UUIDs, ULIDs, hex digests, base64url tokens,
 *    dates, versions, decimals and IP addresses never match; nor does a
 *    phone in "Tel.0151 2345678" or "ORD-0151-2345678".
 * When two matches overlap, the one that starts first wins, except that a
 * phone number never runs into an address's local part (it is cut before it
 * or not taken); on a tie an email address wins, then the longer of card and
 * phone, then the card; a phone is cut before a card number that starts
 * inside it.  What a match is replaced by is no identifier: the end of one
 * match is a left boundary for the next.
 * Not found: phones without "+"/"00" for a default_cc outside the table,
 * national numbers not starting with the trunk prefix (IT mobiles "312 …"),
 * numbers spelled in words, split across fields, or with letters in between.
 * Returns VG_OK, VG_ERR_NOMEM (the string is then unchanged and st not
 * touched) or VG_ERR_INVAL (NULL item or ctx, no key).  Nothing is allocated
 * unless something is replaced (then the new string, grown by doubling) or the
 * string is 2 KiB or more and holds non-ASCII bytes (then its folded copy and
 * offset map; shorter ones are folded in 10 KiB of stack); every such buffer
 * is wiped before it is freed.  Linear in
 * the string's length.  Pure: no globals, safe on any thread. */
int vg_pii_scrub_text(cJSON *item, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st);

/* 1 if s[0..n) contains what vg_pii_scrub_text would replace (an email, a
 * phone number — one that normalizes, or a "+" number of 8–15 digits — or a
 * card number) with default_cc as the default calling code, and *what (when
 * what is not NULL) is set to "email", "phone" or "card" (static storage):
 * the first match in the string.  0 if none.  VG_ERR_NOMEM (a non-zero value:
 * treat it as "found") when a long non-ASCII string could not be folded.
 * s need not be NUL-terminated; NULL with n == 0 is fine.  Used for `id`
 * fields (quarantined as pii_in_identifier) and for object keys admitted by a
 * schema's additionalProperties.  Needs no key. */
int vg_pii_in_identifier(const char *s, size_t n, int default_cc, const char **what);

/* Scrub a decoded event in place:
 *  - person.email/phone/customer_id/loyalty_id/member_code/payment_customer_id
 *    are normalized and replaced per policy (token / sha256 hex / dropped /
 *    kept normalized); values that cannot be normalized are dropped, counted;
 *  - every other person field (name, birth date, address, anything unknown) is
 *    dropped, counted;
 *  - every string value anywhere else (not JSON numbers, not object keys) is
 *    scanned as free text by vg_pii_scrub_text: emails, phones and card
 *    numbers are replaced.
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
