"""10% packet loss on every host's link slows a computation down but does not break it:
TCP retransmits what is lost, and the result is exact."""

import pytest

import pardata.array as pa

pytestmark = [pytest.mark.multihost, pytest.mark.processes, pytest.mark.timeout(120)]

SCRIPT = r"""
import sys
import time

import pardata.array as pa
from pardata.distributed import Client
from pardata.testing.netlab import checkpoint, emit, wait_for_workers

address, host1, host2 = sys.argv[1:4]
client = Client(address, timeout=30)
wait_for_workers(client, 2, hosts=[host1, host2])


def counters(pardata_worker):
    return pardata_worker.diagnostics.transfer_in_bytes


def run(seed):
    x = pa.random.default_rng(seed).integers(0, 100, size=(600, 600), chunks=100)
    before = sum(client.run(counters).values())
    start = time.monotonic()
    value = int((x @ x.T + x).sum().compute())
    return value, time.monotonic() - start, sum(client.run(counters).values()) - before


clean = run(1)
checkpoint("loss")
lossy = run(2)
emit({"clean": clean, "lossy": lossy})
"""


def _expected(seed):
    xn = pa.random.default_rng(seed).integers(0, 100, size=(600, 600), chunks=100).compute(scheduler="sync")
    return int((xn @ xn.T + xn).sum())


def test_ten_percent_packet_loss_slows_but_does_not_break(make_lab):
    lab = make_lab()
    sched = lab.start_scheduler("sched")
    lab.start_worker("w1", sched.address)
    lab.start_worker("w2", sched.address)
    run = lab.start_python("client", SCRIPT, args=[sched.address, lab.address("w1"), lab.address("w2")])
    run.wait_reached("loss", timeout=60)
    hosts = ["sched", "w1", "w2", "client"]
    for host in hosts:
        lab.set_loss(host, 10)
    run.release("loss")
    out = run.result(timeout=100)
    dropped = {host: lab.dropped_packets(host) for host in hosts}

    assert out["clean"][0] == _expected(1)
    assert out["lossy"][0] == _expected(2)
    assert out["lossy"][2] > 0, "the lossy run moved no data between workers"
    assert dropped["w1"] + dropped["w2"] > 0, f"no packet was dropped: {dropped}"
    print(f"clean {out['clean'][1]:.2f}s, 10% loss {out['lossy'][1]:.2f}s, dropped {dropped}")
