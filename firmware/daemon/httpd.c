#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <mbedtls/base64.h>
#include <microhttpd.h>

#include "buf.h"
#include "config.h"
#include "container.h"
#include "digest.h"
#include "err.h"
#include "log.h"
#include "metrics.h"

struct vg_httpd {
	struct vg_loop *loop;
	struct MHD_Daemon *mhd;
	struct vg_watch w;
	struct vg_timer t;
	vg_httpd_handler handler;
	void *ud;
	char password[256];
	int have_password;
	char last_log[256];           /* MHD's last message, for start-up errors */
};

__attribute__((format(printf, 2, 0)))
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct vg_httpd *h = cls;
	vsnprintf(h->last_log, sizeof h->last_log, fmt, ap);
	h->last_log[strcspn(h->last_log, "\r\n")] = '\0';
	if (h->mhd)
		vg_log(VG_LOG_DEBUG, "httpd", "%s", h->last_log);
}

/* Constant time in the password's content: every byte of the longer of the
 * two is looked at, whatever matches. */
static int password_ok(const struct vg_httpd *h, const char *given, size_t n)
{
	size_t want = strlen(h->password);
	size_t len = n > want ? n : want;
	unsigned char diff = (unsigned char)(n != want);
	for (size_t i = 0; i < len; i++) {
		unsigned char a = i < n ? (unsigned char)given[i] : 0;
		unsigned char b = i < want ? (unsigned char)h->password[i] : 0;
		diff |= a ^ b;
	}
	return diff == 0;
}

/* "Basic base64(user:password)" with the right password (any user). */
static int authorised(const struct vg_httpd *h, struct MHD_Connection *c)
{
	if (!h->have_password)
		return 1;
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!v || strncasecmp(v, "Basic ", 6) != 0)
		return 0;
	v += 6;
	while (*v == ' ')
		v++;
	unsigned char dec[512];
	size_t n = 0;
	if (mbedtls_base64_decode(dec, sizeof dec - 1, &n, (const unsigned char *)v, strlen(v)) != 0)
		return 0;
	const unsigned char *colon = memchr(dec, ':', n);
	int ok = colon && password_ok(h, (const char *)colon + 1, n - (size_t)(colon + 1 - dec));
	vg_wipe(dec, sizeof dec);
	return ok;
}

static enum MHD_Result respond(struct MHD_Connection *c, int status, const char *type, char *body, size_t len,
                               int auth)
{
	struct MHD_Response *r;
	if (body) {
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	} else {
		static char empty[] = "";
		r = MHD_create_response_from_buffer(0, empty, MHD_RESPMEM_PERSISTENT);
	}
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
	if (auth)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"venuegw\", charset=\"UTF-8\"");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static char *text(const char *s, size_t *len)
{
	*len = strlen(s);
	return strdup(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	(void)version;
	(void)upload_data;
	struct vg_httpd *h = cls;
	static int marker;
	size_t len;
	/* Whatever the request, answer on its first call; an upload is ignored. */
	if (*con_cls == &marker) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	*con_cls = &marker;
	if (!authorised(h, c)) {
		char *b = text("authentication required\n", &len);
		return respond(c, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8", b, len, 1);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		char *b = text("only GET and HEAD\n", &len);
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", b, len, 0);
	}
	struct vg_httpd_reply r = { .status = 404 };
	h->handler(h->ud, url, &r);
	if (r.status == 404 && !r.body) {
		char *b = text("not found: try / (the status page), /metrics or /status.json\n", &len);
		return respond(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", b, len, 0);
	}
	if (r.status == 500 && !r.body) {
		char *b = text("out of memory\n", &len);
		return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", b, len, 0);
	}
	return respond(c, r.status, r.content_type, r.body, r.len, 0);
}

/* After MHD ran: its next deadline (0 when it has buffered work). */
static void rearm(struct vg_httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
		vg_loop_timer(h->loop, &h->t, vg_now_ms() + (int64_t)(ms > 60000 ? 60000 : ms));
	else
		vg_loop_cancel(h->loop, &h->t);
}

static void on_ready(struct vg_watch *w, short revents)
{
	(void)revents;
	struct vg_httpd *h = vg_container_of(w, struct vg_httpd, w);
	MHD_run(h->mhd);
	rearm(h);
}

static void on_timer(struct vg_timer *t)
{
	struct vg_httpd *h = vg_container_of(t, struct vg_httpd, t);
	MHD_run(h->mhd);
	rearm(h);
}

int vg_httpd_open(struct vg_httpd **out, struct vg_loop *loop, const char *listen, const char *password,
                  vg_httpd_handler handler, void *ud, char *err, size_t errsz)
{
	*out = NULL;
	char addr[64];
	int port, lo;
	const char *why = vg_config_parse_listen(listen, addr, sizeof addr, &port, &lo);
	if (why) {
		snprintf(err, errsz, "[metrics] listen %s: %s", listen, why);
		return VG_ERR_CONFIG;
	}
	struct vg_httpd *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	h->loop = loop;
	h->handler = handler;
	h->ud = ud;
	h->w.cb = on_ready;
	h->t.cb = on_timer;
	if (password && password[0]) {
		snprintf(h->password, sizeof h->password, "%s", password);
		h->have_password = 1;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &a->sin_addr);
	}
	h->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h,
	                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
	                          /* one host (a slow or stuck client) cannot take them all */
	                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)8,
	                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
	                          MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h,
	                          MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errsz, "cannot serve metrics on %s ([metrics] listen): %s", listen,
		         h->last_log[0] ? h->last_log : strerror(errno));
		vg_wipe(h->password, sizeof h->password);
		free(h);
		return VG_ERR_IO;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di || di->epoll_fd < 0) {
		snprintf(err, errsz, "cannot serve metrics on %s: libmicrohttpd has no epoll descriptor", listen);
		vg_httpd_close(h);
		return VG_ERR_IO;
	}
	if (vg_loop_watch(loop, &h->w, di->epoll_fd, POLLIN) != VG_OK) {
		snprintf(err, errsz, "cannot serve metrics on %s: too many descriptors to watch", listen);
		vg_httpd_close(h);
		return VG_ERR_RANGE;
	}
	rearm(h);
	vg_log(VG_LOG_INFO, "httpd", "status page and metrics on http://%s/ (/metrics)%s", listen,
	       h->have_password ? ", password required" : "");
	*out = h;
	return VG_OK;
}

