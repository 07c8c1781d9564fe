/* venuegw — the wire format to the CDP (DESIGN.md §8).
 *
 * One stored event (the tokenized body from buffer.db) becomes one Segment
 * message:
 *
 *   {"type":"track","messageId":<event key>,"event":<type>,
 *    "userId"|"anonymousId":…,"timestamp":"…Z","properties":{…},
 *    "context":{"externalIds":[…],"venuegw":{…},"library":{…}}}
 *
 * consent.updated becomes {"type":"identify",…,"traits":{},
 * "context":{"consent":{"categoryPreferences":{…},"source":…},…}}.
 *
 * Identifiers are read from the stored person object, which the ingest
 * pipeline has already tokenized: this module never sees a raw value unless a
 * tenant chose the "keep" policy.  The only non-pure step is mktime() for an
 * occurred_at without offset, which reads the process's time zone.
 */
#include "encode.h"

#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libdeflate.h>

#include "buf.h"
#include "digest.h"
#include "err.h"
#include "event.h"
#include "ingest.h"

#define CONSENT_TYPE "consent.updated"

/* ---- identifiers -------------------------------------------------------- */

/* How a contact field (email, phone) is labelled in externalIds. */
struct contact_types {
	const char *kind;     /* token kind: "em", "ph" */
	const char *token;    /* "email_token" */
	const char *sha256;   /* "email_sha256" */
	const char *plain;    /* "email": kept normalized (explicit "keep" policy) */
};

static const struct contact_types email_types = { "em", "email_token", "email_sha256", "email" };
static const struct contact_types phone_types = { "ph", "phone_token", "phone_sha256", "phone" };

/* One person field and its externalIds type.  contact is set for fields
 * whose type depends on the form of the value; else type is fixed.
 * anon_rank: order for anonymousId (1 first), 0 = never used. */
struct id_field {
	const char *name;
	const struct contact_types *contact;
	const char *type;
	int anon_rank;
};

static const struct id_field id_fields[] = {
	{ "customer_id", NULL, "customer_id", 0 },      /* the userId */
	{ "email", &email_types, NULL, 1 },
	{ "phone", &phone_types, NULL, 2 },
	{ "loyalty_id", NULL, "loyalty_id", 3 },
	{ "member_code", NULL, "member_code", 4 },
	{ "payment_customer_id", NULL, "payment_customer_token", 0 }, /* never an identity */
};
#define N_ID_FIELDS (sizeof id_fields / sizeof id_fields[0])

static const char *id_type(const struct id_field *f, const char *value)
{
	if (!f->contact)
		return f->type;
	if (vg_token_is(value, f->contact->kind))
		return f->contact->token;
	if (vg_sha256_hex_is(value))
		return f->contact->sha256;
	return f->contact->plain;
}

/* The person field's value when it is a non-empty string, else NULL. */
static const char *person_value(const cJSON *person, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(person, name);
	if (!cJSON_IsString(it) || !it->valuestring || !it->valuestring[0])
		return NULL;
	return it->valuestring;
}

/* One externalIds entry, in Segment's spelling.  VG_OK or VG_ERR_NOMEM. */
static int add_external_id(cJSON *ext, const char *id, const char *type)
{
	cJSON *e = cJSON_CreateObject();
	if (!e)
		return VG_ERR_NOMEM;
	cJSON_AddItemToArray(ext, e);
	if (!cJSON_AddStringToObject(e, "id", id) || !cJSON_AddStringToObject(e, "type", type) ||
	    !cJSON_AddStringToObject(e, "collection", "users") || !cJSON_AddStringToObject(e, "encoding", "none"))
		return VG_ERR_NOMEM;
	return VG_OK;
}

/* Add userId or anonymousId to msg and one externalIds entry per identifier
 * to ctxo.  Returns VG_OK or VG_ERR_NOMEM. */
