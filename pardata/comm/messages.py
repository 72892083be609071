"""Every message that crosses the wire is declared here, once.

Adding a message is a few lines in this module (or in a module this one
imports, once it grows past a few hundred lines)::

    @message("task-finished")
    class TaskFinished(Message):
        '''A worker finished running a task; sent to the scheduler.'''
        key: Key
        attempt: int
        nbytes: int
        typename: str = ""

Field annotations are the schema (see ``schema.py`` for the allowed types);
decoding checks them, so handlers receive well-typed objects. The op string
is the wire name and must never be reused for something else.
Scheduler and worker messages live here too: the two sides share only this
vocabulary and never import each other.
"""

from __future__ import annotations

from pardata.serialize import Serialized

from .schema import Message, message

__all__ = ["PROTOCOL_VERSION", "Handshake", "HandshakeReply", "Heartbeat", "Error", "Batch"]

#: Bumped on any incompatible change to framing or to an existing message.
PROTOCOL_VERSION = 1


@message("handshake")
class Handshake(Message):
    """First message on every connection, from the side that connected.

    ``auth`` is the authentication field, empty until security lands: the
    listener checks it before it reads any other message, so nothing a
    stranger sends is ever interpreted beyond this small, typed hello.
    """

    protocol: int
    name: str = ""
    auth: bytes | None = None


@message("handshake-reply")
class HandshakeReply(Message):
    """The listener's answer: accepted or not, why, and its own auth leg."""

    protocol: int
    accepted: bool
    reason: str = ""
    name: str = ""
    auth: bytes | None = None


@message("heartbeat")
class Heartbeat(Message):
    """A liveness ping; ``time`` is the sender's clock, for latency estimates."""

    time: float


@message("error")
class Error(Message):
    """A request failed; the connection itself stays usable.

    ``exception`` is the pickled exception when there is one; it stays an
    opaque payload so that a scheduler can forward it without unpickling.
    """

    reason: str
    exception: Serialized | None = None
    traceback: str = ""


@message("batch")
class Batch(Message):
    """Several messages to the same peer sent as one frame set (``BatchedSend``).

    Batches do not nest: the codec rejects a message containing messages
    inside another one.
    """

    messages: list[Message]
