"""The HMAC challenge-response handshake: sessions alone, then over live listeners."""

from __future__ import annotations

import asyncio
import logging
import pickle
import secrets

import pytest

from pardata.comm import (
    PROTOCOL_VERSION,
    AuthenticationError,
    Authenticator,
    Error,
    Handshake,
    HandshakeReply,
    Heartbeat,
    HMACAuthenticator,
    connect,
    decode,
    listen,
)
from pardata.security import Security, new_secret

pytestmark = pytest.mark.timeout(60)

ADDRESSES = ["tcp://127.0.0.1:0", "inproc://"]
TAG = b"PDA1"


@pytest.fixture
def secret():
    return new_secret()


# --- the sessions, without a network ----------------------------------------------------


def exchange(client_auth: Authenticator, server_auth: Authenticator):
    """Run the four legs in memory; returns (hello, reply, proof)."""
    client, server = client_auth.session(), server_auth.session()
    hello = client.hello()
    reply = server.check_hello(hello, "tcp://client")
    proof = client.check_reply(reply, "tcp://server")
    server.check_proof(proof, "tcp://client")
    return hello, reply, proof


def test_both_sides_prove_the_same_secret(secret):
    hello, reply, proof = exchange(HMACAuthenticator(secret), HMACAuthenticator(secret))
    assert hello.startswith(TAG) and reply.startswith(TAG) and proof.startswith(TAG)
    assert secret not in hello + reply + proof
    # the two directions' MACs differ, so one can never stand in for the other
    assert proof[len(TAG) :] != reply[-32:]


def test_every_connection_uses_fresh_nonces(secret):
    a = exchange(HMACAuthenticator(secret), HMACAuthenticator(secret))
    b = exchange(HMACAuthenticator(secret), HMACAuthenticator(secret))
    assert all(x != y for x, y in zip(a, b))


def test_wrong_secret_fails_on_both_legs(secret):
    client = HMACAuthenticator(new_secret()).session()
    server = HMACAuthenticator(secret).session()
    reply = server.check_hello(client.hello(), "tcp://client")
    with pytest.raises(AuthenticationError, match="did not prove it knows the cluster secret"):
        client.check_reply(reply, "tcp://server")
    forged = TAG + secrets.token_bytes(32)
    with pytest.raises(AuthenticationError, match="wrong cluster secret"):
        server.check_proof(forged, "tcp://client")


def test_a_session_authenticates_one_connection_only(secret):
    auth = HMACAuthenticator(secret)
    client, server = auth.session(), auth.session()
    reply = server.check_hello(client.hello(), "c")
    proof = client.check_reply(reply, "s")
    server.check_proof(proof, "c")
    with pytest.raises(AuthenticationError):
        server.check_proof(proof, "c")
    with pytest.raises(AuthenticationError):
        client.check_reply(reply, "s")


@pytest.mark.parametrize(
    "auth", [None, b"", b"PDA1", b"XXXX" + bytes(32), TAG + bytes(31), TAG + bytes(33), b"\x80" * 36]
)
def test_malformed_fields_are_refused(secret, auth):
    with pytest.raises(AuthenticationError):
        HMACAuthenticator(secret).session().check_hello(auth, "c")
    client = HMACAuthenticator(secret).session()
    client.hello()
    with pytest.raises(AuthenticationError):
        client.check_reply(auth, "s")


def test_secrets_must_be_long_and_are_never_shown(secret):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        HMACAuthenticator(b"x" * 31)
    with pytest.raises(TypeError, match="decode_secret"):
        HMACAuthenticator(secret.hex())
    assert secret.hex() not in repr(HMACAuthenticator(secret))
    assert secret.hex() not in repr(Security(auth_secret=secret))


# --- over live listeners --------------------------------------------------------------------


async def serve(address, secret, echo, calls=None, **kw):
    async def handler(comm):
        if calls is not None:
            calls.append(comm.peer_name)
        await echo(comm)

    return await listen(address, handler, authenticator=HMACAuthenticator(secret), name="server", **kw)


async def assert_served(comm, value: float) -> None:
    await comm.write(Heartbeat(time=value))
    assert await comm.read() == Heartbeat(time=value)


@pytest.mark.parametrize("address", ADDRESSES)
def test_good_secret_connects_and_exchanges_messages(arun, address, secret, echo):
    async def main():
        listener = await serve(address, secret, echo)
        comm = await connect(listener.address, authenticator=HMACAuthenticator(secret), name="client")
        assert comm.peer_name == "server"
        await assert_served(comm, 1.5)
        # the same secret through a Security object
        other = await connect(listener.address, security=Security(auth_secret=secret))
        await assert_served(other, 2.5)
        await comm.close()
        await other.close()
        await listener.stop()

    arun(main())


