"""Reductions compared with pandas: NaNs, empty partitions, odd partition counts."""
import numpy as np
import pandas as pd
import pytest

import pardata.dataframe as pdd
from pardata.testing.dataframe import assert_eq, random_frame


def _with_empty_partitions(pdf, n=5):
    """A collection whose middle partitions are empty (a filter that drops them)."""
    d = pdd.from_pandas(pdf, npartitions=n)
    lo, hi = len(pdf) // n, 3 * len(pdf) // n  # partitions 1 and 2 entirely
    keep = (d.index < lo) | (d.index >= hi)
    return d[keep], pdf[(pdf.index < lo) | (pdf.index >= hi)]


@pytest.fixture(scope="module", params=[1, 4, 9])
def frames(request):
    pdf = random_frame(257, seed=request.param)
    return pdd.from_pandas(pdf, npartitions=request.param), pdf


NUMERIC = ["i", "f", "k"]


@pytest.mark.parametrize("how", ["sum", "min", "max", "count", "mean", "prod"])
def test_series_reductions(frames, how):
    d, p = frames
    for col in NUMERIC:
        assert_eq(getattr(d[col], how)(), getattr(p[col], how)(), rtol=1e-10)


@pytest.mark.parametrize("how", ["sum", "min", "max", "count", "mean"])
def test_frame_reductions(frames, how):
    d, p = frames
    cols = ["i", "f", "k", "b"]
    assert_eq(getattr(d[cols], how)(), getattr(p[cols], how)(), rtol=1e-10)


