"""``pardata.testing.delay_proxy`` on loopback (no lab needed): bytes arrive complete, in
order and no earlier than the delay each way; an end or a refused target is passed on;
the command-line proxy stops after its lifetime."""

import asyncio
import json
import subprocess
import sys

import pytest

from pardata.testing.delay_proxy import DelayProxy

pytestmark = pytest.mark.timeout(60)


async def _echo_server():
    async def echo(reader, writer):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def _through_proxy(delay, payloads):
    server = await _echo_server()
    proxy = await DelayProxy(("127.0.0.1", 0), server.sockets[0].getsockname()[:2], delay).start()
    try:
        reader, writer = await asyncio.open_connection(*proxy.address)
        loop = asyncio.get_running_loop()
        start = loop.time()
        writer.write(payloads[0])
        await writer.drain()
        first = await reader.readexactly(len(payloads[0]))
        round_trip = loop.time() - start
        for payload in payloads[1:]:
            writer.write(payload)
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), 30)  # until the echo server's end comes through
        writer.close()
        return first + rest, round_trip, proxy.stats
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


def test_bytes_arrive_complete_in_order_and_late():
    payloads = [b"ping"] + [bytes([i % 251]) * (i * 997 % 70_000 + 1) for i in range(60)]
    echoed, round_trip, stats = asyncio.run(_through_proxy(0.1, payloads))
    assert echoed == b"".join(payloads)
    assert round_trip >= 0.2  # held at least the delay in each direction (a lower bound)
    assert stats.connections == 1
    assert stats.bytes_to_target == stats.bytes_from_target == len(echoed)


def test_a_refused_target_closes_the_client_connection():
    async def main():
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()  # nothing listens on port now
        proxy = await DelayProxy(("127.0.0.1", 0), ("127.0.0.1", port), 0.01).start()
        try:
            reader, writer = await asyncio.open_connection(*proxy.address)
            data = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            return data, proxy.stats.connections
        finally:
            await proxy.close()

    assert asyncio.run(main()) == (b"", 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="delay"):
        DelayProxy(("127.0.0.1", 0), ("127.0.0.1", 1), -1)
    proc = subprocess.run([sys.executable, "-m", "pardata.testing.delay_proxy", "--listen", "nonsense",
                           "--target", "127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "HOST:PORT" in proc.stderr


def test_command_line_proxy_stops_after_its_lifetime(tmp_path):
    ready, stats = tmp_path / "ready.json", tmp_path / "stats.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pardata.testing.delay_proxy", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:1",
         "--lifetime", "0.5", "--ready-file", str(ready), "--stats-file", str(stats)],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(ready.read_text())["address"].startswith("127.0.0.1:")
    assert json.loads(stats.read_text()) == {"connections": 0, "bytes_to_target": 0, "bytes_from_target": 0}
