"""The scheduler's dashboard: live pages, a JSON API, ``/metrics`` and ``/health``.

``Dashboard(server, address)`` serves them from the scheduler's own process and event
loop, on its own port (``--dashboard-address``, loopback by default). Modules:
``snapshot`` (the data, read from the server), ``app`` (tornado handlers), ``pages``
(HTML, escaped), ``exposition`` (Prometheus text), ``static/`` (the page's own JS, CSS;
no plotting framework).
"""

from __future__ import annotations

import logging

from pardata.diagnostics.http import HTTPService
from pardata.diagnostics.loop import LoopLatency

from .app import make_app
from .snapshot import DashboardData

__all__ = ["Dashboard", "DEFAULT_ADDRESS"]

logger = logging.getLogger("pardata.dashboard")

#: Where a scheduler started from the command line serves its dashboard.
DEFAULT_ADDRESS = "127.0.0.1:8787"


class Dashboard:
    """The dashboard of one `SchedulerServer`; ``await start()``, ``await stop()``."""

    def __init__(self, server, address=DEFAULT_ADDRESS) -> None:
        self.server = server
        self.data = DashboardData(server)
        self.http = HTTPService(make_app(self.data), address, name="pardata dashboard")
        self.latency = LoopLatency()

    @property
    def url(self) -> str:
        """``http://host:port`` of the dashboard, empty when it is not served."""
        return self.http.url

    @property
    def link(self) -> str | None:
        """The status page's URL, or None."""
        return f"{self.http.url}/status" if self.http.url else None

    async def start(self) -> "Dashboard":
        self.http.start()
        if self.http.server is not None:
            self.latency.start()
            self.server.metrics.latency = self.latency
        return self

    async def stop(self) -> None:
        await self.latency.stop()
        await self.http.stop()
