"""mailready against the lab's real Dovecot and Postfix (ci/lab.sh), inside its namespace."""
import unittest

from labtest import LAB_DIR, lab_is_up, mailready, validate_schema

CA = str(LAB_DIR / "pki" / "root.pem")


class LabTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")


class GoodHost(LabTestCase):
    """mail.lab.test: everything open, a working submission on 587."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.run_ = mailready("check", "mail.lab.test", "--from-inside", "--imap-starttls",
                             "--ca-file", CA, "--format", "json")

    def test_exit_code_and_verdict_are_ok(self):
        self.assertEqual(self.run_.rc, 0, self.run_.stdout + self.run_.stderr)
        self.assertEqual(self.run_.report["verdict"], "ok")
        self.assertEqual(self.run_.report["exit_code"], 0)

    def test_report_matches_the_schema(self):
        validate_schema(self.run_.report)

    def test_dns_resolves_to_the_lab_address(self):
        dns = self.run_.one("dns.resolve")
        self.assertEqual(dns["facts"]["a"], ["127.0.10.10"])
        self.assertEqual(dns["findings"], [])

    def test_every_port_is_open(self):
        for port in (993, 143, 587, 465, 25):
            r = self.run_.one("ports.reachability", port)
            self.assertEqual(r["facts"]["state"], "open", port)
            self.assertGreaterEqual(r["facts"]["connect_ms"], 0)
            self.assertEqual(r["endpoint"]["address"], "127.0.10.10")

    def test_imap_greets_after_tls_on_993(self):
        r = self.run_.one("imap.greeting", 993)
        self.assertTrue(r["facts"]["banner"].startswith("* OK"), r["facts"]["banner"])
        self.assertEqual(r["facts"]["tls"]["handshake"], "ok")
        self.assertIn(r["facts"]["tls"]["protocol"], ("TLSv1.2", "TLSv1.3"))
        self.assertIn("IMAP4REV1", r["facts"]["capabilities"])

    def test_imap_143_upgrades_with_starttls_and_hides_login_before_it(self):
        r = self.run_.one("imap.greeting", 143)
        self.assertTrue(r["facts"]["starttls"])
        self.assertIn("LOGINDISABLED", r["facts"]["capabilities"])
        self.assertEqual(r["facts"]["tls"]["handshake"], "ok")
        self.assertNotIn("LOGINDISABLED", r["facts"]["capabilities_after_tls"])

    def test_smtp_greets_on_every_submission_port(self):
        for port in (587, 465, 25):
            r = self.run_.one("smtp.greeting", port)
            self.assertTrue(r["facts"]["banner"].startswith("220 "), r["facts"]["banner"])
            self.assertTrue(r["facts"]["greeting_ok"])
            self.assertEqual(r["facts"]["tls"]["handshake"], "ok", port)

    def test_587_offers_auth_only_after_starttls(self):
        r = self.run_.one("smtp.greeting", 587)
        self.assertTrue(r["facts"]["starttls"])
        self.assertEqual(r["facts"]["ehlo"]["auth"], [])
        self.assertIn("PLAIN", r["facts"]["ehlo_after_tls"]["auth"])

    def test_fallback_lands_on_587_without_findings(self):
        r = self.run_.one("submission.fallback")
        self.assertEqual(r["facts"]["port"], 587)
        self.assertEqual(r["status"], "pass")
        self.assertEqual(r["findings"], [])


    def test_no_relay_and_submission_needs_auth(self):
        for port in (587, 465, 25):
            self.assertFalse(self.run_.one("smtp.open-relay", port)["facts"]["relays"], port)
        for port in (587, 465):
            r = self.run_.one("smtp.auth-required", port)
            self.assertTrue(r["facts"]["auth_required"], port)
            self.assertTrue(r["facts"]["reply"].startswith("5"), r["facts"]["reply"])


class GoodHostFromOutside(LabTestCase):
    def test_internal_addresses_are_a_warning_without_from_inside(self):
        run = mailready("check", "mail.lab.test", "--only", "dns.resolve", "--format", "json")
        self.assertEqual(run.rc, 1)
        self.assertEqual(run.finding_ids(), ["dns.private-address"])


class FirewalledHost(LabTestCase):
    """fw.lab.test: 587 rejected (closed), 465 dropped (filtered), 25 open."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.run_ = mailready("check", "fw.lab.test", "--from-inside", "--timeout", "2",
                             "--ca-file", CA, "--format", "json")

    def test_exit_code_is_warning(self):
        self.assertEqual(self.run_.rc, 1, self.run_.stdout + self.run_.stderr)
        self.assertEqual(self.run_.report["verdict"], "warning")
        validate_schema(self.run_.report)

    def test_port_states(self):
        states = {p: self.run_.one("ports.reachability", p)["facts"]["state"] for p in (993, 587, 465, 25)}
        self.assertEqual(states, {993: "open", 587: "closed", 465: "filtered", 25: "open"})

    def test_filtered_port_waited_for_the_timeout(self):
        r = self.run_.one("ports.reachability", 465)
        self.assertGreaterEqual(r["facts"]["connect_ms"], 1900)
        self.assertEqual(self.run_.finding_ids("ports.reachability", 465), ["port.filtered"])
        self.assertEqual(self.run_.finding_ids("ports.reachability", 587), ["port.closed"])

    def test_diagnosis_names_the_firewall(self):
        self.assertEqual(self.run_.report["diagnosis"]["hop"], "firewall")
        self.assertEqual(self.run_.one("submission.fallback")["facts"]["hop"], "firewall")

    def test_fallback_lands_on_25_with_a_warning(self):
        r = self.run_.one("submission.fallback")
        self.assertEqual(r["facts"]["port"], 25)
        self.assertEqual([f["id"] for f in r["findings"]], ["submission.fallback-25"])
        self.assertEqual(r["findings"][0]["severity"], "warning")
        attempts = {a["port"]: a["state"] for a in r["facts"]["attempts"]}
        self.assertEqual(attempts, {587: "closed", 465: "filtered", 25: "open"})

    def test_only_the_reachable_smtp_port_is_greeted(self):
        self.assertEqual([r["endpoint"]["port"] for r in self.run_.results("smtp.greeting")], [25])

    def test_text_report_names_the_fallback(self):
        run = mailready("check", "fw.lab.test", "--from-inside", "--timeout", "2", "--ca-file", CA)
        self.assertEqual(run.rc, 1)
        self.assertIn("submission.fallback-25", run.stdout)
        self.assertIn("Verdict: WARNING (exit 1)", run.stdout)
        self.assertIn("Diagnosis: The first broken hop is the firewall (submission.fallback-25", run.stdout)
        self.assertNotIn("\033[", run.stdout, "no colour when stdout is not a terminal")


