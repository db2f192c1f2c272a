"""ClickHouse with Mastra's v-next span tables (``layout="vnext"``) on the real engine
(chdb, or MASTRA_TEST_CLICKHOUSE_URL).

The shared behaviour runs in the shared suites (backend ``clickhouse-vnext``); here: the
DDL is Mastra's text and builds Mastra's tables, cluster and retention rendering, the
URL option, Mastra's row mapping both ways (our rows as Mastra stores them, Mastra's rows
read by us), which copy of a span wins, what the layout can't do, answers equal to the
in-memory store's on random data, and the backfill from ``mastra_ai_spans``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mastra_storage import DefaultExporter, SpanType
from mastra_storage.errors import InvalidStoreURLError, UnsupportedOperation
from mastra_storage.storage import TracesFilter, TracesOrderBy, create_store
from mastra_storage.storage.clickhouse import (
    BackfillReport,
    ClickHouseStore,
    ClickHouseVNextStore,
    backfill_vnext,
    migrate,
    offline_sql,
    parse_url,
)
from mastra_storage.storage.clickhouse import vnext_ddl as vd
from mastra_storage.storage.clickhouse.backfill import PROGRESS_TABLE
from mastra_storage.storage.clickhouse.ddl import DDLOptionsError, SchemaOptions
from mastra_storage.storage.clickhouse.migrations import delta_cursor_strategy
from mastra_storage.storage.clickhouse.vnext import normalize_tags
from mastra_storage.storage.memory import InMemoryStore
from mastra_storage.storage.signal_queries import Feature
from mastra_storage.storage.trace_query import plan_suggestions, plan_trace_query
from tests.backends.clickhouse_vnext import session_provider

from .factories import at, full_span, sid, span, tid
from .test_clickhouse_signals import PREDICATES, approx, random_spans, same_spans

CONTRACT = Path(__file__).parent / "contract" / "clickhouse-vnext.spans.sql"
SIGNALS_CONTRACT = Path(__file__).parent / "contract" / "clickhouse-vnext.signals.sql"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    return session_provider(tmp_path_factory)


@pytest.fixture
def make(provider):
    made = []

    def build(classic: bool = False, **options):
        builder = provider.info["build_classic" if classic else "build"]
        store = builder(**options)
        made.append(store)
        return store

    yield build
    for s in made:
        s.close()


@pytest.fixture
def vx(make):
    return make()


def blocks(path: Path) -> list[tuple[str, str]]:
    """(header, statement without ';') of a contract file, in its order."""
    text = path.read_text()  # a missing file fails the test, never skips it
    out = []
    for block in re.split(r"\n\n(?=-- )", text.split("\n\n", 1)[1]):
        header, _, body = block.partition("\n")
        out.append((header[3:].strip(), body.strip().removesuffix(";")))
    return out


def statements(header: str) -> list[str]:
    return [s for h, s in blocks(CONTRACT) if h == header]


def qualified(text: str, db: str) -> str:
    """Mastra's text run in database ``db``: its object names qualified (the test's own,
    independent rendering)."""
    return re.sub(r"(?<![\w'])(mastra_[a-z_]+)(?![\w'])", rf"`{db}`.`\1`", text)


def table_ddl(store: Any, database: str, name: str) -> str:
    rows = store.query_rows("SELECT create_table_query FROM system.tables WHERE "
                            "database = {d:String} AND name = {t:String}",
                            {"d": database, "t": name})
    assert rows, f"no table {database}.{name}"
    return str(rows[0][0]).replace(f"{database}.", "DB.")


def raw(store: Any, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    result = store.client.query(sql.replace("DB.", f"`{store.database}`."), parameters=params)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


# ---------------------------------------------------------------------------- DDL

def test_every_statement_is_mastras_text():
    """Verbatim, unqualified, against the contract (rendered from the npm package)."""
    opts = SchemaOptions()
    tables = [*vd.SPAN_TABLES, *vd.DISCOVERY_TABLES]
    names = ["SPAN_EVENTS_DDL", "TRACE_ROOTS_DDL", "TRACE_BRANCHES_DDL", "DISCOVERY_VALUES_DDL",
             "DISCOVERY_PAIRS_DDL"]
    for table, name in zip(tables, names, strict=True):
        assert statements(name) == [vd.create_table(table, opts, qualify=False)]
    assert statements("delta table") == [vd.create_table(t, opts, qualify=False)
                                         for t in vd.DELTA_TABLES]
    assert statements("TRACE_ROOTS_MV_DDL") == [vd.MASTRA_TRACE_ROOTS_MV]
    assert statements("TRACE_BRANCHES_MV_DDL") == [vd.MASTRA_TRACE_BRANCHES_MV]
    for strategy in ("serial", "fallback"):
        assert statements(f"delta MV {strategy}") == [vd.mastra_delta_mv(d, strategy)
                                                      for d in vd.DELTA_TABLES]
    assert statements("discovery MV") == [vd.MASTRA_DISCOVERY_VALUES_MV,
                                          vd.MASTRA_DISCOVERY_PAIRS_MV]
    assert statements("legacy span migration marker") == [vd.MASTRA_LEGACY_MARKER_DDL]
    # retention: Mastra's statement for each span table
    ttl = vd.ttl_clause(SchemaOptions(ttl_days=30))
    assert statements("retention tracing=30") == [f"ALTER TABLE {t} MODIFY TTL {ttl}"
                                                  for t in vd.SPAN_TABLES]


def test_migrations_are_mastras_clauses_one_alter_per_table():
    expected = statements("migration")
    ours = vd.span_migrations(SchemaOptions(database="db"))
    rebuilt = [f"ALTER TABLE {t} {clause.strip()}"
               for t, stmt in zip(vd.MIGRATED_SPAN_TABLES, ours, strict=True)
               for clause in stmt.split("\n", 1)[1].split(",\n")]
    assert rebuilt == expected


def test_qualified_rendering_changes_only_the_names():
    """Our statements for database ``obs`` are the contract's with qualified names, in
    Mastra's order of creation (tables, then views, then migrations)."""
    opts = SchemaOptions(database="obs", layout="vnext", delta_cursor="fallback")
    want = [qualified(s, "obs") for h, s in blocks(CONTRACT)
            if h in ("SPAN_EVENTS_DDL", "TRACE_ROOTS_DDL", "TRACE_BRANCHES_DDL",
                     "DISCOVERY_VALUES_DDL", "DISCOVERY_PAIRS_DDL", "delta table",
                     "TRACE_ROOTS_MV_DDL", "TRACE_BRANCHES_MV_DDL", "delta MV fallback")]
    got = vd.vnext_statements(opts)[:-len(vd.MIGRATED_SPAN_TABLES)]
    assert got == want
    no_delta = vd.vnext_statements(replace(opts, delta_cursor="none"))
    assert not any("_delta" in s for s in no_delta)


