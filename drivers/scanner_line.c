/* The line assembly shared by the scanner and hid drivers (scanner_line.h). */
#include "scanner_line.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "err.h"

/* ---- options ------------------------------------------------------------ */

static const char *const field_names[] = { "member_code", "customer_id", "loyalty_id", NULL };
static const char *const aim_names[] = { "off", "on", NULL };

enum opt_type { O_INT, O_ENUM, O_PREFIX };

/* The options of a line, one row each: key, type, where, limits, one line of doc. */
static const struct opt {
	const char *key;
	enum opt_type type;
	size_t offset;
	long min, max;                    /* O_INT */
	const char *const *choices;       /* O_ENUM: the value is the index */
	const char *doc;
} opts[] = {
	{ "prefix", O_PREFIX, 0, 0, 0, NULL,
	  "bytes the scanner sends before each code (\\xNN escapes), stripped when present" },
	{ "aim", O_ENUM, offsetof(struct vg_scanline_cfg, aim), 0, 0, aim_names,
	  "strip a leading AIM id (\"]Q1\") and report it as properties.symbology" },
	{ "max_len", O_INT, offsetof(struct vg_scanline_cfg, max_len), 1, VG_SCANLINE_MAX_LEN, NULL,
	  "longest code in bytes; a longer line is refused as too_long" },
	{ "field", O_ENUM, offsetof(struct vg_scanline_cfg, field), 0, 0, field_names,
	  "the person field that receives the code" },
	{ "timeout_ms", O_INT, offsetof(struct vg_scanline_cfg, timeout_ms), 0, 60000, NULL,
	  "inter-character timeout in ms, 0 = none" },
};

void vg_scanline_cfg_init(struct vg_scanline_cfg *cfg, const char *source)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->source = source;
	cfg->aim = 0;
	cfg->max_len = VG_SCANLINE_DEFAULT_LEN;
	cfg->field = VG_SCAN_MEMBER_CODE;
	cfg->timeout_ms = 0;
}

/* "\x02MB" → 02 4d 42.  Escapes: \xNN and \\.  Returns NULL or what is wrong. */
static const char *parse_prefix(const char *value, uint8_t *out, size_t *outlen)
{
	size_t n = 0;
	for (const char *p = value; *p; ) {
		int c;
		if (*p == '\\') {
			if (p[1] == '\\') {
				c = '\\';
				p += 2;
			} else if (p[1] == 'x' && vg_hexval(p[2]) >= 0 && vg_hexval(p[3]) >= 0) {
				c = vg_hexval(p[2]) * 16 + vg_hexval(p[3]);
				p += 4;
			} else {
				return "unknown escape (use \\xNN with two hex digits, or \\\\)";
			}
		} else {
			c = (unsigned char)*p++;
		}
		if (n == VG_SCANLINE_PREFIX_MAX)
			return "longer than 16 bytes";
		out[n++] = (uint8_t)c;
	}
	*outlen = n;
	return NULL;
}

int vg_scanline_option(struct vg_scanline_cfg *cfg, const char *key, const char *value,
                       char *err, size_t errsz)
{
	const struct opt *o = NULL;
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (strcmp(opts[i].key, key) == 0)
			o = &opts[i];
	if (!o)
		return VG_ERR_NOTFOUND;
	if (!value)
		value = "";

	switch (o->type) {
	case O_PREFIX: {
		uint8_t buf[VG_SCANLINE_PREFIX_MAX];
		size_t n = 0;
		const char *why = parse_prefix(value, buf, &n);
		if (why) {
			snprintf(err, errsz, "%s: %s", key, why);
			return VG_ERR_CONFIG;
		}
		memcpy(cfg->prefix, buf, n);
		cfg->prefix_len = n;
		return VG_OK;
	}
	case O_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < o->min || v > o->max) {
			snprintf(err, errsz, "%s: must be a whole number in %ld..%ld", key, o->min, o->max);
			return VG_ERR_CONFIG;
		}
		*(int *)(void *)((char *)cfg + o->offset) = (int)v;
		return VG_OK;
	}
	case O_ENUM: {
		char list[96] = "";
		for (int i = 0; o->choices[i]; i++) {
			if (strcmp(value, o->choices[i]) == 0) {
				*(int *)(void *)((char *)cfg + o->offset) = i;
				return VG_OK;
			}
			if (i)
				strncat(list, " | ", sizeof list - strlen(list) - 1);
			strncat(list, o->choices[i], sizeof list - strlen(list) - 1);
		}
		snprintf(err, errsz, "%s: must be one of: %s", key, list);
		return VG_ERR_CONFIG;
	}
	}
	return VG_ERR_NOTFOUND;
}

