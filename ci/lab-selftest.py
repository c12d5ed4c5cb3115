#!/usr/bin/python3
"""Checks that a running mailready lab honours its contract. Run it inside the namespace:
    ci/lab.sh selftest        (= ip netns exec mailready-lab /usr/bin/python3 ci/lab-selftest.py LAB_DIR)
Standard library and the openssl command only; it uses no mailready code, so it can serve as an oracle.
The defect hosts (expired, selfsigned, nochain, wrongname, weak, tls10, nostarttls, dark;
plainauth, nomech, cramonly, ntlmonly: a correct certificate)
are checked from the outside with `openssl s_client` and Python's ssl module: each shows its
one defect and nothing else; mail.lab.test still verifies cleanly.
Authentication: every mechanism on every port that offers it, from the outside, with the
clients in ci/lab/sasl_client.py (SCRAM, CRAM-MD5 and NTLMv2, checked against the RFC and MS-NLMP test
vectors first; independent of ci/lab/ntlm_auth.py, the lab's NTLM server, and of mailready);
plainauth, nomech, cramonly and ntlmonly show their one defect; carol's password survives IMAP quoting and
literals; failed logins are slowed by the failure delay only (no auth penalty: the lab
turns it off, so the few failed logins made here slow nothing that runs next).
Exits 0 when every check passes."""
import base64, concurrent.futures, datetime, glob, imaplib, os, poplib, re, smtplib, socket, ssl, subprocess, sys
import tempfile, time, uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab"))
import sasl_client  # noqa: E402  (ci/lab/sasl_client.py)

LAB = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MAILREADY_LAB_DIR", "/tmp/mailready-lab")
MAIL, FW = "mail.lab.test", "fw.lab.test"
CA = f"{LAB}/pki/root.pem"
PW = {u: open(f"{LAB}/secrets/{u}.password").read() for u in ("alice", "bob", "carol")}
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


# ---------------------------------------------------------------- defect hosts
# One deliberate defect per host (ci/lab.sh make_pki), observed from the outside with
# `openssl s_client` (the oracle for verify codes, what is sent, protocol versions) and
# Python's ssl module. s_client runs are independent, so they run in parallel.

DEFECT_IP = {"expired": "127.0.10.31", "selfsigned": "127.0.10.32", "nochain": "127.0.10.33",
             "wrongname": "127.0.10.34", "weak": "127.0.10.35", "tls10": "127.0.10.36",
             "nostarttls": "127.0.10.37", "plainauth": "127.0.10.38", "nomech": "127.0.10.39",
             "cramonly": "127.0.10.42", "ntlmonly": "127.0.10.43"}
DARK, DARK_IP = "dark.lab.test", "127.0.10.30"
# port -> s_client -starttls protocol (None: implicit TLS)
TLS_PORTS = {993: None, 143: "imap", 587: "smtp", 465: None, 25: "smtp"}
LEGACY = ("-cipher", "DEFAULT:@SECLEVEL=0")  # TLS 1.0/1.1 need level 0 on the client too
INTERMEDIATE = f"{LAB}/pki/intermediate.pem"
_tls_cache = {}


class TLS:
    """One `openssl s_client` run: what it printed, parsed."""

    def __init__(self, host, port, extra):
        cmd = ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", host,
               "-CAfile", CA, "-no-CApath", "-no-CAstore", "-showcerts", *extra]
        if TLS_PORTS.get(port):
            cmd += ["-starttls", TLS_PORTS[port]]
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=15)
            self.out = r.stdout + r.stderr
        except subprocess.TimeoutExpired:
            self.out = "s_client timed out"
        m = re.findall(r"Verify return code: (\d+) \(([^)]*)\)", self.out)
        self.verify = int(m[-1][0]) if m else None
        self.verify_errors = {int(n) for n in re.findall(r"verify error:num=(\d+)", self.out)}
        m = re.search(r"^\s*Protocol\s*: (\S+)", self.out, re.M)
        # "New, X, Cipher is Y": X is the cipher's version, not the protocol; (NONE) = failed
        self.handshake = bool(re.search(r"^New, .*Cipher is (?!\(NONE\))", self.out, re.M))
        self.protocol = m.group(1) if m and self.handshake else None
        self.certs = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                                self.out, re.S)

    def __repr__(self):
        return f"verify={self.verify} errors={sorted(self.verify_errors)} " \
               f"protocol={self.protocol} certs={len(self.certs)}"

    def leaf(self):
        return cert_info(self.certs[0]) if self.certs else {}


def cert_info(pem):
    r = subprocess.run(["openssl", "x509", "-noout", "-text", "-nameopt", "RFC2253"],
                       input=pem, capture_output=True, text=True)
    t = r.stdout
    get = lambda rx: (re.search(rx, t, re.M) or [None, None])[1]
    return {"subject": get(r"^\s*Subject: (.*)$"), "issuer": get(r"^\s*Issuer: (.*)$"),
            "not_before": iso_time(get(r"Not Before: (.*)$")),
            "not_after": iso_time(get(r"Not After : (.*)$")),
            "bits": get(r"Public-Key: \((\d+) bit\)"),
            "sig": get(r"^\s*Signature Algorithm: (\S+)"),
            "san": get(r"X509v3 Subject Alternative Name:.*\n\s*(.*)$"),
            "eku": get(r"X509v3 Extended Key Usage:.*\n\s*(.*)$")}


