#!/usr/bin/python3
"""Checks the running deployment lab and records what a client sees under each failure switch.

Run it as `ci/deployment.sh selftest [--scenario NAME]... [--no-scenarios] [--json FILE]`,
which runs this file inside mrd-outside (where mailready runs); it switches failures on and
off by calling `ci/deployment.sh break NAME` / `heal` itself.

Standard library and the openssl command only (no mailready code): it is the oracle for
the lab. Mail delivery is checked by IMAP where IMAP works, and by the recipient's Maildir
(the state directory is on the shared file system) where it does not.

1. Baseline: names, firewall (what is filtered from outside), the TLS chain the gateway
   sends, IMAPS login through the proxy (INBOX, SPECIAL-USE Sent/Drafts/Trash, IDLE that
   sees new mail), SMTP 587 STARTTLS + AUTH delivering to bob (checked by IMAP), 465, 25 as
   MX, what is refused (relaying, 587 without AUTH, wrong passwords, unknown users).
2. For every scenario: break it, run the same set of client probes, print exactly what the
   client saw (greetings, tagged IMAP responses with their codes, SMTP replies with their
   enhanced status codes, closes, timeouts, with the time each took), check that the switch
   does what it says, heal, and check that the lab is whole again (and that mail accepted
   while broken arrives or, for the open relay, was discarded).
Exit 0 when every check passes. The closing line says "N passed, N failed".
"""
import argparse, base64, concurrent.futures, glob, json, os, re, socket, ssl, subprocess, sys, time, uuid

MAIL = "mail.corp.test"
GW_IP = "198.51.100.1"
MAIL_IP, DIR_IP = "192.0.2.10", "192.0.2.20"
FOREIGN = "victim@elsewhere.test"
SCENARIOS = ["directory-down", "backend-down", "dmz-drops-imap", "mta-no-delivery",
             "open-relay-25", "submission-no-auth"]
IMAP_WAIT = 45      # > Dovecot's 30 s proxy connect timeout
SMTP_WAIT = 30
DELIVERY_WAIT = 8   # a healthy lab delivers in well under a second

ap = argparse.ArgumentParser()
ap.add_argument("--state", default="/tmp/mailready-deployment")
ap.add_argument("--control", help="ci/deployment.sh (break/heal)")
ap.add_argument("--scenario", action="append", choices=SCENARIOS)
ap.add_argument("--no-scenarios", action="store_true")
ap.add_argument("--json", help="write the observations here")
args = ap.parse_args()
STATE = args.state
CA = f"{STATE}/pki/root.pem"
PW = {u: open(f"{STATE}/secrets/{u}.password").read() for u in ("alice", "bob")}
passed, failures = 0, []
observations = {}


def check(name, cond, detail=""):
    global passed
    print(("ok   " if cond else "FAIL ") + name + (f"  [{detail}]" if detail and not cond else ""))
    if cond:
        passed += 1
    else:
        failures.append(name)
    return cond


def ctx():
    return ssl.create_default_context(cafile=CA)  # chain and host name verified


class Closed(Exception):
    pass


class Timeout(Exception):
    pass


