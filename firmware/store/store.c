#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "digest.h"
#include "err.h"
#include "log.h"

enum stmt_id {
	ST_PUT_EVENT,
	ST_PUT_QUARANTINE,
	ST_OVERFLOW,
	ST_USER_VERSION,
	ST_SUPPRESSED,
	ST_USED_BYTES,
	ST_RECLAIM_KEYS,
	ST_DROP_LAST,
	ST_DROP_RECORD,
	ST_DROP_DELETE,
	ST_UNDECLARED_ADD,
	ST_UNDECLARED_ROWS,
	ST_UNDECLARED_NEW,
	ST_QUARANTINE_BYTES,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
	[ST_PUT_EVENT] =
		"INSERT INTO events(event_key, device_id, type, priority, state, received_at_ms, flags, body)"
		" VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7) ON CONFLICT(event_key) DO NOTHING",
	[ST_PUT_QUARANTINE] =
		"INSERT INTO quarantine(received_at_ms, device_id, topic, size, reason, field, detail,"
		" error_offset, digest, event_key, state, body)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_OVERFLOW] =
		"INSERT INTO quarantine_overflow(device_id, reason, count, first_ms, last_ms)"
		" VALUES (?1, ?2, 1, ?3, ?3) ON CONFLICT(device_id, reason)"
		" DO UPDATE SET count = count + 1, last_ms = excluded.last_ms",
	[ST_USER_VERSION] = "PRAGMA user_version",
	[ST_SUPPRESSED] = "SELECT 1 FROM suppressions WHERE token = ?1",
	/* The disk cap counts the pages in use (the file less its free list). */
	[ST_USED_BYTES] =
		"SELECT ((SELECT page_count FROM pragma_page_count())"
		" - (SELECT freelist_count FROM pragma_freelist_count()))"
		" * (SELECT page_size FROM pragma_page_size())",
	[ST_RECLAIM_KEYS] =
		"DELETE FROM events WHERE id IN"
		" (SELECT id FROM events WHERE state = 2 ORDER BY forwarded_at_ms, id LIMIT ?1)",
	/* drop_oldest: never the priority lane (consent, erasure), never an event in a batch,
	 * never the gateway's own (reconciliation); events_droppable is exactly these rows.
	 * ?2: below the row this transaction just put. */
#define DROPPABLE "state = 0 AND priority > 0 AND device_id <> '_gateway'"
	[ST_DROP_LAST] = "SELECT max(id) FROM (SELECT id FROM events WHERE " DROPPABLE " AND id < ?2"
	                 " ORDER BY id LIMIT ?1)",
	/* One drops row per device, type and 10 s of receive time in the chunk. */
	[ST_DROP_RECORD] =
		"INSERT INTO drops(device_id, type, received_at_ms, dropped_at_ms, count)"
		" SELECT device_id, type, received_at_ms / 10000 * 10000, ?2, count(*) FROM events"
		" WHERE " DROPPABLE " AND id <= ?1 GROUP BY device_id, type, received_at_ms / 10000",
	[ST_DROP_DELETE] = "DELETE FROM events WHERE " DROPPABLE " AND id <= ?1",
	[ST_QUARANTINE_BYTES] = "SELECT bytes FROM quarantine_usage WHERE id = 0",
#undef DROPPABLE
	[ST_UNDECLARED_ADD] =
		"UPDATE undeclared SET count = count + ?4, last_ms = ?5"
		" WHERE device_id = ?1 AND type = ?2 AND path = ?3",
	[ST_UNDECLARED_ROWS] = "SELECT count(*) FROM undeclared",
	[ST_UNDECLARED_NEW] =
		"INSERT INTO undeclared(device_id, type, path, count, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
		" ON CONFLICT(device_id, type, path) DO UPDATE SET count = count + excluded.count,"
		" last_ms = excluded.last_ms",
};

#define VG_SUPPRESSION_KEY_LEN 27 /* "sup." + 22 + NUL */

struct vg_store {
	sqlite3 *db;
	int owner;
	int busy_timeout_ms;
	int64_t busy_since_ns;
	int in_txn;
	long long max_bytes;       /* the disk cap; 0: none */
	int drop_oldest;
	struct vg_store_cap_stats cap;     /* committed */
	struct vg_store_cap_stats txn_cap; /* in the open transaction */
	sqlite3_stmt *stmt[ST__COUNT];
};

/* What one quarantine row counts against quarantine_max_mb: its text and a
 * fixed allowance for the row's integers, its index entry and page overhead
 * (p: "", "new." or "old."). */
#define QROW_BYTES(p) \
	"(coalesce(length(" p "body), 0) + length(" p "device_id) * 2 + length(" p "topic) + length(" p "reason)" \
	" + length(" p "field) + length(" p "detail) + length(" p "digest) + length(" p "event_key) + 64)"

/* Schema version 3.  Each migration takes the schema from version i to i+1;
 * only the owner (the daemon) runs them. */
