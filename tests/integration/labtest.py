"""Shared helpers for tests that run the built mailready binary.

The binary comes from $MAILREADY_BIN; the lab (ci/lab.sh) must be up for lab tests: in CI
a missing lab is a failure, never a skip.
"""
import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("MAILREADY_BIN", str(ROOT / "build" / "mailready"))
NETNS = os.environ.get("MAILREADY_LAB_NS", "mailready-lab")
LAB_DIR = Path(os.environ.get("MAILREADY_LAB_DIR", "/tmp/mailready-lab"))
SCHEMA = ROOT / "reports" / "schema" / "report.schema.json"


class Run:
    """One finished mailready run."""

    def __init__(self, proc, seconds):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.seconds = seconds
        self._json = None

    @property
    def report(self):
        if self._json is None:
            self._json = json.loads(self.stdout)
        return self._json

    def results(self, check, port=None, host=None):
        out = [r for r in self.report["results"] if r["check"] == check]
        if port is not None:
            out = [r for r in out if r["endpoint"] and r["endpoint"]["port"] == port]
        if host is not None:
            out = [r for r in out if (r["endpoint"] or {}).get("host", r["facts"].get("host")) == host]
        return out

    def one(self, check, port=None, host=None):
        found = self.results(check, port, host)
        assert len(found) == 1, f"expected one {check} result for port {port}, got {len(found)}: {found}"
        return found[0]

    def finding_ids(self, check=None, port=None):
        ids = []
        for r in self.report["results"]:
            if check and r["check"] != check:
                continue
            if port is not None and not (r["endpoint"] and r["endpoint"]["port"] == port):
                continue
            ids.extend(f["id"] for f in r["findings"])
        return sorted(ids)


def mailready(*args, netns=True, env=None, stdin=None, timeout=120):
    """Runs the binary (inside the lab's namespace unless netns=False)."""
    cmd = [BIN, *args]
    if netns:
        cmd = ["ip", "netns", "exec", NETNS, *cmd]
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    if env:
        full_env.update(env)
    started = time.monotonic()
    # A session of its own: no controlling terminal, so a password prompt can never hang.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, input=stdin,
                          timeout=timeout, start_new_session=True)
    return Run(proc, time.monotonic() - started)


def validate_schema(report):
    import jsonschema  # Debian's python3-jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(report)


def lab_is_up():
    return subprocess.run([str(ROOT / "ci" / "lab.sh"), "status"], capture_output=True).returncode == 0
