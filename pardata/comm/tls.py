"""The TLS backend: ``tls://host:port``, TCP under TLS with mutual authentication.

Comms are ``TCPComm``s over tornado ``SSLIOStream``s, so framing, limits and
deadlines are exactly those of ``tcp://``. The ``ssl.SSLContext`` for each side
comes from ``pardata.security.Security`` (``connect``/``listen`` pass it as
``ssl_context=``): both sides present a certificate signed by the cluster's CA
and verify the other's. A failed TLS handshake is final and reported at once
(``HandshakeError``), not retried like a refused connection.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from tornado.iostream import IOStream, StreamClosedError
from tornado.netutil import bind_sockets
from tornado.tcpclient import TCPClient
from tornado.tcpserver import TCPServer

from .backends import Backend, register_backend, split_host_port, unparse_host_port
from .core import Comm, Limits, Listener, OnComm
from .errors import CommClosedError, HandshakeError
from .tcp import _BUFFER_MARGIN, TCPComm, _cause

__all__ = ["TLSComm", "TLSListener", "TLSBackend"]


def _address(sockaddr: Any) -> str:
    return "tls://" + unparse_host_port(sockaddr[0], sockaddr[1])


class TLSComm(TCPComm):
    """A comm over one TLS stream; TLS errors are named as such."""

    @property
    def peer_certificate(self) -> dict | None:
        """The peer's verified certificate (``ssl.SSLSocket.getpeercert``), once TLS is up."""
        sock = self.stream.socket
        return sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None

    async def _read_frames(self) -> list:
        try:
            return await super()._read_frames()
        except CommClosedError as e:
            cause = e.__context__
            if isinstance(cause, StreamClosedError) and isinstance(cause.real_error, ssl.SSLError):
                raise CommClosedError(f"TLS with {self.peer_address} failed: {_cause(cause)}") from None
            raise


class _TLSServer(TCPServer):
    def __init__(self, listener: "TLSListener", ssl_context: ssl.SSLContext) -> None:
        super().__init__(ssl_options=ssl_context, max_buffer_size=listener.limits.max_message_bytes + _BUFFER_MARGIN)
        self.listener = listener

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        # the TLS handshake runs on the first read, inside the pardata handshake's deadline
        try:
            local = _address(stream.socket.getsockname())
        except OSError:
            stream.close()
            return
        self.listener._accepted(TLSComm(stream, local, _address(address), self.listener.limits))


class TLSListener(Listener):
    """Listens on one host and port over TLS; port 0 picks a free one."""

    def __init__(self, location: str, on_comm: OnComm, limits: Limits, ssl_context: ssl.SSLContext) -> None:
        super().__init__(on_comm)
        self.host, self.port = split_host_port(location)
        self.limits = limits
        self.ssl_context = ssl_context
        self._server: _TLSServer | None = None

    @property
    def address(self) -> str:
        return "tls://" + unparse_host_port(self.host, self.port)

    async def start(self) -> None:
        sockets = bind_sockets(self.port, address=self.host, backlog=1024)
        self.port = sockets[0].getsockname()[1]
        self._server = _TLSServer(self, self.ssl_context)
        self._server.add_sockets(sockets)

    def _stop_accepting(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class TLSBackend(Backend):
    tls = True

    async def connect(
        self, location: str, *, timeout: float, limits: Limits, ssl_context: ssl.SSLContext | None = None
    ) -> Comm:
        if ssl_context is None:
            raise ValueError("tls:// needs an ssl_context (pass security= to connect)")
        host, port = split_host_port(location)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        client = TCPClient()
        try:  # plain TCP first: failing here is "nobody listens", which connect() retries
            tcp_stream = await client.connect(
                host, port, timeout=timeout, max_buffer_size=limits.max_message_bytes + _BUFFER_MARGIN
            )
        except StreamClosedError as e:
            raise ConnectionRefusedError(_cause(e)) from None
        finally:
            client.close()
        # ... then TLS: failing here is final (a certificate or protocol problem)
        tls_future = tcp_stream.start_tls(False, ssl_options=ssl_context, server_hostname=host)
        try:
            stream = await asyncio.wait_for(tls_future, max(deadline - loop.time(), 0.001))
        except asyncio.TimeoutError:
            raise HandshakeError(f"TLS handshake with tls://{location} timed out") from None
        except StreamClosedError as e:
            raise HandshakeError(f"TLS handshake with tls://{location} failed: {_cause(e)}") from None
        except (ssl.SSLError, OSError) as e:
            raise HandshakeError(f"TLS handshake with tls://{location} failed: {e}") from None
        finally:
            tls_future.cancel()  # closes the half-made TLS stream if we gave up; no-op once done
        try:
            local = _address(stream.socket.getsockname())
            peer = _address(stream.socket.getpeername())
        except (OSError, AttributeError) as e:  # socket is None once tornado closed the stream
            reason = stream.error or e
            stream.close()
            # TLS 1.3 lets the client finish its handshake before the server checks
            # the client's certificate, so a refused certificate shows up here.
            raise HandshakeError(
                f"tls://{location} closed the connection right after the TLS handshake "
                f"(did it refuse our certificate?): {reason}"
            ) from None
        return TLSComm(stream, local, peer, limits)

    def listener(
        self, location: str, on_comm: OnComm, *, limits: Limits, ssl_context: ssl.SSLContext | None = None
    ) -> Listener:
        if ssl_context is None:
            raise ValueError("tls:// needs an ssl_context (pass security= to listen)")
        return TLSListener(location, on_comm, limits, ssl_context)


register_backend("tls", TLSBackend())