static int add_identity(cJSON *msg, cJSON *ctxo, const cJSON *person, const cJSON *previous,
                        const char *venue_id, const char *device_id)
{
	cJSON *ext = cJSON_AddArrayToObject(ctxo, "externalIds");
	if (!ext)
		return VG_ERR_NOMEM;
	const char *anon = NULL;
	int anon_rank = 0;
	for (size_t i = 0; i < N_ID_FIELDS; i++) {
		const struct id_field *f = &id_fields[i];
		const char *v = cJSON_IsObject(person) ? person_value(person, f->name) : NULL;
		if (!v)
			continue;
		if (add_external_id(ext, v, id_type(f, v)))
			return VG_ERR_NOMEM;
		if (f->anon_rank && (!anon || f->anon_rank < anon_rank)) {
			anon = v;
			anon_rank = f->anon_rank;
		}
	}
	/* During a key rotation's overlap the previous key's tokens too (their
	 * version is in their "v<n>." prefix); never used as an identity. */
	for (size_t i = 0; cJSON_IsObject(previous) && i < N_ID_FIELDS; i++) {
		const struct id_field *f = &id_fields[i];
		const char *v = person_value(previous, f->name);
		if (!v)
			continue;
		if (add_external_id(ext, v, id_type(f, v)))
			return VG_ERR_NOMEM;
	}

	const char *user = cJSON_IsObject(person) ? person_value(person, "customer_id") : NULL;
	if (user)
		return cJSON_AddStringToObject(msg, "userId", user) ? VG_OK : VG_ERR_NOMEM;
	if (anon)
		return cJSON_AddStringToObject(msg, "anonymousId", anon) ? VG_OK : VG_ERR_NOMEM;

	/* Never neither: a device-scoped anonymous id. */
	size_t n = strlen("device:") + strlen(venue_id) + 1 + strlen(device_id) + 1;
	char *dev = malloc(n);
	if (!dev)
		return VG_ERR_NOMEM;
	strcpy(dev, "device:");
	strcat(dev, venue_id);
	strcat(dev, ":");
	strcat(dev, device_id);
	cJSON *s = cJSON_AddStringToObject(msg, "anonymousId", dev);
	free(dev);
	return s ? VG_OK : VG_ERR_NOMEM;
}

/* ---- time --------------------------------------------------------------- */

/* Split ms into seconds and a 0..999 remainder (floor, also for < 0). */
static void split_ms(int64_t ms, int64_t *sec, int *rem)
{
	int64_t s = ms / 1000, r = ms % 1000;
	if (r < 0) {
		r += 1000;
		s -= 1;
	}
	*sec = s;
	*rem = (int)r;
}

/* Convert a wall-clock time read as if it were UTC to real UTC, using the
 * process's local time zone (TZ).  Returns 0, or -1 if mktime fails. */
static int local_to_utc(int64_t wall_ms, int64_t *utc_ms)
{
	int64_t sec;
	int ms;
	split_ms(wall_ms, &sec, &ms);
	time_t t = (time_t)sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return -1;
	tm.tm_isdst = -1; /* let the zone's rules decide */
	time_t u = mktime(&tm);
	if (u == (time_t)-1)
		return -1;
	*utc_ms = (int64_t)u * 1000 + ms;
	return 0;
}

/* The message timestamp: occurred_at in UTC, or received_at when the body
 * has none that can be read. */
static int64_t event_time(const cJSON *body, int64_t received_at_ms)
{
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(body, "occurred_at");
	int64_t t;
	int has_offset;
	if (!cJSON_IsString(at) || !at->valuestring ||
	    vg_time_parse(at->valuestring, &t, &has_offset) != VG_OK)
		return received_at_ms;
	if (has_offset)
		return t;
	int64_t u;
	return local_to_utc(t, &u) == 0 ? u : received_at_ms;
}

static cJSON *add_time(cJSON *obj, const char *name, int64_t ms)
{
	char buf[25];
	vg_time_format(ms, buf);
	return cJSON_AddStringToObject(obj, name, buf);
}

