"""DefaultExporter: all five signals → the shared batch worker → the store.

The app's thread files each span event under its span's key in a :class:`KeyedBuffer`
(a span's start, updates and end coalesce into one entry holding its newest snapshot)
and appends logs, metrics, scores and feedback to a :class:`QueueBuffer` each; the
:class:`~.batching.BatchWorker` hands due batches back here, where spans become
``batch_create_spans`` / ``batch_update_spans`` calls according to the resolved strategy
(see the capability table in :mod:`mastra_storage.storage.capabilities`) and the other
signals ``batch_create_logs`` / ``_metrics`` / ``_scores`` / ``_feedback``. Ended spans
also yield the metrics Mastra derives from them (durations, token counts and costs, see
:mod:`.derived_metrics`). Storage failures are retried with exponential backoff and then
dropped; a store that does not implement a signal gets one attempt, its events are
dropped as ``unsupported-storage`` and the signal is not tried again. Every dropped
event is counted with its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..lifecycle import after_fork_in_child
from ..model.signals import MetricRecord
from ..model.spans import SpanRecord
from ..storage.base import OBSERVABILITY_DOMAIN
from ..storage.capabilities import TracingStrategy, parse_strategy, resolve_strategy
from ..storage.failures import classify
from ..storage.signal_queries import Feature
from ..tracing.events import (
    FeedbackEvent,
    LogEvent,
    MetricEvent,
    ScoreEvent,
    TracingEvent,
    TracingEventType,
)
from .batching import BatchWorker, KeyedBuffer, QueueBuffer, WorkerHandles
from .derived_metrics import derive_metrics
from .drops import DropCounter, DropReason, OnDrop
from .pricing import PriceTable
from .retry import Retry, RetryPolicy

if TYPE_CHECKING:
    from ..storage.base import ObservabilityStore
    from ..tracing.events import ExportedEvent

logger = logging.getLogger("mastra_storage.exporters")

_STARTED = TracingEventType.SPAN_STARTED
_UPDATED = TracingEventType.SPAN_UPDATED
_ENDED = TracingEventType.SPAN_ENDED
Key = tuple[str, str]
SPANS = "spans"
# Buffer name and store method of each of the other signals.
_SIGNALS: dict[type, tuple[str, str]] = {
    LogEvent: ("logs", "batch_create_logs"),
    MetricEvent: ("metrics", "batch_create_metrics"),
    ScoreEvent: ("scores", "batch_create_scores"),
    FeedbackEvent: ("feedback", "batch_create_feedback"),
}
# Event-sourced stores get every span start and end as its own row, in order.
SPAN_EVENTS = "span-events"
_STORE_CALL = {**dict(_SIGNALS.values()), SPAN_EVENTS: "batch_create_spans"}


class _Unsupported(Exception):
    """The store does not implement an operation (raised through the retry loop)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _DataError(Exception):
    """The store refused what a batch holds (raised through the retry loop)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _record_id(record: Any) -> str:
    for attr in ("log_id", "metric_id", "score_id", "feedback_id", "span_id"):
        value = getattr(record, attr, None)
        if value is not None:
            return str(value)
    return "?"


class _Entry:
    """One pending span: its newest event and what its events asked for."""

    __slots__ = ("created", "ended", "event", "events")

    def __init__(self, event: TracingEvent) -> None:
        self.event = event
        # a span_started (or an event span) is among its events
        self.created = event.type is _STARTED or event.raw.is_event
        self.ended = event.type is _ENDED
        self.events = 1


def _merge(entry: _Entry, event: TracingEvent) -> None:
    # The newest snapshot supersedes the older ones — in lifecycle order, so a start or an
    # update that arrives late (a replay, a bridge) never replaces a later snapshot.
    if _STAGE[event.type] >= _STAGE[entry.event.type]:
        entry.event = event
    entry.events += 1
    if event.type is _ENDED:
        entry.ended = True
    elif event.type is _STARTED:
        entry.created = True


_STAGE = {TracingEventType.SPAN_STARTED: 0, TracingEventType.SPAN_UPDATED: 1,
          TracingEventType.SPAN_ENDED: 2}


def _weight(entry: _Entry) -> int:
    return entry.events


@dataclass
class ExporterStats:
    events: int = 0  # events taken from the buffer by the worker
    rows_created: int = 0  # rows sent to batch_create_spans (upserts)
    rows_updated: int = 0  # rows sent to batch_update_spans
    write_calls: int = 0  # store calls that succeeded
    batches: int = 0
    retries: int = 0
    held: int = 0  # updates that arrived for a span whose row was not written yet
    missing_rows: int = 0  # updates whose row had gone (rewritten whole)
    drops: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    """The writes one batch of events turns into."""

    creates: dict[Key, SpanRecord] = field(default_factory=dict)
    updates: dict[Key, SpanRecord] = field(default_factory=dict)
    ended: set[Key] = field(default_factory=set)
    counts: dict[Key, int] = field(default_factory=dict)  # events each write stands for
    metrics: list[MetricRecord] = field(default_factory=list)  # derived from ended spans

    @property
    def events(self) -> int:
        return sum(self.counts.values())


class MastraStorageExporter(WorkerHandles):
    """Persists all five signals to the observability store (spans with a
    provider-appropriate strategy). ``DefaultExporter`` is the same class under Mastra's
    older name.

    ``strategy="auto"`` takes the provider's preferred strategy from the capability table;
    an explicit one must be supported by the provider, else :class:`UnsupportedStrategyError`
    is raised from :meth:`bind` (i.e. when ``Observability`` is built).

    ``prices``: the :class:`~.pricing.PriceTable` for the estimated cost of derived token
    metrics (a path to a table file, or ``False`` for no cost; default: the
    ``MASTRA_STORAGE_PRICES`` file or the built-in table). ``derived_metrics=False``
    turns the derived metrics off. Each signal has its own buffer of
    ``max_buffer_size``.
    """

    name = "mastra-storage-exporter"

    def __init__(
        self,
        storage: ObservabilityStore | None = None,
        strategy: TracingStrategy | str = TracingStrategy.AUTO,
        *,
        max_batch_size: int = 1000,
        max_batch_wait_ms: int = 5000,
        max_buffer_size: int = 10000,
        max_retries: int = 4,
        retry_delay_ms: int = 500,
        on_drop: OnDrop | None = None,
        clock: Callable[[], float] = time.monotonic,
        prices: PriceTable | str | bool | None = None,
        derived_metrics: bool = True,
        on_buffer_full: str = "drop",
        block_timeout_ms: int = 30_000,
    ) -> None:
        self.requested_strategy = parse_strategy(strategy)  # ValueError names valid ones
        for label, value, low in (("max_batch_size", max_batch_size, 1),
                                  ("max_batch_wait_ms", max_batch_wait_ms, 0),
                                  ("max_buffer_size", max_buffer_size, 1),
                                  ("max_retries", max_retries, 0),
                                  ("retry_delay_ms", retry_delay_ms, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
        if on_buffer_full not in ("drop", "block"):
            raise ValueError(f"on_buffer_full must be 'drop' or 'block', got {on_buffer_full!r}")
        if isinstance(block_timeout_ms, bool) or not isinstance(block_timeout_ms, int) or (
                block_timeout_ms < 0):
            raise ValueError(f"block_timeout_ms must be an integer >= 0, got "
                             f"{block_timeout_ms!r}")
        self.on_buffer_full = on_buffer_full
        self.max_batch_size = max_batch_size
        self.max_batch_wait = max_batch_wait_ms / 1000
        self.max_buffer_size = max_buffer_size
        self.max_retries = max_retries
        self.retry_delay = retry_delay_ms / 1000
        self.retry_policy = RetryPolicy(attempts=max_retries + 1, base=self.retry_delay)
        self._storage = storage
        self.store: ObservabilityStore | None = None
        self.strategy: TracingStrategy | None = None
        self.drops = DropCounter(self.name, on_drop)
        self.stats = ExporterStats()
        self._worker = BatchWorker(self.name, self, self.drops, max_batch_size=max_batch_size,
                                   max_batch_wait=self.max_batch_wait,
                                   thread_name="mastra-default-exporter", clock=clock)
        # At interpreter exit: wait for the flush (None = as long as it takes; with storage
        # down, later batches get one attempt each, so this ends).
        self._worker.exit_timeout = None
        if on_buffer_full == "block":
            self._worker.block_timeout = block_timeout_ms / 1000
        self._spans = KeyedBuffer(max_buffer_size, _Entry, _merge, _weight)
        self._worker.add_buffer(SPANS, self._spans)
        self._span_events = QueueBuffer(max_buffer_size)
        self._worker.add_buffer(SPAN_EVENTS, self._span_events)
        self._signal_buffers: dict[str, QueueBuffer] = {}
        for name, _ in _SIGNALS.values():
            buffer = QueueBuffer(max_buffer_size)
            self._worker.add_buffer(name, buffer)
            self._signal_buffers[name] = buffer
        self.derived_metrics = derived_metrics
        self.prices: PriceTable | None
        if prices is None or prices is True:
            self.prices = PriceTable.default()
        elif prices is False:
            self.prices = None
        elif isinstance(prices, PriceTable):
            self.prices = prices
        else:
            self.prices = PriceTable.load(prices)
        # Signals the store does not implement: tried once, then dropped at the door.
        self.unsupported: set[str] = set()
        self._derive = False
        self._created: dict[Key, None] = {}  # rows this exporter wrote and may update
        self._finished: dict[Key, None] = {}  # ended spans written (a late start is stale)
        self._created_limit = max(100_000, 10 * max_buffer_size)
        # Spans whose row was never created, waiting for their end: (snapshot, events).
        self._held: dict[Key, tuple[SpanRecord, int]] = {}
        self._bound = False
        after_fork_in_child(self)

    # ------------------------------------------------------------------ binding
    def bind(self, storage: ObservabilityStore | None) -> None:
        """Resolve the store that receives the observability domain and the strategy.

        An exporter writes to one store for its whole life: binding it again to another
        one (sharing one exporter between two ``Observability`` objects with different
        storage) raises ``ValueError`` rather than re-routing spans already half-written
        to the first store; binding again to the same store does nothing.
        """
        target = self._storage if self._storage is not None else storage
        if self._bound:
            routed_again = target.get_store(OBSERVABILITY_DOMAIN) if target is not None else None
            if routed_again is self.store:
                return
            raise ValueError(f"this {type(self).__name__} is already bound to "
                             f"{self.store!r}; use one exporter per storage")
        if target is None:
            raise ValueError("DefaultExporter needs a storage: pass storage= to Observability "
                             "or to DefaultExporter")
        routed = target.get_store(OBSERVABILITY_DOMAIN)
        if routed is None:
            logger.warning("observability domain is disabled on the storage; the "
                           "DefaultExporter drops every event (counted as %s)",
                           DropReason.UNSUPPORTED_STORAGE)
            self.store, self.strategy = None, None
        else:
            self.strategy = resolve_strategy(self.requested_strategy, routed.provider)
            self.store = routed
            # Derived metrics are a view of the spans, not events the app emitted: they go
            # to stores that hold metrics and are not counted as drops elsewhere.
            self._derive = self.derived_metrics and Feature.METRICS in routed.features()
        self._worker.realtime = self.strategy is TracingStrategy.REALTIME
        self._bound = True

    # ------------------------------------------------------------------ hot path
    def export(self, event: ExportedEvent) -> None:
        kind = type(event)
        if kind is not TracingEvent:
            self._export_signal(kind, event)
            return
        if self._worker.closed:
            self.drops.add(DropReason.AFTER_SHUTDOWN)
            return
        strategy = self.strategy
        if strategy is None:
            if not self._bound:
                raise RuntimeError("DefaultExporter used before bind(); construct it through "
                                   "Observability or call bind(store)")
            self.drops.add(DropReason.UNSUPPORTED_STORAGE)
            return
        assert isinstance(event, TracingEvent)
        if strategy is TracingStrategy.INSERT_ONLY and event.type is not _ENDED:
            return  # starts and updates don't even take buffer space
        if SPANS in self.unsupported:
            self.drops.add(DropReason.UNSUPPORTED_STORAGE)
            return
        if strategy is TracingStrategy.EVENT_SOURCED:
            # A row at start and one at end, nothing for updates (the end carries them).
            if event.type is not _UPDATED and not self._worker.put(self._span_events, event):
                self.drops.add(DropReason.BUFFER_FULL)
            return
        span = event.raw
        if not self._worker.put_keyed(self._spans, (span.trace_id, span.span_id), event):
            self.drops.add(DropReason.BUFFER_FULL)

    def _export_signal(self, kind: type, event: ExportedEvent) -> None:
        route = _SIGNALS.get(kind)
        if route is None:
            return
        if self._worker.closed:
            self.drops.add(DropReason.AFTER_SHUTDOWN)
            return
        name = route[0]
        if self.store is None or name in self.unsupported:
            if not self._bound:
                raise RuntimeError("DefaultExporter used before bind(); construct it through "
                                   "Observability or call bind(store)")
            self.drops.add(DropReason.UNSUPPORTED_STORAGE)
            return
        if not self._worker.put(self._signal_buffers[name], event):
            self.drops.add(DropReason.BUFFER_FULL)

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything exported so far is persisted or dropped."""
        return self._worker.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush, stop the worker; later events are dropped as ``after-shutdown``."""
        self._worker.shutdown(timeout)
        self.stats.drops = self.drops.snapshot()

    # ------------------------------------------------------------------ the sink
    def write_batch(self, buffer: str, items: Sequence[Any]) -> None:
        if buffer == SPANS:
            plan = self._plan(items)
            self._commit(plan)
            if plan.metrics:
                self._write_signal("metrics", plan.metrics)
            return
        if buffer == SPAN_EVENTS:
            self.stats.events += len(items)
            records = [e.span for e in items if not e.filtered]  # processors run here
            self._write_signal(SPAN_EVENTS, records)
            if self._derive:
                metrics = [m for e in items if e.type is _ENDED and not e.filtered
                           for m in derive_metrics(e.span, self.prices)]
                if metrics:
                    self._write_signal("metrics", metrics)
            return
        self._write_signal(buffer, [event.to_record() for event in items])

    # ------------------------------------------------------------------ writing
    def _attempt(self, call: Callable[[], None]) -> Callable[[], None]:
        """``call`` with its failure sorted: an outage is retried until the store is back,
        a refused batch is split (:class:`_DataError`), an unimplemented operation is not
        retried, anything else gets the bounded retry schedule."""

        def attempt() -> None:
            try:
                call()
            except Exception as exc:
                verdict = classify(exc)
                problem = f"{type(exc).__name__}: {_short(exc)}"
                if verdict == "unsupported":
                    raise _Unsupported(exc) from exc
                if verdict == "data":
                    raise _DataError(problem) from exc
                raise Retry(problem, outage=verdict == "unavailable") from exc

        return attempt

    def _write_signal(self, signal: str, records: list[Any]) -> None:
        """``batch_create_<signal>`` of ``records``, retried; the records are built once,
        so a retry re-sends the same ids (idempotent). A batch the store refuses is split
        until the bad records are found; the good ones are written."""
        if (SPANS if signal == SPAN_EVENTS else signal) in self.unsupported:
            self.drops.add(DropReason.UNSUPPORTED_STORAGE, len(records))
            return
        store = self.store
        assert store is not None
        call = getattr(store, _STORE_CALL[signal])
        try:
            self._worker.retry(self._attempt(lambda: call(records)), self.retry_policy,
                               count=len(records), what=f"{signal}: ", on_retry=self._log_retry)
        except _Unsupported as exc:
            self._mark_unsupported(signal, exc.cause, len(records))
        except _DataError as exc:
            if len(records) == 1:
                record = records[0]
                self._invalid(1, f"{signal} {_record_id(record)} (trace "
                                 f"{record.trace_id or '-'})", exc.problem)
                return
            half = len(records) // 2
            self._write_signal(signal, records[:half])
            self._write_signal(signal, records[half:])

    def _invalid(self, count: int, what: str, problem: str) -> None:
        logger.warning("%s: the store refused %s: %s; dropped (counted as %s)", self.name,
                       what, problem, DropReason.INVALID)
        self.drops.add(DropReason.INVALID, count, f"{what}: {problem}")

    def _mark_unsupported(self, signal: str, cause: BaseException, count: int) -> None:
        if signal == SPAN_EVENTS:
            signal = SPANS
        self.unsupported.add(signal)
        logger.warning("%s: the %s store does not support %s (%s); these events are dropped "
                       "(counted as %s) and not tried again", self.name,
                       getattr(self.store, "provider", "?"), signal, _short(cause),
                       DropReason.UNSUPPORTED_STORAGE)
        self.drops.add(DropReason.UNSUPPORTED_STORAGE, count, f"{signal}: {_short(cause)}")

    def on_flush(self) -> None:
        """Write spans whose updates were held because their row was never created."""
        if not self._held:
            return
        plan = _Plan(creates={k: span for k, (span, _) in self._held.items()},
                     counts={k: n for k, (_, n) in self._held.items()})
        self._held.clear()
        self._commit(plan)

    def on_stop(self) -> None:
        pass

    def _plan(self, entries: Iterable[tuple[Key, _Entry]]) -> _Plan:
        """Decide create (upsert) or update per span."""
        plan = _Plan()
        creates, updates, created, held = plan.creates, plan.updates, self._created, self._held
        counts = plan.counts
        for key, entry in entries:
            self.stats.events += entry.events
            event = entry.event
            if event.filtered:  # a span output processor dropped it
                continue
            if event.type is _STARTED and (key in created or key in self._finished):
                # A start that arrives after a newer snapshot of its span was written (a
                # replay, a bridge, a fork): the row already holds more; keep it.
                continue
            span = event.span  # processors run here, on the worker thread
            if entry.created or entry.ended or key in created:
                # Events held earlier for this span are written (or lost) with this one.
                counts[key] = entry.events + held.pop(key, (span, 0))[1]
            if entry.ended:
                plan.ended.add(key)
                if self._derive:
                    plan.metrics += derive_metrics(span, self.prices)
            if entry.created:
                creates[key] = span
            elif key in created:
                updates[key] = span
            elif entry.ended:
                # Its start never reached storage (dropped, or written by another process):
                # the end snapshot is complete, so write it whole, once.
                creates[key] = span
            else:
                if key not in held:
                    self.stats.held += 1
                # No row to update yet: wait for its end (or a flush) and write it then.
                held[key] = (span, held.get(key, (span, 0))[1] + entry.events)
        return plan

    def _commit(self, plan: _Plan) -> None:
        store = self.store
        assert store is not None
        creates = list(plan.creates.values())
        updates = list(plan.updates.values())
        if not creates and not updates:
            return
        if SPANS in self.unsupported:
            self.drops.add(DropReason.UNSUPPORTED_STORAGE, plan.events)
            return
        done: list[str] = []  # the calls that already succeeded (a retry skips them)

        def call() -> None:
            if creates and "create" not in done:
                store.batch_create_spans(creates)
                self.stats.write_calls += 1
                done.append("create")
            if updates:
                updated = store.batch_update_spans(updates)
                self.stats.write_calls += 1
                if isinstance(updated, int) and updated < len(updates):
                    # Rows this exporter wrote are gone (deleted, or another process's
                    # store): the snapshots are complete, so write them whole.
                    self._missing_rows(len(updates) - updated)
                    store.batch_create_spans(updates)

        try:
            written = self._worker.retry(self._attempt(call), self.retry_policy,
                                         count=plan.events, what="", on_retry=self._log_retry)
        except _Unsupported as exc:
            self._mark_unsupported(SPANS, exc.cause, plan.events)
            written = False
        except _DataError as exc:
            self._isolate(plan, exc.problem)
            return
        if not written:
            for key in plan.ended:
                self._created.pop(key, None)
            return
        self._committed(plan, len(creates), len(updates))

    def _isolate(self, plan: _Plan, problem: str) -> None:
        """The store refused the batch for what it holds: write each half on its own, down
        to the span it can't take (dropped as ``invalid``), so the good ones are kept."""
        keys = list(dict.fromkeys([*plan.creates, *plan.updates]))
        if len(keys) == 1:
            (key,) = keys
            self._invalid(plan.counts.get(key, 1), f"span {key[1]} of trace {key[0]}", problem)
            self._created.pop(key, None)
            return
        half = len(keys) // 2
        for part in (keys[:half], keys[half:]):
            chosen = set(part)
            self._commit(_Plan(
                creates={k: v for k, v in plan.creates.items() if k in chosen},
                updates={k: v for k, v in plan.updates.items() if k in chosen},
                ended={k for k in plan.ended if k in chosen},
                counts={k: v for k, v in plan.counts.items() if k in chosen}))

    def _missing_rows(self, n: int) -> None:
        first = self.stats.missing_rows == 0
        self.stats.missing_rows += n
        if first:
            logger.warning("%s: %d span(s) to update had no row in the store (deleted while "
                           "running?); written whole again (counted in stats.missing_rows)",
                           self.name, n)

    def _committed(self, plan: _Plan, creates: int, updates: int) -> None:
        self.stats.batches += 1
        self.stats.rows_created += creates
        self.stats.rows_updated += updates
        created, finished = self._created, self._finished
        for key in plan.creates:
            if key not in plan.ended:
                created[key] = None
        for key in plan.ended:
            created.pop(key, None)
            finished[key] = None
        for table in (created, finished):
            if len(table) > self._created_limit:
                # Forget the oldest: a later end of an open one is upserted whole.
                for key in list(table)[: len(table) - self._created_limit]:
                    del table[key]

    def _log_retry(self, attempt: int, retries: int, delay: float, problem: str) -> None:
        self.stats.retries += 1
        logger.info("%s: write failed (%s), retry %d/%d in %.3fs", self.name, problem, attempt,
                    retries, delay)

    # ------------------------------------------------------------------ fork
    def _after_fork_in_child(self) -> None:
        """The child starts empty: the parent still owns (and writes) what it buffered."""
        self._created = {}
        self._finished = {}
        self._held = {}
        self.drops.reset()
        self.stats = ExporterStats()


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"


DefaultExporter = MastraStorageExporter
"""Mastra's older name of :class:`MastraStorageExporter` (the same class)."""