def iso_time(text):  # "Jan  1 00:00:00 2024 GMT" -> "2024-01-01 00:00:00Z"
    try:
        return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").strftime("%Y-%m-%d %H:%M:%SZ")
    except (TypeError, ValueError):
        return text


def verify_offline(pem, *args):
    """openssl verify of a certificate the server sent, against the lab root."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(pem + "\n")
        f.flush()
        r = subprocess.run(["openssl", "verify", "-CAfile", CA, "-purpose", "sslserver", *args, f.name],
                           capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def tls(host, port, *extra):
    key = (host, port, extra)
    if key not in _tls_cache:
        _tls_cache[key] = TLS(host, port, extra)
    return _tls_cache[key]


def prefetch(jobs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for key, res in zip(jobs, pool.map(lambda j: TLS(*j), jobs)):
            _tls_cache[key] = res


def pem_norm(pem):
    return "".join(pem.split())


def host_names():
    for name, ip in list(DEFECT_IP.items()) + [("dark", DARK_IP)]:
        check(f"{name}.lab.test -> {ip}", socket.gethostbyname(f"{name}.lab.test") == ip)


def defect_tls():
    intermediate = pem_norm(open(INTERMEDIATE).read())
    inter_subject = cert_info(open(INTERMEDIATE).read())["subject"]
    hosts = [MAIL] + [f"{h}.lab.test" for h in DEFECT_IP]
    jobs = []
    for h in hosts:
        for port in ports_of(h):
            jobs.append((h, port, ("-verify_hostname", h)))
            if port in (993, 587, 465):  # TLS 1.0 on Dovecot (993) and Postfix (587, 465)
                jobs.append((h, port, ("-tls1",) + LEGACY))
    for port in TLS_PORTS:
        jobs.append(("tls10.lab.test", port, ("-tls1",) + LEGACY))
        jobs.append(("tls10.lab.test", port, ("-tls1_1",) + LEGACY))
    jobs += [("wrongname.lab.test", 993, ("-verify_hostname", "other.lab.test")),
             ("wrongname.lab.test", 465, ("-verify_hostname", "other.lab.test")),
             ("weak.lab.test", 993, ("-auth_level", "0", "-verify_hostname", "weak.lab.test")),
             ("weak.lab.test", 587, ("-auth_level", "0", "-verify_hostname", "weak.lab.test"))]
    prefetch(list(dict.fromkeys(jobs)))

    def sent_with_intermediate(r):
        return len(r.certs) == 2 and pem_norm(r.certs[1]) == intermediate

    def each(h, what, cond):  # cond(result) on every TLS port of h
        bad = {p: tls(h, p, "-verify_hostname", h) for p in ports_of(h)}
        bad = {p: r for p, r in bad.items() if not cond(r)}
        check(f"{h} {'/'.join(map(str, ports_of(h)))}: {what}", not bad, bad)

    # The good host, unchanged: verifies cleanly everywhere, sends leaf + intermediate.
    each(MAIL, "verifies (0), leaf + intermediate sent",
         lambda r: r.verify == 0 and not r.verify_errors and sent_with_intermediate(r))

    h = "expired.lab.test"
    each(h, 'verify error 10 "certificate has expired", intermediate sent',
         lambda r: r.verify == 10 and r.verify_errors == {10} and sent_with_intermediate(r))
    leaf = tls(h, 993, "-verify_hostname", h).leaf()
    check(f"{h}: notBefore 2024-01-01 00:00:00Z, notAfter 2024-03-31 23:59:59Z",
          (leaf.get("not_before"), leaf.get("not_after")) == ("2024-01-01 00:00:00Z", "2024-03-31 23:59:59Z"), leaf)
    good_leaf(h, leaf, inter_subject)

    h = "selfsigned.lab.test"
    each(h, 'verify error 18 "self-signed certificate", leaf sent alone',
         lambda r: r.verify == 18 and len(r.certs) == 1)
    leaf = tls(h, 993, "-verify_hostname", h).leaf()
    check(f"{h}: subject = issuer, SAN {h}, serverAuth",
          leaf.get("subject") == leaf.get("issuer") and leaf.get("san") == f"DNS:{h}"
          and "TLS Web Server Authentication" in (leaf.get("eku") or ""), leaf)
    good_leaf(h, leaf, leaf.get("subject"), what="RSA 2048, sha256, SAN")

    h = "nochain.lab.test"
    each(h, 'verify errors 20 "unable to get local issuer" / 21, leaf sent alone',
         lambda r: r.verify in (20, 21) and 20 in r.verify_errors and len(r.certs) == 1)
    r = tls(h, 993, "-verify_hostname", h)
    ok, detail = verify_offline(r.certs[0] if r.certs else "", "-untrusted", INTERMEDIATE,
                                "-verify_hostname", h)
    check(f"{h} 993: the leaf sent verifies once the client supplies the intermediate", ok, detail)
    good_leaf(h, tls(h, 993, "-verify_hostname", h).leaf(), inter_subject)

    h = "wrongname.lab.test"
    each(h, "verify error 62 hostname mismatch (-verify_hostname), intermediate sent",
         lambda r: r.verify == 62 and r.verify_errors == {62} and sent_with_intermediate(r))
    leaf = tls(h, 993, "-verify_hostname", h).leaf()
    check(f"{h}: leaf for other.lab.test only", leaf.get("san") == "DNS:other.lab.test"
          and "CN=other.lab.test" in (leaf.get("subject") or "").split(","), leaf)
    for port in (993, 465):
        r = tls(h, port, "-verify_hostname", "other.lab.test")
        check(f"{h} {port}: chain verifies (0) for other.lab.test", r.verify == 0, r)
    good_leaf(h, leaf, inter_subject, san="DNS:other.lab.test", what="RSA 2048, sha256, issuer")

    h = "weak.lab.test"
    each(h, "1024-bit key, verify errors 66/68 (key, SHA-1) at level 2, intermediate sent",
         lambda r: "Server public key is 1024 bit" in r.out and {66, 68} <= r.verify_errors
         and sent_with_intermediate(r))
    leaf = tls(h, 993, "-verify_hostname", h).leaf()
    check(f"{h}: leaf RSA 1024, sha1WithRSAEncryption, issued by the intermediate",
          leaf.get("bits") == "1024" and leaf.get("sig") == "sha1WithRSAEncryption"
          and leaf.get("issuer") == inter_subject and leaf.get("san") == f"DNS:{h}", leaf)
    for port in (993, 587):
        r = tls(h, port, "-auth_level", "0", "-verify_hostname", h)
        check(f"{h} {port}: verifies (0) at auth level 0 (weakness is the only defect)",
              r.verify == 0, r)
    good_leaf(h, leaf, inter_subject, bits="1024", sig="sha1WithRSAEncryption", what="SAN, issuer")

    h = "tls10.lab.test"
    each(h, "verifies (0), intermediate sent",
         lambda r: r.verify == 0 and sent_with_intermediate(r))
    for port in TLS_PORTS:
        for flag, want in (("-tls1", "TLSv1"), ("-tls1_1", "TLSv1.1")):
            r = tls(h, port, flag, *LEGACY)
            check(f"{h} {port}: {flag} handshake succeeds ({want})", r.protocol == want, r)
    good_leaf(h, tls(h, 993, "-verify_hostname", h).leaf(), inter_subject)

    h = "nostarttls.lab.test"
    each(h, "implicit TLS and IMAP STARTTLS verify (0), intermediate sent",
         lambda r: r.verify == 0 and sent_with_intermediate(r))
    good_leaf(h, tls(h, 993, "-verify_hostname", h).leaf(), inter_subject)

    for h in ("plainauth.lab.test", "nomech.lab.test", "cramonly.lab.test",
              "ntlmonly.lab.test"):  # their defects are in authentication
        each(h, "verifies (0), intermediate sent",
             lambda r: r.verify == 0 and sent_with_intermediate(r))
        good_leaf(h, tls(h, 993, "-verify_hostname", h).leaf(), inter_subject)

    # TLS 1.0 is refused everywhere but tls10 (Dovecot 993, Postfix 587 and 465; the
    # good host included).
    accepted = sorted(f"{k[0]}:{k[1]}" for k, r in _tls_cache.items()
                      if k[2] == ("-tls1",) + LEGACY and r.handshake and not k[0].startswith("tls10"))
    check("-tls1 (SECLEVEL=0 client) refused by every host but tls10", not accepted, accepted)

    # Python's ssl module (default context, the lab root): the same defects, as verify codes.
    want = {MAIL: None, "expired.lab.test": 10, "selfsigned.lab.test": 18,
            "nochain.lab.test": 20, "wrongname.lab.test": 62, "weak.lab.test": 66,
            "tls10.lab.test": None, "nostarttls.lab.test": None, "plainauth.lab.test": None,
            "nomech.lab.test": None, "cramonly.lab.test": None, "ntlmonly.lab.test": None}
    for h, code in want.items():
        try:
            ctx().wrap_socket(socket.create_connection((h, 993), timeout=10), server_hostname=h).close()
            got = None
        except ssl.SSLCertVerificationError as e:
            got = e.verify_code
        check(f"python ssl {h} 993: " + ("verifies" if code is None else f"verify_code {code}"),
              got == code, got)


def ports_of(h):  # the TLS ports of a host (nostarttls: no STARTTLS on SMTP)
    return [p for p in TLS_PORTS if not (h.startswith("nostarttls") and p in (587, 25))]


def good_leaf(h, leaf, issuer, san=None, bits="2048", sig="sha256WithRSAEncryption", what=""):
    """Everything but a host's one defect must be right: RSA 2048, SHA-256, SAN = the host
    name, serverAuth, issued by the intermediate, validity <= 398 days."""
    try:
        nb = datetime.datetime.fromisoformat(leaf["not_before"].replace("Z", "+00:00"))
        na = datetime.datetime.fromisoformat(leaf["not_after"].replace("Z", "+00:00"))
        days = (na - nb).days
    except (KeyError, AttributeError, ValueError):
        days = None
    check(f"{h}: leaf otherwise correct ({what or 'RSA 2048, sha256, SAN, issuer'}, serverAuth, "
          f"<= 398 days)",
          leaf.get("bits") == bits and leaf.get("sig") == sig
          and leaf.get("san") == (san or f"DNS:{h}") and leaf.get("issuer") == issuer
          and "TLS Web Server Authentication" in (leaf.get("eku") or "")
          and days is not None and days <= 398, (leaf, days))


def nostarttls():
    h = "nostarttls.lab.test"
    for port in (25, 587):
        s = smtplib.SMTP(h, port, timeout=10)
        s.ehlo("client.lab.test")
        check(f"{h} {port}: EHLO offers no STARTTLS", not s.has_extn("starttls"), s.esmtp_features)
        if port == 587:
            check(f"{h} 587: AUTH offered in the clear", s.has_extn("auth"), s.esmtp_features)
        s.quit()
    m = imaplib.IMAP4(h, 143, timeout=10)
    check(f"{h} 143: STARTTLS still offered", "STARTTLS" in m.capabilities, m.capabilities)
    m.logout()


def dark():
    # Each port must time out (DROP), none be refused or answer; tried at once (one 2 s wait).
    ports = (993, 143, 587, 465, 25)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(ports)) as pool:
        states = dict(zip(ports, pool.map(lambda p: timed_connect(DARK, p, 2), ports)))
    check(f"{DARK} 993/143/587/465/25: every connect times out (filtered)",
          all(st == "timeout" and took >= 1.9 for st, took in states.values()), states)


# ---------------------------------------------------------------- authentication
# Mechanisms (ci/lab.sh contract): every host but nomech offers ALL after TLS and the
# non-plaintext ones before it (IMAP 143 / POP3 110; SMTP 587 offers no AUTH before
# STARTTLS); plainauth offers ALL before TLS too; nomech only SCRAM-SHA-256, cramonly only
# CRAM-MD5, ntlmonly only NTLM (each from a Dovecot of its own).

ALL = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "NTLM"}
NOT_PLAINTEXT = ALL - {"PLAIN", "LOGIN"}
PLAINAUTH, NOMECH = "plainauth.lab.test", "nomech.lab.test"
CRAMONLY, NTLMONLY = "cramonly.lab.test", "ntlmonly.lab.test"
SOLO = {CRAMONLY: "CRAM-MD5", NTLMONLY: "NTLM"}  # (nomech: checked on its own below)
NTLM2_KEY, TARGET_INFO = 0x00080000, 0x00800000


def imap_mechs(caps):
    return {c[5:] for c in caps if c.startswith("AUTH=")}


def smtp_mechs(s):
    return set(s.esmtp_features.get("auth", "").split())


def imap_conn(host, port):
    if port == 993:
        return imaplib.IMAP4_SSL(host, 993, ssl_context=ctx(), timeout=10)
    m = imaplib.IMAP4(host, 143, timeout=10)
    m.starttls(ssl_context=ctx())
    return m


def smtp_conn(host, port):
    if port == 465:
        s = smtplib.SMTP_SSL(host, 465, context=ctx(), timeout=10)
    else:
        s = smtplib.SMTP(host, 587, timeout=10)
        s.ehlo("client.lab.test")
        s.starttls(context=ctx())
    s.ehlo("client.lab.test")
    return s


def auth_vectors():
    for name, ok in sasl_client.selftest():
        check(f"sasl_client: {name}", ok)
    # The copy Dovecot runs (ci/lab.sh installs ci/lab/ntlm_auth.py there).
    r = subprocess.run([sys.executable, "-I", f"{LAB}/dovecot/ntlm_auth.py", "--selftest"],
                       capture_output=True, text=True)
    check("ntlm_auth.py --selftest: RFC 1320 MD4, MS-NLMP 4.2.4 NTLMv2, round trips",
          r.returncode == 0, (r.stdout + r.stderr)[-800:])


def auth_offers():
    want_imap = {  # (host, port): (mechanisms, LOGINDISABLED)
        (MAIL, 143): (NOT_PLAINTEXT, True), (MAIL, "143+tls"): (ALL, False), (MAIL, 993): (ALL, False),
        (FW, 993): (ALL, False),
        (PLAINAUTH, 143): (ALL, False), (PLAINAUTH, "143+tls"): (ALL, False), (PLAINAUTH, 993): (ALL, False),
        (NOMECH, 143): ({"SCRAM-SHA-256"}, True), (NOMECH, "143+tls"): ({"SCRAM-SHA-256"}, True),
        (NOMECH, 993): ({"SCRAM-SHA-256"}, True)}
    for h, mech in SOLO.items():
        want_imap.update({(h, 143): ({mech}, True), (h, "143+tls"): ({mech}, True),
                          (h, 993): ({mech}, True)})
    for (host, port), (mechs, disabled) in want_imap.items():
        if port == 143:
            m = imaplib.IMAP4(host, 143, timeout=10)
        else:
            m = imap_conn(host, 993 if port == 993 else 143)
        caps = m.capabilities
        m.logout()
        check(f"{host} IMAP {port}: AUTH={' '.join(sorted(mechs))}"
              + (", LOGINDISABLED" if disabled else ", LOGIN allowed"),
              imap_mechs(caps) == mechs and ("LOGINDISABLED" in caps) == disabled, caps)
    want_pop = {(MAIL, 110): (NOT_PLAINTEXT, False), (MAIL, 995): (ALL, True),
                (PLAINAUTH, 110): (ALL, True), (NOMECH, 995): ({"SCRAM-SHA-256"}, None)}
    want_pop.update({(h, 995): ({mech}, None) for h, mech in SOLO.items()})
    for (host, port), (mechs, user) in want_pop.items():
        p = poplib.POP3_SSL(host, 995, context=ctx(), timeout=10) if port == 995 else poplib.POP3(host, 110, timeout=10)
        caps = p.capa()
        p.quit()
        check(f"{host} POP3 {port}: SASL {' '.join(sorted(mechs))}"
              + {True: ", USER", False: ", no USER", None: ""}[user],
              set(caps.get("SASL", [])) == mechs and (user is None or ("USER" in caps) == user), caps)
    want_smtp = {(MAIL, "587 before STARTTLS"): set(), (MAIL, 587): ALL, (MAIL, 465): ALL,
                 (PLAINAUTH, "587 before STARTTLS"): ALL, (PLAINAUTH, 587): ALL, (PLAINAUTH, 465): ALL,
                 (NOMECH, "587 before STARTTLS"): set(), (NOMECH, 587): {"SCRAM-SHA-256"},
                 (NOMECH, 465): {"SCRAM-SHA-256"}}
    for h, mech in SOLO.items():
        want_smtp.update({(h, "587 before STARTTLS"): set(), (h, 587): {mech}, (h, 465): {mech}})
    for (host, port), mechs in want_smtp.items():
        if isinstance(port, str):
            s = smtplib.SMTP(host, 587, timeout=10)
            s.ehlo("client.lab.test")
            starttls = s.has_extn("starttls")
        else:
            s, starttls = smtp_conn(host, port), True
        got = smtp_mechs(s)
        s.quit()
        check(f"{host} SMTP {port}: " + (f"AUTH {' '.join(sorted(mechs))}" if mechs else "no AUTH")
              + (", STARTTLS offered" if isinstance(port, str) else ""), got == mechs and starttls,
              (got, starttls))


def dovecot_logins():
    """imap-login's "Login: user=<...>, method=..." lines (which user a mechanism mapped to)."""
    with open(f"{LAB}/log/dovecot.log", errors="replace") as f:
        return re.findall(r"imap-login: Info: Login: user=<([^>]*)>, method=([A-Z0-9-]+)", f.read())