/* ---- context ------------------------------------------------------------ */

static int add_venuegw(cJSON *ctxo, const struct vg_encode_ctx *ctx,
                       const struct vg_encode_event *ev, const cJSON *body)
{
	cJSON *vg = cJSON_AddObjectToObject(ctxo, "venuegw");
	if (!vg || !cJSON_AddNumberToObject(vg, "schema", VG_WIRE_SCHEMA) ||
	    !cJSON_AddStringToObject(vg, "venue_id", ctx->venue_id) ||
	    !cJSON_AddStringToObject(vg, "gateway_id", ctx->gateway_id) ||
	    !cJSON_AddStringToObject(vg, "device_id", ev->device_id))
		return VG_ERR_NOMEM;

	const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
	cJSON *r = cJSON_IsString(id) && id->valuestring && id->valuestring[0]
	               ? cJSON_AddStringToObject(vg, "device_event_id", id->valuestring)
	               : cJSON_AddNullToObject(vg, "device_event_id");
	if (!r)
		return VG_ERR_NOMEM;

	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(body, "seq");
	r = cJSON_IsNumber(seq) ? cJSON_AddNumberToObject(vg, "device_seq", seq->valuedouble)
	                        : cJSON_AddNullToObject(vg, "device_seq");
	if (!r || !add_time(vg, "received_at", ev->received_at_ms))
		return VG_ERR_NOMEM;

	/* The version of the tracking plan the event was captured under. */
	const cJSON *plan = cJSON_GetObjectItemCaseSensitive(body, "_plan");
	r = cJSON_IsString(plan) && plan->valuestring[0] ? cJSON_AddStringToObject(vg, "plan", plan->valuestring)
	                                                 : cJSON_AddNullToObject(vg, "plan");
	if (!r)
		return VG_ERR_NOMEM;

	cJSON *flags = cJSON_AddArrayToObject(vg, "flags");
	if (!flags)
		return VG_ERR_NOMEM;
	for (int bit = 0; bit < VG_FLAG__COUNT; bit++) {
		if (!(ev->flags & (1u << bit)))
			continue;
		const char *name = vg_flag_name(bit);
		cJSON *s = cJSON_CreateString(name ? name : "unknown");
		if (!s)
			return VG_ERR_NOMEM;
		cJSON_AddItemToArray(flags, s);
	}
	return VG_OK;
}

static int add_library(cJSON *ctxo, const struct vg_encode_ctx *ctx)
{
	cJSON *lib = cJSON_AddObjectToObject(ctxo, "library");
	if (!lib || !cJSON_AddStringToObject(lib, "name", "venuegw") ||
	    !cJSON_AddStringToObject(lib, "version", ctx->library_version))
		return VG_ERR_NOMEM;
	return VG_OK;
}

/* context.consent = {"categoryPreferences": {scope: bool…}, "source": …}. */
static int add_consent(cJSON *ctxo, const cJSON *body)
{
	const cJSON *consent = cJSON_GetObjectItemCaseSensitive(body, "consent");
	cJSON *co = cJSON_AddObjectToObject(ctxo, "consent");
	cJSON *prefs = co ? cJSON_AddObjectToObject(co, "categoryPreferences") : NULL;
	if (!prefs)
		return VG_ERR_NOMEM;
	if (!cJSON_IsObject(consent))
		return VG_OK;
	const cJSON *it;
	cJSON_ArrayForEach(it, consent) {
		if (!cJSON_IsBool(it) || !it->string)
			continue;
		if (!cJSON_AddBoolToObject(prefs, it->string, cJSON_IsTrue(it)))
			return VG_ERR_NOMEM;
	}
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(consent, "source");
	if (cJSON_IsString(src) && src->valuestring &&
	    !cJSON_AddStringToObject(co, "source", src->valuestring))
		return VG_ERR_NOMEM;
	return VG_OK;
}

