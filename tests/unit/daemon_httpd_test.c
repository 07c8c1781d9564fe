/* Unit tests for firmware/daemon/httpd.c: a real server on a free loopback
 * port, run by the daemon's loop, asked by a client socket the same loop
 * watches.  The password check (HTTP Basic, any user), GET/HEAD only, the
 * handler's answers, and the daemon's routes over real metrics on a real
 * buffer.db, with [metrics] password_file and its refusals. */
#include "daemon_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"
#include "container.h"
#include "httpd.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

/* ---- a client on the loop --------------------------------------------------- */

struct client {
	struct vg_watch w;
	struct vg_timer t;
	struct vg_loop *loop;
	char buf[1 << 17];
	size_t n;
	int timed_out;
};

static void on_client(struct vg_watch *w, short revents)
{
	(void)revents;
	struct client *c = vg_container_of(w, struct client, w);
	ssize_t r = read(w->fd, c->buf + c->n, sizeof c->buf - 1 - c->n);
	if (r > 0) {
		c->n += (size_t)r;
		return;
	}
	vg_loop_stop(c->loop);   /* closed (Connection: close): the whole answer is here */
}

static void on_timeout(struct vg_timer *t)
{
	struct client *c = vg_container_of(t, struct client, t);
	c->timed_out = 1;
	vg_loop_stop(c->loop);
}

/* Send req (a whole HTTP/1.1 request) to 127.0.0.1:port and run the loop
 * until the server closed: the response in c->buf, its status returned. */
static int ask(struct vg_loop *loop, int port, const char *req, struct client *c)
{
	memset(c, 0, sizeof *c);
	c->loop = loop;
	c->w.cb = on_client;
	c->t.cb = on_timeout;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	assert_int_equal(vg_loop_watch(loop, &c->w, fd, POLLIN), VG_OK);
	vg_loop_timer(loop, &c->t, vg_now_ms() + 5000);
	loop->stop = 0;
	assert_int_equal(vg_loop_run(loop), VG_OK);
	vg_loop_cancel(loop, &c->t);
	vg_loop_unwatch(loop, &c->w);
	close(fd);
	assert_false(c->timed_out);
	c->buf[c->n] = '\0';
	int status = 0;
	if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
		fail_msg("not an HTTP response: %s", c->buf);
	return status;
}

static int get(struct vg_loop *loop, int port, const char *method, const char *path, const char *auth,
               struct client *c)
{
	char req[512];
	snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s\r\n", method,
	         path, auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
	return ask(loop, port, req, c);
}

/* The value of header name in the response, or NULL. */
static const char *header(struct client *c, const char *name, char *out, size_t outsz)
{
	size_t n = strlen(name);
	for (const char *p = strstr(c->buf, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			const char *v = p + 3 + n;
			while (*v == ' ')
				v++;
			snprintf(out, outsz, "%.*s", (int)strcspn(v, "\r\n"), v);
			return out;
		}
	}
	return NULL;
}

static const char *body(const struct client *c)
{
	const char *b = strstr(c->buf, "\r\n\r\n");
	return b ? b + 4 : "";
}

/* A loopback port nothing listens on (bound, read back and released). */
static int free_port(void)
{
	int port;
	close(loopback_socket(&port, 0));
	return port;
}

/* Open a server through open_fn on a free port (another free one if a
 * process took it meanwhile): the port. */
typedef int (*open_fn)(void *ud, const char *listen, char *err, size_t errsz);
static int open_on_free_port(open_fn fn, void *ud)
{
	for (int tries = 0; tries < 10; tries++) {
		int port = free_port();
		char listen[32], err[256] = "";
		snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
		int rc = fn(ud, listen, err, sizeof err);
		if (rc == VG_OK)
			return port;
		if (rc != VG_ERR_IO)
			fail_msg("open %s: %d %s", listen, rc, err);
	}
	fail_msg("no free loopback port");
	return -1;
}

