"""SQLite/libSQL against Mastra's contract: schema, formats, JSONB, adoption, WAL, volume."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
from mastra_storage.model.spans import COLUMNS
from mastra_storage.storage.sql.migrate import VERSION_TABLE, current_revision
from mastra_storage.storage.sql.sqlite import JsonbUnsupportedError, SQLiteStore, sqlite_module
from mastra_storage.workload import run_workload

from .backends import skip_unless_required
from .helpers import RecordingExporter, contract_text, found
from .test_exporter_strategies import assert_rows_match

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def contract_sql() -> str:
    return contract_text("sqlite.mastra_ai_spans.sql")


def catalogue(path: Path) -> tuple[list[Any], list[Any]]:
    mod = sqlite_module()
    conn = mod.connect(str(path))
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


def test_schema_matches_the_contract(tmp_path):
    theirs = tmp_path / "mastra.db"
    conn = sqlite_module().connect(str(theirs))
    conn.executescript(contract_sql())
    conn.close()
    ours = tmp_path / "ours.db"
    SQLiteStore(ours).init()
    assert catalogue(ours) == catalogue(theirs)


def _mastra_db(path: Path) -> dict[str, Any]:
    """A file as @mastra/libsql leaves it: contract DDL, JSON columns written as JSONB."""
    mod = sqlite_module()
    conn = mod.connect(str(path))
    conn.executescript(contract_sql())
    row: dict[str, Any] = {c.name: None for c in COLUMNS}
    row.update(traceId="a" * 32, spanId="b" * 16, name="mastra-agent", spanType="agent_run",
               isEvent=0, startedAt="2026-11-20T10:00:00.000Z", endedAt="2026-11-20T10:00:01.500Z",
               createdAt="2026-11-20T10:00:00.000Z", updatedAt="2026-11-20T10:00:01.500Z",
               entityType="agent", entityName="Mastra Agent", serviceName="ts-app")
    payload = {"attributes": {"model": "gpt-4o"}, "metadata": {"tier": "gold"},
               "input": {"messages": ["hi"]}, "output": {"text": "hello"}, "tags": ["ts"]}
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
    assert current_revision(store.engine) == "0002"
    span = found(store.get_span("a" * 32, "b" * 16))
    assert span.input == payload["input"] and span.attributes == payload["attributes"]
    assert span.status == "success"
    page = store.list_traces()
    assert page.total == 1 and page.spans[0].name == "mastra-agent"
    from mastra_storage.storage import TracesFilter

    assert store.list_traces(TracesFilter(metadata={"tier": "gold"}, tags=["ts"])).total == 1
    store.init()
    SQLiteStore(path).init()  # a second migration run is a no-op
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql(f"select count(*) from {VERSION_TABLE}").scalar_one() == 1
        assert conn.exec_driver_sql("select count(*) from mastra_ai_spans").scalar_one() == 1


def test_old_sqlite_gives_a_clear_error_on_jsonb(tmp_path):
    if sqlite3.sqlite_version_info >= (3, 45, 0):
        pytest.skip("the stdlib SQLite here already reads JSONB")
    path = tmp_path / "mastra.db"
    _mastra_db(path)
    engine = sa.create_engine(f"sqlite:///{path}", module=sqlite3)
    store = SQLiteStore(path, engine=engine, auto_migrate=False)
    with pytest.raises(JsonbUnsupportedError, match=r"3\.45"):
        store.get_span("a" * 32, "b" * 16)


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
    if driver == "libsql":
        try:
            import libsql  # noqa: F401
        except ImportError:
            skip_unless_required("the libsql package is not installed", "libsql")
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
