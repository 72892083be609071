"""Hostile input against a LIVE scheduler and a LIVE worker (real processes).

One ``LocalCluster`` of processes (its own fresh secret, a 1 s handshake deadline)
serves the module. Each attack comes from a raw socket, before authentication or
after it, at the scheduler or at a worker. After each: the attacked process is
alive, its resident memory grew by less than ``MEMORY_BOUND``, a canary that the
attack tried to create by unpickling never appears, and the Client connected all
along still computes a small graph that moves data between the workers.
"""

from __future__ import annotations

import asyncio
import pathlib
import pickle
import random
import struct
import time

import msgpack
import psutil
import pytest

from pardata.comm import PROTOCOL_VERSION, CommError, Handshake, connect, encode
from pardata.comm import messages as m
from pardata.comm.auth import ENV_VAR
from pardata.distributed import Client, LocalCluster
from pardata.security import AUTH_FILE_ENV
from pardata.serialize import serialize
from pardata.testing.cluster import inc


pytestmark = [pytest.mark.processes, pytest.mark.timeout(180)]

MEMORY_BOUND = 32 * 2**20
HANDSHAKE_TIMEOUT = 1.5  # short, so the slow-loris tests are quick; ample for a loopback handshake
U64 = struct.Struct("<Q")
TAG = b"PDA1"


def prefix(*lengths: int, nframes: int | None = None) -> bytes:
    n = len(lengths) if nframes is None else nframes
    return U64.pack(n) + b"".join(U64.pack(k) for k in lengths)


def message(header) -> bytes:
    body = msgpack.packb(header)
    return prefix(len(body)) + body


def raw(msg) -> bytes:
    frames = [bytes(memoryview(f)) for f in encode(msg)]
    return prefix(*map(len, frames)) + b"".join(frames)


DEEP_LIST = b"\x91" * 60_000 + b"\xc0"
HELLO = raw(Handshake(protocol=PROTOCOL_VERSION, name="intruder", auth=TAG + bytes(32)))


class Target:
    def __init__(self, name: str, address: str, pid: int) -> None:
        self.name = name
        self.address = address
        self.process = psutil.Process(pid)

    def rss(self) -> int:
        return self.process.memory_info().rss

    def alive(self) -> bool:
        return self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE


@pytest.fixture(scope="module")
def live():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARDATA_DISTRIBUTED__COMM__TIMEOUTS__HANDSHAKE", f"{HANDSHAKE_TIMEOUT}s")
        for name in (ENV_VAR, AUTH_FILE_ENV):
            mp.delenv(name, raising=False)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0, nanny=False,
                               dashboard_address=None)
    try:
        with Client(cluster) as client:
            workers = client.scheduler_info()["workers"]
            address = sorted(workers)[0]
            targets = {
                "scheduler": Target("scheduler", cluster.scheduler_address, cluster.scheduler_process.pid),
                "worker": Target("worker", address, workers[address]["pid"]),
            }
            still_computes(client)  # warm: first-use allocations are not the attacks' doing
            yield cluster, client, targets
    finally:
        cluster.close()


def still_computes(client: Client) -> None:
    workers = sorted(client.nthreads())
    assert len(workers) == 2
    parts = [client.submit(inc, i, workers=[workers[i % 2]], pure=False) for i in range(4)]
    total = client.submit(sum, parts, workers=[workers[0]], pure=False)
    assert total.result(timeout=60) == sum(range(1, 5))


async def open_raw(address: str):
    host, port = address.split("://")[1].rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def send(writer, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionError, OSError):
        pass  # the server already hung up: that is the point


async def read_until_closed(reader, timeout: float) -> bytes:
    received = bytearray()

    async def drain():
        try:
            while chunk := await reader.read(65536):
                received.extend(chunk)
        except (ConnectionError, OSError):
            pass

    await asyncio.wait_for(drain(), timeout)
    return bytes(received)


