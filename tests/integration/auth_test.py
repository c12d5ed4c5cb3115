"""Logins against the lab's real Dovecot and Postfix: every mechanism, the iPhone setting
each maps to, wrong passwords, and the safety rules (no password without TLS or to an
untrusted certificate unless asked; no secret in any output)."""
import base64
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

from labtest import LAB_DIR, lab_is_up, mailready, validate_schema

CA = str(LAB_DIR / "pki" / "root.pem")
SECRETS = LAB_DIR / "secrets"
ALICE = "alice@lab.test"


def password(user):
    return (SECRETS / f"{user}.password").read_text()


def logins(run, port):
    return {r["facts"]["mechanism"]: r for r in run.results("auth.login", port)}


class LabAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")


class GoodLogins(LabAuth):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.trace = tempfile.NamedTemporaryFile(suffix=".trace", delete=False).name
        cls.run_ = mailready("check", "mail.lab.test", "--from-inside", "--ca-file", CA,
                             "--imap-starttls", "--user", ALICE, "--password-env", "LAB_PW",
                             "--trace", cls.trace, "--format", "json",
                             env={"LAB_PW": password("alice")})

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.trace)

    def test_everything_passes(self):
        self.assertEqual(self.run_.rc, 0, self.run_.stdout[-3000:] + self.run_.stderr)
        validate_schema(self.run_.report)

    def test_mechanisms_before_and_after_tls(self):
        m143 = self.run_.one("auth.mechanisms", 143)["facts"]
        self.assertNotIn("PLAIN", m143["before_tls"])
        self.assertNotIn("IMAP-LOGIN", m143["before_tls"])
        self.assertIn("PLAIN", m143["after_tls"])
        self.assertIn("IMAP-LOGIN", m143["after_tls"])
        m993 = self.run_.one("auth.mechanisms", 993)["facts"]
        self.assertIsNone(m993["before_tls"])
        m587 = self.run_.one("auth.mechanisms", 587)["facts"]
        self.assertEqual(m587["before_tls"], [])
        self.assertIn("CRAM-MD5", m587["after_tls"])

    def test_every_offered_mechanism_logs_in(self):
        for port in (993, 143, 587, 465):
            tried = logins(self.run_, port)
            offered = self.run_.one("auth.mechanisms", port)["facts"]["after_tls"]
            with self.subTest(port=port):
                self.assertEqual(sorted(tried), sorted(offered))
                for mech, r in tried.items():
                    self.assertTrue(r["facts"]["accepted"], (port, mech, r["facts"]))
                    self.assertEqual(r["findings"], [])

    def test_iphone_settings(self):
        tried = logins(self.run_, 993)
        self.assertEqual(tried["PLAIN"]["facts"]["iphone_setting"], "Password")
        self.assertEqual(tried["IMAP-LOGIN"]["facts"]["iphone_setting"], "Password")
        self.assertEqual(tried["CRAM-MD5"]["facts"]["iphone_setting"], "MD5 Challenge-Response")

    def test_a_wrong_password_is_refused_on_imap_and_smtp(self):
        results = self.run_.results("auth.rejects-bad-password")
        self.assertEqual(sorted(r["endpoint"]["protocol"] for r in results), ["imap", "smtp"])
        for r in results:
            self.assertTrue(r["facts"]["rejected"], r)

    def test_mailbox_view_after_login(self):
        r = self.run_.one("imap.mailbox", 993)
        self.assertEqual(r["facts"]["sent"], "Sent")
        self.assertEqual(r["facts"]["drafts"], "Drafts")
        self.assertEqual(r["facts"]["trash"], "Trash")
        self.assertTrue(r["facts"]["idle"])
        self.assertIsInstance(r["facts"]["uidvalidity"], int)
        self.assertGreaterEqual(r["facts"]["messages"], 0)
        self.assertEqual(r["findings"], [])

    def test_no_secret_in_the_report_or_the_trace(self):
        secret = password("alice")
        trace = Path(self.trace).read_text()
        self.assertIn("C: ", trace)
        self.assertIn("<sasl payload>", trace)
        for text in (self.run_.stdout, self.run_.stderr, trace):
            self.assertNotIn(secret, text)
            self.assertNotIn(base64.b64encode(f"\0{ALICE}\0{secret}".encode()).decode(), text)
            self.assertNotIn(base64.b64encode(secret.encode()).decode()[:16], text)


