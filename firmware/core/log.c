#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

enum vg_log_level vg_log_threshold = VG_LOG_INFO;

static const char *const names[] = { "error", "warning", "info", "debug" };
static enum vg_log_format format = VG_LOG_FMT_PLAIN;

static void stderr_sink(enum vg_log_level level, const char *msgid, const char *text)
{
	switch (format) {
	case VG_LOG_FMT_JOURNAL: {
		/* sd-daemon(3) priorities: err 3, warning 4, info 6, debug 7. */
		static const int prio[] = { 3, 4, 6, 7 };
		fprintf(stderr, "<%d>%s: %s\n", prio[level], msgid, text);
		break;
	}
	case VG_LOG_FMT_TERMINAL: {
		time_t now = time(NULL);
		struct tm tm;
		char t[16] = "";
		if (localtime_r(&now, &tm))
			strftime(t, sizeof t, "%H:%M:%S", &tm);
		fprintf(stderr, "%s %-7s %s: %s\n", t, names[level], msgid, text);
		break;
	}
	default:
		fprintf(stderr, "venuegw[%s] %s: %s\n", names[level], msgid, text);
	}
}

static vg_log_sink sink = stderr_sink;

void vg_log_set_sink(vg_log_sink s)
{
	sink = s ? s : stderr_sink;
}

void vg_log_set_format(enum vg_log_format f)
{
	format = f;
}

enum vg_log_format vg_log_detect_format(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	if (js && fstat(STDERR_FILENO, &st) == 0) {
		unsigned long long dev, ino;
		if (sscanf(js, "%llu:%llu", &dev, &ino) == 2 && dev == (unsigned long long)st.st_dev &&
		    ino == (unsigned long long)st.st_ino)
			return VG_LOG_FMT_JOURNAL;
	}
	return isatty(STDERR_FILENO) ? VG_LOG_FMT_TERMINAL : VG_LOG_FMT_PLAIN;
}

/* ---- rate limit ----------------------------------------------------------------
 * A small table of msgids seen recently; the oldest window is reused when it
 * is full (a flood of distinct msgids is itself limited by their number in
 * the code). */

#define RL_SLOTS 32

static struct rl {
	char msgid[40];
	int64_t start;
	int count;
	unsigned long suppressed;
} rl[RL_SLOTS];
static int rl_burst = 10, rl_interval_ms = 60000;
static int64_t (*rl_clock)(void);

void vg_log_ratelimit(int burst, int interval_ms, int64_t (*clock_ms)(void))
{
	rl_burst = burst;
	rl_interval_ms = interval_ms;
	rl_clock = clock_ms;
	memset(rl, 0, sizeof rl);
}

/* 1: emit the message (after a note of what was suppressed, if anything). */
static int rate_ok(enum vg_log_level level, const char *msgid)
{
	if (level > VG_LOG_WARN || rl_burst <= 0)
		return 1;
	int64_t now = rl_clock ? rl_clock() : vg_now_ms();
	struct rl *r = NULL, *oldest = &rl[0];
	for (int i = 0; i < RL_SLOTS; i++) {
		if (rl[i].msgid[0] && strcmp(rl[i].msgid, msgid) == 0) {
			r = &rl[i];
			break;
		}
		if (!rl[i].msgid[0] || rl[i].start < oldest->start)
			oldest = &rl[i];
	}
	if (!r) {
		r = oldest;
		memset(r, 0, sizeof *r);
		snprintf(r->msgid, sizeof r->msgid, "%s", msgid);
		r->start = now;
	}
	if (now - r->start >= rl_interval_ms) {
		if (r->suppressed) {
			char note[160];
			snprintf(note, sizeof note, "%lu similar messages suppressed in the last %d s",
			         r->suppressed, (int)((now - r->start) / 1000));
			sink(level, msgid, note);
		}
		r->start = now;
		r->count = 0;
		r->suppressed = 0;
	}
	if (r->count < rl_burst) {
		r->count++;
		return 1;
	}
	r->suppressed++;
	return 0;
}

void vg_log_emit(enum vg_log_level level, const char *msgid, const char *fmt, ...)
{
	if (!rate_ok(level, msgid))
		return;
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	sink(level, msgid, text);
}
