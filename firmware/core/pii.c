/* venuegw — personal data: normalization, tokens, and scrubbing an event
 * (DESIGN.md §5).  See pii.h.
 *
 * Every buffer here that holds a raw value (an input copy, a normalized form,
 * a rebuilt free-text string, the string a replacement frees) is wiped with
 * vg_wipe() before it is freed or goes out of scope. */
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
	const char *trunk;
	bool drop_trunk;
	unsigned char min, max;
};

static const struct country countries[] = {
	{ "1",   "1", true,  10, 10 }, /* US, CA (NANP) */
	{ "31",  "0", true,   9,  9 }, /* NL */
	{ "32",  "0", true,   8,  9 }, /* BE */
	{ "33",  "0", true,   9,  9 }, /* FR */
	{ "34",  "",  false,  9,  9 }, /* ES */
	{ "39",  "0", false,  6, 11 }, /* IT: the leading 0 is part of the number */
	{ "41",  "0", true,   9,  9 }, /* CH */
	{ "43",  "0", true,   5, 13 }, /* AT */
	{ "44",  "0", true,   7, 10 }, /* GB */
	{ "45",  "",  false,  8,  8 }, /* DK */
	{ "46",  "0", true,   7,  9 }, /* SE */
	{ "48",  "",  false,  9,  9 }, /* PL */
	{ "49",  "0", true,   6, 13 }, /* DE */
	{ "351", "",  false,  9,  9 }, /* PT */
	{ "353", "0", true,   7,  9 }, /* IE */
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
	char buf[12];
	if (cc <= 0 || cc > 999)
		return NULL;
	snprintf(buf, sizeof(buf), "%d", cc);
	for (size_t i = 0; i < sizeof(countries) / sizeof(countries[0]); i++)
		if (strcmp(countries[i].cc, buf) == 0)
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

int vg_pan_valid(const char *digits, size_t n)
{
	if (!digits || n < 13 || n > 19)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(digits[i]))
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
	return scheme && luhn(digits, n);
}

/* ---- finding card numbers and email addresses in text --------------------- */

#define PAN_MAX 19

/* The next card number in s[from..n): digit groups joined by single spaces or
 * dashes, starting and ending at group boundaries (a digit run is never
 * split), 13–19 digits, vg_pan_valid().  For a given start the longest match
 * wins.  On success the span is [*cs, *ce) and its digits are in dig[0..*nd). */
static bool find_card(const char *s, size_t n, size_t from, size_t *cs, size_t *ce,
                      char dig[PAN_MAX + 1], size_t *nd)
{
	size_t p = from;
	if (p > 0)   /* a run that began before from is not ours to split */
		while (p < n && is_digit(s[p]) && is_digit(s[p - 1]))
			p++;
	while (p < n) {
		if (!is_digit(s[p])) {
			p++;
			continue;
		}
		size_t q = p, cnt = 0, best = 0, best_end = 0;
		for (;;) {
			size_t r = q;
			while (r < n && is_digit(s[r])) {
				if (cnt < PAN_MAX + 1)
					dig[cnt] = s[r];
				cnt++;
				r++;
			}
			if (cnt > PAN_MAX)
				break;
			if (cnt >= 13 && vg_pan_valid(dig, cnt)) {
				best = cnt;
				best_end = r;
			}
			if (r + 1 < n && (s[r] == ' ' || s[r] == '-') && is_digit(s[r + 1]))
				q = r + 1;
			else
				break;
		}
		if (best) {
			*cs = p;
			*ce = best_end;
			*nd = best;
			return true;
		}
		while (p < n && is_digit(s[p]))
			p++;
	}
	return false;
}

static bool is_local_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
	       c == '-';
}

static bool is_domain_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '.' || c == '-';
}

/* The next email address in s[from..n): a local part of [A-Za-z0-9._%+-]
 * (leading dots cut), '@', a domain of dot-separated labels of [A-Za-z0-9-]
 * whose last label is at least two letters (trailing dots and dashes cut). */
static bool find_email(const char *s, size_t n, size_t from, size_t *es, size_t *ee)
{
	for (size_t p = from; p < n; p++) {
		if (s[p] != '@')
			continue;
		size_t l = p;
		while (l > from && is_local_char(s[l - 1]))
			l--;
		while (l < p && s[l] == '.')
			l++;
		if (l == p)
			continue;
		size_t r = p + 1;
		while (r < n && is_domain_char(s[r]))
			r++;
		while (r > p + 1 && (s[r - 1] == '.' || s[r - 1] == '-'))
			r--;
		size_t ds = p + 1;
		if (r == ds || s[ds] == '.' || s[ds] == '-')
			continue;
		size_t dot = r;
		bool bad = false;
		for (size_t k = ds; k < r; k++) {
			if (s[k] == '.') {
				if (s[k - 1] == '.')
					bad = true;
				dot = k;
			}
		}
		if (bad || dot == r || r - dot - 1 < 2)
			continue;
		for (size_t k = dot + 1; k < r; k++)
			if (!is_alpha(s[k]))
				bad = true;
		if (bad)
			continue;
		*es = l;
		*ee = r;
		return true;
	}
	return false;
}

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

