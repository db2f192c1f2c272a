"""Microsoft SQL Server: the table as ``@mastra/mssql`` creates it.

* Key and indexed columns are ``NVARCHAR(100)``, every other text and all JSON columns
  ``NVARCHAR(MAX)``, timestamps ``DATETIME2(7)`` holding UTC (Mastra's MSSQL store writes
  UTC into ``DATETIME2``; there are no ``…AtZ`` twins in SQL Server), ``isEvent`` ``BIT``.
  A value longer than 100 characters in an ``NVARCHAR(100)`` column is cut to 100 (the
  server would reject the whole batch otherwise).
* Primary key ``(traceId, spanId)`` and PostgreSQL's index list minus the GIN indexes
  (``jsonb`` has no SQL Server counterpart), the root-span index as a filtered index;
  names as Mastra's: ``<schema>_`` prefixed when a schema is given.
* Upserts are ``MERGE … WITH (HOLDLOCK)`` (HOLDLOCK makes the match-then-insert atomic
  under concurrency), run with pyodbc's ``fast_executemany`` on Microsoft's driver.
* JSON filters never build a JSON path from user input: ``OPENJSON(col)`` is joined and
  its ``[key]``/``[type]``/``[value]`` compared with bound parameters. Text comparisons
  follow the database collation (case-insensitive by default), as Mastra's store does.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.sql.elements import ColumnElement, quoted_name

from ....model.jsonsafe import dumps, to_jsonable
from ....model.spans import COLUMNS, TABLE_SPANS, ColumnSpec, SpanRecord
from .base import NativeTimestamps, SqlDialect, dedupe_rows

KEY_LENGTH = 100
# Key of the application lock that serialises migrations (a stable 31-bit number).
LOCK_KEY = zlib.crc32(b"mastra_storage.migrate") & 0x7FFFFFFF
LOCK_TIMEOUT_MS = 120_000
# OPENJSON's [type] column: https://learn.microsoft.com/sql/t-sql/functions/openjson-transact-sql
JSON_NULL, JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_ARRAY, JSON_OBJECT = range(6)
_INDEXED = frozenset(c.name for c in COLUMNS if c.indexed and c.kind == "text")


class MSSQLDialect(NativeTimestamps, SqlDialect):
    name = "mssql"
    provider = "mssql"

    # ------------------------------------------------------------------ schema
    def column_type(self, spec: ColumnSpec) -> sa.types.TypeEngine[Any]:
        if spec.kind == "timestamp":
            return mssql.DATETIME2(precision=7)  # type: ignore[no-untyped-call]
        if spec.kind == "bool":
            return mssql.BIT()
        if spec.kind == "text" and spec.indexed:
            return mssql.NVARCHAR(KEY_LENGTH)
        return mssql.NVARCHAR(None)  # NVARCHAR(max)

    @staticmethod
    def name_prefix(schema: str | None) -> str:
        return f"{schema}_" if schema else ""

    def build_table(self, metadata: sa.MetaData, schema: str | None = None,
                    columns: Sequence[ColumnSpec] = COLUMNS) -> sa.Table:
        table = super().build_table(metadata, schema, columns)
        p = self.name_prefix(schema) + TABLE_SPANS
        table.append_constraint(
            sa.PrimaryKeyConstraint("traceId", "spanId", name=f"{p}_traceid_spanid_pk"))
        c = table.c
        sa.Index(f"{p}_entitytype_entityid_idx", c.entityType, c.entityId)
        sa.Index(f"{p}_entitytype_entityname_idx", c.entityType, c.entityName)
        sa.Index(f"{p}_name_idx", c.name)
        sa.Index(f"{p}_orgid_userid_idx", c.organizationId, c.userId)
        sa.Index(f"{p}_parentspanid_startedat_idx", c.parentSpanId, c.startedAt.desc())
        sa.Index(f"{p}_root_spans_idx", c.startedAt.desc(),
                 mssql_where=c.parentSpanId.is_(None))
        sa.Index(f"{p}_spantype_startedat_idx", c.spanType, c.startedAt.desc())
        sa.Index(f"{p}_traceid_startedat_idx", c.traceId, c.startedAt.desc())
        return table

    # ------------------------------------------------------------------ row codec
    def encode(self, record: SpanRecord, now: datetime | None = None,
               touch: bool = False) -> dict[str, Any]:
        row = super().encode(record, now, touch)
        for name in _INDEXED:
            value = row[name]
            if value is not None and len(value) > KEY_LENGTH:
                row[name] = value[:KEY_LENGTH]
        return row

    # ------------------------------------------------------------------ expressions
    @staticmethod
    def _openjson(col: sa.ColumnElement[Any], alias: str) -> Any:
        """``OPENJSON(col) AS alias`` with its default schema: [key], [value], [type]."""
        return sa.func.OPENJSON(col).table_valued(
            sa.column(quoted_name("key", True), sa.Unicode()),
            sa.column(quoted_name("value", True), sa.UnicodeText()),
            sa.column(quoted_name("type", True), sa.Integer()),
        ).alias(alias)

    def json_has_key_value(
        self, col: sa.ColumnElement[Any], key: str, value: Any
    ) -> ColumnElement[bool]:
        oj = self._openjson(col, "oj")
        value = to_jsonable(value)
        cond: ColumnElement[bool] = oj.c.key == sa.bindparam(None, key, type_=sa.Unicode())
        if value is None:
            cond = cond & (oj.c.type == JSON_NULL)
        elif isinstance(value, bool):
            cond = cond & (oj.c.type == JSON_BOOL) & (
                oj.c.value == sa.bindparam(None, "true" if value else "false",
                                           type_=sa.Unicode()))
        elif isinstance(value, (int, float)):
            as_float = sa.func.TRY_CONVERT(sa.literal_column("FLOAT"), oj.c.value,
                                           type_=sa.Float())
            cond = cond & (oj.c.type == JSON_NUMBER) & (
                as_float == sa.bindparam(None, float(value), type_=sa.Float()))
        elif isinstance(value, str):
            cond = cond & (oj.c.type == JSON_STRING) & (
                oj.c.value == sa.bindparam(None, value, type_=sa.UnicodeText()))
        else:
            # Objects/arrays: equal when their compact JSON text is (as both writers emit it).
            text, _ = dumps(value)
            cond = cond & (oj.c.type >= JSON_ARRAY) & (  # array or object
                oj.c.value == sa.bindparam(None, text, type_=sa.UnicodeText()))
        return sa.exists(sa.select(sa.literal_column("1")).select_from(oj).where(cond))

    def json_array_contains(self, col: sa.ColumnElement[Any], item: str) -> ColumnElement[bool]:
        oj = self._openjson(col, "oj")
        return sa.exists(
            sa.select(sa.literal_column("1")).select_from(oj).where(
                (oj.c.type == JSON_STRING)
                & (oj.c.value == sa.bindparam(None, item, type_=sa.UnicodeText()))))

    # ------------------------------------------------------------------ migrations
    def migration_lock(self, conn: sa.Connection) -> None:
        conn.execute(sa.text(
            "DECLARE @r INT; EXEC @r = sp_getapplock @Resource = :res, @LockMode = 'Exclusive', "
            "@LockOwner = 'Transaction', @LockTimeout = :timeout; "
            "IF @r < 0 THROW 50001, 'mastra-storage: could not take the migration lock', 1;"),
            {"res": f"mastra_storage_migrate_{LOCK_KEY}", "timeout": LOCK_TIMEOUT_MS})

    def create_schema_sql(self, schema: str) -> str:
        # CREATE SCHEMA must be alone in its batch: run it through EXEC.
        ident = mssql.dialect().identifier_preparer.quote(schema)  # type: ignore[no-untyped-call]
        create = f"CREATE SCHEMA {ident}".replace("'", "''")
        literal = schema.replace("'", "''")
        return f"IF SCHEMA_ID(N'{literal}') IS NULL EXEC(N'{create}')"

    # ------------------------------------------------------------------ upserts
    def upsert(self, table: sa.Table) -> sa.Executable:
        dialect = mssql.dialect()  # type: ignore[no-untyped-call]
        q = dialect.identifier_preparer.quote
        type_sql = dialect.type_compiler_instance.process
        target = f"{q(table.schema)}.{q(table.name)}" if table.schema else q(table.name)
        names = [c.name for c in table.columns]
        cols = ", ".join(q(n) for n in names)
        # Every source value is CAST to its column's type: parameter types never depend on
        # what the driver deduces (or guesses from a first row of NULLs).
        source = ", ".join(f"CAST(:{c.name} AS {type_sql(c.type)}) AS {q(c.name)}"
                           for c in table.columns)
        sets = ", ".join(f"t.{q(n)} = s.{q(n)}" for n in names if n not in self.immutable_columns)
        values = ", ".join(f"s.{q(n)}" for n in names)
        sql = (
            f"MERGE INTO {target} WITH (HOLDLOCK) AS t\n"
            f"USING (SELECT {source}) AS s\n"
            "ON t.[traceId] = s.[traceId] AND t.[spanId] = s.[spanId]\n"
            f"WHEN MATCHED THEN UPDATE SET {sets}\n"
            f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values});"
        )
        return sa.text(sql).bindparams(
            *[sa.bindparam(c.name, type_=c.type) for c in table.columns])

    def upsert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[dict[str, Any]]) -> None:
        conn.execute(self.upsert(table), dedupe_rows(rows))