void vg_httpd_close(struct vg_httpd *h)
{
	if (!h)
		return;
	vg_loop_unwatch(h->loop, &h->w);
	vg_loop_cancel(h->loop, &h->t);
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	vg_wipe(h->password, sizeof h->password);
	free(h);
}

/* ---- the routes: the gateway's reports (metrics.c renders them) ------------- */

#define BODY_MAX (8u << 20)      /* a response's hard maximum */

static void route(void *ud, const char *path, struct vg_httpd_reply *r)
{
	struct vg_metrics *m = ud;
	struct vg_buf b;
	vg_buf_init(&b, BODY_MAX);
	int rc;
	if (strcmp(path, "/metrics") == 0) {
		rc = vg_metrics_prometheus(m, &b);
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	} else if (strcmp(path, "/") == 0) {
		rc = vg_metrics_page(m, &b);
		r->content_type = "text/html; charset=utf-8";
	} else if (strcmp(path, "/status.json") == 0) {
		cJSON *o = vg_metrics_status(m, "up");
		char *t = o ? cJSON_Print(o) : NULL;
		cJSON_Delete(o);
		rc = t ? vg_buf_addf(&b, "%s\n", t) : VG_ERR_NOMEM;
		cJSON_free(t);
		r->content_type = "application/json";
	} else {
		r->status = 404;
		return;
	}
	if (rc) {
		vg_buf_free(&b);
		r->status = 500;
		return;
	}
	r->status = 200;
	r->body = vg_buf_take(&b, &r->len);
}

static int read_password(const char *path, char *out, size_t outsz, char *err, size_t errsz)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errsz, "cannot read [metrics] password_file %s: %s", path, strerror(errno));
		return VG_ERR_IO;
	}
	char *ok = fgets(out, (int)outsz, f);
	/* A line the buffer cannot hold would be cut: the full password refused
	 * and its prefix let in. */
	int whole = ok && (strchr(out, '\n') || feof(f));
	fclose(f);
	if (ok && !whole) {
		snprintf(err, errsz, "[metrics] password_file %s: the first line (the password) is longer than %zu"
		         " characters", path, outsz - 2);
		vg_wipe(out, outsz);
		return VG_ERR_CONFIG;
	}
	if (ok)
		out[strcspn(out, "\r\n")] = '\0';
	if (!ok || !out[0]) {
		snprintf(err, errsz, "[metrics] password_file %s: the first line (the password) is empty", path);
		vg_wipe(out, outsz);
		return VG_ERR_CONFIG;
	}
	return VG_OK;
}


int vg_httpd_open_status(struct vg_httpd **out, struct vg_loop *loop, const struct vg_config *cfg,
                         struct vg_metrics *m, char *err, size_t errsz)
{
	*out = NULL;
	if (!cfg->listen[0])
		return VG_OK;
	char password[256] = "";
	int rc = VG_OK;
	if (cfg->metrics_password_file[0])
		rc = read_password(cfg->metrics_password_file, password, sizeof password, err, errsz);
	if (!rc)
		rc = vg_httpd_open(out, loop, cfg->listen, password, route, m, err, errsz);
	vg_wipe(password, sizeof password);
	return rc;
}
