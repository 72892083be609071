"""Reductions against plain Python, including empty partitions and tiny split_every."""
import functools
import heapq
import math
import operator
import statistics
from collections import Counter

import pytest

import pardata
import pardata.bag as pdb

DATA = [5, 3, 9, 3, 0, 7, 7, 1, 8, 2, 6, 3]


def with_empty_partitions(data):
    """A bag of ``data`` whose partitions 0, 2 and the last are empty."""
    parts = [[], data[:4], [], data[4:], []]
    return pdb.from_delayed([pardata.delayed(p) for p in parts])


@pytest.fixture(params=["plain", "empty-partitions"])
def bag(request):
    if request.param == "plain":
        return pdb.from_sequence(DATA, npartitions=5)
    return with_empty_partitions(DATA)


@pytest.mark.parametrize("split_every", [None, 2])
def test_numeric_reductions(bag, split_every):
    got = pardata.compute(
        bag.sum(split_every), bag.count(split_every), bag.min(split_every), bag.max(split_every),
        bag.mean(split_every), bag.var(split_every=split_every), bag.std(ddof=1, split_every=split_every),
        bag.any(split_every), bag.all(split_every), scheduler="sync",
    )
    expected = (sum(DATA), len(DATA), min(DATA), max(DATA), statistics.mean(DATA),
                statistics.pvariance(DATA), statistics.stdev(DATA), any(DATA), all(DATA))
    assert got[:4] == expected[:4]
    assert got[4:7] == pytest.approx(expected[4:7], rel=1e-12)
    assert got[7:] == expected[7:]


def test_variance_is_stable_for_large_offsets():
    data = [1e9 + x for x in (4.0, 7.0, 13.0, 16.0)] * 10
    b = pdb.from_sequence(data, npartitions=7)
    assert b.var().compute(scheduler="sync") == pytest.approx(statistics.pvariance(data), rel=1e-7)  # naive sum of squares: ~100% off


def test_empty_bag_reductions():
    empty = with_empty_partitions([])
    assert pardata.compute(empty.sum(), empty.count(), empty.any(), empty.all(), scheduler="sync") == (
        0, 0, False, True)
    with pytest.raises(ValueError, match="empty"):
        empty.max().compute(scheduler="sync")
    with pytest.raises(ZeroDivisionError):
        empty.mean().compute(scheduler="sync")
    assert empty.frequencies().compute(scheduler="sync") == []
    assert empty.distinct().compute(scheduler="sync") == []
    assert empty.topk(3).compute(scheduler="sync") == []
    assert empty.fold(operator.add, initial=0).compute(scheduler="sync") == 0


@pytest.mark.parametrize("split_every", [None, 2, 3])
def test_fold_and_reduction(bag, split_every):
    assert bag.fold(operator.add, split_every=split_every).compute(scheduler="sync") == sum(DATA)
    assert bag.fold(max, split_every=split_every).compute(scheduler="sync") == max(DATA)
    count = bag.fold(lambda acc, x: acc + 1, operator.add, initial=0, split_every=split_every)
    assert count.compute(scheduler="sync") == len(DATA)
    evens = bag.reduction(lambda p: [x for x in p if x % 2 == 0], lambda ps: sum(ps, []),
                          split_every=split_every, out_type=pdb.Bag)
    assert evens.npartitions == 1
    assert evens.compute(scheduler="sync") == [x for x in DATA if x % 2 == 0]
    longest = bag.reduction(len, max, split_every=split_every)
    assert longest.compute(scheduler="sync") <= len(DATA)


def test_frequencies_topk_distinct(bag):
    freq, ordered, top, top_key, dist, dist_key = pardata.compute(
        bag.frequencies(), bag.frequencies(sort=True, split_every=2), bag.topk(4), bag.topk(3, key=lambda x: -x),
        bag.distinct(), bag.distinct(key=lambda x: x % 4), scheduler="sync",
    )
    assert dict(freq) == Counter(DATA)
    assert [c for _, c in ordered] == sorted(Counter(DATA).values(), reverse=True)
    assert top == heapq.nlargest(4, DATA)
    assert top_key == heapq.nlargest(3, DATA, key=lambda x: -x)
    assert dist == list(dict.fromkeys(DATA))
    first = {}
    for x in DATA:
        first.setdefault(x % 4, x)
    assert dist_key == list(first.values())


def test_distinct_keeps_first_per_key():
    b = pdb.from_sequence([("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)], npartitions=3)
    assert b.distinct(key=0).compute(scheduler="sync") == [("a", 1), ("b", 2), ("c", 4)]
    assert b.topk(2, key=1).compute(scheduler="sync") == [("b", 5), ("c", 4)]


def plain_foldby(key, binop, initial, data):
    out = {}
    for x in data:
        k = key(x)
        out[k] = binop(out[k] if k in out else initial, x)
    return out


@pytest.mark.parametrize("split_every", [None, 2])
def test_foldby(bag, split_every):
    def key(x):
        return "even" if x % 2 == 0 else "odd"

    def add(acc, x):
        return acc + x

    got = bag.foldby(key, add, 0, split_every=split_every).compute(scheduler="sync")
    assert dict(got) == plain_foldby(key, add, 0, DATA)
    # no initial: the first element starts each key; combine differs from binop
    pairs = bag.foldby(lambda x: x % 3, max).compute(scheduler="sync")
    assert dict(pairs) == {k: max(x for x in DATA if x % 3 == k) for k in range(3)}
    lists = bag.foldby(lambda x: x % 2, lambda acc, x: acc + [x], list, operator.add, list,
                       split_every=split_every)
    assert {k: sorted(v) for k, v in lists.compute(scheduler="sync")} == {
        k: sorted(x for x in DATA if x % 2 == k) for k in range(2)}


def test_foldby_with_index_key():
    records = [("x", 1), ("y", 2), ("x", 3)]
    b = pdb.from_sequence(records, npartitions=2)
    got = b.foldby(0, lambda acc, r: acc + r[1], 0, operator.add, 0).compute(scheduler="sync")
    assert dict(got) == {"x": 4, "y": 2}


def test_item_apply_and_use_in_map():
    b = pdb.from_sequence(DATA, npartitions=3)
    mean = b.mean()
    centered = b.map(operator.sub, mean)
    assert centered.sum().compute(scheduler="sync") == pytest.approx(0, abs=1e-9)
    assert mean.apply(math.floor).compute(scheduler="sync") == math.floor(statistics.mean(DATA))
    with pytest.raises(ValueError, match="split_every"):
        b.sum(split_every=1)
    assert functools.reduce(operator.add, DATA) == b.fold(operator.add, split_every=20).compute(scheduler="sync")
