"""mastra-storage: persist AI-agent traces to pluggable databases, Mastra-compatible.

Data flows tracing → processors → exporters → storage; see the README for the map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import MissingDriverError, UnsupportedStrategyError
from .exporters.default import DefaultExporter, MastraStorageExporter
from .exporters.drops import DropReason
from .observability import Observability, ObservabilityConfig
from .processors.sensitive_data import SensitiveDataFilter
from .storage.capabilities import TracingStrategy
from .storage.urls import create_store
from .tracing import Span, SpanType, Tracer

if TYPE_CHECKING:  # loaded lazily at run time (below), typed for checkers
    from .exporters.cloud import CloudExporter, MastraPlatformExporter

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("CloudExporter", "MastraPlatformExporter"):
        # httpx is imported only when the collector is used
        from .exporters import cloud

        return getattr(cloud, name)
    raise AttributeError(name)


__all__ = [
    "CloudExporter", "DefaultExporter", "DropReason", "MastraPlatformExporter",
    "MastraStorageExporter", "MissingDriverError", "Observability", "ObservabilityConfig",
    "SensitiveDataFilter", "Span", "SpanType", "Tracer", "TracingStrategy",
    "UnsupportedStrategyError", "__version__", "create_store",
]
