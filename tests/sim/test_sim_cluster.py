"""Scheduling policy on the simulated cluster: real SchedulerState, real WorkerStates.

Every simulation here validates both state machines after each step (`validate=True`)
and checks at rest that the workers' stores and the scheduler agree.
"""

from __future__ import annotations

import math

import pytest

from pardata.testing.sim import Simulation
from pardata.testing.sim_graphs import tree_reduction

MB = 10**6


def runs_on(result, worker: str) -> list:
    return [entry for entry in result.log if entry[1] == "run" and entry[2] == worker]


# --- data locality ---------------------------------------------------------------------


@pytest.mark.parametrize("big", ["w0", "w1"])
def test_a_task_runs_where_its_largest_input_is(big):
    small = "w1" if big == "w0" else "w0"
    sim = Simulation(3, bandwidth=100 * MB, validate=True)
    graph = {}
    for i in range(10):
        graph[f"big-{i}"] = ((), 0.1, 500 * MB)  # 5 s to move: never worth it here
        graph[f"small-{i}"] = ((), 0.1, 1_000)
        graph[f"join-{i}"] = ((f"small-{i}", f"big-{i}"), 0.1, 8)
    placed = {f"big-{i}": (big,) for i in range(10)} | {f"small-{i}": (small,) for i in range(10)}
    sim.submit(graph, [f"join-{i}" for i in range(10)], workers=placed)
    result = sim.run()

    assert result.completed
    assert {result.ran_on[f"join-{i}"] for i in range(10)} == {big}
    # only the small inputs crossed the network
    assert result.bytes_transferred == 10 * 1_000
    assert result.transfers >= 1


def test_a_chain_stays_on_one_worker():
    sim = Simulation(4, validate=True)
    graph = {"x-0": ((), 0.1, 10 * MB)}
    for i in range(1, 20):
        graph[f"x-{i}"] = ((f"x-{i - 1}",), 0.1, 10 * MB)
    sim.submit(graph, ["x-19"])
    result = sim.run()

    assert result.completed
    assert len(set(result.ran_on.values())) == 1
    assert result.bytes_transferred == 0
    assert result.completion_time == pytest.approx(20 * 0.1, abs=0.1)


def test_a_transfer_costs_latency_and_bytes_over_bandwidth():
    latency, bandwidth, nbytes = 0.01, 10 * MB, 20 * MB
    sim = Simulation(2, latency=latency, bandwidth=bandwidth, validate=True)
    sim.submit(
        {"a": ((), 1.0, nbytes), "b": (("a",), 1.0, 8)},
        ["b"],
        workers={"a": ("w0",), "b": ("w1",)},
    )
    result = sim.run()

    assert result.completed and result.bytes_transferred == nbytes and result.transfers == 1
    (fetch,) = [e for e in result.log if e[1] == "fetch"]
    (fetched,) = [e for e in result.log if e[1] == "fetched"]
    assert fetched[0] - fetch[0] == pytest.approx(2 * latency + nbytes / bandwidth)


# --- work stealing -------------------------------------------------------------------


def _one_busy_worker(work_stealing: bool):
    """w0 alone computes every root and gets all 40 one-second dependents; w1 joins later."""
    sim = Simulation(1, validate=True, scheduler_options={"work_stealing": work_stealing})
    graph = {}
    for i in range(10):
        graph[f"root-{i}"] = ((), 0.1, 1_000)
        for j in range(4):
            graph[f"work-{i}-{j}"] = ((f"root-{i}",), 1.0, 8)
    roots_on_w0 = {f"root-{i}": ("w0",) for i in range(10)}
    sim.submit(graph, [k for k in graph if k.startswith("work")], workers=roots_on_w0)
    sim.add_worker("w1", at=1.5)
    return sim.run()


def test_an_idle_worker_steals_from_a_saturated_one():
    result = _one_busy_worker(work_stealing=True)
    baseline = _one_busy_worker(work_stealing=False)

    assert result.completed and baseline.completed
    assert all(result.ran_on[f"root-{i}"] == "w0" for i in range(10))
    on_w1 = [k for k, w in result.ran_on.items() if w == "w1"]
    stolen = {e[3] for e in result.log if e[1] == "steal" and e[4]}  # confirmed by w0
    assert len(stolen) == result.steals >= 10
    assert stolen <= set(on_w1)  # (the rest went to w1 directly once it was there)
    assert result.bytes_transferred > 0  # the thief fetched the roots it needed
    assert set(result.runs.values()) == {1}  # a stolen task never runs twice
    # 41 s of work, w1 there from 1.5 s: about 21.5 s at best
    assert result.completion_time < 23
    assert baseline.steals == 0
    assert baseline.completion_time > 35  # only tasks that became ready later reach w1


# --- memory-aware queuing of root tasks ------------------------------------------------


@pytest.mark.parametrize("nthreads", [1, 2, 4])
def test_root_tasks_are_queued_until_a_slot_is_free(nthreads):
    sim = Simulation(3, nthreads=nthreads, validate=True)
    graph, root = tree_reduction(150)
    sim.submit(graph, [root])
    result = sim.run()

    slots = math.ceil(1.1 * nthreads)
    assert result.completed
    assert set(result.max_root_tasks) == {"w0", "w1", "w2"}
    assert max(result.max_root_tasks.values()) <= slots
    assert result.max_queued >= 150 - 3 * slots
    assert set(result.runs.values()) == {1}


