"""TLS and proxies on the CDP link (DESIGN.md §8): verification always on, [cdp] ca_file,
client_cert/client_key (mutual TLS), proxy, and http:// only for loopback.

Real parts on 127.0.0.1: mosquitto + capture plugin, the daemon, a TLS stand-in CDP with
certificates from a test PKI this file creates (tests/support/pki.py, the `openssl` tool),
and a loopback-only forward proxy (tests/support/http_proxy.py). Failing TLS must fail
closed: nothing reaches the CDP, and every event stays buffered until the link is fixed.
"""
import contextlib
import os
import re
import shutil
import tempfile
import time
import unittest

from cdp_client import StandIn
from harness import Gateway, event_key, read_lines, read_text
from http_proxy import HttpProxy
import pki

SSL_ERROR = re.compile(r"SSL|certificate|TLS", re.I)


class TlsCase(unittest.TestCase):
    """Each test builds its own stand-in and Gateway; the PKI is made once per class."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl not installed (packaging/install-deps.sh --tests)")
        cls.pki_tmp = tempfile.mkdtemp(prefix="vg-pki-")
        cls.pki = pki.make_pki(cls.pki_tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_tmp, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vg-tls-")
        self.cdp = None
        self.gw = None
        self.proxy = None

    def tearDown(self):
        if self.gw:
            self.gw.kill_broker()
            self.gw.kill_daemon()
        if self.cdp:
            self.cdp.kill()
        if self.proxy:
            self.proxy.kill()
        if os.environ.get("VG_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @contextlib.contextmanager
    def daemon_env(self, **kw):
        """Environment variables for the processes started inside (the daemon), restored
        afterwards so the test's own helpers (urllib honours *_proxy) do not see them."""
        saved = {k: os.environ.get(k) for k in kw}
        os.environ.update(kw)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    # --- parts -------------------------------------------------------------------
    def standin(self, cert="server", client_ca=False, tls=True):
        """A stand-in CDP serving pki.<cert>_cert; with client_ca, it requires mTLS."""
        p = self.pki
        kw = {}
        if tls:
            kw = dict(tls_cert=getattr(p, cert + "_cert"), tls_key=getattr(p, cert + "_key"))
        if client_ca:
            kw.update(tls_client_ca=p.client_ca_cert, helper_cert=p.client_cert,
                      helper_key=p.client_key)
        self.cdp = StandIn(self.tmp, **kw)
        return self.cdp

    def gateway(self, host="localhost", **cdp_keys):
        """A Gateway forwarding to self.cdp at <scheme>://<host>:<port>, with extra [cdp] keys."""
        self.gw = Gateway(self.tmp, cdp=self.cdp)
        self.write_cdp_conf(host, **cdp_keys)
        self.gw.start()
        return self.gw

    def write_cdp_conf(self, host="localhost", **cdp_keys):
        """Rewrite the [cdp] section the harness wrote: the endpoint's host, then our keys.

        The harness puts extra_conf under [gateway], and the loader rejects a second [cdp]
        section's keys as "set twice", so the keys go right after the "[cdp]" line.
        """
        text = read_text(self.gw.conf)
        endpoint = "%s://%s:%d" % (self.cdp.scheme, host, self.cdp.port)
        text, n = re.subn(r"(?m)^endpoint = .*$", "endpoint = " + endpoint, text)
        self.assertEqual(n, 1, text)
        extra = "".join("%s = %s\n" % kv for kv in cdp_keys.items())
        # Drop what an earlier call added (lines between "[cdp]" and "endpoint =").
        text = re.sub(r"(?ms)^\[cdp\]\n.*?^(endpoint = )", r"[cdp]\n\1", text)
        text = text.replace("[cdp]\n", "[cdp]\n" + extra, 1)
        with open(self.gw.conf, "w") as f:
            f.write(text)
        r = self.gw.venuegw("check-config")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + text)

    def restart_daemon(self, host="localhost", **cdp_keys):
        self.gw.stop_daemon()
        self.write_cdp_conf(host, **cdp_keys)
        self.gw.start_daemon()

    def start_proxy(self):
        self.proxy = HttpProxy(self.tmp)
        return self.proxy

    def publish(self, n, tag, device="pos-1"):
        acked = os.path.join(self.tmp, "%s.acked" % tag)
        p = self.gw.publisher(device, n, tag, acked)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, "publisher: %s %s" % (out, err))
        ids = read_lines(acked)
        self.assertEqual(len(ids), n)
        return {event_key(device, i) for i in ids}

    def pending(self, devices_only=True):
        """Events not yet forwarded; devices_only leaves out the gateway's own events (its
        hourly gateway.reconciliation, device "_gateway")."""
        sql = "SELECT count(*) FROM events"
        if devices_only:
            sql += " WHERE device_id != '_gateway'"
        return self.gw.query(sql)[0][0]

    def device_messages(self):
        return {m["messageId"] for m in self.cdp.messages()
                if m["context"]["venuegw"].get("device_id") != "_gateway"}

    # --- checks ------------------------------------------------------------------
    def assert_all_arrive(self, want, timeout=60):
        end = time.monotonic() + timeout
        got = set()
        while time.monotonic() < end:
            got = self.device_messages()
            if got >= want:
                break
            time.sleep(0.2)
        self.assertEqual(got, want)
        while self.pending(devices_only=False) and time.monotonic() < end:
            time.sleep(0.1)
        self.assertEqual(self.pending(devices_only=False), 0)
        self.assertEqual(self.cdp.stats()["duplicates"], 0)

    def assert_fails_closed(self, want, wait_s=4.0, log_says=SSL_ERROR):
        """Nothing reaches the CDP; the events stay buffered; the daemon says why."""
        time.sleep(wait_s)
        st = self.cdp.stats()
        self.assertEqual(st["unique_message_ids"], 0, "events crossed a link that should fail: %s" % st)
        self.assertEqual(st["requests"], 0, "an HTTP request got through: %s" % st)
        self.assertEqual(self.pending(), len(want))
        log = read_text(self.gw.daemon_log)
        retries = [l for l in log.splitlines() if "forward.retry" in l]
        self.assertTrue(retries, "no failed attempt logged:\n" + log[-3000:])
        if log_says is not None:
            self.assertRegex(retries[0], log_says)
        self.assertTrue(self.gw.daemon.poll() is None, "the daemon died")
        return retries


