"""Wrong input on every verb's command line gives the documented exit status
(venuegw(8): 0 success, 1 operational failure, 2 bad command line or
configuration, 3 validate rejects) and a message on standard error — the
verbs not covered by their own test files (provision and device:
test_provision.py; quarantine: test_quarantine.py; diag: test_diag.py;
check-config: test_check_config.py; forget: test_erasure.py)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import DEFAULT_PLAN, Gateway, build_path


def venuegw(*args, input=None, pre=()):
    return subprocess.run([*pre, build_path("venuegw"), *args], capture_output=True, text=True,
                          input=input, timeout=30)


class WrongInputTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vg-cli-")
        os.chmod(self.tmp, 0o755)
        self.gw = Gateway(self.tmp)   # a configuration; nothing is started
        self.conf = self.gw.conf
        self.missing = os.path.join(self.tmp, "missing.conf")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertExit(self, r, code, text):
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        self.assertIn(text, r.stderr)

    def test_the_command_line_itself(self):
        self.assertExit(venuegw(), 2, "no verb given")
        self.assertExit(venuegw("frobnicate"), 2, "unknown verb 'frobnicate'")
        self.assertExit(venuegw("--bogus", "status"), 2, "unknown option")
        self.assertExit(venuegw("help", "frobnicate"), 2, "unknown verb 'frobnicate'")
        r = venuegw("--version")
        self.assertEqual((r.returncode, r.stdout.split()[0]), (0, "venuegw"))

    def test_a_missing_configuration_is_2_for_every_verb_that_reads_one(self):
        for verb in ("run", "status", "quarantine", "forget", "check-config", "device", "diag"):
            r = venuegw("--config", self.missing, verb)
            self.assertExit(r, 2, self.missing)

    def test_run(self):
        self.assertExit(venuegw("--config", self.conf, "run", "extra"), 2, "run takes no arguments")
        with open(self.conf, "a") as f:
            f.write("[serial.pos]\ndevice = /dev/null\ndriver = ecr\ndevice_id = pos-9\nlrc_span = sideways\n")
        # The driver checks its own options before anything starts.
        self.assertExit(venuegw("--config", self.conf, "run"), 2, "[serial.pos] lrc_span")

    def test_status(self):
        self.assertExit(venuegw("--config", self.conf, "status", "--bogus"), 2, "unknown argument '--bogus'")
        # No buffer.db yet (the daemon creates it): an operational failure.
        r = venuegw("--config", self.conf, "status")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("buffer.db", r.stderr)

    def test_status_as_a_user_who_cannot_read_buffer_db(self):
        self.gw.start_daemon()
        try:
            self.assertEqual(venuegw("--config", self.conf, "status", "--json").returncode, 0)
            os.chmod(self.conf, 0o644)
            os.chmod(self.gw.data_dir, 0o700)
            r = venuegw("--config", self.conf, "status", pre=("setpriv", "--reuid=65534", "--regid=65534",
                                                             "--clear-groups"))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("buffer.db", r.stderr)
        finally:
            self.gw.stop_daemon()

    def test_validate(self):
        self.assertExit(venuegw("validate"), 2, "expected FILE")
        self.assertExit(venuegw("validate", "a.json", "b.json"), 2, "unexpected argument 'b.json'")
        self.assertExit(venuegw("validate", os.path.join(self.tmp, "nope.json")), 1, "nope.json")
        # A configuration that is named must load (device makers may omit it).
        self.assertExit(venuegw("--config", self.missing, "validate", "-", input="{}"), 2, self.missing)
        # Without a configuration: the package's plan, unless --plan names one.
        self.assertExit(venuegw("validate", "--plan", os.path.join(self.tmp, "nope-plan.json"), "-", input="{}"),
                        2, "nope-plan.json: cannot open the tracking plan")
        r = venuegw("validate", "--plan", DEFAULT_PLAN, "-", input="{not json")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("bad_json", r.stdout)
        ok = {"id": "v", "type": "checkin.scanned", "occurred_at": "2026-11-28T18:03:12+01:00",
              "person": {"member_code": "M-1"}}
        r = venuegw("validate", "--plan", DEFAULT_PLAN, "-", input=json.dumps(ok))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # What the plan does not declare is named (its path, never its value) and dropped.
        ok["properties"] = {"customer_name": "Ana Lopez", "ana.lopez@example.com": True}
        r = venuegw("validate", "--plan", DEFAULT_PLAN, "-", input=json.dumps(ok))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("dropped: properties.customer_name (not declared by the plan)", r.stdout)
        self.assertIn("dropped: properties.~ (not declared by the plan)", r.stdout)
        self.assertNotIn("Lopez", r.stdout)
        self.assertNotIn("lopez", r.stdout)


if __name__ == "__main__":
    unittest.main()
