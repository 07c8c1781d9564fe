/* venuegw — serial and HID protocol drivers (DESIGN.md §7).
 *
 * A driver is pure: bytes in → frames → events, and bytes to send back (ACK,
 * NAK).  No I/O, no globals, no clock of its own (the daemon passes now_ms):
 * it is unit-tested and fuzzed in isolation.  The daemon owns the ports,
 * runs each event through the same ingest pipeline as MQTT, commits in
 * groups, and only then settles the frame (the ECR ACK is sent after COMMIT).
 *
 * All drivers are rows of one table (driver.c): vg_driver_find(name). */
#ifndef VG_DRIVER_H
#define VG_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/* One option of a [serial.NAME] / [hid.NAME] section that is not a port key
 * (prefix = ..., lrc_seed = ...).  Borrowed for the init call. */
struct vg_driver_opt {
	const char *key;
	const char *value;
};

enum vg_frame_kind {
	VG_FRAME_EVENT = 0,   /* a decoded event, to ingest and commit */
	VG_FRAME_BAD = 1,     /* bytes that made no frame: counted and quarantined, never fatal */
};

/* What a driver hands the daemon.  Everything borrowed for the callback. */
struct vg_frame {
	enum vg_frame_kind kind;
	/* EVENT: one event object of the input contract (DESIGN.md §4) as JSON
	 * text, not NUL-terminated.  Drivers have no wall clock: when occurred_at
	 * is absent the daemon adds the receive time (except for ndjson, whose
	 * lines are the device's own events, taken as sent); the event key comes
	 * from the device's counter. */
	const char *json;
	size_t json_len;
	/* EVENT: the driver's handle for settle() (0 when it needs no reply). */
	uint32_t token;
	/* BAD: a stable snake_case reason ("bad_lrc", "too_long", "bad_utf8",
	 * "line_noise", "bad_json", "bad_payload", "timeout", "no_memory"), the number of raw
	 * bytes dropped, and one line of English that never contains input bytes. */
	const char *reason;
	size_t size;
	const char *detail;
};

struct vg_driver_sink {
	void *ud;
	void (*frame)(void *ud, const struct vg_frame *f);
	/* Bytes to write to the port now (a NAK for a corrupt frame, the ACK of a
	 * retransmission already committed). */
	void (*send)(void *ud, const uint8_t *bytes, size_t n);
};

struct vg_driver {
	const char *name;
	size_t state_size;    /* the daemon allocates and zeroes this much */
	/* Parse the options; unknown keys and bad values are errors: VG_ERR_CONFIG
	 * with "key: what is wrong" in err.  Returns VG_OK. */
	int (*init)(void *state, const struct vg_driver_opt *opts, size_t nopts, char *err, size_t errsz);
	/* Feed bytes read from the port at now_ms (monotonic ms).  Frames and
	 * replies go to sink, synchronously, in order. */
	void (*feed)(void *state, const uint8_t *buf, size_t n, int64_t now_ms, const struct vg_driver_sink *sink);
	/* Time passes (inter-character timeouts, retransmission windows).
	 * Returns the next monotonic ms at which tick wants to run, or -1. */
	int64_t (*tick)(void *state, int64_t now_ms, const struct vg_driver_sink *sink);
	/* The daemon committed (committed = 1) the event of frame token, or could
	 * not (0): send the reply the protocol wants (ECR: ACK, or NAK / nothing
	 * so the terminal retransmits).  NULL: the driver sends no replies. */
	void (*settle)(void *state, uint32_t token, int committed, int64_t now_ms,
	               const struct vg_driver_sink *sink);
	/* Release what init allocated (state itself is the daemon's).  May be NULL. */
	void (*fini)(void *state);
};

/* The driver named name, or NULL. */
const struct vg_driver *vg_driver_find(const char *name);

/* Every driver, NULL-terminated (for --help and tests). */
extern const struct vg_driver *const vg_drivers[];

#endif
