"""The stand-in CDP itself, over real HTTP on 127.0.0.1 (urllib, http.client).

    cd tests/support && python3 -m unittest -v test_cdp_standin
"""
import base64
import gzip
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import unittest
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from cdp_client import StandIn
from harness import GatewayCase

WK = "wk-test"


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def message(mid, event="pos.sale", ts=None, **over):
    m = {"type": "track", "messageId": mid, "event": event,
         "timestamp": iso(ts or datetime.now(timezone.utc)),
         "anonymousId": "v1.email.AAAAAAAAAAAAAAAAAAAAAA", "properties": {"amount": 12.5},
         "context": {"library": {"name": "venuegw", "version": "0.1.0"},
                     "externalIds": [{"id": "v1.email.AAAAAAAAAAAAAAAAAAAAAA", "type": "email_token",
                                      "collection": "users", "encoding": "none"}],
                     "venuegw": {"schema": 1, "venue_id": "berlin-mitte-01", "gateway_id": "gw-1",
                                 "device_id": "pos-1", "device_event_id": mid, "device_seq": 1,
                                 "received_at": iso(datetime.now(timezone.utc)), "flags": []}}}
    m.update(over)
    return m


def body_of(msgs, sent_at=True):
    doc = {"batch": msgs}
    if sent_at:
        doc["sentAt"] = iso(datetime.now(timezone.utc))
    return json.dumps(doc).encode()


def auth(key=WK, password=""):
    return "Basic " + base64.b64encode(("%s:%s" % (key, password)).encode()).decode()


