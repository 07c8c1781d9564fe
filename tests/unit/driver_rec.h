/* venuegw — helpers of the driver unit tests (tests/unit/driver_*_test.c)
 * for the sinks that record what a driver hands over.  Header only; include
 * it after <cmocka.h> (and the headers cmocka needs). */
#ifndef VG_DRIVER_REC_H
#define VG_DRIVER_REC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "driver.h"
#include "err.h"

/* Feed buf[0..n) to drv from an exact-size heap copy, so ASan sees any read
 * past the end. */
static inline void rec_feed(const struct vg_driver *drv, void *state, const void *buf, size_t n,
                            int64_t now_ms, const struct vg_driver_sink *sink)
{
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	if (n)
		memcpy(copy, buf, n);
	drv->feed(state, copy, n, now_ms, sink);
	free(copy);
}

/* A driver's init that must succeed returned rc, with err its message. */
static inline void rec_init_ok(int rc, const char *err)
{
	if (rc != VG_OK)
		fail_msg("init: %s", err);
}

/* An EVENT's JSON, NUL-terminated, into dst[0..cap): it fits, and cJSON
 * parses it (so the text was not NUL-terminated on purpose). */
static inline void rec_event_json(char *dst, size_t cap, const struct vg_frame *f)
{
	assert_true(f->json_len > 0 && f->json_len < cap);
	memcpy(dst, f->json, f->json_len);
	dst[f->json_len] = '\0';
	cJSON *o = cJSON_ParseWithLength(f->json, f->json_len);
	assert_non_null(o);
	cJSON_Delete(o);
}

/* A BAD frame's reason into dst[0..cap): it has a reason and a detail. */
static inline void rec_bad_reason(char *dst, size_t cap, const struct vg_frame *f)
{
	assert_non_null(f->reason);
	assert_non_null(f->detail);
	snprintf(dst, cap, "%s", f->reason);
}

#endif
