"""Event-loop latency while a SpillBuffer spills and unspills gigabytes.

    python benchmarks/spill_latency.py [--total 4GiB] [--chunk 64MiB] [--dir PATH] [--sync]

A 10 ms periodic callback records how late it wakes while ``evict_async`` writes
``--total`` bytes of NumPy arrays (in ``--chunk`` values) to disk and ``get_async`` reads
them all back. With ``--sync`` the same is done with the blocking API on the loop, to
show what the asynchronous one avoids. Prints one line per phase; nothing is saved.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from pardata._units import format_bytes, parse_bytes  # noqa: E402
from worker.memory.spill import SpillBuffer  # noqa: E402

PERIOD = 0.010


async def with_ticker(work):
    """Run ``work()`` while a ``PERIOD`` ticker runs; return (seconds, delays)."""
    delays: list[float] = []
    done = False

    async def ticker():
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(PERIOD)
            delays.append(time.perf_counter() - start - PERIOD)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(5 * PERIOD)
    start = time.perf_counter()
    await work()
    seconds = time.perf_counter() - start
    done = True
    await task
    return seconds, delays


def report(phase: str, nbytes: int, seconds: float, delays: list[float]) -> None:
    delays = sorted(delays)
    p99 = delays[int(0.99 * (len(delays) - 1))]
    print(f"{phase:8} {format_bytes(nbytes):>10} in {seconds:6.2f} s "
          f"({format_bytes(nbytes / seconds)}/s)  loop delay: max {1000 * delays[-1]:6.1f} ms, "
          f"p99 {1000 * p99:5.1f} ms, median {1000 * statistics.median(delays):4.1f} ms, "
          f"{len(delays)} ticks;  RSS {format_bytes(psutil.Process().memory_info().rss)}")


async def run(total: int, chunk: int, directory: str, sync: bool) -> None:
    n = max(1, total // chunk)
    with SpillBuffer(directory, target=0, evict_on_set=False) as buf:
        for i in range(n):
            buf[i] = np.ones(chunk // 8)
        expected = buf.memory_bytes
        print(f"{n} values of {format_bytes(chunk)} in memory; spilling to {directory}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

        async def spill():
            freed = buf.evict() if sync else await buf.evict_async()
            assert freed == expected and buf.memory_bytes == 0

        async def unspill():
            for i in range(n):
                value = buf[i] if sync else await buf.get_async(i)
                assert value[-1] == 1.0

        seconds, delays = await with_ticker(spill)
        report("spill", expected, seconds, delays)
        seconds, delays = await with_ticker(unspill)
        report("unspill", expected, seconds, delays)
        m = buf.metrics()
        print(f"spill_count={m.spill_count} spill_seconds={m.spill_seconds:.2f} "
              f"unspill_count={m.unspill_count} unspill_seconds={m.unspill_seconds:.2f} "
              f"mode={'sync (on the loop)' if sync else 'async (executor)'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total", default="4GiB")
    parser.add_argument("--chunk", default="64MiB")
    parser.add_argument("--dir", default=None, help="spill directory (default: a temporary one)")
    parser.add_argument("--sync", action="store_true", help="use the blocking API on the loop")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        asyncio.run(run(parse_bytes(args.total), parse_bytes(args.chunk), directory, args.sync))
    return 0


if __name__ == "__main__":
    sys.exit(main())
