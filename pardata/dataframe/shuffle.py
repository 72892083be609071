"""The local shuffle: move every row to the output partition its key selects.

A ``Partitioner`` says where a row goes: by a hash of some columns (or the index),
or by range, comparing a column against sorted boundaries (``set_index`` and
``sort_values``). ``Shuffle`` has two implementations, chosen when the graph is made:

- ``tasks``: one task per input splits it into ``n`` groups; output ``j`` concatenates
  group ``j`` of every input. Everything stays in memory until the last output is
  built, and there are ``n_in * n_out`` edges, so this is for small partition counts.
- ``disk``: each input partition writes its groups to files (one per non-empty group)
  in a fresh temporary directory; a barrier waits for all writers; output ``j`` reads
  and deletes its files. Memory holds about one partition per running task, whatever
  the total size. Files are removed as they are read, and any left by a failed run
  are removed at interpreter exit.

- ``p2p`` (on a cluster): transfer tasks send each group straight to the worker that
  owns its output, which buffers it on disk; output ``j`` is built on its owner from its
  files (see ``pardata.shuffle``). Memory stays bounded whatever the total size, and a
  worker lost midway costs a re-run of the transfers, not the job.

The default (``dataframe.shuffle.method`` unset) is ``tasks`` up to 32 partitions on
either side and ``disk`` beyond; with a distributed Client it is ``p2p``, except
``tasks`` for tiny shuffles (at most ``TASK_SHUFFLE_MAX_EDGES`` input-output pairs).
"""
from __future__ import annotations

import atexit
import os
import pickle
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np
import pandas as pd

from pardata import config
from pardata.core.spec import Ref, Task
from pardata.dataframe.expr import ALL, Expr, node
from pardata.shuffle import ShuffleSpec, p2p_graph

TASK_SHUFFLE_MAX_PARTITIONS = 32
#: On a cluster, shuffles of at most this many (input, output) pairs go through tasks.
TASK_SHUFFLE_MAX_EDGES = 64
METHODS = ("tasks", "disk", "p2p")


@dataclass(frozen=True)
class Partitioner:
    """Where each row goes. ``kind`` is ``"hash"`` (``on`` columns, or the index when
    empty; ``cast`` optional dtypes applied to the keys before hashing, so equal keys
    of different dtypes meet) or ``"range"`` (column ``on[0]`` or the index against
    ``boundaries``, the inner divisions)."""

    kind: str
    on: tuple
    cast: tuple | None = None
    boundaries: tuple | None = None
    ascending: bool = True
    na_last: bool = True

    def assign(self, df, n: int) -> np.ndarray:
        """The output partition number of every row of ``df``."""
        if len(df) == 0:
            return np.zeros(0, dtype=np.intp)
        if self.kind == "hash":
            return _hash_rows(df, self.on, self.cast) % np.uint64(n)
        return self._range(df, n)

    def _range(self, df, n: int) -> np.ndarray:
        values = df.index if not self.on else df[self.on[0]]
        bounds = self.boundaries
        arr = pd.Series(np.asarray(values), copy=False) if not isinstance(values, pd.Series) \
            else values.reset_index(drop=True)
        isna = arr.isna().to_numpy()
        if len(bounds):
            clean = arr[~isna]
            pos = np.searchsorted(np.asarray(bounds, dtype=_common_dtype(clean, bounds)),
                                  clean.to_numpy(), side="right")
        else:
            pos = np.zeros(int((~isna).sum()), dtype=np.intp)
        out = np.empty(len(arr), dtype=np.intp)
        out[~isna] = pos if self.ascending else (n - 1 - pos)
        out[isna] = n - 1 if self.na_last else 0
        return out


def _common_dtype(values: pd.Series, bounds) -> Any:
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        return dtype
    return object


def _hash_rows(df, on: tuple, cast) -> np.ndarray:
    if on:
        keys = df[list(on)]
    else:
        keys = df.index.to_frame(index=False) if isinstance(df, (pd.DataFrame, pd.Series)) \
            else df.to_frame(index=False)
    if cast is not None:
        keys = keys.astype(dict(zip(keys.columns, cast)))
    return pd.util.hash_pandas_object(keys, index=False).to_numpy()


