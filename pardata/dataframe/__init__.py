"""``pardata.dataframe``: partitioned pandas DataFrames with a query optimizer.

``import pardata.dataframe as pdd``. Collections (``DataFrame``, ``Series``, ``Index``,
``Scalar``) wrap immutable plan expressions (``expr``); metadata is known without
computing; the optimizer (``optimizer``) rewrites a plan (projection and filter
pushdown, physical choices, shuffle elimination, fusion) before it is lowered to one
task graph at compute time.
"""
from pardata.dataframe.collection import map_partitions
from pardata.dataframe.concat import concat
from pardata.dataframe.convert import to_datetime, to_numeric
from pardata.dataframe.frame import DataFrame
from pardata.dataframe.io.csv import read_csv, to_csv
from pardata.dataframe.io.maps import from_array, from_delayed, from_map
from pardata.dataframe.io.pandas import from_pandas
from pardata.dataframe.io.parquet import read_parquet, to_parquet
from pardata.dataframe.merge import merge
from pardata.dataframe.series import Index, Scalar, Series

__all__ = [
    "DataFrame", "Index", "Scalar", "Series", "concat", "from_array", "from_delayed",
    "from_map", "from_pandas", "map_partitions", "merge", "read_csv", "read_parquet", "to_csv",
    "to_datetime", "to_numeric", "to_parquet",
]
