"""Translation between wire messages and `SchedulerState` events and commands.

Pure functions, no I/O: `server.py` owns the sockets and calls these. Messages are
the typed ones of `pardata.comm.messages`; events and commands are the state
machine's. Payloads (`Serialized`) pass through untouched: nothing here unpickles.
"""

from __future__ import annotations

from pardata.comm import messages as m

from . import commands as c
from . import events as e
from .events import TaskSpec
from .shuffle_runs import ForgetShuffle

__all__ = ["worker_event", "client_event", "command_message", "graph_event", "WORKER_MESSAGES"]


def worker_event(worker: str, msg, now: float):
    """The event a worker's message stands for, or None if it is not one."""
    t = type(msg)
    if t is m.TaskDone:
        return e.TaskFinished(worker, msg.key, msg.attempt, msg.nbytes, max(msg.stop - msg.start, 0.0), now,
                              msg.running_nbytes)
    if t is m.TaskFailed:
        return e.TaskErred(worker, msg.key, msg.attempt, msg.exception, msg.traceback, now)
    if t is m.WorkerStatus:
        return e.WorkerHeartbeat(worker, now, msg.managed_bytes, msg.process_bytes, msg.paused,
                                 msg.spilled_bytes, msg.memory_reason)
    if t is m.ReplicasAdded:
        return e.KeysReplicated(worker, dict(zip(msg.keys, msg.nbytes)), now)
    if t is m.ReplicasReleased:
        return e.KeysDropped(worker, tuple(msg.keys), now)
    if t is m.DependencyMissing:
        # The state machine takes one holder; the first failed one is dropped as a
        # replica, the others are dropped when their own fetches report them.
        holder = msg.holders[0] if msg.holders else ""
        return e.TaskMissingDependency(worker, msg.key, msg.attempt, msg.missing, holder, now)
    if t is m.StealReply:
        cls = e.StealConfirmed if msg.confirmed else e.StealRefused
        return cls(worker, msg.key, msg.attempt, now)
    return None


#: Messages a worker may send on its scheduler stream (others close the stream).
WORKER_MESSAGES = (
    m.TaskDone,
    m.TaskFailed,
    m.WorkerStatus,
    m.ReplicasAdded,
    m.ReplicasReleased,
    m.DependencyMissing,
    m.StealReply,
    m.WorkerClosing,
    m.Heartbeat,
)


def graph_event(client: str, msg: m.SubmitGraph, now: float, workers=None) -> e.GraphSubmitted:
    """`GraphSubmitted` for a `submit-graph` message.

    ``workers`` are the restriction already resolved to worker addresses (or None).
    """
    n = len(msg.keys)
    if not (len(msg.payloads) == len(msg.dependencies) == len(msg.priorities) == n):
        raise ValueError(
            f"submit-graph lists differ in length: {n} keys, {len(msg.payloads)} payloads, "
            f"{len(msg.dependencies)} dependency lists, {len(msg.priorities)} priorities"
        )
    retries = msg.retries
    restrict = tuple(workers) if workers is not None else None
    resources = msg.resources or None
    tasks = {
        key: TaskSpec(
            dependencies=tuple(deps),
            payload=payload,
            priority=(priority,),
            retries=retries,
            workers=restrict,
            resources=resources,
        )
        for key, payload, deps, priority in zip(msg.keys, msg.payloads, msg.dependencies, msg.priorities)
    }
    return e.GraphSubmitted(client, tasks, list(msg.wanted), now, msg.user_priority)


def client_event(client: str, msg, now: float):
    """The event a client's message stands for (graphs excepted), or None."""
    t = type(msg)
    if t is m.ReleaseKeys:
        return e.ClientReleasedKeys(client, list(msg.keys))
    if t is m.CancelKeys:
        return e.CancelRequested(client, list(msg.keys), msg.force)
    if t is m.DataPlaced:
        return e.DataScattered(client, msg.worker, dict(zip(msg.keys, msg.nbytes)), now)
    return None


def _execute(cmd: c.Execute) -> m.ComputeTask:
    deps = list(cmd.who_has)
    nbytes = cmd.nbytes
    return m.ComputeTask(
        key=cmd.key,
        attempt=cmd.attempt,
        payload=cmd.payload,
        priority=tuple(cmd.priority),
        dependencies=deps,
        who_has=[list(cmd.who_has[k]) for k in deps],
        nbytes=[max(int(nbytes.get(k, 0)), 0) for k in deps],
    )


def _erred(cmd: c.ReportErred) -> m.KeyErred:
    return m.KeyErred(
        key=cmd.key,
        reason=cmd.reason or "",
        kind=cmd.kind,
        blamed=cmd.blamed,
        exception=cmd.exception,
        traceback=cmd.traceback or "",
    )


def command_message(cmd, who_has=None):
    """``(kind, peer, message)`` for a command: kind is "worker" or "client".

    ``who_has(key)`` lists the holders of a key, for `key-in-memory` reports (so a
    client can gather without asking where the data is). `CloseWorker` gives
    ``("close", worker, message)``: the server must send it and drop the worker.
    """
    t = type(cmd)
    if t is c.Execute:
        return "worker", cmd.worker, _execute(cmd)
    if t is c.FreeKeys:
        return "worker", cmd.worker, m.FreeData(keys=list(cmd.keys))
    if t is c.ReportInMemory:
        holders = list(who_has(cmd.key)) if who_has is not None else []
        return "client", cmd.client, m.KeyInMemory(key=cmd.key, nbytes=max(cmd.nbytes, 0), who_has=holders)
    if t is c.CancelExecution:
        return "worker", cmd.worker, m.CancelCompute(key=cmd.key, attempt=cmd.attempt)
    if t is c.RequestSteal:
        return "worker", cmd.worker, m.StealRequest(key=cmd.key, attempt=cmd.attempt)
    if t is c.ReportErred:
        return "client", cmd.client, _erred(cmd)
    if t is c.ReportCancelled:
        return "client", cmd.client, m.KeyCancelled(key=cmd.key)
    if t is c.ReportLost:
        return "client", cmd.client, m.KeyLost(key=cmd.key, reason=cmd.reason)
    if t is c.CloseWorker:
        return "close", cmd.worker, m.CloseWorkerRequest(reason=cmd.reason, rejoin=True)
    if t is ForgetShuffle:
        return "worker", cmd.worker, m.ShuffleForget(shuffle_id=cmd.shuffle_id, run_id=cmd.run_id)
    raise TypeError(f"no wire message for scheduler command {cmd!r}")
