"""The tracing model: ids, nesting (threads, asyncio), lifecycle events, errors."""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading

import pytest

from mastra_storage import Observability, ObservabilityConfig, SpanType
from mastra_storage.tracing import Tracer, TracingEventType, current_span

from .helpers import RecordingExporter, found
from .pipelines import Pipelines


@pytest.fixture
def rec():
    return RecordingExporter()


@pytest.fixture
def tracer(rec: RecordingExporter, observe: Pipelines) -> Tracer:
    return observe(rec, environment="test").get_default_instance()


def kinds(rec):
    return [(e.type.value, e.span.name) for e in rec.events]


def test_ids_and_parentage(tracer, rec):
    with tracer.start_span("agent", type=SpanType.AGENT_RUN) as root:
        with root.child("llm", type=SpanType.MODEL_GENERATION) as llm:
            pass
    assert re.fullmatch(r"[0-9a-f]{32}", root.trace_id)
    assert re.fullmatch(r"[0-9a-f]{16}", root.span_id)
    assert llm.trace_id == root.trace_id and llm.parent_span_id == root.span_id
    assert root.parent_span_id is None
    assert kinds(rec) == [("span_started", "agent"), ("span_started", "llm"),
                          ("span_ended", "llm"), ("span_ended", "agent")]


def test_current_span_nests_through_context(tracer: Tracer) -> None:
    with tracer.start_span("outer") as outer:
        assert current_span() is outer
        inner = tracer.start_span("inner")  # parent from context
        assert inner.parent_span_id == outer.span_id
        inner.end()
    assert current_span() is None
    fresh = tracer.start_span("fresh")
    assert fresh.parent_span_id is None and fresh.trace_id != outer.trace_id
    fresh.end()


def test_new_trace_ignores_the_current_span(tracer: Tracer) -> None:
    with tracer.start_span("outer"):
        other = tracer.start_span("other", new_trace=True)
        assert other.parent_span_id is None
        other.end()


def test_asyncio_tasks_get_their_own_parent(tracer):
    async def step(name):
        with tracer.start_span(name) as s:
            await asyncio.sleep(0)
            child = tracer.start_span(f"{name}-child")
            child.end()
            return s, child

    async def main():
        with tracer.start_span("root") as root:
            results = await asyncio.gather(step("a"), step("b"))
        return root, results

    root, [(a, ac), (b, bc)] = asyncio.run(main())
    assert a.parent_span_id == root.span_id and b.parent_span_id == root.span_id
    assert ac.parent_span_id == a.span_id and bc.parent_span_id == b.span_id


def test_250_concurrent_asyncio_tasks_each_keep_their_parent(tracer):
    """Interleaved at every await, each task's spans nest under its own span."""
    async def step(i):
        with tracer.start_span(f"task-{i}") as s:
            await asyncio.sleep(0)
            with tracer.start_span(f"task-{i}-child") as c:
                await asyncio.sleep(0)
                grandchild = tracer.start_span(f"task-{i}-grandchild")
                await asyncio.sleep(0)
                grandchild.end()
            return s, c, grandchild

    async def main():
        with tracer.start_span("root") as root:
            results = await asyncio.gather(*(step(i) for i in range(250)))
        return root, results

    root, results = asyncio.run(main())
    assert len(results) == 250
    for s, c, g in results:
        assert s.parent_span_id == root.span_id
        assert c.parent_span_id == s.span_id and g.parent_span_id == c.span_id
        assert {s.trace_id, c.trace_id, g.trace_id} == {root.trace_id}


def test_threads_continue_a_trace_only_when_given_the_context(tracer):
    out = {}
    with tracer.start_span("root") as root:
        ctx = contextvars.copy_context()

        def with_ctx():
            s = tracer.start_span("in-ctx")
            out["ctx"] = s
            s.end()

        def without():
            s = tracer.start_span("no-ctx")
            out["plain"] = s
            s.end()

        t1 = threading.Thread(target=lambda: ctx.run(with_ctx))
        t2 = threading.Thread(target=without)
        t1.start(); t2.start(); t1.join(); t2.join()  # noqa: E702
        explicit = tracer.start_span("explicit", parent=root, new_trace=False)
        explicit.end()
    assert out["ctx"].parent_span_id == root.span_id
    assert out["plain"].parent_span_id is None
    assert explicit.parent_span_id == root.span_id


