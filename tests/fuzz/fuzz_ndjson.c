/* venuegw — fuzz target: the ndjson driver (drivers/ndjson.c, DESIGN.md §7).
 *
 * Input: byte 0 picks max_line (4, 64, 1000 or 65536), byte 1 the size of
 * the reads (1..16 bytes); the rest is the serial stream.
 *
 * Invariants:
 *  - an EVENT is one non-blank line: 1..max_line bytes, no LF, no NUL,
 *    token 0;
 *  - a BAD is "too_long" or "line_noise", with a size ≥ 1 and a detail;
 *  - the driver never sends a byte and tick never wants to run;
 *  - the bytes of EVENTs and the sizes of BADs add up to at most the input;
 *  - feeding the stream in one read or in small reads gives the same frames.
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_driver.h"

extern const struct vg_driver vg_driver_ndjson;

/* What a run produced, serialized, to compare two runs. */
struct out {
	struct fuzz_log log;
	size_t max_line;
	size_t accounted;
};

static const char *const reasons[] = { "too_long", "line_noise", NULL };

static void on_frame(void *ud, const struct vg_frame *f)
{
	struct out *o = ud;
	uint8_t kind = (uint8_t)f->kind;
	fuzz_log_put(&o->log, &kind, 1);
	if (f->kind == VG_FRAME_EVENT) {
		FUZZ_CHECK(f->token == 0);
		FUZZ_CHECK(f->json_len >= 1 && f->json_len <= o->max_line);
		FUZZ_CHECK(memchr(f->json, '\n', f->json_len) == NULL);
		FUZZ_CHECK(memchr(f->json, '\0', f->json_len) == NULL);
		int blank = 1;
		for (size_t i = 0; i < f->json_len; i++)
			if (f->json[i] != ' ' && f->json[i] != '\t' && f->json[i] != '\r')
				blank = 0;
		FUZZ_CHECK(!blank);
		o->accounted += f->json_len;
		fuzz_log_put(&o->log, &f->json_len, sizeof f->json_len);
		fuzz_log_put(&o->log, f->json, f->json_len);
	} else {
		fuzz_check_bad(f, reasons);
		o->accounted += f->size;
		fuzz_log_put(&o->log, f->reason, strlen(f->reason) + 1);
		fuzz_log_put(&o->log, &f->size, sizeof f->size);
	}
}

static void on_send(void *ud, const uint8_t *bytes, size_t n)
{
	(void)ud;
	(void)bytes;
	(void)n;
	FUZZ_CHECK(0 && "ndjson sends nothing");
}

static void run(const char *max_line, const uint8_t *data, size_t size, size_t step, struct out *o)
{
	struct vg_driver_opt opt = { "max_line", max_line };
	struct vg_driver_sink sink = { .ud = o, .frame = on_frame, .send = on_send };
	char err[128];
	void *state = calloc(1, vg_driver_ndjson.state_size);
	FUZZ_CHECK(state != NULL);
	FUZZ_CHECK(vg_driver_ndjson.init(state, &opt, 1, err, sizeof err) == VG_OK);
	o->max_line = (size_t)atoi(max_line);
	for (size_t at = 0; at < size; at += step) {
		size_t n = size - at < step ? size - at : step;
		vg_driver_ndjson.feed(state, data + at, n, (int64_t)at, &sink);
		FUZZ_CHECK(vg_driver_ndjson.tick(state, (int64_t)at, &sink) == -1);
	}
	FUZZ_CHECK(vg_driver_ndjson.settle == NULL);   /* no replies to send */
	FUZZ_CHECK(o->accounted <= size);
	if (vg_driver_ndjson.fini)
		vg_driver_ndjson.fini(state);
	free(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const lims[] = { "4", "64", "1000", "65536" };
	if (size < 2)
		return 0;
	const char *lim = lims[data[0] & 3];
	size_t step = 1 + (data[1] & 15);
	data += 2;
	size -= 2;

	struct out whole = { 0 }, parts = { 0 };
	run(lim, data, size, size ? size : 1, &whole);
	run(lim, data, size, step, &parts);
	fuzz_log_same(&whole.log, &parts.log);
	free(whole.log.buf);
	free(parts.log.buf);
	return 0;
}
