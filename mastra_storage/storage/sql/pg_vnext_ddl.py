"""The tables of the PostgreSQL v-next layout, as Mastra's ``PostgresStoreVNext`` creates
them (``tests/contract/postgres-vnext.observability.sql``), and how they are created.

Six tables: ``mastra_span_events`` (a row at span start and one at span end,
``PARTITION BY RANGE ("endedAt")``, primary key ``("traceId", "spanId", "endedAt")``),
the four signal tables (the same DDL as migration ``0002``, from
:meth:`~.dialects.postgres.PostgresDialect.signal_create_ddl`) and
``mastra_observability_discovery``; every partitioned table gets its daily partitions
from yesterday through today + 14, as Mastra's ``init()`` makes them.

The layout has no Alembic revision: the classic history creates ``mastra_ai_spans``,
which a v-next database does not need. :func:`ensure` works like Mastra's ``init()``
(``IF NOT EXISTS`` everywhere, the two additive columns Mastra probes for) but first reads
the catalogue and runs only what is missing, under the same advisory lock as the
migrations: opening a current database takes no table lock at all (Mastra's
``CREATE INDEX IF NOT EXISTS`` on every start takes a SHARE lock on each table, which
waits for, and blocks, writers).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ...model.signals import TABLE_FEEDBACK
from .dialects.postgres import XID8, JsonbText, PGText, PostgresDialect
from .partitions import create_missing, partition_name, qualified, window

SPAN_EVENTS = "mastra_span_events"
DISCOVERY = "mastra_observability_discovery"
# The partition key of the span table (the signal tables': "timestamp").
SPAN_PARTITION_KEY = "endedAt"

# (column, SQL type as Mastra renders it, NOT NULL, default) in Mastra's order.
SPAN_COLUMNS: tuple[tuple[str, str, bool, str | None], ...] = (
    ("cursorId", "bigserial", True, None),
    ("xactId", "xid8", True, "pg_current_xact_id()"),
    ("traceId", "text", True, None),
    ("spanId", "text", True, None),
    *((name, "text", False, None) for name in (
        "parentSpanId", "experimentId", "entityType", "entityId", "entityName",
        "entityVersionId", "parentEntityType", "parentEntityId", "parentEntityName",
        "parentEntityVersionId", "rootEntityType", "rootEntityId", "rootEntityName",
        "rootEntityVersionId", "userId", "organizationId", "resourceId", "runId",
        "sessionId", "threadId", "requestId", "environment", "executionSource",
        "serviceName")),
    ("name", "text", True, None),
    ("spanType", "text", True, None),
    ("isEvent", "boolean", True, "false"),
    ("isPending", "boolean", True, "false"),
    ("startedAt", "timestamptz", True, None),
    ("endedAt", "timestamptz", True, None),
    ("tags", "text[]", True, "'{}'"),
    ("metadataSearch", "jsonb", True, "'{}'::jsonb"),
    *((name, "jsonb", False, None) for name in (
        "attributes", "scope", "links", "input", "output", "error", "metadataRaw",
        "requestContext")),
)
SPAN_KEY = ("traceId", "spanId", "endedAt")

# Mastra's span indexes: (name, columns, method, partial predicate), in its order.
SPAN_INDEXES: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("traceid_idx", '"traceId", "endedAt" DESC', None, None),
    ("parentspan_idx", '"parentSpanId", "endedAt" DESC', None, None),
    ("name_idx", '"name"', None, None),
    ("spantype_idx", '"spanType", "startedAt" DESC', None, None),
    ("entity_idx", '"entityType", "entityId"', None, None),
    ("orgid_userid_idx", '"organizationId", "userId"', None, None),
    ("metadatasearch_gin", '"metadataSearch" jsonb_path_ops', "gin", None),
    ("tags_gin", '"tags"', "gin", None),
    ("root_startedat_idx", '"startedAt" DESC', None, '"parentSpanId" IS NULL'),
    ("root_endedat_idx", '"endedAt" DESC', None, '"parentSpanId" IS NULL'),
    ("root_spantype_idx", '"spanType", "startedAt" DESC', None, '"parentSpanId" IS NULL'),
    ("root_entityname_idx", '"entityType", "entityName", "startedAt" DESC', None,
     '"parentSpanId" IS NULL'),
    ("root_traceid_idx", '"traceId"', None, '"parentSpanId" IS NULL'),
    ("cursor_idx", '"xactId", "cursorId"', None, None),
)
# Columns Mastra adds to a table an older release created (probed first: ALTER TABLE on
# a partitioned parent takes an ACCESS EXCLUSIVE lock).
ADDITIVE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    SPAN_EVENTS: (("isPending", "boolean NOT NULL DEFAULT false"),),
    TABLE_FEEDBACK: (("reviewStatus", "text NOT NULL DEFAULT 'needs-review'"),),
}

_PREPARER = postgresql.dialect().identifier_preparer  # type: ignore[no-untyped-call]


def _q(name: str) -> str:
    return str(_PREPARER.quote_identifier(name))


def _column_type(sql_type: str) -> sa.types.TypeEngine[Any]:
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "bigserial": sa.BigInteger(), "xid8": XID8(), "text": PGText(),
        "boolean": sa.Boolean(), "timestamptz": postgresql.TIMESTAMP(timezone=True),
        "text[]": postgresql.ARRAY(PGText()), "jsonb": JsonbText(),
    }
    return types[sql_type]


def span_events_table(metadata: sa.MetaData, schema: str | None) -> sa.Table:
    """``mastra_span_events`` for SQLAlchemy Core statements (its DDL is
    :func:`span_events_ddl`, Mastra's text)."""
    cols = [sa.Column(name, _column_type(sql_type), nullable=not not_null)
            for name, sql_type, not_null, _ in SPAN_COLUMNS]
    return sa.Table(SPAN_EVENTS, metadata, *cols,
                    sa.PrimaryKeyConstraint(*SPAN_KEY, name=f"{SPAN_EVENTS}_pkey"),
                    schema=schema)


def span_events_ddl(schema: str | None) -> str:
    """Mastra's ``CREATE TABLE IF NOT EXISTS`` of the span table, column for column."""
    lines = []
    for name, sql_type, not_null, default in SPAN_COLUMNS:
        line = f"  {_q(name)} {sql_type}"
        if not_null:
            line += " NOT NULL"
        if default is not None:
            line += f" DEFAULT {default}"
        lines.append(line)
    lines.append(f"  PRIMARY KEY ({', '.join(_q(c) for c in SPAN_KEY)})")
    return (f"CREATE TABLE IF NOT EXISTS {qualified(schema, SPAN_EVENTS)} (\n"
            + ",\n".join(lines) + f"\n)\nPARTITION BY RANGE ({_q(SPAN_PARTITION_KEY)})")


def discovery_ddl(schema: str | None) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {qualified(schema, DISCOVERY)} (\n"
            '  "cacheKey" text PRIMARY KEY,\n'
            '  "refreshedAt" timestamptz NOT NULL,\n'
            "  \"values\" jsonb NOT NULL DEFAULT '[]'::jsonb\n"
            ")")


def span_index_ddl(schema: str | None) -> list[tuple[str, str]]:
    """(index name, Mastra's ``CREATE INDEX IF NOT EXISTS``) for the span table. The names
    carry no schema prefix (Mastra's own, in any schema)."""
    target = qualified(schema, SPAN_EVENTS)
    out = []
    for suffix, columns, method, where in SPAN_INDEXES:
        name = f"{SPAN_EVENTS}_{suffix}"
        using = f" USING {method}" if method else ""
        tail = f" WHERE {where}" if where else ""
        out.append((name, f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {target}{using} "
                          f"({columns}){tail}"))
    return out


@dataclass
class TableSpec:
    """One table of the layout: how to create it, its indexes, what an older copy may
    lack, and its partition key (None: not partitioned)."""

    name: str
    create: str
    indexes: list[tuple[str, str]] = field(default_factory=list)
    additive: tuple[tuple[str, str], ...] = ()
    partitioned: bool = True


def layout_tables(schema: str | None, signal_tables: Sequence[sa.Table]) -> list[TableSpec]:
    """The six tables in Mastra's order of creation (spans, the signals, discovery)."""
    dialect = PostgresDialect()
    specs = [TableSpec(SPAN_EVENTS, span_events_ddl(schema), span_index_ddl(schema),
                       ADDITIVE_COLUMNS[SPAN_EVENTS])]
    for table in signal_tables:
        create, *indexes = [str(getattr(s, "text", s))
                            for s in dialect.signal_create_ddl(table)]
        named = [(_index_name(sql), sql) for sql in indexes]
        specs.append(TableSpec(table.name, create, named,
                               ADDITIVE_COLUMNS.get(table.name, ())))
    specs.append(TableSpec(DISCOVERY, discovery_ddl(schema), partitioned=False))
    return specs


def _index_name(statement: str) -> str:
    """The name in ``CREATE INDEX IF NOT EXISTS "name" ON …``."""
    head = statement.split(" ON ", 1)[0]
    return head.rsplit(" ", 1)[-1].strip('"')


@dataclass
class Plan:
    """What :func:`ensure` finds missing (and, unless a dry run, creates)."""

    schema_missing: bool = False
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # "table.column"
    indexes: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.schema_missing or self.tables or self.columns or self.indexes
                    or self.partitions)

    def lines(self) -> list[str]:
        out = []
        if self.schema_missing:
            out.append("create the schema")
        if self.tables:
            out.append(f"create {len(self.tables)} table(s): {', '.join(self.tables)}")
        if self.columns:
            out.append(f"add {len(self.columns)} column(s): {', '.join(self.columns)}")
        if self.indexes:
            out.append(f"create {len(self.indexes)} index(es)")
        if self.partitions:
            out.append(f"create {len(self.partitions)} daily partition(s)")
        return out


