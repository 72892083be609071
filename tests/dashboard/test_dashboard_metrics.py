"""``/metrics`` on the scheduler and on each worker parse as Prometheus text (strictly)."""

from __future__ import annotations

import math
import re
import urllib.request

import pytest

from pardata.diagnostics.prometheus import Exposition, escape_label_value
from pardata.distributed import Client, LocalCluster
from pardata.testing.cluster import inc, slowinc

pytestmark = pytest.mark.timeout(60)

# --- a small strict parser of the text exposition format (version 0.0.4) -------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)(?: (-?\d+))?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(AssertionError):
    pass


def _value(text: str) -> float:
    if text in ("NaN", "+Inf", "-Inf"):
        return {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[text]
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        raise ParseError(f"bad sample value {text!r}")
    return float(text)


def _labels(text: str) -> dict:
    out, pos = {}, 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if not m:
            raise ParseError(f"bad labels {text!r} at {pos}")
        name, raw = m.group(1), m.group(2)
        if name in out:
            raise ParseError(f"label {name!r} twice in {text!r}")
        out[name] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), raw)
        pos = m.end()
    return out


def parse_prometheus(text: str) -> dict:
    """``{family: {"type", "help", "samples": {(name, labels): value}}}``; raises on anything loose."""
    if not text.endswith("\n"):
        raise ParseError("the exposition must end with a newline")
    families: dict = {}
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if not line:
            raise ParseError(f"line {n}: empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(_NAME, name):
                    raise ParseError(f"line {n}: bad metric name {name!r}")
                fam = families.setdefault(name, {"type": None, "help": None, "samples": {}})
                if fam["samples"]:
                    raise ParseError(f"line {n}: {parts[1]} of {name} after its samples")
                field = parts[1].lower()
                if fam[field] is not None:
                    raise ParseError(f"line {n}: second {parts[1]} for {name}")
                value = parts[3] if len(parts) == 4 else ""
                if field == "type" and value not in _TYPES:
                    raise ParseError(f"line {n}: unknown type {value!r}")
                fam[field] = value
                current = name
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ParseError(f"line {n}: not a sample: {line!r}")
        name, labels, value = m.group(1), _labels(m.group(2) or ""), _value(m.group(3))
        family = name if name in families else None
        if family is None or family != current:
            raise ParseError(f"line {n}: sample {name} outside its family (TYPE first, samples contiguous)")
        key = (name, tuple(sorted(labels.items())))
        if key in families[family]["samples"]:
            raise ParseError(f"line {n}: duplicate sample {key}")
        families[family]["samples"][key] = value
    for name, fam in families.items():
        if fam["type"] is None:
            raise ParseError(f"{name} has no TYPE")
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise ParseError(f"counter {name} should end in _total")
        if fam["type"] == "counter" and any(v < 0 for v in fam["samples"].values()):
            raise ParseError(f"counter {name} is negative")
    return families


def sample(families: dict, metric: str, /, **labels) -> float:
    return families[metric]["samples"][(metric, tuple(sorted(labels.items())))]


def fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.headers.get("Content-Type"), r.read().decode()


# --- the parser itself -------------------------------------------------------------------------


def test_parser_is_strict():
    parse_prometheus("# HELP a x\n# TYPE a gauge\na 1\n")
    for bad in ["a 1\n", "# TYPE a gauge\na 1", "# TYPE a gauge\na{b=\"c} 1\n", "# TYPE a gauge\na x\n",
                "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n", "# TYPE a counter\na 1\n",
                "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n"]:
        with pytest.raises(ParseError):
            parse_prometheus(bad)


def test_exposition_escapes_label_values():
    text = Exposition()
    hostile = 'w"1\\\n} 9\n# TYPE evil gauge'
    text.add("pardata_x", "gauge", "help with \\ and\nnewline", [({"worker": hostile}, 1.5), ({"worker": "ok"}, 2)])
    families = parse_prometheus(text.render())
    assert set(families) == {"pardata_x"}
    assert sample(families, "pardata_x", worker=hostile) == 1.5
    assert escape_label_value('a"b') == 'a\\"b'
    with pytest.raises(ValueError):
        text.add("bad name", "gauge", "", [])
    with pytest.raises(ValueError):
        text.add("pardata_y", "gauge", "", [({"bad-label": 1}, 1)])


# --- a live cluster ----------------------------------------------------------------------------


def test_scheduler_and_worker_metrics_parse():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, memory_limit="1GiB",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        futures = client.map(slowinc, range(30), delay=0.01)
        total = client.submit(sum, futures)
        assert total.result() == sum(range(1, 31))
        assert client.submit(inc, total).result() == sum(range(1, 31)) + 1
        base = client.dashboard_link.rsplit("/", 1)[0]

        ctype, text = fetch(base + "/metrics")
        assert ctype.startswith("text/plain; version=0.0.4")
        fam = parse_prometheus(text)
        counts = {dict(k[1])["state"]: v for k, v in fam["pardata_scheduler_tasks"]["samples"].items()}
        assert set(counts) == {"released", "waiting", "queued", "no-worker", "processing", "memory", "erred"}
        assert counts["memory"] >= 2
        assert sample(fam, "pardata_scheduler_workers", status="running") == 2
        assert sample(fam, "pardata_scheduler_task_runs_total") >= 32
        assert sample(fam, "pardata_scheduler_event_loop_latency_seconds") >= 0
        workers = client.scheduler_info()["workers"]
        for address, info in workers.items():
            w = {"worker": address, "name": info["name"]}
            assert sample(fam, "pardata_worker_memory_limit_bytes", **w) == 2**30
            assert sample(fam, "pardata_worker_memory_bytes", type="unmanaged", **w) >= 0
            assert sample(fam, "pardata_worker_threads", **w) == 2
        for name in ("pardata_cluster_spilled_bytes", "pardata_cluster_transfer_bytes_total",
                     "pardata_worker_transfer_bytes_total", "pardata_worker_cpu_percent"):
            assert name in fam

        for w in cluster.workers:
            url = w.diagnostics.http.url
            ctype, text = fetch(url + "/metrics")
            fam = parse_prometheus(text)
            assert sample(fam, "pardata_worker_threads") == 2
            assert sample(fam, "pardata_worker_memory_limit_bytes") == 2**30
            assert sum(fam["pardata_worker_tasks"]["samples"].values()) >= 1
            assert fetch(url + "/health")[1] == "ok"
        assert fetch(base + "/health")[1] == "ok"
