"""MSSQL without a server: the exact SQL the store emits, compiled for SQL Server 2022 by
SQLAlchemy's mssql+pyodbc dialect, the row codec, URLs, and the ODBC driver stack.

The same store runs against a real SQL Server in ``nox -s tests-mssql`` (the shared suite
with ``MASTRA_TEST_MSSQL_URL`` from docker-compose.test.yml).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc

from mastra_storage.errors import InvalidStoreURLError
from mastra_storage.model.spans import COLUMNS, SpanRecord
from mastra_storage.storage import TracesFilter, TracesOrderBy
from mastra_storage.storage.queries import Pagination
from mastra_storage.storage.sql.dialects.mssql import MSSQLDialect
from mastra_storage.storage.sql.migrate import offline_sql

from .backends import skip_unless_required
from .factories import at, full_span, sid, span, tid

try:
    import pyodbc
except ImportError:  # the SQL-emission tests are CI's MSSQL check: never skip them there
    skip_unless_required("the mssql extra (pyodbc) is not installed")

from mastra_storage.storage.sql.mssql import (
    MSSQLStore,
    NoODBCDriverError,
    engine_url,
    pick_driver,
)

HOSTILE = "x'); DROP TABLE mastra_ai_spans; --"


def sql_server_2022() -> Any:
    dialect: Any = mssql_pyodbc.dialect()  # private attributes set below
    dialect.server_version_info = (16,)
    dialect._setup_version_attributes()
    dialect._supports_nvarchar_max = True
    return dialect


def compile_(stmt: Any) -> Any:
    return stmt.compile(dialect=sql_server_2022())


def flat(sql: Any) -> str:
    return re.sub(r"\s+", " ", str(sql)).strip()


@pytest.fixture
def store() -> Any:
    # A real engine object, never connected: these tests only compile statements.
    engine = sa.create_engine("mssql+pyodbc://sa:pw@127.0.0.1:1/mastra?driver=FreeTDS")
    s = MSSQLStore(engine=engine, schema="obs")
    yield s
    s.close()


# ----------------------------------------------------------------------- driver stack

def test_pyodbc_loads_a_sql_server_odbc_driver() -> None:
    drivers = pyodbc.drivers()
    usable = [d for d in drivers if d == "FreeTDS" or "SQL Server" in d]
    assert usable, (f"pyodbc sees no SQL Server driver ({drivers}): apt-get install unixodbc "
                    "tdsodbc (FreeTDS) or Microsoft's msodbcsql18")
    assert pick_driver(drivers) in usable


def test_driver_reaches_the_network_layer() -> None:
    """The driver really loads and speaks TDS: an unreachable server is a DBAPI error."""
    port = _closed_port()
    store = MSSQLStore(f"mssql+pyodbc://sa:pw@127.0.0.1:{port}/mastra?LoginTimeout=3",
                       auto_migrate=True)
    try:
        with pytest.raises(sa.exc.DBAPIError):
            store.init()
    finally:
        store.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_url_gets_a_driver_and_fast_executemany_only_with_microsofts() -> None:
    ms = engine_url("mssql+pyodbc://u:p@h:1433/db",
                    available=["FreeTDS", "ODBC Driver 18 for SQL Server"])
    assert ms.query["driver"] == "ODBC Driver 18 for SQL Server"
    tds = engine_url("mssql+pyodbc://u:p@h:1433/db", available=["FreeTDS"])
    assert tds.query == {"driver": "FreeTDS", "TDS_Version": "7.4"}
    explicit = engine_url("mssql+pyodbc://u:p@h/db?driver=Custom+Driver", available=[])
    assert explicit.query["driver"] == "Custom Driver"
    raw = engine_url("mssql+pyodbc:///?odbc_connect=DSN%3Dx", available=[])
    assert "driver" not in raw.query
    with pytest.raises(NoODBCDriverError, match="tdsodbc"):
        engine_url("mssql+pyodbc://u:p@h/db", available=["PostgreSQL Unicode"])
    with pytest.raises(InvalidStoreURLError):
        engine_url("mssql+pymssql://u:p@h/db", available=["FreeTDS"])

    fast = MSSQLStore("mssql+pyodbc://u:p@h/db?driver=ODBC+Driver+18+for+SQL+Server")
    slow = MSSQLStore("mssql+pyodbc://u:p@h/db?driver=FreeTDS")
    try:
        assert fast.engine.dialect.fast_executemany is True  # type: ignore[attr-defined]
        assert slow.engine.dialect.fast_executemany is False  # type: ignore[attr-defined]
        assert fast.provider == "mssql" and fast.auto_migrate is False
    finally:
        fast.close()
        slow.close()


# ----------------------------------------------------------------------- DDL

def test_create_table_ddl(store: MSSQLStore) -> None:
    ddl = [flat(compile_(s)) for s in store.dialect.create_ddl(store.table)]
    create = ddl[0]
    assert create.startswith("CREATE TABLE obs.mastra_ai_spans (")
    for c in COLUMNS:
        col = re.search(rf"(\[{c.name}\]|\b{c.name}\b) (\w+(?:\(\w+\))?) (NOT NULL|NULL)", create)
        assert col is not None, c.name
        want = {"timestamp": "DATETIME2(7)", "bool": "BIT",
                "json": "NVARCHAR(max)"}.get(c.kind) or (
            "NVARCHAR(100)" if c.indexed else "NVARCHAR(max)")
        assert col.group(2) == want, c.name
        assert col.group(3) == ("NULL" if c.nullable else "NOT NULL"), c.name
    assert "Z]" not in create and "AtZ" not in create  # no timestamptz twins in SQL Server
    assert create.endswith(
        "CONSTRAINT obs_mastra_ai_spans_traceid_spanid_pk PRIMARY KEY ([traceId], [spanId]) )")
    assert ddl[1:] == [
        "CREATE INDEX obs_mastra_ai_spans_entitytype_entityid_idx ON obs.mastra_ai_spans "
        "([entityType], [entityId])",
        "CREATE INDEX obs_mastra_ai_spans_entitytype_entityname_idx ON obs.mastra_ai_spans "
        "([entityType], [entityName])",
        "CREATE INDEX obs_mastra_ai_spans_name_idx ON obs.mastra_ai_spans (name)",
        "CREATE INDEX obs_mastra_ai_spans_orgid_userid_idx ON obs.mastra_ai_spans "
        "([organizationId], [userId])",
        "CREATE INDEX obs_mastra_ai_spans_parentspanid_startedat_idx ON obs.mastra_ai_spans "
        "([parentSpanId], [startedAt] DESC)",
        "CREATE INDEX obs_mastra_ai_spans_root_spans_idx ON obs.mastra_ai_spans "
        "([startedAt] DESC) WHERE [parentSpanId] IS NULL",
        "CREATE INDEX obs_mastra_ai_spans_spantype_startedat_idx ON obs.mastra_ai_spans "
        "([spanType], [startedAt] DESC)",
        "CREATE INDEX obs_mastra_ai_spans_traceid_startedat_idx ON obs.mastra_ai_spans "
        "([traceId], [startedAt] DESC)",
    ]


def test_default_schema_names_are_unprefixed() -> None:
    table = MSSQLDialect().build_table(sa.MetaData())
    assert table.schema is None
    assert table.primary_key.name == "mastra_ai_spans_traceid_spanid_pk"
    assert {ix.name for ix in table.indexes} == {
        f"mastra_ai_spans_{n}_idx" for n in (
            "entitytype_entityid", "entitytype_entityname", "name", "orgid_userid",
            "parentspanid_startedat", "root_spans", "spantype_startedat", "traceid_startedat")}


def test_offline_migration_script() -> None:
    script = offline_sql("mssql+pyodbc://sa:pw@db.example:1433/mastra?driver=FreeTDS",
                         schema="obs")
    text = flat(script)
    assert text.index("IF SCHEMA_ID(N'obs') IS NULL EXEC(N'CREATE SCHEMA obs')") \
        < text.index("CREATE TABLE obs.mastra_storage_alembic_version")
    assert "CREATE TABLE obs.mastra_ai_spans (" in text
    assert "[traceId] NVARCHAR(100) NOT NULL" in text and "input NVARCHAR(max) NULL" in text
    assert "CREATE INDEX obs_mastra_ai_spans_root_spans_idx" in text
    assert "USING gin" not in text and "TRIGGER" not in text
    assert "INSERT INTO obs.mastra_storage_alembic_version" in text and "'0001'" in text
    assert script.count("\nGO\n") >= 10  # batches for sqlcmd


# ----------------------------------------------------------------------- writes

def test_upsert_is_a_holdlock_merge_on_the_key(store: MSSQLStore) -> None:
    compiled = compile_(store._upsert)
    sql = flat(compiled)
    names = [c.name for c in store.table.columns]
    assert sql.startswith("MERGE INTO obs.mastra_ai_spans WITH (HOLDLOCK) AS t USING (SELECT "
                          "CAST(:traceId AS NVARCHAR(100)) AS [traceId], "
                          "CAST(:spanId AS NVARCHAR(100)) AS [spanId], "
                          "CAST(:name AS NVARCHAR(100)) AS name, ")
    assert "CAST(:isEvent AS BIT) AS [isEvent]" in sql
    assert "CAST(:startedAt AS DATETIME2(7)) AS [startedAt]" in sql
    assert "CAST(:input AS NVARCHAR(max)) AS input" in sql
    assert ") AS s ON " in sql
    assert "ON t.[traceId] = s.[traceId] AND t.[spanId] = s.[spanId]" in sql
    assert sql.endswith(");")
    # A running snapshot never replaces an ended span (a late or retried start event).
    matched = "WHEN MATCHED AND (t.[endedAt] IS NULL OR s.[endedAt] IS NOT NULL) THEN UPDATE SET"
    update = sql[sql.index(matched):sql.index("WHEN NOT MATCHED")]
    for n in names:
        present = f"= s.[{n}]" in update or f"= s.{n}" in update
        assert present == (n not in ("traceId", "spanId", "createdAt")), n
    insert = sql[sql.index("WHEN NOT MATCHED THEN INSERT"):]
    assert all(f"s.[{n}]" in insert or f"s.{n}" in insert for n in names)
    assert sorted(compiled.binds) == sorted(names)  # one typed parameter per column
    types = {n: type(compiled.binds[n].type).__name__ for n in names}
    assert types["startedAt"] == "DATETIME2" and types["isEvent"] == "BIT"
    assert types["traceId"] == "NVARCHAR" and types["input"] == "NVARCHAR"


def test_update_statement(store: MSSQLStore) -> None:
    sql = flat(compile_(store._update))
    assert sql.startswith("UPDATE obs.mastra_ai_spans SET name=:name,")
    assert "[createdAt]" not in sql and "[updatedAt]=:updatedAt" in sql
    assert sql.endswith("WHERE obs.mastra_ai_spans.[traceId] = :_traceId AND "
                        "obs.mastra_ai_spans.[spanId] = :_spanId AND "
                        "(obs.mastra_ai_spans.[endedAt] IS NULL OR :_endedAt IS NOT NULL)")


def test_row_codec() -> None:
    d = MSSQLDialect()
    rec = full_span(tid(), sid()).copy(
        name="n" * 150, created_at=at(0), updated_at=at(1),
        started_at=datetime(2026, 11, 22, 3, 9, 0, 93456, tzinfo=timezone.utc))
    row = d.encode(rec)
    assert row["name"] == "n" * 100  # NVARCHAR(100): cut, not rejected
    assert row["startedAt"] == datetime(2026, 11, 22, 3, 9, 0, 93000)  # naive UTC, ms
    assert row["isEvent"] is False
    assert row["input"].startswith('{"messages":[{"role":"user","content":"héllo 😀"}]')
    assert row["resourceId"] == "res-1"
    back = d.decode(row)
    assert back.started_at.tzinfo is not None and back.started_at == at(0).replace(
        hour=3, minute=9, second=0, microsecond=93000, day=22)
    assert back.input == rec.input and back.tags == ["prod", "vip"]
    nan = d.encode(span(tid(), sid(), input={"v": float("nan"), "s": "a\x00b"}))
    assert nan["input"] == '{"v":"NaN","s":"a\ufffdb"}'
    assert isinstance(d.decode({"isEvent": 1, "traceId": "t", "spanId": "s", "name": "n",
                                "spanType": "x", "startedAt": datetime(2026, 1, 1)}),
                      SpanRecord)


# ----------------------------------------------------------------------- reads & filters

def test_every_filter_compiles_to_bound_parameters(store: MSSQLStore) -> None:
    f = TracesFilter(
        started_from=at(0), started_to=at(9), ended_from=at(1), ended_to=at(8),
        span_type=HOSTILE, entity_type=HOSTILE, entity_id=HOSTILE, entity_name=HOSTILE,
        user_id=HOSTILE, organization_id=HOSTILE, resource_id=HOSTILE, run_id=HOSTILE,
        session_id=HOSTILE, thread_id=HOSTILE, request_id=HOSTILE, environment=HOSTILE,
        source=HOSTILE, service_name=HOSTILE, status="error", has_child_error=True,
        tags=[HOSTILE, "prod"], metadata={HOSTILE: HOSTILE, "$.x": 1, "b": True, "o": {"k": 1},
                                          "z": None},
        scope={"core'": HOSTILE})
    compiled = compile_(sa.select(store.table.c.traceId).where(
        *store._conditions(f, store.table)))
    sql = str(compiled)
    assert HOSTILE not in sql and "DROP" not in sql and "$.x" not in sql and "core'" not in sql
    assert "JSON_VALUE" not in sql  # no JSON path is ever built from user input
    assert sql.count("OPENJSON(obs.mastra_ai_spans.tags)") == 2
    assert sql.count("OPENJSON(obs.mastra_ai_spans.metadata)") == 5
    assert sql.count("OPENJSON(obs.mastra_ai_spans.scope)") == 1
    assert "TRY_CONVERT(FLOAT, oj.[value])" in sql
    params = compiled.params
    assert sum(v == HOSTILE for v in params.values()) == 14 + 1 + 2 + 1  # eq, tags, md, scope
    assert "$.x" in params.values() and "core'" in params.values()
    assert datetime(2026, 11, 1, 12, 0, 0, 123000) in params.values()  # naive UTC


def test_json_filter_shapes(store: MSSQLStore) -> None:
    d = store.dialect
    col = store.table.c.metadata

    def where(expr: Any) -> str:
        return flat(compile_(expr))

    assert "oj.[type] = :type_1" in where(d.json_has_key_value(col, "k", None))
    s = compile_(d.json_has_key_value(col, "k", "v"))
    assert sorted(s.params.values(), key=str) == sorted([1, "k", "v"], key=str)  # string = 1
    b = compile_(d.json_has_key_value(col, "k", False))
    assert set(b.params.values()) == {"k", 3, "false"}
    n = compile_(d.json_has_key_value(col, "k", 3))
    assert set(n.params.values()) == {"k", 2, 3.0}
    o = compile_(d.json_has_key_value(col, "k", {"b": 1, "a": [1]}))
    assert '{"b":1,"a":[1]}' in o.params.values() and "oj.[type] >= :type_1" in flat(o)
    t = compile_(d.json_array_contains(store.table.c.tags, "prod"))
    assert set(t.params.values()) == {1, "prod"}


def test_paged_list_and_root_lookup(store: MSSQLStore) -> None:
    t = store.table
    conds = store._conditions(TracesFilter(), t)
    page = Pagination(page=2, per_page=10)
    for order in (TracesOrderBy("startedAt", "DESC"), TracesOrderBy("endedAt", "ASC")):
        col = t.c.startedAt if order.field == "startedAt" else t.c.endedAt
        q = sa.select(*store._full_cols).where(*conds).order_by(col).limit(
            page.per_page).offset(page.offset)
        sql = flat(compile_(q))
        assert "OFFSET :param_1 ROWS FETCH FIRST :param_2 ROWS ONLY" in sql
    root = flat(compile_(sa.select(*store._full_cols).where(
        t.c.traceId == "x", t.c.parentSpanId.is_(None)).order_by(t.c.startedAt).limit(1)))
    assert root.startswith("SELECT TOP __[POSTCOMPILE_param_1]")


# ----------------------------------------------------------------------- signals

@pytest.fixture
def sstore(store: MSSQLStore) -> MSSQLStore:
    store._signals_present = True  # never connected: the signal tables are taken as there
    return store


def test_signal_tables_ddl(sstore: MSSQLStore) -> None:
    for codec in sstore.signals.values():
        name, ident = codec.table.name, codec.id_name
        ddl = [flat(compile_(s)) for s in sstore.dialect.signal_create_ddl(codec.table)]
        create = ddl[0]
        assert create.startswith(f"CREATE TABLE obs.{name} ( [cursorId] BIGINT NOT NULL "
                                 "IDENTITY(1,1), ")
        assert f"[{ident}] NVARCHAR(255) NOT NULL" in create
        assert "timestamp DATETIME2(7) NOT NULL" in create
        assert "tags NVARCHAR(max) NOT NULL DEFAULT '[]'" in create
        assert create.endswith(f"CONSTRAINT obs_{name}_pkey PRIMARY KEY NONCLUSTERED "
                               f"([{ident}]) )")
        assert all(s.startswith(f"CREATE INDEX obs_{name}_") for s in ddl[1:])
        assert f"CREATE INDEX obs_{name}_ts_idx ON obs.{name} (timestamp DESC)" in ddl
    metrics = flat(compile_(sstore.dialect.signal_create_ddl(
        sstore.signals["metrics"].table)[0]))
    for column in ("name NVARCHAR(255) NOT NULL", "value FLOAT NOT NULL",
                   "labels NVARCHAR(max) NOT NULL DEFAULT '{}'", "[estimatedCost] FLOAT NULL",
                   "[entityType] NVARCHAR(255) NULL", "[traceId] NVARCHAR(255) NULL",
                   "[costMetadata] NVARCHAR(max) NULL"):
        assert column in metrics, column
    feedback = flat(compile_(sstore.dialect.signal_create_ddl(
        sstore.signals["feedback"].table)[0]))
    assert "[reviewStatus] NVARCHAR(max) NOT NULL DEFAULT 'needs-review'" in feedback


def test_signal_insert_is_a_merge_that_keeps_the_stored_record(sstore: MSSQLStore) -> None:
    codec = sstore.signals["logs"]
    dialect = sstore.dialect
    assert isinstance(dialect, MSSQLDialect)
    compiled = compile_(dialect.insert_signal_sql(codec.table, codec.id_name, codec.names))
    sql = flat(compiled)
    assert sql.startswith("MERGE INTO obs.mastra_log_events WITH (HOLDLOCK) AS t USING (SELECT "
                          "CAST(:logId AS NVARCHAR(255)) AS [logId], "
                          "CAST(:timestamp AS DATETIME2(7)) AS timestamp, ")
    assert "ON t.[logId] = s.[logId] WHEN NOT MATCHED THEN INSERT (" in sql
    assert "WHEN MATCHED" not in sql and "cursorId" not in sql and sql.endswith(");")
    assert sorted(compiled.binds) == sorted(codec.names)


def test_signal_row_codec(sstore: MSSQLStore) -> None:
    from mastra_storage.model.signals import MetricRecord

    codec = sstore.signals["metrics"]
    rec = MetricRecord(timestamp=datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=timezone.utc),
                       name="n" * 300, value=3, labels={"k": "v"}, tags=["a"],
                       entity_name="e" * 300, metadata={"x": float("inf")}, metric_id="m1")
    row = dict(zip(codec.names, codec.encode(rec), strict=True))
    assert row["name"] == "n" * 255  # NVARCHAR(255), indexed: cut, not rejected
    assert row["entityName"] == "e" * 300  # NVARCHAR(max)
    assert row["timestamp"] == datetime(2026, 11, 2, 10, 0, 0, 123000)  # naive UTC, ms
    assert row["value"] == 3.0 and row["labels"] == '{"k":"v"}' and row["tags"] == '["a"]'
    assert row["metadata"] == '{"x":"Infinity"}' and row["costMetadata"] is None
    back = codec.decode(row)
    assert back.timestamp == datetime(2026, 11, 2, 10, 0, 0, 123000, tzinfo=timezone.utc)
    assert back.labels == {"k": "v"} and back.tags == ["a"] and back.metric_id == "m1"


def test_signal_filters_compile_to_bound_parameters(sstore: MSSQLStore) -> None:
    from mastra_storage.storage.signal_queries import LogsFilter, ScoresFilter, TimeRange

    logs = sstore.signals["logs"]
    f = LogsFilter(search=HOSTILE, tags=(HOSTILE,), level=("warn", "error"),
                   trace_id=HOSTILE, source=HOSTILE,
                   timestamp=TimeRange(at(0), at(9), start_exclusive=True))
    compiled = compile_(sa.select(logs.table.c.logId).where(*sstore._log_conditions(logs, f)))
    sql = flat(compiled)
    assert HOSTILE not in sql and "DROP" not in sql
    assert re.search(r"CHARINDEX\(:\w+, LOWER\(obs\.mastra_log_events\.message\)\) > :\w+",
                     sql)
    assert "OPENJSON(obs.mastra_log_events.tags)" in sql
    assert "obs.mastra_log_events.timestamp > :timestamp_1" in sql
    assert "[executionSource] = :executionSource_1" in sql
    assert sum(v == HOSTILE.lower() or v == HOSTILE for v in compiled.params.values()) == 4
    scores = sstore.signals["scores"]
    s = compile_(sa.select(scores.table.c.scoreId).where(*sstore._score_conditions(
        scores, ScoresFilter(metadata={HOSTILE: HOSTILE}, scorer_id=("a", "b")))))
    assert HOSTILE not in str(s) and "OPENJSON(obs.mastra_score_events.metadata)" in str(s)


def test_metric_statements(sstore: MSSQLStore) -> None:
    from mastra_storage.model.signals import TABLE_METRICS
    from mastra_storage.storage.signal_queries import MetricPercentilesRequest

    codec = sstore.signals["metrics"]
    bucket = sstore.dialect.epoch_bucket(codec.table.c.timestamp, 3600)
    label = sstore._group_key(codec, HOSTILE)
    groups = sstore._groups(None, ("tokens",), "last", None, [label, bucket])
    compiled = compile_(groups.stmt)
    sql = flat(compiled)
    assert HOSTILE not in sql and HOSTILE in compiled.params.values()
    # the label is read once, in a derived table (SQL Server can't group or partition by
    # a subquery); "last" ranks each group's rows one level up
    assert re.search(r"FROM \(SELECT \(SELECT TOP \S+ jm\.\[value\] FROM "
                     r"OPENJSON\(obs\.mastra_metric_events\.labels\) AS jm WHERE "
                     r"jm\.\[key\] = :\w+\) AS g0, \(DATEDIFF_BIG\(second, "
                     r"CAST\('1970-01-01' AS DATETIME2\), obs\.mastra_metric_events\.timestamp\) "
                     r"/ 3600\) \* 3600 AS g1", sql)  # the interval: one of five constants
    assert "row_number() OVER (PARTITION BY mr.g0, mr.g1 ORDER BY mr.ts DESC, mr.o DESC) " \
        "AS rn FROM (SELECT" in sql
    assert re.search(r"max\(CASE WHEN \(ml\.rn = :\w+\) THEN ml\.v ELSE NULL END\) AS value",
                     sql)
    assert sql.endswith("AS mr) AS ml GROUP BY ml.g0, ml.g1")
    shape, stmt = sstore._percentile_statement(MetricPercentilesRequest(
        "tokens", (0.5, 0.99), "5m"))
    pct = flat(compile_(stmt))
    assert shape == "value"
    assert pct.startswith("SELECT DISTINCT pv.b, percentile_cont(0.5) WITHIN GROUP "
                          "(ORDER BY pv.v) OVER (PARTITION BY pv.b) AS p0, percentile_cont(0.99)")
    assert pct.endswith("ORDER BY pv.b")
    keys = flat(compile_(sstore._label_keys_statement(HOSTILE)))
    assert (f"FROM obs.{TABLE_METRICS} CROSS APPLY OPENJSON(obs.{TABLE_METRICS}.labels) AS lk "
            f"WHERE obs.{TABLE_METRICS}.name = :name_1") in keys


def test_trace_query_compiles_to_one_statement_with_bound_literals(sstore: MSSQLStore) -> None:
    from mastra_storage.storage.trace_query import plan_trace_query

    where = {"op": "and", "args": [
        {"op": "eq", "left": {"path": f"metadata.{HOSTILE}"}, "right": {"literal": HOSTILE}},
        {"op": "not", "arg": {"op": "includes", "path": "tags", "value": HOSTILE}},
        {"op": "gte", "left": {"path": "durationMs"}, "right": {"literal": 5}},
        {"spans": {"some": {"op": "eq", "left": {"path": "model"},
                            "right": {"literal": HOSTILE}}}},
        {"scores": {"none": {"op": "exists", "path": "spanId"}}},
        {"feedback": {"some": {"op": "lt", "left": {"path": "value"},
                               "right": {"literal": 2}}}},
    ]}
    query = plan_trace_query({"timeRange": {"from": "2026-11-01T00:00:00Z",
                                            "to": "2026-11-02T00:00:00Z"}, "where": where})
    compiled = compile_(sa.select(sstore.table.c.traceId).where(*sstore._where(query)))
    sql = flat(compiled)
    assert HOSTILE not in sql and "DROP" not in sql and "JSON_VALUE" not in sql
    assert sum(v == HOSTILE for v in compiled.params.values()) == 4
    assert "EXISTS (SELECT 1 FROM obs.mastra_ai_spans AS rel_spans_0 WHERE " \
        "rel_spans_0.[traceId] = obs.mastra_ai_spans.[traceId]" in sql
    assert "NOT (EXISTS (SELECT 1 FROM obs.mastra_score_events AS rel_scores_1" in sql
    assert "rel_feedback_2.[valueNumber] IS NOT NULL AND rel_feedback_2.[valueNumber] <" in sql
    assert "DATEDIFF_BIG(millisecond, CAST('1970-01-01' AS DATETIME2), " \
        "obs.mastra_ai_spans.[endedAt])" in sql
    # metadata.<key>: one lookup, the key bound, blank strings left out as in Python
    assert re.search(r"CASE WHEN \(\(SELECT TOP \S+ jm\.\[value\] FROM "
                     r"OPENJSON\(obs\.mastra_ai_spans\.metadata\) AS jm WHERE jm\.\[key\] = "
                     r":\w+ AND jm\.\[type\] = :\w+ AND TRIM\(:\w+ FROM jm\.\[value\]\) != :\w+\) "
                     r"= :\w+\) THEN", sql)
    assert "obs.mastra_ai_spans.[parentSpanId] IS NULL AND obs.mastra_ai_spans.[endedAt] " \
        "IS NOT NULL" in sql


def test_offline_migration_creates_the_signal_tables() -> None:
    script = flat(offline_sql("mssql+pyodbc://sa:pw@db.example:1433/mastra?driver=FreeTDS",
                              schema="obs"))
    for table in ("mastra_log_events", "mastra_metric_events", "mastra_score_events",
                  "mastra_feedback_events"):
        assert f"CREATE TABLE obs.{table} ( [cursorId] BIGINT NOT NULL IDENTITY(1,1)" in script
    assert "PARTITION" not in script
    assert "SET version_num='0002' WHERE obs.mastra_storage_alembic_version.version_num = " \
        "'0001'" in script
