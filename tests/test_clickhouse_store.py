"""ClickHouse-specific behaviour on the real engine (chdb, or MASTRA_TEST_CLICKHOUSE_URL)."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest

from mastra_storage import (
    DefaultExporter,
    Observability,
    ObservabilityConfig,
    SpanType,
    UnsupportedStrategyError,
)
from mastra_storage.storage import TracesFilter
from mastra_storage.storage.capabilities import TracingStrategy
from mastra_storage.storage.clickhouse import ClickHouseStore, VersionClock
from mastra_storage.storage.memory import InMemoryStore
from tests.backends.clickhouse import session_provider

from .factories import at, full_span, sid, span, tid


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


def raw_rows(store, trace_id):
    """Physical row versions of a trace, without FINAL (what the merges have not done yet)."""
    return store.query_rows(f"SELECT count() FROM {store.schema.spans} "
                            "WHERE traceId = {t:String}", {"t": trace_id})[0][0]


# ------------------------------------------------------------------------- de-duplication

def test_reinserting_the_same_spans_shows_each_once(ch):
    t = tid()
    root = span(t, sid())
    spans = [root] + [span(t, sid(), parent=root.span_id, start=i) for i in range(1, 5)]
    for _ in range(3):  # e.g. a batch retried twice after timeouts
        ch.batch_create_spans(spans)
    assert raw_rows(ch, t) == 15  # three versions of each row are on disk...
    trace = ch.get_trace(t)
    assert len(trace.spans) == 5  # ...and every read sees one
    assert sorted(s.span_id for s in trace.spans) == sorted(s.span_id for s in spans)
    assert len(ch.get_trace_light(t).spans) == 5
    assert ch.list_traces().total == 1
    assert ch.get_span(t, spans[2].span_id) is not None
    assert ch.query_rows(f"SELECT count() FROM {ch.schema.spans} FINAL")[0][0] == 5
    ch.command(f"OPTIMIZE TABLE {ch.schema.spans_local} FINAL")
    assert raw_rows(ch, t) == 5  # and the merge keeps exactly one


def test_latest_version_wins_and_filters_see_only_it(ch):
    t = tid()
    rec = span(t, sid(), error={"message": "transient"}, metadata={"tier": "free"})
    ch.batch_create_spans([rec])
    ch.batch_update_spans([rec.copy(error=None, metadata={"tier": "gold"})])
    assert raw_rows(ch, t) == 2
    assert ch.list_traces(TracesFilter(status="error")).total == 0
    assert ch.list_traces(TracesFilter(status="success")).total == 1
    assert ch.list_traces(TracesFilter(metadata={"tier": "free"})).total == 0
    assert ch.list_traces(TracesFilter(metadata={"tier": "gold"})).total == 1
    got = ch.get_span(t, rec.span_id)
    assert got.error is None and got.metadata == {"tier": "gold"}


def test_lazy_and_two_statement_pages_agree(ch):
    """The trace list is one statement where the server reads lazily (chdb does) and two
    (keys, then rows by key) elsewhere or for a page deeper than the server's lazy limit:
    both give the same pages and totals, with stale versions hidden."""
    assert ch.lazy_rows() > 0
    spans = []
    for i in range(30):
        t = tid()
        root = full_span(t, sid()).copy(
            started_at=at(i), ended_at=at(i + 0.5), error={"message": "x"} if i % 4 else None,
            metadata={"tier": "pro" if i % 3 else "free", "n": i})
        spans += [root, span(t, sid(), parent=root.span_id, start=i, end=i + 0.2)]
    memory = InMemoryStore()
    for store in (ch, memory):
        store.batch_create_spans(spans)
        store.batch_update_spans([s.copy(metadata={"tier": "gold"}) for s in spans[:10:2]])
    cases = [(TracesFilter(), 0, 10), (TracesFilter(), 2, 10), (TracesFilter(), 5, 10),
             (TracesFilter(status="error"), 0, 5), (TracesFilter(status="success"), 1, 5),
             (TracesFilter(metadata={"tier": "pro"}), 0, 7),
             (TracesFilter(metadata={"tier": "gold"}), 0, 25),
             (TracesFilter(metadata={"n": 7}), 0, 25),
             (TracesFilter(started_from=at(10), started_to=at(20)), 1, 4)]
    lazy = [ch.list_traces(f, page, per) for f, page, per in cases]
    ch._lazy_rows = 0  # a server without lazy materialization
    two = [ch.list_traces(f, page, per) for f, page, per in cases]
    ch._lazy_rows = 25  # pages ending past 25 rows take the two statements
    mixed = [ch.list_traces(f, page, per) for f, page, per in cases]
    for got in (two, mixed):
        for a, b in zip(lazy, got, strict=True):
            assert (a.spans, a.total, a.has_more) == (b.spans, b.total, b.has_more)
    want = [memory.list_traces(f, page, per) for f, page, per in cases]
    for a, b in zip(lazy, want, strict=True):
        assert ([s.span_id for s in a.spans], a.total) == ([s.span_id for s in b.spans], b.total)
    assert all(p.total for p in lazy) and all(p.spans for p in lazy[:2])  # not vacuous


def test_versions_strictly_increase_within_one_millisecond(ch):
    t = tid()
    rec = span(t, sid(), end=None)
    ch.batch_create_spans([rec])
    versions = []
    for i in range(20):  # far faster than one per millisecond
        ch.batch_update_spans([rec.copy(name=f"v{i}")])
        versions.append(ch.get_span(t, rec.span_id).updated_at)
    assert all(b > a for a, b in itertools.pairwise(versions))
    assert ch.get_span(t, rec.span_id).name == "v19"
    created = ch.get_span(t, rec.span_id).created_at
    assert created is not None and created <= versions[0]


def test_version_clock_is_strictly_monotonic_across_threads():
    clock = VersionClock()
    seen: list[int] = []
    lock = threading.Lock()

    def burst():
        mine = [clock.next_ms() for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(seen)) == len(seen) == 8000  # no two versions alike
    floor = max(seen) + 1000
    assert clock.next_ms(at_least=floor) == floor  # a stored version is a floor


def test_update_of_a_newer_stored_version_still_wins(ch):
    """A row whose stored version is ahead of this process's clock (another process, a
    clock step) is still replaced: the new version is above the stored one."""
    t = tid()
    rec = span(t, sid())
    ch.batch_create_spans([rec])
    ahead = ch.clock.next() + timedelta(hours=1)
    # a version written by someone whose clock is an hour ahead
    ch._insert([rec.copy(name="from-ahead", created_at=at(0), updated_at=ahead)])
    assert ch.get_span(t, rec.span_id).name == "from-ahead"
    ch.batch_update_spans([rec.copy(name="newer")])
    got = ch.get_span(t, rec.span_id)
    assert got.name == "newer" and got.updated_at > ahead


def test_update_of_missing_rows_writes_nothing(ch):
    t = tid()
    ch.batch_update_spans([span(t, sid()), span(t, sid())])
    assert raw_rows(ch, t) == 0
    assert ch.get_trace(t) is None


def test_update_that_moves_the_start_leaves_one_version(ch):
    """startedAt is in the partition (and, for roots, the ordering) key: the old version
    would never be merged away, so the update deletes it."""
    t = tid()
    rec = span(t, sid(), start=0)
    child = span(t, sid(), parent=rec.span_id, start=1)
    ch.batch_create_spans([rec, child])
    later = rec.copy(started_at=rec.started_at + timedelta(days=40))  # another month
    ch.batch_update_spans([later, child.copy(started_at=child.started_at + timedelta(days=40))])
    assert raw_rows(ch, t) == 2
    assert ch.get_span(t, rec.span_id).started_at == later.started_at
    assert [s.trace_id for s in ch.list_traces(TracesFilter(started_from=at(86400))).spans] \
        == [t]
    assert ch.list_traces(TracesFilter(started_to=at(10))).total == 0


def test_update_keeps_created_at(ch):
    t = tid()
    rec = span(t, sid())
    ch.batch_create_spans([rec])
    created = ch.get_span(t, rec.span_id).created_at
    ch.batch_update_spans([rec.copy(name="x")])
    assert ch.get_span(t, rec.span_id).created_at == created


# ------------------------------------------------------------------------- writes

def test_inserts_are_bounded_by_rows_and_bytes(make):
    store = make(max_insert_rows=3)
    calls = []
    real_insert = store.client.insert

    def counting_insert(*args, **kwargs):
        calls.append(len(args[1][0]))
        return real_insert(*args, **kwargs)

    store.client.insert = counting_insert
    try:
        t = tid()
        store.batch_create_spans([span(t, sid(), start=i) for i in range(10)])
        assert calls == [3, 3, 3, 1]
        assert len(store.get_trace(t).spans) == 10
        calls.clear()
        store.max_insert_rows = 10_000
        store.max_insert_bytes = 1000
        t2 = tid()
        store.batch_create_spans([span(t2, sid(), input={"x": "y" * 600}) for _ in range(4)])
        assert calls == [1, 1, 1, 1]  # each row alone is over half the byte bound
        calls.clear()
        store.max_insert_bytes = 32 * 1024 * 1024
        store.batch_create_spans([span(tid(), sid()) for _ in range(50)])
        assert calls == [50]  # one INSERT per batch otherwise
    finally:
        store.client.insert = real_insert


def test_async_insert_settings(make):
    store = make(async_insert=True)
    assert store.insert_settings["async_insert"] == 1
    assert store.insert_settings["wait_for_async_insert"] == 1
    t = tid()
    store.batch_create_spans([full_span(t, sid())])
    assert store.get_trace(t) is not None  # waited for: readable right away
    fire_and_forget = ClickHouseStore(host="h", async_insert=True, wait_for_async_insert=False,
                                      insert_settings={"async_insert_busy_timeout_ms": 50})
    assert fire_and_forget.insert_settings == {"async_insert": 1, "wait_for_async_insert": 0,
                                               "async_insert_busy_timeout_ms": 50}
    assert ClickHouseStore(host="h").insert_settings == {"async_insert": 0}
    assert ClickHouseStore(host="h", cluster="c").insert_settings == {
        "async_insert": 0, "insert_distributed_sync": 1}


@pytest.mark.parametrize("method", ["lightweight", "mutation"])
def test_delete_methods(make, method):
    store = make(delete_method=method)
    a, b = tid(), tid()
    ra = span(a, sid())
    store.batch_create_spans([ra, span(a, sid(), parent=ra.span_id), span(b, sid())])
    store.batch_create_spans([ra])  # a second version: still two spans to delete
    assert store.batch_delete_traces([a, tid()]) == 2
    assert store.get_trace(a) is None and raw_rows(store, a) == 0
    assert store.get_trace(b) is not None
    assert store.delete_traces_older_than(at(3600)) == 1
    assert store.list_traces().total == 0


def test_ttl_option_sets_table_retention(make):
    store = make(ttl_days=30)
    engine = store.query_rows(
        "SELECT engine_full FROM system.tables WHERE database = {d:String} AND "
        "name = 'mastra_ai_spans'", {"d": store.database})[0][0]
    assert "TTL toDateTime(startedAt) + toIntervalDay(30)" in engine


def test_truncated_payloads_are_counted(make):
    store = make(max_json_bytes=2000)
    t = tid()
    rec = span(t, sid(), input={"text": "x" * 5000})
    store.batch_create_spans([rec])
    got = store.get_span(t, rec.span_id).input
    assert got["truncated"] is True and got["originalBytes"] > 5000
    assert store.truncated_fields == 1


def test_lone_surrogates_do_not_sink_the_batch(ch):
    """A lone UTF-16 surrogate can't be sent as UTF-8: it becomes U+FFFD (jsonsafe's rule)
    instead of failing the whole INSERT, and filtering by such a value is inert."""
    t = tid()
    bad = span(t, sid(), name="bad \ud800 name", user_id="u\udfff",
               input={"text": "x\udfffy", "k\ud83d": 1})
    good = span(t, sid(), parent=bad.span_id)
    ch.batch_create_spans([bad, good])
    got = ch.get_span(t, bad.span_id)
    assert got.name == "bad \ufffd name" and got.user_id == "u\ufffd"
    assert got.input == {"text": "x\ufffdy", "k\ufffd": 1}
    assert ch.get_span(t, good.span_id) is not None
    assert ch.list_traces(TracesFilter(user_id="u\udfff")).total == 1
    assert ch.get_trace("\ud800") is None


# ------------------------------------------------------------------------- strategies

@pytest.mark.parametrize("strategy", ["batch-with-updates", "realtime"])
def test_unsupported_strategies_are_refused_at_bind(ch, strategy):
    with pytest.raises(UnsupportedStrategyError) as info:
        Observability(storage=ch, configs={"default": ObservabilityConfig(
            service_name="s", exporters=[DefaultExporter(strategy=strategy)])})
    err = info.value
    assert (err.strategy, err.provider, err.supported) == (strategy, "clickhouse",
                                                           ("insert-only",))


def test_auto_resolves_to_insert_only_and_writes_whole_spans(ch, observe):
    exporter = DefaultExporter(max_batch_wait_ms=20)
    obs = observe(exporter, storage=ch)
    assert exporter.strategy is TracingStrategy.INSERT_ONLY
    tracer = obs.get_default_instance()
    with tracer.start_span("agent", type=SpanType.AGENT_RUN, input={"q": "hi"}) as root:
        with root.child("llm", type=SpanType.MODEL_GENERATION) as llm:
            llm.update(output={"text": "hello"})
    obs.shutdown()
    trace = ch.get_trace(root.trace_id)
    assert [s.name for s in trace.spans] == ["agent", "llm"]
    assert trace.spans[1].output == {"text": "hello"} and trace.spans[1].ended_at is not None
    assert raw_rows(ch, root.trace_id) == 2  # one insert per span, never an update


# ------------------------------------------------------------------------- Mastra's table

MASTRA_DDL = """
CREATE TABLE {db}.mastra_ai_spans (
  "traceId" String, "spanId" String, "name" String, "spanType" String, "isEvent" Bool,
  "startedAt" DateTime64(3), "parentSpanId" Nullable(String), "entityType" Nullable(String),
  "entityId" Nullable(String), "entityName" Nullable(String),
  "parentEntityType" Nullable(String), "parentEntityId" Nullable(String),
  "parentEntityName" Nullable(String), "rootEntityType" Nullable(String),
  "rootEntityId" Nullable(String), "rootEntityName" Nullable(String),
  "userId" Nullable(String), "organizationId" Nullable(String), "resourceId" Nullable(String),
  "runId" Nullable(String), "sessionId" Nullable(String), "threadId" Nullable(String),
  "requestId" Nullable(String), "environment" Nullable(String), "serviceName" Nullable(String),
  "scope" Nullable(String), "entityVersionId" Nullable(String),
  "parentEntityVersionId" Nullable(String), "rootEntityVersionId" Nullable(String),
  "experimentId" Nullable(String), "source" Nullable(String),
  "metadata" Nullable(String) DEFAULT '{{}}', "tags" Nullable(String),
  "attributes" Nullable(String), "links" Nullable(String), "input" Nullable(String),
  "output" Nullable(String), "error" Nullable(String), "endedAt" Nullable(DateTime64(3)),
  "requestContext" Nullable(String), "createdAt" DateTime64(3), "updatedAt" DateTime64(3)
) ENGINE = ReplacingMergeTree(updatedAt) PRIMARY KEY (traceId, spanId)
ORDER BY (traceId, spanId) SETTINGS index_granularity = 8192
"""


def test_adopts_a_table_mastra_created_and_reads_its_rows(provider):
    """Mastra's store created the table and wrote rows its way (JSONEachRow, '' for a
    missing parent in older versions): this store migrates around it and reads them."""
    db = provider.info["new_database"]()
    keeper = provider.info["keeper"]
    keeper.command(f"CREATE DATABASE `{db}`")
    keeper.command(MASTRA_DDL.format(db=f"`{db}`"))
    t = tid()
    root_id, child_id = sid(), sid()
    keeper.command(
        f"INSERT INTO `{db}`.mastra_ai_spans SETTINGS date_time_input_format = 'best_effort' "
        "FORMAT JSONEachRow "
        f'{{"traceId":"{t}","spanId":"{root_id}","name":"agent","spanType":"agent_run",'
        '"isEvent":false,"startedAt":"2026-11-01T12:00:00.123Z","parentSpanId":"",'
        '"error":"","endedAt":"2026-11-01T12:00:02.000Z","metadata":"{\\"tier\\":\\"gold\\"}",'
        '"createdAt":"2026-11-01T12:00:03.000Z","updatedAt":"2026-11-01T12:00:03.000Z"}\n'
        f'{{"traceId":"{t}","spanId":"{child_id}","name":"llm","spanType":"model_generation",'
        f'"isEvent":false,"startedAt":"2026-11-01T12:00:01.000Z","parentSpanId":"{root_id}",'
        '"output":"{\\"text\\":\\"hi\\"}","endedAt":"2026-11-01T12:00:01.500Z",'
        '"createdAt":"2026-11-01T12:00:03.000Z","updatedAt":"2026-11-01T12:00:03.000Z"}')
    store = provider.info["build"](database=db)
    try:
        assert store.helpers is False  # Mastra's ordering key is kept as it is
        assert store.query_rows("SELECT sorting_key FROM system.tables WHERE "
                                "database = {d:String} AND name = 'mastra_ai_spans'",
                                {"d": db}) == [("traceId, spanId",)]
        page = store.list_traces()
        assert page.total == 1
        root = page.spans[0]
        assert root.span_id == root_id and root.parent_span_id is None
        assert root.error is None and root.status == "success"
        assert root.started_at == at(0) and root.metadata == {"tier": "gold"}
        assert store.get_root_span(t).span_id == root_id
        trace = store.get_trace(t)
        assert [s.name for s in trace.spans] == ["agent", "llm"]
        assert trace.spans[1].output == {"text": "hi"} and trace.spans[1].metadata == {}
        assert store.list_traces(TracesFilter(metadata={"tier": "gold"})).total == 1
        # and what this store writes there, Mastra's reader finds the way it looks
        t2 = tid()
        store.batch_create_spans([span(t2, sid())])
        assert store.query_rows(
            f"SELECT count() FROM `{db}`.mastra_ai_spans FINAL WHERE traceId = {{t:String}} "
            "AND (parentSpanId IS NULL OR parentSpanId = '')", {"t": t2}) == [(1,)]
        assert store.list_traces().total == 2
    finally:
        store.close()
