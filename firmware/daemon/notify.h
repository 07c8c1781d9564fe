/* venuegw daemon — systemd's service protocol (sd_notify(3)).
 *
 * Under Type=notify, systemd waits for READY=1; with WatchdogSec= it expects
 * WATCHDOG=1 at least every WATCHDOG_USEC, which the daemon sends from its
 * poll loop (so a stuck loop gets it restarted); STATUS= is the one-line
 * state `systemctl status` shows; RELOADING=1 and STOPPING=1 frame a SIGHUP
 * and a shutdown.  Without $NOTIFY_SOCKET every call does nothing. */
#ifndef VG_NOTIFY_H
#define VG_NOTIFY_H

#include <stddef.h>

#include "loop.h"

struct vg_notify {
	struct vg_loop *loop;
	struct vg_timer watchdog, status;
	int64_t watchdog_ms;                 /* ping period; 0: no watchdog */
	/* STATUS= text, asked for every few seconds */
	void (*describe)(void *ctx, char *out, size_t outsz);
	void *ctx;
};

/* Start the watchdog pings (if systemd asked for them) and the STATUS
 * updates.  n lives in the caller's struct. */
void vg_notify_start(struct vg_notify *n, struct vg_loop *loop,
                     void (*describe)(void *ctx, char *out, size_t outsz), void *ctx);
void vg_notify_ready(struct vg_notify *n);
void vg_notify_reloading(void);
void vg_notify_stopping(void);
void vg_notify_stop(struct vg_notify *n);

#endif
