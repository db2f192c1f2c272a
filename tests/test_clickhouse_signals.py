"""ClickHouse specifics of the signals (logs, metrics, scores, feedback) and the newer
span reads, on the real engine (chdb, or MASTRA_TEST_CLICKHOUSE_URL).

The shared behaviour is tests/test_signal_suite.py; here: the tables are exactly Mastra's
(text and engine), retries, adoption and in-place upgrades, retention options, hostile
input, and answers equal to the in-memory store's on random data.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mastra_storage.model.signals import FeedbackRecord, LogRecord, MetricRecord, ScoreRecord
from mastra_storage.storage import TracesFilter
from mastra_storage.storage.clickhouse import migrate, offline_sql, parse_url
from mastra_storage.storage.clickhouse import signal_ddl as sd
from mastra_storage.storage.clickhouse.ddl import SchemaOptions
from mastra_storage.storage.memory import InMemoryStore
from mastra_storage.storage.signal_queries import (
    AGGREGATIONS,
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
from mastra_storage.storage.trace_query import plan_suggestions, plan_trace_query
from tests.backends.clickhouse import session_provider

from .factories import span, tid

CONTRACT = Path(__file__).parent / "contract" / "clickhouse-vnext.signals.sql"
NOW = datetime.now(timezone.utc).replace(microsecond=0)  # TTL tests need recent rows


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    return session_provider(tmp_path_factory)


@pytest.fixture
def make(provider):
    made = []

    def build(**options):
        store = provider.info["build"](**options)
        made.append(store)
        return store

    yield build
    for s in made:
        s.close()


@pytest.fixture
def ch(make):
    return make()


def contract_statements() -> dict[str, str]:
    """The contract file's statements, by their ``-- NAME`` header (migrations numbered)."""
    text = CONTRACT.read_text()  # a missing file fails the test, never skips it
    out: dict[str, str] = {}
    for block in re.split(r"\n\n(?=-- )", text.split("\n\n", 1)[1]):
        header, _, body = block.partition("\n")
        name = header[3:].strip()
        if name == "migration":
            name = f"migration {sum(k.startswith('migration') for k in out)}"
        out[name] = body.strip()
    return out


DDL_NAMES = {"metrics": "METRIC_EVENTS_DDL", "logs": "LOG_EVENTS_DDL",
             "scores": "SCORE_EVENTS_DDL", "feedback": "FEEDBACK_EVENTS_DDL"}


def table_ddl(store: Any, database: str, table: str) -> str:
    rows = store.query_rows("SELECT create_table_query FROM system.tables WHERE "
                            "database = {d:String} AND name = {t:String}",
                            {"d": database, "t": table})
    assert rows, f"no table {database}.{table}"
    return str(rows[0][0]).replace(f"{database}.", "DB.")


# ---------------------------------------------------------------------------- DDL

@pytest.mark.parametrize("signal", sd.SIGNALS)
def test_rendered_create_is_mastras_text(signal):
    """Verbatim: the CREATE this package runs is, unqualified, Mastra's rendered text."""
    contract = contract_statements()[DDL_NAMES[signal]]
    assert sd.create_signal_table(signal, SchemaOptions(), qualify=False) + ";" == contract


def test_migration_clauses_are_mastras_migrations():
    """Mastra runs each clause as its own ALTER; ours are one ALTER per table with the
    same clauses, in the same order."""
    expected = [s.rstrip(";") for k, s in contract_statements().items()
                if k.startswith("migration")]
    ours = [f"ALTER TABLE {sd.table_name(s)} {clause}" for s in sd.SIGNALS
            for clause in sd.mastra_migration_clauses(s)]
    by_table = sorted(expected, key=lambda s: (sd.SIGNALS.index(
        next(k for k in sd.SIGNALS if f" {sd.table_name(k)} " in s)), "ADD INDEX" in s))
    assert ours == by_table


def test_created_tables_equal_tables_made_from_mastras_text(ch, provider):
    """The engine's own description of each signal table is the same whether it was
    created by this package's migrations or straight from Mastra's text."""
    db = provider.info["new_database"]()
    ch.command(f"CREATE DATABASE `{db}`")
    try:
        statements = contract_statements()
        for name in DDL_NAMES.values():
            ch.command(statements[name].rstrip(";").replace(
                "CREATE TABLE IF NOT EXISTS ", f"CREATE TABLE IF NOT EXISTS `{db}`.", 1))
        for key, statement in statements.items():
            if key.startswith("migration"):
                ch.command(statement.rstrip(";").replace("ALTER TABLE ", f"ALTER TABLE `{db}`.", 1))
        for signal in sd.SIGNALS:
            table = sd.table_name(signal)
            assert table_ddl(ch, ch.database, table) == table_ddl(ch, db, table)
    finally:
        ch.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


