"""The newer span reads on MongoDB: branch lists, the trace query and its suggestions.

**Trace query.** The population (ended root spans with ``from <= startedAt < to``) is a
server-side ``$match`` on indexed fields (``parentSpanId``, ``startedAt``). The
``where`` predicate is then *pushed down* as far as it translates exactly to a match
document (:func:`pushdown`): equality, membership and presence on the root's text
columns, ``status``, ``tags``, ``metadata.<key>``, time comparisons, and any
``and``/``or``/``not`` of those. Every literal stays a value under an explicit operator
(``$eq``, ``$in``, ``$elemMatch``...) or inside ``$literal``; metadata keys are read with
``$getField`` of a ``$literal`` name: no ``$where``, no path or operator from the request.

* When the whole predicate translates, the server also sorts (``field``, ``traceId``,
  ``_id``), applies the keyset cursor, skips and limits, and counts — nothing else is
  read.
* Otherwise (relations ``spans``/``scores``/``feedback`` ``some``/``none``,
  ``durationMs``, metadata presence), the pushed-down part still filters on the server
  and the rest is decided in Python by the reference evaluator
  (:func:`..trace_query.evaluate`): candidate roots stream from a server-sorted cursor
  in chunks of :data:`CHUNK` roots (payloads left out); for each chunk the related spans,
  scores and feedback of its traces are fetched in one ``$in`` query per collection,
  projected to the fields the predicate names. Client memory is bounded by one chunk:
  ``CHUNK`` roots plus their related rows (those few fields), and the page kept so far
  (``limit + 1`` rows, or ``perPage`` rows and a count). A keyset page stops reading at
  ``limit + 1`` matches; a numbered page reads the whole population to count it.

The input previews of the rows returned are computed from the roots' ``input``, fetched
for those rows only.

**Suggestions.** Value suggestions are ``$group`` counts on the server (over the
population, or over the related rows of its traces joined with ``$lookup``), finished in
Python with the reference rules (text form, size, search, order) on the distinct values;
observed metadata fields stream the roots' ``metadata`` through the reference
``observed_fields``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...model.signals import SIGNAL_TABLES
from ...model.spans import SpanRecord
from ...model.time import format_iso
from ..memory import observed_fields, query_result, suggestion_values, trace_row
from ..queries import (
    BRANCH_SPAN_TYPES,
    Pagination,
    TracesFilter,
    TracesOrderBy,
    TracesPage,
)
from ..trace_query import (
    METADATA_PREFIX,
    BoolOp,
    Collection,
    Comparison,
    FieldSuggestions,
    Membership,
    Node,
    Not,
    Presence,
    Relation,
    SuggestionRequest,
    TraceQuery,
    TraceQueryResult,
    ValueSuggestions,
    evaluate,
)
from .query import NOTHING, ROOT, root_filter
from .signals import decode_signal

if TYPE_CHECKING:
    from .store import MongoDBStore

# Candidate roots evaluated per batch, with their related rows (one `$in` of this many
# trace ids per related collection: secantusdb's `$in` cost grows faster than linearly,
# 0.18 s for 200 ids and 6.2 s for 1,000 on 15,000 spans).
CHUNK = 200
RANK = "_mastraRank"

# Trace-scope paths stored as a plain text column of the root span.
_ROOT_TEXT = ("traceId", "threadId", "resourceId", "entityName", "entityType", "environment")
_TIMES = ("startedAt", "endedAt")
# What a trace query reads of a candidate root (its payloads are left out).
_ROOT_FIELDS = ("traceId", "spanId", "name", "entityId", "parentSpanId", "startedAt",
                "endedAt", "metadata", "threadId", "resourceId", "entityName", "entityType",
                "environment", "error", "tags")
_ROOT_PROJECTION = dict.fromkeys(_ROOT_FIELDS, 1)
_ALWAYS: dict[str, Any] = {}  # a condition every document meets


# ---------------------------------------------------------------------------- helpers

def time_cond(field: str, bounds: dict[str, datetime]) -> dict[str, Any]:
    """``field`` within ``bounds`` whether stored as a BSON date or ISO-8601 text (a
    comparison only ever matches values of its own BSON type)."""
    return {"$or": [{field: dict(bounds)},
                    {field: {op: format_iso(v) for op, v in bounds.items()}}]}


def population(start: datetime, end: datetime) -> dict[str, Any]:
    """Ended root spans with ``start <= startedAt < end``."""
    return {"$and": [ROOT, {"endedAt": {"$ne": None}},
                     time_cond("startedAt", {"$gte": start, "$lt": end})]}


def _and(conds: list[dict[str, Any]]) -> dict[str, Any]:
    conds = [c for c in conds if c != _ALWAYS]
    if not conds:
        return _ALWAYS
    return conds[0] if len(conds) == 1 else {"$and": conds}


def _not(cond: dict[str, Any]) -> dict[str, Any]:
    return NOTHING if cond == _ALWAYS else {"$nor": [cond]}


def _status(error: bool) -> dict[str, Any]:
    return {"error": {"$ne": None}} if error else {"error": None}


# ---------------------------------------------------------------------------- pushdown

def pushdown(node: Node) -> tuple[dict[str, Any] | None, bool]:
    """(condition, exact) for a trace-scope predicate: every root that satisfies
    ``node`` meets the condition (``None``: no condition); ``exact`` when the converse
    holds too, so the server's answer is final."""
    if isinstance(node, BoolOp):
        parts = [pushdown(a) for a in node.args]
        exact = all(e for _, e in parts)
        conds = [c for c, _ in parts if c is not None]
        if node.op == "and":
            return (_and(conds) if conds else None), exact
        if len(conds) < len(parts):  # a branch without a condition: anything may match
            return None, False
        if _ALWAYS in conds:
            return _ALWAYS, exact
        return {"$or": conds}, exact
    if isinstance(node, Not):
        cond, exact = pushdown(node.arg)
        return (_not(cond), True) if cond is not None and exact else (None, False)
    if isinstance(node, Comparison):
        if node.op in ("eq", "ne"):
            cond = _equals(node.field, node.value)
            if cond is None:
                return None, False
            return (cond if node.op == "eq" else _not(cond)), True
        if node.field in _TIMES and isinstance(node.value, datetime):
            op = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}[node.op]
            return time_cond(node.field, {op: node.value}), True
        return None, False
    if isinstance(node, Membership):
        if node.field in _ROOT_TEXT:
            op = "$in" if node.op == "in" else "$nin"
            return {node.field: {op: list(node.values)}}, True
        conds = []
        for value in node.values:
            cond = _equals(node.field, value)
            if cond is None:
                return None, False
            conds.append(cond)
        any_of = {"$or": conds}
        return (any_of if node.op == "in" else _not(any_of)), True
    if isinstance(node, Presence):
        if node.field in _ROOT_TEXT:
            present = {node.field: {"$ne": None}}
        elif node.field in (*_TIMES, "status"):
            present = _ALWAYS  # always set on an ended root
        else:
            return None, False
        return (present if node.op == "exists" else _not(present)), True
    if isinstance(node, Collection):
        non_empty = {"$gt": [{"$size": "$tags"}, 0]}
        if node.op == "includes":
            return {"tags": {"$elemMatch": {"$eq": node.value}}}, True
        if node.op == "notIncludes":
            cond = {"$and": [non_empty,
                             {"$not": [{"$in": [{"$literal": node.value}, "$tags"]}]}]}
        else:
            cond = non_empty
        has = {"$expr": {"$cond": [{"$isArray": "$tags"}, cond, False]}}
        return (_not(has) if node.op == "empty" else has), True
    return None, False  # Relation: decided in Python


