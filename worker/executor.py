"""``TaskRunner``: runs task payloads on a thread pool and reports outcomes to the loop.

A payload is the ``Serialized`` graph node the client made; it is deserialized in the
executor thread (never on the event loop) and called with its dependencies' values.
Outcomes are queued and the event loop is woken once per burst, not once per task, so
thousands of tiny tasks cost a few loop wake-ups.

Each run's memory is measured (``worker.memory.running``): how far the process's RSS
rose above its level at the start, at the run's peak. It travels with the result as
``running_nbytes`` so the scheduler learns what a kind of task needs while it runs.

Every result is checked to be serializable before it counts as finished: a result that
could never leave this worker (a lock, a socket, a generator) would otherwise fail
later, far from its cause, every time something needed it. Such a result, like an
exception that cannot be pickled, becomes a clear error naming the task and the type.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from pardata.serialize import SerializationError, Serialized, deserialize, dumps, loads, serialize
from pardata.sizeof import sizeof

from .memory.running import METER

__all__ = ["TaskRunner", "Finished", "Failed", "pack_exception"]

Key = Hashable

#: Results whose pickle is one frame at most this large keep it for later transfers.
KEEP_PICKLE_BYTES = 64 * 1024
#: Exact types whose values always pickle (checked by type, not by pickling).
_ALWAYS_PICKLABLE = frozenset([int, float, bool, str, bytes, complex, type(None)])


@dataclass(slots=True)
class Finished:
    key: Key
    attempt: int
    value: Any
    nbytes: int
    type_name: str
    start: float
    stop: float
    serialized: Serialized | None
    running_nbytes: int = -1  # RSS rise during the run (peak - start); -1: not measured


@dataclass(slots=True)
class Failed:
    key: Key
    attempt: int
    exception: Serialized
    traceback: str
    start: float
    stop: float


def _type_name(obj: Any) -> str:
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def pack_exception(exc: BaseException, key: Key = None) -> Serialized:
    """``exc`` as a payload a client can rebuild; ``RemoteTaskError`` if it cannot travel."""
    try:
        payload = serialize(exc)
        loads(payload.header, payload.frames)  # it must also come back to life
        return payload
    except Exception as problem:  # noqa: BLE001 - any pickling failure
        # Imported here: the pardata.distributed package (the Client) is no part of a
        # worker's start-up.
        from pardata.distributed.errors import RemoteTaskError

        replacement = RemoteTaskError(_type_name(exc), str(exc), key)
        replacement.add_note(f"(the original exception could not be pickled: {problem})")
        return serialize(replacement)


def check_result(key: Key, value: Any) -> Serialized | None:
    """Raise ``SerializationError`` if ``value`` cannot be sent; maybe return its pickle."""
    cls = type(value)
    if cls in _ALWAYS_PICKLABLE:
        return None
    if cls.__name__ == "ndarray" and getattr(getattr(value, "dtype", None), "kind", "O") != "O":
        return None  # a numeric array pickles; do not copy it to find out
    try:
        header, frames = dumps(value)
    except SerializationError as exc:
        raise SerializationError(
            f"the result of task {key!r} is of type {_type_name(value)}, which cannot be "
            f"serialized, so it could never be sent to another worker or a client: {exc.__cause__ or exc}"
        ) from None
    if len(frames) == 1 and len(frames[0]) <= KEEP_PICKLE_BYTES:
        return Serialized(header, frames)
    return None


class TaskRunner:
    """A thread pool of ``nthreads`` running tasks; ``on_outcomes(list)`` runs on ``loop``."""

    def __init__(
        self,
        nthreads: int,
        loop: asyncio.AbstractEventLoop,
        on_outcomes: Callable[[list], None],
        name: str = "pardata-worker",
    ) -> None:
        self.pool = ThreadPoolExecutor(nthreads, thread_name_prefix=name)
        self.loop = loop
        self.on_outcomes = on_outcomes
        self._outcomes: list = []
        self._lock = threading.Lock()
        self._closed = False

    def run(self, key: Key, attempt: int, payload: Any, inputs: dict) -> None:
        """Start running ``payload`` with ``inputs`` (dependency key -> value)."""
        self.pool.submit(self._run, key, attempt, payload, inputs)

    def _run(self, key: Key, attempt: int, payload: Any, inputs: dict) -> None:
        start = time.time()
        run = METER.begin()
        try:
            node = deserialize(payload) if isinstance(payload, Serialized) else payload
            value = node(inputs)
            running = METER.end(run)
            pickled = check_result(key, value)
            nbytes = sizeof(value)
            outcome: Any = Finished(key, attempt, value, nbytes, _type_name(value), start, time.time(), pickled,
                                    running)
        except BaseException as exc:  # noqa: BLE001 - reported to the scheduler
            METER.end(run)
            tb = "".join(traceback.format_exception(exc))
            outcome = Failed(key, attempt, pack_exception(exc, key), tb, start, time.time())
        finally:
            inputs = node = value = None  # noqa: F841 - drop references before waiting
        self._post(outcome)

    def _post(self, outcome: Any) -> None:
        with self._lock:
            self._outcomes.append(outcome)
            first = len(self._outcomes) == 1
        if first and not self._closed:
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop closed while the task ran
                pass

    def _drain(self) -> None:
        with self._lock:
            batch, self._outcomes = self._outcomes, []
        if batch and not self._closed:
            self.on_outcomes(batch)

    def close(self) -> None:
        """Stop accepting tasks; running ones finish in the background, unreported."""
        self._closed = True
        self.pool.shutdown(wait=False, cancel_futures=True)