@pytest.mark.parametrize("how", ["std", "var"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_moments(frames, how, ddof):
    d, p = frames
    assert_eq(getattr(d.f, how)(ddof=ddof), getattr(p.f, how)(ddof=ddof), rtol=1e-9)
    assert_eq(getattr(d[NUMERIC], how)(ddof=ddof), getattr(p[NUMERIC], how)(ddof=ddof), rtol=1e-9)


def test_var_of_large_values_is_stable():
    p = pd.Series(1e9 + np.random.default_rng(0).random(10_000))
    d = pdd.from_pandas(p, npartitions=7)
    assert_eq(d.var(), p.var(), rtol=1e-6)


def test_string_and_datetime_min_max(frames):
    d, p = frames
    assert_eq(d.s.min(), p.s.min())
    assert_eq(d.s.max(), p.s.max())
    assert_eq(d.t.min(), p.t.min())
    assert_eq(d.t.max(), p.t.max())


def test_reductions_with_empty_partitions():
    pdf = random_frame(200, seed=3)
    d, p = _with_empty_partitions(pdf)
    assert any(len(x) == 0 for x in pdd.frame.partition_values(d))
    assert_eq(d.i.min(), p.i.min())
    assert_eq(d.i.max(), p.i.max())
    assert_eq(d.i.sum(), p.i.sum())
    assert_eq(d.f.mean(), p.f.mean())
    assert_eq(d.f.std(), p.f.std())
    assert_eq(d[NUMERIC].min(), p[NUMERIC].min())
    assert_eq(d.s.nunique(), p.s.nunique())
    assert_eq(d.k.value_counts(), p.k.value_counts())


def test_all_partitions_empty():
    pdf = random_frame(50, seed=4)
    d = pdd.from_pandas(pdf, npartitions=3)
    d, p = d[d.i > 1000], pdf[pdf.i > 1000]
    assert_eq(d.i.sum(), p.i.sum())
    assert_eq(d.f.mean(), p.f.mean())
    assert_eq(d.i.count(), p.i.count())
    assert_eq(d.k.value_counts(), p.k.value_counts())
    assert len(d) == 0


def test_split_every(frames):
    d, p = frames
    for every in (2, 3, 100):
        assert_eq(d.f.sum(split_every=every), p.f.sum(), rtol=1e-10)
        assert_eq(d.i.nunique(split_every=every), p.i.nunique())


def test_nunique(frames):
    d, p = frames
    assert_eq(d.s.nunique(), p.s.nunique())
    assert_eq(d.s.nunique(dropna=False), p.s.nunique(dropna=False))
    assert_eq(d[["i", "s", "k"]].nunique(), p[["i", "s", "k"]].nunique())


def test_value_counts(frames):
    d, p = frames
    assert_eq(d.k.value_counts(), p.k.value_counts())
    assert_eq(d.s.value_counts(dropna=False), p.s.value_counts(dropna=False))
    assert_eq(d.s.value_counts(normalize=True), p.s.value_counts(normalize=True))
    assert_eq(d.c.value_counts(), p.c.value_counts())
    got = d.k.value_counts().compute()
    assert got.is_monotonic_decreasing


def test_unique(frames):
    d, p = frames
    got = d.k.unique().compute()
    assert sorted(got) == sorted(p.k.unique())


def test_any_all(frames):
    d, p = frames
    assert_eq(d.b.any(), p.b.any())
    assert_eq(d.b.all(), p.b.all())
    assert_eq((d.i > -100).all(), (p.i > -100).all())


def test_quantile_exact_on_small_partitions(frames):
    d, p = frames
    assert_eq(d.f.quantile(0.3), p.f.quantile(0.3), rtol=1e-12)
    assert_eq(d.i.quantile([0.1, 0.5, 0.9]), p.i.quantile([0.1, 0.5, 0.9]), check_dtype=False)
    assert_eq(d[["i", "f"]].quantile(0.5), p[["i", "f"]].quantile(0.5))


def test_quantile_approximate_on_large_partitions():
    p = pd.Series(np.random.default_rng(5).normal(size=40_000))
    d = pdd.from_pandas(p, npartitions=4)
    for q in (0.01, 0.25, 0.5, 0.9):
        assert abs(d.quantile(q).compute() - p.quantile(q)) < 0.02


def test_describe(frames):
    d, p = frames
    assert_eq(d.describe(), p.describe(), rtol=1e-9)
    assert_eq(d.f.describe(), p.f.describe(), rtol=1e-9)
    assert_eq(d.s.describe(), p.s.describe())
    pct = [0.1, 0.9]
    assert_eq(d[NUMERIC].describe(percentiles=pct), p[NUMERIC].describe(percentiles=pct), rtol=1e-9)


def test_idxmax_idxmin(frames):
    d, p = frames
    assert d.f.idxmax().compute() == p.f.idxmax()
    assert d.f.idxmin().compute() == p.f.idxmin()


def test_nlargest_nsmallest(frames):
    d, p = frames
    assert_eq(d.nlargest(7, "f"), p.nlargest(7, "f"))
    assert_eq(d.f.nsmallest(4), p.f.nsmallest(4))


def test_len_of_filtered(frames):
    d, p = frames
    assert len(d[d.f > 0]) == int((p.f > 0).sum())


def test_median(frames):
    d, p = frames
    assert_eq(d.f.median(), p.f.median(), rtol=1e-12)
    assert_eq(d[["i", "f"]].median(), p[["i", "f"]].median())
    assert_eq(d.f.median_approximate(), p.f.median(), rtol=1e-12)
    e, q = _with_empty_partitions(p)
    assert_eq(e.f.median(), q.f.median(), rtol=1e-12)


def test_describe_include_exclude_and_categoricals():
    rng = np.random.default_rng(4)
    n = 300
    p = pd.DataFrame({
        "x": rng.random(n), "k": rng.integers(0, 5, n),
        "s": pd.array(rng.choice(["ab", "cd", None], n), dtype="str"),
        "c": pd.Categorical(rng.choice(["u", "v"], n), categories=["u", "v", "unused"]),
        "t": pd.to_datetime("2021-01-01") + pd.to_timedelta(rng.integers(0, 999, n), unit="h"),
    })
    d = pdd.concat([pdd.from_pandas(x, npartitions=1) for x in (p.iloc[:90], p.iloc[90:90], p.iloc[90:])])
    for include, exclude in [("all", None), (["category"], None), (None, "number"),
                             ([np.number, "str"], None)]:
        assert_eq(d.describe(include=include, exclude=exclude),
                  p.describe(include=include, exclude=exclude), check_divisions=False)
    assert_eq(d.c.describe(), p.c.describe())  # an unused category is not a value
    with pytest.raises(ValueError, match="DataFrame"):
        d.x.describe(include="all")
