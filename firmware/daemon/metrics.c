#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"
#include "event.h"
#include "httpd.h"
#include "ingest.h"
#include "log.h"

#define SCAN_EVERY_MS 1000
#define SCAN_CHUNK 5000          /* rows per query */
#define SCAN_MAX 20000           /* rows per scan: the loop also serves ports and the CDP */
#define BACKFILL_SLICE 20000     /* event ids per second for the devices' last seen at start */
#define MAX_SERIES 4096          /* per table; more are counted under device "_other" */
#define RATE_SAMPLES 61          /* one a second: rates over the last minute */
#define BODY_MAX (8u << 20)      /* a response's hard maximum */

#define OF(type, member, p) ((type *)((char *)(p) - offsetof(type, member)))

#define GATEWAY_DEVICE "_gateway" /* the daemon's own events (reconciliation, erasure) */

struct ingest_count {
	char device[65];
	char type[48];
	unsigned long long n;
};

struct quarantine_count {
	char device[65];
	char reason[32];
	unsigned long long n;
};

/* The flood counters (quarantine_overflow) as last read. */
struct overflow_seen {
	char device[65];
	char reason[32];
	long long count;
};

struct device {
	char id[65];
	int64_t last_seen_ms;          /* wall clock; 0 = not known */
	unsigned long long events;     /* committed since the daemon started */
	unsigned long long quarantined;
	int has_seq;                   /* last_seq is known */
	long long last_seq;
	unsigned long long seq_gaps;   /* seq numbers missing (since start) */
};

struct sample {
	int64_t at_ms;                 /* monotonic */
	unsigned long long ingested, forwarded;
};

struct vg_metrics {
	struct vg_loop *loop;
	const struct vg_config *cfg;
	struct vg_store *store;
	struct vg_forwarder *fwd;
	struct vg_serial *serial;
	struct vg_httpd *httpd;
	struct vg_timer tick;
	long long ev_mark, q_mark;     /* the highest rows read */
	long long backfill_hi;         /* rows below this not yet read for last seen */
	struct ingest_count *ingest;
	size_t ningest, capingest;
	struct ingest_count *drops;    /* events dropped at the disk cap, by device and type */
	size_t ndrops, capdrops;
	long long drop_mark;           /* the highest drops row read */
	unsigned long long dropped;
	struct quarantine_count *quar;
	size_t nquar, capquar;
	struct overflow_seen *ovf;
	size_t novf, capovf;
	struct device *dev;
	size_t ndev, capdev;
	unsigned long long ingested;   /* device events (not the gateway's own) */
	unsigned long long identified, anonymous, identity_unknown;
	struct sample samples[RATE_SAMPLES];
	unsigned nsamples;             /* total taken; index = n % RATE_SAMPLES */
	int64_t started_wall_ms;
	int scan_failed;
	int chunk_rows;                /* rows the current query returned */
};

/* x rounded to a multiple of 1/scale (no libm). */
static double rounded(double x, double scale)
{
	return (double)(long long)(x * scale + (x < 0 ? -0.5 : 0.5)) / scale;
}

/* ---- tables ------------------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, c * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = c;
	return 0;
}

static struct device *device_get(struct vg_metrics *m, const char *id)
{
	for (size_t i = 0; i < m->ndev; i++)
		if (strcmp(m->dev[i].id, id) == 0)
			return &m->dev[i];
	if (m->ndev >= MAX_SERIES && strcmp(id, "_other") != 0)
		return device_get(m, "_other");
	if (grow((void **)&m->dev, &m->capdev, m->ndev, sizeof *m->dev))
		return NULL;
	struct device *d = &m->dev[m->ndev++];
	memset(d, 0, sizeof *d);
	snprintf(d->id, sizeof d->id, "%s", id);
	return d;
}

/* Add n to the (device, type) row of a table; past MAX_SERIES rows, to "_other". */
static void count_add(struct ingest_count **arr, size_t *len, size_t *cap, const char *device, const char *type,
                      unsigned long long n)
{
	for (size_t i = 0; i < *len; i++) {
		if (strcmp((*arr)[i].device, device) == 0 && strcmp((*arr)[i].type, type) == 0) {
			(*arr)[i].n += n;
			return;
		}
	}
	if (*len >= MAX_SERIES && strcmp(device, "_other") != 0) {
		count_add(arr, len, cap, "_other", "_other", n);
		return;
	}
	if (grow((void **)arr, cap, *len, sizeof **arr))
		return;
	struct ingest_count *c = &(*arr)[(*len)++];
	snprintf(c->device, sizeof c->device, "%s", device);
	snprintf(c->type, sizeof c->type, "%s", type);
	c->n = n;
}

static void ingest_add(struct vg_metrics *m, const char *device, const char *type)
{
	count_add(&m->ingest, &m->ningest, &m->capingest, device, type, 1);
}

static void quarantine_add(struct vg_metrics *m, const char *device, const char *reason, unsigned long long n)
{
	for (size_t i = 0; i < m->nquar; i++) {
		if (strcmp(m->quar[i].device, device) == 0 && strcmp(m->quar[i].reason, reason) == 0) {
			m->quar[i].n += n;
			return;
		}
	}
	if (m->nquar >= MAX_SERIES && strcmp(device, "_other") != 0) {
		quarantine_add(m, "_other", "_other", n);
		return;
	}
	if (grow((void **)&m->quar, &m->capquar, m->nquar, sizeof *m->quar))
		return;
	struct quarantine_count *c = &m->quar[m->nquar++];
	snprintf(c->device, sizeof c->device, "%s", device);
	snprintf(c->reason, sizeof c->reason, "%s", reason);
	c->n = n;
}

