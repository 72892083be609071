"""Moving values between workers (and to clients): serving ``get-data``, fetching from peers.

One ``get-data`` request carries every key the state machine batched for one peer, and
its reply every value, each a separate ``Serialized`` whose large buffers travel as
their own frames (zero-copy). Pickling or unpickling more than ``OFFLOAD_BYTES`` at once
runs in a thread, so a big transfer does not stall the worker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Hashable

from pardata.comm import ProtocolError
from pardata.comm import messages as m
from pardata.serialize import Serialized, deserialize
from pardata.sizeof import sizeof

from .store import DataStore

__all__ = ["data_reply", "decode_values", "fetch_from_peer", "OFFLOAD_BYTES"]

logger = logging.getLogger("pardata.worker")

Key = Hashable

#: Serialization work larger than this (estimated bytes) runs off the event loop.
OFFLOAD_BYTES = 4 * 2**20


def _pack(store: DataStore, keys: list, ready: dict | None = None) -> m.DataReply:
    found, values, missing, failed, reasons = [], [], [], [], []
    for key in keys:
        if ready and key in ready:
            values.append(ready[key])
            found.append(key)
            continue
        if key not in store:
            missing.append(key)
            continue
        try:
            values.append(store.serialized(key))
            found.append(key)
        except Exception as exc:  # noqa: BLE001 - reported per key, the rest still goes
            failed.append(key)
            reasons.append(f"{type(exc).__name__}: {exc}")
    return m.DataReply(keys=found, values=values, missing=missing, failed=failed, reasons=reasons)


async def data_reply(store: DataStore, keys: list) -> m.DataReply:
    """The ``data`` reply to ``get-data`` for ``keys``, from ``store``."""
    if store.buffer is not None:
        return await _spilling_reply(store, keys)
    total = sum(store.nbytes(k) for k in keys if k in store)
    if total > OFFLOAD_BYTES:
        # the store may change meanwhile; a key dropped in between is reported missing
        values = {k: store.get(k) for k in keys if k in store}
        snapshot = DataStore()
        for k, v in values.items():
            snapshot.put(k, v, store.nbytes(k))
        return await asyncio.to_thread(_pack, snapshot, keys)
    return _pack(store, keys)


async def _spilling_reply(store: DataStore, keys: list) -> m.DataReply:
    """``data_reply`` from a store that spills: values in memory are pickled as usual;
    spilled ones are sent as their spill files' bytes, never unpickled or kept here."""
    snapshot = DataStore()
    ready: dict = {}
    for key in keys:
        if key not in store:
            continue
        value = store.get_in_memory(key, _MISSING)
        if value is _MISSING:
            payload = await store.payload_async(key)
            if payload is not None:
                ready[key] = payload
                continue
            try:  # read back into memory meanwhile (or being written): take it from there
                value = await store.get_async(key)
            except KeyError:
                continue
        snapshot.put(key, value, store.nbytes(key), store.cached_pickle(key))
    if snapshot.total_nbytes > OFFLOAD_BYTES:
        return await asyncio.to_thread(_pack, snapshot, keys, ready)
    return _pack(snapshot, keys, ready)


_MISSING = object()


def _unpack(keys: list, payloads: list[Serialized]) -> tuple[dict[Key, Any], list]:
    values: dict[Key, Any] = {}
    broken: list = []
    for key, payload in zip(keys, payloads):
        try:
            values[key] = deserialize(payload)
        except Exception as exc:  # noqa: BLE001 - that key counts as not received
            logger.error("cannot deserialize %r received from a peer: %s", key, exc)
            broken.append(key)
    return values, broken


async def decode_values(keys: list, payloads: list[Serialized]) -> tuple[dict[Key, Any], dict[Key, int]]:
    """Rebuild received values; returns ``(values, nbytes)`` of those that could be."""
    size = sum(p.nbytes for p in payloads)
    if size > OFFLOAD_BYTES:
        values, _ = await asyncio.to_thread(_unpack, keys, payloads)
    else:
        values, _ = _unpack(keys, payloads)
    return values, {k: sizeof(v) for k, v in values.items()}


async def fetch_from_peer(pool, peer: str, keys) -> tuple[dict[Key, Any], dict[Key, int]]:
    """Get ``keys`` from worker ``peer`` in one request; raises ``CommError`` on failure.

    Returns the values received and their sizes; keys the peer did not have (or could
    not send) are simply absent.
    """
    reply = await pool.rpc(peer, m.GetData(keys=list(keys)))
    if not isinstance(reply, m.DataReply):
        raise ProtocolError(f"expected data from {peer}, got {getattr(reply, 'op', reply)!r}")
    for key, reason in zip(reply.failed, reply.reasons):
        logger.error("peer %s could not send %r: %s", peer, key, reason)
    return await decode_values(reply.keys, reply.values)
