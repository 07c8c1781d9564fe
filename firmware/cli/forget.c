/* venuegw forget — erasure at the desk (DESIGN.md §3 promise 6, §6).
 *
 * Identifiers are read from standard input, one per line, never from argv
 * (so they land in no shell history or process list).  For each, in short
 * transactions so capture never waits on it (§6: the broker's thread gives
 * up after 100 ms): first a suppression under every key version of the key
 * file (staged ones too) in its own tiny transaction — capture suppresses the
 * person from then on —; then every buffered row carrying the person's tokens
 * or kept plain identifier is found by reads that lock nothing and deleted a
 * slice of row ids at a time; then a tombstone (a keyed digest, the time, the
 * rows purged — no personal data) and the erasure.requested notice for the
 * CDP (priority lane), both in one transaction.  Finally the WAL is
 * checkpointed and truncated so no old page keeps the data.  --lift ends
 * suppressions. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "contract.h"
#include "cli.h"
#include "clock.h"
#include "digest.h"
#include "err.h"
#include "event.h"
#include "intake.h"
#include "keys.h"
#include "pii.h"
#include "store_erasure.h"

#define MAX_IDS 1000
#define SLICE_ROWS 2000        /* rows read per slice: a few ms of instr() */
_Static_assert(SLICE_ROWS <= VG_STORE_ERASE_SLICE_MAX, "a slice's matching rows all fit in one call");

static const struct {
	const char *flag, *field;
	size_t policy;                /* offset in struct vg_pii_policy */
} kinds[] = {
	{ "--email", "email", offsetof(struct vg_pii_policy, email) },
	{ "--phone", "phone", offsetof(struct vg_pii_policy, phone) },
	{ "--customer-id", "customer_id", offsetof(struct vg_pii_policy, customer_id) },
	{ "--loyalty-id", "loyalty_id", offsetof(struct vg_pii_policy, loyalty_id) },
	{ "--member-code", "member_code", offsetof(struct vg_pii_policy, member_code) },
	{ "--payment-customer-id", "payment_customer_id", offsetof(struct vg_pii_policy, payment_customer_id) },
};
_Static_assert(sizeof kinds / sizeof kinds[0] == VG_PII_IDENTITY_CLASSES, "one flag per identity class");

const char vg_help_forget[] =
	"Usage: venuegw forget (--email | --phone | --customer-id | --loyalty-id | --member-code\n"
	"                       | --payment-customer-id) [--lift] < identifiers\n"
	"Reads one identifier per line from standard input (never from the command line).\n"
	"Deletes every buffered event and quarantined input carrying it, records a tombstone\n"
	"without personal data, suppresses the person's future events at capture, and queues\n"
	"an erasure.requested notice for the CDP.  --lift ends the suppression instead.\n"
	"\n"
	"Exit status: 0 done; 1 buffer.db or the token key file failed; 2 bad command\n"
	"line or configuration, or an identifier that is not one.\n";

/* The tombstone's keyed digest of (field, normalized): proves which request
 * it was to someone holding the key and the identifier, and to nobody else. */
static void tombstone_digest(const struct vg_key *key, const char *field, const char *norm, char out[32])
{
	static const char label[] = "venuegw-tombstone-v1";
	const void *parts[4] = { label, field, "", norm };
	size_t lens[4] = { sizeof label, strlen(field), 1, strlen(norm) };
	uint8_t mac[32];
	vg_hmac_sha256(key->bytes, sizeof key->bytes, parts, lens, 4, mac);
	memcpy(out, "tomb.", 5);
	vg_b64url(mac, 16, out + 5);
}

struct erase_progress {
	long long scanned, deleted, total;
	int64_t started_ms, next_report_ms;
};

/* Delete the rows of one table carrying any of match, a slice of row ids at a
 * time up to to_id.  Progress on stderr every few seconds (a large backlog
 * takes a while). */
