"""What every test's child processes share."""
import ctypes
import signal

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_test():
    """preexec_fn for the servers a test starts: the kernel SIGKILLs them when
    the test process dies (a ctest timeout, a failed setUp whose tearDown never
    ran), so none outlives its test holding a port or a PTY path."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