def split_by(df, partitioner: Partitioner, n: int) -> list:
    """``df`` cut into ``n`` frames by ``partitioner``, each keeping its rows' order."""
    if n == 1:
        return [df]
    # small unsigned ints: numpy's stable argsort is then a radix sort (linear time)
    small = np.uint8 if n <= 256 else np.uint16 if n <= 65536 else np.intp
    where = partitioner.assign(df, n).astype(small, copy=False)
    order = np.argsort(where, kind="stable")
    counts = np.bincount(where, minlength=n)
    ordered = df.iloc[order]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [ordered.iloc[bounds[j]:bounds[j + 1]] for j in range(n)]


def _concat_groups(parts: list, meta):
    parts = [p for p in parts if len(p)]
    if not parts:
        return meta
    return parts[0] if len(parts) == 1 else pd.concat(parts)


def _collect(splits, j, meta, ignore_index):
    out = _concat_groups([s[j] for s in splits], meta)
    return out.reset_index(drop=True) if ignore_index else out


# --------------------------------------------------------------------- disk shuffle

_created_dirs: set = set()


@atexit.register
def _remove_leftovers() -> None:
    for path in list(_created_dirs):
        shutil.rmtree(path, ignore_errors=True)


def _shuffle_root() -> str:
    base = config.get("temporary-directory", None) or tempfile.gettempdir()
    return os.path.join(base, "pardata-shuffle")


def _make_dir(token) -> str:
    path = os.path.join(_shuffle_root(), f"{token}-{uuid.uuid4().hex[:12]}")
    os.makedirs(path)
    _created_dirs.add(path)
    return path


def _write_groups(path, i, df, partitioner, n) -> list:
    sizes = [0] * n
    for j, group in enumerate(split_by(df, partitioner, n)):
        if len(group):
            target = os.path.join(path, str(j))
            os.makedirs(target, exist_ok=True)
            data = pickle.dumps(group, protocol=5)
            with open(os.path.join(target, f"{i}.pkl"), "wb") as f:
                f.write(data)
            sizes[j] = len(data)
    return sizes


def _barrier(path, *sizes):
    return path


def _read_group(path, j, meta, ignore_index):
    folder = os.path.join(path, str(j))
    parts = []
    if os.path.isdir(folder):
        names = sorted(os.listdir(folder), key=lambda s: int(s.split(".")[0]))
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                parts.append(pickle.loads(f.read()))
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.rmdir(path)  # succeeds for the last reader only
        _created_dirs.discard(path)
    except OSError:
        pass
    out = _concat_groups(parts, meta)
    return out.reset_index(drop=True) if ignore_index else out


def _on_cluster() -> bool:
    from pardata.base import get_scheduler

    try:
        kind, _ = get_scheduler()
    except ValueError:
        return False
    return kind == "client"


def choose_method(method: str | None, n_in: int, n_out: int) -> str:
    method = method or config.get("dataframe.shuffle.method", None)
    if method in ("tasks", "disk"):
        return method
    if method == "p2p":
        if not _on_cluster():
            raise ValueError("shuffle method 'p2p' needs a distributed Client (workers send each other "
                             "the shards); use 'tasks' or 'disk' on the local schedulers")
        return method
    if method is not None:
        raise ValueError(f"unknown shuffle method {method!r}; expected one of {METHODS}")
    if _on_cluster():
        return "tasks" if n_in * n_out <= TASK_SHUFFLE_MAX_EDGES else "p2p"
    return "tasks" if max(n_in, n_out) <= TASK_SHUFFLE_MAX_PARTITIONS else "disk"


# ---------------------------------------------------------------------- p2p shuffle

def _split_groups(partitioner: Partitioner, df, n: int) -> dict:
    """``{j: rows of df going to output j}``, non-empty groups only."""
    return {j: g for j, g in enumerate(split_by(df, partitioner, n)) if len(g)}


def _combine_groups(meta, ignore_index: bool, groups: list, j: int):
    out = _concat_groups(groups, meta)
    return out.reset_index(drop=True) if ignore_index else out


def _heaviest_key(partitioner: Partitioner, df) -> str:
    """The most frequent shuffle key of ``df``, in words (for the skew error)."""
    on = list(partitioner.on)
    if not on:
        counts = df.index.value_counts(dropna=False)
    elif len(on) == 1:
        counts = df[on[0]].value_counts(dropna=False)
    else:
        counts = df.groupby(on, dropna=False).size().sort_values(ascending=False)
    if not len(counts):
        return "none (no rows)"
    n, key = int(counts.iloc[0]), counts.index[0]
    key = key.item() if isinstance(key, np.generic) else key
    return f"{key!r}, on {n} of {len(df)} rows ({n / len(df):.0%})"


