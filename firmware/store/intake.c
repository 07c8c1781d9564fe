#include "intake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zlib.h>

#include "err.h"
#include "log.h"
#include "schema.h"
#include "store_capture.h"


int vg_intake_dir(const char *db_path, char *out, size_t n)
{
	int k = snprintf(out, n, "%s" VG_INTAKE_DIR_SUFFIX, db_path);
	return k < 0 || (size_t)k >= n ? VG_ERR_RANGE : VG_OK;
}

/* ---- the record ------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	int over;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->over || n > w->cap - w->n) {
		w->over = 1;
		return;
	}
	memcpy(w->p + w->n, src, n);
	w->n += n;
}

static void put_u(struct wbuf *w, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(w, b, (size_t)bytes);
}

static void put_str(struct wbuf *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 0xffff) {
		w->over = 1;
		return;
	}
	put_u(w, n, 2);
	put(w, s, n);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The CRC-32 of a record: over its length field and its payload. */
static uint32_t record_crc(const uint8_t *record, size_t payload)
{
	uLong c = crc32(crc32(0L, Z_NULL, 0), record + 4, 4);
	return (uint32_t)crc32(c, record + VG_INTAKE_HEADER, (uInt)payload);
}

size_t vg_intake_encode(const struct vg_intake_rec *r, uint8_t *buf, size_t cap)
{
	if (cap < VG_INTAKE_HEADER || r->nidents < 0 || r->nidents > VG_INTAKE_IDENTS_MAX || r->nundeclared < 0 ||
	    r->nundeclared > VG_INTAKE_UNDECLARED_MAX)
		return 0;
	struct wbuf w = { buf, VG_INTAKE_HEADER, cap, 0 };
	put_u(&w, 1, 1);
	put_u(&w, (uint64_t)r->received_at_ms, 8);
	put_u(&w, r->size, 4);
	put_u(&w, (uint64_t)r->priority, 1);
	put_u(&w, r->flags, 4);
	put_str(&w, r->device_id);
	put_str(&w, r->topic);
	put_str(&w, r->event_key);
	put_str(&w, r->type);
	put_u(&w, (uint64_t)r->nidents, 1);
	for (int i = 0; i < r->nidents; i++)
		put_str(&w, r->idents[i]);
	put_u(&w, r->undeclared_total, 4);
	put_u(&w, (uint64_t)r->nundeclared, 1);
	for (int i = 0; i < r->nundeclared; i++) {
		put_str(&w, r->undeclared[i]);
		put_u(&w, r->undeclared_n[i], 4);
	}
	if (r->body_len > VG_INTAKE_RECORD_MAX) {
		w.over = 1;
	} else {
		put_u(&w, r->body_len, 4);
		put(&w, r->body, r->body_len);
	}
	size_t payload = w.n - VG_INTAKE_HEADER;
	if (w.over || payload > VG_INTAKE_RECORD_MAX)
		return 0;
	struct wbuf h = { buf, 0, VG_INTAKE_HEADER, 0 };
	put_u(&h, VG_INTAKE_MAGIC, 4);
	put_u(&h, payload, 4);
	put_u(&h, record_crc(buf, payload), 4);   /* reads the length just written */
	return w.n;
}

int vg_intake_check(const uint8_t *p, size_t n, size_t *len)
{
	if (n < 4)
		return n == 0 || memcmp(p, "VGI1", n) == 0 ? VG_INTAKE_SHORT : VG_INTAKE_BAD;
	if (get_u32(p) != VG_INTAKE_MAGIC)
		return VG_INTAKE_BAD;
	if (n < VG_INTAKE_HEADER)
		return VG_INTAKE_SHORT;
	uint32_t payload = get_u32(p + 4);
	if (payload > VG_INTAKE_RECORD_MAX)
		return VG_INTAKE_BAD;
	if (n < VG_INTAKE_HEADER + (size_t)payload)
		return VG_INTAKE_SHORT;
	if (record_crc(p, payload) != get_u32(p + 8))
		return VG_INTAKE_BAD;
	*len = VG_INTAKE_HEADER + (size_t)payload;
	return VG_INTAKE_WHOLE;
}

