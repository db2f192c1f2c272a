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
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement, quoted_name
from sqlalchemy.sql.selectable import Join

from ....model.jsonsafe import dumps, to_jsonable
from ....model.signals import SignalColumn
from ....model.spans import COLUMNS, TABLE_SPANS, ColumnSpec, SpanRecord
from .base import (
    CURSOR,
    SIGNAL_INDEX_INCLUDES,
    SIGNAL_INDEXES,
    WHITESPACE,
    NativeTimestamps,
    SqlDialect,
    dedupe_rows,
    step_literal,
)

KEY_LENGTH = 100
# Key of the application lock that serialises migrations (a stable 31-bit number).
LOCK_KEY = zlib.crc32(b"mastra_storage.migrate") & 0x7FFFFFFF
LOCK_TIMEOUT_MS = 120_000
# OPENJSON's [type] column: https://learn.microsoft.com/sql/t-sql/functions/openjson-transact-sql
JSON_NULL, JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_ARRAY, JSON_OBJECT = range(6)
_INDEXED = frozenset(c.name for c in COLUMNS if c.indexed and c.kind == "text")
# Signal tables: the id and every text column of an index are NVARCHAR(255) (an index key
# of up to three of them stays under SQL Server's 1,700-byte limit); longer values are cut.
SIGNAL_KEY_LENGTH = 255
_SIGNAL_INDEXED = {table: frozenset(c for _, cols in specs for c, _ in cols)
                   for table, specs in SIGNAL_INDEXES.items()}
_SIGNAL_IDS = frozenset({"logId", "metricId", "scoreId", "feedbackId"})
_EPOCH = "CAST('1970-01-01' AS DATETIME2)"


class CrossApply(Join):
    """``left CROSS APPLY right``: SQL Server's join of a table function of ``left``'s
    columns (what LATERAL is elsewhere)."""

    inherit_cache = True

    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(left, right, sa.true())


@compiles(CrossApply)
def _cross_apply(element: CrossApply, compiler: Any, **kw: Any) -> str:
    linter = kw.get("from_linter")
    if linter is not None:
        linter.edges.update((a, b) for a in element.left._from_objects
                            for b in element.right._from_objects)
    kw["asfrom"] = True
    return (f"{compiler.process(element.left, **kw)} CROSS APPLY "
            f"{compiler.process(element.right, **kw)}")


class TrimChars(ColumnElement[Any]):
    """``TRIM(chars FROM expr)`` (SQL Server 2017+)."""

    inherit_cache = True
    type = sa.UnicodeText()

    def __init__(self, expr: Any, chars: Any) -> None:
        self.expr = expr
        self.chars = chars


