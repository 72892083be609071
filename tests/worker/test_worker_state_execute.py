"""WorkerState: running tasks, attempts, cancellation, release, the log."""

import pytest

from worker.events import (
    CancelRequested,
    DataScattered,
    FetchCompleted,
    FreeKeysRequested,
    PauseChanged,
    TaskCompleted,
    TaskRaised,
)
from worker.instructions import (
    FetchFromPeer,
    ReleaseData,
    RunTask,
    SendKeysReleased,
    SendTaskErred,
    SendTaskFinished,
)
from worker.state import InvalidWorkerTransition
from worker.testing import ME, A, execute, make_state, only, states


def done(key, attempt=1, nbytes=8):
    return TaskCompleted(key, attempt, nbytes, "int", 1.0, 2.0)


def test_execute_without_dependencies_runs_and_reports():
    ws = make_state()
    assert ws.handle(execute("x")) == [RunTask("x", 1, b"run x")]
    assert states(ws) == {"x": "executing"}
    assert ws.handle(done("x")) == [SendTaskFinished("x", 1, 8, "int", 1.0, 2.0)]
    assert states(ws) == {"x": "memory"}


def test_execute_with_local_dependency_needs_no_fetch():
    ws = make_state()
    ws.handle(execute("x"), done("x"))
    out = ws.handle(execute("y", deps={"x": [ME]}, nbytes={"x": 8}))
    assert out == [RunTask("y", 1, b"run y")]
    # x is the scheduler's: it stays after y is done
    ws.handle(done("y"))
    assert states(ws) == {"x": "memory", "y": "memory"}


def test_dependency_computed_here_is_waited_for():
    ws = make_state()
    ws.handle(execute("x"))
    # the scheduler would not do this, but the worker copes: y waits for x
    assert ws.handle(execute("y", deps={"x": [ME]})) == []
    assert states(ws) == {"x": "executing", "y": "waiting"}
    out = ws.handle(done("x"))
    assert only(out, RunTask) == [RunTask("y", 1, b"run y")]


def test_priority_order_of_runs():
    ws = make_state(nthreads=1)
    ws.handle(execute("z", priority=(0,)))
    out = ws.handle(
        execute("a", priority=(3,)),
        execute("b", priority=(1,)),
        execute("c", priority=(2,)),
    )
    assert out == []
    assert [i.key for i in only(ws.handle(done("z")), RunTask)] == ["b"]
    assert [i.key for i in only(ws.handle(done("b")), RunTask)] == ["c"]
    assert [i.key for i in only(ws.handle(done("c")), RunTask)] == ["a"]


def test_new_attempt_with_higher_priority_moves_up_the_queue():
    ws = make_state(nthreads=1)
    ws.handle(execute("z"), execute("a", priority=(5,)), execute("b", priority=(3,)))
    ws.handle(execute("a", attempt=2, priority=(1,)))
    assert only(ws.handle(done("z")), RunTask) == [RunTask("a", 2, b"run a")]


def test_nthreads_caps_concurrent_runs():
    ws = make_state(nthreads=2)
    out = ws.handle(*(execute(f"t{i}", priority=(i,)) for i in range(5)))
    assert [i.key for i in only(out, RunTask)] == ["t0", "t1"]
    assert len(ws.running) == 2
    out = ws.handle(done("t1"))
    assert [i.key for i in only(out, RunTask)] == ["t2"]
    assert sorted(ws.running) == ["t0", "t2"]


def test_pause_stops_new_runs_and_fetches_and_unpause_resumes():
    ws = make_state(nthreads=1)
    ws.handle(execute("x"))
    assert ws.handle(PauseChanged(True)) == []
    out = ws.handle(execute("y"), execute("z", deps={"d": [A]}), done("x"))
    assert only(out, RunTask) == [] and only(out, FetchFromPeer) == []
    assert states(ws)["y"] == "ready" and states(ws)["d"] == "fetch"
    out = ws.handle(PauseChanged(False))
    assert only(out, RunTask) == [RunTask("y", 1, b"run y")]
    assert only(out, FetchFromPeer) == [FetchFromPeer(A, ("d",), 1024)]


def test_running_task_keeps_running_while_paused():
    ws = make_state()
    ws.handle(execute("x"), PauseChanged(True))
    assert ws.handle(done("x")) == [SendTaskFinished("x", 1, 8, "int", 1.0, 2.0)]


