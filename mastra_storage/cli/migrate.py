"""``mastra-storage migrate URL``: create or upgrade the schema a store needs.

SQL backends run the Alembic history (``--sql`` prints its DDL instead, without
connecting), ClickHouse delegates to ``mastra_storage.storage.clickhouse.migrate`` and
MongoDB ensures its indexes. Re-running is always safe and reported as a no-op.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from ..errors import MissingDriverError
from .render import (
    EXIT_USAGE,
    SQLITE_SCHEMES,
    CLIError,
    cli_errors,
    console,
    redact_url,
    scheme_of,
)

SQL_SCHEMES = (*SQLITE_SCHEMES, "postgresql", "postgres", "mssql")
CLICKHOUSE_SCHEMES = ("clickhouse", "clickhouses", "chdb")
MONGODB_SCHEMES = ("mongodb",)  # scheme_of() folds mongodb+srv into mongodb
SCHEMA_SCHEMES = ("postgresql", "postgres", "mssql")


def migrate(
    url: Annotated[str, typer.Argument(
        metavar="URL", help="Store URL, e.g. sqlite:///./mastra.db, postgresql://user@host/db, "
                            "clickhouse://host")],
    sql: Annotated[bool, typer.Option(
        "--sql", help="Print the DDL instead of running it (SQL backends; no connection).")]
    = False,
    schema: Annotated[str | None, typer.Option(
        "--schema", help="Database schema (PostgreSQL, MSSQL).")] = None,
) -> None:
    """Create or upgrade the mastra_ai_spans table (or collection) behind URL."""
    out = console()
    with cli_errors(url):
        scheme = scheme_of(url)
        if schema is not None and scheme not in SCHEMA_SCHEMES:
            raise CLIError(f"--schema applies to PostgreSQL and MSSQL URLs, not {scheme}:",
                           EXIT_USAGE)
        if scheme in SQL_SCHEMES:
            if sql:
                _print_offline_sql(url, scheme, schema)
            else:
                _migrate_sql(out, url, schema)
        elif sql:
            raise CLIError(f"--sql is only available for SQL URLs "
                           f"({', '.join(SQL_SCHEMES)}), not {scheme}:", EXIT_USAGE)
        elif scheme in CLICKHOUSE_SCHEMES:
            _migrate_clickhouse(out, url, scheme)
        elif scheme in MONGODB_SCHEMES:
            _migrate_mongodb(out, url)
        elif scheme == "memory":
            raise CLIError(":memory: is an in-process store: there is nothing to migrate",
                           EXIT_USAGE)
        else:
            from ..storage.urls import create_store

            create_store(url, init=False)  # raises the "unknown scheme" error
            raise CLIError(f"don't know how to migrate {scheme}: URLs", EXIT_USAGE)


# ---------------------------------------------------------------------------- SQL

def _offline_url(url: str, scheme: str) -> str:
    """A SQLAlchemy URL naming the same dialect; offline mode never connects with it."""
    if scheme in SQLITE_SCHEMES:
        from ..storage.urls import sqlite_path

        return "sqlite:///" + sqlite_path(url.strip())
    rest = url.strip().split(":", 1)[1]
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg:" + rest
    return url.strip()


def _print_offline_sql(url: str, scheme: str, schema: str | None) -> None:
    from ..storage.sql.migrate import offline_sql

    # Plain stdout: the DDL is meant to be piped to a file or a DBA, unstyled.
    typer.echo(offline_sql(_offline_url(url, scheme), schema=schema), nl=False)


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from ..storage.sql.migrate import migrations_dir

    return ScriptDirectory(str(migrations_dir())).get_current_head()


def _migrate_sql(out: Console, url: str, schema: str | None) -> None:
    import sqlalchemy as sa

    from ..model.spans import TABLE_SPANS
    from ..storage.sql.migrate import current_revision, upgrade
    from ..storage.urls import create_store

    options: dict[str, Any] = {"schema": schema} if schema is not None else {}
    store = create_store(url, init=False, **options)
    try:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, sa.Engine):
            raise CLIError(f"the {store.provider} store has no SQLAlchemy engine to migrate")
        head = _head_revision()
        before = current_revision(engine, schema)
        had_table = sa.inspect(engine).has_table(TABLE_SPANS, schema=schema)
        where = redact_url(url) + (f" (schema {schema})" if schema else "")
        out.print(Text.assemble(("database  ", "bold"), where, f"  [{store.provider}]"))
        out.print(Text.assemble(("before    ", "bold"), _rev(before)))
        upgrade(engine, schema=schema)
        after = current_revision(engine, schema)
        out.print(Text.assemble(("after     ", "bold"), _rev(after), f"  (head {_rev(head)})"))
        if before == after:
            out.print(Text(f"already at revision {_rev(after)}: nothing to do (no-op)",
                           style="green"))
        elif before is None and had_table:
            out.print(Text(f"adopted the existing {TABLE_SPANS} table (created outside "
                           f"mastra-storage, e.g. by Mastra) and upgraded it to {_rev(after)}",
                           style="green"))
        else:
            out.print(Text(f"upgraded {_rev(before)} → {_rev(after)}", style="green"))
    finally:
        store.close()


def _rev(revision: str | None) -> str:
    return revision if revision is not None else "<none>"


# ---------------------------------------------------------------------------- others

def _migrate_clickhouse(out: Console, url: str, scheme: str) -> None:
    module_name = "mastra_storage.storage.clickhouse"
    if importlib.util.find_spec(module_name) is None:
        raise CLIError("ClickHouse support is not part of this build of mastra-storage "
                       f"({module_name} is missing)", EXIT_USAGE)
    driver = "chdb" if scheme == "chdb" else "clickhouse_connect"
    if importlib.util.find_spec(driver) is None:
        raise MissingDriverError("ClickHouse", "clickhouse", driver)
    module = importlib.import_module(module_name)
    run = getattr(module, "migrate", None)
    if not callable(run):
        raise CLIError(f"{module_name} has no migrate(url) function", EXIT_USAGE)
    out.print(Text.assemble(("database  ", "bold"), redact_url(url), "  [clickhouse]"))
    result = run(url)
    if result is not None:
        out.print(Text(str(result)))
    out.print(Text("ClickHouse schema is up to date (safe to re-run)", style="green"))


def _migrate_mongodb(out: Console, url: str) -> None:
    from ..storage.urls import create_store

    store = create_store(url, init=False)
    try:
        out.print(Text.assemble(("database  ", "bold"), redact_url(url), "  [mongodb]"))
        store.init()
        out.print(Text("MongoDB collection indexes ensured (idempotent: existing ones are "
                       "left as they are)", style="green"))
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("migrate")(migrate)
