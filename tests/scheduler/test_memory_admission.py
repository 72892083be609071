"""Memory-aware admission, memory reports, and results a restarted worker recovered."""

from __future__ import annotations

from scheduler import admission
from scheduler.commands import CancelExecution, Execute, FreeKeys, ReportErred, ReportInMemory
from scheduler.events import (
    GraphSubmitted,
    TaskFinished,
    TaskSpec,
    WorkerHeartbeat,
    WorkerJoined,
    WorkerLeft,
)
from scheduler.why import explain

LIMIT = 1000


def roots(n, prefix="big", start=0):
    return {f"{prefix}-{i}": TaskSpec(priority=(i,)) for i in range(start, start + n)}


def learn_size(h, worker, nbytes, prefix="big"):
    """Run one root task of ``prefix`` on ``worker``, reporting ``nbytes`` of output."""
    (ex,) = h.of(Execute, h(GraphSubmitted("learn", roots(1, prefix, start=999), [f"{prefix}-999"])))
    assert ex.worker == worker
    h(TaskFinished(ex.worker, ex.key, ex.attempt, nbytes, 0.1))


def test_root_tasks_are_released_only_into_free_memory(harness):
    h = harness(worker_saturation=1.0)
    h(WorkerJoined("a", 4, LIMIT))
    learn_size(h, "a", 300)
    h(WorkerHeartbeat("a", 1.0, managed_bytes=50, process_bytes=100))
    out = h(GraphSubmitted("c", roots(8), list(roots(8))))
    # 4 free slots, but 0.8 * 1000 - 100 leaves room for two outputs of 300 (the first
    # always goes: a worker with nothing to do is never starved)
    first = h.of(Execute, out)
    assert [e.key for e in first] == ["big-0", "big-1"]
    assert h.state.task_states_counts()["queued"] == 6
    assert h.state.workers["a"].expected_nbytes == 600
    assert admission.room(h.state, h.state.workers["a"]) == 100
    # one finishes: its output is now counted by the worker (next heartbeat), one more fits
    nxt = h.of(Execute, h.finish(first[0], nbytes=300))
    assert [e.key for e in nxt] == ["big-2"]
    h(WorkerHeartbeat("a", 2.0, managed_bytes=350, process_bytes=400))  # memory grew
    assert not h.of(Execute, h.finish(first[1], nbytes=300))
    assert not h.state.workers["a"].processing or len(h.state.workers["a"].processing) == 1


def test_a_worker_with_nothing_processing_always_gets_a_task(harness):
    h = harness(worker_saturation=2.0)
    h(WorkerJoined("a", 2, LIMIT))
    learn_size(h, "a", 300)
    h(WorkerHeartbeat("a", 1.0, managed_bytes=850, process_bytes=900))  # no room at all
    out = h(GraphSubmitted("c", roots(5), list(roots(5))))
    assert [e.key for e in h.of(Execute, out)] == ["big-0"]


def test_without_a_limit_admission_changes_nothing_and_an_unknown_prefix_is_probed(harness):
    h = harness(worker_saturation=1.0)
    h(WorkerJoined("nolimit", 3, 0), WorkerJoined("limited", 3, LIMIT))
    admission.learn_nbytes(h.state, "known", 10**6)
    h(WorkerHeartbeat("limited", 1.0, managed_bytes=200, process_bytes=300))
    first = h(GraphSubmitted("c", roots(12, "fresh"), list(roots(12, "fresh"))))  # size unknown
    placed = [e.worker for e in h.of(Execute, first)]
    # no limit: all slots; limited: one task first, to learn what a "fresh" task needs
    assert placed.count("nolimit") == 3 and placed.count("limited") == 1
    probe = next(e for e in h.of(Execute, first) if e.worker == "limited")
    assert "runs one of them first" in admission.blocked_by_memory(
        h.state, h.state.workers["limited"], h.state.tasks["fresh-11"]
    )
    # it teaches a small size: the limited worker's other slots fill at once
    out = h(TaskFinished("limited", probe.key, probe.attempt, 10, 0.1, running_nbytes=5))
    assert [e.worker for e in h.of(Execute, out)] == ["limited"] * 3
    h.run_all([e for e in first if e is not probe] + out)
    assert h.state.task_states_counts()["memory"] == 12
    out = h(GraphSubmitted("c", roots(6, "known"), list(roots(6, "known"))))
    assert [e.worker for e in h.of(Execute, out)].count("nolimit") == 3


