/* venuegw capture plugin for mosquitto 2.0 (plugin API version 5).
 *
 * On every message on venue/v1/<device>/events, on the broker's only thread
 * and before the broker acknowledges the publisher (DESIGN.md §2):
 *   decode → validate → tokenize → append to the intake journal beside
 *   buffer.db (fdatasync'ed under durability = full; a quarantine is
 *   committed to buffer.db itself) → replace the payload with the tokenized
 *   form, clear retain → return success (PUBACK).  The daemon moves the
 *   journal into buffer.db (firmware/store/intake.h).
 * A store failure returns an error: the broker sends no PUBACK and
 * disconnects the device, which reconnects and resends.  Never
 * MOSQ_ERR_ACL_DENIED, which an MQTT 3.1.1 client would take for success.
 * No side doors: no client reads or subscribes to an event topic, a last will
 * on one is refused, an event's MQTT v5 properties are dropped (below).
 *
 * Configured by `plugin_opt_config <path to venuegw.conf>`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <cjson/cJSON.h>

#include "capture.h"
#include "clock.h"
#include "config.h"
#include "digest.h"
#include "err.h"
#include "ingest.h"
#include "intake.h"
#include "keys.h"
#include "log.h"
#include "store_capture.h"

#define HIST_BUCKETS (24 * 16)

struct capture {
	mosquitto_plugin_id_t *id;
	struct vg_config cfg;
	struct vg_keyring keys;
	struct vg_plan *plan;         /* the tracking plan; the broker's SIGHUP loads it again */
	struct vg_capture *capture;   /* keys, suppression, the put, the quarantine's limits, counters */
	struct vg_store *store;       /* NULL until buffer.db can be opened */
	struct vg_intake_writer *intake; /* the journal; opened with the store */
	char db_path[VG_CONFIG_DB_PATH_MAX];
	char intake_dir[VG_CONFIG_DB_PATH_MAX + sizeof VG_INTAKE_DIR_SUFFIX];
	int64_t next_open_log_ms;     /* the "cannot open" error is logged at most every 10 s */
	int64_t schema_checked_ns;    /* vg_mono_ns of the last schema check */
	int clock_synced;
	int64_t clock_checked_ms;
	unsigned long long hist[HIST_BUCKETS]; /* callback time, log-linear µs buckets */
	const struct mosquitto *disconnecting; /* see on_disconnect(); NULL between callbacks */
};

/* The plugin is built with hidden visibility; only these three are exported. */
#define EXPORT __attribute__((visibility("default")))
EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions);
EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count);
EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count);

static void log_sink(enum vg_log_level level, const char *msgid, const char *text)
{
	static const int map[] = { MOSQ_LOG_ERR, MOSQ_LOG_WARNING, MOSQ_LOG_NOTICE, MOSQ_LOG_DEBUG };
	mosquitto_log_printf(map[level], "venuegw %s: %s", msgid, text);
}

