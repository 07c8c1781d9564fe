/* Unit tests for firmware/core/response.c: DESIGN.md §8's response table,
 * row by row, Retry-After and the backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "event.h"
#include "response.h"

struct row {
	enum vg_transport transport;
	long status;
	enum vg_resp_action action;
	enum vg_fail_reason fail;
	const char *reason;
};

/* One line per row of the table (and per status the rows name). */
static const struct row table[] = {
	/* 2xx: done */
	{ VG_TRANSPORT_OK, 200, VG_RESP_DONE, 0, "" },
	{ VG_TRANSPORT_OK, 202, VG_RESP_DONE, 0, "" },
	{ VG_TRANSPORT_OK, 299, VG_RESP_DONE, 0, "" },
	/* 408, 429, 5xx except 501/505, network error, timeout: retry */
	{ VG_TRANSPORT_OK, 408, VG_RESP_RETRY, VG_FAIL_HTTP_4XX, "http_408" },
	{ VG_TRANSPORT_OK, 429, VG_RESP_RETRY, VG_FAIL_HTTP_4XX, "http_429" },
	{ VG_TRANSPORT_OK, 500, VG_RESP_RETRY, VG_FAIL_HTTP_5XX, "http_500" },
	{ VG_TRANSPORT_OK, 502, VG_RESP_RETRY, VG_FAIL_HTTP_5XX, "http_502" },
	{ VG_TRANSPORT_OK, 503, VG_RESP_RETRY, VG_FAIL_HTTP_5XX, "http_503" },
	{ VG_TRANSPORT_OK, 504, VG_RESP_RETRY, VG_FAIL_HTTP_5XX, "http_504" },
	{ VG_TRANSPORT_OK, 599, VG_RESP_RETRY, VG_FAIL_HTTP_5XX, "http_599" },
	{ VG_TRANSPORT_NETWORK, 0, VG_RESP_RETRY, VG_FAIL_NETWORK, "" },
	{ VG_TRANSPORT_NETWORK, 200, VG_RESP_RETRY, VG_FAIL_NETWORK, "" }, /* the status is not looked at */
	{ VG_TRANSPORT_TIMEOUT, 0, VG_RESP_RETRY, VG_FAIL_TIMEOUT, "" },
	/* not an answer the table names: retried too (redirects are not followed) */
	{ VG_TRANSPORT_OK, 0, VG_RESP_RETRY, VG_FAIL_HTTP_OTHER, "http_0" },
	{ VG_TRANSPORT_OK, 100, VG_RESP_RETRY, VG_FAIL_HTTP_OTHER, "http_100" },
	{ VG_TRANSPORT_OK, 301, VG_RESP_RETRY, VG_FAIL_HTTP_3XX, "http_301" },
	{ VG_TRANSPORT_OK, 307, VG_RESP_RETRY, VG_FAIL_HTTP_3XX, "http_307" },
	{ VG_TRANSPORT_OK, 600, VG_RESP_RETRY, VG_FAIL_HTTP_OTHER, "http_600" },
	/* 413: split; 400, 422: bisect (the same halving) */
	{ VG_TRANSPORT_OK, 413, VG_RESP_SPLIT, VG_FAIL_HTTP_4XX, "http_413" },
	{ VG_TRANSPORT_OK, 400, VG_RESP_SPLIT, VG_FAIL_HTTP_4XX, "http_400" },
	{ VG_TRANSPORT_OK, 422, VG_RESP_SPLIT, VG_FAIL_HTTP_4XX, "http_422" },
	/* 401, 403: pause with the credentials alarm */
	{ VG_TRANSPORT_OK, 401, VG_RESP_PAUSE, VG_FAIL_HTTP_4XX, "http_401" },
	{ VG_TRANSPORT_OK, 403, VG_RESP_PAUSE, VG_FAIL_HTTP_4XX, "http_403" },
	/* 501, 505, other 4xx: quarantine the batch */
	{ VG_TRANSPORT_OK, 501, VG_RESP_QUARANTINE, VG_FAIL_HTTP_5XX, "http_501" },
	{ VG_TRANSPORT_OK, 505, VG_RESP_QUARANTINE, VG_FAIL_HTTP_5XX, "http_505" },
	{ VG_TRANSPORT_OK, 404, VG_RESP_QUARANTINE, VG_FAIL_HTTP_4XX, "http_404" },
	{ VG_TRANSPORT_OK, 405, VG_RESP_QUARANTINE, VG_FAIL_HTTP_4XX, "http_405" },
	{ VG_TRANSPORT_OK, 409, VG_RESP_QUARANTINE, VG_FAIL_HTTP_4XX, "http_409" },
	{ VG_TRANSPORT_OK, 410, VG_RESP_QUARANTINE, VG_FAIL_HTTP_4XX, "http_410" },
	{ VG_TRANSPORT_OK, 499, VG_RESP_QUARANTINE, VG_FAIL_HTTP_4XX, "http_499" },
};

