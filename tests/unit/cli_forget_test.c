/* Unit tests for firmware/cli/forget.c (`venuegw forget`) on a real
 * buffer.db: identifiers come on standard input, each kind normalised as
 * capture normalises it; a bad identifier or command line is exit 2 and
 * changes nothing; a good one suppresses the person under every key version,
 * erases the rows carrying them in events and quarantine, and records the
 * tombstone with the erasure.requested notice; --lift ends the suppression;
 * vg_suppression_check() tells when the key file lost versions suppressions
 * rely on. */
#include "cli_fixture.h"

#include "contract.h"
#include "digest.h"
#include "keys.h"
#include "pii.h"
#include "store_capture.h"
#include "store_erasure.h"

/* The token of raw as field under key version v of the test's key file. */
static void token_of(struct cli_fx *f, unsigned v, const char *field, const char *raw, char tok[VG_TOKEN_MAX])
{
	struct vg_keyring kr;
	char err[300];
	assert_int_equal(vg_keyring_load(&kr, f->keys, err, sizeof err), VG_OK);
	for (size_t k = 0; k < kr.n; k++)
		if (kr.keys[k].version == v) {
			assert_true(vg_pii_identity_token(&kr.keys[k], field, raw, strlen(raw), 49, tok, NULL, 0) > 0);
			vg_keyring_wipe(&kr);
			return;
		}
	fail_msg("no key version %u", v);
}

/* One pending event of device with body, in its own transaction. */
static void put_event(struct cli_fx *f, const char *key, const char *device, const char *body)
{
	struct vg_store *st = cli_store(f);
	struct vg_store_event ev = event(key, body);
	ev.device_id = device;
	assert_true(put_in_txn(st, &ev, NULL) >= 0);
	vg_store_close(st);
}

/* One held quarantine row with body. */
static void put_held(struct cli_fx *f, const char *body)
{
	struct vg_store *st = cli_store(f);
	assert_true(put_quarantine_at(st, "kiosk-1", "contract", 1795885392123, body) >= 0);
	vg_store_close(st);
}

/* 1 if tok is suppressed at capture. */
static int suppressed(struct cli_fx *f, const char *tok)
{
	struct vg_store *st = cli_store(f);
	const char *t[1] = { tok };
	assert_int_equal(vg_store_begin(st), VG_OK);
	int rc = vg_store_suppressed(st, t, 1);
	vg_store_rollback(st);
	vg_store_close(st);
	assert_true(rc == 0 || rc == 1);
	return rc;
}

static long long count(struct cli_fx *f, const char *table)
{
	char sql[100];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	return raw_int(f->db, sql);
}

/* Ana (by email token, in two events and one held quarantine row) and Bob. */
static void fill(struct cli_fx *f, char ana[VG_TOKEN_MAX], char bob[VG_TOKEN_MAX])
{
	token_of(f, 1, "email", "ana.lopez@example.com", ana);
	token_of(f, 1, "email", "bob@example.org", bob);
	char body[300];
	snprintf(body, sizeof body, "{\"id\":\"a1\",\"person\":{\"email\":\"%s\"}}", ana);
	put_event(f, "aaaaaaaaaaaaaaaaaaaaa1", "pos-1", body);
	snprintf(body, sizeof body, "{\"id\":\"a2\",\"person\":{\"email\":\"%s\",\"customer_id\":\"MB-1\"}}", ana);
	put_event(f, "aaaaaaaaaaaaaaaaaaaaa2", "pos-1", body);
	snprintf(body, sizeof body, "{\"id\":\"b1\",\"person\":{\"email\":\"%s\"}}", bob);
	put_event(f, "bbbbbbbbbbbbbbbbbbbbb1", "pos-2", body);
	snprintf(body, sizeof body, "{\"id\":\"a3\",\"type\":\"class.attended\",\"person\":{\"email\":\"%s\"}}", ana);
	put_held(f, body);
}

