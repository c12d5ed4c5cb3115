#!/usr/bin/python3
"""A TCP relay that adds a fixed delay to every byte in each direction: the benchmark's
stand-in for a real network's round trip (these machines have no tc netem, PITFALLS.md).

  delay_proxy.py LISTEN_IP UPSTREAM_IP SOURCE_IP DELAY_MS PORT... [--stats FILE]

Listens on LISTEN_IP:PORT for every PORT and relays each connection to UPSTREAM_IP:PORT,
connecting from SOURCE_IP (so the server never sees a client on its own address, which
Dovecot would treat as secured). Every chunk read on one side is written to the other
DELAY_MS later, in order; so a round trip through the relay costs 2 x DELAY_MS more. A
connect is answered by the kernel at once; the server's first bytes are delayed.

It also counts what went through, for the benchmark's connection budget: connections, TLS
ClientHellos from the client, and of those the ones the server resumed (a TLS 1.3
ServerHello with a pre_shared_key extension, or a TLS 1.2 ServerHello echoing the
client's session id). On SIGUSR1 it writes the counts so far as JSON to the stats FILE and
resets them; SIGTERM stops it. Standard library only; runs only on the addresses given.
"""
import asyncio, json, signal, socket, sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
stats_file = sys.argv[sys.argv.index("--stats") + 1] if "--stats" in sys.argv else None
if stats_file in args:
    args.remove(stats_file)
LISTEN, UPSTREAM, SOURCE, DELAY = args[0], args[1], args[2], int(args[3]) / 1000.0
PORTS = [int(p) for p in args[4:]]
counts = {"connections": 0, "client_hellos": 0, "resumed": 0}


def client_hello_session_id(data):
    """The session id of a TLS ClientHello at the start of data, or None if it is none."""
    if len(data) < 44 or data[0] != 0x16 or data[5] != 0x01:
        return None
    sid_len = data[43]
    return bytes(data[44:44 + sid_len])


def server_hello_resumed(data, client_sid):
    """True when data starts with a ServerHello that resumes a session."""
    if len(data) < 44 or data[0] != 0x16 or data[5] != 0x02:
        return False
    i = 43
    sid_len = data[i]
    sid = bytes(data[i + 1:i + 1 + sid_len])
    i += 1 + sid_len + 2 + 1  # session id, cipher suite, compression
    if i + 2 > len(data):
        return False
    end = min(len(data), i + 2 + int.from_bytes(data[i:i + 2], "big"))
    i += 2
    tls13 = False
    psk = False
    while i + 4 <= end:
        kind = int.from_bytes(data[i:i + 2], "big")
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if kind == 43:  # supported_versions: TLS 1.3
            tls13 = True
        if kind == 41:  # pre_shared_key: the server accepted a ticket
            psk = True
        i += 4 + length
    if tls13:
        return psk
    return bool(client_sid) and sid == client_sid


class Watch:
    """Per connection: spots the client's ClientHello and whether the server resumed."""

    def __init__(self):
        self.sid = None
        self.waiting = False

    def from_client(self, data):
        sid = client_hello_session_id(data)
        if sid is not None:
            counts["client_hellos"] += 1
            self.sid, self.waiting = sid, True

    def from_server(self, data):
        if self.waiting and data[:1] == b"\x16":
            self.waiting = False
            if server_hello_resumed(data, self.sid):
                counts["resumed"] += 1


async def pump(reader, writer, watch_fn):
    queue = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                return
            writer.write(data)
            try:
                await writer.drain()
            except OSError:
                return

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(65536)
            watch_fn(data)
            queue.put_nowait((loop.time() + DELAY, data or None))
            if not data:
                break
    except OSError:
        queue.put_nowait((loop.time() + DELAY, None))
    await sender


async def relay(port, client_reader, client_writer):
    counts["connections"] += 1
    watch = Watch()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((SOURCE, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (UPSTREAM, port))
        server_reader, server_writer = await asyncio.open_connection(sock=sock)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pump(client_reader, server_writer, watch.from_client),
                         pump(server_reader, client_writer, watch.from_server))
    for w in (client_writer, server_writer):
        w.close()


def write_stats():
    if stats_file:
        with open(stats_file, "w") as f:
            json.dump(counts, f)
    for k in counts:
        counts[k] = 0


async def main():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGUSR1, write_stats)
    servers = []
    for port in PORTS:
        servers.append(await asyncio.start_server(
            lambda r, w, p=port: relay(p, r, w), LISTEN, port, reuse_address=True))
    print("ready", flush=True)
    await stop
    loop.set_exception_handler(lambda *args: None)  # relays cut short at exit: no noise
    for s in servers:
        s.close()


asyncio.run(main())
