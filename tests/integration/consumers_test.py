"""The machine-readable formats as their consumers read them.

The real binary runs against the lab (ci/lab.sh) with --format junit / nagios / prometheus
and --output FILE (as cron and CI use it); the files are then checked with the consumers'
own tools: xmllint against reports/schema/junit.xsd (the JUnit schema CI systems accept)
and promtool check metrics (what node_exporter's textfile collector will parse). The
golden files of tests/unit/reporters_formats_test.cpp are checked the same way. A missing
tool is a failure, not a skip: ci/install-deps.sh installs both.
"""
import re
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from labtest import LAB_DIR, ROOT, lab_is_up, mailready

XSD = ROOT / "reports" / "schema" / "junit.xsd"
GOLDEN = ROOT / "tests" / "golden"

# One sample line of the exposition format: name{labels} value.
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# One perfdata entry: 'label'=value[UOM];[warn];[crit];[min];[max]
PERF = re.compile(r"^'([^'=]+)'=(-?[0-9.]+)(ms|s|us|%|B|KB|MB|TB|c)?(;[^; ]*){0,4}$")


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed: run ci/install-deps.sh")
    return path


def xmllint_errors(path):
    """xmllint's complaints about `path` against the JUnit schema ('' when it validates)."""
    proc = subprocess.run([tool("xmllint"), "--noout", "--schema", str(XSD), str(path)],
                          capture_output=True, text=True)
    return "" if proc.returncode == 0 else proc.stderr


def promtool_errors(path):
    """promtool's complaints about `path` (lint included; '' when it is clean)."""
    with open(path, "rb") as f:
        proc = subprocess.run([tool("promtool"), "check", "metrics"], stdin=f,
                              capture_output=True, text=True)
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def samples(text):
    """[(name, {label: value}, float)] of an exposition-format text."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def ca_args():
    """--ca-file with the lab's root, once the binary has the option (the cert checks need it)."""
    help_text = mailready("check", "--help", netns=False).stdout
    return ["--ca-file", str(LAB_DIR / "pki" / "root.pem")] if "--ca-file" in help_text else []


class Rendered:
    """One lab run written with --output to a temporary file."""

    def __init__(self, host, fmt, *extra):
        self._dir = tempfile.TemporaryDirectory(prefix="mailready-consumers-")
        self.path = Path(self._dir.name) / f"report.{fmt}"
        self.run = mailready("check", host, "--from-inside", *extra, *ca_args(), "--format", fmt,
                             "--output", str(self.path))
        assert self.path.exists(), \
            f"no report written (exit {self.run.rc}): {self.run.stdout}{self.run.stderr}"
        self.text = self.path.read_text()

    def close(self):
        self._dir.cleanup()


class LabTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")


class GoldenFilesAreValid(unittest.TestCase):
    """The unit tests' golden files pass the same consumers' checks as real output."""

    def test_junit_golden_files_match_the_schema(self):
        files = sorted(GOLDEN.glob("*_formats.junit.xml"))
        self.assertEqual(len(files), 2, files)
        for path in files:
            self.assertEqual(xmllint_errors(path), "", path.name)

    def test_prometheus_golden_files_pass_promtool(self):
        files = sorted(GOLDEN.glob("*_formats.prom"))
        self.assertEqual(len(files), 2, files)
        for path in files:
            self.assertEqual(promtool_errors(path), "", path.name)

    def test_schema_rejects_what_ci_systems_would_not_read(self):
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as bad:
            bad.write('<testsuites><testsuite name="x" tests="1">'
                      '<testcase name="t"><system-out>o</system-out><failure/></testcase>'
                      '</testsuite></testsuites>\n')
            bad.flush()
            self.assertIn("failure", xmllint_errors(bad.name))


