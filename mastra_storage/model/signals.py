"""Records of the four signals beside spans: logs, metrics, scores and feedback.

Their columns follow Mastra's v-next tables (``mastra_log_events``,
``mastra_metric_events``, ``mastra_score_events``, ``mastra_feedback_events``): each has
its own fields plus one shared *correlation context* (trace and span ids, the entity
hierarchy, user/session/thread/run ids, environment, service, tags, metadata, scope), so
a log or a score can be filtered the same way as the trace it belongs to.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

SignalKind = Literal["text", "json", "timestamp", "float", "tags"]

TABLE_LOGS = "mastra_log_events"
TABLE_METRICS = "mastra_metric_events"
TABLE_SCORES = "mastra_score_events"
TABLE_FEEDBACK = "mastra_feedback_events"


@dataclass(frozen=True)
class SignalColumn:
    attr: str
    name: str
    kind: SignalKind
    nullable: bool = True


class _RandomPool(threading.local):
    """Random bytes drawn from the OS 4 KiB at a time, per thread."""

    data = b""
    offset = 0


_pool = _RandomPool()
_POOL_BYTES = 4096
# The variant nibble of a version-4 UUID (RFC 9562: 10xx) from any hex digit.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def _forget_pool() -> None:
    # A forked child must not reuse the parent's unused bytes: both would make the same ids.
    global _pool
    _pool = _RandomPool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def new_signal_id() -> str:
    """A random id for a log, metric, score or feedback record (a version-4 UUID, as
    Mastra's ``crypto.randomUUID()``).

    The same 122 random bits from the OS as ``uuid.uuid4()``, read in blocks instead of
    one system call per id: derived metrics make one or more ids per ended span on the
    exporter's worker, where ``str(uuid.uuid4())`` cost about 2 µs.
    """
    pool = _pool
    at = pool.offset
    if at + 16 > len(pool.data):
        pool.data, at = os.urandom(_POOL_BYTES), 0
    pool.offset = at + 16
    h = pool.data[at:at + 16].hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _s(attr: str, name: str, kind: SignalKind = "text", nullable: bool = True) -> SignalColumn:
    return SignalColumn(attr, name, kind, nullable)


# The correlation context every signal table carries, in Mastra's column order.
CONTEXT_COLUMNS: tuple[SignalColumn, ...] = (
    _s("trace_id", "traceId"),
    _s("span_id", "spanId"),
    _s("experiment_id", "experimentId"),
    _s("entity_type", "entityType"),
    _s("entity_id", "entityId"),
    _s("entity_name", "entityName"),
    _s("entity_version_id", "entityVersionId"),
    _s("parent_entity_type", "parentEntityType"),
    _s("parent_entity_id", "parentEntityId"),
    _s("parent_entity_name", "parentEntityName"),
    _s("parent_entity_version_id", "parentEntityVersionId"),
    _s("root_entity_type", "rootEntityType"),
    _s("root_entity_id", "rootEntityId"),
    _s("root_entity_name", "rootEntityName"),
    _s("root_entity_version_id", "rootEntityVersionId"),
    _s("user_id", "userId"),
    _s("organization_id", "organizationId"),
    _s("resource_id", "resourceId"),
    _s("run_id", "runId"),
    _s("session_id", "sessionId"),
    _s("thread_id", "threadId"),
    _s("request_id", "requestId"),
    _s("environment", "environment"),
    _s("source", "executionSource"),
    _s("service_name", "serviceName"),
)
# Trailing shared columns (after each signal's own ones in Mastra's DDL).
TAIL_COLUMNS: tuple[SignalColumn, ...] = (
    _s("tags", "tags", "tags", nullable=False),
    _s("metadata", "metadata", "json"),
    _s("scope", "scope", "json"),
)
CONTEXT_ATTRS: tuple[str, ...] = tuple(c.attr for c in CONTEXT_COLUMNS + TAIL_COLUMNS)


@dataclass(slots=True, kw_only=True)
class SignalContext:
    """The correlation fields shared by every signal record (all optional)."""

    trace_id: str | None = None
    span_id: str | None = None
    experiment_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    entity_name: str | None = None
    entity_version_id: str | None = None
    parent_entity_type: str | None = None
    parent_entity_id: str | None = None
    parent_entity_name: str | None = None
    parent_entity_version_id: str | None = None
    root_entity_type: str | None = None
    root_entity_id: str | None = None
    root_entity_name: str | None = None
    root_entity_version_id: str | None = None
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
    tags: list[str] | None = None
    metadata: Any = None
    scope: Any = None


@dataclass(slots=True)
class LogRecord(SignalContext):
    timestamp: datetime
    level: str
    message: str
    data: Any = None
    log_id: str = field(default_factory=new_signal_id)


@dataclass(slots=True)
class MetricRecord(SignalContext):
    timestamp: datetime
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    provider: str | None = None
    model: str | None = None
    estimated_cost: float | None = None
    cost_unit: str | None = None
    cost_metadata: Any = None
    metric_id: str = field(default_factory=new_signal_id)


@dataclass(slots=True)
class ScoreRecord(SignalContext):
    timestamp: datetime
    scorer_id: str
    score: float
    reason: str | None = None
    scorer_version: str | None = None
    score_source: str | None = None
    score_trace_id: str | None = None
    score_id: str = field(default_factory=new_signal_id)


@dataclass(slots=True)
class FeedbackRecord(SignalContext):
    """A feedback record; its value is a number or a text (``value_number`` /
    ``value_string``, one of them set), as in Mastra's table."""

    timestamp: datetime
    feedback_type: str
    feedback_source: str
    value_string: str | None = None
    value_number: float | None = None
    comment: str | None = None
    feedback_user_id: str | None = None
    source_id: str | None = None
    review_status: str = "needs-review"
    feedback_id: str = field(default_factory=new_signal_id)

    @property
    def value(self) -> float | str | None:
        return self.value_number if self.value_number is not None else self.value_string


LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warn", "error", "fatal")
REVIEW_STATUSES: tuple[str, ...] = ("needs-review", "reviewed")



LOG_COLUMNS: tuple[SignalColumn, ...] = (
    _s("log_id", "logId", nullable=False),
    _s("timestamp", "timestamp", "timestamp", nullable=False),
    _s("level", "level", nullable=False),
    _s("message", "message", nullable=False),
    *CONTEXT_COLUMNS,
    _s("tags", "tags", "tags", nullable=False),
    _s("data", "data", "json"),
    _s("metadata", "metadata", "json"),
    _s("scope", "scope", "json"),
)
METRIC_COLUMNS: tuple[SignalColumn, ...] = (
    _s("metric_id", "metricId", nullable=False),
    _s("timestamp", "timestamp", "timestamp", nullable=False),
    _s("name", "name", nullable=False),
    _s("value", "value", "float", nullable=False),
    *CONTEXT_COLUMNS,
    _s("provider", "provider"),
    _s("model", "model"),
    _s("estimated_cost", "estimatedCost", "float"),
    _s("cost_unit", "costUnit"),
    _s("tags", "tags", "tags", nullable=False),
    _s("labels", "labels", "json", nullable=False),
    _s("cost_metadata", "costMetadata", "json"),
    _s("metadata", "metadata", "json"),
    _s("scope", "scope", "json"),
)
SCORE_COLUMNS: tuple[SignalColumn, ...] = (
    _s("score_id", "scoreId", nullable=False),
    _s("timestamp", "timestamp", "timestamp", nullable=False),
    _s("scorer_id", "scorerId", nullable=False),
    _s("scorer_version", "scorerVersion"),
    _s("score_source", "scoreSource"),
    _s("score", "score", "float", nullable=False),
    _s("reason", "reason"),
    *CONTEXT_COLUMNS,
    _s("score_trace_id", "scoreTraceId"),
    *TAIL_COLUMNS,
)
FEEDBACK_COLUMNS: tuple[SignalColumn, ...] = (
    _s("feedback_id", "feedbackId", nullable=False),
    _s("timestamp", "timestamp", "timestamp", nullable=False),
    _s("feedback_source", "feedbackSource", nullable=False),
    _s("feedback_type", "feedbackType", nullable=False),
    _s("value_string", "valueString"),
    _s("value_number", "valueNumber", "float"),
    _s("comment", "comment"),
    _s("feedback_user_id", "feedbackUserId"),
    _s("source_id", "sourceId"),
    _s("review_status", "reviewStatus", nullable=False),
    *CONTEXT_COLUMNS,
    *TAIL_COLUMNS,
)


@dataclass(frozen=True)
class SignalTable:
    """A signal's table: its name, record class, columns and id column."""

    signal: str  # "logs", "metrics", "scores", "feedback"
    table: str
    record: type[SignalContext]
    columns: tuple[SignalColumn, ...]
    id_attr: str


SIGNAL_TABLES: dict[str, SignalTable] = {
    "logs": SignalTable("logs", TABLE_LOGS, LogRecord, LOG_COLUMNS, "log_id"),
    "metrics": SignalTable("metrics", TABLE_METRICS, MetricRecord, METRIC_COLUMNS, "metric_id"),
    "scores": SignalTable("scores", TABLE_SCORES, ScoreRecord, SCORE_COLUMNS, "score_id"),
    "feedback": SignalTable("feedback", TABLE_FEEDBACK, FeedbackRecord, FEEDBACK_COLUMNS,
                            "feedback_id"),
}

for _t in SIGNAL_TABLES.values():
    _attrs = {f.name for f in fields(_t.record)}
    _cols = {c.attr for c in _t.columns}
    assert _attrs == _cols, (_t.signal, _attrs ^ _cols)
