"""Running the Alembic history (top-level ``migrations/``) against any SQL backend.

The version table is ``mastra_storage_alembic_version``, not Alembic's default, so the
library's history never collides with the application's own Alembic migrations in the
same database. With ``schema=`` (PostgreSQL, MSSQL) the schema is created if missing and
both the spans table and the version table live in it.

Concurrent upgrades (several processes starting with ``auto_migrate=True``) are
serialised by a server-side lock held for the migration's transaction: PostgreSQL
``pg_advisory_xact_lock``, MSSQL ``sp_getapplock``; the second one then finds the
version row and does nothing.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ...errors import MastraStorageError
from ...model.spans import TABLE_SPANS

VERSION_TABLE = "mastra_storage_alembic_version"
# Key of the advisory/app lock that serialises migrations (a stable 31-bit number).
LOCK_KEY = zlib.crc32(b"mastra_storage.migrate") & 0x7FFFFFFF
LOCK_TIMEOUT_MS = 120_000


class SchemaNotReadyError(MastraStorageError):
    """A server store was opened without ``auto_migrate`` on a database lacking the table."""


def migrations_dir() -> Path:
    """Inside the wheel: ``mastra_storage/_migrations``; in a checkout: ``migrations/``."""
    pkg = Path(__file__).resolve().parents[2]
    for candidate in (pkg / "_migrations", pkg.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the mastra-storage Alembic migrations are missing from this install")


def _config(url: str, schema: str | None, output: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config(output_buffer=output) if output is not None else Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    cfg.attributes["version_table"] = VERSION_TABLE
    return cfg


def _lock(conn: sa.Connection) -> None:
    """Serialise concurrent migrations of one database (released at commit/rollback)."""
    name = conn.dialect.name
    if name == "sqlite":
        # pysqlite runs DDL outside a transaction; take the write lock first so a second
        # process waits (busy_timeout) and then finds the version row.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    elif name == "mssql":
        conn.execute(sa.text(
            "DECLARE @r INT; EXEC @r = sp_getapplock @Resource = :res, @LockMode = 'Exclusive', "
            "@LockOwner = 'Transaction', @LockTimeout = :timeout; "
            "IF @r < 0 THROW 50001, 'mastra-storage: could not take the migration lock', 1;"),
            {"res": f"mastra_storage_migrate_{LOCK_KEY}", "timeout": LOCK_TIMEOUT_MS})


def schema_ddl(dialect: sa.Dialect, schema: str) -> str:
    """The statement that creates ``schema`` if it is missing (PostgreSQL, MSSQL)."""
    ident = dialect.identifier_preparer.quote(schema)
    if dialect.name == "postgresql":
        return f"CREATE SCHEMA IF NOT EXISTS {ident}"
    if dialect.name == "mssql":
        # CREATE SCHEMA must be alone in its batch: run it through EXEC.
        create = f"CREATE SCHEMA {ident}".replace("'", "''")
        literal = schema.replace("'", "''")
        return f"IF SCHEMA_ID(N'{literal}') IS NULL EXEC(N'{create}')"
    raise ValueError(f"schema= is not supported by {dialect.name}")


def _ensure_schema(conn: sa.Connection, schema: str | None) -> None:
    if schema:
        conn.exec_driver_sql(schema_ddl(conn.dialect, schema))


def upgrade(engine: sa.Engine, revision: str = "head", schema: str | None = None) -> None:
    """Bring the database behind ``engine`` to ``revision``; a no-op when already there."""
    from alembic import command

    cfg = _config(engine.url.render_as_string(hide_password=False), schema)
    with engine.begin() as conn:
        _lock(conn)
        _ensure_schema(conn, schema)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


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
