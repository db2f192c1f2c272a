"""The Tracer: creates spans and fans their events out through processors to exporters."""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model.jsonsafe import as_text
from ..model.spans import CORRELATION_ATTRS, SETTABLE_ATTRS, SpanRecord
from ..model.time import utc_now
from .context import current_span_var
from .events import (
    EventSink,
    ExportedEvent,
    FeedbackEvent,
    LogEvent,
    MetricEvent,
    ScoreEvent,
    TracingEvent,
    TracingEventType,
)
from .ids import new_trace_id
from .span import Span, child_record, normalise_fields, normalise_tags
from .span_types import ENTITY_TYPE_FOR_SPAN_TYPE, EntityType, SpanType

if TYPE_CHECKING:
    from ..processors.base import SpanOutputProcessor

logger = logging.getLogger("mastra_storage.tracing")


class Tracer:
    """One configured instance: a service name, processors and exporters.

    Failures of processors and exporters are contained here: they are logged (once per
    component and kind of failure, then counted quietly) and never reach app code.
    """

    def __init__(
        self,
        name: str,
        service_name: str,
        exporters: Sequence[EventSink],
        processors: Sequence[SpanOutputProcessor] = (),
        environment: str | None = None,
    ) -> None:
        self.name = name
        self.service_name = service_name
        self.environment = environment
        self.exporters = list(exporters)
        self.processors = list(processors)
        self.failures: Counter[str] = Counter()
        self._failure_lock = threading.Lock()

    # ------------------------------------------------------------------ spans
    def start_span(
        self,
        name: str,
        type: SpanType | str = SpanType.GENERIC,
        *,
        input: Any = None,
        attributes: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        entity_type: EntityType | str | None = None,
        entity_id: str | None = None,
        entity_name: str | None = None,
        parent: Span | None = None,
        new_trace: bool = False,
        _is_event: bool = False,
        _event_output: Any = None,
        **extra: Any,
    ) -> Span:
        """Start a span; its parent is ``parent``, else the current span, unless ``new_trace``.

        ``extra`` accepts the other correlation fields of the record (``user_id``,
        ``session_id``, ``thread_id``, ``run_id``, ``request_id``, ``resource_id``,
        ``organization_id``, ``environment``, ``source``, ``scope``, ``links``, ...).
        """
        if extra:
            unknown = set(extra) - SETTABLE_ATTRS
            if unknown:
                raise TypeError(f"unknown span field(s): {', '.join(sorted(unknown))}")
            extra = normalise_fields(extra)
        # Text columns get text whatever the app passed (a store would refuse the row).
        if name.__class__ is not str:  # (``type`` is the span type parameter here)
            name = as_text(name) or ""
        span_type = type.value if isinstance(type, SpanType) else (as_text(type) or "generic")
        if entity_id is not None and entity_id.__class__ is not str:
            entity_id = as_text(entity_id)
        if entity_name is not None and entity_name.__class__ is not str:
            entity_name = as_text(entity_name)
        if tags is not None:
            tags = normalise_tags(tags)
        if parent is None and not new_trace:
            parent = current_span_var.get()
        parent_rec = parent._record if parent is not None else None
        now = utc_now()
        rec = child_record(
            parent_rec,
            trace_id=parent_rec.trace_id if parent_rec is not None else new_trace_id(),
            name=name, span_type=span_type, started_at=now, is_event=_is_event,
        )
        if parent_rec is None:
            rec.service_name = self.service_name
            rec.environment = self.environment
        rec.input = input
        rec.attributes = attributes
        rec.metadata = metadata
        rec.tags = tags
        # Entities as Mastra assigns them: an explicit entity type, else the one the span
        # type implies (agent_run -> agent, workflow_run -> workflow_run, tool_call ->
        # tool, ...), identified by the span's name unless told otherwise; any other span
        # keeps its parent's entity (copied by child_record), each field overridable.
        if entity_type is None:
            entity_type = ENTITY_TYPE_FOR_SPAN_TYPE.get(span_type)
        if entity_type is not None:
            rec.entity_type = (entity_type.value if isinstance(entity_type, EntityType)
                               else entity_type)
            rec.entity_id = entity_id if entity_id is not None else name
            rec.entity_name = entity_name if entity_name is not None else name
        else:
            if entity_id is not None:
                rec.entity_id = entity_id
            if entity_name is not None:
                rec.entity_name = entity_name
        for attr, value in extra.items():
            setattr(rec, attr, value)
        if parent_rec is None and rec.entity_type is not None:
            rec.root_entity_type, rec.root_entity_id = rec.entity_type, rec.entity_id
            rec.root_entity_name = rec.entity_name
            rec.root_entity_version_id = rec.entity_version_id
        if _is_event:
            rec.output = _event_output
            rec.ended_at = now
        return Span(self, rec)

    # ------------------------------------------------------------------ other signals
    def _context(self, span: Span | None, trace_id: str | None = None) -> dict[str, Any]:
        span = span if span is not None else current_span_var.get()
        if span is not None and trace_id is not None and span.trace_id != trace_id:
            span = None  # a score/feedback for another trace: the current span is unrelated
        ctx: dict[str, Any] = {"service_name": self.service_name}
        if self.environment:
            ctx["environment"] = self.environment
        if span is not None:
            rec = span._record
            for attr in CORRELATION_ATTRS:
                value = getattr(rec, attr)
                if value is not None:
                    ctx[attr] = value
            ctx["trace_id"], ctx["span_id"] = rec.trace_id, rec.span_id
        return ctx

    def log(self, level: str, message: str, data: Any = None, span: Span | None = None) -> None:
        ctx = self._context(span)
        self._dispatch(LogEvent(utc_now(), level, message, data, ctx.pop("trace_id", None),
                                ctx.pop("span_id", None), ctx))

    def metric(self, name: str, value: float, labels: dict[str, str] | None = None,
               span: Span | None = None) -> None:
        """A metric sample. A value that is not a finite number is not recorded (no store
        can aggregate it); it is counted in ``failures["metric:invalid-value"]``."""
        number = self._number(value, "metric")
        if number is None:
            return
        ctx = self._context(span)
        self._dispatch(MetricEvent(utc_now(), name, number, dict(labels or {}),
                                   ctx.pop("trace_id", None), ctx.pop("span_id", None), ctx))

    def score(self, trace_id: str, scorer_id: str, score: float, reason: str | None = None,
              metadata: Any = None, span: Span | None = None, *, scorer_name: str | None = None,
              scorer_version: str | None = None, score_source: str | None = None) -> None:
        """A score of a trace (or of ``span``). A score that is not a finite number is not
        recorded; it is counted in ``failures["score:invalid-value"]``."""
        number = self._number(score, "score")
        if number is None:
            return
        ctx = self._context(span, trace_id)
        ctx.pop("trace_id", None)
        self._dispatch(ScoreEvent(utc_now(), trace_id, scorer_id, number, reason,
                                  ctx.pop("span_id", None), metadata, ctx, scorer_name,
                                  scorer_version, score_source))

    def feedback(self, trace_id: str, feedback_type: str, value: Any, source: str | None = None,
                 comment: str | None = None, metadata: Any = None,
                 span: Span | None = None, *, feedback_user_id: str | None = None) -> None:
        ctx = self._context(span, trace_id)
        ctx.pop("trace_id", None)
        self._dispatch(FeedbackEvent(utc_now(), trace_id, feedback_type, value, source, comment,
                                     ctx.pop("span_id", None), metadata, ctx, feedback_user_id))

    def _number(self, value: Any, signal: str) -> float | None:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            self._failed(f"{signal}:invalid-value", exc_info=False)
            return None
        return number

    # ------------------------------------------------------------------ fan-out
    def _emit(self, type_: TracingEventType, record: SpanRecord) -> None:
        if self.processors:
            self._dispatch(TracingEvent(type_, record, self._process))
        else:
            self._dispatch(TracingEvent(type_, record))

    def _process(self, record: SpanRecord) -> SpanRecord | None:
        """Run the span output processors (called lazily, see TracingEvent.span)."""
        for processor in self.processors:
            try:
                processed = processor.process(record)
            except Exception:
                self._failed(f"processor:{getattr(processor, 'name', type(processor).__name__)}")
                continue  # the event goes on unprocessed by this one processor
            if processed is None:
                with self._failure_lock:
                    self.failures["filtered"] += 1
                return None
            record = processed
        return record

    def _dispatch(self, event: ExportedEvent) -> None:
        for exporter in self.exporters:
            try:
                exporter.export(event)
            except Exception:
                self._failed(f"exporter:{getattr(exporter, 'name', type(exporter).__name__)}")

    def _failed(self, where: str, exc_info: bool = True) -> None:
        with self._failure_lock:
            self.failures[where] += 1
            first = self.failures[where] == 1
        if not first:
            return
        if exc_info:
            logger.exception("%s raised; the event was contained (further failures are counted "
                             "in tracer.failures)", where)
        else:
            logger.warning("%s: not recorded (further ones are counted in tracer.failures)",
                           where)

    def current_span(self) -> Span | None:
        return current_span_var.get()
