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

int vg_encode_fragment(const struct vg_encode_ctx *ctx, const struct vg_encode_event *ev, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	cJSON *msg = NULL;
	int rc = vg_encode_message(ctx, ev, &msg);
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

/* s as cJSON prints a string, appended. */
static void add_json_string(struct vg_buf *out, const char *s)
{
	vg_buf_add(out, "\"", 1);
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		vg_buf_add(out, run, (size_t)(s - run));
		if (!c)
			break;
		char esc[8];
		const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
		              : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
		if (!e) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			e = esc;
		}
		vg_buf_adds(out, e);
		run = s + 1;
	}
	vg_buf_add(out, "\"", 1);
}


int vg_encode_wire_consts(const struct vg_encode_ctx *ctx, struct vg_wire_consts *wc)
{
	struct vg_buf v = VG_BUF_INIT(sizeof wc->venuegw), l = VG_BUF_INIT(sizeof wc->library);
	vg_buf_addf(&v, "\"schema\":%d,\"venue_id\":", VG_WIRE_SCHEMA);
	add_json_string(&v, ctx->venue_id);
	vg_buf_adds(&v, ",\"gateway_id\":");
	add_json_string(&v, ctx->gateway_id);
	vg_buf_adds(&v, ",");
	vg_buf_adds(&l, ",\"library\":{\"name\":\"venuegw\",\"version\":");
	add_json_string(&l, ctx->library_version);
	vg_buf_adds(&l, "}}}");
	int rc = v.err ? v.err : l.err;
	if (rc == VG_OK) {
		memcpy(wc->venuegw, v.p, v.len + 1);
		wc->venuegw_len = v.len;
		memcpy(wc->library, l.p, l.len + 1);
		wc->library_len = l.len;
	}
	vg_buf_free(&v);
	vg_buf_free(&l);
	return rc == VG_ERR_RANGE ? VG_ERR_INVAL : rc;
}

/* ---- the message from the stored body's text --------------------------------
 *
 * A stored body is text cJSON printed (vg_ingest, quarantine retry): no
 * blanks, each string escaped the one way cJSON escapes, each number as
 * vg_json_exact_numbers left it.  In that form printing a value again gives
 * its text as it stands, so the message can take the body's values by copy
 * instead of parsing the body into a tree and printing the message from
 * another.  read_body checks the form; a body not in it (a fraction, an
 * exponent, "\/", a blank — text an older version or a hand wrote) goes
 * the tree's way. */

struct span {
	const char *p;               /* NULL: absent */
	size_t n;
};

/* The top-level members the message takes (the first of each name, as
 * cJSON_GetObjectItemCaseSensitive finds). */
enum {
	M_TYPE, M_PERSON, M_PREVIOUS, M_OCCURRED_AT, M_PROPERTIES, M_CONSENT, M_ID, M_SEQ, M_PLAN, M_DEV_AT, M__COUNT
};
#define NAME(s) { s, sizeof s - 1 }
static const struct {
	const char *s;
	size_t n;
} member_names[M__COUNT] = {
	NAME("type"), NAME("person"), NAME("_previous_tokens"), NAME("occurred_at"), NAME("properties"),
	NAME("consent"), NAME("id"), NAME("seq"), NAME("_plan"), NAME("device_occurred_at"),
};
#undef NAME

struct reader {
	const char *s;
	size_t n, i;
	struct span m[M__COUNT];
};

#define TEXT_DEPTH 64

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A string as cJSON prints one: no byte below 0x20 as it is; \" \\ \b \f
 * \n \r \t; any other control character as \u00xx (lower case); nothing
 * else escaped. */