def test_engine_builds_the_same_objects_from_mastras_text(vx, provider):
    """Every table and view the v-next migration created is, as the engine describes it,
    the one Mastra's own text creates (the delta views with the strategy this engine
    gets: chdb has no Keeper, so Mastra picks the fallback cursor too)."""
    strategy = delta_cursor_strategy(vx)
    db = provider.info["new_database"]()
    vx.command(f"CREATE DATABASE `{db}`")
    try:
        for _header, stmt in blocks(SIGNALS_CONTRACT):
            if stmt.startswith("CREATE"):
                vx.command(qualified(stmt, db))
        for header, stmt in blocks(CONTRACT):
            if header.startswith(("delta MV", "retention", "legacy")) and \
                    header != f"delta MV {strategy}":
                continue
            vx.command(qualified(stmt, db))
        names = [r[0] for r in vx.query_rows(
            "SELECT name FROM system.tables WHERE database = {d:String} AND name LIKE 'mastra%' "
            "AND name NOT LIKE 'mastra_storage%' ORDER BY name", {"d": db})]
        ours = [r[0] for r in vx.query_rows(
            "SELECT name FROM system.tables WHERE database = {d:String} AND name LIKE 'mastra%' "
            "AND name NOT LIKE 'mastra_storage%' ORDER BY name", {"d": vx.database})]
        assert names == ours and len(names) == 25  # 21 of the spans' side, 4 signal tables
        for name in names:
            assert table_ddl(vx, vx.database, name) == table_ddl(vx, db, name), name
    finally:
        vx.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")


def test_the_vnext_layout_has_no_classic_table_and_says_what_it_is(vx):
    names = {r[0] for r in vx.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String}", {"d": vx.database})}
    assert "mastra_ai_spans" not in names
    assert {"mastra_storage_migrations", "mastra_storage_feedback_review"} <= names
    assert vx.provider == "clickhouse-vnext" and isinstance(vx, ClickHouseVNextStore)
    assert vx.observability_strategy.supported == (vx.observability_strategy.preferred,)
    assert str(vx.observability_strategy.preferred) == "insert-only"
    assert Feature.DELTA_POLLING not in vx.features()
    assert {Feature.TRACE_QUERY, Feature.BRANCHES, Feature.TAG_DISCOVERY} <= vx.features()
    assert migrate(vx) == []  # up to date
    versions = [r[0] for r in vx.query_rows(
        f"SELECT version FROM `{vx.database}`.mastra_storage_migrations FINAL ORDER BY version")]
    assert versions == [3, 4]
    assert "layout=vnext" in repr(vx)


