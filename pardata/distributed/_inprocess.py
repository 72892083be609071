"""A scheduler and workers running inside this process, on one event loop.

This is the one pardata module allowed to import the ``scheduler`` and ``worker``
packages, and it does so lazily, inside functions (``tests/test_layering.py`` checks
it): everywhere else the cluster is other processes, reached only over the wire.
Used by ``LocalCluster(processes=False)`` and the test fixtures in
``pardata.testing.cluster``.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["InProcessCluster"]

logger = logging.getLogger("pardata.distributed")


class InProcessCluster:
    """One ``SchedulerServer`` and ``n_workers`` ``WorkerServer``s on the running loop.

    ``protocol`` is ``"tcp"`` (real sockets on 127.0.0.1), ``"tls"`` or ``"inproc"``;
    with ``security`` holding TLS files it defaults to ``"tls"``. ``security`` (a
    ``pardata.security.Security``) goes to every server, so the cluster demands its
    secret and certificates; clients need the same object. ``scheduler_options`` and
    ``worker_options`` go to the servers' constructors.
    """

    def __init__(
        self,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        memory_limit: int = 0,
        *,
        protocol: str | None = None,
        security=None,
        scheduler_options: dict | None = None,
        worker_options: dict | None = None,
    ) -> None:
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        if protocol is None:
            protocol = "tls" if security is not None and security.tls_enabled else "tcp"
        if protocol not in ("tcp", "tls", "inproc"):
            raise ValueError(f"protocol is 'tcp', 'tls' or 'inproc', not {protocol!r}")
        self.protocol = protocol
        self.security = security
        self.scheduler_options = dict(scheduler_options or {})
        self.worker_options = dict(worker_options or {})
        self.scheduler = None
        self.workers: list = []
        self.all_workers: list = []  # including those removed since
        self._names = 0

    @property
    def scheduler_address(self) -> str:
        return self.scheduler.address

    def _address(self) -> str:
        return "inproc://" if self.protocol == "inproc" else f"{self.protocol}://127.0.0.1:0"

    async def start(self) -> "InProcessCluster":
        from scheduler.server import SchedulerServer

        options = {"security": self.security, **self.scheduler_options}
        self.scheduler = await SchedulerServer(self._address(), **options).start()
        try:
            await asyncio.gather(*(self.add_worker() for _ in range(self.n_workers)))
        except BaseException:
            await self.close()
            raise
        return self

    async def add_worker(self, **options):
        """Start one more worker; returns its ``WorkerServer``."""
        from worker.server import WorkerServer

        name = str(self._names)
        self._names += 1
        kwargs = {
            "nthreads": self.threads_per_worker,
            "memory_limit": self.memory_limit,
            "name": name,
            "listen_address": self._address(),
            "security": self.security,
            **self.worker_options,
            **options,
        }
        worker = WorkerServer(self.scheduler_address, **kwargs)
        self.workers.append(worker)
        self.all_workers.append(worker)
        await worker.start()
        return worker

    async def remove_worker(self, worker, graceful: bool = True) -> None:
        """Close one worker (``graceful=False``: as if its process had died)."""
        if worker in self.workers:
            self.workers.remove(worker)
        await worker.close("removed from the cluster", report=graceful)

    async def close(self) -> None:
        workers, self.workers = self.workers, []
        await asyncio.gather(*(w.close("the cluster is closing") for w in workers), return_exceptions=True)
        if self.scheduler is not None:
            await self.scheduler.close()

    def dump_state(self) -> str:
        """A readable summary of the scheduler and workers, for a test that timed out."""
        lines = []
        if self.scheduler is not None:
            state = self.scheduler.state
            lines.append(f"scheduler {self.scheduler_address}: {state.task_states_counts()}")
            for key, ts in list(state.tasks.items())[:50]:
                where = ts.processing_on.name if ts.processing_on is not None else ""
                lines.append(f"  {key!r}: {ts.state} {where} who_has={[w.name for w in ts.who_has]}")
        for w in self.workers:
            if w.state is not None:
                tasks = {k: t.state for k, t in list(w.state.tasks.items())[:50]}
                lines.append(f"worker {w.address} ({w.status}): running={dict(w.state.running)} tasks={tasks}")
        return "\n".join(lines)

    async def __aenter__(self) -> "InProcessCluster":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()
