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

extern const struct vg_driver vg_driver_hid;

static const char *const fields[] = { "member_code", "customer_id", "loyalty_id", "member_code" };
static const char *const reasons[] = { "too_long", "line_noise", "bad_utf8", "bad_payload", "timeout",
                                       "no_memory", NULL };

struct run {
	const char *field;
	int aim;
	size_t max_len;
	char *log;          /* every frame, serialized, to compare two runs */
	size_t len, cap;
};

static void log_append(struct run *r, const void *p, size_t n)
{
	if (r->len + n > r->cap) {
		size_t cap = (r->cap ? r->cap * 2 : 4096) + n;
		char *nl = realloc(r->log, cap);
		FUZZ_CHECK(nl != NULL);
		r->log = nl;
		r->cap = cap;
	}
	memcpy(r->log + r->len, p, n);
	r->len += n;
}

static void check_event(const struct run *r, const struct vg_frame *f)
{
	FUZZ_CHECK(f->json != NULL && f->json_len > 0);
	FUZZ_CHECK(f->token == 0);
	cJSON *o = cJSON_ParseWithLength(f->json, f->json_len);
	FUZZ_CHECK(cJSON_IsObject(o) && cJSON_GetArraySize(o) == 3);
	cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	FUZZ_CHECK(cJSON_IsString(type) && strcmp(type->valuestring, "checkin.scanned") == 0);
	cJSON *person = cJSON_GetObjectItemCaseSensitive(o, "person");
	FUZZ_CHECK(cJSON_IsObject(person) && cJSON_GetArraySize(person) == 1);
	cJSON *code = cJSON_GetObjectItemCaseSensitive(person, r->field);
	FUZZ_CHECK(cJSON_IsString(code));
	size_t n = strlen(code->valuestring);
	FUZZ_CHECK(n >= 1 && n <= r->max_len);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)code->valuestring[i];
		FUZZ_CHECK(c >= 0x20 && c < 0x7f);
	}
	cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
	FUZZ_CHECK(cJSON_IsObject(props));
	cJSON *source = cJSON_GetObjectItemCaseSensitive(props, "source");
	FUZZ_CHECK(cJSON_IsString(source) && strcmp(source->valuestring, "hid") == 0);
	cJSON *sym = cJSON_GetObjectItemCaseSensitive(props, "symbology");
	FUZZ_CHECK(cJSON_GetArraySize(props) == (sym ? 2 : 1));
	if (sym)
		FUZZ_CHECK(r->aim && cJSON_IsString(sym) && strlen(sym->valuestring) == 3);
	cJSON_Delete(o);
}

static void on_frame(void *ud, const struct vg_frame *f)
{
	struct run *r = ud;
	if (f->kind == VG_FRAME_EVENT) {
		check_event(r, f);
		log_append(r, "E", 1);
		log_append(r, f->json, f->json_len);
		log_append(r, "\n", 1);
		return;
	}
	FUZZ_CHECK(f->kind == VG_FRAME_BAD);
	FUZZ_CHECK(f->reason != NULL && f->detail != NULL && f->detail[0] != '\0');
	int known = 0;
	for (int i = 0; reasons[i]; i++)
		known |= strcmp(f->reason, reasons[i]) == 0;
	FUZZ_CHECK(known);
	FUZZ_CHECK(f->size >= 1);
	char buf[64];
	int n = snprintf(buf, sizeof buf, "B%s:%zu\n", f->reason, f->size);
	log_append(r, buf, (size_t)n);
}

static void on_send(void *ud, const uint8_t *bytes, size_t n)
{
	(void)ud;
	(void)bytes;
	(void)n;
	FUZZ_CHECK(!"the hid driver sent bytes");
}

/* Feed s[0..n) to a fresh driver in reads of chunk bytes (0: one read, no
 * time passing); read k happens (clock[k % nclock] % 4) * 20 ms after the
 * one before. */
static void run(struct run *r, const struct vg_driver_opt *opts, size_t nopts,
                const uint8_t *s, size_t n, size_t chunk, const uint8_t *clock, size_t nclock)
{
	void *state = calloc(1, vg_driver_hid.state_size);
	FUZZ_CHECK(state != NULL);
	char err[256];
	FUZZ_CHECK(vg_driver_hid.init(state, opts, nopts, err, sizeof err) == VG_OK);
	const struct vg_driver_sink sink = { .ud = r, .frame = on_frame, .send = on_send };
	int64_t now = 1000;

	if (chunk == 0) {
		vg_driver_hid.feed(state, s, n, now, &sink);
	} else {
		for (size_t i = 0, j = 0; i < n; i += chunk, j++) {
			size_t k = n - i < chunk ? n - i : chunk;
			now += nclock ? (clock[j % nclock] % 4) * 20 : 0;
			uint8_t *part = malloc(k);
			FUZZ_CHECK(part != NULL);
			memcpy(part, s + i, k);
			vg_driver_hid.feed(state, part, k, now, &sink);
			free(part);
			int64_t next = vg_driver_hid.tick(state, now, &sink);
			FUZZ_CHECK(next == -1 || next > now);
		}
		now += 100000;
		FUZZ_CHECK(vg_driver_hid.tick(state, now, &sink) == -1);
	}
	FUZZ_CHECK(vg_driver_hid.settle == NULL);   /* no replies to send */
	vg_driver_hid.fini(state);
	free(state);
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

	struct run a = { .field = fields[o >> 6], .aim = (o & 2) != 0, .max_len = (o & 8) ? 8 : 256 };
	struct run b = a;
	run(&a, opts, nopts, bytes, nbytes, 1 + (size_t)((p >> 1) % 32), in, n);
	if (tmode == 0 || tmode == 3) {
		run(&b, opts, nopts, bytes, nbytes, 0, in, n);
		FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.log, b.log, a.len) == 0));
	}
	free(bytes);
	free(a.log);
	free(b.log);
	return 0;
}
