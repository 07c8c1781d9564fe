#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "err.h"
#include "pii.h"

enum ktype { K_STR, K_INT, K_ENUM, K_ID, K_PATH, K_URL };

struct key {
	const char *section;
	const char *name;
	enum ktype type;
	size_t offset;
	size_t size;            /* strings: buffer size */
	long min, max;          /* ints */
	const char *def;        /* default as text; NULL = required */
	const char *const *choices; /* enums: NULL-terminated, index = value */
	int reloadable;         /* SIGHUP may change it */
	const char *doc;
};

static const char *const durability_names[] = { "full", "os", NULL };
static const char *const on_full_names[] = { "backpressure", "drop_oldest", NULL };
/* In enum vg_policy's order (pii.h). */
static const char *const policy_names[] = { "token", "sha256", "drop", "keep", NULL };
static const char *const unknown_names[] = { "drop", "quarantine", NULL };
static const char *const output_names[] = { "segment", "kafka", NULL };
const char *const vg_kafka_security_names[] = { "plaintext", "ssl", "sasl_plaintext", "sasl_ssl", NULL };
const char *const vg_kafka_sasl_names[] = { "none", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL };
const char *const vg_kafka_compression_names[] = { "none", "gzip", "snappy", "lz4", "zstd", NULL };

#define S(sec, k, t, field, def, rl, doc) \
	{ sec, #k, t, offsetof(struct vg_config, field), \
	  sizeof(((struct vg_config *)0)->field), 0, 0, def, NULL, rl, doc }
