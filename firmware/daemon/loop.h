/* venuegw daemon — the event loop: one thread, poll(2), monotonic time.
 *
 * Watchers and timers live in the caller's structs; the loop never
 * allocates (after libubox's uloop), so it watches at most
 * VG_LOOP_MAX_WATCHES descriptors and refuses one more.  The poll timeout is
 * the earliest armed timer. */
#ifndef VG_LOOP_H
#define VG_LOOP_H

#include <stdint.h>

#include "clock.h"
#include "err.h"

#define VG_LOOP_MAX_WATCHES 64

struct vg_loop;

struct vg_watch {
	int fd;
	short events;                 /* POLLIN | POLLOUT */
	void (*cb)(struct vg_watch *w, short revents);
	struct vg_watch *next;        /* owned by the loop while added */
	int added;
};

struct vg_timer {
	int64_t at_ms;                /* monotonic */
	void (*cb)(struct vg_timer *t);
	struct vg_timer *next;
	int armed;
};

struct vg_loop {
	struct vg_watch *watches;
	struct vg_timer *timers;
	unsigned nwatches;            /* watchers added */
	unsigned removals;            /* bumped by vg_loop_unwatch */
	int stop;
};

/* Add or update a watcher (fd, events; fd < 0 or no events: not polled).
 * VG_OK, or VG_ERR_RANGE when w is new and VG_LOOP_MAX_WATCHES watchers are
 * added already (w is not added). */
enum vg_err vg_loop_watch(struct vg_loop *l, struct vg_watch *w, int fd, short events);
/* Remove w (nothing when it is not added). */
void vg_loop_unwatch(struct vg_loop *l, struct vg_watch *w);

/* Arm t to fire at monotonic at_ms (re-arming moves it); cancel it. */
void vg_loop_timer(struct vg_loop *l, struct vg_timer *t, int64_t at_ms);
void vg_loop_cancel(struct vg_loop *l, struct vg_timer *t);

/* Run until vg_loop_stop().  VG_OK, or VG_ERR_IO if poll failed (errno
 * says why; logged). */
enum vg_err vg_loop_run(struct vg_loop *l);
void vg_loop_stop(struct vg_loop *l);

#endif
