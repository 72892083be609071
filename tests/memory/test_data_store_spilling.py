"""DataStore backed by a SpillBuffer: never blocking reads on the loop, peers served from disk."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from pardata.comm import messages as m
from pardata.serialize import deserialize
from worker.memory.spill import SpillBuffer
from worker.store import DataStore, ValueSpilled
from worker.transfer import data_reply

MiB = 2**20


@pytest.fixture
def store(tmp_path):
    buffer = SpillBuffer(tmp_path / "spill", target=3 * MiB, evict_on_set=False)
    yield DataStore(buffer)
    buffer.close()


def block(i):
    return np.full(MiB // 8, i, dtype="f8")  # 1 MiB


def test_values_on_disk_are_never_read_by_get_now(store):
    for i in range(6):
        store.put(f"x-{i}", block(i), MiB)
    assert store.buffer.evict() == 3 * MiB  # the three oldest go to disk
    assert store.total_nbytes == 6 * MiB and store.memory_nbytes == 3 * MiB
    assert store.get_now("x-5")[0] == 5
    with pytest.raises(ValueSpilled):
        store.get_now("x-0")
    with pytest.raises(KeyError):
        store.get_now("nope")
    assert store.get_in_memory("x-0", "absent") == "absent"
    assert store.buffer.metrics().unspill_count == 0
    value = asyncio.run(store.get_async("x-0"))
    assert value[0] == 0 and store.get_now("x-0")[0] == 0  # read back into memory


def test_pop_and_clear_do_not_read_spilled_values(store):
    for i in range(6):
        store.put(f"x-{i}", block(i), MiB)
    store.buffer.evict()
    store.pop("x-0")
    store.pop("x-5")
    store.pop("never-held")
    assert "x-0" not in store and len(store) == 4 and store.total_nbytes == 4 * MiB
    assert store.buffer.metrics().unspill_count == 0
    store.clear()
    assert len(store) == 0 and store.buffer.spilled_bytes == 0


def test_peers_get_spilled_values_as_file_bytes_without_unspilling(store):
    for i in range(6):
        store.put(f"x-{i}", block(i), MiB)
    store.put("small", 7, 28, None)
    store.buffer.evict()
    reply = asyncio.run(data_reply(store, ["x-0", "x-4", "small", "gone"]))
    assert isinstance(reply, m.DataReply)
    assert reply.keys == ["x-0", "x-4", "small"] and reply.missing == ["gone"]
    values = [deserialize(v) for v in reply.values]
    assert values[0][0] == 0 and values[1][0] == 4 and values[2] == 7
    metrics = store.buffer.metrics()
    assert metrics.unspill_count == 0 and metrics.n_spilled == 4  # served from disk, left there


def test_recovered_values_are_counted_once_adopted(tmp_path):
    first = SpillBuffer(tmp_path / "spill", target=0, evict_on_set=True)
    first.put("kept", block(1), MiB)
    first.close(remove_files=False)  # as a killed process leaves them
    again = SpillBuffer(tmp_path / "spill", target=MiB, recover=True, evict_on_set=False)
    try:
        store = DataStore(again)
        for key, nbytes in again.recovered.items():
            store.adopt(key, nbytes)
        assert "kept" in store and store.total_nbytes == MiB and store.memory_nbytes == 0
        assert asyncio.run(store.get_async("kept"))[0] == 1
    finally:
        again.close()
