/* The CDP's answer → the forwarder's action (DESIGN.md §8): see response.h. */
#include "response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

const char *const vg_fail_reason_names[VG_FAIL__COUNT] = {
	[VG_FAIL_NETWORK] = "network", [VG_FAIL_TIMEOUT] = "timeout", [VG_FAIL_HTTP_3XX] = "http_3xx",
	[VG_FAIL_HTTP_4XX] = "http_4xx", [VG_FAIL_HTTP_5XX] = "http_5xx", [VG_FAIL_HTTP_OTHER] = "http_other",
	[VG_FAIL_KAFKA] = "kafka",
};

struct vg_response vg_response_classify(enum vg_transport transport, long status)
{
	struct vg_response r = { .action = VG_RESP_RETRY };
	if (transport != VG_TRANSPORT_OK) {
		r.fail = transport == VG_TRANSPORT_TIMEOUT ? VG_FAIL_TIMEOUT : VG_FAIL_NETWORK;
		return r;
	}
	if (status >= 200 && status < 300) {
		r.action = VG_RESP_DONE;
		return r;
	}
	snprintf(r.reason, sizeof r.reason, "http_%ld", status);
	r.fail = status >= 300 && status < 400 ? VG_FAIL_HTTP_3XX
	       : status >= 400 && status < 500 ? VG_FAIL_HTTP_4XX
	       : status >= 500 && status < 600 ? VG_FAIL_HTTP_5XX : VG_FAIL_HTTP_OTHER;
	if (status == 413 || status == 400 || status == 422)
		r.action = VG_RESP_SPLIT;
	else if (status == 401 || status == 403) {
		r.action = VG_RESP_PAUSE;
		r.alarm = "credentials";
	}
	else if (status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505) || status < 200 ||
	         (status >= 300 && status < 400))
		r.action = VG_RESP_RETRY;
	else
		r.action = VG_RESP_QUARANTINE;
	return r;
}

/* ---- Retry-After ------------------------------------------------------------ */

/* Exactly n digits at *p (n = 1..4). */
static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 1;
}

static int lit(const char **p, const char *s)
{
	size_t n = strlen(s);
	if (strncmp(*p, s, n) != 0)
		return 0;
	*p += n;
	return 1;
}

static int month(const char **p, int *out)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++) {
		if (strncmp(*p, names + 3 * i, 3) == 0) {
			*p += 3;
			*out = i + 1;
			return 1;
		}
	}
	return 0;
}

static int clock_time(const char **p, int *h, int *mi, int *s)
{
	return digits(p, 2, h) && lit(p, ":") && digits(p, 2, mi) && lit(p, ":") && digits(p, 2, s);
}

/* An HTTP date (RFC 9110 §5.6.7) as Unix seconds; 0 when it is not one. */
static int parse_http_date(const char *p, int64_t *out)
{
	int y, mo, d, h, mi, s;
	const char *q = p;
	while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
		q++;
	if (q - p < 3)
		return 0;
	if (lit(&q, ", ")) {
		const char *r = q;
		if (digits(&r, 2, &d) && lit(&r, " ") && month(&r, &mo) && lit(&r, " ") && digits(&r, 4, &y) &&
		    lit(&r, " ") && clock_time(&r, &h, &mi, &s) && lit(&r, " GMT") && !*r) {
			/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		} else if (r = q, digits(&r, 2, &d) && lit(&r, "-") && month(&r, &mo) && lit(&r, "-") &&
		           digits(&r, 2, &y) && lit(&r, " ") && clock_time(&r, &h, &mi, &s) && lit(&r, " GMT") && !*r) {
			/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
			y += y < 70 ? 2000 : 1900;
		} else {
			return 0;
		}
	} else if (lit(&q, " ") && month(&q, &mo) && lit(&q, " ")) {
		/* asctime: Sun Nov  6 08:49:37 1994 */
		if (*q == ' ') {
			q++;
			if (!digits(&q, 1, &d))
				return 0;
		} else if (!digits(&q, 2, &d)) {
			return 0;
		}
		if (!(lit(&q, " ") && clock_time(&q, &h, &mi, &s) && lit(&q, " ") && digits(&q, 4, &y) && !*q))
			return 0;
	} else {
		return 0;
	}
	if (d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return 0;
	*out = vg_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
	return 1;
}

long vg_retry_after_s(const char *value, int64_t now_wall_ms)
{
	if (!value || !*value)
		return -1;
	char *end;
	long v = strtol(value, &end, 10);
	if (end != value && *end == '\0' && v >= 0)
		return v > VG_RETRY_AFTER_MAX_S ? VG_RETRY_AFTER_MAX_S : v;
	int64_t t;
	if (!parse_http_date(value, &t))
		return -1;
	int64_t delta = t - now_wall_ms / 1000;
	return delta <= 0 ? 0 : delta > VG_RETRY_AFTER_MAX_S ? VG_RETRY_AFTER_MAX_S : (long)delta;
}

int64_t vg_backoff_ms(int attempts, int max_backoff_s, unsigned rnd, long retry_after_s)
{
	int64_t cap = (int64_t)max_backoff_s * 1000;
	int64_t ceiling = 1000;
	for (int i = 1; i < attempts && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	int64_t d = (int64_t)(rnd % (unsigned)(ceiling + 1));
	if (retry_after_s >= 0 && (int64_t)retry_after_s * 1000 > d)
		d = retry_after_s > VG_RETRY_AFTER_MAX_S ? (int64_t)VG_RETRY_AFTER_MAX_S * 1000
		                                         : (int64_t)retry_after_s * 1000;
	return d;
}
