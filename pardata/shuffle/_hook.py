"""Where a task running on a worker finds that worker's shuffle service.

Several workers may share one process (in-process test clusters), so services are
registered under the name prefix of their task threads (``ThreadPoolExecutor`` names
its threads ``prefix_N``) and looked up from the current thread's name.
"""
from __future__ import annotations

import threading
from typing import Any

_services: dict[str, Any] = {}
_lock = threading.Lock()


def register_service(thread_prefix: str, service: Any) -> None:
    """Tasks run by threads named ``thread_prefix_N`` use ``service``."""
    with _lock:
        _services[thread_prefix] = service


def unregister_service(thread_prefix: str, service: Any = None) -> None:
    with _lock:
        if service is None or _services.get(thread_prefix) is service:
            _services.pop(thread_prefix, None)


def current_service() -> Any:
    """The shuffle service of the worker running the calling task; outside a worker (a
    p2p graph computed on a local scheduler) the local one (``pardata.shuffle.local``)."""
    prefix = threading.current_thread().name.rsplit("_", 1)[0]
    with _lock:
        service = _services.get(prefix)
    if service is None:
        from pardata.shuffle.local import local_service

        return local_service
    return service