/* ---- the server with a handler of the test's ---------------------------------- */

struct echo {
	struct vg_loop loop;
	struct vg_httpd *h;
	const char *password;
	int calls;
	char path[128];
};

static void echo_handler(void *ud, const char *path, struct vg_httpd_reply *r)
{
	struct echo *e = ud;
	e->calls++;
	snprintf(e->path, sizeof e->path, "%s", path);
	if (strcmp(path, "/hello") == 0) {
		r->status = 200;
		r->content_type = "text/plain";
		r->body = strdup("hello\n");
		r->len = 6;
	} else if (strcmp(path, "/teapot") == 0) {
		r->status = 418;
		r->content_type = "text/plain";
		r->body = strdup("short and stout\n");
		r->len = 16;
	} else if (strcmp(path, "/broken") == 0) {
		r->status = 500;
	}
	/* else: 404, no body */
}

static int echo_open(void *ud, const char *listen, char *err, size_t errsz)
{
	struct echo *e = ud;
	return vg_httpd_open(&e->h, &e->loop, listen, e->password, echo_handler, e, err, errsz);
}

static void routes_and_methods(void **state)
{
	(void)state;
	struct echo e;
	memset(&e, 0, sizeof e);
	int port = open_on_free_port(echo_open, &e);
	struct client c;
	char v[256];

	assert_int_equal(get(&e.loop, port, "GET", "/hello?x=1", NULL, &c), 200);
	assert_string_equal(body(&c), "hello\n");
	assert_string_equal(e.path, "/hello");              /* without the query */
	assert_string_equal(header(&c, "Content-Type", v, sizeof v), "text/plain");
	assert_string_equal(header(&c, "Cache-Control", v, sizeof v), "no-store");
	assert_string_equal(header(&c, "X-Content-Type-Options", v, sizeof v), "nosniff");

	/* HEAD: the headers, no body. */
	assert_int_equal(get(&e.loop, port, "HEAD", "/hello", NULL, &c), 200);
	assert_string_equal(body(&c), "");

	assert_int_equal(get(&e.loop, port, "GET", "/teapot", NULL, &c), 418);
	assert_string_equal(body(&c), "short and stout\n");
	assert_int_equal(get(&e.loop, port, "GET", "/nowhere", NULL, &c), 404);
	assert_non_null(strstr(body(&c), "/metrics"));
	assert_int_equal(get(&e.loop, port, "GET", "/broken", NULL, &c), 500);
	assert_string_equal(body(&c), "out of memory\n");

	/* Only GET and HEAD; the handler is not asked. */
	int calls = e.calls;
	assert_int_equal(ask(&e.loop, port,
	                     "POST /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc", &c),
	                 405);
	assert_string_equal(header(&c, "Allow", v, sizeof v), "GET, HEAD");
	assert_int_equal(get(&e.loop, port, "DELETE", "/hello", NULL, &c), 405);
	assert_int_equal(e.calls, calls);
	vg_httpd_close(e.h);
}

