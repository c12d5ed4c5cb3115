#!/usr/bin/python3
"""The scripted-server suite (issue 13): one data file per case in data/, in the style of
curl's tests/data (docs/tests/FILEFORMAT.md there). Each case starts the fake servers it
describes (tests/integration/fake_server.py) on an address of its own inside the lab's
namespace, runs mailready against them and checks the findings, the statuses, what must
not be reported, the time bound and that the report is complete (schema-valid).

  run.py [CASE ...]      (default: every data/test*; -j N: cases at once, default 4)

A case file:

  <info>one line: what the case is about</info>
  <server port="587" tls="yes">          fake_server.py script (or use="NAME": a stock one;
                                         @LABCERT@: the lab's certificate chain and key)
  send 220 ...\\r\\n
  hold
  </server>                              (as many as wanted, one per port)
  <command>--timeout 1</command>         extra arguments to `mailready check`
  <verify findings>                      CHECK PORT FINDING-ID [SEVERITY]  (PORT - : none)
  smtp.greeting 587 protocol.no-greeting
  </verify>
  <verify status>                        CHECK PORT STATUS: other endpoints' results intact
  imap.greeting 993 pass
  </verify>
  <verify absent>                        finding ids that must not appear anywhere
  auth.no-iphone-mechanism
  </verify>
  <verify exit>2</verify>                the exit code (optional)
  <bound>4</bound>                       seconds the whole run may take (default: 6)

Needs root and the lab's namespace (ci/lab.sh start); in CI a missing lab is a failure.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAKE = ROOT / "tests" / "integration" / "fake_server.py"
BIN = os.environ.get("MAILREADY_BIN", str(ROOT / "build" / "mailready"))
NETNS = "mailready-lab"
LAB_DIR = Path(os.environ.get("MAILREADY_LAB_DIR", "/tmp/mailready-lab"))
SCHEMA = ROOT / "reports" / "schema" / "report.schema.json"
HOST = "mail.lab.test"  # the lab certificate's name; pinned with --resolve per case
PASSWORD_ENV = "MAILREADY_SCRIPTED_PASSWORD"

# Stock servers that pass every check of their port (no --user): the "intact" neighbours.
STOCK = {
    "imaps": """send * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\\r\\n
answer CAPABILITY => * CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\\r\\n{tag} OK done\\r\\n
answer LOGOUT => * BYE bye\\r\\n{tag} OK done\\r\\n
answer * => {tag} BAD what\\r\\n
serve
""",
    "smtps": """send 220 mail.lab.test ESMTP\\r\\n
