"""In-process store for tests and debugging; also the reference semantics of the query API.

Every read here is written for clarity, not speed: the other stores must give the same
answers (the shared store suites check that), and where they compute something in
Python they reuse the helpers of this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields as dc_fields
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from ..model.entities import entity_type_values
from ..model.jsonsafe import clean_text, to_jsonable
from ..model.preview import input_preview
from ..model.signals import (
    CONTEXT_ATTRS,
    FeedbackRecord,
    LogRecord,
    MetricRecord,
    ScoreRecord,
    SignalContext,
)
from ..model.spans import COLUMNS, JSON_ATTRS, UPDATE_ATTRS, SpanRecord
from ..model.time import truncate_ms, utc_now
from .base import BRANCH_TYPES, BaseStore, check_id
from .queries import Pagination, TracesFilter, TracesOrderBy, TracesPage
from .signal_queries import (
    ALL_FEATURES,
    DISTINCT_COLUMNS,
    GROUP_COLUMNS,
    SIGNALS,
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
    SeriesPoint,
    SignalOrder,
    Summary,
    bucket_start,
    check_page,
    compared_aggregate,
)
from .trace_query import (
    FieldSuggestions,
    ObservedField,
    SuggestionRequest,
    TraceQuery,
    TraceQueryResult,
    TraceRow,
    ValueSuggestions,
    encode_cursor,
    evaluate,
    feedback_value,
    score_value,
    span_value,
    trace_value,
)
from .validation import require_ids

R = TypeVar("R", bound=SignalContext)


def json_partial_match(actual: Any, expected: Mapping[str, Any]) -> bool:
    """Every key of ``expected`` is in ``actual`` with an equal (JSON) value."""
    if not isinstance(actual, Mapping):
        return False
    for key, value in expected.items():
        if key not in actual or actual[key] != to_jsonable(value):
            return False
        # JSON has no bool/int confusion: True must not match 1.
        if isinstance(value, bool) != isinstance(actual[key], bool):
            return False
    return True


def root_matches(root: SpanRecord, f: TracesFilter, child_error: bool) -> bool:
    """The trace-list filter semantics, applied to a trace's root span."""
    for attr, value in f.equalities():
        if attr == "entity_type":  # "workflow_run" also matches legacy "workflow" rows
            if root.entity_type not in entity_type_values(value):
                return False
        elif getattr(root, attr) != value:
            return False
    if f.started_from is not None and root.started_at < truncate_ms(f.started_from):
        return False
    if f.started_to is not None and root.started_at > truncate_ms(f.started_to):
        return False
    ended = root.ended_at
    if f.ended_from is not None and (ended is None or ended < truncate_ms(f.ended_from)):
        return False
    if f.ended_to is not None and (ended is None or ended > truncate_ms(f.ended_to)):
        return False
    if f.status is not None and root.status != f.status:
        return False
    if f.has_child_error is not None and child_error != f.has_child_error:
        return False
    if f.tags:
        tags = root.tags if isinstance(root.tags, list) else []
        if not all(t in tags for t in f.tags):
            return False
    if f.metadata and not json_partial_match(root.metadata, f.metadata):
        return False
    return not (f.scope and not json_partial_match(root.scope, f.scope))


def sort_roots(roots: list[SpanRecord], order_by: TracesOrderBy) -> list[SpanRecord]:
    desc = order_by.direction == "DESC"
    if order_by.field == "startedAt":
        return sorted(roots, key=lambda r: (r.started_at, r.trace_id), reverse=desc)
    # endedAt: running traces (NULL) first for DESC, last for ASC.
    ended = sorted((r for r in roots if r.ended_at is not None),
                   key=lambda r: (r.ended_at, r.started_at, r.trace_id), reverse=desc)
    running = sorted((r for r in roots if r.ended_at is None),
                     key=lambda r: (r.started_at, r.trace_id), reverse=desc)
    return running + ended if desc else ended + running


