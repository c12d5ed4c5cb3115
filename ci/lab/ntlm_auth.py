#!/usr/bin/python3
"""NTLMv2-only NTLMSSP server for the mailready lab's Dovecot (standard library only).

Dovecot 2.3 has no NTLM of its own on Debian: with `auth_use_winbind = yes`, its "NTLM"
mechanism runs `auth_winbind_helper_path --helper-protocol=squid-2.5-ntlmssp` once per auth
process and speaks Samba's ntlm_auth line protocol with it (src/auth/mech-winbind.c):

    Dovecot -> helper   YR <base64 NEGOTIATE (Type 1)>     first message of a request
                        KK <base64 AUTHENTICATE (Type 3)>  the reply to our challenge
    helper -> Dovecot   TT <base64 CHALLENGE (Type 2)>     send this to the client
                        AF <user>                          authenticated as <user>
                        NA <reason>                        authentication failed
                        BH <reason>                        broken: Dovecot restarts us

This program replaces Samba's ntlm_auth for the lab. It is the oracle that mailready's own
NTLM client is tested against, so it shares no code with it. It accepts NTLMv2 responses
only (MS-NLMP 3.3.2): a 24-byte NT response (NTLMv1 or NTLM2 session response), an empty
one (anonymous) and LM-only answers get "NA".

Who may log in (the lab's passwd-file, --users): a lab user "alice@lab.test" answers to
  user "alice" with domain "LAB" (the challenge's target name; what Poco and most clients
  send), domain "lab.test" or an empty domain, and to user "alice@lab.test" with any of
  those domains. User and domain names match case-insensitively; the NTLMv2 hash uses the
  strings exactly as the client sent them (MS-NLMP NTOWFv2). "AF" names the lab address
  (alice@lab.test), which Dovecot's passwd-file userdb knows.

Dovecot runs one helper per auth process and sends it every NTLM request in turn; two
clients can interleave (YR A, YR B, KK A). Samba's ntlm_auth then fails client A; this
helper keeps the challenges it issued in the last CHALLENGE_TTL seconds and accepts a
Type 3 that matches any of them, once (a verified challenge is consumed).

Not done: MIC and session keys (no signing or sealing: IMAP and SMTP don't use them), and
no MsvAvTimestamp in the target info, so clients need not send a MIC.

  ntlm_auth.py --helper-protocol=squid-2.5-ntlmssp --users FILE [--log FILE]
  ntlm_auth.py --selftest      RFC 1320 MD4 vectors, MS-NLMP 4.2.4 NTLMv2 vectors, a round trip
"""
import argparse, base64, hashlib, hmac, os, struct, sys, time

DOMAIN = "LAB"                  # NetBIOS domain: the challenge's target name
DNS_DOMAIN = "lab.test"
COMPUTER = "MAIL"
DNS_COMPUTER = "mail.lab.test"
CHALLENGE_TTL = 300
MAX_CHALLENGES = 256

# NegotiateFlags (MS-NLMP 2.2.2.5)
NTLMSSP_NEGOTIATE_UNICODE = 0x00000001
NTLM_NEGOTIATE_OEM = 0x00000002
NTLMSSP_REQUEST_TARGET = 0x00000004
NTLMSSP_NEGOTIATE_NTLM = 0x00000200
NTLMSSP_NEGOTIATE_ALWAYS_SIGN = 0x00008000
NTLMSSP_TARGET_TYPE_DOMAIN = 0x00010000
NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000   # a.k.a. NEGOTIATE_NTLM2_KEY
NTLMSSP_NEGOTIATE_TARGET_INFO = 0x00800000
NTLMSSP_NEGOTIATE_VERSION = 0x02000000
NTLMSSP_NEGOTIATE_128 = 0x20000000
NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000
NTLMSSP_NEGOTIATE_56 = 0x80000000
SIGNATURE = b"NTLMSSP\0"


# ---------------------------------------------------------------- MD4 (RFC 1320)
# hashlib.new("md4") needs OpenSSL 3's legacy provider, which Debian 12 does not load.

def md4(data: bytes) -> bytes:
    mask = 0xFFFFFFFF
    rol = lambda x, n: ((x << n) | (x >> (32 - n))) & mask
    msg = data + b"\x80" + b"\0" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8 & (2**64 - 1))
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off:off + 64])
        a, b, c, d = h
        for i in (0, 4, 8, 12):                       # round 1: F(x,y,z) = xy v (not x)z
            for k, s in zip(range(i, i + 4), (3, 7, 11, 19)):
                a = rol((a + ((b & c) | (~b & d)) + x[k]) & mask, s)
                a, b, c, d = d, a, b, c
        for i in (0, 1, 2, 3):                        # round 2: G = majority, + 5A827999
            for k, s in zip((i, i + 4, i + 8, i + 12), (3, 5, 9, 13)):
                a = rol((a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999) & mask, s)
                a, b, c, d = d, a, b, c
        for i in (0, 2, 1, 3):                        # round 3: H = xor, + 6ED9EBA1
            for k, s in zip((i, i + 8, i + 4, i + 12), (3, 9, 11, 15)):
                a = rol((a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1) & mask, s)
                a, b, c, d = d, a, b, c
        h = [(v + w) & mask for v, w in zip(h, (a, b, c, d))]
    return struct.pack("<4I", *h)


