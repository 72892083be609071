"""Failures: retries, erred dependents, worker loss, KilledWorker, stale messages, silence."""

from __future__ import annotations

from scheduler.commands import CancelExecution, CloseWorker, Execute, FreeKeys, ReportErred, ReportInMemory
from scheduler.events import (
    TaskErred,
    TaskFinished,
    TaskMissingDependency,
    TaskSpec,
    Tick,
    WorkerHeartbeat,
    WorkerJoined,
    WorkerLeft,
)


def test_retries_run_again_with_new_attempts(h):
    h.join("w1")
    out = h.submit({"x": TaskSpec(retries=2, payload=b"p")}, ["x"])
    attempts = []
    for _ in range(2):
        (ex,) = h.of(Execute, out)
        attempts.append(ex.attempt)
        out = h.err(ex)
        assert not h.of(ReportErred, out)
    (ex,) = h.of(Execute, out)
    assert ex.attempt > attempts[-1] > attempts[0]
    out = h.finish(ex)
    assert h.of(ReportInMemory, out) == [ReportInMemory("c", "x", 1)]


def test_error_reaches_dependents_with_the_original_exception(h):
    h.join("w1")
    out = h.submit({"x": (), "y": ("x",), "z": ("y",), "other": ()}, ["z", "other"])
    ex_x = next(e for e in h.of(Execute, out) if e.key == "x")
    out = h(TaskErred("w1", "x", ex_x.attempt, b"\x80pickled-ZeroDivisionError", "Traceback...\n"))
    (err,) = h.of(ReportErred, out)
    assert (err.key, err.blamed, err.kind) == ("z", "x", "dependency")
    assert err.exception == b"\x80pickled-ZeroDivisionError" and err.traceback == "Traceback...\n"
    assert "upstream task 'x' failed" in err.reason
    assert h.state.task_state("z") == "erred" and "failed" in h.state.why_waiting("z")
    # resubmitting an erred key reports the error right away
    out = h.submit({"z": ("y",)}, ["z"], client="c2")
    assert h.of(ReportErred, out)[0].client == "c2"


def test_erred_keys_are_forgotten_when_released(h):
    from scheduler.events import ClientReleasedKeys

    h.join("w1")
    out = h.submit({"x": (), "y": ("x",)}, ["y"])
    h.err(h.of(Execute, out)[0])
    assert set(h.state.tasks) == {"x", "y"}
    h(ClientReleasedKeys("c", ["y"]))
    assert h.state.tasks == {}


def test_worker_loss_reschedules_and_recomputes_from_lineage(h):
    h.join("a", "b")
    out = h.submit({"x": (), "y": ("x",), "z": ("y",)}, ["z"])
    (ex,) = h.of(Execute, out)
    assert ex.worker == "a"
    (ey,) = h.of(Execute, h.finish(ex, nbytes=10**8))
    assert ey.worker == "a"
    out = h.finish(ey, nbytes=10**8)
    (ez,) = h.of(Execute, out)
    assert h.state.task_state("x") == "released"  # freed, kept as lineage

    # z runs on a; killing a loses y and z's execution; x and y are recomputed
    out = h(WorkerLeft("a", "OOM"))
    assert not h.of(CancelExecution, out)
    (again,) = h.of(Execute, out)
    assert (again.key, again.worker) == ("x", "b")
    assert h.state.task_states_counts() == {
        "released": 0, "waiting": 2, "queued": 0, "no-worker": 0, "processing": 1, "memory": 0, "erred": 0,
    }
    sent = h.of(Execute, h.run_all(out))
    assert [e.key for e in sent] == ["x", "y", "z"]
    assert h.state.task_state("z") == "memory"
    assert h.state.tasks["z"].killed_on == ("a",)


def test_dependents_processing_elsewhere_go_back_when_input_is_lost(h):
    h.join("a", "b")
    (ex,) = h.of(Execute, h.submit({"x": ()}, ["x"]))
    h.finish(ex)
    holder, other = ex.worker, "b" if ex.worker == "a" else "a"
    (ey,) = h.of(Execute, h.submit({"y": TaskSpec(("x",), workers=(other,))}, ["y"]))
    assert ey.worker == other and ey.who_has == {"x": (holder,)}
    out = h(WorkerLeft(holder, "crash"))
    # y's input vanished: y is cancelled on the other worker and waits for x again
    assert h.of(CancelExecution, out) == [CancelExecution(other, "y", ey.attempt)]
    assert h.state.task_state("y") == "waiting"
    (ex,) = h.of(Execute, out)
    assert ex.key == "x"
    (ey2,) = h.of(Execute, h.finish(ex))
    assert ey2.key == "y" and ey2.attempt > ey.attempt


