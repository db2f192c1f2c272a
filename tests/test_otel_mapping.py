"""OTel → Mastra conversion: the mapping table, both GenAI generations, OTLP protobuf/JSON.

Spans are made by the real OpenTelemetry SDK (an in-memory exporter collects them) and
encoded to OTLP by the real ``opentelemetry-exporter-otlp-proto-common`` encoder, so the
three inputs (SDK ``ReadableSpan``, OTLP protobuf, OTLP/JSON) are the same spans.
"""

from __future__ import annotations

import base64
import copy
import json
import math

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.proto")

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import Status, StatusCode

from mastra_storage.model.jsonsafe import to_jsonable
from mastra_storage.otel import (
    ConversionStats,
    OtelSpan,
    classify,
    convert_resource_spans,
    from_readable,
    to_record,
)
from mastra_storage.otel.data import OtelEvent, OtelLink

RESOURCE = {"service.name": "support-bot", "deployment.environment.name": "staging",
            "host.name": "box-1"}


@pytest.fixture
def otel():
    """A real SDK tracer whose finished spans are collected in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider.get_tracer("test.instrumentation", "1.2.3"), memory
    provider.shutdown()


def convert(span):
    return to_record(from_readable(span))


def by_name(memory):
    return {s.name: s for s in memory.get_finished_spans()}


def _hex_ids(node):
    """protobuf's generic JSON writes ids in base64; OTLP/JSON writes them in hex."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                out[k] = base64.b64decode(v).hex()
            else:
                out[k] = _hex_ids(v)
        return out
    if isinstance(node, list):
        return [_hex_ids(x) for x in node]
    return node


# ---------------------------------------------------------------------------- model spans
CURRENT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.response.id": "msg_1",
    "gen_ai.request.temperature": 0.3,
    "gen_ai.request.max_tokens": 200,
    "gen_ai.request.top_p": 0.9,
    "gen_ai.request.stop_sequences": ("END",),
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 30,
    "gen_ai.usage.cache_read.input_tokens": 100,
    "gen_ai.usage.cache_creation.input_tokens": 7,
    "gen_ai.usage.reasoning.output_tokens": 11,
    "gen_ai.conversation.id": "conv-9",
    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
    "gen_ai.input.messages": json.dumps([
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1",
                                    "response": "sunny"}]},
    ]),
    "gen_ai.output.messages": json.dumps([
        {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}],
         "finish_reason": "stop"},
    ]),
    "server.address": "api.anthropic.com",
    "server.port": 443,
    "http.custom": "kept",
}

EXPECTED_INPUT = {"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "c1",
                                       "toolName": "weather", "input": {"city": "Paris"}}]},
    {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "c1",
                                  "output": "sunny"}]},
]}


def test_current_genai_model_span_field_by_field(otel):
    tracer, memory = otel
    with tracer.start_as_current_span("chat claude", attributes=CURRENT):
        pass
    rec, scores = convert(memory.get_finished_spans()[0])
    assert scores == []
    assert rec.span_type == "model_generation"
    assert len(rec.trace_id) == 32 and len(rec.span_id) == 16
    assert rec.parent_span_id is None and rec.ended_at >= rec.started_at
    assert rec.service_name == "support-bot" and rec.environment == "staging"
    assert rec.thread_id == "conv-9"
    a = rec.attributes
    assert a["model"] == "claude-sonnet-4-5"
    assert a["provider"] == "anthropic"
    assert a["responseModel"] == "claude-sonnet-4-5-20250929"
    assert a["responseId"] == "msg_1"
    assert a["usage"] == {"inputTokens": 120, "outputTokens": 30,
                          "inputDetails": {"cacheRead": 100, "cacheWrite": 7},
                          "outputDetails": {"reasoning": 11}}
    assert a["parameters"] == {"temperature": 0.3, "maxOutputTokens": 200, "topP": 0.9,
                               "stopSequences": ["END"]}
    assert a["finishReason"] == "stop"
    assert a["serverAddress"] == "api.anthropic.com" and a["serverPort"] == 443
    assert a["http.custom"] == "kept"  # unmapped: kept under its own key
    assert a["gen_ai.operation.name"] == "chat"
    assert a["otel"]["resource"]["host.name"] == "box-1"
    assert a["otel"]["scope"] == {"name": "test.instrumentation", "version": "1.2.3"}
    assert rec.input == EXPECTED_INPUT
    assert rec.output == {"text": "Sunny."}
    for key in ("gen_ai.usage.input_tokens", "gen_ai.input.messages", "gen_ai.request.model",
                "gen_ai.conversation.id", "gen_ai.provider.name"):
        assert key not in a


