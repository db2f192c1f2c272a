"""``mastra-storage traces list|show``: look at stored traces from the terminal."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..model.spans import SpanRecord
from ..storage.queries import MAX_PER_PAGE, Trace, TracesFilter, TracesOrderBy
from .render import (
    EXIT_FAILURE,
    EXIT_USAGE,
    CLIError,
    cli_errors,
    console,
    echo_json,
    error_message,
    format_duration,
    format_time,
    open_store_for_reading,
    preview,
    record_json,
    redact_url,
    status_text,
)

UrlArg = Annotated[str, typer.Argument(metavar="URL",
                                         help="Store URL, e.g. sqlite:///./mastra.db")]

traces_app = typer.Typer(no_args_is_help=True, help="List and inspect stored traces.")


class Status(str, Enum):
    success = "success"
    error = "error"
    running = "running"


class OrderField(str, Enum):
    startedAt = "startedAt"
    endedAt = "endedAt"


_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> datetime:
    """An ISO-8601 timestamp (naive = UTC) or a relative age such as ``15m``, ``2h``, ``7d``."""
    from ..model.time import parse_iso

    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return datetime.now(timezone.utc) - delta
    try:
        return parse_iso(text)
    except ValueError:
        raise CLIError(f"--since: {value!r} is neither an ISO-8601 timestamp "
                       "(2026-11-22T02:09:00Z) nor a relative age (15m, 2h, 7d)",
                       EXIT_USAGE) from None


# ---------------------------------------------------------------------------- list

@traces_app.command("list")
def list_traces(
    url: UrlArg,
    service: Annotated[str | None, typer.Option("--service", help="Service name.")] = None,
    status: Annotated[Status | None, typer.Option("--status", help="Trace status.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="User id.")] = None,
    entity_name: Annotated[str | None, typer.Option(
        "--entity-name", help="Entity (agent/workflow) name.")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="Tag the trace must have (repeatable: all must match).")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Started at or after: ISO-8601 (UTC if no offset) or 15m/2h/7d.")]
    = None,
    page: Annotated[int, typer.Option("--page", min=0, help="Page number (0-based).")] = 0,
    per_page: Annotated[int, typer.Option(
        "--per-page", min=1, max=MAX_PER_PAGE, help="Traces per page.")] = 20,
    order: Annotated[OrderField, typer.Option("--order", help="Sort field.")]
    = OrderField.startedAt,
    asc: Annotated[bool, typer.Option("--asc", help="Oldest first (default: newest).")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List traces (their root spans), newest first."""
    with cli_errors(url):
        filters = TracesFilter(
            service_name=service, status=status.value if status else None, user_id=user,
            entity_name=entity_name, tags=list(tag) if tag else None,
            started_from=parse_since(since) if since else None,
        )
        order_by = TracesOrderBy(field=order.value, direction="ASC" if asc else "DESC")
        store = open_store_for_reading(url)
        try:
            result = store.list_traces(filters, page=page, per_page=per_page, order_by=order_by)
        finally:
            store.close()

    if as_json:
        echo_json({
            "total": result.total, "page": result.page, "perPage": result.per_page,
            "hasMore": result.has_more, "traces": [record_json(s) for s in result.spans],
        })
        return

    out = console()
    if not result.spans:
        if result.total:
            out.print(f"page {page} is past the end: {result.total} trace(s) match, "
                      f"{per_page} per page")
        else:
            out.print(Text(f"no traces match in {redact_url(url)}"))
        return
    out.print(Text.assemble(("traces in ", "bold"), redact_url(url)))
    table = Table()
    table.add_column("trace id", no_wrap=True, style="cyan")
    table.add_column("name", no_wrap=True)
    table.add_column("type")
    table.add_column("status")
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("service")
    table.add_column("user")
    for span in result.spans:
        table.add_row(
            Text(span.trace_id), Text(span.name), Text(span.span_type), status_text(span.status),
            format_time(span.started_at), format_duration(span),
            Text(span.service_name or "—"), Text(span.user_id or "—"),
        )
    out.print(table)
    first = page * per_page + 1
    last = page * per_page + len(result.spans)
    pages = max(1, -(-result.total // per_page))
    footer = f"{first}-{last} of {result.total} trace(s) · page {page} (pages 0–{pages - 1})"
    if result.has_more:
        footer += f" · next: --page {page + 1}"
    out.print(Text(footer, style="dim"))


# ---------------------------------------------------------------------------- show

@traces_app.command("show")
def show_trace(
    url: UrlArg,
    trace_id: Annotated[str, typer.Argument(
        metavar="TRACE_ID", help="The trace id (32 hex characters).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    preview_chars: Annotated[int, typer.Option(
        "--preview", min=0, help="Characters of input/output shown per span (0: none).")]
    = 80,
) -> None:
    """Show one trace as a tree of spans."""
    with cli_errors(url):
        store = open_store_for_reading(url)
        try:
            trace = store.get_trace(trace_id.strip())
        finally:
            store.close()
        if trace is None:
            raise CLIError(f"no trace {trace_id!r} in {redact_url(url)}", EXIT_FAILURE)

    root = trace.root
    status = root.status if root is not None else "running"
    if as_json:
        echo_json({"traceId": trace.trace_id, "status": status, "spanCount": len(trace.spans),
                   "spans": [record_json(s) for s in trace.spans]})
        return
    console().print(build_tree(trace, preview_chars))


def build_tree(trace: Trace, preview_chars: int = 80) -> Tree:
    """The spans of ``trace`` nested by ``parentSpanId``; siblings in start order."""
    root = trace.root
    status = root.status if root is not None else "running"
    heading = Text.assemble(("trace ", "bold"), (trace.trace_id, "cyan"), "  ",
                            status_text(status), f"  {len(trace.spans)} span(s)")
    if root is not None:
        heading.append(f"  {format_duration(root)}  started {format_time(root.started_at)}")
        extras = [f"{k} {v}" for k, v in (("service", root.service_name),
                                          ("user", root.user_id)) if v]
        if extras:
            heading.append("  " + "  ".join(extras), style="dim")
    tree = Tree(heading)

    ids = {s.span_id for s in trace.spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in trace.spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)

    seen: set[str] = set()

    def add(branch: Tree, span: SpanRecord) -> None:
        if span.span_id in seen:  # defensive: a malformed parent chain must not loop
            return
        seen.add(span.span_id)
        orphan = span.parent_span_id is not None and span.parent_span_id not in ids
        node = branch.add(_label(span, preview_chars, orphan))
        for child in children.get(span.span_id, []):
            add(node, child)

    for top in children.get(None, []):
        add(tree, top)
    # Spans caught in a parent cycle (never reachable from a top-level span).
    for span in trace.spans:
        if span.span_id not in seen:
            add(tree, span)
    return tree


def _label(span: SpanRecord, preview_chars: int, orphan: bool = False) -> Any:
    line = Text.assemble(
        status_text(span.status, symbol=True), " ", (span.name, "bold"),
        "  ", (span.span_type, "magenta"),
    )
    if span.is_event:
        line.append("  event", style="dim")
    else:
        line.append(f"  {format_duration(span)}")
    line.append(f"  {span.span_id}", style="dim")
    if orphan:
        line.append(f"  (parent {span.parent_span_id} not stored)", style="yellow")
    lines: list[Text] = [line]
    if span.error is not None:
        lines.append(Text.assemble(("  error: ", "bold red"), (error_message(span.error), "red")))
    if preview_chars > 0:
        for label, value in (("in", span.input), ("out", span.output)):
            if value is not None:
                lines.append(Text(f"  {label}: {preview(value, preview_chars)}", style="dim"))
    return lines[0] if len(lines) == 1 else Group(*lines)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.add_typer(traces_app, name="traces")


