#include "capture.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "digest.h"
#include "clock.h"
#include "err.h"
#include "ingest.h"
#include "intake.h"
#include "keys.h"
#include "store_capture.h"

#define LIMITER_HASH 2048      /* chain heads: a power of two above VG_CAPTURE_LIMITER_DEVICES */
#define NIL (-1)

/* One device's quarantine bucket.  Keyed by the SHA-256 of the full device
 * id (any length: an MQTT user name is not limited to 64 characters). */
struct bucket {
	uint8_t id[32];
	double tokens;
	int64_t last_ms;           /* last refill */
	uint64_t used;             /* LRU clock of the last take */
	int next;                  /* chain in heads[], or NIL */
	int live;
};

struct vg_capture {
	const struct vg_config *cfg;
	const struct vg_keyring *ring;
	long long quarantine_max_bytes;
	long long max_bytes;               /* the disk cap; 0: none */
	long long room;                    /* the journal may still take this much (with a cap) */
	int64_t room_read_ns;              /* when room was read (vg_mono_ns; 0: never) */
	struct vg_capture_stats stats;     /* committed */
	struct vg_capture_stats txn;       /* in the open transaction */
	uint64_t clock;
	int nbuckets;
	int heads[LIMITER_HASH];
	struct bucket buckets[VG_CAPTURE_LIMITER_DEVICES];
};

const char *vg_capture_outcome_name(enum vg_capture_outcome what)
{
	switch (what) {
	case VG_CAPTURE_STORED: return "stored";
	case VG_CAPTURE_DUPLICATE: return "duplicate";
	case VG_CAPTURE_SUPPRESSED: return "suppressed";
	case VG_CAPTURE_QUARANTINED: return "quarantined";
	case VG_CAPTURE_OVERFLOW: return "quarantine_overflow";
	}
	return "unknown";
}

int vg_capture_open(struct vg_capture **out, const struct vg_config *cfg, const struct vg_keyring *ring)
{
	struct vg_capture *c = calloc(1, sizeof *c);
	*out = c;
	if (!c)
		return VG_ERR_NOMEM;
	c->cfg = cfg;
	c->ring = ring;
	c->quarantine_max_bytes = (long long)vg_config_quarantine_max_mb(cfg) << 20;
	c->max_bytes = (long long)cfg->max_buffer_mb << 20;
	for (int i = 0; i < LIMITER_HASH; i++)
		c->heads[i] = NIL;
	return VG_OK;
}

void vg_capture_close(struct vg_capture *c)
{
	free(c);
}

int vg_capture_ingest_cfg(struct vg_capture *c, int64_t now_ms, struct vg_ingest_cfg *icfg)
{
	int64_t now = now_ms / 1000;
	const struct vg_key *key = vg_keyring_current(c->ring, now);
	if (!key)
		return VG_ERR_NOTFOUND;
	const struct vg_key *prev = vg_keyring_previous(c->ring, now);
	if (prev && key->activate_at + (int64_t)c->cfg->rotation_overlap_h * 3600 <= now)
		prev = NULL; /* the rotation's overlap is over */
	vg_ingest_cfg_init(icfg, c->cfg, key);
	icfg->prev_key = prev;
	icfg->ring = c->ring;
	return VG_OK;
}

/* ---- the quarantine limiter ------------------------------------------------ */

static unsigned slot_of(const uint8_t id[32])
{
	return ((unsigned)id[0] | (unsigned)id[1] << 8 | (unsigned)id[2] << 16) % LIMITER_HASH;
}

static void refill(const struct vg_capture *c, struct bucket *b, int64_t now_ms)
{
	double burst = c->cfg->quarantine_burst;
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * (c->cfg->quarantine_rate_per_min / 60000.0);
		b->last_ms = now_ms;
	}
	if (b->tokens > burst)
		b->tokens = burst;
}

static void unlink_bucket(struct vg_capture *c, int i)
{
	int *p = &c->heads[slot_of(c->buckets[i].id)];
	while (*p != NIL && *p != i)
		p = &c->buckets[*p].next;
	if (*p == i)
		*p = c->buckets[i].next;
	c->buckets[i].live = 0;
}

/* A bucket for a device not tracked yet: a free one, else one that has
 * refilled to the burst, else the least recently used (capture.h). */
static int take_bucket(struct vg_capture *c, int64_t now_ms)
{
	if (c->nbuckets < VG_CAPTURE_LIMITER_DEVICES)
		return c->nbuckets++;
	int lru = 0;
	for (int i = 0; i < VG_CAPTURE_LIMITER_DEVICES; i++) {
		struct bucket *b = &c->buckets[i];
		refill(c, b, now_ms);
		if (b->tokens >= (double)c->cfg->quarantine_burst) {
			lru = i;
			break;
		}
		if (b->used < c->buckets[lru].used)
			lru = i;
	}
	unlink_bucket(c, lru);
	return lru;
}

