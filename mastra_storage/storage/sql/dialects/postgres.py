"""PostgreSQL: the contract's table (``jsonb``, ``timestamp`` + ``…AtZ`` ``timestamptz`` twins,
the ``trigger_set_timestamps()`` trigger, btree + GIN indexes), as ``@mastra/pg`` creates it.

Decisions that keep the table shared with Mastra's own store:

* Names follow Mastra: the primary key is ``<schema>_mastra_ai_spans_traceid_spanid_pk``
  (``public_…`` when no schema is given); index names are unprefixed in ``public`` and
  prefixed with ``<schema>_`` elsewhere; every name is cut to PostgreSQL's 63 bytes.
* Every write fills both timestamp columns: the plain ``timestamp`` ones hold naive UTC,
  the ``…AtZ`` twins the same instant as ``timestamptz`` (``endedAtZ`` is NULL while the
  span runs — Mastra's reader selects the ``…Z`` columns, so a default ``now()`` there
  would make a running span look ended).
* The trigger overwrites ``createdAt``/``updatedAt`` (and twins) with ``NOW()``, as
  Mastra's does; it is kept.
* Reads prefer the ``…AtZ`` twin (unambiguous whatever the writer's session time zone),
  falling back to the plain column read as UTC.
* JSON goes through :mod:`..jsonsafe` first (jsonb refuses ``\\u0000`` and NaN), is sent
  as text and cast to ``jsonb`` by the server; the driver decodes ``jsonb`` on the way out.
* Text parameters have NUL replaced by U+FFFD (PostgreSQL text refuses NUL), so stored
  text and filter values follow the same rule.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from ....model.jsonsafe import clean_text, dumps, to_jsonable
from ....model.signals import TABLE_METRICS, TABLE_SCORES, SignalColumn
from ....model.spans import COLUMNS, TABLE_SPANS, ColumnSpec, SpanRecord
from ....model.time import truncate_ms
from ..bounds import bound_record, bound_records
from ..columnar import NULL_COLUMN, Column, Replayable, full_rows
from ..partitions import DayPartitions, days_of, window
from .base import (
    CURSOR,
    SIGNAL_DEFAULTS,
    SIGNAL_INDEXES,
    WHITESPACE,
    NativeTimestamps,
    SqlDialect,
    dedupe_rows,
    sane_rowcount,
    step_literal,
)

logger = logging.getLogger(__name__)
MAX_IDENTIFIER_BYTES = 63
# Bytes of one indexed text value (name, spanType, entity/user/organization columns):
# two of them plus a timestamp stay under a btree entry's 2,704 bytes (see ..bounds).
INDEXED_TEXT_BYTES = 1000
TRIGGER_NAME = f"{TABLE_SPANS}_timestamps"
TRIGGER_FUNCTION = "trigger_set_timestamps"
# (plain column, timestamptz twin, SpanRecord attribute)
TZ_TWINS: tuple[tuple[str, str, str], ...] = (
    ("startedAt", "startedAtZ", "started_at"),
    ("endedAt", "endedAtZ", "ended_at"),
    ("createdAt", "createdAtZ", "created_at"),
    ("updatedAt", "updatedAtZ", "updated_at"),
)
_TWIN_OF = {plain: twin for plain, twin, _ in TZ_TWINS}
_PREPARER = postgresql.dialect().identifier_preparer  # type: ignore[no-untyped-call]
_KEEP = frozenset({"traceId", "spanId", "createdAt", "createdAtZ"})
# The spans table's column order: Mastra's columns, then the twins (see build_table).
_POSITION = {c.name: i for i, c in enumerate(COLUMNS)}
_TABLE_ORDER = (*(c.name for c in COLUMNS), *(twin for _, twin, _ in TZ_TWINS))
# Key of the advisory lock that serialises migrations (a stable 31-bit number).
LOCK_KEY = zlib.crc32(b"mastra_storage.migrate") & 0x7FFFFFFF


class PGText(sa.types.TypeDecorator[str]):
    """``text`` whose bound values never carry NUL (PostgreSQL rejects it)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if isinstance(value, str) and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value


class JsonbText(sa.types.UserDefinedType[Any]):
    """A ``jsonb`` column bound as already-serialised JSON text (``CAST(:p AS JSONB)``).

    Serialisation is ours (:func:`..jsonsafe.dumps`), so the driver never re-encodes the
    value; on the way out psycopg decodes ``jsonb`` into Python values.
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "JSONB"

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.cast(bindvalue, postgresql.JSONB)


class XID8(sa.types.UserDefinedType[Any]):
    """PostgreSQL's 64-bit transaction id (``pg_current_xact_id()``), Mastra's ``xactId``."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


# Mastra's spelling of each signal column kind (tests/contract/postgres-vnext.observability.sql).
_PG_SIGNAL_TYPES = {"text": "text", "timestamp": "timestamptz", "float": "double precision",
                    "json": "jsonb", "tags": "text[]"}


def _pg_kind(type_: Any) -> str | None:
    """The PostgreSQL type (``format_type``'s spelling) of a column type this store writes
    in COPY's binary format, or None."""
    if isinstance(type_, JsonbText):
        return "jsonb"
    if isinstance(type_, postgresql.TIMESTAMP):
        return "timestamp with time zone" if type_.timezone else "timestamp without time zone"
    if isinstance(type_, postgresql.DOUBLE_PRECISION):
        return "double precision"
    if isinstance(type_, postgresql.ARRAY):
        return "text[]" if isinstance(type_.item_type, PGText) else None
    if isinstance(type_, sa.Boolean):
        return "boolean"
    if isinstance(type_, PGText):
        return "text"
    return None


