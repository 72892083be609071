"""``pardata.dataframe``: partitioned pandas DataFrames with a query optimizer.

``import pardata.dataframe as pdd``. Collections (``DataFrame``, ``Series``, ``Index``,
``Scalar``) wrap immutable plan expressions (``expr``); metadata is known without
computing; the optimizer (``optimizer``) rewrites a plan — projection and filter
pushdown, physical choices, shuffle elimination, fusion — before it is lowered to one
task graph at compute time.
"""
from pardata.dataframe.collection import map_partitions
from pardata.dataframe.frame import DataFrame
from pardata.dataframe.io.pandas import from_pandas
from pardata.dataframe.series import Index, Scalar, Series

__all__ = ["DataFrame", "Index", "Scalar", "Series", "from_pandas", "map_partitions"]
