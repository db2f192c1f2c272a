"""Volume: 10,000 spans through the DefaultExporter into MongoDB, with each strategy the
provider supports; realtime is refused when the exporter is bound."""

from __future__ import annotations

import time

import pytest

from mastra_storage import (
    DefaultExporter,
    Observability,
    ObservabilityConfig,
    UnsupportedStrategyError,
)
from mastra_storage.storage import TracesFilter
from mastra_storage.storage.capabilities import TracingStrategy
from mastra_storage.storage.mongodb import MongoDBStore
from mastra_storage.workload import run_workload
from tests.backends import selected

pytestmark = pytest.mark.skipif("mongodb" not in selected(),
                                reason="mongodb not in MASTRA_TEST_BACKENDS")

TRACES = 1000
SPANS_PER_TRACE = 10
FLUSH_EVERY = 200  # traces: at most 4,000 events buffered, under the 10,000 default bound



def test_realtime_is_refused_and_auto_prefers_batch_with_updates(mstore: MongoDBStore) -> None:
    with pytest.raises(UnsupportedStrategyError) as info:
        Observability(storage=mstore, configs={"default": ObservabilityConfig(
            service_name="volume", exporters=[DefaultExporter(strategy="realtime")])})
    message = str(info.value)
    assert "realtime" in message and "mongodb" in message
    assert "batch-with-updates" in message and "insert-only" in message
    auto = DefaultExporter()
    obs = Observability(storage=mstore, configs={"default": ObservabilityConfig(
        service_name="volume", exporters=[auto])})
    assert auto.strategy is TracingStrategy.BATCH_WITH_UPDATES
    obs.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["batch-with-updates", "insert-only"])
def test_10k_spans_all_present_and_correct(mstore: MongoDBStore, strategy: str) -> None:
    exporter = DefaultExporter(strategy=strategy)
    obs = Observability(storage=mstore, configs={"default": ObservabilityConfig(
        service_name="volume", exporters=[exporter])})
    assert exporter.strategy is TracingStrategy(strategy)
    t0 = time.perf_counter()

    def pace(n: int) -> None:
        # The workload emits far faster than a test server stores; an app that outruns its
        # storage gets (counted) buffer-full drops by design. Waiting for the writer every
        # FLUSH_EVERY traces keeps the buffer bounded, so nothing may be dropped here.
        if (n + 1) % FLUSH_EVERY == 0:
            assert obs.flush(120)

    result = run_workload(obs.get_default_instance(), TRACES, spans_per_trace=SPANS_PER_TRACE,
                          on_trace=pace)
    obs.shutdown()
    elapsed = time.perf_counter() - t0

    assert result.traces == TRACES and result.spans == TRACES * SPANS_PER_TRACE == 10_000
    assert exporter.drops.total == 0, exporter.drops.snapshot()
    if strategy == "insert-only":
        assert exporter.stats.rows_created == 10_000 and exporter.stats.rows_updated == 0

    col = mstore.collection
    # every span once (the unique index would refuse a second copy; count it anyway)
    assert col.count_documents({}) == 10_000
    keys = list(col.aggregate([{"$group": {"_id": {"t": "$traceId", "s": "$spanId"}}},
                               {"$count": "n"}]))
    assert keys[0]["n"] == 10_000
    assert col.count_documents({"parentSpanId": None}) == TRACES
    assert col.count_documents({"endedAt": None}) == 0  # every span ended
    assert col.count_documents({"serviceName": "volume", "parentSpanId": None}) == TRACES
    sizes = list(col.aggregate([{"$group": {"_id": "$traceId", "n": {"$sum": 1}}},
                                {"$group": {"_id": "$n", "traces": {"$sum": 1}}}]))
    assert sizes == [{"_id": SPANS_PER_TRACE, "traces": TRACES}]

    page = mstore.list_traces(per_page=100)
    assert page.total == TRACES and len(page.spans) == 100 and page.has_more
    assert mstore.list_traces(TracesFilter(status="running")).total == 0
    failed = mstore.list_traces(TracesFilter(status="error")).total
    assert failed == result.failed_traces
    assert mstore.list_traces(TracesFilter(status="success")).total == TRACES - failed
    trace = mstore.get_trace(page.spans[0].trace_id)
    assert trace is not None and len(trace.spans) == SPANS_PER_TRACE
    root = trace.root
    assert root is not None and root.name == "support-agent"
    assert root.input["messages"][0]["role"] == "user" and root.tags[0] == "support"
    assert col.count_documents({"isEvent": {"$type": "bool"}}) == 10_000
    print(f"\n10k spans through DefaultExporter ({strategy}) into MongoDB: {elapsed:.1f}s "
          f"({exporter.stats.rows_created} created, {exporter.stats.rows_updated} updated, "
          f"{exporter.stats.batches} batches)")
