"""The daemon under systemd's service protocol (DESIGN.md §9, issue 7):
Type=notify (READY=1, STATUS=, STOPPING=1), watchdog pings from the poll loop,
RELOADING=1 around SIGHUP, which applies what it may and names what needs a
restart, and journal-formatted logs when stderr is the journal.  systemd is
not running here: the test is the notify socket's other end, a real
AF_UNIX datagram socket, as systemd would be."""
import os
import signal
import socket
import subprocess
import unittest

from harness import GatewayCase, build_path, read_text


class NotifyTest(GatewayCase):
    prefix = "vg-sd-"
    start_gateway = False   # the tests run `venuegw run` themselves (self.start)

    def setUp(self):
        super().setUp()
        self.sock_path = os.path.join(self.tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(10)
        self.proc = None
        self.addCleanup(self.kill_proc)
        self.log = os.path.join(self.tmp, "daemon.log")

    def kill_proc(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def start(self, **env):
        full = dict(os.environ, NOTIFY_SOCKET=self.sock_path, **env)
        full.pop("JOURNAL_STREAM", None)
        full.update(env)
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([build_path("venuegw"), "--config", self.gw.conf, "run"],
                                     stdout=self.logf, stderr=self.logf, env=full)
        self.logf.close()

    def messages(self, until, limit=200):
        """Datagrams until one contains `until`; returns them all."""
        got = []
        while len(got) < limit:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                self.fail("no %r from the daemon; got %r; log:\n%s" % (until, got, read_text(self.log)))
            got.append(data)
            if until in data.split("\n"):
                return got
        self.fail("%r never came in %d messages" % (until, limit))

    def test_ready_watchdog_reload_stopping(self):
        # WATCHDOG_USEC=300 ms: systemd would kill a daemon that misses it.
        self.start(WATCHDOG_USEC="300000", WATCHDOG_PID=str(os.getpid() + 0))
        # WATCHDOG_PID names another process: the pings are not for us.
        got = self.messages("READY=1")
        ready = [m for m in got if "READY=1" in m.split("\n")][0]
        self.assertRegex(ready, r"STATUS=backlog \d+; forwarded 0")
        self.assertFalse(any("WATCHDOG=1" in m for m in got))
        self.proc.send_signal(signal.SIGTERM)
        self.messages("STOPPING=1")
        self.assertEqual(self.proc.wait(timeout=10), 0)

        # Now for this process: pings keep coming while it runs.
        self.sock.settimeout(10)
        self.start(WATCHDOG_USEC="300000")
        self.messages("READY=1")
        pings = 0
        while pings < 5:
            pings += sum(1 for m in self.messages("WATCHDOG=1") if "WATCHDOG=1" in m)
        self.assertIn("systemd watchdog: a ping every 150 ms", read_text(self.log))

        # SIGHUP: RELOADING=1, then READY=1 again; the log names what was applied
        # and what needs a restart, and the running values stay for the latter.
        with open(self.gw.conf) as f:
            text = f.read()
        text = text.replace("[cdp]\n", "[cdp]\nmax_backoff_s = 7\n", 1)
        text = text.replace("durability = full", "durability = os")
        with open(self.gw.conf, "w") as f:
            f.write(text)
        self.proc.send_signal(signal.SIGHUP)
        got = self.messages("RELOADING=1")
        got = self.messages("READY=1")
        log = read_text(self.log)
        self.assertIn("[cdp] max_backoff_s: new value applied", log)
        self.assertIn("[gateway] durability changed: needs a restart", log)

        # A configuration with an error changes nothing and says why.
        with open(self.gw.conf, "a") as f:
            f.write("[gateway]\nno_such_key = 1\n")
        self.proc.send_signal(signal.SIGHUP)
        self.messages("READY=1")
        self.assertRegex(read_text(self.log), r"SIGHUP: .*no_such_key.*; nothing changed")
        self.assertIsNone(self.proc.poll())

        self.proc.send_signal(signal.SIGTERM)
        self.messages("STOPPING=1")
        self.assertEqual(self.proc.wait(timeout=10), 0)

    def test_journal_format_when_stderr_is_the_journal(self):
        # systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it connected to
        # stderr; here that stream is the log file.
        open(self.log, "ab").close()
        st = os.stat(self.log)
        self.start(JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        self.messages("READY=1")
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        lines = read_text(self.log).splitlines()
        self.assertTrue(lines)
        self.assertTrue(all(l[:3] in ("<3>", "<4>", "<6>", "<7>") for l in lines), lines)
        self.assertIn("<6>run: stopped", lines)

    def test_plain_format_otherwise(self):
        st = os.stat(self.gw.conf)  # a JOURNAL_STREAM that is not our stderr
        self.start(JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        self.messages("READY=1")
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.assertIn("venuegw[info] run: stopped", read_text(self.log).splitlines())


if __name__ == "__main__":
    unittest.main()
