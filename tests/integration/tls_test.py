"""TLS and certificate findings against the lab's real servers, one host per defect.
Each broken host yields exactly its expected finding ids; the good host yields none."""
import unittest

from labtest import LAB_DIR, lab_is_up, mailready, validate_schema

CA = str(LAB_DIR / "pki" / "root.pem")
TLS_CHECKS = ("tls.handshake", "cert.chain")

# host → {port: expected finding ids from tls.handshake and cert.chain}
EXPECTED = {
    "mail.lab.test": {993: [], 143: [], 587: [], 465: [], 25: []},
    "expired.lab.test": {993: ["cert.expired"], 587: ["cert.expired"]},
    "selfsigned.lab.test": {993: ["cert.self-signed"], 465: ["cert.self-signed"]},
    "nochain.lab.test": {993: ["cert.incomplete-chain"], 587: ["cert.incomplete-chain"]},
    "wrongname.lab.test": {993: ["cert.hostname-mismatch"], 465: ["cert.hostname-mismatch"]},
    "weak.lab.test": {993: ["cert.weak-key", "cert.weak-signature"]},
    "tls10.lab.test": {993: ["tls.legacy-protocol"], 587: ["tls.legacy-protocol"]},
    "nostarttls.lab.test": {587: ["tls.none"], 25: ["tls.none"], 993: []},
}


def tls_findings(run, port):
    ids = []
    for r in run.report["results"]:
        if r["check"] in TLS_CHECKS and r["endpoint"] and r["endpoint"]["port"] == port:
            ids.extend(f["id"] for f in r["findings"])
    return sorted(ids)


class TlsLab(unittest.TestCase):
    runs = {}

    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: start it with ci/lab.sh start")

    def run_for(self, host):
        if host not in self.runs:
            self.runs[host] = mailready("check", host, "--from-inside", "--imap-starttls",
                                        "--ca-file", CA, "--only", "cert.chain", "--format", "json")
        return self.runs[host]

    def test_each_host_yields_exactly_its_findings(self):
        for host, ports in EXPECTED.items():
            run = self.run_for(host)
            validate_schema(run.report)
            for port, expected in ports.items():
                with self.subTest(host=host, port=port):
                    self.assertEqual(tls_findings(run, port), sorted(expected))

    def test_good_host_facts(self):
        run = self.run_for("mail.lab.test")
        self.assertEqual(run.rc, 0, run.stdout)
        hs = run.one("tls.handshake", 993)
        self.assertIn(hs["facts"]["protocol"], ("TLSv1.2", "TLSv1.3"))
        self.assertGreaterEqual(hs["facts"]["bits"], 128)
        self.assertEqual(hs["facts"]["legacy_accepted"], [])
        chain = run.one("cert.chain", 993)
        self.assertTrue(chain["facts"]["trusted"])
        self.assertFalse(chain["facts"]["root_publicly_trusted"])
        sources = [c["source"] for c in chain["facts"]["chain"]]
        self.assertEqual(sources, ["server", "server", "trust-store"])
        leaf = chain["facts"]["chain"][0]
        self.assertIn("mail.lab.test", leaf["dns_names"])
        for field in ("subject", "issuer", "serial", "not_before", "not_after", "days_left",
                      "key_type", "key_bits", "signature_algorithm", "sha256_fingerprint"):
            self.assertIn(field, leaf)

    def test_without_the_lab_root_the_chain_is_untrusted(self):
        run = mailready("check", "mail.lab.test", "--from-inside", "--only", "cert.chain",
                        "--format", "json")
        self.assertEqual(run.rc, 2)
        self.assertEqual(tls_findings(run, 993), ["cert.untrusted"])

    def test_expired_names_the_certificate_and_the_date(self):
        run = self.run_for("expired.lab.test")
        f = [f for r in run.results("cert.chain", 993) for f in r["findings"]][0]
        self.assertEqual(f["severity"], "critical")
        self.assertIn("expired.lab.test", f["message"])
        self.assertIn("2024-03-31", f["message"])

    def test_text_report_draws_the_chain_with_the_problem_marked(self):
        run = mailready("check", "expired.lab.test", "--from-inside", "--ca-file", CA, "--only",
                        "cert.chain")
        lines = run.stdout.splitlines()
        leaf = [l for l in lines if l.strip().startswith("expired.lab.test  [server")]
        self.assertTrue(leaf, run.stdout)
        self.assertIn("<- cert.expired", leaf[0])
        self.assertTrue(any("\u2514\u2500 mailready lab intermediate CA  [server" in l for l in lines))
        good = mailready("check", "mail.lab.test", "--from-inside", "--ca-file", CA, "--only", "cert.chain")
        self.assertIn("mailready lab root CA  [trust-store", good.stdout)
        self.assertNotIn("<-", good.stdout)

    def test_legacy_versions_are_listed(self):
        run = self.run_for("tls10.lab.test")
        self.assertIn("TLSv1", run.one("tls.handshake", 993)["facts"]["legacy_accepted"])

    def test_a_bad_certificate_does_not_stop_other_checks(self):
        run = mailready("check", "expired.lab.test", "--from-inside", "--ca-file", CA,
                        "--format", "json")
        self.assertEqual(run.one("submission.fallback")["facts"]["port"], 587)
        self.assertTrue(run.one("imap.greeting", 993)["facts"]["greeting_ok"])


if __name__ == "__main__":
    unittest.main()
