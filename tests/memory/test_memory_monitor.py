"""MemoryMonitor with a fake RSS; memory limits, cgroups and config thresholds."""
import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import pytest

from pardata import config
from worker.memory.monitor import (
    MemoryMonitor,
    cgroup_memory_limit,
    parse_memory_limit,
    process_rss,
    system_memory,
    thresholds_from_config,
)
from worker.memory.policy import MemoryThresholds
from worker.memory.spill import SpillBuffer

MB = 1_000_000
LIMIT = 100 * MB


class FakeRSS:
    """RSS = managed bytes of the buffer + a settable unmanaged amount."""

    def __init__(self, buffer=None, unmanaged=0):
        self.buffer, self.unmanaged = buffer, unmanaged

    def __call__(self):
        return (self.buffer.memory_bytes if self.buffer else 0) + self.unmanaged


@pytest.mark.parametrize("value, expected", [
    ("2GiB", 2 * 2**30), ("500 MB", 500 * MB), (12345, 12345), ("auto", 4 * 2**30),
    (0.25, 4 * 2**30), ("0.5", 8 * 2**30), (None, None), (0, None), ("none", None), ("0", None),
])
def test_parse_memory_limit(value, expected):
    assert parse_memory_limit(value, nworkers=4, total=16 * 2**30) == expected


def test_auto_limit_uses_this_machine():
    assert parse_memory_limit("auto", 2) == system_memory() // 2
    assert 0 < system_memory() <= psutil.virtual_memory().total


@pytest.mark.parametrize("files, expected", [
    ({"memory.max": "max\n"}, None),
    ({"memory.max": "1073741824\n"}, 2**30),
    ({"memory/memory.limit_in_bytes": "536870912\n"}, 2**29),
    ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, None),
    ({}, None),
])
def test_cgroup_limits(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_memory_limit(str(tmp_path)) == expected
    if expected:
        assert system_memory(str(tmp_path)) == expected


def test_thresholds_come_from_config_and_overrides():
    with config.set({"worker.memory.target": 0.5, "worker.memory.pause": False}):
        t = thresholds_from_config(spill=0.65)
    assert t == MemoryThresholds(target=0.5, spill=0.65, pause=None, terminate=0.95)
    assert thresholds_from_config() == MemoryThresholds()


def test_pause_unpause_and_terminate_callbacks(caplog):
    rss = FakeRSS()
    events = []
    m = MemoryMonitor(None, LIMIT, rss=rss, on_pause=events.append,
                      on_terminate=lambda reason: events.append(reason))
    rss.unmanaged = 50 * MB
    assert not m.check().paused and events == []
    rss.unmanaged = 85 * MB
    with caplog.at_level(logging.WARNING, logger="worker.memory.monitor"):
        m.check()
        m.check()
    assert events == [True] and m.paused
    assert "mostly unmanaged" in caplog.text and "nothing left to spill" in m.state().reason
    rss.unmanaged = 96 * MB
    m.check()
    m.check()
    assert events[1].startswith("terminating") and len(events) == 2 and m.terminating
    rss.unmanaged = 10 * MB
    m.check()
    assert events[2:] == [False] and not m.paused and m.state().reason == ""


def test_tick_spills_in_the_background(tmp_path):
    async def main():
        with SpillBuffer(tmp_path, target=10**12, evict_on_set=False) as b:
            for i in range(10):
                b[i] = np.full(MB // 8, i)  # 10 MB managed
            m = MemoryMonitor(b, 14 * MB, rss=FakeRSS(b), trim=False)
            decision = await m.tick()
            assert decision.spill > 0 and not decision.paused
            while m.spilling:
                await asyncio.sleep(0.001)
            assert b.memory_bytes <= 0.6 * 14 * MB and b.spilled_bytes > 0
            state = m.state().to_dict()
            assert set(state) >= {"managed", "unmanaged", "spilled", "paused", "reason"}
            await m.stop()

    asyncio.run(main())


def test_pausing_is_not_held_up_by_a_slow_spill(tmp_path):
    """A spill in progress must not stop the next tick from pausing the worker."""
    gate = threading.Event()

    pool = ThreadPoolExecutor(1)

    class SlowDisk:
        def submit(self, fn, *args):
            def slow():
                gate.wait(10)
                return fn(*args)
            return pool.submit(slow)

    async def main():
        b = SpillBuffer(tmp_path, target=10**12, evict_on_set=False, executor=SlowDisk())
        b["a"] = np.ones(10 * MB // 8)
        rss = FakeRSS(b, unmanaged=0)
        paused = []
        m = MemoryMonitor(b, 12 * MB, rss=rss, on_pause=paused.append, trim=False)
        await m.tick()
        assert m.spilling
        rss.unmanaged = 1 * MB  # 11 MB of 12: over the pause threshold
        decision = await m.tick()
        assert decision.paused and paused == [True] and m.spilling
        assert "spilling" in decision.reason
        gate.set()
        await m.stop()
        b.close()

    asyncio.run(main())
    pool.shutdown()


def test_stuck_reasons_name_what_blocks_spilling(tmp_path):
    class Unpicklable:
        def __init__(self):
            self.lock = threading.Lock()

    with SpillBuffer(tmp_path, target=0, sizeof=lambda value: 9 * MB) as b:
        b["lock"] = Unpicklable()
        m = MemoryMonitor(b, 10 * MB, rss=FakeRSS(b, unmanaged=0), trim=False)
        d = m.check()
        assert d.paused and d.stuck
        assert "cannot be pickled" in d.reason, d.reason
    with SpillBuffer(tmp_path, target=MB, max_disk_bytes=3 * MB) as b:
        for i in range(12):
            b[i] = np.ones(MB // 8)
        assert b.disk_full and b.memory_bytes > 9 * MB
        m = MemoryMonitor(b, 12 * MB, rss=FakeRSS(b, unmanaged=MB // 2), trim=False)
        d = m.check()
        assert d.paused and d.stuck and "spill disk cap reached" in d.reason


def test_start_and_stop_run_ticks_periodically():
    async def main():
        rss = FakeRSS(unmanaged=90 * MB)
        paused = []

        async def on_pause(flag):
            paused.append(flag)

        m = MemoryMonitor(None, LIMIT, rss=rss, interval=0.005, on_pause=on_pause)
        m.start()
        await asyncio.sleep(0.05)
        rss.unmanaged = 0
        await asyncio.sleep(0.05)
        await m.stop()
        assert paused == [True, False]

    asyncio.run(main())


def test_process_rss_is_positive():
    assert process_rss() > 1_000_000


def test_a_stuck_worker_reclaims_garbage_and_freed_heap_and_unpauses(monkeypatch):
    """Paused with nothing to spill: collect cycles and trim the heap (at most once a
    second), then re-check, so memory that was only garbage ends the pause."""
    import worker.memory.monitor as monitor_module

    rss = FakeRSS()
    rss.unmanaged = 85 * MB
    calls = []

    def reclaim():
        calls.append(1)
        rss.unmanaged = 20 * MB  # what the collection and the trim gave back

    monkeypatch.setattr(monitor_module, "_collect_and_trim", reclaim)

    async def main():
        m = MemoryMonitor(None, LIMIT, rss=rss)
        assert (await m.tick()).stuck
        while m.spilling:
            await asyncio.sleep(0.001)
        await m.tick()  # within the second: no second reclaim
        return m

    m = asyncio.run(main())
    assert calls == [1] and not m.paused
