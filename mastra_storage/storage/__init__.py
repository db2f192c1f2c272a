"""Storage: the store protocol, the capability table, records and every backend.

Server backends are imported on first use so that the base install needs no drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..model.spans import SpanRecord
from .base import OBSERVABILITY_DOMAIN, BaseStore, ObservabilityStore
from .capabilities import CAPABILITIES, StrategyCapability, TracingStrategy, resolve_strategy
from .composite import CompositeStore
from .memory import InMemoryStore
from .queries import Trace, TracesFilter, TracesOrderBy, TracesPage
from .urls import create_store

_LAZY = {
    "SQLiteStore": "mastra_storage.storage.sql.sqlite",
    "PostgresStore": "mastra_storage.storage.sql.postgres",
    "MSSQLStore": "mastra_storage.storage.sql.mssql",
    "MongoDBStore": "mastra_storage.storage.mongodb",
    "ClickHouseStore": "mastra_storage.storage.clickhouse",
    "SQLStore": "mastra_storage.storage.sql.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = [
    "CAPABILITIES", "OBSERVABILITY_DOMAIN", "BaseStore", "ClickHouseStore", "CompositeStore",
    "InMemoryStore", "MSSQLStore", "MongoDBStore", "ObservabilityStore", "PostgresStore",
    "SQLStore", "SQLiteStore", "SpanRecord", "StrategyCapability", "Trace", "TracesFilter",
    "TracesOrderBy", "TracesPage", "TracingStrategy", "create_store", "resolve_strategy",
]
