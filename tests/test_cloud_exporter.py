"""CloudExporter against a real HTTP collector: requests, bodies, batching, lifecycle.

Every exporter is built through ``make`` (registered with the ``observe`` fixture), so it
is shut down at teardown even when a test fails; time-based batching runs on a fake clock.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from mastra_storage import SpanType
from mastra_storage.exporters.cloud import CloudExporter  # typed (the package's is lazy)
from mastra_storage.model.jsonsafe import to_jsonable
from mastra_storage.model.spans import COLUMNS, SpanRecord
from mastra_storage.model.time import utc_now
from mastra_storage.tracing.events import (
    FeedbackEvent,
    LogEvent,
    MetricEvent,
    ScoreEvent,
    TracingEvent,
    TracingEventType,
)

from .collector import Collector, Reply
from .factories import full_span, span, tid
from .pipelines import FakeClock, Pipelines

pytestmark = pytest.mark.usefixtures("clean_cloud_env")

TOKEN = "tok_live_0123456789abcdef"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CTX = {"service_name": "svc", "user_id": "u-1", "session_id": "s-1", "environment": "prod"}
CTX_CAMEL = {"serviceName": "svc", "userId": "u-1", "sessionId": "s-1", "environment": "prod"}


def ended(record: SpanRecord) -> TracingEvent:
    return TracingEvent(TracingEventType.SPAN_ENDED, record)


def all_signals(trace_id: str = "a" * 32) -> list[Any]:
    """One event of each of the five signals."""
    now = utc_now()
    return [
        ended(span(trace_id, name="root")),
        LogEvent(now, "warn", "disk almost full", {"free": 0.1}, trace_id, "b" * 16, dict(CTX)),
        MetricEvent(now, "mastra.tokens", 42.0, {"provider": "openai"}, trace_id, "b" * 16,
                    dict(CTX)),
        ScoreEvent(now, trace_id, "relevance", 0.9, "on topic", "b" * 16, {"rubric": "v1"},
                   dict(CTX)),
        FeedbackEvent(now, trace_id, "thumbs", "up", "user", "looks good", "b" * 16,
                      {"locale": "en"}, dict(CTX)),
    ]


Make = Callable[..., CloudExporter]


@pytest.fixture
def make(collector: Collector, observe: Pipelines) -> Make:
    """``make(**settings)``: a CloudExporter sending to the test's collector."""

    def build(**kw: Any) -> CloudExporter:
        kw.setdefault("access_token", TOKEN)
        kw.setdefault("endpoint", collector.url)
        kw.setdefault("max_batch_wait_ms", 60_000)  # only size, flush and shutdown send
        return observe.track(CloudExporter(**kw))

    return build


# ------------------------------------------------------------------ import / protocol

def test_public_import_paths(observe: Pipelines) -> None:
    import mastra_storage
    from mastra_storage.exporters import CloudExporter as FromExporters
    from mastra_storage.exporters.base import Exporter

    assert mastra_storage.CloudExporter is CloudExporter is FromExporters
    ex = observe.track(CloudExporter(access_token="t"))
    assert isinstance(ex, Exporter)
    ex.bind(None)  # no storage needed


# ------------------------------------------------------------------ shapes

