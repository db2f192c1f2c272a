"""PostgreSQL with Mastra's v-next tables (``layout="vnext"``) for the tests: the same
server as the ``postgres`` backend (``MASTRA_TEST_POSTGRES_URL``, else the throwaway local
server, shared with that backend: one server per session), a fresh schema per store,
created by the store itself (``auto_migrate=True``).

The layout is event-sourced (as Mastra's ``PostgresStoreVNext``): running spans are
stored and read (a pending start row), but a stored span is never updated and there is
no ``updatedAt``; the shared suites skip the tests that need one of those
(``needs(...)`` markers, :attr:`Provider.lacks`).
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

from . import Provider
from . import postgres as classic

LACKS = frozenset({"span-updates", "span-rewrites", "updated-at"})


def _classic(workdir: Path) -> Provider:
    """The session's ``postgres`` provider, started (and registered for the ``pg``
    fixture and the classic suites) when it isn't yet."""
    from tests.conftest import _providers

    known = _providers.get("postgres")
    if isinstance(known, Provider):
        return known
    base = classic.start(workdir / "postgres")
    _providers["postgres"] = base
    return base


def start(workdir: Path) -> Provider:
    from mastra_storage.storage.sql.pg_vnext import PostgresVNextStore

    base = _classic(workdir)
    prefix = f"v{uuid.uuid4().hex[:8]}_"
    counter = itertools.count()
    schemas: list[str] = []

    def build(**options: Any) -> PostgresVNextStore:
        """An initialised v-next store in a fresh schema (options go to the store)."""
        schema = f"{prefix}{next(counter)}"
        schemas.append(schema)
        store = PostgresVNextStore(base.url, **{"schema": schema, "auto_migrate": True,
                                                **options})
        store.init()
        return store

    def stop() -> None:  # the server is the classic provider's to stop
        if not base.info.get("local_server"):
            classic._drop_schemas(base.url, schemas)

    return Provider("postgres-vnext", f"{base.url} (layout=vnext)", build, stop,
                    info={**base.info, "build": build, "schema_prefix": prefix,
                          "url": base.url},
                    lacks=LACKS)
