"""The shared suite for logs, metrics, scores, feedback and the newer span reads.

Runs unchanged against every backend (the ``store`` fixture); every answer is compared
with values computed by hand from the seeded data, so a backend that computes an
aggregate, a percentile or a trace-query predicate differently fails here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mastra_storage.model.signals import FeedbackRecord, LogRecord, MetricRecord, ScoreRecord
from mastra_storage.storage import TracesFilter, TracesOrderBy
from mastra_storage.storage.signal_queries import (
    FeedbackFilter,
    LogsFilter,
    MetricAggregateRequest,
    MetricBreakdownRequest,
    MetricPercentilesRequest,
    MetricsFilter,
    MetricTimeseriesRequest,
    ScoresFilter,
    SignalOrder,
    TimeRange,
)
from mastra_storage.storage.trace_query import (
    TraceQueryCursorError,
    TraceQueryError,
    plan_suggestions,
    plan_trace_query,
)

from .factories import span, tid

T0 = datetime(2026, 11, 2, 10, 0, 0, tzinfo=timezone.utc)


def ts(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass
class Seeded:
    traces: dict[str, str] = field(default_factory=dict)  # label -> trace id
    spans: dict[str, Any] = field(default_factory=dict)  # label -> span id


def seed_spans(store: Any, running: bool = True) -> Seeded:
    """Three ended traces and one running one, with children, errors and tags. A store
    that can't hold a running span (insert-only layouts) gets nothing of the running
    trace, as its exporter would write nothing until the trace ends."""
    s = Seeded()
    s.traces = {k: tid() for k in ("agent", "workflow", "failed", "running")}
    a, w, f, r = (s.traces[k] for k in ("agent", "workflow", "failed", "running"))
    base = (T0 - datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)).total_seconds()
    spans = [
        span(a, "a0", start=base, end=base + 5, name="support-agent", span_type="agent_run",
             entity_type="agent", entity_id="support", entity_name="support",
             thread_id="th-1", resource_id="res-1", environment="prod", service_name="svc",
             tags=["vip", "beta"], metadata={"tier": "gold", "n": 3},
             input={"messages": [{"role": "system", "content": "be nice"},
                                 {"role": "user", "content": "where is my order?"}]}),
        span(a, "a1", parent="a0", start=base + 1, end=base + 2, name="gpt-4o",
             span_type="model_generation", entity_type="agent", entity_name="support",
             attributes={"model": "gpt-4o", "provider": "openai"}),
        span(a, "a2", parent="a0", start=base + 2, end=base + 3, name="lookup",
             span_type="tool_call", entity_type="tool", entity_name="lookup",
             error={"message": "timeout", "name": "TimeoutError"}),
        span(a, "a3", parent="a2", start=base + 2.5, end=base + 2.8, name="db",
             span_type="generic"),
        span(w, "w0", start=base + 60, end=base + 70, name="etl", span_type="workflow_run",
             entity_type="workflow_run", entity_name="etl", thread_id="th-1",
             environment="dev", service_name="svc", tags=["beta"],
             metadata={"tier": "silver"}, input="plain text input"),
        span(w, "w1", parent="w0", start=base + 61, end=base + 62, name="step-1",
             span_type="workflow_step", entity_type="workflow_step", entity_name="step-1"),
        span(f, "f0", start=base + 120, end=base + 121, name="support-agent",
             span_type="agent_run", entity_type="agent", entity_name="support",
             environment="prod", service_name="svc2", tags=[],
             error={"message": "boom", "name": "RuntimeError"}, input={"q": 1}),
    ]
    if running:
        spans.append(span(r, "r0", start=base + 180, end=None, name="support-agent",
                          span_type="agent_run", entity_type="agent", entity_name="support",
                          environment="prod"))
    store.batch_create_spans(spans)
    return s


CTX: dict[str, Any] = dict(service_name="svc", environment="prod", entity_type="agent",
                           entity_name="support")


def seed_signals(store: Any, s: Seeded) -> None:
    a, w = s.traces["agent"], s.traces["workflow"]
    store.batch_create_logs([
        LogRecord(timestamp=ts(0), level="info", message="started run", trace_id=a,
                  span_id="a0", tags=["vip"], data={"k": 1}, log_id="l1", **CTX),
        LogRecord(timestamp=ts(1), level="warn", message="Slow TOOL call", trace_id=a,
                  span_id="a2", log_id="l2", **CTX),
        LogRecord(timestamp=ts(2), level="error", message="tool failed", trace_id=a,
                  span_id="a2", tags=["vip", "beta"], log_id="l3", **CTX),
        LogRecord(timestamp=ts(61), level="info", message="etl begins", trace_id=w,
                  environment="dev", service_name="svc", entity_type="workflow_run",
                  entity_name="etl", log_id="l4"),
        LogRecord(timestamp=ts(62), level="debug", message="no trace here", log_id="l5",
                  environment="dev"),
    ])
    metrics = [
        # tokens: 2 models, 2 hours
        MetricRecord(timestamp=ts(1), name="tokens_in", value=100, provider="openai",
                     model="gpt-4o", estimated_cost=0.001, cost_unit="USD", trace_id=a,
                     metric_id="m1", **CTX),
        MetricRecord(timestamp=ts(2), name="tokens_in", value=300, provider="openai",
                     model="gpt-4o-mini", estimated_cost=0.002, cost_unit="USD", trace_id=a,
                     metric_id="m2", **CTX),
        MetricRecord(timestamp=ts(65), name="tokens_in", value=50, provider="anthropic",
                     model="claude", estimated_cost=0.004, cost_unit="USD", trace_id=w,
                     metric_id="m3", environment="dev", service_name="svc",
                     entity_type="workflow_run", entity_name="etl"),
        MetricRecord(timestamp=ts(3), name="tokens_out", value=20, provider="openai",
                     model="gpt-4o", trace_id=a, metric_id="m4", **CTX),
    ]
    # durations: 10 values 10..100 in the first hour, labels status ok/error
    for i in range(10):
        metrics.append(MetricRecord(
            timestamp=ts(10 + i), name="duration_ms", value=float(10 * (i + 1)),
            labels={"status": "error" if i % 5 == 0 else "ok"}, metric_id=f"d{i}",
            **CTX))
    metrics.append(MetricRecord(timestamp=ts(70), name="duration_ms", value=7.0,
                                labels={"status": "ok"}, metric_id="d10", **CTX))
    store.batch_create_metrics(metrics)
    store.batch_create_scores([
        ScoreRecord(timestamp=ts(6), scorer_id="relevance", score=0.9, reason="on topic",
                    trace_id=a, span_id="a0", score_source="live", metadata={"rubric": "v1"},
                    score_id="s1", **CTX),
        ScoreRecord(timestamp=ts(7), scorer_id="toxicity", score=0.1, trace_id=a,
                    score_source="test", score_id="s2", **CTX),
        ScoreRecord(timestamp=ts(71), scorer_id="relevance", score=0.4, trace_id=w,
                    score_id="s3", metadata={"rubric": "v2"}, environment="dev"),
    ])
    store.batch_create_feedback([
        FeedbackRecord(timestamp=ts(8), feedback_type="thumbs", feedback_source="user",
                       value_string="up", trace_id=a, comment="great", feedback_id="f1",
                       feedback_user_id="u-1", **CTX),
        FeedbackRecord(timestamp=ts(9), feedback_type="rating", feedback_source="user",
                       value_number=4.0, trace_id=a, feedback_id="f2", **CTX),
        FeedbackRecord(timestamp=ts(72), feedback_type="rating", feedback_source="reviewer",
                       value_number=2.0, trace_id=w, feedback_id="f3",
                       review_status="reviewed", environment="dev"),
    ])


# Backends whose stores implement the signals so far (work in progress: the others are
# expected to fail until their implementation lands).
IMPLEMENTED = {"memory", "clickhouse", "mongodb", "sqlite", "libsql", "postgres",
               "clickhouse-vnext", "postgres-vnext"}


@pytest.fixture(autouse=True)
def _implemented(backend: Any) -> None:
    if backend.name not in IMPLEMENTED:
        pytest.xfail(f"signals are not implemented for {backend.name} yet")


@pytest.fixture
def seeded(store: Any, backend: Any) -> Seeded:
    s = seed_spans(store, running="running-spans" not in backend.lacks)
    seed_signals(store, s)
    return s


# ---------------------------------------------------------------------------- logs

def test_logs_list_newest_first_with_pagination(store, seeded):
    page = store.list_logs(per_page=2)
    assert page.total == 5 and [r.log_id for r in page.items] == ["l5", "l4"]
    assert page.has_more
    last = store.list_logs(page=2, per_page=2)
    assert [r.log_id for r in last.items] == ["l1"] and not last.has_more
    asc = store.list_logs(order=SignalOrder("timestamp", "ASC"), per_page=3)
    assert [r.log_id for r in asc.items] == ["l1", "l2", "l3"]


def test_logs_round_trip_every_field(store, seeded):
    (log,) = store.list_logs(LogsFilter(trace_id=seeded.traces["agent"], span_id="a0")).items
    assert log.level == "info" and log.message == "started run" and log.data == {"k": 1}
    assert log.tags == ["vip"] and log.timestamp == ts(0)
    assert (log.service_name, log.environment, log.entity_type, log.entity_name) == (
        "svc", "prod", "agent", "support")


@pytest.mark.parametrize(("filters", "expected"), [
    (LogsFilter(level=("warn", "error")), {"l2", "l3"}),
    (LogsFilter(level="info"), {"l1", "l4"}),
    (LogsFilter(environment="dev"), {"l4", "l5"}),
    (LogsFilter(tags=("vip",)), {"l1", "l3"}),
    (LogsFilter(tags=("vip", "beta")), {"l3"}),
    (LogsFilter(search="tool"), {"l2", "l3"}),  # case-insensitive
    (LogsFilter(timestamp=TimeRange(ts(1), ts(61))), {"l2", "l3", "l4"}),
    (LogsFilter(timestamp=TimeRange(ts(1), ts(61), start_exclusive=True,
                                    end_exclusive=True)), {"l3"}),
    (LogsFilter(entity_name="etl", entity_type="workflow_run"), {"l4"}),
    (LogsFilter(search="'; DROP TABLE mastra_log_events; --"), set()),
])
def test_logs_filters(store, seeded, filters, expected):
    assert {r.log_id for r in store.list_logs(filters, per_page=100).items} == expected


def test_invalid_log_level_names_the_valid_ones():
    with pytest.raises(ValueError, match="debug, info, warn, error, fatal"):
        LogsFilter(level="verbose")


def test_a_retried_log_batch_is_stored_once(store):
    logs = [LogRecord(timestamp=ts(0), level="info", message="once", log_id="dup")]
    store.batch_create_logs(logs)
    store.batch_create_logs(logs)
    assert store.list_logs().total == 1


# ---------------------------------------------------------------------------- metrics

def agg(store: Any, names: Any, aggregation: str, **kw: Any) -> Any:
    return store.metric_aggregate(MetricAggregateRequest(names, aggregation, **kw))


@pytest.mark.parametrize(("aggregation", "expected"), [
    ("sum", 450.0), ("avg", 150.0), ("min", 50.0), ("max", 300.0), ("count", 3.0),
    ("last", 50.0),
])
def test_metric_aggregations(store, seeded, aggregation, expected):
    result = agg(store, ["tokens_in"], aggregation)
    assert result.value == pytest.approx(expected)
    assert result.estimated_cost == pytest.approx(0.007) and result.cost_unit == "USD"


def test_metric_count_distinct_and_several_names(store, seeded):
    assert agg(store, ["tokens_in"], "count_distinct",
               distinct_column="model").value == 3
    assert agg(store, ["tokens_in", "tokens_out"], "sum").value == pytest.approx(470)
    with pytest.raises(ValueError, match="distinct_column is required"):
        MetricAggregateRequest(("tokens_in",), "count_distinct")


def test_unknown_metric_names_aggregate_to_nothing(store, seeded):
    empty = agg(store, ["no_such_metric"], "sum")
    assert empty.value is None and empty.estimated_cost is None
    assert agg(store, ["no_such_metric"], "count_distinct",
               distinct_column="model").value == 0


def test_metric_filters(store, seeded):
    f = MetricsFilter(environment="prod", provider="openai")
    assert agg(store, ["tokens_in"], "sum", filters=f).value == pytest.approx(400)
    f = MetricsFilter(labels={"status": "error"})
    assert agg(store, ["duration_ms"], "sum", filters=f).value == pytest.approx(10 + 60)
    f = MetricsFilter(trace_ids=(seeded.traces["workflow"],))
    assert agg(store, ["tokens_in"], "sum", filters=f).value == pytest.approx(50)
    f = MetricsFilter(timestamp=TimeRange(ts(0), ts(2)))
    assert agg(store, ["tokens_in"], "sum", filters=f).value == pytest.approx(400)
    page = store.list_metrics(MetricsFilter(name=("tokens_out",)))
    assert [m.metric_id for m in page.items] == ["m4"] and page.items[0].value == 20


def test_metric_aggregate_compares_with_the_previous_period(store, seeded):
    window = TimeRange(ts(60), ts(120))  # previous_period = ts(0)..ts(60)
    result = agg(store, ["tokens_in"], "sum", filters=MetricsFilter(timestamp=window),
                 compare_period="previous_period")
    assert result.value == pytest.approx(50) and result.previous_value == pytest.approx(400)
    assert result.change_percent == pytest.approx((50 - 400) / 400 * 100)
    assert result.previous_estimated_cost == pytest.approx(0.003)
    assert result.cost_change_percent == pytest.approx((0.004 - 0.003) / 0.003 * 100)
    no_window = agg(store, ["tokens_in"], "sum", compare_period="previous_day")
    assert no_window.previous_value is None and not no_window.compared


def test_metric_breakdown_by_column_and_label(store, seeded):
    groups = store.metric_breakdown(MetricBreakdownRequest(("tokens_in",), ("model",)))
    assert [(g.dimensions, g.value) for g in groups] == [
        ({"model": "gpt-4o-mini"}, 300), ({"model": "gpt-4o"}, 100), ({"model": "claude"}, 50)]
    assert groups[0].estimated_cost == pytest.approx(0.002) and groups[0].cost_unit == "USD"
    asc = store.metric_breakdown(MetricBreakdownRequest(
        ("tokens_in",), ("model",), order_direction="ASC", limit=2))
    assert [g.dimensions["model"] for g in asc] == ["claude", "gpt-4o"]
    by_label = store.metric_breakdown(MetricBreakdownRequest(
        ("duration_ms",), ("status",), aggregation="count"))
    assert {g.dimensions["status"]: g.value for g in by_label} == {"ok": 9, "error": 2}
    two = store.metric_breakdown(MetricBreakdownRequest(
        ("tokens_in",), ("provider", "environment"), aggregation="count"))
    assert {(g.dimensions["provider"], g.dimensions["environment"]): g.value for g in two} == {
        ("openai", "prod"): 2, ("anthropic", "dev"): 1}


def test_metric_timeseries_buckets(store, seeded):
    (series,) = store.metric_timeseries(MetricTimeseriesRequest(("tokens_in",), "1h"))
    assert series.name == "tokens_in" and series.cost_unit == "USD"
    assert [(p.timestamp, p.value) for p in series.points] == [
        (T0, 400), (T0 + timedelta(hours=1), 50)]
    assert series.points[0].estimated_cost == pytest.approx(0.003)
    grouped = store.metric_timeseries(MetricTimeseriesRequest(
        ("duration_ms",), "1h", aggregation="max", group_by=("status",)))
    got = {s.name: [(p.timestamp, p.value) for p in s.points] for s in grouped}
    assert got == {"ok": [(T0, 100), (T0 + timedelta(hours=1), 7)], "error": [(T0, 60)]}
    (empty,) = store.metric_timeseries(MetricTimeseriesRequest(("nothing",), "5m"))
    assert empty.points == []


def test_metric_percentiles_interpolate(store, seeded):
    series = store.metric_percentiles(MetricPercentilesRequest(
        "duration_ms", (0.5, 0.95, 0.0, 1.0), "1h"))
    first = [s.points[0].value for s in series]
    # 10..100 step 10: p50 = 55, p95 = 95.5, min, max
    assert first == pytest.approx([55.0, 95.5, 10.0, 100.0])
    assert [s.points[1].value for s in series] == pytest.approx([7.0] * 4)
    assert [s.percentile for s in series] == [0.5, 0.95, 0.0, 1.0]


@pytest.mark.parametrize("bad", [
    lambda: MetricAggregateRequest(("x",), "median"),
    lambda: MetricTimeseriesRequest(("x",), "2h"),
    lambda: MetricPercentilesRequest("x", (1.5,)),
    lambda: MetricPercentilesRequest("x", (math.nan,)),
    lambda: MetricBreakdownRequest(("x",), ()),
    lambda: MetricAggregateRequest((), "sum"),
])
def test_bad_metric_requests_are_clear_errors(bad):
    with pytest.raises(ValueError):
        bad()


# ---------------------------------------------------------------------------- scores, feedback

def test_scores_list_get_and_filters(store, seeded):
    page = store.list_scores()
    assert [s.score_id for s in page.items] == ["s3", "s2", "s1"]
    by_score = store.list_scores(order=SignalOrder("score", "DESC"))
    assert [s.score_id for s in by_score.items] == ["s1", "s3", "s2"]
    rel = store.list_scores(ScoresFilter(scorer_id="relevance"))
    assert {s.score_id for s in rel.items} == {"s1", "s3"}
    assert {s.score_id for s in store.list_scores(ScoresFilter(
        metadata={"rubric": "v1"})).items} == {"s1"}
    assert {s.score_id for s in store.list_scores(ScoresFilter(
        score_source="test")).items} == {"s2"}
    got = store.get_score("s1")
    assert got is not None and got.score == pytest.approx(0.9) and got.reason == "on topic"
    assert got.trace_id == seeded.traces["agent"] and got.metadata == {"rubric": "v1"}
    assert store.get_score("nope") is None


def test_feedback_list_filters_and_review(store, seeded):
    page = store.list_feedback()
    assert [f.feedback_id for f in page.items] == ["f3", "f2", "f1"]
    values = {f.feedback_id: f.value for f in page.items}
    assert values == {"f3": 2.0, "f2": 4.0, "f1": "up"}
    assert {f.feedback_id for f in store.list_feedback(FeedbackFilter(
        review_status="needs-review")).items} == {"f1", "f2"}
    assert {f.feedback_id for f in store.list_feedback(FeedbackFilter(
        feedback_type="rating", trace_id=seeded.traces["agent"])).items} == {"f2"}
    updated = store.update_feedback_review_status("f1", "reviewed")
    assert updated is not None and updated.review_status == "reviewed"
    assert store.update_feedback_review_status("missing", "reviewed") is None
    assert {f.feedback_id for f in store.list_feedback(FeedbackFilter(
        review_status="reviewed")).items} == {"f1", "f3"}


# ---------------------------------------------------------------------------- discovery

def test_discovery(store, seeded):
    assert store.discover_entity_types() == sorted(
        ["agent", "tool", "workflow_run", "workflow_step"])
    assert store.discover_entity_names("agent") == ["support"]
    assert set(store.discover_entity_names()) >= {"etl", "lookup", "step-1", "support"}
    assert store.discover_service_names() == ["svc", "svc2"]
    assert store.discover_environments() == ["dev", "prod"]
    assert store.discover_tags() == ["beta", "vip"]
    assert store.discover_tags("workflow_run") == ["beta"]
    assert store.discover_metric_names() == ["duration_ms", "tokens_in", "tokens_out"]
    assert store.discover_metric_names(prefix="tok", limit=1) == ["tokens_in"]
    assert store.discover_metric_label_keys("duration_ms") == ["status"]
    assert store.discover_metric_label_values("duration_ms", "status") == ["error", "ok"]
    assert store.discover_metric_label_values("duration_ms", "status", prefix="o") == ["ok"]


# ---------------------------------------------------------------------------- newer span reads

@pytest.mark.needs("running-spans")
def test_light_list_has_status_and_previews(store, seeded):
    page = store.list_traces_light(per_page=10)
    by_trace = {s.trace_id: s for s in page.spans}
    a = by_trace[seeded.traces["agent"]]
    assert a.input_preview == "where is my order?" and a.status == "success"
    assert a.metadata == {"tier": "gold", "n": 3}
    assert by_trace[seeded.traces["workflow"]].input_preview == "plain text input"
    assert by_trace[seeded.traces["failed"]].input_preview == '{"q":1}'
    assert by_trace[seeded.traces["failed"]].status == "error"
    assert by_trace[seeded.traces["running"]].status == "running"
    assert page.total == 4


def test_structure_spans_and_branches(store, seeded):
    a = seeded.traces["agent"]
    structure = store.get_structure(a)
    assert [s.span_id for s in structure.spans] == ["a0", "a1", "a2", "a3"]
    assert all(s.input is None and s.attributes is None for s in structure.spans)
    got = store.get_spans(a, ["a3", "a1", "zz"])
    assert sorted(s.span_id for s in got) == ["a1", "a3"]
    assert got[0].attributes is not None or got[1].attributes is not None
    branch = store.get_branch(a, "a2")
    assert [s.span_id for s in branch.spans] == ["a2", "a3"]
    assert [s.span_id for s in store.get_branch(a, "a0", depth=1).spans] == ["a0", "a1", "a2"]
    assert [s.span_id for s in store.get_branch(a, "a0", depth=0).spans] == ["a0"]
    assert store.get_branch(a, "nope") is None


@pytest.mark.needs("running-spans")
def test_list_branches_finds_anchors_anywhere(store, seeded):
    page = store.list_branches(per_page=100)
    assert {s.span_id for s in page.spans} == {"a0", "a2", "w0", "f0", "r0"}
    tools = store.list_branches(TracesFilter(span_type="tool_call"))
    assert [s.span_id for s in tools.spans] == ["a2"] and tools.spans[0].status == "error"
    agents = store.list_branches(TracesFilter(entity_name="support", status="success"))
    assert [s.span_id for s in agents.spans] == ["a0"]


# ---------------------------------------------------------------------------- trace query

def query(store: Any, where: Any = None, **body: Any) -> Any:
    req = {"timeRange": {"from": iso(T0 - timedelta(hours=1)),
                         "to": iso(T0 + timedelta(days=1))}, **body}
    if where is not None:
        req["where"] = where
    return store.query_traces(plan_trace_query(req))


def eq(path: str, literal: Any, op: str = "eq") -> dict[str, Any]:
    return {"op": op, "left": {"path": path}, "right": {"literal": literal}}


def names(result: Any, seeded: Seeded) -> set[str]:
    labels = {v: k for k, v in seeded.traces.items()}
    return {labels[r.trace_id] for r in result.rows}


def test_trace_query_population_is_ended_roots_newest_first(store, seeded):
    result = query(store)
    assert [r.trace_id for r in result.rows] == [
        seeded.traces["failed"], seeded.traces["workflow"], seeded.traces["agent"]]
    row = next(r for r in result.rows if r.trace_id == seeded.traces["agent"])
    assert (row.root_span_id, row.name, row.entity_type, row.thread_id) == (
        "a0", "support-agent", "agent", "th-1")
    assert row.input_preview == "where is my order?" and row.status == "success"
    assert row.created_at == row.started_at and row.metadata == {"tier": "gold", "n": 3}
    assert result.next_cursor is None


@pytest.mark.parametrize(("where", "expected"), [
    (eq("status", "error"), {"failed"}),
    (eq("status", "error", "ne"), {"agent", "workflow"}),
    (eq("environment", "prod"), {"agent", "failed"}),
    (eq("threadId", "th-1", "ne"), {"failed"}),  # ne matches a missing value
    ({"op": "in", "value": {"path": "entityName"}, "set": ["etl", "support"]},
     {"agent", "workflow", "failed"}),
    ({"op": "notIn", "value": {"path": "threadId"}, "set": ["th-1"]}, {"failed"}),
    ({"op": "exists", "path": "threadId"}, {"agent", "workflow"}),
    ({"op": "notExists", "path": "threadId"}, {"failed"}),
    ({"op": "includes", "path": "tags", "value": "vip"}, {"agent"}),
    ({"op": "notIncludes", "path": "tags", "value": "vip"}, {"workflow"}),
    ({"op": "exists", "path": "tags"}, {"agent", "workflow"}),
    ({"op": "notExists", "path": "tags"}, {"failed"}),
    (eq("metadata.tier", "gold"), {"agent"}),
    (eq("metadata.n", "3"), set()),  # only text metadata values count
    (eq("durationMs", 5000, "gte"), {"agent", "workflow"}),
    (eq("durationMs", 5000, "lt"), {"failed"}),
    (eq("startedAt", iso(T0 + timedelta(seconds=60)), "gte"), {"workflow", "failed"}),
    ({"op": "and", "args": [eq("environment", "prod"), eq("status", "success")]}, {"agent"}),
    ({"op": "or", "args": [eq("environment", "dev"), eq("status", "error")]},
     {"workflow", "failed"}),
    ({"op": "not", "arg": eq("environment", "prod")}, {"workflow"}),
    ({"spans": {"some": eq("spanType", "tool_call")}}, {"agent"}),
    ({"spans": {"none": {"op": "exists", "path": "error"}}}, {"workflow"}),
    ({"spans": {"some": {"op": "and", "args": [eq("model", "gpt-4o"),
                                               eq("provider", "openai")]}}}, {"agent"}),
    ({"spans": {"some": eq("durationMs", 900, "gt")}}, {"agent", "workflow", "failed"}),
    ({"scores": {"some": eq("score", 0.5, "gte")}}, {"agent"}),
    ({"scores": {"some": eq("scorerId", "relevance")}}, {"agent", "workflow"}),
    ({"scores": {"none": {"op": "exists", "path": "spanId"}}}, {"workflow", "failed"}),
    ({"feedback": {"some": eq("value", 3, "gt")}}, {"agent"}),
    ({"feedback": {"some": eq("value", "up")}}, {"agent"}),
    ({"feedback": {"some": {"op": "exists", "path": "comment"}}}, {"agent"}),
    (eq("entityName", "x'; DROP TABLE mastra_ai_spans; --"), set()),
])
def test_trace_query_predicates(store, seeded, where, expected):
    assert names(query(store, where), seeded) == expected


def test_trace_query_keyset_pages_never_skip_or_repeat(store, seeded):
    first = query(store, page={"limit": 2})
    assert len(first.rows) == 2 and first.next_cursor
    second = query(store, page={"limit": 2, "after": first.next_cursor})
    assert second.next_cursor is None
    seen = [r.trace_id for r in first.rows + second.rows]
    assert len(seen) == len(set(seen)) == 3
    asc = query(store, orderBy=[{"field": "endedAt", "direction": "asc"}], page={"limit": 1})
    assert asc.rows[0].trace_id == seeded.traces["agent"]
    with pytest.raises(TraceQueryCursorError) as conflict:
        query(store, where=eq("status", "error"), page={"limit": 1, "after": first.next_cursor})
    assert conflict.value.conflict
    numbered = query(store, pagination={"page": 1, "perPage": 2})
    assert numbered.total == 3 and len(numbered.rows) == 1


def test_trace_query_limits_are_enforced():
    deep: Any = eq("status", "error")
    for _ in range(12):
        deep = {"op": "not", "arg": deep}
    wide = {"op": "or", "args": [eq("status", "error")] * 100}
    for where in (deep, wide):
        with pytest.raises(TraceQueryError) as err:
            plan_trace_query({"timeRange": {"from": iso(T0), "to": iso(T0 + timedelta(1))},
                              "where": where})
        assert err.value.issues[0].code == "predicate_too_complex"
    with pytest.raises(TraceQueryError) as err:
        plan_trace_query({"timeRange": {"from": iso(T0), "to": iso(T0 + timedelta(32))}})
    assert err.value.issues[0].code == "time_range_too_large"
    with pytest.raises(TraceQueryError) as err:
        plan_trace_query({"timeRange": {"from": iso(T0), "to": iso(T0 + timedelta(1))},
                          "where": eq("input", "x")})
    assert err.value.issues[0].code == "field_not_allowed"


@pytest.mark.parametrize("where,code", [
    (eq("metadata.tier", "a\ud800b"), "invalid_literal"),
    (eq("metadata.k\udfff", "x"), "invalid_field"),
])
def test_trace_query_refuses_text_no_store_can_hold(where, code):
    """A lone surrogate is an invalid query, not an encoding error from deep inside."""
    with pytest.raises(TraceQueryError) as err:
        plan_trace_query({"timeRange": {"from": iso(T0), "to": iso(T0 + timedelta(1))},
                          "where": where})
    assert err.value.issues[0].code == code


def test_trace_query_literal_with_nul_matches_what_was_stored(store, seeded):
    """Stored text holds NUL as U+FFFD; a literal with NUL finds it (not a driver error)."""
    base = (T0 - datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)).total_seconds()
    nul = tid()
    store.batch_create_spans([span(nul, "n0", start=base + 240, end=base + 241, name="nul",
                                   span_type="agent_run", metadata={"tier": "x\x00y"})])
    assert [r.trace_id for r in query(store, eq("metadata.tier", "x\x00y")).rows] == [nul]
    assert query(store, eq("metadata.tier", "x")).rows == []


def test_trace_query_field_and_value_suggestions(store, seeded):
    window = {"from": iso(T0 - timedelta(hours=1)), "to": iso(T0 + timedelta(days=1))}
    fields = store.trace_query_fields(plan_suggestions(
        {"timeRange": window, "predicateScope": "trace"}, with_path=False))
    assert [(f.path, f.occurrences) for f in fields.observed] == [("metadata.tier", 2)]
    values = store.trace_query_values(plan_suggestions(
        {"timeRange": window, "predicateScope": "trace", "path": "environment"},
        with_path=True))
    assert values.values == [("prod", 2), ("dev", 1)]
    tags = store.trace_query_values(plan_suggestions(
        {"timeRange": window, "predicateScope": "trace", "path": "tags"}, with_path=True))
    assert tags.values == [("beta", 2), ("vip", 1)]
    spans = store.trace_query_values(plan_suggestions(
        {"timeRange": window, "predicateScope": "spans", "path": "spanType", "limit": 2},
        with_path=True))
    assert spans.values[0] == ("agent_run", 2) and spans.truncated
    meta = store.trace_query_values(plan_suggestions(
        {"timeRange": window, "predicateScope": "trace", "path": "metadata.tier",
         "search": "GOL"}, with_path=True))
    assert meta.values == [("gold", 1)]


# ---------------------------------------------------------------------------- retention

def test_deleting_traces_removes_their_signals(store, seeded):
    store.batch_delete_traces([seeded.traces["agent"]])
    assert store.list_logs().total == 2
    assert {s.score_id for s in store.list_scores().items} == {"s3"}
    assert {f.feedback_id for f in store.list_feedback().items} == {"f3"}
    assert store.list_metrics(MetricsFilter(trace_ids=(seeded.traces["agent"],))).total == 0


@pytest.mark.needs("running-spans")
def test_prune_deletes_old_traces_and_signals_consistently(store, seeded):
    cutoff = T0 + timedelta(seconds=90)  # agent and workflow roots started before
    counts = store.prune(cutoff)
    assert counts["spans"] == 6
    remaining = {r.trace_id for r in store.list_traces(per_page=100).spans}
    assert remaining == {seeded.traces["failed"], seeded.traces["running"]}
    # l5 is newer than the cutoff and belongs to no trace; the other logs are old or
    # belong to a pruned trace
    assert [r.log_id for r in store.list_logs().items] == ["l5"]
    assert counts["logs"] == 4 and counts["scores"] == 3 and counts["feedback"] == 3
    stats = store.stats()
    assert stats["spans"]["rows"] == 2 and stats["logs"]["rows"] == 1
    assert store.prune(T0, signals=["logs"]) == {"logs": 0}
    assert store.prune(T0 + timedelta(days=2), signals=["logs"]) == {"logs": 1}
    assert store.stats()["spans"]["rows"] == 2  # spans were not asked for
    with pytest.raises(ValueError, match="unknown signal"):
        store.prune(cutoff, signals=["traces"])


@pytest.mark.needs("running-spans")
def test_stats_count_rows_and_bounds(store, seeded):
    stats = store.stats()
    assert stats["logs"]["rows"] == 5 and stats["metrics"]["rows"] == 15
    assert stats["logs"]["oldest"] == ts(0) and stats["logs"]["newest"] == ts(62)
    assert stats["spans"]["rows"] == 8


@pytest.mark.needs("running-spans")
def test_trace_list_filters_still_apply(store, seeded):
    page = store.list_traces(TracesFilter(environment="prod"), per_page=10,
                             order_by=TracesOrderBy("startedAt", "ASC"))
    assert [s.trace_id for s in page.spans] == [
        seeded.traces["agent"], seeded.traces["failed"], seeded.traces["running"]]
