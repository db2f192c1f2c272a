"""Running the Alembic history (``mastra_storage/migrations/``) against any SQL backend.

The version table is ``mastra_storage_alembic_version``, not Alembic's default, so the
library's history never collides with the application's own Alembic migrations in the
same database. With ``schema=`` (PostgreSQL, MSSQL) the schema is created if missing and
both the spans table and the version table live in it.

Concurrent upgrades (several processes starting with ``auto_migrate=True``) are
serialised by the dialect's migration lock, held for the migration's transaction
(SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``pg_advisory_xact_lock``, MSSQL
``sp_getapplock``); the second one then finds the version row and does nothing.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ...errors import MastraStorageError
from ...model.spans import TABLE_SPANS
from .dialects import dialect_for

VERSION_TABLE = "mastra_storage_alembic_version"


class SchemaNotReadyError(MastraStorageError):
    """A server store was opened without ``auto_migrate`` on a database lacking the table."""


def migrations_dir() -> Path:
    """The Alembic environment shipped inside the package (checkout and wheel alike)."""
    path = Path(__file__).resolve().parents[2] / "migrations"
    if not (path / "env.py").is_file():
        raise FileNotFoundError(f"the mastra-storage Alembic migrations are missing: {path}")
    return path


def _config(url: str, schema: str | None, output: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config(output_buffer=output) if output is not None else Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    cfg.attributes["version_table"] = VERSION_TABLE
    return cfg


def schema_ddl(dialect: sa.Dialect, schema: str) -> str:
    """The statement that creates ``schema`` if it is missing (PostgreSQL, MSSQL)."""
    return dialect_for(dialect.name).create_schema_sql(schema)


def _ensure_schema(conn: sa.Connection, schema: str | None) -> None:
    if schema:
        conn.exec_driver_sql(schema_ddl(conn.dialect, schema))


def upgrade(engine: sa.Engine, revision: str = "head", schema: str | None = None) -> None:
    """Bring the database behind ``engine`` to ``revision``; a no-op when already there."""
    from alembic import command

    cfg = _config(engine.url.render_as_string(hide_password=False), schema)
    with engine.begin() as conn:
        dialect_for(conn.dialect.name).migration_lock(conn)
        _ensure_schema(conn, schema)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: sa.Engine, revision: str, schema: str | None = None) -> None:
    """Take the database behind ``engine`` back to ``revision`` (e.g. ``"0002"``: without
    migration 0003's read indexes), under the same lock as :func:`upgrade`."""
    from alembic import command

    cfg = _config(engine.url.render_as_string(hide_password=False), schema)
    with engine.begin() as conn:
        dialect_for(conn.dialect.name).migration_lock(conn)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def offline_sql(url: str, revision: str = "head", schema: str | None = None) -> str:
    """The DDL the upgrade would run, for review or for a DBA (``migrate --sql``)."""
    from alembic import command

    buf = io.StringIO()
    cfg = _config(offline_url(url), schema, output=buf)
    command.upgrade(cfg, revision, sql=True)
    return buf.getvalue()


def offline_url(url: str) -> str:
    """A SQLAlchemy URL for the dialect ``url`` names (offline mode never connects)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return text


def current_revision(engine: sa.Engine, schema: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE,
                                                     "version_table_schema": schema})
        return ctx.get_current_revision()


def require_table(engine: sa.Engine, schema: str | None = None) -> None:
    """Raise :class:`SchemaNotReadyError` (saying what to run) if the spans table is missing."""
    with engine.connect() as conn:
        present = sa.inspect(conn).has_table(TABLE_SPANS, schema=schema)
    if not present:
        where = f"schema {schema!r} of " if schema else ""
        url = engine.url.render_as_string(hide_password=True)
        flag = f" --schema {schema}" if schema else ""
        raise SchemaNotReadyError(
            f"table {TABLE_SPANS} does not exist in {where}{url}: run "
            f"`mastra-storage migrate '{url}'{flag}` (or create the store with "
            "auto_migrate=True, e.g. create_store(url, auto_migrate=True))")