static const char *const migrations[] = {
	/* 0 → 1 */
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  event_key TEXT NOT NULL UNIQUE,"      /* §4: the de-duplication key and messageId */
	"  device_id TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  priority INTEGER NOT NULL,"           /* 0 consent/erasure lane, 1 normal, 2 low */
	"  state INTEGER NOT NULL DEFAULT 0,"    /* 0 pending, 1 in a batch, 2 forwarded (key retained) */
	"  received_at_ms INTEGER NOT NULL,"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  batch_id INTEGER,"
	"  forwarded_at_ms INTEGER,"
	"  body TEXT"                            /* tokenized wire form; NULL once forwarded */
	");"
	"CREATE INDEX events_pending ON events(priority, id) WHERE state = 0;"
	"CREATE INDEX events_pending_age ON events(id) WHERE state = 0;"
	"CREATE INDEX events_batch ON events(batch_id) WHERE state = 1;"
	"CREATE INDEX events_forwarded ON events(forwarded_at_ms) WHERE state = 2;"
	"CREATE TABLE batches ("
	"  id INTEGER PRIMARY KEY,"
	"  idempotency_key TEXT,"                /* set once the set is known; a function of it */
	"  created_at_ms INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
	"  last_status INTEGER,"
	"  last_error TEXT"
	");"
	"CREATE TABLE quarantine ("
	"  id INTEGER PRIMARY KEY,"
	"  received_at_ms INTEGER NOT NULL,"
	"  device_id TEXT NOT NULL,"
	"  topic TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  field TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  error_offset INTEGER NOT NULL,"
	"  digest TEXT NOT NULL,"                /* keyed digest of the raw bytes, never the bytes */
	"  event_key TEXT NOT NULL,"
	"  state TEXT NOT NULL,"                 /* held (tokenized body kept) | metadata */
	"  body TEXT"
	");"
	"CREATE INDEX quarantine_device ON quarantine(device_id, received_at_ms);"
	"CREATE TABLE quarantine_overflow ("
	"  device_id TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  first_ms INTEGER NOT NULL,"
	"  last_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (device_id, reason)"
	");"
	"CREATE TABLE device_state ("
	"  device_id TEXT PRIMARY KEY,"
	"  last_seq INTEGER,"
	"  last_seen_ms INTEGER,"
	"  serial_epoch INTEGER NOT NULL DEFAULT 0,"
	"  serial_seq INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE tombstones ("
	"  id INTEGER PRIMARY KEY,"
	"  digest TEXT NOT NULL,"
	"  created_at_ms INTEGER NOT NULL,"
	"  rows_purged INTEGER NOT NULL"
	");"
	"CREATE TABLE suppressions ("
	"  token TEXT PRIMARY KEY,"
	"  created_at_ms INTEGER NOT NULL"
	");",
	/* 1 → 2: the disk cap.  drops counts the events dropped under on_full =
	 * drop_oldest per device, type, 10 s of receive time and drop time (no key, no
	 * body), for the counters and reconciliation; purged after two reconciliation
	 * windows.  events_droppable finds the oldest droppable events at once. */
	"CREATE TABLE drops ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"   /* the metrics read new rows by id */
	"  device_id TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  received_at_ms INTEGER NOT NULL,"        /* start of the 10 s its events were received in */
	"  dropped_at_ms INTEGER NOT NULL,"
	"  count INTEGER NOT NULL"
	");"
	"CREATE INDEX drops_dropped ON drops(dropped_at_ms);"
	"CREATE INDEX drops_received ON drops(received_at_ms);"
	"CREATE INDEX events_droppable ON events(id) WHERE state = 0 AND priority > 0 AND device_id <> '_gateway';",
	/* 2 → 3: the quarantine's own share of the cap and the key versions of
	 * suppressions.  quarantine_usage holds the quarantine's payload bytes
	 * (QROW_BYTES per row), kept by triggers, so capture reads its share with
	 * one page instead of a scan.  suppressions.key_versions lists the key
	 * versions the erasure that wrote the row covered (",1,2,"; "" for rows
	 * from before this schema): a version missing from the key file is found
	 * without any token. */
	"ALTER TABLE suppressions ADD COLUMN key_versions TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE quarantine_usage ("
	"  id INTEGER PRIMARY KEY CHECK (id = 0),"
	"  bytes INTEGER NOT NULL"
	");"
	"INSERT INTO quarantine_usage(id, bytes) SELECT 0, coalesce(sum(" QROW_BYTES("") "), 0) FROM quarantine;"
	"CREATE TRIGGER quarantine_usage_insert AFTER INSERT ON quarantine BEGIN"
	"  UPDATE quarantine_usage SET bytes = bytes + " QROW_BYTES("new.") " WHERE id = 0; END;"
	"CREATE TRIGGER quarantine_usage_delete AFTER DELETE ON quarantine BEGIN"
	"  UPDATE quarantine_usage SET bytes = bytes - " QROW_BYTES("old.") " WHERE id = 0; END;"
	"CREATE TRIGGER quarantine_usage_update AFTER UPDATE ON quarantine BEGIN"
	"  UPDATE quarantine_usage SET bytes = bytes + " QROW_BYTES("new.") " - " QROW_BYTES("old.") " WHERE id = 0; END;"
	/* and the tracking plan: undeclared counts the members the plan did not
	 * declare, dropped at capture, per device, type and path (a path never
	 * holds a value; keys that might are "~"); at most VG_STORE_UNDECLARED_ROWS
	 * rows, the rest counted under path "~other". */
	"CREATE TABLE undeclared ("
	"  device_id TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  first_ms INTEGER NOT NULL,"
	"  last_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (device_id, type, path)"
	");",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(sizeof migrations / sizeof migrations[0] == VG_STORE_SCHEMA,
               "one migration per schema version");

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, so a
 * writer that just missed the lock waits long after it was freed.  The
 * broker thread and the daemon take turns with transactions of a few ms:
 * retry every 100 µs at first, then every ms, until the timeout. */
static int busy_handler(void *ud, int count)
{
	struct vg_store *s = ud;
	int64_t now = mono_ns();
	if (count == 0)
		s->busy_since_ns = now;
	if (now - s->busy_since_ns >= (int64_t)s->busy_timeout_ms * 1000000)
		return 0;
	struct timespec d = { 0, count < 20 ? 100000 : 1000000 };
	nanosleep(&d, NULL);
	return 1;
}

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return VG_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return VG_ERR_BUSY;
	case SQLITE_NOMEM:
		return VG_ERR_NOMEM;
	default:
		return VG_ERR_IO;
	}
}

static int exec(struct vg_store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		vg_log(VG_LOG_ERR, "store", "%s: %s", sql[0] == 'C' ? "migration" : sql,
		       msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
	}
	return map_rc(rc);
}

static int int_query(struct vg_store *s, const char *sql, long long *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return map_rc(rc);
}

static int migrate(struct vg_store *s, char *err, size_t errsz)
{
	long long version = 0;
	int rc = int_query(s, "PRAGMA user_version", &version);
	if (rc)
		goto fail;
	if (version > VG_STORE_SCHEMA) {
		snprintf(err, errsz, "buffer.db has schema version %lld, newer than this venuegw's %d;"
		         " install the newer venuegw again", version, VG_STORE_SCHEMA);
		return VG_ERR_SCHEMA;
	}
	while (version < VG_STORE_SCHEMA) {
		char sql[64];
		if ((rc = exec(s, "BEGIN IMMEDIATE")))
			goto fail;
		if ((rc = exec(s, migrations[version]))) {
			exec(s, "ROLLBACK");
			goto fail;
		}
		snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", version + 1);
		if ((rc = exec(s, sql)) || (rc = exec(s, "COMMIT"))) {
			exec(s, "ROLLBACK");
			goto fail;
		}
		vg_log(VG_LOG_INFO, "store.migrate", "buffer.db schema %lld -> %lld", version, version + 1);
		version++;
	}
	return VG_OK;
fail:
	snprintf(err, errsz, "cannot migrate buffer.db: %s", sqlite3_errmsg(s->db));
	return rc;
}

int vg_store_open(struct vg_store **out, const struct vg_store_cfg *cfg, char *err, size_t errsz)
{
	*out = NULL;
	struct vg_store *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	s->owner = cfg->owner;
	s->max_bytes = cfg->max_bytes > 0 ? cfg->max_bytes : 0;
	s->drop_oldest = cfg->drop_oldest;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (cfg->owner ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(cfg->path, &s->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errsz, "cannot open %s: %s%s", cfg->path,
		         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
		         cfg->owner ? "" : " (the daemon creates it: is venuegw running?)");
		rc = VG_ERR_IO;
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	s->busy_timeout_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : 100;
	sqlite3_busy_handler(s->db, busy_handler, s);

	char pragmas[256];
	snprintf(pragmas, sizeof pragmas,
	         "PRAGMA synchronous = %s; PRAGMA foreign_keys = OFF; PRAGMA secure_delete = ON;%s",
	         cfg->durability_full ? "FULL" : "NORMAL",
	         cfg->owner ? " PRAGMA journal_size_limit = 67108864;" : " PRAGMA wal_autocheckpoint = 0;");
	if ((rc = exec(s, pragmas))) {
		snprintf(err, errsz, "cannot configure %s: %s", cfg->path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (cfg->owner) {
		sqlite3_stmt *st;
		rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(st);
			const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
			rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_ERROR;
			sqlite3_finalize(st);
		}
		if (rc != SQLITE_OK) {
			snprintf(err, errsz, "cannot put %s in WAL mode: %s", cfg->path, sqlite3_errmsg(s->db));
			rc = map_rc(rc);
			goto fail;
		}
		if ((rc = migrate(s, err, errsz)))
			goto fail;
	}
	/* Capture handles prepare lazily: the tables may not exist yet. */
	*out = s;
	return VG_OK;
fail:
	vg_store_close(s);
	return rc ? rc : VG_ERR_IO;
}

void vg_store_close(struct vg_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->in_txn)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(s->db);
	free(s);
}

const char *vg_store_errmsg(const struct vg_store *s)
{
	return s && s->db ? sqlite3_errmsg(s->db) : "no database";
}

static sqlite3_stmt *stmt(struct vg_store *s, enum stmt_id id)
{
	if (!s->stmt[id] &&
	    sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL) != SQLITE_OK) {
		vg_log(VG_LOG_ERR, "store", "prepare: %s", sqlite3_errmsg(s->db));
		return NULL;
	}
	return s->stmt[id];
}

/* Step a prepared statement to completion; reset it either way. */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VG_OK : map_rc(rc);
}

