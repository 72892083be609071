"""A TCP proxy that adds latency: every chunk is forwarded ``delay`` seconds after it arrived.

Kernels without ``tc netem`` (and CI machines that cannot load it) still need tests over
a slow link, so this does it in user space. Each accepted connection gets a connection
to ``target``; in both directions a reader stamps each chunk with its due time and a
writer sends the chunks in order, each no earlier than due. The queue between them is
bounded, so a slow receiver slows the sender down (back-pressure) instead of buffering
without limit. The proxy stops after ``lifetime`` seconds whatever happens, so a test
that forgets it leaves nothing running for long.

Command line (``NetLab.start_delay_proxy`` runs it inside a lab host)::

    python -m pardata.testing.delay_proxy --listen 10.200.0.1:9786 \\
        --target 10.200.0.1:8786 --delay 0.05 --lifetime 120 --ready-file ready.json

``--ready-file`` is written (atomically, JSON: the address and pid) once listening;
``--stats-file`` is rewritten with the bytes forwarded each way every second and at
exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict, dataclass

__all__ = ["DelayProxy", "ProxyStats", "main"]

CHUNK = 64 * 1024
QUEUE_CHUNKS = 256  # at most 16 MiB held per direction and connection


@dataclass
class ProxyStats:
    connections: int = 0
    bytes_to_target: int = 0  # client -> target
    bytes_from_target: int = 0  # target -> client


class DelayProxy:
    """Forward connections on ``listen`` (host, port) to ``target``, ``delay`` s late."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], delay: float) -> None:
        if delay < 0:
            raise ValueError(f"the delay is a number of seconds >= 0, got {delay}")
        self.listen = listen
        self.target = target
        self.delay = float(delay)
        self.stats = ProxyStats()
        self.server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually listened on (port 0 picks a free one)."""
        return self.server.sockets[0].getsockname()[:2]

    async def start(self) -> "DelayProxy":
        self.server = await asyncio.start_server(self._serve, *self.listen)
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_reader, client_writer) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            try:
                target_reader, target_writer = await asyncio.open_connection(*self.target)
            except OSError:
                client_writer.close()
                return
            self.stats.connections += 1
            loop = asyncio.get_running_loop()
            pumps = [loop.create_task(self._pump(client_reader, target_writer, "bytes_to_target")),
                     loop.create_task(self._pump(target_reader, client_writer, "bytes_from_target"))]
            try:  # both ends finish, or one breaks and takes the other down
                await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                target_writer.close()
                client_writer.close()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(QUEUE_CHUNKS)

        async def read() -> None:
            try:
                while True:
                    chunk = await reader.read(CHUNK)
                    await queue.put((loop.time() + self.delay, chunk))
                    if not chunk:
                        return
            except OSError:  # a reset: end this direction at once
                await queue.put((loop.time(), None))

        reading = loop.create_task(read())
        try:
            while True:
                due, chunk = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if chunk is None:  # the sender broke: so does this direction
                    raise ConnectionResetError("the other side reset the connection")
                if not chunk:  # the sender finished: pass the end on, keep the other way open
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(chunk)
                setattr(self.stats, counter, getattr(self.stats, counter) + len(chunk))
                await writer.drain()
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _write_json(path: str, value) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


async def _run(args: argparse.Namespace) -> None:
    proxy = await DelayProxy(args.listen, args.target, args.delay).start()
    host, port = proxy.address
    if args.ready_file:
        _write_json(args.ready_file, {"address": f"{host}:{port}", "pid": os.getpid()})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.lifetime
    try:
        while loop.time() < deadline:
            if args.stats_file:
                _write_json(args.stats_file, asdict(proxy.stats))
            await asyncio.sleep(min(1.0, max(deadline - loop.time(), 0)))
    finally:
        await proxy.close()
        if args.stats_file:
            _write_json(args.stats_file, asdict(proxy.stats))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pardata.testing.delay_proxy",
                                description="Forward TCP connections, each chunk DELAY seconds late.")
    p.add_argument("--listen", type=_host_port, required=True, help="HOST:PORT to accept connections on")
    p.add_argument("--target", type=_host_port, required=True, help="HOST:PORT to forward them to")
    p.add_argument("--delay", type=float, default=0.05, help="seconds added in each direction (default 0.05)")
    p.add_argument("--lifetime", type=float, default=300.0, help="stop after this many seconds (default 300)")
    p.add_argument("--ready-file", default=None, help="write {address, pid} here once listening")
    p.add_argument("--stats-file", default=None, help="keep bytes forwarded each way here")
    args = p.parse_args(argv)
    if args.delay < 0 or args.lifetime <= 0:
        p.error("--delay must be >= 0 and --lifetime > 0")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
