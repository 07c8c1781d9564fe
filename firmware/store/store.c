#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "err.h"
#include "clock.h"
#include "event.h"
#include "log.h"
#include "schema.h"

/* The rows drop_oldest may drop: never the priority lane (consent, erasure),
 * never an event in a batch, never the gateway's own (reconciliation).  The
 * partial index events_droppable (schema 2) is declared with the same text,
 * so the queries below can use it. */
#define DROPPABLE_V2 "state = 0 AND priority > 0 AND device_id <> '" VG_GATEWAY_DEVICE "'"
/* Schema 5 on: the partial index's terms, and not in a batch. */
#define DROPPABLE_ROWS "priority > 0 AND device_id <> '" VG_GATEWAY_DEVICE "'"
#define DROPPABLE DROPPABLE_ROWS " AND id NOT IN (SELECT id FROM inflight)"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_PUT_KEY] =
		"INSERT INTO keys(key, received_at_ms, device_id) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO NOTHING",
	[ST_PUT_EVENT] =
		"INSERT INTO events(event_key, device_id, type, priority, received_at_ms, flags, body)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
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
	[ST_SUPPRESSIONS_ANY] = "SELECT EXISTS (SELECT 1 FROM suppressions)",
	/* The disk cap counts the pages in use (the file less its free list). */
	[ST_USED_BYTES] =
		"SELECT ((SELECT page_count FROM pragma_page_count())"
		" - (SELECT freelist_count FROM pragma_freelist_count()))"
		" * (SELECT page_size FROM pragma_page_size())",
	/* The oldest keys of events no longer held (received before the oldest
	 * row in events: ids follow receive order). */
	[ST_RECLAIM_KEYS] =
		"DELETE FROM keys WHERE key IN (SELECT key FROM keys WHERE received_at_ms <"
		" coalesce(" SQL_OLDEST_HELD_MS ", 9223372036854775807)"
		" ORDER BY received_at_ms LIMIT ?1)",
	/* drop_oldest: never the priority lane (consent, erasure), never an event in a batch,
	 * never the gateway's own (reconciliation); events_droppable is exactly these rows.
	 * ?2: below the row this transaction just put. */
	[ST_DROP_LAST] = "SELECT max(id) FROM (SELECT id FROM events WHERE " DROPPABLE " AND id < ?2"
	                 " ORDER BY id LIMIT ?1)",
	/* One drops row per device, type and 10 s of receive time in the chunk. */
	[ST_DROP_RECORD] =
		"INSERT INTO drops(device_id, type, received_at_ms, dropped_at_ms, count)"
		" SELECT device_id, type, received_at_ms / 10000 * 10000, ?2, count(*) FROM events"
		" WHERE " DROPPABLE " AND id <= ?1 GROUP BY device_id, type, received_at_ms / 10000",
	/* A dropped event's key goes with it: a retransmission is stored again. */
	[ST_DROP_KEYS] = "DELETE FROM keys WHERE key IN (SELECT vg_key(event_key) FROM events WHERE " DROPPABLE
	                 " AND id <= ?1)",
	[ST_DROP_DELETE] = "DELETE FROM events WHERE " DROPPABLE " AND id <= ?1",
	[ST_QUARANTINE_BYTES] = "SELECT bytes FROM quarantine_usage WHERE id = 0",
	[ST_UNDECLARED_ADD] =
		"UPDATE undeclared SET count = count + ?4, last_ms = ?5"
		" WHERE device_id = ?1 AND type = ?2 AND path = ?3",
	[ST_INTAKE_GET] = "SELECT segment, offset FROM intake_state WHERE id = 0",
	[ST_INTAKE_SET] = "UPDATE intake_state SET segment = ?1, offset = ?2 WHERE id = 0",
	[ST_MOVE_SAVEPOINT] = "SAVEPOINT intake_move",
	[ST_MOVE_RELEASE] = "RELEASE intake_move",
	[ST_MOVE_ROLLBACK] = "ROLLBACK TO intake_move",
	[ST_UNDECLARED_ROWS] = "SELECT count(*) FROM undeclared",
	[ST_UNDECLARED_NEW] =
		"INSERT INTO undeclared(device_id, type, path, count, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
		" ON CONFLICT(device_id, type, path) DO UPDATE SET count = count + excluded.count,"
		" last_ms = excluded.last_ms",
};

/* What one quarantine row counts against quarantine_max_mb: its text and a
 * fixed allowance for the row's integers, its index entry and page overhead
 * (p: "", "new." or "old."). */
#define QROW_BYTES(p) \
	"(coalesce(length(" p "body), 0) + length(" p "device_id) * 2 + length(" p "topic) + length(" p "reason)" \
	" + length(" p "field) + length(" p "detail) + length(" p "digest) + length(" p "event_key) + 64)"

