"""SQLite and PostgreSQL: the root spans' metadata kept apart, one row per key, so that a
trace list filtered by a metadata key reads an index instead of every root's JSON.

``metadata`` is any JSON object, so no index on Mastra's span table can be keyed by one
of its values: at 1,000,000 spans PostgreSQL counts a common value through its rows
(165-185 ms; 7-9 ms with this index), and SQLite tests every root's metadata (18 ms for
a common value, 12.5 ms for a rare one through migration 0005's indexes, see
``SQLiteDialect.root_metadata_has``; 2.5 and 0.9 ms with this index; docs/bench.md,
*Trace reads*).

On PostgreSQL migration 0005 installs it. On SQLite it is optional: installed with
``mastra-storage migrate URL --metadata-index`` (or ``metadata_index=True`` on the store,
or :func:`install`). Either is removed with ``--no-metadata-index`` (:func:`remove`);
PostgreSQL's later upgrades leave it removed.

* ``mastra_storage_root_metadata``: for each root span whose ``metadata`` is a JSON
  object, one row per top-level key with the key's scalar value and the root's
  ``startedAt``, indexed in the trace list's order. SQLite keeps the value's ``kind``
  (``number`` for JSON integers and reals alike, ``text``, ``true``, ``false``, ``null``,
  ``object``, ``array``, or ``long`` for text over :data:`ATOM_CHARS` characters) and the
  value (``atom``; none for containers and long text); PostgreSQL the value as ``jsonb``
  (none for containers and long text; keys over :data:`ATOM_CHARS` characters are left
  out, a btree entry being bounded). A key written twice in one object keeps its last
  value, as ``JSON.parse`` and ``jsonb`` read it (SQLite's filter without the side table
  reads the first occurrence while no root's metadata is opaque, else matches either);
* SQLite only, ``mastra_storage_unindexed_roots``: the roots whose ``metadata`` could
  not be read there (a JSONB blob, which ``@mastra/libsql`` writes and this process's
  SQLite may not read; text that is not JSON). PostgreSQL's ``jsonb`` is always readable;
* triggers on the span table that keep them current: after insert, update and delete
  of a root (on PostgreSQL the insert trigger runs once per statement, over its rows)
  and, on PostgreSQL, after TRUNCATE. They are the
  database's own: every writer fires them, Mastra's stores included, which read and
  write the span table as before without knowing them (the interop suite runs Mastra's
  writers on both with the index installed).

Every writer pays for it. On SQLite, with a trigger SQLite keeps a statement journal for
each insert, which for a root of a table with this many indexes outgrows memory into a
temporary file: Mastra's own writer (``@mastra/libsql``'s ``batchCreateSpans``) takes
1.45 times as long, and this library's writes lose 5 % end to end and 12 % in
``batch_create_spans`` of roots with three metadata keys. And Mastra writes metadata as
JSONB, which the side table lists as unindexed: a file Mastra writes to gains nothing.
On PostgreSQL ``@mastra/pg``'s writer shows no measurable cost, and this library's
pipeline ~5 % (its rows and their index, three per root in the benchmark; docs/bench.md).

A list filtered by one metadata key with a scalar value (and at most a start-time range)
is answered from the side table's index: its page is an ordered range, its count a count
of that range (:func:`roots_page`). Anything else, or a SQLite database with unindexed
roots, or one without the triggers (never installed, removed, or dropped with the span
table by another tool), takes the general filter on the span table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ...model.spans import TABLE_SPANS
from ..queries import Pagination, TracesFilter, TracesOrderBy

TABLE = "mastra_storage_root_metadata"
UNINDEXED = "mastra_storage_unindexed_roots"
VALUE_INDEX = f"{TABLE}_value_idx"
TRIGGERS = (f"{TABLE}_insert", f"{TABLE}_update", f"{TABLE}_delete")
# PostgreSQL: TRUNCATE of the span table (Mastra's clearTable) fires no row trigger.
TRUNCATE_TRIGGER = f"{TABLE}_truncate"
# Text values up to this many characters are kept (and compared) in the side table; a
# longer one is kind 'long', so a filter by a value this short is still exact there.
ATOM_CHARS = 200


def _object(m: str) -> str:
    """``m`` when it is a JSON object in text, else NULL (json_each(NULL) has no rows).
    Nested CASEs: each test runs only when the one before held, so no JSON function is
    given a blob or malformed text (which would fail the write that fired the trigger)."""
    return (f"CASE WHEN typeof({m}) = 'text' THEN CASE WHEN json_valid({m}) THEN "
            f"CASE WHEN json_type({m}) = 'object' THEN {m} END END END")


def _unreadable(m: str) -> str:
    """``m`` holds metadata the side table can't read: not NULL, and not JSON text."""
    return (f"{m} IS NOT NULL AND CASE WHEN typeof({m}) = 'text' THEN NOT json_valid({m}) "
            "ELSE 1 END")


