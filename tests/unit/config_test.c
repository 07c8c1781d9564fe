/* Unit tests for firmware/core/config.c: defaults, the §9 example file, and
 * every kind of error with its "name:line: [section] key: what" message
 * (DESIGN.md §9). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"

#define NAME "test.conf"
#define VENUE "[gateway]\nvenue_id = berlin-mitte-01\n"

/* Parse text; on a result other than want, fail with the error text. */
static void parse_expect(struct vg_config *cfg, const char *text, int want, char *err, size_t errsz)
{
	err[0] = '\0';
	int rc = vg_config_parse(cfg, text, NAME, err, errsz);
	if (rc != want)
		fail_msg("got %d (%s), want %d, for:\n%s", rc, err, want, text);
}

/* Parse text and expect VG_ERR_CONFIG with exactly the message want. */
static void expect_error(const char *text, const char *want)
{
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, text, VG_ERR_CONFIG, err, sizeof(err));
	if (strcmp(err, want) != 0)
		fail_msg("error\n  got:  %s\n  want: %s\nfor:\n%s", err, want, text);
}

/* Parse text and expect VG_ERR_CONFIG with a message starting with prefix. */
static void expect_error_prefix(const char *text, const char *prefix)
{
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, text, VG_ERR_CONFIG, err, sizeof(err));
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error\n  got:  %s\n  want: %s...\nfor:\n%s", err, prefix, text);
}

/* ---- defaults and valid files -------------------------------------------- */

static void test_defaults(void **state)
{
	(void)state;
	struct vg_config cfg;
	memset(&cfg, 0x5a, sizeof(cfg));
	vg_config_defaults(&cfg);
	assert_string_equal(cfg.venue_id, "");
	assert_string_equal(cfg.gateway_id, "");
	assert_string_equal(cfg.data_dir, "/var/lib/venuegw");
	assert_int_equal(cfg.durability, VG_DURABILITY_FULL);
	assert_int_equal(cfg.default_country_code, 0);
	assert_string_equal(cfg.timezone, "");
	assert_int_equal(cfg.max_future_skew_s, 300);
	assert_int_equal(cfg.max_past_age_d, 30);
	assert_int_equal(cfg.dedup_retention_h, 168);
	assert_int_equal(cfg.max_buffer_mb, 1024);
	assert_int_equal(cfg.on_full, VG_ON_FULL_BACKPRESSURE);
	assert_int_equal(cfg.checkpoint_interval_ms, 1000);
	assert_int_equal(cfg.quarantine_rate_per_min, 60);
	assert_int_equal(cfg.quarantine_burst, 30);
	assert_string_equal(cfg.endpoint, "");
	assert_string_equal(cfg.write_key_file, "/etc/venuegw/write_key");
	assert_string_equal(cfg.ca_file, "");
	assert_int_equal(cfg.max_backoff_s, 300);
	assert_int_equal(cfg.timeout_s, 30);
	assert_int_equal(cfg.max_batch_events, 2500);
	assert_int_equal(cfg.flush_interval_ms, 1000);
	assert_string_equal(cfg.key_file, "/etc/venuegw/token_keys");
	assert_string_equal(cfg.listen, "127.0.0.1:9478");

	/* The smallest valid file: only the required key; the rest are defaults. */
	struct vg_config p;
	char err[256];
	parse_expect(&p, VENUE, VG_OK, err, sizeof(err));
	assert_string_equal(p.path, NAME);
	assert_string_equal(p.venue_id, "berlin-mitte-01");
	assert_string_equal(p.data_dir, cfg.data_dir);
	assert_int_equal(p.max_future_skew_s, cfg.max_future_skew_s);
	assert_string_equal(p.listen, cfg.listen);

	char db[300];
	assert_int_equal(vg_config_db_path(&p, db, sizeof(db)), VG_OK);
	assert_string_equal(db, "/var/lib/venuegw/buffer.db");
}

