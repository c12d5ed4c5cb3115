#!/usr/bin/python3
"""Waits until listeners answer (ci/lab.sh and ci/deployment.sh; run inside the namespace
to probe from).

  probe.py TIMEOUT_S IP:PORT:KIND...

KIND tcp (or tls, for a TLS port whose handshake is not tried): the TCP connect succeeds;
imap: the greeting starts "* OK " and says "ready" (not "Waiting for authentication
process"); pop3: it starts "+OK"; smtp: it starts "220"; imaps / smtps: the same greeting
over TLS (certificate not checked here: the selftests do that). All listeners are tried at
once, again every 0.2 s until TIMEOUT_S has passed (0: one round). Exit 0 when all answer,
else 1 with "not answering: IP:PORT:KIND ..." on stdout. Standard library only.
"""
import socket, ssl, sys, time
from concurrent.futures import ThreadPoolExecutor

GOOD = {"imap": lambda g: g.startswith("* OK ") and "ready" in g,
        "pop3": lambda g: g.startswith("+OK"),
        "smtp": lambda g: g.startswith("220")}
NOVERIFY = ssl.create_default_context()
NOVERIFY.check_hostname = False
NOVERIFY.verify_mode = ssl.CERT_NONE


def answers(listener):
    ip, port, kind = listener.split(":")
    try:
        with socket.create_connection((ip, int(port)), timeout=2) as s:
            if kind in ("tcp", "tls"):
                return True
            if kind in ("imaps", "smtps"):
                s = NOVERIFY.wrap_socket(s)
                kind = kind[:-1]
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