_KIND = (f"CASE WHEN j.type IN ('integer', 'real') THEN 'number' "
         f"WHEN j.type = 'text' AND length(j.atom) > {ATOM_CHARS} THEN 'long' "
         "ELSE j.type END")
_ATOM = (f"CASE WHEN j.type IN ('object', 'array') OR "
         f"(j.type = 'text' AND length(j.atom) > {ATOM_CHARS}) THEN NULL ELSE j.atom END")


def _fill(row: str, where: str = "", table: bool = False) -> list[str]:
    """The statements adding root ``row``'s entries: ``NEW`` in a trigger, or (``table``)
    every row ``r`` of the span table that ``where`` selects."""
    source = f'"{TABLE_SPANS}" AS {row}, ' if table else ""
    rows = f' FROM "{TABLE_SPANS}" AS {row}' if table else ""
    cond = f" WHERE {where}" if where else ""
    also = f"{where} AND " if where else ""
    # One row per key: a key written twice keeps the values of its last occurrence
    # (SQLite takes a group's other columns from the row max() picked). No row can
    # conflict, so no conflict clause is needed (a trigger's would be overridden by the
    # firing statement's own, e.g. INSERT OR IGNORE).
    group = (f' GROUP BY {row}."traceId", {row}."spanId", j.key' if table
             else " GROUP BY j.key")
    return [
        f'INSERT INTO "{TABLE}" ("traceId", "spanId", "key", "kind", "atom", "startedAt") '
        f'SELECT "traceId", "spanId", "key", "kind", "atom", "startedAt" FROM (SELECT '
        f'{row}."traceId" AS "traceId", {row}."spanId" AS "spanId", j.key AS "key", '
        f'{_KIND} AS "kind", {_ATOM} AS "atom", {row}."startedAt" AS "startedAt", '
        f'max(j.id) FROM {source}json_each({_object(f"{row}.metadata")}) AS j{cond}{group})',
        f'INSERT INTO "{UNINDEXED}" ("traceId", "spanId") SELECT '
        f'{row}."traceId", {row}."spanId"{rows} WHERE {also}'
        f'{_unreadable(f"{row}.metadata")}',
    ]


def _forget(row: str) -> list[str]:
    return [f'DELETE FROM "{t}" WHERE "traceId" = {row}."traceId" AND "spanId" = '
            f'{row}."spanId"' for t in (TABLE, UNINDEXED)]


def _trigger(name: str, event: str, when: str, body: list[str]) -> str:
    statements = "".join(f"  {s};\n" for s in body)
    return (f'CREATE TRIGGER IF NOT EXISTS "{name}" AFTER {event} ON "{TABLE_SPANS}"\n'
            f"WHEN {when}\nBEGIN\n{statements}END")


