"""``read_csv`` and ``to_csv``.

Reading: every matching file is cut into blocks of about ``blocksize`` bytes; a block
starts after the first line break at or after its offset and runs through the line
that crosses its end, so every line is read by exactly one block. Blocks after a
file's first are given the file's header line(s). Column dtypes come from a sample
at the start of the first file and are imposed on every block, so partitions agree;
a block that contradicts them (an int column with a missing value further down) fails
with a message naming the column and the ``dtype=`` to pass. Compressed files are
read whole. A line break inside a quoted field can fall on a block boundary; for such
files pass ``blocksize=None`` (one partition per file).

Writing: one file per partition (``*`` in the name is replaced by the partition
number), or one file written partition after partition (``single_file=True``).
"""
from __future__ import annotations

import io
from functools import cached_property

import pandas as pd

from pardata._units import parse_bytes
from pardata.core.spec import Ref, Task
from pardata.dataframe.expr import Expr, node
from pardata.dataframe.io import files
from pardata.dataframe.io.base import BlockwiseIO

_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")


def _read_range(path: str, start: int, length: int | None) -> bytes:
    """The whole lines of ``path`` that start within ``[start, start + length)``."""
    with files.open_file(path, "rb") as f:
        if length is None:
            return f.read()
        if start > 0:
            f.seek(start - 1)
            if f.read(1) != b"\n":
                f.readline()  # the line in progress belongs to the previous block
        pos = f.tell()
        end = start + length
        data = f.read(max(0, end - pos)) if pos < end else b""
        if data and not data.endswith(b"\n"):
            data += f.readline()
        return data


def _header_bytes(path: str, kwargs: dict) -> bytes:
    skip = kwargs.get("skiprows") or 0
    header = kwargs.get("header", "infer")
    if header is None:
        lines = skip if isinstance(skip, int) else 0
    else:
        lines = (skip if isinstance(skip, int) else 0) + 1
    with files.open_file(path, "rb") as f:
        return b"".join(f.readline() for _ in range(lines))


def _read_block(path, start, length, header, kwargs, dtypes, projection, path_column,
                all_paths):
    data = _read_range(path, start, length)
    first = start == 0
    if not first:
        data = header + data
    kw = dict(kwargs)
    if not first:
        kw.pop("skipfooter", None)
    if projection is not None:
        kw["usecols"] = list(projection)
        dates = kw.get("parse_dates")
        if isinstance(dates, (list, tuple)):
            kw["parse_dates"] = [c for c in dates if c in set(projection)]
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=dtypes, **kw)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{path} (bytes {start}-{start + (length or 0)}): the dtypes inferred from the "
            f"sample at the start of the data do not fit this block ({exc}). Pass dtype= "
            "for the columns involved (for an int column with missing values, "
            "dtype={'col': 'float64'}), or a larger sample="
        ) from exc
    if path_column is not None:
        df[path_column] = pd.Categorical([path] * len(df), categories=list(all_paths))
    return df


@node
class ReadCSV(BlockwiseIO):
    """Partitions are byte ranges of CSV files (see the module docstring)."""

    blocks: tuple  # (path, start, length or None)
    headers: tuple  # header bytes per block
    kwargs: dict
    dtypes: dict
    meta: object
    path_column: str | None = None
    all_paths: tuple = ()
    projection: tuple | None = None
    _prefix = "read-csv"

    @cached_property
    def _meta(self):
        return self._project_meta(self.meta)

    @cached_property
    def divisions(self):
        return (None,) * (len(self.blocks) + 1)

    def _task(self, i):
        path, start, length = self.blocks[i]
        cols = None
        dtypes = self.dtypes
        if self.projection is not None:
            cols = [c for c in self.projection if c != self.path_column]
            dtypes = {c: d for c, d in dtypes.items() if c in set(cols)}
        wanted = self.path_column if self.projection is None or \
            self.path_column in set(self.projection) else None
        return Task((self._name, i), _read_block, path, start, length, self.headers[i],
                    self.kwargs, dtypes, cols, wanted, self.all_paths)

    def _select_partitions(self, indices):
        return self.replace(blocks=tuple(self.blocks[i] for i in indices),
                            headers=tuple(self.headers[i] for i in indices))

    def _describe(self):
        cols = "" if self.projection is None else f"columns={list(self.projection)}, "
        return f"ReadCSV({cols}npartitions={self.npartitions})"