#define I(sec, field, lo, hi, def, rl, doc) \
	{ sec, #field, K_INT, offsetof(struct vg_config, field), 0, lo, hi, def, NULL, rl, doc }
#define IK(sec, k, field, lo, hi, def, rl, doc) \
	{ sec, #k, K_INT, offsetof(struct vg_config, field), 0, lo, hi, def, NULL, rl, doc }
#define EK(sec, k, field, names, def, rl, doc) \
	{ sec, #k, K_ENUM, offsetof(struct vg_config, field), 0, 0, 0, def, names, rl, doc }
#define E(sec, field, names, def, rl, doc) \
	{ sec, #field, K_ENUM, offsetof(struct vg_config, field), 0, 0, 0, def, names, rl, doc }

static const struct key keys[] = {
	S("gateway", venue_id, K_ID, venue_id, NULL, 0,
	  "the venue's stable id ([A-Za-z0-9._-], at most 64); never changes after provisioning"),
	S("gateway", gateway_id, K_ID, gateway_id, "", 0,
	  "this gateway's id in context.venuegw (default: <venue_id>-gw)"),
	S("gateway", data_dir, K_PATH, data_dir, "/var/lib/venuegw", 0,
	  "absolute directory holding buffer.db"),
	E("gateway", durability, durability_names, "full", 0,
	  "full: an ack survives power loss (fsync per commit); os: survives process crashes only"),
	I("gateway", default_country_code, 0, 999, "0", 0,
	  "calling code for phone numbers without one (49 = Germany); 0: such numbers are dropped"),
	S("gateway", timezone, K_STR, timezone, "", 0,
	  "IANA zone for device timestamps without an offset; empty: such timestamps are rejected"),
	I("gateway", max_future_skew_s, 0, 86400, "300", 0,
	  "device times further ahead than this are replaced by the receive time (clock synced only)"),
	I("gateway", max_past_age_d, 1, 3650, "30", 0,
	  "device times older than this many days are replaced by the receive time (clock synced only)"),
	I("gateway", dedup_retention_h, 1, 24 * 365, "168", 1,
	  "hours the keys of forwarded events are kept to recognise late retransmissions"),
	I("gateway", max_buffer_mb, 16, 1024 * 1024, "1024", 0,
	  "disk cap for buffer.db's pages in MiB (the WAL adds up to 64 MiB between checkpoints); at the"
	  " cap the keys of forwarded events go first, shortening their de-duplication window"),
	E("gateway", on_full, on_full_names, "backpressure", 0,
	  "at the cap: backpressure (stop acknowledging; devices keep their events) or drop_oldest (the"
	  " oldest pending events, counted; never consent or erasure, never a batch in flight)"),
	I("gateway", checkpoint_interval_ms, 100, 600000, "1000", 1,
	  "how often the daemon checkpoints buffer.db's WAL (passive)"),
	I("gateway", reconciliation_interval_s, 10, 86400, "3600", 1,
	  "period of the gateway.reconciliation event (per device: committed, forwarded, quarantined, dropped)"),
	I("gateway", commit_interval_ms, 1, 10000, "50", 0,
	  "serial input: how long a group commit collects events before one fsync'd COMMIT"),
	I("gateway", commit_max_events, 1, 10000, "256", 0,
	  "serial input: events in one group commit at most"),
	I("capture", quarantine_rate_per_min, 1, 100000, "60", 0,
	  "quarantine rows stored per device per minute; beyond this a flood is counted, not stored"),
	I("capture", quarantine_burst, 1, 100000, "30", 0,
	  "quarantine rows a device may store in a burst before the rate applies"),
	S("contracts", plan, K_PATH, plan_path, "/usr/share/venuegw/plan.json", 1,
	  "the tracking plan: each event type's JSON Schema with an x-pii class per field; what it does not"
	  " declare never passes (venuegw plan check FILE lints one)"),
	E("contracts", unknown, unknown_names, "drop", 1,
	  "members the plan does not declare: drop (counted per device, type and path) | quarantine the event"),
	I("capture", quarantine_max_mb, 0, 1024 * 1024, "0", 0,
	  "the quarantine's share of max_buffer_mb in MiB (0: a tenth of it); at the share new quarantine"
	  " rows are counted in quarantine_overflow, never stored, and events are never refused for it"),
	I("capture", quarantine_retention_d, 1, 3650, "30", 1,
	  "days quarantined input is kept; the daemon purges older rows"),
	S("cdp", endpoint, K_URL, endpoint, "", 0,
	  "the CDP base URL; batches go to <endpoint>/v1/batch (https, or http on loopback only)"),
	S("cdp", write_key_file, K_PATH, write_key_file, "/etc/venuegw/write_key", 1,
	  "file whose first line is the CDP write key"),
	S("cdp", ca_file, K_STR, ca_file, "", 0,
	  "CA bundle to verify the CDP with; empty: the system's CA store"),
	S("cdp", client_cert, K_PATH, client_cert, "", 0,
	  "client certificate (PEM) for mutual TLS with the CDP; empty: none"),
	S("cdp", client_key, K_PATH, client_key, "", 0,
	  "the client certificate's private key (PEM)"),
	S("cdp", proxy, K_STR, proxy, "", 0,
	  "HTTP(S) proxy for the CDP link (http://host:port); empty: none (proxy variables are ignored)"),
	I("cdp", max_in_flight, 1, 8, "2", 0,
	  "batches sent concurrently"),
	I("cdp", max_batch_kb, 1, 500, "500", 1,
	  "uncompressed size of a batch at most, in KB"),
	I("cdp", max_backoff_s, 1, 86400, "300", 1,
	  "longest wait between retries of a batch"),
	I("cdp", timeout_s, 1, 600, "30", 0,
	  "time limit of one request to the CDP"),
	I("cdp", max_batch_events, 1, 2500, "2500", 1,
	  "events per batch at most"),
	I("cdp", flush_interval_ms, 10, 600000, "1000", 1,
	  "how long a partial batch may wait for more events"),
	EK("output", kind, output, output_names, "segment", 0,
	  "where events go: segment (a Segment /v1/batch endpoint, [cdp]) | kafka (one record per event, [kafka])"),
	S("kafka", brokers, K_STR, kafka_brokers, "", 0,
	  "bootstrap brokers, host:port[,host:port...]; required with [output] kind = kafka"),
	S("kafka", topic, K_STR, kafka_topic, "", 0,
	  "the topic every event goes to (1-249 of A-Z a-z 0-9 . _ -); required with kind = kafka"),
	S("kafka", client_id, K_STR, kafka_client_id, "", 0,
	  "the producer's client.id (default: venuegw-<gateway_id>)"),
	EK("kafka", security_protocol, kafka_security, vg_kafka_security_names, "ssl", 0,
	  "plaintext | ssl | sasl_plaintext | sasl_ssl; the plaintext ones only when every broker is a"
	  " loopback address"),
	S("kafka", ssl_ca_file, K_PATH, kafka_ssl_ca_file, "", 0,
	  "CA bundle (PEM) to verify the brokers with; empty: the system's CA store"),
	S("kafka", ssl_cert_file, K_PATH, kafka_ssl_cert_file, "", 0,
	  "client certificate (PEM) for mutual TLS with the brokers; empty: none"),
	S("kafka", ssl_key_file, K_PATH, kafka_ssl_key_file, "", 0,
	  "the client certificate's private key (PEM)"),
	EK("kafka", sasl_mechanism, kafka_sasl_mechanism, vg_kafka_sasl_names, "none", 0,
	  "none | PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512; required with the sasl_ protocols"),
	S("kafka", sasl_username, K_STR, kafka_sasl_username, "", 0,
	  "the SASL user name"),
	S("kafka", sasl_password_file, K_PATH, kafka_sasl_password_file, "", 0,
	  "file whose first line is the SASL password (read when the daemon starts)"),
	EK("kafka", compression, kafka_compression, vg_kafka_compression_names, "gzip", 0,
	  "compression of the record batches: none | gzip | snappy | lz4 | zstd"),
	S("mqtt", host, K_STR, mqtt_host, "127.0.0.1", 0,
	  "our broker, for the daemon's gateway status (venue/v1/_gateway/status)"),
	IK("mqtt", port, mqtt_port, 1, 65535, "1884", 0,
	  "our broker's plain listener on 127.0.0.1 (1884: the system's mosquitto.service keeps 1883)"),
	S("mqtt", username, K_ID, mqtt_username, "venuegw", 0,
	  "the daemon's MQTT user name"),
	S("mqtt", password_file, K_PATH, mqtt_password_file, "", 0,
	  "file whose first line is the daemon's MQTT password; empty: none"),
	IK("mqtt", status_interval_s, status_interval_s, 1, 3600, "30", 1,
	  "how often the daemon republishes its retained status"),
	EK("privacy", email, pol_email, policy_names, "token", 0,
	  "fields of class email: token | sha256 (plain SHA-256, weaker: guessable) | drop | keep (raw, explicit only)"),
	EK("privacy", phone, pol_phone, policy_names, "token", 0,
	  "fields of class phone (E.164): token | sha256 | drop | keep"),
	EK("privacy", customer_id, pol_customer_id, policy_names, "keep", 0,
	  "fields of class customer_id (a system identifier, the CDP's join key): keep | token | sha256 | drop"),
	EK("privacy", loyalty_id, pol_loyalty_id, policy_names, "keep", 0,
	  "fields of class loyalty_id: keep | token | sha256 | drop"),
	EK("privacy", member_code, pol_member_code, policy_names, "keep", 0,
	  "fields of class member_code: keep | token | sha256 | drop"),
	EK("privacy", payment_customer_id, pol_payment_customer_id, policy_names, "token", 0,
	  "fields of class payment_customer_id (a financial handle, never the userId): token | sha256 | drop"),
	S("tokens", key_file, K_PATH, key_file, "/etc/venuegw/token_keys", 0,
	  "token key file: '<version> <64 hex> [activate_at=<ISO 8601>]' per line"),
	IK("tokens", rotation_overlap_h, rotation_overlap_h, 0, 8760, "168", 0,
	  "after a key becomes current, hours during which the previous key's tokens are sent too"),
	S("metrics", listen, K_STR, listen, "127.0.0.1:9478", 0,
	  "address:port of the metrics (/metrics) and status page (/) server; empty: no server"),
	S("metrics", password_file, K_PATH, metrics_password_file, "", 0,
	  "file whose first line is the password of the page and /metrics (HTTP Basic, any user name);"
	  " required when listen is not a loopback address"),
	S("broker", passwd_file, K_PATH, broker_passwd_file, "/etc/venuegw/passwd", 0,
	  "our broker's password file (device add|remove|disable edit it)"),
	S("broker", acl_file, K_PATH, broker_acl_file, "/etc/venuegw/acl", 0,
	  "our broker's ACL file (DESIGN.md section 2)"),
	S("broker", conf_dir, K_PATH, broker_conf_dir, "/etc/venuegw/broker.d", 0,
	  "directory the broker includes (include_dir); provision writes the TLS listener there"),
	S("broker", tls_dir, K_PATH, broker_tls_dir, "/etc/venuegw/tls", 0,
	  "the LAN CA, the broker's server certificate and issued client certificates"),
	S("broker", pid_file, K_PATH, broker_pid_file, "/run/venuegw/broker.pid", 0,
	  "the broker's pid_file: device changes are applied by sending it SIGHUP"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

struct parse_state {
	struct vg_config *cfg;
	const char *name;
	char *err;
	size_t errsz;
	int failed;
	int line;               /* the line inih is on (counted by our reader) */
	int err_line;           /* the line of the first recorded error */
	char msg[384];
	/* the input: a FILE or a string */
	FILE *file;
	const char *text;
	unsigned char seen[NKEYS];
	int key_line[NKEYS];    /* where each key was set */
};

/* Record the first error with the line it is on.  inih (as Debian builds
 * it) does not pass line numbers to the handler, so our reader counts lines. */
__attribute__((format(printf, 4, 5)))
static void fail(struct parse_state *st, const char *section, const char *key, const char *fmt, ...)
{
	if (st->failed)
		return;
	st->failed = 1;
	st->err_line = st->line;
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (key)
		snprintf(st->msg, sizeof st->msg, "[%s] %s: %s", section, key, what);
	else
		snprintf(st->msg, sizeof st->msg, "%s", what);
}

int vg_config_quarantine_max_mb(const struct vg_config *cfg)
{
	if (cfg->quarantine_max_mb > 0)
		return cfg->quarantine_max_mb;
	return cfg->max_buffer_mb / 10 > 0 ? cfg->max_buffer_mb / 10 : 1;
}

int vg_config_valid_id(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int loopback_host(const char *h, size_t n)
{
	if (n == 9 && strncmp(h, "localhost", 9) == 0)
		return 1;
	if (n == 5 && strncmp(h, "[::1]", 5) == 0)
		return 1;
	if (n >= 4 && n < INET_ADDRSTRLEN && strncmp(h, "127.", 4) == 0) {
		/* A dotted quad, not a name a resolver would look up. */
		char a[INET_ADDRSTRLEN];
		struct in_addr in;
		memcpy(a, h, n);
		a[n] = '\0';
		return inet_pton(AF_INET, a, &in) == 1;
	}
	return 0;
}

const char *vg_config_check_brokers(const char *brokers, int *all_loopback)
{
	*all_loopback = 1;
	if (!*brokers)
		return "is empty";
	int n = 0;
	const char *p = brokers;
	for (;;) {
		size_t len = strcspn(p, ",");
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!len)
			return "has an empty entry (expected host:port[,host:port...])";
		if (++n > 16)
			return "lists more than 16 brokers";
		for (size_t i = 0; i < len; i++)
			if (p[i] <= ' ' || p[i] == 0x7f || p[i] == '/' || p[i] == '@')
				return "an entry holds a space, a control character, '/' or '@' (expected host:port)";
		const char *colon = NULL;
		size_t hostlen;
		if (*p == '[') {
			const char *close = memchr(p, ']', len);
			if (!close)
				return "an entry has an unterminated [IPv6] address";
			hostlen = (size_t)(close - p) + 1;
			if (hostlen < len && p[hostlen] == ':')
				colon = p + hostlen;
		} else {
			for (size_t i = 0; i < len; i++)
				if (p[i] == ':')
					colon = p + i;
			hostlen = colon ? (size_t)(colon - p) : len;
			if (colon && memchr(p, ':', hostlen))
				return "an entry has an IPv6 address without brackets (write [addr]:port)";
		}
		if (!hostlen || (*p == '[' && hostlen <= 2))
			return "an entry has no host";
		if (!colon || colon != p + hostlen)
			return "an entry has no port (expected host:port)";
		long port = 0;
		const char *d = colon + 1;
		size_t dl = len - hostlen - 1;
		if (!dl || dl > 5)
			return "an entry's port must be 1..65535";
		for (size_t i = 0; i < dl; i++) {
			if (d[i] < '0' || d[i] > '9')
				return "an entry's port must be 1..65535";
			port = port * 10 + (d[i] - '0');
		}
		if (port < 1 || port > 65535)
			return "an entry's port must be 1..65535";
		if (!loopback_host(p, hostlen))
			*all_loopback = 0;
		p += strcspn(p, ",");
		if (!*p)
			break;
		p++;
	}
	return NULL;
}

/* "" or https://host[:port][/path] or http://<loopback>[:port][/path]. */
static const char *check_url(const char *v)
{
	if (!*v)
		return NULL;
	const char *host;
	int https = 0;
	if (strncmp(v, "https://", 8) == 0) {
		host = v + 8;
		https = 1;
	} else if (strncmp(v, "http://", 7) == 0) {
		host = v + 7;
	} else {
		return "must start with https:// (or http:// for a loopback address)";
	}
	size_t auth = strcspn(host, "/?#");
	if (memchr(host, '@', auth))
		return "must not hold a user name or password (the write key goes in write_key_file)";
	size_t n;
	if (*host == '[') {
		const char *close = strchr(host, ']');
		if (!close)
			return "unterminated IPv6 address";
		n = (size_t)(close - host) + 1;
	} else {
		n = strcspn(host, ":/?#");
	}
	if (n == 0)
		return "has no host";
	for (const char *p = v; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return "contains spaces or control characters";
	if (!https && !loopback_host(host, n))
		return "plain http:// is accepted only for loopback addresses (127.0.0.0/8, ::1, localhost); use https://";
	return NULL;
}

static int set_value(struct parse_state *st, const struct key *k, const char *value)
{
	char *base = (char *)st->cfg;
	switch (k->type) {
	case K_STR:
	case K_ID:
	case K_PATH:
	case K_URL: {
		size_t n = strlen(value);
		if (n >= k->size) {
			char lim[32];
			snprintf(lim, sizeof lim, "%zu", k->size - 1);
			fail(st, k->section, k->name, "value longer than %s bytes", lim);
			return 0;
		}
		if (k->type == K_ID && n > 0 && !vg_config_valid_id(value)) {
			fail(st, k->section, k->name,
			     "%s", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
			return 0;
		}
		if (k->type == K_PATH && n > 0 && value[0] != '/') {
			fail(st, k->section, k->name, "%s", "must be an absolute path");
			return 0;
		}
		if (k->type == K_URL) {
			const char *why = check_url(value);
			if (why) {
				fail(st, k->section, k->name, "%s", why);
				return 0;
			}
		}
		memcpy(base + k->offset, value, n + 1);
		return 1;
	}
	case K_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < k->min || v > k->max) {
			char range[64];
			snprintf(range, sizeof range, "%ld..%ld", k->min, k->max);
			fail(st, k->section, k->name, "must be a whole number in %s", range);
			return 0;
		}
		*(int *)(base + k->offset) = (int)v;
		return 1;
	}
	case K_ENUM:
		for (int i = 0; k->choices[i]; i++) {
			if (strcmp(value, k->choices[i]) == 0) {
				*(int *)(base + k->offset) = i;
				return 1;
			}
		}
		{
			char list[128] = "";
			for (int i = 0; k->choices[i]; i++) {
				if (i)
					strncat(list, " | ", sizeof list - strlen(list) - 1);
				strncat(list, k->choices[i], sizeof list - strlen(list) - 1);
			}
			fail(st, k->section, k->name, "must be one of: %s", list);
		}
		return 0;
	}
	return 0;
}

/* [serial.NAME] and [hid.NAME]: one port each. */
static int port_entry(struct parse_state *st, const char *section, const char *name, const char *value)
{
	struct vg_config *cfg = st->cfg;
	int hid = strncmp(section, "hid.", 4) == 0;
	const char *pname = section + (hid ? 4 : 7);
	struct vg_port_cfg *p = NULL;
	for (int i = 0; i < cfg->nports; i++)
		if (strcmp(cfg->ports[i].name, pname) == 0 && cfg->ports[i].hid == hid)
			p = &cfg->ports[i];
	if (!p) {
		if (!*pname || strlen(pname) >= sizeof p->name || !vg_config_valid_id(pname)) {
			fail(st, section, name, "%s", "a port's name must be 1-31 of A-Z a-z 0-9 . _ -");
			return 0;
		}
		if (cfg->nports == VG_MAX_PORTS) {
			fail(st, section, name, "more than %d ports", VG_MAX_PORTS);
			return 0;
		}
		p = &cfg->ports[cfg->nports++];
		memset(p, 0, sizeof *p);
		snprintf(p->name, sizeof p->name, "%s", pname);
		p->hid = hid;
		p->line = st->line;
		p->baud = 9600;
		p->data_bits = 8;
		p->parity = 'N';
		p->stop_bits = 1;
		snprintf(p->driver, sizeof p->driver, "%s", hid ? "hid" : "");
	}
	size_t n = strlen(value);
	if (strcmp(name, "device") == 0) {
		if (n == 0 || n >= sizeof p->device || value[0] != '/') {
			fail(st, section, name, "%s", "must be an absolute path (prefer /dev/serial/by-id/...)");
			return 0;
		}
		memcpy(p->device, value, n + 1);
	} else if (strcmp(name, "device_id") == 0) {
		if (!vg_config_valid_id(value)) {
			fail(st, section, name, "%s", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
			return 0;
		}
		memcpy(p->device_id, value, n + 1);
	} else if (strcmp(name, "driver") == 0 && !hid) {
		if (strcmp(value, "scanner") && strcmp(value, "ndjson") && strcmp(value, "ecr")) {
			fail(st, section, name, "%s", "must be one of: scanner | ndjson | ecr");
			return 0;
		}
		memcpy(p->driver, value, n + 1);
	} else if (strcmp(name, "baud") == 0 && !hid) {
		static const int rates[] = { 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600 };
		char *end;
		long v = strtol(value, &end, 10);
		int ok = 0;
		for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
			ok |= !*end && v == rates[i];
		if (!ok) {
			fail(st, section, name, "%s", "must be a standard rate: 1200 ... 921600");
			return 0;
		}
		p->baud = (int)v;
	} else if (strcmp(name, "data_bits") == 0 && !hid) {
		if (strlen(value) != 1 || value[0] < '5' || value[0] > '8') {
			fail(st, section, name, "%s", "must be 5, 6, 7 or 8");
			return 0;
		}
		p->data_bits = value[0] - '0';
	} else if (strcmp(name, "parity") == 0 && !hid) {
		if (strcmp(value, "none") == 0)
			p->parity = 'N';
		else if (strcmp(value, "even") == 0)
			p->parity = 'E';
		else if (strcmp(value, "odd") == 0)
			p->parity = 'O';
		else {
			fail(st, section, name, "%s", "must be one of: none | even | odd");
			return 0;
		}
	} else if (strcmp(name, "stop_bits") == 0 && !hid) {
		if (strcmp(value, "1") && strcmp(value, "2")) {
			fail(st, section, name, "%s", "must be 1 or 2");
			return 0;
		}
		p->stop_bits = value[0] - '0';
	} else if (strcmp(name, "flow_control") == 0 && !hid) {
		if (strcmp(value, "none") == 0)
			p->flow_control = 0;
		else if (strcmp(value, "rtscts") == 0)
			p->flow_control = 1;
		else if (strcmp(value, "xonxoff") == 0)
			p->flow_control = 2;
		else {
			fail(st, section, name, "%s", "must be one of: none | rtscts | xonxoff");
			return 0;
		}
	} else {
		/* A driver option: the daemon has the driver check it. */
		for (int i = 0; i < p->nopts; i++) {
			if (strcmp(p->opts[i].key, name) == 0) {
				fail(st, section, name, "%s", "set twice");
				return 0;
			}
		}
		if (p->nopts == VG_PORT_MAX_OPTS || strlen(name) >= sizeof p->opts[0].key ||
		    n >= sizeof p->opts[0].value) {
			fail(st, section, name, "%s", "too many or too long driver options");
			return 0;
		}
		snprintf(p->opts[p->nopts].key, sizeof p->opts[0].key, "%s", name);
		memcpy(p->opts[p->nopts].value, value, n + 1);
		p->opts[p->nopts].line = st->line;
		p->nopts++;
	}
	return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	if (strncmp(section, "serial.", 7) == 0 || strncmp(section, "hid.", 4) == 0)
		return port_entry(st, section, name, value);
	int section_known = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		section_known = 1;
		if (strcmp(keys[i].name, name) != 0)
			continue;
		if (st->seen[i]) {
			fail(st, section, name, "%s", "set twice");
			return 0;
		}
		st->seen[i] = 1;
		st->key_line[i] = st->line;
		return set_value(st, &keys[i], value);
	}
	if (!*section)
		fail(st, "", name, "%s", "key outside any section");
	else if (!section_known)
		fail(st, section, name, "unknown section [%s]", section);
	else
		fail(st, section, name, "%s", "unknown key");
	return 0;
}

/* inih's reader: one line per call, counted.  inih (as Debian builds it)
 * has a 200-byte line buffer and would read a longer line as two lines,
 * silently cutting a value.  So whole lines are read here: comment lines and
 * inline comments of any length are dropped before inih sees them, and a
 * line still too long is an error at its own line, never a cut value. */
static char *reader(char *buf, int size, void *stream)
{
	struct parse_state *st = stream;
	char line[4096];
	size_t n = 0;
	int c = 0, overflow = 0;
	for (;;) {
		if (st->file) {
			c = fgetc(st->file);
			if (c == EOF)
				break;
		} else {
			c = (unsigned char)*st->text;
			if (!c)
				break;
			st->text++;
		}
		if (c == '\n')
			break;
		if (n < sizeof line - 1)
			line[n++] = (char)c;
		else
			overflow = 1;
	}
	if (n == 0 && c != '\n' && !overflow)
		return NULL; /* end of input */
	st->line++;
	line[n] = '\0';
	size_t lead = strspn(line, " \t");
	if (line[lead] == ';' || line[lead] == '#') {
		n = 0; /* a comment line */
	} else {
		/* An inline comment starts at ';' after white space (inih's rule). */
		for (size_t i = 1; i < n; i++) {
			if (line[i] == ';' && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
				n = i;
				break;
			}
		}
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
			n--;
	}
	if (overflow || n + 2 > (size_t)size) {
		char lim[16];
		snprintf(lim, sizeof lim, "%d", size - 2);
		fail(st, "", NULL, "line longer than %s bytes (not counting comments)", lim);
		n = 0;
	}
	memcpy(buf, line, n);
	buf[n] = '\n';
	buf[n + 1] = '\0';
	return buf;
}

void vg_config_defaults(struct vg_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	struct parse_state st = { .cfg = cfg, .name = "(defaults)" };
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].def)
			set_value(&st, &keys[i], keys[i].def);
}

const char *vg_config_parse_listen(const char *listen, char *addr, size_t addrsz, int *port, int *loopback)
{
	const char *colon;
	char host[64];
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return "must be [IPv6 address]:port";
		snprintf(host, sizeof host, "%.*s", (int)(close - listen - 1), listen + 1);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || colon == listen)
			return "must be address:port (for example 127.0.0.1:9478 or [::1]:9478)";
		snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
		if (strchr(host, ':'))
			return "an IPv6 address goes in brackets: [address]:port";
	}
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 1 || p > 65535)
		return "the port must be a number in 1..65535";
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	struct in_addr a4;
	struct in6_addr a6;
	int lo;
	if (inet_pton(AF_INET, host, &a4) == 1)
		lo = (ntohl(a4.s_addr) >> 24) == 127;
	else if (inet_pton(AF_INET6, host, &a6) == 1)
		lo = IN6_IS_ADDR_LOOPBACK(&a6);
	else
		return "the address must be numeric (IPv4, [IPv6]) or localhost";
	if (strlen(host) >= addrsz)
		return "the address is too long";
	snprintf(addr, addrsz, "%s", host);
	*port = (int)p;
	*loopback = lo;
	return NULL;
}

/* [metrics] listen is well formed; beyond loopback it needs a password. */
static int check_metrics(struct parse_state *st)
{
	struct vg_config *cfg = st->cfg;
	if (!cfg->listen[0])
		return 0;
	int line = 0;
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, "metrics") == 0 && strcmp(keys[i].name, "listen") == 0)
			line = st->key_line[i];
	char where[300];
	if (line > 0)
		snprintf(where, sizeof where, "%s:%d", st->name, line);
	else
		snprintf(where, sizeof where, "%s", st->name);
	char addr[64];
	int port, lo;
	const char *why = vg_config_parse_listen(cfg->listen, addr, sizeof addr, &port, &lo);
	if (why) {
		snprintf(st->err, st->errsz, "%s: [metrics] listen: %s", where, why);
		return 1;
	}
	if (!lo && !cfg->metrics_password_file[0]) {
		snprintf(st->err, st->errsz, "%s: [metrics] listen %s is not a loopback address: set [metrics]"
		         " password_file (the status page and /metrics then require HTTP Basic auth)", where,
		         cfg->listen);
		return 1;
	}
	return 0;
}

