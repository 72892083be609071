"""``read_parquet`` and ``to_parquet`` with pyarrow.

Reading plans partitions from the files' footers, once, when ``read_parquet`` is
called: every row group with its row count, size, column statistics and hive
partition values (``key=value`` directories). A partition is a run of row groups of
one file up to ``blocksize`` bytes (uncompressed), or a whole file.

What the optimizer pushes in:

- ``projection``: only those columns are read (hive partition columns are added as
  categoricals without reading anything);
- ``filters`` (disjunctive normal form ``[[(col, op, value), ...], ...]``, from
  ``filters=`` or from a ``df[df.x > 5]`` the filter rule translated): row groups
  whose statistics, or directories whose partition values, rule a filter out are not
  planned at all; the rows read are then filtered exactly, so the result equals
  filtering in pandas.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pardata._units import parse_bytes
from pardata.core.spec import Task
from pardata.dataframe.expr import node
from pardata.dataframe.io import files
from pardata.dataframe.io.base import BlockwiseIO

_OPS = ("==", "=", "!=", "<", "<=", ">", ">=", "in", "not in")


@dataclass(frozen=True, eq=False)
class RowGroup:
    path: str
    index: int
    num_rows: int
    nbytes: int
    stats: dict  # column -> (min, max), only columns with statistics
    keys: dict  # hive partition column -> value


@dataclass(frozen=True, eq=False)
class ParquetSource:
    """What the footers said: row groups, the empty frame, hive partition columns."""

    paths: tuple
    token: str
    row_groups: tuple
    meta: Any
    file_columns: tuple
    partition_categories: dict  # column -> pd.Index of all its values
    index_columns: tuple

    def __pardata_tokenize__(self):
        return self.token


def _discover(path, filesystem=None) -> ParquetSource:
    import pyarrow.dataset as ds

    from pardata.core.tokenize import tokenize

    source = files.expand_paths(path) if isinstance(path, (list, tuple)) or any(
        ch in str(path) for ch in "*?[") else [os.fspath(path)]
    fs = None
    if any(files._has_protocol(p) for p in source):
        import fsspec

        fs, _, stripped = fsspec.get_fs_token_paths(source)
        source = stripped
    partitioning = ds.HivePartitioning.discover(infer_dictionary=True)
    target = source[0] if len(source) == 1 else source
    dataset = ds.dataset(target, format="parquet", partitioning=partitioning, filesystem=fs)
    schema = dataset.schema
    part_cats: dict = {}
    dictionaries = getattr(dataset.partitioning, "dictionaries", None) or []
    part_names = list(dataset.partitioning.schema.names) if dataset.partitioning else []
    for name, values in zip(part_names, dictionaries):
        if values is not None:
            part_cats[name] = pd.Index(values.to_pandas())
    row_groups = []
    stamps = []
    for frag in dataset.get_fragments():
        frag.ensure_complete_metadata()
        keys = ds.get_partition_keys(frag.partition_expression)
        fpath = frag.path if fs is None else f"{source_protocol(path)}{frag.path}"
        try:
            st = os.stat(frag.path) if fs is None else None
            stamps.append((frag.path, st.st_size, st.st_mtime_ns) if st else (frag.path,))
        except OSError:
            stamps.append((frag.path,))
        for rg in frag.row_groups:
            stats = {}
            for col, mm in (rg.statistics or {}).items():
                if mm and "min" in mm and "max" in mm:
                    stats[col] = (mm["min"], mm["max"])
            row_groups.append(RowGroup(fpath, rg.id, rg.num_rows, rg.total_byte_size, stats,
                                       dict(keys)))
    meta = schema.empty_table().to_pandas()
    for name, cats in part_cats.items():
        if name in meta.columns:
            meta[name] = pd.Categorical([], categories=cats)
    for name in meta.columns:
        if isinstance(meta[name].dtype, pd.CategoricalDtype) and name not in part_cats:
            cats = _file_categories(dataset, name)
            part_cats[name] = cats
            meta[name] = pd.Categorical([], categories=cats, ordered=meta[name].cat.ordered)
    pandas_md = schema.pandas_metadata or {}
    index_cols = tuple(c for c in pandas_md.get("index_columns", []) if isinstance(c, str))
    file_cols = tuple(n for n in schema.names if n not in part_cats and n not in index_cols)
    return ParquetSource(tuple(source), tokenize(sorted(stamps), str(schema)), tuple(row_groups),
                         meta, file_cols, part_cats, index_cols)


def _file_categories(dataset, column) -> pd.Index:
    """The union of a dictionary-encoded column's values over all files, in order of
    first appearance (each file stores its own dictionary)."""
    seen: dict = {}
    table = dataset.to_table(columns=[column])
    for chunk in table.column(column).chunks:
        values = chunk.dictionary.to_pylist() if hasattr(chunk, "dictionary") else chunk.to_pylist()
        for v in values:
            if v is not None:
                seen.setdefault(v, None)
    return pd.Index(list(seen))


def source_protocol(path) -> str:
    text = str(path[0] if isinstance(path, (list, tuple)) else path)
    return text.split("://", 1)[0] + "://" if "://" in text else ""


# ------------------------------------------------------------------ filters

def normalize_filters(filters) -> tuple | None:
    """``filters`` as DNF: a tuple of conjunctions, each a tuple of (col, op, value)."""
    if not filters:
        return None
    if isinstance(filters[0], tuple) and isinstance(filters[0][0], str):
        filters = [filters]
    out = []
    for conj in filters:
        terms = []
        for col, op, value in conj:
            if op not in _OPS:
                raise ValueError(f"unknown filter operator {op!r}; expected one of {_OPS}")
            op = "==" if op == "=" else op
            if op in ("in", "not in"):
                value = tuple(value)
            terms.append((col, op, value))
        out.append(tuple(terms))
    return tuple(out)


def _compare(op, value, lo, hi) -> bool:
    """Could a value in ``[lo, hi]`` satisfy ``x op value``?"""
    if op == "==":
        return lo <= value <= hi
    if op == "<":
        return lo < value
    if op == "<=":
        return lo <= value
    if op == ">":
        return hi > value
    if op == ">=":
        return hi >= value
    if op == "in":
        return any(lo <= v <= hi for v in value)
    if op == "!=":
        return not (lo == hi == value)
    if op == "not in":
        return not (lo == hi and lo in value)
    return True


def _term_possible(term, rg: RowGroup) -> bool | None:
    """False if the row group cannot satisfy ``term``; True if the term is decided
    true for every row (a partition key); None if the rows must be checked."""
    col, op, value = term
    if col in rg.keys:
        key = rg.keys[col]
        try:
            return _compare(op, value, key, key)
        except TypeError:
            return None
    mm = rg.stats.get(col)
    if mm is None:
        return None
    try:
        return None if _compare(op, value, *mm) else False
    except TypeError:  # values the statistics cannot be compared with
        return None


def residual(dnf: tuple, rg: RowGroup) -> tuple | None:
    """The filter left to apply to this row group's rows: ``()`` to keep every row,
    None if no row can match."""
    remaining = []
    for conj in dnf:
        left = []
        possible = True
        for term in conj:
            verdict = _term_possible(term, rg)
            if verdict is False:
                possible = False
                break
            if verdict is None:
                left.append(term)
        if possible:
            if not left:
                return ()  # this conjunction holds for every row
            remaining.append(tuple(left))
    return tuple(remaining) if remaining else None


def _arrow_expression(dnf: tuple):
    import pyarrow.compute as pc

    def term(col, op, value):
        f = pc.field(col)
        if op == "in":
            return f.isin(list(value))
        if op == "not in":
            return ~f.isin(list(value))
        return {"==": f == value, "!=": f != value, "<": f < value, "<=": f <= value,
                ">": f > value, ">=": f >= value}[op]

    expr = None
    for conj in dnf:
        c = None
        for t in conj:
            c = term(*t) if c is None else c & term(*t)
        expr = c if expr is None else expr | c
    return expr


# ------------------------------------------------------------------ reading

def _read_piece(path, row_groups, columns, filters, keys, categories, out_columns, index):
    import pyarrow.parquet as pq

    read_cols, extra = columns, []
    if filters and columns is not None:
        extra = list(dict.fromkeys(c for conj in filters for c, _, _ in conj
                                   if c not in set(columns)))
        read_cols = list(dict.fromkeys([*columns, *extra]))
    # columns read only to filter rows are decoded as dictionaries: a string column of
    # few distinct values (a flag, a category) then costs its codes, not its strings
    if files._has_protocol(path):
        with files.open_file(path, "rb") as f:
            table = pq.ParquetFile(f, read_dictionary=extra).read_row_groups(
                list(row_groups), columns=read_cols, use_pandas_metadata=True)
    else:  # pyarrow's own file reader is faster than a Python file object
        table = pq.ParquetFile(path, read_dictionary=extra).read_row_groups(
            list(row_groups), columns=read_cols, use_pandas_metadata=True)
    if filters:
        table = table.filter(_arrow_expression(filters))
    if extra:
        pandas_meta = table.schema.pandas_metadata or {}
        index_cols = {c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)}
        table = table.drop_columns([c for c in extra
                                    if c in table.column_names and c not in index_cols])
    df = table.to_pandas()
    n = len(df)
    for name, cats in categories.items():
        if name not in keys and name in df.columns:
            df[name] = df[name].cat.set_categories(cats)
    for name, value in keys.items():
        if out_columns is None or name in out_columns:
            cats = categories[name]
            code = int(cats.get_loc(value))
            df[name] = pd.Categorical.from_codes(np.full(n, code, dtype="int32"), categories=cats)
    if out_columns is not None:
        df = df[list(out_columns)]
    if index is False:
        df = df.reset_index(drop=True)
    elif isinstance(index, str):
        df = df.set_index(index)
    return df


@node
class ReadParquet(BlockwiseIO):
    """Partitions are runs of row groups (see the module docstring)."""

    source: ParquetSource
    filters: tuple | None = None
    projection: tuple | None = None
    blocksize: int | None = None
    index: Any = None
    calculate_divisions: bool = False
    selected: tuple | None = None  # indices into the layout (head, partitions[...])
    pushed: tuple | None = None  # filters from the optimizer: they do not change the layout
    limit: int | None = None  # only the first rows of each partition are wanted (head)
    _prefix = "read-parquet"

    @cached_property
    def _full_meta(self):
        meta = self.source.meta
        if self.index is False:
            meta = meta.reset_index(drop=True)
        elif isinstance(self.index, str):
            meta = meta.set_index(self.index)
        return meta

    @cached_property
    def _meta(self):
        return self._project_meta(self._full_meta)

    @cached_property
    def _layout(self) -> tuple:
        """Row groups grouped into partitions, pruned by the user's ``filters=``."""
        pieces: list = []
        current: list = []
        size = 0
        for rg in self.source.row_groups:
            rest = () if self.filters is None else residual(self.filters, rg)
            if rest is None:
                continue  # statistics or partition values rule it out
            if current and (rg.path != current[0][0].path or rest != current[0][1]
                            or (self.blocksize and size + rg.nbytes > self.blocksize)):
                pieces.append(current)
                current, size = [], 0
            current.append((rg, rest))
            size += rg.nbytes
        if current:
            pieces.append(current)
        if self.selected is not None:
            pieces = [pieces[i] for i in self.selected]
        return tuple(pieces)

    @cached_property
    def _plan(self) -> tuple:
        """``(path, row group ids, partition keys, row filter)`` per partition.

        Filters pushed by the optimizer (``pushed``) skip row groups inside each
        partition but keep the partition count, which the plan above already relies on.
        """
        out = []
        for run in self._layout:
            kept = []
            for rg, rest in run:
                if self.pushed is not None:
                    more = residual(self.pushed, rg)
                    if more is None:
                        continue
                    rest = _and(rest, more) if rest else (more or None)
                kept.append((rg, rest))
            if not kept:
                rg = run[0][0]
                out.append((rg.path, (), rg.keys, None))
                continue
            if self.limit is not None and all(not r for _, r in kept):
                rows, upto = 0, 0
                for upto, (rg, _) in enumerate(kept, 1):  # enough row groups for `limit`
                    rows += rg.num_rows
                    if rows >= self.limit:
                        break
                kept = kept[:upto]
            rests = {r for _, r in kept}
            row_filter = kept[0][1] if len(rests) == 1 else _and(self.filters, self.pushed)
            rg0 = kept[0][0]
            out.append((rg0.path, tuple(rg.index for rg, _ in kept), rg0.keys, row_filter or None))
        if not out:  # keep one (empty) partition so the schema survives
            rg = self.source.row_groups[0] if self.source.row_groups else None
            out.append((rg.path, (), rg.keys, None) if rg else (None, (), {}, None))
        return tuple(out)

    @cached_property
    def divisions(self):
        n = len(self._plan)
        if self.calculate_divisions:
            divs = self._divisions_from_stats()
            if divs is not None:
                return divs
        return (None,) * (n + 1)

    def _divisions_from_stats(self):
        index = self.index if isinstance(self.index, str) else (
            self.source.index_columns[0] if len(self.source.index_columns) == 1 else None)
        if index is None:
            return None
        bounds = []
        for path, rgs, _, _ in self._plan:
            stats = [rg.stats.get(index) for rg in self.source.row_groups
                     if rg.path == path and rg.index in rgs]
            if not stats or any(s is None for s in stats):
                return None
            bounds.append((min(s[0] for s in stats), max(s[1] for s in stats)))
        for (_, hi), (lo, _) in zip(bounds, bounds[1:]):
            if not hi < lo:
                return None
        return tuple(lo for lo, _ in bounds) + (bounds[-1][1],)

    def _task(self, i):
        path, rgs, keys, filters = self._plan[i]
        meta = self._meta
        out_columns = list(meta.columns) if self.projection is not None else None
        file_cols = [c for c in self.source.file_columns if out_columns is None or c in out_columns]
        if isinstance(self.index, str) and self.index not in file_cols:
            file_cols.append(self.index)
            if out_columns is not None:
                out_columns = out_columns + [self.index]
        if path is None or not rgs:
            return Task((self._name, i), _empty_like, meta)
        columns = file_cols if self.projection is not None else None
        return Task((self._name, i), _read_piece, path, rgs, columns, filters, keys,
                    self.source.partition_categories, out_columns, self.index)

    def _total_bytes(self):
        return sum(rg.nbytes for run in self._layout for rg, _ in run)

    def _with_filters(self, dnf):
        dnf = normalize_filters([list(c) for c in dnf])
        return self.replace(pushed=_and(self.pushed, dnf))

    def _with_limit(self, n: int):
        return self.replace(limit=n if self.limit is None else min(n, self.limit))

    def _select_partitions(self, indices):
        base = self.selected or tuple(range(len(self._layout)))
        return self.replace(selected=tuple(base[i] for i in indices))

    def _describe(self):
        parts = [f"npartitions={self.npartitions}"]
        if self.limit is not None:
            parts.insert(0, f"limit={self.limit}")
        if self.projection is not None:
            parts.insert(0, f"columns={list(self.projection)}")
        if self.filters or self.pushed:
            both = _and(self.filters, self.pushed)
            parts.insert(0, f"filters={[list(c) for c in both]}")
        return f"ReadParquet({', '.join(parts)})"


