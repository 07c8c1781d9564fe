/* venuegw — logging.
 *
 * vg_log(level, msgid, fmt, ...) checks the level before it evaluates its
 * arguments.  msgid is a short stable word ("store", "capture.quarantine")
 * that operators can grep and count.  Never log payloads, raw identifiers or
 * secrets: log event keys, token kinds, counts, status codes.
 *
 * The host (the plugin, the daemon, a test) sets the sink once at start-up;
 * the default sink writes "venuegw[level] msgid: text" to stderr. */
#ifndef VG_LOG_H
#define VG_LOG_H

enum vg_log_level { VG_LOG_ERR = 0, VG_LOG_WARN = 1, VG_LOG_INFO = 2, VG_LOG_DEBUG = 3 };

typedef void (*vg_log_sink)(enum vg_log_level level, const char *msgid, const char *text);

extern enum vg_log_level vg_log_threshold;

void vg_log_set_sink(vg_log_sink sink);
void vg_log_emit(enum vg_log_level level, const char *msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define vg_log(level, msgid, ...)                                  \
	do {                                                       \
		if ((level) <= vg_log_threshold)                   \
			vg_log_emit((level), (msgid), __VA_ARGS__); \
	} while (0)

#endif