static int key_line(const struct parse_state *st, const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return st->key_line[i];
	return 0;
}

__attribute__((format(printf, 4, 5)))
static int kafka_error(struct parse_state *st, const char *key, int line_of_kind, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	int line = line_of_kind ? key_line(st, "output", "kind") : key_line(st, "kafka", key);
	if (line > 0)
		snprintf(st->err, st->errsz, "%s:%d: [%s] %s: %s", st->name, line, line_of_kind ? "output" : "kafka",
		         line_of_kind ? "kind" : key, what);
	else
		snprintf(st->err, st->errsz, "%s: [%s] %s: %s", st->name, line_of_kind ? "output" : "kafka",
		         line_of_kind ? "kind" : key, what);
	return 1;
}

/* [output] kind = kafka needs brokers and a topic; the plaintext protocols
 * only on loopback (like http:// for the CDP); SASL needs its mechanism,
 * user and password file, and a mechanism needs a sasl_ protocol. */
static int check_kafka(struct parse_state *st)
{
	struct vg_config *cfg = st->cfg;
	if (cfg->output != VG_OUTPUT_KAFKA)
		return 0;
	if (!cfg->kafka_brokers[0])
		return kafka_error(st, "brokers", 1, "kind = kafka needs [kafka] brokers (host:port[,host:port...])");
	int lo;
	const char *why = vg_config_check_brokers(cfg->kafka_brokers, &lo);
	if (why)
		return kafka_error(st, "brokers", 0, "%s", why);
	if (!cfg->kafka_topic[0])
		return kafka_error(st, "topic", 1, "kind = kafka needs [kafka] topic");
	size_t tn = strlen(cfg->kafka_topic);
	if (tn > 249 || strcmp(cfg->kafka_topic, ".") == 0 || strcmp(cfg->kafka_topic, "..") == 0)
		return kafka_error(st, "topic", 0, "must be 1-249 of A-Z a-z 0-9 . _ - (and not . or ..)");
	for (size_t i = 0; i < tn; i++) {
		char c = cfg->kafka_topic[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return kafka_error(st, "topic", 0, "must be 1-249 of A-Z a-z 0-9 . _ - (and not . or ..)");
	}
	for (const char *p = cfg->kafka_client_id; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return kafka_error(st, "client_id", 0, "contains spaces or control characters");
	int plain = cfg->kafka_security == VG_KAFKA_PLAINTEXT || cfg->kafka_security == VG_KAFKA_SASL_PLAINTEXT;
	int sasl = cfg->kafka_security == VG_KAFKA_SASL_PLAINTEXT || cfg->kafka_security == VG_KAFKA_SASL_SSL;
	if (plain && !lo)
		return kafka_error(st, "security_protocol", 0, "%s is accepted only when every broker is a loopback"
		                   " address (127.0.0.0/8, [::1], localhost); use ssl or sasl_ssl",
		                   vg_kafka_security_names[cfg->kafka_security]);
	if (plain && (cfg->kafka_ssl_ca_file[0] || cfg->kafka_ssl_cert_file[0]))
		return kafka_error(st, "security_protocol", 0, "%s uses no TLS, but ssl_ca_file or ssl_cert_file is set",
		                   vg_kafka_security_names[cfg->kafka_security]);
	if (!!cfg->kafka_ssl_cert_file[0] != !!cfg->kafka_ssl_key_file[0])
		return kafka_error(st, "ssl_cert_file", 0, "ssl_cert_file and ssl_key_file go together");
	if (sasl && cfg->kafka_sasl_mechanism == VG_KAFKA_SASL_NONE)
		return kafka_error(st, "sasl_mechanism", 0, "security_protocol = %s needs a mechanism: PLAIN |"
		                   " SCRAM-SHA-256 | SCRAM-SHA-512", vg_kafka_security_names[cfg->kafka_security]);
	if (!sasl && cfg->kafka_sasl_mechanism != VG_KAFKA_SASL_NONE)
		return kafka_error(st, "sasl_mechanism", 0, "%s is set, but security_protocol = %s uses no SASL"
		                   " (use sasl_ssl)", vg_kafka_sasl_names[cfg->kafka_sasl_mechanism],
		                   vg_kafka_security_names[cfg->kafka_security]);
	if (sasl && (!cfg->kafka_sasl_username[0] || !cfg->kafka_sasl_password_file[0]))
		return kafka_error(st, !cfg->kafka_sasl_username[0] ? "sasl_username" : "sasl_password_file", 0,
		                   "SASL needs sasl_username and sasl_password_file");
	if (!sasl && (cfg->kafka_sasl_username[0] || cfg->kafka_sasl_password_file[0]))
		return kafka_error(st, cfg->kafka_sasl_username[0] ? "sasl_username" : "sasl_password_file", 0,
		                   "is set, but security_protocol = %s uses no SASL",
		                   vg_kafka_security_names[cfg->kafka_security]);
	if (!cfg->kafka_client_id[0])
		snprintf(cfg->kafka_client_id, sizeof cfg->kafka_client_id, "venuegw-%s", cfg->gateway_id);
	return 0;
}

static int finish(struct parse_state *st, int rc)
{
	struct vg_config *cfg = st->cfg;
	/* inih returns the first failing line: a syntax error of its own when
	 * no error of ours came earlier. */
	if (rc > 0 && (!st->failed || rc < st->err_line)) {
		st->failed = 0;
		st->line = rc;
		fail(st, "", NULL, "%s", "syntax error (expected [section] or key = value)");
	} else if (rc < 0 && !st->failed) {
		fail(st, "", NULL, "%s", "cannot read the file");
	}
	if (st->failed) {
		if (st->err_line > 0)
			snprintf(st->err, st->errsz, "%s:%d: %s", st->name, st->err_line, st->msg);
		else
			snprintf(st->err, st->errsz, "%s: %s", st->name, st->msg);
		return VG_ERR_CONFIG;
	}
	for (size_t i = 0; !st->failed && i < NKEYS; i++) {
		const char *v = (const char *)cfg + keys[i].offset;
		if (!keys[i].def && (!st->seen[i] || (keys[i].type != K_INT && keys[i].type != K_ENUM && !*v))) {
			snprintf(st->err, st->errsz, "%s: [%s] %s is required (%s)", st->name,
			         keys[i].section, keys[i].name, keys[i].doc);
			st->failed = 1;
		}
	}
	if (st->failed)
		return VG_ERR_CONFIG;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, "privacy") != 0 || !st->seen[i])
			continue;
		if (strcmp(keys[i].name, "email") == 0)
			cfg->pol_email_set = 1;
		if (strcmp(keys[i].name, "phone") == 0)
			cfg->pol_phone_set = 1;
	}
	for (int i = 0; i < cfg->nports; i++) {
		struct vg_port_cfg *p = &cfg->ports[i];
		for (int j = 0; j < i; j++) {
			if (strcmp(cfg->ports[j].device_id, p->device_id) == 0 && p->device_id[0]) {
				/* One counter per device: two ports would hand out the same keys. */
				snprintf(st->err, st->errsz, "%s:%d: [%s.%s] device_id %s is already the device of [%s.%s]",
				         st->name, p->line, p->hid ? "hid" : "serial", p->name, p->device_id,
				         cfg->ports[j].hid ? "hid" : "serial", cfg->ports[j].name);
				return VG_ERR_CONFIG;
			}
		}
		const char *missing = !p->device[0] ? "device" : !p->device_id[0] ? "device_id"
		                    : !p->driver[0] ? "driver" : NULL;
		if (missing) {
			snprintf(st->err, st->errsz, "%s:%d: [%s.%s] %s is required", st->name, p->line,
			         p->hid ? "hid" : "serial", p->name, missing);
			return VG_ERR_CONFIG;
		}
	}
	if (cfg->pol_payment_customer_id == 3) {
		snprintf(st->err, st->errsz, "%s: [privacy] payment_customer_id cannot be keep (a financial handle"
		         " never leaves the box raw)", st->name);
		return VG_ERR_CONFIG;
	}
	if (!!cfg->client_cert[0] != !!cfg->client_key[0]) {
		snprintf(st->err, st->errsz, "%s: [cdp] client_cert and client_key go together", st->name);
		return VG_ERR_CONFIG;
	}
	if (cfg->quarantine_max_mb > cfg->max_buffer_mb) {
		snprintf(st->err, st->errsz, "%s: [capture] quarantine_max_mb = %d is more than [gateway]"
		         " max_buffer_mb = %d: the quarantine's share must fit in the cap", st->name,
		         cfg->quarantine_max_mb, cfg->max_buffer_mb);
		return VG_ERR_CONFIG;
	}
	if (check_metrics(st))
		return VG_ERR_CONFIG;
	if (!cfg->gateway_id[0])
		snprintf(cfg->gateway_id, sizeof cfg->gateway_id, "%.61s-gw", cfg->venue_id);
	if (check_kafka(st))
		return VG_ERR_CONFIG;
	return VG_OK;
}

