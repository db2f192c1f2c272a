"""``mastra-storage demo``: trace a simulated support agent into a local SQLite file.

Everything goes through the public API (Observability → DefaultExporter → the store),
and the summary is read back from the store, so the demo doubles as a smoke test of a
fresh install: it needs nothing beyond the base dependencies. The agent emits all five
signals: spans, logs, metrics, scores and feedback.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ..storage.urls import ENV_URL
from .render import (
    EXIT_FAILURE,
    EXIT_USAGE,
    SQLITE_SCHEMES,
    CLIError,
    cli_errors,
    console,
    err_console,
    progress,
    redact_url,
    resolve_url,
    scheme_of,
    status_text,
)

SERVICE_NAME = "support-demo"
# Every reason the DefaultExporter can drop for; all must stay at zero.
EXPORTER_DROP_REASONS = ("buffer-full", "retry-exhausted", "unsupported-storage",
                         "after-shutdown")
SIGNAL_LISTS = (("logs", "list_logs", "LogsFilter"), ("metrics", "list_metrics", "MetricsFilter"),
                ("scores", "list_scores", "ScoresFilter"),
                ("feedback", "list_feedback", "FeedbackFilter"))


def _target(db_path: str | None, url: str | None) -> tuple[str, Path | None]:
    """The store URL the demo writes to and, for SQLite, the file."""
    if db_path is not None and url is not None:
        raise CLIError("give either --db (a SQLite file) or --url, not both", EXIT_USAGE)
    if url is None and db_path is None and os.environ.get(ENV_URL, "").strip():
        url = resolve_url(None)
    if url is None:
        path = db_path or "./mastra.db"
        return "sqlite:///" + path, Path(path)
    url = resolve_url(url)
    if scheme_of(url) in SQLITE_SCHEMES:
        from ..storage.urls import sqlite_path

        return url, Path(sqlite_path(url))
    return url, None


def _count_signals(store: Any, since: Any) -> dict[str, int | None]:
    """Rows of each other signal this run wrote (None: the store can't list it)."""
    from ..storage import signal_queries as q

    counts: dict[str, int | None] = {}
    window = q.TimeRange(start=since)
    for name, method, filter_name in SIGNAL_LISTS:
        flt = getattr(q, filter_name)(service_name=SERVICE_NAME, timestamp=window)
        try:
            counts[name] = getattr(store, method)(flt, 0, 1).total
        except Exception:  # a store without this signal (or its table)
            counts[name] = None
    return counts


def demo(
    db_path: Annotated[str | None, typer.Option(
        "--db", help="SQLite file to write (created if missing). [default: ./mastra.db, "
                     f"or ${ENV_URL} when set]", show_default=False)] = None,
    url: Annotated[str | None, typer.Option(
        "--url", help="Any store URL instead of a SQLite file (its tables must exist).",
        show_default=False)] = None,
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
    """Trace a simulated support agent (spans, logs, metrics, scores, feedback) into a local
    SQLite file, then summarise what the database holds."""
    from .. import DefaultExporter, Observability, ObservabilityConfig, SensitiveDataFilter
    from ..model.time import utc_now
    from ..storage.queries import TracesFilter
    from ..storage.urls import create_store
    from ..workload import run_workload

    out = console()
    with cli_errors(url or db_path, "demo"):
        store_url, db = _target(db_path, url)
        if db is not None and db.exists() and not db.is_file():
            raise CLIError(f"--db {db} exists and is not a file", EXIT_USAGE)
        if db is not None and str(db) != ":memory:":
            db.parent.mkdir(parents=True, exist_ok=True)
        t_start = time.perf_counter()
        # Checks the file can be written before anything is emitted (fails fast otherwise).
        store = create_store(store_url)
        exporter = DefaultExporter()
        obs = Observability(storage=store, configs={"default": ObservabilityConfig(
            service_name=SERVICE_NAME, exporters=[exporter],
            span_output_processors=[SensitiveDataFilter()],
        )})
        tracer = obs.get_default_instance()
        since = utc_now()
        t_ready = time.perf_counter()
        try:
            with progress("simulating agent runs", traces) as bar:
                task = bar.add_task("runs", total=traces)
                generated = run_workload(
                    tracer, traces, spans_per_trace=spans_per_trace, error_rate=error_rate,
                    seed=seed, latency_ms=latency_ms, signals=True,
                    on_trace=lambda _n: bar.advance(task))
            t_emitted = time.perf_counter()
            with progress("flushing to storage", transient=True) as bar:
                bar.add_task("flush", total=None)
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
        child_error = store.list_traces(TracesFilter(
            service_name=SERVICE_NAME, started_from=since, has_child_error=True),
            per_page=1).total
        signal_counts = _count_signals(store, since)
        store.close()
        t_end = time.perf_counter()

    drops = exporter.drops.snapshot()
    drop_counts = {reason: drops.get(reason, 0) for reason in EXPORTER_DROP_REASONS}
    drop_counts.update(drops)
    contained = {k: v for k, v in tracer.failures.items() if v}
    # A signal the store doesn't keep (an older schema, a store without it) is dropped as
    # unsupported-storage by design and shown as such; anything else dropped is a loss.
    not_kept = set(getattr(exporter, "unsupported", ())) - {"spans"}
    explained = {"unsupported-storage"} if not_kept else set()
    lost = (len(trace_ids) != generated.traces or stored_spans != generated.spans
            or any(v for k, v in drop_counts.items() if k not in explained)
            or bool(contained))

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    where = f"{db} ({store_url})" if db is not None else redact_url(store_url)
    summary.add_row("database", Text(where))
    summary.add_row("traces written", f"{len(trace_ids)} (generated {generated.traces})")
    summary.add_row("spans written", f"{stored_spans} (generated {generated.spans})")
    summary.add_row("failed traces", Text(str(len(failed_ids)),
                                          style="red" if failed_ids else "green"))
    summary.add_row("spans with an error",
                    f"{spans_with_error} (in {child_error} trace(s): --has-child-error)")
    emitted = {"logs": generated.logs, "metrics": generated.metrics,
               "scores": generated.scores, "feedback": generated.feedback}
    for name, stored in signal_counts.items():
        if stored is None:
            text = "not kept by this store"
        elif name == "metrics" and stored > emitted[name]:
            text = (f"{stored} (emitted {emitted[name]}, {stored - emitted[name]} derived from "
                    "the spans)")
        else:
            text = f"{stored} (emitted {emitted[name]})"
        summary.add_row(f"{name} written", text)
    summary.add_row("strategy", f"{exporter.strategy} (requested {exporter.requested_strategy}, "
                                f"provider {store.provider})")
    drops_text = Text(", ".join(f"{k}={v}" for k, v in drop_counts.items()),
                      style="red" if any(v for k, v in drop_counts.items()
                                         if k not in explained) else "green")
    if not_kept and drop_counts.get("unsupported-storage"):
        drops_text.append(f" ({', '.join(sorted(not_kept))}: not kept by this store)",
                          style="dim")
    summary.add_row("drops", drops_text)
    if contained:
        summary.add_row("contained failures", Text(
            ", ".join(f"{k}={v}" for k, v in contained.items()), style="red"))
    summary.add_row("time", f"{t_end - t_start:.2f} s (setup {t_ready - t_start:.2f} s, "
                            f"emit {t_emitted - t_ready:.2f} s, "
                            f"flush {t_flushed - t_emitted:.2f} s, "
                            f"read back {t_end - t_flushed:.2f} s)")
    out.print(summary)

    if lost:
        err_console().print(Text.assemble(
            ("error: ", "bold red"), "spans were lost between the workload and the database "
                                     "(see the drops / counts above)"))
        raise typer.Exit(EXIT_FAILURE)

    quoted = shlex.quote(redact_url(store_url))
    show_id = failed_ids[0] if failed_ids else (trace_ids[0] if trace_ids else "<trace-id>")
    out.print()
    out.print(Text("Next:", style="bold"))
    for line in (f"  mastra-storage traces list {quoted}",
                 f"  mastra-storage traces list {quoted} --has-child-error",
                 f"  mastra-storage traces show {quoted} {show_id[:12]}"):
        out.print(Text(line), soft_wrap=True)
    if failed_ids:
        out.print(Text.assemble("  (", status_text("error"),
                                " trace: its tree shows the failure, its logs and scores)"))
    studio = f"  mastra-storage studio {quoted}   # the viewer and Mastra Studio's API, :4111"
    if importlib.util.find_spec("starlette") is None:
        studio += "\n    (first: pip install 'mastra-storage[studio]')"
    out.print(Text(studio), soft_wrap=True)
    out.print(Text(f"  mastra-storage stats {quoted}          # size per signal"),
              soft_wrap=True)
    out.print(Text(f"  mastra-storage prune {quoted} --older-than 30d   # keep it bounded"),
              soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("demo")(demo)
