"""``mastra-storage migrate URL``: create or upgrade the schema a store needs.

SQL backends run the Alembic history (``--sql`` prints its DDL instead, without
connecting), ClickHouse delegates to ``mastra_storage.storage.clickhouse.migrate`` and
MongoDB ensures its indexes. Re-running is always safe and reported as a no-op.

``--to vnext`` (or ``?layout=vnext`` in the URL) works on Mastra's v-next layout instead,
on PostgreSQL (``PostgresStoreVNext``'s tables) and ClickHouse: it creates what that
layout lacks and, with ``--backfill``, copies the classic ``mastra_ai_spans`` into
``mastra_span_events`` (``backfill_vnext`` of either backend: batched, resumable,
idempotent, a progress bar, a final count check; the exit code is 1 when spans are still
missing). ``--dry-run`` prints what it would do and changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from ..errors import MissingDriverError
from ..storage.urls import split_layout, split_schema
from .render import (
    EXIT_FAILURE,
    EXIT_USAGE,
    SQLITE_SCHEMES,
    CLIError,
    SchemaOpt,
    UrlArg,
    cli_errors,
    console,
    progress,
    redact_url,
    resolve_url,
    scheme_of,
    timeout_options,
)

SQL_SCHEMES = (*SQLITE_SCHEMES, "postgresql", "postgres", "mssql")
CLICKHOUSE_SCHEMES = ("clickhouse", "clickhouses", "chdb")
MONGODB_SCHEMES = ("mongodb",)  # scheme_of() folds mongodb+srv into mongodb
SCHEMA_SCHEMES = ("postgresql", "postgres", "mssql")
PG_SCHEMES = ("postgresql", "postgres")
VNEXT = "vnext"
LAYOUTS = ("classic", VNEXT)


def migrate(
    url: UrlArg = None,
    sql: Annotated[bool, typer.Option(
        "--sql", help="Print the DDL instead of running it (SQL backends; no connection).")]
    = False,
    schema: SchemaOpt = None,
    backfill: Annotated[bool, typer.Option(
        "--backfill", help="Also rewrite old rows in the current format, with progress "
                           "(MongoDB: ISO-string timestamps of earlier versions → BSON "
                           "dates; --to vnext: copy mastra_ai_spans into mastra_span_events).")]
    = False,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="LAYOUT", show_default=False,
        help="Table layout to move to: vnext (Mastra's v-next tables: PostgreSQL's "
             "PostgresStoreVNext, ClickHouse v-next; the same as ?layout=vnext) or classic.")]
    = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="With --to vnext: print what would be done (tables, backfill); "
                          "change nothing.")] = False,
    metadata_index: Annotated[bool | None, typer.Option(
        "--metadata-index/--no-metadata-index", show_default=False,
        help="SQLite, PostgreSQL: install (or remove) the roots' metadata index: a trace list "
             "filtered by a metadata key reads an index instead of every root, for a write "
             "cost every writer pays (docs/bench.md). PostgreSQL gets it with migration "
             "0005, and keeps it removed once removed; on SQLite it is optional (its "
             "triggers cost Mastra's writer nearly half its throughput). Default: leave it "
             "as it is.")] = None,
) -> None:
    """Create or upgrade the tables (or collections) of every signal behind URL."""
    out = console()
    with cli_errors(url, "migrate") as err:
        url = err.url = resolve_url(url, schema)
        url, schema = split_schema(url)
        scheme = scheme_of(url)
        if to is not None and to.strip().lower() not in LAYOUTS:
            raise CLIError(f"--to must be one of {', '.join(LAYOUTS)}, got {to!r}", EXIT_USAGE)
        wanted = to.strip().lower() if to is not None else None
        if _layout_of(url, scheme, wanted) == VNEXT:
            if scheme in PG_SCHEMES:
                url, _ = split_layout(url)
                if sql:
                    _print_vnext_sql(schema)
                else:
                    _migrate_pg_vnext(out, url, schema, backfill, dry_run)
                return
            if scheme in CLICKHOUSE_SCHEMES and not sql:
                _migrate_clickhouse_vnext(out, url, scheme, backfill, dry_run)
                return
            if sql:
                raise CLIError("--sql with --to vnext is only available for PostgreSQL URLs "
                               "(ClickHouse: mastra_storage.storage.clickhouse.offline_sql)",
                               EXIT_USAGE)
            raise CLIError(f"the v-next layout exists for PostgreSQL and ClickHouse, not "
                           f"{scheme}:", EXIT_USAGE)
        if dry_run:
            raise CLIError("--dry-run goes with --to vnext (the other migrations print "
                           "their DDL with --sql)", EXIT_USAGE)
        if metadata_index is not None and (scheme not in (*SQLITE_SCHEMES, *PG_SCHEMES)
                                           or sql):
            raise CLIError("--metadata-index / --no-metadata-index are for SQLite and "
                           "PostgreSQL, run against the database (not with --sql)",
                           EXIT_USAGE)
        if scheme in SQL_SCHEMES:
            if sql:
                _print_offline_sql(url, scheme, schema)
            else:
                _migrate_sql(out, url, schema, metadata_index)
                if backfill:
                    out.print(Text("--backfill: nothing to do for SQL stores (a migration "
                                   "backfills the columns it adds)", style="dim"))
        elif sql:
            raise CLIError(f"--sql is only available for SQL URLs "
                           f"({', '.join(SQL_SCHEMES)}), not {scheme}:", EXIT_USAGE)
        elif scheme in CLICKHOUSE_SCHEMES:
            _migrate_clickhouse(out, url, scheme)
        elif scheme in MONGODB_SCHEMES:
            _migrate_mongodb(out, url, backfill)
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


def _migrate_sql(out: Console, url: str, schema: str | None,
                 metadata_index: bool | None = None) -> None:
    import sqlalchemy as sa

    from ..model.spans import TABLE_SPANS
    from ..storage.sql.migrate import current_revision, upgrade
    from ..storage.urls import create_store

    options: dict[str, Any] = {"schema": schema} if schema is not None else {}
    if scheme_of(url) in SQLITE_SCHEMES:
        from ..storage.urls import check_sqlite_file, sqlite_path

        check_sqlite_file(sqlite_path(url), write=True)  # the path and the fix, up front
    store = create_store(url, init=False, **options, **timeout_options(url))
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
        if metadata_index is not None:
            _metadata_index(out, engine, metadata_index, schema)
    finally:
        store.close()


def _metadata_index(out: Console, engine: Any, wanted: bool, schema: str | None) -> None:
    from ..storage.sql import root_metadata

    if not wanted:
        root_metadata.remove(engine, schema)
        out.print(Text("metadata index: removed (or was not there)", style="green"))
        return
    built = root_metadata.install(engine, schema)
    with engine.connect() as conn:
        roots = root_metadata.indexed_roots(conn, schema)
    state = "installed" if built else "already installed"
    out.print(Text(f"metadata index: {state}, {roots:,} root spans indexed", style="green"))


def _rev(revision: str | None) -> str:
    return revision if revision is not None else "<none>"


def _layout_of(url: str, scheme: str, wanted: str | None) -> str:
    """The layout to migrate: ``--to``, else the URL's ``?layout=``, else classic; both
    given and different is a usage error."""
    in_url: str | None = None
    if scheme in PG_SCHEMES:
        _, in_url = split_layout(url)
    elif scheme in CLICKHOUSE_SCHEMES:
        from urllib.parse import parse_qsl, urlsplit

        found = [v.strip().lower() for k, v in parse_qsl(urlsplit(url).query) if k == "layout"]
        in_url = VNEXT if VNEXT in found else (found[0] if found else None)
    if wanted is not None and in_url is not None and (in_url == VNEXT) != (wanted == VNEXT):
        raise CLIError(f"--to {wanted} contradicts ?layout={in_url} in the URL: name the "
                       "layout once", EXIT_USAGE)
    return VNEXT if VNEXT in (wanted, in_url) else "classic"


# ---------------------------------------------------------------------------- v-next

def _print_vnext_sql(schema: str | None) -> None:
    import sqlalchemy as sa

    from ..model.signals import SIGNAL_TABLES
    from ..storage.sql.dialects.postgres import PostgresDialect
    from ..storage.sql.pg_vnext_ddl import offline_sql

    dialect = PostgresDialect()
    metadata = sa.MetaData()
    tables = [dialect.build_signal_table(metadata, schema, t.table, t.columns)
              for t in SIGNAL_TABLES.values()]
    typer.echo(offline_sql(schema, tables), nl=False)


def _migrate_pg_vnext(out: Console, url: str, schema: str | None, backfill: bool,
                      dry_run: bool) -> None:
    """Create what the v-next layout lacks (Mastra's PostgresStoreVNext tables), then, with
    ``backfill``, copy the classic spans into it."""
    from ..storage.sql.pg_vnext import PostgresVNextStore
    from ..storage.sql.pg_vnext_ddl import ensure

    options: dict[str, Any] = {"schema": schema} if schema is not None else {}
    store = PostgresVNextStore(url, **options, **timeout_options(url))
    try:
        where = redact_url(url) + (f" (schema {schema})" if schema else "")
        out.print(Text.assemble(("database  ", "bold"), where, f"  [{store.provider}]"))
        plan = ensure(store.engine, store.schema, [c.table for c in store.signals.values()],
                      dry_run=dry_run)
        verb = "would" if dry_run else "did"
        if plan.empty:
            out.print(Text("the v-next layout is complete: nothing to do (no-op)",
                           style="green"))
        for line in plan.lines():
            out.print(Text(f"{verb}: {line}", style="dim" if dry_run else "green"))
        if backfill:
            from ..storage.sql.pg_vnext_backfill import BackfillProgress, backfill_vnext

            with progress("backfill: mastra_ai_spans → mastra_span_events") as bar:
                task = bar.add_task("backfill", total=None)

                def step(p: BackfillProgress) -> None:
                    bar.update(task, total=p.spans_total, completed=p.spans_done)

                report = backfill_vnext(store, dry_run=dry_run, progress=step)
            _report(out, report, dry_run)
    finally:
        store.close()


def _migrate_clickhouse_vnext(out: Console, url: str, scheme: str, backfill: bool,
                              dry_run: bool) -> None:
    """The ClickHouse v-next migrations, then, with ``backfill``, the copy of the classic
    spans (``backfill_vnext`` of the ClickHouse package)."""
    _clickhouse_driver(scheme)
    from ..storage.clickhouse import ClickHouseStore, backfill_vnext
    from ..storage.clickhouse.migrations import applied_versions, migrations_for

    store = ClickHouseStore.from_url(url, auto_migrate=False, layout=VNEXT,
                                     **timeout_options(url))
    try:
        out.print(Text.assemble(("database  ", "bold"), redact_url(url), "  [clickhouse-vnext]"))
        if dry_run:
            try:
                done = set(applied_versions(store))
            except Exception:  # no database or no history table yet: everything is pending
                done = set()
            todo = [m for m in migrations_for(store.schema) if m.version not in done]
            if not todo:
                out.print(Text("the v-next layout is complete: nothing to do (no-op)",
                               style="green"))
            for m in todo:
                out.print(Text(f"would: apply migration {m.version} ({m.name})", style="dim"))
        else:
            out.print(Text(str(store.migrate())))
        if backfill:
            from ..storage.clickhouse.backfill import BackfillProgress

            with progress("backfill: mastra_ai_spans → mastra_span_events") as bar:
                task = bar.add_task("backfill", total=None)

                def step(p: BackfillProgress) -> None:
                    bar.update(task, total=p.days_total, completed=p.days_done)

                report = backfill_vnext(store, dry_run=dry_run, progress=step)
            _report(out, report, dry_run)
    finally:
        store.close()


def _report(out: Console, report: Any, dry_run: bool) -> None:
    """Print a backfill report; exit 1 when spans are still missing from the v-next
    table (after a dry run too: a backfill is then still needed)."""
    out.print(Text(str(report), style="green" if report.complete else "yellow"))
    if report.complete:
        return
    if dry_run:
        raise typer.Exit(EXIT_FAILURE)
    raise CLIError(f"{report.missing_spans:,} span(s) of mastra_ai_spans are not in "
                   "mastra_span_events yet", EXIT_FAILURE,
                   hint="run the same command again: it resumes where it stopped")


# ---------------------------------------------------------------------------- others

def _clickhouse_driver(scheme: str) -> None:
    module_name = "mastra_storage.storage.clickhouse"
    if importlib.util.find_spec(module_name) is None:
        raise CLIError("ClickHouse support is not part of this build of mastra-storage "
                       f"({module_name} is missing)", EXIT_USAGE)
    driver = "chdb" if scheme == "chdb" else "clickhouse_connect"
    if importlib.util.find_spec(driver) is None:
        raise MissingDriverError("ClickHouse", "clickhouse", driver)


def _migrate_clickhouse(out: Console, url: str, scheme: str) -> None:
    _clickhouse_driver(scheme)
    module_name = "mastra_storage.storage.clickhouse"
    module = importlib.import_module(module_name)
    run = getattr(module, "migrate", None)
    if not callable(run):
        raise CLIError(f"{module_name} has no migrate(url) function", EXIT_USAGE)
    out.print(Text.assemble(("database  ", "bold"), redact_url(url), "  [clickhouse]"))
    result = run(url)
    if result is not None:
        out.print(Text(str(result)))
    out.print(Text("ClickHouse schema is up to date (safe to re-run)", style="green"))


def _migrate_mongodb(out: Console, url: str, backfill: bool = False) -> None:
    from ..storage.urls import create_store

    store = create_store(url, init=False, **timeout_options(url))
    try:
        out.print(Text.assemble(("database  ", "bold"), redact_url(url), "  [mongodb]"))
        store.init()
        out.print(Text("MongoDB collection indexes ensured (idempotent: existing ones are "
                       "left as they are)", style="green"))
        if backfill:
            _backfill_mongodb(out, store)
    finally:
        store.close()


def _backfill_mongodb(out: Console, store: Any) -> None:
    """``migrate_timestamps`` in a worker thread, with a bar counting what is left."""
    import threading

    from ..storage.mongodb.store import TIMESTAMP_FIELDS

    query = {"$or": [{f: {"$type": "string"}} for f in TIMESTAMP_FIELDS]}
    todo = store.collection.count_documents(query)
    if not todo:
        out.print(Text("backfill: every timestamp is already a BSON date", style="green"))
        return
    done: dict[str, Any] = {}

    def work() -> None:
        try:
            done["changed"] = store.migrate_timestamps()
        except BaseException as exc:  # reported on the main thread
            done["error"] = exc

    worker = threading.Thread(target=work, name="mastra-backfill", daemon=True)
    with progress("backfill: timestamps → BSON dates", todo) as bar:
        task = bar.add_task("backfill", total=todo)
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            left = store.collection.count_documents(query)
            bar.update(task, completed=max(0, todo - left))
    if "error" in done:
        raise done["error"]
    out.print(Text(f"backfill: {done.get('changed', 0):,} document(s) converted",
                   style="green"))


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("migrate")(migrate)
