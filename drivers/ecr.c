/* venuegw — the `ecr` driver (DESIGN.md §7): POS / ECR terminals on a serial
 * line, framed `STX payload ETX LRC`, acknowledged with ACK / NAK.
 *
 * Receiving:
 *  - bytes outside a frame are line noise: skipped, and reported once per run
 *    as BAD "line_noise" (a run ends at the next STX, or after frame_timeout_ms
 *    without bytes);
 *  - LRC = lrc_seed XOR every byte of the span (lrc_span): payload_etx
 *    (default), stx_payload_etx or payload.  A wrong one → BAD "bad_lrc" and a
 *    NAK at once, so the terminal retransmits;
 *  - a payload over max_payload bytes → BAD "too_long" and a NAK when its ETX
 *    LRC arrive (or the next STX, which starts a new frame);
 *  - a payload that is not UTF-8 (or holds a NUL) → BAD "bad_utf8" + NAK;
 *    JSON that does not parse as one object → BAD "bad_json" + NAK;
 *  - a frame cut short: an STX before the ETX → BAD "bad_payload" for the cut
 *    frame (the terminal will not get a reply for it and retransmits), and
 *    the STX starts the new frame; no byte for frame_timeout_ms inside a frame
 *    → BAD "timeout" + NAK.
 *
 * Acknowledging (DESIGN.md §3 promise 1): every good frame becomes an EVENT
 * with a token (1, 2, 3, …, never 0).  The ACK is sent only from
 * settle(token, 1), after the daemon's COMMIT; settle(token, 0) sends a NAK.
 * The SHA-256 of each good frame's raw bytes (STX … LRC) is kept with its
 * state: pending (the commit is running) or committed, and a committed one
 * for dedup_window_ms after its commit.  A frame that arrives again:
 *  - matching a committed frame: our ACK was lost → ACK again, no EVENT;
 *  - matching a pending frame: ignored, the ACK will come from settle;
 *  - whose earlier copy was NAKed: a new attempt → a new EVENT.
 * At most 64 frames are remembered; when full the oldest committed one (then
 * the oldest pending one) is forgotten.  Pending frames do not expire: the
 * daemon settles every token.  A terminal that sends two byte-identical
 * frames on purpose within the window (same payload, no sequence number or
 * time in it) gets the second one ACKed without an EVENT: the window is kept
 * short for that reason.
 *
 * Mapping a payload to a §4 event: ecr_map.c (format = auto | json | kv).
 *
 * Raw frames, temporary strings and JSON trees hold card numbers and
 * customer ids: all are wiped before they are freed or reused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "driver.h"
#include "ecr_map.h"
#include "err.h"
#include "event.h"

#define STX 0x02
#define ETX 0x03
#define ACK 0x06
#define NAK 0x15

#define ECR_MAX_PAYLOAD VG_EVENT_MAX_BYTES
#define DEDUP_MAX 64

enum lrc_span { SPAN_PAYLOAD_ETX, SPAN_STX_PAYLOAD_ETX, SPAN_PAYLOAD };

enum rx {
	RX_HUNT,         /* between frames */
	RX_PAYLOAD,      /* after STX */
	RX_LRC,          /* after ETX: the next byte is the LRC, whatever it is */
	RX_LONG,         /* payload over max_payload: skipping to its ETX */
	RX_LONG_LRC,     /* … and its LRC */
};

enum seen_state { SEEN_FREE = 0, SEEN_PENDING, SEEN_COMMITTED };

/* A recent good frame. */
struct seen {
	uint8_t digest[32];    /* SHA-256 of STX … LRC */
	uint32_t token;
	uint8_t state;         /* enum seen_state */
	int64_t t_ms;          /* pending: when received; committed: when committed */
};

struct ecr {
	/* Options. */
	size_t max_payload;
	int64_t dedup_window_ms;
	int64_t frame_timeout_ms;
	uint8_t lrc_seed;
	enum lrc_span lrc_span;
	enum vg_ecr_format format;

	/* Receiver. */
	enum rx rx;
	size_t len;            /* bytes of the frame in frame[] (STX included) */
	size_t dropped;        /* RX_LONG*: bytes of the overlong frame so far */
	int64_t last_rx_ms;    /* the last byte of the current frame */
	size_t noise;          /* bytes of the current run of line noise */
	int64_t noise_ms;      /* the last byte of that run */

	/* Acknowledging. */
	uint32_t last_token;
	int wrapped;           /* last_token went past 2^32 - 1 */
	struct seen seen[DEDUP_MAX];

	uint8_t frame[ECR_MAX_PAYLOAD + 3];
};

/* ---- replies and frames ------------------------------------------------ */

static void reply(const struct vg_driver_sink *sink, uint8_t byte)
{
	sink->send(sink->ud, &byte, 1);
}

