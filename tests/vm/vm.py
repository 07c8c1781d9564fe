"""tests/vm/vm.py — boot a Debian 12 guest under qemu (TCG) with real systemd.

Python 3 standard library only; run as root on the host (mmdebstrap, tar
with owners, mkfs.ext4 -d).  Used by tests/vm/systemd_test.py and
tests/vm/powercut.py.

Host side
---------
    import vm
    cache_dir = vm.ensure_image()          # tests/vm/image.sh: builds once, then cached
    vm.build_disk(cache_dir, "/tmp/x/disk.img",
                  {"/opt/vgtest/main": "tests/vm/guest/main.py",   # host path: its mode kept
                   "/opt/vgtest/venuegw.deb": deb_path,
                   "/etc/vgtest.conf": b"phase=1\\n"},              # bytes: 0644 (0755 for
                  size_mb=2048, units=("some.service",))            #  *.sh, *.py, /usr/local/bin/)
    g = vm.Guest("/tmp/x/disk.img", cache_dir, "/tmp/x/console.log")
    g.start()
    m = g.wait_for(r"^VGTEST ready (\\d+)", timeout_s=180)   # re.Match, or TimeoutError
    g.kill()                                                # SIGKILL of qemu: a power cut
    g.wait_exit(10)
    vm.fsck(img); vm.debugfs_cat(img, "/var/lib/x")         # look at the disk afterwards

build_disk(cache_dir, out_img, files, size_mb=2048, units=())
    Unpacks the cached rootfs.tar into a temporary directory beside out_img,
    adds `files` (guest absolute path -> host path (str) or content (bytes);
    a host file keeps its mode; bytes get 0644, or 0755 for paths ending in .sh
    or .py or under /usr/local/bin/; a (content-or-path, mode) tuple sets the
    mode; parent directories are made 0755 root:root; everything is owned by
    root), enables each unit in `units` for multi-user.target (a symlink in
    /etc/systemd/system/multi-user.target.wants/), and runs `mkfs.ext4 -q -d
    DIR out_img SIZE` (no loop mounts; inode tables initialised on the host,
    so the guest does no lazy init).  out_img must be on a file system that
    supports O_DIRECT (not tmpfs): the guest disk uses cache=none.

Guest(img, cache_dir, console_log, extra_drives=(), mem_mb=1024, smp=1, append="", qemu_args=())
    .start()       boots qemu-system-x86_64 -accel tcg (KVM only with
                   VG_VM_ACCEL=kvm: it hangs on these machines) -kernel/-initrd
                   from cache_dir, root=/dev/vda (img, virtio, raw, cache=none),
                   no network device, virtio-rng, the serial console on qemu's
                   stdout.  A reader thread appends every console line (without
                   "\\r") to console_log (flushed) and to .lines.  qemu's own
                   stderr goes to console_log + ".qemu".  Without -no-reboot: a
                   guest reboot restarts it in the same qemu process; a guest
                   poweroff ends qemu (exit status 0).
    .wait_for(regex, timeout_s, since=0)
                   the first console line at index >= since that re.search()
                   matches -> the re.Match (its line's index is in
                   .last_match_index); raises TimeoutError (with the console's
                   tail) at the deadline, or GuestExited (a TimeoutError) as
                   soon as qemu has exited without such a line.
    .mark()        len(.lines) now: pass as since= to wait only for later lines.
    .lines         every console line so far (a list; it only grows);
                   .line_at[i]: when line i arrived (seconds since start()).
    .partial_tail  True when qemu's output ended mid-line (after kill()): the
                   last of .lines is then a fragment.
    .vgtest(since=0)  the VGTEST lines' text after "VGTEST ", in order.
    .kill()        SIGKILL of qemu (a power cut), reaped.
    .wait_exit(timeout_s)  qemu's exit status; TimeoutError if still running.
    .pid           qemu's pid (None before start()).
    .close()       kill if running, join the reader, close files (also at
                   interpreter exit, and qemu gets SIGKILL from the kernel if
                   the Python process dies: PR_SET_PDEATHSIG).  Guest is also a
                   context manager.
    extra_drives   host raw files attached as further virtio disks, /dev/vdb,
                   /dev/vdc, ... in order: a path (read-write) or
                   (path, readonly_bool).  cache=none as well.
    append         more kernel command line; qemu_args: more qemu arguments.
    Each Guest kills only the qemu it started (by pid).  PR_SET_PDEATHSIG
    is tied to the thread that called start(): call it from a thread that
    lives as long as the guest (the main thread).

Guest side: the vgtest.service convention
-----------------------------------------
If `files` holds "/opt/vgtest/main" (and no /etc/systemd/system/vgtest.service
of its own), build_disk() installs and enables this unit:

    [Unit]
    After=multi-user.target          (so every enabled service has started)
    [Service]
    Type=simple
    ExecStart=/opt/vgtest/main       (runs as root, cwd /opt/vgtest)
    StandardOutput=tty, StandardError=tty, TTYPath=/dev/ttyS0
    Environment=PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 SYSTEMD_COLORS=0
                TERM=dumb SYSTEMD_PAGER=
    [Install]
    WantedBy=multi-user.target

so whatever /opt/vgtest/main prints goes out on the serial console.  Results
are lines that start with "VGTEST " (e.g. "VGTEST check-a ok delivered=1",
"VGTEST done"); the host waits for them with wait_for(r"^VGTEST done").  The
kernel logs at loglevel=3 ("quiet") and systemd shows status only on errors,
so the console holds little else.  The unit starts again on every boot: a
script that reboots the guest (`systemctl reboot`) keeps its state in a file
on the guest disk to know which phase it is in; `systemctl poweroff` at the
end ends qemu.  The guest has no network device: every service talks over
127.0.0.1 inside the guest.  /opt/vgtest/main can be any executable (a Python
3 or sh script; python3, sqlite3, mosquitto-clients, procps, e2fsprogs are in
the image: see tests/vm/image.sh).
"""
import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_SH = os.path.join(HERE, "image.sh")