/* A data_dir whose buffer.db path does not fit is an error, never a cut path. */
static void db_path_too_long(void **state)
{
	(void)state;
	struct vg_config c;
	memset(&c, 0, sizeof c);
	snprintf(c.data_dir, sizeof c.data_dir, "/x");
	char db[VG_CONFIG_DB_PATH_MAX];   /* the longest data_dir fits */
	assert_int_equal(vg_config_db_path(&c, db, 13), VG_OK);  /* "/x/buffer.db" and the NUL */
	assert_string_equal(db, "/x/buffer.db");
	assert_int_equal(vg_config_db_path(&c, db, 12), VG_ERR_RANGE);
	assert_string_equal(db, "");
	memset(c.data_dir, 'd', sizeof c.data_dir - 1);
	c.data_dir[sizeof c.data_dir - 1] = '\0';
	assert_int_equal(vg_config_db_path(&c, db, sizeof db), VG_OK);
	assert_int_equal(strlen(db), sizeof c.data_dir - 1 + strlen("/buffer.db"));
	assert_int_equal(vg_config_db_path(&c, db, 200), VG_ERR_RANGE);
	assert_string_equal(db, "");
}

/* DESIGN.md §9, verbatim. */
static const char design_example[] =
	"[gateway]\n"
	"venue_id = berlin-mitte-01\n"
	"data_dir = /var/lib/venuegw        ; buffer.db lives here\n"
	"durability = full                  ; full | os\n"
	"default_country_code = 49          ; for phone numbers without a country code\n"
	"timezone = Europe/Berlin           ; only for device timestamps without an offset\n"
	"\n"
	"[cdp]\n"
	"endpoint = https://cdp.example.com ; POST <endpoint>/v1/batch\n"
	"write_key_file = /etc/venuegw/write_key\n"
	"ca_file =                          ; empty: the system's CA store\n"
	"\n"
	"[tokens]\n"
	"key_file = /etc/venuegw/token_keys\n"
	"\n"
	"[metrics]\n"
	"listen = 127.0.0.1:9478\n";

static void test_design_example(void **state)
{
	(void)state;
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, design_example, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.venue_id, "berlin-mitte-01");
	assert_string_equal(cfg.gateway_id, "berlin-mitte-01-gw");
	assert_string_equal(cfg.data_dir, "/var/lib/venuegw");
	assert_int_equal(cfg.durability, VG_DURABILITY_FULL);
	assert_int_equal(cfg.default_country_code, 49);
	assert_string_equal(cfg.timezone, "Europe/Berlin");
	assert_string_equal(cfg.endpoint, "https://cdp.example.com");
	assert_string_equal(cfg.write_key_file, "/etc/venuegw/write_key");
	assert_string_equal(cfg.ca_file, "");
	assert_string_equal(cfg.key_file, "/etc/venuegw/token_keys");
	assert_string_equal(cfg.listen, "127.0.0.1:9478");
}

/* Every key of the table, each set to something other than its default. */
static void test_every_key(void **state)
{
	(void)state;
	static const char text[] =
		"[gateway]\n"
		"venue_id = Venue_2.b-x\n"
		"gateway_id = gw.7\n"
		"data_dir = /srv/vg\n"
		"durability = os\n"
		"default_country_code = 34\n"
		"timezone = Europe/Madrid\n"
		"max_future_skew_s = 0\n"
		"max_past_age_d = 3650\n"
		"dedup_retention_h = 1\n"
		"max_buffer_mb = 16\n"
		"on_full = drop_oldest\n"
		"checkpoint_interval_ms = 600000\n"
		"[capture]\n"
		"quarantine_rate_per_min = 100000\n"
		"quarantine_burst = 1\n"
		"[cdp]\n"
		"endpoint = https://cdp.example.com:8443/ingest\n"
		"write_key_file = /etc/vg/wk\n"
		"ca_file = /etc/ssl/ca.pem\n"
		"max_backoff_s = 86400\n"
		"timeout_s = 600\n"
		"max_batch_events = 1\n"
		"flush_interval_ms = 10\n"
		"[tokens]\n"
		"key_file = /etc/vg/tk\n"
		"[metrics]\n"
		"listen = [::1]:9100\n";
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, text, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.venue_id, "Venue_2.b-x");
	assert_string_equal(cfg.gateway_id, "gw.7");
	assert_string_equal(cfg.data_dir, "/srv/vg");
	assert_int_equal(cfg.durability, VG_DURABILITY_OS);
	assert_int_equal(cfg.default_country_code, 34);
	assert_string_equal(cfg.timezone, "Europe/Madrid");
	assert_int_equal(cfg.max_future_skew_s, 0);
	assert_int_equal(cfg.max_past_age_d, 3650);
	assert_int_equal(cfg.dedup_retention_h, 1);
	assert_int_equal(cfg.max_buffer_mb, 16);
	assert_int_equal(cfg.on_full, VG_ON_FULL_DROP_OLDEST);
	assert_int_equal(cfg.checkpoint_interval_ms, 600000);
	assert_int_equal(cfg.quarantine_rate_per_min, 100000);
	assert_int_equal(cfg.quarantine_burst, 1);
	assert_string_equal(cfg.endpoint, "https://cdp.example.com:8443/ingest");
	assert_string_equal(cfg.write_key_file, "/etc/vg/wk");
	assert_string_equal(cfg.ca_file, "/etc/ssl/ca.pem");
	assert_int_equal(cfg.max_backoff_s, 86400);
	assert_int_equal(cfg.timeout_s, 600);
	assert_int_equal(cfg.max_batch_events, 1);
	assert_int_equal(cfg.flush_interval_ms, 10);
	assert_string_equal(cfg.key_file, "/etc/vg/tk");
	assert_string_equal(cfg.listen, "[::1]:9100");

	char db[VG_CONFIG_DB_PATH_MAX];
	assert_int_equal(vg_config_db_path(&cfg, db, sizeof(db)), VG_OK);
	assert_string_equal(db, "/srv/vg/buffer.db");
}

