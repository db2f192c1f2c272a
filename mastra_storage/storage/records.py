"""The span record and the column list shared by every store.

``COLUMNS`` is the single description of Mastra's ``mastra_ai_spans`` table: each store
derives its DDL, its row conversion and its read path from it, so a column can't be
forgotten in one backend.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

TABLE_SPANS = "mastra_ai_spans"

ColumnKind = Literal["text", "json", "timestamp", "bool"]


@dataclass(frozen=True)
class ColumnSpec:
    attr: str  # SpanRecord attribute (snake_case)
    name: str  # column name in Mastra's table (camelCase)
    kind: ColumnKind
    nullable: bool = True
    indexed: bool = False  # key or index column (MSSQL: NVARCHAR(100))


def _c(attr: str, name: str, kind: ColumnKind = "text", nullable: bool = True,
       indexed: bool = False) -> ColumnSpec:
    return ColumnSpec(attr, name, kind, nullable, indexed)


# Order = the contract's column order (shared/contract/*.sql).
COLUMNS: tuple[ColumnSpec, ...] = (
    _c("trace_id", "traceId", nullable=False, indexed=True),
    _c("span_id", "spanId", nullable=False, indexed=True),
    _c("name", "name", nullable=False, indexed=True),
    _c("span_type", "spanType", nullable=False, indexed=True),
    _c("is_event", "isEvent", "bool", nullable=False),
    _c("started_at", "startedAt", "timestamp", nullable=False),
    _c("parent_span_id", "parentSpanId", indexed=True),
    _c("entity_type", "entityType", indexed=True),
    _c("entity_id", "entityId", indexed=True),
    _c("entity_name", "entityName", indexed=True),
    _c("parent_entity_type", "parentEntityType"),
    _c("parent_entity_id", "parentEntityId"),
    _c("parent_entity_name", "parentEntityName"),
    _c("root_entity_type", "rootEntityType"),
    _c("root_entity_id", "rootEntityId"),
    _c("root_entity_name", "rootEntityName"),
    _c("user_id", "userId", indexed=True),
    _c("organization_id", "organizationId", indexed=True),
    _c("resource_id", "resourceId"),
    _c("run_id", "runId"),
    _c("session_id", "sessionId"),
    _c("thread_id", "threadId"),
    _c("request_id", "requestId"),
    _c("environment", "environment"),
    _c("service_name", "serviceName"),
    _c("scope", "scope", "json"),
    _c("entity_version_id", "entityVersionId"),
    _c("parent_entity_version_id", "parentEntityVersionId"),
    _c("root_entity_version_id", "rootEntityVersionId"),
    _c("experiment_id", "experimentId"),
    _c("source", "source"),
    _c("metadata", "metadata", "json"),
    _c("tags", "tags", "json"),
    _c("attributes", "attributes", "json"),
    _c("links", "links", "json"),
    _c("input", "input", "json"),
    _c("output", "output", "json"),
    _c("error", "error", "json"),
    _c("ended_at", "endedAt", "timestamp"),
    _c("request_context", "requestContext", "json"),
    _c("created_at", "createdAt", "timestamp", nullable=False),
    _c("updated_at", "updatedAt", "timestamp"),
)

COLUMN_BY_ATTR: dict[str, ColumnSpec] = {c.attr: c for c in COLUMNS}
COLUMN_BY_NAME: dict[str, ColumnSpec] = {c.name: c for c in COLUMNS}
JSON_ATTRS: tuple[str, ...] = tuple(c.attr for c in COLUMNS if c.kind == "json")
TIMESTAMP_ATTRS: tuple[str, ...] = tuple(c.attr for c in COLUMNS if c.kind == "timestamp")
# Left out of the "light" trace view: the payloads are what makes a trace heavy.
HEAVY_ATTRS: frozenset[str] = frozenset({"input", "output", "attributes", "metadata"})
# Never rewritten by an update: the key and the insert time.
KEY_ATTRS: tuple[str, str] = ("trace_id", "span_id")
UPDATE_ATTRS: tuple[str, ...] = tuple(
    c.attr for c in COLUMNS if c.attr not in ("trace_id", "span_id", "created_at")
)

TraceStatus = Literal["success", "error", "running"]


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
        """Status of this span; for a root span it is the trace's status (design §5)."""
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
        return replace(self, input=None, output=None, attributes=None, metadata=None)

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


_from_ts = datetime.fromtimestamp
_time_ns = time.time_ns
_UTC = timezone.utc


