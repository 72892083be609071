"""``python -m scheduler`` / ``pardata-scheduler``: run a scheduler until told to stop.

SIGTERM and SIGINT close it cleanly (workers are told to leave). With
``--scheduler-file PATH`` the address is written there as JSON once listening, so
workers and clients started at the same time can find it. When the environment
variable ``PARDATA_EXIT_WITH_PARENT`` holds a process id, the scheduler exits once
that parent is gone (``LocalCluster`` uses it so that no process outlives its user).

Authentication is on by default. The cluster secret comes from ``--auth-file PATH``
(read; created with mode 0600 if it does not exist yet), ``$PARDATA_AUTH_SECRET`` or
``$PARDATA_AUTH_FILE``. With none of these a new secret is written to a 0600 file
next to ``--scheduler-file`` (``NAME.secret``; reused if it is already there, so a
restarted scheduler keeps its secret) or else in ``--local-directory``, and the path
is printed and recorded in the scheduler file as ``auth_file``. ``--no-auth`` turns
authentication off, loudly. ``--tls-ca-file/--tls-cert/--tls-key`` switch the
address to ``tls://``; ``--require-encryption`` refuses anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile

from pardata._gctune import tune_for_server
from pardata.security import Security, add_cli_options, security_from_cli, write_secret

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
    p.add_argument("--local-directory", default=None,
                   help="scratch space: where a new cluster secret goes without --scheduler-file "
                   "(default: a private directory in the system's temporary directory)")
    p.add_argument("--journal-directory", default=None,
                   help="keep a journal of submitted graphs and finished tasks here; a scheduler restarted "
                   "with the same directory (and address) resumes the work, and its workers and clients "
                   "reconnect (default: no journal)")
    p.add_argument("--recovery-grace", type=float, default=10.0,
                   help="seconds a resumed scheduler waits for the workers that held results (default 10)")
    p.add_argument("--log-level", default="INFO")
    add_cli_options(p)
    return p


def _private_directory(path: str | None) -> str:
    """``path``, or ``$TMPDIR/pardata-scheduler-UID``, made 0700 if new; refuses one
    that another user owns or could write to (they could swap the secret)."""
    path = path or os.path.join(tempfile.gettempdir(), f"pardata-scheduler-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise SystemExit(f"pardata-scheduler: {path} is owned or writable by another user; "
                         "give --local-directory or --auth-file")
    return path


def _secret_path(args: argparse.Namespace) -> str:
    """Where a secret nobody gave us goes: next to the scheduler file, else a new file."""
    if args.scheduler_file:
        stem = os.path.splitext(os.path.abspath(args.scheduler_file))[0]
        path = stem + ".secret"
        return path if path != os.path.abspath(args.scheduler_file) else path + ".secret"
    directory = _private_directory(args.local_directory)
    return os.path.join(directory, f"scheduler-{os.getpid()}-{os.urandom(4).hex()}.secret")


def _ensure_secret_file(path: str) -> bool:
    """Write a new secret to ``path`` (0600) unless a file is there; True if written."""
    try:
        write_secret(path)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        raise SystemExit(f"pardata-scheduler: cannot write the cluster secret to {path}: {e}") from None


def scheduler_security(args: argparse.Namespace) -> tuple[Security, str | None, str | None]:
    """The scheduler's ``Security``, the secret file it uses (None: from the environment),
    and what to tell the user about a secret file nobody asked for (printed once listening)."""
    log = logging.getLogger("pardata.scheduler")
    if args.auth_file and not args.no_auth:
        if _ensure_secret_file(args.auth_file):
            log.info("wrote a new cluster secret to %s (mode 0600)", os.path.abspath(args.auth_file))
        return security_from_cli(args, "pardata-scheduler"), os.path.abspath(args.auth_file), None
    security = security_from_cli(args, "pardata-scheduler")
    if security.auth_secret is not None or args.no_auth:
        return security, None, None
    path = _secret_path(args)
    written = _ensure_secret_file(path)
    notice = (f"pardata-scheduler: cluster secret {'written to' if written else 'read from'} {path}; "
              f"start workers with --auth-file {path} and clients with PARDATA_AUTH_FILE={path}")
    return security_from_cli(args, "pardata-scheduler", auth_file=path), path, notice


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
    security, auth_file, notice = scheduler_security(args)
    scheme = "tls" if security.tls_enabled else "tcp"
    address = f"{scheme}://[{host}]:{args.port}" if ":" in host else f"{scheme}://{host}:{args.port}"
    server = SchedulerServer(address, dashboard_address=args.dashboard_address, security=security,
                             journal_directory=args.journal_directory, recovery_grace=args.recovery_grace)
    await server.start()
    if args.scheduler_file:  # first: workers started with us are waiting for it
        write_scheduler_file(args.scheduler_file, server.address, dashboard=server.dashboard_link,
                             auth_file=auth_file)
    tune_for_server()
    logging.getLogger("pardata.scheduler").info("pardata scheduler at %s", server.address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if notice:
        print(f"{notice} (scheduler at {server.address})", flush=True)
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
