/* The forwarder: buffer.db → the CDP (DESIGN.md §8).
 *
 * Up to max_in_flight batches are in flight, each in a slot with its own
 * curl easy handle (kept alive between requests).  A batch is recorded in
 * buffer.db before its first attempt and keeps its set of events until the
 * CDP answers for it, so every retry — also after a restart — carries the
 * same messageIds and the same Idempotency-Key.  The response decides
 * (vg_response_classify, firmware/core/response.c):
 *   2xx                                  forwarded
 *   408, 429, 5xx (not 501/505), network retry the same set: backoff with full
 *                                        jitter, Retry-After honoured
 *   413, 400, 422                        split the set in halves (new sets, new
 *                                        keys) until the offending event stands
 *                                        alone; then it is quarantined
 *   401, 403                             pause everything, alarm; SIGHUP resumes
 *   501, 505, other 4xx                  quarantine the batch's events
 * The priority lane (consent, erasure) is claimed first.  Hourly (or every
 * reconciliation_interval_s) a gateway.reconciliation event is stored. */
#include "forward.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "container.h"
#include "digest.h"
#include "encode.h"
#include "err.h"
#include "event.h"
#include "contract.h"
#include "ingest.h"
#include "kafka.h"
#include "log.h"
#include "reconcile.h"
#include "retention.h"

#define TICK_MS 100
#define PURGE_EVERY_MS 60000
#define KEY_RETRY_MS 30000
#define MAX_SLOTS 8
#define RECON_GRACE_MS 2000

struct sockwatch {
	struct vg_watch w;
	struct vg_forwarder *f;
	curl_socket_t fd;
};

/* Events of one device and type in a batch (counted when delivered). */
struct tally {
	char device_id[65];
	char type[48];
	unsigned n;
};

/* A batch in memory: its encoded messages and what identifies them.  The
 * arrays and the text are kept from batch to batch (grown geometrically,
 * freed with the forwarder): adding an event allocates nothing once they
 * have grown to a batch's size. */
struct batch {
	long long id;                 /* 0: none */
	int attempts;
	struct vg_buf json;           /* {"batch":[message,message… (closed at each send) */
	char (*ids)[VG_EVENT_KEY_LEN + 1]; /* messageIds */
	const char **idp;             /* pointers to them, for vg_idempotency_key */
	long long *rows;              /* events.id of each message */
	int64_t *recv;                /* receive (commit) time of each message */
	unsigned char *consent;       /* REC_CONSENT: consent.updated; REC_ERASURE: erasure.requested */
	size_t *off;                  /* where each message starts in json */
	unsigned short *tix;          /* each message's tally entry */
	int *rec;                     /* Kafka: each record's report: REC_PENDING, 0 written, or its error */
	struct tally *tally;
	size_t ntally, captally;
	size_t n, cap;
	size_t bytes;                 /* encoded size of the messages, a comma each */
	int erasure;                  /* holds an erasure.requested notice */
	int consents;                 /* consent.updated events in it */
	int64_t consent_oldest_ms;    /* the earliest receive time among them */
	char key[VG_EVENT_KEY_LEN + 1];
};

struct slot {
	struct vg_forwarder *f;
	CURL *easy;
	struct curl_slist *headers;
	uint8_t *gz;
	size_t gzlen;
	char retry_after[64];
	char errbuf[CURL_ERROR_SIZE];
	char resp[256];               /* the start of the CDP's answer, for quarantine reasons */
	size_t resplen;
	struct batch b;
	int lane;                     /* the priority lane's slot: consent and erasure only */
	int busy;                     /* a request is in flight */
	int refused;                  /* the loop had no room to watch its socket: fail it */
	long delivered;               /* the CDP's 2xx when only marking it in buffer.db is left */
	int64_t next_attempt_ms;      /* this batch's own backoff */
	int64_t sent_mono_ms;
	/* Kafka: the records of this send whose reports are still to come */
	size_t pending;
	unsigned gen;                 /* bumped per send: a report of an older one is stale */
	int kerr;                     /* the first record error of this send */
	char kerrstr[120];
	int alone;                    /* send one record at a time: find the one Kafka refuses */
};

/* batch.rec of a record whose report has not come, of one the producer
 * refused and that went to the quarantine at once, and of one not sent this
 * time (librdkafka's error codes are small numbers either side of 0). */
#define REC_PENDING INT_MIN
#define REC_GONE (INT_MIN + 1)
#define REC_UNSENT (INT_MIN + 2)
/* batch.consent bits */
#define REC_CONSENT 1
#define REC_ERASURE 2

struct vg_forwarder {
	struct vg_loop *loop;
	const struct vg_config *cfg;
	struct vg_store *store;
	struct vg_encode_ctx ectx;
	struct vg_wire_consts wc;     /* the gateway's constants in every message (encode.h) */
	char *scratch;                /* the last message encoded from a tokenized body */
	struct vg_buf text;           /* the last message vg_encode_text made */
	CURLM *multi;
	struct vg_kafka *kafka;       /* [output] kind = kafka: records, not HTTP requests */
	int kafka_restart;            /* the producer must be started again (fatal error, SIGHUP) */
	int64_t kafka_restart_at;     /* not before this */
	int kafka_restarts;           /* in a row, without a delivery in between: the backoff */
	char kafka_key[VG_MESSAGE_MAX_BYTES]; /* a record's key (a message's identity) */
	struct vg_timer curl_timer, tick, recon;
	char url[320];
	char write_key[256];
	int have_key;
	int64_t key_retry_ms;
	struct slot slots[MAX_SLOTS + 1];
	int nslots;                   /* max_in_flight slots, then the priority lane's */
	long long *queue;             /* recorded batches waiting for a slot: restart, splits */
	size_t nqueue, capqueue;
	long long *bad;               /* events a claim passed over: quarantined after it */
	size_t nbad, capbad;
	int64_t hold_until_ms;        /* no new batch before this (outage, 429, auth) */
	int64_t next_purge_ms;
	int64_t recon_boundary_ms;    /* wall clock end of the window the timer is for */
	struct vg_forward_stats stats;
	struct vg_forward_count *counts;  /* delivered per device and type */
	size_t ncounts, capcounts;
	void (*seen)(void *ud, long long event_id);
	void *observer;
	unsigned rng;
};

static void arm_tick(struct vg_forwarder *f, int64_t at)
{
	if (!f->tick.armed || at < f->tick.at_ms)
		vg_loop_timer(f->loop, &f->tick, at);
}

static int push_ll(long long **arr, size_t *n, size_t *cap, long long v, int front)
{
	if (vg_array_reserve((void **)arr, cap, *n + 1, sizeof **arr))
		return VG_ERR_NOMEM;
	if (front) {
		memmove(*arr + 1, *arr, *n * sizeof **arr);
		(*arr)[0] = v;
	} else {
		(*arr)[*n] = v;
	}
	(*n)++;
	return VG_OK;
}

/* ---- the batch in memory ------------------------------------------------- */

#define BATCH_HEAD "{\"batch\":["
/* A hard maximum for a batch's text: a recorded batch is taken whole, also
 * after max_batch_kb was lowered, so well above VG_BATCH_MAX_BYTES. */
#define BATCH_TEXT_MAX ((size_t)8 << 20)

/* Empty the batch, keeping its memory for the next one. */
static void batch_clear(struct batch *b)
{
	b->id = 0;
	b->attempts = 0;
	b->json.len = 0;
	b->json.err = VG_OK;
	if (b->json.p)
		b->json.p[0] = '\0';
	b->ntally = 0;
	b->n = 0;
	b->bytes = 0;
	b->erasure = 0;
	b->consents = 0;
	b->consent_oldest_ms = 0;
	b->key[0] = '\0';
}

