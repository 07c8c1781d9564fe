/* The gateway's reports of itself: see report.h. */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "event.h"

/* x rounded to a multiple of 1/scale (no libm). */
static double rounded(double x, double scale)
{
	return (double)(long long)(x * scale + (x < 0 ? -0.5 : 0.5)) / scale;
}

static long long limit_bytes(const struct vg_metrics_snapshot *s)
{
	return (long long)s->max_buffer_mb << 20;
}

static double age_s(const struct vg_metrics_snapshot *s)
{
	if (!s->oldest_ms)
		return 0;
	double a = (double)(s->now_wall_ms - s->oldest_ms) / 1000.0;
	return a > 0 ? a : 0;
}

static long long quarantined_now(const struct vg_metrics_snapshot *s)
{
	return s->quarantine_held + s->quarantine_metadata + s->quarantine_overflow;
}

static double coverage(const struct vg_metrics_snapshot *s, int *known)
{
	unsigned long long n = s->identified + s->anonymous;
	*known = n > 0;
	return n ? (double)s->identified / (double)n : 0;
}

unsigned long long vg_report_forwarded_device_events(const struct vg_forward_count *c, size_t n)
{
	unsigned long long sum = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].device_id, VG_GATEWAY_DEVICE) != 0)
			sum += c[i].events;
	return sum;
}

/* ---- escaping ------------------------------------------------------------------- */

/* A Prometheus label value: \ " and newline escaped. */
static void blabel(struct vg_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			vg_buf_adds(b, "\\\\");
		else if (*s == '"')
			vg_buf_adds(b, "\\\"");
		else if (*s == '\n')
			vg_buf_adds(b, "\\n");
		else
			vg_buf_add(b, s, 1);
	}
}

/* HTML text and attribute values. */
static void bhtml(struct vg_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': vg_buf_adds(b, "&amp;"); break;
		case '<': vg_buf_adds(b, "&lt;"); break;
		case '>': vg_buf_adds(b, "&gt;"); break;
		case '"': vg_buf_adds(b, "&quot;"); break;
		case '\'': vg_buf_adds(b, "&#39;"); break;
		default: vg_buf_add(b, s, 1);
		}
	}
}

/* ---- /metrics ------------------------------------------------------------------ */

static void family(struct vg_buf *b, const char *name, const char *type, const char *help)
{
	vg_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter family with one series per row: labels device and key_label. */
static void device_counter(struct vg_buf *b, const char *name, const char *help, const char *key_label,
                           const struct vg_count *rows, size_t n)
{
	family(b, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		vg_buf_addf(b, "%s{device=\"", name);
		blabel(b, rows[i].device);
		vg_buf_addf(b, "\",%s=\"", key_label);
		blabel(b, rows[i].key);
		vg_buf_addf(b, "\"} %llu\n", rows[i].n);
	}
}

static void histogram(struct vg_buf *b, const char *name, const struct vg_histogram *h)
{
	unsigned long long cum = 0;
	for (int i = 0; i < VG_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		vg_buf_addf(b, "%s_bucket{le=\"%g\"} %llu\n", name, vg_hist_bounds_s[i], cum);
	}
	cum += h->bucket[VG_HIST_BUCKETS];
	vg_buf_addf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n", name, cum, name, h->sum_s, name,
	        h->count);
}

static void undeclared_row(struct vg_buf *b, const struct vg_undeclared *u)
{
	vg_buf_adds(b, "venuegw_undeclared_fields_dropped_total{device=\"");
	blabel(b, u->device);
	vg_buf_adds(b, "\",type=\"");
	blabel(b, u->type);
	vg_buf_adds(b, "\",path=\"");
	blabel(b, u->path);
	vg_buf_addf(b, "\"} %lld\n", u->count);
}

