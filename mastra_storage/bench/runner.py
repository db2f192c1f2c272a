"""``mastra-storage bench``: throughput, hot-path cost and memory of one store and strategy.

One run has five phases, in this order (each on its own fresh store or table):

1. **end-to-end** — the support-agent workload (:func:`~mastra_storage.workload.run_workload`)
   through the public tracing API into a :class:`DefaultExporter` bound to a fresh store
   of the same kind (see :func:`_round`),
   timed from the first event until ``shutdown()`` returned and the run's rows were
   counted back. The hot path, SQL statements and peak RSS are measured here.
2. **workload-only** — the same workload into an exporter that only keeps the events: what
   the simulated app and the tracing API cost without any storage. Its events are kept.
3. **pipeline** — those recorded events replayed into a fresh DefaultExporter + store as
   fast as the exporter accepts them without dropping (the replay waits while the buffer
   is 90% full), timed to ``shutdown()`` + count: the library's write path alone.
4. **baseline** — the finished rows of phase 2 written straight through the driver's bulk
   path (see :mod:`.baselines`).
5. **OpenTelemetry peer** (SQLite stores) — the same workload through OpenTelemetry's
   SDK, a ``BatchSpanProcessor`` and a minimal ``executemany`` exporter into a fresh
   table (see :mod:`.otel_peer`): what the end-to-end phase is compared with.
6. **OpenTelemetry** — the hot-path reference (see :func:`.hotpath.otel_reference`).

With ``rounds`` > 1 phases 1 to 5 run that many times, round after round, and each ratio is
the median of the rounds' own ratios (see :func:`_summary`): a single round's ratio moves
with whatever else the machine did during it (PostgreSQL's raw ``COPY`` varied by 10 % either way
from one run to the next on the development VM).
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..exporters.default import DefaultExporter
from ..model.spans import SpanRecord
from ..observability import Observability, ObservabilityConfig
from ..storage.base import ObservabilityStore
from ..storage.urls import create_store, split_layout, split_schema, sqlite_path, with_schema
from ..tracing import Tracer
from ..tracing.events import ExportedEvent, TracingEvent, TracingEventType
from ..workload import WorkloadResult, run_workload
from .baselines import BaselineInput, run_baseline, url_scheme
from .hotpath import HotPathTimer, otel_reference
from .measure import (
    Clock,
    StatementCounter,
    loadavg,
    machine_info,
    mib,
    peak_rss_bytes,
    rates,
    reset_peak_rss,
    rss_bytes,
    sql_engine,
)
from .otel_peer import run_otel_peer
from .verify import verify_rows

# The throughput targets (docs/bench.md, *Targets*): on SQLite, 10,000+ spans with ~1 KB
# input/output each, the pipeline reaches this fraction of the raw driver's spans/s, and
# an emit costs at most HOT_PATH_TARGET_US on the caller's thread.
RATIO_TARGETS = {"batch-with-updates": 0.70, "insert-only": 0.85}
# The write targets (docs/bench.md): PostgreSQL's pipeline against raw COPY; on SQLite
# the end-to-end phase against raw executemany, and against the OpenTelemetry peer (at
# least as fast).
PROVIDER_PIPELINE_TARGETS = {"postgres": 0.80}
END_TO_END_TARGET = 0.70
OTEL_PEER_TARGET = 1.0
HOT_PATH_TARGET_US = 10.0
SQLITE_SCHEMES = ("sqlite", "file", "libsql")
SQLITE_PROVIDERS = ("sqlite", "libsql")


@dataclass
class BenchOptions:
    store: str
    strategy: str = "auto"
    traces: int = 1000
    spans_per_trace: int = 10
    payload_bytes: int = 1024
    error_rate: float = 0.1
    seed: int = 7
    max_batch_size: int = 1000
    max_batch_wait_ms: int = 5000
    max_buffer_size: int = 10000
    baseline: bool = True
    otel: bool = True
    pipeline: bool = True
    # The exporter's default; off, its writes are the same rows as the baseline's and
    # the OpenTelemetry peer's (spans only), for a like-for-like comparison.
    derived_metrics: bool = True
    # Rounds of the timed phases, one after the other (see _summary).
    rounds: int = 1

    def exporter(self) -> DefaultExporter:
        return DefaultExporter(strategy=self.strategy, max_batch_size=self.max_batch_size,
                               max_batch_wait_ms=self.max_batch_wait_ms,
                               max_buffer_size=self.max_buffer_size,
                               derived_metrics=self.derived_metrics)

    def workload(self, tracer: Tracer) -> WorkloadResult:
        return run_workload(tracer, self.traces, spans_per_trace=self.spans_per_trace,
                            payload_bytes=self.payload_bytes, error_rate=self.error_rate,
                            seed=self.seed)


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _scratch_dir(url: str, scheme: str) -> Path:
    """Private directory for fresh databases; beside the store's file when it has one."""
    parent: str | None = None
    if scheme in SQLITE_SCHEMES:
        path = sqlite_path(url)
        if path not in (":memory:", ""):
            parent = str(Path(path).resolve().parent)
    return Path(tempfile.mkdtemp(prefix=".mastra-bench-", dir=parent))


