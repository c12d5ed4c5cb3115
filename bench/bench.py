#!/usr/bin/python3
"""mailready's benchmark: the full check of the lab's healthy host against the shell
composite of the standard tools (bench/composite.sh), on loopback and through a relay
that adds 25 ms each way (bench/delay_proxy.py), alternated, medians of N runs; then
callgrind instruction counts per check. Run it with bench/run.sh (which starts the lab
and enters its namespace); see bench/README.md.

Every run must really pass: mailready's report must show every login accepted and the
wrong password refused (and the verdict of the first run), the composite must exit 0.
A run that does not pass stops the benchmark: a fast wrong answer is no figure.
"""
import argparse, json, os, re, signal, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAB = Path(os.environ.get("MAILREADY_LAB_DIR", "/tmp/mailready-lab"))
HOST, ADDRESS = "mail.lab.test", "127.0.10.10"
PROXY, PROXY_SOURCE = "127.0.10.60", "127.0.10.61"
PORTS = ["993", "143", "587", "465", "25"]
USER = "alice@lab.test"
CA = str(LAB / "pki/root.pem")
PASSWORD_FILE = str(LAB / "secrets/alice.password")


class Runner:
    """Runs one job at a time and reads its CPU and peak RSS from wait4()."""

    def run(self, argv):
        started = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        out = p.stdout.read()
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        cpu = usage.ru_utime + usage.ru_stime
        return {"code": p.returncode, "wall": wall, "cpu": cpu, "rss_mb": usage.ru_maxrss / 1024.0,
                "stdout": out, "stderr": err}


def mailready_argv(binary, via_proxy):
    argv = [binary, "check", HOST, "--imap-starttls", "--ca-file", CA, "--user", USER,
            "--password-file", PASSWORD_FILE, "--format", "json", "-q"]
    if via_proxy:
        argv += ["--resolve", f"{HOST}:{PROXY}"]
    return argv


def composite_argv(via_proxy):
    return ["bash", str(HERE / "composite.sh"), HOST, PROXY if via_proxy else ADDRESS, CA, USER,
            PASSWORD_FILE]


def judge_mailready(result, expect_code):
    """The facts a passing full check must show; returns a reason or None."""
    try:
        report = json.loads(result["stdout"])
    except ValueError:
        return "no JSON report: " + result["stderr"].decode(errors="replace")[-300:]
    logins = [r for r in report["results"] if r["check"] == "auth.login" and r["status"] != "skip"]
    refused = [r for r in logins if not r["facts"].get("accepted")]
    if len(logins) < 8 or refused:
        return f"{len(logins)} logins, refused: {[r['facts'].get('mechanism') for r in refused]}"
    bad = [r for r in report["results"] if r["check"] == "auth.rejects-bad-password"]
    if len(bad) != 2 or not all(r["facts"].get("rejected") for r in bad):
        return "the wrong password was not refused on IMAP and SMTP"
    if expect_code is not None and result["code"] != expect_code:
        return f"exit {result['code']}, the first run exited {expect_code}"
    return None


def rejection_ms(result):
    report = json.loads(result["stdout"])
    return max(r["facts"]["rejection_ms"] for r in report["results"]
               if r["check"] == "auth.rejects-bad-password")


