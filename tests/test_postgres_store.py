"""PostgreSQL-specific behaviour the shared suite can't see: the timestamptz twins, the
trigger's timestamps, jsonb's refusals, the COPY write path, URLs and the SQL we emit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from mastra_storage.errors import InvalidStoreURLError
from mastra_storage.model.spans import COLUMNS, SpanRecord
from mastra_storage.model.time import utc_now
from mastra_storage.storage import TracesFilter
from mastra_storage.storage.sql.dialects.postgres import PostgresDialect, pg_name
from mastra_storage.storage.sql.postgres import PostgresStore, engine_url
from mastra_storage.storage.urls import create_store
from tests.backends import Provider, selected

from .factories import at, full_span, sid, span, tid
from .helpers import found

needs_pg = pytest.mark.skipif("postgres" not in selected(),
                              reason="postgres not in MASTRA_TEST_BACKENDS")


@pytest.fixture
def pgstore(pg: Provider) -> Iterator[PostgresStore]:
    store = pg.make_store()
    try:
        yield store
    finally:
        store.close()


def raw_row(store: PostgresStore, trace_id: str, span_id: str) -> dict[str, Any]:
    t = store.table
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.traceId == trace_id,
                                              t.c.spanId == span_id)).mappings().one()
    return dict(row)


def same_record(got: SpanRecord, want: SpanRecord) -> None:
    for c in COLUMNS:
        if c.attr not in ("created_at", "updated_at"):
            assert getattr(got, c.attr) == getattr(want, c.attr), c.name


# ----------------------------------------------------------------------- timestamps

@needs_pg
def test_twins_are_filled_on_every_write(pgstore: PostgresStore) -> None:
    t = tid()
    rec = span(t, sid(), start=1.5, end=None)
    pgstore.batch_create_spans([rec])
    row = raw_row(pgstore, t, rec.span_id)
    assert row["startedAt"] == at(1.5).replace(tzinfo=None)
    assert row["startedAtZ"] == at(1.5)
    assert row["endedAt"] is None and row["endedAtZ"] is None  # running: no made-up end
    assert row["createdAtZ"] is not None and row["updatedAtZ"] is not None
    pgstore.batch_update_spans([rec.copy(ended_at=at(4))])
    row = raw_row(pgstore, t, rec.span_id)
    assert row["endedAt"] == at(4).replace(tzinfo=None) and row["endedAtZ"] == at(4)


@needs_pg
def test_trigger_owns_created_and_updated_at(pgstore: PostgresStore) -> None:
    t = tid()
    long_ago = datetime(2001, 1, 1, tzinfo=timezone.utc)
    rec = span(t, sid()).copy(created_at=long_ago, updated_at=long_ago)
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    pgstore.batch_create_spans([rec])
    first = pgstore.get_span(t, rec.span_id)
    assert first is not None and first.created_at is not None and first.updated_at is not None
    assert first.created_at >= before and first.updated_at >= before  # NOW(), not 2001
    # A later upsert and update keep createdAt (trigger) and move updatedAt forward
    # (compared at the column's microsecond precision: each write is its own transaction).
    first_raw = raw_row(pgstore, t, rec.span_id)
    pgstore.batch_create_spans([rec.copy(name="again")])
    second_raw = raw_row(pgstore, t, rec.span_id)
    pgstore.batch_update_spans([rec.copy(name="updated")])
    row = raw_row(pgstore, t, rec.span_id)
    assert row["name"] == "updated"
    assert row["createdAtZ"] == second_raw["createdAtZ"] == first_raw["createdAtZ"]
    assert first_raw["updatedAtZ"] < second_raw["updatedAtZ"] < row["updatedAtZ"]
    assert row["createdAt"] == row["createdAtZ"].astimezone(timezone.utc).replace(tzinfo=None)
    later = pgstore.get_span(t, rec.span_id)
    assert later is not None and later.created_at == first.created_at


@needs_pg
def test_sessions_run_in_utc(pgstore: PostgresStore) -> None:
    with pgstore.engine.connect() as conn:
        assert conn.execute(sa.text("SHOW TIME ZONE")).scalar() == "UTC"


# ----------------------------------------------------------------------- jsonb / text

@needs_pg
def test_nul_and_non_finite_numbers_are_stored_as_jsonb_strings(pgstore: PostgresStore) -> None:
    t = tid()
    rec = span(t, sid(), user_id="u\x00ser", input={"a\x00": "b\x00c", "nan": float("nan"),
                                                    "neg": float("-inf")},
               metadata={"score": float("inf")}, tags=["t\x00"])
    pgstore.batch_create_spans([rec])
    with pgstore.engine.connect() as conn:
        row = conn.execute(sa.text(
            f'SELECT jsonb_typeof(input->\'nan\'), input->>\'nan\', input->>\'neg\', '
            f'input->>\'a\ufffd\', metadata->>\'score\', "userId", tags '
            f'FROM "{pgstore.schema}".mastra_ai_spans WHERE "spanId" = :s'),
            {"s": rec.span_id}).one()
    assert tuple(row) == ("string", "NaN", "-Infinity", "b\ufffdc", "Infinity", "u\ufffdser",
                          ["t\ufffd"])
    # filters follow the same rule, so the cleaned value is found by the raw one
    assert pgstore.list_traces(TracesFilter(user_id="u\x00ser")).total == 1
    assert pgstore.list_traces(TracesFilter(tags=["t\x00"])).total == 1
    assert pgstore.get_trace(t + "\x00") is None


@needs_pg
def test_json_scalars_and_structures_round_trip(pgstore: PostgresStore) -> None:
    t = tid()
    values: list[Any] = ["just a string", 42, 2.5, True, [1, "two", None], {"deep": {"x": []}}]
    recs = [span(t, sid(), start=i, output=v) for i, v in enumerate(values)]
    pgstore.batch_create_spans(recs)
    trace = pgstore.get_trace(t)
    assert trace is not None
    assert [s.output for s in trace.spans] == values


@needs_pg
def test_metadata_object_values_need_equality_not_containment(pgstore: PostgresStore) -> None:
    a, b = tid(), tid()
    pgstore.batch_create_spans([
        span(a, sid(), metadata={"obj": {"x": 1}, "arr": [1, 2]}),
        span(b, sid(), metadata={"obj": {"x": 1, "y": 2}, "arr": [1, 2, 3]}),
    ])

    def ids(**kw: Any) -> set[str]:
        return {s.trace_id for s in pgstore.list_traces(TracesFilter(**kw)).spans}

    assert ids(metadata={"obj": {"x": 1}}) == {a}
    assert ids(metadata={"arr": [1, 2]}) == {a}
    assert ids(metadata={"arr": [1]}) == set()


# ----------------------------------------------------------------------- write paths

@needs_pg
@pytest.mark.parametrize("method", ["values", "copy"])
def test_both_write_paths_store_identical_rows(pg: Provider, method: str) -> None:
    store = pg.make_store()
    try:
        store.dialect.bulk_method = method
        t = tid()
        recs = [full_span(t, sid()) for _ in range(120)]
        recs[1:] = [r.copy(parent_span_id=recs[0].span_id, started_at=at(i + 1),
                           name=f"s{i}") for i, r in enumerate(recs[1:])]
        dup = recs[5].copy(name="last one wins")
        store.batch_create_spans([*recs, dup])  # a key twice in one batch
        store.batch_update_spans([recs[7].copy(output={"v": 2}), recs[7].copy(output={"v": 3})])
        trace = store.get_trace(t)
        assert trace is not None and len(trace.spans) == 120
        by_id = {s.span_id: s for s in trace.spans}
        for want in recs:
            if want.span_id not in (dup.span_id, recs[7].span_id):
                same_record(by_id[want.span_id], want)
        assert by_id[dup.span_id].name == "last one wins"
        assert by_id[recs[7].span_id].output == {"v": 3}
        # a second transaction on the same pooled connection reuses the staging table
        store.batch_create_spans([r.copy(name="third") for r in recs[:60]])
        assert sum(s.name == "third" for s in store.get_trace(t).spans) == 60
    finally:
        store.close()


@needs_pg
@pytest.mark.parametrize("method", ["values", "copy"])
def test_both_write_paths_keep_ended_spans_and_count_updates(pg: Provider, method: str) -> None:
    store = pg.make_store()
    try:
        store.dialect.bulk_method = method
        t = tid()
        ended = [span(t, sid(), start=i, end=i + 1) for i in range(60)]
        store.batch_create_spans(ended)
        running = [r.copy(ended_at=None, name="late start") for r in ended]
        store.batch_create_spans(running)
        assert store.batch_update_spans(running) == 0
        assert all(s.name == "span" and s.ended_at is not None
                   for s in found(store.get_trace(t)).spans)
        later = [r.copy(ended_at=at(100), name="ended later") for r in ended]
        assert store.batch_update_spans([*later, span(t, sid())]) == 60
        assert {s.name for s in found(store.get_trace(t)).spans} == {"ended later"}
    finally:
        store.close()


@needs_pg
def test_a_failed_batch_leaves_nothing_behind(pgstore: PostgresStore) -> None:
    t = tid()
    good = [span(t, sid(), start=i) for i in range(80)]
    bad = span(t, sid()).copy(name=None)  # NOT NULL violation
    with pytest.raises(sa.exc.IntegrityError):
        pgstore.batch_create_spans([*good, bad])
    assert pgstore.get_trace(t) is None  # one transaction: all or nothing
    pgstore.batch_create_spans(good)  # the connection and its staging table still work
    assert len(pgstore.get_trace(t).spans) == 80  # type: ignore[union-attr]


# ------------------------------------------- optimistic COPY: straight in, or merged

def _stored(store: PostgresStore, trace_id: str) -> dict[str, SpanRecord]:
    trace = store.get_trace(trace_id)
    return {s.span_id: s for s in trace.spans} if trace is not None else {}


def _dialect(store: PostgresStore) -> PostgresDialect:
    d = store.dialect
    assert isinstance(d, PostgresDialect)
    return d


def _target(store: PostgresStore) -> str:
    return _dialect(store)._qualified(store.table.schema, store.table.name)


def _backend(store: PostgresStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


@needs_pg
def test_a_batch_of_new_spans_goes_straight_in_and_the_trigger_fires(
        pgstore: PostgresStore) -> None:
    t = tid()
    long_ago = datetime(2001, 1, 1, tzinfo=timezone.utc)
    recs = [full_span(t, sid()).copy(started_at=at(i), created_at=long_ago,
                                     updated_at=long_ago) for i in range(80)]
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    pgstore.batch_create_spans(recs)
    d, target = _dialect(pgstore), _target(pgstore)
    assert target not in d._backoff  # no conflict: nothing was merged
    # the rows went in COPY's binary format: the table has the store's types
    raw_types = d._binary_types(None, target, list(pgstore.table.columns))
    assert raw_types is not None and len(raw_types) == len(pgstore.table.columns)
    got = _stored(pgstore, t)
    for want in recs:
        same_record(got[want.span_id], want)
    row = raw_row(pgstore, t, recs[0].span_id)
    # BEFORE INSERT triggers fire for COPY: NOW(), not the records' 2001
    assert row["createdAtZ"] >= before and row["updatedAtZ"] >= before
    assert row["createdAt"] == row["createdAtZ"].astimezone(timezone.utc).replace(tzinfo=None)
    assert row["startedAtZ"] == at(0) and row["endedAtZ"] == recs[0].ended_at


@needs_pg
def test_a_retried_batch_falls_back_to_the_merge_and_stores_each_span_once(
        pgstore: PostgresStore) -> None:
    t = tid()
    recs = [span(t, sid(), start=i, end=i + 1) for i in range(70)]
    pid = _backend(pgstore)
    pgstore.batch_create_spans(recs)
    first = raw_row(pgstore, t, recs[0].span_id)
    pgstore.batch_create_spans([r.copy(name="again") for r in recs])  # the same keys
    assert _backend(pgstore) == pid  # the same pooled connection, usable after the fallback
    got = _stored(pgstore, t)
    assert len(got) == 70 and {s.name for s in got.values()} == {"again"}
    again = raw_row(pgstore, t, recs[0].span_id)
    assert again["createdAtZ"] == first["createdAtZ"] < again["updatedAtZ"]
    with pgstore.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(pgstore.table)
                         .where(pgstore.table.c.traceId == t)).scalar_one()
    assert n == 70
    # after a conflict the next writes of the table merge at once (no wasted COPY),
    # and new spans still go in
    d, target = _dialect(pgstore), _target(pgstore)
    assert d._backoff[target][0] == d.OPTIMISTIC_BACKOFF
    fresh = [span(t, sid(), start=100 + i) for i in range(60)]
    pgstore.batch_create_spans(fresh)
    assert d._backoff[target][0] == d.OPTIMISTIC_BACKOFF - 1
    assert len(_stored(pgstore, t)) == 130


@needs_pg
def test_a_batch_mixing_new_and_stored_spans_keeps_the_upsert_rules(
        pgstore: PostgresStore) -> None:
    t = tid()
    ended = [span(t, sid(), start=i, end=i + 1, name="ended") for i in range(60)]
    pgstore.batch_create_spans(ended)
    running = [span(t, sid(), start=i, end=None, name="running") for i in range(60)]
    pgstore.batch_create_spans(running)
    new = [span(t, sid(), start=200 + i, name="new") for i in range(40)]
    late_starts = [r.copy(ended_at=None, name="late start") for r in ended[:30]]
    now_ended = [r.copy(ended_at=at(300), name="now ended") for r in running[:30]]
    pgstore.batch_create_spans([*late_starts, *new, *now_ended])
    got = _stored(pgstore, t)
    assert len(got) == 160
    for r in ended:  # a running snapshot never replaces an ended span
        assert got[r.span_id].name == "ended" and got[r.span_id].ended_at == r.ended_at
    assert all(got[r.span_id].name == "now ended" for r in running[:30])
    assert all(got[r.span_id].name == "running" for r in running[30:])
    assert all(got[r.span_id].name == "new" for r in new)


@needs_pg
def test_chunks_of_one_transaction_fall_back_on_their_own(pgstore: PostgresStore) -> None:
    """batch_create_spans writes 1,000-row chunks in one transaction: the first COPY opens
    it, a later one runs in a savepoint, and a conflict undoes only its own chunk."""
    t = tid()
    stored = [span(t, sid(), start=i, end=i + 1, name="ended") for i in range(60)]
    pgstore.batch_create_spans(stored)
    d, table = _dialect(pgstore), pgstore.table
    chunks = [[span(t, sid(), start=100 + i, name="one") for i in range(60)],
              [r.copy(ended_at=None, name="late start") for r in stored],
              [span(t, sid(), start=200 + i, name="three") for i in range(60)]]
    with pgstore.engine.begin() as conn:
        for chunk in chunks:
            d.upsert_records(conn, table, chunk, utc_now())
    got = _stored(pgstore, t)
    assert len(got) == 180
    assert {s.name for s in got.values()} == {"ended", "one", "three"}
    # a refused row in a later chunk still fails the whole transaction, as a data error
    bad = span(t, sid()).copy(name=None)
    with pytest.raises(sa.exc.IntegrityError):
        with pgstore.engine.begin() as conn:
            d.upsert_records(conn, table, [span(t, sid(), start=400 + i)
                                           for i in range(60)], utc_now())
            d.upsert_records(conn, table, [*(span(t, sid(), start=500 + i)
                                             for i in range(60)), bad], utc_now())
    assert len(_stored(pgstore, t)) == 180


@needs_pg
def test_a_refused_row_raises_the_data_error_on_both_paths(pgstore: PostgresStore) -> None:
    t = tid()
    stored = [span(t, sid(), start=i) for i in range(60)]
    pgstore.batch_create_spans(stored)
    bad = span(t, sid()).copy(name=None)  # NOT NULL
    # straight in (all new) and merged (a stored key sends the batch to the merge)
    for batch in ([span(t, sid()) for _ in range(60)], stored):
        _dialect(pgstore)._backoff.clear()
        with pytest.raises(sa.exc.IntegrityError) as info:
            pgstore.batch_create_spans([*batch, bad])
        assert "not-null" in str(info.value) or "null value" in str(info.value)
    assert len(_stored(pgstore, t)) == 60
    pgstore.batch_create_spans([span(t, sid()) for _ in range(60)])  # still usable
    assert len(_stored(pgstore, t)) == 120


@needs_pg
def test_the_binary_copy_needs_the_store_column_types(pgstore: PostgresStore) -> None:
    """A column whose type is not the one the store gives it (here json, not jsonb)
    makes the COPY textual: a binary jsonb value would not be read right."""
    q = f'"{pgstore.schema}".mastra_ai_spans'
    with pgstore.engine.begin() as conn:
        conn.execute(sa.text(f'ALTER TABLE {q} ALTER COLUMN "requestContext" TYPE json'))
    d = _dialect(pgstore)
    d._column_types.clear()  # as a store opened on this table now would find it
    t = tid()
    recs = [full_span(t, sid()).copy(started_at=at(i)) for i in range(60)]
    pgstore.batch_create_spans(recs)
    assert d._binary_types(None, _target(pgstore), list(pgstore.table.columns)) is None
    got = _stored(pgstore, t)
    for want in recs:
        same_record(got[want.span_id], want)


@needs_pg
def test_opening_a_store_reads_the_copy_column_types_of_every_table(
        pgstore: PostgresStore) -> None:
    """init() reads the catalog once for the span table and the signal tables, so no
    first batch waits for it: the binary COPY's types are known with no connection."""
    reopened = PostgresStore(engine=pgstore.engine, schema=pgstore.schema)
    reopened.init()
    d = _dialect(reopened)
    written = [(reopened.table, list(reopened.table.columns)),
               *((c.table, [c.table.c[n] for n in c.names]) for c in reopened.signals.values())]
    for table, columns in written:
        oids = d._binary_types(None, d._qualified(table.schema, table.name), columns)
        assert oids is not None and len(oids) == len(columns), table.name
    t = tid()
    recs = [full_span(t, sid()).copy(started_at=at(i)) for i in range(60)]
    reopened.batch_create_spans(recs)
    got = _stored(reopened, t)
    for want in recs:
        same_record(got[want.span_id], want)


