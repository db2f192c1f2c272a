"""The span record and the column table of Mastra's ``mastra_ai_spans``.

``COLUMNS`` is the one description of the table. Every store derives its DDL, its row
codec and its read path from it, and the tracing layer derives from the column *roles*
which fields a child inherits, which ones ``update()`` may set, which ones travel as the
correlation context of logs, metrics, scores and feedback, and which ones the trace list
can filter on. Adding a column is one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

TABLE_SPANS = "mastra_ai_spans"

ColumnKind = Literal["text", "json", "timestamp", "bool"]
TraceStatus = Literal["success", "error", "running"]


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its record attribute, Mastra's column name, its kind and its roles."""

    attr: str  # SpanRecord attribute (snake_case)
    name: str  # column name in Mastra's table (camelCase)
    kind: ColumnKind
    nullable: bool = True
    indexed: bool = False  # a key or index column (bounded length in some dialects)
    inherited: bool = False  # a child span copies it from its parent
    settable: bool = False  # app code may set it (start_span(**extra), update())
    filterable: bool = False  # an equality filter of the trace list, on the root span
    context: bool = False  # copied into the correlation context of the other signals
    heavy: bool = False  # a payload: left out of the "light" trace views


def _c(attr: str, name: str, kind: ColumnKind = "text", roles: str = "",
       nullable: bool = True) -> ColumnSpec:
    """``roles``: letters i(ndexed) h(inherited) s(ettable) f(ilterable) c(ontext) p(ayload)."""
    unknown = set(roles) - set("ihsfcp")
    assert not unknown, unknown
    return ColumnSpec(attr, name, kind, nullable, indexed="i" in roles, inherited="h" in roles,
                      settable="s" in roles, filterable="f" in roles, context="c" in roles,
                      heavy="p" in roles)


# Order = the contract's column order (tests/contract/*.sql).
COLUMNS: tuple[ColumnSpec, ...] = (
    _c("trace_id", "traceId", roles="i", nullable=False),
    _c("span_id", "spanId", roles="i", nullable=False),
    _c("name", "name", roles="is", nullable=False),
    _c("span_type", "spanType", roles="if", nullable=False),
    _c("is_event", "isEvent", "bool", nullable=False),
    _c("started_at", "startedAt", "timestamp", nullable=False),
    _c("parent_span_id", "parentSpanId", roles="i"),
    _c("entity_type", "entityType", roles="isfc"),
    _c("entity_id", "entityId", roles="isfc"),
    _c("entity_name", "entityName", roles="isfc"),
    _c("parent_entity_type", "parentEntityType", roles="c"),
    _c("parent_entity_id", "parentEntityId", roles="c"),
    _c("parent_entity_name", "parentEntityName", roles="c"),
    _c("root_entity_type", "rootEntityType", roles="c"),
    _c("root_entity_id", "rootEntityId", roles="c"),
    _c("root_entity_name", "rootEntityName", roles="c"),
    _c("user_id", "userId", roles="ihsfc"),
    _c("organization_id", "organizationId", roles="ihsfc"),
    _c("resource_id", "resourceId", roles="hsfc"),
    _c("run_id", "runId", roles="hsfc"),
    _c("session_id", "sessionId", roles="hsfc"),
    _c("thread_id", "threadId", roles="hsfc"),
    _c("request_id", "requestId", roles="hsfc"),
    _c("environment", "environment", roles="hsfc"),
    _c("service_name", "serviceName", roles="hfc"),
    _c("scope", "scope", "json", roles="hs"),
    _c("entity_version_id", "entityVersionId", roles="sc"),
    _c("parent_entity_version_id", "parentEntityVersionId", roles="c"),
    _c("root_entity_version_id", "rootEntityVersionId", roles="c"),
    _c("experiment_id", "experimentId", roles="hsc"),
    _c("source", "source", roles="hsfc"),
    _c("metadata", "metadata", "json", roles="sp"),
    _c("tags", "tags", "json", roles="s"),
    _c("attributes", "attributes", "json", roles="sp"),
    _c("links", "links", "json", roles="s"),
    _c("input", "input", "json", roles="sp"),
    _c("output", "output", "json", roles="sp"),
    _c("error", "error", "json"),
    _c("ended_at", "endedAt", "timestamp"),
    _c("request_context", "requestContext", "json", roles="hs"),
    _c("created_at", "createdAt", "timestamp", nullable=False),
    _c("updated_at", "updatedAt", "timestamp"),
)

