"""SQLite / libSQL: the contract's TEXT columns, ISO ``…Z`` timestamps, text or JSONB JSON.

JSON columns hold text (what this library and older Mastra versions write) or JSONB blobs
(what ``@mastra/libsql`` writes). The store runs on the process's own ``sqlite3``, whose
SQLite may predate JSONB (3.45), so no JSON function is ever given a column directly:
:func:`json_text` hands it the column's JSON text, decoding blobs through ``mastra_json``
(registered on each connection by :mod:`..sqlite`), and rows read back are decoded in
Python. The same SQL then works on every SQLite version, and on text and JSONB rows mixed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement

from ....model.jsonsafe import dumps, loads, to_jsonable
from ....model.spans import COLUMNS, ColumnSpec, SpanRecord
from ..columnar import Column, live_rows, null_pattern
from ..jsonb import JsonbError, decode
from ..read_indexes import opaque_roots_exist
from .base import SqlDialect, step_literal
from .sqlite_multirow import MultiRowInsert

COLUMN_NAMES = tuple(c.name for c in COLUMNS)
T = TypeVar("T")
# The SQL function the store registers on each connection: JSONB blob -> JSON text.
JSON_TEXT_FUNCTION = "mastra_json"
# The first SQLite whose aggregates take their own ORDER BY (json_group_array(… ORDER BY …)).
AGGREGATE_ORDER_BY = (3, 44)


# Set while a read is retried because a row's JSON text is malformed (SQLiteDialect.tolerant).
_TOLERANT: ContextVar[bool] = ContextVar("mastra_storage_tolerant_json", default=False)


def json_text(col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``col``'s JSON as text, for SQLite's JSON functions whatever the row holds.

    A JSONB blob goes through ``mastra_json`` (an older SQLite's JSON functions reject
    blobs as malformed JSON); text is used as it is, without a call into Python. In a
    tolerant read (see :meth:`SQLiteDialect.tolerant`) text that is not JSON is NULL,
    which the JSON functions read as nothing.
    """
    blob = (sa.func.typeof(col) == "blob", getattr(sa.func, JSON_TEXT_FUNCTION)(col))
    if _TOLERANT.get():
        return sa.case(blob, (sa.func.json_valid(col) == 1, col), else_=sa.null())
    return sa.case(blob, else_=col)


def may_hold(col: sa.ColumnElement[Any], string: str) -> ColumnElement[bool]:
    """A cheap necessary condition for the JSON in ``col`` to hold ``string`` as a key or
    a string value, tried before parsing the JSON (about a third of its cost per row).

    JSON text without a backslash has no escapes, so every string in it appears as its
    characters between quotes: the text ``"<string>"`` is there (a ``string`` that needs
    escaping needs a backslash in the row as well). A row with a backslash anywhere, or
    a JSONB blob, is left to the exact test.
    """
    text = json.dumps(string, ensure_ascii=False)
    return sa.or_(sa.func.instr(col, sa.bindparam(None, text, type_=sa.Text())) > 0,
                  sa.func.instr(col, sa.bindparam(None, "\\", type_=sa.Text())) > 0,
                  sa.func.typeof(col) == "blob")


def _analysed_rows(conn: sa.Connection, table_name: str) -> int | None:
    """The row count ``sqlite_stat1`` holds for ``table_name`` (None: never analysed)."""
    try:
        stat = conn.exec_driver_sql(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = ? AND idx IS NOT NULL LIMIT 1",
            (table_name,)).scalar()
    except sa.exc.OperationalError:  # no sqlite_stat1 table: nothing analysed yet
        return None
    return int(str(stat).split()[0]) if stat else None


def _plain_key(key: str) -> bool:
    """Whether ``key`` can be written as a quoted JSON path label, ``$."key"``: SQLite's
    path parser ends the label at the next double quote and reads no escapes."""
    return bool(key) and key.isascii() and key.isprintable() and not any(
        ch in key for ch in '"\\')


def _key_path(key: str) -> sa.BindParameter[str]:
    """The JSON path of top-level ``key`` (a :func:`_plain_key`), quoted, as a bound value."""
    return sa.bindparam(None, f'$."{key}"', type_=sa.Text())


