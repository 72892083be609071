"""``explain`` (``Client.why``) on a scheduler state built by hand: no network, no clock."""

from __future__ import annotations

from pardata.distributed.explain import Explanation
from scheduler.commands import Execute
from scheduler.events import GraphSubmitted, TaskErred, TaskFinished, TaskSpec, WorkerHeartbeat, WorkerJoined
from scheduler.state import SchedulerState
from scheduler.why import explain, worker_memory

GiB = 2**30


def submit(state, graph: dict, wanted, client="c"):
    specs = {k: TaskSpec(dependencies=tuple(d), payload=b"p", priority=(i,)) for i, (k, d) in enumerate(graph.items())}
    return state.handle(GraphSubmitted(client, specs, list(wanted)))


def executes(commands) -> list[Execute]:
    return [c for c in commands if isinstance(c, Execute)]


def paused_worker_state():
    """``z`` waits for ``y``, assigned to worker ``w2`` which then paused: its process
    memory is 7.5 GiB of an 8 GiB limit, only 1 GiB of it task results."""
    state = SchedulerState(validate=True)
    state.handle(WorkerJoined("w1", 1, 8 * GiB, {}, 0.0), WorkerJoined("w2", 1, 8 * GiB, {}, 0.0))
    (ex_x,) = executes(submit(state, {"x": (), "y": ("x",), "z": ("y",)}, ["z"]))
    (ex_y,) = executes(state.handle(TaskFinished(ex_x.worker, "x", ex_x.attempt, 100, 0.1, 1.0)))
    assert ex_y.key == "y"
    holder = ex_y.worker
    state.handle(WorkerHeartbeat(holder, 2.0, managed_bytes=1 * GiB, process_bytes=int(7.5 * GiB), paused=True))
    return state, holder


def test_why_follows_the_chain_down_to_a_paused_worker_with_unmanaged_memory():
    state, holder = paused_worker_state()
    lines = explain(state, "z")
    depths = [d for d, _ in lines]
    assert depths == [0, 1, 2]
    top, dep, worker = (text for _, text in lines)
    assert top == "'z' is waiting for 1 of its 1 input(s)"
    assert dep == f"input 'y' is assigned to worker {holder!r}, which is paused and starts no new task"
    assert worker.startswith(f"worker {holder!r} is paused: process memory 7.50 GiB of its 8.00 GiB limit (94%")
    assert "mostly unmanaged: 6.50 GiB is not task results" in worker and "1.00 GiB managed" in worker

    text = str(Explanation("z", lines))
    assert text.splitlines()[2].startswith("    worker ")  # indented two levels
    assert "paused" in Explanation("z", lines)


def test_why_for_other_states():
    state, holder = paused_worker_state()
    assert explain(state, "x") == [(0, f"'x' is done: in memory on {state.who_has(['x'])['x'][0]!r}")]
    assert explain(state, "nope") == [(0, "'nope' is not known to the scheduler (never submitted, or already forgotten)")]
    running = [ws for ws in state.workers.values() if not ws.paused]
    assert len(running) == 1


def test_why_explains_queued_root_tasks_when_every_worker_is_paused():
    state = SchedulerState(validate=True)
    state.handle(WorkerJoined("w1", 1, 4 * GiB, {}, 0.0))
    state.handle(WorkerHeartbeat("w1", 1.0, managed_bytes=3 * GiB, process_bytes=int(3.5 * GiB), paused=True))
    submit(state, {"r": ()}, ["r"])
    assert state.task_state("r") == "queued"
    lines = explain(state, "r")
    assert lines[0][1].startswith("'r' is a root task queued at the scheduler until a worker has a free slot")
    assert lines[1] == (1, "every worker (1) is paused")
    assert lines[2][0] == 2 and "mostly managed: 3.00 GiB of task results" in lines[2][1]


def test_why_points_at_the_failed_upstream_task():
    state = SchedulerState(validate=True)
    state.handle(WorkerJoined("w1", 1, 0, {}, 0.0))
    (ex,) = executes(submit(state, {"a": (), "b": ("a",)}, ["b"]))
    state.handle(TaskErred(ex.worker, "a", ex.attempt, b"exc", "Traceback...\nValueError: bad input", 1.0))
    lines = explain(state, "b")
    assert lines[0] == (0, "'b' cannot run: its upstream task 'a' failed")
    assert lines[1][0] == 1 and lines[1][1].startswith("'a' failed") and "ValueError: bad input" in lines[1][1]


def test_worker_memory_without_a_limit():
    state = SchedulerState()
    state.handle(WorkerJoined("w", 2, 0, {}, 0.0))
    ws = state.workers["w"]
    assert worker_memory(ws) == "worker 'w' is running: process memory 0 B (no memory limit)"


def test_progress_counts_on_a_pure_state():
    from scheduler.metrics import progress_by_prefix, upstream_progress

    state = SchedulerState(validate=True)
    state.handle(WorkerJoined("w1", 2, 0, {}, 0.0))
    graph = {"load-1": (), "load-2": (), "sum-1": ("load-1", "load-2"), "other-1": ()}
    commands = submit(state, graph, ["sum-1", "other-1"])
    ex = {e.key: e for e in executes(commands)}
    state.handle(TaskFinished("w1", "load-1", ex["load-1"].attempt, 8, 0.1, 1.0))
    rows = progress_by_prefix(state.tasks.values())
    assert list(rows) == ["load", "sum", "other"]
    assert rows["load"] == {"total": 2, "done": 1, "memory": 1, "erred": 0, "processing": 1, "waiting": 0}
    assert rows["sum"]["waiting"] == 1 and rows["other"]["total"] == 1
    up = upstream_progress(state, ["sum-1"])
    assert set(up) == {"sum", "load"} and up["load"]["total"] == 2
    assert upstream_progress(state, ["unknown"]) == {}
