/* vg_pair_pub — a device of an active-active pair: Eclipse Paho's MQTT C
 * client (libpaho-mqtt3c) with a list of servers, publishing events with
 * QoS 1 and failing over between the pair's brokers.
 *
 *   vg_pair_pub --server tcp://127.0.0.1:P1 --server tcp://127.0.0.1:P2
 *               --user U --password PW --device D --count N --prefix ID
 *               --acked FILE [--deadline S] [--reconnect-every K]
 *
 * Event i has the id PREFIX-i; it is published until a broker acknowledges
 * it (PUBACK), then its id is written to FILE.  When a connection is lost,
 * Paho's connect tries the servers in order, and the unacknowledged event is
 * sent again with the same id (so a gateway may capture it twice; both give
 * it one messageId).  --reconnect-every K: after every K acknowledged events
 * the device disconnects cleanly and connects again (to the first server of
 * the list that answers).  Prints "acked=N failovers=F seconds=S" (failovers:
 * connections lost) and exits 0 when all N were acknowledged, 1 at the
 * deadline. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTClient.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

/* With callbacks set, Paho runs a receive thread; the PUBACK's callback
 * wakes the publisher (MQTTClient_waitForCompletion checks only every
 * 100 ms). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static MQTTClient_deliveryToken acked_tok = -1;
static int lost;

static void on_lost(void *ctx, char *cause)
{
	(void)ctx;
	(void)cause;
	pthread_mutex_lock(&mu);
	lost = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static int on_message(void *ctx, char *topic, int len, MQTTClient_message *m)
{
	(void)ctx;
	(void)len;
	MQTTClient_freeMessage(&m);
	MQTTClient_free(topic);
	return 1;
}

static void on_delivered(void *ctx, MQTTClient_deliveryToken tok)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	acked_tok = tok;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Wait up to ms for tok's PUBACK: MQTTCLIENT_SUCCESS, or a failure (the
 * connection was lost, or no PUBACK in time). */
static int wait_ack(MQTTClient_deliveryToken tok, long ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int rc = MQTTCLIENT_FAILURE;
	pthread_mutex_lock(&mu);
	while (acked_tok != tok && !lost)
		if (pthread_cond_timedwait(&cv, &mu, &until) != 0)
			break;
	if (acked_tok == tok)
		rc = MQTTCLIENT_SUCCESS;
	pthread_mutex_unlock(&mu);
	return rc;
}

int main(int argc, char **argv)
{
	char *servers[8];
	int nservers = 0, count = 100;
	const char *user = NULL, *password = NULL, *device = NULL, *prefix = "pair", *acked_path = NULL;
	double deadline = 120;
	int reconnect_every = 0;
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'P' }, { "device", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' }, { "prefix", required_argument, NULL, 'x' },
		{ "acked", required_argument, NULL, 'a' }, { "deadline", required_argument, NULL, 't' },
		{ "reconnect-every", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (nservers < 8)
				servers[nservers++] = optarg;
			break;
		case 'u': user = optarg; break;
		case 'P': password = optarg; break;
		case 'd': device = optarg; break;
		case 'n': count = atoi(optarg); break;
		case 'x': prefix = optarg; break;
		case 'a': acked_path = optarg; break;
		case 't': deadline = atof(optarg); break;
		case 'r': reconnect_every = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: vg_pair_pub --server URI... --user U --password PW [--device D] --count N"
			                " --prefix ID --acked FILE [--deadline S]\n");
			return 2;
		}
	}
	if (!nservers || !user || !password || !acked_path) {
		fprintf(stderr, "vg_pair_pub: --server, --user, --password and --acked are required\n");
		return 2;
	}
	if (!device)
		device = user;
	FILE *acked = fopen(acked_path, "w");
	if (!acked) {
		perror(acked_path);
		return 2;
	}
	char topic[128], client_id[128];
	snprintf(topic, sizeof topic, "venue/v1/%s/events", device);
	snprintf(client_id, sizeof client_id, "%s-pair-pub", device);
	MQTTClient cl;
	if (MQTTClient_create(&cl, servers[0], client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTCLIENT_SUCCESS) {
		fprintf(stderr, "vg_pair_pub: cannot create the client\n");
		return 2;
	}
	MQTTClient_setCallbacks(cl, NULL, on_lost, on_message, on_delivered);
	MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
	co.keepAliveInterval = 5;
	co.cleansession = 1;
	co.username = user;
	co.password = password;
	co.serverURIs = servers;
	co.serverURIcount = nservers;
	co.connectTimeout = 2;
	double t0 = now_s(), end = t0 + deadline;
	int connected = 0, failovers = 0, done = 0;
	while (done < count && now_s() < end) {
		if (!connected) {
			if (MQTTClient_connect(cl, &co) != MQTTCLIENT_SUCCESS) {
				sleep_ms(100);
				continue;
			}
			connected = 1;
			pthread_mutex_lock(&mu);
			lost = 0;
			pthread_mutex_unlock(&mu);
		}
		char body[512], at[32];
		time_t t = time(NULL);
		struct tm tm;
		strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		int n = snprintf(body, sizeof body,
			"{\"id\":\"%s-%d\",\"type\":\"checkin.scanned\",\"occurred_at\":\"%s\",\"seq\":%d,"
			"\"person\":{\"customer_id\":\"MB-%d\"},\"properties\":{\"location\":\"door-%d\"}}",
			prefix, done, at, done, done % 50, done % 3);
		MQTTClient_deliveryToken tok;
		pthread_mutex_lock(&mu);
		acked_tok = -1; /* only this publish's PUBACK counts (ids are reused) */
		pthread_mutex_unlock(&mu);
		int rc = MQTTClient_publish(cl, topic, n, body, 1, 0, &tok);
		if (rc == MQTTCLIENT_SUCCESS)
			rc = wait_ack(tok, 3000);
		if (rc != MQTTCLIENT_SUCCESS) {
			/* Lost (or no PUBACK in time): connect again, to whichever of
			 * the servers answers first in the list, and resend. */
			fprintf(stderr, "vg_pair_pub %s: event %d: %s; connecting again\n", device, done,
			        rc == MQTTCLIENT_DISCONNECTED ? "disconnected" : "no PUBACK");
			MQTTClient_disconnect(cl, 0);
			connected = 0;
			failovers++;
			continue;
		}
		fprintf(acked, "%s-%d\n", prefix, done);
		fflush(acked);
		done++;
		if (reconnect_every > 0 && done % reconnect_every == 0) {
			/* A clean reconnect: back to the first server of the list
			 * that answers. */
			MQTTClient_disconnect(cl, 0); /* every event is acknowledged: nothing to wait for */
			connected = 0;
		}
	}
	if (connected)
		MQTTClient_disconnect(cl, 1000);
	MQTTClient_destroy(&cl);
	fclose(acked);
	printf("acked=%d failovers=%d seconds=%.1f\n", done, failovers, now_s() - t0);
	return done == count ? 0 : 1;
}