def _equals(field: str, value: Any) -> dict[str, Any] | None:
    """The exact condition for ``field == value`` (null-safe), or None."""
    if field in _ROOT_TEXT:
        return {field: None} if value is None else (
            {field: {"$eq": value}} if isinstance(value, str) else None)
    if field == "status":
        if value in ("error", "success"):
            return _status(value == "error")
        return NOTHING if value is None or isinstance(value, str) else None
    if field in _TIMES:
        if value is None:
            return NOTHING  # never null on an ended root
        return time_cond(field, {"$eq": value}) if isinstance(value, datetime) else None
    if field.startswith(METADATA_PREFIX) and isinstance(value, str) and value.strip():
        # The stored value equals a non-blank text exactly when the field's value does.
        key = field[len(METADATA_PREFIX):]
        if "\x00" in key:
            return NOTHING  # stored keys never hold NUL
        got = {"$getField": {"field": {"$literal": key}, "input": "$metadata"}}
        return {"$expr": {"$and": [{"$eq": [{"$type": "$metadata"}, "object"]},
                                   {"$eq": [got, {"$literal": value}]}]}}
    return None


# ---------------------------------------------------------------------------- related rows

_SPAN_FIELDS: dict[str, tuple[str, ...]] = {
    "status": ("error",), "durationMs": ("startedAt", "endedAt"),
    "model": ("attributes.model",), "provider": ("attributes.provider",),
}
_FEEDBACK_FIELDS: dict[str, tuple[str, ...]] = {"value": ("valueNumber", "valueString")}


