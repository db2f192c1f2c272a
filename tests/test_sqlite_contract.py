"""SQLite/libSQL against Mastra's contract: schema, formats, JSONB, adoption, WAL, volume.

Files holding JSONB (as ``@mastra/libsql`` writes them) are made by a real SQLite >= 3.45,
the ``sqlean.py`` wheel (a test dependency), while no store has the file open; the store
itself reads them through the stdlib ``sqlite3`` (3.40 on Debian 12).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
from mastra_storage.errors import InvalidStoreURLError
from mastra_storage.model.signals import SIGNAL_TABLES
from mastra_storage.model.spans import COLUMNS
from mastra_storage.storage import TracesFilter
from mastra_storage.storage.signal_queries import (
    LogsFilter,
    MetricBreakdownRequest,
    MetricsFilter,
    ScoresFilter,
)
from mastra_storage.storage.sql.migrate import VERSION_TABLE, current_revision
from mastra_storage.storage.sql.read_indexes import all_read_indexes
from mastra_storage.storage.sql.sqlite import SQLiteStore
from mastra_storage.storage.trace_query import plan_suggestions
from mastra_storage.storage.urls import create_store
from mastra_storage.workload import run_workload

from .factories import span, tid
from .helpers import RecordingExporter, contract_text, found
from .test_exporter_strategies import assert_rows_match
from .test_signal_suite import T0, eq, iso, query, seed_signals, seed_spans

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def contract_sql() -> str:
    return contract_text("sqlite.mastra_ai_spans.sql")


def new_sqlite() -> Any:
    """The DB-API module of a SQLite >= 3.45 (JSONB), for writing files as Mastra does."""
    sqlean = pytest.importorskip("sqlean", reason="sqlean.py (a test dependency) writes JSONB")
    assert sqlean.sqlite_version_info >= (3, 45, 0)
    return sqlean


def catalogue(path: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(str(path))
    cols = [tuple(r[1:]) for r in conn.execute("PRAGMA table_info(mastra_ai_spans)")]
    idx = []
    for name, unique, origin in [(r[1], r[2], r[3])
                                 for r in conn.execute("PRAGMA index_list(mastra_ai_spans)")]:
        keys = [(r[2], r[3]) for r in conn.execute(f"PRAGMA index_xinfo('{name}')") if r[5]]
        partial = conn.execute("select sql from sqlite_master where name=?", (name,)).fetchone()
        where = None
        if partial and partial[0] and " WHERE " in partial[0].upper():
            where = re.sub(r'[\s"]', "", partial[0].upper().split(" WHERE ", 1)[1])
        idx.append((name if origin == "c" else origin, unique, keys, where))
    conn.close()
    return cols, sorted(idx, key=str)


# The only indexes this library adds to Mastra's table (migrations 0003 and 0004, declared in
# mastra_storage/storage/sql/read_indexes.py); everything else is the contract's.
READ_INDEXES = {name for name, _ in all_read_indexes("sqlite")}


def mastras(path: Path) -> tuple[list[Any], list[Any]]:
    """``catalogue(path)`` without the read indexes, which must all be there."""
    cols, idx = catalogue(path)
    assert {ix[0] for ix in idx} >= READ_INDEXES, READ_INDEXES - {ix[0] for ix in idx}
    return cols, [ix for ix in idx if ix[0] not in READ_INDEXES]


def test_schema_matches_the_contract(tmp_path):
    theirs = tmp_path / "mastra.db"
    conn = sqlite3.connect(str(theirs))
    conn.executescript(contract_sql())
    conn.close()
    ours = tmp_path / "ours.db"
    SQLiteStore(ours).init()
    assert mastras(ours) == catalogue(theirs)


def _mastra_db(path: Path) -> dict[str, Any]:
    """A file as @mastra/libsql leaves it: contract DDL, JSON columns written as JSONB."""
    conn = new_sqlite().connect(str(path))
    conn.executescript(contract_sql())
    row: dict[str, Any] = {c.name: None for c in COLUMNS}
    row.update(traceId="a" * 32, spanId="b" * 16, name="mastra-agent", spanType="agent_run",
               isEvent=0, startedAt="2026-11-20T10:00:00.000Z", endedAt="2026-11-20T10:00:01.500Z",
               createdAt="2026-11-20T10:00:00.000Z", updatedAt="2026-11-20T10:00:01.500Z",
               entityType="agent", entityName="Mastra Agent", serviceName="ts-app")
    payload = {"attributes": {"model": "gpt-4o"}, "metadata": {"tier": "gold", "o": {"k": 1}},
               "input": {"messages": ["hi"]}, "output": {"text": "hello"}, "tags": ["ts"],
               "scope": {"core": "1.71.0"}}
    names = list(row)
    exprs = ["jsonb(?)" if n in payload else "?" for n in names]
    values = [json.dumps(payload[n]) if n in payload else row[n] for n in names]
    cols = ", ".join(f'"{n}"' for n in names)
    conn.execute(f"insert into mastra_ai_spans ({cols}) values ({', '.join(exprs)})", values)
    conn.commit()
    assert conn.execute("select typeof(input) from mastra_ai_spans").fetchone()[0] == "blob"
    conn.close()
    return payload


def test_reads_and_adopts_a_database_written_by_mastra(tmp_path):
    path = tmp_path / "mastra.db"
    payload = _mastra_db(path)
    store = SQLiteStore(path)
    store.init()  # adopts: no data loss, version row written
    assert current_revision(store.engine) == "0005"
    span = found(store.get_span("a" * 32, "b" * 16))
    assert span.input == payload["input"] and span.attributes == payload["attributes"]
    assert span.status == "success"
    page = store.list_traces()
    assert page.total == 1 and page.spans[0].name == "mastra-agent"
    assert page.spans[0].metadata == payload["metadata"]
    for f, n in ((TracesFilter(metadata={"tier": "gold"}, tags=["ts"]), 1),
                 (TracesFilter(metadata={"o": {"k": 1}}, scope={"core": "1.71.0"}), 1),
                 (TracesFilter(metadata={"tier": {"k": 1}}), 0),  # a string there: no match
                 (TracesFilter(tags=["py"]), 0)):
        assert store.list_traces(f).total == n, f
    store.init()
    SQLiteStore(path).init()  # a second migration run is a no-op
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql(f"select count(*) from {VERSION_TABLE}").scalar_one() == 1
        assert conn.exec_driver_sql("select count(*) from mastra_ai_spans").scalar_one() == 1


def test_the_store_runs_on_the_stdlib_sqlite3_whatever_the_url(tmp_path):
    for driver in ("sqlite", "libsql"):
        store = SQLiteStore(tmp_path / f"{driver}.db", driver=driver)
        assert store.engine.dialect.dbapi is sqlite3  # type: ignore[comparison-overlap]
        assert store.sqlite_version == sqlite3.sqlite_version
        assert store.provider == driver
        store.close()


@pytest.mark.parametrize("url", ["libsql://my-db.example.turso.io",
                                 "libsql://my-db.example.turso.io?authToken=secret",
                                 "libsql://127.0.0.1:8080"])
def test_a_libsql_server_url_is_refused_not_written_to_a_local_file(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidStoreURLError, match="names a libSQL server") as err:
        create_store(url)
    assert "secret" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_libsql_file_urls_are_local_paths(tmp_path: Path) -> None:
    for url in (f"libsql://{tmp_path / 'a.db'}", f"file:{tmp_path / 'b.db'}"):
        create_store(url, auto_migrate=True).close()
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["a.db", "b.db"]


JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "mastra_ai_spans": tuple(c.name for c in COLUMNS if c.kind == "json"),
    **{t.table: tuple(c.name for c in t.columns if c.kind in ("json", "tags"))
       for t in SIGNAL_TABLES.values()},
}


def jsonb_copy(source: Path, target: Path, every: int) -> int:
    """``target``: ``source`` with the JSON values of every ``every``-th row of each table
    turned into JSONB by a real SQLite, as a file both Mastra and this library wrote to
    looks. Returns how many values became blobs."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)  # committed pages, wherever they are (the WAL included)
    src.close()
    dst.close()
    conn = new_sqlite().connect(str(target))
    blobs = 0
    with conn:
        for table, cols in JSON_COLUMNS.items():
            sets = ", ".join(f'"{c}" = jsonb("{c}")' for c in cols)
            conn.execute(f"UPDATE {table} SET {sets} WHERE rowid % {every} = 0")
            blobs += sum(conn.execute(f'SELECT count(*) FROM {table} WHERE typeof("{c}") = '
                                      "'blob'").fetchone()[0] for c in cols)
    conn.close()
    return blobs


