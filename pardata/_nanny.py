"""``Nanny``: keep one worker process alive and within its memory.

The nanny starts the worker as a child command, then looks every ``poll_interval``
seconds at two things: whether the child exited, and its RSS (psutil). A child whose
RSS reaches ``terminate`` (0.95 by default, ``worker.memory.terminate``) of the memory
limit is killed at once (SIGKILL: it is about to be killed by the kernel anyway, and a
SIGTERM handler could allocate more) and restarted. A child that dies by itself is
restarted too, unless it exited with code 0 (a clean close), or the nanny was stopped.

Restarts back off exponentially (``backoff * 2**k`` for the k-th restart within the
window, at most ``max_backoff``) and are bounded: after ``max_restarts`` within
``restart_window`` seconds the nanny gives up and reports it, rather than loop forever
on a worker that cannot start. Every restart is reported through ``on_restart`` with the
reason (exit code, signal or memory), which its owner forwards to the scheduler.

The child's environment gets ``MALLOC_TRIM_THRESHOLD_`` (so glibc returns freed memory to
the OS and RSS follows the spill) and one thread for OpenMP/OpenBLAS/MKL (the worker runs
tasks in parallel already). These must be set before the child starts, which is why the
nanny, not the worker, sets them. With ``kill_with_parent`` (Linux, single-threaded
owners only: it runs code between fork and exec) the child is killed when the nanny
dies, so a killed nanny process never leaves an orphan worker behind.

The nanny is a plain object on an asyncio loop, not a process of its own: ``python -m
worker`` runs one in a small parent process (see ``worker.__main__``), and
``LocalCluster`` runs one per worker on its own event loop thread, as Dask's in-process
nanny does, so a cluster of N workers costs N interpreter start-ups, not 2N. It lives in
``pardata`` (not ``worker``) for that reason: it only starts a command line.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pardata import config
from pardata._units import format_size

__all__ = ["Nanny", "NannyRestart", "CHILD_ENV", "RESTARTS_ENV"]

logger = logging.getLogger("pardata.nanny")

#: Set in the child's environment unless the caller's ``env`` says otherwise.
CHILD_ENV = {
    "MALLOC_TRIM_THRESHOLD_": "65536",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
#: How many times the nanny has restarted the child ("0" at first start): a restarted
#: worker re-registers the values it had spilled (``SpillBuffer(recover=True)``), a fresh
#: one wipes its spill directory.
RESTARTS_ENV = "PARDATA_NANNY_RESTARTS"


@dataclass(frozen=True)
class NannyRestart:
    """One restart (or, with ``new_pid=None``, the nanny giving up)."""

    count: int
    reason: str  # "exit", "signal" or "memory"
    message: str
    old_pid: int
    new_pid: int | None
    exitcode: int | None = None
    signal: str | None = None
    rss: int | None = None


class Nanny:
    """Run ``argv`` as a child process; restart it when it dies or outgrows its memory.

    The child's environment is ``base_env`` (default: this process's), then
    ``CHILD_ENV``, then ``env``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        memory_limit: int | None = None,
        terminate_fraction: float | None = None,
        env: dict[str, str] | None = None,
        base_env: dict[str, str] | None = None,
        cwd: str | None = None,
        poll_interval: float = 0.1,
        max_restarts: int = 5,
        restart_window: float = 60.0,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        stop_timeout: float = 5.0,
        on_restart: Callable[[NannyRestart], Any] | None = None,
        on_give_up: Callable[[NannyRestart], Any] | None = None,
        before_memory_kill: Callable[[NannyRestart], Any] | None = None,
        stdout: Any = None,
        stderr: Any = None,
        kill_with_parent: bool = False,
    ) -> None:
        if not argv:
            raise ValueError("Nanny needs a command to run")
        if poll_interval <= 0:
            raise ValueError(f"Nanny poll_interval must be positive, got {poll_interval!r}")
        self.argv = [str(a) for a in argv]
        self.memory_limit = memory_limit
        if terminate_fraction is None:
            terminate_fraction = config.get("worker.memory.terminate", default=0.95)
        self.terminate_fraction = terminate_fraction or None
        self.env = dict(env or {})
        self.base_env = None if base_env is None else dict(base_env)
        self.cwd = cwd
        self.poll_interval = poll_interval
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stop_timeout = stop_timeout
        self.on_restart = on_restart
        self.on_give_up = on_give_up
        self.before_memory_kill = before_memory_kill
        self._popen_options: dict[str, Any] = {"stdout": stdout, "stderr": stderr, "stdin": subprocess.DEVNULL}
        if kill_with_parent and _parent_death_signal() is not None:
            self._popen_options["preexec_fn"] = _die_with_parent
        #: "new", "running", "restarting", "stopped", "finished" (clean exit) or "failed".
        self.status = "new"
        self.restarts: list[NannyRestart] = []
        self._proc: subprocess.Popen | None = None
        self._watcher: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._recent: list[float] = []

    def child_env(self) -> dict[str, str]:
        """The child's environment: ``base_env`` (or ours), then ``CHILD_ENV``, then ``env``."""
        return {**(os.environ if self.base_env is None else self.base_env), **CHILD_ENV, **self.env}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def process(self) -> subprocess.Popen | None:
        """The current child process (``poll()``, ``wait()``, ``pid``), if started."""
        return self._proc

    @property
    def memory_kill_bytes(self) -> int | None:
        if not self.memory_limit or not self.terminate_fraction:
            return None
        return int(self.memory_limit * self.terminate_fraction)

    async def start(self) -> int:
        """Start the child and the watcher; return the child's pid."""
        if self.status != "new":
            raise RuntimeError(f"nanny already {self.status}")
        self._spawn(0)
        self._watcher = asyncio.ensure_future(self._watch())
        return self._proc.pid

    def _spawn(self, restarts: int) -> None:
        env = {**self.child_env(), RESTARTS_ENV: str(restarts)}
        self._proc = subprocess.Popen(self.argv, env=env, cwd=self.cwd, **self._popen_options)
        self.status = "running"
        logger.info("nanny started %s (pid %d)", self.argv[0], self._proc.pid)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the child (``sig``, then SIGKILL after ``stop_timeout``); no restart."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            if not await _exited(proc, self.stop_timeout):
                proc.kill()
                await _exited(proc, None)
        if self._watcher is not None:
            await self._watcher
        if self.status not in ("finished", "failed"):
            self.status = "stopped"

    async def wait(self) -> str:
        """Until the nanny is done (stopped, clean exit, or gave up); return the status."""
        if self._watcher is not None:
            await asyncio.shield(self._watcher)
        return self.status

    async def _watch(self) -> None:
        try:
            while True:
                proc = self._proc
                killed_rss = await self._supervise(proc)
                if self._stopping.is_set():
                    return
                record = self._describe(proc, killed_rss)
                if record is None:  # clean exit
                    self.status = "finished"
                    logger.info("worker (pid %d) exited cleanly; not restarting", proc.pid)
                    return
                if not await self._restart(record):
                    return
        except Exception:
            logger.exception("nanny watcher failed")
            self.status = "failed"
            raise

    async def _supervise(self, proc: subprocess.Popen) -> int | None:
        """Wait for ``proc`` to exit; kill it if it outgrows its memory (return that RSS)."""
        limit = self.memory_kill_bytes
        stopping = self._stopping
        while proc.poll() is None:
            try:  # a stop wakes us at once; otherwise look again after poll_interval
                await asyncio.wait_for(stopping.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass
            if stopping.is_set():
                await _exited(proc, None)  # stop() signals and reaps it
                return None
            if limit is None or proc.poll() is not None:
                continue
            rss = _rss(proc.pid)
            if rss is not None and rss >= limit:
                logger.warning("worker (pid %d) uses %s, over %.0f%% of its %s limit; killing it",
                               proc.pid, format_size(rss), 100 * self.terminate_fraction, format_size(self.memory_limit))
                if self.before_memory_kill is not None:  # e.g. tell the scheduler why, first
                    record = NannyRestart(len(self.restarts) + 1, "memory", self._memory_message(proc.pid, rss),
                                          proc.pid, None, None, "SIGKILL", rss)
                    try:
                        await asyncio.wait_for(_call(self.before_memory_kill, record), self.poll_interval * 10)
                    except asyncio.TimeoutError:
                        pass
                if proc.poll() is None:
                    try:
                        proc.kill()
                    except ProcessLookupError:  # it died meanwhile
                        pass
                await _exited(proc, None)
                return rss
        return None

    def _describe(self, proc: subprocess.Popen, killed_rss: int | None) -> NannyRestart | None:
        code = proc.returncode
        count = len(self.restarts) + 1
        if killed_rss is not None:
            msg = self._memory_message(proc.pid, killed_rss)
            return NannyRestart(count, "memory", msg, proc.pid, None, code, "SIGKILL", killed_rss)
        if code == 0:
            return None
        if code is not None and code < 0:
            name = _signal_name(-code)
            msg = f"worker (pid {proc.pid}) died by signal {name}"
            return NannyRestart(count, "signal", msg, proc.pid, None, code, name)
        return NannyRestart(count, "exit", f"worker (pid {proc.pid}) exited with code {code}",
                            proc.pid, None, code)

    def _memory_message(self, pid: int, rss: int) -> str:
        return (f"worker (pid {pid}) killed by its nanny: memory {format_size(rss)} "
                f"reached {self.terminate_fraction:.0%} of the {format_size(self.memory_limit)} limit")

    async def _restart(self, record: NannyRestart) -> bool:
        """Restart after ``record`` unless the restart budget is spent; False if given up."""
        now = time.monotonic()
        self._recent = [t for t in self._recent if now - t < self.restart_window]
        if len(self._recent) >= self.max_restarts:
            self.status = "failed"
            msg = (f"{record.message}; not restarting: {len(self._recent)} restarts "
                   f"in the last {self.restart_window:g} s")
            logger.error("nanny gives up: %s", msg)
            await _call(self.on_give_up, NannyRestart(**{**record.__dict__, "message": msg}))
            return False
        self.status = "restarting"
        delay = min(self.max_backoff, self.backoff * 2 ** len(self._recent))
        logger.warning("%s; restarting in %.2g s", record.message, delay)
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
            return False  # stopped while backing off
        except asyncio.TimeoutError:
            pass
        self._recent.append(time.monotonic())
        self._spawn(record.count)
        record = NannyRestart(**{**record.__dict__, "new_pid": self._proc.pid})
        self.restarts.append(record)
        await _call(self.on_restart, record)
        return True


async def _exited(proc: subprocess.Popen, timeout: float | None) -> bool:
    """Whether ``proc`` exited (and was reaped) within ``timeout`` seconds (None: ever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while proc.poll() is None:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)
    return True


_PRCTL = None


def _parent_death_signal():
    """libc's ``prctl`` (Linux), loaded before any fork, or None elsewhere."""
    global _PRCTL
    if _PRCTL is None and sys.platform.startswith("linux"):
        try:
            import ctypes

            _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
        except (OSError, AttributeError):
            _PRCTL = False
    return _PRCTL or None


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL me when the nanny dies (PR_SET_PDEATHSIG)."""
    _PRCTL(1, signal.SIGKILL)


def _rss(pid: int) -> int | None:
    import psutil  # here, not at import: a cluster without memory limits never needs it

    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


async def _call(callback: Callable | None, arg: Any) -> None:
    if callback is None:
        return
    try:
        result = callback(arg)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("nanny callback %r failed", callback)