class Conn:
    """A line-oriented client over TCP or TLS that times every step."""

    def __init__(self, port, tls, timeout=10):
        self.t0 = time.monotonic()
        self.sock = socket.create_connection((MAIL, port), timeout=timeout)
        if tls:
            self.sock = ctx().wrap_socket(self.sock, server_hostname=MAIL)
        self.buf = b""

    def elapsed(self):
        return time.monotonic() - self.t0

    def starttls(self):
        self.buf = b""  # nothing read before the upgrade may be used after it
        self.sock = ctx().wrap_socket(self.sock, server_hostname=MAIL)

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                raise Timeout()
            except ssl.SSLError as e:
                raise Closed(f"TLS error: {e.reason}")
            except ConnectionResetError:
                raise Closed("connection reset")
            if not chunk:
                raise Closed("connection closed by the server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Transcript:
    """What one probe saw: rows of (step, what the client saw, seconds since connect)."""

    def __init__(self, probe):
        self.probe, self.rows = probe, []

    def add(self, step, seen, secs):
        self.rows.append({"probe": self.probe, "step": step, "seen": seen, "secs": round(secs, 2)})


def connect(t, port, tls, timeout=10):
    start = time.monotonic()
    try:
        return Conn(port, tls, timeout)
    except (socket.timeout, TimeoutError):
        t.add("connect", f"connect timeout ({timeout} s)", time.monotonic() - start)
    except ConnectionRefusedError:
        t.add("connect", "connection refused", time.monotonic() - start)
    except ssl.SSLCertVerificationError as e:
        t.add("connect", f"TLS certificate: {e.verify_message}", time.monotonic() - start)
    except (ssl.SSLError, OSError) as e:
        t.add("connect", f"{type(e).__name__}: {e}", time.monotonic() - start)
    return None


# ------------------------------------------------------------------ IMAP

def imap_cmd(c, t, tag, cmd, show=None, wait=IMAP_WAIT):
    """Sends one command; returns (tagged line or None, untagged lines). Records the tagged
    response (or the close / timeout) in the transcript."""
    step = show or cmd
    untagged = []
    try:
        c.send(f"{tag} {cmd}")
        while True:
            line = c.readline(wait)
            if line.startswith(tag + " "):
                t.add(step, line, c.elapsed())
                return line, untagged
            untagged.append(line)
            if line.startswith("* BYE"):
                t.add(step, line, c.elapsed())
    except Timeout:
        t.add(step, f"no answer within {wait} s (client timeout)", c.elapsed())
    except Closed as e:
        t.add(step, str(e), c.elapsed())
    except OSError as e:
        t.add(step, f"{type(e).__name__}: {e}", c.elapsed())
    return None, untagged


def imap_greeting(c, t):
    try:
        g = c.readline(IMAP_WAIT)
        t.add("greeting", g, c.elapsed())
        return g
    except (Timeout, Closed) as e:
        t.add("greeting", str(e) or "no greeting (timeout)", c.elapsed())
        return None


def imap_login(t, user, password, then=("list",), wait=IMAP_WAIT):
    """IMAPS login through the gateway. Returns a dict of what happened."""
    r = {"login": None, "list": [], "caps": ""}
    c = connect(t, 993, True)
    if not c:
        return r
    try:
        if imap_greeting(c, t) is None:
            return r
        tagged, _ = imap_cmd(c, t, "a1", f"LOGIN {user} \"{password}\"", show=f"LOGIN {user} ***",
                             wait=wait)
        r["login"] = tagged
        if not tagged or not tagged.startswith("a1 OK"):
            if tagged:  # what comes after a refused login: can the client try again?
                imap_cmd(c, t, "a2", "NOOP", wait=5)
            return r
        r["caps"] = tagged
        if "list" in then:
            line, unt = imap_cmd(c, t, "a2", 'LIST "" "*"')
            r["list"] = unt
            line, unt = imap_cmd(c, t, "a3", "SELECT INBOX")
            r["select"] = line
        imap_cmd(c, t, "a9", "LOGOUT", wait=10)
        return r
    finally:
        c.close()


def imap_search(user, token, wait=DELIVERY_WAIT):
    """Seconds until a message with token in its subject is in user's INBOX (IMAP), or None."""
    t = Transcript("search")
    c = connect(t, 993, True)
    if not c:
        return None
    try:
        imap_greeting(c, t)
        tagged, _ = imap_cmd(c, t, "s1", f"LOGIN {user}@corp.test \"{PW[user]}\"")
        if not tagged or " OK" not in tagged:
            return None
        start = time.monotonic()
        n = 2
        while True:
            imap_cmd(c, t, f"s{n}", "SELECT INBOX")
            tagged, unt = imap_cmd(c, t, f"s{n + 1}", f'SEARCH SUBJECT "{token}"')
            n += 2
            if any(u.startswith("* SEARCH ") and len(u.split()) > 2 for u in unt):
                return time.monotonic() - start
            if time.monotonic() - start > wait:
                return None
            time.sleep(0.3)
    finally:
        c.close()


def maildir_has(user, token):
    for f in glob.glob(f"{STATE}/mail/{user}/Maildir/**/*", recursive=True):
        if os.path.isfile(f) and ("/cur/" in f or "/new/" in f):
            try:
                if token.encode() in open(f, "rb").read(65536):
                    return True
            except OSError:
                pass
    return False


def wait_maildir(user, token, wait=DELIVERY_WAIT):
    start = time.monotonic()
    while time.monotonic() - start <= wait:
        if maildir_has(user, token):
            return time.monotonic() - start
        time.sleep(0.2)
    return None


# ------------------------------------------------------------------ SMTP

def smtp_reply(c, t, step, wait=SMTP_WAIT):
    """Reads one (multi-line) reply; records it; returns (code, lines) or (None, [])."""
    lines = []
    try:
        while True:
            line = c.readline(wait)
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        shown = lines[-1] if not step.startswith("EHLO") else " | ".join(l[4:] for l in lines)
        t.add(step, shown if not step.startswith("EHLO") else f"{lines[0][:3]} {shown}", c.elapsed())
        return int(lines[-1][:3]) if lines[-1][:3].isdigit() else None, lines
    except Timeout:
        t.add(step, f"no answer within {wait} s (client timeout)", c.elapsed())
    except Closed as e:
        t.add(step, str(e), c.elapsed())
    except OSError as e:
        t.add(step, f"{type(e).__name__}: {e}", c.elapsed())
    return None, []


def smtp_cmd(c, t, cmd, show=None, wait=SMTP_WAIT):
    try:
        c.send(cmd)
    except OSError as e:
        t.add(show or cmd, f"{type(e).__name__}: {e}", c.elapsed())
        return None, []
    return smtp_reply(c, t, show or cmd, wait)


def smtp_session(t, port, *, starttls=False, tls=False, auth=None, mail_from, rcpts, token=None,
                 before_tls=False):
    """One SMTP conversation. Returns a dict: codes per step, and whether DATA was accepted."""
    r = {"ehlo": [], "auth": None, "mail": None, "rcpt": [], "data": None}
    c = connect(t, port, tls)
    if not c:
        return r
    try:
        code, _ = smtp_reply(c, t, "greeting")
        if code != 220:
            return r
        code, ehlo = smtp_cmd(c, t, "EHLO client.outside.test")
        r["ehlo"] = ehlo
        if before_tls:  # what 587 says to MAIL before STARTTLS
            code, lines = smtp_cmd(c, t, f"MAIL FROM:<{mail_from}>")
            r["mail_before_tls"] = lines[-1] if lines else None
            smtp_cmd(c, t, "RSET")
        if starttls:
            code, _ = smtp_cmd(c, t, "STARTTLS")
            if code != 220:
                return r
            try:
                c.starttls()
            except (ssl.SSLError, OSError) as e:
                t.add("TLS handshake", f"{type(e).__name__}: {e}", c.elapsed())
                return r
            code, ehlo = smtp_cmd(c, t, "EHLO client.outside.test")
            r["ehlo"] = ehlo
        if auth:
            user, pw = auth
            blob = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
            code, lines = smtp_cmd(c, t, f"AUTH PLAIN {blob}", show=f"AUTH PLAIN ({user}, ***)")
            r["auth"] = lines[-1] if lines else None
            if code != 235:
                smtp_cmd(c, t, "QUIT", wait=5)
                return r
        code, lines = smtp_cmd(c, t, f"MAIL FROM:<{mail_from}>")
        r["mail"] = lines[-1] if lines else None
        if code != 250:
            smtp_cmd(c, t, "QUIT", wait=5)
            return r
        ok = 0
        for rcpt in rcpts:
            code, lines = smtp_cmd(c, t, f"RCPT TO:<{rcpt}>")
            r["rcpt"].append(lines[-1] if lines else None)
            ok += code == 250
        if not ok:
            smtp_cmd(c, t, "QUIT", wait=5)
            return r
        code, _ = smtp_cmd(c, t, "DATA")
        if code != 354:
            return r
        msg = (f"From: <{mail_from}>\r\nTo: {', '.join('<%s>' % x for x in rcpts)}\r\n"
               f"Subject: mrd-selftest {token}\r\nMessage-ID: <{token}@outside.test>\r\n\r\n"
               f"deployment selftest {token}\r\n.")
        c.sock.sendall(msg.encode() + b"\r\n")
        code, lines = smtp_reply(c, t, "DATA (message)")
        r["data"] = lines[-1] if lines else None
        smtp_cmd(c, t, "QUIT", wait=5)
        return r
    finally:
        c.close()


def token():
    return uuid.uuid4().hex[:12]


# ------------------------------------------------------------------ probes

def tcp_state(ip, port, timeout=2.0):
    try:
        socket.create_connection((ip, port), timeout=timeout).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timeout"
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror}"


