"""The v-next span layout of :class:`~.store.ClickHouseStore` (``layout="vnext"``):
Mastra's ``mastra_span_events`` and the tables its views feed (:mod:`.vnext_ddl`).

``ClickHouseStore(layout="vnext")`` (or ``?layout=vnext`` in the URL) builds a
:class:`ClickHouseVNextStore`, provider ``"clickhouse-vnext"``. Logs, metrics, scores
and feedback are the same tables and code as in the classic layout; what differs is the
spans, and that is this module.

**Writes** follow Mastra's row mapping (``helpers.ts`` ``spanRecordToRow`` of
``@mastra/clickhouse`` 1.16.0), so that a Mastra app reads our rows as its own:
``dedupeKey = "<traceId>:<spanId>"``; ``endedAt`` is the start for an event span and for
a span without an end (the column is part of the sort key and not nullable); the
metadata goes whole to ``metadataRaw`` and its string values (trimmed, non-empty, not one
of the context keys Mastra promotes to columns) to the ``metadataSearch`` map; ``source``
goes to ``executionSource``; tags are trimmed, de-duplicated and stripped of empty ones.
The layout is insert-only: one row per span, written when it ends. There is no update
(:meth:`batch_update_spans` raises :class:`~mastra_storage.errors.UnsupportedOperation`)
and a running span is not visible — the exporter writes nothing until it ends.

**Reads** see one row per span. The tables are ``ReplacingMergeTree`` without a
version; a span written twice with the same ``endedAt`` has the same sort key (the
merges, and ``FINAL`` on every read, keep the copy inserted last), one written with a
different ``endedAt`` does not, and reads keep the copy with the latest ``endedAt``
(Mastra's ``ORDER BY dedupeKey, endedAt DESC LIMIT 1 BY dedupeKey``). Trace lists read
``mastra_trace_roots`` (ordered by ``startedAt``: the newest page is the newest key
range), branch lists ``mastra_trace_branches``; a trace, a span or a branch reads
``mastra_span_events`` by its ``traceId`` key prefix.

Where Mastra's v-next store answers differently from every other store of this package,
the shared store suites decide, and docs/clickhouse.md lists the differences: ``has
child error`` counts the root's error too, a metadata filter compares JSON values of any
type (exactly, against ``metadataRaw``), the scope filter is applied. Trace queries,
suggestions, discovery, prune and stats are the classic code over these tables (the
hooks of :class:`~.trace_query.TraceQueryMixin` and :class:`~.signals.SignalsMixin`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from ...model.jsonsafe import loads
from ...model.preview import input_preview
from ...model.spans import COLUMN_BY_NAME, HEAVY_ATTRS, SpanRecord
from ...model.vnext import PROMOTED_METADATA_KEYS, metadata_search, normalize_tags
from ..base import BRANCH_TYPES
from ..queries import (
    LightSpan,
    LightTracesPage,
    Pagination,
    TracesFilter,
    TracesOrderBy,
    TracesPage,
)
from ..validation import require_ids
from . import vnext_ddl
from .ddl import VNEXT_LAYOUT, quote_ident
from .expressions import (
    HAS_ERROR,
    NO_ERROR,
    Params,
    clean_params,
    json_key_equals,
    span_filters,
)
from .slices import row_slices
from .store import KEY_CHUNK, ClickHouseStore, _chunks, _clean_texts, _utc
from .trace_query import CLASSIC_COLUMNS, SpanColumns

_COLUMNS = vnext_ddl.span_columns()
_NAMES = [n for n, _ in _COLUMNS]
_TYPES = [t for _, t in _COLUMNS]
# column -> record attribute (dedupeKey and metadataSearch are derived, never read back)
_ATTR = {name: ("source" if name == "executionSource" else "metadata" if name == "metadataRaw"
                else COLUMN_BY_NAME[name].attr)
         for name in _NAMES if name not in ("dedupeKey", "metadataSearch")}
_JSON = frozenset({"attributes", "scope", "links", "input", "output", "error", "metadataRaw",
                   "requestContext"})
_FULL = [n for n in _NAMES if n in _ATTR]
_LIGHT = [n for n in _FULL if _ATTR[n] not in HEAVY_ATTRS]
# A trace-list row: the light columns plus what a LightSpan keeps (metadata and the
# input its preview is made of).
_LIST_LIGHT = [n for n in _FULL if _ATTR[n] not in HEAVY_ATTRS or _ATTR[n] in ("metadata",
                                                                               "input")]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)

VNEXT_COLUMNS = SpanColumns(
    {**{a: n for a, n in CLASSIC_COLUMNS.names.items() if a not in ("created_at", "updated_at")},
     "source": "executionSource", "metadata": "metadataRaw"},
    "metadataRaw", "CAST(`tags` AS Array(Nullable(String)))")
_COLUMN_OF = VNEXT_COLUMNS.names


def _select(names: Sequence[str]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def _ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _ONE_MS


class ClickHouseVNextStore(ClickHouseStore):
    """The spans in Mastra's v-next tables; see the module docstring. Build it as
    ``ClickHouseStore(layout="vnext", …)`` or ``ClickHouseStore.from_url("…?layout=vnext")``
    (this class directly works too); every option of :class:`~.store.ClickHouseStore`
    applies, ``ttl_days`` / ``signal_ttl_days["spans"]`` as Mastra's ``retention.tracing``
    (``TTL endedAt + INTERVAL N DAY`` on the three span tables)."""

    provider = "clickhouse-vnext"
    span_columns = VNEXT_COLUMNS

    def __init__(self, **options: Any) -> None:
        layout = options.setdefault("layout", VNEXT_LAYOUT)
        if layout != VNEXT_LAYOUT:
            raise ValueError(f"{type(self).__name__} is the {VNEXT_LAYOUT!r} layout, "
                             f"got layout={layout!r}")
        super().__init__(**options)

    def __repr__(self) -> str:
        return f"<ClickHouseStore {self.spec.redacted()} layout=vnext>"

    @property
    def helpers(self) -> bool:
        return False  # the classic layout's helper key columns: not in these tables

    # ------------------------------------------------------------------ names
    def _t(self, name: str) -> str:
        return vnext_ddl.table(name, self.schema)

    @property
    def span_events(self) -> str:
        return self._t(vnext_ddl.SPAN_EVENTS)

    def _current(self, columns: Sequence[str], where: str) -> str:
        """The spans' current rows: ``FINAL`` keeps the last copy of equal sort keys,
        ``LIMIT 1 BY`` the latest ``endedAt`` of one span. ``where`` may only test the
        span's identity (traceId, spanId): every copy of a span shares it, so the filter
        can run before the de-duplication and use the primary key."""
        return (f"SELECT {_select(columns)} FROM {self.span_events} FINAL WHERE {where} "
                "ORDER BY `dedupeKey`, `endedAt` DESC LIMIT 1 BY `dedupeKey`")

    # ------------------------------------------------------------------ row codec
    def _row_columns(self, records: Sequence[SpanRecord]) -> list[list[Any]]:
        """Column-oriented data for one INSERT into mastra_span_events (Mastra's mapping,
        see the module docstring)."""
        n = len(records)
        trace_ids = _clean_texts([r.trace_id for r in records])
        span_ids = _clean_texts([r.span_id for r in records])
        encode = self._encode_json
        cols: list[list[Any]] = []
        for name in _NAMES:
            if name == "dedupeKey":
                cols.append([f"{t}:{s}" for t, s in zip(trace_ids, span_ids, strict=True)])
            elif name == "traceId":
                cols.append(trace_ids)
            elif name == "spanId":
                cols.append(span_ids)
            elif name == "startedAt":
                cols.append([_ms(r.started_at) for r in records])
            elif name == "endedAt":
                cols.append([_ms(r.started_at if r.is_event or r.ended_at is None
                                 else r.ended_at) for r in records])
            elif name == "isEvent":
                cols.append([bool(r.is_event) for r in records])
            elif name == "tags":
                cols.append([normalize_tags(r.tags) for r in records])
            elif name == "metadataSearch":
                cols.append([metadata_search(r.metadata) for r in records])
            elif name in _JSON:
                attr = _ATTR[name]
                cols.append([encode(v) if (v := getattr(r, attr)) is not None else None
                             for r in records])
            else:
                values = _clean_texts([getattr(r, _ATTR[name]) for r in records])
                if name in ("name", "spanType"):  # required columns
                    values = [v if v is not None else "" for v in values]
                cols.append(values)
        assert all(len(c) == n for c in cols)
        return cols

    def _vnext_slices(self, cols: list[list[Any]], n: int) -> list[tuple[int, int]]:
        """Row ranges within ``max_insert_rows`` rows and ``max_insert_bytes`` bytes of
        payload text (a row over the byte bound goes alone)."""
        text = [c for c, name in zip(cols, _NAMES, strict=True) if name in _JSON]
        return row_slices(text, n, self.max_insert_rows, self.max_insert_bytes)

    def _decode_row(self, names: Sequence[str], row: Sequence[Any]) -> SpanRecord:
        values: dict[str, Any] = {}
        for name, value in zip(names, row, strict=True):
            attr = _ATTR.get(name)
            if attr is None:
                continue
            if name in _JSON:
                value = None if value in (None, "") else loads(value)
            elif name in ("startedAt", "endedAt"):
                value = _utc(value)
            elif name == "isEvent":
                value = bool(value)
            elif name == "tags":
                value = list(value) if value else None
            elif name == "parentSpanId" and value == "":
                value = None
            values[attr] = value
        record = SpanRecord(**values)
        if record.is_event:  # Mastra reads an event span's end as its start
            record.ended_at = record.started_at
        record.created_at = record.started_at  # no createdAt/updatedAt columns (Mastra's
        record.updated_at = None  # reader answers the same)
        return record

    def _rows(self, sql: str, params: dict[str, Any] | None) -> list[SpanRecord]:
        result = self.client.query(sql, parameters=clean_params(params),
                                   settings=self.read_settings)
        names = result.column_names
        return [self._decode_row(names, row) for row in result.result_rows]

    # ------------------------------------------------------------------ writes
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        """Insert one row per span into mastra_span_events (the views copy roots and
        branch anchors on). Writing a span again with the same end replaces it; with a
        later end, reads show the later one."""
        if not records:
            return
        require_ids(records)
        n = len(records)
        cols = self._row_columns(records)
        for start, end in self._vnext_slices(cols, n):
            self.client.insert(
                vnext_ddl.SPAN_EVENTS,
                cols if (start, end) == (0, n) else [c[start:end] for c in cols],
                column_names=_NAMES,
                database=self.database,
                column_type_names=_TYPES,
                column_oriented=True,
                settings=self.insert_settings,
            )

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None:
        """The layout is insert-only (as Mastra's): a span is written once, when it ends."""
        raise self._unsupported("span updates (the v-next layout is insert-only: one row "
                                "per span, written when it ends)")

    # ------------------------------------------------------------------ deletes
    def _delete_from(self, name: str, condition: str, params: dict[str, Any]) -> None:
        target = f"{vnext_ddl.local_table(name, self.schema)}{self.schema.on_cluster}"
        if self.delete_method == "lightweight":
            self.command(f"DELETE FROM {target} WHERE {condition}", params,
                         settings={"lightweight_deletes_sync": 2})
        else:
            self.command(f"ALTER TABLE {target} DELETE WHERE {condition}", params,
                         settings={"mutations_sync": 2})

    def _delete_trace_spans(self, trace_ids: Sequence[str]) -> int:
        """Delete the traces from the three span tables (Mastra's own delete leaves
        mastra_trace_branches alone, so its branch list still shows deleted traces); the
        delta tables are indexes that expire in two days and join with these tables."""
        params = {"ids": list(trace_ids)}
        cond = "`traceId` IN {ids:Array(String)}"
        rows = self.query_rows(
            f"SELECT uniqExact(`dedupeKey`) FROM {self.span_events} WHERE {cond}", params)
        found = int(rows[0][0]) if rows else 0
        if found:
            for name in vnext_ddl.SPAN_TABLES:
                self._delete_from(name, cond, params)
        return found

    def _old_trace_ids(self, cutoff: datetime) -> list[str]:
        """Traces whose root started before ``cutoff`` (the roots table's key prefix)."""
        p = Params()
        rows = self.query_rows(
            f"SELECT DISTINCT `traceId` FROM {self._t(vnext_ddl.TRACE_ROOTS)} "
            f"WHERE `startedAt` < {p.ts(cutoff)}", p.values)
        return [r[0] for r in rows]

    def delete_traces_older_than(self, before: datetime) -> int:
        """Delete the traces whose root span started before ``before``."""
        return self.batch_delete_traces(self._old_trace_ids(before))

    # ------------------------------------------------------------------ span reads
    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        rows = self._rows(self._current(_FULL, "`traceId` = {t:String} AND `spanId` = {s:String}"),
                          {"t": trace_id, "s": span_id})
        return rows[0] if rows else None

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        """The trace's root from mastra_span_events (by its key prefix; Mastra reads
        mastra_trace_roots, whose key starts with startedAt, i.e. scans it)."""
        rows = self._rows(
            f"SELECT * FROM ({self._current(_FULL, '`traceId` = {t:String}')}) "
            "WHERE `parentSpanId` IS NULL ORDER BY `startedAt`, `spanId` LIMIT 1",
            {"t": trace_id})
        return rows[0] if rows else None

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        return self._rows(self._current(_LIGHT if light else _FULL, "`traceId` = {t:String}"),
                          {"t": trace_id})

    def _skeleton(self, trace_id: str) -> list[SpanRecord]:
        return self._rows(self._current(["spanId", "parentSpanId", "startedAt", "traceId",
                                         "name", "spanType"], "`traceId` = {t:String}"),
                          {"t": trace_id})

    def _rows_by_keys(self, keys: Sequence[tuple[Any, ...]], select: str,
                      roots: bool = False) -> list[SpanRecord]:
        """Full rows of (traceId, spanId) keys, in the keys' order (``select`` is the
        classic layout's column list: these tables have their own)."""
        if not keys:
            return []
        rows: list[SpanRecord] = []
        for chunk in _chunks(list(keys), KEY_CHUNK):
            rows += self._rows(
                self._current(_FULL, "`traceId` IN {t:Array(String)} AND "
                                     "`spanId` IN {s:Array(String)}"),
                {"t": sorted({k[0] for k in chunk}), "s": sorted({k[1] for k in chunk})})
        by_key = {r.key: r for r in rows}
        return [by_key[(k[0], k[1])] for k in keys if (k[0], k[1]) in by_key]

    # ------------------------------------------------------------------ filters
    def _span_filters(self, f: TracesFilter, p: Params) -> list[str]:
        """The trace-list filters over one row of these tables (a root, or a branch
        anchor): JSON-exact metadata and scope matches against ``metadataRaw`` and
        ``scope`` (every store's meaning; Mastra's v-next reader matches text values only,
        through metadataSearch, and ignores the scope)."""
        # nothing running is ever stored here
        conds = span_filters(f, p, _COLUMN_OF, running="0", success=NO_ERROR)
        conds += [f"has(`tags`, {p.add(tag, 'String')})" for tag in f.tags or ()]
        conds += [json_key_equals("metadataRaw", k, v, p) for k, v in (f.metadata or {}).items()]
        conds += [json_key_equals("scope", k, v, p) for k, v in (f.scope or {}).items()]
        return conds

    def _root_filters(self, f: TracesFilter, p: Params) -> list[str]:
        conds = self._span_filters(f, p)
        if f.has_child_error is not None:
            # Some span of the trace failed, the root included: the meaning of every
            # other store (Mastra's v-next reader counts non-root spans only). Each span
            # by its current row; only traces with any failed copy are de-duplicated.
            failed = (f"SELECT `traceId` FROM {self.span_events} WHERE {HAS_ERROR}")
            current = self._current(["traceId", "error"], f"`traceId` IN ({failed})")
            sub = f"SELECT `traceId` FROM ({current}) WHERE {HAS_ERROR}"
            conds.append(f"`traceId` {'IN' if f.has_child_error else 'NOT IN'} ({sub})")
        return conds or ["1"]

    @staticmethod
    def _order_by(order_by: TracesOrderBy, *, with_span: bool = False) -> str:
        d = order_by.direction
        tail = f", `spanId` {d}" if with_span else ""
        if order_by.field == "startedAt":
            return f"`startedAt` {d}, `traceId` {d}{tail}"
        return f"`endedAt` {d}, `startedAt` {d}, `traceId` {d}{tail}"

    def _page(self, table: str, columns: Sequence[str], where: str, params: dict[str, Any],
              order: str, pagination: Pagination) -> tuple[list[SpanRecord], int]:
        """One page of a list table's rows and the total, one row per span."""
        source = f"{self._t(table)} FINAL"
        total = int(self.query_rows(
            f"SELECT uniqExact(`dedupeKey`) FROM {source} WHERE {where}", params)[0][0])
        if total <= pagination.offset:
            return [], total
        q = dict(params, _limit=pagination.per_page, _offset=pagination.offset)
        rows = self._rows(
            f"SELECT {_select(columns)} FROM {source} WHERE {where} ORDER BY {order} "
            "LIMIT 1 BY `dedupeKey` LIMIT {_limit:UInt32} OFFSET {_offset:UInt32}", q)
        return rows, total

    # ------------------------------------------------------------------ lists
    def _list_roots(self, filters: TracesFilter, pagination: Pagination,
                    order_by: TracesOrderBy) -> tuple[list[SpanRecord], int]:
        p = Params()
        where = " AND ".join(self._root_filters(filters, p))
        return self._page(vnext_ddl.TRACE_ROOTS, _FULL, where, p.values,
                          self._order_by(order_by), pagination)

    def list_traces_light(self, filters: TracesFilter | None = None, page: int = 0,
                          per_page: int = 10, order_by: TracesOrderBy | None = None
                          ) -> LightTracesPage:
        """Root spans without output and attributes (never read), each with its status
        and input preview."""
        pagination = Pagination(page, per_page)
        p = Params()
        where = " AND ".join(self._root_filters(filters or TracesFilter(), p))
        rows, total = self._page(vnext_ddl.TRACE_ROOTS, _LIST_LIGHT, where, p.values,
                                 self._order_by(order_by or TracesOrderBy()), pagination)
        items = [LightSpan.of(r, input_preview(r.input)) for r in rows]
        return LightTracesPage(items, total, page, per_page,
                               pagination.offset + len(items) < total)

    def list_branches(self, filters: TracesFilter | None = None, page: int = 0,
                      per_page: int = 10, order_by: TracesOrderBy | None = None) -> TracesPage:
        """Branch anchors from mastra_trace_branches. Its view copies the span types of
        Mastra's list (agent, workflow, processor and scorer runs, RAG ingestion, tool and
        MCP tool calls): ``mcp_server_request`` and ``provider_tool_call`` anchors, which
        the classic layout lists too, are not in this table (nor in Mastra's answer)."""
        pagination = Pagination(page, per_page)
        p = Params()
        f = replace(filters or TracesFilter(), has_child_error=None)
        conds = [f"`spanType` IN {p.add(sorted(BRANCH_TYPES), 'Array(String)')}",
                 *self._span_filters(f, p)]
        rows, total = self._page(vnext_ddl.TRACE_BRANCHES, _FULL, " AND ".join(conds),
                                 p.values, self._order_by(order_by or TracesOrderBy(),
                                                          with_span=True), pagination)
        return TracesPage(rows, total, page, per_page, pagination.offset + len(rows) < total)

    # ------------------------------------------------------------------ trace query hooks
    def _query_tables(self) -> dict[str, str]:
        tables = super()._query_tables()
        columns = sorted({*_FULL, "traceId"})
        tables["spans"] = f"({self._current(columns, '1')}) AS s"
        return tables

    def _roots_source(self) -> str:
        return f"{self._t(vnext_ddl.TRACE_ROOTS)} FINAL"

    def _population(self, start: datetime, end: datetime, p: Params) -> list[str]:
        """Root spans with ``start <= startedAt < end`` (every stored span has ended)."""
        return [f"`startedAt` >= {p.ts(start)}", f"`startedAt` < {p.ts(end)}"]

    # ------------------------------------------------------------------ signals hooks
    def _span_context_source(self) -> tuple[str, str]:
        # Distinct values over every stored copy: no de-duplication needed.
        return self.span_events, VNEXT_COLUMNS.tags

    def _span_stats_query(self) -> tuple[str, list[str]]:
        return (f"SELECT uniqExact(`dedupeKey`), minOrNull(`startedAt`), maxOrNull(`startedAt`) "
                f"FROM {self.span_events}",
                [vnext_ddl.local_name(t, self.schema) for t in vnext_ddl.SPAN_TABLES])


__all__ = ["PROMOTED_METADATA_KEYS", "VNEXT_COLUMNS", "ClickHouseVNextStore",
           "metadata_search", "normalize_tags"]
