"""Every message that crosses the wire is declared here, once.

Adding a message is a few lines in this module (or in a module this one
imports, once it grows past a few hundred lines)::

    @message("task-finished")
    class TaskFinished(Message):
        '''A worker finished running a task; sent to the scheduler.'''
        key: Key
        attempt: int
        nbytes: int
        typename: str = ""

Field annotations are the schema (see ``schema.py`` for the allowed types);
decoding checks them, so handlers receive well-typed objects. The op string
is the wire name and must never be reused for something else.
Scheduler and worker messages live here too: the two sides share only this
vocabulary and never import each other.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pardata.serialize import Serialized

from .schema import Key, Message, message

__all__ = [
    "PROTOCOL_VERSION", "Handshake", "HandshakeReply", "Heartbeat", "Error", "Batch",
    # cluster runtime
    "RegisterWorker", "WorkerRegistered", "WorkerStatus", "ComputeTask", "FreeData",
    "CancelCompute", "StealRequest", "StealReply", "CloseWorkerRequest", "WorkerRemoved", "WorkerClosing",
    "NannyReport",
    "TaskDone", "TaskFailed", "DependencyMissing", "ReplicasAdded", "ReplicasReleased",
    "RegisterClient", "ClientRegistered", "SubmitGraph", "ReleaseKeys", "CancelKeys",
    "DataPlaced", "KeyInMemory", "KeyErred", "KeyCancelled", "KeyLost", "Query", "QueryReply",
    "GetData", "DataReply", "PutData", "Ack", "RunFunction", "FunctionResult",
    "WorkerMetrics",
    # peer-to-peer shuffle
    "ShuffleRunRequest", "ShuffleRunReply", "ShuffleShards", "ShuffleFetchOutput", "ShuffleOutput",
    "ShuffleForget",
]

#: Bumped on any incompatible change to framing or to an existing message.
PROTOCOL_VERSION = 2


@message("handshake")
class Handshake(Message):
    """First message on every connection, from the side that connected.

    ``auth`` is the authentication field, empty until security lands: the
    listener checks it before it reads any other message, so nothing a
    stranger sends is ever interpreted beyond this small, typed hello.
    """

    protocol: int
    name: str = ""
    auth: bytes | None = None


@message("handshake-reply")
class HandshakeReply(Message):
    """The listener's answer: accepted or not, why, and its own auth leg."""

    protocol: int
    accepted: bool
    reason: str = ""
    name: str = ""
    auth: bytes | None = None


@message("heartbeat")
class Heartbeat(Message):
    """A liveness ping; ``time`` is the sender's clock, for latency estimates."""

    time: float


@message("error")
class Error(Message):
    """A request failed; the connection itself stays usable.

    ``exception`` is the pickled exception when there is one; it stays an
    opaque payload so that a scheduler can forward it without unpickling.
    """

    reason: str
    exception: Serialized | None = None
    traceback: str = ""


@message("batch")
class Batch(Message):
    """Several messages to the same peer sent as one frame set (``BatchedSend``).

    Batches do not nest: the codec rejects a message containing messages
    inside another one.
    """

    messages: list[Message]


# --- cluster runtime: workers <-> scheduler --------------------------------------------
#
# Task keys travel as ``Key``; maps keyed by task keys are sent as parallel lists (msgpack
# map keys are limited to str/int). Task payloads, results and exceptions are
# ``Serialized`` and stay opaque to the scheduler, which only forwards them.


@message("register-worker")
class RegisterWorker(Message):
    """First message of a worker on its scheduler connection.

    ``address`` is where peers and clients reach it (its identity at the scheduler);
    ``name`` is a human label (``--name``). A worker restarted by its nanny lists in
    ``keys`` (of ``nbytes`` bytes each) the results it found spilled on its disk.
    """

    address: str
    name: str
    nthreads: int
    memory_limit: int = 0
    resources: dict[str, float] = dataclasses.field(default_factory=dict)
    pid: int = 0
    local_directory: str = ""
    keys: list[Key] = dataclasses.field(default_factory=list)
    nbytes: list[int] = dataclasses.field(default_factory=list)


