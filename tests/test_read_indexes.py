"""Fast trace reads: migration 0003's read indexes, the page-first totals, the JSON
prefilter, and ``mastra-storage bench --read``.

Behaviour only (no timings): the indexes exist exactly as declared and go away again,
SQLite's planner answers each trace-list filter from them (EXPLAIN QUERY PLAN), every
backend's totals equal the in-memory store's at and around page boundaries, and JSON
filters still find rows whose JSON the prefilter can't read literally (escapes,
whitespace, JSONB).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from mastra_storage.cli.main import app
from mastra_storage.model.spans import COLUMNS
from mastra_storage.storage import InMemoryStore, TracesFilter, TracesOrderBy
from mastra_storage.storage.sql import root_metadata
from mastra_storage.storage.sql.migrate import current_revision, downgrade, upgrade
from mastra_storage.storage.sql.read_indexes import (
    all_read_indexes,
    spans_context_indexes,
    spans_read_indexes,
)
from mastra_storage.storage.sql.sqlite import SQLiteStore
from tests.backends import Provider

from .factories import at, sid, span, tid
from .test_sqlite_contract import catalogue, contract_sql, new_sqlite

HEAD = "0005"
SQLITE_INDEXES = {name for name, _ in all_read_indexes("sqlite")}


# ----------------------------------------------------------------------- the migration

def _contract_file(path: Path) -> None:
    conn = sqlite3.connect(str(path))
    conn.executescript(contract_sql())
    conn.close()


def test_sqlite_read_indexes_up_and_down(tmp_path: Path) -> None:
    theirs = tmp_path / "mastra.db"
    _contract_file(theirs)
    path = tmp_path / "ours.db"
    store = SQLiteStore(path)
    store.init()
    trace = tid()
    store.batch_create_spans([span(trace, "root", user_id="u"),
                              span(trace, "kid", parent="root", error={"message": "x"})])
    cols, idx = catalogue(path)
    assert {ix[0] for ix in idx} >= SQLITE_INDEXES
    assert all(ix[3] is not None for ix in idx if ix[0] in SQLITE_INDEXES)  # all partial
    downgrade(store.engine, "0002")
    assert current_revision(store.engine) == "0002"
    assert catalogue(path) == catalogue(theirs)  # exactly Mastra's table again
    assert store.list_traces(TracesFilter(has_child_error=True)).total == 1  # still right
    upgrade(store.engine)
    assert current_revision(store.engine) == HEAD
    assert catalogue(path) == (cols, idx)
    assert store.list_traces(TracesFilter(user_id="u", has_child_error=True)).total == 1
    store.close()


def test_sqlite_context_indexes_up_and_down(tmp_path: Path) -> None:
    """Migration 0004 only adds SQLite's context-id indexes: down to 0003 they are gone,
    the same lists come back, and up again they are back."""
    path = tmp_path / "ours.db"
    store = SQLiteStore(path)
    store.init()
    rows = []
    for n in range(12):
        t = tid()
        rows += [span(t, f"r{n}", start=n, user_id=f"u{n % 3}", thread_id=f"t{n % 4}",
                      run_id=f"run{n}"),
                 span(t, f"c{n}", parent=f"r{n}", start=n, user_id=f"u{n % 3}")]
    store.batch_create_spans(rows)
    filters = [TracesFilter(user_id="u1"), TracesFilter(thread_id="t2"),
               TracesFilter(run_id="run5"), TracesFilter(user_id="nobody")]

    def lists() -> list[tuple[int, list[str]]]:
        out = []
        for flt in filters:
            for page in range(3):
                got = store.list_traces(flt, page, 2)
                out.append((got.total, [s.span_id for s in got.spans]))
        return out

    context = {name for name, _ in spans_context_indexes("sqlite")}
    assert len(context) == 7 and context <= {ix[0] for ix in catalogue(path)[1]}
    with_them = lists()
    downgrade(store.engine, "0003")
    assert not context & {ix[0] for ix in catalogue(path)[1]}
    assert {ix[0] for ix in catalogue(path)[1]} >= {
        name for name, _ in spans_read_indexes("sqlite")}
    assert lists() == with_them
    upgrade(store.engine)
    assert current_revision(store.engine) == HEAD
    assert context <= {ix[0] for ix in catalogue(path)[1]}
    assert lists() == with_them
    store.close()


def test_sqlite_migration_adopts_a_file_with_an_index_made_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "ours.db"
    _contract_file(path)
    name, ddl = spans_read_indexes("sqlite")[1]
    assert name == "mastra_storage_roots_filter_idx"
    conn = sqlite3.connect(str(path))
    conn.execute(ddl)  # e.g. created beforehand; IF NOT EXISTS keeps it
    conn.close()
    store = SQLiteStore(path)
    store.init()
    assert current_revision(store.engine) == HEAD
    assert {ix[0] for ix in catalogue(path)[1]} >= SQLITE_INDEXES
    store.close()


def test_postgres_read_indexes_up_and_down(pg: Provider, db: str) -> None:
    from mastra_storage.storage.sql.postgres import PostgresStore, make_engine

    from .test_postgres_schema import catalogue as pg_catalogue
    from .test_postgres_schema import mastras

    engine = make_engine(db)
    try:
        upgrade(engine, schema="ri")
        full = pg_catalogue(db, "ri")
        theirs = mastras(full, "ri")
        store = PostgresStore(db, schema="ri")
        trace = tid()
        store.batch_create_spans([span(trace, "root", thread_id="t-1"),
                                  span(trace, "kid", parent="root", error={"m": 1})])
        downgrade(engine, "0002", schema="ri")
        assert current_revision(engine, "ri") == "0002"
        assert pg_catalogue(db, "ri") == theirs  # the contract's table again
        assert store.list_traces(TracesFilter(thread_id="t-1")).total == 1
        upgrade(engine, schema="ri")
        assert pg_catalogue(db, "ri") == full
        assert store.list_traces(TracesFilter(thread_id="t-1", has_child_error=True)).total == 1
        store.close()
    finally:
        engine.dispose()


def test_offline_sql_carries_the_read_indexes() -> None:
    from mastra_storage.storage.sql.migrate import offline_sql

    script = offline_sql("postgresql://u@h/db", schema="obs")
    for name, _ in spans_read_indexes("postgresql", "obs"):
        assert f'CREATE INDEX IF NOT EXISTS "{name}" ON "obs".mastra_ai_spans' in script
    assert "CONCURRENTLY" not in script  # a transaction can't; docs/sql-servers.md says how


# ----------------------------------------------------------------------- SQLite's plans

def _plans(store: SQLiteStore, flt: TracesFilter, page: int = 0, per_page: int = 5
           ) -> list[str]:
    """EXPLAIN QUERY PLAN of every statement ``list_traces(flt)`` runs, as one string
    per statement."""
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(store.engine, "before_cursor_execute", grab)
    try:
        store.list_traces(flt, page, per_page)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", grab)
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        return [" | ".join(r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + s, p))
                for s, p in seen]


@pytest.fixture
def listed(tmp_path: Path) -> SQLiteStore:
    """A store whose first pages are full (so that every list also counts)."""
    store = SQLiteStore(tmp_path / "plans.db")
    store.init()
    rows = []
    for n in range(20):  # 10 failed, 5 running, 5 succeeded: every status fills a page of 5
        t = tid()
        rows += [span(t, f"r{n}", start=n, end=None if n % 4 == 0 else n + 1, user_id="u",
                      thread_id="th", entity_name="a", metadata={"tier": "pro"}, tags=["x"],
                      error={"m": 1} if n % 2 else None),
                 span(t, f"c{n}", parent=f"r{n}", start=n, error={"m": 2})]
    store.batch_create_spans(rows)
    return store


@pytest.mark.parametrize(("flt", "index"), [
    (TracesFilter(), "COVERING INDEX mastra_storage_roots_"),
    (TracesFilter(status="error"), "mastra_storage_roots_status_idx (<expr>=?)"),
    (TracesFilter(status="success"), "mastra_storage_roots_status_idx (<expr>=?)"),
    (TracesFilter(status="running"), "mastra_storage_roots_status_idx (<expr>=?)"),
    (TracesFilter(user_id="u"), "COVERING INDEX mastra_storage_roots_userid_idx (userId=?)"),
    (TracesFilter(thread_id="th"),
     "COVERING INDEX mastra_storage_roots_threadid_idx (threadId=?)"),
    (TracesFilter(entity_name="a"), "COVERING INDEX mastra_storage_roots_filter_idx"),
    (TracesFilter(span_type="generic"), "COVERING INDEX mastra_storage_roots_filter_idx"),
    (TracesFilter(tags=["x"]), "COVERING INDEX mastra_storage_roots_json_idx"),
    (TracesFilter(started_from=at(3), started_to=at(9)),
     "COVERING INDEX mastra_storage_roots_json_idx (startedAt>? AND startedAt<?)"),
    (TracesFilter(has_child_error=True), "mastra_storage_errors_idx (traceId=?)"),
])
def test_sqlite_answers_each_filter_from_a_read_index(listed: SQLiteStore, flt: TracesFilter,
                                                      index: str) -> None:
    plans = _plans(listed, flt)
    assert len(plans) == 2, plans  # the page, then the count: the page was full
    for plan in plans:
        assert index in plan, plan
        # no statement reads the table row by row: only the page's rows, by rowid
        assert "SCAN mastra_ai_spans" not in plan.replace("SCAN mastra_ai_spans USING", ""), plan
    assert "SEARCH page_row USING INTEGER PRIMARY KEY (rowid=?)" in plans[0]


def test_sqlite_metadata_filter_counts_first_in_its_index(listed: SQLiteStore) -> None:
    """Migration 0005: the count, with the matching row ids, from the metadata index; the
    page then from those ids (few) or in the list's order from the JSON index (many)."""
    flt = TracesFilter(metadata={"tier": "pro"})
    plans = [p for p in _plans(listed, flt) if "sqlite_master" not in p]
    assert len(plans) == 2, plans
    assert "COVERING INDEX mastra_storage_roots_metadata_idx (metadata>?)" in plans[0]
    assert "SEARCH page_row USING INTEGER PRIMARY KEY (rowid=?)" in plans[1]
    assert "SCAN ids VIRTUAL TABLE" in plans[1] and "SCAN mastra_ai_spans" not in plans[1]
    listed.dialect.count_first_ids = 5  # 20 match: more than that many
    plans = [p for p in _plans(listed, flt) if "sqlite_master" not in p]
    assert "COVERING INDEX mastra_storage_roots_metadata_idx (metadata>?)" in plans[0]
    assert "COVERING INDEX mastra_storage_roots_json_idx" in plans[1]