def run_probes():
    """The client probes every scenario runs, in order. Returns (rows, facts)."""
    rows, facts = [], {}
    # IMAPS: alice logs in, lists and selects.
    t = Transcript("IMAPS 993 alice")
    facts["imap"] = imap_login(t, "alice@corp.test", PW["alice"])
    rows += t.rows
    # A client that waits less than the gateway (mailready's default is 5 s, an iPhone's
    # longer): what it sees when the login takes long.
    login_step = [r for r in t.rows if r["step"].startswith("LOGIN")]
    if login_step and login_step[0]["secs"] > 10:
        t = Transcript("IMAPS 993 alice, client waits 10 s")
        imap_login(t, "alice@corp.test", PW["alice"], then=(), wait=10)
        rows += t.rows
    # IMAPS: a wrong password.
    t = Transcript("IMAPS 993 wrong password")
    facts["imap_bad"] = imap_login(t, "alice@corp.test", "wrong-" + PW["alice"][:5], then=())
    rows += t.rows
    # 587: STARTTLS, AUTH, alice -> bob.
    t = Transcript("SMTP 587 AUTH alice->bob")
    facts["t587"] = token()
    facts["s587"] = smtp_session(t, 587, starttls=True, auth=("alice@corp.test", PW["alice"]),
                                 mail_from="alice@corp.test", rcpts=["bob@corp.test"],
                                 token=facts["t587"])
    rows += t.rows
    # 587: no AUTH (after STARTTLS), to bob.
    t = Transcript("SMTP 587 no AUTH ->bob")
    facts["t587n"] = token()
    facts["s587n"] = smtp_session(t, 587, starttls=True, mail_from="alice@corp.test",
                                  rcpts=["bob@corp.test"], token=facts["t587n"])
    rows += t.rows
    # 465: TLS, AUTH (bob -> alice).
    t = Transcript("SMTP 465 AUTH bob->alice")
    facts["t465"] = token()
    facts["s465"] = smtp_session(t, 465, tls=True, auth=("bob@corp.test", PW["bob"]),
                                 mail_from="bob@corp.test", rcpts=["alice@corp.test"],
                                 token=facts["t465"])
    rows += t.rows
    # 25: inbound mail for bob from a foreign sender.
    t = Transcript("SMTP 25 inbound ->bob")
    facts["t25"] = token()
    facts["s25"] = smtp_session(t, 25, mail_from="sender@elsewhere.test", rcpts=["bob@corp.test"],
                                token=facts["t25"])
    rows += t.rows
    # 25: relaying to a foreign domain.
    t = Transcript("SMTP 25 relay ->elsewhere.test")
    facts["t25r"] = token()
    facts["s25r"] = smtp_session(t, 25, mail_from="sender@elsewhere.test", rcpts=[FOREIGN],
                                 token=facts["t25r"])
    rows += t.rows
    return rows, facts