@compiles(TrimChars)
def _trim_chars(element: TrimChars, compiler: Any, **kw: Any) -> str:
    chars = compiler.process(element.chars, **kw)
    return f"TRIM({chars} FROM {compiler.process(element.expr, **kw)})"


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

    # ------------------------------------------------------------------ signals
    def signal_column_type(self, table_name: str,
                           column: SignalColumn) -> sa.types.TypeEngine[Any]:
        kind = column.kind
        if kind == "timestamp":
            return mssql.DATETIME2(precision=7)  # type: ignore[no-untyped-call]
        if kind == "float":
            return mssql.FLOAT()
        if kind == "text" and (column.name in _SIGNAL_IDS
                               or column.name in _SIGNAL_INDEXED.get(table_name, ())):
            return mssql.NVARCHAR(SIGNAL_KEY_LENGTH)
        return mssql.NVARCHAR(None)

    def signal_lead_columns(self) -> list[sa.Column[Any]]:
        return [sa.Column(CURSOR, sa.BigInteger(), sa.Identity(start=1, increment=1),
                          nullable=False)]

    def signal_index_name(self, table: sa.Table, suffix: str) -> str:
        return f"{self.name_prefix(table.schema)}{table.name}_{suffix}"

    def add_signal_keys(self, table: sa.Table, id_column: str) -> None:
        table.append_constraint(sa.PrimaryKeyConstraint(
            id_column, name=self.signal_index_name(table, "pkey"), mssql_clustered=False))
        for suffix, cols in self.signal_indexes(table):
            covered = SIGNAL_INDEX_INCLUDES.get((table.name, suffix), ())
            sa.Index(self.signal_index_name(table, suffix),
                     *(table.c[c].desc() if desc else table.c[c] for c, desc in cols),
                     mssql_include=list(covered))

    def encode_signal_text(self, table_name: str, column: str, value: str) -> Any:
        if len(value) > SIGNAL_KEY_LENGTH and (
                column in _SIGNAL_IDS or column in _SIGNAL_INDEXED.get(table_name, ())):
            value = value[:SIGNAL_KEY_LENGTH]
        return self.encode_text(value)

    def insert_signal_sql(self, table: sa.Table, id_column: str,
                          names: Sequence[str]) -> sa.TextClause:
        """MERGE … WITH (HOLDLOCK) inserting the row unless its id is stored already."""
        dialect = mssql.dialect()  # type: ignore[no-untyped-call]
        q = dialect.identifier_preparer.quote
        type_sql = dialect.type_compiler_instance.process
        target = f"{q(table.schema)}.{q(table.name)}" if table.schema else q(table.name)
        cols = [table.c[n] for n in names]
        source = ", ".join(f"CAST(:{c.name} AS {type_sql(c.type)}) AS {q(c.name)}"
                           for c in cols)
        sql = (f"MERGE INTO {target} WITH (HOLDLOCK) AS t\n"
               f"USING (SELECT {source}) AS s\n"
               f"ON t.{q(id_column)} = s.{q(id_column)}\n"
               f"WHEN NOT MATCHED THEN INSERT ({', '.join(q(n) for n in names)}) "
               f"VALUES ({', '.join(f's.{q(n)}' for n in names)});")
        return sa.text(sql).bindparams(*[sa.bindparam(c.name, type_=c.type) for c in cols])

    def insert_signals(self, conn: sa.Connection, table: sa.Table, id_column: str,
                       names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        seen: dict[Any, dict[str, Any]] = {}
        at = list(names).index(id_column)
        for r in rows:  # one MERGE per id: the first snapshot of a retried record wins
            seen.setdefault(r[at], dict(zip(names, r, strict=True)))
        conn.execute(self.insert_signal_sql(table, id_column, names), list(seen.values()))

    def json_string_elements(self, col: sa.ColumnElement[Any], alias: str
                             ) -> tuple[Any, sa.ColumnElement[Any]]:
        oj = self._openjson(col, alias)
        return oj, sa.case((oj.c.type == JSON_STRING, oj.c.value), else_=sa.null())

    def json_members(self, col: sa.ColumnElement[Any], alias: str
                     ) -> tuple[Any, sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        oj = self._openjson(col, alias)
        return oj, oj.c.key, sa.case((oj.c.type == JSON_STRING, oj.c.value), else_=sa.null())

    def join_each(self, left: Any, each: Any) -> Any:
        return CrossApply(left, each)

    def json_member(self, col: sa.ColumnElement[Any], key: str, text_only: bool = False,
                    non_blank: bool = False) -> sa.ColumnElement[Any]:
        oj = self._openjson(col, "jm")
        cond = oj.c.key == sa.bindparam(None, key, type_=sa.Unicode())
        if text_only or non_blank:
            cond = cond & (oj.c.type == JSON_STRING)
        if non_blank:
            cond = cond & self.not_blank(oj.c.value)
        return sa.select(oj.c.value).select_from(oj).where(cond).limit(1).scalar_subquery()

    def json_array_nonempty(self, col: sa.ColumnElement[Any]) -> ColumnElement[bool]:
        oj = self._openjson(col, "ja")
        return sa.and_(sa.func.LEFT(col, 1) == "[",
                       sa.exists(sa.select(sa.literal_column("1")).select_from(oj)))

    def epoch_ms(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.DATEDIFF_BIG(sa.literal_column("millisecond"),
                                    sa.literal_column(_EPOCH), col, type_=sa.BigInteger())

    def epoch_bucket(self, col: sa.ColumnElement[Any], seconds: int) -> sa.ColumnElement[Any]:
        epoch = sa.func.DATEDIFF_BIG(sa.literal_column("second"), sa.literal_column(_EPOCH),
                                     col, type_=sa.BigInteger())
        step = step_literal(seconds)
        return epoch // step * step

    def contains_text(self, col: sa.ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return sa.func.CHARINDEX(sa.bindparam(None, needle, type_=sa.Unicode()),
                                 sa.func.LOWER(col)) > 0

    def not_blank(self, expr: sa.ColumnElement[Any]) -> ColumnElement[bool]:
        return TrimChars(expr, sa.bindparam(None, WHITESPACE, type_=sa.Unicode())) != ""

    def byte_length(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # UTF-8 bytes through a UTF-8 collation (SQL Server 2019+).
        utf8 = sa.cast(sa.collate(expr, "Latin1_General_100_BIN2_UTF8"), sa.VARCHAR())
        return sa.func.DATALENGTH(utf8)

    native_percentiles = True

    def percentile_value(self, p: float, value: sa.ColumnElement[Any],
                         bucket: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # PERCENTILE_CONT takes a literal and is a window function in SQL Server; p is a
        # checked float in [0, 1], never text from a request.
        literal = sa.literal_column(repr(float(p)), sa.Float())
        return sa.func.PERCENTILE_CONT(literal).within_group(value).over(partition_by=bucket)

    def percentile_grouped(self) -> bool:
        return False

    def table_bytes(self, conn: sa.Connection, table: sa.Table) -> int | None:
        name = f"{table.schema}.{table.name}" if table.schema else table.name
        value = conn.execute(sa.text(
            "SELECT SUM(used_page_count) * 8192 FROM sys.dm_db_partition_stats "
            "WHERE object_id = OBJECT_ID(:n)"), {"n": name}).scalar()
        return int(value or 0)

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
            "WHEN MATCHED AND (t.[endedAt] IS NULL OR s.[endedAt] IS NOT NULL)\n"
            f"  THEN UPDATE SET {sets}\n"
            f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values});"
        )
        return sa.text(sql).bindparams(
            *[sa.bindparam(c.name, type_=c.type) for c in table.columns])

    def upsert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[dict[str, Any]]) -> None:
        conn.execute(self.upsert(table), dedupe_rows(rows))
