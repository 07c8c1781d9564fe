/* venuegw — the input contract v1 (DESIGN.md §4), one table in contract.c.
 * Pure: no I/O. */
#ifndef VG_CONTRACT_H
#define VG_CONTRACT_H

#include <cjson/cJSON.h>

#include "event.h"

enum vg_priority {
	VG_PRIO_HIGH = 0,    /* consent and erasure: the priority lane */
	VG_PRIO_NORMAL = 1,
	VG_PRIO_LOW = 2,     /* device.status */
};

/* The number of event types, and the type names in table order (for
 * documentation, metrics and tests). */
int vg_contract_count(void);
const char *vg_contract_type(int i);

/* Priority of a known type (VG_PRIO_NORMAL for unknown ones). */
enum vg_priority vg_contract_priority(const char *type);

/* Check a decoded event (before scrubbing: person identifiers must still be
 * present to be counted) against the common-field rules and its type's row:
 *  - type: required string of a known type              → unknown_type / bad_field
 *  - id: string ≤ 64 bytes; seq: integer ≥ 0; person, consent, properties:
 *    objects; properties ≤ 32 KiB encoded; occurred_at: string  → bad_field
 *  - the row's required fields                          → contract
 * occurred_at's syntax is checked by the caller (vg_time_parse), which knows
 * whether a time zone is configured.
 * Returns VG_OK, or VG_ERR_INVAL with rej filled (field set to the field
 * concerned). */
int vg_contract_check(const cJSON *event, struct vg_reject *rej);

#endif
