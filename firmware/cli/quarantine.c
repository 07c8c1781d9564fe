/* venuegw quarantine: list, show, retry (DESIGN.md §6 "Quarantine", §9).
 *
 * A held entry keeps the event's tokenized body (what vg_ingest() produced:
 * never raw contact or card data); a metadata entry keeps only metadata
 * (device, topic, size, reason, error offset, a keyed digest) because the
 * input did not decode.  `retry` passes held entries through the same
 * pipeline as a first-time event — vg_ingest() with the current
 * configuration and token key, the suppression check, vg_store_put_event()
 * with its de-duplication on the event key — and, in the same transaction,
 * removes them from the quarantine (or records their new reason). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "capture.h"
#include "cli.h"
#include "clock.h"
#include "digest.h"
#include "err.h"
#include "event.h"
#include "ingest.h"
#include "keys.h"
#include "store_admin.h"
#include "store_capture.h"

const char vg_help_quarantine[] =
	"Usage: venuegw quarantine list [--limit N] [--reason R] [--device D] [--state held|metadata] [--json]\n"
	"       venuegw quarantine show ID [--json]\n"
	"       venuegw quarantine retry (ID... | --reason R | --all) [--device D] [--dry-run]\n"
	"\n"
	"Inputs that were refused, with the reason, the field and a keyed digest of the\n"
	"raw bytes (never the bytes).  A held entry keeps its tokenized body; metadata\n"
	"entries keep none.\n"
	"  list    the newest entries (default 20), filtered by reason, device or state\n"
	"  show    every column of one entry and, when held, its tokenized body\n"
	"  retry   run held entries through the ingest pipeline again with the current\n"
	"          configuration and keys (after fixing a timezone, say): accepted ones\n"
	"          become pending events and leave the quarantine in the same\n"
	"          transaction; the others stay with their new reason.  Metadata entries\n"
	"          and device_mismatch/bad_topic entries cannot be retried.\n"
	"          --dry-run says what would happen and changes nothing.\n"
	"\n"
	"Exit status: 0 done (retry: every asked-for entry handled, whatever its outcome),\n"
	"             1 operational failure (buffer.db, the token key file),\n"
	"             2 bad command line, bad configuration, or an ID that is not in the quarantine.\n";

static int parse_id(const char *s, long long *id)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 1)
		return -1;
	*id = v;
	return 0;
}

/* Reason names that vg_ingest or the capture plugin give, and the
 * forwarder's; a filter naming none of them is probably a typo. */
static int known_reason(const char *r)
{
	for (int i = 1; i < VG_REJ__COUNT; i++)
		if (strcmp(r, vg_reject_name((enum vg_reject_reason)i)) == 0)
			return 1;
	return strcmp(r, "unsendable") == 0 || strncmp(r, "cdp_", 4) == 0 || strncmp(r, "http_", 5) == 0;
}

/* ---- list ------------------------------------------------------------------ */

struct list_ctx {
	int json;
	cJSON *arr;
	long long n;
};

static cJSON *entry_json(long long id, const struct vg_store_quarantine *q, const char *state, int with_body)
{
	char when[25];
	vg_time_format(q->received_at_ms, when);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "reason", q->reason);
	cJSON_AddStringToObject(o, "field", q->field);
	cJSON_AddStringToObject(o, "detail", q->detail);
	if (q->error_offset >= 0)
		cJSON_AddNumberToObject(o, "error_offset", (double)q->error_offset);
	else
		cJSON_AddNullToObject(o, "error_offset");
	cJSON_AddStringToObject(o, "device_id", q->device_id);
	cJSON_AddStringToObject(o, "topic", q->topic);
	cJSON_AddNumberToObject(o, "size", (double)q->size);
	cJSON_AddStringToObject(o, "received_at", when);
	cJSON_AddNumberToObject(o, "received_at_ms", (double)q->received_at_ms);
	cJSON_AddStringToObject(o, "digest", q->digest);
	cJSON_AddStringToObject(o, "event_key", q->event_key);
	cJSON_AddBoolToObject(o, "retryable", q->body != NULL);
	if (with_body) {
		cJSON *b = q->body ? cJSON_ParseWithLength(q->body, q->body_len) : NULL;
		if (b)
			cJSON_AddItemToObject(o, "body", b);
		else if (q->body)
			cJSON_AddStringToObject(o, "body", q->body);
		else
			cJSON_AddNullToObject(o, "body");
	}
	return o;
}

