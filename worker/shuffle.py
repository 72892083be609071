"""``ShuffleService``: a worker's side of the peer-to-peer shuffle (see ``pardata.shuffle``).

Task threads call the blocking methods (``run_for``, ``send``, ``read``); the work is
done on the worker's event loop. Three jobs:

- *runs*: ask the scheduler for the current run of a shuffle (a connection of the
  worker's pool, kept open between requests). The newest run a worker has heard of is
  its *current* run; data of older runs of that shuffle is dropped, and shards quoting
  an older run are refused, so a sender learns that its transfer is stale.
- *sending*: the groups of one input partition go to their owners, one message (of at
  most ``MESSAGE_BYTES``) in flight per owner, each answered once the owner buffered it.
  A peer that cannot be reached is retried while the scheduler still reports the same
  run (it will start a new one once it notices the peer is gone).
- *receiving*: shards are appended to one file per output under the worker's local
  directory by a single I/O thread; what is not written yet waits in memory. When that
  exceeds ``buffer_bytes`` a sender's message is acknowledged only once writes caught
  up (backpressure), so memory stays bounded however much arrives. Each (input,
  output) shard is taken once per run: a transfer that ran twice sends duplicates.

Files are deleted when their output is read, when the scheduler says a run is over
(``shuffle-forget``), when a newer run starts, and with the local directory at close.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor

from pardata.comm import CommError
from pardata.comm import messages as m
from pardata.shuffle import ShuffleRun, register_service, unregister_service

__all__ = ["ShuffleService"]

logger = logging.getLogger("pardata.worker.shuffle")

#: Largest message of shards sent to one peer at once.
MESSAGE_BYTES = 16 * 2**20
#: How long a sender retries an unreachable peer while its run stays current (seconds).
UNREACHABLE_PATIENCE = 60.0
_RECORD = struct.Struct("<qq")  # input partition, length


class _RunStore:
    """What one worker received for one run of one shuffle."""

    __slots__ = ("shuffle_id", "run_id", "directory", "seen", "memory", "error")

    def __init__(self, shuffle_id: str, run_id: int, directory: str) -> None:
        self.shuffle_id = shuffle_id
        self.run_id = run_id
        self.directory = directory
        self.seen: set = set()  # (output, input) taken
        self.memory: dict = {}  # output -> [(input, bytes)] not written yet
        self.error: BaseException | None = None


class ShuffleService:
    """One per worker; ``start`` registers it for the worker's task threads."""

    def __init__(self, server) -> None:
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        limit = server.memory_limit
        self.buffer_bytes = min(256 * 2**20, max(limit // 8, 8 * 2**20)) if limit else 128 * 2**20
        self.buffered = 0  # bytes received and not written yet
        self.current: dict = {}  # shuffle id -> newest run id heard of
        self.stores: dict = {}  # (shuffle id, run id) -> _RunStore
        self.directory = ""
        self._asked: dict = {}  # shuffle id -> (barrier key, outputs) of its last run request
        self._dirty: dict = {}  # stores with unwritten shards, {store: None}
        self._wake: asyncio.Event | None = None
        self._space: asyncio.Event | None = None
        self._io: ThreadPoolExecutor | None = None
        self._prefix = ""
        self.closed = False

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, thread_prefix: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.directory = os.path.join(self.server.local_directory, "shuffle")
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._io = ThreadPoolExecutor(1, thread_name_prefix="pardata-shuffle-io")
        self._prefix = thread_prefix
        register_service(thread_prefix, self)
        self.server._spawn(self._write_loop())

    def close(self) -> None:
        """Stop serving tasks; files go with the worker's local directory."""
        self.closed = True
        unregister_service(self._prefix, self)
        if self._space is not None:
            self._space.set()
        if self._io is not None:
            self._io.shutdown(wait=False, cancel_futures=True)

    @property
    def address(self) -> str:
        return self.server.address

    # --- called by task threads -----------------------------------------------------------

    def run_for(self, shuffle_id: str, barrier, npartitions_out: int) -> ShuffleRun:
        return self._call(self._request_run(shuffle_id, barrier, npartitions_out))

    def send(self, shuffle_id: str, run: ShuffleRun, i: int, shards: dict) -> None:
        self._call(self._send(shuffle_id, run, i, shards))

    def read(self, shuffle_id: str, run: ShuffleRun, j: int) -> list:
        return self._call(self._read(shuffle_id, run, j))

    @property
    def memory_limit(self) -> int:
        return self.server.memory_limit

    def output_size(self, shuffle_id: str, run: ShuffleRun, j: int) -> tuple:
        """``(bytes, first shard or None)`` of output ``j`` held here (0 if owned elsewhere)."""
        if run.owner(j) != self.address:
            return 0, None
        return self._call(self._output_size(shuffle_id, run.run_id, j))

    async def _output_size(self, shuffle_id: str, run_id: int, j: int) -> tuple:
        store = self.stores.get((shuffle_id, run_id))
        if store is None:
            return 0, None
        pieces = store.memory.get(j, [])
        path = os.path.join(store.directory, f"{j}.bin")
        on_disk, first = await asyncio.get_running_loop().run_in_executor(self._io, _size_and_first, path)
        if first is None and pieces:
            first = pieces[0][1]
        return on_disk + sum(len(b) for _, b in pieces), first

    def _call(self, coro):
        if self.closed or self.loop is None:
            coro.close()
            raise RuntimeError("this worker's shuffle service is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if self.closed:
                    future.cancel()
                    raise RuntimeError("the worker closed during a shuffle task") from None

    # --- runs -----------------------------------------------------------------------------

    async def _request_run(self, shuffle_id: str, barrier, npartitions_out: int) -> ShuffleRun:
        request = m.ShuffleRunRequest(shuffle_id=shuffle_id, barrier=barrier, npartitions_out=npartitions_out)
        reply = await self.server.pool.rpc(self.server.scheduler_address, request)
        if not isinstance(reply, m.ShuffleRunReply):
            raise RuntimeError(f"the scheduler answered a shuffle run request with {getattr(reply, 'op', reply)!r}")
        if reply.error:
            raise RuntimeError(f"shuffle {shuffle_id}: the scheduler started no run: {reply.error}")
        self._asked[shuffle_id] = (barrier, npartitions_out)
        self._advance(shuffle_id, reply.run_id)
        return ShuffleRun(reply.run_id, tuple(reply.workers))

    def _advance(self, shuffle_id: str, run_id: int) -> bool:
        """Note run ``run_id``; drop older runs' data. False if ``run_id`` is already old."""
        current = self.current.get(shuffle_id, 0)
        if run_id < current:
            return False
        if run_id > current:
            self.current[shuffle_id] = run_id
            self._drop(shuffle_id, run_id - 1)
        return True

    def forget(self, shuffle_id: str, run_id: int) -> None:
        """``shuffle-forget``: runs up to ``run_id`` are over."""
        self._drop(shuffle_id, run_id)
        if self.current.get(shuffle_id, 0) <= run_id:
            self.current.pop(shuffle_id, None)
            self._asked.pop(shuffle_id, None)

    def _drop(self, shuffle_id: str, up_to: int) -> None:
        for key in [k for k in self.stores if k[0] == shuffle_id and k[1] <= up_to]:
            store = self.stores.pop(key)
            self._dirty.pop(store, None)
            released = sum(len(b) for pieces in store.memory.values() for _, b in pieces)
            store.memory.clear()
            self._release(released)
            if self._io is not None and not self.closed:
                self._io.submit(shutil.rmtree, store.directory, True)

    # --- sending --------------------------------------------------------------------------

    async def _send(self, shuffle_id: str, run: ShuffleRun, i: int, shards: dict) -> None:
        by_owner: dict = {}
        for j, data in shards.items():
            by_owner.setdefault(run.owner(j), []).append((j, data))
        shards.clear()
        await asyncio.gather(*(self._send_to(owner, shuffle_id, run, i, pieces)
                               for owner, pieces in by_owner.items()))

    async def _send_to(self, owner: str, shuffle_id: str, run: ShuffleRun, i: int, pieces: list) -> None:
        while pieces:
            batch, size = [], 0
            while pieces and (not batch or size + len(pieces[-1][1]) <= MESSAGE_BYTES):
                j, data = pieces.pop()
                batch.append((j, data))
                size += len(data)
            msg = m.ShuffleShards(shuffle_id=shuffle_id, run_id=run.run_id, outputs=[j for j, _ in batch],
                                  inputs=[i] * len(batch), shards=[d for _, d in batch])
            del batch
            if owner == self.address:
                reply = await self.receive(msg)
            else:
                reply = await self._deliver(owner, msg, shuffle_id, run)
            if not reply.ok:
                raise RuntimeError(f"shuffle {shuffle_id}: worker {owner} refused shards of run {run.run_id}: "
                                   f"{reply.reason}")

    async def _deliver(self, owner: str, msg, shuffle_id: str, run: ShuffleRun) -> m.Ack:
        waited = 0.0
        while True:
            try:
                reply = await self.server.pool.rpc(owner, msg)
                if not isinstance(reply, m.Ack):
                    raise RuntimeError(f"worker {owner} answered shuffle shards with {getattr(reply, 'op', reply)!r}")
                return reply
            except (CommError, OSError) as exc:
                self.server.pool.forget(owner)
                if waited >= UNREACHABLE_PATIENCE:
                    raise RuntimeError(f"shuffle {shuffle_id}: cannot reach worker {owner}: {exc}") from exc
                await asyncio.sleep(0.5)
                waited += 0.5
                latest = await self._request_run(shuffle_id, *self._asked[shuffle_id])
                if latest.run_id != run.run_id:
                    raise RuntimeError(f"shuffle {shuffle_id}: run {run.run_id} was replaced by run "
                                       f"{latest.run_id} (worker {owner} left)") from exc

    # --- receiving ------------------------------------------------------------------------

    async def receive(self, msg: m.ShuffleShards) -> m.Ack:
        """Buffer shards sent to this worker; answer when there is room again."""
        if self.closed:
            return m.Ack(ok=False, reason="the worker is closing")
        if not self._advance(msg.shuffle_id, msg.run_id):
            return m.Ack(ok=False, reason=f"run {msg.run_id} is over (current run "
                                          f"{self.current.get(msg.shuffle_id)})")
        store = self._store(msg.shuffle_id, msg.run_id)
        if store.error is not None:
            return m.Ack(ok=False, reason=f"cannot write shuffle data: {store.error}")
        added = 0
        for j, i, data in zip(msg.outputs, msg.inputs, msg.shards):
            if (j, i) in store.seen:
                continue
            store.seen.add((j, i))
            store.memory.setdefault(j, []).append((i, data))
            added += len(data)
        if added:
            self.buffered += added
            self._dirty[store] = None
            self._wake.set()
        while self.buffered > self.buffer_bytes and not self.closed:
            self._space.clear()
            await self._space.wait()
        return m.Ack()

    def _store(self, shuffle_id: str, run_id: int) -> _RunStore:
        store = self.stores.get((shuffle_id, run_id))
        if store is None:
            directory = os.path.join(self.directory, f"{shuffle_id}-{run_id}")
            store = self.stores[(shuffle_id, run_id)] = _RunStore(shuffle_id, run_id, directory)
        return store

    def _release(self, nbytes: int) -> None:
        if nbytes:
            self.buffered -= nbytes
            if self.buffered <= self.buffer_bytes and self._space is not None:
                self._space.set()

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty and not self.closed:
                batch = []
                for store in list(self._dirty):
                    batch.append((store, store.memory))
                    store.memory = {}
                self._dirty.clear()
                nbytes = sum(len(b) for _, mem in batch for pieces in mem.values() for _, b in pieces)
                jobs = [(store.directory, mem) for store, mem in batch]
                try:
                    await loop.run_in_executor(self._io, _append_all, jobs)
                except Exception as exc:  # noqa: BLE001 - a full disk: readers and senders are told
                    logger.error("shuffle data could not be written: %s", exc)
                    for store, _ in batch:
                        store.error = exc
                finally:
                    del batch, jobs
                    self._release(nbytes)

    # --- reading --------------------------------------------------------------------------

    async def _read(self, shuffle_id: str, run: ShuffleRun, j: int) -> list:
        owner = run.owner(j)
        if owner != self.address:
            reply = await self.server.pool.rpc(owner, m.ShuffleFetchOutput(shuffle_id=shuffle_id, run_id=run.run_id,
                                                                          output=j))
            if not isinstance(reply, m.ShuffleOutput):
                raise RuntimeError(f"worker {owner} answered a shuffle output fetch with "
                                   f"{getattr(reply, 'op', reply)!r}")
            if reply.error:
                raise RuntimeError(reply.error)
            return list(zip(reply.inputs, reply.shards))
        return await self.read_local(shuffle_id, run.run_id, j)

    async def read_local(self, shuffle_id: str, run_id: int, j: int) -> list:
        """Shards of output ``j`` held here, as ``[(input, bytes)]``; deleted from disk."""
        current = self.current.get(shuffle_id, 0)
        if run_id < current:
            raise RuntimeError(f"shuffle {shuffle_id}: output {j} of run {run_id} was dropped for run {current}")
        store = self.stores.get((shuffle_id, run_id))
        if store is None:
            return []  # nothing was sent here for this run
        if store.error is not None:
            raise RuntimeError(f"shuffle {shuffle_id}: data of output {j} could not be written: {store.error}")
        pieces = store.memory.pop(j, [])
        self._release(sum(len(b) for _, b in pieces))
        path = os.path.join(store.directory, f"{j}.bin")
        # the single I/O thread runs this after every write queued before it
        on_disk = await asyncio.get_running_loop().run_in_executor(self._io, _read_and_remove, path)
        return on_disk + pieces

    async def serve(self, msg):
        """Requests from peers: shards to buffer, or an output to send to its reader."""
        if type(msg) is m.ShuffleShards:
            return await self.receive(msg)
        try:
            pieces = await self.read_local(msg.shuffle_id, msg.run_id, msg.output)
        except Exception as exc:  # noqa: BLE001 - told to the reader
            return m.ShuffleOutput(error=str(exc))
        return m.ShuffleOutput(inputs=[i for i, _ in pieces], shards=[b for _, b in pieces])


def _append_all(jobs: list) -> None:
    for directory, memory in jobs:
        os.makedirs(directory, exist_ok=True)
        for j, pieces in memory.items():
            with open(os.path.join(directory, f"{j}.bin"), "ab") as f:
                for i, data in pieces:
                    f.write(_RECORD.pack(i, len(data)))
                    f.write(data)


def _size_and_first(path: str) -> tuple:
    """Bytes of shards in an output's file, and its first shard (None if no file)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(_RECORD.size)
            if len(head) < _RECORD.size:
                return 0, None
            _, n = _RECORD.unpack(head)
            return size, f.read(n)
    except FileNotFoundError:
        return 0, None


def _read_and_remove(path: str) -> list:
    try:
        with open(path, "rb") as f:
            content = f.read()
    except FileNotFoundError:
        return []
    os.remove(path)
    view = memoryview(content)
    out = []
    pos = 0
    while pos < len(view):
        i, n = _RECORD.unpack_from(view, pos)
        pos += _RECORD.size
        out.append((i, view[pos:pos + n]))
        pos += n
    return out
