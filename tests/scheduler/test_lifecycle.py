"""A graph's life through the scheduler: submit, run, report, release, forget."""

from __future__ import annotations

import pytest

from scheduler.commands import Execute, FreeKeys, ReportErred, ReportInMemory
from scheduler.events import ClientReleasedKeys, GraphSubmitted, TaskSpec, Tick
from scheduler.records import key_prefix
from scheduler.state import SchedulerState
from scheduler.transitions import InvalidTransition


def diamond():
    return {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}


def test_diamond_end_to_end(h):
    h.join("w1", "w2")
    out = h.submit(diamond(), ["d"])
    (ex_a,) = h.of(Execute, out)
    assert ex_a.key == "a" and ex_a.payload == b"run-a" and ex_a.who_has == {}

    out = h.finish(ex_a, nbytes=100)
    ex_b, ex_c = h.of(Execute, out)
    assert {ex_b.key, ex_c.key} == {"b", "c"}
    assert ex_b.who_has == {"a": ("w1",)} and ex_b.nbytes == {"a": 100}
    assert h.state.task_state("a") == "memory"

    h.finish(ex_b)
    out = h.finish(ex_c)
    (ex_d,) = h.of(Execute, out)
    assert ex_d.key == "d"
    # a has no active dependents left: freed
    assert [k for f in h.of(FreeKeys, out) for k in f.keys] == ["a"]
    assert h.state.task_state("a") == "released"

    out = h.finish(ex_d, nbytes=7)
    assert h.of(ReportInMemory, out) == [ReportInMemory("c", "d", 7)]
    assert sorted(k for f in h.of(FreeKeys, out) for k in f.keys) == ["b", "c"]
    assert h.state.task_states_counts()["memory"] == 1
    assert h.state.who_has(["d"]) == {"d": (ex_d.worker,)}

    out = h(ClientReleasedKeys("c", ["d"]))
    assert h.of(FreeKeys, out) == [FreeKeys(ex_d.worker, ("d",))]
    assert h.state.tasks == {}
    assert h.state.has_what() == {"w1": (), "w2": ()}


def test_attempt_ids_are_unique_and_increasing(h):
    h.join("w1")
    out = h.run_all(h.submit({f"x-{i}": () for i in range(5)} | {"s": [f"x-{i}" for i in range(5)]}, ["s"]))
    attempts = [c.attempt for c in h.of(Execute, out)]
    assert attempts == sorted(set(attempts))


def test_priority_orders_execution_and_generation_breaks_ties(h):
    h.join("w1")
    specs = {k: TaskSpec(priority=(p,)) for k, p in [("late", 5), ("early", 1), ("mid", 3)]}
    out = h(GraphSubmitted("c", specs, ["late", "early", "mid"]))
    # one thread, saturation 1.1 -> 2 slots, best priority first
    assert [e.key for e in h.of(Execute, out)] == ["early", "mid"]
    out = h(GraphSubmitted("c", {"other": TaskSpec(priority=(0,))}, ["other"]))
    assert h.of(Execute, out) == []  # slots full
    out = h.finish(_execute_of(h, "early"))
    assert [e.key for e in h.of(Execute, out)] == ["late"]  # older submission first


def _execute_of(h, key):
    """An Execute equivalent to the one sent for `key` (for finishing it)."""
    ts = h.state.tasks[key]
    return Execute(ts.processing_on.name, key, ts.attempt, None, (), {}, {})


def test_user_priority_jumps_ahead(h):
    h.join("w1")
    h(GraphSubmitted("c", {f"a-{i}": TaskSpec(priority=(i,)) for i in range(4)}, [f"a-{i}" for i in range(4)]))
    h(GraphSubmitted("c", {"urgent": TaskSpec()}, ["urgent"], user_priority=10))
    out = h.finish(_execute_of(h, "a-0"))
    assert [e.key for e in h.of(Execute, out)] == ["urgent"]


