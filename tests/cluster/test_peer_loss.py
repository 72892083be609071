"""Losing a peer must not stall whoever talks to it: a refused connection to a peer
fails at once, and a request in flight to a peer the scheduler removed is abandoned."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pardata.comm import CommError, listen
from pardata.comm import messages as m
from pardata.comm.connection import connect
from pardata.comm.pool import ConnectionPool

pytestmark = pytest.mark.timeout(60)

#: Far beyond the test's own timeout: a retry loop would hit pytest-timeout, not pass.
FOREVER = 3600.0


def closed_port_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def test_pool_fails_at_once_on_a_refused_peer():
    async def main():
        pool = ConnectionPool(name="t", connect_timeout=FOREVER)
        with pytest.raises(CommError, match="refused"):
            await pool.rpc(closed_port_address(), m.GetData(keys=["x"]))
        await pool.close()

    asyncio.run(main())


def test_plain_connect_still_waits_for_a_server_that_starts_later():
    async def main():
        address = closed_port_address()
        connecting = asyncio.ensure_future(connect(address, timeout=FOREVER))
        await asyncio.sleep(0.2)  # refused a few times meanwhile
        assert not connecting.done()

        async def serve(comm):
            await comm.write(m.Ack())

        listener = await listen(address, serve)
        comm = await connecting
        assert isinstance(await comm.read(), m.Ack)
        comm.abort()
        await listener.stop()

    asyncio.run(main())


def test_abandon_cuts_a_request_to_a_frozen_peer_and_leaves_others_alone():
    async def main():
        frozen = asyncio.Event()

        async def never_answers(comm):
            await comm.read()
            await frozen.wait()  # like a SIGSTOPped process: connected, silent

        async def answers(comm):
            while True:
                await comm.read()
                await comm.write(m.Ack())

        silent = await listen("tcp://127.0.0.1:0", never_answers)
        alive = await listen("tcp://127.0.0.1:0", answers)
        pool = ConnectionPool(name="t", connect_timeout=FOREVER)
        stuck = asyncio.ensure_future(pool.rpc(silent.address, m.GetData(keys=["x"])))
        fine = asyncio.ensure_future(pool.rpc(alive.address, m.GetData(keys=["y"])))
        await asyncio.sleep(0.2)
        assert not stuck.done()
        assert pool.abandon(silent.address) == 1
        with pytest.raises(CommError, match="left the cluster"):
            await stuck
        assert isinstance(await fine, m.Ack)
        assert pool.abandon(alive.address) == 0  # nothing in flight there any more
        assert isinstance(await pool.rpc(alive.address, m.GetData(keys=["y"])), m.Ack)
        frozen.set()
        await pool.close()
        await silent.stop()
        await alive.stop()

    asyncio.run(main())


def test_a_gather_from_a_worker_the_scheduler_removed_is_abandoned_and_redone(monkeypatch):
    """A worker that stops answering (here: it serves no data and sends no heartbeat, but
    keeps its connections open, as a stopped process would) is removed after the ttl;
    the client's gather from it is abandoned at once and the key, recomputed on the other
    worker, is fetched from there. Without the abandon the gather would wait forever:
    the connect timeout is an hour here, and a silent peer never times out a read."""
    import pardata
    import worker.server
    from pardata.testing.cluster import cluster, connect_client, inc

    serve = worker.server.data_reply

    async def main():
        options = {"heartbeat_interval": 0.1, "heartbeat_timeout": 1.5}
        async with cluster(2, scheduler_options=options, check_leaks=False, deadline=50) as c:
            async with connect_client(c.scheduler_address) as client:
                futures = client.map(inc, range(20), pure=False)
                assert await client.gather(futures) == list(range(1, 21))
                frozen = c.workers[0]
                on_frozen = [f for f in futures if frozen.address in f._state.who_has]
                assert on_frozen, "every result landed on one worker"
                async def frozen_reply(store, keys):
                    if store is frozen.store:
                        await asyncio.Event().wait()  # never answers
                    return await serve(store, keys)

                monkeypatch.setattr(worker.server, "data_reply", frozen_reply)
                for task in list(frozen._tasks):
                    if "_heartbeats" in task.get_coro().__qualname__:
                        task.cancel()

                async def stay(*args, **kwargs):  # it does not hear the scheduler either
                    return None

                frozen.close = stay
                try:
                    values = await client.gather(on_frozen)
                    assert values == [futures.index(f) + 1 for f in on_frozen]
                    assert list(await client.nthreads()) == [c.workers[1].address]
                finally:
                    del frozen.close
                    monkeypatch.undo()

    with pardata.config.set({"distributed.comm.timeouts.connect": "3600s"}):
        asyncio.run(main())
