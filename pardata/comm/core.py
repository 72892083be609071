"""Limits and the two abstractions every backend implements: Comm and Listener.

A ``Comm`` is a message-oriented, bidirectional connection. Backends (TCP,
in-process, later TLS) only move lists of frames; this base class turns them
into typed messages, and on any protocol violation logs the reason on the
``pardata.comm`` logger and drops that one connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Awaitable, Callable

from .codec import decode, encode
from .errors import CommClosedError, CommError, ProtocolError

if TYPE_CHECKING:
    from .schema import Message

__all__ = [
    "Limits",
    "Comm",
    "Listener",
    "logger",
]

logger = logging.getLogger("pardata.comm")

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on what a peer may send, checked before any buffer is allocated.

    A message that has started arriving must be complete within
    ``read_timeout + total_bytes / min_transfer_rate`` seconds, so a peer that
    stalls mid-message (slow loris) is dropped while big transfers on a slow
    link still finish. An idle connection between messages has no deadline.
    """

    max_frames: int = 10_000  # a batch of many payloads can carry many buffers
    max_frame_bytes: int = 1 * GiB
    max_message_bytes: int = 1 * GiB
    max_header_bytes: int = 64 * MiB  # frame 0, the msgpack header
    read_timeout: float = 30.0
    min_transfer_rate: float = 1 * MiB  # bytes per second, reads and writes
    write_timeout: float | None = None  # same formula for writes; None: no deadline

    def handshake(self) -> "Limits":
        """Tight limits for the connection start, before the peer is trusted."""
        small = min(64 * KiB, self.max_message_bytes)
        return dataclasses.replace(
            self, max_frames=4, max_frame_bytes=small, max_message_bytes=small, max_header_bytes=small
        )

    def deadline(self, nbytes: int, timeout: float | None) -> float | None:
        """Seconds allowed to move a message of ``nbytes`` (``timeout`` None: unbounded)."""
        if timeout is None:
            return None
        return timeout + nbytes / self.min_transfer_rate


class Comm(ABC):
    """A connection that reads and writes typed messages.

    One reader at a time; concurrent writers are fine (each message is queued
    whole). ``peer_name`` is what the peer called itself in the handshake.
    """

    def __init__(self, local_address: str, peer_address: str, limits: Limits) -> None:
        self.local_address = local_address
        self.peer_address = peer_address
        self.peer_name = ""
        self._limits = limits

    @property
    def limits(self) -> Limits:
        return self._limits

    @limits.setter
    def limits(self, value: Limits) -> None:
        self._limits = value
        self._limits_changed()

    def _limits_changed(self) -> None:
        """Hook for backends whose transport needs to know the new limits."""

    async def read(self) -> "Message":
        """The next message; raises ``CommClosedError`` or ``ProtocolError``.

        Cancelling a read (e.g. by a timeout around it) closes the comm,
        since a message may have been half read.
        """
        try:
            return decode(await self._read_frames())
        except ProtocolError as e:
            self._protocol_failure(str(e))
            raise

    async def write(self, msg: "Message") -> int:
        """Send ``msg``; returns the number of bytes written."""
        if self.closed():
            raise CommClosedError(f"write to closed comm {self}")
        return await self._write_frames(encode(msg))

    def _protocol_failure(self, reason: str) -> None:
        if not self.closed():
            logger.warning("closing connection %s <- %s: %s", self.local_address, self.peer_address, reason)
            self.abort()

    @abstractmethod
    async def _read_frames(self) -> list:
        """One message's frames; raise ProtocolError for framing violations."""

    @abstractmethod
    async def _write_frames(self, frames: list) -> int:
        """Send one message's frames as a unit."""

    @abstractmethod
    async def close(self) -> None:
        """Close after the writes already awaited have been handed to the OS."""

    @abstractmethod
    def abort(self) -> None:
        """Close at once, without waiting; safe to call repeatedly."""

    @abstractmethod
    def closed(self) -> bool:
        """Whether the connection is closed."""

    def __repr__(self) -> str:
        state = "closed" if self.closed() else "open"
        return f"<{type(self).__name__} {self.local_address} -> {self.peer_address} {state}>"


OnComm = Callable[[Comm], Awaitable[None]]


class Listener(ABC):
    """Accepts connections and runs ``on_comm(comm)`` for each in its own task.

    The comm is aborted when ``on_comm`` returns or raises; ``stop()`` stops
    accepting, aborts every comm still open and waits for their tasks, so a
    stopped listener leaks nothing.
    """

    def __init__(self, on_comm: OnComm) -> None:
        self._on_comm = on_comm
        self._comms: set[Comm] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    @abstractmethod
    def address(self) -> str:
        """The address peers connect to (with the real port when 0 was asked)."""

    @abstractmethod
    async def start(self) -> None:
        """Start accepting connections."""

    @abstractmethod
    def _stop_accepting(self) -> None:
        """Stop accepting new connections."""

    @property
    def comms(self) -> frozenset[Comm]:
        """Comms accepted and still being served."""
        return frozenset(self._comms)

    def _accepted(self, comm: Comm) -> None:
        """Called by backends for every new connection."""
        self._comms.add(comm)
        task = asyncio.get_running_loop().create_task(self._serve(comm))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, comm: Comm) -> None:
        try:
            await self._on_comm(comm)
        except asyncio.CancelledError:
            pass
        except CommError as e:  # the peer went away or misbehaved: already logged
            logger.debug("connection from %s ended: %s", comm.peer_address, e)
        except Exception:
            logger.exception("connection handler failed for %s", comm.peer_address)
        finally:
            comm.abort()
            self._comms.discard(comm)

    async def stop(self) -> None:
        """Stop accepting, abort the open comms and wait for their handlers."""
        self._stop_accepting()
        for comm in list(self._comms):
            comm.abort()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def __aenter__(self) -> "Listener":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address} serving {len(self._comms)}>"
