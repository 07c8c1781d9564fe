/* venuegw — token keys (DESIGN.md §5).  See keys.h.
 *
 * Error messages name the file and line and say what is wrong; they never
 * quote the line, so no key material can reach a log. */
#include "keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"

#define KEYFILE_MAX (64 * 1024)
#define VERSION_MAX 999999u

static void seterr(char *err, size_t errsz, const char *name, size_t line,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "name:line: <fmt>" into err (line 0: "name: <fmt>"). */
static void seterr(char *err, size_t errsz, const char *name, size_t line,
                   const char *fmt, ...)
{
	if (!err || errsz == 0)
		return;
	int n;
	if (line)
		n = snprintf(err, errsz, "%s:%zu: ", name ? name : "keys", line);
	else
		n = snprintf(err, errsz, "%s: ", name ? name : "keys");
	if (n < 0 || (size_t)n >= errsz)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errsz - (size_t)n, fmt, ap);
	va_end(ap);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n decimal digits at s → *out.  Returns 0, or -1. */
static int fixed_digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil).  Needs no time zone and no timegm(). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(int y, int m)
{
	static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* Parse "YYYY-MM-DDTHH:MM[:SS[.fff…]](Z|±HH:MM|±HHMM|±HH)" in s[0..n) into
 * Unix seconds.  The offset is required.  Returns 0, or -1. */
static int parse_iso8601(const char *s, size_t n, int64_t *out)
{
	int y, mo, d, h, mi, sec = 0;
	size_t i = 0;
	if (n < 16 || fixed_digits(s, 4, &y) || s[4] != '-' || fixed_digits(s + 5, 2, &mo) ||
	    s[7] != '-' || fixed_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    fixed_digits(s + 11, 2, &h) || s[13] != ':' || fixed_digits(s + 14, 2, &mi))
		return -1;
	i = 16;
	if (i < n && s[i] == ':') {
		if (i + 3 > n || fixed_digits(s + i + 1, 2, &sec))
			return -1;
		i += 3;
		if (i < n && (s[i] == '.' || s[i] == ',')) {
			size_t j = i + 1;
			while (j < n && is_digit(s[j]))
				j++;
			if (j == i + 1)
				return -1;
			i = j;   /* fractions of a second are dropped */
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	int64_t off = 0;
	if (i >= n)
		return -1;   /* no offset */
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
		off = 0;
	} else if (s[i] == '+' || s[i] == '-') {
		int oh, om = 0;
		size_t r = n - i - 1;
		const char *o = s + i + 1;
		if (r == 2) {
			if (fixed_digits(o, 2, &oh))
				return -1;
		} else if (r == 4) {
			if (fixed_digits(o, 2, &oh) || fixed_digits(o + 2, 2, &om))
				return -1;
		} else if (r == 5) {
			if (fixed_digits(o, 2, &oh) || o[2] != ':' || fixed_digits(o + 3, 2, &om))
				return -1;
		} else {
			return -1;
		}
		if (oh > 23 || om > 59)
			return -1;
		off = (int64_t)oh * 3600 + om * 60;
		if (s[i] == '-')
			off = -off;
	} else {
		return -1;
	}
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + (int64_t)h * 3600 +
	       (int64_t)mi * 60 + sec - off;
	return 0;
}

/* Split off the next whitespace-separated field of line[*pos..end). */
static int next_field(const char *line, size_t end, size_t *pos, size_t *fs, size_t *fn)
{
	size_t p = *pos;
	while (p < end && is_space(line[p]))
		p++;
	if (p >= end)
		return 0;
	*fs = p;
	while (p < end && !is_space(line[p]))
		p++;
	*fn = p - *fs;
	*pos = p;
	return 1;
}

/* Parse one non-blank line (comment already cut off) into *k.
 * Returns NULL, or a description of what is wrong (never quoting input). */
static const char *parse_line(const char *s, size_t n, struct vg_key *k)
{
	size_t pos = 0, fs, fn;
	memset(k, 0, sizeof(*k));

	if (!next_field(s, n, &pos, &fs, &fn))
		return "empty line";   /* not reached: blank lines are skipped */
	if (fn > 6)
		return "key version must be 1..999999";
	unsigned v = 0;
	for (size_t i = 0; i < fn; i++) {
		if (!is_digit(s[fs + i]))
			return "key version must be a number 1..999999";
		v = v * 10 + (unsigned)(s[fs + i] - '0');
	}
	if (v < 1 || v > VERSION_MAX)
		return "key version must be 1..999999";
	k->version = v;

	if (!next_field(s, n, &pos, &fs, &fn))
		return "missing key (64 hex digits)";
	if (fn != 64)
		return "key must be exactly 64 hex digits (32 bytes)";
	for (size_t i = 0; i < 32; i++) {
		int hi = vg_hexval(s[fs + 2 * i]), lo = vg_hexval(s[fs + 2 * i + 1]);
		if (hi < 0 || lo < 0) {
			vg_wipe(k->bytes, sizeof(k->bytes));
			return "key must be exactly 64 hex digits (32 bytes)";
		}
		k->bytes[i] = (uint8_t)(hi << 4 | lo);
	}

	if (next_field(s, n, &pos, &fs, &fn)) {
		static const char pfx[] = "activate_at=";
		const size_t pl = sizeof(pfx) - 1;
		if (fn < pl || memcmp(s + fs, pfx, pl) != 0) {
			vg_wipe(k->bytes, sizeof(k->bytes));
			return "unexpected field after the key (only activate_at=<ISO 8601> is allowed)";
		}
		if (parse_iso8601(s + fs + pl, fn - pl, &k->activate_at) != 0) {
			vg_wipe(k->bytes, sizeof(k->bytes));
			return "activate_at must be an ISO 8601 time with an offset "
			       "(e.g. 2026-01-01T00:00:00Z)";
		}
		if (next_field(s, n, &pos, &fs, &fn)) {
			vg_wipe(k->bytes, sizeof(k->bytes));
			return "unexpected field after activate_at";
		}
	}
	return NULL;
}

int vg_keyring_parse(struct vg_keyring *kr, const char *text, size_t len,
                     const char *name, char *err, size_t errsz)
{
	if (err && errsz)
		err[0] = '\0';
	if (!kr)
		return VG_ERR_INVAL;
	vg_keyring_wipe(kr);
	if (!text && len) {
		seterr(err, errsz, name, 0, "no text");
		return VG_ERR_CONFIG;
	}

	size_t lineno = 0, p = 0;
	struct vg_key k;
	while (p < len) {
		size_t s = p, e = p;
		while (e < len && text[e] != '\n')
			e++;
		p = e < len ? e + 1 : e;
		lineno++;

		size_t cut = s;
		while (cut < e && text[cut] != '#')
			cut++;
		size_t a = s, b = cut;
		while (a < b && is_space(text[a]))
			a++;
		while (b > a && is_space(text[b - 1]))
			b--;
		if (a == b)
			continue;

		const char *why = parse_line(text + a, b - a, &k);
		if (why) {
			seterr(err, errsz, name, lineno, "%s", why);
			goto fail;
		}
		for (size_t i = 0; i < kr->n; i++) {
			if (kr->keys[i].version == k.version) {
				seterr(err, errsz, name, lineno, "duplicate key version %u", k.version);
				goto fail;
			}
		}
		if (kr->n >= VG_KEYRING_MAX) {
			seterr(err, errsz, name, lineno, "too many keys (at most %d)", VG_KEYRING_MAX);
			goto fail;
		}
		/* Insert in version order. */
		size_t at = kr->n;
		while (at > 0 && kr->keys[at - 1].version > k.version) {
			kr->keys[at] = kr->keys[at - 1];
			at--;
		}
		kr->keys[at] = k;
		kr->n++;
		vg_wipe(&k, sizeof(k));
	}
	if (kr->n == 0) {
		seterr(err, errsz, name, 0, "no keys");
		return VG_ERR_CONFIG;
	}
	return VG_OK;
fail:
	vg_wipe(&k, sizeof(k));
	vg_keyring_wipe(kr);
	return VG_ERR_CONFIG;
}

int vg_keyring_load(struct vg_keyring *kr, const char *path, char *err, size_t errsz)
{
	if (err && errsz)
		err[0] = '\0';
	if (!kr || !path)
		return VG_ERR_INVAL;
	vg_keyring_wipe(kr);

	FILE *f = fopen(path, "rb");
	if (!f) {
		seterr(err, errsz, path, 0, "cannot open: %s", strerror(errno));
		return VG_ERR_IO;
	}
	char *buf = malloc(KEYFILE_MAX + 1);
	if (!buf) {
		fclose(f);
		seterr(err, errsz, path, 0, "out of memory");
		return VG_ERR_NOMEM;
	}
	size_t n = fread(buf, 1, KEYFILE_MAX + 1, f);
	int rc;
	if (ferror(f)) {
		seterr(err, errsz, path, 0, "cannot read: %s", strerror(errno));
		rc = VG_ERR_IO;
	} else if (n > KEYFILE_MAX) {
		seterr(err, errsz, path, 0, "larger than 64 KiB");
		rc = VG_ERR_CONFIG;
	} else {
		rc = vg_keyring_parse(kr, buf, n, path, err, errsz);
	}
	fclose(f);
	vg_wipe(buf, KEYFILE_MAX + 1);
	free(buf);
	return rc;
}

static int active(const struct vg_key *k, int64_t now)
{
	return k->activate_at == 0 || k->activate_at <= now;
}

const struct vg_key *vg_keyring_current(const struct vg_keyring *kr, int64_t now)
{
	if (!kr)
		return NULL;
	for (size_t i = kr->n; i > 0; i--)
		if (active(&kr->keys[i - 1], now))
			return &kr->keys[i - 1];
	return NULL;
}

const struct vg_key *vg_keyring_previous(const struct vg_keyring *kr, int64_t now)
{
	const struct vg_key *cur = vg_keyring_current(kr, now);
	if (!cur)
		return NULL;
	for (size_t i = (size_t)(cur - kr->keys); i > 0; i--)
		if (active(&kr->keys[i - 1], now))
			return &kr->keys[i - 1];
	return NULL;
}

void vg_keyring_wipe(struct vg_keyring *kr)
{
	if (!kr)
		return;
	vg_wipe(kr, sizeof(*kr));
	kr->n = 0;
	vg_hmac_forget();
}
