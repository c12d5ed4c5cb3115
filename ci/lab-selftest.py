#!/usr/bin/python3
"""Checks that a running mailready lab honours its contract. Run it inside the namespace:
    ci/lab.sh selftest        (= ip netns exec mailready-lab /usr/bin/python3 ci/lab-selftest.py LAB_DIR)
Standard library only; it uses no mailready code, so it can serve as an oracle.
Exits 0 when every check passes. It makes no failed logins (Dovecot's auth penalty would
slow down whatever runs next from 127.0.0.1)."""
import glob, imaplib, os, poplib, smtplib, socket, ssl, sys, time, uuid

LAB = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MAILREADY_LAB_DIR", "/tmp/mailready-lab")
MAIL, FW = "mail.lab.test", "fw.lab.test"
CA = f"{LAB}/pki/root.pem"
PW = {u: open(f"{LAB}/secrets/{u}.password").read() for u in ("alice", "bob")}
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f"  [{detail}]" if detail and not cond else ""))
    if not cond:
        failures.append(name)


def ctx():
    return ssl.create_default_context(cafile=CA)  # verifies the chain and the hostname


def attempt(name, fn):
    try:
        fn()
    except Exception as e:  # a check that raises is a failed check
        check(name, False, f"{type(e).__name__}: {e}")


def timed_connect(host, port, timeout):
    t = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return "open", time.monotonic() - t
    except ConnectionRefusedError:
        return "refused", time.monotonic() - t
    except socket.timeout:
        return "timeout", time.monotonic() - t


def names():
    check("mail.lab.test -> 127.0.10.10", socket.gethostbyname(MAIL) == "127.0.10.10")
    check("fw.lab.test -> 127.0.10.20", socket.gethostbyname(FW) == "127.0.10.20")
    t = time.monotonic()
    try:
        socket.getaddrinfo("nothere.lab.test", 25)
        check("nothere.lab.test does not resolve", False, "it resolved")
    except socket.gaierror:
        check("nothere.lab.test does not resolve, fast", time.monotonic() - t < 3)
    s = socket.create_connection((MAIL, 143), timeout=5)
    src, dst = s.getsockname()[0], s.getpeername()[0]
    s.close()
    check("client source address differs from server address", src != dst, f"{src} -> {dst}")


def imap():
    m = imaplib.IMAP4(MAIL, 143, timeout=10)
    caps = m.capabilities
    check("143 plain: STARTTLS and LOGINDISABLED offered", "STARTTLS" in caps and "LOGINDISABLED" in caps, caps)
    check("143 plain: no AUTH=PLAIN/LOGIN before STARTTLS",
          "AUTH=PLAIN" not in caps and "AUTH=LOGIN" not in caps, caps)
    m.starttls(ssl_context=ctx())
    check("143 STARTTLS: AUTH=PLAIN after TLS", "AUTH=PLAIN" in m.capabilities, m.capabilities)
    check("143 STARTTLS: alice logs in", m.login("alice@lab.test", PW["alice"])[0] == "OK")
    m.logout()
    m = imaplib.IMAP4_SSL(MAIL, 993, ssl_context=ctx(), timeout=10)
    check("993: alice logs in", m.login("alice@lab.test", PW["alice"])[0] == "OK")
    typ, boxes = m.list()
    sent = [b for b in boxes if b"\\Sent" in b]
    check("993: a mailbox with \\Sent special-use", bool(sent), boxes)
    m.logout()
    m = imaplib.IMAP4_SSL(FW, 993, ssl_context=ctx(), timeout=10)
    check("fw 993: TLS verifies for fw.lab.test, bob logs in via CRAM-MD5",
          m.login_cram_md5("bob@lab.test", PW["bob"])[0] == "OK")
    m.logout()


def pop3():
    p = poplib.POP3(MAIL, 110, timeout=10)
    caps = p.capa()
    check("110 plain: STLS offered, no USER/PLAIN before it",
          "STLS" in caps and "USER" not in caps and "PLAIN" not in " ".join(caps.get("SASL", [])), caps)
    p.stls(context=ctx())
    p.user("bob@lab.test")
    check("110 STLS: bob logs in", p.pass_(PW["bob"]).startswith(b"+OK"))
    p.quit()
    p = poplib.POP3_SSL(MAIL, 995, context=ctx(), timeout=10)
    p.user("alice@lab.test")
    check("995: alice logs in", p.pass_(PW["alice"]).startswith(b"+OK"))
    p.quit()


