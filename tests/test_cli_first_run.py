"""The first run, as a new user has it: an 80-column terminal, the README's commands, and
every way the command line used to hurt (one test, or more, per item of that report).

Commands run through typer's runner with ``COLUMNS=80`` or as real subprocesses; stores
are real SQLite files, a real PostgreSQL server, a real MongoDB-wire server.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mastra_storage import create_store
from mastra_storage.cli.main import app
from mastra_storage.model.spans import SpanRecord

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=timezone.utc)


def invoke(*args: str, columns: int = 80, **env: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns), **env})


def script() -> Path:
    path = Path(sys.executable).with_name("mastra-storage")
    if not path.exists():
        pytest.skip("console script not installed next to the interpreter")
    return path


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "80", **(env or {})}
    return subprocess.run([str(script()), *args], capture_output=True, text=True, env=full,
                          cwd=cwd, timeout=timeout, **kwargs)


def span(trace: str, span_id: str, name: str, *, parent: str | None = None,
         offset_ms: int = 0, duration_ms: int | None = 20, error: Any = None,
         **fields: Any) -> SpanRecord:
    start = T0 + timedelta(milliseconds=offset_ms)
    return SpanRecord(trace_id=trace, span_id=span_id, name=name,
                      span_type=fields.pop("span_type", "agent_run" if parent is None
                                           else "tool_call"),
                      started_at=start, parent_span_id=parent,
                      ended_at=None if duration_ms is None
                      else start + timedelta(milliseconds=duration_ms),
                      error=error, **fields)


# Three traces with known ids: A's root succeeded but a tool call failed, B's root failed,
# C is clean; the ids share prefixes so prefix resolution is exercised.
A = "abc1230000000000000000000000000a"
B = "abc1240000000000000000000000000b"
C = "ffee000000000000000000000000000c"


@pytest.fixture
def known(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'known.db'}"
    store = create_store(url)
    store.batch_create_spans([
        span(A, "a000000000000001", "support-agent", service_name="shop", environment="prod",
             user_id="u-1", session_id="s-1", thread_id="t-1", entity_type="agent",
             entity_name="support-agent", metadata={"tier": "pro", "n": 5},
             tags=["support", "eu"], input={"q": "where is my parcel"}),
        span(A, "a000000000000002", "search_orders", parent="a000000000000001",
             offset_ms=5, duration_ms=5, error={"message": "search_orders timed out"}),
        span(B, "b000000000000001", "support-agent", offset_ms=1000, service_name="shop",
             environment="dev", user_id="u-2", error={"message": "escalation failed"},
             entity_type="agent", entity_name="support-agent", metadata={"tier": "free"}),
        span(C, "c000000000000001", "nightly-sync", offset_ms=2000, span_type="workflow_run",
             service_name="batch", environment="prod", user_id="u-3",
             entity_type="workflow_run", entity_name="nightly-sync"),
        span(C, "c000000000000002", "step", parent="c000000000000001", offset_ms=2001,
             span_type="workflow_step"),
    ])
    store.close()
    return url


def ids(result: Any) -> list[str]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["traceId"] for line in result.stdout.splitlines() if line]


# ---------------------------------------------------------------------------- 1. columns

@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("first-run") / "mastra.db"
    result = invoke("demo", "--db", str(path), "--traces", "8", "--error-rate", "0.5")
    assert result.exit_code == 0, result.output
    return f"sqlite:///{path}"


def test_list_fits_80_columns_with_short_ids_and_every_status(demo_url: str) -> None:
    store = create_store(demo_url, init=False)
    roots = store.list_traces(per_page=100).spans
    store.close()
    result = invoke("traces", "list", demo_url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    rows = [line for line in lines if re.match(r"^[0-9a-f]{12}\s", line)]
    assert len(rows) == len(roots)
    for row, root in zip(rows, roots, strict=True):
        assert row.startswith(root.trace_id[:12] + " ")
        assert root.status in row  # the status column is never dropped
        assert "support-agent" in row  # nor cut to nothing
    header = next(line for line in lines if line.startswith("trace "))
    assert header.split()[:3] == ["trace", "name", "status"]


def test_narrow_and_wide_terminals_drop_and_restore_columns(demo_url: str) -> None:
    def header(lines: list[str]) -> str:
        return next(line for line in lines if line.startswith("trace "))

    narrow = invoke("traces", "list", demo_url, columns=60).stdout.splitlines()
    assert all(len(line) <= 60 for line in narrow)
    assert "status" in header(narrow) and "service" not in header(narrow)
    wide = header(invoke("traces", "list", demo_url, columns=160).stdout.splitlines())
    for name in ("service", "user", "type", "duration"):
        assert name in wide


def test_show_takes_a_prefix_in_any_case(known: str) -> None:
    for given in (A[:7].upper(), "ABC123", A, "ffee"):
        result = invoke("traces", "show", known, given)
        assert result.exit_code == 0, result.output
        assert (C if given == "ffee" else A) in result.stdout
    ambiguous = invoke("traces", "show", known, "abc12")
    assert ambiguous.exit_code == 2
    assert "matches 2 traces" in ambiguous.output and "more characters" in ambiguous.output
    missing = invoke("traces", "show", known, "0123")
    assert missing.exit_code == 1 and "no trace id starts with '0123'" in missing.output


def test_machine_formats_are_complete(demo_url: str) -> None:
    full = json.loads(invoke("traces", "list", demo_url, "--json").stdout)
    wanted = [t["traceId"] for t in full["traces"]]
    assert all(len(t) == 32 for t in wanted)
    assert ids(invoke("traces", "list", demo_url, "--format", "jsonl")) == wanted
    rows = list(csv.DictReader(io.StringIO(
        invoke("traces", "list", demo_url, "-f", "csv").stdout)))
    assert [r["traceId"] for r in rows] == wanted
    assert {r["status"] for r in rows} <= {"success", "error", "running"}
    assert all(r["durationMs"] for r in rows)


# ---------------------------------------------------------------------------- 2. schemas

def test_one_way_to_name_a_postgres_schema(db: str) -> None:
    url = db
    with_query = f"{url}?schema=obs"
    assert invoke("migrate", url, "--schema", "obs").exit_code == 0
    demo = invoke("demo", "--url", with_query, "--traces", "3", "--latency-ms", "0")
    assert demo.exit_code == 0, demo.output
    by_query = ids(invoke("traces", "list", with_query, "-f", "jsonl"))
    by_option = ids(invoke("traces", "list", url, "--schema", "obs", "-f", "jsonl"))
    assert len(by_query) == 3 and by_query == by_option
    shown = invoke("traces", "show", url, by_query[0][:10], "--schema", "obs")
    assert shown.exit_code == 0, shown.output
    store = create_store(with_query)  # the API reads the same URL
    try:
        assert getattr(store, "schema", None) == "obs"
        assert store.list_traces().total == 3
    finally:
        store.close()
    # the default schema has no tables: the hint names the schema options
    public = invoke("traces", "list", url)
    assert public.exit_code == 1 and "--schema" in public.output
    clash = invoke("traces", "list", with_query, "--schema", "other")
    assert clash.exit_code == 2 and "name it once" in clash.output
    assert invoke("traces", "list", "sqlite:///x.db", "--schema", "obs").exit_code == 2


# ---------------------------------------------------------------------------- 3. hints

def test_each_connection_error_has_its_own_hint(pg: Any) -> None:
    base = pg.url.rsplit("/", 1)[0]
    nodb = invoke("migrate", f"{base}/nosuchdb_{os.getpid()}")
    assert nodb.exit_code == 1
    assert "does not exist" in nodb.output and "createdb" in nodb.output
    assert "mastra-storage migrate" not in nodb.output  # not the command that just failed
    listed = invoke("traces", "list", f"{base}/nosuchdb_{os.getpid()}")
    assert "createdb" in listed.output and "mastra-storage migrate" in listed.output

    host = base.split("@", 1)[1]
    norole = invoke("migrate", f"postgresql://nosuchrole@{host}/postgres")
    assert norole.exit_code == 1
    assert "nosuchrole" in norole.output and "CREATE ROLE" in norole.output
    assert "mastra-storage migrate" not in norole.output and "createdb" not in norole.output


def test_missing_tables_point_at_migrate(tmp_path: Path) -> None:
    import sqlalchemy as sa

    path = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("create table other (x integer)")
    engine.dispose()
    result = invoke("traces", "list", f"sqlite:///{path}")
    assert result.exit_code == 1
    assert f"mastra-storage migrate sqlite:///{path}" in result.output


# ---------------------------------------------------------------------------- 4. filters

def test_failed_tool_calls_can_be_found(known: str) -> None:
    assert ids(invoke("traces", "list", known, "--status", "error", "-f", "jsonl")) == [B]
    assert ids(invoke("traces", "list", known, "--has-child-error", "-f", "jsonl")) == [B, A]
    assert ids(invoke("traces", "list", known, "--no-child-error", "-f", "jsonl")) == [C]


@pytest.mark.parametrize("args, expected", [
    (("--until", "2026-11-20T10:00:00.500Z"), [A]),
    (("--since", "2026-11-20T10:00:00.500Z"), [C, B]),
    (("--span-type", "workflow_run"), [C]),
    (("--environment", "prod"), [C, A]),
    (("--env", "dev"), [B]),
    (("--entity", "support-agent"), [B, A]),
    (("--entity", "workflow_run:nightly-sync"), [C]),
    (("--entity-type", "agent"), [B, A]),
    (("--metadata", "tier=pro"), [A]),
    (("--metadata", "n=5"), [A]),
    (("--metadata", "tier=pro", "--metadata", "n=6"), []),
    (("--user", "u-2"), [B]),
    (("--session", "s-1", "--thread", "t-1"), [A]),
    (("--service", "shop", "--tag", "eu"), [A]),
    (("--search", "PARCEL"), [A]),
    (("--search", "escalation"), [B]),
    (("-s", "nightly"), [C]),
])
def test_every_filter_is_an_option(known: str, args: tuple[str, ...],
                                   expected: list[str]) -> None:
    assert ids(invoke("traces", "list", known, *args, "-f", "jsonl")) == expected


def test_bad_filter_values_are_usage_errors(known: str) -> None:
    for args in (("--metadata", "novalue"), ("--until", "someday")):
        result = invoke("traces", "list", known, *args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ")


# ---------------------------------------------------------------------------- 5. writes

def test_demo_into_an_unwritable_place_fails_at_once_with_the_path() -> None:
    result = run("demo", "--db", "/proc/mastra-x.db", "--traces", "2")
    assert result.returncode == 1
    assert "/proc/mastra-x.db" in result.stderr
    assert "Next:" not in result.stdout and "retry" not in result.stderr.lower()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other processes can reach (pytest's tmp dirs are private)."""
    path = Path(tempfile.mkdtemp(prefix="mastra-cli-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _read_only(directory: Path, db: Path, cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` where ``db`` can't be written: a read-only file for a normal user; for
    root (who writes read-only files anyway) the directory bind-mounted read-only in a
    private mount namespace."""
    env = {**os.environ, "COLUMNS": "80"}
    if os.geteuid() != 0:
        db.chmod(0o444)
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare(1): can't make a file read-only")
    shell = (f"mount --bind {directory} {directory} && "
             f"mount -o remount,bind,ro {directory} {directory} && exec \"$@\"")
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", shell, "sh", *cmd],
                          capture_output=True, text=True, env=env, timeout=120)
    if "mount:" in proc.stderr or "unshare:" in proc.stderr:
        pytest.skip(f"can't mount read-only here: {proc.stderr.strip()}")
    return proc


def test_a_read_only_database_is_refused_up_front(shared_dir: Path) -> None:
    db = shared_dir / "ro.db"
    store = create_store(f"sqlite:///{db}")
    store.close()

    cli = _read_only(shared_dir, db, [str(script()), "demo", "--db", str(db), "--traces", "2"])
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert str(db) in cli.stderr and "read-only" in cli.stderr
    assert "Next:" not in cli.stdout and "dropped" not in cli.stderr

    api = f"from mastra_storage import create_store; create_store('sqlite:///{db}')"
    proc = _read_only(shared_dir, db, [sys.executable, "-c", api])
    assert proc.returncode == 1
    assert "StoreFileError" in proc.stderr and str(db) in proc.stderr
    assert "read-only" in proc.stderr


def test_a_corrupt_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes, not a database\n" * 10)
    for args in (("traces", "list", f"sqlite:///{bad}"), ("demo", "--db", str(bad))):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        assert str(bad) in result.output and "not a SQLite database" in result.output
    with pytest.raises(OSError, match="not a SQLite database"):
        create_store(f"sqlite:///{bad}")


# ---------------------------------------------------------------------------- 6. dead servers

@pytest.mark.parametrize("url, label", [
    ("mongodb://127.0.0.1:1/x", "MongoDB"),
    ("clickhouse://127.0.0.1:1/x", "ClickHouse"),
    ("postgresql://u@127.0.0.1:1/x", "PostgreSQL"),
])
def test_a_dead_server_is_one_clear_line(url: str, label: str) -> None:
    result = invoke("traces", "list", url, MASTRA_STORAGE_CONNECT_TIMEOUT="1")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"error: cannot reach {label} at 127.0.0.1:1: connection refused"
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert "Topology" not in result.output and "Unexpected" not in result.output


# ---------------------------------------------------------------------------- 7. chdb

def test_a_chdb_directory_in_use_says_so_and_what_to_do(shared_dir: Path) -> None:
    pytest.importorskip("chdb")
    data = shared_dir / "chdata"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from mastra_storage import create_store
            store = create_store("chdb:///{data}")
            print("ready", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = run("traces", "list", f"chdb:///{data}")
    finally:
        holder.communicate("", timeout=60)
    assert result.returncode == 1
    assert "in use by another process" in result.stderr
    assert "ClickHouse server" in result.stderr and "through the app" in result.stderr
    assert "Code: 76" not in result.stderr  # chdb's own stderr line is kept out


# ---------------------------------------------------------------------------- 8. bench

def test_bench_help_is_readable_at_80_columns() -> None:
    result = invoke("bench", "--help")
    assert result.exit_code == 0
    text = result.stdout
    assert "[default: 1000; 10000 with --memory-check]" in " ".join(text.split())
    for option in ("--spans-per-trace", "--max-batch-wait-ms", "--payload-bytes", "--outage",
                   "--baseline / --no-baseline"):
        assert option in text
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())


def test_bench_headline_is_the_pipeline_ratio(tmp_path: Path) -> None:
    result = invoke("bench", "--store", f"sqlite:///{tmp_path / 'b.db'}", "--traces", "10",
                    "--spans-per-trace", "4", "--payload-bytes", "32", "--no-otel")
    assert result.exit_code == 0, result.output
    verdict = next(line for line in result.stdout.splitlines() if line.startswith("targets:"))
    # The pipeline ratio leads (the README's figure); the end-to-end comparisons follow,
    # each with its own target, and the hot path closes the line.
    assert verdict.startswith("targets: pipeline ratio ")
    parts = verdict.removeprefix("targets: ").split("; ")
    assert [p.split(" (")[0].rsplit(" ", 1)[0] for p in parts[:3]] == [
        "pipeline ratio", "end-to-end ratio", "end-to-end / OpenTelemetry peer"]
    assert "(target >= 0.70)" in parts[1] and "(target >= 1.00)" in parts[2]
    assert parts[-1].startswith("hot path median")


def test_long_commands_show_progress(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    demo = invoke("demo", "--db", str(db), "--traces", "3", TTY_COMPATIBLE="1")
    assert demo.exit_code == 0, demo.output
    assert "simulating agent runs" in demo.stderr
    pruned = invoke("prune", f"sqlite:///{db}", "--older-than", "0s", "--yes",
                    TTY_COMPATIBLE="1")
    assert pruned.exit_code == 0, pruned.output
    assert "pruning" in pruned.stderr
    bench = invoke("bench", "--store", f"sqlite:///{tmp_path / 'b.db'}", "--traces", "5",
                   "--spans-per-trace", "3", "--no-otel", "--no-baseline", "--no-pipeline",
                   TTY_COMPATIBLE="1")
    assert bench.exit_code == 0, bench.output
    assert "benchmarking" in bench.stderr


def test_migrate_backfill_shows_progress(mongo: Any) -> None:
    url = mongo.url.rsplit("/", 1)[0] + f"/cli_backfill_{os.getpid()}"
    store: Any = create_store(url, init=True)
    store.batch_create_spans([span("d" * 32, "d" * 16, "old")])
    store.collection.update_many({}, {"$set": {"startedAt": "2026-11-20T10:00:00.000Z"}})
    store.close()
    result = invoke("migrate", url, "--backfill", TTY_COMPATIBLE="1")
    assert result.exit_code == 0, result.output
    assert "1 document(s) converted" in result.stdout
    assert "backfill" in result.stderr


# ---------------------------------------------------------------------------- 9. smaller

def test_unknown_strategy_lists_the_valid_ones() -> None:
    from mastra_storage import DefaultExporter

    with pytest.raises(ValueError, match="batch-with-updates, insert-only"):
        DefaultExporter(strategy="fast")


def test_version() -> None:
    from mastra_storage import __version__

    for flag in ("--version", "-V"):
        result = invoke(flag)
        assert result.exit_code == 0
        assert result.stdout.startswith(f"mastra-storage {__version__}")


def test_the_store_url_from_the_environment(known: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(ids(invoke("traces", "list", "-f", "jsonl", MASTRA_STORAGE_URL=known))) == 3
    assert invoke("traces", "show", "ffee", MASTRA_STORAGE_URL=known).exit_code == 0
    assert invoke("stats", MASTRA_STORAGE_URL=known).exit_code == 0
    monkeypatch.setenv("MASTRA_STORAGE_URL", known)
    store = create_store()
    try:
        assert store.list_traces().total == 3
    finally:
        store.close()
    # unset: ./mastra.db
    monkeypatch.delenv("MASTRA_STORAGE_URL")
    monkeypatch.chdir(tmp_path)
    create_store().close()
    assert (tmp_path / "mastra.db").is_file()


def test_errors_are_one_style(known: str) -> None:
    for args in (("traces", "list", known, "--per-page", "0"), ("traces", "lst"),
                 ("prune", known), ("traces", "list", "not-a-url")):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: "), result.output
        assert "╭" not in result.output and "Traceback" not in result.output


def test_the_readme_python_example_prints_the_trace(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using it", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "support-agent" in proc.stdout and "gpt-4o" in proc.stdout


def test_piped_output_has_no_trailing_spaces(tmp_path: Path) -> None:
    db = tmp_path / "piped.db"
    for args in (("demo", "--db", str(db), "--traces", "3"),
                 ("traces", "list", f"sqlite:///{db}"), ("stats", f"sqlite:///{db}")):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        trailing = [line for line in result.stdout.splitlines() if line != line.rstrip()]
        assert not trailing, trailing


# ---------------------------------------------------------------------------- 10. machine

def test_system_deps_installs_server_binaries_and_starts_nothing() -> None:
    text = (ROOT / ".ci" / "system-deps").read_text(encoding="utf-8")
    packages = re.findall(r"missing\+=\(([^)]*)\)", text)
    assert "postgresql" not in packages  # the metapackage creates and starts a cluster
    assert any(p.startswith("postgresql-") for p in packages)
    assert "create_main_cluster = false" in text
    assert "policy-rc.d" in text and "exit 101" in text
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "system-deps")]).returncode == 0


def test_readme_says_what_a_fresh_debian_needs_first() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    before_commands = readme.split("```bash", 1)[0] + readme.split("```bash", 1)[1].split(
        "```", 1)[0]
    assert "python3-venv" in before_commands


def test_readme_shows_real_80_column_output() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cli = readme.split("### Command line", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```text\n(.*?)```", cli, flags=re.S)
    assert any("$ mastra-storage traces list" in b for b in blocks)
    assert any("$ mastra-storage traces show" in b for b in blocks)
    for block in blocks:
        assert all(len(line) <= 80 for line in block.splitlines()), block