class ServerVerificationTest(TlsCase):
    def test_right_ca_by_host_name(self):
        self.standin()
        self.gateway("localhost", ca_file=self.pki.ca_cert)
        self.assert_all_arrive(self.publish(200, "ok-name"))

    def test_right_ca_by_ip_address(self):
        self.standin()
        self.gateway("127.0.0.1", ca_file=self.pki.ca_cert)
        self.assert_all_arrive(self.publish(200, "ok-ip"))

    def test_wrong_ca_fails_closed_then_right_ca_delivers_everything(self):
        self.standin()
        self.gateway("localhost", ca_file=self.pki.wrong_ca_cert)
        want = self.publish(150, "wrong-ca")
        retries = self.assert_fails_closed(want)
        self.assertRegex(retries[0], r"(?i)certificate")
        self.assertIn("SSL", self.cdp.log_text() + retries[0])
        self.restart_daemon("localhost", ca_file=self.pki.ca_cert)
        self.assert_all_arrive(want)

    def test_wrong_host_name_fails_closed(self):
        self.standin(cert="wrong_host")          # signed by the right CA, for cdp.example.invalid
        self.gateway("localhost", ca_file=self.pki.ca_cert)
        want = self.publish(100, "wrong-host")
        retries = self.assert_fails_closed(want)
        self.assertRegex(retries[0], r"(?i)name|host|subject")
        # Same CA, right certificate: the stand-in comes back with it on the same port.
        self.cdp.stop()
        self.cdp.tls_cert, self.cdp.tls_key = self.pki.server_cert, self.pki.server_key
        self.cdp.restart()
        self.restart_daemon("localhost", ca_file=self.pki.ca_cert)   # skip the backoff
        self.assert_all_arrive(want)

    def test_wrong_host_name_by_ip_address_fails_closed(self):
        self.standin(cert="wrong_host")          # no IP SAN either
        self.gateway("127.0.0.1", ca_file=self.pki.ca_cert)
        self.assert_fails_closed(self.publish(50, "wrong-host-ip"))

    def test_no_ca_file_does_not_trust_a_private_ca(self):
        self.standin()
        self.gateway("localhost")                # the system CA store
        want = self.publish(100, "no-ca")
        self.assert_fails_closed(want)
        self.restart_daemon("localhost", ca_file=self.pki.ca_cert)
        self.assert_all_arrive(want)


