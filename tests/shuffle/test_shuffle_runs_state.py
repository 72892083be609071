"""Shuffle runs in the pure `SchedulerState`: owners, restrictions, restarts, forgetting."""
from __future__ import annotations

from scheduler.commands import CancelExecution, Execute
from scheduler.events import GraphSubmitted, TaskFinished, TaskSpec, Tick, WorkerJoined, WorkerLeft
from scheduler.shuffle_runs import ForgetShuffle, ShuffleRunRequested, output_index
from scheduler.state import SchedulerState


class Cluster:
    def __init__(self, *workers):
        self.state = SchedulerState(validate=True)
        self.out = self(*(WorkerJoined(w, 1, 0, {}, 0.0) for w in workers))

    def __call__(self, *events):
        out = self.state.handle(*events)
        self.state.validate()
        return out

    def run(self, commands, only=None):
        """Finish every Execute (of keys accepted by ``only``), and what that unlocks."""
        todo, left = list(commands), []
        while todo:
            c = todo.pop(0)
            if isinstance(c, Execute) and (only is None or only(c.key)):
                todo.extend(self(TaskFinished(c.worker, c.key, c.attempt, 10, 0.01, 1.0)))
            else:
                left.append(c)
        return left


def shuffle_graph(n_in=2, n_out=3):
    tasks = {}
    for i in range(n_in):
        tasks[("in", i)] = TaskSpec(payload=b"in", priority=(i,))
        tasks[("t", i)] = TaskSpec(dependencies=(("in", i),), payload=b"t", priority=(10 + i,))
    tasks["b"] = TaskSpec(dependencies=tuple(("t", i) for i in range(n_in)), payload=b"b", priority=(20,))
    for j in range(n_out):
        tasks[("out", j)] = TaskSpec(dependencies=("b",), payload=b"o", priority=(30 + j,))
    return tasks, [("out", j) for j in range(n_out)]


def not_transfer(key):
    return key[0] == "in" if type(key) is tuple else False


def test_first_request_assigns_owners_and_restricts_outputs():
    c = Cluster("w2", "w1")
    tasks, wanted = shuffle_graph()
    left = c.run(c(GraphSubmitted("c", tasks, wanted)), only=not_transfer)
    transfers = [x for x in left if isinstance(x, Execute)]
    assert sorted(x.key for x in transfers) == [("t", 0), ("t", 1)]
    c(ShuffleRunRequested("s", "b", 3))
    run = c.state.shuffle_runs["s"]
    assert (run.run_id, run.workers) == (1, ("w1", "w2"))
    c(ShuffleRunRequested("s", "b", 3))  # a second request: same run
    assert c.state.shuffle_runs["s"].run_id == 1
    out = c.run(transfers, only=lambda k: k != ("out", 0) and k != ("out", 1) and k != ("out", 2))
    placed = {x.key: x.worker for x in out if isinstance(x, Execute)}
    assert placed == {("out", 0): "w1", ("out", 1): "w2", ("out", 2): "w1"}


def test_a_participant_leaving_restarts_the_run_over_the_survivors():
    c = Cluster("w1", "w2")
    tasks, wanted = shuffle_graph()
    left = c.run(c(GraphSubmitted("c", tasks, wanted)), only=not_transfer)
    transfers = [x for x in left if isinstance(x, Execute)]
    c(ShuffleRunRequested("s", "b", 3))
    done = transfers[0]
    c(TaskFinished(done.worker, done.key, done.attempt, 10, 0.01, 1.0))
    lost = "w2"
    out = c(WorkerLeft(lost, "killed", 2.0))
    assert "s" not in c.state.shuffle_runs and c.state.shuffle_restarts == 1
    assert [x for x in out if isinstance(x, ForgetShuffle)] == [ForgetShuffle("w1", "s", 1)]
    # every transfer runs again on the survivor, under new attempts
    again = [x for x in out if isinstance(x, Execute) and x.key[0] == "t"]
    rerun_inputs = [x for x in out if isinstance(x, Execute) and x.key[0] == "in"]
    out = c.run(again + rerun_inputs, only=not_transfer)
    again = [x for x in out + again if isinstance(x, Execute) and x.key[0] == "t"]
    assert sorted({x.key for x in again}) == [("t", 0), ("t", 1)]
    assert all(x.worker == "w1" for x in again)
    assert all(x.attempt > max(t.attempt for t in transfers) for x in again)
    c(ShuffleRunRequested("s", "b", 3))
    run = c.state.shuffle_runs["s"]
    assert (run.run_id, run.workers) == (2, ("w1",))
    out = c.run(again, only=lambda k: k[0] != "out")
    assert {x.worker for x in out if isinstance(x, Execute)} == {"w1"}
    assert len([x for x in out if isinstance(x, Execute)]) == 3


def test_running_transfers_are_cancelled_when_the_run_restarts():
    c = Cluster("w1", "w2", "w3")
    tasks, wanted = shuffle_graph(n_in=3)
    left = c.run(c(GraphSubmitted("c", tasks, wanted)), only=not_transfer)
    transfers = {x.key: x for x in left if isinstance(x, Execute)}
    c(ShuffleRunRequested("s", "b", 3))
    victim = next(x for x in transfers.values() if x.worker != "w3")
    out = c(WorkerLeft("w3", "killed", 2.0))
    cancelled = {x.key for x in out if isinstance(x, CancelExecution)}
    assert victim.key in cancelled
    assert c.state.task_state(victim.key) in ("processing", "waiting", "queued")


def test_finished_runs_are_forgotten_on_tick_and_run_ids_never_repeat():
    c = Cluster("w1", "w2")
    tasks, wanted = shuffle_graph()
    left = c.run(c(GraphSubmitted("c", tasks, wanted)), only=not_transfer)
    c(ShuffleRunRequested("s", "b", 3))
    c.run(left)
    assert all(c.state.task_state(k) == "memory" for k in wanted)
    out = c(Tick(5.0))
    assert sorted(x.worker for x in out if isinstance(x, ForgetShuffle)) == ["w1", "w2"]
    assert c.state.shuffle_runs == {}
    # a worker leaving now restarts nothing
    c(WorkerLeft("w2", "killed", 6.0))
    assert c.state.shuffle_restarts == 0
    c(ShuffleRunRequested("s", "b", 3))
    assert c.state.shuffle_runs["s"].run_id == 2


def test_output_index_reads_partition_keys_only():
    assert output_index(("x", 2), 3) == 2
    assert output_index(("x", 3), 3) is None
    assert output_index("x", 3) is None
    assert output_index(("x", "2"), 3) is None


def test_a_recomputed_or_resubmitted_barrier_gets_a_new_run():
    from scheduler.events import ClientReleasedKeys

    c = Cluster("w1", "w2")
    tasks, wanted = shuffle_graph()
    left = c.run(c(GraphSubmitted("c", tasks, wanted)), only=not_transfer)
    c(ShuffleRunRequested("s", "b", 3))
    c.run(left)
    c(ClientReleasedKeys("c", wanted))
    assert "b" not in c.state.tasks
    # submitted again before any Tick forgot the first run: its shards were read already
    left = c.run(c(GraphSubmitted("c", tasks, wanted)), only=not_transfer)
    out = c(ShuffleRunRequested("s", "b", 3))
    assert c.state.shuffle_runs["s"].run_id == 2
    assert sorted(x.worker for x in out if isinstance(x, ForgetShuffle)) == ["w1", "w2"]
    c.run(left)
    assert all(c.state.task_state(k) == "memory" for k in wanted)
