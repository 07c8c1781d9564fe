#include "err.h"

const char *vg_strerror(int err)
{
	switch (err) {
	case VG_OK: return "success";
	case VG_ERR_NOMEM: return "out of memory";
	case VG_ERR_INVAL: return "invalid input";
	case VG_ERR_IO: return "input/output error";
	case VG_ERR_BUSY: return "database busy";
	case VG_ERR_SCHEMA: return "buffer.db schema version mismatch";
	case VG_ERR_CONFIG: return "configuration error";
	case VG_ERR_FULL: return "buffer full";
	case VG_ERR_NOTFOUND: return "not found";
	case VG_ERR_RANGE: return "value out of range";
	}
	return "unknown error";
}