static void test_gateway_id_default(void **state)
{
	(void)state;
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, VENUE, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.gateway_id, "berlin-mitte-01-gw");

	/* Explicit wins. */
	parse_expect(&cfg, VENUE "gateway_id = door-1\n", VG_OK, err, sizeof(err));
	assert_string_equal(cfg.gateway_id, "door-1");

	/* A 64-character venue: the derived id still fits (64 characters). */
	char text[160], venue[65];
	memset(venue, 'v', 64);
	venue[64] = '\0';
	snprintf(text, sizeof(text), "[gateway]\nvenue_id = %s\n", venue);
	parse_expect(&cfg, text, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.venue_id, venue);
	assert_int_equal(strlen(cfg.gateway_id), 64);
	assert_int_equal(strcmp(cfg.gateway_id + 61, "-gw"), 0);
}

static void test_comments(void **state)
{
	(void)state;
	static const char text[] =
		"; a comment\n"
		"# another comment\n"
		"\n"
		"[gateway]   ; inline after a section\n"
		"  ; indented comment\n"
		"venue_id = berlin-mitte-01 ; the venue\n"
		"# durability = nonsense\n"
		"; max_past_age_d = 0\n"
		"timezone = Europe/Berlin;no space: part of the value? no, checked below\n"
		"max_past_age_d = 7\t; tab before the comment\n";
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, text, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.venue_id, "berlin-mitte-01");
	assert_int_equal(cfg.durability, VG_DURABILITY_FULL);
	assert_int_equal(cfg.max_past_age_d, 7);
	/* An inline comment needs whitespace before its ';' (inih): without it the
	 * ';' is part of the value. */
	assert_string_equal(cfg.timezone,
	                    "Europe/Berlin;no space: part of the value? no, checked below");
}

/* ---- errors --------------------------------------------------------------- */

static void test_required_missing(void **state)
{
	(void)state;
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, "[gateway]\ndata_dir = /srv\n", VG_ERR_CONFIG, err, sizeof(err));
	assert_non_null(strstr(err, NAME ": "));
	assert_non_null(strstr(err, "[gateway] venue_id is required"));

	/* An empty file too. */
	parse_expect(&cfg, "", VG_ERR_CONFIG, err, sizeof(err));
	assert_non_null(strstr(err, "venue_id"));
}

static void test_required_empty(void **state)
{
	(void)state;
	// Regression (fixed): config.c set_value() (line 210) skips valid_id() when the value is
	// empty, and handler() (line 277) marks the key seen, so "venue_id =" passes the
	// required check with venue_id "" and gateway_id "-gw".  venue_id is
	// required and documented as 1-64 characters: an empty one must be an
	// error at its line.
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, "[gateway]\nvenue_id =\n", VG_ERR_CONFIG, err, sizeof(err));
	assert_non_null(strstr(err, "venue_id"));
}

