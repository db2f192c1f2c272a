"""Production routing: everything on SQLite/Postgres, observability on ClickHouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mastra_storage import (
    DefaultExporter,
    Observability,
    ObservabilityConfig,
    UnsupportedStrategyError,
)
from mastra_storage.storage import CompositeStore
from mastra_storage.storage.capabilities import TracingStrategy
from mastra_storage.storage.clickhouse import ClickHouseStore
from mastra_storage.storage.sql.sqlite import SQLiteStore
from mastra_storage.workload import run_workload
from tests.backends.clickhouse import session_provider
from tests.helpers import found
from tests.pipelines import Pipelines


@pytest.fixture
def routed(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[CompositeStore, SQLiteStore, ClickHouseStore]]:
    provider = session_provider(tmp_path_factory)
    default = SQLiteStore(tmp_path / "app.db")
    clickhouse: ClickHouseStore = provider.info["build"]()
    composite = CompositeStore(default=default, domains={"observability": clickhouse})
    composite.init()
    yield composite, default, clickhouse
    composite.close()


def test_auto_resolves_through_the_routed_store_and_writes_only_clickhouse(
        routed: tuple[CompositeStore, SQLiteStore, ClickHouseStore],
        observe: Pipelines) -> None:
    composite, default, clickhouse = routed
    assert composite.get_store("observability") is clickhouse
    assert composite.provider == "clickhouse"
    exporter = DefaultExporter(max_batch_wait_ms=20)
    obs = observe(exporter, storage=composite, service_name="checkout")
    assert exporter.strategy is TracingStrategy.INSERT_ONLY
    assert exporter.store is clickhouse
    result = run_workload(obs.get_default_instance(), 25, spans_per_trace=6, payload_bytes=32)
    obs.shutdown()
    assert exporter.stats.rows_updated == 0  # insert-only: complete rows, no updates
    assert exporter.drops.total == 0
    assert clickhouse.list_traces().total == result.traces == 25
    n = clickhouse.query_rows(f"SELECT count() FROM {clickhouse.schema.spans} FINAL")[0][0]
    assert n == result.spans == 25 * 6
    assert default.list_traces().total == 0  # nothing went to the default store
    page = composite.list_traces(per_page=5)  # queries go to ClickHouse too
    assert page.total == 25 and len(page.spans) == 5
    assert found(composite.get_trace(page.spans[0].trace_id)).spans[0].span_id == \
        page.spans[0].span_id


@pytest.mark.parametrize("strategy", ["batch-with-updates", "realtime"])
def test_strategies_clickhouse_lacks_are_refused_on_the_composite(routed, strategy):
    composite, _default, _clickhouse = routed
    with pytest.raises(UnsupportedStrategyError) as info:
        Observability(storage=composite, configs={"default": ObservabilityConfig(
            service_name="checkout", exporters=[DefaultExporter(strategy=strategy)])})
    assert info.value.provider == "clickhouse" and info.value.strategy == strategy


def test_the_same_strategy_is_fine_on_the_default_store_alone(tmp_path):
    """The refusal comes from the routing, not from the strategy itself."""
    store = SQLiteStore(tmp_path / "solo.db")
    store.init()
    try:
        exporter = DefaultExporter(strategy="batch-with-updates")
        Observability(storage=store, configs={"default": ObservabilityConfig(
            service_name="x", exporters=[exporter])})
        assert exporter.strategy is TracingStrategy.BATCH_WITH_UPDATES
        exporter.shutdown()
    finally:
        store.close()
