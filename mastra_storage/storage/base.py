"""The store contract every backend implements, modelled on small protocols.

A store is both a writer used by the exporters (``batch_create_*`` for the five signals,
``batch_update_spans``) and a reader used by the CLI, the HTTP server and the viewer (the
query API). :class:`BaseStore` supplies what can be derived from a few primitives (light
views, branches, span subsets) and answers :class:`~mastra_storage.errors.UnsupportedOperation`
for everything a backend does not implement, which the exporter counts as
``unsupported-storage`` and the server turns into a 501. ``features()`` says up front
what a store answers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..errors import UnsupportedOperation
from ..model.preview import input_preview
from ..model.signals import FeedbackRecord, LogRecord, MetricRecord, ScoreRecord
from ..model.spans import SpanRecord
from .capabilities import StrategyCapability, capability_for
from .ids import check_id as check_id  # re-exported: the stores import it from here
from .ids import guard_lookups
from .queries import (
    BRANCH_SPAN_TYPES,
    LightSpan,
    LightTracesPage,
    Pagination,
    Trace,
    TracesFilter,
    TracesOrderBy,
    TracesPage,
)
from .signal_queries import (
    AggregateResult,
    BreakdownGroup,
    Feature,
    FeedbackFilter,
    LogsFilter,
    MetricAggregateRequest,
    MetricBreakdownRequest,
    MetricPercentilesRequest,
    MetricsFilter,
    MetricTimeseriesRequest,
    Page,
    PercentileSeries,
    ScoresFilter,
    Series,
    SignalOrder,
)
from .trace_query import (
    FieldSuggestions,
    SuggestionRequest,
    TraceQuery,
    TraceQueryResult,
    ValueSuggestions,
)

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

    def features(self) -> frozenset[Feature]: ...

    # writes -------------------------------------------------------------------------
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None: ...

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> int | None:
        """Rewrite existing rows; returns how many existed (None when unknown)."""

    def batch_create_logs(self, records: Sequence[LogRecord]) -> None: ...

    def batch_create_metrics(self, records: Sequence[MetricRecord]) -> None: ...

    def batch_create_scores(self, records: Sequence[ScoreRecord]) -> None: ...

    def batch_create_feedback(self, records: Sequence[FeedbackRecord]) -> None: ...

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int: ...

    def delete_traces_older_than(self, before: datetime) -> int: ...

    # span reads ---------------------------------------------------------------------
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


def branch_ids(spans: Sequence[SpanRecord], anchor: str, depth: int | None) -> list[str]:
    """The anchor and its descendants down to ``depth`` levels (None: all), breadth first."""
    children: dict[str | None, list[str]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span.span_id)
    out, frontier, level = [anchor], [anchor], 0
    seen = {anchor}
    while frontier and (depth is None or level < depth):
        nxt = []
        for span_id in frontier:
            for child in children.get(span_id, ()):
                if child not in seen:
                    seen.add(child)
                    nxt.append(child)
        out += nxt
        frontier = nxt
        level += 1
    return out


class BaseStore(ABC):
    """Shared plumbing: capability lookup, domain routing, derived reads, context manager.

    ``batch_create_spans`` is an upsert on ``(traceId, spanId)`` in every backend, so a
    retried batch never duplicates a span. ``batch_update_spans`` rewrites every column but
    the key and ``createdAt`` of rows that exist and leaves missing rows alone. The
    other signals are append-only, keyed by their id (a retried batch is idempotent).
    """

    provider: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        guard_lookups(cls)  # ids are strings in every backend (see .ids)

    @property
    def observability_strategy(self) -> StrategyCapability:
        return capability_for(self.provider)

    def get_store(self, domain: str) -> ObservabilityStore | None:
        return self

    def features(self) -> frozenset[Feature]:
        """What this store answers beyond the span basics (see :class:`Feature`)."""
        return frozenset()

    def init(self) -> None:  # noqa: B027 - optional hook
        """Create or migrate what the store needs; idempotent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store may not be used afterwards."""

    def __enter__(self) -> BaseStore:
        self.init()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _unsupported(self, what: str) -> UnsupportedOperation:
        return UnsupportedOperation(self.provider or type(self).__name__, what)

    # ------------------------------------------------------------------ span writes
    @abstractmethod
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None: ...

    @abstractmethod
    def batch_update_spans(self, records: Sequence[SpanRecord]) -> int | None:
        """Rewrite existing rows; returns how many existed (None when the backend can't
        tell), so a writer can notice rows that have gone."""

    @abstractmethod
    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int: ...

    @abstractmethod
    def delete_traces_older_than(self, before: datetime) -> int: ...

    # ------------------------------------------------------------------ signal writes
    def batch_create_logs(self, records: Sequence[LogRecord]) -> None:
        raise self._unsupported("logs")

    def batch_create_metrics(self, records: Sequence[MetricRecord]) -> None:
        raise self._unsupported("metrics")

    def batch_create_scores(self, records: Sequence[ScoreRecord]) -> None:
        raise self._unsupported("scores")

    def batch_create_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        raise self._unsupported("feedback")

    def update_feedback_review_status(self, feedback_id: str,
                                      review_status: str) -> FeedbackRecord | None:
        raise self._unsupported("feedback review")

    # ------------------------------------------------------------------ span reads
    @abstractmethod
    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None: ...

    @abstractmethod
    def get_root_span(self, trace_id: str) -> SpanRecord | None: ...

    @abstractmethod
    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        """All spans of a trace ordered by startedAt ascending (ties by spanId)."""

    def get_trace(self, trace_id: str) -> Trace | None:
        check_id(trace_id, "trace_id")
        spans = self._get_trace_spans(trace_id, light=False)
        return Trace(trace_id, order_spans(spans)) if spans else None

    def get_trace_light(self, trace_id: str) -> Trace | None:
        check_id(trace_id, "trace_id")
        spans = self._get_trace_spans(trace_id, light=True)
        return Trace(trace_id, order_spans(spans)) if spans else None

    def get_structure(self, trace_id: str) -> Trace | None:
        """The trace's tree without payloads (Mastra's ``getStructure``)."""
        return self.get_trace_light(trace_id)

    def get_spans(self, trace_id: str, span_ids: Sequence[str]) -> list[SpanRecord]:
        """The named spans of a trace (unknown ids are skipped), by start time."""
        check_id(trace_id, "trace_id")
        wanted = {check_id(s, "span_id") for s in span_ids}
        trace = self.get_trace(trace_id)
        return [s for s in trace.spans if s.span_id in wanted] if trace else []

    def get_branch(self, trace_id: str, span_id: str, depth: int | None = None) -> Trace | None:
        """A span and its descendants down to ``depth`` levels (None: the whole subtree);
        the anchor first, then the rest by start time. None if the span is unknown."""
        check_id(span_id, "span_id")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                                  or depth < 0):
            raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
        structure = self.get_structure(trace_id)
        if structure is None or not any(s.span_id == span_id for s in structure.spans):
            return None
        ids = branch_ids(structure.spans, span_id, depth)
        spans = {s.span_id: s for s in self.get_spans(trace_id, ids)}
        anchor = spans.pop(span_id, None)
        if anchor is None:
            return None
        return Trace(trace_id, [anchor, *order_spans(list(spans.values()))])

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

    def list_traces_light(
        self,
        filters: TracesFilter | None = None,
        page: int = 0,
        per_page: int = 10,
        order_by: TracesOrderBy | None = None,
    ) -> LightTracesPage:
        """Root spans without payloads, each with its status and input preview."""
        full = self.list_traces(filters, page, per_page, order_by)
        return LightTracesPage([LightSpan.of(s, input_preview(s.input)) for s in full.spans],
                               full.total, full.page, full.per_page, full.has_more)

    def list_branches(
        self,
        filters: TracesFilter | None = None,
        page: int = 0,
        per_page: int = 10,
        order_by: TracesOrderBy | None = None,
    ) -> TracesPage:
        """Branch anchors (agent runs, workflow runs, tool calls… anywhere in a trace,
        see :data:`~.queries.BRANCH_SPAN_TYPES`) matching ``filters``."""
        raise self._unsupported("branch listing")

    # ------------------------------------------------------------------ trace query
    def query_traces(self, query: TraceQuery) -> TraceQueryResult:
        raise self._unsupported("trace queries")

    def trace_query_fields(self, request: SuggestionRequest) -> FieldSuggestions:
        raise self._unsupported("trace query discovery")

    def trace_query_values(self, request: SuggestionRequest) -> ValueSuggestions:
        raise self._unsupported("trace query discovery")

    # ------------------------------------------------------------------ signal reads
    def list_logs(self, filters: LogsFilter | None = None, page: int = 0, per_page: int = 10,
                  order: SignalOrder | None = None) -> Page[LogRecord]:
        raise self._unsupported("listing logs")

    def list_metrics(self, filters: MetricsFilter | None = None, page: int = 0,
                     per_page: int = 10, order: SignalOrder | None = None) -> Page[MetricRecord]:
        raise self._unsupported("listing metrics")

    def list_scores(self, filters: ScoresFilter | None = None, page: int = 0,
                    per_page: int = 10, order: SignalOrder | None = None) -> Page[ScoreRecord]:
        raise self._unsupported("listing scores")

    def get_score(self, score_id: str) -> ScoreRecord | None:
        raise self._unsupported("reading scores")

    def list_feedback(self, filters: FeedbackFilter | None = None, page: int = 0,
                      per_page: int = 10,
                      order: SignalOrder | None = None) -> Page[FeedbackRecord]:
        raise self._unsupported("listing feedback")

    def metric_aggregate(self, request: MetricAggregateRequest) -> AggregateResult:
        raise self._unsupported("metric aggregates")

    def metric_breakdown(self, request: MetricBreakdownRequest) -> list[BreakdownGroup]:
        raise self._unsupported("metric breakdowns")

    def metric_timeseries(self, request: MetricTimeseriesRequest) -> list[Series]:
        raise self._unsupported("metric time series")

    def metric_percentiles(self, request: MetricPercentilesRequest) -> list[PercentileSeries]:
        raise self._unsupported("metric percentiles")

    # ------------------------------------------------------------------ discovery
    def discover_entity_types(self) -> list[str]:
        raise self._unsupported("entity type discovery")

    def discover_entity_names(self, entity_type: str | None = None) -> list[str]:
        raise self._unsupported("entity name discovery")

    def discover_service_names(self) -> list[str]:
        raise self._unsupported("service name discovery")

    def discover_environments(self) -> list[str]:
        raise self._unsupported("environment discovery")

    def discover_tags(self, entity_type: str | None = None) -> list[str]:
        raise self._unsupported("tag discovery")

    def discover_metric_names(self, prefix: str | None = None,
                              limit: int | None = None) -> list[str]:
        raise self._unsupported("metric discovery")

    def discover_metric_label_keys(self, metric_name: str) -> list[str]:
        raise self._unsupported("metric discovery")

    def discover_metric_label_values(self, metric_name: str, label_key: str,
                                     prefix: str | None = None,
                                     limit: int | None = None) -> list[str]:
        raise self._unsupported("metric discovery")

    # ------------------------------------------------------------------ retention
    def prune(self, older_than: datetime, signals: Sequence[str] | None = None,
              batch_size: int = 1000) -> dict[str, int]:
        """Delete whole traces started before ``older_than`` (with their logs, metrics,
        scores and feedback) and signal rows older than it; returns rows per signal."""
        raise self._unsupported("pruning")

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per signal: ``rows``, ``bytes`` (None where unknown), ``oldest``, ``newest``."""
        raise self._unsupported("statistics")


BRANCH_TYPES = frozenset(BRANCH_SPAN_TYPES)
