#!/usr/bin/python3
"""Scripted fake server for hostile cases real servers won't produce. Standard library only.

  fake_server.py --listen ADDR:PORT [--tls CERT KEY] --script FILE-or-MODE [--pidfile FILE]

Run it inside the lab namespace (ci/lab.sh exec /usr/bin/python3 fake_server.py ...).
Prints "ready" on stdout once listening; serves every connection in its own thread.
--tls wraps each connection in TLS from the first byte (implicit TLS).

Modes: silent   accept, never send anything, hold the connection until the client closes
       http     send "HTTP/1.0 400 Bad Request\\r\\n\\r\\n", close
       smtp421  send "421 4.7.0 Too many connections from your host\\r\\n", close
       garbage  send 10 KB of bytes (no CR, no LF), hold the connection open
A script FILE has one command a line (blank lines and # comments ignored):
       send TEXT          send TEXT; Python escapes (\\r\\n, \\x00) are decoded, latin-1
       recv               read one line from the client (ends the script on EOF)
       sleep SECONDS      pause
       garbage N          send N bytes without CR or LF
       starttls CERT KEY  upgrade this connection to TLS (bytes buffered before are dropped)
       hold               read and discard until the client closes
       close              close now (also what happens at the end of the script)
       answer PAT => TEXT a rule for serve: a client line that starts with PAT (case-
                          insensitive), or whose words after the first (an IMAP tag) do,
                          gets TEXT ({tag}: the line's first word, {lasttag}: that of the
                          last line with more than one word; escapes as for send);
                          PAT * matches any line; the first matching rule wins
       serve              answer each client line by the rules until the client closes;
                          a TEXT ending in {data} then takes the lines after it up to
                          a lone "." unanswered (an SMTP message after DATA)
       repeat N TEXT      send TEXT N times, {i} in it replaced by 0, 1, ... (floods)
       shutdown           half-close: no more bytes from us, keep reading
       reset              close with a TCP reset (SO_LINGER 0)
"""
import argparse, os, random, signal, socket, ssl, struct, sys, threading, time

MODES = {
    "silent": ["hold"],
    "http": ["send HTTP/1.0 400 Bad Request\\r\\n\\r\\n", "close"],
    "smtp421": ["send 421 4.7.0 Too many connections from your host\\r\\n", "close"],
    "garbage": ["garbage 10240", "hold"],
}


def garbage(n):
    rnd = random.Random(n)
    return bytes(b for b in (rnd.randrange(256) for _ in range(n * 2)) if b not in (10, 13))[:n]


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def unescape(text):
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def matches(pattern, line):
    if pattern == "*":
        return True
    up = line.upper()
    words = up.split(" ", 1)
    return up.startswith(pattern.upper()) or (len(words) > 1 and words[1].startswith(pattern.upper()))


def serve(conn, script, ctx):
    buf = b""
    rules = []
    last_tag = "*"
    swallowing = False
    try:
        conn.settimeout(None)
        if ctx:
            conn = ctx.wrap_socket(conn, server_side=True)
        for line in script:
            cmd, _, arg = line.partition(" ")
            if cmd == "send":
                conn.sendall(unescape(arg))
            elif cmd == "recv":
                while b"\n" not in buf and len(buf) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                _, _, buf = buf.partition(b"\n")
            elif cmd == "sleep":
                time.sleep(float(arg))
            elif cmd == "garbage":
                conn.sendall(garbage(int(arg)))
            elif cmd == "starttls":
                buf = b""
                conn = tls_context(*arg.split()).wrap_socket(conn, server_side=True)
            elif cmd == "hold":
                while conn.recv(4096):
                    pass
            elif cmd == "repeat":
                count, _, text = arg.partition(" ")
                for i in range(int(count)):
                    conn.sendall(unescape(text.replace("{i}", str(i))))
            elif cmd == "answer":
                pattern, _, text = arg.partition(" =>")
                rules.append((pattern.strip(), text[1:] if text.startswith(" ") else text))
            elif cmd == "serve":
                while True:
                    while b"\n" not in buf and len(buf) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            return
                        buf += chunk
                    raw, _, buf = buf.partition(b"\n")
                    line = raw.rstrip(b"\r").decode("latin-1")
                    tag = line.split(" ", 1)[0]
                    if " " in line:
                        last_tag = tag
                    if swallowing:
                        swallowing = line != "."
                        if swallowing:
                            continue
                    for pattern, text in rules:
                        if matches(pattern, line):
                            text = text.replace("{tag}", tag).replace("{lasttag}", last_tag)
                            swallowing = text.endswith("{data}")
                            conn.sendall(unescape(text.replace("{data}", "")))
                            break
            elif cmd == "shutdown":
                conn.shutdown(socket.SHUT_WR)
            elif cmd == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            elif cmd == "close":
                return
            else:
                raise ValueError(f"unknown script command: {line}")
    except (OSError, ssl.SSLError) as e:
        print(f"fake_server: connection: {e}", file=sys.stderr, flush=True)
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description="scripted fake server for mailready tests")
    ap.add_argument("--listen", required=True, help="ADDR:PORT, e.g. 127.0.10.40:25 or [::1]:25 (127.0.10.30 is dark.lab.test: dropped)")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="implicit TLS")
    ap.add_argument("--script", required=True, help="mode (%s) or script file" % ", ".join(MODES))
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    if a.script in MODES:
        script = MODES[a.script]
    else:
        with open(a.script) as f:
            script = [l.rstrip("\r\n") for l in f if l.strip() and not l.lstrip().startswith("#")]
    host, port = a.listen.rsplit(":", 1)[0].strip("[]"), a.listen.rsplit(":", 1)[1]
    ctx = tls_context(*a.tls) if a.tls else None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(128)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    try:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn, script, ctx), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        if a.pidfile:
            try:
                os.unlink(a.pidfile)
            except OSError:
                pass


if __name__ == "__main__":
    main()