static int erase_table(struct vg_store *st, enum vg_store_table table, const char *const *match, size_t nm,
                       long long to_id, struct erase_progress *pr)
{
	for (long long from = 0; from < to_id; from += SLICE_ROWS) {
		long long scanned, deleted;
		int rc = vg_store_erase_slice(st, table, match, nm, from, from + SLICE_ROWS, &scanned, &deleted);
		if (rc)
			return rc;
		pr->scanned += scanned;
		pr->deleted += deleted;
		int64_t now = vg_now_ms();
		if (now >= pr->next_report_ms) {
			fprintf(stderr, "venuegw forget: %lld of %lld rows scanned, %lld purged, %.1f s\n", pr->scanned,
			        pr->total, pr->deleted, (double)(now - pr->started_ms) / 1000.0);
			pr->next_report_ms = now + 5000;
		}
	}
	return VG_OK;
}

/* ",1,2," for the versions of the ring. */
static void versions_text(const struct vg_keyring *kr, char *out, size_t outsz)
{
	size_t len = (size_t)snprintf(out, outsz, ",");
	for (size_t k = 0; k < kr->n && len < outsz; k++)
		len += (size_t)snprintf(out + len, outsz - len, "%u,", kr->keys[k].version);
}

/* The tombstone and the erasure.requested notice for the CDP, in one
 * transaction: both are stored, or neither. */
/* Move the whole intake journal into buffer.db, wiping what was moved. */
static int drain_intake(struct vg_store *st, const struct vg_config *cfg)
{
	char path[VG_CONFIG_DB_PATH_MAX], dir[VG_CONFIG_DB_PATH_MAX + sizeof VG_INTAKE_DIR_SUFFIX];
	if (vg_config_db_path(cfg, path, sizeof path) != VG_OK || vg_intake_dir(path, dir, sizeof dir) != VG_OK)
		return VG_ERR_RANGE;
	struct vg_intake_moved m;
	int rc;
	do
		rc = vg_intake_move(st, dir, 100000, 1, &m);
	while (!rc && m.more);
	return rc;
}

static int tombstone_and_notice(struct vg_store *st, const struct vg_config *cfg, const char *field,
                                const char *value, const char *digest, long long rows, int64_t now)
{
	char at[25], id[96], key[VG_EVENT_KEY_LEN + 1];
	vg_time_format(now, at);
	snprintf(id, sizeof id, "erasure:%s:%lld", digest, (long long)now);
	cJSON *ev = cJSON_CreateObject();
	cJSON *person = ev ? cJSON_AddObjectToObject(ev, "person") : NULL;
	cJSON *props = ev ? cJSON_AddObjectToObject(ev, "properties") : NULL;
	if (!person || !props) {
		cJSON_Delete(ev);
		return VG_ERR_NOMEM;
	}
	cJSON_AddStringToObject(ev, "id", id);
	cJSON_AddStringToObject(ev, "type", "erasure.requested");
	cJSON_AddStringToObject(ev, "occurred_at", at);
	cJSON_AddStringToObject(person, field, value);
	cJSON_AddStringToObject(props, "tombstone", digest);
	cJSON_AddNumberToObject(props, "rows_purged", (double)rows);
	char *body = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!body)
		return VG_ERR_NOMEM;
	vg_event_key(cfg->venue_id, VG_GATEWAY_DEVICE, "id", id, strlen(id), key);
	struct vg_store_event se = {
		.event_key = key, .device_id = VG_GATEWAY_DEVICE, .type = "erasure.requested",
		.priority = VG_PRIO_HIGH, .received_at_ms = now, .body = body, .body_len = strlen(body),
	};
	int rc = vg_store_tombstone(st, digest, now, rows, &se);
	cJSON_free(body);
	return rc;
}

