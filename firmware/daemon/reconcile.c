/* The reconciliation event (DESIGN.md §8): see reconcile.h.  The forwarder's
 * timer calls it at each window's end. */
#include "reconcile.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "event.h"
#include "log.h"
#include "loop.h"
#include "store_forward.h"

static int recon_row(void *ud, const char *device, long long committed, long long forwarded,
                     long long quarantined, long long dropped)
{
	cJSON *d = cJSON_CreateObject();
	if (!d)
		return 1;
	cJSON_AddStringToObject(d, "device_id", device);
	cJSON_AddNumberToObject(d, "committed", (double)committed);
	cJSON_AddNumberToObject(d, "forwarded", (double)forwarded);
	cJSON_AddNumberToObject(d, "quarantined", (double)quarantined);
	cJSON_AddNumberToObject(d, "dropped", (double)dropped);
	cJSON_AddItemToArray(ud, d);
	return 0;
}

void vg_reconcile(struct vg_store *st, const struct vg_config *cfg, int64_t to_ms)
{
	int64_t from_ms = to_ms - (int64_t)cfg->reconciliation_interval_s * 1000;
	char from[25], to[25], id[48];
	vg_time_format(from_ms, from);
	vg_time_format(to_ms, to);
	snprintf(id, sizeof id, "reconciliation:%s", from);
	cJSON *ev = cJSON_CreateObject();
	cJSON *props = ev ? cJSON_AddObjectToObject(ev, "properties") : NULL;
	cJSON *devices = props ? cJSON_AddArrayToObject(props, "devices") : NULL;
	if (!devices)
		goto out;
	cJSON_AddStringToObject(ev, "id", id);
	cJSON_AddStringToObject(ev, "type", "gateway.reconciliation");
	cJSON_AddStringToObject(ev, "occurred_at", to);
	cJSON_AddStringToObject(props, "window_start", from);
	cJSON_AddStringToObject(props, "window_end", to);
	cJSON_AddNumberToObject(props, "interval_s", cfg->reconciliation_interval_s);
	if (vg_store_reconcile(st, from_ms, to_ms, recon_row, devices) != VG_OK)
		goto out;
	char *body = cJSON_PrintUnformatted(ev);
	if (!body)
		goto out;
	char key[VG_EVENT_KEY_LEN + 1];
	vg_event_key(cfg->venue_id, VG_GATEWAY_DEVICE, "id", id, strlen(id), key);
	struct vg_store_event se = {
		.event_key = key,
		.device_id = VG_GATEWAY_DEVICE,
		.type = "gateway.reconciliation",
		.priority = 1,
		.received_at_ms = vg_wall_ms(),
		.body = body,
		.body_len = strlen(body),
	};
	int rc = vg_store_put_internal_event(st, &se);
	if (rc < 0)
		vg_log(VG_LOG_ERR, "forward.reconcile", "cannot store the reconciliation for %s: %s", from,
		       vg_strerror(rc));
	else if (rc == VG_STORE_STORED)
		vg_log(VG_LOG_INFO, "forward.reconcile", "reconciliation for %s..%s: %d devices", from, to,
		       cJSON_GetArraySize(devices));
	cJSON_free(body);
out:
	cJSON_Delete(ev);
}

