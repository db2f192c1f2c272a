"""CompositeStore: route the observability domain to a different store, e.g. PostgreSQL for
everything else and ClickHouse for traces (README.md, *Production: route observability to
ClickHouse*)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import StorageDomainDisabledError
from .base import OBSERVABILITY_DOMAIN, ObservabilityStore
from .capabilities import StrategyCapability
from .signal_queries import Feature


class CompositeStore:
    """``default`` serves every domain except those named in ``domains``.

    A domain mapped to ``None`` is disabled: exporters bound to the composite drop its
    events (counted), and the query API raises :class:`StorageDomainDisabledError`.
    The query and write methods here act on the store routed for observability, so a
    composite can be handed to anything that expects a store.
    """

    def __init__(self, default: ObservabilityStore,
                 domains: Mapping[str, ObservabilityStore | None] | None = None) -> None:
        self.default = default
        self.domains = dict(domains or {})

    def get_store(self, domain: str) -> ObservabilityStore | None:
        if domain not in self.domains:
            return self.default.get_store(domain)
        store = self.domains[domain]
        return store.get_store(domain) if store is not None else None

    def _obs(self) -> ObservabilityStore:
        store = self.get_store(OBSERVABILITY_DOMAIN)
        if store is None:
            raise StorageDomainDisabledError("the observability domain is disabled on this "
                                             "CompositeStore")
        return store

    @property
    def provider(self) -> str:
        return self._obs().provider

    @property
    def observability_strategy(self) -> StrategyCapability:
        return self._obs().observability_strategy

    def _members(self) -> list[ObservabilityStore]:
        out: list[ObservabilityStore] = []
        for s in [self.default, *self.domains.values()]:
            if s is not None and not any(s is m for m in out):
                out.append(s)
        return out

    def init(self) -> None:
        for s in self._members():
            s.init()

    def close(self) -> None:
        for s in self._members():
            s.close()

    def __enter__(self) -> CompositeStore:
        self.init()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def features(self) -> frozenset[Feature]:
        store = self.get_store(OBSERVABILITY_DOMAIN)
        return store.features() if store is not None else frozenset()

    def __getattr__(self, name: str) -> Any:
        """Every write and read of the store API acts on the observability store."""
        if name in _FORWARDED:
            return getattr(self._obs(), name)
        raise AttributeError(name)


# The store API a composite forwards to the store that receives the observability domain.
_FORWARDED = frozenset({
    "batch_create_spans", "batch_update_spans", "batch_delete_traces",
    "delete_traces_older_than", "batch_create_logs", "batch_create_metrics",
    "batch_create_scores", "batch_create_feedback", "update_feedback_review_status",
    "get_span", "get_root_span", "get_trace", "get_trace_light", "get_structure", "get_spans",
    "get_branch", "list_traces", "list_traces_light", "list_branches", "query_traces",
    "trace_query_fields", "trace_query_values", "list_logs", "list_metrics", "list_scores",
    "get_score", "list_feedback", "metric_aggregate", "metric_breakdown", "metric_timeseries",
    "metric_percentiles", "discover_entity_types", "discover_entity_names",
    "discover_service_names", "discover_environments", "discover_tags",
    "discover_metric_names", "discover_metric_label_keys", "discover_metric_label_values",
    "prune", "stats", "truncated_fields",
})
