/* Retention (DESIGN.md §6): see retention.h.  Called by the forwarder's tick. */
#include "retention.h"

#include "store_forward.h"

#define FORWARDED_CHUNK 2000
#define QUARANTINE_CHUNK 500
#define CHUNKS 5

int vg_retention_purge(struct vg_store *st, const struct vg_config *cfg, int64_t wall_ms)
{
	/* Keys older than dedup_retention_h go, a few short transactions per
	 * call; more soon if more remain. */
	int64_t before = wall_ms - (int64_t)cfg->dedup_retention_h * 3600000;
	/* drops rows matter until the reconciliation window they were dropped in is reported. */
	int64_t drops_before = wall_ms - 2 * (int64_t)cfg->reconciliation_interval_s * 1000;
	int n = 0, chunks = 0;
	while (chunks++ < CHUNKS &&
	       (n = vg_store_purge_forwarded(st, before, drops_before, FORWARDED_CHUNK)) == FORWARDED_CHUNK)
		;
	/* Quarantined input older than quarantine_retention_d, the same way. */
	int64_t q_before = wall_ms - (int64_t)cfg->quarantine_retention_d * 86400000;
	int qn = 0;
	chunks = 0;
	while (chunks++ < CHUNKS &&
	       (qn = vg_store_purge_quarantine(st, q_before, QUARANTINE_CHUNK)) == QUARANTINE_CHUNK)
		;
	return n == FORWARDED_CHUNK || qn == QUARANTINE_CHUNK;
}