int vg_store_begin(struct vg_store *s)
{
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	s->in_txn = 1;
	if (!s->owner) {
		sqlite3_stmt *st = stmt(s, ST_USER_VERSION);
		long long version = -1;
		if (st && sqlite3_step(st) == SQLITE_ROW)
			version = sqlite3_column_int64(st, 0);
		if (st)
			sqlite3_reset(st);
		if (version != VG_STORE_SCHEMA) {
			vg_store_rollback(s);
			return VG_ERR_SCHEMA;
		}
	}
	return VG_OK;
}

int vg_store_commit(struct vg_store *s)
{
	int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int err = map_rc(rc);
		vg_log(VG_LOG_ERR, "store.commit", "commit failed: %s", sqlite3_errmsg(s->db));
		vg_store_rollback(s);
		return err == VG_OK ? VG_ERR_IO : err;
	}
	s->in_txn = 0;
	s->cap.keys_reclaimed += s->txn_cap.keys_reclaimed;
	s->cap.dropped += s->txn_cap.dropped;
	memset(&s->txn_cap, 0, sizeof s->txn_cap);
	return VG_OK;
}

void vg_store_rollback(struct vg_store *s)
{
	if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = 0;
	memset(&s->txn_cap, 0, sizeof s->txn_cap);
}

/* End a write transaction: commit when rc is VG_OK, else roll back and
 * return rc. */
static int end_txn(struct vg_store *s, int rc)
{
	if (rc) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

/* ---- the disk cap (DESIGN §3 promise 5, §6) ----------------------------------- */

#define RECLAIM_CHUNK 128      /* forwarded keys: small rows */
#define DROP_CHUNK 32          /* pending events */
#define RECLAIM_ROUNDS 16

static int used_bytes(struct vg_store *s, long long *used)
{
	sqlite3_stmt *st = stmt(s, ST_USED_BYTES);
	if (!st)
		return VG_ERR_IO;
	int rc = sqlite3_step(st);
	*used = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? VG_OK : map_rc(rc);
}

/* Run a bound DELETE/INSERT statement; *n = rows changed. */
static int change(struct vg_store *s, enum stmt_id id, long long a, long long b, int *n)
{
	sqlite3_stmt *st = stmt(s, id);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	int rc = run(st);
	*n = rc ? 0 : sqlite3_changes(s->db);
	return rc;
}

/* drop_oldest: up to DROP_CHUNK of the oldest droppable events below below_id,
 * counted in drops.  *n = events dropped. */
static int drop_oldest(struct vg_store *s, long long below_id, int64_t now_ms, int *n)
{
	*n = 0;
	sqlite3_stmt *st = stmt(s, ST_DROP_LAST);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_int(st, 1, DROP_CHUNK);
	sqlite3_bind_int64(st, 2, below_id);
	int rc = sqlite3_step(st);
	long long last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return map_rc(rc);
	if (last <= 0)
		return VG_OK;
	int rows;
	if ((rc = change(s, ST_DROP_RECORD, last, now_ms, &rows)))
		return rc;
	return change(s, ST_DROP_DELETE, last, 0, n);
}

/* Inside a capture transaction, after a row (row_id) was put: keep the pages in
 * use within the cap.  Captured rows may fill it up to 31/32 (the priority lane
 * up to 63/64): the daemon's own writes (batches, drops, moving forwarded keys)
 * take pages too.  First the keys of forwarded events go, oldest first — only
 * their de-duplication window gets shorter —, a little more than needed so the
 * next puts do not each pay; then, if may_drop and under drop_oldest, the oldest
 * droppable events older than this row, as few as make it fit.  VG_ERR_FULL
 * when it still does not fit: the caller rolls back, the event is refused. */
static int keep_within_cap(struct vg_store *s, int priority, long long row_id, int may_drop, int64_t now_ms)
{
	if (!s->max_bytes)
		return VG_OK;
	long long limit = s->max_bytes - s->max_bytes / (priority == 0 ? 64 : 32), used;
	int rc = used_bytes(s, &used);
	if (rc || used <= limit)
		return rc;
	long long slack = s->max_bytes / 64;
	int shrinking = 0;   /* a loop stopped at RECLAIM_ROUNDS with more left to free */
	for (int round = 0; used + slack > limit; round++) {
		int n;
		if (round == RECLAIM_ROUNDS) {
			shrinking = used > limit;
			break;
		}
		if ((rc = change(s, ST_RECLAIM_KEYS, RECLAIM_CHUNK, 0, &n)))
			return rc;
		s->txn_cap.keys_reclaimed += n;
		if (n == 0)
			break;
		if ((rc = used_bytes(s, &used)))
			return rc;
	}
	for (int round = 0; !shrinking && may_drop && s->drop_oldest && used > limit; round++) {
		int n;
		if (round == RECLAIM_ROUNDS) {
			shrinking = 1;
			break;
		}
		if ((rc = drop_oldest(s, row_id, now_ms, &n)))
			return rc;
		s->txn_cap.dropped += n;
		if (n == 0)
			break;
		if ((rc = used_bytes(s, &used)))
			return rc;
	}
	/* Still over, but this put freed all it may (the cap was lowered, or far more is
	 * to be freed than one put should do): the row stays with what was freed, and
	 * the next puts free more.  Refusing would roll the freeing back as well. */
	if (used <= limit || shrinking)
		return VG_OK;
	s->cap.refused++;
	return VG_ERR_FULL;
}

void vg_store_cap_stats(const struct vg_store *s, struct vg_store_cap_stats *out)
{
	*out = s->cap;
}

int vg_store_used_bytes(struct vg_store *s, long long *used)
{
	return used_bytes(s, used);
}

static int put_event_row(struct vg_store *s, const struct vg_store_event *ev)
{
	sqlite3_stmt *st = stmt(s, ST_PUT_EVENT);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_text(st, 1, ev->event_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ev->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, ev->priority);
	sqlite3_bind_int64(st, 5, ev->received_at_ms);
	sqlite3_bind_int64(st, 6, ev->flags);
	sqlite3_bind_text(st, 7, ev->body, (int)ev->body_len, SQLITE_STATIC);
	int rc = run(st);
	if (rc)
		return rc;
	return sqlite3_changes(s->db) == 0 ? 1 : VG_OK;
}

int vg_store_put_event(struct vg_store *s, const struct vg_store_event *ev)
{
	/* Put first: a duplicate needs no room, and the size is then exact. */
	int rc = put_event_row(s, ev);
	if (rc)
		return rc;
	return keep_within_cap(s, ev->priority, sqlite3_last_insert_rowid(s->db), 1, ev->received_at_ms);
}

static int put_quarantine_row(struct vg_store *s, const struct vg_store_quarantine *q);

/* At the cap, a quarantined input is counted (quarantine_overflow), not stored:
 * bad input never takes the room of good events, nor holds capture up. */
int vg_store_put_quarantine(struct vg_store *s, const struct vg_store_quarantine *q)
{
	if (!s->max_bytes)
		return put_quarantine_row(s, q);
	int rc = exec(s, "SAVEPOINT quarantine");
	if (rc)
		return rc;
	struct vg_store_cap_stats before = s->txn_cap;
	rc = put_quarantine_row(s, q);
	if (!rc)
		rc = keep_within_cap(s, 1 /* normal */, 0, 0, q->received_at_ms);
	if (rc == VG_ERR_FULL) {
		s->cap.refused--;   /* not refused: counted */
		s->txn_cap = before;
		if ((rc = exec(s, "ROLLBACK TO quarantine")) == VG_OK && (rc = exec(s, "RELEASE quarantine")) == VG_OK)
			rc = vg_store_count_quarantine_overflow(s, q->device_id, q->reason, q->received_at_ms);
		return rc ? rc : VG_STORE_OVERFLOW;
	}
	int rel = exec(s, "RELEASE quarantine");
	return rc ? rc : rel;
}

static int put_quarantine_row(struct vg_store *s, const struct vg_store_quarantine *q)
{
	sqlite3_stmt *st = stmt(s, ST_PUT_QUARANTINE);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_int64(st, 1, q->received_at_ms);
	sqlite3_bind_text(st, 2, q->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->topic ? q->topic : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)q->size);
	sqlite3_bind_text(st, 5, q->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, q->field ? q->field : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->detail ? q->detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, q->error_offset);
	sqlite3_bind_text(st, 9, q->digest ? q->digest : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, q->event_key ? q->event_key : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, q->body ? "held" : "metadata", -1, SQLITE_STATIC);
	if (q->body)
		sqlite3_bind_text(st, 12, q->body, (int)q->body_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 12);
	return run(st);
}

