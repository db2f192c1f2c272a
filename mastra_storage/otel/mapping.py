"""OpenTelemetry span → Mastra span record (and scores). The table is in ``docs/otel.md``.

Rules that hold for every span:

* ids keep OTel's hex form (32/16 chars); an invalid id is refused by the callers
  (:func:`check_ids`), never guessed;
* a span's type is decided by the first source that names one: an explicit
  ``mastra.span.type`` > ``openinference.span.kind`` (or OpenLLMetry's
  ``traceloop.span.kind``) > ``gen_ai.operation.name`` (or ``llm.request.type``) > tool
  attributes > a model name > ``generic``;
* every attribute that is mapped to a column or a Mastra attribute is taken out; every
  other one stays under ``attributes`` with its OTel key (values as plain JSON values);
  what only OTel has (kind, scope, status, events not mapped, the resource's
  other attributes, a dropped remote parent) is kept under ``attributes["otel"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..model.spans import COLUMNS, CORRELATION_ATTRS, SpanRecord
from ..model.time import from_epoch_ms
from ..tracing.events import ScoreEvent
from ..tracing.span_types import SpanType
from .data import OtelSpan, plain
from .messages import (
    collect_indexed,
    completion_output,
    genai_messages,
    legacy_event_messages,
    loads_value,
    openinference_messages,
    openllmetry_messages,
    parse_json,
    system_instructions,
)


class Converted(NamedTuple):
    """One converted span: its record and the scores its evaluation events carried."""

    record: SpanRecord
    scores: list[ScoreEvent]


class InvalidSpan(ValueError):
    """A span that can't become a record (its ``reason`` is what the skip is counted as)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


_HEX = frozenset("0123456789abcdef")


def _valid_hex(value: Any, length: int) -> bool:
    return (isinstance(value, str) and len(value) == length and set(value) <= _HEX
            and value != "0" * length)


def check_ids(span: OtelSpan) -> None:
    """Raise :class:`InvalidSpan` unless the trace, span and parent ids are W3C ids."""
    if not _valid_hex(span.trace_id, 32):
        raise InvalidSpan("invalid-trace-id", repr(span.trace_id))
    if not _valid_hex(span.span_id, 16):
        raise InvalidSpan("invalid-span-id", repr(span.span_id))
    parent = span.parent_span_id
    if parent is not None and parent != "" and not _valid_hex(parent, 16) \
            and parent != "0" * 16:
        raise InvalidSpan("invalid-parent-span-id", repr(parent))


# ---------------------------------------------------------------------------- type
SPAN_TYPE_VALUES = frozenset(t.value for t in SpanType) | {
    "mcp_server_request", "classifier_evaluation"}

_TOOL = "tool"  # tool_call, or mcp_tool_call when mcp.* attributes are present
_CHAIN = "chain"  # workflow_run at a root, workflow_step below one

OPENINFERENCE_KINDS: dict[str, str] = {
    "LLM": SpanType.MODEL_GENERATION.value,
    "EMBEDDING": SpanType.RAG_EMBEDDING.value,
    "TOOL": _TOOL,
    "AGENT": SpanType.AGENT_RUN.value,
    "CHAIN": _CHAIN,
    "RETRIEVER": SpanType.RAG_VECTOR_OPERATION.value,
    "RERANKER": SpanType.RAG_ACTION.value,
    "GUARDRAIL": SpanType.PROCESSOR_RUN.value,
    "EVALUATOR": SpanType.SCORER_RUN.value,
}
TRACELOOP_KINDS: dict[str, str] = {
    "workflow": _CHAIN,
    "task": _CHAIN,
    "agent": SpanType.AGENT_RUN.value,
    "tool": _TOOL,
}
GENAI_OPERATIONS: dict[str, str] = {
    "chat": SpanType.MODEL_GENERATION.value,
    "text_completion": SpanType.MODEL_GENERATION.value,
    "generate_content": SpanType.MODEL_GENERATION.value,
    "embeddings": SpanType.RAG_EMBEDDING.value,
    "execute_tool": _TOOL,
    "invoke_agent": SpanType.AGENT_RUN.value,
    "create_agent": SpanType.GENERIC.value,
    "retrieval": SpanType.RAG_VECTOR_OPERATION.value,
    "invoke_workflow": _CHAIN,
}
LLM_REQUEST_TYPES: dict[str, str] = {  # OpenLLMetry's llm.request.type
    "chat": SpanType.MODEL_GENERATION.value,
    "completion": SpanType.MODEL_GENERATION.value,
    "embedding": SpanType.RAG_EMBEDDING.value,
    "rerank": SpanType.RAG_ACTION.value,
}
_GENERIC = SpanType.GENERIC.value
_MODEL_GENERATION = SpanType.MODEL_GENERATION.value
_TOOL_CALL = SpanType.TOOL_CALL.value
_MCP_TOOL_CALL = SpanType.MCP_TOOL_CALL.value
_WORKFLOW_RUN = SpanType.WORKFLOW_RUN.value
_WORKFLOW_STEP = SpanType.WORKFLOW_STEP.value


