"""HTML of the dashboard pages, written by hand; every value goes through ``esc``.

The live pages (status, workers) are a shell that ``dashboard.js`` fills from the JSON
API, using ``textContent`` and DOM/SVG attributes, never ``innerHTML``. The task page
is rendered here, server side. Pages carry a Content-Security-Policy that allows no
inline script at all, so even a value that escaped escaping could not run.
"""

from __future__ import annotations

import html
from urllib.parse import quote

__all__ = ["esc", "page", "status_page", "workers_page", "task_page", "not_found_page", "task_href", "CSP"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_NAV = (("status", "Status", "/status"), ("workers", "Workers", "/workers"))
_ACTIVE = ' class="active"'


def esc(value) -> str:
    """HTML-escape anything (quotes included), as text."""
    return html.escape(str(value), quote=True)


def task_href(key_text: str) -> str:
    return "/task?key=" + quote(key_text, safe="")


def page(title: str, body: str, *, active: str = "", scripts: tuple = ()) -> str:
    nav = "".join(
        f'<a href="{href}"{_ACTIVE if name == active else ""}>{label}</a>' for name, label, href in _NAV
    )
    tags = "".join(f'<script src="/static/{s}" defer></script>' for s in scripts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)} - pardata</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/static/dashboard.css">{tags}</head>'
        f'<body><header><span class="brand">pardata</span><nav>{nav}</nav>'
        '<span id="summary" class="summary"></span></header>'
        f"<main>{body}</main></body></html>\n"
    )


def status_page() -> str:
    body = """
<section class="panel wide"><h2>Task stream <small id="stream-note"></small></h2>
  <div id="task-stream" class="stream" data-records="0"><canvas id="stream-canvas"></canvas>
  <div id="stream-tip" class="tip" hidden></div></div>
  <div id="stream-legend" class="legend"></div></section>
<section class="panel"><h2>Progress <small>done / in memory / erred / waiting</small></h2>
  <div id="progress" data-done="0" data-total="0"></div></section>
<section class="panel"><h2>Worker memory <small>managed / unmanaged / spilled;
  <span class="mark limit"></span> limit <span class="mark pause"></span> pause</small></h2>
  <div id="memory" data-workers="0"></div></section>
<section class="panel"><h2>CPU and network</h2><div id="cpu-net"></div></section>
<section class="panel"><h2>Recent errors</h2><div id="errors" data-errors="0">
  <p class="muted">none</p></div></section>
"""
    return page("Status", body, active="status", scripts=("dashboard.js",))


def workers_page() -> str:
    body = """
<section class="panel wide"><h2>Workers</h2>
<table id="workers-table" class="table"><thead><tr>
<th>name</th><th>address</th><th>threads</th><th>processing</th><th>keys</th><th>managed</th>
<th>unmanaged</th><th>spilled</th><th>limit</th><th>status</th><th>CPU</th><th>net in</th><th>net out</th>
<th>last seen</th><th>metrics</th></tr></thead><tbody></tbody></table></section>
"""
    return page("Workers", body, active="workers", scripts=("dashboard.js",))


def _key_link(key_text: str, state: str = "") -> str:
    badge = f' <span class="state {esc(state)}">{esc(state)}</span>' if state else ""
    return f'<a href="{esc(task_href(key_text))}">{esc(key_text)}</a>{badge}'


def _list(items: list, total: int) -> str:
    if not items:
        return '<p class="muted">none</p>'
    lis = "".join(f"<li>{_key_link(k, s)}</li>" for k, s in items)
    more = f'<p class="muted">... and {total - len(items)} more</p>' if total > len(items) else ""
    return f"<ul class=\"keys\">{lis}</ul>{more}"


def task_page(doc: dict) -> str:
    """The page of one key: where it is, why it is not done, its story."""
    key = doc["key"]
    rows = []
    for label, field in (("state", "state"), ("prefix", "prefix"), ("processing on", "processing_on"),
                         ("attempt", "attempt"), ("retries left", "retries"), ("bytes", "nbytes"),
                         ("priority", "priority")):
        if field in doc and doc[field] not in ("", None):
            rows.append(f"<tr><th>{esc(label)}</th><td>{esc(doc[field])}</td></tr>")
    if doc.get("who_has"):
        rows.append(f"<tr><th>in memory on</th><td>{esc(', '.join(doc['who_has']))}</td></tr>")
    if doc.get("who_wants"):
        rows.append(f"<tr><th>wanted by</th><td>{esc(', '.join(doc['who_wants']))}</td></tr>")
    why = "".join(
        f'<li class="depth-{min(int(w["depth"]), 9)}">{esc(w["text"])}</li>'
        for w in doc.get("why", [])
    )
    parts = [
        f'<section class="panel wide"><h2>Task <code id="task-key">{esc(key)}</code></h2>',
        f'<table class="table props">{"".join(rows)}</table></section>',
        f'<section class="panel wide"><h2>Why</h2><ol class="why">{why}</ol></section>',
    ]
    if doc.get("error_reason") or doc.get("traceback"):
        blamed = (f"<p>blamed on {_key_link(doc['blamed'])}</p>" if doc.get("blamed") else "")
        parts.append(
            f'<section class="panel wide"><h2>Error</h2><p>{esc(doc.get("error_reason", ""))}</p>{blamed}'
            f'<pre class="traceback">{esc(doc.get("traceback", ""))}</pre></section>'
        )
    for err in doc.get("errors", []):
        if err.get("traceback") and err["traceback"] != doc.get("traceback"):
            parts.append(
                f'<section class="panel wide"><h2>Failed run on {esc(err["worker"])}</h2>'
                f'<pre class="traceback">{esc(err["traceback"])}</pre></section>'
            )
    if "dependencies" in doc:
        parts.append(
            f'<section class="panel"><h2>Dependencies ({esc(doc["n_dependencies"])})</h2>'
            f'{_list(doc["dependencies"], doc["n_dependencies"])}</section>'
            f'<section class="panel"><h2>Dependents ({esc(doc["n_dependents"])})</h2>'
            f'{_list(doc["dependents"], doc["n_dependents"])}</section>'
        )
    story = "".join(
        f'<tr class="{esc(e["kind"])}"><td>{esc(e["stimulus"])}</td><td>{esc(e["kind"])}</td>'
        f"<td><code>{esc(e['text'])}</code></td></tr>"
        for e in doc.get("story", [])
    )
    parts.append(
        '<section class="panel wide"><h2>Story <small>what the scheduler did with this key, oldest first</small>'
        f'</h2><table class="table story"><thead><tr><th>event #</th><th>kind</th><th>entry</th></tr></thead>'
        f"<tbody>{story}</tbody></table></section>"
    )
    return page(f"Task {key}", "".join(parts))


def not_found_page(what: str) -> str:
    return page("Not found", f'<section class="panel wide"><h2>Not found</h2><p>{esc(what)}</p></section>')
