"""The query API's types: trace filters, ordering, pagination and the pages it returns.

Shared by every store, the CLI and the HTTP server. The equality filters are derived from
the column table's *filterable* role, so a filterable column is one line in the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from ..model.spans import FILTER_ATTRS, SpanRecord, TraceStatus


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
    EQUALITY_ATTRS = FILTER_ATTRS

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

    def total_from_page(self, rows: int) -> int | None:
        """The list's length when this page's ``rows`` tell it — a page that is not full
        ends the list, an empty first page means nothing matches — else None (count)."""
        if 0 < rows < self.per_page or (rows == 0 and self.page == 0):
            return self.offset + rows
        return None


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


@dataclass
class LightSpan:
    """A span without its payloads, for trace lists and tree views (Mastra's
    ``LightSpanRecord``): status computed, the input reduced to its preview."""

    trace_id: str
    span_id: str
    name: str
    span_type: str
    is_event: bool
    started_at: datetime
    parent_span_id: str | None
    ended_at: datetime | None
    error: Any
    status: TraceStatus
    entity_type: str | None
    entity_id: str | None
    entity_name: str | None
    metadata: Any
    input_preview: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, span: SpanRecord, input_preview: str | None = None) -> LightSpan:
        return cls(span.trace_id, span.span_id, span.name, span.span_type, span.is_event,
                   span.started_at, span.parent_span_id, span.ended_at, span.error,
                   span.status, span.entity_type, span.entity_id, span.entity_name,
                   span.metadata, input_preview, span.created_at, span.updated_at)


@dataclass
class LightTracesPage:
    spans: list[LightSpan]
    total: int
    page: int
    per_page: int
    has_more: bool


# Span types a branch is anchored at (Mastra's BRANCH_SPAN_TYPES): the units of work a
# reader opens on their own inside a trace.
BRANCH_SPAN_TYPES: tuple[str, ...] = (
    "agent_run", "workflow_run", "processor_run", "scorer_run", "rag_ingestion", "tool_call",
    "mcp_tool_call", "mcp_server_request", "provider_tool_call",
)
