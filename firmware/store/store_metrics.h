/* venuegw — buffer.db for the daemon's metrics and `venuegw status`: reads
 * only, with no schema of their own. */
#ifndef VG_STORE_METRICS_H
#define VG_STORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Bytes of the pages in use (page count less the free list, times the page size). */
int vg_store_used_bytes(struct vg_store *s, long long *used);

/* Events dropped at the cap, rows after after_id, per device and type through cb;
 * *last_id = the highest row read (after_id when none).  VG_OK or an error. */
typedef void (*vg_store_drops_cb)(void *ud, const char *device_id, const char *type, long long n);
int vg_store_drops_after(struct vg_store *s, long long after_id, vg_store_drops_cb cb, void *ud,
                         long long *last_id);

/* Every undeclared count, by device, type and path, through cb (borrowed for
 * the call; a non-zero return stops).  Nothing on a file not yet migrated. */
typedef int (*vg_store_undeclared_cb)(void *ud, const char *device_id, const char *type, const char *path,
                                      long long count, int64_t last_ms);
int vg_store_undeclared_each(struct vg_store *s, vg_store_undeclared_cb cb, void *ud);

/* One event row for the daemon's metrics, borrowed for the callback. */
struct vg_store_new_event {
	long long id;
	const char *device_id;
	const char *type;
	int64_t received_at_ms;
	int has_seq;             /* the event carried an integer seq */
	long long seq;
	int identified;          /* 1: a person identifier; 0: none; -1: unknown (body gone: forwarded) */
};
typedef int (*vg_store_new_event_cb)(void *ud, const struct vg_store_new_event *e);
/* Up to limit events with id > after_id, in id order; a non-zero return stops. */
int vg_store_events_after(struct vg_store *s, long long after_id, int limit, vg_store_new_event_cb cb, void *ud);

typedef int (*vg_store_new_quarantine_cb)(void *ud, long long id, const char *device_id, const char *reason,
                                          int64_t received_at_ms);
/* Up to limit quarantine rows with id > after_id, in id order. */
int vg_store_quarantine_after(struct vg_store *s, long long after_id, int limit,
                              vg_store_new_quarantine_cb cb, void *ud);

typedef int (*vg_store_overflow_cb)(void *ud, const char *device_id, const char *reason, long long count);
/* The flood counters (quarantine_overflow), per device and reason. */
int vg_store_overflow_each(struct vg_store *s, vg_store_overflow_cb cb, void *ud);

/* The receive time of the oldest event not yet forwarded (pending or in a
 * batch), 0 when there is none.  Index look-ups only. */
int vg_store_oldest_unforwarded(struct vg_store *s, int64_t *oldest_ms);

typedef int (*vg_store_device_cb)(void *ud, const char *device_id, int64_t last_seen_ms, long long events);
/* Per device, among the events stored (held, or forwarded and their key still
 * kept) received in [from_ms, to_ms): the latest receive time and how many
 * there are (device_id order).  A range scan of an index: callers that must
 * stay responsive walk it in slices. */
int vg_store_devices(struct vg_store *s, int64_t from_ms, int64_t to_ms, vg_store_device_cb cb, void *ud);

/* The same for the latest limit events received before before_ms; *next_ms
 * is the receive time to continue before (0: no event was left).  Events
 * received in the same millisecond as the slice's oldest but not in it are
 * passed over. */
int vg_store_devices_before(struct vg_store *s, int64_t before_ms, int limit, vg_store_device_cb cb, void *ud,
                            int64_t *next_ms);

#endif
