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

extern const struct vg_driver vg_driver_scanner;

static const char *const fields[] = { "member_code", "customer_id", "loyalty_id", "member_code" };
static const char *const terms[] = { "cr", "lf", "crlf", "none" };
static const char *const reasons[] = { "too_long", "line_noise", "bad_utf8", "bad_payload", "timeout",
                                       "no_memory", NULL };

struct run {
	const char *field;
	int aim;
	size_t max_len;
	/* Every frame, serialized: "E" json "\n" or "B" reason ":" size "\n". */
	char *log;
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

static void check_event(const struct run *r, const struct vg_frame *f)
{
	FUZZ_CHECK(f->json != NULL && f->json_len > 0);
	FUZZ_CHECK(f->token == 0);
	cJSON *o = cJSON_ParseWithLength(f->json, f->json_len);
	FUZZ_CHECK(cJSON_IsObject(o));
	cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	FUZZ_CHECK(cJSON_IsString(type) && strcmp(type->valuestring, "checkin.scanned") == 0);
	FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(o, "occurred_at") == NULL);
	cJSON *person = cJSON_GetObjectItemCaseSensitive(o, "person");
	FUZZ_CHECK(cJSON_IsObject(person) && cJSON_GetArraySize(person) == 1);
	cJSON *code = cJSON_GetObjectItemCaseSensitive(person, r->field);
	FUZZ_CHECK(cJSON_IsString(code));
	size_t n = strlen(code->valuestring);
	FUZZ_CHECK(n >= 1 && n <= r->max_len);
	FUZZ_CHECK(printable_utf8((const unsigned char *)code->valuestring, n));
	cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
	FUZZ_CHECK(cJSON_IsObject(props));
	cJSON *source = cJSON_GetObjectItemCaseSensitive(props, "source");
	FUZZ_CHECK(cJSON_IsString(source) && strcmp(source->valuestring, "scanner") == 0);
	cJSON *sym = cJSON_GetObjectItemCaseSensitive(props, "symbology");
	FUZZ_CHECK(cJSON_GetArraySize(props) == (sym ? 2 : 1));
	if (sym) {
		FUZZ_CHECK(r->aim);
		FUZZ_CHECK(cJSON_IsString(sym) && strlen(sym->valuestring) == 3 && sym->valuestring[0] == ']');
	}
	FUZZ_CHECK(cJSON_GetArraySize(o) == 3);
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
	FUZZ_CHECK(!"the scanner driver sent bytes");
}

/* Run the stream through a fresh driver, in reads of chunk bytes (0: one
 * read of everything, no time passing). */
static void run(struct run *r, const struct vg_driver_opt *opts, size_t nopts,
                const uint8_t *s, size_t n, size_t chunk)
{
	void *state = calloc(1, vg_driver_scanner.state_size);
	FUZZ_CHECK(state != NULL);
	char err[256];
	FUZZ_CHECK(vg_driver_scanner.init(state, opts, nopts, err, sizeof err) == VG_OK);
	const struct vg_driver_sink sink = { .ud = r, .frame = on_frame, .send = on_send };
	int64_t now = 1000;

	if (chunk == 0) {
		vg_driver_scanner.feed(state, s, n, now, &sink);
	} else {
		for (size_t i = 0; i < n; i += chunk) {
			size_t k = n - i < chunk ? n - i : chunk;
			now += (s[i] % 4) * 20;
			/* An exact-size copy: ASan sees any read past the read. */
			uint8_t *part = malloc(k);
			FUZZ_CHECK(part != NULL);
			memcpy(part, s + i, k);
			vg_driver_scanner.feed(state, part, k, now, &sink);
			free(part);
			int64_t next = vg_driver_scanner.tick(state, now, &sink);
			FUZZ_CHECK(next == -1 || next > now);
		}
		/* Let every timer run out. */
		now += 100000;
		FUZZ_CHECK(vg_driver_scanner.tick(state, now, &sink) == -1);
	}
	FUZZ_CHECK(vg_driver_scanner.settle == NULL);   /* no replies to send */
	vg_driver_scanner.fini(state);
	free(state);
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

	struct run a = { .field = fields[o >> 6], .aim = (o & 4) != 0, .max_len = (o & 0x10) ? 8 : 256 };
	struct run b = a;
	const size_t chunk = 1 + data[1] % 32;
	run(&a, opts, nopts, data + 2, size - 2, chunk);
	if (!timeout) {
		run(&b, opts, nopts, data + 2, size - 2, 0);
		FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.log, b.log, a.len) == 0));
	}
	free(a.log);
	free(b.log);
	return 0;
}
