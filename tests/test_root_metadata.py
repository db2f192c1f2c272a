"""The optional index of the roots' metadata (SQLite, PostgreSQL): a one-key metadata
filter answered from it gives what the in-memory store gives, whoever wrote the rows and
however they changed; where it can't answer, or it isn't installed, the general filter
does."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mastra_storage.storage import InMemoryStore, TracesFilter, TracesOrderBy
from mastra_storage.storage.sql import root_metadata
from mastra_storage.storage.sql.dialects.sqlite import SQLiteDialect
from mastra_storage.storage.sql.sqlite import SQLiteStore

from .factories import at, span, tid
from .test_sqlite_contract import new_sqlite

LONG = "L" * (root_metadata.ATOM_CHARS + 1)
# One root per metadata object; filters below look for each kind of value.
METADATA: list[Any] = [
    {"tier": "pro", "n": 1, "ok": True},
    {"tier": "free", "n": 1.0, "ok": False},
    {"tier": "pro", "n": 2.5, "nothing": None},
    {"tier": 'quote " and \\ back', "n": -3, "ok": True},
    {"tier": "ünïcode ✓", "nested": {"a": 1}, "list": [1, 2]},
    {"tier": LONG, "n": 10**15},
    {"other": "pro"},
    {},
    None,
]
FILTERS: list[dict[str, Any]] = [
    {"tier": "pro"}, {"tier": "free"}, {"tier": 'quote " and \\ back'},
    {"tier": "ünïcode ✓"}, {"tier": LONG}, {"tier": "absent"}, {"n": 1}, {"n": 1.0},
    {"n": 2.5}, {"n": -3}, {"n": 10**15}, {"ok": True}, {"ok": False}, {"nothing": None},
    {"nested": {"a": 1}}, {"list": [1, 2]}, {"other": "pro"}, {"pro": "tier"},
]


def _fill(*stores: Any) -> list[str]:
    traces = []
    for n, metadata in enumerate(METADATA):
        t = tid()
        traces.append(t)
        rows = [span(t, "root", start=n, end=n + 1, metadata=metadata),
                span(t, "kid", parent="root", start=n, metadata={"tier": "pro"})]
        for store in stores:
            store.batch_create_spans(rows)
    return traces


def _listed(store: Any, flt: TracesFilter, page: int = 0, per_page: int = 3,
            order: str = "DESC") -> tuple[list[str], int]:
    got = store.list_traces(flt, page, per_page, TracesOrderBy("startedAt", order))  # type: ignore[arg-type]
    return [s.trace_id for s in got.spans], got.total


@pytest.fixture
def pair(tmp_path: Path) -> tuple[SQLiteStore, InMemoryStore]:
    store = SQLiteStore(tmp_path / "meta.db", metadata_index=True)
    store.init()
    return store, InMemoryStore()


@pytest.fixture(params=["sqlite", "postgres"])
def indexed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A store of either SQL backend with the metadata index installed."""
    if request.param == "sqlite":
        store: Any = SQLiteStore(tmp_path / "meta.db", metadata_index=True)
        store.init()
        yield store
        store.close()
        return
    from mastra_storage.storage.sql.postgres import PostgresStore

    from .test_interop_mastra import _drop_pg_schema

    url = request.getfixturevalue("pg").url
    schema = f"meta_{uuid.uuid4().hex[:10]}"
    store = PostgresStore.from_url(url, schema=schema, auto_migrate=True,
                                   metadata_index=True)
    store.init()
    try:
        yield store
    finally:
        store.close()
        _drop_pg_schema(url, schema)


def _answered_by_side_table(store: Any, flt: TracesFilter) -> bool:
    with store.engine.connect() as conn:
        return (root_metadata.answers(flt, TracesOrderBy())
                and root_metadata.roots_page(conn, flt, _page(), TracesOrderBy(),
                                             store.dialect.encode_timestamp,
                                             store.schema) is not None)


