"""Client sides of SCRAM (RFC 5802/7677), CRAM-MD5 (RFC 2195) and NTLMv2 (MS-NLMP) for the lab's self-test, and
small IMAP/SMTP drivers for any SASL mechanism. Standard library only.

It shares no code with ci/lab/ntlm_auth.py (the lab's NTLM server) nor with mailready: both
sides are checked against published test vectors (selftest()), then against each other
and Dovecot on the wire (ci/lab-selftest.py). Tests may import it as an oracle client:
    sys.path.insert(0, "ci/lab"); import sasl_client
"""
import base64, binascii, hashlib, hmac, os, struct, time


# ---------------------------------------------------------------- CRAM-MD5 (RFC 2195)

class CramMd5:
    """CRAM-MD5: one step, the server's challenge (bytes) in, "user hex(HMAC-MD5)" out.
    `challenge` keeps what the server sent."""

    def __init__(self, user, password):
        self.user = user
        self.password = password.encode("utf-8")
        self.challenge = None

    def step(self, challenge: bytes) -> bytes:
        self.challenge = challenge
        digest = hmac.new(self.password, challenge, hashlib.md5).hexdigest()
        return f"{self.user} {digest}".encode("utf-8")


def cram_vectors():
    """RFC 2195 section 2's example. Returns [(name, ok)]."""
    c = CramMd5("tim", "tanstaaftanstaaf")
    got = c.step(b"<1896.697170952@postoffice.reston.mci.net>")
    return [("RFC 2195 CRAM-MD5 example", got == b"tim b913a602c7eda7a495b4e6e7334d3890")]


# ---------------------------------------------------------------- SCRAM (RFC 5802)

