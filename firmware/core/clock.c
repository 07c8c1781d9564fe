#include "clock.h"

#include <sys/timex.h>
#include <time.h>

static int64_t ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t vg_now_ms(void)
{
	return ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t vg_mono_ns(void)
{
	return ns(CLOCK_MONOTONIC);
}

int64_t vg_wall_ms(void)
{
	return ns(CLOCK_REALTIME) / 1000000;
}

int vg_clock_synced(void)
{
	struct timex tx = { 0 };
	int state = adjtimex(&tx);
	return state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}
