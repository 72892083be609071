"""``ClientCore``: the asynchronous client, running on one event loop.

It holds one stream to the scheduler (batched messages both ways), a connection pool
to workers (results are gathered straight from the workers holding them, and scattered
data is put straight onto workers), and the ``FutureState`` of every key this client
has futures for. ``Client`` is a thin blocking wrapper that runs these coroutines on a
background loop thread; async code can use a core directly.

Methods that only enqueue messages (``submit``, ``map``, ``submit_graph``, ``cancel``)
are plain functions safe to call from any thread: they pickle in the caller's thread
(so errors surface there) and hand the message to the loop through an outbox that
keeps the order of everything sent, releases of futures included.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pardata.comm import BatchedSend, CommError, connect, unbatch
from pardata.comm import messages as m
from pardata.comm.pool import ConnectionPool
from pardata.comm.settings import batched_send_interval, connect_timeout, limits_from_config
from pardata.core.tokenize import tokenize

from ._data import WorkerTraffic
from ._graph import call_key, call_keys, check_key, graph_submission, task_for_call
from .errors import FutureLostError
from .future import CANCELLED, Future, FutureState

__all__ = ["ClientCore"]

logger = logging.getLogger("pardata.client")


class ClientCore(WorkerTraffic):
    """The client's state and its conversations with the scheduler and the workers."""

    def __init__(self, address: str, *, runner=None, owner=None, security=None) -> None:
        self.id = f"client-{uuid.uuid4().hex[:12]}"
        self.scheduler_address = address
        self.runner = runner  # the LoopThread of a blocking Client, or None
        self.owner = owner  # the Client wrapping this core, if any
        self.loop: asyncio.AbstractEventLoop | None = None
        self.limits = limits_from_config()
        self.security = security  # a pardata.security.Security: the cluster secret, TLS files
        self.pool = ConnectionPool(name=self.id, limits=self.limits, connect_timeout=connect_timeout(),
                                   security=security)
        self.status = "created"
        self.states: dict[Any, FutureState] = {}
        self._refs: dict[Any, int] = {}
        self._lock = threading.Lock()
        self._outbox: list = []  # messages, and lists of keys to release, in order
        self._dropped: collections.deque = collections.deque()  # keys of deleted Futures
        self._drop_scheduled = False
        self._requests: dict[int, asyncio.Future] = {}
        self._request_ids = itertools.count(1)
        self._stream: BatchedSend | None = None
        self._reader: asyncio.Task | None = None
        self._reconnector: asyncio.Task | None = None
        self._callbacks: ThreadPoolExecutor | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, timeout: float | None = None) -> "ClientCore":
        """Connect and register; gives up after ``timeout`` (default: the connect timeout)."""
        self.loop = asyncio.get_running_loop()
        comm = await self._register(timeout or connect_timeout())
        self._stream = BatchedSend(interval=batched_send_interval())
        self._stream.start(comm)
        self.status = "running"
        self._reader = self.loop.create_task(self._read(comm))
        self._flush()
        return self

    async def _register(self, timeout: float):
        comm = await connect(self.scheduler_address, timeout=timeout, limits=self.limits, name=self.id,
                             security=self.security)
        try:
            await comm.write(m.RegisterClient(client=self.id))
            reply = await comm.read()
            if not isinstance(reply, m.ClientRegistered):
                raise CommError(f"unexpected reply to register-client: {getattr(reply, 'op', reply)}")
        except BaseException:
            comm.abort()
            raise
        return comm

    async def _reconnect(self, reason: str) -> None:
        """The scheduler connection broke: register again (same client id) for up to
        ``distributed.client.reconnect-timeout``. A scheduler restarted from its journal
        still knows what this client wants, so nothing is resubmitted; pending keys the
        scheduler no longer knows are reported lost. Messages sent meanwhile wait in the
        outbox. Questions in flight fail (their answers died with the connection)."""
        timeout = _reconnect_timeout()
        logger.warning("client %s: %s; reconnecting for up to %gs", self.id, reason, timeout)
        requests, self._requests = self._requests, {}
        for waiter in requests.values():
            if not waiter.done():
                waiter.set_exception(FutureLostError(reason))
        deadline = self.loop.time() + timeout
        while True:
            try:
                comm = await self._register(max(deadline - self.loop.time(), 0.1))
                break
            except (CommError, OSError) as exc:
                if self.status != "reconnecting":
                    return
                if self.loop.time() >= deadline:
                    self.status = "broken"
                    why = f"{reason}; could not reconnect within {timeout}s: {exc}"
                    self._fail_everything(lambda st: st.lose(why), why)
                    return
                await asyncio.sleep(0.2)
        if self.status != "reconnecting":  # closed meanwhile
            comm.abort()
            return
        self._stream = BatchedSend(interval=batched_send_interval())
        self._stream.start(comm)
        self.status = "running"
        self._reader = self.loop.create_task(self._read(comm))
        self._flush()
        logger.info("client %s reconnected to %s", self.id, self.scheduler_address)
        with self._lock:
            pending = [k for k, st in self.states.items() if not st.done()]
        if pending:
            try:
                known = await self.task_states(pending)
            except (FutureLostError, RuntimeError):
                return  # broke again: the next reconnection checks again
            for key, state in known.items():
                st = self.states.get(key)
                if state == "forgotten" and st is not None and not st.done():
                    st.lose(f"the scheduler forgot {key!r} while client {self.id} was disconnected ({reason})")

    async def close(self) -> None:
        if self.status in ("closing", "closed"):
            return
        self.status = "closing"
        self._flush()
        if self._stream is not None:
            await self._stream.close(timeout=2.0)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._reconnector is not None:
            self._reconnector.cancel()
            await asyncio.gather(self._reconnector, return_exceptions=True)
        await self.pool.close()
        self._fail_everything(lambda st: st.cancel("the client closed"), "the client closed")
        if self._callbacks is not None:
            self._callbacks.shutdown(wait=False)
        self.status = "closed"

    def run_sync(self, coro, timeout: float | None = None) -> Any:
        """Run ``coro`` on the loop from another thread and wait (blocking clients only)."""
        if self.runner is None or self.status not in ("running", "reconnecting"):
            coro.close()
            if self.runner is None:
                raise RuntimeError("this client is asynchronous: await its coroutines instead")
            raise RuntimeError(f"the client is {self.status}")
        return self.runner.run(coro, timeout)

    def call_soon(self, fn, *args) -> None:
        """Call ``fn(*args)`` on the client loop, from any thread."""
        if self.loop is None or self.loop.is_closed():
            return
        if self.runner is None or self.runner.in_loop_thread():
            self.loop.call_soon(fn, *args)
        else:
            self.runner.call_soon(fn, *args)

    def run_callback(self, fn, future) -> None:
        """Run a user's done-callback in a helper thread (it may block on results)."""
        if self._callbacks is None:
            self._callbacks = ThreadPoolExecutor(1, thread_name_prefix="pardata-callbacks")
        try:
            self._callbacks.submit(_call_logged, fn, future)
        except RuntimeError:  # shut down: the client closed
            pass

    # --- sending, in order, from any thread ------------------------------------------------

    def send(self, msg) -> None:
        with self._lock:
            wake = not self._outbox
            self._outbox.append(msg)
        if wake:
            self.call_soon(self._flush)

    def _flush(self) -> None:
        with self._lock:
            items, self._outbox = self._outbox, []
        if not items or self._stream is None or self.status not in ("running", "closing"):
            with self._lock:
                self._outbox[:0] = items  # not connected yet: keep them for start()
            return
        msgs = [m.ReleaseKeys(keys=item) if type(item) is list else item for item in items]
        try:
            self._stream.send(*msgs)
        except CommError:
            pass  # the reader reports the lost connection

    # --- futures and reference counts ------------------------------------------------------

    def acquire(self, key) -> FutureState:
        """One more Future holds ``key``; returns the key's shared state."""
        with self._lock:
            self._refs[key] = self._refs.get(key, 0) + 1
            state = self.states.get(key)
            if state is None:
                state = self.states[key] = FutureState(key)
            return state

    def release_ref(self, key) -> None:
        """One Future of ``key`` is gone; the last one tells the scheduler.

        Called from ``Future.__del__``, so from any thread and at any moment (even
        while this thread holds ``_lock``): it only appends to a deque; the counts
        are updated on the loop. A key held again meanwhile is simply not released.
        """
        self._dropped.append(key)
        if not self._drop_scheduled:
            self._drop_scheduled = True
            self.call_soon(self._process_drops)

    def _process_drops(self) -> None:
        self._drop_scheduled = False
        released = []
        with self._lock:
            while self._dropped:
                key = self._dropped.popleft()
                n = self._refs.get(key, 0) - 1
                if n > 0:
                    self._refs[key] = n
                    continue
                self._refs.pop(key, None)
                self.states.pop(key, None)
                released.append(key)
            if released and self.status in ("created", "running", "reconnecting"):
                self._outbox.append(released)
        if released:
            self._flush()

    def _futures(self, keys) -> list[Future]:
        futures = [Future(key, self) for key in keys]
        for f in futures:
            if f._state.status == CANCELLED:  # submitted again after a cancellation
                f._state.reset()
        return futures

    # --- submitting work (any thread) -----------------------------------------------------

    def submit(self, fn, *args, key=None, pure=True, retries=0, priority=0, resources=None, workers=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"submit() needs a callable, got {type(fn).__name__}")
        key = check_key(key) if key is not None else call_key(fn, args, kwargs, pure)
        task = task_for_call(key, fn, args, kwargs)
        msg = graph_submission({key: task}, [key], user_priority=priority, retries=retries,
                               workers=workers, resources=resources)
        (future,) = self._futures([key])
        self.send(msg)
        return future

    def map(self, fn, *iterables, key=None, pure=True, retries=0, priority=0, resources=None, workers=None,
            **kwargs):
        if not callable(fn):
            raise TypeError(f"map() needs a callable, got {type(fn).__name__}")
        calls = list(zip(*iterables))
        if isinstance(key, (list, tuple)):
            if len(key) != len(calls):
                raise ValueError(f"map() got {len(key)} keys for {len(calls)} calls")
            keys = [check_key(k) for k in key]
        elif isinstance(key, str):
            keys = [f"{key}-{tokenize(fn, args, kwargs) if pure else uuid.uuid4().hex}" for args in calls]
        else:
            keys = call_keys(fn, calls, kwargs, pure)
        graph = {k: task_for_call(k, fn, args, kwargs) for k, args in zip(keys, calls)}
        wanted = list(dict.fromkeys(keys))
        msg = graph_submission(graph, wanted, user_priority=priority, retries=retries,
                               workers=workers, resources=resources)
        by_key = dict(zip(wanted, self._futures(wanted)))
        self.send(msg)
        return [by_key[k] for k in keys]

    def submit_graph(self, graph: dict, wanted: list, **options) -> dict:
        """Submit a graph (nodes may hold Futures); Futures for the ``wanted`` keys."""
        wanted = list(dict.fromkeys(wanted))
        msg = graph_submission(graph, wanted, **options)
        futures = dict(zip(wanted, self._futures(wanted)))
        self.send(msg)
        return futures

    def cancel(self, keys, force: bool = False) -> None:
        self.send(m.CancelKeys(keys=[check_key(k) for k in keys], force=force))

    # --- the scheduler stream --------------------------------------------------------------

    async def _read(self, comm) -> None:
        reason = "the scheduler closed the connection"
        try:
            while True:
                msg = await comm.read()
                for one in unbatch(msg):
                    self._on_message(one)
        except CommError as exc:
            reason = f"lost the connection to the scheduler: {exc}"
            if self.status == "running" and _reconnect_timeout() > 0:
                self.status = "reconnecting"
                self._reconnector = self.loop.create_task(self._reconnect(reason))
        finally:
            if self.status == "running":
                self.status = "broken"
                logger.warning("client %s: %s", self.id, reason)
                self._fail_everything(lambda st: st.lose(reason), reason)

    def _on_message(self, msg) -> None:
        t = type(msg)
        if t is m.QueryReply:
            waiter = self._requests.pop(msg.request_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)
            return
        if t is m.WorkerRemoved:
            self._worker_removed(msg.address)
            return
        state = self.states.get(msg.key)
        if state is None:
            return  # released meanwhile
        if t is m.KeyInMemory:
            state.finish(msg.nbytes, msg.who_has)
        elif t is m.KeyErred:
            state.fail(msg)
        elif t is m.KeyCancelled:
            state.cancel()
        elif t is m.KeyLost:
            state.lose(msg.reason)
        else:
            logger.warning("client %s ignores unexpected %s", self.id, msg.op)

    def _worker_removed(self, address: str) -> None:
        """A worker left: gathers from it give up now and look for the keys elsewhere."""
        self.pool.abandon(address)
        with self._lock:
            states = list(self.states.values())
        for state in states:
            if address in state.who_has:
                state.who_has.remove(address)

    def _fail_everything(self, settle, reason: str) -> None:
        with self._lock:
            states = list(self.states.values())
        for state in states:
            if not state.done():
                settle(state)
        requests, self._requests = self._requests, {}
        for waiter in requests.values():
            if not waiter.done():
                waiter.set_exception(FutureLostError(reason))

    async def query(self, name: str, keys=None, workers=None) -> tuple[Any, list]:
        """Ask the scheduler; returns ``(data, keys)`` of its ``query-reply``."""
        if self.status != "running":
            raise FutureLostError(f"the client is {self.status}")
        rid = next(self._request_ids)
        waiter = self.loop.create_future()
        self._requests[rid] = waiter
        self.send(m.Query(request_id=rid, name=name, keys=None if keys is None else list(keys),
                          workers=None if workers is None else list(workers)))
        reply = await waiter
        if reply.error:
            raise RuntimeError(f"the scheduler could not answer {name!r}: {reply.error}")
        return reply.data, reply.keys

    # --- questions -----------------------------------------------------------------------

    async def who_has(self, keys=None) -> dict:
        data, keys = await self.query("who_has", keys=keys)
        return {k: tuple(h) for k, h in zip(keys, data)}

    async def has_what(self, workers=None) -> dict:
        data, keys = await self.query("has_what", workers=workers)
        return {w: tuple(keys[i] for i in idx) for w, idx in data.items()}

    async def nthreads(self) -> dict:
        return (await self.query("nthreads"))[0]

    async def scheduler_info(self) -> dict:
        return (await self.query("info"))[0]

    async def task_states(self, keys=None) -> dict:
        data, keys = await self.query("task_states", keys=keys)
        return dict(zip(keys, data))

    async def get_task_stream(self) -> list[dict]:
        data, keys = await self.query("task_stream")
        return [
            {"key": keys[i], "worker": w, "start": start, "stop": stop, "status": status}
            for i, w, start, stop, status in data
        ]

    async def restart_scheduler(self) -> int:
        """Cancel every key of every client on the scheduler; returns the tasks left."""
        data, _ = await self.query("restart")
        return data


def _reconnect_timeout() -> float:
    """``distributed.client.reconnect-timeout``: how long a client whose scheduler
    connection broke tries to register again before its futures fail (0: at once)."""
    from pardata import config
    from pardata._units import parse_timedelta

    return float(parse_timedelta(config.get("distributed.client.reconnect-timeout", "10s")))


def _call_logged(fn, future) -> None:
    try:
        fn(future)
    except Exception:  # noqa: BLE001 - a user's callback must not kill the helper thread
        logger.exception("a Future done-callback raised")
