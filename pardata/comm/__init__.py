"""pardata's wire protocol: typed messages over length-prefixed frames.

Layering: this package imports only ``pardata.serialize``, the standard
library, tornado and msgpack. It never imports ``scheduler``, ``worker``,
NumPy or pandas, and never unpickles a payload (``Serialized`` fields stay
opaque), which is what lets a scheduler forward task payloads untouched.

Modules, bottom to top: ``errors``; ``schema`` (Message base, ``@message``,
registry, field type checks); ``messages`` (every message type, declared
once); ``codec`` (message <-> frames); ``core`` (Limits, Comm and Listener
ABCs); ``framing`` (frames over an IOStream); ``backends`` (scheme registry,
addresses); ``tcp``, ``tls`` and ``inproc`` (transports); ``handshake``,
``auth`` (HMAC challenge-response over a cluster secret) and ``connection``
(``connect``/``listen``, which take ``security=``); ``batched``
(``BatchedSend``). The ``Security`` object itself lives in ``pardata.security``.
"""

from . import inproc as _inproc  # noqa: F401  (registers inproc://)
from . import tcp as _tcp  # noqa: F401  (registers tcp://)
from . import tls as _tls  # noqa: F401  (registers tls://)
from .auth import HMACAuthenticator
from .backends import Backend, get_backend, parse_address, register_backend, split_host_port
from .batched import BatchedSend, unbatch
from .codec import decode, encode
from .connection import connect, listen
from .core import Comm, Limits, Listener
from .errors import CommClosedError, CommError, HandshakeError, ProtocolError
from .handshake import AuthenticationError, Authenticator
from .messages import PROTOCOL_VERSION, Batch, Error, Handshake, HandshakeReply, Heartbeat
from .schema import Key, Message, message, registry

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "Backend",
    "Batch",
    "BatchedSend",
    "Comm",
    "CommClosedError",
    "CommError",
    "Error",
    "HMACAuthenticator",
    "Handshake",
    "HandshakeError",
    "HandshakeReply",
    "Heartbeat",
    "Key",
    "Limits",
    "Listener",
    "Message",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "connect",
    "decode",
    "encode",
    "get_backend",
    "listen",
    "message",
    "parse_address",
    "register_backend",
    "registry",
    "split_host_port",
    "unbatch",
]
