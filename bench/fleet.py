#!/usr/bin/env python3
"""The fleet benchmark (issue 10), run inside the lab's namespace by bench/run.sh --fleet:

  (a) check --targets over the lab's 1,024 fleet names, no login (every check that needs
      none): wall, CPU, peak RSS, the servers' CPU, and whether the report is right (every
      target once, the broken ones and only they critical);
  (b) the same with 5,000 targets (5 names pinned to each fleet address, by a JSON
      targets file): peak RSS against (a)'s, which must stay within 20 %;
  (c) 100 targets with logins (every mechanism, alice's password);
  (d) the exporter: probes per second sustained without logins, by 8 clients for 20 s,
      and how long /metrics takes to answer meanwhile.

It prints one table; the targets of issue 10 are beside the figures.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import LAB, Runner, server_cpu  # noqa: E402

CA = str(LAB / "pki" / "root.pem")
FLEET = [f"fleet-{i:04d}.fleet.lab.test" for i in range(1024)]
BROKEN = {"fleet-0008.fleet.lab.test", "fleet-0009.fleet.lab.test", "fleet-0010.fleet.lab.test"}


def fleet_run(binary, targets_path, *extra):
    out = Path(targets_path).with_suffix(".ndjson")
    peak = Path(targets_path).with_suffix(".rss")
    # Peak RSS from /usr/bin/time, not from wait4: a child forked from this (by then large)
    # Python process counts the parent's pages until it execs.
    argv = ["/usr/bin/time", "-f", "%M", "-o", str(peak), binary, "check", "--targets", targets_path,
            "--from-inside", "--ca-file", CA, "--format", "ndjson", "-q", "--deadline", "60",
            "--output", str(out), *extra]
    before = server_cpu()
    result = Runner().run(argv)
    result["servers_cpu"] = server_cpu() - before
    result["rss_mb"] = int(peak.read_text().split()[-1]) / 1024.0
    result["summaries"], result["fleet"] = {}, {}
    if out.exists():
        with out.open() as lines:  # streamed: the 5,000-target output is large
            for line in lines:
                j = json.loads(line)
                if j["type"] == "summary":
                    result["summaries"][j["target"]] = j["verdict"]
                elif j["type"] == "fleet_summary":
                    result["fleet"] = j
        out.unlink()
    if not result["fleet"]:
        print("fleet run failed:", result["stderr"].decode(errors="replace")[-500:], file=sys.stderr)
    result["stdout"] = result["stderr"] = b""
    return result


def row(name, r, note):
    print(f"| {name} | {r['wall']:.1f} s | {r['cpu']:.1f} s | {r['servers_cpu']:.1f} s | "
          f"{r['rss_mb']:.0f} MB | {r['fleet'].get('checked', 0)} | {note} |")


def exporter_rate(binary, seconds=20, clients=8):
    tmp = tempfile.TemporaryDirectory()
    config = Path(tmp.name) / "exporter.json"
    config.write_text(json.dumps({"modules": {"default": {"from_inside": True, "ca_file": CA}},
                                  "allow_any_target": True}))
    port = 9761
    server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--config", str(config),
                               "--max-concurrent", "16", "--max-queued", "64"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/metrics", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    done = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    counter = iter(range(10**9))

    def client():
        while time.monotonic() < stop:
            target = FLEET[11 + next(counter) % 1000]
            try:
                body = urllib.request.urlopen(f"{base}/probe?target={target}", timeout=30).read()
                ok = b"mailready_up" in body
            except OSError:
                ok = False
            with lock:
                done["ok" if ok else "failed"] += 1

    metrics_ms = []

    def metrics():
        while time.monotonic() < stop:
            started = time.monotonic()
            try:
                urllib.request.urlopen(base + "/metrics", timeout=10).read()
                metrics_ms.append((time.monotonic() - started) * 1000)
            except OSError:
                metrics_ms.append(float("inf"))
            time.sleep(0.5)

    before = server_cpu()
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)] + [threading.Thread(target=metrics)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    servers = server_cpu() - before
    server.terminate()
    server.wait(timeout=10)
    tmp.cleanup()
    metrics_ms.sort()
    worst = metrics_ms[-1] if metrics_ms else float("nan")
    return done["ok"] / elapsed, done["failed"], worst, servers / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(Path(__file__).resolve().parents[1] / "build" / "mailready"))
    parser.add_argument("--skip-exporter", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    plain = Path(tmp.name) / "fleet.txt"
    plain.write_text("\n".join(FLEET) + "\n")
    big = Path(tmp.name) / "fleet5000.json"
    big.write_text(json.dumps({"targets": {
        f"v{i:04d}.fleet.lab.test": {"resolve": [f"v{i:04d}.fleet.lab.test:127.0.{12 + (i % 1024) // 256}.{i % 256}"]}
        for i in range(11, 5011)}}))
    logins = Path(tmp.name) / "logins.json"
    secret = str(LAB / "secrets" / "alice.password")
    logins.write_text(json.dumps({"targets": {
        name: {"user": "alice@lab.test", "password_file": secret} for name in FLEET[11:111]}}))

    print("| job | wall | CPU | servers' CPU | peak RSS | targets checked | right? / target |")
    print("|---|---|---|---|---|---|---|")
    a = fleet_run(args.binary, str(plain))
    wrong = {t for t, v in a["summaries"].items() if v != "ok"} ^ BROKEN
    right = len(a["summaries"]) == 1024 and not wrong
    row("1,024 targets, no login", a, f"{'right' if right else 'WRONG: ' + ', '.join(sorted(wrong)[:5])}; target ≤ 15 s, ≤ 150 MB")
    b = fleet_run(args.binary, str(big))
    row("5,000 targets, no login", b, f"RSS {b['rss_mb'] / a['rss_mb'] * 100 - 100:+.0f} % against 1,024; target within 20 %")
    c = fleet_run(args.binary, str(logins))
    bad = sum(1 for v in c["summaries"].values() if v != "ok")
    row("100 targets, logins (every mechanism)", c, f"{bad} not OK; target ≤ 20 s")
    if not args.skip_exporter:
        rate, failed, worst_ms, servers = exporter_rate(args.binary)
        print(f"\nexporter: {rate:.1f} full probes/s sustained (8 clients, 20 s; {failed} failed), "
              f"slowest /metrics {worst_ms:.0f} ms, servers {servers:.2f} CPU s/s; target ≥ 20/s")
    tmp.cleanup()


if __name__ == "__main__":
    main()