static void batch_free(struct batch *b)
{
	vg_buf_free(&b->json);
	free(b->ids);
	free(b->idp);
	free(b->rows);
	free(b->recv);
	free(b->consent);
	free(b->off);
	free(b->tix);
	free(b->rec);
	free(b->tally);
	memset(b, 0, sizeof *b);
}

/* Room for one more event in every array.  VG_OK or VG_ERR_NOMEM. */
static int batch_reserve(struct batch *b)
{
	if (b->n < b->cap)
		return VG_OK;
	size_t cap = b->cap ? b->cap * 2 : 64;
	void *p;
	if (!(p = realloc(b->ids, cap * sizeof *b->ids)))
		return VG_ERR_NOMEM;
	b->ids = p;
	if (!(p = realloc(b->idp, cap * sizeof *b->idp)))
		return VG_ERR_NOMEM;
	b->idp = p;
	if (!(p = realloc(b->rows, cap * sizeof *b->rows)))
		return VG_ERR_NOMEM;
	b->rows = p;
	if (!(p = realloc(b->recv, cap * sizeof *b->recv)))
		return VG_ERR_NOMEM;
	b->recv = p;
	if (!(p = realloc(b->consent, cap)))
		return VG_ERR_NOMEM;
	b->consent = p;
	if (!(p = realloc(b->off, cap * sizeof *b->off)))
		return VG_ERR_NOMEM;
	b->off = p;
	if (!(p = realloc(b->tix, cap * sizeof *b->tix)))
		return VG_ERR_NOMEM;
	b->tix = p;
	if (!(p = realloc(b->rec, cap * sizeof *b->rec)))
		return VG_ERR_NOMEM;
	b->rec = p;
	b->cap = cap;
	return VG_OK;
}

/* The batch's Idempotency-Key into b->key.  VG_OK or VG_ERR_NOMEM. */
static int batch_key(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->idp[i] = b->ids[i];
	return vg_idempotency_key(b->idp, b->n, b->key);
}

struct fill {
	struct vg_forwarder *f;
	struct batch *b;
	int whole;                    /* a recorded batch: take every row */
};

/* The message of row r, to append to a batch, from its tokenized body:
 * by vg_encode_text into f->text, or, for a body it leaves to the tree, by
 * vg_encode_fragment into f->scratch.  *text and *len set.  VG_OK;
 * VG_ERR_INVAL: it cannot be sent; VG_ERR_NOMEM. */
static int row_message(struct vg_forwarder *f, const struct vg_store_row *r, const char **text, size_t *len)
{
	*text = NULL;
	struct vg_encode_event ev = {
		.event_key = r->event_key,
		.device_id = r->device_id,
		.body = r->body,
		.body_len = r->body_len,
		.flags = r->flags,
		.received_at_ms = r->received_at_ms,
	};
	/* A body as vg_ingest printed it: its values copied, no parse, no print. */
	vg_buf_reset(&f->text);
	int rc = vg_encode_text(&f->ectx, &f->wc, &ev, &f->text);
	if (rc != VG_ENCODE_TREE) {
		*text = vg_buf_str(&f->text);
		*len = f->text.len;
		return rc;
	}
	/* The body's tree, the message's and its text come from the scratch
	 * arena: no malloc or free per event.  The text stays readable until
	 * the next row's. */
	cJSON_free(f->scratch);
	f->scratch = NULL;
	vg_encode_scratch_open();
	rc = vg_encode_fragment(&f->ectx, &ev, &f->scratch, len);
	vg_encode_scratch_close();
	*text = f->scratch;
	return rc;
}

static int batch_add(struct fill *fl, const struct vg_store_row *r)
{
	struct vg_forwarder *f = fl->f;
	struct batch *b = fl->b;
	if (f->seen)
		f->seen(f->observer, r->id);
	const char *text = NULL;
	size_t len = 0;
	int rc = r->body ? row_message(f, r, &text, &len) : VG_ERR_INVAL;
	if (rc == VG_ERR_NOMEM)
		return rc;
	if (rc != VG_OK || len > VG_MESSAGE_MAX_BYTES) {
		/* Never sent: quarantined once the claim is committed. */
		if (push_ll(&f->bad, &f->nbad, &f->capbad, r->id, 0))
			return VG_ERR_NOMEM;
		return VG_STORE_ROW_PASS;
	}
	size_t max_bytes = (size_t)f->cfg->max_batch_kb * 1000 - 256; /* room for the envelope */
	if (!fl->whole && b->n > 0 && b->bytes + len + 1 > max_bytes)
		return VG_STORE_ROW_STOP; /* full */
	if (batch_reserve(b))
		return VG_ERR_NOMEM;
	size_t t = 0;
	while (t < b->ntally && !(strcmp(b->tally[t].device_id, r->device_id) == 0 &&
	                          strncmp(b->tally[t].type, r->type, sizeof b->tally[t].type - 1) == 0))
		t++;
	if (t == b->ntally) {
		if (vg_array_reserve((void **)&b->tally, &b->captally, b->ntally + 1, sizeof *b->tally))
			return VG_ERR_NOMEM;
		snprintf(b->tally[t].device_id, sizeof b->tally[t].device_id, "%s", r->device_id);
		snprintf(b->tally[t].type, sizeof b->tally[t].type, "%s", r->type);
		b->tally[t].n = 0;
	}
	/* The text last: on failure nothing of this event stays in the batch. */
	size_t before = b->json.len;
	if (b->n == 0)
		vg_buf_add(&b->json, BATCH_HEAD, sizeof BATCH_HEAD - 1);
	else
		vg_buf_add(&b->json, ",", 1);
	rc = vg_buf_add(&b->json, text, len);
	if (rc != VG_OK) {
		b->json.len = before;
		b->json.err = VG_OK;
		if (b->json.p)
			b->json.p[before] = '\0';
		return VG_ERR_NOMEM;
	}
	if (t == b->ntally)
		b->ntally++;
	b->tally[t].n++;
	snprintf(b->ids[b->n], sizeof b->ids[b->n], "%s", r->event_key);
	b->rows[b->n] = r->id;
	b->off[b->n] = b->json.len - len;
	b->tix[b->n] = (unsigned short)t;
	b->rec[b->n] = REC_PENDING;
	b->recv[b->n] = r->received_at_ms;
	b->consent[b->n] = (unsigned char)((strcmp(r->type, "consent.updated") == 0 ? REC_CONSENT : 0) |
	                                   (strcmp(r->type, "erasure.requested") == 0 ? REC_ERASURE : 0));
	if (strcmp(r->type, "erasure.requested") == 0)
		b->erasure = 1;
	if (strcmp(r->type, "consent.updated") == 0) {
		if (!b->consents || r->received_at_ms < b->consent_oldest_ms)
			b->consent_oldest_ms = r->received_at_ms;
		b->consents++;
	}
	b->n++;
	b->bytes += len + 1;
	return VG_STORE_ROW_TAKE;
}

static int fill_cb(void *ud, const struct vg_store_row *r)
{
	return batch_add(ud, r);
}

static void quarantine_passed_over(struct vg_forwarder *f)
{
	for (size_t i = 0; i < f->nbad; i++) {
		if (vg_store_quarantine_event(f->store, f->bad[i], "unsendable",
		                              "the event cannot be encoded within 32 KB for the CDP") == VG_OK) {
			f->stats.events_quarantined++;
			vg_log(VG_LOG_WARN, "forward.quarantine", "event row %lld quarantined: unsendable", f->bad[i]);
		}
	}
	f->nbad = 0;
}

/* Fill slot s with the recorded batch id (from the queue).  1: ready;
 * 0: the batch turned out empty (closed); <0: error. */