def stored_fields(collection: str, path: str) -> tuple[str, ...]:
    """The document fields the value of ``path`` is computed from."""
    table = _SPAN_FIELDS if collection == "spans" else (
        _FEEDBACK_FIELDS if collection == "feedback" else {})
    return table.get(path, (path,))


def _fields(node: Node, out: set[str]) -> None:
    if isinstance(node, BoolOp):
        for arg in node.args:
            _fields(arg, out)
    elif isinstance(node, Not):
        _fields(node.arg, out)
    elif isinstance(node, (Comparison, Membership, Presence, Collection)):
        out.add(node.field)


def relation_needs(node: Node | None) -> dict[str, set[str]]:
    """Per related collection named by ``node``'s relations: the paths its predicates read."""
    needs: dict[str, set[str]] = {}

    def walk(n: Node) -> None:
        if isinstance(n, BoolOp):
            for arg in n.args:
                walk(arg)
        elif isinstance(n, Not):
            walk(n.arg)
        elif isinstance(n, Relation):
            _fields(n.predicate, needs.setdefault(n.collection, set()))

    if node is not None:
        walk(node)
    return needs


def fetch_related(store: MongoDBStore, needs: dict[str, set[str]], trace_ids: list[str]
                  ) -> dict[str, dict[str, list[Any]]]:
    """The related rows of ``trace_ids`` per collection and trace, projected to ``needs``."""
    out: dict[str, dict[str, list[Any]]] = {}
    for collection, paths in needs.items():
        projection = {"_id": 0, "traceId": 1}
        for path in paths:
            projection.update(dict.fromkeys(stored_fields(collection, path), 1))
        by_trace: dict[str, list[Any]] = {}
        match = {"traceId": {"$in": trace_ids}}
        if collection == "spans":
            for doc in store._raw.find(match, projection):
                span = store.codec.decode(doc)
                by_trace.setdefault(span.trace_id, []).append(span)
        else:
            table = SIGNAL_TABLES[collection]
            for doc in store.signal_collection(collection, raw=True).find(match, projection):
                row = decode_signal(table, doc)
                by_trace.setdefault(row.trace_id, []).append(row)
        out[collection] = by_trace
    return out