@message("worker-registered")
class WorkerRegistered(Message):
    """The scheduler accepted a worker; tells it how often to report in."""

    heartbeat_interval: float


@message("worker-status")
class WorkerStatus(Message):
    """Periodic liveness and memory report of a worker (also sent at once when it pauses,
    unpauses or is about to be terminated for memory).

    ``managed_bytes`` are its results in memory, ``spilled_bytes`` those on disk (as
    measured in memory), ``process_bytes`` its RSS; ``memory_reason`` says why it is
    paused or terminating ("" otherwise).
    """

    managed_bytes: int = 0
    process_bytes: int = 0
    paused: bool = False
    spilled_bytes: int = 0
    memory_reason: str = ""


@message("worker-metrics")
class WorkerMetrics(Message):
    """Worker -> scheduler, about once a second: figures for people (dashboard, ``/metrics``).

    ``values`` are named numbers (CPU percent, network bytes per second and totals,
    event-loop latency, the port of its HTTP endpoint); ``activity`` lists its transfers
    and spills since the previous report as ``(kind, key, start, stop, nbytes)`` with
    wall-clock times, for the task stream. Nothing here steers scheduling.
    """

    values: dict[str, float] = dataclasses.field(default_factory=dict)
    activity: list[tuple[str, Key, float, float, int]] = dataclasses.field(default_factory=list)


@message("compute-task")
class ComputeTask(Message):
    """Scheduler -> worker: run ``key`` as execution ``attempt``.

    ``dependencies[i]`` is held by ``who_has[i]`` and is ``nbytes[i]`` bytes.
    """

    key: Key
    attempt: int
    payload: Serialized
    priority: tuple[int | float, ...] = ()
    dependencies: list[Key] = dataclasses.field(default_factory=list)
    who_has: list[list[str]] = dataclasses.field(default_factory=list)
    nbytes: list[int] = dataclasses.field(default_factory=list)


@message("free-data")
class FreeData(Message):
    """Scheduler -> worker: nobody needs these results here any more."""

    keys: list[Key]


@message("cancel-compute")
class CancelCompute(Message):
    """Scheduler -> worker: forget execution ``attempt`` of ``key``."""

    key: Key
    attempt: int


@message("steal-request")
class StealRequest(Message):
    """Scheduler -> worker: give ``attempt`` of ``key`` up if it has not started."""

    key: Key
    attempt: int


@message("steal-reply")
class StealReply(Message):
    """Worker -> scheduler: whether the task of a ``steal-request`` was given up."""

    key: Key
    attempt: int
    confirmed: bool


@message("close-worker")
class CloseWorkerRequest(Message):
    """Scheduler -> worker: you are considered gone; shut down.

    ``rejoin`` is True when the scheduler dropped a worker it could not hear from (a
    heartbeat timeout: a partition, a hung process) and would take it back: the worker
    process then exits with ``worker.__main__.REJOIN_EXIT_CODE`` and its nanny starts
    a fresh one, which registers again. False (the scheduler is closing): leave for good.
    """

    reason: str = ""
    rejoin: bool = False


@message("worker-removed")
class WorkerRemoved(Message):
    """Scheduler -> workers and clients: the worker at ``address`` left the cluster (it
    died, closed or stopped answering). Transfers from it are given up at once and its
    keys fetched from other holders, instead of waiting on a dead or frozen peer."""

    address: str


@message("nanny-report")
class NannyReport(Message):
    """Nanny -> scheduler, on a connection of its own, answered by ``ack``.

    ``event`` is "killing" (sent before the nanny kills its worker for memory, so the
    scheduler can say why the worker left), "restarted" (``new_pid`` is the new worker
    process) or "gave-up". ``name`` is the worker's name, ``reason`` "exit", "signal"
    or "memory", and ``message`` says it in words.
    """

    name: str
    event: str
    reason: str
    message: str
    count: int = 0
    old_pid: int = 0
    new_pid: int = 0


@message("worker-closing")
class WorkerClosing(Message):
    """Worker -> scheduler: leaving on purpose (its tasks are not held against it)."""

    reason: str = ""