def _plain_member_is(col: sa.ColumnElement[Any], key: str, value: Any
                     ) -> ColumnElement[bool] | None:
    """Top-level ``key`` of ``col`` equals the scalar ``value``, read with a quoted JSON
    path (a bound value) on JSON text without escapes; None for a key no path can spell
    or a value that is no scalar."""
    if not _plain_key(key):
        return None
    path = _key_path(key)
    kind = sa.func.json_type(col, path)
    if value is None:
        return kind == "null"
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, (int, float)):
        # (json_extract reads true and false as 1 and 0)
        return sa.and_(kind.in_(("integer", "real")), sa.func.json_extract(col, path) == value)
    if isinstance(value, str):
        same = sa.func.json_extract(col, path) == sa.bindparam(None, value, type_=sa.Text())
        # An object or array member is read as its JSON text, which only a value written
        # like one can equal.
        return sa.and_(same, kind == "text") if value[:1] in ("{", "[") else same
    return None


def _values(columns: Sequence[tuple[sa.Column[Any], bool]]) -> dict[str, Any]:
    """An INSERT's values: a bound parameter per column, except the (column, True) ones,
    NULL in every row of the batch. Those are left out of the statement, which stores
    NULL with fewer values to compile (a multi-row statement's size and its compile time
    grow with them), unless the column has a default: then it is a literal NULL."""
    values: dict[str, Any] = {}
    for c, null in columns:
        if not null:
            values[c.name] = sa.bindparam(c.name, type_=c.type)
        elif c.server_default is not None:
            values[c.name] = sa.null()
    return values


class SortedQuoted(ColumnElement[Any]):
    """``json_group_array(quote(v) ORDER BY v)``: a group's values, sorted, as exact text."""

    inherit_cache = True
    type = sa.Text()

    def __init__(self, value: Any) -> None:
        self.value = value


@compiles(SortedQuoted)
def _sorted_quoted(element: SortedQuoted, compiler: Any, **kw: Any) -> str:
    v = compiler.process(element.value, **kw)
    return f"json_group_array(quote({v}) ORDER BY {v})"


