"""libSQL's ``file:`` URLs: the same file format, opened through the stdlib ``sqlite3``
(no package needed); only the provider name differs from ``sqlite``."""

from __future__ import annotations

import itertools
from pathlib import Path

from mastra_storage.storage.sql.sqlite import SQLiteStore

from . import Provider


def start(workdir: Path) -> Provider:
    counter = itertools.count()

    def make() -> SQLiteStore:
        store = SQLiteStore(workdir / f"libsql-{next(counter)}.db", driver="libsql")
        store.init()
        return store

    return Provider("libsql", f"file:{workdir}/libsql-N.db", make)
