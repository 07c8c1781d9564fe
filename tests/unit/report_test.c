/* Unit tests for firmware/core/report.c: a fixed snapshot rendered as
 * Prometheus text, status JSON and the status page, each compared byte for
 * byte with a known answer in $VG_TEST_DATA/report/ (checked by hand when it
 * was made: the integration tests test_metrics and test_status_page hold the
 * daemon to the same text); plus the escaping of device names and other
 * strings in each format, and the empty snapshot.
 *
 * VG_REPORT_WRITE=1 writes the known answers instead of comparing (only to
 * update them after a deliberate change of the reports: review the diff). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "report.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static struct vg_count ingest[] = {
	{ "pos-1", "pos.order.completed", 12 },
	{ "a\"b\\c\nd", "scan", 1 },              /* a label value to escape */
	{ "_gateway", "gateway.reconciliation", 2 },
};
static struct vg_count quar[] = { { "pos-1", "pii_in_identifier", 3 } };
static struct vg_count drops[] = { { "pos-1", "device.status", 4 } };
static struct vg_device_stats devices[] = {
	{ .id = "pos-1", .last_seen_ms = T0 - 90000, .events = 12, .quarantined = 3, .seq_gaps = 2 },
	{ .id = "<b>&'\"x", .last_seen_ms = T0 - 7200000, .events = 1 },
	{ .id = "idle" },
};
static struct vg_forward_count forwarded[] = {
	{ "pos-1", "pos.order.completed", 10 },
	{ "_gateway", "gateway.reconciliation", 1 },
};
static struct vg_undeclared undeclared[] = { { "pos-1", "pos.order.completed", "properties.~", 5 } };

static struct vg_forward_stats fs;

static cJSON *ports(void)
{
	cJSON *a = cJSON_CreateArray();
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", "ecr<1>");
	cJSON_AddStringToObject(p, "device", "/dev/ttyUSB0");
	cJSON_AddStringToObject(p, "device_id", "ecr-1");
	cJSON_AddStringToObject(p, "driver", "ecr");
	cJSON_AddStringToObject(p, "state", "waiting");
	cJSON_AddStringToObject(p, "why", "No such file & directory");
	cJSON_AddNumberToObject(p, "frames", 7);
	cJSON_AddNumberToObject(p, "bad", 1);
	cJSON_AddItemToArray(a, p);
	return a;
}