def read_csv(urlpath, blocksize="64MiB", sample: int = 256_000, dtype=None,
             include_path_column: bool | str = False, **kwargs):
    """A DataFrame over CSV files (a path, a glob pattern, or a list of them)."""
    from pardata.dataframe.collection import new_collection

    for bad in ("chunksize", "iterator", "nrows", "index_col"):
        if kwargs.get(bad) not in (None, False):
            raise ValueError(f"read_csv does not support {bad}=; set_index after reading instead")
    paths = files.expand_paths(urlpath)
    if isinstance(blocksize, str):
        blocksize = parse_bytes(blocksize)
    blocks, headers = [], []
    header = _header_bytes(paths[0], kwargs)
    for path in paths:
        size = files.file_size(path)
        if size == 0:
            continue
        if blocksize is None or path.endswith(_COMPRESSED) or size <= blocksize:
            blocks.append((path, 0, None))
            headers.append(b"")
            continue
        for start in range(0, size, blocksize):
            blocks.append((path, start, blocksize))
            headers.append(b"" if start == 0 else _header_bytes(path, kwargs))
    if not blocks:
        raise ValueError(f"no data in {urlpath!r}")
    with files.open_file(paths[0], "rb") as f:
        head = f.read(sample)
    if len(head) == sample and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]
    sample_df = pd.read_csv(io.BytesIO(head), dtype=dtype, **kwargs)
    meta = sample_df.iloc[:0]
    dtypes = {c: meta[c].dtype for c in meta.columns}
    if isinstance(dtype, dict):
        dtypes.update(dtype)
    # dates the user asked to parse stay parsed by pandas, not forced through dtype=
    for c in list(dtypes):
        if meta[c].dtype.kind == "M":
            dtypes.pop(c)
    path_column = None
    if include_path_column:
        path_column = include_path_column if isinstance(include_path_column, str) else "path"
        meta = meta.assign(**{path_column: pd.Categorical([], categories=paths)})
    expr = ReadCSV(tuple(blocks), tuple(headers), dict(kwargs), dtypes, meta, path_column,
                   tuple(paths))
    return new_collection(expr)


# ------------------------------------------------------------------------ writing

def _write_csv(df, path, kwargs, mode="wb", header=True):
    kwargs = dict(kwargs)
    header = kwargs.pop("header", True) and header
    encoding = kwargs.pop("encoding", None) or "utf-8"
    with files.open_file(path, mode) as f:
        f.write(df.to_csv(header=header, **kwargs).encode(encoding))
    return path


def _write_csv_after(previous, df, path, kwargs):
    return _write_csv(df, path, kwargs, mode="ab", header=False)


@node
class WritePartitions(Expr):
    """One task per partition that writes it and returns the file's path."""

    frame: Expr
    paths: tuple
    kwargs: dict
    chained: bool = False  # append each partition to one file, in order
    writer: str = "csv"

    @cached_property
    def _meta(self):
        return pd.Series([], dtype=object)

    @cached_property
    def divisions(self):
        return (None,) * (len(self.paths) + 1)

    def _layer(self):
        graph = {}
        for i, path in enumerate(self.paths):
            key = (self._name, i)
            part = Ref((self.frame._name, i))
            if self.writer == "parquet":
                from pardata.dataframe.io.parquet import _write_parquet_part

                graph[key] = Task(key, _write_parquet_part, part, path, self.kwargs)
            elif self.chained and i > 0:
                graph[key] = Task(key, _write_csv_after, Ref((self._name, i - 1)), part, path,
                                  self.kwargs)
            else:
                graph[key] = Task(key, _write_csv, part, path, self.kwargs)
        return graph


def partition_paths(path: str, n: int, name_function=None, suffix: str = ".part") -> list[str]:
    name_function = name_function or str
    path = str(path)
    if "*" in path:
        return [path.replace("*", name_function(i)) for i in range(n)]
    files.makedirs(path)
    return [files.join(path, f"{name_function(i)}{suffix}") for i in range(n)]


def to_csv(df, filename, single_file: bool = False, name_function=None, compute: bool = True,
           scheduler=None, **kwargs):
    """Write one CSV file per partition (or one file); returns the paths written."""
    if single_file:
        paths = [str(filename)] * df.npartitions
    else:
        paths = partition_paths(filename, df.npartitions, name_function)
    return write_partitions(df, paths, dict(kwargs), "csv", single_file, compute, scheduler)


def write_partitions(df, paths, kwargs, writer, chained, compute, scheduler):
    from pardata.dataframe.collection import new_collection
    from pardata.dataframe.frame import partition_values

    expr = WritePartitions(df._expr, tuple(paths), kwargs, chained=chained, writer=writer)
    out = new_collection(expr)
    if not compute:
        return out.to_delayed()
    written = partition_values(out, scheduler=scheduler)
    return list(dict.fromkeys(written))
