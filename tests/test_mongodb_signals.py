"""MongoDB specifics of logs, metrics, scores, feedback and the newer span reads: the
documents and indexes, retries, inert filters, BSON limits, and a randomized comparison
with the in-memory reference store (every answer must be the same)."""

from __future__ import annotations

import os
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mastra_storage.model.signals import (
    SIGNAL_TABLES,
    FeedbackRecord,
    LogRecord,
    MetricRecord,
    ScoreRecord,
)
from mastra_storage.storage import TracesFilter, TracesOrderBy
from mastra_storage.storage.memory import InMemoryStore, value_suggestions
from mastra_storage.storage.mongodb import MongoDBStore, metrics, trace_reads
from mastra_storage.storage.mongodb.signals import SIGNAL_INDEXES
from mastra_storage.storage.signal_queries import (
    AGGREGATIONS,
    COMPARE_PERIODS,
    INTERVALS,
    Feature,
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
    BoolOp,
    SuggestionRequest,
    plan_suggestions,
    plan_trace_query,
)
from tests.backends import selected

from .factories import span, tid

pytestmark = pytest.mark.skipif("mongodb" not in selected(),
                                reason="mongodb not in MASTRA_TEST_BACKENDS")

T0 = datetime(2026, 11, 2, 10, 0, 0, tzinfo=timezone.utc)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(i: int, **kw: Any) -> LogRecord:
    return LogRecord(timestamp=kw.pop("timestamp", T0 + timedelta(seconds=i)),
                     level=kw.pop("level", "info"), message=kw.pop("message", f"m{i}"),
                     log_id=kw.pop("log_id", f"l{i}"), **kw)


# ---------------------------------------------------------------------------- documents

def test_signal_documents_have_mastra_names_and_natural_types(mstore: MongoDBStore) -> None:
    mstore.batch_create_logs([log(1, tags=["a", "b"], data={"k": [1, 2]}, source="cloud",
                                  trace_id="t1")])
    mstore.batch_create_metrics([MetricRecord(timestamp=T0, name="tokens", value=3,
                                              labels={"model": "x"}, metric_id="m1")])
    mstore.batch_create_feedback([FeedbackRecord(timestamp=T0, feedback_type="thumbs",
                                                 feedback_source="user", value_number=1,
                                                 feedback_id="f1")])
    doc = mstore.signal_collection("logs").find_one({"logId": "l1"})
    assert doc is not None
    assert set(doc) - {"_id"} == {c.name for c in SIGNAL_TABLES["logs"].columns}
    assert isinstance(doc["timestamp"], datetime) and doc["tags"] == ["a", "b"]
    assert doc["data"] == {"k": [1, 2]} and doc["executionSource"] == "cloud"
    assert doc["spanId"] is None  # every column written
    metric = mstore.signal_collection("metrics").find_one({"metricId": "m1"})
    assert metric is not None
    assert metric["value"] == 3.0 and isinstance(metric["value"], float)
    assert metric["labels"] == {"model": "x"} and metric["tags"] == []
    feedback = mstore.signal_collection("feedback").find_one({})
    assert feedback is not None and feedback["reviewStatus"] == "needs-review"
    # empty tags read back as None, as the reference store keeps them
    (got,) = mstore.list_metrics().items
    assert got.tags is None and got.labels == {"model": "x"}


def test_signal_indexes(mstore: MongoDBStore) -> None:
    for signal, specs in SIGNAL_INDEXES.items():
        info = mstore.signal_collection(signal).index_information()
        keys = {tuple((k, int(d)) for k, d in v["key"]): bool(v.get("unique"))
                for v in info.values()}
        for spec, unique in specs:
            assert keys.get(tuple(spec)) == unique, (signal, spec)


def test_features_declare_everything_but_delta_polling(mstore: MongoDBStore) -> None:
    features = mstore.features()
    assert Feature.DELTA_POLLING not in features
    assert {Feature.LOGS, Feature.METRICS, Feature.TRACE_QUERY, Feature.BRANCHES,
            Feature.TRACE_QUERY_DISCOVERY} <= features


def test_stats_is_callable_and_keeps_the_codec_counters(mstore: MongoDBStore) -> None:
    mstore.batch_create_logs([log(1), log(2)])
    stats = mstore.stats()
    assert stats["logs"]["rows"] == 2 and isinstance(stats["logs"]["bytes"], int)
    assert stats["logs"]["bytes"] > 0 and stats["metrics"] == {
        "rows": 0, "bytes": 0, "oldest": None, "newest": None}
    assert mstore.stats.truncated_fields == 0 and mstore.stats.escaped_documents == 0