@cache
def _jsonb_text_binary() -> type[Any]:
    """A psycopg dumper of a ``jsonb`` value already serialised (our JSON text) in
    COPY's binary format: the format's version byte, then the text (psycopg's own jsonb
    dumper would encode the string once more, as a JSON string). Built on first use:
    psycopg is optional."""
    from psycopg.adapt import Dumper
    from psycopg.postgres import types
    from psycopg.pq import Format

    class JsonbTextBinary(Dumper):
        format = Format.BINARY
        oid = types["jsonb"].oid

        def dump(self, obj: Any) -> bytes:
            return b"\x01" + str(obj).encode("utf-8")

    return JsonbTextBinary


def pg_name(name: str, taken: set[str] | None = None) -> str:
    """Cut an identifier to PostgreSQL's limit (what the server would do, minus the notice).

    With ``taken`` (the names already given to a table's indexes), a cut name that is
    taken ends in a hash of the whole name instead: in a long schema two of Mastra's
    index names cut to the same text (``…_entitytype_entityid_idx`` and
    ``…_entityname_idx`` from a 30-character schema name), and the second CREATE INDEX
    would fail. The first keeps Mastra's name, so Mastra's ``IF NOT EXISTS`` finds it.
    (Every index and key of a schema shares one namespace.)"""
    raw = name.encode("utf-8")
    cut = name if len(raw) <= MAX_IDENTIFIER_BYTES else \
        raw[:MAX_IDENTIFIER_BYTES].decode("utf-8", "ignore")
    if taken is None:
        return cut
    if cut in taken:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        cut = raw[:MAX_IDENTIFIER_BYTES - 9].decode("utf-8", "ignore") + "_" + digest
    taken.add(cut)
    return cut


