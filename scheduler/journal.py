"""The scheduler's journal: enough to rebuild its state after a crash.

The scheduler appends one record per fact that a restarted scheduler could not learn
from its workers: what clients submitted, released or cancelled, which clients left,
and, as hints, which workers joined and left and where tasks finished. Workers re-register
with the results they hold, so the hints only say whom to wait for before scheduling
anything: a result held by a worker that is on its way back is not recomputed.

A record is a wire message (``pardata.comm.messages``, encoded by the same codec, so
payloads stay opaque bytes and nothing is unpickled) plus a small envelope saying who
sent it. On disk::

    u32 number of frames | u64 length of each frame | envelope (msgpack) | message frames

Whenever the scheduler holds no task and no client, the file starts over
(`JournalWriter.restart`), so it holds the current work, not the scheduler's history.
A crash may cut the last record short; `decode_records` stops at it. `replay` turns
records back into `SchedulerState` events. Everything here but `JournalWriter` is a pure
function of bytes, testable without files or sockets.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import msgpack

from pardata.comm import messages as m
from pardata.comm.codec import decode, encode

from . import events as e
from .wire import client_event, graph_event

__all__ = ["JournalWriter", "Recovery", "RecoveryGate", "encode_record", "decode_records", "replay", "JOURNAL_FILE"]

JOURNAL_FILE = "scheduler-journal.bin"

_COUNT = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")

# envelope kinds
CLIENT = "client"  # a client's message: submit-graph, release-keys, cancel-keys
CLIENT_LEFT = "client-left"
WORKER_JOINED = "worker-joined"
WORKER_LEFT = "worker-left"
DONE = "done"  # a worker's task-done (a hint: that result is on that worker)

#: Client messages that change what the scheduler must compute.
CLIENT_MESSAGES = (m.SubmitGraph, m.ReleaseKeys, m.CancelKeys)


def encode_record(kind: str, who: str, msg=None) -> bytes:
    """One journal record: ``kind`` of fact, the client or worker ``who``, an optional message."""
    frames = [msgpack.packb([kind, who])]
    if msg is not None:
        frames += [bytes(f) for f in encode(msg)]
    out = [_COUNT.pack(len(frames)), *(_LENGTH.pack(len(f)) for f in frames), *frames]
    return b"".join(out)


def decode_records(data: bytes) -> tuple[list[tuple[str, str, object]], int]:
    """``([(kind, who, message or None), ...], bytes used)``; a torn tail is left out.

    >>> records, used = decode_records(encode_record("client-left", "c1") + b"\\x02")
    >>> records, used
    ([('client-left', 'c1', None)], 28)
    """
    view = memoryview(data)
    records = []
    pos = 0
    while True:
        if pos + _COUNT.size > len(view):
            break
        (n,) = _COUNT.unpack_from(view, pos)
        head = pos + _COUNT.size
        if n < 1 or head + n * _LENGTH.size > len(view):
            break
        lengths = [_LENGTH.unpack_from(view, head + i * _LENGTH.size)[0] for i in range(n)]
        start = head + n * _LENGTH.size
        end = start + sum(lengths)
        if end > len(view):
            break
        frames = []
        for length in lengths:
            frames.append(bytes(view[start : start + length]))
            start += length
        kind, who = msgpack.unpackb(frames[0])
        records.append((kind, who, decode(frames[1:]) if len(frames) > 1 else None))
        pos = end
    return records, pos


@dataclass
class Recovery:
    """What a journal says: events that rebuild the tasks, and where results should be."""

    events: list = field(default_factory=list)
    #: workers connected when the journal ends -> keys they finished (hints)
    holders: dict = field(default_factory=dict)
    records: int = 0

    def expected_workers(self, state) -> set:
        """Workers worth waiting for: they held results the rebuilt ``state`` still needs."""
        wanted = set()
        for worker, keys in self.holders.items():
            for key in keys:
                ts = state.tasks.get(key)
                if ts is not None and ts.needed():
                    wanted.add(worker)
                    break
        return wanted


def replay(records, now: float = 0.0) -> Recovery:
    """Events that rebuild the scheduler's tasks and clients from ``records``, in order."""
    out = Recovery(records=len(records))
    holders: dict = {}
    for kind, who, msg in records:
        if kind == CLIENT:
            if type(msg) is m.SubmitGraph:
                workers = list(msg.workers) if msg.workers is not None else None
                try:
                    out.events.append(graph_event(who, msg, now, workers))
                except ValueError:
                    continue  # the live scheduler refused it too
            else:
                event = client_event(who, msg, now)
                if event is not None:
                    out.events.append(event)
        elif kind == CLIENT_LEFT:
            out.events.append(e.ClientLeft(who))
        elif kind == WORKER_JOINED:
            holders[who] = {}
        elif kind == WORKER_LEFT:
            holders.pop(who, None)
        elif kind == DONE and type(msg) is m.TaskDone:
            if who in holders:
                holders[who][msg.key] = None
    out.holders = {worker: list(keys) for worker, keys in holders.items()}
    return out


