"""Write batches encoded column by column (docs/bench.md): the same values as the row codecs,
the all-NULL columns written as literal NULL on SQLite, PostgreSQL's signal COPY, and the
helpers the writer's speed-ups rest on (signal ids, price lookups, bounded text)."""

from __future__ import annotations

import multiprocessing
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mastra_storage.exporters.pricing import PriceTable
from mastra_storage.model.signals import LogRecord, MetricRecord, new_signal_id
from mastra_storage.model.spans import COLUMNS, SpanRecord
from mastra_storage.model.time import utc_now
from mastra_storage.storage.sql.bounds import FULL_VALUES_KEY, bound_records
from mastra_storage.storage.sql.codec import SignalCodec
from mastra_storage.storage.sql.columnar import NULL_COLUMN, Replayable, clean_columns
from mastra_storage.storage.sql.dialects.base import SqlDialect
from mastra_storage.storage.sql.dialects.postgres import PostgresDialect
from mastra_storage.storage.sql.dialects.sqlite import SQLiteDialect
from mastra_storage.storage.sql.sqlite import SQLiteStore
from tests.backends import Provider, selected

from .factories import at, full_span, sid, span, tid

needs_pg = pytest.mark.skipif("postgres" not in selected(),
                              reason="postgres not in MASTRA_TEST_BACKENDS")


def _batch() -> list[SpanRecord]:
    """Spans with columns NULL in every row, in some rows, never; awkward text."""
    t = tid()
    rows = [full_span(t, sid()), span(t, sid(), end=None), span(t, sid(), name="a\x00b"),
            span(t, sid(), name="lone \ud800 surrogate", user_id="ü"),
            span(t, sid(), is_event=True, output={"nan": float("nan")}),
            full_span(t, sid()).copy(created_at=at(-5), updated_at=at(-4))]
    rows[0].error = {"message": "boom", "name": "E", "stack": None}
    return rows


def _rows_of(columns: list[Any], size: int) -> list[list[Any]]:
    return [[None if c is NULL_COLUMN else c[i] for c in columns] for i in range(size)]


@pytest.mark.parametrize("dialect", [SQLiteDialect(), PostgresDialect()],
                         ids=["sqlite", "postgres"])
@pytest.mark.parametrize("touch", [False, True])
def test_columns_hold_the_row_codecs_values(dialect: SqlDialect, touch: bool) -> None:
    records = _batch()
    now = utc_now()
    columns = dialect.encode_columns(records, now, touch)
    if isinstance(dialect, PostgresDialect):
        want = [list(dialect.encode(r, now, touch).values()) for r in records]
    else:
        want = [dialect.encode_values(r, now, touch) for r in records]
    assert _rows_of(columns, len(records)) == want
    # every span leaves e.g. links NULL except full_span: not a NULL column; requestContext
    # is set in full_span only too; a column no span sets is NULL_COLUMN
    names = [c.name for c in COLUMNS]
    assert columns[names.index("links")] is not NULL_COLUMN
    lone = [s.copy(links=None) for s in records[1:5]]
    assert dialect.encode_columns(lone, now)[names.index("links")] is NULL_COLUMN


def test_replayable_rows_are_made_once_and_seen_again_whole() -> None:
    made: list[int] = []

    def parts() -> Any:
        for i in range(3):
            made.append(i)
            yield [(i, "a"), (i, "b")]

    rows = Replayable(parts())
    first = iter(rows)
    assert [next(first), next(first), next(first)] == [(0, "a"), (0, "b"), (1, "a")]
    assert made == [0, 1]  # made as the iteration reaches them
    # a second pass (e.g. after a failed attempt) sees every row, the rest made now
    assert list(rows) == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]
    assert list(rows) == list(rows) and made == [0, 1, 2]
    assert list(Replayable(iter([]))) == []