def normalise(record: SpanRecord, now: datetime) -> SpanRecord:
    """What a database would hand back: JSON-clean payloads, ms timestamps, no NULs."""
    changes: dict[str, Any] = {a: to_jsonable(getattr(record, a)) for a in JSON_ATTRS}
    for spec in COLUMNS:
        if spec.kind == "text":
            changes[spec.attr] = clean_text(getattr(record, spec.attr))
    changes["started_at"] = truncate_ms(record.started_at)
    changes["ended_at"] = truncate_ms(record.ended_at) if record.ended_at else None
    changes["created_at"] = truncate_ms(record.created_at) if record.created_at else now
    changes["updated_at"] = truncate_ms(record.updated_at) if record.updated_at else None
    return record.copy(**changes)


def normalise_signal(record: R) -> R:
    """A signal record as a database hands it back: JSON-clean, clean text, ms times."""
    changes: dict[str, Any] = {}
    for f in dc_fields(record):
        value = getattr(record, f.name)
        if isinstance(value, str):
            changes[f.name] = clean_text(value)
        elif isinstance(value, datetime):
            changes[f.name] = truncate_ms(value)
        elif isinstance(value, (dict, list)) or (
                f.name in ("metadata", "scope", "data", "cost_metadata") and value is not None):
            changes[f.name] = to_jsonable(value)
    if not record.tags:
        changes["tags"] = None
    return replace(record, **changes)


# ---------------------------------------------------------------------------- aggregation

def aggregate(rows: Sequence[Any], aggregation: str, distinct_column: str | None = None
              ) -> float | None:
    """Mastra's aggregation of metric rows (``None`` when there are none, except a
    distinct count, which is 0)."""
    if aggregation == "count_distinct":
        attr = DISTINCT_COLUMNS[distinct_column or ""]
        return float(len({getattr(r, attr) for r in rows if getattr(r, attr) is not None}))
    if not rows:
        return None
    values = [r.value for r in rows]
    if aggregation == "sum":
        return float(sum(values))
    if aggregation == "avg":
        return float(sum(values) / len(values))
    if aggregation == "min":
        return float(min(values))
    if aggregation == "max":
        return float(max(values))
    if aggregation == "count":
        return float(len(values))
    latest = max(range(len(rows)), key=lambda i: (rows[i].timestamp, i))  # "last"
    return float(values[latest])


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Linear interpolation between the closest ranks (SQL's ``percentile_cont``)."""
    if not sorted_values:
        return 0.0
    position = p * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (
        position - low))


def cost_summary(rows: Iterable[MetricRecord]) -> tuple[float | None, str | None]:
    """Summed estimated cost and the one cost unit (None when mixed or absent)."""
    costs = [r.estimated_cost for r in rows if r.estimated_cost is not None]
    units = {r.cost_unit for r in rows if r.cost_unit is not None}
    return (float(sum(costs)) if costs else None, next(iter(units)) if len(units) == 1 else None)


def group_value(row: MetricRecord, key: str) -> str | None:
    attr = GROUP_COLUMNS.get(key)
    if attr is not None:
        value = getattr(row, attr)
        return None if value is None else str(value)
    return row.labels.get(key) if isinstance(row.labels, dict) else None


def breakdown(rows: Sequence[MetricRecord], request: MetricBreakdownRequest
              ) -> list[BreakdownGroup]:
    groups: dict[tuple[str | None, ...], list[MetricRecord]] = {}
    for row in rows:
        groups.setdefault(tuple(group_value(row, k) for k in request.group_by), []).append(row)
    out = []
    for key, members in groups.items():
        cost, unit = cost_summary(members)
        value = aggregate(members, request.aggregation, request.distinct_column)
        out.append(BreakdownGroup(dict(zip(request.group_by, key, strict=True)),
                                  value if value is not None else 0.0, cost, unit))
    out.sort(key=lambda g: g.value, reverse=request.order_direction == "DESC")
    return out[: request.limit] if request.limit else out


def timeseries(rows: Sequence[MetricRecord], request: MetricTimeseriesRequest) -> list[Series]:
    def points(members: Sequence[MetricRecord]) -> list[SeriesPoint]:
        buckets: dict[datetime, list[MetricRecord]] = {}
        for row in members:
            buckets.setdefault(bucket_start(row.timestamp, request.interval), []).append(row)
        out = []
        for ts in sorted(buckets):
            value = aggregate(buckets[ts], request.aggregation, request.distinct_column)
            out.append(SeriesPoint(ts, value if value is not None else 0.0,
                                   cost_summary(buckets[ts])[0]))
        return out

    if not request.group_by:
        return [Series(",".join(request.name), points(rows), cost_summary(rows)[1])]
    groups: dict[tuple[str, ...], list[MetricRecord]] = {}
    for row in rows:
        key = tuple(group_value(row, k) or "" for k in request.group_by)
        groups.setdefault(key, []).append(row)
    return [Series("|".join(key), points(members), cost_summary(members)[1])
            for key, members in groups.items()]


