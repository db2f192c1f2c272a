"""What differs between the SQL backends, and nothing else.

:class:`SqlDialect` holds the handful of decisions that are not portable: column types,
the contract's index list, how a row is encoded and decoded, how JSON is read and
matched, and how an upsert is spelled. :class:`~.store.SQLStore` is written once against
this interface; SQLite, PostgreSQL and MSSQL each subclass it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ....model.jsonsafe import DEFAULT_MAX_BYTES, clean_text, dumps, loads
from ....model.signals import (
    TABLE_FEEDBACK,
    TABLE_LOGS,
    TABLE_METRICS,
    TABLE_SCORES,
    SignalColumn,
)
from ....model.spans import COLUMNS, TABLE_SPANS, ColumnSpec, SpanRecord
from ....model.time import format_iso, parse_iso, truncate_ms
from ..columnar import (
    NULL_COLUMN,
    Column,
    clean_columns,
    full_rows,
    map_values,
    transpose,
)

_GET_ALL = attrgetter(*(c.attr for c in COLUMNS))
_NAMES = tuple(c.name for c in COLUMNS)
T = TypeVar("T")
_TEXT = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "text")
_JSON = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "json")
_TIMESTAMP = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "timestamp")
_BOOL = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "bool")
_CREATED = _NAMES.index("createdAt")
_UPDATED = _NAMES.index("updatedAt")

# The insertion-order column of every signal table (PostgreSQL: Mastra's bigserial; SQLite:
# the rowid; SQL Server: an identity): ties in time order are broken by it.
CURSOR = "cursorId"
# Server defaults of the signal tables' NOT NULL columns, as Mastra declares them.
SIGNAL_DEFAULTS: dict[str, Any] = {"tags": [], "labels": {}, "reviewStatus": "needs-review"}
_ENTITY = (("entityType", False), ("entityId", False), ("timestamp", True))
# Mastra's btree indexes of the signal tables, (name suffix, ((column, descending), ...)),
# in its order (tests/contract/postgres-vnext.observability.sql). Every dialect creates
# them; PostgreSQL adds its GIN and cursor indexes.
SIGNAL_INDEXES: dict[str, tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]] = {
    TABLE_METRICS: (("name_ts_idx", (("name", False), ("timestamp", True))),
                    ("entity_idx", _ENTITY), ("traceid_idx", (("traceId", False),))),
    TABLE_LOGS: (("ts_idx", (("timestamp", True),)),
                 ("level_ts_idx", (("level", False), ("timestamp", True))),
                 ("traceid_idx", (("traceId", False),)), ("entity_idx", _ENTITY)),
    TABLE_SCORES: (("traceid_idx", (("traceId", False), ("timestamp", True))),
                   ("scorerid_idx", (("scorerId", False), ("timestamp", True))),
                   ("entity_idx", _ENTITY)),
    TABLE_FEEDBACK: (("traceid_idx", (("traceId", False), ("timestamp", True))),
                     ("type_idx", (("feedbackType", False), ("timestamp", True))),
                     ("entity_idx", _ENTITY)),
}
# Columns an index also carries so that metric aggregates read the index alone (SQLite:
# trailing index columns; SQL Server: INCLUDE); PostgreSQL keeps Mastra's exact index.
SIGNAL_INDEX_INCLUDES: dict[tuple[str, str], tuple[str, ...]] = {
    (TABLE_METRICS, "name_ts_idx"): ("value", "estimatedCost", "costUnit"),
}
# Trace statuses as SQL literals (a status outside them is a KeyError, never SQL text).
_STATUSES = {"error": "error", "running": "running", "success": "success"}
# Whitespace Python's str.strip() removes: "blank" means the same thing in SQL and Python.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003"
              "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


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
        # Whether the text hooks are this class's (only NUL/surrogates change): then a
        # batch whose text is clean skips them (see encode_columns).
        cls = type(self)
        self.plain_text = cls.encode_text is SqlDialect.encode_text
        self.plain_signal_text = (self.plain_text and cls.encode_signal_text
                                  is SqlDialect.encode_signal_text)

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

    def encode_columns(self, records: Sequence[SpanRecord], now: datetime,
                       touch: bool = False) -> list[Column]:
        """The batch's values column by column, in ``COLUMNS`` order (see
        :mod:`..columnar`): the same values as :meth:`encode_values` row by row, with
        :data:`~..columnar.NULL_COLUMN` for a column that is NULL in every row."""
        n = len(records)
        cols: list[Any] = transpose(map(_GET_ALL, records), len(_NAMES))
        out: list[Column] = [NULL_COLUMN] * len(cols)
        texts = [i for i in _TEXT if cols[i].count(None) != n]
        if self.plain_text and clean_columns([cols[i] for i in texts]):
            for i in texts:
                out[i] = cols[i]
        else:
            for i in texts:
                out[i] = map_values(cols[i], self.encode_text)
        encode_json = self.encode_json
        for i in _JSON:
            if cols[i].count(None) != n:
                out[i] = map_values(cols[i], encode_json)
        encode_ts = self.encode_timestamp
        stamp = encode_ts(now)  # createdAt/updatedAt: one value for the whole batch
        for i in _TIMESTAMP:
            col = cols[i]
            nulls = col.count(None)
            if i in (_CREATED, _UPDATED):
                if nulls == n or (touch and i == _UPDATED):
                    out[i] = [stamp] * n
                else:
                    out[i] = [stamp if v is None else encode_ts(v) for v in col]
            elif nulls != n:
                out[i] = map_values(col, encode_ts)
        for i in _BOOL:
            out[i] = [self.encode_bool(v) for v in cols[i]]
        return out

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

    # A page of the trace list is read in two steps: the page's row ids through the
    # (covering) read indexes, then those rows (SQLite: see SQLiteDialect).
    late_row_lookup: ClassVar[bool] = False
    def tolerant(self, read: Callable[[], T]) -> T:
        """``read()``; a dialect whose JSON functions can fail on a stored row (SQLite's
        on text that is not JSON) runs it again tolerating such rows."""
        return read()

    # A trace list filtered by one metadata key is answered from the optional index of
    # the roots' metadata when the database has it installed (SQLite: root_metadata.py).
    root_metadata: ClassVar[bool] = False

    @staticmethod
    def trace_status(table: Any) -> sa.ColumnElement[Any]:
        """A span's status (a root's: its trace's) as SQL, exactly the expression of the
        status index of migration 0003 (its literals written into the statement, so that
        the database matches it to the index)."""
        c = table.c
        return sa.case((c.error.is_not(None), sa.literal_column("'error'")),
                       (c.endedAt.is_(None), sa.literal_column("'running'")),
                       else_=sa.literal_column("'success'"))

    def equals(self, col: sa.ColumnElement[Any], value: str) -> ColumnElement[bool]:
        """A trace-list equality filter on the text column ``col`` (PostgreSQL reads the
        context ids through migration 0003's indexes of their prefixes)."""
        return col == value

    # Whether the trace status is filtered as :meth:`trace_status` (matched to the status
    # index of migration 0003) rather than as separate column conditions.
    status_index: ClassVar[bool] = False

    def status_conditions(self, table: Any, status: str) -> list[ColumnElement[bool]]:
        """The conditions of ``status`` (``error``/``running``/``success``) on ``table``."""
        if self.status_index:
            return [self.trace_status(table) == sa.literal_column(f"'{_STATUSES[status]}'")]
        c = table.c
        if status == "error":
            return [c.error.is_not(None)]
        if status == "running":
            return [c.error.is_(None), c.endedAt.is_(None)]
        return [c.error.is_(None), c.endedAt.is_not(None)]

    def json_has_key_value(
        self, col: sa.ColumnElement[Any], key: str, value: Any
    ) -> ColumnElement[bool]:
        """Top-level ``key`` of JSON object ``col`` equals ``value`` (bound parameters only)."""
        raise NotImplementedError

    def root_metadata_has(self, table: sa.Table, col: sa.ColumnElement[Any], key: str,
                          value: Any) -> ColumnElement[bool]:
        """The trace list's metadata filter on root spans: ``col`` is a root's
        ``metadata`` (``table`` the span table). The same test as
        :meth:`json_has_key_value`, which a dialect with a cheaper one for the roots
        overrides."""
        return self.json_has_key_value(col, key, value)

    def json_array_contains(self, col: sa.ColumnElement[Any], item: str) -> ColumnElement[bool]:
        """JSON array ``col`` has the string element ``item``."""
        raise NotImplementedError

    # A trace list whose filter the dialect counts faster than it walks the list's order
    # may be counted first, listing the matching row ids (SQLStore._page_of_spans); up to
    # this many, its page is then read from them. 0: never.
    count_first_ids = 0

    def id_list(self, rowid: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """An aggregate: every ``rowid`` of the group as one value for :meth:`in_id_list`."""
        raise NotImplementedError

    def in_id_list(self, rowid: sa.ColumnElement[Any], listed: Any) -> ColumnElement[bool]:
        """``rowid`` is one of ``listed`` (a value :meth:`id_list` made), bound."""
        raise NotImplementedError

    # The condition of :meth:`not_ended_over` as text, for statements built as strings
    # (``t`` the stored row, ``EXCLUDED`` the incoming one).
    NOT_ENDED_OVER_SQL = '(t."endedAt" IS NULL OR EXCLUDED."endedAt" IS NOT NULL)'

    @staticmethod
    def not_ended_over(stored: sa.ColumnElement[Any],
                       incoming: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """When a write may replace a stored span: a running snapshot (no ``endedAt``)
        never replaces an ended one. Snapshots of one span can arrive out of order across
        processes (a span started before ``os.fork()`` and ended in the child while the
        parent still writes its start); the ended one is the truth."""
        return sa.or_(stored.is_(None), incoming.isnot(None))

    def upsert(self, table: sa.Table) -> sa.Executable:
        """INSERT … that rewrites every non-key column except createdAt on conflict, unless
        that would replace an ended span with a running one (:meth:`not_ended_over`)."""
        raise NotImplementedError

    def upsert_rows(self, conn: sa.Connection, table: sa.Table,
                    rows: Sequence[dict[str, Any]]) -> None:
        conn.execute(self.upsert(table), list(rows))

    def upsert_records(self, conn: sa.Connection, table: sa.Table,
                       records: Sequence[SpanRecord], now: datetime) -> None:
        """Encode and upsert; a dialect with a positional fast path overrides this."""
        self.upsert_rows(conn, table, [self.encode(r, now) for r in records])

    def update_rows(self, conn: sa.Connection, table: sa.Table, stmt: sa.Executable,
                    rows: Sequence[dict[str, Any]]) -> int | None:
        """Run ``stmt`` (UPDATE … WHERE key = :_traceId/:_spanId) for every row; the rows
        changed, or None where the driver doesn't count across an executemany."""
        result = conn.execute(stmt, list(rows))
        return sane_rowcount(conn, result)

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

    # ------------------------------------------------------------------ signal tables
    # Logs, metrics, scores and feedback: Mastra's v-next columns (model/signals.py) in
    # the backend's natural types, plus the insertion-order column CURSOR.

    def signal_column_type(self, table_name: str,
                           column: SignalColumn) -> sa.types.TypeEngine[Any]:
        if column.kind == "float":
            return sa.Float()
        return sa.Text()

    def signal_lead_columns(self) -> list[sa.Column[Any]]:
        """Columns before Mastra's: the insertion order (SQLite: an INTEGER PRIMARY KEY,
        i.e. the rowid itself, no extra storage)."""
        return [sa.Column(CURSOR, sa.Integer(), primary_key=True)]

    def signal_default(self, column: SignalColumn) -> Any:
        """The server default of ``column`` (Mastra's, for its NOT NULL columns), or None."""
        if column.name not in SIGNAL_DEFAULTS:
            return None
        value = SIGNAL_DEFAULTS[column.name]
        text = value if isinstance(value, str) else str(dumps(value)[0])
        return sa.text("'" + text.replace("'", "''") + "'")

    def build_signal_table(self, metadata: sa.MetaData, schema: str | None, name: str,
                           columns: Sequence[SignalColumn]) -> sa.Table:
        """A signal table; ``columns`` are the live model's or a migration's frozen list
        (the first one is the record id)."""
        cols: list[Any] = self.signal_lead_columns()
        cols += [sa.Column(c.name, self.signal_column_type(name, c), nullable=c.nullable,
                           server_default=self.signal_default(c)) for c in columns]
        table = sa.Table(name, metadata, *cols, schema=schema)
        self.add_signal_keys(table, columns[0].name)
        return table

    def signal_index_name(self, table: sa.Table, suffix: str) -> str:
        return f"{table.name}_{suffix}"

    def signal_indexes(self, table: sa.Table) -> list[tuple[str, tuple[tuple[str, bool], ...]]]:
        """Mastra's btree indexes, plus a time index on every table (retention, lists)."""
        specs = list(SIGNAL_INDEXES[table.name])
        if not any(suffix == "ts_idx" for suffix, _ in specs):
            specs.append(("ts_idx", (("timestamp", True),)))
        return specs

    def add_signal_keys(self, table: sa.Table, id_column: str) -> None:
        """The record id's unique key and the indexes (SQLite: a unique index on the id;
        covered columns trail the key)."""
        sa.Index(self.signal_index_name(table, f"{id_column.lower()}_key"),
                 table.c[id_column], unique=True)
        for suffix, cols in self.signal_indexes(table):
            covered = SIGNAL_INDEX_INCLUDES.get((table.name, suffix), ())
            sa.Index(self.signal_index_name(table, suffix),
                     *(table.c[c].desc() if desc else table.c[c] for c, desc in cols),
                     *(table.c[c] for c in covered))

    def signal_create_ddl(self, table: sa.Table) -> list[Any]:
        """Statements creating a signal table with its keys and indexes."""
        return [sa.schema.CreateTable(table),
                *(sa.schema.CreateIndex(ix)
                  for ix in sorted(table.indexes, key=lambda i: str(i.name)))]

    # signal row codec
    def encode_signal_timestamp(self, value: datetime) -> Any:
        return self.encode_timestamp(value)

    def decode_signal_timestamp(self, value: Any) -> datetime | None:
        return self.decode_timestamp(value)

    def signal_timestamp_param(self, value: datetime) -> Any:
        return self.encode_signal_timestamp(value)

    def encode_tags(self, tags: Any) -> Any:
        return self.encode_json(list(tags) if tags else [])

    def decode_tags(self, value: Any) -> list[Any] | None:
        tags = self.decode_json(value) if value is not None else None
        return tags if isinstance(tags, list) and tags else None

    def encode_signal_text(self, table_name: str, column: str, value: str) -> Any:
        return self.encode_text(value)

    def insert_signals(self, conn: sa.Connection, table: sa.Table, id_column: str,
                       names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows (values in ``names`` order), skipping records already stored."""
        raise NotImplementedError

    def insert_signal_columns(self, conn: sa.Connection, table: sa.Table, id_column: str,
                              names: Sequence[str], columns: Sequence[Column]) -> None:
        """:meth:`insert_signals` of a batch encoded column by column (values in
        ``names`` order, :data:`~..columnar.NULL_COLUMN` for a column NULL in every row);
        a dialect with a faster path for such batches overrides this."""
        size = next((len(c) for c in columns if c is not NULL_COLUMN), 0)
        self.insert_signals(conn, table, id_column, names, full_rows(columns, size))

    def prepare_writes(self, engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
        """Once per store, after its tables are checked: look up now what the first write
        to ``tables`` would otherwise look up (PostgreSQL: the column types of its binary
        COPY)."""

    def prepare_signal_tables(self, engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
        """Once per store, when the signal tables are found (PostgreSQL: the partitions
        of the coming days)."""

    def before_signal_write(self, engine: sa.Engine, table: sa.Table,
                            timestamps: Sequence[datetime]) -> None:
        """Make room for rows with ``timestamps`` (PostgreSQL: their days' partitions)."""

    def lacks_room(self, error: BaseException) -> bool:
        """Whether a failed write failed for want of a storage unit for its rows (then
        :meth:`before_signal_write` runs again with nothing cached, and the write once more)."""
        return False

    def forget_room(self, table: sa.Table) -> None:
        """Drop what :meth:`before_signal_write` remembers about ``table``."""

    def drop_signal_partitions(self, engine: sa.Engine, table: sa.Table,
                               cutoff: datetime) -> int:
        """Drop whole storage units older than ``cutoff``; returns the rows they held."""
        return 0

    # signal expressions
    def signal_tags_contains(self, col: sa.ColumnElement[Any],
                             tag: str) -> ColumnElement[bool]:
        """The tags column of a signal table has ``tag``."""
        return self.json_array_contains(col, tag)

    def signal_tag_elements(self, col: sa.ColumnElement[Any], alias: str
                            ) -> tuple[Any, sa.ColumnElement[Any]]:
        """(FROM item, its text element) listing the tags of a signal row."""
        return self.json_string_elements(col, alias)

    def json_string_elements(self, col: sa.ColumnElement[Any], alias: str
                             ) -> tuple[Any, sa.ColumnElement[Any]]:
        """(FROM item joined with :meth:`join_each`, its element when a JSON string, else
        NULL) for the elements of JSON array ``col``."""
        raise NotImplementedError

    def json_members(self, col: sa.ColumnElement[Any], alias: str
                     ) -> tuple[Any, sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        """(FROM item, key, value when a JSON string else NULL) for the members of
        JSON object ``col``."""
        raise NotImplementedError

    def join_each(self, left: Any, each: Any) -> Any:
        """``left`` joined with a table function of its own columns (SQL Server: APPLY)."""
        return sa.join(left, each, sa.true())

    def json_member(self, col: sa.ColumnElement[Any], key: str, text_only: bool = False,
                    non_blank: bool = False) -> sa.ColumnElement[Any]:
        """The value of top-level member ``key`` (a bound parameter) of JSON object
        ``col``: as text, or NULL when missing; ``text_only``: NULL unless a JSON string;
        ``non_blank``: also NULL when that string is blank (as Python's ``strip``)."""
        raise NotImplementedError

    def json_array_nonempty(self, col: sa.ColumnElement[Any]) -> ColumnElement[bool]:
        """``col`` is a JSON array with at least one element."""
        raise NotImplementedError

    def epoch_ms(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """Milliseconds since the epoch of a timestamp column, as an exact integer."""
        raise NotImplementedError

    def epoch_bucket(self, col: sa.ColumnElement[Any], seconds: int) -> sa.ColumnElement[Any]:
        """The start of the ``seconds``-wide UTC bucket of ``col``, in epoch seconds.

        ``seconds`` is one of the five interval constants (never request text): it is
        written into the statement, so that the grouping expression is one the database
        can fold and match (a bound step costs SQLite ~20 % on a million rows)."""
        raise NotImplementedError


    def contains_text(self, col: sa.ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        """Lower-cased ``col`` contains ``needle`` (already lower-cased, bound)."""
        raise NotImplementedError

    def not_blank(self, expr: sa.ColumnElement[Any]) -> ColumnElement[bool]:
        """``expr`` has a character other than whitespace (Python's ``str.strip``)."""
        return sa.func.trim(expr, sa.bindparam(None, WHITESPACE, type_=sa.Text())) != ""

    def byte_length(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """Length of a text in UTF-8 bytes."""
        raise NotImplementedError

    def before_metric_read(self, conn: sa.Connection, table: sa.Table) -> None:
        """Called on ``conn`` before a grouped metric aggregate over ``table`` (SQLite
        keeps the table's planner statistics current here)."""

    # metric percentiles
    native_percentiles: ClassVar[bool] = False
    # Percentiles from each bucket's values, read by a range of the time index and sorted
    # in Python (see MetricsMixin.metric_percentiles): needs timestamps stored as text
    # that sorts as time, as the time filters already do on SQLite.
    percentiles_by_bucket: ClassVar[bool] = False

    def percentile_value(self, p: float, value: sa.ColumnElement[Any],
                         bucket: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``percentile_cont(p)`` of ``value`` per ``bucket`` (dialects that have it)."""
        raise NotImplementedError

    def percentile_grouped(self) -> bool:
        """Whether :meth:`percentile_value` is an aggregate (GROUP BY) or a window."""
        return True

    def sorted_values(self, value: sa.ColumnElement[Any],
                      conn_dialect: sa.Dialect) -> sa.ColumnElement[Any] | None:
        """An aggregate of a group's values sorted ascending, each exactly as text, whose
        elements :meth:`sorted_value_at` reads; None where the backend has none (then
        percentiles rank rows with window functions)."""
        return None

    def sorted_value_at(self, values: sa.ColumnElement[Any],
                        index: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        raise NotImplementedError

    # retention
    def table_bytes(self, conn: sa.Connection, table: sa.Table) -> int | None:
        """Bytes used by ``table`` and its indexes, when the backend can tell."""
        return None


def step_literal(seconds: int) -> sa.ColumnElement[Any]:
    """An interval length in seconds as a SQL integer literal (an ``int``, checked)."""
    return sa.literal_column(str(int(seconds)), sa.Integer())


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


def sane_rowcount(conn: sa.Connection, result: sa.CursorResult[Any]) -> int | None:
    """Rows an executemany changed, where the driver reports their sum."""
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount >= 0:
        return int(result.rowcount)
    return None


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
