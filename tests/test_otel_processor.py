"""MastraSpanProcessor with real components end to end.

The real OpenTelemetry SDK, the real instrumentation packages from PyPI
(``openinference-instrumentation-openai``, ``opentelemetry-instrumentation-openai-v2``)
wrapping the real ``openai`` client, which calls a fake OpenAI-compatible HTTP server this
module runs on loopback (a chat completion with usage, a tool call, an error). Rows are
checked field by field in SQLite and PostgreSQL and through ``list_traces``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
openai = pytest.importorskip("openai")

from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context  # noqa: E402

from mastra_storage import DefaultExporter, SensitiveDataFilter  # noqa: E402
from mastra_storage.model.spans import SpanRecord  # noqa: E402
from mastra_storage.model.time import from_epoch_ms  # noqa: E402
from mastra_storage.otel import MastraSpanExporter, MastraSpanProcessor  # noqa: E402
from mastra_storage.storage import TracesFilter  # noqa: E402
from mastra_storage.storage.memory import InMemoryStore  # noqa: E402
from mastra_storage.tracing.events import ScoreEvent, TracingEvent, TracingEventType  # noqa: E402
from tests.backends import selected  # noqa: E402

from .helpers import RecordingExporter  # noqa: E402

SQL_BACKENDS = [b for b in ("sqlite", "postgres") if b in selected()]
RESOURCE = {"service.name": "otel-app", "deployment.environment.name": "test"}


# ---------------------------------------------------------------------------- fake OpenAI
CHAT: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello there"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4},
                  "completion_tokens_details": {"reasoning_tokens": 1}}}
TOOL_CALL: dict[str, Any] = {"id": "chatcmpl-2", "object": "chat.completion", "created": 1,
             "model": "gpt-4o-2024-08-06",
             "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                 "role": "assistant", "content": None,
                 "tool_calls": [{"id": "call_1", "type": "function", "function": {
                     "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}}],
             "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}}
WEATHER_TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


class _FakeOpenAI(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        last = body["messages"][-1].get("content")
        if last == "fail":
            status, out = 400, {"error": {"message": "model overloaded",
                                          "type": "invalid_request_error"}}
        elif body.get("tools"):
            status, out = 200, TOOL_CALL
        else:
            status, out = 200, CHAT
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def _calls(url: str) -> None:
    """A chat completion with usage, a tool call, an error: each its own trace."""
    client = openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0)
    client.chat.completions.create(
        model="gpt-4o", temperature=0.2, max_tokens=50,
        messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}])
    client.chat.completions.create(model="gpt-4o", tools=[WEATHER_TOOL],
                                   messages=[{"role": "user", "content": "weather?"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o",
                                       messages=[{"role": "user", "content": "fail"}])


def _provider(store: Any, **options: Any) -> tuple[TracerProvider, MastraSpanProcessor,
                                                    InMemorySpanExporter]:
    """A provider with the Mastra processor and, for reference, an in-memory exporter."""
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    processor = MastraSpanProcessor(store=store, max_batch_wait_ms=20, **options)
    provider.add_span_processor(processor)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, processor, memory


def _ms(ns: int | None) -> Any:
    assert ns is not None
    return from_epoch_ms(ns // 1_000_000)


def _common(row: SpanRecord, otel_span: ReadableSpan, name: str) -> None:
    ctx = otel_span.context
    assert row.trace_id == f"{ctx.trace_id:032x}" and row.span_id == f"{ctx.span_id:016x}"
    assert row.name == name and row.span_type == "model_generation"
    assert row.parent_span_id is None and row.is_event is False
    assert row.started_at == _ms(otel_span.start_time)
    assert row.ended_at == _ms(otel_span.end_time)
    assert row.service_name == "otel-app" and row.environment == "test"
    assert row.entity_type is None and row.created_at is not None


def _check_list(store: Any, rows: list[SpanRecord]) -> None:
    page = store.list_traces(TracesFilter(service_name="otel-app"), per_page=10)
    assert page.total == 3
    assert {s.trace_id for s in page.spans} == {r.trace_id for r in rows}
    errors = store.list_traces(TracesFilter(service_name="otel-app", status="error"))
    assert [s.trace_id for s in errors.spans] == [rows[2].trace_id]
    llm = store.list_traces(TracesFilter(span_type="model_generation"))
    assert llm.total == 3


@pytest.fixture
def sql_store(backend: Any) -> Iterator[Any]:
    store = backend.make_store()
    try:
        yield store
    finally:
        store.close()


# ---------------------------------------------------------------------------- OpenInference
@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
def test_openinference_openai_rows(sql_store, openai_url):
    from openinference.instrumentation.openai import OpenAIInstrumentor

    provider, processor, memory = _provider(sql_store)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        _calls(openai_url)
    finally:
        instrumentor.uninstrument()
    provider.shutdown()  # flushes and stops the DefaultExporter
    assert processor.exporter.drops.snapshot() == {}
    spans = memory.get_finished_spans()
    assert len(spans) == 3
    rows = [sql_store.get_span(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}")
            for s in spans]
    for row, span in zip(rows, spans, strict=True):
        _common(row, span, "ChatCompletion")
        assert row.attributes["model"] == "gpt-4o"
        assert row.attributes["provider"] == "openai"
        assert row.attributes["openinference.span.kind"] == "LLM"
        assert row.attributes["otel"]["scope"]["name"] == "openinference.instrumentation.openai"
    chat, tool, err = rows
    assert chat.status == "success" and chat.error is None
    assert chat.attributes["responseModel"] == "gpt-4o-2024-08-06"
    assert chat.attributes["usage"] == {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15,
                                        "inputDetails": {"cacheRead": 4},
                                        "outputDetails": {"reasoning": 1}}
    assert chat.attributes["parameters"] == {"maxOutputTokens": 50, "temperature": 0.2}
    assert chat.attributes["finishReason"] == "stop"
    assert chat.input == {"messages": [{"role": "system", "content": "be nice"},
                                       {"role": "user", "content": "hi"}]}
    assert chat.output == {"text": "Hello there"}
    assert tool.attributes["usage"]["inputTokens"] == 50
    assert tool.attributes["finishReason"] == "tool_calls"
    assert tool.attributes["tools"] == [{"type": "function", "name": "get_weather",
                                         "description": "Current weather",
                                         "parameters": WEATHER_TOOL["function"]["parameters"]}]
    assert tool.output == {"toolCalls": [{"type": "tool-call", "toolCallId": "call_1",
                                          "toolName": "get_weather",
                                          "input": {"city": "Paris"}}]}
    assert err.status == "error" and err.output is None
    assert err.error["name"] == "openai.BadRequestError"
    assert "model overloaded" in err.error["message"]
    assert "Traceback" in err.error["stack"]
    assert "usage" not in err.attributes
    _check_list(sql_store, rows)


# ---------------------------------------------------------------------------- OTel GenAI
@pytest.fixture
def genai_latest(monkeypatch):
    """The GenAI instrumentation in its current-conventions mode, capturing content."""
    from opentelemetry.instrumentation._semconv import _OpenTelemetrySemanticConventionStability

    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    # the opt-in is read once per process; let this test's setting be the one read
    monkeypatch.setattr(_OpenTelemetrySemanticConventionStability, "_initialized", False)
    yield
    _OpenTelemetrySemanticConventionStability._initialized = False


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
def test_genai_instrumentation_openai_rows(sql_store, openai_url, genai_latest):
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    provider, processor, memory = _provider(sql_store)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        _calls(openai_url)
    finally:
        instrumentor.uninstrument()
    provider.shutdown()
    spans = memory.get_finished_spans()
    assert len(spans) == 3
    rows = [sql_store.get_span(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}")
            for s in spans]
    for row, span in zip(rows, spans, strict=True):
        _common(row, span, "chat gpt-4o")
        assert row.attributes["model"] == "gpt-4o"
        assert row.attributes["provider"] == "openai"
        assert row.attributes["otel"]["kind"] == "CLIENT"
    chat, tool, err = rows
    assert chat.attributes["responseModel"] == "gpt-4o-2024-08-06"
    assert chat.attributes["responseId"] == "chatcmpl-1"
    assert chat.attributes["usage"] == {"inputTokens": 12, "outputTokens": 3}
    assert chat.attributes["parameters"] == {"temperature": 0.2, "maxOutputTokens": 50}
    assert chat.attributes["finishReason"] == "stop"
    assert chat.input == {"messages": [{"role": "system", "content": "be nice"},
                                       {"role": "user", "content": "hi"}]}
    assert chat.output == {"text": "Hello there"}
    assert tool.attributes["finishReason"] == "tool_calls"
    assert tool.attributes["usage"] == {"inputTokens": 50, "outputTokens": 10}
    assert tool.output["toolCalls"] == [{"type": "tool-call", "toolCallId": "call_1",
                                         "toolName": "get_weather", "input": {"city": "Paris"}}]
    assert err.status == "error"
    assert "model overloaded" in err.error["message"]
    assert "BadRequestError" in err.error["name"]
    _check_list(sql_store, rows)


# ---------------------------------------------------------------------------- a whole agent
@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
def test_agent_tree_running_root_and_filters(sql_store, openai_url):
    """An OpenInference agent → chain → (LLM call, tool) tree, with session, user, tags
    and metadata from OpenInference's context helpers; the root shows as running while
    the agent works."""
    from openinference.instrumentation import (
        OITracer,
        TraceConfig,
        using_metadata,
        using_session,
        using_tags,
        using_user,
    )
    from openinference.instrumentation.openai import OpenAIInstrumentor

    provider, processor, memory = _provider(sql_store)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    tracer = OITracer(provider.get_tracer("support-app"), config=TraceConfig())
    client = openai.OpenAI(base_url=openai_url, api_key="sk-test", max_retries=0)
    try:
        with using_session("sess-1"), using_user("user-1"), using_tags(["vip"]), \
                using_metadata({"plan": "pro"}):
            with tracer.start_as_current_span("support-agent",
                                              openinference_span_kind="agent") as agent:
                agent.set_input("What's the weather in Paris?")
                assert processor.force_flush()
                running = sql_store.list_traces(TracesFilter(session_id="sess-1"))
                assert [(s.name, s.status) for s in running.spans] == [
                    ("support-agent", "running")]
                with tracer.start_as_current_span("plan", openinference_span_kind="chain"):
                    client.chat.completions.create(
                        model="gpt-4o", tools=[WEATHER_TOOL],
                        messages=[{"role": "user", "content": "weather?"}])
                    with tracer.start_as_current_span(
                            "get_weather", openinference_span_kind="tool") as tool:
                        tool.set_tool(name="get_weather", description="Current weather",
                                      parameters=WEATHER_TOOL["function"]["parameters"])
                        tool.set_input({"city": "Paris"})
                        tool.set_output({"temp": 21})
                agent.set_output("It is 21°C in Paris.")
    finally:
        instrumentor.uninstrument()
    provider.shutdown()

    page = sql_store.list_traces(TracesFilter(session_id="sess-1", entity_name="support-agent"))
    assert page.total == 1
    root = page.spans[0]
    assert (root.span_type, root.status, root.entity_type, root.entity_id) == (
        "agent_run", "success", "agent", "support-agent")
    assert (root.root_entity_type, root.root_entity_name) == ("agent", "support-agent")
    assert (root.user_id, root.tags, root.metadata) == ("user-1", ["vip"], {"plan": "pro"})
    assert sql_store.list_traces(TracesFilter(user_id="user-1", tags=["vip"])).total == 1
    trace = sql_store.get_trace(root.trace_id)
    by_name = {s.name: s for s in trace.spans}
    assert set(by_name) == {"support-agent", "plan", "ChatCompletion", "get_weather"}
    agent_row, chain, llm, tool_row = (by_name[n] for n in (
        "support-agent", "plan", "ChatCompletion", "get_weather"))
    assert agent_row.input == "What's the weather in Paris?"
    assert agent_row.output == "It is 21°C in Paris."
    assert (chain.span_type, chain.parent_span_id) == ("workflow_step", agent_row.span_id)
    assert (chain.entity_type, chain.entity_name) == ("workflow_step", "plan")
    assert (llm.span_type, llm.parent_span_id) == ("model_generation", chain.span_id)
    assert llm.attributes["usage"]["inputTokens"] == 50
    assert (tool_row.span_type, tool_row.parent_span_id) == ("tool_call", chain.span_id)
    assert (tool_row.entity_type, tool_row.entity_id) == ("tool", "get_weather")
    assert tool_row.input == {"city": "Paris"} and tool_row.output == {"temp": 21}
    assert tool_row.attributes["toolDescription"] == "Current weather"
    assert tool_row.attributes["success"] is True
    for span in trace.spans:
        assert span.session_id == "sess-1" and span.user_id == "user-1"
    assert len(memory.get_finished_spans()) == 4


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
def test_attribute_values_of_every_otel_type(sql_store):
    provider, processor, _ = _provider(sql_store)
    tracer = provider.get_tracer("types")
    values: dict[str, Any] = {
              "s": "text\x00nul", "b": True, "i": -(2**63), "f": 1.25, "nan": math.nan,
              "inf": math.inf, "bytes": b"\x00\xff\x10", "strs": ("a", "b"),
              "bools": (True, False), "ints": (1, 2, 3), "floats": (0.5, -math.inf),
              "empty": (), "map": {"k": "v", "n": {"deep": 1}}}
    with tracer.start_as_current_span("types", attributes=values) as span:
        ctx = span.get_span_context()
    provider.shutdown()
    row = sql_store.get_span(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    a = row.attributes
    assert a["s"] == "text\ufffdnul"  # payload rule: NUL → U+FFFD
    assert (a["b"], a["i"], a["f"]) == (True, -(2**63), 1.25)
    assert (a["nan"], a["inf"]) == ("NaN", "Infinity")
    assert a["bytes"] == "<bytes:3>"
    assert (a["strs"], a["bools"], a["ints"]) == (["a", "b"], [True, False], [1, 2, 3])
    assert a["floats"] == [0.5, "-Infinity"] and a["empty"] == []
    assert a["map"] == {"k": "v", "n": {"deep": 1}}
    assert row.span_type == "generic"


def _readable(trace_id: int, span_id: int, name: str = "bad") -> ReadableSpan:
    ctx = SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False,
                      trace_flags=TraceFlags(1))
    return ReadableSpan(name=name, context=ctx, resource=Resource.create(RESOURCE),
                        attributes={"gen_ai.operation.name": "chat"},
                        start_time=1_700_000_000_000_000_000, end_time=1_700_000_001_000_000_000)


def test_invalid_ids_are_skipped_and_counted():
    store = InMemoryStore()
    drops: list[tuple[str, int]] = []
    processor = MastraSpanProcessor(store=store, on_drop=lambda r, n: drops.append((r, n)))
    processor.on_end(_readable(0, 0x1234))
    processor.on_end(_readable(0xABC, 0))
    processor.on_end(_readable(2**130, 1))
    processor.on_end(_readable(0xABC, 0x1234, name="good"))
    processor.shutdown()
    assert processor.stats.skipped == {"invalid-span": 3}
    assert processor.exporter.drops.snapshot() == {"invalid-span": 3}
    assert drops == [("invalid-span", 1)] * 3
    [good] = store.list_traces().spans
    assert (good.name, good.trace_id, good.span_id) == ("good", f"{0xABC:032x}",
                                                        f"{0x1234:016x}")
    assert good.span_type == "model_generation"


def test_span_output_processors_run_on_the_worker():
    store = InMemoryStore()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    processor = MastraSpanProcessor(store=store, span_output_processors=[SensitiveDataFilter()])
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span(
            "call", attributes={"api_key": "sk-secret", "city": "Paris"}):
        pass
    provider.shutdown()
    [row] = store.list_traces().spans
    assert row.attributes["api_key"] == "[REDACTED]" and row.attributes["city"] == "Paris"


def test_insert_only_writes_finished_spans_only():
    store = InMemoryStore()
    provider = TracerProvider()
    processor = MastraSpanProcessor(store=store, strategy="insert-only")
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("outer"):
        processor.force_flush()
        assert store.list_traces().total == 0  # nothing running is written
    provider.shutdown()
    assert processor.stats.started == 0
    assert [s.status for s in store.list_traces().spans] == ["success"]


def test_realtime_running_span_then_end_is_one_row():
    store = InMemoryStore()
    provider = TracerProvider()
    processor = MastraSpanProcessor(store=store, service_name="fallback-svc")
    provider.add_span_processor(processor)
    span = provider.get_tracer("t").start_span("long", attributes={"gen_ai.request.model": "m"})
    processor.force_flush()
    [running] = store.list_traces().spans
    assert running.status == "running" and running.attributes["model"] == "m"
    assert running.service_name == "fallback-svc"  # the resource has unknown_service
    span.set_attribute("gen_ai.usage.output_tokens", 3)
    span.end()
    provider.shutdown()
    [done] = store.list_traces().spans
    assert done.status == "success" and done.attributes["usage"] == {"outputTokens": 3}
    assert done.attributes["otel"]["resourceServiceName"].startswith("unknown_service")


def test_remote_parent_becomes_a_root_by_default():
    store = InMemoryStore()
    provider = TracerProvider()
    provider.add_span_processor(MastraSpanProcessor(store=store))
    remote = SpanContext(trace_id=0xFEED, span_id=0xBEEF, is_remote=True,
                         trace_flags=TraceFlags(1))
    ctx = set_span_in_context(NonRecordingSpan(remote))
    with provider.get_tracer("t").start_as_current_span("server", context=ctx):
        pass
    provider.shutdown()
    [root] = store.list_traces().spans
    assert root.trace_id == f"{0xFEED:032x}" and root.parent_span_id is None
    assert root.attributes["otel"]["parentSpanId"] == f"{0xBEEF:016x}"


def test_after_shutdown_is_counted():
    store = InMemoryStore()
    provider = TracerProvider()
    processor = MastraSpanProcessor(store=store)
    provider.add_span_processor(processor)
    processor.shutdown()
    processor.on_end(_readable(0xABC, 0x1))
    assert processor.exporter.drops.snapshot() == {"after-shutdown": 1}
    provider.shutdown()


def test_span_exporter_variant_with_batch_span_processor():
    store = InMemoryStore()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    exporter = MastraSpanExporter(store, max_batch_wait_ms=10)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i in range(50):
        with tracer.start_as_current_span(f"op-{i}", attributes={"gen_ai.tool.name": "t"}):
            pass
    provider.shutdown()
    page = store.list_traces(TracesFilter(span_type="tool_call"), per_page=100)
    assert page.total == 50 and exporter.stats.ended == 50


def test_shared_exporter_is_flushed_not_shut_down():
    store = InMemoryStore()
    shared = DefaultExporter()
    shared.bind(store)
    processor = MastraSpanProcessor(exporter=shared)
    processor.on_end(_readable(0xABC, 0x2, name="one"))
    processor.shutdown()
    assert [s.name for s in store.list_traces().spans] == ["one"]
    assert not shared._worker.closed
    shared.shutdown()
    with pytest.raises(TypeError):
        MastraSpanProcessor(exporter=shared, max_batch_size=5)
    with pytest.raises(ValueError):
        MastraSpanProcessor()


def test_evaluation_scores_are_handed_to_the_exporter():
    recorder = RecordingExporter()
    processor = MastraSpanProcessor(exporter=recorder)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("judge") as span:
        span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "relevance",
                                                    "gen_ai.evaluation.score.value": 0.5})
    provider.shutdown()
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["TracingEvent", "ScoreEvent"]
    tracing, score = recorder.events
    assert isinstance(tracing, TracingEvent) and tracing.type is TracingEventType.SPAN_ENDED
    assert isinstance(score, ScoreEvent)
    assert (score.trace_id, score.span_id, score.scorer_id, score.score) == (
        tracing.span.trace_id, tracing.span.span_id, "relevance", 0.5)
    assert processor.stats.scores == 1


def test_derived_metrics_and_scores_reach_the_store():
    """Token/duration metrics derived from OTel GenAI usage, and a score from a
    gen_ai.evaluation.result event, are persisted beside the span (in-memory store)."""
    store = InMemoryStore()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    provider.add_span_processor(MastraSpanProcessor(store=store))
    with provider.get_tracer("t").start_as_current_span("chat gpt-4o", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30}) as span:
        span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "relevance",
                                                    "gen_ai.evaluation.score.value": 0.9})
        ctx = span.get_span_context()
    provider.shutdown()
    trace_id = f"{ctx.trace_id:032x}"
    metrics = {m.name: m for m in store.list_metrics(per_page=100).items}
    assert metrics["mastra_model_total_input_tokens"].value == 120
    assert metrics["mastra_model_total_output_tokens"].value == 30
    assert metrics["mastra_model_total_input_tokens"].trace_id == trace_id
    assert metrics["mastra_model_total_input_tokens"].provider == "openai"
    assert "mastra_model_duration_ms" in metrics
    [score] = store.list_scores().items
    assert (score.scorer_id, score.score, score.trace_id) == ("relevance", 0.9, trace_id)
    assert score.service_name == "otel-app"
