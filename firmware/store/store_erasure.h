/* venuegw — buffer.db for erasure (DESIGN.md §3 promise 6, §6): `venuegw
 * forget` and check-config's suppression check.  Capture's side, the
 * suppression check at commit, is vg_store_suppressed (store_capture.h). */
#ifndef VG_STORE_ERASURE_H
#define VG_STORE_ERASURE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Erasure works in short steps so capture never waits on it (§6): first
 * vg_store_suppress() (capture suppresses the person from its commit on),
 * then vg_store_erase_slice() over each table by row id, then
 * vg_store_tombstone() with the CDP's notice.  Rows committed after the suppression cannot be the
 * person's, so the ids up to vg_store_max_ids() read after it are all there
 * is to scan. */

/* In its own tiny transaction: suppress tokens[0..n) at capture (stored as
 * digests, never the tokens).  key_versions lists the key versions the tokens
 * were computed under, as ",1,2," (copied; NULL: unknown), so check-config can
 * tell when a version suppressions rely on left the key file.  VG_OK or an
 * error (nothing suppressed). */
int vg_store_suppress(struct vg_store *s, const char *const *tokens, size_t n, const char *key_versions,
                      int64_t now_ms);

enum vg_store_table { VG_STORE_TABLE_EVENTS, VG_STORE_TABLE_QUARANTINE };
#define VG_STORE_ERASE_MATCH_MAX 32    /* needles per call */
#define VG_STORE_ERASE_SLICE_MAX 4096  /* rows deleted per call at most: keep slices smaller */

/* Erase one slice: the rows of table with after_id < id <= to_id whose body
 * holds any of match[0..nmatch) (events: pending or in a batch; forwarded
 * ones keep no body).  They are found by a read that takes no write lock,
 * then deleted in one short write transaction that matches again.  A slice
 * should hold at most VG_STORE_ERASE_SLICE_MAX rows (more matching rows are
 * left for the next pass).  *scanned and *deleted count rows.  VG_OK or an
 * error (then nothing of this slice was deleted).  match is borrowed. */
int vg_store_erase_slice(struct vg_store *s, enum vg_store_table table, const char *const *match,
                         size_t nmatch, long long after_id, long long to_id, long long *scanned,
                         long long *deleted);

/* The last step of an erasure, in its own short transaction: the tombstone (a
 * digest, the time, rows purged — no personal data) and, unless notice is
 * NULL, the erasure.requested event for the CDP (the gateway's own event:
 * never refused at the disk cap; a notice whose key is already stored counts
 * as queued).  VG_OK with both stored, or an error with neither. */
int vg_store_tombstone(struct vg_store *s, const char *digest, int64_t now_ms, long long rows,
                       const struct vg_store_event *notice);

/* The suppressions grouped by the key versions they cover (",1,2,"; "" for
 * rows written before versions were recorded): the list, how many rows, the
 * oldest's time.  A non-zero return from cb stops.  VG_OK (nothing through
 * cb for a file of schema < 3) or an error. */
typedef int (*vg_store_versions_cb)(void *ud, const char *key_versions, long long count, int64_t first_ms);
int vg_store_suppression_versions(struct vg_store *s, vg_store_versions_cb cb, void *ud);

/* In its own transaction: end suppressions for tokens[0..n).  *lifted gets how
 * many were removed (0 on an error: then none was).  VG_OK or an error. */
int vg_store_lift(struct vg_store *s, const char *const *tokens, size_t n, long long *lifted);

#endif
