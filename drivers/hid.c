/* venuegw — driver "hid": USB keyboard-wedge scanners read through evdev
 * (DESIGN.md §7).
 *
 * feed() gets the raw bytes read from /dev/input/eventN: consecutive struct
 * input_event records (24 bytes each on 64-bit Linux), cut anywhere between
 * reads.  Key presses (value 1, and autorepeat 2 as a press) go through a
 * keyboard layout with the state of Shift, Caps Lock, Ctrl, Alt and AltGr to
 * characters, and those into the scanner's line framing (scanner_line.h):
 * Enter or keypad Enter ends a code.  Releases, other event types and keys
 * that type nothing (F-keys, unknown codes) are ignored; a key that types
 * something that cannot be in a code (Tab, Backspace, an umlaut, a dead key,
 * Ctrl+key) makes the line "line_noise".  SYN_DROPPED (the kernel lost
 * events) does too, and forgets the modifiers.
 *
 * Options of [hid.NAME] (all optional):
 *   keymap = us | de   (us) the layout the scanner types for.  de is QWERTZ:
 *       Y and Z swapped, Shift+7 '/', Shift+0 '=', the key right of 0 is
 *       ß/?, AltGr+Q '@'; ß, umlauts, § and dead keys are line noise.
 *   terminator = enter | none  (enter) with none a pause of timeout_ms also
 *       ends a code (timeout_ms must then be > 0); Enter always does.
 *   prefix, aim, max_len, field, timeout_ms: as for the scanner driver. */
#include <stdio.h>
#include <string.h>

#include <linux/input.h>

#include "digest.h"
#include "driver.h"
#include "err.h"
#include "scanner_line.h"

#define REC_SIZE sizeof(struct input_event)
#define NOISE '\x01'   /* the key types something that is no part of a code */

/* What a key types: plain, with Shift, with AltGr.  0 in plain: the key
 * types nothing (ignored); 0 in altgr: AltGr + this key is noise. */
struct keydef {
	char plain, shift, altgr;
};

#define NKEYS (KEY_KPSLASH + 1)

static const struct keydef keys_us[NKEYS] = {
	[KEY_ESC] = { NOISE, NOISE, 0 },
	[KEY_1] = { '1', '!', 0 }, [KEY_2] = { '2', '@', 0 }, [KEY_3] = { '3', '#', 0 },
	[KEY_4] = { '4', '$', 0 }, [KEY_5] = { '5', '%', 0 }, [KEY_6] = { '6', '^', 0 },
	[KEY_7] = { '7', '&', 0 }, [KEY_8] = { '8', '*', 0 }, [KEY_9] = { '9', '(', 0 },
	[KEY_0] = { '0', ')', 0 }, [KEY_MINUS] = { '-', '_', 0 }, [KEY_EQUAL] = { '=', '+', 0 },
	[KEY_BACKSPACE] = { NOISE, NOISE, 0 }, [KEY_TAB] = { NOISE, NOISE, 0 },
	[KEY_Q] = { 'q', 'Q', 0 }, [KEY_W] = { 'w', 'W', 0 }, [KEY_E] = { 'e', 'E', 0 },
	[KEY_R] = { 'r', 'R', 0 }, [KEY_T] = { 't', 'T', 0 }, [KEY_Y] = { 'y', 'Y', 0 },
	[KEY_U] = { 'u', 'U', 0 }, [KEY_I] = { 'i', 'I', 0 }, [KEY_O] = { 'o', 'O', 0 },
	[KEY_P] = { 'p', 'P', 0 }, [KEY_LEFTBRACE] = { '[', '{', 0 }, [KEY_RIGHTBRACE] = { ']', '}', 0 },
	[KEY_A] = { 'a', 'A', 0 }, [KEY_S] = { 's', 'S', 0 }, [KEY_D] = { 'd', 'D', 0 },
	[KEY_F] = { 'f', 'F', 0 }, [KEY_G] = { 'g', 'G', 0 }, [KEY_H] = { 'h', 'H', 0 },
	[KEY_J] = { 'j', 'J', 0 }, [KEY_K] = { 'k', 'K', 0 }, [KEY_L] = { 'l', 'L', 0 },
	[KEY_SEMICOLON] = { ';', ':', 0 }, [KEY_APOSTROPHE] = { '\'', '"', 0 },
	[KEY_GRAVE] = { '`', '~', 0 }, [KEY_BACKSLASH] = { '\\', '|', 0 },
	[KEY_Z] = { 'z', 'Z', 0 }, [KEY_X] = { 'x', 'X', 0 }, [KEY_C] = { 'c', 'C', 0 },
	[KEY_V] = { 'v', 'V', 0 }, [KEY_B] = { 'b', 'B', 0 }, [KEY_N] = { 'n', 'N', 0 },
	[KEY_M] = { 'm', 'M', 0 }, [KEY_COMMA] = { ',', '<', 0 }, [KEY_DOT] = { '.', '>', 0 },
	[KEY_SLASH] = { '/', '?', 0 }, [KEY_SPACE] = { ' ', ' ', 0 },
	[KEY_102ND] = { '\\', '|', 0 },
	[KEY_KPASTERISK] = { '*', '*', 0 }, [KEY_KPMINUS] = { '-', '-', 0 },
	[KEY_KPPLUS] = { '+', '+', 0 }, [KEY_KPDOT] = { '.', '.', 0 }, [KEY_KPSLASH] = { '/', '/', 0 },
	[KEY_KP0] = { '0', '0', 0 }, [KEY_KP1] = { '1', '1', 0 }, [KEY_KP2] = { '2', '2', 0 },
	[KEY_KP3] = { '3', '3', 0 }, [KEY_KP4] = { '4', '4', 0 }, [KEY_KP5] = { '5', '5', 0 },
	[KEY_KP6] = { '6', '6', 0 }, [KEY_KP7] = { '7', '7', 0 }, [KEY_KP8] = { '8', '8', 0 },
	[KEY_KP9] = { '9', '9', 0 },
};

