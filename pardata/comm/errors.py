"""The exceptions of pardata.comm; handlers usually catch ``CommError``."""

__all__ = ["CommError", "CommClosedError", "ProtocolError", "HandshakeError"]


class CommError(Exception):
    """Base of every error raised by pardata.comm."""


class CommClosedError(CommError):
    """The connection is closed (by the peer, the network, or us)."""


class ProtocolError(CommError):
    """A message broke the protocol: malformed, unknown, oversize or too slow.

    Raised by the codec for a bad message; raised by ``Comm.read``/``write``
    after the connection has been closed because of it.
    """


class HandshakeError(CommError):
    """The connection start was refused (version mismatch, authentication)."""
