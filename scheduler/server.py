"""`SchedulerServer`: the asyncio server that owns a `SchedulerState`.

It is deliberately thin. Each connection starts with one registration message saying
who is calling (a worker, a client, or a one-off query); after that the connection is
a stream of batched messages both ways. Every batch read from a peer becomes events
(stamped with ``time.monotonic()``), handled in one `SchedulerState.handle` call, and
the commands that come back become messages, queued on the batched stream of the
worker or client they are for. A timer feeds `Tick` (silent workers, work stealing).

Task payloads, results and exceptions are `Serialized` and forwarded as they came:
this process never unpickles anything a client or worker sent.

``security`` (a ``pardata.security.Security``) protects the listener: with a cluster
secret every connection must pass the HMAC handshake before its first message is
read, with TLS files the address is ``tls://`` and peers need a certificate of the
cluster CA. A connection that does not finish its handshake within
``distributed.comm.timeouts.handshake`` is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import deque

from pardata import config
from pardata._units import parse_timedelta
from pardata.comm import BatchedSend, Comm, CommError, listen, unbatch
from pardata.comm import messages as m
from pardata.comm.settings import batched_send_interval, handshake_timeout, limits_from_config

from . import admission
from . import events as e
from .dashboard import Dashboard
from .journal import (CLIENT, CLIENT_LEFT, CLIENT_MESSAGES, DONE, WORKER_JOINED, WORKER_LEFT, JournalWriter,
                      RecoveryGate, replay)
from .metrics import ClusterMetrics, upstream_progress
from .settings import state_from_config
from .shuffle_runs import ShuffleRunRequested
from .wire import WORKER_MESSAGES, client_event, command_message, graph_event, worker_event

__all__ = ["SchedulerServer"]

logger = logging.getLogger("pardata.scheduler")

#: Task-stream records kept for ``Client.get_task_stream``.
TASK_STREAM_LENGTH = 100_000


class SchedulerServer:
    """Listens on ``address`` and runs the cluster's scheduler until closed.

    >>> server = SchedulerServer("tcp://127.0.0.1:0")   # doctest: +SKIP
    >>> await server.start(); server.address            # doctest: +SKIP
    'tcp://127.0.0.1:40321'
    """

    def __init__(
        self,
        address: str = "tcp://127.0.0.1:0",
        *,
        tick_interval: float = 0.2,
        heartbeat_interval: float | None = None,
        limits=None,
        authenticator=None,
        security=None,
        dashboard_address: str | None = "127.0.0.1:0",
        journal_directory: str | None = None,
        recovery_grace: float = 10.0,
        **state_options,
    ) -> None:
        self.state = state_from_config(**state_options)
        # With a journal directory, a scheduler restarted there resumes the work (journal.py).
        self.journal = JournalWriter(journal_directory) if journal_directory else None
        self.recovery_grace = recovery_grace
        self._gate: RecoveryGate | None = None
        self.limits = limits or limits_from_config()
        self.authenticator = authenticator
        self.security = security
        self.tick_interval = tick_interval
        # How often workers report in (distributed.scheduler.heartbeat-interval, 1 s); one
        # silent for worker-ttl (distributed.scheduler.worker-ttl) is removed.
        self.heartbeat_interval = (heartbeat_interval if heartbeat_interval is not None else
                                   float(parse_timedelta(config.get("distributed.scheduler.heartbeat-interval", "1s"))))
        self.id = f"scheduler-{uuid.uuid4().hex[:12]}"
        self.listener = None
        self.workers: dict[str, BatchedSend] = {}  # address -> stream
        self.worker_info: dict[str, dict] = {}  # address -> registration details
        self.clients: dict[str, BatchedSend] = {}
        self.restarts: dict[str, list] = {}  # worker name -> its nanny's restart reports
        self._killing: dict[int, str] = {}  # pid -> why its nanny is killing it
        self.metrics = ClusterMetrics(TASK_STREAM_LENGTH)  # task stream, errors, worker reports
        self.task_stream: deque = self.metrics.task_stream
        self.dashboard = Dashboard(self, dashboard_address)
        self.started = time.time()
        self._requested_address = address
        self._interval = batched_send_interval()
        self._tick_task: asyncio.Task | None = None
        self._closed = False
        self._done: asyncio.Event | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        if self.listener is None:
            raise RuntimeError("the scheduler has not started")
        return self.listener.address

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's status page, or None when it is not served."""
        return self.dashboard.link

    async def start(self) -> "SchedulerServer":
        self._done = asyncio.Event()
        self._recover()
        self.listener = await listen(
            self._requested_address,
            self._on_comm,
            limits=self.limits,
            name=self.id,
            authenticator=self.authenticator,
            security=self.security,
            handshake_timeout=handshake_timeout(),
        )
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_loop())
        await self.dashboard.start()
        logger.info("scheduler %s listening at %s", self.id, self.address)
        return self

    async def close(self) -> None:
        """Tell workers to leave, drop every connection, stop the timer."""
        if self._closed:
            return
        self._closed = True
        if self._tick_task is not None:
            self._tick_task.cancel()
        for stream in list(self.workers.values()):
            try:
                stream.send(m.CloseWorkerRequest(reason="the scheduler is closing"))
            except CommError:
                pass
        streams = [*self.workers.values(), *self.clients.values()]
        await asyncio.gather(*(s.close(timeout=1.0) for s in streams), return_exceptions=True)
        if self.listener is not None:
            await self.listener.stop()
        if self._tick_task is not None:
            await asyncio.gather(self._tick_task, return_exceptions=True)
        await self.dashboard.stop()
        if self.journal is not None:
            self.journal.close(remove=True)  # a clean shutdown leaves nothing to resume
        if self._done is not None:
            self._done.set()
        logger.info("scheduler %s closed", self.id)

    async def finished(self) -> None:
        """Wait until `close` has run."""
        assert self._done is not None, "start() first"
        await self._done.wait()

    async def __aenter__(self) -> "SchedulerServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                if self._gate is not None:
                    self._open_gate(self._gate.tick(time.monotonic()))
                self.handle(e.Tick(time.monotonic()))
            except Exception:
                pass  # logged by handle; the next tick may do better

    # --- the state machine ---------------------------------------------------------------

    def handle(self, *events) -> None:
        """Feed events to the state and send the resulting commands."""
        try:
            commands = self.state.handle(*events)
        except Exception:
            logger.exception("the scheduler state failed handling %d event(s): %r", len(events), events[:3])
            raise
        who_has = self._holders
        for cmd in commands:
            kind, peer, msg = command_message(cmd, who_has)
            if kind == "client":
                stream = self.clients.get(peer)
            else:
                stream = self.workers.get(peer)
                if kind == "close" and stream is not None:
                    del self.workers[peer]
                    self.worker_info.pop(peer, None)
                    self._send(stream, msg)
                    asyncio.get_running_loop().create_task(stream.close(timeout=1.0))
                    self._announce_removal(peer)
                    continue
            if stream is not None:
                self._send(stream, msg)
        if self.journal is not None:
            if self.journal.work_records and not self.state.tasks and not self.state.clients:
                self.journal.restart(self.workers)  # all work is done and released
            else:
                self.journal.flush()

    # --- recovery from the journal ---------------------------------------------------------

    def _recover(self) -> None:
        """Rebuild the tasks from the journal left by a scheduler that died here, then
        wait (`RecoveryGate`) for the workers holding results still needed."""
        if self.journal is None:
            return
        records = self.journal.load()
        self.journal.open()
        if not records:
            return
        recovery = replay(records, time.monotonic())
        for event in recovery.events:  # nobody is connected yet: commands go nowhere
            try:
                self.state.handle(event)
            except Exception:  # noqa: BLE001 - one bad record must not stop the rest
                logger.exception("journal: could not replay %r", event)
        expected = recovery.expected_workers(self.state)
        if expected:
            self._gate = RecoveryGate(expected, time.monotonic() + self.recovery_grace)
        logger.warning("scheduler resumed from its journal (%d records): %d tasks, waiting up to %gs for %d "
                       "worker(s) holding results", recovery.records, len(self.state.tasks), self.recovery_grace,
                       len(expected))

    def _worker_joined(self, event: e.WorkerJoined) -> None:
        if self.journal is not None:
            self.journal.append(WORKER_JOINED, event.worker)
        if self._gate is None:
            self.handle(event)
        else:
            self._open_gate(self._gate.join(event))

    def _open_gate(self, joins: list) -> None:
        if self._gate is not None and self._gate.open:
            self._gate = None
            logger.info("recovery: %d worker(s) back; scheduling resumes", len(joins))
        joins = [j for j in joins if j.worker in self.workers]  # still connected
        if joins:
            self.handle(e.WorkersJoined(tuple(joins)))

    def _announce_removal(self, address: str) -> None:
        """Tell every worker and client that ``address`` left, before any reassignment of
        its work goes out: transfers from it are abandoned at once (a frozen peer never
        answers, a dead one is refused) and its keys are fetched from the next holder."""
        if self.journal is not None:
            self.journal.append(WORKER_LEFT, address)
        msg = m.WorkerRemoved(address=address)
        for stream in (*self.workers.values(), *self.clients.values()):
            self._send(stream, msg)

    def _holders(self, key) -> tuple:
        ts = self.state.tasks.get(key)
        return tuple(ws.name for ws in ts.who_has) if ts is not None else ()

    @staticmethod
    def _send(stream: BatchedSend, msg) -> None:
        try:
            stream.send(msg)
        except CommError:
            pass  # that peer is gone; its reader will report it

    # --- connections ---------------------------------------------------------------------

    async def _on_comm(self, comm: Comm) -> None:
        first = await comm.read()
        if isinstance(first, m.RegisterWorker):
            await self._serve_worker(comm, first)
        elif isinstance(first, m.RegisterClient):
            await self._serve_client(comm, first)
        elif isinstance(first, m.NannyReport):
            self._on_nanny_report(first)
            await comm.write(m.Ack())
        elif isinstance(first, m.ShuffleRunRequest):
            msg = first  # a worker's connection for shuffle runs: answer until it closes
            while isinstance(msg, m.ShuffleRunRequest):
                await comm.write(self._shuffle_run(msg))
                msg = await comm.read()
        elif isinstance(first, m.Query):
            # a one-off connection (tools, tests): answer queries until it closes
            msg = first
            while True:
                await comm.write(await self._answer(msg))
                msg = await comm.read()
                if not isinstance(msg, m.Query):
                    break
        else:
            logger.warning("closing connection from %s: unexpected first message %s", comm.peer_address, msg_op(first))

    async def _serve_worker(self, comm: Comm, reg: m.RegisterWorker) -> None:
        address = reg.address
        await comm.write(m.WorkerRegistered(heartbeat_interval=self.heartbeat_interval))
        stream = BatchedSend(interval=self._interval)
        stream.start(comm)
        old = self.workers.get(address)
        if old is not None:
            old.abort()
        self.workers[address] = stream
        self.worker_info[address] = {
            "name": reg.name or address,
            "nthreads": reg.nthreads,
            "memory_limit": reg.memory_limit,
            "resources": dict(reg.resources),
            "pid": reg.pid,
            "local_directory": reg.local_directory,
        }
        recovered = dict(zip(reg.keys, reg.nbytes))
        self._worker_joined(e.WorkerJoined(address, reg.nthreads, reg.memory_limit, dict(reg.resources),
                                           time.monotonic(), recovered))
        logger.info("worker %s (%s, %d threads) joined%s", address, reg.name, reg.nthreads,
                    f" with {len(recovered)} results recovered from its disk" if recovered else "")
        reason, graceful = "connection lost", False
        try:
            while True:
                msg = await comm.read()
                if self.workers.get(address) is not stream:
                    # Removed (no heartbeat) or replaced by a new registration: whatever
                    # this old connection still carries is stale and must not be applied.
                    reason = "removed by the scheduler"
                    break
                now = time.monotonic()
                events = []
                for one in unbatch(msg):
                    ev = worker_event(address, one, now)
                    if ev is not None:
                        events.append(ev)
                        if type(one) is m.TaskDone:
                            self.task_stream.append((one.key, address, one.start, one.stop, "done"))
                            if self.journal is not None:
                                self.journal.append(DONE, address, one)
                        elif type(one) is m.TaskFailed:
                            self.metrics.task_failed(address, one)
                    elif type(one) is m.WorkerMetrics:
                        self.metrics.worker_metrics(address, one, now)
                    elif type(one) is m.WorkerClosing:
                        reason, graceful = one.reason or "worker closed", True
                    elif type(one) not in WORKER_MESSAGES:
                        raise CommError(f"unexpected {msg_op(one)} from worker {address}")
                if events:
                    self.handle(*events)
                if graceful:
                    break
        except CommError as exc:
            reason = f"connection lost: {exc}"
        finally:
            if self.workers.get(address) is stream:
                del self.workers[address]
                info = self.worker_info.pop(address, None)
                stream.abort()
                killed = self._killing.pop(info["pid"], None) if info else None
                if killed and not graceful:
                    reason = f"{killed} ({reason})"
                if not self._closed:
                    logger.info("worker %s left: %s", address, reason)
                    if self._gate is not None:
                        self._gate.left(address)
                    self._announce_removal(address)
                    self.handle(e.WorkerLeft(address, reason, time.monotonic(), graceful))

    async def _serve_client(self, comm: Comm, reg: m.RegisterClient) -> None:
        client = reg.client
        await comm.write(m.ClientRegistered(scheduler=self.id))
        stream = BatchedSend(interval=self._interval)
        stream.start(comm)
        self.clients[client] = stream
        logger.debug("client %s connected", client)
        try:
            while True:
                msg = await comm.read()
                now = time.monotonic()
                events = []
                for one in unbatch(msg):
                    if self.journal is not None and type(one) in CLIENT_MESSAGES:
                        self.journal.append(CLIENT, client, one)
                    if type(one) is m.SubmitGraph:
                        events.append(graph_event(client, one, now, self._resolve_workers(one.workers)))
                    elif type(one) is m.Query:
                        if events:
                            self.handle(*events)
                            events = []
                        self._send(stream, await self._answer(one))
                    else:
                        ev = client_event(client, one, now)
                        if ev is None:
                            raise CommError(f"unexpected {msg_op(one)} from client {client}")
                        events.append(ev)
                if events:
                    self.handle(*events)
        except CommError as exc:
            logger.debug("client %s disconnected: %s", client, exc)
        finally:
            if self.clients.get(client) is stream:
                del self.clients[client]
                stream.abort()
                if not self._closed:
                    if self.journal is not None:
                        self.journal.append(CLIENT_LEFT, client)
                    self.handle(e.ClientLeft(client))

    def _shuffle_run(self, msg: m.ShuffleRunRequest) -> m.ShuffleRunReply:
        """The current run of a peer-to-peer shuffle (see ``shuffle_runs``)."""
        self.handle(ShuffleRunRequested(msg.shuffle_id, msg.barrier, msg.npartitions_out, time.monotonic()))
        run = self.state.shuffle_runs.get(msg.shuffle_id)
        if run is None:
            return m.ShuffleRunReply(shuffle_id=msg.shuffle_id, error="no worker is connected to the scheduler")
        return m.ShuffleRunReply(shuffle_id=msg.shuffle_id, run_id=run.run_id, workers=list(run.workers))

    def _on_nanny_report(self, msg: m.NannyReport) -> None:
        """A nanny is killing its worker, restarted it, or gave up: log it, keep it for
        ``scheduler_info``, and remember why a worker is about to leave."""
        if msg.event == "killing":
            self._killing[msg.old_pid] = msg.message
            _del_oldest(self._killing, 100)
            return
        logger.warning("nanny of worker %r: %s", msg.name, msg.message)
        history = self.restarts.setdefault(msg.name, [])
        history.append({"event": msg.event, "count": msg.count, "reason": msg.reason, "message": msg.message,
                        "old_pid": msg.old_pid, "new_pid": msg.new_pid, "time": time.time()})
        del history[:-20]

    def _resolve_workers(self, workers):
        """Worker names in a ``workers=`` restriction become their addresses."""
        if workers is None:
            return None
        by_name = {info["name"]: addr for addr, info in self.worker_info.items()}
        return [w if w in self.worker_info else by_name.get(w, w) for w in workers]

    # --- queries -------------------------------------------------------------------------

    async def _answer(self, q: m.Query) -> m.QueryReply:
        handler = getattr(self, "_query_" + q.name.replace("-", "_"), None)
        if handler is None:
            return m.QueryReply(request_id=q.request_id, error=f"unknown query {q.name!r}")
        try:
            data, keys = handler(q)
        except Exception as exc:  # a bad query must not take the connection down
            logger.exception("query %s failed", q.name)
            return m.QueryReply(request_id=q.request_id, error=f"{type(exc).__name__}: {exc}")
        return m.QueryReply(request_id=q.request_id, data=data, keys=keys)

    def _query_who_has(self, q):
        answer = self.state.who_has(q.keys)
        keys = list(answer)
        return [list(answer[k]) for k in keys], keys

    def _query_has_what(self, q):
        answer = self.state.has_what(q.workers)
        keys: list = []
        index: dict = {}
        data = {}
        for worker, held in answer.items():
            data[worker] = [index.setdefault(k, len(index)) for k in held]
        keys = list(index)
        return data, keys

    def _query_nthreads(self, q):
        return dict(self.state.nthreads()), []

    def _query_task_states(self, q):
        keys = list(q.keys) if q.keys is not None else list(self.state.tasks)
        return [self.state.task_state(k) for k in keys], keys

    def _query_story(self, q):
        return [[repr(entry) for entry in self.state.story(k)] for k in q.keys or ()], list(q.keys or ())

    def _query_task_stream(self, q):
        keys = []
        data = []
        for i, (key, worker, start, stop, status) in enumerate(self.task_stream):
            keys.append(key)
            data.append([i, worker, start, stop, status])
        return data, keys

    def _query_info(self, q):
        state = self.state
        workers = {}
        for address, info in self.worker_info.items():
            ws = state.workers.get(address)
            workers[address] = {
                **info,
                "nbytes": ws.nbytes if ws is not None else 0,
                "processing": len(ws.processing) if ws is not None else 0,
                "keys": len(ws.has_what) if ws is not None else 0,
                "memory": _memory_info(ws, info.get("memory_limit", 0), state),
                "restarts": list(self.restarts.get(info.get("name"), ())),
            }
        data = {
            "id": self.id,
            "address": self.address,
            "type": "Scheduler",
            "pid": os.getpid(),
            "started": self.started,
            "workers": workers,
            "clients": len(self.clients),
            "tasks": dict(state.task_states_counts()),
            "n_tasks": len(state.tasks),
            "stale_messages": state.stale_messages,
            "shuffle_restarts": state.shuffle_restarts,
            "memory_estimates": admission.estimates(state),
            "dashboard": self.dashboard.link,
        }
        return data, []

    def _query_why(self, q):
        return (self.dashboard.data.why(q.keys[0]) if q.keys else []), []

    def _query_progress(self, q):
        return upstream_progress(self.state, q.keys or ()), []

    def _query_dashboard_workers(self, q):
        return self.dashboard.data.workers(), []

    def _query_task_stream_view(self, q):
        return self.dashboard.data.stream_view(q.keys), []

    def _query_restart(self, q):
        """Cancel every client's keys (force): the cluster forgets all work and data."""
        events = [
            e.CancelRequested(client, [ts.key for ts in wanted], True)
            for client, wanted in list(self.state.clients.items())
        ]
        if events:
            self.handle(*events)
        return len(self.state.tasks), []


def _memory_info(ws, limit: int, state=None) -> dict:
    """A worker's memory as it last reported it (bytes); ``reason`` says why it is paused;
    ``admission_room`` is what admission still lets new tasks need (None: no limit)."""
    if ws is None:
        return {}
    room = admission.room(state, ws) if state is not None else float("inf")
    return {
        "limit": limit,
        "managed": ws.managed_bytes,
        "unmanaged": max(ws.process_bytes - ws.managed_bytes, 0),
        "spilled": ws.spilled_bytes,
        "process": ws.process_bytes,
        "paused": ws.paused,
        "reason": ws.memory_reason,
        "expected": ws.expected_nbytes,
        "admission_room": int(room) if room != float("inf") else None,
    }


def _del_oldest(mapping: dict, keep: int) -> None:
    """Drop the oldest entries of an insertion-ordered dict beyond ``keep``."""
    while len(mapping) > keep:
        del mapping[next(iter(mapping))]


def msg_op(msg) -> str:
    return getattr(msg, "op", type(msg).__name__)
