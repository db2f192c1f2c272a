"""SQL specifics of the signals (SQLite, libSQL, PostgreSQL): the same answers as the
in-memory reference on random data, one statement per trace query with every literal
bound, Mastra's JSONB blobs, PostgreSQL's day partitions, upgrades in place, databases
without the signal tables, batched retention and statistics.

(The backend-neutral behaviour is in tests/test_signal_suite.py; MSSQL's statements are
checked as text in tests/test_mssql_sql.py.)
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mastra_storage import DefaultExporter
from mastra_storage.errors import UnsupportedOperation
from mastra_storage.model.signals import FeedbackRecord, LogRecord, MetricRecord, ScoreRecord
from mastra_storage.storage import InMemoryStore
from mastra_storage.storage.signal_queries import (
    AGGREGATIONS,
    INTERVALS,
    Feature,
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
from mastra_storage.storage.sql.dialects.sqlite import AGGREGATE_ORDER_BY
from mastra_storage.storage.sql.migrate import current_revision, upgrade
from mastra_storage.storage.sql.sqlite import SQLiteStore
from mastra_storage.storage.trace_query import plan_suggestions, plan_trace_query
from tests.backends import selected

from .factories import span, tid
from .test_signal_suite import T0, iso, seed_signals, seed_spans

SQL_BACKENDS = [b for b in ("sqlite", "libsql", "postgres") if b in selected()]
HOSTILE = "x'); DROP TABLE mastra_log_events; --"


@pytest.fixture(params=SQL_BACKENDS)
def sql_store(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.conftest import _provider

    store = _provider(request.param, tmp_path_factory).make_store()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def pg_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if "postgres" not in selected():
        pytest.skip("postgres not in MASTRA_TEST_BACKENDS")
    from tests.conftest import _provider

    store = _provider("postgres", tmp_path_factory).make_store()
    try:
        yield store
    finally:
        store.close()


def both(store: Any) -> list[Any]:
    return [store, InMemoryStore()]


class Statements:
    """Every statement the engine sends, as text with its parameters."""

    def __init__(self, engine: sa.Engine) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        self.sent.append((statement, parameters))

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)


# ---------------------------------------------------------------------------- parity

def random_metrics(n: int, seed: int) -> list[MetricRecord]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        # whole minutes only: many rows share a timestamp (ties in "last" and in order)
        at = T0 + timedelta(minutes=rnd.randrange(0, 3 * 24 * 60, 7))
        labels = {"status": rnd.choice(["ok", "error"])}
        if rnd.random() < 0.3:
            labels["tier"] = rnd.choice(["gold", "free"])
        out.append(MetricRecord(
            timestamp=at, name=rnd.choice(["tokens", "latency", "cost"]),
            value=rnd.choice([float(rnd.randrange(0, 50)), rnd.random() * 1000]),
            labels=labels, model=rnd.choice(["a", "b", "c", None]),
            provider=rnd.choice(["p", "q"]), entity_name=rnd.choice(["x", "y", None]),
            estimated_cost=rnd.choice([None, rnd.random()]),
            cost_unit=rnd.choice(["USD", "USD", "EUR"]) if rnd.random() < 0.9 else None,
            environment=rnd.choice(["prod", "dev"]), metric_id=f"r{seed}-{i}"))
    return out


def close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return bool(a == b)


def test_metric_reads_answer_as_the_reference_on_random_data(sql_store):
    memory = InMemoryStore()
    rows = random_metrics(600, seed=7)
    for s in (sql_store, memory):
        s.batch_create_metrics(rows[:300])
        s.batch_create_metrics(rows[300:])
    window = MetricsFilter(timestamp=TimeRange(T0 + timedelta(hours=20), T0 + timedelta(days=2)))
    for aggregation in AGGREGATIONS:
        distinct = "model" if aggregation == "count_distinct" else None
        for names, f in ((("tokens",), None), (("tokens", "latency"), window)):
            got, want = (s.metric_aggregate(MetricAggregateRequest(
                names, aggregation, filters=f, distinct_column=distinct,
                compare_period="previous_day")) for s in (sql_store, memory))
            for field in ("value", "estimated_cost", "cost_unit", "previous_value",
                          "change_percent", "compared"):
                assert close(getattr(got, field), getattr(want, field)), (aggregation, field)
            got, want = (s.metric_breakdown(MetricBreakdownRequest(
                names, ("model", "tier"), aggregation, filters=f, distinct_column=distinct))
                for s in (sql_store, memory))
            assert [g.dimensions for g in got] == [g.dimensions for g in want], aggregation
            assert all(close(a.value, b.value) and close(a.estimated_cost, b.estimated_cost)
                       and a.cost_unit == b.cost_unit for a, b in zip(got, want, strict=True))
        for interval in INTERVALS:
            got, want = (s.metric_timeseries(MetricTimeseriesRequest(
                ("latency",), interval, aggregation, distinct_column=distinct,
                group_by=("status",) if interval == "1h" else None))
                for s in (sql_store, memory))
            assert [(x.name, x.cost_unit) for x in got] == [(x.name, x.cost_unit) for x in want]
            for a, b in zip(got, want, strict=True):
                assert [p.timestamp for p in a.points] == [p.timestamp for p in b.points]
                assert all(close(p.value, q.value) and close(p.estimated_cost, q.estimated_cost)
                           for p, q in zip(a.points, b.points, strict=True))
    for interval in ("15m", "1d"):
        request = MetricPercentilesRequest("latency", (0.0, 0.1, 0.5, 0.95, 0.99, 1.0), interval)
        got, want = (s.metric_percentiles(request) for s in (sql_store, memory))
        for a, b in zip(got, want, strict=True):
            assert [p.timestamp for p in a.points] == [p.timestamp for p in b.points]
            assert [p.value for p in a.points] == pytest.approx([p.value for p in b.points],
                                                                rel=1e-12)
    got, want = (s.list_metrics(MetricsFilter(labels={"status": "ok"}), per_page=100,
                                order=SignalOrder("timestamp", "ASC")) for s in (sql_store, memory))
    assert got.total == want.total and [m.metric_id for m in got.items] == [
        m.metric_id for m in want.items]  # ties keep the order rows were stored in


@pytest.mark.parametrize("path", ["by-bucket", "sorted", "ranked", "bucket-too-large"])
def test_sqlite_percentiles_are_the_references_to_the_bit(tmp_path, monkeypatch, path):
    """Every SQLite path, each against the in-memory store to the bit: each bucket's values
    read by a range of the time index and sorted by Python (the default); past that
    path's bounds (buckets in the range, values of one bucket) one statement answers —
    the bucket's values sorted in one aggregate (3.44+: here the test dependency
    sqlean.py's SQLite, on an engine of the test's own) or the window-function ranks
    (older SQLite, e.g. the stdlib's 3.40 on Debian 12; forced where it is newer)."""
    db = tmp_path / "p.db"
    if path == "sorted":
        sqlean = pytest.importorskip("sqlean", reason="a SQLite >= 3.44 for the sorted path")
        store = SQLiteStore(db, engine=sa.create_engine(f"sqlite:///{db}", module=sqlean))
    else:
        store = SQLiteStore(db)
        if path != "by-bucket" and sqlite3.sqlite_version_info >= AGGREGATE_ORDER_BY:
            monkeypatch.setattr(store.dialect, "sorted_values", lambda *a: None)
    if path in ("sorted", "ranked"):
        monkeypatch.setattr(store, "BUCKETS_READ_ONE_BY_ONE", 0)
    elif path == "bucket-too-large":
        monkeypatch.setattr(store, "BUCKET_VALUES_IN_MEMORY", 1)
    else:
        def no_statement(*_: Any) -> Any:
            raise AssertionError("answered by the one-statement path")

        monkeypatch.setattr(store, "_percentile_statement", no_statement)
    store.init()
    memory = InMemoryStore()
    rows = random_metrics(400, seed=3)
    odd = [5e-324, 1.7976931348623157e308, 0.1 + 0.2, -0.0, 123456789.12345679, 1 / 3]
    rows += [MetricRecord(timestamp=T0 + timedelta(minutes=i), name="latency", value=v,
                          metric_id=f"odd{i}") for i, v in enumerate(odd)]
    # on a bucket's first and last millisecond (a range that is half-open)
    edge = T0 + timedelta(hours=5)
    rows += [MetricRecord(timestamp=at, name="latency", value=float(i), metric_id=f"edge{i}")
             for i, at in enumerate((edge, edge - timedelta(milliseconds=1),
                                     edge + timedelta(minutes=59, seconds=59,
                                                      milliseconds=999)))]
    for s in (store, memory):
        s.batch_create_metrics(rows)
    with store.engine.connect():
        shape, _ = (("by-bucket", None) if path == "by-bucket" else
                    store._percentile_statement(MetricPercentilesRequest("latency", (0.5,))))
    assert shape == path.replace("bucket-too-large", "ranked" if sqlite3.sqlite_version_info
                                 < AGGREGATE_ORDER_BY else "sorted")
    window = MetricsFilter(timestamp=TimeRange(T0 + timedelta(hours=5), T0 + timedelta(days=1)),
                           labels={"status": "ok"})
    for ps, interval, f in (((0.07, 0.29, 0.5, 0.95), "1h", None), ((0.0, 1.0), "1h", None),
                            ((0.5, 0.99), "15m", window), ((0.5,), "1d", None)):
        request = MetricPercentilesRequest("latency", ps, interval, filters=f)
        got, want = store.metric_percentiles(request), memory.metric_percentiles(request)
        assert [[(p.timestamp, p.value) for p in s.points] for s in got] == [
            [(p.timestamp, p.value) for p in s.points] for s in want]
        assert all(s.points for s in got)
    nothing = MetricPercentilesRequest("no-such-metric", (0.5, 0.9), "1h")
    assert store.metric_percentiles(nothing) == memory.metric_percentiles(nothing)
    if path == "bucket-too-large":  # the first bucket of two values gave up the path
        calls: list[Any] = []
        statement = store._percentile_statement

        def spy(request: Any) -> Any:
            calls.append(request)
            return statement(request)

        monkeypatch.setattr(store, "_percentile_statement", spy)
        store.metric_percentiles(MetricPercentilesRequest("latency", (0.5,), "1d"))
        assert len(calls) == 1
    store.close()


def test_log_order_and_search_match_the_reference(sql_store):
    memory = InMemoryStore()
    logs = [LogRecord(timestamp=T0 + timedelta(seconds=i // 3), level="info",
                      message=f"Step {i} of the RUN", log_id=f"l{i}", trace_id=tid(1))
            for i in range(12)]
    for s in (sql_store, memory):
        s.batch_create_logs(logs)
    for order in (SignalOrder("timestamp", "DESC"), SignalOrder("timestamp", "ASC")):
        for page in (0, 1, 2):
            got, want = (s.list_logs(LogsFilter(search="run"), page=page, per_page=5,
                                     order=order) for s in (sql_store, memory))
            assert [r.log_id for r in got.items] == [r.log_id for r in want.items]
            assert got.total == want.total == 12
    for needle in ("100%", "of_the", HOSTILE, "STEP 1"):
        got, want = (s.list_logs(LogsFilter(search=needle), per_page=100)
                     for s in (sql_store, memory))
        assert {r.log_id for r in got.items} == {r.log_id for r in want.items}, needle


# ---------------------------------------------------------------------------- trace query

def test_a_trace_query_is_one_statement_with_every_literal_bound(sql_store):
    seeded = seed_spans(sql_store)
    seed_signals(sql_store, seeded)
    memory = InMemoryStore()
    seed_signals(memory, copy_spans(sql_store, memory, seeded))
    where = {"op": "and", "args": [
        {"op": "or", "args": [
            {"op": "eq", "left": {"path": "metadata.tier"}, "right": {"literal": "gold"}},
            {"op": "eq", "left": {"path": f"metadata.{HOSTILE}"}, "right": {"literal": HOSTILE}},
        ]},
        {"op": "not", "arg": {"op": "in", "value": {"path": "environment"},
                              "set": [HOSTILE, "dev"]}},
        {"spans": {"some": {"op": "eq", "left": {"path": "model"},
                            "right": {"literal": "gpt-4o"}}}},
        {"scores": {"none": {"op": "eq", "left": {"path": "scorerId"},
                             "right": {"literal": HOSTILE}}}},
        {"feedback": {"some": {"op": "gt", "left": {"path": "value"}, "right": {"literal": 1}}}},
    ]}
    body = {"timeRange": {"from": iso(T0 - timedelta(hours=1)),
                          "to": iso(T0 + timedelta(days=1))}, "where": where}
    recorder = Statements(sql_store.engine)
    try:
        result = sql_store.query_traces(plan_trace_query(body))
    finally:
        recorder.close()
    assert [r.trace_id for r in result.rows] == [seeded.traces["agent"]]
    assert [r.trace_id for r in memory.query_traces(plan_trace_query(body)).rows] == [
        seeded.traces["agent"]]
    assert len(recorder.sent) == 1
    sql, params = recorder.sent[0]
    assert HOSTILE not in sql and "DROP" not in sql and "gpt-4o" not in sql
    assert "EXISTS" in sql
    flat = list(params.values()) if isinstance(params, dict) else list(params)
    assert HOSTILE in flat


def copy_spans(source: Any, target: Any, seeded: Any) -> Any:
    """The suite's spans, read back from ``source``, written to ``target`` (same ids)."""
    for trace_id in seeded.traces.values():
        target.batch_create_spans(source.get_trace(trace_id).spans)
    return seeded


def test_suggestions_and_values_read_jsonb_and_count_like_the_reference(sql_store):
    seeded = seed_spans(sql_store)
    seed_signals(sql_store, seeded)
    window = {"from": iso(T0 - timedelta(hours=1)), "to": iso(T0 + timedelta(days=1))}
    for scope, path in (("spans", "model"), ("spans", "status"), ("scores", "scorerId"),
                        ("feedback", "feedbackSource"), ("trace", "status")):
        got = sql_store.trace_query_values(plan_suggestions(
            {"timeRange": window, "predicateScope": scope, "path": path}, with_path=True))
        assert got.values, (scope, path)
    models = sql_store.trace_query_values(plan_suggestions(
        {"timeRange": window, "predicateScope": "spans", "path": "model"}, with_path=True))
    assert models.values == [("gpt-4o", 1)]


# ---------------------------------------------------------------------------- writes

def test_retried_and_duplicated_records_are_stored_once(sql_store):
    logs = [LogRecord(timestamp=T0, level="info", message="m", log_id="same"),
            LogRecord(timestamp=T0, level="info", message="m", log_id="same"),
            LogRecord(timestamp=T0, level="warn", message="n", log_id="other")]
    sql_store.batch_create_logs(logs)
    sql_store.batch_create_logs(logs)
    assert sql_store.list_logs().total == 2
    scores = [ScoreRecord(timestamp=T0, scorer_id="s", score=1.0, score_id="sc")] * 3
    sql_store.batch_create_scores(scores)
    assert sql_store.list_scores().total == 1


def test_every_field_round_trips(sql_store):
    fb = FeedbackRecord(timestamp=T0, feedback_type="rating", feedback_source="user",
                        value_number=4.5, comment="a\x00b ✓", source_id="src", tags=["t"],
                        metadata={"n": [1, {"x": None}], "nan": float("nan")},
                        scope={"core": "1"}, trace_id=tid(9), user_id="u",
                        source="cloud", feedback_id="fb1")
    sql_store.batch_create_feedback([fb])
    (got,) = sql_store.list_feedback().items
    (want,) = _memory_copy(fb).list_feedback().items
    assert got == want
    assert got.comment == "a\ufffdb ✓" and got.metadata == {"n": [1, {"x": None}],
                                                            "nan": "NaN"}
    assert got.source == "cloud" and got.timestamp == T0


def _memory_copy(*records: Any) -> InMemoryStore:
    memory = InMemoryStore()
    memory.batch_create_feedback(list(records))
    return memory


# ---------------------------------------------------------------------------- SQLite / libSQL

@pytest.mark.parametrize("driver", ["sqlite", "libsql"])
def test_sqlite_reads_signal_json_written_as_jsonb(tmp_path, driver):
    if driver not in selected():
        pytest.skip(f"{driver} not in MASTRA_TEST_BACKENDS")
    sqlean = pytest.importorskip("sqlean", reason="sqlean.py (a test dependency) writes JSONB")
    path = tmp_path / "jsonb.db"
    first = SQLiteStore(path, driver=driver)
    first.init()
    first.close()
    # Mastra's writer, a current SQLite, while no store has the file open (one SQLite
    # library at a time on a file: see storage/sql/sqlite.py).
    conn = sqlean.connect(str(path))
    with conn:
        conn.execute(
            'INSERT INTO mastra_metric_events ("metricId", timestamp, name, value, tags, labels,'
            ' metadata, "traceId") VALUES (?, ?, ?, ?, jsonb(?), jsonb(?), jsonb(?), ?)',
            ("mb", "2026-11-02T10:00:00.000Z", "tokens", 5.0, '["blob"]',
             '{"status": "ok", "k\'\\"": "v"}', '{"a": 1}', "t1"))
    conn.close()
    store = SQLiteStore(path, driver=driver)
    (metric,) = store.list_metrics().items
    assert metric.tags == ["blob"] and metric.labels == {"status": "ok", "k'\"": "v"}
    assert metric.metadata == {"a": 1}
    assert store.discover_tags() == ["blob"]
    assert store.discover_metric_label_keys("tokens") == ["k'\"", "status"]
    assert store.discover_metric_label_values("tokens", "k'\"") == ["v"]
    groups = store.metric_breakdown(MetricBreakdownRequest(("tokens",), ("k'\"",)))
    assert [g.dimensions for g in groups] == [{"k'\"": "v"}]
    groups = store.metric_breakdown(MetricBreakdownRequest(("tokens",), ("status",)))
    assert [g.dimensions for g in groups] == [{"status": "ok"}]
    assert store.list_metrics(MetricsFilter(labels={"status": "ok"})).total == 1
    store.close()


def _stat_rows(path: Path) -> int | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'mastra_metric_events' "
                           "AND idx IS NOT NULL LIMIT 1").fetchone()
    except sqlite3.OperationalError:
        return None  # no statistics table yet
    finally:
        conn.close()
    return int(row[0].split()[0]) if row else None


def test_sqlite_keeps_metric_statistics_current_for_grouped_reads(tmp_path):
    """Grouped metric reads keep the table's planner statistics current: made once the
    table is large enough, made again after it doubled (looked at no more often than the
    interval allows), and never in the way: a database that can't be written answers."""
    db = tmp_path / "stats.db"
    store = SQLiteStore(db)
    store.init()
    now = [0.0]
    store.dialect.clock = lambda: now[0]  # type: ignore[attr-defined]
    store.dialect.STATS_MIN_ROWS = 300  # type: ignore[attr-defined]
    memory = InMemoryStore()
    rows = random_metrics(1200, seed=11)
    request = MetricBreakdownRequest(("tokens", "latency", "cost"), ("model",))

    def agree() -> None:
        got, want = store.metric_breakdown(request), memory.metric_breakdown(request)
        assert [g.dimensions for g in got] == [g.dimensions for g in want]
        assert [g.value for g in got] == pytest.approx([g.value for g in want])

    for s in (store, memory):
        s.batch_create_metrics(rows[:200])
    agree()
    assert _stat_rows(db) is None  # too few rows to be worth it
    now[0] += store.dialect.STATS_EVERY  # type: ignore[attr-defined]
    for s in (store, memory):
        s.batch_create_metrics(rows[200:400])
    agree()
    assert _stat_rows(db) == 400
    for s in (store, memory):
        s.batch_create_metrics(rows[400:])  # three times as many rows
    agree()
    assert _stat_rows(db) == 400  # not looked at again within the interval
    now[0] += store.dialect.STATS_EVERY  # type: ignore[attr-defined]
    agree()
    assert _stat_rows(db) == 1200
    store.close()

    # Another process holds the write lock: the read answers without new statistics.
    busy = SQLiteStore(db, busy_timeout_ms=50)
    busy.dialect.STATS_MIN_ROWS = 300  # type: ignore[attr-defined]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM sqlite_stat1")
    conn.close()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        got = busy.metric_breakdown(request)
        assert [g.dimensions for g in got] == [g.dimensions for g in
                                               memory.metric_breakdown(request)]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert _stat_rows(db) is None
    busy.close()


def test_sqlite_label_keys_read_the_same_however_the_json_spells_them(tmp_path):
    """A label as a group key is read by a JSON path where the row's JSON text has no
    escapes, else by a lookup of decoded keys: rows written by other tools, spelling the
    key or its value with escapes, group with the rest."""
    store = SQLiteStore(tmp_path / "labels.db")
    store.init()
    rows = [("m1", '{"status": "ok"}'), ("m2", '{"st\\u0061tus": "ok"}'),
            ("m3", '{"status": "a\\\\b", "x": 1}'), ("m4", '{"status": 7}'),
            ("m5", '{"other": "ok"}'), ("m6", '{"status": {"code": 1}}')]
    with sqlite3.connect(tmp_path / "labels.db") as conn:
        conn.executemany(
            'INSERT INTO mastra_metric_events ("metricId", timestamp, name, value, labels) '
            "VALUES (?, '2026-11-02T10:00:00.000Z', 'calls', 1.0, ?)", rows)
    conn.close()
    groups = store.metric_breakdown(MetricBreakdownRequest(("calls",), ("status",),
                                                           aggregation="count"))
    got = sorted((g.dimensions["status"] or "", g.value) for g in groups)
    assert got == [("", 1.0), ("7", 1.0), ("a\\b", 1.0), ("ok", 2.0), ('{"code":1}', 1.0)]
    series = store.metric_timeseries(MetricTimeseriesRequest(("calls",), "1h",
                                                             aggregation="count",
                                                             group_by=("status",)))
    assert sorted(s.name for s in series) == ["", "7", "a\\b", "ok", '{"code":1}']
    store.close()


def test_an_existing_database_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    old = SQLiteStore(path, auto_migrate=False)
    upgrade(old.engine, "0001")  # a database from before the signal tables
    trace = tid()
    old.batch_create_spans([span(trace, "root", name="kept")])
    assert old.features() == frozenset({Feature.BRANCHES})
    with pytest.raises(UnsupportedOperation):
        old.batch_create_logs([LogRecord(timestamp=T0, level="info", message="m")])
    old.close()
    store = SQLiteStore(path)  # auto_migrate: upgraded on init
    store.init()
    assert current_revision(store.engine) == "0005"
    assert store.get_span(trace, "root").name == "kept"  # type: ignore[union-attr]
    assert Feature.LOGS in store.features()
    store.batch_create_logs([LogRecord(timestamp=T0, level="info", message="m")])
    assert store.list_logs().total == 1
    store.close()


def test_a_store_without_the_signal_tables_drops_them_as_unsupported(tmp_path, observe):
    path = tmp_path / "spans-only.db"
    store = SQLiteStore(path, auto_migrate=False)
    upgrade(store.engine, "0001")
    store.init()
    exporter = DefaultExporter(strategy="batch-with-updates")
    obs = observe(exporter, storage=store)
    tracer = obs.get_default_instance()
    with tracer.start_span("run") as run:
        run.log("info", "no table for me")
        run.metric("tokens", 3.0)
    assert obs.flush(10)
    assert exporter.drops.snapshot() == {"unsupported-storage": 2}
    assert store.list_traces().total == 1  # the span itself is stored
    with pytest.raises(UnsupportedOperation):
        store.list_logs()
    store.close()


# ---------------------------------------------------------------------------- PostgreSQL

def partitions(store: Any, table: str) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:p AS regclass)"), {"p": f'"{store.schema}".{table}'}))


