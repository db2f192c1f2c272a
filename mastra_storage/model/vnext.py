"""Mastra's v-next row rules shared by every v-next layout (PostgreSQL and ClickHouse).

Mastra's v-next stores (``@mastra/pg`` ``PostgresStoreVNext``, ``@mastra/clickhouse``'s
v-next domain) write a span's tags and metadata the same way in both databases, and their
readers rely on it: tags are a clean list of distinct strings, and the metadata's string
values are copied to ``metadataSearch`` (the indexed column their metadata filter reads).
Writing the same here is what lets a Mastra app filter the rows a Python app wrote.
"""

from __future__ import annotations

from typing import Any

from .jsonsafe import clean_text

# Context keys Mastra keeps out of metadataSearch (they are columns of their own).
PROMOTED_METADATA_KEYS = frozenset({
    "experimentId", "entityType", "entityId", "entityName", "entityVersionId",
    "parentEntityVersionId", "rootEntityVersionId", "userId", "organizationId",
    "resourceId", "runId", "sessionId", "threadId", "requestId", "environment",
    "executionSource", "serviceName",
})


def normalize_tags(tags: Any) -> list[str]:
    """Mastra's tag rule: the strings of a list, trimmed, without empty ones and repeats
    (first occurrence kept)."""
    if not isinstance(tags, (list, tuple)):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        if not isinstance(tag, str):
            continue
        text = clean_text(tag.strip()) or ""
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def metadata_search(metadata: Any) -> dict[str, str]:
    """Mastra's ``metadataSearch``: the metadata's string values, trimmed and non-empty,
    without the context keys it promotes to columns."""
    if not isinstance(metadata, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str) or \
                key in PROMOTED_METADATA_KEYS:
            continue
        text = value.strip()
        if text:
            out[clean_text(key) or ""] = clean_text(text) or ""
    return out


__all__ = ["PROMOTED_METADATA_KEYS", "metadata_search", "normalize_tags"]