/* ---- the scanner ---------------------------------------------------------- */

static int on_event(void *ud, const struct vg_store_new_event *e)
{
	struct vg_metrics *m = ud;
	m->ev_mark = e->id;
	m->chunk_rows++;
	if (e->identified < 0) {
		/* A forwarded event's key row, moved to the end of the table: counted when it
		 * was read before; only its receive time still says when the device was seen
		 * (a backlog forwarded before the start-up backfill reached it). */
		struct device *d = strcmp(e->device_id, GATEWAY_DEVICE) ? device_get(m, e->device_id) : NULL;
		if (d && e->received_at_ms > d->last_seen_ms)
			d->last_seen_ms = e->received_at_ms;
		return 0;
	}
	ingest_add(m, e->device_id, e->type);
	if (strcmp(e->device_id, GATEWAY_DEVICE) == 0)
		return 0;
	m->ingested++;
	if (e->identified == 1)
		m->identified++;
	else if (e->identified == 0)
		m->anonymous++;
	else
		m->identity_unknown++;
	struct device *d = device_get(m, e->device_id);
	if (!d)
		return 0;
	d->events++;
	if (e->received_at_ms > d->last_seen_ms)
		d->last_seen_ms = e->received_at_ms;
	if (e->identified < 0) {
		/* Forwarded before it was read: its seq is unknown, so no gap can be
		 * told across it. */
		d->has_seq = 0;
	} else if (e->has_seq) {
		if (d->has_seq && e->seq > d->last_seq) {
			d->seq_gaps += (unsigned long long)(e->seq - d->last_seq - 1);
			d->last_seq = e->seq;
		} else if (d->has_seq && e->seq < d->last_seq && d->last_seq - e->seq < 1000 && e->seq > 0) {
			/* A late event fills a gap counted before. */
			if (d->seq_gaps)
				d->seq_gaps--;
		} else {
			d->last_seq = e->seq;    /* the first, or the device restarted its count */
		}
		d->has_seq = 1;
	}
	return 0;
}

static int on_quarantine(void *ud, long long id, const char *device, const char *reason, int64_t received_at_ms)
{
	struct vg_metrics *m = ud;
	m->q_mark = id;
	m->chunk_rows++;
	quarantine_add(m, device, reason, 1);
	struct device *d = device_get(m, device);
	if (d) {
		d->quarantined++;
		if (received_at_ms > d->last_seen_ms)
			d->last_seen_ms = received_at_ms;
	}
	return 0;
}

struct overflow_pass {
	struct vg_metrics *m;
	int initial;                   /* at start: a baseline, nothing counted */
};

static int on_overflow(void *ud, const char *device, const char *reason, long long count)
{
	struct overflow_pass *p = ud;
	struct vg_metrics *m = p->m;
	for (size_t i = 0; i < m->novf; i++) {
		struct overflow_seen *o = &m->ovf[i];
		if (strcmp(o->device, device) == 0 && strcmp(o->reason, reason) == 0) {
			if (count > o->count) {
				quarantine_add(m, device, reason, (unsigned long long)(count - o->count));
				struct device *d = device_get(m, device);
				if (d)
					d->quarantined += (unsigned long long)(count - o->count);
			}
			o->count = count;
			return 0;
		}
	}
	if (m->novf >= MAX_SERIES || grow((void **)&m->ovf, &m->capovf, m->novf, sizeof *m->ovf))
		return 0;
	struct overflow_seen *o = &m->ovf[m->novf++];
	snprintf(o->device, sizeof o->device, "%s", device);
	snprintf(o->reason, sizeof o->reason, "%s", reason);
	o->count = p->initial ? count : 0;
	if (!p->initial && count > 0) {
		quarantine_add(m, device, reason, (unsigned long long)count);
		o->count = count;
	}
	return 0;
}

static int on_backfill(void *ud, const char *device, int64_t last_seen_ms, long long events)
{
	(void)events;
	struct vg_metrics *m = ud;
	if (strcmp(device, GATEWAY_DEVICE) == 0)
		return 0;
	struct device *d = device_get(m, device);
	if (d && last_seen_ms > d->last_seen_ms)
		d->last_seen_ms = last_seen_ms;
	return 0;
}

static void on_drops(void *ud, const char *device, const char *type, long long n)
{
	struct vg_metrics *m = ud;
	count_add(&m->drops, &m->ndrops, &m->capdrops, device, type, (unsigned long long)n);
	m->dropped += (unsigned long long)n;
}

static void on_drops_baseline(void *ud, const char *device, const char *type, long long n)
{
	(void)ud, (void)device, (void)type, (void)n;
}

static void scan(struct vg_metrics *m)
{
	int rc = VG_OK;
	for (int i = 0; i < SCAN_MAX / SCAN_CHUNK; i++) {
		m->chunk_rows = 0;
		if ((rc = vg_store_events_after(m->store, m->ev_mark, SCAN_CHUNK, on_event, m)) ||
		    m->chunk_rows < SCAN_CHUNK)
			break;
	}
	for (int i = 0; !rc && i < SCAN_MAX / SCAN_CHUNK; i++) {
		m->chunk_rows = 0;
		if ((rc = vg_store_quarantine_after(m->store, m->q_mark, SCAN_CHUNK, on_quarantine, m)) ||
		    m->chunk_rows < SCAN_CHUNK)
			break;
	}
	if (!rc)
		rc = vg_store_drops_after(m->store, m->drop_mark, on_drops, m, &m->drop_mark);
	if (rc && !m->scan_failed)
		vg_log(VG_LOG_WARN, "metrics.scan", "cannot read new rows of buffer.db: %s (retrying)", vg_strerror(rc));
	m->scan_failed = rc != VG_OK;
}

