"""The newer span reads on ClickHouse (classic ``mastra_ai_spans`` layout): light trace
lists, span subsets, branches, branch listing, and the trace query with its field and
value suggestions (a mixin of :class:`~.store.ClickHouseStore`).

The trace query — Mastra Studio's ``where`` grammar, already checked and planned by
:mod:`..trace_query` — compiles to **one** SQL statement: the population (ended root
spans with ``from <= startedAt < to``), the predicate as a boolean expression over the
root row, and each ``spans`` / ``scores`` / ``feedback`` relation as a semi-join on
``traceId`` (``traceId [NOT] IN (SELECT traceId FROM … FINAL WHERE …)``). Paths come from
the planner's fixed registry and map onto column expressions chosen here; every literal
(metadata keys included) is a typed query parameter. SQL's NULL logic is three-valued,
the reference semantics are two-valued: every leaf is made NULL-free (``ifNull(…, 0)``,
``IS [NOT] NULL``), so ``not`` means what it means in the in-memory store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...model.jsonsafe import loads
from ...model.preview import input_preview
from ...model.spans import COLUMN_BY_ATTR, COLUMNS, HEAVY_ATTRS, SpanRecord
from ..base import BRANCH_TYPES, branch_ids, check_id, order_spans
from ..queries import (
    LightSpan,
    LightTracesPage,
    Pagination,
    Trace,
    TracesFilter,
    TracesOrderBy,
    TracesPage,
)
from ..trace_query import (
    FIELD_ATTRS,
    METADATA_PREFIX,
    BoolOp,
    Collection,
    Comparison,
    FieldSuggestions,
    Membership,
    Node,
    Not,
    ObservedField,
    Presence,
    Relation,
    SuggestionRequest,
    TraceQuery,
    TraceQueryResult,
    TraceRow,
    ValueSuggestions,
    encode_cursor,
)
from . import signal_ddl
from .ddl import HELPER_IS_CHILD, HELPER_ROOT_STARTED, SchemaOptions, quote_ident
from .expressions import (
    HAS_ERROR,
    ROOT,
    TS_TYPE,
    Params,
    json_array_has,
    json_key_equals,
    span_filters,
    ts_text,
)
from .signals import _utc

# filter attribute -> column name
_COLUMN_NAMES = {attr: column.name for attr, column in COLUMN_BY_ATTR.items()}

_FULL_SELECT = ", ".join(quote_ident(c.name) for c in COLUMNS)
# A light trace list row: the light columns plus what LightSpan keeps (metadata, and the
# input its preview is made of).
_LIST_LIGHT_SELECT = ", ".join(quote_ident(c.name) for c in COLUMNS
                               if c.attr not in HEAVY_ATTRS or c.attr in ("metadata", "input"))
_TAGS = "JSONExtract(ifNull(`tags`, '[]'), 'Array(Nullable(String))')"
_DURATION = ("toFloat64(toUnixTimestamp64Milli(`endedAt`) - "
             "toUnixTimestamp64Milli(`startedAt`))")
_STATUS = f"if({HAS_ERROR}, 'error', 'success')"
# Python's str.strip() whitespace: "has a non-blank character" (RE2 syntax).
_NON_BLANK = r"[^\t-\r\x{1C}-\x{20}\x{85}\p{Z}]"


@dataclass(frozen=True)
class SpanColumns:
    """How a span table spells a record's fields: the classic ``mastra_ai_spans`` keeps
    Mastra's record names with JSON text for tags and metadata; the v-next tables keep
    ``metadataRaw``, an ``Array`` of tags and ``executionSource`` for ``source``."""

    names: Mapping[str, str]  # record attribute -> column
    metadata: str  # the column holding the metadata as JSON text
    tags: str  # an expression: the tags as Array(Nullable(String))


CLASSIC_COLUMNS = SpanColumns({c.attr: c.name for c in COLUMNS}, "metadata", _TAGS)


def _json_string(column: str, key: str, p: Params, non_blank: bool = False) -> str:
    """The text value of top-level ``key`` of JSON column ``column``, NULL if it is not a
    string (or, with ``non_blank``, is blank)."""
    doc = f"ifNull(`{column}`, '')"
    k = p.add(key, "String")
    cond = f"JSONType({doc}, {k}) = 'String'"
    if non_blank:
        cond += f" AND match(JSONExtractString({doc}, {k}), {p.add(_NON_BLANK, 'String')})"
    return f"if({cond}, JSONExtractString({doc}, {k}), NULL)"


class _Compiler:
    """A planned predicate → a NULL-free SQL boolean over one row of its scope's table."""

    def __init__(self, p: Params, tables: dict[str, str],
                 columns: SpanColumns = CLASSIC_COLUMNS) -> None:
        self.p = p
        self.tables = tables  # scope -> FROM clause of its rows (spans, scores, feedback)
        self.columns = columns

    # ------------------------------------------------------------------ values
    def value(self, scope: str, path: str, literal: Any = None) -> str:
        if scope == "trace" and path.startswith(METADATA_PREFIX):
            return _json_string(self.columns.metadata, path[len(METADATA_PREFIX):], self.p,
                                True)
        if scope in ("trace", "spans"):
            if path == "status":
                return _STATUS
            if path == "durationMs":
                return _DURATION
            if path in ("model", "provider"):
                return _json_string("attributes", path, self.p)
            return quote_ident(self.columns.names[FIELD_ATTRS[path]])
        if scope == "feedback" and path == "value":
            return "`valueString`" if isinstance(literal, str) else "`valueNumber`"
        columns = {c.attr: c.name for c in signal_ddl.spec(scope).columns}
        return quote_ident(columns[FIELD_ATTRS[path]])

    def literal(self, kind: str, value: Any) -> str:
        if isinstance(value, datetime):
            return self.p.ts(value)
        if isinstance(value, float):
            return self.p.add(value, "Float64")
        return self.p.add(value, "String")

    def literals(self, values: Sequence[Any]) -> str:
        sample = values[0]
        if isinstance(sample, datetime):
            return self.p.add([ts_text(v) for v in values], f"Array({TS_TYPE})")
        if isinstance(sample, float):
            return self.p.add(list(values), "Array(Float64)")
        return self.p.add(list(values), "Array(String)")

    # ------------------------------------------------------------------ nodes
    def node(self, node: Node, scope: str) -> str:
        if isinstance(node, BoolOp):
            joiner = " AND " if node.op == "and" else " OR "
            return "(" + joiner.join(self.node(a, scope) for a in node.args) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.arg, scope)})"
        if isinstance(node, Relation):
            inner = self.node(node.predicate, node.collection)
            sub = (f"SELECT `traceId` FROM {self.tables[node.collection]} "
                   f"WHERE `traceId` IS NOT NULL AND {inner}")
            return f"(`traceId` {'IN' if node.quantifier == 'some' else 'NOT IN'} ({sub}))"
        if isinstance(node, Comparison):
            return self.comparison(node, scope)
        if isinstance(node, Membership):
            e = self.value(scope, node.field, node.values[0])
            if node.op == "in":
                return f"ifNull({e} IN {self.literals(node.values)}, 0)"
            return f"ifNull({e} NOT IN {self.literals(node.values)}, 1)"
        if isinstance(node, Presence):
            if scope == "spans" and node.field == "error":
                present = HAS_ERROR
            elif scope == "feedback" and node.field == "value":
                present = "(`valueNumber` IS NOT NULL OR `valueString` IS NOT NULL)"
            else:
                present = f"({self.value(scope, node.field)} IS NOT NULL)"
            return present if node.op == "exists" else f"(NOT {present})"
        assert isinstance(node, Collection)  # the root's tags
        tags = self.columns.tags
        if node.op == "notEmpty":
            return f"(length({tags}) > 0)"
        if node.op == "empty":
            return f"(length({tags}) = 0)"
        has = f"has({tags}, {self.p.add(node.value, 'String')})"
        return has if node.op == "includes" else f"(length({tags}) > 0 AND NOT {has})"

    def comparison(self, node: Comparison, scope: str) -> str:
        if node.value is None:  # eq/ne null: (not) missing
            if scope == "feedback" and node.field == "value":
                missing = "(`valueNumber` IS NULL AND `valueString` IS NULL)"
            else:
                missing = f"({self.value(scope, node.field)} IS NULL)"
            return missing if node.op == "eq" else f"(NOT {missing})"
        e = self.value(scope, node.field, node.value)
        v = self.literal(node.kind, node.value)
        sql_op = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[node.op]
        # ne matches a missing value; every other comparison needs one.
        return f"ifNull({e} {sql_op} {v}, {1 if node.op == 'ne' else 0})"


