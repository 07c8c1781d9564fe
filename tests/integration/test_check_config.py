"""venuegw check-config: the file and what it points at (issue 7).  Every
problem is listed with its section and key; errors exit 2, warnings do not
fail."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from cdp_client import StandIn
from harness import Gateway, build_path


class CheckConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vg-cc-")
        os.chmod(self.tmp, 0o755)
        self.cdp = StandIn(self.tmp)
        self.gw = Gateway(self.tmp, cdp=self.cdp)   # never started: check-config only
        for f in (self.gw.write_key, self.gw.keys, self.gw.mqtt_password):
            os.chmod(f, 0o640)

    def tearDown(self):
        self.cdp.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, *pre):
        return subprocess.run([*pre, build_path("venuegw"), "--config", self.gw.conf, "check-config"],
                              capture_output=True, text=True, timeout=30)

    def test_good_configuration(self):
        r = self.check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK (venue", r.stdout)
        # The harness's config keeps the [broker] defaults: only the device verbs need them.
        self.assertIn("[broker] passwd_file: /etc/venuegw/passwd", r.stderr)
        self.assertNotIn("error", r.stderr)

    def test_every_problem_is_listed(self):
        os.unlink(self.gw.write_key)
        os.chmod(self.gw.mqtt_password, 0o644)
        with open(self.gw.keys, "w") as f:   # only a key staged for the future
            f.write("2 %s activate_at=2099-01-01T00:00:00Z\n" % ("ab" * 32))
        r = self.check()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("error: [cdp] write_key_file: %s: No such file or directory" % self.gw.write_key, r.stderr)
        self.assertIn("error: [tokens] key_file: %s: no key is in force now" % self.gw.keys, r.stderr)
        self.assertIn("warning: [mqtt] password_file: %s is readable by every user (mode 0644)"
                      % self.gw.mqtt_password, r.stderr)
        self.assertIn("2 errors", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_a_plan_that_does_not_load(self):
        plan = os.path.join(self.tmp, "plan.json")
        with open(plan, "w") as f:
            f.write('{"version": "x", "events": {"a.b": {"type": "objekt"}}}')
        with open(self.gw.conf) as f:
            text = f.read()
        with open(self.gw.conf, "w") as f:
            f.write(text.replace("plan = %s" % self.gw.plan, "plan = %s" % plan))
        r = self.check()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("error: [contracts] plan: %s: /events/a.b/type: not a JSON Schema type" % plan, r.stderr)
        self.assertIn("venuegw plan check %s lists every problem" % plan, r.stderr)
        os.unlink(plan)
        r = self.check()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("error: [contracts] plan: %s: No such file or directory" % plan, r.stderr)

    def test_files_the_service_user_cannot_read(self):
        # Root reads everything: check as an unprivileged user, as the service would run.
        os.chmod(self.gw.conf, 0o644)
        os.chmod(self.gw.write_key, 0o600)
        r = self.check("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("[cdp] write_key_file: %s: cannot be read by this user (uid 65534)" % self.gw.write_key,
                      r.stderr)
        self.assertIn("[gateway] data_dir: %s: not writable by this user" % self.gw.data_dir, r.stderr)
        # ... and the configuration file itself.
        os.chmod(self.gw.conf, 0o600)
        r = self.check("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        self.assertEqual(r.returncode, 2)
        self.assertIn(self.gw.conf, r.stderr)
        self.assertIn("Permission denied", r.stderr)

    def test_missing_configuration_and_arguments(self):
        r = subprocess.run([build_path("venuegw"), "--config", os.path.join(self.tmp, "nope.conf"),
                            "check-config"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.conf", r.stderr)
        r = subprocess.run([build_path("venuegw"), "--config", self.gw.conf, "check-config", "extra"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("takes no arguments", r.stderr)


if __name__ == "__main__":
    unittest.main()
