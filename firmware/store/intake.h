/* venuegw — capture v2's intake journal (DESIGN.md §2 "The capture path's
 * cost", §3 promises 1, 5, 6).
 *
 * The broker thread writes the least the medium allows per acknowledged
 * event: one record appended to a segment file of the intake directory
 * (buffer.db-intake/, beside buffer.db), and under durability = full one
 * fdatasync of it, before the PUBACK.  No SQLite, no index, no allocation.
 * The daemon moves the records into buffer.db's events table in large
 * transactions (vg_intake_move), where de-duplication, suppression, the
 * undeclared counts and the disk cap apply as they did at capture before.
 *
 * Segments are named <20-digit sequence>.vgi.  A writer (the plugin) never
 * appends to a segment it did not create: it starts a new one when it opens
 * and when the current one reaches VG_INTAKE_SEGMENT_MAX.  A durable writer
 * allocates a segment's space when it creates it (zeros until written) and
 * trims it to its records when it moves on.  So a record cut
 * short by a crash is always the tail of a segment that has a newer one, and
 * the mover skips it; a bad record in the newest segment is a write still
 * under way, and the mover waits for it.
 *
 * Record: magic "VGI1" | u32 payload length | u32 CRC-32 (zlib) of the
 * length and the payload | payload.  All integers little-endian.  Payload:
 * u8 version (1), i64 received_at_ms, u32 size as received, u8 priority,
 * u32 flags, str device_id, str topic, str event_key, str type, u8 n +
 * n × str identity token, u32 undeclared total, u8 k + k × (str path, u32
 * count), u32 body length + body.  str: u16 length + bytes.
 *
 * Where the mover has got to is a row of buffer.db (intake_state: segment,
 * offset), updated in the same transaction as the rows it moved: a move
 * that did not commit is done again, and the events table's unique key makes
 * it store each event once.  After its commit a mover deletes the segments
 * before the one it reads and punches the consumed part of that one out of
 * the file, so forwarded events do not linger in the journal. */
#ifndef VG_INTAKE_H
#define VG_INTAKE_H

#include <stddef.h>
#include <stdint.h>

struct vg_store;

#define VG_INTAKE_MAGIC 0x31494756u       /* "VGI1" read little-endian */
#define VG_INTAKE_HEADER 12
#define VG_INTAKE_RECORD_MAX (1u << 20)   /* a payload is at most 64 KiB and grows little */
#define VG_INTAKE_SEGMENT_MAX (8ll << 20)
#define VG_INTAKE_IDENTS_MAX 32
#define VG_INTAKE_UNDECLARED_MAX 16
#define VG_INTAKE_DIR_SUFFIX "-intake"
/* A mover frees the moved part of the current segment when it has grown by
 * this much (the disk cap keeps it in reserve). */
#define VG_INTAKE_PUNCH_STEP (256ll << 10)

/* One event as the capture path accepted it.  Borrowed pointers. */
struct vg_intake_rec {
	int64_t received_at_ms;
	uint32_t size;             /* payload bytes as received */
	int priority;
	unsigned flags;
	const char *device_id, *topic, *event_key, *type;
	int nidents;
	const char *idents[VG_INTAKE_IDENTS_MAX];
	unsigned undeclared_total;
	int nundeclared;
	const char *undeclared[VG_INTAKE_UNDECLARED_MAX];
	unsigned undeclared_n[VG_INTAKE_UNDECLARED_MAX];
	const char *body;
	size_t body_len;
};

/* The journal directory of the buffer at db_path: db_path + "-intake".
 * VG_OK, or VG_ERR_RANGE when it does not fit in n bytes. */
int vg_intake_dir(const char *db_path, char *out, size_t n);

/* Encode r as one whole record (header included) into buf[0..cap).  Returns
 * its length, or 0 when it does not fit (or a field is longer than the
 * format holds). */
size_t vg_intake_encode(const struct vg_intake_rec *r, uint8_t *buf, size_t cap);

/* Check the record at p[0..n): VG_INTAKE_WHOLE with *len its length,
 * VG_INTAKE_SHORT when n holds only its beginning so far, VG_INTAKE_BAD when
 * it is not a record (torn, zeros, garbage). */
enum { VG_INTAKE_WHOLE = 0, VG_INTAKE_SHORT = 1, VG_INTAKE_BAD = 2 };
int vg_intake_check(const uint8_t *p, size_t n, size_t *len);

/* Decode a record vg_intake_check found whole into *r; its strings point into
 * a copy in scratch[0..cap) (NUL-terminated there).  VG_OK or VG_ERR_INVAL
 * (a payload that does not parse: the mover skips it and logs). */
int vg_intake_decode(const uint8_t *p, size_t len, struct vg_intake_rec *r, char *scratch, size_t cap);

/* ---- the writer (the broker plugin) --------------------------------------- */

struct vg_intake_writer;

/* Open a writer on dir (created 0750 when missing): a new segment after the
 * newest one there.  durable: each append is fdatasync'ed (and each new
 * segment's directory entry fsync'ed) before it returns.  VG_OK, VG_ERR_IO
 * (errbuf says why), VG_ERR_NOMEM. */
int vg_intake_writer_open(struct vg_intake_writer **out, const char *dir, int durable, char *errbuf,
                          size_t errlen);
void vg_intake_writer_close(struct vg_intake_writer *w);

/* Append one record; VG_OK once it is in the file (and on the medium when
 * durable).  VG_ERR_IO (errno kept) when it could not be written whole: the
 * writer goes on in a new segment, the record is not acknowledged.
 * VG_ERR_RANGE: too large for a record. */
int vg_intake_append(struct vg_intake_writer *w, const struct vg_intake_rec *r);

/* Bytes appended by this writer since it opened. */
long long vg_intake_written(const struct vg_intake_writer *w);

/* ---- the journal's backlog and the mover (the daemon, `venuegw forget`) --- */

/* Bytes of records in dir not moved yet, from the mover's position in
 * buffer.db (read in its own read transaction) to where each segment's
 * records end (a header walk): what the journal holds beyond buffer.db, for
 * the disk cap and `venuegw status`.  VG_OK or an error. */
int vg_intake_backlog(struct vg_store *s, const char *dir, long long *bytes);

struct vg_intake_moved {
	long long records;         /* records read */
	long long stored, duplicates, suppressed;
	long long skipped_bytes;   /* torn tails and records that did not decode */
	int full;                  /* stopped at the disk cap: the rest waits */
	int more;                  /* stopped at max_records: call again */
};

/* Move up to max_records records from dir into events, in one transaction:
 * per record the suppression check, the put (de-duplication, the disk cap:
 * drop_oldest, or stop at VG_ERR_FULL with the record left in the journal),
 * the undeclared counts.  Then, committed, delete the segments consumed and
 * punch the consumed part of the current one; with wipe, also overwrite with
 * zeros the part of the block a punch cannot free (an erasure: nothing of a
 * moved record stays in the file).  *m says what was done (may be NULL).
 * VG_OK or a store error (nothing moved). */
int vg_intake_move(struct vg_store *s, const char *dir, int max_records, int wipe, struct vg_intake_moved *m);

#endif
