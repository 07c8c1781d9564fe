/* venuegw run — the daemon.
 *
 * One thread and one poll loop (loop.c): signals through a signalfd, timed
 * passive checkpoints of buffer.db, the forwarder (libcurl multi) and the
 * gateway's MQTT status (libmosquitto).  The daemon owns buffer.db's
 * housekeeping: it creates and migrates the schema (the capture plugin never
 * does) and checkpoints it (the plugin runs with wal_autocheckpoint=0 so the
 * broker thread never pays for one).  And it moves the capture plugin's
 * intake journal into buffer.db (intake.h): a timer every INTAKE_IDLE_MS,
 * at once while a move was cut at INTAKE_BATCH, and once before READY=1. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "contract.h"
#include "container.h"
#include "daemon.h"
#include "err.h"
#include "forward.h"
#include "kafka.h"
#include "httpd.h"
#include "intake.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mqtt_status.h"
#include "notify.h"
#include "serial.h"
#include "store.h"
#include "store_capture.h"

struct daemon {
	struct vg_loop loop;
	struct vg_config *cfg;        /* SIGHUP updates the keys it may change */
	struct vg_notify notify;
	struct vg_store *store;
	struct vg_forwarder *fwd;
	struct vg_status *status;
	struct vg_metrics *metrics;
	struct vg_httpd *httpd;
	struct vg_serial *serial;
	struct vg_plan *plan;         /* the tracking plan; SIGHUP loads it again */
	struct vg_watch sig;
	struct vg_timer checkpoint;
	struct vg_timer intake;
	char intake_dir[VG_CONFIG_DB_PATH_MAX + sizeof VG_INTAKE_DIR_SUFFIX];
	long long dropped_logged;     /* events dropped at the disk cap, as last logged */
	int64_t intake_error_log_ms;
	int sfd;
};

#define INTAKE_IDLE_MS 50      /* move the journal this often */
#define INTAKE_BUSY 1000       /* records: after a move this large ... */
#define INTAKE_BUSY_MS 200     /* ... the next waits this long */
#define INTAKE_BATCH 20000     /* records per move transaction at most */

static void on_reloaded_key(void *ctx, const char *section, const char *key, int applied)
{
	(void)ctx;
	if (applied)
		vg_log(VG_LOG_INFO, "run.reload", "[%s] %s: new value applied", section, key);
	else
		vg_log(VG_LOG_WARN, "run.reload", "[%s] %s changed: needs a restart (the running value is kept)",
		       section, key);
}

static void log_plan(const struct vg_plan *p, const char *path, const char *what)
{
	vg_log(VG_LOG_INFO, "run.plan", "tracking plan %s: \"%s\" version %s, %d event types%s", path,
	       vg_plan_name(p), vg_plan_version(p)[0] ? vg_plan_version(p) : "(none)", vg_plan_count(p), what);
}

/* Load [contracts] plan again.  A plan that does not load never replaces a
 * working one. */
static void reload_plan(struct daemon *d)
{
	struct vg_plan *fresh;
	char err[600];
	if (vg_plan_load(&fresh, d->cfg->plan_path, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run.plan", "SIGHUP: %s; the plan in force (version %s) stays", err,
		       vg_plan_version(d->plan));
		return;
	}
	vg_serial_set_plan(d->serial, fresh);
	vg_plan_free(d->plan);
	d->plan = fresh;
	log_plan(fresh, d->cfg->plan_path, ": in force");
}

/* SIGHUP: read the file again; apply what may change while running, name
 * what needs a restart; re-read the write key.  A file with an error changes
 * nothing. */
