"""A terminal progress bar for the local schedulers."""
from __future__ import annotations

import sys
import threading
import time
from typing import Mapping

from pardata.local.callbacks import Callback


def format_bar(fraction: float, elapsed: float, width: int = 40) -> str:
    """``[########                ] | 33% Completed |  1.2s``"""
    filled = int(width * fraction)
    bar = "#" * filled + " " * (width - filled)
    return f"[{bar}] | {fraction * 100:3.0f}% Completed | {elapsed:5.1f}s"


class ProgressBar(Callback):
    """Show the progress of local computations in the terminal.

    >>> from pardata.diagnostics import ProgressBar
    >>> with ProgressBar():              # doctest: +SKIP
    ...     x.compute()
    [########################################] | 100% Completed |  1.3s

    ``minimum``: do not draw for computations shorter than this many seconds.
    ``dt``: seconds between redraws. ``out``: a text stream (default stdout).
    """

    def __init__(self, minimum: float = 0.0, width: int = 40, dt: float = 0.1, out=None):
        self.minimum = minimum
        self.width = width
        self.dt = dt
        self.out = out
        self.last_duration = 0.0
        self._done = 0
        self._total = 0
        self._start = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _stream(self):
        return self.out if self.out is not None else sys.stdout

    def start(self, graph: Mapping) -> None:
        self._done = 0
        self._total = len(graph)
        self._start = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._ticker, name="pardata-progress", daemon=True)
        self._thread.start()

    def posttask(self, key, result) -> None:
        self._done += 1  # a lost increment under a race only delays the bar

    def finish(self, graph: Mapping, errored: bool) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        elapsed = time.perf_counter() - self._start
        self.last_duration = elapsed
        if elapsed >= self.minimum:
            fraction = 1.0 if not errored else self._fraction()
            self._draw(fraction, elapsed)
            self._stream().write("\n")
            self._stream().flush()

    def _fraction(self) -> float:
        return min(self._done / self._total, 1.0) if self._total else 1.0

    def _draw(self, fraction: float, elapsed: float) -> None:
        self._stream().write("\r" + format_bar(fraction, elapsed, self.width))
        self._stream().flush()

    def _ticker(self) -> None:
        while not self._stop.wait(self.dt):
            elapsed = time.perf_counter() - self._start
            if elapsed >= self.minimum:
                self._draw(self._fraction(), elapsed)
