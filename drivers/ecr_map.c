/* The `ecr` driver's payload mapping: see ecr_map.h. */
#include "ecr_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "err.h"
#include "event.h"
#include "pii.h"

#define INT_LIMIT 9007199254740992LL /* 2^53: the contract's integer range */

enum field {
	F_TYPE, F_KIND, F_ORDER_ID, F_TOTAL_MINOR, F_TOTAL, F_AMOUNT_MINOR, F_AMOUNT,
	F_CURRENCY, F_PAYMENT_ID, F_CUSTOMER_ID, F_LOYALTY_ID, F_CARD, F_OCCURRED_AT,
	F_RECEIPT, F_TERMINAL, F__COUNT
};

/* The ECR keys we understand; everything else is dropped. */
static const struct {
	const char *key;
	enum field field;
} keys[] = {
	{ "type", F_TYPE },
	{ "msg", F_KIND },
	{ "kind", F_KIND },
	{ "order_id", F_ORDER_ID },
	{ "total_minor", F_TOTAL_MINOR },
	{ "total", F_TOTAL },
	{ "amount_minor", F_AMOUNT_MINOR },
	{ "amount", F_AMOUNT },
	{ "currency", F_CURRENCY },
	{ "payment_id", F_PAYMENT_ID },
	{ "customer_id", F_CUSTOMER_ID },
	{ "loyalty_id", F_LOYALTY_ID },
	{ "card", F_CARD },
	{ "card_number", F_CARD },
	{ "pan", F_CARD },
	{ "occurred_at", F_OCCURRED_AT },
	{ "ts", F_OCCURRED_AT },
	{ "receipt", F_RECEIPT },
	{ "receipt_id", F_RECEIPT },
	{ "receipt_no", F_RECEIPT },
	{ "terminal", F_TERMINAL },
	{ "terminal_id", F_TERMINAL },
	{ "tid", F_TERMINAL },
};

static const struct {
	const char *ecr;
	const char *type;
} kinds[] = {
	{ "ORDER", "pos.order.completed" },
	{ "PAYMENT", "payment.succeeded" },
	{ "REFUND", "refund.issued" },
};

/* ISO 4217 currencies whose minor unit is not 1/100. */
static const char exp0[][4] = { "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
	                        "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF" };
static const char exp3[][4] = { "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND" };

/* The values found, borrowed from the payload or the parsed JSON, or held
 * in num[] (JSON numbers printed). */
