"""``python -m worker`` / ``pardata-worker SCHEDULER_ADDRESS``: run one worker.

By default (``--nanny``) this process is the worker's nanny: it starts the worker as a
child (``--no-nanny``), restarts it when it dies or its memory crosses the terminate
threshold, and tells the scheduler (``worker-restarted``). The child keeps its spilled
results in a directory the nanny owns, so a restarted worker finds them again.

The worker exits when the scheduler closes it or goes away, on SIGTERM/SIGINT, and
(when ``PARDATA_EXIT_WITH_PARENT`` holds a process id) once that parent is gone; its
nanny then exits too. A worker the scheduler dropped for silence (a network partition)
or whose scheduler connection broke exits with ``REJOIN_EXIT_CODE`` instead, so its
nanny starts a fresh worker that registers again (within the nanny's restart limit).
``--scheduler-file`` may replace the address: the worker waits for the file to appear,
so a scheduler and its workers can be started at the same moment.

A worker needs the cluster secret: ``--auth-file PATH``, ``$PARDATA_AUTH_SECRET`` or
``$PARDATA_AUTH_FILE``, or else the ``auth_file`` that ``pardata-scheduler`` recorded
in ``--scheduler-file``. Without any it refuses to start (its port would run code for
anyone), unless ``--no-auth`` says that is intended. The TLS options are the
scheduler's; the worker listens on ``tls://`` when the scheduler's address is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading

from pardata import config
from pardata._security_options import add_cli_options, has_secret_source
from pardata._units import parse_bytes, parse_timedelta

from .memory.monitor import parse_memory_limit, thresholds_from_config

# The worker server (and the comm layer) are imported where they are used: a nanny
# process needs neither to start its worker, and starts it sooner without them; the
# nanny likewise, which a worker process never needs.

__all__ = ["main", "REJOIN_EXIT_CODE"]

#: Exit code of a worker that the scheduler dropped (it went silent, e.g. behind a
#: network partition) or whose scheduler connection broke: not a clean exit, so its
#: nanny starts a fresh worker, which registers again (EX_TEMPFAIL: try again).
REJOIN_EXIT_CODE = 75


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pardata-worker", description="Run a pardata worker.")
    p.add_argument("scheduler_address", nargs="?", default=None, help="e.g. tcp://127.0.0.1:8786")
    p.add_argument("--scheduler-file", default=None, help="read the scheduler address from this JSON file")
    p.add_argument("--nthreads", type=int, default=0, help="threads running tasks (default: all cores)")
    p.add_argument("--memory-limit", default="auto",
                   help="e.g. 4GiB, 0 (none) or auto (the machine's or cgroup's memory; the default)")
    for name in ("target", "spill", "pause", "terminate"):
        p.add_argument(f"--memory-{name}", type=_fraction, default=None, metavar="FRACTION",
                       help=f"override worker.memory.{name} (a fraction of the limit, or 'false')")
    p.add_argument("--max-spill", default=None, help="cap on spilled bytes on disk, e.g. 50GiB (default: none)")
    p.add_argument("--nanny", action=argparse.BooleanOptionalAction, default=True,
                   help="run the worker under a nanny process that restarts it (default: yes)")
    p.add_argument("--spill-directory", default=None, help=argparse.SUPPRESS)  # given by the nanny
    p.add_argument("--local-directory", default=None, help="scratch space (spilled data)")
    p.add_argument("--name", default="", help="a label for this worker (default: its address)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--resources", default="", help='abstract resources for restrictions, e.g. "GPU=2,FOO=1"')
    p.add_argument("--log-level", default="INFO")
    add_cli_options(p)
    return p


def _check_secret_source(args: argparse.Namespace) -> None:
    """Fail at once, before any process starts, when no secret can be found anywhere."""
    if not (has_secret_source(args) or args.scheduler_file):  # the file may name one
        raise SystemExit(_NO_SECRET)


_NO_SECRET = ("pardata-worker: no cluster secret: pass --auth-file PATH (the file pardata-scheduler wrote), "
              "set PARDATA_AUTH_SECRET, or --no-auth to run without authentication")


def worker_security(args: argparse.Namespace):
    """The worker's ``Security``; the scheduler file's ``auth_file`` is the last resort."""
    from pardata.security import security_from_cli

    fallback = None
    if args.scheduler_file:
        try:
            with open(args.scheduler_file) as f:
                fallback = json.load(f).get("auth_file")
        except (OSError, ValueError, AttributeError):
            fallback = None
    security = security_from_cli(args, "pardata-worker", auth_file=fallback)
    if security.auth_secret is None and not args.no_auth:
        raise SystemExit(_NO_SECRET)
    return security


def parse_resources(text: str) -> dict[str, float]:
    """``"GPU=2,FOO=0.5"`` -> ``{"GPU": 2.0, "FOO": 0.5}``."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, amount = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"pardata-worker: --resources expects NAME=AMOUNT pairs, got {item!r}")
        out[name.strip()] = float(amount)
    return out


def _fraction(text: str) -> float | bool:
    if text.strip().lower() in ("false", "none", "off"):
        return False
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.8, or 'false', got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a memory threshold is a fraction in (0, 1], got {value}")
    return value


def memory_limit(value: str, nworkers: int = 1) -> int:
    """``"auto"`` (the machine's or cgroup's memory / ``nworkers``), ``"0"`` (none) or a size."""
    return parse_memory_limit(value, nworkers) or 0


def _thresholds(args: argparse.Namespace) -> dict:
    names = ("target", "spill", "pause", "terminate")
    return {n: getattr(args, f"memory_{n}") for n in names if getattr(args, f"memory_{n}") is not None}


