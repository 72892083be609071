"""The optimizer rules, each checked on the plans it produces."""
import numpy as np
import pandas as pd
import pytest

import pardata.dataframe as pdd
from pardata.dataframe.expr import walk
from pardata.dataframe.io.parquet import ReadParquet
from pardata.dataframe.optimizer import optimize, projection, to_graph
from pardata.dataframe.optimizer.fusion import FusedBlockwise
from pardata.testing.dataframe import assert_eq, random_frame


@pytest.fixture(scope="module")
def parquet_path(tmp_path_factory):
    p = random_frame(600, seed=41)
    path = tmp_path_factory.mktemp("opt") / "data"
    pdd.from_pandas(p, npartitions=4).to_parquet(str(path), row_group_size=50)
    return str(path), p


def _reader(coll):
    return [e for e in walk(optimize(coll.expr, fuse=False)) if isinstance(e, ReadParquet)]


def test_projection_reaches_the_reader(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    q = d[d.k > 2].groupby("s").f.mean()
    (reader,) = _reader(q)
    # k is only read to filter rows, inside the reader
    assert set(reader.projection) == {"s", "f"} and reader.pushed == ((("k", ">", 2),),)
    assert_eq(q, p[p.k > 2].groupby("s").f.mean())


def test_projection_union_over_shared_reader(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    q = d.f.sum() + d.i.max()
    readers = _reader(q)
    assert len(readers) == 1 and set(readers[0].projection) == {"f", "i"}
    assert_eq(q, p.f.sum() + p.i.max())


def test_len_reads_no_value_columns(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    plan = projection.push_projections(
        pdd.collection.red.Reduction(d.expr, len, sum, sum, 0, required=set()))
    (reader,) = [e for e in walk(plan) if isinstance(e, ReadParquet)]
    assert reader.projection == ()
    assert len(d) == len(p)


def test_assign_does_not_read_overwritten_column(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    q = d.assign(f=d.i * 2)[["f", "k"]]
    (reader,) = _reader(q)
    assert set(reader.projection) == {"i", "k"}
    assert_eq(q, p.assign(f=p.i * 2)[["f", "k"]])


def test_filter_pushdown_into_parquet(tmp_path):
    p = random_frame(600, seed=41).sort_values("i", kind="stable").reset_index(drop=True)
    path = str(tmp_path / "sorted")
    pdd.from_pandas(p, npartitions=4).to_parquet(path, row_group_size=50)
    d = pdd.read_parquet(path, split_row_groups=True)
    q = d[(d.i >= 40) & (d.s == "fig")][["f"]]
    (reader,) = _reader(q)
    assert reader.pushed is not None
    assert sum(1 for piece in reader._plan if piece[1]) < reader.npartitions
    assert not any(type(e).__name__ == "Filter" for e in walk(optimize(q.expr, fuse=False)))
    assert_eq(q, p[(p.i >= 40) & (p.s == "fig")][["f"]])


def test_untranslatable_filter_stays(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    q = d[d.i + 1 > 40]
    plan = optimize(q.expr, fuse=False)
    assert any(type(e).__name__ == "Filter" for e in walk(plan))
    assert_eq(q, p[p.i + 1 > 40])


def test_fusion_diamond_one_task_per_partition(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    q = d[d.f > 0].assign(g=lambda x: x.f * x.i)
    q = q[q.g < 10]
    plan = optimize(q.expr)
    assert isinstance(plan, FusedBlockwise)
    assert len(to_graph(plan)) == d.npartitions
    assert_eq(q, p[p.f > 0].assign(g=lambda x: x.f * x.i).pipe(lambda x: x[x.g < 10]))


def test_shared_node_not_fused_into_two_groups():
    from pardata.core.spec import Fused, Task

    p = random_frame(100, seed=2)
    d = pdd.from_pandas(p, npartitions=4)
    base = d.assign(z=d.i * 2)
    both = pdd.concat([base[base.z > 0], base[base.z < 0]])  # two groups use `base`
    graph = to_graph(optimize(both.expr))

    def count_assigns(node):
        if isinstance(node, Fused):
            return sum(count_assigns(n) for n in node.nodes)
        return int(isinstance(node, Task) and getattr(node.func, "__name__", "") == "_assign")

    assert sum(count_assigns(n) for n in graph.values()) == 4  # once per partition
    assert_eq(both, pd.concat([p.assign(z=p.i * 2).query("z > 0"), p.assign(z=p.i * 2).query("z < 0")]))


def test_explain_shows_pushdowns(parquet_path, capsys):
    path, _ = parquet_path
    d = pdd.read_parquet(path)
    d[d.k == 1][["f"]].explain()
    out = capsys.readouterr().out
    assert "ReadParquet(filters=[[('k', '==', 1)]], columns=['f']" in out
    d[d.k == 1][["f"]].explain(optimized=False)
    assert "Filter" in capsys.readouterr().out


def test_optimize_is_deterministic_and_idempotent(parquet_path):
    path, _ = parquet_path
    d = pdd.read_parquet(path)
    q = d[d.k > 1].groupby("s").agg({"f": "sum"})
    a, b = optimize(q.expr), optimize(q.expr)
    assert a._name == b._name
    assert sorted(map(str, to_graph(a))) == sorted(map(str, to_graph(b)))


def test_head_reads_one_file(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    q = d.f.head(3, compute=False)
    graph = q.__pardata_graph__()
    assert sum(1 for k in graph if isinstance(k, tuple)) <= 2
    pd.testing.assert_series_equal(d.f.head(3), p.f.head(3))


def test_no_fuse_config():
    import pardata

    p = random_frame(50, seed=3)
    d = pdd.from_pandas(p, npartitions=2)
    q = (d.i + 1) * 2
    with pardata.config.set({"dataframe.optimize.fuse": False}):
        plan = optimize(q.expr)
    assert not isinstance(plan, FusedBlockwise)
    assert_eq(q, (p.i + 1) * 2)


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
def test_filter_pushed_below_merge(how):
    from pardata.dataframe.blockwise import Filter

    rng = np.random.default_rng(4)
    a = pd.DataFrame({"k": rng.integers(0, 20, 300), "x": rng.random(300), "s": rng.choice(list("abc"), 300)})
    b = pd.DataFrame({"k": np.arange(5, 25), "y": rng.random(20), "t": rng.choice(list("xy"), 20)})
    da, db = pdd.from_pandas(a, npartitions=3), pdd.from_pandas(b, npartitions=2)
    j = da.merge(db, on="k", how=how)
    q = j[(j.x > 0.5) & (j.t == "x") & (j.x + j.y > 0.7) & (j.k < 15)]
    plan = optimize(q.expr, fuse=False)
    merges = [e for e in walk(plan) if type(e).__name__ == "BlockwiseMerge"]
    assert len(merges) == 1
    below = {side: isinstance(getattr(merges[0], side), Filter) or
             any(isinstance(e, Filter) for e in walk(getattr(merges[0], side)))
             for side in ("left", "right")}
    assert below["left"] == (how in ("inner", "left"))
    assert below["right"] == (how in ("inner", "right"))
    pj = a.merge(b, on="k", how=how)
    assert_eq(q, pj[(pj.x > 0.5) & (pj.t == "x") & (pj.x + pj.y > 0.7) & (pj.k < 15)],
              check_index=False)


def test_filter_with_reduction_not_pushed_below_merge():
    a = pd.DataFrame({"k": np.arange(50) % 7, "x": np.arange(50.0)})
    b = pd.DataFrame({"k": np.arange(3), "y": np.arange(3.0)})
    da, db = pdd.from_pandas(a, npartitions=3), pdd.from_pandas(b, npartitions=1)
    j = da.merge(db, on="k")
    q = j[j.x > j.x.mean()]  # the mean over the joined rows, not over `a`
    pj = a.merge(b, on="k")
    assert_eq(q, pj[pj.x > pj.x.mean()], check_index=False)


def test_filter_pushed_below_assign(parquet_path):
    path, p = parquet_path
    d = pdd.read_parquet(path)
    e = d.assign(g=d.f * 2)
    q = e[(e.k == 2) & (e.g > 0)]
    (reader,) = _reader(q)
    assert reader.pushed == ((("k", "==", 2),),)
    pe = p.assign(g=p.f * 2)
    assert_eq(q, pe[(pe.k == 2) & (pe.g > 0)])


def test_filter_with_other_aligned_series_stays_above_assign():
    p = pd.DataFrame({"a": np.arange(40), "b": np.arange(40) % 3})
    other = pd.Series(np.arange(40) % 5, name="o")
    d = pdd.from_pandas(p, npartitions=4)
    o = pdd.from_pandas(other, npartitions=4)
    e = d.assign(c=d.a + o)
    q = e[(e.b == 1) & (e.a > o)]
    pe = p.assign(c=p.a + other)
    assert_eq(q, pe[(pe.b == 1) & (pe.a > other)])


def test_fused_inputs_keep_their_names_so_nothing_runs_twice():
    from pardata.core.spec import Fused, Task

    a = pd.DataFrame({"k": np.arange(200) % 13, "x": np.arange(200.0)})
    b = pd.DataFrame({"k": np.arange(13), "y": np.arange(13.0)})
    da, db = pdd.from_pandas(a, npartitions=4), pdd.from_pandas(b, npartitions=3)
    q = da.merge(db, on="k", broadcast=False)[["k", "x"]].groupby("k").x.count().reset_index()
    graph = to_graph(optimize(q.expr))

    def count(node, name):
        if isinstance(node, Fused):
            return sum(count(n, name) for n in node.nodes)
        return int(isinstance(node, Task) and getattr(node.func, "__name__", "") == name)

    assert sum(count(n, "_merge_parts") for n in graph.values()) == 4
    assert_eq(q, a.merge(b, on="k")[["k", "x"]].groupby("k").x.count().reset_index(),
              check_index=False)


def test_head_reads_only_the_first_row_groups(parquet_path):
    path, p = parquet_path  # row groups of 50 rows
    d = pdd.read_parquet(path)
    q = d.assign(g=d.f * 2)[["g", "s"]].head(70, compute=False)
    (reader,) = _reader(q)
    assert reader.limit == 70
    assert [len(piece[1]) for piece in reader._plan] == [2]
    pd.testing.assert_frame_equal(d.assign(g=d.f * 2)[["g", "s"]].head(70),
                                  p.assign(g=p.f * 2)[["g", "s"]].head(70))
    filtered = d[d.i > 0].head(5, compute=False)
    (reader,) = _reader(filtered)  # rows are dropped: every row group of the file may count
    assert len(reader._plan[0][1]) == len(reader.replace(limit=None)._plan[0][1]) > 2
    pd.testing.assert_frame_equal(d[d.i > 0].head(5), p[p.i > 0].head(5))
