"""What differs between the SQL backends, and nothing else.

:class:`SqlDialect` holds the handful of decisions that are not portable: column types,
the contract's index list, how a row is encoded and decoded, how JSON is read and
matched, and how an upsert is spelled. :class:`~.store.SQLStore` is written once against
this interface; SQLite, PostgreSQL and MSSQL each subclass it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ....model.jsonsafe import DEFAULT_MAX_BYTES, clean_text, dumps, loads
from ....model.spans import COLUMNS, TABLE_SPANS, ColumnSpec, SpanRecord
from ....model.time import format_iso, parse_iso, truncate_ms

_GET_ALL = attrgetter(*(c.attr for c in COLUMNS))
_NAMES = tuple(c.name for c in COLUMNS)
_TEXT = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "text")
_JSON = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "json")
_TIMESTAMP = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "timestamp")
_BOOL = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "bool")
_CREATED = _NAMES.index("createdAt")
_UPDATED = _NAMES.index("updatedAt")


class SqlDialect:
    """Base: SQLite semantics (text timestamps and text JSON); subclasses override."""

    name: ClassVar[str] = ""
    provider: ClassVar[str] = ""
    # Never rewritten by an upsert or an update: the key and the insert time (and, in
    # dialects with extra columns, their twins).
    immutable_columns: ClassVar[frozenset[str]] = frozenset({"traceId", "spanId", "createdAt"})

    def __init__(self, max_json_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_json_bytes = max_json_bytes
        self.truncated_fields = 0  # JSON values replaced by the truncation marker

    # ------------------------------------------------------------------ schema
    def column_type(self, spec: ColumnSpec) -> sa.types.TypeEngine[Any]:
        raise NotImplementedError

    def extra_columns(self) -> list[sa.Column[Any]]:
        """Columns beyond Mastra's common list (e.g. PostgreSQL's ``…AtZ`` twins)."""
        return []

    def table_args(self, table_name: str) -> list[Any]:
        """Keys and indexes, named as Mastra's store names them."""
        return []

    def build_table(self, metadata: sa.MetaData, schema: str | None = None,
                    columns: Sequence[ColumnSpec] = COLUMNS) -> sa.Table:
        """The spans table; ``columns`` defaults to the live model (a migration passes the
        column list frozen at its revision)."""
        cols: list[Any] = [
            sa.Column(spec.name, self.column_type(spec), nullable=spec.nullable)
            for spec in columns
        ]
        cols.extend(self.extra_columns())
        return sa.Table(TABLE_SPANS, metadata, *cols, *self.table_args(TABLE_SPANS),
                        schema=schema)

    # ------------------------------------------------------------------ row codec
    def encode_timestamp(self, value: datetime | None) -> Any:
        return format_iso(value) if value is not None else None

    def decode_timestamp(self, value: Any) -> datetime | None:
        return parse_iso(value) if value is not None else None

    def encode_json(self, value: Any) -> Any:
        text, truncated = dumps(value, self.max_json_bytes)
        if truncated:
            self.truncated_fields += 1
        return text

    def decode_json(self, value: Any) -> Any:
        return loads(value)

    def encode_bool(self, value: bool) -> Any:
        return bool(value)

    def encode_text(self, value: str | None) -> Any:
        return clean_text(value)

    def encode(self, record: SpanRecord, now: datetime | None = None,
               touch: bool = False) -> dict[str, Any]:
        """A parameter dict keyed by column name (see :meth:`encode_values`)."""
        return dict(zip(_NAMES, self.encode_values(record, now, touch), strict=True))

    def encode_values(self, record: SpanRecord, now: datetime | None = None,
                      touch: bool = False) -> list[Any]:
        """The row's values in ``COLUMNS`` order.

        A missing ``createdAt``/``updatedAt`` takes ``now``; ``touch`` sets ``updatedAt``
        to ``now`` (an update). Values are read with one ``attrgetter`` and only non-None
        ones go through the per-kind hooks: this runs for every stored row.
        """
        values = list(_GET_ALL(record))
        if now is not None:
            if values[_CREATED] is None:
                values[_CREATED] = now
            if touch or values[_UPDATED] is None:
                values[_UPDATED] = now
        for i in _TEXT:
            v = values[i]
            if v is not None:
                values[i] = self.encode_text(v)
        for i in _JSON:
            v = values[i]
            if v is not None:
                values[i] = self.encode_json(v)
        for i in _TIMESTAMP:
            v = values[i]
            if v is not None:
                values[i] = self.encode_timestamp(v)
        for i in _BOOL:
            values[i] = self.encode_bool(values[i])
        return values

    def decode(self, row: Mapping[str, Any]) -> SpanRecord:
        values: dict[str, Any] = {}
        for spec in COLUMNS:
            if spec.name not in row:
                continue
            value = row[spec.name]
            if spec.kind == "json":
                value = self.decode_json(value)
            elif spec.kind == "timestamp":
                value = self.decode_timestamp(value)
            elif spec.kind == "bool":
                value = bool(value)
            values[spec.attr] = value
        return SpanRecord(**values)

    # ------------------------------------------------------------------ expressions
    def read_column(self, table: sa.Table, spec: ColumnSpec) -> sa.ColumnElement[Any]:
        """The expression that selects column ``spec`` (labelled with its name)."""
        col = table.c[spec.name]
        return self.read_json(col) if spec.kind == "json" else col

    def read_json(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The expression that selects a JSON column as text (or a driver JSON value)."""
        return col

    def timestamp_param(self, value: datetime) -> Any:
        return self.encode_timestamp(value)

    def json_has_key_value(
        self, col: sa.ColumnElement[Any], key: str, value: Any
    ) -> ColumnElement[bool]:
        """Top-level ``key`` of JSON object ``col`` equals ``value`` (bound parameters only)."""
        raise NotImplementedError

    def json_array_contains(self, col: sa.ColumnElement[Any], item: str) -> ColumnElement[bool]:
        """JSON array ``col`` has the string element ``item``."""
        raise NotImplementedError

    def upsert(self, table: sa.Table) -> sa.Executable:
        """INSERT … that rewrites every non-key column except createdAt on conflict."""
        raise NotImplementedError

    def upsert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[dict[str, Any]]) -> None:
        conn.execute(self.upsert(table), list(rows))

    def upsert_records(self, conn: sa.Connection, table: sa.Table,
                       records: Sequence[SpanRecord], now: datetime) -> None:
        """Encode and upsert; a dialect with a positional fast path overrides this."""
        self.upsert_rows(conn, table, [self.encode(r, now) for r in records])

    def update_rows(self, conn: sa.Connection, table: sa.Table, stmt: sa.Executable,
                    rows: Sequence[dict[str, Any]]) -> None:
        """Run ``stmt`` (UPDATE … WHERE key = :_traceId/:_spanId) for every row."""
        conn.execute(stmt, list(rows))

    def key_columns(self) -> tuple[str, str]:
        return ("traceId", "spanId")

    # ------------------------------------------------------------------ migrations
    def migration_lock(self, conn: sa.Connection) -> None:
        """Serialise concurrent migrations of one database (held until commit/rollback)."""

    def create_schema_sql(self, schema: str) -> str:
        """The statement that creates ``schema`` if it is missing."""
        raise ValueError(f"schema= is not supported by {self.name}")

    def create_ddl(self, table: sa.Table) -> list[Any]:
        """Statements that create the table as Mastra's store does, indexes included."""
        out: list[Any] = [sa.schema.CreateTable(table)]
        out += [sa.schema.CreateIndex(ix)
                for ix in sorted(table.indexes, key=lambda i: str(i.name))]
        return out + self.extra_ddl(table)

    def extra_ddl(self, table: sa.Table) -> list[Any]:
        """Anything beyond table and indexes (PostgreSQL: the timestamps trigger)."""
        return []

    def adopt_ddl(self, table: sa.Table, added: Sequence[str] = ()) -> list[Any]:
        """What an adopted (Mastra-created) table still needs beyond columns and indexes.

        ``added`` names the columns the migration just added to it (e.g. to backfill).
        """
        return []


class NativeTimestamps:
    """Timestamps as the driver's naive datetimes holding UTC (PostgreSQL ``timestamp``,
    SQL Server ``DATETIME2``), read back as UTC-aware at millisecond precision."""

    def encode_timestamp(self, value: datetime | None) -> Any:
        return utc_naive(value) if value is not None else None

    def decode_timestamp(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return truncate_ms(value)  # naive = UTC; aware converted to UTC
        return parse_iso(value)

    def timestamp_param(self, value: datetime) -> Any:
        return utc_naive(value)


def utc_naive(value: datetime) -> datetime:
    return truncate_ms(value).replace(tzinfo=None)


def dedupe_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ``(traceId, spanId)``, the last one winning.

    A single statement can't upsert a key twice (PostgreSQL's ON CONFLICT refuses it,
    MERGE too), and in a batch the later snapshot of a span is the newer one.
    """
    if len(rows) < 2:
        return list(rows)
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in rows:
        key = (row["traceId"], row["spanId"])
        seen.pop(key, None)
        seen[key] = row
    return list(seen.values()) if len(seen) != len(rows) else list(rows)
