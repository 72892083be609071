"""Collections, metadata, element-wise operations, and the optimizer's effect on tasks."""
import operator

import numpy as np
import pandas as pd
import pytest

import pardata
import pardata.dataframe as pdd
from pardata.dataframe.optimizer import optimize, to_graph
from pardata.testing.dataframe import assert_eq, random_frame


@pytest.fixture(scope="module")
def pdf():
    return random_frame(300, seed=1)


@pytest.fixture(scope="module")
def ddf(pdf):
    return pdd.from_pandas(pdf, npartitions=7)


def test_from_pandas_divisions_and_meta(pdf, ddf):
    assert ddf.npartitions == 7
    assert ddf.known_divisions
    assert ddf.divisions[0] == 0 and ddf.divisions[-1] == len(pdf) - 1
    assert list(ddf.columns) == list(pdf.columns)
    assert (ddf.dtypes == pdf.dtypes).all()
    assert len(ddf._meta) == 0
    assert_eq(ddf, pdf)


@pytest.mark.parametrize("kwargs", [{"npartitions": 1}, {"npartitions": 13}, {"chunksize": 41}])
def test_from_pandas_partition_counts(pdf, kwargs):
    d = pdd.from_pandas(pdf, **kwargs)
    assert_eq(d, pdf)


def test_from_pandas_unsorted_and_duplicate_index():
    pdf = pd.DataFrame({"x": range(20)}, index=[5, 3, 3, 1, 1, 1, 9, 9, 0, 2] * 2)
    d = pdd.from_pandas(pdf, npartitions=4)
    assert d.known_divisions
    assert_eq(d, pdf.sort_index(kind="stable"))
    nosort = pdd.from_pandas(pdf, npartitions=4, sort=False)
    assert not nosort.known_divisions
    assert_eq(nosort, pdf, sort_results=False)


def test_from_pandas_series_and_empty():
    s = pd.Series(np.arange(10.0), name="v")
    assert_eq(pdd.from_pandas(s, npartitions=3), s)
    empty = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    assert_eq(pdd.from_pandas(empty, npartitions=3), empty)


def test_column_selection(pdf, ddf):
    assert_eq(ddf["f"], pdf["f"])
    assert_eq(ddf.f, pdf.f)
    assert_eq(ddf[["s", "i"]], pdf[["s", "i"]])
    with pytest.raises(KeyError):
        ddf["nope"]
    with pytest.raises(AttributeError):
        ddf.nope


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.floordiv, operator.mod, operator.pow])
def test_arithmetic(pdf, ddf, op):
    assert_eq(op(ddf.i, 3), op(pdf.i, 3))
    assert_eq(op(ddf.f, ddf.i.abs() + 1), op(pdf.f, pdf.i.abs() + 1))
    assert_eq(op(2, ddf.f), op(2, pdf.f))


def test_comparisons_and_logic(pdf, ddf):
    assert_eq((ddf.i > 0) & (ddf.f < 0.5), (pdf.i > 0) & (pdf.f < 0.5))
    assert_eq((ddf.i == 3) | ~ddf.b, (pdf.i == 3) | ~pdf.b)
    assert_eq(-ddf.f, -pdf.f)
    assert_eq(ddf[["i", "f"]] * 2 - 1, pdf[["i", "f"]] * 2 - 1)


def test_boolean_filter_and_assign(pdf, ddf):
    assert_eq(ddf[ddf.i > 10], pdf[pdf.i > 10])
    assert_eq(ddf[ddf.s == "fig"].f, pdf[pdf.s == "fig"].f)
    got = ddf.assign(z=ddf.i * 2, w=1.5, v=lambda d: d.f + d.i)
    assert_eq(got, pdf.assign(z=pdf.i * 2, w=1.5, v=lambda d: d.f + d.i))
    d2 = ddf.copy()
    d2["new"] = d2.i + 1
    p2 = pdf.copy()
    p2["new"] = p2.i + 1
    assert_eq(d2, p2)
    assert "new" not in ddf.columns


