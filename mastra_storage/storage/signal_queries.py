"""The query API's types for logs, metrics, scores and feedback.

Filters mirror Mastra's (``commonFilterFields`` plus each signal's own), so the HTTP
server maps its query strings onto them one to one. Every value reaches the database as
a bound parameter. Bad input — an unknown level, aggregation, interval, percentile or
group-by column — raises ``ValueError`` naming the valid values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Generic, Literal, TypeVar

from ..model.signals import LOG_LEVELS, REVIEW_STATUSES, SignalContext
from ..model.time import truncate_ms
from .queries import MAX_PER_PAGE

T = TypeVar("T")

AGGREGATIONS: tuple[str, ...] = ("sum", "avg", "min", "max", "count", "count_distinct", "last")
INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
COMPARE_PERIODS: tuple[str, ...] = ("previous_period", "previous_day", "previous_week")
# Columns a count_distinct may count (Mastra's METRIC_DISTINCT_COLUMNS), as record attributes.
DISTINCT_COLUMNS: dict[str, str] = {
    "entityType": "entity_type", "entityName": "entity_name",
    "parentEntityType": "parent_entity_type", "parentEntityName": "parent_entity_name",
    "rootEntityType": "root_entity_type", "rootEntityName": "root_entity_name",
    "name": "name", "provider": "provider", "model": "model", "environment": "environment",
    "executionSource": "source", "serviceName": "service_name", "threadId": "thread_id",
    "resourceId": "resource_id",
}
# Metric columns a breakdown/timeseries may group by (any other key is a label key).
GROUP_COLUMNS: dict[str, str] = {
    **DISTINCT_COLUMNS,
    "traceId": "trace_id", "spanId": "span_id", "entityId": "entity_id",
    "parentEntityId": "parent_entity_id", "rootEntityId": "root_entity_id",
    "userId": "user_id", "organizationId": "organization_id", "runId": "run_id",
    "sessionId": "session_id", "requestId": "request_id", "experimentId": "experiment_id",
    "costUnit": "cost_unit",
}
SIGNALS: tuple[str, ...] = ("spans", "logs", "metrics", "scores", "feedback")


def _one_of(label: str, value: Any, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"{label} must be one of {', '.join(valid)}; got {value!r}")


def _strings(label: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    out = tuple(value)
    for item in out:
        if not isinstance(item, str):
            raise TypeError(f"{label} must be strings, got {item!r}")
    return out


@dataclass(frozen=True)
class TimeRange:
    """``start <= t <= end`` (each bound optional; exclusive when asked)."""

    start: datetime | None = None
    end: datetime | None = None
    start_exclusive: bool = False
    end_exclusive: bool = False

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, datetime):
                    raise TypeError(f"time range {name} must be a datetime, got {value!r}")
                object.__setattr__(self, name, truncate_ms(value))

    def contains(self, value: datetime | None) -> bool:
        if value is None:
            return self.start is None and self.end is None
        if self.start is not None and (value < self.start or (
                self.start_exclusive and value == self.start)):
            return False
        return not (self.end is not None and (value > self.end or (
            self.end_exclusive and value == self.end)))


# The context columns every signal filter can match exactly (record attributes); the
# record attribute ``source`` is Mastra's ``executionSource``.
CONTEXT_FILTER_ATTRS: tuple[str, ...] = (
    "trace_id", "span_id", "entity_type", "entity_name", "entity_version_id",
    "parent_entity_version_id", "root_entity_version_id", "user_id", "organization_id",
    "experiment_id", "service_name", "environment", "parent_entity_type",
    "parent_entity_name", "root_entity_type", "root_entity_name", "resource_id", "run_id",
    "session_id", "thread_id", "request_id", "source",
)


@dataclass(frozen=True, kw_only=True)
class SignalFilter:
    """Filters shared by logs, metrics, scores and feedback (each optional, all ANDed)."""

    timestamp: TimeRange | None = None
    trace_id: str | None = None
    span_id: str | None = None
    entity_type: str | None = None
    entity_name: str | None = None
    entity_version_id: str | None = None
    parent_entity_version_id: str | None = None
    root_entity_version_id: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    experiment_id: str | None = None
    service_name: str | None = None
    environment: str | None = None
    parent_entity_type: str | None = None
    parent_entity_name: str | None = None
    root_entity_type: str | None = None
    root_entity_name: str | None = None
    resource_id: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    thread_id: str | None = None
    request_id: str | None = None
    source: str | None = None  # executionSource
    # A single string is one value; any sequence is kept as a tuple (Sequence[str] so a
    # single string type-checks: ``LogsFilter(level="error")``).
    tags: Sequence[str] | None = None  # all must be present

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _strings("tags", self.tags))
        for attr in CONTEXT_FILTER_ATTRS:
            value = getattr(self, attr)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"filter {attr} must be a string, got {type(value).__name__}")

    def equalities(self) -> list[tuple[str, str]]:
        """(record attribute, value) for each exact-match filter that is set."""
        return [(a, v) for a in CONTEXT_FILTER_ATTRS if (v := getattr(self, a)) is not None]

    def matches_context(self, record: SignalContext, timestamp: datetime) -> bool:
        """The reference semantics of the shared filters (the in-memory store's)."""
        for attr, value in self.equalities():
            if getattr(record, attr) != value:
                return False
        if self.timestamp is not None and not self.timestamp.contains(timestamp):
            return False
        if self.tags:
            have = record.tags or []
            if not all(t in have for t in self.tags):
                return False
        return True


@dataclass(frozen=True, kw_only=True)
class LogsFilter(SignalFilter):
    level: Sequence[str] | None = None
    search: str | None = None  # case-insensitive substring of the message

    def __post_init__(self) -> None:
        super().__post_init__()
        levels = _strings("level", self.level)
        for level in levels or ():
            _one_of("log level", level, LOG_LEVELS)
        object.__setattr__(self, "level", levels)


@dataclass(frozen=True, kw_only=True)
class ScoresFilter(SignalFilter):
    scorer_id: Sequence[str] | None = None
    score_source: str | None = None
    metadata: Mapping[str, Any] | None = None  # every given key equal

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "scorer_id", _strings("scorer_id", self.scorer_id))
        _check_mapping("metadata", self.metadata)