static void every_row_of_the_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const struct row *w = &table[i];
		struct vg_response r = vg_response_classify(w->transport, w->status);
		print_message("transport %d status %ld\n", (int)w->transport, w->status);
		assert_int_equal(r.action, w->action);
		if (w->action != VG_RESP_DONE)
			assert_int_equal(r.fail, w->fail);
		assert_string_equal(r.reason, w->reason);
	}
}

static void fail_reason_names(void **state)
{
	(void)state;
	assert_string_equal(vg_fail_reason_names[VG_FAIL_NETWORK], "network");
	assert_string_equal(vg_fail_reason_names[VG_FAIL_TIMEOUT], "timeout");
	assert_string_equal(vg_fail_reason_names[VG_FAIL_HTTP_3XX], "http_3xx");
	assert_string_equal(vg_fail_reason_names[VG_FAIL_HTTP_4XX], "http_4xx");
	assert_string_equal(vg_fail_reason_names[VG_FAIL_HTTP_5XX], "http_5xx");
	assert_string_equal(vg_fail_reason_names[VG_FAIL_HTTP_OTHER], "http_other");
}

/* 1994-11-06T08:49:37Z, the RFC's example date. */
#define RFC_DATE_S 784111777LL

static void retry_after_seconds(void **state)
{
	(void)state;
	int64_t now = 1700000000000LL;
	assert_int_equal(vg_retry_after_s("0", now), 0);
	assert_int_equal(vg_retry_after_s("1", now), 1);
	assert_int_equal(vg_retry_after_s("120", now), 120);
	assert_int_equal(vg_retry_after_s("3600", now), 3600);
	/* huge: capped, no overflow */
	assert_int_equal(vg_retry_after_s("3601", now), VG_RETRY_AFTER_MAX_S);
	assert_int_equal(vg_retry_after_s("99999999999999999999999999", now), VG_RETRY_AFTER_MAX_S);
}

static void retry_after_absent_or_garbage(void **state)
{
	(void)state;
	int64_t now = 1700000000000LL;
	assert_int_equal(vg_retry_after_s(NULL, now), -1);
	assert_int_equal(vg_retry_after_s("", now), -1);
	assert_int_equal(vg_retry_after_s("-5", now), -1);
	assert_int_equal(vg_retry_after_s("12abc", now), -1);
	assert_int_equal(vg_retry_after_s("soon", now), -1);
	assert_int_equal(vg_retry_after_s("1.5", now), -1);
	assert_int_equal(vg_retry_after_s("Sun, 06 Nov 1994 08:49:37", now), -1);      /* no GMT */
	assert_int_equal(vg_retry_after_s("Sun, 06 Foo 1994 08:49:37 GMT", now), -1);  /* no month */
	assert_int_equal(vg_retry_after_s("Sun, 32 Nov 1994 08:49:37 GMT", now), -1);  /* day */
	assert_int_equal(vg_retry_after_s("Sun, 06 Nov 1994 24:49:37 GMT", now), -1);  /* hour */
	assert_int_equal(vg_retry_after_s("Sun, 06 Nov 1994 08:49:37 GMT x", now), -1);
	assert_int_equal(vg_retry_after_s("Sun, 6 Nov 1994 08:49:37 GMT", now), -1);
}