def auth_scram():
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
        for host, port, user in ((MAIL, 993, "alice"), (MAIL, 143, "carol"), (PLAINAUTH, 993, "bob")):
            m = imap_conn(host, port)
            c = sasl_client.Scram(mech, f"{user}@lab.test", PW[user])
            typ, _ = sasl_client.imap_authenticate(m, mech, c)
            m.logout()
            check(f"{host} IMAP {port}: AUTHENTICATE {mech} as {user}, server signature verified",
                  typ == "OK" and c.verified, typ)
        for host, port, user in ((MAIL, 587, "carol"), (MAIL, 465, "alice")):
            s = smtp_conn(host, port)
            c = sasl_client.Scram(mech, f"{user}@lab.test", PW[user])
            code, msg = sasl_client.smtp_authenticate(s, mech, c)
            s.quit()
            check(f"{host} SMTP {port}: AUTH {mech} as {user}, server signature verified",
                  code == 235 and c.verified, (code, msg))
    for host, port, user in ((NOMECH, 993, "alice"), (NOMECH, 143, "carol")):
        m = imap_conn(host, port)
        c = sasl_client.Scram("SCRAM-SHA-256", f"{user}@lab.test", PW[user])
        typ, _ = sasl_client.imap_authenticate(m, "SCRAM-SHA-256", c)
        m.logout()
        check(f"{host} IMAP {port}: SCRAM-SHA-256 as {user}", typ == "OK" and c.verified, typ)
    for host, port, user in ((NOMECH, 587, "bob"), (NOMECH, 465, "carol")):
        s = smtp_conn(host, port)
        c = sasl_client.Scram("SCRAM-SHA-256", f"{user}@lab.test", PW[user])
        code, msg = sasl_client.smtp_authenticate(s, "SCRAM-SHA-256", c)
        s.quit()
        check(f"{host} SMTP {port}: SCRAM-SHA-256 as {user}", code == 235 and c.verified, (code, msg))


