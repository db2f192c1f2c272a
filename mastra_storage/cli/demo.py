"""``mastra-storage demo``: trace a simulated support agent into a local SQLite file.

Everything goes through the public API (Observability → DefaultExporter → SQLiteStore),
and the summary is read back from the store, so the demo doubles as a smoke test of a
fresh install: it needs nothing beyond the base dependencies.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .render import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CLIError,
    cli_errors,
    console,
    err_console,
    status_text,
)

SERVICE_NAME = "support-demo"
# Every reason the DefaultExporter can drop for; all must stay at zero.
EXPORTER_DROP_REASONS = ("buffer-full", "retry-exhausted", "unsupported-storage",
                         "after-shutdown")


def demo(
    db_path: Annotated[str, typer.Option(
        "--db", help="SQLite file to write (created if missing).")] = "./mastra.db",
    traces: Annotated[int, typer.Option("--traces", min=1, help="Agent runs to simulate.")] = 20,
    spans_per_trace: Annotated[int, typer.Option(
        "--spans-per-trace", min=2, help="Spans per agent run.")] = 10,
    error_rate: Annotated[float, typer.Option(
        "--error-rate", min=0.0, max=1.0, help="Share of agent runs that fail.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated workload.")] = 7,
    latency_ms: Annotated[float, typer.Option(
        "--latency-ms", min=0.0,
        help="Simulated time a model or tool call takes (gives the trees real durations).",
    )] = 3.0,
) -> None:
    """Trace a simulated support agent into a local SQLite file, then summarise it."""
    from .. import (
        DefaultExporter,
        Observability,
        ObservabilityConfig,
        SensitiveDataFilter,
        create_store,
    )
    from ..model.time import utc_now
    from ..storage.queries import TracesFilter
    from ..workload import run_workload

    out = console()
    url = "sqlite:///" + db_path
    db = Path(db_path)
    with cli_errors(url):
        if db.exists() and not db.is_file():
            raise CLIError(f"--db {db} exists and is not a file", EXIT_USAGE)
        db.parent.mkdir(parents=True, exist_ok=True)
        t_start = time.perf_counter()
        store = create_store(url)
        exporter = DefaultExporter()
        obs = Observability(storage=store, configs={"default": ObservabilityConfig(
            service_name=SERVICE_NAME, exporters=[exporter],
            span_output_processors=[SensitiveDataFilter()],
        )})
        tracer = obs.get_default_instance()
        since = utc_now()
        t_ready = time.perf_counter()
        try:
            with Progress(SpinnerColumn(), TextColumn("[bold]simulating agent runs"),
                          BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=out) as progress:
                task = progress.add_task("runs", total=traces)
                generated = run_workload(
                    tracer, traces, spans_per_trace=spans_per_trace, error_rate=error_rate,
                    seed=seed, latency_ms=latency_ms,
                    on_trace=lambda _n: progress.advance(task))
            t_emitted = time.perf_counter()
            with out.status("flushing to storage…"):
                obs.shutdown()
        except BaseException:
            obs.shutdown()
            raise
        t_flushed = time.perf_counter()

        # Count back what actually reached the database.
        flt = TracesFilter(service_name=SERVICE_NAME, started_from=since)
        trace_ids: list[str] = []
        failed_ids: list[str] = []
        page = 0
        while True:
            result = store.list_traces(flt, page=page, per_page=100)
            for root in result.spans:
                trace_ids.append(root.trace_id)
                if root.status == "error":
                    failed_ids.append(root.trace_id)
            if not result.has_more:
                break
            page += 1
        stored_spans = 0
        spans_with_error = 0
        for trace_id in trace_ids:
            trace = store.get_trace_light(trace_id)
            if trace is not None:
                stored_spans += len(trace.spans)
                spans_with_error += sum(s.error is not None for s in trace.spans)
        store.close()
        t_end = time.perf_counter()

    drops = exporter.drops.snapshot()
    drop_counts = {reason: drops.get(reason, 0) for reason in EXPORTER_DROP_REASONS}
    drop_counts.update(drops)
    contained = {k: v for k, v in tracer.failures.items() if v}
    lost = (len(trace_ids) != generated.traces or stored_spans != generated.spans
            or any(drop_counts.values()) or bool(contained))

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("database", Text(f"{db} ({url})"))
    summary.add_row("traces written", f"{len(trace_ids)} (generated {generated.traces})")
    summary.add_row("spans written", f"{stored_spans} (generated {generated.spans})")
    summary.add_row("failed traces", Text(str(len(failed_ids)),
                                          style="red" if failed_ids else "green"))
    summary.add_row("spans with an error", str(spans_with_error))
    summary.add_row("strategy", f"{exporter.strategy} (requested {exporter.requested_strategy}, "
                                f"provider {store.provider})")
    summary.add_row("drops", Text(", ".join(f"{k}={v}" for k, v in drop_counts.items()),
                                  style="red" if any(drop_counts.values()) else "green"))
    if contained:
        summary.add_row("contained failures", Text(
            ", ".join(f"{k}={v}" for k, v in contained.items()), style="red"))
    summary.add_row("time", f"{t_end - t_start:.2f} s (setup {t_ready - t_start:.2f} s, "
                            f"emit {t_emitted - t_ready:.2f} s, "
                            f"flush {t_flushed - t_emitted:.2f} s, "
                            f"read back {t_end - t_flushed:.2f} s)")
    out.print(summary)

    quoted = shlex.quote(url)
    show_id = failed_ids[0] if failed_ids else (trace_ids[0] if trace_ids else "<trace-id>")
    out.print()
    out.print("[bold]Next:[/bold]")
    out.print(Text(f"  mastra-storage traces list {quoted}"), soft_wrap=True)
    out.print(Text(f"  mastra-storage traces show {quoted} {show_id}"), soft_wrap=True)
    if failed_ids:
        out.print(Text.assemble("  (", status_text("error"), " trace: its tree shows the "
                                "failure)"))
    if lost:
        err_console().print("[bold red]error:[/] spans were lost between the workload and "
                            "the database (see the drops / counts above)")
        raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("demo")(demo)
