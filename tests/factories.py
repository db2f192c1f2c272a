"""Span records for tests: deterministic ids, every column filled when asked."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from mastra_storage.model.spans import SpanRecord

BASE_TIME = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
_seq = itertools.count(1)


def tid(n: int | None = None) -> str:
    return f"{(n if n is not None else next(_seq)):032x}"


def sid(n: int | None = None) -> str:
    return f"{(n if n is not None else next(_seq)):016x}"


def at(seconds: float) -> datetime:
    return BASE_TIME + timedelta(seconds=seconds)


def span(trace_id: str, span_id: str | None = None, *, parent: str | None = None,
         start: float = 0.0, end: float | None = 1.0, **fields: Any) -> SpanRecord:
    rec = SpanRecord(
        trace_id=trace_id, span_id=span_id or sid(), parent_span_id=parent,
        name=fields.pop("name", "span"), span_type=fields.pop("span_type", "generic"),
        started_at=at(start), ended_at=at(end) if end is not None else None,
    )
    for k, v in fields.items():
        setattr(rec, k, v)
    return rec


def full_span(trace_id: str, span_id: str) -> SpanRecord:
    """Every column set, with awkward but legal values."""
    return SpanRecord(
        trace_id=trace_id, span_id=span_id, name="support-agent ✓ «ünïcode»",
        span_type="agent_run", started_at=at(0), is_event=False, parent_span_id=None,
        entity_type="agent", entity_id="agent-1", entity_name="Support Agent",
        parent_entity_type="workflow", parent_entity_id="wf-1", parent_entity_name="WF",
        root_entity_type="workflow", root_entity_id="wf-1", root_entity_name="WF",
        user_id="user-1", organization_id="org-1", resource_id="res-1", run_id="run-1",
        session_id="sess-1", thread_id="thread-1", request_id="req-1",
        environment="production", service_name="svc", scope={"core": "1.2.3", "n": 1},
        entity_version_id="ev1", parent_entity_version_id="pev1", root_entity_version_id="rev1",
        experiment_id="exp-1", source="cloud",
        metadata={"tier": "gold", "count": 3, "ok": True, "none": None, "nested": {"a": [1, 2]}},
        tags=["prod", "vip"], attributes={"model": "gpt-4o", "usage": {"inputTokens": 12}},
        links=[{"traceId": "a" * 32, "spanId": "b" * 16}],
        input={"messages": [{"role": "user", "content": "héllo 😀"}], "big": 2**53},
        output={"text": "ok", "score": 0.25}, error=None, ended_at=at(2.5),
        request_context={"locale": "fr-FR"},
    )
