"""One Alembic history for every SQL dialect, driven through ``mastra-storage migrate``:
real PostgreSQL (create, no-op, adopt), offline DDL for PostgreSQL and MSSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from mastra_storage.cli.main import app
from mastra_storage.model.spans import COLUMNS
from mastra_storage.storage.sql.migrate import (
    VERSION_TABLE,
    current_revision,
    migrations_dir,
    offline_sql,
    offline_url,
    upgrade,
)
from mastra_storage.storage.sql.postgres import make_engine
from tests.backends import selected

runner = CliRunner()
needs_pg = pytest.mark.skipif("postgres" not in selected(),
                              reason="postgres not in MASTRA_TEST_BACKENDS")


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "240"})



def test_one_linear_history() -> None:
    script = ScriptDirectory(str(migrations_dir()))
    assert len(script.get_heads()) == 1
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


def test_offline_urls_name_the_dialect_only() -> None:
    assert offline_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert offline_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert offline_url("mssql+pyodbc://u:p@h/db") == "mssql+pyodbc://u:p@h/db"


def test_offline_postgres_ddl_with_schema() -> None:
    script = offline_sql("postgresql://nobody@db.invalid/mastra", schema="obs")
    assert script.index('CREATE SCHEMA IF NOT EXISTS obs') < script.index(
        f"CREATE TABLE obs.{VERSION_TABLE}")
    table = script[script.index("CREATE TABLE obs.mastra_ai_spans"):]
    for c in COLUMNS:
        assert re.search(rf'"?{c.name}"? ', table), c.name
    for twin in ("startedAtZ", "endedAtZ", "createdAtZ", "updatedAtZ"):
        assert f'"{twin}" TIMESTAMP WITH TIME ZONE DEFAULT now()' in table
    assert "CONSTRAINT obs_mastra_ai_spans_traceid_spanid_pk PRIMARY KEY" in table
    assert "CREATE INDEX obs_mastra_ai_spans_tags_gin_idx ON obs.mastra_ai_spans USING gin (tags)"\
        in table
    assert "CREATE OR REPLACE FUNCTION obs.trigger_set_timestamps()" in table
    assert "EXECUTE FUNCTION obs.trigger_set_timestamps()" in table
    assert table.rstrip().endswith("COMMIT;")


@pytest.mark.parametrize("url, marker", [
    ("postgresql://nobody@db.invalid/mastra", "JSONB"),
    ("mssql+pyodbc://sa:pw@db.invalid/mastra?driver=FreeTDS", "NVARCHAR(max)"),
])
def test_cli_prints_server_ddl_offline(url: str, marker: str) -> None:
    result = invoke("migrate", url, "--sql")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE mastra_ai_spans" in result.stdout and marker in result.stdout


@needs_pg
def test_cli_migrates_postgres_and_second_run_is_a_noop(db: str) -> None:
    first = invoke("migrate", db, "--schema", "cli")
    assert first.exit_code == 0, first.output
    assert "upgraded <none> → 0005" in first.stdout
    second = invoke("migrate", db, "--schema", "cli")
    assert second.exit_code == 0, second.output
    assert "nothing to do (no-op)" in second.stdout
    engine = make_engine(db)
    try:
        assert current_revision(engine, "cli") == "0005"
        assert sa.inspect(engine).has_table("mastra_ai_spans", schema="cli")
    finally:
        engine.dispose()


@needs_pg
def test_cli_adopts_mastras_table(db: str) -> None:
    from tests.test_postgres_schema import contract_sql, run_script

    run_script(db, contract_sql())
    engine = make_engine(db)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                'INSERT INTO mastra_ai_spans ("traceId", "spanId", name, "spanType", '
                '"isEvent", "startedAt", "startedAtZ", "createdAt") VALUES '
                "('t', 's', 'kept', 'agent_run', false, now(), now(), now())"))
        result = invoke("migrate", db)
        assert result.exit_code == 0, result.output
        assert "adopted the existing mastra_ai_spans table" in result.stdout
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM mastra_ai_spans")).scalar() == "kept"
        assert current_revision(engine) == "0005"
        upgrade(engine)  # and the library's own entry point agrees
    finally:
        engine.dispose()