/* properties = a copy of the event's properties, plus device_occurred_at. */
static int add_properties(cJSON *msg, const cJSON *body)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(body, "properties");
	cJSON *p = cJSON_IsObject(props) ? cJSON_Duplicate(props, 1) : cJSON_CreateObject();
	if (!p)
		return VG_ERR_NOMEM;
	if (!cJSON_AddItemToObject(msg, "properties", p)) {
		cJSON_Delete(p);
		return VG_ERR_NOMEM;
	}
	const cJSON *dev_at = cJSON_GetObjectItemCaseSensitive(body, "device_occurred_at");
	if (cJSON_IsString(dev_at) && dev_at->valuestring) {
		/* The gateway's own field wins over a device property of that name. */
		cJSON_DeleteItemFromObjectCaseSensitive(p, "device_occurred_at");
		if (!cJSON_AddStringToObject(p, "device_occurred_at", dev_at->valuestring))
			return VG_ERR_NOMEM;
	}
	return VG_OK;
}

/* ---- the scratch arena (encode.h) ---------------------------------------- */

#define SCRATCH_BYTES (256 * 1024)

static struct {
	_Alignas(max_align_t) unsigned char mem[SCRATCH_BYTES];
	size_t used;
	int open;
} scratch;

static void *scratch_malloc(size_t n)
{
	size_t need = (n + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
	if (scratch.open && need >= n && need <= SCRATCH_BYTES - scratch.used) {
		void *p = scratch.mem + scratch.used;
		scratch.used += need;
		return p;
	}
	return malloc(n);
}

static void scratch_free(void *p)
{
	const unsigned char *c = p;
	if (c >= scratch.mem && c < scratch.mem + SCRATCH_BYTES)
		return;
	free(p);
}

void vg_encode_scratch_install(void)
{
	cJSON_Hooks hooks = { .malloc_fn = scratch_malloc, .free_fn = scratch_free };
	cJSON_InitHooks(&hooks);
}

/* Under AddressSanitizer the arena stays closed: every allocation is
 * malloc's, so overruns and uses after free are still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define SCRATCH_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCRATCH_ENABLED 0
#endif
#endif
#ifndef SCRATCH_ENABLED
#define SCRATCH_ENABLED 1
#endif

void vg_encode_scratch_open(void)
{
	scratch.used = 0;
	scratch.open = SCRATCH_ENABLED;
}

void vg_encode_scratch_close(void)
{
	scratch.open = 0;
}

/* ---- messages ----------------------------------------------------------- */

/* The message of one event from its body as a tree (borrowed, not
 * modified).  VG_OK, VG_ERR_INVAL (no object, no type), VG_ERR_NOMEM. */
static int encode_tree(const struct vg_encode_ctx *ctx, const struct vg_encode_event *ev, const cJSON *body,
                       cJSON **out)
{
	*out = NULL;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
	if (!cJSON_IsObject(body) || !cJSON_IsString(type) || !type->valuestring || !type->valuestring[0])
		return VG_ERR_INVAL;
	int identify = strcmp(type->valuestring, CONSENT_TYPE) == 0;
	const cJSON *person = cJSON_GetObjectItemCaseSensitive(body, "person");

	cJSON *ctxo = NULL; /* owned here until attached to msg */
	cJSON *msg = cJSON_CreateObject();
	if (!msg || !cJSON_AddStringToObject(msg, "type", identify ? "identify" : "track") ||
	    !cJSON_AddStringToObject(msg, "messageId", ev->event_key))
		goto fail;
	if (!identify && !cJSON_AddStringToObject(msg, "event", type->valuestring))
		goto fail;
	if (!add_time(msg, "timestamp", event_time(body, ev->received_at_ms)))
		goto fail;
	/* userId/anonymousId go into msg, externalIds into context, in one pass. */
	ctxo = cJSON_CreateObject();
	if (!ctxo || add_identity(msg, ctxo, person, cJSON_GetObjectItemCaseSensitive(body, "_previous_tokens"),
	                          ctx->venue_id, ev->device_id) != VG_OK)
		goto fail;
	if (identify) {
		if (!cJSON_AddObjectToObject(msg, "traits") || add_consent(ctxo, body) != VG_OK)
			goto fail;
	} else if (add_properties(msg, body) != VG_OK) {
		goto fail;
	}
	if (add_venuegw(ctxo, ctx, ev, body) != VG_OK || add_library(ctxo, ctx) != VG_OK)
		goto fail;
	if (!cJSON_AddItemToObject(msg, "context", ctxo))
		goto fail;

	/* Numbers reach the CDP as the device sent them (within a double). */
	if (vg_json_exact_numbers(msg) != VG_OK) {
		cJSON_Delete(msg);
		return VG_ERR_NOMEM;
	}
	*out = msg;
	return VG_OK;

fail:
	cJSON_Delete(ctxo);
	cJSON_Delete(msg);
	return VG_ERR_NOMEM;
}

static int check_args(const struct vg_encode_ctx *ctx, const struct vg_encode_event *ev)
{
	return ctx && ev && ctx->venue_id && ctx->gateway_id && ctx->library_version && ev->event_key &&
	       ev->device_id ? VG_OK : VG_ERR_INVAL;
}

int vg_encode_message(const struct vg_encode_ctx *ctx, const struct vg_encode_event *ev, cJSON **out)
{
	*out = NULL;
	if (check_args(ctx, ev) != VG_OK || !ev->body)
		return VG_ERR_INVAL;
	cJSON *body = cJSON_ParseWithLength(ev->body, ev->body_len);
	if (!body)
		return VG_ERR_INVAL; /* cJSON cannot tell bad JSON from no memory */
	int rc = encode_tree(ctx, ev, body, out);
	cJSON_Delete(body);
	return rc;
}

int vg_encode_fragment(const struct vg_encode_ctx *ctx, const struct vg_encode_event *ev, const cJSON *body,
                       char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (check_args(ctx, ev) != VG_OK || (!body && !ev->body))
		return VG_ERR_INVAL;
	cJSON *msg = NULL;
	int rc = body ? encode_tree(ctx, ev, body, &msg) : vg_encode_message(ctx, ev, &msg);
	if (rc)
		return rc;
	char *text = cJSON_PrintUnformatted(msg);
	cJSON_Delete(msg);
	if (!text)
		return VG_ERR_NOMEM;
	*out = text;
	*len = strlen(text);
	return VG_OK;
}

/* The length of the JSON object at s[0..len) (a '{' first), found by its
 * matching '}' outside strings; 0 when it does not close within len. */
static size_t object_len(const char *s, size_t len)
{
	if (!len || s[0] != '{')
		return 0;
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			return i + 1;
		}
	}
	return 0;
}