class MutualTlsTest(TlsCase):
    def test_client_certificate_required_and_presented(self):
        self.standin(client_ca=True)
        self.gateway("localhost", ca_file=self.pki.ca_cert)          # no client_cert
        want = self.publish(120, "mtls")
        # With TLS 1.3 the client learns of the refusal only after its handshake, so curl's
        # error can be a bare connection error (e.g. "getpeername() failed with errno 107"):
        # the stand-in's log is the witness.
        self.assert_fails_closed(want, log_says=None)
        self.assertIn("PEER_DID_NOT_RETURN_A_CERTIFICATE", self.cdp.log_text())
        self.restart_daemon("localhost", ca_file=self.pki.ca_cert,
                            client_cert=self.pki.client_cert, client_key=self.pki.client_key)
        self.assert_all_arrive(want)

    def test_client_certificate_from_another_ca_is_refused(self):
        self.standin(client_ca=True)
        self.gateway("localhost", ca_file=self.pki.ca_cert,
                     client_cert=self.pki.rogue_client_cert, client_key=self.pki.rogue_client_key)
        self.assert_fails_closed(self.publish(40, "rogue"), log_says=None)
        self.assertRegex(self.cdp.log_text(), r"CERTIFICATE_VERIFY_FAILED|unknown ca")

    def test_client_cert_without_key_is_a_config_error(self):
        self.standin(client_ca=True)
        self.gw = Gateway(self.tmp, cdp=self.cdp)
        text = read_text(self.gw.conf).replace("[cdp]\n", "[cdp]\nclient_cert = %s\n" % self.pki.client_cert, 1)
        with open(self.gw.conf, "w") as f:
            f.write(text)
        r = self.gw.venuegw("check-config")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("client_key", r.stderr)


class ProxyTest(TlsCase):
    def test_plain_http_loopback_through_the_proxy(self):
        self.standin(tls=False)
        proxy = self.start_proxy()
        self.gateway("127.0.0.1", proxy=proxy.url)
        self.assert_all_arrive(self.publish(100, "px-http"))
        reqs = proxy.requests()
        want_target = "http://127.0.0.1:%d/v1/batch" % self.cdp.port
        self.assertTrue(reqs, "the proxy saw nothing: the daemon went direct")
        self.assertTrue(all(r[:2] == ("POST", want_target) for r in reqs), reqs)
        self.assertEqual({r[2] for r in reqs}, {"200"})

    def test_https_through_the_proxy_with_connect(self):
        self.standin()
        proxy = self.start_proxy()
        self.gateway("localhost", ca_file=self.pki.ca_cert, proxy=proxy.url)
        self.assert_all_arrive(self.publish(100, "px-https"))
        reqs = proxy.requests()
        self.assertTrue(reqs, "the proxy saw nothing: the daemon went direct")
        self.assertTrue(all(r[:2] == ("CONNECT", "localhost:%d" % self.cdp.port) for r in reqs), reqs)

    def test_verification_still_applies_through_the_proxy(self):
        self.standin()
        proxy = self.start_proxy()
        self.gateway("localhost", ca_file=self.pki.wrong_ca_cert, proxy=proxy.url)
        self.assert_fails_closed(self.publish(30, "px-wrong-ca"))
        self.assertTrue(proxy.requests())

    def test_proxy_down_fails_and_nothing_goes_direct(self):
        self.standin()
        proxy = self.start_proxy()
        url = proxy.url
        proxy.kill()
        self.gateway("localhost", ca_file=self.pki.ca_cert, proxy=url)
        want = self.publish(30, "px-down")
        time.sleep(4)
        self.assertEqual(self.cdp.stats()["requests"], 0, "the daemon went around a dead proxy")
        self.assertEqual(self.pending(), len(want))