static void email_is_normalised_purged_suppressed_and_noticed(void **state)
{
	struct cli_fx *f = *state;
	char ana[VG_TOKEN_MAX], bob[VG_TOKEN_MAX];
	fill(f, ana, bob);
	/* Spaces and case as a person at the desk types them; blank lines skipped. */
	assert_code(f, cli_run(f, vg_cmd_forget, "\n  Ana.Lopez@Example.COM \r\n\n", "--email"), VG_EXIT_OK);
	assert_out_has(f, "forgot email #1: ");
	assert_out_has(f, "3 rows purged");
	assert_out_has(f, "suppressed at capture under key versions 1\n");
	assert_out_has(f, "WAL truncated");
	assert_out_has(f, "1 identifier forgotten, 3 rows purged; erasure.requested queued");
	/* Neither the raw value nor its normal form is echoed. */
	assert_null(strstr(f->out, "xample"));
	assert_null(strstr(f->err, "xample"));

	/* Bob's event stays; Ana's rows are gone from both tables. */
	char sql[300];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE instr(body, '%s') > 0 AND type <> 'erasure.requested'", ana);
	assert_int_equal(raw_int(f->db, sql), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE event_key = 'bbbbbbbbbbbbbbbbbbbbb1'"), 1);
	assert_int_equal(count(f, "quarantine"), 0);
	/* The tombstone: a digest (no personal data), the rows purged. */
	assert_int_equal(count(f, "tombstones"), 1);
	assert_int_equal(raw_int(f->db, "SELECT rows_purged FROM tombstones"), 3);
	char digest[64];
	raw_text(f->db, "SELECT digest FROM tombstones", digest, sizeof digest);
	assert_int_equal(strlen(digest), 27);
	assert_true(strncmp(digest, "tomb.", 5) == 0);
	char want[80];
	snprintf(want, sizeof want, "tombstone %s,", digest);
	assert_out_has(f, want);
	/* The notice for the CDP: the gateway's own event, priority lane, naming
	 * the person by the stored form (the token) and the tombstone. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE type = 'erasure.requested'"), 1);
	assert_int_equal(raw_int(f->db, "SELECT priority FROM events WHERE type = 'erasure.requested'"), VG_PRIO_HIGH);
	char dev[80], body[1000];
	raw_text(f->db, "SELECT device_id FROM events WHERE type = 'erasure.requested'", dev, sizeof dev);
	assert_string_equal(dev, "_gateway");
	raw_text(f->db, "SELECT body FROM events WHERE type = 'erasure.requested'", body, sizeof body);
	snprintf(want, sizeof want, "\"person\":{\"email\":\"%s\"}", ana);
	assert_non_null(strstr(body, want));
	snprintf(want, sizeof want, "\"tombstone\":\"%s\"", digest);
	assert_non_null(strstr(body, want));
	assert_non_null(strstr(body, "\"rows_purged\":3"));
	assert_non_null(strstr(body, "\"id\":\"erasure:tomb."));
	/* Capture suppresses Ana from now on, not Bob. */
	assert_int_equal(count(f, "suppressions"), 1);
	assert_int_equal(suppressed(f, ana), 1);
	assert_int_equal(suppressed(f, bob), 0);
	/* Nothing of her is left in the WAL either: it was truncated. */
	char wal[160];
	struct stat sb;
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	assert_true(stat(wal, &sb) != 0 || sb.st_size == 0);
}

/* A bad line anywhere: exit 2, the line named, nothing changed (not even the
 * good identifiers before it). */
static void bad_identifier_changes_nothing(void **state)
{
	struct cli_fx *f = *state;
	char ana[VG_TOKEN_MAX], bob[VG_TOKEN_MAX];
	fill(f, ana, bob);
	assert_code(f, cli_run(f, vg_cmd_forget, "ana.lopez@example.com\nnot an email\n", "--email"), VG_EXIT_USAGE);
	assert_err_has(f, "standard input line 2: not a valid email");
	assert_null(strstr(f->err, "not an email"));
	assert_int_equal(count(f, "suppressions"), 0);
	assert_int_equal(count(f, "tombstones"), 0);
	assert_int_equal(count(f, "events"), 3);
	assert_int_equal(count(f, "quarantine"), 1);
	assert_int_equal(suppressed(f, ana), 0);
	/* A phone number that is none. */
	assert_code(f, cli_run(f, vg_cmd_forget, "+49 30 1234567\nabc\n", "--phone"), VG_EXIT_USAGE);
	assert_err_has(f, "line 2: not a valid phone");
	assert_int_equal(count(f, "suppressions"), 0);
	/* Nothing on standard input. */
	assert_code(f, cli_run(f, vg_cmd_forget, " \n\n", "--email"), VG_EXIT_USAGE);
	assert_err_has(f, "no identifiers on standard input");
	assert_int_equal(count(f, "suppressions"), 0);
	assert_int_equal(count(f, "events"), 3);
}

/* The command line: an identifier there is refused without echoing it, one
 * kind per run, a kind is needed, unknown options are usage errors. */
static void command_line_is_checked_before_anything(void **state)
{
	struct cli_fx *f = *state;
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--email", "ana@example.com"), VG_EXIT_USAGE);
	assert_err_has(f, "never from the command line (argument 2 refused)");
	assert_null(strstr(f->err, "ana@"));
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--email", "--phone"), VG_EXIT_USAGE);
	assert_err_has(f, "one kind of identifier per run");
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--lift"), VG_EXIT_USAGE);
	assert_err_has(f, "Usage: venuegw forget");
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--email", "--purge"), VG_EXIT_USAGE);
	assert_err_has(f, "unknown option '--purge'");
	assert_int_equal(count(f, "suppressions"), 0);
	assert_int_equal(count(f, "events"), 0);
}

/* Phones are normalised to E.164 with the configured country code; the row
 * tokenised under it is purged, whatever spelling the desk types. */
static void phone_uses_the_default_country_code(void **state)
{
	struct cli_fx *f = *state;
	char tok[VG_TOKEN_MAX], body[200];
	token_of(f, 1, "phone", "+49301234567", tok);
	snprintf(body, sizeof body, "{\"person\":{\"phone\":\"%s\"}}", tok);
	put_event(f, "ppppppppppppppppppppp1", "pos-1", body);
	assert_code(f, cli_run(f, vg_cmd_forget, "030 123 45 67\n", "--phone"), VG_EXIT_OK);
	assert_out_has(f, "1 rows purged");
	assert_int_equal(suppressed(f, tok), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE type <> 'erasure.requested'"), 0);
}

/* customer_id is kept plain by default: the person field is matched, not the
 * same text in another field (an order id); the notice names it plain. */
static void kept_identifier_matches_the_person_field_only(void **state)
{
	struct cli_fx *f = *state;
	put_event(f, "ccccccccccccccccccccc1", "pos-1", "{\"person\":{\"customer_id\":\"MB-88121\"}}");
	put_event(f, "ccccccccccccccccccccc2", "pos-2",
	          "{\"person\":{\"customer_id\":\"MB-2\"},\"properties\":{\"order_id\":\"MB-88121\"}}");
	assert_code(f, cli_run(f, vg_cmd_forget, "MB-88121\n", "--customer-id"), VG_EXIT_OK);
	assert_out_has(f, "1 rows purged");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE event_key = 'ccccccccccccccccccccc1'"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE event_key = 'ccccccccccccccccccccc2'"), 1);
	char body[1000];
	raw_text(f->db, "SELECT body FROM events WHERE type = 'erasure.requested'", body, sizeof body);
	assert_non_null(strstr(body, "\"person\":{\"customer_id\":\"MB-88121\"}"));
	/* The suppression is on the token, whatever the policy. */
	char tok[VG_TOKEN_MAX];
	token_of(f, 1, "customer_id", "MB-88121", tok);
	assert_int_equal(suppressed(f, tok), 1);
}