# ---------------------------------------------------------------------------- writes

def test_retries_and_repeated_ids_keep_one_row_newest_wins(mstore: MongoDBStore) -> None:
    batch = [log(1), log(2)]
    mstore.batch_create_logs(batch)
    mstore.batch_create_logs(batch)  # a retried batch
    mstore.batch_create_logs([log(1, message="changed"), log(3)])
    mstore.batch_create_logs([log(4, message="first"), log(4, message="second")])
    page = mstore.list_logs(order=SignalOrder("timestamp", "ASC"), per_page=10)
    assert [(r.log_id, r.message) for r in page.items] == [
        ("l1", "changed"), ("l2", "m2"), ("l3", "m3"), ("l4", "second")]
    assert mstore.signal_collection("logs").count_documents({}) == 4


def test_payload_keys_with_dollars_and_dots_are_kept(mstore: MongoDBStore) -> None:
    data = {"$where": "1", "a.b": {"$ne": None}}
    mstore.batch_create_logs([log(1, data=data, metadata={"x.y": 1})])
    mstore.batch_create_logs([log(1, data=data)])  # the duplicate path (a replace)
    (got,) = mstore.list_logs().items
    assert got.data == data  # or, on a server refusing such keys, escaped and counted
    assert mstore.stats.escaped_documents == 0


def test_a_document_over_16mb_is_fitted_and_counted(mstore: MongoDBStore) -> None:
    huge = "x" * (17 * 1024 * 1024)
    mstore.batch_create_logs([log(1, message=huge, data={"small": 1}), log(2)])
    got = {r.log_id: r for r in mstore.list_logs().items}
    assert set(got) == {"l1", "l2"}
    assert got["l1"].message.startswith("x" * 100) and "[truncated" in got["l1"].message
    assert got["l1"].data == {"small": 1}
    assert mstore.stats.truncated_text_fields == 1


def test_review_status_update(mstore: MongoDBStore) -> None:
    mstore.batch_create_feedback([FeedbackRecord(timestamp=T0, feedback_type="t",
                                                 feedback_source="user", feedback_id="f1")])
    updated = mstore.update_feedback_review_status("f1", "reviewed")
    assert updated is not None and updated.review_status == "reviewed"
    assert mstore.update_feedback_review_status("nope", "reviewed") is None
    with pytest.raises(TypeError):
        mstore.update_feedback_review_status({"$ne": None}, "reviewed")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- inert filters

HOSTILE = ["$where", "{'$ne': null}", ".*", "a.b", "$tier", "^", "\\", "x'; DROP", "\x00"]


def test_hostile_filter_values_match_nothing(mstore: MongoDBStore) -> None:
    mstore.batch_create_logs([log(1, message="hello", tags=["t"], environment="prod",
                                  trace_id="t1")])
    mstore.batch_create_metrics([MetricRecord(timestamp=T0, name="n", value=1,
                                              labels={"k": "v"}, metric_id="m1")])
    mstore.batch_create_scores([ScoreRecord(timestamp=T0, scorer_id="s", score=1,
                                            metadata={"k": "v"}, score_id="s1")])
    for bad in HOSTILE:
        assert mstore.list_logs(LogsFilter(search=bad)).total == 0, bad
        assert mstore.list_logs(LogsFilter(environment=bad)).total == 0
        assert mstore.list_logs(LogsFilter(tags=(bad,))).total == 0
        assert mstore.list_logs(LogsFilter(trace_id=bad)).total == 0
        assert mstore.list_metrics(MetricsFilter(labels={bad: "v"})).total == 0
        assert mstore.list_metrics(MetricsFilter(labels={"k": bad})).total == 0
        assert mstore.list_scores(ScoresFilter(metadata={bad: "v"})).total == 0
        assert mstore.discover_metric_names(prefix=bad) == []
        assert mstore.discover_metric_label_values("n", bad) == []
        assert mstore.get_score(bad) is None
    # regex metacharacters are text: "." matches a dot only
    mstore.batch_create_logs([log(2, message="a.c"), log(3, message="abc")])
    assert {r.log_id for r in mstore.list_logs(LogsFilter(search=".")).items} == {"l2"}
    assert mstore.list_logs(LogsFilter(search="HELLO")).total == 1
    with pytest.raises(TypeError):
        LogsFilter(environment={"$ne": None})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mstore.get_score({"$ne": None})  # type: ignore[arg-type]


