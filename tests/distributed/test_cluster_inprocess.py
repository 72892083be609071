"""Scheduler and workers in this process, driven by the async client core."""

from __future__ import annotations

import asyncio

import pytest

from pardata.distributed import FutureCancelledError, KilledWorker, RemoteTaskError
from pardata.serialize import SerializationError
from pardata.testing.cluster import (
    add,
    cluster,
    connect_client,
    inc,
    make_unpicklable,
    slowinc,
    throws,
)

pytestmark = pytest.mark.timeout(60)


def run(coro):
    return asyncio.run(coro)


def test_submit_gather_map():
    async def main():
        async with cluster(2) as c, connect_client(c.scheduler_address) as client:
            x = client.submit(inc, 1)
            assert await client.gather([x]) == [2]
            futures = client.map(inc, range(20))
            assert await client.gather(futures) == [i + 1 for i in range(20)]
            y = client.submit(add, x, futures[3])  # futures as arguments become inputs
            assert await y == 2 + 4

    run(main())


def test_transfer_between_workers():
    async def main():
        async with cluster(2) as c, connect_client(c.scheduler_address) as client:
            a, b = (w.address for w in c.workers)
            x = client.submit(inc, 1, workers=[a])
            y = client.submit(slowinc, x, delay=0.5, workers=[b])  # needs x, held by a only
            await x
            for _ in range(200):  # while y runs, b holds a copy of x it fetched from a
                holders = (await client.who_has([x.key]))[x.key]
                if len(holders) == 2:
                    break
                await asyncio.sleep(0.01)
            assert set(holders) == {a, b}
            assert await y == 3
            assert (await client.who_has([y.key]))[y.key] == (b,)
            fetched = [e for e in c.workers[1].state.story(x.key) if e.kind == "FetchFromPeer"]
            assert fetched

    run(main())


def test_an_error_carries_type_message_and_remote_traceback():
    async def main():
        async with cluster(1) as c, connect_client(c.scheduler_address) as client:
            bad = client.submit(throws, 7)
            downstream = client.submit(inc, bad)
            with pytest.raises(ValueError, match="bad value 7") as info:
                await bad
            notes = "\n".join(info.value.__notes__)
            assert bad.key in notes and "Remote traceback" in notes and "in throws" in notes
            with pytest.raises(ValueError, match="bad value 7") as info:
                await downstream
            assert downstream.key in "\n".join(info.value.__notes__)
            assert bad.status == downstream.status == "error"
            assert await client.submit(inc, 1) == 2  # the cluster keeps serving

    run(main())


def test_unpicklable_result_is_a_clear_error_and_the_worker_keeps_serving():
    async def main():
        async with cluster(1) as c, connect_client(c.scheduler_address) as client:
            bad = client.submit(make_unpicklable, 1)
            with pytest.raises(SerializationError) as info:
                await bad
            message = str(info.value)
            assert bad.key in message and "Unpicklable" in message
            assert await client.submit(inc, 41) == 42

    run(main())


def test_released_futures_are_forgotten_by_the_scheduler():
    async def main():
        async with cluster(2) as c, connect_client(c.scheduler_address) as client:
            futures = client.map(inc, range(10))
            await client.gather(futures)
            keys = [f.key for f in futures]
            assert all(k in c.scheduler.state.tasks for k in keys)
            del futures
            for _ in range(200):
                await asyncio.sleep(0.01)
                if not c.scheduler.state.tasks and not any(len(w.store) for w in c.workers):
                    break
            assert not c.scheduler.state.tasks
            assert not any(len(w.store) for w in c.workers)

    run(main())


def test_shared_keys_stay_while_any_future_holds_them():
    async def main():
        async with cluster(1) as c, connect_client(c.scheduler_address) as client:
            a = client.submit(inc, 1)
            b = client.submit(inc, 1)  # same pure key: one task, two handles
            assert a.key == b.key
            await a
            del a
            await asyncio.sleep(0.1)
            assert b.key in c.scheduler.state.tasks
            assert await b == 2

    run(main())


def test_scatter_then_compute_on_it():
    async def main():
        async with cluster(2) as c, connect_client(c.scheduler_address) as client:
            data = await client.scatter([1, 2, 3])
            assert [f.status for f in data] == ["finished"] * 3 or await client.gather(data) == [1, 2, 3]
            total = client.submit(sum, data)
            assert await total == 6
            named = await client.scatter({"x": 10})
            assert await client.submit(inc, named["x"]) == 11

    run(main())


