/* The Kafka output: one idempotent librdkafka producer on the daemon's loop
 * (kafka.h). */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "container.h"
#include "digest.h"
#include "encode.h"
#include "err.h"
#include "log.h"

#define POLL_EVERY_MS 200

struct vg_kafka {
	struct vg_loop *loop;
	const struct vg_config *cfg;
	rd_kafka_t *rk;
	rd_kafka_topic_t *topic;
	rd_kafka_queue_t *mainq;
	int pipefd[2];                /* librdkafka writes to [1] when its queue has events */
	struct vg_watch w;
	struct vg_timer t;            /* poll now and then, also without a wake-up */
	vg_kafka_report_fn report;
	vg_kafka_error_fn error;
	void *ud;
	char schema[8];
};

/* ---- callbacks (served by rd_kafka_poll on the loop's thread) ------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct vg_kafka *k = opaque;
	if (!k->report)
		return;
	k->report(k->ud, (uintptr_t)m->_private, m->err, m->err ? rd_kafka_err2str(m->err) : "");
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct vg_kafka *k = opaque;
	int fatal = err == RD_KAFKA_RESP_ERR__FATAL;
	char why[512];
	if (fatal) {
		rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
		err = orig;
		reason = why;
	}
	if (k->error)
		k->error(k->ud, err, fatal, reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	/* librdkafka's syslog levels: 0-3 errors, 4 warnings, 5-6 notices and
	 * information, 7 debug. */
	enum vg_log_level lvl = level <= 3 ? VG_LOG_ERR : level == 4 ? VG_LOG_WARN : level <= 6 ? VG_LOG_INFO : VG_LOG_DEBUG;
	vg_log(lvl, "kafka.client", "%s: %s", fac, buf);
}

static void serve(struct vg_kafka *k)
{
	char drain[64];
	while (read(k->pipefd[0], drain, sizeof drain) > 0)
		;
	if (k->rk)
		rd_kafka_poll(k->rk, 0);
}

static void on_wake(struct vg_watch *w, short revents)
{
	(void)revents;
	serve(vg_container_of(w, struct vg_kafka, w));
}

static void on_timer(struct vg_timer *t)
{
	struct vg_kafka *k = vg_container_of(t, struct vg_kafka, t);
	vg_loop_timer(k->loop, &k->t, vg_now_ms() + POLL_EVERY_MS);
	serve(k);
}

/* ---- the producer ------------------------------------------------------------ */

static int set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errsz)
{
	char why[256];
	if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
		snprintf(err, errsz, "librdkafka refuses %s: %s", name, why);
		return VG_ERR_CONFIG;
	}
	return VG_OK;
}

static int read_password(const char *path, char *out, size_t outsz, char *err, size_t errsz)
{
	FILE *fp = fopen(path, "r");
	if (!fp) {
		snprintf(err, errsz, "[kafka] sasl_password_file: %s: %s", path, strerror(errno));
		return VG_ERR_IO;
	}
	char *ok = fgets(out, (int)outsz, fp);
	fclose(fp);
	if (!ok || !(out[strcspn(out, "\r\n")] = '\0', out[0])) {
		snprintf(err, errsz, "[kafka] sasl_password_file: %s is empty", path);
		vg_wipe(out, outsz);
		return VG_ERR_CONFIG;
	}
	return VG_OK;
}

