/* venuegw — decoding device events and computing their keys (DESIGN.md §4).
 * Pure: no I/O, no globals. */
#ifndef VG_EVENT_H
#define VG_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define VG_EVENT_MAX_BYTES 65536      /* payload */
#define VG_EVENT_MAX_DEPTH 16         /* nesting of objects and arrays */
#define VG_PROPERTIES_MAX_BYTES 32768 /* properties, encoded */
#define VG_EVENT_ID_MAX 64            /* the device's event id */
#define VG_EVENT_KEY_LEN 22

/* The device id of the gateway's own events (reconciliation, erasure notices). */
#define VG_GATEWAY_DEVICE "_gateway"

/* Why an input was refused.  The names (vg_reject_name) are stable: they are
 * stored in the quarantine, published in rejection notices and counted in
 * metrics. */
enum vg_reject_reason {
	VG_REJ_NONE = 0,
	VG_REJ_TOO_LARGE,        /* "too_large": payload over 64 KiB */
	VG_REJ_BAD_UTF8,         /* "bad_utf8" */
	VG_REJ_BAD_JSON,         /* "bad_json" */
	VG_REJ_NOT_OBJECT,       /* "not_object" */
	VG_REJ_TOO_DEEP,         /* "too_deep": nesting over 16 */
	VG_REJ_BAD_FIELD,        /* "bad_field": a common field of the wrong type or size */
	VG_REJ_UNKNOWN_TYPE,     /* "unknown_type" */
	VG_REJ_CONTRACT,         /* "contract": a required field is missing or wrong */
	VG_REJ_BAD_TIME,         /* "bad_time": occurred_at unparseable, or without offset and no timezone */
	VG_REJ_DEVICE_MISMATCH,  /* "device_mismatch": topic names another device */
	VG_REJ_BAD_TOPIC,        /* "bad_topic" */
	VG_REJ_TOO_LARGE_WIRE,   /* "too_large_wire": tokenized form over the limit */
	VG_REJ_PII_IN_IDENTIFIER, /* "pii_in_identifier": an id field looks like an email, phone or card */
	VG_REJ_UNDECLARED,       /* "undeclared_field": a member the plan does not declare ([contracts] unknown = quarantine) */
	VG_REJ__COUNT
};

const char *vg_reject_name(enum vg_reject_reason r);

struct vg_reject {
	enum vg_reject_reason reason;
	long offset;        /* byte offset of the error in the payload, or -1 */
	char field[96];     /* the field concerned ("properties.class_id"), or "" */
	char detail[128];   /* one line of English; never contains input values */
};

/* Decode a payload: size ≤ VG_EVENT_MAX_BYTES, valid UTF-8 (no NUL bytes),
 * one JSON object, nesting ≤ VG_EVENT_MAX_DEPTH.
 * On success *out is a new tree the caller frees (vg_json_wipe_delete: it
 * holds raw personal data) and VG_OK is returned.  Otherwise VG_ERR_INVAL
 * with rej filled (offset set where known), and *out is NULL. */
int vg_event_decode(const void *buf, size_t len, cJSON **out, struct vg_reject *rej);

/* Make every number in the tree print as exactly the double it holds.
 * cJSON prints with 15 significant digits when a relative-epsilon comparison
 * accepts them, which turns 5105105105105159 into 5.10510510510516e+15; each
 * number whose 15-digit form does not read back exactly becomes a raw item
 * holding its 16- or 17-digit form (an integer within 2^53 as its digits).
 * Call before cJSON_Print*.  VG_OK or VG_ERR_NOMEM (the tree stays valid). */
int vg_json_exact_numbers(cJSON *tree);

/* Event key (§4): base64url_nopad(SHA-256(lp("venuegw-event-v1") ‖ lp(venue)
 * ‖ lp(device) ‖ lp(kind) ‖ lp(value))[0..16]) into out (22 chars + NUL).
 * kind is "id" (value: the device's event id), "body" (value: the 32-byte
 * SHA-256 of the raw payload) or "seq" (value: "<epoch>:<seq>"). */
void vg_event_key(const char *venue_id, const char *device_id, const char *kind,
                  const void *value, size_t value_len, char out[VG_EVENT_KEY_LEN + 1]);

/* Parse an ISO 8601 date-time "YYYY-MM-DDTHH:MM:SS[.f up to 9 digits][Z|±HH:MM|±HHMM]"
 * ('T' or ' ' between date and time).  On success returns VG_OK and sets
 * *has_offset; with an offset, *epoch_ms is UTC milliseconds; without, it is
 * the local wall-clock time read as if it were UTC (the daemon converts it).
 * VG_ERR_INVAL for anything else, including impossible dates. */
int vg_time_parse(const char *s, int64_t *epoch_ms, int *has_offset);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12,
 * d 1..31).  No libc, no time zone. */
int64_t vg_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Format UTC milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (25 bytes). */
void vg_time_format(int64_t epoch_ms, char out[25]);

/* Add name to o: the UTC time of ms (Unix milliseconds) as vg_time_format()
 * writes it, or null when ms <= 0.  (The status JSON of the daemon and of
 * `venuegw status`.) */
void vg_json_add_time(cJSON *o, const char *name, int64_t ms);

#endif