def test_delta_views_use_the_cursor_this_server_supports(vx):
    """chdb has no ClickHouse Keeper: generateSerialID fails, the views use Mastra's
    fallback cursor (time + fingerprint), and they number every new root."""
    assert delta_cursor_strategy(vx) == "fallback"
    mv = table_ddl(vx, vx.database, "mastra_mv_trace_roots_delta")
    assert "farmFingerprint64" in mv and "generateSerialID" not in mv
    vx.batch_create_spans([span(tid(), sid())])
    assert int(vx.query_rows(
        f"SELECT count() FROM `{vx.database}`.mastra_trace_roots_delta")[0][0]) == 1


def test_views_of_both_cursor_kinds_mean_no_delta_tables(make, provider):
    """Mastra's rule for a database whose delta views mix both strategies."""
    db = provider.info["new_database"]()
    keeper = provider.info["keeper"]
    keeper.command(f"CREATE DATABASE `{db}`")
    keeper.command(f"CREATE VIEW `{db}`.mastra_mv_trace_roots_delta AS "
                   "SELECT 'generateSerialID(' AS x")
    keeper.command(f"CREATE VIEW `{db}`.mastra_mv_log_events_delta AS "
                   "SELECT 'farmFingerprint64(' AS x")
    store = make(database=db)
    tables = {r[0] for r in store.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String}", {"d": db})}
    assert "mastra_span_events" in tables and "mastra_trace_roots_delta" not in tables


def test_cluster_rendering():
    text = offline_sql(SchemaOptions(database="obs", cluster="prod", layout="vnext"))
    assert "mastra_ai_spans" not in text
    for t in vd.SPAN_TABLES:
        assert f"CREATE TABLE IF NOT EXISTS `obs`.`{t}_local` ON CLUSTER `prod` (" in text
        assert (f"ENGINE = Distributed('prod', 'obs', '{t}_local', cityHash64(`traceId`))"
                in text)
    assert text.count("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/"
                      "{database}/{table}', '{replica}')\nPARTITION BY toDate(endedAt)") == 3
    assert ("CREATE MATERIALIZED VIEW IF NOT EXISTS `obs`.`mastra_mv_trace_roots` ON CLUSTER "
            "`prod`\nTO `obs`.`mastra_trace_roots_local`\nAS\nSELECT *\nFROM "
            "`obs`.`mastra_span_events_local`\nWHERE parentSpanId IS NULL") in text
    assert "FROM `obs`.`mastra_metric_events_local`\n)" in text  # a delta view: local
    assert ("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', "
            "'{replica}')\nPARTITION BY toDate(ingestedAt)") in text
    # the discovery views read the whole cluster (the Distributed tables)
    discovery = text[text.index("`obs`.`mastra_mv_discovery_values`"):]
    assert "FROM `obs`.`mastra_span_events` WHERE" in discovery
    assert "_local" not in discovery.split(";")[0]
    assert ("ALTER TABLE `obs`.`mastra_span_events` ON CLUSTER `prod`\n    ADD COLUMN IF NOT "
            "EXISTS entityVersionId") in text  # the Distributed table gets the columns too


def test_retention_per_signal_in_mastras_form(make):
    store = make(ttl_days=30, signal_ttl_days={"spans": 7})
    engines = dict(store.query_rows(
        "SELECT name, engine_full FROM system.tables WHERE database = {d:String}",
        {"d": store.database}))
    for t in vd.SPAN_TABLES:
        assert "TTL endedAt + toIntervalDay(7)" in engines[t], t
    assert "toIntervalDay(30)" in engines["mastra_log_events"]
    assert "TTL" not in engines["mastra_trace_roots_delta"].replace(
        "TTL ingestedAt + toIntervalDay(2)", "")
    text = offline_sql("clickhouse://h/obs?layout=vnext&ttl_days_spans=30")
    assert text.count("ORDER BY (startedAt, traceId, dedupeKey)\nTTL endedAt + INTERVAL 30 DAY") \
        == 1