/* Schema version 5.  Each migration takes the schema from version i to i+1;
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
	"CREATE INDEX events_droppable ON events(id) WHERE " DROPPABLE_V2 ";",
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
	/* 3 → 4: capture v2 (intake.h).  intake_state is where the mover of the
	 * intake journal has got to: the segment and the offset in it up to which
	 * every record is in events (or was a duplicate, or suppressed). */
	"CREATE TABLE intake_state ("
	"  id INTEGER PRIMARY KEY CHECK (id = 0),"
	"  segment INTEGER NOT NULL,"
	"  offset INTEGER NOT NULL"
	");"
	"INSERT INTO intake_state(id, segment, offset) VALUES (0, 0, 0);",
	/* 4 → 5: the forward path writes little per event.  events holds the
	 * events not yet forwarded, nothing else, and its rows are written once:
	 * a batch takes them by listing their ids in inflight (no row is
	 * rewritten), and a delivered batch deletes them.  De-duplication moves
	 * to keys, the 16-byte event keys (vg_key) of every event stored,
	 * written once when the event is put and purged by receive time
	 * (keys_received) dedup_retention_h after receipt, never while an event
	 * received before it is still held.  A delivered batch no longer touches
	 * an index of random keys: that was most of the pages it wrote.  keys
	 * also counts the events committed per device for the reconciliation;
	 * forwards counts those forwarded, per second and device.  events.id is
	 * AUTOINCREMENT: it never goes down, also when the table empties (the
	 * metrics read new rows by id). */
	"CREATE TABLE keys ("
	"  key BLOB PRIMARY KEY,"
	"  received_at_ms INTEGER NOT NULL,"
	"  device_id TEXT NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO keys(key, received_at_ms, device_id)"
	"  SELECT vg_key(event_key), received_at_ms, device_id FROM events WHERE true"
	"  ON CONFLICT(key) DO NOTHING;"
	"CREATE INDEX keys_received ON keys(received_at_ms, device_id);"
	"CREATE TABLE forwards ("
	"  at_ms INTEGER NOT NULL,"                 /* the second the batch was delivered */
	"  device_id TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY (at_ms, device_id)"
	");"
	"INSERT INTO forwards(at_ms, device_id, count)"
	"  SELECT forwarded_at_ms / 1000 * 1000, device_id, count(*) FROM events WHERE state = 2"
	"  GROUP BY forwarded_at_ms / 1000, device_id;"
	"CREATE TABLE inflight ("
	"  id INTEGER PRIMARY KEY,"                 /* events.id */
	"  batch_id INTEGER NOT NULL"
	");"
	"INSERT INTO inflight(id, batch_id) SELECT id, batch_id FROM events WHERE state = 1 AND batch_id IS NOT NULL;"
	"CREATE INDEX inflight_batch ON inflight(batch_id);"
	"CREATE TABLE events_v5 ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  event_key TEXT NOT NULL,"
	"  device_id TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  priority INTEGER NOT NULL,"
	"  received_at_ms INTEGER NOT NULL,"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  body TEXT NOT NULL"                     /* the tokenized body */
	");"
	/* The sequence first: the copy below keeps it if it is higher. */
	"INSERT INTO sqlite_sequence(name, seq) SELECT 'events_v5', coalesce(max(id), 0) FROM events;"
	"INSERT INTO events_v5(id, event_key, device_id, type, priority, received_at_ms, flags, body)"
	"  SELECT id, event_key, device_id, type, priority, received_at_ms, flags, body"
	"  FROM events WHERE state IN (0, 1) ORDER BY id;"
	"DROP TABLE events;"
	"ALTER TABLE events_v5 RENAME TO events;"
	"CREATE INDEX events_pending ON events(priority, id);"
	"CREATE INDEX events_droppable ON events(id) WHERE " DROPPABLE_ROWS ";",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(sizeof migrations / sizeof migrations[0] == VG_STORE_SCHEMA,
               "one migration per schema version");

size_t store_key_blob(const char *key, uint8_t out[VG_STORE_KEY_MAX])
{
	/* 22 base64url characters hold 16 bytes and 4 spare bits, which are 0. */
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t len = strlen(key);
	if (len == 22) {
		uint32_t acc = 0;
		int bits = 0;
		size_t n = 0;
		for (size_t i = 0; i < len; i++) {
			const char *p = key[i] ? strchr(alphabet, key[i]) : NULL;
			if (!p)
				goto raw;
			acc = (acc << 6) | (uint32_t)(p - alphabet);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[n++] = (uint8_t)(acc >> bits);
				acc &= (1u << bits) - 1;
			}
		}
		if (acc == 0)
			return n;   /* 16 */
	}
raw:
	/* Not an event key (tests, foreign rows): the text itself, cut. */
	len = len > VG_STORE_KEY_MAX ? VG_STORE_KEY_MAX : len;
	memcpy(out, key, len);
	return len;
}

