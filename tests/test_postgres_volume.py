"""Volume: 10,000 spans (1,000 traces x 10) through the public tracing API into PostgreSQL,
once per strategy; every row must be there and equal to what was emitted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mastra_storage import (
    DefaultExporter,
    Observability,
    ObservabilityConfig,
    UnsupportedStrategyError,
)
from mastra_storage.model.jsonsafe import to_jsonable
from mastra_storage.model.spans import COLUMNS
from mastra_storage.storage import TracesFilter
from mastra_storage.workload import run_workload
from tests.backends import Provider, selected

from .helpers import RecordingExporter

TRACES, SPANS_PER_TRACE = 1000, 10

pytestmark = pytest.mark.skipif("postgres" not in selected(),
                                reason="postgres not in MASTRA_TEST_BACKENDS")


def test_realtime_is_refused_by_postgres(pg: Provider) -> None:
    store = pg.make_store()
    try:
        with pytest.raises(UnsupportedStrategyError) as info:
            Observability(storage=store, configs={"default": ObservabilityConfig(
                service_name="volume", exporters=[DefaultExporter(strategy="realtime")])})
        assert "realtime" in str(info.value) and "postgres" in str(info.value)
    finally:
        store.close()


@pytest.mark.parametrize("strategy", ["batch-with-updates", "insert-only"])
def test_ten_thousand_spans_arrive_complete_and_exact(pg: Provider, strategy: str) -> None:
    store = pg.make_store()
    try:
        recorder = RecordingExporter()
        # The buffer holds every span at once: this test is about complete, exact rows, not
        # back-pressure (a loaded CI machine may emit faster than it writes).
        exporter = DefaultExporter(strategy=strategy, max_buffer_size=4 * TRACES * SPANS_PER_TRACE)
        obs = Observability(storage=store, configs={"default": ObservabilityConfig(
            service_name="volume", exporters=[exporter, recorder])})
        started = time.perf_counter()
        result = run_workload(obs.get_default_instance(), TRACES,
                              spans_per_trace=SPANS_PER_TRACE)
        obs.shutdown()
        elapsed = time.perf_counter() - started
        assert result.spans == TRACES * SPANS_PER_TRACE
        assert exporter.drops.total == 0, exporter.drops.snapshot()
        emitted = recorder.ended()
        assert len(emitted) == TRACES * SPANS_PER_TRACE

        page = store.list_traces(per_page=100)
        assert page.total == TRACES
        trace_ids = {key[0] for key in emitted}
        rows = 0
        for trace_id in trace_ids:
            trace = store.get_trace(trace_id)
            assert trace is not None and len(trace.spans) == SPANS_PER_TRACE, trace_id
            for got in trace.spans:
                want = emitted[(got.trace_id, got.span_id)]
                for c in COLUMNS:
                    if c.attr in ("created_at", "updated_at"):
                        continue
                    expected: Any = getattr(want, c.attr)
                    if c.kind == "json":
                        expected = to_jsonable(expected)
                    assert getattr(got, c.attr) == expected, (got.key, c.name)
                rows += 1
        assert rows == TRACES * SPANS_PER_TRACE
        errors = store.list_traces(TracesFilter(status="error"), per_page=100).total
        assert errors == result.failed_traces
        print(f"\n{strategy}: {rows} spans emitted+stored in {elapsed:.1f}s "
              f"({rows / elapsed:.0f} spans/s), {exporter.stats.batches} batches")
    finally:
        store.close()
