/* venuegw daemon — the Kafka output ([output] kind = kafka; DESIGN.md §8).
 *
 * One idempotent librdkafka producer (enable.idempotence, acks=all,
 * message.timeout.ms = 0: a retriable error is retried by librdkafka with the
 * same record, so the broker writes it once and in order).  Its main queue
 * wakes a pipe the daemon's loop watches; delivery reports are served on the
 * loop's thread (no thread of ours).  The forwarder produces one record per
 * event and learns from each record's report whether it was written. */
#ifndef VG_KAFKA_H
#define VG_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "response.h"

struct vg_kafka;

/* What became of a record: err 0 written; else its librdkafka error code
 * and text.  opaque is what vg_kafka_produce was given. */
typedef void (*vg_kafka_report_fn)(void *ud, uintptr_t opaque, int err, const char *errstr);
/* A client-level error (brokers down, authentication, a fatal error of the
 * idempotent producer: fatal = 1, vg_kafka_restart() is then needed). */
typedef void (*vg_kafka_error_fn)(void *ud, int err, int fatal, const char *reason);

/* Start the producer for cfg's [kafka] section (the SASL password file is
 * read now).  Reports and errors are called from vg_kafka_poll(), which the
 * loop calls when librdkafka has something.  VG_OK; VG_ERR_CONFIG or
 * VG_ERR_IO with why in err (a setting librdkafka refuses, an unreadable
 * file); VG_ERR_NOMEM. */
int vg_kafka_open(struct vg_kafka **out, struct vg_loop *loop, const struct vg_config *cfg,
                  vg_kafka_report_fn report, vg_kafka_error_fn error, void *ud, char *err, size_t errsz);

/* Queue one record: value, key (may be empty), headers message_id,
 * venue_id, gateway_id, schema.  0, or the librdkafka error code of a
 * refusal (no report follows then; errstr set). */
int vg_kafka_produce(struct vg_kafka *k, const char *value, size_t vlen, const char *key, size_t klen,
                     const char *message_id, uintptr_t opaque, char *errstr, size_t errsz);

/* Serve what librdkafka has queued (reports, errors).  Never blocks. */
void vg_kafka_poll(struct vg_kafka *k);

/* After a fatal error: fail every record still queued (their reports come,
 * with a purge error) and start a new producer.  VG_OK or as vg_kafka_open. */
int vg_kafka_restart(struct vg_kafka *k, char *err, size_t errsz);

/* Records queued or in flight. */
int vg_kafka_outq_len(const struct vg_kafka *k);

/* Wait up to wait_ms for records in flight to be written (their reports
 * come), fail the rest with a purge error, and free everything. */
void vg_kafka_close(struct vg_kafka *k, int wait_ms);

/* For check-config: start a producer for cfg's [kafka] section and ask the
 * brokers for the topic's metadata within timeout_ms.  VG_OK with what was
 * found in info ("3 brokers, topic T with 3 partitions"); else why in err:
 * VG_ERR_CONFIG (a setting or file librdkafka refuses), VG_ERR_IO (no
 * broker answered, the topic is unknown, authentication failed). */
int vg_kafka_probe(const struct vg_config *cfg, int timeout_ms, char *info, size_t infosz, char *err,
                   size_t errsz);

/* librdkafka's text for an error code. */
const char *vg_kafka_err_text(int err);
/* The error of a record that was in flight when its producer went. */
int vg_kafka_err_purged(void);

/* What the forwarder does with a record's error (the response table for
 * Kafka):
 *   0                                   done
 *   record too large, invalid record,
 *   invalid timestamp, policy violation quarantine the event (reason kafka_*)
 *                                       once it is refused sent alone
 *   topic or cluster authorization,
 *   SASL authentication                 pause, alarm "credentials"
 *   unknown topic or partition,
 *   invalid topic                       pause, alarm "config"
 *   anything else (purged, timed out,
 *   fatal, transport)                   retry the event with backoff */
struct vg_response vg_kafka_classify(int err);

#endif
