"""Exporter behaviours Mastra's own exporters have (or that this library adds where
Mastra loses data): names, binding, out-of-order events, and the platform's quota pause.

The collector is the real loopback HTTP server of tests/collector.py; time is a fake
clock the test moves.
"""

from __future__ import annotations

from typing import Any

import pytest

import mastra_storage
from mastra_storage import (
    CloudExporter,
    DefaultExporter,
    MastraPlatformExporter,
    MastraStorageExporter,
    Observability,
    ObservabilityConfig,
)
from mastra_storage.model.time import utc_now
from mastra_storage.storage import InMemoryStore
from mastra_storage.tracing.events import LogEvent, TracingEvent, TracingEventType

from .collector import Reply
from .factories import span, tid

pytestmark = pytest.mark.usefixtures("clean_cloud_env")


def test_mastras_current_names_and_the_old_ones_are_the_same_classes():
    assert MastraStorageExporter is DefaultExporter
    assert MastraPlatformExporter is CloudExporter
    assert {"MastraStorageExporter", "MastraPlatformExporter"} <= set(mastra_storage.__all__)
    assert MastraStorageExporter.name == "mastra-storage-exporter"
    assert MastraPlatformExporter.name == "mastra-platform-exporter"


def test_an_exporter_can_not_be_rebound_to_another_store(observe):
    exporter = DefaultExporter()
    first, second = InMemoryStore(), InMemoryStore()
    observe(exporter, storage=first)
    observe.track(Observability(storage=first, configs={"default": ObservabilityConfig(
        service_name="same store again", exporters=[exporter])}))
    with pytest.raises(ValueError, match="already bound"):
        Observability(storage=second, configs={"default": ObservabilityConfig(
            service_name="other", exporters=[exporter])})
    assert exporter.store is first


def test_an_update_whose_row_has_gone_is_written_whole_and_counted(observe):
    store = InMemoryStore()
    exporter = DefaultExporter(strategy="batch-with-updates")
    obs = observe(exporter, storage=store)
    tracer = obs.get_default_instance()
    running = tracer.start_span("long", new_trace=True, input={"q": 1})
    assert obs.flush(10)
    store.batch_delete_traces([running.trace_id])  # retention, or someone, deleted it
    running.end(output={"a": 2})
    assert obs.flush(10)
    assert exporter.stats.missing_rows == 1 and exporter.drops.total == 0
    row = store.get_span(running.trace_id, running.span_id)
    assert row is not None and row.output == {"a": 2} and row.input == {"q": 1}


def test_a_late_start_never_overwrites_a_newer_snapshot(observe):
    """A replay or a bridge may deliver a span's update before its start."""
    store = InMemoryStore()
    exporter = DefaultExporter(strategy="batch-with-updates", max_batch_wait_ms=60_000)
    observe(exporter, storage=store)
    t = tid()
    started = span(t, "s1", end=None, name="step")
    updated = started.copy(output={"partial": True}, metadata={"v": 2})
    exporter.export(TracingEvent(TracingEventType.SPAN_UPDATED, updated))
    assert exporter.flush(10)  # held, then written whole at the flush
    exporter.export(TracingEvent(TracingEventType.SPAN_STARTED, started))
    assert exporter.flush(10)
    row = store.get_span(t, "s1")
    assert row is not None and row.output == {"partial": True} and row.metadata == {"v": 2}
    ended = updated.copy(ended_at=utc_now(), output={"final": 1})
    exporter.export(TracingEvent(TracingEventType.SPAN_ENDED, ended))
    exporter.export(TracingEvent(TracingEventType.SPAN_STARTED, started))  # very late
    assert exporter.flush(10)
    row = store.get_span(t, "s1")
    assert row is not None and row.output == {"final": 1} and row.ended_at is not None


# ---------------------------------------------------------------------------- quota pause

def platform(collector: Any, clock: Any, **kw: Any) -> Any:
    kw.setdefault("access_token", "tok")
    kw.setdefault("endpoint", collector.url)
    kw.setdefault("max_batch_wait_ms", 60_000)
    return MastraPlatformExporter(clock=clock, **kw)


def log(message: str = "m") -> LogEvent:
    return LogEvent(utc_now(), "info", message)


def test_every_upload_announces_the_quota_pause_capability(collector, clock, observe):
    exporter = observe.track(platform(collector, clock))
    exporter.export(log())
    assert exporter.flush(10)
    (request,) = collector.wait_for(1)
    assert request.headers["x-mastra-observability-capabilities"] == "quota-pause-v1"


def test_402_pauses_every_signal_then_a_probe_resumes(collector, clock, observe, caplog):
    collector.queue(Reply(402, headers={"x-mastra-observability-retry-after": "120"}))
    exporter = observe.track(platform(collector, clock))
    exporter.export(log("refused"))
    exporter.export(TracingEvent(TracingEventType.SPAN_ENDED, span(tid(), name="held")))
    assert exporter.flush(10)
    assert exporter.quota_paused and exporter.stats.quota_pauses == 1
    warnings = [r.getMessage() for r in caplog.records if "export paused" in r.getMessage()]
    assert len(warnings) == 1 and "retrying in 120 seconds" in warnings[0]
    sent = len(collector.requests)  # the log batch (402), perhaps the span batch too
    # paused: every signal is dropped at the door, nothing is sent
    exporter.export(log("while paused"))
    exporter.export(TracingEvent(TracingEventType.SPAN_ENDED, span(tid(), name="dropped")))
    assert exporter.flush(10) and len(collector.requests) == sent
    assert exporter.drops.snapshot()["quota-paused"] >= 3
    # the pause is over: the next batch first probes with an empty span batch
    clock.advance(121)
    exporter.export(log("after"))
    assert exporter.flush(10)
    probe, sent_log = collector.requests[-2:]
    assert probe.path.endswith("/ai/spans/publish") and probe.json == {"spans": []}
    assert probe.headers["x-mastra-observability-capabilities"] == "quota-pause-v1"
    assert sent_log.json["logs"][0]["message"] == "after"
    assert not exporter.quota_paused
    assert any("resumed" in r.getMessage() for r in caplog.records)


