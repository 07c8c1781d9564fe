/* venuegw — personal data: normalization, tokens, and scrubbing an event
 * (DESIGN.md §5).  See pii.h.
 *
 * Every buffer here that holds a raw value (an input copy, a normalized form,
 * a folded view of a string, a rebuilt free-text string, the string a
 * replacement frees) is wiped with vg_wipe() before it is freed or goes out
 * of scope. */
#include "pii.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"

/* ---- small character helpers ------------------------------------------ */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Trim ASCII whitespace from in[0..*len); returns the new start. */
static const char *trim(const char *in, size_t *len)
{
	size_t a = 0, b = *len;
	while (a < b && is_ws(in[a]))
		a++;
	while (b > a && is_ws(in[b - 1]))
		b--;
	*len = b - a;
	return in + a;
}

/* ---- tokens ------------------------------------------------------------- */

static const char *const kind_names[VG_TK__COUNT] = {
	[VG_TK_EMAIL] = "em",
	[VG_TK_PHONE] = "ph",
	[VG_TK_CUSTOMER] = "cu",
	[VG_TK_LOYALTY] = "lo",
	[VG_TK_MEMBER] = "mc",
	[VG_TK_PAYCUST] = "pc",
	[VG_TK_PAN] = "pan",
};

const char *vg_token_kind_name(enum vg_token_kind kind)
{
	if ((int)kind < 0 || kind >= VG_TK__COUNT)
		return NULL;
	return kind_names[kind];
}

int vg_token_make(const struct vg_key *key, enum vg_token_kind kind,
                  const char *normalized, size_t len, char out[VG_TOKEN_MAX])
{
	static const char domain[] = "venuegw-token-v1";
	const char *kn = vg_token_kind_name(kind);
	if (!key || !out || !kn || (!normalized && len) || key->version < 1 ||
	    key->version > 999999)
		return VG_ERR_INVAL;
	if (!normalized)
		normalized = "";

	const void *parts[5] = { domain, "", kn, "", normalized };
	const size_t lens[5] = { sizeof(domain) - 1, 1, strlen(kn), 1, len };
	uint8_t mac[32];
	vg_hmac_sha256(key->bytes, sizeof(key->bytes), parts, lens, 5, mac);

	int n = snprintf(out, VG_TOKEN_MAX, "v%u.%s.", key->version, kn);
	if (n < 0 || (size_t)n + 23 > VG_TOKEN_MAX) {
		vg_wipe(mac, sizeof(mac));
		return VG_ERR_INVAL;
	}
	n += (int)vg_b64url(mac, 16, out + n);
	vg_wipe(mac, sizeof(mac));
	return n;
}

/* ---- email ---------------------------------------------------------------- */

int vg_norm_email(const char *in, size_t len, char *out, size_t outsz)
{
	if (!in || !out)
		return VG_ERR_INVAL;
	const char *s = trim(in, &len);
	size_t at = len, nat = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f)
			return VG_ERR_INVAL;   /* whitespace or control inside */
		if (c == '@') {
			at = i;
			nat++;
		}
	}
	if (nat != 1 || at == 0 || at + 1 >= len)
		return VG_ERR_INVAL;
	const char *dom = s + at + 1;
	size_t dn = len - at - 1;
	if (!memchr(dom, '.', dn) || dom[0] == '.' || dom[dn - 1] == '.')
		return VG_ERR_INVAL;
	if (len + 1 > outsz)
		return VG_ERR_RANGE;
	for (size_t i = 0; i < len; i++)
		out[i] = lower(s[i]);
	out[len] = '\0';
	return (int)len;
}

/* ---- system identifiers --------------------------------------------------- */

int vg_norm_ident(const char *in, size_t len, char *out, size_t outsz)
{
	if (!in || !out)
		return VG_ERR_INVAL;
	const char *s = trim(in, &len);
	if (len == 0)
		return VG_ERR_INVAL;
	if (len + 1 > outsz || len > (size_t)0x7fffffff)
		return VG_ERR_RANGE;
	memcpy(out, s, len);
	out[len] = '\0';
	return (int)len;
}

/* ---- phone ---------------------------------------------------------------- */

/* One row per country: calling code, trunk prefix ("" when the country has
 * none), whether the trunk is dropped in E.164 (Italy keeps its 0), and the
 * allowed lengths of the national significant number — for Italy counted
 * with the kept 0. */
struct country {
	const char *cc;
	int code;          /* cc as a number */
	const char *trunk;
	bool drop_trunk;
	unsigned char min, max;
};

static const struct country countries[] = {
	{ "1",     1, "1", true,  10, 10 }, /* US, CA (NANP) */
	{ "31",   31, "0", true,   9,  9 }, /* NL */
	{ "32",   32, "0", true,   8,  9 }, /* BE */
	{ "33",   33, "0", true,   9,  9 }, /* FR */
	{ "34",   34, "",  false,  9,  9 }, /* ES */
	{ "39",   39, "0", false,  6, 11 }, /* IT: the leading 0 is part of the number */
	{ "41",   41, "0", true,   9,  9 }, /* CH */
	{ "43",   43, "0", true,   5, 13 }, /* AT */
	{ "44",   44, "0", true,   7, 10 }, /* GB */
	{ "45",   45, "",  false,  8,  8 }, /* DK */
	{ "46",   46, "0", true,   7,  9 }, /* SE */
	{ "48",   48, "",  false,  9,  9 }, /* PL */
	{ "49",   49, "0", true,   6, 13 }, /* DE */
	{ "351", 351, "",  false,  9,  9 }, /* PT */
	{ "353", 353, "0", true,   7,  9 }, /* IE */
};

#define PHONE_DIGITS_MAX 24

/* The row whose calling code prefixes d[0..n) (calling codes are a prefix
 * code, so at most one matches), or NULL. */
static const struct country *country_by_prefix(const char *d, size_t n)
{
	for (size_t i = 0; i < sizeof(countries) / sizeof(countries[0]); i++) {
		size_t l = strlen(countries[i].cc);
		if (l <= n && memcmp(d, countries[i].cc, l) == 0)
			return &countries[i];
	}
	return NULL;
}

static const struct country *country_by_code(int cc)
{
	for (size_t i = 0; i < sizeof(countries) / sizeof(countries[0]); i++)
		if (countries[i].code == cc)
			return &countries[i];
	return NULL;
}

/* Write "+<cc><nat>" into out; VG_ERR_RANGE if it does not fit. */
static int put_e164(const char *cc, size_t ccn, const char *nat, size_t nn,
                    char *out, size_t outsz)
{
	if (1 + ccn + nn + 1 > outsz)
		return VG_ERR_RANGE;
	out[0] = '+';
	memcpy(out + 1, cc, ccn);
	memcpy(out + 1 + ccn, nat, nn);
	out[1 + ccn + nn] = '\0';
	return (int)(1 + ccn + nn);
}

/* The national significant number of a known country: cut a trunk prefix the
 * country drops, then check the length.  nat and nn are updated. */
static int national_ok(const struct country *c, const char **nat, size_t *nn)
{
	size_t tl = strlen(c->trunk);
	if (c->drop_trunk && tl && *nn > tl && memcmp(*nat, c->trunk, tl) == 0) {
		*nat += tl;
		*nn -= tl;
	}
	/* A national number of a trunk-dropping country never starts with the
	 * trunk prefix: a second one ("+49 0 030 …") is not a number, and
	 * accepting it would give one person two tokens (normalizing the
	 * output again would strip it). */
	if (c->drop_trunk && tl && *nn >= tl && memcmp(*nat, c->trunk, tl) == 0)
		return 0;
	if (*nn < c->min || *nn > c->max || strlen(c->cc) + *nn > 15)
		return 0;
	return 1;
}

