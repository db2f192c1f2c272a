"""Drop accounting shared by the exporters: nothing is dropped without being counted.

Every drop is (1) added to a per-reason counter readable from the exporter, (2) logged —
the first drop of a reason at once, later ones summarised at most every
``log_interval`` seconds so a storage outage cannot flood the log — and (3) passed to the
optional ``on_drop(reason, count)`` callback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import Enum

logger = logging.getLogger("mastra_storage.exporters")


class DropReason(str, Enum):
    BUFFER_FULL = "buffer-full"
    RETRY_EXHAUSTED = "retry-exhausted"
    UNSUPPORTED_STORAGE = "unsupported-storage"
    AFTER_SHUTDOWN = "after-shutdown"
    INTERNAL_ERROR = "internal-error"  # a bug in this library: logged with its traceback
    INVALID = "invalid"  # a record the store refuses (logged with its ids and the reason)
    # CloudExporter only
    AUTH_COOLDOWN = "auth-cooldown"
    REJECTED = "rejected"
    QUOTA_PAUSED = "quota-paused"  # the platform paused observability (402)

    def __str__(self) -> str:
        return self.value


OnDrop = Callable[[str, int], None]


class DropCounter:
    def __init__(self, owner: str, on_drop: OnDrop | None = None,
                 log_interval: float = 10.0) -> None:
        self.owner = owner
        self.on_drop = on_drop
        self.log_interval = log_interval
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._unlogged: dict[str, int] = {}
        self._last_log: dict[str, float] = {}

    def add(self, reason: DropReason | str, count: int = 1, detail: str = "") -> None:
        if count <= 0:
            return
        key = str(reason)
        now = time.monotonic()
        with self._lock:
            total = self._counts.get(key, 0) + count
            self._counts[key] = total
            pending = self._unlogged.get(key, 0) + count
            last = self._last_log.get(key)
            due = last is None or now - last >= self.log_interval
            if due:
                self._last_log[key] = now
                self._unlogged[key] = 0
            else:
                self._unlogged[key] = pending
        if due:
            logger.warning("%s dropped %d event(s): %s%s (total %s drops: %d)", self.owner,
                           pending, key, f" ({detail})" if detail else "", key, total)
        if self.on_drop is not None:
            try:
                self.on_drop(key, count)
            except Exception:  # a broken callback must not break the exporter
                logger.exception("%s on_drop callback raised", self.owner)

    def report_pending(self) -> None:
        """Log what the rate limit held back (called at shutdown)."""
        with self._lock:
            pending = {k: v for k, v in self._unlogged.items() if v}
            self._unlogged.clear()
            totals = dict(self._counts)
        for key, n in pending.items():
            logger.warning("%s dropped %d more event(s): %s (total %s drops: %d)",
                           self.owner, n, key, key, totals[key])

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._unlogged.clear()
            self._last_log.clear()
