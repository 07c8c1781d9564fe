/* Unit tests for firmware/daemon/serial.c: a port on a PTY pair (openpty)
 * whose slave a symlink names, as a USB adapter's device would be.  Bytes
 * written on the master become committed events in a real buffer.db
 * through the scanner driver (keys from the device's counter, a bad frame
 * quarantined as metadata); the port is reopened after the other side
 * hung up, once the device is back; a port the loop cannot watch is in
 * error, not silently dead. */
#include "store_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "container.h"
#include "contract.h"
#include "log.h"
#include "loop.h"
#include "serial.h"

/* Group commits that failed, as the log tells. */
static int commit_failures;

static void log_sink(enum vg_log_level level, const char *msgid, const char *text)
{
	(void)level, (void)text;
	if (strcmp(msgid, "serial.commit") == 0)
		commit_failures++;
}

struct pty {
	int master, slave;
};

struct world {
	struct fixture *f;
	char link[160], keys[160];
	struct pty pty;
	struct vg_config cfg;
	struct vg_plan *plan;
	struct vg_loop loop;
	struct vg_serial *s;
	struct vg_timer poll_t;
	const char *until_sql;   /* the condition polled: a count … */
	long long until_n;       /* … reaching this */
	const char *until_state; /* or the port's state */
	int64_t deadline;
};

/* A new PTY pair, its slave named by w->link. */
static void plug(struct world *w)
{
	assert_int_equal(openpty(&w->pty.master, &w->pty.slave, NULL, NULL, NULL), 0);
	unlink(w->link);
	assert_int_equal(symlink(ttyname(w->pty.slave), w->link), 0);
	/* The daemon opens the slave by name: the test's own descriptor goes,
	 * so closing the master is a hang-up. */
	close(w->pty.slave);
	w->pty.slave = -1;
}

static void unplug(struct world *w)
{
	close(w->pty.master);
	w->pty.master = -1;
	unlink(w->link);
}

static void world_open(struct world *w, struct fixture *f, const char *port_opts)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	w->pty.master = w->pty.slave = -1;
	snprintf(w->link, sizeof w->link, "%s/ttyScan", f->dir);
	snprintf(w->keys, sizeof w->keys, "%s/keys", f->dir);
	FILE *k = fopen(w->keys, "w");
	assert_non_null(k);
	fputs("1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", k);
	fclose(k);
	char text[1024], err[256] = "";
	snprintf(text, sizeof text,
	         "[gateway]\nvenue_id = venue-7\ngateway_id = gw-1\ndata_dir = %s\ncommit_interval_ms = 5\n"
	         "[tokens]\nkey_file = %s\n"
	         "[serial.scan]\ndevice = %s\ndriver = scanner\ndevice_id = scanner-1\nbaud = 19200\n%s",
	         f->dir, w->keys, w->link, port_opts);
	vg_config_defaults(&w->cfg);
	if (vg_config_parse(&w->cfg, text, "test.conf", err, sizeof err) != VG_OK)
		fail_msg("config: %s", err);
	assert_int_equal(vg_plan_load(&w->plan, VG_DEFAULT_PLAN, err, sizeof err), VG_OK);
	create_db(f->db);
}

static void serial_open(struct world *w)
{
	char err[256] = "";
	if (vg_serial_open(&w->s, &w->loop, &w->cfg, w->plan, w->f->db, err, sizeof err) != VG_OK)
		fail_msg("vg_serial_open: %s", err);
	assert_non_null(w->s);
}

static void world_close(struct world *w)
{
	vg_serial_close(w->s);
	vg_plan_free(w->plan);
	if (w->pty.master >= 0)
		close(w->pty.master);
	unlink(w->link);
	unlink(w->keys);
}

/* The port's description (vg_serial_describe), as a new object. */
static cJSON *port(struct world *w)
{
	cJSON *arr = cJSON_CreateArray();
	vg_serial_describe(w->s, arr);
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON *p = cJSON_DetachItemFromArray(arr, 0);
	cJSON_Delete(arr);
	return p;
}

static int state_is(struct world *w, const char *state)
{
	cJSON *p = port(w);
	int yes = strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "state")), state) == 0;
	cJSON_Delete(p);
	return yes;
}

static int reached(struct world *w)
{
	if (w->until_sql)
		return raw_int(w->f->db, w->until_sql) >= w->until_n;
	if (w->until_state)
		return state_is(w, w->until_state);
	return commit_failures >= w->until_n;
}

static void on_poll(struct vg_timer *t)
{
	struct world *w = vg_container_of(t, struct world, poll_t);
	if (reached(w) || vg_now_ms() > w->deadline)
		vg_loop_stop(&w->loop);
	else
		vg_loop_timer(&w->loop, &w->poll_t, vg_now_ms() + 5);
}