def _fresh_url(url: str, scheme: str, scratch: Path, name: str) -> str:
    """A URL for an empty database of the same kind (server stores: the same URL)."""
    if scheme == "memory":
        return ":memory:"
    if scheme in SQLITE_SCHEMES:
        if sqlite_path(url) in (":memory:", ""):
            return url
        target = scratch / f"{name}.db"
        return f"sqlite:///{target}" if scheme == "sqlite" else f"file:{target}"
    return url


@contextmanager
def _fresh_target(url: str, scheme: str, scratch: Path,
                  name: str = "pipeline") -> Iterator[tuple[str, bool]]:
    """The URL the pipeline phase (and, named ``name``, the end-to-end phase) writes to,
    and whether its store must create its tables.

    PostgreSQL: a schema of its own (``bench_pipe_<id>``: short, since index names carry
    it as a prefix and PostgreSQL cuts names at 63 bytes), created by the store's
    migration before the clock starts and dropped afterwards, as the baseline gets a
    fresh table. In the store's own schema the pipeline's rows went into the
    table every earlier run had filled, and its closing count (``WHERE serviceName =``,
    which no index serves) read that whole table: 0.09 s of a 0.5 s phase once 480,000
    rows were there, and growing with every run, while the baseline counts its 10,000.
    Other stores: :func:`_fresh_url`.
    """
    if scheme not in ("postgresql", "postgres"):
        yield _fresh_url(url, scheme, scratch, name), False
        return
    schema = f"bench_pipe_{uuid.uuid4().hex[:8]}"
    try:
        yield with_schema(url, schema), True
    finally:
        _drop_pg_schema(url, schema)


