/* Unit tests for firmware/daemon/forward.c on a real buffer.db: without a
 * [cdp] endpoint the forwarder is disabled and only stores the last
 * window's reconciliation; with one — a stand-in CDP the test serves on a
 * loopback socket from the same loop, answering 200 — a batch is built from
 * the stored rows (messageIds = event keys, gzip, Basic auth with the write
 * key, Idempotency-Key), a row that does not encode is quarantined as
 * unsendable instead of sent, and the sent events become forwarded.  The
 * answers' table (§8) is tested in core (response_test); retries, splits
 * and outages in the integration tests. */
#include "daemon_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "container.h"
#include "event.h"
#include "forward.h"
#include "log.h"
#include "loop.h"

#define T 1795885392123LL

struct cdp {
	struct vg_loop *loop;
	struct vg_watch lw, cw;
	int lfd, cfd, port;
	char in[1 << 18];
	size_t n;
	int requests;
	char head[4096];             /* the last request's line and headers */
	char *body;                  /* its body, gunzipped (malloc'd) */
};

static void cdp_request(struct cdp *c, const char *head, const unsigned char *gz, size_t gzlen)
{
	snprintf(c->head, sizeof c->head, "%.*s", (int)sizeof c->head - 1, head);
	free(c->body);
	size_t cap = 1 << 20;
	c->body = calloc(1, cap);
	assert_non_null(c->body);
	z_stream z;
	memset(&z, 0, sizeof z);
	assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
	z.next_in = (unsigned char *)gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = (unsigned char *)c->body;
	z.avail_out = (uInt)(cap - 1);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	inflateEnd(&z);
	c->requests++;
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
	                         "{\"success\":true}";
	assert_int_equal(send(c->cfd, ok, sizeof ok - 1, MSG_NOSIGNAL), (ssize_t)(sizeof ok - 1));
}

static void on_cdp_client(struct vg_watch *w, short revents)
{
	(void)revents;
	struct cdp *c = vg_container_of(w, struct cdp, cw);
	ssize_t r = read(c->cfd, c->in + c->n, sizeof c->in - 1 - c->n);
	if (r <= 0) {
		vg_loop_unwatch(c->loop, &c->cw);
		close(c->cfd);
		c->cfd = -1;
		return;
	}
	c->n += (size_t)r;
	c->in[c->n] = '\0';
	char *end = strstr(c->in, "\r\n\r\n");
	if (!end)
		return;
	*end = '\0';
	const char *cl = strcasestr(c->in, "\r\nContent-Length:");
	size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
	size_t hlen = (size_t)(end - c->in) + 4;
	if (c->n < hlen + len) {
		*end = '\r';
		return;
	}
	cdp_request(c, c->in, (unsigned char *)c->in + hlen, len);
	memmove(c->in, c->in + hlen + len, c->n - hlen - len);
	c->n -= hlen + len;
}

static void on_cdp_listen(struct vg_watch *w, short revents)
{
	(void)revents;
	struct cdp *c = vg_container_of(w, struct cdp, lw);
	int fd = accept(c->lfd, NULL, NULL);
	assert_true(fd >= 0);
	if (c->cfd >= 0) {           /* one connection at a time is all the test needs */
		vg_loop_unwatch(c->loop, &c->cw);
		close(c->cfd);
	}
	c->cfd = fd;
	c->n = 0;
	c->cw.cb = on_cdp_client;
	assert_int_equal(vg_loop_watch(c->loop, &c->cw, c->cfd, POLLIN), VG_OK);
}

static void cdp_listen(struct cdp *c, struct vg_loop *loop)
{
	memset(c, 0, sizeof *c);
	c->loop = loop;
	c->cfd = -1;
	c->lfd = loopback_socket(&c->port, 4);
	c->lw.cb = on_cdp_listen;
	assert_int_equal(vg_loop_watch(loop, &c->lw, c->lfd, POLLIN), VG_OK);
}

static void cdp_close(struct cdp *c)
{
	vg_loop_unwatch(c->loop, &c->lw);
	if (c->cfd >= 0) {
		vg_loop_unwatch(c->loop, &c->cw);
		close(c->cfd);
	}
	close(c->lfd);
	free(c->body);
}