/* [privacy] email = sha256: the stored hex form is matched as the person's
 * email and named in the notice. */
static void sha256_policy_matches_the_stored_hash(void **state)
{
	struct cli_fx *f = *state;
	cli_config(f, "[privacy]\nemail = sha256\n");
	/* sha256("ana.lopez@example.com") */
	uint8_t h[32];
	char hex[65], body[200];
	vg_sha256("ana.lopez@example.com", strlen("ana.lopez@example.com"), h);
	vg_hex(h, sizeof h, hex);
	snprintf(body, sizeof body, "{\"person\":{\"email\":\"%s\"}}", hex);
	put_event(f, "sssssssssssssssssssss1", "pos-1", body);
	/* The same hex as another field's value is someone else's. */
	snprintf(body, sizeof body, "{\"properties\":{\"ref\":\"%s\"}}", hex);
	put_event(f, "sssssssssssssssssssss2", "pos-1", body);
	assert_code(f, cli_run(f, vg_cmd_forget, "Ana.Lopez@example.com\n", "--email"), VG_EXIT_OK);
	assert_out_has(f, "1 rows purged");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE event_key = 'sssssssssssssssssssss1'"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE event_key = 'sssssssssssssssssssss2'"), 1);
	raw_text(f->db, "SELECT body FROM events WHERE type = 'erasure.requested'", body, sizeof body);
	char want[120];
	snprintf(want, sizeof want, "\"person\":{\"email\":\"%s\"}", hex);
	assert_non_null(strstr(body, want));
}

/* Two key versions: rows tokenised under either are purged, the person is
 * suppressed under both, --lift ends both; the check of suppressions against
 * the key file names versions that left it. */
