#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "digest.h"
#include "err.h"

static const char *const flag_names[VG_FLAG__COUNT] = {
	"timestamp_assumed_tz", "timestamp_future_replaced", "timestamp_past_replaced",
	"gateway_clock_unsynced", "timestamp_missing", "pii_dropped",
};

const char *vg_flag_name(int bit)
{
	return bit >= 0 && bit < VG_FLAG__COUNT ? flag_names[bit] : NULL;
}

void vg_ingest_cfg_init(struct vg_ingest_cfg *icfg, const struct vg_config *cfg, const struct vg_key *key)
{
	memset(icfg, 0, sizeof *icfg);
	icfg->venue_id = cfg->venue_id;
	icfg->key = key;
	icfg->default_country_code = cfg->default_country_code;
	icfg->has_timezone = cfg->timezone[0] != '\0';
	icfg->max_future_skew_s = cfg->max_future_skew_s;
	icfg->max_past_age_d = cfg->max_past_age_d;
	icfg->unknown_quarantine = cfg->unknown == VG_UNKNOWN_QUARANTINE;
	vg_config_pii_policy(cfg, &icfg->policy);
}

static void keyed_digest(const struct vg_key *key, const void *payload, size_t len, char out[23])
{
	static const char label[] = "venuegw-quarantine-v1";
	const void *parts[2] = { label, payload };
	size_t lens[2] = { sizeof label, len }; /* the label's NUL separates it */
	uint8_t mac[32];
	vg_hmac_sha256(key->bytes, sizeof key->bytes, parts, lens, 2, mac);
	vg_b64url(mac, 16, out);
}

static void reject(struct vg_ingest_out *out, enum vg_reject_reason r, const char *field,
                   const char *detail)
{
	out->quarantined = 1;
	out->rej.reason = r;
	out->rej.offset = -1;
	snprintf(out->rej.field, sizeof out->rej.field, "%s", field);
	snprintf(out->rej.detail, sizeof out->rej.detail, "%s", detail);
}

void vg_ingest_reject(struct vg_ingest_out *out, enum vg_reject_reason reason, const char *detail)
{
	reject(out, reason, "", detail);
}

/* occurred_at: parse, check against the receive time, rewrite when needed.
 * Returns VG_OK, VG_ERR_INVAL (quarantine: out->rej set), VG_ERR_NOMEM. */
static int check_time(const struct vg_ingest_cfg *cfg, cJSON *ev, int64_t now_ms, int synced,
                      struct vg_ingest_out *out)
{
	if (!synced)
		out->flags |= VG_FLAG_CLOCK_UNSYNCED;
	cJSON *at = cJSON_GetObjectItemCaseSensitive(ev, "occurred_at");
	char now_text[25];
	vg_time_format(now_ms, now_text);
	if (!at) {
		/* Only types whose contract does not require it get here. */
		out->flags |= VG_FLAG_TS_MISSING;
		return cJSON_AddStringToObject(ev, "occurred_at", now_text) ? VG_OK : VG_ERR_NOMEM;
	}
	int64_t t;
	int has_offset;
	if (!cJSON_IsString(at) || vg_time_parse(at->valuestring, &t, &has_offset) != VG_OK) {
		reject(out, VG_REJ_BAD_TIME, "occurred_at",
		       "not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS[.fff]+HH:MM)");
		return VG_ERR_INVAL;
	}
	if (!has_offset) {
		if (!cfg->has_timezone) {
			reject(out, VG_REJ_BAD_TIME, "occurred_at",
			       "no UTC offset, and the gateway has no [gateway] timezone to assume");
			return VG_ERR_INVAL;
		}
		/* The daemon converts it; the broker's process never changes its zone. */
		out->flags |= VG_FLAG_TS_ASSUMED_TZ;
		return VG_OK;
	}
	if (!synced)
		return VG_OK;
	unsigned replaced = 0;
	if (t > now_ms + (int64_t)cfg->max_future_skew_s * 1000)
		replaced = VG_FLAG_TS_FUTURE;
	else if (t < now_ms - (int64_t)cfg->max_past_age_d * 86400000)
		replaced = VG_FLAG_TS_PAST;
	if (!replaced)
		return VG_OK;
	out->flags |= replaced;
	/* Keep what the device said, for reconciliation with its logs. */
	cJSON *orig = cJSON_CreateString(at->valuestring);
	cJSON *now_item = cJSON_CreateString(now_text);
	if (!orig || !now_item) {
		cJSON_Delete(orig);
		cJSON_Delete(now_item);
		return VG_ERR_NOMEM;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "device_occurred_at");
	cJSON_AddItemToObject(ev, "device_occurred_at", orig);
	cJSON_ReplaceItemInObjectCaseSensitive(ev, "occurred_at", now_item);
	return VG_OK;
}

