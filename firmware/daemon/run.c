/* venuegw run — the daemon's loop.
 *
 * One thread, poll(2), monotonic time; the poll timeout is the earliest
 * timer.  Signals arrive through a signalfd and are handled in the loop.
 * The daemon owns buffer.db's housekeeping: it creates and migrates the
 * schema (the capture plugin never does) and runs timed passive checkpoints
 * (the plugin runs with wal_autocheckpoint=0 so the broker thread never
 * pays for one). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "err.h"
#include "log.h"
#include "store.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vg_cmd_run(const struct vg_config *cfg)
{
	char path[300], err[600];
	vg_config_db_path(cfg, path, sizeof path);
	if (mkdir(cfg->data_dir, 0750) != 0 && errno != EEXIST) {
		vg_log(VG_LOG_ERR, "run", "cannot create data_dir %s: %s", cfg->data_dir, strerror(errno));
		return VG_EXIT_FAIL;
	}
	struct vg_store *st = NULL;
	struct vg_store_cfg scfg = {
		.path = path,
		.owner = 1,
		.durability_full = cfg->durability == VG_DURABILITY_FULL,
		.busy_timeout_ms = 1000,
	};
	if (vg_store_open(&st, &scfg, err, sizeof err) != VG_OK) {
		vg_log(VG_LOG_ERR, "run", "%s", err);
		return VG_EXIT_FAIL;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		vg_log(VG_LOG_ERR, "run", "signalfd: %s", strerror(errno));
		vg_store_close(st);
		return VG_EXIT_FAIL;
	}
	vg_log(VG_LOG_INFO, "run", "venuegw %s running: venue %s, buffer %s (schema %d)", VG_VERSION,
	       cfg->venue_id, path, VG_STORE_SCHEMA);

	int64_t next_checkpoint = mono_ms() + cfg->checkpoint_interval_ms;
	int running = 1;
	while (running) {
		int64_t now = mono_ms();
		int timeout = next_checkpoint > now ? (int)(next_checkpoint - now) : 0;
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		int n = poll(&pfd, 1, timeout);
		if (n < 0 && errno != EINTR) {
			vg_log(VG_LOG_ERR, "run", "poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && (pfd.revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGHUP) {
					vg_log(VG_LOG_INFO, "run", "SIGHUP: nothing to reload yet");
				} else {
					vg_log(VG_LOG_INFO, "run", "signal %u: shutting down", si.ssi_signo);
					running = 0;
				}
			}
		}
		now = mono_ms();
		if (now >= next_checkpoint) {
			vg_store_checkpoint(st);
			next_checkpoint = now + cfg->checkpoint_interval_ms;
		}
	}
	vg_store_checkpoint(st);
	vg_store_close(st);
	close(sfd);
	vg_log(VG_LOG_INFO, "run", "stopped");
	return VG_EXIT_OK;
}
