"""The tracking plan in a running gateway (DESIGN.md §4, issue 13 part 1):
what the plan does not declare never reaches buffer.db and is counted per
device, type and path; [contracts] unknown = quarantine refuses such events
with a notice that names the path, never the value; SIGHUP loads a changed
plan into the broker and the daemon, and a plan that does not load never
replaces the one in force; the plan's version travels in
context.venuegw.plan."""
import json
import os
import re
import shutil
import signal
import time
import unittest

from harness import DEFAULT_PLAN, GatewayCase, event_key, read_text
from test_metrics import get  # noqa: E402

AT = "2026-11-28T18:03:12+01:00"


def order(eid, **props):
    p = {"order_id": "O-" + eid, "total_minor": 1250, "currency": "EUR"}
    p.update(props)
    return {"id": eid, "type": "pos.order.completed", "occurred_at": AT, "properties": p}


class PlanCase(GatewayCase):
    prefix = "vg-plan-"

    def publish(self, event, device="pos-1"):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(event))
        self.assertEqual(r.returncode, 0, r.stderr)

    def body(self, eid, device="pos-1"):
        rows = self.gw.query("SELECT body FROM events WHERE event_key = ?", event_key(device, eid))
        self.assertEqual(len(rows), 1, "event %s is not in buffer.db" % eid)
        return json.loads(rows[0][0])

    def wait_log(self, path, pattern, after=0, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, read_text(path)[after:])
            if m:
                return m
            time.sleep(0.05)
        self.fail("no %r in %s:\n%s" % (pattern, path, read_text(path)[-3000:]))

    def dump_raw(self):
        """Every byte the gateway wrote: buffer.db, its WAL, both logs."""
        out = b""
        for p in (self.gw.db_path(), self.gw.db_path() + "-wal", self.gw.broker_log, self.gw.daemon_log):
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out += f.read()
        return out


class DropTest(PlanCase):
    """unknown = drop (the default): the issue's example."""

    def test_undeclared_members_never_pass_and_are_counted(self):
        raw = {"phone": "+34 612 345 678", "ana.lopez@example.com": True, "customer_name": "Ana Lopez",
               "note": "call +49 151 2345678", "card": "2200 0000 0000 0004", "mail": "ana@m\u00fcnchen.de"}
        self.publish(order("o-1", **raw))
        self.publish(order("o-2", customer_name="Bo Berg"))
        # What the CDP gets (forwarding clears the body in buffer.db).
        key = event_key("pos-1", "o-1")
        end = time.monotonic() + 30
        msg = []
        while not msg and time.monotonic() < end:
            msg = [m for m in self.cdp.messages() if m["messageId"] == key]
            time.sleep(0.1)
        self.assertEqual(len(msg), 1, "o-1 did not reach the stand-in CDP")
        props = msg[0]["properties"]
        self.assertEqual(sorted(props), ["card", "currency", "note", "order_id", "total_minor"])
        self.assertTrue(props["card"].startswith("card-0004:v1.pan."), props["card"])
        self.assertTrue(props["note"].startswith("call v1.ph."), props["note"])
        self.assertEqual(msg[0]["context"]["venuegw"]["plan"], "1.0.0")
        for needle in (b"612 345 678", b"ana.lopez", b"Ana Lopez", b"151 2345678", b"2200 0000",
                       b"2200000000000004", "münchen".encode(), b"Bo Berg"):
            self.assertNotIn(needle, self.dump_raw())
            self.assertNotIn(needle, json.dumps(self.cdp.messages(), ensure_ascii=False).encode())
        rows = self.gw.query("SELECT device_id, type, path, count FROM undeclared ORDER BY path")
        self.assertEqual(rows, [("pos-1", "pos.order.completed", "properties.customer_name", 2),
                                ("pos-1", "pos.order.completed", "properties.mail", 1),
                                ("pos-1", "pos.order.completed", "properties.phone", 1),
                                ("pos-1", "pos.order.completed", "properties.~", 1)])
        # ... and in the metrics.
        status, _, body = get(self.gw.metrics_url + "/metrics")
        self.assertEqual(status, 200)
        self.assertIn('venuegw_undeclared_fields_dropped_total{device="pos-1",type="pos.order.completed",'
                      'path="properties.customer_name"} 2', body)


