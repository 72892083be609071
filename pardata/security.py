"""``Security``: what a cluster process needs to connect safely, in one object.

A cluster is protected by a shared secret (every connection starts with a
mutual HMAC challenge-response, ``pardata.comm.auth``), by TLS with a cluster
CA (``tls://`` addresses, each side verifying the other's certificate,
``pardata.comm.tls``), or both. The same ``Security`` object is handed to
``connect``/``listen`` (``security=``) on every side: it checks the address
against ``require_encryption``, builds the ``ssl.SSLContext`` for the client
or server side, and provides the authenticator.

Child processes get it through ``child_env()`` / ``Security.from_env()``:
the secret travels in an environment variable, never on a command line that
``ps`` would show.

>>> sec = Security.temporary(auth_secret=new_secret())   # doctest: +SKIP
>>> listener = await listen("tls://127.0.0.1:0", handler, security=sec)   # doctest: +SKIP
>>> comm = await connect(listener.address, security=sec)   # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import weakref
from typing import Mapping

from pardata._security_options import SECRET_ENV_VARS, add_cli_options
from pardata.comm.auth import (
    ENV_VAR,
    HMACAuthenticator,
    decode_secret,
    encode_secret,
    load_secret,
    new_secret,
    write_secret,
)
from pardata.comm.backends import get_backend, parse_address
from pardata.comm.handshake import Authenticator

__all__ = [
    "Security",
    "SecurityError",
    "new_secret",
    "load_secret",
    "write_secret",
    "add_cli_options",
    "security_from_cli",
]

#: Environment variables of ``child_env`` / ``from_env`` (besides ``PARDATA_AUTH_SECRET``).
TLS_CA_ENV = "PARDATA_TLS_CA_FILE"
TLS_CERT_ENV = "PARDATA_TLS_CERT"
TLS_KEY_ENV = "PARDATA_TLS_KEY"
REQUIRE_ENCRYPTION_ENV = "PARDATA_REQUIRE_ENCRYPTION"
#: A file holding the cluster secret, read when ``PARDATA_AUTH_SECRET`` is not set.
AUTH_FILE_ENV = "PARDATA_AUTH_FILE"

#: Schemes whose traffic never leaves the process, so need no encryption.
_IN_PROCESS_SCHEMES = frozenset({"inproc"})


class SecurityError(ValueError):
    """A connection or address that the security settings forbid."""


class Security:
    """TLS files, the encryption policy and the cluster secret of one process.

    ``tls_ca_file`` is the cluster CA (PEM) that every peer's certificate must
    be signed by; ``tls_cert``/``tls_key`` are this process's certificate and
    key (the key may sit in the cert file). Either all TLS files or none.
    ``auth_secret`` (bytes, at least 32) turns on the HMAC handshake.
    ``require_encryption`` refuses any address that is not ``tls://``.
    """

    def __init__(
        self,
        tls_ca_file: str | os.PathLike | None = None,
        tls_cert: str | os.PathLike | None = None,
        tls_key: str | os.PathLike | None = None,
        require_encryption: bool = False,
        auth_secret: bytes | None = None,
    ) -> None:
        self.tls_ca_file = os.fspath(tls_ca_file) if tls_ca_file is not None else None
        self.tls_cert = os.fspath(tls_cert) if tls_cert is not None else None
        self.tls_key = os.fspath(tls_key) if tls_key is not None else None
        self.require_encryption = bool(require_encryption)
        given = {"tls_ca_file": self.tls_ca_file, "tls_cert": self.tls_cert}
        if any(given.values()) or self.tls_key:
            missing = [name for name, value in given.items() if not value]
            if missing:
                raise SecurityError(f"TLS needs tls_ca_file and tls_cert (missing: {', '.join(missing)})")
        if self.require_encryption and not self.tls_enabled:
            raise SecurityError("require_encryption=True needs TLS files (tls_ca_file, tls_cert, tls_key)")
        self._authenticator = HMACAuthenticator(auth_secret) if auth_secret is not None else None
        self._auth_secret = auth_secret
        self._contexts: dict[str, ssl.SSLContext] = {}
        if self.tls_enabled:  # read the files now: a bad path is reported where it was given
            self.ssl_context("server")
            self.ssl_context("client")

    # --- what connect/listen use ---------------------------------------------------------

    @property
    def tls_enabled(self) -> bool:
        return self.tls_ca_file is not None

    @property
    def auth_secret(self) -> bytes | None:
        return self._auth_secret

    def authenticator(self) -> Authenticator | None:
        """The HMAC authenticator for the cluster secret, or None without one."""
        return self._authenticator

    def ssl_context(self, side: str) -> ssl.SSLContext | None:
        """The context for the ``"client"`` (connecting) or ``"server"`` (listening) side.

        Both sides present our certificate and require a peer certificate
        signed by the cluster CA. Host names are not checked: cluster addresses
        are usually bare IPs, and the private CA is what vouches for a peer.
        """
        if side not in ("client", "server"):
            raise ValueError(f"side is 'client' or 'server', not {side!r}")
        if not self.tls_enabled:
            return None
        context = self._contexts.get(side)
        if context is None:
            context = self._contexts[side] = self._new_context(side)
        return context

    def _new_context(self, side: str) -> ssl.SSLContext:
        purpose = ssl.Purpose.CLIENT_AUTH if side == "server" else ssl.Purpose.SERVER_AUTH
        try:
            context = ssl.create_default_context(purpose, cafile=self.tls_ca_file)
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except FileNotFoundError as e:
            raise SecurityError(f"TLS file not found: {e.filename}") from None
        except ssl.SSLError as e:
            raise SecurityError(
                f"cannot load TLS files (ca={self.tls_ca_file}, cert={self.tls_cert}, key={self.tls_key}): {e}"
            ) from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED  # mutual: the server demands a client cert too
        return context

    def check_address(self, address: str) -> None:
        """Raise ``SecurityError`` if the policy forbids connecting to or listening on ``address``."""
        scheme, _ = parse_address(address)
        if not self.require_encryption or scheme in _IN_PROCESS_SCHEMES:
            return
        if not get_backend(scheme).tls:
            raise SecurityError(
                f"encryption is required (require_encryption=True) but {address!r} is not encrypted; "
                "use a tls:// address"
            )

    # --- handing it to other processes ---------------------------------------------------

    def child_env(self) -> dict[str, str]:
        """Environment variables from which ``Security.from_env`` rebuilds this object."""
        env: dict[str, str] = {}
        if self._auth_secret is not None:
            env[ENV_VAR] = encode_secret(self._auth_secret)
        if self.tls_enabled:
            env[TLS_CA_ENV] = os.path.abspath(self.tls_ca_file)
            env[TLS_CERT_ENV] = os.path.abspath(self.tls_cert)
            if self.tls_key:
                env[TLS_KEY_ENV] = os.path.abspath(self.tls_key)
        if self.require_encryption:
            env[REQUIRE_ENCRYPTION_ENV] = "1"
        return env

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        auth_file: str | os.PathLike | None = None,
        tls_ca_file: str | os.PathLike | None = None,
        tls_cert: str | os.PathLike | None = None,
        tls_key: str | os.PathLike | None = None,
        require_encryption: bool | None = None,
    ) -> "Security":
        """Settings from command-line values (given ones win) and the environment.

        The secret comes from ``auth_file`` (``--auth-file``, which must be
        private: mode 0600), else ``$PARDATA_AUTH_SECRET``, else the file named by
        ``$PARDATA_AUTH_FILE``; none means no authentication, which the caller may
        refuse (and a cluster that wants a secret will).
        """
        environ = os.environ if environ is None else environ
        if auth_file is not None:
            secret = load_secret(auth_file)
        elif environ.get(ENV_VAR):
            secret = decode_secret(environ[ENV_VAR], f"${ENV_VAR}")
        elif environ.get(AUTH_FILE_ENV):
            secret = load_secret(environ[AUTH_FILE_ENV])
        else:
            secret = None
        if require_encryption is None:
            require_encryption = environ.get(REQUIRE_ENCRYPTION_ENV, "").lower() in ("1", "true", "yes")
        return cls(
            tls_ca_file=tls_ca_file if tls_ca_file is not None else environ.get(TLS_CA_ENV),
            tls_cert=tls_cert if tls_cert is not None else environ.get(TLS_CERT_ENV),
            tls_key=tls_key if tls_key is not None else environ.get(TLS_KEY_ENV),
            require_encryption=require_encryption,
            auth_secret=secret,
        )

    # --- for tests -----------------------------------------------------------------------

    @classmethod
    def temporary(
        cls,
        directory: str | os.PathLike | None = None,
        *,
        require_encryption: bool = False,
        auth_secret: bytes | None = None,
    ) -> "Security":
        """A new self-signed CA and one certificate/key it signed, for tests.

        The files go to ``directory``, or to a private temporary directory that
        is removed when this object is garbage collected. Needs the ``openssl``
        command line tool. Each call makes a new CA, so two temporary sets do
        not trust each other.
        """
        owned = directory is None
        path = tempfile.mkdtemp(prefix="pardata-tls-") if owned else os.fspath(directory)
        try:
            ca, cert, key = _make_test_certificates(path)
            security = cls(ca, cert, key, require_encryption=require_encryption, auth_secret=auth_secret)
        except BaseException:
            if owned:
                shutil.rmtree(path, ignore_errors=True)
            raise
        if owned:
            weakref.finalize(security, shutil.rmtree, path, True)
        return security

    # --- plumbing --------------------------------------------------------------------------

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_contexts"] = {}  # SSLContexts do not pickle; rebuilt from the files on use
        return state

    def __repr__(self) -> str:  # never shows the secret
        parts = []
        if self.tls_enabled:
            parts.append(f"tls_ca_file={self.tls_ca_file!r}, tls_cert={self.tls_cert!r}")
        parts.append(f"require_encryption={self.require_encryption}")
        parts.append(f"auth={'on' if self._auth_secret is not None else 'off'}")
        return f"Security({', '.join(parts)})"


# --- the command-line options shared by pardata-scheduler and pardata-worker ---------------

def security_from_cli(
    args: argparse.Namespace,
    prog: str,
    *,
    environ: Mapping[str, str] | None = None,
    auth_file: str | None = None,
) -> Security:
    """The ``Security`` of a command line: its flags, else the environment.

    The secret comes from ``--auth-file``, else ``$PARDATA_AUTH_SECRET`` or
    ``$PARDATA_AUTH_FILE``, else ``auth_file`` (a caller's fallback). ``--no-auth``
    turns authentication off explicitly, and says so in the log. Bad files exit
    with a message naming the file and the problem.
    """
    environ = dict(os.environ if environ is None else environ)
    chosen = args.auth_file
    if args.no_auth:
        if args.auth_file:
            raise SystemExit(f"{prog}: --auth-file and --no-auth contradict each other")
        for name in SECRET_ENV_VARS:
            environ.pop(name, None)
        logging.getLogger("pardata.security").warning(
            "%s: authentication is off (--no-auth): anyone who can reach this process can run code in it", prog)
    elif chosen is None and not any(environ.get(name) for name in SECRET_ENV_VARS):
        chosen = auth_file
    try:
        return Security.from_env(
            environ,
            auth_file=chosen,
            tls_ca_file=args.tls_ca_file,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            require_encryption=args.require_encryption,
        )
    except FileNotFoundError as e:
        raise SystemExit(f"{prog}: no such secret or TLS file: {e.filename}") from None
    except (OSError, ValueError) as e:  # PermissionError (mode), malformed secret, SecurityError
        raise SystemExit(f"{prog}: {e}") from None


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = pardata
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[node_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment, keyAgreement
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _make_test_certificates(directory: str) -> tuple[str, str, str]:
    """Write ``ca.pem``, ``cert.pem`` and ``key.pem`` (EC P-256, valid 7 days) with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SecurityError("Security.temporary needs the openssl command line tool")
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    with open(p("openssl.cnf"), "w") as f:
        f.write(_OPENSSL_CONFIG)
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-x509", "-new", "-config", p("openssl.cnf"), "-extensions", "ca_ext", *newkey,
         "-keyout", p("ca-key.pem"), "-out", p("ca.pem"), "-days", "7", "-subj", "/CN=pardata test CA"],
        ["req", "-new", "-config", p("openssl.cnf"), *newkey,
         "-keyout", p("key.pem"), "-out", p("cert.csr"), "-subj", "/CN=pardata test node"],
        ["x509", "-req", "-in", p("cert.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca-key.pem"),
         "-set_serial", "0x" + secrets.token_hex(16), "-days", "7",
         "-extfile", p("openssl.cnf"), "-extensions", "node_ext", "-out", p("cert.pem")],
    ]
    for args in steps:
        done = subprocess.run([openssl, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise SecurityError(f"openssl {args[0]} failed: {done.stderr.strip()}")
    for key in ("ca-key.pem", "key.pem"):
        os.chmod(p(key), 0o600)
    return p("ca.pem"), p("cert.pem"), p("key.pem")