def test_infinite_memory_admission_turns_admission_off(harness):
    h = harness(worker_saturation=1.0, memory_admission=float("inf"))
    h(WorkerJoined("a", 3, LIMIT))
    learn_size(h, "a", 700)
    h(WorkerHeartbeat("a", 1.0, managed_bytes=700, process_bytes=900))
    out = h(GraphSubmitted("c", roots(6) | roots(6, "fresh"), list(roots(6) | roots(6, "fresh"))))
    assert len(h.of(Execute, out)) == 3


def test_placement_prefers_a_worker_with_room_for_the_output(harness):
    h = harness(worker_saturation=float("inf"))
    h(WorkerJoined("a", 2, LIMIT), WorkerJoined("b", 2, LIMIT))
    out = h(GraphSubmitted("c", {"x": TaskSpec(priority=(0,)), "slow": TaskSpec(priority=(1,))}, ["x", "slow"]))
    by_key = {e.key: e for e in h.of(Execute, out)}
    holder = by_key["x"].worker
    other = "b" if holder == "a" else "a"
    h.finish(by_key["x"], nbytes=10)
    # learn that "grow" tasks make 400 bytes, and fill the holder's memory
    h(WorkerHeartbeat(holder, 1.0, managed_bytes=300, process_bytes=500))
    admission.learn_nbytes(h.state, "grow", 400)
    if by_key["slow"].worker != holder:  # keep the holder busy, so it is not trivially admitted
        h(GraphSubmitted("c", {"busy": TaskSpec(priority=(2,), workers=(holder,))}, ["busy"]))
    out = h(GraphSubmitted("c", {"grow-1": TaskSpec(("x",), priority=(3,))}, ["grow-1"]))
    (ex,) = h.of(Execute, out)
    assert ex.worker == other  # locality would have said the holder; its memory says no


def test_memory_reports_are_kept_and_explain_a_killed_worker(harness):
    h = harness(allowed_failures=1)
    h(WorkerJoined("w", 1, LIMIT))
    (ex,) = h.of(Execute, h.submit({"hog": ()}, ["hog"]))
    reason = "terminating: process memory 960 B of 1000 B limit is over the terminate threshold (95%)"
    h(WorkerHeartbeat("w", 1.0, 100, 960, True, spilled_bytes=5, memory_reason=reason))
    ws = h.state.workers["w"]
    assert (ws.paused, ws.spilled_bytes, ws.memory_reason) == (True, 5, reason)
    (err,) = h.of(ReportErred, h(WorkerLeft("w", "connection lost")))
    assert err.kind == "killed-worker"
    assert "connection lost (its last memory report: terminating: process memory 960 B" in err.reason


# --- results a restarted worker found on its disk ---------------------------------------


def _persist_then_lose(h):
    """x and y are computed on "a" (the client wants both), then "a" dies."""
    out = h.submit({"x": (), "y": ("x",)}, ["x", "y"])
    h.run_all(out, nbytes=8)
    assert h.state.task_state("y") == "memory"
    return h(WorkerLeft("a", "connection lost"))


