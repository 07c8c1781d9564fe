#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "container.h"
#include "digest.h"
#include "err.h"
#include "event.h"
#include "ingest.h"
#include "log.h"
#include "report.h"

#define SCAN_EVERY_MS 1000
#define SCAN_CHUNK 5000          /* rows per query */
#define SCAN_MAX 20000           /* rows per scan: the loop also serves ports and the CDP */
#define BACKFILL_SLICE 20000     /* keys per tick for the devices' last seen at start */
#define MAX_SERIES 4096          /* per table; more are counted under device "_other" */
#define RATE_SAMPLES 61          /* one a second: rates over the last minute */

/* The flood counters (quarantine_overflow) as last read. */
struct overflow_seen {
	char device[65];
	char reason[32];
	long long count;
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
	struct vg_timer tick;
	long long ev_mark, q_mark;     /* the highest rows read */
	int64_t backfill_before;       /* keys received before this not yet read for last seen (0: done) */
	struct vg_count *ingest;
	size_t ningest, capingest;
	struct vg_count *drops;    /* events dropped at the disk cap, by device and type */
	size_t ndrops, capdrops;
	long long drop_mark;           /* the highest drops row read */
	unsigned long long dropped;
	struct vg_count *quar;
	size_t nquar, capquar;
	struct overflow_seen *ovf;
	size_t novf, capovf;
	struct vg_device_stats *dev;
	size_t ndev, capdev;
	unsigned long long ingested;   /* device events (not the gateway's own) */
	unsigned long long identified, anonymous, identity_unknown;
	struct sample samples[RATE_SAMPLES];
	unsigned nsamples;             /* total taken; index = n % RATE_SAMPLES */
	int64_t started_wall_ms;
	int scan_failed;
	int chunk_rows;                /* rows the current query returned */
};

/* A report's snapshot and what it owns. */
struct snapshot {
	struct vg_metrics_snapshot s;
	struct vg_undeclared *undeclared;
	size_t capundeclared;
	int failed;
	cJSON *ports;
};

