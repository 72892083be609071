"""Scheduler and workers on three hosts, started with the command-line programs (with
the cluster secret): a computation whose blocks live on both workers moves data between
the hosts, directly from worker to worker, and the result is exact; a process on
another host without the secret is refused."""

import numpy as np
import pytest

import pardata.array as pa

pytestmark = [pytest.mark.multihost, pytest.mark.processes, pytest.mark.timeout(90)]

SCRIPT = r"""
import sys
import pardata.array as pa
from pardata.distributed import Client
from pardata.testing.netlab import emit, wait_for_workers

address, host1, host2 = sys.argv[1:4]
client = Client(address, timeout=30)
workers = wait_for_workers(client, 2, hosts=[host1, host2])


def counters(pardata_worker):
    d = pardata_worker.diagnostics
    return {"in_bytes": d.transfer_in_bytes, "transfers_in": d.transfers_in, "host": pardata_worker.address}


x = pa.random.default_rng(7).integers(0, 100, size=(800, 800), chunks=200)
result = int((x @ x.T).sum().compute())
stream = client.get_task_stream()
emit({
    "result": result,
    "workers": {a: w["name"] for a, w in workers.items()},
    "counters": client.run(counters),
    "ran_on": sorted({r["worker"] for r in stream if r["status"] == "done"}),
})
"""

STRANGER = r"""
import sys
from pardata.distributed import Client
from pardata.testing.netlab import emit

try:
    Client(sys.argv[1], timeout=20).close()
    emit({"connected": True})
except Exception as exc:
    emit({"connected": False, "error": f"{type(exc).__name__}: {exc}"})
"""


def test_cross_host_worker_to_worker_transfers(make_lab):
    lab = make_lab()
    sched = lab.start_scheduler("sched")
    lab.start_worker("w1", sched.address)
    lab.start_worker("w2", sched.address)
    out = lab.run_python("client", SCRIPT, args=[sched.address, lab.address("w1"), lab.address("w2")], timeout=75)

    xn = pa.random.default_rng(7).integers(0, 100, size=(800, 800), chunks=200).compute(scheduler="sync")
    assert out["result"] == int((xn @ xn.T).sum())

    hosts = {address.split("//")[1].split(":")[0]: name for address, name in out["workers"].items()}
    assert hosts == {lab.address("w1"): "w1", lab.address("w2"): "w2"}
    assert set(out["ran_on"]) == set(out["workers"]), "both workers ran tasks"
    counters = out["counters"]
    block = 200 * 200 * np.dtype(np.int64).itemsize
    # Every fetch crossed hosts (the two workers are on different ones), and the
    # products needed blocks held by the other worker.
    assert sum(c["transfers_in"] for c in counters.values()) > 0
    assert sum(c["in_bytes"] for c in counters.values()) >= block

    # A process on another host without the cluster secret is turned away.
    stranger = lab.run_python("client", STRANGER, args=[sched.address], env={"PARDATA_AUTH_SECRET": ""}, timeout=60)
    assert not stranger["connected"]
    assert "refused the connection" in stranger["error"] and "secret" in stranger["error"], stranger["error"]
