/* venuegw status: the gateway at a glance, from buffer.db and the daemon's
 * data_dir/status.json. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "clock.h"
#include "contract.h"
#include "err.h"
#include "intake.h"
#include "event.h"
#include "ingest.h"
#include "store_metrics.h"

/* data_dir/status.json as the running daemon last wrote it, or NULL. */
static cJSON *read_live_status(const struct vg_config *cfg)
{
	char spath[300];
	snprintf(spath, sizeof spath, "%s/status.json", cfg->data_dir);
	FILE *sf = fopen(spath, "r");
	if (!sf)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n - 1, sf);
		if (n < cap - 1 || cap >= (16u << 20))
			break;
		char *p = realloc(buf, cap * 2);
		if (!p) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = p;
		cap *= 2;
	}
	fclose(sf);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	cJSON *live = cJSON_Parse(buf);
	free(buf);
	return live;
}

/* Every device with events in buffer.db: its latest receive time and how
 * many events are buffered (forwarded ones keep their key for a while). */
/* The undeclared counts, largest first (at most 10 kept), and their total. */
struct undeclared_top {
	long long total;
	cJSON *rows;   /* [{device, type, path, count}] */
};

static int status_undeclared(void *ud, const char *device, const char *type, const char *path, long long count,
                             int64_t last_ms)
{
	(void)last_ms;
	struct undeclared_top *u = ud;
	u->total += count;
	cJSON *row = cJSON_CreateObject();
	if (!row || !cJSON_AddStringToObject(row, "device", device) || !cJSON_AddStringToObject(row, "type", type) ||
	    !cJSON_AddStringToObject(row, "path", path) || !cJSON_AddNumberToObject(row, "count", (double)count)) {
		cJSON_Delete(row);
		return 0;
	}
	/* Insert in descending count; keep 10. */
	int i = 0;
	cJSON *it = u->rows->child;
	while (it && cJSON_GetObjectItemCaseSensitive(it, "count")->valuedouble >= (double)count) {
		it = it->next;
		i++;
	}
	if (it)
		cJSON_InsertItemInArray(u->rows, i, row);
	else
		cJSON_AddItemToArray(u->rows, row);
	if (cJSON_GetArraySize(u->rows) > 10)
		cJSON_DeleteItemFromArray(u->rows, 10);
	return 0;
}

static int status_device(void *ud, const char *device_id, int64_t last_seen_ms, long long events)
{
	if (strcmp(device_id, VG_GATEWAY_DEVICE) == 0)
		return 0;
	cJSON *e = cJSON_CreateObject();
	if (!e)
		return 1;
	cJSON_AddStringToObject(e, "device_id", device_id);
	vg_json_add_time(e, "last_seen_at", last_seen_ms);
	cJSON_AddNumberToObject(e, "events_in_buffer", (double)events);
	cJSON_AddItemToArray(ud, e);
	return 0;
}

/* The daemon's figures for the devices (seq gaps, counts since it started)
 * joined to buffer.db's; devices only the daemon knows are added. */
static void merge_devices(cJSON *devices, const cJSON *live_devices)
{
	const cJSON *ld;
	cJSON_ArrayForEach(ld, live_devices) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ld, "device_id"));
		if (!id)
			continue;
		cJSON *d = NULL, *it;
		cJSON_ArrayForEach(it, devices) {
			if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "device_id")), id) == 0)
				d = it;
		}
		if (!d) {
			d = cJSON_CreateObject();
			if (!d)
				return;
			cJSON_AddStringToObject(d, "device_id", id);
			cJSON_AddNullToObject(d, "last_seen_at");
			cJSON_AddNumberToObject(d, "events_in_buffer", 0);
			cJSON_AddItemToArray(devices, d);
		}
		/* ISO 8601 UTC strings of one format compare as text. */
		const char *ls = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ld, "last_seen_at"));
		const char *mine = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "last_seen_at"));
		if (ls && (!mine || strcmp(ls, mine) > 0))
			cJSON_ReplaceItemInObjectCaseSensitive(d, "last_seen_at", cJSON_CreateString(ls));
		static const char *const keys[] = { "events_since_start", "quarantined_since_start", "seq_gaps" };
		for (size_t k = 0; k < 3; k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(ld, keys[k]);
			if (cJSON_IsNumber(v))
				cJSON_AddNumberToObject(d, keys[k], v->valuedouble);
		}
	}
	cJSON *it;
	cJSON_ArrayForEach(it, devices) {
		if (!cJSON_GetObjectItemCaseSensitive(it, "seq_gaps"))
			cJSON_AddNullToObject(it, "seq_gaps");
	}
}