@dataclass(frozen=True, kw_only=True)
class FeedbackFilter(SignalFilter):
    feedback_type: Sequence[str] | None = None
    feedback_source: str | None = None
    feedback_user_id: str | None = None
    review_status: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "feedback_type", _strings("feedback_type", self.feedback_type))
        if self.review_status is not None:
            _one_of("review_status", self.review_status, REVIEW_STATUSES)


@dataclass(frozen=True, kw_only=True)
class MetricsFilter(SignalFilter):
    name: Sequence[str] | None = None
    trace_ids: Sequence[str] | None = None
    provider: str | None = None
    model: str | None = None
    cost_unit: str | None = None
    labels: Mapping[str, str] | None = None  # every given label equal

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "name", _strings("name", self.name))
        object.__setattr__(self, "trace_ids", _strings("trace_ids", self.trace_ids))
        _check_mapping("labels", self.labels)


def _check_mapping(label: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"{label} filter must be a mapping")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{label} filter keys must be strings, got {key!r}")


# ---------------------------------------------------------------------------- pages

@dataclass(frozen=True)
class SignalOrder:
    field: str = "timestamp"  # "timestamp" (every signal) or "score" (scores)
    direction: Literal["ASC", "DESC"] = "DESC"

    def __post_init__(self) -> None:
        _one_of("order field", self.field, ("timestamp", "score"))
        _one_of("order direction", self.direction, ("ASC", "DESC"))


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def has_more(self) -> bool:
        return (self.page + 1) * self.per_page < self.total


