"""``traces show``: a trace as a tree of spans with a waterfall (bars to scale), then the
trace's logs, scores and feedback.

Every line is built to the console's width: the tree on the left (cut with an ellipsis
when needed), the duration, then a bar whose offset and length are the span's start and
duration on the trace's time axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.text import Text

from ..model.spans import SpanRecord
from ..storage.queries import Trace
from .render import (
    SHORT_SPAN_ID,
    STATUS_STYLE,
    error_message,
    format_duration,
    format_ms,
    format_time,
    preview,
    status_text,
)

BAR_CHAR = "━"
EVENT_CHAR = "◆"
DURATION_WIDTH = 9


@dataclass
class Row:
    span: SpanRecord
    lead: str  # tree drawing before the span's own line
    cont: str  # tree drawing for the lines under it (details, children)
    orphan: bool


def tree_rows(trace: Trace) -> list[Row]:
    """Spans in tree order (children by start time) with their tree drawing."""
    ids = {s.span_id for s in trace.spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in trace.spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    rows: list[Row] = []
    seen: set[str] = set()

    def walk(span: SpanRecord, lead: str, cont: str) -> None:
        if span.span_id in seen:  # a malformed parent chain must not loop
            return
        seen.add(span.span_id)
        orphan = span.parent_span_id is not None and span.parent_span_id not in ids
        rows.append(Row(span, lead, cont, orphan))
        kids = [k for k in children.get(span.span_id, []) if k.span_id not in seen]
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, cont + ("└── " if last else "├── "), cont + ("    " if last else "│   "))

    for top in children.get(None, []):
        walk(top, "", "")
    for span in trace.spans:  # spans caught in a parent cycle
        if span.span_id not in seen:
            walk(span, "", "")
    return rows


def _axis(trace: Trace) -> tuple[datetime, float]:
    start = min(s.started_at for s in trace.spans)
    ends = [s.ended_at or s.started_at for s in trace.spans]
    if any(s.ended_at is None for s in trace.spans):
        ends.append(datetime.now(timezone.utc))
    total = max((max(ends) - start).total_seconds() * 1000, 0.0)
    return start, total


def bar(span: SpanRecord, start: datetime, total_ms: float, width: int) -> Text:
    """The span on the trace's time axis, ``width`` cells wide."""
    offset = (span.started_at - start).total_seconds() * 1000
    style = STATUS_STYLE.get(span.status, "")
    if total_ms <= 0:
        first, last = 0, width
    else:
        first = min(width - 1, int(offset / total_ms * width))
        if span.is_event:
            return Text(" " * first + EVENT_CHAR, style=style)
        end = span.ended_at or datetime.now(timezone.utc)
        end_ms = (end - span.started_at).total_seconds() * 1000 + offset
        last = max(first + 1, min(width, math.ceil(end_ms / total_ms * width)))
    if span.is_event:
        return Text(EVENT_CHAR, style=style)
    return Text(" " * first + BAR_CHAR * (last - first), style=style)


def heading(trace: Trace) -> list[Text]:
    root = trace.root
    status = root.status if root is not None else "running"
    line = Text.assemble(("trace ", "bold"), (trace.trace_id, "cyan"), "  ",
                         status_text(status), f"  {len(trace.spans)} span(s)")
    lines = [line]
    if root is not None:
        line.append(f"  {format_duration(root)}")
        extras = [f"{k} {v}" for k, v in (
            ("started", format_time(root.started_at)), ("service", root.service_name),
            ("user", root.user_id), ("env", root.environment),
            ("entity", root.entity_name if root.entity_name != root.name else None)) if v]
        lines.append(Text("  ".join(extras), style="dim"))
    errors = sum(s.error is not None for s in trace.spans)
    if errors:
        lines.append(Text(f"{errors} span(s) with an error", style="red"))
    return lines


