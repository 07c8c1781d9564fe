/* venuegw — what the forwarder counts (plain data): the daemon's forwarder
 * fills it, report.c renders it. */
#ifndef VG_FORWARD_STATS_H
#define VG_FORWARD_STATS_H

#include <stdint.h>

#include "histogram.h"
#include "response.h"

#define VG_RECENT_ERRORS 5

/* Events delivered (2xx) since the daemon started, per device and type. */
struct vg_forward_count {
	char device_id[65];
	char type[48];
	unsigned long long events;
};

/* What the status publisher and `status` show. Plain data. */
struct vg_forward_stats {
	unsigned long long batches_ok, events_forwarded, attempts_failed, events_quarantined;
	int last_status;              /* last HTTP status, 0 = network error, -1 = none yet */
	char last_error[160];         /* "" when the last attempt succeeded */
	int64_t last_success_wall_ms; /* 0 = never */
	const char *alarm;            /* NULL, "credentials", "config" */
	unsigned long long consents_forwarded;
	int64_t consent_latency_last_ms, consent_latency_max_ms; /* commit → CDP 2xx */
	int enabled;
	struct vg_histogram latency;          /* per event: commit → CDP 2xx */
	struct vg_histogram consent_latency;  /* per consent event: commit → CDP 2xx */
	unsigned long long attempts_failed_by[VG_FAIL__COUNT];
	struct {
		int64_t at_wall_ms;
		char text[160];
	} recent_errors[VG_RECENT_ERRORS];   /* ring: entry (recent_errors_total - 1) % N is the newest */
	unsigned long long recent_errors_total;
};

#endif