static int norm_phone(const char *in, size_t len, int default_cc, char *out, size_t outsz,
                      char d[PHONE_DIGITS_MAX])
{
	const char *s = trim(in, &len);
	size_t nd = 0, i = 0;
	long paren0 = -1;   /* index in d of a "(0)" trunk digit */
	bool plus = false, in_paren = false;

	if (len == 0)
		return VG_ERR_INVAL;
	if (s[0] == '+') {
		plus = true;
		i = 1;
	}
	for (; i < len; i++) {
		char c = s[i];
		if (is_digit(c)) {
			if (nd >= PHONE_DIGITS_MAX)
				return VG_ERR_INVAL;
			d[nd++] = c;
		} else if (c == '(') {
			if (in_paren)
				return VG_ERR_INVAL;
			if (i + 2 < len && s[i + 1] == '0' && s[i + 2] == ')' && paren0 < 0) {
				if (nd >= PHONE_DIGITS_MAX)
					return VG_ERR_INVAL;
				paren0 = (long)nd;
				d[nd++] = '0';
				i += 2;
			} else {
				in_paren = true;
			}
		} else if (c == ')') {
			if (!in_paren)
				return VG_ERR_INVAL;
			in_paren = false;
		} else if (!(c == ' ' || c == '\t' || c == '-' || c == '.' || c == '/')) {
			return VG_ERR_INVAL;   /* letters, a second '+', anything else */
		}
	}
	if (in_paren || nd == 0)
		return VG_ERR_INVAL;

	const char *p = d;
	size_t np = nd;
	bool intl = plus;
	if (!plus && np >= 2 && p[0] == '0' && p[1] == '0') {
		intl = true;
		p += 2;
		np -= 2;
		paren0 -= 2;
	} else if (!plus && default_cc == 1 && np >= 3 && memcmp(p, "011", 3) == 0) {
		intl = true;   /* the NANP international prefix */
		p += 3;
		np -= 3;
		paren0 -= 3;
	}

	if (intl) {
		if (np == 0 || p[0] == '0')
			return VG_ERR_INVAL;
		const struct country *c = country_by_prefix(p, np);
		if (!c) {
			/* Unknown calling code: plain E.164 (8..15 digits). */
			if (paren0 >= 0 || np < 8 || np > 15)
				return VG_ERR_INVAL;
			return put_e164(p, np, "", 0, out, outsz);
		}
		size_t ccn = strlen(c->cc);
		char nat[PHONE_DIGITS_MAX];
		size_t nn = 0;
		for (size_t k = ccn; k < np; k++) {
			if ((long)k == paren0) {
				/* "+49 (0)30 …": the trunk 0 in parentheses is dropped,
				 * unless the country keeps it as part of the number. */
				if (strcmp(c->trunk, "0") == 0 && !c->drop_trunk)
					nat[nn++] = p[k];
				continue;
			}
			nat[nn++] = p[k];
		}
		if (paren0 >= 0 && (size_t)paren0 != ccn) {
			vg_wipe(nat, sizeof(nat));
			return VG_ERR_INVAL;   /* "(0)" anywhere but after the code */
		}
		const char *np_ = nat;
		int rc = national_ok(c, &np_, &nn) ? put_e164(c->cc, ccn, np_, nn, out, outsz)
		                                   : VG_ERR_INVAL;
		vg_wipe(nat, sizeof(nat));
		return rc;
	}

	/* A national number: the default calling code applies. */
	const struct country *c = country_by_code(default_cc);
	if (c) {
		if (!national_ok(c, &p, &np))
			return VG_ERR_INVAL;
		return put_e164(c->cc, strlen(c->cc), p, np, out, outsz);
	}
	if (default_cc <= 0 || default_cc > 999 || p[0] == '0')
		return VG_ERR_INVAL;   /* no calling code, or a trunk we do not know */
	char cc[12];
	int ccn = snprintf(cc, sizeof(cc), "%d", default_cc);
	if ((size_t)ccn + np < 8 || (size_t)ccn + np > 15)
		return VG_ERR_INVAL;
	return put_e164(cc, (size_t)ccn, p, np, out, outsz);
}

int vg_norm_phone(const char *in, size_t len, int default_cc, char *out, size_t outsz)
{
	if (!in || !out)
		return VG_ERR_INVAL;
	char d[PHONE_DIGITS_MAX];
	int rc = norm_phone(in, len, default_cc, out, outsz, d);
	vg_wipe(d, sizeof(d));
	if (rc < 0 && outsz)
		vg_wipe(out, outsz);
	return rc;
}

/* ---- card numbers --------------------------------------------------------- */

#define LEN(n) (1u << (n))
#define LENS(a, b) ((~0u >> (31 - (b))) & ~((1u << (a)) - 1u))

/* Issuer prefixes: the first `digits` digits in [lo, hi], with the allowed
 * total lengths as a bit set. */
static const struct scheme {
	unsigned lo, hi;
	unsigned char digits;
	uint32_t lengths;
} schemes[] = {
	{ 4, 4, 1, LEN(13) | LEN(16) | LEN(19) },        /* Visa */
	{ 51, 55, 2, LEN(16) },                            /* Mastercard */
	{ 2221, 2720, 4, LEN(16) },                        /* Mastercard 2-series */
	{ 34, 34, 2, LEN(15) },                            /* Amex */
	{ 37, 37, 2, LEN(15) },
	{ 6011, 6011, 4, LENS(16, 19) },                   /* Discover */
	{ 644, 649, 3, LENS(16, 19) },
	{ 65, 65, 2, LENS(16, 19) },
	{ 3528, 3589, 4, LENS(16, 19) },                   /* JCB */
	{ 36, 36, 2, LENS(14, 19) },                       /* Diners */
	{ 300, 305, 3, LENS(14, 19) },
	{ 38, 39, 2, LENS(14, 19) },
	{ 5018, 5018, 4, LENS(13, 19) },                   /* Maestro */
	{ 5020, 5020, 4, LENS(13, 19) },
	{ 5038, 5038, 4, LENS(13, 19) },
	{ 6304, 6304, 4, LENS(13, 19) },
	{ 6759, 6759, 4, LENS(13, 19) },
	{ 6761, 6763, 4, LENS(13, 19) },
	{ 62, 62, 2, LENS(16, 19) },                       /* UnionPay */
	{ 2200, 2204, 4, LEN(16) },                        /* Mir */
	{ 60, 60, 2, LEN(16) },                            /* RuPay */
	{ 81, 82, 2, LEN(16) },
	{ 508, 508, 3, LEN(16) },
	{ 506099, 506198, 6, LENS(16, 19) },               /* Verve */
	{ 650002, 650027, 6, LENS(16, 19) },
};

static bool luhn(const char *d, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)(d[n - 1 - i] - '0');
		if (i & 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

int vg_card_valid(const char *digits, size_t n)
{
	if (!digits || n < 13 || n > 19)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(digits[i]))
			return 0;
	return luhn(digits, n);
}

int vg_pan_valid(const char *digits, size_t n)
{
	if (!vg_card_valid(digits, n))
		return 0;
	bool scheme = false;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && !scheme; i++) {
		const struct scheme *sc = &schemes[i];
		unsigned pfx = 0;
		for (size_t k = 0; k < sc->digits; k++)
			pfx = pfx * 10 + (unsigned)(digits[k] - '0');
		if (pfx >= sc->lo && pfx <= sc->hi && (sc->lengths & LEN(n)))
			scheme = true;
	}
	return scheme;
}

/* ---- folding: the view of a string the text scanner matches on ------------ */

/* Strings shorter than this are folded on the stack (10 KiB of it). */
#define FOLD_STACK 2048

/* f[0..nf) is what the scanner reads; map[i] is the offset in the original of
 * the character that gave folded byte i, map[nf] the original's length (map
 * NULL: f is the original itself, pure ASCII).  Folded bytes of non-ASCII
 * letters are their own UTF-8 bytes; everything else folds to one ASCII byte
 * or to nothing (see pii.h), so nf ≤ the original's length. */
struct fold {
	const char *s;      /* the original */
	const char *f;
	size_t nf;
	const uint32_t *map;
	char *heap;
	uint32_t *heap_map;
	char sbuf[FOLD_STACK];
	uint32_t smap[FOLD_STACK + 1];
};

/* Non-ASCII punctuation, symbols and spaces fold to this byte: it is no
 * letter, digit, separator or glue to any matcher. */
#define FOLD_OTHER '\x01'

/* The code point at s[0..n) and its length in bytes, or 0 for a byte that
 * does not start a valid UTF-8 sequence. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
	    (len == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	*cp = v;
	return len;
}

enum fold_act { FOLD_SKIP, FOLD_BYTE, FOLD_KEEP };

/* What a non-ASCII code point folds to: nothing, one ASCII byte (*out), or
 * its own bytes (a letter, for the email matcher). */
