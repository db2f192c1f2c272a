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
"""

from __future__ import annotations

from typing import Any

from ...model.jsonsafe import clean_text
from ...model.spans import COLUMN_BY_ATTR
from ...model.time import format_iso
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
        conds.append({COLUMN_BY_ATTR[attr].name: {"$eq": clean_text(value)}})
    started: dict[str, str] = {}
    if f.started_from is not None:
        started["$gte"] = format_iso(f.started_from)
    if f.started_to is not None:
        started["$lte"] = format_iso(f.started_to)
    if started:
        conds.append({"startedAt": started})
    ended: dict[str, str] = {}
    if f.ended_from is not None:
        ended["$gte"] = format_iso(f.ended_from)
    if f.ended_to is not None:
        ended["$lte"] = format_iso(f.ended_to)
    if ended:
        conds.append({"endedAt": ended})  # a string range never matches null/missing
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


def child_error_filter() -> dict[str, Any]:
    """Spans that are not roots and carry an error."""
    return {"parentSpanId": {"$ne": None}, "error": HAS_ERROR}


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