MD4_VECTORS = {  # RFC 1320, appendix A.5
    b"": "31d6cfe0d16ae931b73c59d7e0c089c0",
    b"a": "bde52cb31de33e46245e05fbdbd6fb24",
    b"abc": "a448017aaf21d8525fc10ae87aa6729d",
    b"message digest": "d9130a8164549fe818874806e1c7014b",
    b"abcdefghijklmnopqrstuvwxyz": "d79e1c308aa5bbcdeea8ed63df412da9",
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789": "043f8582f241db351ce627e153e7f0e4",
    b"1234567890" * 8: "e33b4ddc9c38f2199c3e7b164fcc0536",
}


# ---------------------------------------------------------------- NTLMv2 (MS-NLMP 3.3.2)

def hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.md5).digest()


def ntowfv2(password: str, user: str, domain: str) -> bytes:
    return hmac_md5(md4(password.encode("utf-16-le")), (user.upper() + domain).encode("utf-16-le"))


def nt_proof_str(key: bytes, server_challenge: bytes, blob: bytes) -> bytes:
    return hmac_md5(key, server_challenge + blob)


def av_pairs(pairs) -> bytes:
    out = b"".join(struct.pack("<HH", av_id, len(v)) + v for av_id, v in pairs)
    return out + struct.pack("<HH", 0, 0)            # MsvAvEOL


def target_info() -> bytes:
    u = lambda s: s.encode("utf-16-le")
    return av_pairs([(2, u(DOMAIN)),              # MsvAvNbDomainName
                     (1, u(COMPUTER)),            # MsvAvNbComputerName
                     (4, u(DNS_DOMAIN)),          # MsvAvDnsDomainName
                     (3, u(DNS_COMPUTER))])       # MsvAvDnsComputerName


class Refused(Exception):
    """An authentication that fails: the first word is what Dovecot logs."""


def field(msg: bytes, at: int) -> bytes:
    """A security buffer (len, maxlen, offset) at `at`, bounds-checked."""
    if at + 8 > len(msg):
        raise Refused(f"NT_STATUS_INVALID_PARAMETER message too short for the field at {at}")
    length, _, offset = struct.unpack_from("<HHI", msg, at)
    if offset + length > len(msg):
        raise Refused(f"NT_STATUS_INVALID_PARAMETER field at {at} points past the message")
    return msg[offset:offset + length]


