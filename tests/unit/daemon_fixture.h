/* Shared by the daemon's unit tests (tests/unit/daemon_*_test.c): a
 * configuration, a loop, buffer.db in the store fixture's directory, and the
 * metrics on it; loopback sockets on ports the kernel picks. */
#ifndef VG_DAEMON_FIXTURE_H
#define VG_DAEMON_FIXTURE_H

#include "store_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "loop.h"
#include "metrics.h"

struct daemon_world {
	struct fixture *f;
	struct vg_config cfg;      /* defaults; venue-7, gw-1, data_dir = f->dir */
	struct vg_loop loop;
	struct vg_store *st;       /* buffer.db, the owner's handle */
	struct vg_metrics *m;      /* NULL until daemon_metrics_open() */
};

/* The configuration and buffer.db; no metrics yet. */
static inline void daemon_world_open(struct daemon_world *w, struct fixture *f)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	vg_config_defaults(&w->cfg);
	snprintf(w->cfg.venue_id, sizeof w->cfg.venue_id, "venue-7");
	snprintf(w->cfg.gateway_id, sizeof w->cfg.gateway_id, "gw-1");
	snprintf(w->cfg.data_dir, sizeof w->cfg.data_dir, "%s", f->dir);
	w->st = open_store(f->db, 1, 0);
}

/* The metrics on w's buffer.db (no forwarder, no ports): their marks are
 * taken now. */
static inline void daemon_metrics_open(struct daemon_world *w)
{
	char err[256] = "";
	if (vg_metrics_open(&w->m, &w->loop, &w->cfg, w->st, NULL, NULL, err, sizeof err) != VG_OK)
		fail_msg("vg_metrics_open: %s", err);
	assert_non_null(w->m);
}

static inline void daemon_world_close(struct daemon_world *w)
{
	vg_metrics_close(w->m);
	vg_store_close(w->st);
}

/* A TCP socket bound to 127.0.0.1 on a port the kernel picks (*port),
 * listening when backlog > 0.  Bound but not listening, connecting to its
 * port is refused for as long as it stays open. */
static inline int loopback_socket(int *port, int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	if (backlog > 0)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

#endif