/* German QWERTZ (T1).  Only ASCII: ß, ä, ö, ü, §, °, ², ³, µ, € and the
 * dead keys (^ ´ `) are NOISE. */
static const struct keydef keys_de[NKEYS] = {
	[KEY_ESC] = { NOISE, NOISE, 0 },
	[KEY_1] = { '1', '!', 0 }, [KEY_2] = { '2', '"', NOISE }, [KEY_3] = { '3', NOISE, NOISE },
	[KEY_4] = { '4', '$', 0 }, [KEY_5] = { '5', '%', 0 }, [KEY_6] = { '6', '&', 0 },
	[KEY_7] = { '7', '/', '{' }, [KEY_8] = { '8', '(', '[' }, [KEY_9] = { '9', ')', ']' },
	[KEY_0] = { '0', '=', '}' }, [KEY_MINUS] = { NOISE, '?', '\\' },
	[KEY_EQUAL] = { NOISE, NOISE, 0 },
	[KEY_BACKSPACE] = { NOISE, NOISE, 0 }, [KEY_TAB] = { NOISE, NOISE, 0 },
	[KEY_Q] = { 'q', 'Q', '@' }, [KEY_W] = { 'w', 'W', 0 }, [KEY_E] = { 'e', 'E', NOISE },
	[KEY_R] = { 'r', 'R', 0 }, [KEY_T] = { 't', 'T', 0 }, [KEY_Y] = { 'z', 'Z', 0 },
	[KEY_U] = { 'u', 'U', 0 }, [KEY_I] = { 'i', 'I', 0 }, [KEY_O] = { 'o', 'O', 0 },
	[KEY_P] = { 'p', 'P', 0 }, [KEY_LEFTBRACE] = { NOISE, NOISE, 0 },
	[KEY_RIGHTBRACE] = { '+', '*', '~' },
	[KEY_A] = { 'a', 'A', 0 }, [KEY_S] = { 's', 'S', 0 }, [KEY_D] = { 'd', 'D', 0 },
	[KEY_F] = { 'f', 'F', 0 }, [KEY_G] = { 'g', 'G', 0 }, [KEY_H] = { 'h', 'H', 0 },
	[KEY_J] = { 'j', 'J', 0 }, [KEY_K] = { 'k', 'K', 0 }, [KEY_L] = { 'l', 'L', 0 },
	[KEY_SEMICOLON] = { NOISE, NOISE, 0 }, [KEY_APOSTROPHE] = { NOISE, NOISE, 0 },
	[KEY_GRAVE] = { NOISE, NOISE, 0 }, [KEY_BACKSLASH] = { '#', '\'', 0 },
	[KEY_Z] = { 'y', 'Y', 0 }, [KEY_X] = { 'x', 'X', 0 }, [KEY_C] = { 'c', 'C', 0 },
	[KEY_V] = { 'v', 'V', 0 }, [KEY_B] = { 'b', 'B', 0 }, [KEY_N] = { 'n', 'N', 0 },
	[KEY_M] = { 'm', 'M', NOISE }, [KEY_COMMA] = { ',', ';', 0 }, [KEY_DOT] = { '.', ':', 0 },
	[KEY_SLASH] = { '-', '_', 0 }, [KEY_SPACE] = { ' ', ' ', 0 },
	[KEY_102ND] = { '<', '>', '|' },
	[KEY_KPASTERISK] = { '*', '*', 0 }, [KEY_KPMINUS] = { '-', '-', 0 },
	[KEY_KPPLUS] = { '+', '+', 0 }, [KEY_KPDOT] = { ',', ',', 0 }, [KEY_KPSLASH] = { '/', '/', 0 },
	[KEY_KP0] = { '0', '0', 0 }, [KEY_KP1] = { '1', '1', 0 }, [KEY_KP2] = { '2', '2', 0 },
	[KEY_KP3] = { '3', '3', 0 }, [KEY_KP4] = { '4', '4', 0 }, [KEY_KP5] = { '5', '5', 0 },
	[KEY_KP6] = { '6', '6', 0 }, [KEY_KP7] = { '7', '7', 0 }, [KEY_KP8] = { '8', '8', 0 },
	[KEY_KP9] = { '9', '9', 0 },
};

