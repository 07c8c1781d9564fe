/* vg_pub — a venue device stand-in for tests and benchmarks.
 *
 * Publishes N events (QoS 1, libmosquitto) from one device, keeps K in
 * flight, and records every event whose PUBACK arrived (its id, one per
 * line, flushed) — the list a test checks buffer.db against.  When the
 * connection drops (the broker was killed, or refused to ack) it reconnects
 * with a fresh client and resends every event not yet acknowledged, as a
 * device with an outbox does.  The events carry raw personal data (emails,
 * phones, a card number) so tests can search for it afterwards.
 *
 * Single-threaded; a test tool, so mosquitto_loop() is fine here. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

enum { UNSENT = 0, INFLIGHT = 1, ACKED = 2 };

struct pub {
	const char *host, *user, *password, *device, *topic_device, *prefix, *acked_path, *latency_path;
	int port, count, inflight_max, connected, dropped, pad, invalid, people;
	double rate, deadline_s;
	unsigned char *state;
	double *sent_at;
	int *mid_to_idx;            /* 65536 entries, per connection */
	double *latency;            /* publish → PUBACK, seconds */
	int acked, inflight, cursor, reconnects, latencies;
	long long publishes;
	FILE *acked_file;
	FILE *latency_file;         /* --latency-log: "<CLOCK_MONOTONIC s at PUBACK> <ms>" per ack */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void iso_now(char out[96])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 96, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static int make_event_body(const struct pub *p, int i, char *buf, size_t n);

/* Event i of this device: a rotation of types, each with raw personal data,
 * and with --pad, a "pad" property of that many bytes. */
static int make_event(const struct pub *p, int i, char *buf, size_t n)
{
	int len = make_event_body(p, i, buf, n);
	if (p->pad <= 0 || len < 2 || (size_t)len + (size_t)p->pad + 16 > n)
		return len;
	/* Every template ends with the properties object, then the event: "}}". */
	len -= 2;
	len += snprintf(buf + len, n - (size_t)len, ",\"pad\":\"");
	memset(buf + len, 'p', (size_t)p->pad);
	len += p->pad;
	len += snprintf(buf + len, n - (size_t)len, "\"}}");
	return len;
}