class MechanismFindings(LabAuth):
    def test_plaintext_before_tls_is_critical(self):
        run = mailready("check", "plainauth.lab.test", "--from-inside", "--ca-file", CA,
                        "--imap-starttls", "--only", "auth.mechanisms", "--format", "json")
        self.assertEqual(run.rc, 2)
        for port in (143, 587):
            with self.subTest(port=port):
                self.assertEqual(run.finding_ids("auth.mechanisms", port), ["auth.plaintext-before-tls"])
        self.assertEqual(run.finding_ids("auth.mechanisms", 993), [])

    def test_no_iphone_mechanism(self):
        run = mailready("check", "nomech.lab.test", "--from-inside", "--ca-file", CA,
                        "--only", "auth.login", "--user", ALICE, "--password-env", "LAB_PW",
                        "--format", "json", env={"LAB_PW": password("alice")})
        self.assertEqual(run.rc, 2)
        for port in (993, 587, 465):
            with self.subTest(port=port):
                self.assertEqual(run.finding_ids("auth.mechanisms", port), ["auth.no-iphone-mechanism"])
                tried = logins(run, port)
                self.assertEqual(sorted(tried), ["SCRAM-SHA-256"])
                self.assertTrue(tried["SCRAM-SHA-256"]["facts"]["accepted"])
                self.assertIsNone(tried["SCRAM-SHA-256"]["facts"]["iphone_setting"])

    def test_a_password_that_needs_quoting(self):
        run = mailready("check", "mail.lab.test", "--from-inside", "--ca-file", CA,
                        "--only", "auth.login", "--user", "carol@lab.test", "--password-file",
                        str(SECRETS / "carol.password"), "--format", "json")
        tried = logins(run, 993)
        self.assertIn("IMAP-LOGIN", tried)
        for mech, r in tried.items():
            self.assertTrue(r["facts"]["accepted"], (mech, r["facts"]))
        self.assertEqual(tried["NTLM"]["facts"]["iphone_setting"], "NTLM")


class SingleMechanismServers(LabAuth):
    """Servers that offer one mechanism only: the phone must be set to exactly that one."""

    def check_only(self, host, mechanism, setting):
        run = mailready("check", host, "--from-inside", "--ca-file", CA, "--only", "auth.login",
                        "--user", ALICE, "--password-env", "LAB_PW", "--format", "json",
                        env={"LAB_PW": password("alice")})
        self.assertEqual(run.rc, 0, run.stdout[-2000:])
        for port in (993, 587, 465):
            with self.subTest(host=host, port=port):
                self.assertEqual(run.one("auth.mechanisms", port)["facts"]["after_tls"], [mechanism])
                tried = logins(run, port)
                self.assertEqual(sorted(tried), [mechanism])
                self.assertTrue(tried[mechanism]["facts"]["accepted"])
                self.assertEqual(tried[mechanism]["facts"]["iphone_setting"], setting)

    def test_only_cram_md5(self):
        self.check_only("cramonly.lab.test", "CRAM-MD5", "MD5 Challenge-Response")

    def test_only_ntlm(self):
        self.check_only("ntlmonly.lab.test", "NTLM", "NTLM")


class NoSecretInAnyOutput(LabAuth):
    def test_every_format_and_the_trace_are_free_of_the_password(self):
        secret = password("alice")
        forms = {secret, base64.b64encode(secret.encode()).decode(),
                 base64.b64encode(f"\0{ALICE}\0{secret}".encode()).decode(),
                 base64.b64encode(f"{ALICE}\0{ALICE}\0{secret}".encode()).decode()}
        with tempfile.TemporaryDirectory() as d:
            formats = ("json", "ndjson", "junit", "nagios", "prometheus")
            run = mailready("check", "mail.lab.test", "--from-inside", "--ca-file", CA,
                            "--imap-starttls", "--user", ALICE, "--password-env", "LAB_PW",
                            "--trace", f"{d}/trace", "--send-test-message",
                            *[x for f in formats for x in ("--report", f"{f}:{d}/out.{f}")],
                            env={"LAB_PW": secret})
            outputs = {"stdout": run.stdout, "stderr": run.stderr}
            for name in os.listdir(d):
                outputs[name] = Path(d, name).read_text()
            self.assertEqual(len(outputs), 2 + len(formats) + 1)
            self.assertIn("auth.login", outputs["out.json"])
            # One sample per login mechanism: no two samples share a label set.
            samples = [l.split(" ")[0] for l in outputs["out.prometheus"].splitlines()
                       if l and not l.startswith("#")]
            self.assertEqual(len(samples), len(set(samples)))
            self.assertIn('mechanism="SCRAM-SHA-256"', outputs["out.prometheus"])
            promtool = subprocess.run(["promtool", "check", "metrics"],
                                      input=outputs["out.prometheus"], capture_output=True, text=True)
            self.assertEqual(promtool.returncode, 0, promtool.stdout + promtool.stderr)
            for name, text in outputs.items():
                for form in forms:
                    self.assertNotIn(form, text, f"{name} holds the password or a base64 form of it")


