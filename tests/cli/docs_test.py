"""The man page and the bash completion against the binary's own --help, so they cannot
drift: every flag --help prints is in both, and neither has a flag --help does not know.
The completion is also run the way bash runs it (COMP_WORDS set, _mailready called).
Needs man-db and bash-completion (ci/install-deps.sh installs them)."""
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from labtest import BIN, ROOT, mailready  # noqa: E402

MAN_SOURCE = ROOT / "packaging" / "mailready.1.scd"
COMPLETION = ROOT / "packaging" / "mailready.bash-completion"
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
SUBCOMMANDS = ("check", "checks", "explain", "serve")

# A flag where --help names it: "--imap-host", "-o,--output", "-4", in the option column
# or in a description ("sets --cert-warn-days").
FLAG = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*|-[a-z0-9])(?![\w-])")


def help_text(*command):
    run = mailready(*command, "--help", netns=False)
    assert run.rc == 0, run.stderr
    return run.stdout


def help_flags():
    """Every flag of every subcommand's --help, and of the top level."""
    flags = set()
    for command in ((), *((c,) for c in SUBCOMMANDS)):
        for line in help_text(*command).splitlines():
            # Options are the lines "  -x,--name TYPE  description"; descriptions mention
            # flags of their own command too, which are found in its option lines anyway.
            stripped = line.strip()
            if line.startswith("  -"):
                flags.update(FLAG.findall(stripped.split("  ")[0].split(" ")[0]))
    return flags


class ManPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.source = MAN_SOURCE.read_text()
        # The page's flags are its bold terms: *--imap-host*, *-o*.
        cls.man_flags = set(re.findall(r"\*(--?[a-z0-9][a-z0-9-]*)\*", cls.source))

    def test_every_help_flag_is_in_the_man_page(self):
        missing = help_flags() - self.man_flags
        self.assertFalse(missing, f"flags in --help but not in {MAN_SOURCE.name}: {sorted(missing)}")

    def test_the_man_page_has_no_flag_the_binary_does_not(self):
        stale = self.man_flags - help_flags()
        self.assertFalse(stale, f"flags in {MAN_SOURCE.name} that --help does not know: {sorted(stale)}")

    def test_every_subcommand_has_its_entry(self):
        for command in SUBCOMMANDS:
            self.assertRegex(self.source, rf"(?m)^\*{command}\*", command)
            self.assertIn(f"*mailready* *{command}*", self.source)

    def test_every_report_format_and_config_key_is_named(self):
        formats = re.search(r"Output format: (.*)", help_text("check")).group(1)
        for name in formats.split(", "):
            self.assertIn(f"*{name.strip()}*", self.source)
        for key in ("timeout_seconds", "wait_timeout_seconds", "password_file", "password_env",
                    "password_credential", "allow_any_target", "imap_host", "resolve"):
            self.assertIn(f"*{key}*", self.source)

    def test_the_generated_page_renders_without_warnings(self):
        page = os.environ.get("MAILREADY_MAN_PAGE")
        if not page:
            self.skipTest("built with -DMAILREADY_MAN=OFF")
        run = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                             env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": ""})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")
        self.assertIn("mailready - check that iPhones", run.stdout)
        self.assertNotIn("@PROJECT_VERSION@", run.stdout)


def complete(*words, cwd=None):
    """What bash offers for the last of `words` (the word being completed) after the
    binary, as the completion function leaves COMPREPLY."""
    script = f"""
source {BASH_COMPLETION}
source {COMPLETION}
COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
_mailready
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    run = subprocess.run(["bash", "-c", script, "bash", BIN, *words], capture_output=True,
                         text=True, cwd=cwd, timeout=30)
    assert run.returncode == 0, run.stderr
    return [line for line in run.stdout.splitlines() if line]


class BashCompletion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BASH_COMPLETION.exists():
            raise AssertionError(f"{BASH_COMPLETION} is missing: apt-get install bash-completion")
        cls.script = COMPLETION.read_text()

    def test_every_help_flag_is_completed_and_no_other(self):
        listed = set(re.findall(r"(?<![\w-])(--?[a-z0-9][a-z0-9-]*)(?![\w-])",
                                " ".join(re.findall(r'_flags="([^"]*)"', self.script))))
        # The top-level flags are completed before any subcommand.
        listed |= {"--version"}
        self.assertEqual(help_flags() - listed, set())
        self.assertEqual(listed - help_flags(), set())

    def test_subcommands(self):
        self.assertEqual(complete(""), list(SUBCOMMANDS))
        self.assertEqual(complete("ch"), ["check", "checks"])
        self.assertEqual(complete("--v"), ["--version"])

    def test_flags_of_each_subcommand(self):
        self.assertEqual(complete("check", "--for"), ["--format"])
        self.assertEqual(complete("check", "mail.example.com", "--password-"),
                         ["--password-env", "--password-file", "--password-stdin"])
        self.assertEqual(complete("serve", "--max-"), ["--max-concurrent", "--max-queued"])
        self.assertEqual(complete("explain", "--h"), ["--help"])

    def test_check_ids_come_from_the_binary(self):
        ids = [line.split()[0] for line in mailready("checks", netns=False).stdout.splitlines()]
        self.assertEqual(complete("check", "--only", ""), ids)
        self.assertEqual(complete("check", "--skip", "auth.lo"), ["auth.login"])
        # Comma-separated: the item after the last comma.
        self.assertEqual(complete("check", "--only", "dns.resolve,ports."),
                         ["dns.resolve,ports.reachability"])

    def test_finding_ids_come_from_the_catalog(self):
        self.assertEqual(complete("explain", "cert.expi"), ["cert.expired", "cert.expires-soon"])
        self.assertIn("submission.fallback-25", complete("explain", "submission."))

    def test_formats(self):
        self.assertEqual(complete("check", "--format", "j"), ["json", "junit"])
        self.assertEqual(complete("check", "--report", "nag"), ["nagios:"])

    def test_files(self):
        with tempfile.TemporaryDirectory() as d:
            for name in ("root.pem", "notes.txt", "exporter.json"):
                Path(d, name).write_text("")
            self.assertEqual(complete("check", "--ca-file", "", cwd=d), ["root.pem"])
            self.assertEqual(complete("serve", "--config", "", cwd=d), ["exporter.json"])
            self.assertEqual(sorted(complete("check", "--output", "", cwd=d)),
                             ["exporter.json", "notes.txt", "root.pem"])
            self.assertEqual(complete("check", "--report", "json:no", cwd=d), ["notes.txt"])


if __name__ == "__main__":
    unittest.main()