static int read_string(struct reader *r)
{
	for (size_t i = r->i + 1; i < r->n;) {
		unsigned char c = (unsigned char)r->s[i];
		if (c == '"') {
			r->i = i + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			i++;
			continue;
		}
		if (i + 1 >= r->n)
			return -1;
		char e = r->s[i + 1];
		if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
			i += 2;
			continue;
		}
		if (e != 'u' || i + 5 >= r->n || r->s[i + 2] != '0' || r->s[i + 3] != '0')
			return -1;
		int hi = hexval(r->s[i + 4]), lo = hexval(r->s[i + 5]), v = hi * 16 + lo;
		if (hi < 0 || hi > 1 || lo < 0 || v == 0 || v == '\b' || v == '\f' || v == '\n' || v == '\r' ||
		    v == '\t')
			return -1;
		i += 6;
	}
	return -1;
}

/* An integer of at most 15 digits, which cJSON and vg_json_exact_numbers
 * print as its digits ("-0" prints as 0). */
static int read_number(struct reader *r)
{
	size_t i = r->i;
	int neg = r->s[i] == '-';
	i += (size_t)neg;
	size_t d = i;
	while (i < r->n && r->s[i] >= '0' && r->s[i] <= '9')
		i++;
	size_t nd = i - d;
	if (nd == 0 || nd > 15 || (nd > 1 && r->s[d] == '0') || (neg && nd == 1 && r->s[d] == '0'))
		return -1;
	if (i < r->n && (r->s[i] == '.' || r->s[i] == 'e' || r->s[i] == 'E'))
		return -1;
	r->i = i;
	return 0;
}

static int read_literal(struct reader *r, const char *lit, size_t n)
{
	if (r->n - r->i < n || memcmp(r->s + r->i, lit, n) != 0)
		return -1;
	r->i += n;
	return 0;
}

static int read_value(struct reader *r, int depth);

static int read_container(struct reader *r, int depth)
{
	char close = r->s[r->i] == '{' ? '}' : ']';
	int object = close == '}';
	r->i++;
	if (r->i < r->n && r->s[r->i] == close) {
		r->i++;
		return 0;
	}
	for (;;) {
		if (object) {
			size_t k = r->i;
			if (r->i >= r->n || r->s[r->i] != '"' || read_string(r) || r->i >= r->n || r->s[r->i] != ':')
				return -1;
			size_t kn = r->i - k - 2;
			r->i++;
			size_t v = r->i;
			if (read_value(r, depth + 1))
				return -1;
			for (int m = 0; depth == 0 && m < M__COUNT; m++)
				if (!r->m[m].p && member_names[m].n == kn && memcmp(r->s + k + 1, member_names[m].s, kn) == 0) {
					r->m[m].p = r->s + v;
					r->m[m].n = r->i - v;
				}
		} else if (read_value(r, depth + 1)) {
			return -1;
		}
		if (r->i >= r->n)
			return -1;
		char c = r->s[r->i++];
		if (c == close)
			return 0;
		if (c != ',')
			return -1;
	}
}

static int read_value(struct reader *r, int depth)
{
	if (r->i >= r->n || depth > TEXT_DEPTH)
		return -1;
	switch (r->s[r->i]) {
	case '{':
	case '[': return read_container(r, depth);
	case '"': return read_string(r);
	case 't': return read_literal(r, "true", 4);
	case 'f': return read_literal(r, "false", 5);
	case 'n': return read_literal(r, "null", 4);
	default: return read_number(r);
	}
}

/* body[0..len) in cJSON's printed form, an object: its members the
 * message takes in r->m.  0, or -1 when the body is not in that form. */
static int read_body(const char *body, size_t len, struct reader *r)
{
	memset(r, 0, sizeof *r);
	r->s = body;
	r->n = len;
	if (!len || body[0] != '{' || read_value(r, 0) || r->i != len)
		return -1;
	return 0;
}

/* The end of the (valid, printed) value at s[i]. */
static size_t value_end(const char *s, size_t n, size_t i)
{
	if (s[i] == '"') {
		for (i++; i < n && s[i] != '"'; i++)
			i += s[i] == '\\';
		return i + 1;
	}
	if (s[i] == '{' || s[i] == '[') {
		int depth = 0;
		for (; i < n; i++) {
			char c = s[i];
			if (c == '"')
				i = value_end(s, n, i) - 1;
			else if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && --depth == 0)
				return i + 1;
		}
		return n;
	}
	while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']')
		i++;
	return i;
}