def _and(a: tuple | None, b: tuple | None) -> tuple | None:
    """The conjunction of two DNF filters (None: no filter)."""
    if not a:
        return b
    if not b:
        return a
    return tuple(x + y for x in a for y in b)


def _empty_like(meta):
    return meta


def read_parquet(path, columns=None, filters=None, index=None, calculate_divisions=False,
                 blocksize="256MiB", split_row_groups="infer", engine="pyarrow", **kwargs):
    """A DataFrame over Parquet files: a file, a directory (hive ``key=value``
    subdirectories become categorical columns), a glob pattern or a list of files."""
    from pardata.dataframe.collection import new_collection

    if engine not in ("pyarrow", "auto"):
        raise ValueError("only engine='pyarrow' is supported")
    if kwargs:
        raise TypeError(f"unsupported read_parquet arguments: {sorted(kwargs)}")
    source = _discover(path)
    if isinstance(blocksize, str):
        blocksize = parse_bytes(blocksize)
    if split_row_groups is False:
        blocksize = None
    elif split_row_groups is True:
        blocksize = 1
    expr = ReadParquet(source, normalize_filters(filters), None, blocksize, index,
                       calculate_divisions)
    out = new_collection(expr)
    if columns is not None:
        if isinstance(columns, str):
            return out[columns]
        out = out[list(columns)]
    return out