static int load_recorded(struct vg_forwarder *f, struct slot *s, long long id)
{
	struct fill fl = { .f = f, .b = &s->b, .whole = 1 };
	s->b.id = id;
	int rc = vg_store_batch_rows(f->store, id, fill_cb, &fl);
	quarantine_passed_over(f);
	if (rc) {
		batch_clear(&s->b);
		return rc;
	}
	if (!s->b.n) {
		vg_store_batch_done(f->store, id, vg_wall_ms());
		batch_clear(&s->b);
		return 0;
	}
	return batch_key(&s->b) == VG_OK ? 1 : VG_ERR_NOMEM;
}

/* Claim a new batch of pending events into slot s.  1: ready; 0: nothing. */
static int claim(struct vg_forwarder *f, struct slot *s)
{
	struct fill fl = { .f = f, .b = &s->b };
	long long id = 0;
	int rc = vg_store_batch_claim(f->store, f->cfg->max_batch_events, s->lane ? VG_PRIO_HIGH : VG_PRIO_LOW,
	                              vg_wall_ms(), fill_cb, &fl, &id);
	quarantine_passed_over(f);
	if (rc || !id) {
		batch_clear(&s->b);
		return rc;
	}
	s->b.id = id;
	return batch_key(&s->b) == VG_OK ? 1 : VG_ERR_NOMEM;
}

/* ---- requests ------------------------------------------------------------ */

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct slot *s = ud;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	if (len > sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0) {
		size_t i = sizeof name - 1;
		while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		size_t j = len;
		while (j > i && (buf[j - 1] == '\r' || buf[j - 1] == '\n' || buf[j - 1] == ' '))
			j--;
		snprintf(s->retry_after, sizeof s->retry_after, "%.*s", (int)(j - i), buf + i);
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	struct slot *s = ud;
	size_t len = size * n;
	for (size_t i = 0; i < len && s->resplen < sizeof s->resp - 1; i++) {
		unsigned char c = (unsigned char)buf[i];
		s->resp[s->resplen++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	s->resp[s->resplen] = '\0';
	return len;
}

static int kafka_send(struct slot *s);

static int send_batch(struct slot *s)
{
	struct vg_forwarder *f = s->f;
	if (f->kafka)
		return kafka_send(s);
	int64_t sent_at = vg_clock_synced() ? vg_wall_ms() : -1;
	/* Close the array and the envelope for this attempt (vg_encode_batch's
	 * text), compress, and open it again: a retry may carry another sentAt. */
	struct vg_buf *j = &s->b.json;
	size_t open_len = j->len;
	char at[25];
	vg_buf_add(j, "]", 1);
	if (sent_at >= 0) {
		vg_time_format(sent_at, at);
		vg_buf_add(j, ",\"sentAt\":\"", 11);
		vg_buf_add(j, at, strlen(at));
		vg_buf_add(j, "\"", 1);
	}
	int rc = vg_buf_add(j, "}", 1);
	size_t len = j->len;
	if (rc == VG_OK) {
		free(s->gz);
		s->gz = NULL;
		rc = vg_gzip(j->p, len, &s->gz, &s->gzlen);
	}
	j->len = open_len;
	j->err = VG_OK;
	if (j->p)
		j->p[open_len] = '\0';
	if (rc)
		return rc;
	curl_slist_free_all(s->headers);
	char idem[64];
	snprintf(idem, sizeof idem, "Idempotency-Key: %s", s->b.key);
	s->headers = curl_slist_append(NULL, "Content-Type: application/json");
	s->headers = curl_slist_append(s->headers, "Content-Encoding: gzip");
	s->headers = curl_slist_append(s->headers, idem);
	s->headers = curl_slist_append(s->headers, "Expect:");
	if (!s->headers)
		return VG_ERR_NOMEM;
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, (char *)s->gz);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->gzlen);
	curl_easy_setopt(s->easy, CURLOPT_USERNAME, f->write_key);
	curl_easy_setopt(s->easy, CURLOPT_PASSWORD, "");
	s->retry_after[0] = '\0';
	s->errbuf[0] = '\0';
	s->refused = 0;
	s->resplen = 0;
	s->resp[0] = '\0';
	if (curl_multi_add_handle(f->multi, s->easy) != CURLM_OK)
		return VG_ERR_IO;
	s->busy = 1;
	s->sent_mono_ms = vg_now_ms();
	vg_log(VG_LOG_DEBUG, "forward.send", "batch %lld: %zu events, %zu bytes (%zu gzip), key %s, attempt %d",
	       s->b.id, s->b.n, len, s->gzlen, s->b.key, s->b.attempts + 1);
	return VG_OK;
}

static unsigned next_rand(struct vg_forwarder *f)
{
	f->rng = f->rng * 1103515245u + 12345u;
	return f->rng >> 8;
}

static void release(struct slot *s)
{
	s->alone = 0;
	batch_clear(&s->b);
	s->delivered = 0;
	s->next_attempt_ms = 0;
}

/* 413/400/422: split the set in halves, both recorded as batches of their
 * own and queued first; a single event that still fails is quarantined. */
static void split_or_quarantine(struct vg_forwarder *f, struct slot *s, long status, const char *reason)
{
	char detail[320];
	snprintf(detail, sizeof detail, "the CDP answered HTTP %ld%s%s", status, s->resp[0] ? ": " : "", s->resp);
	if (s->b.n == 1) {
		int rc = vg_store_batch_quarantine(f->store, s->b.id, reason, detail);
		if (rc) {
			vg_log(VG_LOG_ERR, "forward.store", "cannot quarantine event %s: %s", s->b.ids[0], vg_strerror(rc));
			s->next_attempt_ms = vg_now_ms() + 1000;
			return;
		}
		f->stats.events_quarantined++;
		vg_log(VG_LOG_WARN, "forward.quarantine", "event %s refused by the CDP (HTTP %ld): quarantined",
		       s->b.ids[0], status);
		release(s);
		return;
	}
	size_t half = s->b.n / 2;
	long long second = 0;
	int rc = vg_store_batch_split(f->store, s->b.id, s->b.rows + half, s->b.n - half, vg_wall_ms(), &second);
	if (rc) {
		vg_log(VG_LOG_ERR, "forward.store", "cannot split batch %lld: %s", s->b.id, vg_strerror(rc));
		s->next_attempt_ms = vg_now_ms() + 1000;
		return;
	}
	vg_log(VG_LOG_INFO, "forward.split", "batch %lld (%zu events) refused with HTTP %ld: split into %lld"
	       " (%zu) and %lld (%zu)", s->b.id, s->b.n, status, s->b.id, half, second, s->b.n - half);
	long long first = s->b.id;
	release(s);
	if (push_ll(&f->queue, &f->nqueue, &f->capqueue, second, 1) ||
	    push_ll(&f->queue, &f->nqueue, &f->capqueue, first, 1))
		vg_log(VG_LOG_ERR, "forward", "out of memory queueing split batches; they are resent after a restart");
}

/* A delivered batch: its events per device and type, and each one's
 * latency from commit to the CDP's 2xx.  written: only the events whose
 * Kafka record was written (rec 0); else all. */