def _has_mcp(attrs: Mapping[str, Any]) -> bool:
    return any(k.startswith("mcp.") for k in attrs)


def classify(attrs: Mapping[str, Any], is_root: bool) -> str:
    """The Mastra span type of a span with these attributes (see the module docstring).

    Cheap enough for the app's thread (about a microsecond): plain lookups, no scans
    unless a tool span must be told apart from an MCP one.
    """
    get = attrs.get
    explicit = get("mastra.span.type")
    if explicit is not None and explicit in SPAN_TYPE_VALUES:
        return str(explicit)
    found: str | None = None
    kind = get("openinference.span.kind")
    if kind is not None:
        found = OPENINFERENCE_KINDS.get(str(kind).upper())
    if found is None:
        kind = get("traceloop.span.kind")
        if kind is not None:
            found = TRACELOOP_KINDS.get(str(kind).lower())
        if found is None:
            op = get("gen_ai.operation.name")
            if op is not None:
                found = GENAI_OPERATIONS.get(op)
            if found is None:
                op = get("llm.request.type")
                if op is not None:
                    found = LLM_REQUEST_TYPES.get(op)
                if found is None:
                    if ("gen_ai.tool.name" in attrs or "gen_ai.tool.call.id" in attrs
                            or "tool.name" in attrs):
                        found = _TOOL
                    elif (get("gen_ai.request.model") is not None
                          or get("gen_ai.response.model") is not None
                          or get("llm.model_name") is not None
                          or get("llm.request.model_name") is not None):
                        return _MODEL_GENERATION
                    else:
                        return _GENERIC
    if found is _TOOL:
        return _MCP_TOOL_CALL if _has_mcp(attrs) else _TOOL_CALL
    if found is _CHAIN:
        return _WORKFLOW_RUN if is_root else _WORKFLOW_STEP
    return found