/* ---- the line ----------------------------------------------------------- */

void vg_scanline_reset(struct vg_scanline *l, const struct vg_scanline_cfg *cfg)
{
	vg_wipe(l->buf, l->len < sizeof l->buf ? l->len + 1 : sizeof l->buf);
	l->cfg = *cfg;
	l->len = 0;
	l->seen = 0;
	l->noise = 0;
	l->overflow = 0;
	l->active = 0;
	l->last_ms = 0;
}

/* Bytes kept of a line: enough for the prefix, an AIM id and max_len bytes
 * of code; a line that does not fit is too long whatever it holds. */
static size_t line_cap(const struct vg_scanline_cfg *cfg)
{
	return cfg->prefix_len + (cfg->aim ? VG_SCANLINE_AIM_LEN : 0) + (size_t)cfg->max_len;
}

void vg_scanline_byte(struct vg_scanline *l, uint8_t c, int64_t now_ms)
{
	if (l->len < line_cap(&l->cfg))
		l->buf[l->len++] = c;
	else
		l->overflow = 1;
	l->seen++;
	l->active = 1;
	l->last_ms = now_ms;
}

void vg_scanline_noise(struct vg_scanline *l, int64_t now_ms)
{
	l->noise = 1;
	l->seen++;
	l->active = 1;
	l->last_ms = now_ms;
}

void vg_scanline_touch(struct vg_scanline *l, int64_t now_ms)
{
	l->active = 1;
	l->last_ms = now_ms;
}

int64_t vg_scanline_deadline(const struct vg_scanline *l)
{
	if (!l->active || l->cfg.timeout_ms <= 0)
		return -1;
	return l->last_ms + l->cfg.timeout_ms;
}

void vg_scanline_wipe(struct vg_scanline *l)
{
	vg_wipe(l->buf, sizeof l->buf);
	vg_wipe(l->json, sizeof l->json);
	l->len = 0;
	l->seen = 0;
	l->noise = 0;
	l->overflow = 0;
	l->active = 0;
}

/* Which fault, if any, the code bytes s[0..n) have: NULL when they are
 * printable UTF-8, else the BAD reason.  Control characters (C0, DEL, C1)
 * are "line_noise"; malformed UTF-8 (stray continuation bytes, overlong
 * forms, surrogates, values past U+10FFFF, a truncated sequence) is
 * "bad_utf8". */
static const char *check_code(const uint8_t *s, size_t n)
{
	const char *fault = NULL;
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return "line_noise";
			i++;
			continue;
		}
		size_t need;
		uint32_t cp, min;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1fu;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0fu;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07u;
			min = 0x10000;
		} else {
			if (!fault)
				fault = "bad_utf8";
			i++;
			continue;
		}
		size_t j = 1;
		for (; j <= need && i + j < n && (s[i + j] & 0xc0) == 0x80; j++)
			cp = (cp << 6) | (s[i + j] & 0x3fu);
		if (j <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			if (!fault)
				fault = "bad_utf8";
			i += j;
			continue;
		}
		if (cp >= 0x80 && cp <= 0x9f)
			return "line_noise";
		i += need + 1;
	}
	return fault;
}

static void bad(const struct vg_driver_sink *sink, const char *reason, size_t size, const char *detail)
{
	struct vg_frame f = { .kind = VG_FRAME_BAD, .reason = reason, .size = size, .detail = detail };
	sink->frame(sink->ud, &f);
}

static const char *detail_of(const char *reason)
{
	if (strcmp(reason, "line_noise") == 0)
		return "a control character or unmapped key inside a code; dropped up to the next terminator";
	if (strcmp(reason, "bad_utf8") == 0)
		return "a code that is not valid UTF-8; dropped up to the next terminator";
	return "bad code";
}

