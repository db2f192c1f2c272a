"""``mastra-storage bench --memory-check``: storage down, memory bounded, every drop counted.

The store named by the URL is wrapped so that every write raises (as a database that is
down would) while the workload emits its spans (100,000 by default). The exporter retries,
its buffer fills to ``max_buffer_size``, and from then on new events are dropped. Checked:

* **accounting** — events offered to the exporter (every span event; with ``insert-only``
  only ``span_ended``, the others are not buffered by design) minus events persisted
  (none: no write succeeded, and no row of the run is found in the store) equals the sum
  of the exporter's drop counters, exactly;
* **memory** — RSS growth over the run stays below twice the estimated size of a full
  buffer plus 32 MiB of interpreter/allocator slack. ``unbounded_estimate_mib`` is what
  keeping every offered event would have cost, for contrast.
"""

from __future__ import annotations

import gc
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..exporters.default import DefaultExporter
from ..model.spans import SpanRecord
from ..observability import Observability, ObservabilityConfig
from ..storage.base import BaseStore, ObservabilityStore
from ..storage.capabilities import TracingStrategy
from ..storage.queries import Pagination, TracesFilter, TracesOrderBy
from ..storage.urls import create_store
from ..tracing.events import ExportedEvent, TracingEvent, TracingEventType
from ..workload import run_workload
from .measure import (
    MIB,
    Clock,
    loadavg,
    machine_info,
    mib,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
)
from .runner import mask_url
from .verify import verify_rows

SLACK_BYTES = 32 * MIB
SAMPLE_EVENTS = 500


class StorageUnavailableError(ConnectionError):
    """What the wrapped store raises on every write."""


class UnavailableStore(BaseStore):
    """Wraps a real store: same provider (so the same strategy), every write raises."""

    def __init__(self, inner: ObservabilityStore) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.write_attempts = 0
        self.writes_succeeded = 0  # stays 0; reported so the claim is visible

    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        self.write_attempts += 1
        raise StorageUnavailableError("storage unavailable (bench memory check)")

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None:
        self.write_attempts += 1
        raise StorageUnavailableError("storage unavailable (bench memory check)")

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        return self.inner.batch_delete_traces(trace_ids)

    def delete_traces_older_than(self, before: datetime) -> int:
        return self.inner.delete_traces_older_than(before)

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        return self.inner.get_span(trace_id, span_id)

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        return self.inner.get_root_span(trace_id)

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        trace = (self.inner.get_trace_light if light else self.inner.get_trace)(trace_id)
        return trace.spans if trace is not None else []

    def _list_roots(self, filters: TracesFilter, pagination: Pagination,
                    order_by: TracesOrderBy) -> tuple[list[SpanRecord], int]:
        page = self.inner.list_traces(filters, pagination.page, pagination.per_page, order_by)
        return page.spans, page.total


