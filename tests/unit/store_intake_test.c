/* Capture v2's intake journal (firmware/store/intake.h): the record format,
 * the writer, and the mover into buffer.db — de-duplication across the move,
 * suppression racing it, torn tails, the disk cap, nothing left behind. */
#include "store_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#include "intake.h"
#include "log.h"
#include "store_erasure.h"

struct ifix {
	struct fixture f;
	char idir[160];
	struct vg_store *owner;
};

static int isetup(void **state)
{
	void *f;
	if (setup(&f))
		return -1;
	struct ifix *x = calloc(1, sizeof *x);
	x->f = *(struct fixture *)f;
	free(f);
	assert_int_equal(vg_intake_dir(x->f.db, x->idir, sizeof x->idir), VG_OK);
	x->owner = open_store(x->f.db, 1, 1000);
	*state = x;
	return 0;
}

static int iteardown(void **state)
{
	struct ifix *x = *state;
	vg_store_close(x->owner);
	DIR *d = opendir(x->idir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char p[512];
			snprintf(p, sizeof p, "%s/%s", x->idir, e->d_name);
			if (e->d_name[0] != '.')
				unlink(p);
		}
		closedir(d);
		rmdir(x->idir);
	}
	struct fixture *f = malloc(sizeof *f);
	*f = x->f;
	free(x);
	void *fp = f;
	return teardown(&fp);
}

static struct vg_intake_rec rec(const char *device, const char *key, const char *body)
{
	struct vg_intake_rec r = {
		.received_at_ms = 1700000000000,
		.size = 100,
		.priority = 1,
		.flags = 0,
		.device_id = device,
		.topic = "venue/v1/pos-1/events",
		.event_key = key,
		.type = "order.completed",
		.body = body,
		.body_len = strlen(body),
	};
	return r;
}

static long long count(struct ifix *x, const char *sql)
{
	return raw_int(x->f.db, sql);
}

/* The bytes of every segment file, concatenated (for looking for a token). */
static size_t journal_bytes(struct ifix *x, char *out, size_t cap)
{
	size_t n = 0;
	DIR *d = opendir(x->idir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", x->idir, e->d_name);
		FILE *fp = fopen(p, "rb");
		assert_non_null(fp);
		n += fread(out + n, 1, cap - n, fp);
		fclose(fp);
	}
	closedir(d);
	return n;
}

static int contains(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return 1;
	return 0;
}

static void test_record_round_trip(void **state)
{
	(void)state;
	static uint8_t buf[4096];
	static char scratch[4096];
	struct vg_intake_rec r = rec("pos-1", "KKKKKKKKKKKKKKKKKKKKKK", "{\"a\":1}");
	r.nidents = 2;
	r.idents[0] = "v1.em.AAAA";
	r.idents[1] = "v1.ph.BBBB";
	r.undeclared_total = 5;
	r.nundeclared = 1;
	r.undeclared[0] = "properties.x";
	r.undeclared_n[0] = 3;
	size_t n = vg_intake_encode(&r, buf, sizeof buf);
	assert_true(n > VG_INTAKE_HEADER);
	size_t len = 0;
	assert_int_equal(vg_intake_check(buf, n, &len), VG_INTAKE_WHOLE);
	assert_int_equal(len, n);
	struct vg_intake_rec d;
	assert_int_equal(vg_intake_decode(buf, len, &d, scratch, sizeof scratch), VG_OK);
	assert_string_equal(d.device_id, "pos-1");
	assert_string_equal(d.event_key, "KKKKKKKKKKKKKKKKKKKKKK");
	assert_string_equal(d.type, "order.completed");
	assert_string_equal(d.topic, "venue/v1/pos-1/events");
	assert_string_equal(d.body, "{\"a\":1}");
	assert_int_equal(d.body_len, 7);
	assert_int_equal(d.received_at_ms, 1700000000000);
	assert_int_equal(d.nidents, 2);
	assert_string_equal(d.idents[1], "v1.ph.BBBB");
	assert_int_equal(d.undeclared_total, 5);
	assert_string_equal(d.undeclared[0], "properties.x");
	assert_int_equal(d.undeclared_n[0], 3);
	/* Every prefix is short, never whole; any flipped byte is bad. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(vg_intake_check(buf, k, &len), VG_INTAKE_SHORT);
	for (size_t k = 0; k < n; k++) {
		buf[k] ^= 0x40;
		int what = vg_intake_check(buf, n, &len);
		assert_true(what == VG_INTAKE_BAD || (k >= 4 && k < 8 && what == VG_INTAKE_SHORT));
		buf[k] ^= 0x40;
	}
	/* A string with a NUL inside, under a CRC made right (as the fuzzer
	 * did), does not decode: it would not encode back to the same bytes. */
	uint8_t *dot = memchr(buf, '.', n);
	while (dot && memcmp(dot - 5, "order.completed", 15) != 0)
		dot = memchr(dot + 1, '.', n - (size_t)(dot + 1 - buf));
	assert_non_null(dot);
	*dot = '\0';
	uLong c = crc32(crc32(0L, Z_NULL, 0), buf + 4, 4);
	c = crc32(c, buf + VG_INTAKE_HEADER, (uInt)(n - VG_INTAKE_HEADER));
	for (int i = 0; i < 4; i++)
		buf[8 + i] = (uint8_t)(c >> (8 * i));
	assert_int_equal(vg_intake_check(buf, n, &len), VG_INTAKE_WHOLE);
	assert_int_equal(vg_intake_decode(buf, len, &d, scratch, sizeof scratch), VG_ERR_INVAL);
	*dot = '.';
	for (int i = 0; i < 4; i++)
		buf[8 + i] = 0;
	/* Zeros (a hole, a torn page) are not a record. */
	uint8_t zeros[64] = { 0 };
	assert_int_equal(vg_intake_check(zeros, sizeof zeros, &len), VG_INTAKE_BAD);
	/* Too small a buffer: nothing encoded. */
	assert_int_equal(vg_intake_encode(&r, buf, 20), 0);
}

