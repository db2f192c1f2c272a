"""OpenTelemetry in: OTel spans (in process, or decoded OTLP) as Mastra spans.

* :class:`MastraSpanProcessor` / :class:`MastraSpanExporter` (needs the ``otel`` extra,
  ``opentelemetry-sdk``): finished SDK spans → a DefaultExporter → the store::

      provider = TracerProvider()
      provider.add_span_processor(MastraSpanProcessor(store=create_store(url)))

* :func:`convert_resource_spans`: decoded OTLP ``ResourceSpans`` (``opentelemetry-proto``
  objects or the OTLP/JSON form) → ``(record, scores)`` pairs, for a receiver.
* :func:`to_record` / :func:`classify`: the mapping itself (``docs/otel.md`` has the table).
"""

from __future__ import annotations

from typing import Any

from .data import OtelEvent, OtelLink, OtelSpan, from_readable
from .mapping import Converted, InvalidSpan, check_ids, classify, to_record
from .otlp import ConversionStats, convert_resource_spans, records_from_otlp

_SDK_NAMES = ("MastraSpanExporter", "MastraSpanProcessor", "ProcessorStats")


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        try:
            from . import processor
        except ImportError as exc:
            if exc.name and exc.name.startswith("opentelemetry"):
                from ..errors import MissingDriverError

                raise MissingDriverError("OpenTelemetry", "otel", "opentelemetry-sdk") from exc
            raise
        return getattr(processor, name)
    raise AttributeError(name)


__all__ = [
    "ConversionStats", "Converted", "InvalidSpan", "MastraSpanExporter", "MastraSpanProcessor",
    "OtelEvent", "OtelLink", "OtelSpan", "ProcessorStats", "check_ids", "classify",
    "convert_resource_spans", "from_readable", "records_from_otlp", "to_record",
]