def _existing(conn: sa.Connection, schema: str | None) -> tuple[set[str], dict[str, set[str]],
                                                                set[str]]:
    """(tables, columns per table, index names) in ``schema`` (the search path's first
    schema when None)."""
    nsp = ("CAST(:s AS name)" if schema else "current_schema()")
    params = {"s": schema} if schema else {}
    tables = {r[0] for r in conn.execute(sa.text(
        f"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = {nsp} AND c.relkind IN ('r', 'p')"), params)}
    columns: dict[str, set[str]] = {}
    for table, column in conn.execute(sa.text(
            f"SELECT table_name, column_name FROM information_schema.columns "
            f"WHERE table_schema = {nsp}"), params):
        columns.setdefault(table, set()).add(column)
    indexes = {r[0] for r in conn.execute(sa.text(
        f"SELECT indexname FROM pg_indexes WHERE schemaname = {nsp}"), params)}
    return tables, columns, indexes


def ensure(engine: sa.Engine, schema: str | None, signal_tables: Sequence[sa.Table],
           *, dry_run: bool = False, today: date | None = None) -> Plan:
    """Create what the layout lacks in ``schema`` (tables, Mastra's additive columns,
    indexes, the partitions of the coming days); returns what was (or, ``dry_run``,
    would be) done. Nothing but catalogue reads when the layout is complete."""
    plan = Plan()
    specs = layout_tables(schema, signal_tables)
    days = window(today)
    with engine.begin() as conn:
        if not dry_run:
            PostgresDialect().migration_lock(conn)
        if schema:
            found = conn.execute(sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
                                 {"s": schema}).scalar_one()
            if not found:
                plan.schema_missing = True
                if not dry_run:
                    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
        tables, columns, indexes = (set(), {}, set()) if plan.schema_missing \
            else _existing(conn, schema)
        for spec in specs:
            fresh = spec.name not in tables
            if fresh:
                plan.tables.append(spec.name)
                if not dry_run:
                    conn.exec_driver_sql(spec.create)
            else:
                have = columns.get(spec.name, set())
                for column, definition in spec.additive:
                    if column not in have:
                        plan.columns.append(f"{spec.name}.{column}")
                        if not dry_run:
                            conn.exec_driver_sql(
                                f"ALTER TABLE {qualified(schema, spec.name)} "
                                f"ADD COLUMN IF NOT EXISTS {_q(column)} {definition}")
            for name, statement in spec.indexes:
                if name not in indexes:
                    plan.indexes.append(name)
                    if not dry_run:
                        conn.exec_driver_sql(statement)
            if not spec.partitioned:
                continue
            if dry_run:
                if fresh:
                    plan.partitions += [partition_name(spec.name, d) for d in days]
                else:
                    plan.partitions += _missing_partitions(conn, schema, spec.name, days)
            else:
                made = create_missing(conn, schema, spec.name, days, fresh=fresh)
                plan.partitions += [partition_name(spec.name, d) for d in made]
    return plan