class PostgresDialect(NativeTimestamps, SqlDialect):
    name = "postgresql"
    provider = "postgres"
    immutable_columns = _KEEP
    root_metadata = True  # the optional metadata index (root_metadata.py), when installed
    # How batches are written: "values" (SQLAlchemy's multi-row INSERT … VALUES … ON
    # CONFLICT / executemany UPDATE), "copy" (COPY into a temporary staging table, then one
    # INSERT … SELECT … ON CONFLICT / UPDATE … FROM), or "auto": copy from copy_threshold
    # rows on. Measured in docs/sql-servers.md: COPY is ~1.8x faster at 1000 rows, about
    # even at 50-100, and its extra round trips don't pay for a handful of rows.
    bulk_method: str = "auto"
    copy_threshold: int = 50
    # A COPY batch is first tried straight into the table (:meth:`_copy_new`): rows never
    # stored before need no merge. A key already there undoes the attempt and the batch
    # takes the staging table and the merge; the next writes of that table then go
    # straight to the merge (first OPTIMISTIC_BACKOFF of them, doubling while the
    # attempts keep conflicting, up to OPTIMISTIC_BACKOFF_MAX), so a workload of
    # rewrites (a re-import, retries after an outage) wastes few COPYs. Savepoints per
    # transaction are capped: a transaction's first 64 subtransactions are cached in
    # shared memory, beyond that every concurrent snapshot gets slower.
    optimistic: bool = True
    # Rows encoded per slice of a COPY batch (see upsert_records).
    copy_slice: int = 128
    # That COPY in binary format when the table's column types allow (_binary_types).
    binary_copy: bool = True
    OPTIMISTIC_BACKOFF = 4
    OPTIMISTIC_BACKOFF_MAX = 64
    MAX_SAVEPOINTS = 32

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partitions: dict[tuple[str | None, str], DayPartitions] = {}
        # per target table: (writes left that skip the attempt, the next backoff)
        self._backoff: dict[str, tuple[int, int]] = {}
        self._savepoints: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        # per target table: {column: (type oid, type name)} as the catalog has them
        self._column_types: dict[str, dict[str, tuple[int, str]]] = {}

    # ------------------------------------------------------------------ schema
    def column_type(self, spec: ColumnSpec) -> sa.types.TypeEngine[Any]:
        if spec.kind == "json":
            return JsonbText()
        if spec.kind == "timestamp":
            return postgresql.TIMESTAMP(timezone=False)
        if spec.kind == "bool":
            return sa.Boolean()
        return PGText()

    def extra_columns(self) -> list[sa.Column[Any]]:
        return [
            sa.Column(twin, postgresql.TIMESTAMP(timezone=True), nullable=True,
                      server_default=sa.text("now()"))
            for _, twin, _ in TZ_TWINS
        ]

    @staticmethod
    def pk_name(schema: str | None) -> str:
        return pg_name(f"{schema or 'public'}_{TABLE_SPANS}_traceid_spanid_pk")

    @staticmethod
    def index_prefix(schema: str | None) -> str:
        return "" if schema in (None, "public") else f"{schema}_"

    def build_table(self, metadata: sa.MetaData, schema: str | None = None,
                    columns: Sequence[ColumnSpec] = COLUMNS) -> sa.Table:
        table = super().build_table(metadata, schema, columns)
        table.append_constraint(
            sa.PrimaryKeyConstraint("traceId", "spanId", name=self.pk_name(schema)))
        p = self.index_prefix(schema) + TABLE_SPANS
        c = table.c
        taken = {self.pk_name(schema)}  # the key's index shares the schema's namespace

        def name(suffix: str) -> str:
            return pg_name(f"{p}_{suffix}", taken)

        sa.Index(name("entitytype_entityid_idx"), c.entityType, c.entityId)
        sa.Index(name("entitytype_entityname_idx"), c.entityType, c.entityName)
        sa.Index(name("metadata_gin_idx"), c.metadata, postgresql_using="gin")
        sa.Index(name("name_idx"), c.name)
        sa.Index(name("orgid_userid_idx"), c.organizationId, c.userId)
        sa.Index(name("parentspanid_startedat_idx"), c.parentSpanId, c.startedAt.desc())
        sa.Index(name("root_spans_idx"), c.startedAt.desc(),
                 postgresql_where=c.parentSpanId.is_(None))
        sa.Index(name("spantype_startedat_idx"), c.spanType, c.startedAt.desc())
        sa.Index(name("tags_gin_idx"), c.tags, postgresql_using="gin")
        sa.Index(name("traceid_startedat_idx"), c.traceId, c.startedAt.desc())
        return table

    # ------------------------------------------------------------------ row codec
    def decode_json(self, value: Any) -> Any:
        return value  # psycopg already decoded jsonb

    def encode(self, record: SpanRecord, now: datetime | None = None,
               touch: bool = False) -> dict[str, Any]:
        row = super().encode(bound_record(record, INDEXED_TEXT_BYTES), now, touch)
        for plain, twin, _ in TZ_TWINS:
            value = row[plain]  # naive UTC (see encode_timestamp): the twin is the same instant
            row[twin] = value.replace(tzinfo=timezone.utc) if value is not None else None
        return row

    def encode_columns(self, records: Sequence[SpanRecord], now: datetime,
                       touch: bool = False) -> list[Column]:
        """:meth:`encode`'s values column by column (bounded text, naive UTC timestamps),
        then the ``…AtZ`` twins, in the table's column order."""
        columns = super().encode_columns(bound_records(records, INDEXED_TEXT_BYTES), now,
                                         touch)
        for plain, _, _ in TZ_TWINS:
            col = columns[_POSITION[plain]]
            if col is NULL_COLUMN:
                columns.append(NULL_COLUMN)
            elif col[0] is not None and col.count(col[0]) == len(col):
                # one value in every row (createdAt/updatedAt: the batch's time)
                columns.append([col[0].replace(tzinfo=timezone.utc)] * len(col))
            else:
                columns.append([None if v is None else v.replace(tzinfo=timezone.utc)
                                for v in col])
        return columns

    def upsert_records(self, conn: sa.Connection, table: sa.Table,
                       records: Sequence[SpanRecord], now: datetime) -> None:
        """A batch from ``copy_threshold`` rows: encoded column by column, ``copy_slice``
        rows at a time while the COPY streams (:meth:`_upsert_copy`), so the server
        inserts a slice while the next one is encoded; below, as dicts."""
        records = dedupe_records(records)
        if not self._use_copy(records) or tuple(table.c.keys()) != _TABLE_ORDER:
            self.upsert_rows(conn, table, [self.encode(r, now) for r in records])
            return
        step = self.copy_slice
        slices = (records[i:i + step] for i in range(0, len(records), step))
        self._upsert_copy(conn, table, Replayable(
            full_rows(self.encode_columns(part, now), len(part)) for part in slices))

    def read_column(self, table: sa.Table, spec: ColumnSpec) -> sa.ColumnElement[Any]:
        twin = _TWIN_OF.get(spec.name)
        if twin is None or twin not in table.c:
            return super().read_column(table, spec)
        plain = table.c[spec.name]
        as_utc = sa.func.timezone(sa.literal_column("'UTC'"), plain)
        return sa.case(
            (plain.is_(None), sa.null()),
            else_=sa.func.coalesce(table.c[twin], as_utc),
        ).label(spec.name)

    # ------------------------------------------------------------------ expressions
    def json_has_key_value(
        self, col: sa.ColumnElement[Any], key: str, value: Any
    ) -> ColumnElement[bool]:
        # Containment uses the GIN index; it is exact for scalars (JSON true is not 1),
        # but partial for objects/arrays, so those also need the value to be equal.
        value = to_jsonable(value)
        probe, _ = dumps({key: value})
        cond: ColumnElement[bool] = col.op("@>", is_comparison=True)(
            sa.bindparam(None, probe, type_=JsonbText()))
        if isinstance(value, (dict, list)):
            text, _ = dumps(value)
            member = col.op("->", return_type=JsonbText())(
                sa.bindparam(None, key, type_=PGText()))
            cond = cond & member.op("=", is_comparison=True)(
                sa.bindparam(None, text, type_=JsonbText()))
        return cond

    def json_array_contains(self, col: sa.ColumnElement[Any], item: str) -> ColumnElement[bool]:
        probe, _ = dumps([item])
        return col.op("@>", is_comparison=True)(sa.bindparam(None, probe, type_=JsonbText()))

    def equals(self, col: sa.ColumnElement[Any], value: str) -> ColumnElement[bool]:
        # Migration 0003 indexes a context id by its first CONTEXT_PREFIX characters (an id
        # is not cut on write, and a btree entry has a size limit). A shorter value is
        # equal exactly when that prefix is; a longer one also compares the column.
        from ..read_indexes import CONTEXT_COLUMNS, CONTEXT_PREFIX

        if col.key not in CONTEXT_COLUMNS:
            return col == value
        prefix = sa.func.left(col, sa.literal_column(str(CONTEXT_PREFIX)), type_=PGText())
        if len(value) < CONTEXT_PREFIX:
            return prefix == value
        return sa.and_(prefix == value[:CONTEXT_PREFIX], col == value)

    def upsert(self, table: sa.Table) -> sa.Executable:
        stmt = postgresql.insert(table)
        return stmt.on_conflict_do_update(
            index_elements=["traceId", "spanId"],
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in _KEEP},
            where=self.not_ended_over(table.c.endedAt, stmt.excluded.endedAt),
        )

    def _use_copy(self, rows: Sized) -> bool:
        """COPY + merge pays from ``copy_threshold`` rows (measured); VALUES below."""
        method = self.bulk_method
        if method == "auto":
            return len(rows) >= self.copy_threshold
        return method == "copy"

    def upsert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[dict[str, Any]]) -> None:
        rows = dedupe_rows(rows)
        if self._use_copy(rows):
            names = table.c.keys()
            self._upsert_copy(conn, table, [[row[n] for n in names] for row in rows])
        else:
            conn.execute(self.upsert(table), rows)

    def update_rows(self, conn: sa.Connection, table: sa.Table, stmt: sa.Executable,
                    rows: Sequence[dict[str, Any]]) -> int | None:
        rows = dedupe_rows(rows)
        if self._use_copy(rows):
            return self._update_copy(conn, table, rows)
        return sane_rowcount(conn, conn.execute(stmt, rows))

    @contextmanager
    def _driver_errors(self, sql: str) -> Iterator[None]:
        """Raise psycopg errors from the raw-cursor paths as SQLAlchemy's, like every
        other statement of the store (e.g. ``sa.exc.IntegrityError``)."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, None, exc, psycopg.Error) from exc

    def _stage(self, conn: sa.Connection, table: sa.Table,
               rows: Iterable[Sequence[Any]]) -> tuple[Any, str, list[str]]:
        """COPY ``rows`` (values in the table's column order) into this session's staging
        table: (cursor, its name, columns)."""
        names = [c.name for c in table.columns]
        quote = conn.dialect.identifier_preparer.quote
        cols = ", ".join(quote(n) for n in names)
        target = self._qualified(table.schema, table.name)
        stage = stage_table(target, names)
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        sql = f"COPY {stage} ({cols}) FROM STDIN"
        with self._driver_errors(sql):
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                        f"(LIKE {target} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            with cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        return cur, stage, names

    def _copy_new(self, conn: sa.Connection, target: str, columns: Sequence[sa.Column[Any]],
                  rows: Iterable[Sequence[Any]]) -> bool:
        """COPY ``rows`` (values of ``columns``) straight into ``target``: True when done.

        False, with nothing written and the transaction as it was, when a row's key is
        already stored (a retried batch, an update of a stored span, a late start: the
        caller then merges, which keeps the upsert's rules) or when the attempt is not
        made (see :attr:`optimistic`). Any other error (a NOT NULL, a missing partition)
        is raised as the merge would have raised it. The table's trigger fires for COPY
        as for INSERT; a partitioned table routes each row to its partition.

        A COPY that opens the transaction is undone by rolling the transaction back (it
        holds nothing else: the next statement begins it again, and the caller's commit
        ends it); a later one runs inside a savepoint, left to the commit to release
        (one round trip fewer; a later attempt's savepoint of the same name nests).

        The rows go in COPY's binary format when the table's columns have the types
        this store gives them (:meth:`_binary_types`): no text to escape on this side, none
        to parse on the server's."""
        if not self.optimistic:
            return False
        skip, backoff = self._backoff.get(target, (0, self.OPTIMISTIC_BACKOFF))
        if skip:
            self._backoff[target] = (skip - 1, backoff)
            return False
        import psycopg

        raw = conn.connection.driver_connection
        assert raw is not None
        first = raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if not first:
            txn = conn.get_transaction()
            used = self._savepoints.get(txn, 0) if txn is not None else 0
            if used >= self.MAX_SAVEPOINTS:
                return False
            if txn is not None:
                self._savepoints[txn] = used + 1
        cols = ", ".join(_PREPARER.quote(c.name) for c in columns)
        types = self._binary_types(raw, target, columns) if self.binary_copy else None
        sql = f"COPY {target} ({cols}) FROM STDIN" + (" (FORMAT BINARY)" if types else "")
        with raw.cursor() as cur, self._driver_errors(sql):
            if not first:
                cur.execute("SAVEPOINT mastra_storage_copy")
            try:
                with cur.copy(sql) as copy:
                    if types:
                        cur.adapters.register_dumper(None, _jsonb_text_binary())
                        copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
            except psycopg.errors.UniqueViolation:
                if first:
                    raw.rollback()
                else:
                    cur.execute("ROLLBACK TO SAVEPOINT mastra_storage_copy")
                self._backoff[target] = (backoff, min(2 * backoff, self.OPTIMISTIC_BACKOFF_MAX))
                return False
        self._backoff.pop(target, None)
        return True

    def _binary_types(self, raw: Any, target: str,
                      columns: Sequence[sa.Column[Any]]) -> list[int] | None:
        """The type oids of ``columns`` for a binary COPY into ``target``; None (a text
        COPY) unless every column has in the database the type this store gives it: the
        server reads a binary value with the column's own type and no check (jsonb sent
        to a text column would be stored with its version byte). The catalog is read
        once per table."""
        found = self._column_types.get(target)
        if found is None:
            found = self._column_types[target] = self._read_column_types(raw, [target]).get(
                target, {})
        oids = []
        for column in columns:
            got = found.get(column.name)
            if got is None or got[1] != _pg_kind(column.type):
                return None
            oids.append(got[0])
        return oids

    @staticmethod
    def _read_column_types(raw: Any, targets: Sequence[str]
                           ) -> dict[str, dict[str, tuple[int, str]]]:
        """{target: {column: (type oid, type name)}} from the catalog, in one query; a
        target that does not exist is left out."""
        found: dict[str, dict[str, tuple[int, str]]] = {}
        for target, name, oid, kind in raw.execute(
                "SELECT t.name, a.attname, a.atttypid::int, format_type(a.atttypid, NULL) "
                "FROM unnest(%s::text[]) AS t(name) "
                "JOIN pg_attribute a ON a.attrelid = to_regclass(t.name) "
                "WHERE a.attnum > 0 AND NOT a.attisdropped", (list(targets),)).fetchall():
            found.setdefault(target, {})[name] = (oid, kind)
        return found

    def prepare_writes(self, engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
        """Read the column types the binary COPY needs (:meth:`_binary_types`) for all of
        ``tables`` at once, when the store opens. Read lazily, they cost the first batch
        of each table a round trip, and a round trip costs most just then: the writer
        waits for the GIL again after it, while the app's thread is busy emitting.
        Tables that don't exist yet are looked up at their first write, as before."""
        if not self.binary_copy:
            return
        targets = [t for t in dict.fromkeys(self._qualified(t.schema, t.name) for t in tables)
                   if t not in self._column_types]
        if not targets:
            return
        try:
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                self._column_types.update(self._read_column_types(raw, targets))
        except sa.exc.DBAPIError as exc:  # e.g. no connection yet: the first write reads it
            logger.debug("could not read the column types of %s: %s", ", ".join(targets), exc)

    def _update_copy(self, conn: sa.Connection, table: sa.Table,
                     rows: Sequence[dict[str, Any]]) -> int:
        """COPY into the staging table, then one UPDATE … FROM it."""
        quote = conn.dialect.identifier_preparer.quote
        target = self._qualified(table.schema, table.name)
        order = table.c.keys()
        cur, stage, names = self._stage(conn, table, [[row[n] for n in order] for row in rows])
        with cur:
            sets = ", ".join(f"{quote(n)} = s.{quote(n)}" for n in names if n not in _KEEP)
            sql = (f"UPDATE {target} AS t SET {sets} FROM {stage} AS s "
                   'WHERE t."traceId" = s."traceId" AND t."spanId" = s."spanId" AND '
                   + self.NOT_ENDED_OVER_SQL.replace("EXCLUDED.", "s."))
            with self._driver_errors(sql):
                cur.execute(sql)
                changed = int(cur.rowcount)
                cur.execute(f"TRUNCATE {stage}")
        return changed

    def _upsert_copy(self, conn: sa.Connection, table: sa.Table,
                     rows: Iterable[Sequence[Any]]) -> None:
        """COPY ``rows`` (in the table's column order) straight into the table when none
        of their keys is stored yet (:meth:`_copy_new`), else into the staging table,
        then one INSERT … SELECT … ON CONFLICT."""
        quote = conn.dialect.identifier_preparer.quote
        target = self._qualified(table.schema, table.name)
        if self._copy_new(conn, target, list(table.columns), rows):
            return
        cur, stage, names = self._stage(conn, table, rows)
        with cur:
            cols = ", ".join(quote(n) for n in names)
            sets = ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in names
                             if n not in _KEEP)
            sql = (f"INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {stage} "
                   f'ON CONFLICT ("traceId", "spanId") DO UPDATE SET {sets} '
                   f'WHERE {self.NOT_ENDED_OVER_SQL}')
            with self._driver_errors(sql):
                cur.execute(sql)
                # Chunks may share a transaction: empty the stage for the next one.
                cur.execute(f"TRUNCATE {stage}")

    # ------------------------------------------------------------------ signals
    # Mastra's v-next tables exactly: timestamptz, text[] tags, jsonb, bigserial cursor,
    # xid8 transaction id, primary key (id, timestamp), daily range partitions.

    def signal_column_type(self, table_name: str,
                           column: SignalColumn) -> sa.types.TypeEngine[Any]:
        kind = column.kind
        if kind == "timestamp":
            return postgresql.TIMESTAMP(timezone=True)
        if kind == "float":
            return postgresql.DOUBLE_PRECISION()
        if kind == "json":
            return JsonbText()
        if kind == "tags":
            return postgresql.ARRAY(PGText())
        return PGText()

    def signal_lead_columns(self) -> list[sa.Column[Any]]:
        return [sa.Column(CURSOR, sa.BigInteger(), nullable=False),
                sa.Column("xactId", XID8(), nullable=False)]

    def signal_default(self, column: SignalColumn) -> Any:
        return None  # rendered by signal_create_ddl, in Mastra's spelling

    def add_signal_keys(self, table: sa.Table, id_column: str) -> None:
        table.append_constraint(sa.PrimaryKeyConstraint(id_column, "timestamp",
                                                        name=f"{table.name}_pkey"))

    @staticmethod
    def _signal_column_ddl(column: sa.Column[Any], kind: str) -> str:
        out = f'  "{column.name}" {_PG_SIGNAL_TYPES[kind]}'
        if not column.nullable:
            out += " NOT NULL"
        if column.name in SIGNAL_DEFAULTS:
            value = SIGNAL_DEFAULTS[column.name]
            if isinstance(value, list):
                out += " DEFAULT '{}'"
            elif isinstance(value, dict):
                out += " DEFAULT '{}'::jsonb"
            else:
                out += " DEFAULT '" + str(value).replace("'", "''") + "'"
        return out

    @staticmethod
    def signal_kind(column: sa.Column[Any]) -> str:
        t = column.type
        if isinstance(t, postgresql.TIMESTAMP):
            return "timestamp"
        if isinstance(t, postgresql.DOUBLE_PRECISION):
            return "float"
        if isinstance(t, JsonbText):
            return "json"
        if isinstance(t, postgresql.ARRAY):
            return "tags"
        return "text"

    def signal_index_ddl(self, table: sa.Table) -> list[str]:
        """Mastra's ``CREATE INDEX IF NOT EXISTS`` statements for a signal table, in its
        order: btree, GIN on labels (metrics) and tags, the score id index, the cursor."""
        name = table.name
        target = self._qualified(table.schema, name)
        out = []
        for suffix, cols in SIGNAL_INDEXES[name]:
            spec = ", ".join(f'"{c}" DESC' if desc else f'"{c}"' for c, desc in cols)
            out.append(f'CREATE INDEX IF NOT EXISTS "{name}_{suffix}" ON {target} ({spec})')
        if name == TABLE_METRICS:
            out.append(f'CREATE INDEX IF NOT EXISTS "{name}_labels_gin" ON {target} '
                       'USING gin ("labels")')
        out.append(f'CREATE INDEX IF NOT EXISTS "{name}_tags_gin" ON {target} USING gin ("tags")')
        if name == TABLE_SCORES:
            out.append(f'CREATE INDEX IF NOT EXISTS "{name}_scoreid_cursor_idx" ON {target} '
                       '("scoreId", "cursorId" DESC)')
        out.append(f'CREATE INDEX IF NOT EXISTS "{name}_cursor_idx" ON {target} '
                   '("xactId", "cursorId")')
        return out

    def signal_create_ddl(self, table: sa.Table) -> list[Any]:
        """The table as Mastra's ``PostgresStoreVNext`` creates it (its text, from the
        columns of ``table``), partitioned by day on ``timestamp``, and its indexes."""
        data = [c for c in table.columns if c.name not in (CURSOR, "xactId")]
        lines = ['  "cursorId" bigserial NOT NULL',
                 '  "xactId" xid8 NOT NULL DEFAULT pg_current_xact_id()',
                 *(self._signal_column_ddl(c, self.signal_kind(c)) for c in data),
                 f'  PRIMARY KEY ("{data[0].name}", "timestamp")']
        create = (f"CREATE TABLE IF NOT EXISTS {self._qualified(table.schema, table.name)} (\n"
                  + ",\n".join(lines) + '\n)\nPARTITION BY RANGE ("timestamp")')
        return [sa.text(create), *(sa.text(i) for i in self.signal_index_ddl(table))]

    def encode_signal_timestamp(self, value: datetime) -> Any:
        return truncate_ms(value)  # aware UTC, for timestamptz

    def decode_signal_timestamp(self, value: Any) -> datetime | None:
        return truncate_ms(value) if value is not None else None

    def encode_tags(self, tags: Any) -> Any:
        return [clean_text(t) if isinstance(t, str) else str(t) for t in tags or ()]

    def decode_tags(self, value: Any) -> list[Any] | None:
        return list(value) if value else None

    def insert_signals(self, conn: sa.Connection, table: sa.Table, id_column: str,
                       names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self._use_copy(rows):
            self._insert_signals_copy(conn, table, id_column, names, rows)
            return
        stmt = postgresql.insert(table).on_conflict_do_nothing(
            index_elements=[id_column, "timestamp"])
        conn.execute(stmt, [dict(zip(names, r, strict=True)) for r in rows])

    def insert_signal_columns(self, conn: sa.Connection, table: sa.Table, id_column: str,
                              names: Sequence[str], columns: Sequence[Column]) -> None:
        size = next((len(c) for c in columns if c is not NULL_COLUMN), 0)
        self.insert_signals(conn, table, id_column, names, full_rows(columns, size))

    def _insert_signals_copy(self, conn: sa.Connection, table: sa.Table, id_column: str,
                             names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY straight into the table when no record is stored yet (:meth:`_copy_new`;
        their ids are new UUIDs nearly always), else into a staging table of the data
        columns, then one INSERT … SELECT … ON CONFLICT DO NOTHING: the way spans are
        written (measured ~2.5x faster than the executemany of VALUES for 1,000 metrics),
        records already stored skipped as before. The stage is made ``AS SELECT … WITH
        NO DATA``: no NOT NULL on the cursor columns, which the target's own defaults
        fill (as they do for the COPY into the table)."""
        target = self._qualified(table.schema, table.name)
        cols = ", ".join(_PREPARER.quote(n) for n in names)
        if self._copy_new(conn, target, [table.c[n] for n in names], rows):
            return
        stage = stage_table(target, names, prefix=table.name)
        raw = conn.connection.driver_connection
        assert raw is not None
        copy_sql = f"COPY {stage} ({cols}) FROM STDIN"
        merge = (f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} "
                 f'ON CONFLICT ({_PREPARER.quote(id_column)}, "timestamp") DO NOTHING')
        with raw.cursor() as cur:
            with self._driver_errors(copy_sql):
                cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                            f"AS SELECT {cols} FROM {target} WITH NO DATA")
                with cur.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            with self._driver_errors(merge):
                cur.execute(merge)
                cur.execute(f"TRUNCATE {stage}")  # chunks may share a transaction

    def signal_tags_contains(self, col: sa.ColumnElement[Any],
                             tag: str) -> ColumnElement[bool]:
        probe = sa.bindparam(None, [tag], type_=postgresql.ARRAY(PGText()))
        return col.op("@>", is_comparison=True)(probe)

    def signal_tag_elements(self, col: sa.ColumnElement[Any], alias: str
                            ) -> tuple[Any, sa.ColumnElement[Any]]:
        each = sa.func.unnest(col).table_valued("value").render_derived().alias(alias)
        return each, each.c.value

    @staticmethod
    def _as_text(value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """A jsonb string as text, anything else NULL."""
        return sa.case((sa.func.jsonb_typeof(value) == "string",
                        value.op("#>>", return_type=sa.Text())(sa.literal_column("'{}'"))),
                       else_=sa.null())

    def json_string_elements(self, col: sa.ColumnElement[Any], alias: str
                             ) -> tuple[Any, sa.ColumnElement[Any]]:
        array = sa.case((sa.func.jsonb_typeof(col) == "array", col),
                        else_=sa.literal_column("'[]'::jsonb"))
        each = sa.func.jsonb_array_elements(array).table_valued("value").render_derived() \
            .alias(alias)
        return each, self._as_text(each.c.value)

    def json_members(self, col: sa.ColumnElement[Any], alias: str
                     ) -> tuple[Any, sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        obj = sa.case((sa.func.jsonb_typeof(col) == "object", col),
                      else_=sa.literal_column("'{}'::jsonb"))
        each = sa.func.jsonb_each(obj).table_valued("key", "value").alias(alias)
        return each, each.c.key, self._as_text(each.c.value)

    def json_member(self, col: sa.ColumnElement[Any], key: str, text_only: bool = False,
                    non_blank: bool = False) -> sa.ColumnElement[Any]:
        k = sa.bindparam(None, key, type_=PGText())
        if not (text_only or non_blank):
            return col.op("->>", return_type=sa.Text())(k)
        member = col.op("->", return_type=JsonbText())(k)
        text = member.op("#>>", return_type=sa.Text())(sa.literal_column("'{}'"))
        is_text = sa.func.jsonb_typeof(member) == "string"
        if non_blank:
            is_text = sa.and_(is_text, self.not_blank(text))
        return sa.case((is_text, text), else_=sa.null())

    def json_array_nonempty(self, col: sa.ColumnElement[Any]) -> ColumnElement[bool]:
        return sa.func.coalesce(sa.and_(sa.func.jsonb_typeof(col) == "array",
                                        col.op("<>", is_comparison=True)(
                                            sa.literal_column("'[]'::jsonb"))), sa.false())

    def epoch_ms(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.cast(sa.func.round(sa.extract("epoch", col) * 1000), sa.BigInteger())

    def epoch_bucket(self, col: sa.ColumnElement[Any], seconds: int) -> sa.ColumnElement[Any]:
        epoch = sa.func.date_part("epoch", col, type_=sa.Float())
        step = step_literal(seconds)
        return sa.cast(sa.func.floor(epoch / step), sa.BigInteger()) * step

    def contains_text(self, col: sa.ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return sa.func.strpos(sa.func.lower(col), sa.bindparam(None, needle, type_=PGText())) > 0

    def not_blank(self, expr: sa.ColumnElement[Any]) -> ColumnElement[bool]:
        return sa.func.btrim(expr, sa.bindparam(None, WHITESPACE, type_=PGText())) != ""

    def byte_length(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.octet_length(expr)

    native_percentiles = True

    def percentile_value(self, p: float, value: sa.ColumnElement[Any],
                         bucket: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.percentile_cont(sa.literal(p, sa.Float())).within_group(value)

    def table_bytes(self, conn: sa.Connection, table: sa.Table) -> int | None:
        value = conn.execute(sa.text(
            "SELECT pg_total_relation_size(CAST(:t AS regclass)) + coalesce((SELECT "
            "sum(pg_total_relation_size(relid)) FROM pg_partition_tree(CAST(:t AS regclass)) "
            "WHERE relid <> CAST(:t AS regclass)), 0)"),
            {"t": self._qualified(table.schema, table.name)}).scalar()
        return int(value or 0)

    def prepare_signal_tables(self, engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
        # As Mastra's init(): the coming days' partitions exist before anyone writes. A
        # role that may not create tables (a read-only reader) still opens the store; a
        # write makes its days itself, or says why it can't.
        for table in tables:
            try:
                self.partitions(table).ensure(engine, window())
            except (sa.exc.DBAPIError, RuntimeError) as exc:
                logger.warning("could not create the coming days' partitions of %s: %s",
                               table.name, exc)
                return

    def before_signal_write(self, engine: sa.Engine, table: sa.Table,
                            timestamps: Sequence[datetime]) -> None:
        self.partitions(table).ensure(engine, days_of(timestamps))

    def lacks_room(self, error: BaseException) -> bool:
        # e.g. another process pruned a day this store still thought was there
        return "no partition of relation" in str(error)

    def forget_room(self, table: sa.Table) -> None:
        self.partitions(table).forget()

    def drop_signal_partitions(self, engine: sa.Engine, table: sa.Table,
                               cutoff: datetime) -> int:
        return self.partitions(table).drop_before(engine, cutoff)

    def partitions(self, table: sa.Table) -> DayPartitions:
        """The daily partitions of a signal table (one tracker per table and store)."""
        key = (table.schema, table.name)
        if key not in self._partitions:
            self._partitions[key] = DayPartitions(table.schema, table.name)
        return self._partitions[key]

    # ------------------------------------------------------------------ migrations
    def migration_lock(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})

    def create_schema_sql(self, schema: str) -> str:
        return f"CREATE SCHEMA IF NOT EXISTS {_PREPARER.quote(schema)}"

    def function_ddl(self, schema: str | None) -> sa.TextClause:
        fn = self._qualified(schema, TRIGGER_FUNCTION)
        sets_insert = "\n".join(
            f'        NEW."{c}" = NOW();'
            for c in ("createdAt", "updatedAt", "createdAtZ", "updatedAtZ"))
        return sa.text(
            f"CREATE OR REPLACE FUNCTION {fn}()\n"
            " RETURNS trigger\n"
            " LANGUAGE plpgsql\n"
            "AS $function$\n"
            "BEGIN\n"
            "    IF TG_OP = 'INSERT' THEN\n"
            f"{sets_insert}\n"
            "    ELSIF TG_OP = 'UPDATE' THEN\n"
            '        NEW."updatedAt" = NOW();\n'
            '        NEW."updatedAtZ" = NOW();\n'
            '        NEW."createdAt" = OLD."createdAt";\n'
            '        NEW."createdAtZ" = OLD."createdAtZ";\n'
            "    END IF;\n"
            "    RETURN NEW;\n"
            "END;\n"
            "$function$"
        )

    def trigger_ddl(self, table: sa.Table) -> sa.TextClause:
        return sa.text(
            f"CREATE TRIGGER {TRIGGER_NAME} BEFORE INSERT OR UPDATE ON "
            f"{self._qualified(table.schema, table.name)} FOR EACH ROW EXECUTE FUNCTION "
            f"{self._qualified(table.schema, TRIGGER_FUNCTION)}()"
        )

    def extra_ddl(self, table: sa.Table) -> list[Any]:
        return [self.function_ddl(table.schema), self.trigger_ddl(table)]

    def adopt_ddl(self, table: sa.Table, added: Sequence[str] = ()) -> list[Any]:
        """For a table Mastra created: backfill twins we just added, ensure the trigger."""
        out: list[Any] = []
        qualified = self._qualified(table.schema, table.name)
        backfill = [(plain, twin) for plain, twin, _ in TZ_TWINS if twin in added]
        if backfill:
            sets = ", ".join(f'"{twin}" = "{plain}" AT TIME ZONE \'UTC\''
                             for plain, twin in backfill)
            # Without the trigger: a backfill is not an update of the spans.
            out.append(sa.text(_if_trigger(table, TRIGGER_NAME,
                                           f"ALTER TABLE {qualified} DISABLE TRIGGER "
                                           f"{TRIGGER_NAME}")))
            out.append(sa.text(f"UPDATE {qualified} SET {sets}"))
            # Defaults only now: adding them with the column would have stamped every
            # existing row with the migration's time.
            out += [sa.text(f'ALTER TABLE {qualified} ALTER COLUMN "{twin}" SET DEFAULT now()')
                    for _, twin in backfill]
            out.append(sa.text(_if_trigger(table, TRIGGER_NAME,
                                           f"ALTER TABLE {qualified} ENABLE TRIGGER "
                                           f"{TRIGGER_NAME}")))
        out.append(self.function_ddl(table.schema))
        create = self.trigger_ddl(table).text
        out.append(sa.text(_if_trigger(table, TRIGGER_NAME, create, negate=True)))
        return out

    @staticmethod
    def _qualified(schema: str | None, name: str) -> str:
        quote = _PREPARER.quote
        return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def _if_trigger(table: sa.Table, trigger: str, statement: str, negate: bool = False) -> str:
    """A DO block running ``statement`` only if the trigger exists (or not, ``negate``)."""
    rel = PostgresDialect._qualified(table.schema, table.name).replace("'", "''")
    test = "NOT EXISTS" if negate else "EXISTS"
    return (
        "DO $do$ BEGIN\n"
        f"  IF {test} (SELECT 1 FROM pg_trigger WHERE tgname = '{trigger}' "
        f"AND tgrelid = '{rel}'::regclass) THEN\n"
        f"    {statement};\n"
        "  END IF;\n"
        "END $do$"
    )


def stage_table(target: str, names: Sequence[str], prefix: str = TABLE_SPANS) -> str:
    """This session's temporary staging table for ``target`` with exactly ``names``.

    The name carries a hash of both, so a pooled connection whose staging table predates
    a migration (or serves another schema) never COPYs into the wrong shape.
    """
    digest = zlib.crc32(("|".join([target, *names])).encode("utf-8"))
    return f"{prefix}_stage_{digest:08x}"


def dedupe_records(records: Sequence[SpanRecord]) -> Sequence[SpanRecord]:
    """One record per ``(traceId, spanId)``, the last one winning (as :func:`dedupe_rows`
    for rows): one statement can't upsert a key twice."""
    if len(records) < 2 or len({(r.trace_id, r.span_id) for r in records}) == len(records):
        return records
    seen: dict[tuple[str, str], SpanRecord] = {}
    for record in records:
        key = (record.trace_id, record.span_id)
        seen.pop(key, None)
        seen[key] = record
    return list(seen.values())