def accepted(s):
    return bool(s.get("data") and s["data"].startswith("250"))


def ok_login(f):
    return bool(f.get("login") and f["login"].startswith("a1 OK"))


def norm(seen):
    """What a client sees, without what changes every time (queue ids, timestamps, timings)."""
    seen = re.sub(r"queued as \w+", "queued as ID", seen)
    seen = re.sub(r" \[[\w.-]+:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]", " [HOST:TIME]", seen)
    return re.sub(r"\(\d+\.\d+ \+ \d+\.\d+ (\+ \d+\.\d+ )?secs\)", "(TIME)", seen)


def keyed(rows):
    """(probe, step, n-th time) -> row."""
    out, seen = {}, {}
    for r in rows:
        k = (r["probe"], r["step"])
        seen[k] = seen.get(k, 0) + 1
        out[k + (seen[k],)] = r
    return out


def print_table(title, rows, healthy=None):
    """All rows, or (given the healthy run's rows) only those a client would notice: another
    answer, a missing or an extra step, or a step that took over a second longer."""
    shown = rows
    if healthy is not None:
        h = keyed(healthy)
        shown = []
        for k, r in keyed(rows).items():
            base = h.get(k)
            if base is None or norm(base["seen"]) != norm(r["seen"]) or r["secs"] > base["secs"] + 1:
                shown.append(r)
        missing = [k for k in h if k not in keyed(rows)]
        for k in missing:
            shown.append({"probe": k[0], "step": k[1], "seen": "(step not reached)", "secs": 0.0})
    print(f"\n--- {title}: what the client sees"
          + (" (only what differs from the healthy run)" if healthy is not None else ""))
    if not shown:
        print("  (nothing differs)")
    w = max([len(r["probe"]) for r in shown] + [10])
    s = max([len(r["step"]) for r in shown] + [10])
    for r in shown:
        seen = r["seen"] if len(r["seen"]) <= 150 else r["seen"][:147] + "..."
        print(f"  {r['probe']:<{w}}  {r['step']:<{s}}  {r['secs']:6.2f}s  {seen}")
    print()


