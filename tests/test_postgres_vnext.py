"""PostgreSQL v-next layout (``layout="vnext"``, Mastra's ``PostgresStoreVNext`` tables):
the schema IS the contract's, rows are the ones Mastra writes, retries are idempotent,
days get their partitions, retention drops whole days, and the classic spans are copied
over by the backfill (library and CLI). Against the real server the other PostgreSQL
tests use; the shared suites cover every read (``-k postgres-vnext``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from mastra_storage import DefaultExporter, SpanType, create_store
from mastra_storage.cli.main import app
from mastra_storage.errors import InvalidStoreURLError, UnsupportedOperation
from mastra_storage.model.signals import FeedbackRecord, LogRecord
from mastra_storage.model.spans import SpanRecord
from mastra_storage.storage import TracesFilter
from mastra_storage.storage.capabilities import TracingStrategy
from mastra_storage.storage.sql.migrate import SchemaNotReadyError
from mastra_storage.storage.sql.pg_vnext import PostgresVNextStore
from mastra_storage.storage.sql.pg_vnext_backfill import (
    PROGRESS_TABLE,
    BackfillReport,
    backfill_vnext,
)
from mastra_storage.storage.sql.pg_vnext_ddl import SPAN_EVENTS, ensure, offline_sql
from mastra_storage.storage.sql.postgres import PostgresStore, make_engine
from mastra_storage.storage.urls import split_layout
from tests.backends import Provider, selected
from tests.backends.postgres import fresh_database

from .factories import at, full_span, sid, span, tid
from .helpers import contract_text
from .test_postgres_schema import run_script

pytestmark = pytest.mark.skipif("postgres-vnext" not in selected(),
                                reason="postgres-vnext not in MASTRA_TEST_BACKENDS")

VNEXT = "postgres-vnext.observability.sql"  # in tests/contract/
TABLES = ("mastra_span_events", "mastra_log_events", "mastra_metric_events",
          "mastra_score_events", "mastra_feedback_events", "mastra_observability_discovery")
PARTITIONED = TABLES[:5]
UTC = timezone.utc
runner = CliRunner()


@pytest.fixture(scope="session")
def vprov(tmp_path_factory: pytest.TempPathFactory) -> Provider:
    from tests.conftest import _provider

    return _provider("postgres-vnext", tmp_path_factory)


@pytest.fixture
def make(vprov: Provider) -> Iterator[Any]:
    made: list[Any] = []

    def build(**options: Any) -> PostgresVNextStore:
        store: PostgresVNextStore = vprov.info["build"](**options)
        made.append(store)
        return store

    yield build
    for s in made:
        s.close()


@pytest.fixture
def vx(make: Any) -> PostgresVNextStore:
    store: PostgresVNextStore = make()
    return store


def raw(store: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    """``sql`` with ``S.`` naming the store's schema, as plain rows."""
    with store.engine.connect() as conn:
        result = conn.execute(sa.text(sql.replace("S.", f'"{store.schema}".')), params)
        return [dict(r) for r in result.mappings()]


def events(store: Any, trace_id: str) -> list[dict[str, Any]]:
    return raw(store, 'SELECT * FROM S.mastra_span_events WHERE "traceId" = :t '
                      'ORDER BY "cursorId"', t=trace_id)


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "240"})


# ---------------------------------------------------------------------------- the schema

def vnext_sql() -> str:
    """Mastra's v-next DDL as psql runs it: without psql's meta-commands and the
    ``ALTER INDEX … ATTACH PARTITION`` lines naming partitions the dump left out."""
    lines = contract_text(VNEXT).splitlines()
    return "\n".join(line for line in lines
                     if not line.startswith("\\") and not line.startswith("ALTER INDEX"))