async def _scheduler_address(args: argparse.Namespace, timeout: float = 60.0) -> str:
    if args.scheduler_address:
        return args.scheduler_address
    if not args.scheduler_file:
        raise SystemExit("pardata-worker: give SCHEDULER_ADDRESS or --scheduler-file")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            with open(args.scheduler_file) as f:
                return json.load(f)["address"]
        except (FileNotFoundError, ValueError, KeyError):
            if loop.time() > deadline:
                raise SystemExit(f"pardata-worker: no scheduler file at {args.scheduler_file} after {timeout}s")
            await asyncio.sleep(0.005)  # a stat() per look: cheap, and the scheduler is near


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(0.5)


async def _run(args: argparse.Namespace) -> int:
    """Run the worker until it closes; the exit code (``REJOIN_EXIT_CODE`` when the
    scheduler would take a fresh worker back, else 0)."""
    from .server import WorkerServer

    address = await _scheduler_address(args)
    security = worker_security(args)
    worker = WorkerServer(
        address,
        nthreads=args.nthreads or os.cpu_count() or 1,
        memory_limit=memory_limit(args.memory_limit),
        name=args.name,
        host=args.host,
        local_directory=args.local_directory,
        resources=parse_resources(args.resources),
        memory_thresholds=_thresholds(args),
        max_spill=parse_bytes(args.max_spill) if args.max_spill else None,
        spill_directory=args.spill_directory,
        security=security,
    )
    from pardata.comm import AuthenticationError

    try:
        await worker.start()
    except AuthenticationError as e:  # permanent, and says why: one line, not a traceback
        raise SystemExit(f"pardata-worker: {e}") from None
    from pardata._gctune import tune_for_server

    tune_for_server(young=10_000, older=10)  # values may be user data: collect cycles sooner
    logging.getLogger("pardata.worker").info("pardata worker at %s", worker.address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.environ.get("PARDATA_EXIT_WITH_PARENT")
    watchers = [loop.create_task(stop.wait()), loop.create_task(worker.finished())]
    if parent:
        watchers.append(loop.create_task(_watch_parent(int(parent), stop)))
    await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    await worker.close("the worker process is stopping")
    if worker.rejoin and not stop.is_set():
        logging.getLogger("pardata.worker").info("exiting with code %d so that a fresh worker registers again",
                                                 REJOIN_EXIT_CODE)
        return REJOIN_EXIT_CODE
    return 0


async def _run_nanny(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the worker as a child process under a ``Nanny`` until told to stop."""
    from .nanny import Nanny, NannyRestart  # here: a worker under a nanny never needs it

    log = logging.getLogger("pardata.worker")
    if not args.scheduler_address and not args.scheduler_file:
        raise SystemExit("pardata-worker: give SCHEDULER_ADDRESS or --scheduler-file")
    _check_secret_source(args)
    limit = memory_limit(args.memory_limit)
    root = args.local_directory or os.path.join(tempfile.gettempdir(), "pardata-worker-space")
    os.makedirs(root, exist_ok=True)
    home = tempfile.mkdtemp(prefix="nanny-", dir=root)
    # The child gets our scheduler address or file and starts at once: with a file it
    # waits for the scheduler itself, so its start-up overlaps the scheduler's.
    child = [sys.executable, "-m", "worker", *argv, "--no-nanny", "--memory-limit", str(limit),
             "--spill-directory", os.path.join(home, "spill")]
    name = args.name or f"nanny-{os.getpid()}"

    def reporter(event: str):
        async def report(record: NannyRestart) -> None:
            from pardata.comm import CommError, connect
            from pardata.comm import messages as m

            try:
                address = await _scheduler_address(args)
                comm = await connect(address, timeout=5.0, name=f"nanny {name}", security=worker_security(args))
                try:
                    await comm.write(m.NannyReport(name=name, event=event, reason=record.reason,
                                                   message=record.message, count=record.count,
                                                   old_pid=record.old_pid, new_pid=record.new_pid or 0))
                    await comm.read()  # the ack: the scheduler has taken note
                finally:
                    comm.abort()
            except (CommError, OSError, asyncio.TimeoutError, SystemExit) as exc:
                log.warning("could not tell the scheduler that its worker %s: %s", event, exc)
        return report

    nanny = Nanny(
        child,
        memory_limit=limit or None,
        terminate_fraction=thresholds_from_config(**_thresholds(args)).terminate,
        env={"PARDATA_EXIT_WITH_PARENT": str(os.getpid())},
        max_restarts=int(config.get("worker.nanny.max-restarts", 5)),
        restart_window=parse_timedelta(config.get("worker.nanny.restart-window", 60.0)),
        backoff=parse_timedelta(config.get("worker.nanny.backoff", 0.5)),
        on_restart=reporter("restarted"),
        on_give_up=reporter("gave-up"),
        before_memory_kill=reporter("killing"),
        kill_with_parent=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchers = [loop.create_task(stop.wait())]
    parent = os.environ.get("PARDATA_EXIT_WITH_PARENT")
    if parent:
        watchers.append(loop.create_task(_watch_parent(int(parent), stop)))
    try:
        await nanny.start()
        watchers.append(loop.create_task(nanny.wait()))
        await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
        await nanny.stop()
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        shutil.rmtree(home, ignore_errors=True)
    return 1 if nanny.status == "failed" else 0


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(raw)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.nanny:
        return asyncio.run(_run_nanny(args, raw))
    code = asyncio.run(_run(args))
    # Threads still running tasks must not keep a closed worker's process alive.
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for thread in busy:
        thread.join(timeout=1.0 / max(len(busy), 1))
    if any(t.is_alive() for t in busy):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
