"""Mastra's span types (the ``spanType`` column) and the entity each one implies; values
are the contract (``@mastra/core`` 1.71's ``SpanType`` and ``EntityType``)."""

from __future__ import annotations

from enum import Enum

from ..model.entities import EntityType


class SpanType(str, Enum):
    AGENT_RUN = "agent_run"
    SCORER_RUN = "scorer_run"
    CLASSIFIER_EVALUATION = "classifier_evaluation"
    SCORER_STEP = "scorer_step"
    GENERIC = "generic"
    MODEL_GENERATION = "model_generation"
    MODEL_STEP = "model_step"
    MODEL_INFERENCE = "model_inference"
    MODEL_CHUNK = "model_chunk"
    MCP_TOOL_CALL = "mcp_tool_call"
    MCP_SERVER_REQUEST = "mcp_server_request"
    PROCESSOR_RUN = "processor_run"
    TOOL_CALL = "tool_call"
    CLIENT_TOOL_CALL = "client_tool_call"
    PROVIDER_TOOL_CALL = "provider_tool_call"
    WORKFLOW_RUN = "workflow_run"
    WORKFLOW_STEP = "workflow_step"
    WORKFLOW_CONDITIONAL = "workflow_conditional"
    WORKFLOW_CONDITIONAL_EVAL = "workflow_conditional_eval"
    WORKFLOW_PARALLEL = "workflow_parallel"
    WORKFLOW_LOOP = "workflow_loop"
    WORKFLOW_SLEEP = "workflow_sleep"
    WORKFLOW_WAIT_EVENT = "workflow_wait_event"
    MEMORY_OPERATION = "memory_operation"
    WORKSPACE_ACTION = "workspace_action"
    RAG_INGESTION = "rag_ingestion"
    RAG_EMBEDDING = "rag_embedding"
    RAG_VECTOR_OPERATION = "rag_vector_operation"
    RAG_ACTION = "rag_action"
    GRAPH_ACTION = "graph_action"
    MAPPING = "mapping"
    SKILL_RESOLUTION = "skill_resolution"  # deprecated in Mastra (no longer emitted)
    SKILL_ACTION = "skill_action"
    AGENT_SIGNAL = "agent_signal"

    def __str__(self) -> str:
        return self.value


# The entity a span of these types stands for when it names none itself (Mastra's
# getEntityTypeForSpan); a span of any other type takes its parent's entity. Keyed by the
# plain string value: a str-valued Enum member hashes differently from its value.
ENTITY_TYPE_FOR_SPAN_TYPE: dict[str, str] = {
    SpanType.AGENT_RUN.value: EntityType.AGENT.value,
    SpanType.RAG_INGESTION.value: EntityType.RAG_INGESTION.value,
    SpanType.SCORER_RUN.value: EntityType.SCORER.value,
    SpanType.SCORER_STEP.value: EntityType.SCORER.value,
    SpanType.WORKFLOW_RUN.value: EntityType.WORKFLOW_RUN.value,
    SpanType.WORKFLOW_STEP.value: EntityType.WORKFLOW_STEP.value,
    SpanType.TOOL_CALL.value: EntityType.TOOL.value,
    SpanType.MCP_TOOL_CALL.value: EntityType.TOOL.value,
    SpanType.PROVIDER_TOOL_CALL.value: EntityType.TOOL.value,
    SpanType.MCP_SERVER_REQUEST.value: EntityType.MCP_SERVER.value,
    SpanType.PROCESSOR_RUN.value: EntityType.OUTPUT_PROCESSOR.value,
}

__all__ = ["ENTITY_TYPE_FOR_SPAN_TYPE", "EntityType", "SpanType"]
