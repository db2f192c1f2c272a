"""Records → the JSON shapes Mastra's server answers with (camelCase, ISO-8601 ``…Z``).

One function per shape of ``docs/studio.md``: a span record (with or without its
computed ``status``), a light span, a trace-query row, the four signal records, and the
legacy score row the trace panel's Scores tab reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..model.signals import (
    SIGNAL_TABLES,
    FeedbackRecord,
    LogRecord,
    MetricRecord,
    ScoreRecord,
)
from ..model.spans import COLUMNS, SpanRecord
from ..model.time import format_iso
from ..storage.queries import LightSpan
from ..storage.signal_queries import (
    AggregateResult,
    BreakdownGroup,
    PercentileSeries,
    Series,
)
from ..storage.trace_query import TraceRow

_SPAN_COLUMNS = tuple((c.attr, c.name) for c in COLUMNS)


def iso(value: datetime | None) -> str | None:
    return format_iso(value) if value is not None else None


def _value(value: Any) -> Any:
    return format_iso(value) if isinstance(value, datetime) else value


def span_json(span: SpanRecord, status: bool = False) -> dict[str, Any]:
    out = {name: _value(getattr(span, attr)) for attr, name in _SPAN_COLUMNS}
    if status:
        out["status"] = span.status
    return out


def light_json(span: LightSpan) -> dict[str, Any]:
    return {
        "traceId": span.trace_id, "spanId": span.span_id, "parentSpanId": span.parent_span_id,
        "name": span.name, "spanType": span.span_type, "isEvent": span.is_event,
        "startedAt": iso(span.started_at), "endedAt": iso(span.ended_at), "error": span.error,
        "status": span.status, "entityType": span.entity_type, "entityId": span.entity_id,
        "entityName": span.entity_name, "metadata": span.metadata,
        "inputPreview": span.input_preview, "createdAt": iso(span.created_at),
        "updatedAt": iso(span.updated_at),
    }


def structure_json(span: SpanRecord) -> dict[str, Any]:
    """A span of a trace's structure (no payloads), as the light trace route answers."""
    return {
        "traceId": span.trace_id, "spanId": span.span_id, "parentSpanId": span.parent_span_id,
        "name": span.name, "spanType": span.span_type, "isEvent": span.is_event,
        "startedAt": iso(span.started_at), "endedAt": iso(span.ended_at), "error": span.error,
        "status": span.status, "entityType": span.entity_type, "entityId": span.entity_id,
        "entityName": span.entity_name, "createdAt": iso(span.created_at),
        "updatedAt": iso(span.updated_at),
    }


def row_json(row: TraceRow) -> dict[str, Any]:
    return {
        "traceId": row.trace_id, "rootSpanId": row.root_span_id, "name": row.name,
        "entityId": row.entity_id, "parentSpanId": row.parent_span_id,
        "createdAt": iso(row.created_at), "metadata": row.metadata,
        "inputPreview": row.input_preview, "threadId": row.thread_id,
        "resourceId": row.resource_id, "startedAt": iso(row.started_at),
        "endedAt": iso(row.ended_at), "entityName": row.entity_name,
        "entityType": row.entity_type, "environment": row.environment, "status": row.status,
    }


_SIGNAL_COLUMNS = {t.record: tuple((c.attr, c.name) for c in t.columns)
                   for t in SIGNAL_TABLES.values()}


def signal_json(record: LogRecord | MetricRecord | ScoreRecord | FeedbackRecord
                ) -> dict[str, Any]:
    """A log, metric, score or feedback record with Mastra's field names."""
    out = {name: _value(getattr(record, attr))
           for attr, name in _SIGNAL_COLUMNS[type(record)]}
    out["tags"] = out.get("tags") or []
    if isinstance(record, FeedbackRecord):
        out["value"] = record.value
        out["source"] = record.feedback_source  # deprecated name, still read by clients
    elif isinstance(record, ScoreRecord):
        meta = record.metadata if isinstance(record.metadata, dict) else {}
        out["scorerName"] = meta.get("scorerName")
        out["source"] = record.score_source
    elif isinstance(record, MetricRecord):
        out["labels"] = record.labels or {}
    return out


def legacy_score_json(score: ScoreRecord) -> dict[str, Any]:
    """The row the trace panel's Scores tab reads (Mastra's older scores domain)."""
    meta = score.metadata if isinstance(score.metadata, dict) else {}
    name = meta.get("scorerName") or score.scorer_id
    return {
        "id": score.score_id, "scorerId": score.scorer_id, "entityId": score.entity_id or "",
        "runId": score.run_id or "", "input": meta.get("input"), "output": meta.get("output"),
        "score": score.score, "reason": score.reason,
        "scorer": {"id": score.scorer_id, "name": name},
        "source": "TEST" if (score.score_source or "").lower() == "test" else "LIVE",
        "entity": {"id": score.entity_id, "name": score.entity_name},
        "entityType": (score.entity_type or "").upper() or None,
        "traceId": score.trace_id, "spanId": score.span_id, "resourceId": score.resource_id,
        "threadId": score.thread_id, "metadata": score.metadata,
        "createdAt": iso(score.timestamp), "updatedAt": iso(score.timestamp),
    }


def pagination_json(total: int, page: int, per_page: int) -> dict[str, Any]:
    return {"total": total, "page": page, "perPage": per_page,
            "hasMore": (page + 1) * per_page < total}


def aggregate_json(result: AggregateResult) -> dict[str, Any]:
    out: dict[str, Any] = {"value": result.value, "estimatedCost": result.estimated_cost,
                           "costUnit": result.cost_unit}
    if result.compared:
        out.update(previousValue=result.previous_value, changePercent=result.change_percent,
                   previousEstimatedCost=result.previous_estimated_cost,
                   costChangePercent=result.cost_change_percent)
    return out


def breakdown_json(groups: list[BreakdownGroup]) -> dict[str, Any]:
    return {"groups": [{"dimensions": g.dimensions, "value": g.value,
                        "estimatedCost": g.estimated_cost, "costUnit": g.cost_unit}
                       for g in groups]}


def timeseries_json(series: list[Series]) -> dict[str, Any]:
    return {"series": [{"name": s.name, "costUnit": s.cost_unit,
                        "points": [{"timestamp": iso(p.timestamp), "value": p.value,
                                    "estimatedCost": p.estimated_cost} for p in s.points]}
                       for s in series]}


def percentiles_json(series: list[PercentileSeries]) -> dict[str, Any]:
    return {"series": [{"percentile": s.percentile,
                        "points": [{"timestamp": iso(p.timestamp), "value": p.value}
                                   for p in s.points]} for s in series]}