def test_a_probe_that_fails_keeps_the_pause(collector, clock, observe):
    collector.queue(Reply(402))  # default pause: 300 s
    exporter = observe.track(platform(collector, clock))
    exporter.export(log())
    assert exporter.flush(10)
    clock.advance(301)
    collector.queue(Reply(200, headers={"x-mastra-observability": "disabled",
                                        "x-mastra-observability-retry-after": "60"}))
    exporter.export(log("probe says still disabled"))
    assert exporter.flush(10)
    assert exporter.quota_paused and exporter.stats.probes == 1
    clock.advance(30)  # the platform asked for 60 s more
    exporter.export(log("too early"))
    assert exporter.flush(10) and exporter.stats.probes == 1
    clock.advance(31)
    collector.queue(Reply(503))
    exporter.export(log("probe fails"))
    assert exporter.flush(10)
    assert exporter.quota_paused and exporter.stats.probes == 2


def test_a_network_error_during_the_pause_keeps_it_paused(clock, observe):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    exporter = observe.track(MastraPlatformExporter(
        access_token="tok", endpoint=f"http://127.0.0.1:{port}", clock=clock,
        max_batch_wait_ms=60_000))
    exporter.quota_paused, exporter.probe_at = True, clock() - 1  # paused, probe due
    exporter.export(log())
    assert exporter.flush(10)
    assert exporter.quota_paused and exporter.stats.probes == 1
    assert exporter.drops.snapshot() == {"quota-paused": 1}


def test_a_200_saying_disabled_pauses_too(collector, clock, observe):
    collector.queue(Reply(200, headers={"x-mastra-observability": "disabled"}))
    exporter = observe.track(platform(collector, clock))
    exporter.export(log())
    assert exporter.flush(10)
    assert exporter.quota_paused and exporter.stats.sent["logs"] == 0


def test_the_project_id_is_stamped_into_every_signal(collector, clock, observe):
    exporter = observe.track(platform(collector, clock, project_id="proj_42"))
    exporter.export(TracingEvent(TracingEventType.SPAN_ENDED, span(tid(), name="s")))
    exporter.export(log())
    assert exporter.flush(10)
    by_key = {r.signal_key: r.records[0] for r in collector.wait_for(2)}
    assert by_key["spans"]["projectId"] == "proj_42"
    assert by_key["logs"]["correlationContext"]["projectId"] == "proj_42"


# ---------------------------------------------------------------------------- event-sourced

class AppendLog:
    """A real store reporting Mastra's v-next provider; records each create call."""

    provider = "postgres-vnext"

    def __init__(self) -> None:
        self.inner = InMemoryStore()
        self.calls: list[list[Any]] = []

    def get_store(self, domain: str) -> Any:
        return self

    def features(self) -> Any:
        return self.inner.features()

    def batch_create_spans(self, records: Any) -> None:
        self.calls.append([(r.span_id, r.ended_at is not None) for r in records])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def events_exporter(observe: Any, caplog: Any) -> tuple[Any, AppendLog, Any]:
    store = AppendLog()
    exporter = DefaultExporter(max_batch_wait_ms=60_000)
    obs = observe(exporter, storage=store)
    assert exporter.strategy is not None and exporter.strategy.value == "event-sourced"
    return obs.get_default_instance(), store, exporter


@pytest.mark.parametrize(("scenario", "expected"), [
    ("start", [[("s", False)]]),
    ("start+update", [[("s", False)]]),
    ("start+end", [[("s", False), ("s", True)]]),
    ("event", [[("e", True)]]),
])
def test_event_sourced_rows_are_what_mastra_writes(observe, caplog, scenario, expected):
    tracer, store, exporter = events_exporter(observe, caplog)
    if scenario == "event":  # a point-in-time span: only ever an end
        exporter.export(TracingEvent(TracingEventType.SPAN_ENDED,
                                     span(tid(), "e", is_event=True)))
    else:
        s = span(tid(), "s", end=None)
        exporter.export(TracingEvent(TracingEventType.SPAN_STARTED, s))
        if "update" in scenario:
            exporter.export(TracingEvent(TracingEventType.SPAN_UPDATED, s.copy(output=1)))
        if "end" in scenario:
            exporter.export(TracingEvent(TracingEventType.SPAN_ENDED,
                                         s.copy(ended_at=utc_now())))
    assert exporter.flush(10)
    assert store.calls == expected


def test_event_sourced_update_without_start_writes_nothing_and_warns_nothing(observe, caplog):
    tracer, store, exporter = events_exporter(observe, caplog)
    caplog.clear()
    exporter.export(TracingEvent(TracingEventType.SPAN_UPDATED, span(tid(), "u", end=None)))
    assert exporter.flush(10)
    assert store.calls == [] and exporter.drops.total == 0
    assert not [r for r in caplog.records if r.levelno >= 30]
