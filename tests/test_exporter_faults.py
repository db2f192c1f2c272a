"""DefaultExporter under failure: retries, drops by reason, bounded buffer, flush, fork.

Faults are injected by wrapping a REAL SQLite store (tests/helpers.FaultyStore); the
worker's retry waits go through ``exporter.sleep``, recorded here instead of slept.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from mastra_storage import (
    DefaultExporter,
    Observability,
    ObservabilityConfig,
    SpanType,
    Tracer,
)
from mastra_storage.storage import CompositeStore, InMemoryStore
from mastra_storage.storage.sql.sqlite import SQLiteStore

from .helpers import FaultyStore
from .pipelines import Pipelines


@pytest.fixture
def real(tmp_path):
    store = SQLiteStore(tmp_path / "faults.db")
    store.init()
    yield store
    store.close()


Pipeline = tuple[Observability, Tracer, DefaultExporter, list[float], list[tuple[str, int]]]


@pytest.fixture
def pipeline(observe: Pipelines) -> Callable[..., Pipeline]:
    """``pipeline(store, **settings)``: (obs, tracer, exporter, delays, drops) for a
    DefaultExporter on ``store``; its retry waits are recorded in ``delays``, not slept,
    and ``observe`` shuts it down at teardown."""

    def build(store: Any, **kw: Any) -> Pipeline:
        delays: list[float] = []
        drops: list[tuple[str, int]] = []
        kw.setdefault("max_batch_wait_ms", 60_000)  # only explicit flushes write
        exporter = DefaultExporter(on_drop=lambda reason, n: drops.append((reason, n)), **kw)
        exporter.sleep = delays.append
        obs = observe(exporter, storage=store, service_name="faults")
        return obs, obs.get_default_instance(), exporter, delays, drops

    return build


def emit_events(tracer, n, name="e"):
    """n event spans: each emits exactly one span_ended event = one row."""
    root = tracer.start_span("root", new_trace=True)
    spans = [root.event(f"{name}{i}", output={"i": i}) for i in range(n)]
    return root, spans


def signal_writes(faulty):
    """An Event set after each successful create on the real store behind ``faulty``."""
    written = threading.Event()
    original = faulty.inner.batch_create_spans

    def spy(records):
        original(records)
        written.set()

    faulty.inner.batch_create_spans = spy
    return written


def count_rows(store):
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("select count(*) from mastra_ai_spans").scalar_one()


def test_store_that_fails_three_times_then_recovers_loses_nothing(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, delays, drops = pipeline(faulty)
    faulty.fail_next(3)
    root, _ = emit_events(tracer, 20)
    root.end()
    assert obs.flush(10)
    assert delays == [0.5, 1.0, 2.0]  # 500 ms, 1 s, 2 s
    assert exporter.stats.retries == 3
    assert drops == [] and exporter.drops.total == 0
    assert count_rows(real) == 21
    obs.shutdown()


def test_store_that_never_recovers_drops_exactly_its_events(real, caplog, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, delays, drops = pipeline(faulty, max_batch_size=1000)
    faulty.fail_forever()
    caplog.set_level(logging.WARNING, logger="mastra_storage.exporters")
    root, _ = emit_events(tracer, 10)
    root.end()
    assert obs.flush(10)
    assert delays == [0.5, 1.0, 2.0, 4.0]  # then give up
    # 1 root start + 1 root end + 10 events, all in one failed batch
    assert exporter.drops.snapshot() == {"retry-exhausted": 12}
    assert drops == [("retry-exhausted", 12)]
    assert any("retry-exhausted" in r.getMessage() for r in caplog.records)
    assert count_rows(real) == 0
    obs.shutdown()


def test_retry_schedule_follows_settings(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, delays, _ = pipeline(faulty, max_retries=2, retry_delay_ms=100)
    faulty.fail_forever()
    emit_events(tracer, 1)
    assert obs.flush(10)
    assert delays == [0.1, 0.2]
    assert exporter.drops.snapshot() == {"retry-exhausted": 2}
    obs.shutdown()


def test_bounded_buffer_drops_and_counts_when_storage_is_stuck(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, drops = pipeline(
        faulty, strategy="insert-only", max_batch_size=10, max_buffer_size=50,
        max_batch_wait_ms=0)
    faulty.block()
    root = tracer.start_span("root", new_trace=True)  # ignored by insert-only
    for i in range(10):
        root.event(f"first{i}")
    assert faulty.entered.wait(10)  # the worker holds the first batch inside the store
    assert exporter.buffered == 10  # in flight: they count against the bound
    for i in range(80):  # the caller never blocks although storage is stuck
        root.event(f"more{i}")
    assert exporter.buffered == 50
    assert exporter.drops.snapshot() == {"buffer-full": 40}
    assert sum(n for r, n in drops if r == "buffer-full") == 40
    faulty.release()
    assert exporter.flush(10)
    root.end()
    obs.shutdown()
    assert count_rows(real) == 10 + 40 + 1
    assert exporter.drops.snapshot() == {"buffer-full": 40}


def test_bound_counts_distinct_spans_so_a_burst_that_fits_is_never_dropped(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty, max_batch_size=10, max_buffer_size=20,
                                        max_batch_wait_ms=0)
    faulty.block()
    first = [tracer.start_span(f"first{i}", new_trace=True) for i in range(10)]
    assert faulty.entered.wait(10)  # some of their starts are being written (stuck)
    for s in first:
        s.end()  # same spans: a second entry each while in flight, not a second span
    second = [tracer.start_span(f"second{i}", new_trace=True) for i in range(10)]
    for s in second:
        s.end()
    assert exporter.buffered == 20
    assert exporter.drops.total == 0  # 20 distinct spans fit a 20-span bound
    tracer.start_span("one-too-many", new_trace=True)
    assert exporter.drops.snapshot() == {"buffer-full": 1}
    faulty.release()
    obs.shutdown()
    assert count_rows(real) == 20
    assert all(real.get_span(s.trace_id, s.span_id).ended_at for s in first + second)


def test_update_for_unwritten_span_is_held_then_written_once(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty, max_retries=0)
    faulty.fail_next(1)
    span = tracer.start_span("agent", type=SpanType.AGENT_RUN, new_trace=True, input={"q": 1})
    assert obs.flush(10)  # its create failed and was dropped (counted)
    assert exporter.drops.snapshot() == {"retry-exhausted": 1}
    span.update(metadata={"step": 1})
    assert exporter.flush(10)
    # The update had no row to update: it was held, and flush wrote the snapshot whole.
    assert exporter.stats.held == 1
    row = real.get_span(span.trace_id, span.span_id)
    assert row is not None and row.metadata == {"step": 1} and row.ended_at is None
    span.end(output={"ok": True})
    obs.shutdown()
    row = real.get_span(span.trace_id, span.span_id)
    assert row.output == {"ok": True} and row.ended_at is not None and row.input == {"q": 1}
    assert count_rows(real) == 1


def test_held_events_are_counted_once_when_they_are_finally_lost(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, drops = pipeline(faulty, max_retries=0)
    faulty.fail_next(1)
    span = tracer.start_span("agent", new_trace=True)
    assert obs.flush(10)  # the start is lost: 1 event
    span.update(metadata={"a": 1})
    span.update(metadata={"b": 2})  # two updates held for a row that does not exist
    faulty.fail_forever()
    obs.shutdown()  # the held snapshot cannot be written either: its 2 events are lost
    assert exporter.drops.snapshot() == {"retry-exhausted": 3}
    assert sum(n for _, n in drops) == 3
    assert count_rows(real) == 0


def test_end_of_span_whose_start_was_lost_writes_the_complete_row(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty, max_retries=0)
    faulty.fail_next(1)
    span = tracer.start_span("agent", new_trace=True, input={"q": 2})
    assert obs.flush(10)
    span.update(attributes={"a": 1})
    span.end(output={"answer": 42})
    obs.shutdown()
    row = real.get_span(span.trace_id, span.span_id)
    assert row.input == {"q": 2} and row.attributes == {"a": 1} and row.output == {"answer": 42}
    assert count_rows(real) == 1
    assert exporter.drops.snapshot() == {"retry-exhausted": 1}


def test_batch_with_updates_coalesces_and_updates_across_batches(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty)
    with tracer.start_span("quick", new_trace=True) as quick:
        quick.update(metadata={"m": 1})
    long = tracer.start_span("long", new_trace=True)
    assert obs.flush(10)
    # quick started, updated and ended inside one batch: one create, no update
    assert [(k, sorted(r.name for r in recs)) for k, recs in faulty.calls] == \
        [("create", ["long", "quick"])]
    long.end(output={"x": 1})
    assert obs.flush(10)
    assert faulty.calls[-1][0] == "update" and [r.name for r in faulty.calls[-1][1]] == ["long"]
    assert real.get_span(long.trace_id, long.span_id).output == {"x": 1}
    obs.shutdown()


def test_insert_only_writes_only_complete_rows(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty, strategy="insert-only")
    with tracer.start_span("a", new_trace=True) as a:
        a.update(metadata={"m": 1})
        a.child("b").end()
    obs.shutdown()
    kinds = {k for k, _ in faulty.calls}
    assert kinds == {"create"}
    assert all(r.ended_at is not None for _, recs in faulty.calls for r in recs)
    assert count_rows(real) == 2


def test_realtime_writes_each_event_as_it_comes(pipeline):
    store = FaultyStore(InMemoryStore())
    obs, tracer, exporter, _, _ = pipeline(store, strategy="realtime")
    span = tracer.start_span("a", new_trace=True)
    assert obs.flush(10)
    assert store.calls == [("create", [store.calls[0][1][0]])]
    span.update(metadata={"m": 1})
    assert obs.flush(10)
    span.end()
    assert obs.flush(10)
    assert [k for k, _ in store.calls] == ["create", "update", "update"]
    assert store.calls[1][1][0].metadata == {"m": 1} and store.calls[2][1][0].ended_at
    obs.shutdown()


def test_shutdown_flushes_and_later_events_are_counted(real, pipeline):
    obs, tracer, exporter, _, drops = pipeline(real)  # 60 s batch wait: only shutdown writes
    root, _ = emit_events(tracer, 5)
    root.end()
    obs.shutdown()
    assert count_rows(real) == 6
    tracer.start_span("late", new_trace=True).end()
    assert exporter.drops.snapshot() == {"after-shutdown": 2}
    obs.shutdown()  # idempotent


def test_flush_times_out_while_storage_is_blocked(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty)
    faulty.block()
    emit_events(tracer, 3)
    assert exporter.flush(timeout=0.05) is False
    faulty.release()
    assert exporter.flush(timeout=10) is True
    assert count_rows(real) == 4
    obs.shutdown()


def test_batch_size_triggers_a_write_without_flush(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty, strategy="insert-only", max_batch_size=5)
    written = signal_writes(faulty)
    root = tracer.start_span("root", new_trace=True)
    for i in range(5):
        root.event(f"e{i}")
    assert written.wait(10)  # the 5th event filled the batch; nobody called flush
    assert count_rows(real) == 5
    obs.shutdown()


def test_wait_time_triggers_a_write_without_flush(real, pipeline):
    faulty = FaultyStore(real)
    obs, tracer, exporter, _, _ = pipeline(faulty, strategy="insert-only", max_batch_wait_ms=20)
    written = signal_writes(faulty)
    tracer.start_span("only", new_trace=True).end()
    assert written.wait(10)
    assert count_rows(real) == 1
    obs.shutdown()


def test_disabled_observability_domain_counts_drops(pipeline):
    composite = CompositeStore(default=InMemoryStore(), domains={"observability": None})
    obs, tracer, exporter, _, drops = pipeline(composite)
    assert exporter.strategy is None
    tracer.start_span("x", new_trace=True).end()
    assert exporter.drops.snapshot() == {"unsupported-storage": 2}
    obs.shutdown()


def test_exporter_without_storage_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a storage"):
        Observability(configs={"default": ObservabilityConfig(
            service_name="x", exporters=[DefaultExporter()])})


@pytest.mark.parametrize("kwargs", [
    {"strategy": "fastest"}, {"max_batch_size": 0}, {"max_buffer_size": -1},
    {"max_retries": -1}, {"retry_delay_ms": 1.5},
])
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        DefaultExporter(**kwargs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_exporter_keeps_working_in_a_forked_child(real, pipeline):
    obs, tracer, exporter, _, _ = pipeline(real)
    parent_root = tracer.start_span("parent-before-fork", new_trace=True)
    parent_root.end()  # buffered in the parent (60 s wait), not yet written
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            with tracer.start_span("child-root", new_trace=True) as r:
                r.child("child-step").end()
            obs.shutdown()
            code = 0 if exporter.drops.total == 0 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    obs.shutdown()
    names = sorted(s.name for p in [real.list_traces(per_page=100)] for s in p.spans)
    assert names == ["child-root", "parent-before-fork"]
    assert count_rows(real) == 3  # parent's span once, child's two: nothing written twice


def test_buffered_spans_are_written_at_interpreter_exit(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from mastra_storage import DefaultExporter, Observability, ObservabilityConfig\n"
        "from mastra_storage import create_store\n"
        "store = create_store(sys.argv[1])\n"
        "obs = Observability(storage=store, configs={'default': ObservabilityConfig(\n"
        "    service_name='exit', exporters=[DefaultExporter()])})\n"  # 5 s batch wait
        "with obs.get_default_instance().start_span('no-shutdown-called') as s:\n"
        "    s.child('child').end()\n"
        "# no obs.shutdown(): the atexit hook must flush\n"
    )
    path = tmp_path / "exit.db"
    done = subprocess.run([sys.executable, "-c", script, f"sqlite:///{path}"], timeout=120)
    assert done.returncode == 0
    store = SQLiteStore(path)
    assert count_rows(store) == 2
    assert store.list_traces().spans[0].name == "no-shutdown-called"
