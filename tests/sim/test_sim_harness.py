"""The simulator itself: its inputs, its checks and its failure modes."""

from __future__ import annotations

import pytest

from pardata.testing.sim import Simulation, SimTask


def test_durations_and_sizes_by_key_then_prefix_then_default():
    sim = Simulation(1, durations={"slow": 2.0, "slow-1": 5.0}, sizes={"big": 10**6}, default_duration=0.5)
    graph = {
        "slow-1": SimTask(),  # per key
        "slow-2": SimTask(("slow-1",)),  # per prefix
        "big-1": SimTask(("slow-2",)),  # default duration, size by prefix
        "fixed": SimTask(("big-1",), duration=0.25, nbytes=3),  # given in the graph
    }
    sim.submit(graph, ["fixed"])
    result = sim.run()

    runs = {e[3]: e[0] for e in result.log if e[1] == "run"}
    assert runs["slow-2"] - runs["slow-1"] == pytest.approx(5.0, abs=0.01)
    assert runs["big-1"] - runs["slow-2"] == pytest.approx(2.0, abs=0.01)
    assert runs["fixed"] - runs["big-1"] == pytest.approx(0.5, abs=0.01)
    assert sim.scheduler.tasks["fixed"].nbytes == 3


def test_jitter_spreads_durations_reproducibly():
    def finish_times(seed):
        sim = Simulation(4, seed=seed, jitter=0.5)
        sim.submit({f"t-{i}": ((), 1.0, 8) for i in range(4)}, [f"t-{i}" for i in range(4)])
        result = sim.run()
        return [e[0] for e in result.log if e[1] == "done"]

    times = finish_times(1)
    assert len(set(times)) == 4 and all(0.5 <= t <= 1.7 for t in times)
    assert finish_times(1) == times != finish_times(2)


def test_heartbeats_and_ticks_do_not_keep_a_finished_run_going():
    sim = Simulation(3, tick_interval=0.1, heartbeat_interval=0.2)
    sim.submit({"a": ((), 1.0, 8)}, ["a"])
    result = sim.run()

    assert result.completed and result.end_time == pytest.approx(1.0, abs=0.01)
    assert sim.scheduler.workers["w0"].last_seen > 0.5  # heartbeats arrived meanwhile


def test_run_until_then_resume():
    sim = Simulation(2)
    sim.submit({f"t-{i}": ((), 1.0, 8) for i in range(6)}, [f"t-{i}" for i in range(6)])
    early = sim.run(until=1.5)
    assert not early.completed and early.end_time == 1.5
    late = sim.run()
    assert late.completed and late.completion_time > 1.5


def test_consistency_check_catches_data_vanishing_behind_the_machines_back():
    sim = Simulation(2, validate=True)
    sim.submit({"a": ((), 1.0, 8)}, ["a"])
    sim.run()
    holder = sim.workers[sim.scheduler.who_has(["a"])["a"][0]]
    holder.pop("a")
    with pytest.raises(AssertionError, match="which it does not"):
        sim.check_consistency()


def test_unknown_graph_shapes_are_refused():
    sim = Simulation(1)
    with pytest.raises(TypeError):
        sim.submit({"a": 1.0}, ["a"])
    with pytest.raises(ValueError):
        Simulation(1, bandwidth=0)
