"""The scheduler survives its own crash: ``kill -9`` mid-graph, restart on the same address
with the same journal directory; workers and the client reconnect by themselves, the
client resubmits nothing, and the graph finishes exactly without re-running the tasks
whose results survived on the workers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import pardata
from pardata.distributed import Client, Security
from pardata.security import write_secret
from pardata.testing.faults import expected_total, layered_graph, runs, wait_until

pytestmark = [pytest.mark.processes, pytest.mark.timeout(180)]

WIDTH, DEPTH = 40, 4  # 161 tasks
RECONNECT = {"PARDATA_DISTRIBUTED__WORKER__RECONNECT_TIMEOUT": "60s"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: list[str], log, env=None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **(env or {}))
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)


def test_a_killed_scheduler_restarted_from_its_journal_resumes_the_work(tmp_path):
    secret_file = tmp_path / "secret"
    secret = write_secret(secret_file)
    journal, markers = tmp_path / "journal", tmp_path / "markers"
    markers.mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "cluster.log", "wb")

    def start_scheduler() -> subprocess.Popen:
        return spawn(["scheduler", "--port", str(port), "--auth-file", str(secret_file), "--no-dashboard",
                      "--journal-directory", str(journal), "--recovery-grace", "60", "--log-level", "INFO"], log)

    scheduler = start_scheduler()
    workers = [spawn(["worker", address, "--no-nanny", "--nthreads", "1", "--memory-limit", "0",
                      "--auth-file", str(secret_file), "--name", f"w{i}"], log, RECONNECT) for i in range(2)]
    procs = [scheduler, *workers]
    try:
        with pardata.config.set({"distributed.client.reconnect-timeout": "60s"}):
            with Client(address, security=Security(auth_secret=secret), timeout=60) as client:
                wait_until(lambda: len(client.nthreads()) == 2, timeout=60, what="two workers")
                future = client.compute(layered_graph(7, WIDTH, DEPTH, delay=0.05, marker=str(markers)))
                wait_until(lambda: sum(runs(str(markers), "done").values()) >= 60, timeout=60,
                           what="60 tasks done")
                done_before = runs(str(markers), "done")  # before the kill: a task ending in
                started_before = runs(str(markers), "start")  # between counts as running then
                scheduler.send_signal(signal.SIGKILL)
                scheduler.wait(10)
                time.sleep(0.5)  # the workers and the client notice, and keep trying
                assert all(w.poll() is None for w in workers), "a worker exited instead of reconnecting"
                scheduler = start_scheduler()
                procs.append(scheduler)

                assert future.result(timeout=90) == expected_total(7, WIDTH, DEPTH)
                started = runs(str(markers), "start")
                again = {name: n for name, n in started.items() if n > started_before.get(name, 0) > 0}
                survived_rerun = sorted(name for name in again if done_before.get(name) == started_before[name])
                print(f"{len(done_before)} tasks done before the crash ({len(started_before)} started); "
                      f"{len(again)} re-run after it: {sorted(again)}")
                assert not survived_rerun, f"results that survived on the workers were recomputed: {survived_rerun}"
                assert len(again) <= 2, again  # at most those running when it died (one per thread)
                assert len(client.nthreads()) == 2  # the same two workers, registered again
                # The cluster goes on working for this client.
                assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
