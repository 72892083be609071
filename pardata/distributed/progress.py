"""``progress(futures_or_collections)``: how far a computation on the cluster has got.

In a terminal it draws the same bar as ``pardata.diagnostics.ProgressBar`` (the local
schedulers' one) and returns when everything is done or failed. In a Jupyter notebook
it shows a plain HTML table, one bar per kind of task (task prefix), updated in place
through IPython's ``display`` (no widget library needed), and returns at once.

Progress counts every task the given futures depend on, not just the futures: the
scheduler walks the graph upstream of their keys (query ``progress``). Tasks the
scheduler has forgotten since the first look were done, so each prefix keeps the
largest total it was seen with and counts what vanished as done.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import Any

from pardata.diagnostics.palette import ERRED, PROCESSING, prefix_colour
from pardata.diagnostics.progress import format_bar

from .future import Future

__all__ = ["progress", "TaskProgress", "futures_of"]


def futures_of(obj: Any) -> list[Future]:
    """Every Future in ``obj``: a Future, a collection backed by Futures (persisted), or
    lists, tuples, sets and dicts of those."""
    out: dict[int, Future] = {}
    _collect(obj, out)
    return list(out.values())


def _collect(obj: Any, out: dict) -> None:
    if isinstance(obj, Future):
        out.setdefault(id(obj), obj)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for x in obj:
            _collect(x, out)
    elif isinstance(obj, dict):
        for x in obj.values():
            _collect(x, out)
    elif hasattr(obj, "__pardata_graph__"):
        from pardata.core.spec import DataNode

        for node in obj.__pardata_graph__().values():
            if isinstance(node, DataNode) and isinstance(node.value, Future):
                out.setdefault(id(node.value), node.value)


class TaskProgress:
    """Progress of a set of futures, polled from their scheduler.

    ``rows()`` gives, per task prefix, ``total``, ``done``, ``memory``, ``erred``,
    ``processing`` and ``waiting``; ``fraction()`` the share done over all prefixes.
    """

    def __init__(self, futures: list[Future], interval: float = 0.25) -> None:
        if not futures:
            raise ValueError(
                "progress() needs Futures or collections backed by Futures: "
                "call client.compute(...) or .persist() first"
            )
        self.futures = futures
        self.core = futures[0]._core
        if self.core.runner is None:
            raise RuntimeError("progress() needs a blocking Client (not an asynchronous ClientCore)")
        self.keys = list(dict.fromkeys(f.key for f in futures))
        self.interval = interval
        self.start = time.perf_counter()
        self._totals: dict[str, int] = {}
        self._rows: dict[str, dict] = {}
        self.erred = 0

    def done(self) -> bool:
        return all(f.done() for f in self.futures)

    def update(self) -> None:
        """Ask the scheduler once (blocking, from any thread but the client's loop)."""
        data, _ = self.core.run_sync(self.core.query("progress", keys=self.keys), timeout=30)
        rows = {}
        for prefix, counts in data.items():
            total = max(self._totals.get(prefix, 0), counts["total"])
            self._totals[prefix] = total
            remaining = counts["total"] - counts["done"]
            rows[prefix] = {**counts, "total": total, "done": max(total - remaining, 0)}
        for prefix, total in self._totals.items():
            if prefix not in rows:  # every task of it forgotten: all done
                rows[prefix] = {"total": total, "done": total, "memory": 0, "erred": 0,
                                "processing": 0, "waiting": 0}
        self._rows = rows
        self.erred = sum(r["erred"] for r in rows.values())

    def rows(self) -> dict[str, dict]:
        return dict(self._rows)

    def fraction(self) -> float:
        total = sum(r["total"] for r in self._rows.values())
        if self.done() and not self.erred:
            return 1.0
        if not total:
            return 1.0 if self.done() else 0.0
        return min(sum(r["done"] for r in self._rows.values()) / total, 1.0)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    # --- drawing -------------------------------------------------------------------------

    def text(self, width: int = 40) -> str:
        line = format_bar(self.fraction(), self.elapsed, width)
        if self.erred:
            line += f" | {self.erred} erred"
        return line

    def _repr_html_(self) -> str:
        return html_progress(self.rows(), self.fraction(), self.elapsed, self.erred)


def html_progress(rows: dict, fraction: float, elapsed: float, erred: int = 0) -> str:
    """A widget-free HTML table: one bar per task prefix (inline styles, escaped text)."""
    lines = []
    for prefix, r in rows.items():
        total = max(r["total"], 1)
        colour = prefix_colour(prefix)
        segments = [
            (r["done"] - r["memory"], colour, 1.0, "done"),
            (r["memory"], colour, 0.55, "in memory"),
            (r["erred"], ERRED, 1.0, "erred"),
            (r["processing"], PROCESSING, 1.0, "processing"),
        ]
        bar = "".join(
            f'<div title="{esc(label)}: {n}" style="width:{100 * n / total:.3f}%;background:{colour_};'
            f'opacity:{opacity};height:100%"></div>'
            for n, colour_, opacity, label in segments
            if n > 0
        )
        numbers = (f'{r["done"]} / {r["total"]} done, {r["memory"]} in memory, {r["erred"]} erred, '
                   f'{r["processing"]} processing, {r["waiting"]} waiting')
        lines.append(
            f'<tr><td style="text-align:left;padding:1px 8px 1px 0;white-space:nowrap">{esc(prefix)}</td>'
            f'<td style="width:100%;padding:1px 0"><div style="display:flex;height:12px;background:#e6e9ee;'
            f'border-radius:2px;overflow:hidden">{bar}</div>'
            f'<div style="font-size:11px;color:#6b7383">{esc(numbers)}</div></td></tr>'
        )
    head = f"{fraction * 100:.0f}% completed in {elapsed:.1f}s" + (f", {erred} erred" if erred else "")
    return (
        f'<div class="pardata-progress"><div style="font-weight:600;margin-bottom:4px">{esc(head)}</div>'
        f'<table style="width:100%;border-collapse:collapse">{"".join(lines)}</table></div>'
    )


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def progress(
    *futures,
    notebook: bool | None = None,
    interval: float = 0.25,
    out=None,
    width: int = 40,
    minimum: float = 0.0,
) -> TaskProgress:
    """Show the progress of computations on the cluster.

    ``futures`` are Futures or collections backed by Futures (``persist()``), or lists
    of them. In a terminal this blocks until they are all done, redrawing a bar like
    ``[#######       ] | 35% Completed |  2.1s``; in a notebook it displays an HTML
    table updated in place and returns at once (``notebook=`` forces either).
    ``minimum``: do not draw for computations shorter than this many seconds.
    """
    tp = TaskProgress(futures_of(list(futures)), interval=interval)
    if notebook is None:
        notebook = _in_notebook()
    if notebook:
        _show_in_notebook(tp)
    else:
        _show_in_terminal(tp, out if out is not None else sys.stdout, width, minimum)
    return tp


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _show_in_terminal(tp: TaskProgress, stream, width: int, minimum: float) -> None:
    drawn = False
    while True:
        finished = tp.done()
        tp.update()
        if tp.elapsed >= minimum:
            stream.write("\r" + tp.text(width))
            stream.flush()
            drawn = True
        if finished:
            break
        deadline = time.perf_counter() + tp.interval
        while not tp.done() and time.perf_counter() < deadline:
            time.sleep(min(0.02, tp.interval))
    if drawn:
        stream.write("\n")
        stream.flush()


def _show_in_notebook(tp: TaskProgress) -> None:
    from IPython.display import HTML, display

    tp.update()
    handle = display(HTML(tp._repr_html_()), display_id=True)

    def refresh() -> None:
        while True:
            finished = tp.done()
            try:
                tp.update()
            except Exception:  # noqa: BLE001 - the client closed: stop drawing
                return
            handle.update(HTML(tp._repr_html_()))
            if finished:
                return
            time.sleep(tp.interval)

    threading.Thread(target=refresh, name="pardata-progress", daemon=True).start()