int vg_store_count_quarantine_overflow(struct vg_store *s, const char *device_id,
                                       const char *reason, int64_t now_ms)
{
	sqlite3_stmt *st = stmt(s, ST_OVERFLOW);
	if (!st)
		return VG_ERR_IO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	return run(st);
}

int vg_store_quarantine_bytes(struct vg_store *s, long long *bytes)
{
	*bytes = 0;
	sqlite3_stmt *st = stmt(s, ST_QUARANTINE_BYTES);
	if (!st)
		return VG_ERR_IO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*bytes = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_checkpoint(struct vg_store *s)
{
	int log_frames = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		vg_log(VG_LOG_WARN, "store.checkpoint", "checkpoint: %s", sqlite3_errmsg(s->db));
	return rc == SQLITE_BUSY ? VG_OK : map_rc(rc);
}

int vg_store_counts(struct vg_store *s, struct vg_store_counts *c)
{
	memset(c, 0, sizeof *c);
	static const char sql[] =
		"SELECT (SELECT count(*) FROM events WHERE state = 0),"
		" (SELECT count(*) FROM events WHERE state = 1),"
		" (SELECT count(*) FROM events WHERE state = 2),"
		" (SELECT count(*) FROM quarantine WHERE state = 'held'),"
		" (SELECT count(*) FROM quarantine WHERE state = 'metadata'),"
		" (SELECT coalesce(sum(count), 0) FROM quarantine_overflow),";
	sqlite3_stmt *st;
	long long version = 0;
	int rc = int_query(s, "PRAGMA user_version", &version);
	if (rc)
		return rc;
	/* A file the daemon has not migrated yet (venuegw status after an upgrade) has no drops. */
	char one[sizeof sql + 64];
	snprintf(one, sizeof one, "%s%s", sql, version >= 2 ? " (SELECT coalesce(sum(count), 0) FROM drops)" : " 0");
	rc = sqlite3_prepare_v2(s->db, one, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		c->pending = sqlite3_column_int64(st, 0);
		c->inflight = sqlite3_column_int64(st, 1);
		c->forwarded = sqlite3_column_int64(st, 2);
		c->quarantine_held = sqlite3_column_int64(st, 3);
		c->quarantine_metadata = sqlite3_column_int64(st, 4);
		c->quarantine_overflow = sqlite3_column_int64(st, 5);
		c->dropped = sqlite3_column_int64(st, 6);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return map_rc(rc);
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? t : "";
}

/* ---- forwarding ------------------------------------------------------------ */

static const char row_cols[] =
	"SELECT id, event_key, device_id, type, priority, flags, received_at_ms, body FROM events";

static void fill_row(sqlite3_stmt *st, struct vg_store_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->event_key = col(st, 1);
	r->device_id = col(st, 2);
	r->type = col(st, 3);
	r->priority = sqlite3_column_int(st, 4);
	r->flags = (unsigned)sqlite3_column_int64(st, 5);
	r->received_at_ms = sqlite3_column_int64(st, 6);
	r->body = col(st, 7);
	r->body_len = (size_t)sqlite3_column_bytes(st, 7);
}

int vg_store_batch_unfinished(struct vg_store *s, long long *batch_id, int *attempts)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id, attempts FROM batches ORDER BY id LIMIT 1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*batch_id = sqlite3_column_int64(st, 0);
		*attempts = sqlite3_column_int(st, 1);
		rc = VG_OK;
	} else {
		rc = rc == SQLITE_DONE ? VG_ERR_NOTFOUND : map_rc(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

int vg_store_batch_rows(struct vg_store *s, long long batch_id, vg_store_row_cb cb, void *ud)
{
	char sql[160];
	snprintf(sql, sizeof sql, "%s WHERE batch_id = ?1 AND state = 1 ORDER BY id", row_cols);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, batch_id);
	int err = VG_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vg_store_row r;
		fill_row(st, &r);
		int c = cb(ud, &r);
		if (c < 0) {
			err = c;
			break;
		}
	}
	sqlite3_finalize(st);
	if (err)
		return err;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_batch_claim(struct vg_store *s, int max_events, int max_priority, int64_t now_ms,
                         vg_store_row_cb cb, void *ud, long long *batch_id)
{
	*batch_id = 0;
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *sel = NULL, *upd = NULL;
	char sql[200];
	snprintf(sql, sizeof sql, "%s WHERE state = 0 AND priority <= ?2 ORDER BY priority, id LIMIT ?1", row_cols);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "UPDATE events SET state = 1, batch_id = ?1 WHERE id = ?2", -1, &upd, NULL);
	if (rc != SQLITE_OK) {
		rc = map_rc(rc);
		goto fail;
	}
	rc = exec(s, "INSERT INTO batches(created_at_ms) VALUES (0)");
	if (rc)
		goto fail;
	long long id = sqlite3_last_insert_rowid(s->db);
	int taken = 0;
	sqlite3_bind_int(sel, 1, max_events);
	sqlite3_bind_int(sel, 2, max_priority);
	int step;
	while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
		struct vg_store_row r;
		fill_row(sel, &r);
		int c = cb(ud, &r);
		if (c < 0) {
			rc = c;
			goto fail;
		}
		if (c == 1)
			break;
		if (c == 2)
			continue;
		sqlite3_bind_int64(upd, 1, id);
		sqlite3_bind_int64(upd, 2, r.id);
		if ((rc = run(upd)))
			goto fail;
		taken++;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		rc = map_rc(step);
		goto fail;
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sel = upd = NULL;
	if (!taken) {
		vg_store_rollback(s);
		return VG_OK;
	}
	char set[96];
	snprintf(set, sizeof set, "UPDATE batches SET created_at_ms = %lld WHERE id = %lld", (long long)now_ms, id);
	if ((rc = exec(s, set)))
		goto fail;
	if ((rc = vg_store_commit(s)))
		return rc;
	*batch_id = id;
	return VG_OK;
fail:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	vg_store_rollback(s);
	return rc ? rc : VG_ERR_IO;
}

int vg_store_batch_attempt(struct vg_store *s, long long batch_id, const char *idempotency_key,
                           int status, const char *error)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
		"UPDATE batches SET attempts = attempts + 1, idempotency_key = ?2, last_status = ?3,"
		" last_error = ?4 WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, batch_id);
	sqlite3_bind_text(st, 2, idempotency_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, status);
	sqlite3_bind_text(st, 4, error ? error : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

/* Run sql with ?1 = a and, if the statement has it, ?2 = b. */
static int exec_bound2(struct vg_store *s, const char *sql, long long a, long long b)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VG_OK : map_rc(rc);
}

int vg_store_batch_done(struct vg_store *s, long long batch_id, int64_t now_ms)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	/* The events leave their rows for key rows (no body) at the end of the table:
	 * the pages their bodies filled empty out and go to the free list, which is
	 * what the disk cap counts (a row shrunk in place would keep its page).  The
	 * key rows take ids above the highest there was, so ids never go down (the
	 * metrics read new rows by id). */
	long long top = 0;
	if ((rc = int_query(s, "SELECT coalesce(max(id), 0) FROM events", &top)) ||
	    (rc = exec(s, "CREATE TEMP TABLE IF NOT EXISTS done_keys(event_key TEXT, device_id TEXT, type TEXT,"
	                  " priority INTEGER, received_at_ms INTEGER, flags INTEGER);"
	                  "DELETE FROM temp.done_keys")) ||
	    (rc = exec_bound2(s, "INSERT INTO temp.done_keys SELECT event_key, device_id, type, priority,"
	                         " received_at_ms, flags FROM events WHERE batch_id = ?1 AND state = 1 ORDER BY id",
	                         batch_id, 0)) ||
	    (rc = exec_bound2(s, "DELETE FROM events WHERE batch_id = ?1 AND state = 1", batch_id, 0)) ||
	    (rc = exec_bound2(s, "INSERT INTO events(id, event_key, device_id, type, priority, state, received_at_ms,"
	                         " flags, forwarded_at_ms) SELECT ?1 + rowid, event_key, device_id, type, priority, 2,"
	                         " received_at_ms, flags, ?2 FROM temp.done_keys ORDER BY rowid", top, now_ms)) ||
	    (rc = exec(s, "DELETE FROM temp.done_keys")) ||
	    (rc = exec_bound2(s, "DELETE FROM batches WHERE id = ?1", batch_id, 0))) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

/* Move the events selected by where (?1 bound to id) to the quarantine. */
static int quarantine_where(struct vg_store *s, const char *where, long long id, const char *reason,
                            const char *detail)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		"INSERT INTO quarantine(received_at_ms, device_id, topic, size, reason, field, detail,"
		" error_offset, digest, event_key, state, body)"
		" SELECT received_at_ms, device_id, '', length(body), ?2, '', ?3, -1, '', event_key, 'held', body"
		" FROM events WHERE %s", where);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, detail ? detail : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return map_rc(rc);
	snprintf(sql, sizeof sql, "DELETE FROM events WHERE %s", where);
	return exec_bound2(s, sql, id, 0);
}

