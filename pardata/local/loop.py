"""The one execution loop shared by every local scheduler.

``Execution`` holds the state of one run: which tasks wait on how many dependencies,
how many consumers each result still has, the ready heap ordered by static priority,
and the live results. ``Execution.work(run_task)`` is the loop: pop the ready task with
the smallest priority, run it, store its result, release inputs nobody needs any more,
and push the tasks it made ready. Finishing one task and taking the next happen under
one lock acquisition.

The adapters differ only in who runs ``work`` and what ``run_task`` does:
- sync: the calling thread runs ``work`` once, calling each node directly;
- threads: N threads run ``work`` on the same ``Execution``;
- processes: N threads run ``work``, and ``run_task`` ships the node and its inputs to
  a process pool and waits for the answer.

A result is dropped the moment its last consumer has run (unless it was requested), so
with ``pardata.core.order`` priorities a reduction holds O(depth) results at once.
"""
from __future__ import annotations

import threading
from heapq import heapify, heappop, heappush
from typing import Any, Callable, Mapping

from pardata.core.graph import get_dependents
from pardata.core.ordering import order
from pardata.core.spec import Key, Node


class TaskFailure(Exception):
    """Internal carrier of a task's exception to the caller's thread."""

    def __init__(self, key: Key, exc: BaseException):
        self.key = key
        self.exc = exc


def direct(node: Node, results: Mapping) -> Any:
    """``run_task`` for in-process execution."""
    return node(results)


class Execution:
    """State of one local run of ``graph`` for ``keys``."""

    def __init__(self, graph: dict, keys, callbacks: tuple = ()):
        self.graph = graph
        self.keys = set(keys)
        self.callbacks = callbacks
        priority = order(graph)
        dependents = get_dependents(graph)
        self.dependents = dependents
        self.priority = priority
        waiting = {}
        ready = []
        for key, node in graph.items():
            n = len(node.dependencies)
            if n:
                waiting[key] = n
            else:
                ready.append((priority[key], key))
        heapify(ready)
        self.waiting = waiting
        self.ready = ready
        # consumers still to run, +1 for keys the caller wants back
        self.consumers = {k: len(v) + (k in self.keys) for k, v in dependents.items()}
        self.results: dict = {}
        self.remaining = len(graph)
        self.peak_results = 0
        self.failure: TaskFailure | None = None
        self.cond = threading.Condition(threading.Lock())
        self.idle = 0

    def work(self, run_task: Callable[[Node, Mapping], Any]) -> None:
        """Run tasks until none are left or one fails. Safe to call from N threads."""
        graph = self.graph
        results = self.results
        ready = self.ready
        waiting = self.waiting
        consumers = self.consumers
        dependents = self.dependents
        priority = self.priority
        cond = self.cond
        callbacks = self.callbacks
        node = None
        value = None
        while True:
            with cond:
                if node is not None:
                    # store the result, free inputs, release dependents
                    key = node.key
                    results[key] = value
                    value = None
                    held = len(results)
                    if held > self.peak_results:
                        self.peak_results = held
                    for dep in node.dependencies:
                        left = consumers[dep] - 1
                        consumers[dep] = left
                        if not left:
                            del results[dep]
                    if not consumers[key]:
                        del results[key]
                    pushed = 0
                    for child in dependents[key]:
                        left = waiting[child] - 1
                        if left:
                            waiting[child] = left
                        else:
                            del waiting[child]
                            heappush(ready, (priority[child], child))
                            pushed += 1
                    self.remaining -= 1
                    if pushed > 1 and self.idle:
                        cond.notify(pushed - 1)
                while not ready:
                    if self.remaining == 0 or self.failure is not None:
                        cond.notify_all()
                        return
                    self.idle += 1
                    cond.wait()
                    self.idle -= 1
                if self.failure is not None:
                    cond.notify_all()
                    return
                node = graph[heappop(ready)[1]]
            try:
                if callbacks:
                    for cb in callbacks:
                        cb.pretask(node.key)
                value = run_task(node, results)
                if callbacks:
                    for cb in callbacks:
                        cb.posttask(node.key, value)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                with cond:
                    if self.failure is None:
                        self.failure = TaskFailure(node.key, exc)
                    cond.notify_all()
                return

    def raise_failure(self) -> None:
        """Re-raise a task's exception in the caller, naming the failing key."""
        failure = self.failure
        if failure is None:
            return
        exc = failure.exc
        if isinstance(exc, Exception):
            exc.add_note(f"pardata: raised while computing task {failure.key!r}")
        raise exc.with_traceback(exc.__traceback__)
