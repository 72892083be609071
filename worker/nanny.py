"""The worker's nanny: ``Nanny`` restarts a worker process that died or outgrew its memory.

The supervisor itself lives in ``pardata._nanny`` so that ``LocalCluster`` can run it in
the client process (one interpreter per worker, not two) without importing this package;
``python -m worker`` (``--nanny``, the default) runs it in a small parent process of its
own: see ``worker.__main__``. This module keeps the names the worker side uses.
"""

from __future__ import annotations

import sys

from pardata._nanny import CHILD_ENV, RESTARTS_ENV, Nanny, NannyRestart

__all__ = ["Nanny", "NannyRestart", "CHILD_ENV", "RESTARTS_ENV", "worker_argv"]


def worker_argv(
    scheduler_address: str,
    *,
    nthreads: int | None = None,
    memory_limit: int | str | None = None,
    local_directory: str | None = None,
    name: str | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The command line of ``python -m worker`` with the given options."""
    argv = [python, "-m", "worker", scheduler_address]
    for flag, value in (("--nthreads", nthreads), ("--memory-limit", memory_limit),
                        ("--local-directory", local_directory), ("--name", name)):
        if value is not None:
            argv += [flag, str(value)]
    return argv
