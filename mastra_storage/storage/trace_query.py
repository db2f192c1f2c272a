"""The trace query: Mastra Studio's ``where`` predicate grammar, checked and planned once.

A request (the JSON body of ``POST /observability/traces/query``) is validated against
Mastra's grammar and limits and turned into a :class:`TraceQuery` — a small typed tree
that every store evaluates its own way (the in-memory store in Python, SQL stores as
one statement, ...). Nothing from the request ever becomes SQL text: paths are checked
against a fixed registry and literals stay values.

Grammar (JSON): comparisons ``{"op": "eq|ne|lt|lte|gt|gte", "left": {"path"},
"right": {"literal"}}``, ``{"op": "in|notIn", "value": {"path"}, "set": [...]}``,
``{"op": "exists|notExists", "path"}``, ``{"op": "includes|notIncludes", "path",
"value"}``, ``{"op": "and|or", "args": [...]}``, ``{"op": "not", "arg"}``, and relations
``{"spans"|"scores"|"feedback": {"some"|"none": predicate}}``. Limits: 100 nodes, 12
levels, 8 relations, 1000 literal units, 100 set values, 4096-byte strings, 128-byte
paths, a time range of at most 31 days. Errors carry Mastra's issue codes.

Semantics (the population is the *ended* root spans with ``from <= startedAt < to``):
``eq`` is null-safe, ``ne`` and ``notIn`` match a missing value, ``lt``…``gte`` and
``in`` need a value, ``exists``/``notExists`` test presence, ``includes`` tests tag
membership and ``notIncludes`` needs at least one tag without the value. A relation is
true when some (or no) related span/score/feedback of the trace matches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ..model.time import format_iso, parse_iso

MAX_NODES = 100
MAX_DEPTH = 12
MAX_RELATIONS = 8
MAX_LITERAL_UNITS = 1000
MAX_SET_VALUES = 100
MAX_STRING_BYTES = 4096
MAX_PATH_BYTES = 128
MAX_RANGE = timedelta(days=31)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

STRING_OPS = ("eq", "ne", "in", "notIn", "exists", "notExists")
ORDERED_OPS = (*STRING_OPS, "lt", "lte", "gt", "gte")
PRESENCE_OPS = ("exists", "notExists")
ARRAY_OPS = ("includes", "notIncludes", "exists", "notExists")

ValueKind = Literal["string", "timestamp", "number", "array", "presence", "stringOrNumber"]
Scope = Literal["trace", "spans", "scores", "feedback"]


@dataclass(frozen=True)
class FieldSpec:
    path: str
    kind: ValueKind
    operators: tuple[str, ...]
    suggestions: bool


def _f(path: str, kind: ValueKind, suggestions: bool = False) -> FieldSpec:
    ops = {"string": STRING_OPS, "timestamp": ORDERED_OPS, "number": ORDERED_OPS,
           "array": ARRAY_OPS, "presence": PRESENCE_OPS, "stringOrNumber": ORDERED_OPS}[kind]
    return FieldSpec(path, kind, ops, suggestions)


# Mastra's registry of what each scope may test, in its order.
REGISTRY: dict[str, tuple[FieldSpec, ...]] = {
    "trace": (
        _f("traceId", "string"), _f("threadId", "string"), _f("resourceId", "string"),
        _f("startedAt", "timestamp"), _f("endedAt", "timestamp"), _f("durationMs", "number"),
        _f("entityName", "string", True), _f("entityType", "string", True),
        _f("environment", "string", True), _f("status", "string", True),
        _f("tags", "array", True),
    ),
    "spans": (
        _f("name", "string", True), _f("spanType", "string", True),
        _f("model", "string", True), _f("provider", "string", True),
        _f("status", "string", True), _f("entityType", "string", True),
        _f("entityName", "string", True), _f("entityId", "string"),
        _f("entityVersionId", "string"), _f("parentEntityVersionId", "string"),
        _f("rootEntityVersionId", "string"), _f("startedAt", "timestamp"),
        _f("endedAt", "timestamp"), _f("durationMs", "number"), _f("error", "presence"),
    ),
    "scores": (
        _f("scorerId", "string", True), _f("scorerVersion", "string", True),
        _f("scoreSource", "string", True), _f("score", "number"),
        _f("timestamp", "timestamp"), _f("spanId", "presence"),
        _f("entityVersionId", "string"), _f("parentEntityVersionId", "string"),
        _f("rootEntityVersionId", "string"),
    ),
    "feedback": (
        _f("feedbackType", "string", True), _f("feedbackSource", "string", True),
        _f("feedbackUserId", "string"), _f("sourceId", "string"),
        _f("entityVersionId", "string"), _f("parentEntityVersionId", "string"),
        _f("rootEntityVersionId", "string"), _f("value", "stringOrNumber"),
        _f("timestamp", "timestamp"), _f("comment", "presence"),
    ),
}
_BY_PATH = {scope: {f.path: f for f in specs} for scope, specs in REGISTRY.items()}
METADATA_PREFIX = "metadata."


# ---------------------------------------------------------------------------- plan nodes

@dataclass(frozen=True)
class Comparison:
    field: str
    kind: ValueKind
    op: str  # eq ne lt lte gt gte
    value: Any  # str | float | datetime | None


@dataclass(frozen=True)
class Membership:
    field: str
    kind: ValueKind
    op: str  # in notIn
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Presence:
    field: str
    kind: ValueKind
    op: str  # exists notExists


@dataclass(frozen=True)
class Collection:
    field: str  # tags
    op: str  # includes notIncludes empty notEmpty
    value: str | None = None


@dataclass(frozen=True)
class BoolOp:
    op: str  # and or
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    arg: Node


@dataclass(frozen=True)
class Relation:
    collection: str  # spans scores feedback
    quantifier: str  # some none
    predicate: Node


Node = Comparison | Membership | Presence | Collection | BoolOp | Not | Relation


@dataclass(frozen=True)
class TraceQuery:
    """A checked trace query; stores evaluate it."""

    time_from: datetime
    time_to: datetime
    where: Node | None
    order_field: str = "startedAt"
    order_direction: str = "desc"
    mode: Literal["keyset", "page"] = "keyset"
    limit: int = DEFAULT_LIMIT
    cursor: tuple[datetime, str] | None = None  # (sort value, traceId) of the last row seen
    page: int = 0
    per_page: int = 10
    binding: str = ""


@dataclass
class Issue:
    code: str
    path: list[str | int]
    message: str


class TraceQueryError(ValueError):
    """An invalid trace query; ``issues`` carry Mastra's codes (HTTP 422)."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{'.'.join(map(str, i.path)) or 'root'}: {i.message}"
                                   for i in issues))


