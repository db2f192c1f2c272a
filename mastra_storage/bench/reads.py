"""Read latencies over a large span table: ``mastra-storage bench --read --spans N``.

Fills the store with ``N`` generated spans (unless it already holds exactly those), then
times the reads a trace viewer issues, each ``repeat`` times after a warm-up, and reports
the median (p50) and p95 in milliseconds:

* ``list_traces`` first page (25 roots, newest first): unfiltered; with each single
  filter — status ``error`` / ``success`` / ``running``, ``user_id``, ``thread_id``,
  ``entity_name``, a metadata key (a common and a rare value), ``has_child_error`` and a
  time range (the newest 24 hours); and page 50 of the unfiltered list;
* ``get_trace`` and ``get_trace_light`` of traces picked at random (a different one for
  each call);
* Mastra Studio's trace list, ``POST /api/observability/traces/query`` with Studio's
  body (the last 7 days of the data, newest first, 25 rows), through the ASGI app of
  ``mastra_storage.server`` in process, next to the store's ``query_traces`` alone.

The data (``generate``): traces of ``spans_per_trace`` spans (an agent run, model calls,
tool calls) started in time order over 7 days, as an application writes them; 1,000
users, threads of 5 traces, 10 organisations, 5 agents; metadata ``tier`` (3 values),
``channel`` (3) and ``customer`` (5,000); one trace in ten failed at the root, one in
twenty had a failing tool call it recovered from, one in a hundred is still running.
Rows are written with the store's own ``batch_create_spans`` in batches of 5,000 (no
exporter, no tracing API); a SQLite file is filled through a connection with
``synchronous=OFF`` and a 256 MiB page cache (the reads use the store's own settings).

The module imports only the package's public API, so it can also time another checkout
of the package: ``PYTHONPATH=/path/to/checkout python path/to/reads.py --store URL``.
Method and figures: ``docs/bench.md``, *Trace reads over 1,000,000 spans*.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from mastra_storage.model.spans import TABLE_SPANS, SpanRecord
from mastra_storage.storage import TracesFilter

SERVICE = "mastra-read-bench"
BATCH = 5000
PER_PAGE = 25
WEEK = timedelta(days=7)
USERS, THREAD_SIZE, ORGS = 1000, 5, 10
AGENTS = ("support-agent", "billing-agent", "triage-agent", "search-agent", "sales-agent")
TIERS = ("free", "pro", "enterprise")
CHANNELS = ("chat", "email", "voice")
CUSTOMERS = 5000
QUESTIONS = ("Where is my order #{n}?", "I was charged twice for order #{n}",
             "Cancel subscription {n}", "Is item {n} back in stock?")
ANSWER = ("Thanks for reaching out. I looked the order up: it left the warehouse "
          "yesterday and the carrier expects to deliver it within two working days. ")


def generate(spans: int, spans_per_trace: int = 10, now: datetime | None = None,
             seed: int = 11) -> Iterator[SpanRecord]:
    """``spans`` spans in whole traces of ``spans_per_trace`` (the last may be shorter),
    in start-time order over the 7 days before ``now`` (see the module docstring)."""
    rng = random.Random(seed)
    end = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    traces = -(-spans // spans_per_trace)
    offsets = sorted(rng.random() for _ in range(traces))
    made = 0
    for n, offset in enumerate(offsets):
        size = min(spans_per_trace, spans - made)
        made += size
        ms = int((1.0 - offset) * WEEK.total_seconds() * 1000)
        start = end - timedelta(milliseconds=ms)
        trace_id = f"{rng.getrandbits(128):032x}"
        root_id = f"{rng.getrandbits(64):016x}"
        roll = rng.random()
        running = roll < 0.01
        failed = not running and roll < 0.11
        child_error = not running and not failed and roll < 0.16
        user = f"user-{rng.randrange(USERS)}"
        agent = AGENTS[n % len(AGENTS)]
        question = QUESTIONS[n % len(QUESTIONS)].format(n=1000 + n)
        duration = timedelta(milliseconds=rng.randrange(300, 8000))
        inherited: dict[str, Any] = {
            "user_id": user, "organization_id": f"org-{rng.randrange(ORGS)}",
            "resource_id": user, "thread_id": f"thread-{n // THREAD_SIZE}",
            "session_id": f"session-{n // (THREAD_SIZE * 4)}", "run_id": f"run-{n}",
            "request_id": f"req-{trace_id[:12]}",
            "environment": "production" if rng.random() < 0.9 else "staging",
            "service_name": SERVICE}
        yield SpanRecord(
            trace_id=trace_id, span_id=root_id, parent_span_id=None, name=agent,
            span_type="agent_run", entity_type="agent", entity_id=agent, entity_name=agent,
            started_at=start, ended_at=None if running else start + duration,
            input={"messages": [{"role": "user", "content": question}]},
            output=None if running or failed else {"text": ANSWER, "resolved": True},
            error={"message": "escalation failed", "name": "ToolFailure"} if failed else None,
            metadata={"tier": TIERS[rng.randrange(3)], "channel": CHANNELS[rng.randrange(3)],
                      "customer": f"c-{rng.randrange(CUSTOMERS)}"},
            tags=["support", "eu" if rng.random() < 0.5 else "us"],
            attributes={"agentId": agent, "instructions": "You are a helpful agent."},
            **inherited)
        parent, step = root_id, duration / max(1, size)
        for k in range(1, size):
            model = k % 2 == 1
            child_start = start + step * k
            child_id = f"{rng.getrandbits(64):016x}"
            open_ = running and k == size - 1
            tool_failed = child_error and k == 2
            yield SpanRecord(
                trace_id=trace_id, span_id=child_id,
                parent_span_id=root_id if model else parent,
                name="gpt-4o" if model else "search_orders",
                span_type="model_generation" if model else "tool_call",
                entity_type=None if model else "tool",
                entity_id=None if model else "search_orders",
                entity_name=None if model else "search_orders",
                started_at=child_start, ended_at=None if open_ else child_start + step / 2,
                input={"messages": [{"role": "system", "content": "Answer briefly."},
                                    {"role": "user", "content": question}]}
                if model else {"query": question},
                output=None if open_ or tool_failed else (
                    {"text": ANSWER} if model else {"orders": [{"id": n, "status": "shipped"}]}),
                error={"message": "search_orders timed out", "name": "ToolFailure"}
                if tool_failed else None,
                attributes={"model": "gpt-4o", "provider": "openai",
                            "usage": {"inputTokens": 812, "outputTokens": 96}}
                if model else {"toolType": "function"},
                **inherited)
            if model:
                parent = child_id


# ---------------------------------------------------------------------------- filling

def _engine(store: Any) -> Any:
    return getattr(store, "engine", None)


def count_spans(store: Any) -> tuple[int, int]:
    """(all rows, rows of this benchmark) in the spans table."""
    engine = _engine(store)
    if engine is not None:
        import sqlalchemy as sa

        t = store.table
        with engine.connect() as conn:
            total, ours = conn.execute(sa.select(
                sa.func.count(), sa.func.count(sa.case((t.c.serviceName == SERVICE, 1))))
            ).one()
        return int(total), int(ours)
    query_rows = getattr(store, "query_rows", None)
    if query_rows is not None:  # ClickHouse
        spans = store.schema.spans
        row = query_rows(f"SELECT count(), countIf(`serviceName` = '{SERVICE}') "
                         f"FROM {spans} FINAL")[0]
        return int(row[0]), int(row[1])
    page = store.list_traces(TracesFilter(), 0, 1)
    return page.total, page.total


def _bulk_pragmas(store: Any) -> None:
    """A SQLite store's fill connections: no fsync per batch, a large page cache."""
    engine = _engine(store)
    if engine is None or engine.dialect.name != "sqlite":
        return
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous = OFF")
        dbapi_conn.execute("PRAGMA cache_size = -262144")

    engine.dispose()