def test_review_table_is_ours_and_separate(ch):
    tables = {r[0] for r in ch.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String}", {"d": ch.database})}
    assert {sd.table_name(s) for s in sd.SIGNALS} | {sd.REVIEW_TABLE} <= tables
    assert "reviewStatus" not in table_ddl(ch, ch.database, "mastra_feedback_events")


def test_cluster_rendering():
    text = offline_sql("clickhouse://u:p@h/obs?cluster=prod")
    for signal in sd.SIGNALS:
        local = f"`obs`.`{sd.table_name(signal)}_local`"
        assert f"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER `prod` (" in text
        assert (f"ENGINE = Distributed('prod', 'obs', '{sd.table_name(signal)}_local', "
                f"{sd.sharding_key(signal)})") in text
    assert text.count("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/"
                      "{database}/{table}', '{replica}')\nPARTITION BY toDate(timestamp)") == 4
    assert ("CREATE TABLE IF NOT EXISTS `obs`.`mastra_storage_feedback_review` ON CLUSTER "
            "`prod`") in text
    assert "cityHash64(ifNull(`traceId`, `logId`))" in text


# ---------------------------------------------------------------------------- retention options

def test_ttl_for_every_signal_and_per_signal_overrides(make):
    store = make(ttl_days=30, signal_ttl_days={"logs": 7, "spans": 90})
    engines = dict(store.query_rows(
        "SELECT name, engine_full FROM system.tables WHERE database = {d:String}",
        {"d": store.database}))
    assert "toIntervalDay(90)" in engines["mastra_ai_spans"]
    assert "TTL toDateTime(timestamp) + toIntervalDay(7)" in engines["mastra_log_events"]
    for table in ("mastra_metric_events", "mastra_score_events", "mastra_feedback_events"):
        assert "TTL toDateTime(timestamp) + toIntervalDay(30)" in engines[table]


def test_ttl_url_options_and_offline_sql():
    spec = parse_url("clickhouse://h/obs?ttl_days=30&ttl_days_logs=7&ttl_days_metrics=90")
    assert spec.store_options == {"ttl_days": 30,
                                  "signal_ttl_days": {"logs": 7, "metrics": 90}}
    text = offline_sql("clickhouse://h/obs?ttl_days_logs=7")
    assert "ORDER BY (timestamp, logId)\nTTL toDateTime(`timestamp`) + toIntervalDay(7) DELETE" \
        in text
    assert text.count("TTL ") == 1  # only the logs
    with pytest.raises(ValueError, match="unknown signal"):
        SchemaOptions(signal_ttl_days={"traces": 3})
    with pytest.raises(ValueError, match="integer >= 1"):
        SchemaOptions(signal_ttl_days={"logs": 0})


def test_a_database_without_retention_gets_it_on_the_next_migrate(provider, make):
    store = make()
    assert migrate(store) == []
    url = (f"chdb:///{provider.info['path'].lstrip('/')}?database={store.database}"
           if "path" in provider.info else None)
    if url is None:
        pytest.skip("URL form checked against chdb")
    assert migrate(url, ttl_days=14, signal_ttl_days={"metrics": 3}) == []
    engines = dict(store.query_rows(
        "SELECT name, engine_full FROM system.tables WHERE database = {d:String}",
        {"d": store.database}))
    assert "toIntervalDay(3)" in engines["mastra_metric_events"]
    assert "toIntervalDay(14)" in engines["mastra_log_events"]


# ---------------------------------------------------------------------------- upgrade, adoption

def test_a_version_2_database_upgrades_in_place(provider, make):
    """A database the previous release migrated (spans only) gets the signal tables."""
    from mastra_storage.storage.clickhouse import ClickHouseStore
    from mastra_storage.storage.clickhouse.migrations import MIGRATIONS, _record

    db = provider.info["new_database"]()
    old = make(database=db, auto_migrate=False)
    from mastra_storage.storage.clickhouse import ddl

    old.command(ddl.create_database(old.schema))
    old.command(ddl.create_history_table(old.schema))
    for m in MIGRATIONS[:2]:
        for statement in m.statements(old.schema):
            old.command(statement)
        old.command(_record(old.schema, m))
    t = tid()
    old.batch_create_spans([span(t, "root")])
    assert migrate(old) == [3]
    assert old.get_trace(t) is not None
    old.batch_create_logs([LogRecord(timestamp=NOW, level="info", message="hi", trace_id=t)])
    assert old.list_logs().total == 1
    assert isinstance(old, ClickHouseStore)


