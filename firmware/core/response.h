/* venuegw — what the forwarder does with the CDP's answer (DESIGN.md §8's
 * response table), as pure functions: plain data in, plain data out.
 *
 *   2xx                                     done: mark the batch forwarded
 *   408, 429, 5xx except 501/505, 1xx, 3xx,
 *   network error, timeout                  retry the same set after a backoff
 *                                           (full jitter, Retry-After honoured)
 *   413, 400, 422                           split the set in halves until the
 *                                           offending event stands alone; then
 *                                           quarantine it
 *   401, 403                                pause forwarding, raise the
 *                                           credentials alarm
 *   501, 505, other 4xx                     quarantine the batch's events with
 *                                           the response as reason */
#ifndef VG_RESPONSE_H
#define VG_RESPONSE_H

#include <stdint.h>

/* How the request ended before any HTTP status is looked at. */
enum vg_transport {
	VG_TRANSPORT_OK,      /* an HTTP answer arrived: status is valid */
	VG_TRANSPORT_NETWORK, /* connection refused, reset, TLS failure … */
	VG_TRANSPORT_TIMEOUT, /* no answer within timeout_s */
};

enum vg_resp_action {
	VG_RESP_DONE,         /* 2xx: forwarded */
	VG_RESP_RETRY,        /* the same set again, after vg_backoff_ms() */
	VG_RESP_SPLIT,        /* halves; a single event is quarantined instead */
	VG_RESP_PAUSE,        /* credentials alarm: stop, keep buffering, SIGHUP resumes */
	VG_RESP_QUARANTINE,   /* the batch's events, reason vg_response.reason */
};

/* Why an attempt failed: the HTTP status class, the network, or a Kafka
 * record's error ([output] kind = kafka). */
enum vg_fail_reason {
	VG_FAIL_NETWORK, VG_FAIL_TIMEOUT, VG_FAIL_HTTP_3XX, VG_FAIL_HTTP_4XX, VG_FAIL_HTTP_5XX,
	VG_FAIL_HTTP_OTHER, VG_FAIL_KAFKA, VG_FAIL__COUNT
};
extern const char *const vg_fail_reason_names[VG_FAIL__COUNT]; /* "network", "timeout", "http_4xx" … */

/* Retry-After is honoured up to this long (seconds); a longer one waits this. */
#define VG_RETRY_AFTER_MAX_S 3600

struct vg_response {
	enum vg_resp_action action;
	enum vg_fail_reason fail;     /* meaningful unless action is VG_RESP_DONE */
	char reason[24];              /* "http_404": the quarantine reason (SPLIT, QUARANTINE) */
	const char *alarm;            /* PAUSE: "credentials" or "config" */
};

/* The table: what to do with an answer.  status is ignored unless transport
 * is VG_TRANSPORT_OK. */
struct vg_response vg_response_classify(enum vg_transport transport, long status);

/* Seconds a Retry-After value asks to wait: delta seconds ("120") or an HTTP
 * date (IMF-fixdate, RFC 850 or asctime form, RFC 9110 §5.6.7) relative to
 * now_wall_ms (a date in the past: 0).  -1 when value is NULL, empty or not
 * one of those.  Longer waits come back as VG_RETRY_AFTER_MAX_S (no
 * overflow however many digits). */
long vg_retry_after_s(const char *value, int64_t now_wall_ms);

/* Milliseconds before the next attempt of a set tried `attempts` times (>= 1):
 * full jitter over [0, ceiling], the ceiling doubling from 1 s per attempt up
 * to max_backoff_s; rnd is a uniformly random number.  A Retry-After
 * (retry_after_s >= 0) longer than that wins, capped at VG_RETRY_AFTER_MAX_S. */
int64_t vg_backoff_ms(int attempts, int max_backoff_s, unsigned rnd, long retry_after_s);

#endif
