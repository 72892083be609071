"""``Client``: the blocking face of the cluster, and the default scheduler while open.

``Client`` owns a ``ClientCore`` running on the shared background loop thread and
exposes it with blocking methods. Each method is written once, on the core: methods
that only enqueue (``submit``, ``map``, ``cancel``) are called directly; coroutines
are run on the loop and waited for (see ``_blocking``). Creating a Client makes it the
default scheduler of ``compute``/``persist`` until it is closed.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Any

from pardata import base
from pardata.core.graph import ensure_graph, flatten_keys, pack_results
from pardata.core.spec import DataNode, Ref, Task
from pardata.core.tokenize import tokenize

from ._core import ClientCore
from ._data import SKIPPED
from ._loop import LoopThread
from .future import Future

__all__ = ["Client", "default_client"]

_clients: list["weakref.ref[Client]"] = []
_exit_handler_registered = False
_clients_lock = threading.Lock()


def default_client() -> "Client":
    """The most recently created Client that is still open; ValueError if none."""
    client = _current()
    if client is None:
        raise ValueError("no pardata.distributed.Client is open: create one first")
    return client


def _current() -> "Client | None":
    with _clients_lock:
        for ref in reversed(_clients):
            client = ref()
            if client is not None and client.status == "running":
                return client
    return None


base._default_client_hook.append(_current)


def _close_open_clients() -> None:
    """Close clients a script left open (registered at the first Client, so that it
    runs before ``LocalCluster``'s own exit handler: atexit runs handlers last-first)."""
    with _clients_lock:
        clients = [ref() for ref in _clients]
    for client in clients:
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


def _blocking(name: str, doc: str = ""):
    """A blocking method running coroutine ``ClientCore.<name>`` on the client loop."""

    def method(self, *args, timeout: float | None = None, **kwargs):
        return self._run(getattr(self._core, name)(*args, **kwargs), timeout=timeout)

    method.__name__ = name
    method.__doc__ = doc or getattr(ClientCore, name).__doc__
    return method


class Client:
    """Connect to a cluster, or start a ``LocalCluster`` when no address is given.

    >>> client = Client()                          # doctest: +SKIP
    >>> client.submit(sum, [1, 2, 3]).result()     # doctest: +SKIP
    6

    ``address`` may be ``"tcp://host:port"`` (or ``tls://``) or a cluster object
    (``LocalCluster``). Extra keyword arguments go to the ``LocalCluster`` started when
    there is none.

    Unlike Dask, clusters demand a shared secret by default. ``security`` (a
    ``pardata.security.Security``) holds it and any TLS files. ``Client()`` and
    ``Client(cluster)`` take the cluster's own; ``Client(address)`` without
    ``security=`` reads ``Security.from_env()``: the secret from
    ``$PARDATA_AUTH_SECRET`` or the file named by ``$PARDATA_AUTH_FILE`` (such as the
    one ``pardata-scheduler`` writes). ``Client(scheduler_file=PATH)`` reads the
    address from the file ``pardata-scheduler --scheduler-file`` writes (waiting for it
    up to ``timeout``) and, lacking another secret, the ``auth_file`` it names. A wrong
    or missing secret raises ``AuthenticationError`` saying so.
    """

    def __init__(self, address=None, *, security=None, scheduler_file=None, timeout: float | None = 30.0,
                 set_as_default: bool = True, **cluster_kwargs) -> None:
        self.cluster = None
        self._owns_cluster = False
        self.status = "connecting"
        if scheduler_file is not None:
            if address is not None:
                raise TypeError("give an address or a scheduler_file, not both")
            address, security = _from_scheduler_file(scheduler_file, security, timeout)
        if address is None:
            from .cluster import LocalCluster

            address = LocalCluster(security=security, **cluster_kwargs)
            self._owns_cluster = True
        elif cluster_kwargs:
            raise TypeError(f"unexpected arguments {sorted(cluster_kwargs)} when connecting to {address!r}")
        if not isinstance(address, str):
            self.cluster = address
            address = address.scheduler_address
            if security is None:
                security = getattr(self.cluster, "security", None)
        elif security is None:
            from pardata.security import Security

            security = Security.from_env()
        self.security = security
        self._runner = LoopThread.acquire()
        self._core = ClientCore(address, runner=self._runner, owner=self, security=security)
        try:
            self._runner.run(self._core.start(timeout), None if timeout is None else timeout + 5)
        except BaseException:
            self.status = "closed"
            self._runner.run(self._core.close())
            LoopThread.release(self._runner)
            if self._owns_cluster:
                self.cluster.close()
            raise
        self.status = "running"
        if self._owns_cluster and self.dashboard_link:
            print(f"pardata dashboard: {self.dashboard_link}")
        if set_as_default:
            with _clients_lock:
                _clients.append(weakref.ref(self))
        global _exit_handler_registered
        if not _exit_handler_registered:
            _exit_handler_registered = True
            atexit.register(_close_open_clients)

    # --- plumbing ------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._core.id

    @property
    def scheduler_address(self) -> str:
        return self._core.scheduler_address

    def _run(self, coro, timeout: float | None = None) -> Any:
        if self.status != "running":
            coro.close()
            raise RuntimeError(f"the client is {self.status}")
        return self._core.run_sync(coro, timeout)

    def close(self) -> None:
        """Disconnect; also close the cluster this client started."""
        if self.status == "closed":
            return
        self.status = "closed"
        with _clients_lock:
            _clients[:] = [r for r in _clients if r() is not None and r() is not self]
        try:
            self._runner.run(self._core.close(), 10)
        finally:
            LoopThread.release(self._runner)
            if self._owns_cluster and self.cluster is not None:
                self.cluster.close()

    def __enter__(self) -> "Client":
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
        return f"<Client {self.scheduler_address} {self.status}>"

    # --- work ----------------------------------------------------------------------------

    def submit(self, fn, *args, key=None, pure=True, retries=0, priority=0, resources=None, workers=None,
               **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` on the cluster; Futures among the args are inputs."""
        return self._core.submit(fn, *args, key=key, pure=pure, retries=retries, priority=priority,
                                 resources=resources, workers=workers, **kwargs)

    def map(self, fn, *iterables, key=None, pure=True, retries=0, priority=0, resources=None, workers=None,
            **kwargs) -> list[Future]:
        """``submit`` for every element of the iterables, in one message."""
        return self._core.map(fn, *iterables, key=key, pure=pure, retries=retries, priority=priority,
                              resources=resources, workers=workers, **kwargs)

    def gather(self, futures, errors: str = "raise", timeout: float | None = None):
        """Values of the futures in ``futures`` (a Future, or lists/tuples/dicts of them)."""
        flat: list[Future] = []
        plan = _plan(futures, flat)
        values = self._run(self._core.gather(flat, errors=errors), timeout=timeout) if flat else []
        return _build(plan, dict(zip(map(id, flat), values)))

    def cancel(self, futures, force: bool = False) -> None:
        """Cancel these futures' keys (and what depends on them) for this client."""
        futures = [futures] if isinstance(futures, Future) else list(futures)
        self._core.cancel([f.key for f in futures], force=force)

    scatter = _blocking("scatter")
    run = _blocking("run")
    has_what = _blocking("has_what")
    nthreads = _blocking("nthreads")
    scheduler_info = _blocking("scheduler_info")
    get_task_stream = _blocking("get_task_stream")
    _task_states = _blocking("task_states")

    def who_has(self, futures=None, timeout: float | None = None) -> dict:
        """``{key: (worker, ...)}`` for these futures (default: every key in memory)."""
        keys = None
        if futures is not None:
            futures = [futures] if isinstance(futures, Future) else list(futures)
            keys = [f.key if isinstance(f, Future) else f for f in futures]
        return self._run(self._core.who_has(keys), timeout=timeout)

    def restart(self, timeout: float | None = 60.0) -> None:
        """Forget all work and data on the cluster; every future is cancelled.

        A ``LocalCluster`` of processes started by this client also replaces its worker
        processes (there is no nanny yet to restart workers of other clusters).
        """
        self._run(self._core.restart_scheduler(), timeout=timeout)
        if self.cluster is not None and hasattr(self.cluster, "restart_workers"):
            self.cluster.restart_workers(timeout=timeout)

    @property
    def dashboard_link(self) -> str | None:
        """The URL of the scheduler's dashboard (its status page), or None if it serves none."""
        if "_dashboard_link" not in self.__dict__:
            self._dashboard_link = self.scheduler_info().get("dashboard")
        return self._dashboard_link

    def why(self, key, timeout: float | None = None):
        """Why ``key`` (or a Future) is not done, as a chain of causes: what it waits for,
        where that is, and why that is stuck (say, an input on a paused worker whose
        memory is mostly unmanaged). Printing it reads top-down."""
        from .explain import why

        return self._run(why(self._core, key), timeout=timeout)

    # --- collections ---------------------------------------------------------------------

    def get(self, graph, keys, **kwargs):
        """Compute a raw graph's ``keys`` (flat list or nested); used by ``pardata.compute``."""
        flat = flatten_keys(keys)
        futures = self._core.submit_graph(ensure_graph(graph), flat, **_graph_options(kwargs))
        values = self.gather([futures[k] for k in flat])
        if isinstance(keys, list) and all(not isinstance(k, list) for k in keys):
            return values
        return pack_results(keys, dict(zip(flat, values)))

    def compute(self, collections, optimize_graph: bool = True, sync: bool = False, **kwargs):
        """Start computing collections; a Future per collection (values if ``sync``)."""
        single = base.is_collection(collections)
        colls = [collections] if single else list(collections)
        graph, _ = base.collections_to_graph(colls, optimize_graph)
        wanted = []
        for coll in colls:
            finalize, extra = coll.__pardata_postcompute__()
            refs = _as_refs(coll.__pardata_keys__())
            key = f"finalize-{tokenize(coll.__pardata_keys__(), finalize, *extra)}"
            graph[key] = Task(key, finalize, refs, *extra)
            wanted.append(key)
        futures = self._core.submit_graph(graph, wanted, **_graph_options(kwargs))
        out = [futures[k] for k in wanted]
        if sync:
            out = self.gather(out)
        return out[0] if single else out

    def persist(self, collections, optimize_graph: bool = True, **kwargs):
        """Start computing collections and return the same collections backed by Futures."""
        single = base.is_collection(collections)
        colls = [collections] if single else list(collections)
        graph, keys = base.collections_to_graph(colls, optimize_graph)
        futures = self._core.submit_graph(graph, keys, **_graph_options(kwargs))
        out = []
        for coll in colls:
            ks = flatten_keys(coll.__pardata_keys__())
            rebuild, extra = coll.__pardata_postpersist__()
            out.append(rebuild({k: DataNode(k, futures[k]) for k in ks}, *extra))
        return out[0] if single else out


def _from_scheduler_file(path, security, timeout: float | None) -> tuple:
    """The address in a scheduler file, and ``security``, else the environment's, else
    one with the secret of the ``auth_file`` the file names."""
    import json
    import os
    import time

    from pardata.security import Security

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                info = json.load(f)
            address = info["address"]
            break
        except (FileNotFoundError, ValueError, KeyError):  # not written yet, or half written
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"no scheduler address in {os.fspath(path)} after {timeout}s") from None
            time.sleep(0.05)
    if security is None:
        security = Security.from_env()
        if security.auth_secret is None and info.get("auth_file"):
            security = Security.from_env(auth_file=info["auth_file"])
    return address, security


def _graph_options(kwargs: dict) -> dict:
    allowed = {"retries", "workers", "resources"}
    options = {k: v for k, v in kwargs.items() if k in allowed and v is not None}
    if "priority" in kwargs:
        options["user_priority"] = kwargs["priority"]
    return options


def _as_refs(keys):
    return [_as_refs(k) for k in keys] if type(keys) is list else Ref(keys)


def _plan(obj, flat: list):
    """A description of ``obj`` with each Future replaced by its index in ``flat``."""
    if isinstance(obj, Future):
        flat.append(obj)
        return ("future", obj)
    if type(obj) in (list, tuple, set, frozenset):
        return (type(obj), [_plan(x, flat) for x in obj])
    if type(obj) is dict:
        return (dict, [(k, _plan(v, flat)) for k, v in obj.items()])
    return ("literal", obj)


def _build(plan, values: dict):
    """Rebuild ``obj`` from its plan; futures skipped by ``errors="skip"`` are left out."""
    tag, payload = plan
    if tag == "future":
        return values[id(payload)]
    if tag == "literal":
        return payload
    if tag is dict:
        items = [(k, _build(p, values)) for k, p in payload]
        return {k: v for k, v in items if v is not SKIPPED}
    items = [_build(p, values) for p in payload]
    return tag(v for v in items if v is not SKIPPED)
