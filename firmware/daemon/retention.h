/* venuegw daemon — retention: what buffer.db keeps no longer (DESIGN.md §6). */
#ifndef VG_RETENTION_H
#define VG_RETENTION_H

#include <stdint.h>

#include "config.h"
#include "store.h"

/* Purge, at wall clock wall_ms, the forwarded events' keys older than
 * dedup_retention_h, the drops rows older than two reconciliation windows and
 * the quarantine older than quarantine_retention_d — a few short transactions
 * each (the loop also serves the ports and the CDP).  Returns 1 when more
 * remain (call again soon), 0 when done. */
int vg_retention_purge(struct vg_store *st, const struct vg_config *cfg, int64_t wall_ms);

#endif