def test_a_database_without_retention_gets_it_on_the_next_migrate(make, provider):
    store = make()
    later = provider.info["build"](database=store.database, ttl_days=5)
    try:
        engines = dict(later.query_rows(
            "SELECT name, engine_full FROM system.tables WHERE database = {d:String}",
            {"d": store.database}))
        for t in vd.SPAN_TABLES:
            assert "TTL endedAt + toIntervalDay(5)" in engines[t]
    finally:
        later.close()


def test_url_option_and_create_store(provider):
    assert parse_url("clickhouse://h/obs?layout=vnext").store_options == {"layout": "vnext"}
    assert parse_url("chdb:///x?layout=ROOTS").store_options == {"layout": "roots"}
    with pytest.raises(InvalidStoreURLError, match="vnext, mastra, trace, time, roots"):
        parse_url("clickhouse://h/obs?layout=v2")
    with pytest.raises(DDLOptionsError, match="vnext"):
        SchemaOptions(layout="nope")
    if "path" not in provider.info:
        pytest.skip("the chdb URL form is checked on chdb")
    db = provider.info["new_database"]()
    store: Any = create_store(f"chdb:///{provider.info['path'].lstrip('/')}?database={db}"
                              "&layout=vnext")
    try:
        assert isinstance(store, ClickHouseVNextStore) and store.provider == "clickhouse-vnext"
        store.init()
        store.batch_create_spans([span(tid(), sid())])
        assert store.list_traces().total == 1
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
        store.close()


def test_a_subclass_gets_a_vnext_variant():
    class Mine(ClickHouseStore):
        pass

    store = Mine(host="localhost", layout="vnext")
    assert isinstance(store, Mine) and isinstance(store, ClickHouseVNextStore)
    assert type(store) is type(Mine(host="localhost", layout="vnext"))
    assert type(Mine(host="localhost")) is Mine
    with pytest.raises(ValueError, match="vnext"):
        ClickHouseVNextStore(host="localhost", layout="roots")


# ---------------------------------------------------------------------------- row mapping

def test_rows_are_mastras_mapping(vx):
    t = tid()
    root = full_span(t, "r" * 16)
    root = replace(root, tags=[" prod", "vip ", "prod", "", 3, "\tx\n"],
                   metadata={"tier": " gold ", "n": 3, "blank": "  ", "userId": "u-9",
                             "nested": {"a": 1}}, source="cloud")
    event = span(t, "e" * 16, parent=root.span_id, is_event=True, start=1, end=None)
    running = span(t, "c" * 16, parent=root.span_id, start=2, end=None)
    vx.batch_create_spans([root, event, running])
    rows = {r["spanId"]: r for r in raw(
        vx, "SELECT * FROM DB.mastra_span_events WHERE traceId = {t:String}", {"t": t})}
    r = rows[root.span_id]
    assert r["dedupeKey"] == f"{t}:{root.span_id}"
    assert r["tags"] == ["prod", "vip", "x"]
    assert r["metadataSearch"] == {"tier": "gold"}
    assert json.loads(r["metadataRaw"]) == root.metadata
    assert r["executionSource"] == "cloud" and r["parentSpanId"] is None
    assert json.loads(r["input"]) == root.input and r["error"] is None
    assert rows[event.span_id]["endedAt"] == rows[event.span_id]["startedAt"]
    assert rows[running.span_id]["endedAt"] == rows[running.span_id]["startedAt"]
    # the views: the root into mastra_trace_roots, the agent_run anchor into branches
    assert [x["spanId"] for x in raw(vx, "SELECT spanId FROM DB.mastra_trace_roots")] == \
        [root.span_id]
    assert [x["spanId"] for x in raw(vx, "SELECT spanId FROM DB.mastra_trace_branches")] == \
        [root.span_id]
    got = vx.get_span(t, root.span_id)
    assert got.tags == ["prod", "vip", "x"] and got.metadata == root.metadata
    assert got.source == "cloud" and got.created_at == got.started_at and got.updated_at is None
    assert vx.get_span(t, running.span_id).ended_at == running.started_at


