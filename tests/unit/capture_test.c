/* capture.c: the one capture commit — the exact per-device quarantine
 * limiter, its bounded memory, the quarantine's share of the cap, and the
 * outcomes of a put, against real buffer.db files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "config.h"
#include "digest.h"
#include "err.h"
#include "ingest.h"
#include "keys.h"
#include "log.h"
#include "store_capture.h"

struct fixture {
	char dir[64];
	char db[128];
	struct vg_config cfg;
	struct vg_keyring ring;
	struct vg_capture *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/vg_capture_test_XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/buffer.db", f->dir);
	vg_config_defaults(&f->cfg);
	f->cfg.quarantine_burst = 5;
	f->cfg.quarantine_rate_per_min = 60;   /* one a second */
	f->ring.n = 1;
	f->ring.keys[0].version = 1;
	if (vg_capture_open(&f->c, &f->cfg, &f->ring) != VG_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const suffix[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char p[160];
		snprintf(p, sizeof(p), "%s%s", f->db, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	vg_capture_close(f->c);
	free(f);
	return 0;
}

/* The slot the old plugin's 256-slot table gave a device. */
static unsigned old_slot(const char *device)
{
	uint8_t h[32];
	vg_sha256(device, strlen(device), h);
	return (unsigned)(h[0] | (h[1] << 8)) % 256;
}

static int take_all(struct vg_capture *c, const char *device, int64_t now)
{
	int n = 0;
	while (n < 1000 && vg_capture_quarantine_allowed(c, device, now))
		n++;
	return n;
}

/* Two devices whose ids shared a slot of the old table keep separate buckets:
 * one's traffic never refills the other's. */
static void test_colliding_devices_keep_their_buckets(void **state)
{
	struct fixture *f = *state;
	char a[16] = "pos-0", b[16] = "";
	for (int i = 1; i < 10000 && !b[0]; i++) {
		char d[16];
		snprintf(d, sizeof d, "pos-%d", i);
		if (old_slot(d) == old_slot(a))
			snprintf(b, sizeof b, "%s", d);
	}
	assert_true(b[0]);   /* a collision exists among the first ids */
	int64_t t = 1000000;
	assert_int_equal(take_all(f->c, a, t), 5);
	/* b arrives: its own full burst, and a stays empty. */
	assert_int_equal(vg_capture_quarantine_allowed(f->c, b, t), 1);
	assert_int_equal(vg_capture_quarantine_allowed(f->c, a, t), 0);
	for (int i = 0; i < 50; i++) {
		vg_capture_quarantine_allowed(f->c, b, t + i);
		assert_int_equal(vg_capture_quarantine_allowed(f->c, a, t + i), 0);
	}
	/* The rate refills a: one a second. */
	assert_int_equal(vg_capture_quarantine_allowed(f->c, a, t + 1100), 1);
	assert_int_equal(vg_capture_quarantine_allowed(f->c, a, t + 1100), 0);
}

/* Memory is bounded: with more devices than buckets, a device whose bucket is
 * empty keeps it while buckets that refilled to the burst can be taken. */
static void test_eviction_keeps_a_flooding_device(void **state)
{
	struct fixture *f = *state;
	int64_t t = 5000000;
	int taken = take_all(f->c, "flood", t);
	assert_int_equal(taken, 5);
	/* Many more quiet devices than buckets, each one quarantine row, time
	 * passing so their buckets refill: they are evicted, the flood is not —
	 * it gets its burst once and then only the rate (one a second), however
	 * many devices come and go. */
	char d[32];
	for (int i = 0; i < 3 * VG_CAPTURE_LIMITER_DEVICES; i++) {
		snprintf(d, sizeof d, "quiet-%d", i);
		int64_t now = t + (int64_t)i * 10;
		assert_int_equal(vg_capture_quarantine_allowed(f->c, d, now), 1);
		if (i % 50 == 0)
			taken += take_all(f->c, "flood", now);   /* it keeps flooding */
	}
	int64_t end = t + (int64_t)3 * VG_CAPTURE_LIMITER_DEVICES * 10;
	taken += take_all(f->c, "flood", end);
	int64_t seconds = (end - t) / 1000;
	assert_true(taken >= 5 + seconds - 1);
	assert_true(taken <= 5 + seconds + 1);
}

static struct vg_store *open_store(const char *path, int owner, long long max_bytes)
{
	struct vg_store_cfg cfg = { .path = path, .owner = owner, .busy_timeout_ms = 100, .max_bytes = max_bytes };
	struct vg_store *s = NULL;
	char err[256] = "";
	if (vg_store_open(&s, &cfg, err, sizeof err) != VG_OK)
		fail_msg("vg_store_open: %s", err);
	return s;
}

/* The quarantine's share: at quarantine_max_mb new quarantine rows are
 * counted, not stored, and events are still stored. */
static void test_quarantine_share(void **state)
{
	struct fixture *f = *state;
	f->cfg.quarantine_max_mb = 1;
	f->cfg.quarantine_burst = 100000;
	vg_capture_close(f->c);
	assert_int_equal(vg_capture_open(&f->c, &f->cfg, &f->ring), VG_OK);
	vg_store_close(open_store(f->db, 1, 0));
	struct vg_store *s = open_store(f->db, 0, 64 << 20);
	static char body[64 * 1024];
	memset(body, 'x', sizeof body);
	struct vg_ingest_out out;
	memset(&out, 0, sizeof out);
	out.quarantined = 1;
	out.rej.reason = VG_REJ_CONTRACT;
	out.rej.offset = -1;
	out.body = body;
	out.body_len = sizeof body;
	int stored = 0, overflow = 0;
	for (int i = 0; i < 40; i++) {
		struct vg_capture_in in = { .device_id = "pos-1", .topic = "t", .size = sizeof body,
		                            .received_at_ms = 1000 + i, .out = &out };
		enum vg_capture_outcome what;
		assert_int_equal(vg_capture_commit(f->c, s, &in, &what), VG_OK);
		stored += what == VG_CAPTURE_QUARANTINED;
		overflow += what == VG_CAPTURE_OVERFLOW;
	}
	/* 1 MiB of 64 KiB rows: 16, and the rest counted. */
	assert_int_equal(stored, 16);
	assert_int_equal(overflow, 24);
	long long bytes;
	assert_int_equal(vg_store_quarantine_bytes(s, &bytes), VG_OK);
	assert_true(bytes >= (1 << 20) && bytes < (1 << 20) + (int)sizeof body + 1024);
	struct vg_capture_stats cs;
	vg_capture_stats(f->c, &cs);
	assert_int_equal(cs.quarantined, 16);
	assert_int_equal(cs.overflowed, 24);
	/* An event still goes in. */
	struct vg_ingest_out ev;
	memset(&ev, 0, sizeof ev);
	snprintf(ev.event_key, sizeof ev.event_key, "AAAAAAAAAAAAAAAAAAAAAA");
	snprintf(ev.type, sizeof ev.type, "checkin.scanned");
	ev.priority = VG_PRIO_NORMAL;
	ev.body = "{}";
	ev.body_len = 2;
	struct vg_capture_in in = { .device_id = "pos-2", .topic = "t", .size = 2, .received_at_ms = 2000, .out = &ev };
	enum vg_capture_outcome what;
	assert_int_equal(vg_capture_commit(f->c, s, &in, &what), VG_OK);
	assert_int_equal(what, VG_CAPTURE_STORED);
	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.quarantine_held, 16);
	assert_int_equal(c.quarantine_overflow, 24);
	assert_int_equal(c.pending, 1);
	vg_store_close(s);
}

/* A rolled-back group counts nothing. */
static void test_abort_counts_nothing(void **state)
{
	struct fixture *f = *state;
	vg_store_close(open_store(f->db, 1, 0));
	struct vg_store *s = open_store(f->db, 0, 0);
	struct vg_capture_in in = { .device_id = "scan-1", .topic = "serial:a", .size = 3, .received_at_ms = 1,
	                            .reason = "bad_frame", .detail = "checksum" };
	enum vg_capture_outcome what;
	assert_int_equal(vg_capture_begin(f->c, s), VG_OK);
	assert_int_equal(vg_capture_put(f->c, s, &in, &what), VG_OK);
	assert_int_equal(what, VG_CAPTURE_QUARANTINED);
	vg_capture_abort(f->c, s);
	struct vg_capture_stats cs;
	vg_capture_stats(f->c, &cs);
	assert_int_equal(cs.quarantined, 0);
	assert_int_equal(vg_capture_begin(f->c, s), VG_OK);
	assert_int_equal(vg_capture_put(f->c, s, &in, &what), VG_OK);
	assert_int_equal(vg_capture_end(f->c, s), VG_OK);
	vg_capture_stats(f->c, &cs);
	assert_int_equal(cs.quarantined, 1);
	struct vg_store_counts c;
	assert_int_equal(vg_store_counts(s, &c), VG_OK);
	assert_int_equal(c.quarantine_metadata, 1);
	vg_store_close(s);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_colliding_devices_keep_their_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction_keeps_a_flooding_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_counts_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
