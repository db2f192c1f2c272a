"""Logs, metrics, scores and feedback: produced by the tracing API, fanned out to exporters.

Observability, Tracer and Span offer ``log``, ``metric``, ``score`` and ``feedback``; a
span fills the trace/span ids and its correlation context. Exporters receive LogEvent,
MetricEvent, ScoreEvent, FeedbackEvent; an exporter that does not handle a signal (the
DefaultExporter) ignores it.
"""

from __future__ import annotations

from typing import Any

import pytest

from mastra_storage import DefaultExporter, Observability, ObservabilityConfig, SpanType
from mastra_storage.storage import InMemoryStore
from mastra_storage.storage.signal_queries import LogsFilter
from mastra_storage.tracing.events import (
    FeedbackEvent,
    LogEvent,
    MetricEvent,
    ScoreEvent,
    TracingEvent,
    TracingEventType,
)

from .helpers import RecordingExporter
from .pipelines import Pipelines


class EventRecorder(RecordingExporter):
    """The shared recorder, plus a filter by event kind."""

    def of(self, kind: type) -> list[Any]:
        with self._lock:
            return [e for e in self.events if type(e) is kind]

    def ended_span_ids(self) -> list[str]:
        with self._lock:
            return [e.span.span_id for e in self.events if type(e) is TracingEvent
                    and e.type is TracingEventType.SPAN_ENDED]


class Exploding:
    name = "exploding"

    def bind(self, storage: Any) -> None:
        pass

    def export(self, event: Any) -> None:
        raise RuntimeError("exporter bug")

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def shutdown(self, timeout: float | None = None) -> None:
        pass


@pytest.fixture
def rec() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def obs(rec: EventRecorder, observe: Pipelines) -> Observability:
    return observe(rec, environment="test")


def test_observability_signals_without_a_span(obs, rec):
    obs.log("warn", "cache cold", data={"keys": 0})
    obs.metric("mastra.tokens", 12, labels={"model": "gpt-4o"})
    obs.score("t" * 32, "relevance", 0.75, reason="on topic", metadata={"v": 1})
    obs.feedback("t" * 32, "thumbs", "up", source="user", comment="great", metadata={"k": 2})
    (log,) = rec.of(LogEvent)
    assert (log.level, log.message, log.data) == ("warn", "cache cold", {"keys": 0})
    assert (log.trace_id, log.span_id) == (None, None)
    assert log.context == {"service_name": "svc", "environment": "test"}
    assert log.timestamp.tzinfo is not None
    (metric,) = rec.of(MetricEvent)
    assert (metric.name, metric.value, metric.labels) == ("mastra.tokens", 12.0,
                                                          {"model": "gpt-4o"})
    assert isinstance(metric.value, float)
    (score,) = rec.of(ScoreEvent)
    assert (score.trace_id, score.scorer_id, score.score, score.reason, score.metadata,
            score.span_id) == ("t" * 32, "relevance", 0.75, "on topic", {"v": 1}, None)
    (fb,) = rec.of(FeedbackEvent)
    assert (fb.trace_id, fb.feedback_type, fb.value, fb.source, fb.comment, fb.metadata,
            fb.span_id) == ("t" * 32, "thumbs", "up", "user", "great", {"k": 2}, None)


def test_span_signals_fill_ids_and_correlation_context(obs, rec):
    tracer = obs.get_default_instance()
    with tracer.start_span("agent", type=SpanType.AGENT_RUN, user_id="u-1",
                           session_id="s-1", thread_id="th-1", run_id="r-1") as root:
        with root.child("llm", type=SpanType.MODEL_GENERATION) as llm:
            llm.log("info", "calling model", data={"attempt": 1})
            llm.metric("latency_ms", 250.5, labels={"model": "gpt-4o"})
            llm.score("faithfulness", 1)
            llm.feedback("rating", 5, source="reviewer", comment="ok")
    # The span's correlation context, as Mastra's: ids, environment, service, and the
    # entity hierarchy (the model call inherits its agent's entity).
    agent = {"type": "agent", "id": "agent", "name": "agent"}
    expected_ctx = {"service_name": "svc", "environment": "test", "user_id": "u-1",
                    "session_id": "s-1", "thread_id": "th-1", "run_id": "r-1",
                    **{f"{level}entity_{k}": v for level in ("", "parent_", "root_")
                       for k, v in agent.items()}}
    for kind in (LogEvent, MetricEvent, ScoreEvent, FeedbackEvent):
        (event,) = rec.of(kind)
        assert event.trace_id == root.trace_id, kind
        assert event.span_id == llm.span_id, kind
        assert event.context == expected_ctx, kind
    assert rec.of(ScoreEvent)[0].score == 1.0