def auth_ntlm():
    # The challenge: target name LAB, extended session security (NTLM2 key), target info.
    m = imap_conn(MAIL, 993)
    c = sasl_client.Ntlm("alice", PW["alice"], "LAB")
    typ, _ = sasl_client.imap_authenticate(m, "NTLM", c)
    m.logout()
    avs = sasl_client.av_pairs(c.target_info)
    check("NTLM challenge: target name LAB, NEGOTIATE_NTLM2_KEY, target info with "
          "MsvAvNbDomainName LAB / MsvAvDnsDomainName lab.test",
          c.target_name == "LAB" and c.server_flags & NTLM2_KEY and c.server_flags & TARGET_INFO
          and avs.get(2) == "LAB".encode("utf-16-le") and avs.get(4) == "lab.test".encode("utf-16-le"),
          (c.target_name, hex(c.server_flags), avs))
    check(f"{MAIL} IMAP 993: AUTHENTICATE NTLM (NTLMv2) as alice / LAB", typ == "OK", typ)
    for host, port, user, domain, who in ((MAIL, 143, "carol", "LAB", "carol"),
                                          (MAIL, 993, "bob@lab.test", "", "bob"),
                                          (FW, 993, "Alice", "lab.test", "alice"),
                                          (PLAINAUTH, 993, "bob", "", "bob")):
        m = imap_conn(host, port)
        typ, _ = sasl_client.imap_authenticate(m, "NTLM", sasl_client.Ntlm(user, PW[who], domain))
        m.logout()
        check(f"{host} IMAP {port}: AUTHENTICATE NTLM as user {user!r} domain {domain!r}", typ == "OK", typ)
    for host, port, user in ((MAIL, 587, "alice"), (MAIL, 465, "carol")):
        s = smtp_conn(host, port)
        code, msg = sasl_client.smtp_authenticate(s, "NTLM", sasl_client.Ntlm(user, PW[user], "LAB"))
        s.quit()
        check(f"{host} SMTP {port}: AUTH NTLM (NTLMv2) as {user} / LAB", code == 235, (code, msg))
    # Two exchanges interleaved (NEGOTIATE A, NEGOTIATE B, AUTHENTICATE A, AUTHENTICATE B):
    # Dovecot feeds both to the one helper, which must keep both challenges.
    conns = [(imap_conn(MAIL, 993), sasl_client.Ntlm(u, PW[u], "LAB"), f"i{u}") for u in ("alice", "bob")]
    for m, c, tag in conns:
        m.send(f"{tag} AUTHENTICATE NTLM\r\n".encode())
        m.readline()                                            # "+ "
        m.send(base64.b64encode(c.step(b"")) + b"\r\n")
        c.challenge = base64.b64decode(m.readline()[2:].strip())  # "+ <CHALLENGE>"
    answers = []
    for m, c, tag in conns:
        m.send(base64.b64encode(c.step(c.challenge)) + b"\r\n")
        line = m.readline()
        while not line.startswith(tag.encode()):
            line = m.readline()
        answers.append(line.decode(errors="replace").strip())
        m.logout()
    check(f"{MAIL} IMAP 993: two NTLM exchanges interleaved both succeed",
          all(a.split()[1] == "OK" for a in answers), answers)
    logins = dovecot_logins()
    check("dovecot.log: NTLM logins mapped to alice@, bob@ and carol@lab.test",
          {("alice@lab.test", "NTLM"), ("bob@lab.test", "NTLM"), ("carol@lab.test", "NTLM")} <= set(logins),
          logins[-8:])


