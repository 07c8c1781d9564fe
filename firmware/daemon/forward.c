#include "forward.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "digest.h"
#include "encode.h"
#include "err.h"
#include "ingest.h"
#include "log.h"

#define TICK_MS 100
#define PURGE_EVERY_MS 60000
#define KEY_RETRY_MS 30000

struct sockwatch {
	struct vg_watch w;
	struct vg_forwarder *f;
	curl_socket_t fd;
};

struct batch {
	long long id;                 /* 0: none loaded */
	int attempts;
	cJSON *messages;              /* the encoded messages, reused per attempt */
	char **ids;                   /* messageIds, for the Idempotency-Key */
	size_t n, cap;
	size_t bytes;                 /* encoded size so far */
	char key[VG_EVENT_KEY_LEN + 1];
	long long *bad;               /* events that cannot be sent: quarantined after the claim */
	size_t nbad, capbad;
};

struct vg_forwarder {
	struct vg_loop *loop;
	const struct vg_config *cfg;
	struct vg_store *store;
	struct vg_encode_ctx ectx;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	struct vg_timer curl_timer, tick;
	char url[320];
	char write_key[256];
	int have_key;
	int64_t key_retry_ms;
	struct batch b;
	int busy;                     /* a request is in flight */
	int64_t next_attempt_ms;
	int64_t next_purge_ms;
	uint8_t *gz;
	size_t gzlen;
	char retry_after[64];
	char errbuf[CURL_ERROR_SIZE];
	int64_t sent_mono_ms;
	struct vg_forward_stats stats;
	unsigned rng;
};

static void arm_tick(struct vg_forwarder *f, int64_t at)
{
	vg_loop_timer(f->loop, &f->tick, at);
}

/* ---- the batch in memory ------------------------------------------------- */

static void batch_clear(struct batch *b)
{
	cJSON_Delete(b->messages);
	for (size_t i = 0; i < b->n; i++)
		free(b->ids[i]);
	free(b->ids);
	free(b->bad);
	memset(b, 0, sizeof *b);
}

static int batch_add(struct vg_forwarder *f, const struct vg_store_row *r)
{
	struct batch *b = &f->b;
	struct vg_encode_event ev = {
		.event_key = r->event_key,
		.device_id = r->device_id,
		.body = r->body,
		.body_len = r->body_len,
		.flags = r->flags,
		.received_at_ms = r->received_at_ms,
	};
	cJSON *msg = NULL;
	int rc = vg_encode_message(&f->ectx, &ev, &msg);
	size_t len = 0;
	if (rc == VG_OK) {
		char *text = cJSON_PrintUnformatted(msg);
		if (!text) {
			cJSON_Delete(msg);
			return VG_ERR_NOMEM;
		}
		len = strlen(text);
		cJSON_free(text);
	}
	if (rc == VG_ERR_NOMEM)
		return rc;
	if (rc != VG_OK || len > VG_MESSAGE_MAX_BYTES) {
		cJSON_Delete(msg);
		if (b->nbad == b->capbad) {
			size_t cap = b->capbad ? b->capbad * 2 : 16;
			long long *p = realloc(b->bad, cap * sizeof *p);
			if (!p)
				return VG_ERR_NOMEM;
			b->bad = p;
			b->capbad = cap;
		}
		b->bad[b->nbad++] = r->id;
		return 2; /* pass over; quarantined after the claim */
	}
	if (b->n > 0 && b->bytes + len + 1 > VG_BATCH_MAX_BYTES - 512) {
		cJSON_Delete(msg);
		return 1; /* full */
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char **p = realloc(b->ids, cap * sizeof *p);
		if (!p) {
			cJSON_Delete(msg);
			return VG_ERR_NOMEM;
		}
		b->ids = p;
		b->cap = cap;
	}
	if (!b->messages && !(b->messages = cJSON_CreateArray())) {
		cJSON_Delete(msg);
		return VG_ERR_NOMEM;
	}
	if (!(b->ids[b->n] = strdup(r->event_key))) {
		cJSON_Delete(msg);
		return VG_ERR_NOMEM;
	}
	cJSON_AddItemToArray(b->messages, msg);
	b->n++;
	b->bytes += len + 1;
	return 0;
}

static int claim_cb(void *ud, const struct vg_store_row *r)
{
	return batch_add(ud, r);
}