def check_page(page: int, per_page: int) -> None:
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise ValueError(f"page must be an integer >= 0, got {page!r}")
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not (
            1 <= per_page <= MAX_PER_PAGE):
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page!r}")


# ---------------------------------------------------------------------------- metrics

def _names(value: Any) -> tuple[str, ...]:
    names = _strings("metric names", value)
    if not names:
        raise ValueError("at least one metric name is required")
    return names


def _check_aggregation(aggregation: str, distinct_column: str | None) -> None:
    _one_of("aggregation", aggregation, AGGREGATIONS)
    if aggregation == "count_distinct":
        if distinct_column is None:
            raise ValueError("distinct_column is required when aggregation is 'count_distinct'")
        _one_of("distinct_column", distinct_column, tuple(DISTINCT_COLUMNS))


def _check_group_by(group_by: Sequence[str] | None, required: bool) -> tuple[str, ...] | None:
    if group_by is None:
        if required:
            raise ValueError("group_by needs at least one column or label key")
        return None
    out = _strings("group_by", group_by)
    if not out:
        raise ValueError("group_by needs at least one column or label key")
    return out


@dataclass(frozen=True)
class MetricAggregateRequest:
    name: tuple[str, ...]
    aggregation: str = "sum"
    filters: MetricsFilter | None = None
    distinct_column: str | None = None
    compare_period: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _names(self.name))
        _check_aggregation(self.aggregation, self.distinct_column)
        if self.compare_period is not None:
            _one_of("compare_period", self.compare_period, COMPARE_PERIODS)


@dataclass(frozen=True)
class MetricBreakdownRequest:
    name: tuple[str, ...]
    group_by: tuple[str, ...]
    aggregation: str = "sum"
    filters: MetricsFilter | None = None
    distinct_column: str | None = None
    limit: int | None = None
    order_direction: Literal["ASC", "DESC"] = "DESC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _names(self.name))
        object.__setattr__(self, "group_by", _check_group_by(self.group_by, True))
        _check_aggregation(self.aggregation, self.distinct_column)
        _one_of("order_direction", self.order_direction, ("ASC", "DESC"))
        if self.limit is not None and (not isinstance(self.limit, int) or
                                       not 1 <= self.limit <= 1000):
            raise ValueError(f"limit must be between 1 and 1000, got {self.limit!r}")


@dataclass(frozen=True)
class MetricTimeseriesRequest:
    name: tuple[str, ...]
    interval: str = "1h"
    aggregation: str = "sum"
    filters: MetricsFilter | None = None
    distinct_column: str | None = None
    group_by: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _names(self.name))
        _one_of("interval", self.interval, tuple(INTERVALS))
        _check_aggregation(self.aggregation, self.distinct_column)
        object.__setattr__(self, "group_by", _check_group_by(self.group_by, False))


@dataclass(frozen=True)
class MetricPercentilesRequest:
    name: str
    percentiles: tuple[float, ...]
    interval: str = "1h"
    filters: MetricsFilter | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("percentiles take exactly one metric name")
        values = tuple(self.percentiles)
        if not values:
            raise ValueError("at least one percentile is required")
        for p in values:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not (
                    0 <= p <= 1) or math.isnan(p):
                raise ValueError(f"percentiles must be numbers between 0 and 1, got {p!r}")
        object.__setattr__(self, "percentiles", tuple(float(p) for p in values))
        _one_of("interval", self.interval, tuple(INTERVALS))


@dataclass
class AggregateResult:
    value: float | None
    estimated_cost: float | None = None
    cost_unit: str | None = None
    previous_value: float | None = None
    change_percent: float | None = None
    previous_estimated_cost: float | None = None
    cost_change_percent: float | None = None
    compared: bool = False  # whether a comparison window was evaluated


@dataclass
class BreakdownGroup:
    dimensions: dict[str, str | None]
    value: float
    estimated_cost: float | None = None
    cost_unit: str | None = None


