"""The batch worker both exporters share: bounded buffers, one thread, flush, retries, drops.

An exporter is split in two. This module owns everything about *when* and *how often*:
per-signal bounded buffers filled on the app's thread (a short lock, no I/O), one worker
thread that takes a buffer's contents when it is due (full enough, old enough, flushed,
or shutting down), the retry loop with its abortable waits, the drop accounting of
whatever can't be delivered, and the process lifecycle (a forked child starts empty with
its own thread; the interpreter's exit flushes). The exporter (the *sink*) owns only
*what*: turning one batch of one signal into writes — store calls for the
DefaultExporter, HTTP requests for the CloudExporter.

Two buffer kinds:

* :class:`KeyedBuffer` coalesces by key (a span's start, updates and end become one
  entry holding its newest snapshot), and its bound counts distinct keys held, pending or
  being written;
* :class:`QueueBuffer` appends (logs, metrics, scores, feedback, finished spans for a
  collector), and its bound counts items waiting; the batch being written is not
  counted (it is at most ``max_batch_size`` items).

A buffer is due when it holds ``wake_at`` items (the batch size, or 80 % of the bound if
that is smaller, so a burst is written before the bound is reached), when
``max_batch_wait`` has passed since its oldest pending item arrived, or at once in
realtime mode. :meth:`BatchWorker.flush` takes every buffer; events exported before the
call are persisted or dropped (and counted) when it returns.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from ..lifecycle import after_fork_in_child, at_child_exit, at_exit
from .drops import DropCounter, DropReason
from .retry import Retry, RetryPolicy

logger = logging.getLogger("mastra_storage.exporters")


class Stop(Exception):
    """Raised inside the worker when shutdown gave up waiting for it."""


class BatchSink(Protocol):
    """What an exporter implements for the worker."""

    def write_batch(self, buffer: str, items: Sequence[Any]) -> None:
        """Deliver one batch (at most ``max_batch_size`` items) of one buffer.

        Retries go through :meth:`BatchWorker.retry`; anything raised here other than
        :class:`Stop` is a bug, logged and counted as ``internal-error``.
        """

    def on_flush(self) -> None:
        """Called after a round that took every buffer (flush or shutdown)."""

    def on_stop(self) -> None:
        """Called on the worker thread as it exits (close connections)."""


class KeyedBuffer:
    """Pending entries keyed (e.g. by ``(traceId, spanId)``); later items merge into them.

    ``make(item)`` builds an entry, ``merge(entry, item)`` folds a later item into it and
    ``weight(entry)`` says how many exported events an entry stands for (what a drop of
    it counts).
    """

    def __init__(self, bound: int, make: Callable[[Any], Any],
                 merge: Callable[[Any, Any], None], weight: Callable[[Any], int]) -> None:
        self.bound = bound
        self.make = make
        self.merge = merge
        self.weight_of = weight
        self.wake_at = bound
        self.reset()

    def reset(self) -> None:
        self.pending: dict[Hashable, Any] = {}
        # Keys being written, and how many pending keys are among them: the bound counts
        # distinct keys, so an entry updated while it is being written counts once.
        self.inflight: set[Hashable] = set()
        self.dupes = 0
        self.first_at = 0.0

    def offer(self, key: Hashable, item: Any) -> int:
        """File ``item``: the new pending count, 0 if merged, -1 if the bound is reached."""
        pending = self.pending
        entry = pending.get(key)
        if entry is not None:
            self.merge(entry, item)
            return 0
        inflight = self.inflight
        if key in inflight:
            self.dupes += 1
        elif len(pending) + len(inflight) - self.dupes >= self.bound:
            return -1
        pending[key] = self.make(item)
        return len(pending)

    def __len__(self) -> int:
        return len(self.pending)

    @property
    def held(self) -> int:
        return len(self.pending) + len(self.inflight) - self.dupes

    def take(self, limit: int | None = None) -> list[tuple[Hashable, Any]]:
        """The oldest ``limit`` pending entries (all by default), now in flight."""
        pending = self.pending
        if limit is None or limit >= len(pending):
            batch = list(pending.items())
            self.pending = {}
        else:
            batch = list(itertools.islice(pending.items(), limit))
            for key, _ in batch:
                del pending[key]
        self.inflight = {key for key, _ in batch}
        self.dupes = sum(1 for key in self.pending if key in self.inflight)
        return batch

    def clear_pending(self) -> int:
        """Forget what is pending (not what is being written); returns its weight."""
        lost = self.weight(list(self.pending.items()))
        self.pending = {}
        self.dupes = 0  # no pending key left to also be in flight
        return lost

    def release(self, chunk: Sequence[tuple[Hashable, Any]]) -> None:
        inflight, pending = self.inflight, self.pending
        for key, _ in chunk:
            inflight.discard(key)
            if key in pending:
                self.dupes -= 1

    def weight(self, items: Sequence[tuple[Hashable, Any]]) -> int:
        return sum(self.weight_of(entry) for _, entry in items)


class QueueBuffer:
    """Pending items in arrival order."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.wake_at = bound
        self.reset()

    def reset(self) -> None:
        self.pending: list[Any] = []
        self.first_at = 0.0

    def offer(self, item: Any) -> int:
        pending = self.pending
        if len(pending) >= self.bound:
            return -1
        pending.append(item)
        return len(pending)

    def __len__(self) -> int:
        return len(self.pending)

    @property
    def held(self) -> int:
        return len(self.pending)

    def take(self, limit: int | None = None) -> list[Any]:
        """The oldest ``limit`` pending items (all by default)."""
        if limit is None or limit >= len(self.pending):
            batch, self.pending = self.pending, []
        else:
            batch, self.pending = self.pending[:limit], self.pending[limit:]
        return batch

    def release(self, chunk: Sequence[Any]) -> None:
        pass

    def clear_pending(self) -> int:
        lost, self.pending = len(self.pending), []
        return lost

    def weight(self, items: Sequence[Any]) -> int:
        return len(items)