def test_observability_signals_pick_up_the_current_span(obs, rec):
    tracer = obs.get_default_instance()
    with tracer.start_span("agent", user_id="u-9") as root:
        obs.log("info", "inside")
        obs.feedback(root.trace_id, "thumbs", "down")
    log, fb = rec.of(LogEvent)[0], rec.of(FeedbackEvent)[0]
    assert (log.trace_id, log.span_id) == (root.trace_id, root.span_id)
    assert log.context["user_id"] == "u-9"
    assert (fb.trace_id, fb.span_id) == (root.trace_id, root.span_id)


def test_score_for_another_trace_does_not_borrow_the_current_span(obs, rec):
    tracer = obs.get_default_instance()
    with tracer.start_span("agent", user_id="u-1"):
        obs.score("f" * 32, "relevance", 0.1)
        obs.feedback("f" * 32, "thumbs", "up")
    for kind in (ScoreEvent, FeedbackEvent):
        (event,) = rec.of(kind)
        assert event.trace_id == "f" * 32
        assert event.span_id is None
        assert "user_id" not in event.context


def test_labels_are_copied_at_emit_time(obs, rec):
    labels = {"model": "a"}
    obs.metric("m", 1, labels=labels)
    labels["model"] = "changed"
    assert rec.of(MetricEvent)[0].labels == {"model": "a"}


def test_named_instances_carry_their_own_service(rec, observe):
    obs = observe.track(Observability(configs={
        "default": ObservabilityConfig(service_name="main", exporters=[rec]),
        "batch": ObservabilityConfig(service_name="batch-jobs", exporters=[rec]),
    }))
    obs.get_instance("batch").log("info", "from batch")
    obs.log("info", "from default")
    services = [e.context["service_name"] for e in rec.of(LogEvent)]
    assert services == ["batch-jobs", "main"]


def test_every_exporter_receives_signals_and_failures_are_contained(rec, observe):
    obs = observe(Exploding(), rec)
    obs.log("info", "a")
    obs.metric("m", 1)
    assert len(rec.of(LogEvent)) == 1 and len(rec.of(MetricEvent)) == 1
    assert obs.get_default_instance().failures["exporter:exploding"] == 2


def test_default_exporter_persists_every_signal(observe):
    store = InMemoryStore()
    exporter = DefaultExporter(strategy="batch-with-updates", max_batch_wait_ms=60_000)
    obs = observe(exporter, storage=store)
    tracer = obs.get_default_instance()
    for _ in range(5):
        obs.log("info", "x")
        obs.metric("m", 1)
        obs.score("t" * 32, "s", 1)
        obs.feedback("t" * 32, "thumbs", "up")
    assert exporter.buffered == 20  # held for the next batch, not written on this thread
    with tracer.start_span("agent") as root:
        root.log("info", "in span")
        root.score("s", 0.5)
    assert obs.flush(10)
    assert exporter.drops.total == 0 and exporter.buffered == 0
    trace = store.get_trace(root.trace_id)
    assert trace is not None and [s.name for s in trace.spans] == ["agent"]
    assert store.list_logs().total == 6 and store.list_metrics().total == 5
    assert store.list_scores().total == 6 and store.list_feedback().total == 5
    (in_span,) = store.list_logs(LogsFilter(trace_id=root.trace_id)).items
    assert (in_span.message, in_span.span_id, in_span.service_name) == (
        "in span", root.span_id, "svc")
    obs.shutdown()
