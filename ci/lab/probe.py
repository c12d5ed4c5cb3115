#!/usr/bin/python3
"""Waits until every lab listener answers (ci/lab.sh _probe; run inside the namespace).

  probe.py TIMEOUT_S IP:PORT:KIND...

KIND tls: the TCP connect succeeds; imap: the greeting starts "* OK " and says "ready";
pop3: it starts "+OK"; smtp: it starts "220". All listeners are tried at once, again every
0.2 s until TIMEOUT_S has passed (0: one round). Exit 0 when all answer, else 1 with
"not answering: IP:PORT:KIND ..." on stdout. Standard library only.
"""
import socket, sys, time
from concurrent.futures import ThreadPoolExecutor

GOOD = {"imap": lambda g: g.startswith("* OK ") and "ready" in g,
        "pop3": lambda g: g.startswith("+OK"),
        "smtp": lambda g: g.startswith("220")}


def answers(listener):
    ip, port, kind = listener.split(":")
    try:
        with socket.create_connection((ip, int(port)), timeout=2) as s:
            if kind == "tls":
                return True
            greeting = b""
            while b"\n" not in greeting and len(greeting) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                greeting += chunk
            return GOOD[kind](greeting.decode("latin-1"))
    except OSError:
        return False


def main():
    deadline = time.monotonic() + float(sys.argv[1])
    pending = sys.argv[2:]
    with ThreadPoolExecutor(max_workers=32) as pool:
        while True:
            pending = [l for l, ok in zip(pending, pool.map(answers, pending)) if not ok]
            if not pending:
                return 0
            if time.monotonic() >= deadline:
                print("not answering: " + " ".join(pending))
                return 1
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