class StandInTest(GatewayCase):
    prefix = "cdp-standin-"
    write_key = WK
    with_gateway = False

    def setUp(self):
        super().setUp()
        self.addCleanup(self.cdp.stop)   # SIGTERM, before the base's SIGKILL (then a no-op)

    def post(self, msgs=None, raw=None, gz=True, key=WK, headers=None, idem="k1", timeout=10,
             ctype="application/json", authz=None):
        """POST /v1/batch → (status, headers, json reply)."""
        data = raw if raw is not None else body_of(msgs)
        h = {"Content-Type": ctype}
        if gz:
            data = gzip.compress(data)
            h["Content-Encoding"] = "gzip"
        if authz is not None:
            h["Authorization"] = authz
        elif key is not None:
            h["Authorization"] = auth(key)
        if idem:
            h["Idempotency-Key"] = idem
        h.update(headers or {})
        req = urllib.request.Request(self.cdp.url + "/v1/batch", data=data, method="POST", headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.headers, json.loads(e.read())

    # --- auth ------------------------------------------------------------------
    def test_auth_ok_and_401(self):
        st, _, rep = self.post([message("m1")])
        self.assertEqual(st, 200, rep)
        self.assertEqual(rep, {"success": True})
        st, hdr, rep = self.post([message("m2")], key="wrong")
        self.assertEqual(st, 401)
        self.assertIn("Basic", hdr.get("WWW-Authenticate", ""))
        self.assertEqual(self.post([message("m3")], key=None)[0], 401)
        self.assertEqual(self.post([message("m4")], authz=auth(WK, "secret"))[0], 401)
        self.assertEqual(self.post([message("m5")], authz="Bearer " + WK)[0], 401)
        self.assertEqual(self.post([message("m6")], authz="Basic !!notbase64")[0], 401)
        recs = self.cdp.requests()
        self.assertEqual([r["auth_ok"] for r in recs], [True, False, False, False, False, False])
        self.assertEqual([r["status"] for r in recs], [200, 401, 401, 401, 401, 401])
        self.assertIsNone(recs[1]["body"])
        self.assertEqual(recs[1]["message_ids"], ["m2"])     # recorded even when refused
        s = self.cdp.stats()
        self.assertEqual((s["requests"], s["accepted"], s["messages"]), (6, 1, 1))
        self.assertEqual(s["by_status"], {"200": 1, "401": 5})

    # --- bodies ----------------------------------------------------------------
    def test_gzip_body_accepted_and_recorded(self):
        msgs = [message("m1"), message("m2", event="checkin.scan")]
        raw = body_of(msgs)
        st, _, _ = self.post(raw=raw, idem="idem-A")
        self.assertEqual(st, 200)
        [rec] = self.cdp.requests()
        self.assertEqual(rec["status"], 200)
        self.assertEqual(rec["idempotency_key"], "idem-A")
        self.assertTrue(rec["auth_ok"])
        self.assertEqual(rec["message_ids"], ["m1", "m2"])
        self.assertEqual(rec["encoding"], "gzip")
        self.assertEqual(rec["body"], raw.decode())
        self.assertEqual(rec["sent_at"], json.loads(raw)["sentAt"])
        self.assertIsNone(rec["fault"])
        self.assertIsInstance(rec["t"], float)
        self.assertEqual([m["messageId"] for m in self.cdp.messages()], ["m1", "m2"])

    def test_identity_body_and_optional_sent_at(self):
        st, _, _ = self.post(raw=body_of([message("m1")], sent_at=False), gz=False)
        self.assertEqual(st, 200)
        [rec] = self.cdp.requests()
        self.assertIsNone(rec["sent_at"])
        self.assertEqual(rec["encoding"], "identity")

    def test_content_type_and_encoding(self):
        st, _, rep = self.post([message("m1")], ctype="text/plain")
        self.assertEqual(st, 400)
        self.assertIn("Content-Type", rep["error"])
        self.assertEqual(self.post([message("m1")], ctype="application/json; charset=utf-8")[0], 200)
        st, _, rep = self.post([message("m2")], gz=False, headers={"Content-Encoding": "br"})
        self.assertEqual(st, 400)
        self.assertIn("Content-Encoding", rep["error"])
        st, _, rep = self.post(raw=b"not gzip", gz=False, headers={"Content-Encoding": "gzip"})
        self.assertEqual(st, 400)
        self.assertIn("gzip", rep["error"])

    def test_bad_format_400_with_index(self):
        cases = [
            (2, dict(messageId="")),
            (1, dict(type="purchase")),
            (0, dict(timestamp="yesterday")),
            (2, dict(anonymousId=None)),
            (1, dict(event="")),
            (2, dict(context={"library": {"name": "venuegw"}, "venuegw": {"schema": 2}})),
            (0, dict(context={"library": {"version": "1"}})),
            (1, dict(timestamp="2024-05-01T12:00:00")),               # venuegw: UTC offset required
            (1, dict(context={"library": {"name": "venuegw"}, "venuegw": {"schema": 1},
                              "externalIds": [{"id": "x", "type": "email"}]})),
        ]
        for n, (idx, over) in enumerate(cases):
            msgs = [message("ok-%d-%d" % (n, i)) for i in range(3)]
            msgs[idx] = message("bad-%d" % n, **over)
            st, _, rep = self.post(msgs)
            self.assertEqual(st, 400, (over, rep))
            self.assertEqual(rep.get("index"), idx, (over, rep))
            self.assertTrue(rep["error"])
        # whole-body errors carry no index
        for raw in (b"{", b"[]", b'{"batch": {}}', b'{"batch": []}',
                    body_of([message("x")])[:-1] + b', "sentAt": "soon"}'):
            st, _, rep = self.post(raw=raw)
            self.assertEqual(st, 400, raw)
            self.assertNotIn("index", rep)
        # identify with userId only, and a non-venuegw library are fine
        ok = [message("i1", type="identify", userId="v1.cust.X", anonymousId=None),
              {"type": "page", "messageId": "p1", "userId": "u", "timestamp": "2024-05-01T12:00:00Z",
               "context": {"library": {"name": "analytics-python"}}}]
        del ok[0]["event"]
        st, _, rep = self.post(ok)
        self.assertEqual(st, 200, rep)
        s = self.cdp.stats()
        self.assertEqual((s["accepted"], s["unique_message_ids"]), (1, 2))
        self.assertTrue(all(r["body"] is None for r in self.cdp.requests() if r["status"] != 200))

    # --- faults ----------------------------------------------------------------
    def test_503_twice_then_200(self):
        state = self.cdp.control(status=503, count=2)
        self.assertEqual((state["status"], state["count"]), (503, 2))
        got = [self.post([message("m1")], idem="same")[0] for _ in range(3)]
        self.assertEqual(got, [503, 503, 200])
        recs = self.cdp.requests()
        self.assertEqual([r["fault"] for r in recs], ["status", "status", None])
        self.assertEqual([r["message_ids"] for r in recs], [["m1"]] * 3)
        self.assertEqual(self.cdp.control_state()["count"], 0)
        s = self.cdp.stats()
        self.assertEqual(s["by_status"], {"503": 2, "200": 1})
        self.assertEqual(s["idempotency_keys"], 1)

    def test_status_until_changed(self):
        self.cdp.control(status=500, count=-1)
        self.assertEqual([self.post([message("m")])[0] for _ in range(4)], [500] * 4)
        self.cdp.control(reset=True)
        self.assertEqual(self.post([message("m")])[0], 200)

    def test_retry_after_on_429_and_503(self):
        self.cdp.control(status=429, count=1, retry_after=2)
        st, hdr, _ = self.post([message("m1")])
        self.assertEqual(st, 429)
        self.assertEqual(hdr.get("Retry-After"), "2")
        date = "Wed, 21 Oct 2015 07:28:00 GMT"
        self.cdp.control(status=503, count=1, retry_after=date)
        st, hdr, _ = self.post([message("m1")])
        self.assertEqual((st, hdr.get("Retry-After")), (503, date))
        self.cdp.control(status=500, count=1)                     # not for other statuses
        st, hdr, _ = self.post([message("m1")])
        self.assertEqual(st, 500)
        self.assertIsNone(hdr.get("Retry-After"))
        st, hdr, _ = self.post([message("m1")])
        self.assertEqual(st, 200)
        self.assertIsNone(hdr.get("Retry-After"))

    def test_drop_closes_without_answer(self):
        self.cdp.control(drop=1)
        with self.assertRaises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
            self.post([message("m1")], idem="drop-1")
        self.assertEqual(self.post([message("m1")], idem="drop-1")[0], 200)
        recs = self.cdp.requests()
        self.assertEqual([(r["status"], r["fault"]) for r in recs], [(None, "drop"), (200, None)])
        self.assertEqual(recs[0]["message_ids"], ["m1"])    # read before the drop
        self.assertEqual(self.cdp.stats()["by_status"], {"dropped": 1, "200": 1})

    def test_delay(self):
        self.cdp.control(delay_s=0.6)
        t0 = time.monotonic()
        self.assertEqual(self.post([message("m1")])[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.55)
        self.assertEqual(self.cdp.requests()[0]["fault"], "delay")
        # a client timeout shorter than the delay sees a timeout
        self.cdp.control(delay_s=1.5)
        with self.assertRaises((TimeoutError, OSError, urllib.error.URLError)):
            self.post([message("m2")], timeout=0.3)
        self.cdp.control(delay_s=0)
        t0 = time.monotonic()
        self.assertEqual(self.post([message("m3")])[0], 200)
        self.assertLess(time.monotonic() - t0, 0.5)

    def test_status_ratio_is_seeded(self):
        def run():
            self.cdp.control(reset=True, status_ratio=0.5, status=503, seed=7)
            return [self.post([message("m")])[0] for _ in range(20)]
        a, b = run(), run()
        self.assertEqual(a, b)
        self.assertIn(503, a)
        self.assertIn(200, a)
        self.assertEqual(set(a), {200, 503})

    def test_reject_one_message(self):
        self.cdp.control(reject_message_ids=["poison"])
        msgs = [message("a"), message("b"), message("poison"), message("c")]
        st, _, rep = self.post(msgs)
        self.assertEqual((st, rep["index"]), (400, 2))
        self.assertEqual(self.post([message("a"), message("b")])[0], 200)
        self.assertEqual(self.cdp.requests()[0]["fault"], "reject_message_ids")

    def test_control_rejects_unknown_keys(self):
        with self.assertRaises(RuntimeError):
            self.cdp.control(stauts=503)
        with self.assertRaises(RuntimeError):
            self.cdp.control(status=42)

    # --- limits ----------------------------------------------------------------
    def test_413_over_2500_messages(self):
        # small messages, so that 2 501 of them stay under 500 KB
        small = [{"type": "track", "messageId": "s%d" % i, "event": "e", "userId": "u",
                  "timestamp": "2024-05-01T12:00:00Z", "context": {"library": {"name": "t"}}}
                 for i in range(2501)]
        self.assertLess(len(body_of(small)), 500 * 1024)
        st, _, rep = self.post(small)
        self.assertEqual(st, 413, rep)
        self.assertIn("2501", rep["error"])
        self.assertEqual(self.cdp.requests()[0]["n"], 2501)
        # 2 500 are fine
        st, _, rep = self.post(small[:2500])
        self.assertEqual(st, 200, rep)
        self.assertEqual(self.cdp.stats()["unique_message_ids"], 2500)

    def test_413_over_500kb(self):
        big = [message("m%d" % i, properties={"pad": "x" * 20000}) for i in range(30)]
        self.assertGreater(len(body_of(big)), 500 * 1024)
        st, _, rep = self.post(big)                  # gzip makes it small on the wire
        self.assertEqual(st, 413, rep)
        self.assertEqual(self.post(big, gz=False)[0], 413)
        self.assertEqual(self.post(big[:20])[0], 200)
        # and one message over 32 KB is a 400 for that message
        st, _, rep = self.post([message("a"), message("huge", properties={"pad": "x" * 40000})])
        self.assertEqual((st, rep.get("index")), (400, 1))

    def test_limits_can_be_lowered(self):
        self.cdp.control(max_messages=10)
        self.assertEqual(self.post([message("m%d" % i) for i in range(11)])[0], 413)
        self.assertEqual(self.post([message("m%d" % i) for i in range(10)])[0], 200)

    # --- stats -----------------------------------------------------------------
    def test_stats_dedup_and_latency(self):
        old = datetime.now(timezone.utc) - timedelta(seconds=2)
        self.assertEqual(self.post([message("a", ts=old), message("b", ts=old)], idem="k1")[0], 200)
        self.assertEqual(self.post([message("a", ts=old), message("b", ts=old)], idem="k1")[0], 200)
        self.assertEqual(self.post([message("b", ts=old), message("c", ts=old)], idem="k2")[0], 200)
        self.cdp.control(status=503, count=1)
        self.assertEqual(self.post([message("d", ts=old)], idem="k3")[0], 503)
        s = self.cdp.stats()
        self.assertEqual(s["requests"], 4)
        self.assertEqual(s["accepted"], 3)
        self.assertEqual(s["messages"], 6)
        self.assertEqual(s["unique_message_ids"], 3)
        self.assertEqual(s["duplicates"], 3)
        self.assertEqual(s["idempotency_keys"], 3)
        self.assertEqual(s["by_status"], {"200": 3, "503": 1})
        lat = s["latency_ms"]
        self.assertEqual(lat["n"], 3)
        self.assertTrue(1900 <= lat["p50"] <= 10000, lat)
        self.assertTrue(lat["p50"] <= lat["p99"], lat)
        self.assertEqual([m["messageId"] for m in self.cdp.messages()], ["a", "b", "c"])
        self.assertEqual([m["messageId"] for m in self.cdp.messages(since=2)], ["c"])

    def test_keep_alive(self):
        c = http.client.HTTPConnection("127.0.0.1", self.cdp.port, timeout=5)
        h = {"Content-Type": "application/json", "Authorization": auth()}
        for i in range(3):
            c.request("POST", "/v1/batch", body=body_of([message("m%d" % i)]), headers=h)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertIsNotNone(r.getheader("Content-Length"))
            r.read()
        c.request("POST", "/v1/batch", body=b"{", headers=h)      # an error keeps it open too
        r = c.getresponse()
        self.assertEqual(r.status, 400)
        r.read()
        c.close()
        conns = {r["conn"] for r in self.cdp.requests()}
        self.assertEqual(len(conns), 1)

    def test_other_paths(self):
        req = urllib.request.Request(self.cdp.url + "/v1/track", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(e.exception.code, 404)
        self.assertEqual(self.cdp.requests()[0]["path"], "/v1/track")
        self.assertEqual(self.cdp.stats()["requests"], 0)

    # --- process ---------------------------------------------------------------
    def test_restart_same_port_keeps_record(self):
        port = self.cdp.port
        self.assertEqual(self.post([message("a"), message("b")])[0], 200)
        self.cdp.kill()
        with self.assertRaises((ConnectionError, urllib.error.URLError)):
            self.post([message("c")])
        self.cdp.restart()
        self.assertEqual(self.cdp.port, port)
        self.assertEqual(self.post([message("b"), message("c")])[0], 200)
        s = self.cdp.stats()
        self.assertEqual((s["unique_message_ids"], s["duplicates"], s["accepted"]), (3, 1, 2))
        self.assertEqual(len(self.cdp.requests()), 2)

    def test_sigterm_exits_cleanly(self):
        self.assertEqual(self.post([message("a")])[0], 200)
        self.cdp.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.cdp.proc.wait(timeout=5), 0)
        self.cdp.start()
        self.cdp.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.cdp.proc.wait(timeout=5), 0)

    @unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
    def test_tls(self):
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        tls = StandIn(self.tmp, write_key=WK, tls_cert=cert, tls_key=key, name="tls")
        try:
            self.assertTrue(tls.url.startswith("https://127.0.0.1:"))
            ctx = ssl.create_default_context(cafile=cert)
            req = urllib.request.Request(tls.url + "/v1/batch", data=gzip.compress(body_of([message("t")])),
                                         method="POST", headers={"Content-Type": "application/json",
                                                                 "Content-Encoding": "gzip",
                                                                 "Authorization": auth()})
            with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
                self.assertEqual(r.status, 200)
            self.assertEqual(tls.stats()["unique_message_ids"], 1)
            # an unverified peer does not break the server
            with self.assertRaises(urllib.error.URLError):
                urllib.request.urlopen(req, timeout=5, context=ssl.create_default_context())
            self.assertEqual(tls.stats()["requests"], 1)
        finally:
            tls.stop()

    @unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
    def test_tls_client_ca_requires_a_client_certificate(self):
        import pki
        p = pki.make_pki(os.path.join(self.tmp, "pki"))
        tls = StandIn(self.tmp, write_key=WK, tls_cert=p.server_cert, tls_key=p.server_key,
                      tls_client_ca=p.client_ca_cert, helper_cert=p.client_cert,
                      helper_key=p.client_key, name="mtls")
        try:
            req = urllib.request.Request(tls.url + "/v1/batch", data=gzip.compress(body_of([message("m")])),
                                         method="POST", headers={"Content-Type": "application/json",
                                                                 "Content-Encoding": "gzip",
                                                                 "Authorization": auth()})

            def ctx(cert=None, key=None):
                c = ssl.create_default_context(cafile=p.ca_cert)
                if cert:
                    c.load_cert_chain(cert, key)
                return c
            # no client certificate, or one from another CA: the handshake fails
            for c in (ctx(), ctx(p.rogue_client_cert, p.rogue_client_key)):
                with self.assertRaises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
                    with urllib.request.urlopen(req, timeout=5, context=c) as r:
                        r.read()
            self.assertEqual(tls.stats()["requests"], 0)     # the helper presents its own
            with urllib.request.urlopen(req, timeout=5, context=ctx(p.client_cert, p.client_key)) as r:
                self.assertEqual(r.status, 200)
            self.assertEqual(tls.stats()["unique_message_ids"], 1)
            self.assertIn("PEER_DID_NOT_RETURN_A_CERTIFICATE", tls.log_text())
        finally:
            tls.stop()


if __name__ == "__main__":
    unittest.main()
