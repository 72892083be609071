"""``WorkerServer``: the asyncio server around a ``WorkerState``.

It owns four things the state machine only talks about: a stream to the scheduler
(batched messages both ways), a listener serving ``get-data`` to peers and clients, a
``TaskRunner`` thread pool, and a ``DataStore``. Messages and callbacks become events
(``state.handle``); the instructions that come back are carried out in order: run a
task, fetch from a peer, drop values, or send a message to the scheduler.

With a memory limit, the store is a ``SpillBuffer`` (least-recently-used values go to
the spill directory, written and read back in its executor, off the event loop) and a
``MemoryMonitor`` spills, pauses the state machine (``PauseChanged``) and reports to the
scheduler at once when it pauses, unpauses or is about to be terminated. A worker
restarted by its nanny reopens the spill directory and registers the results it finds.

``security`` (a ``pardata.security.Security``) covers all three kinds of connection:
the listener (peers must pass the cluster-secret handshake, and on ``tls://`` present a
certificate of the cluster CA), the stream to the scheduler and the pool of connections
to peers. The listener speaks ``tls://`` when the scheduler's address does.

When the scheduler connection breaks (the scheduler crashed and is restarted from its
journal, or the network failed), the worker registers again for up to
``distributed.worker.reconnect-timeout`` with the results it holds, its state machine
started afresh (see ``_reconnect``). It exits when the scheduler tells it to, or when
that fails. When the scheduler dropped it for silence (``CloseWorkerRequest.rejoin``)
or it could not register again, ``rejoin`` is set and ``python -m worker`` exits with a
code that makes its nanny start a fresh worker, which registers again (after a network
partition heals, say). A ``worker-removed`` announcement from the scheduler abandons
transfers in flight from that peer at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shutil
import tempfile
import time
import traceback

from pardata import config
from pardata._units import parse_timedelta
from pardata.comm import BatchedSend, Comm, CommError, connect, listen, unbatch
from pardata.comm import messages as m
from pardata.comm.pool import ConnectionPool
from pardata.comm.settings import batched_send_interval, connect_timeout, handshake_timeout, limits_from_config
from pardata.serialize import deserialize, serialize

from . import events as ev
from . import instructions as ins
from .executor import Failed, TaskRunner, pack_exception
from .memory.monitor import MemoryMonitor, thresholds_from_config
from .memory.spill import SpillBuffer
from .metrics import WorkerDiagnostics
from .nanny import RESTARTS_ENV
from .state import WorkerState
from .store import DataStore, ValueSpilled
from .shuffle import ShuffleService
from .transfer import data_reply, decode_values, fetch_from_peer

__all__ = ["WorkerServer"]

logger = logging.getLogger("pardata.worker")


class WorkerServer:
    """A worker: call ``await start()``, later ``await close()``.

    ``address`` is known after start; it is the worker's identity at the scheduler.
    """

    def __init__(
        self,
        scheduler_address: str,
        *,
        nthreads: int = 1,
        memory_limit: int = 0,
        name: str = "",
        host: str = "127.0.0.1",
        listen_address: str | None = None,
        local_directory: str | None = None,
        resources: dict | None = None,
        limits=None,
        validate: bool = False,
        memory_thresholds: dict | None = None,
        max_spill: int | None = None,
        spill_directory: str | None = None,
        recover_spilled: bool | None = None,
        memory_monitor_interval: float = 0.1,
        http_address: str | None = "",
        security=None,
    ) -> None:
        self.scheduler_address = scheduler_address
        self.nthreads = nthreads
        self.memory_limit = int(memory_limit or 0)
        #: Overrides of ``worker.memory.target/spill/pause/terminate`` for this worker.
        self.memory_thresholds = dict(memory_thresholds or {})
        self.max_spill = max_spill
        self._spill_directory = spill_directory
        if recover_spilled is None:  # a process restarted by its nanny keeps its spilled data
            recover_spilled = os.environ.get(RESTARTS_ENV, "0") != "0" and spill_directory is not None
        self._recover_spilled = recover_spilled
        self._monitor_interval = memory_monitor_interval
        self.monitor: MemoryMonitor | None = None
        self.name = name
        self.resources = dict(resources or {})
        self.limits = limits or limits_from_config()
        self.validate = validate
        self.security = security
        scheme = "tls" if scheduler_address.startswith("tls://") else "tcp"
        self._listen_address = listen_address or (f"{scheme}://[{host}]:0" if ":" in host else f"{scheme}://{host}:0")
        self._local_root = local_directory
        self.local_directory = ""
        self.store = DataStore()
        self.state: WorkerState | None = None
        self.listener = None
        self.stream: BatchedSend | None = None
        self.runner: TaskRunner | None = None
        self.pool = ConnectionPool(name=f"worker {name}", limits=self.limits, connect_timeout=connect_timeout(),
                                   security=security)
        self._tasks: set[asyncio.Task] = set()
        # /metrics and /health ("": a free port on this host; None: off), metric reports
        self.diagnostics = WorkerDiagnostics(self, http_address)
        self.shuffle = ShuffleService(self)  # the peer-to-peer shuffle's side here
        self._status = "created"
        self._done: asyncio.Event | None = None
        #: Set when the scheduler connection ended in a way a fresh worker could recover
        #: from: the scheduler dropped this worker for silence, or the connection broke.
        self.rejoin = False

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.listener.address

    @property
    def status(self) -> str:
        return self._status

    async def start(self) -> "WorkerServer":
        loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        self.local_directory = tempfile.mkdtemp(prefix="worker-", dir=self._prepare_root())
        self._start_memory()
        self.listener = await listen(self._listen_address, self._serve_peer, limits=self.limits, name=self.name,
                                     security=self.security, handshake_timeout=handshake_timeout())
        self.name = self.name or self.address
        self.state = WorkerState(self.address, self.nthreads, validate=self.validate,
                                 executor_lookahead=_executor_lookahead(), **self._transfer_limits())
        self.runner = TaskRunner(self.nthreads, loop, self._on_outcomes, name=f"pardata-worker-{self.name}")
        self.shuffle.start(f"pardata-worker-{self.name}")  # found by shuffle tasks on those threads
        recovered = dict(self.store.buffer.recovered) if self.store.buffer is not None else {}
        try:
            comm, reply, _ = await self._register(connect_timeout(), recovered)
        except BaseException:
            await self._teardown()
            raise
        self.stream = BatchedSend(interval=batched_send_interval())
        self.stream.start(comm)
        self._status = "running"
        if recovered:  # held for the scheduler, which frees what it no longer needs
            self.handle(ev.DataScattered(recovered))
            logger.info("worker %s re-registered %d spilled results", self.address, len(recovered))
        if self.monitor is not None:
            self.monitor.start()
        self._spawn(self._read_scheduler(comm))
        self._spawn(self._heartbeats(reply.heartbeat_interval))
        self._spawn(self.diagnostics.run(reply.heartbeat_interval))
        logger.info("worker %s (%s) connected to %s", self.address, self.name, self.scheduler_address)
        return self

    async def _register(self, timeout: float, held) -> tuple:
        """Connect to the scheduler and register, listing the results ``held`` here
        (a dict, or a function returning one once connected, filled in here)."""
        comm = await connect(self.scheduler_address, timeout=timeout, limits=self.limits,
                             name=f"worker {self.name}", security=self.security)
        try:
            if callable(held):
                held = held()
            await comm.write(
                m.RegisterWorker(
                    address=self.address,
                    name=str(self.name),
                    nthreads=self.nthreads,
                    memory_limit=self.memory_limit,
                    resources=self.resources,
                    pid=os.getpid(),
                    local_directory=self.local_directory,
                    keys=list(held),
                    nbytes=list(held.values()),
                )
            )
            reply = await comm.read()
            if not isinstance(reply, m.WorkerRegistered):
                raise CommError(f"the scheduler refused worker {self.address}: {getattr(reply, 'op', reply)}")
        except BaseException:
            comm.abort()
            raise
        return comm, reply, held

    async def _reconnect(self, reason: str) -> None:
        """The scheduler connection broke (the scheduler died and may be restarted from
        its journal, or the network failed): register again, for up to
        ``distributed.worker.reconnect-timeout``, with the results held here.

        Every assignment of the old connection is void: the state machine starts afresh
        (runs still going finish as stale), and the scheduler decides what of the held
        results it still needs. If the scheduler does not come back, the worker closes
        with ``rejoin`` set, so that its nanny starts a fresh one.
        """
        self._status = "reconnecting"
        if self.stream is not None:
            self.stream.abort()
        timeout = _reconnect_timeout()
        logger.warning("worker %s: %s; registering again for up to %gs", self.address, reason, timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.state = WorkerState(self.address, self.nthreads, validate=self.validate,
                                 executor_lookahead=_executor_lookahead(), **self._transfer_limits())
        while True:
            try:  # what is held is listed once connected: runs finish meanwhile
                comm, reply, held = await self._register(
                    max(deadline - loop.time(), 0.1), lambda: {k: self.store.nbytes(k) for k in self.store})
                break
            except (CommError, OSError) as exc:
                if loop.time() >= deadline or self._status != "reconnecting":
                    if self._status == "reconnecting":
                        self._status = "running"  # so that close() runs its course
                        self.rejoin = True
                        await self.close(f"{reason}; could not register again: {exc}", report=False)
                    return
                await asyncio.sleep(0.2)
        if self._status != "reconnecting":  # closed meanwhile
            comm.abort()
            return
        for key in [k for k in self.store if k not in held]:
            self.store.pop(key)  # finished meanwhile, unknown to the scheduler
        self.stream = BatchedSend(interval=batched_send_interval())
        self.stream.start(comm)
        self._status = "running"
        if held:
            self.handle(ev.DataScattered(held))
        self._spawn(self._read_scheduler(comm))
        logger.info("worker %s registered again with %d results", self.address, len(held))

    def _start_memory(self) -> None:
        """With a memory limit: the spilling store and the monitor (started once registered)."""
        if not self.memory_limit:
            return
        thresholds = thresholds_from_config(**self.memory_thresholds)
        target = thresholds.target or thresholds.spill
        if target is not None:
            directory = self._spill_directory or os.path.join(self.local_directory, "spill")
            buffer = SpillBuffer(directory, int(self.memory_limit * target), max_disk_bytes=self.max_spill,
                                 recover=self._recover_spilled, evict_on_set=False)
            self.store = DataStore(buffer)
            for key, nbytes in buffer.recovered.items():
                self.store.adopt(key, nbytes)
        self.monitor = MemoryMonitor(self.store.buffer, self.memory_limit, thresholds,
                                     interval=self._monitor_interval, on_pause=self._on_pause,
                                     on_terminate=self._on_terminate)

    def _transfer_limits(self) -> dict:
        """With a memory limit, fetch at most a twentieth of it at a time (in batches of
        half that; one transfer may always start): transfers in flight when the worker
        pauses still land, and must fit between the pause and terminate thresholds."""
        if not self.memory_limit:
            return {}
        incoming = min(256 * 2**20, max(self.memory_limit // 20, 2**20))
        return {"incoming_bytes_limit": incoming, "transfer_batch_nbytes": min(50 * 2**20, incoming // 2)}

    def _prepare_root(self) -> str:
        root = self._local_root or os.path.join(tempfile.gettempdir(), "pardata-worker-space")
        os.makedirs(root, exist_ok=True)
        return root

    async def close(self, reason: str = "closed", report: bool = True) -> None:
        """Leave the cluster: tell the scheduler (if ``report``), drop everything."""
        if self._status in ("closing", "closed"):
            if self._done is not None:
                await self._done.wait()
            return
        self._status = "closing"
        if self.monitor is not None:
            await self.monitor.stop()
        if self.stream is not None:
            if report:
                try:
                    self.stream.send(m.WorkerClosing(reason=reason))
                except CommError:
                    pass
            await self.stream.close(timeout=1.0)
        await self._teardown()
        logger.info("worker %s closed: %s", self.address if self.listener else self.name, reason)

    async def _teardown(self) -> None:
        current = asyncio.current_task()
        pending = {t for t in self._tasks if t is not current}
        while pending:
            # Cancelled again until done: asyncio.wait_for (3.11) swallows a cancellation
            # that arrives as its timeout fires, which is what happens to every timer at
            # once in a process resumed after SIGSTOP; one cancel would then wait forever.
            for task in pending:
                task.cancel()
            done, pending = await asyncio.wait(pending, timeout=0.5)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved, as gather(return_exceptions=True) would
        if self.runner is not None:
            self.runner.close()
        if self.listener is not None:
            await self.listener.stop()
        await self.pool.close()
        if self.monitor is not None:
            await self.monitor.stop()
        if self.store.buffer is not None:
            # a start that failed keeps what a restarted worker could recover
            self.store.buffer.close(remove_files=self._status != "created")
        self.shuffle.close()
        self.store.clear()
        if self.local_directory:
            shutil.rmtree(self.local_directory, ignore_errors=True)
        self._status = "closed"
        if self._done is not None:
            self._done.set()

    async def finished(self) -> None:
        """Wait until the worker has closed (told to, or the scheduler went away)."""
        assert self._done is not None, "start() first"
        await self._done.wait()

    async def __aenter__(self) -> "WorkerServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- the scheduler stream ------------------------------------------------------------

    async def _read_scheduler(self, comm: Comm) -> None:
        reason = "the scheduler connection closed"
        try:
            while True:
                msg = await comm.read()
                events: list = []
                for one in unbatch(msg):
                    t = type(one)
                    if t is m.ComputeTask:
                        events.append(
                            ev.ExecuteRequested(
                                worker=self.address,
                                key=one.key,
                                attempt=one.attempt,
                                payload=one.payload,
                                priority=one.priority,
                                who_has={k: tuple(h) for k, h in zip(one.dependencies, one.who_has)},
                                nbytes=dict(zip(one.dependencies, one.nbytes)),
                            )
                        )
                    elif t is m.FreeData:
                        events.append(ev.FreeKeysRequested(tuple(one.keys)))
                    elif t is m.CancelCompute:
                        events.append(ev.CancelRequested(one.key, one.attempt))
                    elif t is m.StealRequest:
                        self.handle(*events)
                        events = []
                        self._answer_steal(one)
                    elif t is m.ShuffleForget:
                        self.shuffle.forget(one.shuffle_id, one.run_id)
                    elif t is m.WorkerRemoved:
                        # in-flight fetches from it fail now (FetchFailed): the next
                        # holder is tried, or the dependency is reported missing
                        self.pool.abandon(one.address)
                    elif t is m.CloseWorkerRequest:
                        reason = f"the scheduler closed this worker: {one.reason}"
                        self.rejoin = one.rejoin
                        raise _Closing
                    else:
                        logger.warning("ignoring unexpected %s from the scheduler", one.op)
                self.handle(*events)
        except _Closing:
            pass
        except CommError as exc:
            reason = f"lost the scheduler connection: {exc}"
            self.rejoin = True
            if self._status == "running" and _reconnect_timeout() > 0:
                self._spawn(self._reconnect(reason))
                return
        if self._status == "running":
            self._spawn(self.close(reason, report=False))

    def _answer_steal(self, msg: m.StealRequest) -> None:
        """The state machine has no steal event: give the task up only if it has not started.

        A task still waiting for inputs or queued for a thread is cancelled (which the
        state machine supports) and the steal confirmed; anything else is refused.
        """
        ts = self.state.tasks.get(msg.key)
        ok = (
            ts is not None
            and ts.attempt == msg.attempt
            and ts.state in ("waiting", "ready")
            and msg.key not in self.state.running
        )
        if ok:
            self.handle(ev.CancelRequested(msg.key, msg.attempt))
        self._to_scheduler(m.StealReply(key=msg.key, attempt=msg.attempt, confirmed=ok))

    async def _heartbeats(self, interval: float) -> None:
        try:
            import psutil

            process = psutil.Process()
        except Exception:  # noqa: BLE001 - no RSS figure then
            process = None
        while True:
            if self.monitor is not None:
                self._send_status()
            else:
                rss = process.memory_info().rss if process is not None else 0
                self._to_scheduler(m.WorkerStatus(managed_bytes=self.store.total_nbytes, process_bytes=rss))
            await asyncio.sleep(interval)

    def _send_status(self) -> None:
        """The memory monitor's latest figures and decision, to the scheduler."""
        s = self.monitor.state()
        self._to_scheduler(m.WorkerStatus(managed_bytes=s.managed, process_bytes=s.process, paused=s.paused,
                                          spilled_bytes=s.spilled, memory_reason=s.reason))

    def _on_pause(self, paused: bool) -> None:
        """The monitor paused or unpaused this worker: no new run or transfer meanwhile."""
        self.handle(ev.PauseChanged(paused))
        if self._status == "running":
            self._send_status()  # at once: the scheduler stops (or resumes) sending work

    def _on_terminate(self, reason: str) -> None:
        """Over the terminate threshold: the nanny kills this process; say why first."""
        if self._status == "running":
            self._send_status()

    def _to_scheduler(self, msg) -> None:
        try:
            self.stream.send(msg)
        except CommError:
            pass  # the reader notices the broken stream and closes the worker

    # --- the state machine ---------------------------------------------------------------

    def handle(self, *events) -> None:
        """Feed events to the state and carry out its instructions, in order."""
        if not events or self._status != "running":
            return
        for instruction in self.state.handle(*events):
            t = type(instruction)
            if t is ins.RunTask:
                self._run(instruction)
            elif t is ins.SendTaskFinished:
                i = instruction
                self._to_scheduler(m.TaskDone(key=i.key, attempt=i.attempt, nbytes=i.nbytes,
                                              type_name=i.type_name, start=i.start, stop=i.stop,
                                              running_nbytes=i.running_nbytes))
            elif t is ins.ReleaseData:
                for key in instruction.keys:
                    self.store.pop(key)
            elif t is ins.FetchFromPeer:
                self._spawn(self._fetch(instruction.peer, instruction.keys))
            elif t is ins.SendTaskErred:
                i = instruction
                ts = self.state.tasks.get(i.key)  # the instruction lacks the run's times
                start, stop = (ts.start, ts.stop) if ts is not None else (0.0, 0.0)
                self._to_scheduler(m.TaskFailed(key=i.key, attempt=i.attempt, exception=i.exception,
                                                traceback=i.traceback, start=start, stop=stop))
            elif t is ins.SendAddKeys:
                keys = list(instruction.keys)
                self._to_scheduler(m.ReplicasAdded(keys=keys, nbytes=[self.store.nbytes(k) for k in keys]))
            elif t is ins.SendKeysReleased:
                self._to_scheduler(m.ReplicasReleased(keys=list(instruction.keys)))
            elif t is ins.SendMissingDependency:
                i = instruction
                self._to_scheduler(m.DependencyMissing(key=i.key, attempt=i.attempt, missing=i.missing,
                                                       holders=list(i.holders)))
            else:
                raise TypeError(f"unknown worker instruction {instruction!r}")

    def _run(self, instruction: ins.RunTask) -> None:
        key, attempt = instruction.key, instruction.attempt
        try:
            inputs = {dep.key: self.store.get_now(dep.key) for dep in self.state.tasks[key].dependencies}
        except ValueSpilled:
            deps = [dep.key for dep in self.state.tasks[key].dependencies]
            self._spawn(self._unspill_and_run(instruction, deps))
            return
        except KeyError as exc:
            error = RuntimeError(f"input {exc.args[0]!r} of task {key!r} is not in this worker's store")
            now = time.time()
            failed = Failed(key, attempt, pack_exception(error, key), "", now, now)
            asyncio.get_running_loop().call_soon(self._on_outcomes, [failed])  # not re-entrantly
            return
        self.runner.run(key, attempt, instruction.payload, inputs)

    async def _unspill_and_run(self, instruction: ins.RunTask, keys: list) -> None:
        """``_run`` for a task with spilled inputs: read them back off the event loop first."""
        key, attempt = instruction.key, instruction.attempt
        try:
            values = await asyncio.gather(*(self.store.get_async(k) for k in keys))
        except KeyError as exc:
            error = RuntimeError(f"input {exc.args[0]!r} of task {key!r} is not in this worker's store")
            now = time.time()
            self._on_outcomes([Failed(key, attempt, pack_exception(error, key), "", now, now)])
            return
        self.runner.run(key, attempt, instruction.payload, dict(zip(keys, values)))

    def _on_outcomes(self, outcomes: list) -> None:
        """Runs finished on the executor (called on the loop, in bursts)."""
        events = []
        for o in outcomes:
            if type(o) is Failed:
                events.append(ev.TaskRaised(o.key, o.attempt, o.exception, o.traceback, o.start, o.stop))
            else:
                self.store.put(o.key, o.value, o.nbytes, o.serialized)
                events.append(ev.TaskCompleted(o.key, o.attempt, o.nbytes, o.type_name, o.start, o.stop,
                                               o.running_nbytes))
        if self.monitor is not None:
            self.monitor.spill_soon()
        self.handle(*events)

    async def _fetch(self, peer: str, keys: tuple) -> None:
        started = time.time()
        try:
            values, nbytes = await fetch_from_peer(self.pool, peer, keys)
        except (CommError, OSError) as exc:
            self.pool.forget(peer)
            self.handle(ev.FetchFailed(peer, tuple(keys), reason=str(exc), now=time.monotonic()))
            return
        for key, value in values.items():
            self.store.put(key, value, nbytes[key])
        self.diagnostics.transfer_in(keys, started, sum(nbytes.values()))
        if self.monitor is not None:
            self.monitor.spill_soon()
        self.handle(ev.FetchCompleted(peer, nbytes, now=time.monotonic()))

    # --- the listener: peers and clients -------------------------------------------------

    async def _serve_peer(self, comm: Comm) -> None:
        while True:
            msg = await comm.read()
            t = type(msg)
            if t is m.GetData:
                reply = await data_reply(self.store, list(msg.keys))
                self.diagnostics.transfer_out(reply)
            elif t is m.PutData:
                reply = await self._put_data(msg)
            elif t is m.ShuffleShards or t is m.ShuffleFetchOutput:
                reply = await self.shuffle.serve(msg)
            elif t is m.RunFunction:
                reply = await self._run_function(msg)
            else:
                logger.warning("closing connection from %s: unexpected %s", comm.peer_address, msg.op)
                return
            await comm.write(reply)

    async def _put_data(self, msg: m.PutData) -> m.Ack:
        values, _ = await decode_values(list(msg.keys), list(msg.values))
        if len(values) != len(msg.keys):
            bad = [k for k in msg.keys if k not in values]
            return m.Ack(ok=False, reason=f"could not deserialize scattered keys {bad!r}")
        sizes = dict(zip(msg.keys, msg.nbytes))
        for key, value in values.items():
            self.store.put(key, value, sizes[key])
        if self.monitor is not None:
            self.monitor.spill_soon()
        self.handle(ev.DataScattered(sizes))
        return m.Ack()

    async def _run_function(self, msg: m.RunFunction) -> m.FunctionResult:
        try:
            fn, args, kwargs = deserialize(msg.function)
            if "pardata_worker" in _parameters(fn):
                kwargs = {**kwargs, "pardata_worker": self}
            if inspect.iscoroutinefunction(fn):
                value = await fn(*args, **kwargs)
            else:
                value = await asyncio.to_thread(fn, *args, **kwargs)
            return m.FunctionResult(ok=True, value=serialize(value))
        except Exception as exc:  # noqa: BLE001 - sent back to the caller
            tb = "".join(traceback.format_exception(exc))
            return m.FunctionResult(ok=False, value=pack_exception(exc), traceback=tb)


def _executor_lookahead() -> float:
    """``distributed.worker.executor-lookahead``: seconds of tiny tasks queued on the
    executor per busy thread (see ``WorkerState``), so that a thread does not wait for
    the event loop between them; 0 turns it off."""
    return float(parse_timedelta(config.get("distributed.worker.executor-lookahead", "5ms")))


def _reconnect_timeout() -> float:
    """``distributed.worker.reconnect-timeout``: how long a worker whose scheduler
    connection broke keeps registering again before it gives up (0: at once)."""
    return float(parse_timedelta(config.get("distributed.worker.reconnect-timeout", "30s")))


class _Closing(Exception):
    """The scheduler asked this worker to close."""


def _parameters(fn) -> tuple:
    try:
        return tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return ()