def test_headers_and_bodies_of_all_five_signals(collector: Collector, make: Make) -> None:
    ex = make(gzip=False)
    for event in all_signals():
        ex.export(event)
    assert ex.flush(10)
    reqs = collector.wait_for(5)
    assert len(reqs) == 5
    for r in reqs:
        assert r.method == "POST"
        assert r.headers["authorization"] == f"Bearer {TOKEN}"
        assert r.headers["content-type"] == "application/json"
        assert "content-encoding" not in r.headers
    by_key = {r.signal_key: r for r in reqs}
    assert set(by_key) == {"spans", "logs", "metrics", "scores", "feedback"}
    assert by_key["spans"].path == "/ai/spans/publish"
    assert by_key["feedback"].path == "/ai/feedback/publish"

    (log,) = by_key["logs"].records
    assert set(log) == {"logId", "timestamp", "level", "message", "data", "traceId", "spanId",
                        "correlationContext"}
    assert (log["level"], log["message"], log["data"]) == ("warn", "disk almost full",
                                                           {"free": 0.1})
    assert (log["traceId"], log["spanId"]) == ("a" * 32, "b" * 16)
    assert log["correlationContext"] == CTX_CAMEL
    assert ISO.match(log["timestamp"]) and re.fullmatch(r"[0-9a-f]{32}", log["logId"])

    (metric,) = by_key["metrics"].records
    assert (metric["name"], metric["value"], metric["labels"]) == ("mastra.tokens", 42.0,
                                                                  {"provider": "openai"})
    assert metric["correlationContext"] == CTX_CAMEL and "metricId" in metric

    (score,) = by_key["scores"].records
    assert {k: score[k] for k in ("traceId", "spanId", "scorerId", "score", "reason",
                                  "metadata")} == {
        "traceId": "a" * 32, "spanId": "b" * 16, "scorerId": "relevance", "score": 0.9,
        "reason": "on topic", "metadata": {"rubric": "v1"}}
    assert "scoreId" in score and ISO.match(score["timestamp"])

    (fb,) = by_key["feedback"].records
    assert {k: fb[k] for k in ("feedbackType", "value", "feedbackSource", "comment",
                               "metadata")} == {
        "feedbackType": "thumbs", "value": "up", "feedbackSource": "user",
        "comment": "looks good", "metadata": {"locale": "en"}}
    assert "feedbackId" in fb


def test_span_body_is_mastras_full_record_with_iso_timestamps(collector: Collector,
                                                              make: Make) -> None:
    ex = make()
    rec = full_span(tid(), "c" * 16)
    rec.error = {"message": "boom", "name": "ValueError", "stack": "..."}
    ex.export(ended(rec))
    assert ex.flush(10)
    (got,) = collector.wait_for(1)[0].records
    assert set(got) == {c.name for c in COLUMNS}
    for required in ("traceId", "spanId", "parentSpanId", "name", "spanType", "attributes",
                     "metadata", "startedAt", "endedAt", "input", "output", "error",
                     "isEvent", "createdAt", "updatedAt"):
        assert required in got
    for ts in ("startedAt", "endedAt", "createdAt"):
        assert ISO.match(got[ts]), (ts, got[ts])
    assert got["updatedAt"] is None
    expected = to_jsonable(rec.to_dict())
    expected["createdAt"] = got["createdAt"]  # filled at send time when the record has none
    assert got == expected
    assert got["startedAt"] == "2026-11-01T12:00:00.123Z"
    assert got["input"]["messages"][0]["content"] == "héllo 😀"
    assert got["error"]["message"] == "boom"


def test_only_span_ended_is_sent_and_model_chunks_are_skipped(collector: Collector,
                                                              make: Make) -> None:
    ex = make()
    t = tid()
    normal = span(t, "d" * 16, name="llm", span_type="model_generation")
    chunk = span(t, "e" * 16, name="chunk", span_type=SpanType.MODEL_CHUNK.value)
    ex.export(TracingEvent(TracingEventType.SPAN_STARTED, normal))
    ex.export(TracingEvent(TracingEventType.SPAN_UPDATED, normal))
    ex.export(ended(chunk))
    ex.export("not an event")  # type: ignore[arg-type]  # ignored, never raises
    assert ex.buffered == 0
    ex.export(ended(normal))
    assert ex.flush(10)
    (req,) = collector.wait_for(1)
    assert [s["spanId"] for s in req.records] == ["d" * 16]


