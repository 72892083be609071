"""Task throughput with the dashboard open in a headless Chromium vs closed.

    python benchmarks/dashboard_overhead.py [--tasks 20000] [--rounds 5] [--workers 2] [--threads 2]

A LocalCluster of worker processes runs ``--tasks`` tiny tasks (``inc``, then a tree of
``add`` so inputs move between workers), ``--rounds`` times with no browser and as many
with the status page open (polling twice a second), alternating so that drift hits both
alike. Prints tasks per second (median) of each and the difference, and the scheduler
process's CPU seconds (the dashboard's own cost, apart from the browser's). Needs Debian's
``chromium`` and the ``playwright`` package; never runs ``playwright install``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil  # noqa: E402

from pardata.distributed import Client, LocalCluster  # noqa: E402
from pardata.testing.cluster import add, inc  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def workload(client, n: int) -> float:
    """Seconds to run ``n`` inc tasks and the tree summing them (about 2n tasks)."""
    start = time.perf_counter()
    futures = client.map(inc, range(n), pure=False)
    while len(futures) > 1:
        pairs = [client.submit(add, a, b, pure=False) for a, b in zip(futures[::2], futures[1::2])]
        futures = pairs + futures[len(futures) // 2 * 2:]
    futures[0].result()
    return time.perf_counter() - start


def _seconds(times) -> float:
    return times.user + times.system


def _chromium_seconds() -> float:
    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            if "chrom" in p.name():
                total += _seconds(p.cpu_times())
        except psutil.Error:
            pass
    return total


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    ntasks = 2 * args.tasks - 1
    closed, opened, cpu_c, cpu_o = [], [], [], []
    with sync_playwright() as pw, LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                                               memory_limit=0, dashboard_address="127.0.0.1:0") as cluster:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS, headless=True)
        with Client(cluster) as client:
            workload(client, 2000)  # warm up
            scheduler = psutil.Process(cluster.scheduler_process.pid)
            for _ in range(args.rounds):
                cpu = scheduler.cpu_times()
                closed.append(ntasks / workload(client, args.tasks))
                cpu_closed = _seconds(scheduler.cpu_times()) - _seconds(cpu)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(client.dashboard_link)
                while not page.evaluate("document.body.getAttribute('data-updates') >= 1"):
                    time.sleep(0.05)
                cpu, chrome = scheduler.cpu_times(), _chromium_seconds()
                opened.append(ntasks / workload(client, args.tasks))
                cpu_open = _seconds(scheduler.cpu_times()) - _seconds(cpu)
                chrome = _chromium_seconds() - chrome
                cpu_c.append(cpu_closed)
                cpu_o.append(cpu_open)
                updates = int(page.evaluate("document.body.getAttribute('data-updates')"))
                page.close()
                print(f"closed {closed[-1]:7.0f} tasks/s, scheduler CPU {cpu_closed:5.2f}s | open {opened[-1]:7.0f} "
                      f"tasks/s, scheduler CPU {cpu_open:5.2f}s, browser CPU {chrome:5.2f}s ({updates} updates)",
                      flush=True)
        browser.close()
    c, o = statistics.median(closed), statistics.median(opened)
    print(f"median: closed {c:.0f} tasks/s, open {o:.0f} tasks/s: {100 * (c - o) / c:+.1f}% slower with the page open")
    sc, so = statistics.median(cpu_c), statistics.median(cpu_o)
    print(f"median scheduler CPU per round: closed {sc:.2f}s, open {so:.2f}s: {100 * (so - sc) / sc:+.1f}% "
          "(the scheduler's own cost; throughput also counts the browser's CPU on this machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
