"""``LocalCluster``: a scheduler and workers on this machine, listening on 127.0.0.1.

With ``processes=True`` (the default) the scheduler and each worker are separate
processes (``python -m scheduler``, ``python -m worker``), all started at once: the
workers wait for the scheduler's address file, so start-up costs about one
interpreter start, not N+1 in a row. Children exit by themselves if this process
dies. Each worker runs under a nanny process (``nanny=False`` to run them bare) that
restarts it if it dies or outgrows its ``memory_limit`` ("auto": the machine's or its
cgroup's memory divided among the workers). With ``processes=False`` the servers
run on the shared client loop thread of this process, which is fast to start and easy
to inspect, at the price of the GIL.

Safe by default: unless given ``security=``, a cluster makes a fresh secret
(``Security(auth_secret=new_secret())``) that every connection to its scheduler and
workers must prove it knows. Child processes get it through their environment (never
their command line, which ``ps`` shows) and ``Client(cluster)`` takes it from
``cluster.security``. A ``security`` with TLS files (``Security.temporary()`` in tests)
puts the whole cluster on ``tls://``.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref

from pardata.comm import connect
from pardata.comm import messages as m
from pardata.security import AUTH_FILE_ENV, ENV_VAR, REQUIRE_ENCRYPTION_ENV, TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV
from pardata.security import Security, new_secret

from ._loop import LoopThread

__all__ = ["LocalCluster"]

_open_clusters: "weakref.WeakSet[LocalCluster]" = weakref.WeakSet()


@atexit.register
def _close_open_clusters() -> None:
    """A script that never closed its cluster still leaves no process or directory."""
    for cluster in list(_open_clusters):
        try:
            cluster.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _sizing(n_workers, threads_per_worker, processes: bool) -> tuple[int, int]:
    cores = os.cpu_count() or 1
    if n_workers is None and threads_per_worker is None:
        if not processes:
            return 1, cores
        n = cores if cores <= 4 else max(math.isqrt(cores), 2)
        return n, max(cores // n, 1)
    if n_workers is None:
        return max(cores // threads_per_worker, 1), threads_per_worker
    if threads_per_worker is None:
        return n_workers, max(cores // max(n_workers, 1), 1)
    return n_workers, threads_per_worker


def _memory_limit(value, n_workers: int) -> int:
    if value is None or value == 0 or value == "0":
        return 0
    if isinstance(value, str) and value.lower() == "auto":
        from pardata._system import system_memory

        return int(system_memory() // max(n_workers, 1))
    if isinstance(value, str):
        from pardata._units import parse_bytes

        return int(parse_bytes(value))
    if isinstance(value, float) and value <= 1:
        from pardata._system import system_memory

        return int(system_memory() * value)
    return int(value)


def _worker_flags(options: dict) -> list[str]:
    """Command-line flags of ``python -m worker`` for ``worker_options`` (processes only)."""
    flags: list[str] = []
    options = dict(options)
    for name, value in (options.pop("memory_thresholds", None) or {}).items():
        flags += [f"--memory-{name}", "false" if value in (None, False) else str(value)]
    if options.get("max_spill") is not None:
        flags += ["--max-spill", str(options.pop("max_spill"))]
    options.pop("max_spill", None)
    if options:
        raise TypeError(f"worker_options not supported with processes=True: {', '.join(sorted(options))}")
    return flags


#: Inherited security settings a child must not see: it gets the cluster's own.
_SECURITY_ENV = (ENV_VAR, AUTH_FILE_ENV, TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV, REQUIRE_ENCRYPTION_ENV)


async def _query_once(address: str, name: str, timeout: float, security=None):
    comm = await connect(address, timeout=timeout, name="local-cluster", security=security)
    try:
        await comm.write(m.Query(request_id=1, name=name))
        reply = await comm.read()
        return reply.data
    finally:
        comm.abort()


class LocalCluster:
    """A cluster on this machine; pass it (or nothing) to ``Client``.

    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster:   # doctest: +SKIP
    ...     client = Client(cluster)
    """

    def __init__(
        self,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        memory_limit="auto",
        processes: bool = True,
        dashboard_address=":8787",
        *,
        timeout: float = 60.0,
        scheduler_options: dict | None = None,
        worker_options: dict | None = None,
        nanny: bool | None = None,
        security: Security | None = None,
    ) -> None:
        self.n_workers, self.threads_per_worker = _sizing(n_workers, threads_per_worker, processes)
        self.memory_limit = _memory_limit(memory_limit, self.n_workers)
        self.processes = processes
        self.nanny = processes if nanny is None else bool(nanny)
        if self.nanny and not processes:
            raise ValueError("nanny=True needs processes=True: a nanny restarts worker processes")
        self._worker_flags = _worker_flags(worker_options or {}) if processes else []
        self.dashboard_address = dashboard_address  # None: no dashboard; a taken port falls back to a free one
        self.timeout = timeout
        #: What every connection to this cluster needs (``Client(cluster)`` uses it).
        self.security = security if security is not None else Security(auth_secret=new_secret())
        self.status = "starting"
        self.scheduler_process: subprocess.Popen | None = None
        self.worker_processes: list[subprocess.Popen] = []
        self._inprocess = None
        self._dir = tempfile.mkdtemp(prefix="pardata-cluster-")
        _open_clusters.add(self)
        self._runner = LoopThread.acquire()
        try:
            if processes:
                self._start_processes()
            else:
                from ._inprocess import InProcessCluster

                cluster = InProcessCluster(
                    self.n_workers, self.threads_per_worker, self.memory_limit, security=self.security,
                    scheduler_options={"dashboard_address": dashboard_address, **(scheduler_options or {})},
                    worker_options=worker_options,
                )
                self._inprocess = self._runner.run(cluster.start(), timeout)
                self.scheduler_address = cluster.scheduler_address
        except BaseException:
            self.close()
            raise
        self.status = "running"

    # --- processes -----------------------------------------------------------------------

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _SECURITY_ENV}
        env.update(self.security.child_env())
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["PARDATA_EXIT_WITH_PARENT"] = str(os.getpid())
        env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", *args, "--log-level", "WARNING"],
            env=self._env(),
            stdin=subprocess.DEVNULL,
        )

    def _start_processes(self) -> None:
        self._scheduler_file = os.path.join(self._dir, "scheduler.json")
        self.scheduler_process = self._spawn(["scheduler", "--host", "127.0.0.1", "--port", "0",
                                              "--scheduler-file", self._scheduler_file,
                                              "--dashboard-address", str(self.dashboard_address or "none")])
        for i in range(self.n_workers):
            self.worker_processes.append(self._start_worker(str(i)))
        self.scheduler_address = self._read_address()
        self.wait_for_workers(self.n_workers, self.timeout)

    def _start_worker(self, name: str) -> subprocess.Popen:
        return self._spawn([
            "worker", "--scheduler-file", self._scheduler_file, "--name", name,
            "--nthreads", str(self.threads_per_worker), "--memory-limit", str(self.memory_limit),
            "--local-directory", self._dir, "--host", "127.0.0.1",
            "--nanny" if self.nanny else "--no-nanny", *self._worker_flags,
        ])

    def _read_address(self) -> str:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with open(self._scheduler_file) as f:
                    return json.load(f)["address"]
            except (FileNotFoundError, ValueError, KeyError):
                if self.scheduler_process.poll() is not None:
                    raise RuntimeError(f"the scheduler process exited with code {self.scheduler_process.returncode}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the scheduler did not start within {self.timeout}s")
                time.sleep(0.01)

    def wait_for_workers(self, n: int, timeout: float | None = None) -> None:
        """Block until ``n`` workers are connected to the scheduler."""
        timeout = timeout or self.timeout
        self._runner.run(self._wait_for_workers(n, timeout), timeout + 15.0)

    async def _wait_for_workers(self, n: int, timeout: float) -> None:
        # One connection asked every 10 ms: a connection per question would cost this
        # process and the scheduler milliseconds of CPU each, while every core is busy
        # starting the cluster's processes.
        deadline = time.monotonic() + timeout
        comm = await connect(self.scheduler_address, timeout=10.0, name="local-cluster", security=self.security)
        try:
            for request_id in itertools.count(1):
                await comm.write(m.Query(request_id=request_id, name="nthreads"))
                nthreads = (await asyncio.wait_for(comm.read(), 10.0)).data
                if len(nthreads) >= n:
                    return
                dead = [p for p in self.worker_processes if p.poll() is not None]
                if dead and len(self.worker_processes) - len(dead) < n:
                    raise RuntimeError(f"{len(dead)} worker process(es) exited during start-up")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {len(nthreads)} of {n} workers connected within {timeout}s")
                await asyncio.sleep(0.01)
        finally:
            comm.abort()

    def restart_workers(self, timeout: float | None = None) -> None:
        """Replace every worker process with a fresh one (processes=True only)."""
        if not self.processes:
            return
        old = self.worker_processes
        _stop(old, signal.SIGKILL)
        self.worker_processes = [self._start_worker(str(i)) for i in range(self.n_workers)]
        self.wait_for_workers(self.n_workers, timeout)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def workers(self) -> list:
        """Worker processes (``processes=True``; their nannies, with ``nanny=True``) or
        in-process ``WorkerServer``s."""
        if self._inprocess is not None:
            return list(self._inprocess.workers)
        return list(self.worker_processes)

    @property
    def scheduler(self):
        """The in-process ``SchedulerServer`` (``processes=False``), else its process."""
        return self._inprocess.scheduler if self._inprocess is not None else self.scheduler_process

    @property
    def dashboard_link(self) -> str | None:
        """The URL of the scheduler's dashboard, or None when it serves none."""
        if self._inprocess is not None:
            return self._inprocess.scheduler.dashboard_link
        try:
            with open(self._scheduler_file) as f:
                return json.load(f).get("dashboard")
        except (AttributeError, OSError, ValueError):
            return None

    def close(self) -> None:
        if self.status == "closed":
            return
        self.status = "closed"
        try:
            if self._inprocess is not None:
                self._runner.run(self._inprocess.close(), 30)
            procs = [p for p in [self.scheduler_process, *self.worker_processes] if p is not None]
            _stop(procs, signal.SIGTERM)
        finally:
            LoopThread.release(self._runner)
            shutil.rmtree(self._dir, ignore_errors=True)
            _open_clusters.discard(self)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "status", "closed") != "closed":
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __repr__(self) -> str:
        kind = "processes" if self.processes else "in-process"
        return (f"<LocalCluster {getattr(self, 'scheduler_address', '?')} {self.n_workers} workers x "
                f"{self.threads_per_worker} threads ({kind}) {self.status}>")


def _stop(procs: list, sig: int, grace: float = 5.0) -> None:
    """Signal processes, wait up to ``grace`` seconds, then kill what is left; reap all."""
    for p in procs:
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