def test_hostile_trace_query_values_match_nothing(mstore: MongoDBStore) -> None:
    mstore.batch_create_spans([span(tid(), "r", start=0, end=1, environment="prod",
                                    metadata={"tier": "gold"}, tags=["vip"])])
    window = {"from": iso(T0 - timedelta(days=2)), "to": iso(T0 + timedelta(days=2))}
    for bad in HOSTILE:
        if bad == "\x00" or not bad.strip():
            continue
        for where in ({"op": "eq", "left": {"path": "environment"}, "right": {"literal": bad}},
                      {"op": "eq", "left": {"path": "metadata.tier"}, "right": {"literal": bad}},
                      {"op": "includes", "path": "tags", "value": bad},
                      {"op": "in", "value": {"path": "traceId"}, "set": [bad]}):
            result = mstore.query_traces(plan_trace_query({"timeRange": window,
                                                           "where": where}))
            assert result.rows == [], (bad, where)


# ---------------------------------------------------------------------------- stored before

def test_trace_reads_accept_iso_string_timestamps(mstore: MongoDBStore) -> None:
    """Spans an earlier version wrote with ISO-text timestamps are still found."""
    trace = tid()
    mstore.collection.insert_one({
        "traceId": trace, "spanId": "s", "parentSpanId": None, "name": "old",
        "spanType": "agent_run", "startedAt": iso(T0), "endedAt": iso(T0 + timedelta(seconds=2)),
        "error": None, "tags": ["x"], "metadata": {"tier": "gold"}, "input": "hi"})
    window = {"from": iso(T0 - timedelta(hours=1)), "to": iso(T0 + timedelta(hours=1))}
    rows = mstore.query_traces(plan_trace_query({"timeRange": window})).rows
    assert [r.trace_id for r in rows] == [trace] and rows[0].input_preview == "hi"
    where = {"op": "gte", "left": {"path": "startedAt"}, "right": {"literal": iso(T0)}}
    assert len(mstore.query_traces(plan_trace_query({"timeRange": window, "where": where}))
               .rows) == 1
    assert [s.span_id for s in mstore.list_branches().spans] == ["s"]
    assert mstore.prune(T0 + timedelta(seconds=1))["spans"] == 1


# ---------------------------------------------------------------------------- the reference

ENVS = ["prod", "dev", None]
NAMES = ["support", "etl", "lookup", None]
TYPES = ["agent_run", "workflow_run", "tool_call", "model_generation", "generic"]
MODELS = ["gpt-4o", "claude", "mini"]


def build_data(rng: random.Random, traces: int = 36) -> dict[str, list[Any]]:
    """Traces with children, errors, tags, metadata; signals attached to them and not."""
    spans, logs, metrics, scores, feedback = [], [], [], [], []
    trace_ids = []
    for t in range(traces):
        trace = tid()
        trace_ids.append(trace)
        start = rng.randrange(0, 48 * 3600) + rng.random()
        running = rng.random() < 0.15
        dur = rng.choice([0.5, 1, 2, 5, 30])
        meta = rng.choice([{"tier": "gold"}, {"tier": "silver", "n": 1}, {"tier": " "},
                           {"tier": 3}, None, {"other": "x"}])
        tags = rng.choice([["vip"], ["vip", "beta"], ["beta"], [], None])
        root = span(trace, f"r{t}", start=start, end=None if running else start + dur,
                    name=rng.choice(["support-agent", "etl"]), span_type=rng.choice(TYPES[:2]),
                    entity_type=rng.choice(["agent", "workflow_run"]),
                    entity_name=rng.choice(NAMES), environment=rng.choice(ENVS),
                    thread_id=rng.choice(["th-1", "th-2", None]), metadata=meta, tags=tags,
                    error={"message": "boom"} if rng.random() < 0.2 else None,
                    input=rng.choice([{"messages": [{"role": "user", "content": f"q{t}"}]},
                                      f"text {t}", None]))
        spans.append(root)
        for c in range(rng.randrange(0, 4)):
            cs = start + rng.random() * dur
            spans.append(span(trace, f"c{t}-{c}", parent=root.span_id, start=cs,
                              end=cs + rng.choice([0.2, 1.5]), name=rng.choice(["gpt", "db"]),
                              span_type=rng.choice(TYPES[2:]),
                              entity_name=rng.choice(NAMES),
                              attributes={"model": rng.choice(MODELS), "provider": "openai"}
                              if rng.random() < 0.5 else None,
                              error={"message": "x"} if rng.random() < 0.15 else None))
    when = [T0 + timedelta(minutes=rng.randrange(0, 3000)) for _ in range(400)]
    for i in range(60):
        logs.append(log(i, timestamp=rng.choice(when),
                        level=rng.choice(["debug", "info", "warn", "error"]),
                        message=rng.choice(["Started run", "slow TOOL call", "ok", "Ünïcode ß"]),
                        trace_id=rng.choice([*trace_ids, None]),
                        environment=rng.choice(ENVS), tags=rng.choice([["vip"], [], None]),
                        entity_name=rng.choice(NAMES), service_name=rng.choice(["svc", None])))
    for i in range(240):
        cost = rng.choice([None, 0.001, 0.002])
        metrics.append(MetricRecord(
            timestamp=rng.choice(when), name=rng.choice(["tokens", "duration", "calls"]),
            value=float(rng.randrange(0, 50)), labels=rng.choice(
                [{"status": "ok"}, {"status": "error"}, {}, {"status": "ok", "k": "v"}]),
            provider=rng.choice(["openai", None]), model=rng.choice([*MODELS, None]),
            estimated_cost=cost, cost_unit=rng.choice(["USD", "USD", "EUR"]) if cost else None,
            trace_id=rng.choice([*trace_ids, None]), environment=rng.choice(ENVS),
            entity_name=rng.choice(NAMES), thread_id=rng.choice(["th-1", None]),
            metric_id=f"m{i}"))
    for i in range(50):
        scores.append(ScoreRecord(
            timestamp=rng.choice(when), scorer_id=rng.choice(["relevance", "toxicity"]),
            score=round(rng.random(), 2), trace_id=rng.choice(trace_ids),
            span_id=rng.choice([None, "x"]), score_source=rng.choice(["live", "test", None]),
            metadata=rng.choice([{"rubric": "v1"}, {"rubric": "v2"}, None]), score_id=f"s{i}"))
    for i in range(50):
        number = rng.random() < 0.5
        feedback.append(FeedbackRecord(
            timestamp=rng.choice(when), feedback_type=rng.choice(["thumbs", "rating"]),
            feedback_source=rng.choice(["user", "reviewer"]),
            value_number=float(rng.randrange(1, 6)) if number else None,
            value_string=None if number else rng.choice(["up", "down"]),
            comment=rng.choice([None, "nice"]), trace_id=rng.choice(trace_ids),
            review_status=rng.choice(["needs-review", "reviewed"]), feedback_id=f"f{i}"))
    return {"spans": spans, "logs": logs, "metrics": metrics, "scores": scores,
            "feedback": feedback}


