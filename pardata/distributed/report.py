"""``performance_report(filename)``: a standalone HTML file about one block of work.

    with performance_report("report.html"):
        x.sum().compute()

While the block runs, a helper thread samples the workers' memory twice a second
(query ``dashboard_workers``). At the end the scheduler's task stream is fetched
(query ``task_stream_view``: task runs, transfers and spills since the block began),
each worker's runs are packed into lanes (one per thread, as threads cannot overlap)
and those that overlap the block are drawn. The file has no script and loads nothing:
the task stream, a breakdown of where the time went (compute, transfer, spill,
waiting), time per kind of task and each worker's memory are inline SVG and tables,
every text escaped. Keep it, mail it, open it years later.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from typing import Any

from pardata.diagnostics.palette import ERRED, SPILL, TRANSFER, prefix_colour

__all__ = ["performance_report", "render_report"]

#: Runs drawn in the task stream at most (the breakdown counts them all).
MAX_RECTS = 40_000
#: Seconds waited at the end of the block for the workers' last transfer reports.
SETTLE = 0.3


class performance_report:
    """Context manager writing ``filename`` when the block ends (also when it raised)."""

    def __init__(self, filename: str = "report.html", *, client=None, interval: float = 0.5,
                 title: str = "pardata performance report") -> None:
        self.filename = filename
        self.client = client
        self.interval = interval
        self.title = title
        self.samples: list = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start = self.stop = 0.0

    def __enter__(self) -> "performance_report":
        if self.client is None:
            from .client import default_client

            self.client = default_client()
        self.start = time.time()
        core = self.client._core
        self._cursor = core.run_sync(core.query("task_stream_view"), timeout=30)[0]["next"]
        self._sample()
        self._thread = threading.Thread(target=self._sampler, name="pardata-report", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.stop = time.time()
        self._sample()
        time.sleep(SETTLE)  # workers report their last transfers a moment after they end
        core = self.client._core
        data, _ = core.run_sync(core.query("task_stream_view", keys=[("since", self._cursor)]), timeout=60)
        records = with_lanes(data["records"], data["workers"])
        text = render_report(self.title, self.start, self.stop, records, data["colours"], self.samples,
                             missed=data.get("missed", 0))
        with open(self.filename, "w", encoding="utf-8") as f:
            f.write(text)

    def _sampler(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        core = self.client._core
        try:
            data, _ = core.run_sync(core.query("dashboard_workers"), timeout=10)
        except Exception:  # noqa: BLE001 - a missed sample is a gap in the chart, no more
            return
        self.samples.append((time.time(), data))


# --- rendering ------------------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt_seconds(s: float) -> str:
    if s <= 0:
        return "0 s"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def _fmt_bytes(n: float) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def with_lanes(records: list, workers: list) -> list:
    """``[seq, key, prefix, worker, lane, start, stop, kind]`` for the scheduler's records
    ``[seq, key, prefix, worker_index, start, stop, kind]``.

    Each worker's runs are packed into lanes, best fit (the lane that became free last
    before a run started), which gives one lane per thread; transfers and spills get
    lanes of their own. Records come in order of completion, so a run that started
    before a lane's latest one ended is checked against the runs the lane holds.
    """
    lanes: dict = {}
    out = []
    for seq, key, prefix, w, start, stop, kind in records:
        worker = workers[w]
        group = lanes.setdefault((worker, kind in ("transfer", "spill")), [])
        best, best_stop = -1, -1.0
        for i, (last, _) in enumerate(group):
            if last - 1e-4 <= start and last > best_stop:
                best, best_stop = i, last
        if best < 0:
            for i, (_, runs) in enumerate(group):
                if all(stop <= s + 1e-4 or start >= e - 1e-4 for s, e in runs):
                    best = i
                    break
        if best < 0:
            group.append([stop, deque([(start, stop)], maxlen=16)])
            best = len(group) - 1
        else:
            lane = group[best]
            lane[0] = max(lane[0], stop)
            lane[1].append((start, stop))
        out.append([seq, key, prefix, worker, best, start, stop, kind])
    return out


def breakdown(records: list, start: float, stop: float, threads: int) -> dict:
    """Seconds per kind within ``[start, stop]``: compute (errors included), transfer,
    spill, and waiting (thread-seconds no task ran)."""
    out = {"compute": 0.0, "transfer": 0.0, "spill": 0.0}
    for rec in records:
        kind = rec[7]
        seconds = max(min(rec[6], stop) - max(rec[5], start), 0.0)
        key = "compute" if kind in ("compute", "error") else kind
        if key in out:
            out[key] += seconds
    out["waiting"] = max(threads * (stop - start) - out["compute"], 0.0)
    return out


def by_prefix(records: list) -> list[tuple[str, int, float, float, int]]:
    """``(prefix, runs, seconds, longest, errors)`` for task runs, busiest first."""
    acc: dict[str, list] = {}
    for rec in records:
        if rec[7] not in ("compute", "error"):
            continue
        a = acc.setdefault(rec[2], [0, 0.0, 0.0, 0])
        d = max(rec[6] - rec[5], 0.0)
        a[0] += 1
        a[1] += d
        a[2] = max(a[2], d)
        a[3] += rec[7] == "error"
    return sorted(((p, *v) for p, v in acc.items()), key=lambda t: -t[2])


def render_report(title: str, start: float, stop: float, records: list, colours: dict, samples: list,
                  missed: int = 0) -> str:
    """The report's HTML (see the module docstring)."""
    records = [r for r in records if r[6] >= start and r[5] <= stop]
    workers = _workers(samples, records)
    threads = sum(w["nthreads"] for w in workers.values()) or 1
    duration = max(stop - start, 1e-9)
    parts = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">{esc(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)))}, '
        f"{esc(_fmt_seconds(duration))}, {len(workers)} worker(s), {threads} thread(s), "
        f"{sum(1 for r in records if r[7] in ('compute', 'error'))} task run(s), "
        f"{sum(1 for r in records if r[7] == 'error')} failed, "
        f"{sum(1 for r in records if r[7] == 'transfer')} transfer(s).</p>",
    ]
    if missed:
        parts.append(f'<p class="muted">The scheduler keeps only its latest task runs: the first {missed} '
                     "of the block are missing.</p>")
    parts.append(_breakdown_html(breakdown(records, start, stop, threads), threads, duration))
    parts.append(_stream_svg(records, colours, workers, start, stop))
    parts.append(_prefix_table(by_prefix(records), colours))
    parts.append(_memory_html(samples, workers, start, stop))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(parts)
        + "</body></html>\n"
    )


