"""OTLP/HTTP in: the real OpenTelemetry OTLP exporter sends to the studio server's
``/v1/traces`` and the spans land in the store (protobuf, gzip, and OTLP/JSON)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

import uvicorn
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from mastra_storage.server import create_app
from mastra_storage.storage import InMemoryStore


class Server:
    def __init__(self, app: Any) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def served() -> Iterator[tuple[Server, InMemoryStore]]:
    store = InMemoryStore()
    with Server(create_app(store, otlp=True)) as server:
        yield server, store


def ingested(server: Server, store: InMemoryStore) -> None:
    """Wait until the server's own exporter has written what it accepted."""
    exporter = server.app.state.ingest.exporter
    assert exporter is not None and exporter.flush(10)


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_real_otlp_exporter_lands_spans_in_the_store(served, compression):
    server, store = served
    provider = TracerProvider(resource=Resource.create({"service.name": "otlp-svc",
                                                        "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", compression=compression)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("invoke_agent support", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"}) as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 3}):
            pass
    provider.shutdown()
    ingested(server, store)
    trace_id = f"{root.get_span_context().trace_id:032x}"
    trace = store.get_trace(trace_id)
    assert trace is not None and len(trace.spans) == 2
    by_type = {s.span_type: s for s in trace.spans}
    assert by_type["agent_run"].service_name == "otlp-svc"
    assert by_type["agent_run"].environment == "test"
    model = by_type["model_generation"]
    assert model.attributes["model"] == "gpt-4o"
    assert model.attributes["usage"]["inputTokens"] == 12
    # and Studio's API on the same server shows them
    listed = httpx.get(f"{server.url}/api/observability/traces").json()["spans"]
    assert [(r["traceId"], r["name"]) for r in listed] == [(trace_id, "invoke_agent support")]
    opened = httpx.get(f"{server.url}/api/observability/traces/{trace_id}").json()["spans"]
    assert sorted(s["spanType"] for s in opened) == ["agent_run", "model_generation"]


def otlp_json(trace_id: str, span_id: str) -> dict[str, Any]:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": trace_id, "spanId": span_id, "name": "tool lookup", "kind": 1,
             "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano":
             "1764000000500000000", "attributes": [
                 {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                 {"key": "gen_ai.tool.name", "value": {"stringValue": "lookup"}}]},
            {"traceId": "nothex", "spanId": "00", "name": "bad ids"},
        ]}]}]}


def test_otlp_json_and_the_partial_success_of_bad_spans(served):
    server, store = served
    body = json.dumps(otlp_json("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"))
    answer = httpx.post(f"{server.url}/v1/traces", content=gzip.compress(body.encode()),
                        headers={"Content-Type": "application/json",
                                 "Content-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.json()["partialSuccess"]["rejectedSpans"] == 1
    ingested(server, store)
    span = store.get_span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert span is not None and span.span_type == "tool_call"
    assert span.service_name == "json-svc" and span.entity_name == "lookup"


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({"Content-Type": "application/x-protobuf"}, b"\xff\xff\xff not protobuf", 400),
    ({"Content-Type": "application/json"}, b"{not json", 400),
    ({"Content-Type": "application/json"}, b"[1, 2]", 400),
    ({"Content-Type": "text/plain"}, b"hello", 415),
    ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"not gzip", 400),
    ({"Content-Type": "application/json", "Content-Encoding": "br"}, b"x", 400),
])
def test_malformed_bodies_are_400s_not_500s(served, headers, body, status):
    server, _ = served
    assert httpx.post(f"{server.url}/v1/traces", content=body,
                      headers=headers).status_code == status


def test_oversized_bodies_are_refused(served):
    server, _ = served
    from mastra_storage.server.otlp import MAX_BODY, MAX_DECOMPRESSED

    big = b"{" + b" " * (MAX_BODY + 1) + b"}"
    assert httpx.post(f"{server.url}/v1/traces", content=big, headers={
        "Content-Type": "application/json"}).status_code == 413
    bomb = gzip.compress(b"[" + b" " * (MAX_DECOMPRESSED + 10) + b"]")
    assert len(bomb) < MAX_BODY
    assert httpx.post(f"{server.url}/v1/traces", content=bomb, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"}).status_code == 413


def test_the_token_rules_apply_to_otlp(tmp_path):
    store = InMemoryStore()
    with Server(create_app(store, token="s3cret", otlp=True)) as server:
        body = json.dumps(otlp_json("1af7651916cd43dd8448eb211c80319c", "c7ad6b7169203331"))
        headers = {"Content-Type": "application/json"}
        assert httpx.post(f"{server.url}/v1/traces", content=body,
                          headers=headers).status_code == 401
        assert httpx.post(f"{server.url}/v1/traces", content=body, headers={
            **headers, "Authorization": "Bearer s3cret"}).status_code == 200


def test_otlp_only_serves_nothing_else(tmp_path):
    store = InMemoryStore()
    with Server(create_app(store, otlp_only=True)) as server:
        assert httpx.get(f"{server.url}/api/observability/traces").status_code == 404
        body = json.dumps(otlp_json("2af7651916cd43dd8448eb211c80319c", "d7ad6b7169203331"))
        assert httpx.post(f"{server.url}/v1/traces", content=body, headers={
            "Content-Type": "application/json"}).status_code == 200


def test_otlp_is_off_unless_asked_for():
    """The receiver writes; a server started without ``otlp`` accepts no spans."""
    store = InMemoryStore()
    with Server(create_app(store)) as server:
        body = json.dumps(otlp_json("3af7651916cd43dd8448eb211c80319c", "e7ad6b7169203331"))
        response = httpx.post(f"{server.url}/v1/traces", content=body,
                              headers={"Content-Type": "application/json"})
        assert response.status_code in (404, 405)
    assert store.list_traces(None, 0, 10).total == 0