int vg_report_prometheus(const struct vg_metrics_snapshot *s, struct vg_buf *b)
{
	family(b, "venuegw_build_info", "gauge", "The running venuegw: version and venue (always 1).");
	vg_buf_adds(b, "venuegw_build_info{version=\"");
	blabel(b, s->version);
	vg_buf_adds(b, "\",venue_id=\"");
	blabel(b, s->venue_id);
	vg_buf_adds(b, "\",gateway_id=\"");
	blabel(b, s->gateway_id);
	vg_buf_adds(b, "\"} 1\n");
	family(b, "venuegw_start_time_seconds", "gauge", "When the daemon started (Unix time).");
	vg_buf_addf(b, "venuegw_start_time_seconds %.3f\n", (double)s->started_wall_ms / 1000.0);

	device_counter(b, "venuegw_ingested_events_total",
	               "Events committed to buffer.db since the daemon started (MQTT and serial), by device and type.",
	               "type", s->ingest, s->ningest);
	device_counter(b, "venuegw_quarantined_inputs_total",
	               "Inputs quarantined since the daemon started (also those only counted in a flood), by device and"
	               " reason.", "reason", s->quarantine, s->nquarantine);
	device_counter(b, "venuegw_dropped_events_total",
	               "Events dropped at the disk cap (on_full = drop_oldest) since the daemon started, by device"
	               " and type.", "type", s->drops, s->ndrops);
	if (s->used_bytes >= 0) {
		family(b, "venuegw_buffer_used_bytes", "gauge",
		       "buffer.db pages in use (the file less its free list), in bytes: what max_buffer_mb caps.");
		vg_buf_addf(b, "venuegw_buffer_used_bytes %lld\n", s->used_bytes);
	}
	family(b, "venuegw_buffer_limit_bytes", "gauge", "The disk cap, [gateway] max_buffer_mb, in bytes.");
	vg_buf_addf(b, "venuegw_buffer_limit_bytes %lld\n", limit_bytes(s));
	size_t nfc = s->nforwarded;
	const struct vg_forward_count *fc = s->forwarded;
	family(b, "venuegw_forwarded_events_total", "counter",
	       "Events the CDP accepted (2xx) since the daemon started, by device and type.");
	for (size_t i = 0; i < nfc; i++) {
		vg_buf_adds(b, "venuegw_forwarded_events_total{device=\"");
		blabel(b, fc[i].device_id);
		vg_buf_adds(b, "\",type=\"");
		blabel(b, fc[i].type);
		vg_buf_addf(b, "\"} %llu\n", fc[i].events);
	}
	if (s->fs) {
		family(b, "venuegw_forward_batches_total", "counter", "Batches the CDP accepted since the daemon started.");
		vg_buf_addf(b, "venuegw_forward_batches_total %llu\n", s->fs->batches_ok);
		family(b, "venuegw_forward_failed_attempts_total", "counter",
		       "Failed requests to the CDP since the daemon started, by reason (network, timeout, HTTP status"
		       " class, or kafka: a batch with a record Kafka refused); each is retried, split or quarantined"
		       " per the response table.");
		for (int i = 0; i < VG_FAIL__COUNT; i++)
			vg_buf_addf(b, "venuegw_forward_failed_attempts_total{reason=\"%s\"} %llu\n", vg_fail_reason_names[i],
			        s->fs->attempts_failed_by[i]);
		family(b, "venuegw_forward_quarantined_events_total", "counter",
		       "Events the forwarder quarantined (refused by the CDP or unsendable) since the daemon started.");
		vg_buf_addf(b, "venuegw_forward_quarantined_events_total %llu\n", s->fs->events_quarantined);
		family(b, "venuegw_forward_latency_seconds", "histogram",
		       "Per delivered event: from its commit to buffer.db to the CDP's 2xx.");
		histogram(b, "venuegw_forward_latency_seconds", &s->fs->latency);
		family(b, "venuegw_consent_propagation_seconds", "histogram",
		       "Per consent.updated event: from its commit to buffer.db to the CDP's 2xx.");
		histogram(b, "venuegw_consent_propagation_seconds", &s->fs->consent_latency);
		family(b, "venuegw_consent_propagation_last_seconds", "gauge",
		       "Propagation time of the last delivered consent batch (its oldest event).");
		vg_buf_addf(b, "venuegw_consent_propagation_last_seconds %.3f\n", (double)s->fs->consent_latency_last_ms / 1000.0);
		family(b, "venuegw_cdp_forwarding_enabled", "gauge", "1 when a [cdp] endpoint is configured.");
		vg_buf_addf(b, "venuegw_cdp_forwarding_enabled %d\n", s->fs->enabled);
		family(b, "venuegw_cdp_alarm", "gauge",
		       "1 while forwarding is stopped by an alarm: credentials (the CDP refused the write key) or"
		       " config (no readable write key).");
		vg_buf_addf(b, "venuegw_cdp_alarm{alarm=\"credentials\"} %d\n",
		        s->fs->alarm && strcmp(s->fs->alarm, "credentials") == 0);
		vg_buf_addf(b, "venuegw_cdp_alarm{alarm=\"config\"} %d\n", s->fs->alarm && strcmp(s->fs->alarm, "config") == 0);
		if (s->fs->last_status >= 0) {
			family(b, "venuegw_cdp_last_http_status", "gauge",
			       "HTTP status of the last answer from the CDP (0: a network error).");
			vg_buf_addf(b, "venuegw_cdp_last_http_status %d\n", s->fs->last_status);
		}
		if (s->fs->last_success_wall_ms) {
			family(b, "venuegw_cdp_last_success_timestamp_seconds", "gauge",
			       "When the CDP last accepted a batch (Unix time).");
			vg_buf_addf(b, "venuegw_cdp_last_success_timestamp_seconds %.3f\n",
			        (double)s->fs->last_success_wall_ms / 1000.0);
		}
	}
	if (s->have_counts) {
		family(b, "venuegw_backlog_events", "gauge", "Events in buffer.db not yet forwarded (pending and in flight).");
		vg_buf_addf(b, "venuegw_backlog_events %lld\n", s->pending + s->inflight);
		family(b, "venuegw_in_flight_events", "gauge", "Events in batches sent or being retried.");
		vg_buf_addf(b, "venuegw_in_flight_events %lld\n", s->inflight);
		family(b, "venuegw_quarantine_inputs", "gauge",
		       "Inputs in the quarantine now: held (tokenized), metadata (undecodable), flood (only counted).");
		vg_buf_addf(b, "venuegw_quarantine_inputs{state=\"held\"} %lld\n", s->quarantine_held);
		vg_buf_addf(b, "venuegw_quarantine_inputs{state=\"metadata\"} %lld\n", s->quarantine_metadata);
		vg_buf_addf(b, "venuegw_quarantine_inputs{state=\"flood\"} %lld\n", s->quarantine_overflow);
	}
	family(b, "venuegw_undeclared_fields_dropped_total", "counter",
	       "Members the tracking plan does not declare, dropped at capture, by device, event type and path"
	       " (\"~\" stands for a key that might hold personal data; \"~other\" past 1000 series).");
	for (size_t i = 0; i < s->nundeclared; i++)
		undeclared_row(b, &s->undeclared[i]);
	family(b, "venuegw_oldest_unforwarded_age_seconds", "gauge",
	       "Age of the oldest event not yet forwarded (data freshness at the CDP); 0 when none.");
	vg_buf_addf(b, "venuegw_oldest_unforwarded_age_seconds %.3f\n", age_s(s));
	family(b, "venuegw_identity_events_total", "counter",
	       "Device events since the daemon started by whether they carry a person identifier (identified) or"
	       " not (anonymous); unknown: forwarded before the daemon read them.");
	vg_buf_addf(b, "venuegw_identity_events_total{identity=\"identified\"} %llu\n", s->identified);
	vg_buf_addf(b, "venuegw_identity_events_total{identity=\"anonymous\"} %llu\n", s->anonymous);
	vg_buf_addf(b, "venuegw_identity_events_total{identity=\"unknown\"} %llu\n", s->identity_unknown);
	int known;
	double cov = coverage(s, &known);
	if (known) {
		family(b, "venuegw_identity_coverage_ratio", "gauge",
		       "Share of device events since start with at least one person identifier (userId or externalIds).");
		vg_buf_addf(b, "venuegw_identity_coverage_ratio %.4f\n", cov);
	}
	family(b, "venuegw_clock_synchronized", "gauge",
	       "1 when the system clock is synchronised (adjtimex: no STA_UNSYNC); device times are corrected only then.");
	vg_buf_addf(b, "venuegw_clock_synchronized %d\n", s->synced);

	family(b, "venuegw_device_last_seen_timestamp_seconds", "gauge",
	       "When each device's latest event or quarantined input was received (Unix time).");
	for (size_t i = 0; i < s->ndevices; i++) {
		if (!s->devices[i].last_seen_ms)
			continue;
		vg_buf_adds(b, "venuegw_device_last_seen_timestamp_seconds{device=\"");
		blabel(b, s->devices[i].id);
		vg_buf_addf(b, "\"} %.3f\n", (double)s->devices[i].last_seen_ms / 1000.0);
	}
	family(b, "venuegw_device_seq_gaps", "gauge",
	       "Sequence numbers missing in each device's events (seq) since the daemon started; a late event"
	       " that fills a gap lowers it.");
	for (size_t i = 0; i < s->ndevices; i++) {
		if (!s->devices[i].events)
			continue;
		vg_buf_adds(b, "venuegw_device_seq_gaps{device=\"");
		blabel(b, s->devices[i].id);
		vg_buf_addf(b, "\"} %llu\n", s->devices[i].seq_gaps);
	}

	const cJSON *ports = s->ports;
	if (cJSON_GetArraySize(ports) > 0) {
		static const char *const states[] = { "open", "waiting", "error" };
		family(b, "venuegw_port_state", "gauge",
		       "Each serial or HID port's state: 1 for the current one (open, waiting to reopen, error).");
		const cJSON *p;
		cJSON_ArrayForEach(p, ports) {
			const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
			const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "state"));
			const char *did = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "device_id"));
			const char *drv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "driver"));
			for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
				vg_buf_adds(b, "venuegw_port_state{port=\"");
				blabel(b, name ? name : "");
				vg_buf_adds(b, "\",device_id=\"");
				blabel(b, did ? did : "");
				vg_buf_adds(b, "\",driver=\"");
				blabel(b, drv ? drv : "");
				vg_buf_addf(b, "\",state=\"%s\"} %d\n", states[k], st && strcmp(st, states[k]) == 0);
			}
		}
		static const char *const counters[][2] = {
			{ "frames", "Frames the port's driver read since the daemon started." },
			{ "bad", "Bad frames (noise, bad LRC, overlong) on the port since the daemon started." },
		};
		for (size_t k = 0; k < 2; k++) {
			char name[64];
			snprintf(name, sizeof name, "venuegw_port_%s_frames_total", k ? "bad" : "read");
			family(b, name, "counter", counters[k][1]);
			cJSON_ArrayForEach(p, ports) {
				const char *pn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
				const cJSON *val = cJSON_GetObjectItemCaseSensitive(p, counters[k][0]);
				vg_buf_addf(b, "%s{port=\"", name);
				blabel(b, pn ? pn : "");
				vg_buf_addf(b, "\"} %.0f\n", cJSON_IsNumber(val) ? val->valuedouble : 0.0);
			}
		}
	}
	return b->err;
}