static void append(struct vg_intake_writer *w, const struct vg_intake_rec *r)
{
	assert_int_equal(vg_intake_append(w, r), VG_OK);
}

static void test_move_stores_each_event_once(void **state)
{
	struct ifix *x = *state;
	struct vg_intake_writer *w;
	char err[256];
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 1, err, sizeof err), VG_OK);
	struct vg_intake_rec a = rec("pos-1", "AAAAAAAAAAAAAAAAAAAAAA", "{\"n\":1}");
	struct vg_intake_rec b = rec("pos-1", "BBBBBBBBBBBBBBBBBBBBBB", "{\"n\":2}");
	append(w, &a);
	append(w, &b);
	long long backlog;
	assert_int_equal(vg_intake_backlog(x->owner, x->idir, &backlog), VG_OK);
	assert_int_equal(backlog, vg_intake_written(w));
	struct vg_intake_moved m;
	/* One record per move: the position advances record by record. */
	assert_int_equal(vg_intake_move(x->owner, x->idir, 1, 0, &m), VG_OK);
	assert_int_equal(m.stored, 1);
	assert_true(m.more);
	/* A retransmission of a (same key) acknowledged while the move is under way. */
	append(w, &a);
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 1);
	assert_int_equal(m.duplicates, 1);
	assert_false(m.more);
	assert_int_equal(count(x, "SELECT count(*) FROM events"), 2);
	assert_int_equal(count(x, "SELECT count(*) FROM events WHERE event_key = 'AAAAAAAAAAAAAAAAAAAAAA'"), 1);
	assert_int_equal(vg_intake_backlog(x->owner, x->idir, &backlog), VG_OK);
	assert_int_equal(backlog, 0);
	/* Moving again finds nothing. */
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.records, 0);
	/* A move that does not commit is done again, and still stores once. */
	append(w, &b);
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.duplicates, 1);
	assert_int_equal(count(x, "SELECT count(*) FROM events"), 2);
	vg_intake_writer_close(w);
}

