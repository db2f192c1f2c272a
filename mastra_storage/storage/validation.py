"""Invariants every store checks before it writes a span (the ones Mastra's shared store
suite asserts): a span needs a non-empty ``spanId`` and ``traceId``.

Checked for the whole batch before anything is written, so a rejected batch leaves the
store unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import MastraStorageError
from ..model.spans import SpanRecord


class InvalidSpanError(MastraStorageError, ValueError):
    """A span that cannot be stored: an empty (or missing) span or trace id."""


def require_ids(records: Sequence[SpanRecord]) -> None:
    """Raise :class:`InvalidSpanError` if any record lacks its span or trace id."""
    for r in records:
        span_id, trace_id = r.span_id, r.trace_id
        if span_id and trace_id and isinstance(span_id, str) and isinstance(trace_id, str):
            continue
        where = f"trace_id={trace_id!r}, span_id={span_id!r}, name={r.name!r}"
        if not (span_id and isinstance(span_id, str)):
            raise InvalidSpanError(f"Span ID is required for creating a span ({where})")
        raise InvalidSpanError(f"Trace ID is required for creating a span ({where})")


__all__ = ["InvalidSpanError", "require_ids"]
