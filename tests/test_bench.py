"""`mastra-storage bench`: the report's fields are there and sane, drops are counted exactly.

Behaviour only: no assertion on timings (those belong to the benchmark itself).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mastra_storage.bench import BaselineInput, run_baseline
from mastra_storage.bench.baselines import url_scheme
from mastra_storage.bench.hotpath import HotPathTimer
from mastra_storage.cli.main import app
from mastra_storage.tracing.span import Span
from mastra_storage.tracing.tracer import Tracer

TINY = ["--traces", "12", "--spans-per-trace", "6", "--payload-bytes", "64"]


def _bench(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["bench", *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def _positive(summary: dict[str, Any]) -> None:
    assert summary["n"] > 0
    assert summary["median_us"] > 0
    assert summary["p99_us"] >= summary["median_us"]


@pytest.mark.parametrize("strategy", ["batch-with-updates", "insert-only"])
def test_bench_sqlite_report(tmp_path: Path, strategy: str) -> None:
    code, report = _bench("--store", f"sqlite:///{tmp_path / 'bench.db'}",
                          "--strategy", strategy, *TINY)
    assert code == 0
    assert report["mode"] == "throughput"
    assert report["provider"] == "sqlite"
    assert report["strategy"] == strategy

    e2e = report["end_to_end"]
    spans = e2e["workload"]["spans"]
    assert spans == 12 * 6
    assert e2e["rows_verified"] == spans
    assert e2e["rows_complete"] == spans
    assert e2e["exporter"]["drops_total"] == 0
    assert e2e["spans_per_s"] > 0 and e2e["cpu_us_per_span"] > 0
    assert e2e["events"] >= spans
    if strategy == "insert-only":
        assert e2e["exporter"]["rows_created"] == spans
        assert e2e["exporter"]["rows_updated"] == 0
    stmts = e2e["statements"]
    assert stmts["executemany"] + stmts["execute"] >= 1
    assert stmts["commits"] >= 1
    assert e2e["exporter"]["write_calls"] >= 1
    assert e2e["rss"]["peak_mib"] > 0

    assert report["pipeline"]["rows_verified"] == spans
    base = report["baseline"]
    assert base["available"] is True
    assert base["rows_verified"] == spans
    assert base["encoding_included"] is True
    assert base["statements"]["executemany"] == 1  # 72 rows: one 1,000-row transaction
    for ratio in report["ratios"].values():
        assert ratio["throughput"] > 0
        assert ratio["cpu"] > 0

    hot = report["hot_path"]
    _positive(hot["api_us"])
    _positive(hot["export_us"])
    assert hot["api_us"]["n"] == e2e["events"] == hot["export_us"]["n"]
    assert set(hot["api_by_call_us"]) <= {"start", "update", "end", "error"}
    otel = report["otel_reference"]
    if otel["available"]:
        _positive(otel["on_end_us"])
        assert otel["spans"] == spans
    assert report["targets"]["ratio_target"] in (0.7, 0.85)
    # the OpenTelemetry peer ran the same workload into its own table, every span written
    peer = report["otel_peer"]
    if peer["available"]:
        assert peer["rows_verified"] == spans and peer["rows_complete"] is True
        assert peer["dropped"] == 0 and peer["batches"] >= 1
        assert report["ratios"]["end_to_end_vs_otel_peer"]["throughput"] > 0
        assert report["targets"]["otel_peer_target"] == 1.0
        assert report["targets"]["end_to_end_target"] == 0.7
    # every span of the run is tagged with the run's service name, and only those
    assert report["run_tag"].startswith("mastra-bench-")


def test_rounds_report_the_median_of_the_rounds_own_ratios(tmp_path: Path) -> None:
    db = tmp_path / "rounds.db"
    code, report = _bench("--store", f"sqlite:///{db}", *TINY, "--rounds", "3")
    assert code == 0 and report["rounds"] == 3
    for name in ("end_to_end", "pipeline", "baseline", "otel_peer"):
        phase = report[name]
        runs = phase["spans_per_s_rounds"]
        assert len(runs) == 3 and all(r > 0 for r in runs)
        assert phase["spans_per_s"] == sorted(runs)[1]  # the median round's own figures
        assert phase["rows_verified"] == 72
    for ratio in report["ratios"].values():
        runs = ratio["throughput_rounds"]
        assert len(runs) == 3 and ratio["throughput"] == sorted(runs)[1]
        assert ratio["throughput_range"] == [min(runs), max(runs)]
    import sqlite3

    with sqlite3.connect(db) as conn:  # every round wrote into a fresh database of its own
        assert conn.execute("SELECT count(*) FROM mastra_ai_spans").fetchone() == (0,)
    text = CliRunner().invoke(app, ["bench", "--store", f"sqlite:///{db}", *TINY,
                                    "--rounds", "2", "--no-otel"])
    assert text.exit_code == 0, text.output
    assert "(median of 2 rounds," in text.stdout


def test_a_ratio_missing_in_one_round_has_no_median() -> None:
    from mastra_storage.bench.runner import _summary

    def one(e2e: float, base: float | None) -> dict[str, Any]:
        ratio = {"throughput": None if base is None else e2e / base, "cpu": None}
        return {"strategy": "s", "hot_path": {"e2e": e2e}, "end_to_end": {"spans_per_s": e2e},
                "workload_only": None, "pipeline": None, "baseline": {"spans_per_s": base},
                "otel_peer": None, "ratios": {"end_to_end_vs_baseline": ratio}}

    got = _summary([one(10.0, 20.0), one(30.0, 20.0), one(20.0, 40.0), one(40.0, 20.0)])
    assert got["end_to_end"]["spans_per_s"] == 20.0  # the lower middle of an even count
    assert got["hot_path"] == {"e2e": 20.0}
    assert got["ratios"]["end_to_end_vs_baseline"]["throughput"] == 0.5
    assert got["ratios"]["end_to_end_vs_baseline"]["throughput_range"] == [0.5, 2.0]
    partial = _summary([one(10.0, 20.0), one(30.0, None)])
    assert partial["ratios"]["end_to_end_vs_baseline"]["throughput"] is None


def test_bench_without_derived_metrics_writes_spans_only(tmp_path: Path) -> None:
    db = tmp_path / "nm.db"
    code, report = _bench("--store", f"sqlite:///{db}", *TINY, "--no-derived-metrics",
                          "--no-pipeline", "--no-baseline")
    assert code == 0
    assert report["exporter_settings"]["derived_metrics"] is False
    assert report["end_to_end"]["rows_verified"] == 72
    # The spans are one multi-row statement; the metric rows, when derived, an executemany.
    assert report["end_to_end"]["statements"]["executemany_rows"] == 0
    _, with_metrics = _bench("--store", f"sqlite:///{db}", *TINY, "--no-pipeline",
                             "--no-baseline", "--no-otel")
    assert with_metrics["end_to_end"]["statements"]["executemany_rows"] > 0
    text = CliRunner().invoke(app, ["bench", "--store", f"sqlite:///{db}", *TINY,
                                    "--no-derived-metrics", "--no-pipeline", "--no-baseline"])
    assert "derived metrics off" in text.stdout
    assert "otel peer" in text.stdout and "end-to-end / otel peer" in text.stdout


def test_otel_peer_rows_match_the_workload(tmp_path: Path) -> None:
    """The peer's rows carry what the workload emitted: ids, tree, payloads, errors."""
    pytest.importorskip("opentelemetry.sdk")
    import sqlite3

    from mastra_storage.bench.otel_peer import run_otel_peer
    from mastra_storage.bench.runner import BenchOptions
    from mastra_storage.storage.urls import create_store

    opts = BenchOptions(store="x", traces=5, spans_per_trace=6, payload_bytes=32,
                        error_rate=0.5)
    store = create_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        result = run_otel_peer(opts, tmp_path, store, "peer-run")
    finally:
        store.close()
    assert result["rows_verified"] == 30 and result["dropped"] == 0
    with sqlite3.connect(tmp_path / "otel-peer.db") as conn:
        rows = conn.execute('SELECT "parentSpanId", "spanType", input, output, error, '
                            '"entityType", "rootEntityName", "userId" FROM mastra_ai_spans '
                            'WHERE "serviceName" = ?', ("peer-run",)).fetchall()
    roots = [r for r in rows if r[0] is None]
    assert len(roots) == 5
    assert {r[1] for r in roots} == {"agent_run"}
    assert all(r[5] == "agent" and r[6] == "support-agent" and r[7] for r in roots)
    assert all(json.loads(r[2])["messages"] for r in roots)
    failed = [json.loads(r[4]) for r in rows if r[4] is not None]
    assert failed and all(e["name"].endswith("ToolFailure") and e["message"] for e in failed)
    assert sum(r[3] is not None for r in rows) >= 25


