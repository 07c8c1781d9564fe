/* Unit test: the token specification's vectors (packaging/doc/token-spec.md),
 * read from $VG_TEST_DATA/token_vectors.tsv and checked line by line through
 * the gateway's own code: vg_norm_email / vg_norm_phone / vg_norm_ident,
 * vg_card_valid and the free-text scrubber for card numbers, vg_token_make,
 * vg_event_key.  The CDP team computes the same values from the document;
 * every line of the file must hold here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "err.h"
#include "event.h"
#include "keys.h"
#include "pii.h"

#define MIN_VECTORS 40
#define LINE_MAX_BYTES 4096

static const char *const kinds[] = { "em", "ph", "cu", "lo", "mc", "pc", "pan", "eventkey" };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static struct vg_key k1(void)
{
	struct vg_key k = { .version = 1, .activate_at = 0 };
	for (int i = 0; i < 32; i++)
		k.bytes[i] = (uint8_t)i;
	return k;
}

static unsigned g_failures;

#define FAIL(lineno, ...)                                                       \
	do {                                                                    \
		fprintf(stderr, "token_vectors.tsv:%u: ", (lineno));             \
		fprintf(stderr, __VA_ARGS__);                                   \
		fputc('\n', stderr);                                            \
		g_failures++;                                                   \
	} while (0)

/* Undo the file's escapes (\t \n \r \\) in place; -1 on an unknown one. */
static int unescape(char *s, size_t *len)
{
	size_t o = 0;
	for (size_t i = 0; s[i]; i++) {
		if (s[i] != '\\') {
			s[o++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case 't': s[o++] = '\t'; break;
		case 'n': s[o++] = '\n'; break;
		case 'r': s[o++] = '\r'; break;
		case '\\': s[o++] = '\\'; break;
		default: return -1;
		}
	}
	s[o] = '\0';
	*len = o;
	return 0;
}

/* Split line at tabs into exactly n fields. */
static int split_tabs(char *line, char **f, int n)
{
	int k = 0;
	f[k++] = line;
	for (char *p = line; *p; p++) {
		if (*p == '\t') {
			if (k == n)
				return -1;
			*p = '\0';
			f[k++] = p + 1;
		}
	}
	return k == n ? 0 : -1;
}

/* A whole value that is one card number as the scanner sees it: digit groups
 * joined by single spaces or dashes.  Digits to dig; 0 if not of that shape. */
static int pan_digits(const char *s, char *dig, size_t digsz, size_t *nd)
{
	size_t n = 0;
	int prev_digit = 0;
	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n + 1 >= digsz)
				return 0;
			dig[n++] = *p;
			prev_digit = 1;
		} else if ((*p == ' ' || *p == '-') && prev_digit && p[1] >= '0' && p[1] <= '9') {
			prev_digit = 0;
		} else {
			return 0;
		}
	}
	dig[n] = '\0';
	*nd = n;
	return n > 0;
}

/* The scrubber on {"properties":{"note":<in>}}: what the note becomes. */
static char *scrub_note(const struct vg_key *key, const char *in)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON *props = cJSON_AddObjectToObject(ev, "properties");
	assert_non_null(cJSON_AddStringToObject(props, "note", in));
	struct vg_pii_ctx ctx = { .key = key, .default_cc = 0 };
	vg_pii_policy_default(&ctx.policy);
	assert_int_equal(vg_pii_scrub_event(ev, &ctx, NULL), VG_OK);
	char *out = strdup(cJSON_GetObjectItem(props, "note")->valuestring);
	vg_json_wipe_delete(ev);
	return out;
}

static void check_token(unsigned ln, const struct vg_key *key, enum vg_token_kind kind,
                        const char *norm, size_t nl, const char *want)
{
	char tok[VG_TOKEN_MAX];
	int tl = vg_token_make(key, kind, norm, nl, tok);
	if (tl < 0 || strcmp(tok, want) != 0)
		FAIL(ln, "token of \"%s\": got %s, want %s", norm, tl < 0 ? "error" : tok, want);
	else if ((size_t)tl != strlen(want))
		FAIL(ln, "token length %d, want %zu", tl, strlen(want));
}

/* em ph cu lo mc pc: normalize, then the token. */
static void check_field(unsigned ln, const struct vg_key *key, int kidx, const char *in,
                        size_t len, const char *cc, const char *want_norm,
                        const char *want_tok)
{
	char norm[256];
	int nl;
	if (kidx == 1) {
		char *end;
		long c = strtol(cc, &end, 10);
		if (!*cc || *end || c < 0 || c > 999) {
			FAIL(ln, "ph: default_country_code \"%s\" is not 0..999", cc);
			return;
		}
		nl = vg_norm_phone(in, len, (int)c, norm, sizeof norm);
	} else {
		if (strcmp(cc, "-") != 0) {
			FAIL(ln, "%s: default_country_code must be \"-\"", kinds[kidx]);
			return;
		}
		nl = kidx == 0 ? vg_norm_email(in, len, norm, sizeof norm)
		               : vg_norm_ident(in, len, norm, sizeof norm);
	}
	if (strcmp(want_norm, "-") == 0) {
		if (nl != VG_ERR_INVAL)
			FAIL(ln, "%s \"%s\": normalized to \"%s\", want rejected", kinds[kidx], in,
			     nl < 0 ? "(error)" : norm);
		if (strcmp(want_tok, "-") != 0)
			FAIL(ln, "rejected value with a token column other than \"-\"");
		return;
	}
	if (nl < 0 || strcmp(norm, want_norm) != 0) {
		FAIL(ln, "%s \"%s\": got %s%s%s, want \"%s\"", kinds[kidx], in,
		     nl < 0 ? "rejected" : "\"", nl < 0 ? "" : norm, nl < 0 ? "" : "\"",
		     want_norm);
		return;
	}
	check_token(ln, key, (enum vg_token_kind)kidx, norm, (size_t)nl, want_tok);
}

