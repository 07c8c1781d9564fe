/* venuegw daemon — the metrics and status page server ([metrics] listen).
 *
 * libmicrohttpd without a thread of its own: its epoll fd is watched by the
 * daemon's poll loop and MHD_run() is called when it is readable or when
 * MHD_get_timeout()'s timer fires, so handlers run on the loop's thread and
 * read the daemon's state without locks.  Only GET and HEAD are served (405
 * otherwise).  With a password every request needs HTTP Basic auth (any user
 * name; the password compared in constant time), else 401 with
 * WWW-Authenticate. */
#ifndef VG_HTTPD_H
#define VG_HTTPD_H

#include <stddef.h>

#include "config.h"
#include "loop.h"
#include "metrics.h"

struct vg_httpd;

/* What a handler answers.  body is malloc'd and handed over (NULL: none). */
struct vg_httpd_reply {
	int status;                /* 200, 404 … */
	const char *content_type;  /* a static string */
	char *body;
	size_t len;
};

/* Fill *r for a GET of path (without the query string).  Runs on the loop. */
typedef void (*vg_httpd_handler)(void *ud, const char *path, struct vg_httpd_reply *r);

/* Listen on listen ("host:port") and serve through handler(ud).  password
 * may be NULL or "" (no authentication); it is copied.  Errors: VG_ERR_CONFIG
 * (a bad address), VG_ERR_IO (cannot listen: err says why), VG_ERR_NOMEM. */
int vg_httpd_open(struct vg_httpd **out, struct vg_loop *loop, const char *listen, const char *password,
                  vg_httpd_handler handler, void *ud, char *err, size_t errsz);
void vg_httpd_close(struct vg_httpd *h);

/* The daemon's server: with a [metrics] listen address, the status page (/),
 * /metrics and /status.json of m (borrowed; must outlive the server), behind
 * [metrics] password_file when set; *out stays NULL without one.  Errors as
 * vg_httpd_open, and VG_ERR_IO / VG_ERR_CONFIG for an unreadable, empty or
 * overlong password file (err says why). */
int vg_httpd_open_status(struct vg_httpd **out, struct vg_loop *loop, const struct vg_config *cfg,
                         struct vg_metrics *m, char *err, size_t errsz);

#endif