def test_bench_memory_store_report() -> None:
    code, report = _bench("--store", ":memory:", *TINY, "--no-otel")
    assert code == 0
    assert report["strategy"] == "realtime"
    spans = report["end_to_end"]["workload"]["spans"]
    assert report["end_to_end"]["rows_verified"] == spans
    assert report["baseline"]["rows_verified"] == spans
    assert report["baseline"]["comparable"] is False
    assert report["ratios"]["pipeline_vs_baseline"]["throughput"] is None
    assert report["otel_reference"]["available"] is False


def test_bench_human_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--store", f"sqlite:///{tmp_path / 'b.db'}",
                                      *TINY, "--no-otel", "--no-pipeline", "--no-baseline"])
    assert result.exit_code == 0, result.output
    assert "end-to-end" in result.stdout
    assert "rows verified 72 of 72" in result.stdout


@pytest.mark.parametrize("strategy", ["batch-with-updates", "insert-only"])
def test_memory_check_counts_every_drop(tmp_path: Path, strategy: str) -> None:
    code, report = _bench(
        "--store", f"sqlite:///{tmp_path / 'mem.db'}", "--memory-check", "--strategy", strategy,
        "--traces", "40", "--spans-per-trace", "5", "--payload-bytes", "64",
        "--max-buffer-size", "60", "--max-batch-size", "10", "--retry-delay-ms", "20")
    assert report["mode"] == "memory-check"
    assert report["spans_emitted"] == 200
    assert report["events_persisted"] == 0
    assert report["rows_persisted"] == 0
    assert report["write_attempts"] > 0
    assert report["buffered_after_shutdown"] == 0
    assert report["drops_total"] > 0
    # emitted - persisted == sum of the drop counters, exactly
    assert report["events_offered"] - report["events_persisted"] == report["drops_total"]
    assert report["accounting_exact"] is True
    assert set(report["drops"]) <= {"buffer-full", "retry-exhausted"}
    if strategy == "insert-only":
        assert report["events_offered"] == 200  # one span_ended per span
    else:
        assert report["events_offered"] > 200
    assert report["rss"]["bound_mib"] > 0
    assert code == (0 if report["rss_bounded"] else 1)