int vg_capture_quarantine_allowed(struct vg_capture *c, const char *device_id, int64_t now_ms)
{
	uint8_t id[32];
	vg_sha256(device_id, strlen(device_id), id);
	unsigned h = slot_of(id);
	int i = c->heads[h];
	while (i != NIL && memcmp(c->buckets[i].id, id, sizeof id) != 0)
		i = c->buckets[i].next;
	if (i == NIL) {
		i = take_bucket(c, now_ms);
		struct bucket *b = &c->buckets[i];
		memset(b, 0, sizeof *b);
		memcpy(b->id, id, sizeof id);
		b->tokens = c->cfg->quarantine_burst;
		b->last_ms = now_ms;
		b->live = 1;
		b->next = c->heads[h];
		c->heads[h] = i;
	}
	struct bucket *b = &c->buckets[i];
	refill(c, b, now_ms);
	b->used = ++c->clock;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

/* ---- the commit ---------------------------------------------------------------- */

int vg_capture_begin(struct vg_capture *c, struct vg_store *st)
{
	memset(&c->txn, 0, sizeof c->txn);
	return vg_store_begin(st);
}

static int put_quarantine(struct vg_capture *c, struct vg_store *st, const struct vg_capture_in *in,
                          enum vg_capture_outcome *what)
{
	const struct vg_ingest_out *out = in->out;
	const char *reason = out ? vg_reject_name(out->rej.reason) : in->reason;
	int rc;
	/* The device's rate first (no database work for a flood), then the share. */
	int allowed = vg_capture_quarantine_allowed(c, in->device_id, in->received_at_ms);
	if (allowed && c->quarantine_max_bytes > 0) {
		long long used = 0;
		if ((rc = vg_store_quarantine_bytes(st, &used)))
			return rc;
		allowed = used < c->quarantine_max_bytes;
	}
	if (!allowed) {
		rc = vg_store_count_quarantine_overflow(st, in->device_id, reason, in->received_at_ms);
		if (rc)
			return rc;
		*what = VG_CAPTURE_OVERFLOW;
		c->txn.overflowed++;
		return VG_OK;
	}
	struct vg_store_quarantine q = {
		.received_at_ms = in->received_at_ms,
		.device_id = in->device_id,
		.topic = in->topic ? in->topic : "",
		.size = in->size,
		.reason = reason,
		.field = out ? out->rej.field : "",
		.detail = out ? out->rej.detail : (in->detail ? in->detail : ""),
		.error_offset = out ? out->rej.offset : -1,
		.digest = out ? out->digest : "",
		.event_key = out ? out->event_key : "",
		.body = out ? out->body : NULL,
		.body_len = out ? out->body_len : 0,
	};
	rc = vg_store_put_quarantine(st, &q);
	if (rc < 0)
		return rc;
	if (rc == VG_STORE_OVERFLOW) {
		*what = VG_CAPTURE_OVERFLOW;
		c->txn.overflowed++;
	} else {
		*what = VG_CAPTURE_QUARANTINED;
		c->txn.quarantined++;
	}
	return VG_OK;
}

/* The members the plan did not declare, dropped from an input just stored
 * (as an event or a held quarantine row): counted per device, type and path,
 * in the same transaction.  Paths beyond the ingest's distinct ones go to
 * "~more". */
static int count_undeclared(struct vg_store *st, const struct vg_capture_in *in)
{
	const struct vg_ingest_out *out = in->out;
	if (!out)
		return VG_OK;
	const char *paths[VG_INGEST_UNDECLARED_MAX];
	for (int i = 0; i < out->nundeclared; i++)
		paths[i] = out->undeclared[i];
	return vg_store_count_undeclared_list(st, in->device_id, out->type, paths, out->undeclared_n, out->nundeclared,
	                                      out->undeclared_total, in->received_at_ms);
}

int vg_capture_put(struct vg_capture *c, struct vg_store *st, const struct vg_capture_in *in,
                   enum vg_capture_outcome *what)
{
	const struct vg_ingest_out *out = in->out;
	int rc;
	/* A forgotten person's input is acknowledged, counted, not stored —
	 * quarantined input too (its body would carry the person's tokens). */
	if (out && out->nidents > 0) {
		const char *idents[VG_INGEST_IDENTS_MAX];
		for (int i = 0; i < out->nidents; i++)
			idents[i] = out->idents[i];
		int sup = vg_store_suppressed(st, idents, (size_t)out->nidents);
		if (sup < 0)
			return sup;
		if (sup) {
			*what = VG_CAPTURE_SUPPRESSED;
			c->txn.suppressed++;
			return VG_OK;
		}
	}
	if (!out || out->quarantined) {
		rc = put_quarantine(c, st, in, what);
		if (rc == VG_OK && *what == VG_CAPTURE_QUARANTINED)
			rc = count_undeclared(st, in);
		return rc;
	}
	struct vg_store_event ev = {
		.event_key = out->event_key,
		.device_id = in->device_id,
		.type = out->type,
		.priority = out->priority,
		.flags = out->flags,
		.received_at_ms = in->received_at_ms,
		.body = out->body,
		.body_len = out->body_len,
	};
	rc = vg_store_put_event(st, &ev);
	if (rc < 0)
		return rc;   /* VG_ERR_FULL among them: the caller rolls back */
	if (rc == VG_STORE_DUPLICATE) {
		*what = VG_CAPTURE_DUPLICATE;
		c->txn.duplicates++;
	} else {
		*what = VG_CAPTURE_STORED;
		c->txn.stored++;
		return count_undeclared(st, in);
	}
	return VG_OK;
}

int vg_capture_end(struct vg_capture *c, struct vg_store *st)
{
	int rc = vg_store_commit(st);
	if (rc) {
		c->stats.store_failures++;
	} else {
		c->stats.stored += c->txn.stored;
		c->stats.duplicates += c->txn.duplicates;
		c->stats.suppressed += c->txn.suppressed;
		c->stats.quarantined += c->txn.quarantined;
		c->stats.overflowed += c->txn.overflowed;
	}
	memset(&c->txn, 0, sizeof c->txn);
	return rc;
}

void vg_capture_abort(struct vg_capture *c, struct vg_store *st)
{
	vg_store_rollback(st);
	memset(&c->txn, 0, sizeof c->txn);
}

int vg_capture_commit(struct vg_capture *c, struct vg_store *st, const struct vg_capture_in *in,
                      enum vg_capture_outcome *what)
{
	int rc = vg_capture_begin(c, st);
	if (rc) {
		c->stats.store_failures++;
		return rc;
	}
	if ((rc = vg_capture_put(c, st, in, what))) {
		vg_capture_abort(c, st);
		c->stats.store_failures++;
		return rc;
	}
	return vg_capture_end(c, st);
}

/* ---- capture v2: the intake journal --------------------------------------- */

_Static_assert(VG_INGEST_IDENTS_MAX <= VG_INTAKE_IDENTS_MAX, "a record holds every identity token");
_Static_assert(VG_INGEST_UNDECLARED_MAX <= VG_INTAKE_UNDECLARED_MAX, "a record holds every undeclared path");

#define ROOM_EVERY_NS 200000000ll     /* read the room again at least this often */
#define ROOM_RETRY_NS 10000000ll      /* … and when it is used up, at most this often */

int vg_capture_room(struct vg_capture *c, struct vg_store *st, const char *intake_dir, int64_t mono_ns)
{
	c->room_read_ns = mono_ns ? mono_ns : 1;
	if (!c->max_bytes)
		return VG_OK;
	/* The journal's share of the cap (VG_STORE_INTAKE_SHARE), less what
	 * it holds and up to one punch step of moved records a mover has yet
	 * to free; buffer.db keeps within the rest as the daemon moves. */
	long long backlog = 0;
	int rc = vg_intake_backlog(st, intake_dir, &backlog);
	c->room = rc ? 0 : VG_STORE_INTAKE_SHARE(c->max_bytes) - backlog - VG_INTAKE_PUNCH_STEP;
	return rc;
}

int vg_capture_journal(struct vg_capture *c, struct vg_intake_writer *w, struct vg_store *st,
                       const char *intake_dir, const struct vg_capture_in *in, enum vg_capture_outcome *what)
{
	const struct vg_ingest_out *out = in->out;
	if (!out || out->quarantined)
		return vg_capture_commit(c, st, in, what);
	struct vg_intake_rec r = {
		.received_at_ms = in->received_at_ms,
		.size = (uint32_t)in->size,
		.priority = out->priority,
		.flags = out->flags,
		.device_id = in->device_id,
		.topic = in->topic ? in->topic : "",
		.event_key = out->event_key,
		.type = out->type,
		.nidents = out->nidents,
		.undeclared_total = out->undeclared_total,
		.nundeclared = out->nundeclared,
		.body = out->body,
		.body_len = out->body_len,
	};
	for (int i = 0; i < r.nidents; i++)
		r.idents[i] = out->idents[i];
	for (int i = 0; i < r.nundeclared; i++) {
		r.undeclared[i] = out->undeclared[i];
		r.undeclared_n[i] = out->undeclared_n[i];
	}
	if (c->max_bytes) {
		int64_t now = vg_mono_ns();
		long long need = (long long)(VG_INTAKE_HEADER + 256 + r.body_len);
		if (!c->room_read_ns || now - c->room_read_ns >= ROOM_EVERY_NS ||
		    (c->room < need && now - c->room_read_ns >= ROOM_RETRY_NS))
			vg_capture_room(c, st, intake_dir, now);
		if (c->room < need) {
			c->stats.store_failures++;
			return VG_ERR_FULL;
		}
	}
	long long before = vg_intake_written(w);
	int rc = vg_intake_append(w, &r);
	if (rc) {
		c->stats.store_failures++;
		return rc;
	}
	c->room -= vg_intake_written(w) - before;
	*what = VG_CAPTURE_STORED;
	c->stats.stored++;
	return VG_OK;
}

void vg_capture_stats(const struct vg_capture *c, struct vg_capture_stats *out)
{
	*out = c->stats;
}
