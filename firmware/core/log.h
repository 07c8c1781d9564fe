/* venuegw — logging.
 *
 * vg_log(level, msgid, fmt, ...) checks the level before it evaluates its
 * arguments.  msgid is a short stable word ("store", "capture.quarantine")
 * that operators can grep and count.  Never log payloads, raw identifiers or
 * secrets: log event keys, token kinds, counts, status codes.
 *
 * The host (the plugin, the daemon, a test) sets the sink once at start-up;
 * the default sink writes to stderr in one of three formats (see
 * vg_log_format).  Errors and warnings are rate-limited per msgid: after
 * `burst` messages in `interval` the rest are counted, and the next message
 * after the interval says how many were suppressed. */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdint.h>

enum vg_log_level { VG_LOG_ERR = 0, VG_LOG_WARN = 1, VG_LOG_INFO = 2, VG_LOG_DEBUG = 3 };

typedef void (*vg_log_sink)(enum vg_log_level level, const char *msgid, const char *text);

extern enum vg_log_level vg_log_threshold;

/* The default sink's formats:
 *   PLAIN     "venuegw[error] msgid: text"        (a file or a pipe)
 *   JOURNAL   "<3>msgid: text"                    (stderr is the journal: systemd
 *                                                  reads the priority prefix)
 *   TERMINAL  "23:41:07 error msgid: text"        (an interactive terminal) */
enum vg_log_format { VG_LOG_FMT_PLAIN = 0, VG_LOG_FMT_JOURNAL = 1, VG_LOG_FMT_TERMINAL = 2 };

/* JOURNAL when $JOURNAL_STREAM names stderr's device:inode (systemd sets it
 * for a service whose stderr is the journal), TERMINAL when stderr is a tty,
 * else PLAIN. */
enum vg_log_format vg_log_detect_format(void);
void vg_log_set_format(enum vg_log_format f);

void vg_log_set_sink(vg_log_sink sink);

/* Errors and warnings: at most burst per msgid in interval_ms (default 10
 * per 60 s); burst 0 turns the limit off.  clock_ms (NULL: CLOCK_MONOTONIC)
 * is for tests. */
void vg_log_ratelimit(int burst, int interval_ms, int64_t (*clock_ms)(void));

void vg_log_emit(enum vg_log_level level, const char *msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define vg_log(level, msgid, ...)                                  \
	do {                                                       \
		if ((level) <= vg_log_threshold)                   \
			vg_log_emit((level), (msgid), __VA_ARGS__); \
	} while (0)

#endif