static void count_delivered(struct vg_forwarder *f, struct batch *b, int written)
{
	int64_t now = vg_wall_ms();
	if (written)
		for (size_t t = 0; t < b->ntally; t++)
			b->tally[t].n = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (written && b->rec[i] != 0)
			continue;
		if (written)
			b->tally[b->tix[i]].n++;
		double lat = (double)(now - b->recv[i]) / 1000.0;
		vg_histogram_observe(&f->stats.latency, lat);
		if (b->consent[i] & REC_CONSENT)
			vg_histogram_observe(&f->stats.consent_latency, lat);
	}
	for (size_t t = 0; t < b->ntally; t++) {
		size_t j = 0;
		while (j < f->ncounts && !(strcmp(f->counts[j].device_id, b->tally[t].device_id) == 0 &&
		                           strcmp(f->counts[j].type, b->tally[t].type) == 0))
			j++;
		if (j == f->ncounts) {
			if (vg_array_reserve((void **)&f->counts, &f->capcounts, f->ncounts + 1, sizeof *f->counts))
				return; /* out of memory: these go uncounted, nothing else */
			memset(&f->counts[j], 0, sizeof f->counts[j]);
			snprintf(f->counts[j].device_id, sizeof f->counts[j].device_id, "%s", b->tally[t].device_id);
			snprintf(f->counts[j].type, sizeof f->counts[j].type, "%s", b->tally[t].type);
			f->ncounts++;
		}
		f->counts[j].events += b->tally[t].n;
	}
}

/* Events of b marked forwarded in buffer.db: count them, and what consent
 * propagation and erasure need.  written: only those whose Kafka record was
 * written (rec 0); else all. */
static void note_forwarded(struct vg_forwarder *f, struct batch *b, int written)
{
	size_t n = 0;
	int consents = 0, erasure = 0;
	int64_t oldest = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (written && b->rec[i] != 0)
			continue;
		n++;
		if ((b->consent[i] & REC_CONSENT) && (!consents++ || b->recv[i] < oldest))
			oldest = b->recv[i];
		erasure |= (b->consent[i] & REC_ERASURE) != 0;
	}
	f->stats.events_forwarded += n;
	count_delivered(f, b, written);
	f->stats.last_success_wall_ms = vg_wall_ms();
	if (consents) {
		/* Consent propagation: commit on the gateway → the CDP's 2xx. */
		int64_t lat = vg_wall_ms() - oldest;
		f->stats.consents_forwarded += (unsigned long long)consents;
		f->stats.consent_latency_last_ms = lat;
		if (lat > f->stats.consent_latency_max_ms)
			f->stats.consent_latency_max_ms = lat;
		vg_log(VG_LOG_INFO, "forward.consent", "%d consent event%s delivered, %lld ms after commit",
		       consents, consents == 1 ? "" : "s", (long long)lat);
	}
	if (erasure && vg_store_checkpoint_truncate(f->store, 0) != VG_OK)
		vg_log(VG_LOG_WARN, "forward.erasure", "erasure notice sent; the WAL could not be truncated yet");
}

/* The CDP took the batch (2xx): mark it forwarded in buffer.db, count it,
 * free the slot. */
static void delivered(struct vg_forwarder *f, struct slot *s, long status, int64_t now)
{
	int rc = vg_store_batch_done(f->store, s->b.id, vg_wall_ms());
	if (rc) {
		/* The CDP has it: retry the mark, not the request (a busy
		 * buffer.db under a burst of captures is no reason to send the
		 * batch again).  A restart before the mark resends it with the
		 * same key; the CDP de-duplicates on messageId. */
		vg_log(VG_LOG_WARN, "forward.store", "batch %lld delivered; marking it in buffer.db failed (%s):"
		       " retrying the mark", s->b.id, vg_strerror(rc));
		s->delivered = status ? status : 1;
		s->next_attempt_ms = now + 200;
		arm_tick(f, s->next_attempt_ms);
		return;
	}
	s->delivered = 0;
	if (f->kafka)
		vg_log(VG_LOG_DEBUG, "forward.ok", "batch %lld: %zu records written in %lld ms", s->b.id, s->b.n,
		       (long long)(now - s->sent_mono_ms));
	else
		vg_log(VG_LOG_DEBUG, "forward.ok", "batch %lld: %zu events delivered in %lld ms (HTTP %ld, key %s)",
		       s->b.id, s->b.n, (long long)(now - s->sent_mono_ms), status, s->b.key);
	f->stats.batches_ok++;
	note_forwarded(f, &s->b, 0);
	f->stats.last_error[0] = '\0';
	f->stats.alarm = NULL;
	f->hold_until_ms = 0;
	f->kafka_restarts = 0;
	release(s);
}

/* ---- the Kafka output (kafka.h): one record per event ----------------------- */

/* A record's opaque: the send's generation, the slot and the record. */
#define OPQ(gen, slot, i) ((uintptr_t)((gen) & 0xffffu) << 16 | (uintptr_t)(slot) << 12 | (uintptr_t)(i))
_Static_assert(VG_BATCH_MAX_EVENTS <= 4096 && MAX_SLOTS + 1 <= 16, "a record's opaque holds slot and index");

static void note_failure(struct vg_forwarder *f, enum vg_fail_reason why, const char *err)
{
	f->stats.attempts_failed++;
	snprintf(f->stats.last_error, sizeof f->stats.last_error, "%s", err);
	f->stats.attempts_failed_by[why]++;
	unsigned i = (unsigned)(f->stats.recent_errors_total++ % VG_RECENT_ERRORS);
	f->stats.recent_errors[i].at_wall_ms = vg_wall_ms();
	snprintf(f->stats.recent_errors[i].text, sizeof f->stats.recent_errors[i].text, "%s", err);
}

static void record_report(struct slot *s, size_t i, int err, const char *errstr)
{
	s->b.rec[i] = err;
	if (err && !s->kerr) {
		s->kerr = err;
		snprintf(s->kerrstr, sizeof s->kerrstr, "%s", errstr);
	}
}

/* The written records' events leave the batch as a batch of their own,
 * marked forwarded.  0, or -1 when buffer.db refused (they are sent again:
 * from this batch, or from the split-off one, queued). */
static int take_written(struct vg_forwarder *f, struct batch *b, size_t written)
{
	long long *ids = malloc(written * sizeof *ids);
	long long done = 0;
	size_t k = 0;
	for (size_t i = 0; ids && i < b->n; i++)
		if (b->rec[i] == 0)
			ids[k++] = b->rows[i];
	int rc = ids ? vg_store_batch_split(f->store, b->id, ids, written, vg_wall_ms(), &done) : VG_ERR_NOMEM;
	free(ids);
	if (rc == VG_OK && (rc = vg_store_batch_done(f->store, done, vg_wall_ms())) != VG_OK)
		push_ll(&f->queue, &f->nqueue, &f->capqueue, done, 1);
	if (rc != VG_OK) {
		vg_log(VG_LOG_WARN, "forward.store", "batch %lld: %zu records written, marking them failed (%s):"
		       " they are sent again", b->id, written, vg_strerror(rc));
		return -1;
	}
	note_forwarded(f, b, 1);
	return 0;
}

/* Every report of a send is in.  The written events are forwarded.  A
 * record Kafka refused for good (too large, invalid) may have been refused
 * with the rest of its request, so the batch's remaining records go one at a
 * time until a record refused alone is found; that one is quarantined.
 * Retriable failures (purged by a producer restart) go again after a
 * backoff, authorization and unknown-topic errors after a pause with an
 * alarm. */