/* Build the event for code (NUL-terminated, checked) and hand it to sink. */
static void emit(struct vg_scanline *l, const char *code, const char *symbology,
                 const struct vg_driver_sink *sink)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *val = NULL;
	int ok = o && cJSON_AddStringToObject(o, "type", "checkin.scanned");
	cJSON *person = ok ? cJSON_AddObjectToObject(o, "person") : NULL;
	if (person)
		val = cJSON_AddStringToObject(person, field_names[l->cfg.field], code);
	cJSON *props = val ? cJSON_AddObjectToObject(o, "properties") : NULL;
	ok = props && cJSON_AddStringToObject(props, "source", l->cfg.source) &&
	     (!symbology || cJSON_AddStringToObject(props, "symbology", symbology));
	if (ok)
		ok = cJSON_PrintPreallocated(o, l->json, (int)sizeof l->json, 0);
	if (val && val->valuestring)
		vg_wipe(val->valuestring, strlen(val->valuestring));
	cJSON_Delete(o);
	if (!ok) {
		vg_wipe(l->json, sizeof l->json);   /* a partial print */
		bad(sink, "no_memory", l->seen, "out of memory while building the event; one code lost");
		return;
	}
	struct vg_frame f = { .kind = VG_FRAME_EVENT, .json = l->json, .json_len = strlen(l->json) };
	sink->frame(sink->ud, &f);
	vg_wipe(l->json, f.json_len);
}

static int is_alpha(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_alnum(uint8_t c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* End the line: timed_out says a pause ended it while a terminator was
 * expected (a good partial line is then refused as "timeout"). */
static void finish(struct vg_scanline *l, int timed_out, const struct vg_driver_sink *sink)
{
	const size_t seen = l->seen;
	const uint8_t *s = l->buf;
	size_t n = l->len;

	if (l->overflow) {
		bad(sink, "too_long", seen, "a line longer than max_len; dropped up to the next terminator");
		goto done;
	}
	if (l->noise) {
		bad(sink, "line_noise", seen, detail_of("line_noise"));
		goto done;
	}
	if (timed_out) {
		if (seen)
			bad(sink, "timeout", seen, "a partial code with no terminator within timeout_ms; dropped");
		goto done;
	}
	if (n == 0)
		goto done;          /* a bare terminator: nothing to say */

	if (l->cfg.prefix_len && n >= l->cfg.prefix_len &&
	    memcmp(s, l->cfg.prefix, l->cfg.prefix_len) == 0) {
		s += l->cfg.prefix_len;
		n -= l->cfg.prefix_len;
	}
	const char *fault = check_code(s, n);
	if (fault) {
		bad(sink, fault, seen, detail_of(fault));
		goto done;
	}
	char sym[VG_SCANLINE_AIM_LEN + 1];
	int has_sym = 0;
	if (l->cfg.aim && n >= VG_SCANLINE_AIM_LEN && s[0] == ']' && is_alpha(s[1]) && is_alnum(s[2])) {
		memcpy(sym, s, VG_SCANLINE_AIM_LEN);
		sym[VG_SCANLINE_AIM_LEN] = '\0';
		has_sym = 1;
		s += VG_SCANLINE_AIM_LEN;
		n -= VG_SCANLINE_AIM_LEN;
	}
	if (n == 0) {
		bad(sink, "bad_payload", seen, "a line with a prefix or symbology id but no code");
		goto done;
	}
	if (n > (size_t)l->cfg.max_len) {
		bad(sink, "too_long", seen, "a code longer than max_len");
		goto done;
	}
	/* s lies inside buf, which has room for the NUL. */
	char *code = (char *)l->buf + (s - l->buf);
	code[n] = '\0';
	emit(l, code, has_sym ? sym : NULL, sink);

done:
	vg_wipe(l->buf, l->len + 1 < sizeof l->buf ? l->len + 1 : sizeof l->buf);
	l->len = 0;
	l->seen = 0;
	l->noise = 0;
	l->overflow = 0;
	l->active = 0;
}

void vg_scanline_end(struct vg_scanline *l, const struct vg_driver_sink *sink)
{
	finish(l, 0, sink);
}

int vg_scanline_expire(struct vg_scanline *l, int64_t now_ms, const struct vg_driver_sink *sink)
{
	int64_t d = vg_scanline_deadline(l);
	if (d < 0 || now_ms < d)
		return 0;
	finish(l, !l->cfg.pause_ends, sink);
	return 1;
}
