"""Run a benchmark on each library in one process, alternating, and report the times.

For each scheduler, every repeat runs each library once; the order flips every repeat
so slow drift (thermal, other load) does not favour one side. Each run is prepared
untimed, then timed alone after ``gc.collect()``. *Cold* is a library's first run,
*warm* the best of its later ones. Targets are judged on the warm ratio.
"""
from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from benchmarks.libraries import LIBRARY_NAMES, Library, load_library
from benchmarks.registry import Benchmark

RESULTS_DIR = Path(__file__).parent / "results"


class WrongAnswer(AssertionError):
    """A library computed something other than the benchmark's expected value."""


@dataclass
class Timings:
    """Wall times in seconds of one library on one scheduler, in run order."""

    seconds: list[float] = field(default_factory=list)

    @property
    def cold(self) -> float:
        return self.seconds[0]

    @property
    def warm(self) -> float:
        return min(self.seconds[1:]) if len(self.seconds) > 1 else self.seconds[0]


def time_once(bench: Benchmark, lib: Library, size: int, scheduler: str | None) -> float:
    """Prepare, time one run, and check its answer; return the wall time."""
    run = bench.setup(lib, size, scheduler) if bench.setup_per_scheduler else bench.setup(lib, size)
    gc.collect()
    start = time.perf_counter()
    raw = run(scheduler)
    elapsed = time.perf_counter() - start
    value = bench.answer(lib, raw)
    if value != bench.expected(size):
        shown = repr(value)[:80]
        raise WrongAnswer(f"{bench.name}: {lib.name} on {scheduler} gave a wrong answer: {shown}")
    return elapsed


def run_benchmark(bench: Benchmark, size: int | None = None, repeat: int = 5,
                  schedulers=None, libraries=LIBRARY_NAMES) -> dict:
    """Time ``bench`` on each library and scheduler; return a JSON-ready result.

    ``schedulers`` default to the benchmark's own (else sync and threads).
    """
    size = bench.default_size if size is None else size
    if schedulers is None:
        schedulers = bench.schedulers or ("sync", "threads")
    libs = [load_library(name) for name in libraries]
    rows = []
    for scheduler in (schedulers if bench.uses_scheduler else [None]):
        timings = {lib.name: Timings() for lib in libs}
        try:
            for i in range(repeat):
                for lib in (libs if i % 2 == 0 else libs[::-1]):
                    timings[lib.name].seconds.append(time_once(bench, lib, size, scheduler))
        finally:
            if bench.teardown is not None:
                bench.teardown()
        row = {"scheduler": scheduler}
        for name, t in timings.items():
            row[name] = {"seconds": t.seconds, "cold": t.cold, "warm": t.warm}
        if "pardata" in timings and "dask" in timings:
            row["ratio_cold"] = timings["pardata"].cold / timings["dask"].cold
            row["ratio_warm"] = timings["pardata"].warm / timings["dask"].warm
            row["target"] = bench.target_for(scheduler)
            row["target_met"] = row["ratio_warm"] <= row["target"]
        rows.append(row)
    return {
        "benchmark": bench.name,
        "description": bench.description,
        "size": size,
        "tasks": bench.tasks(size),
        "repeat": repeat,
        "target": dict(bench.target) if isinstance(bench.target, Mapping) else bench.target,
        "show_rate": bench.show_rate,
        "libraries": {lib.name: lib.version for lib in libs},
        "machine": machine_info(),
        "rows": rows,
    }


def machine_info() -> dict:
    """CPU count, platform, Python and package versions, and the git commit."""
    from importlib import metadata

    versions = {}
    for pkg in ("pardata", "dask", "distributed", "numpy", "pandas"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    info = {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "versions": versions,
    }
    try:
        import psutil

        info["memory_bytes"] = psutil.virtual_memory().total
    except ImportError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def format_seconds(t: float) -> str:
    """``t`` with three significant digits in s, ms or µs."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-6:.3g} µs"


def format_table(result: dict) -> str:
    """A plain-text table of one ``run_benchmark`` result."""
    names = list(result["libraries"])
    both = "ratio_warm" in result["rows"][0]
    per_row = isinstance(result["target"], dict)
    rate = result.get("show_rate", False)
    header = ["scheduler"]
    for name in names:
        header += [f"{name} cold", f"{name} warm"]
        if rate:
            header += [f"{name} tasks/s"]
    if both:
        target = "target (warm)" if per_row else f"target <={result['target']:.2f}x (warm)"
        header += ["ratio cold", "ratio warm", target]
    lines = [header]
    for row in result["rows"]:
        line = [row["scheduler"] or "-"]
        for name in names:
            line += [format_seconds(row[name]["cold"]), format_seconds(row[name]["warm"])]
            if rate:
                line += [f"{result['tasks'] / row[name]['warm']:,.0f}"]
        if both:
            verdict = "met" if row["target_met"] else "MISSED"
            if per_row:
                verdict = f"<={row['target']:.2f}x {verdict}"
            line += [f"{row['ratio_cold']:.3f}x", f"{row['ratio_warm']:.3f}x", verdict]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    title = (f"{result['benchmark']}: {result['description']}\n"
             f"size={result['size']} (~{result['tasks']} tasks), repeat={result['repeat']}, "
             f"cpus={result['machine']['cpu_count']}, "
             + ", ".join(f"{k} {v}" for k, v in result["libraries"].items()))
    body = ["  ".join(cell.rjust(w) if i else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(line, widths))) for line in lines]
    return "\n".join([title, *body])


def save_result(result: dict, directory: Path = RESULTS_DIR) -> Path:
    """Write ``result`` as JSON to ``directory``; return the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = directory / f"{result['benchmark']}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
