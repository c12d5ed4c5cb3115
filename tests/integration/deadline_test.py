"""Issue 13: the run's deadline holds against slow and hostile servers, and what they do
after STARTTLS or in a flood is reported (scripted fake servers in the lab's namespace,
each class on an address of its own, 127.0.10.60 and up)."""
import unittest

from hostile_test import FakeServers
from labtest import LAB_DIR, lab_is_up, mailready, validate_schema

HOST = "hostile.lab.test"  # pinned with --resolve
CERT = f"{LAB_DIR / 'pki' / 'chain.pem'} {LAB_DIR / 'pki' / 'leaf.key'}"


def slow_smtp(delay, replies=60):
    """An SMTP server that answers every line `delay` seconds late, for a long while."""
    lines = [f"sleep {delay}", "send 220 slow.test ESMTP\\r\\n"]
    for _ in range(replies):
        lines += ["recv", f"sleep {delay}", "send 250 2.0.0 Ok\\r\\n"]
    return "\n".join(lines + ["hold", ""])


def check(address, *args):
    return mailready("check", HOST, "--resolve", f"{HOST}:{address}", "--from-inside", *args,
                     "--format", "json")


class Case(unittest.TestCase):
    ADDRESS = None
    SERVERS = ()  # (port, mode, tls, script)
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")
        cls.fakes = FakeServers(cls.ADDRESS)
        try:
            for port, mode, tls, script in cls.SERVERS:
                cls.fakes.start(port, mode, tls=tls, script=script)
            cls.run_ = check(cls.ADDRESS, *cls.ARGS)
        except BaseException:
            cls.fakes.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.fakes.stop()


class SlowServerDeadline(Case):
    """Every line 2.5 s late, each wait inside --timeout 3: --deadline 8 still ends it."""
    ADDRESS = "127.0.10.60"
    SERVERS = [(587, None, False, slow_smtp(2.5)), (25, None, False, slow_smtp(2.5))]
    ARGS = ("--timeout", "3", "--deadline", "8")

    def test_the_run_ends_within_the_deadline_plus_one_second(self):
        self.assertLess(self.run_.seconds, 9, self.run_.stderr)

    def test_the_report_is_complete(self):
        validate_schema(self.run_.report)
        self.assertTrue(self.run_.results("smtp.greeting", 587))
        self.assertTrue(self.run_.results("smtp.greeting", 25))


class StartTlsInjection(Case):
    """Bytes after the 220 to STARTTLS are reported; a server that closes right after the
    handshake is not 'offers no login mechanism'."""
    ADDRESS = "127.0.10.61"
    SERVERS = [
        (587, None, False, "\n".join([
            "send 220 inject.test ESMTP\\r\\n", "recv",
            "send 250-inject.test\\r\\n250-STARTTLS\\r\\n250 AUTH PLAIN\\r\\n", "recv",
            "send 220 2.0.0 Ready\\r\\n250-evil.test\\r\\n250 AUTH PLAIN\\r\\n",
            f"starttls {CERT}", "recv", "send 250-inject.test\\r\\n250 AUTH PLAIN LOGIN\\r\\n",
            "hold", ""])),
        (143, None, False, "\n".join([
            "send * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\\r\\n", "recv",
            "send m1 OK Begin TLS\\r\\n", f"starttls {CERT}", "close", ""])),
    ]
    ARGS = ("--imap-starttls", "--timeout", "2")

    def test_injected_bytes_are_a_critical_finding(self):
        r = self.run_.one("smtp.greeting", 587)
        self.assertIn("tls.starttls-injection", [f["id"] for f in r["findings"]])
        f = next(f for f in r["findings"] if f["id"] == "tls.starttls-injection")
        self.assertEqual(f["severity"], "critical")
        self.assertEqual(self.run_.rc, 2)

    def test_the_session_after_injection_is_still_judged(self):
        r = self.run_.one("auth.mechanisms", 587)
        self.assertEqual(r["facts"]["after_tls"], ["PLAIN", "LOGIN"])

    def test_close_after_starttls_is_reported_as_such(self):
        r = self.run_.one("imap.greeting", 143)
        self.assertIn("protocol.closed-after-starttls", [f["id"] for f in r["findings"]])
        self.assertNotIn("auth.no-iphone-mechanism", self.run_.finding_ids("auth.mechanisms", 143))
        self.assertEqual(self.run_.one("auth.mechanisms", 143)["status"], "error")