def _page() -> Any:
    from mastra_storage.storage.queries import Pagination
    return Pagination(0, 3)


def test_same_answers_as_the_in_memory_store(indexed: Any) -> None:
    memory = InMemoryStore()
    _fill(indexed, memory)
    for metadata in FILTERS:
        for flt in (TracesFilter(metadata=metadata),
                    TracesFilter(metadata=metadata, started_from=at(2), started_to=at(6))):
            for order in ("DESC", "ASC"):
                for page in (0, 1, 2):
                    assert _listed(indexed, flt, page, order=order) == _listed(
                        memory, flt, page, order=order), (metadata, flt, order, page)


def test_scalar_one_key_filters_are_the_side_tables(indexed: Any) -> None:
    sql = indexed
    _fill(sql)
    answered = {json.dumps(m): _answered_by_side_table(sql, TracesFilter(metadata=m))
                for m in FILTERS}
    # A container, or text longer than the side table keeps, takes the general filter.
    general = {json.dumps(m) for m in ({"tier": LONG}, {"nested": {"a": 1}},
                                       {"list": [1, 2]})}
    assert {k for k, v in answered.items() if not v} == general
    assert not root_metadata.answers(TracesFilter(metadata={"tier": "pro"}, user_id="u"),
                                     TracesOrderBy())
    assert not root_metadata.answers(TracesFilter(metadata={"tier": "pro", "n": 1}),
                                     TracesOrderBy())
    assert not root_metadata.answers(TracesFilter(metadata={"tier": "pro"}),
                                     TracesOrderBy("endedAt"))


def _raw(store: SQLiteStore) -> sqlite3.Connection:
    return sqlite3.connect(store.engine.url.database or "", isolation_level=None)


def insert_jsonb_root(store: SQLiteStore, trace: str, metadata: Any, started: str) -> None:
    """A root whose ``metadata`` is JSONB, written as ``@mastra/libsql`` writes it: by a
    SQLite >= 3.45. Two SQLite libraries must not have one file open in one process at
    once, so the store's connections are closed first (it opens new ones when used)."""
    store.engine.dispose()
    newer = new_sqlite().connect(store.engine.url.database or "", isolation_level=None)
    newer.execute(
        'INSERT INTO mastra_ai_spans ("traceId", "spanId", name, "spanType", "isEvent", '
        '"startedAt", "createdAt", metadata) VALUES (?, ?, ?, ?, 0, ?, ?, jsonb(?))',
        (trace, "r", "mastra", "agent_run", started, started, json.dumps(metadata)))
    newer.close()


def _insert_root(conn: sqlite3.Connection, trace: str, metadata: Any, verb: str = "INSERT"
                 ) -> None:
    start = SQLiteDialect().encode_timestamp(at(100))  # the newest root
    conn.execute(
        f'{verb} INTO mastra_ai_spans ("traceId", "spanId", name, "spanType", "isEvent", '
        '"startedAt", "createdAt", metadata) VALUES (?, ?, ?, ?, 0, ?, ?, ?)',
        (trace, "r", "other-writer", "agent_run", start, start, metadata))


def test_rows_other_writers_change_are_kept_current(pair: tuple[SQLiteStore, InMemoryStore]
                                                     ) -> None:
    sql, _ = pair
    traces = _fill(sql)
    pro = TracesFilter(metadata={"tier": "pro"})
    before = _listed(sql, pro, per_page=20)
    conn = _raw(sql)  # another process's writes, as Mastra's store makes them: plain SQL
    _insert_root(conn, "x" * 32, '{"tier": "pro"}')
    assert _listed(sql, pro, per_page=20) == (["x" * 32, *before[0]], before[1] + 1)
    conn.execute("""UPDATE mastra_ai_spans SET metadata = '{"tier": "free"}'
                    WHERE "traceId" = ? AND "parentSpanId" IS NULL""", (traces[0],))
    conn.execute('UPDATE mastra_ai_spans SET "startedAt" = ? WHERE "traceId" = ? AND '
                 '"parentSpanId" IS NULL', ("2020-01-01T00:00:00.000Z", traces[2]))
    assert _listed(sql, TracesFilter(metadata={"tier": "pro"}, started_to=at(-1))) == (
        [traces[2]], 1)  # its new start time is the side table's too
    _insert_root(conn, "x" * 32, '{"tier": "gold"}', verb="INSERT OR REPLACE")
    assert _listed(sql, pro, per_page=20) == ([traces[2]], 1)
    conn.execute('DELETE FROM mastra_ai_spans WHERE "traceId" = ?', (traces[2],))
    assert _listed(sql, pro, per_page=20) == ([], 0)
    assert _answered_by_side_table(sql, pro)