@pytest.mark.parametrize("flt", [
    TracesFilter(metadata={"tier": "pro"}),
    TracesFilter(metadata={"tier": "pro"}, started_from=at(1), started_to=at(30)),
])
def test_sqlite_answers_a_metadata_key_from_its_side_table(listed: SQLiteStore,
                                                          flt: TracesFilter) -> None:
    root_metadata.install(listed.engine)  # optional: see root_metadata.py
    plans = _plans(listed, flt)
    side = [p for p in plans if "mastra_storage_root_metadata" in p]
    assert len(side) == 2, plans  # the page's ids, then the count: the page was full
    for plan in side:
        assert ("SEARCH mastra_storage_root_metadata USING COVERING INDEX "
                "mastra_storage_root_metadata_value_idx (key=? AND kind=? AND atom=?") in plan
    rows = [p for p in plans if "mastra_ai_spans" in p]
    assert len(rows) == 1, plans  # then the page's rows, each found by its key
    assert "SEARCH mastra_ai_spans USING INDEX" in rows[0], rows
    assert "SCAN mastra_ai_spans" not in rows[0], rows


def test_sqlite_a_page_that_is_not_full_is_not_counted(listed: SQLiteStore) -> None:
    assert len(_plans(listed, TracesFilter(user_id="nobody"))) == 1  # nothing: page 0 empty
    assert len(_plans(listed, TracesFilter(status="running"), 1, 3)) == 1  # 2 of 3: the end
    assert len(_plans(listed, TracesFilter(status="running"), 2, 3)) == 2  # past it: count


