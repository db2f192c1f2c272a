"""DefaultExporter against every backend: strategy resolution and complete, exact rows."""

from __future__ import annotations

from typing import Any

import pytest

from mastra_storage import (
    DefaultExporter,
    Observability,
    SpanType,
    UnsupportedStrategyError,
)
from mastra_storage.model.jsonsafe import to_jsonable
from mastra_storage.model.spans import COLUMNS
from mastra_storage.storage.capabilities import CAPABILITIES, TracingStrategy
from mastra_storage.workload import run_workload

from .helpers import RecordingExporter
from .pipelines import Pipelines

STRATEGIES = ["realtime", "batch-with-updates", "insert-only", "auto"]


def _observe(observe: Pipelines, store: Any, strategy: str, **kw: Any
             ) -> tuple[Observability, DefaultExporter, RecordingExporter]:
    recorder = RecordingExporter()
    exporter = DefaultExporter(strategy=strategy, max_batch_wait_ms=50, **kw)
    obs = observe(exporter, recorder, storage=store, service_name="suite")
    return obs, exporter, recorder


def assert_rows_match(store, expected):
    for key, want in expected.items():
        got = store.get_span(*key)
        assert got is not None, f"span {key} missing"
        for c in COLUMNS:
            if c.attr in ("created_at", "updated_at"):
                continue
            assert getattr(got, c.attr) == to_jsonable(getattr(want, c.attr)) \
                if c.kind == "json" else getattr(got, c.attr) == getattr(want, c.attr), \
                f"{key} {c.name}: {getattr(got, c.attr)!r} != {getattr(want, c.attr)!r}"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_resolution_and_exact_rows(store, strategy, observe):
    cap = CAPABILITIES[store.provider]
    if strategy != "auto" and TracingStrategy(strategy) not in cap.supported:
        with pytest.raises(UnsupportedStrategyError) as info:
            _observe(observe, store, strategy)
        msg = str(info.value)
        assert strategy in msg and store.provider in msg
        for s in cap.supported:
            assert s.value in msg
        return
    obs, exporter, recorder = _observe(observe, store, strategy)
    expected_strategy = cap.preferred if strategy == "auto" else TracingStrategy(strategy)
    assert exporter.strategy is expected_strategy
    result = run_workload(obs.get_default_instance(), 40, spans_per_trace=7, payload_bytes=64)
    obs.shutdown()
    ended = recorder.ended()
    assert len(ended) == result.spans == 280
    assert exporter.drops.total == 0
    assert_rows_match(store, ended)
    traces = {k[0] for k in ended}
    for t in traces:
        assert len(store.get_trace(t).spans) == 7
    assert store.list_traces(per_page=100).total == 40


def test_long_running_span_is_visible_before_it_ends(store, observe):
    """batch-with-updates (and realtime) show a running span; insert-only only ended ones."""
    cap = CAPABILITIES[store.provider]
    obs, exporter, _ = _observe(observe, store, "auto")
    tracer = obs.get_default_instance()
    root = tracer.start_span("long-agent", type=SpanType.AGENT_RUN, input={"q": 1})
    assert obs.flush(10)
    running = store.get_span(root.trace_id, root.span_id)
    if cap.preferred is TracingStrategy.INSERT_ONLY:
        assert running is None
    else:
        assert running is not None and running.ended_at is None
        assert store.list_traces().spans[0].status == "running"
    root.update(metadata={"step": 1})
    root.end(output={"done": True})
    obs.shutdown()
    final = store.get_span(root.trace_id, root.span_id)
    assert final.output == {"done": True} and final.metadata == {"step": 1}
    assert final.ended_at is not None
    assert len(store.get_trace(root.trace_id).spans) == 1