static void bad(const struct vg_driver_sink *sink, const char *reason, size_t size, const char *detail)
{
	struct vg_frame f = { .kind = VG_FRAME_BAD, .reason = reason, .size = size, .detail = detail };
	sink->frame(sink->ud, &f);
}

static void flush_noise(struct ecr *s, const struct vg_driver_sink *sink)
{
	if (s->noise) {
		bad(sink, "line_noise", s->noise, "bytes outside a frame skipped (line noise)");
		s->noise = 0;
	}
}

static void drop_frame(struct ecr *s)
{
	vg_wipe(s->frame, s->len);
	s->len = 0;
	s->dropped = 0;
	s->rx = RX_HUNT;
}

static void start_frame(struct ecr *s, const struct vg_driver_sink *sink, int64_t now_ms)
{
	flush_noise(s, sink);
	s->frame[0] = STX;
	s->len = 1;
	s->dropped = 0;
	s->rx = RX_PAYLOAD;
	s->last_rx_ms = now_ms;
}

/* Report the frame in progress that went quiet, and the noise run that did. */
static void check_timeouts(struct ecr *s, int64_t now_ms, const struct vg_driver_sink *sink)
{
	if (s->rx != RX_HUNT && now_ms - s->last_rx_ms >= s->frame_timeout_ms) {
		if (s->rx == RX_LONG || s->rx == RX_LONG_LRC)
			bad(sink, "too_long", s->dropped, "frame payload over max_payload bytes, then no byte for frame_timeout_ms; NAKed");
		else
			bad(sink, "timeout", s->len, "frame incomplete after frame_timeout_ms without a byte; NAKed");
		drop_frame(s);
		reply(sink, NAK);
	}
	if (s->noise && now_ms - s->noise_ms >= s->frame_timeout_ms)
		flush_noise(s, sink);
}

/* ---- recent frames ----------------------------------------------------- */

static int expired(const struct ecr *s, const struct seen *e, int64_t now_ms)
{
	return e->state == SEEN_COMMITTED && now_ms - e->t_ms >= s->dedup_window_ms;
}

static struct seen *seen_find(struct ecr *s, const uint8_t digest[32], int64_t now_ms)
{
	for (int i = 0; i < DEDUP_MAX; i++) {
		struct seen *e = &s->seen[i];
		if (e->state == SEEN_FREE)
			continue;
		if (expired(s, e, now_ms)) {
			e->state = SEEN_FREE;
			continue;
		}
		if (memcmp(e->digest, digest, 32) == 0)
			return e;
	}
	return NULL;
}

/* A slot for a new frame: a free one, else the oldest committed, else the
 * oldest pending. */
static struct seen *seen_slot(struct ecr *s)
{
	struct seen *best = NULL;
	for (int i = 0; i < DEDUP_MAX; i++) {
		struct seen *e = &s->seen[i];
		if (e->state == SEEN_FREE)
			return e;
		if (!best || (e->state == SEEN_COMMITTED && best->state == SEEN_PENDING) ||
		    (e->state == best->state && e->t_ms < best->t_ms))
			best = e;
	}
	return best;
}

static uint32_t next_token(struct ecr *s)
{
	if (++s->last_token == 0) {
		s->last_token = 1;
		s->wrapped = 1;
	}
	return s->last_token;
}

/* Valid UTF-8 (no overlong forms, no surrogates, ≤ U+10FFFF) without NUL. */
static int utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

static uint8_t lrc_of(const struct ecr *s)
{
	/* frame = STX payload ETX LRC; s->len counts all of it. */
	size_t from = s->lrc_span == SPAN_STX_PAYLOAD_ETX ? 0 : 1;
	size_t to = s->lrc_span == SPAN_PAYLOAD ? s->len - 2 : s->len - 1;
	uint8_t x = s->lrc_seed;
	for (size_t i = from; i < to; i++)
		x ^= s->frame[i];
	return x;
}

