"""Runs of peer-to-peer shuffles, as the scheduler keeps them (part of `SchedulerState`).

A shuffle's transfer tasks ask, through their worker, for the shuffle's current run
(`ShuffleRunRequested`). The first request starts run 1 over the workers alive, sorted by
name; output ``j`` belongs to ``workers[j % n]``, and every dependent of the shuffle's
barrier task whose key names output ``j`` (``(name, j, ...)``) is restricted to that
owner, so the task that unpacks an output runs where its shards are. (A dependent whose
key does not tell its output, or tells a wrong one, still works: it fetches the shards
from the owner.)

A participant that leaves ends the run: the transfers and the barrier are made to run
again (results dropped, running attempts cancelled), and the first transfer to ask starts
the next run over the workers then alive. Shards sent under the old run are dropped by
the workers, which only accept the newest run of a shuffle. When the barrier is no
longer in memory or needed (its outputs are computed), the run is over and its
participants are told to delete its files (`ForgetShuffle`), on the next `Tick`.

Pure like the rest of the state: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

from .commands import SchedulerCommand
from .events import SchedulerEvent
from .records import ACTIVE, MEMORY, PROCESSING, RELEASED, WAITING, SchedulerTask, SchedulerWorker

Key = Hashable


@dataclass(frozen=True, slots=True)
class ShuffleRunRequested(SchedulerEvent):
    """A worker needs the current run of shuffle `shuffle_id` (barrier task `barrier`)."""

    shuffle_id: str
    barrier: Key
    npartitions_out: int
    now: float = 0.0

    def mentions(self, key: Key) -> bool:
        return key == self.barrier


@dataclass(frozen=True, slots=True)
class ForgetShuffle(SchedulerCommand):
    """Tell `worker` that runs up to `run_id` of a shuffle are over: delete their files."""

    worker: str
    shuffle_id: str
    run_id: int

    def mentions(self, key: Key) -> bool:
        return False


@dataclass(slots=True)
class ShuffleRunRecord:
    shuffle_id: str
    run_id: int
    workers: tuple
    barrier: Key
    npartitions_out: int
    barrier_task: SchedulerTask | None = None  # the barrier as it was when the run started
    barrier_attempt: int = 0


class ShuffleRunsMixin:
    """Shuffle runs of `SchedulerState`; `_init_shuffle_runs` is called by its constructor."""

    def _init_shuffle_runs(self) -> None:
        self.shuffle_runs: dict = {}  # shuffle id -> ShuffleRunRecord (the current run)
        self._shuffle_run_ids: dict = {}  # shuffle id -> last run id given out (kept: ids never repeat)
        self.shuffle_restarts = 0

    def _on_shuffle_run_requested(self, ev: ShuffleRunRequested) -> None:
        barrier = self.tasks.get(ev.barrier)
        run = self.shuffle_runs.get(ev.shuffle_id)
        if run is not None:
            if run.barrier_task is barrier and (barrier is None or barrier.attempt == run.barrier_attempt) \
                    and all(w in self.workers for w in run.workers):
                return
            # The barrier ran since (its outputs were read: a recomputation) or is a new
            # task (the graph was submitted again): that run's shards are gone.
            del self.shuffle_runs[ev.shuffle_id]
            for name in run.workers:
                if name in self.workers:
                    self._emit(ForgetShuffle(name, ev.shuffle_id, run.run_id))
            if barrier is not None and run.barrier_task is barrier:
                self._restart_transfers(barrier, run.run_id, "a transfer ran again after the barrier")
        if not self.workers or ev.npartitions_out < 1:
            return  # no run; the server replies with an error
        run_id = self._shuffle_run_ids.get(ev.shuffle_id, 0) + 1
        self._shuffle_run_ids[ev.shuffle_id] = run_id
        workers = tuple(sorted(self.workers))
        run = ShuffleRunRecord(ev.shuffle_id, run_id, workers, ev.barrier, ev.npartitions_out, barrier,
                               barrier.attempt if barrier is not None else 0)
        self.shuffle_runs[ev.shuffle_id] = run
        self._log.append(("shuffle-run", self._stimulus, ev.barrier, run_id, workers))
        if barrier is None:
            return
        for dependent in barrier.dependents:
            j = output_index(dependent.key, run.npartitions_out)
            if j is not None and dependent.state != MEMORY:
                dependent.workers = frozenset((workers[j % len(workers)],))

    def _restart_shuffles(self, ws: SchedulerWorker) -> None:
        """`ws` left: every unfinished run it took part in starts over."""
        for shuffle_id, run in list(self.shuffle_runs.items()):
            if ws.name not in run.workers:
                continue
            del self.shuffle_runs[shuffle_id]
            for name in run.workers:
                if name in self.workers:
                    self._emit(ForgetShuffle(name, shuffle_id, run.run_id))
            barrier = self.tasks.get(run.barrier)
            if barrier is None or barrier is not run.barrier_task or not _unfinished(barrier):
                continue
            self._restart_transfers(barrier, run.run_id, f"worker {ws.name} left")

    def _restart_transfers(self, barrier: SchedulerTask, run_id: int, why: str) -> None:
        """Every transfer and the barrier run again (under the next run)."""
        self.shuffle_restarts += 1
        self._log.append(("shuffle-restart", self._stimulus, barrier.key, run_id, why))
        for transfer in barrier.dependencies:
            self._rerun(transfer)
        self._rerun(barrier)
        for dependent in barrier.dependents:
            if dependent.state != MEMORY:
                dependent.workers = None  # owners come with the next run

    def _rerun(self, ts: SchedulerTask) -> None:
        """Make `ts` run again: drop its result everywhere, or cancel its running attempt."""
        if ts.state == MEMORY:
            nbytes = max(ts.nbytes, 0)
            for holder in list(ts.who_has):
                del holder.has_what[ts]
                holder.nbytes -= nbytes
                self._free(holder, ts.key)
            ts.who_has.clear()
            self._transition(ts, RELEASED)
        elif ts.state == PROCESSING:
            self._transition(ts, WAITING)

    def _forget_finished_shuffles(self) -> None:
        """Runs whose barrier is neither needed nor in memory any more are over (on `Tick`)."""
        for shuffle_id, run in list(self.shuffle_runs.items()):
            barrier = self.tasks.get(run.barrier)
            if barrier is not None and (barrier.state in ACTIVE or barrier.state == MEMORY):
                continue
            del self.shuffle_runs[shuffle_id]  # run ids stay monotonic: a late forget never hits a new run
            for name in run.workers:
                if name in self.workers:
                    self._emit(ForgetShuffle(name, shuffle_id, run.run_id))


def _unfinished(barrier: SchedulerTask) -> bool:
    """Some output of the shuffle still has to be built (or the barrier itself)."""
    if barrier.state in ACTIVE:
        return True
    return barrier.state == MEMORY and any(d.state in ACTIVE for d in barrier.dependents)


def output_index(key: Key, npartitions_out: int) -> int | None:
    """The output partition a barrier dependent's key names: ``(name, j, ...)``.

    >>> output_index(("set-index-1a2b3c4d", 3), 8), output_index("total", 8)
    (3, None)
    """
    if type(key) is tuple and len(key) >= 2 and type(key[1]) is int and 0 <= key[1] < npartitions_out:
        return key[1]
    return None
