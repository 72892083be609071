"""How much memory each task run needs while it runs: the rise of the process's RSS.

The scheduler learns a task's output size from its result, but a task can need far more
while it runs (a large temporary, an intermediate copy) and hand back something small.
``RunMeter`` measures, for each run, ``peak RSS during the run - RSS at its start``, and
the executor reports it with the result (``running_nbytes``).

How, on Linux: the kernel keeps the process's peak RSS (``getrusage().ru_maxrss``, or
``VmHWM`` in ``/proc/self/status``) and lets a process reset it to the current RSS
(write ``5`` to ``/proc/self/clear_refs``). The meter keeps a *baseline*, the RSS at the
last reset. A run starting takes the baseline as its start; a run ending reads the peak,
folds it into every run in progress, resets the peak and takes the new baseline. The
memory monitor does the same every tick (``tick``), and a run starting does it when the
baseline is older than ``BASELINE_AGE``. Even a temporary that lived a millisecond is
seen.

Cost: nothing for a run shorter than ``SHORT_RUN``, which reports 0: the kernel zeroes
new pages at a few GB/s at most, so such a run can have raised RSS by a few MiB at most.
A longer run pays a few microseconds at its end, and a run starting pays them at most
every ``BASELINE_AGE``. Runs avoid system calls on purpose: a call that releases the GIL
in an executor thread hands it to the busy event loop and costs far more than itself.

Elsewhere (or if the reset is not permitted) the peak is the largest RSS seen at a run's
end or in the memory monitor's samples (every 100 ms by default); a short-lived
temporary can then go unseen.

Attribution is conservative. RSS is per process and several threads run tasks at once,
so a run is charged every rise during it, its neighbours' included: two concurrent runs
that each need 400 MiB may each be charged 800 MiB. The scheduler then runs fewer of
them at once, measures them alone, and its estimate comes back down. Memory stored
between the last reset and a run's start (results of other tasks, say) is charged to the
run too; memory freed in that interval makes it look smaller by as much.

One meter serves the whole process (``METER``): workers sharing a process (in-process test
clusters) share its RSS, and a reset by one must not hide another's peak.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

import psutil

try:
    import resource
except ImportError:  # not on Windows
    resource = None

__all__ = ["BASELINE_AGE", "METER", "RunMeter", "Run", "SHORT_RUN"]

#: Runs shorter than this (seconds) are not read: they report 0.
SHORT_RUN = 1e-3
#: A run starting takes a fresh baseline if the last one is older than this (seconds).
BASELINE_AGE = 0.01

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Run:
    """One task run in progress: RSS at its start and the highest RSS seen since."""

    __slots__ = ("start", "peak", "began")

    def __init__(self, start: int, began: float = 0.0) -> None:
        self.start = start
        self.peak = start
        self.began = began  # time.perf_counter() at its start

    @property
    def nbytes(self) -> int:
        return max(self.peak - self.start, 0)


class RunMeter:
    """Measure the RSS rise of task runs in this process (thread-safe).

    ``rss``, ``peak`` and ``reset_peak`` may be given (tests); by default they read and
    reset the kernel's figures where it has them, and fall back to psutil.
    """

    def __init__(
        self,
        rss: Callable[[], int] | None = None,
        peak: Callable[[], int] | None = None,
        reset_peak: Callable[[], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._runs: dict[Run, None] = {}
        self.short_run = SHORT_RUN
        self.baseline_age = BASELINE_AGE
        self._own = rss is None and peak is None and reset_peak is None
        if self._own:
            rss, peak, reset_peak = _kernel_counters()
        self._set_counters(rss, peak, reset_peak)

    def _set_counters(self, rss, peak, reset_peak) -> None:
        self._rss = rss or _psutil_rss
        self._peak = peak
        self._reset = reset_peak if peak is not None else None
        self._baseline = self._rss()
        self._baseline_time = time.perf_counter()

    def _after_fork(self) -> None:
        """In a forked child ``/proc/self`` files opened by the parent describe the parent."""
        self._lock = threading.Lock()
        self._runs = {}
        if self._own:
            self._set_counters(*_kernel_counters())

    @property
    def exact_peaks(self) -> bool:
        """Whether short-lived peaks are seen (the kernel keeps a resettable peak)."""
        return self._reset is not None

    def begin(self) -> Run:
        """A run starts on the calling thread."""
        now = time.perf_counter()
        with self._lock:
            if now - self._baseline_time > self.baseline_age:
                self._checkpoint()
            run = Run(self._baseline, now)
            self._runs[run] = None
        return run

    def end(self, run: Run) -> int:
        """The run ended: its RSS rise in bytes (peak during the run minus RSS at start;
        0 for a run too short to read)."""
        with self._lock:
            if run not in self._runs:
                return run.nbytes  # ended twice
            if time.perf_counter() - run.began < self.short_run:
                del self._runs[run]
                return 0  # the kernel's peak keeps accumulating for the other runs
            self._checkpoint()
            del self._runs[run]
        return run.nbytes

    def tick(self, rss: int | None = None) -> None:
        """Called periodically (by the memory monitor, with its RSS sample): fold the
        peak into the runs in progress and take a fresh baseline for the next ones."""
        with self._lock:
            if self._reset is not None:
                self._checkpoint()
            elif rss is not None:
                self._fold(rss)
                self._baseline = rss
                self._baseline_time = time.perf_counter()

    def _checkpoint(self) -> None:
        """Fold the peak since the last reset into the runs; reset it; new baseline."""
        if self._reset is not None:
            self._fold(self._peak())
            self._reset()
            self._baseline = self._peak()  # right after a reset: the current RSS
        else:
            rss = self._rss()
            self._fold(rss)
            self._baseline = rss
        self._baseline_time = time.perf_counter()

    def _fold(self, value: int) -> None:
        for run in self._runs:
            if value > run.peak:
                run.peak = value

    @property
    def running(self) -> int:
        """How many runs are in progress."""
        return len(self._runs)


def _psutil_rss() -> int:
    return psutil.Process().memory_info().rss


def _kernel_counters():
    """``(rss, peak, reset_peak)`` reading ``/proc/self``, or Nones where unavailable."""
    try:
        statm = os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:
        return None, None, None

    def rss() -> int:
        return int(os.pread(statm, 128, 0).split()[1]) * _PAGE

    try:
        clear = os.open("/proc/self/clear_refs", os.O_WRONLY)
    except OSError:
        return rss, None, None

    def reset_peak() -> None:
        os.write(clear, b"5")

    def maxrss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    try:
        reset_peak()
        # ru_maxrss is also at least the peak of the process image this one exec'ed from;
        # if that floor is above our RSS, read the resettable figure itself (slower).
        if resource is not None and maxrss() <= rss() + 8 * _PAGE:
            return rss, maxrss, reset_peak
        status = os.open("/proc/self/status", os.O_RDONLY)
    except OSError:
        return rss, None, None

    def vmhwm() -> int:
        text = os.pread(status, 8192, 0)
        i = text.index(b"VmHWM:")
        return int(text[i + 6 : text.index(b"kB", i)]) * 1024

    try:
        vmhwm()
    except (OSError, ValueError):
        return rss, None, None
    return rss, vmhwm, reset_peak


#: The meter of this process, shared by every executor thread in it.
METER = RunMeter()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=METER._after_fork)
