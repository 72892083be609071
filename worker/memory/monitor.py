"""Measure the worker's memory, apply ``MemoryPolicy`` periodically, and act on it.

``MemoryMonitor`` is the thin, impure shell around the pure policy: it reads the RSS
(psutil) and the ``SpillBuffer``'s accounting, asks the policy, and then

- starts spilling in the background (``SpillBuffer.evict_async``, off the event loop)
  without waiting for it, so the next tick can still pause the worker while a slow
  disk is being written to;
- calls ``on_pause(True/False)`` when the paused state changes and logs why, once;
- calls ``on_terminate(reason)`` once when RSS crosses the terminate threshold.

``state()`` is what the worker sends with its heartbeats. ``parse_memory_limit`` turns a
``--memory-limit`` argument into bytes; its default, ``"auto"``, shares the machine's
memory (or the cgroup's limit, if lower) among the workers.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import inspect
import logging
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import psutil

from pardata import config
from pardata._system import cgroup_memory_limit, system_memory
from pardata._units import parse_bytes

from .policy import MemoryDecision, MemoryPolicy, MemorySample, MemoryThresholds, format_size
from .running import METER
from .spill import SpillBuffer

__all__ = [
    "MemoryMonitor",
    "MemoryState",
    "cgroup_memory_limit",
    "parse_memory_limit",
    "process_rss",
    "system_memory",
    "thresholds_from_config",
]

logger = logging.getLogger(__name__)


def process_rss(pid: int | None = None) -> int:
    """Resident set size of a process (default: this one), in bytes."""
    return psutil.Process(pid).memory_info().rss


def parse_memory_limit(value: Any, nworkers: int = 1, *, total: int | None = None) -> int | None:
    """A worker's memory limit in bytes, or None for no limit.

    ``"auto"`` is ``total // nworkers``; a float in (0, 1] is that fraction of ``total``
    (``total`` defaults to ``system_memory()``); anything else is a byte size.

    >>> parse_memory_limit("2GiB"), parse_memory_limit(1000)
    (2147483648, 1000)
    >>> parse_memory_limit("auto", 4, total=16 * 2**30), parse_memory_limit(0.5, total=1000)
    (4294967296, 500)
    >>> parse_memory_limit(None), parse_memory_limit(0), parse_memory_limit("none")
    (None, None, None)
    """
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("", "none", "0")):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return (total or system_memory()) // max(int(nworkers), 1)
        try:
            value = float(text)
        except ValueError:
            pass
    if isinstance(value, float) and 0 < value <= 1:
        return int(value * (total or system_memory()))
    limit = parse_bytes(value)
    return limit or None


def thresholds_from_config(**overrides: float | None) -> MemoryThresholds:
    """``worker.memory.*`` from ``pardata.config``, with per-worker ``overrides``."""
    values = config.get("worker.memory", default={}) or {}
    known = {k: v for k, v in values.items() if k in ("target", "spill", "pause", "terminate")}
    return MemoryThresholds(**known).replace(**overrides)


@dataclass(frozen=True)
class MemoryState:
    """The worker's memory as reported with heartbeats (bytes; ``limit`` None = none)."""

    managed: int
    unmanaged: int
    spilled: int
    process: int
    limit: int | None
    paused: bool
    reason: str
    spill_count: int = 0
    unspill_count: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class MemoryMonitor:
    """Apply ``MemoryPolicy`` to ``buffer`` and this process every ``interval`` seconds."""

    def __init__(
        self,
        buffer: SpillBuffer | None,
        memory_limit: int | None,
        thresholds: MemoryThresholds | None = None,
        *,
        interval: float = 0.1,
        rss: Callable[[], int] = process_rss,
        on_pause: Callable[[bool], Any] | None = None,
        on_terminate: Callable[[str], Any] | None = None,
        trim: bool = True,
    ) -> None:
        self.buffer = buffer
        self.memory_limit = memory_limit
        self.policy = MemoryPolicy(thresholds or thresholds_from_config())
        t = self.policy.thresholds
        lowest = min((f for f in (t.spill, t.pause) if f is not None), default=None)
        self._act_above = lowest * memory_limit if lowest is not None and memory_limit else float("inf")
        self.interval = interval
        self._rss = rss
        self._on_pause = on_pause
        self._on_terminate = on_terminate
        self._trim = trim
        self._last_reclaim = float("-inf")
        self.paused = False
        self.terminating = False
        self.decision = MemoryDecision()
        self._last: MemorySample | None = None
        self._spilling: asyncio.Task | None = None
        self._loop_task: asyncio.Task | None = None
        self._callbacks: set[asyncio.Future] = set()

    def sample(self) -> MemorySample:
        process = self._rss()
        b = self.buffer
        if b is None:
            return MemorySample(0, process, self.memory_limit, paused=self.paused)
        m = b.metrics()
        blocked = ""
        if m.disk_full:
            blocked = f"spill disk cap reached ({format_size(m.disk_bytes)} on disk)"
        elif not b.spillable_bytes and m.unpicklable_bytes:
            blocked = f"{format_size(m.unpicklable_bytes)} in memory cannot be pickled"
        return MemorySample(m.memory_bytes, process, self.memory_limit, m.spilled_bytes,
                            b.spillable_bytes, self.paused, blocked)

    def check(self) -> MemoryDecision:
        """Sample, decide, and apply pause/terminate (not the spilling: see ``tick``)."""
        sample = self._last = self.sample()
        METER.tick(sample.process)  # fresh baselines (and peaks) for the task runs' memory
        decision = self.policy.decide(sample)
        previous, self.decision = self.decision, decision
        if decision.paused != self.paused:
            self.paused = decision.paused
            if decision.paused:
                logger.warning("worker %s", decision.reason)
            else:
                logger.info("worker unpaused: process memory %s of %s limit",
                            format_size(sample.process), format_size(sample.limit or 0))
            self._call(self._on_pause, decision.paused)
        elif decision.stuck and not previous.stuck:
            logger.warning("worker %s", decision.reason)
        if decision.terminate and not self.terminating:
            self.terminating = True
            logger.error("worker %s", decision.reason)
            self._call(self._on_terminate, decision.reason)
        return decision

    async def tick(self) -> MemoryDecision:
        """``check()``, then start spilling in the background if the policy asks for it."""
        decision = self.check()
        if decision.spill > 0 and self.buffer is not None and not self.spilling:
            self._spilling = asyncio.ensure_future(self._spill(decision.spill))
        elif decision.stuck and self._trim and not self.spilling:
            # Paused with nothing to spill: the unmanaged memory may be garbage in
            # reference cycles or freed heap glibc kept. Reclaim both (off the loop, at
            # most once a second), or the worker would wait forever for memory to fall.
            now = time.monotonic()
            if now - self._last_reclaim >= 1.0:
                self._last_reclaim = now
                self._spilling = asyncio.ensure_future(self._reclaim())
        return decision

    async def _reclaim(self) -> None:
        try:
            await asyncio.to_thread(_collect_and_trim)
            self.check()
        except Exception:
            logger.exception("reclaiming unmanaged memory failed")

    def spill_soon(self) -> None:
        """Called after values are stored: spill and pause now if the policy says so,
        rather than at the next tick (a fast task can store a lot in one tick). Cheap:
        no RSS sample, the process memory is estimated as the managed bytes plus the last
        unmanaged figure, so it may run after every store. Unpausing waits for a real
        sample (the next tick, or the end of the spill)."""
        b = self.buffer
        if b is None or not self.memory_limit:
            return
        managed = b.memory_bytes
        unmanaged = self._last.unmanaged if self._last is not None else 0
        if managed <= b.target and managed + unmanaged <= self._act_above:
            return
        sample = MemorySample(managed, managed + unmanaged, self.memory_limit, b.spilled_bytes,
                              b.spillable_bytes, self.paused)
        decision = self.policy.decide(sample)
        if decision.paused and not self.paused:
            self.paused = True
            self.decision = decision
            logger.warning("worker %s", decision.reason)
            self._call(self._on_pause, True)
        if decision.spill > 0 and not self.spilling:
            self._spilling = asyncio.ensure_future(self._spill(decision.spill))

    @property
    def spilling(self) -> bool:
        return self._spilling is not None and not self._spilling.done()

    async def _spill(self, nbytes: int | None) -> None:
        try:
            await self.buffer.evict_async(nbytes)
            if self._trim:
                await asyncio.to_thread(trim_memory)
            if self.paused:  # unpause now if the spill was enough, not at the next tick
                self.check()
        except Exception:
            logger.exception("spilling %s failed", "down to the target" if nbytes is None else format_size(nbytes))

    def start(self) -> asyncio.Task:
        """Run ``tick()`` every ``interval`` seconds on the running loop until ``stop()``."""
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.ensure_future(self._run())
        return self._loop_task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("memory monitor tick failed")
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop ticking and wait for a spill in progress and for pending callbacks."""
        tasks = [t for t in (self._loop_task, self._spilling) if t is not None]
        if self._loop_task is not None:
            self._loop_task.cancel()
        tasks += list(self._callbacks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = self._spilling = None

    def state(self) -> MemoryState:
        """The latest sample and decision, for heartbeats."""
        s = self._last or self.sample()
        metrics = self.buffer.metrics() if self.buffer is not None else None
        return MemoryState(
            managed=s.managed,
            unmanaged=s.unmanaged,
            spilled=s.spilled,
            process=s.process,
            limit=s.limit,
            paused=self.paused,
            reason=self.decision.reason,
            spill_count=metrics.spill_count if metrics else 0,
            unspill_count=metrics.unspill_count if metrics else 0,
        )

    def _call(self, callback: Callable | None, arg: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(arg)
        except Exception:
            logger.exception("memory monitor callback %r failed", callback)
            return
        if inspect.isawaitable(result):
            future = asyncio.ensure_future(result)
            self._callbacks.add(future)
            future.add_done_callback(self._callbacks.discard)


def _collect_and_trim() -> None:
    gc.collect()
    trim_memory()


def trim_memory() -> bool:
    """Ask glibc to return freed heap memory to the OS, so RSS reflects a spill."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False
