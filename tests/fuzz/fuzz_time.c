/* venuegw — fuzz target: vg_time_parse and vg_time_format (event.h).
 *
 * Input: the text to parse (NUL-terminated copy of the bytes; a NUL inside
 * ends it, as it would in a C string).
 *
 * Invariants:
 *  - a parse that succeeds sets has_offset to 0 or 1;
 *  - with an offset, and within years 0000..9999 (UTC), formatting the result
 *    and parsing that gives the same epoch ms (the format has milliseconds;
 *    the parser truncates finer digits);
 *  - without an offset, the same text with "Z" appended parses to the same
 *    value, now with an offset;
 *  - vg_time_format of any int64 (the input's first 8 bytes) is 24
 *    characters that parse back, with an offset, to the value clamped to
 *    years 0000..9999.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "event.h"
#include "fuzz.h"

static int64_t lo_ms, hi_ms;

static void init_range(void)
{
	int ho;
	if (lo_ms || hi_ms)
		return;
	FUZZ_CHECK(vg_time_parse("0000-01-01T00:00:00.000Z", &lo_ms, &ho) == VG_OK && ho);
	FUZZ_CHECK(vg_time_parse("9999-12-31T23:59:59.999Z", &hi_ms, &ho) == VG_OK && ho);
}

static void check_format(int64_t v)
{
	char buf[25];
	int64_t t;
	int ho;
	memset(buf, 'x', sizeof buf);
	vg_time_format(v, buf);
	FUZZ_CHECK(buf[24] == '\0' && strlen(buf) == 24);
	FUZZ_CHECK(vg_time_parse(buf, &t, &ho) == VG_OK);
	FUZZ_CHECK(ho == 1);
	FUZZ_CHECK(t == (v < lo_ms ? lo_ms : v > hi_ms ? hi_ms : v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_range();

	/* +2: room for the "Z" test; exactly sized otherwise, for ASan. */
	char *s = malloc(size + 2);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	int64_t t = 0;
	int ho = -1;
	if (vg_time_parse(s, &t, &ho) == VG_OK) {
		FUZZ_CHECK(ho == 0 || ho == 1);
		if (ho && t >= lo_ms && t <= hi_ms) {
			check_format(t);
		} else if (!ho) {
			size_t n = strlen(s);
			int64_t tz;
			int hz = -1;
			s[n] = 'Z';
			s[n + 1] = '\0';
			FUZZ_CHECK(vg_time_parse(s, &tz, &hz) == VG_OK);
			FUZZ_CHECK(hz == 1 && tz == t);
		}
	}

	if (size >= 8) {
		uint64_t u = 0;
		for (int i = 0; i < 8; i++)
			u = u << 8 | data[i];
		check_format((int64_t)u);
	}
	free(s);
	return 0;
}