def test_bench_rejects_unknown_strategy(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--store", f"sqlite:///{tmp_path / 'x.db'}",
                                      "--strategy", "sometimes"])
    assert result.exit_code == 2


def test_bench_reports_unsupported_strategy(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--store", f"sqlite:///{tmp_path / 'x.db'}",
                                      "--strategy", "realtime", *TINY])
    assert result.exit_code == 2
    assert "realtime" in result.output


def test_baseline_registry_guards_missing_backends(tmp_path: Path) -> None:
    assert url_scheme(":memory:") == "memory"
    assert url_scheme("postgresql+psycopg://u@h/db") == "postgresql"
    assert url_scheme("mssql+pyodbc://h/db") == "mssql"
    assert url_scheme("sqlite:///x.db") == "sqlite"
    out = run_baseline(BaselineInput("mssql+pyodbc://h/db", "mssql", [], tmp_path, None))
    assert out["available"] is False and "engine" in out["reason"]  # no store was given
    out = run_baseline(BaselineInput("nope://x", "nope", [], tmp_path, None))
    assert out["available"] is False and "nope" in out["reason"]


def test_hot_path_timer_restores_the_api() -> None:
    originals = (Tracer.__dict__["start_span"], Span.__dict__["end"], Span.__dict__["update"])

    class Sink:
        name = "sink"

        def bind(self, storage: object) -> None: ...

        def export(self, event: object) -> None: ...

        def flush(self, timeout: float | None = None) -> bool:
            return True

        def shutdown(self, timeout: float | None = None) -> None: ...

    sink = Sink()
    tracer = Tracer("t", "svc", [sink])
    timer = HotPathTimer()
    with timer.installed(sink):
        with tracer.start_span("root") as root:
            root.update(metadata={"k": 1})
            root.event("tick")
        root.end()  # a second end emits nothing: not a sample
    assert (Tracer.__dict__["start_span"], Span.__dict__["end"],
            Span.__dict__["update"]) == originals
    assert "export" not in vars(sink)
    assert timer.events == 4  # started, updated, event (ended), ended
    assert [len(timer.api[k]) for k in ("start", "update", "end")] == [2, 1, 1]
    assert len(timer.export) == 4


def test_otel_bench_reports_the_processor_and_the_otlp_path(tmp_path: Path) -> None:
    """The OpenTelemetry benchmark runs both paths and every emitted trace is stored."""
    from mastra_storage.bench import otel

    url = f"sqlite:///{tmp_path / 'otel.db'}"
    result = otel.run(url, spans=200, payload_bytes=64)
    result["otlp"] = otel.run_otlp(url, spans=200, payload_bytes=64)
    assert result["traces_listed"] == 20 and result["drops"] == {}
    assert result["end_to_end"]["spans_per_s"] > 0
    assert result["on_end"]["median_us"] > 0 and result["conversion"]["spans_per_s"] > 0
    otlp = result["otlp"]
    assert otlp["spans"] == 200 and otlp["flushed"]
    assert otlp["traces_stored"] == 20 and otlp["drops"] == {}