@pytest.fixture
def pair(mstore: MongoDBStore) -> tuple[InMemoryStore, MongoDBStore, random.Random]:
    rng = random.Random(20261102)
    data = build_data(rng)
    mem = InMemoryStore()
    for store in (mem, mstore):
        store.batch_create_spans(data["spans"])
        store.batch_create_logs(data["logs"])
        store.batch_create_metrics(data["metrics"])
        store.batch_create_scores(data["scores"])
        store.batch_create_feedback(data["feedback"])
    return mem, mstore, rng


def same(a: Any, b: Any) -> None:
    """Equal, floats up to rounding (MongoDB sums doubles with extra precision)."""
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12) if isinstance(a, float) else a == b


def rand_window(rng: random.Random) -> TimeRange | None:
    if rng.random() < 0.3:
        return None
    a, b = sorted(T0 + timedelta(minutes=rng.randrange(0, 3000)) for _ in range(2))
    return TimeRange(rng.choice([a, None]), rng.choice([b, None]),
                     rng.random() < 0.5, rng.random() < 0.5)


def test_signal_lists_match_the_reference(pair) -> None:
    mem, mongo, rng = pair
    for _ in range(60):
        common = dict(timestamp=rand_window(rng), environment=rng.choice([*ENVS, None]),
                      tags=rng.choice([None, ("vip",)]))
        order = SignalOrder("timestamp", rng.choice(["ASC", "DESC"]))
        page, per_page = rng.randrange(0, 3), rng.choice([1, 5, 100])
        cases = [
            ("list_logs", LogsFilter(**common, level=rng.choice([None, ("warn", "error")]),
                                     search=rng.choice([None, "tool", "ÜNÏ", "ss", "run"]),
                                     entity_name=rng.choice(NAMES))),
            ("list_metrics", MetricsFilter(**common, name=rng.choice([None, ("tokens",)]),
                                           labels=rng.choice([None, {"status": "ok"}]),
                                           model=rng.choice([None, "claude"]))),
            ("list_scores", ScoresFilter(**common, scorer_id=rng.choice([None, "relevance"]),
                                         metadata=rng.choice([None, {"rubric": "v1"}]))),
            ("list_feedback", FeedbackFilter(**common, feedback_type=rng.choice([None, "rating"]),
                                             review_status=rng.choice([None, "reviewed"]))),
        ]
        for method, f in cases:
            want = getattr(mem, method)(f, page, per_page, order)
            got = getattr(mongo, method)(f, page, per_page, order)
            assert got.total == want.total, (method, f)
            assert got.items == want.items, (method, f, order)
        by_score = SignalOrder("score", rng.choice(["ASC", "DESC"]))
        assert mongo.list_scores(order=by_score, per_page=100).items == mem.list_scores(
            order=by_score, per_page=100).items


