/* venuegw — the support bundle's last filter (see redact.h). */
#include "redact.h"

#include <string.h>

#include "pii.h"

/* Where the filtered text goes: written while it fits in cap - 1 bytes,
 * counted always (as snprintf does). */
struct sink {
	char *p;
	size_t n, cap;
};

static void put(struct sink *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (o->n + i + 1 < o->cap)
			o->p[o->n + i] = s[i];
	o->n += n;
}

static int is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A token "v<digits>.<kind>.<22 base64url>" at p: its length, else 0. */
static size_t token_at(const char *p, const char *end)
{
	static const char *const kinds[] = { "em", "ph", "cu", "lo", "mc", "pc", "pan" };
	const char *q = p;
	if (q >= end || *q++ != 'v' || q >= end || !is_digit(*q))
		return 0;
	while (q < end && is_digit(*q))
		q++;
	if (q >= end || *q++ != '.')
		return 0;
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		size_t kl = strlen(kinds[k]);
		if ((size_t)(end - q) > kl + 22 && memcmp(q, kinds[k], kl) == 0 && q[kl] == '.') {
			const char *t = q + kl + 1;
			size_t n = 0;
			while (t + n < end && is_b64url(t[n]))
				n++;
			if (n >= 22)
				return (size_t)(t + 22 - p);
		}
	}
	return 0;
}

static int email_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || strchr("._%+-", c);
}

size_t vg_redact(const char *text, size_t len, char *out, size_t outsz)
{
	struct sink o = { .p = out, .cap = outsz };
	const char *p = text, *end = text + len;
	/* text[copied..p) went out as it is: an email's local part is taken back
	 * from there (a replacement before it ends in ']', no email character). */
	const char *copied = text;
	while (p < end) {
		size_t n;
		if ((p == text || !is_b64url(p[-1])) && (n = token_at(p, end))) {
			put(&o, "[token]", 7);
			p += n;
			copied = p;
			continue;
		}
		if (*p == '@' && p > copied && email_char(p[-1])) {
			size_t l = 0;
			while (p - l > copied && email_char(p[-l - 1]))
				l++;
			const char *d = p + 1;
			size_t dn = 0, dots = 0;
			while (d + dn < end && (email_char(d[dn]) && d[dn] != '+' && d[dn] != '%')) {
				dots += d[dn] == '.';
				dn++;
			}
			if (dn && dots) {
				o.n -= l;
				put(&o, "[email]", 7);
				p = d + dn;
				copied = p;
				continue;
			}
		}
		if ((*p == '+' && p + 1 < end && is_digit(p[1])) || (is_digit(*p) && (p == text || !is_digit(p[-1])))) {
			/* digits with single spaces or dashes between them */
			char dig[40];
			size_t nd = 0;
			const char *q = *p == '+' ? p + 1 : p;
			const char *last = q;
			while (q < end && nd < sizeof dig) {
				if (is_digit(*q)) {
					dig[nd++] = *q++;
					last = q;
				} else if ((*q == ' ' || *q == '-') && q + 1 < end && is_digit(q[1]) && nd) {
					q++;
				} else {
					break;
				}
			}
			int phone = *p == '+' && nd >= 8 && nd <= 15;
			/* contiguous digits or groups: a card if it passes the checks */
			int card = !phone && nd >= 13 && nd <= 19 && vg_card_valid(dig, nd);
			if (phone || card) {
				put(&o, phone ? "[phone]" : "[card]", phone ? 7 : 6);
				p = last;
				copied = p;
				continue;
			}
		}
		put(&o, p, 1);
		p++;
	}
	if (outsz)
		out[o.n < outsz ? o.n : outsz - 1] = '\0';
	return o.n;
}