def test_scalar_broadcast(pdf, ddf):
    assert_eq(ddf.f - ddf.f.mean(), pdf.f - pdf.f.mean())
    assert_eq(ddf[["i", "f"]] - ddf[["i", "f"]].mean(), pdf[["i", "f"]] - pdf[["i", "f"]].mean())
    assert_eq(ddf.i.sum() + 1, pdf.i.sum() + 1)


def test_misc_elementwise_methods(pdf, ddf):
    assert_eq(ddf.f.fillna(0), pdf.f.fillna(0))
    assert_eq(ddf.fillna({"f": -1.0}), pdf.fillna({"f": -1.0}))
    assert_eq(ddf.dropna(), pdf.dropna())
    assert_eq(ddf.dropna(subset=["s"]), pdf.dropna(subset=["s"]))
    assert_eq(ddf.i.isin([1, 2, 3]), pdf.i.isin([1, 2, 3]))
    assert_eq(ddf.isna(), pdf.isna())
    assert_eq(ddf.astype({"i": "float64"}), pdf.astype({"i": "float64"}))
    assert_eq(ddf.i.astype("int32"), pdf.i.astype("int32"))
    assert_eq(ddf.rename(columns={"i": "I"}), pdf.rename(columns={"i": "I"}))
    assert_eq(ddf.drop(columns=["s", "t"]), pdf.drop(columns=["s", "t"]))
    assert_eq(ddf.f.round(1), pdf.f.round(1))
    assert_eq(ddf.f.clip(-1, 1), pdf.f.clip(-1, 1))
    assert_eq(ddf.f.where(ddf.f > 0, 0), pdf.f.where(pdf.f > 0, 0))
    assert_eq(ddf.i.between(-5, 5), pdf.i.between(-5, 5))
    assert_eq(ddf.f.abs(), pdf.f.abs())
    assert_eq(ddf.select_dtypes("number"), pdf.select_dtypes("number"))
    assert_eq(ddf.query("i > 3 and f < 0"), pdf.query("i > 3 and f < 0"))


def test_map_partitions_and_apply(pdf, ddf):
    got = ddf.map_partitions(lambda d: d.assign(n=len(d)), meta={**pdf.dtypes.to_dict(), "n": "int64"})
    assert got.columns[-1] == "n"
    assert got.compute()["n"].sum() == sum(len(p) for p in pdd.frame.partition_values(ddf) for _ in range(len(p)))
    assert_eq(ddf.map_partitions(lambda d: d.i + d.k), pdf.i + pdf.k)
    assert_eq(ddf.apply(lambda r: r.i * 2, axis=1, meta=(None, "int64")), pdf.apply(lambda r: r.i * 2, axis=1))
    assert_eq(ddf.i.apply(lambda x: x + 1), pdf.i.apply(lambda x: x + 1))
    assert_eq(ddf.i.map(lambda x: x * 10), pdf.i.map(lambda x: x * 10))
    assert_eq(pdd.map_partitions(operator.add, ddf.i, ddf.k), pdf.i + pdf.k)


def test_meta_inference_failure_names_meta(ddf):
    with pytest.raises(ValueError, match="meta="):
        ddf.map_partitions(lambda d: d["missing"])


def test_head_tail_only_first_partition(pdf):
    calls = []

    def spy(d):
        calls.append(len(d))
        return d

    d = pdd.from_pandas(pdf, npartitions=5).map_partitions(spy, meta=pdf)
    calls.clear()
    pd.testing.assert_frame_equal(d.head(3), pdf.head(3))
    assert len(calls) == 1
    calls.clear()
    pd.testing.assert_frame_equal(d.head(100), pdf.head(100))  # crosses into partition 1
    assert len(calls) == 2
    pd.testing.assert_frame_equal(d.tail(4), pdf.tail(4))
    pd.testing.assert_frame_equal(d.head(2, npartitions=2), pdf.head(2))


def test_len_and_index(pdf, ddf):
    assert len(ddf) == len(pdf)
    assert len(ddf[ddf.i > 0]) == (pdf.i > 0).sum()
    assert_eq(ddf.index, pdf.index)
    assert_eq(ddf.f.index.max(), pdf.f.index.max())


