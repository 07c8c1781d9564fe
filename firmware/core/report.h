/* venuegw — the gateway's reports of itself, rendered from a plain snapshot
 * the daemon fills (firmware/daemon/metrics.c): Prometheus text format 0.0.4
 * (GET /metrics), the status as JSON (GET /status.json, data_dir/status.json,
 * the MQTT status) and the status page (GET /).  Pure: no clock, no store, no
 * sockets — the same snapshot gives the same bytes. */
#ifndef VG_REPORT_H
#define VG_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "forward_stats.h"

/* A counter by device and a second label (event type, or quarantine reason). */
struct vg_count {
	char device[65];
	char key[48];
	unsigned long long n;
};

/* What is known of one device since the daemon started. */
struct vg_device_stats {
	char id[65];
	int64_t last_seen_ms;          /* wall clock; 0 = not known */
	unsigned long long events;     /* committed since the daemon started */
	unsigned long long quarantined;
	unsigned long long seq_gaps;   /* seq numbers missing (since start) */
	int has_seq;                   /* the scanner's: last_seq is known */
	long long last_seq;
};

/* A member the tracking plan does not declare, dropped at capture. */
struct vg_undeclared {
	char *device, *type, *path;
	long long count;
};

/* Everything the reports show.  Pointers are borrowed for the rendering. */
struct vg_metrics_snapshot {
	const char *version, *venue_id, *gateway_id;
	int64_t started_wall_ms, now_wall_ms;
	int synced;                    /* the system clock is synchronised */

	/* buffer.db */
	int have_counts;               /* the next five are known */
	long long pending, inflight, quarantine_held, quarantine_metadata, quarantine_overflow;
	long long used_bytes;          /* -1: unknown */
	int max_buffer_mb;
	int drop_oldest;               /* on_full = drop_oldest (else backpressure) */
	int64_t oldest_ms;             /* oldest unforwarded event; 0: none */
	const struct vg_undeclared *undeclared;
	size_t nundeclared;

	/* the scanner's counters since start */
	const struct vg_count *ingest, *quarantine, *drops;   /* key: type, reason, type */
	size_t ningest, nquarantine, ndrops;
	unsigned long long dropped;
	unsigned long long ingested, identified, anonymous, identity_unknown;
	const struct vg_device_stats *devices;
	size_t ndevices;
	double ingest_rate, forward_rate, window_s;   /* per second, over window_s */

	/* the forwarder (fs NULL: none) */
	const struct vg_forward_stats *fs;
	const struct vg_forward_count *forwarded;
	size_t nforwarded;

	/* the serial and HID ports: vg_serial_describe()'s array (NULL: none) */
	const cJSON *ports;
};

/* Prometheus text format 0.0.4, appended to out.  VG_OK or out's error. */
int vg_report_prometheus(const struct vg_metrics_snapshot *s, struct vg_buf *out);

/* The status as a new JSON object with "state": state (the caller owns it;
 * NULL when out of memory). */
cJSON *vg_report_status(const struct vg_metrics_snapshot *s, const char *state);

/* The status page (HTML), appended to out.  VG_OK or out's error. */
int vg_report_page(const struct vg_metrics_snapshot *s, struct vg_buf *out);

/* Device events the CDP accepted since start (the gateway's own left out). */
unsigned long long vg_report_forwarded_device_events(const struct vg_forward_count *c, size_t n);

#endif
