/* venuegw — fuzz target: the intake journal's record format (intake.h):
 * vg_intake_check and vg_intake_decode over whatever a segment file may hold
 * (a torn write, zeros, another program's bytes).
 *
 * Input: the bytes of a segment from its first record on.
 *
 * Invariants:
 *  - check never reads past n, and a whole record is at least a header and at
 *    most n bytes;
 *  - every prefix of a whole record is short, never whole;
 *  - a record that decodes encodes back to the very same bytes (nothing read
 *    that was not written, nothing lost);
 *  - the records are walked as the mover walks them, to the first that is
 *    not whole.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "intake.h"

static uint8_t again[VG_INTAKE_HEADER + VG_INTAKE_RECORD_MAX];
static char scratch[VG_INTAKE_HEADER + VG_INTAKE_RECORD_MAX + 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 0;
	while (at < size) {
		size_t len = 0;
		int what = vg_intake_check(data + at, size - at, &len);
		FUZZ_CHECK(what == VG_INTAKE_WHOLE || what == VG_INTAKE_SHORT || what == VG_INTAKE_BAD);
		if (what != VG_INTAKE_WHOLE)
			break;
		FUZZ_CHECK(len >= VG_INTAKE_HEADER && len <= size - at);
		size_t plen;
		for (size_t k = 0; k < len; k += 1 + len / 16)
			FUZZ_CHECK(vg_intake_check(data + at, k, &plen) != VG_INTAKE_WHOLE);
		struct vg_intake_rec r;
		if (vg_intake_decode(data + at, len, &r, scratch, len + 64) == VG_OK) {
			size_t n = vg_intake_encode(&r, again, sizeof again);
			FUZZ_CHECK(n == len && memcmp(again, data + at, len) == 0);
		}
		at += len;
	}
	return 0;
}
