"""``mastra-storage bench``: throughput, hot-path cost and memory per store and strategy."""

from __future__ import annotations

import json
from typing import Optional

import typer

from ..storage.capabilities import TracingStrategy

_STRATEGIES = ", ".join(s.value for s in TracingStrategy)


def bench(
    store: str = typer.Option(..., "--store", help="Store URL, e.g. sqlite:///./bench.db "
                              "(use a scratch database: the run's rows are left in it)."),
    strategy: str = typer.Option("auto", "--strategy", help=f"One of: {_STRATEGIES}."),
    traces: Optional[int] = typer.Option(  # noqa: UP045 - typer reads the annotation
        None, "--traces", min=1,
        help="Agent runs to emit [default: 1000; 10000 with --memory-check]."),
    spans_per_trace: int = typer.Option(10, "--spans-per-trace", min=2),
    payload_bytes: int = typer.Option(1024, "--payload-bytes", min=0,
                                      help="Size of each span's input/output text."),
    error_rate: float = typer.Option(0.1, "--error-rate", min=0.0, max=1.0),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    memory_check: bool = typer.Option(
        False, "--memory-check",
        help="Make the store unavailable and check bounded memory and exact drop counts."),
    max_batch_size: int = typer.Option(1000, "--max-batch-size", min=1),
    max_buffer_size: int = typer.Option(10_000, "--max-buffer-size", min=1),
    max_batch_wait_ms: int = typer.Option(5000, "--max-batch-wait-ms", min=0),
    retry_delay_ms: int = typer.Option(500, "--retry-delay-ms", min=0,
                                       help="Retry backoff base (--memory-check only)."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="Measure the raw-driver baseline."),
    otel: bool = typer.Option(True, "--otel/--no-otel",
                              help="Measure OpenTelemetry's BatchSpanProcessor.on_end."),
    pipeline: bool = typer.Option(True, "--pipeline/--no-pipeline",
                                  help="Replay the recorded events into a fresh store."),
) -> None:
    """Benchmark a store: spans/s end to end against the raw driver, hot-path cost, memory."""
    from ..bench import BenchOptions, render_text, run_bench, run_memory_check
    from ..errors import MastraStorageError

    try:
        TracingStrategy(strategy)
    except ValueError:
        raise typer.BadParameter(f"unknown strategy {strategy!r}; use one of: {_STRATEGIES}",
                                 param_hint="--strategy") from None
    try:
        if memory_check:
            report = run_memory_check(
                store, strategy=strategy, traces=traces or 10_000,
                spans_per_trace=spans_per_trace, payload_bytes=payload_bytes,
                error_rate=error_rate, max_batch_size=max_batch_size,
                max_buffer_size=max_buffer_size, max_batch_wait_ms=max_batch_wait_ms,
                retry_delay_ms=retry_delay_ms)
            ok = bool(report["accounting_exact"] and report["rss_bounded"])
        else:
            report = run_bench(BenchOptions(
                store=store, strategy=strategy, traces=traces or 1000,
                spans_per_trace=spans_per_trace, payload_bytes=payload_bytes,
                error_rate=error_rate, max_batch_size=max_batch_size,
                max_buffer_size=max_buffer_size, max_batch_wait_ms=max_batch_wait_ms,
                baseline=baseline, otel=otel, pipeline=pipeline))
            ok = True
    except (MastraStorageError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report, indent=2) if as_json else render_text(report))
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("bench")(bench)