static void every_key_version_then_lift_and_check(void **state)
{
	struct cli_fx *f = *state;
	cli_write(f->keys, "1 " CLI_K1_HEX "\n2 " CLI_K2_HEX "\n", 0600);
	char t1[VG_TOKEN_MAX], t2[VG_TOKEN_MAX], body[200];
	token_of(f, 1, "email", "ana@example.com", t1);
	token_of(f, 2, "email", "ana@example.com", t2);
	assert_string_not_equal(t1, t2);
	snprintf(body, sizeof body, "{\"person\":{\"email\":\"%s\"}}", t1);
	put_event(f, "vvvvvvvvvvvvvvvvvvvvv1", "pos-1", body);
	snprintf(body, sizeof body, "{\"person\":{\"email\":\"%s\"}}", t2);
	put_event(f, "vvvvvvvvvvvvvvvvvvvvv2", "pos-1", body);
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--email"), VG_EXIT_OK);
	assert_out_has(f, "2 rows purged");
	assert_out_has(f, "under key versions 1,2\n");
	assert_int_equal(count(f, "suppressions"), 2);
	assert_int_equal(suppressed(f, t1), 1);
	assert_int_equal(suppressed(f, t2), 1);

	/* The key file as it is: nothing to say. */
	struct vg_store *st = cli_store(f);
	char warn[600];
	assert_int_equal(vg_suppression_check(&f->cfg, st, warn, sizeof warn), VG_OK);
	assert_string_equal(warn, "");
	/* Version 1 gone: they still match under 2. */
	cli_write(f->keys, "2 " CLI_K2_HEX "\n", 0600);
	assert_int_equal(vg_suppression_check(&f->cfg, st, warn, sizeof warn), VG_OK);
	assert_non_null(strstr(warn, "also cover key versions no longer in"));
	assert_non_null(strstr(warn, "(versions: 1)"));
	/* Both gone: the person is captured again. */
	cli_write(f->keys, "3 " CLI_K1_HEX "\n", 0600);
	assert_int_equal(vg_suppression_check(&f->cfg, st, warn, sizeof warn), VG_OK);
	/* (a suppression row per key version: two rows for Ana) */
	if (!strstr(warn, "2 suppressions (venuegw forget) match only under key versions missing"))
		fail_msg("warn: %s", warn);
	assert_non_null(strstr(warn, "(versions: 1,2)"));
	vg_store_close(st);

	/* --lift ends both suppressions, and records nothing else. */
	cli_write(f->keys, "1 " CLI_K1_HEX "\n2 " CLI_K2_HEX "\n", 0600);
	long long events = count(f, "events");
	assert_code(f, cli_run(f, vg_cmd_forget, "ANA@example.com\n", "--email", "--lift"), VG_EXIT_OK);
	assert_out_has(f, "2 suppressions lifted");
	assert_int_equal(count(f, "suppressions"), 0);
	assert_int_equal(suppressed(f, t1), 0);
	assert_int_equal(count(f, "tombstones"), 1);
	assert_int_equal(count(f, "events"), events);
	/* Lifting again lifts nothing. */
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--email", "--lift"), VG_EXIT_OK);
	assert_out_has(f, "0 suppressions lifted");
}

/* Several identifiers: each its own tombstone and notice. */
static void each_identifier_gets_its_tombstone(void **state)
{
	struct cli_fx *f = *state;
	char ana[VG_TOKEN_MAX], bob[VG_TOKEN_MAX];
	fill(f, ana, bob);
	assert_code(f, cli_run(f, vg_cmd_forget, "ana.lopez@example.com\nbob@example.org\n", "--email"), VG_EXIT_OK);
	assert_out_has(f, "forgot email #2: ");
	assert_out_has(f, "2 identifiers forgotten, 4 rows purged");
	assert_int_equal(count(f, "tombstones"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(DISTINCT digest) FROM tombstones"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE type = 'erasure.requested'"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE type <> 'erasure.requested'"), 0);
	/* The same person again: a new tombstone; the only row left carrying her
	 * token is the first notice, which the new one replaces. */
	assert_code(f, cli_run(f, vg_cmd_forget, "ana.lopez@example.com\n", "--email"), VG_EXIT_OK);
	assert_out_has(f, "1 rows purged");
	assert_int_equal(count(f, "tombstones"), 3);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE type = 'erasure.requested'"), 2);
}

/* The key file cannot be read: exit 1, nothing changed. */
static void missing_key_file_is_exit_1(void **state)
{
	struct cli_fx *f = *state;
	assert_int_equal(unlink(f->keys), 0);
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--email"), VG_EXIT_FAIL);
	assert_err_has(f, f->keys);
	assert_int_equal(count(f, "suppressions"), 0);
	/* A key not active yet is no key. */
	cli_write(f->keys, "1 " CLI_K1_HEX " activate_at=2099-01-01T00:00:00Z\n", 0600);
	assert_code(f, cli_run(f, vg_cmd_forget, "ana@example.com\n", "--email"), VG_EXIT_FAIL);
	assert_err_has(f, "no token key is active yet");
	assert_int_equal(count(f, "suppressions"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(email_is_normalised_purged_suppressed_and_noticed, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(bad_identifier_changes_nothing, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(command_line_is_checked_before_anything, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(phone_uses_the_default_country_code, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(kept_identifier_matches_the_person_field_only, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(sha256_policy_matches_the_stored_hash, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(every_key_version_then_lift_and_check, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(each_identifier_gets_its_tombstone, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(missing_key_file_is_exit_1, cli_setup, cli_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
