"""Span routes: trace lists, a trace, a span, branches, deletion, and the trace query."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..model.preview import input_preview
from ..model.spans import SpanRecord
from ..storage.base import BRANCH_TYPES
from ..storage.memory import root_matches, sort_roots
from ..storage.queries import LightSpan
from ..storage.signal_queries import Feature, ScoresFilter
from ..storage.trace_query import (
    STRING_OPS,
    canonical_fields,
    plan_suggestions,
    plan_trace_query,
)
from .app import Call, NotFound, QueryUnsupported, endpoint
from .params import Params, traces_filter, traces_order
from .serialize import (
    legacy_score_json,
    light_json,
    pagination_json,
    row_json,
    span_json,
    structure_json,
)

P = "/observability"


def _roots(call: Call) -> tuple[list[SpanRecord], int, int, int]:
    """One page of trace roots for the list routes: (roots, total, page, perPage)."""
    q = call.query
    q.forbid_delta("traces")
    page, per_page = q.page()
    flt, order, trace_id = traces_filter(q), traces_order(q), q.string("traceId")
    if trace_id is None:
        result = call.store.list_traces(flt, page, per_page, order)
        return result.spans, result.total, page, per_page
    # One trace: its root, if it passes the other filters (Mastra's semantics, as the
    # reference store applies them).
    root = call.store.get_root_span(trace_id)
    child_error = False
    if root is not None and flt.has_child_error is not None:
        trace = call.store.get_trace_light(trace_id)
        child_error = trace is not None and any(s.error is not None for s in trace.spans)
    roots = [root] if root is not None and root_matches(root, flt, child_error) else []
    return roots[page * per_page:(page + 1) * per_page], len(roots), page, per_page


def list_traces(call: Call) -> dict[str, Any]:
    roots, total, page, per_page = _roots(call)
    return {"pagination": pagination_json(total, page, per_page),
            "spans": [span_json(s, status=True) for s in roots]}


def list_traces_light(call: Call) -> dict[str, Any]:
    q = call.query
    if q.has("traceId"):
        roots, total, page, per_page = _roots(call)
        light = [LightSpan.of(s, input_preview(s.input)) for s in roots]
    else:
        q.forbid_delta("traces")
        page, per_page = q.page()
        result = call.store.list_traces_light(traces_filter(q), page, per_page,
                                              traces_order(q))
        light, total = result.spans, result.total
    return {"pagination": pagination_json(total, page, per_page),
            "spans": [light_json(s) for s in light]}


def list_branches(call: Call) -> dict[str, Any]:
    q = call.query
    q.forbid_delta("branches")
    page, per_page = q.page()
    flt, order, trace_id = traces_filter(q), traces_order(q), q.string("traceId")
    if trace_id is None:
        result = call.store.list_branches(flt, page, per_page, order)
        anchors, total = result.spans, result.total
    else:
        trace = call.store.get_trace(trace_id)
        matching = [s for s in (trace.spans if trace else []) if s.span_type in BRANCH_TYPES
                    and root_matches(s, replace(flt, has_child_error=None), False)]
        total = len(matching)
        anchors = sort_roots(matching, order)[page * per_page:(page + 1) * per_page]
    return {"pagination": pagination_json(total, page, per_page),
            "branches": [span_json(s, status=True) for s in anchors]}


def get_trace(call: Call) -> dict[str, Any]:
    trace_id = call.path["traceId"]
    trace = call.store.get_trace(trace_id)
    if trace is None:
        raise NotFound(f"Trace with ID '{trace_id}' not found")
    return {"traceId": trace_id, "spans": [span_json(s, status=True) for s in trace.spans]}


def get_trace_light(call: Call) -> dict[str, Any]:
    trace_id = call.path["traceId"]
    trace = call.store.get_structure(trace_id)
    if trace is None:
        raise NotFound(f"Trace with ID '{trace_id}' not found")
    return {"traceId": trace_id, "spans": [structure_json(s) for s in trace.spans]}


def get_span(call: Call) -> dict[str, Any]:
    span = call.store.get_span(call.path["traceId"], call.path["spanId"])
    if span is None:
        raise NotFound("Span not found")
    return {"span": span_json(span)}


def get_branch(call: Call) -> dict[str, Any]:
    trace_id, span_id = call.path["traceId"], call.path["spanId"]
    depth = call.query.integer("depth", None, 0)
    branch = call.store.get_branch(trace_id, span_id, depth)
    if branch is None:
        raise NotFound(f"Branch not found for span '{span_id}' in trace '{trace_id}'")
    return {"traceId": trace_id, "spans": [span_json(s) for s in branch.spans]}


def trajectory(call: Call) -> dict[str, Any]:
    trace_id = call.path["traceId"]
    trace = call.store.get_trace(trace_id)
    if trace is None:
        raise NotFound(f"Trace with ID '{trace_id}' not found")
    steps = [{"name": s.name, "spanType": s.span_type, "spanId": s.span_id,
              "input": s.input, "output": s.output, "error": s.error,
              "startedAt": span_json(s)["startedAt"], "endedAt": span_json(s)["endedAt"]}
             for s in trace.spans if s.parent_span_id is not None]
    root = trace.root
    total = None
    if root is not None and root.ended_at is not None:
        total = (root.ended_at - root.started_at).total_seconds() * 1000
    return {"steps": steps, "totalDurationMs": total,
            "rawOutput": root.output if root is not None else None}


def delete_traces(call: Call) -> dict[str, Any]:
    call.require_writes()
    body = call.body_params()
    ids = body.strings("traceIds")
    if ids is None:
        raise body.fail("traceIds", "Invalid input: expected array, received undefined")
    if len(ids) > 1000:
        raise body.fail("traceIds", "Too big: expected array to have <=1000 items")
    call.store.batch_delete_traces(list(ids))
    return {"success": True}


def score_traces(call: Call) -> dict[str, Any]:
    body = call.body_params()
    name = body.string("scorerName")
    if not name:
        raise body.fail("scorerName", "Invalid input: expected string, received undefined")
    raise NotFound(f"Scorer '{name}' not found")  # this server runs no scorers


def span_scores(call: Call) -> dict[str, Any]:
    """The trace panel's Scores tab: scores of a span (a trace-level score shows under
    its root span)."""
    trace_id, span_id = call.path["traceId"], call.path["spanId"]
    page, per_page = call.query.page()
    scores = call.store.list_scores(ScoresFilter(trace_id=trace_id), 0, 100).items
    root = call.store.get_root_span(trace_id)
    is_root = root is not None and root.span_id == span_id
    mine = [s for s in scores if s.span_id == span_id or (is_root and s.span_id is None)]
    chunk = mine[page * per_page:(page + 1) * per_page]
    return {"pagination": pagination_json(len(mine), page, per_page),
            "scores": [legacy_score_json(s) for s in chunk]}


# ---------------------------------------------------------------------------- trace query

def _require(call: Call, feature: Feature, code: str, message: str) -> None:
    store = call.store.get_store("observability")
    if store is None or feature not in store.features():
        raise QueryUnsupported(code, message)


def query_traces(call: Call) -> dict[str, Any]:
    _require(call, Feature.TRACE_QUERY, "TRACE_QUERY_UNSUPPORTED",
             "Advanced trace queries are not supported by the configured observability store")
    body = call.body if call.body is not None else {}
    if isinstance(body, dict) and body.get("mode") == "delta":
        raise QueryUnsupported("TRACE_QUERY_UNSUPPORTED", "This storage provider does not "
                               "support observability delta polling")
    query = plan_trace_query(body)
    result = call.store.query_traces(query)
    rows = [row_json(r) for r in result.rows]
    if query.mode == "page":
        return {"traces": rows,
                "pagination": pagination_json(result.total or 0, query.page, query.per_page)}
    return {"traces": rows, "page": {"next": result.next_cursor}}


def _discovery_supported(call: Call) -> None:
    _require(call, Feature.TRACE_QUERY_DISCOVERY, "TRACE_QUERY_DISCOVERY_UNSUPPORTED",
             "Trace query discovery is not supported by the configured observability store")


def query_fields(call: Call) -> dict[str, Any]:
    _discovery_supported(call)
    request = plan_suggestions(call.body, with_path=False)
    observed = call.store.trace_query_fields(request)
    return {
        "canonicalFields": [{"path": f.path, "valueKind": f.kind, "operators": list(f.operators),
                             "valueSuggestions": f.suggestions}
                            for f in canonical_fields(request.scope, request.search)],
        "observedFields": [{"path": f.path, "valueKind": "string",
                            "operators": list(STRING_OPS), "valueSuggestions": True,
                            "occurrences": f.occurrences} for f in observed.observed],
        "observedFieldsTruncated": observed.truncated,
    }


def query_values(call: Call) -> dict[str, Any]:
    _discovery_supported(call)
    request = plan_suggestions(call.body, with_path=True)
    found = call.store.trace_query_values(request)
    return {"values": [{"value": v, "count": n} for v, n in found.values],
            "valuesTruncated": found.truncated}


def query_threads(call: Call) -> dict[str, Any]:
    raise QueryUnsupported("TRACE_QUERY_UNSUPPORTED", "Advanced thread queries are not "
                           "supported by the configured observability store")


_Q = {"body": True, "limit": 256 * 1024, "query_route": True}

ROUTES: list[tuple[str, tuple[str, ...], Any]] = [
    # literal paths before the parameterised ones (the order Starlette matches in)
    (f"{P}/traces", ("GET",), endpoint(list_traces)),
    (f"{P}/traces/light", ("GET",), endpoint(list_traces_light)),
    (f"{P}/branches", ("GET",), endpoint(list_branches)),
    (f"{P}/traces/query", ("POST",), endpoint(query_traces, **_Q)),  # type: ignore[arg-type]
    (f"{P}/traces/query/fields", ("POST",), endpoint(query_fields, **_Q)),  # type: ignore[arg-type]
    (f"{P}/traces/query/values", ("POST",), endpoint(query_values, **_Q)),  # type: ignore[arg-type]
    (f"{P}/threads/query", ("POST",), endpoint(query_threads, **_Q)),  # type: ignore[arg-type]
    (f"{P}/traces/delete", ("POST",), endpoint(delete_traces, body=True, limit=256 * 1024)),
    (f"{P}/traces/score", ("POST",), endpoint(score_traces, body=True)),
    (f"{P}/traces/{{traceId}}/branches/{{spanId}}", ("GET",), endpoint(get_branch)),
    (f"{P}/traces/{{traceId}}/spans/{{spanId}}", ("GET",), endpoint(get_span)),
    (f"{P}/traces/{{traceId}}/light", ("GET",), endpoint(get_trace_light)),
    (f"{P}/traces/{{traceId}}/trajectory", ("GET",), endpoint(trajectory)),
    (f"{P}/traces/{{traceId}}/{{spanId}}/scores", ("GET",), endpoint(span_scores)),
    (f"{P}/traces/{{traceId}}", ("GET",), endpoint(get_trace)),
]

__all__ = ["ROUTES", "Params"]
