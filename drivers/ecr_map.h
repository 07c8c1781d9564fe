/* venuegw — the `ecr` driver's payload mapping (DESIGN.md §7): what one
 * good frame's payload becomes as a §4 event.  Pure: no state of the
 * framing (drivers/ecr.c), which calls it for each good frame.
 *
 * Mapping a payload to a §4 event (format = auto | json | kv; auto: JSON when
 * the first non-blank byte is '{', else key=value pairs):
 *  - JSON with a "type" that is not an ECR kind is already a §4 event: its
 *    bytes are passed unchanged, and the daemon checks them like MQTT input;
 *  - otherwise the members of the JSON object (strings and numbers), or the
 *    pairs `key=value` separated by ';', '|' or LF, are mapped by the table
 *    `keys` below (key names case-insensitive, blanks around keys and values
 *    trimmed, the last of a repeated key wins).  Keys the table does not know
 *    are dropped: an unknown field might hold a name, and names must never be
 *    stored (§3 promise 3).
 *  - type / msg / kind: ORDER, PAYMENT, REFUND (any case) →
 *    pos.order.completed, payment.succeeded, refund.issued; another value is
 *    kept as the type (the daemon then quarantines it as unknown_type);
 *  - total_minor / amount_minor: a JSON integer; total / amount: major units
 *    ("12.50") → minor units by the currency's ISO 4217 exponent (2 unless
 *    listed in `exp0` / `exp3`).  A value that does not convert exactly is
 *    kept as a string under its own name, so the contract check quarantines
 *    the event with its reason instead of storing a wrong amount;
 *  - card numbers stay strings (the daemon's scrubber masks them); JSON
 *    numbers are never card numbers, but an ECR that sends one gets it turned
 *    into a string (so it is masked) when it is exact (< 2^53), else dropped;
 *  - occurred_at / ts: kept when vg_time_parse reads it (ISO 8601), else
 *    omitted — the daemon uses the receive time.
 * A payload with nothing the table knows is still an EVENT ("{}"): the
 * daemon quarantines contract violations with their reasons.
 *
 * Temporary strings and JSON trees hold card numbers and customer ids: all
 * are wiped before they are freed. */
#ifndef VG_ECR_MAP_H
#define VG_ECR_MAP_H

#include <stddef.h>

enum vg_ecr_format { VG_ECR_FMT_AUTO, VG_ECR_FMT_JSON, VG_ECR_FMT_KV };

enum vg_ecr_map_result { VG_ECR_MAP_OK, VG_ECR_MAP_BAD_JSON, VG_ECR_MAP_NOMEM };

/* The §4 JSON of payload p[0..n) (valid UTF-8, no NUL) read as format.  On
 * VG_ECR_MAP_OK, *out is either p itself (a §4 event passed unchanged;
 * *owned = 0) or a new string (*owned = 1) the caller wipes and frees with
 * cJSON_free.  VG_ECR_MAP_BAD_JSON: JSON that is not one object. */
enum vg_ecr_map_result vg_ecr_map_payload(enum vg_ecr_format format, const char *p, size_t n, const char **out,
                                          size_t *outlen, int *owned);

#endif