def test_genai_1_36_names_give_the_same_record(otel):
    """gen_ai.system, prompt/completion_tokens and the per-message events (1.36 and
    older) map to what the current names map to."""
    tracer, memory = otel
    old = {k: v for k, v in CURRENT.items() if k not in (
        "gen_ai.provider.name", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
        "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.reasoning.output_tokens")}
    old.update({"gen_ai.system": "anthropic", "gen_ai.usage.prompt_tokens": 120,
                "gen_ai.usage.completion_tokens": 30})
    with tracer.start_as_current_span("chat claude", attributes=CURRENT):
        pass
    with tracer.start_as_current_span("chat claude old", attributes=old) as span:
        span.add_event("gen_ai.system.message", {"content": "Be brief."})
        span.add_event("gen_ai.user.message", {"content": "Weather in Paris?"})
        span.add_event("gen_ai.assistant.message", {"tool_calls": json.dumps(
            [{"id": "c1", "type": "function",
              "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}])})
        span.add_event("gen_ai.tool.message", {"content": "sunny", "id": "c1"})
        span.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                         "message": json.dumps({"role": "assistant",
                                                                "content": "Sunny."})})
    spans = by_name(memory)
    new, old_rec = convert(spans["chat claude"]).record, convert(spans["chat claude old"]).record
    assert old_rec.input == new.input == EXPECTED_INPUT
    assert old_rec.output == new.output
    for key in ("model", "provider", "responseModel", "parameters", "finishReason"):
        assert old_rec.attributes[key] == new.attributes[key], key
    assert old_rec.attributes["usage"] == {"inputTokens": 120, "outputTokens": 30}
    assert "events" not in old_rec.attributes["otel"]  # every message event was used


def test_openinference_llm_attributes():
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai", "llm.system": "openai",
        "llm.model_name": "gpt-4o-2024-08-06",
        "llm.invocation_parameters": json.dumps({"model": "gpt-4o", "max_tokens": 50,
                                                 "temperature": 0.2, "logprobs": True}),
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "be nice",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments":
            '{"city": "Paris"}',
        "llm.token_count.prompt": 12, "llm.token_count.completion": 3,
        "llm.token_count.total": 15, "llm.token_count.prompt_details.cache_read": 4,
        "llm.token_count.prompt_details.cache_write": 2,
        "llm.token_count.completion_details.reasoning": 1,
        "llm.tools.0.tool.json_schema": json.dumps({"type": "function", "function": {
            "name": "get_weather", "description": "d", "parameters": {"type": "object"}}}),
        "llm.cost.total": 0.0012,
        "input.value": '{"model": "gpt-4o"}', "input.mime_type": "application/json",
        "session.id": "s-1", "user.id": "u-1", "tag.tags": ("a", "b"),
        "metadata": '{"tier": "pro"}',
    }
    rec = to_record(OtelSpan(trace_id="1" * 32, span_id="2" * 16, name="ChatCompletion",
                             start_ns=1_700_000_000_123_456_789, end_ns=1_700_000_001_000_000_000,
                             attributes=attrs)).record
    assert rec.span_type == "model_generation"
    assert rec.started_at.isoformat() == "2023-11-14T22:13:20.123000+00:00"
    a = rec.attributes
    assert a["model"] == "gpt-4o" and a["responseModel"] == "gpt-4o-2024-08-06"
    assert a["provider"] == "openai" and "llm.system" not in a  # same value: both consumed
    assert a["usage"] == {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15,
                          "inputDetails": {"cacheRead": 4, "cacheWrite": 2},
                          "outputDetails": {"reasoning": 1}}
    assert a["parameters"] == {"maxOutputTokens": 50, "temperature": 0.2, "logprobs": True}
    assert a["tools"] == [{"type": "function", "name": "get_weather", "description": "d",
                           "parameters": {"type": "object"}}]
    assert a["costContext"] == {"estimatedCost": 0.0012, "costUnit": "USD"}
    assert rec.input == {"messages": [{"role": "system", "content": "be nice"},
                                      {"role": "user", "content": "hi"}]}
    assert rec.output == {"toolCalls": [{"type": "tool-call", "toolCallId": "call_1",
                                         "toolName": "get_weather",
                                         "input": {"city": "Paris"}}]}
    assert (rec.session_id, rec.user_id, rec.tags, rec.metadata) == (
        "s-1", "u-1", ["a", "b"], {"tier": "pro"})
    assert not any(k.startswith(("llm.", "input.")) for k in a)


def test_openllmetry_flattened_attributes():
    attrs = {
        "llm.request.type": "chat", "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024",
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "hello",
        "gen_ai.prompt.name": "greeting",  # a prompt-template name, not a message
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "hi!",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": 5, "gen_ai.usage.completion_tokens": 2,
        "gen_ai.usage.cache_read_input_tokens": 1, "llm.usage.total_tokens": 7,
        "llm.is_streaming": False,
        "traceloop.association.properties.session_id": "sess",
        "traceloop.association.properties.plan": "gold",
    }
    rec = to_record(OtelSpan(trace_id="a" * 32, span_id="b" * 16, name="openai.chat",
                             start_ns=1, end_ns=2, attributes=attrs)).record
    assert rec.span_type == "model_generation"
    assert rec.input == {"messages": [{"role": "user", "content": "hello"}]}
    assert rec.output == {"text": "hi!"}
    a = rec.attributes
    assert a["finishReason"] == "stop" and a["streaming"] is False
    assert a["usage"] == {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7,
                          "inputDetails": {"cacheRead": 1}}
    assert a["gen_ai.prompt.name"] == "greeting"
    assert rec.session_id == "sess" and rec.metadata == {"plan": "gold"}


# ---------------------------------------------------------------------------- types
@pytest.mark.parametrize(("attrs", "is_root", "expected"), [
    ({"mastra.span.type": "workflow_loop", "openinference.span.kind": "LLM"}, True,
     "workflow_loop"),
    ({"mastra.span.type": "not-a-type", "openinference.span.kind": "TOOL"}, True, "tool_call"),
    ({"openinference.span.kind": "LLM", "gen_ai.operation.name": "embeddings"}, True,
     "model_generation"),
    ({"openinference.span.kind": "unknown", "gen_ai.operation.name": "embeddings"}, True,
     "rag_embedding"),
    ({"openinference.span.kind": "EMBEDDING"}, False, "rag_embedding"),
    ({"openinference.span.kind": "AGENT"}, True, "agent_run"),
    ({"openinference.span.kind": "CHAIN"}, True, "workflow_run"),
    ({"openinference.span.kind": "CHAIN"}, False, "workflow_step"),
    ({"openinference.span.kind": "RETRIEVER"}, False, "rag_vector_operation"),
    ({"openinference.span.kind": "RERANKER"}, False, "rag_action"),
    ({"openinference.span.kind": "GUARDRAIL"}, False, "processor_run"),
    ({"openinference.span.kind": "EVALUATOR"}, False, "scorer_run"),
    ({"openinference.span.kind": "TOOL", "mcp.method.name": "tools/call"}, False,
     "mcp_tool_call"),
    ({"traceloop.span.kind": "workflow"}, True, "workflow_run"),
    ({"traceloop.span.kind": "task"}, False, "workflow_step"),
    ({"traceloop.span.kind": "agent"}, False, "agent_run"),
    ({"gen_ai.operation.name": "text_completion"}, False, "model_generation"),
    ({"gen_ai.operation.name": "generate_content"}, False, "model_generation"),
    ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}, False, "tool_call"),
    ({"gen_ai.operation.name": "execute_tool", "mcp.session.id": "x"}, False, "mcp_tool_call"),
    ({"gen_ai.operation.name": "invoke_agent"}, True, "agent_run"),
    ({"gen_ai.operation.name": "invoke_workflow"}, True, "workflow_run"),
    ({"gen_ai.operation.name": "retrieval"}, False, "rag_vector_operation"),
    ({"llm.request.type": "embedding"}, False, "rag_embedding"),
    ({"gen_ai.tool.name": "search", "gen_ai.request.model": "m"}, False, "tool_call"),
    ({"gen_ai.request.model": "m"}, False, "model_generation"),
    ({"llm.model_name": "m"}, False, "model_generation"),
    ({"http.method": "GET"}, True, "generic"),
    ({}, False, "generic"),
])
def test_type_precedence(attrs, is_root, expected):
    assert classify(attrs, is_root) == expected


