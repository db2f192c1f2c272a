"""PostgreSQL schema: what ``upgrade()`` creates IS the contract table, and Mastra's own
table is adopted in place. Compared on the live catalogue, not on our own DDL text."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from mastra_storage import create_store
from mastra_storage.storage import TracesFilter
from mastra_storage.storage.sql import root_metadata
from mastra_storage.storage.sql.migrate import (
    VERSION_TABLE,
    SchemaNotReadyError,
    current_revision,
    downgrade,
    upgrade,
)
from mastra_storage.storage.sql.postgres import PostgresStore, make_engine
from mastra_storage.storage.sql.read_indexes import spans_read_indexes
from tests.backends import Provider, selected
from tests.backends.postgres import fresh_database

from .factories import full_span, sid, span, tid
from .helpers import contract_text

CONTRACT = "postgres.mastra_ai_spans.sql"  # in tests/contract/
HEAD = "0005"  # the newest revision of mastra_storage/migrations/versions/

pytestmark = pytest.mark.skipif("postgres" not in selected(),
                                reason="postgres not in MASTRA_TEST_BACKENDS")



def contract_sql() -> str:
    """The contract DDL, statement for statement; only the function moves first (the
    catalogue dump lists the trigger before the function it executes)."""
    sql = contract_text(CONTRACT)
    cut = sql.index("CREATE OR REPLACE FUNCTION")
    return sql[cut:] + "\n" + sql[:cut]


def mastras(cat: dict[str, Any], schema: str | None = None) -> dict[str, Any]:
    """``cat`` without migration 0003's read indexes (mastra_storage/storage/sql/
    read_indexes.py: the only indexes this library adds to Mastra's table) and 0005's
    metadata-index triggers (storage/sql/root_metadata.py), which must all be there."""
    ours = {name for name, _ in spans_read_indexes("postgresql", schema)}
    have = {name for name, _ in cat["indexes"]}
    assert have >= ours, sorted(ours - have)
    theirs = {*root_metadata.TRIGGERS, root_metadata.TRUNCATE_TRIGGER}
    triggers = {name for name, _ in cat["triggers"]}
    assert triggers >= theirs, sorted(triggers)
    return {**cat, "indexes": [ix for ix in cat["indexes"] if ix[0] not in ours],
            "triggers": [t for t in cat["triggers"] if t[0] not in theirs]}


def run_script(url: str, sql: str) -> None:
    """Run a multi-statement script as psql would (psycopg: one simple-protocol query)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    finally:
        engine.dispose()


def _norm(text: str | None) -> str | None:
    return None if text is None else re.sub(r"\s+", " ", text).strip()


def catalogue(url: str, schema: str = "public") -> dict[str, Any]:
    """Columns, primary key, indexes, triggers and the trigger function, normalised."""
    engine = make_engine(url)
    rel = f'"{schema}".mastra_ai_spans'
    try:
        with engine.connect() as conn:
            def rows(sql: str, **kw: Any) -> list[tuple[Any, ...]]:
                return [tuple(r) for r in conn.execute(sa.text(sql), kw)]

            return {
                "columns": rows(
                    "SELECT column_name, data_type, is_nullable, column_default "
                    "FROM information_schema.columns WHERE table_schema = :s AND "
                    "table_name = 'mastra_ai_spans' ORDER BY ordinal_position", s=schema),
                "pk": rows("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conrelid = CAST(:r AS regclass) AND contype = 'p'", r=rel),
                "constraints": rows("SELECT contype, count(*) FROM pg_constraint WHERE "
                                    "conrelid = CAST(:r AS regclass) GROUP BY contype "
                                    "ORDER BY contype", r=rel),
                "indexes": sorted(rows("SELECT indexname, indexdef FROM pg_indexes WHERE "
                                       "schemaname = :s AND tablename = 'mastra_ai_spans'",
                                       s=schema)),
                "triggers": rows("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                                 "WHERE tgrelid = CAST(:r AS regclass) AND NOT tgisinternal",
                                 r=rel),
                "function": _norm(conn.execute(sa.text(
                    "SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n "
                    "ON n.oid = p.pronamespace WHERE p.proname = 'trigger_set_timestamps' "
                    "AND n.nspname = :s"), {"s": schema}).scalar()),
            }
    finally:
        engine.dispose()


