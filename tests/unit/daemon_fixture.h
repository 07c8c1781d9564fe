/* Shared by the daemon's unit tests that need the metrics
 * (tests/unit/daemon_{metrics,httpd,mqtt_status}_test.c): a configuration,
 * a loop, buffer.db in the store fixture's directory, and the metrics on it. */
#ifndef VG_DAEMON_FIXTURE_H
#define VG_DAEMON_FIXTURE_H

#include "store_fixture.h"

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

#endif