# ---------------------------------------------------------------------------- helpers
def _take(attrs: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` set (not None); every key holding that same value is removed,
    so an instrumentation that writes the old and the new name leaves nothing behind,
    while a *different* value under another name stays in the attributes."""
    chosen: Any = None
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        if chosen is None:
            chosen = value
            del attrs[key]
        elif value == chosen:
            del attrs[key]
    return chosen


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) if value else None
    return str(value)


def ns_to_datetime(ns: int) -> datetime:
    """Unix nanoseconds → the UTC datetime at millisecond precision every backend keeps."""
    return from_epoch_ms(int(ns) // 1_000_000)


# Mastra's own attributes an instrumented app may set on any span (explicit beats mapped).
_EXPLICIT_COLUMNS: dict[str, str] = {
    f"mastra.{c.name}": c.attr for c in COLUMNS
    if c.settable and c.kind == "text" and c.attr != "name"
}
_EXPLICIT_COLUMNS.update({"mastra.entity.type": "entity_type", "mastra.entity.id": "entity_id",
                          "mastra.entity.name": "entity_name"})

# Token usage: Mastra's UsageStats field ← OTel names, newest first (both the current GenAI
# names, the 1.36-era ones, OpenInference's and OpenLLMetry's).
_USAGE: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("inputTokens", None, ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                           "llm.token_count.prompt", "llm.usage.prompt_tokens")),
    ("outputTokens", None, ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                            "llm.token_count.completion", "llm.usage.completion_tokens")),
    ("totalTokens", None, ("gen_ai.usage.total_tokens", "llm.token_count.total",
                           "llm.usage.total_tokens")),
    ("cacheRead", "inputDetails", ("gen_ai.usage.cache_read.input_tokens",
                                   "gen_ai.usage.cache_read_input_tokens",
                                   "llm.token_count.prompt_details.cache_read")),
    ("cacheWrite", "inputDetails", ("gen_ai.usage.cache_creation.input_tokens",
                                    "gen_ai.usage.cache_creation_input_tokens",
                                    "llm.token_count.prompt_details.cache_write")),
    ("audio", "inputDetails", ("llm.token_count.prompt_details.audio",)),
    ("reasoning", "outputDetails", ("gen_ai.usage.reasoning.output_tokens",
                                    "gen_ai.usage.reasoning_tokens",
                                    "llm.token_count.completion_details.reasoning",
                                    "llm.usage.reasoning_tokens")),
    ("audio", "outputDetails", ("llm.token_count.completion_details.audio",)),
)

# Request parameters: Mastra's ``parameters`` key ← GenAI attribute.
_PARAMETERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("temperature", ("gen_ai.request.temperature",)),
    ("maxOutputTokens", ("gen_ai.request.max_tokens", "llm.request.max_tokens")),
    ("topP", ("gen_ai.request.top_p", "llm.request.top_p")),
    ("topK", ("gen_ai.request.top_k",)),
    ("presencePenalty", ("gen_ai.request.presence_penalty", "llm.presence_penalty")),
    ("frequencyPenalty", ("gen_ai.request.frequency_penalty", "llm.frequency_penalty")),
    ("stopSequences", ("gen_ai.request.stop_sequences",)),
    ("seed", ("gen_ai.request.seed", "gen_ai.openai.request.seed")),
    ("n", ("gen_ai.request.choice.count",)),
    ("encodingFormats", ("gen_ai.request.encoding_formats",)),
)
# OpenInference's llm.invocation_parameters (the request's own names) → Mastra's names.
_INVOCATION_NAMES = {
    "max_tokens": "maxOutputTokens", "max_completion_tokens": "maxOutputTokens",
    "max_output_tokens": "maxOutputTokens", "top_p": "topP", "top_k": "topK",
    "presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty",
    "stop": "stopSequences", "stop_sequences": "stopSequences",
}

EXCEPTION_EVENT = "exception"
EVALUATION_EVENT = "gen_ai.evaluation.result"
_MODEL_TYPES = frozenset({SpanType.MODEL_GENERATION.value, SpanType.MODEL_STEP.value,
                          SpanType.MODEL_INFERENCE.value})
_TOOL_TYPES = frozenset({SpanType.TOOL_CALL.value, SpanType.MCP_TOOL_CALL.value,
                         SpanType.CLIENT_TOOL_CALL.value, SpanType.PROVIDER_TOOL_CALL.value})


# ---------------------------------------------------------------------------- convert
def to_record(span: OtelSpan, *, remote_parent: str = "keep",
              service_name: str | None = None) -> Converted:
    """Convert one span. ``remote_parent="root"`` makes a span whose parent lives in
    another process a root (the parent id is kept in ``attributes.otel``), as Mastra
    stores a trace that continues an outside one; ``"keep"`` keeps the link."""
    attrs: dict[str, Any] = dict(span.attributes)
    otel: dict[str, Any] = {}
    parent = span.parent_span_id or None
    if parent == "0" * 16:
        parent = None
    if parent is not None and span.parent_remote and remote_parent == "root":
        otel["parentSpanId"] = parent
        otel["remoteParent"] = True
        parent = None
    is_root = parent is None
    span_type = classify(attrs, is_root)
    if attrs.get("mastra.span.type") == span_type:
        del attrs["mastra.span.type"]

    rec = SpanRecord(span.trace_id, span.span_id, span.name if span.name is not None else "",
                     span_type, ns_to_datetime(span.start_ns), parent_span_id=parent)
    if span.end_ns is not None:
        rec.ended_at = ns_to_datetime(span.end_ns)
    m: dict[str, Any] = {}  # the Mastra attributes

    events = list(span.events)
    used_events: set[int] = set()

    _correlation(rec, attrs, span.resource, otel, service_name)
    if span_type in _MODEL_TYPES:
        _model(rec, attrs, m, events, used_events)
    elif span_type == SpanType.RAG_EMBEDDING.value:
        _embedding(rec, attrs, m)
    elif span_type in _TOOL_TYPES:
        _tool(rec, attrs, m, span)
    elif span_type == SpanType.AGENT_RUN.value:
        _agent(rec, attrs, m, span.name)
    elif span_type in (SpanType.WORKFLOW_RUN.value, SpanType.WORKFLOW_STEP.value):
        name = _take(attrs, "gen_ai.workflow.name", "traceloop.workflow.name") \
            if span_type == SpanType.WORKFLOW_RUN.value else None
        name = name or attrs.get("traceloop.entity.name") or span.name
        rec.entity_type, rec.entity_id, rec.entity_name = span_type, str(name), str(name)
    elif span_type == SpanType.RAG_VECTOR_OPERATION.value:
        _retrieval(rec, attrs, m)
    elif span_type == SpanType.RAG_ACTION.value:
        _rerank(rec, attrs, m)
    elif span_type in (SpanType.SCORER_RUN.value, SpanType.SCORER_STEP.value):
        name = _take(attrs, "gen_ai.evaluation.name", "evaluation.name") or span.name
        rec.entity_type, rec.entity_id, rec.entity_name = "scorer", str(name), str(name)
    elif span_type == SpanType.GENERIC.value and attrs.get("gen_ai.operation.name") == \
            "create_agent":
        _agent_entity(rec, attrs, span.name)
    _generic_io(rec, attrs)

    # Explicit Mastra fields win over everything mapped.
    for key, attr in _EXPLICIT_COLUMNS.items():
        if key in attrs:
            value = attrs.pop(key)
            if value is not None:
                setattr(rec, attr, _text(value))
    if is_root and rec.entity_type is not None:
        rec.root_entity_type, rec.root_entity_id = rec.entity_type, rec.entity_id
        rec.root_entity_name = rec.entity_name

    scores = _events(rec, span, attrs, events, used_events, otel)

    # What is left: the OTel attributes nothing mapped, under their own keys.
    for key, value in attrs.items():
        if key in m:
            otel.setdefault("attributes", {})[key] = plain(value)
        else:
            m[key] = plain(value)
    if span.kind not in ("INTERNAL", "UNSPECIFIED"):
        otel["kind"] = span.kind
    if span.scope_name:
        scope = {"name": span.scope_name}
        if span.scope_version:
            scope["version"] = span.scope_version
        otel["scope"] = scope
    if span.status_code != "UNSET":
        status: dict[str, Any] = {"code": span.status_code}
        if span.status_message:
            status["message"] = span.status_message
        otel["status"] = status
    if otel:
        m["otel"] = otel
    rec.attributes = m or None
    if span.links:
        rec.links = [{"traceId": link.trace_id, "spanId": link.span_id,
                      **({"attributes": plain(dict(link.attributes))} if link.attributes else {})}
                     for link in span.links]
    if scores:
        ctx = _score_context(rec)
        scores = [s if not ctx else _with_context(s, ctx) for s in scores]
    return Converted(rec, scores)


def _correlation(rec: SpanRecord, attrs: dict[str, Any], resource: Mapping[str, Any],
                 otel: dict[str, Any], service_name: str | None) -> None:
    res = dict(resource) if resource else {}
    service = res.pop("service.name", None)
    if (service is None or str(service).startswith("unknown_service")) and service_name:
        if service is not None:
            otel.setdefault("resourceServiceName", service)
        service = service_name
    rec.service_name = _text(service)
    env = _take(attrs, "deployment.environment.name", "deployment.environment")
    if env is None:
        env = _take(res, "deployment.environment.name", "deployment.environment")
    rec.environment = _text(env)
    rec.session_id = _text(_take(attrs, "session.id", "traceloop.association.properties.session_id")
                           or _take(res, "session.id"))
    rec.user_id = _text(_take(attrs, "user.id", "enduser.id",
                              "traceloop.association.properties.user_id")
                        or _take(res, "user.id", "enduser.id"))
    conversation = attrs.get("gen_ai.conversation.id")
    if conversation is not None:
        rec.thread_id = _text(conversation)
        if rec.span_type != SpanType.AGENT_RUN.value:
            del attrs["gen_ai.conversation.id"]
    tags: list[str] = []
    for key in ("tag.tags", "mastra.tags"):
        value = attrs.pop(key, None)
        if value is not None:
            value = parse_json(value)
            tags.extend(str(t) for t in (value if isinstance(value, list) else [value]))
    rec.tags = tags or None
    metadata: dict[str, Any] = {}
    meta = attrs.pop("metadata", None)  # OpenInference: a JSON object as text
    if meta is not None:
        decoded = parse_json(meta)
        if isinstance(decoded, dict):
            metadata.update(decoded)
        else:
            metadata["metadata"] = decoded
    for prefix in ("mastra.metadata.", "traceloop.association.properties."):
        for key in [k for k in attrs if k.startswith(prefix)]:
            metadata[key[len(prefix):]] = plain(attrs.pop(key))
    rec.metadata = metadata or None
    if res:
        otel["resource"] = plain(res)


def _model(rec: SpanRecord, attrs: dict[str, Any], m: dict[str, Any], events: list[Any],
           used_events: set[int]) -> None:
    invocation = parse_json(_take(attrs, "llm.invocation_parameters"))
    if not isinstance(invocation, dict):
        invocation = {} if invocation is None else {"invocationParameters": invocation}
    model = _take(attrs, "gen_ai.request.model", "llm.request.model_name")
    response_model = _take(attrs, "gen_ai.response.model", "llm.response.model_name")
    oi_model = _take(attrs, "llm.model_name")  # OpenInference: the model that answered
    if model is None and isinstance(invocation.get("model"), str):
        model = invocation.pop("model")
    elif model is not None and invocation.get("model") == model:
        invocation.pop("model")
    if model is None:
        model = oi_model
    elif oi_model is not None and response_model is None:
        response_model = oi_model
    elif oi_model is not None:
        m["llm.model_name"] = oi_model
    if model is not None:
        m["model"] = str(model)
    provider = _take(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider",
                     "llm.system")
    if provider is not None:
        m["provider"] = str(provider)
    if response_model is not None:
        m["responseModel"] = str(response_model)
    response_id = _take(attrs, "gen_ai.response.id")
    if response_id is not None:
        m["responseId"] = str(response_id)
    usage = _usage(attrs)
    if usage:
        m["usage"] = usage
    params = _parameters(attrs, invocation)
    if params:
        m["parameters"] = params
    stream = _take(attrs, "gen_ai.request.stream", "llm.is_streaming")
    if stream is not None:
        m["streaming"] = bool(stream)
    for key, name in (("server.address", "serverAddress"), ("server.port", "serverPort")):
        value = _take(attrs, key)
        if value is not None:
            m[name] = value
    output_type = _take(attrs, "gen_ai.output.type")
    if output_type is not None:
        m["responseFormat"] = output_type
    tools = _tool_definitions(attrs)
    if tools:
        m["tools"] = tools
    cost = _number(_take(attrs, "llm.cost.total"))
    if cost is not None:
        m["costContext"] = {"estimatedCost": cost, "costUnit": "USD"}
    ttfc = _number(_take(attrs, "gen_ai.response.time_to_first_chunk"))
    if ttfc is not None:
        m["completionStartTime"] = rec.started_at + timedelta(seconds=ttfc)

    # Messages: current GenAI attributes, then OpenInference, then OpenLLMetry, then the
    # deprecated gen_ai.prompt/completion, then 1.36-era message events.
    system = system_instructions(_take(attrs, "gen_ai.system_instructions"))
    inputs = _input_messages(attrs)
    outputs = _output_messages(attrs)
    if inputs is None or outputs is None:
        ev_in, ev_out, used = legacy_event_messages(events)
        if inputs is None and ev_in:
            inputs = ev_in
            used_events.update(i for i in used
                               if events[i].name != "gen_ai.choice")
        if outputs is None and ev_out:
            outputs = ev_out
            used_events.update(i for i in used if events[i].name == "gen_ai.choice")
    if system is not None:
        inputs = [system, *(inputs or [])]
    if inputs is not None:
        rec.input = {"messages": inputs}
        _drop_raw(attrs, "input")
    if outputs is not None:
        rec.output = completion_output(outputs)
        _drop_raw(attrs, "output")

    reasons = _take(attrs, "gen_ai.response.finish_reasons", "llm.finish_reason")
    if isinstance(reasons, (list, tuple)):
        if len(reasons) > 1:
            m["finishReasons"] = list(reasons)
        reasons = reasons[0] if reasons else None
    if reasons is None and outputs:
        reasons = outputs[0].get("finishReason")
    if reasons is not None:
        m["finishReason"] = str(reasons)


def _drop_raw(attrs: dict[str, Any], which: str) -> None:
    """The raw request/response body, superseded by the structured messages."""
    attrs.pop(f"{which}.value", None)
    attrs.pop(f"{which}.mime_type", None)


# Where each convention keeps the messages of one side: (GenAI structured attribute,
# OpenInference indexed prefix, OpenLLMetry indexed prefix, GenAI 1.x plain attribute,
# the role a plain string gets).
_MESSAGE_SOURCES = {
    "input": ("gen_ai.input.messages", "llm.input_messages.", "gen_ai.prompt.",
              "gen_ai.prompt", "user"),
    "output": ("gen_ai.output.messages", "llm.output_messages.", "gen_ai.completion.",
               "gen_ai.completion", "assistant"),
}


def _messages(attrs: dict[str, Any], side: str) -> list[Any] | None:
    structured, oi_prefix, ollm_prefix, plain, role = _MESSAGE_SOURCES[side]
    value = _take(attrs, structured)
    if value is not None:
        return genai_messages(value)
    items = collect_indexed(attrs, oi_prefix)
    if items is not None:
        return openinference_messages(items)
    items = collect_indexed(attrs, ollm_prefix)
    if items is not None:
        return openllmetry_messages(items)
    value = _take(attrs, plain)
    if value is not None:
        return genai_messages(value) or [{"role": role, "content": value}]
    return None


def _input_messages(attrs: dict[str, Any]) -> list[Any] | None:
    return _messages(attrs, "input")


def _output_messages(attrs: dict[str, Any]) -> list[Any] | None:
    return _messages(attrs, "output")


def _usage(attrs: dict[str, Any]) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    for name, group, keys in _USAGE:
        raw = _take(attrs, *keys)
        if raw is None:
            continue
        value = _number(raw)
        if value is None:
            attrs[keys[0]] = raw  # not a number: left as it came
            continue
        if group is None:
            usage[name] = value
        else:
            usage.setdefault(group, {})[name] = value
    return usage


def _parameters(attrs: dict[str, Any], invocation: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in invocation.items():
        params[_INVOCATION_NAMES.get(key, key)] = value
    for name, keys in _PARAMETERS:
        value = _take(attrs, *keys)
        if value is not None:
            params[name] = plain(value)
    return params


def _tool_definitions(attrs: dict[str, Any]) -> list[Any] | None:
    value = _take(attrs, "gen_ai.tool.definitions")
    if value is not None:
        decoded = parse_json(value)
        return decoded if isinstance(decoded, list) else [decoded]
    out: list[Any] = []
    items = collect_indexed(attrs, "llm.tools.")
    for item in items or ():
        schema = parse_json(item.get("tool", {}).get("json_schema")) \
            if isinstance(item, dict) else None
        if isinstance(schema, dict) and isinstance(schema.get("function"), dict):
            fn = schema["function"]
            out.append({"type": schema.get("type", "function"), "name": fn.get("name"),
                        "description": fn.get("description"),
                        "parameters": fn.get("parameters")})
        else:
            out.append(schema if schema is not None else item)
    items = collect_indexed(attrs, "llm.request.functions.")
    for item in items or ():
        if isinstance(item, dict):
            out.append({"type": "function", "name": item.get("name"),
                        "description": item.get("description"),
                        "parameters": parse_json(item.get("parameters"))})
    return out or None


def _embedding(rec: SpanRecord, attrs: dict[str, Any], m: dict[str, Any]) -> None:
    model = _take(attrs, "gen_ai.request.model", "embedding.model_name", "llm.request.model_name")
    if model is not None:
        m["model"] = str(model)
    provider = _take(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider",
                     "llm.system")
    if provider is not None:
        m["provider"] = str(provider)
    response_model = _take(attrs, "gen_ai.response.model")
    if response_model is not None:
        m["responseModel"] = str(response_model)
    dims = _take(attrs, "gen_ai.embeddings.dimension.count")
    if dims is not None:
        m["dimensions"] = dims
    usage = _usage(attrs)
    if usage:
        m["usage"] = usage
    params = _parameters(attrs, {})
    if params:
        m["parameters"] = params
    items = collect_indexed(attrs, "embedding.embeddings.")
    if items is not None:
        texts = [i.get("embedding", {}).get("text") if isinstance(i, dict) else None
                 for i in items]
        vectors = [i.get("embedding", {}).get("vector") if isinstance(i, dict) else None
                   for i in items]
        if any(t is not None for t in texts):
            rec.input = texts
            m["inputCount"] = len(texts)
        if any(v is not None for v in vectors):
            rec.output = vectors
        if not any(t is not None for t in texts) and not any(v is not None for v in vectors):
            rec.input = items


def _tool(rec: SpanRecord, attrs: dict[str, Any], m: dict[str, Any], span: OtelSpan) -> None:
    name = _take(attrs, "gen_ai.tool.name", "tool.name")
    if name is None and attrs.get("traceloop.span.kind") == "tool":
        name = attrs.get("traceloop.entity.name")
    name = str(name) if name is not None else span.name
    rec.entity_type, rec.entity_id, rec.entity_name = "tool", name, name
    call_id = _take(attrs, "gen_ai.tool.call.id", "tool_call.id")
    if call_id is not None:
        m["toolCallId"] = str(call_id)
    description = _take(attrs, "gen_ai.tool.description", "tool.description")
    if description is not None:
        m["toolDescription"] = description
    tool_type = _take(attrs, "gen_ai.tool.type")
    if tool_type is not None:
        m["toolType"] = tool_type
    args = _take(attrs, "gen_ai.tool.call.arguments", "tool_call.function.arguments")
    if args is not None:
        rec.input = loads_value(args)
    result = _take(attrs, "gen_ai.tool.call.result")
    if result is not None:
        rec.output = loads_value(result)
    if rec.span_type == SpanType.MCP_TOOL_CALL.value:
        server = attrs.get("mcp.server.name") or attrs.get("server.address")
        m["mcpServer"] = str(server) if server is not None else "unknown"
    if span.end_ns is not None:
        m["success"] = span.status_code != "ERROR" and not any(
            ev.name == EXCEPTION_EVENT for ev in span.events)


def _agent_entity(rec: SpanRecord, attrs: dict[str, Any], span_name: str) -> None:
    name = _take(attrs, "gen_ai.agent.name", "agent.name")
    if name is None and attrs.get("traceloop.span.kind") == "agent":
        name = attrs.get("traceloop.entity.name")
    agent_id = _take(attrs, "gen_ai.agent.id")
    name = str(name) if name is not None else (str(agent_id) if agent_id else span_name)
    rec.entity_type = "agent"
    rec.entity_id = str(agent_id) if agent_id is not None else name
    rec.entity_name = name


def _agent(rec: SpanRecord, attrs: dict[str, Any], m: dict[str, Any], span_name: str) -> None:
    _agent_entity(rec, attrs, span_name)
    conversation = attrs.pop("gen_ai.conversation.id", None)
    if conversation is not None:
        m["conversationId"] = str(conversation)
    system = system_instructions(_take(attrs, "gen_ai.system_instructions"))
    if system is not None:
        m["instructions"] = system["content"]
    tools = _tool_definitions(attrs)
    if tools:
        m["availableTools"] = [t.get("name") if isinstance(t, dict) else t for t in tools]
        m["tools"] = tools
    inputs = _take(attrs, "gen_ai.input.messages")
    if inputs is not None:
        rec.input = {"messages": genai_messages(inputs)}
        _drop_raw(attrs, "input")
    outputs = _take(attrs, "gen_ai.output.messages")
    if outputs is not None:
        rec.output = completion_output(genai_messages(outputs) or [])
        _drop_raw(attrs, "output")


def _documents(items: list[Any] | None) -> list[Any] | None:
    if items is None:
        return None
    docs = []
    for item in items:
        doc = item.get("document") if isinstance(item, dict) else None
        if isinstance(doc, dict):
            doc = dict(doc)
            if "metadata" in doc:
                doc["metadata"] = parse_json(doc["metadata"])
            docs.append(doc)
        else:
            docs.append(item)
    return docs


def _retrieval(rec: SpanRecord, attrs: dict[str, Any], m: dict[str, Any]) -> None:
    m["operation"] = "query"
    query = _take(attrs, "gen_ai.retrieval.query.text")
    if query is not None:
        rec.input = query
    docs = _documents(collect_indexed(attrs, "retrieval.documents."))
    if docs is None:
        value = _take(attrs, "gen_ai.retrieval.documents")
        docs = parse_json(value) if value is not None else None
    if docs is not None:
        rec.output = docs


def _rerank(rec: SpanRecord, attrs: dict[str, Any], m: dict[str, Any]) -> None:
    m["action"] = "rerank"
    top = _take(attrs, "reranker.top_k")
    if top is not None:
        m["topN"] = top
    model = _take(attrs, "reranker.model_name")
    if model is not None:
        m["model"] = str(model)
    query = _take(attrs, "reranker.query")
    docs_in = _documents(collect_indexed(attrs, "reranker.input_documents."))
    if query is not None or docs_in is not None:
        rec.input = {"query": query, "documents": docs_in}
        if docs_in is not None:
            m["candidateCount"] = len(docs_in)
    docs_out = _documents(collect_indexed(attrs, "reranker.output_documents."))
    if docs_out is not None:
        rec.output = docs_out


def _generic_io(rec: SpanRecord, attrs: dict[str, Any]) -> None:
    """``input.value``/``output.value`` (OpenInference), ``traceloop.entity.*``, or the
    GenAI messages, for spans whose type-specific mapping set no input/output."""
    for which in ("input", "output"):
        if getattr(rec, which) is not None:
            continue
        value = attrs.pop(f"{which}.value", None)
        if value is not None:
            mime = attrs.pop(f"{which}.mime_type", None)
            setattr(rec, which, value if mime == "text/plain" else loads_value(value))
            continue
        value = attrs.pop(f"traceloop.entity.{which}", None)
        if value is not None:
            setattr(rec, which, loads_value(value))
            continue
        value = attrs.pop(f"gen_ai.{which}.messages", None)
        if value is not None:
            msgs = genai_messages(value)
            setattr(rec, which, {"messages": msgs} if which == "input"
                    else completion_output(msgs or []))


def _events(rec: SpanRecord, span: OtelSpan, attrs: dict[str, Any], events: list[Any],
            used: set[int], otel: dict[str, Any]) -> list[ScoreEvent]:
    """The error (from ERROR status and ``exception`` events), scores (from
    ``gen_ai.evaluation.result``), and the other events kept under ``otel.events``."""
    exception_at = None
    for i, ev in enumerate(events):
        if ev.name == EXCEPTION_EVENT:
            exception_at = i  # the last one: what ended the span
    if span.status_code == "ERROR" or exception_at is not None:
        ev_attrs: Mapping[str, Any] = events[exception_at].attributes \
            if exception_at is not None else {}
        error_type = attrs.get("error.type")
        message = ev_attrs.get("exception.message") or span.status_message or error_type \
            or "error"
        error: dict[str, Any] = {"message": str(message)}
        name = ev_attrs.get("exception.type") or error_type
        if name is not None:
            error["name"] = str(name)
            if error_type is not None and str(error_type) == error["name"]:
                attrs.pop("error.type")
        stack = ev_attrs.get("exception.stacktrace")
        if stack:
            error["stack"] = str(stack)
        details = {k: plain(v) for k, v in ev_attrs.items()
                   if k not in ("exception.message", "exception.type", "exception.stacktrace")}
        if span.status_message and span.status_message != error["message"]:
            details["statusMessage"] = span.status_message
        if details:
            error["details"] = details
        rec.error = error
        if exception_at is not None:
            used.add(exception_at)
    scores: list[ScoreEvent] = []
    kept: list[dict[str, Any]] = []
    for i, ev in enumerate(events):
        if ev.name == EVALUATION_EVENT:
            score = _score(rec, ev)
            if score is not None:
                scores.append(score)
        if i in used:
            continue
        item: dict[str, Any] = {"name": ev.name, "time": ns_to_datetime(ev.time_ns)}
        if ev.attributes:
            item["attributes"] = plain(dict(ev.attributes))
        kept.append(item)
    if kept:
        otel["events"] = kept
    return scores


def _score(rec: SpanRecord, ev: Any) -> ScoreEvent | None:
    a = ev.attributes
    value = _number(a.get("gen_ai.evaluation.score.value"))
    name = a.get("gen_ai.evaluation.name")
    if value is None or name is None:
        return None
    metadata = {k: plain(v) for k, v in a.items() if k not in (
        "gen_ai.evaluation.name", "gen_ai.evaluation.score.value",
        "gen_ai.evaluation.explanation")}
    label = metadata.pop("gen_ai.evaluation.score.label", None)
    if label is not None:
        metadata["label"] = label
    reason = a.get("gen_ai.evaluation.explanation")
    return ScoreEvent(timestamp=ns_to_datetime(ev.time_ns), trace_id=rec.trace_id,
                      scorer_id=str(name), score=float(value),
                      reason=str(reason) if reason is not None else None,
                      span_id=rec.span_id, metadata=metadata or None)


def _score_context(rec: SpanRecord) -> dict[str, Any]:
    ctx = {attr: getattr(rec, attr) for attr in CORRELATION_ATTRS
           if getattr(rec, attr) is not None}
    for attr in ("entity_type", "entity_id", "entity_name"):
        if getattr(rec, attr) is not None:
            ctx[attr] = getattr(rec, attr)
    return ctx


def _with_context(score: ScoreEvent, ctx: dict[str, Any]) -> ScoreEvent:
    return replace(score, context=dict(ctx))


def convert_spans(spans: Iterable[OtelSpan], **options: Any) -> list[Converted]:
    """Convert many spans (invalid ones raise :class:`InvalidSpan`; see ``otlp`` for the
    counting variant)."""
    out = []
    for span in spans:
        check_ids(span)
        out.append(to_record(span, **options))
    return out


__all__ = ["EVALUATION_EVENT", "EXCEPTION_EVENT", "SPAN_TYPE_VALUES", "Converted",
           "InvalidSpan", "check_ids", "classify", "convert_spans", "ns_to_datetime",
           "to_record"]