def _chunks(docs: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------------------- branches

def span_conditions(f: TracesFilter, store: MongoDBStore) -> list[dict[str, Any]]:
    """The trace-list filter's conditions applied to any span (the root condition of
    :func:`.query.root_filter` left out)."""
    match = root_filter(f, store.codec)
    conds = list(match["$and"]) if "$and" in match else [match]
    assert conds[0] == ROOT, "root_filter must start with the root condition"
    return conds[1:]


def _branch_sort(order_by: TracesOrderBy) -> list[dict[str, Any]]:
    """The reference order (:func:`..memory.sort_roots`): ties keep insertion order."""
    d = -1 if order_by.direction == "DESC" else 1
    if order_by.field == "startedAt":
        return [{"$sort": {"startedAt": d, "traceId": d, "_id": 1}}]
    running, ended = (0, 1) if d == -1 else (1, 0)  # running first for DESC
    return [{"$addFields": {RANK: {"$cond": [
                {"$eq": [{"$ifNull": ["$endedAt", None]}, None]}, running, ended]}}},
            {"$sort": {RANK: 1, "endedAt": d, "startedAt": d, "traceId": d, "_id": 1}},
            {"$project": {RANK: 0}}]


def list_branches(store: MongoDBStore, filters: TracesFilter | None, page: int, per_page: int,
                  order_by: TracesOrderBy | None) -> TracesPage:
    pagination = Pagination(page, per_page)
    f = replace(filters or TracesFilter(), has_child_error=None)
    match = _and([*span_conditions(f, store),
                  {"spanType": {"$in": list(BRANCH_SPAN_TYPES)}}])
    total = store._spans.count_documents(match)
    spans: list[SpanRecord] = []
    if pagination.offset < total:
        stages = [{"$match": match}, *_branch_sort(order_by or TracesOrderBy()),
                  {"$skip": pagination.offset}, {"$limit": per_page}]
        spans = [store.codec.decode(d) for d in store._raw.aggregate(stages, allowDiskUse=True)]
    return TracesPage(spans, total, page, per_page, pagination.offset + len(spans) < total)


# ---------------------------------------------------------------------------- trace query

def _cursor_cond(field: str, desc: bool, value: datetime, trace_id: str) -> dict[str, Any]:
    beyond = "$lt" if desc else "$gt"
    return {"$or": [time_cond(field, {beyond: value}),
                    {"$and": [time_cond(field, {"$eq": value}),
                              {"traceId": {"$gt": trace_id}}]}]}


def query_traces(store: MongoDBStore, query: TraceQuery) -> TraceQueryResult:
    field = query.order_field
    desc = query.order_direction == "desc"
    conds = [population(query.time_from, query.time_to)]
    pushed, exact = (None, True) if query.where is None else pushdown(query.where)
    if pushed is not None:
        conds.append(pushed)
    if query.mode == "keyset" and query.cursor is not None:
        conds.append(_cursor_cond(field, desc, *query.cursor))
    match = _and(conds)
    d = -1 if desc else 1
    cursor = store._raw.find(match, _ROOT_PROJECTION).sort(
        [(field, d), ("traceId", 1), ("_id", 1)])
    paged = query.mode == "page"
    start = query.page * query.per_page
    total = 0
    chosen: list[Any] = []  # raw root documents, in order
    if exact:
        if paged:
            total = store._spans.count_documents(match)
            chosen = list(cursor.skip(start).limit(query.per_page)) if start < total else []
        else:
            chosen = list(cursor.limit(query.limit + 1))
    else:
        assert query.where is not None
        where = query.where
        needs = relation_needs(where)
        try:
            for chunk in _chunks(cursor.batch_size(CHUNK), CHUNK):
                roots = [(doc, store.codec.decode(doc)) for doc in chunk]
                related = fetch_related(store, needs, list({r.trace_id for _, r in roots})
                                        ) if needs else {}
                for doc, root in roots:
                    if not evaluate(where, "trace", root, _related_of(related, root.trace_id)):
                        continue
                    if paged:
                        if start <= total < start + query.per_page:
                            chosen.append(doc)
                        total += 1
                    else:
                        chosen.append(doc)
                if not paged and len(chosen) > query.limit:
                    break
        finally:
            cursor.close()
        if not paged:
            chosen = chosen[: query.limit + 1]
    rows = _with_inputs(store, chosen)
    if paged:
        return TraceQueryResult([trace_row(r) for r in rows], total=total)
    return query_result(rows, query)


def _related_of(related: dict[str, dict[str, list[Any]]], trace_id: str
                ) -> Callable[[str], list[Any]]:
    return lambda collection: related.get(collection, {}).get(trace_id, [])


def _with_inputs(store: MongoDBStore, docs: list[Any]) -> list[SpanRecord]:
    """The root records of ``docs`` with their ``input`` (for the previews)."""
    ids = [doc["_id"] for doc in docs]
    inputs = {doc["_id"]: store.codec.decode(doc).input
              for doc in store._raw.find({"_id": {"$in": ids}}, {"input": 1})} if ids else {}
    roots = []
    for doc in docs:
        root = store.codec.decode(doc)
        root.input = inputs.get(doc["_id"])
        roots.append(root)
    return roots


# ---------------------------------------------------------------------------- suggestions

def trace_query_fields(store: MongoDBStore, request: SuggestionRequest) -> FieldSuggestions:
    if request.scope != "trace":
        return FieldSuggestions()
    match = _and([population(request.time_from, request.time_to),
                  {"metadata": {"$type": "object"}}])
    docs = store._raw.find(match, {"_id": 0, "metadata": 1})
    return observed_fields((store.codec.decode(d) for d in docs), request)


def _text_of(field: str) -> dict[str, Any]:
    return {"$ifNull": [f"${field}", None]}


def _string_in(document: str, key: str) -> dict[str, Any]:
    """``document.key`` when ``document`` is an object and the value is text, else null."""
    got = {"$getField": {"field": {"$literal": key}, "input": f"${document}"}}
    return {"$cond": [{"$eq": [{"$type": f"${document}"}, "object"]},
                      {"$let": {"vars": {"v": got}, "in": {"$cond": [
                          {"$eq": [{"$type": "$$v"}, "string"]}, "$$v", None]}}},
                      None]}


_STATUS = {"$cond": [{"$eq": [{"$ifNull": ["$error", None]}, None]}, "success", "error"]}
_PLAIN_VALUES: dict[str, tuple[str, ...]] = {
    "trace": _ROOT_TEXT,
    "spans": ("name", "spanType", "entityType", "entityName", "entityId", "entityVersionId",
              "parentEntityVersionId", "rootEntityVersionId"),
    "scores": ("scorerId", "scorerVersion", "scoreSource", "entityVersionId",
               "parentEntityVersionId", "rootEntityVersionId"),
    "feedback": ("feedbackType", "feedbackSource", "feedbackUserId", "sourceId",
                 "entityVersionId", "parentEntityVersionId", "rootEntityVersionId"),
}


def value_expression(scope: str, path: str) -> dict[str, Any] | None:
    """The server expression giving a row's value for ``path`` (None: computed in Python)."""
    if path in _PLAIN_VALUES[scope]:
        return _text_of(path)
    if path == "status" and scope in ("trace", "spans"):
        return _STATUS
    if scope == "spans" and path in ("model", "provider"):
        return _string_in("attributes", path)
    if scope == "trace" and path.startswith(METADATA_PREFIX):
        return _string_in("metadata", path[len(METADATA_PREFIX):])
    return None


def counted_suggestions(pairs: Iterable[tuple[Any, int]], request: SuggestionRequest
                        ) -> ValueSuggestions:
    """:func:`..memory.value_suggestions` over (value, occurrences) pairs."""
    counts: dict[str, int] = {}
    for value, n in pairs:
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text.encode("utf-8", "replace")) > 4096:
            continue
        if request.search and request.search.lower() not in text.lower():
            continue
        counts[text] = counts.get(text, 0) + n
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8", "replace")))
    return ValueSuggestions(ordered[: request.limit], len(ordered) > request.limit)