# ------------------------------------------------------------------ writing

def _write_parquet_part(df, path, kwargs):
    import pyarrow as pa
    import pyarrow.parquet as pq

    kwargs = dict(kwargs)
    write_index = kwargs.pop("write_index", True)
    partition_on = kwargs.pop("partition_on", None)
    table = pa.Table.from_pandas(df, preserve_index=write_index)
    if partition_on:
        base, name = path
        pq.write_to_dataset(table, base, partition_cols=list(partition_on),
                            basename_template=name.replace(".parquet", "") + "-{i}.parquet",
                            **kwargs)
        return base
    with files.open_file(path, "wb") as f:
        pq.write_table(table, f, **kwargs)
    return path


def to_parquet(df, path, write_index: bool = True, partition_on=None, name_function=None,
               compression="snappy", compute: bool = True, scheduler=None, **kwargs):
    """One Parquet file per partition (``part.<i>.parquet``) under directory ``path``;
    ``partition_on=`` writes hive ``column=value`` subdirectories instead."""
    from pardata.dataframe.io.csv import write_partitions

    path = str(path)
    files.makedirs(path)
    name_function = name_function or (lambda i: f"part.{i}.parquet")
    names = [name_function(i) for i in range(df.npartitions)]
    options = {"write_index": write_index, "compression": compression, **kwargs}
    if partition_on:
        options["partition_on"] = list(partition_on)
        targets = [(path, name) for name in names]
    else:
        targets = [files.join(path, name) for name in names]
    return write_partitions(df, targets, options, "parquet", False, compute, scheduler)
