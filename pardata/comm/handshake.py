"""The connection start: a ``Handshake`` and a ``HandshakeReply``, plus an optional proof.

It runs before the comm is handed to any application code, under the small
``Limits.handshake()`` limits, so an unauthenticated peer can neither make us
allocate large buffers nor get a single message past the check; and nothing in
pardata.comm ever unpickles a payload, so authentication (the ``auth`` fields,
filled by an ``Authenticator``) always comes before any unpickling.

With a challenge-response authenticator (``Authenticator.challenge_response``)
the start has four messages, because each side must answer a fresh challenge
from the other (a one-round hello could be replayed)::

    connecting side                          listener
    Handshake(auth=hello)           ->
                                    <-       HandshakeReply(accepted, auth=challenge + proof)
    Handshake(auth=proof)           ->
                                    <-       HandshakeReply(accepted or refused with a reason)

A refusal always reads ``"authentication failed: ..."`` and ends the connection.
"""

from __future__ import annotations

from .core import Comm, logger
from .errors import HandshakeError, ProtocolError
from .messages import PROTOCOL_VERSION, Handshake, HandshakeReply

__all__ = ["Authenticator", "AuthenticationError", "client_handshake", "server_handshake"]

_AUTH_FAILED = "authentication failed: "


class AuthenticationError(HandshakeError):
    """The peer's credentials were refused."""


class Authenticator:
    """Fills and checks the ``auth`` fields of the handshake; accepts everyone.

    Override for real authentication: ``hello`` is the connecting side's leg,
    ``check_hello`` (raise ``AuthenticationError`` to refuse) returns the
    listener's leg, ``check_reply`` lets the connecting side verify it.

    A challenge-response scheme sets ``challenge_response = True``: then
    ``check_reply`` returns the connecting side's proof, the listener checks it
    with ``check_proof`` before it accepts, and ``session()`` returns a fresh
    object per connection to hold that connection's nonces.
    """

    #: Whether the connecting side answers the listener's reply with a proof.
    challenge_response: bool = False

    def session(self) -> "Authenticator":
        """The object that authenticates one connection (stateless ones: ``self``)."""
        return self

    def hello(self) -> bytes | None:
        return None

    def check_hello(self, auth: bytes | None, peer_address: str) -> bytes | None:
        return None

    def check_reply(self, auth: bytes | None, peer_address: str) -> bytes | None:
        return None

    def check_proof(self, auth: bytes | None, peer_address: str) -> None:
        return None


async def client_handshake(comm: Comm, *, name: str, authenticator: Authenticator) -> HandshakeReply:
    """Introduce ourselves; raises ``HandshakeError`` if the listener refuses."""
    auth = authenticator.session()
    await comm.write(Handshake(protocol=PROTOCOL_VERSION, name=name, auth=auth.hello()))
    reply = await _read_reply(comm)
    try:
        proof = auth.check_reply(reply.auth, comm.peer_address)
    except AuthenticationError as e:
        comm.abort()
        if str(e).startswith(_AUTH_FAILED):
            raise
        raise AuthenticationError(_AUTH_FAILED + str(e)) from None
    if auth.challenge_response:
        await comm.write(Handshake(protocol=PROTOCOL_VERSION, name=name, auth=proof))
        reply = await _read_reply(comm)
    comm.peer_name = reply.name
    return reply


async def _read_reply(comm: Comm) -> HandshakeReply:
    reply = await comm.read()
    if not isinstance(reply, HandshakeReply):
        comm._protocol_failure(f"expected handshake-reply, got {reply.op}")
        raise ProtocolError(f"expected handshake-reply from {comm.peer_address}, got {reply.op}")
    if not reply.accepted:
        comm.abort()
        error = AuthenticationError if reply.reason.startswith(_AUTH_FAILED) else HandshakeError
        raise error(f"{comm.peer_address} refused the connection: {reply.reason}")
    return reply


async def server_handshake(comm: Comm, *, name: str, authenticator: Authenticator) -> Handshake:
    """Check the connecting side's hello (and proof) and answer; refuses with a reason."""
    hello = await _read_hello(comm)
    if hello.protocol != PROTOCOL_VERSION:
        reason = f"protocol version {hello.protocol} is not supported (this side speaks {PROTOCOL_VERSION})"
        await _refuse(comm, reason)
        raise HandshakeError(reason)
    auth = authenticator.session()
    try:
        reply_auth = auth.check_hello(hello.auth, comm.peer_address)
    except AuthenticationError as e:
        await _refuse(comm, _AUTH_FAILED + str(e))
        raise
    await comm.write(HandshakeReply(protocol=PROTOCOL_VERSION, accepted=True, name=name, auth=reply_auth))
    if auth.challenge_response:
        proof = await _read_hello(comm)
        try:
            auth.check_proof(proof.auth, comm.peer_address)
        except AuthenticationError as e:
            await _refuse(comm, _AUTH_FAILED + str(e))
            raise
        await comm.write(HandshakeReply(protocol=PROTOCOL_VERSION, accepted=True, name=name))
    comm.peer_name = hello.name
    return hello


async def _read_hello(comm: Comm) -> Handshake:
    hello = await comm.read()
    if not isinstance(hello, Handshake):
        comm._protocol_failure(f"expected handshake, got {hello.op}")
        raise ProtocolError(f"expected handshake from {comm.peer_address}, got {hello.op}")
    return hello


async def _refuse(comm: Comm, reason: str) -> None:
    logger.warning("refusing connection from %s: %s", comm.peer_address, reason)
    try:
        await comm.write(HandshakeReply(protocol=PROTOCOL_VERSION, accepted=False, reason=reason))
        await comm.close()
    finally:
        comm.abort()
