-- buffer.db's schema 4 as venuegw 34a5119 (schema 3) created it plus migration 3 -> 4: the
-- starting point of store_test's migration test (sqlite3 buffer.db .schema).
CREATE TABLE events (  id INTEGER PRIMARY KEY,  event_key TEXT NOT NULL UNIQUE,  device_id TEXT NOT NULL,  type TEXT NOT NULL,  priority INTEGER NOT NULL,  state INTEGER NOT NULL DEFAULT 0,  received_at_ms INTEGER NOT NULL,  flags INTEGER NOT NULL DEFAULT 0,  batch_id INTEGER,  forwarded_at_ms INTEGER,  body TEXT);
CREATE INDEX events_pending ON events(priority, id) WHERE state = 0;
CREATE INDEX events_pending_age ON events(id) WHERE state = 0;
CREATE INDEX events_batch ON events(batch_id) WHERE state = 1;
CREATE INDEX events_forwarded ON events(forwarded_at_ms) WHERE state = 2;
CREATE TABLE batches (  id INTEGER PRIMARY KEY,  idempotency_key TEXT,  created_at_ms INTEGER NOT NULL,  attempts INTEGER NOT NULL DEFAULT 0,  next_attempt_ms INTEGER NOT NULL DEFAULT 0,  last_status INTEGER,  last_error TEXT);
CREATE TABLE quarantine (  id INTEGER PRIMARY KEY,  received_at_ms INTEGER NOT NULL,  device_id TEXT NOT NULL,  topic TEXT NOT NULL,  size INTEGER NOT NULL,  reason TEXT NOT NULL,  field TEXT NOT NULL,  detail TEXT NOT NULL,  error_offset INTEGER NOT NULL,  digest TEXT NOT NULL,  event_key TEXT NOT NULL,  state TEXT NOT NULL,  body TEXT);
CREATE INDEX quarantine_device ON quarantine(device_id, received_at_ms);
CREATE TABLE quarantine_overflow (  device_id TEXT NOT NULL,  reason TEXT NOT NULL,  count INTEGER NOT NULL,  first_ms INTEGER NOT NULL,  last_ms INTEGER NOT NULL,  PRIMARY KEY (device_id, reason));
CREATE TABLE device_state (  device_id TEXT PRIMARY KEY,  last_seq INTEGER,  last_seen_ms INTEGER,  serial_epoch INTEGER NOT NULL DEFAULT 0,  serial_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE tombstones (  id INTEGER PRIMARY KEY,  digest TEXT NOT NULL,  created_at_ms INTEGER NOT NULL,  rows_purged INTEGER NOT NULL);
CREATE TABLE suppressions (  token TEXT PRIMARY KEY,  created_at_ms INTEGER NOT NULL, key_versions TEXT NOT NULL DEFAULT '');
CREATE TABLE drops (  id INTEGER PRIMARY KEY AUTOINCREMENT,  device_id TEXT NOT NULL,  type TEXT NOT NULL,  received_at_ms INTEGER NOT NULL,  dropped_at_ms INTEGER NOT NULL,  count INTEGER NOT NULL);
CREATE INDEX drops_dropped ON drops(dropped_at_ms);
CREATE INDEX drops_received ON drops(received_at_ms);
CREATE INDEX events_droppable ON events(id) WHERE state = 0 AND priority > 0 AND device_id <> '_gateway';
CREATE TABLE quarantine_usage (  id INTEGER PRIMARY KEY CHECK (id = 0),  bytes INTEGER NOT NULL);
CREATE TRIGGER quarantine_usage_insert AFTER INSERT ON quarantine BEGIN  UPDATE quarantine_usage SET bytes = bytes + (coalesce(length(new.body), 0) + length(new.device_id) * 2 + length(new.topic) + length(new.reason) + length(new.field) + length(new.detail) + length(new.digest) + length(new.event_key) + 64) WHERE id = 0; END;
CREATE TRIGGER quarantine_usage_delete AFTER DELETE ON quarantine BEGIN  UPDATE quarantine_usage SET bytes = bytes - (coalesce(length(old.body), 0) + length(old.device_id) * 2 + length(old.topic) + length(old.reason) + length(old.field) + length(old.detail) + length(old.digest) + length(old.event_key) + 64) WHERE id = 0; END;
CREATE TRIGGER quarantine_usage_update AFTER UPDATE ON quarantine BEGIN  UPDATE quarantine_usage SET bytes = bytes + (coalesce(length(new.body), 0) + length(new.device_id) * 2 + length(new.topic) + length(new.reason) + length(new.field) + length(new.detail) + length(new.digest) + length(new.event_key) + 64) - (coalesce(length(old.body), 0) + length(old.device_id) * 2 + length(old.topic) + length(old.reason) + length(old.field) + length(old.detail) + length(old.digest) + length(old.event_key) + 64) WHERE id = 0; END;
CREATE TABLE undeclared (  device_id TEXT NOT NULL,  type TEXT NOT NULL,  path TEXT NOT NULL,  count INTEGER NOT NULL,  first_ms INTEGER NOT NULL,  last_ms INTEGER NOT NULL,  PRIMARY KEY (device_id, type, path));
CREATE TABLE intake_state (  id INTEGER PRIMARY KEY CHECK (id = 0),  segment INTEGER NOT NULL,  offset INTEGER NOT NULL);