int vg_store_quarantine_event(struct vg_store *s, long long event_id, const char *reason,
                              const char *detail)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	if ((rc = quarantine_where(s, "id = ?1 AND state IN (0, 1)", event_id, reason, detail))) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_batch_quarantine(struct vg_store *s, long long batch_id, const char *reason,
                              const char *detail)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	if ((rc = quarantine_where(s, "batch_id = ?1 AND state = 1", batch_id, reason, detail)) ||
	    (rc = exec_bound2(s, "DELETE FROM batches WHERE id = ?1", batch_id, 0))) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_batch_split(struct vg_store *s, long long batch_id, const long long *event_ids, size_t n,
                         int64_t now_ms, long long *new_batch_id)
{
	*new_batch_id = 0;
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *upd = NULL;
	if ((rc = exec_bound2(s, "INSERT INTO batches(created_at_ms) VALUES (?1)", now_ms, 0)))
		goto fail;
	long long id = sqlite3_last_insert_rowid(s->db);
	rc = sqlite3_prepare_v2(s->db, "UPDATE events SET batch_id = ?1 WHERE id = ?2 AND batch_id = ?3 AND state = 1",
	                        -1, &upd, NULL);
	if (rc != SQLITE_OK) {
		rc = map_rc(rc);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(upd, 1, id);
		sqlite3_bind_int64(upd, 2, event_ids[i]);
		sqlite3_bind_int64(upd, 3, batch_id);
		if ((rc = run(upd)))
			goto fail;
	}
	sqlite3_finalize(upd);
	upd = NULL;
	/* The remaining set is new too: its attempts start again. */
	if ((rc = exec_bound2(s, "UPDATE batches SET attempts = 0, idempotency_key = NULL WHERE id = ?1",
	                      batch_id, 0)))
		goto fail;
	if ((rc = vg_store_commit(s)))
		return rc;
	*new_batch_id = id;
	return VG_OK;
fail:
	sqlite3_finalize(upd);
	vg_store_rollback(s);
	return rc ? rc : VG_ERR_IO;
}

int vg_store_batch_unfinished_list(struct vg_store *s, long long *ids, size_t max, size_t *n)
{
	*n = 0;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id FROM batches ORDER BY id LIMIT ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_pending_info(struct vg_store *s, int cap, int *count, int64_t *oldest_ms)
{
	long long c = 0, oldest = 0;
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT 1 FROM events WHERE state = 0 LIMIT %d)", cap);
	int rc = int_query(s, sql, &c);
	if (!rc && c > 0)
		rc = int_query(s, "SELECT received_at_ms FROM events WHERE state = 0 ORDER BY id LIMIT 1", &oldest);
	*count = (int)c;
	*oldest_ms = oldest;
	return rc;
}

int vg_store_put_internal_event(struct vg_store *s, const struct vg_store_event *ev)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	rc = put_event_row(s, ev);   /* the gateway's own events are never refused at the cap */
	if (rc < 0) {
		vg_store_rollback(s);
		return rc;
	}
	int c = vg_store_commit(s);
	return c ? c : rc;
}

int vg_store_reconcile(struct vg_store *s, int64_t from_ms, int64_t to_ms, vg_store_reconcile_cb cb, void *ud)
{
	static const char sql[] =
		"SELECT device_id, sum(c), sum(f), sum(q), sum(d) FROM ("
		"  SELECT device_id, 1 AS c, 0 AS f, 0 AS q, 0 AS d FROM events"
		"   WHERE received_at_ms >= ?1 AND received_at_ms < ?2 AND device_id <> '_gateway'"
		"  UNION ALL SELECT device_id, 0, 1, 0, 0 FROM events"
		"   WHERE state = 2 AND forwarded_at_ms >= ?1 AND forwarded_at_ms < ?2 AND device_id <> '_gateway'"
		"  UNION ALL SELECT device_id, 1, 0, 1, 0 FROM quarantine"
		"   WHERE received_at_ms >= ?1 AND received_at_ms < ?2"
		"  UNION ALL SELECT device_id, count, 0, 0, 0 FROM drops"
		"   WHERE received_at_ms >= ?1 AND received_at_ms < ?2"
		"  UNION ALL SELECT device_id, 0, 0, 0, count FROM drops"
		"   WHERE dropped_at_ms >= ?1 AND dropped_at_ms < ?2"
		") GROUP BY device_id ORDER BY device_id";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, col(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		       sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

/* Up to limit rows of each DELETE sql[i] (bound ?1 = before[i], ?2 = limit), all
 * in one short transaction.  Returns the largest number deleted by one of them
 * (limit: call again) or an error. */
static int purge_rows(struct vg_store *s, const char *const *sql, const int64_t *before, size_t n, int limit)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	int most = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = exec_bound2(s, sql[i], before[i], limit);
		if (!rc && sqlite3_changes(s->db) > most)
			most = sqlite3_changes(s->db);
	}
	rc = end_txn(s, rc);
	return rc ? rc : most;
}

int vg_store_purge_forwarded(struct vg_store *s, int64_t before_ms, int64_t drops_before_ms, int limit)
{
	static const char *const sql[] = {
		"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE state = 2 AND forwarded_at_ms < ?1"
		" LIMIT ?2)",
		"DELETE FROM drops WHERE id IN (SELECT id FROM drops WHERE dropped_at_ms < ?1 LIMIT ?2)",
	};
	const int64_t before[] = { before_ms, drops_before_ms };
	return purge_rows(s, sql, before, 2, limit);
}

int vg_store_purge_quarantine(struct vg_store *s, int64_t before_ms, int limit)
{
	/* Rows are numbered in receive order but for retried or moved ones: the
	 * scan from the oldest id stops after limit old rows. */
	static const char *const sql[] = {
		"DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received_at_ms < ?1"
		" ORDER BY id LIMIT ?2)",
	};
	return purge_rows(s, sql, &before_ms, 1, limit);
}

