"""pardata.delayed semantics."""
import operator
import shutil
from dataclasses import dataclass

import numpy as np
import pytest

import pardata
from pardata import Delayed, compute, delayed, persist
from pardata.local import Callback


def inc(x):
    return x + 1


def add(x, y):
    return x + y


class Counter(Callback):
    def __init__(self):
        self.keys = []

    def posttask(self, key, result):
        self.keys.append(key)


def test_wrapper_and_decorator_forms():
    @delayed
    def double(x):
        return 2 * x

    @delayed(pure=True)
    def triple(x):
        return 3 * x

    assert double(inc(2)).compute() is None if False else double(delayed(inc)(2)).compute() == 6
    assert triple(2).compute() == 6
    assert double.__name__ == "double"
    assert isinstance(delayed(inc)(1), Delayed)


def test_operators(local_scheduler):
    a, b = delayed(inc)(1), delayed(inc)(4)  # 2, 5
    exprs = [a + b, a - b, a * b, b / a, b // a, b % a, a ** b, -a, +a, abs(-a), ~a,
             a & b, a | b, a ^ b, a << b, b >> a, a < b, a <= b, a > b, a >= b, a == b, a != b,
             1 + a, 10 - a, 3 * a, 10 / a, divmod(b, a), 2 ** a]
    expected = [7, -3, 10, 2.5, 2, 1, 32, -2, 2, 2, -3, 0, 7, 7, 64, 1, True, True, False,
                False, False, True, 3, 8, 6, 5.0, (2, 1), 4]
    assert list(compute(*exprs, scheduler=local_scheduler)) == expected


def test_matmul_operator():
    x = delayed(np.eye(3))
    np.testing.assert_array_equal((x @ x).compute(), np.eye(3))


def test_attribute_access_and_method_calls():
    s = delayed("Hello World")
    assert s.lower().compute() == "hello world"
    assert s.split(" ", maxsplit=1).compute() == ["Hello", "World"]
    z = delayed(3 + 4j)
    assert z.real.compute() == 3.0
    with pytest.raises(AttributeError):
        s._private


def test_indexing_and_iteration_with_nout():
    d = delayed({"a": [10, 20]})
    assert d["a"][1].compute() == 20
    q, r = delayed(divmod, nout=2)(17, 5)
    assert (q.compute(), r.compute()) == (3, 2)
    with pytest.raises(TypeError, match="nout"):
        iter(delayed(inc)(1))
    with pytest.raises(TypeError, match="truth value"):
        bool(delayed(inc)(1))


def test_pure_calls_share_keys_impure_do_not():
    assert delayed(inc, pure=True)(1).key == delayed(inc, pure=True)(1).key
    assert delayed(inc, pure=True)(1).key != delayed(inc, pure=True)(2).key
    assert delayed(inc)(1).key != delayed(inc)(1).key
    assert delayed(inc)(1, pure=True).key == delayed(inc)(1, pure=True).key


def test_key_name():
    d = delayed(inc)(1, pardata_key_name="my-key")
    assert d.key == "my-key"
    assert d.compute() == 2


def test_delayed_found_inside_nested_arguments():
    a, b = delayed(inc)(1), delayed(inc)(2)
    total = delayed(lambda xs, d, s: sum(xs) + d["k"][0] + sum(s))([a, (b, 1)][0:1] + [b], {"k": [a]}, {a, b})
    assert total.compute() == 2 + 3 + 2 + 5
    assert delayed([a, {"x": b}, (a,)]).compute() == [2, {"x": 3}, (2,)]
    assert set(delayed({a, b}).compute()) == {2, 3}


def test_traverse_false_keeps_container_literal():
    a = delayed(inc)(1)
    d = delayed([a], traverse=False)
    assert d.compute() == [a]


def test_compute_merges_graphs_so_shared_work_runs_once():
    shared = delayed(inc)(1)
    x = delayed(add)(shared, 10)
    y = delayed(add)(shared, 20)
    with Counter() as c:
        assert compute(x, y, 5, scheduler="sync") == (12, 22, 5)
    assert c.keys.count(shared.key) == 1


def test_compute_traverses_containers():
    a = delayed(inc)(1)
    assert compute({"a": [a, 3]}) == ({"a": [2, 3]},)


def test_persist_returns_computed_delayed():
    calls = []

    def counted_inc(x):
        calls.append(x)
        return x + 1

    x = delayed(counted_inc)(delayed(counted_inc)(1))
    (p,) = persist(x, scheduler="sync")
    assert p.key == x.key and len(calls) == 2
    assert delayed(add)(p, 1).compute(scheduler="sync") == 4
    assert len(calls) == 2  # nothing recomputed


def test_delayed_of_a_value_and_of_a_class():
    arr = np.arange(5)
    assert delayed(arr).key == delayed(arr).key
    np.testing.assert_array_equal(delayed(arr).compute(), arr)

    @dataclass
    class Point:
        x: int
        y: int

    p = delayed(Point)(1, y=delayed(inc)(1))
    assert p.compute() == Point(1, 2)


def test_calling_a_delayed_function_value():
    f = delayed(inc)(1)
    g = delayed(lambda: inc)()
    assert g(f).compute() == 3


def test_immutability():
    d = delayed(inc)(1)
    with pytest.raises(TypeError):
        d.x = 1
    with pytest.raises(TypeError):
        d[0] = 1


def test_optimize_graph_false_and_exceptions():
    def bad(x):
        raise ValueError("no good")

    r = delayed(bad)(delayed(inc)(1))
    with pytest.raises(ValueError, match="no good") as info:
        r.compute(optimize_graph=False)
    assert any(r.key in note for note in info.value.__notes__)


def test_visualize_dot_text_and_files(tmp_path):
    a = delayed(inc)(1)
    b = delayed(add)(a, a)
    drawing = pardata.visualize(b)
    assert drawing.source.startswith("digraph") and "inc" in drawing.source and "add" in drawing.source
    b.visualize(filename=str(tmp_path / "g.dot"))
    assert (tmp_path / "g.dot").read_text() == drawing.source
    if shutil.which("dot"):
        b.visualize(filename=str(tmp_path / "g.svg"))
        assert (tmp_path / "g.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    else:
        with pytest.raises(RuntimeError, match="Graphviz"):
            b.visualize(filename=str(tmp_path / "g.svg"))


def test_pardata_get_runs_raw_graphs_with_every_scheduler(local_scheduler):
    dsk = {"x": 1, "y": (operator.add, "x", 2), "z": (sum, ["x", "y"])}
    assert pardata.get(dsk, ["z", "y"], scheduler=local_scheduler) == [4, 3]


def test_scheduler_names_and_errors():
    d = delayed(inc)(1)
    for name in ("sync", "synchronous", "single-threaded", "threads", "processes"):
        assert d.compute(scheduler=name) == 2
    with pytest.raises(ValueError, match="needs an active"):
        d.compute(scheduler="distributed")
    with pytest.raises(ValueError, match="unknown scheduler"):
        d.compute(scheduler="nope")
    with pardata.config.set(scheduler="sync"):
        assert d.compute() == 2
