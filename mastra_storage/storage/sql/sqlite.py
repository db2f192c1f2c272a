"""The embedded default: a SQLite file, always through the process's own ``sqlite3``.

One SQLite library per process, by design. SQLite keeps track of the POSIX locks of a
file per library: two SQLite libraries in one process (a bundled one such as
``sqlean.py``'s or the ``libsql`` package's, next to the stdlib one the app, a script or
Mastra-style shared ``mastra.db`` use opens) release each other's locks when either
closes the file, and write the same file at the same time (sqlite.org/howtocorrupt.html,
section 2.2: in our test most runs ended with "database disk image is malformed"). So the
store never loads a SQLite of its own: local files, ``sqlite:`` and libSQL's ``file:``
URLs alike, go through the stdlib ``sqlite3``, whatever its version (Debian 12: 3.40).

What a newer SQLite would have given is done without it:

* Mastra's ``@mastra/libsql`` writes JSON columns as JSONB (SQLite >= 3.45). Rows are
  decoded in Python (:mod:`.jsonb`), and SQL filters see the JSON text of a JSONB blob
  through the deterministic function ``mastra_json`` registered on every connection
  (the dialect calls it for blobs only: text rows never call into Python).
* Features of newer SQLite releases are chosen by the runtime version (percentiles sort
  each bucket in one aggregate from 3.44, else rank rows with window functions).

The ``libsql`` driver name only names the provider (``file:`` URLs, Mastra's naming in
the capability table and Studio); it opens the file exactly as ``sqlite`` does. Remote
libSQL servers (Turso) are not supported: that would need the ``libsql`` package, i.e. a
second SQLite library in the process.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from .dialects.sqlite import JSON_TEXT_FUNCTION, SQLiteDialect
from .jsonb import to_text
from .sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer
from .store import SQLStore

BUSY_TIMEOUT_MS = 10_000
# Reads map the file instead of copying each page out of the OS cache with a read() call.
# A trace list filtered by a JSON key or counted over all roots scans a partial index of
# ~100,000 entries at 1,000,000 spans; through read() a third to a half of that time is
# the calls and copies (docs/bench.md, *Trace reads over 1,000,000 spans*). 2 GiB is
# SQLite's default compile-time ceiling (a larger value is cut to it); a larger file is
# mapped up to there and read the usual way beyond. Mapped pages are the OS page cache's,
# shared by every connection and process on the file, not memory of the store's own.
MMAP_SIZE = 2**31 - 2**16
DRIVERS = ("sqlite", "libsql")


class SQLiteStore(SQLStore):
    """SQLite/libSQL store; migrates itself on ``init()`` unless ``auto_migrate=False``.

    ``engine``: an engine of your own on a SQLite file (its pragmas are yours); the store
    still registers ``mastra_json`` on each connection it opens from then on.
    ``mmap_size``: bytes of the file read through a memory map (``PRAGMA mmap_size``;
    0 reads every page with read() calls, SQLite's own default).
    ``metadata_index``: install the roots' metadata index on ``init()``
    (:mod:`.root_metadata`: a metadata-filtered trace list in a few milliseconds at a
    million spans, instead of 12.5-18 ms through migration 0005's indexes, for a write cost
    every writer of the file pays: Mastra's nearly half its throughput). False leaves the
    database as it is; ``mastra-storage migrate URL --no-metadata-index`` removes it.
    """

    def __init__(
        self,
        path: str | Path = "./mastra.db",
        *,
        driver: str = "sqlite",
        auto_migrate: bool = True,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        engine: sa.Engine | None = None,
        mmap_size: int = MMAP_SIZE,
        metadata_index: bool = False,
    ) -> None:
        if driver not in DRIVERS:
            raise ValueError(f"unknown SQLite driver {driver!r}: use 'sqlite' or 'libsql'")
        self.path = str(path)
        self.driver = driver
        dialect = SQLiteDialect()
        if driver == "libsql":
            dialect.provider = "libsql"  # type: ignore[misc]
        # WAL checkpoints on a thread of their own (.sqlite_checkpoint), for a file the
        # store opens itself; an engine of your own checkpoints as you set it up.
        self.checkpointer: Checkpointer | None = None
        if engine is None:
            engine = _make_engine(self.path, busy_timeout_ms, mmap_size)
            if self.path not in (":memory:", ""):
                self.checkpointer = Checkpointer(self.path)
                _checkpoint_after_commits(engine, self)
        register_functions(engine)
        super().__init__(engine, dialect, auto_migrate=auto_migrate,
                         metadata_index=metadata_index)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        super().close()

    def _after_fork(self) -> None:
        super()._after_fork()
        if self.checkpointer is not None:  # the parent's thread did not come along
            self.checkpointer = Checkpointer(self.path, self.checkpointer.min_interval)

    @property
    def sqlite_version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("select sqlite_version()").scalar_one())


def register_functions(engine: sa.Engine) -> None:
    """Register ``mastra_json`` (JSONB blob → JSON text, text as it is) on every new
    connection of ``engine``; deterministic, so SQLite may use it anywhere an expression
    can go and evaluate it once per value."""

    @sa.event.listens_for(engine, "connect")
    def _functions(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function(JSON_TEXT_FUNCTION, 1, to_text, deterministic=True)


def _make_engine(path: str, busy_timeout_ms: int, mmap_size: int = MMAP_SIZE) -> sa.Engine:
    memory = path in (":memory:", "")
    kwargs: dict[str, Any] = {}
    if memory:
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    # module=sqlite3 says it outright: the stdlib driver, never a bundled SQLite.
    engine = sa.create_engine(f"sqlite+pysqlite:///{path or ':memory:'}", module=sqlite3,
                              **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not memory:
            # WAL lets readers and one writer from several processes share the file.
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute(f"PRAGMA mmap_size = {max(0, int(mmap_size))}")
            # The store's checkpointer does this; a commit still does it past the backstop.
            cur.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        cur.close()

    return engine


_COMMITTED = "mastra_storage_committed"


def _checkpoint_after_commits(engine: sa.Engine, store: SQLiteStore) -> None:
    """Tell the store's checkpointer when a connection that committed goes back to the
    pool. SQLAlchemy's commit event comes before the commit itself; the checkpoint must
    come after it, or it would miss the transaction's pages."""

    def committed(conn: sa.Connection) -> None:
        conn.info[_COMMITTED] = True

    def returned(_dbapi_conn: Any, record: Any) -> None:
        if record.info.pop(_COMMITTED, False) and store.checkpointer is not None:
            store.checkpointer.committed()

    sa.event.listen(engine, "commit", committed)
    sa.event.listen(engine, "checkin", returned)
