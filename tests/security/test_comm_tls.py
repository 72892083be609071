"""``tls://`` with mutual certificate checks, ``Security`` and ``require_encryption``."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import ssl
import stat
import time

import pytest

from pardata.comm import (
    AuthenticationError,
    CommError,
    HandshakeError,
    Heartbeat,
    HMACAuthenticator,
    connect,
    listen,
)
from pardata.security import Security, SecurityError, new_secret

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def cluster_tls():
    """One CA and certificate for the module (making them costs a few openssl runs)."""
    return Security.temporary()


@pytest.fixture(scope="module")
def stranger_tls():
    """A different CA: its certificates are not trusted by ``cluster_tls``."""
    return Security.temporary()


async def assert_served(comm, value: float) -> None:
    await comm.write(Heartbeat(time=value))
    assert await comm.read() == Heartbeat(time=value)


class Only:
    """A Security stand-in that hands out one given client context."""

    def __init__(self, context):
        self.context = context

    def check_address(self, address):
        pass

    def authenticator(self):
        return None

    def ssl_context(self, side):
        return self.context


def test_temporary_creates_a_ca_and_a_private_key(cluster_tls):
    for path in (cluster_tls.tls_ca_file, cluster_tls.tls_cert, cluster_tls.tls_key):
        assert os.path.exists(path)
    assert stat.S_IMODE(os.stat(cluster_tls.tls_key).st_mode) == 0o600
    for side in ("client", "server"):
        ctx = cluster_tls.ssl_context(side)
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_temporary_files_go_away_with_the_object():
    sec = Security.temporary()
    directory = os.path.dirname(sec.tls_ca_file)
    assert os.path.isdir(directory)
    del sec
    gc.collect()
    assert not os.path.exists(directory)


def test_tls_round_trip_with_mutual_authentication(arun, cluster_tls, echo):
    async def main():
        seen = []

        async def handler(comm):
            seen.append(comm.peer_certificate)
            await echo(comm)

        listener = await listen("tls://127.0.0.1:0", handler, security=cluster_tls, name="server")
        assert listener.address.startswith("tls://127.0.0.1:")
        comm = await connect(listener.address, security=cluster_tls, name="client")
        assert comm.peer_name == "server" and comm.peer_address.startswith("tls://")
        await assert_served(comm, 1.0)
        big = Heartbeat(time=2.0)
        await assert_served(comm, big.time)
        assert dict(x[0] for x in comm.peer_certificate["subject"])["commonName"] == "pardata test node"
        await comm.close()
        await listener.stop()
        # the listener saw the client's verified certificate: authentication was mutual
        assert seen and seen[0] and dict(x[0] for x in seen[0]["subject"])["commonName"] == "pardata test node"

    arun(main())


def test_tls_and_the_cluster_secret_together(arun, tmp_path, echo):
    secret = new_secret()

    async def main():
        sec = Security.temporary(tmp_path, auth_secret=secret)
        listener = await listen("tls://127.0.0.1:0", echo, security=sec)
        comm = await connect(listener.address, security=sec)
        await assert_served(comm, 3.0)
        await comm.close()
        wrong = Security(sec.tls_ca_file, sec.tls_cert, sec.tls_key, auth_secret=new_secret())
        with pytest.raises(AuthenticationError, match="^authentication failed"):
            await connect(listener.address, security=wrong)
        await listener.stop()

    arun(main())


def test_client_without_certificate_is_refused(arun, cluster_tls, echo):
    async def main():
        listener = await listen("tls://127.0.0.1:0", echo, security=cluster_tls)
        bystander = await connect(listener.address, security=cluster_tls)
        no_cert = ssl.create_default_context(cafile=cluster_tls.tls_ca_file)
        no_cert.check_hostname = False
        with pytest.raises(CommError, match="TLS|certificate"):
            await connect(listener.address, security=Only(no_cert), timeout=5)
        await assert_served(bystander, 1.0)
        await bystander.close()
        await listener.stop()

    arun(main())


def test_certificates_of_another_ca_are_refused_both_ways(arun, cluster_tls, stranger_tls, echo):
    async def main():
        listener = await listen("tls://127.0.0.1:0", echo, security=cluster_tls)
        # a client whose cert the listener does not trust (but which trusts the listener)
        mixed = ssl.create_default_context(cafile=cluster_tls.tls_ca_file)
        mixed.check_hostname = False
        mixed.load_cert_chain(stranger_tls.tls_cert, stranger_tls.tls_key)
        with pytest.raises(HandshakeError, match="TLS|certificate"):
            await connect(listener.address, security=Only(mixed), timeout=5)
        # a client that does not trust the listener's cert
        with pytest.raises(HandshakeError, match="certificate verify failed"):
            await connect(listener.address, security=stranger_tls, timeout=5)
        comm = await connect(listener.address, security=cluster_tls)
        await assert_served(comm, 2.0)
        await comm.close()
        await listener.stop()

    arun(main())


def test_plain_tcp_client_cannot_talk_to_a_tls_listener(arun, cluster_tls, echo):
    async def main():
        listener = await listen("tls://127.0.0.1:0", echo, security=cluster_tls)
        plain = "tcp://" + listener.address.removeprefix("tls://")
        with pytest.raises(CommError):
            await connect(plain, timeout=2)
        comm = await connect(listener.address, security=cluster_tls)
        await assert_served(comm, 4.0)
        await comm.close()
        await listener.stop()

    arun(main())


def test_require_encryption_refuses_tcp(arun, tmp_path, echo):
    async def main():
        sec = Security.temporary(tmp_path, require_encryption=True)
        with pytest.raises(SecurityError, match="encryption is required.*use a tls:// address"):
            await listen("tcp://127.0.0.1:0", echo, security=sec)
        with pytest.raises(SecurityError, match="encryption is required"):
            await connect("tcp://127.0.0.1:1", security=sec)
        listener = await listen("tls://127.0.0.1:0", echo, security=sec)
        comm = await connect(listener.address, security=sec)
        await assert_served(comm, 5.0)
        await comm.close()
        await listener.stop()
        # in-process comms never leave the process: allowed
        local = await listen("inproc://", echo, security=sec)
        comm = await connect(local.address, security=sec)
        await assert_served(comm, 6.0)
        await comm.close()
        await local.stop()

    arun(main())


def test_configuration_errors_are_clear(arun, tmp_path, cluster_tls, echo):
    with pytest.raises(SecurityError, match="require_encryption=True needs TLS files"):
        Security(require_encryption=True)
    with pytest.raises(SecurityError, match="missing: tls_cert"):
        Security(tls_ca_file=cluster_tls.tls_ca_file)
    with pytest.raises(SecurityError, match="TLS file not found"):
        Security(cluster_tls.tls_ca_file, tmp_path / "nope.pem", cluster_tls.tls_key)
    with pytest.raises(SecurityError, match="cannot load TLS files"):
        Security(cluster_tls.tls_ca_file, cluster_tls.tls_ca_file, cluster_tls.tls_key)

    async def main():
        with pytest.raises(ValueError, match="is a TLS address: pass security="):
            await listen("tls://127.0.0.1:0", echo)
        with pytest.raises(ValueError, match="is a TLS address"):
            await connect("tls://127.0.0.1:1", security=Security(auth_secret=new_secret()))
        sec = Security(auth_secret=new_secret())
        with pytest.raises(ValueError, match="not both"):
            await connect("tcp://127.0.0.1:1", security=sec, authenticator=HMACAuthenticator(new_secret()))

    arun(main())


def test_security_pickles_without_its_contexts(cluster_tls):
    secret = new_secret()
    sec = Security(cluster_tls.tls_ca_file, cluster_tls.tls_cert, cluster_tls.tls_key, auth_secret=secret)
    copy = pickle.loads(pickle.dumps(sec))
    assert copy.auth_secret == secret and copy.ssl_context("server") is not None
    assert secret.hex() not in repr(copy)


def test_a_listener_that_never_speaks_tls_times_out_cleanly(arun, cluster_tls):
    async def main():
        accepted = []
        hung_up = asyncio.Event()

        async def mute(reader, writer):  # accepts TCP, never answers the TLS hello
            accepted.append(writer)
            await reader.read()  # until the client gives up and closes its socket
            hung_up.set()

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        start = time.monotonic()
        with pytest.raises(HandshakeError, match="TLS handshake with .* timed out"):
            await connect(f"tls://127.0.0.1:{port}", security=cluster_tls, timeout=0.5)
        assert time.monotonic() - start < 2
        await asyncio.wait_for(hung_up.wait(), 2)  # the half-made TLS stream was closed
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
        gc.collect()

    arun(main())
