"""``mastra-storage migrate URL --to vnext [--backfill] [--dry-run]`` on ClickHouse: the
same command as on PostgreSQL (tests/test_postgres_vnext.py), wired to the ClickHouse
``backfill_vnext``. On the chdb engine the other ClickHouse tests use."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from mastra_storage.cli.main import app
from mastra_storage.storage.clickhouse import ClickHouseStore
from tests.backends.clickhouse import session_provider

from .factories import full_span, sid, span, tid

runner = CliRunner()


@pytest.fixture
def classic(tmp_path_factory: pytest.TempPathFactory) -> Any:
    provider = session_provider(tmp_path_factory)
    if "path" not in provider.info:
        pytest.skip("the CLI's ClickHouse URL is checked on chdb")
    store = provider.info["build"]()
    yield store, f"chdb:///{provider.info['path'].lstrip('/')}?database={store.database}"
    store.close()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "240"})


def test_migrate_clickhouse_to_vnext_with_backfill(classic: Any) -> None:
    store, url = classic
    t = tid()
    root = full_span(t, sid())
    store.batch_create_spans([root, span(t, sid(), parent=root.span_id, end=None)])
    dry = invoke("migrate", url, "--to", "vnext", "--backfill", "--dry-run")
    assert dry.exit_code == 1, dry.output  # spans still to copy
    assert "would: apply migration 4" in dry.stdout and "would copy 2 span(s)" in dry.stdout
    done = invoke("migrate", url, "--to", "vnext", "--backfill")
    assert done.exit_code == 0, done.output
    assert "[clickhouse-vnext]" in done.stdout and "every span is in" in done.stdout
    vnext = ClickHouseStore(client=store.client, database=store.database, layout="vnext",
                            auto_migrate=False)
    try:
        got = vnext.get_trace(t)
        assert got is not None and got.spans[0].span_id == root.span_id
    finally:
        vnext.close()
    again = invoke("migrate", f"{url}&layout=vnext", "--dry-run")
    assert again.exit_code == 0 and "nothing to do (no-op)" in again.stdout
