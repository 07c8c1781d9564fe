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
#include <time.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "container.h"
#include "event.h"
#include "encode.h"
#include "forward.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"

#define T 1795885392123LL

#define CDP_CONNS 8
#define CDP_REQUESTS 16

struct cdp;

/* One connection (curl keeps one per slot alive). */
struct conn {
	struct cdp *c;
	struct vg_watch w;
	int fd;
	char in[1 << 17];
	size_t n;
};

struct cdp {
	struct vg_loop *loop;
	struct vg_watch lw;
	int lfd, port;
	struct conn conns[CDP_CONNS];
	int requests;
	char head[4096];             /* the last request's line and headers */
	char *body;                  /* its body, gunzipped (malloc'd) */
	char *bodies[CDP_REQUESTS];  /* each request's body, gunzipped (malloc'd) */
	int sizes[CDP_REQUESTS];     /* messages in each request */
	char first_id[CDP_REQUESTS][48];   /* the messageId of each request's first message */
};

static void cdp_request(struct conn *k, const char *head, const unsigned char *gz, size_t gzlen)
{
	struct cdp *c = k->c;
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
	if (c->requests < CDP_REQUESTS) {
		cJSON *o = cJSON_Parse(c->body);
		const cJSON *batch = cJSON_GetObjectItem(o, "batch");
		c->sizes[c->requests] = cJSON_GetArraySize(batch);
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(batch, 0), "messageId"));
		snprintf(c->first_id[c->requests], sizeof c->first_id[0], "%s", id ? id : "");
		cJSON_Delete(o);
		c->bodies[c->requests] = strdup(c->body);
	}
	c->requests++;
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
	                         "{\"success\":true}";
	assert_int_equal(send(k->fd, ok, sizeof ok - 1, MSG_NOSIGNAL), (ssize_t)(sizeof ok - 1));
}

static void on_cdp_client(struct vg_watch *w, short revents)
{
	(void)revents;
	struct conn *k = vg_container_of(w, struct conn, w);
	ssize_t r = read(k->fd, k->in + k->n, sizeof k->in - 1 - k->n);
	if (r <= 0) {
		vg_loop_unwatch(k->c->loop, &k->w);
		close(k->fd);
		k->fd = -1;
		return;
	}
	k->n += (size_t)r;
	k->in[k->n] = '\0';
	char *end = strstr(k->in, "\r\n\r\n");
	if (!end)
		return;
	*end = '\0';
	const char *cl = strcasestr(k->in, "\r\nContent-Length:");
	size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
	size_t hlen = (size_t)(end - k->in) + 4;
	if (k->n < hlen + len) {
		*end = '\r';
		return;
	}
	cdp_request(k, k->in, (unsigned char *)k->in + hlen, len);
	memmove(k->in, k->in + hlen + len, k->n - hlen - len);
	k->n -= hlen + len;
}

static void on_cdp_listen(struct vg_watch *w, short revents)
{
	(void)revents;
	struct cdp *c = vg_container_of(w, struct cdp, lw);
	int fd = accept(c->lfd, NULL, NULL);
	assert_true(fd >= 0);
	struct conn *k = NULL;
	for (int i = 0; i < CDP_CONNS && !k; i++)
		if (c->conns[i].fd < 0)
			k = &c->conns[i];
	if (!k)
		fail_msg("more than %d connections to the CDP", CDP_CONNS);
	k->c = c;
	k->fd = fd;
	k->n = 0;
	k->w.cb = on_cdp_client;
	assert_int_equal(vg_loop_watch(c->loop, &k->w, k->fd, POLLIN), VG_OK);
}

static void cdp_listen(struct cdp *c, struct vg_loop *loop)
{
	memset(c, 0, sizeof *c);
	c->loop = loop;
	for (int i = 0; i < CDP_CONNS; i++)
		c->conns[i].fd = -1;
	c->lfd = loopback_socket(&c->port, 4);
	c->lw.cb = on_cdp_listen;
	assert_int_equal(vg_loop_watch(loop, &c->lw, c->lfd, POLLIN), VG_OK);
}

