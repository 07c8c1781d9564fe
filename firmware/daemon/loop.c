#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "log.h"

enum vg_err vg_loop_watch(struct vg_loop *l, struct vg_watch *w, int fd, short events)
{
	if (!w->added) {
		if (l->nwatches >= VG_LOOP_MAX_WATCHES) {
			vg_log(VG_LOG_ERR, "loop", "cannot watch descriptor %d: %d are watched already", fd,
			       VG_LOOP_MAX_WATCHES);
			return VG_ERR_RANGE;
		}
		w->next = l->watches;
		l->watches = w;
		w->added = 1;
		l->nwatches++;
	}
	w->fd = fd;
	w->events = events;
	return VG_OK;
}

void vg_loop_unwatch(struct vg_loop *l, struct vg_watch *w)
{
	if (!w->added)
		return;
	for (struct vg_watch **p = &l->watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	w->added = 0;
	w->next = NULL;
	l->nwatches--;
	l->removals++;
}

static int present(const struct vg_loop *l, const struct vg_watch *w)
{
	for (const struct vg_watch *p = l->watches; p; p = p->next)
		if (p == w)
			return 1;
	return 0;
}

void vg_loop_cancel(struct vg_loop *l, struct vg_timer *t)
{
	if (!t->armed)
		return;
	for (struct vg_timer **p = &l->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	t->armed = 0;
	t->next = NULL;
}

void vg_loop_timer(struct vg_loop *l, struct vg_timer *t, int64_t at_ms)
{
	vg_loop_cancel(l, t);
	t->at_ms = at_ms;
	t->next = l->timers;
	l->timers = t;
	t->armed = 1;
}

void vg_loop_stop(struct vg_loop *l)
{
	l->stop = 1;
}

enum vg_err vg_loop_run(struct vg_loop *l)
{
	struct pollfd pfd[VG_LOOP_MAX_WATCHES];
	struct vg_watch *who[VG_LOOP_MAX_WATCHES];
	while (!l->stop) {
		int64_t now = vg_now_ms();
		int64_t next = now + 60000;
		for (struct vg_timer *t = l->timers; t; t = t->next)
			if (t->at_ms < next)
				next = t->at_ms;
		int n = 0;
		for (struct vg_watch *w = l->watches; w && n < VG_LOOP_MAX_WATCHES; w = w->next) {
			if (w->fd < 0 || !w->events)
				continue;
			pfd[n].fd = w->fd;
			pfd[n].events = w->events;
			pfd[n].revents = 0;
			who[n++] = w;
		}
		int timeout = next > now ? (int)(next - now) : 0;
		int r = poll(pfd, (nfds_t)n, timeout);
		if (r < 0 && errno != EINTR) {
			int e = errno;
			vg_log(VG_LOG_ERR, "loop", "poll: %s", strerror(e));
			errno = e;
			return VG_ERR_IO;
		}
		unsigned removals = l->removals;
		for (int i = 0; r > 0 && i < n && !l->stop; i++) {
			if (!pfd[i].revents)
				continue;
			/* A callback may have removed (and its owner freed) a watcher:
			 * after any removal, check by address before touching one. */
			if (l->removals != removals && !present(l, who[i]))
				continue;
			if (who[i]->fd == pfd[i].fd)
				who[i]->cb(who[i], pfd[i].revents);
		}
		now = vg_now_ms();
		/* Fire due timers one at a time: callbacks may re-arm or cancel any. */
		for (int fired = 1; fired && !l->stop;) {
			fired = 0;
			for (struct vg_timer *t = l->timers; t; t = t->next) {
				if (t->at_ms <= now) {
					vg_loop_cancel(l, t);
					t->cb(t);
					fired = 1;
					break;
				}
			}
		}
	}
	return VG_OK;
}
