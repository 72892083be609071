"""The task functions of the peer-to-peer shuffle and the graph they form.

The collection supplies two functions in a ``ShuffleSpec``: ``split(partition, n_out)``
-> ``{j: group}`` (non-empty groups only) and ``combine(groups, j)`` -> output partition
``j`` from its groups in input order (an empty list when no row went there).
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from pardata.core.spec import Ref, Task

Key = Hashable


@dataclass(frozen=True)
class ShuffleSpec:
    """What every task of one shuffle knows. ``id`` is unique per shuffle in a graph;
    ``barrier`` is the barrier task's key (the scheduler finds the outputs from it)."""

    id: str
    npartitions_out: int
    barrier: Key
    split: Callable
    combine: Callable


@dataclass(frozen=True)
class ShuffleRun:
    """One run of a shuffle: its id and participants, sorted (output ``j`` is owned by
    ``workers[j % len(workers)]``)."""

    run_id: int
    workers: tuple

    def owner(self, j: int) -> str:
        return self.workers[j % len(self.workers)]


def dump_shard(group: Any) -> bytes:
    try:
        return pickle.dumps(group, protocol=5)
    except Exception:  # noqa: BLE001 - lambdas and other objects only cloudpickle knows
        import cloudpickle

        return cloudpickle.dumps(group, protocol=5)


def load_shard(data) -> Any:
    return pickle.loads(data)


def shuffle_transfer(spec: ShuffleSpec, i: int, partition: Any) -> ShuffleRun:
    """Cut input partition ``i`` and send each group to the owner of its output."""
    service = _service()
    run = service.run_for(spec.id, spec.barrier, spec.npartitions_out)
    groups = spec.split(partition, spec.npartitions_out)
    del partition
    shards = {j: dump_shard(g) for j, g in groups.items()}
    del groups
    service.send(spec.id, run, i, shards)
    return run


def shuffle_barrier(spec: ShuffleSpec, *runs: ShuffleRun) -> ShuffleRun:
    """Every transfer is done; they must all have sent under one run."""
    ids = {r.run_id for r in runs}
    if len(ids) > 1:
        raise RuntimeError(f"shuffle {spec.id}: transfers ran under different runs {sorted(ids)}; "
                           "a worker left while it ran and its transfers are being re-run")
    if not runs:
        return ShuffleRun(0, ())
    return runs[0]


def shuffle_unpack(spec: ShuffleSpec, j: int, run: ShuffleRun) -> Any:
    """Output partition ``j`` from the shards its owner received."""
    if not run.workers:  # no input partitions at all
        return spec.combine([], j)
    pieces = _service().read(spec.id, run, j)
    pieces.sort(key=lambda p: p[0])
    groups = []
    for k in range(len(pieces)):
        groups.append(load_shard(pieces[k][1]))
        pieces[k] = None  # free each shard's bytes once unpickled
    return spec.combine(groups, j)


def _service():
    from pardata.shuffle._hook import current_service

    return current_service()


def p2p_graph(spec: ShuffleSpec, name: str, inputs: list, transfer_name: str,
              transfer_func: Callable = shuffle_transfer) -> dict:
    """``transfer`` tasks ``(transfer_name, i)`` over ``inputs`` (keys), the barrier
    ``spec.barrier`` and the outputs ``(name, j)``. ``transfer_func`` may wrap
    ``shuffle_transfer`` (e.g. so that a bag streams elements into it)."""
    graph: dict = {}
    refs = []
    for i, key in enumerate(inputs):
        k = (transfer_name, i)
        graph[k] = Task(k, transfer_func, spec, i, Ref(key))
        refs.append(Ref(k))
    graph[spec.barrier] = Task(spec.barrier, shuffle_barrier, spec, *refs)
    for j in range(spec.npartitions_out):
        k = (name, j)
        graph[k] = Task(k, shuffle_unpack, spec, j, Ref(spec.barrier))
    return graph
