/* gzip benchmark: zlib against libdeflate on batch bodies as the forwarder
 * sends them (DESIGN.md §8), in one run, on this machine.
 *
 * The bodies: batches of the default size (up to 2 500 events or 500 KB) of
 * Segment messages made by the real encoder (vg_encode_fragment) from
 * tokenized bodies shaped like prefill.py's rotation (check-ins, payments,
 * classes, orders, consent, device status), with tokens that look like HMAC
 * output (pseudo-random base64url).  Each compressor compresses every batch
 * `--rounds` times; the figures are the uncompressed MB per CPU second and
 * the ratio (compressed ÷ uncompressed).  Every libdeflate output is checked
 * by decompressing it with zlib (RFC 1952 framing).  Nothing is asserted
 * about speed.
 *
 *     build/tests/bench/gzip_bench [--events 20000] [--rounds 5]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libdeflate.h>
#include <zlib.h>

#include "digest.h"
#include "encode.h"
#include "err.h"
#include "event.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A token of kind: "v1.<kind>." and 22 pseudo-random base64url characters. */
static void token(const char *kind, char out[48])
{
	uint8_t b[16];
	for (int i = 0; i < 16; i += 8) {
		uint64_t r = next();
		memcpy(b + i, &r, 8);
	}
	char enc[32];
	vg_b64url(b, 16, enc);
	snprintf(out, 48, "v1.%s.%s", kind, enc);
}

static void iso(int64_t ms, char out[25])
{
	vg_time_format(ms, out);
}

/* The tokenized body of event i (prefill.py's rotation). */
static int body_for(long i, int64_t at_ms, char *out, size_t cap, unsigned *flags)
{
	char at[25], em[48], ph[48], pan[48];
	iso(at_ms, at);
	token("em", em);
	token("ph", ph);
	token("pan", pan);
	*flags = 0;
	if (i % 100 == 7)
		return snprintf(out, cap, "{\"id\":\"pf-%ld\",\"type\":\"consent.updated\",\"occurred_at\":\"%s\",\"seq\":%ld,"
		                "\"person\":{\"email\":\"%s\",\"customer_id\":\"MB-%ld\"},\"consent\":{\"marketing_email\":%s,"
		                "\"analytics\":true},\"properties\":{\"source\":\"kiosk\"}}",
		                i, at, i, em, i, i % 2 ? "false" : "true");
	if (i % 50 == 3)
		return snprintf(out, cap, "{\"id\":\"pf-%ld\",\"type\":\"device.status\",\"occurred_at\":\"%s\",\"seq\":%ld,"
		                "\"properties\":{\"battery\":%ld,\"firmware\":\"2.4.1\",\"uptime_s\":%ld}}",
		                i, at, i, 20 + i % 80, i);
	switch (i % 4) {
	case 0:
		*flags = 1u << 5; /* pii_dropped */
		return snprintf(out, cap, "{\"id\":\"pf-%ld\",\"type\":\"checkin.scanned\",\"occurred_at\":\"%s\",\"seq\":%ld,"
		                "\"person\":{\"email\":\"%s\",\"phone\":\"%s\",\"customer_id\":\"MB-%ld\"},"
		                "\"properties\":{\"location\":\"door-1\"}}", i, at, i, em, ph, i);
	case 1:
		return snprintf(out, cap, "{\"id\":\"pf-%ld\",\"type\":\"payment.succeeded\",\"occurred_at\":\"%s\",\"seq\":%ld,"
		                "\"person\":{\"phone\":\"%s\"},\"properties\":{\"amount_minor\":%ld,\"currency\":\"EUR\","
		                "\"note\":\"paid with card-1111:%s at till 2\"}}", i, at, i, ph, 100 + i % 9000, pan);
	case 2:
		return snprintf(out, cap, "{\"id\":\"pf-%ld\",\"type\":\"class.attended\",\"occurred_at\":\"%s\",\"seq\":%ld,"
		                "\"person\":{\"email\":\"%s\"},\"properties\":{\"class_id\":\"spin-0900\","
		                "\"comment\":\"booked at the desk\"}}", i, at, i, em);
	default:
		return snprintf(out, cap, "{\"id\":\"pf-%ld\",\"type\":\"pos.order.completed\",\"occurred_at\":\"%s\","
		                "\"seq\":%ld,\"person\":{\"loyalty_id\":\"L-%ld\"},\"properties\":{\"order_id\":\"O-%ld\","
		                "\"total_minor\":%ld,\"currency\":\"EUR\",\"card\":\"card-4444:%s\"}}",
		                i, at, i, i, i, 250 + i % 5000, pan);
	}
}

struct batch {
	char *text;
	size_t len;
};

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* gzip with zlib at level, as vg_gzip did before libdeflate (one deflate() pass). */
static size_t zlib_gzip(const struct batch *b, int level, uint8_t *out, size_t cap)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (Bytef *)b->text;
	zs.avail_in = (uInt)b->len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	int zr = deflate(&zs, Z_FINISH);
	size_t n = cap - zs.avail_out;
	deflateEnd(&zs);
	return zr == Z_STREAM_END ? n : 0;
}

static int gunzip_equal(const uint8_t *gz, size_t n, const struct batch *b, char *scratch, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return 0;
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)scratch;
	z.avail_out = (uInt)cap;
	int zr = inflate(&z, Z_FINISH);
	size_t got = cap - z.avail_out;
	inflateEnd(&z);
	return zr == Z_STREAM_END && got == b->len && memcmp(scratch, b->text, got) == 0;
}

