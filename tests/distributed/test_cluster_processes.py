"""Real processes: LocalCluster, a worker killed with SIGKILL, the command-line tools."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import pardata
from pardata.distributed import Client, LocalCluster
from pardata.security import Security, write_secret
from pardata.testing.cluster import add, inc, local_cluster, slowadd, slowinc

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_local_cluster_of_processes_computes():
    with local_cluster(n_workers=2) as (cluster, client):
        assert len(client.nthreads()) == 2
        assert all(p.poll() is None for p in cluster.worker_processes)
        futures = client.map(inc, range(50))
        assert client.gather(futures) == list(range(1, 51))
        total = pardata.delayed(sum)([pardata.delayed(inc)(i) for i in range(30)])
        assert total.compute() == sum(range(1, 31))
    assert all(p.poll() is not None for p in [cluster.scheduler_process, *cluster.worker_processes])


def test_sigkill_of_a_worker_mid_graph_still_completes():
    with local_cluster(n_workers=2, nanny=False) as (cluster, client):  # no restart: one worker left
        layer = client.map(slowinc, range(200), delay=0.01, pure=False)
        pairs = [client.submit(slowadd, a, b, delay=0.0, pure=False) for a, b in zip(layer[::2], layer[1::2])]
        total = client.submit(sum, pairs, pure=False)
        deadline = time.monotonic() + 30
        while sum(f.done() for f in layer) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = cluster.worker_processes[0]
        os.kill(victim.pid, signal.SIGKILL)
        assert total.result(timeout=60) == sum(range(1, 201))
        assert victim.wait(10) == -signal.SIGKILL
        assert len(client.nthreads()) == 1


def test_client_without_address_starts_a_local_cluster():
    with Client(n_workers=1, threads_per_worker=1, memory_limit=0) as client:
        assert isinstance(client.cluster, LocalCluster)
        assert client.submit(add, 1, 2).result() == 3
        procs = [client.cluster.scheduler_process, *client.cluster.worker_processes]
    assert all(p.poll() is not None for p in procs)


def _cli(name: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    exe = os.path.join(os.path.dirname(sys.executable), name)
    return subprocess.Popen([exe, *args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_command_line_scheduler_and_workers(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    auth_file = tmp_path / "cluster.secret"
    secret = write_secret(auth_file)
    scheduler = _cli("pardata-scheduler", "--host", "127.0.0.1", "--port", "0", "--auth-file", str(auth_file),
                     "--scheduler-file", str(scheduler_file), "--dashboard-address", ":0")
    procs = [scheduler]
    try:
        deadline = time.monotonic() + 30
        while not scheduler_file.exists():
            assert scheduler.poll() is None, scheduler.stderr.read().decode()
            assert time.monotonic() < deadline, "the scheduler wrote no address file"
            time.sleep(0.02)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(_cli("pardata-worker", address, "--nthreads", "1", "--memory-limit", "1GiB",
                              "--local-directory", str(tmp_path), "--name", f"cli-{i}",
                              "--auth-file", str(auth_file)))
        with Client(address, security=Security(auth_secret=secret)) as client:
            while len(client.nthreads()) < 2:
                assert time.monotonic() < deadline, "workers did not connect"
                time.sleep(0.02)
            names = {w["name"] for w in client.scheduler_info()["workers"].values()}
            assert names == {"cli-0", "cli-1"}
            assert client.submit(add, 20, 22).result() == 42
            assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(20) for p in procs]
        for p in procs:
            p.stderr.close()
    assert codes == [0, 0, 0]


def test_restart_replaces_the_worker_processes_under_their_nannies():
    with local_cluster(n_workers=2) as (cluster, client):
        before = [p.pid for p in cluster.worker_processes]
        assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
        client.restart()
        after = [p.pid for p in cluster.worker_processes]
        assert len(after) == 2 and not set(before) & set(after)
        assert [n.status for n in cluster.nannies] == ["running", "running"]
        assert len(client.nthreads()) == 2
        assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
        procs = cluster.worker_processes
    assert all(p.poll() is not None for p in procs)
