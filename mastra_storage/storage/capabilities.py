"""The provider capability table: the one place that says which strategy each store takes.

Stores declare only their ``provider`` name; what that provider prefers and supports is
looked up here, so the table in the README and the behaviour can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..errors import UnsupportedStrategyError


class TracingStrategy(str, Enum):
    """How the DefaultExporter turns span lifecycle events into writes (README.md,
    *Strategies and the capability table*)."""

    REALTIME = "realtime"
    BATCH_WITH_UPDATES = "batch-with-updates"
    INSERT_ONLY = "insert-only"
    # A row appended at span start and one at span end, never updated; reads collapse
    # them (Mastra's v-next layout, ``mastra_span_events``).
    EVENT_SOURCED = "event-sourced"
    AUTO = "auto"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StrategyCapability:
    preferred: TracingStrategy
    supported: tuple[TracingStrategy, ...]


_S = TracingStrategy
_UPDATABLE = (_S.BATCH_WITH_UPDATES, _S.INSERT_ONLY)

CAPABILITIES: dict[str, StrategyCapability] = {
    "clickhouse": StrategyCapability(_S.INSERT_ONLY, (_S.INSERT_ONLY,)),
    "postgres": StrategyCapability(_S.BATCH_WITH_UPDATES, _UPDATABLE),
    "mssql": StrategyCapability(_S.BATCH_WITH_UPDATES, _UPDATABLE),
    "mongodb": StrategyCapability(_S.BATCH_WITH_UPDATES, _UPDATABLE),
    "libsql": StrategyCapability(_S.BATCH_WITH_UPDATES, _UPDATABLE),
    "sqlite": StrategyCapability(_S.BATCH_WITH_UPDATES, _UPDATABLE),
    "memory": StrategyCapability(
        _S.REALTIME, (_S.REALTIME, _S.BATCH_WITH_UPDATES, _S.INSERT_ONLY)
    ),
    # Mastra's v-next layouts, one table per signal. PostgreSQL appends a start row and an
    # end row per span (``mastra_span_events``). ClickHouse's v-next store in
    # @mastra/clickhouse 1.16 is insert-only: its ``endedAt`` is a non-null sort-key column
    # and its list reads keep one unspecified row per span, so a start row would show a
    # running root to Mastra as a finished zero-length span. We follow the store.
    "postgres-vnext": StrategyCapability(_S.EVENT_SOURCED, (_S.EVENT_SOURCED,)),
    "clickhouse-vnext": StrategyCapability(_S.INSERT_ONLY, (_S.INSERT_ONLY,)),
}


def capability_for(provider: str) -> StrategyCapability:
    try:
        return CAPABILITIES[provider]
    except KeyError:
        raise ValueError(
            f"unknown storage provider '{provider}'; known: {', '.join(CAPABILITIES)}"
        ) from None


def parse_strategy(value: TracingStrategy | str) -> TracingStrategy:
    """``value`` as a strategy; ``ValueError`` naming the valid ones otherwise."""
    try:
        return TracingStrategy(value)
    except ValueError:
        valid = ", ".join(s.value for s in TracingStrategy)
        raise ValueError(f"unknown tracing strategy {value!r}; valid: {valid}") from None


def resolve_strategy(requested: TracingStrategy | str, provider: str) -> TracingStrategy:
    """Turn the exporter's requested strategy into the one it will use with ``provider``.

    ``auto`` becomes the provider's preferred strategy; anything else must be supported
    or :class:`UnsupportedStrategyError` is raised.
    """
    strategy = parse_strategy(requested)
    cap = capability_for(provider)
    if strategy is TracingStrategy.AUTO:
        return cap.preferred
    if strategy not in cap.supported:
        raise UnsupportedStrategyError(strategy.value, provider, (s.value for s in cap.supported))
    return strategy
