"""CompositeStore: route the observability domain to a different store, e.g. PostgreSQL for
everything else and ClickHouse for traces (README.md, *Production: route observability to
ClickHouse*)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..errors import StorageDomainDisabledError
from ..model.spans import SpanRecord
from .base import OBSERVABILITY_DOMAIN, ObservabilityStore
from .capabilities import StrategyCapability
from .queries import Trace, TracesFilter, TracesOrderBy, TracesPage


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

    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        self._obs().batch_create_spans(records)

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None:
        self._obs().batch_update_spans(records)

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        return self._obs().batch_delete_traces(trace_ids)

    def delete_traces_older_than(self, before: datetime) -> int:
        return self._obs().delete_traces_older_than(before)

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        return self._obs().get_span(trace_id, span_id)

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        return self._obs().get_root_span(trace_id)

    def get_trace(self, trace_id: str) -> Trace | None:
        return self._obs().get_trace(trace_id)

    def get_trace_light(self, trace_id: str) -> Trace | None:
        return self._obs().get_trace_light(trace_id)

    def list_traces(self, filters: TracesFilter | None = None, page: int = 0,
                    per_page: int = 10, order_by: TracesOrderBy | None = None) -> TracesPage:
        return self._obs().list_traces(filters, page, per_page, order_by)
