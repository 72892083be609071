"""Memory-aware admission: give a worker no more tasks than its free memory can hold.

Pure functions over a `SchedulerState`, like `placement`. The scheduler learns, per task
prefix, how large a task's output is (the `nbytes` of each `TaskFinished`, a running
average kept in `SchedulerState._output_nbytes`). A worker's *room* is what its memory
limit leaves for new outputs:

    room = memory_admission * memory_limit
         - max(process, managed)        (as last reported in a heartbeat)
         - expected outputs of the tasks already processing there

A task is admitted on a worker when its expected output fits in that room. Three cases
always admit, so admission can slow work down but never stall it: a worker with nothing
processing, a worker without a memory limit, and a prefix whose size is not known yet
(its first tasks teach it). Managed memory counts against the room although the worker
could spill it: a worker under pressure spills down to its target anyway, and the
reported process memory then falls and lets more work in.

Queued root tasks are the main customer (`SchedulerState._fill_slots` releases one into a
worker's free slot only if it is admitted there); placement of other tasks prefers the
workers that admit them, and falls back to the others rather than wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .records import SchedulerTask, SchedulerWorker

if TYPE_CHECKING:
    from .state import SchedulerState

__all__ = ["admits", "expected_nbytes", "learn_nbytes", "room"]


def learn_nbytes(state: SchedulerState, prefix: str, nbytes: int) -> None:
    """Fold one finished task's output size into its prefix's estimate."""
    if nbytes is None or nbytes < 0:
        return
    sizes = state._output_nbytes
    old = sizes.get(prefix)
    sizes[prefix] = nbytes if old is None else 0.5 * old + 0.5 * nbytes


def expected_nbytes(state: SchedulerState, ts: SchedulerTask) -> int:
    """The output size expected of `ts` (0 when its prefix has not finished a task yet)."""
    return int(state._output_nbytes.get(ts.prefix, 0))


def room(state: SchedulerState, ws: SchedulerWorker) -> float:
    """Bytes `ws` can still take for new outputs (infinite without a memory limit)."""
    if not ws.memory_limit:
        return float("inf")
    used = max(ws.process_bytes, ws.managed_bytes)
    return state.memory_admission * ws.memory_limit - used - ws.expected_nbytes


def admits(state: SchedulerState, ws: SchedulerWorker, ts: SchedulerTask) -> bool:
    """Whether `ts` may be sent to `ws` now, as far as memory goes."""
    if not ws.processing or not ws.memory_limit:
        return True
    need = expected_nbytes(state, ts)
    return need <= 0 or need <= room(state, ws)
