"""The producer side: Observability → Tracer → Span → TracingEvent."""

from .context import current_span
from .events import (
    FeedbackEvent,
    LogEvent,
    MetricEvent,
    ScoreEvent,
    TracingEvent,
    TracingEventType,
)
from .observability import Observability, ObservabilityConfig
from .span import Span
from .span_types import SpanType
from .tracer import Tracer

__all__ = [
    "FeedbackEvent", "LogEvent", "MetricEvent", "Observability", "ObservabilityConfig",
    "ScoreEvent", "Span", "SpanType", "Tracer", "TracingEvent", "TracingEventType",
    "current_span",
]