def test_mastras_rows_are_read(vx):
    """Rows as Mastra's insert writes them (JSONEachRow, ISO times, best_effort)."""
    t = tid()
    rows = [
        {"dedupeKey": f"{t}:root", "traceId": t, "spanId": "root", "parentSpanId": None,
         "name": "agent", "spanType": "agent_run", "isEvent": False,
         "startedAt": "2026-11-01T12:00:00.123Z", "endedAt": "2026-11-01T12:00:05.000Z",
         "entityType": "agent", "entityName": "support", "executionSource": "local",
         "tags": ["a"], "metadataSearch": {"tier": "gold"},
         "metadataRaw": json.dumps({"tier": "gold", "n": 1}), "input": json.dumps({"q": 1}),
         "userId": "u1"},
        {"dedupeKey": f"{t}:tool", "traceId": t, "spanId": "tool", "parentSpanId": "root",
         "name": "lookup", "spanType": "tool_call", "isEvent": False,
         "startedAt": "2026-11-01T12:00:01.000Z", "endedAt": "2026-11-01T12:00:02.000Z",
         "error": json.dumps({"message": "boom"}), "tags": []},
    ]
    body = "\n".join(json.dumps(r) for r in rows)
    vx.command(f"INSERT INTO `{vx.database}`.mastra_span_events SETTINGS "
               f"date_time_input_format='best_effort' FORMAT JSONEachRow {body}")
    trace = vx.get_trace(t)
    assert [s.span_id for s in trace.spans] == ["root", "tool"]
    root = trace.spans[0]
    assert root.metadata == {"tier": "gold", "n": 1} and root.source == "local"
    assert root.started_at == datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert root.tags == ["a"] and trace.spans[1].tags is None
    page = vx.list_traces(TracesFilter(user_id="u1", has_child_error=True))
    assert [s.span_id for s in page.spans] == ["root"] and page.spans[0].status == "success"
    assert [s.span_id for s in vx.list_branches(TracesFilter(span_type="tool_call")).spans] \
        == ["tool"]
    assert vx.list_traces(TracesFilter(metadata={"n": 1})).total == 1
    assert vx.list_traces(TracesFilter(source="local")).total == 1


def test_normalize_tags_is_mastras_rule():
    assert normalize_tags([" a", "a", "", None, "b ", 1, "\u3000c"]) == ["a", "b", "c"]
    assert normalize_tags("a") == [] and normalize_tags(None) == []


# ---------------------------------------------------------------------------- which copy wins

def test_one_row_per_span_latest_end_wins_before_and_after_merges(vx):
    t = tid()
    root = span(t, "root", start=0, end=10, name="first")
    child = span(t, "child", parent="root", start=1, end=2, name="early")
    vx.batch_create_spans([root, child])
    vx.batch_create_spans([replace(root, name="second")])  # same end: replaces
    vx.batch_create_spans([replace(child, ended_at=at(5), name="late",
                                   error={"message": "x"})])  # later end: wins
    vx.batch_create_spans([replace(child, ended_at=at(3), name="middle")])  # earlier: loses

    def check() -> None:
        trace = vx.get_trace(t)
        assert [(s.span_id, s.name) for s in trace.spans] == [("root", "second"),
                                                               ("child", "late")]
        assert vx.get_span(t, "child").ended_at == at(5)
        assert [s.name for s in vx.get_spans(t, ["child"])] == ["late"]
        assert [s.name for s in vx.get_branch(t, "root").spans] == ["second", "late"]
        page = vx.list_traces()
        assert page.total == 1 and page.spans[0].name == "second"
        assert vx.list_traces(TracesFilter(has_child_error=True)).total == 1
        assert vx.stats()["spans"]["rows"] == 2

    check()
    for table in vd.SPAN_TABLES:
        vx.command(f"OPTIMIZE TABLE `{vx.database}`.`{table}` FINAL")
    check()


def test_filters_see_only_the_copy_that_wins(vx):
    t = tid()
    root = span(t, "root", start=0, end=1)
    vx.batch_create_spans([root])
    vx.batch_create_spans([replace(root, error={"message": "late"})])  # same key: wins
    assert raw(vx, "SELECT count() AS n FROM DB.mastra_trace_roots")[0]["n"] == 2
    assert vx.list_traces(TracesFilter(status="success")).total == 0
    assert vx.list_traces(TracesFilter(status="error")).total == 1
    assert vx.list_traces_light(TracesFilter(status="error")).spans[0].status == "error"


def test_a_later_copy_without_the_error_clears_has_child_error(vx):
    t = tid()
    vx.batch_create_spans([span(t, "root", start=0, end=9),
                           span(t, "c", parent="root", start=1, end=2, error={"m": 1})])
    assert vx.list_traces(TracesFilter(has_child_error=True)).total == 1
    vx.batch_create_spans([span(t, "c", parent="root", start=1, end=3)])
    assert vx.list_traces(TracesFilter(has_child_error=True)).total == 0
    assert vx.list_traces(TracesFilter(has_child_error=False)).total == 1