async def close(writer) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 2)
    except (ConnectionError, OSError, asyncio.TimeoutError):
        pass


async def answer_challenge_wrongly(reader, writer) -> None:
    """Send a hello, read the challenge, send a proof made without the secret."""
    await send(writer, HELLO)
    (n,) = U64.unpack(await reader.readexactly(8))
    lengths = struct.unpack(f"<{n}Q", await reader.readexactly(8 * n))
    await reader.readexactly(sum(lengths))
    await send(writer, raw(Handshake(protocol=PROTOCOL_VERSION, name="intruder", auth=TAG + bytes(32))))


class Canary:
    """Unpickling this creates ``path``; the pickle names only ``pathlib``."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def canary_attacks(path):
    payload = serialize(Canary(path))
    pickled = pickle.dumps(Canary(path))
    return {
        # a message whose payload would create the file if unpickled, instead of a handshake
        "pickle-before-handshake": (None, raw(m.RunFunction(function=payload))),
        # a bare pickle where the msgpack header belongs
        "pickle-as-header": (None, prefix(len(pickled)) + pickled),
        # the same after a failed proof of the secret
        "pickle-after-wrong-proof": (answer_challenge_wrongly, raw(m.RunFunction(function=payload))),
    }


# name -> (a coroutine run first on the raw connection, or None; bytes sent then)
ATTACKS = {
    "random-bytes": (None, random.Random(0).randbytes(64 * 1024)),
    "length-2**62": (None, prefix(2**62)),
    "frame-count-2**62": (None, prefix(nframes=2**62)),
    "million-empty-frames": (None, prefix(nframes=10**6) + bytes(8 * 10**6)),
    "million-empty-messages": (None, prefix(0) * 10**6),
    "truncated-frame": (None, prefix(1000) + b"x" * 500),
    "deep-msgpack": (None, prefix(len(DEEP_LIST)) + DEEP_LIST),
    "unknown-op": (None, message({"op": "format-disk", "path": "/"})),
    "no-credentials": (None, raw(Handshake(protocol=PROTOCOL_VERSION, name="intruder"))),
    "wrong-proof": (answer_challenge_wrongly, b""),
}


def run_attack(live, target_name: str, attack, *, after: float = HANDSHAKE_TIMEOUT + 15) -> bytes:
    """Run ``attack(reader, writer)`` at the target; check it survived, unchanged, and serves."""
    _, client, targets = live
    target = targets[target_name]
    before = target.rss()

    async def main():
        reader, writer = await open_raw(target.address)
        try:
            await attack(reader, writer)
            return await read_until_closed(reader, timeout=after)
        finally:
            await close(writer)

    received = asyncio.run(asyncio.wait_for(main(), after + 30))
    assert target.alive(), f"the {target_name} died"
    grown = target.rss() - before
    assert grown < MEMORY_BOUND, f"the {target_name} grew by {grown / 2**20:.1f} MiB"
    still_computes(client)
    return received


@pytest.mark.parametrize("target", ["scheduler", "worker"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_before_authentication(live, target, name):
    first, data = ATTACKS[name]

    async def attack(reader, writer):
        if first is not None:
            await first(reader, writer)
        await send(writer, data)
        if name == "truncated-frame" and writer.can_write_eof():
            writer.write_eof()

    received = run_attack(live, target, attack)
    if name in ("no-credentials", "wrong-proof"):  # refused with the reason, then disconnected
        assert b"authentication failed" in received


@pytest.mark.parametrize("target", ["scheduler", "worker"])
@pytest.mark.parametrize("name", ["pickle-before-handshake", "pickle-as-header", "pickle-after-wrong-proof"])
def test_pickles_from_unauthenticated_peers_are_never_unpickled(live, target, name, tmp_path):
    canary = tmp_path / "canary"
    first, data = canary_attacks(canary)[name]

    async def attack(reader, writer):
        if first is not None:
            await first(reader, writer)
        await send(writer, data)

    run_attack(live, target, attack)
    time.sleep(0.2)  # anything unpickled late would show up by now
    assert not canary.exists()


@pytest.mark.parametrize("target", ["scheduler", "worker"])
@pytest.mark.parametrize("stage", ["silent", "half-prefix", "after-hello", "drip-feed"])
def test_slow_loris_is_dropped_by_the_handshake_deadline(live, target, stage):
    async def attack(reader, writer):
        dripper = None
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
        # without the deadline the server would wait forever (after the drip, for a proof):
        # the read would time out and fail the test
        await read_until_closed(reader, timeout=HANDSHAKE_TIMEOUT + 15)
        if dripper is not None:
            dripper.cancel()
            await asyncio.gather(dripper, return_exceptions=True)

    run_attack(live, target, attack)


@pytest.mark.parametrize("target", ["scheduler", "worker"])
def test_many_stalled_connections_at_once(live, target):
    _, client, targets = live
    t = targets[target]
    before = t.rss()

    async def main():
        peers = await asyncio.gather(*(open_raw(t.address) for _ in range(50)))
        await asyncio.gather(*(send(w, prefix(60_000)) for _, w in peers))  # promise, never deliver
        await asyncio.gather(*(read_until_closed(r, HANDSHAKE_TIMEOUT + 20) for r, _ in peers))
        await asyncio.gather(*(close(w) for _, w in peers))

    asyncio.run(asyncio.wait_for(main(), 60))
    assert t.alive()
    assert t.rss() - before < MEMORY_BOUND
    still_computes(client)


# --- an authenticated peer that misbehaves is dropped too, and harms nobody else ------------

AUTHENTICATED = {
    "unknown-op": message({"op": "format-disk", "path": "/"}),
    "deep-msgpack": prefix(len(DEEP_LIST)) + DEEP_LIST,
    "length-2**62": prefix(2**62),
    "random-bytes": random.Random(4).randbytes(4096),
    "truncated-frame": prefix(1000) + b"x" * 500,
}


@pytest.mark.parametrize("target", ["scheduler", "worker"])
@pytest.mark.parametrize("name", sorted(AUTHENTICATED))
def test_misbehaving_authenticated_peer(live, target, name):
    cluster, client, targets = live
    t = targets[target]
    before = t.rss()

    async def main():
        comm = await connect(t.address, security=cluster.security, name="misbehaving")
        comm.stream.write(AUTHENTICATED[name])
        if name == "truncated-frame":
            comm.stream.socket.shutdown(1)  # half-close: the rest never comes
        with pytest.raises(CommError):
            await asyncio.wait_for(comm.read(), 60)  # the server hangs up; nothing else comes back
        comm.abort()

    asyncio.run(asyncio.wait_for(main(), 90))
    assert t.alive()
    assert t.rss() - before < MEMORY_BOUND
    still_computes(client)


def test_unknown_query_is_answered_with_an_error(live, arun):
    cluster, client, targets = live

    async def main():
        comm = await connect(targets["scheduler"].address, security=cluster.security)
        await comm.write(m.Query(request_id=7, name="format-disk"))
        reply = await comm.read()
        assert reply.request_id == 7 and "unknown query 'format-disk'" in reply.error
        comm.abort()

    arun(main())
    still_computes(client)


def test_the_canary_is_live(live, tmp_path):
    """Control: the same pickle from an AUTHENTICATED peer is unpickled by the worker, so
    the canary tests above would notice an unauthenticated one getting that far."""
    cluster, client, targets = live
    canary = tmp_path / "canary"

    async def main():
        comm = await connect(targets["worker"].address, security=cluster.security)
        await comm.write(m.RunFunction(function=serialize(Canary(canary))))
        await asyncio.wait_for(comm.read(), 30)  # the reply (an error: a canary is not callable)
        comm.abort()

    asyncio.run(asyncio.wait_for(main(), 60))
    assert canary.exists()
    still_computes(client)
