"""Transport backends by URL scheme, and address parsing.

``connect``/``listen`` look the scheme of an address up here, so a new
transport (``tls://``, shared memory, ...) is one ``Backend`` subclass and one
``register_backend`` call. Backends move raw comms only; the handshake and
message limits are applied on top of them in ``connection.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .core import Comm, Limits, Listener, OnComm

__all__ = [
    "Backend",
    "register_backend",
    "get_backend",
    "parse_address",
    "split_host_port",
    "unparse_host_port",
    "DEFAULT_HOST",
]

#: Where to listen when an address names no host: never all interfaces by accident.
DEFAULT_HOST = "127.0.0.1"

_BACKENDS: dict[str, "Backend"] = {}


class Backend(ABC):
    """Creates comms and listeners for one URL scheme.

    A backend with ``tls = True`` encrypts and authenticates its connections
    with TLS; its ``connect`` and ``listener`` also take ``ssl_context=``.
    """

    #: Whether connections are TLS (then ``ssl_context=`` is passed, never None).
    tls: bool = False

    @abstractmethod
    async def connect(self, location: str, *, timeout: float, limits: Limits) -> Comm:
        """Open a comm to ``location``; raise ``OSError`` if nobody is listening."""

    @abstractmethod
    def listener(self, location: str, on_comm: OnComm, *, limits: Limits) -> Listener:
        """A not yet started listener that calls ``on_comm`` for each new comm."""


def register_backend(scheme: str, backend: Backend) -> None:
    """Make ``scheme://`` addresses use ``backend``."""
    _BACKENDS[scheme] = backend


def get_backend(scheme: str) -> Backend:
    try:
        return _BACKENDS[scheme]
    except KeyError:
        known = ", ".join(sorted(_BACKENDS))
        raise ValueError(f"unknown comm scheme {scheme!r} (known: {known})") from None


def parse_address(address: str) -> tuple[str, str]:
    """``"tcp://host:port"`` -> ``("tcp", "host:port")``; the scheme is required."""
    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"expected an address like 'tcp://host:port', got {address!r}")
    scheme, _, location = address.partition("://")
    return scheme, location


def split_host_port(location: str, default_port: int = 0) -> tuple[str, int]:
    """``"host:port"``, ``"[::1]:port"``, ``":port"`` or ``""`` -> ``(host, port)``.

    A missing host means ``DEFAULT_HOST`` (loopback), a missing port means 0.
    """
    if location.startswith("["):
        host, _, rest = location[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif location.count(":") > 1:  # bare IPv6 address, no port
        host, port_text = location, ""
    else:
        host, _, port_text = location.partition(":")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"invalid port in address {location!r}") from None
    if not 0 <= port < 65536:
        raise ValueError(f"port out of range in address {location!r}")
    return host or DEFAULT_HOST, port


def unparse_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