def test_postgres_keeps_the_coming_days_and_makes_any_other_day_on_demand(pg_store):
    today = datetime.now(timezone.utc).date()
    names = partitions(pg_store, "mastra_log_events")
    for offset in (-1, 0, 14):
        assert f"mastra_log_events_p{today + timedelta(days=offset):%Y%m%d}" in names
    assert len(names) >= 16
    old = datetime(2020, 2, 29, 23, 59, 59, 999000, tzinfo=timezone.utc)
    far = datetime(2031, 1, 1, tzinfo=timezone.utc)
    pg_store.batch_create_logs([LogRecord(timestamp=old, level="info", message="leap"),
                                LogRecord(timestamp=far, level="info", message="later")])
    names = partitions(pg_store, "mastra_log_events")
    assert {"mastra_log_events_p20200229", "mastra_log_events_p20310101"} <= set(names)
    page = pg_store.list_logs(order=SignalOrder("timestamp", "ASC"))
    assert [(r.message, r.timestamp) for r in page.items] == [("leap", old), ("later", far)]
    with pg_store.engine.connect() as conn:  # filled by Mastra's defaults
        cursor, xact = conn.execute(sa.text(
            f'SELECT "cursorId", "xactId"::text FROM "{pg_store.schema}".mastra_log_events '
            "ORDER BY timestamp LIMIT 1")).one()
    assert cursor >= 1 and int(xact) > 0


