"""The graph format: nodes, nested references, legacy conversion."""
import operator
import pickle
from operator import add

import cloudpickle
import pytest

from pardata.core import Alias, DataNode, Fused, Ref, Task, convert_graph


def test_task_with_top_level_refs():
    t = Task("z", add, Ref("x"), Ref("y"))
    assert t.dependencies == ("x", "y")
    assert t({"x": 1, "y": 2}) == 3


def test_refs_nested_in_lists_tuples_dicts_and_kwargs():
    def f(a, b, *, c):
        return a[0] + a[1][0] + b["k"] + c["z"][0]

    t = Task("r", f, [Ref("x"), (Ref("y"),)], {"k": Ref("x")}, c={"z": [Ref("w")]})
    assert t.dependencies == ("x", "y", "w")
    assert t({"x": 1, "y": 10, "w": 100}) == 112


def test_literal_containers_are_passed_through_unchanged():
    lit = [1, 2, {"a": (3,)}]
    t = Task("t", lambda v: v, lit)
    assert t.dependencies == ()
    assert t({}) is lit


def test_inline_task_inside_arguments():
    inner = Task(None, operator.mul, Ref("x"), 3)
    t = Task("t", add, inner, Ref("y"))
    assert t.dependencies == ("x", "y")
    assert t({"x": 2, "y": 1}) == 7


def test_data_alias_fused():
    assert DataNode("d", [1, 2])({}) == [1, 2]
    assert Alias("a", "d")({"d": 5}) == 5
    f = Fused("c", (Task("a", add, Ref("x"), 1), Task("b", add, Ref("a"), 1), Task("c", add, Ref("b"), Ref("x"))))
    assert f.dependencies == ("x",)
    assert f({"x": 10}) == 22


def test_non_callable_task_is_rejected_with_key():
    with pytest.raises(TypeError, match="'k'"):
        Task("k", 5)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_nodes_pickle(dumps):
    nodes = [Task("t", add, Ref("x"), Task(None, operator.neg, Ref("y"))), DataNode("d", 3), Alias("a", "d"),
             Fused("f", (Task("g", add, 1, 2), Task("f", add, Ref("g"), 1)))]
    for node in nodes:
        clone = pickle.loads(dumps(node))
        assert clone.key == node.key and clone.dependencies == node.dependencies
        assert clone({"x": 1, "y": 2, "d": 3}) == node({"x": 1, "y": 2, "d": 3})


def test_substitute_replaces_refs_with_tasks_or_values():
    t = Task("t", add, Ref("x"), [Ref("y")][0])
    s = t.substitute({"x": Task(None, operator.neg, 5), "y": 1})
    assert s.dependencies == ()
    assert s({}) == -4


def test_convert_legacy_graph():
    def total(xs, d):
        return sum(xs) + d

    g = convert_graph({
        "x": 1,
        ("y", 0): (add, "x", 10),
        "alias": ("y", 0),
        "lst": ["x", ("y", 0), 5],
        "nested": (total, ["x", (add, "x", ("y", 0))], 2),
        "literal_str": "not-a-key",
    })
    assert isinstance(g["x"], DataNode)
    assert isinstance(g["alias"], Alias) and g["alias"].target == ("y", 0)
    assert g["nested"].dependencies == ("x", ("y", 0))
    assert isinstance(g["literal_str"], DataNode)
    values = {"x": 1, ("y", 0): 11}
    assert g["lst"](values) == [1, 11, 5]
    assert g["nested"](values) == 1 + 12 + 2


def test_convert_keeps_nodes_and_checks_their_keys():
    t = Task("a", add, 1, 2)
    assert convert_graph({"a": t})["a"] is t
    with pytest.raises(ValueError, match="'b'"):
        convert_graph({"b": t})