def sqlite_ddl() -> list[str]:
    """The two tables, the value index, the triggers, and the entries of the roots
    already stored (into empty tables: see :func:`install`)."""
    return [
        f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("traceId" TEXT NOT NULL, '
        '"spanId" TEXT NOT NULL, "key" TEXT NOT NULL, "kind" TEXT NOT NULL, "atom", '
        '"startedAt" TEXT, PRIMARY KEY ("traceId", "spanId", "key")) WITHOUT ROWID',
        f'CREATE INDEX IF NOT EXISTS "{VALUE_INDEX}" ON "{TABLE}" ("key", "kind", "atom", '
        '"startedAt" DESC, "traceId" DESC, "spanId")',
        f'CREATE TABLE IF NOT EXISTS "{UNINDEXED}" ("traceId" TEXT NOT NULL, '
        '"spanId" TEXT NOT NULL, PRIMARY KEY ("traceId", "spanId")) WITHOUT ROWID',
        _trigger(TRIGGERS[0], "INSERT", 'NEW."parentSpanId" IS NULL',
                 _forget("NEW") + _fill("NEW")),
        _trigger(TRIGGERS[1], 'UPDATE OF "metadata", "parentSpanId", "startedAt", '
                 '"traceId", "spanId"',
                 'OLD."parentSpanId" IS NULL OR NEW."parentSpanId" IS NULL',
                 _forget("OLD") + _fill("NEW", 'NEW."parentSpanId" IS NULL')),
        _trigger(TRIGGERS[2], "DELETE", 'OLD."parentSpanId" IS NULL', _forget("OLD")),
        # The roots already stored.
        *_fill("r", 'r."parentSpanId" IS NULL', table=True),
    ]


def sqlite_drop() -> list[str]:
    return ([f'DROP TRIGGER IF EXISTS "{name}"' for name in TRIGGERS]
            + [f'DROP TABLE IF EXISTS "{t}"' for t in (TABLE, UNINDEXED)])


# ---------------------------------------------------------------------------- PostgreSQL
# metadata is jsonb there, so every root's is readable (no table of unindexed roots) and a
# key holds one value. The side table keeps a scalar value as jsonb, whose equality is
# containment's (1 equals 1.0; true is not 1). A btree entry has a size limit, so a key
# over ATOM_CHARS characters is left out and a text value over it kept without a value.
FUNCTION = "mastra_storage_root_metadata_sync"
# The insert trigger's: once per statement, over the rows it inserted (see pg_ddl).
INSERT_FUNCTION = "mastra_storage_root_metadata_insert_rows"
TRUNCATE_FUNCTION = "mastra_storage_root_metadata_truncate"


def _pg(schema: str | None) -> tuple[str, str, str]:
    """(span table, side table, function), schema-qualified."""
    q = f'"{schema}".' if schema else ""
    return f"{q}{TABLE_SPANS}", _pg_name(schema, TABLE), _pg_name(schema, FUNCTION)


def _pg_name(schema: str | None, name: str) -> str:
    return f'"{schema}"."{name}"' if schema else f'"{name}"'


def pg_ddl(schema: str | None = None) -> list[str]:
    """The side table, its index, the trigger function, the triggers, and the entries of
    the roots already stored (into an empty table: see :func:`install`)."""
    spans, side, function = _pg(schema)
    value = ("CASE WHEN jsonb_typeof(e.value) IN ('object', 'array') OR (jsonb_typeof("
             f"e.value) = 'string' AND length(e.value #>> '{{}}') > {ATOM_CHARS}) THEN NULL "
             "ELSE e.value END")

    def fill(r: str, source: str = "", also: str = "") -> str:
        return (f'INSERT INTO {side} ("traceId", "spanId", "key", "value", "startedAt") '
                f'SELECT {r}."traceId", {r}."spanId", e.key, {value}, {r}."startedAt" '
                f"FROM {source}jsonb_each({r}.metadata) AS e WHERE length(e.key) <= "
                f"{ATOM_CHARS} AND jsonb_typeof({r}.metadata) = 'object'{also}")

    prefix = f"{schema}_" if schema not in (None, "public") else ""
    out = [
        f'CREATE TABLE IF NOT EXISTS {side} ("traceId" text NOT NULL, "spanId" text '
        'NOT NULL, "key" text NOT NULL, "value" jsonb, "startedAt" timestamp, '
        'PRIMARY KEY ("traceId", "spanId", "key"))',
        f'CREATE INDEX IF NOT EXISTS "{prefix}{VALUE_INDEX}" ON {side} ("key", "value", '
        '"startedAt" DESC, "traceId" DESC, "spanId")',
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        "BEGIN\n"
        "  IF TG_OP <> 'INSERT' THEN\n"
        f'    DELETE FROM {side} WHERE "traceId" = OLD."traceId" AND "spanId" = '
        'OLD."spanId";\n'
        "  END IF;\n"
        "  IF TG_OP <> 'DELETE' AND NEW.\"parentSpanId\" IS NULL THEN\n"
        f"    {fill('NEW')};\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END $fn$",
    ]
    # Inserts: one trigger call per statement, its new roots indexed by one INSERT …
    # SELECT over the statement's rows (this library writes a COPY or a merge per batch,
    # Mastra multi-row INSERTs). Timed apart, 30 INSERTs of 1,000 bench rows took 2 % more
    # with it, 3.5 % with a row trigger calling the function per root (docs/bench.md).
    # Updates and deletes (one row per statement, from either writer) keep row triggers,
    # whose WHEN skips the child spans without a call.
    # Entries left by rows that went without a trigger (none should be) are overwritten,
    # never a reason to refuse a span.
    rows_function = _pg_name(schema, INSERT_FUNCTION)
    new_roots = (fill("r", "new_spans AS r, ", ' AND r."parentSpanId" IS NULL')
                 + ' ON CONFLICT ("traceId", "spanId", "key") DO UPDATE SET "value" = '
                 'EXCLUDED."value", "startedAt" = EXCLUDED."startedAt"')
    truncate_function = _pg_name(schema, TRUNCATE_FUNCTION)
    out += [
        f"CREATE OR REPLACE FUNCTION {rows_function}() RETURNS trigger LANGUAGE plpgsql "
        f"AS $fn$\nBEGIN\n  {new_roots};\n  RETURN NULL;\nEND $fn$",
        f'DROP TRIGGER IF EXISTS "{TRIGGERS[0]}" ON {spans}',
        f'CREATE TRIGGER "{TRIGGERS[0]}" AFTER INSERT ON {spans} REFERENCING NEW TABLE AS '
        f"new_spans FOR EACH STATEMENT EXECUTE FUNCTION {rows_function}()",
        f"CREATE OR REPLACE FUNCTION {truncate_function}() RETURNS trigger LANGUAGE plpgsql "
        f"AS $fn$\nBEGIN\n  TRUNCATE {side};\n  RETURN NULL;\nEND $fn$",
        f'DROP TRIGGER IF EXISTS "{TRUNCATE_TRIGGER}" ON {spans}',
        f'CREATE TRIGGER "{TRUNCATE_TRIGGER}" AFTER TRUNCATE ON {spans} FOR EACH STATEMENT '
        f"EXECUTE FUNCTION {truncate_function}()"]
    for name, event, when in (
            (TRIGGERS[1], 'UPDATE OF "metadata", "parentSpanId", "startedAt", "traceId", '
                          '"spanId"', 'OLD."parentSpanId" IS NULL OR NEW."parentSpanId" IS NULL'),
            (TRIGGERS[2], "DELETE", 'OLD."parentSpanId" IS NULL')):
        out += [f'DROP TRIGGER IF EXISTS "{name}" ON {spans}',
                f'CREATE TRIGGER "{name}" AFTER {event} ON {spans} FOR EACH ROW '
                f"WHEN ({when}) EXECUTE FUNCTION {function}()"]
    out.append(fill("r", f"{spans} AS r, ", ' AND r."parentSpanId" IS NULL'))
    return out


def pg_drop(schema: str | None = None) -> list[str]:
    spans, side, function = _pg(schema)
    return ([f'DROP TRIGGER IF EXISTS "{name}" ON {spans}'
             for name in (*TRIGGERS, TRUNCATE_TRIGGER)]
            + [f"DROP FUNCTION IF EXISTS {function}()"]
            + [f"DROP FUNCTION IF EXISTS {_pg_name(schema, name)}()"
               for name in (INSERT_FUNCTION, TRUNCATE_FUNCTION)]
            + [f"DROP TABLE IF EXISTS {side}"])


def _ddl(dialect: str, schema: str | None) -> tuple[list[str], list[str]]:
    """(install, remove) statements of ``dialect``."""
    if dialect == "sqlite":
        return sqlite_ddl(), sqlite_drop()
    if dialect == "postgresql":
        return pg_ddl(schema), pg_drop(schema)
    raise ValueError(f"the metadata index exists for SQLite and PostgreSQL, not {dialect}")


def installed(conn: sa.Connection, schema: str | None = None) -> bool:
    """The triggers are there (installed, and the span table not made again since)."""
    if conn.dialect.name == "postgresql":
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(%s) "
            "AND tgname = ANY(%s)", (_pg(schema)[0], list(TRIGGERS))).scalar()
    else:
        marks = ", ".join("?" for _ in TRIGGERS)
        found = conn.exec_driver_sql(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
            TRIGGERS).scalar()
    return found == len(TRIGGERS)


