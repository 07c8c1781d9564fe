/* venuegw daemon — what the gateway knows about itself: Prometheus metrics
 * (GET /metrics, text format 0.0.4), the status page (GET /), the status as
 * JSON (GET /status.json, data_dir/status.json, the MQTT status).
 *
 * Events are committed by two processes (the broker's capture plugin and the
 * daemon's serial ports), so the daemon learns about them from buffer.db:
 * rows are numbered in commit order, and a scanner reads the rows above its
 * marks (taken at start) every second, on every scrape, and just before the
 * forwarder takes a new event into a batch — while its body (seq, person
 * identifiers) is still there.  Counters therefore count since the daemon
 * started, as Prometheus counters do.  Everything runs on the loop's thread. */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "forward.h"
#include "loop.h"
#include "buf.h"
#include "report.h"
#include "serial.h"
#include "store_metrics.h"

struct vg_metrics;

/* st, fwd and serial (may be NULL) are borrowed and must outlive m.  The
 * server (httpd.c, vg_httpd_open_status) serves what m renders.  Errors:
 * VG_ERR_IO (cannot read buffer.db: err says why), VG_ERR_NOMEM. */
int vg_metrics_open(struct vg_metrics **out, struct vg_loop *loop, const struct vg_config *cfg,
                    struct vg_store *st, struct vg_forwarder *fwd, struct vg_serial *serial,
                    char *err, size_t errsz);
void vg_metrics_close(struct vg_metrics *m);

/* Prometheus text format 0.0.4 (GET /metrics), the status page (GET /),
 * appended to out; VG_OK or an error (out's, or VG_ERR_NOMEM). */
int vg_metrics_prometheus(struct vg_metrics *m, struct vg_buf *out);
int vg_metrics_page(struct vg_metrics *m, struct vg_buf *out);

/* The gateway's status as a new JSON object (the caller owns it; NULL when
 * out of memory), with "state": state. */
cJSON *vg_metrics_status(struct vg_metrics *m, const char *state);

#endif