static int start(struct vg_kafka *k, char *err, size_t errsz)
{
	const struct vg_config *cfg = k->cfg;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	char password[256] = "";
	int rc = VG_OK;
	static const char *const protocols[] = { "plaintext", "ssl", "sasl_plaintext", "sasl_ssl" };
	static const char *const codecs[] = { "none", "gzip", "snappy", "lz4", "zstd" };
	const struct { const char *name, *value; } fixed[] = {
		{ "bootstrap.servers", cfg->kafka_brokers },
		{ "client.id", cfg->kafka_client_id },
		{ "security.protocol", protocols[cfg->kafka_security] },
		{ "compression.codec", codecs[cfg->kafka_compression] },
		/* Written once, in order, and only when every in-sync replica has it. */
		{ "enable.idempotence", "true" },
		{ "acks", "all" },
		/* No give-up time: librdkafka retries a retriable error with the
		 * same record until it is written.  What can fail is reported. */
		{ "message.timeout.ms", "0" },
		{ "linger.ms", "5" },
		{ "socket.keepalive.enable", "true" },
		{ "reconnect.backoff.max.ms", "10000" },
		/* Logs go through the main queue: vg_log on the loop's thread. */
		{ "log.queue", "true" },
	};
	for (size_t i = 0; rc == VG_OK && i < sizeof fixed / sizeof fixed[0]; i++)
		rc = set(conf, fixed[i].name, fixed[i].value, err, errsz);
	if (rc == VG_OK && cfg->kafka_ssl_ca_file[0])
		rc = set(conf, "ssl.ca.location", cfg->kafka_ssl_ca_file, err, errsz);
	if (rc == VG_OK && cfg->kafka_ssl_cert_file[0])
		rc = set(conf, "ssl.certificate.location", cfg->kafka_ssl_cert_file, err, errsz);
	if (rc == VG_OK && cfg->kafka_ssl_key_file[0])
		rc = set(conf, "ssl.key.location", cfg->kafka_ssl_key_file, err, errsz);
	if (rc == VG_OK && cfg->kafka_sasl_mechanism != VG_KAFKA_SASL_NONE) {
		rc = set(conf, "sasl.mechanisms", vg_kafka_sasl_names[cfg->kafka_sasl_mechanism], err, errsz);
		if (rc == VG_OK)
			rc = set(conf, "sasl.username", cfg->kafka_sasl_username, err, errsz);
		if (rc == VG_OK)
			rc = read_password(cfg->kafka_sasl_password_file, password, sizeof password, err, errsz);
		if (rc == VG_OK)
			rc = set(conf, "sasl.password", password, err, errsz);
		vg_wipe(password, sizeof password);
	}
	if (rc != VG_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_opaque(conf, k);
	char why[512];
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (!k->rk) { /* conf is still ours */
		rd_kafka_conf_destroy(conf);
		snprintf(err, errsz, "cannot start the Kafka producer: %s", why);
		return VG_ERR_CONFIG;
	}
	rd_kafka_set_log_queue(k->rk, NULL);
	k->topic = rd_kafka_topic_new(k->rk, cfg->kafka_topic, NULL);
	k->mainq = rd_kafka_queue_get_main(k->rk);
	if (!k->topic || !k->mainq) {
		snprintf(err, errsz, "cannot start the Kafka producer: %s", rd_kafka_err2str(rd_kafka_last_error()));
		return VG_ERR_CONFIG;
	}
	rd_kafka_queue_io_event_enable(k->mainq, k->pipefd[1], "1", 1);
	return VG_OK;
}

static void stop(struct vg_kafka *k, int wait_ms)
{
	if (!k->rk)
		return;
	if (wait_ms > 0)
		rd_kafka_flush(k->rk, wait_ms);
	/* What is left fails with a purge error.  The reports of records in
	 * flight may come later than this poll; rd_kafka_destroy drops them
	 * (the forwarder fails whatever is still pending itself). */
	rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(k->rk, 0);
	if (k->mainq) {
		rd_kafka_queue_io_event_enable(k->mainq, -1, NULL, 0);
		rd_kafka_queue_destroy(k->mainq);
		k->mainq = NULL;
	}
	if (k->topic)
		rd_kafka_topic_destroy(k->topic);
	k->topic = NULL;
	rd_kafka_destroy(k->rk);
	k->rk = NULL;
}

/* A producer for cfg with its wake-up pipe (not yet on a loop).  NULL
 * with *rc and err set on failure. */
static struct vg_kafka *producer_new(const struct vg_config *cfg, vg_kafka_report_fn report,
                                     vg_kafka_error_fn error, void *ud, int *rc, char *err, size_t errsz)
{
	struct vg_kafka *k = calloc(1, sizeof *k);
	if (!k) {
		snprintf(err, errsz, "out of memory");
		*rc = VG_ERR_NOMEM;
		return NULL;
	}
	k->cfg = cfg;
	k->report = report;
	k->error = error;
	k->ud = ud;
	snprintf(k->schema, sizeof k->schema, "%d", VG_WIRE_SCHEMA);
	k->pipefd[0] = k->pipefd[1] = -1;
	if (pipe2(k->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errsz, "cannot make the Kafka wake-up pipe: %s", strerror(errno));
		free(k);
		*rc = VG_ERR_IO;
		return NULL;
	}
	*rc = start(k, err, errsz);
	return k;
}

/* Stop the producer (wait_ms for records in flight) and free k. */
static void producer_free(struct vg_kafka *k, int wait_ms)
{
	stop(k, wait_ms);
	if (k->loop) {
		vg_loop_unwatch(k->loop, &k->w);
		vg_loop_cancel(k->loop, &k->t);
	}
	if (k->pipefd[0] >= 0)
		close(k->pipefd[0]);
	if (k->pipefd[1] >= 0)
		close(k->pipefd[1]);
	free(k);
}

int vg_kafka_open(struct vg_kafka **out, struct vg_loop *loop, const struct vg_config *cfg,
                  vg_kafka_report_fn report, vg_kafka_error_fn error, void *ud, char *err, size_t errsz)
{
	*out = NULL;
	int rc;
	struct vg_kafka *k = producer_new(cfg, report, error, ud, &rc, err, errsz);
	if (!k)
		return rc;
	if (rc == VG_OK) {
		k->loop = loop;
		k->w.cb = on_wake;
		if (vg_loop_watch(loop, &k->w, k->pipefd[0], POLLIN) != VG_OK) {
			snprintf(err, errsz, "no room in the loop for the Kafka producer");
			rc = VG_ERR_RANGE;
		}
	}
	if (rc != VG_OK) {
		producer_free(k, 0);
		return rc;
	}
	k->t.cb = on_timer;
	vg_loop_timer(loop, &k->t, vg_now_ms() + POLL_EVERY_MS);
	*out = k;
	return VG_OK;
}

int vg_kafka_produce(struct vg_kafka *k, const char *value, size_t vlen, const char *key, size_t klen,
                     const char *message_id, uintptr_t opaque, char *errstr, size_t errsz)
{
	if (!k->rk) {
		snprintf(errstr, errsz, "the Kafka producer is not running");
		return RD_KAFKA_RESP_ERR__STATE;
	}
	const struct vg_config *cfg = k->cfg;
	rd_kafka_resp_err_t e = rd_kafka_producev(k->rk,
		RD_KAFKA_V_RKT(k->topic),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_VALUE((void *)value, vlen),
		RD_KAFKA_V_KEY(klen ? key : NULL, klen),
		RD_KAFKA_V_HEADER("message_id", message_id, -1),
		RD_KAFKA_V_HEADER("venue_id", cfg->venue_id, -1),
		RD_KAFKA_V_HEADER("gateway_id", cfg->gateway_id, -1),
		RD_KAFKA_V_HEADER("schema", k->schema, -1),
		RD_KAFKA_V_OPAQUE((void *)opaque),
		RD_KAFKA_V_END);
	if (e)
		snprintf(errstr, errsz, "%s", rd_kafka_err2str(e));
	return e;
}

void vg_kafka_poll(struct vg_kafka *k)
{
	if (k)
		serve(k);
}

int vg_kafka_restart(struct vg_kafka *k, char *err, size_t errsz)
{
	stop(k, 0);
	return start(k, err, errsz);
}

int vg_kafka_outq_len(const struct vg_kafka *k)
{
	return k && k->rk ? rd_kafka_outq_len(k->rk) : 0;
}

void vg_kafka_close(struct vg_kafka *k, int wait_ms)
{
	if (k)
		producer_free(k, wait_ms);
}

/* Errors the client reported while probing (authentication, brokers down). */
static void probe_error(void *ud, int err, int fatal, const char *reason)
{
	(void)fatal;
	char *why = ud;
	if (!why[0] || err == RD_KAFKA_RESP_ERR__AUTHENTICATION)
		snprintf(why, 300, "%s", reason);
}

int vg_kafka_probe(const struct vg_config *cfg, int timeout_ms, char *info, size_t infosz, char *err,
                   size_t errsz)
{
	char why[300] = "";
	int rc;
	struct vg_kafka *k = producer_new(cfg, NULL, probe_error, why, &rc, err, errsz);
	if (!k)
		return rc;
	if (rc == VG_OK) {
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, k->topic, &md, timeout_ms);
		rd_kafka_poll(k->rk, 0); /* the client's errors, into why */
		if (e) {
			snprintf(err, errsz, "no answer from the brokers within %d s: %s%s%s", timeout_ms / 1000,
			         rd_kafka_err2str(e), why[0] ? "; " : "", why);
			rc = VG_ERR_IO;
		} else if (md->topic_cnt != 1 || md->topics[0].err) {
			snprintf(err, errsz, "topic %s: %s", cfg->kafka_topic,
			         rd_kafka_err2str(md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
			rc = VG_ERR_IO;
		} else {
			snprintf(info, infosz, "%d broker%s answered; topic %s has %d partition%s", md->broker_cnt,
			         md->broker_cnt == 1 ? "" : "s", cfg->kafka_topic, md->topics[0].partition_cnt,
			         md->topics[0].partition_cnt == 1 ? "" : "s");
		}
		if (md)
			rd_kafka_metadata_destroy(md);
	}
	producer_free(k, 0);
	return rc;
}

const char *vg_kafka_err_text(int err)
{
	return rd_kafka_err2str((rd_kafka_resp_err_t)err);
}

int vg_kafka_err_purged(void)
{
	return RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
}

struct vg_response vg_kafka_classify(int err)
{
	struct vg_response r = { .action = VG_RESP_DONE };
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return r;
	r.fail = VG_FAIL_KAFKA;
	switch (err) {
	/* Refusals of a request's records (the broker refuses the whole
	 * request): the forwarder sends them one at a time and quarantines the
	 * one refused alone.  INVALID_MSG (a CRC error) and __BAD_MSG are
	 * retriable, not the record's fault. */
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		r.action = VG_RESP_QUARANTINE;
		snprintf(r.reason, sizeof r.reason, "kafka_too_large");
		break;
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
	case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
		r.action = VG_RESP_QUARANTINE;
		snprintf(r.reason, sizeof r.reason, "kafka_invalid_record");
		break;
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
		r.action = VG_RESP_PAUSE;
		r.alarm = "credentials";
		snprintf(r.reason, sizeof r.reason, "kafka_authorization");
		break;
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
		r.action = VG_RESP_PAUSE;
		r.alarm = "config";
		snprintf(r.reason, sizeof r.reason, "kafka_unknown_topic");
		break;
	default:
		r.action = VG_RESP_RETRY;
		break;
	}
	return r;
}