def test_postgres_writes_again_after_another_process_dropped_a_day(pg_store):
    day = datetime(2022, 5, 5, 8, tzinfo=timezone.utc)
    pg_store.batch_create_logs([LogRecord(timestamp=day, level="info", message="first")])
    with pg_store.engine.begin() as conn:  # e.g. another process's prune
        conn.exec_driver_sql(f'DROP TABLE "{pg_store.schema}".mastra_log_events_p20220505')
    pg_store.batch_create_logs([LogRecord(timestamp=day, level="info", message="second")])
    assert [r.message for r in pg_store.list_logs().items] == ["second"]


def test_postgres_prune_drops_whole_old_day_partitions(pg_store):
    days = [datetime(2021, 3, d, 12, tzinfo=timezone.utc) for d in (1, 2, 3)]
    pg_store.batch_create_logs([LogRecord(timestamp=t + timedelta(minutes=m), level="info",
                                          message="x") for t in days for m in range(3)])
    cutoff = datetime(2021, 3, 3, 12, 1, tzinfo=timezone.utc)  # inside the third day
    recorder = Statements(pg_store.engine)
    try:
        counts = pg_store.prune(cutoff, signals=["logs"], batch_size=1)
    finally:
        recorder.close()
    assert counts == {"logs": 7}  # 2 days x 3 rows dropped whole, 1 row deleted
    names = partitions(pg_store, "mastra_log_events")
    assert "mastra_log_events_p20210301" not in names and "mastra_log_events_p20210302" not in names
    assert "mastra_log_events_p20210303" in names
    assert any("DETACH PARTITION" in sql for sql, _ in recorder.sent)
    assert sum(sql.startswith("DELETE FROM") for sql, _ in recorder.sent) == 1
    assert [r.timestamp for r in pg_store.list_logs(order=SignalOrder("timestamp", "ASC"))
            .items] == [datetime(2021, 3, 3, 12, m, tzinfo=timezone.utc) for m in (1, 2)]