def test_tables_mastra_created_are_adopted_and_its_rows_read(provider, make):
    """Mastra created the signal tables and wrote rows its way (JSONEachRow, labels as a
    map, tags as an array, no review status): migrate leaves the tables, reads work."""
    db = provider.info["new_database"]()
    keeper = provider.info["keeper"]
    keeper.command(f"CREATE DATABASE `{db}`")
    for name in DDL_NAMES.values():
        keeper.command(contract_statements()[name].rstrip(";").replace(
            "CREATE TABLE IF NOT EXISTS ", f"CREATE TABLE IF NOT EXISTS `{db}`.", 1))
    keeper.command(
        f"INSERT INTO `{db}`.mastra_metric_events (timestamp, metricId, name, value, labels, "
        "tags, traceId, costUnit, estimatedCost) FORMAT JSONEachRow "
        '{"timestamp":"2026-11-02 10:00:00.000","metricId":"m1","name":"tokens","value":5,'
        '"labels":{"tier":"x"},"tags":["a"],"traceId":"t1","costUnit":"USD",'
        '"estimatedCost":0.5}')
    keeper.command(
        f"INSERT INTO `{db}`.mastra_feedback_events (timestamp, feedbackId, feedbackSource, "
        "feedbackType, valueNumber, traceId) FORMAT JSONEachRow "
        '{"timestamp":"2026-11-02 10:00:00.000","feedbackId":"f1","feedbackSource":"user",'
        '"feedbackType":"rating","valueNumber":4,"traceId":"t1"}')
    store = make(database=db)
    (metric,) = store.list_metrics().items
    assert (metric.metric_id, metric.value, metric.labels, metric.tags) == (
        "m1", 5.0, {"tier": "x"}, ["a"])
    assert metric.metadata is None and metric.estimated_cost == 0.5
    (fb,) = store.list_feedback().items
    assert fb.review_status == "needs-review" and fb.value == 4.0
    assert store.list_feedback(FeedbackFilter(review_status="needs-review")).total == 1
    assert store.update_feedback_review_status("f1", "reviewed").review_status == "reviewed"
    assert store.list_feedback(FeedbackFilter(review_status="reviewed")).total == 1
    assert store.metric_breakdown(MetricBreakdownRequest(("tokens",), ("tier",)))[0] \
        .dimensions == {"tier": "x"}


# ---------------------------------------------------------------------------- retries

def physical_rows(store: Any, signal: str) -> int:
    return int(store.query_rows(f"SELECT count() FROM {sd.qualified(signal, store.schema)}")
               [0][0])


def test_retried_batches_are_seen_once_before_and_after_the_merge(ch):
    logs = [LogRecord(timestamp=NOW, level="info", message=f"m{i}", log_id=f"l{i}")
            for i in range(3)]
    metrics = [MetricRecord(timestamp=NOW, name="n", value=1.5, metric_id="m1",
                            labels={"k": "v"})]
    scores = [ScoreRecord(timestamp=NOW, scorer_id="s", score=0.5, score_id="s1")]
    feedback = [FeedbackRecord(timestamp=NOW, feedback_type="t", feedback_source="u",
                               value_number=1.0, feedback_id="f1")]
    for _ in range(3):
        ch.batch_create_logs(logs)
        ch.batch_create_metrics(metrics)
        ch.batch_create_scores(scores)
        ch.batch_create_feedback(feedback)
    assert physical_rows(ch, "logs") == 9  # not merged yet: FINAL hides the copies
    assert ch.list_logs().total == 3 and ch.list_scores().total == 1
    assert ch.list_feedback().total == 1
    assert ch.metric_aggregate(MetricAggregateRequest(("n",), "sum")).value == 1.5
    assert ch.metric_aggregate(MetricAggregateRequest(("n",), "count")).value == 1.0
    assert ch.stats()["logs"]["rows"] == 3
    for signal in sd.SIGNALS:
        ch.command(f"OPTIMIZE TABLE {sd.qualified(signal, ch.schema)} FINAL")
    assert physical_rows(ch, "logs") == 3 and physical_rows(ch, "metrics") == 1
    assert ch.list_logs().total == 3


def test_review_status_versions(ch):
    fb = FeedbackRecord(timestamp=NOW, feedback_type="t", feedback_source="u",
                        value_string="up", feedback_id="f1", review_status="reviewed")
    ch.batch_create_feedback([fb])
    assert ch.list_feedback().items[0].review_status == "reviewed"
    ch.update_feedback_review_status("f1", "needs-review")
    ch.batch_create_feedback([fb])  # a retried batch does not undo the update
    assert ch.list_feedback().items[0].review_status == "needs-review"
    assert ch.list_feedback(FeedbackFilter(review_status="reviewed")).total == 0
    with pytest.raises(ValueError, match="needs-review, reviewed"):
        ch.update_feedback_review_status("f1", "done")


