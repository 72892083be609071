"""``python -m scheduler`` / ``pardata-scheduler``: run a scheduler until told to stop.

SIGTERM and SIGINT close it cleanly (workers are told to leave). With
``--scheduler-file PATH`` the address is written there as JSON once listening, so
workers and clients started at the same time can find it. When the environment
variable ``PARDATA_EXIT_WITH_PARENT`` holds a process id, the scheduler exits once
that parent is gone (``LocalCluster`` uses it so that no process outlives its user).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from pardata._gctune import tune_for_server

from .server import SchedulerServer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pardata-scheduler", description="Run a pardata scheduler.")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    p.add_argument(
        "--dashboard-address",
        default="127.0.0.1:8787",
        help="HOST:PORT or :PORT of the dashboard (default 127.0.0.1:8787, another free port if taken; "
        "'none' turns it off)",
    )
    p.add_argument("--no-dashboard", dest="dashboard_address", action="store_const", const=None,
                   help="serve no dashboard")
    p.add_argument("--scheduler-file", default=None, help="write the address here as JSON")
    p.add_argument("--log-level", default="INFO")
    return p


def write_scheduler_file(path: str, address: str, **extra) -> None:
    """Write ``{"address": ...}`` atomically, so a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump({"address": address, "pid": os.getpid(), **extra}, f)
    os.replace(tmp, path)


async def watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once process ``parent`` is no longer our parent."""
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(0.5)


async def _run(args: argparse.Namespace) -> None:
    host = args.host
    address = f"tcp://[{host}]:{args.port}" if ":" in host else f"tcp://{host}:{args.port}"
    server = SchedulerServer(address, dashboard_address=args.dashboard_address)
    await server.start()
    tune_for_server()
    if args.scheduler_file:
        write_scheduler_file(args.scheduler_file, server.address, dashboard=server.dashboard_link)
    logging.getLogger("pardata.scheduler").info("pardata scheduler at %s", server.address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = None
    parent = os.environ.get("PARDATA_EXIT_WITH_PARENT")
    if parent:
        watcher = loop.create_task(watch_parent(int(parent), stop))
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await server.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
