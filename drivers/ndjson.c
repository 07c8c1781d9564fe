/* venuegw — the `ndjson` driver (DESIGN.md §7): one §4 event per line.
 *
 * Framing: a line ends at LF; a CR just before it is dropped.  Same limits
 * as MQTT: a line (without its CR LF) is at most max_line bytes (default and
 * maximum 65536 = VG_EVENT_MAX_BYTES).
 *
 *  - every non-blank line is one EVENT frame whose json is the line's bytes,
 *    unchanged and unchecked: the daemon runs it through the same ingest
 *    pipeline as MQTT (vg_event_decode → contract → scrub), which quarantines
 *    bad UTF-8, bad JSON or contract violations with precise reasons and
 *    offsets.  token 0: the protocol has no replies.
 *  - blank lines (empty, or only spaces, tabs and CRs) are skipped silently.
 *  - a longer line → BAD "too_long" when its LF arrives (size: every byte of
 *    it, LF included); its bytes are discarded up to that LF (resync).
 *  - line noise: NUL bytes at the start of a line (what a serial break or a
 *    device powering up leaves) are skipped and reported once per run as BAD
 *    "line_noise"; the line after them is still read.  A NUL inside a line
 *    means the line is corrupt: the whole line → BAD "line_noise".
 *
 * Options: max_line (1..65536).  No clock: tick never wants to run; a partial
 * line waits for its LF however long it takes.
 *
 * The line buffer held raw personal data: it is wiped after every line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "driver.h"
#include "err.h"
#include "event.h"

#define NDJSON_MAX_LINE VG_EVENT_MAX_BYTES

struct ndjson {
	size_t max_line;
	size_t len;         /* bytes of the current line in buf */
	size_t dropped;     /* discarding a too long line: its bytes so far */
	size_t noise;       /* leading NUL bytes of the current line, not yet reported */
	int discarding;     /* the current line is too long */
	int corrupt;        /* the current line has a NUL after its first byte */
	/* The line, with room for the CR of a max_line line. */
	uint8_t buf[NDJSON_MAX_LINE + 1];
};

static void bad(const struct vg_driver_sink *sink, const char *reason, size_t size, const char *detail)
{
	struct vg_frame f = { .kind = VG_FRAME_BAD, .reason = reason, .size = size, .detail = detail };
	sink->frame(sink->ud, &f);
}

static void flush_noise(struct ndjson *s, const struct vg_driver_sink *sink)
{
	if (s->noise) {
		bad(sink, "line_noise", s->noise, "NUL bytes before a line skipped (line noise)");
		s->noise = 0;
	}
}

static int blank(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* The LF of a line arrived; the line is s->buf[0..s->len) unless discarding. */
static void end_line(struct ndjson *s, const struct vg_driver_sink *sink)
{
	if (s->discarding) {
		bad(sink, "too_long", s->dropped + 1, "line longer than max_line bytes; dropped up to its newline");
	} else {
		size_t n = s->len;
		if (n && s->buf[n - 1] == '\r')
			n--;
		if (s->corrupt) {
			bad(sink, "line_noise", s->len + 1, "line with a NUL byte in it (line noise) dropped");
		} else if (n > s->max_line) {
			/* A full buffer whose last byte was not the CR of CR LF. */
			bad(sink, "too_long", s->len + 1, "line longer than max_line bytes; dropped up to its newline");
		} else if (n == 0 && s->noise) {
			/* Only noise on this line: its LF is part of the run. */
			s->noise++;
		} else if (!blank(s->buf, n)) {
			flush_noise(s, sink);
			struct vg_frame f = { .kind = VG_FRAME_EVENT, .json = (const char *)s->buf, .json_len = n };
			sink->frame(sink->ud, &f);
		}
		vg_wipe(s->buf, s->len);
	}
	s->len = 0;
	s->dropped = 0;
	s->discarding = 0;
	s->corrupt = 0;
}

static void feed(void *state, const uint8_t *buf, size_t n, int64_t now_ms, const struct vg_driver_sink *sink)
{
	struct ndjson *s = state;
	size_t cap = s->max_line + 1;
	(void)now_ms;

	while (n) {
		if (s->discarding) {
			const uint8_t *lf = memchr(buf, '\n', n);
			size_t k = lf ? (size_t)(lf - buf) : n;
			s->dropped += k;
			if (!lf)
				return;
			end_line(s, sink);
			buf += k + 1;
			n -= k + 1;
			continue;
		}
		if (s->len == 0 && !s->corrupt && buf[0] == '\0') {
			s->noise++;
			buf++;
			n--;
			continue;
		}
		if (s->len == 0 && buf[0] != '\n')
			flush_noise(s, sink);

		const uint8_t *lf = memchr(buf, '\n', n);
		size_t k = lf ? (size_t)(lf - buf) : n;
		if (s->len + k > cap) {
			/* Too long: drop what we have (wiped), skip to the LF. */
			s->dropped = s->len + k;
			vg_wipe(s->buf, s->len);
			s->len = 0;
			s->discarding = 1;
			s->corrupt = 0;
		} else {
			if (memchr(buf, '\0', k))
				s->corrupt = 1;
			memcpy(s->buf + s->len, buf, k);
			s->len += k;
		}
		if (!lf)
			return;
		end_line(s, sink);
		buf += k + 1;
		n -= k + 1;
	}
}

static int64_t tick(void *state, int64_t now_ms, const struct vg_driver_sink *sink)
{
	(void)state;
	(void)now_ms;
	(void)sink;
	return -1;
}

static int init(void *state, const struct vg_driver_opt *opts, size_t nopts, char *err, size_t errsz)
{
	struct ndjson *s = state;
	s->max_line = NDJSON_MAX_LINE;
	for (size_t i = 0; i < nopts; i++) {
		const char *key = opts[i].key, *v = opts[i].value;
		if (strcmp(key, "max_line") == 0) {
			char *end;
			unsigned long long x;
			errno = 0;
			if (!v || *v < '0' || *v > '9')
				goto bad_max;
			x = strtoull(v, &end, 10);
			if (errno || *end || x < 1 || x > NDJSON_MAX_LINE)
				goto bad_max;
			s->max_line = (size_t)x;
		} else {
			snprintf(err, errsz, "%s: unknown option of the ndjson driver (it knows max_line)", key);
			return VG_ERR_CONFIG;
		}
	}
	return VG_OK;
bad_max:
	snprintf(err, errsz, "max_line: must be a whole number of bytes from 1 to %d", NDJSON_MAX_LINE);
	return VG_ERR_CONFIG;
}

static void fini(void *state)
{
	struct ndjson *s = state;
	vg_wipe(s->buf, sizeof s->buf);
}

const struct vg_driver vg_driver_ndjson = {
	.name = "ndjson",
	.state_size = sizeof(struct ndjson),
	.init = init,
	.feed = feed,
	.tick = tick,
	.fini = fini,
};
