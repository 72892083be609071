"""Spilled values survive the death of the process: reopen, re-register, never misread."""
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from worker.memory import spillfile
from worker.memory.spill import SpillBuffer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def files(directory, suffix=""):
    return sorted(n for n in os.listdir(directory) if n.endswith(suffix))


def test_reopening_re_registers_keys_with_their_sizes(tmp_path):
    b = SpillBuffer(tmp_path, target=0)
    values = {("x", i): np.full(1000, i) for i in range(3)}
    for k, v in values.items():
        b[k] = v
    sizes = {k: b.size_of(k) for k in values}
    spilled, disk = b.spilled_bytes, b.disk_bytes
    b.close(remove_files=False)

    with SpillBuffer(tmp_path, target=10**9, recover=True) as again:
        assert again.recovered == sizes
        assert set(again) == set(values) and again.memory_bytes == 0
        assert (again.spilled_bytes, again.disk_bytes) == (spilled, disk)
        for k, v in values.items():
            np.testing.assert_array_equal(again[k], v)
        assert again.spilled_keys() == [] and again.spilled_bytes == 0
        assert len(files(tmp_path)) == 3 and again.disk_bytes == disk  # read back, still clean on disk
    assert files(tmp_path) == []


def test_without_recover_old_files_are_wiped(tmp_path):
    b = SpillBuffer(tmp_path, target=0)
    b["x"] = 1
    b.close(remove_files=False)
    with SpillBuffer(tmp_path, target=0) as again:
        assert len(again) == 0 and files(tmp_path) == []


def test_incomplete_and_corrupt_files_are_dropped_not_misread(tmp_path, caplog):
    b = SpillBuffer(tmp_path, target=0)
    b["good"] = np.arange(1000)
    b["truncated"] = np.arange(1000)
    b.close(remove_files=False)
    paths = {spillfile.read(os.path.join(tmp_path, n))[0]: os.path.join(tmp_path, n) for n in files(tmp_path)}
    with open(paths["truncated"], "r+b") as f:
        f.truncate(os.path.getsize(paths["truncated"]) - 10)
    (tmp_path / "garbage.spill").write_bytes(b"not a spill file")
    (tmp_path / "halfway.spill.tmp").write_bytes(b"PDSPILL1")
    (tmp_path / "unrelated.txt").write_text("kept")

    with SpillBuffer(tmp_path, target=10**9, recover=True) as again:
        assert list(again.recovered) == ["good"]
        np.testing.assert_array_equal(again["good"], np.arange(1000))
        assert files(tmp_path) == [os.path.basename(paths["good"]), "unrelated.txt"]
    assert files(tmp_path) == ["unrelated.txt"]
    assert "removing unreadable spill file" in caplog.text


def test_the_newer_of_two_files_for_one_key_wins(tmp_path):
    old = spillfile.encode("k", "old", 10)
    new = spillfile.encode("k", "new", 10)
    spillfile.write(str(tmp_path / "a.spill"), old)
    spillfile.write(str(tmp_path / "b.spill"), new)
    os.utime(tmp_path / "a.spill", ns=(10**18, 10**18 + 1))
    os.utime(tmp_path / "b.spill", ns=(10**18, 10**18))
    with SpillBuffer(tmp_path, target=10**9, recover=True) as again:
        assert again["k"] == "old" and files(tmp_path) == ["a.spill"]  # the newer one, kept


def test_a_write_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def flaky_write(fd, data):
        calls.append(1)
        if len(calls) > 1:
            raise OSError("disk went away")
        os.write(fd, data)

    monkeypatch.setattr(os, "write", flaky_write)
    with pytest.raises(OSError):
        spillfile.write(str(tmp_path / "x.spill"), spillfile.encode("x", np.arange(10), 80))
    assert files(tmp_path) == []


CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from worker.memory import spillfile
    from worker.memory.spill import SpillBuffer

    b = SpillBuffer(sys.argv[1], target=0)
    for i in range(3):
        b[("done", i)] = np.full(1000, i)
    real = spillfile._write_all
    def stall(fd, data):
        real(fd, memoryview(data).cast("B")[:100])
        print("stalled", flush=True)
        time.sleep(60)
    spillfile._write_all = stall
    b["crashing"] = np.arange(100_000)
""")


def test_spilled_values_survive_a_killed_process(tmp_path):
    directory = tmp_path / "spill"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(directory)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "stalled"
        assert files(directory, ".tmp")  # killed in the middle of a write
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with SpillBuffer(directory, target=0, recover=True) as again:
        assert sorted(again) == [("done", 0), ("done", 1), ("done", 2)]
        assert files(directory, ".tmp") == []
        for i in range(3):
            np.testing.assert_array_equal(again[("done", i)], np.full(1000, i))
    shutil.rmtree(directory)
