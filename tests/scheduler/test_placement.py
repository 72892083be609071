"""Where tasks go: root-task queuing, data locality, restrictions, work stealing."""

from __future__ import annotations

from scheduler.commands import CancelExecution, Execute, RequestSteal
from scheduler.events import (
    DataScattered,
    GraphSubmitted,
    StealConfirmed,
    StealRefused,
    TaskFinished,
    TaskSpec,
    Tick,
    WorkerHeartbeat,
    WorkerJoined,
)


def roots(n, prefix="r"):
    return {f"{prefix}-{i}": TaskSpec(priority=(i,)) for i in range(n)}


def test_root_tasks_wait_for_free_slots_in_priority_order(harness):
    h = harness(worker_saturation=1.0)
    h.join("w1", nthreads=2)
    specs = {f"r-{i}": TaskSpec(priority=(9 - i,)) for i in range(10)}  # r-9 is most urgent
    out = h(GraphSubmitted("c", specs, list(specs)))
    assert [e.key for e in h.of(Execute, out)] == ["r-9", "r-8"]  # 2 slots
    assert h.state.task_states_counts()["queued"] == 8
    sent = h.of(Execute, h.run_all(out))
    assert [e.key for e in sent] == [f"r-{i}" for i in range(9, -1, -1)]


def test_slots_follow_saturation_and_threads(harness):
    h = harness(worker_saturation=1.5)
    h.join("a", nthreads=2)  # ceil(1.5 * 2) = 3
    h.join("b", nthreads=1)  # ceil(1.5 * 1) = 2
    out = h(GraphSubmitted("c", roots(20), list(roots(20))))
    placed = [e.worker for e in h.of(Execute, out)]
    assert placed.count("a") == 3 and placed.count("b") == 2
    out = h(WorkerJoined("late", 4))
    assert [e.worker for e in h.of(Execute, out)] == ["late"] * 6


def test_siblings_land_on_the_same_worker(harness):
    """Queued roots fill one worker's slots with neighbours, so reductions stay local."""
    h = harness(worker_saturation=2.0)
    h.join("a", "b", nthreads=1)
    tasks = {f"x-{i}": TaskSpec(priority=(3 * i,)) for i in range(4)}
    tasks |= {f"s-{i}": TaskSpec((f"x-{2 * i}", f"x-{2 * i + 1}"), priority=(7 * i + 2,)) for i in range(2)}
    out = h(GraphSubmitted("c", tasks, ["s-0", "s-1"]))
    where = {e.key: e.worker for e in h.of(Execute, out)}
    assert where["x-0"] == where["x-1"] != where["x-2"] == where["x-3"]
    for ex in h.of(Execute, out):
        later = h.of(Execute, h.finish(ex, nbytes=10**6))
        for s in later:
            assert s.worker == where[next(iter(s.who_has))]


def test_no_queuing_when_saturation_is_infinite(harness):
    h = harness(worker_saturation=float("inf"))
    h.join("a", "b", nthreads=1)
    out = h(GraphSubmitted("c", roots(10), list(roots(10))))
    placed = [e.worker for e in h.of(Execute, out)]
    assert len(placed) == 10 and placed.count("a") == 5
    assert h.state.task_states_counts()["queued"] == 0


def test_task_goes_where_its_big_input_is(h):
    h.join("a", "b", "c")
    h(DataScattered("cl", "a", {"big": 10**9}), DataScattered("cl", "b", {"small": 10}))
    out = h.submit({"f": ("big", "small")}, ["f"])
    assert [(e.key, e.worker) for e in h.of(Execute, out)] == [("f", "a")]
    assert h.of(Execute, out)[0].who_has == {"big": ("a",), "small": ("b",)}

    h(DataScattered("cl", "c", {"big2": 10**9}))
    out = h.submit({"g": ("big2", "small")}, ["g"])
    assert h.of(Execute, out)[0].worker == "c"


def test_busy_holder_loses_to_idle_worker_when_transfer_is_cheap(h):
    h.join("a", "b")
    h(DataScattered("cl", "a", {"tiny": 100}))
    out = h.submit({f"f-{i}": ("tiny",) for i in range(6)}, [f"f-{i}" for i in range(6)])
    placed = [e.worker for e in h.of(Execute, out)]
    assert "b" in placed and "a" in placed