/* A whole frame STX payload ETX LRC is in s->frame. */
static void complete_frame(struct ecr *s, int64_t now_ms, const struct vg_driver_sink *sink)
{
	const uint8_t *payload = s->frame + 1;
	size_t plen = s->len - 3;
	uint8_t digest[32];

	if (lrc_of(s) != s->frame[s->len - 1]) {
		bad(sink, "bad_lrc", s->len, "frame LRC does not match; NAKed for a retransmission");
		reply(sink, NAK);
		return;
	}
	if (!utf8_ok(payload, plen)) {
		bad(sink, "bad_utf8", s->len, "frame payload is not UTF-8 text (or holds a NUL byte); NAKed");
		reply(sink, NAK);
		return;
	}

	vg_sha256(s->frame, s->len, digest);
	struct seen *e = seen_find(s, digest, now_ms);
	if (e) {
		if (e->state == SEEN_COMMITTED) {
			/* Our ACK was lost: the event is stored; say so again. */
			e->t_ms = now_ms;
			reply(sink, ACK);
		}
		/* Pending: the ACK will follow its commit. */
		return;
	}

	const char *json;
	size_t json_len;
	int owned;
	switch (vg_ecr_map_payload(s->format, (const char *)payload, plen, &json, &json_len, &owned)) {
	case VG_ECR_MAP_OK:
		break;
	case VG_ECR_MAP_BAD_JSON:
		bad(sink, "bad_json", s->len, "frame payload starts as JSON but is not one JSON object; NAKed");
		reply(sink, NAK);
		return;
	case VG_ECR_MAP_NOMEM:
	default:
		bad(sink, "bad_payload", s->len, "out of memory while mapping the frame payload; NAKed");
		reply(sink, NAK);
		return;
	}

	/* Remembered before the callback, so a settle from inside it finds it. */
	e = seen_slot(s);
	memcpy(e->digest, digest, 32);
	e->token = next_token(s);
	e->state = SEEN_PENDING;
	e->t_ms = now_ms;

	struct vg_frame f = { .kind = VG_FRAME_EVENT, .json = json, .json_len = json_len, .token = e->token };
	sink->frame(sink->ud, &f);
	if (owned) {
		vg_wipe((void *)json, json_len);
		cJSON_free((void *)json);
	}
}

/* ---- the driver -------------------------------------------------------- */

static void feed(void *state, const uint8_t *buf, size_t n, int64_t now_ms, const struct vg_driver_sink *sink)
{
	struct ecr *s = state;
	check_timeouts(s, now_ms, sink);

	for (size_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		switch (s->rx) {
		case RX_HUNT:
			if (b == STX) {
				start_frame(s, sink, now_ms);
			} else {
				s->noise++;
				s->noise_ms = now_ms;
			}
			continue;
		case RX_PAYLOAD:
			if (b == ETX) {
				s->frame[s->len++] = b;
				s->rx = RX_LRC;
			} else if (b == STX) {
				bad(sink, "bad_payload", s->len, "frame cut short by a new STX before its ETX");
				drop_frame(s);
				start_frame(s, sink, now_ms);
			} else if (s->len - 1 >= s->max_payload) {
				s->dropped = s->len + 1;
				vg_wipe(s->frame, s->len);
				s->len = 0;
				s->rx = RX_LONG;
			} else {
				s->frame[s->len++] = b;
			}
			break;
		case RX_LRC:
			s->frame[s->len++] = b;
			complete_frame(s, now_ms, sink);
			drop_frame(s);
			break;
		case RX_LONG:
			if (b == STX) {
				bad(sink, "too_long", s->dropped, "frame payload over max_payload bytes; NAKed");
				drop_frame(s);
				reply(sink, NAK);
				start_frame(s, sink, now_ms);
				break;
			}
			s->dropped++;
			if (b == ETX)
				s->rx = RX_LONG_LRC;
			break;
		case RX_LONG_LRC:
			s->dropped++;
			bad(sink, "too_long", s->dropped, "frame payload over max_payload bytes; NAKed");
			drop_frame(s);
			reply(sink, NAK);
			break;
		}
		s->last_rx_ms = now_ms;
	}
}

static int64_t tick(void *state, int64_t now_ms, const struct vg_driver_sink *sink)
{
	struct ecr *s = state;
	int64_t next = -1;
	check_timeouts(s, now_ms, sink);
	for (int i = 0; i < DEDUP_MAX; i++) {
		struct seen *e = &s->seen[i];
		if (e->state != SEEN_COMMITTED)
			continue;
		if (expired(s, e, now_ms)) {
			e->state = SEEN_FREE;
			continue;
		}
		int64_t at = e->t_ms + s->dedup_window_ms;
		if (next < 0 || at < next)
			next = at;
	}
	if (s->rx != RX_HUNT) {
		int64_t at = s->last_rx_ms + s->frame_timeout_ms;
		if (next < 0 || at < next)
			next = at;
	}
	if (s->noise) {
		int64_t at = s->noise_ms + s->frame_timeout_ms;
		if (next < 0 || at < next)
			next = at;
	}
	return next;
}

static void settle(void *state, uint32_t token, int committed, int64_t now_ms,
                   const struct vg_driver_sink *sink)
{
	struct ecr *s = state;
	/* A token we never handed out has no frame waiting for a reply. */
	if (token == 0 || (!s->wrapped && token > s->last_token))
		return;
	for (int i = 0; i < DEDUP_MAX; i++) {
		struct seen *e = &s->seen[i];
		if (e->state != SEEN_PENDING || e->token != token)
			continue;
		if (committed) {
			e->state = SEEN_COMMITTED;
			e->t_ms = now_ms;
		} else {
			/* The terminal retransmits: that copy is a new attempt. */
			e->state = SEEN_FREE;
		}
		break;
	}
	reply(sink, committed ? ACK : NAK);
}