int vg_store_drops_after(struct vg_store *s, long long after_id, vg_store_drops_cb cb, void *ud,
                         long long *last_id)
{
	static const char sql[] =
		"SELECT device_id, type, sum(count), max(id) FROM drops WHERE id > ?1"
		" GROUP BY device_id, type ORDER BY device_id, type";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	*last_id = after_id;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long max = sqlite3_column_int64(st, 3);
		if (max > *last_id)
			*last_id = max;
		cb(ud, col(st, 0), col(st, 1), sqlite3_column_int64(st, 2));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_has_pending(struct vg_store *s, int max_priority)
{
	long long one = 0;
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT 1 FROM events WHERE state = 0 AND priority <= %d LIMIT 1)",
	         max_priority);
	int rc = int_query(s, sql, &one);
	return rc ? rc : one > 0;
}

/* ---- erasure ---------------------------------------------------------------- */

/* Suppressions hold a digest of the identity token, not the token: the
 * person's tokens must not stay in buffer.db after erasure. */
static void suppression_key(const char *token, char out[VG_SUPPRESSION_KEY_LEN])
{
	struct vg_lphash h;
	uint8_t d[32];
	vg_lphash_start(&h);
	vg_lphash_add_str(&h, "venuegw-suppression-v1");
	vg_lphash_add_str(&h, token);
	vg_lphash_finish(&h, d);
	memcpy(out, "sup.", 4);
	vg_b64url(d, 16, out + 4);
}

int vg_store_suppressed(struct vg_store *s, const char *const *tokens, size_t n)
{
	if (!n)
		return 0;
	sqlite3_stmt *st = stmt(s, ST_SUPPRESSED);
	if (!st)
		return VG_ERR_IO;
	for (size_t i = 0; i < n; i++) {
		char k[VG_SUPPRESSION_KEY_LEN];
		suppression_key(tokens[i], k);
		sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW)
			return 1;
		if (rc != SQLITE_DONE)
			return map_rc(rc);
	}
	return 0;
}

int vg_store_suppress(struct vg_store *s, const char *const *tokens, size_t n, const char *key_versions,
                      int64_t now_ms)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	rc = map_rc(sqlite3_prepare_v2(s->db, "INSERT INTO suppressions(token, created_at_ms, key_versions)"
	                               " VALUES (?1, ?2, ?3) ON CONFLICT(token) DO UPDATE SET"
	                               " key_versions = excluded.key_versions", -1, &st, NULL));
	for (size_t i = 0; i < n && !rc; i++) {
		char k[VG_SUPPRESSION_KEY_LEN];
		suppression_key(tokens[i], k);
		sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_text(st, 3, key_versions ? key_versions : "", -1, SQLITE_STATIC);
		rc = run(st);
	}
	sqlite3_finalize(st);
	return end_txn(s, rc);
}

/* "(instr(body, ?3) > 0 OR instr(body, ?4) > 0 …)" for n needles. */
static void match_clause(char *out, size_t outsz, size_t n)
{
	size_t len = (size_t)snprintf(out, outsz, "(");
	for (size_t i = 0; i < n && len < outsz; i++)
		len += (size_t)snprintf(out + len, outsz - len, "%sinstr(body, ?%zu) > 0", i ? " OR " : "", i + 3);
	if (len < outsz)
		snprintf(out + len, outsz - len, ")");
}

int vg_store_erase_slice(struct vg_store *s, enum vg_store_table table, const char *const *match,
                         size_t nmatch, long long after_id, long long to_id, long long *scanned,
                         long long *deleted)
{
	*scanned = *deleted = 0;
	if (nmatch == 0 || nmatch > VG_STORE_ERASE_MATCH_MAX || to_id <= after_id)
		return nmatch > VG_STORE_ERASE_MATCH_MAX ? VG_ERR_INVAL : VG_OK;
	const char *name = table == VG_STORE_TABLE_QUARANTINE ? "quarantine" : "events";
	/* Forwarded events keep no body; pending and in-batch events do. */
	const char *state = table == VG_STORE_TABLE_QUARANTINE ? "" : " AND state IN (0, 1)";
	char where[1200], sql[1400];
	match_clause(where, sizeof where, nmatch);
	long long ids[VG_STORE_ERASE_SLICE_MAX];
	size_t nids = 0;

	/* 1. Read, outside any write transaction: in WAL mode this takes no lock
	 *    a writer waits for, however long it runs. */
	snprintf(sql, sizeof sql, "SELECT id, body IS NOT NULL AND %s FROM %s WHERE id > ?1 AND id <= ?2%s",
	         where, name, state);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, to_id);
	for (size_t i = 0; i < nmatch; i++)
		sqlite3_bind_text(st, (int)i + 3, match[i], -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		(*scanned)++;
		if (sqlite3_column_int(st, 1) && nids < VG_STORE_ERASE_SLICE_MAX)
			ids[nids++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return map_rc(rc);
	if (nids == 0)
		return VG_OK;

	/* 2. Delete what matched in one short write transaction, matching again:
	 *    a row may have been forwarded (its body cleared) or moved meanwhile. */
	snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = ?1 AND body IS NOT NULL AND %s%s", name, where, state);
	if ((rc = vg_store_begin(s)))
		return rc;
	rc = map_rc(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL));
	for (size_t i = 0; !rc && i < nmatch; i++)
		sqlite3_bind_text(st, (int)i + 3, match[i], -1, SQLITE_STATIC);
	long long n = 0;
	for (size_t i = 0; !rc && i < nids; i++) {
		sqlite3_bind_int64(st, 1, ids[i]);
		rc = sqlite3_step(st) == SQLITE_DONE ? VG_OK : map_rc(sqlite3_errcode(s->db));
		sqlite3_reset(st);
		if (!rc)
			n += sqlite3_changes(s->db);
	}
	sqlite3_finalize(st);
	if ((rc = end_txn(s, rc)))
		return rc;
	*deleted = n;
	return VG_OK;
}

int vg_store_tombstone(struct vg_store *s, const char *digest, int64_t now_ms, long long rows)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = map_rc(sqlite3_prepare_v2(s->db, "INSERT INTO tombstones(digest, created_at_ms, rows_purged)"
	                               " VALUES (?1, ?2, ?3)", -1, &st, NULL));
	if (!rc) {
		sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_int64(st, 3, rows);
		rc = run(st);
		sqlite3_finalize(st);
	}
	return end_txn(s, rc);
}