@pytest.mark.parametrize("address", ADDRESSES)
def test_wrong_secret_gets_one_clear_error_and_others_are_served(arun, address, secret, echo):
    async def main():
        calls = []
        listener = await serve(address, secret, echo, calls)
        bystander = await connect(listener.address, authenticator=HMACAuthenticator(secret), name="bystander")
        with pytest.raises(AuthenticationError, match=r"^authentication failed: .*cluster secret"):
            await connect(listener.address, authenticator=HMACAuthenticator(new_secret()), name="intruder")
        await assert_served(bystander, 1.0)
        newcomer = await connect(listener.address, authenticator=HMACAuthenticator(secret), name="newcomer")
        await assert_served(newcomer, 2.0)
        await bystander.close()
        await newcomer.close()
        await listener.stop()
        assert calls == ["bystander", "newcomer"]

    arun(main())


def test_forged_proof_gets_one_refusal_then_hang_up(arun, secret, echo, raw_peer, caplog):
    async def main():
        listener = await serve("tcp://127.0.0.1:0", secret, echo)
        peer = await raw_peer.open(listener.address)
        await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=TAG + secrets.token_bytes(32)))
        challenge = decode(await peer.read_message_frames())
        assert isinstance(challenge, HandshakeReply) and len(challenge.auth) == 4 + 64
        await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=TAG + secrets.token_bytes(32)))
        verdict = decode(await peer.read_message_frames())
        assert isinstance(verdict, HandshakeReply) and not verdict.accepted
        assert verdict.reason.startswith("authentication failed: wrong cluster secret")
        assert await peer.wait_closed_by_server() == b""  # nothing more, then EOF
        await peer.close()
        await listener.stop()

    with caplog.at_level(logging.WARNING, logger="pardata.comm"):
        arun(main())
    assert any("authentication failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("address", ADDRESSES)
def test_client_without_auth_is_refused_with_one_error(arun, address, secret, echo):
    async def main():
        calls = []
        listener = await serve(address, secret, echo, calls)
        with pytest.raises(AuthenticationError, match="refused the connection: authentication failed: no credentials"):
            await connect(listener.address, name="anonymous")
        await listener.stop()
        assert calls == []

    arun(main())


def test_anonymous_raw_hello_gets_one_refusal(arun, secret, echo, raw_peer):
    async def main():
        listener = await serve("tcp://127.0.0.1:0", secret, echo)
        peer = await raw_peer.open(listener.address)
        await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, name="raw"))
        verdict = decode(await peer.read_message_frames())
        assert not verdict.accepted and verdict.reason.startswith("authentication failed:")
        assert await peer.wait_closed_by_server() == b""
        await peer.close()
        await listener.stop()

    arun(main())


def test_auth_client_refuses_an_open_listener(arun, secret, echo):
    async def main():
        listener = await listen("tcp://127.0.0.1:0", echo)
        with pytest.raises(AuthenticationError, match="did not authenticate itself"):
            await connect(listener.address, authenticator=HMACAuthenticator(secret))
        await listener.stop()

    arun(main())


async def honest_raw_handshake(peer, secret):
    """Authenticate a raw peer by hand; returns (hello, reply, proof) as sent on the wire."""
    session = HMACAuthenticator(secret).session()
    hello = session.hello()
    await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=hello))
    reply = decode(await peer.read_message_frames())
    proof = session.check_reply(reply.auth, "server")
    await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=proof))
    verdict = decode(await peer.read_message_frames())
    assert verdict.accepted
    return hello, bytes(reply.auth), proof


def test_replayed_client_transcript_fails(arun, secret, echo, raw_peer):
    async def main():
        listener = await serve("tcp://127.0.0.1:0", secret, echo)
        peer = await raw_peer.open(listener.address)
        hello, reply, proof = await honest_raw_handshake(peer, secret)
        await peer.close()

        replay = await raw_peer.open(listener.address)
        await replay.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=hello))
        new_reply = decode(await replay.read_message_frames())
        assert bytes(new_reply.auth) != reply  # a fresh challenge ...
        await replay.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=proof))
        verdict = decode(await replay.read_message_frames())
        assert not verdict.accepted and verdict.reason.startswith("authentication failed:")  # ... the old answer fails
        await replay.wait_closed_by_server()
        await replay.close()
        await listener.stop()

    arun(main())