def every_json_read(store: SQLiteStore, seeded: Any) -> dict[str, Any]:
    """What every read that looks into JSON columns answers (span reads, trace-list
    filters, the trace query and its suggestions, signal filters, discovery, metrics)."""
    a = seeded.traces["agent"]
    window = {"from": iso(T0 - timedelta(hours=1)), "to": iso(T0 + timedelta(days=1))}

    def values(scope: str, path: str) -> Any:
        return store.trace_query_values(plan_suggestions(
            {"timeRange": window, "predicateScope": scope, "path": path}, with_path=True))

    filters = {
        "gold": TracesFilter(metadata={"tier": "gold"}), "n": TracesFilter(metadata={"n": 3}),
        "nested": TracesFilter(metadata={"deep": {"a": [1, {"b": None}]}}),
        "list": TracesFilter(metadata={"list": [1, "two"]}),
        "dict-on-text": TracesFilter(metadata={"tier": {"a": 1}}),
        "list-on-text": TracesFilter(metadata={"tier": ["gold"]}),
        "bool": TracesFilter(metadata={"flag": True}), "null": TracesFilter(metadata={"z": None}),
        "quote-key": TracesFilter(metadata={'k"\'$.x': "v"}),
        "scope": TracesFilter(scope={"core": "1.71.0"}),
        "tags": TracesFilter(tags=["vip", "beta"]), "tag": TracesFilter(tags=["beta"]),
    }
    return {
        "trace": store.get_trace(a), "light": store.list_traces_light(per_page=50),
        "spans": store.get_spans(a, ["a0", "a1", "a2"]),
        **{f"list {k}": [s.span_id for s in store.list_traces(f, per_page=50).spans]
           for k, f in filters.items()},
        **{f"query {i}": [r.trace_id for r in query(store, w).rows] for i, w in enumerate([
            eq("metadata.tier", "gold"), eq("metadata.deep", "x"),
            {"op": "includes", "path": "tags", "value": "vip"},
            {"op": "exists", "path": "tags"}, {"op": "notExists", "path": "tags"},
            {"spans": {"some": eq("model", "gpt-4o")}}])},
        "fields": store.trace_query_fields(plan_suggestions(
            {"timeRange": window, "predicateScope": "trace"}, with_path=False)),
        "tier values": values("trace", "metadata.tier"), "tag values": values("trace", "tags"),
        "models": values("spans", "model"), "providers": values("spans", "provider"),
        "tags": store.discover_tags(), "agent tags": store.discover_tags("agent"),
        "logs": store.list_logs(LogsFilter(tags=["vip"]), per_page=50),
        "scores": store.list_scores(ScoresFilter(metadata={"rubric": "v1"})),
        "metrics": store.list_metrics(MetricsFilter(labels={"status": "error"}), per_page=50),
        "label keys": store.discover_metric_label_keys("duration_ms"),
        "label values": store.discover_metric_label_values("duration_ms", "status"),
        "breakdown": store.metric_breakdown(
            MetricBreakdownRequest(("duration_ms",), ("status",))),
        "feedback": store.list_feedback(per_page=50),
    }