def control(*a):
    start = time.monotonic()
    p = subprocess.run([args.control, *a], capture_output=True, text=True)
    took = time.monotonic() - start
    if p.returncode != 0:
        print(p.stdout + p.stderr, file=sys.stderr)
    return p.returncode == 0, took


# ------------------------------------------------------------------ baseline

def baseline():
    print("== baseline")
    check("mail.corp.test -> 198.51.100.1", socket.gethostbyname(MAIL) == GW_IP)
    for name in ("mailstore.corp.test", "ldap.corp.test"):
        try:
            socket.getaddrinfo(name, 143)
            check(f"{name} does not resolve from outside", False, "it resolved")
        except socket.gaierror:
            check(f"{name} does not resolve from outside", True)
    # Firewall: only 25, 465, 587, 993 reach the gateway; the inside is not reachable.
    targets = [(GW_IP, p) for p in (25, 465, 587, 993, 143, 110, 389, 636, 22, 80, 443)] + \
              [(MAIL_IP, 143), (MAIL_IP, 25), (DIR_IP, 389)]
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        states = dict(zip(targets, pool.map(lambda x: tcp_state(*x), targets)))
    for (ip, port), st in states.items():
        want = "open" if ip == GW_IP and port in (25, 465, 587, 993) else "timeout"
        check(f"from outside {ip}:{port} is {want}", st == want, st)
    observations["firewall"] = {f"{ip}:{port}": st for (ip, port), st in states.items()}

    # TLS: what the gateway sends, and that it verifies.
    p = subprocess.run(["openssl", "s_client", "-connect", f"{GW_IP}:993", "-servername", MAIL,
                        "-CAfile", CA, "-verify_hostname", MAIL, "-verify_return_error",
                        "-showcerts"], input="", capture_output=True, text=True, timeout=20)
    certs = p.stdout.count("-----BEGIN CERTIFICATE-----")
    check("993 sends leaf + intermediate (2 certificates)", certs == 2, f"{certs}")
    check("993 chain verifies to pki/root.pem for mail.corp.test",
          "Verify return code: 0 (ok)" in p.stdout, p.stdout[-300:] + p.stderr[-300:])
    for port, opt in ((587, ["-starttls", "smtp"]), (465, [])):
        p = subprocess.run(["openssl", "s_client", "-connect", f"{GW_IP}:{port}", "-servername",
                            MAIL, "-CAfile", CA, "-verify_hostname", MAIL, "-verify_return_error",
                            *opt], input="", capture_output=True, text=True, timeout=20)
        check(f"{port} TLS verifies to pki/root.pem", "Verify return code: 0 (ok)" in p.stdout,
              p.stdout[-300:] + p.stderr[-300:])

    # IMAPS through the proxy.
    t = Transcript("IMAPS 993 alice")
    r = imap_login(t, "alice@corp.test", PW["alice"])
    check("IMAPS: alice logs in through the gateway", ok_login(r), r["login"])
    boxes = {}
    for u in r["list"]:
        m = re.match(r'\* LIST \(([^)]*)\) "[^"]*" "?([^"]*)"?$', u)
        if m:
            boxes[m.group(2)] = m.group(1)
    check("IMAPS: LIST shows INBOX", "INBOX" in boxes, boxes)
    for box, flag in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash")):
        check(f"IMAPS: {box} with SPECIAL-USE {flag}", flag in boxes.get(box, ""), boxes)
    check("IMAPS: capabilities after login include IDLE and SPECIAL-USE",
          "IDLE" in r["caps"] and "SPECIAL-USE" in r["caps"], r["caps"])
    check("IMAPS: SELECT INBOX", (r.get("select") or "").startswith("a3 OK"), r.get("select"))
    t = Transcript("IMAPS login as plain uid")
    r = imap_login(t, "bob", PW["bob"], then=())
    check("IMAPS: 'bob' (uid, no domain) logs in too", ok_login(r), r["login"])
    t = Transcript("IMAPS 993 wrong password")
    r = imap_login(t, "alice@corp.test", "wrong", then=())
    check("IMAPS: wrong password -> NO [AUTHENTICATIONFAILED]",
          (r["login"] or "").startswith("a1 NO [AUTHENTICATIONFAILED]"), r["login"])
    observations["baseline-imap-wrong-password"] = t.rows

    # IDLE sees new mail.
    idle_check()

    # 587 STARTTLS + AUTH -> bob, checked by IMAP.
    t = Transcript("SMTP 587")
    tok = token()
    s = smtp_session(t, 587, starttls=True, auth=("alice@corp.test", PW["alice"]),
                     mail_from="alice@corp.test", rcpts=["bob@corp.test"], token=tok, before_tls=True)
    pre = " ".join(s["ehlo"])
    check("587: before STARTTLS no AUTH offered, MAIL refused 530 5.7.0",
          (s.get("mail_before_tls") or "").startswith("530 5.7.0"), s.get("mail_before_tls"))
    check("587: after STARTTLS AUTH PLAIN LOGIN offered", "AUTH PLAIN LOGIN" in pre, pre)
    check("587: AUTH PLAIN alice -> 235 2.7.0", (s["auth"] or "").startswith("235 2.7.0"), s["auth"])
    check("587: message accepted (250 2.0.0)", (s["data"] or "").startswith("250 2.0.0"), s["data"])
    took = imap_search("bob", tok)
    check("587: delivered to bob's INBOX (IMAP SEARCH)", took is not None)
    if took is not None:
        print(f"     (seen by IMAP after {took:.2f} s)")
    # 465.
    t = Transcript("SMTP 465")
    tok = token()
    s = smtp_session(t, 465, tls=True, auth=("bob@corp.test", PW["bob"]), mail_from="bob@corp.test",
                     rcpts=["alice@corp.test"], token=tok)
    check("465: AUTH and message accepted", accepted(s), s)
    check("465: delivered to alice's INBOX (IMAP SEARCH)", imap_search("alice", tok) is not None)
    # 25 as MX.
    t = Transcript("SMTP 25")
    tok = token()
    s = smtp_session(t, 25, mail_from="sender@elsewhere.test",
                     rcpts=["nobody@corp.test", FOREIGN, "bob@corp.test"], token=tok)
    check("25: no AUTH offered", not any("AUTH" in l for l in s["ehlo"]), s["ehlo"])
    check("25: STARTTLS offered", any("STARTTLS" in l for l in s["ehlo"]), s["ehlo"])
    check("25: unknown user -> 550 5.1.1", (s["rcpt"][0] or "").startswith("550 5.1.1"), s["rcpt"])
    check("25: relaying to elsewhere.test -> 554 5.7.1", (s["rcpt"][1] or "").startswith("554 5.7.1"),
          s["rcpt"])
    check("25: mail for bob accepted and delivered", accepted(s) and wait_maildir("bob", tok) is not None, s)
    observations["baseline-smtp25"] = t.rows
    # 587 without AUTH; wrong password.
    t = Transcript("SMTP 587 no AUTH")
    s = smtp_session(t, 587, starttls=True, mail_from="alice@corp.test", rcpts=["bob@corp.test"],
                     token=token())
    check("587 without AUTH: RCPT refused 554 5.7.1", (s["rcpt"][0] or "").startswith("554 5.7.1"),
          s["rcpt"])
    t = Transcript("SMTP 587 wrong password")
    s = smtp_session(t, 587, starttls=True, auth=("alice@corp.test", "wrong"),
                     mail_from="alice@corp.test", rcpts=["bob@corp.test"], token=token())
    check("587: wrong password -> 535 5.7.8", (s["auth"] or "").startswith("535 5.7.8"), s["auth"])
    observations["baseline-smtp587-wrong-password"] = t.rows


