"""Creation and element-wise operations against plain Python on the same data."""
import itertools
import operator

import pytest

import pardata
import pardata.bag as pdb
from pardata.bag.optimize import optimize
from pardata.core import Fused, Task

RECORDS = [
    {"name": n, "amount": i * 3 % 17, "tags": ["a", "b"][: i % 3]}
    for i, n in enumerate(["ann", "bob", "cäz", "dee", "ëve", "fay", "gus", "hal", "ivy", "jo", "kim"])
]


def test_from_sequence_partitioning():
    assert pdb.from_sequence(range(10), npartitions=4).npartitions == 4
    assert pdb.from_sequence(range(10), partition_size=3).npartitions == 4
    assert pdb.from_sequence(range(1000)).npartitions == 100
    sparse = pdb.from_sequence([1, 2], npartitions=5)  # more partitions than elements
    assert sparse.npartitions == 5
    assert sparse.compute(scheduler="sync") == [1, 2]
    empty = pdb.from_sequence([])
    assert empty.npartitions == 1 and empty.compute(scheduler="sync") == []
    with pytest.raises(ValueError, match="not both"):
        pdb.from_sequence([1], npartitions=1, partition_size=1)


def test_range_and_repr():
    b = pdb.range(10, npartitions=3)
    assert b.compute(scheduler="sync") == list(range(10))
    assert repr(b).startswith("pardata.bag.Bag<range-") and "npartitions=3" in repr(b)
    assert repr(b.sum()).startswith("pardata.bag.Item<sum-")
    assert list(b) == list(range(10))


def test_from_delayed_and_to_delayed():
    parts = [pardata.delayed(list)(range(i, i + 3)) for i in (0, 10)]
    b = pdb.from_delayed(parts)
    assert b.npartitions == 2
    assert b.map(operator.neg).compute(scheduler="sync") == [0, -1, -2, -10, -11, -12]
    ds = b.map(operator.neg).to_delayed()
    assert [d.compute(scheduler="sync") for d in ds] == [[0, -1, -2], [-10, -11, -12]]
    total = pardata.delayed(sum)(ds[1])
    assert total.compute() == -33
    assert b.sum().to_delayed().compute() == 36


def test_map_filter_pluck_flatten_chain(local_scheduler):
    b = pdb.from_sequence(RECORDS, npartitions=4)
    out = (b.filter(lambda r: r["amount"] > 3).pluck("tags").flatten().map(str.upper)
           .compute(scheduler=local_scheduler))
    expected = [t.upper() for r in RECORDS if r["amount"] > 3 for t in r["tags"]]
    assert out == expected


def test_pluck_variants():
    b = pdb.from_sequence([(1, 2, 3), (4, 5)], npartitions=2)
    assert b.pluck(0).compute(scheduler="sync") == [1, 4]
    assert b.pluck([0, 1]).compute(scheduler="sync") == [(1, 2), (4, 5)]
    assert b.pluck([1]).compute(scheduler="sync") == [(2,), (5,)]
    assert b.pluck(2, default=None).compute(scheduler="sync") == [3, None]
    assert b.pluck([0, 2], default=0).compute(scheduler="sync") == [(1, 3), (4, 0)]
    with pytest.raises(IndexError):
        b.pluck(2).compute(scheduler="sync")


def test_map_with_bags_items_delayed_and_kwargs(local_scheduler):
    a = pdb.from_sequence(range(8), npartitions=3)
    b = pdb.from_sequence(range(100, 108), npartitions=3)
    total = a.sum()  # an Item, broadcast to every call
    offset = pardata.delayed(lambda: 1000)()

    def f(x, y, t, o, scale=1):
        return (x + y + t + o) * scale

    got = a.map(f, b, total, o=offset, scale=2).compute(scheduler=local_scheduler)
    assert got == [(x + y + 28 + 1000) * 2 for x, y in zip(range(8), range(100, 108))]
    assert a.map(operator.add, b).compute(scheduler=local_scheduler) == [x + 100 + x for x in range(8)]
    assert a.map(operator.sub, 1).compute(scheduler="sync") == [x - 1 for x in range(8)]


def test_map_rejects_mismatched_bags():
    a = pdb.from_sequence(range(8), npartitions=3)
    with pytest.raises(ValueError, match="same number of partitions"):
        a.map(operator.add, pdb.from_sequence(range(8), npartitions=2))
    uneven = pdb.from_sequence(range(9), npartitions=3)
    with pytest.raises(ValueError):
        a.map(operator.add, uneven).compute(scheduler="sync")


def test_starmap_remove_map_partitions(local_scheduler):
    pairs = [(i, i % 3) for i in range(10)]
    b = pdb.from_sequence(pairs, npartitions=3)
    assert b.starmap(operator.mul).compute(scheduler=local_scheduler) == list(itertools.starmap(operator.mul, pairs))
    assert b.starmap(lambda x, y, z: x + y + z, z=b.count()).compute(scheduler="sync") == [
        x + y + 10 for x, y in pairs
    ]
    assert b.remove(lambda p: p[1]).compute(scheduler="sync") == [p for p in pairs if not p[1]]
    sizes = b.map_partitions(lambda part, extra: [len(part) + extra], 100)
    assert sizes.compute(scheduler=local_scheduler) == [103, 103, 104]
    other = pdb.from_sequence(range(10), npartitions=3)
    zipped = b.map_partitions(lambda p, q: [len(p) == len(q)], other)
    assert zipped.compute(scheduler="sync") == [True] * 3


