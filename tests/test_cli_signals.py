"""The commands around the five signals: the demo emits them, ``traces show`` lists a
trace's logs, scores and feedback (and says so when a store can't), ``stats`` and
``prune`` keep a database bounded, ``tail`` follows, ``export``/``import`` move traces,
``reliability`` (and ``bench --outage``) runs the outage scenario.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from mastra_storage import create_store
from mastra_storage.cli.main import app
from mastra_storage.cli.records import line_of, record_of
from mastra_storage.model.signals import FeedbackRecord, LogRecord, MetricRecord, ScoreRecord
from mastra_storage.model.spans import SpanRecord
from mastra_storage.storage.signal_queries import LogsFilter, ScoresFilter

runner = CliRunner()


def invoke(*args: str, columns: int = 80, **env: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns), **env})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    path = tmp_path_factory.mktemp("signals") / "demo.db"
    result = invoke("demo", "--db", str(path), "--traces", "6", "--error-rate", "0.5",
                    "--latency-ms", "0")
    assert result.exit_code == 0, result.output
    yield f"sqlite:///{path}", result


def _store(url: str) -> Any:
    return create_store(url, init=False)


# ---------------------------------------------------------------------------- demo

def test_the_demo_emits_all_five_signals(demo: tuple[str, Any]) -> None:
    url, result = demo
    store = _store(url)
    try:
        stats = store.stats()
    finally:
        store.close()
    for signal in ("spans", "logs", "metrics", "scores", "feedback"):
        assert stats[signal]["rows"] > 0, signal
    out = result.stdout
    assert f"logs written         {stats['logs']['rows']} (emitted {stats['logs']['rows']})" in out
    assert f"scores written       {stats['scores']['rows']} (emitted" in out
    assert "derived from the spans" in out  # the exporter's token/duration metrics
    assert "mastra-storage prune" in out and "--older-than 30d" in out


def test_show_lists_the_traces_logs_scores_and_feedback(demo: tuple[str, Any]) -> None:
    url, _ = demo
    store = _store(url)
    try:
        failed = store.list_traces(per_page=100).spans
        root = next(r for r in failed if r.status == "error")
        logs = store.list_logs(LogsFilter(trace_id=root.trace_id), 0, 100).items
        scores = store.list_scores(ScoresFilter(trace_id=root.trace_id), 0, 100).items
    finally:
        store.close()
    assert logs and scores
    result = invoke("traces", "show", url, root.trace_id[:12], columns=120)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"logs ({len(logs)})" in out and f"scores ({len(scores)})" in out
    assert "feedback (" in out
    for log in logs:
        assert log.message in out
    assert "answer-relevancy" in out and "the request was not resolved" in out
    assert "thumbs  down" in out  # a failed run gets a thumbs down in the demo

    data = json.loads(invoke("traces", "show", url, root.trace_id, "--json").stdout)
    assert {x["logId"] for x in data["logs"]} == {x.log_id for x in logs}
    assert [x["scorerId"] for x in data["scores"]] == ["answer-relevancy"]


def test_show_waterfall_bars_are_to_scale(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    t0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
    trace = "e" * 32

    def s(span_id: str, name: str, start: int, end: int, parent: str | None) -> SpanRecord:
        return SpanRecord(trace, span_id, name, "agent_run" if parent is None else "tool_call",
                          t0 + timedelta(milliseconds=start), parent_span_id=parent,
                          ended_at=t0 + timedelta(milliseconds=end))

    store = create_store(url)
    store.batch_create_spans([s("1" * 16, "root", 0, 1000, None),
                              s("2" * 16, "first-half", 0, 500, "1" * 16),
                              s("3" * 16, "second-half", 500, 1000, "1" * 16)])
    store.close()
    lines = invoke("traces", "show", url, "eeee", columns=100).stdout.splitlines()

    def cells(name: str) -> tuple[int, int]:
        line = next(x for x in lines if f" {name} " in x)
        bar = line.rstrip()
        first = bar.index("━")
        return first, len(bar) - first

    root_start, root_len = cells("root")
    a_start, a_len = cells("first-half")
    b_start, b_len = cells("second-half")
    # each half within one cell of half the root's bar (cells are whole characters)
    assert a_start == root_start and abs(a_len - root_len / 2) <= 1
    assert abs(b_start - (root_start + root_len / 2)) <= 1 and abs(b_len - root_len / 2) <= 1
    assert b_start + b_len == root_start + root_len


def test_show_on_a_store_without_signal_tables(tmp_path: Path) -> None:
    """A database migrated before the signal tables existed: the spans still show."""
    from mastra_storage.storage.sql.migrate import upgrade

    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    upgrade(engine, revision="0001")
    engine.dispose()
    store = create_store(f"sqlite:///{path}", auto_migrate=False)
    store.batch_create_spans([SpanRecord("f" * 32, "1" * 16, "old-run", "agent_run",
                                         datetime(2026, 1, 1, tzinfo=timezone.utc))])
    store.close()
    result = invoke("traces", "show", f"sqlite:///{path}", "ffff")
    assert result.exit_code == 0, result.output
    assert "old-run" in result.stdout
    for name in ("logs", "scores", "feedback"):
        assert f"{name}: " in result.stdout
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------- retention

def test_stats_per_signal(demo: tuple[str, Any]) -> None:
    url, _ = demo
    result = invoke("stats", url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for signal in ("spans", "logs", "metrics", "scores", "feedback"):
        assert any(line.startswith(signal + " ") for line in lines), signal
    assert "file size on disk" in result.stdout
    data = json.loads(invoke("stats", url, "--json").stdout)
    assert data["spans"]["rows"] == 6 * 10
    assert data["spans"]["oldest"].endswith("Z") and data["file"]["bytes"] > 0


def test_prune_dry_run_then_for_real(demo: tuple[str, Any], tmp_path: Path) -> None:
    source, _ = demo
    path = tmp_path / "copy.db"
    src = _store(source)
    dst = create_store(f"sqlite:///{path}")
    try:
        for root in src.list_traces(per_page=100).spans:
            trace = src.get_trace(root.trace_id)
            assert trace is not None
            dst.batch_create_spans(trace.spans)
        dst.batch_create_logs(src.list_logs(None, 0, 100).items)
    finally:
        src.close()
        dst.close()
    url = f"sqlite:///{path}"
    dry = invoke("prune", url, "--older-than", "0s", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete 6 trace(s)" in dry.stdout and "nothing was deleted" in dry.stdout
    assert json.loads(invoke("stats", url, "--json").stdout)["spans"]["rows"] == 60

    future = invoke("prune", url, "--older-than", "30d")
    assert future.exit_code == 0 and "spans    0 row(s) deleted" in future.stdout

    logs_only = invoke("prune", url, "--older-than", "0s", "--signal", "logs")
    assert logs_only.exit_code == 0, logs_only.output
    after = json.loads(invoke("stats", url, "--json").stdout)
    assert after["logs"]["rows"] == 0 and after["spans"]["rows"] == 60

    everything = invoke("prune", url, "--older-than", "0s", "--vacuum")
    assert everything.exit_code == 0, everything.output
    assert "spans    60 row(s) deleted" in everything.stdout
    assert "vacuumed:" in everything.stdout
    assert json.loads(invoke("stats", url, "--json").stdout)["spans"]["rows"] == 0


def test_prune_slices_equal_one_prune(tmp_path: Path) -> None:
    """Pruning in slices (for the progress bar) deletes exactly what one call would."""
    from mastra_storage.cli.retention import _prune_in_slices

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    stores: list[Any] = []
    for name in ("sliced", "single"):
        store: Any = create_store(f"sqlite:///{tmp_path / name}.db")
        spans, logs = [], []
        for day in range(40):
            trace = f"{day:032x}"
            start = t0 + timedelta(days=day)
            spans.append(SpanRecord(trace, "1" * 16, "run", "agent_run", start,
                                    ended_at=start + timedelta(seconds=1)))
            # a log of the trace a day later (kept by age, deleted with its trace)
            logs.append(LogRecord(trace_id=trace, timestamp=start + timedelta(days=1),
                                  level="info", message=f"day {day}"))
        store.batch_create_spans(spans)
        store.batch_create_logs(logs)
        stores.append(store)
    cutoff = t0 + timedelta(days=30, hours=12)
    sliced = _prune_in_slices(stores[0], cutoff, ["spans", "logs"])
    single = stores[1].prune(cutoff, ["spans", "logs"])
    assert sliced == single == {"spans": 31, "logs": 31}
    assert stores[0].stats()["logs"]["rows"] == stores[1].stats()["logs"]["rows"] == 9
    for store in stores:
        store.close()


# ---------------------------------------------------------------------------- tail

def test_tail_follows_new_traces(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tail.db'}"
    store = create_store(url)
    now = datetime.now(timezone.utc)

    def add(n: int) -> None:
        start = datetime.now(timezone.utc)
        store.batch_create_spans([SpanRecord(f"{n:032x}", "1" * 16, f"run-{n}", "agent_run",
                                             start, ended_at=start + timedelta(seconds=1))])

    store.batch_create_spans([SpanRecord("a" * 32, "1" * 16, "old-run", "agent_run",
                                         now - timedelta(minutes=5))])
    def add_two() -> None:
        add(1)
        add(2)

    writer = threading.Timer(1.0, add_two)
    writer.start()
    try:
        result = invoke("traces", "tail", url, "--last", "1", "--interval", "0.2",
                        "--count", "3", "--for", "30")
    finally:
        writer.join()
        store.close()
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "run" in line]
    assert [line.split()[3] for line in lines] == ["old-run", "run-1", "run-2"]
    jsonl = invoke("traces", "tail", url, "--last", "2", "--count", "2", "-f", "jsonl")
    assert [json.loads(x)["name"] for x in jsonl.stdout.splitlines()] == ["run-1", "run-2"]


def test_tail_shows_a_running_trace_again_when_it_ends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'running.db'}"
    store = create_store(url)
    start = datetime.now(timezone.utc)
    running = SpanRecord("b" * 32, "1" * 16, "long-run", "agent_run", start)
    store.batch_create_spans([running])

    def finish() -> None:
        time.sleep(1.0)
        store.batch_update_spans([running.copy(ended_at=datetime.now(timezone.utc))])

    thread = threading.Thread(target=finish)
    thread.start()
    try:
        result = invoke("traces", "tail", url, "--last", "1", "--interval", "0.2",
                        "--count", "2", "--for", "30", "-f", "jsonl")
    finally:
        thread.join()
        store.close()
    assert [json.loads(x)["status"] for x in result.stdout.splitlines()] == [
        "running", "success"]


# ---------------------------------------------------------------------------- transfer

def test_export_then_import_moves_traces_with_their_signals(demo: tuple[str, Any],
                                                           tmp_path: Path) -> None:
    url, _ = demo
    dump = tmp_path / "traces.jsonl"
    exported = invoke("traces", "export", url, "--status", "error", "-o", str(dump))
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(x) for x in dump.read_text().splitlines()]
    kinds = {x["kind"] for x in lines}
    assert {"span", "log", "metric", "score"} <= kinds
    assert "exported" in exported.stderr

    target = f"sqlite:///{tmp_path / 'target.db'}"
    for _ in range(2):  # idempotent
        imported = invoke("traces", "import", target, str(dump))
        assert imported.exit_code == 0, imported.output
    src, dst = _store(url), _store(target)
    try:
        failed = [r.trace_id for r in src.list_traces(per_page=100).spans
                  if r.status == "error"]
        assert sorted(r.trace_id for r in dst.list_traces(per_page=100).spans) == sorted(failed)
        for trace_id in failed:
            a, b = src.get_trace(trace_id), dst.get_trace(trace_id)
            assert a is not None and b is not None
            assert [s.to_dict() for s in a.spans] == [s.to_dict() for s in b.spans]
            assert (src.list_logs(LogsFilter(trace_id=trace_id), 0, 100).total
                    == dst.list_logs(LogsFilter(trace_id=trace_id), 0, 100).total)
    finally:
        src.close()
        dst.close()

    stdout = invoke("traces", "export", url, "--limit", "1", "--no-signals")
    assert {json.loads(x)["kind"] for x in stdout.stdout.splitlines()} == {"span"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "span", "traceId": "x"}\n')
    broken = invoke("traces", "import", target, str(bad))
    assert broken.exit_code == 2 and "bad.jsonl:1" in broken.output


def test_record_lines_round_trip() -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=timezone.utc)
    records: list[Any] = [
        SpanRecord("1" * 32, "2" * 16, "n", "tool_call", at, parent_span_id="3" * 16,
                   ended_at=at, input={"a": [1, 2]}, error={"message": "x"}),
        LogRecord(timestamp=at, level="warn", message="m", data={"k": 1}, trace_id="1" * 32),
        MetricRecord(timestamp=at, name="tokens", value=3.5, labels={"model": "m"}),
        ScoreRecord(timestamp=at, scorer_id="s", score=0.5, reason="r"),
        FeedbackRecord(timestamp=at, feedback_type="thumbs", feedback_source="user",
                       value_string="up"),
    ]
    for record in records:
        line = json.loads(json.dumps(line_of(record)))
        _, back = record_of(line)
        assert back == record


# ---------------------------------------------------------------------------- outage

def test_reliability_reports_emitted_stored_dropped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    result = invoke("reliability", url, "--outage", "1", "--before", "0.5", "--after", "0.5",
                    "--rate", "100", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["emitted"] == report["stored"] > 0
    assert report["dropped_events"] == {} and report["unaccounted"] == 0
    assert report["failed_writes"] > 0  # the outage was real for the exporter


def test_bench_outage_with_a_small_buffer_counts_every_loss(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'small.db'}"
    result = invoke("bench", "--store", url, "--outage", "1.5", "--max-buffer-size", "20")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "emitted" in out and "stored" in out and "buffer-full=" in out
    assert "unaccounted" not in out