def auth_carol():
    pw = PW["carol"]
    check("carol's password has a space, a double quote and a backslash, no CR",
          all(ch in pw for ch in ' "\\') and "\r" not in pw and "\n" not in pw, repr(pw))
    m = imap_conn(MAIL, 993)  # imaplib sends a quoted string: "c\"a\\rol pass..."
    check("IMAP 993: LOGIN carol, password as a quoted string with escapes",
          m.login("carol@lab.test", pw)[0] == "OK")
    m.logout()
    m = imap_conn(MAIL, 993)
    m.literal = pw.encode()  # LOGIN carol@lab.test {n} + the password as a literal
    typ, dat = m._simple_command("LOGIN", "carol@lab.test")
    check("IMAP 993: LOGIN carol, password as a literal", typ == "OK", (typ, dat))
    m.logout()
    m = imap_conn(MAIL, 993)
    check("IMAP 993: CRAM-MD5 as carol", m.login_cram_md5("carol@lab.test", pw)[0] == "OK")
    m.logout()
    p = poplib.POP3_SSL(MAIL, 995, context=ctx(), timeout=10)
    p.user("carol@lab.test")
    check("POP3 995: USER/PASS carol", p.pass_(pw).startswith(b"+OK"))
    p.quit()
    s = smtp_conn(MAIL, 587)
    s.user, s.password = "carol@lab.test", pw
    code, msg = s.auth("PLAIN", s.auth_plain)
    check("SMTP 587: AUTH PLAIN carol", code == 235, (code, msg))
    s.quit()
    s = smtp_conn(MAIL, 465)
    s.user, s.password = "carol@lab.test", pw
    code, msg = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    check("SMTP 465: AUTH LOGIN carol", code == 235, (code, msg))
    s.quit()


