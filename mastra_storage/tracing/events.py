"""What flows from the tracer to processors and exporters.

Span lifecycle events carry a *snapshot* (:class:`SpanRecord`) of the span at the time of
the event, so exporters never look at a span the app is still changing. The other
signals (logs, metrics, scores, feedback) are plain records; an exporter that does not
handle a kind of event ignores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from ..model.jsonsafe import encode
from ..model.signals import (
    CONTEXT_ATTRS,
    FeedbackRecord,
    LogRecord,
    MetricRecord,
    ScoreRecord,
)
from ..model.spans import SpanRecord


class TracingEventType(str, Enum):
    SPAN_STARTED = "span_started"
    SPAN_UPDATED = "span_updated"
    SPAN_ENDED = "span_ended"

    def __str__(self) -> str:
        return self.value


class TracingEvent:
    """A span lifecycle event.

    ``raw`` is the snapshot as the span produced it; ``span`` is that snapshot after the
    config's span output processors. Processors run lazily, on the first read of
    ``span`` — in practice on an exporter's worker thread — so a redaction pass costs
    the app's thread nothing. Routing decisions (key, type, event flag) read ``raw``:
    processors must not change a span's ids or type.

    A plain slotted class: one is built per event on the hot path.
    """

    __slots__ = ("_pending", "_span", "raw", "type")

    def __init__(self, type: TracingEventType, span: SpanRecord,
                 processing: Callable[[SpanRecord], SpanRecord | None] | None = None) -> None:
        self.type = type
        self.raw = span
        self._span: SpanRecord | None = None if processing is not None else span
        self._pending = processing

    @property
    def span(self) -> SpanRecord:
        """The processed snapshot (computed once); the raw one if a processor filtered it."""
        pending = self._pending
        if pending is not None:
            # Two exporter threads may race here: both compute the same pure result.
            processed = pending(self.raw)
            self._span = processed
            self._pending = None
        return self._span if self._span is not None else self.raw

    @property
    def filtered(self) -> bool:
        """True when a processor dropped this event (exporters then skip it)."""
        self.span  # noqa: B018 - runs the processors if they have not run yet
        return self._span is None

    @property
    def key(self) -> tuple[str, str]:
        return (self.raw.trace_id, self.raw.span_id)

    def __repr__(self) -> str:
        return f"TracingEvent({self.type.value}, {self.raw.name!r}, {self.raw.span_id})"


def _context_fields(context: dict[str, Any]) -> dict[str, Any]:
    """The correlation context as record fields (unknown keys are not carried over)."""
    return {k: v for k, v in context.items() if k in _CONTEXT_FIELDS}


_CONTEXT_FIELDS = frozenset(CONTEXT_ATTRS) - {"trace_id", "span_id", "metadata", "scope"}


@dataclass(slots=True, frozen=True)
class LogEvent:
    timestamp: datetime
    level: str
    message: str
    data: Any = None
    trace_id: str | None = None
    span_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> LogRecord:
        return LogRecord(timestamp=self.timestamp, level=self.level, message=self.message,
                         data=self.data, trace_id=self.trace_id, span_id=self.span_id,
                         **_context_fields(self.context))


@dataclass(slots=True, frozen=True)
class MetricEvent:
    timestamp: datetime
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> MetricRecord:
        return MetricRecord(timestamp=self.timestamp, name=self.name, value=self.value,
                            labels={str(k): str(v) for k, v in self.labels.items()},
                            trace_id=self.trace_id, span_id=self.span_id,
                            **_context_fields(self.context))


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
    scorer_name: str | None = None
    scorer_version: str | None = None
    score_source: str | None = None

    def to_record(self) -> ScoreRecord:
        metadata = self.metadata
        if self.scorer_name is not None:
            # No column holds the scorer's display name (as in Mastra's table): it
            # travels in the metadata, where readers find it.
            metadata = {**(metadata if isinstance(metadata, dict) else {}),
                        "scorerName": self.scorer_name}
        return ScoreRecord(timestamp=self.timestamp, scorer_id=self.scorer_id,
                           score=self.score, reason=self.reason, trace_id=self.trace_id,
                           span_id=self.span_id, metadata=metadata,
                           scorer_version=self.scorer_version, score_source=self.score_source,
                           **_context_fields(self.context))


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
    feedback_user_id: str | None = None

    def to_record(self) -> FeedbackRecord:
        """A number is kept as ``valueNumber``, anything else as ``valueString`` (text
        as it is, other values as their JSON)."""
        value = self.value
        number: float | None = None
        text: str | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            text = value
        elif value is not None:
            text = encode(value)
        return FeedbackRecord(timestamp=self.timestamp, feedback_type=self.feedback_type,
                              feedback_source=self.source or "", value_number=number,
                              value_string=text, comment=self.comment,
                              trace_id=self.trace_id, span_id=self.span_id,
                              metadata=self.metadata, feedback_user_id=self.feedback_user_id,
                              **_context_fields(self.context))


SignalEvent = LogEvent | MetricEvent | ScoreEvent | FeedbackEvent
ExportedEvent = TracingEvent | SignalEvent


@runtime_checkable
class EventSink(Protocol):
    """What the tracer hands events to (an exporter, seen from the producer's side).

    ``export`` runs on the app's thread for every event and must return quickly; the
    full exporter contract (binding to a store, flush, shutdown) is
    :class:`mastra_storage.exporters.base.Exporter`.
    """

    name: str

    def export(self, event: ExportedEvent) -> None: ...