class TraceQueryCursorError(ValueError):
    """A malformed cursor (HTTP 400), or one from another query (``conflict``, 409)."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def _fail(code: str, path: list[str | int], message: str) -> TraceQueryError:
    return TraceQueryError([Issue(code, path, message)])


# ---------------------------------------------------------------------------- planning

def _utf8(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def _has_lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _datetime_literal(value: Any, path: list[str | int]) -> datetime:
    if not isinstance(value, str) or "T" not in value:
        raise _fail("invalid_literal", path, "The literal does not match the selected field type")
    try:
        return parse_iso(value)
    except ValueError:
        raise _fail("invalid_literal", path,
                    "The literal does not match the selected field type") from None


def _literal(spec: FieldSpec, op: str, value: Any, path: list[str | int]) -> Any:
    """A literal normalised for ``spec`` (Mastra's ``normalizeLiteral``)."""
    bad = _fail("invalid_literal", path, "The literal does not match the selected field type")
    if value is None:
        return None
    if isinstance(value, str):
        if _utf8(value) > MAX_STRING_BYTES:
            raise _fail("invalid_request", path, "String literal is too large")
        if _has_lone_surrogate(value):
            # No store can hold or compare such a string; refuse it as a bad literal.
            raise _fail("invalid_literal", path, "The literal is not valid Unicode text")
        # Stored text holds NUL as U+FFFD (the payload rules), so compare with that.
        value = value.replace("\x00", "\ufffd")
    kind = spec.kind
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            raise bad
        return float(value)
    if kind == "timestamp":
        return _datetime_literal(value, path)
    if kind == "stringOrNumber":
        if op in ("lt", "lte", "gt", "gte"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad
            return float(value)
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise bad
            return float(value)
        if isinstance(value, str):
            return value
        raise bad
    if not isinstance(value, str):
        raise bad
    if spec.path.startswith(METADATA_PREFIX) and not value.strip():
        raise bad
    return value


def _path(raw: Any, scope: str, where: list[str | int]) -> FieldSpec:
    if not isinstance(raw, str) or not raw.strip():
        raise _fail("invalid_request", where, "Invalid input: expected string")
    path = raw.strip()
    if path.startswith("${") and path.endswith("}"):
        path = path[2:-1].strip()
    if _utf8(path) > MAX_PATH_BYTES:
        raise _fail("invalid_request", where, "Predicate path is too large")
    if _has_lone_surrogate(path):
        raise _fail("invalid_field", where, "The field path is not valid Unicode text")
    spec = _BY_PATH[scope].get(path)
    if spec is not None:
        return spec
    if path.startswith(METADATA_PREFIX) and scope == "trace":
        key = path[len(METADATA_PREFIX):]
        if not key or "." in key or not key.strip():
            raise _fail("invalid_metadata_key", where,
                        "Metadata predicates require one non-empty top-level key")
        return FieldSpec(path, "string", STRING_OPS, True)
    raise _fail("field_not_allowed", where, "The predicate field is not allowed here")


def _check_op(spec: FieldSpec, op: str, where: list[str | int]) -> None:
    if op not in spec.operators:
        raise _fail("operator_not_allowed", [*where, "op"],
                    f"Operator {op} is not supported for field {spec.path}")


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.relations = 0
        self.units = 0

    def literal(self, n: int = 1) -> None:
        self.units += n
        if self.units > MAX_LITERAL_UNITS:
            raise _fail("predicate_too_complex", [],
                        f"Trace queries are limited to {MAX_LITERAL_UNITS} literal units")


def _count(node: Any, depth: int = 1) -> tuple[int, int]:
    """(nodes, depth) of a raw predicate, before anything else is checked."""
    if not isinstance(node, Mapping):
        return 1, depth
    children: list[Any] = []
    if isinstance(node.get("args"), list):
        children = list(node["args"])
    elif "arg" in node:
        children = [node["arg"]]
    else:
        for collection in ("spans", "scores", "feedback"):
            inner = node.get(collection)
            if isinstance(inner, Mapping):
                children = [v for k, v in inner.items() if k in ("some", "none")]
    nodes, deepest = 1, depth
    for child in children:
        n, d = _count(child, depth + 1)
        nodes += n
        deepest = max(deepest, d)
    return nodes, deepest


def _plan(node: Any, scope: str, where: list[str | int], budget: _Budget,
          in_relation: bool) -> Node:
    if not isinstance(node, Mapping):
        raise _fail("invalid_request", where, "Invalid input: expected object")
    for collection in ("spans", "scores", "feedback"):
        if collection in node:
            if in_relation:
                raise _fail("invalid_request", where, "Invalid input")
            if set(node) != {collection}:
                raise _fail("invalid_request", where, "Invalid input")
            inner = node[collection]
            if not isinstance(inner, Mapping) or len(inner) != 1 or next(iter(inner)) not in (
                    "some", "none"):
                raise _fail("invalid_request", [*where, collection], "Invalid input")
            quantifier = next(iter(inner))
            budget.relations += 1
            if budget.relations > MAX_RELATIONS:
                raise _fail("predicate_too_complex", where,
                            f"Trace queries are limited to {MAX_RELATIONS} related collection "
                            "clauses")
            predicate = _plan(inner[quantifier], collection, [*where, collection, quantifier],
                              budget, True)
            return Relation(collection, quantifier, predicate)
    op = node.get("op")
    keys = set(node)
    if op in ("and", "or"):
        args = node.get("args")
        if keys != {"op", "args"} or not isinstance(args, list) or not args:
            raise _fail("invalid_request", where, "Invalid input")
        return BoolOp(op, tuple(_plan(a, scope, [*where, "args", i], budget, in_relation)
                                for i, a in enumerate(args)))
    if op == "not":
        if keys != {"op", "arg"}:
            raise _fail("invalid_request", where, "Invalid input")
        return Not(_plan(node["arg"], scope, [*where, "arg"], budget, in_relation))
    if op in ("eq", "ne", "lt", "lte", "gt", "gte"):
        if keys != {"op", "left", "right"}:
            raise _fail("invalid_request", where, "Invalid input")
        left, right = node["left"], node["right"]
        if not (isinstance(left, Mapping) and set(left) == {"path"} and isinstance(
                right, Mapping) and set(right) == {"literal"}):
            raise _fail("invalid_operands", where, "Comparison predicates require a field on "
                        "the left and a literal on the right")
        spec = _path(left["path"], scope, [*where, "left", "path"])
        _check_op(spec, op, where)
        budget.literal()
        if spec.kind == "array":
            raise _fail("operator_not_allowed", [*where, "op"],
                        f"Operator {op} is not supported for field {spec.path}")
        value = _literal(spec, op, right["literal"], [*where, "right", "literal"])
        if value is None and op not in ("eq", "ne"):
            raise _fail("invalid_literal", [*where, "right", "literal"],
                        "The literal does not match the selected field type")
        return Comparison(spec.path, spec.kind, op, value)
    if op in ("in", "notIn"):
        if keys != {"op", "value", "set"}:
            raise _fail("invalid_request", where, "Invalid input")
        ref, values = node["value"], node["set"]
        if not (isinstance(ref, Mapping) and set(ref) == {"path"}):
            raise _fail("invalid_operands", where,
                        "Membership predicates require an allowlisted field path")
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_SET_VALUES:
            raise _fail("invalid_request", [*where, "set"],
                        f"Sets must hold 1 to {MAX_SET_VALUES} values")
        spec = _path(ref["path"], scope, [*where, "value", "path"])
        _check_op(spec, op, where)
        budget.literal(len(values))
        planned = tuple(_literal(spec, op, v, [*where, "set", i]) for i, v in enumerate(values))
        if any(v is None for v in planned) or len({type(v) for v in planned}) > 1:
            raise _fail("invalid_literal", [*where, "set"], "Membership values must be "
                        "homogeneous and match the selected field type")
        return Membership(spec.path, spec.kind, op, planned)
    if op in ("exists", "notExists"):
        if keys != {"op", "path"}:
            raise _fail("invalid_request", where, "Invalid input")
        spec = _path(node["path"], scope, [*where, "path"])
        _check_op(spec, op, where)
        if spec.kind == "array":
            return Collection(spec.path, "notEmpty" if op == "exists" else "empty")
        return Presence(spec.path, spec.kind, op)
    if op in ("includes", "notIncludes"):
        if keys != {"op", "path", "value"}:
            raise _fail("invalid_request", where, "Invalid input")
        spec = _path(node["path"], scope, [*where, "path"])
        _check_op(spec, op, where)
        value = node["value"]
        if not isinstance(value, str) or not value.strip():
            raise _fail("invalid_literal", [*where, "value"],
                        "The literal does not match the selected field type")
        if _utf8(value) > MAX_STRING_BYTES:
            raise _fail("invalid_request", [*where, "value"], "String literal is too large")
        budget.literal()
        return Collection(spec.path, op, value)
    raise _fail("invalid_request", [*where, "op"], "Invalid input")


def plan_where(where: Any) -> Node | None:
    """Check and plan a predicate (``None`` plans to no condition)."""
    if where is None:
        return None
    nodes, depth = _count(where)
    if nodes > MAX_NODES or depth > MAX_DEPTH:
        raise _fail("predicate_too_complex", ["where"],
                    f"Predicates are limited to {MAX_NODES} nodes and {MAX_DEPTH} levels")
    return _plan(where, "trace", ["where"], _Budget(), False)


def parse_time_range(raw: Any) -> tuple[datetime, datetime]:
    if not isinstance(raw, Mapping) or set(raw) != {"from", "to"}:
        raise _fail("invalid_request", ["timeRange"], "Invalid input: expected {from, to}")
    start = _datetime_literal(raw["from"], ["timeRange", "from"])
    end = _datetime_literal(raw["to"], ["timeRange", "to"])
    if start >= end:
        raise _fail("invalid_time_range", ["timeRange"], "`from` must be earlier than `to`")
    if end - start > MAX_RANGE:
        raise _fail("time_range_too_large", ["timeRange"],
                    "The time range cannot exceed 31 days")
    return start, end


def _int(value: Any, path: list[str | int], low: int, high: int | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise _fail("invalid_request", path, "Invalid input: expected int")
    n = int(value)
    if n < low or (high is not None and n > high):
        raise _fail("invalid_request", path,
                    f"Too {'small' if n < low else 'big'}: expected number to be "
                    f"{'>=' + str(low) if n < low else '<=' + str(high)}")
    return n


_TOP_KEYS = {"timeRange", "where", "orderBy", "page", "pagination", "mode", "after", "limit",
             "group"}


def plan_trace_query(body: Any) -> TraceQuery:
    """Check a ``traces/query`` request body and plan it (raises :class:`TraceQueryError`)."""
    if not isinstance(body, Mapping):
        raise _fail("invalid_request", [], "Invalid input: expected object")
    extra = set(body) - _TOP_KEYS
    if extra:
        raise _fail("invalid_request", [], f'Unrecognized key: "{sorted(extra)[0]}"')
    if body.get("mode") == "delta" or "after" in body or "limit" in body or "group" in body:
        raise _fail("invalid_request", ["mode"],
                    "Delta and grouped trace queries are not supported by this store")
    start, end = parse_time_range(body.get("timeRange"))
    where = plan_where(body.get("where"))
    order_field, direction = "startedAt", "desc"
    order = body.get("orderBy")
    if order is not None:
        if not isinstance(order, list) or len(order) != 1 or not isinstance(order[0], Mapping):
            raise _fail("invalid_request", ["orderBy"], "Invalid input: expected one ordering")
        order_field = str(order[0].get("field"))
        direction = str(order[0].get("direction"))
        if order_field not in ("startedAt", "endedAt"):
            raise _fail("invalid_request", ["orderBy", 0, "field"],
                        'Invalid option: expected one of "startedAt"|"endedAt"')
        if direction not in ("asc", "desc"):
            raise _fail("invalid_request", ["orderBy", 0, "direction"],
                        'Invalid option: expected one of "asc"|"desc"')
    if "page" in body and "pagination" in body:
        raise _fail("invalid_request", [],
                    "Trace queries cannot combine keyset and page pagination")
    base = dict(time_from=start, time_to=end, where=where, order_field=order_field,
                order_direction=direction)
    binding = query_binding(start, end, body.get("where"), order_field, direction)
    if "pagination" in body:
        pagination = body["pagination"]
        if not isinstance(pagination, Mapping):
            raise _fail("invalid_request", ["pagination"], "Invalid input: expected object")
        return TraceQuery(**base, mode="page",  # type: ignore[arg-type]
                          page=_int(pagination.get("page"), ["pagination", "page"], 0, None, 0),
                          per_page=_int(pagination.get("perPage"), ["pagination", "perPage"],
                                        1, 100, 10), binding=binding)
    page = body.get("page") or {}
    if not isinstance(page, Mapping):
        raise _fail("invalid_request", ["page"], "Invalid input: expected object")
    limit = _int(page.get("limit"), ["page", "limit"], 1, MAX_LIMIT, DEFAULT_LIMIT)
    cursor = None
    after = page.get("after")
    if after is not None:
        cursor = decode_cursor(after, binding)
    return TraceQuery(**base, mode="keyset", limit=limit, cursor=cursor,  # type: ignore[arg-type]
                      binding=binding)


# ---------------------------------------------------------------------------- cursors

def _stable(value: Any) -> str:
    """JSON with object keys sorted (Mastra's ``stableStringify``; floats as JavaScript
    writes them)."""
    if isinstance(value, Mapping):
        items = sorted((k, v) for k, v in value.items() if v is not None)
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_stable(v)}"
                              for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_stable(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def query_binding(start: datetime, end: datetime, where: Any, order_field: str,
                  direction: str) -> str:
    """What a cursor is bound to: the same query, so a cursor can't page another one."""
    payload = {"timeRange": {"from": format_iso(start), "to": format_iso(end)},
               "where": where, "result": "traces",
               "orderBy": {"field": order_field, "direction": direction}}
    return hashlib.sha256(_stable(payload).encode("utf-8", "surrogatepass")).hexdigest()


def encode_cursor(binding: str, sort_value: datetime, trace_id: str) -> str:
    raw = json.dumps({"version": 1, "binding": binding,
                      "values": {"result": "traces", "sortValue": format_iso(sort_value),
                                 "traceId": trace_id}}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: Any, binding: str) -> tuple[datetime, str]:
    malformed = TraceQueryCursorError("The trace query cursor is malformed")
    if not isinstance(cursor, str) or not cursor or len(cursor) > 8192:
        raise malformed
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = data["values"]
        if data.get("version") != 1 or values.get("result") != "traces":
            raise malformed
        sort_value = parse_iso(values["sortValue"])
        trace_id = values["traceId"]
        cursor_binding = data["binding"]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise malformed from None
    if not isinstance(trace_id, str) or not isinstance(cursor_binding, str):
        raise malformed
    if cursor_binding != binding:
        raise TraceQueryCursorError("The cursor does not match the query", conflict=True)
    return sort_value, trace_id


# ---------------------------------------------------------------------------- results

@dataclass
class TraceRow:
    """One row of a trace query (Mastra's 16 keys)."""

    trace_id: str
    root_span_id: str
    name: str
    entity_id: str | None
    parent_span_id: str | None
    created_at: datetime
    metadata: Any
    input_preview: str | None
    thread_id: str | None
    resource_id: str | None
    started_at: datetime
    ended_at: datetime
    entity_name: str | None
    entity_type: str | None
    environment: str | None
    status: str


@dataclass
class TraceQueryResult:
    rows: list[TraceRow]
    next_cursor: str | None = None  # keyset mode
    total: int | None = None  # page mode


@dataclass(frozen=True)
class SuggestionRequest:
    """``traces/query/fields`` (no ``path``) and ``traces/query/values`` requests."""

    time_from: datetime
    time_to: datetime
    scope: str
    search: str | None = None
    limit: int = 25
    path: str | None = None


@dataclass
class ObservedField:
    path: str
    occurrences: int


@dataclass
class FieldSuggestions:
    observed: list[ObservedField] = field(default_factory=list)
    truncated: bool = False


@dataclass
class ValueSuggestions:
    values: list[tuple[str, int]] = field(default_factory=list)
    truncated: bool = False


def plan_suggestions(body: Any, with_path: bool) -> SuggestionRequest:
    """Check a ``traces/query/fields`` (or ``/values``) request body."""
    if not isinstance(body, Mapping):
        raise _fail("invalid_request", [], "Invalid input: expected object")
    allowed = {"timeRange", "predicateScope", "search", "limit"} | ({"path"} if with_path else
                                                                    set())
    extra = set(body) - allowed
    if extra:
        raise _fail("invalid_request", [], f'Unrecognized key: "{sorted(extra)[0]}"')
    start, end = parse_time_range(body.get("timeRange"))
    scope = body.get("predicateScope")
    if scope not in REGISTRY:
        raise _fail("invalid_request", ["predicateScope"],
                    'Invalid option: expected one of "trace"|"spans"|"scores"|"feedback"')
    search = body.get("search")
    if search is not None:
        if not isinstance(search, str):
            raise _fail("invalid_request", ["search"], "Invalid input: expected string")
        search = search.strip() or None
        if search is not None and len(search) > 256:
            raise _fail("invalid_request", ["search"], "Too big: expected string to have <=256 "
                        "characters")
    limit = _int(body.get("limit"), ["limit"], 1, 100, 25)
    path = None
    if with_path:
        spec = _path(body.get("path"), scope, ["path"])
        if not spec.suggestions:
            raise _fail("invalid_request", ["path"],
                        "Value suggestions are not available for this path")
        path = spec.path
    return SuggestionRequest(start, end, scope, search, limit, path)


def canonical_fields(scope: str, search: str | None = None) -> list[FieldSpec]:
    specs = REGISTRY[scope]
    if search:
        needle = search.lower()
        specs = tuple(s for s in specs if needle in s.path.lower())
    return list(specs)


# ---------------------------------------------------------------------------- reference evaluation

def _duration_ms(started: datetime | None, ended: datetime | None) -> float | None:
    if started is None or ended is None:
        return None
    return (ended - started).total_seconds() * 1000


def _str_attr(attributes: Any, key: str) -> str | None:
    if isinstance(attributes, Mapping):
        value = attributes.get(key)
        if isinstance(value, str):
            return value
    return None


def trace_value(path: str, root: Any) -> Any:
    """A trace-scope field of a root span record (the reference semantics)."""
    if path.startswith(METADATA_PREFIX):
        meta = root.metadata
        value = meta.get(path[len(METADATA_PREFIX):]) if isinstance(meta, Mapping) else None
        return value if isinstance(value, str) and value.strip() else None
    if path == "status":
        return "error" if root.error is not None else "success"
    if path == "durationMs":
        return _duration_ms(root.started_at, root.ended_at)
    return getattr(root, _ATTR[path])


def span_value(path: str, span: Any) -> Any:
    if path == "status":
        return "error" if span.error is not None else "success"
    if path == "durationMs":
        return _duration_ms(span.started_at, span.ended_at)
    if path in ("model", "provider"):
        return _str_attr(span.attributes, path)
    if path == "error":
        return span.error
    return getattr(span, _ATTR[path])


def score_value(path: str, score: Any) -> Any:
    return getattr(score, _ATTR[path])


def feedback_value(path: str, feedback: Any, literal: Any = None) -> Any:
    if path == "value":
        if isinstance(literal, str):
            return feedback.value_string
        if isinstance(literal, float):
            return feedback.value_number
        return feedback.value
    return getattr(feedback, _ATTR[path])


_ATTR = {
    "traceId": "trace_id", "threadId": "thread_id", "resourceId": "resource_id",
    "startedAt": "started_at", "endedAt": "ended_at", "entityName": "entity_name",
    "entityType": "entity_type", "environment": "environment", "tags": "tags",
    "name": "name", "spanType": "span_type", "entityId": "entity_id",
    "entityVersionId": "entity_version_id", "parentEntityVersionId": "parent_entity_version_id",
    "rootEntityVersionId": "root_entity_version_id", "scorerId": "scorer_id",
    "scorerVersion": "scorer_version", "scoreSource": "score_source", "score": "score",
    "timestamp": "timestamp", "spanId": "span_id", "feedbackType": "feedback_type",
    "feedbackSource": "feedback_source", "feedbackUserId": "feedback_user_id",
    "sourceId": "source_id", "comment": "comment",
}
FIELD_ATTRS = _ATTR  # path → record attribute, for stores that compile the plan


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "eq":
        return bool(actual == expected) if actual is not None else expected is None
    if op == "ne":
        return bool(actual != expected) if actual is not None else expected is not None
    if actual is None or expected is None:
        return False
    try:
        if op == "lt":
            return bool(actual < expected)
        if op == "lte":
            return bool(actual <= expected)
        if op == "gt":
            return bool(actual > expected)
        return bool(actual >= expected)
    except TypeError:
        return False


def _value_of(scope: str, path: str, record: Any, literal: Any = None) -> Any:
    if scope == "trace":
        return trace_value(path, record)
    if scope == "spans":
        return span_value(path, record)
    if scope == "scores":
        return score_value(path, record)
    return feedback_value(path, record, literal)


def evaluate(node: Node, scope: str, record: Any,
             related: Any = None) -> bool:
    """Does ``record`` (a root span, span, score or feedback, per ``scope``) satisfy
    ``node``? ``related(collection)`` yields a trace's spans/scores/feedback."""
    if isinstance(node, BoolOp):
        results = (evaluate(a, scope, record, related) for a in node.args)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not evaluate(node.arg, scope, record, related)
    if isinstance(node, Relation):
        found = any(evaluate(node.predicate, node.collection, item)
                    for item in related(node.collection))
        return found if node.quantifier == "some" else not found
    if isinstance(node, Comparison):
        return _compare(node.op, _value_of(scope, node.field, record, node.value), node.value)
    if isinstance(node, Membership):
        sample = node.values[0]
        actual = _value_of(scope, node.field, record, sample)
        if node.op == "in":
            return actual is not None and actual in node.values
        return actual is None or actual not in node.values
    if isinstance(node, Presence):
        if scope == "feedback" and node.field == "value":
            present = record.value_number is not None or record.value_string is not None
        else:
            present = _value_of(scope, node.field, record) is not None
        return present if node.op == "exists" else not present
    # Collection (tags of the root)
    tags = record.tags if isinstance(record.tags, list) else []
    if node.op == "includes":
        return node.value in tags
    if node.op == "notIncludes":
        return bool(tags) and node.value not in tags
    if node.op == "notEmpty":
        return bool(tags)
    return not tags
