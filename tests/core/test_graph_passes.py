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


def peak_held(g, prio, keys, counted):
    """Most ``counted`` results alive at once when ``g`` runs on one thread in ``prio`` order."""
    left = {k: (k in keys) for k in g}
    for node in g.values():
        for d in node.dependencies:
            left[d] += 1
    held, peak = set(), 0
    for key in sorted(g, key=prio.__getitem__):
        held.add(key)
        peak = max(peak, sum(map(counted, held)))
        for d in (*g[key].dependencies, key):
            left[d] -= d != key
            if not left[d]:
                held.discard(d)
    return peak


def transpose_pairs(n):
    """``(x + x.T).sum(axis=0)`` by blocks: column ``j`` reads ``x[i, j]`` and ``x[j, i]``."""
    g = {("x", i, j): Task(("x", i, j), int, i * n + j) for i in range(n) for j in range(n)}
    for i in range(n):
        for j in range(n):
            g[("c", i, j)] = Task(("c", i, j), operator.add, Ref(("x", i, j)), Ref(("x", j, i)))
    for j in range(n):
        g[("s", j)] = Task(("s", j), sum, [Ref(("c", i, j)) for i in range(n)])
    return g, [("s", j) for j in range(n)]


@pytest.mark.parametrize("n", [4, 10, 30])
def test_order_frees_blocks_shared_with_a_later_branch(n):
    # Post-order alone walks column by column and holds about n**2 / 2 blocks of x.
    g, keys = transpose_pairs(n)
    prio = order(g)
    assert peak_held(g, prio, set(keys), lambda k: k[0] == "x") <= 2
    assert prio[("c", 0, 1)] < prio[("x", 2, 0)]  # both readers of x[0, 1], x[1, 0] run at once
    run = execute(g, keys, "sync")
    assert [run.results[k] for k in keys] == [sum(i * n + j + j * n + i for i in range(n)) for j in range(n)]


def test_order_leaves_a_fan_out_in_post_order():
    # Running every reader of ``a`` as soon as ``a`` exists would hold all their results.
    g = {"a": Task("a", int, 1)}
    for i in range(4):
        g[("b", i)] = Task(("b", i), operator.neg, Ref("a"))
        g[("d", i)] = Task(("d", i), operator.neg, Ref(("b", i)))
    prio = order(g)
    ranked = sorted(g, key=prio.__getitem__)
    assert ranked == ["a", ("b", 0), ("d", 0), ("b", 1), ("d", 1), ("b", 2), ("d", 2), ("b", 3), ("d", 3)]


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