static int print_quarantine(void *ud, long long id, const struct vg_store_quarantine *q, const char *state)
{
	struct list_ctx *c = ud;
	c->n++;
	if (c->json) {
		cJSON *o = entry_json(id, q, state, 0);
		if (!o)
			return VG_ERR_NOMEM;
		cJSON_AddItemToArray(c->arr, o);
		return 0;
	}
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

static int cmd_list(const struct vg_config *cfg, int argc, char **argv)
{
	struct vg_store_quarantine_filter f = { .limit = 50 };
	struct list_ctx c = { 0 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int has_val = i + 1 < argc;
		if (strcmp(a, "--limit") == 0 && has_val) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 1000000)
				return vg_cli_usage_error("quarantine", "list: --limit takes 1..1000000, got '%s'", argv[i]);
			f.limit = (int)v;
		} else if (strcmp(a, "--reason") == 0 && has_val) {
			f.reason = argv[++i];
		} else if (strcmp(a, "--device") == 0 && has_val) {
			f.device_id = argv[++i];
		} else if (strcmp(a, "--state") == 0 && has_val) {
			f.state = argv[++i];
			if (strcmp(f.state, "held") != 0 && strcmp(f.state, "metadata") != 0)
				return vg_cli_usage_error("quarantine", "list: --state takes held or metadata, got '%s'", f.state);
		} else if (strcmp(a, "--json") == 0) {
			c.json = 1;
		} else {
			return vg_cli_usage_error("quarantine", "list: unknown argument '%s' (or a value is missing)", a);
		}
	}
	struct vg_store *st = vg_cli_open_store(cfg, VG_CLI_BUSY_MS, NULL, 0);
	if (!st)
		return VG_EXIT_FAIL;
	if (c.json && !(c.arr = cJSON_CreateArray())) {
		vg_store_close(st);
		return VG_EXIT_FAIL;
	}
	if (!c.json)
		printf("%-6s %-24s  %-14s %-16s %-9s details\n", "id", "received (UTC)", "device", "reason", "state");
	int rc = vg_store_quarantine_select(st, &f, print_quarantine, &c);
	struct vg_store_counts counts;
	if (!rc)
		rc = vg_store_counts(st, &counts);
	vg_store_close(st);
	if (rc) {
		cJSON_Delete(c.arr);
		fprintf(stderr, "venuegw quarantine list: cannot read buffer.db: %s\n", vg_strerror(rc));
		return VG_EXIT_FAIL;
	}
	if (c.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "entries", c.arr);
		cJSON_AddNumberToObject(o, "held", (double)counts.quarantine_held);
		cJSON_AddNumberToObject(o, "metadata", (double)counts.quarantine_metadata);
		cJSON_AddNumberToObject(o, "overflow_counted", (double)counts.quarantine_overflow);
		char *t = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!t)
			return VG_EXIT_FAIL;
		printf("%s\n", t);
		cJSON_free(t);
	} else {
		if (f.reason && !c.n && !known_reason(f.reason))
			fprintf(stderr, "venuegw quarantine list: no entries with reason '%s' (not a reason venuegw"
			        " gives: bad_json, contract, bad_time, ...)\n", f.reason);
		printf("(%lld shown; in all %lld held, %lld metadata only", c.n, counts.quarantine_held,
		       counts.quarantine_metadata);
		if (counts.quarantine_overflow)
			printf(", and %lld more only counted under the per-device rate cap", counts.quarantine_overflow);
		printf(")\n");
	}
	return VG_EXIT_OK;
}

/* ---- show ------------------------------------------------------------------ */

struct show_ctx {
	int json;
};