def catalogue(url: str, schema: str) -> dict[str, Any]:
    """Per table: columns, constraints, indexes, partition key and partitions."""
    engine = make_engine(url)
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            def rows(sql: str, **kw: Any) -> list[tuple[Any, ...]]:
                return [tuple(r) for r in conn.execute(sa.text(sql), kw)]

            for table in TABLES:
                rel = f'"{schema}".{table}'
                out[table] = {
                    "columns": rows(
                        "SELECT column_name, data_type, udt_name, is_nullable, column_default "
                        "FROM information_schema.columns WHERE table_schema = :s AND "
                        "table_name = :t ORDER BY ordinal_position", s=schema, t=table),
                    "constraints": sorted(rows(
                        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conrelid = CAST(:r AS regclass)", r=rel)),
                    "indexes": sorted(rows("SELECT indexname, indexdef FROM pg_indexes WHERE "
                                           "schemaname = :s AND tablename = :t", s=schema,
                                           t=table)),
                    "partition_key": rows(
                        "SELECT pg_get_partkeydef(CAST(:r AS regclass))", r=rel),
                    "partitions": sorted(rows(
                        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits "
                        "i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = CAST(:r AS regclass)", r=rel)),
                }
    finally:
        engine.dispose()
    return out


def window_partitions(table: str) -> list[tuple[str, str]]:
    today = datetime.now(UTC).date()
    days = [today + timedelta(days=n) for n in range(-1, 15)]
    return sorted((f"{table}_p{d:%Y%m%d}",
                   f"FOR VALUES FROM ('{d:%Y-%m-%d} 00:00:00+00') TO "
                   f"('{d + timedelta(days=1):%Y-%m-%d} 00:00:00+00')") for d in days)


def test_the_layout_is_exactly_mastras(pg: Provider) -> None:
    with fresh_database(pg.url) as mastra_db, fresh_database(pg.url) as our_db:
        run_script(mastra_db, vnext_sql())
        store = create_store(f"{our_db}?layout=vnext&schema=obsv", auto_migrate=True)
        store.close()
        want, got = catalogue(mastra_db, "obsv"), catalogue(our_db, "obsv")
    assert len(want["mastra_span_events"]["columns"]) == 44
    assert sum(len(t["indexes"]) for t in want.values()) == 37 + 6  # + the primary keys
    for table in TABLES:
        for part in ("columns", "constraints", "indexes", "partition_key"):
            assert got[table][part] == want[table][part], (table, part)
    assert want["mastra_span_events"]["partition_key"] == [('RANGE ("endedAt")',)]
    for table in PARTITIONED:  # the days Mastra's init() makes: yesterday .. today + 14
        assert got[table]["partitions"] == window_partitions(table), table
    assert got["mastra_observability_discovery"]["partitions"] == []


def test_tables_mastra_created_are_adopted_as_they_are(pg: Provider, db: str) -> None:
    run_script(db, vnext_sql())
    run_script(db, "ALTER TABLE obsv.mastra_span_events DROP COLUMN \"isPending\"")
    before = catalogue(db, "obsv")
    engine = make_engine(db)
    try:
        store = PostgresVNextStore(engine=engine, schema="obsv")
        tables = [c.table for c in store.signals.values()]
        dry = ensure(engine, "obsv", tables, dry_run=True)
        assert dry.tables == [] and dry.indexes == []
        assert dry.columns == ["mastra_span_events.isPending"]  # what an older Mastra lacked
        assert len(dry.partitions) == 5 * 16
        assert catalogue(db, "obsv") == before  # a dry run changes nothing
        plan = ensure(engine, "obsv", tables)
        assert plan.columns == dry.columns and plan.partitions == dry.partitions
        assert ensure(engine, "obsv", tables).empty  # then a no-op
    finally:
        engine.dispose()
    after = catalogue(db, "obsv")
    for table in TABLES:
        assert after[table]["indexes"] == before[table]["indexes"], table
        assert after[table]["constraints"] == before[table]["constraints"], table
    assert ("isPending", "boolean", "bool", "NO", "false") in \
        after["mastra_span_events"]["columns"]


def test_opening_a_complete_layout_only_reads(vx: PostgresVNextStore) -> None:
    """Another session holds every table of the layout in EXCLUSIVE mode (only readers
    may go on): a new store still opens, because it only reads the catalogue; Mastra's
    ``CREATE INDEX IF NOT EXISTS`` (run by its ``init()`` on every start) would wait.
    ``lock_timeout`` turns a wait into an error instead of a hang."""
    holder = vx.engine.connect()
    short = {"connect_args": {"options": "-c lock_timeout=2000"}}
    try:
        holder.begin()
        for table in TABLES:
            holder.exec_driver_sql(f'LOCK TABLE "{vx.schema}".{table} IN EXCLUSIVE MODE')
        other = PostgresVNextStore(vx.engine.url, schema=vx.schema, auto_migrate=True,
                                   engine_options=short)
        try:
            other.init()
            assert other.features()
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"), \
                    other.engine.begin() as conn:
                conn.exec_driver_sql(
                    f'CREATE INDEX IF NOT EXISTS "mastra_span_events_name_idx" '
                    f'ON "{vx.schema}"."mastra_span_events" ("name")')
        finally:
            other.close()
    finally:
        holder.rollback()
        holder.close()


def test_offline_sql_builds_the_same_layout(pg: Provider) -> None:
    with fresh_database(pg.url) as script_db, fresh_database(pg.url) as our_db:
        result = invoke("migrate", script_db, "--schema", "obsv", "--to", "vnext", "--sql")
        assert result.exit_code == 0, result.output
        run_script(script_db, result.stdout)
        run_script(script_db, result.stdout)  # idempotent
        assert invoke("migrate", our_db, "--schema", "obsv", "--to", "vnext").exit_code == 0
        assert catalogue(script_db, "obsv") == catalogue(our_db, "obsv")
    text = offline_sql(None, [])
    assert text.startswith("CREATE TABLE IF NOT EXISTS mastra_span_events (")


def test_server_store_does_not_create_the_layout_unless_asked(db: str) -> None:
    store = create_store(f"{db}?layout=vnext", init=False)
    try:
        with pytest.raises(SchemaNotReadyError, match="--to vnext"):
            store.init()
    finally:
        store.close()


# ---------------------------------------------------------------------------- the store

def test_layout_is_chosen_by_option_or_url(db: str) -> None:
    store = PostgresStore(db, layout="vnext")
    assert type(store) is PostgresVNextStore and store.provider == "postgres-vnext"
    assert store.observability_strategy.preferred is TracingStrategy.EVENT_SOURCED
    assert store.observability_strategy.supported == (TracingStrategy.EVENT_SOURCED,)
    store.close()
    classic = PostgresStore.from_url(f"{db}?layout=classic")
    assert type(classic) is PostgresStore and classic.provider == "postgres"
    classic.close()
    with pytest.raises(ValueError, match="classic, vnext"):
        PostgresStore(db, layout="v2")
    with pytest.raises(InvalidStoreURLError, match="name it once"):
        create_store(f"{db}?layout=vnext", layout="classic", init=False)
    # the option never reaches the driver; other query options stay
    assert split_layout("postgresql://h/db?sslmode=disable&layout=VNext") == (
        "postgresql://h/db?sslmode=disable", "vnext")
    assert split_layout("clickhouse://h/db?layout=vnext") == (
        "clickhouse://h/db?layout=vnext", None)
    opened: Any = create_store(f"{db}?layout=vnext", auto_migrate=True)
    try:
        assert isinstance(opened, PostgresVNextStore) and opened.schema is None
        opened.batch_create_spans([span(tid(), sid())])
        assert opened.list_traces().total == 1
    finally:
        opened.close()


def test_start_and_end_rows_are_mastras(vx: PostgresVNextStore) -> None:
    t = tid()
    rec = full_span(t, sid())
    rec.tags = [" prod", "prod", "", 7, "vip "]
    rec.metadata = {"tier": " gold ", "count": 3, "userId": "promoted", "blank": " "}
    start = rec.copy(ended_at=None, output=None)
    vx.batch_create_spans([start])
    running = vx.get_span(t, rec.span_id)
    assert running is not None and running.ended_at is None and running.status == "running"
    assert vx.list_traces(TracesFilter(status="running")).total == 1
    vx.batch_create_spans([rec])
    first, end = events(vx, t)
    assert (first["isPending"], first["endedAt"], first["output"]) == (
        True, rec.started_at, None)
    assert (end["isPending"], end["endedAt"], end["output"]) == (
        False, rec.ended_at, rec.output)
    for row in (first, end):
        assert row["tags"] == ["prod", "vip"]
        assert row["metadataSearch"] == {"tier": "gold"}
        assert row["metadataRaw"] == rec.metadata
        assert row["executionSource"] == "cloud" and row["isEvent"] is False
        assert row["cursorId"] > 0 and int(raw(
            vx, 'SELECT "xactId"::text AS x FROM S.mastra_span_events WHERE "cursorId" = :c',
            c=row["cursorId"])[0]["x"]) > 0
    assert end["cursorId"] > first["cursorId"]
    got = vx.get_span(t, rec.span_id)
    assert got is not None
    assert got == replace(rec, tags=["prod", "vip"], created_at=rec.started_at,
                          updated_at=None)
    assert vx.list_traces(TracesFilter(status="success")).total == 1
    assert vx.stats()["spans"]["rows"] == 2  # span-event rows


def test_event_spans_are_one_row_at_their_start(vx: PostgresVNextStore) -> None:
    t = tid()
    root = span(t, sid())
    ev = span(t, sid(), parent=root.span_id, start=0.5, end=None, is_event=True)
    vx.batch_create_spans([root, ev])
    (row,) = [r for r in events(vx, t) if r["spanId"] == ev.span_id]
    assert (row["isEvent"], row["isPending"], row["endedAt"]) == (True, False, at(0.5))
    got = vx.get_span(t, ev.span_id)
    assert got is not None and got.ended_at == at(0.5) and got.status == "success"


def test_retries_and_replays_change_nothing(vx: PostgresVNextStore) -> None:
    t = tid()
    rec = span(t, sid(), name="first", start=0, end=2)
    start = rec.copy(ended_at=None)
    vx.batch_create_spans([start])
    vx.batch_create_spans([start])  # a retried start
    vx.batch_create_spans([rec])
    vx.batch_create_spans([rec, start])  # a replayed batch
    vx.batch_create_spans([rec.copy(name="second")])  # the end again: Mastra keeps the first
    rows = events(vx, t)
    assert [(r["isPending"], r["name"]) for r in rows] == [(True, "first"), (False, "first")]
    got = vx.get_trace(t)
    assert got is not None and [s.name for s in got.spans] == ["first"]
    assert got.spans[0].ended_at == at(2)


def test_a_zero_length_span_ends_in_place_with_a_fresh_cursor(vx: PostgresVNextStore) -> None:
    """Start and end rows share the key (endedAt = startedAt): the end replaces the
    start (Mastra's ON CONFLICT … WHERE isPending), and gets a new cursor, so a delta
    reader past the start's cursor sees the end."""
    t = tid()
    rec = span(t, sid(), start=1, end=1, output={"done": True})
    vx.batch_create_spans([rec.copy(ended_at=None, output=None)])
    (pending,) = events(vx, t)
    vx.batch_create_spans([rec])
    (ended,) = events(vx, t)
    assert pending["isPending"] and not ended["isPending"]
    assert ended["output"] == {"done": True} and ended["cursorId"] > pending["cursorId"]
    vx.batch_create_spans([rec.copy(ended_at=None, output=None)])  # a late start: no-op
    assert events(vx, t) == [ended]
    # both in one batch: one row, the ended one
    u = tid()
    other = span(u, sid(), start=1, end=1)
    vx.batch_create_spans([other, other.copy(ended_at=None)])
    assert [r["isPending"] for r in events(vx, u)] == [False]


def test_a_late_start_row_does_not_make_an_ended_trace_run(vx: PostgresVNextStore) -> None:
    t = tid()
    rec = span(t, sid(), start=0, end=3)
    vx.batch_create_spans([rec])
    vx.batch_create_spans([rec.copy(ended_at=None)])  # delivered after the end
    assert len(events(vx, t)) == 2
    assert vx.list_traces(TracesFilter(status="running")).total == 0
    (root,) = vx.list_traces().spans
    assert root.ended_at == at(3) and root.status == "success"


def test_days_outside_the_window_get_their_partition(vx: PostgresVNextStore) -> None:
    old = datetime(2020, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)
    t = tid()
    rec = span(t, sid())
    rec.started_at, rec.ended_at = old - timedelta(seconds=5), old
    vx.batch_create_spans([rec])
    parts = {r["relname"] for r in raw(
        vx, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:r AS regclass)", r=f'"{vx.schema}".{SPAN_EVENTS}')}
    assert "mastra_span_events_p20200229" in parts
    got = vx.get_span(t, rec.span_id)
    assert got is not None and got.ended_at == old


def test_updates_are_refused(vx: PostgresVNextStore) -> None:
    with pytest.raises(UnsupportedOperation, match="event-sourced"):
        vx.batch_update_spans([span(tid(), sid())])


def test_the_exporter_writes_a_row_at_start_and_one_at_end(vx: PostgresVNextStore,
                                                          observe: Any) -> None:
    exporter = DefaultExporter(max_batch_wait_ms=50)
    obs = observe(exporter, storage=vx)
    assert exporter.strategy is TracingStrategy.EVENT_SOURCED
    tracer = obs.get_default_instance()
    root = tracer.start_span("agent", type=SpanType.AGENT_RUN, input={"q": 1})
    child = root.child("tool", type=SpanType.TOOL_CALL)
    child.update(output={"partial": True})
    assert obs.flush(10)
    running = vx.get_trace(root.trace_id)
    assert running is not None and [s.status for s in running.spans] == ["running", "running"]
    assert vx.list_traces(TracesFilter(status="running")).total == 1
    child.end(output={"ok": True})
    root.event("checked", output={"ok": True})
    root.end()
    obs.shutdown()
    trace = vx.get_trace(root.trace_id)
    assert trace is not None
    assert [(s.name, s.status) for s in trace.spans] == [
        ("agent", "success"), ("tool", "success"), ("checked", "success")]
    assert trace.spans[1].output == {"ok": True}
    pending = [r["isPending"] for r in events(vx, root.trace_id)]
    assert sorted(pending) == [False, False, False, True, True]  # 2 starts, 2 ends, 1 event
    assert exporter.drops.total == 0


# ---------------------------------------------------------------------------- retention

def test_prune_drops_whole_day_partitions(vx: PostgresVNextStore) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old, recent = tid(), tid()
    days_ago = [now - timedelta(days=d) for d in (12, 11)]
    old_root = span(old, sid(), name="old")
    old_root.started_at, old_root.ended_at = days_ago[0], days_ago[1]  # ran over a day
    old_child = span(old, sid(), parent=old_root.span_id)
    old_child.started_at, old_child.ended_at = days_ago[0], days_ago[0] + timedelta(seconds=1)
    new_root = span(recent, sid(), name="recent")
    new_root.started_at, new_root.ended_at = now - timedelta(hours=1), now
    vx.batch_create_spans([old_root.copy(ended_at=None), old_root, old_child, new_root])
    vx.batch_create_logs([LogRecord(timestamp=days_ago[0], level="info", message="old",
                                    trace_id=old, log_id="l-old")])
    # feedback given later (after the cutoff) on the old trace goes with the trace
    vx.batch_create_feedback([FeedbackRecord(timestamp=now, feedback_type="thumbs",
                                             feedback_source="user", value_string="up",
                                             trace_id=old, feedback_id="f-old")])
    counts = vx.prune(now - timedelta(days=5))
    assert counts["spans"] == 3 and counts["logs"] == 1 and counts["feedback"] == 1
    assert vx.get_trace(old) is None and vx.get_trace(recent) is not None
    parts = {r["relname"] for r in raw(
        vx, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:r AS regclass)", r=f'"{vx.schema}".{SPAN_EVENTS}')}
    for day in days_ago:
        assert f"mastra_span_events_p{day:%Y%m%d}" not in parts  # dropped, not emptied
    assert f"mastra_span_events_p{now:%Y%m%d}" in parts
    assert vx.prune(now - timedelta(days=5)) == dict.fromkeys(counts, 0)


# ---------------------------------------------------------------------------- backfill

def classic_workload(store: PostgresStore) -> dict[str, SpanRecord]:
    """Classic spans: finished, failed, running, an event, awkward tags, an old day."""
    spans: dict[str, SpanRecord] = {}
    for n in range(5):
        t = tid()
        root = full_span(t, sid()) if n == 0 else span(t, sid(), start=n, end=n + 1,
                                                         name=f"root-{n}")
        child = span(t, sid(), parent=root.span_id, start=n + 0.5, end=n + 0.7,
                     tags=[" x", "x", 1], error={"message": "boom"} if n == 1 else None)
        spans[f"root-{n}"], spans[f"child-{n}"] = root, child
    t = tid()
    spans["running"] = span(t, sid(), start=10, end=None, name="running")
    spans["event"] = span(t, sid(), parent=spans["running"].span_id, start=10.5, end=None,
                          is_event=True)
    t = tid()
    old = span(t, sid(), name="old")
    old.started_at, old.ended_at = datetime(2021, 3, 1, tzinfo=UTC), datetime(2021, 3, 2,
                                                                               tzinfo=UTC)
    spans["old"] = old
    store.batch_create_spans(list(spans.values()))
    return spans


def as_vnext(rec: SpanRecord) -> SpanRecord:
    """What the v-next store reads back for a classic span."""
    tags = rec.tags
    if isinstance(tags, list):
        tags = list(dict.fromkeys(t.strip() for t in tags if isinstance(t, str))) or None
    ended = rec.started_at if rec.is_event else rec.ended_at
    return replace(rec, tags=tags, ended_at=ended, created_at=rec.started_at,
                   updated_at=None)


@pytest.fixture
def classic(vx: PostgresVNextStore) -> Iterator[PostgresStore]:
    """A classic store in the same schema as ``vx``."""
    store = PostgresStore(vx.engine.url, schema=vx.schema, auto_migrate=True)
    store.init()
    yield store
    store.close()


def test_backfill_dry_run_then_copy_then_again(classic: PostgresStore,
                                               vx: PostgresVNextStore) -> None:
    spans = classic_workload(classic)
    before = {k: classic.get_span(r.trace_id, r.span_id) for k, r in spans.items()}
    dry = backfill_vnext(classic, dry_run=True)
    assert isinstance(dry, BackfillReport) and dry.dry_run
    assert dry.to_copy == dry.source_spans == 13 and dry.missing_spans == 13
    assert not dry.complete and "would read 13 span(s)" in str(dry)
    assert raw(vx, "SELECT count(*) AS n FROM S.mastra_span_events")[0]["n"] == 0
    assert PROGRESS_TABLE not in {r["tablename"] for r in raw(
        vx, "SELECT tablename FROM pg_tables WHERE schemaname = :s", s=vx.schema)}

    seen: list[Any] = []
    report = backfill_vnext(classic, progress=seen.append, batch_size=5)
    assert report.complete and report.copied_spans == report.to_copy == 13
    assert [(p.spans_done, p.spans_total, p.batches) for p in seen] == [
        (5, 13, 1), (10, 13, 2), (13, 13, 3)]
    assert "copied 13 span(s)" in str(report) and "every span is in" in str(report)
    for key, want in before.items():
        assert want is not None
        got = vx.get_span(want.trace_id, want.span_id)
        assert got == as_vnext(want), key
    running = vx.get_span(spans["running"].trace_id, spans["running"].span_id)
    assert running is not None and running.status == "running"
    assert vx.list_traces(per_page=100).total == 7
    assert vx.list_traces(TracesFilter(has_child_error=True)).total == 1

    again = backfill_vnext(classic)  # idempotent: read what changed lately, write nothing
    assert again.complete and again.copied_spans == 0 and again.since is not None
    assert raw(vx, "SELECT count(*) AS n FROM S.mastra_span_events")[0]["n"] == 13

    # the running span ends in the classic store: the next run adds its end row
    root = classic.get_span(spans["running"].trace_id, spans["running"].span_id)
    assert root is not None
    classic.batch_update_spans([replace(root, ended_at=at(20))])
    third = backfill_vnext(classic.engine, schema=classic.schema)
    assert third.copied_spans == 1 and third.complete
    ended = vx.get_span(root.trace_id, root.span_id)
    assert ended is not None and ended.ended_at == at(20)
    assert vx.list_traces(TracesFilter(status="running")).total == 0


def test_backfill_resumes_where_it_stopped(classic: PostgresStore,
                                           vx: PostgresVNextStore) -> None:
    classic_workload(classic)

    def stop_after_two_batches(progress: Any) -> None:
        if progress.batches == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_vnext(classic, progress=stop_after_two_batches, batch_size=4)
    assert raw(vx, "SELECT count(*) AS n FROM S.mastra_span_events")[0]["n"] == 8
    report = backfill_vnext(classic, batch_size=4)
    assert report.resumed and report.to_copy == 5 and report.copied_spans == 5
    assert report.complete and "resumed" in str(report)


def test_backfill_reports_spans_it_could_not_see(classic: PostgresStore,
                                                 vx: PostgresVNextStore) -> None:
    """A classic span written behind the copy's position (a classic writer still running)
    is missing at the end: the report says so, and the next run copies it."""
    classic_workload(classic)

    def write_behind(progress: Any) -> None:
        if progress.batches == 1:
            classic.batch_create_spans([span("0" * 32, "late-span")])

    report = backfill_vnext(classic, progress=write_behind, batch_size=100)
    assert not report.complete and report.missing_spans == 1
    assert "1 span(s) missing from mastra_span_events" in str(report)
    assert backfill_vnext(classic).complete


def test_backfill_without_a_classic_table_does_nothing(vx: PostgresVNextStore) -> None:
    report = backfill_vnext(vx)
    assert report.source_spans == 0 and report.complete and report.to_copy == 0
    with pytest.raises(TypeError, match="PostgresStore, a SQLAlchemy engine"):
        backfill_vnext(42)
    with pytest.raises(ValueError, match="batch_size"):
        backfill_vnext(vx, batch_size=0)


# ---------------------------------------------------------------------------- the CLI

def test_cli_migrate_to_vnext_with_backfill(classic: PostgresStore,
                                            vx: PostgresVNextStore) -> None:
    spans = classic_workload(classic)
    url = classic.engine.url.render_as_string(hide_password=False)
    dry = invoke("migrate", url, "--schema", classic.schema or "", "--to", "vnext",
                 "--backfill", "--dry-run")
    assert dry.exit_code == 1, dry.output  # spans still to copy
    assert "would read 13 span(s)" in dry.stdout
    done = invoke("migrate", f"{url}?layout=vnext", "--schema", classic.schema or "",
                  "--backfill")
    assert done.exit_code == 0, done.output
    assert "the v-next layout is complete" in done.stdout
    assert "copied 13 span(s)" in done.stdout and "every span is in" in done.stdout
    got = vx.get_span(spans["root-0"].trace_id, spans["root-0"].span_id)
    assert got is not None and got.name == spans["root-0"].name


def test_cli_migrate_to_vnext_creates_the_layout(db: str) -> None:
    first = invoke("migrate", db, "--to", "vnext", "--dry-run")
    assert first.exit_code == 0, first.output
    assert "would: create 6 table(s)" in first.stdout
    made = invoke("migrate", db, "--to", "VNEXT")
    assert made.exit_code == 0, made.output
    assert "did: create 6 table(s)" in made.stdout and "[postgres-vnext]" in made.stdout
    again = invoke("migrate", f"{db}?layout=vnext")
    assert again.exit_code == 0 and "nothing to do (no-op)" in again.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--to", "v2"), "--to must be one of classic, vnext"),
    (("--dry-run",), "--dry-run goes with --to vnext"),
    (("--to", "classic", "--dry-run"), "--dry-run goes with --to vnext"),
])
def test_cli_migrate_option_misuse(db: str, args: tuple[str, ...], message: str) -> None:
    result = invoke("migrate", db, *args)
    assert result.exit_code == 2 and message in result.output


def test_cli_migrate_vnext_elsewhere_is_a_usage_error(tmp_path: Any, db: str) -> None:
    sqlite = invoke("migrate", f"sqlite:///{tmp_path / 'x.db'}", "--to", "vnext")
    assert sqlite.exit_code == 2 and "PostgreSQL and ClickHouse" in sqlite.output
    both = invoke("migrate", f"{db}?layout=vnext", "--to", "classic")
    assert both.exit_code == 2 and "contradicts" in both.output


def test_cli_report_exit_code_follows_the_count_check() -> None:
    from mastra_storage.cli.migrate import _report
    from mastra_storage.cli.render import console

    incomplete = BackfillReport(False, to_copy=3, copied_spans=3, source_spans=4,
                                missing_spans=1)
    with pytest.raises(Exception) as caught:
        _report(console(), incomplete, dry_run=False)
    assert "1 span(s) of mastra_ai_spans are not in mastra_span_events" in str(caught.value)
    _report(console(), BackfillReport(False, source_spans=4), dry_run=False)  # complete