/* Identity tokens under one key, for vg_plan_identifiers. */
struct idents {
	const struct vg_ingest_cfg *cfg;
	struct vg_ingest_out *out;
	const struct vg_key *key;
	int first_key;
};

static int add_ident(void *ud, const char *cls, const char *value)
{
	struct idents *ic = ud;
	struct vg_ingest_out *out = ic->out;
	if (out->nidents >= VG_INGEST_IDENTS_MAX)
		return 1;
	int stored = ic->cfg->stored_body ? vg_pii_stored_form(cls, value) : 0;
	if (stored == 1) {
		/* A token of a stored body is its own identity, once. */
		if (ic->first_key)
			snprintf(out->idents[out->nidents++], VG_TOKEN_MAX, "%s", value);
		return 0;
	}
	if (stored)
		return 0;
	if (vg_pii_identity_token(ic->key, cls, value, strlen(value), ic->cfg->default_country_code,
	                          out->idents[out->nidents], NULL, 0) > 0)
		out->nidents++;
	return 0;
}

/* The previous key's tokens of tokenized identifiers, one per class. */
struct prev_tokens {
	const struct vg_ingest_cfg *cfg;
	const char *cls[VG_PII_IDENTITY_CLASSES];
	char tok[VG_PII_IDENTITY_CLASSES][VG_TOKEN_MAX];
	int n;
};

static int add_prev(void *ud, const char *cls, const char *value)
{
	struct prev_tokens *pt = ud;
	const struct vg_pii_policy *pol = &pt->cfg->policy;
	int c = vg_pii_class_parse(cls);
	enum vg_policy p = c == VG_PII_EMAIL ? pol->email : c == VG_PII_PHONE ? pol->phone
	                 : c == VG_PII_CUSTOMER_ID ? pol->customer_id : c == VG_PII_LOYALTY_ID ? pol->loyalty_id
	                 : c == VG_PII_MEMBER_CODE ? pol->member_code : pol->payment_customer_id;
	if (p != VG_POL_TOKEN || pt->n >= VG_PII_IDENTITY_CLASSES)
		return 0;
	for (int i = 0; i < pt->n; i++)
		if (strcmp(pt->cls[i], cls) == 0)
			return 0; /* the first of each class, as person fields were */
	if (pt->cfg->stored_body && vg_pii_stored_form(cls, value))
		return 0;
	if (vg_pii_identity_token(pt->cfg->prev_key, cls, value, strlen(value), pt->cfg->default_country_code,
	                          pt->tok[pt->n], NULL, 0) > 0)
		pt->cls[pt->n++] = vg_pii_class_name((enum vg_pii_class)c);
	return 0;
}

/* A member the plan does not declare was dropped: count it by path. */
static void note_undeclared(void *ud, const char *path)
{
	struct vg_ingest_out *out = ud;
	out->undeclared_total++;
	for (int i = 0; i < out->nundeclared; i++)
		if (strcmp(out->undeclared[i], path) == 0) {
			out->undeclared_n[i]++;
			return;
		}
	if (out->nundeclared < VG_INGEST_UNDECLARED_MAX) {
		snprintf(out->undeclared[out->nundeclared], VG_PLAN_PATH_MAX, "%s", path);
		out->undeclared_n[out->nundeclared++] = 1;
	}
}