/* Card numbers → "card-<last4>:<pan token>", email addresses → their email
 * token, in one string item.  Replacements are not scanned again. */
static int scrub_text(cJSON *item, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	const char *s = item->valuestring;
	if (!s)
		return VG_OK;
	size_t n = strlen(s);
	struct sbuf b = { 0 };
	size_t from = 0, copied = 0;
	size_t es = 0, ee = 0, cs = 0, ce = 0, nd = 0;
	int est = 0, cst = 0;   /* 0: search again, 1: found, 2: no more */
	char dig[PAN_MAX + 1];
	char tok[VG_TOKEN_MAX];
	char *norm = NULL;
	unsigned cards = 0, emails = 0;
	int rc = VG_OK;

	for (;;) {
		if (est == 0 || (est == 1 && es < from))
			est = find_email(s, n, from, &es, &ee) ? 1 : 2;
		if (cst == 0 || (cst == 1 && cs < from))
			cst = find_card(s, n, from, &cs, &ce, dig, &nd) ? 1 : 2;
		if (est == 2 && cst == 2)
			break;
		/* The match that starts first wins; on a tie the email address
		 * (it holds the digits whole, so no part of a number is left). */
		if (cst == 1 && (est == 2 || cs < es)) {
			char rep[5 + 4 + 1 + VG_TOKEN_MAX];
			int tl = vg_token_make(ctx->key, VG_TK_PAN, dig, nd, tok);
			if (tl < 0) {
				rc = tl;
				goto out;
			}
			int rl = snprintf(rep, sizeof(rep), "card-%.4s:%s", dig + nd - 4, tok);
			if ((rc = sb_put(&b, s + copied, cs - copied)) != VG_OK ||
			    (rc = sb_put(&b, rep, (size_t)rl)) != VG_OK) {
				vg_wipe(rep, sizeof(rep));
				goto out;
			}
			vg_wipe(rep, sizeof(rep));
			copied = from = ce;
			cst = 0;
			cards++;
		} else {
			size_t sl = ee - es;
			norm = cJSON_malloc(sl + 1);
			if (!norm) {
				rc = VG_ERR_NOMEM;
				goto out;
			}
			int nl = vg_norm_email(s + es, sl, norm, sl + 1);
			if (nl < 0) {
				/* Not reached: find_email only yields valid addresses. */
				vg_wipe(norm, sl + 1);
				cJSON_free(norm);
				norm = NULL;
				from = ee;
				est = 0;
				continue;
			}
			int tl = vg_token_make(ctx->key, VG_TK_EMAIL, norm, (size_t)nl, tok);
			vg_wipe(norm, sl + 1);
			cJSON_free(norm);
			norm = NULL;
			if (tl < 0) {
				rc = tl;
				goto out;
			}
			if ((rc = sb_put(&b, s + copied, es - copied)) != VG_OK ||
			    (rc = sb_put(&b, tok, (size_t)tl)) != VG_OK)
				goto out;
			copied = from = ee;
			est = 0;
			emails++;
		}
	}
	if (b.p) {
		if ((rc = sb_put(&b, s + copied, n - copied)) != VG_OK)
			goto out;
		swap_valuestring(item, b.p);
		b.p = NULL;
		st->cards_masked += cards;
		st->emails_in_text += emails;
	}
out:
	sb_wipe_free(&b);
	vg_wipe(dig, sizeof(dig));
	vg_wipe(tok, sizeof(tok));
	return rc;
}

/* Every string value in the tree under node (its children, not node itself). */
static int scan_children(cJSON *node, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	for (cJSON *it = node->child; it; it = it->next) {
		int rc = VG_OK;
		if (cJSON_IsString(it))
			rc = scrub_text(it, ctx, st);
		else if (cJSON_IsArray(it) || cJSON_IsObject(it))
			rc = scan_children(it, ctx, st);
		if (rc != VG_OK)
			return rc;
	}
	return VG_OK;
}

/* ---- person --------------------------------------------------------------- */

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

enum field_class { FC_EMAIL, FC_PHONE, FC_IDENT };

struct person_field {
	const char *name;
	enum field_class cls;
	enum vg_token_kind kind;
	size_t policy;   /* offset in struct vg_pii_policy */
};

