"""CPython asyncio peers for host-native/tests/interop.rs (standard library only).

Usage: python3 peer.py MODE [ARGS...]

Server modes listen on 127.0.0.1 port 0 (or on the Unix path given) and print
"PORT <n>" (or "READY") on stdout once listening; client modes connect to the address
given. Every mode prints "RESULT ..." lines describing what it saw, exits 0 on success,
and exits by itself: each serves exactly the connections the test makes and the whole
run is bounded by a time limit (exit status 2 when it is exceeded).
"""

import asyncio
import hashlib
import socket
import struct
import sys

LIMIT = 30.0  # seconds; the Rust tests' watchdogs are of the same order
CHUNK = 64 * 1024


def say(*words):
    print(*words, flush=True)


def digest(data):
    return hashlib.sha256(data).hexdigest()


def payload(length, seed=0):
    """The same pattern as the Rust tests' payload(): (i * 31 + seed) % 251."""
    pattern = bytes((i * 31 + seed) % 251 for i in range(251 * 31))
    reps = length // len(pattern) + 1
    return (pattern * reps)[:length]


async def read_all(reader):
    chunks = []
    while True:
        data = await reader.read(CHUNK)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


async def serve_once(handler, unix_path=None):
    """Listen, announce, serve one connection with handler, then stop."""
    done = asyncio.get_running_loop().create_future()

    async def client(reader, writer):
        try:
            await handler(reader, writer)
        except Exception as e:  # reported to the test through the exit status
            if not done.done():
                done.set_exception(e)
            return
        if not done.done():
            done.set_result(None)

    if unix_path is None:
        server = await asyncio.start_server(client, "127.0.0.1", 0)
        say("PORT", server.sockets[0].getsockname()[1])
    else:
        server = await asyncio.start_unix_server(client, unix_path)
        say("READY")
    async with server:
        await done


# ---- server modes (the Rust side is the client) ----


async def echo_handler(reader, writer):
    """Echo with drain() until the client's EOF, then close."""
    total = 0
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        total += len(data)
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()
    say("RESULT echoed", total)


async def slow_reader_handler(reader, writer):
    """Read nothing until the test writes "go" on stdin, then read to EOF and answer
    with the byte count and SHA-256 of everything received."""
    loop = asyncio.get_running_loop()
    go = await loop.run_in_executor(None, sys.stdin.readline)
    if go.strip() != "go":
        raise RuntimeError(f"expected go on stdin, got {go!r}")
    data = await read_all(reader)
    writer.write(f"{len(data)} {digest(data)}\n".encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def eof_reply_handler(reader, writer):
    """Half-close, Rust side first: read to the client's EOF, then still send back the
    count and SHA-256 of what arrived, then close."""
    data = await read_all(reader)
    if not reader.at_eof():
        raise RuntimeError("read_all returned before EOF")
    writer.write(f"{len(data)} {digest(data)}\n".encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def eof_first_handler(reader, writer):
    """Half-close, Python side first: send a greeting and write_eof(), then read what the
    client keeps sending until its EOF and report it on stdout."""
    writer.write(b"hello from asyncio\n")
    await writer.drain()
    if not writer.can_write_eof():
        raise RuntimeError("transport cannot write EOF")
    writer.write_eof()
    data = await read_all(reader)
    say("RESULT got", len(data), digest(data))
    writer.close()
    await writer.wait_closed()


async def reset_handler(reader, writer):
    """Wait for one line, then reset the connection (SO_LINGER 0 + abort -> RST)."""
    await reader.readline()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    say("RESULT reset")


class UdpEcho(asyncio.DatagramProtocol):
    def __init__(self, done):
        self.done = done
        self.count = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if data == b"quit":
            if not self.done.done():
                self.done.set_result(self.count)
            return
        self.count += 1
        self.transport.sendto(data, addr)

    def error_received(self, exc):
        if not self.done.done():
            self.done.set_exception(exc)


async def udp_echo():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpEcho(done), local_addr=("127.0.0.1", 0)
    )
    say("PORT", transport.get_extra_info("sockname")[1])
    try:
        count = await done
    finally:
        transport.close()
    say("RESULT echoed", count)


# ---- client modes (the Rust side is the server) ----


async def connect(address):
    kind, _, rest = address.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(rest)
    host, _, port = rest.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def echo_client(address, index, size):
    """Write a payload (with drain), write_eof, read the echo to EOF, compare."""
    reader, writer = await connect(address)
    data = payload(size, index)

    async def send():
        for at in range(0, len(data), CHUNK):
            writer.write(data[at : at + CHUNK])
            await writer.drain()
        writer.write_eof()

    sender = asyncio.ensure_future(send())
    echo = await read_all(reader)
    await sender
    writer.close()
    await writer.wait_closed()
    if echo != data:
        raise RuntimeError(
            f"connection {index}: echo of {len(echo)} bytes differs from the "
            f"{len(data)} sent"
        )
    return len(echo)


async def echo_clients(address, count, size):
    sizes = await asyncio.gather(
        *(echo_client(address, i, size) for i in range(count))
    )
    say("RESULT echoed", len(sizes), sum(sizes))


async def eof_then_reply_client(address, size):
    """Half-close, Python side first: send a payload and write_eof(), then read the
    server's answer to EOF."""
    reader, writer = await connect(address)
    data = payload(size)
    writer.write(data)
    await writer.drain()
    writer.write_eof()
    answer = await read_all(reader)
    writer.close()
    await writer.wait_closed()
    expected = f"{len(data)} {digest(data)}\n".encode()
    if answer != expected:
        raise RuntimeError(f"answer {answer!r}, expected {expected!r}")
    say("RESULT ok")


async def read_then_reply_client(address):
    """Half-close, Rust side first: read to the server's EOF, then still send back the
    count and SHA-256 of what arrived, then close."""
    reader, writer = await connect(address)
    data = await read_all(reader)
    writer.write(f"{len(data)} {digest(data)}\n".encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    say("RESULT read", len(data))


MODES = {
    "echo-server": lambda a: serve_once(echo_handler),
    "slow-reader-server": lambda a: serve_once(slow_reader_handler),
    "eof-reply-server": lambda a: serve_once(eof_reply_handler),
    "eof-first-server": lambda a: serve_once(eof_first_handler),
    "reset-server": lambda a: serve_once(reset_handler),
    "unix-echo-server": lambda a: serve_once(echo_handler, unix_path=a[0]),
    "udp-echo": lambda a: udp_echo(),
    "echo-clients": lambda a: echo_clients(a[0], int(a[1]), int(a[2])),
    "eof-then-reply-client": lambda a: eof_then_reply_client(a[0], int(a[1])),
    "read-then-reply-client": lambda a: read_then_reply_client(a[0]),
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(f"usage: peer.py {{{','.join(MODES)}}} [ARGS...]")
    try:
        asyncio.run(asyncio.wait_for(MODES[sys.argv[1]](sys.argv[2:]), LIMIT))
    except asyncio.TimeoutError:
        print(f"peer.py {sys.argv[1]}: still running after {LIMIT} s", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
