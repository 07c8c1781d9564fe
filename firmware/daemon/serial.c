#include "serial.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "buf.h"
#include "capture.h"
#include "container.h"
#include "contract.h"
#include "digest.h"
#include "driver.h"
#include "err.h"
#include "event.h"
#include "ingest.h"
#include "keys.h"
#include "log.h"
#include "pii.h"
#include "store_capture.h"

#define READ_CHUNK 4096
#define REOPEN_MIN_MS 200
#define REOPEN_MAX_MS 5000

struct vg_serial;

struct port {
	struct vg_serial *s;
	const struct vg_port_cfg *cfg;
	const struct vg_driver *drv;
	void *dstate;
	int fd;
	struct termios saved;
	int have_saved;
	struct vg_driver_sink sink;   /* frames and replies of this port's driver */
	struct vg_watch w;
	struct vg_timer reopen, dtick;
	int backoff_ms;
	const char *state;            /* "open", "waiting", "error" */
	char why[160];
	long long epoch, seq;         /* the committed counter */
	long long next_seq;           /* handed to pending events */
	int have_counter;
	unsigned long long frames, bad, committed;
};

/* An event or bad frame waiting for the group commit. */
struct pending {
	struct port *p;
	uint32_t token;
	int bad;                      /* a BAD frame: quarantine metadata only */
	char reason[24];
	char detail[128];
	size_t size;
	long long seq;
	int64_t received_ms;
	struct vg_ingest_out out;
};

struct vg_serial {
	struct vg_loop *loop;
	const struct vg_config *cfg;
	const struct vg_plan *plan;    /* borrowed from the daemon */
	long long dropped_logged;      /* events dropped at the disk cap, as last logged */
	struct vg_store *store;       /* a capture connection: durability as configured */
	struct vg_keyring keys;
	struct vg_capture *capture;   /* keys, suppression, the put, the quarantine's limits */
	struct port ports[VG_MAX_PORTS];
	int nports;
	struct pending *pend;
	size_t npend, cap;
	struct vg_timer commit_timer;
	int clock_synced;
	int64_t clock_checked_ms;
	struct port *feeding;         /* the port whose driver is calling back */
};

static void commit_pending(struct vg_serial *s);

/* ---- driver options ------------------------------------------------------- */

static int init_driver(const struct vg_port_cfg *pc, const struct vg_driver **drv, void **state,
                       const char *file, char *err, size_t errsz)
{
	*drv = vg_driver_find(pc->driver);
	*state = NULL;
	if (!*drv) {
		snprintf(err, errsz, "%s:%d: [serial.%s] driver: no driver '%s'", file, pc->line, pc->name, pc->driver);
		return VG_ERR_CONFIG;
	}
	struct vg_driver_opt opts[VG_PORT_MAX_OPTS];
	for (int i = 0; i < pc->nopts; i++) {
		opts[i].key = pc->opts[i].key;
		opts[i].value = pc->opts[i].value;
	}
	*state = calloc(1, (*drv)->state_size ? (*drv)->state_size : 1);
	if (!*state) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	char why[256] = "";
	int rc = (*drv)->init(*state, opts, (size_t)pc->nopts, why, sizeof why);
	if (rc != VG_OK) {
		/* Name the line of the option the driver complains about, when we can. */
		int line = pc->line;
		for (int i = 0; i < pc->nopts; i++)
			if (strncmp(why, pc->opts[i].key, strlen(pc->opts[i].key)) == 0)
				line = pc->opts[i].line;
		snprintf(err, errsz, "%s:%d: [%s.%s] %s", file, line, pc->hid ? "hid" : "serial", pc->name, why);
		if ((*drv)->fini)
			(*drv)->fini(*state);
		free(*state);
		*state = NULL;
		return VG_ERR_CONFIG;
	}
	return VG_OK;
}

int vg_serial_check(const struct vg_config *cfg, char *err, size_t errsz)
{
	for (int i = 0; i < cfg->nports; i++) {
		const struct vg_driver *drv;
		void *st;
		int rc = init_driver(&cfg->ports[i], &drv, &st, cfg->path, err, errsz);
		if (rc)
			return rc;
		if (drv->fini)
			drv->fini(st);
		free(st);
	}
	return VG_OK;
}

/* ---- frames from drivers -------------------------------------------------- */

static struct pending *new_pending(struct vg_serial *s)
{
	if (vg_array_reserve((void **)&s->pend, &s->cap, s->npend + 1, sizeof *s->pend))
		return NULL;
	struct pending *pe = &s->pend[s->npend];
	memset(pe, 0, sizeof *pe);
	return pe;
}

