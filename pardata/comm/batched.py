"""Coalescing many small messages to one peer into few ``Batch`` writes.

A scheduler sends thousands of tiny messages per second to each worker; one
write per message would spend most of its time in syscalls and headers.
``BatchedSend.send`` only appends to a buffer; a background task writes
whatever accumulated during ``interval`` as one ``Batch``. While a write is in
flight new messages keep accumulating, so a slow peer gets bigger batches
rather than a longer queue of writes.
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
    """

    def __init__(self, interval: float = 0.002, max_batch: int = 5000) -> None:
        self.interval = interval
        self.max_batch = max_batch
        self.comm: Comm | None = None
        self.batches_sent = 0
        self.messages_sent = 0
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
        while True:
            await self._wake.wait()
            if not self._closing:
                await asyncio.sleep(self.interval)  # let more messages arrive
            self._wake.clear()
            batch, self._buffer = self._buffer[: self.max_batch], self._buffer[self.max_batch :]
            if self._buffer:
                self._wake.set()
            if batch:
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