def test_a_root_it_cannot_read_sends_lists_to_the_general_filter(
        pair: tuple[SQLiteStore, InMemoryStore]) -> None:
    sql, _ = pair
    _fill(sql)
    pro = TracesFilter(metadata={"tier": "pro"})
    total = _listed(sql, pro)[1]
    conn = _raw(sql)
    # A JSONB blob (what @mastra/libsql writes; this SQLite may not read it) and text
    # that is no JSON: neither fails the write, both are listed as unindexed. The JSONB
    # root's writer is a newer SQLite, whose own engine runs the triggers: the root is
    # listed as unindexed (this process's SQLite may not read JSONB), not refused.
    conn.close()
    insert_jsonb_root(sql, "b" * 32, {"tier": "pro"}, "2026-01-01T00:00:00.000Z")
    conn = _raw(sql)
    _insert_root(conn, "c" * 32, "not JSON")
    assert not _answered_by_side_table(sql, pro)
    assert _listed(sql, pro, per_page=20)[1] == total + 1  # the blob's root, read in Python
    conn.execute('DELETE FROM mastra_ai_spans WHERE "traceId" IN (?, ?)', ("b" * 32, "c" * 32))
    assert _answered_by_side_table(sql, pro) and _listed(sql, pro)[1] == total


def test_a_span_table_made_again_without_the_triggers(
        pair: tuple[SQLiteStore, InMemoryStore]) -> None:
    sql, _ = pair
    _fill(sql)
    pro = TracesFilter(metadata={"tier": "pro"})
    conn = _raw(sql)
    schema = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'mastra_ai_spans'"
                          ).fetchone()[0]
    conn.execute("DROP TABLE mastra_ai_spans")  # drops the triggers with it
    conn.execute(schema)
    _insert_root(conn, "y" * 32, '{"tier": "pro"}')
    assert not _answered_by_side_table(sql, pro)  # the side table is stale: not used
    assert _listed(sql, pro) == (["y" * 32], 1)


