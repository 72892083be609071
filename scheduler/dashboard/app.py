"""The tornado application: pages, the JSON API, ``/metrics`` and ``/health``.

Routes
    ``/status``, ``/workers``             live pages (``dashboard.js`` polls the API)
    ``/task?key=KEY``                     one key: state, why it is not done, its story
    ``/api/v1/status?since=N``            everything the status page draws; task-stream
                                          records after cursor ``N`` and the next cursor
    ``/api/v1/workers``, ``/api/v1/progress``, ``/api/v1/errors``
    ``/api/v1/task?key=KEY``, ``/api/v1/why?key=KEY``
    ``/api/v1/task_stream?since=N``
    ``/metrics``                          Prometheus text
    ``/health``                           ``ok`` while the scheduler runs

Handlers run on the scheduler's event loop and only read its state; each answer is
built synchronously (no awaits in between), so it sees one consistent state.
"""

from __future__ import annotations

import json
import os
import time

import tornado.web

from pardata.diagnostics.prometheus import CONTENT_TYPE

from . import pages
from .exposition import scheduler_metrics

__all__ = ["make_app", "STATIC"]

STATIC = os.path.join(os.path.dirname(__file__), "static")


class _Base(tornado.web.RequestHandler):
    def initialize(self, data) -> None:
        self.data = data

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def html(self, text: str, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", pages.CSP)
        self.set_header("X-Frame-Options", "DENY")
        self.finish(text)

    def json(self, doc, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(doc, separators=(",", ":"), default=str, allow_nan=False))

    def since(self) -> int:
        try:
            return max(int(self.get_query_argument("since", "0")), 0)
        except ValueError:
            raise tornado.web.HTTPError(400, "since must be an integer") from None

    def key(self) -> str:
        key = self.get_query_argument("key", None)
        if key is None:
            raise tornado.web.HTTPError(400, "missing ?key=")
        return key

    def write_error(self, status_code: int, **kwargs) -> None:
        reason = self._reason
        if self.request.path.startswith("/api/"):
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps({"error": reason, "status": status_code}))
        else:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Content-Security-Policy", pages.CSP)
            self.finish(pages.not_found_page(f"{status_code}: {reason}"))


class StatusPage(_Base):
    def get(self) -> None:
        self.html(pages.status_page())


class WorkersPage(_Base):
    def get(self) -> None:
        self.html(pages.workers_page())


class TaskPage(_Base):
    def get(self, key: str | None = None) -> None:
        key = key or self.key()
        doc = self.data.task(key)
        if doc is None:
            self.html(pages.not_found_page(f"the scheduler knows no task {key!r}"), status=404)
        else:
            self.html(pages.task_page(doc))


class StatusAPI(_Base):
    def get(self) -> None:
        start = time.thread_time()  # CPU time: a preempted scheduler is not a costly page
        self.json(self.data.status(self.since()))
        self.data.status_cost = time.thread_time() - start


class WorkersAPI(_Base):
    def get(self) -> None:
        self.json({"scheduler": self.data.overview(), "tasks": self.data.counts(), "workers": self.data.workers()})


class ProgressAPI(_Base):
    def get(self) -> None:
        self.json({"tasks": self.data.counts(), "progress": self.data.progress()})


class ErrorsAPI(_Base):
    def get(self) -> None:
        self.json({"errors": self.data.errors()})


class TaskStreamAPI(_Base):
    def get(self) -> None:
        self.json(self.data.stream(self.since()))


class TaskAPI(_Base):
    def get(self) -> None:
        doc = self.data.task(self.key())
        if doc is None:
            raise tornado.web.HTTPError(404, "unknown task")
        self.json(doc)


class WhyAPI(_Base):
    def get(self) -> None:
        doc = self.data.task(self.key())
        self.json({"why": doc["why"] if doc is not None else []})


class MetricsHandler(_Base):
    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(scheduler_metrics(self.data))


class HealthHandler(_Base):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("ok")


class StaticHandler(tornado.web.StaticFileHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")


def make_app(data) -> tornado.web.Application:
    """The dashboard application over ``data`` (a `DashboardData`)."""
    kw = {"data": data}
    return tornado.web.Application(
        [
            (r"/", tornado.web.RedirectHandler, {"url": "/status"}),
            (r"/status/?", StatusPage, kw),
            (r"/workers/?", WorkersPage, kw),
            (r"/task/?", TaskPage, kw),
            (r"/task/(.+)", TaskPage, kw),
            (r"/api/v1/status", StatusAPI, kw),
            (r"/api/v1/workers", WorkersAPI, kw),
            (r"/api/v1/progress", ProgressAPI, kw),
            (r"/api/v1/errors", ErrorsAPI, kw),
            (r"/api/v1/task_stream", TaskStreamAPI, kw),
            (r"/api/v1/task", TaskAPI, kw),
            (r"/api/v1/why", WhyAPI, kw),
            (r"/metrics", MetricsHandler, kw),
            (r"/health", HealthHandler, kw),
            (r"/static/(.*)", StaticHandler, {"path": STATIC}),
        ],
        log_function=_quiet_log,
    )


def _quiet_log(handler) -> None:
    """Log only failures: a browser polling twice a second must not fill the log."""
    status = handler.get_status()
    if status >= 500:
        import logging

        logging.getLogger("pardata.dashboard").warning(
            "%d %s %s", status, handler.request.method, handler.request.uri
        )