def plainauth_nomech():
    h = PLAINAUTH
    m = imaplib.IMAP4(h, 143, timeout=10)
    check(f"{h} 143 before STARTTLS: LOGIN (carol, quoted) accepted", m.login("carol@lab.test", PW["carol"])[0] == "OK")
    m.logout()
    m = imaplib.IMAP4(h, 143, timeout=10)
    typ, _ = m.authenticate("PLAIN", lambda _: b"\0alice@lab.test\0" + PW["alice"].encode())
    check(f"{h} 143 before STARTTLS: AUTHENTICATE PLAIN accepted", typ == "OK", typ)
    m.logout()
    p = poplib.POP3(h, 110, timeout=10)
    p.user("bob@lab.test")
    check(f"{h} 110 before STLS: USER/PASS accepted", p.pass_(PW["bob"]).startswith(b"+OK"))
    p.quit()
    s = smtplib.SMTP(h, 587, timeout=10)
    s.ehlo("client.lab.test")
    s.user, s.password = "alice@lab.test", PW["alice"]
    code, msg = s.auth("PLAIN", s.auth_plain)
    check(f"{h} 587 before STARTTLS: AUTH PLAIN accepted", code == 235, (code, msg))
    s.quit()
    s = smtplib.SMTP(h, 587, timeout=10)
    s.ehlo("client.lab.test")
    s.user, s.password = "carol@lab.test", PW["carol"]
    code, msg = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    check(f"{h} 587 before STARTTLS: AUTH LOGIN accepted", code == 235, (code, msg))
    s.quit()
    # The good host still refuses the same before TLS (no plaintext anywhere else).
    m = imaplib.IMAP4(MAIL, 143, timeout=10)
    try:
        typ = m.authenticate("PLAIN", lambda _: b"\0alice@lab.test\0" + PW["alice"].encode())[0]
    except imaplib.IMAP4.error as e:
        typ = f"NO {e}"
    m.logout()
    check(f"{MAIL} 143 before STARTTLS: AUTHENTICATE PLAIN refused", typ != "OK", typ)

    h = NOMECH
    m = imap_conn(h, 993)
    for what, fn in (("LOGIN", lambda: m.login("alice@lab.test", PW["alice"])),
                     ("AUTHENTICATE PLAIN", lambda: m.authenticate(
                         "PLAIN", lambda _: b"\0alice@lab.test\0" + PW["alice"].encode()))):
        try:
            typ = fn()[0]
        except imaplib.IMAP4.error as e:
            typ = f"NO {e}"
        check(f"{h} 993: {what} refused", typ != "OK", typ)
    m.logout()
    for port in (587, 465):
        s = smtp_conn(h, port)
        code, msg = s.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0alice@lab.test\0" + PW["alice"].encode()).decode())
        s.quit()
        check(f"{h} {port}: AUTH PLAIN refused", code >= 500, (code, msg))


