/* venuegw — the configuration file (DESIGN.md §9).
 *
 * One INI file, read by the daemon and by the capture plugin.  Every key is a
 * row of one table in config.c (section, key, type, default, limits, whether
 * SIGHUP may change it, one line of documentation).  Unknown sections and
 * keys, bad values and missing required keys are errors that name the file
 * and line. */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stddef.h>

#include "err.h"

#define VG_CONFIG_DEFAULT_PATH "/etc/venuegw/venuegw.conf"

enum vg_durability { VG_DURABILITY_FULL = 0, VG_DURABILITY_OS = 1 };
enum vg_on_full { VG_ON_FULL_BACKPRESSURE = 0, VG_ON_FULL_DROP_OLDEST = 1 };
enum vg_unknown { VG_UNKNOWN_DROP = 0, VG_UNKNOWN_QUARANTINE = 1 };
enum vg_output { VG_OUTPUT_SEGMENT = 0, VG_OUTPUT_KAFKA = 1 };
enum vg_kafka_security { VG_KAFKA_PLAINTEXT = 0, VG_KAFKA_SSL, VG_KAFKA_SASL_PLAINTEXT, VG_KAFKA_SASL_SSL };
enum vg_kafka_sasl { VG_KAFKA_SASL_NONE = 0, VG_KAFKA_SASL_PLAIN, VG_KAFKA_SASL_SCRAM_256, VG_KAFKA_SASL_SCRAM_512 };
enum vg_kafka_compression { VG_KAFKA_COMP_NONE = 0, VG_KAFKA_COMP_GZIP, VG_KAFKA_COMP_SNAPPY, VG_KAFKA_COMP_LZ4,
                            VG_KAFKA_COMP_ZSTD };

#define VG_MAX_PORTS 16
#define VG_PORT_MAX_OPTS 16

/* One [serial.NAME] or [hid.NAME] section: a port the daemon owns. */
struct vg_port_cfg {
	char name[32];
	int hid;                   /* [hid.NAME]: an evdev node */
	int line;                  /* where the section starts, for messages */
	char device[256];          /* prefer /dev/serial/by-id/… (/dev/input/by-id/… for hid) */
	char driver[16];           /* scanner | ndjson | ecr (hid: hid) */
	char device_id[65];        /* the device the events come from */
	int baud;                  /* 9600 … 921600 */
	int data_bits;             /* 5 … 8 */
	char parity;               /* 'N' 'E' 'O' */
	int stop_bits;             /* 1 | 2 */
	int flow_control;          /* 0 none, 1 rtscts, 2 xonxoff */
	/* every other key: the driver's options, checked by the driver */
	struct { char key[32]; char value[128]; int line; } opts[VG_PORT_MAX_OPTS];
	int nopts;
};

/* Plain data. Strings are NUL-terminated and empty when unset. */
struct vg_config {
	char path[256];            /* the file this came from */

	/* [gateway] */
	char venue_id[65];
	char gateway_id[65];
	char data_dir[256];
	int durability;            /* enum vg_durability */
	int default_country_code;  /* 0: none configured */
	char timezone[64];
	int max_future_skew_s;
	int max_past_age_d;
	int dedup_retention_h;
	int max_buffer_mb;
	int on_full;               /* enum vg_on_full */
	int checkpoint_interval_ms;
	int reconciliation_interval_s;
	int commit_interval_ms;    /* serial: group commit window */
	int commit_max_events;     /* serial: group commit size */

	/* [serial.NAME], [hid.NAME] */
	struct vg_port_cfg ports[VG_MAX_PORTS];
	int nports;

	/* [capture] */
	int quarantine_rate_per_min;
	int quarantine_burst;
	int quarantine_max_mb;        /* 0: a tenth of max_buffer_mb (vg_config_quarantine_max_mb) */
	int quarantine_retention_d;

	/* [cdp] */
	char endpoint[256];
	char write_key_file[256];
	char ca_file[256];
	char client_cert[256];
	char client_key[256];
	char proxy[256];
	int max_backoff_s;
	int max_in_flight;
	int max_batch_kb;
	int timeout_s;
	int max_batch_events;
	int flush_interval_ms;

	/* [output] */
	int output;                /* enum vg_output: where batches go */

	/* [kafka] (output = kafka) */
	char kafka_brokers[512];   /* host:port,host:port */
	char kafka_topic[250];
	char kafka_client_id[128];
	int kafka_security;        /* enum vg_kafka_security */
	char kafka_ssl_ca_file[256];
	char kafka_ssl_cert_file[256];
	char kafka_ssl_key_file[256];
	int kafka_sasl_mechanism;  /* enum vg_kafka_sasl */
	char kafka_sasl_username[128];
	char kafka_sasl_password_file[256];
	int kafka_compression;     /* enum vg_kafka_compression */

