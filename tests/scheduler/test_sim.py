"""Whole runs on the in-memory simulator: scale, determinism, failures mid-run."""

from __future__ import annotations

import itertools
import time

from scheduler.events import GraphSubmitted, TaskSpec
from scheduler.sim import Simulator
from scheduler.state import SchedulerState


def tree_reduction(n_leaves: int, fan_in: int = 2, payload: bytes = b"f") -> tuple[dict, str]:
    """Leaves summed `fan_in` at a time up to one root; priorities in depth-first order."""
    tasks: dict = {}
    order = itertools.count()

    def build(lo: int, hi: int, level: int) -> str:
        if hi - lo == 1:
            key = f"leaf-{lo}"
            tasks[key] = TaskSpec(payload=payload, priority=(next(order),))
            return key
        step = -(-(hi - lo) // fan_in)
        children = [build(i, min(i + step, hi), level + 1) for i in range(lo, hi, step)]
        key = f"sum-{level}-{lo}"
        tasks[key] = TaskSpec(tuple(children), payload=payload, priority=(next(order),))
        return key

    return tasks, build(0, n_leaves, 0)


def run_tree(n_leaves=5000, n_workers=100, nthreads=2, validate_every=0, **state_kwargs):
    sim = Simulator(SchedulerState(**state_kwargs), validate_every=validate_every, duration=lambda key: 0.01)
    for i in range(n_workers):
        sim.join(f"w{i}", nthreads)
    tasks, root = tree_reduction(n_leaves)
    sim.send(GraphSubmitted("client", tasks, [root]))
    sim.run()
    return sim, tasks, root


def test_tree_reduction_10k_tasks_on_100_workers():
    start = time.perf_counter()
    sim, tasks, root = run_tree()
    elapsed = time.perf_counter() - start
    sim.state.validate()
    assert len(tasks) == 9999
    assert sim.reports[("client", root)].__class__.__name__ == "ReportInMemory"
    assert set(sim.executions) == set(tasks) and set(sim.executions.values()) == {1}
    assert sim.state.stale_messages == 0
    counts = sim.state.task_states_counts()
    assert counts["memory"] == 1 and counts["released"] == len(tasks) - 1  # freed, kept as lineage
    # no worker holds anything but the result
    assert sum(len(w.data) for w in sim.workers.values()) == 1
    assert elapsed < 5, f"simulation took {elapsed:.2f}s"
    print(f"\n{sim.handled} events in {elapsed:.2f}s: {sim.handled / elapsed:,.0f} events/s")


def test_simulation_is_deterministic():
    a, _, _ = run_tree(n_leaves=300, n_workers=7)
    b, _, _ = run_tree(n_leaves=300, n_workers=7)
    assert a.time == b.time
    assert list(a.state._log) == list(b.state._log)


def test_queuing_bounds_inputs_loaded_per_worker():
    """With queuing, no worker ever holds more root tasks than its slots allow."""
    sim = Simulator(SchedulerState(worker_saturation=1.0), validate_every=50)
    for i in range(4):
        sim.join(f"w{i}", 2)
    tasks, root = tree_reduction(400)
    peak = 0
    original = sim.send

    def watching(*events):
        nonlocal peak
        out = original(*events)
        for ws in sim.state.workers.values():
            roots = sum(1 for ts in ws.processing if not ts.dependencies)
            peak = max(peak, roots)
        return out

    sim.send = watching
    sim.send(GraphSubmitted("client", tasks, [root]))
    sim.run()
    assert peak <= 2
    assert set(sim.executions.values()) == {1}


def test_workers_dying_mid_run_still_finish_the_graph():
    sim = Simulator(SchedulerState(), validate_every=1, duration=lambda key: 0.05)
    for i in range(6):
        sim.join(f"w{i}", 2)
    tasks, root = tree_reduction(200)
    sim.send(GraphSubmitted("client", tasks, [root]))
    sim.at(0.3, lambda: sim.kill("w0"))
    sim.at(0.6, lambda: sim.kill("w3"))
    sim.at(0.7, lambda: sim.join("late", 4))
    sim.run()
    assert type(sim.reports[("client", root)]).__name__ == "ReportInMemory"
    assert set(sim.executions) == set(tasks)
    assert max(sim.executions.values()) >= 1  # lost keys ran again


def test_stealing_spreads_work_to_late_joiners():
    sim = Simulator(
        SchedulerState(worker_saturation=float("inf")), validate_every=1, duration=lambda key: 1.0, tick_interval=0.5
    )
    sim.join("early", 1)
    specs = {f"t-{i}": TaskSpec(priority=(i,)) for i in range(20)}
    sim.send(GraphSubmitted("client", specs, list(specs)))
    sim.at(0.1, lambda: sim.join("late", 1))
    sim.run()
    ran_late = [k for k, n in sim.executions.items() if n and k in sim.workers["late"].data]
    assert len(ran_late) >= 8
    assert set(sim.executions.values()) == {1}
    assert sim.time < 13


def test_retries_and_errors_in_simulation():
    fails = lambda key, attempt: key == "leaf-3" or (key == "leaf-5" and attempt < 40)  # noqa: E731
    sim = Simulator(SchedulerState(), validate_every=1, fails=fails)
    sim.join("w", 2)
    tasks, root = tree_reduction(8)
    tasks["leaf-5"] = TaskSpec(payload=b"f", priority=tasks["leaf-5"].priority, retries=3)
    sim.send(GraphSubmitted("client", tasks, [root]))
    sim.run()
    report = sim.reports[("client", root)]
    assert type(report).__name__ == "ReportErred" and report.blamed in ("leaf-3", "leaf-5")
    assert report.exception == b"pickled-exception"


def test_runs_are_identical_across_hash_seeds():
    """No decision depends on set or hash order: two processes replay the same run."""
    import os
    import subprocess
    import sys

    script = (
        "import sys, hashlib; sys.path.insert(0, sys.argv[1]);"
        "from test_sim import run_tree;"
        "sim, _, _ = run_tree(n_leaves=200, n_workers=5, work_stealing=True);"
        "print(hashlib.sha256(repr(list(sim.state._log)).encode()).hexdigest())"
    )
    here = os.path.dirname(__file__)
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", script, here], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