static void kafka_settle(struct slot *s)
{
	struct vg_forwarder *f = s->f;
	struct batch *b = &s->b;
	int64_t now = vg_now_ms();
	s->busy = 0;
	b->attempts++;
	arm_tick(f, now);
	size_t written = 0, gone = 0, refused = 0, again = 0, sent = 0;
	const char *alarm = NULL;
	for (size_t i = 0; i < b->n; i++) {
		if (b->rec[i] == REC_GONE) {
			gone++;
			continue;
		}
		if (b->rec[i] == REC_UNSENT) {
			again++;
			continue;
		}
		sent++;
		struct vg_response r = vg_kafka_classify(b->rec[i]);
		written += r.action == VG_RESP_DONE;
		refused += r.action == VG_RESP_QUARANTINE;
		again += r.action == VG_RESP_RETRY || r.action == VG_RESP_PAUSE;
		if (r.action == VG_RESP_PAUSE && !alarm)
			alarm = r.alarm;
	}
	if (written + gone == b->n) {
		delivered(f, s, 0, now);
		return;
	}
	char err[160];
	snprintf(err, sizeof err, "Kafka: %s", s->kerrstr[0] ? s->kerrstr : "records not sent yet");
	if (s->kerr) {
		note_failure(f, VG_FAIL_KAFKA, err);
		vg_store_batch_attempt(f->store, b->id, b->key, 0, err);
	}
	int stuck = written && take_written(f, b, written) != 0;
	int isolating = 0;
	if (refused && sent == 1 && !stuck) {
		/* Refused alone: this event is the one. */
		for (size_t i = 0; i < b->n; i++) {
			struct vg_response r = vg_kafka_classify(b->rec[i]);
			if (b->rec[i] == REC_UNSENT || r.action != VG_RESP_QUARANTINE)
				continue;
			char detail[200];
			snprintf(detail, sizeof detail, "Kafka refused the record: %s", vg_kafka_err_text(b->rec[i]));
			if (vg_store_quarantine_event(f->store, b->rows[i], r.reason, detail) == VG_OK) {
				f->stats.events_quarantined++;
				vg_log(VG_LOG_WARN, "forward.quarantine", "event %s: %s: quarantined", b->ids[i], detail);
				s->alone = 0;
			} else {
				again++;
			}
		}
	} else if (refused) {
		isolating = 1;
		s->alone = 1;
		again += refused;
		vg_log(VG_LOG_WARN, "forward.kafka", "batch %lld: Kafka refused %zu of %zu records (%s); sending the"
		       " rest one at a time to find the one it refuses", b->id, refused, sent, s->kerrstr);
	}
	if (!again && !stuck) {
		/* Nothing of it is left: close the emptied batch. */
		vg_store_batch_done(f->store, b->id, vg_wall_ms());
		release(s);
		return;
	}
	/* The rest goes again: a retry re-reads the batch, which holds only them. */
	if (alarm) {
		f->stats.alarm = alarm;
		int64_t pause = (int64_t)f->cfg->max_backoff_s * 1000;
		s->next_attempt_ms = now + pause;
		f->hold_until_ms = now + pause;
		vg_log(VG_LOG_ERR, "forward.kafka", "Kafka refused batch %lld (%s): forwarding paused, events keep"
		       " buffering; fix the topic or the credentials and send SIGHUP (it restarts the producer and reads"
		       " the SASL password file again; other [kafka] settings need a restart; retrying in %d s)", b->id,
		       s->kerrstr, f->cfg->max_backoff_s);
		return;
	}
	if (isolating || (s->alone && !s->kerr)) {
		s->next_attempt_ms = now; /* the next record at once */
		return;
	}
	if (f->kafka_restart) {
		/* The producer is going (a fatal error): every slot's records go
		 * again together with the new one, oldest batch first (on_tick), so
		 * one person's events keep their order. */
		s->next_attempt_ms = f->kafka_restart_at;
		return;
	}
	int64_t delay = vg_backoff_ms(b->attempts, f->cfg->max_backoff_s, next_rand(f), -1);
	s->next_attempt_ms = now + delay;
	if (f->hold_until_ms < now + delay)
		f->hold_until_ms = now + delay;
	if (b->attempts <= 3 || b->attempts % 10 == 0)
		vg_log(VG_LOG_WARN, "forward.retry", "batch %lld (%zu events): %s; attempt %d, retrying in %lld ms",
		       b->id, again, err, b->attempts, (long long)delay);
}

static void on_record(void *ud, uintptr_t opaque, int err, const char *errstr)
{
	struct vg_forwarder *f = ud;
	unsigned gen = (unsigned)(opaque >> 16) & 0xffffu;
	int si = (int)((opaque >> 12) & 0xfu);
	size_t i = opaque & 0xfffu;
	if (si >= f->nslots)
		return;
	struct slot *s = &f->slots[si];
	if (!s->busy || s->gen != gen || i >= s->b.n || s->b.rec[i] != REC_PENDING)
		return; /* a send the forwarder gave up on already */
	record_report(s, i, err, errstr);
	if (--s->pending == 0)
		kafka_settle(s);
}

/* The records of every send still waiting fail (the producer went). */
static void fail_pending(struct vg_forwarder *f, int err)
{
	for (int j = 0; j < f->nslots; j++) {
		struct slot *s = &f->slots[j];
		if (!s->busy)
			continue;
		for (size_t i = 0; i < s->b.n; i++)
			if (s->b.rec[i] == REC_PENDING)
				record_report(s, i, err, vg_kafka_err_text(err));
		s->pending = 0;
		kafka_settle(s);
	}
}

/* Start the producer again, not before delay_ms from now. */
static void kafka_restart_after(struct vg_forwarder *f, int64_t delay_ms)
{
	f->kafka_restart = 1;
	f->kafka_restart_at = vg_now_ms() + delay_ms;
	arm_tick(f, f->kafka_restart_at);
}

static void on_kafka_error(void *ud, int err, int fatal, const char *reason)
{
	struct vg_forwarder *f = ud;
	char text[200];
	snprintf(text, sizeof text, "Kafka: %s", reason);
	int again = strcmp(text, f->stats.last_error) == 0;
	note_failure(f, VG_FAIL_KAFKA, text);
	struct vg_response r = vg_kafka_classify(err);
	if (r.action == VG_RESP_PAUSE)
		f->stats.alarm = r.alarm;
	if (fatal) {
		/* librdkafka's idempotent producer cannot go on after a fatal
		 * error: a new one, after a backoff that grows while they keep
		 * coming (an authorization refusal: after max_backoff_s, or SIGHUP). */
		int64_t max = (int64_t)f->cfg->max_backoff_s * 1000;
		int64_t delay = r.action == VG_RESP_PAUSE ? max
		              : f->kafka_restarts >= 20 ? max : (int64_t)1000 << f->kafka_restarts;
		if (delay > max)
			delay = max;
		f->kafka_restarts++;
		kafka_restart_after(f, delay);
		vg_log(VG_LOG_ERR, "forward.kafka", "fatal producer error: %s; a new producer in %lld ms", reason,
		       (long long)delay);
	} else if (!again) {
		vg_log(VG_LOG_WARN, "forward.kafka", "%s (events keep buffering)", reason);
	}
}

static int kafka_send(struct slot *s)
{
	struct vg_forwarder *f = s->f;
	struct batch *b = &s->b;
	s->gen = (s->gen + 1) & 0xffffu;
	s->pending = 0;
	s->kerr = 0;
	s->kerrstr[0] = '\0';
	s->busy = 1;
	s->sent_mono_ms = vg_now_ms();
	int si = (int)(s - f->slots);
	for (size_t i = 0; i < b->n; i++) {
		if (s->alone && i > 0) {
			b->rec[i] = REC_UNSENT;
			continue;
		}
		const char *msg = b->json.p + b->off[i];
		size_t len = (i + 1 < b->n ? b->off[i + 1] - 1 : b->json.len) - b->off[i];
		char why[120];
		size_t klen = 0;
		if (vg_message_identity(msg, len, f->kafka_key, sizeof f->kafka_key, &klen) != VG_OK)
			klen = 0; /* never for a message we printed: then any partition */
		b->rec[i] = REC_PENDING;
		int e = vg_kafka_produce(f->kafka, msg, len, f->kafka_key, klen, b->ids[i], OPQ(s->gen, si, i), why,
		                         sizeof why);
		if (!e) {
			s->pending++;
			continue;
		}
		struct vg_response r = vg_kafka_classify(e);
		if (r.action == VG_RESP_QUARANTINE) {
			/* The producer refused this record itself: it alone is the cause. */
			char detail[200];
			snprintf(detail, sizeof detail, "Kafka refused the record: %s", why);
			if (vg_store_quarantine_event(f->store, b->rows[i], r.reason, detail) == VG_OK) {
				f->stats.events_quarantined++;
				vg_log(VG_LOG_WARN, "forward.quarantine", "event %s: %s: quarantined", b->ids[i], detail);
				b->rec[i] = REC_GONE;
				continue;
			}
		}
		record_report(s, i, e, why);
	}
	vg_log(VG_LOG_DEBUG, "forward.send", "batch %lld: %zu records to Kafka, attempt %d", b->id, s->pending,
	       b->attempts + 1);
	if (!s->pending)
		kafka_settle(s);
	return VG_OK;
}