class GoodHostJUnit(LabTestCase):
    """mail.lab.test: every check passes, so JUnit has no failures and no errors."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.out = Rendered("mail.lab.test", "junit")

    @classmethod
    def tearDownClass(cls):
        cls.out.close()

    def test_exit_code_is_ok_and_nothing_on_stdout(self):
        self.assertEqual(self.out.run.rc, 0, self.out.text + self.out.run.stderr)
        self.assertEqual(self.out.run.stdout, "")

    def test_validates_against_the_junit_schema(self):
        self.assertEqual(xmllint_errors(self.out.path), "")

    def test_counts_agree_with_the_testcases(self):
        root = ET.fromstring(self.out.text)
        self.assertEqual(root.tag, "testsuites")
        cases = root.findall("./testsuite/testcase")
        self.assertEqual(int(root.get("tests")), len(cases))
        self.assertEqual(root.get("failures"), "0")
        self.assertEqual(root.get("errors"), "0")
        for suite in root.findall("testsuite"):
            self.assertEqual(int(suite.get("tests")), len(suite.findall("testcase")), suite.get("name"))
            self.assertEqual(int(suite.get("skipped")), len(suite.findall("testcase/skipped")))

    def test_one_testcase_per_port_named_for_the_endpoint(self):
        root = ET.fromstring(self.out.text)
        ports = [c.get("name") for c in root.iter("testcase") if c.get("classname") == "ports.reachability"]
        for port in (993, 587, 465, 25):
            self.assertIn(f"mail.lab.test[127.0.10.10]:{port}", ports)
        suites = [s.get("name") for s in root.findall("testsuite")]
        self.assertIn("mail.lab.test", suites, "host-level results have a suite named for the host")


class GoodHostMetrics(LabTestCase):
    """mail.lab.test in the monitoring formats: OK, with timings."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nagios = Rendered("mail.lab.test", "nagios")
        cls.prom = Rendered("mail.lab.test", "prometheus")

    @classmethod
    def tearDownClass(cls):
        cls.nagios.close()
        cls.prom.close()

    def test_nagios_ok_with_perfdata(self):
        self.assertEqual(self.nagios.run.rc, 0, self.nagios.text)
        first = self.nagios.text.splitlines()[0]
        self.assertTrue(first.startswith("MAILREADY OK - mail.lab.test: "), first)
        status, perfdata = first.split(" | ")
        entries = perfdata.split(" ")
        for entry in entries:
            self.assertRegex(entry, PERF)
        labels = [e.split("=")[0] for e in entries]
        self.assertEqual(len(labels), len(set(labels)), "perfdata labels are unique")
        self.assertIn("'connect_mail.lab.test_993'", labels)
        self.assertIn("'tls_mail.lab.test_993'", labels)

    def test_prometheus_passes_promtool(self):
        self.assertEqual(self.prom.run.rc, 0)
        self.assertEqual(promtool_errors(self.prom.path), "")

    def test_prometheus_has_timings_and_every_check_succeeds(self):
        got = samples(self.prom.text)
        names = {n for n, _, _ in got}
        for name in ("mailready_up", "mailready_verdict", "mailready_run_duration_seconds",
                     "mailready_connect_duration_seconds", "mailready_tls_handshake_duration_seconds"):
            self.assertIn(name, names)
        # The connection-level checks find nothing on the good host.
        basics = {"dns.resolve", "ports.reachability", "imap.greeting", "smtp.greeting",
                  "submission.fallback"}
        success = [(l, v) for n, l, v in got
                   if n == "mailready_check_success" and l["check"] in basics]
        self.assertEqual({l["check"] for l, _ in success}, basics)
        for labels, value in success:
            self.assertEqual(value, 1, labels)
        if any(l.get("check") == "cert.chain" for n, l, _ in got if n == "mailready_check_status"):
            self.assertIn("mailready_cert_not_after_timestamp_seconds", names)


class FirewalledHost(LabTestCase):
    """fw.lab.test: 587 closed, 465 filtered, so phones send through 25 (a warning)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.junit = Rendered("fw.lab.test", "junit", "--timeout", "2")
        cls.nagios = Rendered("fw.lab.test", "nagios", "--timeout", "2")
        cls.prom = Rendered("fw.lab.test", "prometheus", "--timeout", "2")

    @classmethod
    def tearDownClass(cls):
        for out in (cls.junit, cls.nagios, cls.prom):
            out.close()

    def test_junit_validates_and_has_the_fallback_failure(self):
        self.assertEqual(self.junit.run.rc, 1)
        self.assertEqual(xmllint_errors(self.junit.path), "")
        root = ET.fromstring(self.junit.text)
        fallback = [c for c in root.iter("testcase") if c.get("classname") == "submission.fallback"]
        self.assertEqual(len(fallback), 1)
        self.assertEqual(fallback[0].get("name"), "fw.lab.test")
        failure = fallback[0].find("failure")
        self.assertIsNotNone(failure, ET.tostring(fallback[0], encoding="unicode"))
        self.assertTrue(failure.get("message").startswith("submission.fallback-25: "))
        self.assertEqual(failure.get("type"), "warning")
        self.assertIn("fix: ", failure.text)
        self.assertGreaterEqual(int(root.get("failures")), 1)

    def test_nagios_warning_line_exit_1(self):
        self.assertEqual(self.nagios.run.rc, 1)
        lines = self.nagios.text.splitlines()
        self.assertTrue(lines[0].startswith("MAILREADY WARNING - "), lines[0])
        self.assertIn("submission.fallback-25: Phones will send through port 25", lines[0])
        self.assertEqual(lines[0].count("|"), 1, "one '|' before the perfdata")
        for entry in lines[0].split(" | ")[1].split(" "):
            self.assertRegex(entry, PERF)
        self.assertNotIn("connect_fw.lab.test_465", lines[0], "a filtered port has no connect time")
        long_text = "\n".join(lines[1:])
        self.assertNotIn("|", long_text)
        self.assertIn("port.filtered", long_text)
        self.assertIn("[WARN] submission.fallback on fw.lab.test: ", long_text)

    def test_prometheus_passes_promtool(self):
        self.assertEqual(self.prom.run.rc, 1)
        self.assertEqual(promtool_errors(self.prom.path), "")

    def test_prometheus_port_465_is_not_a_success(self):
        got = samples(self.prom.text)

        def value(name, **want):
            found = [v for n, l, v in got if n == name and all(l.get(k) == w for k, w in want.items())]
            self.assertEqual(len(found), 1, (name, want, found))
            return found[0]

        self.assertEqual(value("mailready_check_success", check="ports.reachability", port="465"), 0)
        self.assertEqual(value("mailready_check_success", check="ports.reachability", port="993"), 1)
        self.assertEqual(value("mailready_check_success", check="submission.fallback"), 0)
        self.assertEqual(value("mailready_verdict", target="fw.lab.test"), 1)
        self.assertEqual(value("mailready_up", target="fw.lab.test"), 1)
        self.assertEqual(value("mailready_findings", severity="warning"), 1)
        self.assertGreaterEqual(value("mailready_run_duration_seconds"), 1.9)


if __name__ == "__main__":
    unittest.main()
