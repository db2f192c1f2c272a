"""The ``mastra-storage`` commands, run against real SQLite files.

One demo database is written per module (through the real tracing pipeline) and the read
commands are checked against what a store opened on the same file returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from mastra_storage import create_store
from mastra_storage.cli.main import app
from mastra_storage.storage.queries import Trace, TracesFilter, TracesOrderBy
from mastra_storage.storage.sql.migrate import current_revision

DEMO_TRACES = 6
DEMO_SPANS = 6

runner = CliRunner()


def invoke(*args: str) -> Any:
    # A wide terminal: the tables never have to cut a 32-character trace id.
    return runner.invoke(app, list(args), env={"COLUMNS": "240"})


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    path = tmp_path_factory.mktemp("cli") / "demo.db"
    result = invoke("demo", "--db", str(path), "--traces", str(DEMO_TRACES),
                    "--spans-per-trace", str(DEMO_SPANS), "--error-rate", "0.5")
    assert result.exit_code == 0, result.output
    yield path, result


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _all_roots(path: Path) -> list[Any]:
    store = create_store(_url(path), init=False)
    try:
        return store.list_traces(per_page=100).spans
    finally:
        store.close()


def _trace(path: Path, trace_id: str) -> Trace:
    store = create_store(_url(path), init=False)
    try:
        trace = store.get_trace(trace_id)
    finally:
        store.close()
    assert trace is not None
    return trace


# ---------------------------------------------------------------------------- demo

def test_demo_summary_is_counted_from_the_database(demo_db: tuple[Path, Any]) -> None:
    path, result = demo_db
    out = result.stdout
    roots = _all_roots(path)
    failed = [r.trace_id for r in roots if r.status == "error"]
    assert len(roots) == DEMO_TRACES
    assert failed, "error-rate 0.5 must produce at least one failed trace"
    assert f"traces written       {DEMO_TRACES} (generated {DEMO_TRACES})" in out
    spans_in_db = sum(len(_trace(path, r.trace_id).spans) for r in roots)
    assert spans_in_db == DEMO_TRACES * DEMO_SPANS
    assert f"spans written        {spans_in_db} (generated {spans_in_db})" in out
    assert f"failed traces        {len(failed)}" in out
    assert "batch-with-updates" in out
    assert ("buffer-full=0, retry-exhausted=0, unsupported-storage=0, after-shutdown=0"
            in out)
    # The next commands are exact and point at a real (failed) trace of this database.
    assert f"mastra-storage traces list {_url(path)}" in out
    assert f"mastra-storage traces show {_url(path)} {failed[0][:12]}" in out
    assert f"mastra-storage studio {_url(path)}" in out  # and where to look at it


def test_demo_again_counts_only_its_own_traces(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    for _ in range(2):
        result = invoke("demo", "--db", str(path), "--traces", "2", "--spans-per-trace", "3")
        assert result.exit_code == 0, result.output
        assert "traces written       2 (generated 2)" in result.stdout
        assert "spans written        6 (generated 6)" in result.stdout
    assert len(_all_roots(path)) == 4


def test_demo_rejects_a_directory_as_db(tmp_path: Path) -> None:
    result = invoke("demo", "--db", str(tmp_path), "--traces", "1")
    assert result.exit_code == 2
    assert "is not a file" in result.output


def test_console_script_demo_on_a_base_install(tmp_path: Path) -> None:
    """The installed script, with every driver extra made unimportable."""
    script = Path(sys.executable).with_name("mastra-storage")
    if not script.exists():
        pytest.skip("console script not installed next to the interpreter")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        BLOCKED = {"psycopg", "pymongo", "clickhouse_connect", "chdb", "libsql", "pyodbc"}
        class _Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is blocked (base install)")
                return None
        sys.meta_path.insert(0, _Block())
    """))
    db = tmp_path / "sub" / "base.db"  # the parent directory is created by the demo
    env = {**os.environ, "PYTHONPATH": str(blocker), "COLUMNS": "240"}
    proc = subprocess.run([str(script), "demo", "--db", str(db), "--traces", "3"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(_all_roots(db)) == 3
    assert "traces written       3 (generated 3)" in proc.stdout


# ---------------------------------------------------------------------------- list

def test_list_shows_the_traces_of_the_database(demo_db: tuple[Path, Any]) -> None:
    path, _ = demo_db
    roots = _all_roots(path)
    result = invoke("traces", "list", _url(path), "--per-page", "50")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "support-agent" in line]
    assert len(rows) == len(roots) == DEMO_TRACES
    # Newest first, the same order as the store's default.
    for row, root in zip(rows, roots, strict=True):
        assert root.trace_id[:12] in row  # short ids, like git's
        assert root.status in row
        assert "support-demo" in row
        assert (root.user_id or "—") in row
    assert f"1-{DEMO_TRACES} of {DEMO_TRACES} trace(s)" in result.stdout


def test_list_json_and_filters_match_the_store(demo_db: tuple[Path, Any]) -> None:
    path, _ = demo_db
    roots = _all_roots(path)
    result = invoke("traces", "list", _url(path), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == DEMO_TRACES and data["hasMore"] is False
    assert [t["traceId"] for t in data["traces"]] == [r.trace_id for r in roots]
    assert all(t["name"] == "support-agent" and t["spanType"] == "agent_run"
               for t in data["traces"])
    assert all(t["startedAt"].endswith("Z") for t in data["traces"])

    errors = json.loads(invoke("traces", "list", _url(path), "--status", "error",
                               "--json").stdout)
    assert {t["traceId"] for t in errors["traces"]} == {
        r.trace_id for r in roots if r.status == "error"}
    assert all(t["status"] == "error" for t in errors["traces"])

    user = roots[0].user_id
    assert user is not None
    by_user = json.loads(invoke("traces", "list", _url(path), "--user", user,
                                "--tag", "support", "--json").stdout)
    assert {t["traceId"] for t in by_user["traces"]} == {
        r.trace_id for r in roots if r.user_id == user}

    nothing = json.loads(invoke("traces", "list", _url(path), "--service", "other",
                                "--json").stdout)
    assert nothing == {"total": 0, "page": 0, "perPage": 20, "hasMore": False, "traces": []}


def test_list_paging_and_order(demo_db: tuple[Path, Any]) -> None:
    path, _ = demo_db
    store = create_store(_url(path), init=False)
    try:
        oldest_first = [s.trace_id for s in store.list_traces(
            TracesFilter(), per_page=100, order_by=TracesOrderBy("startedAt", "ASC")).spans]
    finally:
        store.close()
    result = invoke("traces", "list", _url(path), "--asc", "--page", "1", "--per-page", "2",
                    "--json")
    data = json.loads(result.stdout)
    assert [t["traceId"] for t in data["traces"]] == oldest_first[2:4]
    assert data["page"] == 1 and data["hasMore"] is True

    table = invoke("traces", "list", _url(path), "--asc", "--page", "1", "--per-page", "2")
    assert "3-4 of 6 trace(s)" in table.stdout and "next: --page 2" in table.stdout


def test_list_since(demo_db: tuple[Path, Any]) -> None:
    path, _ = demo_db
    future = invoke("traces", "list", _url(path), "--since", "2999-01-01T00:00:00Z", "--json")
    assert json.loads(future.stdout)["total"] == 0
    recent = invoke("traces", "list", _url(path), "--since", "1d", "--json")
    assert json.loads(recent.stdout)["total"] == DEMO_TRACES
    bad = invoke("traces", "list", _url(path), "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output


# ---------------------------------------------------------------------------- show

def test_show_tree_of_a_failed_trace(demo_db: tuple[Path, Any]) -> None:
    path, _ = demo_db
    failed = next(r for r in _all_roots(path) if r.status == "error")
    trace = _trace(path, failed.trace_id)
    result = invoke("traces", "show", _url(path), failed.trace_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert failed.trace_id in out
    assert len(trace.spans) == DEMO_SPANS
    for span in trace.spans:
        assert span.name in out and span.span_id[:8] in out
    assert failed.error["message"] in out
    assert "✗ support-agent" in out
    # Nesting: a child span's line is indented deeper than its parent's.
    lines = out.splitlines()

    def depth(span_id: str) -> int:
        line = next(x for x in lines if span_id[:8] in x)
        return len(line) - len(line.lstrip(" │├└─"))

    root = trace.root
    assert root is not None
    for span in trace.spans:
        if span.parent_span_id is not None:
            assert depth(span.span_id) > depth(span.parent_span_id)


def test_show_json(demo_db: tuple[Path, Any]) -> None:
    path, _ = demo_db
    root = _all_roots(path)[0]
    trace = _trace(path, root.trace_id)
    result = invoke("traces", "show", _url(path), root.trace_id, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["traceId"] == root.trace_id and data["status"] == root.status
    assert [s["spanId"] for s in data["spans"]] == [s.span_id for s in trace.spans]
    assert data["spanCount"] == len(trace.spans)


def test_show_unknown_trace(demo_db: tuple[Path, Any]) -> None:
    path, _ = demo_db
    result = invoke("traces", "show", _url(path), "0" * 32)
    assert result.exit_code == 1
    assert "no trace" in result.output and "0" * 32 in result.output


# ---------------------------------------------------------------------------- migrate

def test_migrate_twice_second_is_a_noop(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = invoke("migrate", _url(path))
    assert first.exit_code == 0, first.output
    engine = sa.create_engine(_url(path))
    try:
        revision = current_revision(engine)
        assert revision is not None
        assert sa.inspect(engine).has_table("mastra_ai_spans")
    finally:
        engine.dispose()
    assert "before    <none>" in first.stdout
    assert f"after     {revision}" in first.stdout
    assert f"upgraded <none> → {revision}" in first.stdout

    second = invoke("migrate", _url(path))
    assert second.exit_code == 0, second.output
    assert f"before    {revision}" in second.stdout
    assert f"after     {revision}" in second.stdout
    assert "nothing to do (no-op)" in second.stdout


def test_migrate_sql_prints_ddl_without_touching_the_db(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    result = invoke("migrate", _url(path), "--sql")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE mastra_ai_spans" in result.stdout
    assert '"traceId" TEXT NOT NULL' in result.stdout
    assert not path.exists()


@pytest.mark.parametrize("url, message", [
    ("bogus://host/db", "unknown store URL scheme 'bogus'"),
    ("not-a-url", "not a store URL"),
    ("sqlite:relative.db", "SQLite URLs look like"),
])
def test_migrate_bad_url_is_a_one_line_usage_error(url: str, message: str) -> None:
    result = invoke("migrate", url)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_migrate_missing_driver_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an install without the extra sees
    result = invoke("migrate", "postgresql://u@127.0.0.1:9/db")
    assert result.exit_code == 2
    assert "mastra-storage[postgres]" in result.output
    assert "Traceback" not in result.output


def test_libsql_file_urls_need_no_package(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """file: URLs go through the stdlib sqlite3 (one SQLite library per process)."""
    monkeypatch.setitem(sys.modules, "libsql", None)
    result = invoke("migrate", f"file:{tmp_path / 'x.db'}")
    assert result.exit_code == 0, result.output


def test_migrate_clickhouse_without_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mastra_storage.storage.clickhouse", None)
    result = invoke("migrate", "clickhouse://localhost:8123/default")
    assert result.exit_code == 2
    assert "mastra_storage.storage.clickhouse is missing" in result.output


def test_migrate_option_misuse(tmp_path: Path) -> None:
    schema = invoke("migrate", _url(tmp_path / "x.db"), "--schema", "obs")
    assert schema.exit_code == 2 and "--schema" in schema.output
    sql = invoke("migrate", "mongodb://localhost/db", "--sql")
    assert sql.exit_code == 2 and "--sql is only available" in sql.output
    assert not (tmp_path / "x.db").exists()


# ---------------------------------------------------------------------------- errors

def test_read_commands_on_missing_or_empty_databases(tmp_path: Path) -> None:
    missing = invoke("traces", "list", _url(tmp_path / "nope.db"))
    assert missing.exit_code == 2 and "no SQLite database" in missing.output
    assert not (tmp_path / "nope.db").exists()

    empty = tmp_path / "empty.db"
    engine = sa.create_engine(_url(empty))
    with engine.begin() as conn:
        conn.exec_driver_sql("create table other (x integer)")
    engine.dispose()
    result = invoke("traces", "show", _url(empty), "a" * 32)
    assert result.exit_code == 1
    assert "no such table" in result.output and "mastra-storage migrate" in result.output
    assert "Traceback" not in result.output
