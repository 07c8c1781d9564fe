"""The man pages venuegw(8) and venuegw.conf(5) (packaging/man/) against the
binary: every configuration key that --describe-config prints is documented
in its section of venuegw.conf(5), every verb and exit status of --help is
in venuegw(8), every verb has its own --help, and groff formats both pages
without a warning."""
import os
import re
import subprocess
import unittest

from harness import build_path

MAN = os.path.join(os.environ["VG_SOURCE_DIR"], "packaging", "man")


def venuegw(*args):
    return subprocess.run([build_path("venuegw"), *args], capture_output=True, text=True, timeout=30)


def page(name):
    with open(os.path.join(MAN, name)) as f:
        return f.read()


def unescape(roff):
    return roff.replace("\\-", "-").replace("\\e", "\\")


class ManPagesTest(unittest.TestCase):
    def test_groff_formats_without_warnings(self):
        for name in ("venuegw.8", "venuegw.conf.5"):
            r = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(MAN, name)],
                               capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), name)

    def test_every_key_is_in_its_section(self):
        described = venuegw("--describe-config").stdout
        keys, section = [], None
        for line in described.splitlines():
            if line.startswith("["):
                section = line.strip("[]")
            elif "=" in line and not line.startswith(";"):
                keys.append((section, line.split("=")[0].strip()))
        self.assertGreater(len(keys), 40)  # the parse itself worked
        text = unescape(page("venuegw.conf.5"))
        parts = re.split(r"^\.SS \[", text, flags=re.M)
        sections = {p.split("]", 1)[0]: p for p in parts[1:]}
        for section, key in keys:
            self.assertIn(section, sections, "section [%s] is not in venuegw.conf(5)" % section)
            self.assertRegex(sections[section], r"(?m)^\.BR %s \"" % re.escape(key),
                             "[%s] %s is not in venuegw.conf(5)" % (section, key))

    def test_every_verb_and_exit_status_is_in_venuegw_8(self):
        usage = venuegw("--help").stdout
        verbs_block = usage.split("Verbs:\n", 1)[1].split("\n\n", 1)[0]
        verbs = sorted({m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]+)", verbs_block, re.M)})
        self.assertIn("provision", verbs)
        text = unescape(page("venuegw.8"))
        for verb in verbs:
            self.assertRegex(text, r"(?m)^\.SS %s\b" % re.escape(verb), "verb %s is not in venuegw(8)" % verb)
            if verb == "help":
                continue
            r = venuegw(verb, "--help")
            self.assertEqual(r.returncode, 0, verb)
            self.assertIn("venuegw", r.stdout)
            self.assertIn(verb, r.stdout.splitlines()[0], "%s --help shows another verb's text" % verb)
            self.assertEqual(venuegw("help", verb).stdout, r.stdout)
        exit_block = usage.split("Exit status:\n", 1)[1]
        codes = re.findall(r"^  (\d)  ", exit_block, re.M)
        self.assertEqual(codes, ["0", "1", "2", "3"])
        man_exit = text.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
        for code in codes:
            self.assertRegex(man_exit, r"(?m)^\.B %s$" % code)

    def test_verb_table_matches_usage_and_venuegw_8(self):
        # The verb table itself (venuegw help --list: "VERB STATUS..."), the
        # one the usage text, the verbs' --help and the dispatch come from.
        r = venuegw("help", "--list")
        self.assertEqual(r.returncode, 0, r.stderr)
        table = {}
        for line in r.stdout.splitlines():
            name, *codes = line.split()
            table[name] = codes
        usage = venuegw("--help").stdout
        verbs_block = usage.split("Verbs:\n", 1)[1].split("\n\n", 1)[0]
        listed = [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]+)", verbs_block, re.M)]
        self.assertEqual(listed, list(table))
        text = unescape(page("venuegw.8"))
        man_exit = text.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
        for verb, codes in table.items():
            self.assertRegex(text, r"(?m)^\.SS %s\b" % re.escape(verb), "verb %s is not in venuegw(8)" % verb)
            self.assertIn("0", codes, verb)
            for code in codes:
                self.assertRegex(man_exit, r"(?m)^\.B %s$" % code, "%s: exit status %s" % (verb, code))
            if verb == "help":
                continue
            help_text = venuegw(verb, "--help").stdout
            exits = help_text.split("Exit status:", 1)[1] if "Exit status:" in help_text else ""
            self.assertEqual(sorted(set(re.findall(r"\b([0-3]) ", exits))), codes,
                             "%s: the exit statuses of its --help against the table" % verb)


if __name__ == "__main__":
    unittest.main()
