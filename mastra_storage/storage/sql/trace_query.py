"""The trace query (Mastra Studio's ``where`` grammar) compiled to ONE SQL statement, and
its field and value suggestions.

The plan (:class:`~mastra_storage.storage.trace_query.TraceQuery`) has already been
checked against Mastra's grammar and limits; here each node becomes a SQL condition with
exactly the semantics of ``trace_query.evaluate`` (the in-memory reference):

* every condition is two-valued (never NULL), so ``not`` negates exactly: ``eq`` is
  null-safe, ``ne`` and ``notIn`` match a missing value, ordered comparisons and ``in``
  need one;
* ``metadata.<key>`` reads the root's top-level member ``key`` (a bound parameter, never a
  JSON path) when it is a non-blank string; span ``model``/``provider`` read
  ``attributes`` the same way;
* relations are ``[NOT] EXISTS`` subqueries on the trace's spans, scores or feedback;
* ``durationMs`` is computed from exact epoch milliseconds with the same double arithmetic
  as Python's ``timedelta.total_seconds() * 1000``.

Every literal is a bound parameter. Keyset pages fetch ``limit + 1`` rows ordered by the
sort field and ``traceId``; the cursor is the last row's (sort value, traceId).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...model.spans import COLUMN_BY_ATTR, COLUMNS
from ..memory import trace_row
from ..queries import Pagination
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
    ValueSuggestions,
    encode_cursor,
)
from .parts import StoreParts

Cond = sa.ColumnElement[bool]
MAX_VALUE_BYTES = 4096
MAX_PATH_BYTES = 128
# The root columns a result row is built from (``memory.trace_row``).
_ROW_ATTRS = ("trace_id", "span_id", "name", "span_type", "started_at", "entity_id",
              "parent_span_id", "metadata", "input", "thread_id", "resource_id", "ended_at",
              "entity_name", "entity_type", "environment", "error")


class _Scope:
    """How the fields of one scope (trace/spans/scores/feedback) read from one alias."""

    def __init__(self, compiler: _Compiler, scope: str, alias: Any) -> None:
        self.compiler = compiler
        self.scope = scope
        self.alias = alias
        self.signal = scope in ("scores", "feedback")

    def column(self, attr: str) -> sa.ColumnElement[Any]:
        if self.signal:
            codec = self.compiler.store.signals[self.scope]
            return self.alias.c[codec.attr_to_name[attr]]  # type: ignore[no-any-return]
        return self.alias.c[COLUMN_BY_ATTR[attr].name]  # type: ignore[no-any-return]

    def field(self, path: str, literal: Any = None) -> sa.ColumnElement[Any]:
        """The SQL value of ``path`` (``literal`` picks feedback's number or text)."""
        d = self.compiler.store.dialect
        a = self.alias
        if self.scope == "trace" and path.startswith(METADATA_PREFIX):
            return d.json_member(a.c.metadata, path[len(METADATA_PREFIX):], non_blank=True)
        if self.scope in ("trace", "spans"):
            if path == "status":
                return sa.case((a.c.error.is_not(None), "error"), else_="success")
            if path == "durationMs":
                diff = d.epoch_ms(a.c.endedAt) - d.epoch_ms(a.c.startedAt)
                return (sa.cast(diff * 1000, sa.Float()) / sa.literal(1_000_000.0, sa.Float())
                        * sa.literal(1000.0, sa.Float()))
            if path in ("model", "provider"):
                return d.json_member(a.c.attributes, path, text_only=True)
            if path == "error":
                return a.c.error  # type: ignore[no-any-return]
        if self.scope == "feedback" and path == "value":
            if isinstance(literal, str):
                return a.c.valueString  # type: ignore[no-any-return]
            if isinstance(literal, float):
                return a.c.valueNumber  # type: ignore[no-any-return]
            # no literal (eq/ne null): the number if there is one, else the text
            raise AssertionError("feedback value without a literal is handled by the caller")
        return self.column(FIELD_ATTRS[path])

    def param(self, path: str, value: Any) -> Any:
        """A literal as the bound value the column compares with."""
        if isinstance(value, datetime):
            d = self.compiler.store.dialect
            return (d.signal_timestamp_param(value) if self.signal
                    else d.timestamp_param(value))
        return value


def _computed(path: str) -> bool:
    """A field read through a JSON lookup (a subquery in some dialects)."""
    return path.startswith(METADATA_PREFIX) or path in ("model", "provider")


def _when(cond: Cond, then: int = 1) -> Cond:
    """``cond`` as a two-valued condition (UNKNOWN counts as false; ``then=0``: negated
    with UNKNOWN as true), evaluating its operands once."""
    return sa.case((cond, then), else_=1 - then) == 1


def _compare(op: str, expr: sa.ColumnElement[Any], value: Any, computed: bool) -> Cond:
    if value is None:  # eq/ne null: presence
        return expr.is_(None) if op == "eq" else expr.is_not(None)
    cmp = {"eq": expr == value, "ne": expr == value, "lt": expr < value,
           "lte": expr <= value, "gt": expr > value, "gte": expr >= value}[op]
    if computed:
        return _when(cmp, 0 if op == "ne" else 1)
    if op == "ne":  # a missing value is "not equal"
        return sa.or_(expr.is_(None), expr != value)
    return sa.and_(expr.is_not(None), cmp)


def _member(op: str, expr: sa.ColumnElement[Any], values: list[Any], computed: bool) -> Cond:
    if computed:
        return _when(expr.in_(values), 1 if op == "in" else 0)
    if op == "in":
        return sa.and_(expr.is_not(None), expr.in_(values))
    return sa.or_(expr.is_(None), expr.not_in(values))


class _Compiler:
    def __init__(self, store: TraceQueryMixin) -> None:
        self.store = store
        self._names = itertools.count()

    def compile(self, node: Node, scope: _Scope) -> Cond:
        d = self.store.dialect
        if isinstance(node, BoolOp):
            parts = [self.compile(a, scope) for a in node.args]
            return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
        if isinstance(node, Not):
            return sa.not_(self.compile(node.arg, scope))
        if isinstance(node, Relation):
            return self.relation(node, scope)
        if isinstance(node, Comparison):
            if scope.scope == "feedback" and node.field == "value" and node.value is None:
                a = scope.alias
                present = sa.or_(a.c.valueNumber.is_not(None), a.c.valueString.is_not(None))
                return sa.not_(present) if node.op == "eq" else present
            expr = scope.field(node.field, node.value)
            return _compare(node.op, expr, scope.param(node.field, node.value),
                            _computed(node.field))
        if isinstance(node, Membership):
            expr = scope.field(node.field, node.values[0])
            values = [scope.param(node.field, v) for v in node.values]
            return _member(node.op, expr, values, _computed(node.field))
        if isinstance(node, Presence):
            if scope.scope == "feedback" and node.field == "value":
                a = scope.alias
                present = sa.or_(a.c.valueNumber.is_not(None), a.c.valueString.is_not(None))
            else:
                present = scope.field(node.field).is_not(None)
            return present if node.op == "exists" else sa.not_(present)
        assert isinstance(node, Collection)  # the root's tags
        tags = scope.alias.c.tags
        nonempty = d.json_array_nonempty(tags)
        if node.op in ("notEmpty", "empty"):
            return nonempty if node.op == "notEmpty" else sa.not_(nonempty)
        assert node.value is not None
        has = sa.and_(tags.is_not(None), d.json_array_contains(tags, node.value))
        return has if node.op == "includes" else sa.and_(nonempty, sa.not_(has))

    def relation(self, node: Relation, outer: _Scope) -> Cond:
        name = f"rel_{node.collection}_{next(self._names)}"
        if node.collection == "spans":
            alias = self.store._spans().alias(name)
        else:
            alias = self.store._signal(node.collection, "trace queries").table.alias(name)
        inner = _Scope(self, node.collection, alias)
        cond = self.compile(node.predicate, inner)
        exists = sa.exists(sa.select(sa.literal_column("1")).select_from(alias).where(
            alias.c.traceId == outer.alias.c.traceId, cond))
        return exists if node.quantifier == "some" else sa.not_(exists)


class TraceQueryMixin(StoreParts):
    """``query_traces``, ``trace_query_fields``, ``trace_query_values``."""

    def _spans(self) -> Any:
        """The spans as ``mastra_ai_spans`` rows: the table itself here; a layout that
        stores spans otherwise (PostgreSQL v-next: start and end events) returns a view
        with the same columns and one current row per span."""
        return self.table

    def _population(self, start: datetime, end: datetime) -> list[Cond]:
        """Ended root spans with ``start <= startedAt < end`` (Mastra's population)."""
        r = self._spans()
        d = self.dialect
        return [r.c.parentSpanId.is_(None), r.c.endedAt.is_not(None),
                r.c.startedAt >= d.timestamp_param(start), r.c.startedAt < d.timestamp_param(end)]

    def _where(self, query: TraceQuery) -> list[Cond]:
        conds = self._population(query.time_from, query.time_to)
        if query.where is not None:
            compiler = _Compiler(self)
            conds.append(compiler.compile(query.where, _Scope(compiler, "trace", self._spans())))
        return conds

    def query_traces(self, query: TraceQuery) -> TraceQueryResult:
        if not self._check_signal_tables():
            raise self._unsupported("trace queries")
        return self.dialect.tolerant(lambda: self._query_traces(query))

    def _query_traces(self, query: TraceQuery) -> TraceQueryResult:
        r = self._spans()
        d = self.dialect
        conds = self._where(query)
        col = r.c.startedAt if query.order_field == "startedAt" else r.c.endedAt
        desc = query.order_direction == "desc"
        ordering = [col.desc() if desc else col.asc(), r.c.traceId.asc()]
        cols = [d.read_column(r, COLUMN_BY_ATTR[a]) for a in _ROW_ATTRS]
        if query.mode == "page":
            with self.engine.connect() as conn:
                offset = query.page * query.per_page
                rows = conn.execute(sa.select(*cols).where(*conds).order_by(*ordering)
                                    .limit(query.per_page).offset(offset)).mappings().all()
                # A page that is not full tells the total; otherwise count.
                total = Pagination(query.page, query.per_page).total_from_page(len(rows))
                if total is None:
                    total = int(conn.execute(sa.select(sa.func.count()).select_from(r)
                                             .where(*conds)).scalar_one())
            return TraceQueryResult([trace_row(d.decode(dict(x))) for x in rows], total=total)
        if query.cursor is not None:
            value, trace_id = query.cursor
            v = d.timestamp_param(value)
            conds.append(sa.or_(col < v if desc else col > v,
                                sa.and_(col == v, r.c.traceId > trace_id)))
        stmt = sa.select(*cols).where(*conds).order_by(*ordering).limit(query.limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        spans = [d.decode(dict(x)) for x in rows]
        page, more = spans[: query.limit], len(spans) > query.limit
        next_cursor = None
        if more:
            last = page[-1]
            sort_value = last.started_at if query.order_field == "startedAt" else last.ended_at
            assert sort_value is not None
            next_cursor = encode_cursor(query.binding, sort_value, last.trace_id)
        return TraceQueryResult([trace_row(s) for s in page], next_cursor=next_cursor)

    # ------------------------------------------------------------------ suggestions
    def trace_query_fields(self, request: SuggestionRequest) -> FieldSuggestions:
        """Top-level metadata keys holding a non-blank string among the population's roots,
        with the number of roots having each."""
        return self.dialect.tolerant(lambda: self._trace_query_fields(request))

    def _trace_query_fields(self, request: SuggestionRequest) -> FieldSuggestions:
        if request.scope != "trace":
            return FieldSuggestions()
        d = self.dialect
        r = self._spans()
        each, key, text = d.json_members(r.c.metadata, "mf")
        inner = sa.select(key.label("k")).select_from(d.join_each(r, each)).where(
            *self._population(request.time_from, request.time_to), text.is_not(None),
            d.not_blank(text), d.byte_length(text) <= MAX_VALUE_BYTES).subquery("keys")
        stmt = sa.select(inner.c.k, sa.func.count()).group_by(inner.c.k)
        with self.engine.connect() as conn:
            counts = {k: int(n) for k, n in conn.execute(stmt)}
        found = []
        for k, n in counts.items():
            if not isinstance(k, str) or not k or "." in k:
                continue
            path = f"{METADATA_PREFIX}{k}"
            if len(path.encode()) > MAX_PATH_BYTES:
                continue
            if request.search and request.search.lower() not in path.lower():
                continue
            found.append((path, n))
        found.sort(key=lambda kv: (-kv[1], kv[0].encode()))
        return FieldSuggestions([ObservedField(p, n) for p, n in found[: request.limit]],
                                len(found) > request.limit)

    def trace_query_values(self, request: SuggestionRequest) -> ValueSuggestions:
        """Distinct values of a field over the population (trace scope) or over the
        population's spans/scores/feedback, with their counts."""
        return self.dialect.tolerant(lambda: self._trace_query_values(request))

    def _trace_query_values(self, request: SuggestionRequest) -> ValueSuggestions:
        assert request.path is not None
        d = self.dialect
        r = self._spans()
        population = self._population(request.time_from, request.time_to)
        compiler = _Compiler(self)
        if request.scope == "trace" and request.path == "tags":
            each, elem = d.json_string_elements(r.c.tags, "tv")
            inner = sa.select(r.c.traceId, r.c.spanId, elem.label("v")).select_from(
                d.join_each(r, each)).where(*population, elem.is_not(None)).distinct() \
                .subquery("vals")
        elif request.scope == "trace":
            value = _Scope(compiler, "trace", r).field(request.path)
            inner = sa.select(value.label("v")).where(*population).subquery("vals")
        else:
            if request.scope == "spans":
                alias = self._spans().alias("rel")
            else:
                alias = self._signal(request.scope, "trace query discovery").table.alias("rel")
            value = _Scope(compiler, request.scope, alias).field(request.path)
            roots = sa.select(r.c.traceId).where(*population)
            inner = sa.select(value.label("v")).select_from(alias).where(
                alias.c.traceId.in_(roots)).subquery("vals")
        stmt = sa.select(inner.c.v, sa.func.count()).where(inner.c.v.is_not(None)) \
            .group_by(inner.c.v)
        with self.engine.connect() as conn:
            pairs = [(v, int(n)) for v, n in conn.execute(stmt)]
        return value_suggestions(pairs, request)


def value_suggestions(pairs: Iterable[tuple[Any, int]],
                      request: SuggestionRequest) -> ValueSuggestions:
    """``memory.value_suggestions`` over (value, count) pairs counted by the database."""
    counts: dict[str, int] = {}
    for value, n in pairs:
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text.encode("utf-8", "replace")) > MAX_VALUE_BYTES:
            continue
        if request.search and request.search.lower() not in text.lower():
            continue
        counts[text] = counts.get(text, 0) + n
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8", "replace")))
    return ValueSuggestions(ordered[: request.limit], len(ordered) > request.limit)


assert {a for a in _ROW_ATTRS} <= {c.attr for c in COLUMNS}

__all__ = ["TraceQueryMixin", "value_suggestions"]