static int reload_cb(void *ud, const struct vg_store_row *r)
{
	int rc = batch_add(ud, r);
	return rc == 1 ? 0 : rc; /* a stored batch is resent whole */
}

/* Load the unfinished batch, or claim a new one.  1: a batch is ready;
 * 0: nothing to send; <0: error. */
static int load_batch(struct vg_forwarder *f)
{
	long long id;
	int attempts;
	int rc = vg_store_batch_unfinished(f->store, &id, &attempts);
	if (rc == VG_OK) {
		f->b.id = id;
		f->b.attempts = attempts;
		rc = vg_store_batch_rows(f->store, id, reload_cb, f);
		if (rc == VG_OK && f->b.n == 0) {
			/* Every event of it was quarantined or lost its row: close it. */
			vg_store_batch_done(f->store, id, vg_wall_ms());
			batch_clear(&f->b);
			return 0;
		}
		if (rc == VG_OK)
			vg_log(VG_LOG_INFO, "forward.resume", "resending batch %lld (%zu events, %d attempts so far)",
			       id, f->b.n, attempts);
	} else if (rc == VG_ERR_NOTFOUND) {
		rc = vg_store_batch_claim(f->store, f->cfg->max_batch_events, vg_wall_ms(), claim_cb, f, &id);
		if (rc == VG_OK)
			f->b.id = id;
	}
	for (size_t i = 0; i < f->b.nbad; i++) {
		vg_store_quarantine_event(f->store, f->b.bad[i], "unsendable",
		                          "the event cannot be encoded within 32 KB for the CDP", vg_wall_ms());
		f->stats.events_quarantined++;
	}
	f->b.nbad = 0;
	if (rc) {
		vg_log(VG_LOG_ERR, "forward.store", "cannot read a batch from buffer.db: %s", vg_strerror(rc));
		batch_clear(&f->b);
		return rc;
	}
	if (!f->b.id || !f->b.n) {
		batch_clear(&f->b);
		return 0;
	}
	return vg_idempotency_key((const char *const *)f->b.ids, f->b.n, f->b.key) == VG_OK ? 1 : VG_ERR_NOMEM;
}

/* ---- requests ------------------------------------------------------------ */

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct vg_forwarder *f = ud;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	if (len > sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0) {
		size_t i = sizeof name - 1;
		while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		size_t j = len;
		while (j > i && (buf[j - 1] == '\r' || buf[j - 1] == '\n' || buf[j - 1] == ' '))
			j--;
		snprintf(f->retry_after, sizeof f->retry_after, "%.*s", (int)(j - i), buf + i);
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	(void)buf;
	(void)ud;
	return size * n; /* the CDP's answer body is not needed */
}

static int send_batch(struct vg_forwarder *f)
{
	int64_t sent_at = vg_clock_synced() ? vg_wall_ms() : -1;
	size_t len;
	char *json = vg_encode_batch(f->b.messages, sent_at, &len);
	if (!json)
		return VG_ERR_NOMEM;
	free(f->gz);
	f->gz = NULL;
	int rc = vg_gzip(json, len, &f->gz, &f->gzlen);
	cJSON_free(json);
	if (rc)
		return rc;
	curl_slist_free_all(f->headers);
	char idem[64];
	snprintf(idem, sizeof idem, "Idempotency-Key: %s", f->b.key);
	f->headers = curl_slist_append(NULL, "Content-Type: application/json");
	f->headers = curl_slist_append(f->headers, "Content-Encoding: gzip");
	f->headers = curl_slist_append(f->headers, idem);
	f->headers = curl_slist_append(f->headers, "Expect:");
	if (!f->headers)
		return VG_ERR_NOMEM;
	curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, (char *)f->gz);
	curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->gzlen);
	curl_easy_setopt(f->easy, CURLOPT_USERNAME, f->write_key);
	curl_easy_setopt(f->easy, CURLOPT_PASSWORD, "");
	f->retry_after[0] = '\0';
	f->errbuf[0] = '\0';
	if (curl_multi_add_handle(f->multi, f->easy) != CURLM_OK)
		return VG_ERR_IO;
	f->busy = 1;
	f->sent_mono_ms = vg_now_ms();
	vg_log(VG_LOG_DEBUG, "forward.send", "batch %lld: %zu events, %zu bytes (%zu gzip), key %s, attempt %d",
	       f->b.id, f->b.n, len, f->gzlen, f->b.key, f->b.attempts + 1);
	return VG_OK;
}