def test_workers_restriction(h):
    h.join("a", "b")
    out = h.submit({"x": TaskSpec(workers=("b",))}, ["x"])
    assert [e.worker for e in h.of(Execute, out)] == ["b"]
    out = h.submit({"y": TaskSpec(workers=("zzz",))}, ["y"])
    assert h.of(Execute, out) == [] and h.state.task_state("y") == "no-worker"
    assert "restricted to workers ['zzz']" in h.state.why_waiting("y")
    out = h.join("zzz")
    assert [(e.key, e.worker) for e in h.of(Execute, out)] == [("y", "zzz")]


def test_resources_are_held_while_running(h):
    h.join("cpu", nthreads=4)
    h.join("gpu", nthreads=4, resources={"GPU": 1})
    specs = {f"g-{i}": TaskSpec(resources={"GPU": 1}, priority=(i,)) for i in range(3)}
    out = h(GraphSubmitted("c", specs, list(specs)))
    assert [(e.key, e.worker, e.resources) for e in h.of(Execute, out)] == [("g-0", "gpu", {"GPU": 1})]
    assert h.state.task_states_counts()["no-worker"] == 2
    assert "held by running tasks" in h.state.why_waiting("g-1")
    out = h.finish(h.of(Execute, out)[0])
    assert [e.key for e in h.of(Execute, out)] == ["g-1"]

    out = h(GraphSubmitted("c", {"huge": TaskSpec(resources={"GPU": 2})}, ["huge"]))
    assert "no allowed worker has the resources" in h.state.why_waiting("huge")


def test_paused_worker_gets_no_new_work(h):
    h.join("a", "b")
    h(WorkerHeartbeat("a", 1.0, paused=True))
    out = h(GraphSubmitted("c", roots(6), list(roots(6))))
    assert {e.worker for e in h.of(Execute, out)} == {"b"}
    out = h(WorkerHeartbeat("a", 2.0, paused=False))
    assert {e.worker for e in h.of(Execute, out)} == {"a"}


def test_idle_worker_steals_unstarted_work(harness):
    h = harness(worker_saturation=float("inf"))
    h.join("a", nthreads=1)
    out = h(GraphSubmitted("c", roots(8), list(roots(8))))
    assert len(h.of(Execute, out)) == 8
    h.join("b", nthreads=1)
    out = h(Tick(1.0))
    (req,) = h.of(RequestSteal, out)
    assert req.worker == "a" and req.key == "r-7"  # the last one a would run
    old_attempt = req.attempt

    out = h(StealConfirmed("a", req.key, req.attempt))
    (ex,) = h.of(Execute, out)
    assert (ex.worker, ex.key) == ("b", "r-7") and ex.attempt > old_attempt
    assert h.state.processing_on("b") == ("r-7",)

    # a late completion of the stolen attempt is stale
    out = h(TaskFinished("a", "r-7", old_attempt, 1, 0.1))
    assert h.state.stale_messages == 1 and h.state.task_state("r-7") == "processing"


def test_steal_refused_keeps_the_task(harness):
    h = harness(worker_saturation=float("inf"))
    h.join("a", nthreads=1)
    h(GraphSubmitted("c", roots(4), list(roots(4))))
    h.join("b", nthreads=1)
    (req,) = h.of(RequestSteal, h(Tick(1.0)))
    out = h(StealRefused("a", req.key, req.attempt))
    assert out == [] and h.state.processing_on("a")[-1] == req.key
    assert h.state.workers["b"].incoming == 0


def test_worker_finishing_early_triggers_stealing(harness):
    h = harness(worker_saturation=float("inf"))
    h.join("a", "b", nthreads=1)
    h(DataScattered("cl", "a", {"d": 1}))
    out = h.submit({f"f-{i}": ("d",) for i in range(8)}, [f"f-{i}" for i in range(8)])
    by_worker = {}
    for e in h.of(Execute, out):
        by_worker.setdefault(e.worker, []).append(e)
    assert len(by_worker["b"]) < len(by_worker["a"])
    for ex in by_worker["b"]:
        out = h.finish(ex)
    assert h.of(RequestSteal, out) and h.of(RequestSteal, out)[0].worker == "a"


def test_stolen_task_whose_thief_died_is_placed_again(harness):
    h = harness(worker_saturation=float("inf"))
    h.join("a", nthreads=1)
    h(GraphSubmitted("c", roots(4), list(roots(4))))
    h.join("b", nthreads=1)
    (req,) = h.of(RequestSteal, h(Tick(1.0)))
    from scheduler.events import WorkerLeft

    h(WorkerLeft("b", "gone"))
    out = h(StealConfirmed("a", req.key, req.attempt))
    assert [(e.worker, e.key) for e in h.of(Execute, out)] == [("a", req.key)]
    assert not h.of(CancelExecution, out)
