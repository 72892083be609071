"""WorkerState: getting dependencies from peers."""

from worker.events import (
    CancelRequested,
    FetchCompleted,
    FetchFailed,
    PauseChanged,
    PeerMissingData,
    TaskCompleted,
)
from worker.instructions import (
    FetchFromPeer,
    ReleaseData,
    RunTask,
    SendAddKeys,
    SendKeysReleased,
    SendMissingDependency,
    SendTaskFinished,
)
from worker.testing import ME, A, B, C, D, execute, make_state, only, states


def done(key, attempt=1):
    return TaskCompleted(key, attempt, 8, "int", 1.0, 2.0)


def test_fetch_then_run_then_drop_the_copy():
    ws = make_state()
    out = ws.handle(execute("y", deps={"x": [A]}, nbytes={"x": 100}))
    assert out == [FetchFromPeer(A, ("x",), 100)]
    assert states(ws) == {"y": "waiting", "x": "flight"}
    out = ws.handle(FetchCompleted(A, {"x": 120}, now=5.0))
    assert out == [SendAddKeys(("x",)), RunTask("y", 1, b"run y")]
    out = ws.handle(done("y"))
    assert out == [
        SendTaskFinished("y", 1, 8, "int", 1.0, 2.0),
        ReleaseData(("x",)),
        SendKeysReleased(("x",)),
    ]
    assert states(ws) == {"y": "memory"}


def test_shared_dependency_is_fetched_once():
    ws = make_state(nthreads=2)
    out = ws.handle(
        execute("y", deps={"x": [A]}), execute("z", deps={"x": [A, B]}, priority=(1,))
    )
    assert only(out, FetchFromPeer) == [FetchFromPeer(A, ("x",), 1024)]
    out = ws.handle(FetchCompleted(A, {"x": 10}))
    assert [i.key for i in only(out, RunTask)] == ["y", "z"]
    # kept until the last local task needing it is done
    assert only(ws.handle(done("y")), ReleaseData) == []
    assert only(ws.handle(done("z")), ReleaseData) == [ReleaseData(("x",))]


def test_keys_from_one_peer_are_batched_in_priority_order():
    ws = make_state()
    out = ws.handle(
        PauseChanged(True),
        execute("y", priority=(2,), deps={"a": [A], "b": [A]}, nbytes={"a": 1, "b": 2}),
        execute("z", priority=(1,), deps={"c": [A]}, nbytes={"c": 3}),
        PauseChanged(False),
    )
    assert out == [FetchFromPeer(A, ("c", "a", "b"), 6)]


def test_batch_respects_the_byte_budget_and_one_transfer_per_peer():
    ws = make_state(transfer_batch_nbytes=100)
    deps = {k: [A] for k in "abc"}
    out = ws.handle(execute("y", deps=deps, nbytes={"a": 60, "b": 30, "c": 30}))
    assert out == [FetchFromPeer(A, ("a", "b"), 90)]
    out = ws.handle(FetchCompleted(A, {"a": 60, "b": 30}))
    assert only(out, FetchFromPeer) == [FetchFromPeer(A, ("c",), 30)]


def test_a_key_larger_than_the_budget_still_travels_alone():
    ws = make_state(transfer_batch_nbytes=10, incoming_bytes_limit=10)
    out = ws.handle(execute("y", deps={"a": [A], "b": [A]}, nbytes={"a": 50, "b": 5}))
    assert out == [FetchFromPeer(A, ("a",), 50)]


def test_concurrent_transfers_are_capped():
    ws = make_state(max_incoming_transfers=2)
    deps = {"a": [A], "b": [B], "c": [C], "d": [D]}
    out = ws.handle(execute("y", deps=deps))
    assert out == [FetchFromPeer(A, ("a",), 1024), FetchFromPeer(B, ("b",), 1024)]
    assert states(ws)["c"] == states(ws)["d"] == "fetch"
    out = ws.handle(FetchCompleted(B, {"b": 1}))
    assert only(out, FetchFromPeer) == [FetchFromPeer(C, ("c",), 1024)]


def test_incoming_bytes_are_capped():
    ws = make_state(incoming_bytes_limit=100)
    deps = {"a": [A], "b": [B], "c": [C]}
    out = ws.handle(execute("y", deps=deps, nbytes={"a": 60, "b": 60, "c": 30}))
    # a (60) starts; b (60) would exceed 100 in flight; c (30) fits
    assert only(out, FetchFromPeer) == [
        FetchFromPeer(A, ("a",), 60),
        FetchFromPeer(C, ("c",), 30),
    ]
    assert ws.incoming_nbytes == 90
    out = ws.handle(FetchCompleted(A, {"a": 60}))
    assert only(out, FetchFromPeer) == [FetchFromPeer(B, ("b",), 60)]


