"""Hostile peers against an authenticating listener in its own process.

The listener (``tcp://`` with the cluster secret, and ``tls://`` with the
secret and certificates) runs in a child process with a trusting handler that
unpickles every payload it receives. Each attack comes from a raw socket
before or during the handshake. After each: the process is alive, its resident
memory grew by less than ``MEMORY_BOUND``, an authenticated client connected
before the attack is still served, and a new one can connect.
"""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import struct
import subprocess
import sys
import time

import msgpack
import psutil
import pytest

from pardata.comm import PROTOCOL_VERSION, Handshake, Heartbeat, ProtocolError, connect, encode
from pardata.security import Security, new_secret

pytestmark = pytest.mark.timeout(90)

MEMORY_BOUND = 16 * 2**20
HANDSHAKE_TIMEOUT = 1.0
U64 = struct.Struct("<Q")
TAG = b"PDA1"

LISTENER_SCRIPT = f"""
import asyncio, dataclasses, logging, sys
logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
from pardata.comm import CommError, Limits, listen
from pardata.security import Security
from pardata.serialize import Serialized, deserialize

async def trusting_echo(comm):
    try:
        while True:
            msg = await comm.read()
            for field in dataclasses.fields(msg):
                if isinstance(getattr(msg, field.name), Serialized):
                    deserialize(getattr(msg, field.name))
            await comm.write(msg)
    except CommError:
        pass

async def main():
    listener = await listen(sys.argv[1], trusting_echo, security=Security.from_env(),
                            limits=Limits(read_timeout=0.5), handshake_timeout={HANDSHAKE_TIMEOUT})
    print(listener.address, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    await listener.stop()

asyncio.run(main())
"""


class Listener:
    def __init__(self, proc: subprocess.Popen, address: str, security: Security, log_path) -> None:
        self.proc = proc
        self.address = address
        self.security = security
        self.log_path = log_path

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def client_ssl(self) -> ssl.SSLContext | None:
        return self.security.ssl_context("client")

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture(scope="module", params=["tcp", "tls"])
def listener(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"hostile-{request.param}")
    secret = new_secret()
    security = Security.temporary(directory, auth_secret=secret) if request.param == "tls" else Security(auth_secret=secret)
    env = {**os.environ, **security.child_env()}
    log_path = directory / "listener.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", LISTENER_SCRIPT, f"{request.param}://127.0.0.1:0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
        )
    try:
        address = proc.stdout.readline().strip()
        assert address.startswith(request.param), (address, log_path.read_text())
        yield Listener(proc, address, security, log_path)
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert "Traceback" not in log_path.read_text()


def prefix(*lengths: int, nframes: int | None = None) -> bytes:
    n = len(lengths) if nframes is None else nframes
    return U64.pack(n) + b"".join(U64.pack(k) for k in lengths)


def message(header) -> bytes:
    body = msgpack.packb(header)
    return prefix(len(body)) + body


def raw(msg) -> bytes:
    frames = [bytes(memoryview(f)) for f in encode(msg)]
    return prefix(*map(len, frames)) + b"".join(frames)


DEEP_LIST = b"\x91" * 60_000 + b"\xc0"  # fits the 64 KiB pre-handshake limit
DEEP_MAP = b"\x81\xa1k" * 20_000 + b"\xc0"
HELLO = raw(Handshake(protocol=PROTOCOL_VERSION, auth=TAG + bytes(32)))

# name -> (send a well-formed hello and read the challenge first?, bytes, then half-close?)
ATTACKS = {
    "random-bytes": (False, random.Random(0).randbytes(64 * 1024), False),
    "length-2**62": (False, prefix(2**62), False),
    "frame-count-2**62": (False, prefix(nframes=2**62), False),
    "million-empty-frames": (False, prefix(nframes=10**6) + bytes(8 * 10**6), False),
    "million-empty-messages": (False, prefix(0) * 10**6, False),
    "zero-frames": (False, prefix(nframes=0), False),
    "truncated-frame": (False, prefix(1000) + b"x" * 500, True),
    "deep-msgpack-list": (False, prefix(len(DEEP_LIST)) + DEEP_LIST, False),
    "deep-msgpack-map": (False, prefix(len(DEEP_MAP)) + DEEP_MAP, False),
    "unknown-op": (False, message({"op": "format-disk", "path": "/"}), False),
    "handshake-with-huge-fields": (False, message({"op": "handshake", "protocol": 1, "auth": b"a" * 60_000}), False),
    "proof-length-2**62": (True, prefix(2**62), False),
    "proof-deep-msgpack": (True, prefix(len(DEEP_LIST)) + DEEP_LIST, False),
    "proof-random-bytes": (True, random.Random(1).randbytes(4096), False),
    "proof-million-empty-frames": (True, prefix(nframes=10**6) + bytes(8 * 10**6), False),
}


async def open_raw(listener: Listener):
    host, port = listener.address.split("://")[1].rsplit(":", 1)
    return await asyncio.open_connection(host, int(port), ssl=listener.client_ssl())


async def send(writer, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionError, OSError):
        pass  # the listener already hung up: that is the point


async def read_until_closed(reader, timeout: float) -> None:
    async def drain():
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, OSError, ssl.SSLError):
            pass

    await asyncio.wait_for(drain(), timeout)


async def close(writer) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 2)
    except (ConnectionError, OSError, ssl.SSLError, asyncio.TimeoutError):
        pass


