"""A pool of reusable connections for request/reply traffic.

Workers fetch inputs from peers and clients gather results from workers with one
request and one reply per exchange. Opening a TCP connection (and its handshake) per
exchange would cost more than most exchanges, so finished comms go back to the pool
and the next request to the same address reuses one. A comm is lent to one request
at a time, so replies never interleave and no request ids are needed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .connection import connect
from .core import Comm, Limits
from .errors import CommClosedError
from .handshake import Authenticator
from .schema import Message

if TYPE_CHECKING:
    from pardata.security import Security

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """Idle comms by address; ``rpc`` borrows one (or connects), asks, and returns it.

    ``max_idle`` comms per address are kept open between requests; more may be open
    while requests run concurrently. The pool talks to servers already listening
    (peers, workers), so a refused connection fails at once instead of being retried
    until ``connect_timeout``: the peer is gone, and the caller should try elsewhere. ``close`` aborts idle comms at once and any
    borrowed comm when it comes back, so a closed pool leaks nothing.
    """

    def __init__(
        self,
        *,
        name: str = "",
        limits: Limits | None = None,
        connect_timeout: float = 10.0,
        max_idle: int = 4,
        authenticator: Authenticator | None = None,
        security: "Security | None" = None,
    ) -> None:
        self.name = name
        self.limits = limits
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.authenticator = authenticator
        self.security = security  # TLS and the cluster secret for every comm it opens
        self._idle: dict[str, list[Comm]] = {}
        self._busy: set[Comm] = set()
        self._calls: dict[str, set[asyncio.Future]] = {}  # address -> requests in flight
        self._closed = False

    async def acquire(self, address: str) -> Comm:
        """An open comm to ``address``, reused if one is idle; raises ``CommError``."""
        if self._closed:
            raise CommClosedError(f"connection pool {self.name!r} is closed")
        idle = self._idle.get(address)
        while idle:
            comm = idle.pop()
            if not comm.closed():
                self._busy.add(comm)
                return comm
        comm = await connect(
            address,
            timeout=self.connect_timeout,
            limits=self.limits,
            name=self.name,
            authenticator=self.authenticator,
            security=self.security,
            retry_refused=False,
        )
        if self._closed:
            comm.abort()
            raise CommClosedError(f"connection pool {self.name!r} is closed")
        self._busy.add(comm)
        return comm

    def release(self, address: str, comm: Comm, reusable: bool = True) -> None:
        """Give a borrowed comm back; it is closed unless it can serve another request."""
        self._busy.discard(comm)
        idle = self._idle.setdefault(address, [])
        if reusable and not self._closed and not comm.closed() and len(idle) < self.max_idle:
            idle.append(comm)
        else:
            comm.abort()

    async def rpc(self, address: str, request: Message) -> Message:
        """Send ``request`` to ``address`` and return its reply.

        Any failure (connect, write, read, cancellation) closes that comm, since a
        reply may be left half read, and is raised as ``CommError``.
        """
        abandoned = asyncio.get_running_loop().create_future()
        waiting = self._calls.setdefault(address, set())
        waiting.add(abandoned)
        call = asyncio.ensure_future(self._call(address, request))
        try:
            await asyncio.wait((call, abandoned), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            call.cancel()
            raise
        finally:
            waiting.discard(abandoned)
            if not waiting and self._calls.get(address) is waiting:
                del self._calls[address]
        if call.done():
            return call.result()
        call.cancel()
        call.add_done_callback(_retrieve)
        raise CommClosedError(f"{address} left the cluster; the request to it was abandoned")

    async def _call(self, address: str, request: Message) -> Message:
        comm = await self.acquire(address)
        ok = False
        try:
            await comm.write(request)
            reply = await comm.read()
            ok = True
            return reply
        finally:
            self.release(address, comm, reusable=ok)

    def abandon(self, address: str) -> int:
        """``address`` is known to be gone (the scheduler removed it): requests in flight
        to it fail at once with ``CommError``, instead of waiting on a frozen peer that
        never answers; its idle comms are closed. Returns how many requests were cut."""
        self.forget(address)
        waiting = self._calls.pop(address, ())
        for abandoned in waiting:
            if not abandoned.done():
                abandoned.set_result(None)
        return len(waiting)

    def forget(self, address: str) -> None:
        """Close the idle comms to ``address`` (e.g. the peer is known to be gone)."""
        for comm in self._idle.pop(address, ()):
            comm.abort()

    @property
    def open_count(self) -> int:
        """Comms currently open, idle or borrowed."""
        return len(self._busy) + sum(1 for comms in self._idle.values() for c in comms if not c.closed())

    async def close(self) -> None:
        """Abort every idle comm now; borrowed ones are aborted as they come back."""
        self._closed = True
        for comms in self._idle.values():
            for comm in comms:
                comm.abort()
        self._idle.clear()
        for comm in list(self._busy):
            comm.abort()
        await asyncio.sleep(0)  # let transports notice before the loop may close


def _retrieve(task: asyncio.Future) -> None:
    """Consume an abandoned request's outcome, so asyncio does not log it as unretrieved."""
    if not task.cancelled():
        task.exception()