/* s as cJSON prints a string (quotes included) into out; the length, or 0
 * when it does not fit in cap. */
static size_t json_string(const char *s, char *out, size_t cap)
{
	size_t n = 0;
#define PUT(c) do { if (n + 1 >= cap) return 0; out[n++] = (char)(c); } while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
		                : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
		if (esc) {
			PUT(esc[0]);
			PUT(esc[1]);
		} else if (c < 0x20) {
			char u[7];
			snprintf(u, sizeof u, "\\u%04x", c);
			for (int i = 0; i < 6; i++)
				PUT(u[i]);
		} else {
			PUT(c);
		}
	}
	PUT('"');
#undef PUT
	out[n] = '\0';
	return n;
}

int vg_encode_wire_consts(const struct vg_encode_ctx *ctx, struct vg_wire_consts *wc)
{
	char v[400], g[400], l[400];
	size_t nv = json_string(ctx->venue_id, v, sizeof v), ng = json_string(ctx->gateway_id, g, sizeof g),
	       nl = json_string(ctx->library_version, l, sizeof l);
	if (!nv || !ng || !nl)
		return VG_ERR_INVAL;
	int a = snprintf(wc->venuegw, sizeof wc->venuegw, "\"schema\":%d,\"venue_id\":%s,\"gateway_id\":%s,",
	                 VG_WIRE_SCHEMA, v, g);
	int b = snprintf(wc->library, sizeof wc->library, ",\"library\":{\"name\":\"venuegw\",\"version\":%s}}}", l);
	if (a < 0 || (size_t)a >= sizeof wc->venuegw || b < 0 || (size_t)b >= sizeof wc->library)
		return VG_ERR_INVAL;
	wc->venuegw_len = (size_t)a;
	wc->library_len = (size_t)b;
	return VG_OK;
}