/* ---- the daemon's side ------------------------------------------------------------ */

struct world {
	struct fixture *f;
	struct vg_config cfg;
	struct vg_loop loop;
	struct vg_store *st;
	struct vg_forwarder *fwd;
	char key_file[160];
	struct vg_timer poll_t;
	const char *sql;
	long long want;
	int64_t deadline;
};

static void world_open(struct world *w, struct fixture *f)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	vg_config_defaults(&w->cfg);
	snprintf(w->cfg.venue_id, sizeof w->cfg.venue_id, "venue-7");
	snprintf(w->cfg.gateway_id, sizeof w->cfg.gateway_id, "gw-1");
	snprintf(w->key_file, sizeof w->key_file, "%s/write_key", f->dir);
	FILE *k = fopen(w->key_file, "w");
	assert_non_null(k);
	fputs("wk-secret\n", k);
	fclose(k);
	snprintf(w->cfg.write_key_file, sizeof w->cfg.write_key_file, "%s", w->key_file);
	w->st = open_store(f->db, 1, 0);
}

static void forwarder_open(struct world *w)
{
	char err[256] = "";
	if (vg_forwarder_open(&w->fwd, &w->loop, &w->cfg, w->st, err, sizeof err) != VG_OK)
		fail_msg("vg_forwarder_open: %s", err);
	assert_non_null(w->fwd);
}

static void world_close(struct world *w)
{
	vg_forwarder_close(w->fwd);
	vg_store_close(w->st);
	unlink(w->key_file);
}

static void on_poll(struct vg_timer *t)
{
	struct world *w = vg_container_of(t, struct world, poll_t);
	if (raw_int(w->f->db, w->sql) >= w->want || vg_now_ms() > w->deadline)
		vg_loop_stop(&w->loop);
	else
		vg_loop_timer(&w->loop, &w->poll_t, vg_now_ms() + 5);
}

/* Run the loop until the count sql reaches n (at most 5 s). */
static void run_until(struct world *w, const char *sql, long long n)
{
	w->sql = sql;
	w->want = n;
	w->deadline = vg_now_ms() + 5000;
	w->poll_t.cb = on_poll;
	vg_loop_timer(&w->loop, &w->poll_t, vg_now_ms());
	w->loop.stop = 0;
	assert_int_equal(vg_loop_run(&w->loop), VG_OK);
	vg_loop_cancel(&w->loop, &w->poll_t);
	if (raw_int(w->f->db, sql) < n)
		fail_msg("not reached: %s >= %lld (now %lld)", sql, n, raw_int(w->f->db, sql));
}

#define RECON "SELECT count(*) FROM events WHERE type = 'gateway.reconciliation'"

static void without_an_endpoint_nothing_is_sent(void **state)
{
	struct world w;
	world_open(&w, *state);
	w.cfg.endpoint[0] = '\0';
	assert_int_equal(put_at(w.st, "p1", "pos-1", VG_PRIO_NORMAL, T, "{}"), VG_STORE_STORED);
	forwarder_open(&w);
	assert_false(vg_forwarder_stats(w.fwd)->enabled);
	/* The last complete window's reconciliation is stored at start (a
	 * restart may have missed it), once. */
	assert_int_equal(raw_int(w.f->db, RECON), 1);
	size_t n = 1;
	assert_null(vg_forwarder_counts(w.fwd, &n));
	assert_int_equal(n, 0);
	assert_int_equal(w.loop.nwatches, 0);
	vg_forwarder_close(w.fwd);
	forwarder_open(&w);
	assert_int_equal(raw_int(w.f->db, RECON), 1);
	/* Nothing claimed. */
	assert_int_equal(raw_int(w.f->db, "SELECT count(*) FROM events WHERE state <> 0"), 0);
	world_close(&w);
}

static const cJSON *message_with_id(const cJSON *batch, const char *id)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, batch)
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m, "messageId")), id) == 0)
			return m;
	return NULL;
}