def _grouped(coll: Any, stages: list[dict[str, Any]]) -> Iterator[tuple[Any, int]]:
    for doc in coll.aggregate(stages, allowDiskUse=True):
        yield doc["_id"], int(doc["n"])


def trace_query_values(store: MongoDBStore, request: SuggestionRequest) -> ValueSuggestions:
    assert request.path is not None
    path, scope = request.path, request.scope
    match = population(request.time_from, request.time_to)
    if scope == "trace" and path == "tags":  # traces per distinct tag
        stages: list[dict[str, Any]] = [
            {"$match": _and([match, {"tags": {"$type": "array"}}])},
            {"$project": {"t": {"$setUnion": ["$tags", []]}}}, {"$unwind": "$t"},
            {"$group": {"_id": "$t", "n": {"$sum": 1}}}]
        return counted_suggestions(_grouped(store._spans, stages), request)
    expr = value_expression(scope, path)
    if expr is None:
        return _python_values(store, request, match)
    group = {"$group": {"_id": {"$ifNull": [expr, None]}, "n": {"$sum": 1}}}
    if scope == "trace":
        pairs: Iterable[tuple[Any, int]] = _grouped(store._spans, [{"$match": match}, group])
        if path.startswith(METADATA_PREFIX):  # only non-blank text counts (trace_value)
            pairs = ((v, n) for v, n in pairs if isinstance(v, str) and v.strip())
        return counted_suggestions(pairs, request)
    # The related rows of each eligible root: a `$lookup` on the traceId index (MongoDB
    # streams `$lookup` + `$unwind` without building a per-root array), then `$group`.
    related = SIGNAL_TABLES[scope].table if scope != "spans" else store._spans.name
    stages = [{"$match": match}, {"$project": {"_id": 0, "traceId": 1}},
              {"$lookup": {"from": related, "localField": "traceId", "foreignField": "traceId",
                           "pipeline": [{"$project": {"_id": 0, "v": {"$ifNull": [expr, None]}}}],
                           "as": "r"}},
              {"$unwind": "$r"}, {"$group": {"_id": "$r.v", "n": {"$sum": 1}}}]
    return counted_suggestions(_grouped(store._spans, stages), request)


def _python_values(store: MongoDBStore, request: SuggestionRequest, match: dict[str, Any]
                   ) -> ValueSuggestions:
    """Any other path: the reference ``suggestion_values`` over streamed chunks."""
    assert request.path is not None
    needs = {} if request.scope == "trace" else {request.scope: {request.path}}

    def values() -> Iterator[tuple[Any, int]]:
        cursor = store._raw.find(match, _ROOT_PROJECTION).batch_size(CHUNK)
        for chunk in _chunks(cursor, CHUNK):
            roots = [store.codec.decode(d) for d in chunk]
            related = fetch_related(store, needs, list({r.trace_id for r in roots})
                                    ) if needs else {}
            def lookup(c: str, t: str, related: Any = related) -> list[Any]:
                return _related_of(related, t)(c)

            for value in suggestion_values(request, roots, lookup):
                yield value, 1

    return counted_suggestions(values(), request)


__all__ = ["CHUNK", "list_branches", "pushdown", "query_traces", "trace_query_fields",
           "trace_query_values"]