def percentiles(rows: Sequence[MetricRecord], request: MetricPercentilesRequest
                ) -> list[PercentileSeries]:
    buckets: dict[datetime, list[float]] = {}
    for row in rows:
        buckets.setdefault(bucket_start(row.timestamp, request.interval), []).append(row.value)
    ordered = [(ts, sorted(values)) for ts, values in sorted(buckets.items())]
    return [PercentileSeries(p, [SeriesPoint(ts, percentile(values, p)) for ts, values in ordered])
            for p in request.percentiles]


def aggregate_result(select: Callable[[MetricsFilter | None], list[MetricRecord]],
                     request: MetricAggregateRequest) -> AggregateResult:
    """A KPI and its comparison window, from a function that selects the rows."""
    def summary(filters: MetricsFilter | None) -> Summary:
        rows = select(filters)
        return (aggregate(rows, request.aggregation, request.distinct_column),
                *cost_summary(rows))

    return compared_aggregate(summary, request)


# ---------------------------------------------------------------------------- filters

def log_matches(log: LogRecord, f: LogsFilter) -> bool:
    if not f.matches_context(log, log.timestamp):
        return False
    if f.level and log.level not in f.level:
        return False
    return not (f.search and f.search.lower() not in log.message.lower())


def metric_matches(metric: MetricRecord, f: MetricsFilter) -> bool:
    if not f.matches_context(metric, metric.timestamp):
        return False
    if f.name and metric.name not in f.name:
        return False
    if f.trace_ids is not None and metric.trace_id not in f.trace_ids:
        return False
    for attr in ("provider", "model", "cost_unit"):
        wanted = getattr(f, attr)
        if wanted is not None and getattr(metric, attr) != wanted:
            return False
    if f.labels:
        labels = metric.labels or {}
        if any(labels.get(k) != v for k, v in f.labels.items()):
            return False
    return True


def score_matches(score: ScoreRecord, f: ScoresFilter) -> bool:
    if not f.matches_context(score, score.timestamp):
        return False
    if f.scorer_id and score.scorer_id not in f.scorer_id:
        return False
    if f.score_source is not None and score.score_source != f.score_source:
        return False
    return not (f.metadata and not json_partial_match(score.metadata, f.metadata))


def feedback_matches(item: FeedbackRecord, f: FeedbackFilter) -> bool:
    if not f.matches_context(item, item.timestamp):
        return False
    if f.feedback_type and item.feedback_type not in f.feedback_type:
        return False
    for attr in ("feedback_source", "feedback_user_id", "review_status"):
        wanted = getattr(f, attr)
        if wanted is not None and getattr(item, attr) != wanted:
            return False
    return True


def sort_signals(rows: list[Any], order: SignalOrder) -> list[Any]:
    attr = "score" if order.field == "score" else "timestamp"
    return sorted(rows, key=lambda r: getattr(r, attr), reverse=order.direction == "DESC")


def page_of(rows: list[Any], page: int, per_page: int) -> Page[Any]:
    check_page(page, per_page)
    start = page * per_page
    return Page(rows[start:start + per_page], len(rows), page, per_page)


def trace_row(root: SpanRecord) -> TraceRow:
    assert root.ended_at is not None
    return TraceRow(
        trace_id=root.trace_id, root_span_id=root.span_id, name=root.name,
        entity_id=root.entity_id, parent_span_id=root.parent_span_id,
        created_at=root.started_at, metadata=root.metadata,
        input_preview=input_preview(root.input), thread_id=root.thread_id,
        resource_id=root.resource_id, started_at=root.started_at, ended_at=root.ended_at,
        entity_name=root.entity_name, entity_type=root.entity_type,
        environment=root.environment, status="error" if root.error is not None else "success")