int vg_cmd_forget(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	int kind = -1, lift = 0;
	for (int i = 0; i < argc; i++) {
		int known = 0;
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			if (strcmp(argv[i], kinds[k].flag) == 0) {
				if (kind >= 0) {
					fprintf(stderr, "venuegw forget: one kind of identifier per run\n");
					return VG_EXIT_USAGE;
				}
				kind = (int)k;
				known = 1;
			}
		}
		if (known)
			continue;
		if (strcmp(argv[i], "--lift") == 0) {
			lift = 1;
		} else if (argv[i][0] == '-') {
			return vg_cli_usage_error("forget", "unknown option '%s'", argv[i]);
		} else {
			/* Do not echo it: it may be the identifier itself. */
			fprintf(stderr, "venuegw forget: identifiers are read from standard input, never from the"
			        " command line (argument %d refused)\n", i + 1);
			return VG_EXIT_USAGE;
		}
	}
	if (kind < 0) {
		fputs(vg_help_forget, stderr);
		return VG_EXIT_USAGE;
	}
	const char *field = kinds[kind].field;
	struct vg_pii_policy pol;
	vg_config_pii_policy(cfg, &pol);
	enum vg_policy policy = *(const enum vg_policy *)((const char *)&pol + kinds[kind].policy);

	char err[600];
	struct vg_keyring kr;
	if (vg_keyring_load(&kr, cfg->key_file, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw forget: %s\n", err);
		return VG_EXIT_FAIL;
	}
	int64_t now = vg_wall_ms();
	const struct vg_key *current = vg_keyring_current(&kr, now / 1000);
	if (!current) {
		fprintf(stderr, "venuegw forget: no token key is active yet in %s\n", cfg->key_file);
		vg_keyring_wipe(&kr);
		return VG_EXIT_FAIL;
	}

	/* Read and normalize every line before changing anything. */
	static char norms[MAX_IDS][256];
	static char line[4096];
	int n = 0, lineno = 0, code = VG_EXIT_OK;
	while (fgets(line, sizeof line, stdin)) {
		lineno++;
		size_t len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (strspn(line, " \t") == len)
			continue;
		char tok[VG_TOKEN_MAX];
		if (n == MAX_IDS) {
			fprintf(stderr, "venuegw forget: more than %d identifiers; split the list\n", MAX_IDS);
			code = VG_EXIT_USAGE;
			break;
		}
		if (vg_pii_identity_token(current, field, line, len, cfg->default_country_code, tok, norms[n],
		                          sizeof norms[n]) < 0) {
			fprintf(stderr, "venuegw forget: standard input line %d: not a valid %s\n", lineno, field);
			code = VG_EXIT_USAGE;
		}
		vg_wipe(line, sizeof line);
		n++;
	}
	if (code == VG_EXIT_OK && n == 0) {
		code = vg_cli_usage_error("forget", "%s", "no identifiers on standard input");
	}
	struct vg_store *st = NULL;
	if (code == VG_EXIT_OK) {
		if (!(st = vg_cli_open_store(cfg, 5000, err, sizeof err))) {
			fprintf(stderr, "venuegw forget: %s\n", err);
			code = VG_EXIT_FAIL;
		}
	}
	long long total_rows = 0, total_lifted = 0;
	int processed = 0;
	for (int i = 0; code == VG_EXIT_OK && i < n; i++) {
		processed++;
		/* The person's tokens under every key version (staged ones too, so a
		 * suppression survives a rotation), the sha256 form, and the plain
		 * value as a JSON string (what a keep policy stores). */
		char toks[VG_KEYRING_MAX][VG_TOKEN_MAX], quoted[320], hex[65];
		const char *match[VG_KEYRING_MAX + 2];
		size_t nm = 0, nt = 0;
		for (size_t k = 0; k < kr.n; k++)
			if (vg_pii_identity_token(&kr.keys[k], field, norms[i], strlen(norms[i]), cfg->default_country_code,
			                          toks[nt], NULL, 0) > 0)
				match[nm++] = toks[nt++];
		/* The stored forms of a sha256 or keep policy, matched as that person
		 * field only: a plain value can equal other fields (an order id). */
		uint8_t h[32];
		vg_sha256(norms[i], strlen(norms[i]), h);
		vg_hex(h, sizeof h, hex);
		if (policy == VG_POL_SHA256) {
			snprintf(quoted, sizeof quoted, "\"%s\":\"%s\"", field, hex);
			match[nm++] = quoted;
		} else if (policy == VG_POL_KEEP) {
			snprintf(quoted, sizeof quoted, "\"%s\":\"%s\"", field, norms[i]);
			match[nm++] = quoted;
		}
		if (lift) {
			long long lifted = 0;
			int rc = vg_store_lift(st, match, nt, &lifted);
			if (rc) {
				fprintf(stderr, "venuegw forget --lift: %s\n", vg_strerror(rc));
				code = VG_EXIT_FAIL;
			}
			total_lifted += lifted;
		} else {
			char digest[32], cur[VG_TOKEN_MAX];
			tombstone_digest(current, field, norms[i], digest);
			vg_pii_identity_token(current, field, norms[i], strlen(norms[i]), cfg->default_country_code, cur,
			                      NULL, 0);
			/* 1. The suppression, alone: from its commit on capture stores
			 *    nothing more of the person, so the rows to purge are those
			 *    up to the highest ids read after it. */
			char versions[VG_KEYRING_MAX * 8 + 2];
			versions_text(&kr, versions, sizeof versions);
			struct erase_progress pr = { .started_ms = vg_now_ms() };
			pr.next_report_ms = pr.started_ms + 5000;
			long long ev_max = 0, q_max = 0;
			int rc = vg_store_suppress(st, match, nt, versions, now);
			if (rc) {
				fprintf(stderr, "venuegw forget: %s (%s); nothing of this identifier was changed\n",
				        vg_strerror(rc), vg_store_errmsg(st));
				code = VG_EXIT_FAIL;
				vg_wipe(quoted, sizeof quoted);
				continue;
			}
			/* 2. What the broker has acknowledged so far into buffer.db: from
			 *    here on every event of the person is a row (the records
			 *    appended after the suppression are suppressed when moved),
			 *    and the journal keeps nothing of what was moved.
			 * 3. The rows, a slice at a time; 4. the tombstone and the notice,
			 *    one transaction. */
			rc = drain_intake(st, cfg);
			if (rc) {
				fprintf(stderr, "venuegw forget: cannot move the intake journal into buffer.db: %s (%s);"
				        " the person is suppressed at capture, nothing was purged yet; run forget again\n",
				        vg_strerror(rc), vg_store_errmsg(st));
				code = VG_EXIT_FAIL;
				vg_wipe(quoted, sizeof quoted);
				continue;
			}
			if (!(rc = vg_store_max_ids(st, &ev_max, &q_max))) {
				pr.total = ev_max + q_max;
				rc = erase_table(st, VG_STORE_TABLE_EVENTS, match, nm, ev_max, &pr);
			}
			if (!rc)
				rc = erase_table(st, VG_STORE_TABLE_QUARANTINE, match, nm, q_max, &pr);
			if (!rc)
				rc = tombstone_and_notice(st, cfg, field, policy == VG_POL_KEEP ? norms[i]
				                          : policy == VG_POL_SHA256 ? hex : cur, digest, pr.deleted, now);
			double secs = (double)(vg_now_ms() - pr.started_ms) / 1000.0;
			if (rc) {
				fprintf(stderr, "venuegw forget: %s #%d: %s (%s) after %lld rows scanned and %lld purged in"
				        " %.1f s; the person is suppressed at capture, but no tombstone is recorded and no"
				        " erasure.requested queued for the CDP yet; run forget again to finish\n",
				        field, i + 1, vg_strerror(rc), vg_store_errmsg(st), pr.scanned, pr.deleted, secs);
				code = VG_EXIT_FAIL;
			} else {
				char shown[sizeof versions];
				snprintf(shown, sizeof shown, "%s", versions + 1);
				shown[strlen(shown) ? strlen(shown) - 1 : 0] = '\0';   /* ",1,2," → "1,2" */
				printf("forgot %s #%d: %lld rows scanned, %lld rows purged in %.1f s, tombstone %s,"
				       " suppressed at capture under key versions %s\n", field, i + 1, pr.scanned, pr.deleted,
				       secs, digest, shown);
				total_rows += pr.deleted;
			}
		}
		vg_wipe(quoted, sizeof quoted);
	}
	if (st && code != VG_EXIT_OK && processed < n)
		fprintf(stderr, "venuegw forget: stopped at #%d; #%d to #%d were not processed (nothing of them was"
		        " changed)\n", processed, processed + 1, n);
	if (st && !lift && code == VG_EXIT_OK) {
		if (vg_store_checkpoint_truncate(st, 5000) == VG_OK)
			printf("buffer.db checkpointed and its WAL truncated: no old copy of the purged rows remains\n");
		else
			fprintf(stderr, "venuegw forget: the WAL could not be truncated now (readers busy); old copies"
			        " of the purged rows stay in it until the daemon's next checkpoint\n");
		printf("%d identifier%s forgotten, %lld rows purged; erasure.requested queued for the CDP"
		       " (priority lane)\n", n, n == 1 ? "" : "s", total_rows);
	} else if (st && lift && code == VG_EXIT_OK) {
		printf("%lld suppression%s lifted\n", total_lifted, total_lifted == 1 ? "" : "s");
	}
	vg_store_close(st);
	for (int i = 0; i < n; i++)
		vg_wipe(norms[i], sizeof norms[i]);
	vg_keyring_wipe(&kr);
	return code;
}