/* Run the loop until the count sql reaches n, or the port's state is state,
 * or (both NULL) n group commits failed (at most 5 s). */
static void run_until(struct world *w, const char *sql, long long n, const char *state)
{
	w->until_sql = sql;
	w->until_n = n;
	w->until_state = state;
	w->poll_t.cb = on_poll;
	w->deadline = vg_now_ms() + 5000;
	vg_loop_timer(&w->loop, &w->poll_t, vg_now_ms());
	w->loop.stop = 0;
	assert_int_equal(vg_loop_run(&w->loop), VG_OK);
	vg_loop_cancel(&w->loop, &w->poll_t);
	if (!reached(w))
		fail_msg("not reached: %s %lld %s", sql ? sql : "", n, state ? state : "");
}

static void send_bytes(struct world *w, const char *bytes)
{
	assert_int_equal(write(w->pty.master, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
}

static double pnum(const cJSON *p, const char *name)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(p, name));
}

#define EVENTS "SELECT count(*) FROM events WHERE device_id = 'scanner-1'"

static void bytes_become_committed_events(void **state)
{
	struct world w;
	world_open(&w, *state, "max_len = 12\n");
	plug(&w);
	serial_open(&w);
	cJSON *p = port(&w);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "state")), "open");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "name")), "scan");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "driver")), "scanner");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "device_id")), "scanner-1");
	cJSON_Delete(p);

	/* A code split over two writes, then another one. */
	send_bytes(&w, "MB-1001\rMB-1");
	send_bytes(&w, "002\r");
	run_until(&w, EVENTS, 2, NULL);
	assert_int_equal(raw_int(w.f->db, EVENTS " AND type = 'checkin.scanned'"), 2);
	/* The scanner's events, in order, with the receive time as occurred_at
	 * (a scanner has no clock). */
	char got[256];
	raw_text(w.f->db, "SELECT group_concat(json_extract(body, '$.person.member_code'), ',') FROM"
	                  " (SELECT body FROM events ORDER BY id)", got, sizeof got);
	assert_string_equal(got, "MB-1001,MB-1002");
	assert_int_equal(raw_int(w.f->db, EVENTS " AND json_extract(body, '$.occurred_at') LIKE '20%Z'"), 2);
	/* The device's counter went up by the events committed. */
	assert_int_equal(raw_int(w.f->db, "SELECT serial_seq FROM device_state WHERE device_id = 'scanner-1'"), 2);
	assert_true(raw_int(w.f->db, "SELECT serial_epoch FROM device_state WHERE device_id = 'scanner-1'") > 0);
	assert_int_equal(raw_int(w.f->db, "SELECT count(DISTINCT event_key) FROM events"), 2);

	/* A code longer than max_len: a bad frame, quarantined as metadata only. */
	send_bytes(&w, "TOO-LONG-A-CODE-1\r");
	run_until(&w, "SELECT count(*) FROM quarantine", 1, NULL);
	char row[256];
	raw_text(w.f->db, "SELECT device_id || ' ' || topic || ' ' || reason || ' ' || state || ' ' ||"
	                   " coalesce(body, 'none') FROM quarantine", row, sizeof row);
	assert_string_equal(row, "scanner-1 serial:scan too_long metadata none");

	p = port(&w);
	assert_int_equal(pnum(p, "frames"), 2);
	assert_int_equal(pnum(p, "bad"), 1);
	assert_int_equal(pnum(p, "committed"), 2);
	cJSON_Delete(p);
	world_close(&w);
}

/* The other side hangs up: the port waits, says why, and is open again once
 * the device is back — the counter goes on, nothing is lost. */
static void reopens_after_a_hang_up(void **state)
{
	struct world w;
	world_open(&w, *state, "");
	plug(&w);
	serial_open(&w);
	send_bytes(&w, "BEFORE-1\r");
	run_until(&w, EVENTS, 1, NULL);

	unplug(&w);
	run_until(&w, NULL, 0, "waiting");
	cJSON *p = port(&w);
	assert_true(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(p, "why"))) > 0);
	cJSON_Delete(p);

	plug(&w);
	run_until(&w, NULL, 0, "open");
	p = port(&w);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "why")), "");
	cJSON_Delete(p);
	send_bytes(&w, "AFTER-1\r");
	run_until(&w, EVENTS, 2, NULL);
	assert_int_equal(raw_int(w.f->db, "SELECT serial_seq FROM device_state WHERE device_id = 'scanner-1'"), 2);
	p = port(&w);
	assert_int_equal(pnum(p, "committed"), 2);
	cJSON_Delete(p);
	world_close(&w);
}

/* A group commit that fails (buffer.db locked by another writer past the
 * busy timeout) is not counted as committed, and the keys it handed out are
 * handed out again: the device's counter has no hole. */
