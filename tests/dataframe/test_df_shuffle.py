"""Shuffles (task and disk), set_index, sort_values, repartition."""

import pandas as pd
import pytest

import pardata
import pardata.dataframe as pdd
from pardata.dataframe import shuffle as shuffle_mod
from pardata.dataframe.expr import walk
from pardata.dataframe.optimizer import optimize
from pardata.dataframe.shuffle import Shuffle
from pardata.testing.dataframe import assert_eq, random_frame


@pytest.fixture(scope="module")
def frames():
    p = random_frame(400, seed=21)
    return pdd.from_pandas(p, npartitions=7), p


def _shuffles(coll):
    return [e for e in walk(optimize(coll.expr)) if isinstance(e, Shuffle)]


@pytest.mark.parametrize("method", ["tasks", "disk"])
@pytest.mark.parametrize("n_out", [1, 3, 10])
def test_shuffle_puts_equal_keys_together(frames, method, n_out):
    d, p = frames
    s = d.shuffle("k", npartitions=n_out, method=method)
    assert s.npartitions == n_out and not s.known_divisions
    parts = pdd.frame.partition_values(s)
    seen = {}
    for i, part in enumerate(parts):
        for key in part.k.unique():
            assert seen.setdefault(key, i) == i
    assert_eq(s, p)


def test_shuffle_on_several_columns_and_strings(frames):
    d, p = frames
    s = d.shuffle(["s", "b"], npartitions=4)
    parts = pdd.frame.partition_values(s)
    owners = {}
    for i, part in enumerate(parts):
        for key in set(zip(part.s.fillna("<na>"), part.b)):
            assert owners.setdefault(key, i) == i
    assert_eq(s, p)


def test_disk_shuffle_cleans_up(frames, tmp_path):
    d, p = frames
    with pardata.config.set({"temporary-directory": str(tmp_path)}):
        s = d.shuffle("k", npartitions=5, method="disk")
        assert_eq(s, p)
        root = tmp_path / "pardata-shuffle"
        assert not root.exists() or not any(root.iterdir())
        assert not shuffle_mod._created_dirs


def test_default_method_by_size(frames):
    assert shuffle_mod.choose_method(None, 8, 8) == "tasks"
    assert shuffle_mod.choose_method(None, 100, 100) == "disk"
    with pardata.config.set({"dataframe.shuffle.method": "disk"}):
        assert shuffle_mod.choose_method(None, 2, 2) == "disk"
    with pytest.raises(ValueError, match="unknown shuffle method"):
        shuffle_mod.choose_method("bogus", 2, 2)


def test_large_partition_count_uses_disk(frames):
    d, p = frames
    s = d.shuffle("i", npartitions=40)
    graph = s.__pardata_graph__()
    assert any(isinstance(k, str) and k.startswith("shuffle-barrier") for k in graph)
    assert_eq(s, p)


def test_shuffle_of_already_partitioned_is_free(frames):
    d, p = frames
    once = d.shuffle("k", npartitions=4)
    twice = once.shuffle("k", npartitions=4)
    assert len(_shuffles(twice)) == 1
    assert len(_shuffles(once.shuffle("k", npartitions=5))) == 2
    assert len(_shuffles(once[["k", "f"]].shuffle("k", npartitions=4))) == 1
    assert len(_shuffles(once.assign(k=once.k + 1).shuffle("k", npartitions=4))) == 2
    assert_eq(twice, p)


@pytest.mark.parametrize("col", ["i", "f", "s", "t"])
def test_set_index(frames, col):
    d, p = frames
    got = d.set_index(col)
    assert got.known_divisions
    assert_eq(got, p.set_index(col).sort_index(kind="stable"))


def test_set_index_npartitions_and_divisions(frames):
    d, p = frames
    got = d.set_index("i", npartitions=3)
    assert got.npartitions <= 3
    assert_eq(got, p.set_index("i").sort_index(kind="stable"))
    got = d.set_index("i", divisions=[-50, 0, 20, 49])
    assert got.divisions == (-50, 0, 20, 49)
    assert_eq(got, p.set_index("i").sort_index(kind="stable"))