/* The forwarder takes event_id into a batch: read every row up to it first,
 * while its body is still there. */
static void seen(void *ud, long long event_id)
{
	struct vg_metrics *m = ud;
	/* Also after a failed scan: a row forwarded before it was read would go uncounted. */
	while (event_id > m->ev_mark) {
		long long before = m->ev_mark;
		scan(m);
		if (m->ev_mark == before)
			break;
	}
}

static unsigned long long forwarded_device_events(const struct vg_metrics *m)
{
	size_t n;
	const struct vg_forward_count *c = vg_forwarder_counts(m->fwd, &n);
	unsigned long long sum = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].device_id, GATEWAY_DEVICE) != 0)
			sum += c[i].events;
	return sum;
}

static void on_tick(struct vg_timer *t)
{
	struct vg_metrics *m = OF(struct vg_metrics, tick, t);
	scan(m);
	struct overflow_pass p = { .m = m };
	vg_store_overflow_each(m->store, on_overflow, &p);
	if (m->backfill_hi > 0) {
		long long lo = m->backfill_hi > BACKFILL_SLICE ? m->backfill_hi - BACKFILL_SLICE : 0;
		if (vg_store_devices(m->store, lo, m->backfill_hi, on_backfill, m) == VG_OK)
			m->backfill_hi = lo;
	}
	struct sample *s = &m->samples[m->nsamples++ % RATE_SAMPLES];
	s->at_ms = vg_now_ms();
	s->ingested = m->ingested;
	s->forwarded = forwarded_device_events(m);
	vg_loop_timer(m->loop, &m->tick, vg_now_ms() + SCAN_EVERY_MS);
}

/* Events per second over the last minute (or since start): 0 ingest, 1 forward. */
static double rate(const struct vg_metrics *m, int which, double *window_s)
{
	*window_s = 0;
	if (m->nsamples < 2)
		return 0;
	const struct sample *last = &m->samples[(m->nsamples - 1) % RATE_SAMPLES];
	unsigned first_i = m->nsamples > RATE_SAMPLES ? m->nsamples - RATE_SAMPLES : 0;
	const struct sample *first = &m->samples[first_i % RATE_SAMPLES];
	double dt = (double)(last->at_ms - first->at_ms) / 1000.0;
	if (dt <= 0)
		return 0;
	*window_s = dt;
	unsigned long long a = which ? first->forwarded : first->ingested;
	unsigned long long b = which ? last->forwarded : last->ingested;
	return (double)(b - a) / dt;
}

/* ---- a bounded text buffer --------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	int failed;                    /* out of memory or over BODY_MAX */
};

__attribute__((format(printf, 2, 3)))
static void bprintf(struct buf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t want = b->cap ? b->cap * 2 : 16384;
		while (want < b->len + (size_t)n + 1)
			want *= 2;
		if (want > BODY_MAX) {
			b->failed = 1;
			return;
		}
		char *q = realloc(b->p, want);
		if (!q) {
			b->failed = 1;
			return;
		}
		b->p = q;
		b->cap = want;
	}
}

static void bputs(struct buf *b, const char *s)
{
	bprintf(b, "%s", s);
}

/* A Prometheus label value: \ " and newline escaped. */
static void blabel(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			bputs(b, "\\\\");
		else if (*s == '"')
			bputs(b, "\\\"");
		else if (*s == '\n')
			bputs(b, "\\n");
		else
			bprintf(b, "%c", *s);
	}
}

/* HTML text and attribute values. */
static void bhtml(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': bputs(b, "&amp;"); break;
		case '<': bputs(b, "&lt;"); break;
		case '>': bputs(b, "&gt;"); break;
		case '"': bputs(b, "&quot;"); break;
		case '\'': bputs(b, "&#39;"); break;
		default: bprintf(b, "%c", *s);
		}
	}
}

/* ---- what every view shares ------------------------------------------------ */

struct view {
	int have_counts;
	struct vg_store_counts c;
	int64_t oldest_ms;             /* 0: nothing unforwarded */
	int64_t now_wall_ms;
	int synced;
	const struct vg_forward_stats *fs;
	double ingest_rate, forward_rate, window_s;
	long long used_bytes;          /* -1: unknown */
};

static void gather(struct vg_metrics *m, struct view *v)
{
	memset(v, 0, sizeof *v);
	scan(m);
	v->have_counts = vg_store_counts(m->store, &v->c) == VG_OK;
	if (vg_store_used_bytes(m->store, &v->used_bytes) != VG_OK)
		v->used_bytes = -1;
	if (vg_store_oldest_unforwarded(m->store, &v->oldest_ms) != VG_OK)
		v->oldest_ms = 0;
	v->now_wall_ms = vg_wall_ms();
	v->synced = vg_clock_synced();
	v->fs = m->fwd ? vg_forwarder_stats(m->fwd) : NULL;
	v->ingest_rate = rate(m, 0, &v->window_s);
	v->forward_rate = rate(m, 1, &v->window_s);
}

static long long limit_bytes(const struct vg_metrics *m)
{
	return (long long)m->cfg->max_buffer_mb << 20;
}

static double age_s(const struct view *v)
{
	if (!v->oldest_ms)
		return 0;
	double a = (double)(v->now_wall_ms - v->oldest_ms) / 1000.0;
	return a > 0 ? a : 0;
}