class Server:
    def __init__(self, users_file, log=None):
        self.users_file = users_file
        self.log = log
        self.challenges = {}                    # server challenge -> time issued

    def say(self, text):
        if self.log:
            print(time.strftime("%Y-%m-%dT%H:%M:%S"), text, file=self.log, flush=True)

    def passwords(self):
        """The lab's passwd-file: 'alice@lab.test:{PLAIN}secret:uid:gid::home::'."""
        out = {}
        with open(self.users_file, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 2 and parts[1].startswith("{PLAIN}"):
                    out[parts[0].lower()] = parts[1][len("{PLAIN}"):]
        return out

    def challenge(self, negotiate: bytes) -> bytes:
        """Type 1 -> Type 2. An empty Type 1 (a client that starts with nothing) is allowed."""
        flags = NTLMSSP_NEGOTIATE_UNICODE
        if negotiate:
            if negotiate[:8] != SIGNATURE or len(negotiate) < 16 or \
                    struct.unpack_from("<I", negotiate, 8)[0] != 1:
                raise Refused("NT_STATUS_INVALID_PARAMETER not an NTLMSSP NEGOTIATE message")
            asked = struct.unpack_from("<I", negotiate, 12)[0]
            if not asked & NTLMSSP_NEGOTIATE_UNICODE and asked & NTLM_NEGOTIATE_OEM:
                flags = NTLM_NEGOTIATE_OEM
            flags |= asked & (NTLMSSP_NEGOTIATE_128 | NTLMSSP_NEGOTIATE_56 | NTLMSSP_NEGOTIATE_KEY_EXCH)
        flags |= (NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_NEGOTIATE_ALWAYS_SIGN
                  | NTLMSSP_TARGET_TYPE_DOMAIN | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
                  | NTLMSSP_NEGOTIATE_TARGET_INFO | NTLMSSP_NEGOTIATE_VERSION)
        server_challenge = os.urandom(8)
        now = time.monotonic()
        self.challenges = {c: t for c, t in self.challenges.items() if now - t < CHALLENGE_TTL}
        while len(self.challenges) >= MAX_CHALLENGES:
            self.challenges.pop(next(iter(self.challenges)))
        self.challenges[server_challenge] = now
        name = DOMAIN.encode("utf-16-le" if flags & NTLMSSP_NEGOTIATE_UNICODE else "ascii")
        info = target_info()
        header = 56                              # fixed part incl. Version
        msg = SIGNATURE + struct.pack("<I", 2)
        msg += struct.pack("<HHI", len(name), len(name), header)
        msg += struct.pack("<I", flags) + server_challenge + b"\0" * 8
        msg += struct.pack("<HHI", len(info), len(info), header + len(name))
        msg += bytes([6, 1]) + struct.pack("<H", 7601) + b"\0\0\0\x0f"   # Version: 6.1.7601, NTLMSSP rev 15
        assert len(msg) == header
        self.say(f"challenge {server_challenge.hex()} flags {flags:08x}")
        return msg + name + info

    def authenticate(self, msg: bytes) -> str:
        """Type 3 -> the lab address it proves, or Refused."""
        if msg[:8] != SIGNATURE or len(msg) < 64 or struct.unpack_from("<I", msg, 8)[0] != 3:
            raise Refused("NT_STATUS_INVALID_PARAMETER not an NTLMSSP AUTHENTICATE message")
        lm, nt = field(msg, 12), field(msg, 20)
        flags = struct.unpack_from("<I", msg, 60)[0]
        enc = "utf-16-le" if flags & NTLMSSP_NEGOTIATE_UNICODE else "latin-1"
        try:
            domain, user = field(msg, 28).decode(enc), field(msg, 36).decode(enc)
        except UnicodeDecodeError:
            raise Refused("NT_STATUS_INVALID_PARAMETER user or domain not decodable")
        who = f"user {user!r} domain {domain!r}"
        if len(nt) == 0:
            raise Refused(f"NT_STATUS_NTLM_BLOCKED no NT response (anonymous or LM only, "
                          f"LM response {len(lm)} bytes): NTLMv2 only; {who}")
        if len(nt) == 24:
            raise Refused(f"NT_STATUS_NTLM_BLOCKED 24-byte NT response (NTLMv1 or NTLM2 session "
                          f"response): NTLMv2 only; {who}")
        # NTProofStr (16) + blob: RespType 1, HiRespType 1, 6 reserved, time (8), client
        # challenge (8), 4 reserved, AV pairs, 4 reserved.
        if len(nt) < 16 + 28 or nt[16:18] != b"\x01\x01":
            raise Refused(f"NT_STATUS_INVALID_PARAMETER NT response of {len(nt)} bytes is not an "
                          f"NTLMv2 response; {who}")
        address = self.lab_address(user, domain)
        if address is None:
            raise Refused(f"NT_STATUS_NO_SUCH_USER {who} is no lab user")
        password = self.passwords().get(address)
        if password is None:
            raise Refused(f"NT_STATUS_NO_SUCH_USER {who}: {address} is not in {self.users_file}")
        key = ntowfv2(password, user, domain)
        proof, blob = nt[:16], nt[16:]
        for server_challenge in list(self.challenges):
            if hmac.compare_digest(nt_proof_str(key, server_challenge, blob), proof):
                del self.challenges[server_challenge]
                self.say(f"AF {address} ({who}, challenge {server_challenge.hex()})")
                return address
        raise Refused(f"NT_STATUS_WRONG_PASSWORD NTLMv2 proof does not match for {who} "
                      f"({len(self.challenges)} open challenges)")

    @staticmethod
    def lab_address(user, domain):
        if domain.lower() not in ("lab", "lab.test", ""):
            return None
        local, at, dom = user.lower().partition("@")
        if at and dom != "lab.test":
            return None
        return f"{local}@lab.test" if local else None

    def line(self, text: str) -> str:
        """One request line of the squid-2.5-ntlmssp protocol -> the answer line."""
        cmd, _, arg = text.strip().partition(" ")
        if cmd not in ("YR", "KK"):
            return f"BH unknown request {cmd[:20]!r}"
        try:
            data = base64.b64decode(arg.strip(), validate=True)
        except ValueError:
            return "BH invalid base64"
        try:
            if cmd == "YR":
                return "TT " + base64.b64encode(self.challenge(data)).decode()
            return "AF " + self.authenticate(data)
        except Refused as e:
            self.say(f"NA {e}")
            return f"NA {e}"
        except Exception as e:  # a bug or an unreadable passdb: Dovecot restarts the helper
            self.say(f"BH {type(e).__name__}: {e}")
            return f"BH {type(e).__name__}"

    def serve(self, inp, out):
        for text in inp:
            answer = self.line(text)
            out.write(answer + "\n")
            out.flush()


# ---------------------------------------------------------------- self-test

def selftest():
    ok = True

    def expect(name, got, want):
        nonlocal ok
        good = got == want
        ok &= good
        print(("ok   " if good else "FAIL ") + name + ("" if good else f": got {got}, want {want}"))

    for data, want in MD4_VECTORS.items():
        expect(f'MD4("{data.decode()[:20]}{"..." if len(data) > 20 else ""}")', md4(data).hex(), want)
    # MS-NLMP 4.2.4 (NTLMv2 authentication): user "User", domain "Domain", password
    # "Password", server challenge 0123456789abcdef, client challenge aa*8, time 0,
    # target info MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server".
    expect("MS-NLMP 4.2.4 NTOWFv2", ntowfv2("Password", "User", "Domain").hex(),
           "0c868a403bfd7a93a3001ef22ef02e3f")
    info = av_pairs([(2, "Domain".encode("utf-16-le")), (1, "Server".encode("utf-16-le"))])
    blob = b"\x01\x01" + b"\0" * 6 + b"\0" * 8 + b"\xaa" * 8 + b"\0" * 4 + info + b"\0" * 4
    expect("MS-NLMP 4.2.4 NTProofStr",
           nt_proof_str(ntowfv2("Password", "User", "Domain"), bytes.fromhex("0123456789abcdef"), blob).hex(),
           "68cd0ab851e51c96aabc927bebef6a1c")
    # A round trip through line(): challenge, a hand-built NTLMv2 Type 3, AF; then NTLMv1 and a
    # wrong password get NA.
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".users") as f:
        f.write('alice@lab.test:{PLAIN}s3cret:1:1::/x::\ncarol@lab.test:{PLAIN}c"a\\rol pass:1:1::/x::\n')
        f.flush()
        srv = Server(f.name)
        for user, domain, pw, want in (("alice", "LAB", "s3cret", "AF alice@lab.test"),
                                       ("CAROL", "", 'c"a\\rol pass', "AF carol@lab.test"),
                                       ("alice@lab.test", "", "s3cret", "AF alice@lab.test"),
                                       ("alice", "LAB", "wrong", "NA NT_STATUS_WRONG_PASSWORD"),
                                       ("alice", "OTHER", "s3cret", "NA NT_STATUS_NO_SUCH_USER"),
                                       ("alice", "LAB", None, "NA NT_STATUS_NTLM_BLOCKED")):
            t2 = base64.b64decode(srv.line("YR " + base64.b64encode(
                SIGNATURE + struct.pack("<II", 1, 0xE2088297) + b"\0" * 16).decode())[3:])
            sc, tinfo = t2[24:32], field(t2, 40)
            if pw is None:
                nt = b"\x11" * 24                     # an NTLMv1-sized answer
            else:
                blob = b"\x01\x01" + b"\0" * 6 + struct.pack("<Q", 0) + os.urandom(8) + b"\0" * 4 + tinfo + b"\0" * 4
                nt = nt_proof_str(ntowfv2(pw, user, domain), sc, blob) + blob
            u, d = user.encode("utf-16-le"), domain.encode("utf-16-le")
            payload = [b"\0" * 24, nt, d, u, b"", b""]
            off, fields, body = 64, b"", b""
            for p in payload:
                fields += struct.pack("<HHI", len(p), len(p), off + len(body))
                body += p
            t3 = SIGNATURE + struct.pack("<I", 3) + fields + struct.pack("<I", 0xE2088215) + body
            got = srv.line("KK " + base64.b64encode(t3).decode())
            expect(f"round trip {user}/{domain!r} -> {want}", got.split(" ")[:2], want.split(" ")[:2])
    expect("unknown request -> BH", srv.line("XX abc")[:2], "BH")
    return ok


def main():
    ap = argparse.ArgumentParser(description="NTLMv2-only ntlm_auth stand-in for Dovecot's winbind mechanism")
    ap.add_argument("--helper-protocol", help="squid-2.5-ntlmssp (the only one)")
    ap.add_argument("--users", help="the lab's Dovecot passwd-file")
    ap.add_argument("--log", help="append one line per challenge and verdict here")
    ap.add_argument("--selftest", action="store_true", help="check MD4 and NTLMv2 against their test vectors")
    a = ap.parse_args()
    if a.selftest:
        sys.exit(0 if selftest() else 1)
    if a.helper_protocol != "squid-2.5-ntlmssp" or not a.users:
        ap.error("need --helper-protocol=squid-2.5-ntlmssp and --users FILE")
    log = open(a.log, "a") if a.log else None
    Server(a.users, log).serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