VGTEST_UNIT = """\
# Installed by tests/vm/vm.py: runs the test's /opt/vgtest/main after boot,
# its output on the serial console (lines starting "VGTEST " are results).
[Unit]
Description=venuegw VM test script (/opt/vgtest/main)
After=multi-user.target

[Service]
Type=simple
ExecStart=/opt/vgtest/main
WorkingDirectory=/opt/vgtest
StandardInput=null
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no
Environment=PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 SYSTEMD_COLORS=0 SYSTEMD_PAGER= TERM=dumb
TimeoutStopSec=10s

[Install]
WantedBy=multi-user.target
"""

KERNEL_APPEND = ("root=/dev/vda rootfstype=ext4 rw console=ttyS0 quiet loglevel=3 "
                 "mitigations=off systemd.show_status=error")


class GuestExited(TimeoutError):
    """qemu exited while a wait_for() was waiting (a TimeoutError, so callers
    that handle the deadline handle this too)."""


def _run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ensure_image():
    """Build (or find) the cached guest image; return its cache directory."""
    out = subprocess.run([IMAGE_SH], check=False, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise RuntimeError("tests/vm/image.sh failed (exit %d)" % out.returncode)
    lines = [x for x in out.stdout.splitlines() if x.strip()]
    if not lines or not os.path.isfile(os.path.join(lines[-1], "rootfs.tar")):
        raise RuntimeError("tests/vm/image.sh printed no cache directory: %r" % out.stdout[-500:])
    return lines[-1]


def _guest_path(root, gpath):
    if not gpath.startswith("/") or "/../" in gpath + "/" or gpath.rstrip("/") == "":
        raise ValueError("guest path must be absolute and plain: %r" % gpath)
    return os.path.join(root, gpath.lstrip("/"))


def _makedirs(root, d):
    """Make d (a host path under root) and its missing parents, 0755 root:root."""
    missing = []
    while not os.path.lexists(d):
        missing.append(d)
        d = os.path.dirname(d)
    for x in reversed(missing):
        os.mkdir(x, 0o755)
        os.chmod(x, 0o755)
        os.chown(x, 0, 0)


def _default_mode(gpath):
    if gpath.endswith((".sh", ".py")) or gpath.startswith("/usr/local/bin/"):
        return 0o755
    return 0o644


def _add_file(root, gpath, src):
    mode = None
    if isinstance(src, tuple):
        src, mode = src
    dest = _guest_path(root, gpath)
    _makedirs(root, os.path.dirname(dest))
    if os.path.lexists(dest) and not os.path.isdir(dest):
        os.unlink(dest)
    if isinstance(src, (bytes, bytearray)):
        with open(dest, "wb") as f:
            f.write(src)
        os.chmod(dest, _default_mode(gpath) if mode is None else mode)
    elif isinstance(src, str):
        shutil.copyfile(src, dest)
        os.chmod(dest, (os.stat(src).st_mode & 0o7777) if mode is None else mode)
    else:
        raise TypeError("files[%r] must be a host path (str) or bytes, not %r" % (gpath, type(src)))
    os.chown(dest, 0, 0)


def _find_unit(root, unit):
    for d in ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"):
        p = os.path.join(root, d, unit)
        if os.path.lexists(p):
            return "/" + d + "/" + unit
    return None


def _enable(root, unit, target="multi-user.target"):
    where = _find_unit(root, unit)
    if where is None:
        raise FileNotFoundError("unit %s is not in the guest root (add it with files=)" % unit)
    wants = os.path.join(root, "etc/systemd/system", target + ".wants")
    _makedirs(root, wants)
    link = os.path.join(wants, unit)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(where, link)


def build_disk(cache_dir, out_img, files, size_mb=2048, units=()):
    """The cached root + files + enabled units -> an ext4 disk image (see the module doc)."""
    out_img = os.path.abspath(out_img)
    tmp = tempfile.mkdtemp(prefix=".vgvm-root.", dir=os.path.dirname(out_img))
    try:
        root = os.path.join(tmp, "root")
        os.mkdir(root, 0o755)
        _run(["tar", "-x", "-p", "--numeric-owner", "--xattrs", "--xattrs-include=*",
              "-f", os.path.join(cache_dir, "rootfs.tar"), "-C", root])
        files = dict(files)
        units = list(units)
        if "/opt/vgtest/main" in files and "/etc/systemd/system/vgtest.service" not in files:
            files["/etc/systemd/system/vgtest.service"] = VGTEST_UNIT.encode()
            if "vgtest.service" not in units:
                units.append("vgtest.service")
        for gpath, src in files.items():
            _add_file(root, gpath, src)
        for u in units:
            _enable(root, u)
        if os.path.exists(out_img):
            os.unlink(out_img)
        _run(["mkfs.ext4", "-q", "-F", "-L", "vgroot", "-E", "lazy_itable_init=0,lazy_journal_init=0",
              "-d", root, out_img, "%dM" % size_mb], stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_img


def fsck(img, fix=True):
    """e2fsck -f (with fix: -y, replaying the journal) on a guest disk whose qemu
    has exited; returns (exit status, output).  0: clean, 1: errors fixed."""
    r = subprocess.run(["e2fsck", "-f", "-y" if fix else "-n", img], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def debugfs_cat(img, gpath):
    """A file's bytes from an (unmounted) guest disk, through debugfs; None if absent.
    Run fsck() first after a power cut: debugfs does not replay the journal."""
    r = subprocess.run(["debugfs", "-R", "cat %s" % gpath, img], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if b"File not found" in r.stderr or r.returncode != 0:
        return None
    return r.stdout


def _pdeathsig():
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgid(0, 0)   # its own process group: a Ctrl-C of the driver does not reach it first


_live = set()


@atexit.register
def _kill_live():
    for g in list(_live):
        g.close()


class Guest:
    def __init__(self, img, cache_dir, console_log, extra_drives=(), mem_mb=1024, smp=1, append="",
                 qemu_args=()):
        self.img = os.path.abspath(img)
        self.cache_dir = cache_dir
        self.console_log = console_log
        self.extra_drives = list(extra_drives)
        self.mem_mb = mem_mb
        self.smp = smp
        self.append = append
        self.qemu_args = list(qemu_args)
        self.lines = []
        self.line_at = []          # per line: seconds since start() when it arrived
        self.partial_tail = False  # qemu's output ended in the middle of a line
        self.last_match_index = None
        self.proc = None
        self.started_at = None
        self._cond = threading.Condition()
        self._reader = None
        self._log = None
        self._eof = False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def command(self):
        accel = os.environ.get("VG_VM_ACCEL", "tcg")
        if accel not in ("tcg", "kvm"):
            raise ValueError("VG_VM_ACCEL must be tcg or kvm, not %r" % accel)
        cmd = ["qemu-system-x86_64", "-accel", accel, "-m", str(self.mem_mb), "-smp", str(self.smp),
               "-no-user-config", "-nodefaults", "-display", "none", "-monitor", "none",
               "-kernel", os.path.join(self.cache_dir, "vmlinuz"),
               "-initrd", os.path.join(self.cache_dir, "initrd.img"),
               "-append", (KERNEL_APPEND + " " + self.append).strip(),
               "-drive", "file=%s,format=raw,if=virtio,cache=none" % self.img]
        for d in self.extra_drives:
            path, ro = (d, False) if isinstance(d, str) else (d[0], bool(d[1]))
            cmd += ["-drive", "file=%s,format=raw,if=virtio,cache=none%s"
                    % (os.path.abspath(path), ",readonly=on" if ro else "")]
        cmd += ["-nic", "none", "-device", "virtio-rng-pci", "-rtc", "base=utc",
                "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"]
        return cmd + self.qemu_args

    def start(self):
        if self.proc is not None:
            raise RuntimeError("this Guest was started already")
        for f in ("vmlinuz", "initrd.img"):
            if not os.path.isfile(os.path.join(self.cache_dir, f)):
                raise FileNotFoundError("%s/%s: run ensure_image() first" % (self.cache_dir, f))
        self._log = open(self.console_log, "a", buffering=1, encoding="utf-8", errors="replace")
        self._qlog = open(self.console_log + ".qemu", "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._qlog, preexec_fn=_pdeathsig)
        _live.add(self)
        self._reader = threading.Thread(target=self._read, name="vm-console-%d" % self.proc.pid,
                                        daemon=True)
        self._reader.start()
        return self

    def _read(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *whole, buf = buf.split(b"\n")
            if whole:
                self._add([x.decode("utf-8", "replace").replace("\r", "") for x in whole])
        if buf:
            # The guest's tty sends "\r\n" (ONLCR): a tail ending in "\r" is a
            # whole line; anything else was cut (a power cut mid-line).
            self.partial_tail = not buf.endswith(b"\r")
            self._add([buf.decode("utf-8", "replace").replace("\r", "")])
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _add(self, new):
        t = time.monotonic() - self.started_at
        for x in new:
            self._log.write("[%8.3f] %s\n" % (t, x))
        with self._cond:
            self.lines.extend(new)
            self.line_at.extend([t] * len(new))
            self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self.lines)

    def tail(self, n=40):
        with self._cond:
            return "\n".join(self.lines[-n:])

    def wait_for(self, regex, timeout_s, since=0):
        rx = re.compile(regex) if isinstance(regex, str) else regex
        end = time.monotonic() + timeout_s
        i = since
        with self._cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        self.last_match_index = i
                        return m
                    i += 1
                if self._eof or (self.proc is not None and self.proc.poll() is not None and self._eof):
                    rc = self.proc.poll() if self.proc else None
                    raise GuestExited("qemu (pid %s) exited (status %s) before a console line matched %r;"
                                      " console tail:\n%s\n%s" % (self.pid, rc, rx.pattern, self._tail_locked(),
                                                                  self._qemu_stderr()))
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no console line matched %r within %.0f s; console tail:\n%s"
                                       % (rx.pattern, timeout_s, self._tail_locked()))
                self._cond.wait(min(left, 1.0))

    def _tail_locked(self, n=40):
        return "\n".join("    | " + x for x in self.lines[-n:])

    def _qemu_stderr(self):
        try:
            with open(self.console_log + ".qemu", errors="replace") as f:
                t = f.read()[-2000:]
            return "qemu stderr:\n" + t if t.strip() else ""
        except OSError:
            return ""

    def vgtest(self, since=0):
        with self._cond:
            out = []
            for x in self.lines[since:]:
                k = x.find("VGTEST ")
                if k >= 0:
                    out.append(x[k + 7:])
            return out

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL of the qemu this Guest started (a power cut), then reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def wait_exit(self, timeout_s):
        if self.proc is None:
            raise RuntimeError("not started")
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError("qemu (pid %d) still running after %.0f s; console tail:\n%s"
                               % (self.proc.pid, timeout_s, self.tail())) from None
        if self._reader is not None:
            self._reader.join(5)
        return rc

    def close(self):
        self.kill()
        if self._reader is not None:
            self._reader.join(5)
        for f in (self.proc.stdin if self.proc else None, self.proc.stdout if self.proc else None,
                  self._log, getattr(self, "_qlog", None)):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