static void test_unknown_key_and_section(void **state)
{
	(void)state;
	expect_error(VENUE "data_dir = /srv\n\nfrobnicate = 1\n",
	             NAME ":5: [gateway] frobnicate: unknown key");
	/* A key of another section is unknown here. */
	expect_error(VENUE "endpoint = https://x.example\n",
	             NAME ":3: [gateway] endpoint: unknown key");
	expect_error(VENUE "; comment\n[gatewy]\nvenue_id = x\n",
	             NAME ":5: [gatewy] venue_id: unknown section [gatewy]");
	/* Section and key names are case-sensitive. */
	expect_error("[Gateway]\nvenue_id = x\n",
	             NAME ":2: [Gateway] venue_id: unknown section [Gateway]");
	/* Only the first error is reported. */
	expect_error(VENUE "a = 1\nb = 2\n", NAME ":3: [gateway] a: unknown key");
}

static void test_key_outside_section(void **state)
{
	(void)state;
	expect_error("venue_id = x\n[gateway]\nvenue_id = x\n",
	             NAME ":1: [] venue_id: key outside any section");
	expect_error("\n# c\nfoo = 1\n", NAME ":3: [] foo: key outside any section");
}

static void test_syntax_error(void **state)
{
	(void)state;
	expect_error(VENUE "this is not a key\n",
	             NAME ":3: syntax error (expected [section] or key = value)");
	expect_error(VENUE "[metrics\n",
	             NAME ":3: syntax error (expected [section] or key = value)");
}

static void test_syntax_then_handler_error(void **state)
{
	(void)state;
	// Regression (fixed): config.c finish() (lines 301-306) / fail(): inih does not stop at the first error
	// and returns the line of the first one (3, the syntax error), but fail()
	// is only ever called by the handler, so the message recorded is the
	// later unknown key's (line 4) and the two are glued together as
	// "test.conf:3: [gateway] bogus: unknown key" — a line and a message that
	// do not belong together.  The first error is the syntax error.
	expect_error(VENUE "not a key\nbogus = 1\n",
	             NAME ":3: syntax error (expected [section] or key = value)");
}

static void test_bad_enum(void **state)
{
	(void)state;
	expect_error(VENUE "durability = sometimes\n",
	             NAME ":3: [gateway] durability: must be one of: full | os");
	expect_error(VENUE "\non_full = FULL\n",
	             NAME ":4: [gateway] on_full: must be one of: backpressure | drop_oldest");
	expect_error(VENUE "durability =\n",
	             NAME ":3: [gateway] durability: must be one of: full | os");
}

static void test_int_range(void **state)
{
	(void)state;
	expect_error(VENUE "max_past_age_d = 0\n",
	             NAME ":3: [gateway] max_past_age_d: must be a whole number in 1..3650");
	expect_error(VENUE "max_past_age_d = 3651\n",
	             NAME ":3: [gateway] max_past_age_d: must be a whole number in 1..3650");
	expect_error(VENUE "default_country_code = 1000\n",
	             NAME ":3: [gateway] default_country_code: must be a whole number in 0..999");
	expect_error(VENUE "default_country_code = -1\n",
	             NAME ":3: [gateway] default_country_code: must be a whole number in 0..999");
	expect_error(VENUE "default_country_code = 4x\n",
	             NAME ":3: [gateway] default_country_code: must be a whole number in 0..999");
	expect_error(VENUE "default_country_code = \n",
	             NAME ":3: [gateway] default_country_code: must be a whole number in 0..999");
	expect_error(VENUE "max_buffer_mb = 99999999999999999999\n",
	             NAME ":3: [gateway] max_buffer_mb: must be a whole number in 16..1048576");
	expect_error("[cdp]\ntimeout_s = 601\n[gateway]\nvenue_id = v\n",
	             NAME ":2: [cdp] timeout_s: must be a whole number in 1..600");

	/* The limits themselves are fine. */
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, VENUE "default_country_code = 999\nmax_past_age_d = 1\n", VG_OK, err,
	             sizeof(err));
	assert_int_equal(cfg.default_country_code, 999);
	assert_int_equal(cfg.max_past_age_d, 1);
}