def _span(attrs, **kw):
    base = {"trace_id": "c" * 32, "span_id": "d" * 16, "name": kw.pop("name", "op"),
            "start_ns": 10**18, "end_ns": 10**18 + 5 * 10**6}
    base.update(kw)
    return OtelSpan(attributes=attrs, **base)


def test_tool_span_arguments_result_and_entity():
    rec = to_record(_span({"gen_ai.operation.name": "execute_tool",
                           "gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_1",
                           "gen_ai.tool.type": "function", "gen_ai.tool.description": "d",
                           "gen_ai.tool.call.arguments": '{"city": "Paris"}',
                           "gen_ai.tool.call.result": '{"temp": 21}'},
                          name="execute_tool get_weather", parent_span_id="e" * 16)).record
    assert rec.span_type == "tool_call"
    assert (rec.entity_type, rec.entity_id, rec.entity_name) == ("tool", "get_weather",
                                                                "get_weather")
    assert rec.root_entity_type is None  # not a root
    assert rec.input == {"city": "Paris"} and rec.output == {"temp": 21}
    assert rec.attributes["toolCallId"] == "call_1"
    assert rec.attributes["toolType"] == "function"
    assert rec.attributes["toolDescription"] == "d"
    assert rec.attributes["success"] is True


def test_mcp_tool_span():
    rec = to_record(_span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "q",
                           "mcp.method.name": "tools/call", "mcp.server.name": "crm",
                           "mcp.session.id": "ms-1"})).record
    assert rec.span_type == "mcp_tool_call"
    assert rec.attributes["mcpServer"] == "crm"
    assert rec.attributes["mcp.method.name"] == "tools/call"  # unmapped, kept


