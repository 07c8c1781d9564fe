/* venuegw — the clocks, one place: monotonic time for timers and durations,
 * wall-clock time for what is stored and shown, and whether the wall clock is
 * synchronised. */
#ifndef VG_CLOCK_H
#define VG_CLOCK_H

#include <stdint.h>

int64_t vg_now_ms(void);          /* CLOCK_MONOTONIC, milliseconds */
int64_t vg_mono_ns(void);         /* CLOCK_MONOTONIC, nanoseconds */
int64_t vg_wall_ms(void);         /* CLOCK_REALTIME, Unix milliseconds */

/* 1 if the system clock is synchronised (adjtimex: no STA_UNSYNC), else 0. */
int vg_clock_synced(void);

#endif