def cramonly_ntlmonly():
    """One host, one mechanism: it works (IMAP 993 / 143 after STARTTLS, SMTP 587 / 465,
    with sasl_client's own clients) and LOGIN / PLAIN are refused."""
    for host, port, user in ((CRAMONLY, 993, "alice"), (CRAMONLY, 143, "carol")):
        m = imap_conn(host, port)
        c = sasl_client.CramMd5(f"{user}@lab.test", PW[user])
        typ, _ = sasl_client.imap_authenticate(m, "CRAM-MD5", c)
        m.logout()
        check(f"{host} IMAP {port}: AUTHENTICATE CRAM-MD5 as {user}", typ == "OK", (typ, c.challenge))
    for host, port, user in ((CRAMONLY, 587, "bob"), (CRAMONLY, 465, "alice")):
        s = smtp_conn(host, port)
        code, msg = sasl_client.smtp_authenticate(s, "CRAM-MD5", sasl_client.CramMd5(f"{user}@lab.test", PW[user]))
        s.quit()
        check(f"{host} SMTP {port}: AUTH CRAM-MD5 as {user}", code == 235, (code, msg))
    for host, port, user in ((NTLMONLY, 993, "alice"), (NTLMONLY, 143, "carol")):
        m = imap_conn(host, port)
        typ, _ = sasl_client.imap_authenticate(m, "NTLM", sasl_client.Ntlm(user, PW[user], "LAB"))
        m.logout()
        check(f"{host} IMAP {port}: AUTHENTICATE NTLM (NTLMv2) as {user} / LAB", typ == "OK", typ)
    for host, port, user in ((NTLMONLY, 587, "bob"), (NTLMONLY, 465, "alice")):
        s = smtp_conn(host, port)
        code, msg = sasl_client.smtp_authenticate(s, "NTLM", sasl_client.Ntlm(user, PW[user], "LAB"))
        s.quit()
        check(f"{host} SMTP {port}: AUTH NTLM (NTLMv2) as {user} / LAB", code == 235, (code, msg))
    for h in SOLO:
        m = imap_conn(h, 993)
        try:
            typ = m.login("alice@lab.test", PW["alice"])[0]
        except imaplib.IMAP4.error as e:
            typ = f"NO {e}"
        m.logout()
        check(f"{h} 993: LOGIN refused", typ != "OK", typ)
        s = smtp_conn(h, 587)
        code, msg = s.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0alice@lab.test\0" + PW["alice"].encode()).decode())
        s.quit()
        check(f"{h} 587: AUTH PLAIN refused", code >= 500, (code, msg))