def test_agent_span_entity_thread_and_messages():
    rec = to_record(_span({
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Support",
        "gen_ai.agent.id": "agent-7", "gen_ai.conversation.id": "thread-3",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "refund?"}]}]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Done."}]}]),
        "gen_ai.system_instructions": "Help customers.",
    }, name="invoke_agent Support")).record
    assert rec.span_type == "agent_run"
    assert (rec.entity_type, rec.entity_id, rec.entity_name) == ("agent", "agent-7", "Support")
    assert (rec.root_entity_type, rec.root_entity_id, rec.root_entity_name) == (
        "agent", "agent-7", "Support")
    assert rec.thread_id == "thread-3"
    assert rec.attributes["conversationId"] == "thread-3"
    assert rec.attributes["instructions"] == "Help customers."
    assert rec.attributes["gen_ai.request.model"] == "gpt-4o"  # no usage/model on agents
    assert rec.input == {"messages": [{"role": "user", "content": "refund?"}]}
    assert rec.output == {"text": "Done."}


def test_workflow_chain_retriever_reranker_guardrail_evaluator_embedding():
    root = to_record(_span({"openinference.span.kind": "CHAIN",
                            "input.value": '{"q": 1}', "input.mime_type": "application/json",
                            "output.value": "plain text", "output.mime_type": "text/plain"},
                           name="RAG pipeline")).record
    assert root.span_type == "workflow_run"
    assert (root.entity_type, root.entity_name) == ("workflow_run", "RAG pipeline")
    assert root.input == {"q": 1} and root.output == "plain text"
    step = to_record(_span({"traceloop.span.kind": "task", "traceloop.entity.name": "clean",
                            "traceloop.entity.input": '{"args": [1], "kwargs": {}}'},
                           parent_span_id="1" * 16)).record
    assert step.span_type == "workflow_step" and step.entity_id == "clean"
    assert step.input == {"args": [1], "kwargs": {}}
    retr = to_record(_span({"openinference.span.kind": "RETRIEVER", "input.value": "where?",
                            "retrieval.documents.0.document.id": "d1",
                            "retrieval.documents.0.document.content": "text",
                            "retrieval.documents.0.document.score": 0.8,
                            "retrieval.documents.0.document.metadata": '{"page": 2}'},
                           parent_span_id="1" * 16)).record
    assert retr.span_type == "rag_vector_operation"
    assert retr.attributes["operation"] == "query" and retr.input == "where?"
    assert retr.output == [{"id": "d1", "content": "text", "score": 0.8,
                            "metadata": {"page": 2}}]
    rr = to_record(_span({"openinference.span.kind": "RERANKER", "reranker.query": "q",
                          "reranker.top_k": 1, "reranker.model_name": "rerank-3",
                          "reranker.input_documents.0.document.id": "a",
                          "reranker.input_documents.1.document.id": "b",
                          "reranker.output_documents.0.document.id": "b"})).record
    assert rr.span_type == "rag_action"
    assert rr.attributes["action"] == "rerank" and rr.attributes["topN"] == 1
    assert rr.input == {"query": "q", "documents": [{"id": "a"}, {"id": "b"}]}
    assert rr.output == [{"id": "b"}]
    guard = to_record(_span({"openinference.span.kind": "GUARDRAIL"})).record
    assert guard.span_type == "processor_run"
    ev = to_record(_span({"openinference.span.kind": "EVALUATOR"}, name="relevance")).record
    assert (ev.span_type, ev.entity_type, ev.entity_id) == ("scorer_run", "scorer", "relevance")
    emb = to_record(_span({"openinference.span.kind": "EMBEDDING",
                           "embedding.model_name": "text-embedding-3-small",
                           "embedding.embeddings.0.embedding.text": "hello",
                           "embedding.embeddings.0.embedding.vector": (0.1, 0.2),
                           "llm.token_count.prompt": 2})).record
    assert emb.span_type == "rag_embedding"
    assert emb.attributes["model"] == "text-embedding-3-small"
    assert emb.attributes["usage"] == {"inputTokens": 2}
    assert emb.input == ["hello"] and emb.output == [[0.1, 0.2]]
    genai_emb = to_record(_span({"gen_ai.operation.name": "embeddings",
                                 "gen_ai.request.model": "e5", "gen_ai.provider.name": "x",
                                 "gen_ai.embeddings.dimension.count": 768,
                                 "gen_ai.usage.input_tokens": 9})).record
    assert genai_emb.attributes["dimensions"] == 768
    assert genai_emb.attributes["usage"] == {"inputTokens": 9}


