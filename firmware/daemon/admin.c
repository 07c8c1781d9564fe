/* venuegw's admin verbs: status, quarantine, validate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "digest.h"
#include "err.h"
#include "ingest.h"
#include "keys.h"
#include "store.h"

static struct vg_store *open_store(const struct vg_config *cfg)
{
	char path[300], err[600];
	vg_config_db_path(cfg, path, sizeof path);
	struct vg_store *st = NULL;
	struct vg_store_cfg scfg = { .path = path, .owner = 0, .durability_full = 1, .busy_timeout_ms = 2000 };
	if (vg_store_open(&st, &scfg, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw: %s\n", err);
		return NULL;
	}
	return st;
}

int vg_cmd_status(const struct vg_config *cfg, int argc, char **argv)
{
	int json = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "venuegw status: unknown argument '%s'\n", argv[i]);
			return VG_EXIT_USAGE;
		}
	}
	struct vg_store *st = open_store(cfg);
	if (!st)
		return VG_EXIT_FAIL;
	struct vg_store_counts c;
	int rc = vg_store_counts(st, &c);
	vg_store_close(st);
	if (rc) {
		fprintf(stderr, "venuegw status: cannot read buffer.db: %s\n", vg_strerror(rc));
		return VG_EXIT_FAIL;
	}
	static const char *const pol_names[] = { "token", "sha256", "drop", "keep" };
	const int pols[] = { cfg->pol_email, cfg->pol_phone, cfg->pol_customer_id, cfg->pol_loyalty_id,
	                     cfg->pol_member_code, cfg->pol_payment_customer_id };
	static const char *const fields[] = { "email", "phone", "customer_id", "loyalty_id", "member_code",
	                                      "payment_customer_id" };
	/* What the running daemon last wrote (ports, CDP): data_dir/status.json. */
	char spath[300];
	snprintf(spath, sizeof spath, "%s/status.json", cfg->data_dir);
	cJSON *live = NULL;
	FILE *sf = fopen(spath, "r");
	if (sf) {
		char buf[16384];
		size_t n = fread(buf, 1, sizeof buf - 1, sf);
		fclose(sf);
		buf[n] = '\0';
		live = cJSON_Parse(buf);
	}
	if (json) {
		if (live) {
			char *t = cJSON_PrintUnformatted(live);
			if (t)
				printf("{\"daemon\":%s,", t);
			cJSON_free(t);
		} else {
			printf("{\"daemon\":null,");
		}
		printf("\"privacy\":{");
		for (int i = 0; i < 6; i++)
			printf("%s\"%s\":\"%s\"", i ? "," : "", fields[i], pol_names[pols[i]]);
		printf("},");
		printf("\"venue_id\":\"%s\",\"pending\":%lld,\"inflight\":%lld,\"forwarded_retained\":%lld,"
		       "\"quarantine_held\":%lld,\"quarantine_metadata\":%lld,\"quarantine_overflow\":%lld}\n",
		       cfg->venue_id, c.pending, c.inflight, c.forwarded, c.quarantine_held,
		       c.quarantine_metadata, c.quarantine_overflow);
	} else {
		printf("venue               %s\n", cfg->venue_id);
		printf("privacy             ");
		for (int i = 0; i < 6; i++)
			printf("%s%s=%s", i ? " " : "", fields[i], pol_names[pols[i]]);
		printf("\n");
		if (pols[0] == 3 || pols[1] == 3)
			printf("WARNING             raw %s%s%s kept in the clear by an explicit [privacy] line in %s\n",
			       pols[0] == 3 ? "emails" : "", pols[0] == 3 && pols[1] == 3 ? " and " : "",
			       pols[1] == 3 ? "phone numbers" : "", cfg->path);
		printf("pending events      %lld\n", c.pending);
		printf("in flight           %lld\n", c.inflight);
		printf("forwarded (kept)    %lld\n", c.forwarded);
		printf("quarantined         %lld held, %lld undecodable, %lld counted in floods\n",
		       c.quarantine_held, c.quarantine_metadata, c.quarantine_overflow);
		const cJSON *dst = cJSON_GetObjectItemCaseSensitive(live, "state");
		const cJSON *at = cJSON_GetObjectItemCaseSensitive(live, "at");
		printf("daemon              %s%s%s\n", cJSON_IsString(dst) ? dst->valuestring : "no status yet (not running?)",
		       cJSON_IsString(at) ? " at " : "", cJSON_IsString(at) ? at->valuestring : "");
		const cJSON *cdp = cJSON_GetObjectItemCaseSensitive(live, "cdp");
		if (cJSON_IsObject(cdp)) {
			const cJSON *ls = cJSON_GetObjectItemCaseSensitive(cdp, "last_status");
			const cJSON *le = cJSON_GetObjectItemCaseSensitive(cdp, "last_error");
			const cJSON *al = cJSON_GetObjectItemCaseSensitive(cdp, "alarm");
			char lsbuf[16] = "none";
			if (cJSON_IsNumber(ls))
				snprintf(lsbuf, sizeof lsbuf, "%d", ls->valueint);
			printf("cdp                 last status %s%s%s%s%s\n", lsbuf,
			       cJSON_IsString(le) && le->valuestring[0] ? ", last error: " : "",
			       cJSON_IsString(le) ? le->valuestring : "",
			       cJSON_IsString(al) ? ", ALARM: " : "", cJSON_IsString(al) ? al->valuestring : "");
		}
		const cJSON *ports = cJSON_GetObjectItemCaseSensitive(live, "ports");
		const cJSON *p;
		cJSON_ArrayForEach(p, ports) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(p, "name");
			const cJSON *ps = cJSON_GetObjectItemCaseSensitive(p, "state");
			const cJSON *wh = cJSON_GetObjectItemCaseSensitive(p, "why");
			const cJSON *dv = cJSON_GetObjectItemCaseSensitive(p, "device");
			printf("port %-14s %s %s%s%s\n", cJSON_IsString(nm) ? nm->valuestring : "?",
			       cJSON_IsString(ps) ? ps->valuestring : "?", cJSON_IsString(dv) ? dv->valuestring : "",
			       cJSON_IsString(wh) && wh->valuestring[0] ? ": " : "", cJSON_IsString(wh) ? wh->valuestring : "");
		}
	}
	cJSON_Delete(live);
	return VG_EXIT_OK;
}

