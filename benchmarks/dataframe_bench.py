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
