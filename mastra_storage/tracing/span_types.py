"""Mastra's span types (the ``spanType`` column); values are the contract."""

from __future__ import annotations

from enum import Enum


class SpanType(str, Enum):
    AGENT_RUN = "agent_run"
    SCORER_RUN = "scorer_run"
    SCORER_STEP = "scorer_step"
    GENERIC = "generic"
    MODEL_GENERATION = "model_generation"
    MODEL_STEP = "model_step"
    MODEL_INFERENCE = "model_inference"
    MODEL_CHUNK = "model_chunk"
    MCP_TOOL_CALL = "mcp_tool_call"
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
    SKILL_RESOLUTION = "skill_resolution"
    SKILL_ACTION = "skill_action"
    AGENT_SIGNAL = "agent_signal"

    def __str__(self) -> str:
        return self.value


# Span types whose spans are entity roots: they name the entity (agent, workflow, scorer).
ENTITY_SPAN_TYPES: dict[SpanType, str] = {
    SpanType.AGENT_RUN: "agent",
    SpanType.WORKFLOW_RUN: "workflow",
    SpanType.SCORER_RUN: "scorer",
}