def test_unreached_tasks_are_forgotten_at_once(h):
    h.join("w1")
    h.submit({"x": (), "y": ("x",), "unused": ("x",), "alone": ()}, ["y"])
    assert set(h.state.tasks) == {"x", "y"}


def test_resubmitting_known_keys_reuses_them(h):
    h.join("w1")
    out = h.submit({"x": ()}, ["x"])
    h.finish(h.of(Execute, out)[0])
    out = h.submit({"x": (), "y": ("x",)}, ["x", "y"], client="other")
    assert h.of(ReportInMemory, out) == [ReportInMemory("other", "x", 1)]
    assert [e.key for e in h.of(Execute, out)] == ["y"]


def test_invalid_graphs_err_with_a_reason(h):
    h.join("w1")
    out = h.submit({"x": ("nowhere",), "y": ("x",)}, ["y"])
    (err,) = h.of(ReportErred, out)
    assert (err.key, err.kind, err.blamed) == ("y", "dependency", "x")
    assert "'nowhere'" in err.reason and err.exception is None

    out = h.submit({"p": ("q",), "q": ("p",), "r": ("q",), "ok": ()}, ["r", "ok"], client="c2")
    (err,) = h.of(ReportErred, out)
    assert err.key == "r" and "cycle" in err.reason and err.kind == "invalid-graph"
    assert [e.key for e in h.of(Execute, out)] == ["ok"]

    out = h(GraphSubmitted("c3", {}, ["ghost"]))
    assert h.of(ReportErred, out)[0].reason.startswith("'ghost' is not in the submitted graph")


def test_story_and_why_waiting(h):
    out = h.submit({"x": (), "y": ("x",)}, ["y"])
    assert h.of(Execute, out) == []
    assert "queued" in h.state.why_waiting("x") and "0 running worker" in h.state.why_waiting("x")
    assert "waits for 1 input" in h.state.why_waiting("y") and "'x' (queued)" in h.state.why_waiting("y")
    out = h.join("w1")
    (ex,) = h.of(Execute, out)
    assert "processing on 'w1'" in h.state.why_waiting("x")
    h.finish(ex)
    story = h.state.story("x")
    transitions = [e[3:] for e in story if e[0] == "transition"]
    assert transitions == [("released", "waiting"), ("waiting", "queued"), ("queued", "processing"), ("processing", "memory")]
    assert any(e[0] == "command" and e[2] == ex for e in story)
    assert "not known" in h.state.why_waiting("nope")


def test_event_log_is_bounded():
    state = SchedulerState(log_length=50)
    for i in range(200):
        state.handle(Tick(float(i)))
    assert len(state._log) == 50


def test_unknown_event_type_is_an_error(h):
    with pytest.raises(TypeError, match="not a scheduler event"):
        h(object())


def test_invalid_transition_raises(h):
    h.submit({"x": ()}, ["x"])
    assert h.state.task_state("x") == "queued"
    with pytest.raises(InvalidTransition, match="queued -> memory"):
        h.state._transition(h.state.tasks["x"], "memory")


def test_key_prefix():
    assert key_prefix("inc-8f3a0c9d") == "inc"
    assert key_prefix(("sum-agg-55aa0f9e", 0, 1)) == "sum-agg"
    assert key_prefix("x-1") == "x"
    assert key_prefix("decade-facade") == "decade-facade"


def test_queries(h):
    h.join("w1", "w2", nthreads=3)
    out = h.submit({"x": (), "y": ()}, ["x", "y"])
    assert h.state.nthreads() == {"w1": 3, "w2": 3}
    assert set(h.state.processing_on("w1")) | set(h.state.processing_on("w2")) == {"x", "y"}
    for ex in h.of(Execute, out):
        h.finish(ex, nbytes=10)
    counts = h.state.task_states_counts()
    assert counts["memory"] == 2 and sum(counts.values()) == 2
    assert sum(len(v) for v in h.state.has_what().values()) == 2
