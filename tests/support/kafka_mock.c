/* kafka_mock — librdkafka's mock cluster as a process, and a consumer that
 * reads a topic back, for the Kafka tests and benchmark.  The mock cluster
 * (rd_kafka_mock_cluster_new) is librdkafka's in-process imitation of Kafka
 * brokers, listening on 127.0.0.1: it speaks the protocol (idempotent
 * producer, metadata, fetch) but it is not Apache Kafka.
 *
 *   kafka_mock cluster BROKERS TOPIC PARTITIONS
 *       Prints "bootstrap HOST:PORT,..." and then takes commands on stdin,
 *       one per line, answering "ok" or "error: why" on stdout:
 *         errors APIKEY ERR [ERR ...]   the next requests of APIKEY (0 =
 *                                       Produce) fail with these error codes
 *         down ID | up ID              a broker goes down or comes back
 *         leader PARTITION ID          a partition's leader moves
 *         rtt ID MS                    a broker answers MS late
 *         quit                         (also at the end of stdin)
 *   kafka_mock offsets BOOTSTRAP TOPIC
 *       Each partition's "PARTITION LOW HIGH" watermarks: HIGH counts every
 *       record ever appended; LOW is the first the mock still keeps (it
 *       drops old records of a large log, as a broker's retention would).
 *   kafka_mock consume BOOTSTRAP TOPIC IDLE_MS [COUNT]
 *       Reads every partition from the start and prints one JSON line per
 *       record: {"partition":P,"offset":O,"timestamp":MS,"key":"…",
 *       "headers":{…},"value":…} (value as the JSON it is; timestamp: when
 *       the producer took the record, ms since the epoch), until COUNT records have come
 *       or none came for IDLE_MS after the end of every partition was
 *       reached.  Exit 0, or 1 on an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static rd_kafka_t *handle(rd_kafka_type_t type, const char *bootstrap, int consumer)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (bootstrap && rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err)) {
		fprintf(stderr, "kafka_mock: %s\n", err);
		exit(1);
	}
	if (consumer) {
		rd_kafka_conf_set(conf, "group.id", "kafka-mock-reader", err, sizeof err);
		rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
		rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
		rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
	}
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "kafka_mock: %s\n", err);
		exit(1);
	}
	return rk;
}

static int cluster(int brokers, const char *topic, int partitions)
{
	rd_kafka_t *rk = handle(RD_KAFKA_PRODUCER, NULL, 0);
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
		return 1;
	}
	rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, partitions, brokers < 3 ? brokers : 3);
	if (e) {
		fprintf(stderr, "kafka_mock: cannot create topic %s: %s\n", topic, rd_kafka_err2str(e));
		return 1;
	}
	printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	char line[1024];
	while (fgets(line, sizeof line, stdin)) {
		char cmd[32] = "";
		int n = 0;
		if (sscanf(line, "%31s %n", cmd, &n) < 1)
			continue;
		const char *rest = line + n;
		e = RD_KAFKA_RESP_ERR_NO_ERROR;
		int id, a, b;
		if (strcmp(cmd, "quit") == 0) {
			break;
		} else if (strcmp(cmd, "errors") == 0) {
			rd_kafka_resp_err_t errs[64];
			size_t cnt = 0;
			int apikey, k;
			if (sscanf(rest, "%d%n", &apikey, &k) != 1) {
				printf("error: errors APIKEY ERR...\n");
				fflush(stdout);
				continue;
			}
			rest += k;
			while (cnt < 64 && sscanf(rest, "%d%n", &a, &k) == 1) {
				errs[cnt++] = (rd_kafka_resp_err_t)a;
				rest += k;
			}
			rd_kafka_mock_push_request_errors_array(mc, (int16_t)apikey, cnt, errs);
		} else if (strcmp(cmd, "down") == 0 && sscanf(rest, "%d", &id) == 1) {
			e = rd_kafka_mock_broker_set_down(mc, id);
		} else if (strcmp(cmd, "up") == 0 && sscanf(rest, "%d", &id) == 1) {
			e = rd_kafka_mock_broker_set_up(mc, id);
		} else if (strcmp(cmd, "leader") == 0 && sscanf(rest, "%d %d", &a, &b) == 2) {
			e = rd_kafka_mock_partition_set_leader(mc, topic, a, b);
		} else if (strcmp(cmd, "rtt") == 0 && sscanf(rest, "%d %d", &a, &b) == 2) {
			e = rd_kafka_mock_broker_set_rtt(mc, a, b);
		} else {
			printf("error: unknown command %s\n", cmd);
			fflush(stdout);
			continue;
		}
		if (e)
			printf("error: %s\n", rd_kafka_err2str(e));
		else
			printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}

static void json_string(const char *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int consume(const char *bootstrap, const char *topic, int idle_ms, long want)
{
	rd_kafka_t *rk = handle(RD_KAFKA_CONSUMER, bootstrap, 1);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (e || md->topic_cnt != 1 || md->topics[0].err) {
		fprintf(stderr, "kafka_mock: no metadata for %s: %s\n", topic,
		        rd_kafka_err2str(e ? e : md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
		return 1;
	}
	int parts = md->topics[0].partition_cnt;
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
	for (int p = 0; p < parts; p++)
		rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[p].id)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if ((e = rd_kafka_assign(rk, list))) {
		fprintf(stderr, "kafka_mock: assign: %s\n", rd_kafka_err2str(e));
		return 1;
	}
	rd_kafka_topic_partition_list_destroy(list);
	long got = 0;
	int at_end = 0, idle = 0;
	while (want <= 0 || got < want) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m) {
			if (at_end >= parts && (idle += 100) >= idle_ms)
				break;
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			at_end++;
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err) {
			fprintf(stderr, "kafka_mock: %s\n", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		idle = 0;
		rd_kafka_timestamp_type_t tstype;
		int64_t ts = rd_kafka_message_timestamp(m, &tstype);
		printf("{\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"key\":", (int)m->partition,
		       (long long)m->offset, (long long)ts);
		if (m->key)
			json_string(m->key, m->key_len);
		else
			printf("null");
		printf(",\"headers\":{");
		rd_kafka_headers_t *hdrs = NULL;
		if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			const char *name;
			const void *val;
			size_t size;
			for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; i++) {
				printf(i ? "," : "");
				json_string(name, strlen(name));
				putchar(':');
				json_string(val, size);
			}
		}
		printf("},\"value\":");
		if (m->len)
			fwrite(m->payload, 1, m->len, stdout);
		else
			printf("null");
		printf("}\n");
		got++;
		rd_kafka_message_destroy(m);
	}
	fflush(stdout);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return 0;
}

/* Each partition's low and high watermarks: "PARTITION LOW HIGH" per line
 * (HIGH: records ever appended; LOW: the first the log still keeps). */