/* ---- the status as JSON --------------------------------------------------------- */

cJSON *vg_report_status(const struct vg_metrics_snapshot *s, const char *state)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "venue_id", s->venue_id);
	cJSON_AddStringToObject(o, "gateway_id", s->gateway_id);
	cJSON_AddStringToObject(o, "version", s->version);
	vg_json_add_time(o, "at", s->now_wall_ms);
	vg_json_add_time(o, "started_at", s->started_wall_ms);
	if (s->have_counts) {
		cJSON_AddNumberToObject(o, "backlog", (double)(s->pending + s->inflight));
		cJSON_AddNumberToObject(o, "pending", (double)s->pending);
		cJSON_AddNumberToObject(o, "in_flight", (double)s->inflight);
		cJSON_AddNumberToObject(o, "quarantined", (double)quarantined_now(s));
	}
	cJSON *buf = cJSON_AddObjectToObject(o, "buffer");
	if (buf) {
		if (s->used_bytes >= 0)
			cJSON_AddNumberToObject(buf, "used_bytes", (double)s->used_bytes);
		cJSON_AddNumberToObject(buf, "limit_bytes", (double)limit_bytes(s));
		cJSON_AddStringToObject(buf, "on_full", s->drop_oldest ? "drop_oldest"
		                                                                                   : "backpressure");
		cJSON_AddNumberToObject(buf, "dropped_since_start", (double)s->dropped);
	}
	vg_json_add_time(o, "oldest_unforwarded_at", s->oldest_ms);
	cJSON_AddNumberToObject(o, "oldest_unforwarded_age_s", rounded(age_s(s), 1000));
	cJSON *r = cJSON_AddObjectToObject(o, "rates");
	if (r) {
		cJSON_AddNumberToObject(r, "ingest_per_s", rounded(s->ingest_rate, 100));
		cJSON_AddNumberToObject(r, "forward_per_s", rounded(s->forward_rate, 100));
		cJSON_AddNumberToObject(r, "window_s", rounded(s->window_s, 1));
	}
	cJSON_AddNumberToObject(o, "ingested_since_start", (double)s->ingested);
	cJSON_AddNumberToObject(o, "forwarded_since_start", (double)vg_report_forwarded_device_events(s->forwarded, s->nforwarded));
	int known;
	double cov = coverage(s, &known);
	if (known)
		cJSON_AddNumberToObject(o, "identity_coverage", rounded(cov, 10000));
	else
		cJSON_AddNullToObject(o, "identity_coverage");
	cJSON_AddBoolToObject(o, "clock_synchronised", s->synced);
	cJSON *alarms = cJSON_AddArrayToObject(o, "alarms");
	const struct vg_forward_stats *fs = s->fs;
	if (fs) {
		if (fs->alarm && alarms)
			cJSON_AddItemToArray(alarms, cJSON_CreateString(fs->alarm));
		cJSON *cdp = cJSON_AddObjectToObject(o, "cdp");
		if (cdp) {
			cJSON_AddBoolToObject(cdp, "enabled", fs->enabled);
			if (fs->last_status >= 0)
				cJSON_AddNumberToObject(cdp, "last_status", fs->last_status);
			else
				cJSON_AddNullToObject(cdp, "last_status");
			cJSON_AddStringToObject(cdp, "last_error", fs->last_error);
			vg_json_add_time(cdp, "last_success_at", fs->last_success_wall_ms);
			if (fs->alarm)
				cJSON_AddStringToObject(cdp, "alarm", fs->alarm);
			else
				cJSON_AddNullToObject(cdp, "alarm");
			cJSON_AddNumberToObject(cdp, "events_forwarded", (double)fs->events_forwarded);
			cJSON_AddNumberToObject(cdp, "attempts_failed", (double)fs->attempts_failed);
			cJSON_AddNumberToObject(cdp, "consents_forwarded", (double)fs->consents_forwarded);
			cJSON_AddNumberToObject(cdp, "consent_latency_last_ms", (double)fs->consent_latency_last_ms);
			cJSON_AddNumberToObject(cdp, "consent_latency_max_ms", (double)fs->consent_latency_max_ms);
			cJSON *errs = cJSON_AddArrayToObject(cdp, "recent_errors");
			unsigned long long n = fs->recent_errors_total;
			for (unsigned long long k = 0; errs && k < VG_RECENT_ERRORS && k < n; k++) {
				unsigned i = (unsigned)((n - 1 - k) % VG_RECENT_ERRORS);
				cJSON *e = cJSON_CreateObject();
				if (!e)
					break;
				vg_json_add_time(e, "at", fs->recent_errors[i].at_wall_ms);
				cJSON_AddStringToObject(e, "error", fs->recent_errors[i].text);
				cJSON_AddItemToArray(errs, e);
			}
		}
	}
	cJSON *ports = s->ports ? cJSON_Duplicate(s->ports, 1) : cJSON_CreateArray();
	if (ports)
		cJSON_AddItemToObject(o, "ports", ports);
	cJSON *devs = cJSON_AddArrayToObject(o, "devices");
	for (size_t i = 0; devs && i < s->ndevices; i++) {
		const struct vg_device_stats *d = &s->devices[i];
		cJSON *e = cJSON_CreateObject();
		if (!e)
			break;
		cJSON_AddStringToObject(e, "device_id", d->id);
		vg_json_add_time(e, "last_seen_at", d->last_seen_ms);
		cJSON_AddNumberToObject(e, "events_since_start", (double)d->events);
		cJSON_AddNumberToObject(e, "quarantined_since_start", (double)d->quarantined);
		cJSON_AddNumberToObject(e, "seq_gaps", (double)d->seq_gaps);
		cJSON_AddItemToArray(devs, e);
	}
	return o;
}