static void sink_send(void *ud, const uint8_t *bytes, size_t n)
{
	struct port *p = ud;
	if (p->fd < 0 || p->cfg->hid)
		return;
	ssize_t w = write(p->fd, bytes, n);
	if (w < 0 && errno != EAGAIN)
		vg_log(VG_LOG_WARN, "serial.write", "port %s: write: %s", p->cfg->name, strerror(errno));
}

/* The driver's JSON, with occurred_at = the receive time when it has none
 * (scanners and most terminals carry no clock).  ndjson lines are the
 * device's own events: they are taken as sent. */
static char *with_time(const struct port *p, const char *json, size_t len, int64_t now, size_t *outlen)
{
	if (strcmp(p->drv->name, "ndjson") == 0)
		return NULL;
	cJSON *ev = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(ev) || cJSON_GetObjectItemCaseSensitive(ev, "occurred_at")) {
		vg_json_wipe_delete(ev);
		return NULL;
	}
	char at[25];
	vg_time_format(now, at);
	char *text = NULL;
	if (cJSON_AddStringToObject(ev, "occurred_at", at))
		text = cJSON_PrintUnformatted(ev);
	vg_json_wipe_delete(ev);
	if (text)
		*outlen = strlen(text);
	return text;
}

static void sink_frame(void *ud, const struct vg_frame *f)
{
	struct port *p = ud;
	struct vg_serial *s = p->s;
	int64_t now = vg_wall_ms();
	struct pending *pe = new_pending(s);
	if (!pe) {
		/* Out of memory costs this frame: no ACK, the terminal retransmits. */
		if (f->kind == VG_FRAME_EVENT && f->token && p->drv->settle)
			p->drv->settle(p->dstate, f->token, 0, vg_now_ms(),
			               &p->sink);
		return;
	}
	pe->p = p;
	pe->received_ms = now;
	if (f->kind == VG_FRAME_BAD) {
		pe->bad = 1;
		snprintf(pe->reason, sizeof pe->reason, "%s", f->reason ? f->reason : "bad_frame");
		snprintf(pe->detail, sizeof pe->detail, "%s", f->detail ? f->detail : "");
		pe->size = f->size;
		p->bad++;
		s->npend++;
	} else {
		struct vg_ingest_cfg icfg;
		int have_key = vg_capture_ingest_cfg(s->capture, now, &icfg) == VG_OK;
		if (!p->have_counter) {
			/* Not read when the port opened (buffer.db busy): try again now. */
			long long epoch, seq;
			if (vg_store_serial_counter(s->store, p->cfg->device_id, now, &epoch, &seq) == VG_OK) {
				p->epoch = epoch;
				p->seq = p->next_seq = seq;
				p->have_counter = 1;
			}
		}
		if (!have_key || !p->have_counter) {
			vg_log(VG_LOG_ERR, "serial.frame", "port %s: %s; frame not acknowledged", p->cfg->name,
			       have_key ? "no event counter" : "no token key is active");
			if (f->token && p->drv->settle)
				p->drv->settle(p->dstate, f->token, 0, vg_now_ms(),
				               &p->sink);
			return;
		}
		size_t len = f->json_len;
		char *timed = with_time(p, f->json, f->json_len, now, &len);
		char value[48];
		pe->seq = ++p->next_seq;
		snprintf(value, sizeof value, "%lld:%lld", p->epoch, pe->seq);
		icfg.plan = s->plan;
		icfg.key_kind = "seq";
		icfg.key_value = value;
		int64_t mono = vg_now_ms();
		if (mono - s->clock_checked_ms > 1000 || !s->clock_checked_ms) {
			s->clock_synced = vg_clock_synced();
			s->clock_checked_ms = mono;
		}
		int rc = vg_ingest(&icfg, p->cfg->device_id, timed ? timed : f->json, len, now, s->clock_synced, &pe->out);
		if (timed) {
			vg_wipe(timed, len);
			cJSON_free(timed);
		}
		if (rc) {
			p->next_seq--;
			if (f->token && p->drv->settle)
				p->drv->settle(p->dstate, f->token, 0, vg_now_ms(),
				               &p->sink);
			return;
		}
		pe->token = f->token;
		p->frames++;
		s->npend++;
	}
	/* Commit from the loop, never inside the driver's feed (settle would
	 * re-enter it). */
	if ((int)s->npend >= s->cfg->commit_max_events)
		vg_loop_timer(s->loop, &s->commit_timer, vg_now_ms());
	else if (!s->commit_timer.armed)
		vg_loop_timer(s->loop, &s->commit_timer, vg_now_ms() + s->cfg->commit_interval_ms);
}