static int offsets(const char *bootstrap, const char *topic)
{
	rd_kafka_t *rk = handle(RD_KAFKA_CONSUMER, bootstrap, 1);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (e || md->topic_cnt != 1 || md->topics[0].err) {
		fprintf(stderr, "kafka_mock: no metadata for %s\n", topic);
		return 1;
	}
	for (int p = 0; p < md->topics[0].partition_cnt; p++) {
		int64_t lo = 0, hi = 0;
		int32_t id = md->topics[0].partitions[p].id;
		if ((e = rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, 10000))) {
			fprintf(stderr, "kafka_mock: watermarks of %s/%d: %s\n", topic, id, rd_kafka_err2str(e));
			return 1;
		}
		printf("%d %lld %lld\n", (int)id, (long long)lo, (long long)hi);
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "cluster") == 0)
		return cluster(atoi(argv[2]), argv[3], atoi(argv[4]));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "consume") == 0)
		return consume(argv[2], argv[3], atoi(argv[4]), argc == 6 ? atol(argv[5]) : 0);
	if (argc == 4 && strcmp(argv[1], "offsets") == 0)
		return offsets(argv[2], argv[3]);
	fprintf(stderr, "usage: kafka_mock cluster BROKERS TOPIC PARTITIONS\n"
	                "       kafka_mock offsets BOOTSTRAP TOPIC\n"
	                "       kafka_mock consume BOOTSTRAP TOPIC IDLE_MS [COUNT]\n");
	return 2;
}