/* ---- the status page ---------------------------------------------------------------- */

static void fmt_age(char *out, size_t n, double s)
{
	if (s < 120)
		snprintf(out, n, "%.0f s", s);
	else if (s < 7200)
		snprintf(out, n, "%.0f min", s / 60);
	else if (s < 172800)
		snprintf(out, n, "%.1f h", s / 3600);
	else
		snprintf(out, n, "%.1f days", s / 86400);
}

static void tile(struct vg_buf *b, const char *id, const char *label, const char *value, const char *note,
                 const char *cls)
{
	vg_buf_addf(b, "<div class=\"tile %s\" id=\"%s\"><div class=\"label\">", cls, id);
	bhtml(b, label);
	vg_buf_adds(b, "</div><div class=\"value\">");
	bhtml(b, value);
	vg_buf_adds(b, "</div><div class=\"note\">");
	bhtml(b, note);
	vg_buf_adds(b, "</div></div>\n");
}

static const char page_css[] =
	"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;"
	"background:#f4f5f7;color:#1d2330}"
	"header{background:#1d2330;color:#fff;padding:14px 28px;display:flex;align-items:baseline;gap:18px;flex-wrap:wrap}"
	"header h1{font-size:20px;margin:0}header .sub{color:#b8c0d0;font-size:14px}"
	".badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;font-size:13px}"
	".ok .badge,.badge.ok{background:#d8f5e0;color:#14632f}.badge.warn{background:#fff1c9;color:#7a5300}"
	".badge.bad{background:#ffd9d6;color:#8f1a10}"
	"main{padding:20px 28px;max-width:1200px}"
	".tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px;margin-bottom:22px}"
	".tile{background:#fff;border-radius:8px;padding:12px 14px;border-left:5px solid #8fa3bf;"
	"box-shadow:0 1px 2px rgba(0,0,0,.08)}"
	".tile.ok{border-left-color:#2e9b50}.tile.warn{border-left-color:#e0a800}.tile.bad{border-left-color:#d0382b}"
	".tile .label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475}"
	".tile .value{font-size:26px;font-weight:650;margin:4px 0;overflow-wrap:anywhere}"
	".tile .note{font-size:12px;color:#5b6475;overflow-wrap:anywhere}"
	"h2{font-size:16px;margin:22px 0 8px}"
	"table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 2px rgba(0,0,0,.08);"
	"border-radius:8px;overflow:hidden}"
	"th,td{text-align:left;padding:7px 12px;border-bottom:1px solid #e6e8ee;font-size:14px}"
	"th{background:#eef0f4;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475}"
	"td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
	"td.time,th.time{width:230px;white-space:nowrap;font-variant-numeric:tabular-nums}"
	".empty{color:#5b6475;font-style:italic}"
	"footer{padding:10px 28px 24px;color:#5b6475;font-size:12px}";

