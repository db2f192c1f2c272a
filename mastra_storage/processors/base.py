"""The span output processor contract: a pure function from snapshot to snapshot.

Processors run lazily, on the first exporter worker thread that reads an event (see
:class:`~mastra_storage.tracing.events.TracingEvent`), never on the app's thread, so a
redaction pass costs the app nothing. They must not mutate the snapshot they get (other
code may hold it) and return a new record instead, and must not change a span's ids or
type (exporters route on those before processing). Returning ``None`` drops the event
(counted by the tracer). ``shutdown`` is called once by ``Observability.shutdown()``,
after the exporters have flushed.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..model.spans import SpanRecord


@runtime_checkable
class SpanOutputProcessor(Protocol):
    name: str

    def process(self, span: SpanRecord) -> SpanRecord | None: ...

    def shutdown(self) -> None: ...
