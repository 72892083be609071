"""Exceptions of the cluster runtime, shared by clients and workers.

A task that raises gives its futures the *original* exception (type, message, and the
worker's traceback as a note). These classes cover what is not an exception of the
user's code: a failure the scheduler declared itself, or one that could not travel.
"""

from __future__ import annotations

import concurrent.futures

__all__ = [
    "KilledWorker",
    "InvalidGraphError",
    "TaskError",
    "RemoteTaskError",
    "FutureCancelledError",
    "FutureLostError",
]


class KilledWorker(RuntimeError):
    """The task was running on workers that died, too many times to try again.

    Usually the task itself brings its worker down (memory, a crash in native code);
    the message names the task and the workers.
    """


class InvalidGraphError(ValueError):
    """The submitted graph cannot run: a missing dependency or a cycle."""


class TaskError(RuntimeError):
    """A task failed for a reason the scheduler reports in words (no exception object)."""


class RemoteTaskError(Exception):
    """A task raised an exception that could not be pickled back to the client.

    Carries the original type's name and message; the worker's traceback is attached
    as a note.
    """

    def __init__(self, type_name: str, message: str, key=None) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.key = key

    def __reduce__(self):
        return (RemoteTaskError, (self.type_name, self.message, self.key))


class FutureCancelledError(concurrent.futures.CancelledError):
    """The future's key was cancelled (``Future.cancel``, ``Client.cancel``, restart)."""


class FutureLostError(RuntimeError):
    """The data behind a future is gone and cannot be recomputed (scattered data whose
    workers died), or the client lost its scheduler."""
