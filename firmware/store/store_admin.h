/* venuegw — buffer.db for the verbs that show and repair it: `venuegw
 * quarantine` (show, retry), `venuegw diag` (the support bundle), `venuegw
 * device` (device_state).  Reads, and the retry's writes. */
#ifndef VG_STORE_ADMIN_H
#define VG_STORE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Walk the quarantine, newest first, at most limit rows.  cb gets each row
 * (borrowed for the call); a non-zero return stops the walk. */
typedef int (*vg_store_quarantine_cb)(void *ud, long long id, const struct vg_store_quarantine *q,
                                      const char *state);
int vg_store_quarantine_each(struct vg_store *s, int limit, vg_store_quarantine_cb cb, void *ud);

/* ---- quarantine show and retry, diag (reads, and the retry's writes) ------ */

/* Which quarantine rows vg_store_quarantine_select() walks.  NULL strings
 * match anything. */
struct vg_store_quarantine_filter {
	const char *reason;
	const char *device_id;
	const char *state;       /* "held" | "metadata" */
	long long after_id;      /* only rows with a larger id (0: all) */
	int limit;               /* at most this many rows; <= 0: no limit */
	int oldest_first;        /* 1: id order; 0: newest first */
};
/* Rows as for vg_store_quarantine_each (borrowed for the call; a non-zero
 * return from cb stops the walk).  VG_OK or an error. */
int vg_store_quarantine_select(struct vg_store *s, const struct vg_store_quarantine_filter *f,
                               vg_store_quarantine_cb cb, void *ud);

/* The row id through cb: VG_OK, VG_ERR_NOTFOUND, or an error.  Inside a
 * transaction too (the retry reads the row it then changes). */
int vg_store_quarantine_get(struct vg_store *s, long long id, vg_store_quarantine_cb cb, void *ud);

/* Inside a transaction: delete row id (a retried entry that was stored as an
 * event, was a duplicate, or belongs to a forgotten person).  VG_OK,
 * VG_ERR_NOTFOUND or an error. */
int vg_store_quarantine_remove(struct vg_store *s, long long id);

/* Inside a transaction: a retried entry rejected again keeps its row and
 * body, with the new reason.  VG_OK, VG_ERR_NOTFOUND or an error. */
int vg_store_quarantine_set_reason(struct vg_store *s, long long id, const char *reason, const char *field,
                                   const char *detail, long error_offset);

/* The SQLite library's version (static storage). */
const char *vg_store_sqlite_version(void);

struct vg_store_file_stats {
	long long page_size, page_count, freelist_count, schema_version;
	char journal_mode[16];
};
int vg_store_file_stats(struct vg_store *s, struct vg_store_file_stats *fs);

/* PRAGMA quick_check: "ok", or up to 20 problems, one a line, into out.
 * Reads the whole file.  VG_OK (whatever it found) or an error. */
int vg_store_quick_check(struct vg_store *s, char *out, size_t outsz);

/* Counts without personal data, for the support bundle, one group at a time. */
enum vg_store_group {
	VG_STORE_GROUP_EVENTS, VG_STORE_GROUP_QUARANTINE, VG_STORE_GROUP_OVERFLOW,
	VG_STORE_GROUP_BATCHES, VG_STORE_GROUP_DEVICES, VG_STORE_GROUP_TOMBSTONES,
};

/* One row of a group: the member named after the group is set (row.group says
 * which).  Strings are borrowed for the callback, "" for none; times are ms,
 * 0 for none. */
struct vg_store_group_row {
	enum vg_store_group group;
	union {
		struct {                  /* EVENTS: per device, type and state */
			const char *device_id, *type;
			const char *state;    /* "pending" | "inflight" | "forwarded" | "unknown" */
			long long count;
			int64_t oldest_ms, newest_ms;   /* receive times */
		} events;
		struct {                  /* QUARANTINE: per device, reason and state */
			const char *device_id, *reason;
			const char *state;    /* "held" | "metadata" */
			long long count;
			int64_t oldest_ms, newest_ms;   /* receive times */
		} quarantine;
		struct {                  /* OVERFLOW: the flood counters, per device and reason */
			const char *device_id, *reason;
			long long count;
			int64_t first_ms, last_ms;
		} overflow;
		struct {                  /* BATCHES: one unfinished batch */
			long long id;
			int has_status;       /* an attempt recorded an HTTP status (0: network error or none yet) */
			int last_status;
			long long attempts, events;
			int64_t created_ms, next_attempt_ms;
		} batch;
		struct {                  /* DEVICES: one device_state row */
			const char *device_id;
			int has_last_seq;
			long long last_seq;
			long long serial_epoch, serial_seq;
			int64_t last_seen_ms;
		} device;
		struct {                  /* TOMBSTONES: one row for the whole file */
			long long tombstones;
			int64_t first_ms, last_ms;      /* the tombstones' times */
			long long suppressions;
		} erasure;
	};
};
/* A non-zero return stops the walk. */
typedef int (*vg_store_group_cb)(void *ud, const struct vg_store_group_row *row);
/* The rows of group g through cb, in a stable order (device, type or reason,
 * state; batches and tombstones by id).  VG_OK, VG_ERR_INVAL (no such group)
 * or an error. */
int vg_store_group_counts(struct vg_store *s, enum vg_store_group g, vg_store_group_cb cb, void *ud);

#endif
