"""Metrics derived from ended spans, named as Mastra names them, so the Metrics page and the
token and cost figures work for Python traces without user code.

* durations, labelled ``{"status": "ok" | "error"}``: ``mastra_agent_duration_ms``
  (agent runs), ``mastra_workflow_duration_ms`` (workflow runs), ``mastra_tool_duration_ms``
  (tool, MCP tool and provider tool calls), ``mastra_model_duration_ms`` (model
  generations), ``mastra_processor_duration_ms`` (processor runs);
* token counts of a model generation, from ``attributes.usage`` (``inputTokens``,
  ``outputTokens``, ``inputDetails.{text, cacheRead, cacheWrite, cacheWrite5m,
  cacheWrite1h, audio, image}``, ``outputDetails.{text, reasoning, audio, image}``; the
  older ``promptTokens``/``completionTokens`` names are read too): the two totals
  whenever reported (0 included), the details when above 0. They carry no labels; the
  provider and model go in their own columns.

Cost: when the span reports one (``attributes.costContext.estimatedCost``) it is used;
otherwise it is estimated from a :class:`~.pricing.PriceTable`. Unlike Mastra, which
prices the detail metrics too, the cost is put on the two total metrics only (input:
uncached text at the input price plus cache reads and writes at theirs; output: all
output tokens at the output price), so summing ``estimatedCost`` over every token metric
never counts a token twice.

Every metric carries the span's correlation context (entity, parent and root entity,
ids, environment, service) and its trace and span ids, timestamped at the span's end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from ..model.signals import MetricRecord
from ..model.spans import CORRELATION_ATTRS, SpanRecord
from .pricing import PriceTable

DURATION_METRIC: dict[str, str] = {
    "agent_run": "mastra_agent_duration_ms",
    "workflow_run": "mastra_workflow_duration_ms",
    "tool_call": "mastra_tool_duration_ms",
    "mcp_tool_call": "mastra_tool_duration_ms",
    "provider_tool_call": "mastra_tool_duration_ms",
    "model_generation": "mastra_model_duration_ms",
    "processor_run": "mastra_processor_duration_ms",
}
PROCESSOR_ENTITY_TYPES = frozenset({
    "input_processor", "input_step_processor", "output_processor", "output_step_processor",
    "tool_result_processor"})

TOTAL_INPUT = "mastra_model_total_input_tokens"
TOTAL_OUTPUT = "mastra_model_total_output_tokens"
# (metric name, usage section, key) for the detail counts, emitted when above 0.
DETAILS: tuple[tuple[str, str, str], ...] = (
    ("mastra_model_input_text_tokens", "inputDetails", "text"),
    ("mastra_model_input_cache_read_tokens", "inputDetails", "cacheRead"),
    ("mastra_model_input_cache_write_tokens", "inputDetails", "cacheWrite"),
    ("mastra_model_input_cache_write_5m_tokens", "inputDetails", "cacheWrite5m"),
    ("mastra_model_input_cache_write_1h_tokens", "inputDetails", "cacheWrite1h"),
    ("mastra_model_input_audio_tokens", "inputDetails", "audio"),
    ("mastra_model_input_image_tokens", "inputDetails", "image"),
    ("mastra_model_output_text_tokens", "outputDetails", "text"),
    ("mastra_model_output_reasoning_tokens", "outputDetails", "reasoning"),
    ("mastra_model_output_audio_tokens", "outputDetails", "audio"),
    ("mastra_model_output_image_tokens", "outputDetails", "image"),
)
_CONTEXT = tuple(CORRELATION_ATTRS)
_context_of = attrgetter(*_CONTEXT)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def duration_name(span: SpanRecord) -> str | None:
    attributes = span.attributes if isinstance(span.attributes, Mapping) else {}
    if span.entity_type in PROCESSOR_ENTITY_TYPES and (
            span.span_type == "processor_run" or attributes.get("processorExecutor")):
        return "mastra_processor_duration_ms"
    return DURATION_METRIC.get(span.span_type)


def derive_metrics(span: SpanRecord, prices: PriceTable | None) -> list[MetricRecord]:
    """The metrics an ended span stands for (none for a running or event span)."""
    if span.ended_at is None or span.is_event:
        return []
    name = duration_name(span)
    if name is None and span.span_type != "model_generation":
        return []  # most spans: nothing to derive, nothing to build
    # Runs on the exporter's worker for every ended span: the context is read in one call.
    context = dict(zip(_CONTEXT, _context_of(span), strict=True))
    context["trace_id"] = span.trace_id
    context["span_id"] = span.span_id
    context["tags"] = span.tags if isinstance(span.tags, list) else None
    context["timestamp"] = span.ended_at

    def metric(name: str, value: float, **extra: Any) -> MetricRecord:
        return MetricRecord(name=name, value=value, **context, **extra)

    out: list[MetricRecord] = []
    if name is not None:
        elapsed = (span.ended_at - span.started_at).total_seconds() * 1000
        out.append(metric(name, max(elapsed, 0.0),
                          labels={"status": "error" if span.error is not None else "ok"}))
    if span.span_type == "model_generation":
        out += _token_metrics(span, prices, metric)
    return out


def _token_metrics(span: SpanRecord, prices: PriceTable | None, metric: Any
                   ) -> list[MetricRecord]:
    attributes = span.attributes if isinstance(span.attributes, Mapping) else {}
    usage = attributes.get("usage")
    if not isinstance(usage, Mapping):
        return []
    provider = _text(attributes.get("provider"))
    model = _text(attributes.get("responseModel")) or _text(attributes.get("model"))
    inputs = _number(usage.get("inputTokens", usage.get("promptTokens")))
    outputs = _number(usage.get("outputTokens", usage.get("completionTokens")))
    details = {(section, key): _number(usage.get(section, {}).get(key))
               if isinstance(usage.get(section), Mapping) else None
               for _, section, key in DETAILS}
    if inputs is None and outputs is None and not any(details.values()):
        return []
    input_cost, output_cost, unit, cost_meta = _costs(
        attributes, prices, provider, model, inputs, outputs, details)
    base = {"provider": provider, "model": model}
    out = []
    if inputs is not None:
        out.append(metric(TOTAL_INPUT, inputs, **base, estimated_cost=input_cost,
                          cost_unit=unit if input_cost is not None else None,
                          cost_metadata=cost_meta))
    if outputs is not None:
        out.append(metric(TOTAL_OUTPUT, outputs, **base, estimated_cost=output_cost,
                          cost_unit=unit if output_cost is not None else None,
                          cost_metadata=cost_meta))
    for name, section, key in DETAILS:
        value = details[(section, key)]
        if value is not None and value > 0:
            out.append(metric(name, value, **base))
    return out


def _costs(attributes: Mapping[str, Any], prices: PriceTable | None, provider: str | None,
           model: str | None, inputs: float | None, outputs: float | None,
           details: dict[tuple[str, str], float | None]
           ) -> tuple[float | None, float | None, str | None, dict[str, Any] | None]:
    given = attributes.get("costContext")
    if isinstance(given, Mapping) and _number(given.get("estimatedCost")) is not None:
        # The SDK or provider reported the query's cost: all of it on one total.
        cost = _number(given.get("estimatedCost"))
        unit = _text(given.get("costUnit")) or "USD"
        meta = {"allocation": "query_total", "source": "reported"}
        return (cost, None, unit, meta) if inputs is not None else (None, cost, unit, meta)
    if prices is None:
        return None, None, None, None
    price = prices.lookup(provider, model)
    if price is None:
        return None, None, None, {"error": "no_matching_model"} if provider and model else None
    cache_read = details[("inputDetails", "cacheRead")] or 0.0
    cache_write = details[("inputDetails", "cacheWrite")] or 0.0
    text = details[("inputDetails", "text")]
    if text is None:
        text = max((inputs or 0.0) - cache_read - cache_write, 0.0)
    input_cost = None
    if inputs is not None:
        input_cost = (text * price.input
                      + cache_read * (price.cache_read if price.cache_read is not None
                                      else price.input)
                      + cache_write * (price.cache_write if price.cache_write is not None
                                       else price.input))
    output_cost = outputs * price.output if outputs is not None else None
    return input_cost, output_cost, price.unit, {"pricing": prices.source,
                                                 "pricedModel": price.model}


__all__ = ["DURATION_METRIC", "TOTAL_INPUT", "TOTAL_OUTPUT", "derive_metrics"]
