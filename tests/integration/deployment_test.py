"""The reference deployment of Apple's guide (ci/deployment.sh): phone → firewall →
gateway in the DMZ (Dovecot proxy, Postfix) → directory (OpenLDAP) and mail server inside.
A healthy run passes with a real round trip; each broken hop is named by facts.hop and its
finding, and by the report's diagnosis."""
import os
import subprocess
import unittest
from pathlib import Path

from labtest import BIN, ROOT

DEPLOYMENT = ROOT / "ci" / "deployment.sh"
STATE = Path(os.environ.get("MAILREADY_DEPLOYMENT_DIR", "/tmp/mailready-deployment"))
CA = str(STATE / "pki" / "root.pem")


def deployment(*args, check=True):
    return subprocess.run([str(DEPLOYMENT), *args], capture_output=True, text=True, check=check,
                          timeout=120)


def mailready(*extra):
    import json
    cmd = [str(DEPLOYMENT), "exec", BIN, "check", "mail.corp.test", "--ca-file", CA,
           "--user", "alice@corp.test", "--password-file", str(STATE / "secrets" / "alice.password"),
           "--relay-test-domain", "elsewhere.test", "--format", "json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, start_new_session=True)
    return proc.returncode, json.loads(proc.stdout)


def probes_left():
    found = []
    for root, _dirs, files in os.walk(STATE / "mail"):
        for name in files:
            path = os.path.join(root, name)
            if os.path.basename(root) in ("new", "cur"):
                with open(path, "rb") as f:
                    if b"X-Mailready-Probe:" in f.read():
                        found.append(path)
    return found


def hops(report, check, port=None):
    return [r["facts"].get("hop") for r in report["results"]
            if r["check"] == check and (port is None or (r["endpoint"] or {}).get("port") == port)]


def finding_ids(report, check, port=None):
    return sorted({f["id"] for r in report["results"]
                   if r["check"] == check and (port is None or (r["endpoint"] or {}).get("port") == port)
                   for f in r["findings"]})


class Deployment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if deployment("status", check=False).returncode != 0:
            raise AssertionError("the deployment is not running: start it with ci/deployment.sh start")
        deployment("heal")

    def tearDown(self):
        deployment("heal")

    def test_healthy_deployment_with_a_round_trip(self):
        rc, report = mailready("--send-test-message")
        self.assertEqual(rc, 0, [r for r in report["results"] if r["status"] not in ("pass", "skip")])
        self.assertIsNone(report["diagnosis"])
        rt = [r for r in report["results"] if r["check"] == "roundtrip.delivery"][0]
        self.assertEqual(rt["status"], "pass")
        self.assertIsInstance(rt["facts"]["submit_ms"], int)
        self.assertIsInstance(rt["facts"]["delivery_ms"], int)
        self.assertEqual(rt["facts"]["sent_copy"], "appended")
        self.assertEqual(probes_left(), [])
        box = [r for r in report["results"] if r["check"] == "imap.mailbox"][0]
        self.assertEqual(box["facts"]["sent"], "Sent")

    def test_directory_down(self):
        deployment("break", "directory-down")
        rc, report = mailready("--only", "auth.login")
        self.assertEqual(rc, 2)
        self.assertEqual(finding_ids(report, "auth.login", 993), ["auth.failed"])
        self.assertEqual(set(hops(report, "auth.login", 993)), {"directory"})
        self.assertEqual(report["diagnosis"]["hop"], "directory")

    def test_mail_server_down_behind_a_healthy_gateway(self):
        deployment("break", "backend-down")
        rc, report = mailready("--only", "auth.login")
        self.assertEqual(rc, 2)
        self.assertEqual(set(hops(report, "auth.login", 993)), {"mail-server"})
        replies = {r["facts"]["reply"] for r in report["results"]
                   if r["check"] == "auth.login" and (r["endpoint"] or {}).get("port") == 993}
        self.assertTrue(all("UNAVAILABLE" in x for x in replies), replies)
        self.assertEqual(report["diagnosis"]["hop"], "mail-server")

    def test_inner_firewall_drops_imap(self):
        deployment("break", "dmz-drops-imap")
        rc, report = mailready("--only", "auth.login", "--timeout", "2")
        # A login that times out after a good greeting and TLS is the endpoint failing
        # (issue 13: it was an error, so the verdict was UNKNOWN, exit 3, "0 critical").
        self.assertEqual(rc, 2)
        failed = [r for r in report["results"] if r["check"] == "auth.login" and r["status"] == "fail"]
        self.assertTrue(failed)
        self.assertTrue(all(f["id"] == "auth.no-answer" for r in failed for f in r["findings"]))
        self.assertEqual({r["facts"].get("hop") for r in failed}, {"firewall"})
        self.assertEqual(report["diagnosis"]["hop"], "firewall")
        # The outer firewall is fine: the port is open and TLS works.
        ports = [r for r in report["results"] if r["check"] == "ports.reachability"]
        self.assertTrue(all(r["facts"]["state"] == "open" for r in ports))

    def test_mta_accepts_but_never_delivers(self):
        deployment("break", "mta-no-delivery")
        rc, report = mailready("--send-test-message", "--delivery-timeout", "6",
                               "--only", "roundtrip.delivery")
        self.assertEqual(rc, 2)
        self.assertEqual(finding_ids(report, "roundtrip.delivery"), ["roundtrip.not-delivered"])
        self.assertEqual(hops(report, "roundtrip.delivery"), ["mta"])
        self.assertEqual(report["diagnosis"]["hop"], "mta")

    def test_open_relay_on_25(self):
        deployment("break", "open-relay-25")
        rc, report = mailready("--only", "smtp.open-relay")
        self.assertEqual(rc, 2)
        self.assertEqual(finding_ids(report, "smtp.open-relay", 25), ["smtp.open-relay"])
        self.assertEqual(hops(report, "smtp.open-relay", 25), ["mta"])

    def test_submission_without_auth(self):
        deployment("break", "submission-no-auth")
        rc, report = mailready("--only", "smtp.auth-required")
        self.assertEqual(rc, 2)
        self.assertEqual(finding_ids(report, "smtp.auth-required", 587), ["smtp.auth-not-required"])
        self.assertEqual(hops(report, "smtp.auth-required", 587), ["mta"])
        self.assertEqual(report["diagnosis"]["hop"], "mta")


if __name__ == "__main__":
    unittest.main()
