#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

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

int vg_ingest(const struct vg_ingest_cfg *cfg, const char *device_id, const void *payload,
              size_t len, int64_t now_ms, int clock_synced, struct vg_ingest_out *out)
{
	memset(out, 0, sizeof *out);
	out->priority = VG_PRIO_NORMAL;
	if (!cfg->key)
		return VG_ERR_INVAL;
	keyed_digest(cfg->key, payload, len, out->digest);

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
	if (cfg->key_kind && cfg->key_value) {
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
	if (cJSON_IsString(type)) {
		snprintf(out->type, sizeof out->type, "%s", type->valuestring);
		out->priority = vg_contract_priority(type->valuestring);
	}

	int rc = vg_contract_check(ev, &out->rej);
	if (rc == VG_ERR_NOMEM)
		goto done;
	if (rc != VG_OK) {
		out->quarantined = 1;
		rc = VG_OK;
	} else if ((rc = check_time(cfg, ev, now_ms, clock_synced, out)) == VG_ERR_INVAL) {
		rc = VG_OK; /* quarantined */
	}
	if (rc)
		goto done;

	/* Identity tokens, from the raw values, before scrubbing replaces them:
	 * under the current key, then under every other version of the ring. */
	cJSON *person = cJSON_GetObjectItemCaseSensitive(ev, "person");
	if (cJSON_IsObject(person)) {
		static const char *const fields[] = { "email", "phone", "customer_id", "loyalty_id",
		                                      "member_code", "payment_customer_id" };
		size_t nkeys = cfg->ring ? cfg->ring->n : 0;
		for (size_t k = 0; k <= nkeys; k++) {
			const struct vg_key *key = k == 0 ? cfg->key : &cfg->ring->keys[k - 1];
			if (k > 0 && key->version == cfg->key->version)
				continue;
			for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
				if (out->nidents >= VG_INGEST_IDENTS_MAX)
					break;
				cJSON *v = cJSON_GetObjectItemCaseSensitive(person, fields[i]);
				if (!cJSON_IsString(v))
					continue;
				int stored = cfg->stored_body ? vg_pii_stored_form(fields[i], v->valuestring) : 0;
				if (stored == 1) {
					/* A token of a stored body: its own identity, once. */
					if (k == 0)
						snprintf(out->idents[out->nidents++], VG_TOKEN_MAX, "%s", v->valuestring);
					continue;
				}
				if (stored)
					continue;
				if (vg_pii_identity_token(key, fields[i], v->valuestring, strlen(v->valuestring),
				                          cfg->default_country_code, out->idents[out->nidents], NULL, 0) > 0)
					out->nidents++;
			}
		}
	}

	/* During a rotation's overlap, the previous key's tokens of the fields
	 * that are tokenized, sent alongside (body "_previous_tokens"). */
	char prev[6][VG_TOKEN_MAX];
	const char *prev_field[6];
	int nprev = 0;
	if (cfg->prev_key && cJSON_IsObject(person)) {
		static const char *const fields[] = { "email", "phone", "customer_id", "loyalty_id",
		                                      "member_code", "payment_customer_id" };
		const enum vg_policy pols[] = { cfg->policy.email, cfg->policy.phone, cfg->policy.customer_id,
		                                cfg->policy.loyalty_id, cfg->policy.member_code,
		                                cfg->policy.payment_customer_id };
		for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
			cJSON *v = cJSON_GetObjectItemCaseSensitive(person, fields[i]);
			if (pols[i] == VG_POL_TOKEN && cJSON_IsString(v) &&
			    vg_pii_identity_token(cfg->prev_key, fields[i], v->valuestring, strlen(v->valuestring),
			                          cfg->default_country_code, prev[nprev], NULL, 0) > 0)
				prev_field[nprev++] = fields[i];
		}
	}

	struct vg_pii_ctx pctx = { .key = cfg->key, .default_cc = cfg->default_country_code,
	                           .policy = cfg->policy };
	/* A stored body's tokens and digests are not scrubbed a second time:
	 * set aside while the rest is, then put back. */
	cJSON *kept = NULL;
	if (cfg->stored_body && cJSON_IsObject(person)) {
		cJSON *next;
		for (cJSON *it = person->child; it; it = next) {
			next = it->next;
			if (!it->string || !cJSON_IsString(it) || !vg_pii_stored_form(it->string, it->valuestring))
				continue;
			if (!kept && !(kept = cJSON_CreateObject())) {
				rc = VG_ERR_NOMEM;
				goto done;
			}
			cJSON_AddItemToObject(kept, it->string, cJSON_DetachItemViaPointer(person, it));
		}
	}
	rc = vg_pii_scrub_event(ev, &pctx, &out->pii);
	if (kept) {
		cJSON *p = cJSON_GetObjectItemCaseSensitive(ev, "person");
		cJSON *next;
		for (cJSON *it = kept->child; p && it; it = next) {
			next = it->next;
			cJSON_AddItemToObject(p, it->string, cJSON_DetachItemViaPointer(kept, it));
		}
		vg_json_wipe_delete(kept);
	}
	if (rc)
		goto done;
	if (out->pii.fields_dropped || out->pii.phones_dropped || out->pii.emails_dropped)
		out->flags |= VG_FLAG_PII_DROPPED;
	if (nprev) {
		cJSON *p = cJSON_AddObjectToObject(ev, "_previous_tokens");
		for (int i = 0; p && i < nprev; i++)
			if (!cJSON_AddStringToObject(p, prev_field[i], prev[i]))
				p = NULL;
		if (!p) {
			rc = VG_ERR_NOMEM;
			goto done;
		}
	}

	id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	if (cJSON_IsString(id))
		snprintf(out->device_event_id, sizeof out->device_event_id, "%s", id->valuestring);
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

int vg_clock_synced(void)
{
	struct timex tx = { 0 };
	int state = adjtimex(&tx);
	return state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}
