#include "notify.h"

#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-daemon.h>

#include "container.h"
#include "log.h"

#define STATUS_PERIOD_MS 5000

static void send_status(struct vg_notify *n)
{
	char text[400];
	n->describe(n->ctx, text, sizeof text);
	sd_notifyf(0, "STATUS=%s", text);
}

static void on_watchdog(struct vg_timer *t)
{
	struct vg_notify *n = vg_container_of(t, struct vg_notify, watchdog);
	sd_notify(0, "WATCHDOG=1");
	vg_loop_timer(n->loop, t, vg_now_ms() + n->watchdog_ms);
}

static void on_status(struct vg_timer *t)
{
	struct vg_notify *n = vg_container_of(t, struct vg_notify, status);
	send_status(n);
	vg_loop_timer(n->loop, t, vg_now_ms() + STATUS_PERIOD_MS);
}

void vg_notify_start(struct vg_notify *n, struct vg_loop *loop,
                     void (*describe)(void *ctx, char *out, size_t outsz), void *ctx)
{
	n->loop = loop;
	n->describe = describe;
	n->ctx = ctx;
	n->watchdog.cb = on_watchdog;
	n->status.cb = on_status;
	if (!getenv("NOTIFY_SOCKET"))
		return;
	uint64_t usec = 0;
	/* Only for this process (WATCHDOG_PID, when set, must be ours). */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		/* Twice per period, as sd_watchdog_enabled(3) advises. */
		n->watchdog_ms = (int64_t)(usec / 2000);
		if (n->watchdog_ms < 1)
			n->watchdog_ms = 1;
		vg_log(VG_LOG_INFO, "run", "systemd watchdog: a ping every %lld ms", (long long)n->watchdog_ms);
		vg_loop_timer(loop, &n->watchdog, vg_now_ms() + n->watchdog_ms);
	}
	vg_loop_timer(loop, &n->status, vg_now_ms() + STATUS_PERIOD_MS);
}

void vg_notify_ready(struct vg_notify *n)
{
	if (!getenv("NOTIFY_SOCKET"))
		return;
	char text[400];
	n->describe(n->ctx, text, sizeof text);
	sd_notifyf(0, "READY=1\nSTATUS=%s", text);
	if (n->watchdog_ms)
		sd_notify(0, "WATCHDOG=1");
}

void vg_notify_reloading(void)
{
	sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

void vg_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: committing and closing buffer.db");
}

void vg_notify_stop(struct vg_notify *n)
{
	if (!n->loop)
		return;
	vg_loop_cancel(n->loop, &n->watchdog);
	vg_loop_cancel(n->loop, &n->status);
}
