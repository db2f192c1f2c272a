"""Counting a run's rows back from the store.

Every span of a bench run carries the run's own ``serviceName`` (children inherit it), so
rows are counted by that tag and never mix with other rows of the same database.
``complete`` counts rows with ``endedAt`` set (None where the method can't tell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.spans import TABLE_SPANS
from ..storage.queries import TracesFilter
from .measure import sql_engine


@dataclass
class Verified:
    rows: int
    complete: int | None
    method: str


def verify_rows(store: Any, service_name: str) -> Verified:
    engine = sql_engine(store)
    table = getattr(store, "table", None)
    if engine is not None and table is not None:
        return _sql(engine, table, service_name)
    if getattr(store, "provider", None) == "memory" and hasattr(store, "__len__"):
        # The bench builds a fresh in-memory store per phase: every row is this run's.
        return Verified(len(store), None, "len(store)")
    provider = getattr(store, "provider", None)
    client = getattr(store, "client", None)
    try:
        if provider == "mongodb" and client is not None:
            coll = client[store.database_name][TABLE_SPANS]
            rows = coll.count_documents({"serviceName": service_name})
            done = coll.count_documents({"serviceName": service_name, "endedAt": {"$ne": None}})
            return Verified(int(rows), int(done), "count_documents({serviceName: run})")
        if provider == "clickhouse" and client is not None:
            result = client.query(
                f"SELECT count(), countIf(endedAt IS NOT NULL) FROM "
                f"`{store.database}`.{TABLE_SPANS} FINAL WHERE serviceName = {{tag:String}}",
                parameters={"tag": service_name})
            rows, done = result.result_rows[0]
            return Verified(int(rows), int(done), "SELECT count() … FINAL WHERE serviceName")
    except Exception:  # an unexpected store layout: fall back to the query API
        pass
    return _query_api(store, service_name)


def _sql(engine: Any, table: Any, service_name: str) -> Verified:
    import sqlalchemy as sa

    stmt = (sa.select(sa.func.count(), sa.func.count(table.c.endedAt))
            .where(table.c.serviceName == service_name))
    with engine.connect() as conn:
        rows, done = conn.execute(stmt).one()
    return Verified(int(rows), int(done), "SELECT count(*) … WHERE serviceName = :run")


def _query_api(store: Any, service_name: str) -> Verified:
    """Slow but backend-neutral: list the run's traces, then count each trace's spans."""
    filters = TracesFilter(service_name=service_name)
    trace_ids: list[str] = []
    page = 0
    while True:
        result = store.list_traces(filters, page=page, per_page=100)
        trace_ids += [s.trace_id for s in result.spans]
        if not result.has_more:
            break
        page += 1
    rows = done = 0
    for trace_id in trace_ids:
        trace = store.get_trace_light(trace_id)
        if trace is not None:
            rows += len(trace.spans)
            done += sum(1 for s in trace.spans if s.ended_at is not None)
    return Verified(rows, done, "query API (list_traces + get_trace_light)")