static void finish(struct slot *s, CURLcode result)
{
	struct vg_forwarder *f = s->f;
	long status = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(f->multi, s->easy);
	s->busy = 0;
	int64_t now = vg_now_ms();
	char err[150];
	if (result != CURLE_OK)
		snprintf(err, sizeof err, "%.140s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
	else
		snprintf(err, sizeof err, "HTTP %ld", status);
	s->b.attempts++;
	f->stats.last_status = result == CURLE_OK ? (int)status : 0;
	arm_tick(f, now);

	struct vg_response r = vg_response_classify(result == CURLE_OK ? VG_TRANSPORT_OK
	                                            : result == CURLE_OPERATION_TIMEDOUT ? VG_TRANSPORT_TIMEOUT
	                                            : VG_TRANSPORT_NETWORK, status);
	if (r.action == VG_RESP_DONE) {
		delivered(f, s, status, now);
		return;
	}

	note_failure(f, r.fail, err);
	vg_store_batch_attempt(f->store, s->b.id, s->b.key, f->stats.last_status, err);
	if (r.action == VG_RESP_SPLIT) {
		split_or_quarantine(f, s, status, r.reason);
		return;
	}
	if (r.action == VG_RESP_PAUSE) {
		f->stats.alarm = r.alarm;
		int64_t pause = (int64_t)f->cfg->max_backoff_s * 1000;
		s->next_attempt_ms = now + pause;
		f->hold_until_ms = now + pause;
		vg_log(VG_LOG_ERR, "forward.auth", "the CDP refused the write key (HTTP %ld): forwarding paused,"
		       " events keep buffering; fix %s and send SIGHUP (retrying in %d s)", status,
		       f->cfg->write_key_file, f->cfg->max_backoff_s);
		return;
	}
	if (r.action == VG_RESP_QUARANTINE) {
		char detail[320];
		snprintf(detail, sizeof detail, "the CDP answered HTTP %ld%s%s", status, s->resp[0] ? ": " : "", s->resp);
		int rc = vg_store_batch_quarantine(f->store, s->b.id, r.reason, detail);
		if (rc) {
			s->next_attempt_ms = now + 1000;
			return;
		}
		f->stats.events_quarantined += s->b.n;
		vg_log(VG_LOG_ERR, "forward.quarantine", "batch %lld: the CDP answered HTTP %ld; its %zu events are"
		       " quarantined (venuegw quarantine list)", s->b.id, status, s->b.n);
		release(s);
		return;
	}
	int64_t delay = vg_backoff_ms(s->b.attempts, f->cfg->max_backoff_s, next_rand(f),
	                              vg_retry_after_s(s->retry_after, vg_wall_ms()));
	s->next_attempt_ms = now + delay;
	if (f->hold_until_ms < now + delay)
		f->hold_until_ms = now + delay;
	/* Rate-limit the log while the CDP is down: first failures, then every 10th. */
	if (s->b.attempts <= 3 || s->b.attempts % 10 == 0)
		vg_log(VG_LOG_WARN, "forward.retry", "batch %lld (%zu events, key %s): %s; attempt %d, retrying in %lld ms",
		       s->b.id, s->b.n, s->b.key, err, s->b.attempts, (long long)delay);
}

static void check_done(struct vg_forwarder *f)
{
	CURLMsg *m;
	int left;
	/* A transfer whose socket the loop could not watch fails like a network
	 * error (its batch is retried); the multi handle stays usable. */
	for (int i = 0; i < f->nslots; i++) {
		if (f->slots[i].busy && f->slots[i].refused) {
			f->slots[i].refused = 0;
			finish(&f->slots[i], CURLE_COULDNT_CONNECT);
		}
	}
	while ((m = curl_multi_info_read(f->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		for (int i = 0; i < f->nslots; i++) {
			if (f->slots[i].easy == m->easy_handle) {
				finish(&f->slots[i], m->data.result);
				break;
			}
		}
	}
}

/* ---- libcurl joined to the loop ------------------------------------------- */

static void on_sock(struct vg_watch *w, short revents)
{
	struct sockwatch *sw = (struct sockwatch *)w;
	struct vg_forwarder *f = sw->f;
	int ev = 0;
	if (revents & POLLIN)
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLHUP))
		ev |= CURL_CSELECT_ERR;
	int running;
	curl_multi_socket_action(f->multi, sw->fd, ev, &running);
	check_done(f);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct vg_forwarder *f = userp;
	struct sockwatch *sw = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (sw) {
			vg_loop_unwatch(f->loop, &sw->w);
			curl_multi_assign(f->multi, fd, NULL);
			free(sw);
		}
		return 0;
	}
	if (!sw) {
		sw = calloc(1, sizeof *sw);
		if (!sw)
			return -1;
		sw->f = f;
		sw->fd = fd;
		sw->w.cb = on_sock;
		curl_multi_assign(f->multi, fd, sw);
	}
	short events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	if (vg_loop_watch(f->loop, &sw->w, fd, events) != VG_OK) {
		/* No room in the loop: mark the transfer, and check_done fails it
		 * (its batch is retried like after a network error).  Returning -1
		 * would make libcurl fail every later transfer of this multi handle. */
		if (!sw->w.added) {
			curl_multi_assign(f->multi, fd, NULL);
			free(sw);
		}
		for (int i = 0; i < f->nslots; i++) {
			if (f->slots[i].easy == easy) {
				f->slots[i].refused = 1;
				snprintf(f->slots[i].errbuf, sizeof f->slots[i].errbuf,
				         "no room in the loop to watch the CDP connection (%d descriptors)",
				         VG_LOOP_MAX_WATCHES);
			}
		}
	}
	return 0;
}

static void on_curl_timer(struct vg_timer *t)
{
	struct vg_forwarder *f = vg_container_of(t, struct vg_forwarder, curl_timer);
	int running;
	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct vg_forwarder *f = userp;
	if (timeout_ms < 0)
		vg_loop_cancel(f->loop, &f->curl_timer);
	else
		vg_loop_timer(f->loop, &f->curl_timer, vg_now_ms() + timeout_ms);
	return 0;
}

/* ---- reconciliation (reconcile.c) ------------------------------------------ */

static void arm_recon(struct vg_forwarder *f)
{
	int64_t period = (int64_t)f->cfg->reconciliation_interval_s * 1000;
	int64_t wall = vg_wall_ms();
	f->recon_boundary_ms = (wall / period + 1) * period;
	vg_loop_timer(f->loop, &f->recon, vg_now_ms() + (f->recon_boundary_ms - wall) + RECON_GRACE_MS);
}

static void on_recon(struct vg_timer *t)
{
	struct vg_forwarder *f = vg_container_of(t, struct vg_forwarder, recon);
	vg_reconcile(f->store, f->cfg, f->recon_boundary_ms);
	arm_recon(f);
	arm_tick(f, vg_now_ms());
}