@pytest.mark.parametrize("push_limit", [metrics.PUSH_LIMIT, 1])
def test_metric_reads_match_the_reference(pair, monkeypatch, push_limit) -> None:
    mem, mongo, rng = pair
    monkeypatch.setattr(metrics, "PUSH_LIMIT", push_limit)  # 1: the rank-pick pipeline
    names = [("tokens",), ("tokens", "duration"), ("calls",), ("nothing",)]
    groups = [("model",), ("status",), ("provider", "environment"), ("k",), ("traceId",),
              ("executionSource",)]
    for _ in range(40):
        f = rng.choice([None, MetricsFilter(timestamp=rand_window(rng)),
                        MetricsFilter(environment="prod"),
                        MetricsFilter(labels={"status": "error"}, provider="openai")])
        aggregation = rng.choice(AGGREGATIONS)
        distinct = rng.choice(["model", "entityName", "threadId"]) if (
            aggregation == "count_distinct") else None
        name = rng.choice(names)
        compare = rng.choice([None, *COMPARE_PERIODS])
        if compare and rng.random() < 0.7:
            a = T0 + timedelta(minutes=rng.randrange(0, 3000))
            f = MetricsFilter(timestamp=TimeRange(a, a + timedelta(hours=rng.choice([1, 12]))))
        request = MetricAggregateRequest(name, aggregation, f, distinct, compare)
        got, want = mongo.metric_aggregate(request), mem.metric_aggregate(request)
        for attr in ("value", "estimated_cost", "cost_unit", "previous_value", "change_percent",
                     "previous_estimated_cost", "cost_change_percent", "compared"):
            same(getattr(got, attr), getattr(want, attr))
        breakdown = MetricBreakdownRequest(name, rng.choice(groups), aggregation, f, distinct,
                                           rng.choice([None, 1, 3]),
                                           rng.choice(["ASC", "DESC"]))
        got_groups, want_groups = mongo.metric_breakdown(breakdown), mem.metric_breakdown(
            breakdown)
        assert [g.dimensions for g in got_groups] == [g.dimensions for g in want_groups], (
            breakdown)
        for g, w in zip(got_groups, want_groups, strict=True):
            same(g.value, w.value)
            same(g.estimated_cost, w.estimated_cost)
            assert g.cost_unit == w.cost_unit
        series_request = MetricTimeseriesRequest(name, rng.choice(list(INTERVALS)), aggregation,
                                                 f, distinct, rng.choice([None, *groups[:4]]))
        got_series = mongo.metric_timeseries(series_request)
        want_series = mem.metric_timeseries(series_request)
        assert [(s.name, s.cost_unit) for s in got_series] == [
            (s.name, s.cost_unit) for s in want_series], series_request
        for gs, ws in zip(got_series, want_series, strict=True):
            assert [p.timestamp for p in gs.points] == [p.timestamp for p in ws.points]
            for gp, wp in zip(gs.points, ws.points, strict=True):
                same(gp.value, wp.value)
                same(gp.estimated_cost, wp.estimated_cost)
        pct = MetricPercentilesRequest(name[0], tuple(rng.sample(
            [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0], 3)), rng.choice(list(INTERVALS)), f)
        got_pct, want_pct = mongo.metric_percentiles(pct), mem.metric_percentiles(pct)
        assert [(s.percentile, [(p.timestamp, p.value) for p in s.points]) for s in got_pct] == [
            (s.percentile, [(p.timestamp, p.value) for p in s.points]) for s in want_pct]


def test_discovery_matches_the_reference(pair) -> None:
    mem, mongo, _ = pair
    for method, args in [("discover_entity_types", ()), ("discover_entity_names", ()),
                         ("discover_entity_names", ("agent",)), ("discover_service_names", ()),
                         ("discover_environments", ()), ("discover_tags", ()),
                         ("discover_tags", ("workflow_run",)), ("discover_metric_names", ()),
                         ("discover_metric_names", ("t", 1)),
                         ("discover_metric_label_keys", ("tokens",)),
                         ("discover_metric_label_values", ("tokens", "status")),
                         ("discover_metric_label_values", ("tokens", "status", "e", 5))]:
        assert getattr(mongo, method)(*args) == getattr(mem, method)(*args), method