static void test_quarantine_share(void **state)
{
	(void)state;
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, VENUE, VG_OK, err, sizeof(err));
	assert_int_equal(cfg.quarantine_max_mb, 0);
	assert_int_equal(vg_config_quarantine_max_mb(&cfg), 102);   /* a tenth of 1024 */
	assert_int_equal(cfg.quarantine_retention_d, 30);
	parse_expect(&cfg, VENUE "max_buffer_mb = 16\n[capture]\nquarantine_max_mb = 16\nquarantine_retention_d = 1\n",
	             VG_OK, err, sizeof(err));
	assert_int_equal(vg_config_quarantine_max_mb(&cfg), 16);
	assert_int_equal(cfg.quarantine_retention_d, 1);
	parse_expect(&cfg, VENUE "max_buffer_mb = 16\n", VG_OK, err, sizeof(err));
	assert_int_equal(vg_config_quarantine_max_mb(&cfg), 1);    /* at least 1 */
	expect_error_prefix(VENUE "max_buffer_mb = 16\n[capture]\nquarantine_max_mb = 17\n",
	                    NAME ": [capture] quarantine_max_mb = 17 is more than [gateway] max_buffer_mb = 16");
	expect_error(VENUE "[capture]\nquarantine_retention_d = 0\n",
	             NAME ":4: [capture] quarantine_retention_d: must be a whole number in 1..3650");
}

static void test_value_too_long(void **state)
{
	(void)state;
	char text[256], v[80];
	/* timezone holds 63 bytes. */
	memset(v, 'z', 64);
	v[64] = '\0';
	snprintf(text, sizeof(text), VENUE "timezone = %s\n", v);
	expect_error(text, NAME ":3: [gateway] timezone: value longer than 63 bytes");
	v[63] = '\0';
	snprintf(text, sizeof(text), VENUE "timezone = %s\n", v);
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, text, VG_OK, err, sizeof(err));
	assert_int_equal(strlen(cfg.timezone), 63);

	/* venue_id: 64 at most. */
	memset(v, 'a', 65);
	v[65] = '\0';
	snprintf(text, sizeof(text), "[gateway]\nvenue_id = %s\n", v);
	expect_error(text, NAME ":2: [gateway] venue_id: value longer than 64 bytes");
	expect_error("[gateway]\nvenue_id = berlin mitte\n",
	             NAME ":2: [gateway] venue_id: must be 1-64 characters of A-Z a-z 0-9 . _ -");
	expect_error("[gateway]\nvenue_id = berlin/mitte\n",
	             NAME ":2: [gateway] venue_id: must be 1-64 characters of A-Z a-z 0-9 . _ -");
}

// inih, as Debian builds it (ini_max_line = 200, no realloc), would read a
// longer line in 199-byte pieces, each parsed as a line of its own.  The
// config reader hands inih whole lines with comments removed, and a line
// that is still too long is refused at its own line — never cut short.
static void test_long_values(void **state)
{
	(void)state;
	char text[512], v[320];
	v[0] = '/';
	memset(v + 1, 'd', 180);
	v[181] = '\0';
	snprintf(text, sizeof(text), VENUE "data_dir = %s\n", v);
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, text, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.data_dir, v);

	memset(v + 1, 'd', 229);
	v[230] = '\0';
	snprintf(text, sizeof(text), VENUE "data_dir = %s\n", v);
	expect_error(text, NAME ":3: line longer than 198 bytes (not counting comments)");
}

static void test_long_inline_comment(void **state)
{
	(void)state;
	/* A valid line with a 250-byte inline comment, and a long comment line. */
	char text[512], c[260];
	memset(c, 'c', 250);
	c[250] = '\0';
	snprintf(text, sizeof(text), VENUE "timezone = UTC   ; %s\n", c);
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, text, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.timezone, "UTC");
}

