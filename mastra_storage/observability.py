"""Observability: the composition root that wires tracers, processors, exporters and storage.

It sits above every layer (tracing, processors, exporters, storage), so the layers below
never import each other sideways: a tracer only knows event sinks, an exporter only
knows a store, and this module decides which exporter a default setup gets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .exporters.default import DefaultExporter
from .tracing.tracer import Tracer

if TYPE_CHECKING:
    from .exporters.base import Exporter
    from .processors.base import SpanOutputProcessor
    from .storage.base import ObservabilityStore

logger = logging.getLogger("mastra_storage")


@dataclass
class ObservabilityConfig:
    service_name: str
    exporters: Sequence[Exporter] = field(default_factory=list)
    span_output_processors: Sequence[SpanOutputProcessor] = field(default_factory=list)
    environment: str | None = None


def default_exporters() -> list[Exporter]:
    """The exporters of a config built for a bare ``Observability(storage=...)``."""
    return [DefaultExporter()]


class Observability:
    """Owns the configs; binds every exporter to ``storage`` at construction.

    Binding is where a strategy is resolved, so an unsupported one fails here, at
    start-up, with :class:`~mastra_storage.UnsupportedStrategyError`. Without
    ``configs`` one config named ``default`` is built, whose exporters come from
    ``exporters_factory`` (a :class:`DefaultExporter` unless told otherwise).
    """

    def __init__(
        self,
        storage: ObservabilityStore | None = None,
        configs: dict[str, ObservabilityConfig] | None = None,
        default: str | None = None,
        *,
        exporters_factory: Callable[[], list[Exporter]] = default_exporters,
    ) -> None:
        if configs is None:
            configs = {"default": ObservabilityConfig(
                service_name="mastra", exporters=exporters_factory() if storage else [])}
        if not configs:
            raise ValueError("Observability needs at least one config")
        self.storage = storage
        self._instances: dict[str, Tracer] = {}
        self._exporters: list[Exporter] = []
        self._processors: list[SpanOutputProcessor] = []
        for name, cfg in configs.items():
            for exporter in cfg.exporters:
                if not any(exporter is e for e in self._exporters):
                    exporter.bind(storage)
                    self._exporters.append(exporter)
            for processor in cfg.span_output_processors:
                if not any(processor is p for p in self._processors):
                    self._processors.append(processor)
            self._instances[name] = Tracer(
                name, cfg.service_name, cfg.exporters, cfg.span_output_processors,
                cfg.environment,
            )
        self._default = default if default is not None else (
            "default" if "default" in configs else next(iter(configs)))
        if self._default not in self._instances:
            raise ValueError(f"default instance '{self._default}' is not among the configs")
        self._shut_down = False

    def get_default_instance(self) -> Tracer:
        return self._instances[self._default]

    def get_instance(self, name: str) -> Tracer:
        try:
            return self._instances[name]
        except KeyError:
            raise KeyError(f"no observability instance named '{name}'; "
                           f"have: {', '.join(self._instances)}") from None

    @property
    def exporters(self) -> list[Exporter]:
        return list(self._exporters)

    # signals without a span, on the default instance
    def log(self, level: str, message: str, data: Any = None) -> None:
        self.get_default_instance().log(level, message, data=data)

    def metric(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        self.get_default_instance().metric(name, value, labels=labels)

    def score(self, trace_id: str, scorer_id: str, score: float, reason: str | None = None,
              metadata: Any = None) -> None:
        self.get_default_instance().score(trace_id, scorer_id, score, reason=reason,
                                          metadata=metadata)

    def feedback(self, trace_id: str, feedback_type: str, value: Any, source: str | None = None,
                 comment: str | None = None, metadata: Any = None) -> None:
        self.get_default_instance().feedback(trace_id, feedback_type, value, source=source,
                                             comment=comment, metadata=metadata)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every exporter has persisted or dropped what it has buffered."""
        return all([e.flush(timeout) for e in self._exporters])

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush and stop every exporter, then shut the span processors down; idempotent.

        Processors go last: exporters run them lazily on their workers while flushing.
        """
        if self._shut_down:
            return
        self._shut_down = True
        for exporter in self._exporters:
            exporter.shutdown(timeout)
        for processor in self._processors:
            try:
                processor.shutdown()
            except Exception:  # one processor's cleanup must not stop the others'
                logger.exception("span processor %s raised in shutdown()",
                                 getattr(processor, "name", type(processor).__name__))

    def __enter__(self) -> Observability:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
