"""merge/join (aligned, broadcast, hash), concat."""
import numpy as np
import pandas as pd
import pytest

import pardata
import pardata.dataframe as pdd
from pardata.dataframe.expr import walk
from pardata.dataframe.optimizer import optimize
from pardata.dataframe.shuffle import Shuffle
from pardata.testing.dataframe import assert_eq, random_frame

HOWS = ["inner", "left", "right", "outer", "left_anti", "right_anti"]


@pytest.fixture(scope="module")
def left():
    p = random_frame(240, seed=11)
    return pdd.from_pandas(p, npartitions=6), p


@pytest.fixture(scope="module")
def right():
    # keys 3..9 overlap 0..6 partly: unmatched rows on both sides, and a missing key
    p = pd.DataFrame({"k": np.r_[np.arange(3, 10), [np.nan]], "kv": np.arange(8) * 1.5,
                      "i": np.arange(8), "name": list("abcdefgh")})
    return p


def _plan_kinds(coll):
    plan = optimize(coll.expr)
    return ({type(e).__name__ for e in walk(plan)},
            sum(isinstance(e, Shuffle) for e in walk(plan)))


@pytest.mark.parametrize("how", HOWS)
def test_hash_merge(left, right, how):
    d, p = left
    dr = pdd.from_pandas(right.assign(k=right.k.astype("float64")), npartitions=3)
    pr = right.assign(k=right.k.astype("float64"))
    got = d.merge(dr, on="k", how=how, broadcast=False)
    kinds, shuffles = _plan_kinds(got)
    assert shuffles == 2
    assert_eq(got, p.merge(pr, on="k", how=how), check_index=False)


@pytest.mark.parametrize("how", HOWS)
def test_disk_shuffle_merge(left, right, how):
    d, p = left
    dr = pdd.from_pandas(right, npartitions=2)
    got = d.merge(dr, on="k", how=how, broadcast=False, shuffle_method="disk")
    assert_eq(got, p.merge(right, on="k", how=how), check_index=False)


@pytest.mark.parametrize("how", ["inner", "left", "left_anti"])
def test_broadcast_merge(left, right, how):
    d, p = left
    for r in (right, pdd.from_pandas(right, npartitions=1)):
        got = d.merge(r, on="k", how=how)
        kinds, shuffles = _plan_kinds(got)
        assert "BroadcastOf" in kinds and shuffles == 0
        assert_eq(got, p.merge(right, on="k", how=how), check_index=False)


def test_broadcast_small_left_for_right_join(left, right):
    d, p = left
    small = pdd.from_pandas(right, npartitions=1)
    got = small.merge(d, on="k", how="right")
    kinds, shuffles = _plan_kinds(got)
    assert "BroadcastOf" in kinds and shuffles == 0
    assert_eq(got, right.merge(p, on="k", how="right"), check_index=False)


def test_outer_never_broadcasts(left, right):
    d, p = left
    got = d.merge(right, on="k", how="outer")
    kinds, shuffles = _plan_kinds(got)
    assert "BroadcastOf" not in kinds and shuffles == 2
    assert_eq(got, p.merge(right, on="k", how="outer"), check_index=False)


def test_left_on_right_on_and_suffixes(left, right):
    d, p = left
    r = right.rename(columns={"k": "key"})
    dr = pdd.from_pandas(r, npartitions=2)
    got = d.merge(dr, left_on="k", right_on="key", how="inner", suffixes=("_l", "_r"),
                  broadcast=False)
    assert_eq(got, p.merge(r, left_on="k", right_on="key", suffixes=("_l", "_r")), check_index=False)
    assert_eq(pdd.merge(d, dr, left_on=["k"], right_on=["key"]),
              pd.merge(p, r, left_on=["k"], right_on=["key"]), check_index=False)


def test_merge_on_several_columns(left):
    d, p = left
    r = p[["k", "b", "f"]].drop_duplicates(subset=["k", "b"]).rename(columns={"f": "g"})
    dr = pdd.from_pandas(r, npartitions=3)
    assert_eq(d.merge(dr, on=["k", "b"], broadcast=False), p.merge(r, on=["k", "b"]), check_index=False)


def test_indicator(left, right):
    d, p = left
    dr = pdd.from_pandas(right, npartitions=2)
    assert_eq(d.merge(dr, on="k", how="outer", indicator=True, broadcast=False),
              p.merge(right, on="k", how="outer", indicator=True), check_index=False)