static enum fold_act fold_cp(uint32_t cp, char *out)
{
	if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff ||
	    cp == 0x00ad)
		return FOLD_SKIP;   /* zero-width and format characters, soft hyphen */
	if (cp >= 0xff01 && cp <= 0xff5e) {
		*out = (char)(cp - 0xff01 + 0x21);   /* fullwidth forms */
		return FOLD_BYTE;
	}
	if (cp == 0x00a0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f || cp == 0x205f ||
	    cp == 0x3000)
		*out = ' ';
	else if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212)
		*out = '-';
	else if (cp == 0x3002 || cp == 0xff61)
		*out = '.';   /* ideographic full stops: IDNA label separators */
	else if (cp <= 0x00bf || cp == 0x00d7 || cp == 0x00f7 || (cp >= 0x2016 && cp <= 0x2bff) ||
	         (cp >= 0x3001 && cp <= 0x303f) || (cp >= 0xfe10 && cp <= 0xfe6f) ||
	         (cp >= 0xff5f && cp <= 0xff65) || (cp >= 0xfff0 && cp <= 0xffff) ||
	         (cp >= 0x1f000 && cp <= 0x1faff))
		*out = FOLD_OTHER;   /* punctuation, symbols, spaces, emoji */
	else
		return FOLD_KEEP;
	return FOLD_BYTE;
}

/* Fold s[0..n).  Returns VG_OK or VG_ERR_NOMEM; fold_free() in both cases. */
static int fold_init(struct fold *fd, const char *s, size_t n)
{
	fd->s = s;
	fd->f = s;
	fd->nf = n;
	fd->map = NULL;
	fd->heap = NULL;
	fd->heap_map = NULL;
	size_t i = 0;
	while (i < n && (unsigned char)s[i] < 0x80)
		i++;
	if (i == n)
		return VG_OK;   /* pure ASCII: the string is its own view */

	char *f = fd->sbuf;
	uint32_t *map = fd->smap;
	if (n >= FOLD_STACK) {
		if (n >= UINT32_MAX)
			return VG_ERR_NOMEM;   /* offsets are 32 bits; events are ≤ 64 KiB */
		fd->heap = cJSON_malloc(n + 1);
		fd->heap_map = cJSON_malloc((n + 1) * sizeof(uint32_t));
		if (!fd->heap || !fd->heap_map)
			return VG_ERR_NOMEM;
		f = fd->heap;
		map = fd->heap_map;
	}
	size_t o = 0;
	for (size_t k = 0; k < i; k++) {
		f[k] = s[k];
		map[k] = (uint32_t)k;
	}
	o = i;
	while (i < n) {
		const unsigned char *u = (const unsigned char *)s + i;
		if (u[0] < 0x80) {
			map[o] = (uint32_t)i;
			f[o++] = s[i++];
			continue;
		}
		uint32_t cp;
		size_t len = utf8_decode(u, n - i, &cp);
		if (len == 0) {
			map[o] = (uint32_t)i++;
			f[o++] = FOLD_OTHER;   /* not UTF-8 */
			continue;
		}
		char b;
		switch (fold_cp(cp, &b)) {
		case FOLD_SKIP:
			break;
		case FOLD_BYTE:
			map[o] = (uint32_t)i;
			f[o++] = b;
			break;
		case FOLD_KEEP:
			for (size_t k = 0; k < len; k++) {
				map[o] = (uint32_t)(i + k);
				f[o++] = s[i + k];
			}
			break;
		}
		i += len;
	}
	map[o] = (uint32_t)n;
	f[o] = '\0';
	fd->f = f;
	fd->nf = o;
	fd->map = map;
	return VG_OK;
}

static void fold_free(struct fold *fd)
{
	if (fd->map)
		vg_wipe((char *)fd->f, fd->nf);
	if (fd->heap) {
		vg_wipe(fd->heap, fd->nf);
		cJSON_free(fd->heap);
	}
	if (fd->heap_map)
		cJSON_free(fd->heap_map);
	fd->heap = NULL;
	fd->heap_map = NULL;
	fd->map = NULL;
}

/* The original offset of folded offset i (0..nf). */
static size_t fold_orig(const struct fold *fd, size_t i)
{
	return fd->map ? fd->map[i] : i;
}

/* ---- matchers on the folded view ------------------------------------------- */

#define PAN_MAX 19

static bool is_word(char c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

/* Boundaries are judged on the folded view, but only what was ASCII in the
 * original blocks a match (a fullwidth letter next to digits does not), and a
 * skipped zero-width character next to a match is a boundary as good as a
 * space: hiding a card behind one must not glue it to a word. */
static bool ascii_at(const struct fold *fd, size_t j)
{
	return !fd->map || (unsigned char)fd->s[fd->map[j]] < 0x80;
}

static bool word_at(const struct fold *fd, size_t j)
{
	return is_word(fd->f[j]) && ascii_at(fd, j);
}

/* An ASCII c in the original at folded j. */
static bool char_at(const struct fold *fd, size_t j, char c)
{
	return fd->f[j] == c && ascii_at(fd, j);
}

/* Whether the original skipped something between folded j and j + 1. */
static bool gap_after(const struct fold *fd, size_t j)
{
	if (!fd->map)
		return false;
	unsigned char c = (unsigned char)fd->s[fd->map[j]];
	size_t len = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	return fd->map[j + 1] > fd->map[j] + len;
}

/* May a card (card) or phone number start at f[a]?  Not after a letter,
 * digit or '_', nor (a phone) after '@'; not joined to one by '-', '.' or
 * '/' — but a card may follow a word of ASCII letters so joined
 * ("card-4111…", "mail@x.de/4111…"); a phone not after a digit and ','.  from is the end of the previous match (or
 * 0): what it was replaced by is no identifier, so it is a boundary. */
static bool left_ok(const struct fold *fd, size_t a, size_t from, bool card)
{
	if (a <= from || gap_after(fd, a - 1))
		return true;
	if (word_at(fd, a - 1) || (!card && char_at(fd, a - 1, '@')))
		return false;   /* "x@0151 2345678" is a domain, if anything */
	if (a - 1 <= from || gap_after(fd, a - 2) || !word_at(fd, a - 2))
		return true;
	if (char_at(fd, a - 1, '-') || char_at(fd, a - 1, '.') || char_at(fd, a - 1, '/')) {
		if (!card)
			return false;
		for (size_t k = a - 1; k > from && word_at(fd, k - 1); k--) {
			if (!is_alpha(fd->f[k - 1]))
				return false;   /* the word holds a digit or '_' */
			if (k > 1 && gap_after(fd, k - 2))
				break;          /* the word starts after a skipped character */
		}
		return true;
	}
	return card || !(char_at(fd, a - 1, ',') && is_digit(fd->f[a - 2]));
}

/* May a card (card) or phone number end before f[b]?  At eb, the start of
 * the following match, it may (what it is replaced by is no identifier).
 * Not before a letter,
 * digit or '_', nor (a phone) before '@', nor joined by '-' to one, nor by '.' or '/' to a digit, nor
 * (a phone) by ','. */
static bool right_ok(const struct fold *fd, size_t b, size_t eb, bool card)
{
	if (b >= fd->nf || b == eb || gap_after(fd, b - 1))
		return true;
	if (word_at(fd, b) || (!card && char_at(fd, b, '@')))
		return false;   /* "0151 2345678@x.de": the address is the match */
	if (b + 1 >= fd->nf || b + 1 == eb || gap_after(fd, b) || !word_at(fd, b + 1))
		return true;
	if (char_at(fd, b, '-'))
		return false;
	return !((char_at(fd, b, '.') || char_at(fd, b, '/') || (!card && char_at(fd, b, ','))) &&
	         is_digit(fd->f[b + 1]));
}

/* The longest card number starting with the digit run at f[p] and ending by
 * elim: groups joined by one space or dash, cut at a group end, 13–19 digits,
 * Luhn.  Its end, or 0; its digits in dig[0..*nd). */
static size_t card_at(const struct fold *fd, size_t p, size_t elim, char dig[PAN_MAX + 1],
                      size_t *nd)
{
	const char *f = fd->f;
	size_t nf = fd->nf;
	size_t q = p, cnt = 0, best = 0, best_end = 0;
	for (;;) {
		size_t r = q;
		while (r < nf && is_digit(f[r])) {
			if (cnt < PAN_MAX)
				dig[cnt] = f[r];
			cnt++;
			r++;
		}
		if (cnt > PAN_MAX)
			break;
		if (cnt >= 13 && r <= elim && luhn(dig, cnt) && right_ok(fd, r, elim, true)) {
			best = cnt;
			best_end = r;
		}
		if (r + 1 < nf && (f[r] == ' ' || f[r] == '-') && is_digit(f[r + 1]))
			q = r + 1;
		else
			break;
	}
	*nd = best;
	return best_end;
}

/* Digit groups of a phone number candidate, joined by 1–3 of " -./()". */
#define PH_GROUPS 12
#define PH_TEXT_MAX 64   /* PH_GROUPS groups of ≤ 17 digits in all, 11 separators of ≤ 3 */

struct groups {
	size_t n;
	size_t s[PH_GROUPS], e[PH_GROUPS];   /* group i is f[s[i]..e[i]) */
	size_t digits[PH_GROUPS];            /* digits in groups 0..i */
};

static bool is_phone_sep(char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')';
}

/* Groups from the digit at f[p] while the digits stay ≤ maxdig. */
static void collect_groups(const char *f, size_t nf, size_t p, size_t maxdig, struct groups *g)
{
	size_t tot = 0;
	g->n = 0;
	for (;;) {
		size_t r = p;
		while (r < nf && is_digit(f[r]))
			r++;
		tot += r - p;
		if (tot > maxdig)
			break;
		g->s[g->n] = p;
		g->e[g->n] = r;
		g->digits[g->n] = tot;
		if (++g->n == PH_GROUPS)
			break;
		size_t k = r;
		while (k < nf && k - r < 3 && is_phone_sep(f[k]))
			k++;
		if (k == r || k >= nf || !is_digit(f[k]))
			break;
		p = k;
	}
}

/* Normalize the phone text f[a..b) (parentheses other than a "(0)" read as
 * spaces) into norm.  Returns the length or a negative vg_err. */
static int phone_norm(const char *f, size_t a, size_t b, int cc, char *norm, size_t normsz)
{
	char t[PH_TEXT_MAX];
	size_t n = b - a;
	if (n > sizeof(t))
		return VG_ERR_INVAL;
	memcpy(t, f + a, n);
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '(' && i + 2 < n && t[i + 1] == '0' && t[i + 2] == ')')
			i += 2;
		else if (t[i] == '(' || t[i] == ')')
			t[i] = ' ';
	}
	int rc = vg_norm_phone(t, n, cc, norm, normsz);
	vg_wipe(t, sizeof(t));
	return rc;
}

