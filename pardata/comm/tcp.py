"""The TCP backend: ``tcp://host:port`` over tornado IOStreams."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tornado.iostream import IOStream, StreamClosedError
from tornado.netutil import bind_sockets
from tornado.tcpclient import TCPClient
from tornado.tcpserver import TCPServer

from .backends import Backend, register_backend, split_host_port, unparse_host_port
from .core import Comm, Limits, Listener, OnComm
from .errors import CommClosedError
from .framing import read_frames, write_frames

__all__ = ["TCPComm", "TCPListener", "TCPBackend"]

_BUFFER_MARGIN = 1024 * 1024


def _address(sockaddr: Any) -> str:
    return "tcp://" + unparse_host_port(sockaddr[0], sockaddr[1])


def _tune(stream: IOStream, limits: Limits) -> None:
    stream.set_nodelay(True)  # latency matters more than packet count for small messages
    sock = stream.socket
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    _fit_buffer(stream, limits)


def _fit_buffer(stream: IOStream, limits: Limits) -> None:
    # tornado closes a stream whose read buffer exceeds max_buffer_size, and a
    # read_into target counts towards it: allow the largest permitted message.
    stream.max_buffer_size = limits.max_message_bytes + _BUFFER_MARGIN


class TCPComm(Comm):
    """A Comm over one tornado IOStream."""

    def __init__(self, stream: IOStream, local_address: str, peer_address: str, limits: Limits) -> None:
        super().__init__(local_address, peer_address, limits)
        self.stream = stream
        _tune(stream, limits)

    def _limits_changed(self) -> None:
        _fit_buffer(self.stream, self._limits)

    async def _read_frames(self) -> list:
        try:
            return await read_frames(self.stream, self._limits)
        except asyncio.CancelledError:
            self.abort()  # a message may be half-read: the stream cannot be resumed
            raise
        except StreamClosedError as e:
            self.abort()
            raise CommClosedError(f"connection from {self.peer_address} closed: {_cause(e)}") from None

    async def _write_frames(self, frames: list) -> int:
        try:
            return await write_frames(self.stream, frames, self._limits)
        except StreamClosedError as e:
            self.abort()
            raise CommClosedError(f"connection to {self.peer_address} closed: {_cause(e)}") from None

    async def close(self) -> None:
        self.stream.close()

    def abort(self) -> None:
        self.stream.close()

    def closed(self) -> bool:
        return self.stream.closed()


def _cause(e: StreamClosedError) -> str:
    real = e.real_error
    return f"{type(real).__name__}: {real}" if real else "stream closed"


class _Server(TCPServer):
    def __init__(self, listener: "TCPListener") -> None:
        super().__init__(max_buffer_size=listener.limits.max_message_bytes + _BUFFER_MARGIN)
        self.listener = listener

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        try:
            local = _address(stream.socket.getsockname())
        except OSError:  # already reset by the peer
            stream.close()
            return
        self.listener._accepted(TCPComm(stream, local, _address(address), self.listener.limits))


class TCPListener(Listener):
    """Listens on one host and port; port 0 picks a free one."""

    def __init__(self, location: str, on_comm: OnComm, limits: Limits) -> None:
        super().__init__(on_comm)
        self.host, self.port = split_host_port(location)
        self.limits = limits
        self._server: _Server | None = None

    @property
    def address(self) -> str:
        return "tcp://" + unparse_host_port(self.host, self.port)

    async def start(self) -> None:
        sockets = bind_sockets(self.port, address=self.host, backlog=1024)
        self.port = sockets[0].getsockname()[1]
        self._server = _Server(self)
        self._server.add_sockets(sockets)

    def _stop_accepting(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class TCPBackend(Backend):
    async def connect(self, location: str, *, timeout: float, limits: Limits) -> Comm:
        host, port = split_host_port(location)
        client = TCPClient()
        try:
            stream = await client.connect(
                host, port, timeout=timeout, max_buffer_size=limits.max_message_bytes + _BUFFER_MARGIN
            )
        except StreamClosedError as e:  # tornado's wrapping of "connection refused"
            raise ConnectionRefusedError(_cause(e)) from None
        finally:
            client.close()
        try:
            local = _address(stream.socket.getsockname())
            peer = _address(stream.socket.getpeername())
        except OSError as e:
            stream.close()
            raise ConnectionResetError(str(e)) from None
        return TCPComm(stream, local, peer, limits)

    def listener(self, location: str, on_comm: OnComm, *, limits: Limits) -> Listener:
        return TCPListener(location, on_comm, limits)


register_backend("tcp", TCPBackend())