def test_partitions_selection(pdf, ddf):
    parts = pdd.frame.partition_values(ddf)
    assert_eq(ddf.partitions[2], parts[2])
    assert_eq(ddf.partitions[1:3], pd.concat(parts[1:3]))
    assert_eq(ddf.get_partition(0), parts[0])


def test_fusion_one_task_per_partition(pdf, ddf):
    q = ddf[ddf.i > 0].assign(z=lambda d: d.f * 2)[["z", "s"]]
    q = q.map_partitions(lambda d: d, meta=q._meta)
    plan = optimize(q.expr)
    graph = to_graph(plan)
    assert len(graph) == ddf.npartitions
    assert_eq(q, pdf[pdf.i > 0].assign(z=lambda d: d.f * 2)[["z", "s"]])


def test_reduction_graph_size(ddf):
    total = ddf[ddf.i > 0].f.sum(split_every=3)
    graph = to_graph(optimize(total.expr))
    # 7 fused chunk tasks, ceil(7/3)=3 combines, 1 aggregate
    assert len(graph) == 7 + 3 + 1


def test_projection_pushed_into_from_pandas(ddf):
    plan = optimize(ddf[ddf.i > 0].f.expr, fuse=False)
    from pardata.dataframe.io.pandas import FromPandas
    from pardata.dataframe.expr import walk

    readers = [e for e in walk(plan) if isinstance(e, FromPandas)]
    assert len(readers) == 1 and set(readers[0].projection) == {"i", "f"}


def test_explain_prints_optimized_plan(ddf, capsys):
    text = ddf[ddf.i > 0][["f"]].explain()
    out = capsys.readouterr().out
    assert "FromPandas" in out and "Filter" in out and text.strip() == out.strip()
    assert "columns=['i', 'f']" in out


def test_repr_and_html(ddf):
    text = repr(ddf)
    assert "npartitions=7" in text and "int64" in text
    assert "<table" in ddf._repr_html_()
    assert "float64" in repr(ddf.f)


def test_immutability_and_tokens(pdf):
    a = pdd.from_pandas(pdf, npartitions=3)
    b = pdd.from_pandas(pdf, npartitions=3)
    assert a._name == b._name
    assert (a.i + 1)._name == (b.i + 1)._name
    assert (a.i + 1)._name != (a.i + 2)._name
    assert pardata.tokenize(a) == pardata.tokenize(b)


def test_compute_several_and_persist(pdf, ddf):
    s, m = pardata.compute(ddf.i.sum(), ddf.f.max())
    assert s == pdf.i.sum() and m == pdf.f.max()
    p = (ddf.i * 2).persist()
    assert p.npartitions == ddf.npartitions
    assert_eq(p, pdf.i * 2)


@pytest.mark.parametrize("scheduler", ["sync", "threads", "processes"])
def test_schedulers(pdf, scheduler):
    d = pdd.from_pandas(pdf, npartitions=3)
    assert_eq(d[d.i > 0].f.sum(), pdf[pdf.i > 0].f.sum(), scheduler=scheduler)


def test_to_delayed(pdf, ddf):
    parts = ddf.to_delayed()
    assert len(parts) == ddf.npartitions
    pd.testing.assert_frame_equal(pd.concat(pardata.compute(*parts)), pdf)


def test_unaligned_unknown_divisions_error(pdf):
    a = pdd.from_pandas(pdf, npartitions=3, sort=False)
    b = pdd.from_pandas(pdf, npartitions=4, sort=False)
    with pytest.raises(ValueError, match="line up"):
        a.i + b.i


def test_align_known_divisions(pdf):
    a = pdd.from_pandas(pdf, npartitions=3)
    b = pdd.from_pandas(pdf, npartitions=5)
    assert_eq(a.i + b.f, pdf.i + pdf.f)
    assert_eq(a.assign(g=b.f), pdf.assign(g=pdf.f))
