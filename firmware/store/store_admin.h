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

/* Counts without personal data, for the support bundle.  cb gets a, b, c
 * (text), n and two times (ms) per row; a non-zero return stops.
 *   EVENTS:     device, type, state, count, oldest and newest receive time
 *   QUARANTINE: device, reason, state (held|metadata), count, oldest, newest
 *   OVERFLOW:   device, reason, "", count, first, last
 *   BATCHES:    batch id, last HTTP status ("" none), attempts, events, created, next attempt
 *   DEVICES:    device_state: device, last_seq ("" none), "<serial epoch>:<seq>", 0, last seen, 0
 *   TOMBSTONES: "", "", "" | "suppressions", count, first, last */
enum vg_store_group {
	VG_STORE_GROUP_EVENTS, VG_STORE_GROUP_QUARANTINE, VG_STORE_GROUP_OVERFLOW,
	VG_STORE_GROUP_BATCHES, VG_STORE_GROUP_DEVICES, VG_STORE_GROUP_TOMBSTONES,
};
typedef int (*vg_store_group_cb)(void *ud, const char *a, const char *b, const char *c, long long n,
                                 int64_t t1, int64_t t2);
int vg_store_group_counts(struct vg_store *s, enum vg_store_group g, vg_store_group_cb cb, void *ud);

#endif