def smtp():
    s = smtplib.SMTP(MAIL, 25, timeout=10)
    s.ehlo("client.lab.test")
    check("25: STARTTLS offered, no AUTH", s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features)
    s.starttls(context=ctx())
    s.ehlo("client.lab.test")
    check("25 after STARTTLS: still no AUTH", not s.has_extn("auth"), s.esmtp_features)
    s.mail("someone@example.org")
    code, msg = s.rcpt("someone@example.net")
    check("25: not an open relay", code == 554 and b"Relay access denied" in msg, (code, msg))
    s.quit()

    s = smtplib.SMTP(MAIL, 587, timeout=10)
    s.ehlo("client.lab.test")
    check("587 plain: STARTTLS offered, no AUTH before it",
          s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features)
    code, msg = s.mail("alice@lab.test")
    check("587 plain: MAIL refused until STARTTLS", code == 530, (code, msg))
    s.starttls(context=ctx())
    s.ehlo("client.lab.test")
    mechs = s.esmtp_features.get("auth", "").split()
    check("587 after STARTTLS: AUTH PLAIN LOGIN CRAM-MD5",
          {"PLAIN", "LOGIN", "CRAM-MD5"} <= set(mechs), mechs)
    s.mail("alice@lab.test")
    code, msg = s.rcpt("bob@lab.test")
    check("587: unauthenticated RCPT refused", code >= 500, (code, msg))
    s.rset()
    s.user, s.password = "alice@lab.test", PW["alice"]
    code, msg = s.auth("PLAIN", s.auth_plain)
    check("587: AUTH PLAIN as alice", code == 235, (code, msg))
    tag = uuid.uuid4().hex
    s.sendmail("alice@lab.test", ["bob@lab.test"],
               f"From: alice@lab.test\r\nTo: bob@lab.test\r\nSubject: lab {tag}\r\n\r\nhello\r\n")
    ext = uuid.uuid4().hex
    refused = None
    try:
        s.sendmail("alice@lab.test", ["someone@example.net"],
                   f"From: alice@lab.test\r\nTo: someone@example.net\r\nSubject: out {ext}\r\n\r\nx\r\n")
    except smtplib.SMTPRecipientsRefused as e:
        refused = e
    s.quit()
    check("587: alice -> bob lands in bob's maildir", wait_for(f"{LAB}/mail/lab.test/bob/Maildir", tag), tag)
    if refused is None:  # accepted for an authenticated client: must bounce, not leave
        check("587: mail to example.net bounces back to alice",
              wait_for(f"{LAB}/mail/lab.test/alice/Maildir", ext), ext)
    else:  # what Postfix 3.7 does: the error transport makes smtpd refuse at RCPT
        code, msg = refused.recipients["someone@example.net"]
        check("587: mail to example.net refused (550 never delivers outside)",
              code == 550 and b"never delivers outside" in msg, (code, msg))
    log = open(f"{LAB}/log/postfix.log", errors="replace").read()
    check("postfix log: no SMTP client ever ran", "postfix/smtp[" not in log)

    s = smtplib.SMTP_SSL(MAIL, 465, context=ctx(), timeout=10)
    s.ehlo("client.lab.test")
    s.login("bob@lab.test", PW["bob"])
    check("465: implicit TLS, bob logs in", True)
    s.quit()


def wait_for(maildir, needle, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for f in glob.glob(f"{maildir}/new/*") + glob.glob(f"{maildir}/cur/*"):
            try:
                if needle in open(f, errors="replace").read():
                    return True
            except OSError:
                pass
        time.sleep(0.2)
    return False


def firewall():
    state, took = timed_connect(FW, 587, 5)
    check("fw 587: refused at once", state == "refused" and took < 1, (state, took))
    state, took = timed_connect(FW, 465, 3)
    check("fw 465: times out (filtered)", state == "timeout", (state, took))
    s = smtplib.SMTP(FW, 25, timeout=10)
    check("fw 25: answers 220", s.noop()[0] == 250)
    s.quit()
    for port in (587, 465):
        state, _ = timed_connect(MAIL, port, 3)
        check(f"mail {port}: open (no rules on the good host)", state == "open", state)


for part in (names, imap, pop3, smtp, firewall):
    attempt(part.__name__, part)
print(f"{'FAILED: ' + ', '.join(failures) if failures else 'all checks passed'}")
sys.exit(1 if failures else 0)