static void test_rolled_back_move_is_redone(void **state)
{
	struct ifix *x = *state;
	struct vg_intake_writer *w;
	char err[256];
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	struct vg_intake_rec a = rec("pos-1", "AAAAAAAAAAAAAAAAAAAAAA", "{\"n\":1}");
	append(w, &a);
	/* Another writer holds buffer.db: the move fails and moves nothing. */
	struct vg_store *other = open_store(x->f.db, 0, 10);
	assert_int_equal(vg_store_begin(other), VG_OK);
	struct vg_store *mover = open_store(x->f.db, 0, 10);
	struct vg_intake_moved m;
	assert_int_equal(vg_intake_move(mover, x->idir, 100, 0, &m), VG_ERR_BUSY);
	vg_store_rollback(other);
	vg_store_close(other);
	assert_int_equal(count(x, "SELECT count(*) FROM events"), 0);
	assert_int_equal(count(x, "SELECT offset FROM intake_state"), 0);
	assert_int_equal(vg_intake_move(mover, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 1);
	vg_store_close(mover);
	vg_intake_writer_close(w);
}

static void test_torn_tail_is_skipped_once_a_newer_segment_exists(void **state)
{
	struct ifix *x = *state;
	struct vg_intake_writer *w;
	char err[256];
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	struct vg_intake_rec a = rec("pos-1", "AAAAAAAAAAAAAAAAAAAAAA", "{\"n\":1}");
	append(w, &a);
	vg_intake_writer_close(w);
	/* A crash in the middle of the next write: half a record at the end. */
	static uint8_t buf[1024];
	struct vg_intake_rec b = rec("pos-1", "BBBBBBBBBBBBBBBBBBBBBB", "{\"n\":2}");
	size_t n = vg_intake_encode(&b, buf, sizeof buf);
	char seg[512];
	snprintf(seg, sizeof seg, "%s/%020d.vgi", x->idir, 1);
	int fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n / 2), (ssize_t)(n / 2));
	close(fd);
	/* While it is the newest segment, the mover waits for the rest. */
	struct vg_intake_moved m;
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 1);
	assert_int_equal(m.skipped_bytes, 0);
	long long backlog;
	/* Half a record is no record: nothing to count against the cap. */
	assert_int_equal(vg_intake_backlog(x->owner, x->idir, &backlog), VG_OK);
	assert_int_equal(backlog, 0);
	/* The broker restarts: a new segment; the torn tail is skipped, what
	 * follows is moved, and the old segment is deleted. */
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	struct vg_intake_rec c = rec("pos-1", "CCCCCCCCCCCCCCCCCCCCCC", "{\"n\":3}");
	append(w, &c);
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 1);
	assert_int_equal(m.skipped_bytes, (long long)(n / 2));
	assert_int_equal(count(x, "SELECT count(*) FROM events WHERE event_key = 'CCCCCCCCCCCCCCCCCCCCCC'"), 1);
	assert_int_equal(count(x, "SELECT count(*) FROM events WHERE event_key = 'BBBBBBBBBBBBBBBBBBBBBB'"), 0);
	assert_int_equal(count(x, "SELECT segment FROM intake_state"), 2);
	assert_int_equal(access(seg, F_OK), -1);
	vg_intake_writer_close(w);

	/* A durable writer killed before it gave back its reserved space: zeros
	 * follow its records, which is no torn record (nothing skipped). */
	snprintf(seg, sizeof seg, "%s/%020d.vgi", x->idir, 2);
	fd = open(seg, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	/* and garbage whose length field is huge, after a record of segment 3 */
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	struct vg_intake_rec d = rec("pos-1", "DDDDDDDDDDDDDDDDDDDDDD", "{\"n\":4}");
	append(w, &d);
	vg_intake_writer_close(w);
	snprintf(seg, sizeof seg, "%s/%020d.vgi", x->idir, 3);
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	static const uint8_t junk[16] = { 'V', 'G', 'I', '1', 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	struct vg_intake_rec e = rec("pos-1", "EEEEEEEEEEEEEEEEEEEEEE", "{\"n\":5}");
	append(w, &e);
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 2);
	assert_int_equal(m.skipped_bytes, (long long)sizeof junk);   /* the junk; not the zeros */
	assert_int_equal(count(x, "SELECT count(*) FROM events WHERE event_key IN ('DDDDDDDDDDDDDDDDDDDDDD',"
	                          " 'EEEEEEEEEEEEEEEEEEEEEE')"), 2);
	vg_intake_writer_close(w);
}