def test_killed_worker_after_allowed_failures(h):
    h.join("w0")
    out = h.submit({"bomb": TaskSpec(payload=b"p"), "after": ("bomb",)}, ["after"])
    for i in range(3):
        (ex,) = h.of(Execute, out)
        assert ex.key == "bomb"
        out = h(WorkerLeft(ex.worker, "process exited with signal 9"), WorkerJoined(f"w{i + 1}", 1))
        if i < 2:
            assert h.state.tasks["bomb"].state in ("queued", "processing")
    (err,) = h.of(ReportErred, out)
    assert (err.key, err.blamed, err.kind, err.exception) == ("after", "bomb", "dependency", None)
    bomb = h.state.tasks["bomb"]
    assert bomb.state == "erred" and bomb.error_kind == "killed-worker"
    assert "KilledWorker" in err.reason and "'bomb'" in err.reason
    assert "'w0', 'w1', 'w2'" in err.reason and "signal 9" in err.reason


def test_graceful_departure_is_not_held_against_a_task(h):
    h.join("w0")
    out = h.submit({"x": ()}, ["x"])
    for i in range(4):
        (ex,) = h.of(Execute, out)
        out = h(WorkerLeft(ex.worker, "retired", graceful=True), WorkerJoined(f"w{i + 1}", 1))
    assert h.state.task_state("x") == "processing" and h.state.tasks["x"].killed_on == ()


def test_stale_attempt_is_dropped_and_counted(h):
    h.join("a")
    (ex,) = h.of(Execute, h.submit({"x": TaskSpec(retries=1)}, ["x"]))
    (ex2,) = h.of(Execute, h.err(ex))
    # a duplicate completion of the first attempt arrives late
    out = h(TaskFinished("a", "x", ex.attempt, 1, 0.1))
    assert out == [] and h.state.stale_messages == 1
    assert h.state.task_state("x") == "processing"
    out = h(TaskErred("a", "x", ex.attempt, b"e", "tb"))
    assert out == [] and h.state.stale_messages == 2
    # from a worker the task is not assigned to
    h.join("b")
    out = h(TaskFinished("b", "x", ex2.attempt, 1, 0.1))
    assert out == [FreeKeys("b", ("x",))]  # its untracked copy must not leak
    assert h.state.stale_messages == 3
    assert [e[3] for e in h.state.story("x") if e[0] == "stale"][0].startswith("attempt")
    out = h.finish(ex2)
    assert h.of(ReportInMemory, out)


def test_result_of_a_released_task_is_freed(h):
    from scheduler.events import ClientReleasedKeys

    h.join("a")
    (ex,) = h.of(Execute, h.submit({"x": ()}, ["x"]))
    out = h(ClientReleasedKeys("c", ["x"]))
    assert out == [CancelExecution("a", "x", ex.attempt)]
    assert h.finish(ex) == [FreeKeys("a", ("x",))]
    assert h.state.tasks == {} and h.state.stale_messages == 1


def test_missing_dependency_drops_the_holder_and_recomputes(h):
    h.join("a", "b")
    out = h.submit({"x": (), "y": TaskSpec(("x",), workers=("b",))}, ["y"])
    (ex,) = h.of(Execute, out)
    (ey,) = h.of(Execute, h.finish(ex))
    assert ey.who_has == {"x": (ex.worker,)} and ey.worker == "b"
    out = h(TaskMissingDependency("b", "y", ey.attempt, "x", ex.worker))
    assert FreeKeys(ex.worker, ("x",)) in out
    (ex_again,) = h.of(Execute, out)
    assert ex_again.key == "x"
    (ey2,) = h.of(Execute, h.finish(ex_again))
    assert ey2.key == "y" and ey2.attempt > ey.attempt
    # stale report for the old attempt is dropped
    assert h(TaskMissingDependency("b", "y", ey.attempt, "x", ex.worker)) == []


def test_heartbeat_timeout_removes_silent_worker_on_tick(harness):
    h = harness(heartbeat_timeout=10.0)
    h.join("a", "b", now=0.0)
    (ex,) = h.of(Execute, h.submit({"x": ()}, ["x"]))
    assert ex.worker == "a"
    assert h(Tick(5.0)) == []
    h(WorkerHeartbeat("b", 8.0))
    out = h(Tick(15.0))
    assert h.of(CloseWorker, out)[0].worker == "a" and "no heartbeat" in h.of(CloseWorker, out)[0].reason
    assert list(h.state.workers) == ["b"]
    assert [(e.worker, e.key) for e in h.of(Execute, out)] == [("b", "x")]
    assert h.state.tasks["x"].killed_on == ("a",)
    out = h(WorkerHeartbeat("a", 16.0))
    assert out == [] and h.state.stale_messages == 1


def test_task_messages_count_as_signs_of_life(harness):
    h = harness(heartbeat_timeout=10.0)
    h.join("a", now=0.0)
    (ex,) = h.of(Execute, h.submit({"x": ()}, ["x"]))
    h.finish(ex, now=9.0)
    assert not h.of(CloseWorker, h(Tick(15.0)))


def test_same_name_rejoining_replaces_the_old_worker(h):
    h.join("a")
    (ex,) = h.of(Execute, h.submit({"x": ()}, ["x"]))
    out = h(WorkerJoined("a", 2))
    (ex2,) = h.of(Execute, out)
    assert ex2.attempt > ex.attempt and h.state.workers["a"].nthreads == 2
    assert h(TaskFinished("a", "x", ex.attempt, 1, 0.1)) == []