@pytest.mark.parametrize("how", HOWS)
def test_join_on_index_aligned(left, how):
    d, p = left
    other = pd.DataFrame({"z": np.arange(0, 400, 3)}, index=np.arange(0, 400, 3) // 1)
    do = pdd.from_pandas(other, npartitions=4)
    got = d.join(do, how=how)
    kinds, shuffles = _plan_kinds(got)
    assert shuffles == 0 and got.known_divisions
    assert_eq(got, p.join(other, how=how))


def test_join_unknown_divisions_hashes_index(left):
    d, p = left
    other = pd.DataFrame({"z": np.arange(100)}, index=np.arange(100) * 2)
    do = pdd.from_pandas(other, npartitions=3, sort=False)
    dd = pdd.from_pandas(p, npartitions=4, sort=False)
    with pardata.config.set({"dataframe.merge.broadcast-bytes": 0}):
        got = dd.join(do, how="inner")
        assert _plan_kinds(got)[1] == 2
    assert_eq(got, p.join(other, how="inner"))
    # small enough to send whole to every partition
    assert "BroadcastOf" in _plan_kinds(dd.join(do, how="inner"))[0]


def test_join_on_column(left, right):
    d, p = left
    r = right.dropna().set_index("k")
    dr = pdd.from_pandas(r, npartitions=2)
    got = d.join(dr, on="k", suffixes=("", "_r"))
    assert_eq(got, p.join(r, on="k", suffixes=("", "_r")))


def test_second_merge_on_same_key_reuses_partitioning(left, right):
    d, p = left
    dr = pdd.from_pandas(right, npartitions=3)
    third = pdd.from_pandas(right[["k", "name"]].rename(columns={"name": "n2"}), npartitions=5)
    once = d.merge(dr, on="k", broadcast=False)
    twice = once.merge(third, on="k", broadcast=False)
    # left and right shuffled once each; the joined result is already hashed on k,
    # so only the third frame moves
    assert _plan_kinds(twice)[1] == 3
    assert_eq(twice, p.merge(right, on="k").merge(right[["k", "name"]].rename(columns={"name": "n2"}), on="k"),
              check_index=False)


def test_merge_projection_pushdown(left, right):
    d, p = left
    dr = pdd.from_pandas(right, npartitions=3)
    q = d.merge(dr, on="k", broadcast=False)[["f", "kv"]]
    from pardata.dataframe.io.pandas import FromPandas

    readers = [e for e in walk(optimize(q.expr)) if isinstance(e, FromPandas)]
    assert sorted(sorted(r.projection) for r in readers) == [["f", "k"], ["k", "kv"]]
    assert_eq(q, p.merge(right, on="k")[["f", "kv"]], check_index=False)


def test_cross_merge():
    a = pd.DataFrame({"x": range(5)})
    b = pd.DataFrame({"y": range(3)})
    got = pdd.from_pandas(a, npartitions=2).merge(pdd.from_pandas(b, npartitions=1), how="cross")
    assert_eq(got, a.merge(b, how="cross"), check_index=False)


def test_concat_rows_and_columns(left):
    d, p = left
    parts = pdd.frame.partition_values(d)
    a, b = d.partitions[:2], d.partitions[3:]
    got = pdd.concat([a, b])
    assert got.known_divisions
    assert_eq(got, pd.concat(parts[:2] + parts[3:]))
    assert_eq(pdd.concat([d[["i", "f"]], d[["i", "s"]]]), pd.concat([p[["i", "f"]], p[["i", "s"]]]))
    assert_eq(pdd.concat([d[["i", "f"]], d[["i", "s"]]], join="inner"),
              pd.concat([p[["i", "f"]], p[["i", "s"]]], join="inner"))
    assert_eq(pdd.concat([d.f, d.i], axis=1), pd.concat([p.f, p.i], axis=1))
    assert not pdd.concat([d, d]).known_divisions


def test_right_anti_broadcasts_the_small_left(left, right):
    d, p = left
    small = pdd.from_pandas(right, npartitions=1)
    got = small.merge(d, on="k", how="right_anti")
    kinds, shuffles = _plan_kinds(got)
    assert "BroadcastOf" in kinds and shuffles == 0
    assert_eq(got, right.merge(p, on="k", how="right_anti"), check_index=False)


def test_merge_how_is_checked(left, right):
    d, _ = left
    with pytest.raises(ValueError, match="left_anti"):
        d.merge(right, on="k", how="semi")
