"""``connect`` and ``listen``: a backend's raw comm plus the handshake.

Both sides start every comm under ``Limits.handshake()`` and switch to the
full limits only once the handshake has succeeded; application code never
sees a comm before that.

``security=`` (a ``pardata.security.Security``) supplies what a secure
connection needs: the authenticator for the handshake, the ``ssl.SSLContext``
for ``tls://`` and the ``require_encryption`` check of the address. It is used
through three methods only (``check_address``, ``authenticator``,
``ssl_context``), so this package does not import ``pardata.security``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from .backends import Backend, get_backend, parse_address
from .core import Comm, Limits, Listener, logger
from .errors import CommClosedError, CommError
from .handshake import Authenticator, client_handshake, server_handshake

if TYPE_CHECKING:
    from pardata.security import Security

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
    security: "Security | None" = None,
    retry_refused: bool = True,
) -> Comm:
    """Connect to ``address`` (``"tcp://host:port"``) and complete the handshake.

    A refused connection is retried with backoff until ``timeout`` (a worker
    may start before its scheduler), unless ``retry_refused`` is False: then a
    refused connection fails at once (a peer that was listening and refuses now
    is gone; retrying it would only stall the caller). Raises ``CommError`` on
    failure (``AuthenticationError`` when either side refuses the other's
    credentials).
    """
    limits = limits or _DEFAULT_LIMITS
    scheme, location = parse_address(address)
    backend = get_backend(scheme)
    authenticator, options = _secure(address, backend, "client", authenticator, security)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.01
    while True:
        remaining = deadline - loop.time()
        try:
            comm = await backend.connect(
                location, timeout=max(remaining, 0.001), limits=limits.handshake(), **options
            )
            break
        except (OSError, CommClosedError) as e:
            remaining = deadline - loop.time()
            if not retry_refused and isinstance(e, ConnectionRefusedError):
                raise CommError(f"{address} refused the connection: {e}") from e
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
    security: "Security | None" = None,
    handshake_timeout: float = 10.0,
) -> Listener:
    """Start listening on ``address`` and serve each connection with ``handler``.

    ``handler(comm)`` runs in its own task once the handshake succeeded; the
    comm is closed when it returns. A connection that fails the handshake or
    breaks the protocol is closed with a logged reason; the others go on.
    Use ``listener.address`` for the real port when asking for port 0.
    """
    limits = limits or _DEFAULT_LIMITS
    scheme, location = parse_address(address)
    backend = get_backend(scheme)
    authenticator, options = _secure(address, backend, "server", authenticator, security)

    async def on_comm(comm: Comm) -> None:
        try:
            await asyncio.wait_for(
                server_handshake(comm, name=name, authenticator=authenticator), handshake_timeout
            )
        except asyncio.TimeoutError:
            # the cancelled read has already closed the comm, so say why here
            logger.warning(
                "closing connection %s <- %s: no handshake within %ss",
                comm.local_address,
                comm.peer_address,
                handshake_timeout,
            )
            comm.abort()
            return
        except CommError as e:
            logger.info("handshake with %s failed: %s", comm.peer_address, e)
            return
        comm.limits = limits
        await handler(comm)

    listener = backend.listener(location, on_comm, limits=limits.handshake(), **options)
    await listener.start()
    return listener


def _secure(
    address: str, backend: Backend, side: str, authenticator: Authenticator | None, security: "Security | None"
) -> tuple[Authenticator, dict[str, Any]]:
    """The authenticator and extra backend arguments for ``address``; checks the policy."""
    options: dict[str, Any] = {}
    if security is not None:
        security.check_address(address)
        from_security = security.authenticator()
        if from_security is not None:
            if authenticator is not None and authenticator is not from_security:
                raise ValueError("pass the cluster secret through security= or authenticator=, not both")
            authenticator = from_security
    if backend.tls:
        context = security.ssl_context(side) if security is not None else None
        if context is None:
            raise ValueError(
                f"{address} is a TLS address: pass security=Security(tls_ca_file=..., tls_cert=..., tls_key=...)"
            )
        options["ssl_context"] = context
    return authenticator or _OPEN_AUTH, options
