"""Metric reads over a large table: ``python -m mastra_storage.bench.metrics``.

Writes ``--rows`` metric rows (default 1,000,000) through the store's own write path
(``batch_create_metrics``) into a fresh store — SQLite by default — then times each
read the Studio dashboards issue, over all of those rows:

* ``aggregate``: ``sum`` of the metric (a KPI), and the same with ``compare_period``
  (two windows);
* ``breakdown``: ``sum`` by model (a column) and ``count`` by the ``status`` label;
* ``timeseries``: ``sum`` per hour, and ``avg`` per hour by model;
* ``percentiles``: p50/p90/p99 per hour.

Every read is run ``--repeat`` times (default 5); the report gives the median and the
fastest, in milliseconds. The rows: one metric name, timestamps spread evenly over 7
days (168 hourly buckets), 5 models, 2 providers, 10 agents, a ``status`` label, a cost.
Method and figures: docs/bench.md, *Metric reads*.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..model.signals import MetricRecord
from ..storage.signal_queries import (
    MetricAggregateRequest,
    MetricBreakdownRequest,
    MetricPercentilesRequest,
    MetricsFilter,
    MetricTimeseriesRequest,
    TimeRange,
)

NAME = "mastra_agent_duration_ms"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=7)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3", "gemini-pro")
PROVIDERS = ("openai", "other")
WRITE_BATCH = 10_000


def rows(count: int, seed: int = 1) -> list[MetricRecord]:
    rnd = random.Random(seed)
    step = SPAN / count
    out = []
    for i in range(count):
        model = MODELS[i % len(MODELS)]
        out.append(MetricRecord(
            timestamp=START + step * i, name=NAME, value=round(rnd.lognormvariate(6, 1), 3),
            labels={"status": "error" if rnd.random() < 0.05 else "ok"},
            provider=PROVIDERS[0] if model.startswith("gpt") else PROVIDERS[1], model=model,
            estimated_cost=round(rnd.random() / 100, 6), cost_unit="USD",
            entity_type="agent", entity_name=f"agent-{i % 10}", environment="production",
            service_name="bench", metric_id=f"m{i:08d}"))
    return out


def load(store: Any, count: int) -> float:
    """Write ``count`` rows; returns rows per second."""
    records = rows(count)
    began = time.perf_counter()
    for i in range(0, count, WRITE_BATCH):
        store.batch_create_metrics(records[i:i + WRITE_BATCH])
    return count / (time.perf_counter() - began)


def reads() -> dict[str, Callable[[Any], Any]]:
    whole = MetricsFilter(timestamp=TimeRange(START + SPAN / 2, START + SPAN))
    return {
        "aggregate sum": lambda s: s.metric_aggregate(MetricAggregateRequest((NAME,), "sum")),
        "aggregate sum, previous period": lambda s: s.metric_aggregate(MetricAggregateRequest(
            (NAME,), "sum", filters=whole, compare_period="previous_period")),
        "breakdown sum by model": lambda s: s.metric_breakdown(MetricBreakdownRequest(
            (NAME,), ("model",))),
        "breakdown count by label": lambda s: s.metric_breakdown(MetricBreakdownRequest(
            (NAME,), ("status",), aggregation="count")),
        "timeseries sum 1h": lambda s: s.metric_timeseries(MetricTimeseriesRequest(
            (NAME,), "1h")),
        "timeseries avg 1h by model": lambda s: s.metric_timeseries(MetricTimeseriesRequest(
            (NAME,), "1h", aggregation="avg", group_by=("model",))),
        "percentiles p50/p90/p99 1h": lambda s: s.metric_percentiles(MetricPercentilesRequest(
            NAME, (0.5, 0.9, 0.99), "1h")),
    }


def measure(store: Any, repeat: int) -> dict[str, dict[str, float]]:
    out = {}
    for label, read in reads().items():
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            read(store)
            times.append((time.perf_counter() - began) * 1000)
        out[label] = {"median_ms": statistics.median(times), "min_ms": min(times)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="sqlite:///./bench-metrics.db",
                        help="store URL (a scratch database: rows are added to it)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-load", action="store_true",
                        help="time the reads on the rows already in the store")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from ..storage import create_store

    store: Any = create_store(args.store, auto_migrate=True)
    try:
        report: dict[str, Any] = {"store": args.store, "rows": args.rows}
        if not args.skip_load:
            report["write_rows_per_s"] = round(load(store, args.rows))
        report["stored_rows"] = store.stats()["metrics"]["rows"]
        report["reads"] = measure(store, args.repeat)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['store']}: {report['stored_rows']:,} metric rows"
          + (f", written at {report['write_rows_per_s']:,} rows/s"
             if "write_rows_per_s" in report else ""))
    for label, t in report["reads"].items():
        print(f"  {label:34s} median {t['median_ms']:8.1f} ms   fastest {t['min_ms']:8.1f} ms")


if __name__ == "__main__":
    main()
