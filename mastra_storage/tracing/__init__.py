"""The producer side: Tracer → Span → TracingEvent (wired up by ``Observability``)."""

from .context import current_span
from .events import (
    EventSink,
    FeedbackEvent,
    LogEvent,
    MetricEvent,
    ScoreEvent,
    TracingEvent,
    TracingEventType,
)
from .span import Span
from .span_types import SpanType
from .tracer import Tracer

__all__ = [
    "EventSink", "FeedbackEvent", "LogEvent", "MetricEvent", "ScoreEvent", "Span", "SpanType",
    "Tracer", "TracingEvent", "TracingEventType",
    "current_span",
]
