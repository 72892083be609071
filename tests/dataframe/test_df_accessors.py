"""str/dt/cat accessors, rolling, cumulative operations, loc, datetime indexes."""
import numpy as np
import pandas as pd
import pytest

import pardata.dataframe as pdd
from pardata.testing.dataframe import assert_eq, random_frame


@pytest.fixture(scope="module")
def frames():
    p = random_frame(300, seed=51)
    return pdd.from_pandas(p, npartitions=6), p


@pytest.fixture(scope="module")
def timeseries():
    rng = np.random.default_rng(0)
    idx = pd.date_range("2024-01-01", periods=500, freq="17min")
    p = pd.DataFrame({"x": rng.normal(size=500), "n": rng.integers(0, 10, 500)}, index=idx)
    p.loc[p.index[::37], "x"] = np.nan
    return pdd.from_pandas(p, npartitions=7), p


def test_str_accessor(frames):
    d, p = frames
    assert_eq(d.s.str.upper(), p.s.str.upper())
    assert_eq(d.s.str.len(), p.s.str.len())
    assert_eq(d.s.str.contains("an"), p.s.str.contains("an"))
    assert_eq(d.s.str.startswith("b"), p.s.str.startswith("b"))
    assert_eq(d.s.str.slice(1, 3), p.s.str.slice(1, 3))
    assert_eq(d.s.str.replace("a", "A"), p.s.str.replace("a", "A"))
    assert_eq(d.s.str.split("a", n=1, expand=True), p.s.str.split("a", n=1, expand=True))
    assert_eq(d[d.s.str.len() > 4], p[p.s.str.len() > 4])
    with pytest.raises(AttributeError):
        d.i.str
    with pytest.raises(NotImplementedError, match="n="):
        d.s.str.split("a", expand=True)


def test_dt_accessor(frames):
    d, p = frames
    assert_eq(d.t.dt.hour, p.t.dt.hour)
    assert_eq(d.t.dt.day_of_week, p.t.dt.day_of_week)
    assert_eq(d.t.dt.floor("h"), p.t.dt.floor("h"))
    assert_eq(d.t.dt.strftime("%Y-%m"), p.t.dt.strftime("%Y-%m"))
    assert_eq(d.t.dt.date, p.t.dt.date)


def test_cat_accessor(frames):
    d, p = frames
    assert_eq(d.c.cat.codes, p.c.cat.codes)
    assert_eq(d.c.astype(str), p.c.astype(str))


def test_datetime_index_selection(timeseries):
    d, p = timeseries
    assert d.known_divisions
    assert_eq(d.loc["2024-01-02":"2024-01-03"], p.loc["2024-01-02":"2024-01-03"])
    assert_eq(d.loc["2024-01-04 10:00":], p.loc["2024-01-04 10:00":])
    assert_eq(d.index.max(), p.index.max())
    assert_eq(d.groupby(d.n).x.sum(), p.groupby(p.n).x.sum())


@pytest.mark.parametrize("window", [1, 3, 40, 120])
def test_rolling_count_window(timeseries, window):
    d, p = timeseries
    assert_eq(d.x.rolling(window).mean(), p.x.rolling(window).mean())
    assert_eq(d.rolling(window, min_periods=1).sum(), p.rolling(window, min_periods=1).sum())


@pytest.mark.parametrize("window", ["1h", "5h", "2D"])
def test_rolling_time_window(timeseries, window):
    d, p = timeseries
    assert_eq(d.x.rolling(window).sum(), p.x.rolling(window).sum())
    assert_eq(d.n.rolling(window).max(), p.n.rolling(window).max())


def test_rolling_other_aggregations(timeseries):
    d, p = timeseries
    r, q = d.x.rolling(5), p.x.rolling(5)
    for how in ("min", "max", "count", "median", "std", "var"):
        assert_eq(getattr(r, how)(), getattr(q, how)(), rtol=1e-9)
    assert_eq(r.apply(lambda a: a[-1] - a[0], raw=True), q.apply(lambda a: a[-1] - a[0], raw=True))
    assert_eq(r.quantile(0.5), q.quantile(0.5))


def test_rolling_with_tiny_partitions(timeseries):
    d, p = timeseries
    small = d.repartition(npartitions=60)
    assert_eq(small.x.rolling(30).sum(), p.x.rolling(30).sum())


def test_cumulative(frames):
    d, p = frames
    assert_eq(d.f.cumsum(), p.f.cumsum())
    assert_eq(d[["i", "f"]].cumsum(), p[["i", "f"]].cumsum())
    assert_eq(d.f.cummax(), p.f.cummax())
    assert_eq(d.i.cummin(), p.i.cummin())
    assert_eq((d.k % 2 + 1).cumprod(), (p.k % 2 + 1).cumprod())


