"""``WorkerTraffic``: what a client exchanges with workers directly, not via the scheduler.

Results are gathered from the workers holding them (the holders come with each
``key-in-memory`` report, so no extra question to the scheduler is needed), one
``get-data`` request per worker for all the keys it holds. Scattered data is put
straight onto workers, and ``run`` calls a function on each. A mixin of
``ClientCore``: it uses the core's ``pool`` (connections to workers), ``query`` and
``send``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from pardata.comm import CommError
from pardata.comm import messages as m
from pardata.core.tokenize import tokenize
from pardata.serialize import SerializationError, deserialize, serialize
from pardata.sizeof import sizeof

from ._graph import check_key
from .errors import FutureLostError
from .future import FINISHED

__all__ = ["WorkerTraffic", "SKIPPED", "OFFLOAD_BYTES"]

logger = logging.getLogger("pardata.client")

#: Placeholder for a failed future's value in ``gather(errors="skip")``.
SKIPPED = object()

#: Serialization work larger than this (bytes) runs off the event loop.
OFFLOAD_BYTES = 4 * 2**20
#: A gather asks one worker for at most this many bytes at a time, so a worker serving
#: results it had spilled never has to hold more than that in memory for one reply.
GATHER_BATCH_BYTES = 64 * 2**20


class WorkerTraffic:
    """Gathering, scattering and ``run``: the client's conversations with workers."""

    async def gather(self, futures: list, errors: str = "raise") -> list:
        """Values of ``futures`` (a flat list), fetched from the workers holding them.

        ``errors``: "raise" the first failure, "skip" (``SKIPPED`` in its place), or
        "return" the exception objects in place of values.
        """
        if errors not in ("raise", "skip", "return"):
            raise ValueError(f"errors must be 'raise', 'skip' or 'return', not {errors!r}")
        states = [f._state for f in futures]
        for state in states:
            await state.wait()
        if errors == "raise":
            for state in states:
                exc = state.exception()
                if exc is not None:
                    raise exc.with_traceback(None)
        wanted = {s.key: s for s in states if s.status == FINISHED}
        values = await self._fetch(wanted) if wanted else {}
        fallback = (lambda s: SKIPPED) if errors == "skip" else (lambda s: s.exception())
        return [values[s.key] if s.key in values else fallback(s) for s in states]

    async def _fetch(self, wanted: dict) -> dict:
        values: dict = {}
        todo = dict(wanted)
        delay = 0.01
        while todo:
            unknown = [k for k, s in todo.items() if not s.who_has]
            if unknown:
                await self._refresh_holders(unknown, todo)
            groups: dict[str, list] = {}
            for key, state in todo.items():
                if state.who_has:
                    groups.setdefault(state.who_has[0], []).append(key)
            replies = await asyncio.gather(*(self._get_batches(w, ks, todo) for w, ks in groups.items()))
            for worker, (got, missing) in zip(groups, replies):
                values.update(got)
                for key in got:
                    todo.pop(key, None)
                for key in missing:
                    state = todo.get(key)
                    if state is not None and worker in state.who_has:
                        state.who_has.remove(worker)
            if todo:
                await asyncio.sleep(delay)  # moved or being recomputed: look again soon
                delay = min(delay * 2, 0.5)
        return values

    async def _refresh_holders(self, keys: list, todo: dict) -> None:
        data, answered = await self.query("who_has", keys=keys)
        lost = []
        for key, holders in zip(answered, data):
            state = todo.get(key)
            if state is not None:
                state.who_has = list(holders)
                if not holders:
                    lost.append(key)
        if lost:
            states, names = await self.query("task_states", keys=lost)
            for key, st in zip(names, states):
                if st in ("erred", "forgotten", "released"):
                    raise FutureLostError(f"{key!r} is no longer on the cluster (state {st})")

    async def _get_batches(self, worker: str, keys: list, states: dict) -> tuple[dict, list]:
        """``_get_data`` in requests of at most ``GATHER_BATCH_BYTES``, one after another."""
        got: dict = {}
        missing: list = []
        batch: list = []
        size = 0
        for i, key in enumerate(keys):
            batch.append(key)
            size += max(states[key].nbytes, 0)
            if size >= GATHER_BATCH_BYTES or i == len(keys) - 1:
                values, lost = await self._get_data(worker, batch)
                got.update(values)
                missing += lost
                if not values and len(lost) == len(batch):  # unreachable, or it lost them all
                    return got, missing + keys[i + 1 :]
                batch, size = [], 0
        return got, missing

    async def _get_data(self, worker: str, keys: list) -> tuple[dict, list]:
        try:
            reply = await self.pool.rpc(worker, m.GetData(keys=keys))
        except (CommError, OSError) as exc:
            logger.info("client %s: getting data from %s failed: %s", self.id, worker, exc)
            self.pool.forget(worker)
            return {}, keys
        if reply.failed:
            raise SerializationError(
                "; ".join(f"result of {k!r} cannot be sent: {r}" for k, r in zip(reply.failed, reply.reasons))
            )
        if sum(p.nbytes for p in reply.values) > OFFLOAD_BYTES:
            got = await asyncio.to_thread(_loads_all, reply.keys, reply.values)
        else:
            got = _loads_all(reply.keys, reply.values)
        return got, list(reply.missing)

    async def scatter(self, data, workers=None, broadcast: bool = False, hash: bool = True) -> Any:
        """Put data on workers; Futures shaped like ``data`` (one object, list or dict)."""
        if isinstance(data, dict):
            items = [(check_key(k), v) for k, v in data.items()]
        else:
            seq = list(data) if isinstance(data, (list, tuple, set, frozenset)) else [data]
            items = [(f"{type(v).__name__}-{tokenize(v) if hash else uuid.uuid4().hex}", v) for v in seq]
        nthreads, _ = await self.query("nthreads")
        targets = sorted(nthreads) if workers is None else [w for w in _as_list(workers)]
        if not targets:
            raise RuntimeError("scatter: no workers to put the data on")
        payloads = [serialize(v) for _, v in items]
        sizes = [sizeof(v) for _, v in items]
        placement: dict[str, list[int]] = {}
        for i in range(len(items)):
            for w in (targets if broadcast else [targets[i % len(targets)]]):
                placement.setdefault(w, []).append(i)
        futures = self._futures([k for k, _ in items])
        for worker, idx in placement.items():
            keys = [items[i][0] for i in idx]
            reply = await self.pool.rpc(
                worker, m.PutData(keys=keys, values=[payloads[i] for i in idx], nbytes=[sizes[i] for i in idx])
            )
            if not isinstance(reply, m.Ack) or not reply.ok:
                raise RuntimeError(f"scatter to {worker} failed: {getattr(reply, 'reason', reply)}")
            self.send(m.DataPlaced(worker=worker, keys=keys, nbytes=[sizes[i] for i in idx]))
        if isinstance(data, dict):
            return dict(zip(data, futures))
        if isinstance(data, (list, tuple, set, frozenset)):
            return type(data)(futures) if not isinstance(data, (set, frozenset)) else futures
        return futures[0]

    async def run(self, fn, *args, workers=None, **kwargs) -> dict:
        """``fn(*args, **kwargs)`` on every worker (or ``workers``): ``{address: result}``."""
        if workers is None:
            nthreads, _ = await self.query("nthreads")
            workers = sorted(nthreads)
        payload = serialize((fn, args, kwargs))
        targets = _as_list(workers)
        replies = await asyncio.gather(*(self.pool.rpc(w, m.RunFunction(function=payload)) for w in targets))
        out = {}
        for worker, reply in zip(targets, replies):
            value = deserialize(reply.value)
            if not reply.ok:
                value.add_note(f"pardata: raised by Client.run on worker {worker}\n{reply.traceback.rstrip()}")
                raise value
            out[worker] = value
        return out


def _loads_all(keys: list, payloads: list) -> dict:
    return {k: deserialize(p) for k, p in zip(keys, payloads)}


def _as_list(workers) -> list[str]:
    return [workers] if isinstance(workers, str) else list(workers)