@pytest.mark.parametrize("every", [1, 2, 3], ids=["all-jsonb", "every-2nd", "every-3rd"])
def test_jsonb_rows_read_and_filter_as_their_text(tmp_path, every):
    """The same data, as text and with JSONB rows mixed in (Mastra and this library
    writing one file): every read that looks into JSON answers the same, on the stdlib
    SQLite, whose own JSON functions reject JSONB."""
    text_path = tmp_path / "text.db"
    store = SQLiteStore(text_path)
    store.init()
    seeded = seed_spans(store)
    seed_signals(store, seeded)
    t = tid()
    store.batch_create_spans([span(
        t, "m0", name="mixed", metadata={
            "tier": "bronze", "deep": {"a": [1, {"b": None}]}, "list": [1, "two"],
            "flag": True, "z": None, 'k"\'$.x': "v", "é": "ü"},
        scope={"core": "1.71.0"}, tags=["beta"])])
    want = every_json_read(store, seeded)
    store.close()
    assert want["list gold"] and want["list nested"] and want["list scope"]  # not vacuous
    assert want["list dict-on-text"] == want["list list-on-text"] == []
    mixed_path = tmp_path / "mixed.db"
    assert jsonb_copy(text_path, mixed_path, every) > 10
    mixed = SQLiteStore(mixed_path)
    mixed.init()
    got = every_json_read(mixed, seeded)
    assert {k: v for k, v in got.items() if v != want[k]} == {}
    mixed.close()


