/* venuegw — the line assembly shared by the scanner and hid drivers
 * (DESIGN.md §7): characters in, one checkin.scanned event per code out.
 *
 * A driver decodes its transport (serial bytes with CR/LF terminators, or
 * evdev key codes) into three calls: vg_scanline_byte() for each character
 * of a code, vg_scanline_noise() for something that can be no part of one,
 * and vg_scanline_end() at a terminator.  The line then strips the prefix and
 * the AIM symbology identifier, checks the code (printable UTF-8, at most
 * max_len bytes) and hands the sink either an EVENT frame
 *
 *   {"type":"checkin.scanned","person":{"member_code":"<code>"},
 *    "properties":{"source":"scanner"[,"symbology":"]Q1"]}}
 *
 * or a BAD frame ("too_long", "line_noise", "bad_utf8", "bad_payload",
 * "timeout").  An empty line (a bare terminator) gives nothing.  The event
 * has no occurred_at: a driver has only monotonic time; the daemon adds it.
 *
 * Pure and allocation-free apart from cJSON's nodes for one event: the whole
 * state is plain data inside the driver's state (which the daemon zeroes),
 * and the raw bytes of a code are wiped as soon as it is handed over. */
#ifndef VG_SCANNER_LINE_H
#define VG_SCANNER_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"

#define VG_SCANLINE_MAX_LEN 4096      /* hard maximum of max_len */
#define VG_SCANLINE_DEFAULT_LEN 256   /* default max_len */
#define VG_SCANLINE_PREFIX_MAX 16     /* bytes of prefix, after escapes */
#define VG_SCANLINE_AIM_LEN 3         /* "]" + code character + modifier */
/* Raw bytes kept of one line: prefix, AIM id, code, and a NUL. */
#define VG_SCANLINE_BUF (VG_SCANLINE_PREFIX_MAX + VG_SCANLINE_AIM_LEN + VG_SCANLINE_MAX_LEN + 1)
/* The JSON text of one event: the code escaped (at most 2 bytes per byte,
 * since control bytes are refused) plus the fixed parts. */
#define VG_SCANLINE_JSON_MAX (2 * VG_SCANLINE_MAX_LEN + 256)

enum vg_scan_field {
	VG_SCAN_MEMBER_CODE = 0,   /* person.member_code (the default) */
	VG_SCAN_CUSTOMER_ID = 1,   /* person.customer_id */
	VG_SCAN_LOYALTY_ID = 2,    /* person.loyalty_id */
};

/* Plain data; set by vg_scanline_cfg_init() and vg_scanline_option(). */
struct vg_scanline_cfg {
	const char *source;        /* properties.source: "scanner", "hid" (static) */
	uint8_t prefix[VG_SCANLINE_PREFIX_MAX];
	size_t prefix_len;         /* 0: no prefix */
	int aim;                   /* strip and report an AIM symbology id */
	int max_len;               /* 1..VG_SCANLINE_MAX_LEN bytes of code */
	int field;                 /* enum vg_scan_field */
	int timeout_ms;            /* inter-character timeout, 0 = none */
	/* Set by the driver: no terminator, a pause of timeout_ms ends a code
	 * (otherwise such a pause drops the partial code as "timeout"). */
	int pause_ends;
};

/* Plain data, embedded in a driver's state. */
struct vg_scanline {
	struct vg_scanline_cfg cfg;
	size_t len;                /* bytes kept in buf */
	size_t seen;               /* bytes (or keys) of this line, kept or not */
	int noise;                 /* 1: something that cannot be in a code was seen */
	int overflow;              /* 1: more bytes than fit were seen: too_long */
	int active;                /* 1: a line has started (seen > 0 or the driver touched it) */
	int64_t last_ms;           /* when the line last received something */
	uint8_t buf[VG_SCANLINE_BUF];
	char json[VG_SCANLINE_JSON_MAX];
};

/* Defaults: no prefix, aim off, max_len 256, member_code, no timeout.
 * source is borrowed for the life of the configuration (a literal). */
void vg_scanline_cfg_init(struct vg_scanline_cfg *cfg, const char *source);

/* Apply one option of the line: prefix, aim, max_len, field, timeout_ms.
 * Returns VG_OK; VG_ERR_NOTFOUND when key is not one of them (the caller
 * tries its own keys, then reports it as unknown); VG_ERR_CONFIG with
 * "key: what is wrong" in err for a bad value. */
int vg_scanline_option(struct vg_scanline_cfg *cfg, const char *key, const char *value,
                       char *err, size_t errsz);

/* Forget the current line and start with cfg (copied). */
void vg_scanline_reset(struct vg_scanline *l, const struct vg_scanline_cfg *cfg);

/* One byte of a code (UTF-8, checked at the end of the line). */
void vg_scanline_byte(struct vg_scanline *l, uint8_t c, int64_t now_ms);

/* Something that can be no part of a code (a control byte, an unmapped key):
 * the line will be refused as "line_noise". */
void vg_scanline_noise(struct vg_scanline *l, int64_t now_ms);

/* Something that belongs to the line but is not a character (the CR of a
 * CRLF still waiting for its LF): it starts the line and its timeout, and is
 * not counted in the bytes dropped if the line is refused. */
void vg_scanline_touch(struct vg_scanline *l, int64_t now_ms);

/* A terminator: hand the line to sink (EVENT, BAD, or nothing when it was
 * empty) and start a new one. */
void vg_scanline_end(struct vg_scanline *l, const struct vg_driver_sink *sink);

/* The monotonic ms at which the current line times out, or -1. */
int64_t vg_scanline_deadline(const struct vg_scanline *l);

/* If the current line has timed out at now_ms, end it — a code when
 * cfg.pause_ends, else a BAD "timeout" frame (or the line's own fault) — and
 * return 1; else return 0. */
int vg_scanline_expire(struct vg_scanline *l, int64_t now_ms, const struct vg_driver_sink *sink);

/* Wipe the raw bytes of the current line (fini). */
void vg_scanline_wipe(struct vg_scanline *l);

#endif
