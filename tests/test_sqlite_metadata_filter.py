"""SQLite's trace-list metadata filter through migration 0005's indexes: the same lists
as the in-memory store whether or not any root's metadata is opaque (text with an escape,
a JSONB blob, text that is no JSON), whether or not the indexes are there, and read
through the indexes it is meant to read."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mastra_storage.storage import InMemoryStore, TracesFilter
from mastra_storage.storage.sql.migrate import current_revision, downgrade, upgrade
from mastra_storage.storage.sql.read_indexes import (
    METADATA_INDEX,
    OPAQUE_METADATA_INDEX,
    opaque_roots_exist,
)
from mastra_storage.storage.sql.sqlite import SQLiteStore

from .factories import span, tid
from .test_root_metadata import FILTERS, METADATA, _listed, insert_jsonb_root

# METADATA's roots whose JSON text has no escape, plus keys a JSON path reads only
# quoted ('.', '$'), and an array beside a string that spells it (json_extract reads an
# array as its JSON text).
PLAIN: list[Any] = [m for m in METADATA if m is None or "\\" not in json.dumps(m)] + [
    {"a.b": "dot", "$": 1}, {"list": [1, 2], "x": "[1,2]"}]
# Text with escapes: a key no JSON path label can spell, values written like an object.
ESCAPED: list[Any] = [m for m in METADATA if m is not None and "\\" in json.dumps(m)] + [
    {'q"k': "v"}, {"tier": "line\nbreak"}, {"tier": '{"a":1}'}, {"nested": '{"a":1}'}]
MORE_FILTERS: list[dict[str, Any]] = [
    {"a.b": "dot"}, {"$": 1}, {"list": "[1,2]"}, {"x": "[1,2]"}, {"list": [1, 2]},
    {"tier": '{"a":1}'}, {"nested": '{"a":1}'}, {'q"k': "v"}, {"tier": "line\nbreak"},
    {"n": True}, {"ok": 1}]


def _write(roots: list[Any], *stores: Any) -> None:
    for n, metadata in enumerate(roots):
        t = tid()
        rows = [span(t, "root", start=n, end=n + 1, metadata=metadata),
                span(t, "kid", parent="root", start=n, metadata={"tier": "pro"})]
        for store in stores:
            store.batch_create_spans(rows)


def _same(store: SQLiteStore, memory: InMemoryStore) -> None:
    # The page from the counted ids (any number of them), in the list's order (never),
    # or either, by how many match.
    for ids in (1000, 0, 2):
        store.dialect.count_first_ids = ids
        for metadata in FILTERS + MORE_FILTERS:
            flt = TracesFilter(metadata=metadata)
            for page in (0, 1, 5):
                for order in ("DESC", "ASC"):
                    assert _listed(store, flt, page, order=order) == _listed(
                        memory, flt, page, order=order), (ids, metadata, page, order)
        both = TracesFilter(metadata={"tier": "pro", "n": 1})
        assert _listed(store, both) == _listed(memory, both)
    store.dialect.count_first_ids = type(store.dialect).count_first_ids


def _opaque(store: SQLiteStore) -> bool:
    with store.engine.connect() as conn:
        return bool(conn.exec_driver_sql(f"SELECT {opaque_roots_exist('mastra_ai_spans')}"
                                         ).scalar())


@pytest.fixture
def pair(tmp_path: Path) -> tuple[SQLiteStore, InMemoryStore]:
    store = SQLiteStore(tmp_path / "m.db")
    store.init()
    return store, InMemoryStore()


def test_plain_roots_then_opaque_ones(pair: tuple[SQLiteStore, InMemoryStore]) -> None:
    store, memory = pair
    _write(PLAIN, store, memory)
    assert not _opaque(store)  # every root's metadata is plain JSON text: the quick test
    _same(store, memory)
    _write(ESCAPED, store, memory)
    assert _opaque(store)  # escapes: every root is tested as before
    _same(store, memory)
    store.close()


def test_jsonb_and_malformed_roots(pair: tuple[SQLiteStore, InMemoryStore]) -> None:
    store, memory = pair
    _write(PLAIN, store, memory)
    pro = TracesFilter(metadata={"tier": "pro"})
    listed = _listed(store, pro, per_page=50)
    path = store.engine.url.database or ""
    insert_jsonb_root(store, "b" * 32, {"tier": "pro"}, "2027-01-01T00:00:00.000Z")
    assert _opaque(store)
    assert _listed(store, pro, per_page=50) == (["b" * 32, *listed[0]], listed[1] + 1)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute('DELETE FROM mastra_ai_spans WHERE "traceId" = ?', ("b" * 32,))
    assert not _opaque(store)
    # Text that is no JSON and has no escape: the quick test's json_extract fails on it,
    # and the list is read again leaving it out (as the general filter does).
    conn.execute(
        'INSERT INTO mastra_ai_spans ("traceId", "spanId", name, "spanType", "isEvent", '
        '"startedAt", "createdAt", metadata) VALUES (?, ?, ?, ?, 0, ?, ?, ?)',
        ("c" * 32, "r", "other", "agent_run", "2027-01-01T00:00:00.000Z",
         "2027-01-01T00:00:00.000Z", '{"tier": "pro", oops'))
    conn.close()
    assert not _opaque(store)
    assert _listed(store, pro, per_page=50) == listed
    store.close()


def test_without_the_indexes_the_same_lists(pair: tuple[SQLiteStore, InMemoryStore]) -> None:
    store, memory = pair
    _write(PLAIN + ESCAPED[:1], store, memory)
    downgrade(store.engine, "0004")
    names = {r[0] for r in _catalogue(store)}
    assert not {METADATA_INDEX, OPAQUE_METADATA_INDEX} & names
    _same(store, memory)
    upgrade(store.engine)
    assert current_revision(store.engine) == "0005"
    assert {METADATA_INDEX, OPAQUE_METADATA_INDEX} <= {r[0] for r in _catalogue(store)}
    _same(store, memory)
    store.close()


def _catalogue(store: SQLiteStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return [(str(n), str(s)) for n, s in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")]


def test_the_count_reads_the_metadata_index_and_the_opaque_test_is_a_seek(
        pair: tuple[SQLiteStore, InMemoryStore]) -> None:
    store, _ = pair
    _write(PLAIN, store)
    flt = TracesFilter(metadata={"tier": "pro"})
    seen: list[str] = []

    def plan(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if "count(" in statement and "mastra_ai_spans" in statement and "json_extract" in statement:
            raw = conn.connection.dbapi_connection
            seen.extend(r[3] for r in raw.execute(f"EXPLAIN QUERY PLAN {statement}",
                                                  parameters))

    import sqlalchemy as sa

    sa.event.listen(store.engine, "before_cursor_execute", plan)
    try:
        assert store.list_traces(flt, 0, 1).total == sum(
            1 for m in PLAIN if m and m.get("tier") == "pro")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", plan)
    assert any(METADATA_INDEX in step and "metadata>?" in step for step in seen), seen
    assert any(f"SEARCH mastra_ai_spans USING INDEX {OPAQUE_METADATA_INDEX}" in step
               for step in seen), seen
    store.close()