int vg_store_suppression_versions(struct vg_store *s, vg_store_versions_cb cb, void *ud)
{
	/* A file the daemon has not migrated yet (status after an upgrade) records no versions. */
	long long version = 0;
	int rc = int_query(s, "PRAGMA user_version", &version);
	if (rc || version < 3)
		return rc;
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(s->db, "SELECT key_versions, count(*), min(created_at_ms) FROM suppressions"
	                            " GROUP BY key_versions ORDER BY key_versions", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(ud, col(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2))) {
			rc = SQLITE_DONE;
			break;
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_lift(struct vg_store *s, const char *const *tokens, size_t n, long long *lifted)
{
	*lifted = 0;
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = map_rc(sqlite3_prepare_v2(s->db, "DELETE FROM suppressions WHERE token = ?1", -1, &st, NULL));
	for (size_t i = 0; i < n && !rc; i++) {
		char k[VG_SUPPRESSION_KEY_LEN];
		suppression_key(tokens[i], k);
		sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
		rc = run(st);
		*lifted += sqlite3_changes(s->db);
	}
	if (!rc)
		sqlite3_finalize(st);
	if (rc) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_checkpoint_truncate(struct vg_store *s, int timeout_ms)
{
	/* Copy what can be copied without blocking anyone first, so the
	 * truncating checkpoint has little left to do under its lock. */
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	int64_t end = mono_ns() + (int64_t)timeout_ms * 1000000;
	/* Each attempt waits for nobody: a truncating checkpoint that waits for a
	 * reader holds the write lock meanwhile, and capture (100 ms at most)
	 * would stop acknowledging.  Between attempts the lock is free. */
	int busy = s->busy_timeout_ms;
	s->busy_timeout_ms = 0;
	for (;;) {
		int log = -1, done = -1;
		int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
		if ((rc == SQLITE_OK && log == 0) || (rc != SQLITE_OK && rc != SQLITE_BUSY) || mono_ns() >= end)
			s->busy_timeout_ms = busy;
		if (rc == SQLITE_OK && log == 0)
			return VG_OK;
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			return map_rc(rc);
		if (mono_ns() >= end)
			return VG_ERR_BUSY;
		struct timespec d = { 0, 20000000 };
		nanosleep(&d, NULL);
	}
}

/* ---- serial input -------------------------------------------------------------- */

int vg_store_serial_counter(struct vg_store *s, const char *device_id, int64_t now_ms,
                            long long *epoch, long long *seq)
{
	int rc = vg_store_begin(s);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = map_rc(sqlite3_prepare_v2(s->db,
		"INSERT INTO device_state(device_id, serial_epoch, serial_seq, last_seen_ms) VALUES (?1, ?2, 0, ?3)"
		" ON CONFLICT(device_id) DO UPDATE SET serial_epoch = ?2 WHERE serial_epoch = 0", -1, &st, NULL));
	if (!rc) {
		sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms / 1000);
		sqlite3_bind_int64(st, 3, now_ms);
		rc = run(st);
		sqlite3_finalize(st);
	}
	if (!rc) {
		rc = map_rc(sqlite3_prepare_v2(s->db, "SELECT serial_epoch, serial_seq FROM device_state WHERE device_id = ?1",
		                               -1, &st, NULL));
		if (!rc) {
			sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW) {
				*epoch = sqlite3_column_int64(st, 0);
				*seq = sqlite3_column_int64(st, 1);
			} else {
				rc = VG_ERR_IO;
			}
			sqlite3_finalize(st);
		}
	}
	if (rc) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_serial_advance(struct vg_store *s, const char *device_id, long long seq, int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = map_rc(sqlite3_prepare_v2(s->db,
		"UPDATE device_state SET serial_seq = ?2, last_seen_ms = ?3 WHERE device_id = ?1", -1, &st, NULL));
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, now_ms);
	rc = run(st);
	sqlite3_finalize(st);
	return rc;
}

/* ---- metrics and status (the daemon's scanner, `venuegw status`) ---------- */

int vg_store_max_ids(struct vg_store *s, long long *events_max, long long *quarantine_max)
{
	int rc = int_query(s, "SELECT coalesce(max(id), 0) FROM events", events_max);
	if (!rc)
		rc = int_query(s, "SELECT coalesce(max(id), 0) FROM quarantine", quarantine_max);
	return rc;
}

int vg_store_events_after(struct vg_store *s, long long after_id, int limit, vg_store_new_event_cb cb, void *ud)
{
	/* A person identifier (the CDP's identity) is any of these person fields;
	 * payment_customer_id never is.  The body is gone once forwarded: -1. */
	static const char sql[] =
		"SELECT id, device_id, type, received_at_ms,"
		" CASE WHEN json_valid(body) THEN json_extract(body, '$.seq') END,"
		" CASE WHEN body IS NULL OR NOT json_valid(body) THEN -1"
		"  WHEN EXISTS (SELECT 1 FROM json_each(body, '$.person') WHERE key IN"
		"   ('customer_id', 'email', 'phone', 'loyalty_id', 'member_code')"
		"   AND type = 'text' AND value <> '') THEN 1 ELSE 0 END"
		" FROM events WHERE id > ?1 ORDER BY id LIMIT ?2";
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vg_store_new_event e = {
			.id = sqlite3_column_int64(st, 0),
			.device_id = col(st, 1),
			.type = col(st, 2),
			.received_at_ms = sqlite3_column_int64(st, 3),
			.has_seq = sqlite3_column_type(st, 4) == SQLITE_INTEGER,
			.seq = sqlite3_column_int64(st, 4),
			.identified = sqlite3_column_int(st, 5),
		};
		if (cb(ud, &e)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_quarantine_after(struct vg_store *s, long long after_id, int limit,
                              vg_store_new_quarantine_cb cb, void *ud)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id, device_id, reason, received_at_ms FROM quarantine"
	                            " WHERE id > ?1 ORDER BY id LIMIT ?2", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, sqlite3_column_int64(st, 0), col(st, 1), col(st, 2), sqlite3_column_int64(st, 3))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_overflow_each(struct vg_store *s, vg_store_overflow_cb cb, void *ud)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT device_id, reason, count FROM quarantine_overflow"
	                            " ORDER BY device_id, reason", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, col(st, 0), col(st, 1), sqlite3_column_int64(st, 2))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_oldest_unforwarded(struct vg_store *s, int64_t *oldest_ms)
{
	/* Index look-ups only: the oldest pending row by id, and the in-flight
	 * rows (a few batches) through events_batch. */
	long long v = 0;
	int rc = int_query(s, "SELECT coalesce(min(t), 0) FROM ("
	                   " SELECT (SELECT received_at_ms FROM events WHERE state = 0 ORDER BY id LIMIT 1) AS t"
	                   " UNION ALL SELECT min(received_at_ms) FROM events WHERE state = 1 AND batch_id IS NOT NULL)",
	                   &v);
	*oldest_ms = rc ? 0 : v;
	return rc;
}

int vg_store_devices(struct vg_store *s, long long from_id, long long to_id, vg_store_device_cb cb, void *ud)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT device_id, max(received_at_ms), count(*) FROM events"
	                            " WHERE id > ?1 AND id <= ?2 GROUP BY device_id ORDER BY device_id",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, from_id);
	sqlite3_bind_int64(st, 2, to_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, col(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

/* ---- quarantine show and retry, diag (venuegw quarantine, venuegw diag) ----- */

static const char q_cols[] =
	"SELECT id, received_at_ms, device_id, topic, size, reason, field, detail, error_offset,"
	" digest, event_key, state, body FROM quarantine";

/* Step st (a q_cols query) and hand each row to cb. */
static int quarantine_rows(sqlite3_stmt *st, vg_store_quarantine_cb cb, void *ud, int *seen)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vg_store_quarantine q = {
			.received_at_ms = sqlite3_column_int64(st, 1),
			.device_id = col(st, 2),
			.topic = col(st, 3),
			.size = (size_t)sqlite3_column_int64(st, 4),
			.reason = col(st, 5),
			.field = col(st, 6),
			.detail = col(st, 7),
			.error_offset = (long)sqlite3_column_int64(st, 8),
			.digest = col(st, 9),
			.event_key = col(st, 10),
			.body = (const char *)sqlite3_column_text(st, 12),
			.body_len = (size_t)sqlite3_column_bytes(st, 12),
		};
		if (seen)
			(*seen)++;
		if (cb(ud, sqlite3_column_int64(st, 0), &q, col(st, 11)))
			return VG_OK;
	}
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_quarantine_select(struct vg_store *s, const struct vg_store_quarantine_filter *f,
                               vg_store_quarantine_cb cb, void *ud)
{
	char sql[400];
	snprintf(sql, sizeof sql, "%s WHERE (?1 IS NULL OR reason = ?1) AND (?2 IS NULL OR device_id = ?2)"
	         " AND (?3 IS NULL OR state = ?3) AND id > ?5 ORDER BY id %s LIMIT ?4", q_cols,
	         f->oldest_first ? "ASC" : "DESC");
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	if (f->reason)
		sqlite3_bind_text(st, 1, f->reason, -1, SQLITE_STATIC);
	if (f->device_id)
		sqlite3_bind_text(st, 2, f->device_id, -1, SQLITE_STATIC);
	if (f->state)
		sqlite3_bind_text(st, 3, f->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, f->limit > 0 ? f->limit : -1);
	sqlite3_bind_int64(st, 5, f->after_id);
	rc = quarantine_rows(st, cb, ud, NULL);
	sqlite3_finalize(st);
	return rc;
}

int vg_store_quarantine_each(struct vg_store *s, int limit, vg_store_quarantine_cb cb, void *ud)
{
	struct vg_store_quarantine_filter f = { .limit = limit };
	return vg_store_quarantine_select(s, &f, cb, ud);
}

int vg_store_quarantine_get(struct vg_store *s, long long id, vg_store_quarantine_cb cb, void *ud)
{
	char sql[300];
	snprintf(sql, sizeof sql, "%s WHERE id = ?1", q_cols);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, id);
	int seen = 0;
	rc = quarantine_rows(st, cb, ud, &seen);
	sqlite3_finalize(st);
	return rc ? rc : seen ? VG_OK : VG_ERR_NOTFOUND;
}

