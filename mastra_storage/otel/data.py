"""One OpenTelemetry span in a neutral form, whatever it came from.

The mapping (:mod:`.mapping`) reads only :class:`OtelSpan`, so the SDK path (a finished
``ReadableSpan`` in this process) and the wire path (OTLP ``ResourceSpans``, protobuf or
JSON, see :mod:`.otlp`) give the same record for the same span. Ids are kept in the
W3C hex form OTel prints (32 chars for a trace, 16 for a span); times are Unix
nanoseconds; attribute values are plain Python values (sequences as lists, key-value
lists as dicts, bytes as bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# OTel's SpanKind and StatusCode by name: the SDK's enums and OTLP's integers both map here.
SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")


class OtelEvent:
    __slots__ = ("attributes", "name", "time_ns")

    def __init__(self, name: str, time_ns: int, attributes: Mapping[str, Any]) -> None:
        self.name = name
        self.time_ns = time_ns
        self.attributes = attributes


class OtelLink:
    __slots__ = ("attributes", "span_id", "trace_id")

    def __init__(self, trace_id: str, span_id: str, attributes: Mapping[str, Any]) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.attributes = attributes


class OtelSpan:
    """A span as the mapping sees it. ``end_ns`` is None for a running span."""

    __slots__ = ("attributes", "end_ns", "events", "kind", "links", "name",
                 "parent_remote", "parent_span_id", "resource", "scope_name",
                 "scope_version", "span_id", "start_ns", "status_code", "status_message",
                 "trace_id")

    def __init__(
        self,
        *,
        trace_id: str,
        span_id: str,
        name: str,
        start_ns: int,
        end_ns: int | None = None,
        parent_span_id: str | None = None,
        parent_remote: bool = False,
        kind: str = "INTERNAL",
        attributes: Mapping[str, Any] | None = None,
        events: list[OtelEvent] | tuple[OtelEvent, ...] = (),
        links: list[OtelLink] | tuple[OtelLink, ...] = (),
        status_code: str = "UNSET",
        status_message: str | None = None,
        resource: Mapping[str, Any] | None = None,
        scope_name: str | None = None,
        scope_version: str | None = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.name = name
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.parent_span_id = parent_span_id
        self.parent_remote = parent_remote
        self.kind = kind
        self.attributes = attributes if attributes is not None else {}
        self.events = events
        self.links = links
        self.status_code = status_code
        self.status_message = status_message
        self.resource = resource if resource is not None else {}
        self.scope_name = scope_name
        self.scope_version = scope_version


def plain(value: Any) -> Any:
    """An attribute value as a plain JSON-like value (tuples → lists, mappings → dicts).

    Bytes stay bytes: the payload rules store them as ``"<bytes:N>"`` in every backend.
    """
    if isinstance(value, (str, int, float, bool, bytes)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def trace_hex(value: int) -> str:
    return f"{value:032x}"


def span_hex(value: int) -> str:
    return f"{value:016x}"


def from_readable(span: Any, *, started_only: bool = False,
                  attributes: Mapping[str, Any] | None = None) -> OtelSpan:
    """An SDK ``ReadableSpan`` (finished, or live when ``started_only``) as an :class:`OtelSpan`.

    A finished span is immutable, so its mappings are read as they are. For a live span
    pass ``attributes``, a copy taken when it started (the app may still change them;
    ids, name, times, resource and scope are fixed at start); without one they are
    copied here.
    """
    ctx = span.context
    parent = span.parent
    scope = span.instrumentation_scope
    status = span.status
    attrs = attributes if attributes is not None else span.attributes
    if started_only:
        if attributes is None and attrs:
            # a live span: a copy; a key the app removes meanwhile is skipped
            get = attrs.get
            attrs = {k: v for k in list(attrs) if (v := get(k)) is not None}
        attrs = attrs or {}
        events: list[OtelEvent] | tuple[OtelEvent, ...] = ()
        links: list[OtelLink] | tuple[OtelLink, ...] = ()
    else:
        events = [OtelEvent(e.name, e.timestamp, e.attributes or {}) for e in span.events]
        links = [OtelLink(trace_hex(link.context.trace_id), span_hex(link.context.span_id),
                          link.attributes or {}) for link in span.links]
    resource = span.resource
    return OtelSpan(
        trace_id=trace_hex(ctx.trace_id),
        span_id=span_hex(ctx.span_id),
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=None if started_only else span.end_time,
        parent_span_id=span_hex(parent.span_id) if parent is not None and parent.span_id else None,
        parent_remote=bool(parent is not None and parent.is_remote),
        kind=span.kind.name,
        attributes=attrs or {},
        events=events,
        links=links,
        status_code="UNSET" if started_only else status.status_code.name,
        status_message=None if started_only else status.description,
        resource=resource.attributes if resource is not None else {},
        scope_name=scope.name if scope is not None else None,
        scope_version=scope.version if scope is not None else None,
    )


__all__ = ["SPAN_KINDS", "STATUS_CODES", "OtelEvent", "OtelLink", "OtelSpan", "from_readable",
           "plain", "span_hex", "trace_hex"]
