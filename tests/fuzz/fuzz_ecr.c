/* venuegw — fuzz target: the ecr driver (drivers/ecr.c, DESIGN.md §7).
 *
 * Input: byte 0 picks lrc_span (b % 3), format (b / 3 % 3) and, with bit
 * 0x80, max_payload = 16; byte 1 is lrc_seed; byte 2 the size of the reads
 * (1..8) and the time between them; byte 3 seeds the daemon's answers.  The
 * rest is the serial stream.
 *
 * Three runs over the stream:
 *  A. one read, nothing settled;  B. small reads at the same time, nothing
 *     settled: the same frames and the same bytes sent as A;
 *  C. small reads with time passing, after each read every open token
 *     settled (committed or not, from the seed), one random token settled,
 *     and tick.
 * Invariants:
 *  - an EVENT's JSON parses (cJSON) as an object; its token is non-zero and
 *    larger than every earlier one (so unique);
 *  - a BAD has a known reason, a size ≥ 1 and a detail;
 *  - only ACK (0x06) and NAK (0x15) are sent, one byte at a time;
 *  - no ACK before a commit: none at all in A and B; in C, feed sends an
 *    ACK only after some settle(…, 1).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "driver.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_driver.h"

extern const struct vg_driver vg_driver_ecr;

struct out {
	struct fuzz_log log;    /* frames and sends, serialized */
	uint32_t last_token;
	uint32_t open[64];      /* tokens not settled yet (run C) */
	size_t nopen;
	int committed_any;
	int in_feed;
};

static const char *const reasons[] = { "bad_lrc", "too_long", "bad_utf8", "line_noise",
	                               "bad_json", "bad_payload", "timeout", NULL };

static void on_frame(void *ud, const struct vg_frame *f)
{
	struct out *o = ud;
	uint8_t kind = (uint8_t)f->kind;
	fuzz_log_put(&o->log, &kind, 1);
	if (f->kind == VG_FRAME_EVENT) {
		FUZZ_CHECK(f->token != 0);
		FUZZ_CHECK(f->token > o->last_token);
		o->last_token = f->token;
		cJSON *j = cJSON_ParseWithLength(f->json, f->json_len);
		FUZZ_CHECK(j != NULL);
		FUZZ_CHECK(cJSON_IsObject(j));
		cJSON_Delete(j);
		if (o->nopen < sizeof o->open / sizeof o->open[0])
			o->open[o->nopen++] = f->token;
		fuzz_log_put(&o->log, &f->token, sizeof f->token);
		fuzz_log_put(&o->log, &f->json_len, sizeof f->json_len);
		fuzz_log_put(&o->log, f->json, f->json_len);
	} else {
		fuzz_check_bad(f, reasons);
		fuzz_log_put(&o->log, f->reason, strlen(f->reason) + 1);
		fuzz_log_put(&o->log, &f->size, sizeof f->size);
	}
}

static void on_send(void *ud, const uint8_t *bytes, size_t n)
{
	struct out *o = ud;
	FUZZ_CHECK(n == 1);
	FUZZ_CHECK(bytes[0] == 0x06 || bytes[0] == 0x15);
	if (bytes[0] == 0x06 && o->in_feed)
		FUZZ_CHECK(o->committed_any);
	uint8_t mark = 0xff;
	fuzz_log_put(&o->log, &mark, 1);
	fuzz_log_put(&o->log, bytes, 1);
}

struct params {
	struct vg_driver_opt opts[4];
	size_t nopts;
	size_t step;
	int64_t dt;
	uint32_t rng;
};

static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* settling: 0 = never (runs A, B), 1 = after every read (run C). */
static void run(const struct params *p, const uint8_t *data, size_t size, size_t step, int settling,
                struct out *o)
{
	const struct vg_driver *d = &vg_driver_ecr;
	struct vg_driver_sink sink = { .ud = o, .frame = on_frame, .send = on_send };
	uint32_t rng = p->rng | 1;
	int64_t now = 1000;
	char err[256];
	void *state = calloc(1, d->state_size);
	FUZZ_CHECK(state != NULL);
	FUZZ_CHECK(d->init(state, p->opts, p->nopts, err, sizeof err) == VG_OK);
	for (size_t at = 0; at < size; at += step) {
		size_t n = size - at < step ? size - at : step;
		o->in_feed = 1;
		d->feed(state, data + at, n, now, &sink);
		o->in_feed = 0;
		if (!settling)
			continue;
		for (size_t i = 0; i < o->nopen; i++) {
			int c = next_rand(&rng) & 1;
			o->committed_any |= c;
			d->settle(state, o->open[i], c, now, &sink);
		}
		o->nopen = 0;
		d->settle(state, next_rand(&rng) % 8, (int)(rng >> 8) & 1, now, &sink);
		o->committed_any |= (int)(rng >> 8) & 1;
		int64_t next = d->tick(state, now, &sink);
		FUZZ_CHECK(next == -1 || next > now);
		now += p->dt;
	}
	if (settling) {
		int64_t next = d->tick(state, now + 3600000 * 2, &sink);
		FUZZ_CHECK(next == -1);
	}
	if (d->fini)
		d->fini(state);
	free(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const spans[] = { "payload_etx", "stx_payload_etx", "payload" };
	static const char *const formats[] = { "auto", "json", "kv" };
	static char seeds[256][4];
	struct params p;
	if (size < 4)
		return 0;
	if (!seeds[1][0])
		for (int i = 0; i < 256; i++)
			snprintf(seeds[i], sizeof seeds[i], "%d", i);
	memset(&p, 0, sizeof p);
	p.opts[p.nopts++] = (struct vg_driver_opt){ "lrc_span", spans[data[0] % 3] };
	p.opts[p.nopts++] = (struct vg_driver_opt){ "format", formats[data[0] / 3 % 3] };
	p.opts[p.nopts++] = (struct vg_driver_opt){ "lrc_seed", seeds[data[1]] };
	if (data[0] & 0x80)
		p.opts[p.nopts++] = (struct vg_driver_opt){ "max_payload", "16" };
	p.step = 1 + (data[2] & 7);
	p.dt = (data[2] >> 3) * 100;
	p.rng = (uint32_t)data[3] * 2654435761u;
	data += 4;
	size -= 4;

	struct out a = { 0 }, b = { 0 }, c = { 0 };
	run(&p, data, size, size ? size : 1, 0, &a);
	run(&p, data, size, p.step, 0, &b);
	fuzz_log_same(&a.log, &b.log);
	run(&p, data, size, p.step, 1, &c);
	free(a.log.buf);
	free(b.log.buf);
	free(c.log.buf);
	return 0;
}
