/* venuegw daemon — serial and HID ports (DESIGN.md §7).
 *
 * The daemon owns the ports: termios from [serial.NAME], evdev grabbed for
 * [hid.NAME], reopened with backoff when a USB adapter disappears.  Bytes go
 * to the port's driver (drivers/); its events run through the same ingest
 * pipeline as MQTT and are committed in groups (commit_interval_ms,
 * commit_max_events) on a capture connection with the configured durability;
 * only after the COMMIT is a frame settled (the ECR ACK).  Event keys come
 * from each device's persisted counter ("<epoch>:<seq>"). */
#ifndef VG_SERIAL_H
#define VG_SERIAL_H

#include <cjson/cJSON.h>

#include "config.h"
#include "contract.h"
#include "loop.h"

struct vg_serial;

/* Check every port's driver options (for check-config and start-up).
 * VG_OK, or VG_ERR_CONFIG with "file:line: [serial.NAME] key: why" in err. */
int vg_serial_check(const struct vg_config *cfg, char *err, size_t errsz);

/* Open the ports of cfg (none: *out is NULL, VG_OK).  db_path is buffer.db.
 * Ports that cannot be opened yet are retried; only start-up failures of the
 * store or the key file are errors. */
int vg_serial_open(struct vg_serial **out, struct vg_loop *loop, const struct vg_config *cfg,
                   const struct vg_plan *plan, const char *db_path, char *err, size_t errsz);

/* The tracking plan events are checked against from now on (borrowed: the
 * caller keeps it alive while the ports run).  NULL s is fine. */
void vg_serial_set_plan(struct vg_serial *s, const struct vg_plan *plan);

/* Commit what is pending (settling its frames), restore termios, close. */
void vg_serial_close(struct vg_serial *s);

/* Each port's state as objects {name, device, device_id, driver, state,
 * why, frames, bad, committed} appended to arr (for the status). */
void vg_serial_describe(const struct vg_serial *s, cJSON *arr);

#endif