static void reload(struct daemon *d)
{
	vg_notify_reloading();
	struct vg_config *fresh = malloc(sizeof *fresh);
	char err[600];
	if (!fresh) {
		vg_log(VG_LOG_ERR, "run.reload", "SIGHUP: out of memory; nothing changed");
	} else if (vg_config_load(fresh, d->cfg->path, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run.reload", "SIGHUP: %s; nothing changed", err);
	} else {
		int restart = vg_config_reload(d->cfg, fresh, on_reloaded_key, d);
		vg_log(VG_LOG_INFO, "run.reload", "SIGHUP: %s re-read%s; write key re-read", d->cfg->path,
		       restart ? ", some changes need a restart" : "");
	}
	free(fresh);
	reload_plan(d);
	vg_forwarder_reload(d->fwd);
	vg_notify_ready(&d->notify);
}

/* systemd's STATUS= line. */
static void describe(void *ctx, char *out, size_t outsz)
{
	struct daemon *d = ctx;
	struct vg_store_counts c;
	long long backlog = -1;
	if (d->store && vg_store_counts(d->store, &c) == VG_OK)
		backlog = (long long)(c.pending + c.inflight);
	const struct vg_forward_stats *fs = d->fwd ? vg_forwarder_stats(d->fwd) : NULL;
	if (!fs || !fs->enabled)
		snprintf(out, outsz, "backlog %lld; forwarding disabled (no [cdp] endpoint)", backlog);
	else if (fs->alarm)
		snprintf(out, outsz, "backlog %lld; CDP ALARM %s: %s", backlog, fs->alarm, fs->last_error);
	else if (fs->last_error[0])
		snprintf(out, outsz, "backlog %lld; forwarded %llu; retrying: %s", backlog, fs->events_forwarded,
		         fs->last_error);
	else
		snprintf(out, outsz, "backlog %lld; forwarded %llu", backlog, fs->events_forwarded);
}

static void on_signal(struct vg_watch *w, short revents)
{
	(void)revents;
	struct daemon *d = vg_container_of(w, struct daemon, sig);
	struct signalfd_siginfo si;
	while (read(d->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			reload(d);
		} else {
			vg_log(VG_LOG_INFO, "run", "signal %u: shutting down", si.ssi_signo);
			vg_loop_stop(&d->loop);
		}
	}
}

static void on_checkpoint(struct vg_timer *t)
{
	struct daemon *d = vg_container_of(t, struct daemon, checkpoint);
	vg_store_checkpoint(d->store);
	vg_loop_timer(&d->loop, t, vg_now_ms() + d->cfg->checkpoint_interval_ms);
}

/* Move the journal into buffer.db: what was done, or -1 on a store error
 * (logged, at most every 10 s). */
static long long move_intake(struct daemon *d)
{
	struct vg_intake_moved m;
	int rc = vg_intake_move(d->store, d->intake_dir, INTAKE_BATCH, 0, &m);
	if (rc) {
		int64_t now = vg_now_ms();
		if (now >= d->intake_error_log_ms) {
			vg_log(VG_LOG_ERR, "intake.move", "cannot move the intake journal %s into buffer.db: %s (%s);"
			       " it keeps the events", d->intake_dir, vg_strerror(rc), vg_store_errmsg(d->store));
			d->intake_error_log_ms = now + 10000;
		}
		return -1;
	}
	struct vg_store_cap_stats cs;
	vg_store_cap_stats(d->store, &cs);
	if (cs.dropped > d->dropped_logged) {
		vg_log(VG_LOG_WARN, "capture.dropped", "buffer.db is at max_buffer_mb = %d: dropped the %lld oldest"
		       " pending events (on_full = drop_oldest; %lld since the daemon started)", d->cfg->max_buffer_mb,
		       cs.dropped - d->dropped_logged, cs.dropped);
		d->dropped_logged = cs.dropped;
	}
	if (m.more)
		return m.records ? m.records : 1;
	return m.full ? 0 : m.records;
}

/* Every INTAKE_IDLE_MS: a move writes each page it touches once, so the
 * more records a move takes, the less it writes per event.  Under load (a
 * move of INTAKE_BUSY records or more) the next waits INTAKE_BUSY_MS, so each
 * takes more; at once again only when a move stopped at INTAKE_BATCH. */
static void on_intake(struct vg_timer *t)
{
	struct daemon *d = vg_container_of(t, struct daemon, intake);
	long long moved = move_intake(d);
	int64_t wait = moved >= INTAKE_BATCH ? 0 : moved < 0 ? 1000 : moved >= INTAKE_BUSY ? INTAKE_BUSY_MS : INTAKE_IDLE_MS;
	vg_loop_timer(&d->loop, t, vg_now_ms() + wait);
}

int vg_run_check(const struct vg_config *cfg, char *err, size_t errsz)
{
	/* The ports' driver options are checked by their drivers. */
	return vg_serial_check(cfg, err, errsz);
}

int vg_cmd_run(struct vg_config *cfg, const char *config_path, int argc, char **argv)
{
	(void)config_path;
	(void)argc;
	(void)argv;
	char path[VG_CONFIG_DB_PATH_MAX], err[600];
	if (vg_run_check(cfg, err, sizeof err) != VG_OK) {
		fprintf(stderr, "venuegw: %s\n", err);
		return VG_EXIT_USAGE;
	}
	vg_log_set_format(vg_log_detect_format());
	struct daemon d = { .cfg = cfg, .sfd = -1 };
	int code = VG_EXIT_FAIL;

	/* Offset-less device times are local to [gateway] timezone; only the
	 * daemon converts them (never the broker's process). */
	if (cfg->timezone[0]) {
		char tz[128];
		snprintf(tz, sizeof tz, "/usr/share/zoneinfo/%s", cfg->timezone);
		if (access(tz, R_OK) != 0) {
			vg_log(VG_LOG_ERR, "run", "[gateway] timezone %s: no such zone (%s)", cfg->timezone, tz);
			return VG_EXIT_USAGE;
		}
		setenv("TZ", cfg->timezone, 1);
		tzset();
	}
	if (vg_config_db_path(cfg, path, sizeof path) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "data_dir %s: the path of buffer.db in it is too long", cfg->data_dir);
		return VG_EXIT_USAGE;
	}
	if (mkdir(cfg->data_dir, 0750) != 0 && errno != EEXIST) {
		vg_log(VG_LOG_ERR, "run", "cannot create data_dir %s: %s", cfg->data_dir, strerror(errno));
		return VG_EXIT_FAIL;
	}
	struct vg_store_cfg scfg = {
		.path = path,
		.owner = 1,
		/* The daemon's own writes (claiming batches, marking them forwarded,
		 * purging) need no fsync of their own: lost on power failure, they
		 * only undo bookkeeping — events go back to pending and are resent,
		 * and the CDP de-duplicates on messageId.  What must survive power
		 * loss is each capture commit, which the plugin fsyncs (and which
		 * syncs every WAL frame before it).  Checkpoints still sync. */
		.durability_full = 0,
		/* The loop also serves serial ports: never wait long for a lock. */
		.busy_timeout_ms = 100,
		/* The disk cap applies to what this handle moves from the intake
		 * journal (on_full as configured). */
		.max_bytes = (long long)cfg->max_buffer_mb << 20,
		.drop_oldest = cfg->on_full == VG_ON_FULL_DROP_OLDEST,
	};
	if (vg_store_open(&d.store, &scfg, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "%s", err);
		return VG_EXIT_FAIL;
	}
	if (vg_intake_dir(path, d.intake_dir, sizeof d.intake_dir) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "data_dir %s: the path of the intake journal in it is too long", cfg->data_dir);
		code = VG_EXIT_USAGE;
		goto out;
	}
	if (mkdir(d.intake_dir, 0750) != 0 && errno != EEXIST) {
		vg_log(VG_LOG_ERR, "run", "cannot create the intake journal %s: %s", d.intake_dir, strerror(errno));
		goto out;
	}
	/* What the broker acknowledged while the daemon was away goes into
	 * buffer.db before anything reads it (a large backlog: its first 100 000
 * records; the loop moves the rest). */
	for (int i = 0; i < 5 && move_intake(&d) > 0; i++)
		;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		vg_log(VG_LOG_ERR, "run", "cannot initialise libcurl");
		goto out;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d.sfd < 0) {
		vg_log(VG_LOG_ERR, "run", "signalfd: %s", strerror(errno));
		goto out;
	}
	d.sig.cb = on_signal;
	if (vg_loop_watch(&d.loop, &d.sig, d.sfd, POLLIN) != VG_OK)
		goto out;
	d.checkpoint.cb = on_checkpoint;
	vg_loop_timer(&d.loop, &d.checkpoint, vg_now_ms() + cfg->checkpoint_interval_ms);
	d.intake.cb = on_intake;
	vg_loop_timer(&d.loop, &d.intake, vg_now_ms() + INTAKE_IDLE_MS);

	if (vg_plan_load(&d.plan, cfg->plan_path, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "[contracts] plan: %s", err);
		code = VG_EXIT_USAGE;
		goto out;
	}
	log_plan(d.plan, cfg->plan_path, "");
	if (vg_forwarder_open(&d.fwd, &d.loop, cfg, d.store, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "%s", err);
		goto out;
	}
	if (vg_serial_open(&d.serial, &d.loop, cfg, d.plan, path, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "%s", err);
		code = VG_EXIT_USAGE;
		goto out;
	}
	if (vg_metrics_open(&d.metrics, &d.loop, cfg, d.store, d.fwd, d.serial, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "%s", err);
		goto out;
	}
	if (vg_httpd_open_status(&d.httpd, &d.loop, cfg, d.metrics, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "%s", err);
		goto out;
	}
	if (vg_status_open(&d.status, &d.loop, cfg, d.metrics) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "cannot start the status publisher: out of memory");
		goto out;
	}
	vg_log(VG_LOG_INFO, "run", "venuegw %s running: venue %s, buffer %s (schema %d)", VG_VERSION,
	       cfg->venue_id, path, VG_STORE_SCHEMA);
	vg_notify_start(&d.notify, &d.loop, describe, &d);
	vg_notify_ready(&d.notify);
	code = vg_loop_run(&d.loop) == VG_OK ? VG_EXIT_OK : VG_EXIT_FAIL;
	vg_notify_stopping();
out:
	vg_notify_stop(&d.notify);
	vg_status_close(d.status);
	vg_httpd_close(d.httpd);
	vg_metrics_close(d.metrics);
	vg_serial_close(d.serial);
	vg_plan_free(d.plan);
	vg_forwarder_close(d.fwd);
	if (d.store)
		vg_store_checkpoint(d.store);
	vg_store_close(d.store);
	if (d.sfd >= 0)
		close(d.sfd);
	curl_global_cleanup();
	vg_log(VG_LOG_INFO, "run", "stopped");
	return code;
}

int vg_run_probe_output(const struct vg_config *cfg, int timeout_ms, char *info, size_t infosz, char *err,
                        size_t errsz)
{
	if (infosz)
		info[0] = '\0';
	if (cfg->output != VG_OUTPUT_KAFKA)
		return VG_OK;
	return vg_kafka_probe(cfg, timeout_ms, info, infosz, err, errsz);
}
