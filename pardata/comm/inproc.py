"""The in-process backend: ``inproc://name``, for tests and same-process clusters.

Frames are handed to the peer's queue without sockets or copies, but still go
through the codec and the size limits, so code tested on ``inproc://`` meets
the same validation as on TCP. Both ends must run on the same event loop.
Because frames are shared, not copied, a receiver sees the sender's buffers:
do not mutate an array after sending it in-process.
"""

from __future__ import annotations

import asyncio
import itertools
import os

from .backends import Backend, register_backend
from .core import Comm, Limits, Listener, OnComm
from .errors import CommClosedError
from .framing import check_lengths

__all__ = ["InprocComm", "InprocListener", "InprocBackend"]

_LISTENERS: dict[str, "InprocListener"] = {}
_ids = itertools.count(1)
_CLOSED = object()  # queue sentinel: the peer closed


class InprocComm(Comm):
    """One end of an in-memory pair of queues."""

    def __init__(self, local_address: str, peer_address: str, limits: Limits) -> None:
        super().__init__(local_address, peer_address, limits)
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._peer: InprocComm | None = None
        self._closed = False

    @staticmethod
    def pair(a_address: str, b_address: str, limits: Limits) -> tuple["InprocComm", "InprocComm"]:
        a = InprocComm(a_address, b_address, limits)
        b = InprocComm(b_address, a_address, limits)
        a._peer, b._peer = b, a
        return a, b

    async def _read_frames(self) -> list:
        if self._closed:
            raise CommClosedError(f"{self.local_address} is closed")
        try:
            frames = await self._inbox.get()
        except asyncio.CancelledError:
            self.abort()  # behave like TCP, where a cancelled read breaks the stream
            raise
        if frames is _CLOSED:
            self.abort()
            raise CommClosedError(f"connection from {self.peer_address} closed")
        check_lengths([memoryview(f).nbytes for f in frames], self._limits)
        return frames

    async def _write_frames(self, frames: list) -> int:
        peer = self._peer
        if self._closed or peer is None or peer._closed:
            self.abort()
            raise CommClosedError(f"connection to {self.peer_address} closed")
        peer._inbox.put_nowait(list(frames))
        await asyncio.sleep(0)  # let the reader run, as a socket write would
        return sum(memoryview(f).nbytes for f in frames)

    async def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._inbox.put_nowait(_CLOSED)  # wake our own pending reader
        if self._peer is not None and not self._peer._closed:
            self._peer._inbox.put_nowait(_CLOSED)

    def closed(self) -> bool:
        return self._closed


class InprocListener(Listener):
    def __init__(self, location: str, on_comm: OnComm, limits: Limits) -> None:
        super().__init__(on_comm)
        self.name = location or f"{os.getpid()}/{next(_ids)}"
        self.limits = limits
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> str:
        return f"inproc://{self.name}"

    async def start(self) -> None:
        if self.name in _LISTENERS:
            raise OSError(f"address {self.address} is already in use")
        self._loop = asyncio.get_running_loop()
        _LISTENERS[self.name] = self

    def _stop_accepting(self) -> None:
        if _LISTENERS.get(self.name) is self:
            del _LISTENERS[self.name]

    def _connect(self, limits: Limits) -> InprocComm:
        if self._loop is not asyncio.get_running_loop():
            raise ConnectionRefusedError(f"{self.address} runs on another event loop")
        client_address = f"{self.address}/client-{next(_ids)}"
        client, server = InprocComm.pair(client_address, self.address, limits)
        server.limits = self.limits
        self._accepted(server)
        return client


class InprocBackend(Backend):
    async def connect(self, location: str, *, timeout: float, limits: Limits) -> Comm:
        listener = _LISTENERS.get(location)
        if listener is None:
            raise ConnectionRefusedError(f"nobody listens on inproc://{location}")
        return listener._connect(limits)

    def listener(self, location: str, on_comm: OnComm, *, limits: Limits) -> Listener:
        return InprocListener(location, on_comm, limits)


register_backend("inproc", InprocBackend())
