"""Decoded OTLP traces (``ResourceSpans``) → Mastra span records.

:func:`convert_resource_spans` takes what an OTLP/HTTP or gRPC receiver decoded: the
``opentelemetry-proto`` message objects (an ``ExportTraceServiceRequest``, one
``ResourceSpans`` or a list of them), or the OTLP/JSON form as parsed by ``json.loads``
(``{"resourceSpans": [...]}``, one resource-spans object or a list). Protobuf objects are
read through their fields only, so this module imports nothing from
``opentelemetry-proto``.

OTLP/JSON details handled as the specification says: trace and span ids are hex
strings (base64, as protobuf's generic JSON mapping writes them, is accepted too), 64-bit
integers may be strings, enums are integers (their names are accepted too), and both
lowerCamelCase and snake_case field names are read.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .data import SPAN_KINDS, STATUS_CODES, OtelEvent, OtelLink, OtelSpan
from .mapping import Converted, InvalidSpan, check_ids, to_record

logger = logging.getLogger("mastra_storage.otel")

# Span.flags bits (opentelemetry-proto >= 1.1): the parent's is_remote is known / is true.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


class ConversionStats:
    """What a conversion did: spans converted, and spans skipped by reason."""

    def __init__(self) -> None:
        self.converted = 0
        self.skipped: Counter[str] = Counter()

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def __repr__(self) -> str:
        return f"ConversionStats(converted={self.converted}, skipped={dict(self.skipped)})"


# ---------------------------------------------------------------------------- helpers
def _f(obj: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake, default)
    return value


def _id_hex(value: Any, size: int) -> str | None:
    """An id (bytes, or a JSON hex/base64 string) as lowercase hex; None when empty."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex() if value else None
    if isinstance(value, str):
        if value == "":
            return None
        if len(value) == size * 2:
            return value.lower()
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value  # refused by check_ids with the value shown
        return raw.hex() if len(raw) == size else value
    return repr(value)


def _int(value: Any) -> int:
    if value is None or value == "":
        return 0
    return int(value)