#define NORM_PHONE_MAX 32

/* What a digit matcher found. */
enum match_kind { M_EMAIL, M_EMAIL_MARK, M_CARD, M_PHONE, M_PHONE_MARK };

struct match {
	enum match_kind kind;
	size_t s, e;                   /* folded f[s..e) */
	char dig[PAN_MAX + 1];         /* M_CARD: the digits */
	size_t nd;
	char norm[NORM_PHONE_MAX];     /* M_PHONE: E.164 */
	int nl;
};

/* m = the phone number f[a..e) if it normalizes. */
static bool phone_match(const char *f, size_t a, size_t e, int cc, struct match *m)
{
	int nl = phone_norm(f, a, e, cc, m->norm, sizeof(m->norm));
	if (nl <= 0)
		return false;
	m->kind = M_PHONE;
	m->nl = nl;
	m->s = a;
	m->e = e;
	return true;
}

/* An international number at f[a] ('+' then a digit, or "00"): the longest
 * prefix on a group end with 8–15 digits after the prefix that normalizes
 * (M_PHONE), else — for a '+', or a "00" before a digit 1–9 — the longest
 * such prefix (M_PHONE_MARK).  Returns whether m was filled. */
static bool phone_intl(const struct fold *fd, size_t a, size_t lim, size_t eb, int cc,
                       struct match *m)
{
	const char *f = fd->f;
	size_t nf = fd->nf;
	bool plus = f[a] == '+';
	size_t skip = plus ? 0 : 2;   /* digits of the "00" prefix */
	struct groups g;
	collect_groups(f, nf, plus ? a + 1 : a, 15 + skip, &g);
	size_t mark = 0;
	for (size_t i = g.n; i-- > 0;) {
		size_t d = g.digits[i] - skip;
		if (g.e[i] > lim || g.digits[i] < skip || d < 8 || d > 15 ||
		    !right_ok(fd, g.e[i], eb, false))
			continue;
		if (phone_match(f, a, g.e[i], cc, m))
			return true;
		if (!mark)
			mark = g.e[i];
	}
	/* "00" then a country code's first digit: as a '+'.  ("000123…" is a
	 * zero-padded number, not a call.) */
	if (mark && (plus || (a + 2 < nf && f[a + 2] >= '1' && f[a + 2] <= '9'))) {
		m->kind = M_PHONE_MARK;
		m->s = a;
		m->e = mark;
		return true;
	}
	return false;
}

/* Three groups joined by the same one '.', '/' or '-' that read as a date:
 * 1–2/1–2/4, 4/1–2/1–2, or 2/2/2 not followed by a fourth group joined the
 * same way (a French "06.12.34.56.78" is a phone). */
static bool date_shape(const char *f, const struct groups *g)
{
	if (g->n < 3 || g->s[1] != g->e[0] + 1 || g->s[2] != g->e[1] + 1)
		return false;
	char sep = f[g->e[0]];
	if (f[g->e[1]] != sep || !(sep == '.' || sep == '/' || sep == '-'))
		return false;
	size_t l0 = g->e[0] - g->s[0], l1 = g->e[1] - g->s[1], l2 = g->e[2] - g->s[2];
	if (l0 <= 2 && l1 <= 2 && l2 == 4)
		return true;
	if (l0 == 4 && l1 <= 2 && l2 <= 2)
		return true;
	return l0 == 2 && l1 == 2 && l2 == 2 &&
	       !(g->n > 3 && g->s[3] == g->e[2] + 1 && f[g->e[2]] == sep);
}

/* A national number of the default country at f[a] (a digit-run start, or a
 * '(' before one): see pii.h for the forms.  Longest first. */
static bool phone_national(const struct fold *fd, size_t a, size_t lim, size_t eb, int cc,
                           struct match *m)
{
	const char *f = fd->f;
	size_t nf = fd->nf;
	const struct country *c = country_by_code(cc);
	if (!c)
		return false;
	size_t p = f[a] == '(' ? a + 1 : a;
	if (p + 1 < nf && f[p] == '0' && f[p + 1] == '0')
		return false;   /* an international prefix */
	size_t tl = strlen(c->trunk);
	if (tl && f[p] != c->trunk[0] && !(c->code == 1 && f[p] >= '2'))
		return false;   /* no trunk prefix, and no (NXX) NXX-XXXX */
	struct groups g;
	collect_groups(f, nf, p, (size_t)c->max + tl, &g);
	if (g.n == 0 || date_shape(f, &g))
		return false;
	size_t l0 = g.e[0] - g.s[0];
	if (l0 == tl && g.n > 1 && f[g.e[0]] == '.')
		return false;   /* "0.151…": a decimal */
	bool trunk = tl && l0 >= tl && memcmp(f + p, c->trunk, tl) == 0;
	/* NANP without its trunk: (NXX) NXX-XXXX. */
	bool nanp = strcmp(c->cc, "1") == 0 && !trunk && g.n >= 3 && l0 == 3 &&
	            g.e[1] - g.s[1] == 3 && g.e[2] - g.s[2] == 4 && f[g.s[0]] >= '2' &&
	            f[g.s[1]] >= '2';
	if (tl && !trunk && !nanp)
		return false;
	for (size_t i = g.n; i-- > 0;) {
		if (g.e[i] > lim || (nanp && i != 2))
			continue;
		if (!tl && (i == 0 || g.digits[i] < c->min || g.digits[i] > c->max))
			continue;   /* no trunk prefix: the exact length, in groups */
		if (tl && i == 0 && strcmp(c->trunk, "0") != 0)
			continue;   /* a bare run only after a trunk 0 */
		if (!right_ok(fd, g.e[i], eb, false))
			continue;
		if (phone_match(f, a, g.e[i], cc, m))
			return true;
	}
	return false;
}