/* ---- tables ------------------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	return vg_array_reserve(arr, cap, n + 1, elem);
}

static struct vg_device_stats *device_get(struct vg_metrics *m, const char *id)
{
	for (size_t i = 0; i < m->ndev; i++)
		if (strcmp(m->dev[i].id, id) == 0)
			return &m->dev[i];
	if (m->ndev >= MAX_SERIES && strcmp(id, "_other") != 0)
		return device_get(m, "_other");
	if (grow((void **)&m->dev, &m->capdev, m->ndev, sizeof *m->dev))
		return NULL;
	struct vg_device_stats *d = &m->dev[m->ndev++];
	memset(d, 0, sizeof *d);
	snprintf(d->id, sizeof d->id, "%s", id);
	return d;
}

/* Add n to the (device, type) row of a table; past MAX_SERIES rows, to "_other". */
static void count_add(struct vg_count **arr, size_t *len, size_t *cap, const char *device, const char *type,
                      unsigned long long n)
{
	for (size_t i = 0; i < *len; i++) {
		if (strcmp((*arr)[i].device, device) == 0 && strcmp((*arr)[i].key, type) == 0) {
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
	struct vg_count *c = &(*arr)[(*len)++];
	snprintf(c->device, sizeof c->device, "%s", device);
	snprintf(c->key, sizeof c->key, "%s", type);
	c->n = n;
}

static void ingest_add(struct vg_metrics *m, const char *device, const char *type)
{
	count_add(&m->ingest, &m->ningest, &m->capingest, device, type, 1);
}

static void quarantine_add(struct vg_metrics *m, const char *device, const char *reason, unsigned long long n)
{
	count_add(&m->quar, &m->nquar, &m->capquar, device, reason, n);
}

/* ---- the scanner ---------------------------------------------------------- */

static int on_event(void *ud, const struct vg_store_new_event *e)
{
	struct vg_metrics *m = ud;
	m->ev_mark = e->id;
	m->chunk_rows++;
	ingest_add(m, e->device_id, e->type);
	if (strcmp(e->device_id, VG_GATEWAY_DEVICE) == 0)
		return 0;
	m->ingested++;
	if (e->identified == 1)
		m->identified++;
	else if (e->identified == 0)
		m->anonymous++;
	else
		m->identity_unknown++;
	struct vg_device_stats *d = device_get(m, e->device_id);
	if (!d)
		return 0;
	d->events++;
	if (e->received_at_ms > d->last_seen_ms)
		d->last_seen_ms = e->received_at_ms;
	if (e->identified < 0) {
		/* A body that is not JSON: its seq is unknown, so no gap can be told
		 * across it. */
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
	struct vg_device_stats *d = device_get(m, device);
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
				struct vg_device_stats *d = device_get(m, device);
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
	if (strcmp(device, VG_GATEWAY_DEVICE) == 0)
		return 0;
	struct vg_device_stats *d = device_get(m, device);
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
	return vg_report_forwarded_device_events(c, n);
}

static void on_tick(struct vg_timer *t)
{
	struct vg_metrics *m = vg_container_of(t, struct vg_metrics, tick);
	scan(m);
	struct overflow_pass p = { .m = m };
	vg_store_overflow_each(m->store, on_overflow, &p);
	if (m->backfill_before) {
		int64_t next = 0;
		if (vg_store_devices_before(m->store, m->backfill_before, BACKFILL_SLICE, on_backfill, m, &next) == VG_OK)
			m->backfill_before = next;
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

/* ---- the snapshot the reports render (firmware/core/report.c) ----------------- */

static int undeclared_row(void *ud, const char *device, const char *type, const char *path, long long count,
                          int64_t last_ms)
{
	(void)last_ms;
	struct snapshot *sn = ud;
	if (vg_array_reserve((void **)&sn->undeclared, &sn->capundeclared, sn->s.nundeclared + 1,
	                     sizeof *sn->undeclared)) {
		sn->failed = 1;
		return 1;
	}
	struct vg_undeclared *u = &sn->undeclared[sn->s.nundeclared];
	u->device = strdup(device);
	u->type = strdup(type);
	u->path = strdup(path);
	u->count = count;
	sn->s.nundeclared++;
	if (!u->device || !u->type || !u->path) {
		sn->failed = 1;
		return 1;
	}
	return 0;
}

/* Read what is new in buffer.db, then fill sn from the counters, the store,
 * the forwarder and the ports; snapshot_free() after rendering. */
static void snapshot(struct vg_metrics *m, struct snapshot *sn)
{
	memset(sn, 0, sizeof *sn);
	struct vg_metrics_snapshot *s = &sn->s;
	scan(m);
	struct vg_store_counts c;
	s->have_counts = vg_store_counts(m->store, &c) == VG_OK;
	if (s->have_counts) {
		s->pending = c.pending;
		s->inflight = c.inflight;
		s->quarantine_held = c.quarantine_held;
		s->quarantine_metadata = c.quarantine_metadata;
		s->quarantine_overflow = c.quarantine_overflow;
	}
	if (vg_store_used_bytes(m->store, &s->used_bytes) != VG_OK)
		s->used_bytes = -1;
	if (vg_store_oldest_unforwarded(m->store, &s->oldest_ms) != VG_OK)
		s->oldest_ms = 0;
	s->now_wall_ms = vg_wall_ms();
	s->synced = vg_clock_synced();
	s->fs = m->fwd ? vg_forwarder_stats(m->fwd) : NULL;
	s->forwarded = vg_forwarder_counts(m->fwd, &s->nforwarded);
	s->ingest_rate = rate(m, 0, &s->window_s);
	s->forward_rate = rate(m, 1, &s->window_s);
	s->version = VG_VERSION;
	s->venue_id = m->cfg->venue_id;
	s->gateway_id = m->cfg->gateway_id;
	s->started_wall_ms = m->started_wall_ms;
	s->max_buffer_mb = m->cfg->max_buffer_mb;
	s->drop_oldest = m->cfg->on_full == VG_ON_FULL_DROP_OLDEST;
	s->ingest = m->ingest;
	s->ningest = m->ningest;
	s->quarantine = m->quar;
	s->nquarantine = m->nquar;
	s->drops = m->drops;
	s->ndrops = m->ndrops;
	s->dropped = m->dropped;
	s->ingested = m->ingested;
	s->identified = m->identified;
	s->anonymous = m->anonymous;
	s->identity_unknown = m->identity_unknown;
	s->devices = m->dev;
	s->ndevices = m->ndev;
	sn->ports = cJSON_CreateArray();
	if (sn->ports && m->serial)
		vg_serial_describe(m->serial, sn->ports);
	s->ports = sn->ports;
}

static void snapshot_free(struct snapshot *sn)
{
	for (size_t i = 0; i < sn->s.nundeclared; i++) {
		free(sn->undeclared[i].device);
		free(sn->undeclared[i].type);
		free(sn->undeclared[i].path);
	}
	free(sn->undeclared);
	cJSON_Delete(sn->ports);
}

int vg_metrics_prometheus(struct vg_metrics *m, struct vg_buf *out)
{
	struct snapshot sn;
	snapshot(m, &sn);
	/* The undeclared members only /metrics shows. */
	vg_store_undeclared_each(m->store, undeclared_row, &sn);
	int rc = VG_ERR_NOMEM;
	if (!sn.failed) {
		sn.s.undeclared = sn.undeclared;
		rc = vg_report_prometheus(&sn.s, out);
	}
	snapshot_free(&sn);
	return rc;
}

int vg_metrics_page(struct vg_metrics *m, struct vg_buf *out)
{
	struct snapshot sn;
	snapshot(m, &sn);
	int rc = vg_report_page(&sn.s, out);
	snapshot_free(&sn);
	return rc;
}

cJSON *vg_metrics_status(struct vg_metrics *m, const char *state)
{
	struct snapshot sn;
	snapshot(m, &sn);
	cJSON *o = vg_report_status(&sn.s, state);
	snapshot_free(&sn);
	return o;
}

/* ---- the server --------------------------------------------------------------- */

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
	/* Last seen from the keys (events held or forwarded), newest first, a
	 * slice per tick; the scanner reads the rows committed from now on. */
	m->backfill_before = INT64_MAX;
	struct overflow_pass p = { .m = m, .initial = 1 };
	vg_store_overflow_each(st, on_overflow, &p);
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
	vg_loop_cancel(m->loop, &m->tick);
	free(m->ingest);
	free(m->drops);
	free(m->quar);
	free(m->ovf);
	free(m->dev);
	free(m);
}
