"""ClickHouse migrations: versioned, recorded once, safe to re-run."""

from __future__ import annotations

import pytest

from mastra_storage.storage.clickhouse import (
    MIGRATIONS,
    ClickHouseStore,
    applied_versions,
    migrate,
)
from tests.backends.clickhouse import session_provider

from .factories import sid, span, tid

ALL = [m.version for m in MIGRATIONS]


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    return session_provider(tmp_path_factory)


@pytest.fixture
def fresh(provider):
    """A store on a database that does not exist yet, not migrated."""
    db = provider.info["new_database"]()
    if "path" in provider.info:
        store = ClickHouseStore(path=provider.info["path"], database=db, auto_migrate=False)
    else:
        store = ClickHouseStore.from_url(provider.info["url"], database=db, auto_migrate=False)
    yield store
    store.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
    store.close()


def history_rows(store):
    """Physical rows of the history table (no FINAL): a re-run must not add any."""
    return store.query_rows(f"SELECT version, name FROM {store.schema.history} "
                            "ORDER BY version")


def test_first_run_applies_everything_and_records_it(fresh):
    assert migrate(fresh) == ALL
    assert applied_versions(fresh) == ALL
    assert history_rows(fresh) == [(m.version, m.name) for m in MIGRATIONS]
    tables = fresh.query_rows("SELECT name FROM system.tables WHERE database = {d:String} "
                              "ORDER BY name", {"d": fresh.database})
    assert tables == [(t,) for t in sorted([
        "mastra_ai_spans", "mastra_storage_migrations", "mastra_metric_events",
        "mastra_log_events", "mastra_score_events", "mastra_feedback_events",
        "mastra_storage_feedback_review"])]
    indexes = fresh.query_rows(
        "SELECT name FROM system.data_skipping_indices WHERE database = {d:String} "
        "AND table = 'mastra_ai_spans' ORDER BY name", {"d": fresh.database})
    assert [r[0] for r in indexes] == sorted(
        ["idx_traceId", "idx_runId", "idx_threadId", "idx_sessionId", "idx_requestId",
         "idx_userId", "idx_resourceId"])


def test_rerun_is_a_no_op(fresh):
    migrate(fresh)
    t = tid()
    fresh.batch_create_spans([span(t, sid())])
    assert migrate(fresh) == []
    assert migrate(fresh) == []
    assert history_rows(fresh) == [(m.version, m.name) for m in MIGRATIONS]
    assert fresh.get_trace(t) is not None  # data untouched


def test_init_migrates_once(fresh):
    fresh.auto_migrate = True
    fresh.init()
    fresh.init()
    assert applied_versions(fresh) == ALL


def test_interrupted_run_resumes(fresh):
    """Version 1 ran but was not recorded (a crash in between): the re-run repeats its
    idempotent statements, records it, and goes on."""
    from mastra_storage.storage.clickhouse import ddl

    fresh.command(ddl.create_database(fresh.schema))
    for statement in MIGRATIONS[0].statements(fresh.schema):
        fresh.command(statement)
    assert migrate(fresh) == ALL
    assert history_rows(fresh) == [(m.version, m.name) for m in MIGRATIONS]


def test_migrate_by_url_with_ttl(provider):
    if "path" not in provider.info:
        pytest.skip("URL form checked against chdb; a server URL is the same code path")
    db = provider.info["new_database"]()
    url = f"chdb:///{provider.info['path'].lstrip('/')}?database={db}"
    try:
        assert migrate(url) == ALL
        assert migrate(url) == []
        assert migrate(url, ttl_days=7) == []  # no new version, but the retention is set
        engine = provider.info["keeper"].query_rows(
            "SELECT engine_full FROM system.tables WHERE database = {d:String} AND "
            "name = 'mastra_ai_spans'", {"d": db})[0][0]
        assert "TTL toDateTime(startedAt) + toIntervalDay(7)" in engine
    finally:
        provider.info["keeper"].command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


def test_migrate_rejects_other_targets():
    with pytest.raises(TypeError):
        migrate(42)