static unsigned next_rand(struct vg_forwarder *f)
{
	f->rng = f->rng * 1103515245u + 12345u;
	return f->rng >> 8;
}

/* Seconds to wait per Retry-After (delta seconds or an HTTP date), or -1. */
static long retry_after_s(const struct vg_forwarder *f)
{
	if (!f->retry_after[0])
		return -1;
	char *end;
	long v = strtol(f->retry_after, &end, 10);
	if (*end == '\0' && v >= 0)
		return v;
	time_t t = curl_getdate(f->retry_after, NULL);
	if (t < 0)
		return -1;
	long d = (long)(t - (time_t)(vg_wall_ms() / 1000));
	return d > 0 ? d : 0;
}

/* Exponential backoff with full jitter, 1 s → max_backoff_s; Retry-After wins
 * when it asks for longer. */
static int64_t backoff_ms(struct vg_forwarder *f, int attempts)
{
	int64_t cap = (int64_t)f->cfg->max_backoff_s * 1000;
	int64_t ceiling = 1000;
	for (int i = 1; i < attempts && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	int64_t d = (int64_t)(next_rand(f) % (unsigned)(ceiling + 1));
	long ra = retry_after_s(f);
	if (ra >= 0 && ra * 1000 > d)
		d = ra * 1000 > 3600000 ? 3600000 : ra * 1000;
	return d;
}

static void finish(struct vg_forwarder *f, CURLcode result)
{
	long status = 0;
	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(f->multi, f->easy);
	f->busy = 0;
	int64_t now = vg_now_ms();
	char err[160];
	if (result != CURLE_OK)
		snprintf(err, sizeof err, "%.150s", f->errbuf[0] ? f->errbuf : curl_easy_strerror(result));
	else
		snprintf(err, sizeof err, "HTTP %ld", status);
	f->b.attempts++;
	f->stats.last_status = result == CURLE_OK ? (int)status : 0;

	if (result == CURLE_OK && status >= 200 && status < 300) {
		int rc = vg_store_batch_done(f->store, f->b.id, vg_wall_ms());
		if (rc) {
			/* Sent but not marked: it will be resent with the same key, and
			 * the CDP de-duplicates on messageId.  Retry the mark soon. */
			vg_log(VG_LOG_ERR, "forward.store", "batch %lld delivered but not marked: %s", f->b.id,
			       vg_strerror(rc));
			f->next_attempt_ms = now + 1000;
			arm_tick(f, f->next_attempt_ms);
			return;
		}
		vg_log(VG_LOG_DEBUG, "forward.ok", "batch %lld: %zu events delivered in %lld ms (HTTP %ld, key %s)",
		       f->b.id, f->b.n, (long long)(now - f->sent_mono_ms), status, f->b.key);
		f->stats.batches_ok++;
		f->stats.events_forwarded += f->b.n;
		f->stats.last_error[0] = '\0';
		f->stats.last_success_wall_ms = vg_wall_ms();
		f->stats.alarm = NULL;
		batch_clear(&f->b);
		f->next_attempt_ms = now;
		arm_tick(f, now);
		return;
	}

	f->stats.attempts_failed++;
	snprintf(f->stats.last_error, sizeof f->stats.last_error, "%s", err);
	vg_store_batch_attempt(f->store, f->b.id, f->b.key, f->stats.last_status, err);
	int64_t delay;
	if (result == CURLE_OK && (status == 401 || status == 403)) {
		f->stats.alarm = "credentials";
		delay = (int64_t)f->cfg->max_backoff_s * 1000;
		vg_log(VG_LOG_ERR, "forward.auth", "the CDP refused the write key (HTTP %ld): forwarding paused,"
		       " events keep buffering; fix %s and send SIGHUP", status, f->cfg->write_key_file);
	} else {
		delay = backoff_ms(f, f->b.attempts);
		/* Rate-limit the log while the CDP is down: first failures, then every 10th. */
		if (f->b.attempts <= 3 || f->b.attempts % 10 == 0)
			vg_log(VG_LOG_WARN, "forward.retry", "batch %lld (%zu events, key %s): %s; attempt %d, retrying"
			       " in %lld ms", f->b.id, f->b.n, f->b.key, err, f->b.attempts, (long long)delay);
	}
	f->next_attempt_ms = now + delay;
	arm_tick(f, f->next_attempt_ms);
}

static void check_done(struct vg_forwarder *f)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(f->multi, &left))) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == f->easy)
			finish(f, m->data.result);
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

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	(void)easy;
	struct vg_forwarder *f = userp;
	struct sockwatch *sw = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (sw) {
			vg_loop_unwatch(f->loop, &sw->w);
			curl_multi_assign(f->multi, s, NULL);
			free(sw);
		}
		return 0;
	}
	if (!sw) {
		sw = calloc(1, sizeof *sw);
		if (!sw)
			return -1;
		sw->f = f;
		sw->fd = s;
		sw->w.cb = on_sock;
		curl_multi_assign(f->multi, s, sw);
	}
	short events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	vg_loop_watch(f->loop, &sw->w, s, events);
	return 0;
}