def fill(url: str, spans: int, spans_per_trace: int = 10, progress: Callable[[int], Any]
         | None = None, **options: Any) -> dict[str, Any]:
    """Write ``spans`` generated spans into the empty store at ``url``; a store already
    holding exactly those is reused, any other content refused."""
    from mastra_storage import create_store

    store: Any = create_store(url, **options)
    try:
        total, ours = count_spans(store)
        if total == spans and ours == spans:
            return {"spans": spans, "reused": True, "seconds": 0.0}
        if total:
            raise ValueError(
                f"the store holds {total} spans ({ours} of this benchmark), not {spans}: "
                "point it at an empty scratch database")
        _bulk_pragmas(store)
        began = time.perf_counter()
        batch: list[SpanRecord] = []
        written = 0
        for record in generate(spans, spans_per_trace):
            batch.append(record)
            if len(batch) >= BATCH:
                store.batch_create_spans(batch)
                written += len(batch)
                batch = []
                if progress is not None:
                    progress(written)
        if batch:
            store.batch_create_spans(batch)
            written += len(batch)
            if progress is not None:
                progress(written)
        seconds = time.perf_counter() - began
        settled = _settle(store)
        return {"spans": spans, "reused": False, "seconds": round(seconds, 1),
                "spans_per_s": round(spans / seconds) if seconds else None,
                "settle_seconds": settled}
    finally:
        store.close()


