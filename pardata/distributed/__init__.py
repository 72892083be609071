"""``pardata.distributed``: run graphs on a cluster (Client, Future, LocalCluster).

Layering: this package talks to the scheduler and workers only over the wire
(``pardata.comm``). The one exception is ``_inprocess``, which imports the
``scheduler`` and ``worker`` packages lazily to run them inside this process
(``LocalCluster(processes=False)`` and test fixtures).

Modules: ``client`` (the blocking ``Client``), ``_core`` (the async client it
wraps: scheduler stream, reference counts, submissions), ``_data`` (gather, scatter
and ``run``, straight to workers), ``future`` (``Future``, ``wait``,
``as_completed``), ``_graph`` (calls and graphs into messages), ``cluster``
(``LocalCluster``), ``_loop`` (the background event loop thread), ``errors``,
``progress``, ``report`` (``performance_report``) and ``explain`` (``Client.why``).
``Security`` (the cluster secret and TLS files) lives in ``pardata.security`` and is
re-exported here, where Dask users look for it.
"""

from pardata.security import Security

from .client import Client, default_client
from .cluster import LocalCluster
from .errors import (
    FutureCancelledError,
    FutureLostError,
    InvalidGraphError,
    KilledWorker,
    RemoteTaskError,
    TaskError,
)
from .future import Future, as_completed, wait
from .progress import progress
from .report import performance_report

__all__ = [
    "Client",
    "Future",
    "FutureCancelledError",
    "FutureLostError",
    "InvalidGraphError",
    "KilledWorker",
    "LocalCluster",
    "RemoteTaskError",
    "Security",
    "TaskError",
    "as_completed",
    "default_client",
    "performance_report",
    "progress",
    "wait",
]