class SQLiteDialect(SqlDialect):
    name = "sqlite"
    provider = "sqlite"
    # Planner statistics of the metric table (before_metric_read): looked at on each
    # connection at most once per STATS_EVERY seconds; made (ANALYZE) once the table holds
    # STATS_MIN_ROWS rows and again whenever it has doubled or halved since.
    STATS_EVERY = 600.0
    STATS_MIN_ROWS = 50_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (kind, table[, NULL pattern]) -> (qmark SQL, parameter order)
        self._compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}
        self._many = MultiRowInsert()
        self.clock: Callable[[], float] = time.monotonic

    def before_metric_read(self, conn: sa.Connection, table: sa.Table) -> None:
        """Keep ``table``'s statistics current, so that SQLite's planner can choose.

        Without statistics SQLite reads every metric of a name through the name index
        and then each row from the table; when the name matches most rows (an app with a
        few metric names) a scan of the table is 20-25 % faster for a group key outside
        the index, and the planner picks it once ``sqlite_stat1`` says how many rows a
        name matches (docs/bench.md, *Metric reads*). ``ANALYZE`` of the table takes
        ~0.3 s at 1,000,000 rows, so it runs only when the table has doubled or halved
        since; a connection loads statistics made by another one with ``ANALYZE
        sqlite_master`` (a reload, no scan). A database that can't be written now
        (locked, read-only) is read without them: the answer is the same, only slower."""
        info = conn.info
        now = self.clock()
        checked = info.get("mastra_stats_checked")
        if checked is not None and now - checked < self.STATS_EVERY:
            return
        info["mastra_stats_checked"] = now
        name = table.name
        try:
            rows = conn.exec_driver_sql(
                f'SELECT max(rowid) - min(rowid) + 1 FROM "{name}"').scalar() or 0
            made = _analysed_rows(conn, name)
            if rows >= self.STATS_MIN_ROWS and (made is None or rows >= 2 * made
                                                or 2 * rows <= made):
                conn.exec_driver_sql(f'ANALYZE "{name}"')
            elif made is not None:
                conn.exec_driver_sql("ANALYZE sqlite_master")
            conn.commit()
        except sa.exc.OperationalError as exc:
            conn.rollback()
            logging.getLogger(__name__).debug("no planner statistics for %s now: %s",
                                              name, exc)

    def tolerant(self, read: Callable[[], T]) -> T:
        """``read()``, built and run again, tolerating rows whose JSON text is malformed,
        when a JSON function failed on one: such a row then matches no JSON filter.

        Only the retry checks that each row's text is JSON before parsing it (a fifth more
        time for a common metadata value at 1,000,000 spans); the first attempt costs
        nothing more. Text that is not JSON gets here only from another writer."""
        try:
            return read()
        except sa.exc.OperationalError as exc:
            if "malformed JSON" not in str(exc) or _TOLERANT.get():
                raise
        logging.getLogger(__name__).warning(
            "a row's JSON text is malformed: read again, leaving such rows out of JSON filters")
        token = _TOLERANT.set(True)
        try:
            return read()
        finally:
            _TOLERANT.reset(token)

    def column_type(self, spec: ColumnSpec) -> sa.types.TypeEngine[Any]:
        return sa.Integer() if spec.kind == "bool" else sa.Text()

    def table_args(self, table_name: str) -> list[Any]:
        return [
            sa.UniqueConstraint("spanId", "traceId"),
            sa.Index(f"{table_name}_spanid_traceid_idx", "spanId", "traceId", unique=True),
            sa.Index(f"{table_name}_roots_started_at_idx", sa.desc(sa.column("startedAt")),
                     sqlite_where=sa.text('"parentSpanId" IS NULL')),
            sa.Index(f"{table_name}_trace_started_at_idx", "traceId", "startedAt"),
        ]

    def migration_lock(self, conn: sa.Connection) -> None:
        # pysqlite runs DDL outside a transaction; take the write lock first so a second
        # process waits (busy_timeout) and then finds the version row.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def encode_bool(self, value: bool) -> Any:
        return 1 if value else 0

    def read_json(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # The stored value as it is: decode_json reads text and JSONB blobs alike, once,
        # in Python (a blob turned into text in SQL would be parsed twice).
        return col

    def decode_json(self, value: Any) -> Any:
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                return decode(value)  # a JSONB blob (Mastra's libSQL store)
            except JsonbError:
                return loads(value)  # JSON text stored as a blob by some other writer
        try:
            return loads(value)
        except ValueError:
            # Text another writer stored that is not JSON reads as that text: one such
            # row must not fail every read of the rows around it.
            return value

    def json_has_key_value(
        self, col: sa.ColumnElement[Any], key: str, value: Any
    ) -> ColumnElement[bool]:
        # json_each compares the key as a bound value: no JSON-path text is ever built from
        # user input, so keys with quotes, dots or '$' cannot change the path.
        each = sa.func.json_each(json_text(col)).table_valued(
            "key", "value", "type", "atom").alias("je")
        value = to_jsonable(value)
        cond: ColumnElement[bool] = each.c.key == sa.bindparam(None, key, type_=sa.Text())
        if value is None:
            cond = cond & (each.c.type == "null")
        elif isinstance(value, bool):
            cond = cond & (each.c.type == ("true" if value else "false"))
        elif isinstance(value, (int, float)):
            cond = cond & each.c.type.in_(("integer", "real")) & (each.c.atom == value)
        elif isinstance(value, str):
            cond = cond & (each.c.type == "text") & (each.c.atom == value)
        else:
            # Objects/arrays: equal as minified JSON. json() only sees a member that is an
            # object or array: given a string member's text it would raise malformed JSON.
            text, _ = dumps(value)
            kind = "object" if isinstance(value, dict) else "array"
            member = sa.case((each.c.type == kind, sa.func.json(each.c.value)), else_=sa.null())
            cond = cond & (each.c.type == kind) & (member == sa.func.json(text))
        # A string is looked for as its JSON text, any other value by its key's.
        needle = value if isinstance(value, str) else key
        return sa.and_(may_hold(col, needle),
                       sa.exists(sa.select(sa.literal(1)).select_from(each).where(cond)))

    def root_metadata_has(self, table: sa.Table, col: sa.ColumnElement[Any], key: str,
                          value: Any) -> ColumnElement[bool]:
        """The roots' metadata filter, cheaper per root than :meth:`json_has_key_value`'s
        (docs/bench.md, *Trace reads*), through migration 0005's two indexes.

        * ``"metadata" > ''`` (true of any text but '' and of any blob: of all metadata
          that can match) is a range of the roots' metadata index, whose entries are just
          ``metadata``: SQLite counts the matches there instead of in the wider JSON
          index. The page, in the list's order, still reads the JSON index.
        * The opaque-metadata index holds just the roots whose metadata needs
          :func:`may_hold`'s two escape hatches (a JSONB blob, text with an escape),
          normally none; whether there are any is one seek, which SQLite runs once per
          statement (the subquery is uncorrelated). While there are none, the quoted
          needle is a necessary condition on its own, and the value is read with
          ``json_extract`` (a quarter cheaper than ``json_each``; of a key written twice
          it reads the first, as Mastra's ``json_extract`` filter does). Otherwise the
          test is :meth:`json_has_key_value`'s.

        Without the indexes (a database not migrated) the answer is the same, slower.
        """
        present = col > sa.bindparam(None, "", type_=sa.Text())
        general = self.json_has_key_value(col, key, value)
        value = to_jsonable(value)
        exact = None if _TOLERANT.get() else _plain_member_is(col, key, value)
        if exact is None:
            return sa.and_(present, general)
        needle = value if isinstance(value, str) else key
        text = sa.bindparam(None, json.dumps(needle, ensure_ascii=False), type_=sa.Text())
        opaque = opaque_roots_exist(table.name)
        # An OR of ANDs, not a CASE: in a WHERE clause SQLite stops at the first false
        # term of an AND, where a CASE's value would evaluate every term of its branch.
        return sa.and_(present, sa.or_(
            sa.and_(sa.literal_column(f"NOT {opaque}", sa.Boolean()),
                    sa.func.instr(col, text) > 0, exact),
            sa.and_(sa.literal_column(opaque, sa.Boolean()), general)))

    # A rare metadata value's page walked the whole JSON index in the list's order (23 of
    # 100,000 roots: 24 ms); counted first in the metadata index, the ids come with the
    # count (9.5 ms), at ~2 ms more for a common value's count (docs/bench.md).
    count_first_ids = 1000

    def id_list(self, rowid: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.json_group_array(rowid)

    def in_id_list(self, rowid: sa.ColumnElement[Any], listed: Any) -> ColumnElement[bool]:
        each = sa.func.json_each(sa.bindparam(None, listed, type_=sa.Text())
                                 ).table_valued("value").alias("ids")
        return rowid.in_(sa.select(each.c.value))

    def json_array_contains(self, col: sa.ColumnElement[Any], item: str) -> ColumnElement[bool]:
        each = sa.func.json_each(json_text(col)).table_valued("value", "type").alias("jt")
        return sa.and_(may_hold(col, item), sa.exists(
            sa.select(sa.literal(1)).select_from(each)
            .where((each.c.type == "text") & (each.c.value == item))
        ))

    # ------------------------------------------------------------------ trace lists
    # Migration 0003's read indexes are partial indexes on the roots, led by startedAt
    # (appended to in time order: cheap to keep); each list query is answered from one of
    # them alone when SQLite's planner sees it *covering*: the count reads the index only,
    # the page's row ids too, and just the page's rows are read from the table.
    late_row_lookup = True
    root_metadata = True
    status_index = True  # an equality SQLite seeks in the status index
    percentiles_by_bucket = True  # 4x the window ranks at 1,000,000 rows (docs/bench.md)

    def upsert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[dict[str, Any]]) -> None:
        sql, names = self._positional(conn, ("upsert", table), self.upsert(table),
                                      [c.name for c in table.columns])
        self._many.execute(conn, sql, [tuple([r[n] for n in names]) for r in rows])

    def upsert_records(self, conn: sa.Connection, table: sa.Table,
                       records: Sequence[SpanRecord], now: datetime) -> None:
        """Encode the batch column by column and upsert it with the statement of its NULL
        pattern: a column NULL in every row is a literal ``NULL`` there, not a bound
        ``None`` per row (see :mod:`..columnar`)."""
        columns = self.encode_columns(records, now)
        nulls = null_pattern(columns)
        sql, names = self._positional(conn, ("upsert", table, nulls),
                                      self._values_statement(table, nulls, self.upsert),
                                      None)
        if names != tuple(n for i, n in enumerate(COLUMN_NAMES) if i not in nulls):
            # pragma: no cover - a table with extra columns
            self.upsert_rows(conn, table, [self.encode(r, now) for r in records])
            return
        self._many.execute(conn, sql, live_rows(columns))

    @staticmethod
    def _values_statement(table: sa.Table, nulls: frozenset[int],
                          finish: Callable[[sa.Table, sqlite.Insert], sa.Executable]
                          ) -> sa.Executable:
        """``INSERT INTO table (...) VALUES (...)`` with a bound parameter per column,
        except the columns at ``nulls`` (their position in ``table.columns``), which are
        left out (NULL) or, where the table gives them a default, a literal NULL;
        ``finish(table, insert)`` adds the conflict clause."""
        return finish(table, sqlite.insert(table).values(_values(
            [(c, i in nulls) for i, c in enumerate(table.columns)])))

    def update_rows(self, conn: sa.Connection, table: sa.Table, stmt: sa.Executable,
                    rows: Sequence[dict[str, Any]]) -> int | None:
        sql, names = self._positional(conn, ("update", table), stmt, None)
        result = conn.exec_driver_sql(sql, [tuple([r[n] for n in names]) for r in rows])
        return int(result.rowcount)  # sqlite3 sums an executemany's changes

    def _positional(self, conn: sa.Connection, key: tuple[Any, ...], stmt: sa.Executable,
                    column_keys: list[str] | None) -> tuple[str, tuple[str, ...]]:
        """``stmt`` compiled once to qmark SQL plus the parameter order.

        Executing the compiled string with tuples skips SQLAlchemy's per-row parameter
        processing (the columns here need none): about a fifth of the write path's time.
        """
        cached = self._compiled.get(key)
        if cached is None:
            compiled = stmt.compile(dialect=conn.dialect, column_keys=column_keys)  # type: ignore[attr-defined]
            names = tuple(compiled.positiontup or ())
            cached = self._compiled[key] = (compiled.string, names)
        return cached

    # ------------------------------------------------------------------ signals
    def insert_signal_columns(self, conn: sa.Connection, table: sa.Table, id_column: str,
                              names: Sequence[str], columns: Sequence[Column]) -> None:
        """As :meth:`insert_signals`, from a column-encoded batch: the statement of its
        NULL pattern, the other columns bound (see :mod:`..columnar`)."""
        nulls = frozenset(names[i] for i in null_pattern(columns))
        key = ("insert", table, nulls)
        cached = self._compiled.get(key)
        if cached is None:
            values = _values([(table.c[n], n in nulls) for n in names])
            stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
            compiled = stmt.compile(dialect=conn.dialect)
            cached = self._compiled[key] = (compiled.string,
                                             tuple(compiled.positiontup or ()))
        sql, order = cached
        if order != tuple(n for n in names if n not in nulls):  # pragma: no cover
            super().insert_signal_columns(conn, table, id_column, names, columns)
            return
        # executemany, not multi-row statements: measured no faster for the derived
        # metrics (~1,460 rows a batch), with more CPU and cached statement memory.
        conn.exec_driver_sql(sql, live_rows(columns))

    def insert_signals(self, conn: sa.Connection, table: sa.Table, id_column: str,
                       names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
        sql, order = self._positional(conn, ("insert", table), stmt, list(names))
        if tuple(order) != tuple(names):  # pragma: no cover - the compiler keeps our order
            index = {n: i for i, n in enumerate(names)}
            rows = [[r[index[n]] for n in order] for r in rows]
        conn.exec_driver_sql(sql, [tuple(r) for r in rows])

    def json_string_elements(self, col: sa.ColumnElement[Any], alias: str
                             ) -> tuple[Any, sa.ColumnElement[Any]]:
        each = sa.func.json_each(json_text(col)).table_valued("value", "type").alias(alias)
        return each, sa.case((each.c.type == "text", each.c.value), else_=sa.null())

    def json_members(self, col: sa.ColumnElement[Any], alias: str
                     ) -> tuple[Any, sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        each = sa.func.json_each(json_text(col)).table_valued("key", "value", "type").alias(alias)
        return each, each.c.key, sa.case((each.c.type == "text", each.c.value),
                                          else_=sa.null())

    def json_member(self, col: sa.ColumnElement[Any], key: str, text_only: bool = False,
                    non_blank: bool = False) -> sa.ColumnElement[Any]:
        # json_each with the key as a bound value: ->> would read a key holding quotes or
        # starting with '$' as a JSON path.
        each = sa.func.json_each(json_text(col)).table_valued("key", "value", "type").alias("jm")
        cond = each.c.key == sa.bindparam(None, key, type_=sa.Text())
        if text_only or non_blank:
            cond = cond & (each.c.type == "text")
        if non_blank:
            cond = cond & self.not_blank(each.c.value)
        found = sa.select(each.c.value).select_from(each).where(cond).limit(1).scalar_subquery()
        if text_only or non_blank or not _plain_key(key):
            return found
        # The common case (a metric label as a group key, a million rows) costs a third less
        # through json_extract and a quoted path, '$."key"' (a bound value). That path
        # compares the key with the object's keys as written, so it is used only on JSON
        # text without a backslash (no escaped key that could spell the same key); any
        # other row (escapes, a JSONB blob) takes the json_each lookup, which compares
        # decoded keys.
        if _TOLERANT.get():
            return found  # (json_extract would be given the text as it is)
        path = _key_path(key)
        plain = sa.and_(sa.func.typeof(col) == "text", sa.func.instr(col, "\\") == 0)
        return sa.case((plain, sa.func.json_extract(col, path)), else_=found)

    def json_array_nonempty(self, col: sa.ColumnElement[Any]) -> ColumnElement[bool]:
        return sa.func.coalesce(sa.func.json_array_length(json_text(col)), 0) > 0

    def epoch_ms(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # julianday() keeps integer milliseconds internally: rounding restores them exactly.
        return sa.cast(sa.func.round((sa.func.julianday(col) - 2440587.5) * 86400000.0),
                       sa.Integer())

    def epoch_bucket(self, col: sa.ColumnElement[Any], seconds: int) -> sa.ColumnElement[Any]:
        step = step_literal(seconds)
        return sa.func.unixepoch(col, type_=sa.Integer()) // step * step

    def contains_text(self, col: sa.ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        # SQLite's lower() folds ASCII letters only (documented in docs/sql-servers.md).
        return sa.func.instr(sa.func.lower(col), sa.bindparam(None, needle, type_=sa.Text())) > 0

    def byte_length(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.length(sa.cast(expr, sa.LargeBinary()))

    def sorted_values(self, value: sa.ColumnElement[Any],
                      conn_dialect: sa.Dialect) -> sa.ColumnElement[Any] | None:
        # An aggregate's own ORDER BY needs SQLite 3.44; quote() writes a REAL with every
        # digit it needs to read back as the same double.
        version = getattr(conn_dialect, "server_version_info", None) or (0,)
        return SortedQuoted(value) if tuple(version) >= AGGREGATE_ORDER_BY else None

    def sorted_value_at(self, values: sa.ColumnElement[Any],
                        index: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # The JSON path is built from an integer the statement computes, never from input.
        path = sa.literal("$[") + sa.cast(index, sa.Text()) + sa.literal("]")
        return sa.func.json_extract(values, path, type_=sa.Text())

    def table_bytes(self, conn: sa.Connection, table: sa.Table) -> int | None:
        names = [table.name, *(ix.name for ix in table.indexes if ix.name)]
        marks = ", ".join("?" for _ in names)
        try:
            value = conn.exec_driver_sql(
                f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", tuple(names)
            ).scalar()
        except sa.exc.DBAPIError:  # built without the dbstat table (e.g. libSQL)
            return None
        return int(value) if value is not None else 0

    def upsert(self, table: sa.Table, stmt: sqlite.Insert | None = None) -> sa.Executable:
        """The upsert of ``table`` (on ``stmt``, an ``INSERT`` of it, when given)."""
        stmt = sqlite.insert(table) if stmt is None else stmt
        keep = self.immutable_columns
        return stmt.on_conflict_do_update(
            index_elements=["spanId", "traceId"],
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keep},
            where=self.not_ended_over(table.c.endedAt, stmt.excluded.endedAt),
        )