static void test_suppression_racing_the_move_leaves_nothing(void **state)
{
	struct ifix *x = *state;
	struct vg_intake_writer *w;
	char err[256];
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	const char *tok = "v1.em.PERSONTOKENPERSONTOKEN";
	struct vg_intake_rec a = rec("pos-1", "AAAAAAAAAAAAAAAAAAAAAA", "{\"person\":{\"email\":\"v1.em.PERSONTOKENPERSONTOKEN\"}}");
	a.nidents = 1;
	a.idents[0] = tok;
	struct vg_intake_rec other = rec("pos-1", "OOOOOOOOOOOOOOOOOOOOOO", "{\"n\":0}");
	append(w, &other);
	/* The person is forgotten after the event was acknowledged, before it was moved. */
	const char *toks[] = { tok };
	assert_int_equal(vg_store_suppress(x->owner, toks, 1, ",1,", 1700000000000), VG_OK);
	append(w, &a);
	struct vg_intake_moved m;
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 1);
	assert_int_equal(m.suppressed, 1);
	assert_int_equal(count(x, "SELECT count(*) FROM events WHERE body LIKE '%PERSONTOKEN%'"), 0);
	/* Nothing of the person stays in the journal's files either. */
	static char bytes[1 << 16];
	size_t n = journal_bytes(x, bytes, sizeof bytes);
	assert_false(contains(bytes, n, "PERSONTOKEN"));
	/* Without a suppression the record's bytes stay until punched (the
	 * check above can fail). */
	struct vg_intake_rec b = rec("pos-1", "BBBBBBBBBBBBBBBBBBBBBB", "{\"k\":\"STILLHERE\"}");
	append(w, &b);
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	n = journal_bytes(x, bytes, sizeof bytes);
	assert_true(contains(bytes, n, "STILLHERE"));
	/* An erasure's move wipes what it moved. */
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 1, &m), VG_OK);
	n = journal_bytes(x, bytes, sizeof bytes);
	assert_false(contains(bytes, n, "STILLHERE"));
	vg_intake_writer_close(w);
}

static void test_disk_cap_stops_the_move_and_keeps_the_rest(void **state)
{
	struct ifix *x = *state;
	vg_store_close(x->owner);
	struct vg_store_cfg cfg = { .path = x->f.db, .owner = 1, .durability_full = 0, .busy_timeout_ms = 1000,
	                            .max_bytes = 1 << 20 };
	char err[256];
	assert_int_equal(vg_store_open(&x->owner, &cfg, err, sizeof err), VG_OK);
	struct vg_intake_writer *w;
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	static char body[4001];
	memset(body, 'x', sizeof body - 1);
	char key[32];
	for (int i = 0; i < 400; i++) {   /* 1.6 MB: more than the cap */
		snprintf(key, sizeof key, "K%021d", i);
		struct vg_intake_rec r = rec("pos-1", key, body);
		append(w, &r);
	}
	long long written;
	assert_int_equal(vg_intake_backlog(x->owner, x->idir, &written), VG_OK);
	assert_int_equal(written, vg_intake_written(w));   /* 400 records over many reads */
	struct vg_intake_moved m;
	assert_int_equal(vg_intake_move(x->owner, x->idir, 1000, 0, &m), VG_OK);
	assert_true(m.full);
	assert_true(m.stored > 100 && m.stored < 400);
	long long stored = m.stored;
	assert_int_equal(count(x, "SELECT count(*) FROM events"), stored);
	/* The rest stays in the journal, from the record that did not fit. */
	long long backlog;
	assert_int_equal(vg_intake_backlog(x->owner, x->idir, &backlog), VG_OK);
	assert_true(backlog > 0);
	/* Room again (the CDP took the backlog): the rest moves. */
	raw_exec(x->f.db, "DELETE FROM events");
	assert_int_equal(vg_intake_move(x->owner, x->idir, 1000, 0, &m), VG_OK);
	assert_int_equal(m.stored + stored, 400);
	vg_intake_writer_close(w);
}

static void test_undeclared_counts_move_with_the_event(void **state)
{
	struct ifix *x = *state;
	struct vg_intake_writer *w;
	char err[256];
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	struct vg_intake_rec a = rec("pos-1", "AAAAAAAAAAAAAAAAAAAAAA", "{}");
	a.undeclared_total = 7;
	a.nundeclared = 2;
	a.undeclared[0] = "properties.x";
	a.undeclared_n[0] = 2;
	a.undeclared[1] = "properties.~";
	a.undeclared_n[1] = 1;
	append(w, &a);
	append(w, &a);   /* a duplicate counts nothing */
	struct vg_intake_moved m;
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 1);
	assert_int_equal(m.duplicates, 1);
	assert_int_equal(count(x, "SELECT count FROM undeclared WHERE path = 'properties.x'"), 2);
	assert_int_equal(count(x, "SELECT count FROM undeclared WHERE path = 'properties.~'"), 1);
	assert_int_equal(count(x, "SELECT count FROM undeclared WHERE path = '~more'"), 4);
	assert_int_equal(count(x, "SELECT count(*) FROM undeclared WHERE type = 'order.completed'"), 3);
	/* The list on its own: an unknown type is "~unknown", nothing listed at all is all "~more". */
	assert_int_equal(vg_store_begin(x->owner), VG_OK);
	assert_int_equal(vg_store_count_undeclared_list(x->owner, "pos-2", "", NULL, NULL, 0, 3, 1), VG_OK);
	assert_int_equal(vg_store_count_undeclared_list(x->owner, "pos-2", "", NULL, NULL, 0, 0, 1), VG_OK);
	assert_int_equal(vg_store_commit(x->owner), VG_OK);
	assert_int_equal(count(x, "SELECT count FROM undeclared WHERE device_id = 'pos-2' AND type = '~unknown'"
	                          " AND path = '~more'"), 3);
	vg_intake_writer_close(w);
}