# ---------------------------------------------------------------------------- hostile input

HOSTILE = ["x'; DROP TABLE mastra_log_events; --", "`) OR 1=1 --", "{p0:String}",
           "\\' OR '1'='1", "a\x00b", "\ud800", "'\"`\\"]


class Spy:
    def __init__(self, store):
        self.sql: list[str] = []
        original = store.query_rows

        def spy(sql, params=None, settings=None):
            self.sql.append(sql)
            return original(sql, params, settings)

        store.query_rows = spy


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_match_nothing_and_never_reach_the_sql(ch, value):
    ch.batch_create_logs([LogRecord(timestamp=NOW, level="info", message="hello",
                                    log_id="l1", tags=["t"])])
    ch.batch_create_metrics([MetricRecord(timestamp=NOW, name="n", value=1.0,
                                          labels={"k": "v"})])
    spy = Spy(ch)
    assert ch.list_logs(LogsFilter(search=value, environment=value)).total == 0
    assert ch.list_logs(LogsFilter(tags=(value,))).total == 0
    assert ch.metric_aggregate(MetricAggregateRequest(
        ("n",), "sum", filters=MetricsFilter(labels={value: "v"}))).value is None
    assert ch.metric_aggregate(MetricAggregateRequest(
        ("n",), "sum", filters=MetricsFilter(labels={"k": value}))).value is None
    assert ch.metric_breakdown(MetricBreakdownRequest(("n",), (value,)))[0] \
        .dimensions == {value: None}
    assert ch.discover_metric_label_values("n", value) == []
    assert ch.discover_metric_names(prefix=value) == []
    assert ch.list_scores(ScoresFilter(metadata={value: value})).total == 0
    assert ch.get_score(value) is None
    assert ch.discover_entity_names(value) == []
    window = {"from": (NOW - timedelta(days=1)).isoformat(),
              "to": (NOW + timedelta(days=1)).isoformat()}
    if "\ud800" in value:  # the planner's cursor binding can't hash a lone surrogate
        value = value.replace("\ud800", "\ufffd")
    for where in ({"op": "eq", "left": {"path": "entityName"}, "right": {"literal": value}},
                  {"op": "eq", "left": {"path": f"metadata.{value.replace('.', '')}x"},
                   "right": {"literal": "x"}},
                  {"spans": {"some": {"op": "in", "value": {"path": "name"}, "set": [value]}}},
                  {"feedback": {"some": {"op": "eq", "left": {"path": "value"},
                                         "right": {"literal": value}}}}):
        assert ch.query_traces(plan_trace_query({"timeRange": window, "where": where})
                               ).rows == []
    cleaned = value.replace("\x00", "").replace("\ufffd", "")
    if len(cleaned) > 2 and not re.fullmatch(r"\{p\d+:String\}", cleaned):
        assert not any(cleaned in sql for sql in spy.sql)


# ---------------------------------------------------------------------------- parity with memory

def random_signals(rng: random.Random, traces: list[str]) -> dict[str, list[Any]]:
    base = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
    used: set[int] = set()

    def when() -> datetime:
        while True:  # distinct timestamps: "last" and list orders are then well defined
            ms = rng.randrange(0, 2 * 86_400_000)
            if ms not in used:
                used.add(ms)
                return base + timedelta(milliseconds=ms)

    def ctx() -> dict[str, Any]:
        return dict(trace_id=rng.choice([*traces, None]),
                    environment=rng.choice(["prod", "dev", None]),
                    service_name=rng.choice(["svc", "svc2", None]),
                    entity_type=rng.choice(["agent", "tool", None]),
                    entity_name=rng.choice(["a", "b", "c", None]),
                    tags=rng.choice([None, ["x"], ["x", "y"], ["y"]]))

    metrics = []
    for i in range(400):
        labels = {}
        if rng.random() < 0.8:
            labels["status"] = rng.choice(["ok", "error", ""])
        if rng.random() < 0.3:
            labels["region"] = rng.choice(["eu", "us"])
        cost = rng.choice([None, round(rng.random(), 3)])
        metrics.append(MetricRecord(
            timestamp=when(), name=rng.choice(["tokens", "latency", "cost"]),
            value=float(rng.randrange(-50, 1000)) / rng.choice([1, 4]), labels=labels,
            provider=rng.choice(["openai", "anthropic", None]),
            model=rng.choice(["m1", "m2", "m3", None]), estimated_cost=cost,
            cost_unit=rng.choice(["USD", "EUR"]) if cost is not None else rng.choice(
                [None, "USD"]), metric_id=f"m{i}", **ctx()))
    logs = [LogRecord(timestamp=when(), level=rng.choice(["debug", "info", "warn", "error"]),
                      message=rng.choice(["Tool failed", "tool ok", "Übergröße", "x"]),
                      log_id=f"l{i}", **ctx()) for i in range(120)]
    scores = [ScoreRecord(timestamp=when(), scorer_id=rng.choice(["rel", "tox"]),
                          score=rng.random(), score_source=rng.choice(["live", "test", None]),
                          span_id=rng.choice(["s0", None]), score_id=f"s{i}",
                          metadata=rng.choice([None, {"rubric": "v1"}, {"rubric": 1}]),
                          **ctx()) for i in range(80)]
    feedback = [FeedbackRecord(timestamp=when(), feedback_type=rng.choice(["thumbs", "rating"]),
                               feedback_source=rng.choice(["user", "reviewer"]),
                               value_number=rng.choice([None, float(rng.randrange(1, 6))]),
                               value_string=rng.choice([None, "up", "down"]),
                               comment=rng.choice([None, "nice"]), feedback_id=f"f{i}",
                               review_status=rng.choice(["needs-review", "reviewed"]),
                               **ctx()) for i in range(80)]
    return {"metrics": metrics, "logs": logs, "scores": scores, "feedback": feedback}


