"""Work run in child processes by tests/test_reliability.py (importable, so ``spawn``
children can find it). Each child traces into the SQLite file named by its argument."""

from __future__ import annotations

from typing import Any

_obs: Any = None


def _tracer(url: str) -> Any:
    global _obs
    if _obs is None:  # a spawn child builds its own pipeline; a fork child inherits one
        from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
        from mastra_storage.storage import create_store

        _obs = Observability(storage=create_store(url), configs={"default": ObservabilityConfig(
            service_name="mp", exporters=[DefaultExporter()])})
    return _obs.get_default_instance()


def install(obs: Any) -> None:
    """Make fork children reuse the parent's pipeline (what a real app does)."""
    global _obs
    _obs = obs


def task(args: tuple[str, int]) -> int:
    url, i = args
    with _tracer(url).start_span(f"task-{i}", new_trace=True):
        pass
    return i


def tasks(url: str, n: int) -> None:
    for i in range(n):
        task((url, i))


def end_span(span: Any) -> None:
    """End, in the child, a span the parent started before forking."""
    span.end(output={"ended": "in the child"})
