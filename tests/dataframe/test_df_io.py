"""read_csv/to_csv, read_parquet/to_parquet, from_map, from_delayed, from_array."""
import os

import numpy as np
import pandas as pd
import pytest

import pardata
import pardata.dataframe as pdd
from pardata.testing.dataframe import assert_eq, random_frame


@pytest.fixture(scope="module")
def pdf():
    return random_frame(500, seed=31)


# --------------------------------------------------------------------- csv

def _csv_frame(p):
    out = p.drop(columns=["c", "t"]).copy()
    out["t"] = p.t.dt.strftime("%Y-%m-%d %H:%M:%S")
    return out


@pytest.mark.parametrize("blocksize", [None, 700, 3000])
def test_read_csv_blocks_split_on_lines(pdf, tmp_path, blocksize):
    p = _csv_frame(pdf)
    for i in range(3):
        p.iloc[i * 150:(i + 1) * 150 + (50 if i == 2 else 0)].to_csv(tmp_path / f"f{i}.csv", index=False)
    d = pdd.read_csv(str(tmp_path / "f*.csv"), blocksize=blocksize)
    if blocksize == 700:
        assert d.npartitions > 10
    assert list(d.columns) == list(p.columns)
    expected = pd.concat([pd.read_csv(tmp_path / f"f{i}.csv") for i in range(3)])
    assert_eq(d, expected, check_index=False)


def test_read_csv_exact_boundaries(tmp_path):
    # every line is 4 bytes: blocks of 8 end exactly on line breaks
    (tmp_path / "x.csv").write_text("a,b\n" + "".join(f"{i},{i % 10}\n" for i in range(10, 60)))
    d = pdd.read_csv(str(tmp_path / "x.csv"), blocksize=8)
    assert_eq(d, pd.read_csv(tmp_path / "x.csv"), check_index=False)


def test_read_csv_kwargs_and_projection(pdf, tmp_path):
    p = _csv_frame(pdf)
    p.to_csv(tmp_path / "a.csv", index=False, sep=";")
    d = pdd.read_csv(str(tmp_path / "a.csv"), blocksize=2000, sep=";", parse_dates=["t"])
    expected = pd.read_csv(tmp_path / "a.csv", sep=";", parse_dates=["t"])
    assert_eq(d, expected, check_index=False)
    assert_eq(d[["i", "s"]], expected[["i", "s"]], check_index=False)
    from pardata.dataframe.expr import walk
    from pardata.dataframe.io.csv import ReadCSV
    from pardata.dataframe.optimizer import optimize

    reader = [e for e in walk(optimize(d[["i", "s"]].expr, fuse=False)) if isinstance(e, ReadCSV)][0]
    assert set(reader.projection) == {"i", "s"}


def test_read_csv_dtype_mismatch_names_the_fix(tmp_path):
    lines = ["a,b"] + [f"{i},{i}" for i in range(2000)] + ["5,"]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    d = pdd.read_csv(str(tmp_path / "m.csv"), blocksize=4000, sample=1000)
    with pytest.raises(ValueError, match="dtype="):
        d.compute()
    d2 = pdd.read_csv(str(tmp_path / "m.csv"), blocksize=4000, sample=1000, dtype={"b": "float64"})
    assert_eq(d2, pd.read_csv(tmp_path / "m.csv"), check_index=False)


def test_read_csv_path_column(pdf, tmp_path):
    p = _csv_frame(pdf)
    p.iloc[:200].to_csv(tmp_path / "p0.csv", index=False)
    p.iloc[200:].to_csv(tmp_path / "p1.csv", index=False)
    d = pdd.read_csv(str(tmp_path / "p*.csv"), include_path_column=True)
    got = d.compute()
    assert got.path.dtype == "category" and got.path.nunique() == 2
    assert len(got) == len(p)


def test_read_csv_missing_file():
    with pytest.raises(FileNotFoundError):
        pdd.read_csv("/nonexistent/nothing-*.csv")


def test_to_csv_round_trip(pdf, tmp_path):
    p = _csv_frame(pdf)
    d = pdd.from_pandas(p, npartitions=4)
    written = d.to_csv(str(tmp_path / "out-*.csv"), index=False)
    assert len(written) == 4 and all(os.path.exists(w) for w in written)
    assert_eq(pdd.read_csv(str(tmp_path / "out-*.csv")), p, check_index=False)
    single = d.to_csv(str(tmp_path / "one.csv"), single_file=True, index=False)
    assert single == [str(tmp_path / "one.csv")]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one.csv"), pd.read_csv(tmp_path / "one.csv"))
    assert len(pd.read_csv(tmp_path / "one.csv")) == len(p)
    d.to_csv(str(tmp_path / "dir"), index=False)
    assert len(os.listdir(tmp_path / "dir")) == 4


