"""Text files in and out: ``read_text`` partitions, ``to_textfiles`` writers.

Reading: a partition is a whole file, or (``blocksize=``, uncompressed files only) a
byte range of one. A block owns every line that *starts* inside it: it skips the tail
of a line begun in the block before and reads past its end to finish its last line,
so no line is lost or read twice, whatever the block size. Blocks are cut at ``\\n``
bytes, which never occur inside a UTF-8 (or any ASCII-compatible) character;
encodings where they can (UTF-16, UTF-32) are refused with ``blocksize=``.

Lines keep their end-of-line, translated to ``\\n`` from ``\\r\\n`` and ``\\r`` (Python's
universal newlines), as iterating over a text file gives them.
"""
from __future__ import annotations

import bz2
import codecs
import glob
import gzip
import lzma
import os
from typing import Any, Callable, Iterable

from pardata._units import parse_bytes

COMPRESSIONS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".lzma": "xz"}
_GLOB_CHARS = "*?["


def expand_paths(urlpath) -> list[str]:
    """File paths from a path, a glob pattern, or a list of either (sorted per pattern)."""
    items = [urlpath] if isinstance(urlpath, (str, os.PathLike)) else list(urlpath)
    paths: list[str] = []
    for item in items:
        item = os.fspath(item)
        if any(c in item for c in _GLOB_CHARS):
            found = sorted(glob.glob(item))
            if not found:
                raise FileNotFoundError(f"no files match {item!r}")
            paths.extend(found)
        else:
            if not os.path.exists(item):
                raise FileNotFoundError(f"no such file: {item!r}")
            paths.append(item)
    if not paths:
        raise ValueError("read_text needs at least one path")
    return paths


def infer_compression(path: str, compression: str | None) -> str | None:
    if compression == "infer":
        return _SUFFIXES.get(os.path.splitext(path)[1].lower())
    if compression is not None and compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; expected one of "
                         f"{sorted(COMPRESSIONS)}, 'infer' or None")
    return compression


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their ``\\n`` kept, after universal-newline translation."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    last = lines.pop()
    lines = [line + "\n" for line in lines]
    if last:
        lines.append(last)
    return lines


def _read_range(path: str, start: int, stop: int | None) -> bytes:
    """Bytes of the lines that start in ``[start, stop)`` (all of them if ``stop`` is None)."""
    with open(path, "rb") as f:
        if start:
            f.seek(start - 1)
            f.readline()  # the rest of the line that began before `start` (or just "\n")
        begin = f.tell()
        if stop is None:
            return f.read()
        if begin >= stop:
            return b""
        data = f.read(stop - begin)
        if data and not data.endswith(b"\n"):
            data += f.readline()
        return data


def read_block(path: str, start: int, stop: int | None, compression: str | None,
               encoding: str, errors: str, include_path: bool) -> list:
    """One partition of ``read_text``: the lines of a file or of a block of it."""
    if compression is None:
        data = _read_range(path, start, stop)
    else:
        with COMPRESSIONS[compression](path, "rb") as f:
            data = f.read()
    lines = split_lines(data.decode(encoding, errors))
    if include_path:
        return [(line, path) for line in lines]
    return lines


def blocks_of(paths: list[str], blocksize, compression, encoding: str) -> list[tuple]:
    """``(path, start, stop, compression)`` per partition."""
    if blocksize is not None:
        blocksize = parse_bytes(blocksize)
        if blocksize < 1:
            raise ValueError("blocksize must be positive")
        name = codecs.lookup(encoding).name
        if name.startswith(("utf-16", "utf-32")):
            raise ValueError(f"blocksize= cannot split {encoding!r} text on line boundaries; "
                             "use blocksize=None")
    out = []
    for path in paths:
        comp = infer_compression(path, compression)
        size = os.path.getsize(path)
        if blocksize is None or comp is not None or size <= blocksize:
            out.append((path, 0, None, comp))
            continue
        for start in range(0, size, blocksize):
            stop = start + blocksize
            out.append((path, start, stop if stop < size else None, None))
    return out


# ------------------------------------------------------------------------- writing

def output_paths(path, npartitions: int, name_function: Callable[[int], str] | None) -> list[str]:
    """One path per partition: a list, a pattern with one ``*``, or a directory."""
    if not isinstance(path, (str, os.PathLike)):
        paths = [os.fspath(p) for p in path]
        if len(paths) != npartitions:
            raise ValueError(f"{len(paths)} paths given for {npartitions} partitions")
        return paths
    path = os.fspath(path)
    name_function = name_function or str
    if "*" in path:
        if path.count("*") > 1:
            raise ValueError(f"the path pattern {path!r} must hold exactly one '*'")
        return [path.replace("*", name_function(i)) for i in range(npartitions)]
    return [os.path.join(path, f"{name_function(i)}.part") for i in range(npartitions)]


def write_lines(path: str, compression: str | None, encoding: str, last_endline: bool,
                part: Iterable) -> list[str]:
    """Write one partition, one element per line; return ``[path]``.

    An element that already ends with ``\\n`` (as ``read_text`` lines do) gets no second
    one, so ``read_text(...).to_textfiles(...)`` reproduces its input (Dask would add a
    blank line after every such element).
    """
    comp = infer_compression(path, compression)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    opener: Any = COMPRESSIONS[comp] if comp else open
    with opener(path, "wt", encoding=encoding) as f:
        pending = False
        for x in part:
            if type(x) is not str:
                raise TypeError(f"to_textfiles writes strings, got {type(x).__name__}: {x!r:.60}; "
                                "map a formatting function (str, json.dumps) first")
            if pending:
                f.write("\n")
            f.write(x)
            pending = not x.endswith("\n")
        if pending and last_endline:
            f.write("\n")
    return [path]
