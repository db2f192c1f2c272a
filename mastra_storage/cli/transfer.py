"""``traces export`` / ``traces import``: move traces (with their logs, metrics, scores and
feedback) between stores as JSON Lines (the line format: :mod:`.records`).

Importing is idempotent: spans are upserted on ``(traceId, spanId)`` and the other
signals are keyed by their ids, so importing a file twice stores it once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.text import Text

from ..storage.queries import TracesOrderBy
from .filters import TraceSelection, iter_roots, with_trace_filters
from .records import line_of, record_of
from .render import (
    EXIT_USAGE,
    CLIError,
    SchemaOpt,
    UrlArg,
    cli_errors,
    console,
    err_console,
    open_store,
    progress,
    redact_url,
    resolve_url,
)

SIGNAL_LISTS = (("log", "list_logs", "LogsFilter"), ("metric", "list_metrics", "MetricsFilter"),
                ("score", "list_scores", "ScoresFilter"),
                ("feedback", "list_feedback", "FeedbackFilter"))
IMPORT_BATCH = 500
_WRITERS = {"spans": "batch_create_spans", "logs": "batch_create_logs",
            "metrics": "batch_create_metrics", "scores": "batch_create_scores",
            "feedback": "batch_create_feedback"}


def _signals_of(store: Any, trace_id: str, skip: set[str]) -> Iterator[Any]:
    """The trace's other signals; a kind the store can't list is skipped (and noted)."""
    from ..errors import UnsupportedOperation
    from ..storage import signal_queries

    for kind, method, filter_name in SIGNAL_LISTS:
        if kind in skip:
            continue
        flt = getattr(signal_queries, filter_name)(trace_id=trace_id)
        page = 0
        while True:
            try:
                result = getattr(store, method)(flt, page, 100,
                                                signal_queries.SignalOrder("timestamp", "ASC"))
            except UnsupportedOperation:
                skip.add(kind)
                break
            yield from result.items
            if not result.has_more or not result.items:
                break
            page += 1


@with_trace_filters
def export_traces(
    url: UrlArg = None,
    *,
    schema: SchemaOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: stdout).", show_default=False)] = None,
    jsonl: Annotated[bool, typer.Option(
        "--jsonl", help="JSON Lines, one record per line (the format; the default).")] = True,
    signals: Annotated[bool, typer.Option(
        "--signals/--no-signals", help="Include the traces' logs, metrics, scores, feedback.")]
    = True,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, help="At most this many traces (newest first).")] = None,
    selection: Any = None,
) -> None:
    """Write traces (all, or those the filters select) as JSON Lines, for `traces import`."""
    if not jsonl:
        with cli_errors(url, "traces export"):
            raise CLIError("JSON Lines is the only export format", EXIT_USAGE)
    with cli_errors(url, "traces export") as err:
        url = err.url = resolve_url(url, schema)
        chosen: TraceSelection = selection.build()
        store = open_store(url)
        sink: IO[str] = (open(output, "w", encoding="utf-8") if output is not None  # noqa: SIM115
                         else sys.stdout)
        counts = dict.fromkeys(("span", "log", "metric", "score", "feedback"), 0)
        skipped: set[str] = set()
        traces = 0
        try:
            total = None if chosen.search else store.list_traces(
                chosen.filters, per_page=1).total
            if limit is not None and total is not None:
                total = min(total, limit)
            with progress("exporting traces", total) as bar:
                task = bar.add_task("export", total=total)
                for root in iter_roots(store, chosen, TracesOrderBy()):
                    trace = store.get_trace(root.trace_id)
                    if trace is None:  # deleted meanwhile
                        continue
                    for span in trace.spans:
                        sink.write(json.dumps(line_of(span), default=str,
                                              ensure_ascii=False) + "\n")
                        counts["span"] += 1
                    if signals:
                        for record in _signals_of(store, trace.trace_id, skipped):
                            line = line_of(record)
                            sink.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
                            counts[line["kind"]] += 1
                    traces += 1
                    bar.advance(task)
                    if limit is not None and traces >= limit:
                        break
        finally:
            if output is not None:
                sink.close()
            else:
                sink.flush()
            store.close()
    summary = ", ".join(f"{v} {k}{'s' if v != 1 and k != 'feedback' else ''}"
                        for k, v in counts.items())
    note = f" ({', '.join(sorted(skipped))}: not kept by this store)" if skipped else ""
    err_console().print(Text(f"exported {traces} trace(s): {summary}{note}", style="dim"))


def _read_lines(source: str) -> Iterator[tuple[int, str]]:
    if source == "-":
        yield from enumerate(sys.stdin, 1)
        return
    path = Path(source)
    if not path.is_file():
        raise CLIError(f"no file {path.absolute()}", EXIT_USAGE)
    with open(path, encoding="utf-8") as fh:
        yield from enumerate(fh, 1)


def import_traces(
    url: UrlArg = None,
    source: Annotated[str, typer.Argument(
        metavar="FILE", help="A file written by `traces export` ('-': stdin).")] = "-",
    schema: SchemaOpt = None,
) -> None:
    """Store the records of a `traces export` file (idempotent: re-importing changes
    nothing). The store's tables must exist (SQLite files get them automatically)."""
    with cli_errors(url, "traces import") as err:
        given: str | None = url
        if given is not None and source == "-" and Path(given).is_file():
            source, given = given, None  # `traces import FILE`: the URL from the environment
        url = err.url = resolve_url(given, schema)
        store = open_store(url, init=True)
        pending: dict[str, list[Any]] = {k: [] for k in _WRITERS}
        counts = dict.fromkeys(_WRITERS, 0)

        def flush(kind: str) -> None:
            batch = pending[kind]
            if batch:
                getattr(store, _WRITERS[kind])(batch)
                counts[kind] += len(batch)
                pending[kind] = []

        try:
            with progress("importing") as bar:
                task = bar.add_task("import", total=None)
                for number, raw in _read_lines(source):
                    if not raw.strip():
                        continue
                    try:
                        signal, record = record_of(json.loads(raw))
                    except (ValueError, TypeError) as exc:
                        raise CLIError(f"{source}:{number}: not an export line: {exc}",
                                       EXIT_USAGE) from None
                    pending[signal].append(record)
                    if len(pending[signal]) >= IMPORT_BATCH:
                        flush("spans")  # spans first: signals refer to them
                        flush(signal)
                    bar.advance(task)
                for kind in _WRITERS:
                    flush(kind)
        finally:
            store.close()
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    console().print(Text(f"imported into {redact_url(url)}: {summary}"))


def register(app: typer.Typer) -> None:
    app.command("export")(export_traces)
    app.command("import")(import_traces)
