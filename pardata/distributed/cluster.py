"""``LocalCluster``: a scheduler and workers on this machine, listening on 127.0.0.1.

With ``processes=True`` (the default) the scheduler and each worker are separate
processes (``python -m scheduler``, ``python -m worker``), all started at once: the
workers wait for the scheduler's address file, so start-up costs about one
interpreter start, not N+1 in a row. Children exit by themselves if this process
dies. Each worker runs under a ``Nanny`` (``nanny=False`` to run them bare) that
restarts it if it dies or outgrows its ``memory_limit`` ("auto": the machine's or its
cgroup's memory divided among the workers), and keeps its spill directory so that a
restarted worker finds its spilled results again. The nannies run on this process's
event loop thread, as Dask's do, not as processes of their own: on a small machine
every interpreter start-up counts. With ``processes=False`` the servers
run on the shared client loop thread of this process, which is fast to start and easy
to inspect, at the price of the GIL.

Safe by default: unless given ``security=``, a cluster makes a fresh secret
(``Security(auth_secret=new_secret())``) that every connection to its scheduler and
workers must prove it knows. Child processes get it through their environment (never
their command line, which ``ps`` shows) and ``Client(cluster)`` takes it from
``cluster.security``. A ``security`` with TLS files (``Security.temporary()`` in tests)
puts the whole cluster on ``tls://``; ``security=True`` does that with a temporary CA,
as in Dask, and ``security=False`` turns authentication off (with a logged warning).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref

from pardata import config
from pardata._nanny import Nanny, NannyRestart
from pardata._units import parse_timedelta
from pardata.comm import CommError, connect
from pardata.comm import messages as m
from pardata.security import AUTH_FILE_ENV, ENV_VAR, REQUIRE_ENCRYPTION_ENV, TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV
from pardata.security import Security, new_secret

from ._loop import LoopThread

__all__ = ["LocalCluster"]

logger = logging.getLogger("pardata.distributed.cluster")

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


def _cluster_security(security: Security | bool | None) -> Security:
    """None: a fresh secret; True (as in Dask): a fresh secret and a temporary TLS CA;
    False: no authentication at all (logged: any local user could run code here)."""
    if security is None:
        return Security(auth_secret=new_secret())
    if security is True:
        return Security.temporary(auth_secret=new_secret())
    if security is False:
        logging.getLogger("pardata.distributed").warning(
            "LocalCluster(security=False): no authentication; anyone who can reach its ports can run code in it")
        return Security()
    if not isinstance(security, Security):
        raise TypeError(f"security= takes a pardata.security.Security, True or False, not {type(security).__name__}")
    return security


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
        security: Security | bool | None = None,
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
        self.security = _cluster_security(security)
        self.status = "starting"
        self.scheduler_process: subprocess.Popen | None = None
        #: One per worker with ``nanny=True`` (processes), on this process's loop thread.
        self.nannies: list[Nanny] = []
        self._bare_workers: list[subprocess.Popen] = []
        self._nanny_homes: list[str] = []  # the nannies' spill directories live here
        self._terminate = _terminate_fraction(worker_options or {})
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
        self._start_workers()
        self.scheduler_address = self._read_address()
        self.wait_for_workers(self.n_workers, self.timeout)

    @property
    def worker_processes(self) -> list[subprocess.Popen]:
        """The worker processes now running (a nanny's current child, after a restart)."""
        if self.nannies:
            return [n.process for n in self.nannies if n.process is not None]
        return list(self._bare_workers)

    def _worker_args(self, name: str) -> list[str]:
        return ["worker", "--scheduler-file", self._scheduler_file, "--name", name,
                "--nthreads", str(self.threads_per_worker), "--memory-limit", str(self.memory_limit),
                "--local-directory", self._dir, "--host", "127.0.0.1", "--no-nanny", *self._worker_flags]

    def _start_workers(self) -> None:
        names = [str(i) for i in range(self.n_workers)]
        if not self.nanny:
            self._bare_workers = [self._spawn(self._worker_args(name)) for name in names]
            return
        self.nannies = [self._nanny(name) for name in names]
        self._runner.run(_gather(*(n.start() for n in self.nannies)), self.timeout)

    def _nanny(self, name: str) -> Nanny:
        """A nanny for worker ``name``: its spill directory outlives its restarts."""
        home = tempfile.mkdtemp(prefix=f"nanny-{name}-", dir=self._dir)
        self._nanny_homes.append(home)
        argv = [sys.executable, "-m", *self._worker_args(name), "--spill-directory", os.path.join(home, "spill"),
                "--log-level", "WARNING"]
        return Nanny(
            argv,
            memory_limit=self.memory_limit or None,
            terminate_fraction=self._terminate,
            base_env=self._env(),
            max_restarts=int(config.get("worker.nanny.max-restarts", 5)),
            restart_window=parse_timedelta(config.get("worker.nanny.restart-window", 60.0)),
            backoff=parse_timedelta(config.get("worker.nanny.backoff", 0.5)),
            on_restart=self._reporter(name, "restarted"),
            on_give_up=self._reporter(name, "gave-up"),
            before_memory_kill=self._reporter(name, "killing"),
        )

    def _reporter(self, name: str, event: str):
        """A nanny callback telling the scheduler (``NannyReport``), as a worker's own
        nanny process does: the scheduler keeps restarts and says why a worker left."""
        async def report(record: NannyRestart) -> None:
            try:
                comm = await connect(self.scheduler_address, timeout=5.0, name=f"nanny {name}",
                                     security=self.security)
                try:
                    await comm.write(m.NannyReport(name=name, event=event, reason=record.reason,
                                                   message=record.message, count=record.count,
                                                   old_pid=record.old_pid, new_pid=record.new_pid or 0))
                    await comm.read()  # the ack: the scheduler has taken note
                finally:
                    comm.abort()
            except (CommError, OSError, asyncio.TimeoutError) as exc:
                logger.warning("could not tell the scheduler that worker %s %s: %s", name, event, exc)
        return report

    def _stop_workers(self, sig: int) -> None:
        """Stop every worker process (and its nanny) with ``sig``; reap them."""
        if self.nannies:
            nannies, self.nannies = self.nannies, []
            try:
                self._runner.run(_gather(*(n.stop(sig) for n in nannies)), 30)
            except RuntimeError:  # on the loop thread itself (a finalizer): no waiting there
                _stop([n.process for n in nannies if n.process is not None], signal.SIGKILL)
            homes, self._nanny_homes = self._nanny_homes, []
            for home in homes:  # what the stopped workers spilled is of no use to new ones
                shutil.rmtree(home, ignore_errors=True)
        bare, self._bare_workers = self._bare_workers, []
        _stop(bare, sig)

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
                if self.nannies:  # a nanny restarts a worker that died; it may give up
                    dead = [nanny for nanny in self.nannies if nanny.status in ("failed", "finished")]
                    alive = len(self.nannies) - len(dead)
                else:
                    dead = [p for p in self._bare_workers if p.poll() is not None]
                    alive = len(self._bare_workers) - len(dead)
                if dead and alive < n:
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
        self._stop_workers(signal.SIGKILL)
        self._start_workers()
        self.wait_for_workers(self.n_workers, timeout)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def workers(self) -> list:
        """Worker processes (``processes=True``) or in-process ``WorkerServer``s."""
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
            if self.scheduler_process is not None and self.scheduler_process.poll() is None:
                self.scheduler_process.send_signal(signal.SIGTERM)  # it closes while the workers do
            self._stop_workers(signal.SIGTERM)
            if self.scheduler_process is not None:
                _stop([self.scheduler_process], signal.SIGTERM)
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


async def _gather(*aws) -> list:
    return await asyncio.gather(*aws)


def _terminate_fraction(worker_options: dict):
    """The nanny's kill threshold from ``worker_options`` (None: the configured one)."""
    thresholds = worker_options.get("memory_thresholds") or {}
    if "terminate" not in thresholds:
        return None
    return thresholds["terminate"] or False  # None or False: never kill for memory


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