/* ---- suppressions and the key file ---------------------------------------------- */

struct sup_check {
	const struct vg_keyring *kr;
	long long lost;
	char missing[128];   /* versions suppressions rely on that the key file lacks: ",1,3," */
};

static int in_ring(const struct vg_keyring *kr, unsigned v)
{
	for (size_t k = 0; k < kr->n; k++)
		if (kr->keys[k].version == v)
			return 1;
	return 0;
}

static int sup_versions(void *ud, const char *versions, long long count, int64_t first_ms)
{
	(void)first_ms;
	struct sup_check *sc = ud;
	if (!versions[0])
		return 0;   /* written before versions were recorded: cannot tell */
	int any = 0;
	for (const char *p = versions; *p;) {
		if (*p == ',') {
			p++;
			continue;
		}
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			break;
		p = end;
		if (in_ring(sc->kr, (unsigned)v)) {
			any = 1;
			continue;
		}
		char needle[16];
		snprintf(needle, sizeof needle, ",%lu,", v);
		if (!strstr(sc->missing, needle) && strlen(sc->missing) + strlen(needle) < sizeof sc->missing)
			snprintf(sc->missing + strlen(sc->missing), sizeof sc->missing - strlen(sc->missing), "%s",
			         sc->missing[0] ? needle + 1 : needle);
	}
	if (!any)
		sc->lost += count;
	return 0;
}