int vg_config_parse(struct vg_config *cfg, const char *text, const char *name, char *err, size_t errsz)
{
	vg_config_defaults(cfg);
	snprintf(cfg->path, sizeof cfg->path, "%s", name);
	struct parse_state st = { .cfg = cfg, .name = name, .err = err, .errsz = errsz, .text = text };
	int rc = ini_parse_stream(reader, &st, handler, &st);
	return finish(&st, rc);
}

int vg_config_load(struct vg_config *cfg, const char *path, char *err, size_t errsz)
{
	vg_config_defaults(cfg);
	snprintf(cfg->path, sizeof cfg->path, "%s", path);
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errsz, "%s: cannot open: %s", path, strerror(errno));
		return VG_ERR_IO;
	}
	struct parse_state st = { .cfg = cfg, .name = path, .err = err, .errsz = errsz, .file = f };
	int rc = ini_parse_stream(reader, &st, handler, &st);
	fclose(f);
	return finish(&st, rc);
}

void vg_config_describe(void *fp)
{
	FILE *f = fp;
	const char *section = "";
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		if (strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
		}
		fprintf(f, "; %s%s\n", k->doc, k->reloadable ? " (SIGHUP applies it)" : "");
		if (!k->def)
			fprintf(f, "%s =                 ; required\n", k->name);
		else
			fprintf(f, "%s = %s\n", k->name, k->def);
	}
}