static const char track_head[] = "{\"type\":\"track\",\"messageId\":\"";
static const char identify_head[] = "{\"type\":\"identify\",\"messageId\":\"";
#define VENUEGW_OPEN "\"venuegw\":{"
#define VENUEGW_OPEN_LEN (sizeof VENUEGW_OPEN - 1)

/* Where the venuegw object's members begin in text[0..len): after the last
 * "venuegw":{ followed by first[0..n), or 0.  Nothing after the real one can
 * match: the members that follow are names, numbers and escaped strings, in
 * which a '"' is always preceded by a backslash. */
static size_t venuegw_at(const char *text, size_t len, const char *first, size_t n)
{
	size_t m = VENUEGW_OPEN_LEN + n;
	for (size_t i = len >= m ? len - m + 1 : 0; i-- > 0;)
		if (text[i] == '"' && memcmp(text + i, VENUEGW_OPEN, VENUEGW_OPEN_LEN) == 0 &&
		    memcmp(text + i + VENUEGW_OPEN_LEN, first, n) == 0)
			return i + VENUEGW_OPEN_LEN;
	return 0;
}

/* In a stub, the venuegw object begins with its device_id. */
static size_t stub_venuegw_at(const char *stub, size_t len)
{
	static const char first[] = "\"device_id\":";
	return venuegw_at(stub, len, first, sizeof first - 1);
}

int vg_encode_wire_stub(const struct vg_wire_consts *wc, char *frag, size_t *len)
{
	size_t n = *len, h;
	if (n > sizeof track_head - 1 && memcmp(frag, track_head, sizeof track_head - 1) == 0)
		h = sizeof track_head - 1;
	else if (n > sizeof identify_head - 1 && memcmp(frag, identify_head, sizeof identify_head - 1) == 0)
		h = sizeof identify_head - 1;
	else
		return VG_ERR_INVAL;
	h += VG_EVENT_KEY_LEN + 2; /* the key, its closing quote and the comma */
	size_t v = venuegw_at(frag, n, wc->venuegw, wc->venuegw_len);
	if (h >= n || frag[h - 1] != ',' || frag[h - 2] != '"' || v <= h ||
	    n < v + wc->venuegw_len + wc->library_len ||
	    memcmp(frag + n - wc->library_len, wc->library, wc->library_len) != 0)
		return VG_ERR_INVAL;
	/* {  F[h..v)  F[v+C..n-L)  }} */
	size_t o = 1;
	memmove(frag + o, frag + h, v - h);
	o += v - h;
	size_t tail = n - wc->library_len - (v + wc->venuegw_len);
	memmove(frag + o, frag + v + wc->venuegw_len, tail);
	o += tail;
	frag[o++] = '}';
	frag[o++] = '}';
	frag[o] = '\0';
	*len = o;
	return VG_OK;
}

/* The value of the member key[0..klen) of the object whose members begin at
 * s[0..len) (just after its '{'), the first one at that level; NULL when
 * there is none.  cJSON's unformatted text: no blanks. */