def test_clean_columns() -> None:
    assert clean_columns([("abc", None, ""), ("ünï", "😀")])
    assert not clean_columns([("abc", "a\x00")])
    assert not clean_columns([("ü\x00",)])
    assert not clean_columns([("\udc80",)])
    assert not clean_columns([("a", 5)])  # not text: the per-value path decides
    assert clean_columns([])


@pytest.mark.parametrize("dialect", [SQLiteDialect(), PostgresDialect()],
                         ids=["sqlite", "postgres"])
def test_signal_columns_hold_the_row_codecs_values(dialect: SqlDialect) -> None:
    ts = utc_now()
    metrics = [MetricRecord(timestamp=ts, name="m", value=1, trace_id="t", tags=["a"]),
               MetricRecord(timestamp=ts, name="m\x00", value=2.5, labels={"k": "v"},
                            provider="openai", estimated_cost=0.1, cost_unit="USD",
                            cost_metadata={"x": 1}, user_id="ü")]
    logs = [LogRecord(timestamp=ts, level="info", message="hi", data={"a": None}),
            LogRecord(timestamp=ts + timedelta(seconds=1), level="warn", message="x",
                      metadata={"m": 1})]
    for signal, records in (("metrics", metrics), ("logs", logs)):
        codec = SignalCodec(dialect, sa.MetaData(), None, signal)
        columns = codec.encode_columns(records)
        assert _rows_of(columns, len(records)) == [codec.encode(r) for r in records]
        # organizationId is NULL in every record: a NULL column
        assert columns[codec.names.index("organizationId")] is NULL_COLUMN


def test_sqlite_writes_null_columns_as_literals_and_keeps_upsert_semantics(
        tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "c.db"), auto_migrate=True)
    store.init()
    try:
        t = tid()
        full = full_span(t, sid())
        store.batch_create_spans([full, span(t, sid(), name="nul\x00here")])
        got = store.get_span(t, full.span_id)
        assert got is not None and got.links == full.links and got.user_id == "user-1"
        names = {s.name for s in store.get_trace(t).spans}  # type: ignore[union-attr]
        assert "nul\ufffdhere" in names
        # a later snapshot whose batch has links/userId NULL in every row clears them
        store.batch_create_spans([full.copy(links=None, user_id=None, output={"v": 2})])
        got = store.get_span(t, full.span_id)
        assert got is not None and got.links is None and got.user_id is None
        assert got.output == {"v": 2}
        # a running snapshot (endedAt NULL in the whole batch) never replaces an ended span
        store.batch_create_spans([full.copy(ended_at=None, name="late start")])
        got = store.get_span(t, full.span_id)
        assert got is not None and got.name == full.name and got.ended_at is not None
        # the metrics path: NULL columns and values read back as written
        ts = utc_now()
        store.batch_create_metrics([MetricRecord(timestamp=ts, name="m", value=3.0,
                                                 trace_id=t, labels={"s": "ok"})])
        with store.engine.connect() as conn:
            row = conn.exec_driver_sql(
                'SELECT value, labels, "organizationId", tags FROM mastra_metric_events '
                'WHERE "traceId" = ?', (t,)).one()
        assert tuple(row) == (3.0, '{"s":"ok"}', None, "[]")
    finally:
        store.close()


def test_sqlite_refusals_are_sqlalchemy_errors(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "e.db"), auto_migrate=True)
    store.init()
    try:
        with pytest.raises(sa.exc.IntegrityError):  # NOT NULL name, NULL in the batch
            store.batch_create_spans([span(tid(), sid()).copy(name=None)])
    finally:
        store.close()


def test_bound_records_looks_at_records_only_when_a_value_could_be_too_long() -> None:
    records = [span(tid(), sid()) for _ in range(3)]
    assert bound_records(records, 1000) is records
    long = [*records, span(tid(), sid(), name="n" * 2000)]
    out = bound_records(long, 1000)
    assert out[:3] == records
    assert len(out[3].name.encode()) <= 1000
    assert out[3].attributes[FULL_VALUES_KEY]["name"] == "n" * 2000