static void fill(struct vg_metrics_snapshot *s, cJSON *p)
{
	memset(&fs, 0, sizeof fs);
	fs.enabled = 1;
	fs.batches_ok = 3;
	fs.events_forwarded = 11;
	fs.attempts_failed = 2;
	fs.events_quarantined = 1;
	fs.last_status = 503;
	snprintf(fs.last_error, sizeof fs.last_error, "HTTP 503");
	fs.last_success_wall_ms = T0 - 60000;
	fs.consents_forwarded = 1;
	fs.consent_latency_last_ms = 1500;
	fs.consent_latency_max_ms = 2500;
	vg_histogram_observe(&fs.latency, 0.2);
	vg_histogram_observe(&fs.latency, 3);
	vg_histogram_observe(&fs.consent_latency, 1.5);
	fs.attempts_failed_by[VG_FAIL_HTTP_5XX] = 1;
	fs.attempts_failed_by[VG_FAIL_NETWORK] = 1;
	fs.recent_errors[0].at_wall_ms = T0 - 30000;
	snprintf(fs.recent_errors[0].text, sizeof fs.recent_errors[0].text, "Failed to connect <refused>");
	fs.recent_errors[1].at_wall_ms = T0 - 10000;
	snprintf(fs.recent_errors[1].text, sizeof fs.recent_errors[1].text, "HTTP 503");
	fs.recent_errors_total = 2;

	memset(s, 0, sizeof *s);
	s->version = "9.9.9";
	s->venue_id = "venue-<1>";
	s->gateway_id = "gw \"one\"";
	s->started_wall_ms = T0 - 3600000;
	s->now_wall_ms = T0;
	s->synced = 1;
	s->have_counts = 1;
	s->pending = 5;
	s->inflight = 2;
	s->quarantine_held = 3;
	s->quarantine_metadata = 1;
	s->quarantine_overflow = 0;
	s->used_bytes = 1 << 20;
	s->max_buffer_mb = 64;
	s->drop_oldest = 1;
	s->oldest_ms = T0 - 700000;
	s->undeclared = undeclared;
	s->nundeclared = 1;
	s->ingest = ingest;
	s->ningest = 3;
	s->quarantine = quar;
	s->nquarantine = 1;
	s->drops = drops;
	s->ndrops = 1;
	s->dropped = 4;
	s->ingested = 13;
	s->identified = 3;
	s->anonymous = 9;
	s->identity_unknown = 1;
	s->devices = devices;
	s->ndevices = 3;
	s->ingest_rate = 0.25;
	s->forward_rate = 0.125;
	s->window_s = 60;
	s->fs = &fs;
	s->forwarded = forwarded;
	s->nforwarded = 2;
	s->ports = p;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *p = malloc(1 << 20);
	*len = p ? fread(p, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (p)
		p[*len] = '\0';
	return p;
}

static void known_answer(const char *name, const char *got)
{
	const char *dir = getenv("VG_TEST_DATA");
	if (!dir)
		fail_msg("VG_TEST_DATA is not set (run through ctest)");
	char path[512];
	snprintf(path, sizeof path, "%s/report/%s", dir, name);
	if (getenv("VG_REPORT_WRITE")) {
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
		return;
	}
	size_t len;
	char *want = slurp(path, &len);
	if (!want)
		fail_msg("cannot read %s", path);
	assert_string_equal(got, want);
	free(want);
}

/* Render the full snapshot with fn, compare with the known answer name;
 * the text for more checks (free() it). */
static char *render(int (*fn)(const struct vg_metrics_snapshot *, struct vg_buf *), const char *name)
{
	struct vg_metrics_snapshot s;
	cJSON *p = ports();
	fill(&s, p);
	struct vg_buf b;
	vg_buf_init(&b, 1 << 20);
	assert_int_equal(fn(&s, &b), VG_OK);
	cJSON_Delete(p);
	known_answer(name, vg_buf_str(&b));
	return vg_buf_take(&b, NULL);
}

static void prometheus_known_answer(void **state)
{
	(void)state;
	char *t = render(vg_report_prometheus, "metrics.txt");
	/* label values: \ " and newline escaped; nothing else touched */
	assert_non_null(strstr(t, "venuegw_ingested_events_total{device=\"a\\\"b\\\\c\\nd\",type=\"scan\"} 1\n"));
	assert_non_null(strstr(t, "venuegw_build_info{version=\"9.9.9\",venue_id=\"venue-<1>\","
	                          "gateway_id=\"gw \\\"one\\\"\"} 1\n"));
	assert_non_null(strstr(t, "venuegw_quarantined_inputs_total{device=\"pos-1\",reason=\"pii_in_identifier\"} 3\n"));
	free(t);
}

static void status_known_answer(void **state)
{
	(void)state;
	struct vg_metrics_snapshot s;
	cJSON *p = ports();
	fill(&s, p);
	cJSON *o = vg_report_status(&s, "up");
	assert_non_null(o);
	char *t = cJSON_Print(o);
	known_answer("status.json", t);
	/* JSON strings escaped by cJSON; the forwarded count leaves out _gateway */
	assert_non_null(strstr(t, "\"gateway_id\":\t\"gw \\\"one\\\"\""));
	assert_non_null(strstr(t, "\"device_id\":\t\"<b>&'\\\"x\""));
	assert_non_null(strstr(t, "\"forwarded_since_start\":\t10,"));
	cJSON_free(t);
	cJSON_Delete(o);
	cJSON_Delete(p);
}

static void page_known_answer(void **state)
{
	(void)state;
	char *h = render(vg_report_page, "page.html");
	assert_non_null(strstr(h, "<td class=\"device\">&lt;b&gt;&amp;&#39;&quot;x</td>"));
	assert_non_null(strstr(h, "<title>venuegw venue-&lt;1&gt;</title>"));
	assert_non_null(strstr(h, "gateway gw &quot;one&quot;"));
	assert_non_null(strstr(h, "<td>ecr&lt;1&gt;</td>"));
	assert_non_null(strstr(h, "No such file &amp; directory"));
	assert_null(strstr(h, "<b>&"));
	free(h);
}

/* Nothing known yet: no forwarder, no counts, no ports, no devices. */
static void empty_snapshot(void **state)
{
	(void)state;
	struct vg_metrics_snapshot s;
	memset(&s, 0, sizeof s);
	s.version = "1";
	s.venue_id = "v";
	s.gateway_id = "g";
	s.used_bytes = -1;
	s.max_buffer_mb = 1;
	struct vg_buf b;
	vg_buf_init(&b, 1 << 20);
	assert_int_equal(vg_report_prometheus(&s, &b), VG_OK);
	known_answer("metrics_empty.txt", vg_buf_str(&b));
	vg_buf_free(&b);
	assert_int_equal(vg_report_page(&s, &b), VG_OK);
	assert_non_null(strstr(vg_buf_str(&b), "no device has sent anything yet"));
	assert_non_null(strstr(vg_buf_str(&b), "no serial or HID ports configured"));
	assert_non_null(strstr(vg_buf_str(&b), ">not configured<"));
	vg_buf_free(&b);
	cJSON *o = vg_report_status(&s, "starting");
	char *t = cJSON_PrintUnformatted(o);
	known_answer("status_empty.json", t);
	cJSON_free(t);
	cJSON_Delete(o);
}

/* A buffer too small for the page: the error, not a cut page. */
static void bounded(void **state)
{
	(void)state;
	struct vg_metrics_snapshot s;
	cJSON *p = ports();
	fill(&s, p);
	struct vg_buf b;
	vg_buf_init(&b, 1000);
	assert_int_equal(vg_report_page(&s, &b), VG_ERR_RANGE);
	vg_buf_free(&b);
	cJSON_Delete(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prometheus_known_answer),
		cmocka_unit_test(status_known_answer),
		cmocka_unit_test(page_known_answer),
		cmocka_unit_test(empty_snapshot),
		cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