/* A whole number in [min, max], decimal or 0x-hexadecimal. */
static int parse_num(const char *v, unsigned long long min, unsigned long long max, unsigned long long *out)
{
	int base = 10;
	char *end;
	if (!v)
		return -1;
	if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		base = 16;
		v += 2;
	}
	if (!(*v >= '0' && *v <= '9') && !(base == 16 && ((*v >= 'a' && *v <= 'f') || (*v >= 'A' && *v <= 'F'))))
		return -1;
	errno = 0;
	*out = strtoull(v, &end, base);
	if (errno || *end || *out < min || *out > max)
		return -1;
	return 0;
}

static int init(void *state, const struct vg_driver_opt *opts, size_t nopts, char *err, size_t errsz)
{
	struct ecr *s = state;
	unsigned long long x;
	s->max_payload = 4096;
	s->dedup_window_ms = 10000;
	s->frame_timeout_ms = 1000;
	s->lrc_seed = 0;
	s->lrc_span = SPAN_PAYLOAD_ETX;
	s->format = VG_ECR_FMT_AUTO;
	s->rx = RX_HUNT;

	for (size_t i = 0; i < nopts; i++) {
		const char *key = opts[i].key, *v = opts[i].value ? opts[i].value : "";
		if (strcmp(key, "lrc_seed") == 0) {
			if (parse_num(v, 0, 255, &x))
				goto bad_value;
			s->lrc_seed = (uint8_t)x;
		} else if (strcmp(key, "lrc_span") == 0) {
			if (strcmp(v, "payload_etx") == 0)
				s->lrc_span = SPAN_PAYLOAD_ETX;
			else if (strcmp(v, "stx_payload_etx") == 0)
				s->lrc_span = SPAN_STX_PAYLOAD_ETX;
			else if (strcmp(v, "payload") == 0)
				s->lrc_span = SPAN_PAYLOAD;
			else
				goto bad_value;
		} else if (strcmp(key, "max_payload") == 0) {
			if (parse_num(v, 1, ECR_MAX_PAYLOAD, &x))
				goto bad_value;
			s->max_payload = (size_t)x;
		} else if (strcmp(key, "format") == 0) {
			if (strcmp(v, "auto") == 0)
				s->format = VG_ECR_FMT_AUTO;
			else if (strcmp(v, "json") == 0)
				s->format = VG_ECR_FMT_JSON;
			else if (strcmp(v, "kv") == 0)
				s->format = VG_ECR_FMT_KV;
			else
				goto bad_value;
		} else if (strcmp(key, "dedup_window_ms") == 0) {
			if (parse_num(v, 0, 3600000, &x))
				goto bad_value;
			s->dedup_window_ms = (int64_t)x;
		} else if (strcmp(key, "frame_timeout_ms") == 0) {
			if (parse_num(v, 1, 60000, &x))
				goto bad_value;
			s->frame_timeout_ms = (int64_t)x;
		} else {
			snprintf(err, errsz, "%s: unknown option of the ecr driver (it knows lrc_seed, lrc_span, "
			         "max_payload, format, dedup_window_ms, frame_timeout_ms)", key);
			return VG_ERR_CONFIG;
		}
		continue;
bad_value:;
		static const struct {
			const char *key, *want;
		} wants[] = {
			{ "lrc_seed", "a whole number from 0 to 255 (decimal or 0x hex)" },
			{ "lrc_span", "payload_etx, stx_payload_etx or payload" },
			{ "max_payload", "a whole number of bytes from 1 to 65536" },
			{ "format", "auto, json or kv" },
			{ "dedup_window_ms", "a whole number of milliseconds from 0 to 3600000" },
			{ "frame_timeout_ms", "a whole number of milliseconds from 1 to 60000" },
		};
		for (size_t w = 0; w < sizeof wants / sizeof wants[0]; w++)
			if (strcmp(key, wants[w].key) == 0)
				snprintf(err, errsz, "%s: must be %s", key, wants[w].want);
		return VG_ERR_CONFIG;
	}
	return VG_OK;
}

static void fini(void *state)
{
	struct ecr *s = state;
	vg_wipe(s->frame, sizeof s->frame);
}

const struct vg_driver vg_driver_ecr = {
	.name = "ecr",
	.state_size = sizeof(struct ecr),
	.init = init,
	.feed = feed,
	.tick = tick,
	.settle = settle,
	.fini = fini,
};