/* The start of the first card number at a digit run inside f(a..e), or 0. */
static size_t card_inside(const struct fold *fd, size_t a, size_t e, size_t from)
{
	const char *f = fd->f;
	char dig[PAN_MAX + 1];
	size_t nd, q;
	for (q = a + 1; q < e; q++)
		if (is_digit(f[q]) && !is_digit(f[q - 1]) && left_ok(fd, q, from, true) &&
		    card_at(fd, q, SIZE_MAX, dig, &nd))
			break;
	vg_wipe(dig, sizeof(dig));
	return q < e ? q : 0;
}

/* A phone number at f[p] (international or national) ending by elim that ends
 * before any
 * card number starting inside it: "0151 4111 1111 1111 1111" is a card after
 * "0151", and "+49 0 0151 4111 1111 1111 1111" a "+" number before one. */
static bool phone_at(const struct fold *fd, size_t p, size_t from, size_t elim, bool intl,
                     int cc, struct match *m)
{
	size_t lim = elim;
	for (;;) {
		if (!(intl ? phone_intl(fd, p, lim, elim, cc, m)
		           : phone_national(fd, p, lim, elim, cc, m)))
			return false;
		size_t q = card_inside(fd, p, m->e, from);
		if (!q)
			return true;
		lim = q - 1;   /* a prefix that ends before the card's separator */
	}
}

/* The first card or phone number starting in [from, limit) and ending by
 * elim, from being the end of the previous match and elim (unless SIZE_MAX)
 * the start of the next. */
static bool find_digits(const struct fold *fd, size_t from, size_t limit, size_t elim, int cc,
                        struct match *m)
{
	const char *f = fd->f;
	size_t nf = fd->nf;
	for (size_t p = from; p < nf && p < limit; p++) {
		char c = f[p];
		if (!is_digit(c)) {
			if ((c == '+' || c == '(') && p + 1 < nf && is_digit(f[p + 1]) &&
			    left_ok(fd, p, from, false) && phone_at(fd, p, from, elim, c == '+', cc, m))
				return true;
			continue;
		}
		if (p > 0 && is_digit(f[p - 1]))
			continue;   /* inside a run: a run is never split */
		size_t nd = 0, ce = 0;
		bool card = left_ok(fd, p, from, true);
		if (card)
			ce = card_at(fd, p, elim, m->dig, &nd);
		bool ph = false;
		bool intl = c == '0' && p + 1 < nf && f[p + 1] == '0';
		if (card && left_ok(fd, p, from, false))   /* what a phone may follow, a card may */
			ph = phone_at(fd, p, from, elim, intl, cc, m);
		/* The longer wins; on a tie a card, but not over a "00" number
		 * ("0049 1511 2345678" passes Luhn: the prefix says phone). */
		if (ce && (!ph || ce > m->e || (ce == m->e && !intl))) {
			m->kind = M_CARD;
			m->s = p;
			m->e = ce;
			m->nd = nd;
			return true;
		}
		if (ph)
			return true;
		while (p + 1 < nf && p + 1 < limit && is_digit(f[p + 1]))
			p++;
	}
	return false;
}

/* Letters of emails: ASCII letters and digits, and every byte ≥ 0x80 left
 * in the folded view (non-ASCII punctuation and spaces folded away). */
static bool is_email_alnum(char c)
{
	return is_alpha(c) || is_digit(c) || (unsigned char)c >= 0x80;
}

static bool is_local_char(char c)
{
	return is_email_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool is_domain_char(char c)
{
	return is_email_alnum(c) || c == '.' || c == '-';
}

/* A last label that is a top-level domain: ≥ 2 letters (ASCII, or non-ASCII
 * characters counted once each), or "xn--" and more. */
static bool is_tld(const char *t, size_t n)
{
	if (n > 4 && (t[0] == 'x' || t[0] == 'X') && (t[1] == 'n' || t[1] == 'N') && t[2] == '-' &&
	    t[3] == '-')
		return true;
	size_t letters = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)t[k];
		if (is_alpha((char)c) || c >= 0xc0)
			letters++;
		else if (c < 0x80)
			return false;   /* a digit or '-' */
	}
	return letters >= 2;
}

/* The next email address in f[from..nf): a local part (leading dots cut),
 * '@', dot-separated labels (trailing dots and dashes cut; an empty label
 * ends them), a TLD.  An
 * address joined by '@' to more text on either side ("a@b.de@c.com",
 * "x@a@b.com") is no address but holds one: the whole run is the match and
 * *chain is set. */
static bool find_email(const char *f, size_t nf, size_t from, size_t *es, size_t *ee, bool *chain)
{
	for (const char *at = memchr(f + from, '@', nf - from); at;
	     at = memchr(at + 1, '@', nf - (size_t)(at + 1 - f))) {
		size_t p = (size_t)(at - f);
		size_t l = p;
		while (l > from && is_local_char(f[l - 1]))
			l--;
		size_t l_run = l;   /* before the leading dots are cut */
		while (l < p && f[l] == '.')
			l++;
		if (l == p)
			continue;
		size_t r = p + 1;
		while (r < nf && is_domain_char(f[r]))
			r++;
		size_t r_run = r;   /* before the trailing dots and dashes are cut */
		while (r > p + 1 && (f[r - 1] == '.' || f[r - 1] == '-'))
			r--;
		size_t ds = p + 1;
		if (r == ds || f[ds] == '.' || f[ds] == '-')
			continue;
		/* An empty label ends the domain before it ("ana@example.com...",
		 * "…de..5"). */
		size_t dot = r, pdot = r;
		for (size_t k = ds; k < r; k++) {
			if (f[k] != '.')
				continue;
			if (f[k - 1] == '.') {
				r_run = r = k - 1;
				while (r > ds && f[r - 1] == '-')
					r--;
				dot = pdot;
				break;
			}
			pdot = dot;
			dot = k;
		}
		if (dot >= r)
			continue;
		bool bad = false;
		/* The top-level domain is letters of one script: what follows them
		 * in the same run ("ana@example.com2", "…com-7", "…com4111…",
		 * "…org،", "…com请回电") is not part of the address.  A last label
		 * that holds no TLD ends the address at the label before it, if
		 * that one is a TLD ("ana@x.de.5", "…de.4111…", "…de.0151 …"). */
		for (;;) {
			size_t te = dot + 1;
			bool ascii = is_alpha(f[te]);
			while (te < r && (ascii ? is_alpha(f[te]) : (unsigned char)f[te] >= 0x80))
				te++;
			bool xn = r - dot - 1 > 4 && (f[dot + 1] | 0x20) == 'x' && (f[dot + 2] | 0x20) == 'n' &&
			          f[dot + 3] == '-' && f[dot + 4] == '-';
			if (!xn && te > dot + 1 && te < r)
				r_run = r = te;
			if (is_tld(f + dot + 1, r - dot - 1))
				break;
			size_t prev = dot;
			while (prev > ds && f[prev - 1] != '.')
				prev--;
			if (prev == ds) {
				bad = true;
				break;
			}
			r_run = r = dot;
			while (r > prev && f[r - 1] == '-')
				r--;
			dot = prev - 1;
		}
		if (bad)
			continue;
		*chain = false;
		while (r_run < nf && f[r_run] == '@') {
			size_t t = r_run + 1;
			while (t < nf && is_domain_char(f[t]))
				t++;
			if (t == r_run + 1)
				break;
			r = r_run = t;
			*chain = true;
		}
		while (l_run > from && f[l_run - 1] == '@') {
			size_t t = l_run - 1;
			while (t > from && is_local_char(f[t - 1]))
				t--;
			if (t == l_run - 1)
				break;
			l = l_run = t;
			*chain = true;
		}
		if (*chain) {
			r = r_run;   /* the whole run, dots and dashes included */
			l = l_run;
		}
		*es = l;
		*ee = r;
		return true;
	}
	return false;
}

/* The matches of one folded string, in order, no two overlapping. */
struct scanner {
	const struct fold *fd;
	const char *f;
	size_t nf;
	int cc;
	int est, dst;   /* 0: search again, 1: found, 2: no more */
	size_t es, ee;
	bool echain;
	size_t dfrom;   /* the from of the digit search */
	struct match dm;
};

