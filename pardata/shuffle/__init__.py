"""The peer-to-peer shuffle: collection-agnostic task functions and the worker hook.

A shuffle of ``n_in`` partitions into ``n_out`` is three kinds of ordinary tasks:

1. *transfer* ``i`` asks its worker's shuffle service for the current run of the shuffle
   (the scheduler starts one on the first request: a run id and the workers alive;
   output ``j`` belongs to ``workers[j % len(workers)]``), cuts input partition ``i``
   into ``n_out`` groups with the collection's ``split`` and sends each group straight to
   its owner, which buffers it on disk. It returns the run, a few bytes.
2. the *barrier* depends on every transfer; it checks that they all used one run.
3. *unpack* ``j`` (restricted by the scheduler to the owner of output ``j``) reads the
   shards of output ``j`` and builds the partition with the collection's ``combine``.

So ``n_in + 1 + n_out`` tasks instead of ``n_in * n_out`` edges, and the data never
passes through task results: workers hold at most a bounded buffer in memory, the rest
is in files, whatever the total size.

A worker lost mid-shuffle makes the scheduler start a new run over the survivors and
re-run the transfers; shards of the old run are dropped by their run id.

This package imports neither ``worker`` nor ``comm``: a worker registers its shuffle
service here (``register_service``) under the name prefix of its task threads, and a
task finds it with ``current_service()``. Outside a worker (a graph made while a Client
was the default, computed on a local scheduler) that is a service writing files to the
local temporary directory (``pardata.shuffle.local``), so such a graph still runs.
"""
from pardata.shuffle._hook import current_service, register_service, unregister_service
from pardata.shuffle.tasks import (
    ShuffleOutputTooLarge,
    ShuffleRun,
    ShuffleSpec,
    dump_shard,
    load_shard,
    p2p_graph,
    shuffle_barrier,
    shuffle_transfer,
    shuffle_unpack,
)

__all__ = [
    "ShuffleOutputTooLarge", "ShuffleRun", "ShuffleSpec", "current_service", "dump_shard", "load_shard", "p2p_graph",
    "register_service", "shuffle_barrier", "shuffle_transfer", "shuffle_unpack", "unregister_service",
]