static void test_a_record_larger_than_a_read_moves(void **state)
{
	struct ifix *x = *state;
	struct vg_intake_writer *w;
	char err[256];
	assert_int_equal(vg_intake_writer_open(&w, x->idir, 0, err, sizeof err), VG_OK);
	static char big[300 * 1024 + 1];
	memset(big, 'b', sizeof big - 1);
	struct vg_intake_rec small = rec("pos-1", "SSSSSSSSSSSSSSSSSSSSSS", "{}");
	struct vg_intake_rec large = rec("pos-1", "LLLLLLLLLLLLLLLLLLLLLL", big);
	append(w, &small);
	append(w, &large);
	append(w, &small);   /* a duplicate after it */
	/* The backlog walks the headers across reads, past a record larger than one. */
	long long backlog;
	assert_int_equal(vg_intake_backlog(x->owner, x->idir, &backlog), VG_OK);
	assert_int_equal(backlog, vg_intake_written(w));
	struct vg_intake_moved m;
	assert_int_equal(vg_intake_move(x->owner, x->idir, 100, 0, &m), VG_OK);
	assert_int_equal(m.stored, 2);
	assert_int_equal(m.duplicates, 1);
	assert_int_equal(count(x, "SELECT length(body) FROM events WHERE event_key = 'LLLLLLLLLLLLLLLLLLLLLL'"),
	                 (long long)strlen(big));
	vg_intake_writer_close(w);
}

static void test_writer_starts_a_new_segment_per_open(void **state)
{
	struct ifix *x = *state;
	char err[256];
	struct vg_intake_writer *w1, *w2;
	assert_int_equal(vg_intake_writer_open(&w1, x->idir, 1, err, sizeof err), VG_OK);
	vg_intake_writer_close(w1);
	assert_int_equal(vg_intake_writer_open(&w2, x->idir, 1, err, sizeof err), VG_OK);
	struct vg_intake_rec a = rec("pos-1", "AAAAAAAAAAAAAAAAAAAAAA", "{}");
	append(w2, &a);
	vg_intake_writer_close(w2);
	char p[512];
	snprintf(p, sizeof p, "%s/%020d.vgi", x->idir, 1);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof p, "%s/%020d.vgi", x->idir, 2);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_true(sb.st_size > 0);
	/* A durable writer reserves the segment's space; the backlog counts
	 * records only, and closing trims the segment to them. */
	assert_int_equal(vg_intake_writer_open(&w1, x->idir, 1, err, sizeof err), VG_OK);
	append(w1, &a);
	snprintf(p, sizeof p, "%s/%020d.vgi", x->idir, 3);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, VG_INTAKE_SEGMENT_MAX);
	long long backlog, one = vg_intake_written(w1);
	assert_int_equal(vg_intake_backlog(x->owner, x->idir, &backlog), VG_OK);
	assert_int_equal(backlog, 2 * one);   /* segment 2's record and this one */
	vg_intake_writer_close(w1);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, one);
	/* A writer cannot open where it cannot create its directory. */
	assert_int_not_equal(vg_intake_writer_open(&w1, "/proc/no/such", 0, err, sizeof err), VG_OK);
	assert_non_null(strstr(err, "cannot create"));
}

int main(void)
{
	vg_log_threshold = VG_LOG_ERR;   /* the torn tail's warning is expected */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test_setup_teardown(test_move_stores_each_event_once, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_rolled_back_move_is_redone, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_is_skipped_once_a_newer_segment_exists, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_suppression_racing_the_move_leaves_nothing, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_disk_cap_stops_the_move_and_keeps_the_rest, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_undeclared_counts_move_with_the_event, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_a_record_larger_than_a_read_moves, isetup, iteardown),
		cmocka_unit_test_setup_teardown(test_writer_starts_a_new_segment_per_open, isetup, iteardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
