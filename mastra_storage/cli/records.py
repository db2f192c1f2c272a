"""Spans and signal records as JSON objects with Mastra's field names, and back.

The line format of ``mastra-storage traces export`` / ``import`` (JSON Lines): one object
per line, ``{"kind": "span" | "log" | "metric" | "score" | "feedback", ...fields}``, the
fields being the record's camelCase columns with ISO-8601 timestamps. Reading ignores
unknown fields, so a file written by a newer version still imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..model.signals import SIGNAL_TABLES, FeedbackRecord, LogRecord, MetricRecord, ScoreRecord
from ..model.spans import COLUMNS, SpanRecord
from ..model.time import format_iso, parse_iso

SignalRecord = LogRecord | MetricRecord | ScoreRecord | FeedbackRecord

# kind in a line -> signal name in the store API (``SIGNAL_TABLES``, ``prune``, ``stats``)
KINDS: dict[str, str] = {"span": "spans", "log": "logs", "metric": "metrics",
                         "score": "scores", "feedback": "feedback"}
_KIND_OF: dict[type, str] = {LogRecord: "log", MetricRecord: "metric", ScoreRecord: "score",
                             FeedbackRecord: "feedback"}
_SPAN_TIMESTAMPS = frozenset(c.name for c in COLUMNS if c.kind == "timestamp")


def _out(value: Any) -> Any:
    return format_iso(value) if isinstance(value, datetime) else value


def span_to_json(span: SpanRecord) -> dict[str, Any]:
    return {name: _out(value) for name, value in span.to_dict().items()}


def span_from_json(data: Mapping[str, Any]) -> SpanRecord:
    values = {k: (parse_iso(v) if k in _SPAN_TIMESTAMPS and isinstance(v, str) else v)
              for k, v in data.items() if k != "kind"}
    for required in ("traceId", "spanId", "name", "spanType", "startedAt"):
        if not values.get(required):
            raise ValueError(f"a span needs {required}")
    return SpanRecord.from_dict(values)


def signal_kind(record: Any) -> str:
    return _KIND_OF[type(record)]


def signal_to_json(record: SignalRecord) -> dict[str, Any]:
    table = SIGNAL_TABLES[KINDS[signal_kind(record)]]
    return {c.name: _out(getattr(record, c.attr)) for c in table.columns}


def signal_from_json(kind: str, data: Mapping[str, Any]) -> SignalRecord:
    table = SIGNAL_TABLES[KINDS[kind]]
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in data:
            continue
        value = data[column.name]
        if column.kind == "timestamp" and isinstance(value, str):
            value = parse_iso(value)
        values[column.attr] = value
    if "timestamp" not in values:
        raise ValueError(f"a {kind} needs a timestamp")
    record: SignalRecord = table.record(**values)  # type: ignore[assignment]
    return record


def line_of(record: SpanRecord | SignalRecord) -> dict[str, Any]:
    """The export line of a record: ``{"kind": …, …fields}``."""
    if isinstance(record, SpanRecord):
        return {"kind": "span", **span_to_json(record)}
    return {"kind": signal_kind(record), **signal_to_json(record)}


def record_of(line: Mapping[str, Any]) -> tuple[str, SpanRecord | SignalRecord]:
    """(signal, record) from an export line; ``ValueError`` says what is wrong."""
    if not isinstance(line, Mapping):
        raise ValueError("expected a JSON object")
    kind = line.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "span":
        return "spans", span_from_json(line)
    fields = {k: v for k, v in line.items() if k != "kind"}
    return KINDS[kind], signal_from_json(kind, fields)