/* Members of the printed object o, one at a time: *key and *val set, 1; 0
 * at the end.  *at starts at 0. */
static int next_member(struct span o, size_t *at, struct span *key, struct span *val)
{
	size_t i = *at ? *at : 1;
	if (o.n < 2 || o.p[0] != '{' || i >= o.n - 1 || o.p[i] != '"')
		return 0;
	size_t k = value_end(o.p, o.n, i);
	key->p = o.p + i + 1;
	key->n = k - i - 2;
	size_t v = value_end(o.p, o.n, k + 1);
	val->p = o.p + k + 1;
	val->n = v - (k + 1);
	*at = v + 1;
	return 1;
}

static int span_is(struct span s, const char *text)
{
	size_t n = strlen(text);
	return s.p && s.n == n && memcmp(s.p, text, n) == 0;
}

static int is_object(struct span s)
{
	return s.p && s.p[0] == '{';
}

/* A string's text without its quotes, in out (NUL-terminated), when it
 * has no escape and fits; else 0. */
static int plain_string(struct span s, char *out, size_t cap)
{
	if (!s.p || s.p[0] != '"' || s.n - 2 >= cap || memchr(s.p, '\\', s.n))
		return 0;
	memcpy(out, s.p + 1, s.n - 2);
	out[s.n - 2] = '\0';
	return 1;
}

static struct span object_member(struct span o, const char *name)
{
	struct span k, v = { NULL, 0 };
	size_t at = 0;
	while (is_object(o) && next_member(o, &at, &k, &v))
		if (k.n == strlen(name) && memcmp(k.p, name, k.n) == 0)
			return v;
	v.p = NULL;
	return v;
}

static void add_span(struct vg_buf *out, struct span s)
{
	vg_buf_add(out, s.p, s.n);
}

/* A non-empty string as it stands, else null (add_venuegw's rule). */
static void add_string_or_null(struct vg_buf *out, struct span s)
{
	if (s.p && s.p[0] == '"' && s.n > 2)
		add_span(out, s);
	else
		vg_buf_adds(out, "null");
}

/* The identifiers of a person object as person_value takes them (the
 * first member of each name, when a non-empty string), in id_fields' order;
 * v[i].p NULL for none. */
static void read_ids(struct span obj, struct span v[N_ID_FIELDS])
{
	struct span k, val;
	size_t at = 0;
	memset(v, 0, N_ID_FIELDS * sizeof *v);
	while (is_object(obj) && next_member(obj, &at, &k, &val))
		for (size_t i = 0; i < N_ID_FIELDS; i++)
			if (!v[i].p && k.n == strlen(id_fields[i].name) && memcmp(k.p, id_fields[i].name, k.n) == 0) {
				v[i] = val;
				break;
			}
	for (size_t i = 0; i < N_ID_FIELDS; i++)
		if (v[i].p && (v[i].p[0] != '"' || v[i].n <= 2))
			v[i].p = NULL;
}

/* id_type of a printed string value.  A value with an escape holds a '"',
 * a backslash or a control character, which no token and no hex digest
 * has; any other is its text without the quotes.  NULL: out of memory. */
static const char *span_id_type(const struct id_field *f, struct span v)
{
	if (!f->contact || memchr(v.p, '\\', v.n))
		return f->contact ? f->contact->plain : f->type;
	char small[128], *s = v.n - 2 < sizeof small ? small : malloc(v.n - 1);
	if (!s)
		return NULL;
	memcpy(s, v.p + 1, v.n - 2);
	s[v.n - 2] = '\0';
	const char *t = id_type(f, s);
	if (s != small)
		free(s);
	return t;
}

/* One externalIds entry per identifier (add_identity's order); -1 when out
 * of memory. */