@message("task-done")
class TaskDone(Message):
    """Worker -> scheduler: ``attempt`` of ``key`` is in memory here.

    ``start``/``stop`` are wall-clock times of the run, for the task stream.
    ``running_nbytes`` is how far the worker process's RSS rose above its level at the
    run's start, at the run's peak (the memory the task needed while running; -1 when
    not measured), for memory-aware admission.
    """

    key: Key
    attempt: int
    nbytes: int
    type_name: str = ""
    start: float = 0.0
    stop: float = 0.0
    running_nbytes: int = -1


@message("task-failed")
class TaskFailed(Message):
    """Worker -> scheduler: ``attempt`` of ``key`` raised; forwarded to clients as is."""

    key: Key
    attempt: int
    exception: Serialized
    traceback: str = ""
    start: float = 0.0
    stop: float = 0.0


@message("dependency-missing")
class DependencyMissing(Message):
    """Worker -> scheduler: ``key`` cannot run, input ``missing`` could not be fetched."""

    key: Key
    attempt: int
    missing: Key
    holders: list[str] = dataclasses.field(default_factory=list)


@message("replicas-added")
class ReplicasAdded(Message):
    """Worker -> scheduler: this worker now also holds copies of ``keys``."""

    keys: list[Key]
    nbytes: list[int]


@message("replicas-released")
class ReplicasReleased(Message):
    """Worker -> scheduler: this worker no longer holds ``keys``."""

    keys: list[Key]


# --- cluster runtime: clients <-> scheduler ------------------------------------------


@message("register-client")
class RegisterClient(Message):
    """First message of a client on its scheduler connection."""

    client: str


@message("client-registered")
class ClientRegistered(Message):
    """The scheduler accepted a client."""

    scheduler: str


@message("submit-graph")
class SubmitGraph(Message):
    """Client -> scheduler: tasks (parallel lists) and the keys the client wants.

    ``priorities[i]`` is the static order of ``keys[i]`` (smaller runs first);
    ``retries``, ``workers`` and ``resources`` apply to every task of the submission.
    """

    keys: list[Key]
    payloads: list[Serialized]
    dependencies: list[list[Key]]
    priorities: list[int]
    wanted: list[Key]
    user_priority: int = 0
    retries: int = 0
    workers: list[str] | None = None
    resources: dict[str, float] | None = None


@message("release-keys")
class ReleaseKeys(Message):
    """Client -> scheduler: the client holds no future for these keys any more."""

    keys: list[Key]


@message("cancel-keys")
class CancelKeys(Message):
    """Client -> scheduler: cancel these keys (every client's interest with ``force``)."""

    keys: list[Key]
    force: bool = False


@message("data-placed")
class DataPlaced(Message):
    """Client -> scheduler: the client put these keys on ``worker`` (``scatter``)."""

    worker: str
    keys: list[Key]
    nbytes: list[int]


@message("key-in-memory")
class KeyInMemory(Message):
    """Scheduler -> client: a wanted key is computed, and where it is held."""

    key: Key
    nbytes: int = 0
    who_has: list[str] = dataclasses.field(default_factory=list)


@message("key-erred")
class KeyErred(Message):
    """Scheduler -> client: a wanted key failed.

    ``exception``/``traceback`` are the worker's, from task ``blamed`` (the key itself
    or an upstream task); ``exception`` is None when the scheduler declared the failure
    (``kind`` "killed-worker", "invalid-graph", ...) and ``reason`` says why.
    """

    key: Key
    reason: str
    kind: str = "raised"
    blamed: Key | None = None
    exception: Serialized | None = None
    traceback: str = ""


@message("key-cancelled")
class KeyCancelled(Message):
    """Scheduler -> client: the client's interest in ``key`` was cancelled."""

    key: Key


@message("key-lost")
class KeyLost(Message):
    """Scheduler -> client: data without lineage (scattered) is gone."""

    key: Key
    reason: str = ""


@message("query")
class Query(Message):
    """A question to the scheduler (``who_has``, ``has_what``, ``info``, ``restart``, ...).

    Answered by a ``query-reply`` with the same ``request_id`` on the same connection.
    """

    request_id: int
    name: str
    keys: list[Key] | None = None
    workers: list[str] | None = None