def utc_now() -> datetime:
    """Now, in UTC, truncated to the millisecond precision every backend stores.

    Built from integer milliseconds: ``datetime.replace`` would cost three times more,
    and this runs twice per span on the app's thread. (A float of ms/1000 is within a
    microsecond of the exact value, and fromtimestamp rounds to the microsecond.)
    """
    return _from_ts((_time_ns() // 1_000_000) / 1000, _UTC)


def truncate_ms(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    elif value.utcoffset() != timezone.utc.utcoffset(None):
        value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def format_iso(value: datetime) -> str:
    """``2026-11-22T02:09:00.093Z``: Mastra's text timestamp format (SQLite, MongoDB)."""
    if value.tzinfo is not _UTC:
        value = truncate_ms(value)
    # isoformat with a UTC tzinfo ends in "+00:00"; four of these run per stored row.
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(value: str | datetime) -> datetime:
    """Read a timestamp written by us or by Mastra (``Z`` or offset, any precision)."""
    if isinstance(value, datetime):
        return truncate_ms(value)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    return truncate_ms(datetime.fromisoformat(text))


# ---------------------------------------------------------------------------- queries

class SortDirection(str, Enum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class TracesOrderBy:
    """Ordering of the trace list; with ``endedAt`` DESC, running traces come first."""

    field: Literal["startedAt", "endedAt"] = "startedAt"
    direction: Literal["ASC", "DESC"] = "DESC"

    def __post_init__(self) -> None:
        if self.field not in ("startedAt", "endedAt"):
            raise ValueError(f"order_by.field must be startedAt or endedAt, not {self.field!r}")
        if self.direction not in ("ASC", "DESC"):
            raise ValueError(f"order_by.direction must be ASC or DESC, not {self.direction!r}")


@dataclass(frozen=True)
class TracesFilter:
    """Filters of ``list_traces``; each applies to the trace's root span.

    Time bounds are inclusive. ``tags`` must all be present. ``metadata`` and ``scope``
    match partially: every given top-level key must be present with an equal value.
    Every value is sent to the database as a bound parameter, never spliced into SQL.
    """

    started_from: datetime | None = None
    started_to: datetime | None = None
    ended_from: datetime | None = None
    ended_to: datetime | None = None
    span_type: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    entity_name: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    resource_id: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    thread_id: str | None = None
    request_id: str | None = None
    environment: str | None = None
    source: str | None = None
    service_name: str | None = None
    status: TraceStatus | None = None
    has_child_error: bool | None = None
    tags: tuple[str, ...] | list[str] | None = None
    metadata: Mapping[str, Any] | None = None
    scope: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in ("success", "error", "running"):
            raise ValueError(f"status must be success, error or running, not {self.status!r}")
        for name in ("metadata", "scope"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"{name} filter must be a mapping")
            for key in value or {}:
                if not isinstance(key, str):
                    raise TypeError(f"{name} filter keys must be strings, got {key!r}")
        if self.tags is not None:
            if isinstance(self.tags, str):
                raise TypeError("tags filter must be a list of strings, not a string")
            for tag in self.tags:
                if not isinstance(tag, str):
                    raise TypeError(f"tags must be strings, got {tag!r}")

    # Equality filters on plain text columns: (filter attribute == record attribute).
    EQUALITY_ATTRS = (
        "span_type", "entity_type", "entity_id", "entity_name", "user_id", "organization_id",
        "resource_id", "run_id", "session_id", "thread_id", "request_id", "environment",
        "source", "service_name",
    )

    def equalities(self) -> list[tuple[str, str]]:
        """(column attribute, value) pairs for the plain equality filters that are set."""
        out = []
        for attr in self.EQUALITY_ATTRS:
            value = getattr(self, attr)
            if value is not None:
                out.append((attr, str(value.value if isinstance(value, Enum) else value)))
        return out


MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Pagination:
    page: int = 0
    per_page: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.page, int) or self.page < 0:
            raise ValueError(f"page must be an integer >= 0, got {self.page!r}")
        if not isinstance(self.per_page, int) or not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValueError(
                f"per_page must be between 1 and {MAX_PER_PAGE}, got {self.per_page!r}")

    @property
    def offset(self) -> int:
        return self.page * self.per_page


@dataclass
class TracesPage:
    spans: list[SpanRecord]
    total: int
    page: int
    per_page: int
    has_more: bool


@dataclass
class Trace:
    trace_id: str
    spans: list[SpanRecord] = field(default_factory=list)

    @property
    def root(self) -> SpanRecord | None:
        return next((s for s in self.spans if s.parent_span_id is None), None)
