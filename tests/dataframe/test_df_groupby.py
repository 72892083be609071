"""groupby aggregations, split_out, apply/transform, against pandas."""
import numpy as np
import pandas as pd
import pytest

import pardata
import pardata.dataframe as pdd
from pardata.dataframe.optimizer import optimize, to_graph
from pardata.dataframe.expr import walk
from pardata.dataframe.shuffle import Shuffle
from pardata.testing.dataframe import assert_eq, random_frame


@pytest.fixture(scope="module", params=[(1, 0), (5, 1), (11, 2)])
def frames(request):
    n, seed = request.param
    pdf = random_frame(311, seed=seed)
    return pdd.from_pandas(pdf, npartitions=n), pdf


@pytest.fixture(autouse=True, params=["pandas", "arrow"])
def engine(request):
    """Run every test with partials from pandas and from pyarrow's hash aggregation."""
    limit = 0 if request.param == "arrow" else 10**12
    with pardata.config.set({"dataframe.groupby.arrow-min-rows": limit}):
        yield request.param


SIMPLE = ["sum", "mean", "count", "min", "max", "std", "var", "nunique", "first", "last", "size"]


@pytest.mark.parametrize("how", SIMPLE)
def test_series_groupby(frames, how):
    d, p = frames
    assert_eq(getattr(d.groupby("k").f, how)(), getattr(p.groupby("k").f, how)(), rtol=1e-9)
    assert_eq(getattr(d.groupby("s").i, how)(), getattr(p.groupby("s").i, how)(), rtol=1e-9)


@pytest.mark.parametrize("how", ["sum", "mean", "count", "min", "max", "size"])
def test_frame_groupby(frames, how):
    d, p = frames
    cols = ["k", "i", "f", "b"]
    assert_eq(getattr(d[cols].groupby("k"), how)(), getattr(p[cols].groupby("k"), how)(),
              rtol=1e-9)


def test_multiple_keys_and_dropna(frames):
    d, p = frames
    assert_eq(d.groupby(["k", "b"]).f.mean(), p.groupby(["k", "b"]).f.mean(), rtol=1e-9)
    assert_eq(d.groupby("s", dropna=False).i.sum(), p.groupby("s", dropna=False).i.sum())
    assert_eq(d.groupby(["s", "k"], dropna=False).size(), p.groupby(["s", "k"], dropna=False).size())


def test_agg_forms(frames):
    d, p = frames
    spec = {"f": ["mean", "std", "min"], "i": "max", "s": "nunique"}
    assert_eq(d.groupby("k").agg(spec), p.groupby("k").agg(spec), rtol=1e-9)
    assert_eq(d.groupby("k").agg({"f": "sum", "i": "count"}), p.groupby("k").agg({"f": "sum", "i": "count"}))
    assert_eq(d.groupby("k")[["f", "i"]].agg(["sum", "max"]), p.groupby("k")[["f", "i"]].agg(["sum", "max"]))
    assert_eq(d.groupby("k").f.agg(["mean", "count"]), p.groupby("k").f.agg(["mean", "count"]), rtol=1e-9)
    named = d.groupby("k").agg(total=("f", "sum"), n=("s", "count"), hi=("i", "max"))
    assert_eq(named, p.groupby("k").agg(total=("f", "sum"), n=("s", "count"), hi=("i", "max")))
    assert_eq(d[["k", "f"]].groupby("k").agg("sum"), p[["k", "f"]].groupby("k").agg("sum"))


def test_categorical_key(frames):
    d, p = frames
    assert_eq(d.groupby("c").f.sum(), p.groupby("c", observed=True).f.sum())
    assert_eq(d.groupby("c", observed=False).i.count(),
              p.groupby("c", observed=False).i.count())


def test_group_by_series_and_index(frames):
    d, p = frames
    assert_eq(d.groupby(d.i % 3).f.sum(), p.groupby(p.i % 3).f.sum())
    assert_eq(d.f.groupby(d.k).max(), p.f.groupby(p.k).max())
    indexed = p.set_index("k")
    di = pdd.from_pandas(indexed, npartitions=3)
    assert_eq(di.groupby(level=0).f.sum(), indexed.groupby(level=0).f.sum())
    assert_eq(di.groupby("k").i.max(), indexed.groupby("k").i.max())


@pytest.mark.parametrize("split_out", [2, 3])
def test_split_out(frames, split_out):
    d, p = frames
    got = d.groupby("k").agg({"f": ["mean", "var"], "i": "sum"}, split_out=split_out)
    assert got.npartitions == split_out
    assert_eq(got, p.groupby("k").agg({"f": ["mean", "var"], "i": "sum"}), rtol=1e-9)
    assert_eq(d.groupby("s").i.nunique(split_out=split_out), p.groupby("s").i.nunique())
    assert_eq(d.k.value_counts(split_out=split_out), p.k.value_counts().rename_axis("k").rename(None),
              check_names=False)


def test_split_out_disk_shuffle(frames):
    d, p = frames
    got = d.groupby("k").f.sum(split_out=2, shuffle_method="disk")
    assert_eq(got, p.groupby("k").f.sum())


def test_groupby_after_shuffle_on_key_needs_no_exchange(frames):
    d, p = frames
    shuffled = d.shuffle("k", npartitions=4)
    q = shuffled.groupby("k").f.sum(split_out=4)
    plan = optimize(q.expr)
    shuffles = [e for e in walk(plan) if isinstance(e, Shuffle)]
    assert len(shuffles) == 1  # only the explicit one
    assert_eq(q, p.groupby("k").f.sum())