def test_explicit_mastra_attributes_win():
    rec = to_record(_span({"mastra.span.type": "agent_run", "gen_ai.agent.name": "A",
                           "mastra.entity.id": "agent-x", "mastra.threadId": "t-1",
                           "mastra.runId": "r-1", "mastra.resourceId": "res",
                           "mastra.tags": ("x",), "mastra.metadata.plan": "gold",
                           "mastra.custom": "kept"})).record
    assert rec.span_type == "agent_run"
    assert (rec.entity_id, rec.entity_name, rec.thread_id, rec.run_id, rec.resource_id) == (
        "agent-x", "A", "t-1", "r-1", "res")
    assert rec.tags == ["x"] and rec.metadata == {"plan": "gold"}
    assert rec.attributes["mastra.custom"] == "kept"
    assert "mastra.span.type" not in rec.attributes


# ---------------------------------------------------------------------------- errors, events
def test_error_from_exception_event_and_status(otel):
    tracer, memory = otel
    try:
        with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat"}):
            raise TimeoutError("model timed out")
    except TimeoutError:
        pass
    with tracer.start_as_current_span("status-only", attributes={"error.type": "rate_limit"}) \
            as span:
        span.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
    with tracer.start_as_current_span("noted") as span:
        span.add_event("cache.miss", {"key": "k"})
    spans = by_name(memory)
    err = convert(spans["chat"]).record.error
    assert err["message"] == "model timed out" and err["name"] == "TimeoutError"
    assert "Traceback" in err["stack"] and 'raise TimeoutError("model timed out")' in err["stack"]
    assert err["details"] == {"exception.escaped": "False",
                              "statusMessage": "TimeoutError: model timed out"}
    rec = convert(spans["status-only"]).record
    assert rec.error == {"message": "429 Too Many Requests", "name": "rate_limit"}
    assert rec.status == "error" and "error.type" not in rec.attributes
    noted = convert(spans["noted"]).record
    assert noted.error is None
    [event] = noted.attributes["otel"]["events"]
    assert event["name"] == "cache.miss" and event["attributes"] == {"key": "k"}