@dataclass
class SeriesPoint:
    timestamp: datetime
    value: float
    estimated_cost: float | None = None


@dataclass
class Series:
    name: str
    points: list[SeriesPoint] = field(default_factory=list)
    cost_unit: str | None = None


@dataclass
class PercentileSeries:
    percentile: float
    points: list[SeriesPoint] = field(default_factory=list)


def bucket_start(value: datetime, interval: str) -> datetime:
    """The UTC bucket ``value`` falls in: floor(epoch / interval) * interval."""
    step = INTERVALS[interval]
    epoch = datetime(1970, 1, 1, tzinfo=value.tzinfo)
    seconds = int((value - epoch).total_seconds() // step * step)
    return epoch + timedelta(seconds=seconds)


def comparison_window(filters: MetricsFilter | None, period: str | None
                      ) -> TimeRange | None:
    """The earlier window a KPI compares with, or None when it can't be compared (a
    comparison needs both ends of the time range, as Mastra's)."""
    if period is None or filters is None or filters.timestamp is None:
        return None
    window = filters.timestamp
    if window.start is None or window.end is None:
        return None
    if period == "previous_period":
        shift = window.end - window.start
    elif period == "previous_day":
        shift = timedelta(days=1)
    else:
        shift = timedelta(days=7)
    return TimeRange(window.start - shift, window.end - shift, window.start_exclusive,
                     window.end_exclusive)


def change_percent(value: float | None, previous: float | None) -> float | None:
    if value is None or previous is None or previous == 0:
        return None
    return (value - previous) / abs(previous) * 100


# (value, estimated cost, cost unit) of the metric rows one filter selects
Summary = tuple[float | None, float | None, str | None]


def compared_aggregate(summary: Callable[[MetricsFilter | None], Summary],
                       request: MetricAggregateRequest) -> AggregateResult:
    """A KPI from ``summary`` of the request's filters and, when the request asks for a
    comparison that can be made, the same summary of the earlier window and the change
    (one rule for every store that answers a window per call)."""
    value, cost, unit = summary(request.filters)
    result = AggregateResult(value, cost, unit)
    window = comparison_window(request.filters, request.compare_period)
    if window is not None:
        previous, previous_cost, _ = summary(replace_filter(request.filters, timestamp=window))
        result.previous_value = previous
        result.change_percent = change_percent(value, previous)
        result.previous_estimated_cost = previous_cost
        result.cost_change_percent = change_percent(cost, previous_cost)
        result.compared = True
    return result


class Feature(str, Enum):
    """What a store can answer (Mastra's ``ObservabilityStorageFeature`` names)."""

    METRICS = "metrics"
    LOGS = "logs"
    SCORES = "scores"
    FEEDBACK = "feedback"
    ENTITY_TYPE_DISCOVERY = "entity-type-discovery"
    ENTITY_NAME_DISCOVERY = "entity-name-discovery"
    SERVICE_NAME_DISCOVERY = "service-name-discovery"
    ENVIRONMENT_DISCOVERY = "environment-discovery"
    TAG_DISCOVERY = "tag-discovery"
    METRIC_DISCOVERY = "metric-discovery"
    DELTA_POLLING = "delta-polling"
    TRACE_QUERY = "trace-query"
    TRACE_QUERY_ROOT_DURATION = "trace-query-root-duration"
    TRACE_QUERY_DISCOVERY = "trace-query-discovery"
    BRANCHES = "branches"

    def __str__(self) -> str:
        return self.value


ALL_FEATURES: frozenset[Feature] = frozenset(Feature)


def replace_filter(filters: Any, **changes: Any) -> Any:
    """A copy of a frozen filter with ``changes`` applied."""
    values = {f.name: getattr(filters, f.name) for f in fields(filters)}
    values.update(changes)
    return type(filters)(**values)
