"""Client-side interest: reference counting, release, cancel, scatter."""

from __future__ import annotations

from scheduler.commands import (
    CancelExecution,
    Execute,
    FreeKeys,
    ReportCancelled,
    ReportErred,
    ReportInMemory,
    ReportLost,
)
from scheduler.events import (
    CancelRequested,
    ClientLeft,
    ClientReleasedKeys,
    DataScattered,
    KeysDropped,
    KeysReplicated,
    WorkerLeft,
)


def freed(out) -> list:
    return sorted(k for c in out if isinstance(c, FreeKeys) for k in c.keys)


def test_key_is_kept_while_any_client_wants_it(h):
    h.join("w")
    h.run_all(h.submit({"x": ()}, ["x"], client="c1"))
    out = h.submit({"x": ()}, ["x"], client="c2")
    assert out == [ReportInMemory("c2", "x", 1)]
    assert h(ClientReleasedKeys("c1", ["x"])) == []
    assert h.state.task_state("x") == "memory"
    assert h(ClientReleasedKeys("c1", ["x"])) == []  # releasing twice is harmless
    assert freed(h(ClientReleasedKeys("c2", ["x"]))) == ["x"]
    assert h.state.tasks == {} and h.state.clients == {}


def test_inputs_are_freed_once_no_dependent_needs_them(h):
    h.join("w")
    out = h.submit({"a": (), "b": (), "ab": ("a", "b"), "a2": ("a",)}, ["ab", "a2"])
    seen = h.run_all(out)
    assert freed(seen) == ["a", "b"]
    assert h.state.task_state("a") == "released"  # lineage of ab and a2
    assert freed(h(ClientReleasedKeys("c", ["ab"]))) == ["ab"]
    assert set(h.state.tasks) == {"a", "a2"}  # b forgotten with ab
    h(ClientReleasedKeys("c", ["a2"]))
    assert h.state.tasks == {}


def test_wanted_intermediate_stays_in_memory(h):
    h.join("w")
    seen = h.run_all(h.submit({"a": (), "b": ("a",)}, ["a", "b"]))
    assert freed(seen) == []
    assert h.state.task_states_counts()["memory"] == 2


def test_client_leaving_releases_everything_it_wanted(h):
    h.join("w")
    out = h.submit({"a": (), "b": ("a",), "c": ("b",)}, ["c"], client="gone")
    (ex,) = h.of(Execute, out)
    out = h(ClientLeft("gone"))
    assert out == [CancelExecution("w", "a", ex.attempt)]
    assert h.state.tasks == {} and h.state.task_states_counts()["processing"] == 0


def test_release_of_a_processing_chain_frees_what_is_done(h):
    h.join("w")
    (ex,) = h.of(Execute, h.submit({"a": (), "b": ("a",)}, ["b"]))
    (eb,) = h.of(Execute, h.finish(ex))
    out = h(ClientReleasedKeys("c", ["b"]))
    assert out == [CancelExecution("w", "b", eb.attempt), FreeKeys("w", ("a",))]
    assert h.state.tasks == {}


def test_cancel_reports_downstream_keys_for_that_client_only(h):
    h.join("w")
    h.submit({"x": (), "y": ("x",), "z": ("y",)}, ["y", "z"], client="c1")
    h.submit({"y": ("x",)}, ["y"], client="c2")
    out = h(CancelRequested("c1", ["x"]))
    assert sorted(c.key for c in h.of(ReportCancelled, out)) == ["y", "z"]
    assert {c.client for c in h.of(ReportCancelled, out)} == {"c1"}
    assert set(h.state.tasks) == {"x", "y"}  # c2 still wants y
    out = h(CancelRequested("c1", ["y"], force=True))
    assert h.of(ReportCancelled, out) == [ReportCancelled("c2", "y")]
    assert h.state.tasks == {}
    assert h.of(CancelExecution, out)


def test_scattered_data_is_used_and_lost_without_lineage(h):
    h.join("a", "b")
    out = h(DataScattered("c", "a", {"s": 1000}))
    assert out == [ReportInMemory("c", "s", 1000)]
    (ex,) = h.of(Execute, h.submit({"f": ("s",)}, ["f"]))
    assert ex.who_has == {"s": ("a",)} and ex.nbytes == {"s": 1000}
    h.finish(ex)
    out = h(WorkerLeft("a", "crash"))
    assert h.of(ReportLost, out) == [ReportLost("c", "s", h.state.tasks["s"].error_reason)]
    assert "scattered" in h.state.tasks["s"].error_reason
    if ex.worker == "a":  # f was lost too and cannot be recomputed
        (err,) = h.of(ReportErred, out)
        assert (err.key, err.blamed) == ("f", "s")
    h(ClientLeft("c"))
    assert h.state.tasks == {}


def test_scatter_to_an_unknown_worker_is_reported_lost(h):
    out = h(DataScattered("c", "nobody", {"s": 1}))
    assert [type(c) for c in out] == [ReportLost] and h.state.tasks == {}


def test_scatter_overrides_a_pending_computation(h):
    h.join("a")
    (ex,) = h.of(Execute, h.submit({"x": (), "y": ("x",)}, ["y"]))
    out = h(DataScattered("c", "a", {"x": 5}))
    assert CancelExecution("a", "x", ex.attempt) in out
    assert [e.key for e in h.of(Execute, out)] == ["y"]


def test_replicas_are_tracked_and_freed(h):
    h.join("a", "b")
    (ex,) = h.of(Execute, h.submit({"x": ()}, ["x"]))
    h.finish(ex, nbytes=10)
    other = "b" if ex.worker == "a" else "a"
    assert h(KeysReplicated(other, {"x": 10, "ghost": 3})) == [FreeKeys(other, ("ghost",))]
    assert sorted(h.state.who_has(["x"])["x"]) == ["a", "b"]
    assert h(KeysDropped(ex.worker, ("x",))) == []
    assert h.state.who_has(["x"]) == {"x": (other,)}
    out = h(KeysDropped(other, ("x",)))  # last copy gone: recompute
    assert [e.key for e in h.of(Execute, out)] == ["x"]
    assert freed(h(ClientReleasedKeys("c", ["x"]))) == []
