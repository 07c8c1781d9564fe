/* venuegw daemon — the gateway's MQTT status on venue/v1/_gateway/status:
 * retained, republished every status_interval_s, with a last will saying
 * "down" so subscribers learn when the daemon dies.  libmosquitto joined to
 * the daemon's poll loop through mosquitto_socket() and
 * mosquitto_loop_read/_write/_misc. */
#ifndef VG_MQTT_STATUS_H
#define VG_MQTT_STATUS_H

#include "config.h"
#include "loop.h"

struct vg_status;

struct vg_metrics;

/* metrics is borrowed and must outlive the publisher: the status is
 * vg_metrics_status() (backlog, freshness, rates, devices, CDP errors …),
 * published on MQTT and written to data_dir/status.json (for `venuegw
 * status`) every status_interval_s.  Connection failures are retried with
 * backoff; only out of memory fails here. */
int vg_status_open(struct vg_status **out, struct vg_loop *loop, const struct vg_config *cfg,
                   struct vg_metrics *metrics);
/* Publish "stopping" (retained) and disconnect cleanly. */
void vg_status_close(struct vg_status *s);

#define VG_STATUS_TOPIC "venue/v1/_gateway/status"

#endif
