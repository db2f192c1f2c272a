"""SQLite, optional: the root spans' metadata kept apart, one row per key, so that a trace
list filtered by a metadata key reads an index instead of every root's JSON.

``metadata`` is any JSON object, so no index on Mastra's span table can be keyed by one
of its values: the filter reads and tests all 100,000 roots' metadata at 1,000,000
spans (32 ms for a common value, 22 ms for a rare one; 2.5 and 0.9 ms with this index,
docs/bench.md, *Trace reads*). Installed with
``mastra-storage migrate URL --metadata-index`` (or ``SQLiteStore(metadata_index=True)``,
or :func:`install`), removed with ``--no-metadata-index`` (:func:`remove`):

* ``mastra_storage_root_metadata``: for each root span whose ``metadata`` is a JSON
  object in text, one row per top-level key: its ``kind`` (``number`` for JSON integers
  and reals alike, ``text``, ``true``, ``false``, ``null``, ``object``, ``array``, or
  ``long`` for text over :data:`ATOM_CHARS` characters), its scalar value (``atom``; none
  for containers and long text) and the root's ``startedAt``, with an index in the trace
  list's order. A key written twice in one object keeps its last value, as
  ``JSON.parse`` reads it (the general filter matches either);
* ``mastra_storage_unindexed_roots``: the roots whose ``metadata`` could not be read
  there (a JSONB blob, which ``@mastra/libsql`` writes and this process's SQLite may not
  read; text that is not JSON);
* three triggers on the span table (after insert, update, delete of a root) that keep
  both current. They are SQLite's own: every writer fires them, Mastra's stores
  included, which read and write the span table as before without knowing them.

It is not installed by default because every writer pays for it: with a trigger SQLite
keeps a statement journal for each insert, which for a root of a table with this many
indexes outgrows memory into a temporary file, so a root written one row per statement
(a plain ``executemany``, Mastra's store) costs ~160 µs more; this library's own writes
lose 5 % end to end and 12 % in ``batch_create_spans`` of roots with three metadata keys
(docs/bench.md). A store whose users filter by metadata a lot may want it; one that
mostly writes may not.

A list filtered by one metadata key with a scalar value (and at most a start-time range)
is answered from the side table's index: its page is an ordered range, its count a count
of that range (:func:`roots_page`). Anything else, or a database with unindexed roots, or
one without the triggers (never installed, removed, or dropped with the span table by
another tool), takes the general filter on the span table, which tests each root's JSON.
"""

from __future__ import annotations

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


def installed(conn: sa.Connection) -> bool:
    """The triggers are there (installed, and the span table not made again since)."""
    marks = ", ".join("?" for _ in TRIGGERS)
    found = conn.exec_driver_sql(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
        TRIGGERS).scalar()
    return found == len(TRIGGERS)


def install(engine: sa.Engine) -> bool:
    """Create the side tables and their triggers and index the roots already stored, in
    one write transaction; False when they were already installed (nothing done)."""
    with engine.begin() as conn:
        # pysqlite opens no transaction for DDL: take the write lock so that a writer
        # waits, and the tables, triggers and entries appear together.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        if installed(conn):
            return False
        for ddl in sqlite_drop() + sqlite_ddl():  # (entries left by an earlier install
            conn.exec_driver_sql(ddl)             # whose triggers went: start over)
        return True


def indexed_roots(conn: sa.Connection) -> int:
    """How many roots have entries (a scan of the side table's key)."""
    return int(conn.exec_driver_sql(
        f'SELECT count(*) FROM (SELECT DISTINCT "traceId", "spanId" FROM "{TABLE}")'
    ).scalar_one())


def remove(engine: sa.Engine) -> None:
    """Drop the triggers and the side tables (writes no longer pay for them)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        for ddl in sqlite_drop():
            conn.exec_driver_sql(ddl)


@dataclass(frozen=True)
class _Match:
    key: str
    kind: str
    atom: Any  # None: any value of the kind (true, false, null)


def _match(metadata: Mapping[str, Any] | None) -> _Match | None:
    """The side-table lookup of a one-key metadata filter with a scalar value (None:
    the filter is not one the side table answers)."""
    if not metadata or len(metadata) != 1:
        return None
    ((key, value),) = metadata.items()
    if not isinstance(key, str):
        return None
    if value is None:
        return _Match(key, "null", None)
    if isinstance(value, bool):
        return _Match(key, "true" if value else "false", None)
    if isinstance(value, (int, float)):
        return _Match(key, "number", value) if value == value else None  # (NaN: no)
    if isinstance(value, str) and len(value) <= ATOM_CHARS:
        return _Match(key, "text", value)
    return None


def answers(f: TracesFilter, order_by: TracesOrderBy) -> bool:
    """Whether the side table can answer the trace list ``f``: one metadata key with a
    scalar value, a start-time range at most, newest or oldest first by start time."""
    if order_by.field != "startedAt" or _match(f.metadata) is None:
        return False
    rest = {name: getattr(f, name) for name in f.__dataclass_fields__
            if name not in ("metadata", "started_from", "started_to")}
    return all(v is None for v in rest.values())


def _ready(conn: sa.Connection) -> bool:
    """Installed, and every root's metadata was readable."""
    if not installed(conn):
        return False
    return conn.exec_driver_sql(f'SELECT 1 FROM "{UNINDEXED}" LIMIT 1').first() is None


def roots_page(conn: sa.Connection, f: TracesFilter, pagination: Pagination,
               order_by: TracesOrderBy, timestamp: Any
               ) -> tuple[list[tuple[str, str]], int] | None:
    """The (traceId, spanId) of the page's roots, in the list's order, and how many roots
    match; None when the side table can't answer (see :func:`answers`). ``timestamp``
    encodes a filter time as the span table stores it."""
    match = _match(f.metadata)
    if match is None or not _ready(conn):
        return None
    where = ['"key" = ?', '"kind" = ?']
    params: list[Any] = [match.key, match.kind]
    if match.atom is not None:
        where.append('"atom" = ?')
        params.append(match.atom)
    if f.started_from is not None:
        where.append('"startedAt" >= ?')
        params.append(timestamp(f.started_from))
    if f.started_to is not None:
        where.append('"startedAt" <= ?')
        params.append(timestamp(f.started_to))
    cond = " AND ".join(where)
    way = "DESC" if order_by.direction == "DESC" else "ASC"
    rows = conn.exec_driver_sql(
        f'SELECT "traceId", "spanId" FROM "{TABLE}" '
        f'WHERE {cond} ORDER BY "startedAt" {way}, "traceId" {way}, "spanId" '
        "LIMIT ? OFFSET ?",
        (*params, pagination.per_page, pagination.offset)).all()
    ids = [(str(t), str(s)) for t, s in rows]
    total = pagination.total_from_page(len(ids))
    if total is None:
        total = int(conn.exec_driver_sql(
            f'SELECT count(*) FROM "{TABLE}" WHERE {cond}',
            tuple(params)).scalar_one())
    return ids, total