static void a_failed_commit_reuses_its_keys(void **state)
{
	struct world w;
	world_open(&w, *state, "");
	plug(&w);
	serial_open(&w);
	send_bytes(&w, "ONE-1\r");
	run_until(&w, EVENTS, 1, NULL);

	sqlite3 *other = raw_open(w.f->db);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	commit_failures = 0;
	send_bytes(&w, "TWO-2\r");
	run_until(&w, NULL, 1, NULL);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	cJSON *p = port(&w);
	assert_int_equal(pnum(p, "frames"), 2);
	assert_int_equal(pnum(p, "committed"), 1);
	cJSON_Delete(p);

	send_bytes(&w, "THREE-3\r");
	run_until(&w, EVENTS, 2, NULL);
	char got[256];
	raw_text(w.f->db, "SELECT group_concat(json_extract(body, '$.person.member_code'), ',') FROM"
	                  " (SELECT body FROM events ORDER BY id)", got, sizeof got);
	assert_string_equal(got, "ONE-1,THREE-3");
	assert_int_equal(raw_int(w.f->db, "SELECT serial_seq FROM device_state WHERE device_id = 'scanner-1'"), 2);
	p = port(&w);
	assert_int_equal(pnum(p, "committed"), 2);
	cJSON_Delete(p);
	world_close(&w);
}

/* No device yet: waiting (retried), not an error at start-up. */
static void a_missing_device_is_waited_for(void **state)
{
	struct world w;
	world_open(&w, *state, "");
	serial_open(&w);
	cJSON *p = port(&w);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "state")), "waiting");
	assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(p, "why")), "cannot open"));
	cJSON_Delete(p);
	plug(&w);
	run_until(&w, NULL, 0, "open");
	send_bytes(&w, "LATE-1\r");
	run_until(&w, EVENTS, 1, NULL);
	world_close(&w);
}

struct dummy {
	struct vg_watch w;
};

static void never(struct vg_watch *w, short revents)
{
	(void)w, (void)revents;
	fail_msg("a dummy watcher fired");
}

/* The loop refuses one watcher more than it can poll: the port says so
 * (state error) instead of being open and never read. */
static void a_watcher_the_loop_refuses(void **state)
{
	struct world w;
	world_open(&w, *state, "");
	plug(&w);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	static struct dummy d[VG_LOOP_MAX_WATCHES];
	for (int i = 0; i < VG_LOOP_MAX_WATCHES; i++) {
		d[i].w.cb = never;
		assert_int_equal(vg_loop_watch(&w.loop, &d[i].w, fds[0], POLLIN), VG_OK);
	}
	serial_open(&w);
	cJSON *p = port(&w);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "state")), "error");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "why")), "too many descriptors to watch");
	cJSON_Delete(p);
	assert_int_equal(w.loop.nwatches, VG_LOOP_MAX_WATCHES);
	/* Room again: the retry opens it. */
	vg_loop_unwatch(&w.loop, &d[0].w);
	run_until(&w, NULL, 0, "open");
	send_bytes(&w, "ROOM-1\r");
	run_until(&w, EVENTS, 1, NULL);
	world_close(&w);
	for (int i = 1; i < VG_LOOP_MAX_WATCHES; i++)
		vg_loop_unwatch(&w.loop, &d[i].w);
	close(fds[0]);
	close(fds[1]);
}

/* Options a driver refuses name their line; no ports: nothing opened. */
static void driver_options_are_checked(void **state)
{
	struct world w;
	world_open(&w, *state, "terminator = sometimes\n");
	char err[256] = "";
	assert_int_equal(vg_serial_check(&w.cfg, err, sizeof err), VG_ERR_CONFIG);
	assert_non_null(strstr(err, "test.conf:"));
	assert_non_null(strstr(err, "[serial.scan] terminator: must be one of"));
	assert_int_equal(vg_serial_open(&w.s, &w.loop, &w.cfg, w.plan, w.f->db, err, sizeof err), VG_ERR_CONFIG);
	assert_null(w.s);
	assert_int_equal(w.loop.nwatches, 0);
	w.cfg.nports = 0;
	w.s = (struct vg_serial *)&w;
	assert_int_equal(vg_serial_open(&w.s, &w.loop, &w.cfg, w.plan, w.f->db, err, sizeof err), VG_OK);
	assert_null(w.s);
	world_close(&w);
}

int main(void)
{
	vg_log_threshold = VG_LOG_ERR;
	vg_log_set_sink(log_sink);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bytes_become_committed_events, setup, teardown),
		cmocka_unit_test_setup_teardown(reopens_after_a_hang_up, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_commit_reuses_its_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(a_missing_device_is_waited_for, setup, teardown),
		cmocka_unit_test_setup_teardown(a_watcher_the_loop_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(driver_options_are_checked, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
