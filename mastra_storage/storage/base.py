"""The store contract every backend implements, modelled on small protocols: the query
API Mastra Studio needs (traces, spans, filters, pagination) plus the exporters' writes.

A store is both a writer (``batch_create_spans`` / ``batch_update_spans``) used by the
exporters and a reader (the query API) used by the CLI and by Studio-style viewers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..model.spans import SpanRecord
from .capabilities import StrategyCapability, capability_for
from .queries import Pagination, Trace, TracesFilter, TracesOrderBy, TracesPage

OBSERVABILITY_DOMAIN = "observability"


@runtime_checkable
class ObservabilityStore(Protocol):
    """What the exporters and the query API need from a backend."""

    provider: str

    @property
    def observability_strategy(self) -> StrategyCapability: ...

    def init(self) -> None: ...

    def close(self) -> None: ...

    def get_store(self, domain: str) -> ObservabilityStore | None: ...

    # writes -------------------------------------------------------------------------
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None: ...

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None: ...

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int: ...

    def delete_traces_older_than(self, before: datetime) -> int: ...

    # reads --------------------------------------------------------------------------
    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None: ...

    def get_root_span(self, trace_id: str) -> SpanRecord | None: ...

    def get_trace(self, trace_id: str) -> Trace | None: ...

    def get_trace_light(self, trace_id: str) -> Trace | None: ...

    def list_traces(
        self,
        filters: TracesFilter | None = None,
        page: int = 0,
        per_page: int = 10,
        order_by: TracesOrderBy | None = None,
    ) -> TracesPage: ...


def order_spans(spans: list[SpanRecord]) -> list[SpanRecord]:
    """Start time ascending; within one millisecond a parent comes before its children.

    Timestamps only keep milliseconds, so a span and the child it starts at once often
    share ``startedAt``; depth in the tree breaks that tie the way a reader expects.
    """
    parents = {s.span_id: s.parent_span_id for s in spans}

    def depth(span: SpanRecord) -> int:
        d, parent = 0, span.parent_span_id
        seen: set[str] = set()
        while parent is not None and parent in parents and parent not in seen:
            seen.add(parent)
            d += 1
            parent = parents[parent]
        return d

    return sorted(spans, key=lambda s: (s.started_at, depth(s), s.span_id))


class BaseStore(ABC):
    """Shared plumbing: capability lookup, domain routing, argument checks, context manager.

    ``batch_create_spans`` is an upsert on ``(traceId, spanId)`` in every backend, so a
    retried batch never duplicates a span. ``batch_update_spans`` rewrites every column but
    the key and ``createdAt`` of rows that exist and leaves missing rows alone.
    """

    provider: str = ""

    @property
    def observability_strategy(self) -> StrategyCapability:
        return capability_for(self.provider)

    def get_store(self, domain: str) -> ObservabilityStore | None:
        return self  # type: ignore[return-value]

    def init(self) -> None:  # noqa: B027 - optional hook
        """Create or migrate what the store needs; idempotent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store may not be used afterwards."""

    def __enter__(self) -> BaseStore:
        self.init()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # writes
    @abstractmethod
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None: ...

    @abstractmethod
    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None: ...

    @abstractmethod
    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int: ...

    @abstractmethod
    def delete_traces_older_than(self, before: datetime) -> int: ...

    # reads
    @abstractmethod
    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None: ...

    @abstractmethod
    def get_root_span(self, trace_id: str) -> SpanRecord | None: ...

    @abstractmethod
    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        """All spans of a trace ordered by startedAt ascending (ties by spanId)."""

    def get_trace(self, trace_id: str) -> Trace | None:
        spans = self._get_trace_spans(trace_id, light=False)
        return Trace(trace_id, order_spans(spans)) if spans else None

    def get_trace_light(self, trace_id: str) -> Trace | None:
        spans = self._get_trace_spans(trace_id, light=True)
        return Trace(trace_id, order_spans(spans)) if spans else None

    @abstractmethod
    def _list_roots(
        self, filters: TracesFilter, pagination: Pagination, order_by: TracesOrderBy
    ) -> tuple[list[SpanRecord], int]:
        """One page of root spans matching ``filters`` and the total count."""

    def list_traces(
        self,
        filters: TracesFilter | None = None,
        page: int = 0,
        per_page: int = 10,
        order_by: TracesOrderBy | None = None,
    ) -> TracesPage:
        pagination = Pagination(page, per_page)
        spans, total = self._list_roots(
            filters or TracesFilter(), pagination, order_by or TracesOrderBy()
        )
        return TracesPage(
            spans=spans,
            total=total,
            page=page,
            per_page=per_page,
            has_more=pagination.offset + len(spans) < total,
        )