struct rbuf {
	const uint8_t *p;
	size_t n, at;
	char *s;                   /* scratch for the strings */
	size_t sn, sat;
	int bad;
};

static uint64_t get(struct rbuf *r, int bytes)
{
	if (r->bad || (size_t)bytes > r->n - r->at) {
		r->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[r->at + (size_t)i] << (8 * i);
	r->at += (size_t)bytes;
	return v;
}

/* A string (or the body: len_bytes 4, len given) copied NUL-terminated into
 * the scratch.  A string never holds a NUL (put_str writes strlen bytes): one
 * that does is not a record of ours. */
static const char *get_str(struct rbuf *r, int len_bytes, size_t *len)
{
	size_t n = (size_t)get(r, len_bytes);
	if (r->bad || n > r->n - r->at || n + 1 > r->sn - r->sat || (!len && memchr(r->p + r->at, '\0', n))) {
		r->bad = 1;
		return "";
	}
	char *out = r->s + r->sat;
	memcpy(out, r->p + r->at, n);
	out[n] = '\0';
	r->at += n;
	r->sat += n + 1;
	if (len)
		*len = n;
	return out;
}

int vg_intake_decode(const uint8_t *p, size_t len, struct vg_intake_rec *rec, char *scratch, size_t cap)
{
	memset(rec, 0, sizeof *rec);
	if (len < VG_INTAKE_HEADER)
		return VG_ERR_INVAL;
	struct rbuf r = { p + VG_INTAKE_HEADER, len - VG_INTAKE_HEADER, 0, scratch, cap, 0, 0 };
	if (get(&r, 1) != 1)
		return VG_ERR_INVAL;
	rec->received_at_ms = (int64_t)get(&r, 8);
	rec->size = (uint32_t)get(&r, 4);
	rec->priority = (int)get(&r, 1);
	rec->flags = (unsigned)get(&r, 4);
	rec->device_id = get_str(&r, 2, NULL);
	rec->topic = get_str(&r, 2, NULL);
	rec->event_key = get_str(&r, 2, NULL);
	rec->type = get_str(&r, 2, NULL);
	rec->nidents = (int)get(&r, 1);
	if (rec->nidents > VG_INTAKE_IDENTS_MAX)
		return VG_ERR_INVAL;
	for (int i = 0; i < rec->nidents; i++)
		rec->idents[i] = get_str(&r, 2, NULL);
	rec->undeclared_total = (unsigned)get(&r, 4);
	rec->nundeclared = (int)get(&r, 1);
	if (rec->nundeclared > VG_INTAKE_UNDECLARED_MAX)
		return VG_ERR_INVAL;
	for (int i = 0; i < rec->nundeclared; i++) {
		rec->undeclared[i] = get_str(&r, 2, NULL);
		rec->undeclared_n[i] = (unsigned)get(&r, 4);
	}
	rec->body = get_str(&r, 4, &rec->body_len);
	if (r.bad || r.at != r.n || !rec->device_id[0] || !rec->event_key[0] || rec->priority > 2)
		return VG_ERR_INVAL;
	return VG_OK;
}

/* ---- segments ---------------------------------------------------------------- */

static int parse_segment(const char *name, unsigned long long *seq)
{
	if (strlen(name) != 24 || strcmp(name + 20, ".vgi") != 0)
		return 0;
	unsigned long long v = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (unsigned long long)(name[i] - '0');
	}
	*seq = v;
	return 1;
}

static void segment_path(char *out, size_t n, const char *dir, unsigned long long seq)
{
	snprintf(out, n, "%s/%020llu.vgi", dir, seq);
}

static int cmp_seq(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
	return x < y ? -1 : x > y;
}

/* The segments of dir in order, malloc'd into *out (free).  A missing dir has
 * none.  VG_OK, VG_ERR_IO, VG_ERR_NOMEM. */
