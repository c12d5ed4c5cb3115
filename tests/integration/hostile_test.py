"""Hostile and broken servers real Dovecot and Postfix won't imitate: scripted fake servers
(fake_server.py) inside the lab's namespace, on an address of their own."""
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from labtest import LAB_DIR, NETNS, lab_is_up, mailready, validate_schema

HERE = Path(__file__).resolve().parent
ADDRESS = "127.0.10.40"
HOST = "hostile.lab.test"  # pinned with --resolve: in no hosts file


class FakeServers:
    """Starts one fake server per (port, mode, tls) and stops them all."""

    def __init__(self, address=ADDRESS):
        self.address = address
        self.procs = []
        self.dir = tempfile.TemporaryDirectory()

    def start(self, port, mode, tls=False, script=None):
        args = ["ip", "netns", "exec", NETNS, "/usr/bin/python3", str(HERE / "fake_server.py"),
                "--listen", f"{self.address}:{port}"]
        if tls:
            args += ["--tls", str(LAB_DIR / "pki" / "chain.pem"), str(LAB_DIR / "pki" / "leaf.key")]
        if script is not None:
            path = Path(self.dir.name) / f"{port}.script"
            path.write_text(script)
            mode = str(path)
        args += ["--script", mode]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"fake server on {port} did not start: {line!r}")
        self.procs.append(proc)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=10)
        self.dir.cleanup()


class HostileServers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")
        cls.fakes = FakeServers()
        try:
            cls.fakes.start(993, "http", tls=True)   # TLS fine, then not IMAP at all
            cls.fakes.start(143, None, script="send * BYE Too many connections from your IP\\r\\n\nclose\n")
            cls.fakes.start(587, "smtp421")           # rate limiting
            cls.fakes.start(465, "silent", tls=True)  # TLS fine, then never a word
            cls.fakes.start(25, "garbage")            # endless bytes without a line end
            cls.run_ = mailready("check", HOST, "--resolve", f"{HOST}:{ADDRESS}", "--from-inside",
                                 "--imap-starttls", "--timeout", "1", "--format", "json")
        except BaseException:
            cls.fakes.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fakes.stop()

    def test_report_is_complete_and_valid(self):
        validate_schema(self.run_.report)
        self.assertEqual(self.run_.rc, 2, self.run_.stderr)
        self.assertEqual(self.run_.report["verdict"], "critical")
        self.assertEqual(self.run_.stderr, "")

    def test_a_web_server_on_993_is_an_unexpected_greeting(self):
        r = self.run_.one("imap.greeting", 993)
        self.assertEqual([f["id"] for f in r["findings"]], ["protocol.unexpected-greeting"])
        self.assertEqual(r["findings"][0]["severity"], "critical")
        self.assertEqual(r["facts"]["banner"], "HTTP/1.0 400 Bad Request")
        self.assertEqual(r["facts"]["tls"]["handshake"], "ok")

    def test_bye_with_too_many_connections_is_rate_limiting(self):
        r = self.run_.one("imap.greeting", 143)
        self.assertEqual([f["id"] for f in r["findings"]], ["rate-limited"])

    def test_421_is_rate_limiting_not_a_cascade(self):
        r = self.run_.one("smtp.greeting", 587)
        self.assertEqual([f["id"] for f in r["findings"]], ["rate-limited"])
        self.assertEqual(r["findings"][0]["evidence"]["code"], 421)
        self.assertEqual(r["findings"][0]["evidence"]["enhanced"], "4.7.0")

    def test_a_silent_server_is_no_greeting_within_the_timeout(self):
        r = self.run_.one("smtp.greeting", 465)
        self.assertEqual([f["id"] for f in r["findings"]], ["protocol.no-greeting"])
        self.assertLess(r["duration_ms"], 3000)

    def test_endless_bytes_without_a_line_end_are_bounded(self):
        r = self.run_.one("smtp.greeting", 25)
        self.assertEqual([f["id"] for f in r["findings"]], ["protocol.unexpected-greeting"])
        self.assertIn("without a line end", r["findings"][0]["message"])

    def test_no_port_works_for_submission(self):
        r = self.run_.one("submission.fallback")
        self.assertIsNone(r["facts"]["port"])
        self.assertEqual([f["id"] for f in r["findings"]], ["submission.unreachable"])

    def test_the_run_is_bounded_by_the_timeouts(self):
        # Five broken servers, a 1 s timeout: the waits overlap, the run stays short.
        self.assertLess(self.run_.seconds, 5)


# An SMTP server that takes any envelope: 250 to everything (it never gets DATA). Like a
# real server it takes more than one envelope per connection (MAIL, RCPT, RSET, twice):
# mailready's probes share an endpoint's session.
TRANSACTION = ["recv", "send 250 2.1.0 Ok\\r\\n", "recv", "send 250 2.1.5 Ok\\r\\n",
               "recv", "send 250 2.0.0 Ok\\r\\n"]
PERMISSIVE = "\n".join([
    "send 220 permissive.test ESMTP\\r\\n", "recv", "send 250 permissive.test\\r\\n",
    *TRANSACTION, *TRANSACTION, "recv", "send 221 2.0.0 Bye\\r\\n", "close", ""])


class PermissiveSmtp(unittest.TestCase):
    """Open relay and submission without AUTH: the checks must fail loudly."""

    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")
        cls.fakes = FakeServers("127.0.10.41")
        try:
            for port in (587, 25):
                cls.fakes.start(port, None, script=PERMISSIVE)
            host = "relay.lab.test"
            cls.run_ = mailready("check", host, "--resolve", f"{host}:127.0.10.41", "--from-inside",
                                 "--only", "smtp.open-relay,smtp.auth-required", "--timeout", "1",
                                 "--format", "json")
        except BaseException:
            cls.fakes.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fakes.stop()

    def test_open_relay_is_critical_on_every_port(self):
        self.assertEqual(self.run_.rc, 2)
        for port in (587, 25):
            self.assertEqual(self.run_.finding_ids("smtp.open-relay", port), ["smtp.open-relay"])
        self.assertTrue(self.run_.one("smtp.open-relay", 25)["facts"]["relays"])

    def test_submission_without_auth_is_critical(self):
        self.assertEqual(self.run_.finding_ids("smtp.auth-required", 587), ["smtp.auth-not-required"])
        self.assertEqual(self.run_.results("smtp.auth-required", 25), [])


if __name__ == "__main__":
    unittest.main()