def ehlo_flood():
    lines = ["send 220 flood.test ESMTP\\r\\n", "recv", "send 250-flood.test\\r\\n"]
    n = 0
    for _ in range(254):  # with the first and the last line: 256, today's limit per reply
        names = []
        size = 4
        while size < 8180:
            names.append(f"M{n}")
            size += len(names[-1]) + 1
            n += 1
        lines.append("send 250-AUTH " + " ".join(names) + "\\r\\n")
    lines += ["send 250 8BITMIME\\r\\n", "hold", ""]
    return "\n".join(lines)


class EhloFlood(Case):
    """A 256-line reply of 8 KiB lines of distinct AUTH names: parsed in linear time, capped, reported."""
    ADDRESS = "127.0.10.62"
    SERVERS = [(25, None, False, ehlo_flood()),
               (143, None, False, "send * OK [CAPABILITY IMAP4rev1 " +
                " ".join(f"X{i}" for i in range(1000)) + "] hi\\r\\nhold\n")]
    ARGS = ("--imap-starttls", "--timeout", "2", "--only", "smtp.greeting,imap.greeting")

    def test_the_flood_is_parsed_fast(self):
        self.assertLess(self.run_.seconds, 5)

    def test_the_flood_is_a_finding(self):
        self.assertIn("protocol.limit-exceeded", self.run_.finding_ids("smtp.greeting", 25))
        r = self.run_.one("smtp.greeting", 25)
        self.assertEqual(len(r["facts"]["ehlo"]["auth"]), 64)
        self.assertIn("protocol.limit-exceeded", self.run_.finding_ids("imap.greeting", 143))
        self.assertEqual(len(self.run_.one("imap.greeting", 143)["facts"]["capabilities"]), 256)


def envelopes(*rcpt_replies):
    """An SMTP server without AUTH that answers each envelope's RCPT TO in turn."""
    lines = ["send 220 local.test ESMTP\\r\\n", "recv", "send 250 local.test\\r\\n"]
    for reply in rcpt_replies:
        lines += ["recv", "send 250 2.1.0 Ok\\r\\n", "recv", f"send {reply}\\r\\n",
                  "recv", "send 250 2.0.0 Ok\\r\\n"]
    return "\n".join(lines + ["hold", ""])


RELAY_DENIED = "554 5.7.1 <postmaster@x>: Relay access denied"


class AuthRequiredRecipients(Case):
    """smtp.auth-required looks for a local recipient: the host name itself, then its
    parent; a relay denial is no proof that AUTH is required."""
    ADDRESS = "127.0.10.63"
    SERVERS = [(587, None, False, envelopes(RELAY_DENIED, "250 2.1.5 Ok"))]
    ARGS = ("--timeout", "2", "--only", "smtp.auth-required")

    def test_a_relay_denial_moves_on_to_the_parent_domain(self):
        r = self.run_.one("smtp.auth-required", 587)
        self.assertEqual(r["facts"]["recipients_tried"],
                         [f"postmaster@{HOST}", "postmaster@lab.test"])
        self.assertEqual(r["facts"]["recipient"], "postmaster@lab.test")
        self.assertEqual([f["id"] for f in r["findings"]], ["smtp.auth-not-required"])



class AuthRequiredRelayOnly(Case):
    """Every candidate refused as relaying: not a pass (it proved nothing)."""
    ADDRESS = "127.0.10.64"
    SERVERS = [(587, None, False, envelopes(RELAY_DENIED, RELAY_DENIED))]
    ARGS = ("--timeout", "2", "--only", "smtp.auth-required")

    def test_relay_denials_are_no_proof(self):
        r = self.run_.one("smtp.auth-required", 587)
        self.assertEqual(r["status"], "error")
        self.assertIsNone(r["facts"]["auth_required"])
        self.assertIn("no local recipient", r["error"])


if __name__ == "__main__":
    unittest.main()