static int add_external_ids(struct vg_buf *out, const struct span v[N_ID_FIELDS], int *first)
{
	for (size_t i = 0; i < N_ID_FIELDS; i++) {
		if (!v[i].p)
			continue;
		const char *type = span_id_type(&id_fields[i], v[i]);
		if (!type)
			return -1;
		vg_buf_adds(out, *first ? "{\"id\":" : ",{\"id\":");
		add_span(out, v[i]);
		vg_buf_adds(out, ",\"type\":");
		add_json_string(out, type);
		vg_buf_adds(out, ",\"collection\":\"users\",\"encoding\":\"none\"}");
		*first = 0;
	}
	return 0;
}

/* properties (add_properties): the body's object, less the first member
 * named device_occurred_at when the gateway set its own, which goes last. */
static void add_props(struct vg_buf *out, struct span props, struct span dev_at)
{
	int has_dev = dev_at.p && dev_at.p[0] == '"';
	if (!is_object(props)) {
		props.p = "{}";
		props.n = 2;
	}
	struct span k, v;
	size_t at = 0, from = 0, to = 0, before = out->len;
	while (has_dev && next_member(props, &at, &k, &v)) {
		if (k.n == sizeof "device_occurred_at" - 1 && memcmp(k.p, "device_occurred_at", k.n) == 0) {
			from = (size_t)(k.p - 1 - props.p); /* its key's quote */
			to = (size_t)(v.p + v.n - props.p);
			break;
		}
	}
	if (to) {
		/* drop "device_occurred_at":V and one comma next to it */
		if (props.p[to] == ',')
			to++;
		else if (props.p[from - 1] == ',')
			from--;
		vg_buf_add(out, props.p, from);
		vg_buf_add(out, props.p + to, props.n - to);
	} else {
		add_span(out, props);
	}
	if (!has_dev || out->err != VG_OK)
		return;
	/* the closing brace goes after the gateway's member */
	out->len--;
	vg_buf_adds(out, out->len - before > 1 ? ",\"device_occurred_at\":" : "\"device_occurred_at\":");
	add_span(out, dev_at);
	vg_buf_add(out, "}", 1);
}