def order_trace_rows(roots: list[SpanRecord], query: TraceQuery) -> list[SpanRecord]:
    attr = "started_at" if query.order_field == "startedAt" else "ended_at"
    desc = query.order_direction == "desc"
    # Sort value in the query's direction, then traceId ascending (Mastra's tie-break).
    ordered = sorted(roots, key=lambda r: r.trace_id)
    ordered.sort(key=lambda r: getattr(r, attr), reverse=desc)
    if query.cursor is not None:
        value, trace_id = query.cursor
        ordered = [r for r in ordered if (getattr(r, attr) < value if desc else
                                          getattr(r, attr) > value)
                   or (getattr(r, attr) == value and r.trace_id > trace_id)]
    return ordered


def query_result(ordered: list[SpanRecord], query: TraceQuery) -> TraceQueryResult:
    """A page (keyset or numbered) of trace rows from the matching roots, in order."""
    if query.mode == "page":
        start = query.page * query.per_page
        return TraceQueryResult([trace_row(r) for r in ordered[start:start + query.per_page]],
                                total=len(ordered))
    rows = ordered[: query.limit]
    next_cursor = None
    if len(ordered) > query.limit:
        last = rows[-1]
        sort_value = last.started_at if query.order_field == "startedAt" else last.ended_at
        assert sort_value is not None
        next_cursor = encode_cursor(query.binding, sort_value, last.trace_id)
    return TraceQueryResult([trace_row(r) for r in rows], next_cursor=next_cursor)


def observed_fields(roots: Iterable[SpanRecord], request: SuggestionRequest
                    ) -> FieldSuggestions:
    """Top-level metadata keys with a text value among ``roots`` (trace scope only)."""
    if request.scope != "trace":
        return FieldSuggestions()
    counts: dict[str, int] = {}
    for root in roots:
        meta = root.metadata
        if not isinstance(meta, Mapping):
            continue
        for key, value in meta.items():
            if (not isinstance(key, str) or not key or "." in key or not isinstance(value, str)
                    or not value.strip()):
                continue
            path = f"metadata.{key}"
            if len(path.encode()) > 128 or len(value.encode()) > 4096:
                continue
            if request.search and request.search.lower() not in path.lower():
                continue
            counts[path] = counts.get(path, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))
    return FieldSuggestions([ObservedField(p, n) for p, n in ordered[: request.limit]],
                            len(ordered) > request.limit)