def _decode_json(value: Any) -> Any:
    return None if value in (None, "") else loads(value)


class TraceQueryMixin:
    """The newer span reads of :class:`~.store.ClickHouseStore`.

    The trace query and its suggestions go through three hooks that the v-next layout
    overrides (:mod:`.vnext`): :attr:`span_columns`, :meth:`_query_tables` (where the
    rows of each relation come from) and :meth:`_population` / :meth:`_roots_source`
    (which root rows are the traces).
    """

    span_columns: SpanColumns = CLASSIC_COLUMNS

    if TYPE_CHECKING:
        schema: SchemaOptions

        @property
        def helpers(self) -> bool: ...
        read_settings: dict[str, Any] | None

        def query_rows(self, sql: str, params: dict[str, Any] | None = None,
                       settings: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

        def _fetch(self, sql: str, params: dict[str, Any],
                   settings: dict[str, Any] | None = None) -> list[SpanRecord]: ...

        def _filter_conditions(self, f: TracesFilter, p: Params) -> list[str]: ...

        def _order(self, order_by: TracesOrderBy) -> str: ...

        def _root_conditions(self, p: Params) -> list[str]: ...

        def get_structure(self, trace_id: str) -> Trace | None: ...

    # ------------------------------------------------------------------ light list
    def list_traces_light(self, filters: TracesFilter | None = None, page: int = 0,
                          per_page: int = 10, order_by: TracesOrderBy | None = None
                          ) -> LightTracesPage:
        """Root spans without their heavy payloads (output, attributes are never read)."""
        pagination = Pagination(page, per_page)
        p = Params()
        where = " AND ".join(self._filter_conditions(filters or TracesFilter(), p))
        spans = self.schema.spans
        total = int(self.query_rows(f"SELECT count() FROM {spans} FINAL WHERE {where}",
                                    p.values)[0][0])
        keys: list[tuple[Any, ...]] = []
        if total > pagination.offset:
            keys = self.query_rows(
                f"SELECT `traceId`, `spanId` FROM {spans} FINAL WHERE {where} "
                f"ORDER BY {self._order(order_by or TracesOrderBy())} "
                f"LIMIT {p.add(per_page, 'UInt32')} OFFSET {p.add(pagination.offset, 'UInt32')}",
                p.values)
        rows = self._rows_by_keys(keys, _LIST_LIGHT_SELECT, roots=True)
        items = [LightSpan.of(r, input_preview(r.input)) for r in rows]
        return LightTracesPage(items, total, page, per_page,
                               pagination.offset + len(items) < total)

    def _rows_by_keys(self, keys: Sequence[tuple[Any, ...]], select: str,
                      roots: bool = False) -> list[SpanRecord]:
        """Rows of (traceId, spanId) keys, in the keys' order (by primary key)."""
        if not keys:
            return []
        q = Params()
        conds = [f"`traceId` IN {q.add(sorted({k[0] for k in keys}), 'Array(String)')}",
                 f"`spanId` IN {q.add(sorted({k[1] for k in keys}), 'Array(String)')}"]
        if roots:
            conds += self._root_conditions(q)
        rows = self._fetch(f"SELECT {select} FROM {self.schema.spans} FINAL "
                           f"WHERE {' AND '.join(conds)}", q.values)
        by_key = {r.key: r for r in rows}
        return [by_key[(k[0], k[1])] for k in keys if (k[0], k[1]) in by_key]

    # ------------------------------------------------------------------ span subsets
    def _skeleton(self, trace_id: str) -> list[SpanRecord]:
        """The trace's tree: ids, parents and start times only."""
        rows = self.query_rows(
            f"SELECT `spanId`, `parentSpanId`, `startedAt` FROM {self.schema.spans} FINAL "
            "WHERE `traceId` = {t:String}", {"t": trace_id},
            settings={**(self.read_settings or {}), "use_skip_indexes_if_final": 1})
        return [SpanRecord(trace_id=trace_id, span_id=s, name="", span_type="",
                           parent_span_id=parent or None, started_at=_utc(started))  # type: ignore[arg-type]
                for s, parent, started in rows]

    def get_spans(self, trace_id: str, span_ids: Sequence[str]) -> list[SpanRecord]:
        """The named spans of a trace, in the trace's order (unknown ids skipped)."""
        check_id(trace_id, "trace_id")
        wanted = sorted({check_id(s, "span_id") for s in span_ids})
        if not wanted:
            return []
        rank = {s.span_id: i for i, s in enumerate(order_spans(self._skeleton(trace_id)))}
        rows = self._rows_by_keys([(trace_id, s) for s in wanted], _FULL_SELECT)
        return sorted(rows, key=lambda r: rank.get(r.span_id, len(rank)))

    def get_branch(self, trace_id: str, span_id: str, depth: int | None = None
                   ) -> Trace | None:
        """A span and its descendants down to ``depth`` levels: the tree from the ids
        only, then the full rows of just the branch."""
        check_id(trace_id, "trace_id")
        check_id(span_id, "span_id")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                                  or depth < 0):
            raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
        skeleton = self._skeleton(trace_id)
        if not any(s.span_id == span_id for s in skeleton):
            return None
        ids = branch_ids(skeleton, span_id, depth)
        rows = {r.span_id: r for r in self._rows_by_keys([(trace_id, s) for s in ids],
                                                         _FULL_SELECT)}
        anchor = rows.pop(span_id, None)
        if anchor is None:
            return None
        return Trace(trace_id, [anchor, *order_spans(list(rows.values()))])

    # ------------------------------------------------------------------ branches
    def _span_conditions(self, f: TracesFilter, p: Params) -> list[str]:
        """The trace-list filters applied to any span (not only roots), as branch listing
        applies them (``has_child_error`` does not apply to a branch)."""
        conds = span_filters(f, p, _COLUMN_NAMES)
        conds += [json_array_has("tags", tag, p) for tag in f.tags or ()]
        conds += [json_key_equals("metadata", k, v, p) for k, v in (f.metadata or {}).items()]
        conds += [json_key_equals("scope", k, v, p) for k, v in (f.scope or {}).items()]
        return conds

    def list_branches(self, filters: TracesFilter | None = None, page: int = 0,
                      per_page: int = 10, order_by: TracesOrderBy | None = None) -> TracesPage:
        pagination = Pagination(page, per_page)
        p = Params()
        f = replace(filters or TracesFilter(), has_child_error=None)
        conds = [f"`spanType` IN {p.add(sorted(BRANCH_TYPES), 'Array(String)')}",
                 *self._span_conditions(f, p)]
        where = " AND ".join(conds)
        spans = self.schema.spans
        total = int(self.query_rows(f"SELECT count() FROM {spans} FINAL WHERE {where}",
                                    p.values)[0][0])
        keys: list[tuple[Any, ...]] = []
        if total > pagination.offset:
            o = order_by or TracesOrderBy()
            d = o.direction
            if o.field == "startedAt":
                order = f"`startedAt` {d}, `traceId` {d}, `spanId` {d}"
            else:
                nulls = "NULLS FIRST" if d == "DESC" else "NULLS LAST"
                order = f"`endedAt` {d} {nulls}, `startedAt` {d}, `traceId` {d}, `spanId` {d}"
            keys = self.query_rows(
                f"SELECT `traceId`, `spanId` FROM {spans} FINAL WHERE {where} ORDER BY {order} "
                f"LIMIT {p.add(per_page, 'UInt32')} OFFSET {p.add(pagination.offset, 'UInt32')}",
                p.values)
        rows = self._rows_by_keys(keys, _FULL_SELECT)
        return TracesPage(rows, total, page, per_page, pagination.offset + len(rows) < total)

    # ------------------------------------------------------------------ trace query
    def _query_tables(self) -> dict[str, str]:
        """The FROM clause of each relation's rows (de-duplicated)."""
        return {"spans": f"{self.schema.spans} FINAL",
                **{s: f"{signal_ddl.qualified(s, self.schema)} FINAL"
                   for s in ("scores", "feedback")}}

    def _roots_source(self) -> str:
        """The FROM clause the population's root rows are read from."""
        return f"{self.schema.spans} FINAL"

    def _population(self, start: datetime, end: datetime, p: Params) -> list[str]:
        """Ended root spans with ``start <= startedAt < end``."""
        conds = [ROOT, "`endedAt` IS NOT NULL", f"`startedAt` >= {p.ts(start)}",
                 f"`startedAt` < {p.ts(end)}"]
        if self.helpers:  # the same bounds on the ordering key, for the primary index
            conds += [f"`{HELPER_IS_CHILD}` = false",
                      f"`{HELPER_ROOT_STARTED}` >= {p.ts(start)}",
                      f"`{HELPER_ROOT_STARTED}` < {p.ts(end)}"]
        return conds

    def query_traces(self, query: TraceQuery) -> TraceQueryResult:
        """One statement: population, predicate, cursor, order, page (and, in page mode,
        the total as a window count over the same rows)."""
        p = Params()
        conds = self._population(query.time_from, query.time_to, p)
        if query.where is not None:
            conds.append(_Compiler(p, self._query_tables(), self.span_columns)
                         .node(query.where, "trace"))
        field = quote_ident(query.order_field)
        desc = query.order_direction == "desc"
        if query.mode == "keyset" and query.cursor is not None:
            value, trace_id = query.cursor
            v, t = p.ts(value), p.add(trace_id, "String")
            conds.append(f"({field} {'<' if desc else '>'} {v} OR "
                         f"({field} = {v} AND `traceId` > {t}))")
        select = (f"`traceId`, `spanId`, `name`, `entityId`, `parentSpanId`, "
                  f"{quote_ident(self.span_columns.metadata)}, "
                  "`input`, `threadId`, `resourceId`, `startedAt`, `endedAt`, `entityName`, "
                  f"`entityType`, `environment`, {HAS_ERROR}")
        if query.mode == "page":
            select += ", count() OVER ()"
            limit = (f"LIMIT {p.add(query.per_page, 'UInt32')} "
                     f"OFFSET {p.add(query.page * query.per_page, 'UInt32')}")
        else:
            limit = f"LIMIT {p.add(query.limit + 1, 'UInt32')}"
        where = " AND ".join(conds)
        sql = (f"SELECT {select} FROM {self._roots_source()} WHERE {where} "
               f"ORDER BY {field} {'DESC' if desc else 'ASC'}, `traceId` ASC {limit}")
        rows = self.query_rows(sql, p.values)
        out = [self._trace_row(r) for r in rows]
        if query.mode == "page":
            if rows:
                total = int(rows[0][-1])
            else:
                total = int(self.query_rows(
                    f"SELECT count() FROM {self._roots_source()} WHERE {where}",
                    p.values)[0][0])
            return TraceQueryResult(out, total=total)
        next_cursor = None
        if len(out) > query.limit:
            out = out[:query.limit]
            last = out[-1]
            sort_value = last.started_at if query.order_field == "startedAt" else last.ended_at
            next_cursor = encode_cursor(query.binding, sort_value, last.trace_id)
        return TraceQueryResult(out, next_cursor=next_cursor)

    @staticmethod
    def _trace_row(row: Sequence[Any]) -> TraceRow:
        (trace_id, span_id, name, entity_id, parent, metadata, raw_input, thread_id,
         resource_id, started, ended, entity_name, entity_type, environment, error) = row[:15]
        started_at = _utc(started)
        assert started_at is not None
        return TraceRow(
            trace_id=trace_id, root_span_id=span_id, name=name, entity_id=entity_id,
            parent_span_id=parent or None, created_at=started_at,
            metadata=_decode_json(metadata), input_preview=input_preview(_decode_json(raw_input)),
            thread_id=thread_id, resource_id=resource_id, started_at=started_at,
            ended_at=_utc(ended), entity_name=entity_name, entity_type=entity_type,  # type: ignore[arg-type]
            environment=environment, status="error" if error else "success")

    # ------------------------------------------------------------------ suggestions
    def trace_query_fields(self, request: SuggestionRequest) -> FieldSuggestions:
        """Top-level text-valued metadata keys of the population's roots (trace scope)."""
        if request.scope != "trace":
            return FieldSuggestions()
        p = Params()
        pop = " AND ".join(self._population(request.time_from, request.time_to, p))
        non_blank = p.add(_NON_BLANK, "String")
        key_ok = (f"k != '' AND position(k, '.') = 0 AND JSONType(m, k) = 'String' AND "
                  f"match(JSONExtractString(m, k), {non_blank}) AND length(k) <= 119 AND "
                  "length(JSONExtractString(m, k)) <= 4096")
        search = ""
        if request.search:
            needle = p.add(request.search, "String")
            search = f"WHERE positionCaseInsensitiveUTF8(path, {needle}) > 0 "
        rows = self.query_rows(
            "SELECT path, count() AS n FROM ("
            "SELECT concat('metadata.', arrayJoin(arrayDistinct(arrayFilter("
            f"k -> {key_ok}, JSONExtractKeys(m))))) AS path "
            f"FROM (SELECT ifNull({quote_ident(self.span_columns.metadata)}, '') AS m "
            f"FROM {self._roots_source()} "
            f"WHERE {pop})) {search}GROUP BY path ORDER BY n DESC, path "
            f"LIMIT {p.add(request.limit + 1, 'UInt32')}", p.values)
        fields = [ObservedField(path, int(n)) for path, n in rows]
        return FieldSuggestions(fields[:request.limit], len(fields) > request.limit)

    def trace_query_values(self, request: SuggestionRequest) -> ValueSuggestions:
        """Distinct values of a field over the population (trace scope: the roots; other
        scopes: their rows of the population's traces), most frequent first."""
        assert request.path is not None
        p = Params()
        pop = " AND ".join(self._population(request.time_from, request.time_to, p))
        roots = self._roots_source()
        compiler = _Compiler(p, self._query_tables(), self.span_columns)
        if request.scope == "trace":
            if request.path == "tags":
                expr = ("arrayJoin(arrayDistinct(arrayFilter(x -> x IS NOT NULL, "
                        f"{self.span_columns.tags})))")
            else:
                expr = compiler.value("trace", request.path)
            source = f"SELECT CAST({expr} AS Nullable(String)) AS v FROM {roots} WHERE {pop}"
        else:
            table = self._query_tables()[request.scope]
            expr = compiler.value(request.scope, request.path)
            source = (f"SELECT CAST({expr} AS Nullable(String)) AS v FROM {table} "
                      f"WHERE `traceId` IN (SELECT `traceId` FROM {roots} WHERE {pop})")
        conds = ["v IS NOT NULL", "length(v) <= 4096"]
        if request.search:
            conds.append(f"positionCaseInsensitiveUTF8(v, {p.add(request.search, 'String')}) > 0")
        rows = self.query_rows(
            f"SELECT v, count() AS n FROM ({source}) WHERE {' AND '.join(conds)} "
            f"GROUP BY v ORDER BY n DESC, v LIMIT {p.add(request.limit + 1, 'UInt32')}",
            p.values)
        values = [(v, int(n)) for v, n in rows]
        return ValueSuggestions(values[:request.limit], len(values) > request.limit)


__all__ = ["CLASSIC_COLUMNS", "SpanColumns", "TraceQueryMixin"]
