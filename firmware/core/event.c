/* venuegw — decoding device events and computing their keys (DESIGN.md §4).
 *
 * vg_event_decode checks a payload in this order, cheapest and safest first:
 *   1. size            ≤ VG_EVENT_MAX_BYTES                    → too_large
 *   2. UTF-8           well-formed, shortest form, no surrogates,
 *                      ≤ U+10FFFF, no NUL byte                  → bad_utf8
 *   3. pre-scan        nesting ≤ VG_EVENT_MAX_DEPTH, counted over the
 *                      bytes outside strings; no "\u0000" escape → too_deep /
 *                                                                  bad_utf8
 *   4. cJSON           one JSON value, then only whitespace     → bad_json
 *   5. top level       an object                                → not_object
 * Step 3 runs before cJSON so that deep input never makes cJSON recurse.
 * Every detail text is a fixed English string: input bytes never reach it.
 */
#include "event.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"

static const char *const reject_names[VG_REJ__COUNT] = {
	[VG_REJ_NONE] = "none",
	[VG_REJ_TOO_LARGE] = "too_large",
	[VG_REJ_BAD_UTF8] = "bad_utf8",
	[VG_REJ_BAD_JSON] = "bad_json",
	[VG_REJ_NOT_OBJECT] = "not_object",
	[VG_REJ_TOO_DEEP] = "too_deep",
	[VG_REJ_BAD_FIELD] = "bad_field",
	[VG_REJ_UNKNOWN_TYPE] = "unknown_type",
	[VG_REJ_CONTRACT] = "contract",
	[VG_REJ_BAD_TIME] = "bad_time",
	[VG_REJ_DEVICE_MISMATCH] = "device_mismatch",
	[VG_REJ_BAD_TOPIC] = "bad_topic",
	[VG_REJ_TOO_LARGE_WIRE] = "too_large_wire",
	[VG_REJ_PII_IN_IDENTIFIER] = "pii_in_identifier",
	[VG_REJ_UNDECLARED] = "undeclared_field",
};

const char *vg_reject_name(enum vg_reject_reason r)
{
	if ((int)r < 0 || r >= VG_REJ__COUNT || reject_names[r] == NULL)
		return "unknown";
	return reject_names[r];
}

/* Fill rej (which may be NULL).  detail must be a fixed string. */
static void reject(struct vg_reject *rej, enum vg_reject_reason reason, long offset,
                   const char *detail)
{
	if (rej == NULL)
		return;
	size_t n = strlen(detail);
	if (n >= sizeof(rej->detail))
		n = sizeof(rej->detail) - 1;
	rej->reason = reason;
	rej->offset = offset;
	rej->field[0] = '\0';
	memcpy(rej->detail, detail, n);
	rej->detail[n] = '\0';
}

/* The offset of the first byte of the first ill-formed UTF-8 sequence (or
 * NUL byte) in p[0..len), or -1 when all is well.  Follows the table of
 * well-formed byte sequences in Unicode §3.9 (Table 3-7), which excludes
 * overlong forms, surrogates and code points above U+10FFFF. */
static long utf8_invalid_at(const uint8_t *p, size_t len, const char **why)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = p[i];
		if (c == 0) {
			*why = "NUL byte";
			return (long)i;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;      /* overlong */
			else if (c == 0xED)
				hi = 0x9F;      /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;      /* overlong */
			else if (c == 0xF4)
				hi = 0x8F;      /* above U+10FFFF */
		} else {
			*why = c < 0xC0 ? "unexpected continuation byte"
			     : c < 0xC2 ? "overlong encoding" : "byte never valid in UTF-8";
			return (long)i;
		}
		if (len - i <= need) {
			*why = "truncated UTF-8 sequence";
			return (long)i;
		}
		if (p[i + 1] < lo || p[i + 1] > hi) {
			*why = (c == 0xE0 || c == 0xF0) && p[i + 1] >= 0x80 && p[i + 1] < lo
			     ? "overlong encoding"
			     : c == 0xED && p[i + 1] > hi && p[i + 1] <= 0xBF
			     ? "UTF-16 surrogate encoded in UTF-8"
			     : c == 0xF4 && p[i + 1] > hi && p[i + 1] <= 0xBF
			     ? "code point above U+10FFFF" : "invalid UTF-8 continuation byte";
			return (long)i;
		}
		for (size_t k = 2; k <= need; k++) {
			if (p[i + k] < 0x80 || p[i + k] > 0xBF) {
				*why = "invalid UTF-8 continuation byte";
				return (long)i;
			}
		}
		i += need + 1;
	}
	return -1;
}

/* One bounded pass over the bytes, tracking whether we are inside a string
 * (and after a backslash), so that brackets in strings do not count.
 * Rejects nesting over VG_EVENT_MAX_DEPTH (offset of the bracket that goes
 * too deep) and the escape "\u0000", which cJSON would decode into a NUL
 * that silently cuts keys and values short.  Unbalanced brackets and other
 * syntax errors are left to cJSON.  Returns VG_OK or VG_ERR_INVAL. */