/* vg_key(text): store_key_blob in SQL (migrations, drop_oldest). */
static void sql_vg_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const char *key = (const char *)sqlite3_value_text(argv[0]);
	if (!key) {
		sqlite3_result_null(ctx);
		return;
	}
	uint8_t blob[VG_STORE_KEY_MAX];
	size_t n = store_key_blob(key, blob);
	sqlite3_result_blob(ctx, blob, (int)n, SQLITE_TRANSIENT);
}

/* SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, so a
 * writer that just missed the lock waits long after it was freed.  The
 * broker thread and the daemon take turns with transactions of a few ms:
 * retry every 100 µs at first, then every ms, until the timeout. */
static int busy_handler(void *ud, int count)
{
	struct vg_store *s = ud;
	int64_t now = vg_mono_ns();
	if (count == 0)
		s->busy_since_ns = now;
	if (now - s->busy_since_ns >= (int64_t)s->busy_timeout_ms * 1000000)
		return 0;
	struct timespec d = { 0, count < 20 ? 100000 : 1000000 };
	nanosleep(&d, NULL);
	return 1;
}

int store_map_rc(int rc)
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

int store_exec(struct vg_store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		vg_log(VG_LOG_ERR, "store", "%s: %s", sql[0] == 'C' ? "migration" : sql,
		       msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
	}
	return store_map_rc(rc);
}

int store_int_query(struct vg_store *s, const char *sql, long long *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return store_map_rc(rc);
}

int store_exec_bound2(struct vg_store *s, const char *sql, long long a, long long b)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VG_OK : store_map_rc(rc);
}

