"""SpillBuffer, synchronous API: LRU spilling, transparent reads, accounting, failures."""
import errno
import logging
import os
import threading

import numpy as np
import pandas as pd
import pytest

from worker.memory import spillfile
from worker.memory.spill import SpillBuffer

MB = 1_000_000


def fixed_size(value):
    """Sizes the tests can reason about: an array's nbytes, else the object's ``size``."""
    return value.nbytes if isinstance(value, np.ndarray) else getattr(value, "size", 100)


class Unpicklable:
    def __init__(self, size):
        self.size = size
        self.lock = threading.Lock()


def spill_files(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith((".spill", ".tmp")))


@pytest.fixture
def buf(tmp_path):
    b = SpillBuffer(tmp_path / "spill", target=3 * MB, sizeof=fixed_size)
    yield b
    b.close()


def arr(i):
    return np.full(MB // 8, i, dtype="i8")  # 1 MB each


def test_least_recently_used_values_spill_first(buf):
    for i in range(5):
        buf[f"x{i}"] = arr(i)
    assert buf.spilled_keys() == ["x0", "x1"]
    assert buf.memory_bytes == 3 * MB and buf.spilled_bytes == 2 * MB
    buf["x2"]  # now the most recently used
    buf["x5"] = arr(5)
    assert buf.spilled_keys() == ["x0", "x1", "x3"]
    assert sorted(buf) == [f"x{i}" for i in range(6)] and len(buf) == 6
    assert "x0" in buf and "nope" not in buf


def test_reading_a_spilled_value_loads_it_back_and_spills_the_oldest(buf):
    for i in range(4):
        buf[f"x{i}"] = arr(i)
    assert buf.spilled_keys() == ["x0"]
    value = buf["x0"]
    np.testing.assert_array_equal(value, arr(0))
    value[0] = 99  # arrays read back are writable
    assert buf.spilled_keys() == ["x1"]
    assert buf.size_of("x1") == MB
    m = buf.metrics()
    assert (m.spill_count, m.unspill_count, m.n_memory, m.n_spilled) == (2, 1, 3, 1)
    assert m.spill_seconds > 0 and m.unspill_seconds > 0 and m.unspill_bytes == MB


def test_pandas_and_python_values_round_trip(tmp_path):
    df = pd.DataFrame({"a": np.arange(1000), "s": [f"s{i}" for i in range(1000)]})
    with SpillBuffer(tmp_path, target=0) as b:
        b["df"] = df
        b[("tuple", 1)] = {"nested": [1, 2.5, "x"]}
        assert b.spilled_keys() == ["df", ("tuple", 1)]
        pd.testing.assert_frame_equal(b["df"], df)
        assert b[("tuple", 1)] == {"nested": [1, 2.5, "x"]}


def test_explicit_evict_of_n_bytes(tmp_path):
    with SpillBuffer(tmp_path, target=100 * MB, sizeof=fixed_size) as b:
        for i in range(4):
            b[i] = arr(i)
        assert b.evict() == 0  # under target
        assert b.evict(nbytes=int(1.5 * MB)) == 2 * MB
        assert b.spilled_keys() == [0, 1]


def test_unpicklable_values_stay_in_memory_and_warn_once(buf, caplog):
    with caplog.at_level(logging.WARNING, logger="worker.memory.spill"):
        buf["lock1"] = Unpicklable(2 * MB)
        buf["lock2"] = Unpicklable(2 * MB)
        buf["a"] = arr(0)
    assert buf.spilled_keys() == ["a"]  # the locks could not go; the array could
    assert isinstance(buf["lock1"], Unpicklable)
    m = buf.metrics()
    assert m.unpicklable_count == 2 and m.unpicklable_bytes == 4 * MB
    assert buf.spillable_bytes == 0 and buf.memory_bytes == 4 * MB
    warnings = [r for r in caplog.records if "cannot be pickled" in r.getMessage()]
    assert len(warnings) == 1 and "lock1" in warnings[0].getMessage()
    buf["lock1"] = arr(1)  # overwriting unpins the key
    assert buf.metrics().unpicklable_count == 1


def test_disk_cap_stops_spilling_and_says_so(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="worker.memory.spill"):
        b = SpillBuffer(tmp_path, target=MB, max_disk_bytes=int(2.5 * MB), sizeof=fixed_size)
        for i in range(6):
            b[i] = arr(i)
    assert b.spilled_keys() == [0, 1]
    assert b.disk_full and b.metrics().disk_full and b.spillable_bytes == 0
    assert b.disk_bytes <= 2.5 * MB and b.memory_bytes == 4 * MB
    assert sum("disk cap reached" in r.getMessage() for r in caplog.records) == 1
    np.testing.assert_array_equal(b[5], arr(5))
    del b[0]  # frees disk: spilling resumes
    assert not b.disk_full
    b.evict()
    assert len(b.spilled_keys()) == 2 and b.disk_bytes <= 2.5 * MB
    b.close()


def test_failed_write_keeps_the_value(tmp_path, monkeypatch, caplog):
    def no_space(path, encoded):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spillfile, "write", no_space)
    with SpillBuffer(tmp_path, target=MB, sizeof=fixed_size) as b:
        with caplog.at_level(logging.WARNING, logger="worker.memory.spill"):
            for i in range(3):
                b[i] = arr(i)
        assert b.spilled_keys() == [] and b.memory_bytes == 3 * MB
        assert b.metrics().failed_count >= 1
        assert "No space left" in caplog.text
        np.testing.assert_array_equal(b[0], arr(0))
        monkeypatch.undo()
        b.evict()
        assert b.memory_bytes <= MB