# ----------------------------------------------------------------------- every backend

@pytest.mark.needs("running-spans")
def test_totals_and_pages_equal_the_reference_at_every_boundary(store: Any) -> None:
    ref = InMemoryStore()
    roots, children = [], []
    for n in range(23):
        t = tid()
        root = span(t, sid(), start=n, end=None if n % 7 == 0 else n + 0.5,
                    user_id="u" if n < 10 else "v", error={"m": n} if n % 5 == 0 else None,
                    metadata={"n": n % 3})
        roots.append(root)
        children.append(span(t, sid(), parent=root.span_id, start=n + 0.1,
                             error={"m": 1} if n % 4 == 0 else None))
    for target in (store, ref):
        target.batch_create_spans(roots + children)
    filters = [TracesFilter(), TracesFilter(user_id="u"), TracesFilter(user_id="nobody"),
               TracesFilter(status="error"), TracesFilter(status="running"),
               TracesFilter(metadata={"n": 1}), TracesFilter(has_child_error=False)]
    for flt in filters:
        for per_page in (1, 4, 5, 10, 23, 25):
            for page in range(0, 25 // per_page + 2):
                want = ref.list_traces(flt, page, per_page)
                got = store.list_traces(flt, page, per_page)
                key = (flt, page, per_page)
                assert got.total == want.total, key
                assert got.has_more == want.has_more, key
                assert [s.trace_id for s in got.spans] == [s.trace_id for s in want.spans], key
    asc = TracesOrderBy("endedAt", "ASC")
    for page in range(4):
        want = ref.list_traces(TracesFilter(), page, 7, asc)
        got = store.list_traces(TracesFilter(), page, 7, asc)
        assert (got.total, [s.trace_id for s in got.spans]) == (
            want.total, [s.trace_id for s in want.spans])


# ----------------------------------------------------------------------- JSON prefilter

def _raw_rows(path: Path, rows: list[dict[str, Any]], jsonb: bool = False) -> None:
    """Insert rows as another writer would: JSON text exactly as given, or JSONB."""
    conn = (new_sqlite() if jsonb else sqlite3).connect(str(path))
    for row in rows:
        full: dict[str, Any] = {c.name: None for c in COLUMNS}
        full.update(isEvent=0, startedAt="2026-11-20T10:00:00.000Z", createdAt=
                    "2026-11-20T10:00:00.000Z", name="raw", spanType="agent_run", **row)
        names = list(full)
        marks = ["jsonb(?)" if jsonb and n in ("metadata", "tags", "scope") and full[n]
                 else "?" for n in names]
        cols = ", ".join(f'"{n}"' for n in names)
        conn.execute(f"INSERT INTO mastra_ai_spans ({cols}) VALUES ({', '.join(marks)})",
                     [full[n] for n in names])
    conn.commit()
    conn.close()


@pytest.mark.parametrize("jsonb", [False, True])
def test_sqlite_json_filters_find_rows_the_prefilter_cannot_read(tmp_path: Path,
                                                                 jsonb: bool) -> None:
    path = tmp_path / "json.db"
    SQLiteStore(path).init()
    texts = {
        "plain": ('{"tier":"pro","n":1}', '["x"]'),
        "spaced": ('{ "tier" : "pro" , "n" : 1.0 }', '[ "x" ]'),
        "escaped": ('{"ti\\u0065r":"pr\\u006f","n":1}', '["\\u0078"]'),
        "slash": ('{"tier":"pro","path":"a\\/b","n":1}', '["x"]'),
        "quote": ('{"tier":"pro","q":"say \\"hi\\"","n":1}', '["x"]'),
        "decoy": ('{"tierx":"pro","nested":{"tier":"pro"},"n":2}', '["xx"]'),
    }
    _raw_rows(path, [{"traceId": tid(), "spanId": name, "metadata": m, "tags": t}
                     for name, (m, t) in texts.items()], jsonb=jsonb)
    store = SQLiteStore(path)
    found = {
        "tier": {s.span_id for s in store.list_traces(
            TracesFilter(metadata={"tier": "pro"}), 0, 100).spans},
        "n": {s.span_id for s in store.list_traces(
            TracesFilter(metadata={"n": 1}), 0, 100).spans},
        "tag": {s.span_id for s in store.list_traces(TracesFilter(tags=["x"]), 0, 100).spans},
    }
    everything = set(texts) - {"decoy"}
    assert found == {"tier": everything, "n": everything, "tag": everything}
    # a value that needs escaping is found through its escapes
    trace = tid()
    store.batch_create_spans([span(trace, "q", metadata={'k"ey': 'va"l\\ue'},
                                   tags=['t"ag'])])
    assert store.list_traces(TracesFilter(metadata={'k"ey': 'va"l\\ue'})).total == 1
    assert store.list_traces(TracesFilter(tags=['t"ag'])).total == 1
    store.close()


def test_clickhouse_json_filter_finds_escaped_text(backend: Provider) -> None:
    if backend.name != "clickhouse":
        pytest.skip("ClickHouse only")
    store = backend.make_store()
    try:
        plain, escaped = tid(), tid()
        store.batch_create_spans([span(plain, "p", metadata={"tier": "pro"})])
        # a row another writer wrote, its JSON with escapes and spaces
        row = {"traceId": escaped, "spanId": "e", "name": "raw", "spanType": "agent_run",
               "isEvent": False, "startedAt": "2026-11-01 12:00:00.000",
               "createdAt": "2026-11-01 12:00:00.000", "updatedAt": "2026-11-01 12:00:00.000",
               "metadata": '{"ti\\u0065r" : "pr\\u006f"}'}
        store.client.command(f"INSERT INTO {store.schema.spans} ({', '.join(row)}) "
                             f"FORMAT JSONEachRow {json.dumps(row)}")
        raw = store.query_rows(f"SELECT metadata FROM {store.schema.spans} FINAL "
                               "WHERE traceId = {t:String}", {"t": escaped})[0][0]
        assert "\\u0065" in raw and json.loads(raw) == {"tier": "pro"}
        got = store.list_traces(TracesFilter(metadata={"tier": "pro"}))
        assert {s.trace_id for s in got.spans} == {plain, escaped}
        assert store.list_traces(TracesFilter(metadata={"tier": "pr"})).total == 0
    finally:
        store.close()


# ----------------------------------------------------------------------- bench --read

def test_bench_read_reports_every_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    args = ["bench", "--read", "--spans", "305", "--repeat", "2", "--store", url, "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "read" and report["spans"] == 305
    assert not report["fill"]["reused"]
    reads = report["reads"]
    for name in ("list_traces unfiltered", "list_traces status=error",
                 "list_traces status=success", "list_traces status=running",
                 "list_traces user_id", "list_traces thread_id",
                 "list_traces metadata tier=pro", "list_traces started in last 24 h",
                 "list_traces page 50", "get_trace", "get_trace_light",
                 "traces/query (server)", "query_traces (store)"):
        assert name in reads, name
        assert 0 < reads[name]["p50_ms"] <= reads[name]["p95_ms"] <= reads[name]["max_ms"]
    assert reads["list_traces unfiltered"]["total"] == 31  # traces of 10 spans, one of 5
    statuses = sum(reads[f"list_traces status={s}"]["total"]
                   for s in ("error", "success", "running"))
    assert statuses == 31
    assert reads["traces/query (server)"]["rows"] == reads["query_traces (store)"]["rows"]
    again = CliRunner().invoke(app, [*args[:-1]])
    assert again.exit_code == 0, again.output
    assert "reused" in again.stdout and "list_traces thread_id" in again.stdout
    wrong = CliRunner().invoke(app, ["bench", "--read", "--spans", "10", "--store", url])
    assert wrong.exit_code == 2 and "not 10" in wrong.output


def test_generated_traces_are_whole_and_in_time_order() -> None:
    from mastra_storage.bench.reads import generate

    spans = list(generate(95, spans_per_trace=10))
    assert len(spans) == 95
    roots = [s for s in spans if s.parent_span_id is None]
    assert len(roots) == 10
    assert [r.started_at for r in roots] == sorted(r.started_at for r in roots)
    assert max(r.started_at for r in roots) - min(r.started_at for r in roots) <= timedelta(7)
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in spans if s.parent_span_id is not None)


def test_sqlite_reads_through_a_memory_map(tmp_path: Path) -> None:
    """The store's file connections read through a memory map (``mmap_size``, see
    sqlite.py's MMAP_SIZE) unless told 0; the lists are the same either way."""
    from mastra_storage.storage.sql.sqlite import MMAP_SIZE

    mapped = SQLiteStore(tmp_path / "m.db")
    mapped.init()
    trace = tid()
    mapped.batch_create_spans([span(trace, "root", user_id="u", metadata={"tier": "pro"}),
                               span(trace, "kid", parent="root", error={"m": 1})])
    plain = SQLiteStore(tmp_path / "m.db", mmap_size=0)
    plain.init()
    with mapped.engine.connect() as conn:
        granted = conn.exec_driver_sql("PRAGMA mmap_size").scalar_one()
    with plain.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar_one() == 0
    assert 0 < granted <= MMAP_SIZE  # SQLite cuts it to its compile-time ceiling
    for flt in (TracesFilter(), TracesFilter(metadata={"tier": "pro"}),
                TracesFilter(user_id="u"), TracesFilter(has_child_error=True)):
        a, b = mapped.list_traces(flt), plain.list_traces(flt)
        assert (a.total, [s.span_id for s in a.spans]) == (b.total, [s.span_id for s in b.spans])
        assert a.total == 1
    mapped.close()
    plain.close()
