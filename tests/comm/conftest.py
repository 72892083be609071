"""Fixtures for the comm tests: an async runner, an echo server, a raw-socket peer."""

from __future__ import annotations

import asyncio
import struct

import msgpack
import pytest

from pardata.comm import CommError, Limits, encode, listen
from pardata.comm.framing import pack_prefix

#: Small limits so that every "too big" case is cheap to provoke.
TEST_LIMITS = Limits(
    max_frames=64,
    max_frame_bytes=1 << 20,
    max_message_bytes=4 << 20,
    max_header_bytes=1 << 20,
    read_timeout=0.3,
)


@pytest.fixture
def arun():
    """Run a coroutine on a fresh event loop under a deadline."""

    def run(coro, timeout: float = 20.0):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return run


@pytest.fixture
def limits():
    return TEST_LIMITS


async def echo_handler(comm) -> None:
    """Write back every message until the peer goes away."""
    try:
        while True:
            await comm.write(await comm.read())
    except CommError:
        pass


@pytest.fixture
def echo_server():
    """``async with echo_server(address) as listener`` serves ``echo_handler``."""

    class _Server:
        def __init__(self, address: str = "tcp://127.0.0.1:0", **kw) -> None:
            self.address = address
            self.kw = {"limits": TEST_LIMITS, **kw}

        async def __aenter__(self):
            self.listener = await listen(self.address, echo_handler, **self.kw)
            return self.listener

        async def __aexit__(self, *exc):
            await self.listener.stop()

    return _Server


def frame_bytes(frames) -> bytes:
    """A message as raw wire bytes: length prefix then frames."""
    frames = [bytes(memoryview(f)) for f in frames]
    return pack_prefix([len(f) for f in frames]) + b"".join(frames)


class RawPeer:
    """A hand-driven TCP client that can send anything, including garbage."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, address: str) -> "RawPeer":
        host, port = address.removeprefix("tcp://").rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_message(self, msg) -> None:
        await self.send(frame_bytes(encode(msg)))

    async def send_header(self, header, extra_frames=()) -> None:
        """Send a raw msgpack header (anything msgpack can pack) as a message."""
        await self.send(frame_bytes([msgpack.packb(header), *extra_frames]))

    async def read_message_frames(self) -> list[bytes]:
        (n,) = struct.unpack("<Q", await self.reader.readexactly(8))
        lengths = struct.unpack(f"<{n}Q", await self.reader.readexactly(8 * n))
        return [await self.reader.readexactly(k) for k in lengths]

    async def handshake(self) -> None:
        from pardata.comm import PROTOCOL_VERSION, Handshake, HandshakeReply, decode

        await self.send_message(Handshake(protocol=PROTOCOL_VERSION, name="raw"))
        reply = decode(await self.read_message_frames())
        assert isinstance(reply, HandshakeReply) and reply.accepted, reply

    async def wait_closed_by_server(self, timeout: float = 3.0) -> None:
        """Read until EOF: the server must hang up on us within ``timeout``."""
        async def drain():
            while await self.reader.read(65536):
                pass

        await asyncio.wait_for(drain(), timeout)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@pytest.fixture
def raw_peer():
    return RawPeer