def test_wal_and_busy_timeout(tmp_path):
    store = SQLiteStore(tmp_path / "w.db")
    store.init()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 5000


WRITER = """
import sys
from mastra_storage import DefaultExporter, Observability, ObservabilityConfig, create_store
from mastra_storage.workload import run_workload
store = create_store(sys.argv[1])
obs = Observability(storage=store, configs={"default": ObservabilityConfig(
    service_name=sys.argv[2], exporters=[DefaultExporter(max_batch_size=50)])})
run_workload(obs.get_default_instance(), 100, spans_per_trace=5, seed=int(sys.argv[3]))
obs.shutdown()
exporter = obs.exporters[0]
sys.exit(0 if exporter.drops.total == 0 else 1)
"""


def test_several_processes_write_one_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"writer-{i}", str(i)])
             for i in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    store = SQLiteStore(tmp_path / "shared.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from mastra_ai_spans").scalar_one() == 1500
    from mastra_storage.storage import TracesFilter

    for i in range(3):
        assert store.list_traces(TracesFilter(service_name=f"writer-{i}")).total == 100


@pytest.mark.parametrize("driver", ["sqlite", "libsql"])
def test_ten_thousand_spans_exact_rows_in_contract_format(tmp_path, driver):
    store = SQLiteStore(tmp_path / "volume.db", driver=driver)
    store.init()
    recorder = RecordingExporter()
    exporter = DefaultExporter()
    obs = Observability(storage=store, configs={"default": ObservabilityConfig(
        service_name="volume", exporters=[exporter, recorder])})
    result = run_workload(obs.get_default_instance(), 1000, spans_per_trace=10, payload_bytes=64)
    obs.shutdown()
    assert result.spans == 10_000 and exporter.drops.total == 0
    ended = recorder.ended()
    assert len(ended) == 10_000
    assert_rows_match(store, dict(list(ended.items())[::97]))  # a spread sample, every field
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            'select "traceId", "spanId", "startedAt", "endedAt", "createdAt", "isEvent", '
            'input, output, typeof(input) from mastra_ai_spans').all()
    assert len(rows) == 10_000
    assert {(r[0], r[1]) for r in rows} == set(ended)
    for r in rows:
        assert ISO_MS_Z.match(r[2]) and ISO_MS_Z.match(r[3]) and ISO_MS_Z.match(r[4])
        assert r[5] in (0, 1)
        assert r[8] in ("text", "null")
        assert r[6] is None or isinstance(json.loads(r[6]), (dict, list))
