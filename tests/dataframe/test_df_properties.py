"""Random frames and random partitionings: every result equals pandas'."""
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import pardata.dataframe as pdd
from pardata.testing.dataframe import assert_eq


@st.composite
def frames(draw):
    n = draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    f[rng.random(n) < 0.2] = np.nan
    keys = rng.choice(np.array(["a", "b", "c", None], dtype=object), n)
    p = pd.DataFrame({"k": pd.array(keys, dtype="str"), "g": rng.integers(0, 4, n), "f": f,
                      "i": rng.integers(-5, 5, n)})
    nparts = draw(st.integers(1, 7))
    sort = draw(st.booleans())
    return pdd.from_pandas(p, npartitions=nparts, sort=sort), p


@settings(max_examples=15)
@given(frames())
def test_reductions_match_pandas(data):
    d, p = data
    assert_eq(d.f.sum(), p.f.sum())
    assert_eq(d.i.max(), p.i.max()) if len(p) else None
    assert_eq(d.f.count(), p.f.count())
    assert_eq(d.k.nunique(), p.k.nunique())
    assert_eq(d.g.value_counts(), p.g.value_counts())
    assert len(d) == len(p)


@settings(max_examples=15)
@given(frames(), st.sampled_from([1, 2, 3]))
def test_groupby_matches_pandas(data, split_out):
    d, p = data
    spec = {"f": ["sum", "mean", "count"], "i": ["min", "max"]}
    assert_eq(d.groupby("g").agg(spec, split_out=split_out), p.groupby("g").agg(spec), rtol=1e-9)
    assert_eq(d.groupby("k", dropna=False).i.sum(split_out=split_out),
              p.groupby("k", dropna=False).i.sum())


@settings(max_examples=12)
@given(frames(), frames(), st.sampled_from(["inner", "left", "outer"]),
       st.sampled_from([True, False]))
def test_merge_matches_pandas(left, right, how, broadcast):
    dl, pl = left
    dr, pr = right
    pr = pr.rename(columns={"f": "f2", "i": "i2", "k": "k2"})
    dr = dr.rename(columns={"f": "f2", "i": "i2", "k": "k2"})
    got = dl.merge(dr, on="g", how=how, broadcast=broadcast)
    assert_eq(got, pl.merge(pr, on="g", how=how), check_index=False, check_dtype=False)


@settings(max_examples=12)
@given(frames())
def test_set_index_sort_and_shuffle(data):
    d, p = data
    if len(p):
        assert_eq(d.set_index("i"), p.set_index("i").sort_index(kind="stable"))
    got = d.sort_values("f").compute()
    assert got.f.dropna().is_monotonic_increasing
    assert_eq(d.shuffle("k", npartitions=3), p)
    assert_eq(d.drop_duplicates(subset=["g", "k"]), p.drop_duplicates(subset=["g", "k"]))
