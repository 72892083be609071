"""Fixtures for the scheduler state-machine tests: a harness that validates every step."""

from __future__ import annotations

import pytest

from scheduler.commands import Execute
from scheduler.events import GraphSubmitted, TaskErred, TaskFinished, TaskSpec, WorkerJoined
from scheduler.state import SchedulerState


class Harness:
    """A `SchedulerState` whose every `handle` is followed by `validate()`."""

    def __init__(self, **kwargs):
        self.state = SchedulerState(**kwargs)

    def __call__(self, *events) -> list:
        out = self.state.handle(*events)
        self.state.validate()
        return out

    def join(self, *names, nthreads=1, resources=None, now=0.0) -> list:
        return self(*(WorkerJoined(n, nthreads, 0, dict(resources or {}), now) for n in names))

    def submit(self, tasks: dict, wanted, client="c", **kwargs) -> list:
        specs = {}
        for i, (key, spec) in enumerate(tasks.items()):
            if not isinstance(spec, TaskSpec):
                spec = TaskSpec(dependencies=tuple(spec), payload=b"run-" + str(key).encode(), priority=(i,))
            specs[key] = spec
        return self(GraphSubmitted(client, specs, list(wanted), **kwargs))

    def finish(self, ex: Execute, nbytes=1, duration=0.1, now=0.0) -> list:
        return self(TaskFinished(ex.worker, ex.key, ex.attempt, nbytes, duration, now))

    def err(self, ex: Execute, exception=b"exc", traceback="tb") -> list:
        return self(TaskErred(ex.worker, ex.key, ex.attempt, exception, traceback))

    @staticmethod
    def of(kind, commands) -> list:
        """The commands of one type, in order."""
        return [c for c in commands if isinstance(c, kind)]

    def run_all(self, commands, nbytes=1) -> list:
        """Finish every Execute in `commands`, then whatever that unlocks; return all commands."""
        seen = []
        todo = list(commands)
        while todo:
            command = todo.pop(0)
            seen.append(command)
            if isinstance(command, Execute):
                todo.extend(self.finish(command, nbytes=nbytes))
        return seen


@pytest.fixture
def h() -> Harness:
    return Harness()


@pytest.fixture
def harness():
    return Harness