int vg_encode_text(const struct vg_encode_ctx *ctx, const struct vg_wire_consts *wc,
                   const struct vg_encode_event *ev, struct vg_buf *out)
{
	struct reader r;
	int rc = VG_ENCODE_TREE;
	if (out->err != VG_OK)
		return out->err; /* the buffer's earlier failure: nothing appended */
	if (check_args(ctx, ev) != VG_OK || !ev->body || !wc || read_body(ev->body, ev->body_len, &r))
		return VG_ENCODE_TREE;
	struct span type = r.m[M_TYPE], person = r.m[M_PERSON], previous = r.m[M_PREVIOUS];
	if (!type.p || type.p[0] != '"' || type.n <= 2)
		return VG_ENCODE_TREE;
	int identify = span_is(type, "\"" CONSENT_TYPE "\"");

	/* timestamp (event_time) */
	int64_t ts = ev->received_at_ms;
	struct span at = r.m[M_OCCURRED_AT];
	if (at.p && at.p[0] == '"') {
		char text[64];
		int64_t t, u;
		int has_offset;
		if (!plain_string(at, text, sizeof text))
			return VG_ENCODE_TREE;
		if (vg_time_parse(text, &t, &has_offset) == VG_OK)
			ts = has_offset ? t : local_to_utc(t, &u) == 0 ? u : ev->received_at_ms;
	}

	/* userId (customer_id, id_fields[0]), or the best anonymousId (add_identity) */
	struct span ids[N_ID_FIELDS], prev[N_ID_FIELDS], user, anon = { NULL, 0 };
	read_ids(person, ids);
	user = ids[0];
	int anon_rank = 0;
	for (size_t i = 0; !user.p && i < N_ID_FIELDS; i++) {
		if (ids[i].p && id_fields[i].anon_rank && (!anon.p || id_fields[i].anon_rank < anon_rank)) {
			anon = ids[i];
			anon_rank = id_fields[i].anon_rank;
		}
	}

	size_t start = out->len;
	char when[25];
	vg_buf_adds(out, identify ? "{\"type\":\"identify\",\"messageId\":" : "{\"type\":\"track\",\"messageId\":");
	add_json_string(out, ev->event_key);
	if (!identify) {
		vg_buf_adds(out, ",\"event\":");
		add_span(out, type);
	}
	vg_time_format(ts, when);
	vg_buf_adds(out, ",\"timestamp\":\"");
	vg_buf_adds(out, when);
	if (user.p || anon.p) {
		vg_buf_adds(out, user.p ? "\",\"userId\":" : "\",\"anonymousId\":");
		add_span(out, user.p ? user : anon);
	} else {
		/* never neither: a device-scoped anonymous id */
		char dev[512];
		int n = snprintf(dev, sizeof dev, "device:%s:%s", ctx->venue_id, ev->device_id);
		if (n < 0 || (size_t)n >= sizeof dev)
			goto tree;
		vg_buf_adds(out, "\",\"anonymousId\":");
		add_json_string(out, dev);
	}
	if (identify) {
		vg_buf_adds(out, ",\"traits\":{}");
	} else {
		vg_buf_adds(out, ",\"properties\":");
		add_props(out, r.m[M_PROPERTIES], r.m[M_DEV_AT]);
	}
	vg_buf_adds(out, ",\"context\":{\"externalIds\":[");
	int first = 1;
	read_ids(previous, prev);
	if (add_external_ids(out, ids, &first) || add_external_ids(out, prev, &first))
		out->err = VG_ERR_NOMEM;
	vg_buf_add(out, "]", 1);
	if (identify) {
		struct span consent = r.m[M_CONSENT], k, v;
		size_t it = 0;
		int n = 0;
		vg_buf_adds(out, ",\"consent\":{\"categoryPreferences\":{");
		while (is_object(consent) && next_member(consent, &it, &k, &v)) {
			if (!span_is(v, "true") && !span_is(v, "false"))
				continue;
			if (n++)
				vg_buf_add(out, ",", 1);
			vg_buf_add(out, k.p - 1, k.n + 3); /* "name": */
			add_span(out, v);
		}
		vg_buf_add(out, "}", 1);
		struct span src = is_object(consent) ? object_member(consent, "source") : (struct span){ NULL, 0 };
		if (src.p && src.p[0] == '"') {
			vg_buf_adds(out, ",\"source\":");
			add_span(out, src);
		}
		vg_buf_add(out, "}", 1);
	}
	struct span id = r.m[M_ID], seq = r.m[M_SEQ], plan = r.m[M_PLAN];
	vg_buf_adds(out, ",\"venuegw\":{");
	vg_buf_add(out, wc->venuegw, wc->venuegw_len);
	vg_buf_adds(out, "\"device_id\":");
	add_json_string(out, ev->device_id);
	vg_buf_adds(out, ",\"device_event_id\":");
	add_string_or_null(out, id);
	vg_buf_adds(out, ",\"device_seq\":");
	if (seq.p && (seq.p[0] == '-' || (seq.p[0] >= '0' && seq.p[0] <= '9')))
		add_span(out, seq);
	else
		vg_buf_adds(out, "null");
	vg_time_format(ev->received_at_ms, when);
	vg_buf_adds(out, ",\"received_at\":\"");
	vg_buf_adds(out, when);
	vg_buf_adds(out, "\",\"plan\":");
	add_string_or_null(out, plan);
	vg_buf_adds(out, ",\"flags\":[");
	for (int bit = 0, n = 0; bit < VG_FLAG__COUNT; bit++) {
		if (!(ev->flags & (1u << bit)))
			continue;
		const char *name = vg_flag_name(bit);
		if (n++)
			vg_buf_add(out, ",", 1);
		add_json_string(out, name ? name : "unknown");
	}
	vg_buf_adds(out, "]}");
	vg_buf_add(out, wc->library, wc->library_len);
	if (out->err == VG_OK)
		return VG_OK;
	rc = out->err == VG_ERR_NOMEM ? VG_ERR_NOMEM : VG_ENCODE_TREE;
tree:
	/* Out of memory (the failure stays in out), or too large for out or too
	 * long to format (the tree's way, from scratch): nothing appended. */
	out->len = start;
	out->err = rc == VG_ERR_NOMEM ? VG_ERR_NOMEM : VG_OK;
	if (out->p)
		out->p[start] = '\0';
	return rc;
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

/* ---- the identity of a printed message (the Kafka record key) ----------------- */

/* Past the JSON string starting at msg[i] == '"': the index after its
 * closing quote, or 0 when it does not close. */
static size_t skip_string(const char *msg, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (msg[i] == '\\')
			i++;
		else if (msg[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Past the value starting at msg[i]: the index after it, or 0. */
static size_t skip_value(const char *msg, size_t len, size_t i)
{
	if (i >= len)
		return 0;
	if (msg[i] == '"')
		return skip_string(msg, len, i);
	if (msg[i] != '{' && msg[i] != '[') {
		while (i < len && msg[i] != ',' && msg[i] != '}' && msg[i] != ']')
			i++;
		return i < len ? i : 0;
	}
	int depth = 0;
	while (i < len) {
		char c = msg[i];
		if (c == '"') {
			if (!(i = skip_string(msg, len, i)))
				return 0;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return 0;
}

/* Unescape the JSON string text s[0..n) (without quotes) into out. */
static int unescape(const char *s, size_t n, char *out, size_t outsz, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned cp = (unsigned char)s[i];
		if (cp == '\\') {
			if (++i >= n)
				return VG_ERR_INVAL;
			switch (s[i]) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (i + 4 >= n)
					return VG_ERR_INVAL;
				cp = 0;
				for (size_t k = 1; k <= 4; k++) {
					int h = hexval(s[i + k]);
					if (h < 0)
						return VG_ERR_INVAL;
					cp = cp << 4 | (unsigned)h;
				}
				i += 4;
				if (cp >= 0xd800 && cp <= 0xdfff)
					return VG_ERR_INVAL; /* cJSON prints such text raw, never escaped */
				break;
			default:
				return VG_ERR_INVAL;
			}
			char enc[3];
			size_t m = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
			if (m == 1) {
				enc[0] = (char)cp;
			} else if (m == 2) {
				enc[0] = (char)(0xc0 | cp >> 6);
				enc[1] = (char)(0x80 | (cp & 0x3f));
			} else {
				enc[0] = (char)(0xe0 | cp >> 12);
				enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				enc[2] = (char)(0x80 | (cp & 0x3f));
			}
			if (o + m > outsz)
				return VG_ERR_INVAL;
			memcpy(out + o, enc, m);
			o += m;
			continue;
		}
		if (o + 1 > outsz)
			return VG_ERR_INVAL;
		out[o++] = (char)cp;
	}
	*outlen = o;
	return VG_OK;
}

int vg_message_identity(const char *msg, size_t len, char *out, size_t outsz, size_t *outlen)
{
	*outlen = 0;
	size_t i = 0;
	if (!len || msg[0] != '{')
		return VG_ERR_INVAL;
	i = 1;
	const char *anon = NULL;
	size_t anon_n = 0;
	while (i < len && msg[i] == '"') {
		size_t kend = skip_string(msg, len, i);
		if (!kend || kend >= len || msg[kend] != ':')
			return VG_ERR_INVAL;
		const char *key = msg + i + 1;
		size_t keylen = kend - i - 2;
		size_t v = kend + 1;
		size_t vend = skip_value(msg, len, v);
		if (!vend)
			return VG_ERR_INVAL;
		if (msg[v] == '"') {
			if (keylen == 6 && memcmp(key, "userId", 6) == 0)
				return unescape(msg + v + 1, vend - v - 2, out, outsz, outlen);
			if (keylen == 11 && memcmp(key, "anonymousId", 11) == 0 && !anon) {
				anon = msg + v + 1;
				anon_n = vend - v - 2;
			}
		}
		if (vend >= len || msg[vend] != ',')
			break;
		i = vend + 1;
	}
	return anon ? unescape(anon, anon_n, out, outsz, outlen) : VG_ERR_INVAL;
}