static void retry_after_http_dates(void **state)
{
	(void)state;
	int64_t now = (RFC_DATE_S - 90) * 1000 + 400; /* 89.6 s before it */
	/* the three forms of RFC 9110 §5.6.7 */
	assert_int_equal(vg_retry_after_s("Sun, 06 Nov 1994 08:49:37 GMT", now), 90);
	assert_int_equal(vg_retry_after_s("Sunday, 06-Nov-94 08:49:37 GMT", now), 90);
	assert_int_equal(vg_retry_after_s("Sun Nov  6 08:49:37 1994", now), 90);
	assert_int_equal(vg_retry_after_s("Sun Nov 16 08:49:37 1994", now), VG_RETRY_AFTER_MAX_S);
	/* past, now: no wait */
	assert_int_equal(vg_retry_after_s("Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE_S * 1000), 0);
	assert_int_equal(vg_retry_after_s("Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE_S * 1000 + 86400000), 0);
	/* far future: capped */
	assert_int_equal(vg_retry_after_s("Fri, 31 Dec 9999 23:59:59 GMT", now), VG_RETRY_AFTER_MAX_S);
	/* RFC 850's two-digit years: 70..99 are 19xx, the rest 20xx */
	int64_t y2030 = 1893456000LL; /* 2030-01-01T00:00:00Z */
	assert_int_equal(vg_retry_after_s("Tuesday, 01-Jan-30 00:00:10 GMT", y2030 * 1000), 10);
	assert_int_equal(vg_retry_after_s("Thu, 01 Jan 1970 00:00:10 GMT", 0), 10);
}

static void backoff_full_jitter(void **state)
{
	(void)state;
	/* The ceiling doubles from 1 s per attempt: rnd modulo ceiling + 1. */
	assert_int_equal(vg_backoff_ms(1, 300, 0, -1), 0);
	assert_int_equal(vg_backoff_ms(1, 300, 1000, -1), 1000);
	assert_int_equal(vg_backoff_ms(1, 300, 1001, -1), 0);
	assert_int_equal(vg_backoff_ms(2, 300, 2000, -1), 2000);
	assert_int_equal(vg_backoff_ms(3, 300, 4000, -1), 4000);
	assert_int_equal(vg_backoff_ms(3, 300, 4001, -1), 0);
	/* capped at max_backoff_s */
	assert_int_equal(vg_backoff_ms(40, 300, 300000, -1), 300000);
	assert_int_equal(vg_backoff_ms(40, 300, 300001, -1), 0);
	assert_int_equal(vg_backoff_ms(5, 5, 5000, -1), 5000);
	assert_int_equal(vg_backoff_ms(5, 5, 5001, -1), 0);
	for (unsigned r = 0; r < 100000; r += 997)
		assert_true(vg_backoff_ms(1000, 300, r * 7919u, -1) <= 300000);
}

static void backoff_retry_after(void **state)
{
	(void)state;
	/* a longer Retry-After wins; a shorter one does not shorten the jitter */
	assert_int_equal(vg_backoff_ms(1, 300, 0, 30), 30000);
	assert_int_equal(vg_backoff_ms(10, 300, 200000, 30), 200000);
	assert_int_equal(vg_backoff_ms(1, 300, 500, 0), 500);
	/* also beyond max_backoff_s, up to an hour */
	assert_int_equal(vg_backoff_ms(1, 300, 0, 1000), 1000000);
	assert_int_equal(vg_backoff_ms(1, 300, 0, 3600), 3600000);
	assert_int_equal(vg_backoff_ms(1, 300, 0, 3601), 3600000);
	assert_int_equal(vg_backoff_ms(1, 300, 0, 2147483647L), 3600000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_row_of_the_table),
		cmocka_unit_test(fail_reason_names),
		cmocka_unit_test(retry_after_seconds),
		cmocka_unit_test(retry_after_absent_or_garbage),
		cmocka_unit_test(retry_after_http_dates),
		cmocka_unit_test(backoff_full_jitter),
		cmocka_unit_test(backoff_retry_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
