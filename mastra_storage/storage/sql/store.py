"""One SQLAlchemy Core implementation of the store for every SQL backend.

Everything backend-specific is asked of ``self.dialect`` (:class:`~.dialect.SqlDialect`);
this module only builds portable statements. Filter values are always bound parameters.
Spans live here; the other signals, metric aggregates, the trace query and retention are
mixins of their own modules (``signals``, ``metrics``, ``trace_query``, ``retention``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...lifecycle import after_fork_in_child
from ...model.entities import entity_type_values
from ...model.spans import COLUMNS, HEAVY_ATTRS, UPDATE_ATTRS, SpanRecord
from ...model.time import utc_now
from ..base import BRANCH_TYPES, BaseStore, check_id, order_spans
from ..queries import Pagination, TracesFilter, TracesOrderBy, TracesPage
from ..signal_queries import ALL_FEATURES, Feature
from ..validation import require_ids
from . import root_metadata
from .dialects.base import SqlDialect
from .metrics import MetricsMixin
from .retention import RetentionMixin
from .trace_query import TraceQueryMixin

_ATTR_TO_NAME = {c.attr: c.name for c in COLUMNS}
_UPDATE_NAMES = [_ATTR_TO_NAME[a] for a in UPDATE_ATTRS]
# Rows per executemany call: bounds statement size and memory on every driver.
WRITE_CHUNK = 1000


def server_engine(label: str, dialect_name: str, url: Any, engine: sa.Engine | None,
                  make_engine: Callable[[Any], sa.Engine]) -> sa.Engine:
    """The engine of a server store built from a URL (``make_engine(url)``) or an engine
    (exactly one of them)."""
    if engine is None:
        if url is None:
            raise ValueError(f"{label} needs a URL or an engine")
        return make_engine(url)
    if url is not None:
        raise ValueError(f"{label} takes a URL or an engine, not both")
    if engine.dialect.name != dialect_name:
        raise ValueError(f"{label} needs a {dialect_name} engine, got {engine.dialect.name}")
    return engine


class SQLStore(MetricsMixin, TraceQueryMixin, RetentionMixin, BaseStore):
    """Observability store over a SQLAlchemy engine and a :class:`SqlDialect`."""

    def __init__(
        self,
        engine: sa.Engine,
        dialect: SqlDialect,
        *,
        schema: str | None = None,
        auto_migrate: bool = False,
        metadata_index: bool = False,
    ) -> None:
        if metadata_index and not dialect.root_metadata:
            raise ValueError(f"metadata_index=True: the metadata index exists for SQLite and "
                             f"PostgreSQL, not {dialect.name}")
        self.engine = engine
        self.dialect = dialect
        self.metadata_index = metadata_index
        self.provider = dialect.provider
        self.schema = schema
        self.auto_migrate = auto_migrate
        self.metadata = sa.MetaData()
        self.table = dialect.build_table(self.metadata, schema)
        self._build_signal_tables()
        self._init_lock = threading.Lock()
        self._initialised = False
        self._build_statements()
        after_fork_in_child(self, "_after_fork")

    # ------------------------------------------------------------------ lifecycle
    def init(self) -> None:
        """Create/upgrade the table through the Alembic history when ``auto_migrate``;
        otherwise check it exists (``SchemaNotReadyError`` says what to run)."""
        with self._init_lock:
            if self._initialised:
                return
            from .migrate import require_table, upgrade

            if self.auto_migrate:
                upgrade(self.engine, schema=self.schema)
            else:
                require_table(self.engine, self.schema)
            self._signals_present = None  # look again: the migration may have made them
            signals = ([c.table for c in self.signals.values()]
                       if self._check_signal_tables() else [])
            self.dialect.prepare_writes(self.engine, [self.table, *signals])
            if self.metadata_index:
                root_metadata.install(self.engine, self.schema)
            self._initialised = True

    def features(self) -> frozenset[Feature]:
        """Everything but delta polling; without the signal tables (a database migrated
        before they existed, opened without ``auto_migrate``) only the span reads."""
        if self._check_signal_tables():
            return ALL_FEATURES - {Feature.DELTA_POLLING}
        return frozenset({Feature.BRANCHES})

    def close(self) -> None:
        self.engine.dispose()

    def _after_fork(self) -> None:
        # Connections opened by the parent must not be shared with it (SQLAlchemy's advice).
        self.engine.dispose(close=False)

    @property
    def truncated_fields(self) -> int:
        return self.dialect.truncated_fields

    # ------------------------------------------------------------------ statements
    def _build_statements(self) -> None:
        t = self.table
        self._upsert = self.dialect.upsert(t)
        self._update = (
            sa.update(t)
            .where(t.c.traceId == sa.bindparam("_traceId"), t.c.spanId == sa.bindparam("_spanId"),
                   self.dialect.not_ended_over(
                       t.c.endedAt, sa.bindparam("_endedAt", type_=t.c.endedAt.type)))
            .values({name: sa.bindparam(name) for name in self._update_columns()})
        )
        light = [c for c in COLUMNS if c.attr not in HEAVY_ATTRS]
        self._full_cols = [self._select_col(c.name) for c in COLUMNS]
        self._light_cols = [self._select_col(c.name) for c in light]

    def _update_columns(self) -> list[str]:
        keep = self.dialect.immutable_columns
        return _UPDATE_NAMES + [c.name for c in self.dialect.extra_columns()
                                if c.name not in keep]

    def _select_col(self, name: str) -> sa.ColumnElement[Any]:
        spec = next(c for c in COLUMNS if c.name == name)
        return self.dialect.read_column(self.table, spec)

    # ------------------------------------------------------------------ writes
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        if not records:
            return
        require_ids(records)
        now = utc_now()
        with self.engine.begin() as conn:
            for i in range(0, len(records), WRITE_CHUNK):
                self.dialect.upsert_records(conn, self.table, records[i:i + WRITE_CHUNK], now)

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> int | None:
        """Rewrite the rows of ``records``; how many were rewritten (None: the driver
        can't tell). A row that has gone, or an ended row a running snapshot would
        replace, is not counted."""
        if not records:
            return 0
        now = utc_now()
        rows = []
        encode = self.dialect.encode
        for row in (encode(r, now, touch=True) for r in records):
            row["_traceId"] = row["traceId"]
            row["_spanId"] = row["spanId"]
            row["_endedAt"] = row["endedAt"]
            rows.append(row)
        total: int | None = 0
        with self.engine.begin() as conn:
            for i in range(0, len(rows), WRITE_CHUNK):
                n = self.dialect.update_rows(conn, self.table, self._update,
                                             rows[i:i + WRITE_CHUNK])
                total = None if n is None or total is None else total + n
        return total

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(trace_ids))
        if not ids:
            return 0
        deleted = 0
        codecs = self._present_codecs(list(self.signals))
        with self.engine.begin() as conn:  # spans and their signals go together
            for i in range(0, len(ids), 500):
                result = conn.execute(sa.delete(self.table)
                                      .where(self.table.c.traceId.in_(ids[i:i + 500])))
                deleted += result.rowcount or 0
            self._delete_trace_signals(conn, ids, codecs)
        return deleted

    def delete_traces_older_than(self, before: datetime) -> int:
        t = self.table
        old = sa.select(t.c.traceId).where(
            t.c.parentSpanId.is_(None), t.c.startedAt < self.dialect.timestamp_param(before)
        )
        with self.engine.connect() as conn:
            ids = [row[0] for row in conn.execute(old)]
        return self.batch_delete_traces(ids)

    # ------------------------------------------------------------------ reads
    def _fetch(self, stmt: sa.Select[Any]) -> list[SpanRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        decode = self.dialect.decode
        return [decode(dict(row)) for row in rows]

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        t = self.table
        rows = self._fetch(sa.select(*self._full_cols)
                           .where(t.c.traceId == trace_id, t.c.spanId == span_id))
        return rows[0] if rows else None

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        t = self.table
        rows = self._fetch(sa.select(*self._full_cols)
                           .where(t.c.traceId == trace_id, t.c.parentSpanId.is_(None))
                           .order_by(t.c.startedAt).limit(1))
        return rows[0] if rows else None

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        t = self.table
        cols = self._light_cols if light else self._full_cols
        return self._fetch(sa.select(*cols).where(t.c.traceId == trace_id)
                           .order_by(t.c.startedAt, t.c.spanId))

    def _conditions(self, f: TracesFilter, root: sa.Table,
                    roots_only: bool = True) -> list[sa.ColumnElement[bool]]:
        """The trace-list filters on ``root`` (``roots_only=False``: on any span, as the
        branch list applies them to its anchors)."""
        d = self.dialect
        conds: list[sa.ColumnElement[bool]] = (
            [root.c.parentSpanId.is_(None)] if roots_only else [])
        for attr, value in f.equalities():
            col = root.c[_ATTR_TO_NAME[attr]]
            if attr == "entity_type":  # "workflow_run" also matches legacy "workflow" rows
                values = entity_type_values(value)
                conds.append(col == value if len(values) == 1 else col.in_(values))
            else:
                conds.append(d.equals(col, value))
        if f.started_from is not None:
            conds.append(root.c.startedAt >= d.timestamp_param(f.started_from))
        if f.started_to is not None:
            conds.append(root.c.startedAt <= d.timestamp_param(f.started_to))
        if f.ended_from is not None:
            conds.append(root.c.endedAt >= d.timestamp_param(f.ended_from))
        if f.ended_to is not None:
            conds.append(root.c.endedAt <= d.timestamp_param(f.ended_to))
        if f.status is not None:
            conds += d.status_conditions(root, f.status)
        if f.has_child_error is not None:
            # Any errored span of the trace, the root included (Mastra's meaning).
            child = self.table.alias("child")
            exists = sa.exists(sa.select(sa.literal(1)).select_from(child).where(
                child.c.traceId == root.c.traceId,
                child.c.error.is_not(None),
            ))
            conds.append(exists if f.has_child_error else ~exists)
        for tag in f.tags or ():
            conds.append(d.json_array_contains(root.c.tags, tag))
        for key, value in (f.metadata or {}).items():
            conds.append(d.root_metadata_has(self.table, root.c.metadata, key, value)
                         if roots_only else d.json_has_key_value(root.c.metadata, key, value))
        for key, value in (f.scope or {}).items():
            conds.append(d.json_has_key_value(root.c.scope, key, value))
        return conds

    def _list_roots(
        self, filters: TracesFilter, pagination: Pagination, order_by: TracesOrderBy
    ) -> tuple[list[SpanRecord], int]:
        return self.dialect.tolerant(lambda: self._roots_page(filters, pagination, order_by))

    def _roots_page(
        self, filters: TracesFilter, pagination: Pagination, order_by: TracesOrderBy
    ) -> tuple[list[SpanRecord], int]:
        d = self.dialect
        if d.root_metadata and root_metadata.answers(filters, order_by):
            with self.engine.connect() as conn:
                found = root_metadata.roots_page(conn, filters, pagination, order_by,
                                                 d.encode_timestamp, self.schema)
                if found is not None:
                    ids, total = found
                    return self._roots_by_ids(conn, ids), total
        return self._page_of_spans(self._conditions(filters, self.table), pagination, order_by,
                                   count_first=bool(filters.metadata))

    def _roots_by_ids(self, conn: sa.Connection, ids: Sequence[tuple[str, str]]
                      ) -> list[SpanRecord]:
        """The root spans of ``ids`` ((traceId, spanId) pairs), in that order."""
        if not ids:
            return []
        t = self.table
        # Two IN lists, not a row-value IN: SQLite seeks each span id in the table's
        # (spanId, traceId) key for these, where it scanned the roots for a row value.
        rows = conn.execute(sa.select(*self._full_cols).where(
            t.c.spanId.in_(sorted({s for _, s in ids})),
            t.c.traceId.in_(sorted({tr for tr, _ in ids})),
            t.c.parentSpanId.is_(None))).mappings().all()
        decode = self.dialect.decode
        found = {(r["traceId"], r["spanId"]): r for r in rows}
        return [decode(dict(found[key])) for key in ids if key in found]

    def _ordering(self, order_by: TracesOrderBy, table: Any = None) -> list[Any]:
        t = self.table if table is None else table
        col = t.c.startedAt if order_by.field == "startedAt" else t.c.endedAt
        desc = order_by.direction == "DESC"
        ordering: list[Any] = []
        if order_by.field == "endedAt":
            # Running traces (no endedAt) first when newest-first, last otherwise; spelled
            # with CASE because not every dialect has NULLS FIRST.
            ordering.append(sa.case((col.is_(None), 0 if desc else 1), else_=1 if desc else 0))
        keys = (col, t.c.traceId) if order_by.field == "startedAt" else (
            col, t.c.startedAt, t.c.traceId)
        for c in keys:
            ordering.append(c.desc() if desc else c.asc())
        return ordering

    def _page_of_spans(self, conds: list[sa.ColumnElement[bool]], pagination: Pagination,
                       order_by: TracesOrderBy, count_first: bool = False
                       ) -> tuple[list[SpanRecord], int]:
        """One page of the spans matching ``conds`` and how many match.

        The page is read first: when it is not full, its end is the end of the list and
        the total is known without counting (a rare filter value, the last page); only
        otherwise are the matching rows counted.

        ``count_first`` (a filter a dialect counts faster than it walks the list's
        order: SQLite's metadata filter, see ``SQLiteDialect.root_metadata_has``): the
        count runs first and also lists the matching row ids; when they are few
        (``dialect.count_first_ids``) the page is read from them instead of by walking
        the list's order to the end, which a rare value's page does."""
        d = self.dialect
        t = self.table
        # spanId last: several anchors of one trace may share their start time
        ordering = [*self._ordering(order_by), t.c.spanId]
        rowid: sa.ColumnElement[Any] = sa.literal_column("rowid")
        p: Any = t.alias("page_row")
        if d.late_row_lookup:
            # The page's row ids from the indexes alone, then only those rows.
            ids: sa.Select[Any] = (
                sa.select(rowid).select_from(t).where(*conds)
                .order_by(*ordering).limit(pagination.per_page).offset(pagination.offset))
            page = (sa.select(*(d.read_column(p, c) for c in COLUMNS))
                    .where(sa.literal_column(f"{p.name}.rowid").in_(ids))
                    .order_by(*self._ordering(order_by, p), p.c.spanId))
        else:
            page = (sa.select(*self._full_cols).where(*conds).order_by(*ordering)
                    .limit(pagination.per_page).offset(pagination.offset))
        with self.engine.connect() as conn:
            if count_first and d.late_row_lookup and d.count_first_ids:
                counted, listed = conn.execute(
                    sa.select(sa.func.count(), d.id_list(rowid)).select_from(t).where(*conds)
                ).one()
                total = int(counted)
                if total <= pagination.offset:
                    return [], total
                if total <= d.count_first_ids:
                    page = (sa.select(*(d.read_column(p, c) for c in COLUMNS))
                            .where(d.in_id_list(sa.literal_column(f"{p.name}.rowid"), listed))
                            .order_by(*self._ordering(order_by, p), p.c.spanId)
                            .limit(pagination.per_page).offset(pagination.offset))
                rows = conn.execute(page).mappings().all()
            else:
                rows = conn.execute(page).mappings().all()
                found = pagination.total_from_page(len(rows))
                total = found if found is not None else int(conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(*conds)).scalar_one())
        return [d.decode(dict(r)) for r in rows], total

    def list_branches(self, filters: TracesFilter | None = None, page: int = 0,
                      per_page: int = 10, order_by: TracesOrderBy | None = None) -> TracesPage:
        """Spans of the branch types (anywhere in a trace) matching the trace-list filters,
        which apply to the anchor span itself (``has_child_error`` is ignored)."""
        pagination = Pagination(page, per_page)
        f = replace(filters or TracesFilter(), has_child_error=None)
        t = self.table
        spans, total = self.dialect.tolerant(lambda: self._page_of_spans(
            [t.c.spanType.in_(sorted(BRANCH_TYPES)), *self._conditions(f, t, roots_only=False)],
            pagination, order_by or TracesOrderBy()))
        return TracesPage(spans, total, page, per_page, pagination.offset + len(spans) < total)

    def get_spans(self, trace_id: str, span_ids: Sequence[str]) -> list[SpanRecord]:
        """The named spans of a trace (unknown ids skipped), by start time."""
        check_id(trace_id, "trace_id")
        wanted = list(dict.fromkeys(check_id(s, "span_id") for s in span_ids))
        if not wanted:
            return []
        t = self.table
        out: list[SpanRecord] = []
        for i in range(0, len(wanted), 500):
            out += self._fetch(sa.select(*self._full_cols).where(
                t.c.traceId == trace_id, t.c.spanId.in_(wanted[i:i + 500])))
        # The trace's order (start time, then depth in the whole tree), payloads left out.
        position = {s.span_id: i for i, s in enumerate(
            order_spans(self._get_trace_spans(trace_id, light=True)))}
        return sorted(out, key=lambda s: position.get(s.span_id, 0))