class ReplayingListener(Authenticator):
    """A fake listener that answers every hello with a recorded reply."""

    challenge_response = True

    def __init__(self, recorded: bytes) -> None:
        self.recorded = recorded

    def check_hello(self, auth, peer_address):
        return self.recorded


def test_replayed_listener_reply_fails(arun, secret, echo, raw_peer):
    async def main():
        listener = await serve("tcp://127.0.0.1:0", secret, echo)
        peer = await raw_peer.open(listener.address)
        _, recorded, _ = await honest_raw_handshake(peer, secret)
        await peer.close()
        await listener.stop()

        impostor = await listen("tcp://127.0.0.1:0", echo, authenticator=ReplayingListener(recorded))
        with pytest.raises(AuthenticationError, match="did not prove it knows the cluster secret"):
            await connect(impostor.address, authenticator=HMACAuthenticator(secret))
        await impostor.stop()

    arun(main())


def test_reflected_reply_fails(arun, secret, echo, raw_peer):
    """The listener's own MAC sent back to it as the connecting side's proof."""

    async def main():
        listener = await serve("tcp://127.0.0.1:0", secret, echo)
        peer = await raw_peer.open(listener.address)
        await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=TAG + secrets.token_bytes(32)))
        reply = bytes(decode(await peer.read_message_frames()).auth)
        await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=TAG + reply[-32:]))
        verdict = decode(await peer.read_message_frames())
        assert not verdict.accepted and "authentication failed" in verdict.reason
        await peer.close()

        # nor can a second connection's challenge be answered with the first's MAC
        first = await raw_peer.open(listener.address)
        second = await raw_peer.open(listener.address)
        nonce = TAG + secrets.token_bytes(32)
        await first.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=nonce))
        await second.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=nonce))
        r1 = bytes(decode(await first.read_message_frames()).auth)
        decode(await second.read_message_frames())
        await second.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=TAG + r1[-32:]))
        assert not decode(await second.read_message_frames()).accepted
        await first.close()
        await second.close()
        await listener.stop()

    arun(main())


# --- nothing is unpickled before the handshake succeeded ------------------------------------


def test_canary_fires_for_an_authenticated_peer(arun, secret, echo, canary):
    """Control: the trusting handler does unpickle, so the canary tests below can see it."""
    path, payload = canary

    async def main():
        listener = await serve("tcp://127.0.0.1:0", secret, echo)
        comm = await connect(listener.address, authenticator=HMACAuthenticator(secret))
        await comm.write(Error(reason="control", exception=payload))
        await comm.read()
        await comm.close()
        await listener.stop()

    arun(main())
    assert path.exists()


CANARY_ATTACKS = [
    "raw-pickle-stream",
    "payload-instead-of-hello",
    "pickle-in-auth-field",
    "payload-after-anonymous-hello",
    "payload-after-forged-proof",
    "payload-instead-of-proof",
]


@pytest.mark.parametrize("attack", CANARY_ATTACKS)
def test_pickle_before_the_handshake_is_never_unpickled(arun, secret, echo, canary, raw_peer, attack):
    path, payload = canary
    raw_pickle = bytes(payload.frames[0])
    assert pickle.loads(raw_pickle) is None and path.exists()  # the bytes really are the canary
    path.unlink()
    evil = Error(reason="boom", exception=payload)

    async def main():
        calls = []
        listener = await serve("tcp://127.0.0.1:0", secret, echo, calls, handshake_timeout=2.0)
        peer = await raw_peer.open(listener.address)
        hello = Handshake(protocol=PROTOCOL_VERSION, auth=TAG + secrets.token_bytes(32))
        if attack == "raw-pickle-stream":
            await peer.send(raw_pickle)
        elif attack == "payload-instead-of-hello":
            await peer.send_message(evil)
        elif attack == "pickle-in-auth-field":
            await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=raw_pickle))
        elif attack == "payload-after-anonymous-hello":  # pipelined: no waiting for the verdict
            await peer.send_message(Handshake(protocol=PROTOCOL_VERSION))
            await peer.send_message(evil)
        elif attack == "payload-after-forged-proof":
            await peer.send_message(hello)
            await peer.read_message_frames()
            await peer.send_message(Handshake(protocol=PROTOCOL_VERSION, auth=TAG + bytes(32)))
            await peer.send_message(evil)
        elif attack == "payload-instead-of-proof":
            await peer.send_message(hello)
            await peer.read_message_frames()
            await peer.send_message(evil)
        await peer.wait_closed_by_server()
        await peer.close()
        await asyncio.sleep(0.05)
        await listener.stop()
        assert calls == []

    arun(main())
    assert not path.exists()
