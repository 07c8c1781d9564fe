#include "log.h"

#include <stdarg.h>
#include <stdio.h>

enum vg_log_level vg_log_threshold = VG_LOG_INFO;

static void stderr_sink(enum vg_log_level level, const char *msgid, const char *text)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	fprintf(stderr, "venuegw[%s] %s: %s\n", names[level], msgid, text);
}

static vg_log_sink sink = stderr_sink;

void vg_log_set_sink(vg_log_sink s)
{
	sink = s ? s : stderr_sink;
}

void vg_log_emit(enum vg_log_level level, const char *msgid, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	sink(level, msgid, text);
}