struct fields {
	const char *v[F__COUNT];
	size_t n[F__COUNT];
	char num[F__COUNT][32];
};

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *n)
{
	while (*n && is_blank((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && is_blank((unsigned char)(*p)[*n - 1]))
		(*n)--;
}

static int same(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

static int find_key(const char *k, size_t kn)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (same(k, kn, keys[i].key))
			return (int)keys[i].field;
	return -1;
}

static const char *ecr_kind(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (same(p, n, kinds[i].ecr))
			return kinds[i].type;
	return NULL;
}

static void put(struct fields *fs, const char *k, size_t kn, const char *v, size_t vn)
{
	trim(&k, &kn);
	trim(&v, &vn);
	int f = find_key(k, kn);
	if (f >= 0) {
		fs->v[f] = v;
		fs->n[f] = vn;
	}
}

static void collect_kv(struct fields *fs, const char *p, size_t n)
{
	while (n) {
		size_t k = 0;
		while (k < n && p[k] != ';' && p[k] != '|' && p[k] != '\n')
			k++;
		const char *eq = memchr(p, '=', k);
		if (eq)
			put(fs, p, (size_t)(eq - p), eq + 1, k - (size_t)(eq - p) - 1);
		if (k == n)
			break;
		p += k + 1;
		n -= k + 1;
	}
}

/* The top-level string and number members of an ECR's JSON object. */
static void collect_json(struct fields *fs, const cJSON *obj)
{
	for (const cJSON *m = obj->child; m; m = m->next) {
		if (!m->string)
			continue;
		int f = find_key(m->string, strlen(m->string));
		if (f < 0)
			continue;
		if (cJSON_IsString(m)) {
			const char *v = m->valuestring;
			size_t vn = strlen(v);
			trim(&v, &vn);
			fs->v[f] = v;
			fs->n[f] = vn;
		} else if (cJSON_IsNumber(m) && m->valuedouble - m->valuedouble == 0) {
			double d = m->valuedouble;
			int w;
			if (d <= -(double)INT_LIMIT || d >= (double)INT_LIMIT) {
				fs->v[f] = NULL; /* not exact: dropped */
				continue;
			}
			if (d == (double)(long long)d) {
				w = snprintf(fs->num[f], sizeof fs->num[f], "%lld", (long long)d);
			} else {
				w = snprintf(fs->num[f], sizeof fs->num[f], "%.15g", d);
			}
			if (w <= 0 || (size_t)w >= sizeof fs->num[f])
				continue;
			fs->v[f] = fs->num[f];
			fs->n[f] = (size_t)w;
		}
	}
}

/* An integer "-123": optional sign, digits only, |v| ≤ 2^53. */
static int parse_int(const char *p, size_t n, long long *out)
{
	int neg = 0;
	long long v = 0;
	if (n && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
		n--;
	}
	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v > INT_LIMIT)
		return -1;
	*out = neg ? -v : v;
	return 0;
}

/* Major units "12.50" → minor units with exp decimals (1250 for exp 2).
 * Digits beyond exp must be zeros. */
static int parse_major(const char *p, size_t n, int exp, long long *out)
{
	int neg = 0, digits = 0, frac = -1;
	long long v = 0;
	if (n && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (p[i] < '0' || p[i] > '9')
			return -1;
		digits++;
		if (frac >= 0 && ++frac > exp) {
			if (p[i] != '0')
				return -1;
			continue;
		}
		if (v > INT_LIMIT)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (digits == 0)
		return -1;
	for (int i = frac < 0 ? 0 : frac; i < exp; i++) {
		if (v > INT_LIMIT)
			return -1;
		v *= 10;
	}
	if (v > INT_LIMIT)
		return -1;
	*out = neg ? -v : v;
	return 0;
}

static int currency_exp(const char *cur)
{
	for (size_t i = 0; i < sizeof exp0 / sizeof exp0[0]; i++)
		if (strcmp(cur, exp0[i]) == 0)
			return 0;
	for (size_t i = 0; i < sizeof exp3 / sizeof exp3[0]; i++)
		if (strcmp(cur, exp3[i]) == 0)
			return 3;
	return 2;
}

/* A NUL-terminated heap copy, wiped by free_copy. */
static char *copy(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static void free_copy(char *s)
{
	if (s) {
		vg_wipe(s, strlen(s));
		free(s);
	}
}

/* obj[name] = the string p[0..n).  Returns 0, or -1 out of memory. */
static int add_string(cJSON *obj, const char *name, const char *p, size_t n)
{
	char *s = copy(p, n);
	cJSON *item = s ? cJSON_CreateString(s) : NULL;
	free_copy(s);
	if (!item)
		return -1;
	cJSON_AddItemToObject(obj, name, item);
	return 0;
}

static int add_int(cJSON *obj, const char *name, long long v)
{
	return cJSON_AddNumberToObject(obj, name, (double)v) ? 0 : -1;
}

/* properties[name] from field f as an integer, or kept as a string. */
static int add_minor(cJSON *props, const char *name, const struct fields *fs, enum field f)
{
	long long v;
	if (parse_int(fs->v[f], fs->n[f], &v) == 0)
		return add_int(props, name, v);
	return add_string(props, name, fs->v[f], fs->n[f]);
}

/* properties[minor_name] from the major-unit field f, or properties[name] kept
 * as a string when it does not convert exactly. */
static int add_major(cJSON *props, const char *minor_name, const char *name, const struct fields *fs,
                     enum field f, int exp)
{
	long long v;
	if (parse_major(fs->v[f], fs->n[f], exp, &v) == 0)
		return add_int(props, minor_name, v);
	return add_string(props, name, fs->v[f], fs->n[f]);
}

/* Build the §4 event of fs.  Returns a new tree, or NULL out of memory. */
static cJSON *build(const struct fields *fs)
{
	cJSON *ev = cJSON_CreateObject(), *person = NULL, *props = NULL;
	char cur[4] = "";
	int exp = 2;
	if (!ev)
		return NULL;

	enum field tf = fs->v[F_TYPE] ? F_TYPE : F_KIND;
	if (fs->v[tf] && fs->n[tf]) {
		const char *t = ecr_kind(fs->v[tf], fs->n[tf]);
		if (t ? !cJSON_AddStringToObject(ev, "type", t) : add_string(ev, "type", fs->v[tf], fs->n[tf]))
			goto fail;
	}
	if (fs->v[F_OCCURRED_AT] && fs->n[F_OCCURRED_AT] < 64) {
		char buf[64];
		int64_t ms;
		int ho;
		memcpy(buf, fs->v[F_OCCURRED_AT], fs->n[F_OCCURRED_AT]);
		buf[fs->n[F_OCCURRED_AT]] = '\0';
		if (vg_time_parse(buf, &ms, &ho) == VG_OK && !cJSON_AddStringToObject(ev, "occurred_at", buf))
			goto fail;
	}
	if (fs->v[F_CUSTOMER_ID] || fs->v[F_LOYALTY_ID]) {
		person = cJSON_AddObjectToObject(ev, "person");
		if (!person)
			goto fail;
		if (fs->v[F_CUSTOMER_ID] &&
		    add_string(person, "customer_id", fs->v[F_CUSTOMER_ID], fs->n[F_CUSTOMER_ID]))
			goto fail;
		if (fs->v[F_LOYALTY_ID] &&
		    add_string(person, "loyalty_id", fs->v[F_LOYALTY_ID], fs->n[F_LOYALTY_ID]))
			goto fail;
	}

	int any = 0;
	for (int f = F_ORDER_ID; f < F__COUNT; f++)
		if (f != F_CUSTOMER_ID && f != F_LOYALTY_ID && f != F_OCCURRED_AT && fs->v[f])
			any = 1;
	if (!any)
		return ev;
	props = cJSON_AddObjectToObject(ev, "properties");
	if (!props)
		goto fail;
	if (fs->v[F_CURRENCY]) {
		const char *c = fs->v[F_CURRENCY];
		size_t n = fs->n[F_CURRENCY], i;
		for (i = 0; i < n && i < 3; i++) {
			if ((c[i] < 'A' || c[i] > 'Z') && (c[i] < 'a' || c[i] > 'z'))
				break;
			cur[i] = (char)(c[i] & ~0x20);
		}
		if (n == 3 && i == 3) {
			exp = currency_exp(cur);
			if (!cJSON_AddStringToObject(props, "currency", cur))
				goto fail;
		} else {
			cur[0] = '\0';
			if (add_string(props, "currency", c, n))
				goto fail;
		}
	}
	if (fs->v[F_ORDER_ID] && add_string(props, "order_id", fs->v[F_ORDER_ID], fs->n[F_ORDER_ID]))
		goto fail;
	if (fs->v[F_TOTAL_MINOR]) {
		if (add_minor(props, "total_minor", fs, F_TOTAL_MINOR))
			goto fail;
	} else if (fs->v[F_TOTAL]) {
		if (add_major(props, "total_minor", "total", fs, F_TOTAL, exp))
			goto fail;
	}
	if (fs->v[F_AMOUNT_MINOR]) {
		if (add_minor(props, "amount_minor", fs, F_AMOUNT_MINOR))
			goto fail;
	} else if (fs->v[F_AMOUNT]) {
		if (add_major(props, "amount_minor", "amount", fs, F_AMOUNT, exp))
			goto fail;
	}
	if (fs->v[F_PAYMENT_ID] && add_string(props, "payment_id", fs->v[F_PAYMENT_ID], fs->n[F_PAYMENT_ID]))
		goto fail;
	if (fs->v[F_CARD] && add_string(props, "card", fs->v[F_CARD], fs->n[F_CARD]))
		goto fail;
	if (fs->v[F_RECEIPT] && add_string(props, "receipt_id", fs->v[F_RECEIPT], fs->n[F_RECEIPT]))
		goto fail;
	if (fs->v[F_TERMINAL] && add_string(props, "terminal_id", fs->v[F_TERMINAL], fs->n[F_TERMINAL]))
		goto fail;
	return ev;
fail:
	vg_json_wipe_delete(ev);
	return NULL;
}

enum vg_ecr_map_result vg_ecr_map_payload(enum vg_ecr_format format, const char *p, size_t n, const char **out,
                                          size_t *outlen, int *owned)
{
	struct fields fs;
	cJSON *in = NULL, *ev;
	size_t i = 0;
	memset(&fs, 0, sizeof fs);
	*owned = 0;

	while (i < n && is_blank((unsigned char)p[i]))
		i++;
	if (format == VG_ECR_FMT_JSON || (format == VG_ECR_FMT_AUTO && i < n && p[i] == '{')) {
		const char *end = NULL;
		in = cJSON_ParseWithLengthOpts(p, n, &end, 0);
		if (!in) /* cJSON does not tell out of memory from bad JSON */
			return VG_ECR_MAP_BAD_JSON;
		if (!cJSON_IsObject(in))
			goto bad_json;
		for (const char *q = end; q < p + n; q++)
			if (!is_blank((unsigned char)*q))
				goto bad_json;
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "type");
		if (t && !(cJSON_IsString(t) && ecr_kind(t->valuestring, strlen(t->valuestring)))) {
			vg_json_wipe_delete(in);
			*out = p;
			*outlen = n;
			return VG_ECR_MAP_OK;
		}
		collect_json(&fs, in);
	} else {
		collect_kv(&fs, p, n);
	}

	ev = build(&fs);
	vg_wipe(&fs, sizeof fs);
	vg_json_wipe_delete(in);
	if (!ev)
		return VG_ECR_MAP_NOMEM;
	char *json = cJSON_PrintUnformatted(ev);
	vg_json_wipe_delete(ev);
	if (!json)
		return VG_ECR_MAP_NOMEM;
	*out = json;
	*outlen = strlen(json);
	*owned = 1;
	return VG_ECR_MAP_OK;
bad_json:
	vg_json_wipe_delete(in);
	return VG_ECR_MAP_BAD_JSON;
}
