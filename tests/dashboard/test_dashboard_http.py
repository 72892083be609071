"""Serving diagnostics over HTTP: addresses, a taken port, turning it off."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import pytest
import tornado.web

from pardata.diagnostics.http import HTTPService, parse_http_address
from scheduler.server import SchedulerServer

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("text, expected", [
    (":8787", ("127.0.0.1", 8787)), ("8787", ("127.0.0.1", 8787)), (8787, ("127.0.0.1", 8787)),
    ("0.0.0.0:0", ("0.0.0.0", 0)), ("[::1]:9000", ("::1", 9000)), ("http://localhost:80/", ("localhost", 80)),
    ("none", None), ("", None), (None, None), (False, None),
])
def test_parse_http_address(text, expected):
    assert parse_http_address(text) == expected


def test_parse_rejects_nonsense():
    with pytest.raises(ValueError):
        parse_http_address("host:port")


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.finish("hello")


def test_a_taken_port_falls_back_to_a_free_one():
    async def main():
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        try:
            port = taken.getsockname()[1]
            service = HTTPService(tornado.web.Application([("/", Hello)]), f"127.0.0.1:{port}").start()
            try:
                assert service.port not in (0, port)
                body = await asyncio.to_thread(lambda: urllib.request.urlopen(service.url + "/", timeout=5).read())
                assert body == b"hello"
            finally:
                await service.stop()
            strict = HTTPService(tornado.web.Application([]), f"127.0.0.1:{port}", fallback=False)
            with pytest.raises(OSError):
                strict.start()
        finally:
            taken.close()

    asyncio.run(main())


def test_a_scheduler_without_dashboard():
    async def main():
        async with SchedulerServer(dashboard_address=None) as server:
            assert server.dashboard_link is None and server.dashboard.url == ""
        async with SchedulerServer(dashboard_address="127.0.0.1:0") as server:
            assert server.dashboard_link.startswith("http://127.0.0.1:")

    asyncio.run(main())
