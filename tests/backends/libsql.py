from __future__ import annotations

import itertools
from pathlib import Path

from mastra_storage.storage.sql.sqlite import SQLiteStore

from . import Provider, Unavailable


def start(workdir: Path) -> Provider:
    try:
        import libsql  # noqa: F401
    except ImportError:
        raise Unavailable("the libsql package is not installed (extra 'libsql')") from None
    counter = itertools.count()

    def make() -> SQLiteStore:
        store = SQLiteStore(workdir / f"libsql-{next(counter)}.db", driver="libsql")
        store.init()
        return store

    return Provider("libsql", f"file:{workdir}/libsql-N.db", make)