static void scanner_init(struct scanner *sc, const struct fold *fd, int cc)
{
	memset(sc, 0, sizeof(*sc));
	sc->fd = fd;
	sc->f = fd->f;
	sc->nf = fd->nf;
	sc->cc = cc;
}

static void scanner_wipe(struct scanner *sc)
{
	vg_wipe(&sc->dm, sizeof(sc->dm));
}

/* The next match starting at or after from (the end of the previous one): the
 * one that starts first; on a tie the email address (it holds the digits
 * whole); a phone number never overlaps the start of an address. */
static bool scanner_next(struct scanner *sc, size_t from, struct match *m)
{
	if (sc->est == 0 || (sc->est == 1 && sc->es < from))
		sc->est = find_email(sc->f, sc->nf, from, &sc->es, &sc->ee, &sc->echain) ? 1 : 2;
	if (sc->dst == 0 || (sc->dst == 1 && sc->dm.s < from)) {
		sc->dst = find_digits(sc->fd, from, SIZE_MAX, SIZE_MAX, sc->cc, &sc->dm) ? 1 : 2;
	} else if (from != sc->dfrom) {
		/* An email address ended at from: only a number starting at from
		 * or just after it sees the new boundary. */
		size_t limit = sc->dst == 1 && sc->dm.s < from + 2 ? sc->dm.s : from + 2;
		struct match t;
		if (find_digits(sc->fd, from, limit, SIZE_MAX, sc->cc, &t)) {
			sc->dm = t;
			sc->dst = 1;
		}
		vg_wipe(&t, sizeof(t));
	}
	sc->dfrom = from;
	bool email_first = sc->est == 1 && (sc->dst != 1 || sc->es <= sc->dm.s);
	bool overlap = sc->est == 1 && sc->dst == 1 && sc->dm.kind != M_CARD &&
	               sc->dm.s < sc->es && sc->dm.e > sc->es;
	size_t next = email_first || overlap ? sc->es : sc->dst == 1 ? sc->dm.s : SIZE_MAX;
	if (next != SIZE_MAX && next > from) {
		/* Before the next match, with its start as a boundary: a number
		 * glued to it ("0151 2345678/400+x@y.de", "0158 0 01,58 0 01447…"),
		 * or a phone number that ran into an address's local part ("…0/155.@
		 * x.de") cut before it.  A card number that runs into an address is
		 * kept whole instead ("4111 … 1111.ana@x.de"). */
		struct match t;
		bool found = find_digits(sc->fd, from, next, next, sc->cc, &t);
		if (found)
			*m = t;
		vg_wipe(&t, sizeof(t));
		if (overlap)
			sc->dst = 0;   /* the cached phone is void: search again later */
		if (found)
			return true;   /* the cached next match stays valid */
	}
	if (sc->est == 1 && (sc->dst != 1 || sc->es <= sc->dm.s)) {
		m->kind = sc->echain ? M_EMAIL_MARK : M_EMAIL;
		m->s = sc->es;
		m->e = sc->ee;
		sc->est = 0;
		return true;
	}
	if (sc->dst == 1) {
		*m = sc->dm;
		sc->dst = 0;
		return true;
	}
	return false;
}

/* ---- rewriting strings ------------------------------------------------------ */

/* A growing string in cJSON's allocator; old storage is wiped on growth. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = cJSON_malloc(cap);
		if (!np)
			return VG_ERR_NOMEM;
		if (b->p) {
			memcpy(np, b->p, b->len);
			vg_wipe(b->p, b->cap);
			cJSON_free(b->p);
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return VG_OK;
}

static void sb_wipe_free(struct sbuf *b)
{
	if (b->p) {
		vg_wipe(b->p, b->cap);
		cJSON_free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Swap a string item's value for the owned buffer nv (cJSON allocator); the old
 * value is wiped and freed. */
static void swap_valuestring(cJSON *item, char *nv)
{
	char *old = item->valuestring;
	item->valuestring = nv;
	if (item->type & cJSON_IsReference) {
		item->type &= ~cJSON_IsReference;   /* not ours: leave it, own the new one */
		return;
	}
	if (old) {
		vg_wipe(old, strlen(old));
		cJSON_free(old);
	}
}

/* Replace a string item's value by a copy of v[0..n). */
static int replace_string(cJSON *item, const char *v, size_t n)
{
	char *nv = cJSON_malloc(n + 1);
	if (!nv)
		return VG_ERR_NOMEM;
	memcpy(nv, v, n);
	nv[n] = '\0';
	swap_valuestring(item, nv);
	return VG_OK;
}

/* "card-<last4>:<pan token>" of dig[0..nd) into rep.  Length or vg_err. */
#define CARD_REP_MAX (5 + 4 + 1 + VG_TOKEN_MAX)
static int card_replacement(const struct vg_key *key, const char *dig, size_t nd,
                            char rep[CARD_REP_MAX])
{
	char tok[VG_TOKEN_MAX];
	int tl = vg_token_make(key, VG_TK_PAN, dig, nd, tok);
	if (tl < 0)
		return tl;
	int rl = snprintf(rep, CARD_REP_MAX, "card-%.4s:%s", dig + nd - 4, tok);
	vg_wipe(tok, sizeof(tok));
	return rl;
}

/* The email token of the folded address f[s..e) into tok. */
static int email_token(const struct vg_key *key, const char *a, size_t n, char tok[VG_TOKEN_MAX])
{
	char stack[320];
	char *norm = n < sizeof(stack) ? stack : cJSON_malloc(n + 1);
	if (!norm)
		return VG_ERR_NOMEM;
	int nl = vg_norm_email(a, n, norm, n + 1);
	int rc = nl < 0 ? nl : vg_token_make(key, VG_TK_EMAIL, norm, (size_t)nl, tok);
	vg_wipe(norm, n + 1);
	if (norm != stack)
		cJSON_free(norm);
	return rc;
}

#define PHONE_MARK "[phone]"
#define EMAIL_MARK "[email]"

/* Emails, phones and cards in one string item → their tokens. */
static int scrub_string(cJSON *item, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	const char *s = item->valuestring;
	if (!s)
		return VG_OK;
	size_t n = strlen(s);
	struct fold fd;
	int rc = fold_init(&fd, s, n);
	if (rc != VG_OK) {
		fold_free(&fd);
		return rc;
	}
	struct scanner sc;
	scanner_init(&sc, &fd, ctx->default_cc);
	struct match m;
	struct sbuf b = { 0 };
	size_t copied = 0;   /* folded offset */
	unsigned emails = 0, phones = 0, marks = 0, email_marks = 0, cards = 0;
	char rep[CARD_REP_MAX];

	while (scanner_next(&sc, copied, &m)) {
		int rl;
		if (m.kind == M_EMAIL) {
			rl = email_token(ctx->key, fd.f + m.s, m.e - m.s, rep);
			if (rl == VG_ERR_INVAL) {
				copied = m.e;   /* not reached: find_email yields valid addresses */
				continue;
			}
			emails++;
		} else if (m.kind == M_CARD) {
			rl = card_replacement(ctx->key, m.dig, m.nd, rep);
			cards++;
		} else if (m.kind == M_PHONE) {
			rl = vg_token_make(ctx->key, VG_TK_PHONE, m.norm, (size_t)m.nl, rep);
			phones++;
		} else {
			const char *mark = m.kind == M_PHONE_MARK ? PHONE_MARK : EMAIL_MARK;
			rl = (int)strlen(mark);
			memcpy(rep, mark, (size_t)rl + 1);
			if (m.kind == M_PHONE_MARK)
				marks++;
			else
				email_marks++;
		}
		if (rl < 0) {
			rc = rl;
			goto out;
		}
		size_t o0 = fold_orig(&fd, copied), o1 = fold_orig(&fd, m.s);
		if ((rc = sb_put(&b, s + o0, o1 - o0)) != VG_OK ||
		    (rc = sb_put(&b, rep, (size_t)rl)) != VG_OK)
			goto out;
		copied = m.e;
	}
	if (b.p) {
		size_t o0 = fold_orig(&fd, copied);
		if ((rc = sb_put(&b, s + o0, n - o0)) != VG_OK)
			goto out;
		swap_valuestring(item, b.p);
		b.p = NULL;
		st->emails_in_text += emails;
		st->phones_in_text += phones;
		st->phones_dropped += marks;
		st->emails_dropped += email_marks;
		st->cards_masked += cards;
	}
out:
	sb_wipe_free(&b);
	vg_wipe(&m, sizeof(m));
	vg_wipe(rep, sizeof(rep));
	scanner_wipe(&sc);
	fold_free(&fd);
	return rc;
}