static int ingest(const struct vg_ingest_cfg *cfg, const char *device_id, const void *payload,
                  size_t len, int64_t now_ms, int clock_synced, struct vg_ingest_out *out);

int vg_ingest(const struct vg_ingest_cfg *cfg, const char *device_id, const void *payload,
              size_t len, int64_t now_ms, int clock_synced, struct vg_ingest_out *out)
{
	int rc = ingest(cfg, device_id, payload, len, now_ms, clock_synced, out);
	if (rc)
		return rc;
	if (cfg->reject != VG_REJ_NONE)
		vg_ingest_reject(out, cfg->reject, cfg->reject_detail ? cfg->reject_detail : "");
	/* Only a quarantine row keeps the digest: an accepted event costs no
	 * pass over its raw bytes for it. */
	if (out->quarantined)
		keyed_digest(cfg->key, payload, len, out->digest);
	return VG_OK;
}

static int ingest(const struct vg_ingest_cfg *cfg, const char *device_id, const void *payload,
                  size_t len, int64_t now_ms, int clock_synced, struct vg_ingest_out *out)
{
	memset(out, 0, sizeof *out);
	out->priority = VG_PRIO_NORMAL;
	if (!cfg->key || !cfg->plan)
		return VG_ERR_INVAL;

	cJSON *ev = NULL;
	int drc = vg_event_decode(payload, len, &ev, &out->rej);
	if (drc == VG_ERR_NOMEM)
		return drc;
	if (drc != VG_OK) {
		out->quarantined = 1;
		return VG_OK;
	}
	/* The key comes from the raw input, before anything is rewritten. */
	cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	if (cfg->event_key && strlen(cfg->event_key) == VG_EVENT_KEY_LEN) {
		memcpy(out->event_key, cfg->event_key, VG_EVENT_KEY_LEN + 1);
	} else if (cfg->key_kind && cfg->key_value) {
		vg_event_key(cfg->venue_id, device_id, cfg->key_kind, cfg->key_value, strlen(cfg->key_value),
		             out->event_key);
	} else if (cJSON_IsString(id) && id->valuestring[0] && strlen(id->valuestring) <= VG_EVENT_ID_MAX) {
		vg_event_key(cfg->venue_id, device_id, "id", id->valuestring, strlen(id->valuestring),
		             out->event_key);
	} else {
		uint8_t h[32];
		vg_sha256(payload, len, h);
		vg_event_key(cfg->venue_id, device_id, "body", h, sizeof h, out->event_key);
	}
	cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	if (cJSON_IsString(type) && vg_plan_has(cfg->plan, type->valuestring)) {
		/* Only a type the plan has: an unknown one may be anything. */
		snprintf(out->type, sizeof out->type, "%s", type->valuestring);
		out->priority = vg_plan_priority(cfg->plan, type->valuestring);
	}

	/* Checks read the raw event; nothing has been rewritten yet. */
	int rc = vg_plan_check(cfg->plan, ev, cfg->default_country_code, &out->rej);
	if (rc == VG_ERR_NOMEM)
		goto done;
	if (rc != VG_OK) {
		out->quarantined = 1;
		rc = VG_OK;
	}

	/* Identity tokens, from the raw values, before apply replaces them. */
	struct idents id_ctx = { .cfg = cfg, .out = out };
	for (size_t k = 0; k <= (cfg->ring ? cfg->ring->n : 0); k++) {
		id_ctx.key = k == 0 ? cfg->key : &cfg->ring->keys[k - 1];
		id_ctx.first_key = k == 0;
		if (k > 0 && id_ctx.key->version == cfg->key->version)
			continue;
		vg_plan_identifiers(cfg->plan, ev, add_ident, &id_ctx);
	}

	/* During a rotation's overlap, the previous key's tokens of the
	 * identifiers that are tokenized, sent alongside (body "_previous_tokens"). */
	struct prev_tokens prev = { .cfg = cfg };
	if (cfg->prev_key)
		vg_plan_identifiers(cfg->plan, ev, add_prev, &prev);

	/* What may be stored: undeclared members dropped, classes applied. */
	struct vg_pii_ctx pctx = { .key = cfg->key, .default_cc = cfg->default_country_code,
	                           .policy = cfg->policy };
	/* A stored body's own members (venuegw wrote them, the plan does not
	 * declare them) are set aside while the plan applies. */
	static const char *const own[] = { "device_occurred_at", "_previous_tokens" };
	cJSON *kept[2] = { NULL, NULL };
	for (size_t i = 0; cfg->stored_body && i < 2; i++)
		kept[i] = cJSON_DetachItemFromObjectCaseSensitive(ev, own[i]);
	if (cfg->stored_body)
		vg_json_wipe_delete(cJSON_DetachItemFromObjectCaseSensitive(ev, "_plan"));
	/* Held or not, nothing raw may stay: ids are looked at again only when
	 * the check did not pass them all. */
	int aflags = (cfg->stored_body ? VG_PLAN_STORED_BODY : 0) | (out->quarantined ? 0 : VG_PLAN_IDS_CLEAN);
	rc = vg_plan_apply(cfg->plan, ev, &pctx, &out->pii, aflags, note_undeclared, out);
	for (size_t i = 0; i < 2; i++)
		if (kept[i] && (rc || !cJSON_AddItemToObject(ev, own[i], kept[i])))
			vg_json_wipe_delete(kept[i]);
	if (rc)
		goto done;
	if (!out->quarantined && out->undeclared_total && cfg->unknown_quarantine)
		reject(out, VG_REJ_UNDECLARED, out->undeclared[0],
		       "not declared by the tracking plan ([contracts] unknown = quarantine)");
	if (!out->quarantined && (rc = check_time(cfg, ev, now_ms, clock_synced, out)) == VG_ERR_INVAL)
		rc = VG_OK; /* quarantined */
	if (rc)
		goto done;
	if (out->pii.fields_dropped || out->pii.phones_dropped || out->pii.emails_dropped)
		out->flags |= VG_FLAG_PII_DROPPED;
	const char *version = vg_plan_version(cfg->plan);
	if (version[0]) {
		if (!cJSON_AddStringToObject(ev, "_plan", version)) {
			rc = VG_ERR_NOMEM;
			goto done;
		}
	}
	if (prev.n) {
		vg_json_wipe_delete(cJSON_DetachItemFromObjectCaseSensitive(ev, "_previous_tokens"));
		cJSON *p = cJSON_AddObjectToObject(ev, "_previous_tokens");
		for (int i = 0; p && i < prev.n; i++)
			if (!cJSON_AddStringToObject(p, prev.cls[i], prev.tok[i]))
				p = NULL;
		vg_wipe(prev.tok, sizeof prev.tok);
		if (!p) {
			rc = VG_ERR_NOMEM;
			goto done;
		}
	}

	id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	if (cJSON_IsString(id))
		snprintf(out->device_event_id, sizeof out->device_event_id, "%s", id->valuestring);
	if ((rc = vg_json_exact_numbers(ev)) != VG_OK)
		goto done;
	out->body = cJSON_PrintUnformatted(ev);
	if (!out->body) {
		rc = VG_ERR_NOMEM;
		goto done;
	}
	out->body_len = strlen(out->body);
done:
	vg_json_wipe_delete(ev);
	if (rc)
		vg_ingest_out_free(out);
	return rc;
}

void vg_ingest_out_free(struct vg_ingest_out *out)
{
	if (out->body) {
		vg_wipe(out->body, out->body_len);
		cJSON_free(out->body);
	}
	out->body = NULL;
	out->body_len = 0;
}