def install(engine: sa.Engine, schema: str | None = None) -> bool:
    """Create the side table(s) and the triggers and index the roots already stored, in
    one write transaction; False when they were already installed (nothing done)."""
    make, drop = _ddl(engine.dialect.name, schema)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            # pysqlite opens no transaction for DDL: take the write lock so that a writer
            # waits, and the tables, triggers and entries appear together.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if installed(conn, schema):
            return False
        for ddl in drop + make:  # (entries left by an earlier install whose triggers
            conn.exec_driver_sql(ddl)  # went: start over)
        return True


def indexed_roots(conn: sa.Connection, schema: str | None = None) -> int:
    """How many roots have entries (a scan of the side table's key)."""
    side = _pg(schema)[1] if conn.dialect.name == "postgresql" else f'"{TABLE}"'
    return int(conn.exec_driver_sql(
        f'SELECT count(*) FROM (SELECT DISTINCT "traceId", "spanId" FROM {side}) AS k'
    ).scalar_one())


def remove(engine: sa.Engine, schema: str | None = None) -> None:
    """Drop the triggers and the side tables (writes no longer pay for them)."""
    _, drop = _ddl(engine.dialect.name, schema)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        for ddl in drop:
            conn.exec_driver_sql(ddl)


@dataclass(frozen=True)
class _Match:
    key: str
    kind: str
    atom: Any  # None: any value of the kind (true, false, null)
    json: str  # the value as JSON text (PostgreSQL compares jsonb)