/* ---- the tick: find work --------------------------------------------------- */

static int read_write_key(struct vg_forwarder *f)
{
	FILE *fp = fopen(f->cfg->write_key_file, "r");
	if (!fp) {
		vg_log(VG_LOG_ERR, "forward.key", "cannot read the write key file %s: %s; forwarding waits",
		       f->cfg->write_key_file, strerror(errno));
		return 0;
	}
	char line[256] = "";
	char *ok = fgets(line, sizeof line, fp);
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	if (!ok || !line[0]) {
		vg_log(VG_LOG_ERR, "forward.key", "the write key file %s is empty; forwarding waits",
		       f->cfg->write_key_file);
		vg_wipe(line, sizeof line);
		return 0;
	}
	snprintf(f->write_key, sizeof f->write_key, "%s", line);
	vg_wipe(line, sizeof line);
	return 1;
}

/* Give a free slot work: a recorded batch first, else a new claim when it
 * is worth it — always when nothing is in flight (small batches promptly
 * when idle), else only a full batch or one whose oldest event has waited
 * flush_interval_ms (full batches under backlog).  The lane's slot claims
 * only priority events, as soon as there are any. */
static int fill_slot(struct vg_forwarder *f, struct slot *s, int in_flight)
{
	if (s->lane)
		return vg_store_has_pending(f->store, VG_PRIO_HIGH) == 1 ? claim(f, s) : 0;
	while (f->nqueue) {
		long long id = f->queue[0];
		memmove(f->queue, f->queue + 1, --f->nqueue * sizeof *f->queue);
		int rc = load_recorded(f, s, id);
		if (rc < 0) /* keep it: its events are in a batch, nothing else sends them */
			push_ll(&f->queue, &f->nqueue, &f->capqueue, id, 1);
		if (rc)
			return rc;
	}
	if (in_flight) {
		int count;
		int64_t oldest;
		if (vg_store_pending_info(f->store, f->cfg->max_batch_events, &count, &oldest) != VG_OK || !count)
			return 0;
		if (count < f->cfg->max_batch_events && vg_wall_ms() - oldest < f->cfg->flush_interval_ms)
			return 0;
	}
	return claim(f, s);
}

static void on_tick(struct vg_timer *t)
{
	struct vg_forwarder *f = vg_container_of(t, struct vg_forwarder, tick);
	int64_t now = vg_now_ms();
	vg_loop_timer(f->loop, &f->tick, now + TICK_MS);
	if (now >= f->next_purge_ms) {
		f->next_purge_ms = now + (vg_retention_purge(f->store, f->cfg, vg_wall_ms()) ? 1000 : PURGE_EVERY_MS);
	}
	if (f->kafka_restart && now >= f->kafka_restart_at) {
		char err[300];
		f->kafka_restart = 0;
		if (vg_kafka_restart(f->kafka, err, sizeof err) != VG_OK) {
			vg_log(VG_LOG_ERR, "forward.kafka", "%s; trying again in 10 s", err);
			kafka_restart_after(f, 10000);
		} else {
			vg_log(VG_LOG_INFO, "forward.kafka", "a new Kafka producer started");
		}
		/* What the old one held is sent again (repeats of one message_id). */
		fail_pending(f, vg_kafka_err_purged());
	}
	if (f->kafka_restart)
		return;
	if (!f->have_key) {
		if (now < f->key_retry_ms)
			return;
		f->key_retry_ms = now + KEY_RETRY_MS;
		if (!(f->have_key = read_write_key(f))) {
			f->stats.alarm = "config";
			return;
		}
		f->stats.alarm = NULL;
	}
	struct slot *lane = &f->slots[f->nslots - 1];
	int in_flight = 0;
	for (int i = 0; i < f->nslots - 1; i++)
		in_flight += f->slots[i].b.id != 0;
	/* The lane first; while it holds a batch, nothing else starts a request,
	 * so consent and erasure leave before any other event — also when the
	 * CDP comes back after an outage with every slot waiting to retry.
	 * Then the slots in the order of their batches (Kafka: records of one
	 * key leave in the order they were captured, also after a retry). */
	int order[MAX_SLOTS + 1];
	for (int i = 0; i < f->nslots; i++)
		order[i] = f->nslots - 1 - i;
	for (int i = 2; i < f->nslots; i++) /* insertion sort of the other slots by batch id, none last */
		for (int j = i; j > 1; j--) {
			long long a = f->slots[order[j - 1]].b.id, c = f->slots[order[j]].b.id;
			if (!(c && (!a || c < a)))
				break;
			int swap = order[j];
			order[j] = order[j - 1];
			order[j - 1] = swap;
		}
	for (int k = 0; k < f->nslots; k++) {
		struct slot *s = &f->slots[order[k]];
		if (s->busy || (!s->lane && lane->b.id))
			continue;
		if (!s->b.id) {
			/* The lane claims whenever there is priority work, also during
			 * an outage: holding it is what stops the other slots. */
			if (now < f->hold_until_ms && !s->lane)
				continue;
			int rc = fill_slot(f, s, in_flight);
			if (rc < 0) {
				vg_log(VG_LOG_ERR, "forward.store", "cannot read a batch from buffer.db: %s", vg_strerror(rc));
				f->hold_until_ms = now + 1000;
			}
			if (rc <= 0)
				continue;
			if (!s->lane)
				in_flight++;
		} else if (now < s->next_attempt_ms) {
			continue;
		} else if (s->delivered) {
			delivered(f, s, s->delivered, now);
			continue;
		} else {
			/* A retry: re-read the set from buffer.db, where `venuegw forget`
			 * may have removed events since; a changed set gets a new key. */
			long long id = s->b.id;
			int attempts = s->b.attempts;
			size_t before = s->b.n;
			batch_clear(&s->b);
			int rc = load_recorded(f, s, id);
			if (rc <= 0) {
				if (rc < 0) {
					push_ll(&f->queue, &f->nqueue, &f->capqueue, id, 1);
					f->hold_until_ms = now + 1000;
				}
				continue;
			}
			/* (Kafka: a batch shrinks as its records are written; the
			 * backoff keeps growing.) */
			s->b.attempts = s->b.n == before || f->kafka ? attempts : 0;
		}
		/* An erasure notice leaves after the batches already in flight have
		 * settled, so the CDP erases after it received them. */
		if (s->lane && s->b.erasure) {
			int busy = 0;
			for (int j = 0; j < f->nslots - 1; j++)
				busy |= f->slots[j].busy;
			if (busy)
				continue;
		}
		int rc = send_batch(s);
		if (rc) {
			vg_log(VG_LOG_ERR, "forward.send", "cannot send batch %lld: %s", s->b.id, vg_strerror(rc));
			s->next_attempt_ms = now + 1000;
		}
	}
}

/* ---- life cycle -------------------------------------------------------------- */

static int setup_easy(struct vg_forwarder *f, struct slot *s)
{
	const struct vg_config *cfg = f->cfg;
	CURL *e = s->easy = curl_easy_init();
	if (!e)
		return VG_ERR_NOMEM;
	s->f = f;
	curl_easy_setopt(e, CURLOPT_URL, f->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->client_cert[0]) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->client_cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->client_key);
	}
	/* Only the configured proxy: never one from the environment, and no
	 * NO_PROXY from it either. */
	curl_easy_setopt(e, CURLOPT_PROXY, cfg->proxy);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)cfg->timeout_s);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
	char ua[64];
	snprintf(ua, sizeof ua, "venuegw/%s", VG_VERSION);
	curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
	return VG_OK;
}

