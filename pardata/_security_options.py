"""The security options of ``pardata-scheduler`` and ``pardata-worker``, declared once.

Kept apart from ``pardata.security`` (which imports the comm layer) so that a nanny
can parse its command line and start its worker without importing tornado first.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["add_cli_options", "has_secret_source", "SECRET_ENV_VARS"]

#: Environment variables that may hold the cluster secret or name its file.
SECRET_ENV_VARS = ("PARDATA_AUTH_SECRET", "PARDATA_AUTH_FILE")


def add_cli_options(parser: argparse.ArgumentParser) -> None:
    """``--auth-file``, ``--no-auth`` and the TLS options, on ``parser``."""
    group = parser.add_argument_group("security")
    group.add_argument("--auth-file", default=None, metavar="PATH",
                       help="file holding the cluster secret (mode 0600), e.g. written by "
                       "pardata.security.write_secret or by pardata-scheduler; else $PARDATA_AUTH_SECRET "
                       "or $PARDATA_AUTH_FILE")
    group.add_argument("--no-auth", action="store_true",
                       help="run without the cluster secret: anyone who can reach the port can run code here")
    group.add_argument("--tls-ca-file", default=None, metavar="PEM",
                       help="the cluster CA that every peer's certificate must chain to")
    group.add_argument("--tls-cert", default=None, metavar="PEM", help="this process's certificate (may hold the key)")
    group.add_argument("--tls-key", default=None, metavar="PEM", help="this process's private key")
    group.add_argument("--require-encryption", action="store_true", default=None,
                       help="refuse any address that is not tls://")


def has_secret_source(args: argparse.Namespace, environ=None) -> bool:
    """Whether the flags or the environment name a secret (or ``--no-auth`` waives it)."""
    environ = os.environ if environ is None else environ
    return bool(args.no_auth or args.auth_file or any(environ.get(name) for name in SECRET_ENV_VARS))
