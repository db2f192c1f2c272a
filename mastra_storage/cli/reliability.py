"""``mastra-storage reliability URL``: does an outage of your store lose traces?

Emits spans at a steady rate through a ``DefaultExporter`` into the store behind URL and
takes the store away in the middle of the run for ``--outage`` seconds (its writes fail
as an unreachable server's do: connection refused). Then it waits for the exporter to
catch up, counts the rows of the run in the store and prints what was emitted, stored
and dropped, by reason. Nothing is lost when ``emitted == stored`` — otherwise every
missing span must be accounted for by a drop counter, which the command checks.

``--manual`` injects nothing: stop and restart the database yourself while it runs (a
real outage of a real deployment).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .render import (
    EXIT_FAILURE,
    UrlArg,
    cli_errors,
    console,
    err_console,
    progress,
    quiet_loggers,
    redact_url,
    resolve_url,
)


class Outage(ConnectionRefusedError):
    """What the store's writes raise while it is "down"."""


class OutageSwitch:
    """Delegates to a real store; while ``down`` is set, every write fails as an
    unreachable server's would (the exporter keeps the batch and retries)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.down = threading.Event()
        self.failed_writes = 0

    def get_store(self, domain: str) -> Any:
        return self if self._inner.get_store(domain) is not None else None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not name.startswith("batch_") or not callable(attr):
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.down.is_set():
                self.failed_writes += 1
                raise Outage("connection refused (outage injected by mastra-storage "
                             "reliability)")
            return attr(*args, **kwargs)

        return write


def run_outage(url: str, *, outage: float, before: float = 2.0, after: float = 2.0,
               rate: int = 200, manual: bool = False, max_buffer_size: int = 10_000,
               max_batch_wait_ms: int = 500, flush_timeout: float = 120.0) -> dict[str, Any]:
    """Run the scenario; returns emitted, stored, drops by reason and timings."""
    import logging

    tag = f"reliability-{uuid.uuid4().hex[:10]}"
    # The report counts every drop; the exporter's own warnings would only repeat it.
    restore = quiet_loggers("mastra_storage.exporters", level=logging.ERROR)
    try:
        return _run_outage(url, tag, outage=outage, before=before, after=after, rate=rate,
                           manual=manual, max_buffer_size=max_buffer_size,
                           max_batch_wait_ms=max_batch_wait_ms, flush_timeout=flush_timeout)
    finally:
        restore()


def _run_outage(url: str, tag: str, *, outage: float, before: float, after: float,
                rate: int, manual: bool, max_buffer_size: int, max_batch_wait_ms: int,
                flush_timeout: float) -> dict[str, Any]:
    from .. import DefaultExporter, Observability, ObservabilityConfig
    from ..storage.queries import TracesFilter
    from .render import open_store

    store = open_store(url, init=True)
    switch = OutageSwitch(store)
    exporter = DefaultExporter(max_buffer_size=max_buffer_size,
                               max_batch_wait_ms=max_batch_wait_ms)
    obs = Observability(storage=store if manual else switch, configs={
        "default": ObservabilityConfig(service_name=tag, exporters=[exporter])})
    tracer = obs.get_default_instance()
    total = before + outage + after
    emitted = 0
    start = time.monotonic()
    try:
        with progress("emitting spans", round(total)) as bar:
            task = bar.add_task("emit", total=round(total))
            while True:
                elapsed = time.monotonic() - start
                if elapsed >= total:
                    break
                if not manual:
                    if before <= elapsed < before + outage:
                        switch.down.set()
                    else:
                        switch.down.clear()
                for _ in range(max(1, rate // 10)):
                    with tracer.start_span("reliability-check", new_trace=True,
                                           attributes={"n": emitted}):
                        pass
                    emitted += 1
                bar.update(task, completed=min(round(total), round(elapsed)))
                time.sleep(max(0.0, start + emitted / rate - time.monotonic()))
        switch.down.clear()
        t_emitted = time.monotonic() - start
        with progress("waiting for the exporter to catch up", transient=True) as bar:
            bar.add_task("flush", total=None)
            flushed = obs.flush(flush_timeout)
        t_flushed = time.monotonic() - start
    finally:
        switch.down.clear()
        obs.shutdown()
    try:
        stored = store.list_traces(TracesFilter(service_name=tag), per_page=1).total
    finally:
        store.close()
    drops = exporter.drops.snapshot()
    return {
        "store": redact_url(url), "provider": store.provider, "run": tag,
        "outage_seconds": 0.0 if manual else outage, "manual": manual,
        "rate_per_second": rate, "emitted": emitted, "stored": stored,
        "missing": emitted - stored,
        # Drops are counted in span events (a span is a start and an end, or one event):
        # a missing span has at least one dropped event, its end.
        "dropped_events": drops, "dropped_events_total": sum(drops.values()),
        "unaccounted": max(0, emitted - stored - sum(drops.values())),
        "failed_writes": switch.failed_writes,
        "flushed": flushed, "emit_seconds": round(t_emitted, 2),
        "catch_up_seconds": round(t_flushed - t_emitted, 2),
        "max_buffer_size": max_buffer_size, "max_batch_wait_ms": max_batch_wait_ms,
    }


def render_outage(report: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("store", Text(f"{report['store']} [{report['provider']}]"))
    scenario = ("manual: the database was stopped/started by hand (or not at all)"
                if report["manual"] else
                f"{report['outage_seconds']:g} s outage (writes refused) in a "
                f"{report['emit_seconds']:g} s run at {report['rate_per_second']} spans/s")
    table.add_row("scenario", scenario)
    table.add_row("emitted", f"{report['emitted']:,} spans")
    lost = report["missing"]
    table.add_row("stored", Text(f"{report['stored']:,}" + (
        "  (nothing lost)" if lost == 0 else f"  ({lost:,} missing)"),
        style="green" if lost == 0 else "red"))
    drops = report["dropped_events"]
    table.add_row("dropped", Text(
        (", ".join(f"{k}={v:,}" for k, v in drops.items()) + " span events (a span is its "
         "start and its end)") if drops else "none", style="red" if drops else "green"))
    if report["unaccounted"]:
        table.add_row("unaccounted", Text(f"{report['unaccounted']:,} (missing and not counted "
                                          "as dropped: a bug, please report it)", style="red"))
    table.add_row("exporter", f"{report['failed_writes']:,} refused writes retried; caught up "
                              f"{report['catch_up_seconds']:g} s after the run")
    return table


def reliability(
    url: UrlArg = None,
    outage: Annotated[float, typer.Option(
        "--outage", min=0.0, metavar="SECONDS",
        help="How long the store is unreachable, in the middle of the run.")] = 10.0,
    rate: Annotated[int, typer.Option("--rate", min=1, help="Spans per second.")] = 200,
    before: Annotated[float, typer.Option(
        "--before", min=0.0, help="Seconds of normal traffic before the outage.")] = 2.0,
    after: Annotated[float, typer.Option(
        "--after", min=0.0, help="Seconds of traffic after it.")] = 2.0,
    manual: Annotated[bool, typer.Option(
        "--manual", help="Inject nothing: stop/restart the database yourself during the "
                         "run (which lasts --before + --outage + --after seconds).")] = False,
    max_buffer_size: Annotated[int, typer.Option(
        "--max-buffer-size", min=1, help="The exporter's buffer bound (spans).")] = 10_000,
    max_batch_wait_ms: Annotated[int, typer.Option(
        "--max-batch-wait-ms", min=0,
        help="The exporter's batch wait (short, so writes hit the outage).")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
    = False,
) -> None:
    """Emit spans through an outage of the store and report emitted / stored / dropped
    (by reason). Writes rows tagged with a unique service name (reliability-…)."""
    import json

    with cli_errors(url, "reliability") as err:
        url = err.url = resolve_url(url)
        if manual:
            err_console().print(Text(
                f"emitting for {before + outage + after:g} s: stop and restart the database "
                "now to test a real outage", style="bold"))
        report = run_outage(url, outage=outage, before=before, after=after, rate=rate,
                            manual=manual, max_buffer_size=max_buffer_size,
                            max_batch_wait_ms=max_batch_wait_ms)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        console().print(render_outage(report))
    if report["unaccounted"] or not report["flushed"]:
        if not report["flushed"]:
            err_console().print(Text.assemble(
                ("error: ", "bold red"), "the exporter had not caught up 120 s after the run"))
        raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("reliability")(reliability)


