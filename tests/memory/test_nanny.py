"""Nanny with a tiny dummy child: restarts after a kill or a memory overrun, env, bounds."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from worker.nanny import CHILD_ENV, RESTARTS_ENV, Nanny, worker_argv

pytestmark = pytest.mark.processes

CHILD = textwrap.dedent("""
    import json, os, sys, time
    mode, log = sys.argv[1], sys.argv[2]
    with open(log, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "env": dict(os.environ)}) + "\\n")
    with open(log) as f:
        starts = len(f.readlines())
    if mode == "grow-once" and starts == 1:
        hog = []
        while True:
            hog.append(bytearray(8_000_000))  # zero-filled, so resident
            time.sleep(0.005)
    if mode == "fail":
        sys.exit(3)
    if mode == "clean":
        sys.exit(0)
    time.sleep(60)
""")


@pytest.fixture
def child(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    log = tmp_path / "starts.jsonl"

    def argv(mode):
        return [sys.executable, str(script), mode, str(log)]

    def starts():
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    argv.starts = starts
    return argv


async def until(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                          text=True).stdout.strip()[:1] not in ("Z", "")


def test_restart_after_sigkill_with_env_and_no_restart_after_stop(child):
    async def main():
        reports = []
        nanny = Nanny(child("sleep"), env={"EXTRA": "yes"}, poll_interval=0.02, backoff=0.01,
                      on_restart=reports.append)
        first = await nanny.start()
        await until(lambda: len(child.starts()) == 1)
        os.kill(first, signal.SIGKILL)
        await until(lambda: len(child.starts()) == 2)
        assert len(reports) == 1 and nanny.restarts == reports
        r = reports[0]
        assert (r.reason, r.signal, r.old_pid, r.count) == ("signal", "SIGKILL", first, 1)
        assert r.new_pid == nanny.pid != first and "SIGKILL" in r.message
        second = nanny.pid
        await nanny.stop()
        assert nanny.status == "stopped" and not alive(second)
        await asyncio.sleep(0.1)
        assert len(child.starts()) == 2  # stopping is not a death to recover from
        for restarts, start in enumerate(child.starts()):
            assert {k: start["env"][k] for k in CHILD_ENV} == CHILD_ENV
            assert start["env"]["EXTRA"] == "yes"
            assert start["env"][RESTARTS_ENV] == str(restarts)

    asyncio.run(main())


def test_restart_after_the_child_outgrows_its_memory(child):
    async def main():
        reports = []
        limit = 200_000_000
        nanny = Nanny(child("grow-once"), memory_limit=limit, terminate_fraction=0.95,
                      poll_interval=0.02, backoff=0.01, on_restart=reports.append)
        first = await nanny.start()
        await until(lambda: reports, timeout=20)
        r = reports[0]
        assert r.reason == "memory" and r.old_pid == first and r.rss >= 0.95 * limit
        assert "95%" in r.message and not alive(first)
        await asyncio.sleep(0.2)
        assert nanny.status == "running" and len(reports) == 1  # the new child behaves
        await nanny.stop()

    asyncio.run(main())


def test_a_clean_exit_is_not_restarted(child):
    async def main():
        nanny = Nanny(child("clean"), poll_interval=0.02, backoff=0.01)
        await nanny.start()
        assert await asyncio.wait_for(nanny.wait(), 10) == "finished"
        assert nanny.restarts == [] and len(child.starts()) == 1
        await nanny.stop()
        assert nanny.status == "finished"

    asyncio.run(main())


def test_restarts_are_bounded_and_back_off(child):
    async def main():
        gave_up = []
        nanny = Nanny(child("fail"), poll_interval=0.02, backoff=0.05, max_restarts=2,
                      restart_window=60, on_give_up=gave_up.append)
        start = asyncio.get_running_loop().time()
        await nanny.start()
        assert await asyncio.wait_for(nanny.wait(), 10) == "failed"
        elapsed = asyncio.get_running_loop().time() - start
        assert len(child.starts()) == 3 and len(nanny.restarts) == 2
        assert [r.exitcode for r in nanny.restarts] == [3, 3]
        assert elapsed >= 0.05 + 0.1  # backoff doubles: 0.05 s, then 0.1 s
        assert len(gave_up) == 1 and gave_up[0].reason == "exit" and gave_up[0].new_pid is None
        assert "not restarting: 2 restarts" in gave_up[0].message
        await nanny.stop()

    asyncio.run(main())


def test_stop_during_backoff_does_not_restart(child):
    async def main():
        nanny = Nanny(child("fail"), poll_interval=0.02, backoff=5)
        await nanny.start()
        await until(lambda: nanny.status == "restarting")
        await asyncio.wait_for(nanny.stop(), 2)
        assert nanny.status == "stopped" and len(child.starts()) == 1

    asyncio.run(main())


def test_worker_argv():
    argv = worker_argv("tcp://127.0.0.1:8786", nthreads=2, memory_limit="1GiB",
                       local_directory="/tmp/w", name="w1", python="python")
    assert argv == ["python", "-m", "worker", "tcp://127.0.0.1:8786", "--nthreads", "2",
                    "--memory-limit", "1GiB", "--local-directory", "/tmp/w", "--name", "w1"]
    with pytest.raises(ValueError):
        Nanny([])