int vg_config_reload(struct vg_config *live, const struct vg_config *fresh,
                     void (*cb)(void *ctx, const char *section, const char *key, int applied), void *ctx)
{
	int restart = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		char *a = (char *)live + k->offset;
		const char *b = (const char *)fresh + k->offset;
		int same = k->type == K_INT || k->type == K_ENUM ? *(int *)a == *(const int *)b : strcmp(a, b) == 0;
		if (same)
			continue;
		if (k->reloadable) {
			if (k->type == K_INT || k->type == K_ENUM)
				*(int *)a = *(const int *)b;
			else
				memcpy(a, b, k->size);
		} else {
			restart++;
		}
		cb(ctx, k->section, k->name, k->reloadable);
	}
	/* Ports are opened once: any change to them needs a restart. */
	if (live->nports != fresh->nports ||
	    memcmp(live->ports, fresh->ports, sizeof live->ports[0] * (size_t)live->nports) != 0) {
		restart++;
		cb(ctx, "serial.*/hid.*", "(ports)", 0);
	}
	return restart;
}

enum vg_err vg_config_db_path(const struct vg_config *cfg, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/buffer.db", cfg->data_dir);
	if (n < 0 || (size_t)n >= outsz) {
		if (outsz)
			out[0] = '\0';
		return VG_ERR_RANGE;
	}
	return VG_OK;
}

void vg_config_pii_policy(const struct vg_config *cfg, struct vg_pii_policy *p)
{
	p->email = (enum vg_policy)cfg->pol_email;
	p->phone = (enum vg_policy)cfg->pol_phone;
	p->customer_id = (enum vg_policy)cfg->pol_customer_id;
	p->loyalty_id = (enum vg_policy)cfg->pol_loyalty_id;
	p->member_code = (enum vg_policy)cfg->pol_member_code;
	p->payment_customer_id = (enum vg_policy)cfg->pol_payment_customer_id;
}