/* max_in_flight slots and the priority lane's, each with its batch buffer. */
static int setup_slots(struct vg_forwarder *f)
{
	f->nslots = (f->cfg->max_in_flight < MAX_SLOTS ? f->cfg->max_in_flight : MAX_SLOTS) + 1;
	for (int i = 0; i < f->nslots; i++) {
		f->slots[i].f = f;
		vg_buf_init(&f->slots[i].b.json, BATCH_TEXT_MAX);
	}
	f->slots[f->nslots - 1].lane = 1;
	return VG_OK;
}

/* Batches a previous run left unfinished go first, as recorded. */
static int queue_unfinished(struct vg_forwarder *f)
{
	size_t maxids = 1 << 16, nids = 0;
	long long *ids = malloc(maxids * sizeof *ids);
	if (!ids)
		return VG_ERR_NOMEM;
	if (vg_store_batch_unfinished_list(f->store, ids, maxids, &nids) == VG_OK) {
		for (size_t i = 0; i < nids; i++) {
			if (push_ll(&f->queue, &f->nqueue, &f->capqueue, ids[i], 0)) {
				free(ids);
				return VG_ERR_NOMEM;
			}
		}
		if (nids)
			vg_log(VG_LOG_INFO, "forward.resume", "%zu unfinished batches from before are resent first", nids);
	}
	free(ids);
	return VG_OK;
}

static int open_kafka(struct vg_forwarder *f, struct vg_forwarder **out, char *err, size_t errsz)
{
	const struct vg_config *cfg = f->cfg;
	f->stats.enabled = 1;
	f->have_key = 1; /* Kafka's credentials are the producer's */
	int rc = setup_slots(f);
	if (rc == VG_OK)
		rc = queue_unfinished(f);
	if (rc == VG_OK)
		rc = vg_kafka_open(&f->kafka, f->loop, cfg, on_record, on_kafka_error, f, err, errsz);
	else
		snprintf(err, errsz, "out of memory");
	if (rc != VG_OK) {
		vg_forwarder_close(f);
		return rc;
	}
	vg_log(VG_LOG_INFO, "forward", "forwarding to Kafka topic %s at %s (%s; %d batches in flight and a"
	       " priority lane, at most %d events each; one record per event)", cfg->kafka_topic, cfg->kafka_brokers,
	       vg_kafka_security_names[cfg->kafka_security], f->nslots - 1, cfg->max_batch_events);
	arm_tick(f, vg_now_ms());
	*out = f;
	return VG_OK;
}

int vg_forwarder_open(struct vg_forwarder **out, struct vg_loop *loop, const struct vg_config *cfg,
                      struct vg_store *st, char *err, size_t errsz)
{
	*out = NULL;
	struct vg_forwarder *f = calloc(1, sizeof *f);
	if (!f) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	f->loop = loop;
	f->cfg = cfg;
	f->store = st;
	vg_buf_init(&f->text, VG_MESSAGE_MAX_BYTES + 1);
	vg_encode_scratch_install();
	f->ectx.venue_id = cfg->venue_id;
	f->ectx.gateway_id = cfg->gateway_id;
	f->ectx.library_version = VG_VERSION;
	if (vg_encode_wire_consts(&f->ectx, &f->wc) != VG_OK) {
		snprintf(err, errsz, "venue_id or gateway_id too long for a message");
		free(f);
		return VG_ERR_INVAL;
	}
	f->stats.last_status = -1;
	f->rng = (unsigned)vg_wall_ms() ^ ((unsigned)getpid() << 16);
	f->tick.cb = on_tick;
	f->curl_timer.cb = on_curl_timer;
	f->recon.cb = on_recon;

	/* The reconciliation of the last complete window, if a restart missed it;
	 * then one per window. */
	int64_t period = (int64_t)cfg->reconciliation_interval_s * 1000;
	vg_reconcile(st, cfg, vg_wall_ms() / period * period);
	arm_recon(f);

	if (cfg->output == VG_OUTPUT_KAFKA)
		return open_kafka(f, out, err, errsz);
	if (!cfg->endpoint[0]) {
		vg_log(VG_LOG_WARN, "forward", "no [cdp] endpoint configured: events are buffered, not forwarded");
		*out = f;
		return VG_OK;
	}
	f->stats.enabled = 1;
	size_t n = strlen(cfg->endpoint);
	snprintf(f->url, sizeof f->url, "%.*s/v1/batch", (int)(n && cfg->endpoint[n - 1] == '/' ? n - 1 : n),
	         cfg->endpoint);
	f->multi = curl_multi_init();
	if (!f->multi)
		goto nomem;
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	if (setup_slots(f))
		goto nomem;
	for (int i = 0; i < f->nslots; i++)
		if (setup_easy(f, &f->slots[i]))
			goto nomem;
	if (queue_unfinished(f))
		goto nomem;
	f->have_key = read_write_key(f);
	if (!f->have_key) {
		f->stats.alarm = "config";
		f->key_retry_ms = vg_now_ms() + KEY_RETRY_MS;
	}
	vg_log(VG_LOG_INFO, "forward", "forwarding to %s (%d in flight and a priority lane, batches of at most"
	       " %d events / %d KB)", f->url, f->nslots - 1, cfg->max_batch_events, cfg->max_batch_kb);
	arm_tick(f, vg_now_ms());
	*out = f;
	return VG_OK;
nomem:
	snprintf(err, errsz, "cannot initialise libcurl: out of memory");
	vg_forwarder_close(f);
	return VG_ERR_NOMEM;
}

void vg_forwarder_reload(struct vg_forwarder *f)
{
	if (!f || !f->stats.enabled)
		return;
	if (f->kafka) {
		/* A new producer reads the SASL password file again. */
		f->stats.alarm = NULL;
		f->kafka_restarts = 0;
		kafka_restart_after(f, 0);
	} else {
		f->have_key = read_write_key(f);
		f->stats.alarm = f->have_key ? NULL : "config";
	}
	f->hold_until_ms = 0;
	for (int i = 0; i < f->nslots; i++)
		if (!f->slots[i].busy)
			f->slots[i].next_attempt_ms = 0;
	arm_tick(f, vg_now_ms());
}

const struct vg_forward_stats *vg_forwarder_stats(const struct vg_forwarder *f)
{
	return &f->stats;
}

const struct vg_forward_count *vg_forwarder_counts(const struct vg_forwarder *f, size_t *n)
{
	*n = f ? f->ncounts : 0;
	return f ? f->counts : NULL;
}

void vg_forwarder_observe(struct vg_forwarder *f, void (*seen)(void *ud, long long event_id), void *ud)
{
	if (!f)
		return;
	f->seen = seen;
	f->observer = ud;
}

void vg_forwarder_close(struct vg_forwarder *f)
{
	if (!f)
		return;
	/* Records in flight get a moment to be written (and marked); the rest
	 * stay in their recorded batches and go again after a restart. */
	if (f->kafka)
		vg_kafka_close(f->kafka, 2000);
	f->kafka = NULL;
	vg_loop_cancel(f->loop, &f->tick);
	vg_loop_cancel(f->loop, &f->curl_timer);
	vg_loop_cancel(f->loop, &f->recon);
	for (int i = 0; i < f->nslots; i++) {
		struct slot *s = &f->slots[i];
		if (s->busy && s->easy)
			curl_multi_remove_handle(f->multi, s->easy);
		if (s->easy)
			curl_easy_cleanup(s->easy);
		curl_slist_free_all(s->headers);
		free(s->gz);
		batch_free(&s->b);
	}
	cJSON_free(f->scratch);
	vg_buf_free(&f->text);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	free(f->queue);
	free(f->bad);
	free(f->counts);
	vg_wipe(f->write_key, sizeof f->write_key);
	free(f);
}
