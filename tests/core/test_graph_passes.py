"""toposort, cull, fuse, inline, order: examples and properties on random DAGs."""
import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pardata.core import (CycleError, DataNode, Fused, MissingDependencyError, Ref, Task, cull,
                          fuse, get_dependencies, inline, order, toposort)
from pardata.local import execute
from pardata.testing import binary_tree_sum, random_dag
from pardata.testing.graphs import evaluate


def chain(n):
    g = {("c", 0): Task(("c", 0), int, 1)}
    for i in range(1, n):
        g[("c", i)] = Task(("c", i), operator.add, Ref(("c", i - 1)), 1)
    return g


def test_get_dependencies_accepts_legacy_graphs():
    dsk = {"a": 1, "b": (operator.add, "a", "a"), "c": (sum, ["a", "b"])}
    assert get_dependencies(dsk) == {"a": set(), "b": {"a"}, "c": {"a", "b"}}
    assert get_dependencies(dsk, "c") == {"a", "b"}


def test_toposort_cycle_names_the_keys():
    dsk = {"a": (operator.neg, "c"), "b": (operator.neg, "a"), "c": (operator.neg, "b"), "d": 1}
    with pytest.raises(CycleError) as info:
        toposort(dsk)
    cycle = info.value.keys
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert "'a'" in str(info.value) and "'b'" in str(info.value)


def test_missing_dependency_is_named():
    with pytest.raises(MissingDependencyError, match="'a' depends on 'zz'"):
        toposort({"a": Task("a", operator.neg, Ref("zz"))})
    with pytest.raises(MissingDependencyError, match="'zz'"):
        cull({"a": Task("a", operator.neg, Ref("zz"))}, ["a"])


def test_cull_keeps_only_what_is_needed():
    g = random_dag(50, seed=3)
    culled, deps = cull(g, [("node", 10)])
    needed = {("node", 10)}
    stack = [("node", 10)]
    while stack:
        for d in g[stack.pop()].dependencies:
            if d not in needed:
                needed.add(d)
                stack.append(d)
    assert set(culled) == needed
    assert all(deps[k] == g[k].dependencies for k in culled)


def test_fuse_linear_chain_into_one_node():
    g = chain(100)
    fused, deps = fuse(g, keys=[("c", 99)])
    assert list(fused) == [("c", 99)] and isinstance(fused[("c", 99)], Fused)
    assert fused[("c", 99)]({}) == 100


def test_fuse_keeps_requested_and_shared_keys():
    g = chain(5)
    g["other"] = Task("other", operator.neg, Ref(("c", 2)))  # c2 now has two dependents
    fused, _ = fuse(g, keys=[("c", 4), "other"])
    assert ("c", 2) in fused and ("c", 4) in fused and "other" in fused
    assert ("c", 3) not in fused and ("c", 1) not in fused
    values = evaluate(fused)
    assert values[("c", 4)] == 5 and values["other"] == -3


def test_fuse_does_not_lose_parallelism_in_a_tree():
    g, root = binary_tree_sum(64)
    fused, _ = fuse(g, [root])
    assert len(fused) == len(g)


def test_inline_fast_functions_and_constants():
    g = {
        "data": DataNode("data", [1, 2, 3]),
        "get": Task("get", operator.getitem, Ref("data"), 1),
        "out": Task("out", operator.mul, Ref("get"), 10),
        "out2": Task("out2", operator.add, Ref("get"), 1),
    }
    g2 = inline(g, fast_functions=[operator.getitem], output=["out", "out2"])
    assert set(g2) == {"out", "out2"}
    assert g2["out"].dependencies == ()
    assert g2["out"]({}) == 20 and g2["out2"]({}) == 3


def test_inline_explicit_keys_but_never_outputs():
    g = {"a": Task("a", operator.neg, 1), "b": Task("b", operator.neg, Ref("a"))}
    assert set(inline(g, keys=["a"], output=["b"])) == {"b"}
    assert set(inline(g, keys=["a", "b"], output=["a"])) == {"a", "b"}


def test_order_finishes_one_branch_before_the_next():
    g, root = binary_tree_sum(8)
    prio = order(g)
    assert sorted(prio.values()) == list(range(len(g)))
    # the first two leaves and their sum come before the third leaf
    assert prio[("tree-leaf", 0)] < prio[("tree-leaf", 1)] < prio[("tree-add-0", 0)] < prio[("tree-leaf", 2)]
    assert prio[root] == len(g) - 1


@pytest.mark.parametrize("n", [2**8, 2**12, 2**14 + 3])
def test_tree_sum_holds_logarithmic_results_on_one_thread(n):
    g, root = binary_tree_sum(n)
    run = execute(g, [root], "sync")
    assert run.results[root] == sum(range(n))
    depth = n.bit_length()
    assert run.peak_results <= depth + 2, (run.peak_results, depth)


dags = st.builds(random_dag, n=st.integers(1, 60), max_deps=st.integers(0, 4),
                 seed=st.integers(0, 10**6), nested=st.booleans())


@given(dags)
def test_toposort_places_dependencies_first(g):
    pos = {k: i for i, k in enumerate(toposort(g))}
    assert len(pos) == len(g)
    assert all(pos[d] < pos[k] for k, n in g.items() for d in n.dependencies)


@given(dags)
def test_order_is_a_topological_permutation(g):
    prio = order(g)
    assert sorted(prio.values()) == list(range(len(g)))
    assert all(prio[d] < prio[k] for k, n in g.items() for d in n.dependencies)


@given(dags, st.data())
def test_cull_then_fuse_preserve_results(g, data):
    keys = data.draw(st.lists(st.sampled_from(sorted(g)), min_size=1, max_size=4, unique=True))
    expected = evaluate(g)
    culled, _ = cull(g, keys)
    fused, deps = fuse(culled, keys)
    assert set(keys) <= set(fused)
    assert all(deps[k] == fused[k].dependencies for k in fused)
    values = evaluate(fused)
    assert all(values[k] == expected[k] for k in keys)


@given(dags, st.data())
def test_inline_preserves_results(g, data):
    keys = data.draw(st.lists(st.sampled_from(sorted(g)), min_size=1, max_size=4, unique=True))
    victims = data.draw(st.lists(st.sampled_from(sorted(g)), max_size=10, unique=True))
    expected = evaluate(g)
    values = evaluate(inline(g, keys=victims, output=keys))
    assert all(values[k] == expected[k] for k in keys)


def test_fuse_never_folds_a_data_node():
    g = {"d": DataNode("d", 5), "t": Task("t", operator.neg, Ref("d"))}
    fused, _ = fuse(g, keys=["t"])
    assert set(fused) == {"d", "t"}
