"""``pardata.distributed.progress`` in a terminal and as HTML; the task stream's lanes."""

from __future__ import annotations

import io
import re
import sys
import time
import types

import numpy as np
import pytest

import pardata
import pardata.array as pa
from pardata.diagnostics.progress import format_bar
from pardata.distributed import Client, LocalCluster
from pardata.distributed.progress import futures_of, html_progress, progress
from pardata.testing.cluster import slowinc, throws
from pardata.distributed.report import with_lanes
from scheduler.metrics import TaskStream, key_text, stream_records

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, memory_limit=0,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def test_terminal_bar_has_the_local_progress_bar_style(client):
    x = pardata.delayed(slowinc)
    parts = [x(i, delay=0.02) for i in range(40)]
    total = pardata.delayed(sum)(parts)
    future = client.compute(total)
    out = io.StringIO()
    tp = progress(future, out=out, interval=0.05, notebook=False)
    assert future.result() == sum(range(1, 41))
    frames = out.getvalue().split("\r")[1:]
    assert frames[-1].endswith("\n") and "100% Completed" in frames[-1]
    assert all(re.fullmatch(r"\[[# ]{40}\] \| +\d+% Completed \| +\d+\.\ds(\n)?", f) for f in frames)
    assert len(frames) >= 3  # redrawn while running
    # the same bar as pardata.diagnostics.ProgressBar draws for local schedulers
    assert frames[-1].strip().startswith(format_bar(1.0, 0.0)[:44])
    rows = tp.rows()
    assert rows["slowinc"]["total"] == 40 and rows["slowinc"]["done"] == 40
    assert tp.fraction() == 1.0 and not client.dashboard_link


def test_progress_counts_upstream_tasks_of_persisted_collections(client):
    arr = pa.from_array(np.arange(1000), chunks=100)
    y = (arr + 1).persist()
    futures = futures_of(y)
    assert len(futures) == 10
    out = io.StringIO()
    tp = progress(y, out=out, interval=0.05, notebook=False)
    assert sum(r["total"] for r in tp.rows().values()) >= 10 and tp.fraction() == 1.0
    assert "100% Completed" in out.getvalue()


def test_progress_stops_on_errors(client):
    bad = client.submit(throws, 3)
    out = io.StringIO()
    tp = progress([bad], out=out, interval=0.05, notebook=False)
    assert tp.erred == 1 and "1 erred" in out.getvalue()


def test_progress_needs_futures(client):
    with pytest.raises(ValueError, match="persist"):
        progress(pardata.delayed(slowinc)(1), notebook=False, out=io.StringIO())


def test_html_progress_is_widget_free_and_escaped():
    rows = {"<b>evil</b>": {"total": 4, "done": 2, "memory": 1, "erred": 1, "processing": 1, "waiting": 0}}
    text = html_progress(rows, 0.5, 1.25, erred=1)
    assert "<b>evil</b>" not in text and "&lt;b&gt;evil&lt;/b&gt;" in text
    assert "<script" not in text and "50% completed in 1.2s, 1 erred" in text
    assert text.count('title="') == 4  # done, in memory, erred, processing segments


def test_notebook_display_updates_in_place(client, monkeypatch):
    """In a notebook: an HTML table shown with IPython's display and updated in place
    (IPython is faked here: it is not a dependency)."""
    shown = []

    class HTML:
        def __init__(self, data):
            self.data = data

    class Handle:
        def update(self, obj):
            shown.append(obj.data)

    def display(obj, display_id=None):
        assert display_id is True
        shown.append(obj.data)
        return Handle()

    ipython = types.ModuleType("IPython")
    ipython.display = types.ModuleType("IPython.display")
    ipython.display.HTML, ipython.display.display = HTML, display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython.display)
    future = client.submit(slowinc, 1, delay=0.2)
    tp = progress(future, notebook=True, interval=0.05)
    assert future.result() == 2
    deadline = time.monotonic() + 10
    while "100% completed" not in shown[-1] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shown[0].startswith('<div class="pardata-progress">') and "100% completed" in shown[-1]
    assert len(shown) >= 2 and tp._repr_html_().startswith('<div class="pardata-progress">')


# --- the task stream's ring buffer and lanes (pure) ---------------------------------------------


def test_task_stream_records_and_lanes():
    stream = TaskStream(maxlen=100)
    # two threads on w1: runs overlap, so they take two lanes; a later run reuses lane 0
    stream.append(("inc-1", "w1", 0.0, 1.0, "done"))
    stream.append(("inc-2", "w1", 0.5, 1.5, "done"))
    stream.append((("x-1", 0), "w1", 1.0, 2.0, "error"))
    stream.append(("inc-3", "w2", 0.0, 3.0, "done"))
    stream.append(("x-1", "w1", 0.2, 0.4, "transfer"))
    doc = stream_records(stream, {}, 0)
    assert doc["next"] == 5 == stream.total and doc["workers"] == ["w1", "w2"] and doc["step"] == 1
    assert [r[1:4] + [r[6]] for r in doc["records"]] == [
        ["inc-1", "inc", 0, "compute"],
        ["inc-2", "inc", 0, "compute"],
        ['["x-1", 0]', "x", 0, "error"],
        ["inc-3", "inc", 1, "compute"],
        ["x-1", "transfer", 0, "transfer"],
    ]
    lanes = [(r[3], r[4]) for r in with_lanes(doc["records"], doc["workers"])]
    assert lanes == [("w1", 0), ("w1", 1), ("w1", 0), ("w2", 0), ("w1", 0)]
    assert stream_records(stream, {}, 5)["records"] == []
    stream.append(("inc-4", "w1", 1.6, 1.7, "done"))
    (rec,) = stream_records(stream, {}, 5)["records"]
    assert rec[0] == 5


def test_best_fit_lanes_stay_one_per_thread():
    """First fit would open a third lane here; best fit keeps two (one per thread)."""
    runs = [("a1", 0.0, 1.0), ("b1", 0.5, 2.0), ("b2", 2.1, 2.5), ("a2", 1.5, 3.0)]  # in order of completion
    records = [[i, k, "x", 0, s, e, "compute"] for i, (k, s, e) in enumerate(runs)]
    lanes = {r[1]: r[4] for r in with_lanes(records, ["w"])}
    assert lanes["a1"] == lanes["a2"] != lanes["b1"] == lanes["b2"]


def test_task_stream_is_bounded():
    stream = TaskStream(maxlen=10)
    for i in range(25):
        stream.append((f"k-{i}", "w", float(i), i + 0.5, "done"))
    assert len(stream) == 10 and stream.total == 25
    recent, cursor = stream.since(20)
    assert [r[0] for r in recent] == [f"k-{i}" for i in range(20, 25)] and cursor == 25
    assert len(stream.since(0)[0]) == 10
    assert key_text(("a", 1)) == '["a", 1]'
