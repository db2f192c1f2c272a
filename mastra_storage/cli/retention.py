"""``mastra-storage stats`` and ``mastra-storage prune``: how big the store is, per signal,
and keeping it bounded.

``prune --older-than 30d`` deletes whole traces that started before the cutoff (with
their logs, metrics, scores and feedback) and any signal row older than it. It works
through the time range in slices, oldest first, so a large store shows progress and every
slice is a complete, consistent deletion; ``--dry-run`` counts instead. A SQLite file
keeps its size after a delete until it is vacuumed (``--vacuum``).
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..model.time import format_iso
from ..storage.signal_queries import SIGNALS
from .filters import parse_age, parse_when
from .render import (
    SQLITE_SCHEMES,
    SchemaOpt,
    UrlArg,
    cli_errors,
    console,
    format_bytes,
    format_time,
    open_store,
    progress,
    redact_url,
    resolve_url,
    scheme_of,
)

PRUNE_SLICES = 20
Signal = Enum("Signal", {s: s for s in SIGNALS}, type=str)  # type: ignore[misc]


def _stats(store: Any) -> dict[str, dict[str, Any]]:
    return dict(store.stats())


def _sqlite_file_bytes(url: str) -> int | None:
    if scheme_of(url) not in SQLITE_SCHEMES:
        return None
    from ..storage.urls import sqlite_path

    path = sqlite_path(url)
    if path == ":memory:":
        return None
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.path.getsize(path + suffix)
    return total


def stats(
    url: UrlArg = None,
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rows, size, oldest and newest record per signal (spans, logs, metrics, scores,
    feedback)."""
    with cli_errors(url, "stats") as err:
        url = err.url = resolve_url(url, schema)
        store = open_store(url)
        try:
            data = _stats(store)
        finally:
            store.close()
    file_bytes = _sqlite_file_bytes(url)
    if as_json:
        out_data: dict[str, Any] = {
            name: {k: (format_iso(v) if isinstance(v, datetime) else v) for k, v in row.items()}
            for name, row in data.items()}
        if file_bytes is not None:
            out_data["file"] = {"bytes": file_bytes}
        typer.echo(json.dumps(out_data, indent=2))
        return
    out = console()
    out.print(Text.assemble(("store ", "bold"), redact_url(url),
                            f"  [{getattr(store, 'provider', '?')}]"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header, justify in (("signal", "left"), ("rows", "right"), ("size", "right"),
                            ("oldest (UTC)", "left"), ("newest (UTC)", "left")):
        table.add_column(header, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for name in SIGNALS:
        row = data.get(name)
        if row is None:
            table.add_row(name, "—", "—", "not kept by this store", "")
            continue
        table.add_row(name, f"{row['rows']:,}", format_bytes(row.get("bytes")),
                      format_time(row.get("oldest"), ms=False),
                      format_time(row.get("newest"), ms=False))
    out.print(table)
    if file_bytes is not None:
        out.print(Text(f"file size on disk: {format_bytes(file_bytes)} (with -wal/-shm)",
                       style="dim"))
    oldest = [r["oldest"] for r in data.values() if r.get("oldest") is not None]
    if oldest:
        age = datetime.now(timezone.utc) - min(oldest)
        out.print(Text(f"oldest record: {age.days} day(s) ago · keep it bounded: "
                       f"mastra-storage prune {redact_url(url)} --older-than 30d",
                       style="dim"), soft_wrap=True)


def _cutoff(value: str) -> datetime:
    age = parse_age(value)
    if age is not None:
        return datetime.now(timezone.utc) - age
    return parse_when(value, "--older-than")


def _dry_run(store: Any, cutoff: datetime, chosen: list[str]) -> dict[str, str]:
    """What a prune would delete (traces and signal rows older than the cutoff)."""
    from ..errors import UnsupportedOperation
    from ..storage import signal_queries as q
    from ..storage.queries import TracesFilter

    out: dict[str, str] = {}
    before = cutoff - timedelta(milliseconds=1)
    if "spans" in chosen:
        traces = store.list_traces(TracesFilter(started_to=before), per_page=1).total
        out["spans"] = f"{traces:,} trace(s) and all their spans"
    window = q.TimeRange(end=cutoff, end_exclusive=True)
    for name, method, flt in (("logs", "list_logs", q.LogsFilter),
                              ("metrics", "list_metrics", q.MetricsFilter),
                              ("scores", "list_scores", q.ScoresFilter),
                              ("feedback", "list_feedback", q.FeedbackFilter)):
        if name not in chosen:
            continue
        try:
            total = getattr(store, method)(flt(timestamp=window), 0, 1).total
        except UnsupportedOperation:
            out[name] = "not kept by this store"
            continue
        extra = " (+ those of the traces above)" if "spans" in chosen else ""
        out[name] = f"{total:,} row(s){extra}"
    return out


def _vacuum(store: Any, url: str) -> str:
    if scheme_of(url) not in SQLITE_SCHEMES:
        return "--vacuum applies to SQLite files (servers reuse the space themselves)"
    engine = store.engine
    before = _sqlite_file_bytes(url)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("VACUUM")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    after = _sqlite_file_bytes(url)
    return f"vacuumed: {format_bytes(before)} → {format_bytes(after)} on disk"


def prune(
    url: UrlArg = None,
    *,
    older_than: Annotated[str, typer.Option(
        "--older-than", metavar="AGE",
        help="Delete what is older than this: an age (30d, 12h, 2w) or an ISO-8601 time.",
        show_default=False)],
    signal: Annotated[list[Signal] | None, typer.Option(
        "--signal", metavar="SIGNAL", show_default=False,
        help="Only this signal: spans, logs, metrics, scores or feedback (repeatable; "
             "default: all five).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Count what would be deleted; delete nothing.")] = False,
    vacuum: Annotated[bool, typer.Option(
        "--vacuum", help="SQLite: give the freed space back to the file system (rewrites "
                         "the file; needs that much free disk).")] = False,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Don't ask for confirmation on a terminal.")] = False,
    schema: SchemaOpt = None,
) -> None:
    """Delete traces started before a cutoff (with their logs, metrics, scores, feedback)
    and signal rows older than it."""
    with cli_errors(url, "prune") as err:
        cutoff = _cutoff(older_than)
        chosen = [s.value for s in signal] if signal else list(SIGNALS)
        url = err.url = resolve_url(url, schema)
        store = open_store(url)
        out = console()
        try:
            where = redact_url(url)
            out.print(Text.assemble(("store ", "bold"), where, ("  cutoff ", "bold"),
                                    format_time(cutoff, ms=False), " UTC"))
            if dry_run:
                for name, what in _dry_run(store, cutoff, chosen).items():
                    out.print(Text.assemble((f"  {name:<9}", "bold"), f"would delete {what}"))
                out.print(Text("dry run: nothing was deleted", style="dim"))
                return
            if not yes and os.isatty(0) and os.isatty(1):
                typer.confirm(f"Delete {', '.join(chosen)} older than "
                              f"{format_time(cutoff, ms=False)} UTC from {where}?", abort=True)
            counts = _prune_in_slices(store, cutoff, chosen)
            for name in chosen:
                out.print(Text.assemble((f"  {name:<9}", "bold"), f"{counts.get(name, 0):,} "
                                        "row(s) deleted"))
            if vacuum:
                out.print(Text(_vacuum(store, url)))
            elif scheme_of(url) in SQLITE_SCHEMES and any(counts.values()):
                out.print(Text("the file keeps its size until vacuumed: add --vacuum",
                               style="dim"))
        finally:
            store.close()


def _prune_in_slices(store: Any, cutoff: datetime, chosen: list[str]) -> dict[str, int]:
    """``store.prune`` over growing cutoffs, oldest first: the union is exactly one prune
    at ``cutoff``, and the bar moves as the old data goes."""
    try:
        oldest = [r["oldest"] for name, r in _stats(store).items()
                  if name in chosen and r.get("oldest") is not None]
    except Exception:  # no stats: one step
        oldest = []
    start = min(oldest) if oldest else cutoff
    steps: list[datetime] = []
    if start < cutoff:
        span = (cutoff - start) / PRUNE_SLICES
        steps = [start + span * i for i in range(1, PRUNE_SLICES)]
    steps.append(cutoff)
    counts: dict[str, int] = dict.fromkeys(chosen, 0)
    with progress("pruning", len(steps)) as bar:
        task = bar.add_task("prune", total=len(steps))
        for step in steps:
            for name, n in store.prune(step, chosen).items():
                counts[name] = counts.get(name, 0) + n
            bar.advance(task)
    return counts


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("stats")(stats)
    app.command("prune")(prune)