def server_cpu():
    """CPU seconds the lab's Dovecot and Postfix have used so far: every process of theirs,
    with the children they have reaped (Dovecot's login processes live for one connection)."""
    masters = []
    for pidfile in list(LAB.glob("dovecot*/run/master.pid")) + [LAB / "postfix-queue/pid/master.pid"]:
        try:
            masters.append(int(pidfile.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    parent, times = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(d.name)] = int(fields[1])
        times[int(d.name)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    total = 0
    for pid, ticks in times.items():
        p = pid
        while p > 1 and p not in masters:
            p = parent.get(p, 0)
        if p in masters:
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


class Proxy:
    def __init__(self, delay_ms):
        self.stats = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
        self.p = subprocess.Popen(
            [sys.executable, str(HERE / "delay_proxy.py"), PROXY, ADDRESS, PROXY_SOURCE,
             str(delay_ms), *PORTS, "--stats", self.stats], stdout=subprocess.PIPE)
        if self.p.stdout.readline().strip() != b"ready":
            raise SystemExit("bench: the delay proxy did not start")

    def counts(self):
        """What went through since the last call."""
        os.unlink(self.stats)
        self.p.send_signal(signal.SIGUSR1)
        for _ in range(100):
            if os.path.exists(self.stats) and os.path.getsize(self.stats) > 0:
                time.sleep(0.01)
                return json.loads(Path(self.stats).read_text())
            time.sleep(0.01)
        raise SystemExit("bench: the delay proxy did not report")

    def stop(self):
        self.p.terminate()
        self.p.wait()


def median(values):
    return statistics.median(values) if values else float("nan")


def callgrind(binary, checks):
    """Instructions (Ir) of `mailready check --only ID` for each check, and of the full run."""
    out = {}
    for check in checks + ["(all)"]:
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                *mailready_argv(binary, False), "--timeout", "30"]
        if check != "(all)":
            argv += ["--only", check]
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
        m = re.search(rb"Collected : (\d+)", p.stderr)
        out[check] = int(m.group(1)) if m else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--binary", default="build/mailready")
    ap.add_argument("--baseline", help="another mailready binary to measure beside it")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions per check")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()

    binaries = {"mailready": os.path.abspath(args.binary)}
    if args.baseline:
        binaries["baseline"] = os.path.abspath(args.baseline)
    runner = Runner()
    proxy = Proxy(25)
    jobs = []
    for name, binary in binaries.items():
        for via in (False, True):
            jobs.append((name, via, mailready_argv(binary, via)))
    for via in (False, True):
        jobs.append(("composite", via, composite_argv(via)))

    figures = {(name, via): [] for name, via, _ in jobs}
    budget = {}
    expect = {}
    floors = []
    try:
        for i in range(args.runs):
            order = jobs[i % len(jobs):] + jobs[:i % len(jobs)]  # alternate who goes first
            for name, via, argv in order:
                proxy.counts()  # reset
                before = server_cpu()
                r = runner.run(argv)
                r["server_cpu"] = server_cpu() - before
                counted = proxy.counts()
                if name == "composite":
                    if r["code"] != 0:
                        raise SystemExit("bench: the composite failed: " + r["stderr"].decode(errors="replace"))
                else:
                    why = judge_mailready(r, expect.get(name))
                    if why:
                        raise SystemExit(f"bench: {name} did not pass ({'proxy' if via else 'loopback'}): {why}")
                    expect.setdefault(name, r["code"])
                    if not via and name == "mailready":
                        floors.append(rejection_ms(r) / 1000.0)
                if via:
                    budget[name] = counted
                figures[(name, via)].append(r)
                print(f"  run {i + 1}: {name:<10} {'50ms RTT' if via else 'loopback':<9} "
                      f"wall {r['wall']:.3f} s  cpu {r['cpu']:.3f} s  rss {r['rss_mb']:.1f} MB  "
                      f"servers' cpu {r['server_cpu']:.2f} s", file=sys.stderr, flush=True)
    finally:
        proxy.stop()

    summary = {}
    for (name, via), runs in figures.items():
        summary[f"{name}{' 50ms' if via else ''}"] = {
            "wall": median([r["wall"] for r in runs]), "cpu": median([r["cpu"] for r in runs]),
            "rss_mb": max(r["rss_mb"] for r in runs),
            "server_cpu": median([r["server_cpu"] for r in runs])}
    floor = median(floors)

    print(f"\nmedians of {args.runs} alternated runs; host {HOST} (993 143 587 465 25, "
          f"every mechanism, a wrong password); {os.cpu_count()} cores")
    print(f"{'':<22}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}{'servers CPU s':>15}"
          f"{'connections':>13}{'TLS hellos':>12}{'resumed':>9}")
    for key, s in summary.items():
        name = key.split()[0]
        b = budget.get(name, {}) if key.endswith("50ms") else {}
        print(f"{key:<22}{s['wall']:>9.3f}{s['cpu']:>9.3f}{s['rss_mb']:>13.1f}{s['server_cpu']:>15.2f}"
              f"{b.get('connections', ''):>13}{b.get('client_hellos', ''):>12}{b.get('resumed', ''):>9}")
    print("(connections, ClientHellos and resumed handshakes as counted by the relay, per run)")
    mr, mrp = summary["mailready"], summary["mailready 50ms"]
    comp, compp = summary["composite"], summary["composite 50ms"]
    print(f"\nthe server's failed-login delay (mailready's rejection_ms, median): {floor:.3f} s;"
          f" at 50 ms RTT the floor is that plus ~6 round trips: {floor + 0.3:.3f} s")
    print(f"composite / mailready: CPU {comp['cpu'] / mr['cpu']:.1f}x, wall {comp['wall'] / mr['wall']:.1f}x"
          f" on loopback; wall {compp['wall'] / mrp['wall']:.1f}x at 50 ms RTT")
    targets = [
        ("CPU <= 0.10 s", mr["cpu"] <= 0.10, f"{mr['cpu']:.3f} s"),
        ("wall <= failed-login delay + 0.1 s (loopback)", mr["wall"] <= floor + 0.1,
         f"{mr['wall']:.3f} s vs {floor + 0.1:.3f} s"),
        ("wall <= 1.2 s at 50 ms RTT (set for a 0.5 s failed-login delay)", mrp["wall"] <= 1.2,
         f"{mrp['wall']:.3f} s"),
        ("the same for this server: wall <= its delay + 0.7 s at 50 ms RTT",
         mrp["wall"] <= floor + 0.7, f"{mrp['wall']:.3f} s vs {floor + 0.7:.3f} s"),
        (">= 5x faster than the composite at 50 ms RTT", compp["wall"] / mrp["wall"] >= 5,
         f"{compp['wall'] / mrp['wall']:.1f}x"),
        ("peak RSS <= 40 MB", max(mr["rss_mb"], mrp["rss_mb"]) <= 40,
         f"{max(mr['rss_mb'], mrp['rss_mb']):.1f} MB"),
    ]
    print("\ntargets (issue 9):")
    for what, ok, got in targets:
        print(f"  {'met ' if ok else 'MISS'} {what}: {got}")
    if "baseline" in binaries:
        b, bp = summary["baseline"], summary["baseline 50ms"]
        print(f"\nbaseline / mailready: CPU {b['cpu'] / mr['cpu']:.1f}x, wall {b['wall'] / mr['wall']:.1f}x"
              f" on loopback; wall {bp['wall'] / mrp['wall']:.1f}x at 50 ms RTT")

    counts = {}
    if args.callgrind:
        ids = [line.split()[0] for line in subprocess.run(
            [binaries["mailready"], "checks"], capture_output=True, text=True).stdout.splitlines()]
        print("\ncallgrind, instructions of `check --only ID` (with the checks it needs):")
        for name, binary in binaries.items():
            counts[name] = callgrind(binary, ids)
        print(f"{'':<28}" + "".join(f"{n:>16}" for n in counts))
        for check in ids + ["(all)"]:
            print(f"{check:<28}" + "".join(
                f"{(counts[n][check] or 0) / 1e6:>15.1f}M" for n in counts))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"summary": summary, "budget": budget, "floor": floor, "callgrind": counts}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
