"""Names API.md promises, for the parts that exist; extended as collections land."""
import importlib

import pytest

PUBLIC = {
    "pardata": ["delayed", "compute", "persist", "visualize", "get", "config", "Delayed", "tokenize"],
    "pardata.config": ["get", "set", "refresh", "config"],
    "pardata.diagnostics": ["ProgressBar", "Callback"],
    "pardata.array": ["from_array", "asarray", "ones", "zeros", "full", "empty", "arange", "linspace",
                      "eye", "from_delayed", "from_zarr", "from_npy_stack", "Array", "dot", "matmul",
                      "tensordot", "concatenate", "stack", "where", "unique", "bincount", "histogram",
                      "map_blocks", "map_overlap", "blockwise", "store", "to_zarr", "to_npy_stack",
                      "sum", "mean", "std", "var", "min", "max", "prod", "any", "all", "argmin",
                      "argmax", "nansum", "nanmean", "cumsum", "cumprod"],
    "pardata.array.random": ["random", "normal", "randint", "default_rng"],
    "pardata.array.linalg": ["qr", "svd", "solve"],
    "pardata.dataframe": ["from_pandas", "read_csv", "read_parquet", "from_delayed", "from_map",
                          "from_array", "DataFrame", "Series", "Index", "concat", "merge"],
    "pardata.bag": ["from_sequence", "read_text", "from_delayed", "range", "Bag"],
    "pardata.distributed": ["Client", "LocalCluster", "wait", "as_completed", "progress",
                            "performance_report", "Future"],
    "pardata.core": ["get_dependencies", "toposort", "cull", "fuse", "inline", "order", "Task",
                     "Ref", "DataNode", "Alias"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_importable(module):
    mod = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(mod, name)]
    assert not missing, f"{module} lacks {missing}"


ARRAY_METHODS = ["shape", "dtype", "chunks", "numblocks", "npartitions", "nbytes", "T", "transpose",
                 "reshape", "ravel", "astype", "rechunk", "sum", "mean", "std", "var", "min", "max",
                 "prod", "any", "all", "argmin", "argmax", "cumsum", "cumprod", "compute", "persist",
                 "visualize", "__pardata_graph__", "__pardata_keys__", "_repr_html_"]


def test_array_surface():
    import pardata.array as pa

    x = pa.ones((4, 4), chunks=2)
    missing = [name for name in ARRAY_METHODS if not hasattr(x, name)]
    assert not missing


FRAME_METHODS = ["columns", "dtypes", "npartitions", "divisions", "known_divisions", "head", "assign",
                 "astype", "fillna", "dropna", "isin", "apply", "map_partitions", "rename", "drop",
                 "sum", "mean", "count", "min", "max", "std", "var", "nunique", "describe",
                 "quantile", "groupby", "merge", "join", "set_index", "sort_values", "shuffle",
                 "repartition", "drop_duplicates", "rolling", "to_parquet", "to_csv", "explain"]
BAG_METHODS = ["map", "filter", "flatten", "pluck", "distinct", "frequencies", "topk", "fold",
               "reduction", "foldby", "groupby", "sum", "count", "mean", "min", "max",
               "to_dataframe", "to_textfiles", "take"]


def test_dataframe_and_bag_surface():
    import pandas as pd

    import pardata.bag as pdb
    import pardata.dataframe as pdd

    df = pdd.from_pandas(
        pd.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"], "t": pd.date_range("2026", periods=3)}),
        npartitions=2,
    )
    assert not [m for m in FRAME_METHODS if not hasattr(df, m)]
    assert hasattr(df.a, "value_counts") and hasattr(df.s, "str") and hasattr(df.t, "dt")
    b = pdb.from_sequence([1, 2, 3], npartitions=2)
    assert not [m for m in BAG_METHODS if not hasattr(b, m)]


def test_delayed_has_the_collection_protocol():
    import pardata

    d = pardata.delayed(1)
    for name in ("compute", "persist", "visualize", "__pardata_graph__", "__pardata_keys__"):
        assert callable(getattr(d, name))
