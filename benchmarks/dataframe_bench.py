"""Dataframe workloads side by side with dask.dataframe (issue 6).

Target: pardata <= 0.7x Dask's wall time on the same scheduler. ``--size`` is the
number of rows (default 4,000,000). The data is generated once per size into
``$TMPDIR/pardata-bench-df-<size>`` as Parquet, one file per 250,000 rows, plus a
smaller dimension table; both libraries read the same files with the same code:

- ``df_groupby``: ``read_parquet -> groupby(key).agg({x: sum, y: mean, z: max})``;
- ``df_filter``: ``read_parquet -> df[(df.x > 0.9) & (df.key < 500)] -> [[y, z]].sum()``
  (projection and filter pushdown into the reader);
- ``df_merge``: ``read_parquet(facts).merge(read_parquet(dim), on=key)`` then a
  groupby of a dimension column (a hash join: the dimension table has several files);
- ``df_set_index``: ``read_parquet -> set_index(x)`` (a sort on a random float
  column: sampling, range shuffle, per-partition sort), fully materialized.

Answers are checked against pandas on the same files (computed once, untimed).

TPC-H (``tpch_q1`` ... ``tpch_q19``, ``--size`` = scale factor, see below) runs ten
queries written with the dataframe API, each checked against DuckDB's SQL on the same
files; ``python -m benchmarks.dataframe_bench --size 2`` prints pardata against DuckDB.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from benchmarks.registry import Benchmark, register

ROWS_PER_FILE = 250_000
N_KEYS = 10_000


def _dd(lib):
    if lib.name == "pardata":
        import pardata.dataframe as dd
    else:
        import dask.dataframe as dd
    return dd


def data_dir(size: int) -> str:
    return os.path.join(tempfile.gettempdir(), f"pardata-bench-df-{size}")


def generate(size: int) -> str:
    """Write ``size`` rows of facts and a ``N_KEYS``-row dimension table (once)."""
    import pandas as pd

    directory = data_dir(size)
    done = os.path.join(directory, "expected.json")
    if os.path.exists(done):
        return directory
    facts = os.path.join(directory, "facts")
    dim = os.path.join(directory, "dim")
    os.makedirs(facts, exist_ok=True)
    os.makedirs(dim, exist_ok=True)
    rng = np.random.default_rng(size)
    frames = []
    for i, start in enumerate(range(0, size, ROWS_PER_FILE)):
        n = min(ROWS_PER_FILE, size - start)
        part = pd.DataFrame({
            "key": rng.integers(0, N_KEYS, n),
            "x": rng.random(n),
            "y": rng.normal(size=n),
            "z": rng.integers(0, 1_000_000, n),
            "tag": pd.array(rng.choice(["red", "green", "blue", "black"], n), dtype="str"),
        })
        part.to_parquet(os.path.join(facts, f"part.{i}.parquet"), index=False)
        frames.append(part)
    keys = np.arange(N_KEYS)
    dim_frame = pd.DataFrame({"key": keys, "region": pd.array([f"r{k % 25}" for k in keys], dtype="str"),
                              "weight": rng.random(N_KEYS)})
    for i in range(4):
        dim_frame.iloc[i::4].to_parquet(os.path.join(dim, f"part.{i}.parquet"), index=False)
    full = pd.concat(frames, ignore_index=True)
    expected = {
        "groupby": _groupby_answer(full.groupby("key").agg({"x": "sum", "y": "mean", "z": "max"})),
        "filter": _round(full[(full.x > 0.9) & (full.key < 500)][["y", "z"]].sum().tolist()),
        "merge": _series_answer(full.merge(dim_frame, on="key").groupby("region").weight.sum()),
        "set_index": _set_index_answer(full.set_index("x").sort_index()),
    }
    with open(done, "w") as f:
        json.dump(expected, f)
    return directory


def _round(values):
    return [round(float(v), 4) for v in values]


def _groupby_answer(frame):
    frame = frame.sort_index()
    return [len(frame), _round(frame.sum().tolist())]


def _series_answer(s):
    s = s.sort_index()
    return [len(s), round(float(s.sum()), 4), [str(k) for k in s.index[:3]]]


def _set_index_answer(frame):
    return [len(frame), bool(frame.index.is_monotonic_increasing), round(float(frame.y.sum()), 4),
            round(float(frame.y.iloc[:1000].sum()), 4)]


def _expected(size: int) -> dict:
    with open(os.path.join(generate(size), "expected.json")) as f:
        return json.load(f)


def _path(size, name):
    return os.path.join(generate(size), name)


def _groupby(lib, size):
    dd = _dd(lib)
    path = _path(size, "facts")
    return lambda scheduler: dd.read_parquet(path).groupby("key").agg(
        {"x": "sum", "y": "mean", "z": "max"}).compute(scheduler=scheduler)


def _filter(lib, size):
    dd = _dd(lib)
    path = _path(size, "facts")

    def run(scheduler):
        df = dd.read_parquet(path)
        return df[(df.x > 0.9) & (df.key < 500)][["y", "z"]].sum().compute(scheduler=scheduler)

    return run


def _merge(lib, size):
    dd = _dd(lib)
    facts, dim = _path(size, "facts"), _path(size, "dim")

    def run(scheduler):
        joined = dd.read_parquet(facts).merge(dd.read_parquet(dim), on="key")
        return joined.groupby("region").weight.sum().compute(scheduler=scheduler)

    return run


def _set_index(lib, size):
    dd = _dd(lib)
    path = _path(size, "facts")
    return lambda scheduler: dd.read_parquet(path).set_index("x").compute(scheduler=scheduler)


for name, setup, answer, description in [
    ("df_groupby", _groupby, lambda lib, raw: _groupby_answer(raw),
     "read_parquet -> groupby(key).agg(sum, mean, max)"),
    ("df_filter", _filter, lambda lib, raw: _round(raw.tolist()),
     "read_parquet -> filter (x > 0.9 & key < 500) -> [[y, z]].sum()"),
    ("df_merge", _merge, lambda lib, raw: _series_answer(raw),
     "read_parquet(facts).merge(read_parquet(dim), on=key).groupby(region).sum()"),
    ("df_set_index", _set_index, lambda lib, raw: _set_index_answer(raw),
     "read_parquet -> set_index(random float column), materialized"),
]:
    key = name[3:]
    register(Benchmark(
        name=name,
        description=description,
        setup=setup,
        expected=lambda size, _key=key: _expected(size)[_key],
        answer=answer,
        tasks=lambda size: max(1, size // ROWS_PER_FILE),
        target=0.7,
        default_size=4_000_000,
    ))


# ------------------------------------------------------------------------------ TPC-H
# ``--size`` is the scale factor. Data: ``tpchgen-cli`` Parquet, converted once (untimed)
# to types both pandas-based libraries read natively (decimals to float64, dates to
# timestamps, string views to strings), in ``$TMPDIR/pardata-bench-tpch-sf<N>``. The
# queries are written once against the dataframe API; DuckDB runs the TPC-H SQL on the
# same files, and every answer is checked against it (floats to 1e-6 relative).

TPCH_TABLES = ("lineitem", "orders", "customer", "nation", "region", "supplier", "part",
               "partsupp")


def tpch_dir(sf: int) -> str:
    return os.path.join(tempfile.gettempdir(), f"pardata-bench-tpch-sf{sf}")


def tpch_generate(sf: int) -> str:
    """Generate (once) and convert the TPC-H tables at scale factor ``sf``."""
    import shutil
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tpch_dir(sf)
    if os.path.exists(os.path.join(out, "done")):
        return out
    raw = out + "-raw"
    parts = max(1, 4 * sf)
    cli = os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    if not os.path.exists(os.path.join(raw, "lineitem")):
        subprocess.run([cli, "parquet", "-s", str(sf), f"--parts={parts}", f"--output-dir={raw}"],
                       check=True, capture_output=True)
    for table in TPCH_TABLES:
        os.makedirs(os.path.join(out, table), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(raw, table))):
            t = pq.read_table(os.path.join(raw, table, name))
            fields = []
            for f in t.schema:
                if pa.types.is_decimal(f.type):
                    fields.append(pa.field(f.name, pa.float64()))
                elif pa.types.is_date(f.type):
                    fields.append(pa.field(f.name, pa.timestamp("ms")))
                elif pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or \
                        str(f.type) == "string_view":
                    fields.append(pa.field(f.name, pa.large_string()))
                else:
                    fields.append(pa.field(f.name, f.type))
            t = t.cast(pa.schema(fields))
            pq.write_table(t, os.path.join(out, table, name), row_group_size=250_000)
    shutil.rmtree(raw, ignore_errors=True)
    open(os.path.join(out, "done"), "w").close()
    return out


def _ts(text):
    import pandas as pd

    return pd.Timestamp(text)


class Tables:
    """Lazy ``read_parquet`` of each TPC-H table for one library."""

    def __init__(self, dd, sf):
        self.dd, self.root = dd, tpch_generate(sf)

    def __getattr__(self, table):
        if table not in TPCH_TABLES:
            raise AttributeError(table)
        return self.dd.read_parquet(os.path.join(self.root, table))


def q1(t):
    li = t.lineitem
    li = li[li.l_shipdate <= _ts("1998-09-02")]
    li = li.assign(disc_price=li.l_extendedprice * (1 - li.l_discount))
    li = li.assign(charge=li.disc_price * (1 + li.l_tax))
    out = li.groupby(["l_returnflag", "l_linestatus"]).agg(
        sum_qty=("l_quantity", "sum"), sum_base_price=("l_extendedprice", "sum"),
        sum_disc_price=("disc_price", "sum"), sum_charge=("charge", "sum"),
        avg_qty=("l_quantity", "mean"), avg_price=("l_extendedprice", "mean"),
        avg_disc=("l_discount", "mean"), count_order=("l_orderkey", "count"))
    return out.reset_index()


def q3(t):
    c = t.customer
    c = c[c.c_mktsegment == "BUILDING"][["c_custkey"]]
    o = t.orders
    o = o[o.o_orderdate < _ts("1995-03-15")][["o_orderkey", "o_custkey", "o_orderdate",
                                               "o_shippriority"]]
    li = t.lineitem
    li = li[li.l_shipdate > _ts("1995-03-15")]
    li = li.assign(revenue=li.l_extendedprice * (1 - li.l_discount))[["l_orderkey", "revenue"]]
    j = c.merge(o, left_on="c_custkey", right_on="o_custkey").merge(li, left_on="o_orderkey",
                                                                     right_on="l_orderkey")
    g = j.groupby(["l_orderkey", "o_orderdate", "o_shippriority"]).revenue.sum().reset_index()
    return g, (["revenue", "o_orderdate"], [False, True], 10)


def q4(t):
    li = t.lineitem
    late = li[li.l_commitdate < li.l_receiptdate][["l_orderkey"]].drop_duplicates()
    o = t.orders
    o = o[(o.o_orderdate >= _ts("1993-07-01")) & (o.o_orderdate < _ts("1993-10-01"))]
    j = o.merge(late, left_on="o_orderkey", right_on="l_orderkey")
    return j.groupby("o_orderpriority").o_orderkey.count().reset_index().rename(
        columns={"o_orderkey": "order_count"})


def q5(t):
    r = t.region
    r = r[r.r_name == "ASIA"]
    n = t.nation.merge(r, left_on="n_regionkey", right_on="r_regionkey")
    s = t.supplier.merge(n, left_on="s_nationkey", right_on="n_nationkey")
    o = t.orders
    o = o[(o.o_orderdate >= _ts("1994-01-01")) & (o.o_orderdate < _ts("1995-01-01"))]
    j = t.customer.merge(o, left_on="c_custkey", right_on="o_custkey")
    j = j.merge(t.lineitem, left_on="o_orderkey", right_on="l_orderkey")
    j = j.merge(s, left_on=["l_suppkey", "c_nationkey"], right_on=["s_suppkey", "s_nationkey"])
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    return j.groupby("n_name").revenue.sum().reset_index(), (["revenue"], [False], None)


def q6(t):
    li = t.lineitem
    li = li[(li.l_shipdate >= _ts("1994-01-01")) & (li.l_shipdate < _ts("1995-01-01"))
            & (li.l_discount >= 0.05) & (li.l_discount <= 0.07) & (li.l_quantity < 24)]
    return (li.l_extendedprice * li.l_discount).sum()


def q10(t):
    o = t.orders
    o = o[(o.o_orderdate >= _ts("1993-10-01")) & (o.o_orderdate < _ts("1994-01-01"))]
    li = t.lineitem
    li = li[li.l_returnflag == "R"]
    j = t.customer.merge(o, left_on="c_custkey", right_on="o_custkey")
    j = j.merge(li, left_on="o_orderkey", right_on="l_orderkey")
    j = j.merge(t.nation, left_on="c_nationkey", right_on="n_nationkey")
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    keys = ["c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment"]
    g = j.groupby(keys).revenue.sum().reset_index()
    return g, (["revenue", "c_custkey"], [False, True], 20)


def q12(t):
    li = t.lineitem
    li = li[li.l_shipmode.isin(["MAIL", "SHIP"]) & (li.l_commitdate < li.l_receiptdate)
            & (li.l_shipdate < li.l_commitdate) & (li.l_receiptdate >= _ts("1994-01-01"))
            & (li.l_receiptdate < _ts("1995-01-01"))]
    j = t.orders.merge(li, left_on="o_orderkey", right_on="l_orderkey")
    high = j.o_orderpriority.isin(["1-URGENT", "2-HIGH"])
    j = j.assign(high_line_count=high.astype("int64"), low_line_count=(~high).astype("int64"))
    return j.groupby("l_shipmode")[["high_line_count", "low_line_count"]].sum().reset_index()


def q13(t):
    o = t.orders
    o = o[~o.o_comment.str.contains("special.*requests", regex=True)]
    j = t.customer[["c_custkey"]].merge(o[["o_orderkey", "o_custkey"]], left_on="c_custkey",
                                         right_on="o_custkey", how="left")
    counts = j.groupby("c_custkey").o_orderkey.count().reset_index()
    out = counts.groupby("o_orderkey").c_custkey.count().reset_index()
    return out.rename(columns={"o_orderkey": "c_count", "c_custkey": "custdist"})


def q14(t):
    li = t.lineitem
    li = li[(li.l_shipdate >= _ts("1995-09-01")) & (li.l_shipdate < _ts("1995-10-01"))]
    j = li.merge(t.part, left_on="l_partkey", right_on="p_partkey")
    revenue = j.l_extendedprice * (1 - j.l_discount)
    promo = revenue.where(j.p_type.str.startswith("PROMO"), 0.0)
    return 100.0 * promo.sum() / revenue.sum()


def q19(t):
    j = t.lineitem.merge(t.part, left_on="l_partkey", right_on="p_partkey")
    base = j.l_shipmode.isin(["AIR", "AIR REG"]) & (j.l_shipinstruct == "DELIVER IN PERSON")
    c1 = ((j.p_brand == "Brand#12") & j.p_container.isin(["SM CASE", "SM BOX", "SM PACK", "SM PKG"])
          & (j.l_quantity >= 1) & (j.l_quantity <= 11) & (j.p_size >= 1) & (j.p_size <= 5))
    c2 = ((j.p_brand == "Brand#23") & j.p_container.isin(["MED BAG", "MED BOX", "MED PKG", "MED PACK"])
          & (j.l_quantity >= 10) & (j.l_quantity <= 20) & (j.p_size >= 1) & (j.p_size <= 10))
    c3 = ((j.p_brand == "Brand#34") & j.p_container.isin(["LG CASE", "LG BOX", "LG PACK", "LG PKG"])
          & (j.l_quantity >= 20) & (j.l_quantity <= 30) & (j.p_size >= 1) & (j.p_size <= 15))
    j = j[base & (c1 | c2 | c3)]
    return (j.l_extendedprice * (1 - j.l_discount)).sum()


TPCH_SQL = {
    1: """select l_returnflag, l_linestatus, sum(l_quantity) as sum_qty,
        sum(l_extendedprice) as sum_base_price, sum(l_extendedprice*(1-l_discount)) as sum_disc_price,
        sum(l_extendedprice*(1-l_discount)*(1+l_tax)) as sum_charge, avg(l_quantity) as avg_qty,
        avg(l_extendedprice) as avg_price, avg(l_discount) as avg_disc, count(*) as count_order
        from lineitem where l_shipdate <= date '1998-09-02'
        group by l_returnflag, l_linestatus order by l_returnflag, l_linestatus""",
    3: """select l_orderkey, o_orderdate, o_shippriority,
        sum(l_extendedprice*(1-l_discount)) as revenue
        from customer, orders, lineitem where c_mktsegment = 'BUILDING' and c_custkey = o_custkey
        and l_orderkey = o_orderkey and o_orderdate < date '1995-03-15'
        and l_shipdate > date '1995-03-15' group by l_orderkey, o_orderdate, o_shippriority
        order by revenue desc, o_orderdate limit 10""",
    4: """select o_orderpriority, count(*) as order_count from orders
        where o_orderdate >= date '1993-07-01' and o_orderdate < date '1993-10-01'
        and exists (select * from lineitem where l_orderkey = o_orderkey
        and l_commitdate < l_receiptdate) group by o_orderpriority order by o_orderpriority""",
    5: """select n_name, sum(l_extendedprice*(1-l_discount)) as revenue
        from customer, orders, lineitem, supplier, nation, region
        where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey
        and c_nationkey = s_nationkey and s_nationkey = n_nationkey
        and n_regionkey = r_regionkey and r_name = 'ASIA'
        and o_orderdate >= date '1994-01-01' and o_orderdate < date '1995-01-01'
        group by n_name order by revenue desc""",
    6: """select sum(l_extendedprice*l_discount) as revenue from lineitem
        where l_shipdate >= date '1994-01-01' and l_shipdate < date '1995-01-01'
        and l_discount between 0.05 and 0.07 and l_quantity < 24""",
    10: """select c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment,
        sum(l_extendedprice*(1-l_discount)) as revenue
        from customer, orders, lineitem, nation where c_custkey = o_custkey
        and l_orderkey = o_orderkey and o_orderdate >= date '1993-10-01'
        and o_orderdate < date '1994-01-01' and l_returnflag = 'R' and c_nationkey = n_nationkey
        group by c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
        order by revenue desc, c_custkey limit 20""",
    12: """select l_shipmode,
        sum(case when o_orderpriority = '1-URGENT' or o_orderpriority = '2-HIGH' then 1 else 0 end) as high_line_count,
        sum(case when o_orderpriority <> '1-URGENT' and o_orderpriority <> '2-HIGH' then 1 else 0 end) as low_line_count
        from orders, lineitem where o_orderkey = l_orderkey and l_shipmode in ('MAIL', 'SHIP')
        and l_commitdate < l_receiptdate and l_shipdate < l_commitdate
        and l_receiptdate >= date '1994-01-01' and l_receiptdate < date '1995-01-01'
        group by l_shipmode order by l_shipmode""",
    13: """select c_count, count(*) as custdist from (select c_custkey, count(o_orderkey) as c_count
        from customer left outer join orders on c_custkey = o_custkey
        and o_comment not like '%special%requests%' group by c_custkey) as c_orders
        group by c_count order by custdist desc, c_count desc""",
    14: """select 100.00 * sum(case when p_type like 'PROMO%' then l_extendedprice*(1-l_discount)
        else 0 end) / sum(l_extendedprice*(1-l_discount)) as promo_revenue from lineitem, part
        where l_partkey = p_partkey and l_shipdate >= date '1995-09-01'
        and l_shipdate < date '1995-10-01'""",
    19: """select sum(l_extendedprice*(1-l_discount)) as revenue from lineitem, part
        where p_partkey = l_partkey and l_shipmode in ('AIR', 'AIR REG')
        and l_shipinstruct = 'DELIVER IN PERSON' and (
        (p_brand = 'Brand#12' and p_container in ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
         and l_quantity >= 1 and l_quantity <= 11 and p_size between 1 and 5) or
        (p_brand = 'Brand#23' and p_container in ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
         and l_quantity >= 10 and l_quantity <= 20 and p_size between 1 and 10) or
        (p_brand = 'Brand#34' and p_container in ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
         and l_quantity >= 20 and l_quantity <= 30 and p_size between 1 and 15))""",
}

TPCH_QUERIES = {1: q1, 3: q3, 4: q4, 5: q5, 6: q6, 10: q10, 12: q12, 13: q13, 14: q14, 19: q19}


def duckdb_answer(sf: int, number: int):
    """DuckDB's answer to query ``number`` on the same files, and its wall time."""
    import time

    import duckdb

    root = tpch_generate(sf)
    con = duckdb.connect()
    for table in TPCH_TABLES:
        con.execute(f"create view {table} as select * from read_parquet('{root}/{table}/*.parquet')")
    start = time.perf_counter()
    result = con.execute(TPCH_SQL[number]).df()
    elapsed = time.perf_counter() - start
    con.close()
    return result, elapsed