static int list_segments(const char *dir, unsigned long long **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? VG_OK : VG_ERR_IO;
	size_t cap = 0;
	struct dirent *e;
	int rc = VG_OK;
	while ((e = readdir(d))) {
		unsigned long long seq;
		if (!parse_segment(e->d_name, &seq))
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			unsigned long long *p = realloc(*out, ncap * sizeof *p);
			if (!p) {
				rc = VG_ERR_NOMEM;
				break;
			}
			*out = p;
			cap = ncap;
		}
		(*out)[(*n)++] = seq;
	}
	closedir(d);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
		return rc;
	}
	if (*n)
		qsort(*out, *n, sizeof **out, cmp_seq);
	return VG_OK;
}

/* ---- the writer ---------------------------------------------------------------- */

struct vg_intake_writer {
	char dir[4096];
	int durable;
	int fd;                    /* the current segment, -1 when none */
	unsigned long long seq;
	long long seg_bytes;       /* in the current segment: where the next record goes */
	int reserved;              /* the segment's space is allocated up front (durable) */
	long long written;
	uint8_t buf[VG_INTAKE_HEADER + VG_INTAKE_RECORD_MAX];
};

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Close the current segment, first giving back the space reserved beyond
 * its records (a crash before that leaves zeros, which are not records). */
static void close_segment(struct vg_intake_writer *w)
{
	if (w->fd < 0)
		return;
	if (w->reserved && ftruncate(w->fd, (off_t)w->seg_bytes) != 0)
		vg_log(VG_LOG_WARN, "intake.write", "cannot trim segment %llu: %s", w->seq, strerror(errno));
	close(w->fd);
	w->fd = -1;
}

/* A new segment after the newest one there (never an existing file).  When
 * durable its space is allocated at once: a record then lands in allocated
 * space of a file whose size does not change, and its fdatasync flushes the
 * data without a metadata commit for the size (≈ 1.4× the syncs/s on ext4). */