def test_failed_peer_is_replaced_by_another_holder():
    ws = make_state()
    out = ws.handle(execute("y", deps={"x": [B, A]}))
    assert out == [FetchFromPeer(A, ("x",), 1024)]
    out = ws.handle(FetchFailed(A, ("x",), reason="connection refused", now=1.0))
    assert out == [FetchFromPeer(B, ("x",), 1024)]
    out = ws.handle(FetchCompleted(B, {"x": 3}))
    assert only(out, RunTask) == [RunTask("y", 1, b"run y")]


def test_a_dead_peer_is_dropped_as_holder_of_every_key():
    ws = make_state(max_incoming_transfers=1)
    ws.handle(execute("y", deps={"x": [A, B], "w": [A, C]}))
    assert ws.transfers.keys() == {A}
    ws.handle(FetchFailed(A, tuple(ws.transfers[A].keys)))
    assert all(A not in ts.who_has for ts in ws.tasks.values())


def test_peer_without_the_data_is_replaced_by_another_holder():
    ws = make_state()
    ws.handle(execute("y", deps={"x": [A, B], "w": [A]}))
    assert ws.transfers[A].keys.keys() == {"x", "w"}
    # A sent w but not x
    out = ws.handle(FetchCompleted(A, {"w": 1}))
    assert only(out, FetchFromPeer) == [FetchFromPeer(B, ("x",), 1024)]
    assert A in ws.tasks["x"].failed_holders


def test_peer_missing_data_for_a_queued_key_picks_another_holder():
    ws = make_state(max_incoming_transfers=1)
    ws.handle(execute("y", deps={"x": [A], "w": [B, C]}))
    assert ws.transfers.keys() == {A}
    ws.handle(PeerMissingData(B, ("w",)))
    out = ws.handle(FetchCompleted(A, {"x": 1}))
    assert only(out, FetchFromPeer) == [FetchFromPeer(C, ("w",), 1024)]


def test_all_holders_failing_reports_the_missing_dependency():
    ws = make_state()
    ws.handle(execute("y", attempt=4, deps={"x": [A, B], "w": [C]}))
    ws.handle(FetchFailed(A, ("x",)))
    out = ws.handle(FetchCompleted(B, {}))
    assert out == [SendMissingDependency("y", 4, "x", (A, B))]
    # y is dropped for the scheduler to reassign; w is no longer needed
    assert states(ws) == {"w": "cancelled"}
    assert ws.handle(FetchCompleted(C, {"w": 1})) == [ReleaseData(("w",))]
    assert ws.tasks == {}


def test_dependency_without_any_holder_is_reported_at_once():
    ws = make_state()
    out = ws.handle(execute("y", attempt=2, deps={"x": []}))
    assert out == [SendMissingDependency("y", 2, "x", ())]
    assert ws.tasks == {}


def test_holder_list_naming_only_this_worker_is_no_holder():
    ws = make_state()
    out = ws.handle(execute("y", deps={"x": [ME]}))
    assert out == [SendMissingDependency("y", 1, "x", ())]


def test_reassignment_brings_new_holders():
    ws = make_state()
    ws.handle(execute("y", attempt=1, deps={"x": [A]}))
    ws.handle(FetchFailed(A, ("x",)))
    assert ws.tasks == {}
    out = ws.handle(execute("y", attempt=2, deps={"x": [B]}))
    assert out == [FetchFromPeer(B, ("x",), 1024)]


def test_transfer_of_a_cancelled_dependency_resumes_when_needed_again():
    ws = make_state()
    ws.handle(execute("y", deps={"x": [A]}), CancelRequested("y", 1))
    assert states(ws) == {"x": "cancelled"}
    assert ws.handle(execute("z", deps={"x": [A]})) == []  # no second transfer
    assert states(ws) == {"x": "flight", "z": "waiting"}
    out = ws.handle(FetchCompleted(A, {"x": 1}))
    assert out == [SendAddKeys(("x",)), RunTask("z", 1, b"run z")]


def test_fetch_waits_for_a_stale_run_of_the_same_key():
    ws = make_state(nthreads=2)
    ws.handle(execute("x"), CancelRequested("x", 1))
    # x was computed elsewhere meanwhile; y needs it from A
    assert ws.handle(execute("y", deps={"x": [A]})) == []
    assert states(ws)["x"] == "fetch"
    out = ws.handle(done("x"))  # the stale run: dropped, then the transfer starts
    assert out == [FetchFromPeer(A, ("x",), 1024), ReleaseData(("x",))]
    assert ws.stale_completions == 1


def test_task_is_assigned_here_while_its_value_is_in_flight():
    ws = make_state()
    ws.handle(execute("y", deps={"x": [A]}))
    # the scheduler gives up on the copy at A and asks this worker to compute x
    assert ws.handle(execute("x", attempt=2)) == []
    assert states(ws) == {"y": "waiting", "x": "ready"}  # waits for its transfer
    out = ws.handle(FetchCompleted(A, {"x": 1}))
    assert out == [RunTask("x", 2, b"run x"), ReleaseData(("x",))]
    out = ws.handle(done("x", attempt=2))
    assert out[0] == SendTaskFinished("x", 2, 8, "int", 1.0, 2.0)
    assert out[1] == RunTask("y", 1, b"run y")