static long long quarantined_now(const struct view *v)
{
	return v->c.quarantine_held + v->c.quarantine_metadata + v->c.quarantine_overflow;
}

static double coverage(const struct vg_metrics *m, int *known)
{
	unsigned long long n = m->identified + m->anonymous;
	*known = n > 0;
	return n ? (double)m->identified / (double)n : 0;
}

/* ---- /metrics ------------------------------------------------------------------ */

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter family with one series per (device, type) row. */
static void device_type_counter(struct buf *b, const char *name, const char *help, const struct ingest_count *rows,
                                size_t n)
{
	family(b, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		bprintf(b, "%s{device=\"", name);
		blabel(b, rows[i].device);
		bputs(b, "\",type=\"");
		blabel(b, rows[i].type);
		bprintf(b, "\"} %llu\n", rows[i].n);
	}
}

static void histogram(struct buf *b, const char *name, const struct vg_histogram *h)
{
	unsigned long long cum = 0;
	for (int i = 0; i < VG_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		bprintf(b, "%s_bucket{le=\"%g\"} %llu\n", name, vg_hist_bounds_s[i], cum);
	}
	cum += h->bucket[VG_HIST_BUCKETS];
	bprintf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n", name, cum, name, h->sum_s, name,
	        h->count);
}

static int undeclared_row(void *ud, const char *device, const char *type, const char *path, long long count,
                          int64_t last_ms)
{
	(void)last_ms;
	struct buf *b = ud;
	bputs(b, "venuegw_undeclared_fields_dropped_total{device=\"");
	blabel(b, device);
	bputs(b, "\",type=\"");
	blabel(b, type);
	bputs(b, "\",path=\"");
	blabel(b, path);
	bprintf(b, "\"} %lld\n", count);
	return 0;
}