def test_set_index_presorted_moves_nothing():
    p = random_frame(300, seed=2).sort_values("t")
    d = pdd.from_pandas(p, npartitions=5, sort=False)
    got = d.set_index("t")
    assert not _shuffles(got)
    assert got.npartitions == 5 and got.known_divisions
    assert_eq(got, p.set_index("t"))
    assert_eq(d.set_index("t", sorted=True), p.set_index("t"))


def test_set_index_with_series_and_then_loc(frames):
    d, p = frames
    got = d.set_index(d.i * 2)
    expected = p.set_index(p.i * 2).sort_index(kind="stable")
    assert_eq(got, expected)
    assert_eq(got.loc[-20:30], expected.loc[-20:30])


def test_set_index_with_missing_values(frames):
    d, p = frames
    got = d.set_index("f")
    assert_eq(got, p.set_index("f").sort_index(kind="stable"))


@pytest.mark.parametrize("ascending", [True, False])
@pytest.mark.parametrize("by", ["f", "s", ["k", "i"]])
def test_sort_values(frames, by, ascending):
    d, p = frames
    got = d.sort_values(by, ascending=ascending)
    expected = p.sort_values(by, ascending=ascending, kind="stable")
    cols = by if isinstance(by, list) else [by]
    pd.testing.assert_frame_equal(got.compute()[cols].reset_index(drop=True),
                                  expected[cols].reset_index(drop=True))
    assert_eq(got, expected)


def test_sort_values_na_first_and_series(frames):
    d, p = frames
    got = d.sort_values("f", na_position="first").compute()
    assert got.f.isna().iloc[: p.f.isna().sum()].all()
    assert_eq(d.f.sort_values(), p.f.sort_values(kind="stable"), sort_results=False, check_index=False)


def test_repartition(frames):
    d, p = frames
    for n in (1, 3, 7, 12):
        r = d.repartition(npartitions=n)
        assert r.npartitions == n
        assert_eq(r, p)
    unsorted = pdd.from_pandas(p, npartitions=3, sort=False)
    r = unsorted.repartition(npartitions=8)
    assert r.npartitions == 8
    assert_eq(r, p)
    r = d.repartition(divisions=[0, 100, 250, 399])
    assert r.divisions == (0, 100, 250, 399)
    assert_eq(r, p)


def test_repartition_partition_size(frames):
    d, p = frames
    total = int(p.memory_usage(deep=True).sum())
    small = d.repartition(partition_size=total // 20)
    assert small.npartitions > d.npartitions
    assert_eq(small, p, check_divisions=False)
    big = d.repartition(partition_size="1GB")
    assert big.npartitions == 1
    assert_eq(big, p)


def test_drop_duplicates(frames):
    d, p = frames
    assert_eq(d.drop_duplicates(subset=["k", "b"]), p.drop_duplicates(subset=["k", "b"]))
    assert_eq(d.drop_duplicates(subset=["k"], keep="last"), p.drop_duplicates(subset=["k"], keep="last"))
    assert_eq(d.drop_duplicates(subset=["k", "b"], keep=False), p.drop_duplicates(subset=["k", "b"], keep=False))
    assert_eq(d.drop_duplicates(subset=["k", "s"], split_out=3), p.drop_duplicates(subset=["k", "s"]))
    assert_eq(d.s.drop_duplicates(), p.s.drop_duplicates())
    assert_eq(d[["k", "b"]].drop_duplicates(ignore_index=True),
              p[["k", "b"]].drop_duplicates(ignore_index=True), check_index=False)


def test_shuffle_index(frames):
    d, p = frames
    s = d.shuffle(npartitions=3)
    assert_eq(s, p)


@pytest.mark.processes
def test_shuffles_on_the_processes_scheduler(frames):
    d, p = frames
    right = pd.DataFrame({"k": range(3, 9), "v": range(6)})
    assert_eq(d.merge(pdd.from_pandas(right, npartitions=2), on="k", broadcast=False,
                      shuffle_method="disk"),
              p.merge(right, on="k"), check_index=False, scheduler="processes")
    assert_eq(d.set_index("i"), p.set_index("i").sort_index(kind="stable"), scheduler="processes")
    assert_eq(d.groupby("k").apply(lambda g: g.f.sum()), p.groupby("k").apply(lambda g: g.f.sum()),
              scheduler="processes")