def _settle(store: Any) -> float | None:
    """PostgreSQL: ``VACUUM ANALYZE`` the tables the reads use, as autovacuum would some
    time after a bulk load. Timed right after the fill, without planner statistics nor a
    visibility map, the reads are 20-40 times slower (unfiltered 215 ms against 5.5 ms at
    1,000,000 spans): a state a live store spends minutes in, not the one to report.
    The seconds it took; None for other stores."""
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        return None
    from mastra_storage.storage.sql import root_metadata

    schema = getattr(store, "schema", None)
    q = f'"{schema}".' if schema else ""
    began = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        tables = [f"{q}{TABLE_SPANS}"]
        if conn.exec_driver_sql("SELECT to_regclass(%s)",
                                (f'{q}"{root_metadata.TABLE}"',)).scalar() is not None:
            tables.append(f'{q}"{root_metadata.TABLE}"')
        for table in tables:
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return round(time.perf_counter() - began, 1)


# ---------------------------------------------------------------------------- timing

def summary(samples: list[float]) -> dict[str, float]:
    """p50/p95/max of ``samples`` (seconds) in milliseconds (nearest-rank p95)."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(p95 * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2)}


def _time(fn: Callable[[int], Any], repeat: int, warmup: int) -> tuple[dict[str, float], Any]:
    result = None
    for i in range(warmup):
        result = fn(i)
    samples = []
    for i in range(repeat):
        began = time.perf_counter()
        result = fn(warmup + i)
        samples.append(time.perf_counter() - began)
    return summary(samples), result


def _anchors(store: Any) -> dict[str, Any]:
    """Filter values taken from the data: the newest root, a user, a thread, a rare
    customer, and traces to open."""
    newest = store.list_traces(TracesFilter(), 0, 1).spans
    if not newest:
        raise ValueError("the store holds no traces")
    root = newest[0]
    meta = root.metadata if isinstance(root.metadata, dict) else {}
    sample = store.list_traces(TracesFilter(), 3, PER_PAGE).spans or newest
    return {"newest": root.started_at, "user_id": root.user_id or "user-0",
            "thread_id": root.thread_id or "thread-0", "entity_name": root.entity_name,
            "customer": meta.get("customer", "c-0"),
            "trace_ids": [s.trace_id for s in sample]}


def _more_trace_ids(store: Any, anchors: dict[str, Any], want: int) -> list[str]:
    """``want`` trace ids spread over the whole table (pages at random offsets)."""
    rng = random.Random(5)
    total = store.list_traces(TracesFilter(), 0, 1).total
    pages = max(1, total // 100)
    ids: list[str] = []
    while len(ids) < want:
        page = store.list_traces(TracesFilter(), rng.randrange(min(pages, 1000)), 100).spans
        if not page:
            break
        ids.append(page[rng.randrange(len(page))].trace_id)
    return ids or anchors["trace_ids"]


def list_cases(anchors: dict[str, Any]) -> list[tuple[str, TracesFilter, int]]:
    """(name, filter, page) of each timed ``list_traces`` call."""
    newest = anchors["newest"]
    return [
        ("unfiltered", TracesFilter(), 0),
        ("status=error", TracesFilter(status="error"), 0),
        ("status=success", TracesFilter(status="success"), 0),
        ("status=running", TracesFilter(status="running"), 0),
        ("user_id", TracesFilter(user_id=anchors["user_id"]), 0),
        ("thread_id", TracesFilter(thread_id=anchors["thread_id"]), 0),
        ("entity_name", TracesFilter(entity_name=anchors["entity_name"]), 0),
        ("metadata tier=pro", TracesFilter(metadata={"tier": "pro"}), 0),
        ("metadata customer (rare)", TracesFilter(metadata={"customer": anchors["customer"]}),
         0),
        ("has_child_error", TracesFilter(has_child_error=True), 0),
        ("started in last 24 h", TracesFilter(started_from=newest - timedelta(days=1),
                                               started_to=newest), 0),
        ("page 50", TracesFilter(), 50),
    ]


def _list_call(store: Any, flt: TracesFilter, page: int) -> Callable[[int], Any]:
    return lambda _i: store.list_traces(flt, page, PER_PAGE)


def _open_call(fn: Callable[[str], Any], ids: list[str]) -> Callable[[int], Any]:
    """``fn`` of a different trace on each call."""
    return lambda i: fn(ids[i % len(ids)])


def measure(url: str, repeat: int = 30, warmup: int = 3, server: bool = True,
            **options: Any) -> dict[str, Any]:
    """Time every read against the store at ``url`` (already filled)."""
    from mastra_storage import create_store

    store: Any = create_store(url, **options)
    try:
        anchors = _anchors(store)
        results: dict[str, Any] = {}
        for name, flt, page in list_cases(anchors):
            stats, result = _time(_list_call(store, flt, page), repeat, warmup)
            results[f"list_traces {name}"] = {**stats, "total": result.total,
                                              "rows": len(result.spans)}
        ids = _more_trace_ids(store, anchors, repeat + warmup)
        for name in ("get_trace", "get_trace_light"):
            stats, result = _time(_open_call(getattr(store, name), ids), repeat, warmup)
            results[name] = {**stats, "rows": len(result.spans) if result else 0}
        if server:
            results.update(_studio(store, anchors["newest"], repeat, warmup))
        return {"spans": count_spans(store)[0], "per_page": PER_PAGE, "repeat": repeat,
                "reads": results}
    finally:
        store.close()


def _studio(store: Any, newest: datetime, repeat: int, warmup: int) -> dict[str, Any]:
    """Studio's trace list through the ASGI app, and the store call it makes."""
    try:
        from starlette.testclient import TestClient
    except ImportError:  # the studio extra is not installed
        return {}
    from mastra_storage.model.time import format_iso
    from mastra_storage.server import create_app
    from mastra_storage.storage.trace_query import plan_trace_query

    body: dict[str, Any] = {
        "timeRange": {"from": format_iso(newest - WEEK),
                      "to": format_iso(newest + timedelta(milliseconds=1))},
        "orderBy": [{"field": "startedAt", "direction": "desc"}],
        "page": {"limit": PER_PAGE, "after": None}}
    client = TestClient(create_app(store))
    route = "/api/observability/traces/query"

    def request(_i: int) -> Any:
        response = client.post(route, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{route}: {response.status_code} {response.text[:200]}")
        return response.json()

    plan = plan_trace_query(body)
    http, page = _time(request, repeat, warmup)
    direct, result = _time(lambda _i: store.query_traces(plan), repeat, warmup)
    return {"traces/query (server)": {**http, "rows": len(page["traces"])},
            "query_traces (store)": {**direct, "rows": len(result.rows)}}


# ---------------------------------------------------------------------------- the run

def machine() -> dict[str, Any]:
    import platform
    import sqlite3

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        load = []
    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(), "loadavg": load}


