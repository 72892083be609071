"""The task functions of the peer-to-peer shuffle and the graph they form.

The collection supplies two functions in a ``ShuffleSpec``: ``split(partition, n_out)``
-> ``{j: group}`` (non-empty groups only) and ``combine(groups, j)`` -> output partition
``j`` from its groups in input order (an empty list when no row went there), and may
supply ``heaviest(group)`` -> a few words on its most frequent key.

Skew: an output whose shards add up to more than ``distributed.shuffle.max-output-fraction``
(default 0.25) of its worker's memory limit would take several times that to build
(shards, unpickled groups, the concatenation, the task after it) and likely get the
worker killed, again on every retry. It fails instead, at once, with a
``ShuffleOutputTooLarge`` naming its size and its heaviest key.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from pardata import config
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
    heaviest: Callable | None = None


class ShuffleOutputTooLarge(MemoryError):
    """One output partition of a shuffle is too large for its worker (a skewed key)."""


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


def shuffle_unpack(spec: ShuffleSpec, j: int, run: ShuffleRun, *anchor: Any) -> Any:
    """Output partition ``j`` from the shards its owner received. (``anchor``: see ``p2p_graph``.)"""
    if not run.workers:  # no input partitions at all
        return spec.combine([], j)
    service = _service()
    _check_size(spec, service, run, j)
    pieces = service.read(spec.id, run, j)
    pieces.sort(key=lambda p: p[0])
    groups = []
    for k in range(len(pieces)):
        groups.append(load_shard(pieces[k][1]))
        pieces[k] = None  # free each shard's bytes once unpickled
    return spec.combine(groups, j)


def _check_size(spec: ShuffleSpec, service, run: ShuffleRun, j: int) -> None:
    limit = service.memory_limit
    fraction = float(config.get("distributed.shuffle.max-output-fraction", 0.25))
    if not limit or not fraction:
        return
    nbytes, sample = service.output_size(spec.id, run, j)
    if nbytes <= fraction * limit:
        return
    from pardata._units import format_bytes

    heavy = ""
    if spec.heaviest is not None and sample is not None:
        try:
            heavy = f" Its heaviest key, in a sample of its shards: {spec.heaviest(load_shard(sample))}."
        except Exception:  # noqa: BLE001 - the size alone still says what is wrong
            heavy = ""
    raise ShuffleOutputTooLarge(
        f"output partition {j} of shuffle {spec.id} holds {format_bytes(nbytes)} on worker {service.address}, "
        f"more than {fraction:g} of its memory limit ({format_bytes(limit)}): building it would likely get "
        f"the worker killed.{heavy} Spread that key over more rows (add a salt column to the key), use more "
        "output partitions, or give the workers more memory "
        "(config distributed.shuffle.max-output-fraction sets this check).")


def _service():
    from pardata.shuffle._hook import current_service

    return current_service()


def p2p_graph(spec: ShuffleSpec, name: str, inputs: list, transfer_name: str,
              transfer_func: Callable = shuffle_transfer) -> dict:
    """``transfer`` tasks ``(transfer_name, i)`` over ``inputs`` (keys), the barrier
    ``spec.barrier`` and the outputs ``(name, j)``. ``transfer_func`` may wrap
    ``shuffle_transfer`` (e.g. so that a bag streams elements into it).

    Each output also takes the first transfer's (tiny) result as an extra input: with one
    input to the barrier, linear fusion would otherwise merge the barrier into a lone
    surviving output, and the scheduler must see the barrier under its own key.
    """
    graph: dict = {}
    refs = []
    for i, key in enumerate(inputs):
        k = (transfer_name, i)
        graph[k] = Task(k, transfer_func, spec, i, Ref(key))
        refs.append(Ref(k))
    graph[spec.barrier] = Task(spec.barrier, shuffle_barrier, spec, *refs)
    anchor = refs[:1]
    for j in range(spec.npartitions_out):
        k = (name, j)
        graph[k] = Task(k, shuffle_unpack, spec, j, Ref(spec.barrier), *anchor)
    return graph