int vg_report_page(const struct vg_metrics_snapshot *s, struct vg_buf *b)
{
	const struct vg_forward_stats *fs = s->fs;
	char now[25], val[64], note[160];
	vg_time_format(s->now_wall_ms, now);
	const char *alarm = fs ? fs->alarm : NULL;
	long long backlog = s->have_counts ? s->pending + s->inflight : -1;
	double age = age_s(s);
	int cdp_failing = fs && fs->enabled && fs->last_error[0];
	const char *overall = alarm ? "ALARM" : cdp_failing ? "CDP failing" : "OK";
	const char *overall_cls = alarm ? "bad" : cdp_failing ? "warn" : "ok";

	vg_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	         "<meta http-equiv=\"refresh\" content=\"10\">"
	         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>venuegw ");
	bhtml(b, s->venue_id);
	vg_buf_addf(b, "</title><style>%s</style></head><body>\n<header><h1>venuegw &middot; ", page_css);
	bhtml(b, s->venue_id);
	vg_buf_addf(b, "</h1><span class=\"badge %s\" id=\"overall\">", overall_cls);
	bhtml(b, overall);
	vg_buf_adds(b, "</span><span class=\"sub\">gateway ");
	bhtml(b, s->gateway_id);
	vg_buf_adds(b, " &middot; version ");
	bhtml(b, s->version);
	vg_buf_adds(b, " &middot; ");
	bhtml(b, now);
	vg_buf_adds(b, "</span></header>\n<main>\n<div class=\"tiles\">\n");

	if (backlog >= 0)
		snprintf(val, sizeof val, "%lld", backlog);
	else
		snprintf(val, sizeof val, "?");
	snprintf(note, sizeof note, "%lld in flight", s->have_counts ? s->inflight : 0);
	tile(b, "backlog", "Backlog (events)", val, note, backlog == 0 ? "ok" : backlog > 0 && (age > 600 || alarm || cdp_failing) ? "warn" : "");
	if (s->oldest_ms)
		fmt_age(val, sizeof val, age);
	else
		snprintf(val, sizeof val, "none");
	tile(b, "freshness", "Oldest unforwarded", val, s->oldest_ms ? "data freshness at the CDP" : "everything is forwarded",
	     !s->oldest_ms ? "ok" : age > 600 ? "warn" : "");
	snprintf(val, sizeof val, "%.1f/s", s->ingest_rate);
	snprintf(note, sizeof note, "forwarded %.1f/s (last %.0f s)", s->forward_rate, s->window_s);
	tile(b, "rates", "Ingest rate", val, note, "");
	snprintf(val, sizeof val, "%lld", s->have_counts ? quarantined_now(s) : 0);
	snprintf(note, sizeof note, "%lld held, %lld undecodable, %lld flood-counted", s->quarantine_held,
	         s->quarantine_metadata, s->quarantine_overflow);
	tile(b, "quarantined", "Quarantined", val, note, s->have_counts && quarantined_now(s) ? "warn" : "ok");
	long long limit = limit_bytes(s);
	if (s->used_bytes >= 0)
		snprintf(val, sizeof val, "%lld%%", s->used_bytes * 100 / limit);
	else
		snprintf(val, sizeof val, "?");
	snprintf(note, sizeof note, "of max_buffer_mb = %d, on_full = %s; %llu dropped since start", s->max_buffer_mb,
	         s->drop_oldest ? "drop_oldest" : "backpressure", s->dropped);
	tile(b, "buffer", "Disk buffer", val, note,
	     s->dropped ? "bad" : s->used_bytes >= limit - limit / 10 ? "warn" : s->used_bytes >= 0 ? "ok" : "");
	if (!fs || !fs->enabled) {
		tile(b, "cdp", "CDP", "not configured", "events are buffered, not forwarded", "warn");
	} else {
		if (fs->last_status > 0)
			snprintf(val, sizeof val, "HTTP %d", fs->last_status);
		else
			snprintf(val, sizeof val, "%s", fs->last_status == 0 ? "network error" : "no answer yet");
		if (fs->last_success_wall_ms) {
			char t[25];
			vg_time_format(fs->last_success_wall_ms, t);
			snprintf(note, sizeof note, "last accepted %s", t);
		} else {
			snprintf(note, sizeof note, "nothing accepted yet");
		}
		tile(b, "cdp", "CDP last answer", val, note, alarm || fs->last_error[0] ? "bad" : "ok");
	}
	tile(b, "alarm", "CDP alarm", alarm ? alarm : "none",
	     alarm ? (strcmp(alarm, "credentials") == 0 ? "the CDP refused the write key: fix it, then SIGHUP"
	                                                 : "the write key file cannot be read")
	           : "forwarding is not stopped", alarm ? "bad" : "ok");
	int known;
	double cov = coverage(s, &known);
	if (known)
		snprintf(val, sizeof val, "%.1f %%", cov * 100);
	else
		snprintf(val, sizeof val, "n/a");
	snprintf(note, sizeof note, "%llu of %llu events name a person", s->identified, s->identified + s->anonymous);
	tile(b, "identity", "Identity coverage", val, note, "");
	tile(b, "clock", "Clock", s->synced ? "synced" : "NOT synced",
	     s->synced ? "device times are checked" : "device times are kept and flagged", s->synced ? "ok" : "warn");
	vg_buf_adds(b, "</div>\n");

	/* Last CDP errors. */
	vg_buf_adds(b, "<h2>Last CDP errors</h2>\n<table id=\"cdp-errors\"><tr><th class=\"time\">time (UTC)</th><th>error</th></tr>\n");
	unsigned long long n = fs ? fs->recent_errors_total : 0;
	if (!n)
		vg_buf_adds(b, "<tr><td colspan=\"2\" class=\"empty\">none since the daemon started</td></tr>\n");
	for (unsigned long long k = 0; k < VG_RECENT_ERRORS && k < n; k++) {
		unsigned i = (unsigned)((n - 1 - k) % VG_RECENT_ERRORS);
		char t[25];
		vg_time_format(fs->recent_errors[i].at_wall_ms, t);
		vg_buf_adds(b, "<tr><td class=\"time\">");
		bhtml(b, t);
		vg_buf_adds(b, "</td><td class=\"cdp-error\">");
		bhtml(b, fs->recent_errors[i].text);
		vg_buf_adds(b, "</td></tr>\n");
	}
	vg_buf_adds(b, "</table>\n");

	/* Devices. */
	vg_buf_adds(b, "<h2>Devices</h2>\n<table id=\"devices\"><tr><th>device</th><th>last seen (UTC)</th><th>ago</th>"
	         "<th class=\"num\">events since start</th><th class=\"num\">quarantined since start</th>"
	         "<th class=\"num\">seq gaps</th></tr>\n");
	if (!s->ndevices)
		vg_buf_adds(b, "<tr><td colspan=\"6\" class=\"empty\">no device has sent anything yet</td></tr>\n");
	for (size_t i = 0; i < s->ndevices; i++) {
		const struct vg_device_stats *d = &s->devices[i];
		char t[25] = "never", ago[32] = "";
		if (d->last_seen_ms) {
			vg_time_format(d->last_seen_ms, t);
			double a = (double)(s->now_wall_ms - d->last_seen_ms) / 1000.0;
			fmt_age(ago, sizeof ago, a > 0 ? a : 0);
		}
		vg_buf_adds(b, "<tr><td class=\"device\">");
		bhtml(b, d->id);
		vg_buf_adds(b, "</td><td>");
		bhtml(b, t);
		vg_buf_adds(b, "</td><td>");
		bhtml(b, ago);
		vg_buf_addf(b, "</td><td class=\"num\">%llu</td><td class=\"num\">%llu</td><td class=\"num\">%llu</td></tr>\n",
		        d->events, d->quarantined, d->seq_gaps);
	}
	vg_buf_adds(b, "</table>\n");

	/* Ports. */
	vg_buf_adds(b, "<h2>Ports</h2>\n<table id=\"ports\"><tr><th>port</th><th>device</th><th>device id</th>"
	         "<th>driver</th><th>state</th><th class=\"num\">frames</th><th class=\"num\">bad</th></tr>\n");
	const cJSON *ports = s->ports;
	if (cJSON_GetArraySize(ports) == 0)
		vg_buf_adds(b, "<tr><td colspan=\"7\" class=\"empty\">no serial or HID ports configured</td></tr>\n");
	const cJSON *p;
	cJSON_ArrayForEach(p, ports) {
		static const char *const cols[] = { "name", "device", "device_id", "driver" };
		vg_buf_adds(b, "<tr>");
		for (size_t k = 0; k < 4; k++) {
			const char *col = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, cols[k]));
			vg_buf_adds(b, "<td>");
			bhtml(b, col ? col : "");
			vg_buf_adds(b, "</td>");
		}
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "state"));
		const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "why"));
		int open = st && strcmp(st, "open") == 0;
		vg_buf_addf(b, "<td><span class=\"badge %s\">", open ? "ok" : "warn");
		bhtml(b, st ? st : "?");
		vg_buf_adds(b, "</span> ");
		bhtml(b, why ? why : "");
		const cJSON *fr = cJSON_GetObjectItemCaseSensitive(p, "frames");
		const cJSON *bad = cJSON_GetObjectItemCaseSensitive(p, "bad");
		vg_buf_addf(b, "</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td></tr>\n",
		        cJSON_IsNumber(fr) ? fr->valuedouble : 0.0, cJSON_IsNumber(bad) ? bad->valuedouble : 0.0);
	}
	vg_buf_adds(b, "</table>\n</main>\n<footer>Refreshes every 10 s. Machine-readable: "
	         "<a href=\"/metrics\">/metrics</a> (Prometheus), <a href=\"/status.json\">/status.json</a>. "
	         "Counts &ldquo;since start&rdquo; are since the daemon started at ");
	char st_at[25];
	vg_time_format(s->started_wall_ms, st_at);
	bhtml(b, st_at);
	vg_buf_adds(b, ".</footer>\n</body></html>\n");
	return b->err;
}

