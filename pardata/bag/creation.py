"""Making bags: from an in-memory sequence, a range, text files, or Delayed values."""
from __future__ import annotations

import builtins
import os
from typing import Any, Iterable

from pardata.core.spec import DataNode, Ref, Task
from pardata.core.tokenize import tokenize
from pardata.bag.core import Bag
from pardata.bag.layers import GraphLayer, PartitionOp, SourceLayer
from pardata.bag.text import blocks_of, expand_paths, read_block

_DEFAULT_PARTITIONS = 100


def from_sequence(seq: Iterable, partition_size: int | None = None,
                  npartitions: int | None = None) -> Bag:
    """A bag of the elements of ``seq``, cut into partitions in order.

    ``npartitions=n`` gives exactly ``n`` partitions of near-equal length (some empty
    if ``seq`` is shorter); ``partition_size=s`` gives partitions of ``s`` elements;
    neither gives at most 100 partitions. Dask may return fewer partitions than asked
    for; this does not.
    """
    seq = list(seq)
    if partition_size is not None and npartitions is not None:
        raise ValueError("give partition_size= or npartitions=, not both")
    if partition_size is not None:
        if partition_size < 1:
            raise ValueError("partition_size must be at least 1")
        bounds = [(i, min(i + partition_size, len(seq))) for i in builtins.range(0, len(seq), partition_size)]
    else:
        if npartitions is None:
            npartitions = max(1, min(len(seq), _DEFAULT_PARTITIONS))
        if npartitions < 1:
            raise ValueError("npartitions must be at least 1")
        n = len(seq)
        bounds = [(i * n // npartitions, (i + 1) * n // npartitions) for i in builtins.range(npartitions)]
    if not bounds:
        bounds = [(0, 0)]
    name = f"from_sequence-{tokenize(seq, bounds)}"
    nodes = [DataNode((name, i), seq[a:b]) for i, (a, b) in enumerate(bounds)]
    return Bag(SourceLayer(name, nodes))


def _range_part(start: int, stop: int) -> builtins.range:
    return builtins.range(start, stop)


def range(n: int, npartitions: int) -> Bag:  # noqa: A001 - the public name, as in Dask
    """The integers ``0 .. n-1`` in ``npartitions`` near-equal partitions, made in the tasks."""
    if npartitions < 1:
        raise ValueError("npartitions must be at least 1")
    name = f"range-{tokenize(n, npartitions)}"
    op = PartitionOp(_range_part, ninputs=0)
    nodes = [
        Task((name, i), op, i * n // npartitions, (i + 1) * n // npartitions)
        for i in builtins.range(npartitions)
    ]
    return Bag(SourceLayer(name, nodes))


def read_text(urlpath, blocksize=None, compression: str | None = "infer", encoding: str = "utf-8",
              errors: str = "strict", include_path: bool = False) -> Bag:
    """A bag of the lines of text files (a path, a glob pattern, or a list of them).

    Lines keep their trailing ``\\n``. One partition per file, or with ``blocksize=``
    (bytes, or a string like ``"64 MiB"``) one per block of each uncompressed file, cut
    on line boundaries. ``compression``: ``"infer"`` (from ``.gz``, ``.bz2``, ``.xz``),
    ``None``, ``"gzip"``, ``"bz2"`` or ``"xz"``; compressed files are read whole.
    ``include_path=True`` gives ``(line, path)`` pairs.
    """
    paths = expand_paths(urlpath)
    blocks = blocks_of(paths, blocksize, compression, encoding)
    stamps = [(p, _mtime(p)) for p in paths]
    name = f"read_text-{tokenize(stamps, blocks, encoding, errors, include_path)}"
    op = PartitionOp(read_block, ninputs=0)
    nodes = [
        Task((name, i), op, path, start, stop, comp, encoding, errors, include_path)
        for i, (path, start, stop, comp) in enumerate(blocks)
    ]
    return Bag(SourceLayer(name, nodes))


def _mtime(path: str) -> int:
    return os.stat(path).st_mtime_ns


def from_delayed(values) -> Bag:
    """A bag with one partition per Delayed value (each computing a sequence)."""
    from pardata.delayed import Delayed, delayed

    if isinstance(values, Delayed):
        values = [values]
    values = [v if isinstance(v, Delayed) else delayed(v) for v in values]
    if not values:
        raise ValueError("from_delayed needs at least one value")
    name = f"from_delayed-{tokenize([v.key for v in values])}"
    graph: dict = {}
    for v in values:
        graph.update(v.__pardata_graph__())
    op = PartitionOp(_as_sequence, ninputs=0)
    nodes = [Task((name, i), op, Ref(v.key)) for i, v in enumerate(values)]
    return Bag(SourceLayer(name, nodes, parents=(GraphLayer(f"{name}-graph", graph),)))


def _as_sequence(value: Any) -> Any:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"a from_delayed partition must be a sequence, got {type(value).__name__}")
    return value