def _missing_partitions(conn: sa.Connection, schema: str | None, table: str,
                        days: Iterable[date]) -> list[str]:
    from .partitions import read_layout

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        layout = read_layout(conn, schema, table)
    return [partition_name(table, d) for d in days if not layout.covers(d)]


def missing_tables(engine: sa.Engine, schema: str | None,
                   names: Iterable[str]) -> list[str]:
    """The tables of ``names`` that ``schema`` lacks."""
    with engine.connect() as conn:
        tables, _, _ = _existing(conn, schema)
    return [n for n in names if n not in tables]


def offline_sql(schema: str | None, signal_tables: Sequence[sa.Table],
                today: date | None = None) -> str:
    """The whole layout as one script, for a DBA (``mastra-storage migrate --sql
    --to vnext``): idempotent statements (``IF NOT EXISTS``), the daily partitions of the
    window as of ``today``. Running it twice is harmless."""
    out = []
    if schema:
        out.append(f"CREATE SCHEMA IF NOT EXISTS {_q(schema)};")
    specs = layout_tables(schema, signal_tables)
    for spec in specs:
        out.append(spec.create + ";")
    for spec in specs:
        target = qualified(schema, spec.name)
        for column, definition in spec.additive:
            out.append(f"ALTER TABLE {target} ADD COLUMN IF NOT EXISTS {_q(column)} "
                       f"{definition};")
    for spec in specs:
        out += [sql + ";" for _, sql in spec.indexes]
    for spec in specs:
        if not spec.partitioned:
            continue
        parent = qualified(schema, spec.name)
        for day in window(today):
            child = qualified(schema, partition_name(spec.name, day))
            lo = f"{day:%Y-%m-%d} 00:00:00+00"
            hi = f"{date.fromordinal(day.toordinal() + 1):%Y-%m-%d} 00:00:00+00"
            out.append(f"CREATE TABLE IF NOT EXISTS {child} PARTITION OF {parent} "
                       f"FOR VALUES FROM ('{lo}') TO ('{hi}');")
    return "\n\n".join(out) + "\n"


__all__ = ["DISCOVERY", "SPAN_COLUMNS", "SPAN_EVENTS", "SPAN_INDEXES", "Plan", "TableSpec",
           "ensure", "layout_tables", "missing_tables", "offline_sql", "span_events_ddl",
           "span_events_table", "span_index_ddl"]
