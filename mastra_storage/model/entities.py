"""Mastra's entity types (the ``entityType``, ``parentEntityType`` and ``rootEntityType``
columns) and the one value earlier versions of this library wrote instead.

Mastra's ``listTraces`` only accepts these values as an ``entityType`` filter, so a span
written with anything else is invisible to a Mastra app filtering by entity type.
"""

from __future__ import annotations

from enum import Enum


class EntityType(str, Enum):
    """Mastra's ``EntityType`` (``@mastra/core`` 1.71), in its declaration order."""

    AGENT = "agent"
    SCORER = "scorer"
    RAG_INGESTION = "rag_ingestion"
    TRAJECTORY = "trajectory"
    INPUT_PROCESSOR = "input_processor"
    INPUT_STEP_PROCESSOR = "input_step_processor"
    OUTPUT_PROCESSOR = "output_processor"
    OUTPUT_STEP_PROCESSOR = "output_step_processor"
    TOOL_RESULT_PROCESSOR = "tool_result_processor"
    WORKFLOW_STEP = "workflow_step"
    TOOL = "tool"
    MCP_SERVER = "mcp_server"
    WORKFLOW_RUN = "workflow_run"
    MEMORY = "memory"

    def __str__(self) -> str:
        return self.value


# Values this library wrote before it used Mastra's enum -> the Mastra value they mean.
# Earlier versions wrote a workflow root as "workflow"; Mastra calls it "workflow_run".
LEGACY_ENTITY_TYPES: dict[str, str] = {"workflow": EntityType.WORKFLOW_RUN.value}

_STORED_AS: dict[str, tuple[str, ...]] = {}
for _old, _new in LEGACY_ENTITY_TYPES.items():
    _STORED_AS[_new] = (*_STORED_AS.get(_new, (_new,)), _old)
    _STORED_AS[_old] = _STORED_AS[_new]


def entity_type_values(value: str) -> tuple[str, ...]:
    """The stored values an ``entity_type`` filter for ``value`` matches.

    ``"workflow_run"`` also matches the ``"workflow"`` rows an earlier version wrote, and
    ``"workflow"`` is accepted as an alias of ``"workflow_run"``; any other value matches
    itself only.
    """
    return _STORED_AS.get(value, (value,))


__all__ = ["LEGACY_ENTITY_TYPES", "EntityType", "entity_type_values"]
