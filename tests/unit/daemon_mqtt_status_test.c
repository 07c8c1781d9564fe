/* Unit tests for firmware/daemon/mqtt_status.c: data_dir/status.json (the
 * metrics' status over a real buffer.db, replaced whole) with no broker to
 * be had; and, against a minimal MQTT 3.1.1 broker the test serves on a
 * loopback socket from the same loop, the retained "down" will in CONNECT,
 * the retained status published on connection, and "stopped" at close. */
#include "daemon_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "container.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mqtt_status.h"

struct world {
	struct daemon_world d;
	struct vg_status *s;
	char status_path[160];
};

static void world_open(struct world *w, struct fixture *f, int port)
{
	daemon_world_open(&w->d, f);
	w->s = NULL;
	snprintf(w->d.cfg.mqtt_host, sizeof w->d.cfg.mqtt_host, "127.0.0.1");
	w->d.cfg.mqtt_port = port;
	snprintf(w->status_path, sizeof w->status_path, "%s/status.json", f->dir);
	daemon_metrics_open(&w->d);
}

static void world_close(struct world *w)
{
	daemon_world_close(&w->d);
	unlink(w->status_path);
}

static cJSON *status_file(struct world *w)
{
	FILE *f = fopen(w->status_path, "r");
	if (!f)
		fail_msg("no %s", w->status_path);
	char text[1 << 16];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	cJSON *o = cJSON_Parse(text);
	if (!o)
		fail_msg("not JSON: %s", text);
	return o;
}

static const char *str(const cJSON *o, const char *name)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
	return v ? v : "(none)";
}

/* No broker: nothing fails, and status.json still says what the metrics say. */
static void the_status_file_without_a_broker(void **state)
{
	int port;
	int busy = loopback_socket(&port, 0);   /* connecting is refused */
	struct world w;
	world_open(&w, *state, port);
	assert_int_equal(put_at(w.d.st, "s1", "pos-1", VG_PRIO_NORMAL, 1795885392123, "{}"), VG_STORE_STORED);
	assert_int_equal(vg_status_open(&w.s, &w.d.loop, &w.d.cfg, w.d.m), VG_OK);
	/* Not connected: a reconnect is due (and the periodic publish), no socket watched. */
	assert_int_equal(w.d.loop.nwatches, 0);
	vg_status_close(w.s);
	assert_int_equal(w.d.loop.nwatches, 0);
	cJSON *o = status_file(&w);
	assert_string_equal(str(o, "state"), "stopped");
	assert_string_equal(str(o, "venue_id"), "venue-7");
	assert_string_equal(str(o, "gateway_id"), "gw-1");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ingested_since_start")), 1);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "pending")), 1);
	cJSON_Delete(o);
	/* Replaced whole: no temporary file left. */
	char tmp[200];
	snprintf(tmp, sizeof tmp, "%s.tmp", w.status_path);
	assert_int_equal(access(tmp, F_OK), -1);
	close(busy);
	world_close(&w);
}

/* ---- a minimal broker on the loop ----------------------------------------------- */

struct broker {
	struct vg_loop *loop;
	struct vg_watch lw, cw;
	struct vg_timer t;
	int lfd, cfd, port;
	unsigned char in[1 << 16];
	size_t n;
	/* what it saw */
	int connected;
	char client_id[128], will_topic[128], will[512];
	int will_retain, will_qos;
	int publishes;
	char topic[128], payload[1 << 15];
	int retain, qos;
	int disconnected;
	int stop_after_publishes;
	int timed_out;
};

/* An MQTT string (2-byte length, bytes) at *p of end. */
static void mqtt_str(const unsigned char **p, const unsigned char *end, char *out, size_t outsz)
{
	assert_true(end - *p >= 2);
	size_t len = (size_t)((*p)[0] << 8 | (*p)[1]);
	*p += 2;
	assert_true((size_t)(end - *p) >= len);
	snprintf(out, outsz, "%.*s", (int)len, (const char *)*p);
	*p += len;
}

/* One whole packet at the start of b->in: its length, or 0 when not all in. */
static size_t packet(struct broker *b, unsigned *type_flags, const unsigned char **body, size_t *blen)
{
	if (b->n < 2)
		return 0;
	size_t len = 0, i = 1;
	unsigned shift = 0;
	for (;; i++) {
		if (i >= b->n)
			return 0;
		len |= (size_t)(b->in[i] & 0x7f) << shift;
		shift += 7;
		if (!(b->in[i] & 0x80))
			break;
	}
	i++;
	if (b->n < i + len)
		return 0;
	*type_flags = b->in[0];
	*body = b->in + i;
	*blen = len;
	return i + len;
}

static void handle(struct broker *b, unsigned tf, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	char proto[8];
	switch (tf >> 4) {
	case 1: {   /* CONNECT */
		mqtt_str(&p, end, proto, sizeof proto);
		assert_string_equal(proto, "MQTT");
		p++;                         /* level */
		unsigned flags = *p++;
		p += 2;                      /* keep alive */
		mqtt_str(&p, end, b->client_id, sizeof b->client_id);
		if (flags & 0x04) {
			mqtt_str(&p, end, b->will_topic, sizeof b->will_topic);
			mqtt_str(&p, end, b->will, sizeof b->will);
			b->will_qos = (int)(flags >> 3 & 3);
			b->will_retain = !!(flags & 0x20);
		}
		b->connected = 1;
		static const unsigned char connack[] = { 0x20, 0x02, 0x00, 0x00 };
		assert_int_equal(write(b->cfd, connack, sizeof connack), (ssize_t)sizeof connack);
		break;
	}
	case 3: {   /* PUBLISH */
		b->qos = (int)(tf >> 1 & 3);
		b->retain = (int)(tf & 1);
		mqtt_str(&p, end, b->topic, sizeof b->topic);
		if (b->qos)
			p += 2;                  /* the packet id */
		snprintf(b->payload, sizeof b->payload, "%.*s", (int)(end - p), (const char *)p);
		b->publishes++;
		/* No PUBACK: the test stops the loop here, so the client would
		 * close with it unread, and that close (a reset) would lose its
		 * DISCONNECT on the way here. */
		if (b->publishes >= b->stop_after_publishes)
			vg_loop_stop(b->loop);
		break;
	}
	case 14:    /* DISCONNECT */
		b->disconnected = 1;
		break;
	default:
		break;
	}
}