def value_suggestions(values: Iterable[Any], request: SuggestionRequest) -> ValueSuggestions:
    """Distinct values (as text) with their counts, most frequent first."""
    counts: dict[str, int] = {}
    for value in values:
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text.encode("utf-8", "replace")) > 4096:
            continue
        if request.search and request.search.lower() not in text.lower():
            continue
        counts[text] = counts.get(text, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8", "replace")))
    return ValueSuggestions(ordered[: request.limit], len(ordered) > request.limit)


def suggestion_values(request: SuggestionRequest, roots: list[SpanRecord],
                      related: Callable[[str, str], Iterable[Any]]) -> Iterable[Any]:
    """The raw values a ``traces/query/values`` request counts."""
    assert request.path is not None
    path = request.path
    if request.scope == "trace":
        if path == "tags":
            for root in roots:
                yield from set(root.tags) if isinstance(root.tags, list) else ()
            return
        for root in roots:
            yield trace_value(path, root)
        return
    getter = {"spans": span_value, "scores": score_value, "feedback": feedback_value}[
        request.scope]
    for root in roots:
        for item in related(request.scope, root.trace_id):
            yield getter(path, item)


class InMemoryStore(BaseStore):
    """Keeps everything in dicts and lists; supports every strategy, ``realtime`` preferred."""

    provider = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[tuple[str, str], SpanRecord] = {}
        self._signals: dict[str, dict[str, Any]] = {s: {} for s in SIGNALS if s != "spans"}

    def __len__(self) -> int:
        return len(self._spans)

    def features(self) -> frozenset[Feature]:
        return ALL_FEATURES - {Feature.DELTA_POLLING}

    # ------------------------------------------------------------------ span writes
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        require_ids(records)
        now = utc_now()
        with self._lock:
            for r in records:
                existing = self._spans.get(r.key)
                if existing is not None and existing.ended_at is not None and r.ended_at is None:
                    continue  # a running snapshot never replaces an ended span
                row = normalise(r, now)
                if existing is not None:
                    row.created_at = existing.created_at
                row.updated_at = now
                self._spans[r.key] = row

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> int:
        now = utc_now()
        updated = 0
        with self._lock:
            for r in records:
                existing = self._spans.get(r.key)
                if existing is None or (existing.ended_at is not None and r.ended_at is None):
                    continue
                row = normalise(r, now)
                for attr in UPDATE_ATTRS:
                    setattr(existing, attr, getattr(row, attr))
                existing.updated_at = now
                updated += 1
        return updated

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        wanted = {check_id(t, "trace_id") for t in trace_ids}
        with self._lock:
            doomed = [k for k in self._spans if k[0] in wanted]
            for k in doomed:
                del self._spans[k]
            for rows in self._signals.values():
                for key in [k for k, v in rows.items() if v.trace_id in wanted]:
                    del rows[key]
        return len(doomed)

    def delete_traces_older_than(self, before: datetime) -> int:
        cutoff = truncate_ms(before)
        with self._lock:
            old = {r.trace_id for r in self._spans.values()
                   if r.parent_span_id is None and r.started_at < cutoff}
        return self.batch_delete_traces(sorted(old))

    # ------------------------------------------------------------------ signal writes
    def _add(self, signal: str, id_attr: str, records: Sequence[Any]) -> None:
        rows = [normalise_signal(r) for r in records]
        with self._lock:
            table = self._signals[signal]
            for row in rows:
                table[getattr(row, id_attr)] = row

    def batch_create_logs(self, records: Sequence[LogRecord]) -> None:
        self._add("logs", "log_id", records)

    def batch_create_metrics(self, records: Sequence[MetricRecord]) -> None:
        self._add("metrics", "metric_id", records)

    def batch_create_scores(self, records: Sequence[ScoreRecord]) -> None:
        self._add("scores", "score_id", records)

    def batch_create_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        self._add("feedback", "feedback_id", records)

    def update_feedback_review_status(self, feedback_id: str,
                                      review_status: str) -> FeedbackRecord | None:
        check_id(feedback_id, "feedback_id")
        with self._lock:
            item = self._signals["feedback"].get(feedback_id)
            if item is None:
                return None
            updated: FeedbackRecord = replace(item, review_status=review_status)
            self._signals["feedback"][feedback_id] = updated
            return updated

    def _rows(self, signal: str) -> list[Any]:
        with self._lock:
            return list(self._signals[signal].values())

    # ------------------------------------------------------------------ span reads
    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        key = (check_id(trace_id, "trace_id"), check_id(span_id, "span_id"))
        with self._lock:
            row = self._spans.get(key)
            return row.copy() if row else None

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        check_id(trace_id, "trace_id")
        with self._lock:
            for r in self._spans.values():
                if r.trace_id == trace_id and r.parent_span_id is None:
                    return r.copy()
        return None

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        with self._lock:
            spans = [r for r in self._spans.values() if r.trace_id == trace_id]
        spans.sort(key=lambda r: (r.started_at, r.span_id))
        return [r.light() if light else r.copy() for r in spans]

    def _errored_traces(self, spans: Iterable[SpanRecord]) -> set[str]:
        """Traces with an errored span, the root included (``has_child_error``, as in
        every Mastra store)."""
        return {r.trace_id for r in spans if r.error is not None}

    def _list_roots(
        self, filters: TracesFilter, pagination: Pagination, order_by: TracesOrderBy
    ) -> tuple[list[SpanRecord], int]:
        with self._lock:
            spans = list(self._spans.values())
        child_error = self._errored_traces(spans)
        roots = [
            r for r in spans
            if r.parent_span_id is None and root_matches(r, filters, r.trace_id in child_error)
        ]
        ordered = sort_roots(roots, order_by)
        page = ordered[pagination.offset: pagination.offset + pagination.per_page]
        return [r.copy() for r in page], len(ordered)

    def list_branches(self, filters: TracesFilter | None = None, page: int = 0,
                      per_page: int = 10, order_by: TracesOrderBy | None = None) -> TracesPage:
        pagination = Pagination(page, per_page)
        f = filters or TracesFilter()
        with self._lock:
            spans = list(self._spans.values())
        anchors = [s for s in spans if s.span_type in BRANCH_TYPES
                   and root_matches(s, replace(f, has_child_error=None), False)]
        ordered = sort_roots(anchors, order_by or TracesOrderBy())
        chunk = ordered[pagination.offset: pagination.offset + per_page]
        return TracesPage([s.copy() for s in chunk], len(ordered), page, per_page,
                          pagination.offset + len(chunk) < len(ordered))

    # ------------------------------------------------------------------ trace query
    def _population(self, start: datetime, end: datetime) -> list[SpanRecord]:
        with self._lock:
            spans = list(self._spans.values())
        return [s for s in spans if s.parent_span_id is None and s.ended_at is not None
                and start <= s.started_at < end]

    def _related(self, collection: str, trace_id: str) -> list[Any]:
        if collection == "spans":
            with self._lock:
                return [s for s in self._spans.values() if s.trace_id == trace_id]
        return [r for r in self._rows(collection) if r.trace_id == trace_id]

    def query_traces(self, query: TraceQuery) -> TraceQueryResult:
        roots = self._population(query.time_from, query.time_to)
        if query.where is not None:
            where = query.where
            roots = [r for r in roots if evaluate(
                where, "trace", r, lambda c, t=r.trace_id: self._related(c, t))]
        return query_result(order_trace_rows(roots, query), query)

    def trace_query_fields(self, request: SuggestionRequest) -> FieldSuggestions:
        return observed_fields(self._population(request.time_from, request.time_to), request)

    def trace_query_values(self, request: SuggestionRequest) -> ValueSuggestions:
        roots = self._population(request.time_from, request.time_to)
        return value_suggestions(suggestion_values(request, roots, self._related), request)

    # ------------------------------------------------------------------ signal reads
    def list_logs(self, filters: LogsFilter | None = None, page: int = 0, per_page: int = 10,
                  order: SignalOrder | None = None) -> Page[LogRecord]:
        f = filters or LogsFilter()
        rows = [r for r in self._rows("logs") if log_matches(r, f)]
        return page_of(sort_signals(rows, order or SignalOrder()), page, per_page)

    def list_metrics(self, filters: MetricsFilter | None = None, page: int = 0,
                     per_page: int = 10, order: SignalOrder | None = None) -> Page[MetricRecord]:
        rows = self._select_metrics(filters)
        return page_of(sort_signals(rows, order or SignalOrder()), page, per_page)

    def list_scores(self, filters: ScoresFilter | None = None, page: int = 0,
                    per_page: int = 10, order: SignalOrder | None = None) -> Page[ScoreRecord]:
        f = filters or ScoresFilter()
        rows = [r for r in self._rows("scores") if score_matches(r, f)]
        return page_of(sort_signals(rows, order or SignalOrder()), page, per_page)

    def get_score(self, score_id: str) -> ScoreRecord | None:
        check_id(score_id, "score_id")
        with self._lock:
            row: ScoreRecord | None = self._signals["scores"].get(score_id)
            return row

    def list_feedback(self, filters: FeedbackFilter | None = None, page: int = 0,
                      per_page: int = 10,
                      order: SignalOrder | None = None) -> Page[FeedbackRecord]:
        f = filters or FeedbackFilter()
        rows = [r for r in self._rows("feedback") if feedback_matches(r, f)]
        return page_of(sort_signals(rows, order or SignalOrder()), page, per_page)

    def _select_metrics(self, filters: MetricsFilter | None,
                        names: Sequence[str] | None = None) -> list[MetricRecord]:
        f = filters or MetricsFilter()
        return [r for r in self._rows("metrics") if metric_matches(r, f)
                and (names is None or r.name in names)]

    def metric_aggregate(self, request: MetricAggregateRequest) -> AggregateResult:
        return aggregate_result(lambda f: self._select_metrics(f, request.name), request)

    def metric_breakdown(self, request: MetricBreakdownRequest) -> list[BreakdownGroup]:
        return breakdown(self._select_metrics(request.filters, request.name), request)

    def metric_timeseries(self, request: MetricTimeseriesRequest) -> list[Series]:
        return timeseries(self._select_metrics(request.filters, request.name), request)

    def metric_percentiles(self, request: MetricPercentilesRequest) -> list[PercentileSeries]:
        return percentiles(self._select_metrics(request.filters, [request.name]), request)

    # ------------------------------------------------------------------ discovery
    def _context_records(self) -> list[Any]:
        with self._lock:
            out: list[Any] = list(self._spans.values())
            for signal in ("logs", "metrics", "scores", "feedback"):
                out += self._signals[signal].values()
        return out

    def _distinct(self, attr: str, where: Callable[[Any], bool] | None = None) -> list[str]:
        values = {getattr(r, attr) for r in self._context_records() if where is None or where(r)}
        return sorted(v for v in values if isinstance(v, str) and v)

    def discover_entity_types(self) -> list[str]:
        return self._distinct("entity_type")

    def discover_entity_names(self, entity_type: str | None = None) -> list[str]:
        return self._distinct("entity_name", None if entity_type is None else
                              lambda r: r.entity_type == entity_type)

    def discover_service_names(self) -> list[str]:
        return self._distinct("service_name")

    def discover_environments(self) -> list[str]:
        return self._distinct("environment")

    def discover_tags(self, entity_type: str | None = None) -> list[str]:
        tags: set[str] = set()
        for r in self._context_records():
            if entity_type is not None and r.entity_type != entity_type:
                continue
            if isinstance(r.tags, list):
                tags.update(t for t in r.tags if isinstance(t, str) and t)
        return sorted(tags)

    def discover_metric_names(self, prefix: str | None = None,
                              limit: int | None = None) -> list[str]:
        names = sorted({r.name for r in self._rows("metrics")
                        if prefix is None or r.name.startswith(prefix)})
        return names[:limit] if limit else names

    def discover_metric_label_keys(self, metric_name: str) -> list[str]:
        return sorted({k for r in self._rows("metrics") if r.name == metric_name
                       for k in (r.labels or {})})

    def discover_metric_label_values(self, metric_name: str, label_key: str,
                                     prefix: str | None = None,
                                     limit: int | None = None) -> list[str]:
        found = {str((r.labels or {})[label_key]) for r in self._rows("metrics")
                 if r.name == metric_name and label_key in (r.labels or {})}
        values = sorted(v for v in found if prefix is None or v.startswith(prefix))
        return values[:limit] if limit else values

    # ------------------------------------------------------------------ retention
    def prune(self, older_than: datetime, signals: Sequence[str] | None = None,
              batch_size: int = 1000) -> dict[str, int]:
        cutoff = truncate_ms(older_than)
        chosen = check_signals(signals)
        counts = dict.fromkeys(chosen, 0)
        with self._lock:
            if "spans" in chosen:
                old = {r.trace_id for r in self._spans.values()
                       if r.parent_span_id is None and r.started_at < cutoff}
                doomed = [k for k in self._spans if k[0] in old]
                for key in doomed:
                    del self._spans[key]
                counts["spans"] = len(doomed)
            else:
                old = set()
            for signal in chosen:
                if signal == "spans":
                    continue
                table = self._signals[signal]
                doomed_ids = [k for k, v in table.items()
                              if v.timestamp < cutoff or v.trace_id in old]
                for row_id in doomed_ids:
                    del table[row_id]
                counts[signal] = len(doomed_ids)
        return counts

    def stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            times: dict[str, list[datetime]] = {
                "spans": [s.started_at for s in self._spans.values()],
                **{sig: [r.timestamp for r in rows.values()]
                   for sig, rows in self._signals.items()}}
        return {sig: {"rows": len(ts), "bytes": None, "oldest": min(ts) if ts else None,
                      "newest": max(ts) if ts else None} for sig, ts in times.items()}


def check_signals(signals: Sequence[str] | None) -> tuple[str, ...]:
    if signals is None:
        return SIGNALS
    out = tuple(dict.fromkeys(signals))
    for signal in out:
        if signal not in SIGNALS:
            raise ValueError(f"unknown signal {signal!r}; valid: {', '.join(SIGNALS)}")
    return out


__all__ = ["CONTEXT_ATTRS", "InMemoryStore"]