/* ---- the group commit ---------------------------------------------------------- */

static int store_one(struct vg_serial *s, struct pending *pe)
{
	char topic[48];
	snprintf(topic, sizeof topic, "serial:%s", pe->p->cfg->name);
	struct vg_capture_in in = {
		.device_id = pe->p->cfg->device_id, .topic = topic, .received_at_ms = pe->received_ms,
	};
	if (pe->bad) {
		/* A frame the driver could not read: metadata only, never its bytes. */
		in.size = pe->size;
		in.reason = pe->reason;
		in.detail = pe->detail;
	} else {
		in.size = pe->out.body_len;
		in.out = &pe->out;
	}
	enum vg_capture_outcome what;
	return vg_capture_put(s->capture, s->store, &in, &what);
}

static void commit_pending(struct vg_serial *s)
{
	vg_loop_cancel(s->loop, &s->commit_timer);
	if (!s->npend)
		return;
	int64_t now = vg_wall_ms();
	int rc = vg_capture_begin(s->capture, s->store);
	for (size_t i = 0; !rc && i < s->npend; i++)
		rc = store_one(s, &s->pend[i]);
	for (int i = 0; !rc && i < s->nports; i++) {
		struct port *p = &s->ports[i];
		if (p->have_counter && p->next_seq != p->seq)
			rc = vg_store_serial_advance(s->store, p->cfg->device_id, p->next_seq, now);
	}
	if (rc)
		vg_capture_abort(s->capture, s->store);
	else
		rc = vg_capture_end(s->capture, s->store);
	int ok = rc == VG_OK;
	struct vg_store_cap_stats cs;
	vg_store_cap_stats(s->store, &cs);
	if (cs.dropped > s->dropped_logged) {
		vg_log(VG_LOG_WARN, "serial.dropped", "buffer.db is at max_buffer_mb = %d: dropped the %lld oldest"
		       " pending events (on_full = drop_oldest)", s->cfg->max_buffer_mb, cs.dropped - s->dropped_logged);
		s->dropped_logged = cs.dropped;
	}
	if (rc == VG_ERR_FULL)
		vg_log(VG_LOG_WARN, "serial.full", "buffer.db is at max_buffer_mb = %d: %zu frames not acknowledged"
		       " until the CDP takes the backlog; terminals retransmit", s->cfg->max_buffer_mb, s->npend);
	else if (!ok)
		vg_log(VG_LOG_ERR, "serial.commit", "group commit of %zu frames failed (%s: %s); not acknowledged,"
		       " terminals retransmit", s->npend, vg_strerror(rc), vg_store_errmsg(s->store));
	for (int i = 0; i < s->nports; i++) {
		struct port *p = &s->ports[i];
		if (ok)
			p->seq = p->next_seq;
		else
			p->next_seq = p->seq; /* the keys of what was not stored are reused */
	}
	/* Only now, after the COMMIT: the ACKs (or NAKs). */
	for (size_t i = 0; i < s->npend; i++) {
		struct pending *pe = &s->pend[i];
		struct port *p = pe->p;
		if (ok && !pe->bad)
			p->committed++;
		if (!pe->bad && pe->token && p->drv->settle)
			p->drv->settle(p->dstate, pe->token, ok, vg_now_ms(),
			               &p->sink);
		vg_ingest_out_free(&pe->out);
	}
	s->npend = 0;
}

static void on_commit_timer(struct vg_timer *t)
{
	commit_pending(vg_container_of(t, struct vg_serial, commit_timer));
}

/* ---- ports ---------------------------------------------------------------------- */

static speed_t speed_of(int baud)
{
	switch (baud) {
	case 1200: return B1200;
	case 2400: return B2400;
	case 4800: return B4800;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 460800: return B460800;
	case 921600: return B921600;
	default: return B9600;
	}
}