def random_spans(rng: random.Random, n: int) -> list[Any]:
    out = []
    for i in range(n):
        t = tid()
        start = i * 37.0 + rng.random()
        failed = rng.random() < 0.3
        out.append(span(t, "root", start=start, end=start + rng.choice([0.5, 2.0, 9.0]),
                        name=rng.choice(["agent", "wf"]), span_type="agent_run",
                        entity_type=rng.choice(["agent", "workflow_run"]),
                        entity_name=rng.choice(["a", "b", "c"]),
                        environment=rng.choice(["prod", "dev", None]),
                        thread_id=rng.choice(["th", None]),
                        tags=rng.choice([None, [], ["x"], ["x", "y"]]),
                        metadata=rng.choice([None, {"tier": "gold"}, {"tier": " "},
                                             {"tier": "silver", "n": 1}]),
                        error={"message": "x"} if failed else None,
                        input={"messages": [{"role": "user", "content": f"q{i}"}]}))
        for j in range(rng.randrange(0, 4)):
            out.append(span(t, f"c{j}", parent="root", start=start + j * 0.1,
                            end=rng.choice([start + j, None]),
                            span_type=rng.choice(["tool_call", "model_generation"]),
                            name=rng.choice(["lookup", "gpt"]),
                            attributes=rng.choice([None, {"model": "gpt-4o"},
                                                   {"model": 1, "provider": "openai"}]),
                            error=rng.choice([None, {"message": "boom"}])))
    return out


@pytest.fixture(scope="module")
def twins(provider):
    """The same random data in the in-memory store and in ClickHouse."""
    rng = random.Random(20261130)
    spans = random_spans(rng, 40)
    traces = sorted({s.trace_id for s in spans})
    signals = random_signals(rng, traces)
    stores = [InMemoryStore(), provider.info["build"]()]
    for store in stores:
        store.batch_create_spans(spans)
        store.batch_create_metrics(signals["metrics"])
        store.batch_create_logs(signals["logs"])
        store.batch_create_scores(signals["scores"])
        store.batch_create_feedback(signals["feedback"])
    yield stores, traces
    stores[1].close()