# ---------------------------------------------------------------------------- insert-only

def test_updates_are_refused_and_running_spans_are_not_stored(vx, observe):
    with pytest.raises(UnsupportedOperation, match="insert-only"):
        vx.batch_update_spans([span(tid(), sid())])
    exporter = DefaultExporter(max_batch_wait_ms=50)
    obs = observe(exporter, storage=vx)
    tracer = obs.get_default_instance()
    root = tracer.start_span("agent", type=SpanType.AGENT_RUN, input={"q": 1})
    child = root.child("tool", type=SpanType.TOOL_CALL)
    assert obs.flush(10)
    assert vx.get_trace(root.trace_id) is None  # running: nothing stored
    child.end(output={"ok": True})
    root.end()
    obs.shutdown()
    trace = vx.get_trace(root.trace_id)
    assert [s.name for s in trace.spans] == ["agent", "tool"]
    assert exporter.stats.rows_updated == 0 and exporter.drops.total == 0
    assert vx.list_traces(TracesFilter(status="running")).total == 0
    assert vx.list_traces(TracesFilter(status="success")).total == 1


def test_status_and_filters_on_the_roots(vx):
    ok, err = tid(), tid()
    vx.batch_create_spans([
        span(ok, sid(), start=0, end=1, tags=["prod"], metadata={"userId": "u", "k": "v"},
             scope={"core": "1"}),
        span(err, sid(), start=5, end=6, error={"message": "boom"}),
    ])

    def ids(**kw: Any) -> list[str]:
        return [s.trace_id for s in vx.list_traces(TracesFilter(**kw)).spans]

    assert ids(status="error") == [err] and ids(status="success") == [ok]
    assert ids(status="running") == []
    # a promoted key is not in metadataSearch, but the filter reads metadataRaw
    assert ids(metadata={"userId": "u"}) == [ok]
    assert ids(scope={"core": "1"}) == [ok] and ids(scope={"core": "2"}) == []
    assert ids(tags=["prod"]) == [ok] and ids(tags=[" prod"]) == []
    order = vx.list_traces(order_by=TracesOrderBy("endedAt", "ASC")).spans
    assert [s.trace_id for s in order] == [ok, err]


def test_branch_list_is_mastras_view(vx):
    """mcp_server_request anchors are not copied into mastra_trace_branches."""
    t = tid()
    vx.batch_create_spans([span(t, "root", span_type="agent_run"),
                           span(t, "mcp", parent="root", span_type="mcp_server_request"),
                           span(t, "tool", parent="root", span_type="tool_call")])
    assert {s.span_id for s in vx.list_branches().spans} == {"root", "tool"}


def test_deleting_a_trace_removes_it_from_every_span_table(vx):
    a, b = tid(), tid()
    vx.batch_create_spans([span(a, "r", span_type="agent_run"),
                           span(a, "t", parent="r", span_type="tool_call"),
                           span(b, "r", span_type="agent_run")])
    assert vx.batch_delete_traces([a]) == 2
    for table in vd.SPAN_TABLES:
        rows = raw(vx, f"SELECT count() AS n FROM DB.{table} WHERE traceId = {{t:String}}",
                   {"t": a})
        assert rows[0]["n"] == 0, table
    assert [s.trace_id for s in vx.list_branches().spans] == [b]
    assert vx.delete_traces_older_than(at(100)) == 1 and vx.list_traces().total == 0


# ---------------------------------------------------------------------------- parity with memory

def as_stored(s: Any) -> Any:
    """A span as the v-next layout keeps it (Mastra's mapping)."""
    end = s.started_at if s.is_event or s.ended_at is None else s.ended_at
    return replace(s, ended_at=end, tags=normalize_tags(s.tags) or None)


@pytest.fixture(scope="module")
def twins(provider):
    rng = random.Random(20261201)
    spans = random_spans(rng, 40)
    mem, vnext = InMemoryStore(), provider.info["build"]()
    mem.batch_create_spans([as_stored(s) for s in spans])
    vnext.batch_create_spans(spans)
    yield (mem, vnext), sorted({s.trace_id for s in spans})
    vnext.close()


@pytest.mark.parametrize("where", PREDICATES[:18])  # the span predicates (no signals here)
def test_trace_queries_equal_memory(twins, where):
    (mem, vnext), _ = twins
    window = {"from": "2026-11-01T11:00:00Z", "to": "2026-11-01T12:20:00Z"}
    for extra in ({}, {"orderBy": [{"field": "endedAt", "direction": "asc"}]},
                  {"pagination": {"page": 1, "perPage": 5}}):
        body = {"timeRange": window, **extra}
        if where is not None:
            body["where"] = where
        q = plan_trace_query(body)
        assert approx(vnext.query_traces(q)) == approx(mem.query_traces(q))


