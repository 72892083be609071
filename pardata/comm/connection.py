"""``connect`` and ``listen``: a backend's raw comm plus the handshake.

Both sides start every comm under ``Limits.handshake()`` and switch to the
full limits only once the handshake has succeeded; application code never
sees a comm before that.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from .backends import get_backend, parse_address
from .core import Comm, Limits, Listener, logger
from .errors import CommClosedError, CommError
from .handshake import Authenticator, client_handshake, server_handshake

__all__ = ["connect", "listen"]

Handler = Callable[[Comm], Awaitable[None]]

_DEFAULT_LIMITS = Limits()
_OPEN_AUTH = Authenticator()


async def connect(
    address: str,
    *,
    timeout: float = 10.0,
    limits: Limits | None = None,
    name: str = "",
    authenticator: Authenticator | None = None,
) -> Comm:
    """Connect to ``address`` (``"tcp://host:port"``) and complete the handshake.

    A refused connection is retried with backoff until ``timeout`` (a worker
    may start before its scheduler). Raises ``CommError`` on failure.
    """
    limits = limits or _DEFAULT_LIMITS
    authenticator = authenticator or _OPEN_AUTH
    scheme, location = parse_address(address)
    backend = get_backend(scheme)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.01
    while True:
        remaining = deadline - loop.time()
        try:
            comm = await backend.connect(location, timeout=max(remaining, 0.001), limits=limits.handshake())
            break
        except (OSError, CommClosedError) as e:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CommError(f"could not connect to {address} within {timeout}s: {e}") from e
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)
    try:
        await asyncio.wait_for(
            client_handshake(comm, name=name, authenticator=authenticator),
            max(deadline - loop.time(), 0.001),
        )
    except asyncio.TimeoutError:
        comm.abort()
        raise CommError(f"handshake with {address} timed out after {timeout}s") from None
    except BaseException:
        comm.abort()
        raise
    comm.limits = limits
    return comm


async def listen(
    address: str,
    handler: Handler,
    *,
    limits: Limits | None = None,
    name: str = "",
    authenticator: Authenticator | None = None,
    handshake_timeout: float = 10.0,
) -> Listener:
    """Start listening on ``address`` and serve each connection with ``handler``.

    ``handler(comm)`` runs in its own task once the handshake succeeded; the
    comm is closed when it returns. A connection that fails the handshake or
    breaks the protocol is closed with a logged reason; the others go on.
    Use ``listener.address`` for the real port when asking for port 0.
    """
    limits = limits or _DEFAULT_LIMITS
    authenticator = authenticator or _OPEN_AUTH
    scheme, location = parse_address(address)

    async def on_comm(comm: Comm) -> None:
        try:
            await asyncio.wait_for(
                server_handshake(comm, name=name, authenticator=authenticator), handshake_timeout
            )
        except asyncio.TimeoutError:
            comm._protocol_failure(f"no handshake within {handshake_timeout}s")
            return
        except CommError as e:
            logger.info("handshake with %s failed: %s", comm.peer_address, e)
            return
        comm.limits = limits
        await handler(comm)

    listener = get_backend(scheme).listener(location, on_comm, limits=limits.handshake())
    await listener.start()
    return listener
