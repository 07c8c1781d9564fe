/* venuegw — the error codes every module returns.
 *
 * One small, stable set.  VG_OK is 0; every other value is negative so a
 * function may return a count on success and an error otherwise. */
#ifndef VG_ERR_H
#define VG_ERR_H

enum vg_err {
	VG_OK = 0,
	VG_ERR_NOMEM = -1,    /* out of memory */
	VG_ERR_INVAL = -2,    /* bad argument or bad input */
	VG_ERR_IO = -3,       /* a file or database operation failed */
	VG_ERR_BUSY = -4,     /* the database is locked by another writer */
	VG_ERR_SCHEMA = -5,   /* buffer.db has a schema version we do not speak */
	VG_ERR_CONFIG = -6,   /* the configuration is wrong */
	VG_ERR_FULL = -7,     /* the buffer is at its disk cap */
	VG_ERR_NOTFOUND = -8, /* no such row, file or key */
	VG_ERR_RANGE = -9,    /* a value is outside its limits */
};

/* A short English description of err.  Never NULL; static storage. */
const char *vg_strerror(int err);

#endif