def test_signal_ids_are_unique_version_4_uuids() -> None:
    ids = [new_signal_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:300]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def _child_ids(queue: Any) -> None:
    queue.put([new_signal_id() for _ in range(50)])


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_signal_id()  # the parent's pool holds unused random bytes now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_ids, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(30)
    ours = [new_signal_id() for _ in range(50)]
    assert not set(theirs) & set(ours)


def test_price_lookups_are_remembered_with_the_same_answers() -> None:
    table = PriceTable.default()
    first = [table.lookup("openai", "gpt-4o"), table.lookup("OpenAI.chat", "gpt-4o-2024-08-06"),
             table.lookup("openai", "no-such-model"), table.lookup(None, "gpt-4o")]
    assert first[0] is not None and first[2] is None and first[3] is None
    again = [table.lookup("openai", "gpt-4o"), table.lookup("OpenAI.chat", "gpt-4o-2024-08-06"),
             table.lookup("openai", "no-such-model"), table.lookup(None, "gpt-4o")]
    assert again == first
    fresh = PriceTable.default()
    assert fresh.lookup("OpenAI.chat", "gpt-4o-2024-08-06") == first[1]


# ----------------------------------------------------------------------- PostgreSQL


@needs_pg
@pytest.mark.parametrize("method", ["values", "copy"])
def test_postgres_metric_batches_through_both_paths(pg: Provider, method: str) -> None:
    store = pg.make_store()
    try:
        store.dialect.bulk_method = method
        t = tid()
        ts = utc_now()
        metrics = [MetricRecord(timestamp=ts + timedelta(milliseconds=i), name="m",
                                value=float(i), trace_id=t, tags=["a", "b"] if i % 2 else None,
                                labels={"status": "ok"}, estimated_cost=0.5 if i == 3 else None)
                   for i in range(120)]
        store.batch_create_metrics(metrics)
        store.batch_create_metrics(metrics[:70])  # a retried batch: nothing twice
        with store.engine.connect() as conn:
            table = store._signal("metrics").table
            rows = conn.execute(sa.select(table.c.value, table.c.tags, table.c.labels,
                                          table.c.estimatedCost)
                                .where(table.c.traceId == t)
                                .order_by(table.c.value)).all()
        assert [r[0] for r in rows] == [float(i) for i in range(120)]
        assert rows[1][1] == ["a", "b"] and rows[0][1] == []
        assert rows[0][2] == {"status": "ok"}
        assert rows[3][3] == 0.5 and rows[4][3] is None
        # a second transaction on the same pooled connection reuses the staging table
        store.batch_create_metrics([MetricRecord(timestamp=ts, name="m2", value=1.0,
                                                 trace_id=t) for _ in range(60)])
        with store.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(table)
                                 .where(table.c.traceId == t)).scalar()
        assert count == 180
    finally:
        store.close()


@needs_pg
def test_postgres_span_copy_path_bounds_text_and_fills_twins(pg: Provider) -> None:
    store = pg.make_store()
    try:
        store.dialect.bulk_method = "copy"
        t = tid()
        recs = [span(t, sid(), start=i, end=i + 1) for i in range(60)]
        recs[7] = recs[7].copy(name="x" * 3000)
        store.batch_create_spans(recs)
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                'SELECT "spanId", length(name), "startedAtZ" = "startedAt" AT TIME ZONE \'UTC\','
                ' "endedAtZ" IS NOT NULL FROM ' + f'"{store.schema}".mastra_ai_spans '
                'WHERE "traceId" = %s', (t,)).all()
        assert len(rows) == 60
        assert all(r[2] and r[3] for r in rows)
        assert max(r[1] for r in rows) < 3000
        got = store.get_span(t, recs[7].span_id)
        assert got is not None and got.attributes[FULL_VALUES_KEY]["name"] == "x" * 3000
    finally:
        store.close()