static const struct {
	const char *name;
	const struct keydef *keys;
	int has_altgr;     /* right Alt is AltGr; else it is Alt */
} keymaps[] = {
	{ "us", keys_us, 0 },
	{ "de", keys_de, 1 },
};

/* Held modifiers, a bit each. */
enum {
	M_LSHIFT = 1 << 0, M_RSHIFT = 1 << 1, M_LCTRL = 1 << 2, M_RCTRL = 1 << 3,
	M_LALT = 1 << 4, M_RALT = 1 << 5,
};

struct hid {
	struct vg_scanline line;
	int keymap;            /* index into keymaps */
	unsigned mods;         /* M_* held */
	int capslock;          /* toggled by each press of Caps Lock */
	size_t have;           /* bytes of the record in rec */
	uint8_t rec[REC_SIZE];
};

static int hid_init(void *state, const struct vg_driver_opt *opts, size_t nopts, char *err, size_t errsz)
{
	struct hid *h = state;
	struct vg_scanline_cfg cfg;
	int keymap = 0, pause_ends = 0;

	vg_scanline_cfg_init(&cfg, "hid");
	for (size_t i = 0; i < nopts; i++) {
		const char *key = opts[i].key ? opts[i].key : "";
		const char *value = opts[i].value ? opts[i].value : "";
		int rc = vg_scanline_option(&cfg, key, value, err, errsz);
		if (rc == VG_OK)
			continue;
		if (rc != VG_ERR_NOTFOUND)
			return VG_ERR_CONFIG;
		if (strcmp(key, "keymap") == 0) {
			keymap = -1;
			for (size_t k = 0; k < sizeof keymaps / sizeof keymaps[0]; k++)
				if (strcmp(value, keymaps[k].name) == 0)
					keymap = (int)k;
			if (keymap < 0) {
				snprintf(err, errsz, "keymap: must be one of: us | de");
				return VG_ERR_CONFIG;
			}
			continue;
		}
		if (strcmp(key, "terminator") == 0) {
			if (strcmp(value, "enter") == 0) {
				pause_ends = 0;
			} else if (strcmp(value, "none") == 0) {
				pause_ends = 1;
			} else {
				snprintf(err, errsz, "terminator: must be one of: enter | none");
				return VG_ERR_CONFIG;
			}
			continue;
		}
		snprintf(err, errsz, "%s: unknown option of the hid driver (keymap, terminator, prefix, "
		         "aim, timeout_ms, max_len, field)", key);
		return VG_ERR_CONFIG;
	}
	if (pause_ends && cfg.timeout_ms <= 0) {
		snprintf(err, errsz, "terminator: none needs timeout_ms > 0 (a pause ends a code)");
		return VG_ERR_CONFIG;
	}
	cfg.pause_ends = pause_ends;

	memset(h, 0, sizeof *h);
	vg_scanline_reset(&h->line, &cfg);
	h->keymap = keymap;
	return VG_OK;
}