static int set_termios(struct port *p)
{
	struct termios t;
	if (tcgetattr(p->fd, &t) != 0)
		return errno == ENOTTY || errno == EINVAL ? 0 : -1; /* a FIFO or file in tests */
	p->saved = t;
	p->have_saved = 1;
	const struct vg_port_cfg *c = p->cfg;
	cfmakeraw(&t);
	cfsetispeed(&t, speed_of(c->baud));
	cfsetospeed(&t, speed_of(c->baud));
	t.c_cflag &= (tcflag_t)~(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag |= c->data_bits == 5 ? CS5 : c->data_bits == 6 ? CS6 : c->data_bits == 7 ? CS7 : CS8;
	if (c->parity != 'N')
		t.c_cflag |= PARENB | (c->parity == 'O' ? PARODD : 0);
	if (c->stop_bits == 2)
		t.c_cflag |= CSTOPB;
	if (c->flow_control == 1)
		t.c_cflag |= CRTSCTS;
	t.c_iflag &= (tcflag_t)~(IXON | IXOFF | IXANY);
	if (c->flow_control == 2)
		t.c_iflag |= IXON | IXOFF;
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	return tcsetattr(p->fd, TCSANOW, &t);
}

static void close_port(struct port *p)
{
	if (p->fd < 0)
		return;
	vg_loop_unwatch(p->s->loop, &p->w);
	if (p->have_saved)
		tcsetattr(p->fd, TCSANOW, &p->saved);
	p->have_saved = 0;
	close(p->fd);
	p->fd = -1;
}

static void schedule_reopen(struct port *p, const char *why)
{
	close_port(p);
	p->state = "waiting";
	snprintf(p->why, sizeof p->why, "%s", why);
	vg_loop_timer(p->s->loop, &p->reopen, vg_now_ms() + p->backoff_ms);
	if (p->backoff_ms < REOPEN_MAX_MS)
		p->backoff_ms = p->backoff_ms * 2 > REOPEN_MAX_MS ? REOPEN_MAX_MS : p->backoff_ms * 2;
}

static void run_tick(struct port *p)
{
	if (!p->drv->tick)
		return;
	int64_t next = p->drv->tick(p->dstate, vg_now_ms(), &p->sink);
	if (next >= 0)
		vg_loop_timer(p->s->loop, &p->dtick, next);
	else
		vg_loop_cancel(p->s->loop, &p->dtick);
}

static void on_readable(struct vg_watch *w, short revents)
{
	struct port *p = vg_container_of(w, struct port, w);
	uint8_t buf[READ_CHUNK];
	for (;;) {
		ssize_t n = read(p->fd, buf, sizeof buf);
		if (n > 0) {
			p->drv->feed(p->dstate, buf, (size_t)n, vg_now_ms(), &p->sink);
			if ((size_t)n < sizeof buf)
				break;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		/* A raw tty with VMIN = VTIME = 0 reads 0 when it is merely empty:
		 * only a hang-up makes 0 an unplug. */
		if (n == 0 && !(revents & (POLLHUP | POLLERR)))
			break;
		char why[160];
		snprintf(why, sizeof why, "%s", n == 0 ? "the device closed (unplugged?)" : strerror(errno));
		vg_log(VG_LOG_WARN, "serial.port", "port %s (%s): %s; reopening", p->cfg->name, p->cfg->device, why);
		schedule_reopen(p, why);
		return;
	}
	if (revents & (POLLHUP | POLLERR)) {
		vg_log(VG_LOG_WARN, "serial.port", "port %s (%s): hung up; reopening", p->cfg->name, p->cfg->device);
		schedule_reopen(p, "hung up (unplugged?)");
		return;
	}
	run_tick(p);
}

static void on_dtick(struct vg_timer *t)
{
	run_tick(vg_container_of(t, struct port, dtick));
}

static void try_open(struct port *p)
{
	struct vg_serial *s = p->s;
	if (!p->have_counter) {
		long long epoch, seq;
		if (vg_store_serial_counter(s->store, p->cfg->device_id, vg_wall_ms(), &epoch, &seq) == VG_OK) {
			p->epoch = epoch;
			p->seq = p->next_seq = seq;
			p->have_counter = 1;
		}
	}
	int flags = O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (p->cfg->hid ? O_RDONLY : O_RDWR);
	p->fd = open(p->cfg->device, flags);
	if (p->fd < 0) {
		char why[160];
		snprintf(why, sizeof why, "cannot open %.100s: %s", p->cfg->device, strerror(errno));
		if (strcmp(p->state, "waiting") != 0 || strcmp(p->why, why) != 0)
			vg_log(VG_LOG_WARN, "serial.port", "port %s: %s; retrying", p->cfg->name, why);
		schedule_reopen(p, why);
		return;
	}
	if (p->cfg->hid && !isatty(p->fd)) {
		/* Take the keyboard-wedge scanner away from the console. */
		if (ioctl(p->fd, EVIOCGRAB, (void *)1) != 0 && errno != ENOTTY && errno != EINVAL)
			vg_log(VG_LOG_WARN, "serial.port", "port %s: EVIOCGRAB: %s", p->cfg->name, strerror(errno));
	} else if (set_termios(p) != 0) {
		/* (an input_event stream replayed through a PTY, in tests, is raw too) */
		char why[160];
		snprintf(why, sizeof why, "termios on %.100s: %s", p->cfg->device, strerror(errno));
		vg_log(VG_LOG_ERR, "serial.port", "port %s: %s", p->cfg->name, why);
		schedule_reopen(p, why);
		p->state = "error";
		return;
	}
	if (vg_loop_watch(s->loop, &p->w, p->fd, POLLIN) != VG_OK) {
		schedule_reopen(p, "too many descriptors to watch");
		p->state = "error";
		return;
	}
	p->state = "open";
	p->why[0] = '\0';
	p->backoff_ms = REOPEN_MIN_MS;
	vg_log(VG_LOG_INFO, "serial.port", "port %s open: %s (%s, device %s)", p->cfg->name, p->cfg->device,
	       p->drv->name, p->cfg->device_id);
}

static void on_reopen(struct vg_timer *t)
{
	try_open(vg_container_of(t, struct port, reopen));
}

void vg_serial_set_plan(struct vg_serial *s, const struct vg_plan *plan)
{
	if (s)
		s->plan = plan;
}

int vg_serial_open(struct vg_serial **out, struct vg_loop *loop, const struct vg_config *cfg,
                   const struct vg_plan *plan, const char *db_path, char *err, size_t errsz)
{
	*out = NULL;
	if (!cfg->nports)
		return VG_OK;
	struct vg_serial *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errsz, "out of memory");
		return VG_ERR_NOMEM;
	}
	s->loop = loop;
	s->cfg = cfg;
	s->plan = plan;
	s->commit_timer.cb = on_commit_timer;
	int rc = vg_keyring_load(&s->keys, cfg->key_file, err, errsz);
	if (rc)
		goto fail;
	if ((rc = vg_capture_open(&s->capture, cfg, &s->keys))) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	struct vg_store_cfg scfg = {
		.path = db_path, .owner = 0, .durability_full = cfg->durability == VG_DURABILITY_FULL,
		.busy_timeout_ms = 100,
		.max_bytes = (long long)cfg->max_buffer_mb << 20,
		.drop_oldest = cfg->on_full == VG_ON_FULL_DROP_OLDEST,
	};
	if ((rc = vg_store_open(&s->store, &scfg, err, errsz)))
		goto fail;
	for (int i = 0; i < cfg->nports; i++) {
		struct port *p = &s->ports[s->nports];
		p->s = s;
		p->cfg = &cfg->ports[i];
		p->fd = -1;
		p->state = "waiting";
		p->backoff_ms = REOPEN_MIN_MS;
		p->sink = (struct vg_driver_sink){ .ud = p, .frame = sink_frame, .send = sink_send };
		p->w.cb = on_readable;
		p->reopen.cb = on_reopen;
		p->dtick.cb = on_dtick;
		if ((rc = init_driver(p->cfg, &p->drv, &p->dstate, cfg->path, err, errsz)))
			goto fail;
		s->nports++;
		try_open(p);
	}
	*out = s;
	return VG_OK;
fail:
	vg_serial_close(s);
	return rc;
}

