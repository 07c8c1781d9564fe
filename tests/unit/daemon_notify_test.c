/* Unit tests for firmware/daemon/notify.c: what reaches $NOTIFY_SOCKET (a
 * datagram socket the test binds, as systemd's) — READY=1 with the status
 * line, WATCHDOG=1 from the loop every half WATCHDOG_USEC when the watchdog
 * is this process's, RELOADING=1, STOPPING=1 — and nothing without it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "container.h"
#include "err.h"
#include "log.h"
#include "loop.h"
#include "notify.h"

struct systemd {
	char dir[40], path[96];
	int fd;
	struct vg_watch w;
	struct vg_timer t;
	struct vg_loop *loop;
	char last[512];
	int watchdogs;
	int timed_out;
};

static int systemd_setup(void **state)
{
	struct systemd *sd = calloc(1, sizeof *sd);
	if (!sd)
		return -1;
	snprintf(sd->dir, sizeof sd->dir, "/tmp/vg_notify_test_XXXXXX");
	if (!mkdtemp(sd->dir))
		return -1;
	snprintf(sd->path, sizeof sd->path, "%s/notify", sd->dir);
	sd->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sd->path);
	if (sd->fd < 0 || bind(sd->fd, (struct sockaddr *)&a, sizeof a) != 0)
		return -1;
	*state = sd;
	return 0;
}

static int systemd_teardown(void **state)
{
	struct systemd *sd = *state;
	close(sd->fd);
	unlink(sd->path);
	rmdir(sd->dir);
	free(sd);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
}

/* The next datagram, or "" when none is waiting. */
static const char *next(struct systemd *sd)
{
	ssize_t n = recv(sd->fd, sd->last, sizeof sd->last - 1, 0);
	sd->last[n > 0 ? n : 0] = '\0';
	return sd->last;
}

static void describe(void *ctx, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", (const char *)ctx);
}

static void on_datagram(struct vg_watch *w, short revents)
{
	(void)revents;
	struct systemd *sd = vg_container_of(w, struct systemd, w);
	while (next(sd)[0]) {
		if (strcmp(sd->last, "WATCHDOG=1") == 0)
			sd->watchdogs++;
		else
			fail_msg("unexpected: %s", sd->last);
	}
	if (sd->watchdogs >= 3)
		vg_loop_stop(sd->loop);
}

static void on_timeout(struct vg_timer *t)
{
	struct systemd *sd = vg_container_of(t, struct systemd, t);
	sd->timed_out = 1;
	vg_loop_stop(sd->loop);
}

static void with_the_watchdog(void **state)
{
	struct systemd *sd = *state;
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	setenv("NOTIFY_SOCKET", sd->path, 1);
	setenv("WATCHDOG_USEC", "20000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	struct vg_loop loop;
	memset(&loop, 0, sizeof loop);
	struct vg_notify n;
	memset(&n, 0, sizeof n);
	vg_notify_start(&n, &loop, describe, "3 ports, 12 events pending");
	assert_int_equal(n.watchdog_ms, 10);      /* twice per WATCHDOG_USEC */
	assert_true(n.watchdog.armed);
	assert_true(n.status.armed);

	vg_notify_ready(&n);
	assert_string_equal(next(sd), "READY=1\nSTATUS=3 ports, 12 events pending");
	assert_string_equal(next(sd), "WATCHDOG=1");
	assert_string_equal(next(sd), "");

	/* The loop pings on its own. */
	sd->loop = &loop;
	sd->w.cb = on_datagram;
	sd->t.cb = on_timeout;
	assert_int_equal(vg_loop_watch(&loop, &sd->w, sd->fd, POLLIN), VG_OK);
	vg_loop_timer(&loop, &sd->t, vg_now_ms() + 5000);
	int64_t t0 = vg_now_ms();
	assert_int_equal(vg_loop_run(&loop), VG_OK);
	assert_false(sd->timed_out);
	assert_true(vg_now_ms() - t0 >= 20);     /* three pings, 10 ms apart at least */
	vg_loop_cancel(&loop, &sd->t);
	vg_loop_unwatch(&loop, &sd->w);

	vg_notify_reloading();
	assert_string_equal(next(sd), "RELOADING=1\nSTATUS=reloading the configuration");
	vg_notify_stopping();
	assert_string_equal(next(sd), "STOPPING=1\nSTATUS=stopping: committing and closing buffer.db");
	vg_notify_stop(&n);
	assert_false(n.watchdog.armed);
	assert_false(n.status.armed);
	assert_null(loop.timers);
}

/* A watchdog meant for another process (WATCHDOG_PID) is not ours to ping. */
static void a_watchdog_for_another_process(void **state)
{
	struct systemd *sd = *state;
	setenv("NOTIFY_SOCKET", sd->path, 1);
	setenv("WATCHDOG_USEC", "20000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	struct vg_loop loop;
	memset(&loop, 0, sizeof loop);
	struct vg_notify n;
	memset(&n, 0, sizeof n);
	vg_notify_start(&n, &loop, describe, "up");
	assert_int_equal(n.watchdog_ms, 0);
	assert_false(n.watchdog.armed);
	vg_notify_ready(&n);
	assert_string_equal(next(sd), "READY=1\nSTATUS=up");
	assert_string_equal(next(sd), "");
	vg_notify_stop(&n);
}

/* Not under systemd: no timers, nothing sent. */
static void without_systemd(void **state)
{
	struct systemd *sd = *state;
	unsetenv("NOTIFY_SOCKET");
	struct vg_loop loop;
	memset(&loop, 0, sizeof loop);
	struct vg_notify n;
	memset(&n, 0, sizeof n);
	vg_notify_start(&n, &loop, describe, "up");
	assert_null(loop.timers);
	vg_notify_ready(&n);
	vg_notify_reloading();
	vg_notify_stopping();
	assert_string_equal(next(sd), "");
	vg_notify_stop(&n);
}

int main(void)
{
	vg_log_threshold = VG_LOG_WARN;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(with_the_watchdog, systemd_setup, systemd_teardown),
		cmocka_unit_test_setup_teardown(a_watchdog_for_another_process, systemd_setup, systemd_teardown),
		cmocka_unit_test_setup_teardown(without_systemd, systemd_setup, systemd_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
