/* venuegw — fuzz target: the free-text scanner of pii.h (vg_pii_scrub_text,
 * vg_pii_in_identifier) on arbitrary bytes.
 *
 * Input: one parameter byte, then the text.
 *   byte 0: default calling code = ccs[b % N] (in the country table or not)
 *   the text: up to the first NUL for vg_pii_scrub_text (a cJSON string);
 *             all of it, not NUL-terminated, for vg_pii_in_identifier.
 * Seeds start with '0' + i for ccs[i] ('0' is 48 ≡ 0 mod 12: DE, '1' ES,
 * '2' US, '3' GB, '4' FR, '5' IT, '6' NL, '7' DK, ...).
 *
 * Invariants:
 *  - vg_pii_scrub_text returns VG_OK (a key is given);
 *  - it counts a match if and only if vg_pii_in_identifier reports
 *    something in the string, and leaves the string byte for byte when not;
 *  - the result is valid UTF-8 when the input was (replacements cover whole
 *    characters);
 *  - what is left between the replacements holds no card or phone number (a stretch
 *    of text that was glued to a match is a stretch of its own here, so
 *    this also checks that the end of a match is a boundary);
 *  - vg_pii_in_identifier reads only s[0..n) (the copy is exactly n bytes:
 *    ASan), returns 0 or 1, and sets *what exactly when it returns 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "fuzz.h"
#include "keys.h"
#include "pii.h"

static const int ccs[] = { 49, 34, 1, 44, 33, 39, 31, 45, 351, 0, 7, 999 };
#define N_CCS (sizeof ccs / sizeof ccs[0])

/* Well-formed UTF-8 (Unicode §3.9), NUL allowed. */
static int utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else {
			return 0;
		}
		if (n - i <= need || p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= need; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}

static int is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* The length of a replacement at s ("[phone]", "[email]", a token
 * "v1.<kind>.<22>", "card-dddd:<token>"), or 0. */
static size_t replacement_at(const char *s)
{
	if (!strncmp(s, "[phone]", 7) || !strncmp(s, "[email]", 7))
		return 7;
	size_t o = 0;
	if (!strncmp(s, "card-", 5)) {
		for (o = 5; o < 9; o++)
			if (s[o] < '0' || s[o] > '9')
				return 0;
		if (s[o++] != ':')
			return 0;
	}
	static const char *const kinds[] = { "v1.em.", "v1.ph.", "v1.pan." };
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		size_t kl = strlen(kinds[k]);
		if (strncmp(s + o, kinds[k], kl) != 0)
			continue;
		for (size_t i = 0; i < 22; i++)
			if (!is_b64url(s[o + kl + i]))
				return 0;
		return o + kl + 22;
	}
	return 0;
}

/* No card or phone number in out[0..n) on its own. */
static void check_segment(const char *out, size_t n, const struct vg_pii_ctx *ctx)
{
	char *seg = strndup(out, n);
	FUZZ_CHECK(seg);
	cJSON *it = cJSON_CreateString(seg);
	FUZZ_CHECK(it);
	struct vg_pii_stats st = { 0 };
	FUZZ_CHECK(vg_pii_scrub_text(it, ctx, &st) == VG_OK);
	FUZZ_CHECK(st.cards_masked + st.phones_in_text + st.phones_dropped == 0);
	vg_json_wipe_delete(it);
	free(seg);
}

/* Each stretch of out between replacements holds no card or phone number the
 * scanner finds on its own.  (The scrubbed string as a whole need not be a
 * fixed point: a token's dots make it look like a domain to text glued to
 * it.) */
static void check_segments(const char *out, const struct vg_pii_ctx *ctx)
{
	size_t seg = 0, i = 0;
	while (out[i]) {
		size_t r = replacement_at(out + i);
		if (!r) {
			i++;
			continue;
		}
		check_segment(out + seg, i - seg, ctx);
		i += r;
		seg = i;
	}
	check_segment(out + seg, i - seg, ctx);
}

static int is_name(const char *what)
{
	return what && (!strcmp(what, "email") || !strcmp(what, "phone") || !strcmp(what, "card"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct vg_key key = { .version = 1 };
	for (int i = 0; i < 32; i++)
		key.bytes[i] = (uint8_t)i;
	struct vg_pii_ctx ctx = { .key = &key, .default_cc = ccs[data[0] % N_CCS] };
	vg_pii_policy_default(&ctx.policy);
	const size_t len = size - 1;

	/* vg_pii_in_identifier on exactly len bytes. */
	char *raw = malloc(len ? len : 1);
	if (!raw)
		return 0;
	memcpy(raw, data + 1, len);
	const char *what = NULL;
	int any = vg_pii_in_identifier(raw, len, ctx.default_cc, &what);
	FUZZ_CHECK(any == 0 || any == 1);
	FUZZ_CHECK(any ? is_name(what) : what == NULL);

	/* vg_pii_scrub_text up to the first NUL. */
	size_t sl = strnlen(raw, len);
	char *str = malloc(sl + 1);
	FUZZ_CHECK(str);
	memcpy(str, raw, sl);
	str[sl] = '\0';
	int found = vg_pii_in_identifier(str, sl, ctx.default_cc, NULL);
	cJSON *item = cJSON_CreateString(str);
	if (!item) {
		free(str);
		free(raw);
		return 0;
	}
	struct vg_pii_stats st = { 0 };
	FUZZ_CHECK(vg_pii_scrub_text(item, &ctx, &st) == VG_OK);
	const char *out = item->valuestring;
	const unsigned n_found = st.emails_in_text + st.emails_dropped + st.phones_in_text +
	                         st.phones_dropped + st.cards_masked;
	FUZZ_CHECK(st.fields_dropped == 0);
	if (found) {
		FUZZ_CHECK(n_found >= 1);
	} else {
		FUZZ_CHECK(strcmp(out, str) == 0);
		FUZZ_CHECK(n_found == 0);
	}
	if (utf8_valid((const unsigned char *)str, sl))
		FUZZ_CHECK(utf8_valid((const unsigned char *)out, strlen(out)));

	/* Nothing is left to find between the replacements (told apart by their
	 * shape: not when the input holds such shapes itself). */
	if (!strstr(str, "v1.") && !strstr(str, "[phone]") && !strstr(str, "[email]"))
		check_segments(out, &ctx);
	vg_json_wipe_delete(item);
	free(str);
	free(raw);
	return 0;
}