class ProxyEnvironmentTest(TlsCase):
    """Only [cdp] proxy decides: the proxy variables of the daemon's environment are ignored."""

    def test_proxy_environment_variables_are_ignored(self):
        """No [cdp] proxy: http_proxy/https_proxy/ALL_PROXY must not be used (config.c's doc)."""
        proxy = self.start_proxy()
        self.standin()
        with self.daemon_env(http_proxy=proxy.url, https_proxy=proxy.url, HTTPS_PROXY=proxy.url,
                             ALL_PROXY=proxy.url, all_proxy=proxy.url):
            self.gateway("localhost", ca_file=self.pki.ca_cert)
        self.assert_all_arrive(self.publish(30, "env-proxy"))
        self.assertEqual(proxy.requests(), [])

    def test_no_proxy_environment_does_not_bypass_the_configured_proxy(self):
        """[cdp] proxy is the only proxy setting: NO_PROXY in the daemon's environment must not
        route around it (a site's proxy is often its only way out, or its audit point).
        "localhost,127.0.0.1" is a common default in images and shells."""
        proxy = self.start_proxy()
        self.standin()
        with self.daemon_env(NO_PROXY="localhost,127.0.0.1", no_proxy="localhost,127.0.0.1"):
            self.gateway("localhost", ca_file=self.pki.ca_cert, proxy=proxy.url)
        self.assert_all_arrive(self.publish(30, "no-proxy-env"))
        self.assertTrue(proxy.requests(), "NO_PROXY in the environment bypassed [cdp] proxy")


class EndpointConfigTest(TlsCase):
    def check(self, endpoint):
        text = read_text(self.gw.conf)
        text = re.sub(r"(?m)^endpoint = .*$", lambda _: "endpoint = " + endpoint, text)
        with open(self.gw.conf, "w") as f:
            f.write(text)
        return self.gw.venuegw("check-config")

    def setUp(self):
        super().setUp()
        self.standin(tls=False)
        self.gw = Gateway(self.tmp, cdp=self.cdp)   # never started: check-config only

    def test_plain_http_refused_unless_loopback(self):
        for ep in ("http://cdp.example.com", "http://cdp.example.com:8080/x", "http://10.0.0.1",
                   "http://127.0.0.1.nip.io", "http://localhost.example.com", "http://[::2]"):
            r = self.check(ep)
            self.assertEqual(r.returncode, 2, "%s: %s%s" % (ep, r.stdout, r.stderr))
            self.assertIn("loopback", r.stderr, ep)

    def test_plain_http_loopback_and_https_accepted(self):
        for ep in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:8080/",
                   "http://127.1.2.3", "https://cdp.example.com", "https://cdp.example.com:8443/x"):
            r = self.check(ep)
            self.assertEqual(r.returncode, 0, "%s: %s%s" % (ep, r.stdout, r.stderr))

    def test_userinfo_cannot_disguise_a_remote_host_as_loopback(self):
        """http://localhost:1@cdp.example.com is a request to cdp.example.com (user
        "localhost", password "1"): the loopback check must look at the real host."""
        for ep in ("http://localhost:1@cdp.example.com", "http://127.0.0.1:80@cdp.example.com/",
                   "http://localhost@cdp.example.com"):
            r = self.check(ep)
            self.assertEqual(r.returncode, 2, "%s accepted as loopback: %s%s" % (ep, r.stdout, r.stderr))

    def test_other_schemes_refused(self):
        for ep in ("ftp://127.0.0.1", "cdp.example.com", "file:///etc/passwd"):
            r = self.check(ep)
            self.assertEqual(r.returncode, 2, "%s: %s%s" % (ep, r.stdout, r.stderr))


if __name__ == "__main__":
    unittest.main()