async def logged_about(listener: Listener, port: int) -> None:
    """The listener logged why it dropped the connection from ``port``."""
    for _ in range(100):
        if f"127.0.0.1:{port}: " in listener.log() or f"127.0.0.1:{port} failed: " in listener.log():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing logged about 127.0.0.1:{port}:\n{listener.log()[-3000:]}")


async def assert_served(comm, value: float) -> None:
    await comm.write(Heartbeat(time=value))
    assert await comm.read() == Heartbeat(time=value)


async def attacked(listener: Listener, attack) -> None:
    """Run ``attack(reader, writer)`` on a raw connection with a bystander watching."""
    bystander = await connect(listener.address, security=listener.security, name="bystander")
    await assert_served(bystander, 0.5)
    before = listener.rss()
    reader, writer = await open_raw(listener)
    port = writer.get_extra_info("sockname")[1]
    await attack(reader, writer)
    await close(writer)
    assert listener.proc.poll() is None, listener.log()
    await logged_about(listener, port)
    grown = listener.rss() - before
    assert grown < MEMORY_BOUND, f"listener grew by {grown / 2**20:.1f} MiB"
    await assert_served(bystander, 1.5)
    newcomer = await connect(listener.address, security=listener.security, name="newcomer")
    await assert_served(newcomer, 2.5)
    await bystander.close()
    await newcomer.close()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_before_authentication(listener, arun, name):
    after_hello, data, half_close = ATTACKS[name]

    async def attack(reader, writer):
        if after_hello:
            await send(writer, HELLO)
            (n,) = U64.unpack(await reader.readexactly(8))
            lengths = struct.unpack(f"<{n}Q", await reader.readexactly(8 * n))
            await reader.readexactly(sum(lengths))  # the challenge
        await send(writer, data)
        if half_close and writer.can_write_eof():
            writer.write_eof()
        await read_until_closed(reader, timeout=HANDSHAKE_TIMEOUT + 3)

    arun(attacked(listener, attack), timeout=30)


@pytest.mark.parametrize("stage", ["no-bytes", "half-prefix", "after-hello", "drip-feed"])
def test_slow_loris_is_dropped_by_the_handshake_deadline(listener, arun, stage):
    async def attack(reader, writer):
        start = time.monotonic()
        if stage == "half-prefix":
            await send(writer, prefix(100)[:5])
        elif stage == "after-hello":
            await send(writer, HELLO)  # ... and never answer the challenge
        elif stage == "drip-feed":
            async def drip():
                for byte in HELLO:
                    await send(writer, bytes([byte]))
                    await asyncio.sleep(0.05)

            dripper = asyncio.ensure_future(drip())
        await read_until_closed(reader, timeout=HANDSHAKE_TIMEOUT + 3)
        if stage == "drip-feed":
            dripper.cancel()
            await asyncio.gather(dripper, return_exceptions=True)
        assert time.monotonic() - start < HANDSHAKE_TIMEOUT + 2

    arun(attacked(listener, attack), timeout=30)


def test_many_stalled_connections_at_once(listener, arun):
    async def main():
        bystander = await connect(listener.address, security=listener.security)
        before = listener.rss()
        peers = await asyncio.gather(*(open_raw(listener) for _ in range(100)))
        await asyncio.gather(*(send(w, prefix(60_000)) for _, w in peers))  # promise, never deliver
        await assert_served(bystander, 1.0)  # served while they stall
        await asyncio.gather(*(read_until_closed(r, HANDSHAKE_TIMEOUT + 5) for r, _ in peers))
        await asyncio.gather(*(close(w) for _, w in peers))
        assert listener.proc.poll() is None
        assert listener.rss() - before < MEMORY_BOUND
        await assert_served(bystander, 2.0)
        await bystander.close()

    arun(main(), timeout=30)


@pytest.mark.parametrize("listener", ["tls"], indirect=True)
def test_plain_garbage_at_a_tls_port(listener, arun):
    async def main():
        bystander = await connect(listener.address, security=listener.security)
        host, port = listener.address.split("://")[1].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        await send(writer, random.Random(2).randbytes(64 * 1024))
        await read_until_closed(reader, HANDSHAKE_TIMEOUT + 3)
        await close(writer)
        assert listener.proc.poll() is None
        await assert_served(bystander, 1.0)
        await bystander.close()

    arun(main())


@pytest.mark.parametrize(
    "answer, reason",
    [
        (prefix(2**62), "limit is 65536"),
        (prefix(1 << 20) + bytes(1 << 20), "limit is 65536"),
        (prefix(len(DEEP_LIST)) + DEEP_LIST, "undecodable"),
        (random.Random(3).randbytes(4096), "limit is 4"),
    ],
    ids=["length-2**62", "1-MiB-frame", "deep-msgpack", "random-bytes"],
)
def test_a_hostile_listener_cannot_flood_a_connecting_client(arun, answer, reason):
    """The connecting side is under the same small pre-handshake limits."""

    async def main():
        async def hostile(reader, writer):
            await reader.read(100)
            await send(writer, answer)
            await read_until_closed(reader, 5)
            await close(writer)

        server = await asyncio.start_server(hostile, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ProtocolError, match=reason):
            await connect(f"tcp://127.0.0.1:{port}", security=Security(auth_secret=new_secret()), timeout=5)
        server.close()
        await server.wait_closed()

    arun(main())