static int new_segment(struct vg_intake_writer *w, char *errbuf, size_t errlen)
{
	close_segment(w);	unsigned long long *segs;
	size_t n;
	int rc = list_segments(w->dir, &segs, &n);
	if (rc) {
		snprintf(errbuf, errlen, "cannot list %s: %s", w->dir, strerror(errno));
		return rc;
	}
	unsigned long long seq = n ? segs[n - 1] + 1 : 1;
	free(segs);
	if (seq <= w->seq)
		seq = w->seq + 1;
	char path[4200];
	for (int tries = 0; tries < 100; tries++, seq++) {
		segment_path(path, sizeof path, w->dir, seq);
		w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (w->fd >= 0 || errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		snprintf(errbuf, errlen, "cannot create %s: %s", path, strerror(errno));
		return VG_ERR_IO;
	}
	if (w->durable && sync_dir(w->dir) != 0) {
		snprintf(errbuf, errlen, "cannot sync %s: %s", w->dir, strerror(errno));
		close(w->fd);
		unlink(path);
		w->fd = -1;
		return VG_ERR_IO;
	}
	w->seq = seq;
	w->seg_bytes = 0;
	/* Without support for it (tmpfs before 3.5, some FUSE), records extend
	 * the file as they come. */
	w->reserved = w->durable && fallocate(w->fd, 0, 0, (off_t)VG_INTAKE_SEGMENT_MAX) == 0;
	return VG_OK;
}

int vg_intake_writer_open(struct vg_intake_writer **out, const char *dir, int durable, char *errbuf,
                          size_t errlen)
{
	*out = NULL;
	if (strlen(dir) >= sizeof((struct vg_intake_writer *)0)->dir) {
		snprintf(errbuf, errlen, "%s: path too long", dir);
		return VG_ERR_RANGE;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(errbuf, errlen, "cannot create %s: %s", dir, strerror(errno));
		return VG_ERR_IO;
	}
	struct vg_intake_writer *w = malloc(sizeof *w);
	if (!w)
		return VG_ERR_NOMEM;
	snprintf(w->dir, sizeof w->dir, "%s", dir);
	w->durable = durable;
	w->fd = -1;
	w->seq = 0;
	w->seg_bytes = 0;
	w->reserved = 0;
	w->written = 0;
	int rc = new_segment(w, errbuf, errlen);
	if (rc) {
		free(w);
		return rc;
	}
	*out = w;
	return VG_OK;
}

void vg_intake_writer_close(struct vg_intake_writer *w)
{
	if (!w)
		return;
	close_segment(w);
	free(w);
}

long long vg_intake_written(const struct vg_intake_writer *w)
{
	return w ? w->written : 0;
}

int vg_intake_append(struct vg_intake_writer *w, const struct vg_intake_rec *r)
{
	char err[300];
	size_t n = vg_intake_encode(r, w->buf, sizeof w->buf);
	if (!n)
		return VG_ERR_RANGE;
	if (w->fd < 0 || w->seg_bytes + (long long)n > VG_INTAKE_SEGMENT_MAX) {
		int rc = new_segment(w, err, sizeof err);
		if (rc) {
			vg_log(VG_LOG_ERR, "intake.write", "%s", err);
			return rc;
		}
	}
	ssize_t k = pwrite(w->fd, w->buf, n, (off_t)w->seg_bytes);
	if (k == (ssize_t)n && (!w->durable || fdatasync(w->fd) == 0)) {
		w->seg_bytes += (long long)n;
		w->written += (long long)n;
		return VG_OK;
	}
	/* Short or failed: take back what was written (the record was not
	 * acknowledged, so it must not be moved either); should that fail too,
	 * it is a torn tail or a record nobody was told about, and the next
	 * record starts a new segment, so the mover knows to skip a torn one. */
	int e = k < 0 || k == (ssize_t)n ? errno : ENOSPC;
	if (k > 0 && ftruncate(w->fd, (off_t)w->seg_bytes) != 0)
		vg_log(VG_LOG_WARN, "intake.write", "cannot take back a record that was not acknowledged: %s",
		       strerror(errno));
	w->reserved = 0;   /* trimmed (or not: then its tail is a torn record) */
	close_segment(w);
	errno = e;
	return VG_ERR_IO;
}

/* ---- the mover ---------------------------------------------------------------- */

static int read_state(struct vg_store *s, long long *seg, long long *off)
{
	sqlite3_stmt *st = store_stmt(s, ST_INTAKE_GET);
	if (!st)
		return VG_ERR_IO;
	int rc = sqlite3_step(st);
	*seg = *off = 0;
	if (rc == SQLITE_ROW) {
		*seg = sqlite3_column_int64(st, 0);
		*off = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VG_OK : store_map_rc(rc);
}

/* Where the records of segment path end, walking their headers from off
 * (no CRC: what the mover will read, up to the first non-record; a durable
 * writer's segment is zeros beyond that). */
static long long records_end(const char *path, long long off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return off;
	struct stat sb;
	long long size = fstat(fd, &sb) == 0 ? (long long)sb.st_size : 0;
	/* The headers are read a chunk at a time (the plugin asks every 200 ms,
	 * and a backlog may hold tens of thousands of records). */
	uint8_t buf[16384];
	long long base = off;
	ssize_t got = 0;
	for (;;) {
		if (off + VG_INTAKE_HEADER > base + got) {
			base = off;
			if ((got = pread(fd, buf, sizeof buf, (off_t)base)) < VG_INTAKE_HEADER)
				break;
		}
		const uint8_t *h = buf + (off - base);
		if (get_u32(h) != VG_INTAKE_MAGIC || get_u32(h + 4) > VG_INTAKE_RECORD_MAX ||
		    off + VG_INTAKE_HEADER + (long long)get_u32(h + 4) > size)
			break;
		off += VG_INTAKE_HEADER + (long long)get_u32(h + 4);
	}
	close(fd);
	return off;
}

int vg_intake_backlog(struct vg_store *s, const char *dir, long long *bytes)
{
	*bytes = 0;
	long long seg, off;
	int rc = read_state(s, &seg, &off);
	if (rc)
		return rc;
	unsigned long long *segs;
	size_t n;
	if ((rc = list_segments(dir, &segs, &n)))
		return rc;
	char path[4200];
	for (size_t i = 0; i < n; i++) {
		if ((long long)segs[i] < seg)
			continue;
		segment_path(path, sizeof path, dir, segs[i]);
		long long from = (long long)segs[i] == seg ? off : 0;
		*bytes += records_end(path, from) - from;
	}
	free(segs);
	return VG_OK;
}

static int step_stmt(struct vg_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = store_stmt(s, id);
	return st ? store_run(st) : VG_ERR_IO;
}

/* One decoded record into events (inside the move's transaction).  Returns
 * VG_OK (counted in *m), VG_ERR_FULL (nothing of it kept: stop here) or an
 * error. */
static int move_one(struct vg_store *s, const struct vg_intake_rec *r, struct vg_intake_moved *m)
{
	if (r->nidents > 0) {
		int sup = vg_store_suppressed(s, r->idents, (size_t)r->nidents);
		if (sup < 0)
			return sup;
		if (sup) {
			m->suppressed++;
			return VG_OK;
		}
	}
	struct vg_store_event ev = {
		.event_key = r->event_key,
		.device_id = r->device_id,
		.type = r->type,
		.priority = r->priority,
		.flags = r->flags,
		.received_at_ms = r->received_at_ms,
		.body = r->body,
		.body_len = r->body_len,
	};
	int rc;
	/* At the disk cap a put may be refused after it freed room: only that
	 * put is undone, the records before it stay moved.  A savepoint costs a
	 * copy of every page the put touches (the sub-journal): it is taken only
	 * for a put that might be refused. */
	int sp = !vg_store_put_fits(s, &ev);
	if (sp && (rc = step_stmt(s, ST_MOVE_SAVEPOINT)))
		return rc;
	rc = vg_store_put_event(s, &ev);
	if (sp) {
		if (rc == VG_ERR_FULL) {
			int undo = step_stmt(s, ST_MOVE_ROLLBACK);
			if (!undo)
				undo = step_stmt(s, ST_MOVE_RELEASE);
			return undo ? undo : VG_ERR_FULL;
		}
		int rel = step_stmt(s, ST_MOVE_RELEASE);
		if (rc >= 0 && rel)
			rc = rel;
	}
	if (rc < 0)
		return rc;
	if (rc == VG_STORE_DUPLICATE) {
		m->duplicates++;
		return VG_OK;
	}
	m->stored++;
	return vg_store_count_undeclared_list(s, r->device_id, r->type, r->undeclared, r->undeclared_n, r->nundeclared,
	                                      r->undeclared_total, r->received_at_ms);
}

struct mover {
	struct vg_store *s;
	const char *dir;
	int max_records;
	struct vg_intake_moved *m;
	uint8_t *buf;              /* one read: at least one whole record */
	size_t cap;
	char *scratch;
};

/* A move reads this much at a time, more for a record that is larger (kept
 * small: it comes from the heap and stays resident). */
#define READ_CHUNK (128 * 1024)

/* Room in mv's buffers for a record of len bytes.  VG_OK or VG_ERR_NOMEM. */
static int grow(struct mover *mv, size_t len)
{
	if (len <= mv->cap)
		return VG_OK;
	uint8_t *b = realloc(mv->buf, len);
	if (!b)
		return VG_ERR_NOMEM;
	mv->buf = b;
	char *sc = realloc(mv->scratch, len + 64);
	if (!sc)
		return VG_ERR_NOMEM;
	mv->scratch = sc;
	mv->cap = len;
	return VG_OK;
}

/* Move what segment seq holds from *off on.  *end: 0 stopped early (max,
 * full), 1 every whole record is moved and what follows is not (yet) a
 * record; *rest = bytes from *off to the end of the file then, *zeros
 * whether they start with zeros. */
static int move_segment(struct mover *mv, unsigned long long seq, long long *off, int *end, long long *rest,
                        int *zeros)
{
	char path[4200];
	segment_path(path, sizeof path, mv->dir, seq);
	*end = 0;
	*rest = 0;
	*zeros = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*end = 1;
		return errno == ENOENT ? VG_OK : VG_ERR_IO;
	}
	int rc = VG_OK;
	for (;;) {
		ssize_t got = pread(fd, mv->buf, mv->cap, (off_t)*off);
		if (got < 0) {
			rc = VG_ERR_IO;
			break;
		}
		size_t at = 0;
		int stop = 0;
		while (!stop) {
			size_t len;
			int what = vg_intake_check(mv->buf + at, (size_t)got - at, &len);
			if (what != VG_INTAKE_WHOLE) {
				if (what == VG_INTAKE_BAD || (size_t)got < mv->cap) {
					*end = 1;
					*rest = (long long)((size_t)got - at);
					/* Zeros: space a durable writer reserved and did not
					 * trim (it was killed), not a record cut short. */
					*zeros = (size_t)got - at >= 4 && get_u32(mv->buf + at) == 0;
				} else if (at == 0 && (rc = grow(mv, VG_INTAKE_HEADER + (size_t)get_u32(mv->buf + 4))) != VG_OK) {
					stop = 1;   /* a whole header of a record larger than the buffer */
				}
				break;   /* else: the rest of a record is beyond this read */
			}
			if (mv->m->records >= mv->max_records) {
				mv->m->more = 1;
				stop = 1;
				break;
			}
			struct vg_intake_rec r;
			if (vg_intake_decode(mv->buf + at, len, &r, mv->scratch, len + 64) != VG_OK) {
				vg_log(VG_LOG_ERR, "intake.move", "%s: the record at offset %lld does not decode; skipped",
				       path, *off + (long long)at);
				mv->m->skipped_bytes += (long long)len;
			} else if ((rc = move_one(mv->s, &r, mv->m)) != VG_OK) {
				if (rc == VG_ERR_FULL) {
					mv->m->full = 1;
					rc = VG_OK;
				}
				stop = 1;
				break;
			}
			mv->m->records++;
			at += len;
		}
		*off += (long long)at;
		if (rc || stop || *end)
			break;

	}
	if (*end && *rest > 0) {
		struct stat sb;
		if (fstat(fd, &sb) == 0 && sb.st_size > *off)
			*rest = (long long)sb.st_size - *off;
	}
	close(fd);
	return rc;
}

/* Sync buffer.db's WAL: the moved rows are on the medium before the journal
 * lets go of them, whatever the durability (a commit of the daemon's does
 * not sync). */
static int sync_wal(struct vg_store *s)
{
	sqlite3_file *f = NULL;
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK || !f || !f->pMethods)
		return VG_ERR_IO;
	return f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) == SQLITE_OK ? VG_OK : VG_ERR_IO;
}

