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

The v-next layout (``layout="vnext"``) runs its own list: the signal tables (3, shared
with the classic layout) and Mastra's v-next span tables (4, :mod:`.vnext_ddl`); it
never creates ``mastra_ai_spans``. The versions are one numbering for both lists, so a
database used by both layouts (a classic store being moved to v-next, see
:mod:`.backfill`) records each migration once. Mastra's refreshable discovery views are
created on every run, best effort, as Mastra's ``init()`` does: a server that can't
create them still serves every read (this package reads the source tables).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from . import ddl, signal_ddl, vnext_ddl
from .ddl import SchemaOptions, quote_str

log = logging.getLogger(__name__)


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
VNEXT_MIGRATION = Migration(
    4, "v-next span tables (Mastra's mastra_span_events, trace roots and branches, delta and "
       "discovery tables, their views)", vnext_ddl.vnext_statements)
# The v-next layout: the signal tables, then Mastra's v-next span tables.
VNEXT_MIGRATIONS: tuple[Migration, ...] = (MIGRATIONS[2], VNEXT_MIGRATION)
_NAMES = {m.version: m.name for m in (*MIGRATIONS, VNEXT_MIGRATION)}


def migrations_for(opts: SchemaOptions) -> tuple[Migration, ...]:
    """The migration list of the schema's layout."""
    return VNEXT_MIGRATIONS if opts.vnext else MIGRATIONS


class Applied(list[int]):
    """The versions a run applied (a list of ints), printable for the CLI."""

    latest: int = MIGRATIONS[-1].version

    def __str__(self) -> str:
        if not self:
            return f"no pending ClickHouse migrations (at version {self.latest})"
        return "applied ClickHouse migrations: " + ", ".join(
            f"{v} ({_NAMES.get(v, '?')})" for v in self)


def latest_version(opts: SchemaOptions | None = None) -> int:
    return migrations_for(opts or SchemaOptions())[-1].version


def _record(opts: SchemaOptions, m: Migration) -> str:
    return (f"INSERT INTO {opts.history} (`version`, `name`, `applied_at`) "
            f"VALUES ({m.version}, {quote_str(m.name)}, now64(3, 'UTC'))")


def render(opts: SchemaOptions, *, after: int = 0) -> list[str]:
    """Every statement from the database to the last migration, history inserts included.

    ``after``: only the migrations above this version (the bootstrap statements — the
    database and the history table — are always included; they are idempotent).
    """
    out = [ddl.create_database(opts), ddl.create_history_table(opts)]
    for m in migrations_for(opts):
        if m.version > after:
            out += m.statements(opts)
            out.append(_record(opts, m))
    if opts.vnext:
        if after >= VNEXT_MIGRATION.version:  # span tables created earlier: their retention
            out += vnext_ddl.modify_ttl(opts)
        out += vnext_ddl.discovery_views(opts)
    elif opts.ttl_for("spans") is not None and after >= 1:
        out.append(ddl.modify_ttl(opts))  # a table created earlier gets the retention now
    if after >= 3:  # signal tables created earlier get their retention now
        out += signal_ddl.ttl_statements(opts)
    return out


def offline_sql(target: Any = None, **options: Any) -> str:
    """The migration DDL as one SQL script, without connecting anywhere.

    ``target`` is a store URL, a store (anything with a ``schema``), a
    :class:`~.ddl.SchemaOptions`, or None (then ``options`` are the SchemaOptions fields:
    ``database``, ``cluster``, ``ttl_days``, ``codecs``, ``layout``, …). The v-next
    layout's delta views are rendered with ``delta_cursor`` (``"fallback"`` unless set:
    offline there is no server to probe).
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
                  if k in ("cluster", "ttl_days", "signal_ttl_days", "layout")}
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


_DELTA_MVS = list(vnext_ddl.DELTA_VIEWS)


def delta_cursor_strategy(store: Executor) -> str:
    """Mastra's choice of delta cursor: the one the database's delta views already use
    ("none" when they mix both: Mastra then creates no delta objects); otherwise
    "serial" when ``generateSerialID`` works on this server (it needs ClickHouse Keeper;
    the in-process chdb has none), else "fallback"."""
    rows = store.query_rows(
        "SELECT create_table_query FROM system.tables WHERE database = {db:String} "
        "AND name IN {names:Array(String)}", {"db": store.database, "names": _DELTA_MVS})
    seen = {"serial" if "generateSerialID(" in str(q) else "fallback"
            for (q,) in rows if "generateSerialID(" in str(q) or "farmFingerprint64(" in str(q)}
    if len(seen) == 2:
        log.error("the ClickHouse delta views of %s use both cursor schemas; no delta "
                  "tables are created (as Mastra does)", store.database)
        return "none"
    if seen:
        return seen.pop()
    try:
        store.query_rows("SELECT generateSerialID({c:String})",
                         {"c": "mastra_observability_delta_cursor_probe"})
    except Exception:
        return "fallback"
    return "serial"


def _best_effort(store: Executor, statements: list[str], what: str) -> None:
    for statement in statements:
        try:
            store.command(statement)
        except Exception as exc:  # as in Mastra's init: the store works without them
            log.warning("could not create %s (%s: %s); every read still works",
                        what, type(exc).__name__, exc)
            return


def apply(store: Executor) -> Applied:
    """Bring ``store``'s database up to :func:`latest_version`; returns what was applied."""
    opts = store.schema
    if not _database_exists(store):
        store.command(ddl.create_database(opts))
    store.command(ddl.create_history_table(opts))
    done = set(applied_versions(store))
    applied = Applied()
    applied.latest = latest_version(opts)
    pending = [m for m in migrations_for(opts) if m.version not in done]
    if opts.vnext and opts.delta_cursor is None and VNEXT_MIGRATION in pending:
        opts = replace(opts, delta_cursor=delta_cursor_strategy(store))
    for m in pending:
        for statement in m.statements(opts):
            store.command(statement)
        store.command(_record(opts, m))
        applied.append(m.version)
    if opts.vnext:
        for statement, name in zip(vnext_ddl.modify_ttl(opts), vnext_ddl.SPAN_TABLES,
                                   strict=False):
            if not _ttl_matches(store, vnext_ddl.local_name(name, opts)):
                store.command(statement)
        _best_effort(store, vnext_ddl.discovery_views(opts), "the discovery views")
        if opts.delta_cursor == "serial" and VNEXT_MIGRATION in pending:
            # Mastra burns value 0 of each counter: an empty stream's head is 0 too.
            _best_effort(store, [f"SELECT generateSerialID('{d}_cursor')"
                                 for d in vnext_ddl.DELTA_TABLES], "the delta counters")
    elif opts.ttl_for("spans") is not None and not _ttl_matches(store):
        store.command(ddl.modify_ttl(opts))
    for signal in signal_ddl.SIGNALS:
        alter = signal_ddl.modify_ttl(signal, opts)
        if alter and not _ttl_matches(store, signal_ddl.data_table(signal, opts), signal):
            store.command(alter)
    return applied
