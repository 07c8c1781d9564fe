/* The bounded growable buffer: see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define MIN_ALLOC 256

void vg_buf_init(struct vg_buf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

/* Room for len more bytes and the NUL. */
static int reserve(struct vg_buf *b, size_t len)
{
	if (b->err)
		return b->err;
	if (len >= b->max || b->len + len + 1 > b->max) {
		b->err = VG_ERR_RANGE;
		return b->err;
	}
	size_t need = b->len + len + 1;
	if (need <= b->cap)
		return VG_OK;
	size_t cap = b->cap ? b->cap : MIN_ALLOC;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max)
		cap = b->max;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->err = VG_ERR_NOMEM;
		return b->err;
	}
	b->p = p;
	b->cap = cap;
	return VG_OK;
}

int vg_buf_add(struct vg_buf *b, const void *mem, size_t len)
{
	int rc = reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->p + b->len, mem, len);
	b->len += len;
	b->p[b->len] = '\0';
	return VG_OK;
}

int vg_buf_adds(struct vg_buf *b, const char *s)
{
	return vg_buf_add(b, s, strlen(s));
}

int vg_buf_addf(struct vg_buf *b, const char *fmt, ...)
{
	if (b->err)
		return b->err;
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = VG_ERR_INVAL;
		return b->err;
	}
	if ((size_t)n < sizeof small)
		return vg_buf_add(b, small, (size_t)n);
	int rc = reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return VG_OK;
}

const char *vg_buf_str(const struct vg_buf *b)
{
	return b->p ? b->p : "";
}

char *vg_buf_take(struct vg_buf *b, size_t *len)
{
	char *p = b->p;
	if (len)
		*len = b->len;
	vg_buf_init(b, b->max);
	return p;
}

void vg_buf_reset(struct vg_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->p)
		b->p[0] = '\0';
}

void vg_buf_free(struct vg_buf *b)
{
	free(b->p);
	vg_buf_init(b, b->max);
}

int vg_array_reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return VG_OK;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c = c > SIZE_MAX / 2 ? need : c * 2;
	if (elem && c > SIZE_MAX / elem)
		return VG_ERR_NOMEM;
	void *p = realloc(*arr, c * elem);
	if (!p)
		return VG_ERR_NOMEM;
	*arr = p;
	*cap = c;
	return VG_OK;
}