static const char *member_value(const char *s, size_t len, const char *key, size_t klen)
{
	int depth = 0, expect_key = 1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '"') {
			size_t j = i + 1;
			while (j < len && s[j] != '"')
				j += s[j] == '\\' ? 2 : 1;
			if (j >= len)
				return NULL;
			if (depth == 0 && expect_key) {
				if (j - i - 1 == klen && memcmp(s + i + 1, key, klen) == 0 && j + 1 < len && s[j + 1] == ':')
					return s + j + 2;
				expect_key = 0;
			}
			i = j;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth-- == 0)
				return NULL;
		} else if (c == ',' && depth == 0) {
			expect_key = 1;
		}
	}
	return NULL;
}

/* In a stub, properties left to the stored body's own: the first
 * ,"properties":0,"context": (only escaped strings come before it). */
static const char props_ref[] = ",\"properties\":0,\"context\":";
#define PROPS_VALUE (sizeof ",\"properties\":" - 1)

static size_t find(const char *s, size_t len, const char *needle, size_t n)
{
	const char *p = n <= len ? memmem(s, len, needle, n) : NULL;
	return p ? (size_t)(p - s) : (size_t)-1;
}

int vg_encode_wire_share_properties(char *stub, size_t *len)
{
	size_t at = find(stub, *len, props_ref, PROPS_VALUE); /* ,"properties": */
	if (at == (size_t)-1)
		return VG_ERR_INVAL;
	size_t q = at + PROPS_VALUE;
	size_t n = object_len(stub + q, *len - q);
	static const char ctx[] = ",\"context\":";
	if (!n || *len - q - n < sizeof ctx - 1 || memcmp(stub + q + n, ctx, sizeof ctx - 1) != 0)
		return VG_ERR_INVAL;
	stub[q] = '0';
	memmove(stub + q + 1, stub + q + n, *len - (q + n) + 1);
	*len -= n - 1;
	return VG_OK;
}

int vg_encode_wire_parse(const struct vg_wire_consts *wc, const char *body, size_t len, struct vg_wire_parts *p)
{
	memset(p, 0, sizeof *p);
	if (!body || len < VG_WIRE_AT || memcmp(body, VG_WIRE_HEAD, VG_WIRE_AT) != 0)
		return VG_ERR_INVAL;
	const char *stub = body + VG_WIRE_AT;
	size_t n = object_len(stub, len - VG_WIRE_AT);
	if (n < 3 || (stub[n] != ',' && stub[n] != '}') || !(p->venuegw = stub_venuegw_at(stub, n)))
		return VG_ERR_INVAL;
	p->stub = stub;
	p->stub_len = n;
	p->track = n > 9 && memcmp(stub, "{\"event\":", 9) == 0;
	size_t at = find(stub, p->venuegw, props_ref, sizeof props_ref - 1);
	if (at != (size_t)-1) {
		/* The stored body's own properties, after the stub and its comma. */
		static const char key[] = "properties";
		const char *rest = stub + n + 1;
		const char *v = stub[n] == ',' ? member_value(rest, (size_t)(body + len - rest), key, sizeof key - 1) : NULL;
		size_t vn = v ? object_len(v, (size_t)(body + len - v)) : 0;
		if (!vn)
			return VG_ERR_INVAL;
		p->props_ref = at + PROPS_VALUE;
		p->props = v;
		p->props_len = vn;
	}
	p->len = (p->track ? sizeof track_head : sizeof identify_head) - 1 + VG_EVENT_KEY_LEN + 2 + (n - 3) +
	         wc->venuegw_len + wc->library_len + (p->props ? p->props_len - 1 : 0);
	return VG_OK;
}