def test_end_is_idempotent_and_works_from_any_thread(tracer, rec):
    span = tracer.start_span("s")
    threads = [threading.Thread(target=span.end) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    span.end()
    assert [k for k, _ in kinds(rec)].count("span_ended") == 1
    span.update(output={"late": 1})  # after end: ignored
    assert [k for k, _ in kinds(rec)].count("span_updated") == 0


def test_context_manager_records_errors_and_reraises(tracer, rec):
    with pytest.raises(ZeroDivisionError), tracer.start_span("boom"):
        1 / 0  # noqa: B018
    ended = rec.events[-1]
    assert ended.type is TracingEventType.SPAN_ENDED
    err = ended.span.error
    assert err["name"] == "ZeroDivisionError" and "division" in err["message"]
    assert "Traceback" in err["stack"]
    assert "in test_context_manager_records_errors_and_reraises" in err["stack"]
    assert err["stack"].rstrip().endswith("ZeroDivisionError: division by zero")
    assert ended.span.ended_at is not None


def test_error_without_ending(tracer, rec):
    span = tracer.start_span("s")
    span.error(ValueError("bad"), end=False)
    assert rec.events[-1].type is TracingEventType.SPAN_UPDATED
    assert rec.events[-1].span.error["message"] == "bad"
    span.end()
    assert rec.events[-1].span.error["name"] == "ValueError"


def test_event_spans_only_emit_ended(tracer, rec):
    with tracer.start_span("root") as root:
        ev = root.event("chunk", type=SpanType.MODEL_CHUNK, output={"t": "hi"})
    ev_events = [e for e in rec.events if e.span.span_id == ev.span_id]
    assert [e.type for e in ev_events] == [TracingEventType.SPAN_ENDED]
    snap = ev_events[0].span
    assert snap.is_event and snap.output == {"t": "hi"} and snap.ended_at == snap.started_at
    assert snap.parent_span_id == root.span_id


def test_update_merges_attributes_and_metadata(tracer, rec):
    span = tracer.start_span("s", attributes={"a": 1}, metadata={"m": 1})
    span.update(attributes={"b": 2}, metadata={"m": 3}, output={"x": 1})
    span.end(attributes={"c": 3})
    final = rec.events[-1].span
    assert final.attributes == {"a": 1, "b": 2, "c": 3}
    assert final.metadata == {"m": 3} and final.output == {"x": 1}
    with pytest.raises(TypeError):
        span.update(trace_id="nope")


def test_snapshots_are_independent_of_later_changes(tracer, rec):
    span = tracer.start_span("s", metadata={"v": 1})
    span.update(metadata={"v": 2})
    span.end()
    started, updated, ended = (e.span for e in rec.events)
    assert started.metadata == {"v": 1} and updated.metadata == {"v": 2}
    assert started.ended_at is None and ended.ended_at is not None


def test_children_inherit_correlation_and_entities(tracer, rec):
    with tracer.start_span("support", type=SpanType.AGENT_RUN, user_id="u1", session_id="s1",
                           thread_id="t1", run_id="r1") as root:
        with root.child("wf", type=SpanType.WORKFLOW_RUN) as wf:
            step = wf.child("step", type=SpanType.WORKFLOW_STEP)
            step.end()
    snap = {e.span.name: e.span for e in rec.events if e.type is TracingEventType.SPAN_ENDED}
    assert snap["support"].entity_type == "agent" and snap["support"].entity_name == "support"
    assert snap["support"].service_name == "svc" and snap["support"].environment == "test"
    s = snap["step"]
    assert (s.user_id, s.session_id, s.thread_id, s.run_id) == ("u1", "s1", "t1", "r1")
    assert s.service_name == "svc"
    assert (s.parent_entity_type, s.parent_entity_name) == ("workflow_run", "wf")
    assert (s.root_entity_type, s.root_entity_name) == ("agent", "support")


def test_unknown_start_field_is_an_error(tracer):
    with pytest.raises(TypeError, match="bogus"):
        tracer.start_span("s", bogus=1)


def test_failing_processor_and_exporter_never_break_the_caller(rec, observe):
    class Broken:
        name = "broken"

        def process(self, span):
            raise RuntimeError("processor bug")

        def shutdown(self):
            pass

    class BrokenExporter(RecordingExporter):
        name = "broken-exporter"

        def export(self, event):
            raise RuntimeError("exporter bug")

    obs = observe(BrokenExporter(), rec, span_output_processors=[Broken()])
    tracer = obs.get_default_instance()
    with tracer.start_span("s"):
        pass
    assert len(rec.events) == 2  # the healthy exporter still got everything
    assert [e.span.name for e in rec.events] == ["s", "s"]  # processors run on first read
    assert tracer.failures["processor:broken"] == 2
    assert tracer.failures["exporter:broken-exporter"] == 2


def test_processor_returning_none_filters_the_event(rec, observe):
    class DropAll:
        name = "drop"

        def process(self, span):
            return None

        def shutdown(self):
            pass

    obs = observe(rec, span_output_processors=[DropAll()])
    tracer = obs.get_default_instance()
    tracer.start_span("s").end()
    assert [e.filtered for e in rec.events] == [True, True]
    assert rec.ended() == {}
    assert tracer.failures["filtered"] == 2


def test_processors_run_off_the_callers_thread_and_redact_what_is_stored(tmp_path, observe):
    import threading

    from mastra_storage import DefaultExporter, SensitiveDataFilter
    from mastra_storage.storage.sql.sqlite import SQLiteStore

    seen_threads = set()

    class Spy(SensitiveDataFilter):
        def process(self, span):
            seen_threads.add(threading.current_thread().name)
            return super().process(span)

    store = SQLiteStore(tmp_path / "r.db")
    store.init()
    obs = observe(DefaultExporter(), storage=store, span_output_processors=[Spy()])
    secret = {"apiKey": "sk-123", "nested": [{"password": "pw", "keep": 1}]}
    with obs.get_default_instance().start_span("agent", input=secret) as s:
        s.update(metadata={"token": "t", "promptTokens": 5})
    obs.shutdown()
    assert threading.current_thread().name not in seen_threads
    row = found(store.get_span(s.trace_id, s.span_id))
    assert row.input == {"apiKey": "[REDACTED]",
                         "nested": [{"password": "[REDACTED]", "keep": 1}]}
    assert row.metadata == {"token": "[REDACTED]", "promptTokens": 5}
    assert secret["apiKey"] == "sk-123"  # the caller's object is untouched


def test_instances_by_name(observe):
    a, b = RecordingExporter(), RecordingExporter()
    obs = observe.track(Observability(configs={
        "default": ObservabilityConfig(service_name="one", exporters=[a]),
        "other": ObservabilityConfig(service_name="two", exporters=[b]),
    }))
    obs.get_instance("other").start_span("x").end()
    assert len(b.events) == 2 and a.events == []
    assert obs.get_default_instance().service_name == "one"
    with pytest.raises(KeyError, match="have: default, other"):
        obs.get_instance("missing")
