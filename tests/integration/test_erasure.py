"""Erasure at the desk (DESIGN.md §3 promise 6): `venuegw forget` purges a
person's buffered rows, leaves a tombstone without personal data, suppresses
their future events at capture and notifies the CDP — real broker + plugin,
the daemon, SQLite files and the stand-in CDP on 127.0.0.1."""
import json
import time
import unittest

from harness import GatewayCase, event_key, files_containing, token


def person_event(i, email, phone, customer_id, kind="checkin.scanned"):
    return {"id": "%s-%d" % (customer_id, i), "type": kind, "occurred_at": "2026-11-28T10:00:00Z",
            "person": {"email": email, "phone": phone, "customer_id": customer_id},
            "properties": {"note": "contact %s" % email.strip().lower()}}


class ErasureTest(GatewayCase):
    prefix = "vg-er-"
    wait_first_request = True   # start-up reconciliation

    def pub(self, device, ev):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(ev))
        self.assertEqual(r.returncode, 0, r.stderr)
        return event_key(device, ev["id"])

    def forget(self, flag, lines, *extra):
        return self.gw.venuegw("forget", flag, *extra, input="".join(l + "\n" for l in lines))

    def device_messages(self):
        return [m for m in self.cdp.messages() if m["context"]["venuegw"]["device_id"] != "_gateway"]

    def test_forget_purges_suppresses_tombstones_and_notifies(self):
        ana = (" Ana.Lopez@Example.com ", "+34 612 345 678", "MB-88121")
        bob = ("bob@example.org", "+49 30 1234567", "MB-2")
        ana_tokens = [token("em", "ana.lopez@example.com"), token("ph", "+34612345678")]
        self.cdp.kill()                        # the CDP is down: everything stays buffered
        ana_keys = {self.pub("pos-1", person_event(i, *ana)) for i in range(5)}
        ana_keys.add(self.pub("kiosk-1", person_event(9, *ana, kind="class.attended")))  # quarantined: no class_id
        bob_keys = {self.pub("pos-2", person_event(i, *bob)) for i in range(5)}
        # Someone else's event whose order id happens to equal Ana's customer id.
        bob_keys.add(self.pub("pos-2", {"id": "ord-1", "type": "pos.order.completed",
                                        "occurred_at": "2026-11-28T10:00:00Z",
                                        "person": {"customer_id": "MB-2"},
                                        "properties": {"order_id": "MB-88121", "total_minor": 5,
                                                       "currency": "EUR"}}))
        time.sleep(1.5)                        # a failed attempt holds some events in a batch
        q = self.gw.query("SELECT count(*) FROM quarantine")[0][0]
        self.assertEqual(q, 1)

        r = self.forget("--email", [ana[0]])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("6 rows purged", r.stdout)
        self.assertIn("WAL truncated", r.stdout)
        r = self.forget("--customer-id", [ana[2]])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # The tombstones hold digests, counts and times: no personal data.
        tombs = self.gw.query("SELECT digest, rows_purged FROM tombstones ORDER BY id")
        self.assertEqual(len(tombs), 2)
        self.assertTrue(all(d.startswith("tomb.") and len(d) == 27 for d, _ in tombs))
        self.assertEqual(tombs[0][1], 6)
        # The order whose id merely equals Ana's customer id is someone else's: kept.
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE instr(body, 'ord-1') > 0")[0][0], 1)
        self.assertEqual(self.gw.query("SELECT count(*) FROM quarantine")[0][0], 0)

        # Nothing of Ana is in the database files now (buffer.db, -wal, -shm),
        # except the erasure notices waiting for the CDP, which carry her token.
        self.cdp.restart()
        want_bob = bob_keys
        end = time.monotonic() + 60
        while time.monotonic() < end:
            got = {m["messageId"] for m in self.device_messages()}
            notices = [m for m in self.cdp.messages() if m.get("event") == "erasure.requested"]
            if want_bob <= got and len(notices) >= 2:
                break
            time.sleep(0.2)
        got = {m["messageId"] for m in self.device_messages()}
        self.assertEqual(got & ana_keys, set(), "a forgotten person's events reached the CDP")
        self.assertEqual(want_bob - got, set())
        notices = [m for m in self.cdp.messages() if m.get("event") == "erasure.requested"]
        self.assertEqual(len(notices), 2)
        ids = {(e["type"], e["id"]) for n in notices for e in n["context"]["externalIds"]}
        self.assertIn(("email_token", ana_tokens[0]), ids)
        self.assertIn(("customer_id", "MB-88121"), ids)
        self.assertEqual({n["properties"]["tombstone"] for n in notices}, {d for d, _ in tombs})
        # The notices left before anything else that was pending.
        accepted = [r for r in self.cdp.requests() if r["status"] == 200 and r["path"] == "/v1/batch"]
        first_bob = min(i for i, r in enumerate(accepted) if set(r["message_ids"]) & want_bob)
        notice_ids = {n["messageId"] for n in notices}
        self.assertTrue(notice_ids <= set().union(*(set(r["message_ids"]) for r in accepted[:first_bob + 1])))

        # Once the notices are delivered, a byte search of the database files finds
        # none of her tokens nor raw values.
        end = time.monotonic() + 20
        needles = ana_tokens + ["ana.lopez@example.com", "Ana.Lopez@Example.com", "+34612345678",
                                "612 345 678", '"customer_id":"MB-88121"']
        while time.monotonic() < end and files_containing(self.gw.data_dir, needles):
            time.sleep(0.3)
        self.assertEqual(files_containing(self.gw.data_dir, needles), [])

        # A later event for her is acknowledged and not stored (suppressed) …
        later = self.pub("pos-1", person_event(20, *ana))
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE event_key = ?", later)[0][0], 0)
        # … also when it names her only by phone? No: the phone was not forgotten.
        by_phone = self.pub("pos-1", {"id": "ph-1", "type": "checkin.scanned", "occurred_at": "2026-11-28T10:00:00Z",
                                      "person": {"phone": ana[1]}})
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE event_key = ?", by_phone)[0][0], 1)
        # Lifting the suppression lets her events in again.
        r = self.forget("--email", [ana[0]], "--lift")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 suppression lifted", r.stdout)
        r = self.forget("--customer-id", [ana[2]], "--lift")
        self.assertEqual(r.returncode, 0, r.stderr)
        again = self.pub("pos-1", person_event(21, *ana))
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE event_key = ?", again)[0][0], 1)

    def test_forget_refuses_identifiers_on_the_command_line(self):
        r = self.gw.venuegw("forget", "--email", "ana.lopez@example.com", input="")
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("ana.lopez", r.stderr)
        self.assertIn("standard input", r.stderr)
        r = self.forget("--email", ["not an email"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 1", r.stderr)
        self.assertNotIn("not an email", r.stderr)
        r = self.gw.venuegw("forget", input="a@b.de\n")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(self.gw.query("SELECT count(*) FROM tombstones")[0][0], 0)


if __name__ == "__main__":
    unittest.main()
