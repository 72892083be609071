"""What a worker should do about its memory: a pure function of one sample.

Rules this file obeys: standard library only; no clocks, threads, I/O or psutil. The
caller (``worker.memory.monitor``) measures and acts; this module only decides, so every
case is a one-line table entry in a test.

The thresholds are fractions of the worker's memory limit (DESIGN.md, issue 4):

- ``target`` (0.6, *managed* memory): above it, spill least-recently-used values until
  managed memory is back at the target.
- ``spill`` (0.7, *process* memory, i.e. RSS): above it, spill until the process is back
  at the target (a hysteresis cycle: spilling starts at ``spill`` and stops at
  ``target``), since RSS also holds what the allocator has not returned yet and what
  tasks hold in their frames.
- ``pause`` (0.8, process): start no task and accept no transfer until RSS falls below.
  A worker paused with nothing left to spill says why (mostly unmanaged memory, disk cap
  reached, values that cannot be pickled), so it never hangs silently.
- ``terminate`` (0.95, process): the nanny should restart the worker.

Any threshold may be ``None`` (disabled). Without a memory limit nothing is ever decided.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pardata._units import format_size

__all__ = ["MemoryThresholds", "MemorySample", "MemoryDecision", "MemoryPolicy", "format_size"]

_NAMES = ("target", "spill", "pause", "terminate")


@dataclass(frozen=True)
class MemoryThresholds:
    """Fractions of the memory limit; ``None`` disables one."""

    target: float | None = 0.6
    spill: float | None = 0.7
    pause: float | None = 0.8
    terminate: float | None = 0.95

    def __post_init__(self) -> None:
        for name in _NAMES:
            value = getattr(self, name)
            if value is False:
                object.__setattr__(self, name, None)
            elif value is not None and not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise ValueError(f"memory threshold {name} must be a fraction in (0, 1] or None, got {value!r}")

    def replace(self, **changes: float | None) -> MemoryThresholds:
        """A copy with some thresholds changed (per-worker overrides); ``None`` values skip."""
        unknown = set(changes) - set(_NAMES)
        if unknown:
            raise TypeError(f"unknown memory threshold(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class MemorySample:
    """One measurement of a worker's memory, in bytes.

    ``managed`` is the size of the stored results held in memory, ``process`` the RSS,
    ``spillable`` how much of ``managed`` could still go to disk, and ``spill_blocked``
    why nothing can (e.g. "spill disk cap reached"), if that is the case.
    """

    managed: int
    process: int
    limit: int | None
    spilled: int = 0
    spillable: int = 0
    paused: bool = False
    spill_blocked: str = ""

    @property
    def unmanaged(self) -> int:
        return max(self.process - self.managed, 0)


@dataclass(frozen=True)
class MemoryDecision:
    """What to do now: spill ``spill`` managed bytes, be ``paused`` or not, ``terminate``.

    ``reason`` explains a pause or a termination; ``stuck`` is True when paused with
    nothing left to spill, the case a human has to hear about.
    """

    spill: int = 0
    paused: bool = False
    terminate: bool = False
    reason: str = ""
    stuck: bool = False


class MemoryPolicy:
    """``decide(sample) -> MemoryDecision`` under fixed thresholds.

    >>> policy = MemoryPolicy()
    >>> GiB = 2**30
    >>> d = policy.decide(MemorySample(managed=7 * GiB, process=int(7.5 * GiB), limit=10 * GiB,
    ...                                spillable=7 * GiB))
    >>> format_size(d.spill), d.paused
    ('1.5 GiB', False)
    >>> d = policy.decide(MemorySample(managed=1 * GiB, process=int(7.5 * GiB), limit=8 * GiB))
    >>> d.paused, d.stuck, d.reason
    (True, True, 'paused: process memory 7.5 GiB of 8 GiB limit is mostly unmanaged (6.5 GiB); nothing left to spill')
    """

    def __init__(self, thresholds: MemoryThresholds | None = None) -> None:
        self.thresholds = thresholds or MemoryThresholds()

    def decide(self, s: MemorySample) -> MemoryDecision:
        t = self.thresholds
        limit = s.limit
        if not limit or limit <= 0:
            return MemoryDecision()
        need = 0
        if t.target is not None:
            need = s.managed - int(t.target * limit)
        if t.spill is not None and s.process > t.spill * limit:
            floor = (t.target if t.target is not None else t.spill) * limit
            need = max(need, s.process - int(floor))
        spill = max(0, min(need, s.spillable))
        paused = t.pause is not None and s.process >= t.pause * limit
        usage = f"process memory {format_size(s.process)} of {format_size(limit)} limit"
        if t.terminate is not None and s.process >= t.terminate * limit:
            reason = f"terminating: {usage} is over the terminate threshold ({t.terminate:.0%})"
            return MemoryDecision(spill, paused, True, reason, paused and spill == 0)
        if not paused:
            return MemoryDecision(spill=spill)
        if spill > 0:
            reason = (f"paused: {usage} is over the pause threshold ({t.pause:.0%}); "
                      f"spilling {format_size(spill)}")
            return MemoryDecision(spill, True, False, reason, False)
        return MemoryDecision(0, True, False, self._stuck_reason(s, usage), True)

    @staticmethod
    def _stuck_reason(s: MemorySample, usage: str) -> str:
        if s.unmanaged >= s.managed:
            why = f"is mostly unmanaged ({format_size(s.unmanaged)})"
        else:
            why = f"is mostly managed ({format_size(s.managed)})"
        if s.spillable > 0:
            return f"paused: {usage} {why}; spilling is disabled"
        if s.spill_blocked:
            return f"paused: {usage} {why}; cannot spill: {s.spill_blocked}"
        return f"paused: {usage} {why}; nothing left to spill"
