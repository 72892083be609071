"""WorkerState: tiny tasks of a known kind queue on the executor while threads are busy."""

from worker.events import CancelRequested, TaskCompleted, TaskRaised
from worker.instructions import RunTask, SendTaskFinished
from worker.state import LOOKAHEAD_MAX, task_kind
from worker.testing import execute, make_state, only, states


def done(key, attempt=1, seconds=0.0001):
    return TaskCompleted(key, attempt, 8, "int", 1.0, 1.0 + seconds)


def runs(out):
    return [i.key for i in only(out, RunTask)]


def test_task_kind_is_the_first_word_of_the_key():
    assert task_kind("inc-8f3a") == "inc"
    assert task_kind(("sum-agg-1", 0, 2)) == "sum"
    assert task_kind("x") == "x"
    assert task_kind(("x",)) == "x"


def test_off_by_default_and_for_unknown_kinds():
    ws = make_state(nthreads=1)
    ws.handle(execute("inc-0"), done("inc-0"))
    assert runs(ws.handle(*(execute(f"inc-{i}", priority=(i,)) for i in range(1, 5)))) == ["inc-1"]
    ws = make_state(nthreads=1, executor_lookahead=0.005)
    # nothing of kind "inc" has run here yet: one at a time
    assert runs(ws.handle(*(execute(f"inc-{i}", priority=(i,)) for i in range(1, 5)))) == ["inc-1"]


def test_short_kinds_fill_the_executor_in_priority_order():
    ws = make_state(nthreads=2, executor_lookahead=0.001)
    ws.handle(execute("inc-0"), done("inc-0", seconds=0.0002))  # 5 per thread fit in 1 ms
    out = ws.handle(*(execute(f"inc-{i}", priority=(i,)) for i in range(1, 40)))
    assert runs(out) == [f"inc-{i}" for i in range(1, 13)]  # 2 running + 2 * 5 queued
    assert len(ws.running) == 12 and all(states(ws)[f"inc-{i}"] == "executing" for i in range(1, 13))
    out = ws.handle(done("inc-1", seconds=0.0002))
    assert runs(out) == ["inc-13"] and only(out, SendTaskFinished)


def test_slow_kinds_and_other_kinds_wait_for_a_thread():
    ws = make_state(nthreads=1, executor_lookahead=0.005)
    ws.handle(execute("inc-0"), done("inc-0", seconds=0.0001))
    ws.handle(execute("load-0"), done("load-0", seconds=0.5))
    assert runs(ws.handle(execute("load-1", priority=(0,)), execute("load-2", priority=(1,)))) == ["load-1"]
    # the most urgent ready task may queue behind the busy thread if it is of a short kind;
    # an unknown kind may not, and nothing overtakes it
    assert runs(ws.handle(execute("inc-1", priority=(0,)))) == ["inc-1"]
    assert runs(ws.handle(execute("new-1", priority=(-1,)), execute("inc-2", priority=(-1,)))) == []
    assert states(ws)["load-2"] == "ready" and states(ws)["new-1"] == "ready"


def test_the_lookahead_is_capped_per_thread():
    ws = make_state(nthreads=1, executor_lookahead=1.0)
    ws.handle(execute("inc-0"), done("inc-0", seconds=0.0))
    out = ws.handle(*(execute(f"inc-{i}", priority=(i,)) for i in range(1, 100)))
    assert len(runs(out)) == 1 + LOOKAHEAD_MAX


def test_a_cancelled_queued_run_is_stale_and_dropped():
    ws = make_state(nthreads=1, executor_lookahead=0.005)
    ws.handle(execute("inc-0"), done("inc-0"))
    ws.handle(execute("inc-1", priority=(1,)), execute("inc-2", priority=(2,)))
    assert states(ws)["inc-2"] == "executing"
    ws.handle(CancelRequested("inc-2", 1))
    assert states(ws)["inc-2"] == "cancelled"
    assert ws.handle(TaskRaised("inc-2", 1, b"exc", "tb", 1.0, 1.0)) == []  # its run reports back
    assert "inc-2" not in ws.tasks and ws.stale_completions == 1
