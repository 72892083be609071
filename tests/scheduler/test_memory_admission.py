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


def test_without_a_limit_or_a_known_size_admission_changes_nothing(harness):
    h = harness(worker_saturation=1.0)
    h(WorkerJoined("nolimit", 3, 0), WorkerJoined("limited", 3, LIMIT))
    admission.learn_nbytes(h.state, "known", 10**6)
    h(WorkerHeartbeat("limited", 1.0, managed_bytes=700, process_bytes=790))
    out = h(GraphSubmitted("c", roots(12, "fresh"), list(roots(12, "fresh"))))  # size unknown
    placed = [e.worker for e in h.of(Execute, out)]
    assert placed.count("nolimit") == 3 and placed.count("limited") == 3
    h.run_all(out)
    out = h(GraphSubmitted("c", roots(6, "known"), list(roots(6, "known"))))
    assert [e.worker for e in h.of(Execute, out)].count("nolimit") == 3


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