def test_branches_and_trace_lists_match_the_reference(pair) -> None:
    mem, mongo, rng = pair
    for _ in range(30):
        f = TracesFilter(**rng.choice([{}, {"environment": "prod"}, {"status": "success"},
                                       {"span_type": "tool_call"}, {"entity_name": "support"},
                                       {"tags": ["vip"]}, {"metadata": {"tier": "gold"}},
                                       {"status": "running"}]))
        order = TracesOrderBy(rng.choice(["startedAt", "endedAt"]), rng.choice(["ASC", "DESC"]))
        page, per_page = rng.randrange(0, 3), rng.choice([3, 10, 100])
        got, want = mongo.list_branches(f, page, per_page, order), mem.list_branches(
            f, page, per_page, order)
        assert (got.total, got.has_more) == (want.total, want.has_more)
        assert [s.key for s in got.spans] == [s.key for s in want.spans], (f, order)
        light, want_light = mongo.list_traces_light(f, page, per_page, order), \
            mem.list_traces_light(f, page, per_page, order)
        assert [(s.trace_id, s.input_preview, s.status) for s in light.spans] == [
            (s.trace_id, s.input_preview, s.status) for s in want_light.spans]


def rand_leaf(rng: random.Random, scope: str) -> dict[str, Any]:
    def cmp(path: str, literal: Any, op: str = "eq") -> dict[str, Any]:
        return {"op": op, "left": {"path": path}, "right": {"literal": literal}}

    if scope == "trace":
        return rng.choice([
            cmp("environment", rng.choice(["prod", "dev", None]), rng.choice(["eq", "ne"])),
            cmp("status", rng.choice(["error", "success", "other"]), rng.choice(["eq", "ne"])),
            {"op": rng.choice(["in", "notIn"]), "value": {"path": "entityName"},
             "set": rng.sample(["support", "etl", "lookup"], 2)},
            {"op": rng.choice(["in", "notIn"]), "value": {"path": "status"}, "set": ["error"]},
            {"op": rng.choice(["exists", "notExists"]), "path": rng.choice(
                ["threadId", "tags", "metadata.tier", "status", "endedAt"])},
            {"op": rng.choice(["includes", "notIncludes"]), "path": "tags",
             "value": rng.choice(["vip", "beta"])},
            cmp("metadata.tier", rng.choice(["gold", "silver"]), rng.choice(["eq", "ne"])),
            {"op": rng.choice(["in", "notIn"]), "value": {"path": "metadata.tier"},
             "set": ["gold", "silver"]},
            cmp("durationMs", rng.choice([900, 2000, 5000]), rng.choice(["gt", "lte"])),
            cmp(rng.choice(["startedAt", "endedAt"]),
                iso(T0 + timedelta(hours=rng.randrange(-24, 30))),
                rng.choice(["gte", "lt", "eq", "ne"])),
            cmp("threadId", rng.choice(["th-1", None]), rng.choice(["eq", "ne"])),
        ])
    if scope == "spans":
        return rng.choice([
            cmp("spanType", rng.choice(TYPES)), cmp("status", "error"),
            cmp("model", rng.choice(MODELS)), {"op": "exists", "path": "error"},
            cmp("durationMs", 1000, "gt"), cmp("name", "db", "ne"),
            {"op": "in", "value": {"path": "entityName"}, "set": ["support", "etl"]},
        ])
    if scope == "scores":
        return rng.choice([cmp("score", 0.5, "gte"), cmp("scorerId", "relevance"),
                           {"op": "exists", "path": "spanId"}])
    return rng.choice([cmp("value", 3, "gt"), cmp("value", "up"), cmp("feedbackType", "rating"),
                       {"op": "exists", "path": "comment"}])


