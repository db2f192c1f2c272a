"""SQLite keeps JSON as text another writer may have left malformed: a JSON filter that
meets such a row still answers (the row matches no JSON filter) instead of failing the
whole read."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from mastra_storage.storage import InMemoryStore, TracesFilter
from mastra_storage.storage.sql.dialects.sqlite import SQLiteDialect
from mastra_storage.storage.sql.sqlite import SQLiteStore
from mastra_storage.storage.trace_query import plan_suggestions, plan_trace_query

from .factories import at, span, tid


@pytest.fixture
def stores(tmp_path: Path) -> tuple[SQLiteStore, InMemoryStore]:
    sql, memory = SQLiteStore(tmp_path / "m.db"), InMemoryStore()
    sql.init()
    for n in range(4):
        t = tid()
        rows = [span(t, "root", start=n, end=n + 1, metadata={"tier": "pro" if n % 2 else "x"},
                     tags=["vip"] if n % 2 else ["other"])]
        sql.batch_create_spans(rows)
        memory.batch_create_spans(rows)
    # Another writer's root whose JSON text is cut short: it holds the filters' needles,
    # so the cheap substring pre-test lets it through to the JSON functions.
    start = SQLiteDialect().encode_timestamp(at(10))
    conn = sqlite3.connect(str(tmp_path / "m.db"))
    conn.execute(
        'INSERT INTO mastra_ai_spans ("traceId", "spanId", name, "spanType", "isEvent", '
        '"startedAt", "endedAt", "createdAt", metadata, tags) '
        "VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
        ("b" * 32, "r", "broken", "agent_run", start, start, start, '{"tier": "pro"',
         '["vip"'))
    conn.commit()
    conn.close()
    return sql, memory


def test_a_malformed_row_matches_no_json_filter_and_fails_nothing(
        stores: tuple[SQLiteStore, InMemoryStore], caplog: pytest.LogCaptureFixture) -> None:
    sql, memory = stores
    caplog.set_level(logging.WARNING)
    for flt in (TracesFilter(metadata={"tier": "pro"}), TracesFilter(tags=["vip"]),
                TracesFilter(metadata={"tier": "pro"}, tags=["vip"])):
        got, want = sql.list_traces(flt), memory.list_traces(flt)
        assert [s.trace_id for s in got.spans] == [s.trace_id for s in want.spans]
        assert got.total == want.total == 2
        branches = sql.list_branches(flt)
        assert "b" * 32 not in {s.trace_id for s in branches.spans}
    assert "malformed" in caplog.text  # said, not silent
    # the unfiltered list still shows the row (its metadata reads as what it is: text)
    assert sql.list_traces(TracesFilter()).total == 5


def test_studio_queries_and_suggestions_skip_it_too(
        stores: tuple[SQLiteStore, InMemoryStore]) -> None:
    sql, _ = stores
    window = {"from": (at(0) - timedelta(days=1)).isoformat(),
              "to": (at(0) + timedelta(days=1)).isoformat()}
    where = {"op": "eq", "left": {"path": "metadata.tier"}, "right": {"literal": "pro"}}
    rows = sql.query_traces(plan_trace_query({"timeRange": window, "where": where})).rows
    assert len(rows) == 2 and "b" * 32 not in {r.trace_id for r in rows}
    fields = sql.trace_query_fields(plan_suggestions(
        {"timeRange": window, "predicateScope": "trace"}, with_path=False))
    assert "tier" in {f.path.split(".")[-1] for f in fields.observed}
