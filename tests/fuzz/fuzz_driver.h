/* venuegw — shared bits of the driver fuzz targets (fuzz_ndjson, fuzz_ecr,
 * fuzz_scanner, fuzz_hid): a growing log of what a run produced, to compare
 * two runs, and the checks every BAD frame passes.  Each target keeps the
 * checks of its own driver in its own file. */
#ifndef VG_FUZZ_DRIVER_H
#define VG_FUZZ_DRIVER_H

#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "fuzz.h"

/* What a run produced, serialized. */
struct fuzz_log {
	uint8_t *buf;
	size_t len, cap;
};

static inline void fuzz_log_put(struct fuzz_log *l, const void *p, size_t n)
{
	if (l->len + n > l->cap) {
		size_t cap = l->cap ? l->cap : 256;
		while (cap < l->len + n)
			cap *= 2;
		uint8_t *nb = realloc(l->buf, cap);
		FUZZ_CHECK(nb != NULL);
		l->buf = nb;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

/* Two runs over the same stream produced the same log. */
static inline void fuzz_log_same(const struct fuzz_log *a, const struct fuzz_log *b)
{
	FUZZ_CHECK(a->len == b->len);
	FUZZ_CHECK(a->len == 0 || memcmp(a->buf, b->buf, a->len) == 0);
}

/* f is a BAD frame with one of reasons (NULL-terminated), a detail, and a
 * size ≥ 1. */
static inline void fuzz_check_bad(const struct vg_frame *f, const char *const *reasons)
{
	int known = 0;
	FUZZ_CHECK(f->kind == VG_FRAME_BAD);
	FUZZ_CHECK(f->reason != NULL);
	for (size_t i = 0; reasons[i]; i++)
		known |= strcmp(f->reason, reasons[i]) == 0;
	FUZZ_CHECK(known);
	FUZZ_CHECK(f->detail && f->detail[0]);
	FUZZ_CHECK(f->size >= 1);
}

#endif