# ---------------------------------------------------------------------------- retention

def test_prune_in_small_batches_counts_as_the_reference(sql_store):
    memory = InMemoryStore()
    seeded = seed_spans(sql_store)
    seed_signals(sql_store, seeded)
    seed_signals(memory, copy_spans(sql_store, memory, seeded))
    cutoff = T0 + timedelta(seconds=90)
    assert sql_store.prune(cutoff, batch_size=1) == memory.prune(cutoff, batch_size=1)
    for signal in ("logs", "scores", "feedback"):
        lister = getattr(sql_store, f"list_{signal}")
        reference = getattr(memory, f"list_{signal}")
        assert lister(per_page=100).total == reference(per_page=100).total


def test_stats_count_rows_and_bytes(sql_store):
    seed_signals(sql_store, seed_spans(sql_store))
    stats = sql_store.stats()
    assert set(stats) == {"spans", "logs", "metrics", "scores", "feedback"}
    assert stats["metrics"]["rows"] == 15 and stats["scores"]["oldest"] == T0 + timedelta(
        minutes=6)
    # libSQL's file: URLs too: the same stdlib SQLite, with its dbstat table
    assert all(isinstance(s["bytes"], int) and s["bytes"] > 0 for s in stats.values())


def test_score_filters_bind_hostile_metadata(sql_store):
    seed_signals(sql_store, seed_spans(sql_store))
    for key in (HOSTILE, "$.rubric", "rubric'", "a.b"):
        assert sql_store.list_scores(ScoresFilter(metadata={key: "v1"})).total == 0
    assert sql_store.list_scores(ScoresFilter(metadata={"rubric": HOSTILE})).total == 0


def test_sql_stores_declare_what_they_answer(sql_store):
    assert sql_store.features() == InMemoryStore().features()
    assert Feature.DELTA_POLLING not in sql_store.features()


def test_migration_records_head(sql_store, tmp_path: Path):
    assert current_revision(sql_store.engine, sql_store.schema) == "0005"