@needs_pg
def test_signal_batches_go_straight_in_and_retries_stay_once(pgstore: PostgresStore) -> None:
    from mastra_storage.model.signals import (
        FeedbackRecord,
        LogRecord,
        MetricRecord,
        ScoreRecord,
    )

    t = tid()
    ts = utc_now()
    batches: dict[str, list[Any]] = {
        "logs": [LogRecord(timestamp=ts, level="info", message=f"m{i}", trace_id=t,
                           data={"i": i}, tags=["a"]) for i in range(80)],
        "metrics": [MetricRecord(timestamp=ts, name="m", value=float(i), trace_id=t,
                                 labels={"k": "v"}) for i in range(80)],
        "scores": [ScoreRecord(timestamp=ts, scorer_id="s", score=i / 80, trace_id=t)
                   for i in range(80)],
        "feedback": [FeedbackRecord(timestamp=ts, feedback_type="thumbs",
                                    feedback_source="user", value_number=1.0, trace_id=t)
                     for _ in range(80)],
    }
    for signal, records in batches.items():
        write = getattr(pgstore, f"batch_create_{signal}")
        write(records)
        write(records[:60])  # a retried part: nothing twice
        codec = pgstore._signal(signal)
        with pgstore.engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(codec.table)
                             .where(codec.table.c.traceId == t)).scalar_one()
        assert n == 80, signal
    # still written after the conflicts, on the same pooled connection
    more = [MetricRecord(timestamp=ts, name="m", value=1.0, trace_id=t) for _ in range(60)]
    pgstore.batch_create_metrics(more)
    table = pgstore._signal("metrics").table
    with pgstore.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(table)
                         .where(table.c.traceId == t)).scalar_one()
    assert n == 140