static int show_entry(void *ud, long long id, const struct vg_store_quarantine *q, const char *state)
{
	struct show_ctx *c = ud;
	if (c->json) {
		cJSON *o = entry_json(id, q, state, 1);
		char *t = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		if (!t)
			return VG_ERR_NOMEM;
		printf("%s\n", t);
		cJSON_free(t);
		return 0;
	}
	char when[25];
	vg_time_format(q->received_at_ms, when);
	printf("id            %lld\n", id);
	printf("state         %s\n", state);
	printf("reason        %s\n", q->reason);
	printf("field         %s\n", q->field[0] ? q->field : "-");
	printf("detail        %s\n", q->detail[0] ? q->detail : "-");
	if (q->error_offset >= 0)
		printf("error offset  %ld\n", q->error_offset);
	else
		printf("error offset  -\n");
	printf("device        %s\n", q->device_id);
	printf("topic         %s\n", q->topic[0] ? q->topic : "-");
	printf("size          %zu bytes\n", q->size);
	printf("received at   %s\n", when);
	printf("digest        %s\n", q->digest[0] ? q->digest : "-");
	printf("event key     %s\n", q->event_key[0] ? q->event_key : "-");
	if (!q->body) {
		printf("body          none: the input did not decode, so only its metadata was kept (never its"
		       " bytes); it cannot be retried\n");
		return 0;
	}
	printf("body          tokenized, as stored (venuegw quarantine retry %lld passes it again):\n", id);
	cJSON *b = cJSON_ParseWithLength(q->body, q->body_len);
	char *t = b ? cJSON_Print(b) : NULL;
	cJSON_Delete(b);
	printf("%s\n", t ? t : q->body);
	cJSON_free(t);
	return 0;
}

static int cmd_show(const struct vg_config *cfg, int argc, char **argv)
{
	struct show_ctx c = { 0 };
	long long id = 0;
	int have_id = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
		else if (!have_id && parse_id(argv[i], &id) == 0)
			have_id = 1;
		else
			return have_id ? vg_cli_usage_error("quarantine", "show: unexpected argument '%s'", argv[i])
			               : vg_cli_usage_error("quarantine", "show: '%s' is not an entry id (a positive number from venuegw quarantine"
			                       " list)", argv[i]);
	}
	if (!have_id)
		return vg_cli_usage_error("quarantine", "%s", "show: expected an entry ID");
	struct vg_store *st = vg_cli_open_store(cfg, VG_CLI_BUSY_MS, NULL, 0);
	if (!st)
		return VG_EXIT_FAIL;
	int rc = vg_store_quarantine_get(st, id, show_entry, &c);
	vg_store_close(st);
	if (rc == VG_ERR_NOTFOUND) {
		fprintf(stderr, "venuegw quarantine show: no entry %lld in the quarantine (retried, forgotten,"
		        " or never there: venuegw quarantine list)\n", id);
		return VG_EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "venuegw quarantine show: cannot read buffer.db: %s\n", vg_strerror(rc));
		return VG_EXIT_FAIL;
	}
	return VG_EXIT_OK;
}

/* ---- retry ----------------------------------------------------------------- */

/* A copy of one quarantine row, taken inside the retry's transaction. */
struct held {
	char state[16];
	char reason[64];
	char device_id[65];
	char event_key[VG_EVENT_KEY_LEN + 1];
	int64_t received_at_ms;
	char *body;          /* malloc'd, wiped before free; NULL for metadata */
	size_t body_len;
};

static int copy_held(void *ud, long long id, const struct vg_store_quarantine *q, const char *state)
{
	(void)id;
	struct held *h = ud;
	snprintf(h->state, sizeof h->state, "%s", state);
	snprintf(h->reason, sizeof h->reason, "%s", q->reason);
	snprintf(h->device_id, sizeof h->device_id, "%s", q->device_id);
	snprintf(h->event_key, sizeof h->event_key, "%s", q->event_key);
	h->received_at_ms = q->received_at_ms;
	if (q->body) {
		h->body = malloc(q->body_len + 1);
		if (!h->body)
			return VG_ERR_NOMEM;
		memcpy(h->body, q->body, q->body_len);
		h->body[q->body_len] = '\0';
		h->body_len = q->body_len;
	}
	return 0;
}