static void on_curl_timer(struct vg_timer *t)
{
	struct vg_forwarder *f = (struct vg_forwarder *)((char *)t - offsetof(struct vg_forwarder, curl_timer));
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

static void on_tick(struct vg_timer *t)
{
	struct vg_forwarder *f = (struct vg_forwarder *)((char *)t - offsetof(struct vg_forwarder, tick));
	int64_t now = vg_now_ms();
	arm_tick(f, now + TICK_MS);
	if (now >= f->next_purge_ms) {
		f->next_purge_ms = now + PURGE_EVERY_MS;
		int64_t before = vg_wall_ms() - (int64_t)f->cfg->dedup_retention_h * 3600000;
		int n;
		while ((n = vg_store_purge_forwarded(f->store, before, 2000)) == 2000)
			;
	}
	if (f->busy || now < f->next_attempt_ms)
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
	if (!f->b.id) {
		int rc = load_batch(f);
		if (rc <= 0) {
			if (rc < 0)
				f->next_attempt_ms = now + 1000;
			return;
		}
	}
	int rc = send_batch(f);
	if (rc) {
		vg_log(VG_LOG_ERR, "forward.send", "cannot send batch %lld: %s", f->b.id, vg_strerror(rc));
		f->next_attempt_ms = now + 1000;
	}
}

/* ---- life cycle -------------------------------------------------------------- */

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
	f->ectx.venue_id = cfg->venue_id;
	f->ectx.gateway_id = cfg->gateway_id;
	f->ectx.library_version = VG_VERSION;
	f->stats.last_status = -1;
	f->rng = (unsigned)vg_wall_ms() ^ ((unsigned)getpid() << 16);
	f->tick.cb = on_tick;
	f->curl_timer.cb = on_curl_timer;
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
	f->easy = curl_easy_init();
	if (!f->multi || !f->easy) {
		snprintf(err, errsz, "cannot initialise libcurl");
		vg_forwarder_close(f);
		return VG_ERR_NOMEM;
	}
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	CURL *e = f->easy;
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
	/* Only the configured proxy: never one from the environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, cfg->proxy);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)cfg->timeout_s);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	char ua[64];
	snprintf(ua, sizeof ua, "venuegw/%s", VG_VERSION);
	curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
	f->have_key = read_write_key(f);
	if (!f->have_key) {
		f->stats.alarm = "config";
		f->key_retry_ms = vg_now_ms() + KEY_RETRY_MS;
	}
	vg_log(VG_LOG_INFO, "forward", "forwarding to %s (batches of at most %d events)", f->url,
	       cfg->max_batch_events);
	arm_tick(f, vg_now_ms());
	*out = f;
	return VG_OK;
}

void vg_forwarder_reload(struct vg_forwarder *f)
{
	if (!f || !f->stats.enabled)
		return;
	f->have_key = read_write_key(f);
	f->stats.alarm = f->have_key ? NULL : "config";
	if (!f->busy)
		f->next_attempt_ms = vg_now_ms();
	arm_tick(f, vg_now_ms());
}

const struct vg_forward_stats *vg_forwarder_stats(const struct vg_forwarder *f)
{
	return &f->stats;
}

void vg_forwarder_close(struct vg_forwarder *f)
{
	if (!f)
		return;
	vg_loop_cancel(f->loop, &f->tick);
	vg_loop_cancel(f->loop, &f->curl_timer);
	if (f->multi && f->easy && f->busy)
		curl_multi_remove_handle(f->multi, f->easy);
	if (f->easy)
		curl_easy_cleanup(f->easy);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	curl_slist_free_all(f->headers);
	free(f->gz);
	batch_clear(&f->b);
	vg_wipe(f->write_key, sizeof f->write_key);
	free(f);
}
