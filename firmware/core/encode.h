/* venuegw — the wire format to the CDP (DESIGN.md §8): Segment HTTP Tracking
 * API batches, which RudderStack also accepts, versioned by
 * context.venuegw.schema = 1.  Pure: no I/O (but see the time zone note). */
#ifndef VG_ENCODE_H
#define VG_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define VG_WIRE_SCHEMA 1
#define VG_BATCH_MAX_EVENTS 2500
#define VG_BATCH_MAX_BYTES 500000   /* uncompressed */
#define VG_MESSAGE_MAX_BYTES 32000  /* one message, encoded */

struct vg_encode_ctx {
	const char *venue_id;
	const char *gateway_id;
	const char *library_version;   /* VG_VERSION */
};

/* One stored event (borrowed for the call). */
struct vg_encode_event {
	const char *event_key;         /* → messageId */
	const char *device_id;
	const char *body;              /* the tokenized event JSON from buffer.db */
	size_t body_len;
	unsigned flags;                /* VG_FLAG_* (ingest.h) → context.venuegw.flags (names) */
	int64_t received_at_ms;        /* → context.venuegw.received_at */
};

/* Build the Segment message for one event:
 *  - "track" with "event" = type; consent.updated → "identify" with the
 *    consent object in context.consent ({"categoryPreferences": {scope: bool},
 *    "source": …});
 *  - messageId = event key; timestamp = occurred_at in UTC, always
 *    ("YYYY-MM-DDTHH:MM:SS.mmmZ"); an occurred_at without offset (flag
 *    timestamp_assumed_tz) is read as local time in the process's TZ, which
 *    the daemon sets from [gateway] timezone at start-up;
 *  - userId = person.customer_id (kept or tokenized, per policy) when present;
 *    else anonymousId = the best other identifier (email token, phone token,
 *    loyalty_id, member_code, in that order); else
 *    anonymousId = "device:<venue_id>:<device_id>" — never neither;
 *    payment_customer_id is never the userId;
 *  - context.externalIds: one {id, type, collection: "users", encoding: "none"}
 *    per person identifier (types: customer_id, email_token, phone_token,
 *    loyalty_id, member_code, payment_customer_token, and *_sha256 for the
 *    sha256 policy);
 *  - context.venuegw = {schema, venue_id, gateway_id, device_id,
 *    device_event_id (or null), device_seq (or null), received_at, flags: [names]};
 *  - context.library = {name: "venuegw", version};
 *  - properties = the event's properties (track), plus device_occurred_at when
 *    the gateway replaced the device's time.
 * On success *out is a new object (cJSON_Delete) and VG_OK is returned; on a
 * body that is not a JSON object or lacks a type: VG_ERR_INVAL; VG_ERR_NOMEM. */
int vg_encode_message(const struct vg_encode_ctx *ctx, const struct vg_encode_event *ev, cJSON **out);

/* A scratch arena for cJSON, for a loop that encodes one event at a time
 * (the forwarder).  vg_encode_scratch_install() makes cJSON allocate from a
 * static arena while a scratch is open, and from malloc otherwise; freeing
 * arena memory is a no-op, so a tree need not be freed before the arena is
 * reused.  vg_encode_scratch_open() empties the arena and opens it,
 * vg_encode_scratch_close() closes it: what was allocated in it stays
 * readable until the next open.  An allocation that does not fit comes from
 * malloc.  Call install once, before the process's other cJSON use or
 * between any (frees made afterwards tell arena memory from malloc's by its
 * address).  Not thread-safe: one thread of cJSON use. */
void vg_encode_scratch_install(void);
void vg_encode_scratch_open(void);
void vg_encode_scratch_close(void);

/* The message of one event as text: exactly what cJSON_PrintUnformatted
 * prints for vg_encode_message's result, so a batch printed from these
 * fragments joined by commas is byte for byte vg_encode_batch's.  On success
 * *out is new text (cJSON_free) of *len bytes and VG_OK is returned; else
 * VG_ERR_INVAL or VG_ERR_NOMEM as vg_encode_message, and *out is NULL.
 * Pure but for vg_encode_message's time zone note. */
int vg_encode_fragment(const struct vg_encode_ctx *ctx, const struct vg_encode_event *ev, char **out, size_t *len);

/* The gateway's constants in every message, printed as cJSON prints them:
 * the start of context.venuegw and the end of the message from
 * context.library on. */
struct vg_wire_consts {
	char venuegw[1024];   /* "schema":1,"venue_id":V,"gateway_id":G, */
	size_t venuegw_len;
	char library[512];    /* ,"library":{"name":"venuegw","version":X}}} */
	size_t library_len;
};

/* Fill wc for ctx (strings escaped as cJSON prints them).  VG_OK, or
 * VG_ERR_INVAL when a string is too long for wc. */
int vg_encode_wire_consts(const struct vg_encode_ctx *ctx, struct vg_wire_consts *wc);

struct vg_buf;

/* What vg_encode_text returns for a body it leaves to vg_encode_fragment. */
#define VG_ENCODE_TREE 1

/* Append the message of ev to out: the bytes vg_encode_fragment prints,
 * made without a parse or a print.  It copies the body's values as they
 * stand, so it takes a body only when the body is in the form cJSON
 * prints (no blanks, strings escaped as cJSON escapes them, numbers
 * integers of at most 15 digits: what vg_ingest stores) and its
 * occurred_at has no escape.  wc: vg_encode_wire_consts of ctx.  VG_OK;
 * VG_ENCODE_TREE: encode it with vg_encode_fragment; VG_ERR_NOMEM, or out's
 * earlier failure.  Nothing is appended unless VG_OK.
 * Pure but for vg_encode_message's time zone note. */
int vg_encode_text(const struct vg_encode_ctx *ctx, const struct vg_wire_consts *wc,
                   const struct vg_encode_event *ev, struct vg_buf *out);

/* Serialize {"batch": messages, "sentAt": …} (sentAt omitted when
 * sent_at_ms < 0, i.e. while the clock is not synchronised).  messages is
 * borrowed (an array of vg_encode_message results).  Returns malloc'd text
 * (cJSON_free) and its length in *len, or NULL on out of memory. */
char *vg_encode_batch(const cJSON *messages, int64_t sent_at_ms, size_t *len);

/* Idempotency-Key of a batch: base64url_nopad(SHA-256(lp("venuegw-batch-v1")
 * ‖ lp(messageId)… in sorted (byte-wise) order)[0..16]).  The ids are not
 * modified (a sorted copy of the pointers is made); VG_ERR_NOMEM possible. */
int vg_idempotency_key(const char *const *message_ids, size_t n, char out[23]);

/* The identity of a message vg_encode_text or vg_encode_fragment printed:
 * the value of its top-level "userId", else of its "anonymousId" (every
 * message has one of them), unescaped, into out (outsz bytes); *outlen
 * gets its length.  The Kafka output's record key: one person's events
 * stay in one partition.  VG_OK; VG_ERR_INVAL when msg is not an object
 * with such a string member, or the value does not fit. */
int vg_message_identity(const char *msg, size_t len, char *out, size_t outsz, size_t *outlen);

/* gzip (RFC 1952) in[0..n) into a new buffer *out (free()) of *outlen bytes. */
int vg_gzip(const void *in, size_t n, uint8_t **out, size_t *outlen);

#endif