/* Histogram of µs with 16 linear sub-buckets per power of two. */
static int hist_bucket(uint64_t us)
{
	if (us < 16)
		return (int)us;
	int msb = 63 - __builtin_clzll(us);
	int b = (msb - 3) * 16 + (int)((us >> (msb - 4)) & 15);
	return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

static uint64_t hist_value(int b)
{
	if (b < 16)
		return (uint64_t)b;
	int msb = b / 16 + 3;
	return ((uint64_t)16 + (uint64_t)(b % 16)) << (msb - 4);
}

static uint64_t hist_quantile(const struct capture *c, double q)
{
	unsigned long long total = 0, seen = 0;
	for (int i = 0; i < HIST_BUCKETS; i++)
		total += c->hist[i];
	if (!total)
		return 0;
	unsigned long long want = (unsigned long long)(q * (double)total);
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += c->hist[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

/* "venue/v1/<device>/events" → device (1..64 of [A-Za-z0-9._-]).
 * Returns 1 for our topic with a valid device, 0 for topics that are not
 * ours, -1 for our topic shape with an invalid device id. */
static int parse_topic(const char *topic, char device[65])
{
	static const char pre[] = "venue/v1/";
	if (strncmp(topic, pre, sizeof pre - 1) != 0)
		return 0;
	const char *dev = topic + sizeof pre - 1;
	const char *slash = strchr(dev, '/');
	if (!slash || strcmp(slash, "/events") != 0)
		return 0;
	size_t n = (size_t)(slash - dev);
	if (n == 0 || n > 64)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = dev[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return -1;
	}
	memcpy(device, dev, n);
	device[n] = '\0';
	return 1;
}

/* How often an open buffer.db's schema is checked again (a read transaction):
 * the journal is only written for a daemon of this schema to move. */
#define SCHEMA_CHECK_NS 200000000ll

/* buffer.db, opened as soon as the daemon has created it: every message and
 * every broker tick tries again while it is not open (a failed open of a
 * missing file costs one failed open(2)), so whichever of the two services
 * starts first, the first event after the file exists is stored.  Only the
 * error message is rate-limited, never the attempt. */
static struct vg_store *store(struct capture *c, int64_t now_ms)
{
	int64_t mono = vg_mono_ns();
	if (c->store && c->intake && mono - c->schema_checked_ns < SCHEMA_CHECK_NS)
		return c->store;
	char err[512];
	struct vg_store_cfg scfg = {
		.path = c->db_path,
		.owner = 0,
		.durability_full = c->cfg.durability == VG_DURABILITY_FULL,
		.busy_timeout_ms = 100,
		.max_bytes = (long long)c->cfg.max_buffer_mb << 20,
		.drop_oldest = c->cfg.on_full == VG_ON_FULL_DROP_OLDEST,
	};
	int rc = c->store ? VG_OK : vg_store_open(&c->store, &scfg, err, sizeof err);
	/* The schema is the daemon's to migrate: the journal is for a daemon
	 * that moves it.  A read: a long move of the daemon's never holds the
	 * broker thread up here. */
	if (rc == VG_OK)
		rc = vg_store_check_schema(c->store);
	if (rc == VG_ERR_SCHEMA)
		snprintf(err, sizeof err, "buffer.db schema is not version %d (has the daemon migrated it?)",
		         VG_STORE_SCHEMA);
	else if (rc != VG_OK && c->store)
		snprintf(err, sizeof err, "%s: %s", c->db_path, vg_store_errmsg(c->store));
	if (rc == VG_OK && !c->intake)
		rc = vg_intake_writer_open(&c->intake, c->intake_dir, scfg.durability_full, err, sizeof err);
	c->schema_checked_ns = mono;
	if (rc != VG_OK) {
		vg_store_close(c->store);
		c->store = NULL;
		vg_intake_writer_close(c->intake);
		c->intake = NULL;
		if (now_ms >= c->next_open_log_ms) {
			vg_log(VG_LOG_ERR, "capture.store", "%s; not acknowledging events until it opens", err);
			c->next_open_log_ms = now_ms + 10000;
		}
		return NULL;
	}
	if (c->next_open_log_ms)
		vg_log(VG_LOG_INFO, "capture.store", "opened %s and its intake journal; acknowledging events again",
		       c->db_path);
	c->next_open_log_ms = 0;
	return c->store;
}

/* The broker's tick: open buffer.db as soon as it exists, before the first
 * message needs it, and notice a schema change without a message. */
static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	struct capture *c = userdata;
	c->disconnecting = NULL;
	store(c, vg_wall_ms());   /* opens, or checks the schema when due */
	return MOSQ_ERR_SUCCESS;
}

/* Tell the device why its message was quarantined, on venue/v1/<device>/rejected. */
static void notify_rejection(const char *device, const struct vg_ingest_out *out)
{
	cJSON *n = cJSON_CreateObject();
	if (!n)
		return;
	cJSON_AddStringToObject(n, "reason", vg_reject_name(out->rej.reason));
	if (out->rej.field[0])
		cJSON_AddStringToObject(n, "field", out->rej.field);
	cJSON_AddStringToObject(n, "detail", out->rej.detail);
	if (out->rej.offset >= 0)
		cJSON_AddNumberToObject(n, "offset", (double)out->rej.offset);
	if (out->device_event_id[0])
		cJSON_AddStringToObject(n, "id", out->device_event_id);
	if (out->event_key[0])
		cJSON_AddStringToObject(n, "event_key", out->event_key);
	char *text = cJSON_PrintUnformatted(n);
	cJSON_Delete(n);
	if (!text)
		return;
	char topic[128];
	snprintf(topic, sizeof topic, "venue/v1/%s/rejected", device);
	mosquitto_broker_publish_copy(NULL, topic, (int)strlen(text), text, 1, false, NULL);
	cJSON_free(text);
}

/* Replace the message's payload with what may travel on inside the broker:
 * the tokenized form, or for input that did not decode a short stub.  The raw
 * bytes are wiped; the broker frees them. */
static int replace_payload(struct mosquitto_evt_message *m, const struct vg_ingest_out *out)
{
	char stub[96];
	const char *text = out->body;
	size_t n = out->body_len;
	if (!text) {
		n = (size_t)snprintf(stub, sizeof stub, "{\"venuegw\":\"quarantined\",\"reason\":\"%s\"}",
		                     vg_reject_name(out->rej.reason));
		text = stub;
	}
	char *p = mosquitto_malloc(n + 1);
	if (!p)
		return MOSQ_ERR_NOMEM;
	memcpy(p, text, n);
	p[n] = '\0';
	if (m->payload)
		vg_wipe(m->payload, m->payloadlen);
	m->payload = p;
	m->payloadlen = (uint32_t)n;
	m->retain = false;
	return MOSQ_ERR_SUCCESS;
}

/* --- No side doors (DESIGN.md §2): the broker is an intake, not a bus. ------
 *
 * How mosquitto 2.0.11 asks, and what we answer:
 * - Every access goes through mosquitto_acl_check() (src/security.c), which
 *   calls the MOSQ_EVT_ACL_CHECK callbacks in registration order and stops at
 *   the first answer that is not MOSQ_ERR_PLUGIN_DEFER.  The acl_file is one
 *   of those callbacks (src/security_default.c), registered after the
 *   plugins have been initialised, so ours is asked first and a DEFER lets
 *   the acl_file decide.  The acl_file never defers and allows every
 *   SUBSCRIBE ("FIXME - implement ACL subscription strings").
 * - MOSQ_ACL_READ is asked per subscriber and message before delivery
 *   (subs__send() in src/subs.c) and before a retained message is sent to a
 *   new subscriber (retain__process() in src/retain.c): denying it for event
 *   topics stops every route out, whatever the filter (#, +, $share/...).
 * - A last will is never shown to a plugin at CONNECT and never reaches
 *   MOSQ_EVT_MESSAGE: handle__connect() only parses it; context__send_will()
 *   (src/context.c) asks MOSQ_ACL_WRITE for it when it is to be published
 *   and queues it with db__messages_easy_queue(), retained if it says so.
 *   On a disconnect, context__disconnect() calls the MOSQ_EVT_DISCONNECT
 *   callbacks and then, with nothing in between, context__send_will(): a
 *   WRITE asked for the client that has just disconnected is its will. */

/* 1 if the subscription filter names event topics: venue/v1/<device>/events
 * with + for any of the first three levels, optionally followed by /# (which
 * matches its parent too), also under $share/<group>/.  Broader filters (#,
 * venue/#, venue/v1/+/+) are allowed: what they would match on an event
 * topic is refused at MOSQ_ACL_READ. */
static int filter_names_events(const char *filter)
{
	static const char *const level[] = { "venue", "v1", NULL, "events" };
	if (strncmp(filter, "$share/", 7) == 0) {
		filter = strchr(filter + 7, '/');
		if (!filter)
			return 0;
		filter++;
	}
	const char *p = filter;
	for (int i = 0; i < 4; i++) {
		const char *end = strchr(p, '/');
		if (i == 3 && end && strcmp(end, "/#") == 0)
			end = NULL;
		if ((i < 3) != (end != NULL))
			return 0;
		size_t n = end ? (size_t)(end - p) : strcspn(p, "/");
		int plus = n == 1 && p[0] == '+';
		if (i == 3 && plus)
			return 0;
		if (level[i] && !plus && (n != strlen(level[i]) || memcmp(p, level[i], n) != 0))
			return 0;
		if (memchr(p, '#', n))
			return 0;
		if (end)
			p = end + 1;
	}
	return 1;
}

/* MOSQ_EVT_DISCONNECT: remember the client for the ACL check that may follow
 * at once (its will).  Forgotten at the next ACL check or tick, so a later
 * client that gets the same address is never taken for it. */
static int on_disconnect(int event, void *event_data, void *userdata)
{
	(void)event;
	struct capture *c = userdata;
	const struct mosquitto_evt_disconnect *d = event_data;
	c->disconnecting = d->client;
	return MOSQ_ERR_SUCCESS;
}

/* MOSQ_EVT_ACL_CHECK, for every client and topic.  Event topics: READ and
 * SUBSCRIBE denied; WRITE of a will denied; any other WRITE left to the
 * acl_file (PLUGIN_DEFER).  Every other topic: PLUGIN_DEFER. */
static int on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event;
	struct capture *c = userdata;
	const struct mosquitto_evt_acl_check *a = event_data;
	const struct mosquitto *dying = c->disconnecting;
	c->disconnecting = NULL;
	char device[65];
	switch (a->access) {
	case MOSQ_ACL_SUBSCRIBE:
		return filter_names_events(a->topic) ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_PLUGIN_DEFER;
	case MOSQ_ACL_READ:
		return parse_topic(a->topic, device) != 0 ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_PLUGIN_DEFER;
	case MOSQ_ACL_WRITE: {
		int t = parse_topic(a->topic, device);
		if (t == 0)
			return MOSQ_ERR_PLUGIN_DEFER;
		if (a->client == dying) {
			/* The topic is logged only when its device part is a device id:
			 * any other may be anything (an email even). */
			const char *user = mosquitto_client_username(a->client);
			vg_log(VG_LOG_WARN, "capture.will", "device %s: a last will on %s is not accepted; publish"
			       " events as messages (refused when the broker was to publish it: nobody receives it,"
			       " nothing is stored)", user ? user : "(none)", t > 0 ? a->topic : "venue/v1/~/events");
			return MOSQ_ERR_ACL_DENIED;
		}
		/* A will published later (a v5 will delay, a session taken over) is
		 * not preceded by its disconnect: it is delivered to nobody (READ),
		 * and a retained copy is removed by the empty retained message queued
		 * here, which the broker handles before the next packet.  A retained
		 * event itself never stays: on_message clears its retain flag. */
		if (a->retain)
			mosquitto_broker_publish(NULL, a->topic, 0, NULL, 0, true, NULL);
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	default:
		return MOSQ_ERR_PLUGIN_DEFER;
	}
}

/* An event's MQTT v5 properties (user properties, correlation data, content
 * type, response topic, payload format indicator) never travel on; the
 * plugin never reads them, so they are never stored either.  The message
 * expiry interval is not in this list: handle__publish() keeps it beside the
 * message (a number, out of a plugin's reach in 2.0.11). */
static void drop_properties(struct mosquitto_evt_message *m)
{
	mosquitto_property_free_all(&m->properties);
}

static int side_doors_register(mosquitto_plugin_id_t *id, struct capture *c)
{
	if (mosquitto_callback_register(id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, c) != MOSQ_ERR_SUCCESS)
		return MOSQ_ERR_UNKNOWN;
	if (mosquitto_callback_register(id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, c) != MOSQ_ERR_SUCCESS) {
		mosquitto_callback_unregister(id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
		return MOSQ_ERR_UNKNOWN;
	}
	return MOSQ_ERR_SUCCESS;
}

static void side_doors_unregister(mosquitto_plugin_id_t *id)
{
	mosquitto_callback_unregister(id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
}

static int on_message(int event, void *event_data, void *userdata)
{
	(void)event;
	struct capture *c = userdata;
	struct mosquitto_evt_message *m = event_data;
	char topic_device[65];
	int t = parse_topic(m->topic, topic_device);
	if (t == 0)
		return MOSQ_ERR_SUCCESS; /* not an event topic: not ours */

	int64_t t0 = vg_mono_ns();
	int64_t now_ms = vg_wall_ms();
	int64_t mono_ms = t0 / 1000000;
	if (mono_ms - c->clock_checked_ms > 1000 || c->clock_checked_ms == 0) {
		c->clock_synced = vg_clock_synced();
		c->clock_checked_ms = mono_ms;
	}
	const char *username = mosquitto_client_username(m->client);
	const char *device = username ? username : (t > 0 ? topic_device : "unknown");

	struct vg_ingest_cfg icfg;
	if (vg_capture_ingest_cfg(c->capture, now_ms, &icfg) != VG_OK) {
		vg_log(VG_LOG_ERR, "capture.keys", "no token key is active yet; not acknowledging");
		if (m->payload)
			vg_wipe(m->payload, m->payloadlen);
		return MOSQ_ERR_UNKNOWN;
	}
	icfg.plan = c->plan;
	if (t < 0) {
		icfg.reject = VG_REJ_BAD_TOPIC;
		icfg.reject_detail = "the topic's device id is not 1-64 of A-Z a-z 0-9 . _ -";
	} else if (!username || strcmp(username, topic_device) != 0) {
		icfg.reject = VG_REJ_DEVICE_MISMATCH;
		icfg.reject_detail = "the topic names another device than the one that is connected";
	}

	struct vg_ingest_out out;
	int rc = vg_ingest(&icfg, t > 0 ? topic_device : device, m->payload, m->payloadlen, now_ms,
	                   c->clock_synced, &out);
	if (rc) {
		/* Out of memory costs this event (unacknowledged, resent), never the broker. */
		vg_log(VG_LOG_ERR, "capture.ingest", "device %s: %s; not acknowledging", device, vg_strerror(rc));
		if (m->payload)
			vg_wipe(m->payload, m->payloadlen);
		return MOSQ_ERR_NOMEM;
	}

	struct vg_store *st = store(c, now_ms);
	struct vg_capture_in in = {
		/* A topic whose device part is not a device id may be anything, an
		 * email even: the quarantine keeps its shape, not its text. */
		.device_id = device, .topic = t < 0 ? "venue/v1/~/events" : m->topic, .size = m->payloadlen,
		.received_at_ms = now_ms, .out = &out,
	};
	enum vg_capture_outcome what;
	rc = st ? vg_capture_journal(c->capture, c->intake, st, c->intake_dir, &in, &what) : VG_ERR_IO;
	if (rc) {
		if (rc == VG_ERR_SCHEMA)
			vg_log(VG_LOG_ERR, "capture.store", "buffer.db schema is not version %d (has the daemon"
			       " migrated it?); not acknowledging", VG_STORE_SCHEMA);
		else if (rc == VG_ERR_FULL)
			vg_log(VG_LOG_WARN, "capture.full", "buffer.db and its intake are at max_buffer_mb = %d (on_full = %s);"
			       " not acknowledging device %s until the CDP takes the backlog, the device keeps"
			       " its events", c->cfg.max_buffer_mb,
			       c->cfg.on_full == VG_ON_FULL_DROP_OLDEST ? "drop_oldest, nothing left to drop"
			                                                : "backpressure", device);
		else
			vg_log(VG_LOG_ERR, "capture.store", "device %s event %s: commit failed (%s: %s);"
			       " not acknowledging, the device will resend", device, out.event_key,
			       vg_strerror(rc), st ? vg_store_errmsg(st) : "not open");
		if (m->payload)
			vg_wipe(m->payload, m->payloadlen);
		vg_ingest_out_free(&out);
		return MOSQ_ERR_UNKNOWN;
	}
	/* Durable: from here on the event is ours to deliver. */
	rc = replace_payload(m, &out);
	if (rc == MOSQ_ERR_SUCCESS && out.quarantined)
		notify_rejection(device, &out);
	vg_ingest_out_free(&out);
	c->hist[hist_bucket((uint64_t)(vg_mono_ns() - t0) / 1000)]++;
	if (rc != MOSQ_ERR_SUCCESS) {
		/* Stored, but the sanitized copy could not be made: drop the raw bytes
		 * in place so nothing raw travels on. */
		if (m->payload)
			vg_wipe(m->payload, m->payloadlen);
		m->payloadlen = 0;
		m->retain = false;
	}
	drop_properties(m);
	return MOSQ_ERR_SUCCESS;
}

static void log_plan(const struct capture *c, const char *what)
{
	vg_log(VG_LOG_INFO, "capture.plan", "tracking plan %s: \"%s\" version %s, %d event types%s",
	       c->cfg.plan_path, vg_plan_name(c->plan), vg_plan_version(c->plan)[0] ? vg_plan_version(c->plan)
	       : "(none)", vg_plan_count(c->plan), what);
}

/* The broker's SIGHUP: read [contracts] from the configuration again and load
 * the plan it names.  A plan (or configuration) that does not load never
 * replaces the one in force. */
static int on_reload(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	struct capture *c = userdata;
	char err[600];
	struct vg_config *fresh = malloc(sizeof *fresh);
	struct vg_plan *plan = NULL;
	if (!fresh) {
		vg_log(VG_LOG_ERR, "capture.plan", "SIGHUP: out of memory; the plan in force stays");
		return MOSQ_ERR_SUCCESS;
	}
	if (vg_config_load(fresh, c->cfg.path, err, sizeof err) != VG_OK ||
	    vg_plan_load(&plan, fresh->plan_path, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "capture.plan", "SIGHUP: %s; the plan in force (version %s) stays", err,
		       vg_plan_version(c->plan));
	} else {
		memcpy(c->cfg.plan_path, fresh->plan_path, sizeof c->cfg.plan_path);
		c->cfg.unknown = fresh->unknown;
		vg_plan_free(c->plan);
		c->plan = plan;
		log_plan(c, ": in force");
	}
	free(fresh);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
	/* Under systemd the broker's stderr is the journal, where mosquitto's own
	 * lines all land at priority info: ours go there directly with their
	 * priority prefix.  Elsewhere they go through the broker's log. */
	if (vg_log_detect_format() == VG_LOG_FMT_JOURNAL) {
		vg_log_set_format(VG_LOG_FMT_JOURNAL);
		vg_log_set_sink(NULL);
	} else {
		vg_log_set_sink(log_sink);
	}
	const char *path = NULL;
	for (int i = 0; i < option_count; i++) {
		if (strcmp(options[i].key, "config") == 0) {
			path = options[i].value;
		} else {
			vg_log(VG_LOG_ERR, "capture.init", "unknown option plugin_opt_%s (only plugin_opt_config)",
			       options[i].key);
			return MOSQ_ERR_INVAL;
		}
	}
	if (!path)
		path = VG_CONFIG_DEFAULT_PATH;
	struct capture *c = calloc(1, sizeof *c);
	if (!c)
		return MOSQ_ERR_NOMEM;
	char err[512];
	if (vg_config_load(&c->cfg, path, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "capture.init", "%s", err);
		goto fail;
	}
	if (vg_keyring_load(&c->keys, c->cfg.key_file, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "capture.init", "%s", err);
		goto fail;
	}
	if (vg_plan_load(&c->plan, c->cfg.plan_path, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "capture.init", "[contracts] plan: %s", err);
		goto fail;
	}
	log_plan(c, "");
	if (vg_capture_open(&c->capture, &c->cfg, &c->keys) != VG_OK) {
		vg_log(VG_LOG_ERR, "capture.init", "out of memory");
		goto fail;
	}
	if (vg_config_db_path(&c->cfg, c->db_path, sizeof c->db_path) != VG_OK) {
		vg_log(VG_LOG_ERR, "capture.init", "data_dir %s: the path of buffer.db in it is too long", c->cfg.data_dir);
		goto fail;
	}
	if (vg_intake_dir(c->db_path, c->intake_dir, sizeof c->intake_dir) != VG_OK)
		goto fail; /* cannot happen: sized for it */
	c->id = identifier;
	store(c, vg_wall_ms());
	if (mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, on_message, NULL, c) != MOSQ_ERR_SUCCESS) {
		vg_log(VG_LOG_ERR, "capture.init", "cannot register the message callback");
		goto fail;
	}
	if (mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, c) != MOSQ_ERR_SUCCESS) {
		mosquitto_callback_unregister(identifier, MOSQ_EVT_MESSAGE, on_message, NULL);
		vg_log(VG_LOG_ERR, "capture.init", "cannot register the tick callback");
		goto fail;
	}
	if (mosquitto_callback_register(identifier, MOSQ_EVT_RELOAD, on_reload, NULL, c) != MOSQ_ERR_SUCCESS) {
		mosquitto_callback_unregister(identifier, MOSQ_EVT_MESSAGE, on_message, NULL);
		mosquitto_callback_unregister(identifier, MOSQ_EVT_TICK, on_tick, NULL);
		vg_log(VG_LOG_ERR, "capture.init", "cannot register the reload callback");
		goto fail;
	}
	if (side_doors_register(identifier, c) != MOSQ_ERR_SUCCESS) {
		mosquitto_callback_unregister(identifier, MOSQ_EVT_MESSAGE, on_message, NULL);
		mosquitto_callback_unregister(identifier, MOSQ_EVT_TICK, on_tick, NULL);
		mosquitto_callback_unregister(identifier, MOSQ_EVT_RELOAD, on_reload, NULL);
		vg_log(VG_LOG_ERR, "capture.init", "cannot register the ACL and disconnect callbacks");
		goto fail;
	}
	vg_log(VG_LOG_INFO, "capture.init", "venue %s, buffer %s, durability %s", c->cfg.venue_id,
	       c->db_path, c->cfg.durability == VG_DURABILITY_FULL ? "full" : "os");
	*userdata = c;
	return MOSQ_ERR_SUCCESS;
fail:
	vg_capture_close(c->capture);
	vg_keyring_wipe(&c->keys);
	vg_plan_free(c->plan);
	vg_intake_writer_close(c->intake);
	vg_store_close(c->store);
	free(c);
	return MOSQ_ERR_INVAL;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)options;
	(void)option_count;
	struct capture *c = userdata;
	if (!c)
		return MOSQ_ERR_SUCCESS;
	mosquitto_callback_unregister(c->id, MOSQ_EVT_MESSAGE, on_message, NULL);
	mosquitto_callback_unregister(c->id, MOSQ_EVT_TICK, on_tick, NULL);
	mosquitto_callback_unregister(c->id, MOSQ_EVT_RELOAD, on_reload, NULL);
	side_doors_unregister(c->id);
	struct vg_capture_stats cs;
	vg_capture_stats(c->capture, &cs);
	vg_log(VG_LOG_INFO, "capture.stats",
	       "stored=%llu duplicates=%llu quarantined=%llu quarantine_overflow=%llu suppressed=%llu"
	       " store_failures=%llu"
	       " callback_us_p50=%llu callback_us_p99=%llu callback_us_p999=%llu",
	       cs.stored, cs.duplicates, cs.quarantined, cs.overflowed, cs.suppressed, cs.store_failures,
	       (unsigned long long)hist_quantile(c, 0.50), (unsigned long long)hist_quantile(c, 0.99),
	       (unsigned long long)hist_quantile(c, 0.999));
	vg_capture_close(c->capture);
	vg_keyring_wipe(&c->keys);
	vg_plan_free(c->plan);
	vg_intake_writer_close(c->intake);
	vg_store_close(c->store);
	free(c);
	return MOSQ_ERR_SUCCESS;
}