def idle_check():
    t = Transcript("IDLE")
    c = connect(t, 993, True)
    if not check("IDLE: connect", c is not None):
        return
    try:
        imap_greeting(c, t)
        tagged, _ = imap_cmd(c, t, "i1", f"LOGIN alice@corp.test \"{PW['alice']}\"")
        imap_cmd(c, t, "i2", "SELECT INBOX")
        c.send("i3 IDLE")
        line = c.readline(10)
        check("IDLE: server says '+ idling'", line.startswith("+"), line)
        tok = token()
        t2 = Transcript("IDLE sender")
        smtp_session(t2, 465, tls=True, auth=("bob@corp.test", PW["bob"]), mail_from="bob@corp.test",
                     rcpts=["alice@corp.test"], token=tok)
        got, start = None, time.monotonic()
        while time.monotonic() - start < 10:
            line = c.readline(10 - (time.monotonic() - start))
            if re.match(r"\* \d+ EXISTS", line):
                got = time.monotonic() - start
                break
        check("IDLE: new mail is announced (* N EXISTS)", got is not None)
        c.send("DONE")
        while True:
            line = c.readline(10)
            if line.startswith("i3 "):
                break
        check("IDLE: DONE -> OK", line.startswith("i3 OK"), line)
    except (Timeout, Closed) as e:
        check("IDLE", False, repr(e))
    finally:
        c.close()


