"""Hooks into local execution (progress bars, profilers).

A ``Callback`` is active while used as a context manager, or globally after
``register()``. The execution loop reads the active set once per run, so a run with no
callbacks pays nothing per task.
"""
from __future__ import annotations

import threading
from typing import Any, Mapping

_active: list = []
_lock = threading.Lock()


class Callback:
    """Override any of ``start``, ``pretask``, ``posttask``, ``finish``.

    ``start(graph)`` before the first task; ``pretask(key)`` and ``posttask(key, result)``
    around each task (called from the thread that ran it); ``finish(graph, errored)``
    after the last one.
    """

    def start(self, graph: Mapping) -> None:
        pass

    def pretask(self, key: Any) -> None:
        pass

    def posttask(self, key: Any, result: Any) -> None:
        pass

    def finish(self, graph: Mapping, errored: bool) -> None:
        pass

    def register(self) -> None:
        with _lock:
            if self not in _active:
                _active.append(self)

    def unregister(self) -> None:
        with _lock:
            if self in _active:
                _active.remove(self)

    def __enter__(self):
        self.register()
        return self

    def __exit__(self, *exc) -> None:
        self.unregister()


def active_callbacks() -> tuple:
    return tuple(_active)
