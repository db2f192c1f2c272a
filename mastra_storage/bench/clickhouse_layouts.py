"""Measure the ClickHouse layout and query choices on the in-process engine (chdb).

``python -m mastra_storage.bench.clickhouse_layouts --traces 30000 --path /tmp/chbench``

Loads the same synthetic spans (``--traces`` x 10 spans, ~1 KB of JSON each, inserted in
batches of 1000 with 3 % of the batches retried, as the exporter would) into one database
per candidate layout (:data:`~.ddl.LAYOUTS`) and times the store's real query paths —
"list recent traces" (page 0, a deep page, a filtered page) and "open one trace" — with
the rows the engine read. Then, on the default layout: FINAL against the ``LIMIT 1 BY`` /
``argMax`` alternatives, lightweight DELETE against ``ALTER TABLE … DELETE``, and the
payload codecs. Prints Markdown tables (the numbers in docs/clickhouse.md come from it).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..model.spans import SpanRecord
from ..storage.clickhouse.ddl import DEFAULT_LAYOUT, LAYOUTS
from ..storage.clickhouse.store import ClickHouseStore
from ..storage.queries import TracesFilter

SPANS_PER_TRACE = 10
WORDS = ("order", "refund", "customer", "shipping", "token", "invoice", "delay", "agent")


def _text(rng: random.Random, size: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(size // 7))[:size]


def make_traces(n: int, seed: int = 1) -> list[list[SpanRecord]]:
    """``n`` traces of 10 spans over 60 days, roots first, as the tracer shapes them."""
    rng = random.Random(seed)
    base = datetime(2026, 8, 1, tzinfo=timezone.utc)
    step = 60 * 86_400 / max(n, 1)
    out: list[list[SpanRecord]] = []
    for t in range(n):
        tid = f"{rng.getrandbits(128):032x}"
        start = base + timedelta(seconds=t * step)
        root_id = f"{rng.getrandbits(64):016x}"
        spans = []
        for s in range(SPANS_PER_TRACE):
            sid = root_id if s == 0 else f"{rng.getrandbits(64):016x}"
            st = start + timedelta(milliseconds=100 * s)
            spans.append(SpanRecord(
                trace_id=tid, span_id=sid, parent_span_id=None if s == 0 else root_id,
                name="support-agent" if s == 0 else f"step-{s}",
                span_type="agent_run" if s == 0 else "tool_call", started_at=st,
                ended_at=st + timedelta(milliseconds=80),
                user_id=f"user-{rng.randrange(50)}", thread_id=f"thread-{t}",
                run_id=f"run-{t}", service_name="bench", environment="bench",
                metadata={"tier": rng.choice(("free", "pro", "enterprise"))},
                tags=["support", rng.choice(("eu", "us"))],
                attributes={"model": "gpt-4o", "notes": _text(rng, 200)},
                input={"prompt": _text(rng, 300)}, output={"text": _text(rng, 300)},
                error={"message": "boom"} if rng.random() < 0.05 else None,
            ))
        out.append(spans)
    return out


class _Meter:
    """What the engine read for a store call: deltas of the SelectedRows/SelectedBytes
    profile counters (chdb has no query_log; these counters are process-wide, and the
    bench runs nothing else meanwhile)."""

    def __init__(self, store: ClickHouseStore) -> None:
        self.store = store

    def counters(self) -> tuple[int, int]:
        rows = dict(self.store.query_rows(
            "SELECT event, value FROM system.events "
            "WHERE event IN ('SelectedRows', 'SelectedBytes')"))
        return int(rows.get("SelectedRows", 0)), int(rows.get("SelectedBytes", 0))


def _time(fn: Callable[[], Any], meter: _Meter, reps: int) -> tuple[float, float, int, int]:
    """(median ms, min ms, rows read, bytes read) of one call."""
    fn()  # warm
    times = []
    rows0, bytes0 = meter.counters()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    rows1, bytes1 = meter.counters()
    return (statistics.median(times), min(times), (rows1 - rows0) // reps,
            (bytes1 - bytes0) // reps)


def _cell(med: float, low: float, rows: int, size: int) -> str:
    return f"{med:.0f} ({low:.0f}) ms · {rows / 1000:.1f}k rows · {size / 1e6:.1f} MB"


def load(store: ClickHouseStore, traces: list[list[SpanRecord]]) -> float:
    spans = [s for tr in traces for s in tr]
    t0 = time.perf_counter()
    for i in range(0, len(spans), 1000):
        batch = spans[i:i + 1000]
        store.batch_create_spans(batch)
        if (i // 1000) % 33 == 0:
            store.batch_create_spans(batch)  # a retried batch: a second version of each row
    return time.perf_counter() - t0


def run(path: str, n_traces: int, reps: int, layouts: list[str]) -> None:
    traces = make_traces(n_traces)
    probe = traces[len(traces) // 2]
    tid, child = probe[0].trace_id, probe[5]
    print(f"# {n_traces * SPANS_PER_TRACE:,} spans ({n_traces:,} traces); per call: median "
          f"(min) of {reps} runs · rows and uncompressed bytes the engine read\n")
    stores: dict[str, ClickHouseStore] = {}
    print("| layout | load s | state | list p0 | list p50 | list thread | list error | "
          "get_trace | get_trace_light | get_span |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in layouts:
        store = ClickHouseStore(path=path, database=f"bench_{name}", layout=name)
        store.command(f"DROP DATABASE IF EXISTS `bench_{name}` SYNC")
        store.init()
        stores[name] = store
        secs = load(store, traces)
        meter = _Meter(store)
        for state in ("as inserted", "merged"):
            if state == "merged":
                store.command(f"OPTIMIZE TABLE {store.schema.spans_local} FINAL")
            cells = []
            for fn in (
                lambda s=store: s.list_traces(),
                lambda s=store: s.list_traces(page=50, per_page=20),
                lambda s=store: s.list_traces(TracesFilter(thread_id=f"thread-{n_traces // 3}")),
                lambda s=store: s.list_traces(TracesFilter(status="error")),
                lambda s=store: s.get_trace(tid),
                lambda s=store: s.get_trace_light(tid),
                lambda s=store: s.get_span(tid, child.span_id),
            ):
                cells.append(_cell(*_time(fn, meter, reps)))
            print(f"| {name} | {secs:.1f} | {state} | " + " | ".join(cells) + " |")
    print()
    chosen = stores.get(DEFAULT_LAYOUT) or next(iter(stores.values()))
    _dedup(chosen, tid, reps)
    _deletes(chosen, traces, reps)
    _codecs(path, traces[: max(1, n_traces // 3)])
    for s in stores.values():
        s.close()


def _dedup(store: ClickHouseStore, tid: str, reps: int) -> None:
    t = store.schema.spans
    root = "ifNull(`parentSpanId`, '') = ''"
    if store.helpers:  # the same key condition the store adds
        root += " AND `_isChild` = false"
    light = "`traceId`, `spanId`, `startedAt`"
    queries = {
        "list page keys: FINAL": (
            f"SELECT {light} FROM {t} FINAL WHERE {root} "
            "ORDER BY `startedAt` DESC, `traceId` DESC LIMIT 10"),
        "list page keys: LIMIT 1 BY": (
            f"SELECT {light} FROM (SELECT {light} FROM {t} WHERE {root} "
            "ORDER BY `updatedAt` DESC LIMIT 1 BY `traceId`, `spanId`) "
            "ORDER BY `startedAt` DESC, `traceId` DESC LIMIT 10"),
        "list page keys: argMax": (
            "SELECT `traceId`, `spanId`, argMax(`startedAt`, `updatedAt`) AS s FROM "
            f"{t} WHERE {root} GROUP BY `traceId`, `spanId` "
            "ORDER BY s DESC, `traceId` DESC LIMIT 10"),
        "list count: FINAL": f"SELECT count() FROM {t} FINAL WHERE {root}",
        "list count: uniqExact": f"SELECT uniqExact(`traceId`, `spanId`) FROM {t} WHERE {root}",
        "one trace: FINAL": f"SELECT * FROM {t} FINAL WHERE `traceId` = {{t:String}}",
        "one trace: LIMIT 1 BY": (
            f"SELECT * FROM {t} WHERE `traceId` = {{t:String}} "
            "ORDER BY `updatedAt` DESC LIMIT 1 BY `spanId`"),
        "one trace: argMax": (
            "SELECT `spanId`, argMax(tuple(*), `updatedAt`) FROM "
            f"{t} WHERE `traceId` = {{t:String}} GROUP BY `spanId`"),
    }
    meter = _Meter(store)
    print(f"| de-duplication, layout {store.schema.layout} (merged) | time · read |")
    print("|---|---|")
    for label, sql in queries.items():
        def call(sql: str = sql) -> Any:
            return store.client.query(sql, parameters={"t": tid})

        cell = _cell(*_time(call, meter, reps))
        print(f"| {label} | {cell} |")
    print()


def _deletes(store: ClickHouseStore, traces: list[list[SpanRecord]], reps: int) -> None:
    print("| delete 10 traces | median/min |")
    print("|---|---|")
    victims = iter(range(0, len(traces), 7))
    for method in ("lightweight", "mutation"):
        store.delete_method = method
        times = []
        for _ in range(reps):
            ids = [traces[next(victims)][0].trace_id for _ in range(10)]
            t0 = time.perf_counter()
            deleted = store.batch_delete_traces(ids)
            times.append((time.perf_counter() - t0) * 1000)
            assert deleted == 10 * SPANS_PER_TRACE, deleted
        print(f"| {method} | {statistics.median(times):.1f}/{min(times):.1f} ms |")
    store.delete_method = "lightweight"
    print()


def _codecs(path: str, traces: list[list[SpanRecord]]) -> None:
    print("| codecs | compressed on disk (merged) |")
    print("|---|---|")
    for codecs in (False, True):
        db = f"bench_codecs_{int(codecs)}"
        store = ClickHouseStore(path=path, database=db, codecs=codecs)
        store.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
        store.init()
        load(store, traces)
        store.command(f"OPTIMIZE TABLE {store.schema.spans_local} FINAL")
        rows = store.query_rows(
            "SELECT sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts "
            "WHERE database = {db:String} AND table = 'mastra_ai_spans' AND active",
            {"db": db})
        packed, raw = rows[0]
        label = "ZSTD(3) on the JSON columns" if codecs else "default (LZ4) everywhere"
        print(f"| {label} | {packed / 1e6:.1f} MB of {raw / 1e6:.1f} MB |")
        store.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
        store.close()
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--path", default="/tmp/mastra-chdb-bench")
    ap.add_argument("--traces", type=int, default=30_000)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    args = ap.parse_args()
    run(args.path, args.traces, args.reps, [x for x in args.layouts.split(",") if x])


if __name__ == "__main__":
    main()
