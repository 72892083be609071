"""The dashboard's JSON API and pages, over HTTP, on a cluster in this process."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from pardata.distributed import Client, LocalCluster
from pardata.distributed.report import with_lanes
from pardata.testing.cluster import inc, slowinc, throws

pytestmark = pytest.mark.timeout(60)

EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, memory_limit=0,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as c:
        yield c


def base(client) -> str:
    return client.dashboard_link.rsplit("/", 1)[0]


def get(client, path: str):
    with urllib.request.urlopen(base(client) + path, timeout=10) as r:
        return r.status, dict(r.headers), r.read().decode()


def get_error(client, path: str) -> tuple[int, str]:
    """Status and body of a request that fails (the error response is closed)."""
    with pytest.raises(urllib.error.HTTPError) as info:
        get(client, path)
    with info.value as response:
        return info.value.code, response.read().decode()


def get_json(client, path: str) -> dict:
    status, headers, body = get(client, path)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    return json.loads(body)


def test_status_api_serves_the_task_stream_incrementally(client):
    futures = client.map(slowinc, range(20), delay=0.01)
    client.gather(futures)
    doc = get_json(client, "/api/v1/status?since=0")
    assert {"time", "scheduler", "tasks", "progress", "workers", "stream", "errors"} <= set(doc)
    assert doc["scheduler"]["workers"] == 2 and doc["scheduler"]["threads"] == 4
    (row,) = [p for p in doc["progress"] if p["prefix"] == "slowinc"]
    assert row["total"] == row["done"] == row["memory"] == 20 and row["colour"].startswith("#")
    runs = [r for r in doc["stream"]["records"] if r[2] == "slowinc"]
    assert len(runs) == 20 and doc["stream"]["step"] == 1 and doc["stream"]["missed"] == 0
    seq, key, prefix, w, start, stop, kind = runs[0]
    assert kind == "compute" and doc["stream"]["workers"][w] in {w["address"] for w in doc["workers"]}
    assert stop >= start and key.startswith("slowinc-")
    assert doc["stream"]["colours"]["slowinc"] == row["colour"]
    cursor = doc["stream"]["next"]

    client.gather(client.map(inc, range(5)))
    again = get_json(client, f"/api/v1/status?since={cursor}")
    new = again["stream"]["records"]
    assert [r[2] for r in new] == ["inc"] * 5 and all(r[0] >= cursor for r in new)
    assert get_json(client, f"/api/v1/task_stream?since={again['stream']['next']}")["records"] == []


def test_lanes_never_overlap_and_there_is_one_per_thread(client):
    client.gather(client.map(slowinc, range(100, 140), delay=0.005))
    doc = get_json(client, "/api/v1/task_stream?since=0")
    by_lane: dict = {}
    for r in with_lanes(doc["records"], doc["workers"]):
        by_lane.setdefault((r[3], r[7] in ("transfer", "spill"), r[4]), []).append((r[5], r[6]))
    for runs in by_lane.values():
        runs.sort()
        for (s0, e0), (s1, e1) in zip(runs, runs[1:]):
            assert s1 >= e0 - 1e-3
    assert max(lane for (_, io, lane) in by_lane if not io) <= 1  # two threads per worker


def test_a_busy_stream_is_sampled(client):
    client.gather(client.map(inc, range(5000, 5100)))
    doc = get_json(client, "/api/v1/status?since=0")
    total = doc["stream"]["next"]
    from scheduler.dashboard import snapshot

    data = client.cluster.scheduler.dashboard.data
    few = data.stream(total - 100, limit=30)
    assert few["step"] == 4 and len(few["records"]) == 25 and few["records"][-1][0] == total - 1
    assert snapshot.STREAM_LIMIT >= 1000


def test_workers_progress_errors_and_health(client):
    doc = get_json(client, "/api/v1/workers")
    assert len(doc["workers"]) == 2
    w = doc["workers"][0]
    for field in ("managed", "unmanaged", "spilled", "memory_limit", "paused", "cpu", "net_in", "net_out"):
        assert field in w
    assert w["http"].startswith("http://127.0.0.1:")
    assert set(get_json(client, "/api/v1/progress")) == {"tasks", "progress"}
    bad = client.submit(throws, 7)
    with pytest.raises(ValueError):
        bad.result()
    errors = get_json(client, "/api/v1/errors")["errors"]
    assert errors[0]["key"] == bad.key and "ValueError: bad value 7" in errors[0]["traceback"]
    assert get(client, "/health")[2] == "ok"


def test_task_page_and_api(client):
    x = client.submit(inc, 1, key="x-page")
    y = client.submit(inc, x, key="y-page")
    assert y.result() == 3
    doc = get_json(client, "/api/v1/task?key=y-page")
    assert doc["state"] == "memory" and doc["dependencies"] == [["x-page", "memory"]]
    assert any("memory" in e["text"] for e in doc["story"])
    assert doc["why"][0]["text"].startswith("'y-page' is done")
    status, headers, body = get(client, "/task?key=y-page")
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
    assert 'href="/task?key=x-page"' in body
    assert get_error(client, "/api/v1/task?key=never-submitted")[0] == 404
    code, body = get_error(client, "/task?key=never-submitted")
    assert code == 404 and "never-submitted" in body


def test_tuple_keys_round_trip_through_urls(client):
    f = client.submit(inc, 41, key=("tuple-key", 3))
    assert f.result() == 42
    doc = get_json(client, "/api/v1/task?key=" + urllib.parse.quote('["tuple-key", 3]'))
    assert doc["key"] == '["tuple-key", 3]' and doc["state"] == "memory"


def test_malicious_key_names_are_escaped_everywhere(client):
    f = client.submit(throws, 1, key=EVIL)
    with pytest.raises(ValueError):
        f.result()
    status, headers, body = get(client, "/task?key=" + urllib.parse.quote(EVIL))
    assert status == 200
    assert EVIL not in body and "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in body
    # the live pages are static shells; values only arrive as JSON, drawn with textContent
    for page in ("/status", "/workers"):
        status, headers, body = get(client, page)
        assert "<script>" not in body and "alert" not in body
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert headers["X-Content-Type-Options"] == "nosniff"
    doc = get_json(client, "/api/v1/status?since=0")
    assert any(e["key"] == EVIL for e in doc["errors"])
    # nothing in the page's own script writes HTML from data
    status, headers, js = get(client, "/static/dashboard.js")
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js


def test_bad_requests_answer_json(client):
    code, body = get_error(client, "/api/v1/status?since=abc")
    assert code == 400 and json.loads(body)["status"] == 400


def test_dashboard_costs_nothing_when_nobody_looks(client):
    """Polling twice a second is cheap: an answer takes milliseconds."""
    client.gather(client.map(inc, range(1000, 3000)))
    get_json(client, "/api/v1/status?since=0")
    start = time.perf_counter()
    for _ in range(5):
        get_json(client, "/api/v1/status?since=999999999")
    assert (time.perf_counter() - start) / 5 < 0.1
