"""DefaultExporter: span lifecycle events → a bounded buffer → one worker → the store.

The app's thread only files the event under its span's key (a short lock, no I/O); one
background thread swaps the pending spans out, runs the span output processors, and turns
them into ``batch_create_spans`` / ``batch_update_spans`` calls according to the resolved
strategy (design §4). Storage failures are retried with exponential backoff
and then dropped, and every dropped event is counted with its reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..storage.base import OBSERVABILITY_DOMAIN
from ..storage.capabilities import TracingStrategy, resolve_strategy
from ..storage.records import SpanRecord
from ..tracing.events import TracingEvent, TracingEventType
from .drops import DropCounter, DropReason, OnDrop
from .lifecycle import register_fork_and_exit

if TYPE_CHECKING:
    from ..storage.base import ObservabilityStore
    from ..tracing.events import ExportedEvent

logger = logging.getLogger("mastra_storage.exporters")

_STARTED = TracingEventType.SPAN_STARTED
_ENDED = TracingEventType.SPAN_ENDED
Key = tuple[str, str]


class _Entry:
    """One pending span: its newest event and what its events asked for."""

    __slots__ = ("created", "ended", "event", "events")

    def __init__(self, event: TracingEvent, created: bool, ended: bool) -> None:
        self.event = event
        self.created = created  # a span_started (or an event span) is among its events
        self.ended = ended
        self.events = 1


@dataclass
class ExporterStats:
    events: int = 0  # events taken from the buffer by the worker
    rows_created: int = 0  # rows sent to batch_create_spans (upserts)
    rows_updated: int = 0  # rows sent to batch_update_spans
    write_calls: int = 0  # store calls that succeeded
    batches: int = 0
    retries: int = 0
    held: int = 0  # updates that arrived for a span whose row was not written yet
    drops: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    """The writes one batch of events turns into."""

    creates: dict[Key, SpanRecord] = field(default_factory=dict)
    updates: dict[Key, SpanRecord] = field(default_factory=dict)
    ended: set[Key] = field(default_factory=set)
    events: int = 0


class DefaultExporter:
    """Persists spans to the observability store with a provider-appropriate strategy.

    ``strategy="auto"`` takes the provider's preferred strategy from the capability table;
    an explicit one must be supported by the provider, else :class:`UnsupportedStrategyError`
    is raised from :meth:`bind` (i.e. when ``Observability`` is built).
    """

    name = "default-exporter"
    # At interpreter exit: wait for the flush (None = as long as it takes; with storage
    # down, later batches get one attempt each, so this ends).
    exit_timeout: float | None = None

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
    ) -> None:
        self.requested_strategy = TracingStrategy(strategy)  # ValueError names valid ones
        for label, value, low in (("max_batch_size", max_batch_size, 1),
                                  ("max_batch_wait_ms", max_batch_wait_ms, 0),
                                  ("max_buffer_size", max_buffer_size, 1),
                                  ("max_retries", max_retries, 0),
                                  ("retry_delay_ms", retry_delay_ms, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
        self.max_batch_size = max_batch_size
        self.max_batch_wait = max_batch_wait_ms / 1000
        self.max_buffer_size = max_buffer_size
        self.max_retries = max_retries
        self.retry_delay = retry_delay_ms / 1000
        # Wake the worker early when the buffer nears its bound, whatever the batch size.
        self._wake_at = min(max_batch_size, max(1, int(max_buffer_size * 0.8)))
        self._storage = storage
        self.store: ObservabilityStore | None = None
        self.strategy: TracingStrategy | None = None
        self.drops = DropCounter(self.name, on_drop)
        self.stats = ExporterStats()
        # Test seam: how the worker waits between retries (the schedule is observable).
        self.sleep: Callable[[float], None] = time.sleep
        self._created: dict[Key, None] = {}  # rows this exporter wrote and may update
        self._created_limit = max(100_000, 10 * max_buffer_size)
        # Spans whose row was never created, waiting for their end: (snapshot, events).
        self._held: dict[Key, tuple[SpanRecord, int]] = {}
        self._bound = False
        self._closed = False
        self._init_runtime()
        register_fork_and_exit(self)

    # ------------------------------------------------------------------ binding
    def bind(self, storage: ObservabilityStore | None) -> None:
        """Resolve the store that receives the observability domain and the strategy."""
        target = self._storage if self._storage is not None else storage
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
        self._bound = True

    # ------------------------------------------------------------------ hot path
    def export(self, event: ExportedEvent) -> None:
        if type(event) is not TracingEvent:
            return  # logs, metrics, scores, feedback are not stored by this exporter
        if self._closed:
            self.drops.add(DropReason.AFTER_SHUTDOWN)
            return
        strategy = self.strategy
        if strategy is None:
            if not self._bound:
                raise RuntimeError("DefaultExporter used before bind(); construct it through "
                                   "Observability or call bind(store)")
            self.drops.add(DropReason.UNSUPPORTED_STORAGE)
            return
        kind = event.type
        if strategy is TracingStrategy.INSERT_ONLY and kind is not _ENDED:
            return
        span = event.raw
        key = (span.trace_id, span.span_id)
        with self._lock:
            pending = self._pending
            entry = pending.get(key)
            if entry is None:
                inflight = self._inflight
                if key in inflight:
                    # Being written right now: a second entry, but not a second span.
                    self._dupes += 1
                    full = False
                elif len(pending) + len(inflight) - self._dupes >= self.max_buffer_size:
                    full = True
                else:
                    full = False
                if not full:
                    pending[key] = _Entry(event, kind is _STARTED or span.is_event,
                                          kind is _ENDED)
                    n = len(pending)
            else:
                full = False
                entry.event = event  # the newest snapshot supersedes the older ones
                entry.events += 1
                if kind is _ENDED:
                    entry.ended = True
                n = 0
        if full:
            self.drops.add(DropReason.BUFFER_FULL)
            return
        if self._thread is None:
            self._start_worker()
        # Wake the worker only if it sleeps with nothing to do, or the batch is full:
        # while it counts down a batch's wait it needs no nudge (Event.set is not free).
        if (n == 1 and self._idle) or n >= self._wake_at or strategy is TracingStrategy.REALTIME:
            self._wakeup.set()

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything exported so far is persisted or dropped."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return not self._pending
        with self._done:
            target = self._generation
            self._flush_requested = True
        self._wakeup.set()
        with self._done:
            return self._done.wait_for(lambda: self._finished >= target, timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush, stop the worker; later events are dropped as ``after-shutdown``."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wakeup.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("%s: shutdown timed out with %d span(s) still buffered",
                               self.name, self.buffered)
        self.drops.report_pending()
        self.stats.drops = self.drops.snapshot()

    @property
    def buffered(self) -> int:
        """Spans waiting to be written (pending plus the batch being written)."""
        with self._lock:
            return len(self._pending) + len(self._inflight) - self._dupes

    # ------------------------------------------------------------------ worker
    def _init_runtime(self) -> None:
        # Pending spans keyed by (traceId, spanId): a span's start, updates and end
        # coalesce into one entry, so the bound counts spans, which is what memory holds.
        self._pending: dict[Key, _Entry] = {}
        # Keys of the batch being written, and how many pending keys are among them: the
        # bound counts distinct spans, so a span whose end arrives while its start is
        # being written does not count twice.
        self._inflight: set[Key] = set()
        self._dupes = 0
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._done = threading.Condition()
        self._generation = 0  # the batch now accumulating
        self._finished = -1  # the last batch written (or dropped)
        self._flush_requested = False
        self._idle = True
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._stopping = False

    def _start_worker(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mastra-default-exporter",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._idle = True
            if not self._pending and not self._flush_requested and not self._stopping:
                self._wakeup.wait()
            self._idle = False
            self._wakeup.clear()
            if not self._pending and not self._flush_requested and not self._stopping:
                continue
            self._wait_for_batch()
            with self._done:
                flushing = self._flush_requested or self._stopping
                self._flush_requested = False
            with self._lock:
                batch, self._pending = self._pending, {}
                self._inflight = set(batch)
                self._dupes = 0
                generation = self._generation
                self._generation += 1
            if batch:
                self._write(batch)
            if flushing:
                self._write_held()
            with self._done:
                self._finished = generation
                self._done.notify_all()
            if self._stopping and not self._pending:
                break
            if self._pending:
                self._wakeup.set()  # more arrived while writing: go round at once

    def _wait_for_batch(self) -> None:
        """Let a batch fill until it is big enough, old enough, or someone is waiting."""
        if self.strategy is TracingStrategy.REALTIME:
            return
        deadline = time.monotonic() + self.max_batch_wait
        while (len(self._pending) < self._wake_at and not self._stopping
               and not self._flush_requested):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.wait(remaining)
            self._wakeup.clear()

    def _write(self, batch: dict[Key, _Entry]) -> None:
        items = list(batch.items())
        size = self.max_batch_size
        for i in range(0, len(items), size):
            chunk = items[i:i + size]
            self._commit(self._plan(chunk))
            with self._lock:
                inflight, pending = self._inflight, self._pending
                for key, _ in chunk:
                    inflight.discard(key)
                    if key in pending:
                        self._dupes -= 1

    def _plan(self, entries: Iterable[tuple[Key, _Entry]]) -> _Plan:
        """Decide create (upsert) or update per span (design §4)."""
        plan = _Plan()
        creates, updates, created, held = plan.creates, plan.updates, self._created, self._held
        for key, entry in entries:
            self.stats.events += entry.events
            event = entry.event
            if event.filtered:  # a span output processor dropped it
                continue
            span = event.span  # processors run here, on the worker thread
            if entry.created or entry.ended or key in created:
                # Events held earlier for this span are written (or lost) with this one.
                plan.events += entry.events + held.pop(key, (span, 0))[1]
            if entry.ended:
                plan.ended.add(key)
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

    def _write_held(self) -> None:
        """Write spans whose updates were held because their row was never created."""
        if not self._held:
            return
        plan = _Plan(creates={k: span for k, (span, _) in self._held.items()},
                     events=sum(n for _, n in self._held.values()))
        self._held.clear()
        self._commit(plan)

    def _commit(self, plan: _Plan) -> None:
        store = self.store
        assert store is not None
        creates = list(plan.creates.values())
        updates = list(plan.updates.values())
        if not creates and not updates:
            return
        attempts = self.max_retries + 1
        if self._stopping and self._failing_at_shutdown:
            attempts = 1  # storage already proved down during shutdown: don't stall exit
        for attempt in range(attempts):
            try:
                if creates:
                    store.batch_create_spans(creates)
                    self.stats.write_calls += 1
                if updates:
                    store.batch_update_spans(updates)
                    self.stats.write_calls += 1
            except Exception as exc:
                if attempt + 1 >= attempts:
                    lost = plan.events
                    if self._stopping:
                        self._failing_at_shutdown = True
                    self.drops.add(DropReason.RETRY_EXHAUSTED, lost,
                                   f"{type(exc).__name__}: {_short(exc)}")
                    for key in plan.ended:
                        self._created.pop(key, None)
                    return
                delay = self.retry_delay * (2 ** attempt)
                self.stats.retries += 1
                logger.info("%s: write failed (%s: %s), retry %d/%d in %.3fs", self.name,
                            type(exc).__name__, _short(exc), attempt + 1, attempts - 1, delay)
                self.sleep(delay)
                continue
            break
        self.stats.batches += 1
        self.stats.rows_created += len(creates)
        self.stats.rows_updated += len(updates)
        created = self._created
        for key in plan.creates:
            if key not in plan.ended:
                created[key] = None
        for key in plan.ended:
            created.pop(key, None)
        if len(created) > self._created_limit:
            # Forget the oldest open spans: a later end for one of them is upserted whole.
            for key in list(created)[: len(created) - self._created_limit]:
                del created[key]

    _failing_at_shutdown = False

    # ------------------------------------------------------------------ fork / exit
    def _after_fork_in_child(self) -> None:
        """The child starts empty: the parent still owns (and writes) what it buffered."""
        self._init_runtime()
        self._created = {}
        self._held = {}
        self.drops = DropCounter(self.name, self.drops.on_drop)
        self.stats = ExporterStats()


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"