/* Read what the client sent and handle each whole packet. */
static void broker_read(struct broker *b)
{
	for (;;) {
		ssize_t r = read(b->cfd, b->in + b->n, sizeof b->in - b->n);
		if (r <= 0)
			break;
		b->n += (size_t)r;
	}
	unsigned tf;
	const unsigned char *body;
	size_t blen, used;
	while ((used = packet(b, &tf, &body, &blen)) > 0) {
		handle(b, tf, body, blen);
		memmove(b->in, b->in + used, b->n - used);
		b->n -= used;
	}
}

static void on_client(struct vg_watch *w, short revents)
{
	(void)revents;
	broker_read(vg_container_of(w, struct broker, cw));
}

static void on_listen(struct vg_watch *w, short revents)
{
	(void)revents;
	struct broker *b = vg_container_of(w, struct broker, lw);
	b->cfd = accept(b->lfd, NULL, NULL);
	assert_true(b->cfd >= 0);
	assert_int_equal(fcntl(b->cfd, F_SETFL, O_NONBLOCK), 0);
	b->cw.cb = on_client;
	assert_int_equal(vg_loop_watch(b->loop, &b->cw, b->cfd, POLLIN), VG_OK);
	vg_loop_unwatch(b->loop, &b->lw);
}

static void on_broker_timeout(struct vg_timer *t)
{
	struct broker *b = vg_container_of(t, struct broker, t);
	b->timed_out = 1;
	vg_loop_stop(b->loop);
}

static void broker_listen(struct broker *b, struct vg_loop *loop)
{
	memset(b, 0, sizeof *b);
	b->loop = loop;
	b->cfd = -1;
	b->lfd = loopback_socket(&b->port, 4);
	b->lw.cb = on_listen;
	assert_int_equal(vg_loop_watch(loop, &b->lw, b->lfd, POLLIN), VG_OK);
}

/* Run the loop until the broker had n publishes (at most 5 s). */
static void run_until_publishes(struct broker *b, int n)
{
	b->stop_after_publishes = n;
	b->t.cb = on_broker_timeout;
	vg_loop_timer(b->loop, &b->t, vg_now_ms() + 5000);
	b->loop->stop = 0;
	assert_int_equal(vg_loop_run(b->loop), VG_OK);
	vg_loop_cancel(b->loop, &b->t);
	assert_false(b->timed_out);
}

static void broker_close(struct broker *b)
{
	vg_loop_unwatch(b->loop, &b->lw);
	vg_loop_unwatch(b->loop, &b->cw);
	if (b->cfd >= 0)
		close(b->cfd);
	close(b->lfd);
}

static void publishes_the_status_on_the_broker(void **state)
{
	struct world w;
	static struct broker b;
	world_open(&w, *state, 0);
	broker_listen(&b, &w.d.loop);
	w.d.cfg.mqtt_port = b.port;
	assert_int_equal(put_at(w.d.st, "s1", "pos-1", VG_PRIO_NORMAL, 1795885392123, "{}"), VG_STORE_STORED);
	assert_int_equal(vg_status_open(&w.s, &w.d.loop, &w.d.cfg, w.d.m), VG_OK);
	run_until_publishes(&b, 1);

	assert_string_equal(b.client_id, "venuegw-daemon-gw-1");
	/* The last will: retained "down", so subscribers learn when the daemon dies. */
	assert_string_equal(b.will_topic, VG_STATUS_TOPIC);
	assert_string_equal(b.will, "{\"state\":\"down\",\"venue_id\":\"venue-7\",\"gateway_id\":\"gw-1\"}");
	assert_int_equal(b.will_retain, 1);
	assert_int_equal(b.will_qos, 1);
	/* On connection: the status, retained, QoS 1; the same in status.json. */
	assert_string_equal(b.topic, VG_STATUS_TOPIC);
	assert_int_equal(b.retain, 1);
	assert_int_equal(b.qos, 1);
	cJSON *o = cJSON_Parse(b.payload);
	assert_non_null(o);
	assert_string_equal(str(o, "state"), "up");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ingested_since_start")), 1);
	cJSON_Delete(o);
	o = status_file(&w);
	assert_string_equal(str(o, "state"), "up");
	cJSON_Delete(o);

	/* Close: "stopped", retained, then a clean DISCONNECT (the will is not sent). */
	vg_status_close(w.s);
	broker_read(&b);
	assert_int_equal(b.publishes, 2);
	o = cJSON_Parse(b.payload);
	assert_string_equal(str(o, "state"), "stopped");
	cJSON_Delete(o);
	assert_int_equal(b.retain, 1);
	assert_int_equal(b.disconnected, 1);
	o = status_file(&w);
	assert_string_equal(str(o, "state"), "stopped");
	cJSON_Delete(o);
	broker_close(&b);
	world_close(&w);
}

int main(void)
{
	vg_log_threshold = VG_LOG_ERR;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(the_status_file_without_a_broker, setup, teardown),
		cmocka_unit_test_setup_teardown(publishes_the_status_on_the_broker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