def test_stale_completion_is_dropped_and_counted():
    ws = make_state()
    ws.handle(execute("x", attempt=1))
    assert ws.handle(CancelRequested("x", 1)) == []
    assert states(ws) == {"x": "cancelled"}
    # re-assigned here while attempt 1 still runs: 2 waits for the thread
    assert ws.handle(execute("x", attempt=2)) == []
    assert states(ws) == {"x": "ready"}
    out = ws.handle(done("x", attempt=1))
    assert out == [RunTask("x", 2, b"run x"), ReleaseData(("x",))]
    assert ws.stale_completions == 1
    out = ws.handle(done("x", attempt=2))
    assert out == [SendTaskFinished("x", 2, 8, "int", 1.0, 2.0)]


def test_completion_of_unknown_attempt_is_dropped():
    ws = make_state()
    ws.handle(execute("x", attempt=3))
    assert ws.handle(done("x", attempt=2)) == [ReleaseData(("x",))]
    assert ws.handle(done("y", attempt=1)) == [ReleaseData(("y",))]
    assert ws.stale_completions == 2
    assert states(ws) == {"x": "executing"}


def test_stale_error_is_dropped_too():
    ws = make_state()
    ws.handle(execute("x"), CancelRequested("x", 1))
    assert ws.handle(TaskRaised("x", 1, b"exc", "tb", 1.0, 2.0)) == []
    assert ws.stale_completions == 1 and ws.tasks == {}


def test_cancel_while_ready_drops_the_task():
    ws = make_state(nthreads=1)
    ws.handle(execute("z"), execute("x"))
    assert ws.handle(CancelRequested("x", 1)) == []
    assert "x" not in ws.tasks
    assert only(ws.handle(done("z")), RunTask) == []


def test_cancel_while_executing_reports_nothing_and_releases_when_done():
    ws = make_state(nthreads=1)
    ws.handle(execute("x"), execute("y"))
    assert ws.handle(CancelRequested("x", 1)) == []
    assert states(ws) == {"x": "cancelled", "y": "ready"}  # x still holds the thread
    out = ws.handle(done("x"))
    assert out == [RunTask("y", 1, b"run y"), ReleaseData(("x",))]
    assert "x" not in ws.tasks and ws.stale_completions == 1


def test_cancel_of_another_attempt_is_ignored():
    ws = make_state()
    ws.handle(execute("x", attempt=2))
    assert ws.handle(CancelRequested("x", 1)) == []
    assert states(ws) == {"x": "executing"}


def test_cancel_after_finishing_drops_the_value():
    ws = make_state()
    ws.handle(execute("x"), done("x"))
    out = ws.handle(CancelRequested("x", 1))
    assert out == [ReleaseData(("x",)), SendKeysReleased(("x",))]
    assert ws.tasks == {}


def test_cancel_of_dependent_cancels_its_transfer():
    ws = make_state()
    ws.handle(execute("y", deps={"d": [A]}))
    assert states(ws) == {"y": "waiting", "d": "flight"}
    assert ws.handle(CancelRequested("y", 1)) == []
    assert states(ws) == {"d": "cancelled"}
    assert ws.handle(FetchCompleted(A, {"d": 5})) == [ReleaseData(("d",))]
    assert ws.tasks == {}


def test_free_keys_releases_data():
    ws = make_state()
    ws.handle(execute("x"), done("x"))
    assert ws.handle(FreeKeysRequested(("x", "unknown"))) == [ReleaseData(("x",))]
    assert ws.tasks == {}


def test_free_keys_keeps_data_a_local_task_still_needs():
    ws = make_state()
    ws.handle(execute("x"), done("x"))
    ws.handle(execute("y", deps={"x": [ME], "d": [A]}))
    assert ws.handle(FreeKeysRequested(("x",))) == []
    assert states(ws)["x"] == "memory"
    ws.handle(FetchCompleted(A, {"d": 5}))
    out = ws.handle(done("y"))
    # d was a copy fetched here: its release is announced; x the scheduler freed
    assert out[0] == SendTaskFinished("y", 1, 8, "int", 1.0, 2.0)
    assert out[1:] == [ReleaseData(("x", "d")), SendKeysReleased(("d",))]
    assert states(ws) == {"y": "memory"}