class Scram:
    """SCRAM-SHA-1 / SCRAM-SHA-256 without channel binding ("n,,"). step() takes each server
    challenge (bytes) and returns the client's answer (bytes); `verified` becomes True once
    the server's signature (v=) checked out."""

    def __init__(self, mech, user, password, nonce=None):
        self.hash = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech.upper()]
        self.user = user.replace("=", "=3D").replace(",", "=2C")
        self.password = password.encode("utf-8")     # ASCII passwords: SASLprep is identity
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.state = 0
        self.verified = False

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.hash).digest()

    def first(self):
        self.client_first_bare = f"n={self.user},r={self.nonce}"
        self.state = 1
        return ("n,," + self.client_first_bare).encode()

    def step(self, challenge: bytes) -> bytes:
        if self.state == 0:                            # server sent an empty "+ " first
            return self.first()
        if self.state == 1:
            server_first = challenge.decode()
            attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
            if not attrs["r"].startswith(self.nonce):
                raise ValueError("server nonce does not extend ours")
            salted = hashlib.pbkdf2_hmac(self.hash, self.password, base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = self._hmac(salted, b"Client Key")
            stored_key = hashlib.new(self.hash, client_key).digest()
            without_proof = "c=biws,r=" + attrs["r"]
            auth_message = f"{self.client_first_bare},{server_first},{without_proof}".encode()
            proof = bytes(a ^ b for a, b in zip(client_key, self._hmac(stored_key, auth_message)))
            self.server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
            self.state = 2
            return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
        if self.state == 2:
            final = challenge.decode()
            if not final.startswith("v="):
                raise ValueError(f"server-final-message is an error: {final}")
            self.verified = hmac.compare_digest(base64.b64decode(final[2:]), self.server_signature)
            if not self.verified:
                raise ValueError("server signature does not verify")
            self.state = 3
            return b""
        raise ValueError("SCRAM exchange already finished")


def scram_vectors():
    """RFC 5802 section 5 (SHA-1) and RFC 7677 section 3 (SHA-256): user "user", password
    "pencil", fixed nonces. Returns [(name, ok)]."""
    out = []
    for mech, cnonce, server_first, final, want_proof in (
            ("SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL",
             "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
             "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
             "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
            ("SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO",
             "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
             "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
             "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
             "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")):
        c = Scram(mech, "user", "pencil", nonce=cnonce)
        first = c.step(b"")
        proof = c.step(server_first.encode())
        try:
            c.step(final.encode())
        except ValueError:
            pass
        out.append((f"{mech} RFC vector", first == f"n,,n=user,r={cnonce}".encode()
                    and proof.decode() == want_proof and c.verified))
    return out


# ---------------------------------------------------------------- MD4 (RFC 1320)

def md4(message: bytes) -> bytes:
    """Written apart from ntlm_auth.py's on purpose (an oracle should not share bugs)."""
    def f(x, y, z): return (x & y) | (~x & z)
    def g(x, y, z): return (x & y) | (x & z) | (y & z)
    def h(x, y, z): return x ^ y ^ z
    M = 0xFFFFFFFF
    schedule = [(f, 0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [3, 7, 11, 19]),
                (g, 0x5A827999, [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15], [3, 5, 9, 13]),
                (h, 0x6ED9EBA1, [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15], [3, 9, 11, 15])]
    bits = len(message) * 8
    message += b"\x80"
    while len(message) % 64 != 56:
        message += b"\0"
    message += struct.pack("<Q", bits)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    for block in range(0, len(message), 64):
        X = struct.unpack("<16I", message[block:block + 64])
        r = list(state)
        for fn, const, order, shifts in schedule:
            for step, k in enumerate(order):
                i = (-step) % 4                       # a, d, c, b, a, ...
                a, b, c, d = r[i], r[(i + 1) % 4], r[(i + 2) % 4], r[(i + 3) % 4]
                v = (a + fn(b, c, d) + X[k] + const) & M
                s = shifts[step % 4]
                r[i] = ((v << s) | (v >> (32 - s))) & M
        state = [(x + y) & M for x, y in zip(state, r)]
    return struct.pack("<4I", *state)


# ---------------------------------------------------------------- NTLMv2 (MS-NLMP)

class Ntlm:
    """NTLM client: step(b"") -> NEGOTIATE, step(CHALLENGE) -> AUTHENTICATE with an NTLMv2
    response (or, with v1=True, an NTLMv1-sized 24-byte NT response that a v2-only server
    must refuse). `target_name`, `server_flags` and `target_info` hold the parsed CHALLENGE."""

    FLAGS = 0x00000001 | 0x00000002 | 0x00000004 | 0x00000200 | 0x00008000 | 0x00080000 | 0x20000000

    def __init__(self, user, password, domain="LAB", workstation="SELFTEST", v1=False):
        self.user, self.password, self.domain, self.workstation = user, password, domain, workstation
        self.v1 = v1
        self.state = 0

    @staticmethod
    def ntowfv2(password, user, domain):
        return hmac.new(md4(password.encode("utf-16-le")), (user.upper() + domain).encode("utf-16-le"),
                        hashlib.md5).digest()

    @staticmethod
    def response(key, server_challenge, client_challenge, timestamp, target_info):
        temp = (b"\x01\x01" + b"\0" * 6 + struct.pack("<Q", timestamp) + client_challenge + b"\0" * 4
                + target_info + b"\0" * 4)
        return hmac.new(key, server_challenge + temp, hashlib.md5).digest() + temp

    def step(self, challenge: bytes) -> bytes:
        if self.state == 0:
            self.state = 1
            return b"NTLMSSP\0" + struct.pack("<II", 1, self.FLAGS) + b"\0" * 16
        if self.state != 1:
            raise ValueError("NTLM exchange already finished")
        self.state = 2
        c = challenge
        if len(c) < 48 or c[:8] != b"NTLMSSP\0" or struct.unpack_from("<I", c, 8)[0] != 2:
            raise ValueError(f"not an NTLM CHALLENGE message: {binascii.hexlify(c[:16])}")
        def buf(at):
            n, _, off = struct.unpack_from("<HHI", c, at)
            if off + n > len(c):
                raise ValueError("CHALLENGE field out of bounds")
            return c[off:off + n]
        self.server_flags = struct.unpack_from("<I", c, 20)[0]
        unicode = bool(self.server_flags & 1)
        self.target_name = buf(12).decode("utf-16-le" if unicode else "latin-1")
        self.target_info = buf(40) if self.server_flags & 0x00800000 else b""
        server_challenge = c[24:32]
        if self.v1:
            nt, lm = os.urandom(24), os.urandom(24)
        else:
            key = self.ntowfv2(self.password, self.user, self.domain)
            cc = os.urandom(8)
            filetime = (int(time.time()) + 11644473600) * 10_000_000
            nt = self.response(key, server_challenge, cc, filetime, self.target_info)
            lm = hmac.new(key, server_challenge + cc, hashlib.md5).digest() + cc
        enc = "utf-16-le" if unicode else "latin-1"
        parts = [lm, nt, self.domain.encode(enc), self.user.encode(enc), self.workstation.encode(enc), b""]
        offset, fields, payload = 64 + 8, b"", b""
        for p in parts:
            fields += struct.pack("<HHI", len(p), len(p), offset + len(payload))
            payload += p
        flags = (self.server_flags & self.FLAGS) | (1 if unicode else 2)
        version = b"\x0a\x00\x63\x45\0\0\0\x0f"
        return b"NTLMSSP\0" + struct.pack("<I", 3) + fields + struct.pack("<I", flags) + version + payload


def av_pairs(target_info: bytes):
    """{AvId: value} of a CHALLENGE's target info (MS-NLMP 2.2.2.1)."""
    out, at = {}, 0
    while at + 4 <= len(target_info):
        av_id, n = struct.unpack_from("<HH", target_info, at)
        if av_id == 0:
            break
        out[av_id] = target_info[at + 4:at + 4 + n]
        at += 4 + n
    return out


def ntlm_vectors():
    """RFC 1320 MD4 vectors and MS-NLMP 4.2.4 NTLMv2 values. Returns [(name, ok)]."""
    out = [(f"MD4 {m[:12]!r}", md4(m).hex() == want) for m, want in (
        (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"), (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
        (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
        (b"message digest", "d9130a8164549fe818874806e1c7014b"),
        (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
        (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"),
        (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"))]
    key = Ntlm.ntowfv2("Password", "User", "Domain")
    out.append(("MS-NLMP 4.2.4 NTOWFv2", key.hex() == "0c868a403bfd7a93a3001ef22ef02e3f"))
    info = (struct.pack("<HH", 2, 12) + "Domain".encode("utf-16-le") + struct.pack("<HH", 1, 12)
            + "Server".encode("utf-16-le") + b"\0\0\0\0")
    resp = Ntlm.response(key, bytes.fromhex("0123456789abcdef"), b"\xaa" * 8, 0, info)
    out.append(("MS-NLMP 4.2.4 NTProofStr", resp[:16].hex() == "68cd0ab851e51c96aabc927bebef6a1c"))
    return out


def selftest():
    return scram_vectors() + cram_vectors() + ntlm_vectors()


# ---------------------------------------------------------------- protocol drivers

def imap_authenticate(conn, mech, client):
    """imaplib.IMAP4 AUTHENTICATE with `client.step`; returns imaplib's (typ, data)."""
    return conn.authenticate(mech, client.step)


def smtp_authenticate(conn, mech, client, initial=False):
    """smtplib.SMTP AUTH with `client.step` (smtplib's own auth() cannot send binary).
    Returns the final (code, message)."""
    if initial:
        code, msg = conn.docmd("AUTH", f"{mech} {base64.b64encode(client.step(b'')).decode() or '='}")
    else:
        code, msg = conn.docmd("AUTH", mech)
    for _ in range(10):
        if code != 334:
            return code, msg
        code, msg = conn.docmd(base64.b64encode(client.step(base64.b64decode(msg))).decode())
    raise ValueError("too many SASL steps")
