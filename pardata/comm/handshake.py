"""The connection start: one ``Handshake`` and one ``HandshakeReply``.

It runs before the comm is handed to any application code, under the small
``Limits.handshake()`` limits, so an unauthenticated peer can neither make us
allocate large buffers nor get a single message past the check; and nothing in
pardata.comm ever unpickles a payload, so authentication (the ``auth`` fields,
filled by an ``Authenticator``) always comes before any unpickling.
"""

from __future__ import annotations

from .core import Comm, logger
from .errors import HandshakeError, ProtocolError
from .messages import PROTOCOL_VERSION, Handshake, HandshakeReply

__all__ = ["Authenticator", "AuthenticationError", "client_handshake", "server_handshake"]


class AuthenticationError(HandshakeError):
    """The peer's credentials were refused."""


class Authenticator:
    """Fills and checks the ``auth`` fields of the handshake; accepts everyone.

    Override for real authentication: ``hello`` is the connecting side's leg,
    ``check_hello`` (raise ``AuthenticationError`` to refuse) returns the
    listener's leg, ``check_reply`` lets the connecting side verify it.
    """

    def hello(self) -> bytes | None:
        return None

    def check_hello(self, auth: bytes | None, peer_address: str) -> bytes | None:
        return None

    def check_reply(self, auth: bytes | None, peer_address: str) -> None:
        return None


async def client_handshake(comm: Comm, *, name: str, authenticator: Authenticator) -> HandshakeReply:
    """Introduce ourselves; raises ``HandshakeError`` if the listener refuses."""
    await comm.write(Handshake(protocol=PROTOCOL_VERSION, name=name, auth=authenticator.hello()))
    reply = await comm.read()
    if not isinstance(reply, HandshakeReply):
        comm._protocol_failure(f"expected handshake-reply, got {reply.op}")
        raise ProtocolError(f"expected handshake-reply from {comm.peer_address}, got {reply.op}")
    if not reply.accepted:
        comm.abort()
        raise HandshakeError(f"{comm.peer_address} refused the connection: {reply.reason}")
    try:
        authenticator.check_reply(reply.auth, comm.peer_address)
    except AuthenticationError:
        comm.abort()
        raise
    comm.peer_name = reply.name
    return reply


async def server_handshake(comm: Comm, *, name: str, authenticator: Authenticator) -> Handshake:
    """Check the connecting side's hello and answer it; refuses with a reason."""
    hello = await comm.read()
    if not isinstance(hello, Handshake):
        comm._protocol_failure(f"expected handshake, got {hello.op}")
        raise ProtocolError(f"expected handshake from {comm.peer_address}, got {hello.op}")
    if hello.protocol != PROTOCOL_VERSION:
        reason = f"protocol version {hello.protocol} is not supported (this side speaks {PROTOCOL_VERSION})"
        await _refuse(comm, reason)
        raise HandshakeError(reason)
    try:
        reply_auth = authenticator.check_hello(hello.auth, comm.peer_address)
    except AuthenticationError as e:
        await _refuse(comm, f"authentication failed: {e}")
        raise
    await comm.write(HandshakeReply(protocol=PROTOCOL_VERSION, accepted=True, name=name, auth=reply_auth))
    comm.peer_name = hello.name
    return hello


async def _refuse(comm: Comm, reason: str) -> None:
    logger.warning("refusing connection from %s: %s", comm.peer_address, reason)
    try:
        await comm.write(HandshakeReply(protocol=PROTOCOL_VERSION, accepted=False, reason=reason))
        await comm.close()
    finally:
        comm.abort()