static void the_password(void **state)
{
	(void)state;
	struct echo e;
	memset(&e, 0, sizeof e);
	char password[] = "s3cret:pw";
	e.password = password;
	int port = open_on_free_port(echo_open, &e);
	password[0] = 'X';   /* copied at open */
	struct client c;
	char v[256];

	/* Base64 of "anyone:s3cret:pw" and of ":s3cret:pw" (any user, even none). */
	assert_int_equal(get(&e.loop, port, "GET", "/hello", "Basic YW55b25lOnMzY3JldDpwdw==", &c), 200);
	assert_string_equal(body(&c), "hello\n");
	assert_int_equal(get(&e.loop, port, "GET", "/hello", "basic   OnMzY3JldDpwdw==", &c), 200);

	int calls = e.calls;
	static const char *const refused[] = {
		NULL,                                   /* no Authorization */
		"Basic YW55b25lOnMzY3JldDpwdg==",       /* anyone:s3cret:pv */
		"Basic YW55b25lOnMzY3JldDpw",           /* anyone:s3cret:p (a prefix) */
		"Basic YW55b25lOnMzY3JldDpwdzE=",       /* anyone:s3cret:pw1 (longer) */
		"Basic czNjcmV0OnB3",                   /* s3cret:pw: user s3cret, password pw */
		"Basic czNjcmV0cHc=",                   /* s3cretpw: no colon */
		"Basic !!!notbase64",
		"Bearer YW55b25lOnMzY3JldDpwdw==",
		"Basic WDNjcmV0OnB3",                   /* the password as it is now in the caller's buffer */
		"Basic OlgzY3JldDpwdw==",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		if (get(&e.loop, port, "GET", "/hello", refused[i], &c) != 401)
			fail_msg("let in with %s", refused[i] ? refused[i] : "(none)");
		assert_string_equal(header(&c, "WWW-Authenticate", v, sizeof v), "Basic realm=\"venuegw\", charset=\"UTF-8\"");
		assert_null(strstr(c.buf, "hello"));
	}
	/* Before the method is looked at, too. */
	assert_int_equal(get(&e.loop, port, "POST", "/hello", NULL, &c), 401);
	assert_int_equal(e.calls, calls);
	vg_httpd_close(e.h);
}

static void bad_addresses_are_refused(void **state)
{
	(void)state;
	struct vg_loop loop;
	memset(&loop, 0, sizeof loop);
	struct vg_httpd *h = (struct vg_httpd *)&loop;
	char err[256];
	assert_int_equal(vg_httpd_open(&h, &loop, "127.0.0.1", NULL, echo_handler, NULL, err, sizeof err),
	                 VG_ERR_CONFIG);
	assert_null(h);
	assert_non_null(strstr(err, "[metrics] listen 127.0.0.1"));
	assert_int_equal(vg_httpd_open(&h, &loop, "127.0.0.1:0", NULL, echo_handler, NULL, err, sizeof err),
	                 VG_ERR_CONFIG);
	/* An address this host does not have: cannot listen. */
	assert_int_equal(vg_httpd_open(&h, &loop, "192.0.2.1:9478", NULL, echo_handler, NULL, err, sizeof err),
	                 VG_ERR_IO);
	assert_null(h);
	assert_non_null(strstr(err, "cannot serve metrics on 192.0.2.1:9478"));
	assert_int_equal(loop.nwatches, 0);
}

/* ---- the daemon's server: routes over real metrics -------------------------------- */

struct daemon {
	struct daemon_world w;
	struct vg_httpd *h;
};

static int daemon_open(void *ud, const char *listen, char *err, size_t errsz)
{
	struct daemon *d = ud;
	snprintf(d->w.cfg.listen, sizeof d->w.cfg.listen, "%s", listen);
	return vg_httpd_open_status(&d->h, &d->w.loop, &d->w.cfg, d->w.m, err, errsz);
}

static void daemon_start(struct daemon *d, struct fixture *f)
{
	d->h = NULL;
	daemon_world_open(&d->w, f);
	daemon_metrics_open(&d->w);
}

