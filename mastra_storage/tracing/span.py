"""A live span: what app code holds while an agent, model call or tool runs.

Every lifecycle step hands the tracer a fresh snapshot (:class:`SpanRecord`), never the
live object, so exporters running on other threads see a consistent record.
"""

from __future__ import annotations

import threading
import traceback
from contextvars import Token
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..model.jsonsafe import as_text
from ..model.spans import COLUMNS, INHERITED_ATTRS, RECORD_ATTRS, SETTABLE_ATTRS, SpanRecord
from ..model.time import utc_now
from .context import current_span_var
from .events import TracingEventType
from .ids import new_span_id
from .span_types import EntityType, SpanType

if TYPE_CHECKING:
    from .tracer import Tracer

# Fields `update()` merges into the current value instead of replacing it.
MERGED_ATTRS: frozenset[str] = frozenset({"attributes", "metadata"})


def error_info(exc: BaseException) -> dict[str, Any]:
    """The span ``error`` payload: message, exception type name and stack.

    The stack lists ``File "…", line N, in fn`` frames without source lines (like a
    JavaScript ``Error.stack``): reading source files for every failed span cost 35 µs to
    over 1 ms on the app's thread, and the file/line pair is what locates the failure.
    """
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # the app's exception can't render itself: record that instead
        message = f"<unrepresentable {name}>"
    try:
        frames = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__),
                                                lookup_lines=False)
        lines = ["Traceback (most recent call last):\n"]
        lines += [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n' for f in frames]
    except Exception:
        lines = []
    lines.append(f"{name}: {message}\n" if message else f"{name}\n")
    return {"message": message, "name": name, "stack": "".join(lines)}


_TEXT_ATTRS = frozenset(c.attr for c in COLUMNS if c.kind == "text")


def normalise_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with text columns as text and tags as a list of text (see ``as_text``)."""
    out = fields
    for attr, value in fields.items():
        if attr in _TEXT_ATTRS and value is not None and type(value) is not str:
            out = dict(out) if out is fields else out
            out[attr] = as_text(value)
        elif attr == "tags" and value is not None:
            out = dict(out) if out is fields else out
            out[attr] = normalise_tags(value)
    return out


def normalise_tags(tags: Any) -> list[str]:
    """Tags are a list of text: a single value becomes a one-tag list."""
    if isinstance(tags, str) or not isinstance(tags, (list, tuple, set, frozenset)):
        return [as_text(tags) or ""]
    return [t if type(t) is str else (as_text(t) or "") for t in tags]


def _merge(current: Any, new: Any) -> Any:
    if isinstance(current, dict) and isinstance(new, dict):
        return {**current, **new}
    return new


class Span:
    """Started when created; ends once (later ``end`` calls are no-ops), from any thread."""

    __slots__ = ("_ended", "_lock", "_record", "_token", "_tracer")

    def __init__(self, tracer: Tracer, record: SpanRecord) -> None:
        self._tracer = tracer
        self._record = record
        self._lock = threading.Lock()
        self._ended = False
        self._token: Token[Span | None] | None = None
        if record.is_event:
            self._ended = True
            tracer._emit(TracingEventType.SPAN_ENDED, record)
        else:
            tracer._emit(TracingEventType.SPAN_STARTED, self._snapshot())

    # ------------------------------------------------------------------ read access
    @property
    def trace_id(self) -> str:
        return self._record.trace_id

    @property
    def span_id(self) -> str:
        return self._record.span_id

    @property
    def parent_span_id(self) -> str | None:
        return self._record.parent_span_id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def record(self) -> SpanRecord:
        """A snapshot of the span as it is now."""
        return self._snapshot()

    def _snapshot(self) -> SpanRecord:
        return self._record.copy()

    # ------------------------------------------------------------------ children
    def child(
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
        **extra: Any,
    ) -> Span:
        return self._tracer.start_span(
            name, type=type, input=input, attributes=attributes, metadata=metadata,
            tags=tags, entity_type=entity_type, entity_id=entity_id,
            entity_name=entity_name, parent=self, **extra,
        )

    def event(
        self,
        name: str,
        type: SpanType | str = SpanType.GENERIC,
        *,
        output: Any = None,
        attributes: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        **extra: Any,
    ) -> Span:
        """A point-in-time child (``isEvent``): it only ever emits ``span_ended``."""
        return self._tracer.start_span(
            name, type=type, attributes=attributes, metadata=metadata, parent=self,
            _event_output=output, _is_event=True, **extra,
        )

    # ------------------------------------------------------------------ lifecycle
    def update(self, **fields: Any) -> None:
        """Change fields of a running span and emit ``span_updated``."""
        unknown = set(fields) - SETTABLE_ATTRS
        if unknown:
            raise TypeError(f"cannot update span field(s): {', '.join(sorted(unknown))}")
        fields = normalise_fields(fields)
        with self._lock:
            if self._ended:
                return
            rec = self._record
            for attr, value in fields.items():
                if attr in MERGED_ATTRS:
                    value = _merge(getattr(rec, attr), value)
                setattr(rec, attr, value)
            snapshot = self._snapshot()
        self._tracer._emit(TracingEventType.SPAN_UPDATED, snapshot)

    def end(
        self,
        output: Any = None,
        attributes: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            rec = self._record
            if output is not None:
                rec.output = output
            if attributes:
                rec.attributes = _merge(rec.attributes, attributes)
            if metadata:
                rec.metadata = _merge(rec.metadata, metadata)
            rec.ended_at = utc_now()
            snapshot = self._snapshot()
        self._tracer._emit(TracingEventType.SPAN_ENDED, snapshot)

    def error(self, exc: BaseException, end: bool = True) -> None:
        """Record ``exc`` as the span's error; end the span unless ``end=False``."""
        info = error_info(exc)
        if end:
            with self._lock:
                if self._ended:
                    return
                self._record.error = info
            self.end()
        else:
            self.update_error(info)

    def update_error(self, info: dict[str, Any]) -> None:
        with self._lock:
            if self._ended:
                return
            self._record.error = info
            snapshot = self._snapshot()
        self._tracer._emit(TracingEventType.SPAN_UPDATED, snapshot)

    # ------------------------------------------------------------------ signals
    def log(self, level: str, message: str, data: Any = None) -> None:
        self._tracer.log(level, message, data=data, span=self)

    def metric(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        self._tracer.metric(name, value, labels=labels, span=self)

    def score(self, scorer_id: str, score: float, reason: str | None = None,
              metadata: Any = None, **extra: Any) -> None:
        """``extra``: ``scorer_name``, ``scorer_version``, ``score_source``."""
        self._tracer.score(self.trace_id, scorer_id, score, reason=reason,
                           metadata=metadata, span=self, **extra)

    def feedback(self, feedback_type: str, value: Any, source: str | None = None,
                 comment: str | None = None, metadata: Any = None, **extra: Any) -> None:
        """``extra``: ``feedback_user_id`` (who gave it)."""
        self._tracer.feedback(self.trace_id, feedback_type, value, source=source,
                              comment=comment, metadata=metadata, span=self, **extra)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> Span:
        self._token = current_span_var.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            try:
                current_span_var.reset(self._token)
            except ValueError:  # exited in another context (e.g. a different task)
                current_span_var.set(None)
            self._token = None
        # Whatever happens here, the app's own exception (if any) goes on unchanged.
        try:
            if exc is not None:
                self.error(exc)
            else:
                self.end()
        except Exception:
            self._tracer._failed("span:exit")

    def __repr__(self) -> str:
        return f"<Span {self.name!r} trace={self.trace_id} span={self.span_id}>"


def _make_child_builder() -> Any:
    # Generated once: straight-line slot assignments instead of SpanRecord(**kwargs) plus
    # a setattr loop (5.7 -> 2.2 µs per span start on the app's thread).

    given = {"trace_id", "span_id", "name", "span_type", "started_at", "is_event"}
    inherited = {a: a for a in INHERITED_ATTRS}
    inherited.update({
        # A span that names no entity of its own belongs to its parent's (the tracer
        # overwrites these three when the span names one or its type implies one).
        "entity_type": "entity_type", "entity_id": "entity_id", "entity_name": "entity_name",
        "parent_span_id": "span_id", "parent_entity_type": "entity_type",
        "parent_entity_id": "entity_id", "parent_entity_name": "entity_name",
        "parent_entity_version_id": "entity_version_id",
        "root_entity_type": "root_entity_type", "root_entity_id": "root_entity_id",
        "root_entity_name": "root_entity_name",
        "root_entity_version_id": "root_entity_version_id",
    })
    lines = ["def build(p, trace_id, span_id, name, span_type, started_at, is_event):",
             "    r = new(cls)"]
    lines += [f"    r.{a} = {a}" for a in RECORD_ATTRS if a in given]
    lines += [f"    r.{a} = None" for a in RECORD_ATTRS if a not in given]
    lines.append("    if p is not None:")
    lines += [f"        r.{a} = p.{src}" for a, src in inherited.items()]
    lines.append("    return r")
    namespace: dict[str, Any] = {"new": object.__new__, "cls": SpanRecord}
    exec("\n".join(lines), namespace)
    return namespace["build"]


_build_child = _make_child_builder()


def child_record(
    parent: SpanRecord | None,
    *,
    trace_id: str,
    name: str,
    span_type: str,
    started_at: datetime,
    is_event: bool,
) -> SpanRecord:
    """A new record with what it inherits from its parent (ids, correlation, entities)."""
    rec: SpanRecord = _build_child(parent, trace_id, new_span_id(), name, span_type,
                                   started_at, is_event)
    return rec


__all__ = ["EntityType", "Span", "SpanType", "child_record", "error_info"]
