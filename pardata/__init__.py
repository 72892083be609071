"""pardata: a parallel dataflow engine for data larger than memory, with Dask's API.

Layers (see DESIGN.md): ``pardata.core`` (one graph format and pure passes) <- the
collections (``delayed``; array, dataframe, bag) <- local schedulers (``pardata.local``)
and the cluster (``pardata.distributed``, the ``scheduler`` and ``worker`` packages).
"""
from pardata import config
from pardata.base import compute, get, is_collection, persist, visualize
from pardata.core.tokenize import tokenize
from pardata.delayed import Delayed, delayed

__version__ = "0.1.0"

__all__ = [
    "Delayed", "compute", "config", "delayed", "get", "is_collection", "persist", "tokenize",
    "visualize",
]