int vg_pii_scrub_text(cJSON *item, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	struct vg_pii_stats dummy = { 0 };
	if (!item || !ctx || !ctx->key)
		return VG_ERR_INVAL;
	if (!cJSON_IsString(item))
		return VG_OK;
	return scrub_string(item, ctx, st ? st : &dummy);
}

int vg_pii_in_identifier(const char *s, size_t n, int default_cc, const char **what)
{
	static const char *const names[] = {
		[M_EMAIL] = "email", [M_EMAIL_MARK] = "email", [M_CARD] = "card",
		[M_PHONE] = "phone", [M_PHONE_MARK] = "phone",
	};
	if (what)
		*what = NULL;
	if (!s || n == 0)
		return 0;
	struct fold fd;
	int rc = fold_init(&fd, s, n);
	if (rc == VG_OK) {
		struct scanner sc;
		struct match m;
		scanner_init(&sc, &fd, default_cc);
		if (scanner_next(&sc, 0, &m)) {
			if (what)
				*what = names[m.kind];
			rc = 1;
		}
		vg_wipe(&m, sizeof(m));
		scanner_wipe(&sc);
	}
	fold_free(&fd);
	return rc;
}

/* Every string value in the tree under node (its children, not node itself). */
static int scan_children(cJSON *node, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	for (cJSON *it = node->child; it; it = it->next) {
		int rc = VG_OK;
		if (cJSON_IsString(it))
			rc = scrub_string(it, ctx, st);
		else if (cJSON_IsArray(it) || cJSON_IsObject(it))
			rc = scan_children(it, ctx, st);
		if (rc != VG_OK)
			return rc;
	}
	return VG_OK;
}

/* ---- classes ---------------------------------------------------------------- */

void vg_pii_policy_default(struct vg_pii_policy *p)
{
	if (!p)
		return;
	p->email = VG_POL_TOKEN;
	p->phone = VG_POL_TOKEN;
	p->customer_id = VG_POL_KEEP;
	p->loyalty_id = VG_POL_KEEP;
	p->member_code = VG_POL_KEEP;
	p->payment_customer_id = VG_POL_TOKEN;
}

/* How a class is applied. */
enum field_class {
	FC_TEXT,    /* scanned */
	FC_ID,      /* left alone */
	FC_DROP,    /* name, address, birth date */
	FC_CARD,    /* masked or dropped */
	FC_EMAIL,   /* these three: normalized, then per policy */
	FC_PHONE,
	FC_IDENT,
};

struct class_info {
	const char *name;
	enum field_class fc;
	enum vg_token_kind kind;   /* FC_EMAIL, FC_PHONE, FC_IDENT */
	size_t policy;             /* offset in struct vg_pii_policy: the same three */
};

#define POLICY(f) offsetof(struct vg_pii_policy, f)

static const struct class_info classes[VG_PII__COUNT] = {
	[VG_PII_TEXT] = { "text", FC_TEXT, VG_TK__COUNT, 0 },
	[VG_PII_ID] = { "id", FC_ID, VG_TK__COUNT, 0 },
	[VG_PII_EMAIL] = { "email", FC_EMAIL, VG_TK_EMAIL, POLICY(email) },
	[VG_PII_PHONE] = { "phone", FC_PHONE, VG_TK_PHONE, POLICY(phone) },
	[VG_PII_NAME] = { "name", FC_DROP, VG_TK__COUNT, 0 },
	[VG_PII_ADDRESS] = { "address", FC_DROP, VG_TK__COUNT, 0 },
	[VG_PII_BIRTH_DATE] = { "birth_date", FC_DROP, VG_TK__COUNT, 0 },
	[VG_PII_CARD] = { "card", FC_CARD, VG_TK_PAN, 0 },
	[VG_PII_CUSTOMER_ID] = { "customer_id", FC_IDENT, VG_TK_CUSTOMER, POLICY(customer_id) },
	[VG_PII_LOYALTY_ID] = { "loyalty_id", FC_IDENT, VG_TK_LOYALTY, POLICY(loyalty_id) },
	[VG_PII_MEMBER_CODE] = { "member_code", FC_IDENT, VG_TK_MEMBER, POLICY(member_code) },
	[VG_PII_PAYMENT_CUSTOMER_ID] = { "payment_customer_id", FC_IDENT, VG_TK_PAYCUST,
	                                 POLICY(payment_customer_id) },
};

const char *vg_pii_class_name(enum vg_pii_class c)
{
	if ((int)c < 0 || c >= VG_PII__COUNT)
		return NULL;
	return classes[c].name;
}

int vg_pii_class_parse(const char *name)
{
	for (int i = 0; name && i < VG_PII__COUNT; i++)
		if (strcmp(name, classes[i].name) == 0)
			return i;
	return -1;
}

static bool has_policy(const struct class_info *ci)
{
	return ci->fc == FC_EMAIL || ci->fc == FC_PHONE || ci->fc == FC_IDENT;
}

/* The person field named name: one of the six classes with a policy. */
static const struct class_info *person_field(const char *name)
{
	int c = vg_pii_class_parse(name);
	return c >= 0 && has_policy(&classes[c]) ? &classes[c] : NULL;
}

static enum vg_policy policy_of(const struct class_info *ci, const struct vg_pii_ctx *ctx)
{
	return *(const enum vg_policy *)((const char *)&ctx->policy + ci->policy);
}

static void drop_item(cJSON *parent, cJSON *item)
{
	cJSON_DetachItemViaPointer(parent, item);
	vg_json_wipe_delete(item);
}

static void count_dropped(const struct class_info *ci, struct vg_pii_stats *st)
{
	if (ci && ci->fc == FC_EMAIL)
		st->emails_dropped++;
	else if (ci && ci->fc == FC_PHONE)
		st->phones_dropped++;
	else
		st->fields_dropped++;
}

/* One string field of a class with a policy: normalize, then token / sha256 /
 * keep, or drop.  Returns VG_OK, 1 (dropped) or a vg_err. */
static int apply_policy(cJSON *parent, cJSON *it, const struct class_info *ci,
                        const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	enum vg_policy pol = policy_of(ci, ctx);
	if (pol == VG_POL_DROP) {
		drop_item(parent, it);
		return 1;
	}
	if (!cJSON_IsString(it) || !it->valuestring) {
		drop_item(parent, it);
		count_dropped(ci, st);
		return 1;
	}

	size_t len = strlen(it->valuestring);
	size_t cap = len + 2 > 32 ? len + 2 : 32;   /* a phone may grow by its '+' and code */
	char *norm = cJSON_malloc(cap);
	if (!norm)
		return VG_ERR_NOMEM;
	int nl;
	if (ci->fc == FC_EMAIL)
		nl = vg_norm_email(it->valuestring, len, norm, cap);
	else if (ci->fc == FC_PHONE)
		nl = vg_norm_phone(it->valuestring, len, ctx->default_cc, norm, cap);
	else
		nl = vg_norm_ident(it->valuestring, len, norm, cap);

	int rc = VG_OK;
	if (nl < 0) {
		drop_item(parent, it);
		count_dropped(ci, st);
		rc = 1;
	} else if (pol == VG_POL_TOKEN) {
		char tok[VG_TOKEN_MAX];
		int tl = vg_token_make(ctx->key, ci->kind, norm, (size_t)nl, tok);
		rc = tl < 0 ? tl : replace_string(it, tok, (size_t)tl);
		vg_wipe(tok, sizeof(tok));
	} else if (pol == VG_POL_SHA256) {
		uint8_t h[32];
		char hex[65];
		vg_sha256(norm, (size_t)nl, h);
		vg_hex(h, sizeof(h), hex);
		rc = replace_string(it, hex, 64);
		vg_wipe(h, sizeof(h));
		vg_wipe(hex, sizeof(hex));
	} else {
		/* keep: the normalized form.  System identifiers are still free
		 * text to the scanner (a card number in a customer_id is masked);
		 * a kept email or phone is what the tenant asked to keep. */
		rc = replace_string(it, norm, (size_t)nl);
		if (rc == VG_OK && ci->fc == FC_IDENT)
			rc = scrub_string(it, ctx, st);
	}
	vg_wipe(norm, cap);
	cJSON_free(norm);
	return rc;
}