def deep_size(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes held by ``obj`` and what it references (records, dicts, lists, strings)."""
    seen = _seen if _seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(deep_size(v, seen) for v in obj)
    elif hasattr(obj, "__slots__"):
        for cls in type(obj).__mro__:
            for attr in getattr(cls, "__slots__", ()):
                if hasattr(obj, attr):
                    size += deep_size(getattr(obj, attr), seen)
    return size


class _Offered:
    """Counts the events offered to the exporter that its strategy would buffer."""

    def __init__(self, exporter: DefaultExporter) -> None:
        self.exporter = exporter
        self.events = 0
        self.sample: list[TracingEvent] = []
        self._inner = exporter.export

    def __call__(self, event: ExportedEvent) -> None:
        if type(event) is TracingEvent:
            strategy = self.exporter.strategy
            if (strategy is not TracingStrategy.INSERT_ONLY
                    or event.type is TracingEventType.SPAN_ENDED):
                self.events += 1
                if len(self.sample) < SAMPLE_EVENTS:
                    self.sample.append(event)
        self._inner(event)


def run_memory_check(
    store_url: str,
    *,
    strategy: str = "auto",
    traces: int = 10_000,
    spans_per_trace: int = 10,
    payload_bytes: int = 1024,
    error_rate: float = 0.1,
    max_batch_size: int = 1000,
    max_buffer_size: int = 10_000,
    max_batch_wait_ms: int = 5000,
    retry_delay_ms: int = 500,
    max_retries: int = 4,
) -> dict[str, Any]:
    url = store_url.strip()
    tag = f"mastra-bench-mem-{uuid.uuid4().hex[:10]}"
    machine = machine_info()
    store = create_store(url)
    try:
        down = UnavailableStore(store)
        exporter = DefaultExporter(strategy=strategy, max_batch_size=max_batch_size,
                                   max_buffer_size=max_buffer_size,
                                   max_batch_wait_ms=max_batch_wait_ms,
                                   retry_delay_ms=retry_delay_ms, max_retries=max_retries)
        obs = Observability(storage=down, configs={
            "default": ObservabilityConfig(service_name=tag, exporters=[exporter])})
        offered = _Offered(exporter)
        exporter.export = offered  # type: ignore[method-assign]
        samples: list[tuple[int, int]] = []  # (traces done, rss bytes)
        every = max(1, traces // 200)
        full_at: list[int] = []  # rss when the first buffer-full drop was seen

        def on_trace(n: int) -> None:
            if n % every == 0:
                rss = rss_bytes()
                samples.append((n + 1, rss))
                if not full_at and exporter.drops.total:
                    full_at.append(rss)

        gc.collect()
        rss_start = rss_bytes()
        phase_peak = reset_peak_rss()
        clock = Clock()
        workload = run_workload(obs.get_default_instance(), traces,
                                spans_per_trace=spans_per_trace, payload_bytes=payload_bytes,
                                error_rate=error_rate, on_trace=on_trace)
        emit_wall, _ = clock.elapsed()
        buffered_after_emit = exporter.buffered
        obs.shutdown()
        wall, cpu = clock.elapsed()
        peak = peak_rss_bytes()
        del exporter.export
        persisted_rows = verify_rows(store, tag).rows
    finally:
        store.close()

    drops = exporter.drops.snapshot()
    drops_total = sum(drops.values())
    events_persisted = 0 if down.writes_succeeded == 0 else None
    exact = (events_persisted is not None and persisted_rows == 0
             and offered.events - events_persisted == drops_total)
    per_event = (sum(deep_size(e) for e in offered.sample) / len(offered.sample)
                 if offered.sample else 0.0)
    full_buffer = per_event * max_buffer_size
    bound = 2 * full_buffer + SLACK_BYTES
    growth = peak - rss_start
    return {
        "mode": "memory-check",
        "store": mask_url(url),
        "provider": store.provider,
        "strategy": str(exporter.strategy),
        "run_tag": tag,
        "workload": {"traces": workload.traces, "spans": workload.spans,
                     "spans_per_trace": spans_per_trace, "payload_bytes": payload_bytes},
        "exporter_settings": {"max_batch_size": max_batch_size,
                              "max_buffer_size": max_buffer_size,
                              "max_batch_wait_ms": max_batch_wait_ms,
                              "max_retries": max_retries, "retry_delay_ms": retry_delay_ms},
        "seconds": round(wall, 3),
        "emit_seconds": round(emit_wall, 3),
        "cpu_seconds": round(cpu, 3),
        "spans_emitted": workload.spans,
        "events_offered": offered.events,
        "events_persisted": events_persisted,
        "rows_persisted": persisted_rows,
        "write_attempts": down.write_attempts,
        "retries": exporter.stats.retries,
        "drops": drops,
        "drops_total": drops_total,
        "buffered_after_emit": buffered_after_emit,
        "buffered_after_shutdown": exporter.buffered,
        "accounting_exact": exact,
        "rss": {
            "start_mib": mib(rss_start),
            "at_first_drop_mib": mib(full_at[0]) if full_at else None,
            "peak_mib": mib(peak),
            "end_mib": mib(rss_bytes()),
            "growth_mib": mib(growth),
            "peak_of": "this run (VmHWM reset)" if phase_peak else "process so far",
            "bytes_per_event_estimate": round(per_event),
            "full_buffer_estimate_mib": mib(full_buffer),
            "bound_mib": mib(bound),
            "unbounded_estimate_mib": mib(per_event * offered.events),
            "samples": [(n, mib(r)) for n, r in samples[:: max(1, len(samples) // 20)]],
        },
        "rss_bounded": growth <= bound,
        "machine": {**machine, "loadavg_end": loadavg()},
    }
