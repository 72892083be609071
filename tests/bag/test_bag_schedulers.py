"""Every operation, computed in one call per local scheduler: identical results, equal to Python."""
import heapq
import itertools
import json
import operator
import statistics
from collections import Counter

import pytest

import pardata
import pardata.bag as pdb

LINES = [
    json.dumps({"user": u, "n": n, "text": t}, ensure_ascii=False)
    for u, n, t in [
        ("ünï", 3, "le café est chaud"), ("bob", 1, "hello world"), ("ünï", 4, "café crème"),
        ("zoë", 1, "日本 語 日本"), ("bob", 5, "hello again world"), ("amy", 9, ""),
        ("zoë", 2, "ελληνικά λέξεις"), ("amy", 2, "world"),
    ]
]


def records_bag():
    # partitions 1 and 4 are empty
    parts = [LINES[:3], [], LINES[3:5], LINES[5:], []]
    return pdb.from_delayed([pardata.delayed(p) for p in parts]).map(json.loads)


RECORDS = [json.loads(line) for line in LINES]
WORDS = [w for r in RECORDS for w in r["text"].split()]
NUMS = [r["n"] for r in RECORDS]


def plain_groups(key, data):
    out = {}
    for x in data:
        out.setdefault(key(x), []).append(x)
    return out


def build():
    b = records_bag()
    words = b.pluck("text").map(str.split).flatten()
    n = b.pluck("n")
    return {
        "map": (b.map(lambda r: r["user"].upper()), [r["user"].upper() for r in RECORDS]),
        "filter": (n.filter(lambda x: x > 2), [x for x in NUMS if x > 2]),
        "flatten": (words, WORDS),
        "starmap": (n.map(lambda x: (x, x)).starmap(operator.mul), [x * x for x in NUMS]),
        "map_partitions": (n.map_partitions(lambda p: [sum(p)]).sum(), sum(NUMS)),
        "zip": (n.map(operator.add, n.map(operator.neg)), [0] * len(NUMS)),
        "distinct": (b.pluck("user").distinct(), list(dict.fromkeys(r["user"] for r in RECORDS))),
        "frequencies": (words.frequencies(sort=True), Counter(WORDS).most_common()),
        "topk": (n.topk(3), heapq.nlargest(3, NUMS)),
        "fold": (n.fold(operator.add, initial=0, split_every=2), sum(NUMS)),
        "foldby": (b.foldby("user", lambda acc, r: acc + r["n"], 0, operator.add, 0),
                   [(u, sum(r["n"] for r in rs)) for u, rs in plain_groups(lambda r: r["user"], RECORDS).items()]),
        "groupby": (b.groupby("user", npartitions=2).map(lambda kv: (kv[0], len(kv[1]))),
                    {u: len(rs) for u, rs in plain_groups(lambda r: r["user"], RECORDS).items()}),
        "join": (b.join([("bob", "B"), ("zoë", "Z")], "user", 0).map(lambda p: p[0][1]),
                 ["B" if r["user"] == "bob" else "Z" for r in RECORDS if r["user"] in ("bob", "zoë")]),
        "accumulate": (n.accumulate(operator.add), list(itertools.accumulate(NUMS))),
        "stats": (pdb.from_sequence([0]).map(lambda _, *a: a, n.sum(), n.count(), n.min(), n.max(), n.mean(),
                                             n.std(), n.var(ddof=1)),
                  [(sum(NUMS), len(NUMS), min(NUMS), max(NUMS), statistics.mean(NUMS),
                    statistics.pstdev(NUMS), statistics.variance(NUMS))]),
    }


def normalize(name, value):
    if name == "groupby":
        return dict(value)
    return value


@pytest.fixture(scope="module")
def results():
    ops = build()
    out = {}
    for scheduler in ("sync", "threads", "processes"):
        computed = pardata.compute(*[c for c, _ in ops.values()], scheduler=scheduler)
        out[scheduler] = dict(zip(ops, computed))
    return ops, out


@pytest.mark.parametrize("name", sorted(build()))
def test_operation_matches_python_on_every_scheduler(results, name):
    ops, out = results
    expected = ops[name][1]
    got = normalize(name, out["sync"][name])
    if name == "stats":
        assert got[0][:4] == expected[0][:4]
        assert got[0][4:] == pytest.approx(expected[0][4:], rel=1e-12)
    else:
        assert got == expected
    assert out["threads"][name] == out["sync"][name]
    assert out["processes"][name] == out["sync"][name]