static void test_long_line_not_truncated(void **state)
{
	(void)state;
	/* "data_dir = " + 188 bytes + "#tail": inih alone would cut the value
	 * at its 200-byte buffer and read "#tail" as a comment line. */
	char text[512], v[200], want[220];
	v[0] = '/';
	memset(v + 1, 'd', 187);
	v[188] = '\0';
	snprintf(want, sizeof(want), "%s#tail", v);
	snprintf(text, sizeof(text), VENUE "data_dir = %s\n", want);
	expect_error(text, NAME ":3: line longer than 198 bytes (not counting comments)");
	char c[300];
	memset(c, 'c', 280);
	c[280] = '\0';
	snprintf(text, sizeof(text), VENUE "# %s\ntimezone = UTC\n", c);
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, text, VG_OK, err, sizeof(err));
	assert_string_equal(cfg.timezone, "UTC");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	expect_error(VENUE "timezone = Europe/Berlin\ntimezone = UTC\n",
	             NAME ":4: [gateway] timezone: set twice");
	/* Also across two blocks of the same section. */
	expect_error(VENUE "[cdp]\ntimeout_s = 5\n[gateway]\nvenue_id = again\n",
	             NAME ":6: [gateway] venue_id: set twice");
}

static void test_path_absolute(void **state)
{
	(void)state;
	expect_error(VENUE "data_dir = var/lib/venuegw\n",
	             NAME ":3: [gateway] data_dir: must be an absolute path");
	expect_error(VENUE "[tokens]\nkey_file = ./keys\n",
	             NAME ":4: [tokens] key_file: must be an absolute path");
	expect_error(VENUE "[cdp]\nwrite_key_file = ~/wk\n",
	             NAME ":4: [cdp] write_key_file: must be an absolute path");
	struct vg_config cfg;
	char err[256];
	parse_expect(&cfg, VENUE "data_dir = /data\n", VG_OK, err, sizeof(err));
	assert_string_equal(cfg.data_dir, "/data");
}

static void test_url(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"https://cdp.example.com",
		"https://cdp.example.com:443/v2",
		"http://127.0.0.1:8080",
		"http://127.0.0.1",
		"http://localhost",
		"http://localhost:9000/x",
		"http://[::1]:9",
		"",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), VENUE "[cdp]\nendpoint = %s\n", ok[i]);
		struct vg_config cfg;
		char err[512];
		parse_expect(&cfg, text, VG_OK, err, sizeof(err));
		assert_string_equal(cfg.endpoint, ok[i]);
	}

	expect_error_prefix(VENUE "[cdp]\nendpoint = http://cdp.example.com\n",
	                    NAME ":4: [cdp] endpoint: plain http:// is accepted only for loopback");
	expect_error_prefix(VENUE "[cdp]\nendpoint = ftp://cdp.example.com\n",
	                    NAME ":4: [cdp] endpoint: must start with https://");
	expect_error_prefix(VENUE "[cdp]\nendpoint = cdp.example.com\n",
	                    NAME ":4: [cdp] endpoint: must start with https://");
	expect_error_prefix(VENUE "[cdp]\nendpoint = https://\n",
	                    NAME ":4: [cdp] endpoint: has no host");
	expect_error_prefix(VENUE "[cdp]\nendpoint = http://[::1\n",
	                    NAME ":4: [cdp] endpoint: unterminated IPv6 address");
	/* Look-alikes of loopback names are not loopback. */
	expect_error_prefix(VENUE "[cdp]\nendpoint = http://localhost.evil.example\n",
	                    NAME ":4: [cdp] endpoint: plain http://");
	expect_error_prefix(VENUE "[cdp]\nendpoint = http://127.0.0.1.evil.example\n",
	                    NAME ":4: [cdp] endpoint: plain http://");
	expect_error_prefix(VENUE "[cdp]\nendpoint = http://[::2]:9\n",
	                    NAME ":4: [cdp] endpoint: plain http://");
}