def test_var_is_stable_with_large_values():
    rng = np.random.default_rng(0)
    p = pd.DataFrame({"g": rng.integers(0, 3, 3000), "x": 1e9 + rng.random(3000)})
    d = pdd.from_pandas(p, npartitions=6)
    assert_eq(d.groupby("g").x.var(), p.groupby("g").x.var(), rtol=1e-6)


def test_apply_and_transform(frames):
    d, p = frames
    assert_eq(d.groupby("k").apply(lambda g: g.f.sum() + g.i.max()),
              p.groupby("k").apply(lambda g: g.f.sum() + g.i.max()))
    assert_eq(d.groupby("k").apply(lambda g: g.nlargest(2, "i")),
              p.groupby("k").apply(lambda g: g.nlargest(2, "i")))
    assert_eq(d.groupby("k").f.transform(lambda x: x - x.mean()),
              p.groupby("k").f.transform(lambda x: x - x.mean()))


def test_tree_reduction_task_count():
    p = random_frame(200, seed=5)
    d = pdd.from_pandas(p, npartitions=16)
    q = d.groupby("k").f.sum(split_every=4)
    graph = to_graph(optimize(q.expr))
    assert len(graph) == 16 + 4 + 1  # fused chunks, 4 combines, 1 aggregate


def test_unsupported_aggregation_message(frames):
    d, _ = frames
    with pytest.raises(NotImplementedError, match="median"):
        d.groupby("k").agg({"f": "median"})


def test_empty_partitions_groupby():
    p = random_frame(120, seed=7)
    d = pdd.from_pandas(p, npartitions=6)
    d2, p2 = d[d.index < 30], p[p.index < 30]
    assert_eq(d2.groupby("k").agg({"f": ["sum", "mean", "std"], "s": "nunique"}),
              p2.groupby("k").agg({"f": ["sum", "mean", "std"], "s": "nunique"}), rtol=1e-9)
    d3, p3 = d[d.i > 999], p[p.i > 999]
    assert_eq(d3.groupby("k").f.sum(), p3.groupby("k").f.sum())


@pytest.mark.parametrize("aggs", [["sum", "min", "max", "count"], ["mean", "count"], ["std", "var"]])
def test_groupby_mixed_arrow_and_pandas_partials(aggs):
    """Partitions above and below the pyarrow threshold (and an empty one) combine into
    pandas' answer: string, datetime and integer keys, nulls among keys and values."""
    rng = np.random.default_rng(7)
    n = 400
    pdf = pd.DataFrame({
        "s": pd.array(rng.choice(["a", "b", None, "cc"], n), dtype="str"),
        "t": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 3, n), unit="D"),
        "k": rng.integers(0, 4, n),
        "x": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
    })
    parts = [pdf.iloc[:300], pdf.iloc[300:300], pdf.iloc[300:340], pdf.iloc[340:]]
    ddf = pdd.concat([pdd.from_pandas(p, npartitions=1) for p in parts])
    with pardata.config.set({"dataframe.groupby.arrow-min-rows": 100}):
        for by in (["s", "t", "k"], "s", ["t"]):
            got = ddf.groupby(by).x.agg(aggs)
            assert_eq(got, pdf.groupby(by).x.agg(aggs), rtol=1e-9, check_divisions=False)


def _median_frame():
    rng = np.random.default_rng(11)
    n = 600
    pdf = pd.DataFrame({
        "k": rng.integers(0, 6, n),
        "s": pd.array(rng.choice(["a", "b", None], n), dtype="str"),
        "c": pd.Categorical(rng.choice(["u", "v"], n)),
        "x": rng.random(n),
        "y": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
    }, index=pd.date_range("2022-01-01", periods=n, freq="h"))
    empty = pdf.iloc[:0]
    ddf = pdd.concat([pdd.from_pandas(pdf.iloc[:250], npartitions=2),
                      pdd.from_pandas(empty, npartitions=1),
                      pdd.from_pandas(pdf.iloc[250:], npartitions=3)])
    return ddf, pdf


@pytest.mark.parametrize("by", ["k", ["s", "c"], "c"])
def test_groupby_median_and_quantile(by):
    ddf, pdf = _median_frame()
    g, pg = ddf.groupby(by), pdf.groupby(by, observed=True)
    assert_eq(g.y.median(), pg.y.median(), check_divisions=False)
    assert_eq(g[["x", "y"]].median(), pg[["x", "y"]].median(), check_divisions=False)
    assert_eq(g.x.quantile(0.25), pg.x.quantile(0.25), check_divisions=False)
    assert_eq(g.y.quantile([0.1, 0.9]), pg.y.quantile([0.1, 0.9]), check_divisions=False)
    assert_eq(g.median(numeric_only=True), pg.median(numeric_only=True), check_divisions=False)


def test_groupby_median_split_out_and_errors():
    ddf, pdf = _median_frame()
    got = ddf.groupby("k").x.median(split_out=3)
    assert got.npartitions == 3
    assert_eq(got.compute().sort_index(), pdf.groupby("k").x.median())
    with pytest.raises(ValueError, match="split_out"):
        ddf.groupby("k").x.median(split_out=0)
    with pytest.raises(NotImplementedError, match="median"):
        ddf.groupby("k").agg({"x": "median"})


def test_size_inside_agg(frames):
    d, p = frames
    assert_eq(d.groupby("k").f.agg(["sum", "size"]), p.groupby("k").f.agg(["sum", "size"]))
    assert_eq(d.groupby("k").agg({"f": ["size", "mean"], "i": "size"}),
              p.groupby("k").agg({"f": ["size", "mean"], "i": "size"}))
    assert_eq(d.groupby("s").agg(n=("f", "size"), m=("i", "max")),
              p.groupby("s").agg(n=("f", "size"), m=("i", "max")))
