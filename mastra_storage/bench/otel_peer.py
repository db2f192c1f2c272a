"""The OpenTelemetry peer: the bench's workload through OpenTelemetry's SDK into SQLite.

What an application could write instead of this library: OpenTelemetry's own
``TracerProvider`` + ``BatchSpanProcessor`` (its queue and worker thread) feeding a
minimal ``SpanExporter`` that ``executemany``s each batch into a ``mastra_ai_spans``
table. It runs the *same* workload (:func:`~mastra_storage.workload.run_workload`, same
seed, payloads, failures and tree shape) through an adapter that offers the tracing
calls the workload makes (``start_span``, ``child``, ``update``, ``end``, ``error``,
``event``, ``with``) on OpenTelemetry spans, so both sides do the same simulated app
work. The clock runs, as for the library's end-to-end phase, from the first span until
``provider.shutdown()`` has returned and the rows have been counted back.

It writes what OpenTelemetry idioms give (as OpenInference/OpenLLMetry do): JSON
payloads serialised with the standard library on the app's thread into string
attributes (OpenTelemetry attributes can't hold objects), errors through
``record_exception``; and the exporter maps each finished span to one row of 29 of
Mastra's columns (ids, name, type, times, entity, root entity, context ids, payloads,
error) with a plain ``INSERT``, one transaction per batch, on the store's own schema and
pragmas. What it does not do, by design of a minimal exporter: upserts (a retried batch
would fail on the key), derived metrics, size and NUL guards, retries and drop
accounting (the processor drops silently when its queue is full: the row count says).
The processor gets the exporter's settings (queue = ``max_buffer_size``, batch =
``max_batch_size``, delay = ``max_batch_wait_ms``).
"""

from __future__ import annotations

import json
import sqlite3
import traceback
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from ..model.spans import TABLE_SPANS
from ..tracing.span_types import SpanType
from .baselines import raw_checkpoints
from .measure import Clock, rates

# Mastra's entity implied by a span type (the subset the workload emits).
_ENTITY_OF = {"agent_run": "agent", "workflow_run": "workflow_run",
              "workflow_step": "workflow_step", "tool_call": "tool", "mcp_tool_call": "tool"}
_A = "mastra."  # attribute prefix
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_UTC = timezone.utc
COLUMNS = ("traceId", "spanId", "parentSpanId", "name", "spanType", "isEvent", "startedAt",
           "endedAt", "entityType", "entityId", "entityName", "rootEntityType",
           "rootEntityId", "rootEntityName", "userId", "resourceId", "runId", "sessionId",
           "threadId", "environment", "serviceName", "metadata", "tags", "attributes",
           "input", "output", "error", "createdAt", "updatedAt")
# scalar columns read from attributes of the same name
_SCALARS = ("entityType", "entityId", "entityName", "rootEntityType", "rootEntityId",
            "rootEntityName", "userId", "resourceId", "runId", "sessionId", "threadId",
            "environment")
