"""The command line as a user meets it: usage errors, listing, explaining, output files.
None of these tests touches the network beyond this machine's loopback."""
import json
import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from labtest import mailready, validate_schema  # noqa: E402


def local(*args, **kw):
    return mailready(*args, netns=False, **kw)


class UsageErrors(unittest.TestCase):
    def assert_usage_error(self, run, words):
        self.assertEqual(run.rc, 3, run.stdout + run.stderr)
        self.assertEqual(run.stdout, "")
        lines = run.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertIn(words, lines[0])

    def test_unknown_flag(self):
        self.assert_usage_error(local("check", "mail.test", "--bogus"), "--bogus")

    def test_missing_host(self):
        self.assert_usage_error(local("check"), "host")

    def test_targets_and_host_exclude_each_other(self):
        self.assert_usage_error(local("check", "mail.test", "--targets", "/dev/null"), "excludes")

    def test_targets_from_stdin_and_password_from_stdin(self):
        self.assert_usage_error(local("check", "--targets", "-", "--user", "a@x.test", "--password-stdin"),
                                "both want standard input")

    def test_targets_file_that_cannot_be_read(self):
        self.assert_usage_error(local("check", "--targets", "/nonexistent/targets.txt"),
                                "targets /nonexistent/targets.txt: cannot read: No such file or directory")

    def test_parallel_out_of_range(self):
        self.assert_usage_error(local("check", "--targets", "-", "--parallel", "0"), "--parallel")

    def test_unknown_check_id(self):
        self.assert_usage_error(local("check", "mail.test", "--only", "nope.check"), "nope.check")

    def test_unknown_check_id_in_skip(self):
        self.assert_usage_error(local("check", "mail.test", "--skip", "dns.resolve,nope"), "nope")

    def test_port_out_of_range(self):
        self.assert_usage_error(local("check", "mail.test", "--fallback-order", "587,70000"), "70000")

    def test_port_listed_twice(self):
        self.assert_usage_error(local("check", "mail.test", "--fallback-order", "587,587"), "twice")

    def test_bad_timeout(self):
        self.assert_usage_error(local("check", "mail.test", "--timeout", "-1"), "timeout")

    def test_bad_format(self):
        self.assert_usage_error(local("check", "mail.test", "--format", "xml"), "xml")

    def test_bad_pin(self):
        self.assert_usage_error(local("check", "mail.test", "--resolve", "mail.test:banana"), "banana")

    def test_bad_host(self):
        self.assert_usage_error(local("check", "mail test;rm"), "not a host name")

    def test_conflicting_families(self):
        self.assert_usage_error(local("check", "mail.test", "-4", "-6"), "-")

    def test_no_password_flag_exists(self):
        # Secrets never on the command line: there is no --password.
        self.assert_usage_error(local("check", "mail.test", "--password", "x"), "--password")

    def test_two_password_sources(self):
        self.assert_usage_error(local("check", "mail.test", "--user", "u", "--password-env", "P",
                                      "--password-stdin"), "excludes")

    def test_unset_password_variable(self):
        run = local("check", "127.0.0.1", "--user", "u", "--password-env", "MAILREADY_NO_SUCH_VAR")
        self.assert_usage_error(run, "MAILREADY_NO_SUCH_VAR")

    def test_no_password_and_no_terminal(self):
        run = local("check", "127.0.0.1", "--user", "u", stdin="")
        self.assertEqual(run.rc, 3)
        self.assertIn("--password-env", run.stderr)

    def test_missing_ca_file(self):
        self.assert_usage_error(local("check", "mail.test", "--ca-file", "/no/such/ca.pem"), "/no/such/ca.pem")

    def test_two_reports_on_stdout(self):
        self.assert_usage_error(local("check", "mail.test", "--report", "json", "--report", "text"), "stdout")

    def test_unknown_report_format(self):
        self.assert_usage_error(local("check", "mail.test", "--report", "yaml:x.yaml"), "yaml")

    def test_unwritable_output(self):
        run = local("check", "localhost", "--output", "/nonexistent-dir/report.json")
        self.assert_usage_error(run, "/nonexistent-dir/report.json")

    def test_output_is_a_directory(self):
        with tempfile.TemporaryDirectory() as d:
            self.assert_usage_error(local("check", "localhost", "--output", d), "directory")