def test_free_keys_of_running_task_cancels_it():
    ws = make_state()
    ws.handle(execute("x"))
    assert ws.handle(FreeKeysRequested(("x",))) == []
    assert states(ws) == {"x": "cancelled"}
    assert ws.handle(done("x")) == [ReleaseData(("x",))]


def test_error_is_reported_and_kept_until_freed():
    ws = make_state()
    ws.handle(execute("x"))
    out = ws.handle(TaskRaised("x", 1, b"pickled", "Traceback...", 1.0, 2.0))
    assert out == [SendTaskErred("x", 1, b"pickled", "Traceback...")]
    assert states(ws) == {"x": "error"}
    assert ws.handle(FreeKeysRequested(("x",))) == []
    assert ws.tasks == {}


def test_retry_after_error_runs_again():
    ws = make_state()
    ws.handle(execute("x"), TaskRaised("x", 1, b"e", "tb", 1.0, 2.0))
    assert ws.handle(execute("x", attempt=2)) == [RunTask("x", 2, b"run x")]


def test_execute_of_a_key_already_in_memory_reports_it():
    ws = make_state()
    ws.handle(execute("x"), done("x"))
    out = ws.handle(execute("x", attempt=7))
    assert out == [SendTaskFinished("x", 7, 8, "int", 1.0, 2.0)]


def test_duplicate_execute_is_ignored():
    ws = make_state()
    ws.handle(execute("x"))
    assert ws.handle(execute("x")) == []


def test_scattered_data_feeds_local_tasks():
    ws = make_state()
    ws.handle(DataScattered({"s": 100}))
    assert ws.handle(execute("y", deps={"s": [ME]})) == [RunTask("y", 1, b"run y")]
    ws.handle(done("y"))
    assert states(ws) == {"s": "memory", "y": "memory"}  # the scheduler holds s


def test_scatter_over_a_pending_fetch_lands_it():
    ws = make_state()
    ws.handle(execute("y", deps={"s": [A]}))
    out = ws.handle(DataScattered({"s": 100}))
    assert out == [RunTask("y", 1, b"run y")]
    assert ws.handle(FetchCompleted(A, {"s": 100})) == []  # already in memory


def test_story_tells_the_life_of_a_key():
    ws = make_state()
    ws.handle(execute("x"), done("x"), FreeKeysRequested(("x",)))
    story = ws.story("x")
    assert [e.kind for e in story] == [
        "ExecuteRequested",
        "transition",
        "transition",
        "transition",
        "RunTask",
        "TaskCompleted",
        "transition",
        "SendTaskFinished",
        "FreeKeysRequested",
        "transition",
        "transition",
        "ReleaseData",
    ]
    moves = [e.detail for e in story if e.kind == "transition"]
    assert moves == [
        ("released", "waiting"),
        ("waiting", "ready"),
        ("ready", "executing"),
        ("executing", "memory"),
        ("memory", "released"),
        ("released", "forgotten"),
    ]
    assert [e.stimulus for e in story if e.kind != "transition"] == [1, 1, 2, 2, 3, 3]
    assert ws.story("nothing") == []


def test_log_is_bounded():
    ws = make_state(log_length=10)
    ws.handle(*(execute(f"t{i}") for i in range(20)))
    assert len(ws.log) == 10


def test_unknown_event_is_a_type_error():
    ws = make_state()
    with pytest.raises(TypeError, match="not a worker event"):
        ws.handle("Execute")  # type: ignore[arg-type]


def test_same_events_give_same_instructions():
    def run():
        ws = make_state(nthreads=2)
        events = [
            execute("y", priority=(2,), deps={"a": [A, "tcp://b:1"], "b": [A]}),
            execute("z", priority=(1,), deps={"c": ["tcp://c:1"], "a": [A]}),
        ]
        return ws.handle(*events)

    assert run() == run()


def test_invalid_transition_carries_the_story():
    ws = make_state()
    ws.handle(execute("x"), done("x"))
    with pytest.raises(InvalidWorkerTransition, match="memory -> executing") as info:
        ws._transition(ws.tasks["x"], "executing")
    assert ("executing", "memory") in [e.detail for e in info.value.story]
