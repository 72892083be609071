"""Random graphs, random failures, both state machines validated after every step.

Whatever happens (workers killed outright or silently, restarted, joining late, results
released), every key still wanted ends in memory, or erred by the killed-worker rule,
and at rest the stores and the scheduler agree on who holds what.
"""

from __future__ import annotations

import random

import pytest

from pardata.testing.sim import Simulation
from pardata.testing.sim_graphs import random_graph


def random_run(seed: int):
    rng = random.Random(seed)
    n_workers = rng.randint(1, 8)
    sim = Simulation(
        n_workers,
        nthreads=rng.randint(1, 3),
        seed=seed,
        jitter=rng.choice([0.0, 0.3]),
        latency=rng.choice([0.001, 0.02]),
        bandwidth=rng.choice([1e7, 1e9]),
        validate=True,
        scheduler_options={
            "heartbeat_timeout": 3.0,
            "worker_saturation": rng.choice([1.0, 1.1, 2.0, float("inf")]),
        },
    )
    graph = random_graph(rng.randint(20, 300), seed=seed)
    wanted = rng.sample(list(graph), rng.randint(1, min(15, len(graph))))
    sim.submit(graph, wanted)
    names = [f"w{i}" for i in range(n_workers)]
    for _ in range(rng.randint(0, 6)):
        at = rng.uniform(0, 8)
        roll = rng.random()
        if roll < 0.4:
            victim = rng.choice(names)
            sim.kill(victim, at=at, silent=rng.random() < 0.3)
            if rng.random() < 0.5:
                sim.add_worker(victim, at=at + rng.uniform(0, 2))  # a nanny restarts it
        elif roll < 0.55:
            sim.release(rng.sample(wanted, 1), at=at)
        else:
            names.append(sim.add_worker(at=at, nthreads=rng.randint(1, 2)))
    sim.add_worker("last", at=12.0, nthreads=2)  # someone is there in the end
    return sim, sim.run()


@pytest.mark.parametrize("seed", range(60))
def test_random_run_settles(seed):
    sim, result = random_run(seed)

    assert not result.stalled, result.summary()
    outcomes = {key: result.reports.get(key, (None, None))[1] for key in sim.wanted}
    assert set(outcomes.values()) <= {"memory", "erred"}, outcomes
    for key, outcome in outcomes.items():
        if outcome == "erred":
            assert "KilledWorker" in sim.scheduler.tasks[key].error_reason
    assert not result.violations
