"""Scale: a thousand simulated workers and a hundred thousand tasks, in seconds of real time.

The work is almost all inside the two state machines (about 80%); the figure is printed.
The bound is on this process's CPU time: on a shared machine the wall clock also counts
other processes' turns (the test gets more time than the suite default for that reason).
"""

from __future__ import annotations

import time

import pytest

from pardata.testing.sim import Simulation
from pardata.testing.sim_graphs import tree_reduction

MB = 10**6


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_1000_workers_100k_tasks(capsys):
    graph, root = tree_reduction(50_000, leaf=(0.5, MB), node=(0.1, MB))
    assert len(graph) >= 100_000

    start, cpu = time.perf_counter(), time.process_time()
    sim = Simulation(1000, record_log=False)  # validation off: this measures speed
    sim.submit(graph, [root])
    result = sim.run()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu

    assert result.completed, result.summary()
    assert result.runs.keys() == graph.keys() and set(result.runs.values()) == {1}
    assert len(set(result.ran_on.values())) == 1000  # every worker took part
    assert result.stale_messages == 0
    # 50,000 half-second loads over 1,000 workers take 25 simulated seconds at least
    assert 25 < result.completion_time < 40
    with capsys.disabled():
        print(
            f"\n{len(graph):,} tasks on 1,000 simulated workers: {elapsed:.1f}s real "
            f"({cpu:.1f}s CPU) for {result.completion_time:.1f}s simulated; {result.summary()}"
        )
    assert cpu < 60
