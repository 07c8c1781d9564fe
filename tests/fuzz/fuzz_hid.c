/* venuegw — fuzz target: the evdev keyboard-wedge driver (drivers/hid.c,
 * with the line framing of drivers/scanner_line.c).
 *
 * Input: two parameter bytes, then the events.
 *   byte 0: the options —
 *     bit 0     keymap de (else us)
 *     bit 1     aim on
 *     bit 2     prefix "$" (else none)
 *     bit 3     max_len 8 (else the default, 256)
 *     bits 4-5  0, 3: no timeout; 1: timeout_ms 50; 2: terminator none, timeout_ms 50
 *     bits 6-7  field member_code | customer_id | loyalty_id (3: member_code)
 *   byte 1: bit 0 — raw: the rest is fed as it is (struct input_event bytes);
 *     else compact: every 3 bytes (t, c, v) make one record:
 *       type  = t % 4 < 2 ? EV_KEY : t % 4 == 2 ? EV_SYN : t >> 2,
 *       code  = c (with t bit 7: c + 256), value = v % 4 (v 0xff: -1).
 *     Bits 1-5: the record bytes are fed in reads of 1 + (b >> 1) % 32 bytes,
 *     cutting records anywhere; read k happens (data[2 + k % (size - 2)] % 4) * 20 ms
 *     after the one before (cyclically), and tick() runs after it.
 * Seeds: tests/fuzz/corpus/fuzz_hid/ (compact).
 *
 * Invariants:
 *  - every EVENT frame is a JSON object that cJSON parses, with type
 *    "checkin.scanned", person holding exactly the configured field as a
 *    non-empty string of printable ASCII (the keymaps type nothing else) of at
 *    most max_len bytes, properties.source "hid", a symbology only with aim
 *    on; token 0;
 *  - every BAD frame has a known reason, a detail, and drops ≥ 1 key;
 *  - the driver never sends; tick returns -1 or a time after now;
 *  - without a timeout, how the bytes are cut into reads does not matter.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/input.h>

#include <cjson/cJSON.h>

#include "driver.h"
#include "err.h"
#include "fuzz.h"
#include "fuzz_line.h"

extern const struct vg_driver vg_driver_hid;

static const char *const fields[] = { "member_code", "customer_id", "loyalty_id", "member_code" };
/* The hid driver's own checks of an EVENT (fuzz_line_event made the
 * others): the keymaps type nothing but printable ASCII. */
static void check_event(const struct fuzz_line *r, const cJSON *o, const char *code, size_t n,
                        const cJSON *sym)
{
	(void)r;
	(void)o;
	(void)sym;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)code[i];
		FUZZ_CHECK(c >= 0x20 && c < 0x7f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t o = data[0], p = data[1];
	const int tmode = (o >> 4) & 3;
	struct vg_driver_opt opts[7];
	size_t nopts = 0;
	opts[nopts++] = (struct vg_driver_opt){ "keymap", (o & 1) ? "de" : "us" };
	opts[nopts++] = (struct vg_driver_opt){ "aim", (o & 2) ? "on" : "off" };
	if (o & 4)
		opts[nopts++] = (struct vg_driver_opt){ "prefix", "$" };
	if (o & 8)
		opts[nopts++] = (struct vg_driver_opt){ "max_len", "8" };
	if (tmode == 1 || tmode == 2)
		opts[nopts++] = (struct vg_driver_opt){ "timeout_ms", "50" };
	if (tmode == 2)
		opts[nopts++] = (struct vg_driver_opt){ "terminator", "none" };
	opts[nopts++] = (struct vg_driver_opt){ "field", fields[o >> 6] };

	/* The bytes of the records. */
	const uint8_t *in = data + 2;
	size_t n = size - 2;
	uint8_t *bytes;
	size_t nbytes;
	if (p & 1) {
		bytes = malloc(n ? n : 1);
		FUZZ_CHECK(bytes != NULL);
		memcpy(bytes, in, n);
		nbytes = n;
	} else {
		size_t nrec = n / 3;
		nbytes = nrec * sizeof(struct input_event);
		bytes = malloc(nbytes ? nbytes : 1);
		FUZZ_CHECK(bytes != NULL);
		for (size_t i = 0; i < nrec; i++) {
			const uint8_t t = in[3 * i], c = in[3 * i + 1], v = in[3 * i + 2];
			struct input_event ev;
			memset(&ev, 0, sizeof ev);
			ev.type = (unsigned short)(t % 4 < 2 ? EV_KEY : t % 4 == 2 ? EV_SYN : t >> 2);
			ev.code = (unsigned short)(c + ((t & 0x80) ? 256 : 0));
			ev.value = v == 0xff ? -1 : v % 4;
			memcpy(bytes + i * sizeof ev, &ev, sizeof ev);
		}
	}

	struct fuzz_line a = { .field = fields[o >> 6], .aim = (o & 2) != 0, .max_len = (o & 8) ? 8 : 256,
	                       .source = "hid", .check_event = check_event };
	struct fuzz_line b = a;
	/* Read k happens (in[k % n] % 4) * 20 ms after the one before. */
	fuzz_line_run(&vg_driver_hid, &a, opts, nopts, bytes, nbytes, 1 + (size_t)((p >> 1) % 32), in, n, 1);
	if (tmode == 0 || tmode == 3) {
		fuzz_line_run(&vg_driver_hid, &b, opts, nopts, bytes, nbytes, 0, in, n, 1);
		fuzz_log_same(&a.log, &b.log);
	}
	free(bytes);
	free(a.log.buf);
	free(b.log.buf);
	return 0;
}