int vg_encode_wire_append(const struct vg_wire_consts *wc, const char *event_key, const struct vg_wire_parts *p,
                          struct vg_buf *out)
{
	if (!p->stub || !event_key || strlen(event_key) != VG_EVENT_KEY_LEN)
		return VG_ERR_INVAL;
	const char *head = p->track ? track_head : identify_head;
	vg_buf_add(out, head, strlen(head));
	vg_buf_add(out, event_key, VG_EVENT_KEY_LEN);
	vg_buf_add(out, "\",", 2);
	size_t from = 1;
	if (p->props) {
		vg_buf_add(out, p->stub + from, p->props_ref - from);
		vg_buf_add(out, p->props, p->props_len);
		from = p->props_ref + 1;
	}
	vg_buf_add(out, p->stub + from, p->venuegw - from);
	vg_buf_add(out, wc->venuegw, wc->venuegw_len);
	vg_buf_add(out, p->stub + p->venuegw, p->stub_len - 2 - p->venuegw);
	return vg_buf_add(out, wc->library, wc->library_len);
}

/* ---- batches ------------------------------------------------------------ */

char *vg_encode_batch(const cJSON *messages, int64_t sent_at_ms, size_t *len)
{
	if (!cJSON_IsArray(messages))
		return NULL;
	/* Print the borrowed array as it is and wrap it: no copy of the tree. */
	char *arr = cJSON_PrintUnformatted(messages);
	if (!arr)
		return NULL;
	static const char head[] = "{\"batch\":";
	static const char sent[] = ",\"sentAt\":\"";
	char at[25] = "";
	if (sent_at_ms >= 0)
		vg_time_format(sent_at_ms, at);
	size_t alen = strlen(arr);
	size_t total = (sizeof head - 1) + alen + (sent_at_ms >= 0 ? (sizeof sent - 1) + strlen(at) + 1 : 0) + 1;
	char *text = cJSON_malloc(total + 1);
	if (!text) {
		cJSON_free(arr);
		return NULL;
	}
	char *p = text;
	memcpy(p, head, sizeof head - 1);
	p += sizeof head - 1;
	memcpy(p, arr, alen);
	p += alen;
	if (sent_at_ms >= 0) {
		memcpy(p, sent, sizeof sent - 1);
		p += sizeof sent - 1;
		size_t n = strlen(at);
		memcpy(p, at, n);
		p += n;
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	cJSON_free(arr);
	if (len)
		*len = (size_t)(p - text);
	return text;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int vg_idempotency_key(const char *const *message_ids, size_t n, char out[23])
{
	const char **sorted = NULL;
	if (n) {
		sorted = malloc(n * sizeof *sorted);
		if (!sorted)
			return VG_ERR_NOMEM;
		memcpy(sorted, message_ids, n * sizeof *sorted);
		qsort(sorted, n, sizeof *sorted, cmp_str); /* strcmp: unsigned bytes */
	}
	struct vg_lphash h;
	vg_lphash_start(&h);
	vg_lphash_add_str(&h, "venuegw-batch-v1");
	for (size_t i = 0; i < n; i++)
		vg_lphash_add_str(&h, sorted[i]);
	uint8_t d[32];
	vg_lphash_finish(&h, d);
	vg_b64url(d, 16, out);
	free(sorted);
	return VG_OK;
}

/* ---- gzip --------------------------------------------------------------- */

/* libdeflate at level 6: on batch bodies (tests/bench/gzip_bench) 1.4× the
 * speed of zlib's level 6 with a ratio a little better; RFC 1952 framing,
 * which zlib and every CDP read. */
#define GZIP_LEVEL 6

int vg_gzip(const void *in, size_t n, uint8_t **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(GZIP_LEVEL);
	if (!c)
		return VG_ERR_NOMEM;
	size_t cap = libdeflate_gzip_compress_bound(c, n);
	uint8_t *buf = malloc(cap);
	if (!buf) {
		libdeflate_free_compressor(c);
		return VG_ERR_NOMEM;
	}
	size_t got = libdeflate_gzip_compress(c, in, n, buf, cap);
	libdeflate_free_compressor(c);
	if (!got) { /* cannot happen with the bound's room */
		free(buf);
		return VG_ERR_INVAL;
	}
	*out = buf;
	*outlen = got;
	return VG_OK;
}
