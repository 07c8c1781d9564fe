/* Unit tests for firmware/core/buf.c: the bounded growable buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

static void appends_and_grows(void **state)
{
	(void)state;
	struct vg_buf b;
	vg_buf_init(&b, 1 << 20);
	assert_string_equal(vg_buf_str(&b), "");
	assert_int_equal(vg_buf_adds(&b, "abc"), VG_OK);
	assert_int_equal(vg_buf_add(&b, "de\0f", 2), VG_OK);
	assert_int_equal(vg_buf_addf(&b, "-%d-%s", 42, "x"), VG_OK);
	assert_string_equal(vg_buf_str(&b), "abcde-42-x");
	assert_int_equal(b.len, 10);
	/* past the small formatting buffer, and many times past the first allocation */
	char big[1000];
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < 100; i++)
		assert_int_equal(vg_buf_addf(&b, "%s", big), VG_OK);
	assert_int_equal(b.len, 10 + 100 * 999);
	assert_int_equal(strlen(vg_buf_str(&b)), b.len);
	assert_true(b.cap <= b.max);
	size_t len;
	char *p = vg_buf_take(&b, &len);
	assert_int_equal(len, 10 + 100 * 999);
	assert_memory_equal(p, "abcde-42-xyyy", 13);
	free(p);
	assert_int_equal(b.len, 0);
	assert_null(b.p);
	assert_int_equal(b.max, 1 << 20);
	vg_buf_free(&b);
}

static void the_maximum_holds(void **state)
{
	(void)state;
	struct vg_buf b;
	vg_buf_init(&b, 8);                      /* 7 bytes and the NUL */
	assert_int_equal(vg_buf_adds(&b, "1234567"), VG_OK);
	assert_int_equal(vg_buf_adds(&b, "8"), VG_ERR_RANGE);
	assert_string_equal(vg_buf_str(&b), "1234567");
	/* sticky: nothing more goes in, not even nothing */
	assert_int_equal(vg_buf_add(&b, "", 0), VG_ERR_RANGE);
	assert_int_equal(vg_buf_addf(&b, "%s", ""), VG_ERR_RANGE);
	assert_int_equal(b.err, VG_ERR_RANGE);
	vg_buf_free(&b);
	assert_int_equal(b.err, VG_OK);
	assert_int_equal(vg_buf_addf(&b, "%s", "123456789"), VG_ERR_RANGE);
	assert_int_equal(b.len, 0);
	vg_buf_free(&b);
	/* a length that would wrap around */
	vg_buf_init(&b, 100);
	assert_int_equal(vg_buf_adds(&b, "x"), VG_OK);
	assert_int_equal(vg_buf_add(&b, "y", SIZE_MAX), VG_ERR_RANGE);
	vg_buf_free(&b);
}

static void arrays_grow(void **state)
{
	(void)state;
	int *a = NULL;
	size_t cap = 0;
	assert_int_equal(vg_array_reserve((void **)&a, &cap, 1, sizeof *a), VG_OK);
	assert_int_equal(cap, 16);
	for (int i = 0; i < 16; i++)
		a[i] = i;
	assert_int_equal(vg_array_reserve((void **)&a, &cap, 16, sizeof *a), VG_OK);
	assert_int_equal(cap, 16);
	assert_int_equal(vg_array_reserve((void **)&a, &cap, 17, sizeof *a), VG_OK);
	assert_int_equal(cap, 32);
	assert_int_equal(vg_array_reserve((void **)&a, &cap, 100, sizeof *a), VG_OK);
	assert_int_equal(cap, 128);
	assert_int_equal(a[15], 15);
	assert_int_equal(vg_array_reserve((void **)&a, &cap, SIZE_MAX / 2, 8), VG_ERR_NOMEM);
	assert_int_equal(vg_array_reserve((void **)&a, &cap, SIZE_MAX, 8), VG_ERR_NOMEM);
	assert_int_equal(cap, 128);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(appends_and_grows),
		cmocka_unit_test(the_maximum_holds),
		cmocka_unit_test(arrays_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