Buffer = KeyedBuffer | QueueBuffer


class BatchWorker:
    """One background thread delivering an exporter's buffers to its sink.

    ``clock`` (monotonic seconds) and ``sleep`` (the wait between retries; returns true
    when shutdown aborted it) are replaceable, so tests drive time instead of waiting.
    """

    # Set per process by _init_runtime (again in a forked child).
    _closed: bool
    _stopping: bool
    _failing_at_shutdown: bool
    _worker_done: bool

    def __init__(
        self,
        owner: str,
        sink: BatchSink,
        drops: DropCounter,
        *,
        max_batch_size: int,
        max_batch_wait: float,
        thread_name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self.sink = sink
        self.drops = drops
        self.max_batch_size = max_batch_size
        self.max_batch_wait = max_batch_wait
        self.thread_name = thread_name
        self.clock = clock
        self.realtime = False  # write as soon as woken, no batching delay
        self.buffers: dict[str, Buffer] = {}
        self.sleep: Callable[[float], object] = self._abortable_sleep
        self.exit_timeout: float | None = None
        # Seconds a put waits for room when the buffer is full (None: drop at once).
        self.block_timeout: float | None = None
        self.outages = 0  # times the store was found unreachable past the first retries
        self._init_runtime()
        after_fork_in_child(self)
        at_exit(self)

    def add_buffer(self, name: str, buffer: Buffer) -> Buffer:
        buffer.wake_at = min(self.max_batch_size, max(1, int(buffer.bound * 0.8)))
        self.buffers[name] = buffer
        return buffer

    # ------------------------------------------------------------------ app's thread
    def put_keyed(self, buffer: KeyedBuffer, key: Hashable, item: Any) -> bool:
        """File ``item`` under ``key``; False when the bound is reached (nothing filed),
        unless ``block_timeout`` is set: then wait that long for room first."""
        with self._lock:
            n = buffer.offer(key, item)
            if n == 1:
                buffer.first_at = self.clock()
        if n < 0:
            if self.block_timeout is None:
                return False
            n = self._wait_for_room(lambda: buffer.offer(key, item), buffer)
            if n < 0:
                return False
        if self._thread is None:
            self._start()
        # Wake the worker only if it sleeps with nothing to do, or the batch is due: while
        # it counts down a batch's wait it needs no nudge (Event.set is not free).
        if (n == 1 and self._idle) or n >= buffer.wake_at or self.realtime:
            self._wakeup.set()
        return True

    def put(self, buffer: QueueBuffer, item: Any) -> bool:
        """Append ``item``; False when the bound is reached (nothing appended), unless
        ``block_timeout`` is set: then wait that long for room first."""
        with self._lock:
            n = buffer.offer(item)
            if n == 1:
                buffer.first_at = self.clock()
        if n < 0:
            if self.block_timeout is None:
                return False
            n = self._wait_for_room(lambda: buffer.offer(item), buffer)
            if n < 0:
                return False
        if self._thread is None:
            self._start()
        if (n == 1 and self._idle) or n >= buffer.wake_at or self.realtime:
            self._wakeup.set()
        return True

    def _wait_for_room(self, offer: Callable[[], int], buffer: Buffer) -> int:
        """Backpressure: wake the worker and wait (at most ``block_timeout`` seconds) until
        a batch has been written and ``offer`` fits. Never on the worker's own thread."""
        thread = self._thread
        if thread is not None and thread.ident == threading.get_ident():
            return -1
        if thread is None:
            self._start()
        deadline = time.monotonic() + (self.block_timeout or 0.0)
        with self._room:
            while True:
                self._flush_hint = True
                self._wakeup.set()
                n = offer()
                if n >= 0:
                    if n == 1:
                        buffer.first_at = self.clock()
                    return n
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return -1
                self._room.wait(remaining)

    def discard_pending(self) -> int:
        """Empty every buffer's pending items (not those being written); returns how many
        events they stood for. For a sink that must stop sending altogether."""
        with self._lock:
            return sum(buffer.clear_pending() for buffer in self.buffers.values())

    @property
    def buffered(self) -> int:
        """Items held: pending plus being written."""
        with self._lock:
            return sum(b.held for b in self.buffers.values())

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything put so far is delivered or dropped; False on timeout."""
        with self._lock:
            thread = self._thread
            if thread is None or self._worker_done or not thread.is_alive():
                return not any(len(b) for b in self.buffers.values())
            self._flush_target += 1
            target = self._flush_target
        self._wakeup.set()
        with self._done:
            return self._done.wait_for(
                lambda: self._flush_done >= target or self._worker_done, timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Deliver what is buffered, then stop; later puts are refused by the exporter.

        With a ``timeout`` the worker is given that long; past it, its retry waits are
        cut short and what it still holds is dropped (counted).
        """
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wakeup.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("%s: shutdown timed out with %d item(s) still buffered; they "
                               "are dropped", self.owner, self.buffered)
                self._abort.set()
        self.drops.report_pending()

    def _at_exit(self) -> None:
        self.shutdown(self.exit_timeout)

    # ------------------------------------------------------------------ retries
    def retry(
        self,
        attempt: Callable[[], None],
        policy: RetryPolicy,
        *,
        count: int,
        what: str,
        on_retry: Callable[[int, int, float, str], None] | None = None,
    ) -> bool:
        """Run ``attempt`` until it returns, retrying on :class:`Retry` per ``policy``.

        When the attempts are used up the ``count`` events are dropped as
        ``retry-exhausted`` (False is returned) — unless the failure is an outage
        (``Retry.outage``): then the batch is kept and retried, every
        ``policy.outage_delay`` seconds after the first attempts, until it is written or
        shutdown begins. During shutdown, once a batch has exhausted its retries, later
        batches get a single attempt so the process can exit. ``on_retry(attempt,
        retries, delay, problem)`` is told of each retry.
        """
        attempts = policy.attempts
        if self._stopping and self._failing_at_shutdown:
            attempts = 1
        i = 0
        outage_since: float | None = None
        while True:
            try:
                attempt()
            except Retry as failure:
                keep = failure.outage and not self._stopping
                if i + 1 >= attempts and not keep:
                    if self._stopping:
                        self._failing_at_shutdown = True
                    self.drops.add(DropReason.RETRY_EXHAUSTED, count,
                                   f"{what}{failure.problem} after {i + 1} attempt(s)")
                    return False
                delay = policy.delay(i, failure.after)
                if keep and outage_since is None and i + 1 >= attempts:
                    outage_since = self.clock()
                    self.outages += 1
                    logger.warning("%s: the store is unreachable (%s); keeping %d buffered "
                                   "item(s) and retrying every %.0fs until it is back",
                                   self.owner, failure.problem, self.buffered, delay)
                if on_retry is not None:
                    on_retry(i + 1, attempts - 1, delay, failure.problem)
                if self.sleep(delay):
                    self.drops.add(DropReason.RETRY_EXHAUSTED, count,
                                   f"{what}{failure.problem}; shutdown stopped the retries")
                    raise Stop from None
                i += 1
                continue
            if outage_since is not None:
                logger.warning("%s: the store is reachable again after %.1fs; writing the "
                               "backlog", self.owner, self.clock() - outage_since)
            return True

    def _abortable_sleep(self, seconds: float) -> bool:
        return self._abort.wait(seconds)

    # ------------------------------------------------------------------ worker
    def _init_runtime(self) -> None:
        for buffer in self.buffers.values():
            buffer.reset()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # notified when written items leave
        self._flush_hint = False  # a producer waits for room: write what is there now
        self._wakeup = threading.Event()
        self._abort = threading.Event()
        self._done = threading.Condition(threading.Lock())
        self._flush_target = 0  # flushes asked for
        self._flush_done = 0  # flushes completed
        self._idle = True
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._stopping = False
        self._worker_done = False
        self._failing_at_shutdown = False

    def _after_fork_in_child(self) -> None:
        """The child starts empty with its own thread: the parent still owns (and
        delivers) what it had buffered. What the child buffers is delivered when it ends,
        also through multiprocessing (which skips ``atexit``) or a SIGTERM."""
        self._init_runtime()
        at_child_exit(self)

    def _on_terminate(self, seconds: float) -> None:
        """SIGTERM in a forked child: deliver what is buffered in ``seconds`` at most, and
        say what could not be."""
        held = self.buffered
        if not held and self._thread is None:
            return
        self.shutdown(seconds)
        if self._thread is not None and self._thread.is_alive():
            logger.warning("%s: process %d terminated with %d item(s) not delivered",
                           self.owner, os.getpid(), self.buffered)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                thread.start()
                self._thread = thread

    def _has_work(self) -> bool:
        return (self._stopping or self._flush_target > self._flush_done
                or any(len(b) for b in self.buffers.values()))

    def _due(self, buffer: Buffer, now: float) -> bool:
        return (self.realtime or self._flush_hint or len(buffer) >= buffer.wake_at
                or now - buffer.first_at >= self.max_batch_wait)

    def _take(self, buffer: Buffer, now: float, flushing: bool) -> list[Any]:
        """What a round takes from a due buffer: all of it when flushing, in realtime or
        once its oldest item has waited long enough; when it is due by size only, whole
        batches (the remainder keeps waiting for its own batch window)."""
        if flushing or self.realtime or now - buffer.first_at >= self.max_batch_wait:
            return buffer.take()
        size = self.max_batch_size
        whole = len(buffer) // size * size
        return buffer.take(whole if whole else None)

    def _wait_until_due(self) -> None:
        """Let batches fill until one is big enough, old enough, or someone is waiting."""
        while not self._stopping and self._flush_target <= self._flush_done:
            now = self.clock()
            deadline = None
            for buffer in self.buffers.values():
                if not len(buffer):
                    continue
                if self._due(buffer, now):
                    return
                at = buffer.first_at + self.max_batch_wait
                deadline = at if deadline is None else min(deadline, at)
            if deadline is None:
                return
            self._wakeup.wait(max(deadline - now, 0.0))
            self._wakeup.clear()

    def _run(self) -> None:
        try:
            while True:
                self._idle = True
                if not self._has_work():
                    self._wakeup.wait()
                self._idle = False
                self._wakeup.clear()
                if not self._has_work():
                    continue
                self._wait_until_due()
                with self._lock:
                    target = self._flush_target
                    flushing = self._stopping or target > self._flush_done
                    now = self.clock()
                    taken = [(name, buffer, self._take(buffer, now, flushing))
                             for name, buffer in self.buffers.items()
                             if len(buffer) and (flushing or self._due(buffer, now))]
                self._deliver(taken)
                if flushing:
                    self._call_sink(self.sink.on_flush)
                    with self._done:
                        self._flush_done = target
                        self._done.notify_all()
                if self._stopping and not any(len(b) for b in self.buffers.values()):
                    break
        except Stop:
            pass
        finally:
            self._finish()

    def _deliver(self, taken: list[tuple[str, Buffer, list[Any]]]) -> None:
        size = self.max_batch_size
        for index, (name, buffer, items) in enumerate(taken):
            for start in range(0, len(items), size):
                chunk = items[start:start + size]
                try:
                    self.sink.write_batch(name, chunk)
                except Stop:
                    lost = buffer.weight(items[start + size:]) + sum(
                        b.weight(rest) for _, b, rest in taken[index + 1:])
                    self.drops.add(DropReason.AFTER_SHUTDOWN, lost,
                                   "taken for writing when shutdown stopped the worker")
                    raise
                except Exception as exc:  # a bug must not kill the worker nor lose silently
                    logger.exception("%s: unexpected error while writing %s", self.owner, name)
                    self.drops.add(DropReason.INTERNAL_ERROR, buffer.weight(chunk),
                                   f"{name}: {type(exc).__name__}")
                finally:
                    with self._lock:
                        buffer.release(chunk)
                        self._flush_hint = False
                        self._room.notify_all()

    def _call_sink(self, hook: Callable[[], None]) -> None:
        try:
            hook()
        except Stop:
            raise
        except Exception:
            logger.exception("%s: unexpected error in %s", self.owner, hook.__name__)

    def _finish(self) -> None:
        with self._lock:
            self._worker_done = True
            left = 0
            for buffer in self.buffers.values():
                left += buffer.weight(buffer.take())
                buffer.reset()
        self.drops.add(DropReason.AFTER_SHUTDOWN, left, "buffered when the exporter stopped")
        with self._done:
            self._done.notify_all()
        try:
            self.sink.on_stop()
        except Exception:
            logger.exception("%s: unexpected error while stopping", self.owner)


__all__ = ["BatchSink", "BatchWorker", "KeyedBuffer", "QueueBuffer", "Retry", "Stop"]


class WorkerHandles:
    """What an exporter built on a :class:`BatchWorker` exposes of it, in one place:
    its depth, how it waits between retries (tests record the schedule), how long it
    may take at interpreter exit, and its thread."""

    _worker: BatchWorker

    @property
    def buffered(self) -> int:
        """Items waiting to be written (pending plus the batch being written)."""
        return self._worker.buffered

    @property
    def sleep(self) -> Callable[[float], object]:
        return self._worker.sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], object]) -> None:
        self._worker.sleep = value

    @property
    def exit_timeout(self) -> float | None:
        return self._worker.exit_timeout

    @exit_timeout.setter
    def exit_timeout(self, value: float | None) -> None:
        self._worker.exit_timeout = value

    @property
    def _thread(self) -> threading.Thread | None:
        return self._worker._thread