@pytest.mark.parametrize(("scope", "path"), [
    ("trace", "status"), ("trace", "tags"), ("trace", "metadata.tier"), ("spans", "spanType"),
    ("spans", "model")])
def test_suggestions_equal_memory(twins, scope, path):
    (mem, vnext), _ = twins
    window = {"from": "2026-11-01T11:00:00Z", "to": "2026-11-01T12:20:00Z"}
    req = plan_suggestions({"timeRange": window, "predicateScope": scope, "path": path},
                           with_path=True)
    assert vnext.trace_query_values(req) == mem.trace_query_values(req)
    fields = plan_suggestions({"timeRange": window, "predicateScope": scope}, with_path=False)
    assert vnext.trace_query_fields(fields) == mem.trace_query_fields(fields)


def test_span_reads_and_lists_equal_memory(twins):
    (mem, vnext), traces = twins
    for t in traces[:10]:
        assert same_spans(vnext.get_trace(t), mem.get_trace(t))
        assert same_spans(vnext.get_structure(t), mem.get_structure(t))
        assert same_spans(vnext.get_branch(t, "root", 1), mem.get_branch(t, "root", 1))
        assert same_spans([vnext.get_root_span(t)], [mem.get_root_span(t)])
    for f in (None, TracesFilter(status="error"), TracesFilter(environment="prod"),
              TracesFilter(entity_type="agent", has_child_error=True),
              TracesFilter(has_child_error=False), TracesFilter(tags=["x"]),
              TracesFilter(metadata={"tier": "gold"}), TracesFilter(started_from=at(200))):
        for order in (TracesOrderBy(), TracesOrderBy("endedAt", "ASC")):
            got, want = vnext.list_traces(f, 1, 7, order), mem.list_traces(f, 1, 7, order)
            assert (got.total, got.has_more) == (want.total, want.has_more), f
            assert same_spans(got, want), f
        light, want_light = vnext.list_traces_light(f, 0, 9), mem.list_traces_light(f, 0, 9)
        assert same_spans(light, want_light)
        got_b, want_b = vnext.list_branches(f, 0, 100), mem.list_branches(f, 0, 100)
        assert got_b.total == want_b.total
        assert same_spans(sorted(got_b.spans, key=lambda s: s.key),
                          sorted(want_b.spans, key=lambda s: s.key))


def test_discovery_equals_memory(twins):
    (mem, vnext), _ = twins
    for method, args in [("discover_entity_types", ()), ("discover_entity_names", ("agent",)),
                         ("discover_environments", ()), ("discover_tags", ()),
                         ("discover_tags", ("agent",))]:
        assert getattr(vnext, method)(*args) == getattr(mem, method)(*args), method


# ---------------------------------------------------------------------------- backfill

def classic_workload(store: Any) -> dict[str, Any]:
    """Spans over three days in a classic store: an updated span, a running one, an event,
    messy tags and metadata; plus a row as an older writer stored it ('' nulls)."""
    day0 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    traces: dict[str, Any] = {}
    spans = []
    for d in range(3):
        t = tid()
        traces[f"day{d}"] = t
        start = day0 + timedelta(days=d)
        spans += [
            span(t, "root", name=f"agent{d}", span_type="agent_run", entity_type="agent",
                 tags=[" vip", "vip", ""], metadata={"tier": "gold", "n": d, "userId": "u"},
                 input={"q": d}, source="local"),
            span(t, "tool", parent="root", span_type="tool_call", error={"message": "x"}),
            span(t, "ev", parent="root", is_event=True, end=None),
        ]
        for s in spans[-3:]:
            s.started_at = start + (s.started_at - at(0))
            if s.ended_at is not None:
                s.ended_at = start + (s.ended_at - at(0))
    running = tid()
    traces["running"] = running
    spans.append(span(running, "root", span_type="workflow_run", end=None,
                      started_at=day0 + timedelta(days=2)))
    store.batch_create_spans(spans)
    first = spans[0]
    store.batch_update_spans([replace(first, output={"answer": 42})])  # a second version
    legacy = tid()
    traces["legacy"] = legacy
    store.command(
        f"INSERT INTO `{store.database}`.mastra_ai_spans (traceId, spanId, parentSpanId, "
        "name, spanType, isEvent, startedAt, endedAt, error, metadata, tags, createdAt, "
        "updatedAt) VALUES ({t:String}, 'old', '', 'old', 'agent_run', false, "
        "'2026-11-01 08:00:00.000', '2026-11-01 08:00:01.000', '', 'null', '[\" a \"]', "
        "'2026-11-01 08:00:00.000', '2026-11-01 08:00:00.000')", {"t": legacy})
    return traces