static int prescan(const uint8_t *p, size_t len, struct vg_reject *rej)
{
	int depth = 0, in_string = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (in_string) {
			if (c == '\\') {
				if (i + 5 < len && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0) {
					reject(rej, VG_REJ_BAD_UTF8, (long)i,
					       "escaped NUL (\\u0000) in a string");
					return VG_ERR_INVAL;
				}
				i++; /* skip the escaped character */
			} else if (c == '"') {
				in_string = 0;
			}
			continue;
		}
		if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > VG_EVENT_MAX_DEPTH) {
				reject(rej, VG_REJ_TOO_DEEP, (long)i,
				       "objects and arrays nested more than 16 deep");
				return VG_ERR_INVAL;
			}
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return VG_OK;
}

static int is_json_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 if any object in the tree repeats a member name, 0 if none, -1 on out of
 * memory.  cJSON keeps both members and lookups find the first, while the
 * CDP's parser may take the last: such input is refused, not guessed at.
 * Sorting the names keeps this O(n log n) for objects of many members. */
static int has_duplicate_member(const cJSON *item)
{
	if (cJSON_IsObject(item)) {
		size_t n = 0;
		for (const cJSON *c = item->child; c; c = c->next)
			n++;
		if (n > 1) {
			const char **names = malloc(n * sizeof *names);
			if (!names)
				return -1;
			size_t i = 0;
			for (const cJSON *c = item->child; c; c = c->next)
				names[i++] = c->string;
			qsort(names, n, sizeof *names, cmp_name);
			int dup = 0;
			for (i = 1; i < n && !dup; i++)
				dup = strcmp(names[i - 1], names[i]) == 0;
			free(names);
			if (dup)
				return 1;
		}
	}
	for (const cJSON *c = item->child; c; c = c->next) {
		int r = has_duplicate_member(c);
		if (r)
			return r;
	}
	return 0;
}

int vg_json_exact_numbers(cJSON *tree)
{
	for (cJSON *it = tree; it; it = it->next) {
		if (it->child) {
			int rc = vg_json_exact_numbers(it->child);
			if (rc)
				return rc;
		}
		if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
			continue;
		double d = it->valuedouble;
		if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d)
			continue;   /* an integer of at most 15 digits prints exactly */
		char buf[40];
		snprintf(buf, sizeof buf, "%1.15g", d);
		if (strtod(buf, NULL) == d)
			continue;
		if (fabs(d) <= 9007199254740992.0 && d == (double)(int64_t)d) { /* the range first: no cast out of it */
			snprintf(buf, sizeof buf, "%lld", (long long)d);
		} else {
			snprintf(buf, sizeof buf, "%1.16g", d);   /* the shortest that reads back */
			if (strtod(buf, NULL) != d)
				snprintf(buf, sizeof buf, "%1.17g", d);
		}
		size_t n = strlen(buf) + 1;
		char *raw = cJSON_malloc(n);
		if (!raw)
			return VG_ERR_NOMEM;
		memcpy(raw, buf, n);
		it->type = cJSON_Raw | (it->type & cJSON_StringIsConst);
		it->valuestring = raw;
	}
	return VG_OK;
}

int vg_event_decode(const void *buf, size_t len, cJSON **out, struct vg_reject *rej)
{
	const uint8_t *p = buf;
	const char *why = NULL;
	const char *end = NULL;
	cJSON *root;
	long at;

	*out = NULL;
	if (rej != NULL)
		reject(rej, VG_REJ_NONE, -1, "");
	if (len > VG_EVENT_MAX_BYTES) {
		reject(rej, VG_REJ_TOO_LARGE, -1, "payload larger than 65536 bytes");
		return VG_ERR_INVAL;
	}
	if (p == NULL || len == 0) {
		reject(rej, VG_REJ_BAD_JSON, 0, "empty payload");
		return VG_ERR_INVAL;
	}
	at = utf8_invalid_at(p, len, &why);
	if (at >= 0) {
		reject(rej, VG_REJ_BAD_UTF8, at, why);
		return VG_ERR_INVAL;
	}
	if (prescan(p, len, rej) != VG_OK)
		return VG_ERR_INVAL;

	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (root == NULL) {
		at = end != NULL && end >= (const char *)buf && end <= (const char *)buf + len
		   ? (long)(end - (const char *)buf) : -1;
		reject(rej, VG_REJ_BAD_JSON, at, "malformed JSON");
		return VG_ERR_INVAL;
	}
	/* cJSON stops after the value: anything but whitespace after it is
	 * trailing garbage. */
	at = (long)(end - (const char *)buf);
	while ((size_t)at < len && is_json_space(p[at]))
		at++;
	if ((size_t)at < len) {
		cJSON_Delete(root);
		reject(rej, VG_REJ_BAD_JSON, at, "data after the JSON value");
		return VG_ERR_INVAL;
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		at = 0;
		if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
			at = 3; /* cJSON skips a byte order mark */
		while ((size_t)at < len && is_json_space(p[at]))
			at++;
		reject(rej, VG_REJ_NOT_OBJECT, at, "top level is not a JSON object");
		return VG_ERR_INVAL;
	}
	int dup = has_duplicate_member(root);
	if (dup) {
		cJSON_Delete(root);
		reject(rej, VG_REJ_BAD_JSON, -1,
		       dup < 0 ? "out of memory checking member names" : "an object repeats a member name");
		return dup < 0 ? VG_ERR_NOMEM : VG_ERR_INVAL;
	}
	*out = root;
	return VG_OK;
}