def test_loc(frames):
    d, p = frames
    assert_eq(d.loc[10:40], p.loc[10:40])
    assert_eq(d.loc[:25], p.loc[:25])
    assert_eq(d.loc[280:], p.loc[280:])
    assert_eq(d.loc[50], p.loc[[50]])
    assert_eq(d.loc[[3, 200, 7]], p.loc[[3, 7, 200]])
    assert_eq(d.loc[d.i > 0, ["f", "s"]], p.loc[p.i > 0, ["f", "s"]])
    assert_eq(d.f.loc[100:120], p.f.loc[100:120])


def test_reset_index_and_rename(frames):
    d, p = frames
    got = d.reset_index().compute()
    assert list(got.columns) == list(p.reset_index().columns)
    assert_eq(d.f.rename("g"), p.f.rename("g"))
    assert_eq(d.f.to_frame(), p.f.to_frame())
    assert_eq(d.f.to_frame("h"), p.f.to_frame("h"))
    d2 = d[["i", "f"]]
    d2.columns = ["a", "b"]
    assert list(d2.compute().columns) == ["a", "b"]


def test_nullable_and_extension_dtypes():
    p = pd.DataFrame({"a": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
                      "b": pd.array([True, False, None, True, True, None], dtype="boolean"),
                      "s": pd.array(["x", None, "y", "z", "x", "y"], dtype="string")})
    d = pdd.from_pandas(p, npartitions=3)
    assert_eq(d.a.sum(), p.a.sum())
    assert_eq(d.a + 1, p.a + 1)
    assert_eq(d[d.b.fillna(False)], p[p.b.fillna(False)])
    assert_eq(d.groupby("s").a.sum(), p.groupby("s").a.sum())
    assert_eq(d.s.str.upper(), p.s.str.upper())


def test_conversions_sample_iloc_explode():
    p = pd.DataFrame({"a": range(90), "s": [f"2024-01-0{i % 9 + 1}" for i in range(90)],
                      "n": [str(i) for i in range(90)], "l": [[1, 2]] * 90})
    d = pdd.from_pandas(p, npartitions=4)
    assert_eq(pdd.to_datetime(d.s), pd.to_datetime(p.s))
    assert_eq(pdd.to_numeric(d.n), pd.to_numeric(p.n).astype("float64"))
    first = d.sample(frac=0.3, random_state=7).compute()
    assert 15 < len(first) < 40 and first.equals(d.sample(frac=0.3, random_state=7).compute())
    assert set(first.a) <= set(p.a)
    assert_eq(d.iloc[:, [0, 2]], p.iloc[:, [0, 2]])
    assert_eq(d.explode("l"), p.explode("l"), check_dtype=False)
    lengths = d.map_partitions(len).compute()
    assert lengths.sum() == len(p) and len(lengths) == 4


def test_str_getitem(frames):
    d, p = frames
    assert_eq(d.s.str[0], p.s.str[0])
    assert_eq(d.s.str[1:3], p.s.str[1:3])
    assert_eq(d.s.str.split("a").str[-1], p.s.str.split("a").str[-1])


@pytest.mark.parametrize("periods", [0, 1, 3, 40])
def test_shift_and_diff_across_partitions(timeseries, periods):
    d, p = timeseries
    assert_eq(d.shift(periods), p.shift(periods))
    assert_eq(d.x.diff(periods), p.x.diff(periods))
    # an empty and a short partition in the middle: the rows come from further back
    pieces = [p.iloc[:100], p.iloc[100:100], p.iloc[100:102], p.iloc[102:]]
    u = pdd.concat([pdd.from_pandas(x, npartitions=1) for x in pieces])
    assert_eq(u.shift(periods), p.shift(periods))
    assert_eq(u.diff(periods), p.diff(periods))


def test_shift_rejects_negative_and_non_integer(timeseries):
    d, _ = timeseries
    with pytest.raises(NotImplementedError, match="negative"):
        d.shift(-1)
    with pytest.raises(TypeError, match="integer"):
        d.x.diff(1.5)


def test_datetime_index_fields(timeseries):
    d, p = timeseries
    assert_eq(d.index.hour, p.index.hour)
    assert_eq(d.index.day_of_week, p.index.day_of_week)
    assert_eq(d.groupby(d.index.hour).x.sum(), p.groupby(p.index.hour).x.sum(),
              check_divisions=False)
    assert_eq(d[d.index.day_of_week < 5], p[p.index.day_of_week < 5])
    with pytest.raises(AttributeError, match="datetime index"):
        pdd.from_pandas(pd.DataFrame({"a": [1, 2]}), npartitions=1).index.hour
