"""``mastra-storage traces list|show|tail|export|import``: stored traces from the terminal.

Tables fit the terminal: trace ids are shown short (their first 12 hex digits, like
git's short hashes; ``show`` takes any unique prefix, in any case) and when the terminal
is narrow the least useful columns go first (never the id or the status). Output meant
for programs is complete: ``--format json|jsonl|csv`` (``--json``).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..model.spans import SpanRecord
from ..storage.queries import MAX_PER_PAGE, Trace, TracesFilter, TracesOrderBy
from .filters import (
    SEARCH_SCAN_LIMIT,
    TraceSelection,
    iter_roots,
    parse_since,
    with_trace_filters,
)
from .render import (
    EXIT_FAILURE,
    EXIT_USAGE,
    SHORT_ID,
    CLIError,
    SchemaOpt,
    UrlArg,
    cli_errors,
    console,
    echo_json,
    error_message,
    format_duration,
    format_time,
    open_store,
    record_json,
    redact_url,
    resolve_url,
    status_text,
)

__all__ = ["parse_since", "traces_app"]

traces_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="List, inspect, follow, export and import stored traces.")


class OrderField(str, Enum):
    startedAt = "startedAt"
    endedAt = "endedAt"


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


CSV_FIELDS = ("traceId", "name", "spanType", "status", "startedAt", "endedAt", "durationMs",
              "serviceName", "environment", "entityType", "entityName", "userId", "sessionId",
              "threadId", "runId", "tags", "error")


# ---------------------------------------------------------------------------- list

@dataclass
class Column:
    header: str
    cells: list[Text]
    drop_rank: int | None  # None: never dropped; lower ranks go first
    justify: str = "left"
    flexible: bool = False  # shrinks (with an ellipsis) instead of being dropped
    min_width: int = 10

    @property
    def natural(self) -> int:
        return max([len(self.header), *(c.cell_len for c in self.cells)])


GAP = 3  # between columns (rich's SIMPLE_HEAD box without edges)


def fit_columns(columns: list[Column], width: int) -> list[Column]:
    """Drop the least useful columns until the table fits ``width`` (the flexible
    column counted at its minimum); never drops a column without a rank."""
    kept = list(columns)

    def needed() -> int:
        return sum(c.min_width if c.flexible else c.natural for c in kept) + GAP * (
            len(kept) - 1)

    for column in sorted((c for c in columns if c.drop_rank is not None),
                         key=lambda c: c.drop_rank or 0):
        if needed() <= width:
            break
        kept.remove(column)
    return kept


def render_table(columns: list[Column], width: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  header_style="bold")
    kept = fit_columns(columns, width)
    for column in kept:
        table.add_column(column.header, justify=column.justify,  # type: ignore[arg-type]
                         no_wrap=True, overflow="ellipsis",
                         min_width=column.min_width if column.flexible else column.natural,
                         max_width=None if column.flexible else column.natural)
    for i in range(len(columns[0].cells)):
        table.add_row(*(c.cells[i] for c in kept))
    return table


def trace_columns(spans: list[SpanRecord], full_ids: bool = False) -> list[Column]:
    def col(header: str, values: list[Any], rank: int | None, **kw: Any) -> Column:
        return Column(header, [v if isinstance(v, Text) else Text(str(v)) for v in values],
                      rank, **kw)

    return [
        col("trace", [Text(s.trace_id if full_ids else s.trace_id[:SHORT_ID], style="cyan")
                      for s in spans], None),
        col("name", [Text(s.name, style="bold") for s in spans], None, flexible=True,
            min_width=10),
        col("status", [status_text(s.status) for s in spans], None),
        col("started (UTC)", [format_time(s.started_at, ms=False) for s in spans], 6),
        col("duration", [format_duration(s) for s in spans], 5, justify="right"),
        col("service", [s.service_name or "—" for s in spans], 3),
        col("user", [s.user_id or "—" for s in spans], 2),
        col("type", [s.span_type for s in spans], 1),
        col("env", [s.environment or "—" for s in spans], 0),
    ]


def csv_row(span: SpanRecord) -> dict[str, Any]:
    data = record_json(span)
    row = {k: data.get(k) for k in CSV_FIELDS}
    row["tags"] = " ".join(span.tags or []) if isinstance(span.tags, list) else span.tags
    row["error"] = error_message(span.error) if span.error is not None else ""
    return {k: ("" if v is None else v) for k, v in row.items()}


def emit_machine(fmt: Format, spans: list[SpanRecord], envelope: dict[str, Any]) -> None:
    if fmt is Format.json:
        echo_json({**envelope, "traces": [record_json(s) for s in spans]})
    elif fmt is Format.jsonl:
        for span in spans:
            typer.echo(json.dumps(record_json(span), default=str, ensure_ascii=False))
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for span in spans:
            writer.writerow(csv_row(span))
        typer.echo(buffer.getvalue(), nl=False)


@traces_app.command("list")
@with_trace_filters
def list_traces(
    url: UrlArg = None,
    *,
    schema: SchemaOpt = None,
    page: Annotated[int, typer.Option("--page", min=0, help="Page number (0-based).")] = 0,
    per_page: Annotated[int, typer.Option(
        "--per-page", "-n", min=1, max=MAX_PER_PAGE, help="Traces per page.")] = 20,
    order: Annotated[OrderField, typer.Option("--order", help="Sort field.")]
    = OrderField.startedAt,
    asc: Annotated[bool, typer.Option("--asc", help="Oldest first (default: newest).")]
    = False,
    fmt: Annotated[Format, typer.Option(
        "--format", "-f", help="table, or complete machine-readable output: json, jsonl, csv.")]
    = Format.table,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")]
    = False,
    full_ids: Annotated[bool, typer.Option("--full-ids", help="Show whole trace ids.")]
    = False,
    selection: Any = None,
) -> None:
    """List traces (their root spans), newest first."""
    if as_json:
        fmt = Format.json
    with cli_errors(url, "traces list") as err:
        url = err.url = resolve_url(url, schema)
        chosen: TraceSelection = selection.build()
        order_by = TracesOrderBy(field=order.value, direction="ASC" if asc else "DESC")
        store = open_store(url)
        scanned_all = True
        try:
            if chosen.search:
                matched = list(iter_roots(store, chosen, order_by, SEARCH_SCAN_LIMIT))
                total = len(matched)
                scanned_all = total < SEARCH_SCAN_LIMIT
                spans = matched[page * per_page:(page + 1) * per_page]
                has_more = (page + 1) * per_page < total
            else:
                result = store.list_traces(chosen.filters, page=page, per_page=per_page,
                                           order_by=order_by)
                spans, total, has_more = result.spans, result.total, result.has_more
        finally:
            store.close()

    if fmt is not Format.table:
        emit_machine(fmt, spans, {"total": total, "page": page, "perPage": per_page,
                                  "hasMore": has_more})
        return

    out = console()
    if not spans:
        if total:
            out.print(f"page {page} is past the end: {total} trace(s) match, "
                      f"{per_page} per page")
        else:
            out.print(Text(f"no traces match in {redact_url(url)}"))
        return
    out.print(Text.assemble(("traces in ", "bold"), redact_url(url)))
    out.print(render_table(trace_columns(spans, full_ids), out.width))
    first = page * per_page + 1
    last = page * per_page + len(spans)
    pages = max(1, -(-total // per_page))
    footer = f"{first}-{last} of {total} trace(s) · page {page} (pages 0–{pages - 1})"
    if has_more:
        footer += f" · next: --page {page + 1}"
    if not scanned_all:
        footer += f" · searched the newest {SEARCH_SCAN_LIMIT:,}"
    out.print(Text(footer, style="dim"))


# ---------------------------------------------------------------------------- show

PREFIX_SCAN_LIMIT = 50_000


def resolve_trace_id(store: Any, given: str) -> str:
    """A whole trace id from an id or a unique prefix of one (any case)."""
    text = given.strip()
    if not text:
        raise CLIError("the trace id is empty", EXIT_USAGE)
    for candidate in dict.fromkeys((text, text.lower())):
        if store.get_root_span(candidate) is not None:
            return candidate
    if len(text) >= 32:
        raise CLIError(f"no trace {given!r}", EXIT_FAILURE,
                       hint="`mastra-storage traces list URL` shows the stored ones")
    needle = text.lower()
    matches: list[str] = []
    everything = TraceSelection(TracesFilter())
    scanned = 0
    for span in iter_roots(store, everything, TracesOrderBy(), PREFIX_SCAN_LIMIT):
        scanned += 1
        if span.trace_id.lower().startswith(needle):
            matches.append(span.trace_id)
            if len(matches) > 5:
                break
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(m[:max(SHORT_ID, len(text) + 4)] for m in matches[:5])
        many = "more than 5" if len(matches) > 5 else str(len(matches))
        raise CLIError(f"the prefix {given!r} matches {many} traces ({shown}…)", EXIT_USAGE,
                       hint="give more characters of the id")
    searched = (f" (searched the newest {scanned:,})" if scanned >= PREFIX_SCAN_LIMIT else "")
    raise CLIError(f"no trace id starts with {given!r}{searched}", EXIT_FAILURE,
                   hint="`mastra-storage traces list URL` shows the stored ones")


@traces_app.command("show")
def show_trace(
    url: Annotated[str | None, typer.Argument(
        metavar="URL", show_default=False,
        help="Store URL (default: $MASTRA_STORAGE_URL, else sqlite:///./mastra.db).")]
    = None,
    trace_id: Annotated[str | None, typer.Argument(
        metavar="TRACE_ID", show_default=False,
        help="A trace id, or any unique prefix of one (e.g. the 12 digits `list` shows).")]
    = None,
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    preview_chars: Annotated[int, typer.Option(
        "--preview", "-p", min=0,
        help="Also show each span's input/output, cut to this many characters.")] = 0,
    waterfall: Annotated[bool, typer.Option(
        "--waterfall/--no-waterfall", help="Bars to scale next to the tree.")] = True,
    signals: Annotated[bool, typer.Option(
        "--signals/--no-signals", help="The trace's logs, scores and feedback.")] = True,
    full_ids: Annotated[bool, typer.Option("--full-ids", help="Show whole span ids.")]
    = False,
) -> None:
    """Show one trace: its spans as a tree with durations, errors and a waterfall, then its
    logs, scores and feedback."""
    if trace_id is None and url is not None and ":" not in url:
        url, trace_id = None, url  # `traces show ID`: the URL comes from the environment
    if trace_id is None:
        with cli_errors(None, "traces show"):
            raise CLIError("missing TRACE_ID", EXIT_USAGE,
                           hint="mastra-storage traces show [URL] TRACE_ID")
    assert trace_id is not None
    with cli_errors(url, "traces show") as err:
        url = err.url = resolve_url(url, schema)
        store = open_store(url)
        try:
            full_id = resolve_trace_id(store, trace_id)
            trace = store.get_trace(full_id)
            if trace is None:
                raise CLIError(f"no trace {trace_id!r} in {redact_url(url)}", EXIT_FAILURE)
            found = None
            if signals or as_json:
                from .waterfall import fetch_signals

                found = fetch_signals(store, full_id)
        finally:
            store.close()

    from .records import signal_to_json
    from .waterfall import render_signals, render_trace

    root = trace.root
    status = root.status if root is not None else "running"
    if as_json:
        data: dict[str, Any] = {"traceId": trace.trace_id, "status": status,
                                "spanCount": len(trace.spans),
                                "spans": [record_json(s) for s in trace.spans]}
        if found is not None:
            for name in ("logs", "scores", "feedback"):
                items = getattr(found, name)
                data[name] = None if items is None else [signal_to_json(i) for i in items]
        echo_json(data)
        return
    out = console()
    render_trace(out, trace, preview_chars, full_ids, waterfall)
    if found is not None:
        render_signals(out, trace, found)


def build_tree(trace: Trace, preview_chars: int = 80) -> Any:
    """The trace as rendered text (kept for callers of the former tree renderer)."""
    from rich.console import Console

    from .waterfall import render_trace

    sink = Console(file=io.StringIO(), width=200, color_system=None)
    render_trace(sink, trace, preview_chars)
    return Text(sink.file.getvalue())  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- tail

def _tail_line(span: SpanRecord, width: int, full_ids: bool) -> Text:
    line = Text(format_time(span.started_at)[11:19] + "  ", style="dim")
    line.append_text(status_text(span.status, symbol=True))
    line.append(" ")
    line.append(span.trace_id if full_ids else span.trace_id[:SHORT_ID], style="cyan")
    line.append("  ")
    line.append(span.name, style="bold")
    line.append(f"  {format_duration(span)}")
    extras = [v for v in (span.service_name, span.user_id) if v]
    if extras:
        line.append("  " + "  ".join(extras), style="dim")
    if span.error is not None:
        line.append(f"  {error_message(span.error)}", style="red")
    line.truncate(max(20, width), overflow="ellipsis")
    return line


def _poll(store: Any, filters: TracesFilter, since: datetime) -> Iterator[SpanRecord]:
    """Root spans started at or after ``since``, oldest first."""
    flt = replace(filters, started_from=max(since, filters.started_from or since))
    page = 0
    batch: list[SpanRecord] = []
    while True:
        result = store.list_traces(flt, page=page, per_page=MAX_PER_PAGE,
                                   order_by=TracesOrderBy("startedAt", "ASC"))
        batch += result.spans
        if not result.has_more or not result.spans:
            break
        page += 1
    yield from batch


@traces_app.command("tail")
@with_trace_filters
def tail_traces(
    url: UrlArg = None,
    *,
    schema: SchemaOpt = None,
    last: Annotated[int, typer.Option(
        "--last", min=0, help="Show this many recent traces first.")] = 10,
    interval: Annotated[float, typer.Option(
        "--interval", min=0.1, help="Seconds between polls.")] = 2.0,
    count: Annotated[int | None, typer.Option(
        "--count", min=1, help="Stop after this many traces (default: run until Ctrl-C).")]
    = None,
    duration: Annotated[float | None, typer.Option(
        "--for", min=0.0, metavar="SECONDS", help="Stop after this many seconds.")] = None,
    fmt: Annotated[Format, typer.Option(
        "--format", "-f", help="table (one line per trace) or jsonl.")] = Format.table,
    full_ids: Annotated[bool, typer.Option("--full-ids", help="Show whole trace ids.")]
    = False,
    selection: Any = None,
) -> None:
    """Follow new traces as they are stored (and running ones as they finish)."""
    if fmt not in (Format.table, Format.jsonl):
        with cli_errors(url, "traces tail"):
            raise CLIError("traces tail prints table lines or jsonl", EXIT_USAGE)
    out = console()
    printed = 0
    started = time.monotonic()
    with cli_errors(url, "traces tail") as err:
        url = err.url = resolve_url(url, schema)
        chosen: TraceSelection = selection.build()
        store = open_store(url)
        try:
            shown: dict[str, str] = {}  # trace id -> status shown

            def emit(span: SpanRecord) -> bool:
                nonlocal printed
                if not chosen.matches(span) or shown.get(span.trace_id) == span.status:
                    return False
                shown[span.trace_id] = span.status
                if fmt is Format.jsonl:
                    typer.echo(json.dumps(record_json(span), default=str, ensure_ascii=False))
                else:
                    out.print(_tail_line(span, out.width, full_ids), no_wrap=True,
                              overflow="ellipsis")
                printed += 1
                return count is not None and printed >= count

            if fmt is Format.table:
                out.print(Text.assemble(("following ", "bold"), redact_url(url),
                                        ("  (Ctrl-C to stop)", "dim")))
            watermark = datetime.now(timezone.utc) - timedelta(seconds=10)
            if last:
                recent = store.list_traces(chosen.filters, page=0, per_page=min(
                    MAX_PER_PAGE, last), order_by=TracesOrderBy("startedAt", "DESC")).spans
                for span in reversed(recent):
                    if emit(span):
                        return
                if recent:
                    watermark = min(watermark, recent[0].started_at)
            while True:
                if duration is not None and time.monotonic() - started >= duration:
                    return
                # Look back a while: the exporter writes in batches (up to 5 s late) and a
                # running trace is shown again when it ends.
                for span in _poll(store, chosen.filters, watermark):
                    if emit(span):
                        return
                watermark = max(watermark, datetime.now(timezone.utc) - timedelta(minutes=10))
                if len(shown) > 10_000:
                    for key in list(shown)[:5_000]:
                        shown.pop(key)
                time.sleep(interval)
        except KeyboardInterrupt:
            return
        finally:
            store.close()


# ---------------------------------------------------------------------------- transfer

def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    from . import transfer

    transfer.register(traces_app)
    app.add_typer(traces_app, name="traces")