def _finish(raw):
    """Run a query's post-processing in pandas (the small sorted/limited result)."""
    import pandas as pd

    if isinstance(raw, tuple):
        frame, (by, ascending, limit) = raw
        frame = frame.sort_values(by, ascending=ascending, kind="stable")
        return frame.head(limit) if limit else frame
    return raw if not isinstance(raw, pd.Series) else raw


def tpch_matches(got, expected) -> bool:
    """Compare a query's result with DuckDB's (columns by name, floats to 1e-6)."""
    import pandas as pd

    if not isinstance(expected, pd.DataFrame):
        return abs(float(got) - float(expected)) <= 1e-6 * max(1.0, abs(float(expected)))
    if not isinstance(got, pd.DataFrame):
        got = pd.DataFrame({expected.columns[0]: [got]})
    got = got[list(expected.columns)].reset_index(drop=True)
    exp = expected.reset_index(drop=True)
    if len(got) != len(exp):
        return False
    sort_cols = [c for c in exp.columns if exp[c].dtype.kind not in "f"]
    if sort_cols and not any(isinstance(x, tuple) for x in [got]):
        got = got.sort_values(sort_cols, kind="stable").reset_index(drop=True)
        exp = exp.sort_values(sort_cols, kind="stable").reset_index(drop=True)
    for c in exp.columns:
        a, b = got[c], exp[c]
        if b.dtype.kind in "fc" or a.dtype.kind == "f":
            if not np.allclose(a.astype("float64"), b.astype("float64"), rtol=1e-6, atol=1e-6):
                return False
        elif b.dtype.kind == "M" or a.dtype.kind == "M":
            if not (pd.to_datetime(a).values.astype("datetime64[s]")
                    == pd.to_datetime(b).values.astype("datetime64[s]")).all():
                return False
        elif not (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all():
            return False
    return True


_DUCK_CACHE: dict = {}


def _tpch_expected(sf, number):
    key = (sf, number)
    if key not in _DUCK_CACHE:
        _DUCK_CACHE[key] = duckdb_answer(sf, number)
    return _DUCK_CACHE[key]


def _tpch_setup(number):
    def setup(lib, sf):
        dd = _dd(lib)
        query = TPCH_QUERIES[number]
        _LAST_SF["sf"] = sf

        def run(scheduler):
            out = query(Tables(dd, sf))
            if isinstance(out, tuple):
                frame, spec = out
                return lib.compute(frame, scheduler=scheduler)[0], spec
            return lib.compute(out, scheduler=scheduler)[0]

        return run

    return setup


def _tpch_answer(number):
    def answer(lib, raw):
        # the size is not passed to answer(): take it from the generated data on disk
        sf = _LAST_SF.get("sf", 1)
        return tpch_matches(_finish(raw), _tpch_expected(sf, number)[0])

    return answer


_LAST_SF: dict = {}


def _tpch_expected_true(sf):
    return True


for _number in TPCH_QUERIES:
    register(Benchmark(
        name=f"tpch_q{_number}",
        description=f"TPC-H query {_number} (answer checked against DuckDB on the same files)",
        setup=_tpch_setup(_number),
        expected=_tpch_expected_true,
        answer=_tpch_answer(_number),
        tasks=lambda sf: 8 * sf,
        target=0.7,
        default_size=1,
    ))


def duckdb_table(sf: int = 1, repeat: int = 3, scheduler: str = "threads") -> str:
    """pardata against DuckDB on every TPC-H query (best of ``repeat`` each), and the
    geometric mean of the ratios: ``python -m benchmarks.dataframe_bench --size 2``."""
    import time

    import pardata.dataframe as pdd

    rows, ratios = [], []
    for number, query in sorted(TPCH_QUERIES.items()):
        duck = min(duckdb_answer(sf, number)[1] for _ in range(repeat))
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            out = query(Tables(pdd, sf))
            frame = out[0] if isinstance(out, tuple) else out
            frame.compute(scheduler=scheduler)
            best = min(best, time.perf_counter() - start)
        ratios.append(best / duck)
        rows.append(f"q{number:<3} duckdb {duck:7.3f} s  pardata {best:7.3f} s  ratio {best / duck:6.2f}x")
    geo = float(np.exp(np.mean(np.log(ratios))))
    return "\n".join(rows + [f"geometric mean of pardata/DuckDB: {geo:.2f}x (target <= 3x)"])


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=duckdb_table.__doc__)
    parser.add_argument("--size", type=int, default=1, help="TPC-H scale factor")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(duckdb_table(args.size, args.repeat))
