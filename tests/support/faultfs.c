/* faultfs — an LD_PRELOAD shim that makes fsync(2)/fdatasync(2) fail with EIO
 * while the file named by $VG_FAULT_FSYNC_FILE exists.  Tests use it to make
 * buffer.db's commits fail inside a real broker and then heal, without
 * touching the code under test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

static int faulty(void)
{
	const char *flag = getenv("VG_FAULT_FSYNC_FILE");
	return flag && access(flag, F_OK) == 0;
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (faulty()) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (faulty()) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}
