"""Test doubles that wrap REAL stores (fault injection), and an event recorder."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mastra_storage.model.spans import SpanRecord
from mastra_storage.storage.base import ObservabilityStore
from mastra_storage.tracing.events import TracingEvent, TracingEventType

T = TypeVar("T")


def found(value: T | None) -> T:
    """``value``, asserted to be there (a read that must find what the test wrote)."""
    assert value is not None
    return value


CONTRACT_DIR = Path(__file__).resolve().parent / "contract"


def contract_text(name: str) -> str:
    """One of Mastra's DDL files from ``tests/contract/`` (provenance in its README.md).

    A missing file raises (the test fails): the contract ships with the repository.
    """
    return (CONTRACT_DIR / name).read_text(encoding="utf-8")


class StoreDown(RuntimeError):
    """A write failure that is neither an outage nor refused data: the exporter gives it
    the bounded retry schedule (500 ms, 1 s, 2 s, 4 s, then the batch is dropped)."""


class StoreUnreachable(ConnectionRefusedError):
    """The store can't be reached: the exporter keeps the batch and retries until it is
    back."""


class FaultyStore:
    """Delegates to a real store; fails writes on demand and records every write call.

    ``fail_next(n)`` makes the next n write calls raise; ``fail_forever()`` all of them
    (``outage=True``: as an unreachable store, :class:`StoreUnreachable`);
    ``block()`` makes writes wait until ``release()`` (``entered`` is set when a write
    is waiting), so tests can hold the worker inside a write without sleeping.
    """

    def __init__(self, inner: ObservabilityStore) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.calls: list[tuple[str, list[SpanRecord]]] = []
        self.failures = 0
        self._fail_remaining = 0
        self._forever = False
        self._outage = False
        self._gate = threading.Event()
        self._gate.set()
        self.entered = threading.Event()
        self._lock = threading.Lock()

    # fault controls
    def fail_next(self, n: int, outage: bool = False) -> None:
        self._fail_remaining = n
        self._outage = outage

    def fail_forever(self, on: bool = True, outage: bool = False) -> None:
        self._forever = on
        self._outage = outage

    def block(self) -> None:
        self.entered.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def _maybe_fail(self, kind: str, records: Sequence[SpanRecord]) -> None:
        self.entered.set()
        self._gate.wait()
        with self._lock:
            if self._forever or self._fail_remaining > 0:
                if self._fail_remaining > 0:
                    self._fail_remaining -= 1
                self.failures += 1
                error = StoreUnreachable if self._outage else StoreDown
                raise error(f"injected failure #{self.failures}")
            self.calls.append((kind, list(records)))

    # store protocol
    @property
    def observability_strategy(self) -> Any:
        return self.inner.observability_strategy

    def get_store(self, domain: str) -> Any:
        return self

    def init(self) -> None:
        self.inner.init()

    def close(self) -> None:
        self.inner.close()

    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        self._maybe_fail("create", records)
        self.inner.batch_create_spans(records)

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None:
        self._maybe_fail("update", records)
        self.inner.batch_update_spans(records)

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        return self.inner.batch_delete_traces(trace_ids)

    def delete_traces_older_than(self, before: datetime) -> int:
        return self.inner.delete_traces_older_than(before)

    def __getattr__(self, name: str) -> Any:  # reads go straight through
        return getattr(self.inner, name)


class RecordingExporter:
    """Keeps every event it is given (in order); the reference for 'what was emitted'."""

    name = "recording"

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._lock = threading.Lock()

    def bind(self, storage: Any) -> None:
        pass

    def export(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def shutdown(self, timeout: float | None = None) -> None:
        pass

    def ended(self) -> dict[tuple[str, str], SpanRecord]:
        return {e.span.key: e.span for e in self.events
                if isinstance(e, TracingEvent) and e.type is TracingEventType.SPAN_ENDED
                and not e.filtered}