static const char *jstr(const cJSON *o, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

static void copy_item(cJSON *to, const char *name, const cJSON *from, const char *from_name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, from_name);
	cJSON *c = v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
	if (c)
		cJSON_AddItemToObject(to, name, c);
}

static void print_age(double s)
{
	if (s < 120)
		printf("%.0f s", s);
	else if (s < 7200)
		printf("%.0f min", s / 60);
	else if (s < 172800)
		printf("%.1f h", s / 3600);
	else
		printf("%.1f days", s / 86400);
}

const char vg_help_status[] =
	"Usage: venuegw status [--json]\n"
	"\n"
	"The gateway at a glance: backlog and the age of the oldest unforwarded event,\n"
	"the disk buffer against its cap and the events dropped at it,\n"
	"ingest and forward rates, the last CDP error and alarms, quarantine count,\n"
	"identity coverage, clock synchronisation, ports, and devices with their last\n"
	"seen time and sequence gaps.  It reads buffer.db and the daemon's\n"
	"data_dir/status.json, so it works when the daemon or the broker is down.\n"
	"\n"
	"  --json   one JSON object instead of text\n"
	"\n"
	"Exit status: 0 shown; 1 buffer.db cannot be read; 2 bad command line or\n"
	"configuration.\n";

int vg_cmd_status(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	int json = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "venuegw status: unknown argument '%s'\n", argv[i]);
			return VG_EXIT_USAGE;
		}
	}
	struct vg_store *st = vg_cli_open_store(cfg, VG_CLI_BUSY_MS, NULL, 0);
	if (!st)
		return VG_EXIT_FAIL;
	struct vg_store_counts c;
	int64_t oldest_ms = 0;
	cJSON *devices = cJSON_CreateArray();
	long long used = 0, limit = (long long)cfg->max_buffer_mb << 20;
	const char *on_full = cfg->on_full == VG_ON_FULL_DROP_OLDEST ? "drop_oldest" : "backpressure";
	int rc = vg_store_counts(st, &c);
	if (!rc)
		rc = vg_store_oldest_unforwarded(st, &oldest_ms);
	if (!rc)
		rc = vg_store_used_bytes(st, &used);
	/* What the broker acknowledged that the daemon has not moved into
	 * buffer.db yet (capture v2's intake journal): not in the counts above. */
	long long intake = 0;
	char db[VG_CONFIG_DB_PATH_MAX], idir[VG_CONFIG_DB_PATH_MAX + sizeof VG_INTAKE_DIR_SUFFIX];
	if (!rc && vg_config_db_path(cfg, db, sizeof db) == VG_OK && vg_intake_dir(db, idir, sizeof idir) == VG_OK)
		rc = vg_intake_backlog(st, idir, &intake);
	if (!rc && devices)
		rc = vg_store_devices(st, INT64_MIN, INT64_MAX, status_device, devices);
	char sup_warn[600] = "";
	if (!rc)
		rc = vg_suppression_check(cfg, st, sup_warn, sizeof sup_warn);
	struct undeclared_top und = { .rows = cJSON_CreateArray() };
	if (!rc && und.rows)
		rc = vg_store_undeclared_each(st, status_undeclared, &und);
	vg_store_close(st);
	/* The plan the configuration names, as the services load it. */
	struct vg_plan *plan = NULL;
	char plan_err[600] = "";
	if (vg_plan_load(&plan, cfg->plan_path, plan_err, sizeof plan_err) == VG_OK)
		plan_err[0] = '\0';
	const char *unknown = cfg->unknown == VG_UNKNOWN_QUARANTINE ? "quarantine" : "drop";
	if (rc || !devices) {
		fprintf(stderr, "venuegw status: cannot read buffer.db: %s\n", vg_strerror(rc ? rc : VG_ERR_NOMEM));
		cJSON_Delete(devices);
		cJSON_Delete(und.rows);
		vg_plan_free(plan);
		return VG_EXIT_FAIL;
	}
	int64_t now_ms = vg_wall_ms();
	double age = oldest_ms ? (double)(now_ms - oldest_ms) / 1000.0 : 0;
	if (age < 0)
		age = 0;
	int synced = vg_clock_synced();
	long long quarantined = c.quarantine_held + c.quarantine_metadata + c.quarantine_overflow;
	static const char *const pol_names[] = { "token", "sha256", "drop", "keep" };
	const int pols[] = { cfg->pol_email, cfg->pol_phone, cfg->pol_customer_id, cfg->pol_loyalty_id,
	                     cfg->pol_member_code, cfg->pol_payment_customer_id };
	static const char *const fields[] = { "email", "phone", "customer_id", "loyalty_id", "member_code",
	                                      "payment_customer_id" };
	/* What the running daemon last wrote (rates, CDP, ports, devices' seq
	 * gaps): data_dir/status.json. */
	cJSON *live = read_live_status(cfg);
	merge_devices(devices, cJSON_GetObjectItemCaseSensitive(live, "devices"));
	const cJSON *cdp = cJSON_GetObjectItemCaseSensitive(live, "cdp");
	const cJSON *rates = cJSON_GetObjectItemCaseSensitive(live, "rates");
	const cJSON *alarms = cJSON_GetObjectItemCaseSensitive(live, "alarms");
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(live, "ports");
	int code = VG_EXIT_OK;

	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON *privacy = o ? cJSON_AddObjectToObject(o, "privacy") : NULL;
		if (!privacy) {
			cJSON_Delete(o);
			cJSON_Delete(devices);
			cJSON_Delete(live);
			fprintf(stderr, "venuegw status: out of memory\n");
			return VG_EXIT_FAIL;
		}
		cJSON_AddItemToObject(o, "daemon", live ? cJSON_Duplicate(live, 1) : cJSON_CreateNull());
		for (int i = 0; i < VG_PII_IDENTITY_CLASSES; i++)
			cJSON_AddStringToObject(privacy, fields[i], pol_names[pols[i]]);
		cJSON_AddStringToObject(o, "venue_id", cfg->venue_id);
		cJSON_AddNumberToObject(o, "pending", (double)c.pending);
		cJSON_AddNumberToObject(o, "inflight", (double)c.inflight);
		cJSON_AddNumberToObject(o, "backlog", (double)(c.pending + c.inflight));
		cJSON_AddNumberToObject(o, "forwarded_retained", (double)c.forwarded);
		cJSON_AddNumberToObject(o, "quarantine_held", (double)c.quarantine_held);
		cJSON_AddNumberToObject(o, "quarantine_metadata", (double)c.quarantine_metadata);
		cJSON_AddNumberToObject(o, "quarantine_overflow", (double)c.quarantine_overflow);
		cJSON_AddNumberToObject(o, "quarantined", (double)quarantined);
		if (sup_warn[0])
			cJSON_AddStringToObject(o, "suppressions_warning", sup_warn);
		else
			cJSON_AddNullToObject(o, "suppressions_warning");
		cJSON_AddNumberToObject(o, "buffer_used_bytes", (double)used);
		cJSON_AddNumberToObject(o, "intake_bytes", (double)intake);
		cJSON_AddNumberToObject(o, "buffer_limit_bytes", (double)limit);
		cJSON_AddStringToObject(o, "on_full", on_full);
		cJSON_AddNumberToObject(o, "dropped", (double)c.dropped);
		cJSON *pl = cJSON_AddObjectToObject(o, "plan");
		if (pl) {
			cJSON_AddStringToObject(pl, "path", cfg->plan_path);
			cJSON_AddStringToObject(pl, "name", vg_plan_name(plan));
			cJSON_AddStringToObject(pl, "version", vg_plan_version(plan));
			cJSON_AddNumberToObject(pl, "types", vg_plan_count(plan));
			cJSON_AddStringToObject(pl, "unknown", unknown);
			if (plan_err[0])
				cJSON_AddStringToObject(pl, "error", plan_err);
			else
				cJSON_AddNullToObject(pl, "error");
		}
		cJSON_AddNumberToObject(o, "undeclared_dropped", (double)und.total);
		if (und.rows) {
			cJSON_AddItemToObject(o, "undeclared_top", und.rows);
			und.rows = NULL;
		}
		vg_json_add_time(o, "oldest_unforwarded_at", oldest_ms);
		cJSON_AddNumberToObject(o, "oldest_unforwarded_age_s", (double)(long long)(age * 1000) / 1000);
		cJSON_AddBoolToObject(o, "clock_synchronised", synced);
		cJSON_AddStringToObject(o, "daemon_state", live && jstr(live, "state") ? jstr(live, "state") : "unknown");
		copy_item(o, "daemon_at", live, "at");
		copy_item(o, "ingest_per_s", rates, "ingest_per_s");
		copy_item(o, "forward_per_s", rates, "forward_per_s");
		copy_item(o, "last_cdp_status", cdp, "last_status");
		/* The newest failed attempt ({at, error}), also after a later success. */
		const cJSON *errs = cJSON_GetObjectItemCaseSensitive(cdp, "recent_errors");
		const cJSON *newest = cJSON_GetArrayItem(errs, 0);
		cJSON_AddItemToObject(o, "last_cdp_error", newest ? cJSON_Duplicate(newest, 1) : cJSON_CreateNull());
		const char *le = jstr(cdp, "last_error");
		cJSON_AddBoolToObject(o, "cdp_failing", le && le[0]);
		copy_item(o, "last_cdp_success_at", cdp, "last_success_at");
		cJSON_AddItemToObject(o, "alarms", alarms ? cJSON_Duplicate(alarms, 1) : cJSON_CreateArray());
		copy_item(o, "identity_coverage", live, "identity_coverage");
		cJSON_AddItemToObject(o, "ports", ports ? cJSON_Duplicate(ports, 1) : cJSON_CreateArray());
		cJSON_AddItemToObject(o, "devices", devices);
		devices = NULL;
		char *t = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (t)
			printf("%s\n", t);
		else
			code = VG_EXIT_FAIL;
		cJSON_free(t);
	} else {
		printf("venue               %s\n", cfg->venue_id);
		printf("privacy             ");
		for (int i = 0; i < VG_PII_IDENTITY_CLASSES; i++)
			printf("%s%s=%s", i ? " " : "", fields[i], pol_names[pols[i]]);
		printf("\n");
		if (sup_warn[0])
			printf("WARNING             %s\n", sup_warn);
		if (pols[0] == 3 || pols[1] == 3)
			printf("WARNING             raw %s%s%s kept in the clear by an explicit [privacy] line in %s\n",
			       pols[0] == 3 ? "emails" : "", pols[0] == 3 && pols[1] == 3 ? " and " : "",
			       pols[1] == 3 ? "phone numbers" : "", cfg->path);
		printf("backlog             %lld events (%lld pending, %lld in flight)\n", c.pending + c.inflight,
		       c.pending, c.inflight);
		printf("pending events      %lld\n", c.pending);
		printf("in flight           %lld\n", c.inflight);
		printf("oldest unforwarded  ");
		if (oldest_ms) {
			char t[25];
			vg_time_format(oldest_ms, t);
			print_age(age);
			printf(" old (received %s)\n", t);
		} else {
			printf("none: everything is forwarded\n");
		}
		printf("forwarded (kept)    %lld\n", c.forwarded);
		if (plan_err[0])
			printf("plan                ERROR %s: the services do not start with it\n", plan_err);
		else
			printf("plan                %s: \"%s\" version %s, %d event types, unknown = %s\n", cfg->plan_path,
			       vg_plan_name(plan), vg_plan_version(plan)[0] ? vg_plan_version(plan) : "(none)",
			       vg_plan_count(plan), unknown);
		printf("undeclared          %lld members dropped%s", und.total, und.total ? " (most:" : "");
		int shown = 0;
		for (cJSON *it = und.rows ? und.rows->child : NULL; it && shown < 3; it = it->next, shown++) {
			printf("%s %s %s %s x%.0f", shown ? "," : "",
			       cJSON_GetObjectItemCaseSensitive(it, "device")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(it, "type")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(it, "path")->valuestring,
			       cJSON_GetObjectItemCaseSensitive(it, "count")->valuedouble);
		}
		printf("%s\n", und.total ? ")" : "");
		printf("quarantined         %lld (%lld held, %lld undecodable, %lld counted in floods)\n", quarantined,
		       c.quarantine_held, c.quarantine_metadata, c.quarantine_overflow);
		printf("disk buffer         %.1f of %d MB (%lld%%), on_full = %s", (double)used / (1 << 20),
		       cfg->max_buffer_mb, used * 100 / limit, on_full);
		if (c.dropped > 0)
			printf(", %lld events DROPPED at the cap (within dedup_retention_h)", c.dropped);
		printf("\n");
		printf("intake journal      %.1f KB acknowledged, not moved into buffer.db yet%s\n", (double)intake / 1024,
		       intake > (1 << 20) ? " (is the daemon running?)" : "");
		printf("clock               %s\n", synced ? "synchronised"
		       : "NOT synchronised (device times are kept and flagged gateway_clock_unsynced)");
		const char *dst = jstr(live, "state");
		const char *at = jstr(live, "at");
		printf("daemon              %s%s%s\n", dst ? dst : "no status yet (not running?)", at ? " at " : "",
		       at ? at : "");
		const cJSON *ir = cJSON_GetObjectItemCaseSensitive(rates, "ingest_per_s");
		const cJSON *fr = cJSON_GetObjectItemCaseSensitive(rates, "forward_per_s");
		if (cJSON_IsNumber(ir) && cJSON_IsNumber(fr))
			printf("rates               ingest %.2f/s, forward %.2f/s (last minute)\n", ir->valuedouble,
			       fr->valuedouble);
		const cJSON *cov = cJSON_GetObjectItemCaseSensitive(live, "identity_coverage");
		if (cJSON_IsNumber(cov))
			printf("identity coverage   %.1f %% of events since the daemon started name a person\n",
			       cov->valuedouble * 100);
		if (cJSON_IsObject(cdp)) {
			const cJSON *ls = cJSON_GetObjectItemCaseSensitive(cdp, "last_status");
			const char *al = jstr(cdp, "alarm");
			char lsbuf[16] = "none";
			if (cJSON_IsNumber(ls))
				snprintf(lsbuf, sizeof lsbuf, "%d", ls->valueint);
			const char *lerr = jstr(cdp, "last_error");
			printf("cdp                 last status %s%s%s%s%s\n", lsbuf,
			       lerr && lerr[0] ? ", last error: " : "", lerr ? lerr : "",
			       al ? ", ALARM: " : "", al ? al : "");
			const char *ok = jstr(cdp, "last_success_at");
			if (ok)
				printf("cdp last success    %s\n", ok);
			const cJSON *newest = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cdp, "recent_errors"), 0);
			const char *ne = jstr(newest, "error"), *nat = jstr(newest, "at");
			if (ne)
				printf("cdp last error      %s at %s\n", ne, nat ? nat : "?");
		}
		const cJSON *a;
		cJSON_ArrayForEach(a, alarms) {
			if (cJSON_IsString(a))
				printf("ALARM               %s\n", a->valuestring);
		}
		const cJSON *p;
		cJSON_ArrayForEach(p, ports) {
			const char *nm = jstr(p, "name"), *ps = jstr(p, "state"), *wh = jstr(p, "why"), *dv = jstr(p, "device");
			printf("port %-14s %s %s%s%s\n", nm ? nm : "?", ps ? ps : "?", dv ? dv : "",
			       wh && wh[0] ? ": " : "", wh ? wh : "");
		}
		if (cJSON_GetArraySize(devices) > 0)
			printf("%-19s %-24s  %10s  %8s\n", "devices", "last seen (UTC)", "in buffer", "seq gaps");
		const cJSON *d;
		cJSON_ArrayForEach(d, devices) {
			const char *id = jstr(d, "device_id"), *ls = jstr(d, "last_seen_at");
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(d, "events_in_buffer");
			const cJSON *g = cJSON_GetObjectItemCaseSensitive(d, "seq_gaps");
			char gaps[24] = "?";
			if (cJSON_IsNumber(g))
				snprintf(gaps, sizeof gaps, "%.0f", g->valuedouble);
			printf("  %-17s %-24s  %10.0f  %8s\n", id ? id : "?", ls ? ls : "never",
			       cJSON_IsNumber(n) ? n->valuedouble : 0.0, gaps);
		}
	}
	cJSON_Delete(devices);
	cJSON_Delete(live);
	cJSON_Delete(und.rows);
	vg_plan_free(plan);
	return code;
}