/* A `card` field: "card-<last4>:<pan token>", or dropped. */
static int apply_card(cJSON *parent, cJSON *it, const struct vg_pii_ctx *ctx,
                      struct vg_pii_stats *st)
{
	const char *s = it->valuestring;
	size_t n = strlen(s);
	struct fold fd;
	int rc = fold_init(&fd, s, n);
	char dig[PAN_MAX + 1], rep[CARD_REP_MAX];
	size_t nd = 0;
	bool ok = rc == VG_OK;
	if (ok) {
		size_t len = fd.nf;
		const char *t = trim(fd.f, &len);
		for (size_t i = 0; ok && i < len; i++) {
			if (!is_digit(t[i]))
				ok = t[i] == ' ' || t[i] == '-' || t[i] == '.';
			else if (nd < PAN_MAX)
				dig[nd++] = t[i];
			else
				ok = false;   /* more than 19 digits */
		}
		ok = ok && vg_card_valid(dig, nd);
	}
	if (ok) {
		int rl = card_replacement(ctx->key, dig, nd, rep);
		rc = rl < 0 ? rl : replace_string(it, rep, (size_t)rl);
		if (rc == VG_OK)
			st->cards_masked++;
	} else if (rc == VG_OK) {
		drop_item(parent, it);
		st->fields_dropped++;
		rc = 1;
	}
	vg_wipe(dig, sizeof(dig));
	vg_wipe(rep, sizeof(rep));
	fold_free(&fd);
	return rc;
}

/* A JSON number becomes the string of its integer value.  VG_ERR_INVAL if it
 * is not an integer exactly representable in a double. */
static int number_to_string(cJSON *it)
{
	double x = it->valuedouble;
	if (!(x > -9007199254740992.0 && x < 9007199254740992.0) || (double)(long long)x != x)
		return VG_ERR_INVAL;
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", (long long)x);
	char *v = cJSON_malloc((size_t)n + 1);
	if (!v) {
		vg_wipe(buf, sizeof(buf));
		return VG_ERR_NOMEM;
	}
	memcpy(v, buf, (size_t)n + 1);
	vg_wipe(buf, sizeof(buf));
	it->type = cJSON_String | (it->type & cJSON_StringIsConst);
	it->valuestring = v;
	it->valuedouble = 0;
	it->valueint = 0;
	return VG_OK;
}

int vg_pii_apply(cJSON *parent, cJSON *item, enum vg_pii_class cls, const struct vg_pii_ctx *ctx,
                 struct vg_pii_stats *st)
{
	struct vg_pii_stats dummy = { 0 };
	if (!parent || !item || !ctx || !ctx->key || (int)cls < 0 || cls >= VG_PII__COUNT)
		return VG_ERR_INVAL;
	if (!st)
		st = &dummy;
	const struct class_info *ci = &classes[cls];

	if (ci->fc == FC_ID || cJSON_IsBool(item) || cJSON_IsNull(item))
		return VG_OK;
	if (ci->fc == FC_TEXT) {
		if (cJSON_IsString(item))
			return scrub_string(item, ctx, st);
		if (cJSON_IsArray(item) || cJSON_IsObject(item))
			return scan_children(item, ctx, st);
		return VG_OK;
	}
	if (has_policy(ci) && policy_of(ci, ctx) == VG_POL_DROP) {
		drop_item(parent, item);   /* by policy: not counted */
		return 1;
	}
	if (ci->fc == FC_DROP || !(cJSON_IsString(item) || cJSON_IsNumber(item)) ||
	    (cJSON_IsString(item) && !item->valuestring)) {
		drop_item(parent, item);
		st->fields_dropped++;
		return 1;
	}
	if (cJSON_IsNumber(item)) {
		int rc = number_to_string(item);
		if (rc == VG_ERR_INVAL) {
			drop_item(parent, item);
			st->fields_dropped++;
			return 1;
		}
		if (rc != VG_OK)
			return rc;
	}
	if (ci->fc == FC_CARD)
		return apply_card(parent, item, ctx, st);
	return apply_policy(parent, item, ci, ctx, st);
}

/* ---- stored forms and identity tokens --------------------------------------- */

/* 1 if s is "v<digits>.<kind>.<22 base64url chars>". */
int vg_token_is(const char *s, const char *kind)
{
	if (s[0] != 'v' || s[1] < '0' || s[1] > '9')
		return 0;
	s++;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s++ != '.')
		return 0;
	size_t kl = strlen(kind);
	if (strncmp(s, kind, kl) != 0 || s[kl] != '.')
		return 0;
	s += kl + 1;
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return n == 22;
}

/* 1 if s is 64 lowercase hex digits (the "sha256" policy). */
int vg_sha256_hex_is(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

int vg_pii_stored_form(const char *field, const char *value)
{
	const struct class_info *f = person_field(field);
	if (!f)
		return 0;
	if (vg_token_is(value, vg_token_kind_name(f->kind)))
		return 1;
	return vg_sha256_hex_is(value) ? 2 : 0;
}

int vg_pii_identity_token(const struct vg_key *key, const char *field, const char *raw, size_t len,
                          int default_cc, char tok[VG_TOKEN_MAX], char *norm, size_t normsz)
{
	const struct class_info *f = field ? person_field(field) : NULL;
	if (!f || !key || !raw)
		return VG_ERR_INVAL;
	char buf[256];
	int nl;
	if (f->fc == FC_EMAIL)
		nl = vg_norm_email(raw, len, buf, sizeof(buf));
	else if (f->fc == FC_PHONE)
		nl = vg_norm_phone(raw, len, default_cc, buf, sizeof(buf));
	else
		nl = vg_norm_ident(raw, len, buf, sizeof(buf));
	int rc = nl < 0 ? VG_ERR_INVAL : vg_token_make(key, f->kind, buf, (size_t)nl, tok);
	if (rc >= 0 && norm)
		snprintf(norm, normsz, "%.*s", nl, buf);
	vg_wipe(buf, sizeof(buf));
	return rc;
}

/* ---- the event -------------------------------------------------------------- */

static int scrub_person(cJSON *person, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	cJSON *next;
	for (cJSON *it = person->child; it; it = next) {
		next = it->next;
		const struct class_info *f = it->string ? person_field(it->string) : NULL;
		if (!f) {
			drop_item(person, it);   /* name, birth date, address, unknown */
			st->fields_dropped++;
			continue;
		}
		int rc = apply_policy(person, it, f, ctx, st);
		if (rc < 0)
			return rc;
	}
	return VG_OK;
}

int vg_pii_scrub_event(cJSON *event, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	struct vg_pii_stats dummy = { 0 };
	if (!event || !ctx || !ctx->key || !cJSON_IsObject(event))
		return VG_ERR_INVAL;
	if (!st)
		st = &dummy;

	cJSON *next;
	for (cJSON *it = event->child; it; it = next) {
		next = it->next;
		int rc;
		if (it->string && strcmp(it->string, "person") == 0) {
			if (!cJSON_IsObject(it)) {
				drop_item(event, it);
				st->fields_dropped++;
				continue;
			}
			rc = scrub_person(it, ctx, st);
		} else if (cJSON_IsString(it)) {
			rc = scrub_string(it, ctx, st);
		} else if (cJSON_IsArray(it) || cJSON_IsObject(it)) {
			rc = scan_children(it, ctx, st);
		} else {
			rc = VG_OK;
		}
		if (rc != VG_OK)
			return rc;
	}
	return VG_OK;
}

/* ---- wiping --------------------------------------------------------------- */

static void wipe_chain(cJSON *it)
{
	for (; it; it = it->next) {
		if (it->child && !(it->type & cJSON_IsReference))
			wipe_chain(it->child);
		if (it->valuestring && !(it->type & cJSON_IsReference))
			vg_wipe(it->valuestring, strlen(it->valuestring));
		if (it->string && !(it->type & cJSON_StringIsConst))
			vg_wipe(it->string, strlen(it->string));
		it->valuedouble = 0;
		it->valueint = 0;
	}
}

void vg_json_wipe_delete(cJSON *item)
{
	if (!item)
		return;
	wipe_chain(item);   /* cJSON_Delete frees item and its next siblings */
	cJSON_Delete(item);
}