class QuarantineTest(PlanCase):
    with_cdp = False
    extra_conf = "\n[contracts]\nplan = %s\nunknown = quarantine\n" % DEFAULT_PLAN

    def test_undeclared_members_quarantine_with_the_path_never_the_value(self):
        sub = self.gw.subscriber("pos-1", "venue/v1/pos-1/rejected", count=2, wait_s=20)
        self.gw.wait_subscribed(sub)
        self.publish(order("q-1", customer_name="Ana Lopez"))
        self.publish(order("q-2", **{"ana.lopez@example.com": True}))
        self.publish(order("q-3", note="a declared note"))
        out, _ = sub.communicate(timeout=30)
        self.assertNotIn(b"Lopez", out)
        self.assertNotIn(b"lopez", out)
        notices = [json.loads(line.split(b" ", 1)[1]) for line in out.splitlines() if line]
        self.assertEqual([(n["reason"], n["field"], n["id"]) for n in notices],
                         [("undeclared_field", "properties.customer_name", "q-1"),
                          ("undeclared_field", "properties.~", "q-2")])
        rows = self.gw.query("SELECT reason, field, body FROM quarantine ORDER BY id")
        self.assertEqual([r[:2] for r in rows], [("undeclared_field", "properties.customer_name"),
                                                 ("undeclared_field", "properties.~")])
        for r in rows:   # held without the undeclared member
            self.assertNotIn("Lopez", r[2])
            self.assertNotIn("lopez", r[2])
        self.assertEqual(self.body("q-3")["properties"]["note"], "a declared note")


class ReloadTest(PlanCase):
    """SIGHUP: the broker's plugin and the daemon load the plan again."""
    with_cdp = False    # the events stay in buffer.db with their bodies

    def configure(self):
        self.plan = os.path.join(self.tmp, "venue-plan.json")
        shutil.copy(DEFAULT_PLAN, self.plan)
        text = read_text(self.gw.conf).replace("plan = %s" % DEFAULT_PLAN, "plan = %s" % self.plan)
        with open(self.gw.conf, "w") as f:
            f.write(text)

    def edit_plan(self, version, table_no):
        with open(DEFAULT_PLAN) as f:
            plan = json.load(f)
        plan["version"] = version
        if table_no:
            plan["events"]["pos.order.completed"]["properties"]["properties"]["properties"]["table_no"] = {
                "type": "string", "x-pii": "id"}
        tmp = self.plan + ".tmp"
        with open(tmp, "w") as f:
            json.dump(plan, f)
        os.replace(tmp, self.plan)

    def test_sighup_loads_a_new_plan_and_keeps_a_working_one(self):
        self.publish(order("r-1", table_no="T12"))
        self.assertNotIn("table_no", self.body("r-1")["properties"])

        # A plan that declares table_no: in force after SIGHUP, in both services.
        self.edit_plan("2.0.0", True)
        b0, d0 = len(read_text(self.gw.broker_log)), len(read_text(self.gw.daemon_log))
        self.gw.broker.send_signal(signal.SIGHUP)
        self.gw.daemon.send_signal(signal.SIGHUP)
        self.wait_log(self.gw.broker_log, r"capture\.plan: tracking plan .*version 2\.0\.0.*: in force", b0)
        self.wait_log(self.gw.daemon_log, r"tracking plan .*version 2\.0\.0.*: in force", d0)
        self.publish(order("r-2", table_no="T12"))
        body = self.body("r-2")
        self.assertEqual(body["properties"]["table_no"], "T12")
        self.assertEqual(body["_plan"], "2.0.0")

        # A plan with a syntax error never replaces the one in force.
        with open(self.plan, "w") as f:
            f.write('{"version": "3.0.0", "events": {')
        b0, d0 = len(read_text(self.gw.broker_log)), len(read_text(self.gw.daemon_log))
        self.gw.broker.send_signal(signal.SIGHUP)
        self.gw.daemon.send_signal(signal.SIGHUP)
        self.wait_log(self.gw.broker_log, r"not valid JSON .*the plan in force \(version 2\.0\.0\) stays", b0)
        self.wait_log(self.gw.daemon_log, r"not valid JSON .*the plan in force \(version 2\.0\.0\) stays", d0)
        self.publish(order("r-3", table_no="T14"))
        body = self.body("r-3")
        self.assertEqual(body["properties"]["table_no"], "T14")
        self.assertEqual(body["_plan"], "2.0.0")
        self.assertTrue(self.gw.broker_alive())
        self.assertIsNone(self.gw.daemon.poll())


if __name__ == "__main__":
    unittest.main()
