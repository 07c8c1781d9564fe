/* venuegw — fuzz target: the serial scanner driver (drivers/scanner.c and
 * its line framing, drivers/scanner_line.c) on arbitrary bytes.
 *
 * Input: two parameter bytes, then the bytes of the serial line.
 *   byte 0: the options —
 *     bits 0-1  terminator cr | lf | crlf | none
 *     bit 2     aim on
 *     bit 3     prefix "\x02>" (else none)
 *     bit 4     max_len 8 (else the default, 256)
 *     bit 5     timeout_ms 50 (always with terminator none)
 *     bits 6-7  field member_code | customer_id | loyalty_id (3: member_code)
 *   byte 1: the stream is fed in reads of 1 + (b % 32) bytes; each read
 *     happens (its first byte % 4) * 20 ms after the one before, and tick()
 *     runs after it.
 * Seeds: tests/fuzz/corpus/fuzz_scanner/.
 *
 * Invariants:
 *  - every EVENT frame is a JSON object that cJSON parses, with type
 *    "checkin.scanned", person holding exactly the configured field as a
 *    non-empty string of printable UTF-8 (no C0, DEL or C1) of at most
 *    max_len bytes, properties.source "scanner", and a symbology (only with
 *    aim on) of "]" and 2 characters; token 0;
 *  - every BAD frame has a known reason, a detail, and drops ≥ 1 byte;
 *  - the driver never sends; tick returns -1 or a time after now;
 *  - without a timeout, how the stream is cut into reads does not matter:
 *    the frames equal those of one read of the whole stream.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "driver.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_line.h"

extern const struct vg_driver vg_driver_scanner;

static const char *const fields[] = { "member_code", "customer_id", "loyalty_id", "member_code" };
static const char *const terms[] = { "cr", "lf", "crlf", "none" };

/* s[0..n) is printable UTF-8: no C0, DEL or C1, well formed, no surrogates. */
static int printable_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; ) {
		unsigned c = s[i], need, cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return 0;
		for (unsigned j = 1; j <= need; j++) {
			if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* The scanner's own checks of an EVENT (fuzz_line_event made the others). */
static void check_event(const struct fuzz_line *r, const cJSON *o, const char *code, size_t n,
                        const cJSON *sym)
{
	(void)r;
	FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(o, "occurred_at") == NULL);
	FUZZ_CHECK(printable_utf8((const unsigned char *)code, n));
	if (sym)
		FUZZ_CHECK(sym->valuestring[0] == ']');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t o = data[0];
	const int term = o & 3;
	const int timeout = (o & 0x20) || term == 3;
	struct vg_driver_opt opts[6];
	size_t nopts = 0;
	opts[nopts++] = (struct vg_driver_opt){ "terminator", terms[term] };
	opts[nopts++] = (struct vg_driver_opt){ "aim", (o & 4) ? "on" : "off" };
	if (o & 8)
		opts[nopts++] = (struct vg_driver_opt){ "prefix", "\\x02>" };
	if (o & 0x10)
		opts[nopts++] = (struct vg_driver_opt){ "max_len", "8" };
	if (timeout)
		opts[nopts++] = (struct vg_driver_opt){ "timeout_ms", "50" };
	opts[nopts++] = (struct vg_driver_opt){ "field", fields[o >> 6] };

	struct fuzz_line a = { .field = fields[o >> 6], .aim = (o & 4) != 0, .max_len = (o & 0x10) ? 8 : 256,
	                       .source = "scanner", .check_event = check_event };
	struct fuzz_line b = a;
	const size_t chunk = 1 + data[1] % 32;
	/* Each read happens (its first byte % 4) * 20 ms after the one before. */
	fuzz_line_run(&vg_driver_scanner, &a, opts, nopts, data + 2, size - 2, chunk,
	              data + 2, size - 2, chunk);
	if (!timeout) {
		fuzz_line_run(&vg_driver_scanner, &b, opts, nopts, data + 2, size - 2, 0, NULL, 0, 0);
		fuzz_log_same(&a.log, &b.log);
	}
	free(a.log.buf);
	free(b.log.buf);
	return 0;
}
