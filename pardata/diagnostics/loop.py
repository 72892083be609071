"""``LoopLatency``: how late the event loop runs a callback, measured cheaply.

A busy event loop delays everything a server does (answering heartbeats, sending
tasks), so the scheduler and the workers export this as a metric. The probe sleeps
``interval`` seconds and records how much later than asked it woke up; it costs one
timer callback per interval.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["LoopLatency"]


class LoopLatency:
    """Start with ``start()`` on a running loop, stop with ``await stop()``.

    ``latest`` is the last measured delay in seconds, ``worst`` the largest since the
    previous ``reset_worst()``.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.latest = 0.0
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> "LoopLatency":
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def reset_worst(self) -> float:
        worst, self.worst = self.worst, self.latest
        return worst

    async def _run(self) -> None:
        interval = self.interval
        while True:
            before = time.perf_counter()
            await asyncio.sleep(interval)
            late = max(time.perf_counter() - before - interval, 0.0)
            self.latest = late
            if late > self.worst:
                self.worst = late
