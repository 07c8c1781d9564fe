/* venuegw daemon — the hourly gateway.reconciliation event (DESIGN.md §8). */
#ifndef VG_RECONCILE_H
#define VG_RECONCILE_H

#include <stdint.h>

#include "config.h"
#include "store.h"

/* Store the gateway.reconciliation event for the window
 * [to_ms − reconciliation_interval_s, to_ms): per device, events committed,
 * forwarded, quarantined and dropped in it.  Its key is made from the
 * window, so a restart never stores one window twice.  Failures are logged. */
void vg_reconcile(struct vg_store *st, const struct vg_config *cfg, int64_t to_ms);

#endif
