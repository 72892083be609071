"""One conformance suite that every local scheduler passes."""
import operator
import os
import threading

import numpy as np
import pytest

import pardata
from pardata.core import Ref, Task
from pardata.local import Callback, WorkerProcessDied, execute, get
from pardata.testing import binary_tree_sum, random_dag
from pardata.testing.graphs import evaluate


class CustomError(Exception):
    pass


def boom(x):
    raise CustomError(f"bad value {x}")


def test_tree_sum(local_scheduler):
    g, root = binary_tree_sum(500)
    assert get(g, root, scheduler=local_scheduler) == sum(range(500))


def test_random_dags_match_reference(local_scheduler):
    for seed in range(3):
        g = random_dag(80, seed=seed)
        expected = evaluate(g)
        keys = [("node", 79), ("node", 40), ("node", 0)]
        assert get(g, keys, scheduler=local_scheduler) == [expected[k] for k in keys]


def test_nested_key_structure_and_legacy_graph(local_scheduler):
    dsk = {"x": 1, "y": (operator.add, "x", 1), ("z", 0): (sum, ["x", "y"])}
    assert get(dsk, [["x", "y"], [("z", 0)]], scheduler=local_scheduler) == [[1, 2], [3]]


def test_numpy_results(local_scheduler):
    g = {
        "a": Task("a", np.arange, 10),
        "b": Task("b", np.multiply, Ref("a"), 2),
        "c": Task("c", np.sum, Ref("b")),
    }
    np.testing.assert_array_equal(get(g, "b", scheduler=local_scheduler), np.arange(10) * 2)
    assert get(g, "c", scheduler=local_scheduler) == 90


def test_task_error_keeps_type_message_and_names_key(local_scheduler):
    g = {"x": Task("x", int, 3), "bad": Task("bad", boom, Ref("x")), "ok": Task("ok", int, 1)}
    with pytest.raises(CustomError, match="bad value 3") as info:
        get(g, ["bad", "ok"], scheduler=local_scheduler)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "'bad'" in notes
    # the task's own frame is in the traceback (in-process) or in the remote traceback note
    tb_text = "".join(__import__("traceback").format_exception(info.value))
    assert "boom" in tb_text
    # and the pool keeps working
    assert get(g, "ok", scheduler=local_scheduler) == 1


def test_errors_do_not_hang_with_many_ready_tasks(local_scheduler):
    g = {("t", i): Task(("t", i), int, i) for i in range(200)}
    g["bad"] = Task("bad", boom, 1)
    g["sum"] = Task("sum", sum, [Ref(k) for k in list(g) if k != "bad"] + [Ref("bad")])
    with pytest.raises(CustomError):
        get(g, "sum", scheduler=local_scheduler)


def test_intermediates_released_but_requested_kept(local_scheduler):
    g, root = binary_tree_sum(64)
    run = execute(g, [root, ("tree-leaf", 5)], local_scheduler)
    assert set(run.results) == {root, ("tree-leaf", 5)}


def test_callbacks_see_every_task(local_scheduler):
    seen = []
    lock = threading.Lock()

    class Recorder(Callback):
        def start(self, graph):
            seen.append(("start", len(graph)))

        def posttask(self, key, result):
            with lock:
                seen.append(key)

        def finish(self, graph, errored):
            seen.append(("finish", errored))

    g, root = binary_tree_sum(16)
    with Recorder():
        get(g, root, scheduler=local_scheduler)
    assert seen[0] == ("start", len(g)) and seen[-1] == ("finish", False)
    assert set(seen[1:-1]) == set(g)
    get(g, root, scheduler=local_scheduler)  # unregistered: nothing more recorded
    assert len(seen) == len(g) + 2


def test_unknown_scheduler_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown scheduler 'gpu'"):
        get({"a": 1}, "a", scheduler="gpu")


def nested_compute(n):
    return pardata.delayed(sum)(list(range(n))).compute(scheduler="threads")


def test_nested_compute_inside_a_task_does_not_deadlock():
    g = {("n", i): Task(("n", i), nested_compute, i) for i in range(8)}
    assert get(g, list(g), scheduler="threads") == [sum(range(i)) for i in range(8)]


def test_lambdas_and_closures_run_in_processes():
    k = 7
    g = {"a": Task("a", lambda: k), "b": Task("b", lambda x: x * k, Ref("a"))}
    assert get(g, "b", scheduler="processes") == 49


def test_dead_worker_process_is_reported_and_replaced():
    g = {"die": Task("die", os._exit, 3)}
    with pytest.raises(WorkerProcessDied, match="'die'.*exit code 3"):
        get(g, "die", scheduler="processes", num_workers=1)
    assert get({"a": Task("a", operator.add, 1, 2)}, "a", scheduler="processes") == 3


class Unpicklable:
    def __reduce__(self):
        raise TypeError("refuses to pickle")


def make_unpicklable():
    return Unpicklable()


def test_unpicklable_result_in_processes_names_the_task():
    with pytest.raises(Exception, match="'u'.*cannot be pickled"):
        get({"u": Task("u", make_unpicklable)}, "u", scheduler="processes")
