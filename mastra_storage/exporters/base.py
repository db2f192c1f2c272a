"""The exporter contract, kept as small as OpenTelemetry's SpanExporter.

``export`` is called on the app's thread for every event and must return quickly: an
exporter buffers and does its I/O elsewhere. ``bind`` is called once by
:class:`~mastra_storage.Observability` with its storage (or ``None``) so an exporter
that writes to a store can resolve its strategy before the first event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..storage.base import ObservabilityStore
    from ..tracing.events import ExportedEvent


@runtime_checkable
class Exporter(Protocol):
    name: str

    def bind(self, storage: ObservabilityStore | None) -> None: ...

    def export(self, event: ExportedEvent) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def shutdown(self, timeout: float | None = None) -> None: ...