static void render_metrics(struct vg_metrics *m, struct buf *b)
{
	struct view v;
	gather(m, &v);

	family(b, "venuegw_build_info", "gauge", "The running venuegw: version and venue (always 1).");
	bputs(b, "venuegw_build_info{version=\"");
	blabel(b, VG_VERSION);
	bputs(b, "\",venue_id=\"");
	blabel(b, m->cfg->venue_id);
	bputs(b, "\",gateway_id=\"");
	blabel(b, m->cfg->gateway_id);
	bputs(b, "\"} 1\n");
	family(b, "venuegw_start_time_seconds", "gauge", "When the daemon started (Unix time).");
	bprintf(b, "venuegw_start_time_seconds %.3f\n", (double)m->started_wall_ms / 1000.0);

	device_type_counter(b, "venuegw_ingested_events_total",
	                    "Events committed to buffer.db since the daemon started (MQTT and serial), by device and type.",
	                    m->ingest, m->ningest);
	family(b, "venuegw_quarantined_inputs_total", "counter",
	       "Inputs quarantined since the daemon started (also those only counted in a flood), by device and reason.");
	for (size_t i = 0; i < m->nquar; i++) {
		bputs(b, "venuegw_quarantined_inputs_total{device=\"");
		blabel(b, m->quar[i].device);
		bputs(b, "\",reason=\"");
		blabel(b, m->quar[i].reason);
		bprintf(b, "\"} %llu\n", m->quar[i].n);
	}
	device_type_counter(b, "venuegw_dropped_events_total",
	                    "Events dropped at the disk cap (on_full = drop_oldest) since the daemon started, by device"
	                    " and type.", m->drops, m->ndrops);
	if (v.used_bytes >= 0) {
		family(b, "venuegw_buffer_used_bytes", "gauge",
		       "buffer.db pages in use (the file less its free list), in bytes: what max_buffer_mb caps.");
		bprintf(b, "venuegw_buffer_used_bytes %lld\n", v.used_bytes);
	}
	family(b, "venuegw_buffer_limit_bytes", "gauge", "The disk cap, [gateway] max_buffer_mb, in bytes.");
	bprintf(b, "venuegw_buffer_limit_bytes %lld\n", limit_bytes(m));
	size_t nfc;
	const struct vg_forward_count *fc = vg_forwarder_counts(m->fwd, &nfc);
	family(b, "venuegw_forwarded_events_total", "counter",
	       "Events the CDP accepted (2xx) since the daemon started, by device and type.");
	for (size_t i = 0; i < nfc; i++) {
		bputs(b, "venuegw_forwarded_events_total{device=\"");
		blabel(b, fc[i].device_id);
		bputs(b, "\",type=\"");
		blabel(b, fc[i].type);
		bprintf(b, "\"} %llu\n", fc[i].events);
	}
	if (v.fs) {
		family(b, "venuegw_forward_batches_total", "counter", "Batches the CDP accepted since the daemon started.");
		bprintf(b, "venuegw_forward_batches_total %llu\n", v.fs->batches_ok);
		family(b, "venuegw_forward_failed_attempts_total", "counter",
		       "Failed requests to the CDP since the daemon started, by reason (network, timeout or HTTP status"
		       " class); each is retried, split or quarantined per the response table.");
		for (int i = 0; i < VG_FAIL__COUNT; i++)
			bprintf(b, "venuegw_forward_failed_attempts_total{reason=\"%s\"} %llu\n", vg_fail_reason_names[i],
			        v.fs->attempts_failed_by[i]);
		family(b, "venuegw_forward_quarantined_events_total", "counter",
		       "Events the forwarder quarantined (refused by the CDP or unsendable) since the daemon started.");
		bprintf(b, "venuegw_forward_quarantined_events_total %llu\n", v.fs->events_quarantined);
		family(b, "venuegw_forward_latency_seconds", "histogram",
		       "Per delivered event: from its commit to buffer.db to the CDP's 2xx.");
		histogram(b, "venuegw_forward_latency_seconds", &v.fs->latency);
		family(b, "venuegw_consent_propagation_seconds", "histogram",
		       "Per consent.updated event: from its commit to buffer.db to the CDP's 2xx.");
		histogram(b, "venuegw_consent_propagation_seconds", &v.fs->consent_latency);
		family(b, "venuegw_consent_propagation_last_seconds", "gauge",
		       "Propagation time of the last delivered consent batch (its oldest event).");
		bprintf(b, "venuegw_consent_propagation_last_seconds %.3f\n", (double)v.fs->consent_latency_last_ms / 1000.0);
		family(b, "venuegw_cdp_forwarding_enabled", "gauge", "1 when a [cdp] endpoint is configured.");
		bprintf(b, "venuegw_cdp_forwarding_enabled %d\n", v.fs->enabled);
		family(b, "venuegw_cdp_alarm", "gauge",
		       "1 while forwarding is stopped by an alarm: credentials (the CDP refused the write key) or"
		       " config (no readable write key).");
		bprintf(b, "venuegw_cdp_alarm{alarm=\"credentials\"} %d\n",
		        v.fs->alarm && strcmp(v.fs->alarm, "credentials") == 0);
		bprintf(b, "venuegw_cdp_alarm{alarm=\"config\"} %d\n", v.fs->alarm && strcmp(v.fs->alarm, "config") == 0);
		if (v.fs->last_status >= 0) {
			family(b, "venuegw_cdp_last_http_status", "gauge",
			       "HTTP status of the last answer from the CDP (0: a network error).");
			bprintf(b, "venuegw_cdp_last_http_status %d\n", v.fs->last_status);
		}
		if (v.fs->last_success_wall_ms) {
			family(b, "venuegw_cdp_last_success_timestamp_seconds", "gauge",
			       "When the CDP last accepted a batch (Unix time).");
			bprintf(b, "venuegw_cdp_last_success_timestamp_seconds %.3f\n",
			        (double)v.fs->last_success_wall_ms / 1000.0);
		}
	}
	if (v.have_counts) {
		family(b, "venuegw_backlog_events", "gauge", "Events in buffer.db not yet forwarded (pending and in flight).");
		bprintf(b, "venuegw_backlog_events %lld\n", v.c.pending + v.c.inflight);
		family(b, "venuegw_in_flight_events", "gauge", "Events in batches sent or being retried.");
		bprintf(b, "venuegw_in_flight_events %lld\n", v.c.inflight);
		family(b, "venuegw_quarantine_inputs", "gauge",
		       "Inputs in the quarantine now: held (tokenized), metadata (undecodable), flood (only counted).");
		bprintf(b, "venuegw_quarantine_inputs{state=\"held\"} %lld\n", v.c.quarantine_held);
		bprintf(b, "venuegw_quarantine_inputs{state=\"metadata\"} %lld\n", v.c.quarantine_metadata);
		bprintf(b, "venuegw_quarantine_inputs{state=\"flood\"} %lld\n", v.c.quarantine_overflow);
	}
	family(b, "venuegw_undeclared_fields_dropped_total", "counter",
	       "Members the tracking plan does not declare, dropped at capture, by device, event type and path"
	       " (\"~\" stands for a key that might hold personal data; \"~other\" past 1000 series).");
	vg_store_undeclared_each(m->store, undeclared_row, b);
	family(b, "venuegw_oldest_unforwarded_age_seconds", "gauge",
	       "Age of the oldest event not yet forwarded (data freshness at the CDP); 0 when none.");
	bprintf(b, "venuegw_oldest_unforwarded_age_seconds %.3f\n", age_s(&v));
	family(b, "venuegw_identity_events_total", "counter",
	       "Device events since the daemon started by whether they carry a person identifier (identified) or"
	       " not (anonymous); unknown: forwarded before the daemon read them.");
	bprintf(b, "venuegw_identity_events_total{identity=\"identified\"} %llu\n", m->identified);
	bprintf(b, "venuegw_identity_events_total{identity=\"anonymous\"} %llu\n", m->anonymous);
	bprintf(b, "venuegw_identity_events_total{identity=\"unknown\"} %llu\n", m->identity_unknown);
	int known;
	double cov = coverage(m, &known);
	if (known) {
		family(b, "venuegw_identity_coverage_ratio", "gauge",
		       "Share of device events since start with at least one person identifier (userId or externalIds).");
		bprintf(b, "venuegw_identity_coverage_ratio %.4f\n", cov);
	}
	family(b, "venuegw_clock_synchronized", "gauge",
	       "1 when the system clock is synchronised (adjtimex: no STA_UNSYNC); device times are corrected only then.");
	bprintf(b, "venuegw_clock_synchronized %d\n", v.synced);

	family(b, "venuegw_device_last_seen_timestamp_seconds", "gauge",
	       "When each device's latest event or quarantined input was received (Unix time).");
	for (size_t i = 0; i < m->ndev; i++) {
		if (!m->dev[i].last_seen_ms)
			continue;
		bputs(b, "venuegw_device_last_seen_timestamp_seconds{device=\"");
		blabel(b, m->dev[i].id);
		bprintf(b, "\"} %.3f\n", (double)m->dev[i].last_seen_ms / 1000.0);
	}
	family(b, "venuegw_device_seq_gaps", "gauge",
	       "Sequence numbers missing in each device's events (seq) since the daemon started; a late event"
	       " that fills a gap lowers it.");
	for (size_t i = 0; i < m->ndev; i++) {
		if (!m->dev[i].events)
			continue;
		bputs(b, "venuegw_device_seq_gaps{device=\"");
		blabel(b, m->dev[i].id);
		bprintf(b, "\"} %llu\n", m->dev[i].seq_gaps);
	}

	cJSON *ports = cJSON_CreateArray();
	if (ports && m->serial)
		vg_serial_describe(m->serial, ports);
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
				bputs(b, "venuegw_port_state{port=\"");
				blabel(b, name ? name : "");
				bputs(b, "\",device_id=\"");
				blabel(b, did ? did : "");
				bputs(b, "\",driver=\"");
				blabel(b, drv ? drv : "");
				bprintf(b, "\",state=\"%s\"} %d\n", states[k], st && strcmp(st, states[k]) == 0);
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
				bprintf(b, "%s{port=\"", name);
				blabel(b, pn ? pn : "");
				bprintf(b, "\"} %.0f\n", cJSON_IsNumber(val) ? val->valuedouble : 0.0);
			}
		}
	}
	cJSON_Delete(ports);
}

