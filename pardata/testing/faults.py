"""Helpers for fault tests: a layered graph with transfers, and small waiting tools.

``layered_graph(salt)`` is a ``Delayed`` over ``depth * width + 1`` tasks: a layer of
seeded NumPy blocks, then layers whose every task mixes two neighbours of the layer
below (so results move between workers), then one sum. ``expected_total(salt)``
computes the same value with plain NumPy in the calling process, to compare with.
The task functions live in this importable module, so worker processes unpickle them
by reference. ``delay`` makes each task sleep that long: faults then land mid-task.
"""

from __future__ import annotations

import os
import time
import uuid

import numpy as np

import pardata

__all__ = ["layered_graph", "expected_total", "seed_block", "mix", "total", "runs", "wait_until", "worker_pids"]

BLOCK = 2000  # int64 values per block


def _seed_values(i: int, salt: int) -> np.ndarray:
    return np.random.default_rng(i * 1_000_003 + salt).integers(0, 1000, size=BLOCK, dtype=np.int64)


def _mix_values(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    return (a * 3 + np.roll(b, k)) % 1_000_003


def seed_block(i: int, salt: int, delay: float = 0.0, marker: str | None = None) -> np.ndarray:
    """Block ``i`` of the first layer. With ``marker`` (a directory), each run leaves a
    ``NAME.start.*`` file there when it starts and ``NAME.done.*`` when it ends, so a
    test can count how often, and when, tasks ran (see `runs`)."""
    name = f"seed-{salt}-{i}"
    _mark(marker, name, "start")
    if delay:
        time.sleep(delay)
    out = _seed_values(i, salt)
    _mark(marker, name, "done")
    return out


def mix(a: np.ndarray, b: np.ndarray, k: int, delay: float = 0.0, marker: str | None = None,
        name: str = "") -> np.ndarray:
    _mark(marker, name, "start")
    if delay:
        time.sleep(delay)
    out = _mix_values(a, b, k)
    _mark(marker, name, "done")
    return out


def total(*blocks) -> int:
    return int(sum(int(b.sum()) for b in blocks))


def _mark(marker: str | None, name: str, phase: str) -> None:
    if marker:
        open(os.path.join(marker, f"{name}.{phase}.{uuid.uuid4().hex}"), "w").close()


def runs(marker: str, phase: str = "start") -> dict[str, int]:
    """``{task name: how many runs reached phase "start" or "done"}`` from a marker directory."""
    counts: dict[str, int] = {}
    for entry in os.listdir(marker):
        name, kind, _ = entry.rsplit(".", 2)
        if kind == phase:
            counts[name] = counts.get(name, 0) + 1
    return counts


def layered_graph(salt: int, width: int = 110, depth: int = 5, delay: float = 0.0, marker: str | None = None):
    """A ``Delayed`` of ``depth * width + 1`` tasks; keys differ per ``salt``."""
    seed = pardata.delayed(seed_block, pure=True)
    step = pardata.delayed(mix, pure=True)
    layer = [seed(i, salt, delay, marker) for i in range(width)]
    for d in range(1, depth):
        layer = [step(layer[i], layer[(i + d) % width], d, delay, marker, f"mix-{salt}-{d}-{i}")
                 for i in range(width)]
    return pardata.delayed(total, pure=True)(*layer)


def expected_total(salt: int, width: int = 110, depth: int = 5) -> int:
    """``layered_graph(salt, width, depth)`` computed with plain NumPy, here."""
    layer = [_seed_values(i, salt) for i in range(width)]
    for d in range(1, depth):
        layer = [_mix_values(layer[i], layer[(i + d) % width], d) for i in range(width)]
    return total(*layer)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def worker_pids(client) -> dict[str, int]:
    """``{address: pid}`` of the workers the scheduler knows now."""
    return {address: w["pid"] for address, w in client.scheduler_info()["workers"].items()}