COLUMN_BY_ATTR: dict[str, ColumnSpec] = {c.attr: c for c in COLUMNS}
COLUMN_BY_NAME: dict[str, ColumnSpec] = {c.name: c for c in COLUMNS}
JSON_ATTRS: tuple[str, ...] = tuple(c.attr for c in COLUMNS if c.kind == "json")
TIMESTAMP_ATTRS: tuple[str, ...] = tuple(c.attr for c in COLUMNS if c.kind == "timestamp")
HEAVY_ATTRS: frozenset[str] = frozenset(c.attr for c in COLUMNS if c.heavy)
INHERITED_ATTRS: tuple[str, ...] = tuple(c.attr for c in COLUMNS if c.inherited)
SETTABLE_ATTRS: frozenset[str] = frozenset(c.attr for c in COLUMNS if c.settable)
FILTER_ATTRS: tuple[str, ...] = tuple(c.attr for c in COLUMNS if c.filterable)
CORRELATION_ATTRS: tuple[str, ...] = tuple(c.attr for c in COLUMNS if c.context)
# Never rewritten by an update: the key and the insert time.
KEY_ATTRS: tuple[str, str] = ("trace_id", "span_id")
UPDATE_ATTRS: tuple[str, ...] = tuple(
    c.attr for c in COLUMNS if c.attr not in ("trace_id", "span_id", "created_at")
)


@dataclass(slots=True)
class SpanRecord:
    """One row of ``mastra_ai_spans``.

    Timestamps are timezone-aware UTC datetimes with millisecond precision (the precision
    every backend keeps), JSON columns hold plain Python values.
    """

    trace_id: str
    span_id: str
    name: str
    span_type: str
    started_at: datetime
    is_event: bool = False
    parent_span_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    entity_name: str | None = None
    parent_entity_type: str | None = None
    parent_entity_id: str | None = None
    parent_entity_name: str | None = None
    root_entity_type: str | None = None
    root_entity_id: str | None = None
    root_entity_name: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    resource_id: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    thread_id: str | None = None
    request_id: str | None = None
    environment: str | None = None
    service_name: str | None = None
    scope: Any = None
    entity_version_id: str | None = None
    parent_entity_version_id: str | None = None
    root_entity_version_id: str | None = None
    experiment_id: str | None = None
    source: str | None = None
    metadata: Any = None
    tags: Any = None
    attributes: Any = None
    links: Any = None
    input: Any = None
    output: Any = None
    error: Any = None
    ended_at: datetime | None = None
    request_context: Any = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.trace_id, self.span_id)

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None

    @property
    def status(self) -> TraceStatus:
        """Status of this span; for a root span it is the trace's status."""
        if self.error is not None:
            return "error"
        if self.ended_at is None:
            return "running"
        return "success"

    def copy(self, **changes: Any) -> SpanRecord:
        """A shallow copy; the tracer takes one per lifecycle event, so it must be cheap."""
        clone: SpanRecord = _clone(self)
        for name, value in changes.items():
            if name not in _FIELD_SET:
                raise TypeError(f"SpanRecord has no field {name!r}")
            setattr(clone, name, value)
        return clone

    def light(self) -> SpanRecord:
        """A copy without the payloads (input, output, attributes, metadata)."""
        return self.copy(**dict.fromkeys(HEAVY_ATTRS))

    def to_dict(self) -> dict[str, Any]:
        """Mastra's camelCase record (timestamps stay datetimes)."""
        return {c.name: getattr(self, c.attr) for c in COLUMNS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpanRecord:
        """Build from a camelCase row; unknown keys are ignored, missing ones are None."""
        values: dict[str, Any] = {}
        for name, value in data.items():
            spec = COLUMN_BY_NAME.get(name)
            if spec is not None:
                values[spec.attr] = value
        values["is_event"] = bool(values.get("is_event") or False)
        return cls(**values)


RECORD_ATTRS: tuple[str, ...] = tuple(f.name for f in fields(SpanRecord))
assert set(RECORD_ATTRS) == set(COLUMN_BY_ATTR), "SpanRecord and COLUMNS disagree"
_FIELD_SET = frozenset(RECORD_ATTRS)


def _make_clone() -> Any:
    # dataclasses.replace re-runs __init__ through keyword arguments (~10x slower than
    # copying 42 slots directly); this straight-line copier is generated once at import.
    body = "\n".join(f"    n.{a} = r.{a}" for a in RECORD_ATTRS)
    namespace: dict[str, Any] = {"new": object.__new__, "cls": SpanRecord}
    exec(f"def _clone(r):\n    n = new(cls)\n{body}\n    return n", namespace)
    return namespace["_clone"]


_clone = _make_clone()
