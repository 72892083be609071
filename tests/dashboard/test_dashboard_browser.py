"""The dashboard in a real headless Chromium while a LocalCluster runs thousands of tasks.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it) and
the ``playwright`` package (in the ``test`` extra). Playwright never downloads a browser
here: it drives ``/usr/bin/chromium``. A missing browser fails the test, it does not skip.
Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import pathlib
import time

import pytest

from pardata.distributed import Client, LocalCluster
from pardata.testing.cluster import add, slowinc

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.timeout(180)]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: run `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright: pip install -e '.[test]' (never `playwright install`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def tree_sum(client, futures):
    """Sum futures pairwise: a tree of ``add`` tasks (inputs travel between workers)."""
    while len(futures) > 1:
        pairs = [client.submit(add, a, b) for a, b in zip(futures[::2], futures[1::2])]
        futures = pairs + futures[len(futures) // 2 * 2:]
    return futures[0]


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll a JavaScript expression (``wait_for_function`` evaluates strings, which the
    page's Content-Security-Policy forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def attrs(page) -> dict:
    return page.evaluate(
        """() => ({
            updates: +document.body.getAttribute('data-updates') || 0,
            records: +document.getElementById('task-stream').getAttribute('data-records'),
            drawn: +document.getElementById('task-stream').getAttribute('data-drawn') || 0,
            lanes: +document.getElementById('task-stream').getAttribute('data-run-lanes') || 0,
            done: +document.getElementById('progress').getAttribute('data-done'),
            total: +document.getElementById('progress').getAttribute('data-total'),
            workers: +document.getElementById('memory').getAttribute('data-workers'),
        })"""
    )


def test_dashboard_follows_a_running_computation(browser):
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, memory_limit="2GiB",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        link = client.dashboard_link
        assert link == cluster.dashboard_link and link.startswith("http://127.0.0.1:")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
        page.goto(link)
        wait_until(page, "document.body.getAttribute('data-updates') >= 1")
        assert attrs(page)["workers"] == 2

        xs = client.map(slowinc, range(3000), delay=0.004)
        total = tree_sum(client, xs)  # about 6000 tasks in all
        seen = []
        deadline = time.monotonic() + 120
        while not total.done() and time.monotonic() < deadline:
            seen.append(attrs(page))
            if len(seen) == 6:
                page.screenshot(path=str(ARTIFACTS / "dashboard-status-running.png"))
            time.sleep(0.3)
        assert total.result() == sum(range(1, 3001))
        page.wait_for_timeout(1500)
        final = attrs(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard-status.png"), full_page=True)

        # the task stream and the progress bars changed while the work ran
        running = [s for s in seen if s["updates"] >= 1]
        assert len(running) >= 4, seen
        records = [s["records"] for s in running]
        done = [s["done"] for s in running]
        assert len(set(records)) >= 3 and records == sorted(records), records
        assert len(set(done)) >= 3, done
        assert any(0 < s["done"] < s["total"] for s in running), running
        assert any(s["drawn"] > 0 for s in running)
        assert final["total"] >= 5999 and final["done"] == final["total"]
        assert final["records"] >= 2000  # a busy stream may be sampled
        assert final["lanes"] == 2  # runs packed into one lane per thread
        # one memory bar per worker, with its limit line
        rows = page.query_selector_all("#memory .bar-row")
        assert len(rows) == 2
        for row in rows:
            assert row.query_selector("rect.limit") is not None
            assert "of 2.0 GiB" in row.inner_text()
        prefixes = {r.get_attribute("data-prefix") for r in page.query_selector_all("#progress .bar-row")}
        assert {"slowinc", "add"} <= prefixes
        assert page.inner_text("#summary").startswith("2 workers")

        page.goto(link.rsplit("/", 1)[0] + "/workers")
        wait_until(page, "document.querySelectorAll('#workers-table tbody tr').length == 2")
        page.screenshot(path=str(ARTIFACTS / "dashboard-workers.png"), full_page=True)
        cell = page.inner_text("#workers-table tbody tr td:nth-child(2)")
        assert cell.startswith("tcp://127.0.0.1:")

        page.goto(link.rsplit("/", 1)[0] + "/task?key=" + total.key)
        assert "is done: in memory" in page.inner_text("ol.why")
        page.screenshot(path=str(ARTIFACTS / "dashboard-task.png"), full_page=True)
        page.close()
    assert not errors, errors