def _workers(samples: list, records: list) -> dict:
    """``{address: {"name", "nthreads", "lanes", "io"}}`` from samples and the records."""
    out: dict[str, dict] = {}
    for _, rows in samples:
        for w in rows:
            out.setdefault(w["address"], {"name": w["name"], "nthreads": w["nthreads"], "lanes": 0, "io": 0})
    for rec in records:
        w = out.setdefault(rec[3], {"name": rec[3], "nthreads": 1, "lanes": 0, "io": 0})
        if rec[7] in ("transfer", "spill"):
            w["io"] = max(w["io"], rec[4] + 1)
        else:
            w["lanes"] = max(w["lanes"], rec[4] + 1)
    for w in out.values():
        w["lanes"] = max(w["lanes"], w["nthreads"], 1)
    return out


def _breakdown_html(b: dict, threads: int, duration: float) -> str:
    capacity = threads * duration
    rows, bar = [], []
    colours = {"compute": "#3f78b5", "transfer": TRANSFER, "spill": SPILL, "waiting": "#d5d9e0"}
    notes = {
        "compute": "thread-seconds running tasks",
        "transfer": "seconds fetching inputs from other workers (overlaps compute)",
        "spill": "seconds writing to / reading from the spill disk (overlaps compute)",
        "waiting": "thread-seconds no task ran (idle, or waiting for inputs, memory or the scheduler)",
    }
    for kind in ("compute", "transfer", "spill", "waiting"):
        share = b[kind] / capacity if capacity else 0.0
        rows.append(
            f'<tr><td><span class="swatch" style="background:{colours[kind]}"></span>{kind}</td>'
            f'<td class="num">{esc(_fmt_seconds(b[kind]))}</td><td class="num">{share:.1%}</td>'
            f'<td class="muted">{esc(notes[kind])}</td></tr>'
        )
    x = 0.0
    for kind in ("compute", "waiting"):
        w = 1000 * (b[kind] / capacity if capacity else 0.0)
        bar.append(f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="18" fill="{colours[kind]}">'
                   f"<title>{kind}: {esc(_fmt_seconds(b[kind]))}</title></rect>")
        x += w
    return (
        f"<h2>Where the time went <small>{threads} thread(s) x {esc(_fmt_seconds(duration))}</small></h2>"
        f'<svg class="bar" viewBox="0 0 1000 18" preserveAspectRatio="none">{"".join(bar)}</svg>'
        f'<table class="table"><thead><tr><th>kind</th><th>time</th><th>share</th><th></th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )


def _stream_svg(records: list, colours: dict, workers: dict, start: float, stop: float) -> str:
    row_h, gap, gutter, width, axis = 12, 2, 140, 1200, 18
    rows: dict = {}
    labels = []
    for address, w in workers.items():
        for i in range(w["lanes"]):
            rows[(address, "run", i)] = len(labels)
            labels.append(f"{w['name']} #{i}")
        for i in range(w["io"]):
            rows[(address, "io", i)] = len(labels)
            labels.append(f"{w['name']} io")
    height = axis + max(len(labels), 1) * (row_h + gap)
    plot = width - gutter
    duration = max(stop - start, 1e-9)
    scale = plot / duration
    out = [f'<svg class="stream" viewBox="0 0 {width} {height}" width="100%">']
    for i, label in enumerate(labels):
        y = axis + i * (row_h + gap)
        out.append(f'<rect x="{gutter}" y="{y}" width="{plot}" height="{row_h}" fill="{"#f3f5f8" if i % 2 else "#fafbfc"}"/>')
        out.append(f'<text x="2" y="{y + row_h - 2}" class="label">{esc(label[:24])}</text>')
    step = _tick_step(duration)
    t = 0.0
    while t <= duration + 1e-9:
        x = gutter + t * scale
        out.append(f'<rect x="{x:.1f}" y="{axis - 5}" width="1" height="5" fill="#6b7383"/>'
                   f'<text x="{x + 2:.1f}" y="{axis - 7}" class="label">{esc(_fmt_seconds(t))}</text>')
        t += step
    shown = sorted(records, key=lambda r: r[6] - r[5], reverse=True)[:MAX_RECTS]
    for r in shown:
        group = "io" if r[7] in ("transfer", "spill") else "run"
        row = rows.get((r[3], group, r[4]))
        if row is None:
            continue
        x0 = gutter + max(r[5] - start, 0.0) * scale
        x1 = gutter + min(r[6] - start, duration) * scale
        y = axis + row * (row_h + gap)
        fill = colours.get(r[2]) or prefix_colour(r[2])
        stroke = f' stroke="{ERRED}" stroke-width="1.5"' if r[7] == "error" else ""
        tip = f"{r[1]}\n{r[7]} on {r[3]}, {_fmt_seconds(r[6] - r[5])}"
        out.append(f'<rect x="{x0:.2f}" y="{y}" width="{max(x1 - x0, 0.6):.2f}" height="{row_h}" fill="{esc(fill)}"'
                   f"{stroke}><title>{esc(tip)}</title></rect>")
    out.append("</svg>")
    note = f" (the longest {MAX_RECTS} of {len(records)} drawn)" if len(records) > MAX_RECTS else ""
    return f"<h2>Task stream <small>one row per worker thread{esc(note)}</small></h2>" + "".join(out)


def _tick_step(duration: float) -> float:
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600):
        if duration / step <= 12:
            return float(step)
    return duration / 10


