"""The OpenTelemetry SDK side: a ``SpanProcessor`` (and a ``SpanExporter``) that hand
finished OTel spans to a :class:`~mastra_storage.exporters.default.DefaultExporter`.

``on_end`` runs on the app's thread, so it does as little as possible: it checks the
ids, builds a small placeholder record (key, name, start time) and files a
:class:`TracingEvent` whose conversion is deferred: the exporter's worker converts the
finished ``ReadableSpan`` (immutable once ended) when it writes the batch, together with
any span output processors (measured: ~4 µs on the app's thread instead of ~30 µs for
an eager conversion). The DefaultExporter then does what it does for Mastra's own spans:
batching, the strategy, retries, and drop accounting (``exporter.drops``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ..exporters.default import DefaultExporter
from ..exporters.drops import DropReason
from ..model.spans import SpanRecord
from ..model.time import UTC
from ..storage.capabilities import TracingStrategy
from ..tracing.events import TracingEvent, TracingEventType
from ..tracing.span_types import SpanType
from .data import from_readable
from .mapping import EVALUATION_EVENT, to_record

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from ..exporters.base import Exporter
    from ..processors.base import SpanOutputProcessor
    from ..storage.base import ObservabilityStore

logger = logging.getLogger("mastra_storage.otel")

_STARTED = TracingEventType.SPAN_STARTED
_ENDED = TracingEventType.SPAN_ENDED
_PLACEHOLDER_TIME = datetime(1970, 1, 1, tzinfo=UTC)
_GENERIC = SpanType.GENERIC.value
_new_record = SpanRecord

INVALID_SPAN = "invalid-span"  # the drop reason of a span OTel gave invalid ids
CONVERSION_ERROR = "conversion-error"  # a span the mapping failed on (a bug): logged


class ProcessorStats:
    """What the processor did beyond the exporter's own accounting."""

    def __init__(self) -> None:
        self.ended = 0  # spans handed to the exporter as span_ended
        self.started = 0  # span_started events handed over (running spans)
        self.scores = 0  # score events handed over
        self.skipped: Counter[str] = Counter()  # by reason
        self.conversion_errors = 0
        self.filtered = 0  # dropped by a span output processor

    def __repr__(self) -> str:
        return (f"ProcessorStats(ended={self.ended}, started={self.started}, "
                f"scores={self.scores}, skipped={dict(self.skipped)}, "
                f"conversion_errors={self.conversion_errors}, filtered={self.filtered})")


class _Started:
    """A running span, converted as it is when the worker reads it."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span


class _Deferred:
    """The conversion of one span, run by the exporter's worker on its first read."""

    __slots__ = ("owner", "source")

    def __init__(self, owner: MastraSpanProcessor, source: Any) -> None:
        self.owner = owner
        self.source = source  # a finished ReadableSpan, or a _Started

    def __call__(self, raw: SpanRecord) -> SpanRecord | None:
        owner = self.owner
        try:
            source = self.source
            if isinstance(source, _Started):
                data = from_readable(source.span, started_only=True)
            else:
                data = from_readable(source)
            record = to_record(data, remote_parent=owner.remote_parent,
                               service_name=owner.service_name).record
        except Exception:
            owner._conversion_failed(raw)
            return None
        self.source = None
        return owner._process(record) if owner.processors else record


