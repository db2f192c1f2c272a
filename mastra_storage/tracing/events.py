"""What flows from the tracer to processors and exporters.

Span lifecycle events carry a *snapshot* (:class:`SpanRecord`) of the span at the time of
the event, so exporters never look at a span the app is still changing. The other
signals (logs, metrics, scores, feedback) are plain records; an exporter that does not
handle a kind of event ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from ..storage.records import SpanRecord


class TracingEventType(str, Enum):
    SPAN_STARTED = "span_started"
    SPAN_UPDATED = "span_updated"
    SPAN_ENDED = "span_ended"

    def __str__(self) -> str:
        return self.value


class TracingEvent:
    """A span lifecycle event. A plain slotted class: one is built per event on the hot
    path, and a frozen dataclass costs several times more to construct."""

    __slots__ = ("span", "type")

    def __init__(self, type: TracingEventType, span: SpanRecord) -> None:
        self.type = type
        self.span = span

    def __repr__(self) -> str:
        return f"TracingEvent({self.type.value}, {self.span.name!r}, {self.span.span_id})"


@dataclass(slots=True, frozen=True)
class LogEvent:
    timestamp: datetime
    level: str
    message: str
    data: Any = None
    trace_id: str | None = None
    span_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class MetricEvent:
    timestamp: datetime
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class ScoreEvent:
    timestamp: datetime
    trace_id: str
    scorer_id: str
    score: float
    reason: str | None = None
    span_id: str | None = None
    metadata: Any = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class FeedbackEvent:
    timestamp: datetime
    trace_id: str
    feedback_type: str
    value: Any
    source: str | None = None
    comment: str | None = None
    span_id: str | None = None
    metadata: Any = None
    context: dict[str, Any] = field(default_factory=dict)


SignalEvent = LogEvent | MetricEvent | ScoreEvent | FeedbackEvent
ExportedEvent = TracingEvent | SignalEvent