def run(url: str, spans: int, repeat: int = 30, warmup: int = 3, server: bool = True,
        progress: Callable[[int], Any] | None = None, **options: Any) -> dict[str, Any]:
    """Fill (or reuse) the store at ``url`` with ``spans`` spans and time the reads."""
    load_before = machine()["loadavg"]
    filled = fill(url, spans, progress=progress, **options)
    report = measure(url, repeat, warmup, server, **options)
    return {"mode": "read", "store": _redact(url), "fill": filled, **report,
            "machine": {**machine(), "loadavg_before": load_before}}


def _redact(url: str) -> str:
    try:
        import sqlalchemy as sa

        if "://" in url and "@" in url:
            return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # best effort: never print a password
        return url.split("@")[-1]
    return url


def render(report: dict[str, Any]) -> str:
    """The report as a text table."""
    fill_ = report["fill"]
    how = "reused" if fill_["reused"] else (
        f"written in {fill_['seconds']} s ({fill_.get('spans_per_s')} spans/s)"
        + (f", then VACUUM ANALYZE {fill_['settle_seconds']} s"
           if fill_.get("settle_seconds") is not None else ""))
    m = report["machine"]
    lines = [f"reads over {report['spans']:,} spans in {report['store']} ({how})",
             f"{report['repeat']} calls each after a warm-up, {report['per_page']} rows a page;"
             f" python {m['python']}, sqlite {m['sqlite']}, load {m['loadavg']}",
             "", f"{'read':<40} {'p50 ms':>9} {'p95 ms':>9} {'total':>9}"]
    for name, r in report["reads"].items():
        total = r.get("total")
        lines.append(f"{name:<40} {r['p50_ms']:>9.2f} {r['p95_ms']:>9.2f} "
                     f"{'' if total is None else total:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--store", required=True, help="store URL (a scratch database)")
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.fill_only:
        print(json.dumps(fill(args.store, args.spans), indent=2))
        return
    report = run(args.store, args.spans, args.repeat, server=not args.no_server)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))


if __name__ == "__main__":
    main()
