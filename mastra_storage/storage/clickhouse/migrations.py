"""Versioned ClickHouse migrations with a small history table.

``mastra_storage_migrations`` (``version``, ``name``, ``applied_at``) records what ran;
a migration runs once, in version order, and every statement is idempotent on its own
(``IF NOT EXISTS``), so two processes migrating at once, or a migration interrupted
half-way, end in the same state when re-run. The history is a ReplacingMergeTree keyed
by ``version``: a version recorded twice reads once.

* :func:`migrate` — ``mastra-storage migrate clickhouse://…`` calls this;
* :func:`offline_sql` — the same DDL as text, without a connection (for review, or for a
  DBA to run by hand; it includes the history inserts).

A table that Mastra created first is adopted: ``CREATE TABLE IF NOT EXISTS`` leaves it as
it is (its ordering key can't change in place), the skip indexes are added to it, and the
store's queries work on it unchanged (they only use the helper key columns when present).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import ddl, signal_ddl
from .ddl import SchemaOptions, quote_str


class Executor(Protocol):
    """What the migrations need from a connection (a :class:`~.store.ClickHouseStore`)."""

    database: str
    schema: SchemaOptions

    def command(self, sql: str, params: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Any: ...

    def query_rows(self, sql: str, params: dict[str, Any] | None = None,
                   settings: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Callable[[SchemaOptions], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create mastra_ai_spans", ddl.schema_statements),
    Migration(2, "skip indexes on the trace and correlation ids", ddl.add_skip_indexes),
    Migration(3, "signal tables (Mastra v-next logs, metrics, scores, feedback)",
              signal_ddl.signal_statements),
)


class Applied(list[int]):
    """The versions a run applied (a list of ints), printable for the CLI."""

    def __str__(self) -> str:
        if not self:
            return f"no pending ClickHouse migrations (at version {latest_version()})"
        names = {m.version: m.name for m in MIGRATIONS}
        return "applied ClickHouse migrations: " + ", ".join(
            f"{v} ({names.get(v, '?')})" for v in self)


def latest_version() -> int:
    return MIGRATIONS[-1].version


def _record(opts: SchemaOptions, m: Migration) -> str:
    return (f"INSERT INTO {opts.history} (`version`, `name`, `applied_at`) "
            f"VALUES ({m.version}, {quote_str(m.name)}, now64(3, 'UTC'))")


def render(opts: SchemaOptions, *, after: int = 0) -> list[str]:
    """Every statement from the database to the last migration, history inserts included.

    ``after``: only the migrations above this version (the bootstrap statements — the
    database and the history table — are always included; they are idempotent).
    """
    out = [ddl.create_database(opts), ddl.create_history_table(opts)]
    for m in MIGRATIONS:
        if m.version > after:
            out += m.statements(opts)
            out.append(_record(opts, m))
    if opts.ttl_for("spans") is not None and after >= 1:
        out.append(ddl.modify_ttl(opts))  # a table created earlier gets the retention now
    if after >= 3:  # signal tables created earlier get their retention now
        out += signal_ddl.ttl_statements(opts)
    return out


def offline_sql(target: Any = None, **options: Any) -> str:
    """The migration DDL as one SQL script, without connecting anywhere.

    ``target`` is a store URL, a store (anything with a ``schema``), a
    :class:`~.ddl.SchemaOptions`, or None (then ``options`` are the SchemaOptions fields:
    ``database``, ``cluster``, ``ttl_days``, ``codecs``, ``layout``, …).
    """
    opts = schema_options(target, **options)
    return ";\n\n".join(render(opts)) + ";\n"


def schema_options(target: Any = None, **options: Any) -> SchemaOptions:
    if isinstance(target, SchemaOptions):
        return target
    if isinstance(getattr(target, "schema", None), SchemaOptions):
        return target.schema  # type: ignore[no-any-return]
    if isinstance(target, str):
        from .config import parse_url

        spec = parse_url(target)
        fields = {k: v for k, v in spec.store_options.items()
                  if k in ("cluster", "ttl_days", "signal_ttl_days")}
        return SchemaOptions(database=spec.database, **{**fields, **options})
    if target is None:
        return SchemaOptions(**options)
    raise TypeError(f"expected a URL, a ClickHouseStore or SchemaOptions, got {target!r}")


def applied_versions(store: Executor) -> list[int]:
    rows = store.query_rows(f"SELECT `version` FROM {store.schema.history} FINAL "
                            "ORDER BY `version`")
    return [int(r[0]) for r in rows]


def _database_exists(store: Executor) -> bool:
    rows = store.query_rows("SELECT count() FROM system.databases WHERE name = {db:String}",
                            {"db": store.database})
    return bool(rows and rows[0][0])


def _ttl_matches(store: Executor, table: str | None = None, signal: str = "spans") -> bool:
    rows = store.query_rows(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": store.database, "t": table or store.schema.data_table})
    engine = str(rows[0][0]) if rows else ""
    return f"toIntervalDay({store.schema.ttl_for(signal)})" in engine.replace(" ", "")


def apply(store: Executor) -> Applied:
    """Bring ``store``'s database up to :func:`latest_version`; returns what was applied."""
    opts = store.schema
    if not _database_exists(store):
        store.command(ddl.create_database(opts))
    store.command(ddl.create_history_table(opts))
    done = set(applied_versions(store))
    applied = Applied()
    for m in MIGRATIONS:
        if m.version in done:
            continue
        for statement in m.statements(opts):
            store.command(statement)
        store.command(_record(opts, m))
        applied.append(m.version)
    if opts.ttl_for("spans") is not None and not _ttl_matches(store):
        store.command(ddl.modify_ttl(opts))
    for signal in signal_ddl.SIGNALS:
        alter = signal_ddl.modify_ttl(signal, opts)
        if alter and not _ttl_matches(store, signal_ddl.data_table(signal, opts), signal):
            store.command(alter)
    return applied