def _match(metadata: Mapping[str, Any] | None) -> _Match | None:
    """The side-table lookup of a one-key metadata filter with a scalar value (None:
    the filter is not one the side table answers)."""
    if not metadata or len(metadata) != 1:
        return None
    ((key, value),) = metadata.items()
    if not isinstance(key, str) or len(key) > ATOM_CHARS or "\x00" in key or (
            isinstance(value, str) and "\x00" in value):
        # (PostgreSQL text can't hold a NUL, nor jsonb a \u0000: the general filter
        # reads such a filter as the store wrote the value)
        return None
    atom: Any
    if value is None:
        kind, atom = "null", None
    elif isinstance(value, bool):
        kind, atom = ("true" if value else "false"), None
    elif isinstance(value, (int, float)) and math.isfinite(value):
        kind, atom = "number", value
    elif isinstance(value, str) and len(value) <= ATOM_CHARS:
        kind, atom = "text", value
    else:
        return None
    return _Match(key, kind, atom, json.dumps(value, ensure_ascii=False))


def answers(f: TracesFilter, order_by: TracesOrderBy) -> bool:
    """Whether the side table can answer the trace list ``f``: one metadata key with a
    scalar value, a start-time range at most, newest or oldest first by start time."""
    if order_by.field != "startedAt" or _match(f.metadata) is None:
        return False
    rest = {name: getattr(f, name) for name in f.__dataclass_fields__
            if name not in ("metadata", "started_from", "started_to")}
    return all(v is None for v in rest.values())


def _ready(conn: sa.Connection, schema: str | None) -> bool:
    """Installed, and (SQLite) every root's metadata was readable."""
    if not installed(conn, schema):
        return False
    if conn.dialect.name == "postgresql":
        return True
    return conn.exec_driver_sql(f'SELECT 1 FROM "{UNINDEXED}" LIMIT 1').first() is None


def roots_page(conn: sa.Connection, f: TracesFilter, pagination: Pagination,
               order_by: TracesOrderBy, timestamp: Any, schema: str | None = None
               ) -> tuple[list[tuple[str, str]], int] | None:
    """The (traceId, spanId) of the page's roots, in the list's order, and how many roots
    match; None when the side table can't answer (see :func:`answers`). ``timestamp``
    encodes a filter time as the span table stores it."""
    match = _match(f.metadata)
    if match is None or not _ready(conn, schema):
        return None
    if conn.dialect.name == "postgresql":
        mark, side = "%s", _pg(schema)[1]
        where = ['"key" = %s', '"value" = %s::jsonb']
        params: list[Any] = [match.key, match.json]
    else:
        mark, side = "?", f'"{TABLE}"'
        where = ['"key" = ?', '"kind" = ?']
        params = [match.key, match.kind]
        if match.atom is not None:
            where.append('"atom" = ?')
            params.append(match.atom)
    if f.started_from is not None:
        where.append(f'"startedAt" >= {mark}')
        params.append(timestamp(f.started_from))
    if f.started_to is not None:
        where.append(f'"startedAt" <= {mark}')
        params.append(timestamp(f.started_to))
    cond = " AND ".join(where)
    way = "DESC" if order_by.direction == "DESC" else "ASC"
    rows = conn.exec_driver_sql(
        f'SELECT "traceId", "spanId" FROM {side} WHERE {cond} ORDER BY "startedAt" {way}, '
        f'"traceId" {way}, "spanId" LIMIT {mark} OFFSET {mark}',
        (*params, pagination.per_page, pagination.offset)).all()
    ids = [(str(t), str(s)) for t, s in rows]
    total = pagination.total_from_page(len(ids))
    if total is None:
        total = int(conn.exec_driver_sql(
            f"SELECT count(*) FROM {side} WHERE {cond}", tuple(params)).scalar_one())
    return ids, total