class WithoutCredentials(LabAuth):
    def test_mechanisms_are_reported_and_logins_skipped(self):
        run = mailready("check", "mail.lab.test", "--from-inside", "--ca-file", CA,
                        "--only", "auth.login", "--format", "json")
        self.assertEqual(run.rc, 0)
        self.assertIn("PLAIN", run.one("auth.mechanisms", 993)["facts"]["after_tls"])
        for r in run.results("auth.login"):
            self.assertEqual(r["status"], "skip")
            self.assertIn("--user", r["error"])


class WrongPassword(LabAuth):
    def test_every_login_fails_critically(self):
        run = mailready("check", "mail.lab.test", "--from-inside", "--ca-file", CA,
                        "--only", "auth.login", "--user", ALICE, "--password-stdin",
                        "--format", "json", stdin=password("bob") + "\n")
        self.assertEqual(run.rc, 2)
        for port in (993, 587, 465):
            for mech, r in logins(run, port).items():
                self.assertFalse(r["facts"]["accepted"], (port, mech))
                self.assertEqual([(f["id"], f["severity"]) for f in r["findings"]],
                                 [("auth.failed", "critical")])
        imap = logins(run, 993)["PLAIN"]
        self.assertIn("AUTHENTICATIONFAILED", imap["facts"]["reply"])
        smtp = logins(run, 587)["PLAIN"]
        self.assertTrue(smtp["facts"]["reply"].startswith("535"), smtp["facts"]["reply"])


class SafetyRules(LabAuth):
    def test_no_password_to_an_untrusted_certificate_without_insecure(self):
        args = ("check", "selfsigned.lab.test", "--from-inside", "--ca-file", CA, "--only",
                "auth.login", "--user", ALICE, "--password-env", "LAB_PW", "--format", "json")
        env = {"LAB_PW": password("alice")}
        run = mailready(*args, env=env)
        skipped = run.results("auth.login", 993)
        self.assertTrue(skipped and all(r["status"] == "skip" for r in skipped))
        self.assertIn("--insecure", skipped[0]["error"])
        insecure = mailready(*args, "--insecure", env=env)
        self.assertTrue(logins(insecure, 993)["PLAIN"]["facts"]["accepted"])
        self.assertIn("cert.self-signed", insecure.finding_ids("cert.chain", 993))

    def test_no_password_without_tls_unless_allowed(self):
        args = ("check", "nostarttls.lab.test", "--from-inside", "--ca-file", CA, "--only",
                "auth.login", "--user", ALICE, "--password-env", "LAB_PW", "--format", "json")
        env = {"LAB_PW": password("alice")}
        run = mailready(*args, env=env)
        self.assertIn("auth.plaintext-before-tls", run.finding_ids("auth.mechanisms", 587))
        skipped = run.results("auth.login", 587)
        self.assertTrue(skipped and all(r["status"] == "skip" for r in skipped))
        self.assertIn("--allow-plaintext-auth", skipped[0]["error"])
        allowed = mailready(*args, "--allow-plaintext-auth", env=env)
        tried = logins(allowed, 587)
        self.assertTrue(tried["PLAIN"]["facts"]["accepted"])
        self.assertFalse(tried["PLAIN"]["facts"]["over_tls"])


class ConnectionLimits(LabAuth):
    """limited.lab.test allows each client one session at a time (Postfix anvil: a second
    connection gets 421 4.7.0 ... too many connections; Dovecot: a second logged-in session
    gets NO [LIMIT]). mailready's default --per-host is 10 and it logs in with every
    mechanism at once: it must wait for its turn, not report the logins as failures."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.run_ = mailready("check", "limited.lab.test", "--from-inside", "--ca-file", CA,
                             "--imap-starttls", "--user", ALICE, "--password-env", "LAB_PW",
                             "--format", "json", env={"LAB_PW": password("alice")})

    def test_every_login_is_the_true_result(self):
        self.assertEqual(self.run_.rc, 0, self.run_.stdout[-3000:] + self.run_.stderr)
        validate_schema(self.run_.report)
        for port in (993, 143, 587, 465):
            tried = logins(self.run_, port)
            self.assertGreaterEqual(len(tried), 6, port)
            refused = [m for m, r in tried.items() if not r["facts"]["accepted"]]
            self.assertEqual(refused, [], (port, [tried[m] for m in refused]))
        errors = [(r["check"], r.get("error")) for r in self.run_.report["results"]
                  if r["status"] == "error"]
        self.assertEqual(errors, [])

    def test_the_limit_is_reported_as_info_with_the_server_words(self):
        seen = [f for r in self.run_.report["results"] for f in r["findings"]
                if f["id"] == "rate-limited"]
        self.assertTrue(seen, "the server refused nothing? then the test proves nothing")
        for f in seen:
            self.assertEqual(f["severity"], "info")
            self.assertGreaterEqual(f["evidence"]["open_sessions"], 1)
            self.assertRegex(f["evidence"]["reply"], r"too many connections|\[LIMIT\]")


if __name__ == "__main__":
    unittest.main()
