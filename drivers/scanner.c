/* venuegw — driver "scanner": barcode and QR scanners on a serial line
 * (DESIGN.md §7).
 *
 * The scanner sends each code as [prefix][AIM id]code terminator.  Each code
 * becomes one checkin.scanned event (scanner_line.h has its JSON); a line
 * that cannot be a code is a BAD frame and the driver starts again after the
 * next terminator.  No replies: token is 0 and there is no settle.
 *
 * Options of [serial.NAME] (all optional):
 *   terminator = cr | lf | crlf | none   (cr)
 *       cr:   CR ends a code; an LF straight after the CR is its partner and
 *             is skipped, so a scanner that sends CRLF gives no empty codes.
 *       lf:   LF ends a code; a CR straight before it is skipped.
 *       crlf: CR LF ends a code (handed over at the CR, the LF skipped); a
 *             lone LF ends one too.
 *       none: a pause of timeout_ms ends a code (timeout_ms must be > 0).
 *     A CR or LF anywhere else is line noise.
 *   timeout_ms = 0..60000  (0 = off) inter-character timeout: with a
 *       terminator, a partial code older than this is dropped ("timeout").
 *   prefix = TEXT   bytes before each code, \xNN escapes (≤ 16 bytes);
 *       stripped when present.
 *   aim = on | off  (off) strip a leading AIM id ("]Q1") and report it as
 *       properties.symbology.
 *   max_len = 1..4096  (256) bytes of code; a longer line is "too_long".
 *   field = member_code | customer_id | loyalty_id  (member_code). */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "err.h"
#include "scanner_line.h"

enum term { T_CR, T_LF, T_CRLF, T_NONE };

static const char *const term_names[] = { "cr", "lf", "crlf", "none", NULL };

struct scanner {
	struct vg_scanline line;
	enum term term;
	int after_cr;     /* cr, crlf: the last byte was a CR that ended a code */
	int pending_cr;   /* lf: a CR that is part of the terminator if an LF follows */
};

static int scanner_init(void *state, const struct vg_driver_opt *opts, size_t nopts, char *err, size_t errsz)
{
	struct scanner *s = state;
	struct vg_scanline_cfg cfg;
	enum term term = T_CR;

	vg_scanline_cfg_init(&cfg, "scanner");
	for (size_t i = 0; i < nopts; i++) {
		const char *key = opts[i].key ? opts[i].key : "";
		const char *value = opts[i].value ? opts[i].value : "";
		int rc = vg_scanline_option(&cfg, key, value, err, errsz);
		if (rc == VG_OK)
			continue;
		if (rc != VG_ERR_NOTFOUND)
			return VG_ERR_CONFIG;
		if (strcmp(key, "terminator") == 0) {
			int found = 0;
			for (int t = 0; term_names[t]; t++) {
				if (strcmp(value, term_names[t]) == 0) {
					term = (enum term)t;
					found = 1;
				}
			}
			if (!found) {
				snprintf(err, errsz, "terminator: must be one of: cr | lf | crlf | none");
				return VG_ERR_CONFIG;
			}
			continue;
		}
		snprintf(err, errsz, "%s: unknown option of the scanner driver (prefix, terminator, "
		         "aim, timeout_ms, max_len, field)", key);
		return VG_ERR_CONFIG;
	}
	if (term == T_NONE && cfg.timeout_ms <= 0) {
		snprintf(err, errsz, "terminator: none needs timeout_ms > 0 (a pause ends a code)");
		return VG_ERR_CONFIG;
	}
	if (term != T_NONE && (memchr(cfg.prefix, '\r', cfg.prefix_len) || memchr(cfg.prefix, '\n', cfg.prefix_len))) {
		snprintf(err, errsz, "prefix: must not contain CR or LF (they end a code)");
		return VG_ERR_CONFIG;
	}
	cfg.pause_ends = term == T_NONE;

	memset(s, 0, sizeof *s);
	vg_scanline_reset(&s->line, &cfg);
	s->term = term;
	return VG_OK;
}

static void scanner_feed(void *state, const uint8_t *buf, size_t n, int64_t now_ms,
                         const struct vg_driver_sink *sink)
{
	struct scanner *s = state;
	struct vg_scanline *l = &s->line;

	/* The daemon may read after the deadline without a tick in between. */
	if (vg_scanline_expire(l, now_ms, sink))
		s->pending_cr = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t c = buf[i];
		if (s->term == T_NONE) {
			vg_scanline_byte(l, c, now_ms);
			continue;
		}
		if (c == '\r') {
			if (s->term == T_LF) {
				if (s->pending_cr)
					vg_scanline_noise(l, now_ms);   /* the earlier CR was stray */
				s->pending_cr = 1;
				vg_scanline_touch(l, now_ms);
			} else {
				vg_scanline_end(l, sink);
				s->after_cr = 1;
			}
			continue;
		}
		if (c == '\n') {
			if (s->term == T_LF) {
				s->pending_cr = 0;
				vg_scanline_end(l, sink);
			} else if (s->after_cr) {
				s->after_cr = 0;                     /* the LF of a CRLF */
			} else if (s->term == T_CRLF) {
				vg_scanline_end(l, sink);
			} else {
				vg_scanline_noise(l, now_ms);
			}
			continue;
		}
		s->after_cr = 0;
		if (s->pending_cr) {
			s->pending_cr = 0;
			vg_scanline_noise(l, now_ms);
		}
		vg_scanline_byte(l, c, now_ms);
	}
}

static int64_t scanner_tick(void *state, int64_t now_ms, const struct vg_driver_sink *sink)
{
	struct scanner *s = state;
	if (vg_scanline_expire(&s->line, now_ms, sink))
		s->pending_cr = 0;
	return vg_scanline_deadline(&s->line);
}

static void scanner_fini(void *state)
{
	struct scanner *s = state;
	vg_scanline_wipe(&s->line);
}

const struct vg_driver vg_driver_scanner = {
	.name = "scanner",
	.state_size = sizeof(struct scanner),
	.init = scanner_init,
	.feed = scanner_feed,
	.tick = scanner_tick,
	.fini = scanner_fini,
};
