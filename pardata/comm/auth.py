"""Mutual challenge-response authentication with a per-cluster secret.

Every process of a cluster (scheduler, workers, nannies, clients) holds the
same secret of at least 32 random bytes. On each new connection both sides
prove they know it without sending it, by answering a fresh challenge from the
other (the four-message start described in ``handshake.py``)::

    hello     = TAG | nonce_c
    reply     = TAG | nonce_s | HMAC(secret, "listener"  | nonce_c | nonce_s)
    proof     = TAG |           HMAC(secret, "connector" | nonce_c | nonce_s)

Nonces come from ``secrets``, 32 bytes each, new for every connection, so an
old transcript replayed on a new connection answers the wrong challenge. The
role label makes the two directions' MACs different, so a listener's reply
reflected back to it as a proof fails. MACs are compared with
``hmac.compare_digest``. Without TLS this authenticates the connection start
only: someone who can rewrite traffic in flight could still hijack the
connection afterwards, which is what ``tls://`` is for.

Secrets travel as hex (or base64) text: in a file (``--auth-file``), kept
private with 0600 permissions, or in the ``PARDATA_AUTH_SECRET`` environment
variable, which is how a parent hands the secret to the processes it starts.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import os
import re
import secrets
import stat
import tempfile

from .handshake import AuthenticationError, Authenticator

__all__ = [
    "HMACAuthenticator",
    "ENV_VAR",
    "SECRET_BYTES",
    "new_secret",
    "encode_secret",
    "decode_secret",
    "load_secret",
    "write_secret",
]

#: The environment variable holding the cluster secret (hex or base64).
ENV_VAR = "PARDATA_AUTH_SECRET"
#: Size of new secrets, and the least we accept.
SECRET_BYTES = 32
NONCE_BYTES = 32

_TAG = b"PDA1"  # scheme and version of the auth fields
_MAC_BYTES = hashlib.sha256().digest_size
_CONTEXT = b"pardata-auth-v1\x00"
_LISTENER = b"listener\x00"
_CONNECTOR = b"connector\x00"
_MAX_SECRET_FILE_BYTES = 64 * 1024
_HEX = re.compile(r"[0-9a-fA-F]+")
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class HMACAuthenticator(Authenticator):
    """Both sides of a connection prove knowledge of ``secret`` (see the module doc).

    One instance serves any number of connections; ``session()`` makes the
    per-connection object that holds the nonces.
    """

    challenge_response = True

    def __init__(self, secret: bytes) -> None:
        self._secret = _checked_secret(secret)

    def session(self) -> "_HMACSession":
        return _HMACSession(self._secret)

    def __repr__(self) -> str:  # never show the secret
        return f"<{type(self).__name__}>"


class _HMACSession(Authenticator):
    """The state of one connection's authentication, for either side."""

    challenge_response = True

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._nonce_c: bytes | None = None
        self._nonce_s: bytes | None = None
        self._done = False

    def _mac(self, role: bytes) -> bytes:
        assert self._nonce_c is not None and self._nonce_s is not None
        data = _CONTEXT + role + self._nonce_c + self._nonce_s
        return hmac.new(self._secret, data, hashlib.sha256).digest()

    def _once(self) -> None:
        if self._done:
            raise AuthenticationError("an authentication session serves one connection start only")

    # --- connecting side ---------------------------------------------------------------

    def hello(self) -> bytes:
        self._once()
        self._nonce_c = secrets.token_bytes(NONCE_BYTES)
        return _TAG + self._nonce_c

    def check_reply(self, auth: bytes | None, peer_address: str) -> bytes:
        self._once()
        self._done = True
        if self._nonce_c is None:
            raise AuthenticationError("check_reply before hello")
        if auth is None:
            raise AuthenticationError(
                f"{peer_address} did not authenticate itself; this side requires the cluster secret"
            )
        body = _parse(auth, NONCE_BYTES + _MAC_BYTES, "reply", peer_address)
        self._nonce_s, their_mac = body[:NONCE_BYTES], body[NONCE_BYTES:]
        if not hmac.compare_digest(their_mac, self._mac(_LISTENER)):
            raise AuthenticationError(
                f"{peer_address} did not prove it knows the cluster secret "
                "(the two sides have different secrets, or it is not the listener you meant)"
            )
        return _TAG + self._mac(_CONNECTOR)

    # --- listening side ----------------------------------------------------------------

    def check_hello(self, auth: bytes | None, peer_address: str) -> bytes:
        self._once()
        if auth is None:
            raise AuthenticationError(
                "no credentials were sent; this cluster requires its shared secret "
                f"(Client(address, security=Security(auth_secret=...)), --auth-file, ${ENV_VAR} "
                "or $PARDATA_AUTH_FILE)"
            )
        self._nonce_c = _parse(auth, NONCE_BYTES, "hello", peer_address)
        self._nonce_s = secrets.token_bytes(NONCE_BYTES)
        return _TAG + self._nonce_s + self._mac(_LISTENER)

    def check_proof(self, auth: bytes | None, peer_address: str) -> None:
        self._once()
        self._done = True
        if self._nonce_s is None:
            raise AuthenticationError("check_proof before check_hello")
        if auth is None:
            raise AuthenticationError("no proof of the cluster secret was sent")
        their_mac = _parse(auth, _MAC_BYTES, "proof", peer_address)
        if not hmac.compare_digest(their_mac, self._mac(_CONNECTOR)):
            raise AuthenticationError("wrong cluster secret (the connecting side's proof does not match)")