# ----------------------------------------------------------------------- fresh database

def test_upgrade_on_empty_database_creates_exactly_the_contract_table(pg: Provider) -> None:
    with fresh_database(pg.url) as mastra_db, fresh_database(pg.url) as our_db:
        run_script(mastra_db, contract_sql())
        engine = make_engine(our_db)
        try:
            upgrade(engine)
            assert current_revision(engine) == HEAD
        finally:
            engine.dispose()
        want, got = catalogue(mastra_db), mastras(catalogue(our_db))
    assert len(want["columns"]) == 46 and len(want["indexes"]) == 11
    for part in ("columns", "pk", "constraints", "indexes", "triggers", "function"):
        assert got[part] == want[part], part


def test_names_follow_mastra_in_a_named_schema(pg: Provider, db: str) -> None:
    engine = make_engine(db)
    try:
        upgrade(engine, schema="obs")
        assert current_revision(engine, "obs") == HEAD
        with engine.connect() as conn:
            assert sa.inspect(conn).has_table(VERSION_TABLE, schema="obs")
    finally:
        engine.dispose()
    got = catalogue(db, "obs")
    assert got["pk"] == [("obs_mastra_ai_spans_traceid_spanid_pk",
                          'PRIMARY KEY ("traceId", "spanId")')]
    names = {name for name, _ in got["indexes"]}
    assert "obs_mastra_ai_spans_root_spans_idx" in names
    assert "obs_mastra_ai_spans_metadata_gin_idx" in names
    assert {n for n in names if not n.startswith("obs_mastra_ai_spans_")} == {
        n for n, _ in spans_read_indexes("postgresql", "obs")}
    assert all(n.startswith("obs_mastra_storage_") for n, _ in
               spans_read_indexes("postgresql", "obs"))
    assert mastras(got, "obs")["triggers"] == [(
        "mastra_ai_spans_timestamps",
        "CREATE TRIGGER mastra_ai_spans_timestamps BEFORE INSERT OR UPDATE ON "
        "obs.mastra_ai_spans FOR EACH ROW EXECUTE FUNCTION obs.trigger_set_timestamps()")]
    functions = (root_metadata.FUNCTION, root_metadata.INSERT_FUNCTION,
                 root_metadata.TRUNCATE_FUNCTION)
    ours = [ddl for name, ddl in got["triggers"]
            if name in (*root_metadata.TRIGGERS, root_metadata.TRUNCATE_TRIGGER)]
    assert len(ours) == 4 and all("ON obs.mastra_ai_spans " in ddl and any(
        f"EXECUTE FUNCTION obs.{f}()" in ddl for f in functions) for ddl in ours)


@pytest.mark.parametrize("length", [40, 63])
def test_a_long_schema_name_gets_every_index(pg: Provider, db: str, length: int) -> None:
    # Cut to 63 bytes, Mastra's names of two indexes (and of the key and an index) are
    # the same text from a 30-character schema name on: each must still be created.
    schema = ("observability_" * 5)[:length]
    engine = make_engine(db)
    try:
        upgrade(engine, schema=schema)
        store = PostgresStore(engine=engine, schema=schema)
        store.batch_create_spans([full_span(tid(), sid())])
        assert store.list_traces().total == 1
        downgrade(engine, "0002", schema=schema)
        assert len(catalogue(db, schema)["indexes"]) == 11  # Mastra's, the key's among them
        upgrade(engine, schema=schema)
    finally:
        engine.dispose()
    got = catalogue(db, schema)
    names = [name for name, _ in got["indexes"]]
    # Mastra's 11 (the key's among them) and ours, each under a name of its own
    assert len(names) == len(set(names)) == 11 + len(spans_read_indexes("postgresql", schema))
    assert all(len(n.encode()) <= 63 for n in names)


