"""The registry of benchmarks: a name -> ``Benchmark`` map filled by benchmark modules."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from benchmarks.libraries import Library

# Modules whose import registers benchmarks; add new ones here.
BENCHMARK_MODULES = ("benchmarks.overhead", "benchmarks.bag_bench", "benchmarks.array_bench",
                     "benchmarks.dataframe_bench", "benchmarks.cluster_bench")

_REGISTRY: dict[str, "Benchmark"] = {}


def _identity_answer(lib: Library, raw: Any) -> Any:
    return raw


@dataclass(frozen=True)
class Benchmark:
    """One workload, written once for any ``Library``.

    ``setup(lib, size)`` does the untimed preparation and returns the timed callable
    ``run(scheduler) -> raw``; ``answer(lib, raw)`` (untimed) turns ``raw`` into a value
    compared with ``expected(size)``. ``target`` is the pardata/Dask wall-time ratio to
    stay under (one number, or one per scheduler). A benchmark with
    ``uses_scheduler=False`` runs once per repeat, not once per scheduler.

    ``schedulers`` are the rows run when none are asked for (default: sync and threads);
    they need not be local schedulers: cluster benchmarks use them to name cluster
    configurations. With ``setup_per_scheduler`` the setup is ``setup(lib, size,
    scheduler)``, so that it can prepare (untimed) what that row needs, and
    ``teardown()`` runs after each row. ``show_rate`` adds tasks per second to tables.
    """

    name: str
    description: str
    setup: Callable[[Library, int], Callable[[str | None], Any]]
    expected: Callable[[int], Any]
    target: float | Mapping[str, float]
    tasks: Callable[[int], int] = lambda size: size
    answer: Callable[[Library, Any], Any] = _identity_answer
    default_size: int = 20_000
    uses_scheduler: bool = True
    schedulers: tuple[str, ...] | None = None
    setup_per_scheduler: bool = False
    teardown: Callable[[], None] | None = None
    show_rate: bool = False

    def target_for(self, scheduler: str | None) -> float:
        """The wall-time ratio to stay under on ``scheduler``'s row."""
        if isinstance(self.target, Mapping):
            return self.target[scheduler]
        return self.target


def register(bench: Benchmark) -> Benchmark:
    if bench.name in _REGISTRY:
        raise ValueError(f"benchmark {bench.name!r} registered twice")
    _REGISTRY[bench.name] = bench
    return bench


def all_benchmarks() -> dict[str, Benchmark]:
    """Every registered benchmark by name, importing the benchmark modules first."""
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def get_benchmark(name: str) -> Benchmark:
    benches = all_benchmarks()
    if name not in benches:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(benches)}")
    return benches[name]