class JournalWriter:
    """Appends records to ``directory/scheduler-journal.bin``; `load` reads it back.

    Records queued while one batch of messages is handled go out in one ``write``
    system call: a scheduler killed with SIGKILL loses at most that batch (the kernel
    keeps what was written), which its peers then send or report again. ``fsync`` is
    not called, so a power cut may lose the last moments.
    """

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, JOURNAL_FILE)
        self._fd: int | None = None
        self._pending: list[bytes] = []
        self.work_records = 0  # client and completion records since the last `restart`

    def load(self) -> list:
        """The records on disk (a torn tail is cut off the file, so appends follow a
        whole record)."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        records, used = decode_records(data)
        if used != len(data):
            os.truncate(self.path, used)
        return records

    def open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, kind: str, who: str, msg=None) -> None:
        """Queue a record; `flush` writes what is queued (once per batch of messages)."""
        if self._fd is not None:
            self._pending.append(encode_record(kind, who, msg))
            if kind == CLIENT or kind == DONE:
                self.work_records += 1

    def restart(self, workers) -> None:
        """The scheduler holds no task and no client: start the file over, keeping only
        the connected ``workers`` (their later completions are hints again). This is
        how the journal stays compact: it only ever holds the current work."""
        if self._fd is None:
            return
        self._pending = []
        os.ftruncate(self._fd, 0)
        self.work_records = 0
        for worker in workers:
            self.append(WORKER_JOINED, worker)
        self.flush()

    def flush(self) -> None:
        if self._pending and self._fd is not None:
            data, self._pending = b"".join(self._pending), []
            os.write(self._fd, data)

    def close(self, remove: bool = False) -> None:
        """Stop writing; ``remove`` the file too (a clean shutdown: nothing to resume)."""
        if self._fd is not None:
            self.flush()
            os.close(self._fd)
            self._fd = None
        if remove:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class RecoveryGate:
    """After a restart from a journal, holds worker registrations back until every
    expected worker (see `Recovery.expected_workers`) is back, or until ``deadline``:
    placing work on the first worker back would recompute results that a worker still
    on its way holds. Pure: the server passes the time in.
    """

    def __init__(self, expected, deadline: float) -> None:
        self.missing = set(expected)
        self.deadline = deadline
        self.held: dict = {}  # worker -> its WorkerJoined event
        self.open = not self.missing

    def join(self, event: e.WorkerJoined) -> list:
        """A worker registered: the joins to apply now (none while the gate is shut)."""
        if self.open:
            return [event]
        self.held[event.worker] = event
        self.missing.discard(event.worker)
        return self._release() if not self.missing else []

    def left(self, worker: str) -> None:
        """A held worker disconnected again before the gate opened."""
        self.held.pop(worker, None)

    def tick(self, now: float) -> list:
        """Joins to apply because the deadline passed (the missing workers are given up)."""
        if self.open or now < self.deadline:
            return []
        return self._release()

    def _release(self) -> list:
        self.open = True
        held, self.held = list(self.held.values()), {}
        return held
