"""Hostile and broken peers against a live TCP listener.

Each case opens a raw socket, misbehaves, and checks that (1) the listener
hangs up on that connection, (2) the reason is logged on ``pardata.comm``, and
(3) a well-behaved client connected before the attack, and a new one after
it, are still served.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time

import msgpack
import pytest

from pardata.comm import Heartbeat, connect

pytestmark = pytest.mark.timeout(60)

U64 = struct.Struct("<Q")


def prefix(*lengths: int, nframes: int | None = None) -> bytes:
    n = len(lengths) if nframes is None else nframes
    return U64.pack(n) + b"".join(U64.pack(k) for k in lengths)


def deep_list(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"


# name -> (needs handshake first, bytes to send, close our side afterwards, logged reason or None)
ATTACKS = {
    "random-bytes": (False, random.Random(0).randbytes(4096), False, "frames, limit is"),
    "length-2**62": (True, prefix(2**62), False, "bytes, limit is"),
    "total-over-limit": (True, prefix(900_000, 900_000, 900_000, 900_000, 900_000), False, "message of"),
    "too-many-frames": (True, prefix(nframes=10**6), False, "1000000 frames, limit is 64"),
    "zero-frames": (True, prefix(nframes=0), False, "zero frames"),
    "huge-before-handshake": (False, prefix(1 << 20), False, "limit is 65536"),
    "truncated-then-close": (True, prefix(1000) + b"x" * 500, True, None),
    "unknown-op": (True, b"", False, "unknown op 'format-disk'"),
    "wrong-field-type": (True, b"", False, "heartbeat.time: expected float, got str"),
    "deep-msgpack": (True, prefix(100_001) + deep_list(100_000), False, "undecodable"),
    "not-msgpack": (True, prefix(4) + b"\xc1\xc1\xc1\xc1", False, "undecodable"),
    "frame-ref-out-of-range": (True, b"", False, "reference to frame"),
}

HEADERS = {
    "unknown-op": {"op": "format-disk"},
    "wrong-field-type": {"op": "heartbeat", "time": "now"},
    "frame-ref-out-of-range": {"op": "handshake", "protocol": 1, "auth": msgpack.ExtType(1, b"\x07\x00\x00\x00")},
}


async def assert_served(comm, value: float) -> None:
    await comm.write(Heartbeat(time=value))
    assert await comm.read() == Heartbeat(time=value)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_closes_only_the_attacker(attack, arun, echo_server, raw_peer, caplog):
    handshake, data, close_after, reason = ATTACKS[attack]

    async def main():
        async with echo_server() as listener:
            bystander = await connect(listener.address)
            peer = await raw_peer.open(listener.address)
            if handshake:
                await peer.handshake()
            if attack in HEADERS:
                await peer.send_header(HEADERS[attack])
            else:
                await peer.send(data)
            if close_after:
                peer.writer.write_eof()
            await peer.wait_closed_by_server()
            await peer.close()
            await assert_served(bystander, 1.0)
            newcomer = await connect(listener.address)
            await assert_served(newcomer, 2.0)
            await bystander.close()
            await newcomer.close()

    with caplog.at_level(logging.WARNING, logger="pardata.comm"):
        arun(main())
    warnings = [r.getMessage() for r in caplog.records if r.name == "pardata.comm"]
    if reason is not None:
        assert any(reason in w for w in warnings), warnings


@pytest.mark.parametrize("handshake", [False, True], ids=["before-handshake", "after-handshake"])
def test_slow_loris_is_disconnected_after_the_deadline(handshake, arun, echo_server, raw_peer, caplog, limits):
    async def main():
        async with echo_server(handshake_timeout=0.5) as listener:
            bystander = await connect(listener.address)
            peer = await raw_peer.open(listener.address)
            if handshake:
                await peer.handshake()
            await peer.send(prefix(100) + b"half a message")  # ... and then nothing
            start = time.monotonic()
            await peer.wait_closed_by_server(timeout=5)
            waited = time.monotonic() - start
            await peer.close()
            await assert_served(bystander, 3.0)
            await bystander.close()
            return waited

    with caplog.at_level(logging.WARNING, logger="pardata.comm"):
        waited = arun(main())
    assert limits.read_timeout * 0.8 <= waited < 2.0
    assert any("deadline" in r.getMessage() or "handshake" in r.getMessage() for r in caplog.records)


def test_idle_connections_are_not_timed_out(arun, echo_server, limits):
    """The read deadline starts with a message's first byte, not between messages."""

    async def main():
        async with echo_server() as listener:
            comm = await connect(listener.address)
            await asyncio.sleep(limits.read_timeout * 2)
            await assert_served(comm, 4.0)
            await comm.close()

    arun(main())


def test_many_attackers_at_once(arun, echo_server, raw_peer):
    async def main():
        async with echo_server() as listener:
            bystander = await connect(listener.address)
            peers = [await raw_peer.open(listener.address) for _ in range(20)]
            rng = random.Random(1)
            await asyncio.gather(*(p.send(rng.randbytes(256)) for p in peers))
            await asyncio.gather(*(p.wait_closed_by_server() for p in peers))
            for p in peers:
                await p.close()
            await assert_served(bystander, 5.0)
            for _ in range(100):  # the server forgets attackers right after hanging up
                if len(listener.comms) == 1:
                    break
                await asyncio.sleep(0.01)
            assert len(listener.comms) == 1  # only the bystander is still served
            await bystander.close()

    arun(main())