class MastraSpanProcessor(SpanProcessor):
    """Persist OpenTelemetry spans as Mastra spans (``mastra_ai_spans``)::

        provider = TracerProvider()
        provider.add_span_processor(MastraSpanProcessor(store=create_store(url)))

    ``store``: where spans go; a :class:`DefaultExporter` is built for it (``strategy``
    and the other keyword arguments — ``max_batch_size``, ``max_batch_wait_ms``,
    ``max_buffer_size``, ``max_retries``, ``retry_delay_ms``, ``on_drop`` — are passed
    to it) and shut down with this processor. Or ``exporter``: an exporter you own
    (e.g. the one your :class:`~mastra_storage.Observability` uses; it is bound to
    ``store`` when one is given, and only flushed by :meth:`shutdown`).

    ``running_spans``: emit ``span_started`` from ``on_start`` so a running span shows
    as ``running`` (only when the strategy shows running spans: not for insert-only).
    ``remote_parent``: ``"root"`` (default) stores a span whose parent is in another
    process as a root, keeping the parent's id in ``attributes.otel.parentSpanId``
    (Mastra's own rule: a trace that continues an outside one is listed); ``"keep"``
    keeps the parent id (use it when that process writes to the same store).
    ``service_name``: used when the OTel resource has none (``unknown_service…``).
    ``span_output_processors`` (e.g. ``SensitiveDataFilter()``) run on the converted
    record, on the worker.
    """

    def __init__(
        self,
        store: ObservabilityStore | None = None,
        *,
        exporter: Exporter | None = None,
        strategy: TracingStrategy | str = TracingStrategy.AUTO,
        span_output_processors: Sequence[SpanOutputProcessor] = (),
        running_spans: bool = True,
        remote_parent: str = "root",
        service_name: str | None = None,
        **exporter_options: Any,
    ) -> None:
        if remote_parent not in ("root", "keep"):
            raise ValueError(f"remote_parent must be 'root' or 'keep', got {remote_parent!r}")
        if exporter is None:
            if store is None:
                raise ValueError("MastraSpanProcessor needs store= (or an exporter=)")
            exporter = DefaultExporter(strategy=strategy, **exporter_options)
            self._owns_exporter = True
        else:
            if exporter_options or TracingStrategy(strategy) is not TracingStrategy.AUTO:
                raise TypeError("strategy and exporter options configure the exporter this "
                                "processor builds; set them on the exporter you pass instead")
            self._owns_exporter = False
        if store is not None:
            exporter.bind(store)
        self.exporter: Any = exporter
        self.processors = list(span_output_processors)
        self.running_spans = running_spans
        self.remote_parent = remote_parent
        self.service_name = service_name
        self.stats = ProcessorStats()
        self._lock = threading.Lock()
        self._logged_failure = False
        self._shut_down = False

    # ------------------------------------------------------------------ hot path
    def _shows_running(self) -> bool:
        strategy = getattr(self.exporter, "strategy", None)
        return strategy is not None and strategy is not TracingStrategy.INSERT_ONLY

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        if not self.running_spans or self._shut_down or not self._shows_running():
            return
        ctx = span.context
        if ctx is None or not ctx.is_valid:
            return  # counted once, at its end
        # Nothing is copied here: a span that ends before the batch is written (most do)
        # is converted once, from its end; a span still running when the worker gets to
        # it is read then, as it is then (its attributes are iterated under the SDK's
        # lock, so reading them from the worker is safe).
        raw = _new_record(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", span.name, _GENERIC,
                          _PLACEHOLDER_TIME)
        self.stats.started += 1
        self.exporter.export(TracingEvent(_STARTED, raw, _Deferred(self, _Started(span))))

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None or not ctx.trace_id or not ctx.span_id \
                or ctx.trace_id >> 128 or ctx.span_id >> 64:
            self._skip(INVALID_SPAN, span)
            return
        if self._shut_down:
            drops = getattr(self.exporter, "drops", None)
            if drops is not None:
                drops.add(DropReason.AFTER_SHUTDOWN, 1, "span ended after the processor's "
                                                        "shutdown")
            return
        if span.events and any(ev.name == EVALUATION_EVENT for ev in span.events):
            self._end_with_scores(span)
            return
        # The placeholder: what the exporter routes on (the key); the rest comes from the
        # deferred conversion on the worker.
        raw = _new_record(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", span.name, _GENERIC,
                          _PLACEHOLDER_TIME)
        self.stats.ended += 1
        self.exporter.export(TracingEvent(_ENDED, raw, _Deferred(self, span)))

    def _end_with_scores(self, span: ReadableSpan) -> None:
        """A span carrying ``gen_ai.evaluation.result`` events: converted here, so its
        scores go out as :class:`ScoreEvent` beside it (rare; evaluator spans)."""
        try:
            converted = to_record(from_readable(span), remote_parent=self.remote_parent,
                                  service_name=self.service_name)
        except Exception:
            self._conversion_failed(None)
            return
        record = converted.record
        self.stats.ended += 1
        if self.processors:
            self.exporter.export(TracingEvent(_ENDED, record, self._process))
        else:
            self.exporter.export(TracingEvent(_ENDED, record))
        for score in converted.scores:
            self.stats.scores += 1
            self.exporter.export(score)

    # ------------------------------------------------------------------ worker side
    def _process(self, record: SpanRecord) -> SpanRecord | None:
        for processor in self.processors:
            try:
                processed = processor.process(record)
            except Exception:
                logger.exception("span output processor %s raised; the span goes on "
                                 "unprocessed by it",
                                 getattr(processor, "name", type(processor).__name__))
                continue
            if processed is None:
                with self._lock:
                    self.stats.filtered += 1
                return None
            record = processed
        return record

    def _conversion_failed(self, raw: SpanRecord | None) -> None:
        with self._lock:
            self.stats.conversion_errors += 1
            first = not self._logged_failure
            self._logged_failure = True
        if first:
            logger.exception("converting an OpenTelemetry span failed (span %s); it is "
                             "dropped and counted as %s", raw.key if raw else "?",
                             CONVERSION_ERROR)
        drops = getattr(self.exporter, "drops", None)
        if drops is not None:
            drops.add(CONVERSION_ERROR, 1, "the OTel span could not be converted")

    def _skip(self, reason: str, span: Any) -> None:
        with self._lock:
            self.stats.skipped[reason] += 1
        drops = getattr(self.exporter, "drops", None)
        if drops is not None:
            ctx = span.context
            drops.add(reason, 1, f"span {span.name!r} has trace id "
                                 f"{getattr(ctx, 'trace_id', None)!r}, span id "
                                 f"{getattr(ctx, 'span_id', None)!r}")

    # ------------------------------------------------------------------ control
    def force_flush(self, timeout_millis: int = 30000) -> bool:
        timeout = None if timeout_millis is None else timeout_millis / 1000
        return bool(self.exporter.flush(timeout))

    def shutdown(self) -> None:
        """Flush; shut the exporter down if this processor built it (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        if self._owns_exporter:
            self.exporter.shutdown()
            for processor in self.processors:
                try:
                    processor.shutdown()
                except Exception:
                    logger.exception("span output processor raised in shutdown()")
        else:
            self.exporter.flush()


class MastraSpanExporter(SpanExporter):
    """The same bridge as a ``SpanExporter``, for a ``BatchSpanProcessor`` or
    ``SimpleSpanProcessor`` you already run. Spans are accepted into the DefaultExporter's
    buffer (``SUCCESS`` means accepted; the write is the DefaultExporter's, with its
    retries and drop accounting). Takes the arguments of :class:`MastraSpanProcessor`
    (running spans don't apply: an exporter only sees finished spans)."""

    def __init__(self, store: ObservabilityStore | None = None, **options: Any) -> None:
        options["running_spans"] = False
        self.processor = MastraSpanProcessor(store, **options)

    @property
    def exporter(self) -> Any:
        return self.processor.exporter

    @property
    def stats(self) -> ProcessorStats:
        return self.processor.stats

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        on_end = self.processor.on_end
        for span in spans:
            on_end(span)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.processor.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.processor.shutdown()


__all__ = ["CONVERSION_ERROR", "INVALID_SPAN", "MastraSpanExporter", "MastraSpanProcessor",
           "ProcessorStats"]