def render_trace(out: Console, trace: Trace, preview_chars: int = 80,
                 full_ids: bool = False, waterfall: bool = True) -> None:
    width = max(40, out.width)
    bar_width = min(40, max(10, width // 4)) if waterfall else 0
    right = DURATION_WIDTH + (bar_width + 1 if waterfall else 0)
    label_width = max(20, width - right - 1)
    start, total = _axis(trace)
    for line in heading(trace):
        out.print(line, overflow="fold")
    out.print()
    if waterfall:
        scale = Text(" " * (label_width + 1) + "duration".rjust(DURATION_WIDTH - 1) + " ",
                     style="dim")
        axis = f"0{format_ms(total).rjust(bar_width - 1)}" if bar_width > 8 else ""
        scale.append(axis, style="dim")
        out.print(scale, no_wrap=True, overflow="ellipsis")
    for row in tree_rows(trace):
        span = row.span
        label = Text(row.lead, style="dim")
        label.append_text(status_text(span.status, symbol=True))
        label.append(" ")
        label.append(span.name, style="bold")
        label.append(f"  {span.span_type}", style="magenta")
        shown_id = span.span_id if full_ids else span.span_id[:SHORT_SPAN_ID]
        label.append(f"  {shown_id}", style="dim")
        if row.orphan:
            label.append(f"  (parent {span.parent_span_id} not stored)", style="yellow")
        label.truncate(label_width, overflow="ellipsis", pad=True)
        line = Text.assemble(label, " ")
        duration = "event" if span.is_event else format_duration(span)
        line.append(duration.rjust(DURATION_WIDTH - 1) + " ",
                    style="dim" if span.is_event else "")
        if waterfall:
            line.append_text(bar(span, start, total, bar_width))
        out.print(line, no_wrap=True, overflow="ellipsis")
        under = row.cont + ("│   " if _has_children(row, trace) else "    ")
        if span.error is not None:
            out.print(Text.assemble((under, "dim"), ("error: ", "bold red"),
                                    (error_message(span.error), "red")))
        if preview_chars > 0:
            for name, value in (("in", span.input), ("out", span.output)):
                if value is not None:
                    text = Text.assemble((under, "dim"),
                                         (f"{name}: {preview(value, preview_chars)}", "dim"))
                    out.print(text, no_wrap=True, overflow="ellipsis")


def _has_children(row: Row, trace: Trace) -> bool:
    return any(s.parent_span_id == row.span.span_id for s in trace.spans)


# ---------------------------------------------------------------------------- signals

@dataclass
class Signals:
    """A trace's logs, scores and feedback (None: the store can't list them, with why)."""

    logs: list[Any] | None
    scores: list[Any] | None
    feedback: list[Any] | None
    totals: dict[str, int]
    unavailable: dict[str, str]


def fetch_signals(store: Any, trace_id: str, per_page: int = 100) -> Signals:
    from ..errors import UnsupportedOperation
    from ..storage.signal_queries import (
        FeedbackFilter,
        LogsFilter,
        ScoresFilter,
        SignalOrder,
    )
    from .hints import describe

    found: dict[str, list[Any] | None] = {}
    totals: dict[str, int] = {}
    unavailable: dict[str, str] = {}
    order = SignalOrder("timestamp", "ASC")
    for name, method, flt in (("logs", "list_logs", LogsFilter(trace_id=trace_id)),
                              ("scores", "list_scores", ScoresFilter(trace_id=trace_id)),
                              ("feedback", "list_feedback", FeedbackFilter(trace_id=trace_id))):
        try:
            page = getattr(store, method)(flt, 0, per_page, order)
        except UnsupportedOperation:
            found[name] = None
            unavailable[name] = f"this store ({getattr(store, 'provider', '?')}) does not " \
                                f"keep {name}"
            continue
        except Exception as exc:  # e.g. a database migrated before the signal tables
            found[name] = None
            unavailable[name] = describe(exc, None)
            continue
        found[name] = list(page.items)
        totals[name] = page.total
    return Signals(found["logs"], found["scores"], found["feedback"], totals, unavailable)


def _span_label(trace: Trace, span_id: str | None) -> str:
    if not span_id:
        return ""
    for span in trace.spans:
        if span.span_id == span_id:
            return span.name
    return span_id[:SHORT_SPAN_ID]


def render_signals(out: Console, trace: Trace, signals: Signals) -> None:
    sections = (("logs", signals.logs), ("scores", signals.scores),
                ("feedback", signals.feedback))
    for name, items in sections:
        out.print()
        if items is None:
            out.print(Text.assemble((f"{name}: ", "bold"),
                                    (signals.unavailable.get(name, "unavailable"), "dim")))
            continue
        total = signals.totals.get(name, len(items))
        out.print(Text(f"{name} ({total})", style="bold"))
        if not items:
            out.print(Text("  none", style="dim"))
            continue
        for item in items:
            out.print(_signal_line(name, item, trace), no_wrap=True, overflow="ellipsis")
        if total > len(items):
            out.print(Text(f"  … {total - len(items)} more", style="dim"))


LEVEL_STYLE = {"debug": "dim", "info": "", "warn": "yellow", "error": "red", "fatal": "bold red"}


def _signal_line(kind: str, item: Any, trace: Trace) -> Text:
    when = format_time(item.timestamp)[11:23]  # the time of day: a trace is short
    line = Text(f"  {when}  ", style="dim")
    if kind == "logs":
        line.append(f"{item.level:<5}", style=LEVEL_STYLE.get(item.level, ""))
    elif kind == "scores":
        line.append(f"{item.scorer_id}", style="bold")
        line.append(f"  {item.score:g}")
    else:
        value = item.value_number if item.value_number is not None else item.value_string
        line.append(f"{item.feedback_type}", style="bold")
        line.append(f"  {value}")
    span = _span_label(trace, item.span_id)
    if span:
        line.append(f"  {span}", style="cyan")
    if kind == "logs":
        line.append(f"  {item.message}")
        if item.data is not None:
            line.append(f"  {preview(item.data, 60)}", style="dim")
    elif kind == "scores":
        if item.reason:
            line.append(f"  {item.reason}", style="dim")
    else:
        line.append(f"  from {item.feedback_source}", style="dim")
        if item.comment:
            line.append(f"  “{item.comment}”", style="dim")
    return line