# --------------------------------------------------------------------- parquet

def test_parquet_round_trip(pdf, tmp_path):
    d = pdd.from_pandas(pdf, npartitions=5)
    d.to_parquet(str(tmp_path / "pq"))
    r = pdd.read_parquet(str(tmp_path / "pq"))
    assert r.npartitions == 5
    assert_eq(r, pdf)
    r = pdd.read_parquet(str(tmp_path / "pq"), calculate_divisions=True)
    assert r.divisions == d.divisions
    assert_eq(r, pdf)
    assert_eq(pdd.read_parquet(str(tmp_path / "pq" / "*.parquet")), pdf)
    assert_eq(pdd.read_parquet(str(tmp_path / "pq"), columns=["f", "s"]), pdf[["f", "s"]])
    assert_eq(pdd.read_parquet(str(tmp_path / "pq"), columns="f"), pdf.f)
    assert_eq(pdd.read_parquet(str(tmp_path / "pq"), index=False), pdf.reset_index(drop=True),
              check_index=False)


def test_parquet_written_by_pandas_and_hive(pdf, tmp_path):
    pdf.to_parquet(tmp_path / "hive", partition_cols=["k"], row_group_size=25)
    expected = pd.read_parquet(tmp_path / "hive")
    d = pdd.read_parquet(str(tmp_path / "hive"))
    assert (d.dtypes == expected.dtypes).all()
    assert_eq(d, expected, check_index=False)
    q = d[(d.k == 3) & (d.f > 0)]
    assert_eq(q, expected[(expected.k == 3) & (expected.f > 0)], check_index=False)
    got = pdd.read_parquet(str(tmp_path / "hive"), filters=[("k", "in", [1, 2])], columns=["i", "k"])
    want = pd.read_parquet(tmp_path / "hive", filters=[("k", "in", [1, 2])], columns=["i", "k"])
    assert_eq(got, want, check_index=False)


def test_parquet_filters_skip_row_groups(tmp_path):
    p = pd.DataFrame({"x": np.arange(1000), "y": np.arange(1000) * 0.5})
    p.to_parquet(tmp_path / "rg.parquet", row_group_size=100)
    d = pdd.read_parquet(str(tmp_path / "rg.parquet"), split_row_groups=True)
    assert d.npartitions == 10
    filtered = pdd.read_parquet(str(tmp_path / "rg.parquet"), split_row_groups=True,
                                filters=[("x", ">=", 850)])
    assert filtered.npartitions == 2
    assert_eq(filtered, p[p.x >= 850], check_index=False)
    # the same filter written as a pandas-style mask is pushed into the reader: row
    # groups 0-7 become empty tasks that read nothing
    q = d[d.x >= 850].y
    from pardata.dataframe.expr import walk
    from pardata.dataframe.io.parquet import ReadParquet
    from pardata.dataframe.optimizer import optimize

    reader = [e for e in walk(optimize(q.expr, fuse=False)) if isinstance(e, ReadParquet)][0]
    assert sum(1 for piece in reader._plan if piece[1]) == 2
    assert set(reader.projection) == {"y"}
    assert_eq(q, p[p.x >= 850].y, check_index=False)


def test_parquet_filters_not_pushed_when_unsafe(tmp_path):
    p = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "y": list("abcd")})
    p.to_parquet(tmp_path / "n.parquet")
    d = pdd.read_parquet(str(tmp_path / "n.parquet"))
    assert_eq(d[d.x != 3.0], p[p.x != 3.0], check_index=False)  # NaN != 3 is True in pandas
    assert_eq(d[(d.x > 1) | (d.y == "a")], p[(p.x > 1) | (p.y == "a")], check_index=False)
    assert_eq(d[d.y.isin(["a", "d"])], p[p.y.isin(["a", "d"])], check_index=False)


def test_parquet_partition_on_and_head(pdf, tmp_path):
    d = pdd.from_pandas(pdf, npartitions=3)
    d.to_parquet(str(tmp_path / "po"), partition_on=["b"])
    r = pdd.read_parquet(str(tmp_path / "po"))
    assert set(r.b.compute().astype(str).str.lower()) == {"true", "false"}
    assert len(r) == len(pdf)
    assert len(r.head(10)) == 10


# --------------------------------------------------------------------- from_*

