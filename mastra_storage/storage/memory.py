"""In-process store for tests and debugging; also the reference semantics of the query API."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..model.jsonsafe import clean_text, to_jsonable
from ..model.spans import COLUMNS, JSON_ATTRS, UPDATE_ATTRS, SpanRecord
from ..model.time import truncate_ms, utc_now
from .base import BaseStore
from .queries import Pagination, TracesFilter, TracesOrderBy


def json_partial_match(actual: Any, expected: Mapping[str, Any]) -> bool:
    """Every key of ``expected`` is in ``actual`` with an equal (JSON) value."""
    if not isinstance(actual, Mapping):
        return False
    for key, value in expected.items():
        if key not in actual or actual[key] != to_jsonable(value):
            return False
        # JSON has no bool/int confusion: True must not match 1.
        if isinstance(value, bool) != isinstance(actual[key], bool):
            return False
    return True


def root_matches(root: SpanRecord, f: TracesFilter, child_error: bool) -> bool:
    """The :class:`TracesFilter` semantics every store implements (equalities, time ranges,
    status, tags must all match, metadata/scope match partially), applied to a root span."""
    for attr, value in f.equalities():
        if getattr(root, attr) != value:
            return False
    if f.started_from is not None and root.started_at < truncate_ms(f.started_from):
        return False
    if f.started_to is not None and root.started_at > truncate_ms(f.started_to):
        return False
    ended = root.ended_at
    if f.ended_from is not None and (ended is None or ended < truncate_ms(f.ended_from)):
        return False
    if f.ended_to is not None and (ended is None or ended > truncate_ms(f.ended_to)):
        return False
    if f.status is not None and root.status != f.status:
        return False
    if f.has_child_error is not None and child_error != f.has_child_error:
        return False
    if f.tags:
        tags = root.tags if isinstance(root.tags, list) else []
        if not all(t in tags for t in f.tags):
            return False
    if f.metadata and not json_partial_match(root.metadata, f.metadata):
        return False
    return not (f.scope and not json_partial_match(root.scope, f.scope))


def sort_roots(roots: list[SpanRecord], order_by: TracesOrderBy) -> list[SpanRecord]:
    desc = order_by.direction == "DESC"
    if order_by.field == "startedAt":
        return sorted(roots, key=lambda r: (r.started_at, r.trace_id), reverse=desc)
    # endedAt: running traces (NULL) first for DESC, last for ASC.
    ended = sorted((r for r in roots if r.ended_at is not None),
                   key=lambda r: (r.ended_at, r.started_at, r.trace_id), reverse=desc)
    running = sorted((r for r in roots if r.ended_at is None),
                     key=lambda r: (r.started_at, r.trace_id), reverse=desc)
    return running + ended if desc else ended + running


def normalise(record: SpanRecord, now: datetime) -> SpanRecord:
    """What a database would hand back: JSON-clean payloads, ms timestamps, no NULs."""
    changes: dict[str, Any] = {a: to_jsonable(getattr(record, a)) for a in JSON_ATTRS}
    for spec in COLUMNS:
        if spec.kind == "text":
            changes[spec.attr] = clean_text(getattr(record, spec.attr))
    changes["started_at"] = truncate_ms(record.started_at)
    changes["ended_at"] = truncate_ms(record.ended_at) if record.ended_at else None
    changes["created_at"] = truncate_ms(record.created_at) if record.created_at else now
    changes["updated_at"] = truncate_ms(record.updated_at) if record.updated_at else None
    return record.copy(**changes)


class InMemoryStore(BaseStore):
    """Keeps spans in a dict; supports every strategy, ``realtime`` preferred."""

    provider = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[tuple[str, str], SpanRecord] = {}

    def __len__(self) -> int:
        return len(self._spans)

    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        now = utc_now()
        with self._lock:
            for r in records:
                existing = self._spans.get(r.key)
                row = normalise(r, now)
                if existing is not None:
                    row.created_at = existing.created_at
                    row.updated_at = now
                self._spans[r.key] = row

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None:
        now = utc_now()
        with self._lock:
            for r in records:
                existing = self._spans.get(r.key)
                if existing is None:
                    continue
                row = normalise(r, now)
                for attr in UPDATE_ATTRS:
                    setattr(existing, attr, getattr(row, attr))
                existing.updated_at = now

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        wanted = set(trace_ids)
        with self._lock:
            doomed = [k for k in self._spans if k[0] in wanted]
            for k in doomed:
                del self._spans[k]
        return len(doomed)

    def delete_traces_older_than(self, before: datetime) -> int:
        cutoff = truncate_ms(before)
        with self._lock:
            old = {r.trace_id for r in self._spans.values()
                   if r.parent_span_id is None and r.started_at < cutoff}
        return self.batch_delete_traces(sorted(old))

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        with self._lock:
            row = self._spans.get((trace_id, span_id))
            return row.copy() if row else None

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        with self._lock:
            for r in self._spans.values():
                if r.trace_id == trace_id and r.parent_span_id is None:
                    return r.copy()
        return None

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        with self._lock:
            spans = [r for r in self._spans.values() if r.trace_id == trace_id]
        spans.sort(key=lambda r: (r.started_at, r.span_id))
        return [r.light() if light else r.copy() for r in spans]

    def _list_roots(
        self, filters: TracesFilter, pagination: Pagination, order_by: TracesOrderBy
    ) -> tuple[list[SpanRecord], int]:
        with self._lock:
            spans = list(self._spans.values())
        child_error = {r.trace_id for r in spans
                       if r.parent_span_id is not None and r.error is not None}
        roots = [
            r for r in spans
            if r.parent_span_id is None and root_matches(r, filters, r.trace_id in child_error)
        ]
        ordered = sort_roots(roots, order_by)
        page = ordered[pagination.offset: pagination.offset + pagination.per_page]
        return [r.copy() for r in page], len(ordered)
