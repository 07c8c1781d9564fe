"""venuegw plan check | show | import (issue 13, parts 1 and 2), with the real
binary: every problem of a plan with its JSON pointer and the exit statuses
of venuegw(8); the types and fields of a plan; a Segment and a RudderStack
export (tests/data/plans/) converted into plans that pass check, with each
class printed as decided; and an imported plan used by a real gateway."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import GatewayCase, build_path, event_key, keep_or_remove, token

SOURCE = os.environ["VG_SOURCE_DIR"]
DEFAULT_PLAN = os.path.join(SOURCE, "packaging", "plan", "plan.json")
EXPORTS = os.path.join(SOURCE, "tests", "data", "plans")
SEGMENT = os.path.join(EXPORTS, "segment-export.json")
RUDDERSTACK = os.path.join(EXPORTS, "rudderstack-export.json")


def venuegw(*args, input=None):
    return subprocess.run([build_path("venuegw"), *args], capture_output=True, text=True, input=input,
                          timeout=30)


def a_plan(field):
    """A plan of one type whose properties declare one field, the schema given."""
    return {"name": "t", "version": "1",
            "common": {"properties": {"type": {"type": "string"}, "occurred_at": {"type": "string"}}},
            "events": {"pos.order.completed": {"type": "object", "properties": {"properties": {
                "type": "object", "properties": {"f": field}}}}}}


POINTER = "/events/pos.order.completed/properties/properties/properties/f"


class Temp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vg-plan-")
        self.addCleanup(keep_or_remove, self.tmp)

    def write(self, name, content):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content, indent=2))
        return path

    def assertExit(self, r, code):
        self.assertEqual(r.returncode, code, "stdout: %s\nstderr: %s" % (r.stdout, r.stderr))


class CheckTest(Temp):
    def test_the_default_plan_is_good(self):
        r = venuegw("plan", "check", DEFAULT_PLAN)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"^%s: 10 event types, \d+ fields, version 1\.0\.0" % re.escape(DEFAULT_PLAN))
        self.assertNotRegex(r.stderr, r": /[^:]*: (?!warning:)")   # no error, whatever the warnings

    def test_a_syntax_error_names_its_line_and_column(self):
        path = self.write("broken.json", '{\n  "version": "1",\n  "events": {\n    "a.b": {"type": "object",}\n  }\n}\n')
        r = venuegw("plan", "check", path)
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r"%s: /: not valid JSON \(near line 4, column \d+\)" % re.escape(path))
        self.assertIn("1 error", r.stderr)

    def test_each_problem_is_reported_with_its_json_pointer(self):
        cases = {
            "unknown keyword": ({"type": "string", "oneOf": [{"maxLength": 3}]}, POINTER + "/oneOf", "not supported"),
            "bad class": ({"type": "string", "x-pii": "secret"}, POINTER + "/x-pii", "not a personal-data class"),
            "bad pattern": ({"type": "string", "pattern": "([A-Z"}, POINTER + "/pattern", "regular expression"),
            "bad type": ({"type": "strnig"}, POINTER + "/type", "not a JSON Schema type"),
        }
        for what, (field, pointer, text) in cases.items():
            with self.subTest(what):
                path = self.write("plan.json", a_plan(field))
                r = venuegw("plan", "check", path)
                self.assertExit(r, 1)
                self.assertRegex(r.stderr, r"(?m)^%s: %s: [^\n]*%s" % (re.escape(path), re.escape(pointer),
                                                                      re.escape(text)))
                self.assertEqual(r.stdout, "")

    def test_every_problem_is_listed_not_only_the_first(self):
        plan = a_plan({"type": "strnig", "x-pii": "secret"})
        plan["events"]["device.status"] = {"type": "object", "properties": {"properties": {"type": "object",
                                           "properties": {"note": {"type": "string", "pattern": "("}}}}}
        path = self.write("plan.json", plan)
        r = venuegw("plan", "check", path)
        self.assertExit(r, 1)
        for pointer in (POINTER + "/type", POINTER + "/x-pii",
                        "/events/device.status/properties/properties/properties/note/pattern"):
            self.assertIn("%s: %s: " % (path, pointer), r.stderr)
        self.assertIn("3 errors", r.stderr)

    def test_warnings_do_not_fail(self):
        path = self.write("plan.json", a_plan({"type": "array"}))   # an array without items
        r = venuegw("plan", "check", path)
        self.assertExit(r, 0)
        self.assertIn("%s: %s: warning: " % (path, POINTER), r.stderr)
        self.assertIn("1 event type", r.stdout)

    def test_wrong_command_lines_and_unreadable_files_are_2(self):
        self.assertExit(venuegw("plan"), 2)
        self.assertExit(venuegw("plan", "lint", DEFAULT_PLAN), 2)
        self.assertExit(venuegw("plan", "check"), 2)
        self.assertExit(venuegw("plan", "check", DEFAULT_PLAN, DEFAULT_PLAN), 2)
        r = venuegw("plan", "check", os.path.join(self.tmp, "nope.json"))
        self.assertExit(r, 2)
        self.assertIn("nope.json: No such file or directory", r.stderr)
        r = venuegw("--config", os.path.join(self.tmp, "missing.conf"), "plan", "check", DEFAULT_PLAN)
        self.assertExit(r, 2)   # a configuration that is named must load
        r = venuegw("plan", "--help")
        self.assertExit(r, 0)
        self.assertIn("venuegw plan check FILE", r.stdout)
        self.assertEqual(venuegw("help", "plan").stdout, r.stdout)


class ShowTest(Temp):
    def test_the_types_with_their_priority_and_fields(self):
        r = venuegw("plan", "show", "--plan", DEFAULT_PLAN)
        self.assertExit(r, 0)
        rows = {l.split()[0]: l.split()[1:] for l in r.stdout.splitlines()[2:]}
        self.assertEqual(len(rows), 10)
        self.assertEqual(rows["consent.updated"][0], "high")
        self.assertEqual(rows["device.status"][0], "low")
        self.assertEqual(rows["checkin.scanned"][0], "normal")
        self.assertGreater(int(rows["payment.succeeded"][1]), 10)

    def test_the_fields_of_one_type(self):
        r = venuegw("plan", "show", "payment.succeeded", "--plan", DEFAULT_PLAN)
        self.assertExit(r, 0)
        fields = {l.split()[0]: l.split()[1:] for l in r.stdout.splitlines()[2:]}
        self.assertEqual(fields["properties.amount_minor"], ["integer", "-", "required"])
        self.assertEqual(fields["properties.currency"], ["string", "id", "required"])
        self.assertEqual(fields["properties.card"], ["string", "card"])
        self.assertEqual(fields["person.email"], ["string", "email"])
        self.assertEqual(fields["consent.*"], ["boolean", "-"])

    def test_wrong_input(self):
        r = venuegw("plan", "show", "no.such.type", "--plan", DEFAULT_PLAN)
        self.assertExit(r, 2)
        self.assertIn("no type 'no.such.type'", r.stderr)
        self.assertExit(venuegw("plan", "show", "--bogus"), 2)
        self.assertExit(venuegw("plan", "show", "--plan", os.path.join(self.tmp, "nope.json")), 2)
        bad = self.write("bad.json", a_plan({"type": "strnig"}))
        r = venuegw("plan", "show", "--plan", bad)
        self.assertExit(r, 1)
        self.assertIn(POINTER + "/type", r.stderr)


def plan_fields(plan, type_):
    return plan["events"][type_]["properties"]["properties"]["properties"]


class ImportTest(Temp):
    def imported(self, source, export, *extra):
        out = os.path.join(self.tmp, "imported-%s.json" % source)
        r = venuegw("plan", "import", "--from", source, export, "-o", out, "--base", DEFAULT_PLAN, *extra)
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, "")
        check = venuegw("plan", "check", out)
        self.assertExit(check, 0)
        with open(out) as f:
            return json.load(f), r.stderr, check.stdout

    def test_segment_config_api_export(self):
        plan, said, checked = self.imported("segment", SEGMENT)
        with open(SEGMENT, "rb") as f:
            version = "imported-" + hashlib.sha256(f.read()).hexdigest()[:12]
        self.assertEqual(plan["version"], version)
        self.assertIn("6 event types", checked)
        self.assertEqual(set(plan["events"]), {"Order_Completed", "Class_Booked", "Checked_In",
                                               "Newsletter_Signed_Up", "Payment_Failed", "checkin.scanned"})
        # The classes, as decided and as printed.
        decided = {
            ("Order Completed", "properties.email"): ("email", "format email"),
            ("Order Completed", "properties.card_number"): ("card", 'by name "card_number"'),
            ("Order Completed", "properties.order_id"): ("id", "an identifier, never rewritten"),
            ("Order Completed", "properties.billing.street"): ("address", 'by name "street"'),
            ("Order Completed", "properties.products[].sku"): ("text", "no name hint"),
            ("Order Completed", "properties.currency"): ("text", "no name hint"),
            ("Class Booked", "properties.guests[].email"): ("email", 'by name "email"'),
            ("Class Booked", "properties.instructor.first_name"): ("name", 'by name "first_name"'),
            ("Checked In", "properties.phone"): ("phone", 'by name "phone"'),
            ("Checked In", "properties.member_code"): ("member_code", 'by name "member_code"'),
            ("Newsletter Signed Up", "properties.mobile"): ("phone", 'by name "mobile"'),
            ("Newsletter Signed Up", "properties.full_name"): ("name", 'by name "full_name"'),
            ("checkin.scanned", "properties.customer_id"): ("customer_id", 'by name "customer_id"'),
        }
        for (event, path), (cls, why) in decided.items():
            self.assertRegex(said, r"(?m)^event %s: %s → %s \([^)\n]*%s" % (re.escape(event), re.escape(path),
                                                                            cls, re.escape(why)))
        self.assertIn("event Order Completed: properties.total → no class (number)", said)
        oc = plan_fields(plan, "Order_Completed")
        self.assertEqual(oc["email"]["x-pii"], "email")
        self.assertEqual(oc["billing"]["properties"]["postal_code"]["x-pii"], "address")
        self.assertEqual(oc["products"]["items"]["properties"]["quantity"], {"type": "integer", "minimum": 1,
                                                                              "maximum": 99})
        self.assertEqual(oc["payment_method"]["enum"], ["card", "cash", "voucher", "account"])
        self.assertEqual(oc["currency"]["pattern"], "^[A-Z]{3}$")
        self.assertEqual(plan["events"]["Order_Completed"]["properties"]["properties"]["required"],
                         ["order_id", "total", "currency"])
        self.assertEqual(plan["events"]["Order_Completed"]["required"], ["properties"])
        # Only the newest version of an event that is listed twice.
        self.assertIn("booking_id", plan_fields(plan, "Class_Booked"))
        self.assertIn("version 1 not imported", said)
        # What is dropped is said, with what it does to validation.
        self.assertRegex(said, r"properties\.discount_code: oneOf dropped: .*looser")
        self.assertRegex(said, r"properties\.voucher_ref: pattern dropped: .*too large.*looser")
        self.assertEqual(oc["promo_code"]["pattern"], "^(?=.*[A-Z])[A-Z0-9]{6,12}$")
        self.assertNotIn("pattern", oc["voucher_ref"])
        self.assertRegex(said, r"properties\.preferences: patternProperties dropped: .*stricter")
        self.assertRegex(said, r"properties\.metadata: additionalProperties: true dropped: .*stricter")
        self.assertRegex(said, r"properties\.booking_url: format uri dropped")
        self.assertIn("rules.identify not imported", said)
        self.assertNotIn("oneOf", json.dumps(plan))
        # Names that are not venuegw types are said to be so, and imported.
        self.assertIn("event Order Completed → type Order_Completed (renamed", said)
        self.assertRegex(said, r"event checkin\.scanned → type checkin\.scanned\n")
        # The common fields are the default plan's.
        with open(DEFAULT_PLAN) as f:
            self.assertEqual(plan["common"], json.load(f)["common"])

    def test_rudderstack_data_catalog_export(self):
        plan, said, _ = self.imported("rudderstack", RUDDERSTACK, "--version", "2026-12-04.1")
        self.assertEqual(plan["version"], "2026-12-04.1")
        self.assertEqual(set(plan["events"]), {"Product_Added", "Cart_Checked_Out", "Membership_Started",
                                               "Class_Reviewed", "kiosk.session.started"})
        # Custom types ($defs) are resolved where they are used.
        product = plan_fields(plan, "Product_Added")["product"]
        self.assertEqual(product["properties"]["sku"]["pattern"], "^[A-Z]{2}-[0-9]{5}$")
        self.assertEqual(product["required"], ["sku"])
        cart = plan_fields(plan, "Cart_Checked_Out")
        self.assertEqual(cart["items"]["items"]["properties"]["unit_price"]["properties"]["currency"]["enum"],
                         ["EUR", "CHF"])
        self.assertEqual(cart["shipping_address"]["properties"]["zip"]["x-pii"], "address")
        self.assertEqual(cart["card"]["properties"]["card_number"]["x-pii"], "card")
        self.assertEqual(cart["receipt_email"]["x-pii"], "email")
        member = plan_fields(plan, "Membership_Started")
        self.assertEqual(member["firstName"]["x-pii"], "name")
        self.assertEqual(member["dateOfBirth"]["x-pii"], "birth_date")
        self.assertEqual(member["phone_number"]["x-pii"], "phone")
        self.assertEqual(member["membership_number"]["x-pii"], "member_code")
        self.assertEqual(member["emergency_contact"]["properties"]["phone"]["x-pii"], "phone")
        self.assertRegex(said, r"properties\.referral: \$ref https://\S+ dropped: not a local reference.*looser")
        self.assertRegex(said, r"not imported: a rule of type identify")
        self.assertRegex(said, r"properties\.tags: uniqueItems dropped: .*looser")
        self.assertIn("event Membership Started: properties.lastName → name (string, by name \"lastName\")", said)

    def test_segment_public_api_rules_to_standard_output(self):
        rules = {"data": {"rules": [
            {"type": "COMMON", "key": None, "version": 1, "jsonSchema": {"properties": {"context": {}}}},
            {"type": "TRACK", "key": "Locker Rented", "version": 1, "jsonSchema": {
                "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"context": {}, "traits": {}, "properties": {"type": "object", "properties": {
                    "locker_id": {"type": "string"}, "hours": {"type": "integer", "minimum": 1},
                    "renter_email": {"type": "string"}}, "required": ["locker_id"]}}}},
            {"type": "IDENTIFY", "key": None, "version": 1, "jsonSchema": {"properties": {"traits": {}}}},
        ], "pagination": {"current": "MA==", "totalEntries": 3}}}
        path = self.write("public-api.json", rules)
        r = venuegw("plan", "import", "--from", "segment", path)
        self.assertExit(r, 0)
        plan = json.loads(r.stdout)
        self.assertEqual(list(plan["events"]), ["Locker_Rented"])
        self.assertEqual(plan_fields(plan, "Locker_Rented")["renter_email"]["x-pii"], "email")
        self.assertEqual(plan_fields(plan, "Locker_Rented")["locker_id"]["x-pii"], "id")
        self.assertIn("not imported: a rule of type COMMON", r.stderr)
        self.assertIn("not imported: a rule of type IDENTIFY", r.stderr)
        out = self.write("locker.json", r.stdout)
        self.assertExit(venuegw("plan", "check", out), 0)

    def test_what_is_not_an_export(self):
        bad = self.write("bad.json", '{\n  "rules": {\n    "events": [,]\n  }\n}\n')
        r = venuegw("plan", "import", "--from", "segment", bad)
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r"not valid JSON \(near line 3, column \d+\)")
        other = self.write("other.json", {"workspace": "fitstudio", "sources": []})
        r = venuegw("plan", "import", "--from", "rudderstack", other)
        self.assertExit(r, 1)
        self.assertIn("not a RudderStack tracking-plan export: expected rules.events[]", r.stderr)
        self.assertIn("data.rules[]", r.stderr)
        r = venuegw("plan", "import", "--from", "segment", DEFAULT_PLAN)
        self.assertExit(r, 1)
        self.assertIn("already a venuegw plan", r.stderr)
        self.assertExit(venuegw("plan", "import", "--from", "segment", os.path.join(self.tmp, "nope.json")), 2)
        self.assertExit(venuegw("plan", "import", SEGMENT), 2)                      # no --from
        self.assertExit(venuegw("plan", "import", "--from", "mixpanel", SEGMENT), 2)
        self.assertExit(venuegw("plan", "import", "--from", "segment"), 2)         # no FILE
        r = venuegw("plan", "import", "--from", "segment", SEGMENT, "-o", os.path.join(self.tmp, "no", "dir.json"))
        self.assertExit(r, 2)
        self.assertEqual(os.listdir(self.tmp), ["bad.json", "other.json"])   # nothing half written

    def test_without_a_base_plan_the_built_in_common_fields(self):
        # /usr/share/venuegw/plan.json exists only where the package is installed.
        base = os.path.join(self.tmp, "absent.json")
        out = os.path.join(self.tmp, "plan.json")
        r = venuegw("plan", "import", "--from", "segment", SEGMENT, "-o", out, "--base", base)
        self.assertExit(r, 2)    # a base that is named must be read
        r = subprocess.run([build_path("venuegw"), "plan", "import", "--from", "segment", SEGMENT, "-o", out],
                           capture_output=True, text=True, timeout=30)
        self.assertExit(r, 0)
        with open(out) as f:
            common = json.load(f)["common"]["properties"]
        self.assertEqual(set(common), {"id", "type", "occurred_at", "seq", "person", "consent"})
        self.assertExit(venuegw("plan", "check", out), 0)


class ImportedPlanGatewayTest(GatewayCase):
    """A real gateway whose [contracts] plan is the imported Segment plan."""
    prefix = "vg-plan-gw-"
    with_cdp = False

    def setUp(self):
        work = tempfile.mkdtemp(prefix="vg-plan-import-")
        self.addCleanup(keep_or_remove, work)
        self.plan = os.path.join(work, "imported.json")
        r = venuegw("plan", "import", "--from", "segment", SEGMENT, "-o", self.plan, "--base", DEFAULT_PLAN)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.extra_conf = "[contracts]\nplan = %s\n" % self.plan
        super().setUp()

    def publish(self, event):
        r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", json.dumps(event))
        self.assertEqual(r.returncode, 0, r.stderr)

    def stored(self, event_id):
        rows = self.gw.query("SELECT body FROM events WHERE event_key=?", event_key("pos-1", event_id))
        return json.loads(rows[0][0]) if rows else None

    def test_what_the_imported_plan_does_not_declare_never_reaches_buffer_db(self):
        self.publish({"id": "imp-1", "type": "Order_Completed", "occurred_at": "2026-12-04T10:03:12+01:00",
                      "properties": {"order_id": "o-77", "total": 12.5, "currency": "EUR",
                                     "email": " Ana.Lopez@Example.com ", "staff_note": "call +49 151 2345678",
                                     "ana.lopez@example.com": True}})
        # A type the imported plan does not have is refused.
        self.publish({"id": "imp-2", "type": "payment.succeeded", "occurred_at": "2026-12-04T10:03:13+01:00",
                      "properties": {"amount_minor": 1250, "currency": "EUR"}})
        body = self.stored("imp-1")
        self.assertIsNotNone(body)
        self.assertEqual(body["properties"]["order_id"], "o-77")
        self.assertEqual(body["properties"]["email"], token("em", "ana.lopez@example.com"))
        self.assertNotIn("staff_note", body["properties"])
        raw = self.gw.query("SELECT body FROM events WHERE event_key=?", event_key("pos-1", "imp-1"))[0][0]
        for needle in ("ana.lopez", "Ana.Lopez", "2345678"):
            self.assertNotIn(needle, raw)
        self.assertIsNone(self.stored("imp-2"))
        # plan show reads [contracts] plan of the configuration.
        r = venuegw("--config", self.gw.conf, "plan", "show")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.plan, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^Order_Completed +normal ")


if __name__ == "__main__":
    unittest.main()