/* ---- the status as JSON --------------------------------------------------------- */

static cJSON *status_object(struct vg_metrics *m, const struct view *v, const char *state)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "venue_id", m->cfg->venue_id);
	cJSON_AddStringToObject(o, "gateway_id", m->cfg->gateway_id);
	cJSON_AddStringToObject(o, "version", VG_VERSION);
	vg_json_add_time(o, "at", v->now_wall_ms);
	vg_json_add_time(o, "started_at", m->started_wall_ms);
	if (v->have_counts) {
		cJSON_AddNumberToObject(o, "backlog", (double)(v->c.pending + v->c.inflight));
		cJSON_AddNumberToObject(o, "pending", (double)v->c.pending);
		cJSON_AddNumberToObject(o, "in_flight", (double)v->c.inflight);
		cJSON_AddNumberToObject(o, "quarantined", (double)quarantined_now(v));
	}
	cJSON *buf = cJSON_AddObjectToObject(o, "buffer");
	if (buf) {
		if (v->used_bytes >= 0)
			cJSON_AddNumberToObject(buf, "used_bytes", (double)v->used_bytes);
		cJSON_AddNumberToObject(buf, "limit_bytes", (double)limit_bytes(m));
		cJSON_AddStringToObject(buf, "on_full", m->cfg->on_full == VG_ON_FULL_DROP_OLDEST ? "drop_oldest"
		                                                                                   : "backpressure");
		cJSON_AddNumberToObject(buf, "dropped_since_start", (double)m->dropped);
	}
	vg_json_add_time(o, "oldest_unforwarded_at", v->oldest_ms);
	cJSON_AddNumberToObject(o, "oldest_unforwarded_age_s", rounded(age_s(v), 1000));
	cJSON *r = cJSON_AddObjectToObject(o, "rates");
	if (r) {
		cJSON_AddNumberToObject(r, "ingest_per_s", rounded(v->ingest_rate, 100));
		cJSON_AddNumberToObject(r, "forward_per_s", rounded(v->forward_rate, 100));
		cJSON_AddNumberToObject(r, "window_s", rounded(v->window_s, 1));
	}
	cJSON_AddNumberToObject(o, "ingested_since_start", (double)m->ingested);
	cJSON_AddNumberToObject(o, "forwarded_since_start", (double)forwarded_device_events(m));
	int known;
	double cov = coverage(m, &known);
	if (known)
		cJSON_AddNumberToObject(o, "identity_coverage", rounded(cov, 10000));
	else
		cJSON_AddNullToObject(o, "identity_coverage");
	cJSON_AddBoolToObject(o, "clock_synchronised", v->synced);
	cJSON *alarms = cJSON_AddArrayToObject(o, "alarms");
	const struct vg_forward_stats *fs = v->fs;
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
	cJSON *ports = cJSON_AddArrayToObject(o, "ports");
	if (ports && m->serial)
		vg_serial_describe(m->serial, ports);
	cJSON *devs = cJSON_AddArrayToObject(o, "devices");
	for (size_t i = 0; devs && i < m->ndev; i++) {
		const struct device *d = &m->dev[i];
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

cJSON *vg_metrics_status(struct vg_metrics *m, const char *state)
{
	struct view v;
	gather(m, &v);
	return status_object(m, &v, state);
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

static void tile(struct buf *b, const char *id, const char *label, const char *value, const char *note,
                 const char *cls)
{
	bprintf(b, "<div class=\"tile %s\" id=\"%s\"><div class=\"label\">", cls, id);
	bhtml(b, label);
	bputs(b, "</div><div class=\"value\">");
	bhtml(b, value);
	bputs(b, "</div><div class=\"note\">");
	bhtml(b, note);
	bputs(b, "</div></div>\n");
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

static void render_page(struct vg_metrics *m, struct buf *b)
{
	struct view v;
	gather(m, &v);
	const struct vg_forward_stats *fs = v.fs;
	char now[25], val[64], note[160];
	vg_time_format(v.now_wall_ms, now);
	const char *alarm = fs ? fs->alarm : NULL;
	long long backlog = v.have_counts ? v.c.pending + v.c.inflight : -1;
	double age = age_s(&v);
	int cdp_failing = fs && fs->enabled && fs->last_error[0];
	const char *overall = alarm ? "ALARM" : cdp_failing ? "CDP failing" : "OK";
	const char *overall_cls = alarm ? "bad" : cdp_failing ? "warn" : "ok";

	bputs(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	         "<meta http-equiv=\"refresh\" content=\"10\">"
	         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>venuegw ");
	bhtml(b, m->cfg->venue_id);
	bprintf(b, "</title><style>%s</style></head><body>\n<header><h1>venuegw &middot; ", page_css);
	bhtml(b, m->cfg->venue_id);
	bprintf(b, "</h1><span class=\"badge %s\" id=\"overall\">", overall_cls);
	bhtml(b, overall);
	bputs(b, "</span><span class=\"sub\">gateway ");
	bhtml(b, m->cfg->gateway_id);
	bputs(b, " &middot; version ");
	bhtml(b, VG_VERSION);
	bputs(b, " &middot; ");
	bhtml(b, now);
	bputs(b, "</span></header>\n<main>\n<div class=\"tiles\">\n");

	if (backlog >= 0)
		snprintf(val, sizeof val, "%lld", backlog);
	else
		snprintf(val, sizeof val, "?");
	snprintf(note, sizeof note, "%lld in flight", v.have_counts ? v.c.inflight : 0);
	tile(b, "backlog", "Backlog (events)", val, note, backlog == 0 ? "ok" : backlog > 0 && (age > 600 || alarm || cdp_failing) ? "warn" : "");
	if (v.oldest_ms)
		fmt_age(val, sizeof val, age);
	else
		snprintf(val, sizeof val, "none");
	tile(b, "freshness", "Oldest unforwarded", val, v.oldest_ms ? "data freshness at the CDP" : "everything is forwarded",
	     !v.oldest_ms ? "ok" : age > 600 ? "warn" : "");
	snprintf(val, sizeof val, "%.1f/s", v.ingest_rate);
	snprintf(note, sizeof note, "forwarded %.1f/s (last %.0f s)", v.forward_rate, v.window_s);
	tile(b, "rates", "Ingest rate", val, note, "");
	snprintf(val, sizeof val, "%lld", v.have_counts ? quarantined_now(&v) : 0);
	snprintf(note, sizeof note, "%lld held, %lld undecodable, %lld flood-counted", v.c.quarantine_held,
	         v.c.quarantine_metadata, v.c.quarantine_overflow);
	tile(b, "quarantined", "Quarantined", val, note, v.have_counts && quarantined_now(&v) ? "warn" : "ok");
	long long limit = limit_bytes(m);
	if (v.used_bytes >= 0)
		snprintf(val, sizeof val, "%lld%%", v.used_bytes * 100 / limit);
	else
		snprintf(val, sizeof val, "?");
	snprintf(note, sizeof note, "of max_buffer_mb = %d, on_full = %s; %llu dropped since start", m->cfg->max_buffer_mb,
	         m->cfg->on_full == VG_ON_FULL_DROP_OLDEST ? "drop_oldest" : "backpressure", m->dropped);
	tile(b, "buffer", "Disk buffer", val, note,
	     m->dropped ? "bad" : v.used_bytes >= limit - limit / 10 ? "warn" : v.used_bytes >= 0 ? "ok" : "");
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
	double cov = coverage(m, &known);
	if (known)
		snprintf(val, sizeof val, "%.1f %%", cov * 100);
	else
		snprintf(val, sizeof val, "n/a");
	snprintf(note, sizeof note, "%llu of %llu events name a person", m->identified, m->identified + m->anonymous);
	tile(b, "identity", "Identity coverage", val, note, "");
	tile(b, "clock", "Clock", v.synced ? "synced" : "NOT synced",
	     v.synced ? "device times are checked" : "device times are kept and flagged", v.synced ? "ok" : "warn");
	bputs(b, "</div>\n");

	/* Last CDP errors. */
	bputs(b, "<h2>Last CDP errors</h2>\n<table id=\"cdp-errors\"><tr><th class=\"time\">time (UTC)</th><th>error</th></tr>\n");
	unsigned long long n = fs ? fs->recent_errors_total : 0;
	if (!n)
		bputs(b, "<tr><td colspan=\"2\" class=\"empty\">none since the daemon started</td></tr>\n");
	for (unsigned long long k = 0; k < VG_RECENT_ERRORS && k < n; k++) {
		unsigned i = (unsigned)((n - 1 - k) % VG_RECENT_ERRORS);
		char t[25];
		vg_time_format(fs->recent_errors[i].at_wall_ms, t);
		bputs(b, "<tr><td class=\"time\">");
		bhtml(b, t);
		bputs(b, "</td><td class=\"cdp-error\">");
		bhtml(b, fs->recent_errors[i].text);
		bputs(b, "</td></tr>\n");
	}
	bputs(b, "</table>\n");

	/* Devices. */
	bputs(b, "<h2>Devices</h2>\n<table id=\"devices\"><tr><th>device</th><th>last seen (UTC)</th><th>ago</th>"
	         "<th class=\"num\">events since start</th><th class=\"num\">quarantined since start</th>"
	         "<th class=\"num\">seq gaps</th></tr>\n");
	if (!m->ndev)
		bputs(b, "<tr><td colspan=\"6\" class=\"empty\">no device has sent anything yet</td></tr>\n");
	for (size_t i = 0; i < m->ndev; i++) {
		const struct device *d = &m->dev[i];
		char t[25] = "never", ago[32] = "";
		if (d->last_seen_ms) {
			vg_time_format(d->last_seen_ms, t);
			double a = (double)(v.now_wall_ms - d->last_seen_ms) / 1000.0;
			fmt_age(ago, sizeof ago, a > 0 ? a : 0);
		}
		bputs(b, "<tr><td class=\"device\">");
		bhtml(b, d->id);
		bputs(b, "</td><td>");
		bhtml(b, t);
		bputs(b, "</td><td>");
		bhtml(b, ago);
		bprintf(b, "</td><td class=\"num\">%llu</td><td class=\"num\">%llu</td><td class=\"num\">%llu</td></tr>\n",
		        d->events, d->quarantined, d->seq_gaps);
	}
	bputs(b, "</table>\n");

	/* Ports. */
	bputs(b, "<h2>Ports</h2>\n<table id=\"ports\"><tr><th>port</th><th>device</th><th>device id</th>"
	         "<th>driver</th><th>state</th><th class=\"num\">frames</th><th class=\"num\">bad</th></tr>\n");
	cJSON *ports = cJSON_CreateArray();
	if (ports && m->serial)
		vg_serial_describe(m->serial, ports);
	if (cJSON_GetArraySize(ports) == 0)
		bputs(b, "<tr><td colspan=\"7\" class=\"empty\">no serial or HID ports configured</td></tr>\n");
	const cJSON *p;
	cJSON_ArrayForEach(p, ports) {
		static const char *const cols[] = { "name", "device", "device_id", "driver" };
		bputs(b, "<tr>");
		for (size_t k = 0; k < 4; k++) {
			const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, cols[k]));
			bputs(b, "<td>");
			bhtml(b, s ? s : "");
			bputs(b, "</td>");
		}
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "state"));
		const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "why"));
		int open = st && strcmp(st, "open") == 0;
		bprintf(b, "<td><span class=\"badge %s\">", open ? "ok" : "warn");
		bhtml(b, st ? st : "?");
		bputs(b, "</span> ");
		bhtml(b, why ? why : "");
		const cJSON *fr = cJSON_GetObjectItemCaseSensitive(p, "frames");
		const cJSON *bad = cJSON_GetObjectItemCaseSensitive(p, "bad");
		bprintf(b, "</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td></tr>\n",
		        cJSON_IsNumber(fr) ? fr->valuedouble : 0.0, cJSON_IsNumber(bad) ? bad->valuedouble : 0.0);
	}
	cJSON_Delete(ports);
	bputs(b, "</table>\n</main>\n<footer>Refreshes every 10 s. Machine-readable: "
	         "<a href=\"/metrics\">/metrics</a> (Prometheus), <a href=\"/status.json\">/status.json</a>. "
	         "Counts &ldquo;since start&rdquo; are since the daemon started at ");
	char st_at[25];
	vg_time_format(m->started_wall_ms, st_at);
	bhtml(b, st_at);
	bputs(b, ".</footer>\n</body></html>\n");
}

