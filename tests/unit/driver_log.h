/* venuegw — the recording sink and driver handle of the unit tests of the
 * framed drivers (driver_ndjson_test.c, driver_ecr_test.c).  Header only;
 * include it after <cmocka.h>, with DRV defined as the driver under test and
 * MAX_REC as the most frames one test records.  The test then defines
 * on_frame, as rec_frame plus the checks of its own driver. */
#ifndef VG_DRIVER_LOG_H
#define VG_DRIVER_LOG_H

#include "driver_rec.h"

struct rec {
	int kind;
	char *json;          /* EVENT: a NUL-terminated copy */
	size_t json_len;
	uint32_t token;
	char reason[32];     /* BAD */
	size_t size;
};

struct sink_log {
	struct rec r[MAX_REC];
	int n;
	uint8_t sent[256];   /* what the driver sent, in order */
	size_t nsent;
};

static void on_frame(void *ud, const struct vg_frame *f);

/* Record f in l: an EVENT's JSON; a BAD's reason (it has a detail) and
 * size. */
static inline void rec_frame(struct sink_log *l, const struct vg_frame *f)
{
	assert_true(l->n < MAX_REC);
	struct rec *r = &l->r[l->n++];
	memset(r, 0, sizeof *r);
	r->kind = f->kind;
	if (f->kind == VG_FRAME_EVENT) {
		r->json = malloc(f->json_len + 1);
		assert_non_null(r->json);
		memcpy(r->json, f->json, f->json_len);
		r->json[f->json_len] = '\0';
		r->json_len = f->json_len;
		r->token = f->token;
	} else {
		rec_bad_reason(r->reason, sizeof r->reason, f);
		assert_true(strlen(f->detail) > 0);
		r->size = f->size;
	}
}

static inline void on_send(void *ud, const uint8_t *bytes, size_t n)
{
	struct sink_log *l = ud;
	assert_true(l->nsent + n <= sizeof l->sent);
	memcpy(l->sent + l->nsent, bytes, n);
	l->nsent += n;
}

static inline void log_clear(struct sink_log *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->r[i].json);
	memset(l, 0, sizeof *l);
}

struct drv {
	void *state;
	struct sink_log log;
	struct vg_driver_sink sink;
	int64_t now;         /* of the next feed */
};

static inline void drv_open(struct drv *d, const struct vg_driver_opt *opts, size_t nopts)
{
	char err[256] = "";
	memset(d, 0, sizeof *d);
	d->state = calloc(1, DRV.state_size);
	assert_non_null(d->state);
	rec_init_ok(DRV.init(d->state, opts, nopts, err, sizeof err), err);
	d->sink = (struct vg_driver_sink){ .ud = &d->log, .frame = on_frame, .send = on_send };
	d->now = 1000;
}

static inline void drv_close(struct drv *d)
{
	if (DRV.fini)
		DRV.fini(d->state);
	free(d->state);
	log_clear(&d->log);
}

static inline void drv_feed(struct drv *d, const void *buf, size_t n)
{
	rec_feed(&DRV, d->state, buf, n, d->now, &d->sink);
}

#define FEED(d, lit) drv_feed((d), (lit), sizeof(lit) - 1)

static inline void expect_bad(const struct sink_log *l, int i, const char *reason, size_t size)
{
	assert_true(i < l->n);
	assert_int_equal(l->r[i].kind, VG_FRAME_BAD);
	assert_string_equal(l->r[i].reason, reason);
	assert_int_equal(l->r[i].size, size);
}

/* init refuses key = value, with an error that names the key. */
static inline void expect_config_error(const char *key, const char *value)
{
	struct vg_driver_opt o = { key, value };
	char err[256] = "";
	void *state = calloc(1, DRV.state_size);
	assert_non_null(state);
	assert_int_equal(DRV.init(state, &o, 1, err, sizeof err), VG_ERR_CONFIG);
	char want[64];
	snprintf(want, sizeof want, "%s: ", key);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("%s = %s: error \"%s\" does not name the key", key, value, err);
	free(state);
}

#endif
