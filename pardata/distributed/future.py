"""``Future``: a handle on one key computed (or held) by the cluster.

All Futures of one key on one client share a ``FutureState``, updated by the client's
event loop from the scheduler's reports. Futures are reference counted: the client
tells the scheduler to release a key when the last Future for it is garbage
collected, so results live exactly as long as somebody can still ask for them.

``wait`` and ``as_completed`` work on any iterable of futures.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from pardata.serialize import deserialize

from .errors import (
    FutureCancelledError,
    FutureLostError,
    InvalidGraphError,
    KilledWorker,
    RemoteTaskError,
    TaskError,
)

__all__ = ["Future", "FutureState", "wait", "as_completed"]

PENDING, FINISHED, ERROR, CANCELLED, LOST = "pending", "finished", "error", "cancelled", "lost"

_event_lock = threading.Lock()  # makes each FutureState's Event at most once


class FutureState:
    """Status of one key as this client knows it; mutated on the client loop only.

    What waits for it is made on first use (a client may hold a million of these, and
    most are never waited for one by one): ``_event`` by a thread blocking in
    ``wait_blocking``, ``_waiters`` by coroutines, ``_callbacks`` by done-callbacks.
    """

    __slots__ = ("key", "status", "nbytes", "who_has", "error", "_exception", "_event", "_waiters", "_callbacks")

    def __init__(self, key) -> None:
        self.key = key
        self.status = PENDING
        self.nbytes = 0
        self.who_has: list[str] = []
        self.error = None  # the key-erred message, or a reason string
        self._exception: BaseException | None = None
        self._event: threading.Event | None = None
        self._waiters: list[asyncio.Future] | None = None
        self._callbacks: list[Callable[[], None]] | None = None

    def done(self) -> bool:
        return self.status != PENDING

    def wait_blocking(self, timeout: float | None) -> bool:
        """Block this (non-loop) thread until done; False if ``timeout`` passed first."""
        if self.status != PENDING:
            return True
        with _event_lock:
            if self._event is None:
                self._event = threading.Event()
        # The loop sets the status before it looks for an event: either it saw this
        # event and sets it, or the status is already final when checked here.
        if self.status != PENDING:
            return True
        return self._event.wait(timeout)

    def _settle(self, status: str) -> None:
        self.status = status
        if self._event is not None:
            self._event.set()
        waiters, self._waiters = self._waiters, None
        for w in waiters or ():
            if not w.done():
                w.set_result(None)
        callbacks, self._callbacks = self._callbacks, None
        for cb in callbacks or ():
            cb()

    def finish(self, nbytes: int, who_has: list[str]) -> None:
        self.nbytes, self.who_has = nbytes, list(who_has)
        self.error = self._exception = None
        self._settle(FINISHED)

    def fail(self, error) -> None:
        self.error, self._exception = error, None
        self._settle(ERROR)

    def cancel(self, reason: str = "") -> None:
        self.error, self._exception = reason, None
        self._settle(CANCELLED)

    def lose(self, reason: str) -> None:
        self.error, self._exception = reason, None
        self._settle(LOST)

    def reset(self) -> None:
        """Pending again (the key was submitted anew after a cancellation)."""
        self.status = PENDING
        if self._event is not None:
            self._event.clear()
        self.error = self._exception = None

    async def wait(self) -> None:
        if self.status != PENDING:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the loop once done (at once if already done)."""
        if self.status != PENDING:
            callback()
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def exception(self) -> BaseException | None:
        """The exception ``result()`` raises, or None if the key finished."""
        if self.status == FINISHED or self.status == PENDING:
            return None
        if self._exception is None:
            self._exception = _build_exception(self.key, self.status, self.error)
        return self._exception


def _build_exception(key, status: str, error) -> BaseException:
    if status == CANCELLED:
        return FutureCancelledError(f"{key!r} was cancelled{': ' + error if error else ''}")
    if status == LOST:
        return FutureLostError(f"{key!r} is lost: {error}")
    info = error
    if info.exception is not None:
        try:
            exc = deserialize(info.exception)
        except Exception as problem:  # noqa: BLE001 - the client lacks the exception's class
            exc = RemoteTaskError("(unknown type)", f"could not rebuild the exception: {problem}", info.blamed)
        if not isinstance(exc, BaseException):
            exc = TaskError(f"task {info.blamed!r} failed with {exc!r}")
        blamed = info.blamed if info.blamed is not None else key
        if blamed == key:
            exc.add_note(f"pardata: raised by task {key!r} on the cluster")
        else:
            exc.add_note(f"pardata: raised by task {blamed!r} on the cluster, while computing {key!r}")
        if info.traceback:
            exc.add_note("Remote traceback:\n" + info.traceback.rstrip())
        return exc
    if info.kind == "killed-worker" or info.reason.startswith("KilledWorker"):
        return KilledWorker(info.reason)
    if info.kind == "invalid-graph":
        return InvalidGraphError(info.reason)
    return TaskError(info.reason or f"{key!r} failed")