# keyword arguments of start_span → column names
_CONTEXT_KWARGS = {"user_id": "userId", "resource_id": "resourceId", "run_id": "runId",
                   "session_id": "sessionId", "thread_id": "threadId",
                   "environment": "environment"}


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    value = datetime.fromtimestamp(ns // 1_000_000 / 1000, _UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


class _PeerSpan:
    """The workload's view of a span, on an OpenTelemetry span."""

    __slots__ = ("attributes", "context", "entity", "metadata", "otel", "root_entity",
                 "tracer")
    entity: tuple[str | None, str | None]
    root_entity: tuple[str | None, str | None]
    otel: Any

    def __init__(self, tracer: _PeerTracer, name: str, span_type: SpanType | str,
                 parent: _PeerSpan | None, *, input: Any = None,
                 attributes: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None, tags: list[str] | None = None,
                 is_event: bool = False, **context: Any) -> None:
        from opentelemetry import trace

        self.tracer = tracer
        kind = str(getattr(span_type, "value", span_type))
        implied = _ENTITY_OF.get(kind)
        if implied is not None:
            self.entity = (implied, name)
        else:
            self.entity = parent.entity if parent is not None else (None, None)
        self.root_entity = parent.root_entity if parent is not None else self.entity
        self.context: dict[str, Any] = dict(parent.context) if parent is not None else {}
        for key, value in context.items():
            if value is not None:
                self.context[_CONTEXT_KWARGS[key]] = value
        self.attributes = dict(attributes or {})
        self.metadata = dict(metadata) if metadata else None
        attrs: dict[str, Any] = {f"{_A}spanType": kind, f"{_A}isEvent": is_event}
        for column, value in (("entityType", self.entity[0]), ("entityId", self.entity[1]),
                              ("entityName", self.entity[1]),
                              ("rootEntityType", self.root_entity[0]),
                              ("rootEntityId", self.root_entity[1]),
                              ("rootEntityName", self.root_entity[1]),
                              *self.context.items()):
            if value is not None:
                attrs[_A + column] = value
        if input is not None:
            attrs[f"{_A}input"] = _dumps(input)
        if tags:
            attrs[f"{_A}tags"] = _dumps(tags)
        ctx = trace.set_span_in_context(parent.otel) if parent is not None else None
        self.otel = tracer.otel.start_span(name, context=ctx, attributes=attrs)

    # the calls run_workload makes
    def child(self, name: str, *, type: SpanType | str = SpanType.GENERIC,
              **kwargs: Any) -> _PeerSpan:
        return _PeerSpan(self.tracer, name, type, self, **kwargs)

    def update(self, *, attributes: dict[str, Any] | None = None,
               metadata: dict[str, Any] | None = None) -> None:
        if attributes:
            self.attributes.update(attributes)
        if metadata:
            self.metadata = {**(self.metadata or {}), **metadata}

    def end(self, output: Any = None, attributes: dict[str, Any] | None = None,
            metadata: dict[str, Any] | None = None) -> None:
        if not self.otel.is_recording():
            return
        self.update(attributes=attributes, metadata=metadata)
        if output is not None:
            self.otel.set_attribute(f"{_A}output", _dumps(output))
        if self.attributes:
            self.otel.set_attribute(f"{_A}attributes", _dumps(self.attributes))
        if self.metadata:
            self.otel.set_attribute(f"{_A}metadata", _dumps(self.metadata))
        self.otel.end()

    def error(self, exc: BaseException) -> None:
        from opentelemetry.trace import Status, StatusCode

        if not self.otel.is_recording():
            return
        self.otel.record_exception(exc)
        self.otel.set_status(Status(StatusCode.ERROR, str(exc)))
        self.end()

    def event(self, name: str, *, type: SpanType | str = SpanType.GENERIC,
              output: Any = None, **kwargs: Any) -> None:
        _PeerSpan(self.tracer, name, type, self, is_event=True, **kwargs).end(output=output)

    def __enter__(self) -> _PeerSpan:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self.error(exc)
        else:
            self.end()


class _PeerTracer:
    """``start_span`` as the workload calls it, on an OpenTelemetry tracer."""

    def __init__(self, otel_tracer: Any) -> None:
        self.otel = otel_tracer

    def start_span(self, name: str, *, type: SpanType | str = SpanType.GENERIC,
                   new_trace: bool = False, **kwargs: Any) -> _PeerSpan:
        return _PeerSpan(self, name, type, None, **kwargs)


def _error_json(span: Any) -> str | None:
    """Mastra's error object from the span's recorded exception, if it failed."""
    if span.status.status_code.name != "ERROR":
        return None
    for event in span.events:
        if event.name == "exception":
            a = event.attributes or {}
            return _dumps({"message": a.get("exception.message"),
                           "name": a.get("exception.type"),
                           "stack": a.get("exception.stacktrace")})
    return _dumps({"message": span.status.description})


def _row(span: Any, service: str) -> tuple[Any, ...]:
    """One finished span as a row of :data:`COLUMNS`."""
    a = span.attributes or {}
    ctx = span.context
    parent = span.parent
    ended = _iso(span.end_time)
    return (
        format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"),
        format(parent.span_id, "016x") if parent is not None else None,
        span.name, a.get(f"{_A}spanType"), 1 if a.get(f"{_A}isEvent") else 0,
        _iso(span.start_time), ended,
        *(a.get(_A + column) for column in _SCALARS),
        service, a.get(f"{_A}metadata"), a.get(f"{_A}tags"), a.get(f"{_A}attributes"),
        a.get(f"{_A}input"), a.get(f"{_A}output"), _error_json(span), ended, ended,
    )


def run_otel_peer(opts: Any, scratch: Path, store: Any, tag: str) -> dict[str, Any]:
    """Run the workload of ``opts`` (a ``BenchOptions``) through the peer into a fresh
    SQLite database (the store's schema, in ``scratch``); ``store`` is the measured
    SQLite store (driver and in-memory-ness)."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return {"available": False, "reason": "opentelemetry-sdk is not installed "
                "(pip install 'mastra-storage[bench]')"}
    from ..storage.sql.sqlite import SQLiteStore

    memory = getattr(store, "path", "") in (":memory:", "")
    path = ":memory:" if memory else str(scratch / "otel-peer.db")
    fresh = SQLiteStore(path)  # the store's schema and indexes, through its migration
    fresh.init()
    raw = fresh.engine.raw_connection()
    conn = cast(sqlite3.Connection, raw.driver_connection)
    raw_checkpoints(conn)  # a minimal exporter on SQLite's own settings
    sql = (f"INSERT INTO {TABLE_SPANS} ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")
    batches = [0]

    class SQLiteRowsExporter(SpanExporter):
        """The minimal exporter: one ``executemany`` and one commit per batch."""

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            try:
                conn.executemany(sql, [_row(s, tag) for s in spans])
                conn.commit()
            except sqlite3.Error:
                traceback.print_exc()
                return SpanExportResult.FAILURE
            batches[0] += 1
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": tag}))
    provider.add_span_processor(BatchSpanProcessor(
        SQLiteRowsExporter(), max_queue_size=opts.max_buffer_size,
        max_export_batch_size=min(opts.max_batch_size, opts.max_buffer_size),
        schedule_delay_millis=opts.max_batch_wait_ms))
    tracer = _PeerTracer(provider.get_tracer("mastra-storage-bench"))
    try:
        clock = Clock()
        workload = opts.workload(cast(Any, tracer))
        emit_wall, _ = clock.elapsed()
        provider.shutdown()
        row = conn.execute(f"SELECT count(*), count(endedAt) FROM {TABLE_SPANS} "
                           "WHERE serviceName = ?", (tag,)).fetchone()
        wall, cpu = clock.elapsed()
    finally:
        raw.close()
        fresh.close()
    rows = int(row[0])
    return {
        "available": True,
        "what": "the same workload through OpenTelemetry's SDK: BatchSpanProcessor feeding "
                "a minimal exporter that executemany()s plain INSERTs of 29 of Mastra's "
                "columns, one transaction per batch (no derived metrics, no upsert)",
        **rates(workload.spans, wall, cpu),
        "emit_seconds": round(emit_wall, 4),
        "rows_verified": rows,
        "rows_complete": int(row[1]) == rows,
        "dropped": workload.spans - rows,
        "batches": batches[0],
        "columns": len(COLUMNS),
        "otel_sdk": _sdk_version(),
    }


def _sdk_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("opentelemetry-sdk")
    except Exception:
        return None


__all__ = ["COLUMNS", "run_otel_peer"]