void vg_event_key(const char *venue_id, const char *device_id, const char *kind,
                  const void *value, size_t value_len, char out[VG_EVENT_KEY_LEN + 1])
{
	struct vg_lphash h;
	uint8_t d[32];

	vg_lphash_start(&h);
	vg_lphash_add_str(&h, "venuegw-event-v1");
	vg_lphash_add_str(&h, venue_id);
	vg_lphash_add_str(&h, device_id);
	vg_lphash_add_str(&h, kind);
	vg_lphash_add(&h, value, value_len);
	vg_lphash_finish(&h, d);
	vg_b64url(d, 16, out);
	vg_wipe(d, sizeof(d));
}

/* ---- time ---------------------------------------------------------------- */

/* H. Hinnant, "chrono-Compatible Low-Level Date Algorithms". */
int64_t vg_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of vg_days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Exactly n ASCII digits at s into *v.  Stops at the first non-digit, so it
 * never reads past a NUL.  Returns 0 on success, -1 otherwise. */
static int digits(const char *s, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 0;
}

int vg_time_parse(const char *s, int64_t *epoch_ms, int *has_offset)
{
	int y, mo, d, h, mi, sec, ms = 0, off_min = 0, has = 0;
	const char *p;

	if (s == NULL)
		return VG_ERR_INVAL;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-'
	    || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ')
	    || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi)
	    || s[16] != ':' || digits(s + 17, 2, &sec))
		return VG_ERR_INVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59
	    || sec > 59)
		return VG_ERR_INVAL;
	p = s + 19;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			if (n < 3)
				ms = ms * 10 + (*p - '0'); /* truncate past milliseconds */
		}
		/* At most nanoseconds: a longer digit run is no time a device
		 * sends, and could read as a card number to the scrubber. */
		if (n == 0 || n > 9)
			return VG_ERR_INVAL;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (*p == 'Z') {
		has = 1;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		if (digits(p + 1, 2, &oh))
			return VG_ERR_INVAL;
		if (p[3] == ':') {
			if (digits(p + 4, 2, &om))
				return VG_ERR_INVAL;
			p += 6;
		} else {
			if (digits(p + 3, 2, &om))
				return VG_ERR_INVAL;
			p += 5;
		}
		if (om > 59 || oh * 60 + om > 14 * 60)
			return VG_ERR_INVAL;
		off_min = sign * (oh * 60 + om);
		has = 1;
	}
	if (*p != '\0')
		return VG_ERR_INVAL;

	int64_t secs = vg_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400
	             + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
	if (epoch_ms != NULL)
		*epoch_ms = secs * 1000 + ms;
	if (has_offset != NULL)
		*has_offset = has;
	return VG_OK;
}

/* Write v as exactly n decimal digits (v ≥ 0, v < 10^n). */
static void put_digits(char *out, int n, int64_t v)
{
	for (int i = n - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Times outside years 0000..9999 are clamped to that range, which is all the
 * format can hold. */
void vg_time_format(int64_t epoch_ms, char out[25])
{
	const int64_t lo = vg_days_from_civil(0, 1, 1) * 86400000;
	const int64_t hi = vg_days_from_civil(9999, 12, 31) * 86400000 + 86399999;
	int64_t y, days, ms;
	unsigned m, d;

	if (epoch_ms < lo)
		epoch_ms = lo;
	if (epoch_ms > hi)
		epoch_ms = hi;
	days = epoch_ms / 86400000;
	ms = epoch_ms % 86400000;
	if (ms < 0) {
		ms += 86400000;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	memcpy(out, "0000-00-00T00:00:00.000Z", 25);
	put_digits(out, 4, y);
	put_digits(out + 5, 2, m);
	put_digits(out + 8, 2, d);
	put_digits(out + 11, 2, ms / 3600000);
	put_digits(out + 14, 2, ms / 60000 % 60);
	put_digits(out + 17, 2, ms / 1000 % 60);
	put_digits(out + 20, 3, ms % 1000);
}

void vg_json_add_time(cJSON *o, const char *name, int64_t ms)
{
	if (ms > 0) {
		char t[25];
		vg_time_format(ms, t);
		cJSON_AddStringToObject(o, name, t);
	} else {
		cJSON_AddNullToObject(o, name);
	}
}