def test_recovered_results_are_used_instead_of_recomputed(h):
    h.join("a")
    out = _persist_then_lose(h)
    assert not h.of(Execute, out)  # nobody to run them on
    out = h(WorkerJoined("a2", 1, LIMIT, recovered={"x": 8, "y": 8}))
    assert not h.of(Execute, out)
    assert sorted(c.key for c in h.of(ReportInMemory, out)) == ["x", "y"]
    assert h.state.who_has(["x", "y"]) == {"x": ("a2",), "y": ("a2",)}
    assert h.state.workers["a2"].nbytes == 16


def test_a_recovered_result_cancels_its_recomputation_elsewhere(h):
    h.join("a", "b")
    out = h.submit({"x": TaskSpec(priority=(0,), workers=("a",))}, ["x"])
    h.run_all(out, nbytes=8)
    out = h(WorkerLeft("a", "connection lost"), WorkerJoined("b2", 1))
    assert h.state.task_state("x") == "no-worker"  # restricted to a: waits for it
    out = h(WorkerJoined("a", 1, LIMIT, recovered={"x": 8}))
    assert h.state.task_state("x") == "memory" and not h.of(Execute, out)

    # unrestricted: the recomputation has started on b when the restarted worker returns
    (ey,) = h.of(Execute, h.submit({"y": ()}, ["y"]))
    h.finish(ey, nbytes=8)
    lost_on = ey.worker
    out = h(WorkerLeft(lost_on, "connection lost"))
    (again,) = h.of(Execute, out)
    out = h(WorkerJoined("back", 1, LIMIT, recovered={"y": 8}))
    assert h.of(CancelExecution, out) == [CancelExecution(again.worker, "y", again.attempt)]
    assert h.state.who_has(["y"]) == {"y": ("back",)}
    # the cancelled run finishing anyway is stale, and its copy freed
    out = h(TaskFinished(again.worker, "y", again.attempt, 8, 0.1))
    assert FreeKeys(again.worker, ("y",)) in out and h.state.stale_messages == 1


def test_recovered_results_nobody_needs_are_freed_and_copies_become_replicas(h):
    h.join("a", "b")
    (ex,) = h.of(Execute, h.submit({"x": ()}, ["x"]))
    h.finish(ex, nbytes=8)
    out = h(WorkerJoined("c", 1, LIMIT, recovered={"x": 8, "forgotten-key": 3}))
    assert h.of(FreeKeys, out) == [FreeKeys("c", ("forgotten-key",))]
    assert set(h.state.who_has(["x"])["x"]) == {ex.worker, "c"}
    h(WorkerLeft(ex.worker, "connection lost"))
    assert h.state.task_state("x") == "memory"  # the recovered copy is enough


# --- memory a task needs while it runs ---------------------------------------------------

MiB = 2**20
GiB = 2**30


def test_running_memory_is_learned_per_prefix_and_admission_uses_the_larger_size(harness):
    h = harness(worker_saturation=1.0)
    h(WorkerJoined("a", 4, GiB))
    (ex,) = h.of(Execute, h(GraphSubmitted("c", roots(1, "temp", start=99), ["temp-99"])))
    # a small output, a large temporary while it ran
    h(TaskFinished("a", ex.key, ex.attempt, 1000, 0.5, running_nbytes=600 * MiB))
    assert admission.estimates(h.state)["temp"] == {"output": 1000, "running": 600 * MiB}
    h(WorkerHeartbeat("a", 1.0, managed_bytes=1000, process_bytes=100 * MiB))
    out = h(GraphSubmitted("c", roots(4, "temp"), list(roots(4, "temp"))))
    # 4 free slots and ~719 MiB of room: one task that needs 600 MiB while running
    assert [e.key for e in h.of(Execute, out)] == ["temp-0"]
    assert h.state.workers["a"].expected_nbytes == 600 * MiB
    ws, waiting = h.state.workers["a"], h.state.tasks["temp-1"]
    assert admission.blocked_by_memory(h.state, ws, waiting) == (
        "needs ~600 MiB while running, worker 'a' has 119.2 MiB free"
    )
    lines = [text for _, text in explain(h.state, "temp-1")]
    assert lines[0].startswith("'temp-1' is a root task queued at the scheduler")
    assert lines[1] == "waiting for memory: needs ~600 MiB while running, worker 'a' has 119.2 MiB free"
    # outputs of other prefixes still fit beside it
    admission.learn_nbytes(h.state, "small", 50 * MiB, 10 * MiB)
    out = h(GraphSubmitted("c", roots(1, "small"), ["small-0"]))
    assert h.of(Execute, out) == []  # queued behind temp-1 (priority order), which waits
    assert admission.admits(h.state, ws, h.state.tasks["small-0"])