/* ---- the server --------------------------------------------------------------- */

static void handle(void *ud, const char *path, struct vg_httpd_reply *r)
{
	struct vg_metrics *m = ud;
	struct buf b = { 0 };
	if (strcmp(path, "/metrics") == 0) {
		render_metrics(m, &b);
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	} else if (strcmp(path, "/") == 0) {
		render_page(m, &b);
		r->content_type = "text/html; charset=utf-8";
	} else if (strcmp(path, "/status.json") == 0) {
		cJSON *o = vg_metrics_status(m, "up");
		char *t = o ? cJSON_Print(o) : NULL;
		cJSON_Delete(o);
		if (t)
			bprintf(&b, "%s\n", t);
		else
			b.failed = 1;
		cJSON_free(t);
		r->content_type = "application/json";
	} else {
		r->status = 404;
		return;
	}
	if (b.failed) {
		free(b.p);
		r->status = 500;
		return;
	}
	r->status = 200;
	r->body = b.p;
	r->len = b.len;
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

int vg_metrics_open(struct vg_metrics **out, struct vg_loop *loop, const struct vg_config *cfg,
                    struct vg_store *st, struct vg_forwarder *fwd, struct vg_serial *serial,
                    char *err, size_t errsz)
{
	*out = NULL;
	struct vg_metrics *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	m->loop = loop;
	m->cfg = cfg;
	m->store = st;
	m->fwd = fwd;
	m->serial = serial;
	m->started_wall_ms = vg_wall_ms();
	m->tick.cb = on_tick;
	int rc = vg_store_max_ids(st, &m->ev_mark, &m->q_mark);
	if (!rc)
		rc = vg_store_drops_after(st, 0, on_drops_baseline, NULL, &m->drop_mark);
	if (rc) {
		snprintf(err, errsz, "cannot read buffer.db for the metrics: %s", vg_strerror(rc));
		goto fail;
	}
	m->backfill_hi = m->ev_mark;
	struct overflow_pass p = { .m = m, .initial = 1 };
	vg_store_overflow_each(st, on_overflow, &p);
	if (cfg->listen[0]) {
		char password[256] = "";
		if (cfg->metrics_password_file[0] &&
		    (rc = read_password(cfg->metrics_password_file, password, sizeof password, err, errsz)))
			goto fail;
		rc = vg_httpd_open(&m->httpd, loop, cfg->listen, password, handle, m, err, errsz);
		vg_wipe(password, sizeof password);
		if (rc)
			goto fail;
	}
	vg_forwarder_observe(fwd, seen, m);
	on_tick(&m->tick);
	*out = m;
	return VG_OK;
fail:
	vg_metrics_close(m);
	return rc;
}

void vg_metrics_close(struct vg_metrics *m)
{
	if (!m)
		return;
	vg_forwarder_observe(m->fwd, NULL, NULL);
	vg_httpd_close(m->httpd);
	vg_loop_cancel(m->loop, &m->tick);
	free(m->ingest);
	free(m->drops);
	free(m->quar);
	free(m->ovf);
	free(m->dev);
	free(m);
}