def test_from_map(pdf):
    chunks = [pdf.iloc[i:i + 100] for i in range(0, 500, 100)]
    d = pdd.from_map(lambda c: c, chunks)
    assert d.npartitions == 5
    assert_eq(d, pdf)
    d2 = pdd.from_map(lambda a, b: pd.DataFrame({"x": [a] * b}), [1, 2, 3], [2, 2, 1],
                      meta={"x": "int64"})
    assert_eq(d2, pd.DataFrame({"x": [1, 1, 2, 2, 3]}), check_index=False)
    assert_eq(d[["f"]], pdf[["f"]])


def test_from_delayed(pdf):
    parts = [pardata.delayed(lambda i: pdf.iloc[i * 50:(i + 1) * 50])(i) for i in range(10)]
    d = pdd.from_delayed(parts, meta=pdf.iloc[:0])
    assert d.npartitions == 10
    assert_eq(d, pdf)
    d2 = pdd.from_delayed(parts, divisions=[i * 50 for i in range(10)] + [499])
    assert d2.known_divisions
    assert_eq(d2.i.sum(), pdf.i.sum())


def test_from_array():
    pa = pytest.importorskip("pardata.array")
    if not hasattr(pa, "from_array"):
        pytest.skip("pardata.array.from_array missing")
    x = np.arange(60.0).reshape(20, 3)
    arr = pa.from_array(x, chunks=(7, 3))
    d = pdd.from_array(arr, columns=["a", "b", "c"])
    assert d.npartitions == 3 and d.known_divisions
    assert_eq(d, pd.DataFrame(x, columns=["a", "b", "c"]))
    s = pdd.from_array(pa.from_array(np.arange(10), chunks=4))
    assert_eq(s, pd.Series(np.arange(10)))


def test_fsspec_urls(pdf):
    fsspec = pytest.importorskip("fsspec")
    p = pdf[["i", "f"]]
    fs = fsspec.filesystem("memory")
    for i, part in enumerate((p.iloc[:200], p.iloc[200:])):
        with fs.open(f"memory://pardata-test/in{i}.csv", "wb") as f:
            f.write(part.to_csv(index=False).encode())
    d = pdd.read_csv("memory://pardata-test/in*.csv", blocksize=1000)
    assert d.npartitions > 2
    assert_eq(d, p, check_index=False)
    dp = pdd.from_pandas(p, npartitions=3)
    assert len(dp.to_csv("memory://pardata-test/out-*.csv", index=False)) == 3
    assert_eq(pdd.read_csv("memory://pardata-test/out-*.csv"), p, check_index=False)
    dp.to_parquet("memory://pardata-test/pq")
    assert_eq(pdd.read_parquet("memory://pardata-test/pq"), p)
    fs.rm("memory://pardata-test", recursive=True)


def test_parquet_filter_only_columns(tmp_path):
    """Columns read only to filter rows (strings with nulls, a named index) do not
    reach the result, and the rows kept are pandas' rows."""
    rng = np.random.default_rng(3)
    n = 2_000
    pdf = pd.DataFrame({
        "flag": pd.array(rng.choice(["A", "N", "R", None], n), dtype="str"),
        "x": rng.random(n),
        "when": pd.date_range("2021-01-01", periods=n, freq="h"),
    }, index=pd.Index(np.arange(n), name="id"))
    pdf.to_parquet(tmp_path / "f.parquet", row_group_size=300)
    path = str(tmp_path / "f.parquet")

    got = pdd.read_parquet(path, columns=["x"], filters=[("flag", "==", "R")])
    assert_eq(got, pdf[pdf.flag == "R"][["x"]], check_divisions=False)
    got = pdd.read_parquet(path, columns=["x"], filters=[[("flag", "!=", "R")],
                                                          [("when", "<", pd.Timestamp("2021-01-03"))]])
    want = pdf[(pdf.flag != "R") | (pdf.when < pd.Timestamp("2021-01-03"))][["x"]]
    assert_eq(got, want.loc[pdf.flag.notna() | (pdf.when < pd.Timestamp("2021-01-03"))],
              check_divisions=False)
    df = pdd.read_parquet(path)
    q = df[(df.flag == "N") & (df.x > 0.5)][["when"]]
    assert "flag" not in q.compute().columns
    assert_eq(q, pdf[(pdf.flag == "N") & (pdf.x > 0.5)][["when"]], check_divisions=False)
    got = pdd.read_parquet(path, columns=["x"], filters=[("id", "<", 500)])
    assert_eq(got, pdf[pdf.index < 500][["x"]], check_divisions=False)