	/* [mqtt]: the daemon's own connection to our broker */
	char mqtt_host[64];
	int mqtt_port;
	char mqtt_username[65];
	char mqtt_password_file[256];
	int status_interval_s;

	/* [privacy]: what happens to each person field (enum vg_policy order:
	 * token, sha256, drop, keep) */
	int pol_email, pol_phone, pol_customer_id, pol_loyalty_id, pol_member_code, pol_payment_customer_id;
	int pol_email_set, pol_phone_set;   /* set by an explicit line (needed for keep) */

	/* [tokens] */
	char key_file[256];
	int rotation_overlap_h;

	/* [contracts] */
	char plan_path[256];       /* the tracking plan (DESIGN.md §4) */
	int unknown;               /* enum vg_unknown: members the plan does not declare */

	/* [metrics] */
	char listen[64];
	char metrics_password_file[256];

	/* [broker]: where our mosquitto instance's files are (for the device verbs) */
	char broker_passwd_file[256];
	char broker_acl_file[256];
	char broker_conf_dir[256];
	char broker_tls_dir[256];
	char broker_pid_file[256];
};

/* The quarantine's share of the disk cap in MiB: [capture] quarantine_max_mb,
 * or a tenth of [gateway] max_buffer_mb (at least 1) when it is 0. */
int vg_config_quarantine_max_mb(const struct vg_config *cfg);

/* 1 if v is a valid id: 1-64 of [A-Za-z0-9._-] (venue, gateway and device ids). */
int vg_config_valid_id(const char *v);

/* Fill cfg with the defaults of every key (required keys stay empty). */
void vg_config_defaults(struct vg_config *cfg);

/* Load path over the defaults.  Returns VG_OK, VG_ERR_IO (cannot open:
 * err says why), or VG_ERR_CONFIG with "path:line: [section] key: what is
 * wrong" in err (the first error; values of secret-bearing keys are never
 * echoed). */
int vg_config_load(struct vg_config *cfg, const char *path, char *err, size_t errsz);

/* Same, from text in memory (name stands for the file in messages). */
int vg_config_parse(struct vg_config *cfg, const char *text, const char *name,
                    char *err, size_t errsz);

/* Write an annotated description of every key (section, key, default, doc)
 * to the FILE* f — for --help and the example config. */
void vg_config_describe(void *f);

/* SIGHUP: compare the running configuration live with fresh (just loaded
 * from the same file).  For every key whose value differs, copy it into live
 * if SIGHUP may change it, and call cb(ctx, section, key, applied).  Returns
 * how many differences need a restart (those keep their running values). */
int vg_config_reload(struct vg_config *live, const struct vg_config *fresh,
                     void (*cb)(void *ctx, const char *section, const char *key, int applied), void *ctx);

struct vg_pii_policy;
/* The [privacy] section as a pii policy. */
void vg_config_pii_policy(const struct vg_config *cfg, struct vg_pii_policy *p);

/* Names of the [kafka] enums, in their enum's order (librdkafka's spelling). */
extern const char *const vg_kafka_security_names[];
extern const char *const vg_kafka_sasl_names[];
extern const char *const vg_kafka_compression_names[];

/* Check a [kafka] brokers list: 1..16 comma-separated host:port entries
 * (host a name, an IPv4 address or [IPv6]).  NULL when it is well formed,
 * with *all_loopback set (every host is 127.0.0.0/8, [::1] or localhost);
 * else why it is not (a static string). */
const char *vg_config_check_brokers(const char *brokers, int *all_loopback);

/* Parse a [metrics] listen value: "a.b.c.d:port", "[v6]:port" or
 * "localhost:port" (127.0.0.1).  On success returns NULL and fills addr (the
 * numeric address, without brackets), *port (1..65535) and *loopback;
 * otherwise returns why the value is wrong (a static string). */
const char *vg_config_parse_listen(const char *listen, char *addr, size_t addrsz, int *port, int *loopback);

/* Bytes that always hold buffer.db's path: data_dir is at most
 * sizeof data_dir - 1 bytes (longer is a load error). */
#define VG_CONFIG_DB_PATH_MAX (sizeof ((struct vg_config *)0)->data_dir + sizeof "/buffer.db")

/* buffer.db's path under data_dir into out.  VG_OK, or VG_ERR_RANGE when
 * it does not fit in outsz bytes (out is then ""); never with
 * VG_CONFIG_DB_PATH_MAX bytes. */
__attribute__((warn_unused_result))
enum vg_err vg_config_db_path(const struct vg_config *cfg, char *out, size_t outsz);

#endif