static void cdp_close(struct cdp *c)
{
	vg_loop_unwatch(c->loop, &c->lw);
	for (int i = 0; i < CDP_CONNS; i++) {
		if (c->conns[i].fd >= 0) {
			vg_loop_unwatch(c->loop, &c->conns[i].w);
			close(c->conns[i].fd);
		}
	}
	close(c->lfd);
	free(c->body);
	for (int i = 0; i < CDP_REQUESTS; i++)
		free(c->bodies[i]);
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
	assert_int_equal(raw_int(w.f->db, "SELECT count(*) FROM inflight"), 0);
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
	run_until(&w, "SELECT coalesce(sum(count), 0) FROM forwards WHERE device_id <> '" VG_GATEWAY_DEVICE "'", 2);

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
	raw_text(w.f->db, "SELECT CAST(key AS TEXT) FROM keys WHERE device_id = 'pos-1'", key, sizeof key);
	const cJSON *m = message_with_id(batch, key);
	assert_non_null(m);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "event")), "checkin.scanned");
	raw_text(w.f->db, "SELECT CAST(key AS TEXT) FROM keys WHERE device_id = 'pos-2'", key, sizeof key);
	assert_non_null(message_with_id(batch, key));
	cJSON_Delete(body);

	/* The row that does not encode is quarantined as unsendable, its body held. */
	char row[256];
	raw_text(w.f->db, "SELECT device_id || ' ' || reason || ' ' || state || ' ' || body FROM quarantine", row,
	         sizeof row);
	assert_string_equal(row, "pos-1 unsendable held not json at all");
	/* Forwarded: the rows gone, the keys kept (not the quarantined one's), no batch left. */
	assert_int_equal(raw_int(w.f->db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(raw_int(w.f->db, "SELECT count(*) FROM keys WHERE device_id <> '" VG_GATEWAY_DEVICE "'"), 2);
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

/* ---- stored bodies, sent as they stand ------------------------------------------------ */

/* Inputs as devices send them: both message types, identifiers under every
 * policy's default, a rotation's previous tokens, numbers beyond 15 digits
 * and fractions (their bodies go the tree's way), escapes and non-ASCII
 * text, a time replaced, a time missing, an unsynced clock, a time without
 * offset (the daemon's zone). */
static const struct wire_input {
	const char *device;
	const char *json;
	int synced;
	int prev_key;      /* ingest during a rotation's overlap */
} wire_inputs[] = {
	{ "pos-1", "{\"id\":\"0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7\",\"type\":\"checkin.scanned\","
	  "\"occurred_at\":\"2026-11-28T18:03:12.123+01:00\",\"seq\":1842,\"person\":{\"email\":\" Ana.Lopez@Example.com \","
	  "\"phone\":\"+34 612 345 678\",\"customer_id\":\"MB-88121\",\"loyalty_id\":\"L-4410\"},"
	  "\"consent\":{\"marketing_email\":true,\"marketing_sms\":false,\"source\":\"kiosk-2\"},"
	  "\"properties\":{\"class_id\":\"spin-0900\",\"location\":\"studio-b\"}}", 1, 1 },
	{ "kiosk-1", "{\"id\":\"c-1\",\"type\":\"consent.updated\",\"occurred_at\":\"2026-11-28T17:01:00Z\","
	  "\"person\":{\"phone\":\"030 1234567\"},\"consent\":{\"marketing_email\":false,\"source\":\"desk\"}}", 1, 0 },
	{ "pos-2", "{\"id\":\"pay-1\",\"type\":\"payment.succeeded\",\"occurred_at\":\"2026-11-28T17:02:00.5-05:30\","
	  "\"seq\":9007199254740993,\"person\":{\"loyalty_id\":\"L-1\"},"
	  "\"properties\":{\"amount_minor\":5105105105105159,\"currency\":\"EUR\"}}", 1, 0 },
	{ "pos-2", "{\"type\":\"device.status\",\"properties\":{\"battery\":81.25,\"note\":\"Z\\u00fcrich \\u2603 "
	  "\\\"quoted\\\" \\\\ tab\\t mail ana.lopez@example.com\"}}", 1, 0 },
	{ "pos-3", "{\"id\":\"fut-1\",\"type\":\"class.attended\",\"occurred_at\":\"2027-01-01T00:00:00Z\","
	  "\"person\":{\"member_code\":\"M-9\"},\"properties\":{\"class_id\":\"yoga\"}}", 1, 0 },
	{ "pos-3", "{\"id\":\"uns-1\",\"type\":\"class.attended\",\"occurred_at\":\"2020-01-01T00:00:00Z\","
	  "\"properties\":{\"class_id\":\"yoga\"}}", 0, 0 },
	{ "pos-3", "{\"id\":\"tz-1\",\"type\":\"kiosk.session.started\",\"occurred_at\":\"2026-11-28T18:00:00\"}", 1, 0 },
	{ "pos-1", "{\"id\":\"old-1\",\"type\":\"booking.created\",\"occurred_at\":\"2026-11-28T17:00:00+01:00\","
	  "\"person\":{\"customer_id\":\"C-5\"},\"properties\":{\"booking_id\":\"b-1\",\"class_id\":\"spin\"}}", 1, 0 },
};
#define N_WIRE (sizeof wire_inputs / sizeof wire_inputs[0])

/* The rows as stored before the forwarder claims them. */
struct stored_row {
	char key[VG_EVENT_KEY_LEN + 1];
	char device[65];
	unsigned flags;
	int64_t recv;
	char *body;
};

/* The same events go out byte for byte as the tree encoder makes them
 * (vg_encode_message, vg_encode_batch), whether the forwarder copied their
 * bodies' values (vg_encode_text) or parsed them: the batch below mixes
 * both. */
static void stored_bodies_go_out_byte_for_byte(void **state)
{
	struct world w;
	world_open(&w, *state);
	snprintf(w.cfg.timezone, sizeof w.cfg.timezone, "Europe/Berlin");
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	static struct cdp c;
	cdp_listen(&c, &w.loop);
	snprintf(w.cfg.endpoint, sizeof w.cfg.endpoint, "http://127.0.0.1:%d/", c.port);

	struct vg_plan *plan = NULL;
	char err[512];
	assert_int_equal(vg_plan_load(&plan, VG_DEFAULT_PLAN, err, sizeof err), VG_OK);
	struct vg_key k1 = { .version = 1 }, k2 = { .version = 2 };
	for (int i = 0; i < 32; i++) {
		k1.bytes[i] = (uint8_t)i;
		k2.bytes[i] = (uint8_t)(0x80 + i);
	}
	for (size_t i = 0; i < N_WIRE; i++) {
		const struct wire_input *in = &wire_inputs[i];
		struct vg_ingest_cfg icfg;
		vg_ingest_cfg_init(&icfg, &w.cfg, in->prev_key ? &k2 : &k1);
		icfg.plan = plan;
		icfg.prev_key = in->prev_key ? &k1 : NULL;
		struct vg_ingest_out out;
		assert_int_equal(vg_ingest(&icfg, in->device, in->json, strlen(in->json), T, in->synced, &out), VG_OK);
		if (out.quarantined)
			fail_msg("input %zu quarantined: %s %s", i, vg_reject_name(out.rej.reason), out.rej.detail);
		struct vg_store_event ev = {
			.event_key = out.event_key, .device_id = in->device, .type = out.type, .priority = out.priority,
			.flags = out.flags, .received_at_ms = T, .body = out.body, .body_len = out.body_len,
		};
		assert_int_equal(put_in_txn(w.st, &ev, NULL), VG_STORE_STORED);
		vg_ingest_out_free(&out);
	}
	vg_plan_free(plan);

	/* Opening stores the last window's reconciliation (a body of its own);
	 * nothing is claimed before the loop runs. */
	forwarder_open(&w);
	struct stored_row rows[N_WIRE + 4];
	size_t nrows = 0;
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(w.f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT event_key, device_id, flags, received_at_ms, body FROM events"
	                                        " WHERE id NOT IN (SELECT id FROM inflight)", -1, &q, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW) {
		assert_true(nrows < N_WIRE + 4);
		struct stored_row *r = &rows[nrows++];
		snprintf(r->key, sizeof r->key, "%s", (const char *)sqlite3_column_text(q, 0));
		snprintf(r->device, sizeof r->device, "%s", (const char *)sqlite3_column_text(q, 1));
		r->flags = (unsigned)sqlite3_column_int64(q, 2);
		r->recv = sqlite3_column_int64(q, 3);
		r->body = strdup((const char *)sqlite3_column_text(q, 4));
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_int_equal(nrows, N_WIRE + 1);

	run_until(&w, "SELECT coalesce(sum(count), 0) FROM forwards", (long long)nrows);
	/* The priority lane's batch (consent) and the others'. */
	assert_true(c.requests >= 2 && c.requests <= CDP_REQUESTS);

	/* The tree's encoding of the same rows, in the order they were sent. */
	const struct vg_encode_ctx ectx = { .venue_id = "venue-7", .gateway_id = "gw-1", .library_version = VG_VERSION };
	int total = 0;
	for (int req = 0; req < c.requests; req++) {
		cJSON *got = cJSON_Parse(c.bodies[req]);
		assert_non_null(got);
		const cJSON *batch = cJSON_GetObjectItem(got, "batch");
		total += cJSON_GetArraySize(batch);
		cJSON *messages = cJSON_CreateArray();
		const cJSON *m;
		cJSON_ArrayForEach(m, batch) {
			const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(m, "messageId"));
			struct stored_row *r = NULL;
			for (size_t i = 0; i < nrows && !r; i++)
				if (strcmp(rows[i].key, id) == 0)
					r = &rows[i];
			assert_non_null(r);
			cJSON *body = cJSON_Parse(r->body);
			assert_non_null(body);
			assert_int_equal(vg_json_exact_numbers(body), VG_OK); /* as the ingest printed it */
			char *plain = cJSON_PrintUnformatted(body);
			cJSON_Delete(body);
			struct vg_encode_event ev = { .event_key = r->key, .device_id = r->device, .body = plain,
			                              .body_len = strlen(plain), .flags = r->flags,
			                              .received_at_ms = r->recv };
			cJSON *msg = NULL;
			assert_int_equal(vg_encode_message(&ectx, &ev, &msg), VG_OK);
			cJSON_AddItemToArray(messages, msg);
			cJSON_free(plain);
		}
		cJSON_Delete(got);
		size_t wlen = 0;
		char *want = vg_encode_batch(messages, -1, &wlen);
		cJSON_Delete(messages);
		/* sentAt is the time of the attempt (when the clock is synchronised). */
		char *sent = c.bodies[req];
		char *at = strstr(sent, "],\"sentAt\":\"");
		if (at)
			memmove(at + 1, at + 1 + strlen(",\"sentAt\":\"") + 24 + 1, strlen(at + 1 + 36) + 1);
		assert_string_equal(sent, want);
		cJSON_free(want);
	}
	assert_int_equal(total, (int)nrows);
	for (size_t i = 0; i < nrows; i++)
		free(rows[i].body);
	unsetenv("TZ");
	tzset();
	world_close(&w);
	cdp_close(&c);
}

static void on_nothing(struct vg_watch *w, short revents)
{
	(void)w;
	(void)revents;
}

/* A transfer whose socket the loop has no room to watch fails that attempt
 * alone, like a network error; once there is room again the batch is
 * delivered (the multi handle was not poisoned by a -1 from the socket
 * callback, which makes libcurl fail every later transfer). */
static void a_refused_watch_fails_one_attempt_not_the_forwarder(void **state)
{
	struct world w;
	world_open(&w, *state);
	static struct cdp c;
	cdp_listen(&c, &w.loop);
	snprintf(w.cfg.endpoint, sizeof w.cfg.endpoint, "http://127.0.0.1:%d/", c.port);
	static const char good[] = "{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T17:03:12.123Z\"}";
	assert_int_equal(put_at(w.st, "good1", "pos-1", VG_PRIO_NORMAL, T, good), VG_STORE_STORED);
	forwarder_open(&w);
	/* The stand-in stops accepting for now; every other slot of the loop is taken. */
	vg_loop_unwatch(&w.loop, &c.lw);
	int p[2];
	assert_int_equal(pipe(p), 0);
	static struct vg_watch dummy[VG_LOOP_MAX_WATCHES];
	int taken = 0;
	for (int i = 0; i < VG_LOOP_MAX_WATCHES; i++) {
		dummy[i].cb = on_nothing;
		if (vg_loop_watch(&w.loop, &dummy[i], p[0], POLLIN) != VG_OK)
			break;
		taken++;
	}
	assert_int_equal(w.loop.nwatches, VG_LOOP_MAX_WATCHES);
	run_until(&w, "SELECT count(*) FROM batches WHERE attempts >= 1", 1);
	char err[200];
	raw_text(w.f->db, "SELECT last_error FROM batches", err, sizeof err);
	assert_non_null(strstr(err, "no room in the loop to watch the CDP connection"));
	assert_int_equal(raw_int(w.f->db, "SELECT coalesce(sum(count), 0) FROM forwards WHERE device_id = 'pos-1'"), 0);
	assert_true(vg_forwarder_stats(w.fwd)->attempts_failed >= 1);

	/* Room again: the retry goes out on the same forwarder and is delivered. */
	for (int i = 0; i < taken; i++)
		vg_loop_unwatch(&w.loop, &dummy[i]);
	close(p[0]);
	close(p[1]);
	assert_int_equal(vg_loop_watch(&w.loop, &c.lw, c.lfd, POLLIN), VG_OK);
	run_until(&w, "SELECT coalesce(sum(count), 0) FROM forwards WHERE device_id = 'pos-1'", 1);
	assert_true(c.requests >= 1);
	world_close(&w);
	cdp_close(&c);
}

/* Batches hold at most max_batch_events; the priority lane (consent)
 * leaves first, in its own batch. */
static void batches_are_cut_and_the_lane_goes_first(void **state)
{
	struct world w;
	world_open(&w, *state);
	static struct cdp c;
	cdp_listen(&c, &w.loop);
	snprintf(w.cfg.endpoint, sizeof w.cfg.endpoint, "http://127.0.0.1:%d", c.port);
	w.cfg.max_batch_events = 2;
	static const char scan[] = "{\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-11-28T17:03:12.123Z\"}";
	static const char consent[] = "{\"type\":\"consent.updated\",\"occurred_at\":\"2026-11-28T17:03:12.123Z\","
	                              "\"properties\":{\"purposes\":{\"marketing\":false}}}";
	for (int i = 0; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof key, "s%d", i);
		assert_int_equal(put_at(w.st, key, "pos-1", VG_PRIO_NORMAL, T + i, scan), VG_STORE_STORED);
	}
	struct vg_store_event ev = event("c1xxxxxxxxxxxxxxxxxxxx", consent);
	ev.device_id = "kiosk-1";
	ev.type = "consent.updated";
	ev.priority = VG_PRIO_HIGH;
	ev.received_at_ms = T + 10;
	assert_int_equal(put_in_txn(w.st, &ev, NULL), VG_STORE_STORED);
	forwarder_open(&w);
	/* 5 scans, the consent and the reconciliation. */
	run_until(&w, "SELECT coalesce(sum(count), 0) FROM forwards", 7);
	assert_int_equal(c.requests, 4);
	char key[64];
	raw_text(w.f->db, "SELECT CAST(key AS TEXT) FROM keys WHERE device_id = 'kiosk-1'", key, sizeof key);
	assert_string_equal(c.first_id[0], key);
	assert_int_equal(c.sizes[0], 1);
	int total = 0;
	for (int i = 1; i < 4; i++) {
		assert_int_equal(c.sizes[i], 2);
		total += c.sizes[i];
	}
	assert_int_equal(total, 6);
	assert_int_equal(vg_forwarder_stats(w.fwd)->batches_ok, 4);
	assert_int_equal(vg_forwarder_stats(w.fwd)->consents_forwarded, 1);
	world_close(&w);
	cdp_close(&c);
}

int main(void)
{
	vg_log_threshold = VG_LOG_ERR;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(without_an_endpoint_nothing_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(a_batch_is_sent_and_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(stored_bodies_go_out_byte_for_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(batches_are_cut_and_the_lane_goes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(a_refused_watch_fails_one_attempt_not_the_forwarder, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
