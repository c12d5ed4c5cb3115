"""check --targets against the lab's fleet: 1,024 names served by one real Dovecot and
Postfix (ci/lab.sh: fleet-NNNN.fleet.lab.test, NATed to fleet.lab.test), four of them
broken. Every target is reported exactly once, the broken ones and only they are named,
every format works on a fleet, and Ctrl-C leaves a whole report of what ran."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from labtest import BIN, LAB_DIR, NETNS, ROOT, lab_is_up, mailready

CA = str(LAB_DIR / "pki" / "root.pem")
FLEET = [f"fleet-{i:04d}.fleet.lab.test" for i in range(1024)]
# What ci/lab.sh breaks, and what a user must be told about each.
BROKEN = {
    "fleet-0008.fleet.lab.test": "port.closed",     # 993 closed
    "fleet-0009.fleet.lab.test": "port.filtered",   # everything dropped
    "fleet-0010.fleet.lab.test": "cert.expired",    # expired.lab.test's leaf
}
CLOSED_SUBMISSION = "fleet-0007.fleet.lab.test"     # 587 closed: 465 serves, an info finding


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def targets_file(self, names, name="targets.txt"):
        path = Path(self.tmp.name) / name
        path.write_text("# the lab's fleet\n" + "\n".join(names) + "\n")
        return str(path)

    def test_the_whole_fleet_names_the_broken_ones_and_only_them(self):
        path = self.targets_file(FLEET + [FLEET[1]])  # one named twice: checked once
        run = mailready("check", "--targets", path, "--from-inside", "--ca-file", CA,
                        "--format", "ndjson", "--deadline", "30", timeout=600)
        self.assertEqual(run.rc, 2, run.stderr[-2000:])
        self.assertIn("1 target(s) named more than once, checked once: fleet-0001.fleet.lab.test",
                      run.stderr)
        lines = [json.loads(line) for line in run.stdout.splitlines()]
        summaries = [j for j in lines if j["type"] == "summary"]
        self.assertEqual(sorted(j["target"] for j in summaries), sorted(FLEET))
        fleet = lines[-1]
        self.assertEqual(fleet["type"], "fleet_summary")
        self.assertEqual((fleet["targets"], fleet["checked"], fleet["interrupted"]), (1024, 1024, False))
        self.assertEqual((fleet["critical"], fleet["ok"], fleet["warning"], fleet["unknown"]),
                         (3, 1021, 0, 0))

        # Each target's results come before its summary, and only for that target.
        seen_summary = set()
        problems = {}
        infos = {}
        for j in lines[:-1]:
            if j["type"] == "summary":
                seen_summary.add(j["target"])
                continue
            self.assertNotIn(j["target"], seen_summary, "a result after its target's summary")
            for f in j["findings"]:
                bucket = infos if f["severity"] == "info" else problems
                bucket.setdefault(j["target"], set()).add(f["id"])
            if j["status"] == "error":
                problems.setdefault(j["target"], set()).add("error " + j["check"])
        self.assertEqual(set(problems), set(BROKEN), problems)
        for target, finding in BROKEN.items():
            self.assertIn(finding, problems[target])
        self.assertIn("port.closed", infos.get(CLOSED_SUBMISSION, set()))
        verdicts = {j["target"]: j["verdict"] for j in summaries}
        self.assertEqual({t for t, v in verdicts.items() if v != "ok"}, set(BROKEN))

    def test_every_format_on_a_fleet(self):
        names = FLEET[5:12]  # the broken ones among healthy ones
        path = self.targets_file(names, "small.txt")
        out = Path(self.tmp.name)
        run = mailready("check", "--targets", path, "--from-inside", "--ca-file", CA, "--timeout", "2",
                        "--report", f"json:{out / 'f.json'}", "--report", f"junit:{out / 'f.xml'}",
                        "--report", f"prometheus:{out / 'f.prom'}", "--report", f"nagios:{out / 'f.nagios'}",
                        "--report", f"text:{out / 'f.txt'}", timeout=300)
        self.assertEqual(run.rc, 2, run.stderr)

        import jsonschema  # Debian's python3-jsonschema
        document = json.loads((out / "f.json").read_text())
        fleet_schema = json.loads((ROOT / "reports/schema/fleet.schema.json").read_text())
        report_schema = json.loads((ROOT / "reports/schema/report.schema.json").read_text())
        jsonschema.Draft202012Validator(fleet_schema).validate(document)
        self.assertEqual(sorted(t["target"] for t in document["targets"]), sorted(names))
        for t in document["targets"]:
            jsonschema.Draft202012Validator(report_schema).validate(t["report"])
        self.assertEqual(document["summary"]["critical"], 3)

        subprocess.run(["xmllint", "--noout", "--schema", str(ROOT / "reports/schema/junit.xsd"),
                        str(out / "f.xml")], check=True, capture_output=True)
        xml = (out / "f.xml").read_text()
        for name in names:
            self.assertEqual(xml.count(f'<testsuite name="{name}"'), 1)

        promtool = subprocess.run(["promtool", "check", "metrics"], input=(out / "f.prom").read_text(),
                                  capture_output=True, text=True)
        self.assertNotIn("error", promtool.stdout + promtool.stderr)
        prom = (out / "f.prom").read_text()
        self.assertEqual(prom.count("# TYPE mailready_up gauge"), 1)
        for name in names:
            self.assertIn(f'mailready_up{{target="{name}"}} 1', prom)

        nagios = (out / "f.nagios").read_text().splitlines()
        self.assertTrue(nagios[0].startswith("MAILREADY CRITICAL - 7 of 7 targets: 3 critical"), nagios[0])
        self.assertIn("targets=7 checked=7 ok=4 warning=0 critical=3 unknown=0", nagios[0])
        self.assertEqual({line.split()[0] for line in nagios[1:]}, set(BROKEN))

        text = (out / "f.txt").read_text()
        for name in names:
            self.assertEqual(text.count(f"━━ {name} ━━"), 1)
        self.assertIn("4 ok, 0 warning, 3 critical, 0 unknown. Verdict: critical", text)

    def test_per_target_logins_and_pins_from_the_exporters_config(self):
        # Two vanity names on one fleet address, each with its own login; another name
        # pinned to a broken address. The file is the exporter's own format.
        secret = str(LAB_DIR / "secrets" / "alice.password")
        config = {"modules": {"default": {}}, "targets": {
            "vanity-a.fleet.lab.test": {"resolve": ["vanity-a.fleet.lab.test:127.0.12.100"],
                                        "user": "alice@lab.test", "password_file": secret},
            "vanity-b.fleet.lab.test": {"resolve": ["vanity-b.fleet.lab.test:127.0.12.100"],
                                        "user": "bob@lab.test",
                                        "password_file": str(LAB_DIR / "secrets" / "bob.password")},
            "vanity-c.fleet.lab.test": {"resolve": ["vanity-c.fleet.lab.test:127.0.12.8"]}}}
        path = Path(self.tmp.name) / "exporter.json"
        path.write_text(json.dumps(config))
        run = mailready("check", "--targets", str(path), "--from-inside", "--ca-file", CA,
                        "--only", "auth.login", "--format", "json", timeout=300)
        self.assertEqual(run.rc, 2, run.stderr)
        reports = {t["target"]: t["report"] for t in json.loads(run.stdout)["targets"]}
        for name, user in (("vanity-a.fleet.lab.test", "alice@lab.test"), ("vanity-b.fleet.lab.test", "bob@lab.test")):
            logins = [r for r in reports[name]["results"] if r["check"] == "auth.login" and r["endpoint"]]
            self.assertTrue(logins, name)
            self.assertTrue(all(r["facts"].get("accepted") for r in logins), [r["summary"] for r in logins])
            self.assertTrue(all(r["facts"].get("user") == user for r in logins if "user" in r["facts"]))
            self.assertTrue(all(r["endpoint"]["address"] == "127.0.12.100" for r in logins))
        self.assertEqual(reports["vanity-c.fleet.lab.test"]["verdict"], "critical")

    def test_ctrl_c_finishes_what_runs_and_writes_a_whole_report(self):
        # The dropping host first, so targets are still in flight when the signal comes.
        names = ["fleet-0009.fleet.lab.test"] + FLEET[100:160]
        path = self.targets_file(names, "interrupt.txt")
        out = Path(self.tmp.name) / "interrupted.json"
        proc = subprocess.Popen(["ip", "netns", "exec", NETNS, BIN, "check", "--targets", path,
                                 "--from-inside", "--ca-file", CA, "--parallel", "2", "--timeout", "3",
                                 "--format", "json", "--output", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 3, stderr)
        self.assertIn("stopping: no new targets", stderr)
        document = json.loads(out.read_text())
        summary = document["summary"]
        self.assertTrue(summary["interrupted"])
        self.assertEqual(summary["targets"], len(names))
        self.assertGreaterEqual(summary["checked"], 1)
        self.assertLess(summary["checked"], len(names))
        self.assertEqual(len(document["targets"]), summary["checked"])
        self.assertIn("fleet-0009.fleet.lab.test", [t["target"] for t in document["targets"]])

    def test_a_bad_targets_file_is_one_line_and_exit_3(self):
        path = self.targets_file(["ok.fleet.lab.test", "not a host"], "bad.txt")
        run = mailready("check", "--targets", path)
        self.assertEqual(run.rc, 3)
        self.assertEqual(run.stderr.strip(), f"mailready: targets {path}:3: one host per line, got 'not a host'")
        run = mailready("check", "--targets", path, "mail.lab.test")
        self.assertEqual(run.rc, 3)
        self.assertIn("excludes", run.stderr)


if __name__ == "__main__":
    unittest.main()
