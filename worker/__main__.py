"""``python -m worker`` / ``pardata-worker SCHEDULER_ADDRESS``: run one worker.

The worker exits when the scheduler closes it or goes away, on SIGTERM/SIGINT, and
(when ``PARDATA_EXIT_WITH_PARENT`` holds a process id) once that parent is gone.
``--scheduler-file`` may replace the address: the worker waits for the file to appear,
so a scheduler and its workers can be started at the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading

from pardata._units import parse_bytes

from .server import WorkerServer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pardata-worker", description="Run a pardata worker.")
    p.add_argument("scheduler_address", nargs="?", default=None, help="e.g. tcp://127.0.0.1:8786")
    p.add_argument("--scheduler-file", default=None, help="read the scheduler address from this JSON file")
    p.add_argument("--nthreads", type=int, default=0, help="threads running tasks (default: all cores)")
    p.add_argument("--memory-limit", default="auto", help="e.g. 4GiB, 0 (none) or auto (machine memory)")
    p.add_argument("--local-directory", default=None, help="scratch space (spilled data, later)")
    p.add_argument("--name", default="", help="a label for this worker (default: its address)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--resources", default="", help='abstract resources for restrictions, e.g. "GPU=2,FOO=1"')
    p.add_argument("--log-level", default="INFO")
    return p


def parse_resources(text: str) -> dict[str, float]:
    """``"GPU=2,FOO=0.5"`` -> ``{"GPU": 2.0, "FOO": 0.5}``."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, amount = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"pardata-worker: --resources expects NAME=AMOUNT pairs, got {item!r}")
        out[name.strip()] = float(amount)
    return out


def memory_limit(value: str, nworkers: int = 1) -> int:
    """``"auto"`` (the machine's memory / ``nworkers``), ``"0"`` (none) or a size."""
    if str(value).lower() == "auto":
        import psutil

        return int(psutil.virtual_memory().total // max(nworkers, 1))
    if str(value).lower() in ("0", "none", ""):
        return 0
    return int(parse_bytes(value))


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
            await asyncio.sleep(0.02)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(0.5)


async def _run(args: argparse.Namespace) -> None:
    address = await _scheduler_address(args)
    worker = WorkerServer(
        address,
        nthreads=args.nthreads or os.cpu_count() or 1,
        memory_limit=memory_limit(args.memory_limit),
        name=args.name,
        host=args.host,
        local_directory=args.local_directory,
        resources=parse_resources(args.resources),
    )
    await worker.start()
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_run(args))
    # Threads still running tasks must not keep a closed worker's process alive.
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for thread in busy:
        thread.join(timeout=1.0 / max(len(busy), 1))
    if any(t.is_alive() for t in busy):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
