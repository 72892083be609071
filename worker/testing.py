"""Builders for tests of ``WorkerState``: ours, and those of anyone driving it.

Shipped with the package (like trio's test doubles) so that the simulator and
users' own tests build events the same way the worker's tests do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from worker.events import ExecuteRequested, Key
from worker.instructions import WorkerInstruction
from worker.state import WorkerState

#: The address of the worker under test, and a few peers.
ME = "tcp://me:1"
A = "tcp://a:1"
B = "tcp://b:1"
C = "tcp://c:1"
D = "tcp://d:1"


def make_state(nthreads: int = 1, address: str = ME, **kwargs) -> WorkerState:
    """A worker state that checks every invariant after each ``handle``."""
    return WorkerState(address, nthreads, validate=True, **kwargs)


def execute(
    key: Key,
    attempt: int = 1,
    priority: tuple = (0,),
    deps: Mapping[Key, Iterable[str]] | None = None,
    nbytes: Mapping[Key, int] | None = None,
    worker: str = ME,
) -> ExecuteRequested:
    """``ExecuteRequested`` of ``key``; ``deps`` maps dependencies to holders."""
    return ExecuteRequested(
        worker=worker,
        key=key,
        attempt=attempt,
        payload=f"run {key}".encode(),
        priority=priority,
        who_has={k: tuple(v) for k, v in (deps or {}).items()},
        nbytes=dict(nbytes or {}),
    )


def only(instructions: Iterable[WorkerInstruction], cls: type) -> list:
    """The instructions of type ``cls``, in order."""
    return [i for i in instructions if isinstance(i, cls)]


def states(ws: WorkerState) -> dict[Key, str]:
    """``{key: state}`` of every task the worker knows."""
    return {key: ts.state for key, ts in ws.tasks.items()}