class Future:
    """A key on the cluster: ``result()``, ``exception()``, ``done()``, ``cancel()``.

    Created by ``Client.submit``/``map``/``scatter``/``compute``; holding one keeps the
    key's result on the cluster.
    """

    __slots__ = ("key", "_core", "_state", "_released", "__weakref__")

    def __init__(self, key, client=None) -> None:
        if client is None:
            from .client import default_client

            client = default_client()
        core = getattr(client, "_core", client)  # a Client, or the async core itself
        self.key = key
        self._core = core
        self._state: FutureState = core.acquire(key)
        self._released = False

    @property
    def client(self):
        """The Client this future belongs to."""
        return self._core.owner or self._core

    @property
    def status(self) -> str:
        """``"pending"``, ``"finished"``, ``"error"``, ``"cancelled"`` or ``"lost"``."""
        return self._state.status

    def done(self) -> bool:
        return self._state.status != PENDING

    def _wait(self, timeout: float | None) -> None:
        if not self._state.wait_blocking(timeout):
            raise TimeoutError(f"{self.key!r} is not done after {timeout}s")

    def result(self, timeout: float | None = None) -> Any:
        """The value; raises the task's own exception if it failed."""
        start = time.monotonic()
        self._wait(timeout)
        exc = self._state.exception()
        if exc is not None:
            raise exc.with_traceback(None)
        left = None if timeout is None else max(timeout - (time.monotonic() - start), 0.001)
        return self._core.run_sync(self._core.gather([self]), timeout=left)[0]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The exception the task raised, or None if it finished."""
        self._wait(timeout)
        return self._state.exception()

    def cancel(self, force: bool = False) -> None:
        self._core.cancel([self.key], force=force)

    def cancelled(self) -> bool:
        return self._state.status == CANCELLED

    def add_done_callback(self, fn: Callable[["Future"], Any]) -> None:
        """Call ``fn(future)`` once done, in a separate thread (it may block)."""
        core = self._core
        core.call_soon(self._state.on_done, lambda: core.run_callback(fn, self))

    def release(self) -> None:
        """Drop this handle's claim on the key (also done when it is garbage collected)."""
        if not self._released:
            self._released = True
            self._core.release_ref(self.key)

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown, closed client
            pass

    def __await__(self):
        return self._async_result().__await__()

    async def _async_result(self) -> Any:
        return (await self._core.gather([self]))[0]

    def __pardata_tokenize__(self):
        return ("pardata.distributed.Future", self.key)

    def __reduce__(self):
        raise TypeError(
            f"a Future ({self.key!r}) cannot be pickled; pass it as an argument of submit, map "
            "or a delayed call instead, and the worker receives its value"
        )

    def __repr__(self) -> str:
        return f"<Future: {self.status}, key: {self.key!r}>"


def _futures(fs: Iterable) -> list[Future]:
    if isinstance(fs, Future):
        return [fs]
    return list(fs)


def wait(fs, timeout: float | None = None, return_when: str = "ALL_COMPLETED"):
    """Wait until all (or the first, ``return_when="FIRST_COMPLETED"``) futures are done.

    Returns ``(done, not_done)`` sets. Raises ``TimeoutError`` if ``timeout`` passes
    first. A failed future counts as done; nothing is raised for it.
    """
    futures = _futures(fs)
    deadline = None if timeout is None else time.monotonic() + timeout
    if return_when == "FIRST_COMPLETED":
        pending = [f for f in futures if not f.done()]
        if pending and len(pending) == len(futures):
            first = next(iter(as_completed(pending, timeout=timeout)))
            del first
    elif return_when == "ALL_COMPLETED":
        for f in futures:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0 and not f.done():
                raise TimeoutError(f"{sum(not g.done() for g in futures)} future(s) not done after {timeout}s")
            f._wait(left)
    else:
        raise ValueError(f"return_when must be ALL_COMPLETED or FIRST_COMPLETED, not {return_when!r}")
    done = {f for f in futures if f.done()}
    return done, set(futures) - done


class as_completed(Iterator[Future]):
    """Iterate over futures in the order they finish (failed ones included).

    ``add(future)`` adds more while iterating; ``with_results=True`` yields
    ``(future, result)`` pairs (raising for a failed one).
    """

    def __init__(self, futures: Iterable[Future] = (), timeout: float | None = None, with_results: bool = False):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._count = 0
        self._lock = threading.Lock()
        self.timeout = timeout
        self.with_results = with_results
        self._deadline = None if timeout is None else time.monotonic() + timeout
        for f in futures:
            self.add(f)

    def add(self, future: Future) -> None:
        with self._lock:
            self._count += 1
        future._core.call_soon(future._state.on_done, lambda: self._queue.put(future))

    def count(self) -> int:
        return self._count

    def __iter__(self) -> "as_completed":
        return self

    def __next__(self):
        with self._lock:
            if self._count == 0:
                raise StopIteration
            self._count -= 1
        left = None if self._deadline is None else max(self._deadline - time.monotonic(), 0)
        try:
            future = self._queue.get(timeout=left)
        except queue.Empty:
            raise TimeoutError(f"futures not done after {self.timeout}s") from None
        if self.with_results:
            return future, future.result()
        return future