static void a_batch_is_sent_and_forwarded(void **state)
{
	struct world w;
	world_open(&w, *state);
	static struct cdp c;
	cdp_listen(&c, &w.loop);
	snprintf(w.cfg.endpoint, sizeof w.cfg.endpoint, "http://127.0.0.1:%d/", c.port);

	static const char good[] = "{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T17:03:12.123Z\","
	                           "\"properties\":{\"gate\":\"north\"}}";
	assert_int_equal(put_at(w.st, "good1", "pos-1", VG_PRIO_NORMAL, T, good), VG_STORE_STORED);
	assert_int_equal(put_at(w.st, "bad1", "pos-1", VG_PRIO_NORMAL, T + 1, "not json at all"), VG_STORE_STORED);
	assert_int_equal(put_at(w.st, "good2", "pos-2", VG_PRIO_NORMAL, T + 2, good), VG_STORE_STORED);
	forwarder_open(&w);
	assert_true(vg_forwarder_stats(w.fwd)->enabled);
	run_until(&w, "SELECT count(*) FROM events WHERE state = 2 AND device_id <> '" VG_GATEWAY_DEVICE "'", 2);

	/* One request: POST /v1/batch (the endpoint's slash not doubled), gzip,
	 * the write key as the Basic user, the set's Idempotency-Key. */
	assert_int_equal(c.requests, 1);
	assert_non_null(strstr(c.head, "POST /v1/batch HTTP/1.1\r\n"));
	assert_non_null(strcasestr(c.head, "\r\nContent-Encoding: gzip"));
	assert_non_null(strcasestr(c.head, "\r\nAuthorization: Basic d2stc2VjcmV0Og=="));   /* wk-secret: */
	assert_non_null(strcasestr(c.head, "\r\nIdempotency-Key: "));
	cJSON *body = cJSON_Parse(c.body);
	assert_non_null(body);
	const cJSON *batch = cJSON_GetObjectItem(body, "batch");
	/* The two good events and the reconciliation; never the one that does not encode. */
	assert_int_equal(cJSON_GetArraySize(batch), 3);
	char key[160];
	raw_text(w.f->db, "SELECT event_key FROM events WHERE device_id = 'pos-1'", key, sizeof key);
	const cJSON *m = message_with_id(batch, key);
	assert_non_null(m);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "event")), "checkin.scanned");
	raw_text(w.f->db, "SELECT event_key FROM events WHERE device_id = 'pos-2'", key, sizeof key);
	assert_non_null(message_with_id(batch, key));
	cJSON_Delete(body);

	/* The row that does not encode is quarantined as unsendable, its body held. */
	char row[256];
	raw_text(w.f->db, "SELECT device_id || ' ' || reason || ' ' || state || ' ' || body FROM quarantine", row,
	         sizeof row);
	assert_string_equal(row, "pos-1 unsendable held not json at all");
	assert_int_equal(raw_int(w.f->db, "SELECT count(*) FROM events WHERE state <> 2"), 0);
	/* Forwarded: keys kept, bodies gone, no batch left. */
	assert_int_equal(raw_int(w.f->db, "SELECT count(*) FROM events WHERE body IS NOT NULL"), 0);
	assert_int_equal(raw_int(w.f->db, "SELECT count(*) FROM batches"), 0);

	const struct vg_forward_stats *fs = vg_forwarder_stats(w.fwd);
	assert_int_equal(fs->batches_ok, 1);
	assert_int_equal(fs->events_quarantined, 1);
	assert_int_equal(fs->last_status, 200);
	size_t n = 0;
	const struct vg_forward_count *counts = vg_forwarder_counts(w.fwd, &n);
	unsigned long long pos1 = 0, pos2 = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(counts[i].device_id, "pos-1") == 0)
			pos1 += counts[i].events;
		if (strcmp(counts[i].device_id, "pos-2") == 0)
			pos2 += counts[i].events;
	}
	assert_int_equal(pos1, 1);
	assert_int_equal(pos2, 1);
	world_close(&w);
	cdp_close(&c);
}

int main(void)
{
	vg_log_threshold = VG_LOG_ERR;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(without_an_endpoint_nothing_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(a_batch_is_sent_and_forwarded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
