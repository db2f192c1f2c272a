"""``mastra-storage bench``: throughput, hot-path cost and memory per store and strategy;
``--outage SECONDS`` runs the outage scenario of ``mastra-storage reliability`` instead.

The verdicts: the **pipeline** ratio (the library's write path against the raw driver,
fed the same events); on SQLite also the end-to-end ratio against the raw driver and
against the OpenTelemetry peer (the same workload through OpenTelemetry's SDK and a
minimal exporter; see docs/bench.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.progress import Progress

from ..storage.capabilities import TracingStrategy
from ..storage.urls import ENV_URL
from .render import EXIT_FAILURE, EXIT_USAGE, CLIError, cli_errors, console, progress

_STRATEGIES = ", ".join(s.value for s in TracingStrategy)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "met" if value else "MISSED"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def targets_line(report: dict[str, Any]) -> str:
    """The verdict, led by the pipeline ratio (the figure the README quotes); on SQLite
    then the end-to-end ratios against raw executemany and the OpenTelemetry peer (both
    include the simulated app's work); last the hot path against its own target."""
    t = report.get("targets", {})
    ratios = report.get("ratios", {})
    pipe = (ratios.get("pipeline_vs_baseline") or {}).get("throughput")
    e2e = (ratios.get("end_to_end_vs_baseline") or {}).get("throughput")
    peer = (ratios.get("end_to_end_vs_otel_peer") or {}).get("throughput")
    target = t.get("ratio_target")
    parts = []
    if target is not None:
        parts.append(f"pipeline ratio {_fmt(pipe)} (target >= {_fmt(target)}): "
                     f"{_fmt(t.get('pipeline_met'))}")
    if t.get("end_to_end_target") is not None:
        parts.append(f"end-to-end ratio {_fmt(e2e)} (target >= "
                     f"{_fmt(t['end_to_end_target'])}): {_fmt(t.get('end_to_end_met'))}")
    if t.get("otel_peer_target") is not None:
        parts.append(f"end-to-end / OpenTelemetry peer {_fmt(peer)} (target >= "
                     f"{_fmt(t['otel_peer_target'])}): {_fmt(t.get('otel_peer_met'))}")
    parts.append(f"hot path median <= {t.get('hot_path_target_us')} µs: api "
                 f"{_fmt(t.get('api_median_met'))}, export {_fmt(t.get('export_median_met'))}")
    line = "targets: " + "; ".join(parts)
    if not report.get("exporter_settings", {}).get("derived_metrics", True):
        line += "\n(derived metrics off: the exporter wrote the same rows as the references)"
    return line


def render(report: dict[str, Any]) -> str:
    from ..bench import render_text

    text = render_text(report)
    if report.get("mode") == "memory-check":
        return text
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("targets:"):
            lines[i] = targets_line(report)
    return "\n".join(lines)


@dataclass
class _Progress:
    """Advances a bar per emitted agent run (the bench's three emitting phases, in each
    round)."""

    bar: Progress
    total: int
    rounds: int = 1
    phases: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = ["end to end", "workload only", "OpenTelemetry peer"]
        self.phases = (names if self.rounds == 1 else
                       [f"{n} ({i}/{self.rounds})" for i in range(1, self.rounds + 1)
                        for n in names])

    def start_phase(self) -> Any:
        name = self.phases.pop(0) if self.phases else "emitting"
        return self.bar.add_task(name, total=self.total)


def bench(
    store: Annotated[str | None, typer.Option(
        "--store", help="Store URL, e.g. sqlite:///./bench.db (use a scratch database: "
                        "the phases write into fresh files or schemas beside it, ClickHouse "
                        f"and MongoDB into its tables). [default: ${ENV_URL}]",
        show_default=False)] = None,
    strategy: Annotated[str, typer.Option("--strategy", help=f"One of: {_STRATEGIES}.")]
    = "auto",
    traces: Annotated[int | None, typer.Option(
        "--traces", min=1, show_default=False,
        help="Agent runs to emit [default: 1000; 10000 with --memory-check].")] = None,
    spans_per_trace: Annotated[int, typer.Option("--spans-per-trace", min=2)] = 10,
    payload_bytes: Annotated[int, typer.Option(
        "--payload-bytes", min=0, help="Size of each span's input/output text.")] = 1024,
    error_rate: Annotated[float, typer.Option("--error-rate", min=0.0, max=1.0)] = 0.1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
    = False,
    memory_check: Annotated[bool, typer.Option(
        "--memory-check",
        help="Make the store unavailable and check bounded memory and exact drop counts.")]
    = False,
    outage: Annotated[float | None, typer.Option(
        "--outage", min=0.0, metavar="SECONDS", show_default=False,
        help="Run the outage scenario instead: the store is unreachable for SECONDS "
             "mid-run; prints emitted / stored / dropped by reason (see `reliability`).")]
    = None,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size", min=1)] = 1000,
    max_buffer_size: Annotated[int, typer.Option("--max-buffer-size", min=1)] = 10_000,
    max_batch_wait_ms: Annotated[int, typer.Option("--max-batch-wait-ms", min=0)] = 5000,
    retry_delay_ms: Annotated[int, typer.Option(
        "--retry-delay-ms", min=0, help="Retry backoff base (--memory-check only).")] = 500,
    baseline: Annotated[bool, typer.Option(
        "--baseline/--no-baseline", help="Measure the raw-driver baseline.")] = True,
    otel: Annotated[bool, typer.Option(
        "--otel/--no-otel",
        help="Measure the OpenTelemetry peer (the workload through BatchSpanProcessor and "
             "a minimal executemany exporter; SQLite stores) and "
             "BatchSpanProcessor.on_end.")] = True,
    derived_metrics: Annotated[bool, typer.Option(
        "--derived-metrics/--no-derived-metrics",
        help="The exporter's derived metrics (its default). Off, it writes the same rows "
             "as the baseline and the OpenTelemetry peer: spans only.")] = True,
    pipeline: Annotated[bool, typer.Option(
        "--pipeline/--no-pipeline", help="Replay the recorded events into a fresh store.")]
    = True,
    read: Annotated[bool, typer.Option(
        "--read", help="Time the trace reads instead (list_traces with each filter, "
                       "get_trace, Studio's traces/query) over --spans generated spans.")]
    = False,
    spans: Annotated[int, typer.Option(
        "--spans", min=1, help="Spans to generate for --read (reused when the store holds "
                               "exactly those).")] = 100_000,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Calls per read (--read).")]
    = 30,
    rounds: Annotated[int, typer.Option(
        "--rounds", min=1,
        help="Run the timed phases this many times, one round after the other; each ratio "
             "is then the median of the rounds' own ratios, reported with their range.")]
    = 1,
) -> None:
    """Benchmark a store: spans/s against the raw driver, hot-path cost, memory; or, with
    --outage, what an outage of the store costs."""
    from ..bench import BenchOptions, run_bench, run_memory_check
    from ..errors import UnsupportedStrategyError

    with cli_errors(store, "bench"):
        url = store or os.environ.get(ENV_URL, "").strip()
        if not url:
            raise CLIError(f"--store URL is required (or ${ENV_URL}); use a scratch database",
                           EXIT_USAGE)
        if read:
            _bench_reads(url, spans, repeat, as_json)
            return
        try:
            TracingStrategy(strategy)
        except ValueError:
            raise CLIError(f"unknown strategy {strategy!r}; use one of: {_STRATEGIES}",
                           EXIT_USAGE) from None
        try:
            if outage is not None:
                from .reliability import render_outage, run_outage

                result = run_outage(url, outage=outage, max_buffer_size=max_buffer_size)
                if as_json:
                    typer.echo(json.dumps(result, indent=2))
                else:
                    console().print(render_outage(result))
                if result["unaccounted"] or not result["flushed"]:
                    raise typer.Exit(EXIT_FAILURE)
                return
            if memory_check:
                with progress("memory check: emitting with storage down") as bar:
                    bar.add_task("memcheck", total=None)
                    report = run_memory_check(
                        url, strategy=strategy, traces=traces or 10_000,
                        spans_per_trace=spans_per_trace, payload_bytes=payload_bytes,
                        error_rate=error_rate, max_batch_size=max_batch_size,
                        max_buffer_size=max_buffer_size, max_batch_wait_ms=max_batch_wait_ms,
                        retry_delay_ms=retry_delay_ms)
                ok = bool(report["accounting_exact"] and report["rss_bounded"])
            else:
                runs = traces or 1000
                with progress("benchmarking", runs) as bar:
                    tracker = _Progress(bar, runs, rounds)

                    class Options(BenchOptions):
                        def workload(self, tracer: Any) -> Any:
                            from ..workload import run_workload

                            task = tracker.start_phase()
                            return run_workload(
                                tracer, self.traces, spans_per_trace=self.spans_per_trace,
                                payload_bytes=self.payload_bytes, error_rate=self.error_rate,
                                seed=self.seed, on_trace=lambda _n: bar.advance(task))

                    report = run_bench(Options(
                        store=url, strategy=strategy, traces=runs,
                        spans_per_trace=spans_per_trace, payload_bytes=payload_bytes,
                        error_rate=error_rate, max_batch_size=max_batch_size,
                        max_buffer_size=max_buffer_size, max_batch_wait_ms=max_batch_wait_ms,
                        baseline=baseline, otel=otel, pipeline=pipeline,
                        derived_metrics=derived_metrics, rounds=rounds))
                ok = True
        except (UnsupportedStrategyError, ValueError) as exc:
            raise CLIError(str(exc), EXIT_USAGE) from None
    typer.echo(json.dumps(report, indent=2) if as_json else render(report))
    if not ok:
        raise typer.Exit(EXIT_FAILURE)


def _bench_reads(url: str, spans: int, repeat: int, as_json: bool) -> None:
    """``bench --read``: fill (or reuse) the store, time the reads (bench/reads.py)."""
    from ..bench import reads

    with progress("filling", spans) as bar:
        task = bar.add_task("fill", total=spans)
        try:
            report = reads.run(url, spans, repeat,
                               progress=lambda n: bar.update(task, completed=n))
        except ValueError as exc:
            raise CLIError(str(exc), EXIT_USAGE) from None
    typer.echo(json.dumps(report, indent=2, default=str) if as_json else reads.render(report))


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("bench")(bench)


