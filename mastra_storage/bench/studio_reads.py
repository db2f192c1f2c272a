"""What Mastra Studio's Traces page costs: ``POST /traces/query`` through the ASGI app.

Studio polls its trace list every 10 s with ``{"timeRange": <the last 7 days>, "orderBy":
[{"field": "startedAt", "direction": "desc"}], "page": {"limit": 25}}``. This fills a
SQLite file with N spans (``bench/reads.py``'s traces of ``spans_per_trace`` spans — an
agent run, model calls, tool calls — started over the last 7 days, written with
``batch_create_spans`` in large batches, no exporter), then times that request through
``create_app(store)`` in process (routing, parsing, planning, the store's query, JSON),
after warm-up: median and p95 of ``requests`` calls. The first and a keyset second page
are timed, and the store's ``query_traces`` alone for comparison.

    python -m mastra_storage.bench.studio_reads --spans 100000 --db /tmp/studio.db

An existing file with the requested number of spans is reused (``--fresh`` rebuilds it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..model.spans import SpanRecord
from ..model.time import format_iso
from .reads import WEEK, generate  # the traces `bench --read` fills its stores with

BATCH = 5000


def fill(path: Path, spans: int, spans_per_trace: int = 10,
         now: datetime | None = None) -> dict[str, Any]:
    """A SQLite file at ``path`` holding ``spans`` generated spans (reused if it has them)."""
    from ..storage.urls import create_store

    store = create_store(f"sqlite:///{path}")
    try:
        have = _count(store)
        if have == spans:
            return {"spans": spans, "reused": True, "seconds": 0.0}
        if have:
            raise SystemExit(f"{path} holds {have} spans, not {spans}: use --fresh")
        began = time.perf_counter()
        batch: list[SpanRecord] = []
        for record in generate(spans, spans_per_trace, now):
            batch.append(record)
            if len(batch) >= BATCH:
                store.batch_create_spans(batch)
                batch = []
        if batch:
            store.batch_create_spans(batch)
        return {"spans": spans, "reused": False,
                "seconds": round(time.perf_counter() - began, 1)}
    finally:
        store.close()


def _count(store: Any) -> int:
    engine = getattr(store, "engine", None)
    if engine is None:
        return 0
    import sqlalchemy as sa

    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM mastra_ai_spans")).scalar_one())


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(p95 * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2)}


def _time(fn: Callable[[], Any], requests: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(requests):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return _summary(samples)


def measure(path: Path, requests: int = 50, warmup: int = 5) -> dict[str, Any]:
    """Timings of Studio's trace-list request against the SQLite file at ``path``."""
    from starlette.testclient import TestClient

    from ..server import create_app
    from ..storage.trace_query import plan_trace_query
    from ..storage.urls import create_store

    store: Any = create_store(f"sqlite:///{path}")
    try:
        now = datetime.now(timezone.utc)
        body: dict[str, Any] = {
            "timeRange": {"from": format_iso(now - WEEK), "to": format_iso(now)},
            "orderBy": [{"field": "startedAt", "direction": "desc"}],
            "page": {"limit": 25, "after": None}}
        client = TestClient(create_app(store))
        url = "/api/observability/traces/query"

        def first() -> Any:
            response = client.post(url, json=body)
            assert response.status_code == 200, response.text
            return response.json()

        page = first()
        assert len(page["traces"]) == 25, "the file holds too few traces for a full page"
        second_body = {**body, "page": {"limit": 25, "after": page["page"]["next"]}}

        def second() -> Any:
            response = client.post(url, json=second_body)
            assert response.status_code == 200, response.text
            return response.json()

        plan = plan_trace_query(body)
        return {
            "spans": _count(store),
            "first_page": _time(first, requests, warmup),
            "second_page": _time(second, requests, warmup),
            "store_only": _time(lambda: store.query_traces(plan), requests, warmup),
            "requests": requests,
        }
    finally:
        store.close()


def run(path: Path, spans: int, requests: int = 50, fresh: bool = False) -> dict[str, Any]:
    if fresh and path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    filled = fill(path, spans)
    return {"fill": filled, **measure(path, requests)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("studio-bench.db"))
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.db, args.spans, args.requests, args.fresh), indent=2))


if __name__ == "__main__":
    main()