def _enum(value: Any, names: tuple[str, ...], prefix: str) -> str:
    if isinstance(value, str):
        name = value.upper().removeprefix(prefix)
        return name if name in names else names[0]
    index = int(value or 0)
    return names[index] if 0 <= index < len(names) else names[0]


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` (protobuf or JSON) as a plain Python value."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return _json_any(value)
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def _json_any(value: Mapping[str, Any]) -> Any:
    for key, kind in (("stringValue", "s"), ("string_value", "s"), ("boolValue", "b"),
                      ("bool_value", "b"), ("intValue", "i"), ("int_value", "i"),
                      ("doubleValue", "d"), ("double_value", "d"), ("arrayValue", "a"),
                      ("array_value", "a"), ("kvlistValue", "k"), ("kvlist_value", "k"),
                      ("bytesValue", "y"), ("bytes_value", "y")):
        if key in value:
            v = value[key]
            if kind == "i":
                return int(v)
            if kind == "d":
                return float(v)  # "NaN"/"Infinity" strings are valid JSON doubles
            if kind == "a":
                return [_json_any(x) for x in (v or {}).get("values", [])]
            if kind == "k":
                return {kv["key"]: _json_any(kv.get("value") or {})
                        for kv in (v or {}).get("values", [])}
            if kind == "y":
                return base64.b64decode(v or "")
            return v
    return None


def attributes(items: Iterable[Any] | None) -> dict[str, Any]:
    """A list of OTLP ``KeyValue`` (protobuf or JSON) as a dict."""
    out: dict[str, Any] = {}
    for kv in items or ():
        if isinstance(kv, Mapping):
            out[str(kv.get("key"))] = _json_any(kv.get("value") or {})
        else:
            out[kv.key] = any_value(kv.value)
    return out


# ---------------------------------------------------------------------------- spans
def _pb_span(span: Any, resource: Mapping[str, Any], scope: Any) -> OtelSpan:
    flags = span.flags
    return OtelSpan(
        trace_id=_id_hex(span.trace_id, 16) or "",
        span_id=_id_hex(span.span_id, 8) or "",
        parent_span_id=_id_hex(span.parent_span_id, 8),
        parent_remote=bool(flags & _HAS_IS_REMOTE and flags & _IS_REMOTE),
        name=span.name,
        kind=_enum(span.kind, SPAN_KINDS, "SPAN_KIND_"),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano or None,
        attributes=attributes(span.attributes),
        events=[OtelEvent(e.name, e.time_unix_nano, attributes(e.attributes))
                for e in span.events],
        links=[OtelLink(_id_hex(link.trace_id, 16) or "", _id_hex(link.span_id, 8) or "",
                        attributes(link.attributes)) for link in span.links],
        status_code=_enum(span.status.code, STATUS_CODES, "STATUS_CODE_"),
        status_message=span.status.message or None,
        resource=resource,
        scope_name=(scope.name or None) if scope is not None else None,
        scope_version=(scope.version or None) if scope is not None else None,
    )


def _json_span(span: Mapping[str, Any], resource: Mapping[str, Any],
               scope: Mapping[str, Any] | None) -> OtelSpan:
    flags = _int(span.get("flags"))
    status = span.get("status") or {}
    return OtelSpan(
        trace_id=_id_hex(_f(span, "traceId", "trace_id"), 16) or "",
        span_id=_id_hex(_f(span, "spanId", "span_id"), 8) or "",
        parent_span_id=_id_hex(_f(span, "parentSpanId", "parent_span_id"), 8),
        parent_remote=bool(flags & _HAS_IS_REMOTE and flags & _IS_REMOTE),
        name=str(span.get("name") or ""),
        kind=_enum(span.get("kind"), SPAN_KINDS, "SPAN_KIND_"),
        start_ns=_int(_f(span, "startTimeUnixNano", "start_time_unix_nano")),
        end_ns=_int(_f(span, "endTimeUnixNano", "end_time_unix_nano")) or None,
        attributes=attributes(span.get("attributes")),
        events=[OtelEvent(str(e.get("name") or ""),
                          _int(_f(e, "timeUnixNano", "time_unix_nano")),
                          attributes(e.get("attributes"))) for e in span.get("events") or ()],
        links=[OtelLink(_id_hex(_f(lk, "traceId", "trace_id"), 16) or "",
                        _id_hex(_f(lk, "spanId", "span_id"), 8) or "",
                        attributes(lk.get("attributes"))) for lk in span.get("links") or ()],
        status_code=_enum(status.get("code"), STATUS_CODES, "STATUS_CODE_"),
        status_message=status.get("message") or None,
        resource=resource,
        scope_name=(scope or {}).get("name") or None,
        scope_version=(scope or {}).get("version") or None,
    )


def _resource_spans_list(data: Any) -> list[Any]:
    if isinstance(data, Mapping):
        if "resourceSpans" in data or "resource_spans" in data:
            return list(_f(data, "resourceSpans", "resource_spans") or [])
        return [data]
    if hasattr(data, "scope_spans"):  # one protobuf ResourceSpans
        return [data]
    if hasattr(data, "resource_spans"):  # ExportTraceServiceRequest / TracesData
        return list(data.resource_spans)
    out: list[Any] = []
    for item in data:  # a list (or protobuf repeated field) of any of the above
        out.extend(_resource_spans_list(item))
    return out


def iter_otlp_spans(data: Any) -> Iterator[OtelSpan | InvalidSpan]:
    """Every span of ``data`` in the neutral form; a span that can't be decoded is
    yielded as an :class:`InvalidSpan` (the caller counts it)."""
    for rs in _resource_spans_list(data):
        if isinstance(rs, Mapping):
            resource = attributes((rs.get("resource") or {}).get("attributes"))
            for ss in _f(rs, "scopeSpans", "scope_spans") or ():
                scope = ss.get("scope")
                for span in ss.get("spans") or ():
                    try:
                        yield _json_span(span, resource, scope)
                    except (TypeError, ValueError, AttributeError, binascii.Error) as exc:
                        yield InvalidSpan("malformed-span", f"{type(exc).__name__}: {exc}")
        else:
            resource = attributes(rs.resource.attributes) if rs.HasField("resource") else {}
            for ss in rs.scope_spans:
                scope = ss.scope if ss.HasField("scope") else None
                for span in ss.spans:
                    try:
                        yield _pb_span(span, resource, scope)
                    except (TypeError, ValueError, AttributeError) as exc:
                        yield InvalidSpan("malformed-span", f"{type(exc).__name__}: {exc}")


def convert_resource_spans(
    data: Any,
    *,
    stats: ConversionStats | None = None,
    remote_parent: str = "keep",
    service_name: str | None = None,
) -> Iterator[Converted]:
    """Yield ``(record, scores)`` for every valid span of decoded OTLP ``data``.

    A span with an invalid trace, span or parent id (or one that can't be decoded) is
    skipped and counted in ``stats.skipped`` by reason (``invalid-trace-id``,
    ``invalid-span-id``, ``invalid-parent-span-id``, ``malformed-span``). Records are
    ended spans (``endedAt`` set) ready for ``batch_create_spans`` or, wrapped in a
    ``TracingEvent(SPAN_ENDED, record)``, for a DefaultExporter's ``export``.
    ``remote_parent="keep"`` (the default here: a collector sees whole traces) keeps a
    remote parent's id; ``"root"`` makes such a span a root.
    """
    stats = stats if stats is not None else ConversionStats()
    for span in iter_otlp_spans(data):
        if isinstance(span, InvalidSpan):
            stats.skipped[span.reason] += 1
            logger.debug("skipped an OTLP span: %s", span)
            continue
        try:
            check_ids(span)
        except InvalidSpan as exc:
            stats.skipped[exc.reason] += 1
            logger.debug("skipped an OTLP span: %s", exc)
            continue
        try:
            converted = to_record(span, remote_parent=remote_parent, service_name=service_name)
        except Exception:  # a bug in the mapping must not stop the other spans
            logger.exception("converting OTLP span %s/%s failed; skipped", span.trace_id,
                             span.span_id)
            stats.skipped["conversion-error"] += 1
            continue
        stats.converted += 1
        yield converted


def records_from_otlp(data: Any, **options: Any) -> list[Any]:
    """Only the span records of :func:`convert_resource_spans` (scores left out)."""
    return [c.record for c in convert_resource_spans(data, **options)]


__all__ = ["ConversionStats", "any_value", "attributes", "convert_resource_spans",
           "iter_otlp_spans", "records_from_otlp"]
