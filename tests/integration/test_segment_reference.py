"""A real Segment client as the reference (DESIGN.md §8): the official Node client,
@segment/analytics-node (pinned in tests/reference/package.json), is pointed at the
stand-in CDP over real HTTP on 127.0.0.1.

  - StandInAcceptsClientTest: the stand-in accepts exactly what the real client sends
    (given Basic auth with the write key, as analytics-node 3.x sends it), and records the
    same messages (types, messageIds, event names, whole messages).
  - StandInAcceptsClientAsIsTest: the same with the client unchanged: analytics-node 2.x
    (the newest for Node 18) sends no Authorization header and authenticates with
    "writeKey" in the JSON body, Segment's documented "writeKey authentication".
  - ComparatorTest: the field/type comparison below catches what it should (no node).
  - VenuegwMatchesClientTest: a real gateway's messages carry every field the real client
    sends for the same message type, with the same JSON type (extra venuegw fields are
    fine; the few client fields that the Segment spec makes optional are listed in
    CLIENT_ONLY_OPTIONAL with the reason).

Needs node (>= 18) and the client installed from the lock file:
    cd tests/reference && npm ci
Skipped, saying so, when either is missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
from datetime import datetime, timezone

from cdp_client import StandIn
from harness import GatewayCase, event_key

HERE = os.path.dirname(os.path.abspath(__file__))
REF_DIR = os.path.normpath(os.path.join(HERE, "..", "reference"))
SEND = os.path.join(REF_DIR, "send.mjs")
CLIENT_PKG = os.path.join(REF_DIR, "node_modules", "@segment", "analytics-node", "package.json")
NODE = os.environ.get("VG_NODE") or shutil.which("node")   # VG_NODE: another node to try
INSTALL_HINT = ("needs node >= 18 and @segment/analytics-node: apt-get install nodejs npm (Debian 12), "
                "then: cd %s && npm ci --no-audit --no-fund" % REF_DIR)


def node_major():
    if not NODE:
        return 0
    try:
        out = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=20).stdout
        return int(re.match(r"v(\d+)", out.strip()).group(1))
    except (OSError, subprocess.SubprocessError, AttributeError, ValueError):
        return 0


HAVE_CLIENT = node_major() >= 18 and os.path.exists(CLIENT_PKG)
if not HAVE_CLIENT:
    sys.stderr.write("test_segment_reference: skipped: %s\n" % INSTALL_HINT)

ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

# Fields the real client sends that venuegw may leave out, and why that is fine.
CLIENT_ONLY_OPTIONAL = {
    "integrations": "optional in the Segment spec; absent means all destinations (the client sends {})",
    "_metadata": "the client library's own runtime facts (nodeVersion, jsRuntime), not part of the spec",
}
# Objects whose members are the caller's data, not the format: compared as "an object".
OPAQUE = {"properties", "traits"}
# What each message type must carry (Segment spec), checked in the client's messages
# first (so the reference is what we think it is) and then in venuegw's.
REQUIRED = {
    "track": {"type": "string", "messageId": "string", "event": "string", "timestamp": "string",
              "properties": "object", "context": "object", "context.library": "object",
              "context.library.name": "string", "context.library.version": "string"},
    "identify": {"type": "string", "messageId": "string", "timestamp": "string",
                 "traits": "object", "context": "object", "context.library": "object",
                 "context.library.name": "string", "context.library.version": "string"},
}
IDENTITY = ("userId", "anonymousId")


def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def get_path(m, path):
    cur = m
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def is_iso(s):
    if not isinstance(s, str) or not ISO_RE.match(s):
        return False
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def merge_template(msgs):
    """The union of the client's messages of one type: every path any of them has."""
    def merge(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for k, v in b.items():
                out[k] = merge(out[k], v) if k in out else v
            return out
        if isinstance(a, list) and isinstance(b, list):
            return a if a else b
        return a
    t = {}
    for m in msgs:
        t = merge(t, m)
    return t


def compare(ref, vg, path, problems, notes):
    """Every path of ref (the client) must be in vg (venuegw) with the same JSON type."""
    rt, vt = json_type(ref), json_type(vg)
    if rt != vt:
        problems.append("%s: the Segment client sends %s (%s), venuegw sends %s (%s)"
                        % (path, rt, json.dumps(ref)[:60], vt, json.dumps(vg)[:60]))
        return
    leaf = path.rsplit(".", 1)[-1]
    if rt == "object" and leaf not in OPAQUE:
        for k, v in ref.items():
            p = "%s.%s" % (path, k) if path else k
            if not path and k in IDENTITY:
                continue   # checked as "userId or anonymousId" by the caller
            if k not in vg:
                if not path and k in CLIENT_ONLY_OPTIONAL:
                    notes.add("%s (%s)" % (k, CLIENT_ONLY_OPTIONAL[k]))
                else:
                    problems.append("%s: the Segment client sends it (%s), venuegw's message has none"
                                    % (p, json_type(v)))
                continue
            compare(v, vg[k], p, problems, notes)
    elif rt == "array" and ref and vg:
        for i, e in enumerate(vg):
            compare(ref[0], e, "%s[%d]" % (path, i), problems, notes)


def run_client(cdp, tmp, auth):
    """Run send.mjs against the stand-in; return (process result, its report)."""
    out = os.path.join(tmp, "client-%s.json" % auth)
    r = subprocess.run([NODE, SEND, cdp.url, cdp.write_key, out, "--auth", auth], cwd=REF_DIR,
                       capture_output=True, text=True, timeout=120)
    if not os.path.exists(out):
        raise AssertionError("send.mjs (--auth %s) wrote no report: exit %s\n%s%s"
                             % (auth, r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    with open(out, encoding="utf-8") as f:
        return r, json.load(f)


def sent_messages(report):
    return [m for req in report["requests"] for m in req["body"]["batch"]]


class StandInCase(GatewayCase):
    prefix = "vg-ref-"
    write_key = "wk-reference"
    with_gateway = False

    def check_accepted(self, r, report, basic):
        recs = [q for q in self.cdp.requests() if q["path"] == "/v1/batch"]
        self.assertTrue(recs, "the stand-in recorded no request from the client")
        self.assertEqual(len(recs), len(report["requests"]),
                         "the client made %d requests, the stand-in recorded %d"
                         % (len(report["requests"]), len(recs)))
        refused = [(q["status"], q["error"]) for q in recs if q["status"] != 200]
        if refused:
            hdrs = report["requests"][0]["headers"]
            hint = ""
            if not any(k.lower() == "authorization" for k in hdrs) and \
                    report["requests"][0]["body"].get("writeKey") == self.cdp.write_key:
                hint = ("\n%s %s sends no Authorization header: it authenticates with \"writeKey\" "
                        "in the JSON body, which Segment's HTTP API documents as \"writeKey "
                        "authentication\" (no header needed); the stand-in only accepts Basic auth"
                        % (report["library"]["name"], report["library"]["version"]))
            self.fail("the stand-in refused what the real Segment client sent: %s%s\nclient headers: %s"
                      % (refused, hint, hdrs))
        self.assertEqual(r.returncode, 0, "the client reported delivery errors: %s" % report["errors"])
        self.assertEqual(report["errors"], [])
        if basic:
            self.assertTrue(all(q["auth_ok"] for q in recs), "Basic auth with the write key not accepted")
            self.assertEqual(report["responses"], [200] * len(recs))
        for q in recs:
            self.assertIn(q["encoding"], ("identity", "gzip"))

        # What the stand-in accepted is exactly what the client sent, message by message.
        sent = sent_messages(report)
        got = self.cdp.messages()
        self.assertEqual([m["messageId"] for m in got], [m["messageId"] for m in sent])
        self.assertEqual(len({m["messageId"] for m in sent}), len(sent), "duplicate messageIds")
        self.assertEqual(got, sent)
        self.assertEqual(sorted(i for q in recs for i in q["message_ids"]), sorted(m["messageId"] for m in sent))
        for q, req in zip(recs, report["requests"]):
            self.assertEqual(q["sent_at"], req["body"].get("sentAt"))
        # ... and what it sent is what the calls asked for.
        self.assertEqual([(m["type"], m.get("event"), m.get("userId"), m.get("anonymousId")) for m in got],
                         [(c["call"], c["args"].get("event"), c["args"].get("userId"), c["args"].get("anonymousId"))
                          for c in report["inputs"]])
        for m, c in zip(got, report["inputs"]):
            for k in ("properties", "traits"):
                if k in c["args"]:
                    self.assertEqual(m[k], c["args"][k])
            if "context" in c["args"]:
                self.assertEqual(m["context"]["externalIds"], c["args"]["context"]["externalIds"])
            self.assertEqual(m["context"]["library"], report["library"])
        self.assertEqual(self.cdp.stats()["duplicates"], 0)


@unittest.skipUnless(HAVE_CLIENT, INSTALL_HINT)
class StandInAcceptsClientTest(StandInCase):
    def test_client_with_basic_auth(self):
        """The client given Basic auth (write key, empty password), as analytics-node 3.x sends."""
        r, report = run_client(self.cdp, self.tmp, "basic")
        self.assertIn("Authorization", report["requests"][0]["headers"])
        self.check_accepted(r, report, basic=True)


@unittest.skipUnless(HAVE_CLIENT, INSTALL_HINT)
class StandInAcceptsClientAsIsTest(StandInCase):
    def test_client_as_it_is(self):
        """The client unchanged: analytics-node 2.x authenticates with writeKey in the body."""
        r, report = run_client(self.cdp, self.tmp, "body")
        self.assertNotIn("Authorization", report["requests"][0]["headers"])
        self.check_accepted(r, report, basic=False)


class ComparatorTest(unittest.TestCase):
    """compare() and the required-field table catch missing fields and changed types."""
    CLIENT = {"type": "track", "messageId": "m1", "event": "e", "timestamp": "2026-07-01T10:00:00.250Z",
              "userId": "u", "properties": {"a": 1}, "integrations": {}, "_metadata": {"nodeVersion": "v18"},
              "context": {"library": {"name": "@segment/analytics-node", "version": "2.2.1"},
                          "externalIds": [{"id": "x", "type": "t", "collection": "users", "encoding": "none"}]}}
    VG = {"type": "track", "messageId": "k1", "event": "e", "timestamp": "2026-07-01T10:00:00.000Z",
          "anonymousId": "a", "properties": {"b": "x"},
          "context": {"library": {"name": "venuegw", "version": "0.1"}, "venuegw": {"schema": 1},
                      "externalIds": [{"id": "y", "type": "email_token", "collection": "users", "encoding": "none"}]}}

    def problems(self, vg):
        problems, notes = [], set()
        compare(merge_template([self.CLIENT]), vg, "", problems, notes)
        return problems, notes

    def test_same_shape_passes(self):
        problems, notes = self.problems(json.loads(json.dumps(self.VG)))
        self.assertEqual(problems, [])
        self.assertEqual({n.split(" ")[0] for n in notes}, {"integrations", "_metadata"})

    def test_mismatches_are_found(self):
        for mutate, want in [
            (lambda m: m["context"]["library"].pop("version"), "context.library.version"),
            (lambda m: m.__setitem__("timestamp", 1782900000), "timestamp"),
            (lambda m: m.__setitem__("properties", []), "properties"),
            (lambda m: m.pop("event"), "event"),
            (lambda m: m["context"]["externalIds"][0].pop("encoding"), "context.externalIds[0].encoding"),
            (lambda m: m["context"]["externalIds"][0].__setitem__("id", 5), "context.externalIds[0].id"),
            (lambda m: m.__setitem__("context", "x"), "context"),
        ]:
            vg = json.loads(json.dumps(self.VG))
            mutate(vg)
            problems, _ = self.problems(vg)
            self.assertTrue(any(p.startswith(want + ":") for p in problems), (want, problems))
        self.assertFalse(is_iso("2026-07-01 10:00"))
        self.assertTrue(is_iso("2026-07-01T10:00:00.250Z"))


@unittest.skipUnless(HAVE_CLIENT, INSTALL_HINT)
class VenuegwMatchesClientTest(GatewayCase):
    prefix = "vg-ref-"

    def setUp(self):
        super().setUp()
        self.ref_cdp = StandIn(self.tmp, write_key="wk-reference", name="ref")
        self.addCleanup(self.ref_cdp.kill)

    def venuegw_messages(self):
        # vg_pub's four shapes: userId (customer_id), anonymousId from a phone token,
        # from an email token, from a loyalty id; then an identify (consent.updated) and an
        # event without a person (device-scoped anonymousId).
        acked = os.path.join(self.tmp, "ref-pos-1.acked")
        p = self.gw.publisher("pos-1", 4, "ref", acked)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, "vg_pub: %s %s" % (out, err))
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        extra = [
            ("kiosk-1", {"id": "ref-consent-1", "type": "consent.updated", "occurred_at": now, "seq": 7,
                         "person": {"customer_id": "MB-77", "email": "ref.guest@example.com"},
                         "consent": {"marketing_email": True, "marketing_sms": False, "source": "kiosk-1"}}),
            ("kiosk-1", {"id": "ref-consent-2", "type": "consent.updated", "occurred_at": now, "seq": 8,
                         "person": {"phone": "+49 30 1234567"},
                         "consent": {"marketing_sms": True}}),
            ("kiosk-1", {"id": "ref-session-1", "type": "kiosk.session.started", "occurred_at": now,
                         "seq": 9}),
        ]
        for dev, body in extra:
            r = self.gw.mosquitto_pub(dev, "venue/v1/%s/events" % dev, json.dumps(body))
            self.assertEqual(r.returncode, 0, r.stderr)
        want = {event_key("pos-1", "ref-%d" % i) for i in range(4)} | \
            {event_key(dev, b["id"]) for dev, b in extra}
        # Wait for these messages, not for a count: the start-up reconciliation may be among them.
        end = time.monotonic() + 90
        msgs = self.cdp.messages()
        while not want <= {m["messageId"] for m in msgs} and time.monotonic() < end:
            time.sleep(0.2)
            msgs = self.cdp.messages()
        # All of them, and maybe the hourly gateway.reconciliation (§8), compared as well.
        self.assertLessEqual(want, {m["messageId"] for m in msgs})
        self.assertTrue(all(m["messageId"] in want or m.get("event") == "gateway.reconciliation"
                            for m in msgs), [m.get("event") for m in msgs])
        return msgs

    def test_same_required_fields_and_types(self):
        r, report = run_client(self.ref_cdp, self.tmp, "basic")
        client = sent_messages(report)
        self.assertTrue(client, "the client sent nothing: %s" % report["errors"])
        vg = self.venuegw_messages()

        problems, notes = [], set()
        by_type = {}
        for m in client:
            by_type.setdefault(m["type"], []).append(m)
        self.assertEqual(set(by_type), set(REQUIRED), "the reference should send track and identify")
        for t, msgs in by_type.items():
            # The reference itself: the spec's required fields, and ISO-8601 timestamps.
            for m in msgs:
                for path, jt in REQUIRED[t].items():
                    ok, v = get_path(m, path)
                    self.assertTrue(ok and json_type(v) == jt,
                                    "the Segment client's %s lacks %s (%s): %s" % (t, path, jt, m))
                self.assertTrue(is_iso(m["timestamp"]), m["timestamp"])
                self.assertTrue(any(isinstance(m.get(k), str) and m[k] for k in IDENTITY), m)

        vg_types = {m["type"] for m in vg}
        for t in REQUIRED:
            if t not in vg_types:
                problems.append("venuegw sent no %s message (the client sends %s)" % (t, t))
        for m in vg:
            t = m.get("type")
            where = "venuegw %s %s" % (t, m.get("event") or m.get("messageId"))
            if t not in by_type:
                problems.append("%s: type %r, which the reference does not cover" % (where, t))
                continue
            for path, jt in REQUIRED[t].items():
                ok, v = get_path(m, path)
                if not ok:
                    problems.append("%s: %s missing (Segment: required %s)" % (where, path, jt))
                elif json_type(v) != jt:
                    problems.append("%s: %s is %s, Segment requires %s" % (where, path, json_type(v), jt))
            if not any(isinstance(m.get(k), str) and m[k] for k in IDENTITY):
                problems.append("%s: neither userId nor anonymousId is a non-empty string" % where)
            for k in IDENTITY:
                if k in m and not isinstance(m[k], str):
                    problems.append("%s: %s is %s, the client sends a string" % (where, k, json_type(m[k])))
            if not is_iso(m.get("timestamp")):
                problems.append("%s: timestamp %r is not an ISO-8601 date-time" % (where, m.get("timestamp")))
            sub = []
            compare(merge_template(by_type[t]), m, "", sub, notes)
            problems += ["%s: %s" % (where, s) for s in sub]

        # The batch envelope: {"batch": [...], "sentAt": ISO string}; the client also puts
        # its writeKey in the body (venuegw authenticates with Basic auth instead, §8).
        for req in report["requests"]:
            self.assertEqual(set(req["body"]) - {"writeKey"}, {"batch", "sentAt"})
        for q in self.cdp.requests():
            if q["status"] != 200:
                continue
            body = json.loads(q["body"])
            if not isinstance(body.get("batch"), list):
                problems.append("venuegw batch request: \"batch\" is not an array")
            if "sentAt" in body and not is_iso(body["sentAt"]):
                problems.append("venuegw batch request: sentAt %r is not an ISO-8601 string" % body["sentAt"])
            if set(body) - {"batch", "sentAt"}:
                notes.add("venuegw batch has extra keys %s" % sorted(set(body) - {"batch", "sentAt"}))
            if not q["auth_ok"]:
                problems.append("venuegw batch request: Basic auth with the write key not accepted")

        if notes:
            sys.stderr.write("\ntest_segment_reference: client fields venuegw leaves out (fine): %s\n"
                             % "; ".join(sorted(notes)))
        if problems:
            self.fail("venuegw's messages differ from the real Segment client's (%s %s):\n  %s"
                      % (report["library"]["name"], report["library"]["version"], "\n  ".join(problems)))


if __name__ == "__main__":
    unittest.main()
