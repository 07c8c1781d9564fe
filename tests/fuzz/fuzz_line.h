/* venuegw — shared bits of the fuzz targets of the two drivers that use the
 * line framing of drivers/scanner_line.c (fuzz_scanner, fuzz_hid): their
 * frame checks, their sink and how they feed a stream.  The checks of one
 * driver alone stay in its target (check_event). */
#ifndef VG_FUZZ_LINE_H
#define VG_FUZZ_LINE_H

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "driver.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_driver.h"

static const char *const fuzz_line_reasons[] = { "too_long", "line_noise", "bad_utf8", "bad_payload",
                                                 "timeout", "no_memory", NULL };

struct fuzz_line {
	const char *field;      /* the configured person field */
	int aim;
	size_t max_len;
	const char *source;     /* properties.source of the driver's events */
	/* The driver's own checks of an EVENT, after the common ones: o is the
	 * event, code[0..n) person.<field>, sym properties.symbology or NULL. */
	void (*check_event)(const struct fuzz_line *r, const cJSON *o, const char *code, size_t n,
	                    const cJSON *sym);
	/* Every frame, serialized: "E" json "\n" or "B" reason ":" size "\n". */
	struct fuzz_log log;
};

/* Every EVENT: a JSON object that cJSON parses, type "checkin.scanned",
 * person holding exactly the configured field as a non-empty string of at
 * most max_len bytes, properties.source, a symbology of 3 characters only
 * with aim on, nothing else; token 0. */
static inline void fuzz_line_event(const struct fuzz_line *r, const struct vg_frame *f)
{
	FUZZ_CHECK(f->json != NULL && f->json_len > 0);
	FUZZ_CHECK(f->token == 0);
	cJSON *o = cJSON_ParseWithLength(f->json, f->json_len);
	FUZZ_CHECK(cJSON_IsObject(o) && cJSON_GetArraySize(o) == 3);
	cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	FUZZ_CHECK(cJSON_IsString(type) && strcmp(type->valuestring, "checkin.scanned") == 0);
	cJSON *person = cJSON_GetObjectItemCaseSensitive(o, "person");
	FUZZ_CHECK(cJSON_IsObject(person) && cJSON_GetArraySize(person) == 1);
	cJSON *code = cJSON_GetObjectItemCaseSensitive(person, r->field);
	FUZZ_CHECK(cJSON_IsString(code));
	size_t n = strlen(code->valuestring);
	FUZZ_CHECK(n >= 1 && n <= r->max_len);
	cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
	FUZZ_CHECK(cJSON_IsObject(props));
	cJSON *source = cJSON_GetObjectItemCaseSensitive(props, "source");
	FUZZ_CHECK(cJSON_IsString(source) && strcmp(source->valuestring, r->source) == 0);
	cJSON *sym = cJSON_GetObjectItemCaseSensitive(props, "symbology");
	FUZZ_CHECK(cJSON_GetArraySize(props) == (sym ? 2 : 1));
	if (sym)
		FUZZ_CHECK(r->aim && cJSON_IsString(sym) && strlen(sym->valuestring) == 3);
	r->check_event(r, o, code->valuestring, n, sym);
	cJSON_Delete(o);
}

static inline void fuzz_line_frame(void *ud, const struct vg_frame *f)
{
	struct fuzz_line *r = ud;
	if (f->kind == VG_FRAME_EVENT) {
		fuzz_line_event(r, f);
		fuzz_log_put(&r->log, "E", 1);
		fuzz_log_put(&r->log, f->json, f->json_len);
		fuzz_log_put(&r->log, "\n", 1);
		return;
	}
	fuzz_check_bad(f, fuzz_line_reasons);
	char buf[64];
	int n = snprintf(buf, sizeof buf, "B%s:%zu\n", f->reason, f->size);
	fuzz_log_put(&r->log, buf, (size_t)n);
}

static inline void fuzz_line_send(void *ud, const uint8_t *bytes, size_t n)
{
	(void)ud;
	(void)bytes;
	(void)n;
	FUZZ_CHECK(!"a line driver (scanner, hid) sent bytes");
}

/* Feed s[0..n) to a fresh d in reads of chunk bytes (0: one read, no time
 * passing), each from an exact-size copy so that ASan sees any read past it;
 * read k happens (clock[k * clock_step % nclock] % 4) * 20 ms after the one
 * before, and tick runs after it.  Then every timer runs out. */
static inline void fuzz_line_run(const struct vg_driver *d, struct fuzz_line *r,
                                 const struct vg_driver_opt *opts, size_t nopts,
                                 const uint8_t *s, size_t n, size_t chunk,
                                 const uint8_t *clock, size_t nclock, size_t clock_step)
{
	void *state = calloc(1, d->state_size);
	FUZZ_CHECK(state != NULL);
	char err[256];
	FUZZ_CHECK(d->init(state, opts, nopts, err, sizeof err) == VG_OK);
	const struct vg_driver_sink sink = { .ud = r, .frame = fuzz_line_frame, .send = fuzz_line_send };
	int64_t now = 1000;

	if (chunk == 0) {
		d->feed(state, s, n, now, &sink);
	} else {
		for (size_t i = 0, k = 0; i < n; i += chunk, k++) {
			size_t m = n - i < chunk ? n - i : chunk;
			now += nclock ? (clock[k * clock_step % nclock] % 4) * 20 : 0;
			uint8_t *part = malloc(m);
			FUZZ_CHECK(part != NULL);
			memcpy(part, s + i, m);
			d->feed(state, part, m, now, &sink);
			free(part);
			int64_t next = d->tick(state, now, &sink);
			FUZZ_CHECK(next == -1 || next > now);
		}
		now += 100000;
		FUZZ_CHECK(d->tick(state, now, &sink) == -1);
	}
	FUZZ_CHECK(d->settle == NULL);   /* no replies to send */
	d->fini(state);
	free(state);
}

#endif
