"""What an app's thread pays per span event, and the OpenTelemetry reference.

Two nested measurements, both with ``time.perf_counter_ns`` on the calling thread:

* ``api`` — each public tracing call that emitted a span event (``start_span``/``child``/
  ``event`` → ``span_started`` or, for event spans, ``span_ended``; ``update`` →
  ``span_updated``; ``end``/``error`` → ``span_ended``), from entry to return. It covers
  everything the app waits for: ids, the record, the snapshot copy, span output
  processors and every exporter's ``export``. Calls that emitted nothing (a second
  ``end``) are not samples; a call made inside another timed call (``error`` → ``end``,
  ``child`` → ``start_span``) is part of the outer sample.
* ``export`` — ``DefaultExporter.export`` alone: the enqueue, the part comparable to
  OpenTelemetry's ``BatchSpanProcessor.on_end``.

The timing wrappers are installed on the classes for the duration of the run only. Their
own cost (two clock reads and a call) is measured and reported as ``timer_overhead_us``;
it is included in the samples, not subtracted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..tracing.span import Span
from ..tracing.tracer import Tracer
from .measure import summarize_ns

_perf = time.perf_counter_ns

# (owner class, method, sample kind)
_API_METHODS: tuple[tuple[type, str, str], ...] = (
    (Tracer, "start_span", "start"),
    (Span, "update", "update"),
    (Span, "update_error", "update"),
    (Span, "end", "end"),
    (Span, "error", "error"),
)


class _Depth(threading.local):
    value = 0


class HotPathTimer:
    """Collects per-event latencies of the public API and of one exporter's ``export``."""

    def __init__(self) -> None:
        self.api: dict[str, list[int]] = {kind: [] for _, _, kind in _API_METHODS}
        self.export: list[int] = []
        self.events = 0  # events that reached the timed exporter
        self._depth = _Depth()

    # -------------------------------------------------------------- wrappers
    def _wrap_api(self, fn: Callable[..., Any], kind: str) -> Callable[..., Any]:
        depth = self._depth
        samples = self.api[kind]
        timer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if depth.value:
                return fn(*args, **kwargs)
            depth.value = 1
            before = timer.events
            t0 = _perf()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = _perf() - t0
                depth.value = 0
                if timer.events != before:
                    samples.append(elapsed)

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    def _wrap_export(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        samples = self.export
        timer = self

        def timed_export(event: Any) -> None:
            t0 = _perf()
            try:
                fn(event)
            finally:
                samples.append(_perf() - t0)
                timer.events += 1

        return timed_export

    @contextmanager
    def installed(self, exporter: Any) -> Iterator[HotPathTimer]:
        """Time the public API (class-level, restored on exit) and ``exporter.export``."""
        originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in _API_METHODS]
        exporter.export = self._wrap_export(exporter.export)
        try:
            for owner, name, kind in _API_METHODS:
                setattr(owner, name, self._wrap_api(owner.__dict__[name], kind))
            yield self
        finally:
            for owner, name, fn in originals:
                setattr(owner, name, fn)
            del exporter.export  # back to the class's method

    # -------------------------------------------------------------- results
    def result(self) -> dict[str, Any]:
        every = [s for samples in self.api.values() for s in samples]
        return {
            "measured": "perf_counter_ns around each public tracing call that emitted a span "
                        "event (api) and around DefaultExporter.export (export), on the "
                        "caller's thread",
            "api_us": summarize_ns(every),
            "api_by_call_us": {k: summarize_ns(v) for k, v in self.api.items() if v},
            "export_us": summarize_ns(self.export),
            "timer_overhead_us": calibrate_overhead(),
        }


def calibrate_overhead(rounds: int = 20_000) -> float:
    """Median cost, in µs, of the timing wrapper around a call that does nothing."""
    timer = HotPathTimer()

    def noop() -> None:
        timer.events += 1

    timed = timer._wrap_api(noop, "start")
    for _ in range(rounds):
        timed()
    median = summarize_ns(timer.api["start"])["median_us"]
    return float(median) if median is not None else 0.0


# ---------------------------------------------------------------------------- OpenTelemetry

def otel_reference(traces: int, spans_per_trace: int, payload_bytes: int) -> dict[str, Any]:
    """The same number of spans through OpenTelemetry's SDK with a no-op exporter.

    ``on_end_us`` times ``BatchSpanProcessor.on_end`` (its enqueue); ``start_us`` and
    ``end_us`` time ``tracer.start_span`` and ``span.end`` (which includes ``on_end``).
    Payloads are attribute strings of ``payload_bytes``, built before timing.
    """
    try:
        from opentelemetry import trace as otel_trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return {"available": False, "reason": "opentelemetry-sdk is not installed "
                "(pip install 'mastra-storage[bench]')"}

    class _NoopExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    processor = BatchSpanProcessor(_NoopExporter())
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("mastra-storage-bench")
    on_end: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    original = processor.on_end

    def timed_on_end(span: Any) -> None:
        t0 = _perf()
        original(span)
        on_end.append(_perf() - t0)

    processor.on_end = timed_on_end  # type: ignore[method-assign]
    payload = "x" * payload_bytes
    attributes: dict[str, Any] = {"input": payload, "model": "gpt-4o", "maxSteps": 5}
    try:
        for _ in range(traces):
            t0 = _perf()
            root = tracer.start_span("support-agent", attributes=attributes)
            starts.append(_perf() - t0)
            ctx = otel_trace.set_span_in_context(root)
            for _ in range(spans_per_trace - 1):
                t0 = _perf()
                child = tracer.start_span("gpt-4o", context=ctx, attributes=attributes)
                starts.append(_perf() - t0)
                child.set_attribute("output", payload)
                t0 = _perf()
                child.end()
                ends.append(_perf() - t0)
            root.set_attribute("output", payload)
            t0 = _perf()
            root.end()
            ends.append(_perf() - t0)
    finally:
        provider.shutdown()
    import opentelemetry.sdk

    return {
        "available": True,
        "version": getattr(opentelemetry.sdk, "__version__", None) or _otel_version(),
        "spans": len(ends),
        "on_end_us": summarize_ns(on_end),
        "start_us": summarize_ns(starts),
        "end_us": summarize_ns(ends),
    }


def _otel_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("opentelemetry-sdk")
    except Exception:
        return None