def _prefix_table(rows: list, colours: dict) -> str:
    if not rows:
        return "<h2>Kinds of task</h2><p class=\"muted\">no task ran during the block</p>"
    body = "".join(
        f'<tr><td><span class="swatch" style="background:{esc(colours.get(p) or prefix_colour(p))}"></span>'
        f'{esc(p)}</td><td class="num">{n}</td><td class="num">{esc(_fmt_seconds(total))}</td>'
        f'<td class="num">{esc(_fmt_seconds(total / n))}</td><td class="num">{esc(_fmt_seconds(longest))}</td>'
        f'<td class="num">{errors}</td></tr>'
        for p, n, total, longest, errors in rows
    )
    return (
        "<h2>Kinds of task</h2><table class=\"table\"><thead><tr><th>prefix</th><th>runs</th><th>total</th>"
        f"<th>mean</th><th>longest</th><th>failed</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _memory_html(samples: list, workers: dict, start: float, stop: float) -> str:
    if not samples:
        return "<h2>Worker memory</h2><p class=\"muted\">no samples</p>"
    series: dict[str, list] = {}
    for t, rows in samples:
        for w in rows:
            series.setdefault(w["address"], []).append((t, w))
    top = 1
    for points in series.values():
        for _, w in points:
            top = max(top, w["memory_limit"], w["managed"] + w["unmanaged"] + w["spilled"])
    width, height = 560, 120
    duration = max(stop - start, 1e-9)
    charts = []
    for address, points in series.items():
        name = workers.get(address, {}).get("name", address)

        def xy(t: float, v: float) -> str:
            return f"{(t - start) / duration * width:.1f},{height - v / top * height:.1f}"

        layers = []
        base = [0.0] * len(points)
        for field, colour in (("managed", "#3f78b5"), ("unmanaged", "#9cc3e6"), ("spilled", "#a7a39c")):
            upper = [b + p[1][field] for b, p in zip(base, points)]
            poly = [xy(t, v) for (t, _), v in zip(points, upper)]
            poly += [xy(t, v) for (t, _), v in reversed(list(zip(points, base)))]
            layers.append(f'<polygon points="{" ".join(poly)}" fill="{colour}"><title>{field}</title></polygon>')
            base = upper
        limit = max((p[1]["memory_limit"] for p in points), default=0)
        peak = max((p[1]["managed"] + p[1]["unmanaged"] for p in points), default=0)
        if limit:
            y = height - limit / top * height
            layers.append(f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#1d2330" stroke-width="1.5">'
                          f"<title>limit {esc(_fmt_bytes(limit))}</title></line>")
        spilled = max((p[1]["spilled"] for p in points), default=0)
        charts.append(
            f'<figure><svg viewBox="0 0 {width} {height}" width="{width}" height="{height}">{"".join(layers)}</svg>'
            f"<figcaption>{esc(name)}: peak {esc(_fmt_bytes(peak))} in memory, up to {esc(_fmt_bytes(spilled))} "
            f"spilled{', limit ' + esc(_fmt_bytes(limit)) if limit else ''}</figcaption></figure>"
        )
    return (
        "<h2>Worker memory <small><span class=\"swatch\" style=\"background:#3f78b5\"></span>managed "
        "<span class=\"swatch\" style=\"background:#9cc3e6\"></span>unmanaged "
        "<span class=\"swatch\" style=\"background:#a7a39c\"></span>spilled; line: limit</small></h2>"
        f'<div class="charts">{"".join(charts)}</div>'
    )


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 13px;
  color: #1d2330; margin: 20px 28px; max-width: 1300px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 22px 0 8px; }
h2 small { font-weight: 400; color: #6b7383; margin-left: 6px; }
.muted { color: #6b7383; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.table { border-collapse: collapse; } .table th, .table td { padding: 3px 10px; border-bottom: 1px solid #dde1e7;
  text-align: left; } .table th { color: #6b7383; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
svg.bar { width: 100%; height: 18px; display: block; margin-bottom: 6px; }
svg.stream { border: 1px solid #dde1e7; } svg .label { font-size: 10px; fill: #6b7383; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; }
figure svg { border: 1px solid #dde1e7; background: #fafbfc; } figcaption { color: #6b7383; margin-top: 2px; }
"""
