"""The ``pardata.dataframe`` names API.md promises exist, with the collection protocol."""
import pandas as pd
import pytest

import pardata
import pardata.dataframe as pdd

MODULE = ["from_pandas", "read_csv", "read_parquet", "from_delayed", "from_map", "from_array",
          "concat", "merge", "map_partitions", "to_parquet", "to_csv", "DataFrame", "Series",
          "Index", "Scalar"]
FRAME = ["columns", "dtypes", "npartitions", "divisions", "known_divisions", "head", "assign",
         "astype", "fillna", "dropna", "isin", "apply", "map_partitions", "rename", "drop",
         "sum", "mean", "count", "min", "max", "std", "var", "nunique", "describe", "quantile",
         "groupby", "merge", "join", "set_index", "sort_values", "shuffle", "repartition",
         "drop_duplicates", "rolling", "to_parquet", "to_csv", "compute", "persist", "visualize",
         "explain", "__pardata_graph__", "__pardata_keys__", "_repr_html_"]
SERIES = ["str", "dt", "value_counts", "nunique", "quantile", "describe", "map", "apply",
          "isin", "fillna", "dropna", "astype", "sum", "mean", "std", "var", "min", "max"]
GROUPBY = ["agg", "aggregate", "sum", "mean", "count", "min", "max", "size", "std", "var",
           "nunique", "apply"]


def test_module_names():
    missing = [n for n in MODULE if not hasattr(pdd, n)]
    assert not missing


def test_collection_methods():
    d = pdd.from_pandas(pd.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"]}), npartitions=2)
    assert not [n for n in FRAME if not hasattr(d, n)]
    assert not [n for n in SERIES if not hasattr(type(d.s), n)]
    assert not [n for n in GROUPBY if not hasattr(d.groupby("s"), n)]
    assert pardata.is_collection(d) and pardata.is_collection(d.a.sum())
    assert callable(d.index.compute)


def test_default_scheduler_is_threads():
    assert pdd.DataFrame.__pardata_scheduler__ == "threads"


def test_importing_dataframe_does_not_import_dask():
    import subprocess
    import sys

    code = ("import sys, pardata.dataframe;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_visualize_returns_dot():
    d = pdd.from_pandas(pd.DataFrame({"a": range(10)}), npartitions=2)
    dot = (d.a + 1).sum().visualize()
    assert "digraph" in str(dot)


def test_unknown_names_error_clearly():
    d = pdd.from_pandas(pd.DataFrame({"a": range(4)}), npartitions=2)
    with pytest.raises(AttributeError):
        d.b
    with pytest.raises(NotImplementedError):
        d.groupby("a").agg({"a": "median"})