def test_backfill_dry_run_then_copy_then_again(make, provider):
    classic = make(classic=True)
    traces = classic_workload(classic)
    source_traces = {t: classic.get_trace(t) for t in traces.values()}

    dry = backfill_vnext(classic, dry_run=True)
    assert isinstance(dry, BackfillReport) and dry.dry_run
    assert [d.day for d in dry.days] == [date(2026, 11, 1), date(2026, 11, 2),
                                         date(2026, 11, 3)]
    assert [d.action for d in dry.days] == ["copy"] * 3
    assert dry.copied_spans == dry.source_spans == 11 and dry.missing_spans == 11
    assert not dry.complete and "would copy 11 span(s)" in str(dry)
    tables = {r[0] for r in classic.query_rows(
        "SELECT name FROM system.tables WHERE database = {d:String}", {"d": classic.database})}
    assert "mastra_span_events" not in tables and PROGRESS_TABLE not in tables  # read only

    seen: list[Any] = []
    report = backfill_vnext(classic, progress=seen.append)
    assert report.complete and report.copied_spans == 11 and report.marker_written
    assert [(p.day, p.action, p.days_done, p.days_total) for p in seen] == [
        (date(2026, 11, 1), "copied", 1, 3), (date(2026, 11, 2), "copied", 2, 3),
        (date(2026, 11, 3), "copied", 3, 3)]
    assert seen[-1].copied_spans == 11
    vnext = provider.info["build"](database=classic.database)
    try:
        for t, want in source_traces.items():
            got = vnext.get_trace(t)
            assert [s.span_id for s in got.spans] == [s.span_id for s in want.spans]
            for g, w in zip(got.spans, want.spans, strict=True):
                expect = as_stored(w)
                if t == traces["legacy"]:
                    expect = replace(expect, error=None, metadata=None, tags=["a"])
                assert replace(g, created_at=None, updated_at=None) == replace(
                    expect, created_at=None, updated_at=None), (t, g.span_id)
        assert vnext.get_span(traces["day0"], "root").output == {"answer": 42}
        assert vnext.list_traces(per_page=100).total == 5
        assert vnext.list_traces(TracesFilter(has_child_error=True)).total == 3
        assert raw(vnext, "SELECT count() AS n FROM DB.mastra_legacy_span_migration_done")[0][
            "n"] == 1

        again = backfill_vnext(classic)
        assert [d.action for d in again.days] == ["skip"] * 3 and again.copied_spans == 0
        assert again.complete and not again.marker_written
        assert vnext.stats()["spans"]["rows"] == 11

        # the running span ends in the classic store: only its day is copied again, and
        # the v-next reads show its end (the copy with the later endedAt)
        root = classic.get_span(traces["running"], "root")
        classic.batch_update_spans([replace(root, ended_at=root.started_at + timedelta(hours=1))])
        third = backfill_vnext(classic.client, database=classic.database)
        assert [d.action for d in third.days] == ["skip", "skip", "copy"]
        assert third.copied_spans == 4 and third.complete
        assert vnext.get_span(traces["running"], "root").ended_at == \
            root.started_at + timedelta(hours=1)
        assert vnext.stats()["spans"]["rows"] == 11
        assert vnext.list_traces(per_page=100).total == 5
    finally:
        vnext.close()


def test_backfill_resumes_after_a_failure(make):
    classic = make(classic=True)
    classic_workload(classic)

    def fail_after_first_day(progress: Any) -> None:
        if progress.days_done == 1:
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        backfill_vnext(classic, progress=fail_after_first_day)
    report = backfill_vnext(classic)
    assert [d.action for d in report.days] == ["skip", "copy", "copy"]
    assert report.complete and report.copied_spans == report.source_spans - 4


def test_backfill_without_a_classic_table_does_nothing(vx):
    report = backfill_vnext(vx)
    assert report.days == [] and report.source_spans == 0 and report.complete
    assert not report.marker_written
    with pytest.raises(TypeError, match="ClickHouseStore or a clickhouse-connect client"):
        backfill_vnext("chdb:///x")