static void held_free(struct held *h)
{
	if (h->body) {
		vg_wipe(h->body, h->body_len);
		free(h->body);
	}
	h->body = NULL;
}

struct retry {
	const struct vg_config *cfg;
	struct vg_store *st;
	struct vg_capture *capture;   /* the one capture commit: keys, suppression, the put */
	const struct vg_plan *plan;
	int dry_run;
	int clock_synced;
	long long asked, accepted, duplicates, rejected, not_retryable, suppressed, gone;
};

enum outcome { OUT_ACCEPTED, OUT_DUPLICATE, OUT_REJECTED, OUT_NOT_RETRYABLE, OUT_SUPPRESSED, OUT_GONE };

/* One entry, in its own short transaction (the broker's thread may be
 * waiting for the lock).  Returns VG_OK (handled, whatever the outcome) or
 * an operational error. */
static int retry_one(struct retry *r, long long id)
{
	struct held h = { .body = NULL };
	struct vg_ingest_out out;
	int have_out = 0;
	enum outcome oc;
	r->asked++;
	int rc = vg_capture_begin(r->capture, r->st);
	if (rc)
		return rc;
	rc = vg_store_quarantine_get(r->st, id, copy_held, &h);
	if (rc == VG_ERR_NOTFOUND) {
		vg_store_rollback(r->st);
		r->gone++;
		printf("%-6lld gone           no longer in the quarantine (retried or forgotten meanwhile)\n", id);
		return VG_OK;
	}
	if (rc)
		goto fail;
	if (!h.body || strcmp(h.state, "held") != 0) {
		oc = OUT_NOT_RETRYABLE;
		printf("%-6lld not retryable  %s: metadata only (the input did not decode; its bytes were never"
		       " kept)\n", id, h.reason);
		goto done;
	}
	if (strcmp(h.reason, vg_reject_name(VG_REJ_DEVICE_MISMATCH)) == 0 ||
	    strcmp(h.reason, vg_reject_name(VG_REJ_BAD_TOPIC)) == 0) {
		/* The binding of topic and connection cannot be checked again. */
		oc = OUT_NOT_RETRYABLE;
		printf("%-6lld not retryable  %s: which device sent it cannot be checked again; the device must"
		       " publish it on its own topic\n", id, h.reason);
		goto done;
	}
	struct vg_ingest_cfg icfg;
	if ((rc = vg_capture_ingest_cfg(r->capture, (int64_t)time(NULL) * 1000, &icfg)))
		goto fail;
	icfg.stored_body = 1;
	icfg.plan = r->plan;
	icfg.event_key = h.event_key[0] ? h.event_key : NULL; /* its messageId too */
	/* The receive time stays the original one: the time checks judge the
	 * device's time against it, as they did on arrival. */
	rc = vg_ingest(&icfg, h.device_id, h.body, h.body_len, h.received_at_ms, r->clock_synced, &out);
	if (rc)
		goto fail;
	have_out = 1;
	/* The event key is the one computed from the raw input on arrival (the
	 * device's id, its serial counter, or the raw bytes' hash): the same
	 * de-duplication as a first-time event. */
	if (h.event_key[0])
		snprintf(out.event_key, sizeof out.event_key, "%s", h.event_key);
	if (out.quarantined) {
		oc = OUT_REJECTED;
		rc = vg_store_quarantine_set_reason(r->st, id, vg_reject_name(out.rej.reason), out.rej.field,
		                                    out.rej.detail, out.rej.offset);
		if (rc)
			goto fail;
		printf("%-6lld rejected       %s%s%s: %s\n", id, vg_reject_name(out.rej.reason),
		       out.rej.field[0] ? " field=" : "", out.rej.field, out.rej.detail);
		goto done;
	}
	struct vg_capture_in in = {
		.device_id = h.device_id, .topic = "", .size = h.body_len, .received_at_ms = h.received_at_ms,
		.out = &out,
	};
	enum vg_capture_outcome what;
	if ((rc = vg_capture_put(r->capture, r->st, &in, &what)))
		goto fail;
	if (what == VG_CAPTURE_SUPPRESSED) {
		oc = OUT_SUPPRESSED;
		printf("%-6lld suppressed     the person was forgotten (venuegw forget): entry removed, not stored\n", id);
	} else {
		oc = what == VG_CAPTURE_DUPLICATE ? OUT_DUPLICATE : OUT_ACCEPTED;
		if (oc == OUT_ACCEPTED)
			printf("%-6lld accepted       event %s, type %s: pending, the daemon forwards it\n", id,
			       out.event_key, out.type);
		else
			printf("%-6lld duplicate      event %s is already stored or was forwarded: entry removed\n", id,
			       out.event_key);
	}
	if ((rc = vg_store_quarantine_remove(r->st, id)))
		goto fail;
done:
	if (r->dry_run || oc == OUT_NOT_RETRYABLE) {
		vg_capture_abort(r->capture, r->st);
	} else if ((rc = vg_capture_end(r->capture, r->st))) {
		goto fail_committed;
	}
	switch (oc) {
	case OUT_ACCEPTED: r->accepted++; break;
	case OUT_DUPLICATE: r->duplicates++; break;
	case OUT_REJECTED: r->rejected++; break;
	case OUT_NOT_RETRYABLE: r->not_retryable++; break;
	case OUT_SUPPRESSED: r->suppressed++; break;
	case OUT_GONE: r->gone++; break;
	}
	if (have_out)
		vg_ingest_out_free(&out);
	held_free(&h);
	return VG_OK;
fail:
	vg_capture_abort(r->capture, r->st);
fail_committed:
	fprintf(stderr, "venuegw quarantine retry: entry %lld: %s (%s); it stays as it was\n", id, vg_strerror(rc),
	        vg_store_errmsg(r->st));
	if (have_out)
		vg_ingest_out_free(&out);
	held_free(&h);
	return rc;
}

