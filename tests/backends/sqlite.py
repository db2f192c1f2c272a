from __future__ import annotations

import itertools
from pathlib import Path

from mastra_storage.storage.sql.sqlite import SQLiteStore

from . import Provider


def start(workdir: Path) -> Provider:
    counter = itertools.count()

    def make() -> SQLiteStore:
        store = SQLiteStore(workdir / f"sqlite-{next(counter)}.db")
        store.init()
        return store

    return Provider("sqlite", f"sqlite:///{workdir}/sqlite-N.db", make)