int main(int argc, char **argv)
{
	long events = 20000;
	int rounds = 5;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--events") == 0)
			events = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = atoi(argv[i + 1]);
	}
	const struct vg_encode_ctx ctx = { .venue_id = "bench-venue-01", .gateway_id = "bench-venue-01-gw",
	                                   .library_version = VG_VERSION };
	static const char *const devices[] = { "pos-1", "pos-2", "kiosk-1", "scanner-1" };
	size_t nb = 0, capb = 0;
	struct batch *batches = NULL;
	char body[2048];
	int64_t now = 1795885392123LL;
	struct batch cur = { NULL, 0 };
	size_t curcap = 0;
	int in_batch = 0;
	for (long i = 0; i <= events; i++) {
		int flush = i == events || in_batch == VG_BATCH_MAX_EVENTS;
		char *frag = NULL;
		size_t flen = 0;
		if (i < events) {
			unsigned flags;
			int n = body_for(i, now - events + i, body, sizeof body, &flags);
			char key[VG_EVENT_KEY_LEN + 1];
			char id[32];
			snprintf(id, sizeof id, "pf-%ld", i);
			vg_event_key(ctx.venue_id, devices[i % 4], "id", id, strlen(id), key);
			struct vg_encode_event ev = { .event_key = key, .device_id = devices[i % 4], .body = body,
			                              .body_len = (size_t)n, .flags = flags, .received_at_ms = now };
			if (vg_encode_fragment(&ctx, &ev, &frag, &flen) != VG_OK) {
				fprintf(stderr, "cannot encode event %ld\n", i);
				return 1;
			}
			flush = flush || cur.len + flen + 64 > VG_BATCH_MAX_BYTES;
		}
		if (flush && in_batch) {
			memcpy(cur.text + cur.len, "],\"sentAt\":\"2026-11-28T17:03:12.123Z\"}", 38);
			cur.len += 38;
			if (nb == capb) {
				capb = capb ? capb * 2 : 16;
				batches = realloc(batches, capb * sizeof *batches);
			}
			batches[nb++] = cur;
			cur.text = NULL;
			cur.len = curcap = 0;
			in_batch = 0;
		}
		if (!frag)
			continue;
		if (!cur.text) {
			curcap = VG_BATCH_MAX_BYTES + 4096;
			cur.text = malloc(curcap);
			memcpy(cur.text, "{\"batch\":[", 10);
			cur.len = 10;
		} else {
			cur.text[cur.len++] = ',';
		}
		memcpy(cur.text + cur.len, frag, flen);
		cur.len += flen;
		in_batch++;
		cJSON_free(frag);
	}
	size_t total = 0;
	for (size_t i = 0; i < nb; i++)
		total += batches[i].len;
	printf("%ld events in %zu batches, %.1f MB uncompressed (%.0f bytes per event), %d rounds\n", events, nb,
	       (double)total / 1e6, (double)total / (double)events, rounds);
	size_t cap = VG_BATCH_MAX_BYTES * 2 + 4096;
	uint8_t *out = malloc(cap);
	char *scratch = malloc(cap);
	printf("%-22s %10s %8s %12s\n", "compressor", "MB/s", "ratio", "µs/event");

	for (int level = 1; level <= 9; level += (level == 1 ? 5 : 3)) {
		size_t comp = 0;
		double t0 = cpu_s();
		for (int r = 0; r < rounds; r++)
			for (size_t i = 0; i < nb; i++)
				comp += zlib_gzip(&batches[i], level, out, cap);
		double s = cpu_s() - t0;
		char name[32];
		snprintf(name, sizeof name, "zlib %d%s", level, level == 6 ? " (vg_gzip before)" : "");
		printf("%-22s %10.1f %8.4f %12.2f\n", name, (double)total * rounds / s / 1e6,
		       (double)comp / ((double)total * rounds), s * 1e6 / ((double)events * rounds));
	}
	static const int levels[] = { 1, 3, 4, 5, 6, 9 };
	for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
		struct libdeflate_compressor *c = libdeflate_alloc_compressor(levels[li]);
		if (!c)
			return 1;
		size_t comp = 0;
		double t0 = cpu_s();
		for (int r = 0; r < rounds; r++)
			for (size_t i = 0; i < nb; i++)
				comp += libdeflate_gzip_compress(c, batches[i].text, batches[i].len, out, cap);
		double s = cpu_s() - t0;
		/* RFC 1952: zlib reads every one back. */
		for (size_t i = 0; i < nb; i++) {
			size_t n = libdeflate_gzip_compress(c, batches[i].text, batches[i].len, out, cap);
			if (!n || !gunzip_equal(out, n, &batches[i], scratch, cap)) {
				fprintf(stderr, "libdeflate level %d: batch %zu does not read back with zlib\n", levels[li], i);
				return 1;
			}
		}
		libdeflate_free_compressor(c);
		char name[32];
		snprintf(name, sizeof name, "libdeflate %d%s", levels[li], levels[li] == 6 ? " (vg_gzip)" : "");
		printf("%-22s %10.1f %8.4f %12.2f\n", name, (double)total * rounds / s / 1e6,
		       (double)comp / ((double)total * rounds), s * 1e6 / ((double)events * rounds));
	}
	for (size_t i = 0; i < nb; i++)
		free(batches[i].text);
	free(batches);
	free(out);
	free(scratch);
	return 0;
}