def test_installed_over_stored_roots_and_removed_again(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")  # not installed by default
    store.init()
    memory = InMemoryStore()
    _fill(store, memory)  # written while nothing maintains a side table
    pro = TracesFilter(metadata={"tier": "pro"})
    assert not _answered_by_side_table(store, pro)
    assert root_metadata.install(store.engine) is True
    assert root_metadata.install(store.engine) is False  # already there: nothing done
    with store.engine.connect() as conn:
        assert root_metadata.indexed_roots(conn) == sum(1 for m in METADATA if m)
    for m in FILTERS:
        flt = TracesFilter(metadata=m)
        assert _listed(store, flt) == _listed(memory, flt)
    assert _answered_by_side_table(store, pro)
    root_metadata.remove(store.engine)
    raw = _raw(store)
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert not names & {root_metadata.TABLE, root_metadata.UNINDEXED, *root_metadata.TRIGGERS}
    assert _listed(store, pro) == _listed(memory, pro)  # the general filter again


def test_the_cli_installs_and_removes_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mastra_storage.cli.main import app

    path = tmp_path / "cli.db"
    store = SQLiteStore(path)
    store.init()
    _fill(store)
    runner = CliRunner()
    url = f"sqlite:///{path}"
    done = runner.invoke(app, ["migrate", url, "--metadata-index"])
    assert done.exit_code == 0, done.output
    assert "metadata index: installed, 7 root spans indexed" in done.output
    again = runner.invoke(app, ["migrate", url, "--metadata-index"])
    assert "already installed" in again.output
    assert _answered_by_side_table(store, TracesFilter(metadata={"tier": "pro"}))
    gone = runner.invoke(app, ["migrate", url, "--no-metadata-index"])
    assert gone.exit_code == 0 and "removed" in gone.output
    assert not _answered_by_side_table(store, TracesFilter(metadata={"tier": "pro"}))
    wrong = runner.invoke(app, ["migrate", "chdb:///tmp/x", "--metadata-index"])
    assert wrong.exit_code != 0 and "for SQLite and PostgreSQL" in wrong.output


def test_postgres_rows_other_writers_change_are_kept_current(pg: Any) -> None:
    """Plain SQL as @mastra/pg writes it (INSERT, upserts, UPDATE, DELETE) keeps the
    PostgreSQL side table current; installing indexes the roots already there and
    removing drops the table, the function and the triggers."""
    import sqlalchemy as sa

    from mastra_storage.storage.sql.postgres import PostgresStore

    from .test_interop_mastra import _drop_pg_schema

    schema = f"meta_{uuid.uuid4().hex[:10]}"
    store = PostgresStore.from_url(pg.url, schema=schema, auto_migrate=True)
    store.init()
    try:
        root_metadata.remove(store.engine, schema)  # (migration 0005 installed it)
        traces = _fill(store)  # before the index: install indexes them
        assert root_metadata.install(store.engine, schema) is True
        pro = TracesFilter(metadata={"tier": "pro"})
        before = _listed(store, pro, per_page=20)
        assert before[1] == 2 and _answered_by_side_table(store, pro)
        t = f'"{schema}".mastra_ai_spans'
        new = "x" * 32
        with store.engine.begin() as conn:
            conn.execute(sa.text(
                f'INSERT INTO {t} ("traceId", "spanId", name, "spanType", "isEvent", '
                '"startedAt", "createdAt", "updatedAt", metadata) VALUES (:t, :s, :n, '
                "'agent_run', false, :at, :at, :at, CAST(:m AS jsonb))"),
                {"t": new, "s": "r", "n": "other-writer", "at": at(100).replace(tzinfo=None),
                 "m": '{"tier": "pro"}'})
        assert _listed(store, pro, per_page=20) == ([new, *before[0]], 3)
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"""UPDATE {t} SET metadata = '{{"tier": "free"}}'
                                     WHERE "traceId" = :t AND "parentSpanId" IS NULL"""),
                         {"t": traces[0]})
            conn.execute(sa.text(f'DELETE FROM {t} WHERE "traceId" = :t'), {"t": new})
        assert _listed(store, pro, per_page=20) == ([traces[2]], 1)
        assert _listed(store, TracesFilter(metadata={"tier": "free"}), per_page=20)[1] == 2
        # Mastra's clearTable: TRUNCATE … CASCADE, which fires no row trigger. The side
        # table is emptied with it, and lists read the spans written since.
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE TABLE {t} CASCADE"))
        assert _listed(store, pro, per_page=20) == ([], 0)
        with store.engine.connect() as conn:
            assert root_metadata.indexed_roots(conn, schema) == 0
        _fill(store)
        with_index = _listed(store, pro, per_page=20)
        assert with_index[1] == 2 and _answered_by_side_table(store, pro)
        root_metadata.remove(store.engine, schema)
        with store.engine.connect() as conn:
            assert not root_metadata.installed(conn, schema)
            assert conn.execute(sa.text("SELECT to_regclass(:n)"),
                                {"n": f'"{schema}".{root_metadata.TABLE}'}).scalar() is None
        assert _listed(store, pro, per_page=20) == with_index  # the general filter
    finally:
        store.close()
        _drop_pg_schema(pg.url, schema)