def test_delete_and_overwrite_remove_spilled_files(buf, tmp_path):
    for i in range(5):
        buf[i] = arr(i)
    directory = tmp_path / "spill"
    assert len(spill_files(directory)) == 2
    del buf[0]
    buf[1] = arr(10)
    assert 0 not in buf and buf.spilled_bytes == 1 * MB
    assert len(spill_files(directory)) == 1
    np.testing.assert_array_equal(buf[1], arr(10))
    with pytest.raises(KeyError):
        del buf[0]
    with pytest.raises(KeyError):
        buf[0]


def test_close_removes_the_files(tmp_path):
    b = SpillBuffer(tmp_path, target=0)
    b["a"] = np.ones(10)
    assert spill_files(tmp_path)
    b.close()
    assert spill_files(tmp_path) == [] and len(b) == 0


def test_values_larger_than_target_spill_straight_away(tmp_path):
    with SpillBuffer(tmp_path, target=MB // 2, sizeof=fixed_size) as b:
        b["big"] = arr(1)
        assert b.spilled_keys() == ["big"] and b.memory_bytes == 0
        np.testing.assert_array_equal(b["big"], arr(1))  # read back, then spilled again
        assert b.memory_bytes == 0


def test_put_with_a_known_size_and_clear_without_loading(tmp_path, monkeypatch):
    with SpillBuffer(tmp_path, target=10) as b:
        b.put("a", np.arange(100), size=7)
        assert b.size_of("a") == 7 and b.memory_bytes == 7
        b.put("b", np.arange(100), size=7)
        assert b.spilled_keys() == ["a"]
        monkeypatch.setattr(spillfile, "read", lambda path: pytest.fail("clear() loaded a value"))
        b.clear()
        assert len(b) == 0 and b.memory_bytes == 0 and b.spilled_bytes == 0
        assert spill_files(tmp_path) == []


def test_a_value_read_back_is_evicted_again_without_writing(buf):
    directory = buf.directory
    for i in range(5):
        buf[f"x{i}"] = arr(i)
    written, disk = buf.metrics().spill_count, buf.disk_bytes
    assert written == 2 and len(spill_files(directory)) == 2
    np.testing.assert_array_equal(buf["x0"], arr(0))  # read back: x2 spills, x0's file stays
    assert buf.spilled_keys() == ["x1", "x2"] and buf.spilled_bytes == 2 * MB
    assert len(spill_files(directory)) == 3 and buf.disk_bytes > disk
    for i in range(5, 8):  # x0 is evicted again, among others: no second write of it
        buf[f"x{i}"] = arr(i)
    assert "x0" in buf.spilled_keys() and buf.metrics().spill_count == written + 1 + 2
    assert len(spill_files(directory)) == len(buf.spilled_keys())
    np.testing.assert_array_equal(buf["x0"], arr(0))
    buf["x0"] = arr(10)  # a new value: the old file goes
    del buf["x3"]
    assert len(spill_files(directory)) == len(buf.spilled_keys())
    assert buf.disk_bytes == sum(os.path.getsize(os.path.join(directory, n)) for n in spill_files(directory))
