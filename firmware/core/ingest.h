/* venuegw — one pipeline for every input path (DESIGN.md §2):
 * decode → validate → tokenize, producing either an event ready to COMMIT or
 * a quarantine record.  Pure: no I/O, no clock (the caller passes the time and
 * whether the clock is synchronised), no globals.  Used by the capture
 * plugin, the daemon's serial path and `venuegw validate`. */
#ifndef VG_INGEST_H
#define VG_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "contract.h"
#include "event.h"
#include "keys.h"
#include "pii.h"

/* Event flags (stored with the event, forwarded in context.venuegw.flags). */
enum vg_event_flag {
	VG_FLAG_TS_ASSUMED_TZ = 1 << 0,     /* "timestamp_assumed_tz": no offset; [gateway] timezone applies */
	VG_FLAG_TS_FUTURE = 1 << 1,         /* "timestamp_future_replaced" */
	VG_FLAG_TS_PAST = 1 << 2,           /* "timestamp_past_replaced" */
	VG_FLAG_CLOCK_UNSYNCED = 1 << 3,    /* "gateway_clock_unsynced" */
	VG_FLAG_TS_MISSING = 1 << 4,        /* "timestamp_missing": receive time used */
	VG_FLAG_PII_DROPPED = 1 << 5,       /* "pii_dropped": personal fields were dropped */
};
#define VG_FLAG__COUNT 6
/* The stable name of flag bit i (0..VG_FLAG__COUNT-1). */
const char *vg_flag_name(int bit);

/* At most this many identity tokens per event (identifiers × key versions). */
#define VG_INGEST_IDENTS_MAX 32
/* Distinct undeclared paths kept per event (the rest are only counted). */
#define VG_INGEST_UNDECLARED_MAX 8

struct vg_ingest_cfg {
	const char *venue_id;
	/* The tracking plan (borrowed): what passes is declared, nothing else
	 * does.  Required. */
	const struct vg_plan *plan;
	/* Members the plan does not declare: 0 drop them (counted in
	 * out->undeclared), 1 quarantine the event ("undeclared_field"). */
	int unknown_quarantine;
	const struct vg_key *key;        /* current token key; borrowed */
	const struct vg_key *prev_key;   /* the previous key during a rotation's overlap, else NULL */
	/* Every key version of the key file (borrowed), or NULL for key alone:
	 * identity tokens are computed under each, so a person forgotten under
	 * one version stays suppressed after another becomes current. */
	const struct vg_keyring *ring;
	int default_country_code;
	struct vg_pii_policy policy;
	int has_timezone;                /* [gateway] timezone is set */
	int max_future_skew_s;
	int max_past_age_d;
	/* Serial input: the event key comes from the daemon's persisted counter
	 * (key_kind "seq", key_value "<epoch>:<seq>") instead of the event's id
	 * or body.  NULL for MQTT. */
	const char *key_kind;
	const char *key_value;
	/* `venuegw quarantine retry`: the payload is a body venuegw stored,
	 * already tokenized.  Person fields that hold a token of their kind, or
	 * a SHA-256 hex digest, are kept as they are (a token is then the
	 * field's identity token); every other value follows the current
	 * policy as usual.  0 for input from devices. */
	int stored_body;
	/* The event key to use instead of computing one (`venuegw quarantine
	 * retry`: the key computed from the raw input on arrival), or NULL. */
	const char *event_key;
	/* Quarantine the input whatever it holds, for this reason and detail
	 * (the plugin: a bad topic, another device's topic); VG_REJ_NONE: no. */
	enum vg_reject_reason reject;
	const char *reject_detail;
};

struct vg_ingest_out {
	int quarantined;                 /* 0: an event to store; 1: quarantine */
	struct vg_reject rej;            /* why, when quarantined */
	char event_key[VG_EVENT_KEY_LEN + 1];   /* "" when the input did not decode */
	char type[48];                   /* "" when unknown; truncated if longer */
	char device_event_id[VG_EVENT_ID_MAX + 1]; /* scrubbed; "" when absent */
	enum vg_priority priority;
	unsigned flags;                  /* VG_FLAG_* */
	char digest[VG_EVENT_KEY_LEN + 1];      /* keyed digest of the raw payload, for a quarantine; "" else */
	/* The tokenized JSON as cJSON prints it, malloc'd; NULL if it did not
	 * decode.  The forwarder copies its values into the message as they
	 * stand (vg_encode_text, encode.h). */
	char *body;
	size_t body_len;
	struct vg_pii_stats pii;
	/* Members dropped because the plan does not declare them: how many, and
	 * the first VG_INGEST_UNDECLARED_MAX distinct paths (vg_plan_drop_cb's
	 * form: no values, keys that may hold personal data as "~"). */
	unsigned undeclared_total;
	char undeclared[VG_INGEST_UNDECLARED_MAX][VG_PLAN_PATH_MAX];
	unsigned undeclared_n[VG_INGEST_UNDECLARED_MAX];
	int nundeclared;
	/* The identity tokens of the person's identifiers (vg_pii_identity_token
	 * under the current key and every other version of cfg->ring), for
	 * suppression checks at capture. */
	char idents[VG_INGEST_IDENTS_MAX][VG_TOKEN_MAX];
	int nidents;
};

struct vg_config;
/* Fill icfg from the gateway's configuration (venue, country code, time
 * zone, time limits, [privacy] policies, [contracts] unknown) with key as the
 * current token key; plan, ring, prev_key and the key override stay NULL for
 * the caller to set. */
void vg_ingest_cfg_init(struct vg_ingest_cfg *icfg, const struct vg_config *cfg, const struct vg_key *key);

/* Run the pipeline over one raw payload from device_id (authenticated).
 * now_ms is the receive time (UTC ms); clock_synced says whether it can be
 * trusted to correct device times.  Fills *out (free with
 * vg_ingest_out_free) and returns VG_OK — for a quarantine too —, or
 * VG_ERR_NOMEM / VG_ERR_INVAL (no key or no plan): then nothing may be
 * acknowledged. */
int vg_ingest(const struct vg_ingest_cfg *cfg, const char *device_id, const void *payload,
              size_t len, int64_t now_ms, int clock_synced, struct vg_ingest_out *out);

/* Turn an accepted result into a quarantine (the topic named another device,
 * for instance), keeping its tokenized body. */
void vg_ingest_reject(struct vg_ingest_out *out, enum vg_reject_reason reason, const char *detail);

/* Free out->body (wiped first). */
void vg_ingest_out_free(struct vg_ingest_out *out);

#endif
