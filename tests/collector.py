"""A real HTTP collector on a loopback port, for the CloudExporter tests (a pytest plugin:
tests/conftest.py loads it, so tests just ask for the ``collector`` fixture).

It records every request (path, headers, decoded JSON body) and answers from a script:
queued :class:`Reply` objects are used first, in order, then the default reply (200
``{"ok": true}``). A reply can carry a status, headers (``Retry-After``), a body and a
gate (a ``threading.Event`` the handler waits on before answering, so a test can hold a
request in flight, a slow or hung collector, without sleeping).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'
    gate: threading.Event | None = None  # answer only once this is set
    path_prefix: str | None = None  # only for requests whose path starts with this


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes  # as received (possibly gzip)
    body: bytes  # decoded (gunzipped)

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def signal_key(self) -> str:
        """The single top-level key of the body: spans, logs, metrics, scores, feedback."""
        keys = list(self.json)
        assert len(keys) == 1, keys
        return str(keys[0])

    @property
    def records(self) -> list[dict[str, Any]]:
        data = self.json
        return list(data[self.signal_key])


class Collector:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._script: deque[Reply] = deque()
        self.default = Reply()
        self._cond = threading.Condition()
        self.entered = threading.Event()  # set when a request waits at a gate
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the exporter pools connections

            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = raw
                if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                    body = gzip.decompress(raw)
                req = Request(
                    method="POST", path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=raw, body=body,
                )
                reply = collector._next_reply(req.path)
                with collector._cond:
                    collector.requests.append(req)
                    collector._cond.notify_all()
                if reply.gate is not None:
                    collector.entered.set()
                    reply.gate.wait(30)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ script
    def _next_reply(self, path: str) -> Reply:
        with self._cond:
            for i, reply in enumerate(self._script):
                if reply.path_prefix is None or path.startswith(reply.path_prefix):
                    del self._script[i]
                    return reply
        return self.default

    def queue(self, *replies: Reply) -> None:
        with self._cond:
            self._script.extend(replies)

    # ------------------------------------------------------------------ access
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Request]:
        """Block until at least ``n`` requests arrived; returns a copy of them."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.requests) >= n, timeout)
            got = list(self.requests)
        assert ok, f"expected {n} request(s), got {len(got)}: {[r.path for r in got]}"
        return got

    def by_path(self, path: str) -> list[Request]:
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def records(self, key: str) -> list[dict[str, Any]]:
        """Every record received under ``key`` (``spans``, ``logs``...), in arrival order."""
        with self._cond:
            reqs = list(self.requests)
        return [rec for r in reqs if r.signal_key == key for rec in r.records]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_collector() -> Iterator[Collector]:
    c = Collector()
    try:
        yield c
    finally:
        c.close()


CLOUD_ENV_VARS = (
    "MASTRA_CLOUD_ACCESS_TOKEN", "MASTRA_PLATFORM_ACCESS_TOKEN", "MASTRA_PROJECT_ID",
    "MASTRA_CLOUD_TRACES_ENDPOINT", "MASTRA_PLATFORM_OBSERVABILITY_ENDPOINT",
)


@pytest.fixture
def clean_cloud_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No collector setting leaks in from the developer's environment."""
    for name in CLOUD_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running_collector() as c:
        yield c
