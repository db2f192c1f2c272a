"""WAL checkpoints on a thread of their own instead of inside the writer's commits.

In WAL mode SQLite copies the log back into the database file (a checkpoint) at the end
of the commit that grows the log past 1,000 pages, on the committing thread, and with
``synchronous = NORMAL`` it syncs the database file to disk then. While the table is
small that is rare. At 1,000,000 spans every 1,000-span batch dirtied ~4,300 pages
(three of Mastra's indexes are keyed by random ids, so each row lands on other leaf
pages), every commit checkpointed, and 10,000 spans took 1.5 s to write; with no
checkpoint at all they took 0.71 s (docs/bench.md).

So the connections of a store that made its own engine checkpoint themselves only past
:data:`BACKSTOP_PAGES` (a bound on the log should this thread fall behind), and a
:class:`Checkpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own
after commits, at most every ``min_interval`` seconds: the copy and the sync overlap the
writer's next batch (``sqlite3`` releases the GIL while SQLite works). A PASSIVE
checkpoint waits for no reader or writer; what it can't copy now, the next one does. A
checkpoint is the file's business, not a process's: writers in other processes (Mastra's
among them) keep their own settings, and whichever process checkpoints, every reader
sees the same rows.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)

# Pages of log after which a store's own connection checkpoints in its commit anyway
# (SQLite's default is 1,000 pages of 4 KiB): 64 MiB.
BACKSTOP_PAGES = 16_384
# After a checkpoint that found less than SMALL_LOG_PAGES of log, the thread waits
# MIN_INTERVAL_SECONDS before the next: commits that come faster share one (a store
# writing a span per commit would otherwise sync the file after each). After a larger
# one it goes on at once: a writer of big batches then finds the log copied by the time
# it commits again (at 1,000,000 spans, 10,000 spans written in 0.80-0.89 s with no wait,
# 1.17-1.23 s with a wait of 0.1 s after each checkpoint).
MIN_INTERVAL_SECONDS = 0.1
SMALL_LOG_PAGES = 1_000


class Checkpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` on a daemon thread, started by
    the first :meth:`committed` and stopped by :meth:`close`."""

    def __init__(self, path: str, min_interval: float = MIN_INTERVAL_SECONDS) -> None:
        self.path = path
        self.min_interval = min_interval
        self.checkpoints = 0  # PASSIVE checkpoints run (they may have had nothing to copy)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0  # commits not yet followed by a checkpoint
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failed = False

    def committed(self) -> None:
        """A transaction of the store committed: checkpoint soon. Costs the committing
        thread an event, and a thread start the first time."""
        if self._stop.is_set():
            return
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="mastra-storage-checkpoint", daemon=True)
                    self._thread.start()
        with self._idle:
            self._pending += 1
        self._wake.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every commit so far has been followed by a checkpoint (or the
        thread stopped); False on timeout. For tests and orderly shutdowns."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._pending == 0 or self._stop.is_set() or self._thread is None,
                timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (after the checkpoint it is running, if any)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._idle:
            self._idle.notify_all()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            logger.warning("cannot open %s to checkpoint its WAL (the writers' own "
                           "checkpoints remain): %s", self.path, exc)
            self._stop.set()
            return
        try:
            while not self._stop.is_set():
                self._wake.wait()
                if self._stop.is_set():
                    break
                self._wake.clear()
                with self._idle:
                    seen = self._pending
                log = self._checkpoint(conn)
                with self._idle:
                    self._pending -= seen
                    self._idle.notify_all()
                if log < SMALL_LOG_PAGES:
                    self._stop.wait(self.min_interval)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> int:
        """One PASSIVE checkpoint; the pages the log held (0 when it failed)."""
        try:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            return int(row[1]) if row and row[1] is not None else 0
        except sqlite3.Error as exc:  # e.g. the file went away; the writers' backstop remains
            if not self._failed:
                logger.warning("WAL checkpoint of %s failed: %s (the writers' own "
                               "checkpoints remain)", self.path, exc)
                self._failed = True
            return 0