int vg_store_quarantine_remove(struct vg_store *s, long long id)
{
	int rc = exec_bound2(s, "DELETE FROM quarantine WHERE id = ?1", id, 0);
	if (rc)
		return rc;
	return sqlite3_changes(s->db) ? VG_OK : VG_ERR_NOTFOUND;
}

int vg_store_quarantine_set_reason(struct vg_store *s, long long id, const char *reason, const char *field,
                                   const char *detail, long error_offset)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "UPDATE quarantine SET reason = ?2, field = ?3, detail = ?4,"
	                            " error_offset = ?5 WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field ? field : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, error_offset);
	rc = run(st);
	sqlite3_finalize(st);
	if (rc)
		return rc;
	return sqlite3_changes(s->db) ? VG_OK : VG_ERR_NOTFOUND;
}

const char *vg_store_sqlite_version(void)
{
	return sqlite3_libversion();
}

int vg_store_file_stats(struct vg_store *s, struct vg_store_file_stats *fs)
{
	memset(fs, 0, sizeof *fs);
	int rc = int_query(s, "PRAGMA page_size", &fs->page_size);
	if (!rc)
		rc = int_query(s, "PRAGMA page_count", &fs->page_count);
	if (!rc)
		rc = int_query(s, "PRAGMA freelist_count", &fs->freelist_count);
	if (!rc)
		rc = int_query(s, "PRAGMA user_version", &fs->schema_version);
	sqlite3_stmt *st;
	if (!rc && (rc = map_rc(sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL))) == VG_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(fs->journal_mode, sizeof fs->journal_mode, "%s", col(st, 0));
		sqlite3_finalize(st);
	}
	return rc;
}

int vg_store_quick_check(struct vg_store *s, char *out, size_t outsz)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(20)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	size_t used = 0;
	out[0] = '\0';
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && used + 1 < outsz) {
		int n = snprintf(out + used, outsz - used, "%s%s", used ? "\n" : "", col(st, 0));
		used += n > 0 ? (size_t)n : 0;
		if (used >= outsz)
			used = outsz - 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VG_OK : map_rc(rc);
}

int vg_store_group_counts(struct vg_store *s, enum vg_store_group g, vg_store_group_cb cb, void *ud)
{
	static const char *const sql[] = {
		[VG_STORE_GROUP_EVENTS] =
			"SELECT device_id, type, CASE state WHEN 0 THEN 'pending' WHEN 1 THEN 'inflight'"
			" WHEN 2 THEN 'forwarded' ELSE 'unknown' END, count(*), min(received_at_ms), max(received_at_ms)"
			" FROM events GROUP BY device_id, type, state ORDER BY device_id, type, state",
		[VG_STORE_GROUP_QUARANTINE] =
			"SELECT device_id, reason, state, count(*), min(received_at_ms), max(received_at_ms)"
			" FROM quarantine GROUP BY device_id, reason, state ORDER BY device_id, reason, state",
		[VG_STORE_GROUP_OVERFLOW] =
			"SELECT device_id, reason, '', count, first_ms, last_ms FROM quarantine_overflow"
			" ORDER BY device_id, reason",
		[VG_STORE_GROUP_BATCHES] =
			"SELECT CAST(id AS TEXT), coalesce(CAST(last_status AS TEXT), ''), CAST(attempts AS TEXT),"
			" (SELECT count(*) FROM events WHERE batch_id = batches.id AND state = 1), created_at_ms,"
			" next_attempt_ms FROM batches ORDER BY id",
		[VG_STORE_GROUP_DEVICES] =
			"SELECT device_id, coalesce(CAST(last_seq AS TEXT), ''),"
			" CAST(serial_epoch AS TEXT) || ':' || CAST(serial_seq AS TEXT), 0, coalesce(last_seen_ms, 0), 0"
			" FROM device_state ORDER BY device_id",
		[VG_STORE_GROUP_TOMBSTONES] =
			"SELECT '', '', '', count(*), coalesce(min(created_at_ms), 0), coalesce(max(created_at_ms), 0)"
			" FROM tombstones UNION ALL SELECT '', '', 'suppressions', count(*), 0, 0 FROM suppressions",
	};
	if ((unsigned)g >= sizeof sql / sizeof sql[0])
		return VG_ERR_INVAL;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql[g], -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, col(st, 0), col(st, 1), col(st, 2), sqlite3_column_int64(st, 3),
		       sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

/* ---- the tracking plan's undeclared members ----------------------------------- */

static int undeclared_step(sqlite3_stmt *st, const char *device_id, const char *type, const char *path,
                           long long n, int64_t now_ms)
{
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n);
	sqlite3_bind_int64(st, 5, now_ms);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}

int vg_store_count_undeclared(struct vg_store *s, const char *device_id, const char *type, const char *path,
                              long long n, int64_t now_ms)
{
	sqlite3_stmt *add = stmt(s, ST_UNDECLARED_ADD);
	if (!add)
		return VG_ERR_IO;
	int rc = undeclared_step(add, device_id, type, path, n, now_ms);
	if (rc || sqlite3_changes(s->db) > 0)
		return rc;
	/* A new row: within the bound, or counted under "~other". */
	sqlite3_stmt *rows = stmt(s, ST_UNDECLARED_ROWS);
	sqlite3_stmt *ins = stmt(s, ST_UNDECLARED_NEW);
	if (!rows || !ins)
		return VG_ERR_IO;
	long long have = 0;
	rc = sqlite3_step(rows);
	if (rc == SQLITE_ROW)
		have = sqlite3_column_int64(rows, 0);
	sqlite3_reset(rows);
	if (rc != SQLITE_ROW)
		return map_rc(rc);
	if (have >= VG_STORE_UNDECLARED_ROWS)
		return undeclared_step(ins, "~other", "~other", "~other", n, now_ms);
	return undeclared_step(ins, device_id, type, path, n, now_ms);
}

int vg_store_undeclared_each(struct vg_store *s, vg_store_undeclared_cb cb, void *ud)
{
	long long version = 0;
	int rc = int_query(s, "PRAGMA user_version", &version);
	if (rc || version < 3)
		return rc; /* not migrated yet: nothing counted */
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(s->db, "SELECT device_id, type, path, count, last_ms FROM undeclared"
	                        " ORDER BY device_id, type, path", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb(ud, col(st, 0), col(st, 1), col(st, 2), sqlite3_column_int64(st, 3),
		       sqlite3_column_int64(st, 4))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? VG_OK : map_rc(rc);
}