answer EHLO => 250-mail.lab.test\\r\\n250-PIPELINING\\r\\n250 AUTH PLAIN LOGIN\\r\\n
answer MAIL => 530 5.7.0 Authentication required\\r\\n
answer RCPT => 503 5.5.1 Error: need MAIL command\\r\\n
answer RSET => 250 2.0.0 Ok\\r\\n
answer QUIT => 221 2.0.0 Bye\\r\\n
answer * => 502 5.5.2 Error: command not recognized\\r\\n
serve
""",
}

SECTION = re.compile(r"<(server|command|info|bound|verify)([^>]*)>\n?(.*?)</\1>", re.S)
ATTR = re.compile(r'(\w+)="([^"]*)"')


def parse(path):
    case = {"name": path.name, "servers": [], "command": [], "findings": [], "status": [],
            "absent": [], "exit": None, "bound": 6.0, "info": ""}
    for kind, attrs, body in SECTION.findall(path.read_text()):
        a = dict(ATTR.findall(attrs))
        lines = [l for l in body.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        if kind == "info":
            case["info"] = body.strip()
        elif kind == "server":
            script = STOCK[a["use"]] if "use" in a else "\n".join(lines) + "\n"
            case["servers"].append((int(a["port"]), a.get("tls") == "yes", script))
        elif kind == "command":
            case["command"] = body.split()
        elif kind == "bound":
            case["bound"] = float(body.strip())
        elif kind == "verify":
            what = attrs.strip()
            if what == "exit":
                case["exit"] = int(body.strip())
            elif what in ("findings", "status"):
                case[what] = [l.split() for l in lines]
            elif what == "absent":
                case["absent"] = [l.strip() for l in lines]
            else:
                raise ValueError(f"{path.name}: unknown verify section {what!r}")
    return case


def address_of(name):
    number = int(re.sub(r"\D", "", name) or 0)
    return f"127.0.{11 + number // 250}.{1 + number % 250}"


def start_servers(case, address, workdir):
    procs = []
    for port, tls, script in case["servers"]:
        path = Path(workdir) / f"{port}.script"
        lab_cert = f"{LAB_DIR / 'pki' / 'chain.pem'} {LAB_DIR / 'pki' / 'leaf.key'}"
        path.write_text(script.replace("@LABCERT@", lab_cert))
        args = ["ip", "netns", "exec", NETNS, "/usr/bin/python3", str(FAKE),
                "--listen", f"{address}:{port}", "--script", str(path)]
        if tls:
            args += ["--tls", str(LAB_DIR / "pki" / "chain.pem"), str(LAB_DIR / "pki" / "leaf.key")]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(p)
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"fake server on {port} did not start")
    return procs


def results(report, check, port):
    out = [r for r in report["results"] if r["check"] == check]
    if port != "-":
        out = [r for r in out if r["endpoint"] and r["endpoint"]["port"] == int(port)]
    return out


def verify(case, report, rc, seconds):
    errors = []
    if seconds > case["bound"]:
        errors.append(f"took {seconds:.1f} s, bound {case['bound']} s")
    if case["exit"] is not None and rc != case["exit"]:
        errors.append(f"exit {rc}, expected {case['exit']}")
    for want in case["findings"]:
        check, port, fid = want[:3]
        found = [f for r in results(report, check, port) for f in r["findings"] if f["id"] == fid]
        if not found:
            got = sorted({f["id"] for r in results(report, check, port) for f in r["findings"]})
            errs = [r.get("error", "") for r in results(report, check, port)]
            errors.append(f"no {fid} in {check} {port} (got {got} {errs})")
        elif len(want) > 3 and not any(f["severity"] == want[3] for f in found):
            errors.append(f"{fid} in {check} {port} is {found[0]['severity']}, expected {want[3]}")
    for check, port, status in case["status"]:
        got = [r["status"] for r in results(report, check, port)]
        if not got or any(s != status for s in got):
            detail = [(r["status"], r.get("error", ""), [f["id"] for f in r["findings"]])
                      for r in results(report, check, port)]
            errors.append(f"{check} {port}: {detail or 'no result'}, expected {status}")
    every = {f["id"] for r in report["results"] for f in r["findings"]}
    for fid in case["absent"]:
        if fid in every:
            errors.append(f"{fid} reported")
    return errors


def run_case(path):
    case = parse(path)
    address = address_of(path.name)
    with tempfile.TemporaryDirectory() as workdir:
        procs = start_servers(case, address, workdir)
        try:
            env = dict(os.environ, **{PASSWORD_ENV: "scripted-secret"})
            cmd = ["ip", "netns", "exec", NETNS, BIN, "check", HOST, "--resolve", f"{HOST}:{address}",
                   "--from-inside", "--ca-file", str(LAB_DIR / "pki" / "root.pem"),
                   "--format", "json", *case["command"]]
            started = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                                  start_new_session=True)
            seconds = time.monotonic() - started
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=10)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return case, [f"no JSON report (exit {proc.returncode}): {proc.stderr[-300:]}"], 0.0
    errors = verify(case, report, proc.returncode, seconds)
    if os.environ.get("SCRIPTED_SHOW"):  # what the case got, to write its expectations
        ports = {p for p, _, _ in case["servers"]}
        for r in report["results"]:
            port = (r["endpoint"] or {}).get("port")
            if port in ports or port is None:
                errors.append(f"  show: {r['check']} {port} {r['status']} "
                              f"{[(f['id'], f['severity']) for f in r['findings']]} {r.get('error', '')[:80]}")
    try:
        import jsonschema  # Debian's python3-jsonschema
        jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    except ImportError:
        pass
    except Exception as e:  # noqa: BLE001 - any schema error fails the case
        errors.append(f"report does not match the schema: {str(e)[:200]}")
    return case, errors, seconds


def main(argv):
    jobs = 4
    if len(argv) > 1 and argv[0] == "-j":
        jobs, argv = int(argv[1]), argv[2:]
    paths = [HERE / "data" / a if not a.startswith("/") else Path(a) for a in argv] or \
        sorted((HERE / "data").glob("test*"))
    if subprocess.run(["ip", "netns", "pids", NETNS], capture_output=True).returncode != 0:
        print(f"the lab's namespace {NETNS} is missing: start it with ci/lab.sh start")
        return 1
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for case, errors, seconds in pool.map(run_case, paths):
            mark = "ok  " if not errors else "FAIL"
            print(f"{mark} {case['name']} {seconds:5.1f} s  {case['info']}", flush=True)
            for e in errors:
                print(f"       {e}", flush=True)
            failed += bool(errors)
    print(f"{len(paths) - failed} of {len(paths)} scripted cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
