"""Cluster fixtures: a scheduler and workers in this process, or real processes.

``cluster()`` is an async context manager that starts a scheduler and N workers on the
running event loop (real TCP on 127.0.0.1 by default), runs the body under a deadline
and, if the deadline passes, fails with a dump of the scheduler's and workers' state
instead of hanging. On exit it closes everything and fails if a connection or an
asyncio task was left behind::

    async def main():
        async with cluster(n_workers=2) as c, connect_client(c.scheduler_address) as client:
            future = client.submit(inc, 1)
            assert (await client.gather([future])) == [2]

    asyncio.run(main())

Like a real cluster, a test cluster demands a secret: a fresh one per cluster unless
``security=`` says otherwise (``False``: none). ``connect_client(address)`` finds the
secret of the test cluster at that address by itself.

``local_cluster()`` is the blocking counterpart with real worker processes (a
``LocalCluster`` and a ``Client``), for tests that kill processes. The small functions
below (``inc``, ``slowinc``, ...) live in an importable module so that worker
processes can unpickle them by reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator, Iterator

from pardata.distributed._core import ClientCore
from pardata.distributed._inprocess import InProcessCluster
from pardata.security import Security, new_secret

__all__ = [
    "cluster",
    "connect_client",
    "local_cluster",
    "inc",
    "add",
    "slowinc",
    "slowadd",
    "double",
    "throws",
    "Unpicklable",
    "make_unpicklable",
]


@contextlib.asynccontextmanager
async def cluster(
    n_workers: int = 2,
    threads_per_worker: int = 1,
    *,
    deadline: float = 30.0,
    protocol: str = "tcp",
    scheduler_options: dict | None = None,
    worker_options: dict | None = None,
    check_leaks: bool = True,
    security: Security | bool = True,
) -> AsyncIterator[InProcessCluster]:
    """A started ``InProcessCluster`` for the duration of the ``async with`` body."""
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks()
    if security is True:
        security = Security(auth_secret=new_secret())
    c = InProcessCluster(
        n_workers,
        threads_per_worker,
        protocol=protocol,
        security=security or None,
        scheduler_options={"validate": True, **(scheduler_options or {})},
        worker_options={"validate": True, **(worker_options or {})},
    )
    await asyncio.wait_for(c.start(), deadline)
    if c.security is not None:
        _securities[c.scheduler_address] = c.security
    task = asyncio.current_task()
    dump: list[str] = []

    def expire() -> None:
        dump.append(c.dump_state())  # now, before the body's own cleanup changes it
        task.cancel()

    timer = loop.call_later(deadline, expire)
    try:
        yield c
    except asyncio.CancelledError:
        if dump:
            await c.close()
            raise AssertionError(f"the cluster test did not finish within {deadline}s; state:\n{dump[0]}") from None
        raise
    finally:
        timer.cancel()
        _securities.pop(c.scheduler_address, None)
        await c.close()
    if check_leaks:
        await _check_leaks(c, before)


async def _check_leaks(c: InProcessCluster, before: set) -> None:
    listeners = [c.scheduler.listener, *(w.listener for w in c.all_workers)]
    for _ in range(100):
        await asyncio.sleep(0.01)
        left = asyncio.all_tasks() - before - {asyncio.current_task()}
        open_comms = sum(len(x.comms) for x in listeners if x is not None)
        if not left and not open_comms:
            return
    raise AssertionError(f"the cluster left {len(left)} task(s) and {open_comms} connection(s) behind: {left}")


#: scheduler address -> the ``Security`` of the running test cluster there
_securities: dict[str, Security] = {}


@contextlib.asynccontextmanager
async def connect_client(address: str, security: Security | None = None) -> AsyncIterator[ClientCore]:
    """An asynchronous client (the core of ``Client``) connected for the body; by
    default with the secret of the ``cluster()`` at ``address``."""
    client = ClientCore(address, security=security or _securities.get(address))
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@contextlib.contextmanager
def local_cluster(n_workers: int = 2, threads_per_worker: int = 1, **kwargs) -> Iterator:
    """``(cluster, client)``: a ``LocalCluster`` of worker processes and a ``Client``."""
    from pardata.distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, memory_limit=0,
                      **kwargs) as lc:
        with Client(lc) as client:
            yield lc, client


# --- functions for tasks ---------------------------------------------------------------


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def double(x):
    return 2 * x


def slowinc(x, delay: float = 0.02):
    time.sleep(delay)
    return x + 1


def slowadd(x, y, delay: float = 0.02):
    time.sleep(delay)
    return x + y


def throws(x):
    raise ValueError(f"bad value {x!r}")


class Unpicklable:
    """An object that refuses to be pickled, like a lock or an open socket."""

    def __reduce__(self):
        raise TypeError("Unpicklable objects cannot be pickled")


def make_unpicklable(x=None):
    return Unpicklable()
