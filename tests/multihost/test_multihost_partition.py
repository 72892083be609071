"""A network partition: the scheduler drops the worker it cannot hear from (after its
heartbeat timeout), recomputes the results that worker held on the other one, and once
the partition heals the cut-off host's worker registers again and gets work.

The rejoin once needed a fix: a worker the scheduler had dropped exited cleanly, so its
nanny never started another (``CloseWorkerRequest.rejoin``, ``REJOIN_EXIT_CODE``)."""

import pytest

pytestmark = [pytest.mark.multihost, pytest.mark.processes, pytest.mark.timeout(120)]

#: A short liveness timeout, so a partition is noticed within seconds (not so short that
#: a worker slowed down by busy cores is taken for lost).
ENV = {"PARDATA_DISTRIBUTED__SCHEDULER__WORKER_TTL": "6s"}

SCRIPT = r"""
import sys
import time

from pardata.distributed import Client
from pardata.testing.netlab import checkpoint, emit, wait_for_workers

address, host1, host2 = sys.argv[1:4]
client = Client(address, timeout=30)
wait_for_workers(client, 2, hosts=[host1, host2])


def block(i):
    import time
    time.sleep(0.1)  # slow enough that both idle workers take some
    return list(range(i * 100, i * 100 + 100))


def total(*blocks):
    return sum(map(sum, blocks))


def host_of(worker):
    return worker.split("//")[1].rsplit(":", 1)[0]


data = client.map(block, range(12), pure=False)
client.gather(data)
before = client.who_has(data)
cut_worker = next(w for w in client.scheduler_info()["workers"] if host_of(w) == host1)

checkpoint("partition")
deadline = time.monotonic() + 40
while cut_worker in client.scheduler_info()["workers"] and time.monotonic() < deadline:
    time.sleep(0.1)
removed = cut_worker not in client.scheduler_info()["workers"]
result = client.submit(total, *data).result(timeout=60)
after = client.who_has(data)

checkpoint("heal")
rejoined = wait_for_workers(client, 2, timeout=60, hosts=[host1, host2])
new_worker = next(w for w in rejoined if host_of(w) == host1)
more = client.map(block, range(100, 112), pure=False)
values = client.gather(more)
placed = client.who_has(more)
emit({
    "cut_worker": cut_worker,
    "removed": removed,
    "before": {k: [host_of(w) for w in v] for k, v in before.items()},
    "after": {k: [host_of(w) for w in v] for k, v in after.items()},
    "result": result,
    "new_worker": new_worker,
    "new_worker_name": rejoined[new_worker]["name"],
    "values": values,
    "placed": [host_of(w) for ws in placed.values() for w in ws],
    "workers_now": sorted(client.scheduler_info()["workers"]),
})
"""


@pytest.mark.parametrize("reconnect", ["default", "nanny"])
def test_partitioned_worker_is_removed_recomputed_and_rejoins(make_lab, reconnect):
    # "nanny": the worker does not try to reconnect itself, so what comes back is the
    # fresh process its nanny starts (a new address); "default": whichever path first.
    lab = make_lab({**ENV, "PARDATA_DISTRIBUTED__WORKER__RECONNECT_TIMEOUT": "0"} if reconnect == "nanny" else ENV)
    sched = lab.start_scheduler("sched")
    lab.start_worker("w1", sched.address)
    lab.start_worker("w2", sched.address)
    h1, h2 = lab.address("w1"), lab.address("w2")
    run = lab.start_python("client", SCRIPT, args=[sched.address, h1, h2])
    run.wait_reached("partition", timeout=60)
    lab.partition("w1")
    run.release("partition")
    run.wait_reached("heal", timeout=90)
    lab.heal("w1")
    run.release("heal")
    out = run.result(timeout=90)

    # Before the partition both hosts held blocks; w1's were recomputed on w2.
    on_w1 = [k for k, hosts in out["before"].items() if hosts == [h1]]
    assert on_w1, f"the cut-off worker held no blocks before the partition: {out['before']}"
    assert out["removed"], "the partitioned worker was not removed"
    assert all(hosts == [h2] for hosts in out["after"].values()), out["after"]
    assert out["result"] == sum(sum(range(i * 100, i * 100 + 100)) for i in range(12))

    # After the partition healed, the worker on w1 registered again and got work: either
    # the same process reconnecting (its connection broke) or a fresh one its nanny
    # started (it was told it had been dropped), whichever it learned first.
    assert out["new_worker_name"] == "w1"
    if reconnect == "nanny":
        assert out["new_worker"] != out["cut_worker"]
    assert out["values"] == [list(range(i * 100, i * 100 + 100)) for i in range(100, 112)]
    assert h1 in out["placed"], f"no work went to the rejoined worker: {out['placed']}"
