"""Filters and ordering of the query API as MongoDB match documents and sort stages.

Injection safety: nothing the caller passes is ever used as a field path or an operator.

* Equality, time and tag filters put the value under an explicit ``$eq``/``$gte``/``$all``
  of a fixed field; values are strings, so a value like ``"$where"`` is just a string.
* ``metadata``/``scope`` keys are never spliced into dotted paths: each key is read with
  ``$getField`` whose field name is wrapped in ``$literal``, so ``"a.b"`` is the key
  ``a.b`` (not ``a`` → ``b``) and ``"$where"`` is the key ``$where``. Each value is wrapped
  in ``$literal``, so ``{"$ne": null}`` is the object ``{"$ne": null}`` (matched literally)
  and ``"$tier"`` is a string, not a field reference. A key that can never be stored
  (containing NUL, which payload keys lose on write) matches nothing.

Timestamps are BSON dates (what Mastra writes), but earlier versions of this library wrote
ISO-8601 strings, and MongoDB compares values of different BSON types by type, never by
value: a date range never matches a string. Every time range is therefore an ``$or`` of
the date range and the same range as ISO text (which sorts like the instants it names).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...model.entities import entity_type_values
from ...model.jsonsafe import clean_text
from ...model.spans import COLUMN_BY_ATTR
from ...model.time import format_iso, truncate_ms
from ..queries import TracesFilter, TracesOrderBy
from .codec import SpanCodec

# Matches no document, for conditions that cannot hold (kept as a valid filter).
NOTHING: dict[str, Any] = {"$expr": {"$eq": [{"$literal": 0}, {"$literal": 1}]}}
ROOT: dict[str, Any] = {"parentSpanId": None}  # null or missing, as Mastra queries roots
HAS_ERROR: dict[str, Any] = {"$ne": None}


def _json_key_matches(field: str, key: str, value: Any, codec: SpanCodec) -> dict[str, Any]:
    """``field`` is an object whose top-level ``key`` is present and equals ``value``."""
    if "\x00" in key:
        return NOTHING  # stored keys never contain NUL (jsonsafe replaces it)
    got = {"$getField": {"field": {"$literal": key}, "input": f"${field}"}}
    prepared = codec.payload(value)
    if prepared is None:
        # Present with a null value. `$type` says "missing" for an absent key on MongoDB
        # (secantusdb says "object"), never "null", so absent keys don't match.
        cond: dict[str, Any] = {"$eq": [{"$type": got}, "null"]}
    else:
        # Aggregation `$eq` is type-strict: true never equals 1; 1 equals 1.0.
        cond = {"$eq": [got, {"$literal": prepared}]}
    return {"$expr": {"$and": [{"$eq": [{"$type": f"${field}"}, "object"]}, cond]}}


def root_filter(f: TracesFilter, codec: SpanCodec) -> dict[str, Any]:
    """The match document selecting the root spans that pass ``f`` (child errors aside)."""
    conds: list[dict[str, Any]] = [ROOT]
    for attr, value in f.equalities():
        if attr == "entity_type":  # "workflow_run" also matches legacy "workflow" rows
            values = [clean_text(v) for v in entity_type_values(value)]
            conds.append({"entityType": {"$in": values} if len(values) > 1
                          else {"$eq": values[0]}})
        else:
            conds.append({COLUMN_BY_ATTR[attr].name: {"$eq": clean_text(value)}})
    for field, lo, hi in (("startedAt", f.started_from, f.started_to),
                          ("endedAt", f.ended_from, f.ended_to)):
        if lo is not None or hi is not None:
            # a range (of either type) never matches null or a missing field
            conds.append(time_range(field, {"$gte": lo, "$lte": hi}))
    if f.status == "error":
        conds.append({"error": HAS_ERROR})
    elif f.status == "running":
        conds.append({"error": None, "endedAt": None})
    elif f.status == "success":
        conds.append({"error": None, "endedAt": {"$ne": None}})
    if f.tags:
        tags = [codec.payload(t) for t in f.tags]
        conds.append({"tags": {"$type": "array", "$all": tags}})
    for field, mapping in (("metadata", f.metadata), ("scope", f.scope)):
        for key, value in (mapping or {}).items():
            conds.append(_json_key_matches(field, key, value, codec))
    return conds[0] if len(conds) == 1 else {"$and": conds}


def time_range(field: str, bounds: dict[str, datetime | None]) -> dict[str, Any]:
    """``field`` within ``bounds`` (operator -> instant, ``None`` = unbounded), whether it
    is stored as a BSON date or as ISO-8601 text."""
    dates = {op: truncate_ms(v) for op, v in bounds.items() if v is not None}
    texts = {op: format_iso(v) for op, v in dates.items()}
    return {"$or": [{field: dates}, {field: texts}]}


def child_error_filter() -> dict[str, Any]:
    """Spans that carry an error, the root included: ``has_child_error`` has Mastra's
    meaning, "some span of the trace failed"."""
    return {"error": HAS_ERROR}


ENDED_RANK = "_mastraEndedRank"


def sort_stages(order_by: TracesOrderBy) -> list[dict[str, Any]]:
    """Stages ordering roots like the reference store (running first for endedAt DESC)."""
    d = -1 if order_by.direction == "DESC" else 1
    if order_by.field == "startedAt":
        return [{"$sort": {"startedAt": d, "traceId": d, "_id": d}}]
    # Rank 0 sorts first: running roots (no endedAt) when DESC, ended ones when ASC.
    running_rank, ended_rank = (0, 1) if d == -1 else (1, 0)
    return [
        {"$addFields": {ENDED_RANK: {"$cond": [
            {"$eq": [{"$ifNull": ["$endedAt", None]}, None]}, running_rank, ended_rank]}}},
        {"$sort": {ENDED_RANK: 1, "endedAt": d, "startedAt": d, "traceId": d, "_id": d}},
    ]
