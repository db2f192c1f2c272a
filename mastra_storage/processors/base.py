"""The span output processor contract: a pure function from snapshot to snapshot.

Processors run on the caller's thread before any exporter sees the event, so they must
be cheap, must not mutate the snapshot they get (other code may hold it) and return a
new record instead. Returning ``None`` drops the event (counted by the tracer).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..storage.records import SpanRecord


@runtime_checkable
class SpanOutputProcessor(Protocol):
    name: str

    def process(self, span: SpanRecord) -> SpanRecord | None: ...

    def shutdown(self) -> None: ...