int vg_suppression_check(const struct vg_config *cfg, struct vg_store *st, char *warn, size_t warnsz)
{
	warn[0] = '\0';
	char err[600];
	struct vg_keyring kr;
	if (vg_keyring_load(&kr, cfg->key_file, err, sizeof err) != VG_OK)
		return VG_OK;   /* the key file's own check reports it */
	struct sup_check sc = { .kr = &kr };
	int rc = vg_store_suppression_versions(st, sup_versions, &sc);
	vg_keyring_wipe(&kr);
	if (rc)
		return rc;
	/* ",1,3," → "1,3" */
	char missing[sizeof sc.missing];
	snprintf(missing, sizeof missing, "%s", sc.missing[0] ? sc.missing + 1 : "");
	if (missing[0] && missing[strlen(missing) - 1] == ',')
		missing[strlen(missing) - 1] = '\0';
	if (sc.lost)
		snprintf(warn, warnsz, "%lld suppression%s (venuegw forget) match only under key versions missing"
		         " from %s (versions: %s): those people's events are captured again; put the versions back in"
		         " the key file (an old version may stay there, unused) or run venuegw forget for them again",
		         sc.lost, sc.lost == 1 ? "" : "s", cfg->key_file, missing);
	else if (missing[0])
		snprintf(warn, warnsz, "suppressions (venuegw forget) also cover key versions no longer in %s"
		         " (versions: %s); they still match under the versions that remain: keep those in the key file",
		         cfg->key_file, missing);
	return VG_OK;
}