/* After the commit: delete the segments before seg, punch [0, off) of seg
 * (whole blocks), and with wipe zero the rest of the last block. */
static void tidy(struct vg_store *s, const char *dir, const unsigned long long *segs, size_t n, long long seg,
                 long long from_off, long long off, int wipe)
{
	char path[4200];
	int drop = n > 0 && (long long)segs[0] < seg;
	if (!drop && !wipe && off / VG_INTAKE_PUNCH_STEP == from_off / VG_INTAKE_PUNCH_STEP)
		return;
	if (sync_wal(s) != VG_OK) {
		vg_log(VG_LOG_WARN, "intake.tidy", "cannot sync buffer.db's WAL: the journal keeps what was moved");
		return;
	}
	for (size_t i = 0; i < n && (long long)segs[i] < seg; i++) {
		segment_path(path, sizeof path, dir, segs[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			vg_log(VG_LOG_WARN, "intake.tidy", "cannot delete %s: %s", path, strerror(errno));
	}
	segment_path(path, sizeof path, dir, (unsigned long long)seg);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	long long whole = off & ~4095ll;
	if (whole > 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)whole) != 0) {
		if (errno != EOPNOTSUPP)
			vg_log(VG_LOG_WARN, "intake.tidy", "cannot free the moved part of %s: %s", path, strerror(errno));
		whole = 0;   /* a file system without holes: zeros do it (with wipe) */
	}
	if (wipe && off > whole) {
		static const uint8_t zeros[4096];
		for (long long at = whole; at < off;) {
			size_t k = (size_t)(off - at) < sizeof zeros ? (size_t)(off - at) : sizeof zeros;
			if (pwrite(fd, zeros, k, (off_t)at) != (ssize_t)k)
				break;
			at += (long long)k;
		}
		if (fdatasync(fd) != 0)
			vg_log(VG_LOG_WARN, "intake.tidy", "cannot sync %s: %s", path, strerror(errno));
	}
	close(fd);
}