def limited():
    """limited.lab.test: one session at a time per client. A second concurrent SMTP
    connection (587, 465, 25) gets 421 4.7.0 "too many connections" (Postfix anvil) while
    the first is open; a second logged-in IMAP session gets NO [LIMIT] (Dovecot's
    mail_max_userip_connections = 1); one at a time, everything works."""
    h = "limited.lab.test"
    for port, wrap in ((587, False), (465, True), (25, False)):
        first = socket.create_connection((h, port), timeout=5)
        second = socket.create_connection((h, port), timeout=5)
        try:
            if wrap:
                first = ctx().wrap_socket(first, server_hostname=h)
                second = ctx().wrap_socket(second, server_hostname=h)
            one, two = first.recv(512).decode(), second.recv(512).decode()
        finally:
            first.close()
            second.close()
        check(f"{h} SMTP {port}: the first connection is greeted with 220", one.startswith("220 "), one)
        check(f"{h} SMTP {port}: a second one at once gets 421 4.7.0 too many connections",
              two.startswith("421 4.7.0") and "too many connections" in two, two)
    time.sleep(0.5)  # anvil hears of the closes
    a = imap_conn(h, 993)
    typ = a.login("alice@lab.test", PW["alice"])[0]
    check(f"{h} IMAP 993: the first login works", typ == "OK", typ)
    b = imap_conn(h, 993)
    try:
        got = b.login("alice@lab.test", PW["alice"])[0]
    except imaplib.IMAP4.error as e:
        got = str(e)
    check(f"{h} IMAP 993: a second logged-in session at once gets NO [LIMIT]",
          "[LIMIT]" in got and "mail_max_userip_connections=1" in got, got)
    a.logout()
    try:
        b.logout()
    except (imaplib.IMAP4.abort, OSError):
        pass  # Dovecot hung up after the refusal


def auth_failures():
    """NTLMv1 and wrong passwords refused; each failure answered after the failure delay
    (0.5-1.0 s with auth_failure_delay = 1s), and no penalty builds up: a good login right
    after three failures is immediate."""
    took = []
    def timed(name, fn, ok):
        t = time.monotonic()
        try:
            r = fn()
        except imaplib.IMAP4.error as e:
            r = ("NO", str(e))
        took.append(round(time.monotonic() - t, 2))
        check(name, ok(r), r)
    m = imap_conn(MAIL, 993)
    timed(f"{MAIL} IMAP 993: NTLMv1-sized (24-byte) NT response refused",
          lambda: sasl_client.imap_authenticate(m, "NTLM", sasl_client.Ntlm("alice", PW["alice"], v1=True)),
          lambda r: r[0] != "OK")
    timed(f"{MAIL} IMAP 993: NTLMv2 with a wrong password refused",
          lambda: sasl_client.imap_authenticate(m, "NTLM", sasl_client.Ntlm("alice", PW["alice"] + "x")),
          lambda r: r[0] != "OK")
    timed(f"{MAIL} IMAP 993: LOGIN with a wrong password refused",
          lambda: m.login("alice@lab.test", "wrong-" + PW["alice"]), lambda r: r[0] != "OK")
    timed(f"{MAIL} IMAP 993: then LOGIN alice succeeds", lambda: m.login("alice@lab.test", PW["alice"]),
          lambda r: r[0] == "OK")
    m.logout()
    s = smtp_conn(MAIL, 587)
    t = time.monotonic()
    code, msg = sasl_client.smtp_authenticate(s, "NTLM", sasl_client.Ntlm("bob", PW["bob"], v1=True))
    took.append(round(time.monotonic() - t, 2))
    check(f"{MAIL} SMTP 587: NTLMv1-sized NT response refused (535)", code == 535, (code, msg))
    s.quit()
    fails = took[:3] + took[4:]
    check(f"failed logins answered after the failure delay (0.4-2 s each), no penalty: {took} s",
          all(0.4 <= t <= 2.0 for t in fails) and took[3] < 0.5, took)
    log = open(f"{LAB}/log/ntlm-auth.log", errors="replace").read()
    check("ntlm-auth.log: NTLMv1 refused as NT_STATUS_NTLM_BLOCKED", "NA NT_STATUS_NTLM_BLOCKED 24-byte" in log)
    check("no anvil-auth-penalty socket (auth penalty off)",
          not glob.glob(f"{LAB}/dovecot*/run/anvil-auth-penalty"), glob.glob(f"{LAB}/dovecot*/run/anvil*"))


for part in (names, imap, pop3, smtp, firewall, host_names, defect_tls, nostarttls, dark,
             auth_vectors, auth_offers, auth_scram, auth_ntlm, auth_carol, plainauth_nomech,
             cramonly_ntlmonly, limited, auth_failures):
    attempt(part.__name__, part)
print(f"{'FAILED: ' + ', '.join(failures) if failures else 'all checks passed'}")
sys.exit(1 if failures else 0)