def test_upgrade_twice_is_a_noop(pg: Provider, db: str) -> None:
    engine = make_engine(db)
    try:
        upgrade(engine, schema="twice")
        before = catalogue(db, "twice")
        with engine.begin() as conn:
            conn.execute(sa.text('CREATE TABLE twice.marker (x int)'))  # survives a no-op
        upgrade(engine, schema="twice")
        assert catalogue(db, "twice") == before
        with engine.connect() as conn:
            versions = conn.execute(sa.text(f"SELECT version_num FROM twice.{VERSION_TABLE}"))
            assert [r[0] for r in versions] == [HEAD]
            assert sa.inspect(conn).has_table("marker", schema="twice")
    finally:
        engine.dispose()


def test_concurrent_upgrades_are_serialised(pg: Provider, db: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        engine = make_engine(db)
        try:
            start.wait()
            upgrade(engine, schema="race")
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(mastras(catalogue(db, "race"), "race")["indexes"]) == 11


# ----------------------------------------------------------------------- adoption

def _mastra_insert(url: str, rows: list[dict[str, Any]], session_tz: str = "UTC") -> None:
    """Insert rows the way @mastra/pg does: ISO strings, JSON text, both timestamp columns,
    createdAt/updatedAt left to the trigger, in a session whose time zone may not be UTC."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL TIME ZONE '{session_tz}'"))
            for row in rows:
                cols = ", ".join(f'"{k}"' for k in row)
                vals = ", ".join(f":{k}" for k in row)
                conn.execute(sa.text(f"INSERT INTO public.mastra_ai_spans ({cols}, \"createdAt\")"
                                     f" VALUES ({vals}, now())"), row)
    finally:
        engine.dispose()


def _mastra_row(trace: str, span_id: str, parent: str | None, start: str,
                end: str | None, **extra: Any) -> dict[str, Any]:
    return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": "agent run",
            "spanType": "agent_run", "isEvent": False, "startedAt": start, "endedAt": end,
            "startedAtZ": start, "endedAtZ": end, **extra}


def test_adopts_a_table_created_by_mastra_without_data_loss(pg: Provider, db: str) -> None:
    run_script(db, contract_sql())
    t = tid()
    root, child = sid(), sid()
    _mastra_insert(db, [
        _mastra_row(t, root, None, "2026-11-22T02:09:00.093Z", "2026-11-22T02:09:03.500Z",
                    metadata='{"tier": "gold"}', tags='["prod"]', userId="u-1",
                    input='{"q": "hi"}'),
        _mastra_row(t, child, root, "2026-11-22T02:09:01.000Z", None),
    ], session_tz="America/New_York")
    before = catalogue(db)

    store = create_store(db, auto_migrate=True)
    try:
        assert current_revision(store.engine) == HEAD  # type: ignore[attr-defined]
        assert mastras(catalogue(db)) == before  # nothing else added, nothing duplicated
        trace = store.get_trace(t)
        assert trace is not None and [s.span_id for s in trace.spans] == [root, child]
        got = trace.spans[0]
        assert got.started_at == datetime(2026, 11, 22, 2, 9, 0, 93000, tzinfo=timezone.utc)
        assert got.ended_at == datetime(2026, 11, 22, 2, 9, 3, 500000, tzinfo=timezone.utc)
        assert got.metadata == {"tier": "gold"} and got.input == {"q": "hi"}
        assert trace.spans[1].ended_at is None and trace.spans[1].status == "running"
        # createdAt came from the trigger in a New York session: the plain column holds New
        # York wall time, the twin the true instant; the store reads the instant.
        assert got.created_at is not None
        assert abs((datetime.now(timezone.utc) - got.created_at).total_seconds()) < 600
        page = store.list_traces(TracesFilter(metadata={"tier": "gold"}, tags=["prod"]))
        assert [s.trace_id for s in page.spans] == [t]
        # and our writes land in Mastra's table
        store.batch_create_spans([span(t, child, parent=root, start=1, end=2, name="tool")])
        assert store.get_span(t, child).name == "tool"  # type: ignore[union-attr]
    finally:
        store.close()
    engine = make_engine(db)
    try:
        upgrade(engine)  # again: a no-op
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM mastra_ai_spans")).scalar() == 2
            assert conn.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1
    finally:
        engine.dispose()


def _older_contract() -> str:
    """The contract as an older @mastra/pg made it: no …AtZ twins, no trigger, no PK."""
    sql = contract_text(CONTRACT)
    sql = re.sub(r',\s*"\w+AtZ" timestamp with time zone DEFAULT now\(\)', "", sql)
    sql = re.sub(r"ALTER TABLE ONLY public.mastra_ai_spans\s+ADD CONSTRAINT[^;]+;", "", sql)
    sql = re.sub(r"CREATE TRIGGER[^;]+;", "", sql)
    sql = sql[:sql.index("CREATE OR REPLACE FUNCTION")]
    sql = re.sub(r"CREATE INDEX mastra_ai_spans_(metadata|tags)_gin_idx[^;]+;", "", sql)
    assert "AtZ" not in sql and "TRIGGER" not in sql
    return sql


def test_adopting_an_older_table_adds_and_backfills_what_is_missing(pg: Provider,
                                                                    db: str) -> None:
    run_script(db, _older_contract())
    engine = make_engine(db)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                'INSERT INTO mastra_ai_spans ("traceId", "spanId", name, "spanType", '
                '"isEvent", "startedAt", "endedAt", "createdAt", "updatedAt") VALUES '
                "('t1', 's1', 'old', 'agent_run', false, '2026-01-02T03:04:05.678Z', NULL, "
                "'2026-01-02T03:04:06Z', '2026-01-02T03:04:07Z')"))
        upgrade(engine)
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                'SELECT "startedAtZ", "endedAtZ", "createdAtZ", "updatedAtZ", "updatedAt" '
                "FROM mastra_ai_spans")).one()
    finally:
        engine.dispose()
    utc = timezone.utc
    assert row[0] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=utc)
    assert row[1] is None  # still running: no end was made up
    assert row[2] == datetime(2026, 1, 2, 3, 4, 6, tzinfo=utc)
    assert row[3] == datetime(2026, 1, 2, 3, 4, 7, tzinfo=utc)
    assert row[4] == datetime(2026, 1, 2, 3, 4, 7)  # the backfill is not an update
    # now the table is the contract's
    with fresh_database(pg.url) as mastra_db:
        run_script(mastra_db, contract_sql())
        want = catalogue(mastra_db)
    got = mastras(catalogue(db))
    for part in ("columns", "pk", "indexes", "triggers", "function"):
        assert got[part] == want[part], part


# ----------------------------------------------------------------------- init behaviour

def test_server_store_does_not_migrate_unless_asked(pg: Provider, db: str) -> None:
    store = PostgresStore.from_url(db, schema="later")
    with pytest.raises(SchemaNotReadyError) as info:
        store.init()
    assert "mastra-storage migrate" in str(info.value) and "auto_migrate=True" in str(info.value)
    store.close()
    migrating = create_store(db, schema="later", auto_migrate=True)
    try:
        rec = full_span(tid(), sid())
        migrating.batch_create_spans([rec])
        assert migrating.get_span(rec.trace_id, rec.span_id) is not None
    finally:
        migrating.close()
    # once migrated, a store without auto_migrate opens it
    plain = create_store(db, schema="later")
    try:
        assert plain.list_traces().total == 1
    finally:
        plain.close()


def test_offline_sql_runs_on_an_empty_database_and_matches_the_contract(pg: Provider) -> None:
    from mastra_storage.storage.sql.migrate import offline_sql

    with fresh_database(pg.url) as mastra_db, fresh_database(pg.url) as our_db:
        run_script(mastra_db, contract_sql())
        script = offline_sql(our_db)
        assert "CREATE TABLE mastra_ai_spans" in script and "CREATE TRIGGER" in script
        run_script(our_db, script)
        want, got = catalogue(mastra_db), mastras(catalogue(our_db))
        engine = make_engine(our_db)
        try:
            assert current_revision(engine) == HEAD
            upgrade(engine)  # the offline script left a state the online path accepts
        finally:
            engine.dispose()
    for part in ("columns", "pk", "indexes", "triggers", "function"):
        assert got[part] == want[part], part



# ----------------------------------------------------------------------- signal tables

VNEXT = "postgres-vnext.observability.sql"  # in tests/contract/
SIGNAL_TABLES = ("mastra_log_events", "mastra_metric_events", "mastra_score_events",
                 "mastra_feedback_events")


def vnext_sql() -> str:
    """Mastra's v-next DDL as psql runs it: without psql's meta-commands, and without the
    ``ALTER INDEX … ATTACH PARTITION`` lines naming daily partitions the dump left out."""
    lines = contract_text(VNEXT).splitlines()
    return "\n".join(line for line in lines
                     if not line.startswith("\\") and not line.startswith("ALTER INDEX"))


def signal_catalogue(url: str, schema: str) -> dict[str, Any]:
    """Per signal table: columns, primary key, indexes, partition key, and partitions with
    their bounds."""
    engine = make_engine(url)
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            def rows(sql: str, **kw: Any) -> list[tuple[Any, ...]]:
                return [tuple(r) for r in conn.execute(sa.text(sql), kw)]

            for table in SIGNAL_TABLES:
                rel = f'"{schema}".{table}'
                out[table] = {
                    "columns": rows(
                        "SELECT column_name, data_type, udt_name, is_nullable, column_default "
                        "FROM information_schema.columns WHERE table_schema = :s AND "
                        "table_name = :t ORDER BY ordinal_position", s=schema, t=table),
                    "pk": rows("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                               "WHERE conrelid = CAST(:r AS regclass) AND contype = 'p'", r=rel),
                    "indexes": sorted(rows("SELECT indexname, indexdef FROM pg_indexes WHERE "
                                           "schemaname = :s AND tablename = :t", s=schema,
                                           t=table)),
                    "partition_key": rows("SELECT pg_get_partkeydef(CAST(:r AS regclass))",
                                          r=rel),
                    "partitions": sorted(rows(
                        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                        "JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = CAST(:r AS regclass)", r=rel)),
                }
    finally:
        engine.dispose()
    return out


def test_signal_tables_are_exactly_mastras_vnext_tables(pg: Provider) -> None:
    from datetime import timedelta

    with fresh_database(pg.url) as mastra_db, fresh_database(pg.url) as our_db:
        run_script(mastra_db, vnext_sql())
        engine = make_engine(our_db)
        try:
            upgrade(engine, schema="obsv")
        finally:
            engine.dispose()
        want, got = signal_catalogue(mastra_db, "obsv"), signal_catalogue(our_db, "obsv")
    assert sum(len(t["indexes"]) for t in want.values()) == 27  # 23 + 4 primary keys
    for table in SIGNAL_TABLES:
        for part in ("columns", "pk", "indexes", "partition_key"):
            assert got[table][part] == want[table][part], (table, part)
        assert want[table]["partition_key"] == [('RANGE ("timestamp")',)]
        # the daily partitions Mastra's init() makes: yesterday through today + 14
        today = datetime.now(timezone.utc).date()
        days = [today + timedelta(days=n) for n in range(-1, 15)]
        assert got[table]["partitions"] == sorted(
            (f"{table}_p{d:%Y%m%d}",
             f"FOR VALUES FROM ('{d:%Y-%m-%d} 00:00:00+00') TO "
             f"('{d + timedelta(days=1):%Y-%m-%d} 00:00:00+00')") for d in days), table


def test_adopts_mastras_vnext_tables_and_shares_their_rows(pg: Provider, db: str) -> None:
    from mastra_storage.storage.signal_queries import MetricAggregateRequest

    run_script(db, vnext_sql())
    # a partition and rows as Mastra's PostgresStoreVNext writes them
    run_script(db, """
        CREATE TABLE obsv.mastra_log_events_p20261102 (LIKE obsv.mastra_log_events INCLUDING ALL);
        ALTER TABLE obsv.mastra_log_events ATTACH PARTITION obsv.mastra_log_events_p20261102
            FOR VALUES FROM ('2026-11-02 00:00:00+00') TO ('2026-11-03 00:00:00+00');
        INSERT INTO obsv.mastra_log_events ("logId", "timestamp", level, message, "traceId",
            "executionSource", tags, data, metadata)
        VALUES ('mastra-log', '2026-11-02T10:00:00.123Z', 'warn', 'from Mastra', 't1',
                'cloud', '{vip,beta}'::text[], '{"k": 1}'::jsonb, '{"m": "x"}'::jsonb);
        CREATE TABLE obsv.mastra_metric_events_p20261102
            (LIKE obsv.mastra_metric_events INCLUDING ALL);
        ALTER TABLE obsv.mastra_metric_events ATTACH PARTITION
            obsv.mastra_metric_events_p20261102
            FOR VALUES FROM ('2026-11-02 00:00:00+00') TO ('2026-11-03 00:00:00+00');
        INSERT INTO obsv.mastra_metric_events ("metricId", "timestamp", name, value, labels)
        VALUES ('mastra-metric', '2026-11-02T10:00:00Z', 'tokens', 12, '{"model": "m"}');
    """)
    before = signal_catalogue(db, "obsv")
    store = create_store(db, schema="obsv", auto_migrate=True)
    try:
        assert current_revision(store.engine, "obsv") == HEAD  # type: ignore[attr-defined]
        after = signal_catalogue(db, "obsv")
        for table in SIGNAL_TABLES:  # kept as they were; only days still missing were added
            for part in ("columns", "pk", "indexes", "partition_key"):
                assert after[table][part] == before[table][part], (table, part)
            assert set(before[table]["partitions"]) <= set(after[table]["partitions"])
        (log,) = store.list_logs().items  # type: ignore[attr-defined]
        assert (log.log_id, log.level, log.message, log.source, log.tags, log.data,
                log.metadata) == ("mastra-log", "warn", "from Mastra", "cloud",
                                  ["vip", "beta"], {"k": 1}, {"m": "x"})
        assert log.timestamp == datetime(2026, 11, 2, 10, 0, 0, 123000, tzinfo=timezone.utc)
        assert store.metric_aggregate(MetricAggregateRequest(  # type: ignore[attr-defined]
            ("tokens",), "sum")).value == 12
        assert store.discover_metric_label_keys("tokens") == ["model"]  # type: ignore[attr-defined]
        from mastra_storage.model.signals import LogRecord

        store.batch_create_logs([LogRecord(
            timestamp=datetime(2026, 11, 2, 11, tzinfo=timezone.utc), level="info",
            message="from Python", tags=["py"], log_id="python-log")])
    finally:
        store.close()
    engine = make_engine(db)
    try:
        with engine.connect() as conn:  # what a Mastra reader selects
            row = conn.execute(sa.text(
                'SELECT "cursorId", "xactId"::text, tags, "timestamp" FROM obsv.mastra_log_events '
                "WHERE \"logId\" = 'python-log'")).one()
    finally:
        engine.dispose()
    assert row[0] > 1 and int(row[1]) > 0 and row[2] == ["py"]
    assert row[3] == datetime(2026, 11, 2, 11, tzinfo=timezone.utc)


@pytest.mark.parametrize("auto_migrate", [False, True])
def test_opening_a_current_schema_takes_no_table_lock(pg: Provider, db: str,
                                                      auto_migrate: bool) -> None:
    """Mastra's ``init()`` runs ``ALTER TABLE … IF NOT EXISTS`` on every start: an ACCESS
    EXCLUSIVE lock that queues behind readers. Ours reads the version and stops. Another
    session holds a lock that only ACCESS EXCLUSIVE (and SHARE-type DDL) conflicts with;
    opening the store must not wait for it."""
    upgrade(make_engine(db), schema="busy")
    holder = make_engine(db)
    try:
        with holder.connect() as conn:
            conn.exec_driver_sql("BEGIN")
            for table in ("mastra_ai_spans", "mastra_log_events", "mastra_metric_events",
                          "mastra_score_events", "mastra_feedback_events"):
                conn.exec_driver_sql(f'LOCK TABLE busy."{table}" IN ROW EXCLUSIVE MODE')
            store = PostgresStore(db, schema="busy", auto_migrate=auto_migrate,
                                  engine_options={"connect_args": {
                                      "options": "-c lock_timeout=3000"}})
            try:
                store.init()  # would fail with "canceling statement due to lock timeout"
                t = tid()
                store.batch_create_spans([span(t, sid())])  # ROW EXCLUSIVE: compatible
                assert store.get_trace(t) is not None
            finally:
                store.close()
            conn.exec_driver_sql("ROLLBACK")
    finally:
        holder.dispose()
