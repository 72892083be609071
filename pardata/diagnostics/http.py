"""Serving diagnostics over HTTP: the scheduler's dashboard and the workers' ``/metrics``.

``parse_http_address`` reads what people write after ``--dashboard-address``
(``":8787"``, ``"8787"``, ``"0.0.0.0:8787"``, ``"[::1]:0"``, ``"none"``).
``HTTPService`` binds a tornado application, falling back to a free port when the
asked one is taken (the default port of a second scheduler on the same machine), and
closes every connection it accepted when stopped, so test clusters leave nothing open.
"""

from __future__ import annotations

import errno
import logging
import socket

__all__ = ["HTTPService", "parse_http_address"]

logger = logging.getLogger("pardata.diagnostics")

_OFF = ("", "none", "off", "false", "no", "-")


def parse_http_address(value, default_host: str = "127.0.0.1") -> tuple[str, int] | None:
    """``(host, port)`` for an HTTP address, or None when serving is turned off.

    >>> parse_http_address(":8787"), parse_http_address("0.0.0.0:0"), parse_http_address("none")
    (('127.0.0.1', 8787), ('0.0.0.0', 0), None)
    >>> parse_http_address("[::1]:9000"), parse_http_address(8787)
    (('::1', 9000), ('127.0.0.1', 8787))
    """
    if value is None or value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return default_host, value
    text = str(value).strip()
    if text.lower() in _OFF:
        return None
    for scheme in ("http://", "tcp://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.rstrip("/")
    if text.isdigit():
        return default_host, int(text)
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, "0"
    host = host or default_host
    if not port.isdigit():
        raise ValueError(f"invalid HTTP address {value!r}: expected HOST:PORT, :PORT or 'none'")
    return host, int(port)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return socket.gethostname()
    if host == "::":
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def _listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, closed again if anything fails (tornado's
    ``bind_sockets`` leaves the socket open when the port is taken)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class HTTPService:
    """A tornado ``Application`` listening on one address until ``stop()``."""

    def __init__(self, app, address, *, name: str = "http", fallback: bool = True) -> None:
        self.app = app
        self.name = name
        self.requested = parse_http_address(address)
        self.fallback = fallback
        self.server = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        """``http://host:port`` (empty when not listening)."""
        if not self.port:
            return ""
        return f"http://{_url_host(self.host)}:{self.port}"

    def start(self) -> "HTTPService":
        """Bind and listen (on the running event loop). Does nothing when turned off."""
        from tornado.httpserver import HTTPServer

        if self.requested is None:
            return self
        host, port = self.requested
        try:
            sock = _listen_socket(host, port)
        except OSError as exc:
            if not (self.fallback and port and exc.errno == errno.EADDRINUSE):
                raise
            sock = _listen_socket(host, 0)
            logger.info("%s: port %d is in use, serving on port %d instead", self.name, port, sock.getsockname()[1])
        self.server = HTTPServer(self.app, xheaders=False)
        self.server.add_sockets([sock])
        self.host = host
        self.port = sock.getsockname()[1]
        logger.info("%s at %s", self.name, self.url)
        return self

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        server.stop()
        await server.close_all_connections()