struct id_page {
	long long ids[500];
	size_t n;
};

static int collect_id(void *ud, long long id, const struct vg_store_quarantine *q, const char *state)
{
	(void)q;
	(void)state;
	struct id_page *p = ud;
	p->ids[p->n++] = id;
	return 0;
}

static int exists_cb(void *ud, long long id, const struct vg_store_quarantine *q, const char *state)
{
	(void)ud; (void)id; (void)q; (void)state;
	return 0;
}

static int cmd_retry(const struct vg_config *cfg, int argc, char **argv)
{
	int all = 0, dry_run = 0;
	const char *reason = NULL, *device = NULL;
	long long *ids = calloc((size_t)argc + 1, sizeof *ids);
	size_t nids = 0;
	int code = VG_EXIT_USAGE;
	if (!ids)
		return VG_EXIT_FAIL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		long long id;
		if (strcmp(a, "--all") == 0) {
			all = 1;
		} else if (strcmp(a, "--dry-run") == 0) {
			dry_run = 1;
		} else if (strcmp(a, "--reason") == 0 && i + 1 < argc) {
			reason = argv[++i];
		} else if (strcmp(a, "--device") == 0 && i + 1 < argc) {
			device = argv[++i];
		} else if (a[0] != '-' && parse_id(a, &id) == 0) {
			ids[nids++] = id;
		} else {
			if (a[0] == '-')
				vg_cli_usage_error("quarantine", "retry: unknown argument '%s' (or a value is missing)", a);
			else
				vg_cli_usage_error("quarantine", "retry: '%s' is not an entry id (a positive number from venuegw quarantine list)", a);
			goto out;
		}
	}
	if ((nids != 0) + (reason != NULL) + all != 1) {
		vg_cli_usage_error("quarantine", "%s", "retry: give entry IDs, or --reason R, or --all (exactly one of them)");
		goto out;
	}
	if (device && nids) {
		vg_cli_usage_error("quarantine", "%s", "retry: --device selects with --reason or --all, not with IDs");
		goto out;
	}

	code = VG_EXIT_FAIL;
	char err[600];
	struct vg_keyring kr = { .n = 0 };
	if (vg_keyring_load(&kr, cfg->key_file, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw quarantine retry: %s\n", err);
		goto out;
	}
	struct retry r = { .cfg = cfg, .dry_run = dry_run, .clock_synced = vg_clock_synced() };
	if (!vg_keyring_current(&kr, time(NULL))) {
		fprintf(stderr, "venuegw quarantine retry: no key in %s is active yet (activate_at in the future)\n",
		        cfg->key_file);
		vg_keyring_wipe(&kr);
		goto out;
	}
	struct vg_plan *plan = NULL;
	if (vg_plan_load(&plan, cfg->plan_path, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw quarantine retry: [contracts] plan: %s\n", err);
		vg_keyring_wipe(&kr);
		goto out;
	}
	r.plan = plan;
	if (vg_capture_open(&r.capture, cfg, &kr) != VG_OK) {
		fprintf(stderr, "venuegw quarantine retry: out of memory\n");
		vg_keyring_wipe(&kr);
		vg_plan_free(plan);
		goto out;
	}
	r.st = vg_cli_open_store(cfg, VG_CLI_BUSY_MS, NULL, 0);
	if (!r.st) {
		vg_capture_close(r.capture);
		vg_keyring_wipe(&kr);
		vg_plan_free(plan);
		goto out;
	}
	int rc = VG_OK;
	/* Every named entry must exist before anything changes: a typo changes nothing. */
	for (size_t i = 0; i < nids && !rc; i++) {
		rc = vg_store_quarantine_get(r.st, ids[i], exists_cb, NULL);
		if (rc == VG_ERR_NOTFOUND) {
			fprintf(stderr, "venuegw quarantine retry: no entry %lld in the quarantine (retried, forgotten,"
			        " or never there: venuegw quarantine list); nothing was retried\n", ids[i]);
			code = VG_EXIT_USAGE;
			goto close;
		}
	}
	if (dry_run)
		printf("dry run: nothing is changed\n");
	for (size_t i = 0; i < nids && !rc; i++)
		rc = retry_one(&r, ids[i]);
	if (!nids) {
		/* --reason / --all: in id order, a page at a time (memory stays flat). */
		struct vg_store_quarantine_filter f = { .reason = reason, .device_id = device, .limit = 500,
		                                        .oldest_first = 1 };
		static struct id_page page;
		do {
			page.n = 0;
			rc = vg_store_quarantine_select(r.st, &f, collect_id, &page);
			for (size_t i = 0; i < page.n && !rc; i++)
				rc = retry_one(&r, page.ids[i]);
			if (page.n)
				f.after_id = page.ids[page.n - 1];
		} while (!rc && page.n == 500);
		if (!rc && !r.asked)
			printf("no quarantine entries%s%s%s%s\n", reason ? " with reason " : "", reason ? reason : "",
			       device ? " from device " : "", device ? device : "");
	}
	printf("%s%lld asked: %lld retried, %lld accepted (%lld of them already stored), %lld still rejected,"
	       " %lld not retryable, %lld suppressed (forgotten person), %lld gone\n", dry_run ? "dry run: " : "",
	       r.asked, r.accepted + r.duplicates + r.rejected + r.suppressed, r.accepted + r.duplicates,
	       r.duplicates, r.rejected, r.not_retryable, r.suppressed, r.gone);
	if (rc)
		fprintf(stderr, "venuegw quarantine retry: stopped: %s\n", vg_strerror(rc));
	else
		code = VG_EXIT_OK;
close:
	vg_store_close(r.st);
	vg_capture_close(r.capture);
	vg_keyring_wipe(&kr);
	vg_plan_free(plan);
out:
	free(ids);
	return code;
}

int vg_cmd_quarantine(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	if (argc < 1)
		return vg_cli_usage_error("quarantine", "%s", "expected list, show or retry");
	if (strcmp(argv[0], "list") == 0)
		return cmd_list(cfg, argc - 1, argv + 1);
	if (strcmp(argv[0], "show") == 0)
		return cmd_show(cfg, argc - 1, argv + 1);
	if (strcmp(argv[0], "retry") == 0)
		return cmd_retry(cfg, argc - 1, argv + 1);
	return vg_cli_usage_error("quarantine", "unknown sub-command '%s' (list, show or retry)", argv[0]);
}
