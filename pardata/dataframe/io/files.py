"""Paths and file access shared by the readers and writers.

Local paths use the standard library. When fsspec is installed (it is not a
dependency), any URL it understands (``s3://``, ``gcs://``, ``memory://``...) works
too; without it such a URL is an error saying so.
"""
from __future__ import annotations

import glob
import os
from typing import Any

_MAGIC = set("*?[")


def _has_protocol(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _fsspec():
    try:
        import fsspec
    except ImportError:
        return None
    return fsspec


def expand_paths(urlpath: Any) -> list[str]:
    """The sorted list of files named by a path, a glob pattern or a list of them."""
    if isinstance(urlpath, (list, tuple)):
        out: list[str] = []
        for p in urlpath:
            out.extend(expand_paths(p))
        return out
    path = os.fspath(urlpath)
    if _has_protocol(path):
        fsspec = _fsspec()
        if fsspec is None:
            raise ImportError(f"reading {path!r} needs fsspec, which is not installed")
        fs, _, paths = fsspec.get_fs_token_paths(path)
        protocol = path.split("://", 1)[0]
        return [p if "://" in p else f"{protocol}://{p}" for p in sorted(paths)]
    path = path[len("file://"):] if path.startswith("file://") else path
    path = os.path.expanduser(path)
    if any(ch in _MAGIC for ch in path):
        found = sorted(glob.glob(path, recursive=True))
        if not found:
            raise FileNotFoundError(f"no files match {path!r}")
        return found
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return [path]


def open_file(path: str, mode: str = "rb"):
    if _has_protocol(path):
        fsspec = _fsspec()
        if fsspec is None:
            raise ImportError(f"opening {path!r} needs fsspec, which is not installed")
        return fsspec.open(path, mode).open()
    return open(path, mode)


def file_size(path: str) -> int:
    if _has_protocol(path):
        fsspec = _fsspec()
        fs, _, (p,) = fsspec.get_fs_token_paths(path)
        return fs.size(p)
    return os.path.getsize(path)


def makedirs(path: str) -> None:
    if _has_protocol(path):
        fsspec = _fsspec()
        if fsspec is None:
            raise ImportError(f"writing {path!r} needs fsspec, which is not installed")
        fs, _, (p,) = fsspec.get_fs_token_paths(path)
        fs.makedirs(p, exist_ok=True)
        return
    os.makedirs(path, exist_ok=True)


def join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if _has_protocol(base) else os.path.join(base, name)
