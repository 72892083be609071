"""connect/listen, the handshake and large data, on every backend."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from pardata.comm import (
    PROTOCOL_VERSION,
    AuthenticationError,
    Authenticator,
    CommClosedError,
    CommError,
    Error,
    Handshake,
    HandshakeError,
    HandshakeReply,
    Heartbeat,
    Limits,
    ProtocolError,
    connect,
    decode,
    listen,
    parse_address,
    split_host_port,
)
from pardata.serialize import Serialized, deserialize, serialize

pytestmark = pytest.mark.timeout(60)

BACKENDS = ["tcp://127.0.0.1:0", "inproc://"]


@pytest.fixture(params=BACKENDS, ids=["tcp", "inproc"])
def address(request):
    return request.param


def test_round_trip_and_addresses(arun, echo_server, address):
    async def main():
        async with echo_server(address, name="echo") as listener:
            comm = await connect(listener.address, name="client")
            try:
                for i in range(3):
                    await comm.write(Heartbeat(time=float(i)))
                    assert await comm.read() == Heartbeat(time=float(i))
                assert comm.peer_name == "echo"
                (served,) = listener.comms
                assert served.peer_name == "client"
                assert served.peer_address == comm.local_address
                assert comm.peer_address == listener.address
            finally:
                await comm.close()
            assert comm.closed()

    arun(main())


def test_listener_stop_closes_connections(arun, echo_server, address):
    async def main():
        server = echo_server(address)
        listener = await server.__aenter__()
        comm = await connect(listener.address)
        await listener.stop()
        with pytest.raises(CommClosedError):
            await comm.read()
        assert not listener.comms
        with pytest.raises(CommError, match="could not connect"):
            await connect(listener.address, timeout=0.1)

    arun(main())


def test_cancelled_read_closes_the_comm(arun, echo_server, address):
    async def main():
        async with echo_server(address) as listener:
            comm = await connect(listener.address)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(comm.read(), 0.05)
            assert comm.closed()
            with pytest.raises(CommClosedError):
                await comm.write(Heartbeat(time=0.0))

    arun(main())


def test_numpy_array_crosses_tcp_without_copies(arun, echo_server):
    array = np.random.default_rng(0).random(2_500_000)  # 20 MB

    async def main():
        received = asyncio.get_running_loop().create_future()

        async def keep(comm):
            received.set_result(await comm.read())

        listener = await listen("tcp://127.0.0.1:0", keep)
        comm = await connect(listener.address)
        try:
            tracemalloc.start()
            payload = serialize(array)
            await comm.write(Error(reason="data", exception=payload))
            msg = await received
            result = deserialize(msg.exception)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            await comm.close()
            await listener.stop()
        assert np.array_equal(result, array) and result.flags.writeable
        # sender: the frame is a view of the array; receiver: the array is a view of the frame
        assert np.shares_memory(np.frombuffer(payload.frames[1], "u1"), array)
        assert np.shares_memory(result, np.frombuffer(msg.exception.frames[1], "u1"))
        # one receive buffer in total: nothing was copied on the way
        assert array.nbytes <= peak < 1.3 * array.nbytes, peak

    arun(main())


def test_dataframe_round_trips(arun, echo_server, address):
    df = pd.DataFrame(
        {"a": np.arange(100_000), "b": np.random.default_rng(1).random(100_000), "c": ["x", "y"] * 50_000}
    )

    async def main():
        async with echo_server(address) as listener:
            comm = await connect(listener.address)
            await comm.write(Error(reason="df", exception=serialize(df)))
            msg = await comm.read()
            await comm.close()
        pd.testing.assert_frame_equal(deserialize(msg.exception), df)

    arun(main())


def test_forwarding_a_payload_never_unpickles_it(arun, address):
    """A middle hop (the scheduler's role) relays a payload it cannot even unpickle."""
    payload = serialize(np.arange(50_000))
    poisoned = Serialized({"serializer": "pickle"}, [b"\x80\x05not-a-pickle", *payload.frames[1:]])

    async def main():
        delivered = asyncio.get_running_loop().create_future()

        async def sink(comm):
            delivered.set_result(await comm.read())

        async def relay(comm):
            msg = await comm.read()
            onward = await connect(end.address)
            await onward.write(msg)
            await onward.close()

        end = await listen(address, sink)
        middle = await listen(address, relay)
        comm = await connect(middle.address)
        await comm.write(Error(reason="task", exception=poisoned))
        msg = await delivered
        await comm.close()
        await middle.stop()
        await end.stop()
        assert msg.exception == poisoned

    arun(main())


def test_oversize_message_from_a_client_closes_only_its_connection(arun, echo_server, address, caplog, limits):
    async def main():
        async with echo_server(address) as listener:
            good = await connect(listener.address)
            bad = await connect(listener.address)
            with pytest.raises(CommClosedError):  # the write itself may see the reset
                await bad.write(Error(reason="big", exception=serialize(bytes(limits.max_message_bytes + 1))))
                await bad.read()
            await good.write(Heartbeat(time=1.0))
            assert await good.read() == Heartbeat(time=1.0)
            await good.close()

    with caplog.at_level(logging.WARNING, logger="pardata.comm"):
        arun(main())
    assert any("limit is" in r.getMessage() for r in caplog.records)


# --- handshake ----------------------------------------------------------------


def test_version_mismatch_is_refused_with_a_reason(arun, echo_server, raw_peer):
    async def main():
        async with echo_server() as listener:
            peer = await raw_peer.open(listener.address)
            await peer.send_message(Handshake(protocol=PROTOCOL_VERSION + 1))
            reply = decode(await peer.read_message_frames())
            assert isinstance(reply, HandshakeReply) and not reply.accepted
            assert "protocol version" in reply.reason
            await peer.wait_closed_by_server()
            await peer.close()

    arun(main())


class Password(Authenticator):
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def hello(self):
        return self.secret

    def check_hello(self, auth, peer_address):
        if auth != b"sesame":
            raise AuthenticationError("wrong password")
        return b"welcome"

    def check_reply(self, auth, peer_address):
        if auth != b"welcome":
            raise AuthenticationError("server is not who we think")


def test_authenticator_runs_before_the_handler(arun, address):
    async def main():
        handled = []

        async def handler(comm):
            handled.append(comm.peer_name)

        listener = await listen(address, handler, authenticator=Password(b"sesame"))
        with pytest.raises(HandshakeError, match="wrong password"):
            await connect(listener.address, authenticator=Password(b"guess"), name="intruder")
        comm = await connect(listener.address, authenticator=Password(b"sesame"), name="friend")
        await comm.close()
        await listener.stop()
        assert handled == ["friend"]

    arun(main())


def test_first_message_must_be_a_handshake(arun, echo_server, raw_peer, caplog):
    async def main():
        async with echo_server() as listener:
            peer = await raw_peer.open(listener.address)
            await peer.send_message(Heartbeat(time=0.0))
            await peer.wait_closed_by_server()
            await peer.close()

    with caplog.at_level(logging.WARNING, logger="pardata.comm"):
        arun(main())
    assert any("expected handshake, got heartbeat" in r.getMessage() for r in caplog.records)


def test_connect_retries_until_the_listener_appears(arun, echo_server):
    async def main():
        async def start_later():
            await asyncio.sleep(0.1)
            return await listen("inproc://late-listener", lambda comm: asyncio.sleep(0))

        starter = asyncio.ensure_future(start_later())
        comm = await connect("inproc://late-listener", timeout=5)
        listener = await starter
        await comm.close()
        await listener.stop()

    arun(main())


def test_connect_times_out_with_a_clear_error(arun):
    async def main():
        with pytest.raises(CommError, match="could not connect to tcp://127.0.0.1:1 within 0.2s"):
            await connect("tcp://127.0.0.1:1", timeout=0.2)

    arun(main())


def test_handshake_limits_are_tight(arun, echo_server):
    assert Limits().handshake().max_message_bytes == 64 * 1024
    assert Limits().handshake().max_frames == 4


# --- addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "location, expected",
    [
        ("", ("127.0.0.1", 0)),
        (":8786", ("127.0.0.1", 8786)),
        ("10.0.0.1:9", ("10.0.0.1", 9)),
        ("[::1]:80", ("::1", 80)),
        ("::1", ("::1", 0)),
        ("host", ("host", 0)),
    ],
)
def test_split_host_port(location, expected):
    assert split_host_port(location) == expected


@pytest.mark.parametrize("bad", ["127.0.0.1:8786", "tcp://h:port", "tcp://h:70000", 8786])
def test_bad_addresses(bad):
    with pytest.raises(ValueError):
        split_host_port(parse_address(bad)[1])


def test_listen_defaults_to_loopback(arun):
    async def main():
        listener = await listen("tcp://", lambda comm: asyncio.sleep(0))
        assert listener.address.startswith("tcp://127.0.0.1:")
        await listener.stop()
        with pytest.raises(ValueError, match="unknown comm scheme"):
            await listen("carrier-pigeon://x", lambda comm: asyncio.sleep(0))

    arun(main())


def test_importing_comm_does_not_import_pandas_numpy_or_servers():
    code = (
        "import sys, pardata.comm\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'numpy', 'scheduler', 'worker')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_protocol_error_is_a_comm_error():
    assert issubclass(ProtocolError, CommError) and issubclass(CommClosedError, CommError)