static unsigned modifier_bit(unsigned code)
{
	switch (code) {
	case KEY_LEFTSHIFT: return M_LSHIFT;
	case KEY_RIGHTSHIFT: return M_RSHIFT;
	case KEY_LEFTCTRL: return M_LCTRL;
	case KEY_RIGHTCTRL: return M_RCTRL;
	case KEY_LEFTALT: return M_LALT;
	case KEY_RIGHTALT: return M_RALT;
	default: return 0;
	}
}

/* One key press (or autorepeat) of code. */
static void key_press(struct hid *h, unsigned code, int64_t now_ms, const struct vg_driver_sink *sink)
{
	struct vg_scanline *l = &h->line;

	if (code == KEY_ENTER || code == KEY_KPENTER) {
		vg_scanline_end(l, sink);
		return;
	}
	if (code >= NKEYS)
		return;
	const struct keydef *k = &keymaps[h->keymap].keys[code];
	if (!k->plain)
		return;                               /* types nothing */

	const int altgr = keymaps[h->keymap].has_altgr && (h->mods & M_RALT);
	const int alt = (h->mods & M_LALT) || (!keymaps[h->keymap].has_altgr && (h->mods & M_RALT));
	if ((h->mods & (M_LCTRL | M_RCTRL)) || alt) {
		vg_scanline_noise(l, now_ms);         /* a shortcut, not a character */
		return;
	}
	char c;
	if (altgr) {
		c = k->altgr ? k->altgr : NOISE;
	} else {
		int shift = (h->mods & (M_LSHIFT | M_RSHIFT)) != 0;
		if (h->capslock && k->plain >= 'a' && k->plain <= 'z')
			shift = !shift;
		c = shift ? k->shift : k->plain;
	}
	if (c == NOISE)
		vg_scanline_noise(l, now_ms);
	else
		vg_scanline_byte(l, (uint8_t)c, now_ms);
}

static void record(struct hid *h, const struct input_event *ev, int64_t now_ms,
                   const struct vg_driver_sink *sink)
{
	if (ev->type == EV_SYN && ev->code == SYN_DROPPED) {
		/* The kernel lost events: this code is not whole, and a release of
		 * a modifier may be among what was lost. */
		vg_scanline_noise(&h->line, now_ms);
		h->mods = 0;
		return;
	}
	if (ev->type != EV_KEY || ev->value < 0 || ev->value > 2)
		return;
	unsigned bit = modifier_bit(ev->code);
	if (bit) {
		if (ev->value)
			h->mods |= bit;
		else
			h->mods &= ~bit;
		return;
	}
	if (ev->code == KEY_CAPSLOCK) {
		if (ev->value == 1)
			h->capslock = !h->capslock;
		return;
	}
	if (ev->value == 0)
		return;                               /* release */
	key_press(h, ev->code, now_ms, sink);
}

static void hid_feed(void *state, const uint8_t *buf, size_t n, int64_t now_ms,
                     const struct vg_driver_sink *sink)
{
	struct hid *h = state;

	vg_scanline_expire(&h->line, now_ms, sink);
	while (n > 0) {
		size_t take = REC_SIZE - h->have;
		if (take > n)
			take = n;
		memcpy(h->rec + h->have, buf, take);
		h->have += take;
		buf += take;
		n -= take;
		if (h->have == REC_SIZE) {
			struct input_event ev;
			memcpy(&ev, h->rec, sizeof ev);
			h->have = 0;
			record(h, &ev, now_ms, sink);
		}
	}
}

static int64_t hid_tick(void *state, int64_t now_ms, const struct vg_driver_sink *sink)
{
	struct hid *h = state;
	vg_scanline_expire(&h->line, now_ms, sink);
	return vg_scanline_deadline(&h->line);
}

static void hid_fini(void *state)
{
	struct hid *h = state;
	vg_scanline_wipe(&h->line);
	vg_wipe(h->rec, sizeof h->rec);
	h->have = 0;
}

const struct vg_driver vg_driver_hid = {
	.name = "hid",
	.state_size = sizeof(struct hid),
	.init = hid_init,
	.feed = hid_feed,
	.tick = hid_tick,
	.fini = hid_fini,
};
