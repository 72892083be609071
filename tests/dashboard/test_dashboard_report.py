"""``performance_report`` writes one self-contained HTML file about the block."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from pardata.distributed import Client, LocalCluster
from pardata.distributed.report import breakdown, by_prefix, performance_report, render_report
from pardata.testing.cluster import add, slowinc, throws

pytestmark = pytest.mark.timeout(60)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_self_contained(tmp_path):
    path = tmp_path / "report.html"
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, memory_limit="1GiB",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        before = client.submit(slowinc, 0, delay=0.05, key="before-block")
        before.result()
        with performance_report(filename=str(path), interval=0.1) as report:
            xs = client.map(slowinc, range(24), delay=0.02)
            a = client.submit(slowinc, 1, key="on-w0", workers=[cluster.workers[0].address])
            w1 = cluster.workers[1].address
            b = client.submit(add, a, xs[0], key="on-w1", workers=[w1])  # a transfer
            assert sum(client.gather(xs)) == sum(range(1, 25)) and b.result() == 3
            with pytest.raises(ValueError):
                client.submit(throws, '<img src=x onerror="alert(1)">', key="<b>bad</b>").result()
        assert len(report.samples) >= 2

    text = path.read_text(encoding="utf-8")
    tags = _Tags()
    tags.feed(text)
    names = {t for t, _ in tags.tags}
    assert "script" not in names and "link" not in names and "img" not in names and "iframe" not in names
    for _, attrs in tags.tags:  # nothing is loaded from anywhere
        assert not {"src", "href"} & set(attrs), attrs
    assert not re.search(r"url\(", text)
    assert "<b>bad</b>" not in text and "&lt;b&gt;bad&lt;/b&gt;" in text
    assert "before-block" not in text  # ran before the block
    for section in ("Where the time went", "Task stream", "Kinds of task", "Worker memory"):
        assert section in text
    rects = re.findall(r"<rect [^>]*><title>([^<]*)</title>", text)
    assert sum(t.startswith("slowinc-") for t in rects) == 24
    assert any(t.startswith("on-w0\ncompute on ") for t in rects)
    assert any("\ntransfer on " + w1 in t for t in rects)
    assert text.count("<figure>") == 2  # one memory chart per worker


def test_breakdown_and_prefix_table():
    records = [
        [0, "a-1", "a", "w", 0, 0.0, 1.0, "compute"],
        [1, "a-2", "a", "w", 1, 0.5, 1.0, "error"],
        [2, "a-1", "transfer", "w", 0, 0.2, 0.4, "transfer"],
        [3, "spill", "spill", "w", 0, 1.5, 3.0, "spill"],  # clipped to the block
    ]
    b = breakdown(records, 0.0, 2.0, threads=2)
    assert b == pytest.approx({"compute": 1.5, "transfer": 0.2, "spill": 0.5, "waiting": 2.5})
    assert by_prefix(records) == [("a", 2, 1.5, 1.0, 1)]
    text = render_report("t", 0.0, 2.0, records, {"a": "#123456"}, [])
    assert "no samples" in text and "#123456" in text