def test_without_queuing_every_root_task_is_sent_at_once():
    sim = Simulation(3, nthreads=2, validate=True, scheduler_options={"worker_saturation": math.inf})
    graph, root = tree_reduction(150)
    sim.submit(graph, [root])
    result = sim.run()

    assert result.completed
    assert result.max_queued == 0
    assert sum(result.max_root_tasks.values()) == 150


def test_queued_root_tasks_go_to_idle_workers_first():
    sim = Simulation(4, validate=True)
    sim.submit({f"x-{i}": ((), 1.0, 10) for i in range(4)}, [f"x-{i}" for i in range(4)])
    result = sim.run()

    assert result.completed
    assert sorted(result.ran_on.values()) == ["w0", "w1", "w2", "w3"]
    assert result.steals == 0
    assert result.completion_time < 1.1


# --- failures ------------------------------------------------------------------------


def test_a_lost_workers_keys_are_recomputed():
    sim = Simulation(4, validate=True)
    graph, root = tree_reduction(64, leaf=(0.2, MB), node=(0.2, MB))
    sim.submit(graph, [root])
    sim.run(until=1.5)
    held = set(sim.scheduler.has_what(["w1"])["w1"])
    held_only_there = {key for key in held if sim.scheduler.who_has([key])[key] == ("w1",)}
    assert held_only_there
    sim.kill("w1")
    result = sim.run()

    assert result.completed
    assert held_only_there <= result.recomputed
    assert all(entry[0] <= 1.5 for entry in runs_on(result, "w1"))
    assert result.ran_on[root] != "w1"


def test_a_silently_dead_worker_is_dropped_after_missed_heartbeats():
    sim = Simulation(3, validate=True, heartbeat_interval=0.5, scheduler_options={"heartbeat_timeout": 3.0})
    graph, root = tree_reduction(32, leaf=(0.2, MB), node=(0.2, MB))
    sim.submit(graph, [root])
    sim.kill("w2", at=0.5, silent=True)
    result = sim.run()

    assert result.completed
    assert result.completion_time > 3.0  # nothing could tell the scheduler sooner
    assert "w2" not in sim.scheduler.workers
    assert any(entry[1] == "report" for entry in result.log)


def test_a_restarted_worker_rejoins_empty_and_takes_work():
    sim = Simulation(2, validate=True)
    graph, root = tree_reduction(40, leaf=(0.2, MB), node=(0.2, MB))
    sim.submit(graph, [root])
    sim.kill("w0", at=1.0)
    sim.add_worker("w0", at=2.0)  # a nanny restarts it
    result = sim.run()

    assert result.completed
    assert result.recomputations > 0
    assert any(entry[0] > 2.0 for entry in runs_on(result, "w0"))


def test_a_task_that_keeps_killing_its_workers_is_marked_failed():
    sim = Simulation(4, validate=True)
    graph = {"poison": ((), 10.0, 8), "fine": ((), 1.0, 8)}
    # (apart: a task merely assigned to a dying worker counts as present at its death)
    sim.submit(graph, ["poison", "fine"], workers={"poison": ("w0", "w1", "w2"), "fine": ("w3",)})
    killed: list = []
    while len(killed) < 3:  # kill whichever worker starts "poison", three times
        sim.run(max_events=1)
        started = [e[2] for e in sim.log if e[1] == "run" and e[3] == "poison"]
        if len(started) > len(killed):
            killed.append(started[-1])
            sim.kill(started[-1])
    result = sim.run()

    assert len(set(killed)) == 3
    assert result.reports["poison"][1] == "erred"
    assert "KilledWorker" in sim.scheduler.tasks["poison"].error_reason
    assert result.reports["fine"][1] == "memory"


def test_a_late_replica_announcement_does_not_cancel_a_fresh_assignment():
    # w1 fetches x from w0 for y; w0 dies after sending x, and its WorkerLeft overtakes
    # w1's KeysReplicated(x). The scheduler recomputes x on w1 (Execute); w1 had already
    # let go of its copy. Then KeysReplicated(x) arrives while x is processing on w1.
    sim = Simulation(2, latency=0.1, bandwidth=1e6, validate=True, stall_timeout=10.0)
    sim.submit({"x": ((), 1.0, 100_000), "y": (("x",), 1.0, 8)}, ["y"], workers={"y": ("w1",)})
    sim.kill("w0", at=1.55)  # x was sent by 1.5 and lands on w1 at 1.6
    result = sim.run()

    assert not result.stalled, sim.scheduler.why_waiting("x")
    assert result.completed


def test_a_released_result_is_freed_everywhere():
    sim = Simulation(3, validate=True)
    graph, root = tree_reduction(16)
    sim.submit(graph, [root, ("load", 0)])
    sim.release([("load", 0)], at=10.0)
    result = sim.run()

    assert result.completed
    assert [sorted(sw.store) for sw in sim.workers.values() if sw.store] == [[root]]


def test_a_graph_that_cannot_run_is_reported_as_stalled():
    sim = Simulation(2, validate=True, stall_timeout=5.0)
    sim.submit({"a": ((), 1.0, 8), "b": (("a",), 1.0, 8)}, ["b"], workers={"a": ("nowhere",)})
    result = sim.run()

    assert result.stalled and not result.completed
    assert sim.scheduler.task_state("a") == "no-worker"
    assert result.end_time == pytest.approx(5.0, abs=0.5)
