"""WorkerState: the executor lookahead never queues runs that take or make much memory."""

from worker.events import DataScattered, TaskCompleted
from worker.instructions import RunTask
from worker.state import LOOKAHEAD_MAX_NBYTES
from worker.testing import execute, make_state


def done(key, nbytes=8, seconds=0.0001):
    return TaskCompleted(key, 1, nbytes, "ndarray", 1.0, 1.0 + seconds)


def runs(out):
    return [i.key for i in out if isinstance(i, RunTask)]


def test_kinds_with_large_outputs_wait_for_a_thread():
    ws = make_state(nthreads=1, executor_lookahead=0.005)
    ws.handle(execute("make-0"), done("make-0", nbytes=LOOKAHEAD_MAX_NBYTES))
    ws.handle(execute("inc-0"), done("inc-0"))
    assert ws.bulky_kinds == {"make"}
    # each run's output must be stored (and maybe spilled) before the next one starts
    assert runs(ws.handle(*(execute(f"make-{i}", priority=(2 * i,)) for i in range(1, 5)))) == ["make-1"]
    # a small kind may still queue behind it, up to the next bulky task in priority order
    out = ws.handle(*(execute(f"inc-{i}", priority=(2 * i + 1,)) for i in range(1, 4)))
    assert runs(out) == ["inc-1"]
    assert runs(ws.handle(done("make-1", nbytes=LOOKAHEAD_MAX_NBYTES))) == []  # inc-1 holds the thread
    assert runs(ws.handle(done("inc-1"))) == ["make-2", "inc-2"]


def test_tasks_with_large_inputs_wait_for_a_thread():
    ws = make_state(nthreads=1, executor_lookahead=0.005)
    ws.handle(execute("sum-0"), done("sum-0"))
    ws.handle(DataScattered({"big": LOOKAHEAD_MAX_NBYTES, "small": 10}))
    ws.handle(execute("slow-0"))  # holds the only thread
    out = ws.handle(execute("sum-1", priority=(1,), deps={"small": ["me"]}, nbytes={"small": 10}),
                    execute("sum-2", priority=(2,), deps={"big": ["me"]}, nbytes={"big": LOOKAHEAD_MAX_NBYTES}))
    assert runs(out) == ["sum-1"]  # queued ahead; sum-2 would read (maybe unspill) 1 MiB early