class DarkHost(LabTestCase):
    def test_five_dropped_ports_cost_one_timeout(self):
        run = mailready("check", "dark.lab.test", "--from-inside", "--imap-starttls", "--timeout", "1",
                        "--format", "json")
        states = [r["facts"]["state"] for r in run.results("ports.reachability")]
        self.assertEqual(states, ["filtered"] * 5)
        # One timeout for all five (not five in turn), whatever --per-host says.
        self.assertLess(run.report["duration_ms"], 1900, run.report["duration_ms"])
        self.assertEqual(run.report["diagnosis"]["hop"], "firewall")


class UnresolvedHost(LabTestCase):
    def test_unresolved_host_is_critical_not_a_crash(self):
        run = mailready("check", "nothere.lab.test", "--format", "json", "--timeout", "2")
        self.assertEqual(run.rc, 2, run.stderr)
        self.assertEqual(run.report["verdict"], "critical")
        validate_schema(run.report)
        self.assertEqual(run.finding_ids(), ["dns.unresolved"])
        skipped = run.results("ports.reachability")
        self.assertTrue(skipped and all(r["status"] == "skip" for r in skipped))
        self.assertEqual(run.one("submission.fallback")["status"], "skip")


class PinnedAddress(LabTestCase):
    def test_resolve_pins_a_name_without_dns(self):
        # pinned.lab.test is in no hosts file: --resolve alone makes it work, as with curl.
        run = mailready("check", "pinned.lab.test", "--resolve", "pinned.lab.test:127.0.10.10",
                        "--from-inside", "--only", "submission.fallback", "--format", "json")
        self.assertEqual(run.rc, 0, run.stdout + run.stderr)
        dns = run.one("dns.resolve")
        self.assertTrue(dns["facts"]["pinned"])
        self.assertEqual(dns["facts"]["a"], ["127.0.10.10"])
        self.assertEqual(run.one("submission.fallback")["facts"]["port"], 587)


if __name__ == "__main__":
    unittest.main()