def approx(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-9)
    if isinstance(value, list):
        return [approx(v) for v in value]
    if isinstance(value, tuple):
        return tuple(approx(v) for v in value)
    if isinstance(value, dict):
        return {k: approx(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {k: approx(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


T1 = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
FILTERS = [None, MetricsFilter(environment="prod"), MetricsFilter(tags=("x",)),
           MetricsFilter(labels={"status": "ok"}), MetricsFilter(labels={"status": ""}),
           MetricsFilter(provider="openai", model="m1"), MetricsFilter(trace_ids=()),
           MetricsFilter(timestamp=TimeRange(T1, T1 + timedelta(hours=20))),
           MetricsFilter(timestamp=TimeRange(T1, T1 + timedelta(hours=6),
                                             start_exclusive=True, end_exclusive=True),
                         service_name="svc")]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("period", [None, "previous_period", "previous_day"])
def test_aggregates_equal_memory(twins, aggregation, period):
    (mem, ch), _ = twins
    for names in (("tokens",), ("tokens", "latency")):
        for f in FILTERS:
            request = MetricAggregateRequest(
                names, aggregation, filters=f, compare_period=period,
                distinct_column="model" if aggregation == "count_distinct" else None)
            assert approx(ch.metric_aggregate(request)) == approx(mem.metric_aggregate(request))


@pytest.mark.parametrize("group_by", [("model",), ("status",), ("provider", "region"),
                                      ("name", "environment"), ("nope",)])
@pytest.mark.parametrize("aggregation", ["sum", "count", "last", "count_distinct", "max"])
def test_breakdowns_equal_memory(twins, group_by, aggregation):
    (mem, ch), _ = twins
    for f in FILTERS[:4]:
        for direction in ("DESC", "ASC"):
            request = MetricBreakdownRequest(
                ("tokens", "cost"), group_by, aggregation, f, order_direction=direction,
                distinct_column="entityName" if aggregation == "count_distinct" else None)
            got, want = ch.metric_breakdown(request), mem.metric_breakdown(request)
            values = [g.value for g in got]
            assert values == sorted(values, reverse=direction == "DESC")
            key = lambda g: sorted(g.dimensions.items(), key=str)  # noqa: E731
            assert approx(sorted(got, key=lambda g: str(key(g)))) == approx(
                sorted(want, key=lambda g: str(key(g))))


@pytest.mark.parametrize("interval", INTERVALS)
def test_timeseries_and_percentiles_equal_memory(twins, interval):
    (mem, ch), _ = twins
    for group_by in (None, ("status",), ("model", "region")):
        for aggregation in ("sum", "avg", "last", "count_distinct"):
            request = MetricTimeseriesRequest(
                ("latency", "tokens"), interval, aggregation, FILTERS[1], group_by=group_by,
                distinct_column="provider" if aggregation == "count_distinct" else None)
            got = {s.name: s for s in ch.metric_timeseries(request)}
            want = {s.name: s for s in mem.metric_timeseries(request)}
            assert approx(got) == approx(want)
    for f in FILTERS[:3]:
        pct = MetricPercentilesRequest("latency", (0.0, 0.25, 0.5, 0.9, 0.99, 1.0), interval, f)
        assert approx(ch.metric_percentiles(pct)) == approx(mem.metric_percentiles(pct))


def test_lists_equal_memory(twins):
    (mem, ch), traces = twins
    cases = [
        ("list_logs", LogsFilter(search="TOOL")), ("list_logs", LogsFilter(level=("warn",))),
        ("list_logs", LogsFilter(tags=("x", "y"), environment="prod")),
        ("list_logs", LogsFilter(trace_id=traces[3])),
        ("list_metrics", MetricsFilter(name=("cost",), labels={"region": "eu"})),
        ("list_scores", ScoresFilter(scorer_id=("rel",), metadata={"rubric": "v1"})),
        ("list_scores", ScoresFilter(metadata={"rubric": 1})),
        ("list_scores", ScoresFilter(score_source="live")),
        ("list_feedback", FeedbackFilter(review_status="reviewed", feedback_type=("rating",))),
        ("list_feedback", FeedbackFilter(review_status="needs-review")),
        ("list_feedback", FeedbackFilter(feedback_source="user", entity_name="a")),
    ]
    for method, f in cases:
        for order in (None, SignalOrder("timestamp", "ASC")):
            for page in (0, 1):
                got = getattr(ch, method)(f, page, 7, order)
                want = getattr(mem, method)(f, page, 7, order)
                assert (got.total, approx(got.items)) == (want.total, approx(want.items)), (
                    method, f)
    by_score = SignalOrder("score", "DESC")
    assert approx(ch.list_scores(order=by_score, per_page=50).items) == approx(
        mem.list_scores(order=by_score, per_page=50).items)
    assert approx(ch.get_score("s7")) == approx(mem.get_score("s7"))


def test_discovery_equals_memory(twins):
    (mem, ch), _ = twins
    for method, args in [("discover_entity_types", ()), ("discover_entity_names", ()),
                         ("discover_entity_names", ("tool",)), ("discover_service_names", ()),
                         ("discover_environments", ()), ("discover_tags", ()),
                         ("discover_tags", ("agent",)), ("discover_metric_names", ()),
                         ("discover_metric_names", ("t", 1)),
                         ("discover_metric_label_keys", ("tokens",)),
                         ("discover_metric_label_values", ("tokens", "status")),
                         ("discover_metric_label_values", ("cost", "region", "e", 5))]:
        assert getattr(ch, method)(*args) == getattr(mem, method)(*args), method


def eq(path, literal, op="eq"):
    return {"op": op, "left": {"path": path}, "right": {"literal": literal}}


PREDICATES = [
    None, eq("status", "error"), eq("environment", "prod", "ne"), eq("environment", None),
    {"op": "not", "arg": eq("threadId", "th")},
    {"op": "not", "arg": {"op": "in", "value": {"path": "environment"}, "set": ["dev"]}},
    {"op": "notIn", "value": {"path": "environment"}, "set": ["dev"]},
    eq("metadata.tier", "gold"), {"op": "exists", "path": "metadata.tier"},
    {"op": "not", "arg": eq("metadata.tier", "silver", "ne")},
    {"op": "includes", "path": "tags", "value": "y"},
    {"op": "notIncludes", "path": "tags", "value": "y"},
    {"op": "notExists", "path": "tags"}, eq("durationMs", 2000, "lte"),
    {"spans": {"some": eq("model", "gpt-4o")}},
    {"spans": {"none": {"op": "and", "args": [eq("spanType", "tool_call"),
                                              {"op": "exists", "path": "error"}]}}},
    {"spans": {"some": {"op": "not", "arg": eq("durationMs", 1000, "lt")}}},
    {"spans": {"some": eq("provider", None, "ne")}},
    {"scores": {"some": {"op": "and", "args": [eq("scorerId", "rel"), eq("score", 0.5, "gt")]}}},
    {"scores": {"none": {"op": "exists", "path": "spanId"}}},
    {"feedback": {"some": {"op": "in", "value": {"path": "value"}, "set": [4, 5]}}},
    {"feedback": {"some": {"op": "not", "arg": eq("value", "up")}}},
    {"feedback": {"none": eq("value", None)}},
    {"op": "or", "args": [{"op": "not", "arg": {"scores": {"some": eq("scoreSource", "live")}}},
                          eq("entityType", "agent")]},
]


@pytest.mark.parametrize("where", PREDICATES)
def test_trace_queries_equal_memory(twins, where):
    (mem, ch), _ = twins
    window = {"from": "2026-11-01T11:00:00Z", "to": "2026-11-01T12:20:00Z"}
    for extra in ({}, {"orderBy": [{"field": "endedAt", "direction": "asc"}]},
                  {"pagination": {"page": 1, "perPage": 5}}):
        body = {"timeRange": window, **extra}
        if where is not None:
            body["where"] = where
        q = plan_trace_query(body)
        got, want = ch.query_traces(q), mem.query_traces(q)
        assert approx(got) == approx(want)
    # keyset pages walk the whole result exactly once
    body = {"timeRange": window, "page": {"limit": 3}}
    if where is not None:
        body["where"] = where
    seen, cursor = [], None
    while True:
        if cursor:
            body["page"] = {"limit": 3, "after": cursor}
        result = ch.query_traces(plan_trace_query(body))
        seen += [r.trace_id for r in result.rows]
        cursor = result.next_cursor
        if not cursor:
            break
    full = {k: v for k, v in body.items() if k != "page"}
    assert seen == [r.trace_id for r in mem.query_traces(
        plan_trace_query({**full, "page": {"limit": 1000}})).rows]


@pytest.mark.parametrize(("scope", "path"), [
    ("trace", "status"), ("trace", "tags"), ("trace", "entityType"), ("trace", "metadata.tier"),
    ("spans", "spanType"), ("spans", "model"), ("spans", "status"), ("scores", "scorerId"),
    ("scores", "scoreSource"), ("feedback", "feedbackType")])
def test_suggestions_equal_memory(twins, scope, path):
    (mem, ch), _ = twins
    window = {"from": "2026-11-01T11:00:00Z", "to": "2026-11-01T12:20:00Z"}
    for extra in ({}, {"limit": 1}, {"search": "O"}):
        req = plan_suggestions({"timeRange": window, "predicateScope": scope, "path": path,
                                **extra}, with_path=True)
        assert ch.trace_query_values(req) == mem.trace_query_values(req)
        fields = plan_suggestions({"timeRange": window, "predicateScope": scope, **extra},
                                  with_path=False)
        assert ch.trace_query_fields(fields) == mem.trace_query_fields(fields)


def same_spans(got: Any, want: Any) -> bool:
    """Equal but for createdAt/updatedAt (each store stamps its own write time)."""
    def strip(spans):
        return [replace(s, created_at=None, updated_at=None) for s in spans]

    if got is None or want is None:
        return got is want
    spans_got = got.spans if hasattr(got, "spans") else got
    spans_want = want.spans if hasattr(want, "spans") else want
    return bool(strip(spans_got) == strip(spans_want))


def test_span_reads_equal_memory(twins):
    (mem, ch), traces = twins
    for t in traces[:10]:
        assert same_spans(ch.get_structure(t), mem.get_structure(t))
        ids = [s.span_id for s in mem.get_structure(t).spans]
        assert same_spans(ch.get_spans(t, [*ids[::-1], "nope"]),
                          mem.get_spans(t, [*ids[::-1], "nope"]))
        for depth in (None, 0, 1):
            assert same_spans(ch.get_branch(t, "root", depth), mem.get_branch(t, "root", depth))
        assert ch.get_branch(t, "nope") is None
    for f in (None, TracesFilter(span_type="tool_call"), TracesFilter(status="error"),
              TracesFilter(entity_name="a", has_child_error=True)):
        got, want = ch.list_traces_light(f, 1, 5), mem.list_traces_light(f, 1, 5)
        assert (got.total, got.has_more) == (want.total, want.has_more)
        assert same_spans(got, want)
        got_b, want_b = ch.list_branches(f, 0, 100), mem.list_branches(f, 0, 100)
        assert got_b.total == want_b.total
        assert {s.key for s in got_b.spans} == {s.key for s in want_b.spans}


# ---------------------------------------------------------------------------- retention, misc

def test_prune_in_small_batches_and_stats(make):
    store = make()
    spans = random_spans(random.Random(7), 9)
    store.batch_create_spans(spans)
    traces = sorted({s.trace_id for s in spans})
    store.batch_create_logs([LogRecord(timestamp=NOW, level="info", message="m", trace_id=t)
                             for t in traces])
    cutoff = max(s.started_at for s in spans if s.parent_span_id is None) - timedelta(seconds=1)
    old_roots = {s.trace_id for s in spans if s.parent_span_id is None and s.started_at < cutoff}
    counts = store.prune(cutoff, batch_size=2)
    assert counts["spans"] == sum(s.trace_id in old_roots for s in spans)
    assert counts["logs"] == len(old_roots)
    stats = store.stats()
    assert stats["logs"]["rows"] == len(traces) - len(old_roots)
    assert stats["spans"]["bytes"] > 0 and stats["logs"]["oldest"] == NOW
    assert stats["feedback"] == {"rows": 0, "bytes": 0, "oldest": None, "newest": None}
    with pytest.raises(ValueError, match="batch_size"):
        store.prune(cutoff, batch_size=0)


def test_features_are_everything_but_delta_polling(ch):
    assert Feature.DELTA_POLLING not in ch.features()
    assert {Feature.TRACE_QUERY, Feature.METRICS, Feature.BRANCHES, Feature.TAG_DISCOVERY,
            Feature.TRACE_QUERY_DISCOVERY} <= ch.features()


def test_ordering_non_scores_by_score_is_an_error(ch):
    with pytest.raises(ValueError, match="only scores"):
        ch.list_logs(order=SignalOrder("score", "DESC"))


def test_awkward_text_and_times_round_trip_like_memory(ch):
    """NUL and lone surrogates become U+FFFD in every text, tag and label (the shared
    rule); sub-millisecond and naive timestamps are stored as UTC milliseconds."""
    naive = datetime(2026, 11, 2, 10, 0, 0, 123999)
    log = LogRecord(timestamp=naive, level="info", message="a\x00b \ud800", tags=["t\x00"],
                    data={"k": "v\x00"}, log_id="l1", environment="é")
    metric = MetricRecord(timestamp=naive, name="n\x00", value=1,
                          labels={"k\x00": "v\ud800"}, metric_id="m1")
    mem = InMemoryStore()
    for store in (ch, mem):
        store.batch_create_logs([log])
        store.batch_create_metrics([metric])
    assert approx(ch.list_logs().items) == approx(mem.list_logs().items)
    (log,) = ch.list_logs().items
    assert log.message == "a\ufffdb \ufffd" and log.tags == ["t\ufffd"]
    assert log.timestamp == datetime(2026, 11, 2, 10, 0, 0, 123000, tzinfo=timezone.utc)
    (metric,) = ch.list_metrics().items
    assert metric.name == "n\ufffd" and metric.labels == {"k\ufffd": "v\ufffd"}


def test_big_batches_are_split_by_rows_and_bytes(make):
    store = make(max_insert_rows=3, max_insert_bytes=2000)
    inserts = []
    original = store.client.insert

    def spy(table, data, **kw):
        inserts.append((table, len(data[0])))
        return original(table, data, **kw)

    store.client.insert = spy
    try:
        logs = [LogRecord(timestamp=NOW, level="info", message="x" * (1990 if i == 4 else 10),
                          log_id=f"l{i}") for i in range(8)]
        store.batch_create_logs(logs)
    finally:
        del store.client.insert
    assert [n for t, n in inserts if t == "mastra_log_events"] == [3, 1, 1, 3]
    assert store.list_logs().total == 8