# ------------------------------------------------------------------ scenarios

def log_has(name, text):
    try:
        return text in open(f"{STATE}/log/{name}").read()
    except OSError:
        return False


def scenario(name):
    print(f"\n== scenario {name}")
    ok, took = control("break", name)
    check(f"{name}: break works, in < 2 s", ok and took < 2, f"{took:.2f} s")
    ok2, took2 = control("break", name)
    check(f"{name}: break again is a no-op, in < 2 s", ok2 and took2 < 2, f"{took2:.2f} s")
    rows, f = run_probes()
    observations[name] = rows
    print_table(name, rows, observations.get("healthy"))
    imap, s587, s587n, s25r = f["imap"], f["s587"], f["s587n"], f["s25r"]
    # Where does accepted mail go while broken (Maildir, DELIVERY_WAIT s)?
    arrived = {k: wait_maildir(u, f[k], DELIVERY_WAIT if k == "t587" else 1)
               if accepted(f["s" + k[1:]]) else None
               for k, u in (("t587", "bob"), ("t587n", "bob"), ("t465", "alice"), ("t25", "bob"))}

    if name == "directory-down":
        check("IMAP login refused (NO), not OK", (imap["login"] or "").startswith("a1 NO"), imap["login"])
        check("SMTP AUTH refused", not (s587["auth"] or "235").startswith("235"), s587["auth"])
    elif name == "backend-down":
        check("IMAP login not OK", not ok_login(imap), imap["login"])
        check("SMTP 587 still accepts", accepted(s587), s587)
        check("accepted mail is not delivered while the backend is down", arrived["t587"] is None)
    elif name == "dmz-drops-imap":
        check("IMAP login not OK", not ok_login(imap), imap["login"])
        check("SMTP 587 accepts and delivers", accepted(s587) and arrived["t587"] is not None)
    elif name == "mta-no-delivery":
        check("IMAP login OK", ok_login(imap), imap["login"])
        check("SMTP 587 accepts", accepted(s587), s587)
        check("accepted mail is not delivered", arrived["t587"] is None and arrived["t25"] is None)
    elif name == "open-relay-25":
        check("25 relays to elsewhere.test (250 at RCPT and DATA)", accepted(s25r), s25r)
        time.sleep(1)
        check("the relayed message was discarded on the gateway (never left)",
              log_has("gateway-postfix.log", "status=sent (open-relay-25"), "gateway log")
    elif name == "submission-no-auth":
        check("587 accepts MAIL/RCPT/DATA for bob without AUTH", accepted(s587n), s587n)
        check("... and delivers it", arrived["t587n"] is not None)

    ok, took = control("heal")
    check(f"{name}: heal works, in < 2 s", ok and took < 2, f"{took:.2f} s")
    # Mail accepted while broken and not yet delivered arrives after heal (none is lost),
    # except what the open relay discarded.
    for k, u in (("t587", "bob"), ("t25", "bob")):
        if accepted(f["s" + k[1:]]) and arrived[k] is None:
            after = wait_maildir(u, f[k], 15)
            check(f"{name}: mail accepted while broken ({k[1:]}) arrives after heal", after is not None)
            observations[name].append({"probe": f"after heal ({k[1:]})", "step": "delivery",
                                       "seen": "delivered" if after is not None else "not delivered",
                                       "secs": round(after or 15, 2)})
    t = Transcript("after heal")
    r = imap_login(t, "alice@corp.test", PW["alice"], then=())
    check(f"{name}: after heal IMAP login OK", ok_login(r), r["login"])


def main():
    t0 = time.monotonic()
    try:
        baseline()
    except Exception as e:  # a check that raises is a failed check
        check("baseline", False, f"{type(e).__name__}: {e}")
    if not args.no_scenarios:
        rows, _ = run_probes()
        observations["healthy"] = rows
        print_table("healthy (no switch on)", rows)
        for name in args.scenario or SCENARIOS:
            try:
                scenario(name)
            except Exception as e:
                check(name, False, f"{type(e).__name__}: {e}")
                control("heal")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(observations, fh, indent=1)
    print(f"\nselftest took {time.monotonic() - t0:.0f} s")
    if failures:
        print("failed: " + "; ".join(failures))
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
