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


def test_delayed_has_the_collection_protocol():
    import pardata

    d = pardata.delayed(1)
    for name in ("compute", "persist", "visualize", "__pardata_graph__", "__pardata_keys__"):
        assert callable(getattr(d, name))