static int print_quarantine(void *ud, long long id, const struct vg_store_quarantine *q, const char *state)
{
	(void)ud;
	char when[25];
	vg_time_format(q->received_at_ms, when);
	printf("%-6lld %s  %-14s %-16s %-9s", id, when, q->device_id, q->reason, state);
	if (q->field[0])
		printf(" field=%s", q->field);
	if (q->error_offset >= 0)
		printf(" offset=%ld", q->error_offset);
	printf(" size=%zu  %s\n", q->size, q->detail);
	return 0;
}

int vg_cmd_quarantine(const struct vg_config *cfg, int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "list") != 0) {
		fprintf(stderr, "venuegw quarantine: expected 'list [--limit N]'%s%s\n",
		        argc ? ", got " : "", argc ? argv[0] : "");
		return VG_EXIT_USAGE;
	}
	int limit = 50;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 1000000) {
				fprintf(stderr, "venuegw quarantine list: --limit takes 1..1000000\n");
				return VG_EXIT_USAGE;
			}
			limit = (int)v;
		} else {
			fprintf(stderr, "venuegw quarantine list: unknown argument '%s'\n", argv[i]);
			return VG_EXIT_USAGE;
		}
	}
	struct vg_store *st = open_store(cfg);
	if (!st)
		return VG_EXIT_FAIL;
	printf("%-6s %-24s  %-14s %-16s %-9s details\n", "id", "received (UTC)", "device", "reason", "state");
	int rc = vg_store_quarantine_each(st, limit, print_quarantine, NULL);
	vg_store_close(st);
	if (rc) {
		fprintf(stderr, "venuegw quarantine list: %s\n", vg_strerror(rc));
		return VG_EXIT_FAIL;
	}
	return VG_EXIT_OK;
}

int vg_cmd_validate(const struct vg_config *cfg, int have_config, int argc, char **argv)
{
	const char *device = "validate";
	const char *file = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
			device = argv[++i];
		else if (!file)
			file = argv[i];
		else {
			fprintf(stderr, "venuegw validate: unexpected argument '%s'\n", argv[i]);
			return VG_EXIT_USAGE;
		}
	}
	if (!file) {
		fprintf(stderr, "venuegw validate: expected FILE (or - for standard input)\n");
		return VG_EXIT_USAGE;
	}
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	if (!f) {
		perror(file);
		return VG_EXIT_FAIL;
	}
	static char buf[VG_EVENT_MAX_BYTES + 2];
	size_t n = fread(buf, 1, sizeof buf, f);
	if (f != stdin)
		fclose(f);

	/* Tokens need a key: the gateway's when there is a config, else a
	 * throwaway one (the tokens then match nothing, which is fine here). */
	struct vg_keyring kr = { .n = 0 };
	struct vg_key throwaway = { .version = 1 };
	const struct vg_key *key = &throwaway;
	char err[600];
	if (have_config && vg_keyring_load(&kr, cfg->key_file, err, sizeof err) == VG_OK)
		key = vg_keyring_current(&kr, time(NULL));
	if (!key)
		key = &throwaway;
	/* Without a gateway's configuration: the defaults, for a venue "validate". */
	struct vg_config defaults;
	if (!have_config) {
		vg_config_defaults(&defaults);
		snprintf(defaults.venue_id, sizeof defaults.venue_id, "validate");
		cfg = &defaults;
	}
	struct vg_ingest_cfg icfg;
	vg_ingest_cfg_init(&icfg, cfg, key);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct vg_ingest_out out;
	int rc = vg_ingest(&icfg, device, buf, n, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	                   vg_clock_synced(), &out);
	vg_wipe(buf, n);
	vg_keyring_wipe(&kr);
	if (rc) {
		fprintf(stderr, "venuegw validate: %s\n", vg_strerror(rc));
		return VG_EXIT_FAIL;
	}
	int exit_code = VG_EXIT_OK;
	if (out.quarantined) {
		printf("rejected: %s", vg_reject_name(out.rej.reason));
		if (out.rej.field[0])
			printf(" (field %s)", out.rej.field);
		if (out.rej.offset >= 0)
			printf(" at byte %ld", out.rej.offset);
		printf(": %s\n", out.rej.detail);
		exit_code = VG_EXIT_REJECTED;
	} else {
		printf("accepted: type %s, event key %s, priority %d\n", out.type, out.event_key, out.priority);
		for (int b = 0; b < VG_FLAG__COUNT; b++)
			if (out.flags & (1u << b))
				printf("flag: %s\n", vg_flag_name(b));
	}
	if (out.pii.fields_dropped || out.pii.phones_dropped || out.pii.emails_dropped || out.pii.cards_masked ||
	    out.pii.emails_in_text)
		printf("personal data: %u fields dropped, %u phones and %u emails unusable, %u card numbers"
		       " and %u emails in text replaced\n", out.pii.fields_dropped, out.pii.phones_dropped,
		       out.pii.emails_dropped, out.pii.cards_masked, out.pii.emails_in_text);
	if (out.body)
		printf("stored as: %s\n", out.body);
	vg_ingest_out_free(&out);
	return exit_code;
}