def _parse(auth: bytes, size: int, what: str, peer_address: str) -> bytes:
    """The body of an auth field after the scheme tag; refuses other schemes and sizes."""
    raw = bytes(auth)
    if len(raw) != len(_TAG) + size or not raw.startswith(_TAG):
        raise AuthenticationError(f"malformed or unsupported authentication {what} from {peer_address}")
    return raw[len(_TAG) :]


# --- secrets ---------------------------------------------------------------------------


def new_secret() -> bytes:
    """A fresh cluster secret of ``SECRET_BYTES`` random bytes."""
    return secrets.token_bytes(SECRET_BYTES)


def encode_secret(secret: bytes) -> str:
    """The text form of a secret (hex), for files and environment variables."""
    return _checked_secret(secret).hex()


def decode_secret(text: str | bytes, source: str = "the secret") -> bytes:
    """Parse a hex or base64 secret; raises ``ValueError`` naming ``source``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"{source} is not hex or base64 text") from None
    text = text.strip()
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        secret: bytes | None = bytes.fromhex(text)
    else:
        secret = _from_base64(text)
    if secret is None:
        raise ValueError(f"{source} is not hex or base64 text")
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"{source} is {len(secret)} bytes; a cluster secret needs at least {SECRET_BYTES}")
    return secret


def _from_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    if _URLSAFE_B64.fullmatch(text):
        try:
            return base64.urlsafe_b64decode(text)
        except (binascii.Error, ValueError):
            return None
    return None


def load_secret(path: str | os.PathLike | None = None, *, env: str = ENV_VAR, required: bool = True) -> bytes | None:
    """The cluster secret from the file ``path`` (``--auth-file``), else from ``$PARDATA_AUTH_SECRET``.

    A file readable or writable by group or others is refused (``PermissionError``):
    anyone who can read it can run code on the cluster. With ``required=False``
    returns None when neither source is given.
    """
    if path is not None:
        return _read_secret_file(os.fspath(path))
    text = os.environ.get(env)
    if text:
        return decode_secret(text, f"${env}")
    if required:
        raise LookupError(f"no cluster secret: pass --auth-file or set ${env}")
    return None


def _read_secret_file(path: str) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"secret file {path} is not a regular file")
        if os.name == "posix" and mode & 0o077:
            raise PermissionError(
                f"secret file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
                f"refusing to use it. Run: chmod 600 {path}"
            )
        data = os.read(fd, _MAX_SECRET_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_SECRET_FILE_BYTES:
        raise ValueError(f"secret file {path} is too large to be a secret")
    return decode_secret(data, f"secret file {path}")


def write_secret(path: str | os.PathLike, secret: bytes | None = None, *, overwrite: bool = False) -> bytes:
    """Write ``secret`` (default: a new one) to ``path`` with mode 0600, atomically.

    The file appears complete or not at all: it is written under a temporary
    name in the same directory (created 0600, never readable by others) and
    then linked into place, which fails with ``FileExistsError`` if ``path``
    exists unless ``overwrite``. Returns the secret.
    """
    secret = new_secret() if secret is None else _checked_secret(secret)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pardata-secret-")  # mode 0600
    try:
        try:
            os.write(fd, (encode_secret(secret) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(
                    errno.EEXIST, "refusing to overwrite an existing cluster secret", path
                ) from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return secret


def _checked_secret(secret: bytes) -> bytes:
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise TypeError(f"a cluster secret is bytes, got {type(secret).__name__} (use decode_secret for text)")
    secret = bytes(secret)
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"a cluster secret needs at least {SECRET_BYTES} bytes, got {len(secret)}")
    return secret