static const struct person_field person_fields[] = {
	{ "email", FC_EMAIL, VG_TK_EMAIL, offsetof(struct vg_pii_policy, email) },
	{ "phone", FC_PHONE, VG_TK_PHONE, offsetof(struct vg_pii_policy, phone) },
	{ "customer_id", FC_IDENT, VG_TK_CUSTOMER, offsetof(struct vg_pii_policy, customer_id) },
	{ "loyalty_id", FC_IDENT, VG_TK_LOYALTY, offsetof(struct vg_pii_policy, loyalty_id) },
	{ "member_code", FC_IDENT, VG_TK_MEMBER, offsetof(struct vg_pii_policy, member_code) },
	{ "payment_customer_id", FC_IDENT, VG_TK_PAYCUST,
	  offsetof(struct vg_pii_policy, payment_customer_id) },
};

static void drop_item(cJSON *parent, cJSON *item)
{
	cJSON_DetachItemViaPointer(parent, item);
	vg_json_wipe_delete(item);
}

static void count_dropped(const struct person_field *f, struct vg_pii_stats *st)
{
	if (!f)
		st->fields_dropped++;
	else if (f->cls == FC_EMAIL)
		st->emails_dropped++;
	else if (f->cls == FC_PHONE)
		st->phones_dropped++;
	else
		st->fields_dropped++;
}

/* One person field: normalize, then token / sha256 / keep, or drop. */
static int scrub_person_field(cJSON *person, cJSON *it, const struct person_field *f,
                              const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	enum vg_policy pol = *(const enum vg_policy *)((const char *)&ctx->policy + f->policy);
	if (pol == VG_POL_DROP) {
		drop_item(person, it);
		return VG_OK;
	}
	if (!cJSON_IsString(it) || !it->valuestring) {
		drop_item(person, it);
		count_dropped(f, st);
		return VG_OK;
	}

	size_t len = strlen(it->valuestring);
	size_t cap = len + 2 > 32 ? len + 2 : 32;   /* a phone may grow by its '+' and code */
	char *norm = cJSON_malloc(cap);
	if (!norm)
		return VG_ERR_NOMEM;
	int nl;
	if (f->cls == FC_EMAIL)
		nl = vg_norm_email(it->valuestring, len, norm, cap);
	else if (f->cls == FC_PHONE)
		nl = vg_norm_phone(it->valuestring, len, ctx->default_cc, norm, cap);
	else
		nl = vg_norm_ident(it->valuestring, len, norm, cap);

	int rc = VG_OK;
	if (nl < 0) {
		drop_item(person, it);
		count_dropped(f, st);
	} else if (pol == VG_POL_TOKEN) {
		char tok[VG_TOKEN_MAX];
		int tl = vg_token_make(ctx->key, f->kind, norm, (size_t)nl, tok);
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
		if (rc == VG_OK && f->cls == FC_IDENT)
			rc = scrub_text(it, ctx, st);
	}
	vg_wipe(norm, cap);
	cJSON_free(norm);
	return rc;
}

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
	for (size_t i = 0; i < sizeof(person_fields) / sizeof(person_fields[0]); i++)
		if (strcmp(field, person_fields[i].name) == 0) {
			if (vg_token_is(value, vg_token_kind_name(person_fields[i].kind)))
				return 1;
			return vg_sha256_hex_is(value) ? 2 : 0;
		}
	return 0;
}

int vg_pii_identity_token(const struct vg_key *key, const char *field, const char *raw, size_t len,
                          int default_cc, char tok[VG_TOKEN_MAX], char *norm, size_t normsz)
{
	const struct person_field *f = NULL;
	for (size_t i = 0; field && i < sizeof(person_fields) / sizeof(person_fields[0]); i++)
		if (strcmp(field, person_fields[i].name) == 0)
			f = &person_fields[i];
	if (!f || !key || !raw)
		return VG_ERR_INVAL;
	char buf[256];
	int nl;
	if (f->cls == FC_EMAIL)
		nl = vg_norm_email(raw, len, buf, sizeof(buf));
	else if (f->cls == FC_PHONE)
		nl = vg_norm_phone(raw, len, default_cc, buf, sizeof(buf));
	else
		nl = vg_norm_ident(raw, len, buf, sizeof(buf));
	int rc = nl < 0 ? VG_ERR_INVAL : vg_token_make(key, f->kind, buf, (size_t)nl, tok);
	if (rc >= 0 && norm)
		snprintf(norm, normsz, "%.*s", nl, buf);
	vg_wipe(buf, sizeof(buf));
	return rc;
}

static int scrub_person(cJSON *person, const struct vg_pii_ctx *ctx, struct vg_pii_stats *st)
{
	cJSON *next;
	for (cJSON *it = person->child; it; it = next) {
		next = it->next;
		const struct person_field *f = NULL;
		for (size_t i = 0; it->string && i < sizeof(person_fields) / sizeof(person_fields[0]); i++)
			if (strcmp(it->string, person_fields[i].name) == 0)
				f = &person_fields[i];
		if (!f) {
			drop_item(person, it);   /* name, birth date, address, unknown */
			st->fields_dropped++;
			continue;
		}
		int rc = scrub_person_field(person, it, f, ctx, st);
		if (rc != VG_OK)
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
			rc = scrub_text(it, ctx, st);
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
