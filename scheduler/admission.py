"""Memory-aware admission: give a worker no more tasks than its free memory can hold.

Pure functions over a `SchedulerState`, like `placement`. The scheduler learns, per task
prefix, two sizes from each `TaskFinished`, as running averages:

- the *output*: the `nbytes` of the result (`SchedulerState._output_nbytes`);
- the *running* memory: how far the worker's RSS rose while the task ran, at its peak
  (`running_nbytes`, measured by the worker; `SchedulerState._running_nbytes`). A task
  that builds a 600 MiB temporary and returns a scalar needs 600 MiB while it runs.

A task *needs* the larger of the two (`expected_nbytes`), except that running estimates
under `RUNNING_NOISE` are ignored: RSS moves by a few MiB for reasons of its own
(allocator arenas, message buffers), and thousands of tiny tasks in flight must not add
that noise up into gigabytes. A worker's *room* is what its memory limit leaves for new
tasks:

    room = memory_admission * memory_limit
         - max(process, managed)        (as last reported in a heartbeat)
         - needs of the tasks already processing there

A task is admitted on a worker when its need fits in that room. So a worker with 1 GiB
free does not get two tasks that each need 600 MiB while running. A task's running
memory shows in the reported process memory while it runs and is also counted in its
need, which is conservative: admission errs towards running fewer tasks at once.

Admission can slow work down but never stall it. Always admitted: anything on a worker
with nothing processing (so a task whose need exceeds every worker's whole limit still
runs, alone), anything on a worker without a memory limit, and anything at all when
`memory_admission` is infinite (admission off). A prefix that has not finished a task
yet is *probed*: a worker runs one task of it at a time until the first one finishes
and teaches its sizes, so the first wave of an unknown kind of task cannot all start at
once and together push the worker over its limit. Tasks of other prefixes are not held
back meanwhile. Managed memory counts against the room although the worker could spill
it: a worker under pressure spills down to its target anyway, and the reported process
memory then falls and lets more work in.

Queued root tasks are the main customer (`SchedulerState._fill_slots` releases one into a
worker's free slot only if it is admitted there); placement of other tasks prefers the
workers that admit them, and falls back to the others rather than wait.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pardata._units import format_size

from .records import SchedulerTask, SchedulerWorker

if TYPE_CHECKING:
    from .state import SchedulerState

__all__ = ["RUNNING_NOISE", "admits", "blocked_by_memory", "estimates", "expected_nbytes", "learn_nbytes", "room"]

#: Running-memory estimates below this many bytes count as nothing (measurement noise).
RUNNING_NOISE = 4 * 2**20


def learn_nbytes(state: SchedulerState, prefix: str, nbytes: int, running_nbytes: int = -1) -> None:
    """Fold one finished task's output size and running memory into its prefix's estimates.

    A negative ``running_nbytes`` means the worker did not measure it: only the output
    is learned (and the prefix stops being probed).

    >>> from scheduler.state import SchedulerState
    >>> s = SchedulerState()
    >>> learn_nbytes(s, "f", 100, 900); learn_nbytes(s, "f", 300, 500)
    >>> s._output_nbytes["f"], s._running_nbytes["f"]
    (200.0, 700.0)
    """
    if nbytes is None or nbytes < 0:
        return
    if prefix not in state._output_nbytes:
        state._queue_dirty = True  # its probing ends: every worker may take more of it now
    _fold(state._output_nbytes, prefix, nbytes)
    if running_nbytes is not None and running_nbytes >= 0:
        _fold(state._running_nbytes, prefix, running_nbytes)


def _fold(sizes: dict, prefix: str, nbytes: int) -> None:
    old = sizes.get(prefix)
    sizes[prefix] = nbytes if old is None else 0.5 * old + 0.5 * nbytes


def expected_nbytes(state: SchedulerState, ts: SchedulerTask) -> int:
    """The memory `ts` is expected to need: the larger of its prefix's output and running
    estimates (0 when its prefix has not finished a task yet)."""
    prefix = ts.prefix
    output = state._output_nbytes.get(prefix, 0)
    running = state._running_nbytes.get(prefix, 0)
    return int(running if running > output and running >= RUNNING_NOISE else output)


def room(state: SchedulerState, ws: SchedulerWorker) -> float:
    """Bytes `ws` can still take for new tasks (infinite without a memory limit)."""
    if not ws.memory_limit or not math.isfinite(state.memory_admission):
        return float("inf")
    used = max(ws.process_bytes, ws.managed_bytes)
    return state.memory_admission * ws.memory_limit - used - ws.expected_nbytes


def admits(state: SchedulerState, ws: SchedulerWorker, ts: SchedulerTask) -> bool:
    """Whether `ts` may be sent to `ws` now, as far as memory goes."""
    if not ws.processing or not ws.memory_limit or not math.isfinite(state.memory_admission):
        return True
    if ts.prefix not in state._output_nbytes:
        return not _probing(ws, ts.prefix)
    need = expected_nbytes(state, ts)
    return need <= 0 or need <= room(state, ws)


def _probing(ws: SchedulerWorker, prefix: str) -> bool:
    """Whether `ws` is already running a task of the not yet learned `prefix`."""
    return any(other.prefix == prefix for other in ws.processing)


def blocked_by_memory(state: SchedulerState, ws: SchedulerWorker, ts: SchedulerTask) -> str:
    """Why `ws` does not admit `ts`, as a clause ("" if it does), such as
    ``needs ~600 MiB while running, worker 'a' has 300 MiB free``."""
    if admits(state, ws, ts):
        return ""
    name = ws.name
    if ts.prefix not in state._output_nbytes:
        return (
            f"the memory tasks of kind {ts.prefix!r} need is not known yet: worker {name!r} runs one "
            "of them first to learn it"
        )
    output = int(state._output_nbytes.get(ts.prefix, 0))
    running = int(state._running_nbytes.get(ts.prefix, 0))
    need = expected_nbytes(state, ts)
    need = f"~{format_size(need)} while running" if need > output else f"~{format_size(output)} for its output"
    free = max(room(state, ws), 0)
    return f"needs {need}, worker {name!r} has {format_size(free)} free"


def estimates(state: SchedulerState) -> dict:
    """``{prefix: {"output": bytes, "running": bytes}}`` learned so far (running is -1 when
    no worker measured it)."""
    out = {}
    for prefix, output in state._output_nbytes.items():
        running = state._running_nbytes.get(prefix)
        out[prefix] = {"output": int(output), "running": -1 if running is None else int(running)}
    return out