def test_large_bodies_are_gzipped_small_ones_are_not(collector: Collector, make: Make) -> None:
    ex = make()
    ex.export(LogEvent(utc_now(), "info", "small"))
    assert ex.flush(10)
    ex.export(LogEvent(utc_now(), "info", "big", {"text": "lorem ipsum " * 500}))
    assert ex.flush(10)
    small, big = collector.wait_for(2)
    assert "content-encoding" not in small.headers and small.raw == small.body
    assert big.headers["content-encoding"] == "gzip"
    assert big.raw[:2] == b"\x1f\x8b" and len(big.raw) < len(big.body)
    assert big.records[0]["data"]["text"].startswith("lorem ipsum")
    assert ex.stats.gzipped == 1


def test_gzip_can_be_turned_off(collector: Collector, make: Make) -> None:
    ex = make(gzip=False)
    ex.export(LogEvent(utc_now(), "info", "big", {"text": "x" * 5000}))
    assert ex.flush(10)
    (req,) = collector.wait_for(1)
    assert "content-encoding" not in req.headers


# ------------------------------------------------------------------ batching

def test_batches_by_size(collector: Collector, make: Make) -> None:
    ex = make(max_batch_size=10)
    for i in range(25):
        ex.export(LogEvent(utc_now(), "info", f"m{i}"))
    first, second = collector.wait_for(2)
    assert [r["message"] for r in first.records] == [f"m{i}" for i in range(10)]
    assert [r["message"] for r in second.records] == [f"m{i}" for i in range(10, 20)]
    # the last 5 are not due (no size, 60 s wait): they stay buffered until flush
    assert ex.buffered == 5 and len(collector.requests) == 2
    assert ex.flush(10)
    third = collector.wait_for(3)[2]
    assert [r["message"] for r in third.records] == [f"m{i}" for i in range(20, 25)]


def test_batches_by_time_after_the_first_event(collector: Collector, make: Make,
                                               clock: FakeClock) -> None:
    """The batch goes out ``max_batch_wait_ms`` after its FIRST event, not its last."""
    ex = make(max_batch_wait_ms=250, clock=clock)  # 0.25 s: exact in binary, like the steps
    start = clock.now
    for i in range(3):  # at +0, +0.0625 and +0.125 s
        ex.export(MetricEvent(utc_now(), "m", float(i)))
        clock.advance(0.0625)
    clock.set(start + 0.25 - 2 ** -10)  # just before the deadline
    clock.wait_for_worker()
    assert collector.requests == [] and ex.buffered == 3
    clock.set(start + 0.25)  # the deadline: 0.25 s after the first event
    (req,) = collector.wait_for(1)
    assert [r["value"] for r in req.records] == [0.0, 1.0, 2.0]
    assert ex.buffered == 0


def test_each_signal_has_its_own_buffer_and_batch(collector: Collector, make: Make) -> None:
    ex = make(max_batch_size=3)
    for i in range(3):
        ex.export(LogEvent(utc_now(), "info", f"l{i}"))
    ex.export(ScoreEvent(utc_now(), "t" * 32, "s", 1.0))
    (req,) = collector.wait_for(1)  # the log buffer is full; the score waits alone
    assert req.signal_key == "logs" and len(req.records) == 3
    assert ex.buffered == 1
    assert ex.flush(10)
    assert collector.wait_for(2)[1].signal_key == "scores"


def test_flush_reports_a_timeout_and_completes_later(collector: Collector, make: Make) -> None:
    gate = threading.Event()
    collector.queue(Reply(gate=gate))
    ex = make()
    ex.export(LogEvent(utc_now(), "info", "held"))
    assert ex.flush(timeout=0.2) is False  # the request is held by the collector
    assert collector.entered.is_set()
    gate.set()
    assert ex.flush(10) is True
    assert ex.stats.sent["logs"] == 1