def p2p_layer(name: str, input_name: str, n_in: int, n_out: int, partitioner: Partitioner,
              meta, ignore_index: bool) -> dict:
    """The peer-to-peer shuffle of partitions ``(input_name, i)`` into ``(name, j)``."""
    spec = ShuffleSpec(name, n_out, f"shuffle-barrier-{name}", partial(_split_groups, partitioner),
                       partial(_combine_groups, meta, ignore_index), partial(_heaviest_key, partitioner))
    return p2p_graph(spec, name, [(input_name, i) for i in range(n_in)], f"shuffle-transfer-{name}")


@node
class Shuffle(Expr):
    """Rows of ``frame`` regrouped into ``npartitions_out`` partitions by a partitioner.

    ``on`` is the hash key (columns; empty for the index) unless ``partitioner`` is
    given. The order of rows inside an output partition follows the inputs' order.
    """

    frame: Expr
    on: tuple
    npartitions_out: int
    ignore_index: bool = False
    method: str | None = None
    partitioner: Partitioner | None = None

    @property
    def _partitioner(self) -> Partitioner:
        return self.partitioner or Partitioner("hash", tuple(self.on))

    @property
    def is_hash(self) -> bool:
        return self._partitioner.kind == "hash"

    @cached_property
    def _meta(self):
        meta = self.frame._meta
        return meta.reset_index(drop=True) if self.ignore_index else meta

    @cached_property
    def divisions(self):
        return (None,) * (self.npartitions_out + 1)

    @property
    def _partitioning(self):
        """``("hash", columns, npartitions, dtypes hashed)``: two collections with equal
        tuples have equal keys in partitions with equal numbers."""
        p = self._partitioner
        if p.kind != "hash" or not p.on:
            return None
        meta = self.frame._meta
        dtypes = tuple(p.cast) if p.cast is not None else tuple(meta[c].dtype for c in p.on)
        return ("hash", tuple(p.on), self.npartitions_out, tuple(str(d) for d in dtypes))

    def _required_columns(self, needed):
        if needed is ALL:
            return {self.frame._name: ALL}
        return {self.frame._name: set(needed) | set(self._partitioner.on)}

    def _layer(self):
        n_in, n_out = self.frame.npartitions, self.npartitions_out
        method = choose_method(self.method, n_in, n_out)
        meta = self._meta if not self.ignore_index else self.frame._meta
        p = self._partitioner
        graph: dict = {}
        if method == "p2p":
            return p2p_layer(self._name, self.frame._name, n_in, n_out, p, meta, self.ignore_index)
        if method == "tasks":
            split_refs = []
            for i in range(n_in):
                key = (f"split-{self._name}", i)
                graph[key] = Task(key, split_by, Ref((self.frame._name, i)), p, n_out)
                split_refs.append(Ref(key))
            for j in range(n_out):
                key = (self._name, j)
                graph[key] = Task(key, _collect, split_refs, j, meta, self.ignore_index)
            return graph
        dir_key = f"shuffle-dir-{self._name}"
        graph[dir_key] = Task(dir_key, _make_dir, self._name[:40])
        writes = []
        for i in range(n_in):
            key = (f"shuffle-write-{self._name}", i)
            graph[key] = Task(key, _write_groups, Ref(dir_key), i, Ref((self.frame._name, i)),
                              p, n_out)
            writes.append(Ref(key))
        barrier = f"shuffle-barrier-{self._name}"
        graph[barrier] = Task(barrier, _barrier, Ref(dir_key), *writes)
        for j in range(n_out):
            key = (self._name, j)
            graph[key] = Task(key, _read_group, Ref(barrier), j, meta, self.ignore_index)
        return graph

    def _describe(self):
        p = self._partitioner
        what = f"on={list(p.on)}" if p.on else "on=index"
        return (f"Shuffle({p.kind}, {what}, {self.frame.npartitions} -> {self.npartitions_out}"
                f"{', method=' + self.method if self.method else ''})")