static void test_kafka_brokers(void **state)
{
	(void)state;
	static const struct { const char *v; int ok, lo; } cases[] = {
		{ "127.0.0.1:9092", 1, 1 },
		{ "127.0.0.1:9092, 127.0.0.2:9093 ,localhost:1,[::1]:9094", 1, 1 },
		{ "kafka-1.example.com:9093,127.0.0.1:9092", 1, 0 },
		{ "[2001:db8::1]:9093", 1, 0 },
		/* Look-alikes of loopback addresses are names a resolver looks up. */
		{ "127.0.0.1.5:9092", 1, 0 },
		{ "127.999.1.1:9092", 1, 0 },
		{ "127.:9092", 1, 0 },
		{ "", 0, 0 }, { "127.0.0.1", 0, 0 }, { "127.0.0.1:", 0, 0 }, { "127.0.0.1:0", 0, 0 },
		{ "127.0.0.1:65536", 0, 0 }, { "127.0.0.1:9092,", 0, 0 }, { ",127.0.0.1:9092", 0, 0 },
		{ "::1:9092", 0, 0 }, { "[::1:9092", 0, 0 }, { "[]:9092", 0, 0 }, { "a b:1", 0, 0 },
		{ "user@host:1", 0, 0 }, { "host:1/x", 0, 0 }, { "host:12a", 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int lo = -1;
		const char *why = vg_config_check_brokers(cases[i].v, &lo);
		if (cases[i].ok != (why == NULL))
			fail_msg("brokers '%s': %s", cases[i].v, why ? why : "accepted");
		if (cases[i].ok && lo != cases[i].lo)
			fail_msg("brokers '%s': loopback %d", cases[i].v, lo);
	}
	/* [output] kind = kafka: what goes together. */
	expect_error_prefix(VENUE "[output]\nkind = kafka\n[kafka]\nbrokers = 127.0.0.1.5:9092\ntopic = t\n"
	                    "security_protocol = plaintext\n",
	                    NAME ":8: [kafka] security_protocol: plaintext is accepted only when every broker is a loopback");
	expect_error_prefix(VENUE "[output]\nkind = kafka\n[kafka]\ntopic = t\n",
	                    NAME ":4: [output] kind: kind = kafka needs [kafka] brokers");
	struct vg_config cfg;
	char err[512];
	parse_expect(&cfg, VENUE "[output]\nkind = kafka\n[kafka]\nbrokers = 127.0.0.1:9092\ntopic = t\n"
	             "security_protocol = plaintext\n", VG_OK, err, sizeof err);
	assert_int_equal(cfg.output, VG_OUTPUT_KAFKA);
	assert_string_equal(cfg.kafka_client_id, "venuegw-berlin-mitte-01-gw");
	/* The CDP's URL takes the same stricter loopback test. */
	expect_error_prefix(VENUE "[cdp]\nendpoint = http://127.999.1.1\n", NAME ":4: [cdp] endpoint: plain http://");
}

/* ---- files ---------------------------------------------------------------- */

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/vg_config_test_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, design_example, sizeof(design_example) - 1),
	                 (ssize_t)(sizeof(design_example) - 1));
	close(fd);

	struct vg_config cfg;
	char err[512];
	assert_int_equal(vg_config_load(&cfg, path, err, sizeof(err)), VG_OK);
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.venue_id, "berlin-mitte-01");
	assert_string_equal(cfg.gateway_id, "berlin-mitte-01-gw");
	assert_int_equal(cfg.default_country_code, 49);
	assert_string_equal(cfg.endpoint, "https://cdp.example.com");

	/* Errors name the file and line. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("[gateway]\nvenue_id = x\ndurability = sometimes\n", f);
	fclose(f);
	assert_int_equal(vg_config_load(&cfg, path, err, sizeof(err)), VG_ERR_CONFIG);
	char want[512];
	snprintf(want, sizeof(want), "%s:3: [gateway] durability: must be one of: full | os", path);
	assert_string_equal(err, want);

	/* A missing file. */
	assert_int_equal(unlink(path), 0);
	err[0] = '\0';
	assert_int_equal(vg_config_load(&cfg, path, err, sizeof(err)), VG_ERR_IO);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(db_path_too_long),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_gateway_id_default),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_required_missing),
		cmocka_unit_test(test_required_empty),
		cmocka_unit_test(test_unknown_key_and_section),
		cmocka_unit_test(test_key_outside_section),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_syntax_then_handler_error),
		cmocka_unit_test(test_bad_enum),
		cmocka_unit_test(test_int_range),
		cmocka_unit_test(test_quarantine_share),
		cmocka_unit_test(test_value_too_long),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_long_inline_comment),
		cmocka_unit_test(test_long_line_not_truncated),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_path_absolute),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_kafka_brokers),
		cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