def test_bounded_buffer_drops_and_counts_buffer_full(collector: Collector, make: Make) -> None:
    gate = threading.Event()
    collector.queue(Reply(gate=gate))
    drops: list[tuple[str, int]] = []
    ex = make(max_batch_size=1, max_buffer_size=5,
              on_drop=lambda reason, n: drops.append((reason, n)))
    ex.export(LogEvent(utc_now(), "info", "first"))
    assert collector.entered.wait(10)  # the worker is inside the first request
    for i in range(8):
        ex.export(LogEvent(utc_now(), "info", f"next{i}"))
    assert ex.buffered == 5
    assert ex.drops.snapshot() == {"buffer-full": 3}
    assert drops == [("buffer-full", 1)] * 3
    gate.set()
    assert ex.flush(10)
    assert [r["message"] for r in collector.records("logs")] == ["first"] + [
        f"next{i}" for i in range(5)]


# ------------------------------------------------------------------ no token

def test_without_a_token_it_warns_once_and_does_nothing(collector: Collector, observe: Pipelines,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ex = observe.track(CloudExporter(endpoint=collector.url, max_batch_wait_ms=0))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "MASTRA_CLOUD_ACCESS_TOKEN" in text and "access_token" in text
    assert "cloud.mastra.ai" in text
    assert ex.enabled is False
    for _ in range(3):
        for event in all_signals():
            ex.export(event)
    assert ex.buffered == 0 and ex._thread is None  # no buffering, no worker
    assert ex.flush(1) is True
    ex.shutdown()
    assert collector.requests == []
    assert ex.drops.total == 0
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_empty_token_env_counts_as_missing(clean_cloud_env: pytest.MonkeyPatch,
                                           collector: Collector, observe: Pipelines) -> None:
    clean_cloud_env.setenv("MASTRA_CLOUD_ACCESS_TOKEN", "")
    ex = observe.track(CloudExporter(endpoint=collector.url))
    assert ex.enabled is False


# ------------------------------------------------------------------ shutdown

def test_shutdown_sends_everything_buffered(collector: Collector, make: Make) -> None:
    ex = make()
    for event in all_signals():
        ex.export(event)
    for i in range(7):
        ex.export(LogEvent(utc_now(), "info", f"extra{i}"))
    assert len(collector.requests) == 0  # nothing due yet
    ex.shutdown()
    assert sorted(r.signal_key for r in collector.requests) == sorted(
        ["spans", "logs", "metrics", "scores", "feedback"])
    assert len(collector.records("logs")) == 8
    # after shutdown: counted, not sent
    ex.export(LogEvent(utc_now(), "info", "late"))
    assert ex.drops.snapshot() == {"after-shutdown": 1}
    ex.shutdown()  # idempotent
    assert len(collector.requests) == 5


def test_observability_shutdown_flushes_the_cloud_exporter(collector: Collector, make: Make,
                                                           observe: Pipelines) -> None:
    obs = observe(make())
    tracer = obs.get_default_instance()
    with tracer.start_span("agent", type=SpanType.AGENT_RUN) as root:
        root.child("tool", type=SpanType.TOOL_CALL).end()
        root.log("info", "inside")
    obs.shutdown()
    assert [s["name"] for s in collector.records("spans")] == ["tool", "agent"]
    assert collector.records("logs")[0]["traceId"] == root.trace_id


# ------------------------------------------------------------------ never blocks the caller

def test_a_held_request_does_not_hold_the_caller(collector: Collector, make: Make,
                                                 observe: Pipelines) -> None:
    """The caller never waits on the network: while the collector holds the first request
    (as long as the test likes), 1,000 exports and 1,000 traced spans all return."""
    gate = threading.Event()
    collector.queue(Reply(gate=gate))
    ex = make(max_batch_size=100, max_batch_wait_ms=50)
    tracer = observe(ex).get_default_instance()
    ex.export(ended(span(tid(), name="warm-up")))
    assert collector.entered.wait(10)  # the worker is inside the first request

    def emit() -> None:
        for i in range(1000):
            ex.export(ended(span(tid(), name=f"s{i}")))
        for i in range(1000):  # through the tracing API: span start + end per emit
            tracer.start_span(f"t{i}", new_trace=True).end()

    caller = threading.Thread(target=emit)
    caller.start()
    caller.join(60)
    assert not caller.is_alive(), "the caller was held by the collector"
    # everything it emitted waits in the buffer: nothing else reached the collector
    assert not gate.is_set() and len(collector.requests) == 1
    assert ex.buffered == 2000 and ex.stats.sent["traces"] == 0
    gate.set()
    assert ex.flush(60)
    assert len(collector.records("spans")) == 2001
    assert all(len(r.records) <= 100 for r in collector.requests)
    assert ex.drops.total == 0


# ------------------------------------------------------------------ fork

@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_sends_its_own_events_only(collector: Collector, make: Make) -> None:
    ex = make()
    ex.export(LogEvent(utc_now(), "info", "parent-before-fork"))  # buffered in the parent
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            ex.export(LogEvent(utc_now(), "info", "child"))
            ok = ex.flush(10)
            ex.shutdown()
            code = 0 if ok and ex.drops.total == 0 and ex.stats.sent["logs"] == 1 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [r["message"] for r in collector.records("logs")] == ["child"]
    ex.shutdown()
    assert sorted(r["message"] for r in collector.records("logs")) == [
        "child", "parent-before-fork"]


# ------------------------------------------------------------------ interpreter exit

def test_events_are_sent_at_interpreter_exit_without_an_explicit_shutdown(
        collector: Collector) -> None:
    import subprocess
    import sys

    script = (
        "from mastra_storage import CloudExporter, Observability, ObservabilityConfig\n"
        "ex = CloudExporter(max_batch_wait_ms=600000)\n"
        "obs = Observability(configs={'default': ObservabilityConfig("
        "service_name='svc', exporters=[ex])})\n"
        "tracer = obs.get_default_instance()\n"
        "with tracer.start_span('exiting') as s:\n"
        "    s.log('info', 'bye')\n"
    )
    env = {**os.environ, "MASTRA_CLOUD_ACCESS_TOKEN": TOKEN,
           "MASTRA_CLOUD_TRACES_ENDPOINT": collector.url}
    env.pop("MASTRA_PROJECT_ID", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=60,
                          capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr
    assert [s["name"] for s in collector.records("spans")] == ["exiting"]
    assert [r["message"] for r in collector.records("logs")] == ["bye"]


# ------------------------------------------------------------------ span output processors

def test_processors_redact_before_sending_and_run_off_the_callers_thread(
        collector: Collector, make: Make, observe: Pipelines) -> None:
    from mastra_storage import SensitiveDataFilter

    threads: set[str] = set()

    class Spy(SensitiveDataFilter):
        def process(self, span: SpanRecord) -> SpanRecord:
            threads.add(threading.current_thread().name)
            return super().process(span)

    class DropNamed:
        name = "drop-named"

        def process(self, span: SpanRecord) -> SpanRecord | None:
            return None if span.name == "secret-step" else span

        def shutdown(self) -> None:
            pass

    ex = make()
    obs = observe(ex, span_output_processors=[Spy(), DropNamed()])
    tracer = obs.get_default_instance()
    with tracer.start_span("agent", input={"apiKey": "sk-123", "q": "hi"}) as root:
        root.child("secret-step").end()
        root.update(metadata={"password": "pw", "tier": "pro"})
    obs.shutdown()
    (sent,) = collector.records("spans")  # the filtered span is not sent, nor counted
    assert sent["name"] == "agent"
    assert sent["input"] == {"apiKey": "[REDACTED]", "q": "hi"}
    assert sent["metadata"] == {"password": "[REDACTED]", "tier": "pro"}
    assert "sk-123" not in collector.requests[0].body.decode()
    assert threading.current_thread().name not in threads and threads
    assert ex.drops.total == 0