def test_cancel():
    async def main():
        async with cluster(1) as c, connect_client(c.scheduler_address) as client:
            slow = client.submit(slowinc, 1, delay=0.5)
            client.cancel([slow.key])
            with pytest.raises(FutureCancelledError):
                await slow
            assert slow.status == "cancelled"
            assert await client.submit(inc, 2) == 3

    run(main())


def test_a_lost_worker_is_recomputed_from_lineage():
    async def main():
        async with cluster(2) as c, connect_client(c.scheduler_address) as client:
            x = client.submit(inc, 1, pure=False)
            y = client.submit(inc, x, pure=False)
            await y
            (holder,) = (await client.who_has([y.key]))[y.key]
            dead = next(w for w in c.workers if w.address == holder)
            await c.remove_worker(dead, graceful=False)  # its data is gone with it
            assert await client.gather([y]) == [3]
            (survivor,) = c.workers
            assert (await client.who_has([y.key]))[y.key] == (survivor.address,)

    run(main())


def test_a_task_whose_workers_keep_dying_is_killed_worker():
    async def main():
        options = {"allowed_failures": 2}
        async with cluster(1, scheduler_options=options) as c, connect_client(c.scheduler_address) as client:
            doomed = client.submit(slowinc, 1, delay=5.0)
            for _ in range(2):
                while not c.scheduler.state.processing_on(c.workers[0].address):
                    await asyncio.sleep(0.01)
                await c.remove_worker(c.workers[0], graceful=False)
                await c.add_worker()
            with pytest.raises(KilledWorker, match=doomed.key):
                await doomed

    run(main())


def test_inproc_transport():
    async def main():
        async with cluster(2, protocol="inproc") as c, connect_client(c.scheduler_address) as client:
            assert c.scheduler_address.startswith("inproc://")
            futures = client.map(inc, range(5))
            assert await client.gather(futures) == [1, 2, 3, 4, 5]

    run(main())


def test_an_idle_worker_steals_queued_work():
    async def main():
        async with cluster(2) as c, connect_client(c.scheduler_address) as client:
            a, b = c.workers
            x = client.submit(inc, 0, workers=[a.address])
            await x
            # every task needs x, so all are placed on a; b idles until it steals
            futures = [client.submit(slowinc, x, delay=0.05, pure=False) for _ in range(20)]
            assert await client.gather(futures) == [2] * 20
            stream = await client.get_task_stream()
            ran_on = {r["worker"] for r in stream if r["key"] in {f.key for f in futures}}
            assert ran_on == {a.address, b.address}
            stolen = [
                entry for f in futures for entry in c.scheduler.state.story(f.key)
                if entry[0] == "event" and type(entry[2]).__name__ == "StealConfirmed"
            ]
            assert stolen  # moved by the two-phase steal the worker confirmed

    run(main())


class _UnpicklableError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.lock = __import__("threading").Lock()


def _raise_unpicklable(x):
    raise _UnpicklableError(f"no pickle for {x}")


def test_an_unpicklable_exception_arrives_as_remote_task_error():
    async def main():
        async with cluster(1) as c, connect_client(c.scheduler_address) as client:
            bad = client.submit(_raise_unpicklable, 5)
            with pytest.raises(RemoteTaskError, match="_UnpicklableError: no pickle for 5") as info:
                await bad
            assert bad.key in "\n".join(info.value.__notes__)
            assert await client.submit(inc, 1) == 2

    run(main())


def test_the_scheduler_never_unpickles_what_it_forwards():
    import ast
    import pathlib

    import scheduler

    forbidden = {"pickle", "cloudpickle", "pardata.serialize"}
    for path in pathlib.Path(scheduler.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not forbidden.intersection(names), f"{path.name} imports {names}"


_attempts: dict = {}


def _flaky(key):
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise RuntimeError("not yet")
    return _attempts[key]


def test_retries():
    async def main():
        async with cluster(1) as c, connect_client(c.scheduler_address) as client:
            assert await client.submit(_flaky, "a", retries=2) == 3
            with pytest.raises(RuntimeError, match="not yet"):
                await client.submit(_flaky, "b", retries=1)

    run(main())


def test_restrictions_by_name_and_resources():
    async def main():
        async with cluster(1) as c, connect_client(c.scheduler_address) as client:
            gpu = await c.add_worker(resources={"GPU": 1})
            plain = c.workers[0]
            on_gpu = client.map(inc, range(4), resources={"GPU": 1})
            by_name = client.submit(inc, 100, workers=[plain.name])
            await client.gather([*on_gpu, by_name])
            who_has = await client.who_has([f.key for f in on_gpu] + [by_name.key])
            assert {who_has[f.key] for f in on_gpu} == {(gpu.address,)}
            assert who_has[by_name.key] == (plain.address,)

    run(main())
