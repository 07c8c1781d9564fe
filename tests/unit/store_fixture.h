/* Shared by the store's unit tests (tests/unit/store*_test.c): a fresh
 * directory per test holding buffer.db, store handles on it, and a raw SQLite
 * connection for looking at the file from outside the store. */
#ifndef VG_STORE_FIXTURE_H
#define VG_STORE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "contract.h"
#include "err.h"
#include "store.h"
#include "store_capture.h"
#include "store_forward.h"

/* Per test: a fresh directory holding buffer.db. */
struct fixture {
	char dir[64];
	char db[128];
};

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/vg_store_test_XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/buffer.db", f->dir);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char p[160];
		snprintf(p, sizeof(p), "%s%s", f->db, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static inline struct vg_store *open_store(const char *path, int owner, int busy_ms)
{
	struct vg_store_cfg cfg = { .path = path, .owner = owner, .durability_full = 1,
	                            .busy_timeout_ms = busy_ms };
	struct vg_store *s = NULL;
	char err[256] = "";
	int rc = vg_store_open(&s, &cfg, err, sizeof(err));
	if (rc != VG_OK)
		fail_msg("vg_store_open(%s, owner=%d): %d %s", path, owner, rc, err);
	assert_non_null(s);
	return s;
}

/* A raw connection, for looking at the file from outside the store. */
static inline sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	return db;
}

static inline long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static inline void raw_text(const char *path, const char *sql, char *out, size_t outsz)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *t = (const char *)sqlite3_column_text(st, 0);
	snprintf(out, outsz, "%s", t ? t : "(null)");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static inline void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

static inline struct vg_store_event event(const char *key, const char *body)
{
	struct vg_store_event ev = {
		.event_key = key,
		.device_id = "pos-1",
		.type = "checkin.scanned",
		.priority = VG_PRIO_NORMAL,
		.flags = 0,
		.received_at_ms = 1795885392123,
		.body = body,
		.body_len = strlen(body),
	};
	return ev;
}

/* Make buffer.db with the owner, then close it. */
static inline void create_db(const char *path)
{
	vg_store_close(open_store(path, 1, 0));
}

/* The event ev, or else the quarantine row q, in its own transaction: the
 * put's result (enum vg_store_put), or an error (rolled back). */
static inline int put_in_txn(struct vg_store *s, const struct vg_store_event *ev,
                             const struct vg_store_quarantine *q)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	rc = ev ? vg_store_put_event(s, ev) : vg_store_put_quarantine(s, q);
	if (rc < 0) {
		vg_store_rollback(s);
		return rc;
	}
	int c = vg_store_commit(s);
	return c ? c : rc;
}

/* Put one event of device at at_ms, key "<key>" padded to 22 characters, in
 * its own transaction.  The put's result. */
static inline int put_at(struct vg_store *s, const char *key, const char *device, int priority, int64_t at_ms,
                         const char *body)
{
	char k[23];
	snprintf(k, sizeof k, "%-22s", key);
	for (char *p = k; *p; p++)
		if (*p == ' ')
			*p = 'x';
	struct vg_store_event ev = event(k, body);
	ev.device_id = device;
	ev.priority = priority;
	ev.received_at_ms = at_ms;
	return put_in_txn(s, &ev, NULL);
}

/* Put one quarantine row (body NULL: metadata only) in its own transaction. */
static inline int put_quarantine_at(struct vg_store *s, const char *device, const char *reason, int64_t at_ms,
                                    const char *body)
{
	struct vg_store_quarantine q = {
		.received_at_ms = at_ms, .device_id = device, .topic = "venue/v1/x/events", .size = 42,
		.reason = reason, .field = "type", .detail = "no such type", .error_offset = 7,
		.digest = "dg", .event_key = "", .body = body, .body_len = body ? strlen(body) : 0,
	};
	return put_in_txn(s, NULL, &q);
}

/* A row callback that takes every row, counting them in *(int *)ud (unless
 * ud is NULL). */
static inline int take_all(void *ud, const struct vg_store_row *row)
{
	(void)row;
	if (ud)
		(*(int *)ud)++;
	return VG_STORE_ROW_TAKE;
}

/* Row ids handed to a callback, in order. */
struct ids {
	long long id[64];
	int n;
};

#endif