static void daemon_stop(struct daemon *d)
{
	vg_httpd_close(d->h);
	daemon_world_close(&d->w);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void the_daemon_routes(void **state)
{
	struct daemon d;
	daemon_start(&d, *state);
	char pw[160];
	snprintf(pw, sizeof pw, "%s/metrics.pw", d.w.f->dir);
	write_file(pw, "hunter2\nsecond line ignored\n");
	snprintf(d.w.cfg.metrics_password_file, sizeof d.w.cfg.metrics_password_file, "%s", pw);
	int port = open_on_free_port(daemon_open, &d);
	assert_int_equal(put_at(d.w.st, "r1", "pos-9", VG_PRIO_NORMAL, 1795885392123, "{}"), VG_STORE_STORED);
	struct client c;
	char v[256];
	const char *auth = "Basic dTpodW50ZXIy";   /* u:hunter2 */

	assert_int_equal(get(&d.w.loop, port, "GET", "/metrics", NULL, &c), 401);
	assert_int_equal(get(&d.w.loop, port, "GET", "/metrics", auth, &c), 200);
	assert_string_equal(header(&c, "Content-Type", v, sizeof v), "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(body(&c), "\nvenuegw_ingested_events_total{device=\"pos-9\",type=\"checkin.scanned\"} 1\n"));

	assert_int_equal(get(&d.w.loop, port, "GET", "/status.json", auth, &c), 200);
	assert_string_equal(header(&c, "Content-Type", v, sizeof v), "application/json");
	cJSON *o = cJSON_Parse(body(&c));
	assert_non_null(o);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")), "up");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ingested_since_start")), 1);
	cJSON_Delete(o);

	assert_int_equal(get(&d.w.loop, port, "GET", "/", auth, &c), 200);
	assert_string_equal(header(&c, "Content-Type", v, sizeof v), "text/html; charset=utf-8");
	assert_non_null(strstr(body(&c), "venue-7"));
	assert_int_equal(get(&d.w.loop, port, "GET", "/metrics/", auth, &c), 404);
	unlink(pw);
	daemon_stop(&d);
}

static void no_listen_no_server(void **state)
{
	struct daemon d;
	daemon_start(&d, *state);
	char err[256];
	d.w.cfg.listen[0] = '\0';
	d.h = (struct vg_httpd *)&d;
	assert_int_equal(vg_httpd_open_status(&d.h, &d.w.loop, &d.w.cfg, d.w.m, err, sizeof err), VG_OK);
	assert_null(d.h);
	assert_int_equal(d.w.loop.nwatches, 0);
	daemon_stop(&d);
}

/* An unreadable, empty or overlong password file: no server (never one
 * without the password, nor with a cut one). */
static void a_bad_password_file_is_refused(void **state)
{
	struct daemon d;
	daemon_start(&d, *state);
	snprintf(d.w.cfg.listen, sizeof d.w.cfg.listen, "127.0.0.1:9");
	char pw[160], err[256];
	snprintf(pw, sizeof pw, "%s/metrics.pw", d.w.f->dir);
	snprintf(d.w.cfg.metrics_password_file, sizeof d.w.cfg.metrics_password_file, "%s", pw);
	assert_int_equal(vg_httpd_open_status(&d.h, &d.w.loop, &d.w.cfg, d.w.m, err, sizeof err), VG_ERR_IO);
	assert_non_null(strstr(err, "cannot read [metrics] password_file"));
	write_file(pw, "\n");
	assert_int_equal(vg_httpd_open_status(&d.h, &d.w.loop, &d.w.cfg, d.w.m, err, sizeof err), VG_ERR_CONFIG);
	assert_non_null(strstr(err, "is empty"));
	char long_pw[400];
	memset(long_pw, 'a', sizeof long_pw - 2);
	long_pw[sizeof long_pw - 2] = '\n';
	long_pw[sizeof long_pw - 1] = '\0';
	write_file(pw, long_pw);
	assert_int_equal(vg_httpd_open_status(&d.h, &d.w.loop, &d.w.cfg, d.w.m, err, sizeof err), VG_ERR_CONFIG);
	assert_non_null(strstr(err, "longer than"));
	assert_null(d.h);
	assert_int_equal(d.w.loop.nwatches, 0);
	unlink(pw);
	daemon_stop(&d);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(routes_and_methods),
		cmocka_unit_test(the_password),
		cmocka_unit_test(bad_addresses_are_refused),
		cmocka_unit_test_setup_teardown(the_daemon_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(no_listen_no_server, setup, teardown),
		cmocka_unit_test_setup_teardown(a_bad_password_file_is_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