def test_join_with_iterable_bag_and_item(local_scheduler):
    people = pdb.from_sequence(RECORDS, npartitions=3)
    colours = [("ann", "red"), ("bob", "blue"), ("ann", "green"), ("zed", "grey")]
    expected = [(c, r) for r in RECORDS for c in colours if c[0] == r["name"]]
    got = people.join(colours, on_self="name", on_other=0)
    assert got.compute(scheduler=local_scheduler) == expected
    as_bag = pdb.from_sequence(colours, npartitions=1)
    assert people.join(as_bag, lambda r: r["name"], operator.itemgetter(0)).compute(scheduler="sync") == expected
    with pytest.raises(ValueError, match="one-partition"):
        people.join(people, "name")


def test_accumulate(local_scheduler):
    b = pdb.from_sequence([3, 1, 4, 1, 5], npartitions=4)
    assert b.accumulate(operator.add).compute(scheduler=local_scheduler) == list(itertools.accumulate([3, 1, 4, 1, 5]))
    got = b.accumulate(operator.mul, initial=2).compute(scheduler="sync")
    assert got == list(itertools.accumulate([3, 1, 4, 1, 5], operator.mul, initial=2))


def test_str_accessor():
    b = pdb.from_sequence(["Ab c", "dE", "abc"], npartitions=2)
    assert b.str.lower().compute(scheduler="sync") == ["ab c", "de", "abc"]
    assert b.str.split(" ").compute(scheduler="sync") == [["Ab", "c"], ["dE"], ["abc"]]
    assert b.str.match("a*").compute(scheduler="sync") == ["abc"]
    with pytest.raises(AttributeError):
        b.str.nonsense


class Boom(Exception):
    pass


def explode_on_late(x):
    if x >= 5:
        raise Boom(x)
    return x * 10


def test_take_computes_only_what_it_needs(local_scheduler):
    b = pdb.from_sequence(range(20), npartitions=4).map(explode_on_late)
    assert b.take(3, scheduler=local_scheduler) == (0, 10, 20)  # partition 0 holds 0..4
    with pytest.raises(Boom):
        b.take(7, npartitions=2)
    with pytest.warns(UserWarning, match="found only 1"):
        assert pdb.from_sequence([1, 2, 3], npartitions=2).take(5) == (1,)
    assert pdb.from_sequence([1, 2, 3], npartitions=2).take(5, npartitions=-1) == (1, 2, 3)


def test_chains_become_one_task_per_partition():
    b = pdb.range(100, npartitions=4)
    chain = b.map(str).filter(bool).map(len)
    graph = optimize(chain.__pardata_graph__(), chain.__pardata_keys__())
    assert len(graph) == 4
    for node in graph.values():
        assert type(node) is Task and node.dependencies == ()
    counted = chain.frequencies()
    graph = optimize(counted.__pardata_graph__(), counted.__pardata_keys__())
    assert len(graph) == 5  # 4 streamed partials and the final merge
    shared = b.map(str)  # used twice: computed once, as a list
    both = pardata.compute(shared.map(len), shared.count(), scheduler="sync")
    assert both == ([len(str(i)) for i in range(100)], 100)


def test_persist_and_compute_many(local_scheduler):
    b = pdb.from_sequence(range(10), npartitions=3).map(operator.mul, 2)
    p = b.persist(scheduler=local_scheduler)
    assert p.npartitions == 3
    assert all(type(n).__name__ == "DataNode" for n in p.__pardata_graph__().values())
    s, c = pardata.compute(p.sum(), p.count(), scheduler=local_scheduler)
    assert (s, c) == (90, 10)
    assert b.sum().persist(scheduler="sync").compute() == 90
    assert type(optimize(b.__pardata_graph__(), b.__pardata_keys__())[(b.name, 0)]) in (Task, Fused)


JSON_CASES = ['{"a": [1, 2.5, "ü"]}\n', '[1]\r\n', "  {}", "\ufeff{}", "3 4", '{"a": 1} x', "NaN\n", "",
              '"s"', b'{"b": 1}', "nul", "{}\n\n \t", "1\x0b"]


def outcome(func, arg):
    try:
        return ("ok", func(arg))
    except Exception as exc:  # noqa: BLE001 - comparing errors
        return (type(exc), str(exc))


def test_map_json_loads_is_exactly_json_loads():
    import json

    from pardata.bag.elements import json_loads

    for case in JSON_CASES:
        assert outcome(json_loads, case) == outcome(json.loads, case), case
    valid = [c for c in JSON_CASES if outcome(json.loads, c)[0] == "ok"]
    got = pdb.from_sequence(valid, npartitions=2).map(json.loads).compute()
    assert repr(got) == repr([json.loads(c) for c in valid])  # repr: NaN != NaN


def test_a_partition_passed_whole_is_never_streamed():
    """A Delayed of a bag partition as a broadcast argument arrives as a list."""
    other = pdb.from_sequence([1, 2, 3], npartitions=1).map(operator.neg)
    (part,) = other.to_delayed(optimize_graph=False)
    b = pdb.from_sequence(["a", "b"], npartitions=1)
    got = b.map(lambda x, p: (x, list(p), len(p)), part).compute(scheduler="sync")
    assert got == [("a", [-1, -2, -3], 3), ("b", [-1, -2, -3], 3)]
    joined = b.map(len).join(other, lambda x: -x, lambda y: y)
    assert joined.compute(scheduler="sync") == [(-1, 1), (-1, 1)]