void vg_serial_close(struct vg_serial *s)
{
	if (!s)
		return;
	if (s->store)
		commit_pending(s);
	vg_loop_cancel(s->loop, &s->commit_timer);
	for (int i = 0; i < s->nports; i++) {
		struct port *p = &s->ports[i];
		close_port(p);
		vg_loop_cancel(s->loop, &p->reopen);
		vg_loop_cancel(s->loop, &p->dtick);
		if (p->drv && p->drv->fini)
			p->drv->fini(p->dstate);
		free(p->dstate);
	}
	free(s->pend);
	vg_store_close(s->store);
	vg_capture_close(s->capture);
	vg_keyring_wipe(&s->keys);
	free(s);
}

void vg_serial_describe(const struct vg_serial *s, cJSON *arr)
{
	for (int i = 0; s && i < s->nports; i++) {
		const struct port *p = &s->ports[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			return;
		cJSON_AddStringToObject(o, "name", p->cfg->name);
		cJSON_AddStringToObject(o, "device", p->cfg->device);
		cJSON_AddStringToObject(o, "device_id", p->cfg->device_id);
		cJSON_AddStringToObject(o, "driver", p->drv->name);
		cJSON_AddStringToObject(o, "state", p->state);
		cJSON_AddStringToObject(o, "why", p->why);
		cJSON_AddNumberToObject(o, "frames", (double)p->frames);
		cJSON_AddNumberToObject(o, "bad", (double)p->bad);
		cJSON_AddNumberToObject(o, "committed", (double)p->committed);
		cJSON_AddItemToArray(arr, o);
	}
}
