"""A worker dropped by the scheduler for silence, or cut off from it, exits with
``REJOIN_EXIT_CODE`` so that its nanny starts a fresh one that registers again; a
worker the scheduler sends away because it is closing exits cleanly (code 0).

A small stand-in scheduler on 127.0.0.1 accepts the registration of a real
``python -m worker --no-nanny`` process, then ends the connection one way or another.
"""

import asyncio
import os
import subprocess
import sys

import pytest

from pardata.comm import listen
from pardata.comm import messages as m
from scheduler.commands import CloseWorker
from scheduler.wire import command_message
from worker.__main__ import REJOIN_EXIT_CODE

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]


async def _worker_exit_code(ending: str) -> int:
    registered = asyncio.Event()

    async def serve(comm):
        first = await comm.read()
        assert isinstance(first, m.RegisterWorker)
        await comm.write(m.WorkerRegistered(heartbeat_interval=0.5))
        registered.set()
        if ending == "connection lost":
            comm.abort()
        else:
            await comm.write(m.CloseWorkerRequest(reason=ending, rejoin=ending == "no heartbeat"))
            await asyncio.sleep(0.5)  # the worker closes its end first
            comm.abort()

    listener = await listen("tcp://127.0.0.1:0", serve, name="stand-in scheduler")
    # A broken connection is first retried for distributed.worker.reconnect-timeout (a
    # scheduler restarted from its journal takes the worker back: tests/cluster); here
    # the worker gives up at once.
    env = {**os.environ, "PARDATA_DISTRIBUTED__WORKER__RECONNECT_TIMEOUT": "0"}
    # A plain Popen, polled: an asyncio subprocess transport can outlive asyncio.run and
    # warn (unclosed transport) in whichever test collects it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", listener.address, "--no-nanny", "--no-auth", "--nthreads", "1",
         "--memory-limit", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        await asyncio.wait_for(registered.wait(), 60)
        for _ in range(600):  # up to 30 s
            if proc.poll() is not None:
                return proc.returncode
            await asyncio.sleep(0.05)
        raise AssertionError("the worker did not exit within 30 s after its scheduler connection ended")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        await listener.stop()


@pytest.mark.parametrize(
    "ending, expected",
    [("no heartbeat", REJOIN_EXIT_CODE), ("connection lost", REJOIN_EXIT_CODE), ("the scheduler is closing", 0)],
)
def test_worker_exit_code_says_whether_to_rejoin(ending, expected):
    assert asyncio.run(_worker_exit_code(ending)) == expected


def test_a_heartbeat_timeout_close_asks_the_worker_to_rejoin():
    kind, worker, msg = command_message(CloseWorker("tcp://10.0.0.1:1", "no heartbeat for 61s"))
    assert (kind, worker) == ("close", "tcp://10.0.0.1:1")
    assert isinstance(msg, m.CloseWorkerRequest) and msg.rejoin
    assert not m.CloseWorkerRequest(reason="the scheduler is closing").rejoin