int vg_intake_move(struct vg_store *s, const char *dir, int max_records, int wipe, struct vg_intake_moved *out)
{
	struct vg_intake_moved m = { 0 };
	if (out)
		*out = m;
	unsigned long long *segs;
	size_t n;
	int rc = list_segments(dir, &segs, &n);
	if (rc) {
		vg_log(VG_LOG_ERR, "intake.move", "cannot list %s: %s", dir, strerror(errno));
		return rc;
	}
	if (!n) {
		free(segs);
		return VG_OK;
	}
	struct mover mv = { s, dir, max_records, &m, malloc(READ_CHUNK), READ_CHUNK, malloc(READ_CHUNK + 64) };
	if (!mv.buf || !mv.scratch) {
		rc = VG_ERR_NOMEM;
		goto out;
	}
	if ((rc = vg_store_begin(s)))
		goto out;
	long long seg, off;
	if ((rc = read_state(s, &seg, &off))) {
		vg_store_rollback(s);
		goto out;
	}
	long long from_off = off;
	size_t i = 0;
	while (i < n && (long long)segs[i] < seg)
		i++;
	for (; i < n; i++) {
		if ((long long)segs[i] != seg) {   /* the next segment: from its start */
			seg = (long long)segs[i];
			off = from_off = 0;
		}
		int end, zeros;
		long long rest;
		if ((rc = move_segment(&mv, segs[i], &off, &end, &rest, &zeros)))
			break;
		if (!end || i + 1 == n)
			break;   /* stopped early, or the newest segment: its writer may be at work */
		if (rest > 0 && zeros) {
			vg_log(VG_LOG_INFO, "intake.move", "%s/%020llu.vgi: its writer stopped without giving back the"
			       " %lld bytes it had reserved after offset %lld (killed); nothing was lost", dir, segs[i],
			       rest, off);
		} else if (rest > 0) {
			vg_log(VG_LOG_WARN, "intake.move", "%s/%020llu.vgi: %lld bytes at offset %lld are not a whole"
			       " record (a write cut short: never acknowledged); skipped", dir, segs[i], rest, off);
			m.skipped_bytes += rest;
		}
	}
	if (!rc) {
		sqlite3_stmt *st = store_stmt(s, ST_INTAKE_SET);
		if (!st) {
			rc = VG_ERR_IO;
		} else {
			sqlite3_bind_int64(st, 1, seg);
			sqlite3_bind_int64(st, 2, off);
			rc = store_run(st);
		}
	}
	if (rc) {
		vg_store_rollback(s);
		goto out;
	}
	if ((rc = vg_store_commit(s)))
		goto out;
	/* A suppressed record is a forgotten person's: nothing of it stays. */
	tidy(s, dir, segs, n, seg, from_off, off, wipe || m.suppressed > 0);
	if (out)
		*out = m;
out:
	free(mv.buf);
	free(mv.scratch);
	free(segs);
	return rc;
}