@needs_pg
@pytest.mark.parametrize("compression", ["lz4", "pglz", None])
def test_large_values_are_compressed_as_the_store_is_told(db: str, compression: str | None
                                                          ) -> None:
    """The store's sessions set default_toast_compression (lz4 unless told otherwise;
    None keeps the server's, pglz here); a row whose values PostgreSQL compresses is
    stored that way and reads back whole."""
    store = PostgresStore(db, auto_migrate=True, toast_compression=compression)
    try:
        store.init()
        t = tid()
        text = " ".join(f"word{i % 97}" for i in range(600))  # ~4 KB, compressible
        rec = full_span(t, sid()).copy(input={"text": text}, output={"text": text})
        store.batch_create_spans([rec])
        with store.engine.connect() as conn:
            method = conn.execute(sa.text(
                'SELECT pg_column_compression("input") FROM mastra_ai_spans '
                'WHERE "traceId" = :t'), {"t": t}).scalar_one()
        assert method == (compression or "pglz")
        same_record(_stored(store, t)[rec.span_id], rec)
    finally:
        store.close()


def test_an_unknown_compression_is_refused() -> None:
    with pytest.raises(ValueError, match="toast_compression"):
        PostgresStore("postgresql://u@127.0.0.1/db", toast_compression="zstd")


