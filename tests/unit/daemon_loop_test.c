/* Unit tests for firmware/daemon/loop.c: watchers on pipes, timers, and
 * the limit of VG_LOOP_MAX_WATCHES — every added watcher is polled, one
 * more is refused with an error (it was once added and silently never
 * polled). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "err.h"
#include "loop.h"

struct pipe_watch {
	struct vg_watch w;
	struct vg_loop *loop;
	int fds[2];
	int fired;
};

static int fired_total;

static void on_readable(struct vg_watch *w, short revents)
{
	struct pipe_watch *p = vg_container_of(w, struct pipe_watch, w);
	assert_true(revents & POLLIN);
	char c;
	assert_int_equal(read(p->fds[0], &c, 1), 1);
	p->fired++;
	fired_total++;
	vg_loop_stop(p->loop);
}

static void open_pipe(struct pipe_watch *p, struct vg_loop *l)
{
	memset(p, 0, sizeof *p);
	assert_int_equal(pipe(p->fds), 0);
	p->loop = l;
	p->w.cb = on_readable;
}

static void close_pipe(struct pipe_watch *p)
{
	close(p->fds[0]);
	close(p->fds[1]);
}

struct stopper {
	struct vg_timer t;
	struct vg_loop *loop;
	int fired;
};

static void on_timer(struct vg_timer *t)
{
	struct stopper *s = vg_container_of(t, struct stopper, t);
	s->fired++;
	vg_loop_stop(s->loop);
}

static void a_readable_pipe_calls_back(void **state)
{
	(void)state;
	struct vg_loop l;
	memset(&l, 0, sizeof l);
	struct pipe_watch p;
	open_pipe(&p, &l);
	assert_int_equal(vg_loop_watch(&l, &p.w, p.fds[0], POLLIN), VG_OK);
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(vg_loop_run(&l), VG_OK);
	assert_int_equal(p.fired, 1);
	vg_loop_unwatch(&l, &p.w);
	assert_int_equal(l.nwatches, 0);
	close_pipe(&p);
}

static void a_due_timer_fires(void **state)
{
	(void)state;
	struct vg_loop l;
	memset(&l, 0, sizeof l);
	struct stopper s = { .t.cb = on_timer, .loop = &l };
	vg_loop_timer(&l, &s.t, vg_now_ms() + 20);
	int64_t t0 = vg_now_ms();
	assert_int_equal(vg_loop_run(&l), VG_OK);
	assert_int_equal(s.fired, 1);
	assert_true(vg_now_ms() - t0 >= 20);
	assert_false(s.t.armed);
}

/* VG_LOOP_MAX_WATCHES watchers: each one is polled (the first added too, the
 * last in the list); one more is refused; after a removal it fits. */
static void every_watcher_is_polled_and_one_more_is_refused(void **state)
{
	(void)state;
	struct vg_loop l;
	memset(&l, 0, sizeof l);
	static struct pipe_watch p[VG_LOOP_MAX_WATCHES + 1];
	for (int i = 0; i <= VG_LOOP_MAX_WATCHES; i++)
		open_pipe(&p[i], &l);
	for (int i = 0; i < VG_LOOP_MAX_WATCHES; i++)
		assert_int_equal(vg_loop_watch(&l, &p[i].w, p[i].fds[0], POLLIN), VG_OK);
	/* updating an added watcher is no new one */
	assert_int_equal(vg_loop_watch(&l, &p[3].w, p[3].fds[0], POLLIN), VG_OK);
	assert_int_equal(vg_loop_watch(&l, &p[VG_LOOP_MAX_WATCHES].w, p[VG_LOOP_MAX_WATCHES].fds[0], POLLIN),
	                 VG_ERR_RANGE);
	assert_false(p[VG_LOOP_MAX_WATCHES].w.added);
	fired_total = 0;
	for (int i = 0; i < VG_LOOP_MAX_WATCHES; i++) {
		assert_int_equal(write(p[i].fds[1], "x", 1), 1);
		l.stop = 0;
		assert_int_equal(vg_loop_run(&l), VG_OK);
		assert_int_equal(p[i].fired, 1);
	}
	assert_int_equal(fired_total, VG_LOOP_MAX_WATCHES);
	vg_loop_unwatch(&l, &p[0].w);
	assert_int_equal(vg_loop_watch(&l, &p[VG_LOOP_MAX_WATCHES].w, p[VG_LOOP_MAX_WATCHES].fds[0], POLLIN), VG_OK);
	assert_int_equal(write(p[VG_LOOP_MAX_WATCHES].fds[1], "x", 1), 1);
	l.stop = 0;
	assert_int_equal(vg_loop_run(&l), VG_OK);
	assert_int_equal(p[VG_LOOP_MAX_WATCHES].fired, 1);
	for (int i = 0; i <= VG_LOOP_MAX_WATCHES; i++) {
		vg_loop_unwatch(&l, &p[i].w);
		close_pipe(&p[i]);
	}
	assert_int_equal(l.nwatches, 0);
	assert_null(l.watches);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_readable_pipe_calls_back),
		cmocka_unit_test(a_due_timer_fires),
		cmocka_unit_test(every_watcher_is_polled_and_one_more_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
