/* venuegw — a bounded growable buffer (after curl's dynbuf,
 * docs/internals/DYNBUF.md): the hard maximum is set at creation, and an
 * append that would pass it fails instead of growing without end.
 *
 * Failures are sticky: after one, every later append fails with the same
 * error, so a producer may append a whole document and check once. The
 * contents stay NUL-terminated. */
#ifndef VG_BUF_H
#define VG_BUF_H

#include <stddef.h>

struct vg_buf {
	char *p;                      /* NULL until the first append */
	size_t len, cap;
	size_t max;                   /* len + 1 never exceeds it */
	int err;                      /* VG_OK, or the first failure (VG_ERR_NOMEM, VG_ERR_RANGE) */
};

/* An empty buffer that may hold up to max - 1 bytes (plus the NUL); as an
 * initializer: struct vg_buf b = VG_BUF_INIT(max); */
void vg_buf_init(struct vg_buf *b, size_t max);
#define VG_BUF_INIT(maximum) { .p = NULL, .len = 0, .cap = 0, .max = (maximum), .err = 0 }

/* Append; VG_OK, VG_ERR_NOMEM, VG_ERR_RANGE (over the maximum), or the
 * earlier failure. */
int vg_buf_add(struct vg_buf *b, const void *mem, size_t len);
int vg_buf_adds(struct vg_buf *b, const char *s);
int vg_buf_addf(struct vg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The contents ("" when empty; never NULL), valid until the next append. */
const char *vg_buf_str(const struct vg_buf *b);

/* Hand the contents to the caller (free() them; NULL when nothing was
 * appended) and leave b empty with the same maximum. */
char *vg_buf_take(struct vg_buf *b, size_t *len);

/* Empty b (also clearing a failure) and keep its memory for reuse. */
void vg_buf_reset(struct vg_buf *b);

/* Free the contents and leave b empty (also clearing a failure). */
void vg_buf_free(struct vg_buf *b);

/* Grow an array *arr of *cap elements of elem bytes so that it holds at
 * least need, doubling from 16 (realloc'd; *arr and *cap updated).  VG_OK or
 * VG_ERR_NOMEM (the array untouched). */
int vg_array_reserve(void **arr, size_t *cap, size_t need, size_t elem);

#endif