def test_evaluation_events_become_scores(otel):
    tracer, memory = otel
    with tracer.start_as_current_span("chat", attributes={
            "gen_ai.operation.name": "chat", "session.id": "s-9"}) as span:
        span.add_event("gen_ai.evaluation.result", {
            "gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.82,
            "gen_ai.evaluation.score.label": "relevant",
            "gen_ai.evaluation.explanation": "on topic", "gen_ai.response.id": "r1"})
        span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "tone",
                                                    "gen_ai.evaluation.score.label": "ok"})
    rec, scores = convert(memory.get_finished_spans()[0])
    [score] = scores  # the label-only result has no number: it stays an event only
    assert (score.trace_id, score.span_id) == (rec.trace_id, rec.span_id)
    assert (score.scorer_id, score.score, score.reason) == ("relevance", 0.82, "on topic")
    assert score.metadata == {"label": "relevant", "gen_ai.response.id": "r1"}
    assert score.context["session_id"] == "s-9"
    assert score.context["service_name"] == "support-bot"
    # kept on the span as well: nothing is lost
    assert [e["name"] for e in rec.attributes["otel"]["events"]] == [
        "gen_ai.evaluation.result", "gen_ai.evaluation.result"]


def test_links_and_remote_parent():
    span = _span({}, parent_span_id="9" * 16, parent_remote=True)
    span.links = [OtelLink("7" * 32, "8" * 16, {"reason": "retry"})]
    kept = to_record(span).record
    assert kept.parent_span_id == "9" * 16
    assert kept.links == [{"traceId": "7" * 32, "spanId": "8" * 16,
                           "attributes": {"reason": "retry"}}]
    root = to_record(span, remote_parent="root").record
    assert root.parent_span_id is None
    assert root.attributes["otel"]["parentSpanId"] == "9" * 16
    assert root.attributes["otel"]["remoteParent"] is True


# ---------------------------------------------------------------------------- OTLP
def _sample_spans(tracer):
    with tracer.start_as_current_span("invoke_agent Support", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Support"}):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2,
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
                "tags": ("a", "b"), "flags": (True, False), "ints": (1, 2),
                "floats": (1.5, math.inf), "blob": b"\x00\x01\x02", "nan": math.nan,
                "big": 2**62, "nested": {"k": "v", "n": 1}}) as span:
            span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "r",
                                                        "gen_ai.evaluation.score.value": 1})
        with tracer.start_as_current_span("execute_tool lookup", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}) as tool:
            tool.set_status(Status(StatusCode.ERROR, "not found"))


def test_otlp_protobuf_and_json_give_the_sdk_records(otel):
    tracer, memory = otel
    _sample_spans(tracer)
    finished = memory.get_finished_spans()
    direct = {c.record.span_id: c for c in (convert(s) for s in finished)}
    request = encode_spans(finished)  # the real OTLP protobuf encoder
    for form in (request, request.resource_spans, request.resource_spans[0],
                 MessageToDict(request), _hex_ids(MessageToDict(request)),
                 json.loads(json.dumps(_hex_ids(MessageToDict(request, True))))):
        stats = ConversionStats()
        got = {c.record.span_id: c for c in convert_resource_spans(form, stats=stats)}
        assert stats.converted == 3 and not stats.skipped
        assert set(got) == set(direct)
        for span_id, conv in got.items():
            want = direct[span_id]
            # (compared as stored: NaN != NaN as a float)
            assert to_jsonable(conv.record.to_dict()) == to_jsonable(want.record.to_dict()), \
                conv.record.name
            assert [(s.scorer_id, s.score) for s in conv.scores] == \
                [(s.scorer_id, s.score) for s in want.scores]
    chat = next(c.record for c in direct.values() if c.record.name == "chat gpt-4o")
    a = chat.attributes
    assert a["tags"] == ["a", "b"] and a["flags"] == [True, False] and a["ints"] == [1, 2]
    assert a["floats"] == [1.5, math.inf] and a["blob"] == b"\x00\x01\x02"
    assert math.isnan(a["nan"]) and a["big"] == 2**62 and a["nested"] == {"k": "v", "n": 1}


