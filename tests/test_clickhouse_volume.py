"""Volume: 100,000 spans through the DefaultExporter (auto → insert-only) into ClickHouse.

The workload emits spans in a tight CPU-bound loop, faster than an app that waits on
models and tools ever would; a sustained burst larger than ``max_buffer_size`` spans would
drop (counted, by design). The app here flushes every 500 traces (5,000 spans, half the
default bound), as an app pacing a bulk import would; the exporter runs with every
default setting and nothing may be dropped.
"""

from __future__ import annotations

import time

import pytest

from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
from mastra_storage.storage.capabilities import TracingStrategy
from mastra_storage.workload import run_workload
from tests.backends.clickhouse import session_provider

TRACES = 10_000
SPANS_PER_TRACE = 10


@pytest.mark.slow
def test_100k_spans_are_all_queryable_each_once(tmp_path_factory):
    provider = session_provider(tmp_path_factory)
    store = provider.info["build"]()
    try:
        exporter = DefaultExporter()
        obs = Observability(storage=store, configs={"default": ObservabilityConfig(
            service_name="volume", exporters=[exporter])})
        assert exporter.strategy is TracingStrategy.INSERT_ONLY
        t0 = time.perf_counter()
        tracer = obs.get_default_instance()

        def flush_every_500(n: int) -> None:
            if n % 500 == 499:
                obs.flush()

        result = run_workload(tracer, TRACES, spans_per_trace=SPANS_PER_TRACE,
                              on_trace=flush_every_500)
        obs.shutdown()
        elapsed = time.perf_counter() - t0
        assert result.spans == TRACES * SPANS_PER_TRACE == 100_000
        assert exporter.drops.total == 0, exporter.drops.snapshot()
        assert exporter.stats.rows_created == 100_000 and exporter.stats.rows_updated == 0

        spans = store.schema.spans
        # every span is there once: as many distinct keys as rows, with and without FINAL
        (rows, keys, traces), = store.query_rows(
            f"SELECT count(), uniqExact(traceId, spanId), uniqExact(traceId) FROM {spans}")
        assert (rows, keys, traces) == (100_000, 100_000, TRACES)
        (final_rows,), = store.query_rows(f"SELECT count() FROM {spans} FINAL")
        assert final_rows == 100_000
        (roots,), = store.query_rows(
            f"SELECT count() FROM {spans} FINAL WHERE ifNull(parentSpanId, '') = ''")
        assert roots == TRACES
        page = store.list_traces(per_page=100)
        assert page.total == TRACES and len(page.spans) == 100
        one = store.get_trace(page.spans[0].trace_id)
        assert one is not None and len(one.spans) == SPANS_PER_TRACE
        print(f"\n100k spans through DefaultExporter into ClickHouse: {elapsed:.1f}s "
              f"({exporter.stats.batches} batches)")
    finally:
        store.close()