def rand_where(rng: random.Random, scope: str = "trace", depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth < 2 and roll < 0.3:
        return {"op": rng.choice(["and", "or"]),
                "args": [rand_where(rng, scope, depth + 1) for _ in range(rng.randrange(1, 4))]}
    if depth < 2 and roll < 0.4:
        return {"op": "not", "arg": rand_where(rng, scope, depth + 1)}
    if scope == "trace" and depth < 2 and roll < 0.55:
        collection = rng.choice(["spans", "scores", "feedback"])
        return {collection: {rng.choice(["some", "none"]): rand_where(rng, collection, 2)}}
    return rand_leaf(rng, scope)


def walk_keyset(store: Any, body: dict[str, Any], limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(100):
        page: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
        result = store.query_traces(plan_trace_query({**body, "page": page}))
        seen += [r.trace_id for r in result.rows]
        after = result.next_cursor
        if after is None:
            return seen
    raise AssertionError("keyset pagination did not end")


@pytest.mark.parametrize("chunk", [trace_reads.CHUNK, 3])
def test_trace_queries_match_the_reference(pair, monkeypatch, chunk) -> None:
    mem, mongo, rng = pair
    monkeypatch.setattr(trace_reads, "CHUNK", chunk)  # several chunks for the Python path
    window = {"from": iso(T0 - timedelta(hours=rng.randrange(0, 30))),
              "to": iso(T0 + timedelta(hours=rng.randrange(10, 50)))}
    for _ in range(50):
        body: dict[str, Any] = {"timeRange": window, "where": rand_where(rng),
                                "orderBy": [{"field": rng.choice(["startedAt", "endedAt"]),
                                             "direction": rng.choice(["asc", "desc"])}]}
        want = mem.query_traces(plan_trace_query(body))
        got = mongo.query_traces(plan_trace_query(body))
        assert got.rows == want.rows, body
        assert got.next_cursor == want.next_cursor
        limit = rng.choice([1, 4])
        assert walk_keyset(mongo, body, limit) == walk_keyset(mem, body, limit), body
        numbered = {**body, "pagination": {"page": rng.randrange(0, 3), "perPage": 3}}
        got_page = mongo.query_traces(plan_trace_query(numbered))
        want_page = mem.query_traces(plan_trace_query(numbered))
        assert (got_page.total, got_page.rows) == (want_page.total, want_page.rows), numbered


def test_pushdown_is_exact_only_without_relations() -> None:
    where = plan_trace_query({"timeRange": {"from": iso(T0), "to": iso(T0 + timedelta(1))},
                              "where": {"op": "and", "args": [
                                  {"op": "eq", "left": {"path": "environment"},
                                   "right": {"literal": "prod"}},
                                  {"spans": {"some": {"op": "exists", "path": "error"}}}]}}).where
    assert isinstance(where, BoolOp)
    cond, exact = trace_reads.pushdown(where)
    assert cond == {"environment": {"$eq": "prod"}} and not exact
    assert trace_reads.pushdown(where.args[0]) == (cond, True)


def test_suggestions_match_the_reference(pair) -> None:
    mem, mongo, _ = pair
    window = {"from": iso(T0 - timedelta(hours=10)), "to": iso(T0 + timedelta(hours=40))}
    paths = {"trace": ["environment", "entityName", "entityType", "status", "tags",
                       "metadata.tier", "metadata.other"],
             "spans": ["spanType", "name", "model", "provider", "status", "entityName"],
             "scores": ["scorerId", "scoreSource"],
             "feedback": ["feedbackType", "feedbackSource"]}
    for scope, scope_paths in paths.items():
        for search in (None, "O", "zzz"):
            for limit in (1, 25):
                base = {"timeRange": window, "predicateScope": scope, "limit": limit,
                        **({"search": search} if search else {})}
                req = plan_suggestions(base, with_path=False)
                assert mongo.trace_query_fields(req) == mem.trace_query_fields(req)
                for path in scope_paths:
                    req = plan_suggestions({**base, "path": path}, with_path=True)
                    assert mongo.trace_query_values(req) == mem.trace_query_values(req), req
    # a path without a server expression goes through the reference code in Python
    start, end = T0 - timedelta(hours=10), T0 + timedelta(hours=40)
    for scope, path in (("scores", "score"), ("trace", "startedAt"), ("feedback", "value")):
        req = SuggestionRequest(start, end, scope, None, 25, path)
        assert mongo.trace_query_values(req) == mem.trace_query_values(req), req


def test_counted_suggestions_equal_the_reference_rules() -> None:
    rng = random.Random(3)
    values = [rng.choice(["a", "B", "ab", None, 1, 2.5, "x" * 5000, "é"]) for _ in range(300)]
    pairs: dict[Any, int] = {}
    for v in values:
        pairs[v] = pairs.get(v, 0) + 1
    for search in (None, "a", "É"):
        for limit in (1, 3, 100):
            req = SuggestionRequest(T0, T0, "trace", search, limit, "environment")
            assert trace_reads.counted_suggestions(pairs.items(), req) == value_suggestions(
                values, req)


def test_retention_matches_the_reference(pair) -> None:
    mem, mongo, rng = pair
    victims = [s.trace_id for s in mem.list_traces(per_page=5).spans]
    assert mongo.batch_delete_traces(victims) == mem.batch_delete_traces(victims)
    for signal, cutoff_minutes, batch in ((["logs"], 600, 7), (None, 1500, 1),
                                          (["spans", "metrics"], 2500, 1000)):
        cutoff = T0 + timedelta(minutes=cutoff_minutes)
        assert mongo.prune(cutoff, signal, batch_size=batch) == mem.prune(cutoff, signal)
        got, want = mongo.stats(), mem.stats()
        assert {k: (v["rows"], v["oldest"], v["newest"]) for k, v in got.items()} == {
            k: (v["rows"], v["oldest"], v["newest"]) for k, v in want.items()}
    with pytest.raises(ValueError):
        mongo.prune(T0, batch_size=0)


# ---------------------------------------------------------------------------- measurements

BENCH_ROWS = int(os.environ.get("MASTRA_BENCH_MONGO_METRICS", "0"))


@pytest.mark.skipif(not BENCH_ROWS, reason="set MASTRA_BENCH_MONGO_METRICS=<rows> to measure")
@pytest.mark.timeout(7200)
def test_measure_server_side_metrics_vs_python(mstore: MongoDBStore, monkeypatch) -> None:
    """The numbers in docs/mongodb.md: each metric read as this store runs it (aggregation
    pipelines) and the alternative — fetch the rows with a projection, then run the
    reference helpers in Python. Best of 3 runs each."""
    from mastra_storage.storage import memory

    rng = random.Random(1)
    rows = [MetricRecord(timestamp=T0 + timedelta(seconds=rng.randrange(0, 7 * 86400)),
                         name=rng.choice(["tokens", "duration_ms", "calls"]),
                         value=float(rng.randrange(0, 1000)),
                         labels={"status": rng.choice(["ok", "error"])},
                         model=rng.choice(MODELS), estimated_cost=rng.random() / 100,
                         cost_unit="USD", environment=rng.choice(["prod", "dev"]),
                         metric_id=f"m{i}")
            for i in range(BENCH_ROWS)]
    started = time.perf_counter()
    for i in range(0, len(rows), 1000):
        mstore.batch_create_metrics(rows[i:i + 1000])
    elapsed = time.perf_counter() - started
    print(f"\nwrite {len(rows)} metrics in batches of 1000: {elapsed:.1f} s "
          f"({len(rows) / elapsed:.0f} rows/s)")
    coll = mstore.signal_collection("metrics")
    fields = {"_id": 0, "timestamp": 1, "value": 1, "labels": 1, "model": 1,
              "estimatedCost": 1, "costUnit": 1, "name": 1}

    def fetched() -> list[MetricRecord]:
        return [MetricRecord(timestamp=d["timestamp"], name=d["name"], value=d["value"],
                             labels=d["labels"], model=d["model"],
                             estimated_cost=d["estimatedCost"], cost_unit=d["costUnit"])
                for d in coll.find({"name": "tokens"}, fields)]

    def ranked() -> Any:
        monkeypatch.setattr(metrics, "PUSH_LIMIT", 0)
        try:
            return mstore.metric_percentiles(pct)
        finally:
            monkeypatch.undo()

    agg = MetricAggregateRequest(("tokens",), "avg")
    last = MetricAggregateRequest(("tokens",), "last")
    distinct = MetricAggregateRequest(("tokens",), "count_distinct", distinct_column="model")
    brk = MetricBreakdownRequest(("tokens",), ("model", "status"), "sum")
    ts = MetricTimeseriesRequest(("tokens",), "1h", "sum", group_by=("model",))
    pct = MetricPercentilesRequest("tokens", (0.5, 0.95, 0.99), "1d")
    cases = [
        ("fetch the rows only", None, fetched),
        ("aggregate avg", lambda: mstore.metric_aggregate(agg),
         lambda: memory.aggregate_result(lambda f: fetched(), agg)),
        ("aggregate last", lambda: mstore.metric_aggregate(last),
         lambda: memory.aggregate_result(lambda f: fetched(), last)),
        ("aggregate count_distinct model", lambda: mstore.metric_aggregate(distinct),
         lambda: memory.aggregate_result(lambda f: fetched(), distinct)),
        ("breakdown model,status", lambda: mstore.metric_breakdown(brk),
         lambda: memory.breakdown(fetched(), brk)),
        ("timeseries 1h by model", lambda: mstore.metric_timeseries(ts),
         lambda: memory.timeseries(fetched(), ts)),
        ("percentiles 1d ($push)", lambda: mstore.metric_percentiles(pct),
         lambda: memory.percentiles(fetched(), pct)),
        ("percentiles 1d (rank picks)", ranked, None),
    ]

    def best(fn: Any) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    for label, server, python in cases:
        s_time = f"{best(server):.2f} s" if server else "-"
        p_time = f"{best(python):.2f} s" if python else "-"
        print(f"{label}: server {s_time}, fetch+python {p_time}", flush=True)