static int migrate(struct vg_store *s, char *err, size_t errsz)
{
	long long version = 0;
	int rc = store_int_query(s, "PRAGMA user_version", &version);
	if (rc)
		goto fail;
	if (version > VG_STORE_SCHEMA) {
		snprintf(err, errsz, "buffer.db has schema version %lld, newer than this venuegw's %d;"
		         " install the newer venuegw again", version, VG_STORE_SCHEMA);
		return VG_ERR_SCHEMA;
	}
	while (version < VG_STORE_SCHEMA) {
		char sql[64];
		if ((rc = store_exec(s, "BEGIN IMMEDIATE")))
			goto fail;
		if ((rc = store_exec(s, migrations[version]))) {
			store_exec(s, "ROLLBACK");
			goto fail;
		}
		snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", version + 1);
		if ((rc = store_exec(s, sql)) || (rc = store_exec(s, "COMMIT"))) {
			store_exec(s, "ROLLBACK");
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
	sqlite3_create_function_v2(s->db, "vg_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
	                           sql_vg_key, NULL, NULL, NULL);
	s->busy_timeout_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : 100;
	sqlite3_busy_handler(s->db, busy_handler, s);

	/* The daemon checkpoints at 8192 pages (32 MiB) rather than SQLite's
	 * 1000: a page of the keys index written by several moves in a row is
	 * then copied into buffer.db once; its timer checkpoints every
	 * checkpoint_interval_ms anyway. */
	char pragmas[320];
	snprintf(pragmas, sizeof pragmas,
	         "PRAGMA synchronous = %s; PRAGMA foreign_keys = OFF; PRAGMA secure_delete = ON;%s",
	         cfg->durability_full ? "FULL" : "NORMAL",
	         cfg->owner ? " PRAGMA journal_size_limit = 67108864; PRAGMA wal_autocheckpoint = 8192;" : " PRAGMA wal_autocheckpoint = 0;");
	if ((rc = store_exec(s, pragmas))) {
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
			rc = store_map_rc(rc);
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

/* An error code of SQLite, not one of its successes. */
static int failed(int code)
{
	code &= 0xff;
	return code != SQLITE_OK && code != SQLITE_ROW && code != SQLITE_DONE;
}

const char *vg_store_errmsg(const struct vg_store *s)
{
	if (!s || !s->db)
		return "no database";
	/* A rollback clears SQLite's error: tell what made the transaction fail. */
	if (!failed(sqlite3_errcode(s->db)) && s->rollback_err[0])
		return s->rollback_err;
	return sqlite3_errmsg(s->db);
}

sqlite3_stmt *store_stmt(struct vg_store *s, enum stmt_id id)
{
	if (!s->stmt[id] &&
	    sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL) != SQLITE_OK) {
		vg_log(VG_LOG_ERR, "store", "prepare: %s", sqlite3_errmsg(s->db));
		return NULL;
	}
	return s->stmt[id];
}

/* Step a prepared statement to completion; reset it either way. */
int store_run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? VG_OK : store_map_rc(rc);
}

int vg_store_begin(struct vg_store *s)
{
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
	s->in_txn = 1;
	s->txn_no++;
	s->rollback_err[0] = '\0';
	if (!s->owner && (rc = vg_store_check_schema(s)) != VG_OK) {
		vg_store_rollback(s);
		return rc;
	}
	return VG_OK;
}

int vg_store_check_schema(struct vg_store *s)
{
	sqlite3_stmt *st = store_stmt(s, ST_USER_VERSION);
	if (!st)
		return VG_ERR_IO;
	int rc = sqlite3_step(st);
	long long version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return store_map_rc(rc);
	return version == VG_STORE_SCHEMA ? VG_OK : VG_ERR_SCHEMA;
}

int vg_store_commit(struct vg_store *s)
{
	int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int err = store_map_rc(rc);
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
	if (failed(sqlite3_errcode(s->db)))
		snprintf(s->rollback_err, sizeof s->rollback_err, "%s", sqlite3_errmsg(s->db));
	if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = 0;
	memset(&s->txn_cap, 0, sizeof s->txn_cap);
}

/* End a write transaction: commit when rc is VG_OK, else roll back and
 * return rc. */
int store_end_txn(struct vg_store *s, int rc)
{
	if (rc) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s);
}

int vg_store_checkpoint(struct vg_store *s)
{
	int log_frames = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		vg_log(VG_LOG_WARN, "store.checkpoint", "checkpoint: %s", sqlite3_errmsg(s->db));
	return rc == SQLITE_BUSY ? VG_OK : store_map_rc(rc);
}

int vg_store_counts(struct vg_store *s, struct vg_store_counts *c)
{
	memset(c, 0, sizeof *c);
	static const char sql[] =
		"SELECT %s,"
		" (SELECT count(*) FROM quarantine WHERE state = 'held'),"
		" (SELECT count(*) FROM quarantine WHERE state = 'metadata'),"
		" (SELECT coalesce(sum(count), 0) FROM quarantine_overflow),";
	sqlite3_stmt *st;
	long long version = 0;
	int rc = store_int_query(s, "PRAGMA user_version", &version);
	if (rc)
		return rc;
	/* A file the daemon has not migrated yet (venuegw status after an upgrade) has no drops. */
	/* Forwarded: the keys of events no longer held (schema 5), or the key rows. */
	char one[sizeof sql + 512];
	char head[sizeof sql + 384];
	snprintf(head, sizeof head, sql, version >= 5 ?
	         "(SELECT count(*) FROM events WHERE id NOT IN (SELECT id FROM inflight)),"
	         " (SELECT count(*) FROM events WHERE id IN (SELECT id FROM inflight)),"
	         " max(0, (SELECT count(*) FROM keys) - (SELECT count(*) FROM events))" :
	         "(SELECT count(*) FROM events WHERE state = 0), (SELECT count(*) FROM events WHERE state = 1),"
	         " (SELECT count(*) FROM events WHERE state = 2)");
	snprintf(one, sizeof one, "%s%s", head, version >= 2 ? " (SELECT coalesce(sum(count), 0) FROM drops)" : " 0");
	rc = sqlite3_prepare_v2(s->db, one, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_map_rc(rc);
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
	return store_map_rc(rc);
}

const char *store_col(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? t : "";
}

int vg_store_checkpoint_truncate(struct vg_store *s, int timeout_ms)
{
	/* Copy what can be copied without blocking anyone first, so the
	 * truncating checkpoint has little left to do under its lock. */
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	int64_t end = vg_mono_ns() + (int64_t)timeout_ms * 1000000;
	/* Each attempt waits for nobody: a truncating checkpoint that waits for a
	 * reader holds the write lock meanwhile, and capture (100 ms at most)
	 * would stop acknowledging.  Between attempts the lock is free. */
	int busy = s->busy_timeout_ms;
	s->busy_timeout_ms = 0;
	for (;;) {
		int log = -1, done = -1;
		int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
		if ((rc == SQLITE_OK && log == 0) || (rc != SQLITE_OK && rc != SQLITE_BUSY) || vg_mono_ns() >= end)
			s->busy_timeout_ms = busy;
		if (rc == SQLITE_OK && log == 0)
			return VG_OK;
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			return store_map_rc(rc);
		if (vg_mono_ns() >= end)
			return VG_ERR_BUSY;
		struct timespec d = { 0, 20000000 };
		nanosleep(&d, NULL);
	}
}

/* ---- metrics and status (the daemon's scanner, `venuegw status`) ---------- */

int vg_store_max_ids(struct vg_store *s, long long *events_max, long long *quarantine_max)
{
	int rc = store_int_query(s, "SELECT coalesce(max(id), 0) FROM events", events_max);
	if (!rc)
		rc = store_int_query(s, "SELECT coalesce(max(id), 0) FROM quarantine", quarantine_max);
	return rc;
}