class Informational(unittest.TestCase):
    def test_version(self):
        run = local("--version")
        self.assertEqual(run.rc, 0)
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 4, run.stdout)
        self.assertRegex(lines[0], r"^mailready \d+\.\d+\.\d+$")
        self.assertRegex(lines[1], r"^commit ([0-9a-f]{12}(-dirty)?|unknown)$")
        self.assertRegex(lines[2], r"^OpenSSL 3\.\d+\.\d+")
        self.assertRegex(lines[3], r"^Poco \d+\.\d+\.\d+$")
        # No path of the machine it was built on.
        self.assertNotIn("/", run.stdout)

    def test_help_lists_every_check_flag(self):
        run = local("check", "--help")
        self.assertEqual(run.rc, 0)
        for flag in ("--imap-host", "--smtp-host", "--timeout", "--deadline", "-4", "-6", "--only",
                     "--skip", "--format", "--output", "--resolve", "--from-inside", "--per-host",
                     "--fallback-order", "--imap-starttls", "--ca-file", "--cert-warn-days",
                     "--user", "--imap-user", "--smtp-user", "--password-env", "--password-file",
                     "--password-stdin", "--oauth-token-env", "--allow-plaintext-auth",
                     "--insecure", "--trace", "--report", "--warning", "--critical",
                     "--relay-test-domain", "--send-test-message", "--to", "--slow-delivery",
                     "--delivery-timeout"):
            self.assertIn(flag, run.stdout)

    def test_checks_lists_the_modules_with_their_needs(self):
        run = local("checks")
        self.assertEqual(run.rc, 0)
        ids = [line.split()[0] for line in run.stdout.splitlines()]
        self.assertEqual(ids, ["dns.resolve", "ports.reachability", "imap.greeting",
                               "smtp.greeting", "submission.fallback", "tls.handshake",
                               "cert.chain", "auth.mechanisms", "auth.login",
                               "auth.rejects-bad-password", "smtp.auth-required",
                               "smtp.open-relay", "imap.mailbox", "roundtrip.delivery"])
        self.assertIn("(needs ports.reachability, smtp.greeting)", run.stdout)

    def test_explain_a_finding(self):
        run = local("explain", "port.filtered")
        self.assertEqual(run.rc, 0)
        self.assertIn("firewall", run.stdout)
        self.assertIn("What to do:", run.stdout)

    def test_explain_unknown_finding(self):
        run = local("explain", "no.such-finding")
        self.assertEqual(run.rc, 3)
        self.assertIn("port.filtered", run.stderr)


class OutputFile(unittest.TestCase):
    """A run against this machine's loopback, where nothing listens on the mail ports."""

    ARGS = ("check", "127.0.0.1", "--from-inside", "--fallback-order", "1", "--timeout", "1")

    def test_several_reports_in_one_run_agree(self):
        with tempfile.TemporaryDirectory() as d:
            run = local(*self.ARGS, "--format", "ndjson",
                        "--report", f"json:{d}/r.json", "--report", f"junit:{d}/r.xml",
                        "--report", f"prometheus:{d}/r.prom", "--report", f"nagios:{d}/r.txt")
            lines = [json.loads(line) for line in run.stdout.splitlines()]
            report = json.loads(Path(d, "r.json").read_text())
            validate_schema(report)
            # NDJSON: one line per result as it finished, then the summary.
            self.assertEqual([x["type"] for x in lines], ["result"] * len(report["results"]) + ["summary"])
            self.assertEqual(lines[-1]["verdict"], report["verdict"])
            self.assertEqual(lines[-1]["results"], len(report["results"]))
            self.assertEqual(sorted(x["check"] for x in lines[:-1]),
                             sorted(r["check"] for r in report["results"]))
            self.assertEqual(run.rc, report["exit_code"])
            self.assertIn("<testsuites", Path(d, "r.xml").read_text())
            self.assertIn("mailready_up", Path(d, "r.prom").read_text())
            self.assertTrue(Path(d, "r.txt").read_text().startswith("MAILREADY CRITICAL - "))

    def test_output_file_is_written_whole_and_no_temporary_is_left(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "report.json"
            run = local("check", "127.0.0.1", "--from-inside", "--only", "ports.reachability",
                        "--fallback-order", "1", "--timeout", "1", "--format", "json",
                        "--output", str(path))
            self.assertEqual(run.stdout, "")
            report = json.loads(path.read_text())
            validate_schema(report)
            self.assertEqual(run.rc, report["exit_code"])
            self.assertEqual(sorted(os.listdir(d)), ["report.json"])

    def test_only_pulls_in_what_a_check_needs(self):
        run = local("check", "127.0.0.1", "--from-inside", "--only", "ports.reachability",
                    "--fallback-order", "1", "--timeout", "1", "--format", "json")
        checks = {r["check"] for r in run.report["results"]}
        self.assertEqual(checks, {"dns.resolve", "ports.reachability"})

    def test_repeated_only_before_the_host_keeps_the_host(self):
        run = local("check", "--only", "dns.resolve", "--only", "ports.reachability", "127.0.0.1",
                    "--from-inside", "--fallback-order", "1", "--timeout", "1", "--format", "json")
        self.assertEqual(run.report["results"][0]["target"], "127.0.0.1")

    def test_skip_makes_dependents_skip_with_a_reason(self):
        run = local("check", "127.0.0.1", "--from-inside", "--skip", "ports.reachability",
                    "--format", "json", "--timeout", "1")
        greet = [r for r in run.report["results"] if r["check"] == "imap.greeting"]
        self.assertEqual(len(greet), 1)
        self.assertEqual(greet[0]["status"], "skip")
        self.assertIn("ports.reachability", greet[0]["error"])

    def test_no_colour_with_no_color_even_forced_to_text(self):
        run = local("check", "127.0.0.1", "--from-inside", "--only", "dns.resolve",
                    env={"NO_COLOR": "1"})
        self.assertNotIn("\033[", run.stdout)
        self.assertIn("Verdict: OK (exit 0)", run.stdout)


if __name__ == "__main__":
    unittest.main()