def _drop_pg_schema(url: str, schema: str) -> None:
    """``DROP SCHEMA … CASCADE`` through the driver (libpq refuses the store's own query
    options, so they are taken out of the URL)."""
    import psycopg
    from psycopg import sql

    plain, _ = split_schema(url)
    plain, _ = split_layout(plain)
    plain = "postgresql://" + plain.split("://", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _statements(counter: StatementCounter | None,
                exporter: DefaultExporter) -> dict[str, Any] | None:
    """What SQLAlchemy saw; flagged when the store wrote through the raw driver instead."""
    if counter is None:
        return None
    seen: dict[str, Any] = dict(counter.snapshot())
    if not seen["execute"] and not seen["executemany"] and exporter.stats.write_calls:
        seen["note"] = ("the store wrote through the raw driver connection (e.g. COPY), "
                        "which SQLAlchemy's events don't see: count store calls instead")
    return seen


def _exporter_summary(exporter: DefaultExporter) -> dict[str, Any]:
    stats = asdict(exporter.stats)
    stats["drops"] = exporter.drops.snapshot()
    stats["drops_total"] = sum(stats["drops"].values())
    return stats


# ---------------------------------------------------------------------------- phases

def _end_to_end(opts: BenchOptions, store: ObservabilityStore, tag: str) -> dict[str, Any]:
    exporter = opts.exporter()
    obs = Observability(storage=store, configs={
        "default": ObservabilityConfig(service_name=tag, exporters=[exporter])})
    tracer = obs.get_default_instance()
    engine = sql_engine(store)
    counter = StatementCounter(engine).attach() if engine is not None else None
    timer = HotPathTimer()
    gc.collect()
    rss_before = rss_bytes()
    phase_peak = reset_peak_rss()
    try:
        with timer.installed(exporter):
            clock = Clock()
            workload = opts.workload(tracer)
            emit_wall, emit_cpu = clock.elapsed()
        obs.shutdown()
        shutdown_wall, _ = clock.elapsed()
    finally:
        if counter is not None:
            counter.detach()
    peak = peak_rss_bytes()
    verified = verify_rows(store, tag)
    wall, cpu = clock.elapsed()
    return {
        "strategy": str(exporter.strategy),
        "workload": asdict(workload),
        "events": timer.events,
        **rates(workload.spans, wall, cpu),
        "emit_seconds": round(emit_wall, 4),
        "emit_cpu_seconds": round(emit_cpu, 4),
        "drain_seconds": round(shutdown_wall - emit_wall, 4),
        "verify_seconds": round(wall - shutdown_wall, 4),
        "rows_verified": verified.rows,
        "rows_complete": verified.complete,
        "verify_method": verified.method,
        "exporter": _exporter_summary(exporter),
        "statements": _statements(counter, exporter),
        "rss": {
            "before_mib": mib(rss_before),
            "peak_mib": mib(peak),
            "after_mib": mib(rss_bytes()),
            "peak_growth_mib": mib(peak - rss_before),
            "peak_of": "this phase (VmHWM reset)" if phase_peak else "process so far",
        },
        "hot_path": timer.result(),
    }


class _Recorder:
    """An exporter that keeps every span event (for the replay and the baseline)."""

    name = "bench-recorder"

    def __init__(self) -> None:
        self.events: list[TracingEvent] = []

    def bind(self, storage: ObservabilityStore | None) -> None:
        return None

    def export(self, event: ExportedEvent) -> None:
        if type(event) is TracingEvent:
            self.events.append(event)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def shutdown(self, timeout: float | None = None) -> None:
        return None


def _workload_only(opts: BenchOptions, tag: str) -> tuple[dict[str, Any], list[TracingEvent]]:
    recorder = _Recorder()
    tracer = Tracer("bench", tag, [recorder])
    gc.collect()
    clock = Clock()
    workload = opts.workload(tracer)
    wall, cpu = clock.elapsed()
    return ({"what": "the same workload and tracing API into an exporter that only appends "
                     "events to a list: the app's own cost, no storage",
             **rates(workload.spans, wall, cpu), "events": len(recorder.events)},
            recorder.events)


def _pipeline(opts: BenchOptions, url: str, events: list[TracingEvent], tag: str,
              spans: int, migrate: bool = False) -> dict[str, Any]:
    store = create_store(url, auto_migrate=True) if migrate else create_store(url)
    try:
        exporter = opts.exporter()
        exporter.bind(store)
        engine = sql_engine(store)
        counter = StatementCounter(engine).attach() if engine is not None else None
        limit = max(1, int(opts.max_buffer_size * 0.9))
        waits = 0
        export = exporter.export
        gc.collect()
        try:
            clock = Clock()
            for event in events:
                while exporter.buffered >= limit:
                    waits += 1
                    time.sleep(0.0005)
                export(event)
            exporter.shutdown()
            shutdown_wall, _ = clock.elapsed()
        finally:
            if counter is not None:
                counter.detach()
        verified = verify_rows(store, tag)
        wall, cpu = clock.elapsed()
        return {
            "what": "the recorded events replayed into a fresh DefaultExporter + store, "
                    "first export → shutdown() + rows counted",
            **rates(spans, wall, cpu),
            "drain_and_write_seconds": round(shutdown_wall, 4),
            "verify_seconds": round(wall - shutdown_wall, 4),
            "backpressure_waits": waits,
            "rows_verified": verified.rows,
            "rows_complete": verified.complete,
            "exporter": _exporter_summary(exporter),
            "statements": _statements(counter, exporter),
        }
    finally:
        store.close()


def _round(opts: BenchOptions, store: ObservabilityStore, url: str, scheme: str,
           scratch: Path, tag: str) -> dict[str, Any]:
    """One round of the timed phases (end to end, workload only, pipeline, baseline,
    OpenTelemetry peer) and its ratios.

    The end-to-end phase writes into a fresh database (SQLite) or schema (PostgreSQL), as
    the pipeline does, not into the store's own table: what is already there would
    change the figure. SQLite's span writes slow down as a table grows (the default
    workload: 17,800 spans/s into an empty table, 12,900 once it held 30,000 rows), and the
    closing count (``WHERE serviceName = …``, which no index serves) reads every row the
    table holds: on a PostgreSQL schema earlier runs had filled with 1,500,000 rows the
    phase ran at 11,500 spans/s, at 17,500-20,700 in a fresh schema."""
    out: dict[str, Any] = {}
    with _fresh_target(url, scheme, scratch, "end-to-end") as (target, migrate):
        own = create_store(target, auto_migrate=True) if migrate else create_store(target)
        try:
            e2e = _end_to_end(opts, own, tag)
        finally:
            own.close()
    out["strategy"] = e2e["strategy"]
    out["hot_path"] = e2e.pop("hot_path")
    out["end_to_end"] = e2e
    spans = e2e["workload"]["spans"]
    reference, events = _workload_only(opts, f"{tag}-replay")
    out["workload_only"] = reference
    out["pipeline"] = None
    if opts.pipeline:
        with _fresh_target(url, scheme, scratch) as (target, migrate):
            out["pipeline"] = _pipeline(opts, target, events, f"{tag}-replay", spans, migrate)
    finished: list[SpanRecord] = [e.span for e in events
                                  if e.type is TracingEventType.SPAN_ENDED]
    del events
    if opts.baseline:
        out["baseline"] = run_baseline(BaselineInput(url, scheme, finished, scratch, store))
    else:
        out["baseline"] = {"available": False, "reason": "disabled (--no-baseline)"}
    del finished
    if not opts.otel:
        out["otel_peer"] = {"available": False, "reason": "disabled (--no-otel)"}
    elif scheme not in SQLITE_SCHEMES:
        out["otel_peer"] = {"available": False,
                            "reason": "the OpenTelemetry peer writes SQLite only"}
    else:
        gc.collect()
        out["otel_peer"] = run_otel_peer(opts, scratch, store, f"{tag}-otel")
    base = out["baseline"]
    out["ratios"] = {
        "end_to_end_vs_baseline": _ratio(e2e, base),
        "pipeline_vs_baseline": _ratio(out["pipeline"], base),
        "end_to_end_vs_otel_peer": _ratio(e2e, out["otel_peer"]),
    }
    return out


_PHASES = ("end_to_end", "workload_only", "pipeline", "baseline", "otel_peer")


def _median_of(values: list[Any], key: Any = None) -> Any:
    """The median; of an even count, the lower of the middle two (a value measured)."""
    return sorted(values, key=key)[(len(values) - 1) // 2]


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's phases and ratios from the rounds. One round is reported as it is.
    Of several, each phase is the round where its throughput was the median one (the
    hot path comes with that round's end-to-end phase); each ratio is the median of the
    rounds' own ratios, with their range and every round's value: a phase and its
    baseline that ran side by side are compared, as one round does."""
    if len(rounds) == 1:
        return {**rounds[0], "rounds": 1}

    def tput(phase: dict[str, Any] | None) -> float:
        return float((phase or {}).get("spans_per_s") or 0.0)

    out: dict[str, Any] = {"strategy": rounds[0]["strategy"], "rounds": len(rounds)}
    for name in _PHASES:
        chosen = _median_of(rounds, key=lambda r: tput(r[name]))
        out[name] = chosen[name]
        if name == "end_to_end":
            out["hot_path"] = chosen["hot_path"]
        if chosen[name] and chosen[name].get("spans_per_s") is not None:
            out[name] = {**chosen[name], "spans_per_s_rounds": [tput(r[name]) for r in rounds]}
    ratios: dict[str, dict[str, Any]] = {}
    for key in rounds[0]["ratios"]:
        entry: dict[str, Any] = {}
        for measure in ("throughput", "cpu"):
            values = [r["ratios"][key][measure] for r in rounds]
            known = [v for v in values if v is not None]
            entry[measure] = _median_of(known) if len(known) == len(values) else None
            if measure == "throughput":
                entry["throughput_rounds"] = values
                entry["throughput_range"] = [min(known), max(known)] if known else None
        ratios[key] = entry
    out["ratios"] = ratios
    return out


def _ratio(ours: dict[str, Any] | None, base: dict[str, Any]) -> dict[str, float | None]:
    if not ours or not base.get("available") or base.get("comparable") is False:
        return {"throughput": None, "cpu": None}
    tput = (round(ours["spans_per_s"] / base["spans_per_s"], 3)
            if ours.get("spans_per_s") and base.get("spans_per_s") else None)
    cpu = (round(base["cpu_us_per_span"] / ours["cpu_us_per_span"], 3)
           if ours.get("cpu_us_per_span") and base.get("cpu_us_per_span") else None)
    return {"throughput": tput, "cpu": cpu}


def _targets(strategy: str, provider: str, ratios: dict[str, dict[str, float | None]],
             hot: dict[str, Any]) -> dict[str, Any]:
    target = PROVIDER_PIPELINE_TARGETS.get(provider, RATIO_TARGETS.get(strategy))
    sqlite = provider in SQLITE_PROVIDERS

    def met(value: float | None, goal: float | None) -> bool | None:
        return None if goal is None or value is None else value >= goal

    api = hot["api_us"]["median_us"]
    export = hot["export_us"]["median_us"]
    e2e_target = END_TO_END_TARGET if sqlite else None
    peer_target = OTEL_PEER_TARGET if sqlite else None
    return {
        "ratio_target": target,
        "pipeline_met": met(ratios["pipeline_vs_baseline"]["throughput"], target),
        "end_to_end_target": e2e_target,
        "end_to_end_met": met(ratios["end_to_end_vs_baseline"]["throughput"], e2e_target),
        "otel_peer_target": peer_target,
        "otel_peer_met": met(ratios["end_to_end_vs_otel_peer"]["throughput"], peer_target),
        "hot_path_target_us": HOT_PATH_TARGET_US,
        "api_median_met": None if api is None else api <= HOT_PATH_TARGET_US,
        "export_median_met": None if export is None else export <= HOT_PATH_TARGET_US,
    }


def run_bench(opts: BenchOptions) -> dict[str, Any]:
    """Run every phase and return the report (a JSON-ready dict)."""
    url = opts.store.strip()
    scheme = url_scheme(url)
    tag = f"mastra-bench-{uuid.uuid4().hex[:10]}"
    machine = machine_info()
    scratch = _scratch_dir(url, scheme)
    report: dict[str, Any] = {
        "mode": "throughput",
        "store": mask_url(url),
        "run_tag": tag,
        "workload": {"traces": opts.traces, "spans_per_trace": opts.spans_per_trace,
                     "payload_bytes": opts.payload_bytes, "error_rate": opts.error_rate,
                     "seed": opts.seed},
        "exporter_settings": {"requested_strategy": opts.strategy,
                              "max_batch_size": opts.max_batch_size,
                              "max_batch_wait_ms": opts.max_batch_wait_ms,
                              "max_buffer_size": opts.max_buffer_size},
        "machine": machine,
    }
    store = create_store(url)
    try:
        report["provider"] = store.provider
        version = getattr(store, "sqlite_version", None)
        if version is not None:
            machine["store_sqlite"] = version
        rounds = []
        for i in range(opts.rounds):
            fresh = scratch / f"round-{i}"  # each round's fresh databases
            fresh.mkdir()
            try:
                rounds.append(_round(opts, store, url, scheme, fresh,
                                     tag if i == 0 else f"{tag}-{i}"))
            finally:
                shutil.rmtree(fresh, ignore_errors=True)
        report.update(_summary(rounds))
        report["exporter_settings"]["derived_metrics"] = opts.derived_metrics
        report["targets"] = _targets(report["strategy"], store.provider, report["ratios"],
                                     report["hot_path"])
        report["otel_reference"] = (
            otel_reference(opts.traces, opts.spans_per_trace, opts.payload_bytes)
            if opts.otel else {"available": False, "reason": "disabled (--no-otel)"})
    finally:
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
    machine["loadavg_end"] = loadavg()
    return report
