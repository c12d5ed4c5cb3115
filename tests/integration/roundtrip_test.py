"""The round trip through the lab's real Postfix and Dovecot: a probe submitted on the
phone's port arrives, a copy lands in Sent, and nothing is left behind afterwards."""
import os
import subprocess
import time
import unittest

from labtest import LAB_DIR, NETNS, lab_is_up, mailready, validate_schema

CA = str(LAB_DIR / "pki" / "root.pem")
MAILDIR = LAB_DIR / "mail" / "lab.test" / "alice" / "Maildir"


def probes_in_maildir():
    """Files in alice's Maildir (every mailbox) that carry the probe header."""
    found = []
    for root, _dirs, files in os.walk(MAILDIR):
        if os.path.basename(root) not in ("new", "cur"):
            continue
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                if b"X-Mailready-Probe:" in f.read():
                    found.append(os.path.join(root, name))
    return found


def run_roundtrip(*extra):
    return mailready("check", "mail.lab.test", "--from-inside", "--ca-file", CA,
                     "--user", "alice@lab.test", "--password-file",
                     str(LAB_DIR / "secrets" / "alice.password"), "--format", "json", *extra)


class Roundtrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")

    def test_without_the_flag_no_mail_is_sent(self):
        run = run_roundtrip("--only", "roundtrip.delivery")
        r = run.one("roundtrip.delivery")
        self.assertEqual(r["status"], "skip")
        self.assertIn("--send-test-message", r["error"])

    def test_probe_arrives_is_copied_to_sent_and_is_cleaned_up(self):
        # A probe an interrupted earlier run left behind, delivered the ordinary way.
        leftover = ("From: <alice@lab.test>\r\nTo: <alice@lab.test>\r\nSubject: old probe\r\n"
                    "X-Mailready-Probe: mailready-probe-interrupted\r\n\r\nleft behind\r\n")
        subprocess.run(["ip", "netns", "exec", NETNS, "/usr/sbin/sendmail", "-C",
                        str(LAB_DIR / "postfix"), "-f", "alice@lab.test", "alice@lab.test"],
                       input=leftover.encode(), check=True, timeout=30)
        for _ in range(100):  # Postfix delivers asynchronously
            if probes_in_maildir():
                break
            time.sleep(0.1)
        self.assertTrue(probes_in_maildir(), "the planted leftover probe was not delivered")
        run = run_roundtrip("--send-test-message", "--only", "roundtrip.delivery")
        self.assertEqual(run.rc, 0, run.stdout[-2000:] + run.stderr)
        validate_schema(run.report)
        r = run.one("roundtrip.delivery")
        self.assertEqual(r["status"], "pass")
        self.assertEqual(r["facts"]["port"], 587)
        self.assertIsInstance(r["facts"]["submit_ms"], int)
        self.assertIsInstance(r["facts"]["delivery_ms"], int)
        self.assertEqual(r["facts"]["sent_copy"], "appended")
        self.assertGreaterEqual(r["facts"]["leftovers_removed"], 1)
        self.assertEqual(r["facts"]["probes_removed"], 2)  # INBOX and Sent
        self.assertEqual(probes_in_maildir(), [])

    def test_a_slow_threshold_below_the_delivery_time_warns(self):
        run = run_roundtrip("--send-test-message", "--only", "roundtrip.delivery",
                            "--slow-delivery", "0.1")
        r = run.one("roundtrip.delivery")
        if r["facts"]["delivery_ms"] > 100:
            self.assertEqual(run.rc, 1)
            self.assertEqual([f["id"] for f in r["findings"]], ["roundtrip.slow"])
        self.assertEqual(probes_in_maildir(), [])


if __name__ == "__main__":
    unittest.main()