static void check_pan(unsigned ln, const struct vg_key *key, const char *in, const char *cc,
                      const char *want_norm, const char *want_tok)
{
	char dig[64];
	size_t nd = 0;
	if (strcmp(cc, "-") != 0)
		FAIL(ln, "pan: default_country_code must be \"-\"");
	int shaped = pan_digits(in, dig, sizeof dig, &nd);
	int valid = shaped && vg_card_valid(dig, nd);
	char *scrubbed = scrub_note(key, in);

	if (strcmp(want_norm, "-") == 0) {
		if (valid)
			FAIL(ln, "pan \"%s\": a valid card number, want rejected", in);
		if (strcmp(scrubbed, in) != 0)
			FAIL(ln, "pan \"%s\": the scrubber rewrote it to \"%s\"", in, scrubbed);
		if (strcmp(want_tok, "-") != 0)
			FAIL(ln, "rejected value with a token column other than \"-\"");
	} else if (!valid || strcmp(dig, want_norm) != 0) {
		FAIL(ln, "pan \"%s\": got %s \"%s\", want valid \"%s\"", in,
		     valid ? "valid" : "invalid", shaped ? dig : "", want_norm);
	} else {
		check_token(ln, key, VG_TK_PAN, dig, nd, want_tok);
		char rep[VG_TOKEN_MAX + 16];
		snprintf(rep, sizeof rep, "card-%s:%s", dig + nd - 4, want_tok);
		if (strcmp(scrubbed, rep) != 0)
			FAIL(ln, "pan \"%s\": scrubbed to \"%s\", want \"%s\"", in, scrubbed, rep);
	}
	vg_wipe(scrubbed, strlen(scrubbed));
	free(scrubbed);
}

static void check_event_key(unsigned ln, char *in, size_t len, const char *cc,
                            const char *norm, const char *want)
{
	char *part[4];
	char *p = in;
	for (int i = 0; i < 3; i++) {
		char *bar = strchr(p, '|');
		if (!bar) {
			FAIL(ln, "eventkey input is not venue|device|kind|value");
			return;
		}
		*bar = '\0';
		part[i] = p;
		p = bar + 1;
	}
	part[3] = p;
	size_t vlen = len - (size_t)(p - in);
	if (strcmp(cc, "-") != 0 || strcmp(norm, "-") != 0)
		FAIL(ln, "eventkey: columns 3 and 4 must be \"-\"");
	if (strcmp(part[2], "id") && strcmp(part[2], "body") && strcmp(part[2], "seq")) {
		FAIL(ln, "eventkey kind \"%s\" is not id, body or seq", part[2]);
		return;
	}
	char key[VG_EVENT_KEY_LEN + 1];
	if (strcmp(part[2], "body") == 0) {
		uint8_t h[32];
		vg_sha256(part[3], vlen, h);
		vg_event_key(part[0], part[1], "body", h, sizeof h, key);
	} else {
		vg_event_key(part[0], part[1], part[2], part[3], vlen, key);
	}
	if (strcmp(key, want) != 0)
		FAIL(ln, "event key of %s|%s|%s|%s: got %s, want %s", part[0], part[1], part[2],
		     part[3], key, want);
}

static void test_token_vectors_file(void **state)
{
	(void)state;
	const char *dir = getenv("VG_TEST_DATA");
	if (!dir || !*dir)
		fail_msg("VG_TEST_DATA is not set (run through ctest)");
	char path[1024];
	snprintf(path, sizeof path, "%s/token_vectors.tsv", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);

	struct vg_key key = k1();
	char line[LINE_MAX_BYTES];
	unsigned ln = 0, nvec = 0, per_kind[NKINDS] = { 0 };
	g_failures = 0;
	while (fgets(line, sizeof line, f)) {
		ln++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			FAIL(ln, "line too long");
			break;
		}
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		char *fld[5];
		if (split_tabs(line, fld, 5) != 0) {
			FAIL(ln, "not five tab-separated columns");
			continue;
		}
		size_t ilen;
		if (unescape(fld[1], &ilen) != 0) {
			FAIL(ln, "unknown escape in the input column");
			continue;
		}
		size_t kidx = 0;
		while (kidx < NKINDS && strcmp(fld[0], kinds[kidx]) != 0)
			kidx++;
		if (kidx == NKINDS) {
			FAIL(ln, "unknown kind \"%s\"", fld[0]);
			continue;
		}
		nvec++;
		per_kind[kidx]++;
		if (kidx <= 5)
			check_field(ln, &key, (int)kidx, fld[1], ilen, fld[2], fld[3], fld[4]);
		else if (kidx == 6)
			check_pan(ln, &key, fld[1], fld[2], fld[3], fld[4]);
		else
			check_event_key(ln, fld[1], ilen, fld[2], fld[3], fld[4]);
	}
	fclose(f);

	for (size_t i = 0; i < NKINDS; i++)
		if (per_kind[i] == 0)
			FAIL(ln, "no vector of kind %s", kinds[i]);
	if (nvec < MIN_VECTORS)
		FAIL(ln, "only %u vectors, want at least %d", nvec, MIN_VECTORS);
	print_message("%u vectors checked from %s\n", nvec, path);
	if (g_failures)
		fail_msg("%u failure(s) in %s", g_failures, path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_vectors_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
