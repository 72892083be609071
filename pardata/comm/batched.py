"""Coalescing many small messages to one peer into few ``Batch`` writes.

A scheduler sends thousands of tiny messages per second to each worker; one
write per message would spend most of its time in syscalls, headers and in
waking the peer up. ``BatchedSend.send`` only appends to a buffer; a
background task writes what accumulated as one ``Batch``, at most one write
per ``interval``. A message to a stream idle for longer than that goes out at
the end of the current event-loop iteration (with everything else queued in
that iteration), so sparse traffic (one task, one result) pays no timer; only
a busy stream waits, and a busy stream's messages share a write. While a write
is in flight new messages keep accumulating, so a slow peer gets bigger
batches rather than a longer queue of writes.
"""

from __future__ import annotations

import asyncio
from .core import Comm, logger
from .errors import CommClosedError, CommError
from .messages import Batch
from .schema import Message

__all__ = ["BatchedSend", "unbatch"]


def unbatch(msg: Message) -> list[Message]:
    """The messages inside ``msg`` if it is a ``Batch``, else ``[msg]``."""
    return msg.messages if isinstance(msg, Batch) else [msg]


class BatchedSend:
    """Send messages to one comm in batches written at most every ``interval`` s.

    ``send`` never blocks and never fails for a live comm; after the comm
    broke, ``send`` raises ``CommClosedError`` and unsent messages are dropped
    (the peer is gone, so is their meaning). ``close`` flushes, then closes.
    ``interval=0`` writes once per event-loop iteration that queued something.
    """

    def __init__(self, interval: float = 0.001, max_batch: int = 1000) -> None:
        self.interval = interval
        self.max_batch = max_batch
        self.comm: Comm | None = None
        self.batches_sent = 0
        self.messages_sent = 0
        self._last_write = -float("inf")  # loop time the last write started
        self._buffer: list[Message] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self._writing = False
        self._error: BaseException | None = None

    def start(self, comm: Comm) -> None:
        """Begin sending to ``comm`` from a task on the running loop."""
        if self._task is not None:
            raise RuntimeError("BatchedSend already started")
        self.comm = comm
        self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, *msgs: Message) -> None:
        """Queue messages for the next batch."""
        if self._error is not None or self._closing:
            raise CommClosedError(f"cannot send to {self._peer()}: {self._error or 'closing'}")
        self._buffer.extend(msgs)
        self._wake.set()

    def _peer(self) -> str:
        return self.comm.peer_address if self.comm is not None else "(not started)"

    async def _run(self) -> None:
        assert self.comm is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if not self._closing:
                # Let the rest of this loop iteration queue its messages too, and keep
                # a busy stream to one write per interval.
                wait = self._last_write + self.interval - loop.time()
                await asyncio.sleep(wait if wait > 0 else 0)
            self._wake.clear()
            batch, self._buffer = self._buffer[: self.max_batch], self._buffer[self.max_batch :]
            if self._buffer:
                self._wake.set()
            if batch:
                self._last_write = loop.time()
                self._writing = True
                try:
                    await self.comm.write(batch[0] if len(batch) == 1 else Batch(messages=batch))
                except CommError as e:
                    self._fail(e)
                    return
                finally:
                    self._writing = False
                self.batches_sent += 1
                self.messages_sent += len(batch)
            if self._closing and not self._buffer:
                return

    def _fail(self, error: BaseException) -> None:
        self._error = error
        dropped = len(self._buffer)
        self._buffer = []
        logger.info("batched send to %s failed (%d messages dropped): %s", self._peer(), dropped, error)

    async def flush(self) -> None:
        """Wait until everything sent so far has been written."""
        while (self._buffer or self._writing) and self._error is None and not self._task_done():
            await asyncio.sleep(self.interval)

    def _task_done(self) -> bool:
        return self._task is None or self._task.done()

    async def close(self, timeout: float = 5.0) -> None:
        """Flush queued messages (up to ``timeout`` s), then close the comm."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.TimeoutError:
                self._task.cancel()
        if self.comm is not None:
            await self.comm.close()

    def abort(self) -> None:
        """Drop queued messages and close the comm at once."""
        self._closing = True
        self._buffer = []
        if self._task is not None:
            self._task.cancel()
        if self.comm is not None:
            self.comm.abort()