def test_a_task_needing_more_than_any_limit_runs_alone_and_everything_finishes(harness):
    h = harness(worker_saturation=2.0)
    h(WorkerJoined("a", 2, GiB), WorkerJoined("b", 2, GiB))
    admission.learn_nbytes(h.state, "huge", 8, 3 * GiB)
    out = h(GraphSubmitted("c", roots(6, "huge"), list(roots(6, "huge"))))
    done = 0
    while True:
        running = h.of(Execute, out)
        if not running:
            break
        for ws in h.state.workers.values():
            assert len(ws.processing) <= 1  # alone on its worker, never stuck
        out = []
        for ex in running:
            out += h(TaskFinished(ex.worker, ex.key, ex.attempt, 8, 1.0, running_nbytes=3 * GiB))
            done += 1
    assert done == 6 and h.state.task_states_counts()["memory"] == 6


def test_an_overestimate_from_concurrent_runs_comes_back_down():
    from scheduler.state import SchedulerState

    s = SchedulerState()
    # two runs at once are each charged both temporaries, then runs alone measure one
    for measured in (800, 800, 400, 400, 400, 400):
        admission.learn_nbytes(s, "t", 8, measured * MiB)
    expected = 400 * MiB + 400 * MiB / 2**4  # a running average: each alone run halves the excess
    assert s._running_nbytes["t"] == expected
    admission.learn_nbytes(s, "t", 8, -1)  # not measured: the running estimate stays
    assert s._running_nbytes["t"] == expected


def _simulate(memory_admission: float):
    from scheduler.sim import Simulator
    from scheduler.state import SchedulerState

    state = SchedulerState(memory_admission=memory_admission, worker_saturation=1.1)
    sim = Simulator(
        state,
        duration=lambda key: 1.0,
        nbytes=lambda key: 1 * MiB,
        running_nbytes=lambda key: 400 * MiB,
        tick_interval=0.25,
    )
    workers = [sim.join(f"w{i}", nthreads=4, memory_limit=GiB) for i in range(3)]
    tasks = roots(24, "temp")
    sim.send(GraphSubmitted("c", tasks, list(tasks)))
    sim.run()
    assert all(sim.executions[k] == 1 for k in tasks)
    return max(w.peak_memory for w in workers)


def test_simulated_workers_stay_under_their_limit_only_with_admission():
    assert _simulate(float("inf")) > GiB  # four 400 MiB temporaries at once on 1 GiB
    assert _simulate(0.8) <= 0.8 * GiB


def test_running_estimates_below_the_noise_floor_count_as_nothing(harness):
    h = harness(worker_saturation=1.0)
    h(WorkerJoined("a", 4, GiB))
    admission.learn_nbytes(h.state, "tiny", 30, admission.RUNNING_NOISE - 1)
    admission.learn_nbytes(h.state, "temp", 30, admission.RUNNING_NOISE)
    h(GraphSubmitted("c", {"tiny-1": TaskSpec(priority=(0,)), "temp-1": TaskSpec(priority=(1,))}, ["tiny-1", "temp-1"]))
    need = {p: admission.expected_nbytes(h.state, h.state.tasks[f"{p}-1"]) for p in ("tiny", "temp")}
    assert need == {"tiny": 30, "temp": admission.RUNNING_NOISE}