static int make_event_body(const struct pub *p, int i, char *buf, size_t n)
{
	char at[96];
	iso_now(at);
	/* --people N: the person of event i is person i mod N (else i). */
	int q = p->people > 0 ? i % p->people : i;
	if (p->invalid) {
		/* --invalid: input the gateway must quarantine, alternately input that
		 * does not decode and a contract violation (class.attended without
		 * its class_id). */
		if (i % 2 == 0)
			return snprintf(buf, n, "{\"id\":\"%s-%d\",\"type\":\"checkin.scanned\",\"properties\":{", p->prefix, i);
		return snprintf(buf, n,
			"{\"id\":\"%s-%d\",\"type\":\"class.attended\",\"occurred_at\":\"%s\",\"seq\":%d,"
			"\"properties\":{\"room\":\"b\"}}", p->prefix, i, at, i);
	}
	switch (i % 4) {
	case 0:
		return snprintf(buf, n,
			"{\"id\":\"%s-%d\",\"type\":\"checkin.scanned\",\"occurred_at\":\"%s\",\"seq\":%d,"
			"\"person\":{\"email\":\" Guest%d.%s@Example.com \",\"phone\":\"+49 30 %07d\","
			"\"customer_id\":\"MB-%d\",\"name\":\"Ana Lopez %d\",\"birth_date\":\"1990-01-02\"},"
			"\"properties\":{\"location\":\"door-1\"}}",
			p->prefix, i, at, i, q, p->prefix, 1000000 + q, q, q);
	case 1:
		return snprintf(buf, n,
			"{\"id\":\"%s-%d\",\"type\":\"payment.succeeded\",\"occurred_at\":\"%s\",\"seq\":%d,"
			"\"person\":{\"phone\":\"+34 612 %03d %03d\"},"
			"\"properties\":{\"amount_minor\":%d,\"currency\":\"EUR\","
			"\"note\":\"paid with 4111 1111 1111 1111 at till 2\"}}",
			p->prefix, i, at, i, q % 1000, (q / 1000) % 1000, 100 + i);
	case 2:
		return snprintf(buf, n,
			"{\"id\":\"%s-%d\",\"type\":\"class.attended\",\"occurred_at\":\"%s\",\"seq\":%d,"
			"\"person\":{\"email\":\"member%d.%s@example.org\",\"address\":{\"street\":\"Calle Mayor 1\"}},"
			"\"properties\":{\"class_id\":\"spin-0900\",\"comment\":\"ask member%d.%s@example.org\"}}",
			p->prefix, i, at, i, q, p->prefix, q, p->prefix);
	default:
		return snprintf(buf, n,
			"{\"id\":\"%s-%d\",\"type\":\"pos.order.completed\",\"occurred_at\":\"%s\",\"seq\":%d,"
			"\"person\":{\"loyalty_id\":\"L-%d\"},"
			"\"properties\":{\"order_id\":\"O-%d\",\"total_minor\":%d,\"currency\":\"EUR\","
			"\"card\":\"5555-5555-5555-4444\"}}",
			p->prefix, i, at, i, q, i, 250 + i);
	}
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	struct pub *p = ud;
	if (rc == 0)
		p->connected = 1;
	else
		p->dropped = 1;
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	(void)rc;
	struct pub *p = ud;
	p->dropped = 1;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	struct pub *p = ud;
	int i = p->mid_to_idx[mid & 0xffff];
	if (i < 0 || p->state[i] != INFLIGHT)
		return;
	p->state[i] = ACKED;
	p->mid_to_idx[mid & 0xffff] = -1;
	p->acked++;
	p->inflight--;
	double now = now_s();
	p->latency[p->latencies++] = now - p->sent_at[i];
	if (p->latency_file)
		fprintf(p->latency_file, "%.6f %.3f\n", now, (now - p->sent_at[i]) * 1e3);
	if (p->acked_file) {
		fprintf(p->acked_file, "%s-%d\n", p->prefix, i);
		fflush(p->acked_file);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fputs("Usage: vg_pub --port P --user U --password PW [--device D] [--count N]\n"
	      "              [--inflight K] [--rate EV_PER_S] [--prefix ID] [--acked FILE]\n"
	      "              [--deadline S] [--topic-device D2] [--host H] [--pad BYTES]\n"
	      "              [--invalid] [--latency-log FILE] [--people N]\n"
	      "Publishes N events as device D (default: the user name) on\n"
	      "venue/v1/<D2 or D>/events with QoS 1; writes each acknowledged event id to\n"
	      "FILE; resends unacknowledged events after reconnecting; exits 0 when all N\n"
	      "were acknowledged, 1 at the deadline otherwise.  --invalid: every event is\n"
	      "input to quarantine (alternately bad JSON and a contract violation).\n"
	      "--people N: event i's person is person i mod N (several events per person).\n"
	      "--latency-log: one line per PUBACK, \"<CLOCK_MONOTONIC seconds> <ms since publish>\".\n"
	      "Prints a summary line:\n"
	      "  acked=N publishes=M reconnects=R seconds=S rate=EV/S ack_p50_ms= ack_p99_ms=\n",
	      stderr);
}

int main(int argc, char **argv)
{
	struct pub p = { .host = "127.0.0.1", .port = 0, .count = 100, .inflight_max = 20,
	                 .prefix = "ev", .deadline_s = 120 };
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' }, { "password", required_argument, NULL, 'P' },
		{ "device", required_argument, NULL, 'd' }, { "count", required_argument, NULL, 'n' },
		{ "inflight", required_argument, NULL, 'k' }, { "rate", required_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'x' }, { "acked", required_argument, NULL, 'a' },
		{ "deadline", required_argument, NULL, 't' },
		{ "topic-device", required_argument, NULL, 'T' }, { "pad", required_argument, NULL, 'D' },
		{ "invalid", no_argument, NULL, 'I' }, { "latency-log", required_argument, NULL, 'L' },
		{ "people", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H': p.host = optarg; break;
		case 'p': p.port = atoi(optarg); break;
		case 'u': p.user = optarg; break;
		case 'P': p.password = optarg; break;
		case 'd': p.device = optarg; break;
		case 'n': p.count = atoi(optarg); break;
		case 'k': p.inflight_max = atoi(optarg); break;
		case 'r': p.rate = atof(optarg); break;
		case 'x': p.prefix = optarg; break;
		case 'a': p.acked_path = optarg; break;
		case 'D': p.pad = atoi(optarg); break;
		case 't': p.deadline_s = atof(optarg); break;
		case 'T': p.topic_device = optarg; break;
		case 'I': p.invalid = 1; break;
		case 'L': p.latency_path = optarg; break;
		case 'N': p.people = atoi(optarg); break;
		default: usage(); return 2;
		}
	}
	if (!p.port || !p.user || p.count <= 0 || p.inflight_max <= 0 || p.inflight_max > 60000) {
		usage();
		return 2;
	}
	if (!p.device)
		p.device = p.user;
	if (!p.topic_device)
		p.topic_device = p.device;
	p.state = calloc((size_t)p.count, 1);
	p.sent_at = calloc((size_t)p.count, sizeof *p.sent_at);
	p.latency = calloc((size_t)p.count, sizeof *p.latency);
	p.mid_to_idx = malloc(65536 * sizeof *p.mid_to_idx);
	if (!p.state || !p.sent_at || !p.latency || !p.mid_to_idx)
		return 1;
	if (p.acked_path && !(p.acked_file = fopen(p.acked_path, "a"))) {
		perror(p.acked_path);
		return 1;
	}
	if (p.latency_path && !(p.latency_file = fopen(p.latency_path, "w"))) {
		perror(p.latency_path);
		return 1;
	}
	char topic[160];
	snprintf(topic, sizeof topic, "venue/v1/%s/events", p.topic_device);
	mosquitto_lib_init();

	double start = now_s(), deadline = start + p.deadline_s;
	struct mosquitto *m = NULL;
	char payload[40000];
	while (p.acked < p.count && now_s() < deadline) {
		if (!m) {
			for (int i = 0; i < 65536; i++)
				p.mid_to_idx[i] = -1;
			char client_id[96];
			snprintf(client_id, sizeof client_id, "%s-%s-%d", p.device, p.prefix, p.reconnects);
			m = mosquitto_new(client_id, true, &p);
			if (!m)
				return 1;
			mosquitto_username_pw_set(m, p.user, p.password);
			mosquitto_connect_callback_set(m, on_connect);
			mosquitto_disconnect_callback_set(m, on_disconnect);
			mosquitto_publish_callback_set(m, on_publish);
			mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, p.inflight_max);
			mosquitto_max_inflight_messages_set(m, (unsigned)p.inflight_max);
			p.connected = p.dropped = 0;
			if (mosquitto_connect(m, p.host, p.port, 30) != MOSQ_ERR_SUCCESS) {
				mosquitto_destroy(m);
				m = NULL;
				usleep(100000);
				continue;
			}
		}
		if (p.connected) {
			double elapsed = now_s() - start;
			while (p.inflight < p.inflight_max && p.cursor < p.count) {
				if (p.rate > 0 && (double)p.publishes >= p.rate * elapsed)
					break;
				int i = p.cursor;
				if (p.state[i] != UNSENT) {
					p.cursor++;
					continue;
				}
				int n = make_event(&p, i, payload, sizeof payload);
				int mid;
				if (mosquitto_publish(m, &mid, topic, n, payload, 1, false) != MOSQ_ERR_SUCCESS) {
					p.dropped = 1;
					break;
				}
				p.state[i] = INFLIGHT;
				p.sent_at[i] = now_s();
				p.mid_to_idx[mid & 0xffff] = i;
				p.inflight++;
				p.publishes++;
				p.cursor++;
			}
		}
		int rc = mosquitto_loop(m, p.rate > 0 ? 5 : 20, 1);
		if (rc != MOSQ_ERR_SUCCESS || p.dropped) {
			/* Resend everything not acknowledged, on a fresh connection. */
			for (int i = 0; i < p.count; i++) {
				if (p.state[i] == INFLIGHT) {
					p.state[i] = UNSENT;
					if (i < p.cursor)
						p.cursor = i;
				}
			}
			p.inflight = 0;
			mosquitto_destroy(m);
			m = NULL;
			p.reconnects++;
			usleep(50000);
		}
	}
	if (m) {
		mosquitto_disconnect(m);
		mosquitto_loop(m, 100, 1);
		mosquitto_destroy(m);
	}
	double secs = now_s() - start;
	qsort(p.latency, (size_t)p.latencies, sizeof *p.latency, cmp_double);
	double p50 = p.latencies ? p.latency[p.latencies / 2] : 0;
	double p99 = p.latencies ? p.latency[(int)((double)p.latencies * 0.99)] : 0;
	printf("acked=%d publishes=%lld reconnects=%d seconds=%.3f rate=%.1f ack_p50_ms=%.3f ack_p99_ms=%.3f\n",
	       p.acked, p.publishes, p.reconnects, secs, p.acked / (secs > 0 ? secs : 1), p50 * 1e3, p99 * 1e3);
	if (p.acked_file)
		fclose(p.acked_file);
	if (p.latency_file)
		fclose(p.latency_file);
	mosquitto_lib_cleanup();
	return p.acked == p.count ? 0 : 1;
}