# ----------------------------------------------------------------------- the bench

@needs_pg
def test_bench_pipeline_writes_a_schema_of_its_own_and_drops_it(db: str) -> None:
    """``mastra-storage bench`` on PostgreSQL: the pipeline phase writes and counts its
    rows in a fresh schema (the baseline gets a fresh table), so its count doesn't read
    every row earlier runs left in the store's schema; that schema is dropped after."""
    import json

    from typer.testing import CliRunner

    from mastra_storage.cli.main import app

    url = db + "?schema=obs"
    create_store(url, auto_migrate=True).close()
    result = CliRunner().invoke(app, [
        "bench", "--store", url, "--traces", "6", "--spans-per-trace", "5",
        "--payload-bytes", "64", "--no-otel", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    spans = report["end_to_end"]["workload"]["spans"]
    assert report["pipeline"]["rows_verified"] == spans
    assert report["pipeline"]["rows_complete"] == spans
    assert report["pipeline"]["exporter"]["drops_total"] == 0
    assert report["baseline"]["available"] and report["baseline"]["rows_verified"] == spans
    # Its table fires Mastra's timestamp trigger, as the pipeline's does.
    assert report["baseline"]["triggers"] == ["mastra_ai_spans_timestamps"]
    engine = sa.create_engine(engine_url(db))
    try:
        with engine.connect() as conn:
            left = conn.execute(sa.text("SELECT nspname FROM pg_namespace "
                                        "WHERE nspname LIKE 'bench_pipe_%'")).scalars().all()
            in_store = conn.execute(sa.text(
                'SELECT count(*) FROM obs.mastra_ai_spans WHERE "serviceName" = :run'),
                {"run": report["run_tag"] + "-replay"}).scalar_one()
    finally:
        engine.dispose()
    assert left == []
    assert in_store == 0  # the replayed rows went to the pipeline's own schema


@needs_pg
def test_bench_rounds_write_each_end_to_end_phase_into_a_schema_of_its_own(db: str) -> None:
    import json

    from typer.testing import CliRunner

    from mastra_storage.cli.main import app

    url = db + "?schema=obs"
    create_store(url, auto_migrate=True).close()
    result = CliRunner().invoke(app, [
        "bench", "--store", url, "--traces", "4", "--spans-per-trace", "3",
        "--payload-bytes", "32", "--no-otel", "--rounds", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rounds"] == 2 and report["end_to_end"]["rows_verified"] == 12
    assert len(report["ratios"]["pipeline_vs_baseline"]["throughput_rounds"]) == 2
    engine = sa.create_engine(engine_url(db))
    try:
        with engine.connect() as conn:
            left = conn.execute(sa.text("SELECT nspname FROM pg_namespace "
                                        "WHERE nspname LIKE 'bench_pipe_%'")).scalars().all()
            in_store = conn.execute(sa.text("SELECT count(*) FROM obs.mastra_ai_spans")
                                    ).scalar_one()
    finally:
        engine.dispose()
    assert left == [] and in_store == 0


# ----------------------------------------------------------------------- URLs & SQL

def test_urls_select_psycopg3() -> None:
    for url in ("postgresql://u:p@h:5/db", "postgres://u:p@h:5/db",
                "postgresql+psycopg://u:p@h:5/db"):
        got = engine_url(url)
        assert got.drivername == "postgresql+psycopg"
        assert (got.username, got.password, got.host, got.port, got.database) == \
            ("u", "p", "h", 5, "db")
    with pytest.raises(InvalidStoreURLError, match="psycopg 3"):
        engine_url("postgresql+asyncpg://u@h/db")


def test_create_store_builds_a_postgres_store_without_connecting() -> None:
    store = create_store("postgresql://nobody@127.0.0.1:1/none", init=False, schema="s1")
    try:
        assert isinstance(store, PostgresStore)
        assert store.provider == "postgres" and store.schema == "s1"
        assert store.auto_migrate is False
        assert store.table.schema == "s1"
    finally:
        store.close()


def _compile(stmt: Any) -> Any:
    return stmt.compile(dialect=postgresql.psycopg.dialect())


def test_filters_are_bound_parameters_using_jsonb_operators() -> None:
    store = PostgresStore(engine=sa.create_engine("postgresql+psycopg://x@127.0.0.1/x"),
                          schema="obs")
    hostile = "x'); DROP TABLE mastra_ai_spans; --"
    f = TracesFilter(user_id=hostile, tags=[hostile], metadata={hostile: hostile,
                                                                "obj": {"k": hostile}},
                     scope={"core": hostile})
    compiled = _compile(sa.select(store.table.c.traceId).where(
        *store._conditions(f, store.table)))
    sql = str(compiled)
    assert "DROP TABLE" not in sql and hostile not in sql
    assert sql.count("@>") == 4  # tags, two metadata keys, scope: GIN-indexable
    assert " -> " in sql  # object values also compared for equality
    # user_id, tags, metadata (2 probes + the object value), scope
    assert sum(hostile in str(v) for v in compiled.params.values()) == 6
    store.close()


def test_identifier_names_fit_postgres() -> None:
    long_schema = "s" * 60
    table = PostgresDialect().build_table(sa.MetaData(), long_schema)
    names = [table.primary_key.name, *(ix.name for ix in table.indexes)]
    assert all(len(str(n).encode()) <= 63 for n in names)
    assert pg_name("ü" * 40) == "ü" * 31  # never cuts inside a UTF-8 character