def test_otlp_invalid_ids_are_skipped_and_counted(otel):
    tracer, memory = otel
    _sample_spans(tracer)
    data = _hex_ids(MessageToDict(encode_spans(memory.get_finished_spans())))
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    good = copy.deepcopy(spans[0])
    bad_trace, bad_span, bad_parent, zero_span, malformed = (copy.deepcopy(good)
                                                             for _ in range(5))
    bad_trace["traceId"] = "0" * 32
    bad_span["spanId"] = "xyz"
    bad_parent["parentSpanId"] = "1234"
    zero_span["spanId"] = ""
    malformed["startTimeUnixNano"] = "yesterday"
    spans[:] = [good, bad_trace, bad_span, bad_parent, zero_span, malformed]
    stats = ConversionStats()
    out = list(convert_resource_spans(data, stats=stats))
    assert [c.record.span_id for c in out] == [good["spanId"]]
    assert stats.converted == 1
    assert dict(stats.skipped) == {"invalid-trace-id": 1, "invalid-span-id": 2,
                                   "invalid-parent-span-id": 1, "malformed-span": 1}


def test_otlp_json_enum_names_and_snake_case():
    data = {"resource_spans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scope_spans": [{"scope": {"name": "s"}, "spans": [{
            "trace_id": "ab" * 16, "span_id": "cd" * 8, "name": "x",
            "kind": "SPAN_KIND_SERVER", "start_time_unix_nano": 1_000_000,
            "end_time_unix_nano": "3000000",
            "attributes": [{"key": "n", "value": {"intValue": "42"}},
                           {"key": "d", "value": {"doubleValue": "NaN"}},
                           {"key": "b", "value": {"bytesValue": "AAE="}},
                           {"key": "kv", "value": {"kvlistValue": {"values": [
                               {"key": "a", "value": {"arrayValue": {"values": [
                                   {"boolValue": True}]}}}]}}}],
            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}}]}]}]}
    [(rec, _)] = list(convert_resource_spans(data))
    assert rec.service_name == "svc" and rec.error == {"message": "boom"}
    assert rec.attributes["n"] == 42 and math.isnan(rec.attributes["d"])
    assert rec.attributes["b"] == b"\x00\x01" and rec.attributes["kv"] == {"a": [True]}
    assert rec.attributes["otel"]["kind"] == "SERVER"
    assert rec.ended_at is not None
    assert rec.ended_at.isoformat() == "1970-01-01T00:00:00.003000+00:00"


def test_sdk_running_snapshot(otel):
    tracer, _ = otel
    span = tracer.start_span("chat", attributes={"gen_ai.operation.name": "chat",
                                                 "gen_ai.request.model": "m"})
    snap = from_readable(span, started_only=True)
    span.set_attribute("gen_ai.usage.input_tokens", 5)  # after the snapshot
    rec = to_record(snap).record
    span.end()
    assert rec.ended_at is None and rec.status == "running"
    assert rec.attributes["model"] == "m" and "usage" not in rec.attributes


def test_event_with_attributes_only_uses_otel_event_type():
    rec = to_record(_span({}, events=[OtelEvent("x", 10**18, {})])).record
    assert rec.attributes["otel"]["events"][0]["name"] == "x"


def test_derived_token_metrics_work_for_otel_spans(otel):
    """Mastra's token metrics read ``attributes.usage`` of model spans: OTel GenAI usage
    lands there, so the derived metrics (and cost) work for OTel spans too."""
    derived = pytest.importorskip("mastra_storage.exporters.derived_metrics")
    tracer, memory = otel
    with tracer.start_as_current_span("chat claude", attributes=CURRENT):
        pass
    rec = convert(memory.get_finished_spans()[0]).record
    metrics = {m.name: m for m in derived.derive_metrics(rec, None)}
    assert {name: metrics[name].value for name in (
        "mastra_model_total_input_tokens", "mastra_model_total_output_tokens",
        "mastra_model_input_cache_read_tokens", "mastra_model_input_cache_write_tokens",
        "mastra_model_output_reasoning_tokens")} == {
        "mastra_model_total_input_tokens": 120, "mastra_model_total_output_tokens": 30,
        "mastra_model_input_cache_read_tokens": 100, "mastra_model_input_cache_write_tokens": 7,
        "mastra_model_output_reasoning_tokens": 11}
    total = metrics["mastra_model_total_input_tokens"]
    assert (total.provider, total.model) == ("anthropic", "claude-sonnet-4-5-20250929")
    assert "mastra_model_duration_ms" in metrics
