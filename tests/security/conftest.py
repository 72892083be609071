"""Fixtures for the security tests: an async runner, secrets, a raw hostile peer, a canary."""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import ssl
import struct

import pytest

from pardata.comm import CommError, Limits, encode
from pardata.comm.framing import pack_prefix
from pardata.serialize import Serialized, deserialize, serialize

#: Short deadlines so that stalling peers are dropped quickly.
TEST_LIMITS = Limits(read_timeout=0.5)


@pytest.fixture
def arun():
    """Run a coroutine on a fresh event loop under a deadline."""

    def run(coro, timeout: float = 20.0):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return run


def unpickle_everything(msg) -> None:
    """What a careless server would do: deserialize every payload it receives."""
    for field in dataclasses.fields(msg):
        value = getattr(msg, field.name)
        if isinstance(value, Serialized):
            deserialize(value)


async def trusting_echo(comm) -> None:
    """Echo every message back, after unpickling its payloads (so a canary would fire)."""
    try:
        while True:
            msg = await comm.read()
            unpickle_everything(msg)
            await comm.write(msg)
    except CommError:
        pass


class Canary:
    """Unpickling this creates ``path``; the pickle names only ``pathlib``."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def canary_payload(path: pathlib.Path) -> Serialized:
    return serialize(Canary(path))


def frame_bytes(frames) -> bytes:
    """A message as raw wire bytes: length prefix then frames."""
    frames = [bytes(memoryview(f)) for f in frames]
    return pack_prefix([len(f) for f in frames]) + b"".join(frames)


class RawPeer:
    """A hand-driven TCP (or TLS) client that can send anything, including garbage."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, address: str, ssl_context: ssl.SSLContext | None = None) -> "RawPeer":
        host, port = address.split("://", 1)[1].rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port), ssl=ssl_context))

    async def send(self, data: bytes) -> None:
        """Send; a peer that already hung up on us is not an error here."""
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            pass

    async def send_message(self, msg) -> None:
        await self.send(frame_bytes(encode(msg)))

    async def read_message_frames(self, timeout: float = 5.0) -> list[bytes]:
        async def read():
            (n,) = struct.unpack("<Q", await self.reader.readexactly(8))
            lengths = struct.unpack(f"<{n}Q", await self.reader.readexactly(8 * n))
            return [await self.reader.readexactly(k) for k in lengths]

        return await asyncio.wait_for(read(), timeout)

    async def wait_closed_by_server(self, timeout: float = 5.0) -> bytes:
        """Read until EOF (the server must hang up within ``timeout``); returns what came."""
        received = bytearray()

        async def drain():
            try:
                while chunk := await self.reader.read(65536):
                    received.extend(chunk)
            except (ConnectionError, OSError):
                pass

        await asyncio.wait_for(drain(), timeout)
        return bytes(received)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@pytest.fixture
def raw_peer():
    return RawPeer


@pytest.fixture
def echo():
    """The trusting echo handler (unpickles every payload it gets)."""
    return trusting_echo


@pytest.fixture
def canary(tmp_path):
    """``(path, payload)``: deserializing ``payload`` creates the file ``path``."""
    path = tmp_path / "canary"
    return path, canary_payload(path)
