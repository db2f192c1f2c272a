"""WAL checkpoints on the store's own thread (:mod:`mastra_storage.storage.sql.sqlite_checkpoint`):
real SQLite files. The main database file grows only when a checkpoint copies the log
into it, which is what these tests watch."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from mastra_storage.storage.sql.sqlite import SQLiteStore
from mastra_storage.storage.sql.sqlite_checkpoint import BACKSTOP_PAGES

from .factories import full_span, sid, tid


def _write(store: SQLiteStore, batches: int, size: int = 200) -> None:
    for _ in range(batches):
        t = tid()
        store.batch_create_spans([full_span(t, sid()) for _ in range(size)])


def test_the_store_checkpoints_on_its_thread_not_in_its_commits(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store = SQLiteStore(db)
    try:
        store.init()
        assert store.checkpointer is not None
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == \
                BACKSTOP_PAGES
        before = db.stat().st_size
        _write(store, 5)
        assert store.checkpointer.wait_idle(timeout=30)
        assert store.checkpointer.checkpoints >= 1
        assert db.stat().st_size > before  # the log was copied into the file
        got = store.list_traces(per_page=100)
        assert got.total == 5 * 200  # every span of the factory is a root
    finally:
        store.close()
    assert store.checkpointer._thread is not None
    assert not store.checkpointer._thread.is_alive()


def test_without_the_thread_the_log_keeps_the_pages(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    store = SQLiteStore(db)
    try:
        store.init()
        assert store.checkpointer is not None
        store.checkpointer.close()  # the writers' own checkpoints only: none below 64 MiB
        _write(store, 1)  # let the init's pages settle in the file
        before = db.stat().st_size
        _write(store, 5)
        assert db.stat().st_size == before
        assert store.list_traces(per_page=100).total == 6 * 200
    finally:
        store.close()
    with sqlite3.connect(db) as conn:  # whoever opens the file next sees every row
        assert conn.execute("SELECT count(DISTINCT traceId) FROM mastra_ai_spans").fetchone() \
            == (6,)


def test_an_engine_of_your_own_or_memory_has_no_checkpointer(tmp_path: Path) -> None:
    own = SQLiteStore(tmp_path / "o.db", engine=sa.create_engine(f"sqlite:///{tmp_path / 'o.db'}"))
    mem = SQLiteStore(":memory:")
    try:
        assert own.checkpointer is None and mem.checkpointer is None
    finally:
        own.close()
        mem.close()


def test_a_forked_child_gets_a_checkpointer_of_its_own(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    try:
        store.init()
        _write(store, 1)
        parent = store.checkpointer
        assert parent is not None and parent._thread is not None
        store._after_fork()  # what os.fork() runs in the child
        child = store.checkpointer
        assert child is not None and child is not parent and child._thread is None
        _write(store, 1)
        assert child.wait_idle(timeout=30) and child.checkpoints >= 1
        parent.close()
    finally:
        store.close()
