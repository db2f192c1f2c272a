"""Parity with Mastra's own stores and tracer (the facts are @mastra/core 1.71's): entity
types and their assignment, ``has_child_error``, span types, MongoDB timestamps written
as BSON dates (and the ISO strings of earlier versions still read and filtered), and the
store invariants Mastra's shared store suite asserts.

tests/test_interop_mastra.py checks the same against the real npm packages; this module
runs without Node.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mastra_storage.model.entities import LEGACY_ENTITY_TYPES, EntityType, entity_type_values
from mastra_storage.model.time import format_iso
from mastra_storage.storage import TracesFilter, TracesOrderBy
from mastra_storage.storage.validation import InvalidSpanError
from mastra_storage.tracing import Tracer, TracingEventType
from mastra_storage.tracing.span_types import ENTITY_TYPE_FOR_SPAN_TYPE, SpanType
from tests.backends import selected

from .factories import at, sid, span, tid
from .helpers import RecordingExporter

# Mastra's enums, in declaration order (@mastra/core 1.71.0, observability/types/tracing.d.ts).
MASTRA_SPAN_TYPES = (
    "agent_run", "scorer_run", "classifier_evaluation", "scorer_step", "generic",
    "model_generation", "model_step", "model_inference", "model_chunk", "mcp_tool_call",
    "mcp_server_request", "processor_run", "tool_call", "client_tool_call",
    "provider_tool_call", "workflow_run", "workflow_step", "workflow_conditional",
    "workflow_conditional_eval", "workflow_parallel", "workflow_loop", "workflow_sleep",
    "workflow_wait_event", "memory_operation", "workspace_action", "rag_ingestion",
    "rag_embedding", "rag_vector_operation", "rag_action", "graph_action", "mapping",
    "skill_resolution", "skill_action", "agent_signal",
)
MASTRA_ENTITY_TYPES = (
    "agent", "scorer", "rag_ingestion", "trajectory", "input_processor",
    "input_step_processor", "output_processor", "output_step_processor",
    "tool_result_processor", "workflow_step", "tool", "mcp_server", "workflow_run", "memory",
)
# getEntityTypeForSpan (@mastra/core observability/utils.ts): span type -> entity type.
MASTRA_ENTITY_FOR_SPAN = {
    "agent_run": "agent", "rag_ingestion": "rag_ingestion", "scorer_run": "scorer",
    "scorer_step": "scorer", "workflow_run": "workflow_run", "workflow_step": "workflow_step",
    "tool_call": "tool", "mcp_tool_call": "tool", "provider_tool_call": "tool",
    "mcp_server_request": "mcp_server", "processor_run": "output_processor",
}


# ----------------------------------------------------------------------- enums (items 1, 4)

def test_span_and_entity_types_are_mastras() -> None:
    assert tuple(t.value for t in SpanType) == MASTRA_SPAN_TYPES
    assert SpanType("classifier_evaluation") is SpanType.CLASSIFIER_EVALUATION
    assert SpanType("mcp_server_request") is SpanType.MCP_SERVER_REQUEST
    assert tuple(t.value for t in EntityType) == MASTRA_ENTITY_TYPES
    assert "workflow" not in MASTRA_ENTITY_TYPES  # Mastra rejects it as a filter value
    assert ENTITY_TYPE_FOR_SPAN_TYPE == MASTRA_ENTITY_FOR_SPAN
    assert str(EntityType.WORKFLOW_RUN) == "workflow_run"


def test_legacy_workflow_entity_type_is_an_alias_on_read() -> None:
    assert LEGACY_ENTITY_TYPES == {"workflow": "workflow_run"}
    assert set(entity_type_values("workflow_run")) == {"workflow_run", "workflow"}
    assert set(entity_type_values("workflow")) == {"workflow_run", "workflow"}
    assert entity_type_values("agent") == ("agent",)
    assert entity_type_values("something-else") == ("something-else",)


# ----------------------------------------------------------------------- tracer (item 1)

@pytest.fixture
def rec() -> RecordingExporter:
    return RecordingExporter()


@pytest.fixture
def tracer(rec: RecordingExporter) -> Tracer:
    return Tracer("default", "svc", [rec])


def found(value: Any) -> Any:
    assert value is not None
    return value


def ended(rec: RecordingExporter) -> dict[str, Any]:
    return {e.span.name: e.span for e in rec.events if e.type is TracingEventType.SPAN_ENDED}


def test_roots_get_mastras_entity_types(tracer: Tracer, rec: RecordingExporter) -> None:
    for span_type in SpanType:
        tracer.start_span(f"root-{span_type.value}", type=span_type).end()
    by_name = ended(rec)
    for span_type in SpanType:
        got = by_name[f"root-{span_type.value}"]
        want = MASTRA_ENTITY_FOR_SPAN.get(span_type.value)
        assert got.entity_type == want, span_type
        if want is None:
            assert (got.entity_id, got.entity_name, got.root_entity_type) == (None, None, None)
        else:
            name = f"root-{span_type.value}"
            assert (got.entity_id, got.entity_name) == (name, name)
            assert (got.root_entity_type, got.root_entity_id) == (want, name)
    # the span type given as a plain string implies the entity just the same
    tracer.start_span("wf-by-string", type="workflow_run").end()
    assert ended(rec)["wf-by-string"].entity_type == "workflow_run"


def test_children_take_their_parents_entity_unless_they_name_one(
        tracer: Tracer, rec: RecordingExporter) -> None:
    with tracer.start_span("support", type=SpanType.AGENT_RUN, entity_id="agent-1") as agent:
        with agent.child("gpt", type=SpanType.MODEL_GENERATION) as llm:
            llm.child("step", type=SpanType.MODEL_STEP).end()
        agent.child("lookup", type=SpanType.TOOL_CALL).end()
        agent.child("mcp", type=SpanType.MCP_TOOL_CALL).end()
        agent.child("proc", type=SpanType.PROCESSOR_RUN).end()
        agent.child("in", type=SpanType.PROCESSOR_RUN,
                    entity_type=EntityType.INPUT_PROCESSOR, entity_id="pii").end()
        agent.child("versioned", entity_id="other-id").end()
        agent.event("note")
        with agent.child("wf", type=SpanType.WORKFLOW_RUN) as wf:
            wf.child("s1", type=SpanType.WORKFLOW_STEP).end()
            wf.child("branch", type=SpanType.WORKFLOW_CONDITIONAL).end()
    got = ended(rec)

    def entity(name: str) -> tuple[Any, ...]:
        return got[name].entity_type, got[name].entity_id, got[name].entity_name

    assert entity("support") == ("agent", "agent-1", "support")
    assert entity("gpt") == entity("step") == entity("note") == ("agent", "agent-1", "support")
    assert entity("lookup") == ("tool", "lookup", "lookup")
    assert entity("mcp") == ("tool", "mcp", "mcp")
    assert entity("proc") == ("output_processor", "proc", "proc")
    assert entity("in") == ("input_processor", "pii", "in")  # an EntityType is stored as text
    assert type(got["in"].entity_type) is str
    assert entity("versioned") == ("agent", "other-id", "support")  # each field overridable
    assert entity("wf") == ("workflow_run", "wf", "wf")
    assert entity("s1") == ("workflow_step", "s1", "s1")
    assert entity("branch") == ("workflow_run", "wf", "wf")
    # parent and root entities follow the same chain
    assert (got["gpt"].parent_entity_type, got["gpt"].parent_entity_id) == ("agent", "agent-1")
    assert (got["s1"].parent_entity_type, got["s1"].root_entity_type) == ("workflow_run", "agent")


def test_workflow_roots_are_found_by_mastras_entity_type(tracer: Tracer,
                                                         rec: RecordingExporter) -> None:
    from mastra_storage.storage import InMemoryStore

    tracer.start_span("nightly", type=SpanType.WORKFLOW_RUN).end()
    store = InMemoryStore()
    store.batch_create_spans(list(ended(rec).values()))
    page = store.list_traces(TracesFilter(entity_type="workflow_run"))
    assert [s.name for s in page.spans] == ["nightly"]
    assert page.spans[0].entity_type == "workflow_run"


# ----------------------------------------------------------------------- stores (items 1, 2, 5)

def test_entity_type_filter_matches_rows_an_earlier_version_wrote(store: Any) -> None:
    legacy, current, agent = tid(), tid(), tid()
    store.batch_create_spans([
        span(legacy, sid(), start=0, span_type="workflow_run", entity_type="workflow"),
        span(current, sid(), start=1, span_type="workflow_run", entity_type="workflow_run"),
        span(agent, sid(), start=2, span_type="agent_run", entity_type="agent"),
    ])

    def ids(value: str) -> list[str]:
        return [s.trace_id for s in store.list_traces(TracesFilter(entity_type=value)).spans]

    assert ids("workflow_run") == [current, legacy]
    assert ids("workflow") == [current, legacy]  # the old value keeps working as an alias
    assert ids("agent") == [agent]
    assert ids("tool") == []
    # stored values are read back as written
    assert found(store.get_root_span(legacy)).entity_type == "workflow"
    both = TracesFilter(entity_type="workflow_run", span_type="workflow_run")
    assert store.list_traces(both).total == 2


def test_has_child_error_counts_the_root_and_any_depth(store: Any) -> None:
    root_only, deep, clean = tid(), tid(), tid()
    r, c = sid(), sid()
    store.batch_create_spans([
        span(root_only, sid(), start=0, error={"message": "root failed"}),
        span(deep, r, start=1),
        span(deep, c, parent=r, start=1.1),
        span(deep, sid(), parent=c, start=1.2, error={"message": "grandchild failed"}),
        span(clean, sid(), start=2),
    ])

    def ids(flag: bool) -> set[str]:
        return {s.trace_id for s in store.list_traces(TracesFilter(has_child_error=flag)).spans}

    assert ids(True) == {root_only, deep}
    assert ids(False) == {clean}
    assert store.list_traces(TracesFilter(has_child_error=True, status="success")).total == 1


@pytest.mark.parametrize("field,message", [("span_id", "Span ID is required"),
                                           ("trace_id", "Trace ID is required")])
@pytest.mark.parametrize("empty", ["", None])
def test_empty_ids_are_rejected_and_nothing_is_written(store: Any, field: str, message: str,
                                                       empty: Any) -> None:
    good = span(tid(), sid())
    bad = span(tid(), sid())
    setattr(bad, field, empty)
    with pytest.raises(InvalidSpanError, match=message) as info:
        store.batch_create_spans([good, bad])
    assert isinstance(info.value, ValueError)
    assert store.get_trace(good.trace_id) is None  # the whole batch is refused
    assert store.list_traces().total == 0


@pytest.mark.needs("updated-at")
def test_create_sets_updated_at_like_mastra(store: Any) -> None:
    rec = span(tid(), sid(), end=None)
    store.batch_create_spans([rec])
    got = found(store.get_span(rec.trace_id, rec.span_id))
    assert got.created_at is not None and got.updated_at is not None
    # (ClickHouse's updatedAt is the row version: at or after createdAt, maybe ahead)
    assert got.updated_at >= got.created_at - timedelta(milliseconds=1)


# ----------------------------------------------------------------------- MongoDB (item 3)

mongodb_only = pytest.mark.skipif("mongodb" not in selected(),
                                  reason="mongodb not in MASTRA_TEST_BACKENDS")


def _legacy_doc(trace_id: str, start: float, end: float | None, **fields: Any) -> dict[str, Any]:
    """A root span as an earlier version of this library stored it: ISO-string times."""
    doc: dict[str, Any] = dict.fromkeys(("parentSpanId", "error", "entityType", "metadata", "tags"))
    doc.update({"traceId": trace_id, "spanId": sid(), "name": "legacy", "spanType": "agent_run",
                "isEvent": False, "startedAt": format_iso(at(start)),
                "endedAt": format_iso(at(end)) if end is not None else None,
                "createdAt": format_iso(at(start)), "updatedAt": format_iso(at(start))})
    doc.update(fields)
    return doc


@mongodb_only
def test_mongodb_writes_bson_dates_and_filters_both_types(mstore: Any) -> None:
    old_a, old_b = tid(), tid()
    mstore.collection.insert_many([_legacy_doc(old_a, 0, 1), _legacy_doc(old_b, 20, None)])
    new_a, new_b = tid(), tid()
    mstore.batch_create_spans([span(new_a, sid(), start=10, end=11),
                               span(new_b, sid(), start=30, end=31)])
    raw = mstore.collection.find_one({"traceId": new_a})
    for name in ("startedAt", "endedAt", "createdAt", "updatedAt"):
        assert isinstance(raw[name], datetime), name

    def ids(**kw: Any) -> set[str]:
        return {s.trace_id for s in mstore.list_traces(TracesFilter(**kw), per_page=100).spans}

    assert ids() == {old_a, old_b, new_a, new_b}
    assert ids(started_from=at(0), started_to=at(10)) == {old_a, new_a}  # inclusive, both types
    assert ids(started_from=at(5)) == {new_a, old_b, new_b}
    assert ids(started_to=at(25)) == {old_a, new_a, old_b}
    assert ids(ended_from=at(1), ended_to=at(11)) == {old_a, new_a}
    assert ids(ended_from=at(2)) == {new_a, new_b}  # running traces have no end
    assert ids(status="running") == {old_b}
    legacy = found(mstore.get_root_span(old_a))
    assert legacy.started_at == at(0) and legacy.ended_at == at(1)
    # an update of a legacy document writes dates: no document mixes the two types
    mstore.batch_update_spans([legacy.copy(output={"ok": True})])
    raw = mstore.collection.find_one({"traceId": old_a})
    assert all(isinstance(raw[n], datetime) for n in ("startedAt", "endedAt", "updatedAt"))
    assert raw["createdAt"] == format_iso(at(0))  # createdAt is never rewritten by an update
    # retention removes old traces whatever type their start time has
    assert mstore.delete_traces_older_than(at(21)) == 3
    assert ids() == {new_b}


@mongodb_only
def test_mongodb_migrate_timestamps_fixes_the_mixed_sort_order(mstore: Any,
                                                               caplog: Any) -> None:
    old, new = tid(), tid()
    mstore.collection.insert_many([_legacy_doc(old, 5, 6, metadata={"k": 1}),
                                   _legacy_doc(tid(), 1, None)])
    mstore.batch_create_spans([span(new, sid(), start=3, end=4)])
    mstore.collection.insert_one({"traceId": "odd", "spanId": "odd", "name": "x",
                                  "spanType": "generic", "isEvent": False, "parentSpanId": "p",
                                  "startedAt": "not a time"})
    with caplog.at_level(logging.WARNING, logger="mastra_storage.storage.mongodb.store"):
        mstore._initialised = False
        mstore.init()
    assert "migrate_timestamps" in caplog.text
    # MongoDB orders by BSON type first: the date sorts apart from the strings
    order = [s.trace_id for s in mstore.list_traces(order_by=TracesOrderBy("startedAt", "ASC"))
             .spans]
    assert order[-1] == new
    assert mstore.migrate_timestamps(batch_size=1) == 2
    order = [s.trace_id for s in mstore.list_traces(order_by=TracesOrderBy("startedAt", "ASC"))
             .spans]
    assert order[1:] == [new, old]
    raw = mstore.collection.find_one({"traceId": old})
    assert raw["startedAt"] == datetime(2026, 11, 1, 12, 0, 5, 123000)
    assert raw["metadata"] == {"k": 1}  # nothing else touched
    assert mstore.collection.find_one({"traceId": "odd"})["startedAt"] == "not a time"
    assert mstore.migrate_timestamps() == 0  # idempotent
    with pytest.raises(ValueError):
        mstore.migrate_timestamps(batch_size=0)


@mongodb_only
def test_mongodb_time_filters_take_any_timezone(mstore: Any) -> None:
    t = tid()
    mstore.batch_create_spans([span(t, sid(), start=0)])
    plus_two = timezone(timedelta(hours=2))
    assert mstore.list_traces(TracesFilter(started_from=at(0).astimezone(plus_two))).total == 1
    assert mstore.list_traces(TracesFilter(started_from=at(0).replace(tzinfo=None))).total == 1
    assert mstore.list_traces(TracesFilter(
        started_from=at(0) + timedelta(milliseconds=1))).total == 0