@message("query-reply")
class QueryReply(Message):
    """Answer to a ``query``: plain ``data``; keys it mentions are in ``keys``.

    ``data`` refers to task keys by index into ``keys``, since keys may be tuples that
    plain data cannot tell from lists. ``error`` is set when the query failed.
    """

    request_id: int
    data: Any = None
    keys: list[Key] = dataclasses.field(default_factory=list)
    error: str = ""


# --- cluster runtime: anyone -> worker (its listener) ----------------------------------


@message("get-data")
class GetData(Message):
    """Ask a worker for the values of ``keys`` (a peer fetching inputs, or a client)."""

    keys: list[Key]


@message("data")
class DataReply(Message):
    """Values of the keys asked for; ``missing`` ones are not held by this worker.

    ``failed[i]`` could not be serialized, for the reason ``reasons[i]``.
    """

    keys: list[Key]
    values: list[Serialized]
    missing: list[Key] = dataclasses.field(default_factory=list)
    failed: list[Key] = dataclasses.field(default_factory=list)
    reasons: list[str] = dataclasses.field(default_factory=list)


@message("put-data")
class PutData(Message):
    """A client places values on a worker (``scatter``); answered by ``ack``."""

    keys: list[Key]
    values: list[Serialized]
    nbytes: list[int]


@message("ack")
class Ack(Message):
    """A request was carried out (or not, with a reason)."""

    ok: bool = True
    reason: str = ""


@message("run-function")
class RunFunction(Message):
    """Run ``function`` (a pickled ``(fn, args, kwargs)``) on a worker (``Client.run``)."""

    function: Serialized


@message("function-result")
class FunctionResult(Message):
    """Outcome of ``run-function``: the pickled value, or the pickled exception."""

    ok: bool
    value: Serialized
    traceback: str = ""


# --- peer-to-peer shuffle ----------------------------------------------------------------
#
# A shuffle ``shuffle_id`` runs as numbered runs: the scheduler starts run ``run_id`` over
# the workers alive (``workers``, sorted; output ``j`` is owned by ``workers[j % n]``) and
# starts a new run when one of them leaves. Shards are pickled by their sender and stay
# opaque bytes until the output's owner unpacks them.


@message("shuffle-run-request")
class ShuffleRunRequest(Message):
    """Worker -> scheduler (a one-off connection): the current run of a shuffle, started
    if there is none. ``barrier`` is the key of the shuffle's barrier task, whose
    dependents are restricted to the owners of their outputs."""

    shuffle_id: str
    barrier: Key
    npartitions_out: int


@message("shuffle-run-reply")
class ShuffleRunReply(Message):
    """The run to send shards under, and its participants (``error`` when refused)."""

    shuffle_id: str
    run_id: int = 0
    workers: list[str] = dataclasses.field(default_factory=list)
    error: str = ""


@message("shuffle-shards")
class ShuffleShards(Message):
    """Worker -> worker: pieces of input partitions ``inputs[i]`` for outputs ``outputs[i]``;
    answered by ``ack`` once buffered (late when the receiver's buffer is full:
    backpressure), or ``ok=False`` when ``run_id`` is not the receiver's current run."""

    shuffle_id: str
    run_id: int
    outputs: list[int]
    inputs: list[int]
    shards: list[bytes]


@message("shuffle-fetch-output")
class ShuffleFetchOutput(Message):
    """Worker -> the owner of output ``output``: send me its shards (an output task that
    could not run on its owner); answered by ``shuffle-output``."""

    shuffle_id: str
    run_id: int
    output: int


@message("shuffle-output")
class ShuffleOutput(Message):
    """The shards of one output (``inputs[i]`` is the input partition of ``shards[i]``)."""

    inputs: list[int] = dataclasses.field(default_factory=list)
    shards: list[bytes] = dataclasses.field(default_factory=list)
    error: str = ""


@message("shuffle-forget")
class ShuffleForget(Message):
    """Scheduler -> worker: runs up to ``run_id`` of the shuffle are over; drop their files."""

    shuffle_id: str
    run_id: int
