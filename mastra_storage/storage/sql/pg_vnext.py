"""The PostgreSQL v-next layout: Mastra's ``PostgresStoreVNext`` tables (``@mastra/pg``).

``PostgresStore(layout="vnext")`` (or ``?layout=vnext`` in the URL) builds a
:class:`PostgresVNextStore`, provider ``"postgres-vnext"``, strategy ``event-sourced``.
Logs, metrics, scores and feedback are the same tables and code as in the classic layout
(migration ``0002`` made them exactly as Mastra does); what differs is the spans, which
live in ``mastra_span_events`` (:mod:`.pg_vnext_ddl`) instead of ``mastra_ai_spans``.

**Writes** append: the exporter passes a span's snapshot at start (no ``endedAt``) and
again at end, and each becomes a row, mapped as Mastra's ``spanRecordToRow`` maps it so
that a Mastra app reads our rows as its own: ``isPending`` is true for a start row (not an
event span, no end); ``endedAt`` is part of the key and the partition key, so a start row
and an event span carry their start there; the metadata goes whole to ``metadataRaw`` and
its string values to ``metadataSearch``; ``source`` is ``executionSource``; tags are
trimmed and de-duplicated strings. A retried batch is harmless: the insert is
``ON CONFLICT ("traceId", "spanId", "endedAt") DO UPDATE … WHERE isPending AND NOT
EXCLUDED.isPending`` — Mastra's own clause: a replayed row changes nothing, the end row
of a zero-length span replaces its start row. That update also takes a fresh
``cursorId``/``xactId`` (Mastra's keeps the start row's, so a delta reader that had seen
the start never sees the end). The day partitions a batch needs are created before it
is written (Mastra fails a write outside the days its ``init()`` made).

**Reads** see one row per span, the one Mastra's reader picks: an ended row before a
pending one, then the latest ``endedAt``, then the latest ``cursorId``; a running span
reads with ``endedAt`` None, an event span with its start. The row is chosen with an
anti-join (``NOT EXISTS`` a better row of the same span, through the primary key), which
PostgreSQL folds into every query, so filters and ``LIMIT`` reach the indexes. Every read
returns classic :class:`~mastra_storage.model.spans.SpanRecord` values; ``createdAt`` is
the start, ``updatedAt`` None (the table has neither, Mastra answers the same).

Where Mastra's v-next reader answers differently from every other store of this package,
the shared store suites decide (docs/postgres-vnext.md lists each difference): a trace
list shows every root span (Mastra: the trace's newest root row), a metadata filter
compares JSON values of any type exactly (Mastra: string values only), the scope filter
applies, ``has_child_error`` counts the root's error too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ...model.entities import entity_type_values
from ...model.jsonsafe import clean_text, dumps
from ...model.spans import COLUMNS, HEAVY_ATTRS, SpanRecord
from ...model.time import truncate_ms
from ...model.vnext import PROMOTED_METADATA_KEYS, metadata_search, normalize_tags
from ..base import BRANCH_TYPES, check_id, order_spans
from ..queries import Pagination, TracesFilter, TracesOrderBy, TracesPage
from ..validation import require_ids
from .dialects.base import WHITESPACE
from .dialects.postgres import JsonbText, PGText, PostgresDialect
from .partitions import read_layout
from .parts import CHUNK
from .pg_vnext_ddl import SPAN_EVENTS, SPAN_KEY, ensure, missing_tables, span_events_table
from .postgres import DEFAULT_TOAST_COMPRESSION, PostgresStore, make_engine
from .store import SQLStore, server_engine

VNEXT_LAYOUT = "vnext"
# Columns every row writes (the sequence and the transaction id are the server's).
_WRITTEN = tuple(c.name for c in span_events_table(sa.MetaData(), None).columns
                 if c.name not in ("cursorId", "xactId"))
# span events column -> record attribute, for the columns a record maps to one to one.
_TEXT_ATTRS: tuple[tuple[str, str], ...] = tuple(
    ("executionSource" if c.attr == "source" else c.name, c.attr) for c in COLUMNS
    if c.kind == "text" and c.name not in ("traceId", "spanId", "name", "spanType"))
_JSON_ATTRS: tuple[tuple[str, str], ...] = tuple(
    ("metadataRaw" if c.attr == "metadata" else c.name, c.attr) for c in COLUMNS
    if c.kind == "json" and c.attr != "tags")
_LIGHT_NAMES = tuple(c.name for c in COLUMNS if c.attr not in HEAVY_ATTRS)
_FULL_NAMES = tuple(c.name for c in COLUMNS)
# Characters a metadata value may not start or end with to be looked up in metadataSearch
# too (which holds values trimmed by Python's strip here, by JavaScript's trim in Mastra).
_TRIM = WHITESPACE + "\ufeff"


def _utc(value: datetime) -> datetime:
    """Aware UTC at millisecond precision (a naive value is UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return truncate_ms(value.astimezone(timezone.utc))


class PostgresVNextDialect(PostgresDialect):
    """:class:`PostgresDialect` for the v-next tables: every span time column is
    ``timestamptz``, so time parameters are bound as aware UTC (never left to the
    session's time zone)."""

    provider = "postgres-vnext"

    def timestamp_param(self, value: datetime) -> Any:
        return _utc(value)


class PostgresVNextStore(PostgresStore):
    """The spans in Mastra's ``mastra_span_events``; see the module docstring. Build it as
    ``PostgresStore(layout="vnext", …)``, ``create_store("postgresql://…?layout=vnext")``
    or directly; every option of :class:`~.postgres.PostgresStore` applies.
    ``auto_migrate=True`` creates what the layout lacks on ``init()``
    (:func:`.pg_vnext_ddl.ensure`); otherwise ``init()`` checks the span table is there
    and says how to create it (``mastra-storage migrate URL --to vnext``)."""

    provider = "postgres-vnext"
    dialect: PostgresVNextDialect

    def __init__(
        self,
        url: str | sa.URL | None = None,
        *,
        engine: sa.Engine | None = None,
        schema: str | None = None,
        auto_migrate: bool = False,
        pool_size: int = 5,
        max_overflow: int = 10,
        engine_options: dict[str, Any] | None = None,
        layout: str = VNEXT_LAYOUT,
        toast_compression: str | None = DEFAULT_TOAST_COMPRESSION,
    ) -> None:
        if layout != VNEXT_LAYOUT:
            raise ValueError(f"{type(self).__name__} is the {VNEXT_LAYOUT!r} layout, "
                             f"got layout={layout!r}")
        self.layout = layout
        engine = server_engine(
            "PostgresStore", "postgresql", url, engine, lambda u: make_engine(
                u, pool_size=pool_size, max_overflow=max_overflow,
                toast_compression=toast_compression, **(engine_options or {})))
        SQLStore.__init__(self, engine, PostgresVNextDialect(), schema=schema,
                          auto_migrate=auto_migrate)

    def __repr__(self) -> str:
        where = self.engine.url.render_as_string(hide_password=True)
        return f"<PostgresStore {where} schema={self.schema!r} layout=vnext>"

    # ------------------------------------------------------------------ lifecycle
    def init(self) -> None:
        """Create what the layout lacks when ``auto_migrate``; otherwise check that the
        span table exists (:class:`~.migrate.SchemaNotReadyError` says what to run). Then,
        as Mastra's ``init()``, make sure the coming days' partitions exist."""
        with self._init_lock:
            if self._initialised:
                return
            if self.auto_migrate:
                ensure(self.engine, self.schema, [c.table for c in self.signals.values()])
            elif missing_tables(self.engine, self.schema, [SPAN_EVENTS]):
                self._not_ready()
            self._signals_present = None
            signals = ([c.table for c in self.signals.values()]
                       if self._check_signal_tables() else [])
            self.dialect.prepare_signal_tables(self.engine, [self.events])
            self.dialect.prepare_writes(self.engine, [self.events, *signals])
            self._initialised = True

    def _not_ready(self) -> None:
        from .migrate import SchemaNotReadyError

        where = f"schema {self.schema!r} of " if self.schema else ""
        url = self.engine.url.render_as_string(hide_password=True)
        flag = f" --schema {self.schema}" if self.schema else ""
        raise SchemaNotReadyError(
            f"table {SPAN_EVENTS} (the v-next layout) does not exist in {where}{url}: run "
            f"`mastra-storage migrate '{url}'{flag} --to vnext` (or create the store with "
            "auto_migrate=True)")

    # ------------------------------------------------------------------ statements
    def _build_statements(self) -> None:
        super()._build_statements()  # the classic table's (unused, kept consistent)
        self.events = span_events_table(self.metadata, self.schema)
        t = self.events
        stmt = postgresql.insert(t)
        sets: dict[str, Any] = {n: stmt.excluded[n] for n in _WRITTEN if n not in SPAN_KEY}
        sets["cursorId"] = stmt.excluded.cursorId  # a fresh position for delta readers
        sets["xactId"] = stmt.excluded.xactId
        self._insert = stmt.on_conflict_do_update(
            index_elements=list(SPAN_KEY), set_=sets,
            where=sa.and_(t.c.isPending, sa.not_(stmt.excluded.isPending)))
        self._view = self._current_view("spans", roots=False)
        self._roots = self._current_view("roots", roots=True)

    def _current_view(self, name: str, roots: bool) -> sa.Subquery:
        """One row per span — the one Mastra's reader picks — with the columns of
        ``mastra_ai_spans`` (``roots``: root spans only), plus the raw ``_tags``,
        ``_search`` and ``_pending`` for index-friendly filters."""
        e = self.events.alias("e")
        b = self.events.alias("b")
        better = sa.exists().where(
            b.c.traceId == e.c.traceId, b.c.spanId == e.c.spanId,
            sa.tuple_(sa.not_(b.c.isPending), b.c.endedAt, b.c.cursorId)
            > sa.tuple_(sa.not_(e.c.isPending), e.c.endedAt, e.c.cursorId))
        conds: list[Any] = []
        if roots:  # rows of one span share its parent: only root rows can be better
            better = better.where(b.c.parentSpanId.is_(None))
            conds.append(e.c.parentSpanId.is_(None))
        ts = postgresql.TIMESTAMP(timezone=True)
        ended = sa.case((e.c.isEvent, e.c.startedAt), (e.c.isPending, sa.null()),
                        else_=e.c.endedAt)
        special: dict[str, Any] = {
            "source": e.c.executionSource,
            "metadata": e.c.metadataRaw,
            "tags": sa.func.to_jsonb(e.c.tags, type_=JsonbText()),
            "endedAt": ended,
            "createdAt": e.c.startedAt,
            "updatedAt": sa.cast(sa.null(), ts),
        }
        cols = [(special[c.name] if c.name in special else e.c[c.name]).label(c.name)
                for c in COLUMNS]
        cols += [e.c.tags.label("_tags"), e.c.metadataSearch.label("_search"),
                 e.c.isPending.label("_pending")]
        return sa.select(*cols).where(*conds, ~better.correlate(e)).subquery(name)

    def _spans(self) -> Any:
        """The trace query and its suggestions read spans through this view."""
        return self._view

    def _context_tables(self) -> list[sa.Table]:
        """Discovery reads every stored row: the span events (a value seen at start is a
        value seen) and the signal tables."""
        return [self.events, *(c.table for c in self._codecs())]

    # ------------------------------------------------------------------ row codec
    def _encode(self, r: SpanRecord) -> dict[str, Any]:
        """Mastra's ``spanRecordToRow`` (see the module docstring)."""
        started = _utc(r.started_at)
        is_event = bool(r.is_event)
        ended = started if is_event or r.ended_at is None else _utc(r.ended_at)
        row: dict[str, Any] = {
            "traceId": clean_text(r.trace_id), "spanId": clean_text(r.span_id),
            "name": clean_text(r.name) or "", "spanType": clean_text(r.span_type) or "",
            "isEvent": is_event, "isPending": not is_event and r.ended_at is None,
            "startedAt": started, "endedAt": ended,
            "tags": normalize_tags(r.tags),
            "metadataSearch": dumps(metadata_search(r.metadata))[0],
        }
        for name, attr in _TEXT_ATTRS:
            row[name] = clean_text(getattr(r, attr))
        encode = self.dialect.encode_json
        for name, attr in _JSON_ATTRS:
            value = getattr(r, attr)
            row[name] = encode(value) if value is not None else None
        return row

    def _decode(self, row: Any) -> SpanRecord:
        record = self.dialect.decode(dict(row))
        if not record.tags:
            record.tags = None  # text[] can't tell "no tags" from "[]": as never given
        return record

    def _fetch(self, stmt: sa.Select[Any]) -> list[SpanRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [self._decode(r) for r in rows]

    def _cols(self, view: sa.Subquery, light: bool = False) -> list[Any]:
        return [view.c[n] for n in (_LIGHT_NAMES if light else _FULL_NAMES)]

    # ------------------------------------------------------------------ writes
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        """Append a row per record (a start or an end; see the module docstring). Rows
        with the same key in one batch are one write: an ended row wins over a pending
        one, else the later one (one statement can't touch a key twice)."""
        if not records:
            return
        require_ids(records)
        by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in map(self._encode, records):
            key = (row["traceId"], row["spanId"], row["endedAt"])
            held = by_key.pop(key, None)
            by_key[key] = held if held is not None and row["isPending"] \
                and not held["isPending"] else row
        rows = list(by_key.values())
        d = self.dialect
        ends = [row["endedAt"] for row in rows]
        for attempt in (1, 2):
            d.before_signal_write(self.engine, self.events, ends)
            try:
                with self.engine.begin() as conn:
                    for i in range(0, len(rows), CHUNK):
                        conn.execute(self._insert, rows[i:i + CHUNK])
                return
            except sa.exc.DBAPIError as exc:
                if attempt == 2 or not d.lacks_room(exc):
                    raise
                d.forget_room(self.events)  # e.g. a prune dropped a day meanwhile

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None:
        """The layout is event-sourced (as Mastra's): a row at start, a row at end, never
        an update. The exporter's ``event-sourced`` strategy never asks."""
        raise self._unsupported("span updates (the v-next layout is event-sourced: a row "
                                "at span start and one at span end, never updated)")

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        """Delete the traces' span rows and their signals in one transaction; returns the
        number of spans (not rows) deleted."""
        ids = list(dict.fromkeys(trace_ids))
        if not ids:
            return 0
        t = self.events
        spans: set[tuple[str, str]] = set()
        codecs = self._present_codecs(list(self.signals))
        with self.engine.begin() as conn:
            for i in range(0, len(ids), 500):
                result = conn.execute(sa.delete(t).where(t.c.traceId.in_(ids[i:i + 500]))
                                      .returning(t.c.traceId, t.c.spanId))
                spans.update((r[0], r[1]) for r in result)
            self._delete_trace_signals(conn, ids, codecs)
        return len(spans)

    def delete_traces_older_than(self, before: datetime) -> int:
        t = self.events
        old = sa.select(t.c.traceId).where(
            t.c.parentSpanId.is_(None), t.c.startedAt < _utc(before)).distinct()
        with self.engine.connect() as conn:
            ids = [row[0] for row in conn.execute(old)]
        return self.batch_delete_traces(ids)

    # ------------------------------------------------------------------ span reads
    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        check_id(trace_id, "trace_id")
        check_id(span_id, "span_id")
        v = self._view
        rows = self._fetch(sa.select(*self._cols(v))
                           .where(v.c.traceId == trace_id, v.c.spanId == span_id))
        return rows[0] if rows else None

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        check_id(trace_id, "trace_id")
        v = self._roots
        rows = self._fetch(sa.select(*self._cols(v)).where(v.c.traceId == trace_id)
                           .order_by(v.c.startedAt, v.c.spanId).limit(1))
        return rows[0] if rows else None

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        v = self._view
        return self._fetch(sa.select(*self._cols(v, light)).where(v.c.traceId == trace_id)
                           .order_by(v.c.startedAt, v.c.spanId))

    def get_spans(self, trace_id: str, span_ids: Sequence[str]) -> list[SpanRecord]:
        """The named spans of a trace (unknown ids skipped), in the trace's order."""
        check_id(trace_id, "trace_id")
        wanted = list(dict.fromkeys(check_id(s, "span_id") for s in span_ids))
        if not wanted:
            return []
        v = self._view
        out: list[SpanRecord] = []
        for i in range(0, len(wanted), 500):
            out += self._fetch(sa.select(*self._cols(v)).where(
                v.c.traceId == trace_id, v.c.spanId.in_(wanted[i:i + 500])))
        position = {s.span_id: i for i, s in enumerate(
            order_spans(self._get_trace_spans(trace_id, light=True)))}
        return sorted(out, key=lambda s: position.get(s.span_id, 0))

    # ------------------------------------------------------------------ lists
    def _span_conditions(self, f: TracesFilter, v: sa.Subquery) -> list[Any]:
        """The trace-list filters on one current span row (a root, or a branch anchor),
        with every store's meaning (memory.root_matches)."""
        conds: list[Any] = []
        for attr, value in f.equalities():
            col = v.c[next(c.name for c in COLUMNS if c.attr == attr)]
            if attr == "entity_type":  # "workflow_run" also matches legacy "workflow" rows
                values = entity_type_values(value)
                conds.append(col == value if len(values) == 1 else col.in_(values))
            else:
                conds.append(col == value)
        if f.started_from is not None:
            conds.append(v.c.startedAt >= _utc(f.started_from))
        if f.started_to is not None:
            conds.append(v.c.startedAt <= _utc(f.started_to))
        if f.ended_from is not None:
            conds.append(v.c.endedAt >= _utc(f.ended_from))
        if f.ended_to is not None:
            conds.append(v.c.endedAt <= _utc(f.ended_to))
        if f.status == "error":
            conds.append(v.c.error.is_not(None))
        elif f.status == "running":
            conds += [v.c.error.is_(None), v.c.endedAt.is_(None)]
        elif f.status == "success":
            conds += [v.c.error.is_(None), v.c.endedAt.is_not(None)]
        if f.tags:  # the GIN index of the tags column
            probe = sa.bindparam(None, [clean_text(t) for t in f.tags],
                                 type_=postgresql.ARRAY(PGText()))
            conds.append(v.c._tags.op("@>", is_comparison=True)(probe))
        d = self.dialect
        for key, value in (f.metadata or {}).items():
            conds.append(d.json_has_key_value(v.c.metadata, key, value))
            if isinstance(value, str) and value and value == value.strip(_TRIM) \
                    and key not in PROMOTED_METADATA_KEYS:
                # Implied by the exact match, and indexed (Mastra's metadata filter).
                probe_text, _ = dumps({key: value})
                conds.append(v.c._search.op("@>", is_comparison=True)(
                    sa.bindparam(None, probe_text, type_=JsonbText())))
        for key, value in (f.scope or {}).items():
            conds.append(d.json_has_key_value(v.c.scope, key, value))
        return conds

    def _root_conditions(self, f: TracesFilter) -> list[Any]:
        v = self._roots
        conds = self._span_conditions(f, v)
        if f.has_child_error is not None:
            # Some span of the trace failed, the root included (every store's meaning;
            # Mastra's v-next reader counts the other spans only), by its current row.
            c = self._view.alias("child")
            failed = sa.exists(sa.select(sa.literal(1)).select_from(c).where(
                c.c.traceId == v.c.traceId, c.c.error.is_not(None)))
            conds.append(failed if f.has_child_error else ~failed)
        return conds

    @staticmethod
    def _span_order(order_by: TracesOrderBy, v: sa.Subquery) -> list[Any]:
        desc = order_by.direction == "DESC"
        ordering: list[Any] = []
        if order_by.field == "startedAt":
            keys = [v.c.startedAt, v.c.traceId]
        else:
            # Running spans (no end) first when newest-first, last otherwise.
            ordering.append(sa.case((v.c.endedAt.is_(None), 0 if desc else 1),
                                    else_=1 if desc else 0))
            keys = [v.c.endedAt, v.c.startedAt, v.c.traceId]
        ordering += [k.desc() if desc else k.asc() for k in keys]
        ordering.append(v.c.spanId.desc() if desc else v.c.spanId.asc())
        return ordering

    def _span_page(self, v: sa.Subquery, conds: list[Any], pagination: Pagination,
              order_by: TracesOrderBy) -> tuple[list[SpanRecord], int]:
        count = sa.select(sa.func.count()).select_from(v).where(*conds)
        page = (sa.select(*self._cols(v)).where(*conds).order_by(*self._span_order(order_by, v))
                .limit(pagination.per_page).offset(pagination.offset))
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(page).mappings().all() if total > pagination.offset else []
        return [self._decode(r) for r in rows], total

    def _list_roots(self, filters: TracesFilter, pagination: Pagination,
                    order_by: TracesOrderBy) -> tuple[list[SpanRecord], int]:
        return self._span_page(self._roots, self._root_conditions(filters), pagination, order_by)

    def list_branches(self, filters: TracesFilter | None = None, page: int = 0,
                      per_page: int = 10, order_by: TracesOrderBy | None = None) -> TracesPage:
        """Spans of the branch types (anywhere in a trace) matching the trace-list filters,
        applied to the anchor itself (``has_child_error`` is ignored)."""
        pagination = Pagination(page, per_page)
        f = replace(filters or TracesFilter(), has_child_error=None)
        v = self._view
        conds = [v.c.spanType.in_(sorted(BRANCH_TYPES)), *self._span_conditions(f, v)]
        spans, total = self._span_page(v, conds, pagination, order_by or TracesOrderBy())
        return TracesPage(spans, total, page, per_page, pagination.offset + len(spans) < total)

    # ------------------------------------------------------------------ retention
    def _prune_traces(self, cutoff: datetime, codecs: dict[str, Any],
                      batch_size: int) -> dict[str, int]:
        """Whole traces whose root started before ``cutoff``, with their signals.

        Their rows in the day partitions that end by the cutoff go with those partitions
        (detached and dropped, as Mastra's ``prune``); their other rows and their signal
        rows are deleted a batch of traces at a time. Counts are span-event rows.
        """
        t = self.events
        counts = dict.fromkeys(["spans", *codecs], 0)
        floor = self._partition_floor(cutoff)
        last = ""
        while True:
            old = (sa.select(t.c.traceId).where(t.c.parentSpanId.is_(None),
                                                t.c.startedAt < _utc(cutoff),
                                                t.c.traceId > last)
                   .group_by(t.c.traceId).order_by(t.c.traceId).limit(batch_size))
            with self.engine.begin() as conn:  # one batch of whole traces
                ids = [row[0] for row in conn.execute(old)]
                if not ids:
                    break
                for i in range(0, len(ids), CHUNK):
                    doomed: sa.ColumnElement[bool] = t.c.traceId.in_(ids[i:i + CHUNK])
                    if floor is not None:  # the rest goes with its partitions below
                        doomed = sa.and_(doomed, t.c.endedAt >= floor)
                    counts["spans"] += conn.execute(sa.delete(t).where(doomed)).rowcount or 0
                for signal, n in self._delete_trace_signals(conn, ids, codecs).items():
                    counts[signal] += n
            last = ids[-1]
        if floor is not None:
            counts["spans"] += self.dialect.drop_signal_partitions(self.engine, t, cutoff)
        return counts

    def _partition_floor(self, cutoff: datetime) -> datetime | None:
        """The upper bound of the span partitions a prune at ``cutoff`` drops (every row
        below it is in one of them), or None when no partition will be dropped (none is
        old enough, the table is not partitioned, or a DEFAULT partition holds any day)."""
        with self.engine.connect() as conn:
            layout = read_layout(conn, self.schema, SPAN_EVENTS)
            conn.rollback()
        if not layout.partitioned or layout.has_default:
            return None
        highs = [p.high for p in layout.partitions
                 if p.low is not None and p.high is not None and p.high <= cutoff]
        return max(highs) if highs else None

    def _span_rows(self) -> sa.Table:
        # stats() counts span-event rows: a span seen running and then ended is two
        return self.events


__all__ = ["VNEXT_LAYOUT", "PostgresVNextDialect", "PostgresVNextStore"]
